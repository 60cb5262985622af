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
# (re)install when pyproject.toml or constraints.txt changed since the last install. The releases
# are those constraints.txt names (scripts/lock makes it from pyproject.toml), so a fresh machine
# installs what the tests last passed with, not whatever was newest that day.
if [ ! -f .venv/.bamboe-installed ] || [ pyproject.toml -nt .venv/.bamboe-installed ] ||
   [ constraints.txt -nt .venv/.bamboe-installed ]; then
  echo "Installing Bamboe and its dependencies into .venv ..." >&2
  # uv resolves and installs the same releases as pip in a third of the time (and byte-compiles on
  # every core); where uv cannot be had or cannot reach the index, pip does it. pip byte-compiles
  # one file at a time (half of its install's time), so compileall does that afterwards on every
  # core. A file that cannot be compiled still fails when imported. BAMBOE_PIP=1 skips uv.
  if [ -z "${BAMBOE_PIP:-}" ] &&
     .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-compile uv >/dev/null 2>&1 &&
     .venv/bin/python -m uv pip install --quiet --python .venv/bin/python --compile-bytecode -c constraints.txt -e ".[$EXTRAS]"; then
    :
  else
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-compile -c constraints.txt -e ".[$EXTRAS]"
    .venv/bin/python -m compileall -q -j 0 "$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" >/dev/null 2>&1 || true
  fi
  touch .venv/.bamboe-installed
fi
