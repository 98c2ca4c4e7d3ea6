"""The built-in VLM end to end on the 120-patch mini-reBEN: the batch contract, the loss falling on a batch,
``bigearth train configs/vlm/tiny.yaml`` into a complete run folder, ``bigearth vlm predict`` on its model, and bad
input."""

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

import bigearth.cli.vlm  # noqa: F401  (registers the vlm commands)
from bigearth.cli.app import app
from bigearth.data.dataset import finish_batch
from bigearth.errors import ConfigError, CorruptDataError
from bigearth.folders.classifier import save_model
from bigearth.folders.vlm_small import load_small_vlm
from bigearth.models.classifier import SceneClassifier
from bigearth.models.metadata import ModelMetadata
from bigearth.models.vlm.tokenizer import read_boxes
from bigearth.tasks.registry import train_recipe
from bigearth.tasks.vlm.small.config import SmallVLMTrainConfig, load_small_vlm_config
from bigearth.tasks.vlm.small.train import build_small_vlm
from bigearth.text.generate import GenerateSettings, generate
from bigearth.text.schema import TEXT_TYPES

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "vlm"
TINY = CONFIGS / "tiny.yaml"
QUICK = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false", "trainer.max_epochs=1",
         "trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "trainer.limit_test_batches=1",
         "model.max_new_tokens=4", "data.batch_size=2"]  # fmt: skip


@pytest.fixture(scope="module")
def texts(mini_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("vlm") / "texts.parquet"
    generate(mini_store, out, settings=GenerateSettings(captions=1))
    return out


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An (untrained) S1+S2 classifier folder, standing in for the demo's demo/run/model."""
    folder = tmp_path_factory.mktemp("encoder") / "model"
    save_model(SceneClassifier(ModelMetadata.create("resnet10t_slim", "s1s2")), folder)
    return folder


@pytest.fixture(scope="module")
def run(mini_store: Path, texts: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "vlm"
    return train_recipe(TINY, data=mini_store, out=out, overrides=[*QUICK, f"data.texts={texts}"])


def recipe(path: Path, mini_store: Path, texts: Path, *overrides: str) -> SmallVLMTrainConfig:
    return load_small_vlm_config(path, [*QUICK, f"data.path={mini_store}", f"data.texts={texts}", *overrides])


def test_batches_hold_whole_patches_and_mark_the_targets(mini_store: Path, texts: Path, tmp_path: Path) -> None:
    _, datamodule = build_small_vlm(recipe(TINY, mini_store, texts), tmp_path)
    dataset = datamodule.dataset("train")
    batch = dataset.__getitems__([0, 1])
    rows = dataset.texts.iloc[batch["sample"].numpy()]
    assert rows["patch_id"].nunique() == 2 == len(batch["patch_id"])
    assert set(rows["patch_id"]) == set(batch["patch_id"])
    tokenizer = datamodule.encoder.tokenizer
    for i, (_, row) in enumerate(rows.iterrows()):
        ids = batch["input_ids"][i][batch["attention_mask"][i].bool()].tolist()
        prompt, target = tokenizer.pieces([row["input"]])[0], tokenizer.pieces([row["target"]])[0]
        assert ids == [tokenizer.cls_id, *prompt, tokenizer.sep_id, *target, tokenizer.sep_id]
        # the marked positions predict exactly the target and the closing [SEP]
        predicted = [ids[t + 1] for t in batch["target_mask"][i].nonzero().flatten().tolist()]
        assert predicted == [*target, tokenizer.sep_id]
        assert batch["patch_id"][int(batch["image_index"][i])] == row["patch_id"]
    boxes = dataset.texts[dataset.texts["type"] == "bounding box"].iloc[0]
    written = [value for box in json.loads(read_boxes(boxes["target"])) for value in box]
    released = [value for box in json.loads(boxes["output"]) for value in box]
    assert written == pytest.approx(released, abs=0.005 + 1e-9)  # whole percents: half a percent at most


@pytest.mark.slow
@pytest.mark.parametrize("overrides", [("model.concept_tokens=false",), ()], ids=["cells", "cells+concepts"])
def test_loss_falls_on_a_batch(mini_store: Path, texts: Path, tmp_path: Path, overrides: tuple[str, ...]) -> None:
    torch.manual_seed(0)
    task, datamodule = build_small_vlm(recipe(TINY, mini_store, texts, *overrides), tmp_path)
    task.log = lambda *args, **kwargs: None  # no trainer here
    batch = finish_batch(datamodule.dataset("train").__getitems__([0]), datamodule.transform)
    optimiser = torch.optim.AdamW(task.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        optimiser.zero_grad()
        loss = task.shared_step(batch, "train")
        loss.backward()
        optimiser.step()
        losses.append(loss.detach().item())
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.slow
def test_training_writes_a_complete_run_folder(run: Path, texts: Path) -> None:
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["task"] == "vlm"
    assert metrics["epochs_trained"] == 1
    scores = pd.DataFrame(metrics["test"]["scores"])
    assert set(scores["type"]) == set(TEXT_TYPES)
    frame = pd.read_parquet(texts)
    test = frame[frame["split"] == "test"]
    predictions = pd.read_parquet(run / "scores" / "predictions.parquet")
    assert sorted(predictions["ID"]) == sorted(test["ID"])
    assert metrics["test"]["generation"]["rows"] == len(test)
    for name in ("scores.csv", "scores.png", "generation.json"):
        assert (run / "scores" / name).is_file()
    model, tokenizer = load_small_vlm(run)
    assert model.vocab_size == tokenizer.vocab_size == metrics["vocab_size"]


@pytest.mark.slow
def test_vlm_predict_dispatches_to_the_builtin_model(run: Path, mini_store: Path, texts: Path, tmp_path: Path) -> None:
    out = tmp_path / "predictions.parquet"
    arguments = ["vlm", "predict", str(run / "model"), "--data", str(mini_store), "--texts", str(texts), "--out",
                 str(out), "--limit", "6", "--max-new-tokens", "3"]  # fmt: skip
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    assert len(pd.read_parquet(out)) == 6


@pytest.mark.slow
def test_an_encoder_folder_is_loaded_and_kept_fixed(
    mini_store: Path, texts: Path, encoder: Path, tmp_path: Path
) -> None:
    config = recipe(CONFIGS / "demo-cpu.yaml", mini_store, texts, f"model.encoder={encoder}")
    task, datamodule = build_small_vlm(config, tmp_path)
    assert task.encoder_weights == str(encoder)
    assert datamodule.transform.bands == ModelMetadata.create("any", "s1s2").bands
    assert not any(parameter.requires_grad for parameter in task.network.encoder.parameters())
    task.train()
    assert not task.network.encoder.training  # batch-norm statistics stay the pretrained ones
    # through Lightning too: its validation (the sanity check first) restores each module's mode without train()
    run = train_recipe(CONFIGS / "demo-cpu.yaml", data=mini_store, out=tmp_path / "run",
                       overrides=[*QUICK, f"data.texts={texts}", f"model.encoder={encoder}"])  # fmt: skip
    before = load_file(encoder / "model.safetensors")
    after = load_file(run / "model" / "model.safetensors")
    buffers = [name for name in before if "running_" in name or "num_batches_tracked" in name]
    assert buffers
    for name in buffers:
        torch.testing.assert_close(after[f"encoder.model.backbone.{name}"], before[name], rtol=0, atol=0)


def test_bad_input(mini_store: Path, texts: Path, encoder: Path, tmp_path: Path) -> None:
    frame = pd.read_parquet(texts)
    no_boxes = tmp_path / "no-boxes.parquet"
    frame[frame["type"] != "bounding box"].to_parquet(no_boxes)
    with pytest.raises(ConfigError, match="bounding box"):
        build_small_vlm(recipe(TINY, mini_store, no_boxes), tmp_path)
    with pytest.raises(ConfigError, match="encoder"):
        build_small_vlm(recipe(TINY, mini_store, texts, f"model.encoder={encoder}", "data.bands=s2"), tmp_path)
    with pytest.raises(ConfigError, match="no texts"):
        build_small_vlm(load_small_vlm_config(TINY, [f"data.path={mini_store}"]), tmp_path)
    with pytest.raises(CorruptDataError, match="not the built-in VLM"):
        load_small_vlm(encoder)
