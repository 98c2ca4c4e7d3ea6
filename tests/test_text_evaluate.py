"""Evaluation harness, baselines, statistics and the `bigearth text` commands, on a small generated text file."""

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bigearth.cli import text as _text  # noqa: F401  (registers the text commands)
from bigearth.cli.app import app
from bigearth.errors import CorruptDataError, MetadataError, MissingDataError
from bigearth.text.baselines import baseline_predictions
from bigearth.text.evaluate import evaluate_file, evaluate_predictions, write_report
from bigearth.text.generate import generate
from bigearth.text.stats import file_statistics, text_statistics

#: The values bigearth wrote before it followed the release.
LEGACY = {"type": {"captioning": "caption", "mcq": "multiple_choice", "bounding box": "detection"},
          "category": {"count": "counting"}}  # fmt: skip


@pytest.fixture(scope="module")
def texts(mini_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("evaluate") / "texts.parquet"
    generate(mini_root, out, limit=40)
    return out


def perfect(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"ID": frame["ID"], "prediction": frame["output"]})


def scores_of(evaluation, kind: str) -> pd.DataFrame:
    return evaluation.scores[evaluation.scores["type"] == kind].set_index("category")


def test_perfect_answers_score_full_marks(texts: Path, tmp_path: Path) -> None:
    frame = pd.read_parquet(texts)
    evaluation = evaluate_predictions(frame, perfect(frame))
    for kind in ("binary", "mcq"):
        assert (scores_of(evaluation, kind)["accuracy"] == 1.0).all()
    detection = scores_of(evaluation, "bounding box")
    assert (detection["mean_iou"] == 1.0).all()
    for threshold in (25, 50, 75, 90):
        assert (detection[f"accuracy_iou{threshold}"] == 1.0).all()
    caption = scores_of(evaluation, "captioning").loc["all"]
    assert caption["bleu_4"] == pytest.approx(1.0)
    assert caption["rouge_l"] == pytest.approx(1.0)
    assert caption["n"] == (frame["type"] == "captioning").sum()
    write_report(evaluation, tmp_path / "report")
    assert {p.name for p in (tmp_path / "report").iterdir()} == {"metrics.json", "scores.csv", "scores.png"}
    assert json.loads((tmp_path / "report" / "metrics.json").read_text())["scores"][0]["accuracy"] == 1.0


def test_tolerant_parsing_and_split(texts: Path) -> None:
    frame = pd.read_parquet(texts)
    predictions = perfect(frame)
    binary = frame["type"] == "binary"
    predictions.loc[binary, "prediction"] = frame.loc[binary, "output"].str.upper() + ", I think."
    choice = frame["type"] == "mcq"
    predictions.loc[choice, "prediction"] = "(" + frame.loc[choice, "output"] + ")"
    test_rows = frame[frame["split"] == "test"]
    evaluation = evaluate_predictions(frame, predictions[predictions["ID"].isin(test_rows["ID"])], split="test")
    assert (scores_of(evaluation, "binary")["accuracy"] == 1.0).all()
    assert (scores_of(evaluation, "mcq")["accuracy"] == 1.0).all()
    assert evaluation.scores.groupby("type")["n"].max().sum() == len(test_rows)


def test_bad_predictions_name_the_row_and_can_be_skipped(texts: Path) -> None:
    frame = pd.read_parquet(texts)
    predictions = perfect(frame)
    missing = predictions["ID"].iloc[3]
    with pytest.raises(MissingDataError, match=missing):
        evaluate_predictions(frame, predictions.drop(index=3))
    box_row = frame.index[frame["type"] == "bounding box"][0]
    broken = predictions.copy()
    broken.loc[box_row, "prediction"] = "[[0.2, 0.1]]"
    with pytest.raises(CorruptDataError, match=predictions.loc[box_row, "ID"]):
        evaluate_predictions(frame, broken)
    with pytest.raises(MetadataError, match="more than once"):
        evaluate_predictions(frame, pd.concat([predictions, predictions.head(1)]))
    extra = pd.concat([predictions, pd.DataFrame({"ID": ["nope"], "prediction": ["yes"]})])
    with pytest.raises(MetadataError, match="nope"):
        evaluate_predictions(frame, extra)
    evaluation = evaluate_predictions(frame, pd.concat([broken.drop(index=3), extra.tail(1)]), skip_invalid=True)
    assert {row for row, _ in evaluation.skipped} == {missing, predictions.loc[box_row, "ID"], "nope"}
    assert evaluation.scores.groupby("type")["n"].max().sum() == len(frame) - 2
    assert (scores_of(evaluation, "bounding box")["mean_iou"] == 1.0).all()


def test_baselines(texts: Path) -> None:
    frame = pd.read_parquet(texts)
    majority = evaluate_predictions(frame, baseline_predictions(frame, "majority"))
    random = evaluate_predictions(frame, baseline_predictions(frame, "random", seed=1))
    assert 0.3 <= scores_of(majority, "binary").loc["all", "accuracy"] <= 0.7  # answers are balanced
    assert scores_of(random, "mcq").loc["all", "accuracy"] < 0.5
    assert scores_of(majority, "bounding box").loc["all", "mean_iou"] < 1.0
    assert not scores_of(random, "captioning").empty
    again = baseline_predictions(frame, "random", seed=1)
    pd.testing.assert_frame_equal(again, baseline_predictions(frame, "random", seed=1))


def test_statistics(texts: Path) -> None:
    stats = text_statistics(pd.read_parquet(texts))
    assert stats.patches == 40
    assert set(stats.counts["type"]) == {"captioning", "binary", "mcq", "bounding box"}
    assert ((stats.yes_share["yes_share"] - 0.5).abs() <= 0.1).all()
    assert (stats.letters.sum(axis=1) > 0).all()


def test_commands(mini_root: Path, texts: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "t.parquet"
    result = runner.invoke(app, ["text", "generate", "--data", str(mini_root), "--out", str(out), "--limit", "6",
                                 "--seed", "2"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert out.is_file()
    assert (tmp_path / "t.facts.parquet").is_file()
    result = runner.invoke(app, ["text", "rsvqa", "--data", str(mini_root), "--out", str(tmp_path / "qa.parquet")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["text", "evaluate", str(texts), "--baseline", "majority", "--out",
                                 str(tmp_path / "report")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "climate zone" in result.output
    assert (tmp_path / "report" / "scores.png").is_file()
    predictions = perfect(pd.read_parquet(texts)).iloc[1:]
    predictions.to_parquet(tmp_path / "p.parquet")
    result = runner.invoke(app, ["text", "evaluate", str(texts), str(tmp_path / "p.parquet")])
    assert result.exit_code == 1
    assert "no prediction" in result.output
    result = runner.invoke(app, ["text", "evaluate", str(texts), str(tmp_path / "p.parquet"), "--skip-invalid",
                                 "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["skipped"][0][1] == "no prediction"
    for file in (texts, tmp_path / "qa.parquet"):
        result = runner.invoke(app, ["text", "stats", str(file), "--plot", str(tmp_path / "s.png")])
        assert result.exit_code == 0, result.output
        assert "yes/no balance" in result.output


def test_released_forms_earlier_values_bench_and_batches(texts: Path, tmp_path: Path) -> None:
    frame = pd.read_parquet(texts)
    predictions = perfect(frame)
    # the released box form "[x1 y1, x2 y2]" in the reference outputs; the JSON predictions still match them
    boxes = frame["type"] == "bounding box"
    written = [
        [f"<box>[{x0} {y0}, {x1} {y1}]</box>" for x0, y0, x1, y1 in json.loads(o)] for o in frame["output"][boxes]
    ]
    frame.loc[boxes, "output"] = [" ".join(parts) for parts in written]
    bench = frame["patch_id"].isin(frame["patch_id"].unique()[:3])
    frame.loc[bench, "split"] = "bench"
    frame.to_parquet(tmp_path / "released.parquet", row_group_size=100)
    released = evaluate_file(tmp_path / "released.parquet", predictions, batch_rows=97)  # several batches
    assert (scores_of(released, "bounding box")["mean_iou"] == 1.0).all()
    in_memory = evaluate_predictions(frame, predictions)
    pd.testing.assert_frame_equal(released.scores, in_memory.scores)
    only_bench = evaluate_file(tmp_path / "released.parquet", predictions[bench.to_numpy()], split="bench")
    assert only_bench.scores.groupby("type")["n"].max().sum() == bench.sum()
    # a file with the earlier values reads alike, with a warning
    legacy = frame.replace(LEGACY)
    assert set(legacy["type"]) == {"caption", "binary", "multiple_choice", "detection"}
    legacy.to_parquet(tmp_path / "legacy.parquet")
    with pytest.warns(FutureWarning, match="multiple_choice -> mcq"):
        old = evaluate_file(tmp_path / "legacy.parquet", predictions)
    pd.testing.assert_frame_equal(old.scores, released.scores)
    with pytest.warns(FutureWarning, match="counting -> count"):
        stats = file_statistics(tmp_path / "legacy.parquet", batch_rows=50)
    pd.testing.assert_frame_equal(stats.counts, text_statistics(frame).counts)
    pd.testing.assert_frame_equal(stats.lengths, text_statistics(frame).lengths)


def test_unknown_values_and_bad_files(texts: Path, tmp_path: Path) -> None:
    frame = pd.read_parquet(texts)
    predictions = perfect(frame)
    unknown = frame.copy()
    unknown.loc[unknown["type"] == "binary", "category"] = unknown["category"].where(unknown.index % 2 == 0, "shape")
    evaluation = evaluate_predictions(unknown, predictions)
    shape = int(((unknown["type"] == "binary") & (unknown["category"] == "shape")).sum())
    assert evaluation.unknown_categories == {"shape": shape}  # counted and scored under its own name
    assert scores_of(evaluation, "binary").loc["shape", "n"] == shape
    assert file_statistics(texts).unknown_categories == {}
    bad_type = frame.assign(type=frame["type"].where(frame.index != 5, "grounding"))
    with pytest.raises(MetadataError, match=r"1 row\(s\) have a type outside \['captioning', 'binary', 'mcq', "):
        evaluate_predictions(bad_type, predictions)
    bad_type.to_parquet(tmp_path / "type.parquet")
    with pytest.raises(MetadataError, match="grounding"):
        file_statistics(tmp_path / "type.parquet")
    frame.drop(columns=["season"]).to_parquet(tmp_path / "columns.parquet")
    with pytest.raises(MetadataError, match=r"lacks the released column\(s\) \['season'\]"):
        evaluate_file(tmp_path / "columns.parquet", predictions)
    frame.head(0).to_parquet(tmp_path / "empty.parquet")
    with pytest.raises(MetadataError, match="holds no row"):
        evaluate_file(tmp_path / "empty.parquet", predictions)
    with pytest.raises(MetadataError, match="unknown split 'holdout'"):
        evaluate_file(texts, predictions, split="holdout")
    broken = frame.copy()
    broken.loc[broken.index[broken["type"] == "bounding box"][0], "output"] = "somewhere"
    with pytest.raises(CorruptDataError, match="reference output"):
        evaluate_predictions(broken, predictions, skip_invalid=True)  # only predictions may be skipped


def test_point_rows_by_exact_match_and_counts_as_integers(texts: Path, tmp_path: Path) -> None:
    frame = pd.read_parquet(texts)
    predictions = perfect(frame)
    points = frame.index[frame["type"] == "bounding box"][:4]
    frame.loc[points, "category"] = "point"
    frame.loc[points, "output"] = ["<point>(0.3, 0.4)</point>", "(0.25, 0.5)", "(0.1, 0.1)",
                                   "<point>(0.2, 0.2)</point> <point>(0.6, 0.7)</point>"]  # fmt: skip
    predictions.loc[points, "prediction"] = ["(0.30, 0.4)", "<point>(0.25, 0.5)</point>", "(0.1, 0.12)",
                                             "(0.6, 0.7) (0.2, 0.2)"]  # fmt: skip
    maybe = frame.index[frame["type"] == "binary"][:2]
    predictions.loc[maybe, "prediction"] = "maybe"
    evaluation = evaluate_predictions(frame, predictions)
    boxes = scores_of(evaluation, "bounding box")
    # by hand: the same point in other words, the same point in tags, 0.12 != 0.1, two points in another order
    assert boxes.loc["point", "accuracy"] == 0.75
    assert boxes.loc["point", "n"] == 4
    assert pd.isna(boxes.loc["point", "mean_iou"])
    assert boxes.loc["all", "n"] == (frame["type"] == "bounding box").sum() - 4  # points are no part of the IoU
    assert boxes.loc["all", "mean_iou"] == 1.0
    write_report(evaluation, tmp_path / "report")
    rows = json.loads((tmp_path / "report" / "metrics.json").read_text())["scores"]
    binary_all = next(r for r in rows if r["type"] == "binary" and r["category"] == "all")
    assert binary_all["unparsable"] == 2
    assert isinstance(binary_all["unparsable"], int)
    assert all(isinstance(r["n"], int) for r in rows)
    csv = pd.read_csv(tmp_path / "report" / "scores.csv", dtype=str)
    assert set(csv["unparsable"].dropna()) <= {"0", "1", "2"}
