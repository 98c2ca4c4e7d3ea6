#!/usr/bin/env bash
# Build bigearth's wheel and check that an install of it, not the checkout, runs: `bigearth --help`,
# `bigearth --version`, `bigearth configs` and a packaged recipe name resolved inside the installed package.
#
# The wheel goes into a throwaway venv on top of .venv, so no dependency is installed twice: a venv made from
# .venv with --system-site-packages would see the base interpreter's packages, not .venv's, so the throwaway
# venv gets a .pth line naming .venv's site-packages instead (a plain path: .venv's own .pth files, among them
# the editable link to this checkout, are not run). It runs from an empty folder, away from configs/ and src/.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(realpath "${VENV:-.venv}")  # the project virtualenv (scripts/setup.sh)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$venv/bin/python" -m pip wheel --quiet --no-deps --no-build-isolation . -w "$tmp/dist" 2>&1 | grep -v "^WARNING: Location" || true
wheel=$(ls "$tmp"/dist/bigearth-*.whl)
"$venv/bin/python" -m venv --system-site-packages --without-pip "$tmp/venv"
"$venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" \
  >"$("$tmp/venv/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")/bigearth-deps.pth"
"$venv/bin/python" -m pip --python "$tmp/venv/bin/python" install --quiet --no-deps --no-index --ignore-installed \
  "$wheel" 2>&1 | grep -v "^WARNING: Location" || true
mkdir "$tmp/empty"
cd "$tmp/empty"
"$tmp/venv/bin/bigearth" --help >/dev/null
"$tmp/venv/bin/bigearth" --version
"$tmp/venv/bin/bigearth" configs classification/resnet50 >/dev/null
"$tmp/venv/bin/python" - "$tmp/venv" <<'PY'
import sys
from pathlib import Path

import bigearth
from bigearth.recipes import resolve_recipe

venv = Path(sys.argv[1]).resolve()
package = Path(bigearth.__file__).resolve()
recipe = resolve_recipe("classification/resnet50-s1s2").resolve()
for what, path in (("bigearth", package), ("the packaged recipe classification/resnet50-s1s2", recipe)):
    if not path.is_relative_to(venv):
        sys.exit(f"check_wheel: {what} came from {path}, not from the installed wheel in {venv}")
print(f"check_wheel: bigearth and its recipes run from the wheel ({recipe.relative_to(venv)})")
PY
