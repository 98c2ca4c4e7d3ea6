"""The store: encode, resume after interruption, verify, and the synth-to-store path."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bigearth.data.encode import encode
from bigearth.data.metadata import read_metadata
from bigearth.data.store import ENCODING_MARKER, MANIFEST_FILE, StoreReader, close_shared_environment
from bigearth.data.verify import verify
from bigearth.errors import StoreError


def store_arrays(store: Path) -> dict[str, dict[str, np.ndarray]]:
    from bigearth.data import safetensors_codec

    reader = StoreReader(store)
    return {
        key: {k: v.copy() for k, v in safetensors_codec.decode(reader.get(key)).items()} for key in reader.all_keys()
    }


def assert_same_store(a: Path, b: Path) -> None:
    left, right = store_arrays(a), store_arrays(b)
    assert left.keys() == right.keys()
    for key, arrays in left.items():
        assert arrays.keys() == right[key].keys()
        for band, array in arrays.items():
            assert array.dtype == right[key][band].dtype
            np.testing.assert_array_equal(array, right[key][band])


def test_encoded_store_is_complete(mini_root: Path, mini_store: Path) -> None:
    frame = read_metadata(mini_root, include_snow_cloud=True)
    manifest = StoreReader(mini_store).manifest
    assert manifest["counts"] == {"s2": len(frame), "s1": len(frame), "reference_map": len(frame)}
    assert (mini_store / "lock.mdb").is_file()
    assert (mini_store / "metadata.parquet").read_bytes() == (mini_root / "metadata.parquet").read_bytes()
    report = verify(mini_store, mini_root)
    assert report.ok, report.problems
    assert report.checked == 3 * len(frame)


def test_encode_parallel_equals_serial(mini_root: Path, mini_store: Path, tmp_path: Path) -> None:
    encode(mini_root, tmp_path / "parallel", workers=2, chunk_size=8)
    assert_same_store(tmp_path / "parallel", mini_store)


def test_interrupted_encode_is_refused_then_resumed(mini_root: Path, mini_store: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    calls = []

    def interrupt(done: int, total: int) -> None:
        calls.append(done)
        if len(calls) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        encode(mini_root, store, workers=0, chunk_size=16, progress=interrupt)
    assert (store / ENCODING_MARKER).exists()
    assert not (store / MANIFEST_FILE).exists()
    with pytest.raises(StoreError, match="incomplete"):
        StoreReader(store)
    summary = encode(mini_root, store, workers=0)
    assert 0 < summary.written < summary.found
    assert_same_store(store, mini_store)
    assert not (store / ENCODING_MARKER).exists()


@pytest.mark.slow
def test_killed_encode_resumes_to_the_same_store(mini_root: Path, mini_store: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    code = (
        f"from bigearth.data.encode import encode; encode({str(mini_root)!r}, {str(store)!r}, workers=0, chunk_size=4)"
    )
    process = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.time() + 60
    while time.time() < deadline:
        if (store / "data.mdb").exists() and (store / "data.mdb").stat().st_size > 4_000_000:
            break
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (store / MANIFEST_FILE).exists()
    summary = encode(mini_root, store, workers=0)
    assert summary.written < summary.found
    assert_same_store(store, mini_store)


def test_verify_finds_a_changed_value(mini_root: Path, mini_store: Path, tmp_path: Path) -> None:
    import shutil

    import lmdb

    from bigearth.data import safetensors_codec

    store = tmp_path / "store"
    shutil.copytree(mini_store, store)
    patch_id = read_metadata(store)["patch_id"].iloc[0]
    reader = StoreReader(store)
    arrays = {k: v.copy() for k, v in safetensors_codec.decode(reader.get(patch_id)).items()}
    arrays["B03"][0, 0] += 1
    close_shared_environment(store)  # one environment per path and process (py-lmdb >= 2)
    environment = lmdb.open(str(store), map_size=1 << 30)
    with environment.begin(write=True) as transaction:
        transaction.put(patch_id.encode(), safetensors_codec.encode(arrays))
    environment.close()
    assert "does not match its checksum" in " ".join(verify(store).problems)  # found without the GeoTIFFs too
    report = verify(store, mini_root)
    assert len(report.problems) == 1
    assert f"store value {patch_id!r} does not match its checksum" in report.problems[0]


def test_synth_store_equals_encoded_synth(mini_store: Path, tmp_path: Path) -> None:
    from bigearth.data.synth_store import synthesize_store

    synthesize_store(tmp_path / "direct", patches=120, seed=7, workers=0)
    assert_same_store(tmp_path / "direct", mini_store)
    assert (tmp_path / "direct" / "metadata.parquet").read_bytes() == (mini_store / "metadata.parquet").read_bytes()


def test_complete_store_is_not_rewritten(mini_root: Path, mini_store: Path) -> None:
    before = (mini_store / MANIFEST_FILE).read_bytes()
    assert encode(mini_root, mini_store, workers=0).already_complete
    assert (mini_store / MANIFEST_FILE).read_bytes() == before
