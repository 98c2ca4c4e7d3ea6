#!/usr/bin/env bash
# Build the documentation (docs/ and the API reference generated from the docstrings) into site/.
# --strict turns every warning (a broken link, a page missing from the nav, a docstring mkdocstrings cannot
# read) into a failure, as CI runs it. Set VENV to use another virtualenv than .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${VENV:-.venv}
"$venv/bin/mkdocs" build --strict --clean "$@"
