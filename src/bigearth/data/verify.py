"""Checking a store: every patch of its metadata present and decodable, and (with a root) equal to the GeoTIFFs."""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bigearth.data.layout import reference_map_key
from bigearth.data.metadata import read_metadata
from bigearth.data.source import ReleaseReader
from bigearth.data.store import StoreReader, decode_checked, read_manifest, shared_environment
from bigearth.data.store_writer import key_kind
from bigearth.errors import BigEarthError, StoreError


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


def verify(
    store: Path, root: Path | None = None, *, progress: Callable[[int, int], None] | None = None
) -> VerifyReport:
    """Check a store.

    Every patch listed in the store's metadata (or, without metadata, every key) must be present and decode with
    reBEN's band sizes and dtypes; with ``root``, every array must equal its GeoTIFF.

    Args:
        store: the store folder.
        root: the release root it was encoded from, for the equality check.
        progress: called with (done, total).

    Raises:
        StoreError: if the store is incomplete (an interrupted encode).
    """
    store = Path(store)
    if read_manifest(store) is None and not (store / "data.mdb").is_file():
        raise StoreError(f"{store} is no store")
    reader = StoreReader(store)
    shared_environment(store)  # a truncated data.mdb is reported before any read
    release = ReleaseReader(root) if root is not None else None
    keys = _expected_keys(store, reader)
    report = VerifyReport()
    for done, key in enumerate(keys, start=1):
        try:
            _check_key(reader, release, key)
        except BigEarthError as error:
            report.problems.append(str(error))
        report.checked += 1
        if progress and (done % 256 == 0 or done == len(keys)):
            progress(done, len(keys))
    return report


def _check_key(reader: StoreReader, release: ReleaseReader | None, key: str) -> None:
    kind = key_kind(key)
    if kind == "reference_map":
        patch_id = key.removesuffix("_reference_map")
        stored = {"Data": reader.read_reference_map(patch_id)}
        expected = None if release is None else {"Data": release.read_reference_map(patch_id)}
    else:
        stored = decode_checked(reader.get(key), key)
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
