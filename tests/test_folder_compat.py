"""Model folders written before the architecture change (issue 17) load and compute as they did then.

The folders in ``tests/fixtures/folders-30452a2`` and their ``expected.json`` outputs were written by bigearth at
commit 30452a2; here today's loaders read them and recompute the outputs on the same seeded inputs.
"""

import json
import shutil
from pathlib import Path

import pytest
import torch

from bigearth.folders.classifier import load_model
from bigearth.folders.encoders import load_encoder
from bigearth.folders.format import describe_folder
from bigearth.folders.segmenter import load_segmenter
from bigearth.folders.vqa import load_vqa_model

FOLDERS = Path(__file__).parent / "fixtures" / "folders-30452a2"
EXPECTED = json.loads((FOLDERS / "expected.json").read_text())


def seeded_images(entry: dict) -> torch.Tensor:
    torch.manual_seed(entry["seed"])
    return torch.randn(*entry["input"])


@pytest.mark.parametrize("name", ["classifier", "ssl-encoder", "classifier-slim"])
def test_classifier_folders_load_and_predict_as_written(name: str) -> None:
    model = load_model(FOLDERS / name)
    with torch.inference_mode():
        logits = model(seeded_images(EXPECTED[name]))
    torch.testing.assert_close(logits, torch.tensor(EXPECTED[name]["logits"]), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["csmae", "csmoe", "csmae-slim"])
def test_foundation_folders_embed_as_written(name: str) -> None:
    encoder = load_encoder(FOLDERS / name)
    with torch.inference_mode():
        features = encoder(seeded_images(EXPECTED[name]))
    torch.testing.assert_close(features, torch.tensor(EXPECTED[name]["features"]), rtol=1e-4, atol=1e-5)


def test_segmenter_folder_segments_as_written() -> None:
    entry = EXPECTED["segmenter"]
    model = load_segmenter(FOLDERS / "segmenter")
    with torch.inference_mode():
        logits = model(seeded_images(entry))
    torch.testing.assert_close(logits.mean(dim=(0, 2, 3)), torch.tensor(entry["logits_mean_per_class"]), rtol=1e-4,
                               atol=1e-5)  # fmt: skip
    torch.testing.assert_close(logits[:, :, 0, 0], torch.tensor(entry["logits_corner"]), rtol=1e-4, atol=1e-5)


def test_vqa_folder_answers_as_written() -> None:
    entry = EXPECTED["vqa"]
    model, tokenizer = load_vqa_model(FOLDERS / "vqa")
    tokens = tokenizer.encode(entry["questions"])
    with torch.inference_mode():
        logits = model(seeded_images(entry), tokens.input_ids, tokens.attention_mask)
    torch.testing.assert_close(logits, torch.tensor(entry["logits"]), rtol=1e-4, atol=1e-5)


def test_a_run_folder_of_today_still_resolves_to_its_model(tmp_path: Path) -> None:
    shutil.copytree(FOLDERS / "classifier", tmp_path / "run" / "model")
    assert load_model(tmp_path / "run").metadata.class_order == "alphabetical"


@pytest.mark.parametrize(
    ("name", "kind", "bands", "slimmed"),
    [("classifier", "classifier", 10, False), ("ssl-encoder", "ssl-encoder", 14, False),
     ("classifier-slim", "classifier", 10, True), ("csmae", "foundation", 14, False),
     ("csmoe", "foundation", 14, False), ("csmae-slim", "foundation", 14, True), ("segmenter", "segmenter", 14, False),
     ("vqa", "vqa", 10, False)],
)  # fmt: skip
def test_describe_folder_tells_what_each_folder_is(name: str, kind: str, bands: int, slimmed: bool) -> None:
    info = describe_folder(FOLDERS / name)
    assert (info.kind, len(info.metadata.bands), bool(info.slim)) == (kind, bands, slimmed)
    assert info.metadata.class_order == ("alphabetical" if kind in ("classifier", "ssl-encoder") else "table")
