"""Segmentation model folders: the head's weights and configuration, with the encoder's ``config.json`` embedded."""

import json
from pathlib import Path
from typing import Any

import torch

from bigearth.errors import ConfigError, CorruptDataError
from bigearth.folders.encoders import encoder_from_config
from bigearth.folders.format import (
    CONFIG_FILE,
    SEGMENTATION_TASK,
    read_model_config,
    read_safetensors,
    resolve_model_folder,
    weights_file,
    write_folder,
)
from bigearth.models.fm.segmentation import Segmenter


def save_segmenter(model: Segmenter, folder: Path, *, encoder_config: dict[str, Any]) -> None:
    """Write a model folder: weights, then ``config.json`` with the encoder's configuration embedded.

    Args:
        model: the segmenter.
        folder: the model folder.
        encoder_config: the ``config.json`` of the encoder's model folder.
    """
    write_folder(folder, model, SEGMENTATION_TASK, {
        "head": {"kind": "upsampling", "channels": model.channels}, "ignore_index": 255, "encoder": encoder_config,
        **model.metadata.to_dict(),
    })  # fmt: skip


def load_segmenter(path: Path, *, device: str | torch.device = "cpu") -> Segmenter:
    """Load a segmentation model folder (or a run folder's ``model/``) in evaluation mode.

    Raises:
        MissingDataError: if there is no model folder.
        ConfigError: if it holds another kind of model.
        CorruptDataError: if the weights do not fit the configuration.
    """
    folder = resolve_model_folder(path)
    config = read_model_config(folder)
    if config.get("task") != SEGMENTATION_TASK:
        raise ConfigError(f"{folder} holds a {config.get('task')!r} model, not a {SEGMENTATION_TASK} model")
    model = Segmenter(encoder=encoder_from_config(config["encoder"]), channels=int(config["head"]["channels"]))
    weights = weights_file(folder)
    try:
        model.load_state_dict(read_safetensors(weights))
    except RuntimeError as error:
        raise CorruptDataError(f"{weights} does not fit {folder / CONFIG_FILE} ({error})") from error
    return model.to(device).eval()


def encoder_folder_config(path: Path) -> dict[str, Any]:
    """Return the ``config.json`` of an encoder's model folder (or run folder), as plain data."""
    return json.loads((resolve_model_folder(path) / CONFIG_FILE).read_text())
