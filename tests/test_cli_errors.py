"""Every CLI verb given bad input: a non-zero exit, one line of error naming the offending value, no traceback.

Each case runs the real command in-process (typer's test runner) on real files; a few run as subprocesses.
"""

import errno
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import bigearth.cli  # noqa: F401  (registers every command)
from bigearth.cli.app import app

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "configs" / "classification" / "demo-cpu.yaml"


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small untrained 14-band classifier saved as a model folder."""
    from bigearth.folders import save_model
    from bigearth.models import ModelMetadata, SceneClassifier

    folder = tmp_path_factory.mktemp("model") / "model"
    save_model(SceneClassifier(ModelMetadata.create("resnet10t_slim", 14, class_order="alphabetical")), folder)
    return folder


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, model_folder: Path) -> dict[str, Path]:
    """Bad files of every kind the cases need."""
    folder = tmp_path_factory.mktemp("bad")
    written = {
        "empty.yaml": b"",
        "list.yaml": b"- 1\n- 2\n",
        "binary.yaml": bytes(range(256)),
        "task-list.yaml": b"task: [1, 2]\n",
        "a-file": b"not a folder",
    }
    paths = {name: folder / name for name in written}
    for name, data in written.items():
        paths[name].write_bytes(data)
    truncated = folder / "truncated-model"
    shutil.copytree(model_folder, truncated)
    weights = truncated / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    paths["truncated-model"] = truncated
    not_safetensors = folder / "text-model"
    shutil.copytree(model_folder, not_safetensors)
    (not_safetensors / "model.safetensors").write_text("these are no weights")
    paths["text-model"] = not_safetensors
    (folder / "texts.parquet").write_bytes((ROOT / "pyproject.toml").read_bytes())
    paths["texts.parquet"] = folder / "texts.parquet"
    return paths


#: (case id, argument builder, text that must appear in the one error line).
CASES: list[tuple[str, Callable[[dict[str, Path], Path, Path], list[str]], str]] = [
    ("encode --workers -1", lambda f, s, m: ["encode", str(s), str(f["a-file"].parent / "x"), "--workers", "-1"], "-1"),
    ("synth --patches 0", lambda f, s, m: ["synth", str(f["a-file"].parent / "s"), "--patches", "0"], "0 is below 1"),
    ("verify missing", lambda f, s, m: ["verify", "/nonexistent/store"], "/nonexistent/store"),
    ("info [/x]", lambda f, s, m: ["info", "/tmp/[/x]"], "/tmp/[/x]"),
    ("info [bold]", lambda f, s, m: ["info", "/tmp/[bold]y"], "/tmp/[bold]y"),
    ("show missing data", lambda f, s, m: ["show", "--data", "/nonexistent/d", "--out", "x.png"], "/nonexistent/d"),
    ("train lr", lambda f, s, m: ["train", str(DEMO), "--data", str(s), "model.lr=-1"], "model.lr = -1.0"),
    ("train batch", lambda f, s, m: ["train", str(DEMO), "--data", str(s), "data.batch_size=0"], "data.batch_size = 0"),
    ("train workers", lambda f, s, m: ["train", str(DEMO), "data.num_workers=-1"], "data.num_workers = -1"),
    ("train epochs", lambda f, s, m: ["train", str(DEMO), "trainer.max_epochs=-2"], "trainer.max_epochs = -2"),
    ("train optimiser", lambda f, s, m: ["train", str(DEMO), "optimizer.name=adamx"], "'adamx'"),
    ("train precision", lambda f, s, m: ["train", str(DEMO), "trainer.precision=17"], "trainer.precision = 17"),
    ("train accelerator", lambda f, s, m: ["train", str(DEMO), "trainer.accelerator=abacus"], "'abacus'"),
    ("train warm-up", lambda f, s, m: ["train", str(DEMO), "scheduler.warmup_steps=-5"], "warmup_steps = -5"),
    ("train patience", lambda f, s, m: ["train", str(DEMO), "early_stopping.patience=-1"], "patience = -1"),
    ("train empty yaml", lambda f, s, m: ["train", str(f["empty.yaml"])], "empty.yaml is empty"),
    ("train list yaml", lambda f, s, m: ["train", str(f["list.yaml"])], "holds a YAML list"),
    ("train binary yaml", lambda f, s, m: ["train", str(f["binary.yaml"])], "binary.yaml"),
    ("train task list", lambda f, s, m: ["train", str(f["task-list.yaml"])], "task = [1, 2]"),
    ("pretrain task list", lambda f, s, m: ["pretrain", str(f["task-list.yaml"])], "task = [1, 2]"),
    ("train --out file", lambda f, s, m: ["train", str(DEMO), "--data", str(s), "--out", str(f["a-file"])], "a-file"),
    ("evaluate split", lambda f, s, m: ["evaluate", str(m), "--data", str(s), "--split", "bogus"], "'bogus'"),
    ("evaluate split typo", lambda f, s, m: ["evaluate", str(m), "--data", str(s), "--split", "valid"],
     "'valid' (did you mean 'validation'?)"),
    ("ssl probe split typo", lambda f, s, m: ["ssl", "probe", str(m), "--data", str(s), "--split", "tset"],
     "'tset' (did you mean 'test'?)"),
    ("sample split typo", lambda f, s, m: ["sample", "--data", str(s), "--size", "4", "--out", "x.parquet", "--split",
                                           "valid"], "'valid' (did you mean 'validation'?)"),
    ("retrieve split typo", lambda f, s, m: ["retrieve", str(m), "--data", str(s), "--evaluate", "--query-split",
                                             "valid"], "'valid' (did you mean 'validation'?)"),
    ("evaluate batch", lambda f, s, m: ["evaluate", str(m), "--data", str(s), "--batch-size", "0"], "0 is below 1"),
    ("predict --ids ''", lambda f, s, m: ["predict", str(m), "--data", str(s), "--ids", ""], "--ids ''"),
    ("evaluate truncated weights", lambda f, s, m: ["evaluate", str(f["truncated-model"]), "--data", str(s)],
     "truncated-model"),
    ("evaluate text weights", lambda f, s, m: ["evaluate", str(f["text-model"]), "--data", str(s)], "text-model"),
    ("ask --top 0", lambda f, s, m: ["ask", str(m), "q?", "--data", str(s), "--id", "x", "--top", "0"], "0 is below 1"),
    ("retrieve --k 0", lambda f, s, m: ["retrieve", str(m), "--data", str(s), "--k", "0"], "0 is below 1"),
    ("sample --size 0", lambda f, s, m: ["sample", "--data", str(s), "--size", "0", "--out", "x.parquet"],
     "0 is below 1"),
    ("text stats wrong file", lambda f, s, m: ["text", "stats", str(f["texts.parquet"])], "texts.parquet"),
    ("text stats metadata", lambda f, s, m: ["text", "stats", str(s / "metadata.parquet")], "lacks the released"),
]  # fmt: skip


def error_lines(output: str) -> list[str]:
    """The lines of a command's output that report an error."""
    return [line for line in output.splitlines() if line.startswith(("error:", "Error:"))]


@pytest.mark.parametrize(("case", "arguments", "named"), CASES, ids=[case for case, _, _ in CASES])
def test_bad_input_gives_one_clear_line(
    case: str,
    arguments: Callable[[dict[str, Path], Path, Path], list[str]],
    named: str,
    files: dict[str, Path],
    mini_store: Path,
    model_folder: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, arguments(files, mini_store, model_folder))
    assert result.exit_code != 0, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    lines = error_lines(result.output)
    assert len(lines) == 1, result.output
    assert named in lines[0], lines[0]


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_gpu_accelerator_without_a_gpu_is_refused() -> None:
    result = CliRunner().invoke(app, ["train", str(DEMO), "trainer.accelerator=gpu"])
    assert result.exit_code == 1
    assert error_lines(result.output) == [
        "error: trainer.accelerator = 'gpu' but this machine has no CUDA GPU that torch can use; set "
        "trainer.accelerator=cpu (or auto)"
    ]


def test_full_disk_during_encode_is_one_line(mini_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bigearth.data.store_writer import StoreWriter

    def full_disk(self: StoreWriter) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(self.path / "data.mdb"))

    monkeypatch.setattr(StoreWriter, "commit", full_disk)  # the write that meets the full disk
    result = CliRunner().invoke(app, ["encode", str(mini_root), str(tmp_path / "store"), "--workers", "0"])
    assert result.exit_code == 1
    assert error_lines(result.output) == [
        f"error: no space left on the device while writing {tmp_path / 'store' / 'data.mdb'}; free space or choose "
        "another folder, then rerun the command (an interrupted encode or training resumes where it stopped)"
    ]


def run_cli(*arguments: str) -> subprocess.CompletedProcess:
    """Run ``bigearth`` as a user would, in a new process."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, "-c", "from bigearth.cli import app; app()", *arguments]
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300, check=False)


@pytest.mark.slow
def test_subprocess_spot_checks(tmp_path: Path) -> None:
    markup = run_cli("info", str(tmp_path / "[/x][bold]"))
    assert markup.returncode == 1
    assert markup.stderr.count("\n") == 1
    assert str(tmp_path / "[/x][bold]") in markup.stderr
    assert "Traceback" not in markup.stderr
    usage = run_cli("encode", "a", "b", "--workers", "-1")
    assert usage.returncode == 2
    assert "Invalid value for '--workers': -1 is below 0" in usage.stderr


def test_predict_reports_a_patch_folder_that_lacks_a_band(mini_root: Path, tmp_path: Path) -> None:
    from bigearth.folders import save_model
    from bigearth.models import ModelMetadata, SceneClassifier

    save_model(SceneClassifier(ModelMetadata.create("resnet10t_slim", 10)), tmp_path / "model")
    tile = next((mini_root / "BigEarthNet-S2").iterdir())
    shutil.copytree(tile, tmp_path / tile.name)
    first = sorted((tmp_path / tile.name).iterdir())[0]
    (first / f"{first.name}_B02.tif").unlink()  # B02: the first band this model reads
    result = CliRunner().invoke(app, ["predict", str(tmp_path / "model"), "--s2-dir", str(tmp_path / tile.name)])
    assert result.exit_code == 1
    lines = error_lines(result.output)
    assert len(lines) == 1
    assert f"{first.name}_B02.tif" in lines[0]
    (first / f"{first.name}_B03.tif").rename(first / f"{first.name}_B02.tif")  # all bands present again
    result = CliRunner().invoke(app, ["predict", str(tmp_path / "model"), "--s2-dir", str(tmp_path / tile.name)])
    assert result.exit_code == 1  # B03 now lacks: still reported, never dropped
    assert f"{first.name}_B03.tif" in error_lines(result.output)[0]


def test_cli_help_and_info_do_not_import_the_heavy_stacks(mini_store: Path) -> None:
    """Registering every command, ``--help`` and ``info`` start without torch, Lightning, timm, GDAL or pandas."""
    code = ("import sys\nfrom bigearth.cli import app\nif sys.argv[1:]:\n    try:\n        app()\n"
            "    except SystemExit:\n        pass\nprint('imported:', sorted(m for m in ('torch', 'lightning', 'timm', "
            "'rasterio', 'pandas') if m in sys.modules))")  # fmt: skip
    environment = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    for arguments in ([], ["--help"], ["info", str(mini_store)]):
        done = subprocess.run([sys.executable, "-c", code, *arguments], capture_output=True, text=True,
                              env=environment, timeout=300, check=False)  # fmt: skip
        assert done.stdout.splitlines()[-1] == "imported: []", done.stdout + done.stderr
