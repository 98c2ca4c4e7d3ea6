"""Loader throughput on one mini-reBEN: the bare floor, the store reader, per-sample GeoTIFF reading, encoding.

Measures samples/s of
  (a) the floor: LMDB get + safetensors decode (the library's loader) of the S2 and S1 values, nothing else;
  (b) bigearth's store reader, full output: 14 bands (VV VH + 12 S2) at 120 x 120 float32, normalised, labels;
  (c) per-sample GeoTIFF reading (one file per band, as TorchGeo does) to the same output;
  (b-packed) the same output read from the packed layout beside the LMDB (``bigearth encode --packed``);
  raw: native-size band groups only (what workers deliver when the GPU resizes and normalises), also read by
  ThreadedBatchLoader threads instead of DataLoader processes;
  (bound): allocating and filling the full output's float32 batches once, reading nothing (memory-write bound);
in one process and with a DataLoader of N spawned workers, and prints the ratios. The full output (b-packed) is
also measured at torch's default thread count and at one thread, each on an otherwise idle machine and while
``os.cpu_count()`` busy processes keep every core busy, beside the previous CPU route (torch operations, which
use torch's intra-op threads). Also measures encode throughput (patches/s) with each GeoTIFF reader (bigearth's
strip reader, tifffile, rasterio: GDAL, the reader before issue 18), alone with ``--encode-only``. Worker rows
(issue 18 item 3): raw packed batches through a DataLoader in this process and through N workers (which read into a
ring of shared-memory segments, handed back once used here), and the full output made
from them here on ``--device``. With ``--device cuda`` (the default where CUDA is available) the worker rows
finish on the GPU and the "into GPU memory" rows measure samples/s delivered into GPU memory (raw batches of 512
from workers or threads, resize + normalise on the GPU). The cost of checking every value read against the store's
checksum table (``verify_checksums=True``) is measured on the full output and on raw band groups from the LMDB,
beside the same rows without it; ``--checksums-only`` measures just those four rows.

Every row is the median of ``--repeats`` runs, the rows interleaved round by round, with the load average at its
runs (the machine may be shared: compare rows of one run only); the single DataLoader rows are one timed pass.

Usage: python benchmarks/loader.py [--patches 2000] [--workers 2] [--threads 1] [--repeats 5] [--cache data/bench]
       [--device cuda] [--encode-repeats 0 (reuse the cached store)] [--checksums-only] [--encode-only]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load
from torch.utils.data import DataLoader

from bigearth.data.dataset import ReBENDataset, finish_batch, keep_batch
from bigearth.data.encode import encode
from bigearth.data.loader import ThreadedBatchLoader
from bigearth.data.metadata import read_metadata
from bigearth.data.packed import pack
from bigearth.data.shared import release_batch
from bigearth.data.store import shared_environment
from bigearth.data.synth import synthesize
from bigearth.data.transforms import BatchTransform


def measure_interleaved(
    rows: dict[str, tuple[Callable[[], None], int]], repeats: int
) -> dict[str, tuple[float, float]]:
    """Median samples/s and mean load average of each row; the rows run in turn, ``repeats`` rounds.

    Args:
        rows: name -> (function, samples it handles).
        repeats: rounds.
    """
    rates: dict[str, list[float]] = {name: [] for name in rows}
    loads: dict[str, list[float]] = {name: [] for name in rows}
    for _ in range(repeats):
        for name, (function, count) in rows.items():
            start = time.perf_counter()
            function()
            rates[name].append(count / (time.perf_counter() - start))
            loads[name].append(os.getloadavg()[0])
    return {name: (statistics.median(rates[name]), statistics.fmean(loads[name])) for name in rows}


@contextmanager
def busy_cores() -> Iterator[None]:
    """Keep every core busy with ``os.cpu_count()`` spinning processes while the block runs."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]
    try:
        time.sleep(0.5)
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def floor(store: Path, patch_ids: list[str], s1_names: list[str]) -> None:
    # the process's one environment of this path (py-lmdb >= 2 refuses a second)
    with shared_environment(store).begin() as transaction:
        for patch_id, s1_name in zip(patch_ids, s1_names, strict=True):
            load(transaction.get(patch_id.encode()))
            load(transaction.get(s1_name.encode()))


def write_only(count: int, batch_size: int, channels: int) -> None:
    """The memory-write bound of the full output: allocate and fill each float32 batch once, read nothing."""
    for start in range(0, count, batch_size):
        np.empty((min(batch_size, count - start), channels, 120, 120), dtype=np.float32).fill(1.0)


def read_all(dataset: ReBENDataset, batch_size: int) -> None:
    for start in range(0, len(dataset), batch_size):
        dataset.__getitems__(list(range(start, min(start + batch_size, len(dataset)))))


def make_loader(
    dataset: ReBENDataset, batch_size: int, workers: int, device: str | None = None, *, threads: bool = False
) -> DataLoader | ThreadedBatchLoader:
    """A shuffling DataLoader (``workers`` spawned persistent processes, or this one) or ThreadedBatchLoader."""
    if threads:
        return ThreadedBatchLoader(
            dataset, batch_size=batch_size, shuffle=True, threads=workers, pin_memory=device == "cuda"
        )
    return DataLoader(
        dataset, batch_size=batch_size, num_workers=workers, collate_fn=keep_batch, shuffle=True,
        multiprocessing_context="spawn" if workers else None, pin_memory=device == "cuda",
        persistent_workers=workers > 0, prefetch_factor=4 if workers else None,
    )  # fmt: skip


def loader_pass(
    loader: DataLoader | ThreadedBatchLoader, transform: BatchTransform | None, device: str | None
) -> Callable[[], None]:
    """One pass over ``loader``; with ``device``, each raw batch is copied there and finished (resized and
    normalised) by ``transform`` in this process."""

    def one_pass() -> None:
        for batch in loader:
            if device:
                groups = {name: group.to(device, non_blocking=True) for name, group in batch["groups"].items()}
                finish_batch(batch | {"groups": groups, "label": batch["label"].to(device)}, transform)
            if device != "cuda" and "groups" in batch:  # read (or finished on the CPU): hand the segment back
                release_batch(batch["groups"])
        if device == "cuda":
            torch.cuda.synchronize()

    return one_pass


def loader_rate(
    dataset: ReBENDataset, batch_size: int, workers: int, device: str | None = None, *, threads: bool = False
) -> float:
    """Samples/s of one shuffled pass, timed after a warm-up pass (start-up not counted)."""
    transform = dataset.transform.to(device) if device else None
    one_pass = loader_pass(make_loader(dataset, batch_size, workers, device, threads=threads), transform, device)
    one_pass()
    start = time.perf_counter()
    one_pass()
    return len(dataset) / (time.perf_counter() - start)


def worker_rows(
    packed_raw: ReBENDataset, batch_size: int, workers: int, device: str
) -> dict[str, tuple[Callable[[], None], int]]:
    """Raw packed batches and the full output finished in this process on ``device``, through this process and
    through ``workers`` DataLoader workers (which ship native-size band groups), built and warmed up once."""
    rows = {}
    transform = packed_raw.transform.to(device)
    for count in (0, workers):
        how = f"DataLoader {count} workers" if count else "DataLoader in this process"
        loader = make_loader(packed_raw, batch_size, count, device)
        for finished in (False, True):
            label = (
                f"full output (packed): raw groups, {how}, finished here on {device}"
                if finished
                else f"raw band groups from the packed layout, {how}"
            )
            rows[label] = (loader_pass(loader, transform, device if finished else None), len(packed_raw))
            rows[label][0]()  # start-up and warm-up pass
    return rows


def encode_rates(root: Path, store: Path, workers: int, repeats: int) -> dict[str, tuple[float, float]]:
    """Median patches/s (and mean load) of encoding ``root`` with each GeoTIFF reader, readers alternating in each
    round; leaves ``store`` encoded by the default reader."""
    patches = len(read_metadata(root, include_snow_cloud=True))
    runs: dict[str, list[tuple[float, float]]] = {reader: [] for reader in ("rasterio", "tifffile", "bigearth")}
    for _ in range(repeats):
        for reader, rates in runs.items():
            target = store if reader == "bigearth" else store.with_name(f"{store.name}-{reader}")
            shutil.rmtree(target, ignore_errors=True)
            start = time.perf_counter()
            encode(root, target, workers=workers, reader=reader)
            rates.append((patches / (time.perf_counter() - start), os.getloadavg()[0]))
    for reader in ("rasterio", "tifffile"):
        shutil.rmtree(store.with_name(f"{store.name}-{reader}"))
    return {
        reader: (statistics.median(rate for rate, _ in rates), statistics.fmean(load for _, load in rates))
        for reader, rates in runs.items()
    }


def print_encode_rates(encoded: dict[str, tuple[float, float]], repeats: int, workers: int) -> None:
    """Print the encode rates of each reader and their ratio over rasterio (GDAL, the reader before issue 18)."""
    print(f"encode, {workers} workers, median of {repeats} rounds (readers alternating; mean load in brackets):")
    for reader, (rate, load_average) in encoded.items():
        ratio = rate / encoded["rasterio"][0]
        print(f"  {reader:<9} {rate:8,.1f} patches/s ({load_average:.1f})  {ratio:5.2f} x rasterio")


def thread_rows(packed_raw: ReBENDataset, batch_size: int, default_threads: int) -> dict[str, tuple[Callable, int]]:
    """The full output read from the packed layout at 1 and at the default torch threads, new and previous route."""
    transform = packed_raw.transform
    count = len(packed_raw)

    def full(threads: int, previous: bool) -> Callable[[], None]:
        def run() -> None:
            torch.set_num_threads(threads)
            for start in range(0, count, batch_size):
                groups = packed_raw.__getitems__(list(range(start, min(start + batch_size, count))))["groups"]
                if previous:  # the torch operations BatchTransform ran on the CPU before (and runs on a GPU)
                    out = torch.from_numpy(np.empty((len(groups["s1"]), 14, 120, 120), dtype=np.float32))
                    transform._nearest_torch(groups, out)
                else:
                    transform(groups)

        return run

    return {
        f"full output (packed), {threads} torch thread(s), {route}": (full(threads, route != "kernel route"), count)
        for threads in (1, default_threads)
        for route in ("kernel route", "previous torch route")
    }


def checksum_rows(store: Path, batch_size: int) -> dict[str, tuple[Callable[[], None], int]]:
    """The full output and raw band groups read from the LMDB, with and without checking every value's CRC-32."""
    rows = {}
    for raw in (False, True):
        output = "raw band groups from the LMDB" if raw else "(b) store reader, full output"
        for verify in (False, True):
            dataset = ReBENDataset(store, split=None, bands=14, packed=False, raw=raw, verify_checksums=verify)
            dataset.__getitems__(list(range(min(len(dataset), 256))))  # open the LMDB, warm the page cache
            name = f"{output}, {'checksums verified on read' if verify else 'no checksum check'}"
            rows[name] = (lambda dataset=dataset: read_all(dataset, batch_size), len(dataset))
    return rows


def print_checksum_costs(results: dict[str, tuple[float, float]]) -> None:
    """Print the samples/s ratio of reading with checksum checks to reading without, per output."""
    for output in ("(b) store reader, full output", "raw band groups from the LMDB"):
        checked = results[f"{output}, checksums verified on read"][0]
        unchecked = results[f"{output}, no checksum check"][0]
        print(f"{output}: with checksums / without = {checked / unchecked:.3f} ({checked:,.0f} vs {unchecked:,.0f} "
              "samples/s)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patches", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--geotiff-samples", type=int, default=300, help="samples read for (c), which is slow")
    parser.add_argument("--cache", type=Path, default=Path("data/bench"))
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the measuring process")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved rounds; rows report the median")
    parser.add_argument(
        "--device",
        default="cuda" if torch.cuda.is_available() else "cpu",
        help="where the worker rows finish raw batches (cuda also adds the GPU rows at batch 512)",
    )
    parser.add_argument(
        "--encode-repeats",
        type=int,
        default=3,
        help="encodes of the root with each reader (0: reuse the cached, packed store)",
    )
    parser.add_argument("--checksums-only", action="store_true", help="only the checksum rows (encodes once)")
    parser.add_argument("--encode-only", action="store_true", help="only the encode rates (--encode-repeats rounds)")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        print("--device cuda: CUDA is not available on this machine; nothing measured (run on a GPU)")
        return
    default_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)

    root, store = args.cache / f"release-{args.patches}", args.cache / f"store-{args.patches}"
    if not (root / "metadata.parquet").is_file():
        shutil.rmtree(root, ignore_errors=True)
        start = time.perf_counter()
        synthesize(root, patches=args.patches, seed=0)
        print(f"synthesised {args.patches} patches in {time.perf_counter() - start:.1f} s")
    if args.checksums_only:
        if not (store / "manifest.json").is_file():
            encode(root, store, workers=args.workers)
        print(f"{args.patches} patches, batch {args.batch_size}, {args.threads} torch thread(s), {os.cpu_count()} "
              f"CPUs, median of {args.repeats} interleaved rounds")  # fmt: skip
        results = measure_interleaved(checksum_rows(store, args.batch_size), args.repeats)
        for name, (rate, load_average) in results.items():
            print(f"{name:<72} {rate:>10,.0f} samples/s   load {load_average:5.1f}")
        print_checksum_costs(results)
        return
    if args.encode_only:
        print_encode_rates(encode_rates(root, store, args.workers, args.encode_repeats), args.encode_repeats,
                           args.workers)  # fmt: skip
        return
    encoded, pack_rate = {}, None
    if args.encode_repeats or not (store / "manifest.json").is_file():
        encoded = encode_rates(root, store, args.workers, max(1, args.encode_repeats))
        frame = read_metadata(root, include_snow_cloud=True)
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
    results = measure_interleaved(
        {
            "(a) floor: LMDB get + safetensors decode": (lambda: floor(store, ids, names), count),
            "(b) store reader, 14 x 120 x 120 float32 normalised + labels": (
                lambda: read_all(dataset, args.batch_size),
                count,
            ),
            "(b-packed) packed layout, same output": (lambda: read_all(packed, args.batch_size), count),
            "raw band groups from the LMDB (no resize/normalise)": (lambda: read_all(raw, args.batch_size), count),
            "raw band groups from the packed layout": (lambda: read_all(packed_raw, args.batch_size), count),
            "(bound) allocate + fill the full output once, no reading": (
                lambda: write_only(count, args.batch_size, 14),
                count,
            ),
        },
        args.repeats,
    )
    results |= measure_interleaved(checksum_rows(store, args.batch_size), args.repeats)
    threads = thread_rows(packed_raw, args.batch_size, default_threads)
    results |= measure_interleaved(threads, args.repeats)
    with busy_cores():
        results |= {
            f"{name}, every core busy": rate for name, rate in measure_interleaved(threads, args.repeats).items()
        }
    torch.set_num_threads(args.threads)
    geotiff = ReBENDataset(root, split=None, bands=14).restrict(first=args.geotiff_samples)
    subset = len(geotiff)
    results |= measure_interleaved(
        {"(c) per-sample GeoTIFF reading, same output": (lambda: [geotiff[i] for i in range(subset)], subset)}, 1
    )
    workers = args.workers
    loader_results = {
        f"(b) store reader, DataLoader {workers} workers": loader_rate(dataset, args.batch_size, workers),
        f"(b-packed) packed layout, DataLoader {workers} workers": loader_rate(packed, args.batch_size, workers),
        f"raw band groups from the packed layout, {workers} reading threads": loader_rate(
            packed_raw, args.batch_size, workers, threads=True
        ),
        f"raw band groups from the LMDB, {workers} reading threads": loader_rate(
            raw, args.batch_size, workers, threads=True
        ),
        f"(c) GeoTIFF reading, DataLoader {workers} workers": loader_rate(geotiff, args.batch_size, workers),
    }
    if args.device == "cuda":
        for name, source, threaded in (
            ("LMDB", raw, False),
            ("packed", packed_raw, False),
            ("packed", packed_raw, True),
        ):
            how = f"{workers} reading threads" if threaded else f"DataLoader {workers} workers"
            label = f"into GPU memory from {name}: raw batches, {how}, GPU resize + normalise"
            loader_results[label] = loader_rate(source, 512, workers, device="cuda", threads=threaded)
    results |= {name: (rate, os.getloadavg()[0]) for name, rate in loader_results.items()}
    results |= measure_interleaved(worker_rows(packed_raw, args.batch_size, workers, args.device), args.repeats)
    floor_rate = results["(a) floor: LMDB get + safetensors decode"][0]
    print(
        f"\n{count} patches, {args.threads} torch thread(s) (default {default_threads}), batch {args.batch_size}, "
        f"{os.cpu_count()} CPUs, median of {args.repeats} interleaved rounds (loader rows: one timed pass)"
    )
    if encoded:
        print_encode_rates(encoded, args.encode_repeats, args.workers)
        print(f"pack: {pack_rate:,.0f} patches/s")
    for name, (rate, load_average) in results.items():
        print(f"{name:<92} {rate:>10,.0f} samples/s   {rate / floor_rate:6.3f} x floor   load {load_average:5.1f}")
    b = results["(b) store reader, 14 x 120 x 120 float32 normalised + labels"][0]
    c = results["(c) per-sample GeoTIFF reading, same output"][0]
    print(f"store reader / per-sample GeoTIFF: {b / c:,.1f} x")
    print_checksum_costs(results)
    for busy in ("", ", every core busy"):
        one = results[f"full output (packed), 1 torch thread(s), kernel route{busy}"][0]
        many = results[f"full output (packed), {default_threads} torch thread(s), kernel route{busy}"][0]
        print(f"default threads / one thread{busy or ', idle'}: {many / one:.2f} (kernel route)")
    for what, one, many in (
        ("raw packed batches", "raw band groups from the packed layout, DataLoader in this process",
         f"raw band groups from the packed layout, DataLoader {workers} workers"),
        (f"full output finished on {args.device}", f"full output (packed): raw groups, DataLoader in this process, "
         f"finished here on {args.device}", f"full output (packed): raw groups, DataLoader {workers} workers, "
         f"finished here on {args.device}"),
    ):  # fmt: skip
        print(f"{what}: {workers} workers / this process: {results[many][0] / results[one][0]:.2f}")


if __name__ == "__main__":
    main()
