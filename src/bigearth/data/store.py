"""The DL-optimised reBEN store: an LMDB of safetensors values, compatible with rico-hdl (Hackel et al.).

A store is a folder::

    data.mdb, lock.mdb     LMDB; key = S2 patch_id | S1 s1_name | <patch_id>_reference_map
                           value = safetensors bytes of {band name: native array} ({"Data": codes} for maps)
    metadata*.parquet      copies of the metadata the store was encoded with
    checksums.parquet      one CRC-32 per value (key, crc32): beside the LMDB, so its values stay rico-hdl's
    manifest.json          format, bands, counts, checksums; written last as the completion marker

A folder with ``data.mdb`` but neither manifest, nor metadata copies, nor the ``.encoding`` marker is a foreign
rico-hdl LMDB: it is read as is (its metadata must come from elsewhere). A folder with the marker and no manifest
is an interrupted encode and is refused until ``bigearth encode`` completes it; one with metadata copies and no
manifest lost its manifest and is refused as damaged.

LMDB and DataLoader workers: the environment is opened lazily in the process that reads, read-only with
``lock=False``, and shared by every reader of the same path in that process (py-lmdb >= 2 refuses to open one
environment twice). A fork closes the forking process's environments first (``os.register_at_fork``), so fork
workers work after the parent has read (``ds[0]`` before a ``DataLoader`` with fork workers).
"""

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lmdb
import numpy as np

from bigearth.data import safetensors_codec
from bigearth.bands import S1_BANDS, S2_BANDS, native_size
from bigearth.data.checksums import ChecksumTable
from bigearth.data.layout import METADATA_FILE, reference_map_key
from bigearth.errors import CorruptDataError, MissingDataError, StoreError

MANIFEST_FILE = "manifest.json"
ENCODING_MARKER = ".encoding"
STORE_FORMAT = "bigearth-reben-lmdb"
#: 2 added the per-value checksum table; version 1 stores are still read (verify says they have no checksums).
STORE_FORMAT_VERSION = 2
REFERENCE_MAP_TENSOR = "Data"
CHECKSUMS_FILE = "checksums.parquet"
#: The keys every manifest holds (a manifest without one is refused as damaged).
MANIFEST_KEYS = ("format", "format_version", "bands", "counts", "checksums")
#: The kinds of store values that a manifest counts.
COUNTED_KINDS = ("s2", "s1", "reference_map")

_ENVIRONMENTS: dict[tuple[int, str], lmdb.Environment] = {}
#: Called with a patch's position in the request and its ``{band: native array}`` views.
PatchVisitor = Callable[[int, dict[str, np.ndarray]], None]


def is_store(path: Path) -> bool:
    """Return whether ``path`` is a store folder (complete or not) or a rico-hdl LMDB folder."""
    return (path / "data.mdb").is_file()


def shared_environment(path: Path) -> lmdb.Environment:
    """Return this process's read-only LMDB environment of ``path``, opening it on first use.

    One environment per path and process is shared by all readers; a forked or spawned worker opens its own.
    """
    key = (os.getpid(), str(path.resolve()))
    environment = _ENVIRONMENTS.get(key)
    if environment is None:
        try:
            environment = lmdb.open(
                str(path), readonly=True, lock=False, readahead=False, subdir=True, max_readers=2048, meminit=False
            )
        except lmdb.Error as error:
            raise StoreError(
                f"cannot open the LMDB in {path} ({error}); is it a store written by `bigearth encode`?"
            ) from error
        try:
            check_not_truncated(environment, path)
        except StoreError:
            environment.close()
            raise
        _ENVIRONMENTS[key] = environment
    return environment


def check_not_truncated(environment: lmdb.Environment, path: Path) -> None:
    """Refuse an LMDB whose ``data.mdb`` ends before the environment's last page.

    LMDB maps the file into memory: reading a page past the end of a truncated file kills the process with a bus
    error (SIGBUS) instead of raising, so the size is compared before any value is read.

    Raises:
        StoreError: naming the file, its size and the size its last page needs.
    """
    needed = (environment.info()["last_pgno"] + 1) * environment.stat()["psize"]
    size = (path / "data.mdb").stat().st_size
    if size < needed:
        raise StoreError(
            f"the store {path} is damaged: {path / 'data.mdb'} has {size} bytes but its last page ends at byte "
            f"{needed} (the file was truncated, e.g. by a full disk or an incomplete copy); copy it again or "
            "re-encode the store with `bigearth encode`"
        )


def close_shared_environment(path: Path) -> None:
    """Close this process's environment of ``path`` (before it is rewritten)."""
    environment = _ENVIRONMENTS.pop((os.getpid(), str(path.resolve())), None)
    if environment is not None:
        environment.close()


def _close_environments_before_fork() -> None:
    """Close every environment this process opened; the next read reopens it (in the parent and in the child).

    py-lmdb keeps a per-process registry of open environments that a forked child inherits, so a child would
    refuse to open a path the parent had read ("already open in this process"); LMDB also forbids using an
    environment across a fork. Reads in flight in other threads of the forking process fail (fork from one thread).
    """
    for key in [key for key in _ENVIRONMENTS if key[0] == os.getpid()]:
        _ENVIRONMENTS.pop(key).close()


os.register_at_fork(before=_close_environments_before_fork)


def read_manifest(path: Path) -> dict[str, Any] | None:
    """Return a store's checked manifest, or None for a foreign rico-hdl LMDB.

    Raises:
        StoreError: if the store is an interrupted encode (marker present, no manifest), lost its manifest
            (metadata copies present, no manifest), or the manifest is malformed or of an unknown format.
    """
    manifest = path / MANIFEST_FILE
    if manifest.is_file():
        try:
            payload = json.loads(manifest.read_bytes())
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise StoreError(
                f"the manifest {manifest} is no JSON ({error}); the store is damaged: re-encode it "
                "(remove the folder and run `bigearth encode ROOT STORE`)"
            ) from error
        check_manifest(payload, manifest)
        return payload
    if (path / ENCODING_MARKER).exists():
        raise StoreError(
            f"the store {path} is incomplete (an encode was interrupted); rerun `bigearth encode ROOT {path}` "
            "to finish it"
        )
    if (path / METADATA_FILE).is_file() and (path / "data.mdb").is_file():
        raise StoreError(
            f"the store {path} has metadata copies but no {MANIFEST_FILE}: its manifest was deleted, so counts and "
            "checksums cannot be checked; re-encode it, or remove the metadata files to read it as a plain "
            "rico-hdl LMDB"
        )
    return None


def check_manifest(payload: Any, file: Path) -> None:
    """Check a manifest's keys, format and version.

    Raises:
        StoreError: naming the file and the first problem.
    """
    if not isinstance(payload, dict):
        raise StoreError(f"the manifest {file} is a {type(payload).__name__}, not a JSON object; re-encode the store")
    missing = [key for key in MANIFEST_KEYS if key not in payload]
    counts = payload.get("counts")
    if missing or not isinstance(counts, dict) or not all(isinstance(counts.get(k), int) for k in COUNTED_KINDS):
        raise StoreError(
            f"the manifest {file} lacks {missing or 'integer counts of ' + str(list(COUNTED_KINDS))}; it is damaged "
            "or was written by another tool: re-encode the store"
        )
    if payload["format"] != STORE_FORMAT:
        raise StoreError(f"the manifest {file} is of format {payload['format']!r}, not {STORE_FORMAT!r}")
    version = payload["format_version"]
    if not isinstance(version, int) or not 1 <= version <= STORE_FORMAT_VERSION:
        raise StoreError(
            f"the manifest {file} has format_version {version!r}; this bigearth reads 1 to {STORE_FORMAT_VERSION}: "
            "upgrade bigearth or re-encode the store"
        )


class StoreReader:
    """Reads patches from a store (or a rico-hdl LMDB) by name.

    Picklable: the LMDB environment is not part of the state, each process opens its own on first read.

    Args:
        path: the store folder.
        verify_checksums: compare every value read with the CRC-32 that the store's checksum table records (one
            CRC per value read; see ``docs/reliability.md`` for the cost). Off by default: ``bigearth verify``
            checks a whole store once.

    Raises:
        MissingDataError: if ``path`` holds no LMDB.
        StoreError: with ``verify_checksums``, if the store records no checksums (store format 1 or a foreign
            rico-hdl LMDB) or its checksum table is damaged.
    """

    kind = "store"

    def __init__(self, path: Path, *, verify_checksums: bool = False) -> None:
        self.path = Path(path)
        if not is_store(self.path):
            raise MissingDataError(f"{self.path} holds no data.mdb: it is no store; run `bigearth encode` first")
        self.manifest = read_manifest(self.path)
        self.checksums = None
        if verify_checksums:
            self.checksums = None if self.manifest is None else ChecksumTable.read(self.path, self.manifest)
            if self.checksums is None:
                raise StoreError(
                    f"the store {self.path} records no per-value checksums (store format 1 or a rico-hdl LMDB without "
                    "a bigearth manifest), so values cannot be checked on read; re-encode it with `bigearth encode` "
                    "to add them, or read without verify_checksums"
                )

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "manifest": self.manifest, "checksums": self.checksums}

    def _checked(self, key: str, value: bytes | memoryview | None) -> bytes | memoryview:
        """Return a value read for ``key``, compared with its checksum if asked to.

        Raises:
            MissingDataError: if the key is not in the store (``value`` None).
            StoreIntegrityError: if the value differs from its recorded checksum.
        """
        if value is None:
            raise MissingDataError(
                f"patch {key} is not in the store {self.path}; re-encode the store from a release root "
                "that holds it, or remove the patch from the metadata"
            )
        if self.checksums is not None:
            self.checksums.check(key, value)
        return value

    def get(self, key: str) -> bytes:
        """Return the raw value of ``key``.

        Raises:
            MissingDataError: if the key is not in the store.
            StoreIntegrityError: with ``verify_checksums``, if the value differs from its recorded checksum.
        """
        with shared_environment(self.path).begin(buffers=False) as transaction:
            return self._checked(key, transaction.get(key.encode()))

    def get_many(self, keys: list[str]) -> list[bytes]:
        """Return the raw values of ``keys`` in one read transaction (see :meth:`get`)."""
        with shared_environment(self.path).begin(buffers=False) as transaction:
            return [self._checked(key, transaction.get(key.encode())) for key in keys]

    def for_each(self, names: list[str], bands: tuple[str, ...], visit: PatchVisitor) -> None:
        """Call ``visit(i, {band: array})`` for the chosen bands of each patch, in one read transaction.

        The arrays are views into the LMDB's memory map, valid only during the call: the visitor copies what it
        keeps (one copy from the page cache into the caller's buffer, none before it).

        Raises:
            MissingDataError: naming the first name not in the store.
            StoreIntegrityError: with ``verify_checksums``, naming the first value that differs from its checksum.
        """
        with shared_environment(self.path).begin(buffers=True) as transaction:
            for i, name in enumerate(names):
                value = self._checked(name, transaction.get(name.encode()))
                visit(i, select_bands(decode_checked(value, name), bands, name))

    def read_many(self, names: list[str], bands: tuple[str, ...]) -> list[dict[str, np.ndarray]]:
        """Return copies of the chosen bands of many patches (S2 patch ids or S1 names)."""
        patches: list[dict[str, np.ndarray]] = []
        self.for_each(names, bands, lambda _, arrays: patches.append({b: a.copy() for b, a in arrays.items()}))
        return patches

    def all_keys(self) -> list[str]:
        """Return every key in the store, sorted."""
        with shared_environment(self.path).begin() as transaction:
            return [key.decode() for key in transaction.cursor().iternext(keys=True, values=False)]

    def read_s2(self, patch_id: str, bands: tuple[str, ...] = S2_BANDS) -> dict[str, np.ndarray]:
        """Return S2 bands of a patch at native size, ``{band: uint16 (n, n)}``."""
        return select_bands(decode_checked(self.get(patch_id), patch_id), bands, patch_id)

    def read_s1(self, s1_name: str, bands: tuple[str, ...] = S1_BANDS) -> dict[str, np.ndarray]:
        """Return S1 polarisations of a patch, ``{band: float32 (120, 120)}``."""
        return select_bands(decode_checked(self.get(s1_name), s1_name), bands, s1_name)

    def read_reference_map(self, patch_id: str) -> np.ndarray:
        """Return a patch's reference map, ``(120, 120)`` uint16 CLC codes."""
        key = reference_map_key(patch_id)
        arrays = safetensors_codec.decode(self.get(key), key=key)
        if REFERENCE_MAP_TENSOR not in arrays:
            raise CorruptDataError(f"store value {key!r} has no {REFERENCE_MAP_TENSOR!r} tensor; re-encode the store")
        return arrays[REFERENCE_MAP_TENSOR]


def expected_dtype(band: str) -> np.dtype:
    """Return the native dtype of a band in reBEN (uint16 for S2, float32 for S1)."""
    return np.dtype(np.float32) if band in S1_BANDS else np.dtype(np.uint16)


def decode_checked(value: bytes, key: str) -> dict[str, np.ndarray]:
    """Decode a store value and check every band's native size and dtype (once per distinct header).

    Raises:
        CorruptDataError: naming the key and band when a size or dtype differs from reBEN's.
    """
    return safetensors_codec.decode(value, key=key, check=_check_bands)


def _check_bands(arrays: dict[str, np.ndarray], key: str) -> None:
    """Raise :class:`CorruptDataError` naming ``key`` and the band if a band's size or dtype is not reBEN's."""
    for band, array in arrays.items():
        if band not in S1_BANDS and band not in S2_BANDS:
            continue
        size = native_size(band)
        if array.shape != (size, size) or array.dtype != expected_dtype(band):
            raise CorruptDataError(
                f"store value {key!r}: band {band} is {array.dtype} {array.shape}, expected "
                f"{expected_dtype(band)} ({size}, {size}); the store was written by another tool or is damaged: "
                "re-encode it with `bigearth encode`"
            )


def select_bands(arrays: dict[str, np.ndarray], bands: tuple[str, ...], key: str) -> dict[str, np.ndarray]:
    """Pick ``bands`` from decoded arrays.

    Raises:
        MissingDataError: naming the patch and band when one is absent.
    """
    missing = [band for band in bands if band not in arrays]
    if missing:
        raise MissingDataError(
            f"store value {key!r} lacks band(s) {missing} (it has {sorted(arrays)}); "
            "select other bands or re-encode the store from a complete release"
        )
    return {band: arrays[band] for band in bands}
