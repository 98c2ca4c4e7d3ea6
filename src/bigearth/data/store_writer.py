"""Writing a store: one writer, resumable, completion marked atomically by the manifest.

The writer puts a ``.encoding`` marker in the folder before the first write and removes it only after the
manifest is in place, so a half-written store is never mistaken for a complete one. The marker records the release
root being encoded: resuming from another root is refused. A writer holds an exclusive lock on ``.writer.lock``
while it is open, so a second ``encode`` into the same store is refused instead of interleaving its writes. LMDB
commits are atomic: an interrupted writer loses at most the uncommitted batch, and a rerun skips every key already
committed.
"""

import fcntl
import hashlib
import json
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

import lmdb
import pyarrow as pa
import pyarrow.parquet as pq

from bigearth import __version__
from bigearth.atomic import atomic_write_bytes, atomic_write_json
from bigearth.bands import S1_BANDS, S2_BANDS
from bigearth.data.checksums import value_checksum
from bigearth.data.layout import METADATA_FILES
from bigearth.data.store import (
    CHECKSUMS_FILE,
    COUNTED_KINDS,
    ENCODING_MARKER,
    MANIFEST_FILE,
    REFERENCE_MAP_TENSOR,
    STORE_FORMAT,
    STORE_FORMAT_VERSION,
    check_not_truncated,
    close_shared_environment,
)
from bigearth.errors import StoreError

#: The file a writer locks for as long as it writes (``flock``: released by the kernel if the process dies).
WRITER_LOCK = ".writer.lock"
#: Default LMDB map size: virtual address space only, the file grows with the data (1 TiB fits all of reBEN).
DEFAULT_MAP_SIZE = 1 << 40


def key_kind(key: str) -> str:
    """Return ``"s2"``, ``"s1"`` or ``"reference_map"`` for a store key."""
    if key.endswith("_reference_map"):
        return "reference_map"
    return "s1" if key.startswith("S1") else "s2"


class StoreWriter:
    """Single writer of a store folder; use as a context manager, then :meth:`finalize`.

    Args:
        path: the store folder (created if needed).
        map_size: LMDB map size in bytes.
        commit_every: values per write transaction.
        source: the release root being encoded, recorded in the marker (None: no root, e.g. a synthetic store).

    Raises:
        StoreError: if the store is already complete (it is never silently overwritten); on entering, if another
            writer holds the store or an interrupted encode of another root is in it.
    """

    def __init__(
        self, path: Path, *, map_size: int = DEFAULT_MAP_SIZE, commit_every: int = 512, source: Path | None = None
    ) -> None:
        self.path = Path(path)
        if (self.path / MANIFEST_FILE).is_file():
            raise StoreError(f"{self.path} is a complete store already; remove it or choose another folder")
        self.source = None if source is None else str(Path(source).resolve())
        self._lock: int | None = None
        self.map_size = map_size
        self.commit_every = commit_every
        self._environment: lmdb.Environment | None = None
        self._transaction: lmdb.Transaction | None = None
        self._pending = 0
        self.existing: set[str] = set()
        self.checksums: dict[str, int] = {}

    def __enter__(self) -> Self:
        self.path.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        try:
            self._mark_source()
            close_shared_environment(self.path)
            self._environment = lmdb.open(str(self.path), map_size=self.map_size, subdir=True, max_dbs=0)
            check_not_truncated(self._environment, self.path)
            with self._environment.begin() as transaction:
                self.existing = {key.decode() for key in transaction.cursor().iternext(keys=True, values=False)}
        except BaseException:
            self._release()
            raise
        return self

    def _take_lock(self) -> None:
        """Hold ``.writer.lock`` exclusively.

        Raises:
            StoreError: if another process writes into the store.
        """
        descriptor = os.open(self.path / WRITER_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            os.close(descriptor)
            raise StoreError(
                f"another process is writing into the store {self.path} (it holds {self.path / WRITER_LOCK}); "
                "wait for it to finish, or choose another folder"
            ) from error
        self._lock = descriptor

    def _mark_source(self) -> None:
        """Write the ``.encoding`` marker with the root being encoded, refusing a resume from another root.

        Raises:
            StoreError: naming both roots.
        """
        marker = self.path / ENCODING_MARKER
        text = marker.read_text() if marker.is_file() else ""
        begun = json.loads(text).get("root") if text.startswith("{") else None
        if begun is not None and self.source is not None and begun != self.source:
            raise StoreError(
                f"{self.path} holds an interrupted encode of {begun}, not of {self.source}; resume it with "
                f"`bigearth encode {begun} {self.path}`, or remove the folder to encode another root"
            )
        atomic_write_json(marker, {"root": self.source or begun})

    def _release(self) -> None:
        """Close the environment and give up the lock."""
        if self._environment is not None:
            self._environment.close()
            self._environment = None
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if kind is None:
            self.commit()
        elif self._transaction is not None:
            self._transaction.abort()
            self._transaction = None
        self._release()

    def put(self, key: str, value: bytes) -> None:
        """Write one value; committed in batches of ``commit_every``.

        Raises:
            StoreError: if the LMDB map is full.
        """
        if self._environment is None:
            raise StoreError("StoreWriter.put() outside its `with` block")
        if self._transaction is None:
            self._transaction = self._environment.begin(write=True)
        try:
            self._transaction.put(key.encode(), value)
        except lmdb.MapFullError as error:
            self._transaction.abort()
            self._transaction = None
            raise StoreError(
                f"the store {self.path} is full (map size {self.map_size / 2**30:.0f} GiB); rerun with a larger "
                "--map-size: the encode resumes where it stopped"
            ) from error
        self.existing.add(key)
        self.checksums[key] = value_checksum(value)
        self._pending += 1
        if self._pending >= self.commit_every:
            self.commit()

    def commit(self) -> None:
        """Commit the open write transaction, if any."""
        if self._transaction is not None:
            self._transaction.commit()
            self._transaction = None
            self._pending = 0

    def finalize(self, metadata_folder: Path | None) -> dict:
        """Copy the metadata files, write the manifest last and remove the marker.

        Args:
            metadata_folder: folder holding the metadata parquet files to copy, or None (no metadata).

        Returns:
            The manifest.
        """
        self.commit()
        checksums = {}
        for name in METADATA_FILES:
            source = None if metadata_folder is None else metadata_folder / name
            if source is not None and source.is_file():
                if source.resolve() != (self.path / name).resolve():
                    atomic_write_bytes(self.path / name, source.read_bytes())
                checksums[name] = hashlib.md5((self.path / name).read_bytes()).hexdigest()
        keys = sorted(self.existing)
        counts = dict.fromkeys(COUNTED_KINDS, 0)
        for key in keys:
            counts[key_kind(key)] += 1
        values_md5 = self._write_checksums(keys)
        manifest = {
            "format": STORE_FORMAT,
            "format_version": STORE_FORMAT_VERSION,
            "compatible_with": "rico-hdl (LMDB of safetensors, key = patch name)",
            "bands": {"s2": list(S2_BANDS), "s1": list(S1_BANDS), "reference_map": [REFERENCE_MAP_TENSOR]},
            "reference_map_key": "<patch_id>_reference_map",
            "counts": counts,
            "checksums": {
                "keys_md5": hashlib.md5("\n".join(keys).encode()).hexdigest(),
                "metadata_md5": checksums,
                "values": {"file": CHECKSUMS_FILE, "algorithm": "crc32", "md5": values_md5},
            },
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "bigearth_version": __version__,
        }
        atomic_write_json(self.path / MANIFEST_FILE, manifest)
        (self.path / ENCODING_MARKER).unlink(missing_ok=True)
        return manifest

    def _write_checksums(self, keys: list[str]) -> str:
        """Write the per-value CRC-32 table (values of an earlier, interrupted run are read back); return its MD5."""
        unknown = [key for key in keys if key not in self.checksums]
        if unknown:
            with self._environment.begin(buffers=True) as transaction:
                for key in unknown:
                    self.checksums[key] = value_checksum(transaction.get(key.encode()))
        table = pa.table({"key": keys, "crc32": pa.array([self.checksums[k] for k in keys], type=pa.uint32())})
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink)
        data = sink.getvalue().to_pybytes()
        atomic_write_bytes(self.path / CHECKSUMS_FILE, data)
        return hashlib.md5(data).hexdigest()


def remove_store(path: Path) -> None:
    """Delete a store folder (used to rewrite one on purpose)."""
    close_shared_environment(path)
    shutil.rmtree(path)
