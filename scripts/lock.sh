#!/usr/bin/env bash
# Re-resolves the lock files from pyproject.toml, with hashes: run it after changing a dependency there.
#   requirements/test.txt  the project with its test extras (scripts/test.sh, CI)
#   requirements/base.txt  the project alone (scripts/demo.sh, the Dockerfile), at the same versions
# Both include the build backend (pyproject's [build-system]): the scripts install the project itself with
# --no-build-isolation, so nothing is installed that the lock does not pin.
# `bash scripts/lock.sh --upgrade` takes the newest versions pyproject.toml allows; without it, versions already
# locked are kept where they still fit.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
UV_VERSION=0.13.9
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
if ! .venv/bin/uv --version 2>/dev/null | grep -q "^uv $UV_VERSION\b"; then
  .venv/bin/python -m pip install --quiet "uv==$UV_VERSION"
fi
build_in=$(mktemp --suffix=.in)
trap 'rm -f "$build_in"' EXIT
.venv/bin/python -c 'import sys, tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"]))' >"$build_in"

compile() {  # output, then uv pip compile arguments
  local output=$1
  shift
  .venv/bin/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes --no-header \
    --index-url https://pypi.org/simple --output-file "$output" "$@" pyproject.toml "$build_in"
  # uv names the temporary file in the "via" comments: name the source instead.
  sed -i "s|$build_in|pyproject.toml (build-system)|" "$output"
}
compile requirements/test.txt --extra test "$@"
compile requirements/base.txt --constraint requirements/test.txt "$@"
echo "requirements/test.txt, requirements/base.txt: $(grep -c '==' requirements/test.txt) / $(grep -c '==' requirements/base.txt) pinned packages"
