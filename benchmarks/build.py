"""Build throughput: patches/s of ``bigearth build`` on synthetic inputs, one worker vs all cores, and what that
means for the full reBEN (115 tiles, 549,488 patches) on one machine and on a cluster.

The synthetic inputs are ``--tiles`` S2 products of the window ``--window`` of tile T33UUP (different sensing days,
so different tile names), one S1 scene over them and a CLC GeoPackage (``bigearth.construct.fixtures``). Each build runs
on a fresh local Dask cluster (spawned worker processes) into a fresh folder; the wall time includes planning,
the cluster's start and the metadata. Besides patches/s, the script measures how fast GDAL decodes the JPEG 2000
bands, because a real tile is 10,980 x 10,980 px at 10 m: its decode time (about 700 Mpx per tile over all bands)
is added to the full-reBEN estimate, scaled from the decode rate measured here.

Usage: python benchmarks/build.py [--tiles 4] [--window 10,22,16,4] [--workers N] [--cache data/bench/build]
"""

import argparse
import os
import shutil
import time
from datetime import timedelta
from pathlib import Path

import rasterio

from bigearth.bands import BAND_GSD, S2_BANDS
from bigearth.construct import build
from bigearth.construct.fixtures import (
    EXAMPLE_SENSING,
    land_cover,
    parse_window,
    write_clc_gpkg,
    write_s1_scene,
    write_s2_product,
)
from bigearth.construct.safe import read_product

REBEN_TILES = 115
REBEN_PATCHES = 549_488
#: Pixels of one real S2 tile over the 12 bands and the SCL layer: 10,980^2 at 10 m, 5,490^2 at 20 m, 1,830^2 at 60 m.
TILE_PIXELS = sum((109_800 // BAND_GSD[band]) ** 2 for band in S2_BANDS) + (109_800 // 20) ** 2


def make_inputs(folder: Path, tiles: int, window_text: str) -> tuple[list[Path], Path, Path]:
    window = parse_window(window_text)
    if (folder / "done").is_file():
        return sorted((folder / "s2").iterdir()), next((folder / "s1").iterdir()), next((folder / "clc").iterdir())
    shutil.rmtree(folder, ignore_errors=True)
    polygons, codes = land_cover(window, seed=0, defects=True)
    products = [
        write_s2_product(
            folder / "s2", polygons, codes, window=window, seed=day, sensing=EXAMPLE_SENSING + timedelta(days=5 * day)
        )
        for day in range(tiles)
    ]
    s1 = write_s1_scene(folder / "s1", polygons, codes, window=window)
    clc = write_clc_gpkg(folder / "clc" / "clc.gpkg", polygons, codes, epsg=32633)
    (folder / "done").write_text("inputs complete\n")
    return products, s1, clc


def decode_rate(product: Path) -> float:
    """Return megapixels per second of GDAL decoding the product's bands whole, in this process."""
    files = read_product(product).band_files.values()
    pixels, start = 0, time.perf_counter()
    with rasterio.Env(GDAL_CACHEMAX=64 * 2**20):
        for path in files:
            with rasterio.open(path) as source:
                source.read(1)
                pixels += source.width * source.height
    return pixels / 1e6 / (time.perf_counter() - start)


def timed_build(products: list[Path], s1: Path, clc: Path, out: Path, workers: int) -> tuple[float, dict]:
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    summary = build(products, [s1], clc, out, workers=workers)
    return time.perf_counter() - start, summary.totals | {"cut_seconds": sum(t["seconds"] for t in summary.tiles)}


def hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiles", type=int, default=4)
    parser.add_argument("--window", default="10,22,16,4")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--cache", type=Path, default=Path("data/bench/build"))
    parser.add_argument("--machine-cores", type=int, default=16, help="cores of the machine in the estimate")
    parser.add_argument("--cluster-workers", type=int, default=REBEN_TILES, help="worker processes of the cluster")
    args = parser.parse_args()

    products, s1, clc = make_inputs(args.cache / "inputs", args.tiles, args.window)
    print(f"inputs: {len(products)} S2 products of window {args.window} of T33UUP, 1 S1 scene, CLC GeoPackage")
    results = {}
    for workers in sorted({1, args.workers}):
        wall, totals = timed_build(products, s1, clc, args.cache / f"out-{workers}", workers)
        results[workers] = (wall, totals)
        print(
            f"{workers} worker(s): {totals['candidates']} candidate patches, {totals['kept']} kept in {wall:.1f} s: "
            f"{totals['kept'] / wall:.1f} patches/s kept, {totals['candidates'] / wall:.1f} cells/s examined "
            f"(tile cutting alone {totals['cut_seconds']:.1f} s of worker time)"
        )
    one_wall, one = results[1]
    per_worker = one["kept"] / one["cut_seconds"]  # patches/s of one worker process, cutting only
    rate = decode_rate(products[0])
    decode_per_tile = TILE_PIXELS / 1e6 / rate
    print(
        f"JPEG 2000 decode: {rate:.1f} Mpx/s per process -> {decode_per_tile:.0f} s per real tile "
        f"({TILE_PIXELS / 1e6:.0f} Mpx)"
    )
    per_tile = REBEN_PATCHES / REBEN_TILES / per_worker + decode_per_tile  # seconds of one worker per real tile
    print(
        f"full reBEN ({REBEN_TILES} tiles, {REBEN_PATCHES:,} patches), about {per_tile / 60:.0f} worker-minutes "
        "per tile:"
    )
    for label, cores in (
        ("one worker process", 1),
        (f"one machine, {args.machine_cores} worker processes", args.machine_cores),
        (f"a cluster of {args.cluster_workers} worker processes", args.cluster_workers),
    ):
        rounds = -(-REBEN_TILES // min(cores, REBEN_TILES))  # tiles are the unit of work
        print(f"  {label}: {hours(rounds * per_tile)}")
    if args.workers > 1:
        many_wall, _many = results[args.workers]
        print(f"speed-up of {args.workers} workers over 1 (wall, this machine): {one_wall / many_wall:.2f}x")


if __name__ == "__main__":
    main()
