"""Damaged stores, manifests, packed files and checkpoints are reported as such, never served or certified."""

import errno
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import time
import zlib
from collections.abc import Callable
from pathlib import Path

import lightning as L  # noqa: N812
import lmdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch

from bigearth.data import safetensors_codec
from bigearth.data.encode import encode
from bigearth.data.layout import SNOW_CLOUD_METADATA_FILE
from bigearth.data.metadata import read_metadata, write_metadata
from bigearth.data.packed import pack
from bigearth.data.store import CHECKSUMS_FILE, StoreReader, close_shared_environment
from bigearth.data.store_writer import StoreWriter
from bigearth.data.verify import verify
from bigearth.errors import CorruptDataError, MetadataError, StoreError, TrainingError

DEMO = Path(__file__).resolve().parents[1] / "configs" / "classification" / "demo-cpu.yaml"
QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


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


def rewrite_value(store: Path, key: str, change: Callable[[dict[str, np.ndarray]], None]) -> None:
    """Decode one store value, apply ``change`` to its arrays and write it back (as damage after encoding would)."""
    reader = StoreReader(store)
    arrays = {band: array.copy() for band, array in safetensors_codec.decode(reader.get(key)).items()}
    change(arrays)
    close_shared_environment(store)
    environment = lmdb.open(str(store), map_size=1 << 30)
    with environment.begin(write=True) as transaction:
        transaction.put(key.encode(), safetensors_codec.encode(arrays))
    environment.close()


def test_verify_without_root_finds_a_flipped_pixel_by_its_checksum(store_copy: Path) -> None:
    patch_id = read_metadata(store_copy)["patch_id"].iloc[3]

    def flip(arrays: dict[str, np.ndarray]) -> None:
        arrays["B04"][5, 7] ^= 1

    rewrite_value(store_copy, patch_id, flip)
    report = verify(store_copy)
    assert len(report.problems) == 1
    assert f"store value {patch_id!r} does not match its checksum" in report.problems[0]


def test_checksums_checked_on_read_name_the_damaged_key(store_copy: Path) -> None:
    from bigearth.data.dataset import ReBENDataset
    from bigearth.errors import StoreIntegrityError

    patch_id = read_metadata(store_copy)["patch_id"].iloc[3]

    def flip(arrays: dict[str, np.ndarray]) -> None:
        arrays["B04"][5, 7] ^= 1

    rewrite_value(store_copy, patch_id, flip)
    rewrite_value(store_copy, f"{patch_id}_reference_map", lambda arrays: arrays["Data"].__setitem__((0, 0), 111))
    unchecked = ReBENDataset(store_copy, split=None, bands="s2").restrict([patch_id])
    assert unchecked[0]["image"].shape == (12, 120, 120)  # served as it is: the damage goes unnoticed
    checked = ReBENDataset(store_copy, split=None, bands="s2", verify_checksums=True)
    with pytest.raises(StoreIntegrityError, match=f"store value '{patch_id}' does not match its checksum") as error:
        checked.restrict([patch_id])[0]
    assert "bigearth verify STORE" in str(error.value)
    s1_only = ReBENDataset(store_copy, split=None, bands="s1", with_mask=True, verify_checksums=True)
    with pytest.raises(StoreIntegrityError, match=f"'{patch_id}_reference_map' does not match"):
        s1_only.restrict([patch_id])[0]
    others = ReBENDataset(store_copy, split=None, bands=14, verify_checksums=True)
    others.restrict([p for p in others.index.patch_id if p != patch_id][:8])
    assert others.__getitems__(list(range(8)))["image"].shape == (8, 14, 120, 120)
    copy = pickle.loads(pickle.dumps(StoreReader(store_copy, verify_checksums=True)))  # as a spawned worker gets it
    with pytest.raises(StoreIntegrityError, match=patch_id):
        copy.read_s2(patch_id)


def test_checksum_table_lookup_and_crc32_by_hand() -> None:
    from bigearth.data.checksums import ChecksumTable
    from bigearth.errors import StoreIntegrityError

    table = ChecksumTable(np.array(["b", "a", "c"]), np.array([2, 0x3610A686, 3]))  # CRC-32 of b"hello"
    assert [table.recorded(key) for key in ("a", "b", "c", "d", "a" * 100)] == [0x3610A686, 2, 3, None, None]
    table.check("a", b"hello")
    with pytest.raises(
        StoreIntegrityError, match=r"'a' does not match its checksum \(CRC-32 3138956147, recorded 907060870"
    ):
        table.check("a", b"hellp")  # zlib.crc32(b"hellp") == 3138956147
    with pytest.raises(StoreIntegrityError, match="'d' has no recorded checksum"):
        table.check("d", b"hello")


def test_checksums_on_read_are_refused_where_none_are_recorded(store_copy: Path, mini_root: Path) -> None:
    from bigearth.data.dataset import ReBENDataset
    from bigearth.errors import ConfigError

    with pytest.raises(ConfigError, match="release root: its GeoTIFFs have no recorded checksums"):
        ReBENDataset(mini_root, split="test", verify_checksums=True)
    with pytest.raises(ConfigError, match="packed layout holds no per-value checksums"):
        ReBENDataset(store_copy, split="test", packed=True, verify_checksums=True)
    manifest = json.loads((store_copy / "manifest.json").read_text())
    del manifest["checksums"]["values"]  # as a store of format 1 has it
    (store_copy / "manifest.json").write_text(json.dumps(manifest | {"format_version": 1}))
    with pytest.raises(StoreError, match=r"records no per-value checksums .* re-encode it with `bigearth encode`"):
        ReBENDataset(store_copy, split="test", verify_checksums=True)


def test_checksum_table_holds_the_crc32_of_every_value(store_copy: Path) -> None:
    table = pq.read_table(store_copy / CHECKSUMS_FILE).to_pydict()
    reader = StoreReader(store_copy)
    assert table["key"] == reader.all_keys()
    for key, crc in list(zip(table["key"], table["crc32"], strict=True))[:5]:
        assert crc == zlib.crc32(reader.get(key))


def test_non_finite_s1_values_are_reported(store_copy: Path) -> None:
    for name in ("manifest.json", "metadata.parquet", "metadata_for_patches_with_snow_cloud_or_shadow.parquet"):
        (store_copy / name).unlink()  # a plain rico-hdl LMDB: no checksums to trip over first
    s1_name = next(key for key in StoreReader(store_copy).all_keys() if key.startswith("S1"))

    def poison(arrays: dict[str, np.ndarray]) -> None:
        arrays["VH"][0, :3] = [np.nan, np.inf, -np.inf]

    rewrite_value(store_copy, s1_name, poison)
    problems = verify(store_copy).problems
    assert problems == [f"store value {s1_name!r}: band VH holds 3 NaN or infinite pixel(s); "
                        "re-encode the store from intact GeoTIFFs"]  # fmt: skip


def test_reference_map_with_a_code_outside_clc_is_reported(store_copy: Path) -> None:
    patch_id = read_metadata(store_copy)["patch_id"].iloc[0]
    (store_copy / "manifest.json").unlink()
    for name in ("metadata.parquet", "metadata_for_patches_with_snow_cloud_or_shadow.parquet"):
        (store_copy / name).unlink()

    def wrong_code(arrays: dict[str, np.ndarray]) -> None:
        arrays["Data"][0, 0] = 777

    rewrite_value(store_copy, f"{patch_id}_reference_map", wrong_code)
    problems = verify(store_copy).problems
    assert len(problems) == 1
    assert "[777]" in problems[0]
    assert f"{patch_id}_reference_map" in problems[0]


@pytest.mark.parametrize(
    ("text", "message"),
    [("{not json", "is no JSON"), ("[1, 2]", "is a list, not a JSON object"), ('{"format": 1}', "lacks")],
)
def test_malformed_manifest_is_an_error(store_copy: Path, text: str, message: str) -> None:
    (store_copy / "manifest.json").write_text(text)
    with pytest.raises(StoreError, match=message):
        verify(store_copy)


def test_manifest_of_a_newer_format_is_refused(store_copy: Path) -> None:
    manifest = json.loads((store_copy / "manifest.json").read_text())
    (store_copy / "manifest.json").write_text(json.dumps(manifest | {"format_version": 99}))
    with pytest.raises(StoreError, match="format_version 99"):
        StoreReader(store_copy)


def test_deleted_manifest_is_refused_not_read_as_a_foreign_lmdb(store_copy: Path) -> None:
    (store_copy / "manifest.json").unlink()
    with pytest.raises(StoreError, match="its manifest was deleted"):
        StoreReader(store_copy)


def test_manifest_counts_are_compared(store_copy: Path) -> None:
    manifest = json.loads((store_copy / "manifest.json").read_text())
    manifest["counts"]["s1"] += 1
    (store_copy / "manifest.json").write_text(json.dumps(manifest))
    problems = verify(store_copy).problems
    count = manifest["counts"]["s1"]
    assert problems == [f"the manifest counts {count} s1 values, the LMDB holds {count - 1}; values were added or "
                        "removed after encoding: re-encode the store"]  # fmt: skip


def test_changed_metadata_copy_is_reported(store_copy: Path) -> None:
    frame = read_metadata(store_copy)
    write_metadata(frame.iloc[:-1], store_copy / "metadata.parquet")
    problems = verify(store_copy).problems
    assert any(f"{store_copy / 'metadata.parquet'} is missing or differs" in p for p in problems)


def test_damaged_packed_layout_is_reported(store_copy: Path) -> None:
    pack(store_copy)
    assert verify(store_copy).ok
    frame = read_metadata(store_copy, include_snow_cloud=True)
    array = np.load(store_copy / "packed" / "s2_10m.npy", mmap_mode="r+")
    array[2, 1, 0, 0] += 1
    array.flush()
    del array
    problems = verify(store_copy).problems
    assert problems == [f"the packed layout differs from the LMDB for 1 patch(es), e.g. ['{frame['patch_id'][2]}']; "
                        f"rerun `bigearth pack {store_copy}`"]  # fmt: skip
    packed = store_copy / "packed" / "s1.npy"
    with open(packed, "r+b") as handle:
        handle.truncate(packed.stat().st_size // 2)
    problems = verify(store_copy).problems
    assert len(problems) == 1
    assert "cannot be read" in problems[0]


def test_training_stops_on_a_non_finite_loss(store_copy: Path, tmp_path: Path) -> None:
    from bigearth.tasks.config import load_config
    from bigearth.tasks.train import train

    frame = read_metadata(store_copy, include_snow_cloud=True)
    reader = StoreReader(store_copy)
    values = {name: safetensors_codec.decode(reader.get(name)) for name in frame["s1_name"]}
    close_shared_environment(store_copy)
    environment = lmdb.open(str(store_copy), map_size=1 << 30)
    with environment.begin(write=True) as transaction:
        for name, arrays in values.items():
            transaction.put(
                name.encode(), safetensors_codec.encode({b: np.full_like(a, np.nan) for b, a in arrays.items()})
            )
    environment.close()
    config = load_config(DEMO, [f"data.path={store_copy}", "trainer.max_epochs=1", "trainer.limit_train_batches=2",
                                "trainer.limit_val_batches=1", "data.batch_size=4", *QUIET])  # fmt: skip
    with pytest.raises(TrainingError, match=r"the training loss is nan at epoch 0, batch 0"):
        train(config, out=tmp_path / "run")


def test_failed_pack_leaves_no_temporary_folder_and_a_killed_one_is_cleared(store_copy: Path, monkeypatch) -> None:
    reads = []
    read_many = StoreReader.read_many

    def fill_the_disk_on_the_third_read(self: StoreReader, *args, **kwargs) -> list:
        reads.append(1)
        if len(reads) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return read_many(self, *args, **kwargs)

    monkeypatch.setattr(StoreReader, "read_many", fill_the_disk_on_the_third_read)
    before = sorted(path.name for path in store_copy.iterdir())
    with pytest.raises(OSError, match="No space left"):
        pack(store_copy, chunk=64)
    assert sorted(path.name for path in store_copy.iterdir()) == before  # no .packed.tmp, no packed/
    assert "packed" not in json.loads((store_copy / "manifest.json").read_text())
    monkeypatch.undo()
    killed = store_copy / ".packed.tmp"  # what a pack killed with -9 leaves
    killed.mkdir()
    (killed / "s1.npy").write_bytes(b"half")
    pack(store_copy, chunk=64)
    assert not killed.exists()
    assert verify(store_copy).ok


def test_temporary_files_of_killed_writers_are_removed_by_the_next_write(tmp_path: Path) -> None:
    from bigearth.atomic import atomic_write_json

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                              check=True)  # fmt: skip
    target = tmp_path / "manifest [1].json"  # glob characters in the name are taken literally
    killed = tmp_path / f".{target.name}.{int(finished.stdout)}.tmp"  # its process has exited
    running = tmp_path / f".{target.name}.{os.getppid()}.tmp"  # another writer that still runs
    other = tmp_path / f".{target.name}.backup.tmp"  # no process id: not ours
    for path in (killed, running, other):
        path.write_text("half")
    atomic_write_json(target, {"complete": True})
    assert json.loads(target.read_text()) == {"complete": True}
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted([target.name, running.name, other.name])
    from bigearth.tasks.trainer import AtomicCheckpointIO

    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    killed_best = checkpoints / f".best-epoch=01.ckpt.{int(finished.stdout)}.tmp"  # a name no later epoch writes
    killed_best.write_bytes(b"half")
    AtomicCheckpointIO().save_checkpoint({"epoch": 2}, checkpoints / "last.ckpt")
    assert sorted(path.name for path in checkpoints.iterdir()) == ["last.ckpt"]


class Opaque:
    """A class that a ``weights_only`` load must refuse to rebuild."""


def test_checkpoint_write_that_fills_the_disk_leaves_the_old_file(tmp_path: Path, monkeypatch) -> None:
    from bigearth.tasks.trainer import AtomicCheckpointIO

    io = AtomicCheckpointIO()
    target = tmp_path / "last.ckpt"
    io.save_checkpoint({"epoch": 1, "weights": torch.arange(4.0)}, target)

    def full_disk(descriptor: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("bigearth.atomic.os.fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        io.save_checkpoint({"epoch": 2, "weights": torch.zeros(10_000)}, target)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.ckpt"]  # no temporary file left behind
    assert io.load_checkpoint(target)["epoch"] == 1


def test_checkpoints_load_weights_only_whatever_the_environment(tmp_path: Path, monkeypatch) -> None:
    from bigearth.tasks.trainer import AtomicCheckpointIO

    torch.save({"state_dict": {}, "payload": Opaque()}, tmp_path / "tampered.ckpt")
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        AtomicCheckpointIO().load_checkpoint(tmp_path / "tampered.ckpt")


class InterruptAtEpoch(L.Callback):
    """Raises at the start of one epoch, as a crash or a killed job would stop the run."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            raise KeyError("interrupted")


@pytest.mark.slow
def test_resume_falls_back_from_a_damaged_last_checkpoint_and_appends_the_log(mini_store: Path, tmp_path: Path) -> None:
    from bigearth.tasks.config import load_config
    from bigearth.tasks.run import RunFolder
    from bigearth.tasks.train import train

    config = load_config(DEMO, [f"data.path={mini_store}", "trainer.max_epochs=3", "trainer.limit_train_batches=2",
                                "trainer.limit_val_batches=1", "data.batch_size=4", *QUIET])  # fmt: skip
    with pytest.raises(KeyError):
        train(config, out=tmp_path / "run", callbacks=[InterruptAtEpoch(2)])
    run = RunFolder(tmp_path / "run")
    before = pd.read_csv(run.metrics_csv)
    assert sorted(before["epoch"].dropna().unique()) == [0, 1]
    best = next(run.checkpoints_dir.glob("best-*.ckpt"))
    with open(run.last_checkpoint, "r+b") as handle:
        handle.truncate(run.last_checkpoint.stat().st_size // 3)
    with pytest.warns(UserWarning, match=f"resuming from the newest intact checkpoint {best.name}"):
        assert run.resume_checkpoint() == best
    train(config, out=run.path)
    assert run.is_complete
    after = pd.read_csv(run.metrics_csv)
    assert len(after) > len(before)
    pd.testing.assert_frame_equal(after.iloc[: len(before)][before.columns], before)  # the history is kept


def test_all_checkpoints_damaged_is_an_error(tmp_path: Path) -> None:
    from bigearth.tasks.run import RunFolder

    run = RunFolder(tmp_path)
    run.checkpoints_dir.mkdir()
    run.last_checkpoint.write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(CorruptDataError, match=r"every checkpoint in .* is damaged"):
        run.resume_checkpoint()


@pytest.mark.slow
def test_sigterm_stops_training_with_143_and_the_run_resumes(mini_store: Path, tmp_path: Path) -> None:
    from bigearth.tasks.run import RunFolder

    run = RunFolder(tmp_path / "run")
    command = [sys.executable, "-c", "from bigearth.cli import app; app()", "train", str(DEMO), "--data",
               str(mini_store), "--out", str(run.path), "trainer.max_epochs=200", "trainer.limit_train_batches=2",
               "trainer.limit_val_batches=1", "data.batch_size=4", "early_stopping.patience=1000", *QUIET]  # fmt: skip
    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    process = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not run.last_checkpoint.is_file() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    assert run.last_checkpoint.is_file(), process.communicate()
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    assert "error: stopped by SIGTERM" in stderr
    assert "Traceback" not in stderr
    assert run.is_interrupted
    resumed = subprocess.run([*command[:3], "train", str(run.path), "trainer.max_epochs=3"], env=environment,
                             capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert run.is_complete


@pytest.fixture
def metadata(mini_store: Path) -> pd.DataFrame:
    """The mini store's clean metadata (a copy to damage)."""
    return read_metadata(mini_store).copy()


def write_and_read(frame: pd.DataFrame, folder: Path) -> None:
    """Write ``frame`` as a metadata file without the writer's own check, then read it back."""
    import pyarrow as pa

    folder.mkdir(exist_ok=True)
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), folder / "metadata.parquet")
    read_metadata(folder)


def test_duplicated_patch_id_is_refused_naming_its_rows(metadata: pd.DataFrame, tmp_path: Path) -> None:
    frame = pd.concat([metadata, metadata.iloc[[4]]], ignore_index=True)
    patch_id = metadata["patch_id"][4]
    with pytest.raises(
        MetadataError, match=re.escape(f"appear in several rows {{'{patch_id}': [4, {len(metadata)}]}}")
    ):
        write_and_read(frame, tmp_path / "m")


def test_patch_in_two_splits_is_refused_as_leakage(metadata: pd.DataFrame, tmp_path: Path) -> None:
    row = metadata.iloc[[0]].assign(split="test" if metadata["split"][0] != "test" else "train")
    with pytest.raises(MetadataError, match="in two splits \\(train/test leakage\\)"):
        write_and_read(pd.concat([metadata, row], ignore_index=True), tmp_path / "m")


def test_patch_in_both_metadata_files_is_refused(mini_store: Path, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    clean = read_metadata(mini_store)
    shutil.copy(mini_store / "metadata.parquet", folder)
    write_metadata(clean.iloc[:2].assign(contains_seasonal_snow=True), folder / SNOW_CLOUD_METADATA_FILE)
    with pytest.raises(MetadataError, match="rows counted over both files"):
        read_metadata(folder, include_snow_cloud=True)


@pytest.mark.parametrize("labels", [None, []])
def test_missing_or_empty_labels_are_refused(metadata: pd.DataFrame, tmp_path: Path, labels: list | None) -> None:
    metadata["labels"] = [labels if row == 2 else value for row, value in enumerate(metadata["labels"])]
    with pytest.raises(MetadataError, match=re.escape(f"(row, patch): [(2, '{metadata['patch_id'][2]}')]")):
        write_and_read(metadata, tmp_path / "m")


def test_flag_column_of_the_wrong_type_is_refused(metadata: pd.DataFrame, tmp_path: Path) -> None:
    metadata["contains_seasonal_snow"] = metadata["contains_seasonal_snow"].map({True: "yes", False: "no"})
    wrong_type = r"column contains_seasonal_snow holds (large_)?string values, not booleans"  # pandas 3 str: large
    with pytest.raises(MetadataError, match=wrong_type):
        write_and_read(metadata, tmp_path / "m")


def test_missing_flag_value_or_labels_that_are_no_lists_are_refused(metadata: pd.DataFrame, tmp_path: Path) -> None:
    flags = metadata.assign(contains_cloud_or_shadow=[None if row == 1 else False for row in range(len(metadata))])
    with pytest.raises(MetadataError, match="column contains_cloud_or_shadow has 1 missing value"):
        write_and_read(flags.astype({"contains_cloud_or_shadow": "boolean"}), tmp_path / "flags")
    words = metadata.assign(labels=[", ".join(labels) for labels in metadata["labels"]])
    with pytest.raises(MetadataError, match=r"column labels holds (large_)?string values, not lists of class names"):
        write_and_read(words, tmp_path / "words")


def test_info_counts_a_hand_made_table(tmp_path: Path) -> None:
    """Five patches whose counts are worked out by hand: two flagged rows are left out of every per-split count."""
    from typer.testing import CliRunner

    from bigearth.cli import app

    tile = "S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP"
    rows = [  # country, split, labels, snow, cloud
        ("Austria", "train", ["Urban fabric", "Pastures"], False, False),
        ("Austria", "test", ["Pastures"], False, False),
        ("Belgium", "validation", ["Arable land"], True, False),
        ("Belgium", "train", ["Pastures", "Mixed forest"], False, True),
        ("Belgium", "train", ["Mixed forest"], False, False),
    ]
    frame = pd.DataFrame(
        {
            "patch_id": [f"{tile}_{x:02d}_00" for x in range(len(rows))],
            "labels": [labels for _, _, labels, _, _ in rows],
            "split": [split for _, split, _, _, _ in rows],
            "country": [country for country, _, _, _, _ in rows],
            "s1_name": [f"S1A_IW_GRDH_1SDV_20170613T165043_33UUP_{x}_0" for x in range(len(rows))],
            "s2v1_name": [f"S2A_MSIL2A_20170613T101031_{x}_0" for x in range(len(rows))],
            "contains_seasonal_snow": [snow for *_, snow, _ in rows],
            "contains_cloud_or_shadow": [cloud for *_, cloud in rows],
        }
    )
    write_metadata(frame, tmp_path / "metadata.parquet")
    result = CliRunner().invoke(app, ["info", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert (summary["patches"], summary["clean_patches"]) == (5, 3)
    assert summary["flagged"] == {"seasonal_snow": 1, "cloud_or_shadow": 1}
    assert summary["splits"] == {"train": 2, "validation": 0, "test": 1}
    assert summary["countries"] == {
        "Austria": {"train": 1, "validation": 0, "test": 1},
        "Belgium": {"train": 1, "validation": 0, "test": 0},
    }
    counted = {name: counts for name, counts in summary["classes"].items() if any(counts.values())}
    assert counted == {
        "Urban fabric": {"train": 1, "validation": 0, "test": 0},
        "Pastures": {"train": 1, "validation": 0, "test": 1},
        "Mixed forest": {"train": 1, "validation": 0, "test": 0},
    }
    assert len(summary["classes"]) == 19


def test_encode_into_the_root_itself_is_refused(mini_root: Path) -> None:
    with pytest.raises(StoreError, match=r"into the release root .* itself"):
        encode(mini_root, mini_root, workers=0)


def test_interrupted_encode_resumed_from_another_root_is_refused(mini_root: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    with StoreWriter(store, source=mini_root) as writer:
        writer.put("key", b"value")  # then the encode stops before finalize
    other = tmp_path / "other-root"
    with pytest.raises(StoreError, match=f"holds an interrupted encode of {re.escape(str(mini_root.resolve()))}"):
        StoreWriter(store, source=other).__enter__()


def test_second_writer_of_one_store_is_refused(tmp_path: Path) -> None:
    with StoreWriter(tmp_path / "store"), pytest.raises(StoreError, match="another process is writing"):
        StoreWriter(tmp_path / "store").__enter__()
    with StoreWriter(tmp_path / "store"):  # the lock goes with the writer
        pass


def children(pid: int) -> list[int]:
    """The child process ids of ``pid`` (Linux ``/proc``)."""
    return [int(c) for task in Path(f"/proc/{pid}/task").iterdir() for c in (task / "children").read_text().split()]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_encode_workers_exit_when_the_parent_is_killed(mini_root: Path, tmp_path: Path) -> None:
    # tifffile and rasterio read in spawned processes (bigearth's default strip reader reads in threads of the parent)
    target = f"{str(mini_root)!r}, {str(tmp_path / 's')!r}"
    code = f"from bigearth.data.encode import encode; encode({target}, workers=2, reader='tifffile')"
    environment = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    process = subprocess.Popen([sys.executable, "-c", code], env=environment)
    deadline = time.monotonic() + 120
    workers: list[int] = []
    while len(workers) < 2 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.1)
        workers = [c for c in children(process.pid) if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text()]
    assert len(workers) == 2
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{w}").exists() for w in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    alive = [w for w in workers if Path(f"/proc/{w}/status").exists() and
             "zombie" not in Path(f"/proc/{w}/status").read_text()]  # fmt: skip
    assert alive == []
