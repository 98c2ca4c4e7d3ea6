"""Loader throughput on one mini-reBEN: the bare floor, the store reader, per-sample GeoTIFF reading, encoding.

Measures samples/s of
  (a) the floor: LMDB get + safetensors decode (the library's loader) of the S2 and S1 values, nothing else;
  (b) bigearth's store reader, full output: 14 bands (VV VH + 12 S2) at 120 x 120 float32, normalised, labels;
  (c) per-sample GeoTIFF reading (one file per band, as TorchGeo does) to the same output;
  (b-packed) the same output read from the packed layout beside the LMDB (``bigearth encode --packed``);
  raw: native-size band groups only (what workers deliver when the GPU resizes and normalises), also read by
  ThreadedBatchLoader threads instead of DataLoader processes;
in one process and with a DataLoader of N spawned workers, and prints the ratios. Also measures encode
throughput (patches/s) and, where CUDA is available, samples/s delivered into GPU memory (raw batches from
workers, resize + normalise on the GPU).

Usage: python benchmarks/loader.py [--patches 2000] [--workers 2] [--threads 1] [--cache data/bench]
"""

import argparse
import shutil
import time
from pathlib import Path

import torch
from safetensors.numpy import load
from torch.utils.data import DataLoader

from bigearth.data.dataset import ReBENDataset, finish_batch, keep_batch
from bigearth.data.encode import encode
from bigearth.data.loader import ThreadedBatchLoader
from bigearth.data.metadata import read_metadata
from bigearth.data.packed import pack
from bigearth.data.store import shared_environment
from bigearth.data.synth import synthesize


def timed(function, count: int, repeats: int = 3) -> float:
    """Best samples/s of ``repeats`` runs of ``function`` that each handle ``count`` samples."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return count / best


def floor(store: Path, patch_ids: list[str], s1_names: list[str]) -> None:
    # the process's one environment of this path (py-lmdb >= 2 refuses a second)
    with shared_environment(store).begin() as transaction:
        for patch_id, s1_name in zip(patch_ids, s1_names, strict=True):
            load(transaction.get(patch_id.encode()))
            load(transaction.get(s1_name.encode()))


def read_all(dataset: ReBENDataset, batch_size: int) -> None:
    for start in range(0, len(dataset), batch_size):
        dataset.__getitems__(list(range(start, min(start + batch_size, len(dataset)))))


def loader_rate(
    dataset: ReBENDataset, batch_size: int, workers: int, device: str | None = None, *, threads: bool = False
) -> float:
    """Samples/s of one shuffled pass over a DataLoader (worker processes) or a ThreadedBatchLoader (threads),
    timed after a warm-up pass (start-up not counted)."""
    if threads:
        loader = ThreadedBatchLoader(
            dataset, batch_size=batch_size, shuffle=True, threads=workers, pin_memory=device == "cuda"
        )
    else:
        loader = DataLoader(
            dataset, batch_size=batch_size, num_workers=workers, collate_fn=keep_batch, shuffle=True,
            multiprocessing_context="spawn" if workers else None, pin_memory=device == "cuda",
            persistent_workers=workers > 0, prefetch_factor=4 if workers else None,
        )  # fmt: skip
    transform = dataset.transform.to(device) if device else None

    def one_pass() -> None:
        for batch in loader:
            if device:
                groups = {name: group.to(device, non_blocking=True) for name, group in batch["groups"].items()}
                finish_batch(batch | {"groups": groups, "label": batch["label"].to(device)}, transform)
        if device == "cuda":
            torch.cuda.synchronize()

    one_pass()
    start = time.perf_counter()
    one_pass()
    return len(dataset) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patches", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--geotiff-samples", type=int, default=300, help="samples read for (c), which is slow")
    parser.add_argument("--cache", type=Path, default=Path("data/bench"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the measuring process")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    root, store = args.cache / f"release-{args.patches}", args.cache / f"store-{args.patches}"
    if not (root / "metadata.parquet").is_file():
        shutil.rmtree(root, ignore_errors=True)
        start = time.perf_counter()
        synthesize(root, patches=args.patches, seed=0)
        print(f"synthesised {args.patches} patches in {time.perf_counter() - start:.1f} s")
    shutil.rmtree(store, ignore_errors=True)
    frame = read_metadata(root, include_snow_cloud=True)
    start = time.perf_counter()
    encode(root, store, workers=args.workers)
    encode_rate = len(frame) / (time.perf_counter() - start)
    start = time.perf_counter()
    pack(store)
    pack_rate = len(frame) / (time.perf_counter() - start)

    dataset = ReBENDataset(store, split=None, bands=14, packed=False)
    packed = ReBENDataset(store, split=None, bands=14)
    raw = ReBENDataset(store, split=None, bands=14, packed=False, raw=True)
    packed_raw = ReBENDataset(store, split=None, bands=14, raw=True)
    count = len(dataset)
    ids = [str(p) for p in dataset.index.patch_id]
    names = [str(n) for n in dataset.index.s1_name]
    dataset.__getitems__(list(range(min(count, 256))))  # open the LMDB, warm the page cache
    results = {
        "(a) floor: LMDB get + safetensors decode": timed(lambda: floor(store, ids, names), count),
        "(b) store reader, 14 x 120 x 120 float32 normalised + labels": timed(
            lambda: read_all(dataset, args.batch_size), count
        ),
        "(b-packed) packed layout, same output": timed(lambda: read_all(packed, args.batch_size), count),
        "raw band groups from the LMDB (no resize/normalise)": timed(lambda: read_all(raw, args.batch_size), count),
        "raw band groups from the packed layout": timed(lambda: read_all(packed_raw, args.batch_size), count),
    }
    geotiff = ReBENDataset(root, split=None, bands=14).restrict(first=args.geotiff_samples)
    subset = len(geotiff)
    results["(c) per-sample GeoTIFF reading, same output"] = timed(
        lambda: [geotiff[i] for i in range(subset)], subset, repeats=1
    )
    workers = args.workers
    loader_results = {
        f"(b) store reader, DataLoader {workers} workers": loader_rate(dataset, args.batch_size, workers),
        f"(b-packed) packed layout, DataLoader {workers} workers": loader_rate(packed, args.batch_size, workers),
        f"raw band groups from the packed layout, DataLoader {workers} workers": loader_rate(
            packed_raw, args.batch_size, workers
        ),
        f"raw band groups from the packed layout, {workers} reading threads": loader_rate(
            packed_raw, args.batch_size, workers, threads=True
        ),
        f"raw band groups from the LMDB, {workers} reading threads": loader_rate(
            raw, args.batch_size, workers, threads=True
        ),
        f"(c) GeoTIFF reading, DataLoader {workers} workers": loader_rate(geotiff, args.batch_size, workers),
    }
    if torch.cuda.is_available():
        for name, source, threads in (
            ("LMDB", raw, False),
            ("packed", packed_raw, False),
            ("packed", packed_raw, True),
        ):
            how = f"{workers} reading threads" if threads else f"DataLoader {workers} workers"
            label = f"into GPU memory from {name}: raw batches, {how}, GPU resize + normalise"
            loader_results[label] = loader_rate(source, 512, workers, device="cuda", threads=threads)
    floor_rate = results["(a) floor: LMDB get + safetensors decode"]
    print(f"\n{count} patches, {torch.get_num_threads()} torch threads, batch {args.batch_size}")
    print(f"encode: {encode_rate:,.0f} patches/s with {args.workers} workers; pack: {pack_rate:,.0f} patches/s")
    for name, rate in (results | loader_results).items():
        print(f"{name:<75} {rate:>10,.0f} samples/s   {rate / floor_rate:6.3f} x floor")
    b = results["(b) store reader, 14 x 120 x 120 float32 normalised + labels"]
    c = results["(c) per-sample GeoTIFF reading, same output"]
    print(f"store reader / per-sample GeoTIFF: {b / c:,.1f} x")


if __name__ == "__main__":
    main()
