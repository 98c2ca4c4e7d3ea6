"""BigEarthNet.txt generation speed: patches/s in one process, with N worker processes, on a local Dask cluster.

Measures, on a mini-reBEN store (made once and cached):
  stages: reference-map read, facts (areas, components, boxes, adjacency), texts, per patch in one process;
  generate: the whole `bigearth text generate` (metadata, climate, chunks, parquet parts and merge) with
            --workers 0, --workers N and --scheduler local (if dask[distributed] is installed);
  rsvqa: `bigearth text rsvqa` (labels only, no reference maps);
and prints patches/s and the time the 549,488 patches of reBEN would take at that rate.

Usage: python benchmarks/text.py [--patches 4000] [--workers 2] [--cache data/bench-text]
"""

import argparse
import importlib.util
import shutil
import time
from pathlib import Path

from bigearth.data.source import open_source
from bigearth.data.synth_store import synthesize_store
from bigearth.parallel import run_jobs
from bigearth.text.balance import Balancer
from bigearth.text.context import patch_contexts
from bigearth.text.facts import patch_facts
from bigearth.text.generate import GenerateSettings, generate, patch_rng, patch_texts
from bigearth.text.rsvqa import generate_rsvqa

REBEN_PATCHES = 549_488


def estimate(rate: float) -> str:
    seconds = REBEN_PATCHES / rate
    return f"{seconds / 60:7.1f} min ({seconds / 3600:.2f} h) for reBEN's {REBEN_PATCHES:,} patches"


def stages(store: Path, count: int) -> None:
    contexts = patch_contexts(store, limit=count)
    source = open_source(store)
    start = time.perf_counter()
    maps = [source.read_reference_map(c.patch_id) for c in contexts]
    read = time.perf_counter() - start
    start = time.perf_counter()
    facts = [patch_facts(m, c) for m, c in zip(maps, contexts, strict=True)]
    compute = time.perf_counter() - start
    balancer = Balancer()
    start = time.perf_counter()
    texts = sum(len(patch_texts(f, patch_rng(0, f.context.patch_id), balancer)) for f in facts)
    write = time.perf_counter() - start
    total = read + compute + write
    print(f"stages over {len(contexts)} patches (one process):")
    for name, seconds in (("read map", read), ("facts", compute), ("texts", write)):
        print(f"  {name:9s} {1e3 * seconds / len(contexts):6.3f} ms/patch  ({100 * seconds / total:4.1f} %)")
    print(
        f"  {texts / len(contexts):.1f} texts/patch; {len(contexts) / total:,.0f} patches/s without I/O of the output"
    )


def warm_up(job: int) -> int:
    """What a fresh worker does before its first chunk: import the generator."""
    import bigearth.text.generate  # noqa: F401

    return job


def startup(workers: int, scheduler: str | None = None) -> float:
    """Seconds to start ``workers`` spawned processes (or a local Dask cluster) that import the generator."""
    start = time.perf_counter()
    list(run_jobs(warm_up, list(range(workers)), workers=workers, scheduler=scheduler))
    return time.perf_counter() - start


def run(label: str, function, patches: int, overhead: float = 0.0) -> float:
    start = time.perf_counter()
    function()
    seconds = time.perf_counter() - start
    rate = patches / seconds
    print(f"{label:34s} {rate:8,.0f} patches/s   {estimate(rate)}")
    if overhead:
        steady = patches / max(seconds - overhead, 1e-9)
        print(f"{'  without ' + f'{overhead:.1f} s start-up':34s} {steady:8,.0f} patches/s   {estimate(steady)}")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patches", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=Path("data/bench-text"))
    args = parser.parse_args()
    store = args.cache / f"store-{args.patches}"
    if not (store / "manifest.json").is_file():
        print(f"making a mini-reBEN store of {args.patches} patches in {store} ...")
        synthesize_store(store, patches=args.patches, seed=0, workers=args.workers)
    patches = len(patch_contexts(store))
    out = args.cache / "out"
    shutil.rmtree(out, ignore_errors=True)
    stages(store, min(patches, 1000))
    settings = GenerateSettings(seed=0)
    print(f"\nwhole command over {patches} clean patches:")
    run("generate --workers 0", lambda: generate(store, out / "t0.parquet", settings=settings), patches)
    run(f"generate --workers {args.workers}",
        lambda: generate(store, out / "tn.parquet", settings=settings, workers=args.workers), patches,
        startup(args.workers))  # fmt: skip
    if importlib.util.find_spec("distributed") is not None:
        run(f"generate --scheduler local ({args.workers})",
            lambda: generate(store, out / "td.parquet", settings=settings, workers=args.workers, scheduler="local"),
            patches, startup(args.workers, "local"))  # fmt: skip
    else:
        print("generate --scheduler local: skipped (dask[distributed] is not installed)")
    run("rsvqa --workers 0", lambda: generate_rsvqa(store, out / "qa.parquet"), patches)
    shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
