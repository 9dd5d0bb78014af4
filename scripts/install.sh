#!/usr/bin/env bash
# The one install procedure, shared by `make serve`, `make test` and the Dockerfile.
#   VENV    where the virtual environment goes (default: .venv)
#   EXTRAS  optional dependency groups from pyproject.toml, e.g. "test" (default: none)
#   PYTHON  the interpreter that creates the venv (default: python3)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
EXTRAS=${EXTRAS:-}
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
target="."
[ -n "$EXTRAS" ] && target=".[$EXTRAS]"
# torch and torchvision come first and pinned: left to the resolver, a range
# could pull a different (multi-GB) build.
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "torch==2.14.1" "torchvision==0.29.1"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$target"
# Java runs TorchServe's frontend.
command -v java >/dev/null || { echo "install.sh: TorchServe needs Java 11+ (java not found)" >&2; exit 1; }
echo "install.sh: $VENV ready (${target})"
