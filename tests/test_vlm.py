"""`bigearth vlm`: the generation interface, a tiny Hugging Face LLaVA fine-tuned, resumed, run and scored offline."""

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from bigearth.cli.app import app
from bigearth.data.dataset import ReBENDataset
from bigearth.errors import CorruptDataError, MetadataError
from bigearth.folders.vlm import check_hf_checkpoint
from bigearth.tasks.vlm.predict import ImageSpec, TextGenerator, evaluate, predict, summary_file
from bigearth.tasks.vlm.tiny import write_tiny_llava
from bigearth.text.evaluate import evaluate_file, read_predictions
from bigearth.text.generate import generate
from bigearth.text.instruct import TRUE_COLOUR_BANDS, InstructSample

TINY_RECIPE = str(Path(__file__).resolve().parents[1] / "configs" / "vlm" / "hf-tiny.yaml")
SCORED = ["binary", "mcq", "bounding box"]  # captions need the METEOR JVM (a minute to start): scored elsewhere


@pytest.fixture(scope="module")
def texts(mini_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("vlm") / "texts.parquet"
    generate(mini_root, out, limit=24)
    return out


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_llava(tmp_path_factory.mktemp("vlm") / "tiny-llava")


class TargetGenerator:
    """Answers every sample with its target (or a fixed text per type), and keeps the images it was given."""

    image_spec = ImageSpec(TRUE_COLOUR_BANDS, normalise=False)

    def __init__(self, answers: dict[str, str] | None = None) -> None:
        self.answers, self.generated_tokens, self.seen = answers or {}, 0, {}

    def generate(self, samples: Sequence[InstructSample], images: torch.Tensor, max_new_tokens: int) -> list[str]:
        for sample, image in zip(samples, images, strict=True):
            self.seen[sample.patch_id] = image
        return [self.answers.get(sample.type, sample.target("tags")) for sample in samples]


def test_predict_writes_what_text_evaluate_scores(texts: Path, mini_store: Path, tmp_path: Path) -> None:
    generator = TargetGenerator()
    assert isinstance(generator, TextGenerator)
    out = tmp_path / "predictions.parquet"
    summary = predict(generator, mini_store, texts, out, split="test", types=SCORED, batch_size=5)
    frame = pd.read_parquet(texts)
    test = frame[(frame["split"] == "test") & frame["type"].isin(SCORED)]
    written = pd.read_parquet(out)
    assert list(written.columns) == ["ID", "prediction", "generation"]
    assert sorted(written["ID"]) == sorted(test["ID"])
    assert summary.rows == len(test)
    assert summary.unparsable == dict.fromkeys(SCORED, 0)
    assert json.loads(summary_file(out).read_text())["rows"] == len(test)
    scores = evaluate_file(texts, read_predictions(out), split="test", skip_invalid=True).scores.set_index("type")
    assert scores.loc["binary", "accuracy"].tolist() == [1.0] * len(scores.loc["binary"])
    assert scores.loc["mcq", "accuracy"].tolist() == [1.0] * len(scores.loc["mcq"])
    # box edges are k / 120: written with 3 decimals they move by at most 0.0005, far from IoU 0.9
    assert (scores.loc["bounding box", "accuracy_iou90"] == 1.0).all()
    # each sample was given its own patch's B04, B03, B02 in native units
    images = ReBENDataset(mini_store, None, TRUE_COLOUR_BANDS, include_snow_cloud=True, normalise=False)
    row = {name: i for i, name in enumerate(images.index.patch_id)}
    for patch, image in list(generator.seen.items())[:3]:
        assert torch.equal(image, images[row[patch]]["image"])


def test_unparsable_generations_are_counted_not_fatal(texts: Path, mini_store: Path, tmp_path: Path) -> None:
    generator = TargetGenerator({"bounding box": "<box>[0.1 0.2, 0.5", "binary": "maybe"})
    evaluation, summary = evaluate(generator, mini_store, texts, tmp_path, split="validation", types=SCORED)
    frame = pd.read_parquet(texts)
    validation = frame[frame["split"] == "validation"]
    boxes, binary = (int((validation["type"] == kind).sum()) for kind in ("bounding box", "binary"))
    assert summary.unparsable == {"binary": binary, "mcq": 0, "bounding box": boxes}
    written = pd.read_parquet(tmp_path / "predictions.parquet").set_index("ID")
    box_ids = validation.loc[validation["type"] == "bounding box", "ID"]
    assert (written.loc[box_ids, "prediction"] == "[]").all()
    scores = evaluation.scores.set_index(["type", "category"])
    assert scores.loc[("bounding box", "all"), "mean_iou"] == 0.0
    assert scores.loc[("binary", "all"), "unparsable"] == binary
    assert scores.loc[("mcq", "all"), "accuracy"] == 1.0
    assert {p.name for p in tmp_path.iterdir()} >= {"predictions.parquet", "generation.json", "scores.csv",
                                                    "metrics.json", "scores.png"}  # fmt: skip


def test_not_an_image_text_to_text_checkpoint(tmp_path: Path, texts: Path, mini_store: Path) -> None:
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(CorruptDataError, match="'bert' checkpoint, not an image-text-to-text one"):
        check_hf_checkpoint(tmp_path / "bert")
    (tmp_path / "classifier").mkdir()
    (tmp_path / "classifier" / "config.json").write_text(
        json.dumps({"format": "bigearth-model", "task": "multilabel-classification"})
    )
    runner = CliRunner()
    for folder, message in (("bert", "not an image-text-to-text one"), ("classifier", "not a vision-language model"),
                            ("missing", "is no folder")):  # fmt: skip
        out = tmp_path / f"{folder}.parquet"
        result = runner.invoke(app, ["vlm", "predict", str(tmp_path / folder), "--data", str(mini_store),
                                     "--texts", str(texts), "--out", str(out)])  # fmt: skip
        assert result.exit_code == 1, result.output
        assert message in " ".join(result.output.split())
        assert not out.exists()


def test_texts_without_the_needed_types(tiny: Path, texts: Path, mini_store: Path, tmp_path: Path) -> None:
    frame = pd.read_parquet(texts)
    binary_only = tmp_path / "binary.parquet"
    frame[frame["type"] == "binary"].to_parquet(binary_only)
    result = CliRunner().invoke(app, ["vlm", "finetune", TINY_RECIPE, "--model", str(tiny),
                                      "--data", str(mini_store), "--texts", str(binary_only),
                                      "--out", str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 1
    assert "no row of type(s) ['captioning', 'mcq', 'bounding box']" in " ".join(result.output.split())
    assert not (tmp_path / "run").exists()
    with pytest.raises(MetadataError, match="no text of split 'bench'"):
        predict(TargetGenerator(), mini_store, texts, tmp_path / "p.parquet", split="bench")
    assert not (tmp_path / "p.parquet").exists()


def _losses(run: Path) -> list[float]:
    log = pd.read_csv(run / "logs" / "metrics.csv")
    return log["train/loss_step"].dropna().tolist()


@pytest.mark.slow
def test_finetune_resume_predict_and_score(tiny: Path, texts: Path, mini_store: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    run = tmp_path / "run"
    command = ["vlm", "finetune", TINY_RECIPE, "--model", str(tiny), "--data", str(mini_store),
               "--texts", str(texts), "--out", str(run), "trainer.max_steps=6", "trainer.log_every_n_steps=1",
               "data.limit=24", "model.checkpoint_every=6", "model.lr=0.01", "scheduler.warmup_steps=1"]  # fmt: skip
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    losses = _losses(run)
    assert len(losses) == 6
    assert losses[-1] < losses[0] - 0.5, losses
    model = run / "model"
    assert json.loads((model / "bigearth_vlm.json").read_text())["steps"] == 6
    weights = load_file(model / "model.safetensors")
    # an interrupted run (no model, no metrics) resumes from last.ckpt: the same weights come out
    (run / "metrics.json").unlink()
    for file in model.iterdir():
        file.unlink()
    model.rmdir()
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    resumed = load_file(model / "model.safetensors")
    assert all(torch.equal(weights[key], resumed[key]) for key in weights)
    predictions = tmp_path / "predictions.parquet"
    types = [option for kind in SCORED for option in ("--type", kind)]
    result = runner.invoke(app, ["vlm", "predict", str(model), "--data", str(mini_store), "--texts", str(texts),
                                 "--out", str(predictions), "--max-new-tokens", "12", "--device", "cpu",
                                 *types])  # fmt: skip
    assert result.exit_code == 0, result.output
    written = pd.read_parquet(predictions)
    frame = pd.read_parquet(texts)
    assert len(written) == int(((frame["split"] == "test") & frame["type"].isin(SCORED)).sum())
    result = runner.invoke(app, ["text", "evaluate", str(texts), str(predictions), "--split", "test",
                                 "--skip-invalid", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    scored = {row["type"] for row in json.loads(result.output)["scores"]}
    assert scored == set(SCORED)


def test_compare_puts_reports_side_by_side(tmp_path: Path) -> None:
    zero, tuned = tmp_path / "zero-shot", tmp_path / "fine-tuned"
    zero.mkdir()
    tuned.mkdir()
    pd.DataFrame({"type": ["binary", "binary", "bounding box"], "category": ["presence", "all", "all"],
                  "n": [4, 4, 2], "accuracy": [0.5, 0.5, None], "mean_iou": [None, None, 0.2],
                  "accuracy_iou50": [None, None, 0.0]}).to_csv(zero / "scores.csv", index=False)  # fmt: skip
    pd.DataFrame({"type": ["binary", "binary", "captioning"], "category": ["presence", "all", "all"],
                  "n": [4, 4, 3], "accuracy": [0.75, 0.75, None], "bleu_4": [None, None, 0.25],
                  "cider": [None, None, 1.5]}).to_csv(tuned / "scores.csv", index=False)  # fmt: skip
    out = tmp_path / "table.csv"
    result = CliRunner().invoke(app, ["vlm", "compare", str(zero), str(tuned), "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out).set_index(["type", "category", "metric"])
    assert list(table.columns) == ["zero-shot", "fine-tuned"]
    assert table.loc[("binary", "presence", "accuracy")].tolist() == [0.5, 0.75]
    assert table.loc[("bounding box", "all", "mean_iou"), "zero-shot"] == 0.2
    assert pd.isna(table.loc[("bounding box", "all", "mean_iou"), "fine-tuned"])
    assert table.loc[("captioning", "all", "cider"), "fine-tuned"] == 1.5
    assert len(table) == 6  # binary x2, box mean_iou and acc@0.5, caption bleu_4 and cider
    assert out.with_suffix(".png").is_file()
    result = CliRunner().invoke(app, ["vlm", "compare", str(zero), str(tmp_path / "none")])
    assert result.exit_code == 1
    assert "scores.csv does not exist" in " ".join(result.output.split())


def test_a_chat_template_whose_answer_turn_does_not_start_with_the_prompt(tiny: Path, texts: Path,
                                                                           mini_store: Path) -> None:  # fmt: skip
    from bigearth.errors import ConfigError
    from bigearth.folders.vlm import load_hf_checkpoint
    from bigearth.tasks.vlm.hf import TrainingCollate
    from bigearth.tasks.vlm.predict import split_texts
    from bigearth.tasks.vlm.tiny import CHAT_TEMPLATE
    from bigearth.text.instruct import InstructDataset, PatchImages

    _, processor = load_hf_checkpoint(tiny)
    _, samples = split_texts(texts, "train", types=["binary"], limit=2)
    batch = InstructDataset(samples, PatchImages(mini_store, TRUE_COLOUR_BANDS, normalise=False)).__getitems__([0, 1])
    labels = TrainingCollate(processor, "tags")(batch)["labels"]
    answers = [processor.tokenizer.convert_ids_to_tokens(row[row != -100].tolist()) for row in labels]
    assert answers == [[sample.output, "[SEP]"] for sample in samples]  # the answer and the end of its turn only
    processor.chat_template = CHAT_TEMPLATE.replace("assistant:{% endif %}", "reply:{% endif %}")
    with pytest.raises(ConfigError, match="does not write the prompt"):
        TrainingCollate(processor, "tags")(batch)
