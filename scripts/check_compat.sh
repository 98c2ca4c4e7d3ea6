#!/usr/bin/env bash
# Two-way compatibility check of bigearth with the public reBEN readers, in an environment of their own.
#
# ConfigILM pins numpy < 2, lmdb < 2, pyarrow < 13 and Python < 3.12, so neither it nor TorchGeo can be a
# dependency of bigearth: this script creates .compat-venv (Python 3.11, git-ignored) with the two public
# libraries at the versions the check was verified with, makes sure bigearth's own .venv exists, then runs
# benchmarks/compat_readers.py in .compat-venv. That script synthesises a mini-reBEN, encodes it and computes
# bigearth's arrays and speed in .venv (in a subprocess), reads the same data with ConfigILM and TorchGeo, and
# prints PASS/FAIL per check and a throughput table; it exits non-zero when a check fails.
#
# Usage: bash scripts/check_compat.sh [compat_readers.py options, e.g. --patches 300 --seed 0 --keep DIR]
# torch and torchvision come from this machine's disk (constraints.txt, as for .venv).
set -euo pipefail
cd "$(dirname "$0")/.."

CONFIGILM_VERSION=0.7.1 # Requires-Python < 3.12
TORCHGEO_VERSION=0.8.1
# configilm[bigearthnet] pins pyarrow < 13 but not pandas, and pandas 3 needs pyarrow >= 13 for read_parquet
# (ConfigILM's BENv2 reader then fails with "Unable to find a usable engine"): cap pandas below 3.
PANDAS_CAP="pandas<3"

python=${PYTHON:-python3.11}
if [[ ! -x .compat-venv/bin/python ]]; then
  "$python" -m venv .compat-venv
fi
if ! .compat-venv/bin/python -m pip install --disable-pip-version-check -c constraints.txt \
  "configilm[bigearthnet]==${CONFIGILM_VERSION}" "torchgeo==${TORCHGEO_VERSION}" "${PANDAS_CAP}" \
  >.compat-venv/pip-install.log 2>&1; then
  grep -v "^WARNING: Location" .compat-venv/pip-install.log | tail -40
  echo "check_compat: installing ConfigILM and TorchGeo into .compat-venv failed (log: .compat-venv/pip-install.log)" >&2
  exit 2
fi
[[ -x .venv/bin/python ]] || bash scripts/setup.sh

.compat-venv/bin/python - <<'EOF'
from importlib.metadata import version

names = ("configilm", "torchgeo", "torch", "numpy", "lmdb", "pyarrow", "pandas", "rasterio", "safetensors")
print("compat env: " + ", ".join(f"{name} {version(name)}" for name in names))
EOF
exec .compat-venv/bin/python benchmarks/compat_readers.py --bigearth-python .venv/bin/python "$@"
