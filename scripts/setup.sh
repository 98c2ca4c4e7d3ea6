#!/usr/bin/env bash
# Create the project virtualenv (.venv, Python 3.11) and install bigearth with every extra ([all]: SSL, foundation
# models, VQA, texts, retrieval, construction) and its test and documentation tools ([dev]).
# torch and torchvision are pinned by constraints.txt to the releases whose wheels lie on this machine's disk.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3.11}
[[ -x .venv/bin/python ]] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[all,dev]" 2>&1 \
  | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import bigearth, torch; print(f'bigearth {bigearth.__version__} with torch {torch.__version__} ready in .venv')"
