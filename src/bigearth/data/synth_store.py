"""A mini-reBEN written straight into a store (no GeoTIFFs), for large benchmark sets.

The values are exactly those that ``bigearth encode`` would write from ``synthesize`` with the same seed.
"""

import multiprocessing
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd

from bigearth.data import safetensors_codec
from bigearth.data.layout import METADATA_FILE, SNOW_CLOUD_METADATA_FILE, reference_map_key
from bigearth.data.metadata import FLAG_COLUMNS, write_metadata
from bigearth.data.store import REFERENCE_MAP_TENSOR
from bigearth.data.store_writer import StoreWriter
from bigearth.data.synth import plan, render_patch


def _render_values(rows: list[dict], seed: int) -> list[tuple[str, bytes]]:
    values = []
    for row in rows:
        arrays = render_patch(pd.Series(row), seed)
        values.append((row["patch_id"], safetensors_codec.encode(arrays.s2)))
        values.append((row["s1_name"], safetensors_codec.encode(arrays.s1)))
        values.append(
            (reference_map_key(row["patch_id"]), safetensors_codec.encode({REFERENCE_MAP_TENSOR: arrays.reference_map}))
        )
    return values


def _rendered(frame: pd.DataFrame, seed: int, workers: int, chunk: int = 64) -> Iterator[list[tuple[str, bytes]]]:
    rows = frame.to_dict("records")
    chunks = [rows[start : start + chunk] for start in range(0, len(rows), chunk)]
    if workers == 0:
        yield from (_render_values(part, seed) for part in chunks)
        return
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield from pool.map(_render_values, chunks, [seed] * len(chunks))


def synthesize_store(
    out: Path,
    *,
    patches: int = 600,
    seed: int = 0,
    workers: int = 2,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Write a mini-reBEN straight into a store folder (resumable like an encode).

    Args:
        out: store folder.
        patches: number of patches.
        seed: random seed (same seed, same arrays as :func:`~bigearth.data.synth.synthesize`).
        workers: spawned rendering processes (0: in this process).
        progress: called with (done, total) patches.

    Returns:
        The metadata of all patches.
    """
    frame = plan(patches, seed)
    flagged = frame[list(FLAG_COLUMNS)].any(axis=1)
    with StoreWriter(Path(out)) as writer:
        # a patch's reference map is its last value written: present means all three were committed
        todo = frame[~frame["patch_id"].map(reference_map_key).isin(writer.existing)]
        done = len(frame) - len(todo)
        for values in _rendered(todo, seed, workers):
            for key, value in values:
                writer.put(key, value)
            done += len(values) // 3
            if progress:
                progress(done, len(frame))
        with tempfile.TemporaryDirectory() as folder:
            write_metadata(frame[~flagged], Path(folder) / METADATA_FILE)
            write_metadata(frame[flagged], Path(folder) / SNOW_CLOUD_METADATA_FILE)
            writer.finalize(Path(folder))
    return frame
