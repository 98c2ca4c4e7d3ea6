"""Damaged stores, manifests, packed files and checkpoints are reported as such, never served or certified."""

import shutil
from pathlib import Path

import pytest

from bigearth.data.store import StoreReader
from bigearth.data.verify import verify
from bigearth.errors import StoreError


@pytest.fixture
def store_copy(mini_store: Path, tmp_path: Path) -> Path:
    """A writable copy of the session's mini store."""
    store = tmp_path / "store"
    shutil.copytree(mini_store, store)
    return store


def test_truncated_lmdb_is_reported_not_a_bus_error(store_copy: Path) -> None:
    data = store_copy / "data.mdb"
    size = data.stat().st_size
    with open(data, "r+b") as handle:
        handle.truncate(size // 2)
    message = f"{data} has {size // 2} bytes but its last page ends at byte {size}"
    with pytest.raises(StoreError, match="damaged") as error:
        verify(store_copy)
    assert message in str(error.value)
    with pytest.raises(StoreError, match="truncated"):
        StoreReader(store_copy).all_keys()
