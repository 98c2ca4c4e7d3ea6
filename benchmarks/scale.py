"""Scale: the patch index of the real reBEN metadata, and ``bigearth info`` on a store whose metadata lists 50,000
patches, each timed in a fresh process (wall seconds, CPU seconds, peak memory).

(1) ``build_index`` of the real ``metadata.parquet`` (480,038 rows; ``--reference``), default filters; the peak
memory is the process's maximum resident set (``VmHWM``) minus its maximum before the call (imports).
(2) ``bigearth info STORE --json`` as a user runs it (interpreter start and imports included) on a store folder
whose metadata is the first ``--info-patches`` rows of the real metadata (with the snow/cloud file) beside a small
encoded LMDB: ``info`` reads the metadata and the manifest, never the values, so a store of 50,000 patches' values
(about 15 GB) is not needed.

Medians of ``--repeats`` runs, interleaved; the load average is printed beside every figure (the machine is shared).

Usage: python benchmarks/scale.py [--reference ../shared/reben] [--info-patches 50000] [--repeats 5]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from bigearth.data.encode import encode
from bigearth.data.layout import METADATA_FILE, SNOW_CLOUD_METADATA_FILE
from bigearth.data.synth import synthesize

INDEX_SCRIPT = """
import json, resource, sys, time
from pathlib import Path
from bigearth.data.index import build_index
def peak_mb():  # Linux's ru_maxrss keeps the parent's peak across fork + exec; VmHWM is this process's own
    try:
        return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
before = peak_mb()
wall, cpu = time.perf_counter(), time.process_time()
index = build_index(Path(sys.argv[1]), split=None)
print(json.dumps({"rows": len(index.patch_id), "wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu,
                  "mb": peak_mb() - before}))
"""


def index_run(reference: Path) -> dict[str, float]:
    """Build the index of ``reference`` in a fresh interpreter and return its figures."""
    output = subprocess.run([sys.executable, "-c", INDEX_SCRIPT, str(reference)], check=True, capture_output=True)
    return json.loads(output.stdout)


def info_run(store: Path) -> dict[str, float]:
    """Run ``bigearth info STORE --json`` in a fresh interpreter: wall seconds and the child's CPU seconds."""
    usage = os.times()
    wall = time.perf_counter()
    command = [sys.executable, "-c", "from bigearth.cli import app; app()", "info", str(store), "--json"]
    output = subprocess.run(command, check=True, capture_output=True)
    wall = time.perf_counter() - wall
    after = os.times()
    patches = json.loads(output.stdout)["patches"]
    cpu = (after.children_user - usage.children_user) + (after.children_system - usage.children_system)
    return {"rows": patches, "wall": wall, "cpu": cpu}


def info_store(reference: Path, patches: int, folder: Path) -> Path:
    """A store folder: a small encoded LMDB with the first ``patches`` rows of the real metadata beside it."""
    synthesize(folder / "release", patches=20, seed=0)
    store = folder / "store"
    encode(folder / "release", store, workers=0)
    main_rows = len(pd.read_parquet(reference / METADATA_FILE, columns=["patch_id"]))
    for name in (METADATA_FILE, SNOW_CLOUD_METADATA_FILE):  # the same share of both files
        frame = pd.read_parquet(reference / name)
        frame.head(patches * len(frame) // main_rows).to_parquet(store / name, index=False)
    return store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--reference", type=Path, default=Path(__file__).resolve().parents[1] / ".." / "shared" / "reben"
    )
    parser.add_argument("--info-patches", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, list[tuple[dict[str, float], float]]] = {"index": [], "info": []}
    with tempfile.TemporaryDirectory() as scratch:
        store = info_store(args.reference, args.info_patches, Path(scratch))
        for _ in range(args.repeats):
            results["index"].append((index_run(args.reference), os.getloadavg()[0]))
            results["info"].append((info_run(store), os.getloadavg()[0]))
    print(f"{os.cpu_count()} CPUs; medians of {args.repeats} interleaved runs, each in a fresh process")
    for name, label in (
        ("index", "build_index of the real metadata"),
        ("info", f"`bigearth info --json` on a store listing {args.info_patches:,} patches"),
    ):
        runs = [run for run, _ in results[name]]
        loads = [load for _, load in results[name]]
        memory = f", peak +{statistics.median(r['mb'] for r in runs):.0f} MB" if "mb" in runs[0] else ""
        print(
            f"{label} ({runs[0]['rows']:,} rows): wall {statistics.median(r['wall'] for r in runs):.2f} s, "
            f"CPU {statistics.median(r['cpu'] for r in runs):.2f} s{memory}; "
            f"load average {min(loads):.1f}-{max(loads):.1f}"
        )


if __name__ == "__main__":
    main()
