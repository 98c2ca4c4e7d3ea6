"""The two DataLoader routes of ReBENDataset: the default collate (per sample) against ``keep_batch`` (whole batches).

Baseline: the batch route, ``DataLoader(dataset, batch_size=B, collate_fn=keep_batch)``, what bigearth's own
training and the loader benchmark use. Measured: the per-sample route, ``DataLoader(dataset, batch_size=B)`` with
PyTorch's default collate (the route a plain PyTorch or TorchGeo loop takes). Both read 14 bands at 120 x 120
float32, normalised, with labels; in one process and with N fork workers (after the parent has read a sample).
Prints samples/s, their ratio, the machine and its load (other jobs share it: compare ratios within one run).

Usage: python benchmarks/collate_routes.py STORE [--batch-size 64] [--workers 2] [--repeats 3]
"""

import argparse
import os
import platform
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from bigearth.data.dataset import ReBENDataset, keep_batch


def rate(loader: DataLoader, count: int, repeats: int) -> float:
    """Best samples/s of ``repeats`` full passes over ``loader``."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _batch in loader:
            pass
        best = min(best, time.perf_counter() - start)
    return count / best


def main() -> None:
    """Measure both routes and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("store", type=Path)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    dataset = ReBENDataset(args.store, split=None, bands=14, packed=False)
    dataset[0]  # opens the LMDB in the parent and warms the page cache
    count = len(dataset)
    print(f"{platform.node()}, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}; {count} patches")
    print("| workers | batch route (keep_batch) | per-sample route (default collate) | per-sample / batch |")
    print("| --- | --- | --- | --- |")
    for workers in (0, args.workers):
        context = "fork" if workers else None
        routes = [
            DataLoader(
                dataset,
                args.batch_size,
                collate_fn=collate,
                num_workers=workers,
                multiprocessing_context=context,
                persistent_workers=workers > 0,
            )
            for collate in (keep_batch, None)
        ]
        batch, sample = (rate(loader, count, args.repeats) for loader in routes)
        print(f"| {workers} | {batch:,.0f}/s | {sample:,.0f}/s | {sample / batch:.2f} |")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
