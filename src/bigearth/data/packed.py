"""The packed layout: fixed-size records in memory-mapped arrays beside the rico-hdl LMDB, for batch reads.

The LMDB stays the compatible, authoritative store. ``packed/`` holds the same arrays once more, one ``.npy``
file per native-size band group with one row per patch (``s1``, ``s2_10m``, ``s2_20m``, ``s2_60m``,
``reference_map``) and ``rows.parquet`` mapping patch names to rows. A batch is then a handful of fancy-indexed
gathers from the page cache: no per-patch key lookup, header parse or per-band copy. The folder is written under a
temporary name and renamed when complete, and the manifest records it last.
"""

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bigearth.atomic import atomic_write_json
from bigearth.bands import S1_BANDS, S2_BANDS, native_size
from bigearth.data.metadata import read_metadata
from bigearth.data.store import MANIFEST_FILE, StoreReader, read_manifest
from bigearth.data.transforms import group_bands
from bigearth.errors import StoreError

PACKED_DIR = "packed"
ROWS_FILE = "rows.parquet"
REFERENCE_GROUP = "reference_map"
#: Every band group of the packed layout with its bands in file order.
PACKED_GROUPS: dict[str, tuple[str, ...]] = group_bands(S1_BANDS + S2_BANDS)


def _group_shape(group: str, rows: int) -> tuple[tuple[int, ...], np.dtype]:
    if group == REFERENCE_GROUP:
        return (rows, 120, 120), np.dtype(np.uint16)
    bands = PACKED_GROUPS[group]
    size = native_size(bands[0])
    dtype = np.dtype(np.float32) if group == "s1" else np.dtype(np.uint16)
    return (rows, len(bands), size, size), dtype


def pack(store: Path, *, progress: Callable[[int, int], None] | None = None, chunk: int = 256) -> dict[str, Any]:
    """Write the packed layout of a complete store (every patch of its metadata, both files).

    Args:
        store: a complete store folder with metadata.
        progress: called with (done, total) patches.
        chunk: patches read per LMDB transaction.

    Returns:
        The ``packed`` entry written into the manifest.

    Raises:
        StoreError: if the store is incomplete or has no metadata.
    """
    store = Path(store)
    manifest = read_manifest(store)
    if manifest is None:
        raise StoreError(f"{store} has no manifest; pack a store written by `bigearth encode`")
    frame = read_metadata(store, include_snow_cloud=True)
    reader = StoreReader(store)
    with_maps = bool(manifest["counts"]["reference_map"])
    groups = [*PACKED_GROUPS, *([REFERENCE_GROUP] if with_maps else [])]
    temporary = store / f".{PACKED_DIR}.tmp"
    shutil.rmtree(temporary, ignore_errors=True)  # left by a pack that was killed
    try:
        _write_packed(reader, frame, groups, temporary, progress, chunk)
    except BaseException:  # a full disk, Ctrl-C: nothing half-written stays beside the store
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    shutil.rmtree(store / PACKED_DIR, ignore_errors=True)
    os.replace(temporary, store / PACKED_DIR)
    entry = {"rows": len(frame), "groups": {g: list(PACKED_GROUPS.get(g, ("Data",))) for g in groups}}
    atomic_write_json(store / MANIFEST_FILE, manifest | {"packed": entry})
    return entry


def _write_packed(
    reader: StoreReader,
    frame: pd.DataFrame,
    groups: list[str],
    temporary: Path,
    progress: Callable[[int, int], None] | None,
    chunk: int,
) -> None:
    """Write the packed arrays and ``rows.parquet`` of ``frame``'s patches into the folder ``temporary``, fsynced."""
    with_maps = REFERENCE_GROUP in groups
    temporary.mkdir()
    arrays = {}
    for group in groups:
        shape, dtype = _group_shape(group, len(frame))
        arrays[group] = np.lib.format.open_memmap(temporary / f"{group}.npy", mode="w+", dtype=dtype, shape=shape)
    for start in range(0, len(frame), chunk):
        rows = frame.iloc[start : start + chunk]
        s2 = reader.read_many(list(rows["patch_id"]), S2_BANDS)
        s1 = reader.read_many(list(rows["s1_name"]), S1_BANDS)
        for offset, (s2_arrays, s1_arrays) in enumerate(zip(s2, s1, strict=True)):
            bands = s2_arrays | s1_arrays
            for group, members in PACKED_GROUPS.items():
                for position, band in enumerate(members):
                    arrays[group][start + offset, position] = bands[band]
            if with_maps:
                arrays[REFERENCE_GROUP][start + offset] = reader.read_reference_map(rows["patch_id"].iloc[offset])
        if progress:
            progress(min(start + chunk, len(frame)), len(frame))
    for array in arrays.values():
        array.flush()
    del arrays
    pd.DataFrame({"patch_id": frame["patch_id"], "s1_name": frame["s1_name"]}).to_parquet(temporary / ROWS_FILE)
    for file in temporary.iterdir():
        with open(file, "rb+") as handle:
            os.fsync(handle.fileno())


class PackedReader:
    """Batch reads from the packed layout of a store; picklable, memory maps opened lazily per process.

    Args:
        store: a store folder whose manifest records a packed layout.
    """

    def __init__(self, store: Path) -> None:
        self.path = Path(store) / PACKED_DIR
        rows = pd.read_parquet(self.path / ROWS_FILE)
        self.row_of = pd.Series(np.arange(len(rows)), index=rows["patch_id"].to_numpy())
        self._arrays: dict[str, np.ndarray] = {}
        self._pid = os.getpid()

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "row_of": self.row_of, "_arrays": {}, "_pid": -1}

    def array(self, group: str) -> np.ndarray:
        """Return the whole memory map of one group, ``(rows, n_bands, s, s)`` (opened once per process)."""
        if self._pid != os.getpid():
            self._arrays, self._pid = {}, os.getpid()
        if group not in self._arrays:
            self._arrays[group] = np.load(self.path / f"{group}.npy", mmap_mode="r")
        return self._arrays[group]

    def rows(self, patch_ids: list[str]) -> np.ndarray:
        """Return the packed rows of S2 patch names (KeyError for names not packed)."""
        return self.row_of.loc[patch_ids].to_numpy()

    def read_group(
        self, group: str, rows: np.ndarray, bands: tuple[str, ...] | None = None, *, out: np.ndarray | None = None
    ) -> np.ndarray:
        """Gather the rows of one band group, ``(len(rows), n_bands, s, s)``, copied once from the memory map.

        Args:
            group: ``s1``, ``s2_10m``, ``s2_20m``, ``s2_60m`` or ``reference_map`` (then ``(len(rows), 120, 120)``).
            rows: packed rows.
            bands: the group's bands to keep, in this order (default: all, in file order).
            out: array of the result's shape and dtype to fill (default: a new one).

        Returns:
            ``out``, or a new array.
        """
        array = self.array(group)
        members = PACKED_GROUPS.get(group)
        keep = None if bands is None or tuple(bands) == members else [members.index(band) for band in bands]
        shape = (len(rows), *array.shape[1:]) if keep is None else (len(rows), len(keep), *array.shape[2:])
        gathered = np.empty(shape, dtype=array.dtype) if out is None else out
        for position in np.argsort(rows, kind="stable"):  # ascending reads are friendlier to the page cache
            gathered[position] = array[rows[position]] if keep is None else array[rows[position], keep]
        return gathered


def has_packed(store: Path) -> bool:
    """Return whether a store folder holds a complete packed layout."""
    manifest_file = Path(store) / MANIFEST_FILE
    return manifest_file.is_file() and "packed" in (read_manifest(Path(store)) or {})
