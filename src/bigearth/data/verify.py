"""Checking a store: manifest, counts, checksums, finite values, the packed layout, equality with the GeoTIFFs.

What is checked, in order (every problem is one line of the report; the store is fine when there is none):

1. the manifest parses and has a known format and version (a malformed one is an error, not a problem);
2. the keys: present for every patch of the store's metadata, counted as the manifest says, with its key MD5;
3. the metadata copies: their MD5s as the manifest records them;
4. every value: its CRC-32 as the checksum table records it (format 2), decodable with reBEN's band sizes and
   dtypes, finite (S1 float32), and reference maps of 120 x 120 CLC codes;
5. the packed layout, if the manifest records one: its rows and arrays equal the LMDB's values;
6. with ``root``: every array equals its GeoTIFF.
"""

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from bigearth.bands import S1_BANDS, S2_BANDS
from bigearth.data.checksums import ChecksumTable
from bigearth.data.layout import reference_map_key
from bigearth.data.metadata import read_metadata
from bigearth.data.source import ReleaseReader
from bigearth.data.store import (
    COUNTED_KINDS,
    REFERENCE_MAP_TENSOR,
    StoreReader,
    decode_checked,
    shared_environment,
)
from bigearth.data.store_writer import key_kind
from bigearth.errors import BigEarthError, CorruptDataError, StoreError
from bigearth.nomenclature import clc_to_index

#: Number of problems of one kind listed by name before the rest are only counted.
LISTED = 5


@dataclass
class VerifyReport:
    """Outcome of :func:`verify`: values checked and the problems found, one line each."""

    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether no problem was found."""
        return not self.problems


def _expected_keys(store: Path, reader: StoreReader) -> list[str]:
    if not (store / "metadata.parquet").is_file():
        return reader.all_keys()
    frame = read_metadata(store, include_snow_cloud=True)
    keys = list(frame["patch_id"]) + list(frame["s1_name"])
    if reader.manifest is not None and reader.manifest["counts"]["reference_map"]:
        keys += [reference_map_key(p) for p in frame["patch_id"]]
    return keys


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _check_manifest_against_store(store: Path, manifest: dict[str, Any], keys: list[str]) -> list[str]:
    """Compare the manifest's counts, key MD5 and metadata MD5s with the store; return the problems."""
    problems = []
    counts = dict.fromkeys(COUNTED_KINDS, 0)
    for key in keys:
        counts[key_kind(key)] += 1
    for kind in COUNTED_KINDS:
        if counts[kind] != manifest["counts"][kind]:
            problems.append(
                f"the manifest counts {manifest['counts'][kind]} {kind} values, the LMDB holds {counts[kind]}; "
                "values were added or removed after encoding: re-encode the store"
            )
    recorded = manifest["checksums"]
    if recorded.get("keys_md5") != hashlib.md5("\n".join(keys).encode()).hexdigest():
        problems.append("the LMDB's keys differ from those the manifest records (keys_md5); re-encode the store")
    for name, digest in recorded.get("metadata_md5", {}).items():
        copy = store / name
        if not copy.is_file() or _md5(copy) != digest:
            problems.append(f"{copy} is missing or differs from the copy the store was encoded with (MD5)")
    return problems


def verify(
    store: Path, root: Path | None = None, *, progress: Callable[[int, int], None] | None = None
) -> VerifyReport:
    """Check a store (see the module docstring for what is checked).

    Every patch listed in the store's metadata (or, without metadata, every key) must be present, match its
    checksum and decode with reBEN's band sizes and dtypes to finite values; with ``root``, every array must equal
    its GeoTIFF.

    Args:
        store: the store folder.
        root: the release root it was encoded from, for the equality check.
        progress: called with (done, total).

    Raises:
        StoreError: if the store is incomplete (an interrupted encode), truncated, or its manifest or checksum
            table is missing or malformed.
    """
    store = Path(store)
    if not (store / "data.mdb").is_file():
        raise StoreError(f"{store} is no store (it holds no data.mdb); pass the folder written by `bigearth encode`")
    reader = StoreReader(store)
    shared_environment(store)  # a truncated data.mdb is reported before any read
    release = ReleaseReader(root) if root is not None else None
    keys = _expected_keys(store, reader)
    report = VerifyReport()
    checksums = None
    if reader.manifest is not None:
        report.problems += _check_manifest_against_store(store, reader.manifest, reader.all_keys())
        checksums = ChecksumTable.read(store, reader.manifest)
    for done, key in enumerate(keys, start=1):
        try:
            _check_key(reader, release, key, checksums)
        except BigEarthError as error:
            report.problems.append(str(error))
        report.checked += 1
        if progress and (done % 256 == 0 or done == len(keys)):
            progress(done, len(keys))
    if reader.manifest is not None and "packed" in reader.manifest:
        report.problems += _check_packed(store, reader)
    return report


def _check_key(reader: StoreReader, release: ReleaseReader | None, key: str, checksums: ChecksumTable | None) -> None:
    value = reader.get(key)
    if checksums is not None:
        checksums.check(key, value)
    kind = key_kind(key)
    if kind == "reference_map":
        stored = {REFERENCE_MAP_TENSOR: _checked_reference_map(reader, key)}
        patch_id = key.removesuffix("_reference_map")
        expected = None if release is None else {REFERENCE_MAP_TENSOR: release.read_reference_map(patch_id)}
    else:
        stored = decode_checked(value, key)
        for band, array in stored.items():
            if array.dtype.kind == "f" and not np.isfinite(array).all():
                raise CorruptDataError(
                    f"store value {key!r}: band {band} holds {int((~np.isfinite(array)).sum())} NaN or infinite "
                    "pixel(s); re-encode the store from intact GeoTIFFs"
                )
        read = None if release is None else release.read_s2 if kind == "s2" else release.read_s1
        expected = None if read is None else read(key)
    if expected is None:
        return
    for band, array in expected.items():
        if band not in stored or stored[band].dtype != array.dtype or not np.array_equal(stored[band], array):
            raise StoreError(
                f"store value {key!r}: band {band} differs from the GeoTIFF in {release.path}; "
                "re-encode the store (remove it and run `bigearth encode` again)"
            )


def _checked_reference_map(reader: StoreReader, key: str) -> np.ndarray:
    """Return a stored reference map after checking its shape and that it holds only CLC codes.

    Raises:
        CorruptDataError: naming the key, if the map is not 120 x 120 or holds a value that is no CLC code.
    """
    codes = reader.read_reference_map(key.removesuffix("_reference_map"))
    if codes.shape != (120, 120):
        raise CorruptDataError(f"store value {key!r} is a reference map of shape {codes.shape}, not (120, 120)")
    clc_to_index(codes, source=f"store value {key!r}")
    return codes


def _check_packed(store: Path, reader: StoreReader, chunk: int = 256) -> list[str]:
    """Compare the packed layout with the LMDB, row by row; return the problems (at most ``LISTED`` rows named)."""
    from bigearth.data.packed import PACKED_DIR, PACKED_GROUPS, REFERENCE_GROUP, ROWS_FILE

    frame = read_metadata(store, include_snow_cloud=True)
    folder = store / PACKED_DIR
    try:
        packed_ids = pd.read_parquet(folder / ROWS_FILE)["patch_id"].tolist()
        groups = list(reader.manifest["packed"]["groups"])
        arrays = {group: np.load(folder / f"{group}.npy", mmap_mode="r") for group in groups}
    except (OSError, ValueError, KeyError, pa.ArrowInvalid) as error:
        return [f"the packed layout in {folder} cannot be read ({error}); rerun `bigearth pack {store}`"]
    if packed_ids != list(frame["patch_id"]):
        return [f"the packed rows in {store / PACKED_DIR} differ from the store's metadata; rerun `bigearth pack`"]
    wrong = [g for g, a in arrays.items() if len(a) != len(frame)]
    if wrong:
        return [f"the packed group(s) {wrong} do not hold {len(frame)} rows; rerun `bigearth pack {store}`"]
    differing: list[str] = []
    for start in range(0, len(frame), chunk):
        rows = frame.iloc[start : start + chunk]
        s2 = reader.read_many(list(rows["patch_id"]), S2_BANDS)
        s1 = reader.read_many(list(rows["s1_name"]), S1_BANDS)
        bands = [s2_arrays | s1_arrays for s2_arrays, s1_arrays in zip(s2, s1, strict=True)]
        for offset, patch_id in enumerate(rows["patch_id"]):
            row = start + offset
            same = all(
                np.array_equal(arrays[group][row, position], bands[offset][band])
                for group, members in PACKED_GROUPS.items()
                for position, band in enumerate(members)
            )
            if same and REFERENCE_GROUP in arrays:
                same = np.array_equal(arrays[REFERENCE_GROUP][row], reader.read_reference_map(patch_id))
            if not same:
                differing.append(patch_id)
    if not differing:
        return []
    return [
        f"the packed layout differs from the LMDB for {len(differing)} patch(es), e.g. "
        f"{differing[:LISTED]}; rerun `bigearth pack {store}`"
    ]
