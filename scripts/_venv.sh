# Shared by scripts/test and scripts/demo: make .venv with Python >= 3.11 and install Bamboe into it.
set -eu
cd "$(dirname "$0")/.."
PY=""
for candidate in python3.13 python3.12 python3.11 python3 python; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    PY="$candidate"; break
  fi
done
if [ -z "$PY" ]; then
  echo "Bamboe needs Python 3.11 or newer; none was found on PATH." >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "Creating .venv with $("$PY" --version) ..." >&2
  "$PY" -m venv .venv
fi
# (re)install when pyproject.toml changed since the last install
if [ ! -f .venv/.bamboe-installed ] || [ pyproject.toml -nt .venv/.bamboe-installed ]; then
  echo "Installing Bamboe and its dependencies into .venv ..." >&2
  # pip byte-compiles what it installs one file at a time (half of the install's time); compileall
  # does the same afterwards on every core. A file it cannot compile still fails when imported.
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-compile -e ".[$EXTRAS]"
  .venv/bin/python -m compileall -q -j 0 "$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" >/dev/null 2>&1 || true
  touch .venv/.bamboe-installed
fi
