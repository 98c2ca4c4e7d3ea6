"""VQA end to end on the 120-patch mini-reBEN: question files, the batch contract, metrics against a hand
computation, training a tiny recipe into a run folder, every shipped recipe's settings and one step, and asking."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import bigearth.cli.vqa  # noqa: F401  (registers ask)
from bigearth.cli.app import app
from bigearth.errors import ConfigError, MetadataError, MissingDataError
from bigearth.folders.classifier import load_model, save_model
from bigearth.folders.vqa import load_vqa_model
from bigearth.folders.weights import load_backbone_weights
from bigearth.models.classifier import SceneClassifier
from bigearth.models.metadata import ModelMetadata
from bigearth.models.vqa import QuestionError, QuestionTokenizer
from bigearth.models.vqa.answers import OUTSIDE
from bigearth.tasks.registry import train_recipe
from bigearth.tasks.run import RunFolder
from bigearth.tasks.vqa.config import load_vqa_config
from bigearth.tasks.vqa.data import VQADataModule
from bigearth.tasks.vqa.metrics import VQAReport, VQAScores, per_answer_f1, vqa_report
from bigearth.tasks.vqa.questions import read_questions
from bigearth.tasks.vqa.train import build_vqa_data, build_vqa_task
from bigearth.text.generate import GenerateSettings, generate
from bigearth.text.rsvqa import generate_rsvqa

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "vqa"
DEMO = CONFIGS / "demo-cpu.yaml"
QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
#: Tiny and quick: every other setting is the recipe's own.
SMALL = ["data.batch_size=2", "data.num_workers=0", "trainer.accelerator=cpu", "trainer.devices=1",
         "trainer.precision=32-true"]  # fmt: skip


def text(result) -> str:
    """A command's output with rich's line wrapping undone."""
    return " ".join(result.output.split())


@pytest.fixture(scope="module")
def questions(mini_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("vqa") / "qa.parquet"
    generate_rsvqa(mini_store, out, seed=3)
    return out


@pytest.fixture(scope="module")
def texts(mini_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("vqa") / "texts.parquet"
    generate(mini_store, out, settings=GenerateSettings(captions=0))
    return out


@pytest.fixture(scope="module")
def datamodule(mini_store: Path, questions: Path) -> VQADataModule:
    return VQADataModule(mini_store, questions, 10, tokenizer=QuestionTokenizer(), batch_size=8, num_answers=50)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An (untrained) S1+S2 classifier folder, standing in for the demo's demo/run/model as image weights."""
    folder = tmp_path_factory.mktemp("classifier") / "model"
    save_model(SceneClassifier(ModelMetadata.create("resnet10t_slim", "s1s2", class_order="alphabetical")), folder)
    return folder


@pytest.fixture(scope="module")
def trained_run(mini_store: Path, questions: Path, classifier: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    overrides = [*QUIET, f"data.questions={questions}", "trainer.max_epochs=2", "model.num_answers=40",
                 f"model.image_weights={classifier}"]  # fmt: skip
    return train_recipe(DEMO, data=mini_store, out=tmp_path_factory.mktemp("runs") / "vqa", overrides=overrides)


# ---- question files ----


def test_rsvqa_and_bigearthnet_txt_files_are_read_alike(questions: Path, texts: Path) -> None:
    rsvqa = read_questions(questions)
    assert rsvqa.kind == "rsvqa"
    assert set(rsvqa.frame["type"]) == {"yes/no", "land cover"}
    assert set(rsvqa.frame["split"]) == {"train", "validation", "test"}
    txt = read_questions(texts)
    assert txt.kind == "bigearthnet.txt"
    assert set(txt.frame["type"]) == {"yes/no", "multiple choice"}
    assert set(txt.frame.loc[txt.frame["type"] == "multiple choice", "answer"]) <= set("abcd")
    assert set(read_questions(texts, text_types=["binary"]).frame["type"]) == {"yes/no"}
    with pytest.warns(FutureWarning, match="multiple_choice"):  # a recipe's earlier name still reads
        old = read_questions(texts, text_types=["binary", "multiple_choice"])
    pd.testing.assert_frame_equal(old.frame, txt.frame)
    with pytest.raises(ConfigError, match=r"must name some of \['binary', 'mcq'\]"):
        read_questions(texts, text_types=["captioning"])
    assert list(rsvqa.frame.columns) == list(txt.frame.columns)


def test_bad_question_files(questions: Path, tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match="bigearth text rsvqa"):
        read_questions(tmp_path / "none.parquet")
    frame = pd.read_parquet(questions)
    frame.drop(columns=["answer"]).to_parquet(tmp_path / "columns.parquet")
    with pytest.raises(MetadataError, match="answer"):
        read_questions(tmp_path / "columns.parquet")
    frame.assign(question=frame["question"].where(frame.index != 3, "  ")).to_parquet(tmp_path / "empty.parquet")
    with pytest.raises(QuestionError, match=frame.loc[3, "ID"]):
        read_questions(tmp_path / "empty.parquet")
    frame.assign(split="holdout").to_parquet(tmp_path / "split.parquet")
    with pytest.raises(MetadataError, match="split"):
        read_questions(tmp_path / "split.parquet")
    (tmp_path / "text.parquet").write_text("not parquet")
    with pytest.raises(Exception, match="parquet"):
        read_questions(tmp_path / "text.parquet")


def test_questions_about_patches_the_data_lacks(mini_store: Path, questions: Path, tmp_path: Path) -> None:
    frame = pd.read_parquet(questions)
    frame.loc[0, "patch_id"] = "S2A_MSIL2A_20990101T000000_N9999_R001_T33UUP_00_00"
    frame.to_parquet(tmp_path / "qa.parquet")
    data = VQADataModule(mini_store, tmp_path / "qa.parquet", 10, tokenizer=QuestionTokenizer())
    split = frame.loc[0, "split"]
    with pytest.raises(MissingDataError, match="does not hold"):
        data.dataset(split)


# ---- the batch contract ----


def test_batches_share_images_and_questions(datamodule: VQADataModule) -> None:
    dataset = datamodule.dataset("train")
    assert not dataset.group_by_image
    assert len(dataset) == dataset.num_questions
    rows = list(range(0, 60, 3))
    batch = datamodule.on_after_batch_transfer(dataset.__getitems__(rows), 0)
    count = len(rows)
    images = len(batch["patch_id"])
    assert batch["image"].shape == (images, 10, 120, 120)
    assert batch["image"].dtype == torch.float32
    for key in ("image_index", "question_index", "answer", "type", "category", "sample"):
        assert batch[key].shape == (count,), key
        assert batch[key].dtype == torch.int64, key
    assert batch["input_ids"].shape == batch["attention_mask"].shape
    assert batch["input_ids"].dtype == torch.int64
    assert batch["input_ids"].shape[0] == len(set(batch["question_index"].tolist())) <= count
    # each question's tokens and image are its own
    frame = datamodule.questions.split("train")
    expected = datamodule.tokenizer.encode(frame["question"].iloc[rows].tolist())
    got = batch["input_ids"][batch["question_index"]]
    torch.testing.assert_close(got, expected.input_ids[:, : got.shape[1]])
    assert [batch["patch_id"][i] for i in batch["image_index"]] == frame["patch_id"].iloc[rows].tolist()
    assert batch["sample"].tolist() == rows
    answers = frame["answer"].iloc[rows].tolist()
    assert batch["answer"].tolist() == [datamodule.answers.index(a) for a in answers]


def test_evaluation_batches_hold_whole_images(datamodule: VQADataModule) -> None:
    dataset = datamodule.dataset("validation")
    assert dataset.group_by_image
    assert len(dataset) == dataset.num_images
    batch = dataset.__getitems__([0, 1])
    frame = datamodule.questions.split("validation")
    assert len(batch["answer"]) == int(frame["patch_id"].isin(batch["patch_id"]).sum())
    seen = torch.cat([dataset.__getitems__([i])["sample"] for i in range(len(dataset))])
    assert sorted(seen.tolist()) == list(range(len(frame)))  # each question exactly once


def test_answer_vocabulary_comes_from_training_questions(datamodule: VQADataModule) -> None:
    train = datamodule.questions.split("train")["answer"]
    assert len(datamodule.answers) == 50
    assert datamodule.answers.answers[:2] in (("yes", "no"), ("no", "yes"))
    assert datamodule.answers.counts[0] == train.value_counts().iloc[0]
    assert datamodule.types == ("yes/no", "land cover")


# ---- metrics ----


def test_report_matches_a_hand_computation() -> None:
    predictions = torch.tensor([0, 1, 1, 2, 3, 3, 0])
    answers = torch.tensor([0, 0, 1, 2, 2, OUTSIDE, 0])
    types = torch.tensor([0, 0, 0, 1, 1, 1, 0])
    categories = torch.tensor([0, 1, 1, 2, 2, 2, 0])
    report = vqa_report(predictions, answers, types, categories, type_names=("yes/no", "land cover"),
                        category_names=("a", "b", "c"), num_answers=4)  # fmt: skip
    assert report.overall_accuracy == pytest.approx(4 / 7)
    assert report.type_accuracy == pytest.approx((3 / 4, 1 / 3))
    assert report.average_accuracy == pytest.approx((3 / 4 + 1 / 3) / 2)
    assert report.category_accuracy == pytest.approx((1.0, 0.5, 1 / 3))
    # per-answer F1 over the right answers present: 0 (2/3, 1 of 3 found... by hand), 1, 2, outside
    f1 = {0: 2 * 1.0 * (2 / 3) / (1.0 + 2 / 3), 1: 2 * 0.5 * 1.0 / 1.5, 2: 2 * 1.0 * 0.5 / 1.5, "outside": 0.0}
    assert report.macro_f1 == pytest.approx(np.mean(list(f1.values())))
    assert (report.answers_present, report.outside_vocabulary) == (3, 1)
    assert report.scalars()["accuracy_yes_no"] == pytest.approx(0.75)
    restored = VQAReport.from_dict(json.loads(json.dumps(report.to_dict())))  # values rounded to 6 places
    assert restored.type_accuracy == pytest.approx(report.type_accuracy, abs=1e-6)
    assert restored.categories == report.categories
    with pytest.raises(ValueError, match="empty"):
        vqa_report(predictions[:0], answers[:0], types[:0], categories[:0], type_names=("x",), category_names=("y",),
                   num_answers=4)  # fmt: skip


def test_per_answer_f1_equals_torchmetrics_in_linear_memory() -> None:
    from torchmetrics.functional.classification import multiclass_f1_score

    generator = torch.Generator().manual_seed(0)
    predictions = torch.randint(0, 40, (3000,), generator=generator)
    targets = torch.randint(0, 38, (3000,), generator=generator)  # two answers never right
    expected = multiclass_f1_score(predictions, targets, 40, average=None)
    assert torch.allclose(per_answer_f1(predictions, targets, 40), expected, atol=1e-6)


def test_scores_count_each_question_once() -> None:
    scores = VQAScores()
    one = torch.tensor([1, 2])
    scores.update(one, one, torch.tensor([0, 0]), torch.tensor([0, 1]), torch.tensor([10, 11]))
    scores.update(one, one, torch.tensor([0, 0]), torch.tensor([0, 1]), torch.tensor([11, 12]))  # 11 again
    predictions, _, _, categories = scores.columns()
    assert predictions.tolist() == [1, 2, 2]
    assert categories.tolist() == [0, 1, 1]


# ---- training ----


def test_training_writes_a_complete_run_folder(trained_run: Path) -> None:
    for name in ("config.yaml", "metrics.json", "model/config.json", "model/model.safetensors", "model/vocab.txt",
                 "model/answers.json", "logs/metrics.csv", "checkpoints/last.ckpt", "plots/category_accuracy.png",
                 "plots/training_curves.png"):  # fmt: skip
        assert (trained_run / name).is_file(), name
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["selected_on"] == "val/average_accuracy (highest)"
    test = metrics["test"]
    assert set(test["type_accuracy"]) == {"yes/no", "land cover"}
    assert 0 <= test["average_accuracy"] <= 1
    assert test["samples"] > 100
    model, tokenizer = load_vqa_model(trained_run)
    assert len(model.answers) == metrics["answers"] <= 40
    assert tokenizer.max_length == 32


def test_finished_and_foreign_runs_are_refused(
    trained_run: Path, mini_store: Path, questions: Path, classifier: Path
) -> None:
    with pytest.raises(ConfigError, match="finished run"):
        train_recipe(DEMO, data=mini_store, out=trained_run,
                     overrides=[f"data.questions={questions}", f"model.image_weights={classifier}"])  # fmt: skip
    with pytest.raises(ConfigError, match=r"data\.questions"):
        train_recipe(DEMO, data=mini_store, out=None, overrides=[])


def test_train_given_a_run_folder_resumes_its_own_task(trained_run: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", str(trained_run)])  # a VQA run, not a classification recipe
    assert result.exit_code == 1
    assert "finished run" in text(result), result.output
    result = CliRunner().invoke(app, ["train", str(tmp_path)])
    assert result.exit_code == 1
    assert "no run folder" in text(result), result.output


def test_question_only_recipe_trains_without_reading_images(mini_store: Path, questions: Path) -> None:
    config = load_vqa_config(CONFIGS / "demo-cpu-question-only.yaml", [f"data.path={mini_store}",
                             f"data.questions={questions}"])  # fmt: skip
    assert config.model.question_only
    datamodule = build_vqa_data(config)
    batch = datamodule.dataset("train").__getitems__([0, 1, 2])
    assert "groups" not in batch
    assert "image" not in batch
    task = build_vqa_task(config, datamodule)
    assert task.network.image is None
    assert task(batch).shape == (len(batch["answer"]), len(datamodule.answers))


def test_the_demo_image_encoder_is_a_frozen_classifier(
    mini_store: Path, questions: Path, classifier: Path, tmp_path: Path
) -> None:
    overrides = [f"data.path={mini_store}", f"data.questions={questions}"]
    with pytest.raises(ConfigError, match="image_weights"):
        load_vqa_config(DEMO, [*overrides, "model.image_weights=null"])
    config = load_vqa_config(DEMO, [*overrides, f"model.image_weights={classifier}"])
    assert config.model.freeze_image
    datamodule = build_vqa_data(config)
    task = build_vqa_task(config, datamodule).train()
    backbone = task.network.image.backbone
    head = backbone.get_classifier()
    assert all(p.requires_grad for p in head.parameters())
    assert not any(p.requires_grad for name, p in backbone.named_parameters() if not name.startswith("fc."))
    assert task.network.text.training
    assert head.training
    assert not backbone.training  # fixed batch-norm statistics
    assert all(p.requires_grad for p in task.network.text.parameters())
    # the classifier's weights are loaded when training starts, and only for the bands it was trained on
    load_backbone_weights(backbone, classifier, bands=task.metadata.bands)
    expected = load_model(classifier).backbone.state_dict()
    assert all(torch.equal(value, expected[key]) for key, value in backbone.state_dict().items() if "fc." not in key)
    with pytest.raises(ConfigError, match="trained on bands"):
        load_backbone_weights(backbone, classifier, bands=task.metadata.bands[::-1])


# ---- recipes ----


def test_published_recipe_holds_the_published_settings() -> None:
    config = load_vqa_config(CONFIGS / "lit4rsvqa-mobilevit_s.yaml")
    assert config.task == "vqa"
    model = config.model
    assert (model.text_encoder, model.image_encoder, model.fusion) == ("bert-tiny", "mobilevit_s", "product")
    assert (model.projection_dim, model.hidden_dim, model.num_answers, model.max_length) == (512, 256, 1000, 32)
    assert (model.lr, config.optimizer.name, config.optimizer.weight_decay) == (5e-4, "adamw", 0.01)
    assert (config.data.batch_size, config.data.bands, config.data.group_by_image) == (512, 10, False)
    assert config.scheduler.final_lr_fraction == 0.1
    assert config.scheduler.warmup_steps > 0


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda path: path.stem)
def test_recipe_trains_one_step(path: Path, mini_store: Path, questions: Path, texts: Path, classifier: Path) -> None:
    import lightning as L  # noqa: N812

    overrides = [*SMALL, f"data.path={mini_store}", f"data.questions={texts if 'txt' in path.stem else questions}"]
    if load_vqa_config(path).model.image_weights:  # the demo's classifier (demo/run/model) is not in a clean clone
        overrides.append(f"model.image_weights={classifier}")
    config = load_vqa_config(path, overrides)
    L.seed_everything(config.seed_everything)  # as `bigearth train` does
    datamodule = build_vqa_data(config)
    task = build_vqa_task(config, datamodule)
    before = [p.detach().clone() for p in task.network.parameters()]
    trainer = L.Trainer(**{**config.trainer, "max_epochs": 1}, fast_dev_run=1, logger=False,
                        enable_progress_bar=False, enable_model_summary=False)  # fmt: skip
    trainer.fit(task, datamodule=datamodule)
    after = list(task.network.parameters())
    assert all(torch.isfinite(p).all() for p in after)
    assert any(not torch.equal(a, b) for a, b in zip(before, after, strict=True))


# ---- asking ----


def patch_folders(root: Path, row: pd.Series) -> list[str]:
    """``--s2-dir`` and ``--s1-dir`` options of a patch's GeoTIFF folders in a release root."""
    s2 = next((root / "BigEarthNet-S2").glob(f"*/{row['patch_id']}"))
    s1 = next((root / "BigEarthNet-S1").glob(f"*/{row['s1_name']}"))
    return ["--s2-dir", str(s2), "--s1-dir", str(s1)]


def test_ask_answers_from_a_store_and_from_geotiff_folders(trained_run: Path, mini_store: Path,
                                                           mini_root: Path) -> None:  # fmt: skip
    runner = CliRunner()
    frame = pd.read_parquet(mini_store / "metadata.parquet")
    patch = frame["patch_id"].iloc[0]
    question = "Is there arable land in the image?"
    result = runner.invoke(app, ["ask", str(trained_run), "--data", str(mini_store), "--id", patch, question,
                                 "--json", "--top", "3"])  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert len(payload["answers"]) == 3
    assert payload["patch"] == patch
    assert payload["answers"][0]["score"] >= payload["answers"][1]["score"]
    folders = patch_folders(mini_root, frame.iloc[0])
    from_folder = runner.invoke(app, ["ask", str(trained_run), *folders, question, "--json", "--top", "3"])
    assert from_folder.exit_code == 0, from_folder.output
    assert json.loads(from_folder.output)["answers"] == payload["answers"]  # the same patch, the same answers
    table = runner.invoke(app, ["ask", str(trained_run), *folders, "Is there zzyzx \U0001f6f0?"])
    assert table.exit_code == 0
    assert "[UNK]" in text(table)


def test_ask_errors(trained_run: Path, mini_store: Path, mini_root: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    patch = pd.read_parquet(mini_store / "metadata.parquet")["patch_id"].iloc[0]
    cases = {
        "either --data": ["ask", str(trained_run), "Is there water?"],
        "not in the metadata": ["ask", str(trained_run), "--data", str(mini_store), "--id", "T00XXX_99_99", "Why?"],
        "ask a question": ["ask", str(trained_run), "--data", str(mini_store), "--id", patch, "   "],
    }
    for message, arguments in cases.items():
        result = runner.invoke(app, arguments)
        assert result.exit_code == 1, (message, result.output)
        assert message in text(result), (message, result.output)
    # a patch folder without a band the model reads; an S1+S2 model without the S1 folder
    _, s2_dir, _, s1_dir = patch_folders(mini_root, pd.read_parquet(mini_store / "metadata.parquet").iloc[0])
    partial = tmp_path / Path(s2_dir).name
    shutil.copytree(s2_dir, partial)
    next(partial.glob("*_B05.tif")).unlink()
    result = runner.invoke(app, ["ask", str(trained_run), "--s2-dir", str(partial), "--s1-dir", s1_dir, "Water?"])
    assert result.exit_code == 1
    assert "B05" in text(result)
    result = runner.invoke(app, ["ask", str(trained_run), "--s2-dir", s2_dir, "Is there water?"])
    assert result.exit_code == 1
    assert "VV" in text(result) or "s1" in text(result).lower(), result.output
    # a model folder of another layout version
    model = tmp_path / "model"
    shutil.copytree(RunFolder(trained_run).model_dir, model)
    config = json.loads((model / "config.json").read_text())
    (model / "config.json").write_text(json.dumps({**config, "vqa_format_version": 0}))
    result = runner.invoke(app, ["ask", str(model), "--data", str(mini_store), "--id", patch, "Is there water?"])
    assert result.exit_code == 1
    assert "layout version 0" in text(result)


def test_the_fixed_image_encoder_keeps_its_batch_norm_statistics(trained_run: Path, classifier: Path) -> None:
    """Lightning's validation restores each module's mode without train(): the fixed body must stay in eval mode."""
    from safetensors.torch import load_file

    before = load_file(classifier / "model.safetensors")
    after = load_file(trained_run / "model" / "model.safetensors")
    buffers = [name for name in before if "running_" in name or "num_batches_tracked" in name]
    assert buffers
    for name in buffers:
        (key,) = [key for key in after if key.endswith(f"image.backbone.{name}")]
        torch.testing.assert_close(after[key], before[name], rtol=0, atol=0)
