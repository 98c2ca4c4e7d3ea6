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

from bigearth import __version__
from bigearth.errors import ConfigError, CorruptDataError, MissingDataError
from bigearth.folders.format import (
    CLIP_TASK,
    MODEL_WEIGHTS_FILE,
    read_model_config,
    read_safetensors,
    resolve_model_folder,
    write_folder,
)
from bigearth.models.clip.model import CLIPConfig, CLIPModel
from bigearth.models.metadata import ModelMetadata
from bigearth.models.vqa.tokenizer import VOCAB_FILE, QuestionTokenizer

#: Version of the CLIP folder layout and network wiring; a folder of another version is refused.
CLIP_FORMAT_VERSION = 1


def save_clip_model(
    model: CLIPModel, tokenizer: QuestionTokenizer, folder: Path, *, extra: dict[str, Any] | None = None
) -> None:
    """Write a CLIP model folder (weights and vocabulary first, ``config.json`` last; all atomic).

    Args:
        model: the network.
        tokenizer: the tokenizer its captions were encoded with.
        folder: the model folder (created if needed).
        extra: further JSON entries.

    Raises:
        ValueError: if the tokenizer cuts texts at another length than the model's configuration.
    """
    if tokenizer.max_length != model.config.max_length:
        raise ValueError(f"the tokenizer cuts at {tokenizer.max_length} tokens, the model at {model.config.max_length}")
    folder = Path(folder)
    tokenizer.save(folder)
    write_folder(folder, model, CLIP_TASK, {
        "clip_format_version": CLIP_FORMAT_VERSION, **model.describe(), "lowercase": tokenizer.lowercase,
        **model.metadata.to_dict(), **(extra or {}),
    })  # fmt: skip


def read_clip_config(path: Path) -> dict[str, Any]:
    """Read and check the ``config.json`` of a CLIP model folder (or of a run folder's ``model/``).

    Raises:
        MissingDataError: if there is no model folder at ``path``.
        CorruptDataError: if it is no bigearth model, a model of another task, or of another CLIP layout version.
    """
    config = read_model_config(path)
    folder = resolve_model_folder(path)
    if config.get("task") != CLIP_TASK:
        raise CorruptDataError(
            f"{folder} holds a {config.get('task', 'classification')!r} model, not a CLIP model; `bigearth search` "
            "needs a folder written by `bigearth train` with a task: clip recipe (configs/clip/)"
        )
    if config.get("clip_format_version") != CLIP_FORMAT_VERSION:
        raise CorruptDataError(
            f"{folder} is a CLIP model of layout version {config.get('clip_format_version')!r} "
            f"(bigearth {config.get('bigearth_version', '?')}); this bigearth ({__version__}) reads version "
            f"{CLIP_FORMAT_VERSION}: use the bigearth version that wrote it, or retrain"
        )
    return config


def load_clip_model(path: Path, *, device: str | torch.device = "cpu") -> tuple[CLIPModel, QuestionTokenizer]:
    """Load a CLIP model folder (or a run folder's ``model/``) in evaluation mode, with its tokenizer.

    Raises:
        MissingDataError: if the folder, its weights or its vocabulary are missing.
        CorruptDataError: if the files do not belong together or come from another version.
    """
    folder = resolve_model_folder(path)
    config = read_clip_config(folder)
    for needed in (folder / MODEL_WEIGHTS_FILE, folder / VOCAB_FILE):
        if not needed.is_file():
            raise MissingDataError(f"{needed} is missing; the CLIP model folder {folder} is incomplete")
    try:
        network = CLIPConfig.from_dict(config["network"])
        model = CLIPModel(network, ModelMetadata.from_dict(config), text_config=config["text_config"],
                          image_architecture=config["image_architecture"],
                          image_model_args=config["image_model_args"])  # fmt: skip
        model.load_state_dict(read_safetensors(folder / MODEL_WEIGHTS_FILE))
    except (KeyError, ConfigError, RuntimeError) as error:
        raise CorruptDataError(
            f"the files in {folder} do not belong together ({error}); re-export the model"
        ) from error
    tokenizer = QuestionTokenizer(folder / VOCAB_FILE, max_length=network.max_length,
                                  lowercase=bool(config.get("lowercase", True)))  # fmt: skip
    return model.to(device).eval(), tokenizer
