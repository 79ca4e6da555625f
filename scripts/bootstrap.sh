# Sourced by the other scripts, with the lock to install as its argument (a sourced script without one would
# see its caller's arguments): `bootstrap.sh base` (requirements/base.txt, the hub alone) or `bootstrap.sh test`
# (requirements/test.txt, with the test extras). A virtual environment with the project installed from that
# lock file; see "Dependencies" in the README.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PYTHON=${PYTHON:-python3}
LOCK=${1:-base}
case "$LOCK" in
  base | test) ;;
  *) echo "bootstrap.sh: base or test, not '$LOCK'" >&2; exit 2 ;;
esac
lock=requirements/$LOCK.txt
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.installed-$LOCK"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ "$lock" -nt "$stamp" ]; then
  export PIP_DISABLE_PIP_VERSION_CHECK=1
  # Exactly the locked versions, each checked against its hash; then the project itself, with the build
  # backend from the lock (no build isolation: nothing unpinned is fetched).
  .venv/bin/python -m pip install --quiet --require-hashes --no-deps -r "$lock"
  .venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
  # A dependency in pyproject.toml that the lock lacks (or pins outside its range) fails here, not at import.
  if ! problems=$(.venv/bin/python -m pip check 2>&1); then
    echo "$problems" >&2
    echo "bootstrap: $lock does not satisfy pyproject.toml; update it with: bash scripts/lock.sh" >&2
    exit 1
  fi
  touch "$stamp"
fi
