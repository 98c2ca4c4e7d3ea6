"""S1/S2 CLIP: the loss and the metrics against hand computations, the caption batch contract, training a tiny
recipe into a run folder on the 120-patch mini-reBEN, loading it back, ``bigearth search`` and its bad input."""

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

import bigearth.cli.search  # noqa: F401  (registers search)
from bigearth.cli.app import app
from bigearth.errors import ConfigError, CorruptDataError, MetadataError
from bigearth.features import model_transform, open_dataset
from bigearth.folders.clip import load_clip_model, read_clip_config
from bigearth.folders.format import describe_folder
from bigearth.models.clip import LOGIT_SCALE_INIT, LOGIT_SCALE_MAX, clip_loss
from bigearth.models.clip.model import caption_tokenizer
from bigearth.tasks.clip.config import load_clip_config
from bigearth.tasks.clip.data import CLIPDataModule, read_captions
from bigearth.tasks.clip.metrics import text_to_image_recall, zero_shot_report
from bigearth.tasks.clip.search import search
from bigearth.tasks.clip.train import build_clip_data, build_clip_task
from bigearth.tasks.registry import train_recipe
from bigearth.text.generate import GenerateSettings, generate

DEMO = Path(__file__).resolve().parents[1] / "configs" / "clip" / "demo-cpu.yaml"
QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]


def softplus(x: float) -> float:
    """log(1 + e^x)."""
    return math.log1p(math.exp(x))


# --- the loss -----------------------------------------------------------------------------------------------------


def test_clip_loss__matches_a_hand_computation() -> None:
    image = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    text = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    # logits_per_image = [[1, .6], [0, .8]], logits_per_text = [[1, 0], [.6, .8]] (scale 1); CE of a correct logit
    # a against a wrong b is log(1 + e^(b - a))
    expected = (softplus(-0.4) + softplus(-0.8) + softplus(-1.0) + softplus(-0.2)) / 4
    assert float(clip_loss(image, text, torch.tensor(1.0))) == pytest.approx(expected, rel=1e-6)
    # the scale multiplies every logit: scale 2 on identical pairs gives log(1 + e^-2) in both directions
    assert float(clip_loss(image, image, torch.tensor(2.0))) == pytest.approx(softplus(-2.0), rel=1e-6)


def test_clip_loss__logit_scale_constants_are_clips() -> None:
    assert math.exp(LOGIT_SCALE_INIT) == pytest.approx(1 / 0.07)
    assert math.exp(LOGIT_SCALE_MAX) == pytest.approx(100.0)


@pytest.mark.parametrize(
    ("image", "text", "scale", "message"),
    [
        (torch.ones(1, 4), torch.ones(1, 4), torch.tensor(1.0), "at least 2"),
        (torch.ones(3, 4), torch.ones(2, 4), torch.tensor(1.0), "must both be"),
        (torch.ones(3, 4), torch.ones(3, 4), torch.ones(2), "scalar"),
    ],
)
def test_clip_loss__errors(image: torch.Tensor, text: torch.Tensor, scale: torch.Tensor, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        clip_loss(image, text, scale)


# --- the metrics --------------------------------------------------------------------------------------------------


def test_text_to_image_recall__matches_a_hand_computation() -> None:
    images = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    texts = torch.tensor([[1.0, 0.0], [0.8, 0.6]])
    # caption 0: similarities (1, 0, .6), its patch 0 first; caption 1: (.8, .6, .96), its patch 1 third
    recall = text_to_image_recall(texts, images, torch.tensor([0, 1]), ks=(1, 2, 3))
    assert recall == {1: 0.5, 2: 0.5, 3: 1.0}


def test_text_to_image_recall__ties_count_against_the_caption() -> None:
    images = torch.ones(4, 2) / math.sqrt(2)  # a collapsed model: every patch alike
    recall = text_to_image_recall(images[:2], images, torch.tensor([0, 3]), ks=(1, 4))
    assert recall == {1: 0.0, 4: 1.0}


def test_text_to_image_recall__errors() -> None:
    with pytest.raises(ValueError, match="owners"):
        text_to_image_recall(torch.ones(1, 2), torch.ones(2, 2), torch.tensor([2]))
    with pytest.raises(ValueError, match="at least 1"):
        text_to_image_recall(torch.ones(1, 2), torch.ones(2, 2), torch.tensor([0]), ks=(0,))


def test_zero_shot_report__macro_and_micro_ap_by_hand() -> None:
    scores = torch.tensor([[0.9, 0.2], [0.5, 0.3], [0.1, -0.5]])
    labels = torch.tensor([[1, 0], [0, 1], [1, 0]])
    report = zero_shot_report(scores, labels, ("a", "b"))
    # class a: positives ranked 1st and 3rd -> (1/1 + 2/3) / 2; class b: its positive ranked 1st -> 1
    assert report["per_class_ap"]["a"] == pytest.approx(5 / 6)
    assert report["macro_ap"] == pytest.approx((5 / 6 + 1) / 2)
    # pooled: + - + - + -  -> precisions 1, 2/3, 3/5 at the positives
    assert report["micro_ap"] == pytest.approx((1 + 2 / 3 + 3 / 5) / 3)


# --- data ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def texts(mini_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clip") / "texts.parquet"
    generate(mini_store, out, settings=GenerateSettings(captions=2))
    return out


@pytest.fixture(scope="module")
def datamodule(mini_store: Path, texts: Path) -> CLIPDataModule:
    config = load_clip_config(DEMO)
    return CLIPDataModule(mini_store, texts, "s1s2", tokenizer=caption_tokenizer(config.model), batch_size=8)


def test_read_captions__refuses_a_file_without_captions(mini_store: Path, tmp_path: Path) -> None:
    out = tmp_path / "no-captions.parquet"
    generate(mini_store, out, settings=GenerateSettings(captions=0))
    with pytest.raises(MetadataError, match="no 'captioning' row"):
        read_captions(out)


def test_caption_batches__training_pairs_one_caption_per_patch(datamodule: CLIPDataModule) -> None:
    dataset = datamodule.dataset("train")
    captions = datamodule.split("train")
    assert len(dataset) == captions["patch_id"].nunique()
    assert dataset.num_captions == len(captions)
    batch = datamodule.on_after_batch_transfer(dataset.__getitems__(list(range(8))), 0)
    assert batch["image"].shape == (8, 14, 120, 120)
    assert batch["image"].dtype == torch.float32
    assert batch["label"].shape == (8, 19)
    assert batch["input_ids"].shape[0] == 8
    assert batch["input_ids"].dtype == torch.int64
    assert batch["attention_mask"].shape == batch["input_ids"].shape
    assert batch["pair"].tolist() == list(range(8))
    assert batch["caption_image"].tolist() == list(range(8))
    # each caption belongs to the patch it is paired with
    owners = captions["patch_id"].to_numpy()[batch["caption_id"].numpy()]
    assert list(owners) == batch["patch_id"]


def test_caption_batches__evaluation_holds_every_caption(datamodule: CLIPDataModule) -> None:
    dataset = datamodule.dataset("test")
    captions = datamodule.split("test")
    batch = dataset.__getitems__([0, 1, 2])
    per_patch = captions.groupby("patch_id").size()
    assert len(batch["caption_id"]) == sum(per_patch[name] for name in batch["patch_id"])
    owners = captions["patch_id"].to_numpy()[batch["caption_id"].numpy()]
    assert list(owners) == [batch["patch_id"][i] for i in batch["caption_image"].tolist()]
    assert [batch["caption_image"][p].item() for p in batch["pair"].tolist()] == [0, 1, 2]


# --- training, the model folder, search ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_run(mini_store: Path, texts: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    overrides = [
        *QUIET,
        f"data.texts={texts}",
        "trainer.max_epochs=1",
        "data.batch_size=16",
        "model.embed_dim=32",
        "trainer.log_every_n_steps=1",
    ]
    return train_recipe(DEMO, data=mini_store, out=tmp_path_factory.mktemp("runs") / "clip", overrides=overrides)


def test_training_writes_a_complete_run(trained_run: Path) -> None:
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["task"] == "clip"
    assert metrics["epochs_trained"] == 1
    for split in ("untrained", "validation", "test"):
        report = metrics[split]
        assert set(report["text_to_image_recall"]) == {"@1", "@5", "@10"}
        assert 0 <= report["zero_shot"]["macro_ap"] <= 1
    assert metrics["untrained"]["logit_scale"] == pytest.approx(1 / 0.07, rel=1e-5)
    logged = pd.read_csv(trained_run / "logs" / "metrics.csv")
    assert logged["train/logit_scale"].dropna().le(100).all()
    assert describe_folder(trained_run).kind == "clip"


@pytest.mark.slow
def test_a_resumed_run_reports_the_untrained_network_too(
    trained_run: Path, mini_store: Path, texts: Path, tmp_path: Path
) -> None:
    interrupted = tmp_path / "clip"
    shutil.copytree(trained_run, interrupted)
    (interrupted / "metrics.json").unlink()  # stopped after its first epoch, before the results
    overrides = [*QUIET, f"data.texts={texts}", "trainer.max_epochs=2", "data.batch_size=16", "model.embed_dim=32",
                 "trainer.log_every_n_steps=1"]  # fmt: skip
    train_recipe(DEMO, data=mini_store, out=interrupted, overrides=overrides)
    metrics = json.loads((interrupted / "metrics.json").read_text())
    assert metrics["epochs_trained"] == 2
    untrained = metrics["untrained"]
    assert untrained["logit_scale"] == pytest.approx(1 / 0.07, rel=1e-5)  # exp(log(1 / 0.07)): nothing trained
    # the same seed builds the same network as the uninterrupted run's before training
    fresh = json.loads((trained_run / "metrics.json").read_text())["untrained"]
    assert untrained["zero_shot"]["macro_ap"] == pytest.approx(fresh["zero_shot"]["macro_ap"], abs=1e-6)
    assert untrained["text_to_image_recall"] == pytest.approx(fresh["text_to_image_recall"], abs=1e-6)


def test_the_model_folder_reloads_the_trained_network(trained_run: Path, mini_store: Path, texts: Path) -> None:
    network, tokenizer = load_clip_model(trained_run)
    config = read_clip_config(trained_run)
    assert config["network"]["embed_dim"] == 32
    recipe = load_clip_config(trained_run / "config.yaml")
    datamodule = CLIPDataModule(mini_store, texts, "s1s2", tokenizer=tokenizer, batch_size=4)
    batch = datamodule.on_after_batch_transfer(datamodule.dataset("test").__getitems__([0, 1]), 0)
    checkpoint = next((trained_run / "checkpoints").glob("best-*.ckpt"))
    task = build_clip_task(recipe, datamodule)
    task.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=False)["state_dict"])
    task.eval()
    with torch.no_grad():
        inputs = (batch["image"], batch["input_ids"], batch["attention_mask"])
        for left, right in zip(network(*inputs), task.network(*inputs), strict=True):
            torch.testing.assert_close(left, right)


def test_search__returns_the_best_k_with_cosine_scores(trained_run: Path, mini_store: Path) -> None:
    network, tokenizer = load_clip_model(trained_run)
    result = search(network, tokenizer, mini_store, "arable land next to forests", k=5, split="test")
    assert len(result.patch_ids) == 5
    assert len(set(result.patch_ids)) == 5
    assert result.scores == sorted(result.scores, reverse=True)
    assert all(-1 <= s <= 1 for s in result.scores)
    # the best score is the cosine of the query's and the best patch's embeddings, computed here from the parts
    tokens = tokenizer.encode(["arable land next to forests"])
    dataset = open_dataset(network, mini_store, split="test").restrict(result.patch_ids[:1])
    image = model_transform(network)(dataset.__getitems__([0])["groups"])
    with torch.no_grad():
        text = network.encode_text(tokens.input_ids, tokens.attention_mask)[0]
        expected = float(network.encode_image(image)[0] @ text)
    assert result.scores[0] == pytest.approx(expected, abs=1e-5)
    everything = search(network, tokenizer, mini_store, "arable land next to forests", k=10_000, split="test")
    assert everything.patch_ids[:5] == result.patch_ids
    assert len(everything.patch_ids) == everything.searched


def test_search_command__table_json_and_contact_sheet(trained_run: Path, mini_store: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "sheet.png"
    arguments = ["search", str(trained_run), "coastal wetlands next to marine waters", "--data", str(mini_store),
                 "--k", "3", "--json", "--sheet", str(sheet)]  # fmt: skip
    result = CliRunner().invoke(app, arguments)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert len(payload["matches"]) == 3
    assert payload["searched"] > 3
    assert sheet.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    ("arguments", "message"), [(["  "], "describe what to find"), (["wetlands", "--k", "0"], "0 is below 1")]
)
def test_search_command__bad_input(trained_run: Path, mini_store: Path, arguments: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["search", str(trained_run), *arguments, "--data", str(mini_store)])
    assert result.exit_code != 0
    assert message in " ".join(result.output.split())


def test_search__refuses_a_model_of_another_kind(tmp_path: Path) -> None:
    from bigearth.folders.classifier import save_model
    from bigearth.models.classifier import SceneClassifier
    from bigearth.models.metadata import ModelMetadata

    save_model(SceneClassifier(ModelMetadata.create("resnet10t_slim", "s1s2")), tmp_path / "model")
    with pytest.raises(CorruptDataError, match="not a CLIP model"):
        load_clip_model(tmp_path / "model")


def test_recipe_errors() -> None:
    with pytest.raises(ConfigError, match="batch_size"):
        load_clip_config(DEMO, ["data.batch_size=1"])
    with pytest.raises(ConfigError, match="prompt"):
        load_clip_config(DEMO, ["model.prompt=no placeholder"])


def test_the_published_recipe_builds_its_network_and_takes_a_loss() -> None:
    from bigearth.models.clip import CLIPModel
    from bigearth.models.metadata import ModelMetadata

    config = load_clip_config(DEMO.parent / "resnet50-s1s2-minilm.yaml")
    assert (config.model.image_encoder, config.model.text_encoder, config.model.embed_dim) == (
        "resnet50",
        "minilm-l6",
        512,
    )
    assert (config.optimizer.name, config.optimizer.weight_decay, config.trainer["precision"]) == (
        "adamw",
        0.1,
        "bf16-mixed",
    )
    network = CLIPModel(config.model.network(), ModelMetadata.create("resnet50", config.data.bands))
    tokens = caption_tokenizer(config.model).encode(["This image shows arable land.", "Mixed forest by a lake."])
    images, texts, scale = network(torch.randn(2, 14, 120, 120), tokens.input_ids, tokens.attention_mask)
    assert images.shape == texts.shape == (2, 512)
    assert math.isfinite(float(clip_loss(images, texts, scale)))


def test_training_refuses_texts_with_a_split_of_one_patch(mini_store: Path, texts: Path, tmp_path: Path) -> None:
    frame = pd.read_parquet(texts)
    validation = frame["split"] == "validation"
    first = frame.loc[validation, "patch_id"].iloc[0]
    frame[~validation | (frame["patch_id"] == first)].to_parquet(tmp_path / "one.parquet")
    config = load_clip_config(DEMO, [f"data.path={mini_store}", f"data.texts={tmp_path / 'one.parquet'}"])
    with pytest.raises(ConfigError, match=r"fewer than 2 patches in \['validation'\]"):
        build_clip_data(config)
