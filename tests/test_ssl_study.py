"""The study runner: a study of two tiny runs end to end (table, figures, skipping complete runs), the summary
over seeds against hand-computed values, and the bad study files refused before any run starts."""

import math
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bigearth.cli.app import app
from bigearth.data.metadata import read_metadata
from bigearth.errors import ConfigError
from bigearth.tasks.study.config import load_study, parse_study, plan_study
from bigearth.tasks.study.report import markdown, study_table, temporal_comparison
from bigearth.tasks.study.run import run_study

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TWO_RUNS = {
    "task": "ssl-study",
    "trainer": {"max_epochs": 1, "limit_train_batches": 2},
    "study": {"recipe": str(CONFIGS / "ssl" / "tiny-cpu.yaml"), "seeds": [0], "probes": ["knn"],
              "random_baseline": False, "overrides": ["data.batch_size=8", "scheduler.warmup_steps=1"]},
    "axes": {"image_size": [16], "temporal": [False, True]},
}  # fmt: skip


def study(data: Path, **changes: dict) -> dict:
    """The two-run study with sections replaced (``axes={...}``) and the data set."""
    return {**TWO_RUNS, **changes, "data": {"path": str(data)}}


@pytest.mark.slow
def test_a_study_of_two_tiny_runs_writes_the_table_and_skips_complete_runs(temporal_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "study"
    run_study(parse_study(study(temporal_root)), out=out)
    table = pd.read_parquet(out / "study.parquet")
    assert table["run"].tolist() == ["px16-augonly-s0", "px16-temporal-s0"]
    assert table["temporal"].tolist() == ["augmentation-only", "temporal"]
    assert set(table["protocol"]) == {"knn"}
    assert table["macro_ap"].between(0, 1).all()
    # temporal pairs skip places imaged once: the patches of train locations with two dates, counted by hand
    frame = read_metadata(temporal_root)
    train = frame[(frame["split"] == "train") & ~(frame["contains_seasonal_snow"] | frame["contains_cloud_or_shadow"])]
    places = train["patch_id"].str.split("_").str[-3:].str.join("_")
    assert table["train_patches"].tolist() == [len(train), int((places.map(places.value_counts()) >= 2).sum())]
    assert (out / "study.md").is_file()
    assert (out / "figures" / "temporal.png").is_file()
    finished = {path: path.stat().st_mtime_ns for path in (out / "runs").glob("*/metrics.json")}
    assert len(finished) == 2
    run_study(parse_study(study(temporal_root)), out=out)  # a rerun skips both complete runs
    assert {path: path.stat().st_mtime_ns for path in (out / "runs").glob("*/metrics.json")} == finished
    assert pd.read_parquet(out / "study.parquet").equals(table)


def record(run: str, temporal: bool, seed: int, knn: float) -> dict:
    """A run record as the runner writes it, with a kNN macro AP."""
    values = {"method": "mocov2", "regulariser": None, "augment": None, "cardinality": None, "image_size": 32,
              "temporal": temporal}  # fmt: skip
    probe = {"macro": {"ap": knn}, "micro": {"ap": knn}}
    metrics = {"knn": probe, "train_patches": 10, "augment": [{"name": "resized_crop", "size": 32}]}
    return {"run": run, "values": values, "seed": seed, "metrics": metrics, "wall_s": 1.0, "load": [1.0, 1.0, 1.0]}


def test_the_temporal_comparison_is_the_difference_of_seed_means_against_their_spread() -> None:
    records = [record("a0", False, 0, 0.5), record("a1", False, 1, 0.7), record("t0", True, 0, 0.8),
               record("t1", True, 1, 0.9)]  # fmt: skip
    table = study_table(records, [{"seed": 0, "probes": {"knn": {"macro": {"ap": 0.4}, "micro": {"ap": 0.4}}}}])
    row = temporal_comparison(table).iloc[0]
    # by hand: means 0.6 and 0.85, sample sds sqrt(0.02) and sqrt(0.005), difference 0.25 > 0.1414 + 0.0707
    assert math.isclose(row["mean_augment"], 0.6)
    assert math.isclose(row["mean_temporal"], 0.85)
    assert math.isclose(row["sd_augment"], math.sqrt(0.02))
    assert math.isclose(row["sd_temporal"], math.sqrt(0.005))
    assert math.isclose(row["difference"], 0.25)
    assert row["exceeds_spread"]
    text = markdown(table)
    assert "| knn | 0.600 ± 0.141 | 0.850 ± 0.071 | +0.250 | yes |" in text
    assert "| - | - | - | - | - | - | all | 120 | 1 | 0.400 ± 0.000 |" in text  # the random encoder
    one_seed = temporal_comparison(study_table(records[::2], []))
    assert one_seed.iloc[0]["exceeds_spread"] is None  # one seed each: no spread to compare with


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"axes": {"colour": ["red"]}}, r"unknown key\(s\) \['colour'\] in section 'axes'"),
        ({"axes": {"regulariser": ["georang"]}}, r"axes.regulariser values \['georang'\] are unknown \(did you mean"),
        ({"axes": {"augment": ["full-sharpen"]}}, "'sharpen' is no augmentation"),
        ({"axes": {"augment": ["ful"]}}, "unknown set 'ful'"),
        ({"axes": {"temporal": ["yes"]}}, "axes.temporal must list true and/or false"),
        ({"axes": {"image_size": [0]}}, "axes.image_size values"),
        ({"study": {**TWO_RUNS["study"], "design": "random"}}, "study.design 'random' is unknown"),
        ({"study": {**TWO_RUNS["study"], "probes": ["finetune"]}}, r"study.probes \['finetune'\] are unknown"),
    ],
)
def test_bad_study_files_are_refused_when_read(tmp_path: Path, changes: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_study(study(tmp_path, **changes))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"axes": {"method": ["swav"]}}, "study run swav-s0: model.method 'swav' is unknown"),
        (
            {"axes": {"cardinality": [1.0, 5000]}},
            "axes.cardinality value = 5000 asks for 5000 training patches but the training split has",
        ),
        ({"axes": {"temporal": [False, True]}}, "every place in the training split .* was imaged on one date"),
    ],
)
def test_bad_studies_stop_with_one_error_before_any_run_starts(single_date_root: Path, tmp_path: Path, changes: dict,
                                                               message: str) -> None:  # fmt: skip
    with pytest.raises(ConfigError, match=message):
        run_study(parse_study(study(single_date_root, **changes)), out=tmp_path / "study")
    assert not (tmp_path / "study").exists()


def test_the_published_studies_plan_their_runs(temporal_root: Path) -> None:
    runs = plan_study(load_study(CONFIGS / "study" / "mini.yaml", [f"data.path={temporal_root}",
                                                                   "axes.augment=[recipe, full]"]))  # fmt: skip
    # the baseline, then each other value alone (full augmentations, a quarter of the patches, temporal), 3 seeds
    assert [run.name for run in runs[::3]] == ["mocov2-plain-recipe-n1.0-px32-augonly-s0",
                                               "mocov2-plain-full-n1.0-px32-augonly-s0",
                                               "mocov2-plain-recipe-n0.25-px32-augonly-s0",
                                               "mocov2-plain-recipe-n1.0-px32-temporal-s0"]  # fmt: skip
    assert [run.seed for run in runs[:3]] == [0, 1, 2]
    full = runs[3].raw["augment"]
    assert [step["name"] for step in full] == ["resized_crop", "flip", "rot90", "blur", "noise", "brightness_contrast",
                                               "solarize", "grayscale", "cutout", "channel_dropout"]  # fmt: skip
    assert full[0]["size"] == 32
    assert runs[9].raw["temporal"] == {"enabled": True, "single_date": "same"}
    assert runs[6].raw["data"]["train_size"] == 0.25


def test_the_study_command_refuses_a_recipe_that_is_no_study() -> None:
    result = CliRunner().invoke(app, ["ssl", "study", str(CONFIGS / "ssl" / "tiny-cpu.yaml"), "--data", "x"])
    assert result.exit_code != 0
    assert "is a ssl recipe, not a study" in result.output
