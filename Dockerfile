# Bamboe: `bamboe run` as a non-root user on a slim Python image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bamboe ./bamboe
COPY bot ./bot
COPY adapters ./adapters
COPY prompts ./prompts
COPY migrations ./migrations
RUN pip install . \
 && useradd --create-home --uid 10001 bamboe \
 && mkdir -p /data && chown bamboe /data

USER bamboe
# Without DATABASE_URL the bot keeps a SQLite file in /data (mount a volume there);
# production sets DATABASE_URL=postgresql://… instead.
ENV DATABASE_URL=sqlite:////data/bamboe.sqlite3 \
    BAMBOE_HTTP_PORT=8080
VOLUME ["/data"]
EXPOSE 8080
CMD ["bamboe", "run"]
