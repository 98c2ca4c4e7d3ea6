#!/usr/bin/env bash
# The VQA demo on the mini-reBEN of scripts/demo.sh (run that first: it leaves demo/store and the classifier
# demo/run): RSVQAxBEN-style questions, LiT-4-RSVQA's network trained on them with its image encoder started from
# the classifier, its question-only twin trained the same way, then one question asked about one test patch.
# Everything lands in demo/ (override with DEMO=folder).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${DEMO:-demo}
bigearth=.venv/bin/bigearth
if [[ ! -f "$out/run/model/config.json" ]]; then
  echo "no classifier in $out/run: run scripts/demo.sh first" >&2
  exit 1
fi
# --mix balanced: the README's VQA table was made with this mix (half land cover, yes/no balanced), before the
# original RSVQAxBEN mix became the default
$bigearth text rsvqa --data "$out/store" --out "$out/qa.parquet" --mix balanced
$bigearth train configs/vqa/demo-cpu.yaml --data "$out/store" --out "$out/vqa" \
  data.questions="$out/qa.parquet" model.image_weights="$out/run/model"
$bigearth train configs/vqa/demo-cpu-question-only.yaml --data "$out/store" --out "$out/vqa-question-only" \
  data.questions="$out/qa.parquet"
patch=$(.venv/bin/python -c "import pandas as pd; q = pd.read_parquet('$out/qa.parquet'); print(q[q.split == 'test'].patch_id.iloc[0])")
$bigearth ask "$out/vqa" --data "$out/store" --id "$patch" "Is there arable land in the image?"
