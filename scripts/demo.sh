#!/usr/bin/env bash
# The main job on the embedded default data: set up, synthesise a mini-reBEN, encode it into a store, check it,
# look at it, then train a small S1+S2 classifier on the CPU and evaluate it on the test split.
# Everything lands in demo/ (override with DEMO=folder).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
out=${DEMO:-demo}
bigearth=.venv/bin/bigearth
rm -rf "$out"
$bigearth synth "$out/mini-reben" --patches "${PATCHES:-600}" --seed 0
$bigearth encode "$out/mini-reben" "$out/store"
$bigearth verify "$out/store" --root "$out/mini-reben"
$bigearth info "$out/store"
$bigearth show --data "$out/store" --out "$out/patch.png"
$bigearth train configs/classification/demo-cpu.yaml --data "$out/store" --out "$out/run"
$bigearth evaluate "$out/run" --data "$out/store" --split test
