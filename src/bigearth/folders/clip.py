"""CLIP model folders: ``config.json`` + ``model.safetensors`` + ``vocab.txt``.

``config.json`` carries bigearth's model format header (:mod:`bigearth.folders.format`) with ``task:
image-text-contrastive`` and its own layout version :data:`CLIP_FORMAT_VERSION`, the architecture (``network``,
with the zero-shot prompt), the resolved Hugging Face configuration of the text encoder (``text_config``), the
timm architecture and arguments of the image encoder and the image metadata (bands, normalisation, resampling,
class order, training data). ``vocab.txt`` is the tokenizer's WordPiece vocabulary. Files are written
atomically, ``config.json`` last, so a folder with a ``config.json`` is complete. Without bigearth's loaders::

    config = json.load(open("model/config.json"))
    model = CLIPModel(CLIPConfig.from_dict(config["network"]), ModelMetadata.from_dict(config),
                      text_config=config["text_config"], image_architecture=config["image_architecture"],
                      image_model_args=config["image_model_args"])
    model.load_state_dict(safetensors.torch.load_file("model/model.safetensors"))
"""

from pathlib import Path
from typing import Any

import torch

from bigearth.folders.format import CLIP_TASK, FolderLayout
from bigearth.folders.image_text import load_image_text_model, save_image_text_model
from bigearth.models.clip.model import CLIPConfig, CLIPModel
from bigearth.models.metadata import ModelMetadata
from bigearth.models.vqa.tokenizer import QuestionTokenizer

#: Version of the CLIP folder layout and network wiring; a folder of another version is refused.
CLIP_FORMAT_VERSION = 1
#: The CLIP folder kind.
CLIP_LAYOUT = FolderLayout(
    CLIP_TASK, "clip_format_version", CLIP_FORMAT_VERSION, "CLIP model",
    "`bigearth search` needs a folder written by `bigearth train` with a task: clip recipe (configs/clip/)",
)  # fmt: skip


def save_clip_model(
    model: CLIPModel, tokenizer: QuestionTokenizer, folder: Path, *, extra: dict[str, Any] | None = None
) -> None:
    """Write a CLIP model folder (weights and vocabulary first, ``config.json`` last; all atomic).

    ``tokenizer`` is the one its captions were encoded with; ``extra`` holds further JSON entries.

    Raises:
        ValueError: if the tokenizer cuts texts at another length than the model's configuration.
    """
    save_image_text_model(model, tokenizer, folder, CLIP_LAYOUT, extra)


def read_clip_config(path: Path) -> dict[str, Any]:
    """Read and check the ``config.json`` of a CLIP model folder (or of a run folder's ``model/``).

    Raises:
        MissingDataError: if there is no model folder at ``path``.
        CorruptDataError: if it is no bigearth model, a model of another task, or of another CLIP layout version.
    """
    return CLIP_LAYOUT.read_config(path)


def _build(config: dict[str, Any], folder: Path) -> CLIPModel:
    """Return the network of a checked ``config.json`` (``folder`` holds nothing more it needs)."""
    return CLIPModel(CLIPConfig.from_dict(config["network"]), ModelMetadata.from_dict(config),
                     text_config=config["text_config"], image_architecture=config["image_architecture"],
                     image_model_args=config["image_model_args"])  # fmt: skip


def load_clip_model(path: Path, *, device: str | torch.device = "cpu") -> tuple[CLIPModel, QuestionTokenizer]:
    """Load a CLIP model folder (or a run folder's ``model/``) in evaluation mode, with its tokenizer.

    Raises:
        MissingDataError: if the folder, its weights or its vocabulary are missing.
        CorruptDataError: if the files do not belong together or come from another version.
    """
    return load_image_text_model(path, CLIP_LAYOUT, _build, device=device)
