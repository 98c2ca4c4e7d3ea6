"""Per-value checksums of a store: one CRC-32 per LMDB value in ``checksums.parquet``, checked by key.

The table lies beside the LMDB (columns ``key``, ``crc32``), so the values stay the safetensors bytes that
rico-hdl readers expect; the manifest records the table's file name and MD5 (store format 2). ``bigearth verify``
checks every value against it, and a :class:`~bigearth.data.store.StoreReader` opened with
``verify_checksums=True`` checks each value it reads.
"""

import hashlib
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bigearth.errors import StoreError, StoreIntegrityError


def value_checksum(value: bytes | memoryview) -> int:
    """Return the CRC-32 of a store value (as ``zlib.crc32``), the per-value checksum of the checksum table."""
    return zlib.crc32(value)


class ChecksumTable:
    """The recorded CRC-32 of every value of a store, looked up by key.

    Keys are held as one sorted fixed-width byte array and found by binary search: 68 bytes per value for reBEN's
    keys (112 MB for the 1.65 M values of the full release), in numpy arrays that fork workers share copy-on-write
    and that pickle as two buffers for spawned workers.

    Args:
        keys: ``(N,)`` store keys (ASCII, as reBEN's patch names are).
        crc32: ``(N,)`` their recorded CRC-32 values.
    """

    def __init__(self, keys: np.ndarray, crc32: np.ndarray) -> None:
        encoded = np.asarray(keys).astype(np.bytes_)
        order = np.argsort(encoded, kind="stable")
        self.keys = encoded[order]
        self.crc32 = np.asarray(crc32, dtype=np.uint32)[order]

    @classmethod
    def read(cls, store: Path, manifest: dict[str, Any]) -> "ChecksumTable | None":
        """Read a store's checksum table, checked against the manifest's MD5 (None for a format-1 store).

        Raises:
            StoreError: if a format-2 store's table is missing, unreadable or differs from the manifest's MD5.
        """
        entry = manifest["checksums"].get("values")
        if entry is None:
            return None
        file = Path(store) / entry["file"]
        data = file.read_bytes() if file.is_file() else b""
        if hashlib.md5(data).hexdigest() != entry["md5"]:
            raise StoreError(
                f"the checksum table {file} is missing or differs from the manifest's MD5; the store is damaged: "
                "re-encode it"
            )
        try:
            table = pq.read_table(pa.BufferReader(data))
            keys = table["key"].cast(pa.binary()).to_numpy(zero_copy_only=False)
            return cls(keys, table["crc32"].to_numpy(zero_copy_only=False))
        except (pa.ArrowInvalid, KeyError, OSError) as error:
            raise StoreError(f"the checksum table {file} cannot be read ({error}); re-encode the store") from error

    def __len__(self) -> int:
        return len(self.keys)

    def recorded(self, key: str) -> int | None:
        """Return the recorded CRC-32 of ``key``, or None if the table has no such key."""
        encoded = key.encode()
        if len(encoded) > self.keys.dtype.itemsize:  # numpy would compare a truncated copy
            return None
        position = int(np.searchsorted(self.keys, encoded))
        if position == len(self.keys) or self.keys[position] != encoded:
            return None
        return int(self.crc32[position])

    def check(self, key: str, value: bytes | memoryview) -> None:
        """Compare a value with its recorded CRC-32.

        Raises:
            StoreIntegrityError: naming the key, both checksums (or the missing record) and what to do.
        """
        recorded = self.recorded(key)
        found = value_checksum(value)
        if recorded is None:
            raise StoreIntegrityError(
                f"store value {key!r} has no recorded checksum (CRC-32 {found}): the LMDB was changed after "
                "encoding; run `bigearth verify STORE` to list every changed value, then re-encode the store"
            )
        if found != recorded:
            raise StoreIntegrityError(
                f"store value {key!r} does not match its checksum (CRC-32 {found}, recorded {recorded}): the value "
                "was changed or damaged after encoding; run `bigearth verify STORE` to list every damaged value, "
                "then re-encode the store"
            )
