#!/usr/bin/env bash
# Re-resolves the pins in requirements/ from pyproject.toml: each file is `pip freeze` of a clean venv
# that installed the package (runtime.txt: with the postgres extra; dev.txt: with the dev extra).
# `make run` and `make test` install through these as constraints (pip install -c), so every machine
# gets the same versions until the next `make lock`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
freeze() {  # freeze NAME EXTRAS
  "$PY" -m venv "$tmp/$1"
  "$tmp/$1/bin/pip" install -q --upgrade pip
  "$tmp/$1/bin/pip" install -q ".[$2]"
  {
    echo "# requirements/$1.txt: pinned by scripts/lock.sh (make lock) from pyproject.toml's [$2] set"
    echo "# on Python $("$tmp/$1/bin/python" -c 'import platform; print(platform.python_version())'); used as a constraints file (pip install -c)."
    "$tmp/$1/bin/pip" freeze --exclude sessionhub --exclude pip | LC_ALL=C sort -f
  } > "requirements/$1.txt"
}
freeze runtime postgres
freeze dev dev
echo "requirements/runtime.txt and requirements/dev.txt re-resolved; commit them with pyproject.toml"
