# Bamboe: `bamboe run` as a non-root user on a slim Python image.
# Build: docker build -t bamboe .   ·   Run with PostgreSQL: docker compose up -d (see docs/deploy.md)

# --- build stage: the source becomes a wheel; no source tree reaches the final image
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bamboe ./bamboe
COPY bot ./bot
COPY adapters ./adapters
COPY prompts ./prompts
COPY migrations ./migrations
RUN pip wheel --no-deps --wheel-dir /wheels .

# --- run stage
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY --from=build /wheels /wheels
# the releases the tests passed with (constraints.txt, made by scripts/lock)
COPY constraints.txt /wheels/
RUN pip install -c /wheels/constraints.txt /wheels/*.whl \
 && rm -rf /wheels \
 && useradd --create-home --uid 10001 bamboe \
 && mkdir -p /data \
 && chown bamboe /data

USER bamboe
WORKDIR /home/bamboe
# Without DATABASE_URL the bot keeps a SQLite file in /data (mount a volume there; one process
# only). compose.yaml sets DATABASE_URL=postgresql://… instead.
ENV DATABASE_URL=sqlite:////data/bamboe.sqlite3 \
    BAMBOE_HTTP_HOST=0.0.0.0 \
    BAMBOE_HTTP_PORT=8080
VOLUME ["/data"]
EXPOSE 8080
# /healthz says the process is alive (the slim image has no curl; Python's urllib does the job).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('BAMBOE_HTTP_PORT', '8080'), timeout=4)"]
# SIGTERM (docker stop, compose, Kubernetes) finishes in-flight work and exits 0 within 10 s.
STOPSIGNAL SIGTERM
CMD ["bamboe", "run"]
