"""Semantic segmentation on top of any :class:`~bigearth.models.fm.features.FeatureEncoder`.

The head is a simple progressive-upsampling decoder (simpler than UPerNet, which needs a feature pyramid that a
plain ViT lacks): a 1x1 projection of the encoder's last feature map, then [3x3 conv, batch norm, ReLU, 2x
bilinear upsampling] until the map is at least the image size, a bilinear resize to the image size and a 1x1
classifier. For a 15 px-patch ViT the 8 x 8 token map goes 16, 32, 64, 128 -> 120 px.
"""

import json
import math
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from bigearth import __version__
from bigearth.atomic import atomic_write_bytes, atomic_write_json
from bigearth.errors import ConfigError, CorruptDataError
from bigearth.models.fm.features import FeatureEncoder, encoder_from_config
from bigearth.models.io import CONFIG_FILE, MODEL_FORMAT, MODEL_FORMAT_VERSION, read_model_config, resolve_model_folder
from bigearth.models.weights import MODEL_WEIGHTS_FILE
from bigearth.runinfo import write_environment

SEGMENTATION_TASK = "semantic-segmentation"


class UpsamplingHead(nn.Module):
    """Feature map ``(B, in_channels, h, w)`` -> class logits ``(B, num_classes, size, size)``.

    Args:
        in_channels: encoder feature width.
        channels: decoder width.
        num_classes: output classes.
        size: output side in pixels.
        feature_size: side of the encoder's feature map (decides the number of 2x stages).
    """

    def __init__(self, *, in_channels: int, channels: int, num_classes: int, size: int, feature_size: int) -> None:
        super().__init__()
        self.size = size
        stages = max(0, math.ceil(math.log2(size / feature_size)))
        self.project = nn.Conv2d(in_channels, channels, 1)
        self.stages = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=False), nn.BatchNorm2d(channels),
                          nn.ReLU(inplace=True), nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False))
            for _ in range(stages)
        )  # fmt: skip
        self.classifier = nn.Conv2d(channels, num_classes, 1)

    def forward(self, features: Tensor) -> Tensor:
        """Return logits at ``size`` x ``size``."""
        x = self.project(features)
        for stage in self.stages:
            x = stage(x)
        return self.classifier(F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False))


class Segmenter(nn.Module):
    """An encoder and an upsampling head: normalised images ``(B, C, H, W)`` -> logits ``(B, classes, H, W)``.

    Args:
        encoder: any feature encoder (its ``dense`` map feeds the head).
        channels: decoder width.
        freeze_encoder: keep the encoder's weights fixed (no gradients, evaluation mode).
    """

    def __init__(self, *, encoder: FeatureEncoder, channels: int = 256, freeze_encoder: bool = False) -> None:
        super().__init__()
        self.encoder = encoder
        self.metadata = encoder.metadata
        self.freeze_encoder = freeze_encoder
        size = encoder.metadata.image_size
        with torch.no_grad():
            probe = encoder.eval().dense(torch.zeros(1, len(encoder.bands), size, size))
        self.head = UpsamplingHead(
            in_channels=probe.shape[1],
            channels=channels,
            size=size,
            num_classes=len(encoder.metadata.class_names),
            feature_size=probe.shape[-1],
        )
        self.channels = channels
        if freeze_encoder:
            self.encoder.requires_grad_(False)

    def train(self, mode: bool = True) -> "Segmenter":
        """Set training mode (a frozen encoder stays in evaluation mode)."""
        super().train(mode)
        if self.freeze_encoder:
            self.encoder.eval()
        return self

    def forward(self, images: Tensor) -> Tensor:
        """Return per-pixel class logits."""
        return self.head(self.encoder.dense(images))


def save_segmenter(model: Segmenter, folder: Path, *, encoder_config: dict[str, Any]) -> None:
    """Write a model folder: weights, then ``config.json`` with the encoder's configuration embedded.

    Args:
        model: the segmenter.
        folder: the model folder.
        encoder_config: the ``config.json`` of the encoder's model folder.
    """
    folder = Path(folder)
    tensors = {key: value.detach().cpu().contiguous() for key, value in model.state_dict().items()}
    atomic_write_bytes(folder / MODEL_WEIGHTS_FILE, safetensors.torch.save(tensors))
    write_environment(folder)  # env.json: what the folder was made with
    atomic_write_json(folder / CONFIG_FILE, {
        "format": MODEL_FORMAT, "format_version": MODEL_FORMAT_VERSION, "task": SEGMENTATION_TASK,
        "bigearth_version": __version__, "head": {"kind": "upsampling", "channels": model.channels},
        "ignore_index": 255, "encoder": encoder_config, **model.metadata.to_dict(),
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
    try:
        model.load_state_dict(safetensors.torch.load_file(folder / MODEL_WEIGHTS_FILE))
    except (RuntimeError, FileNotFoundError) as error:
        raise CorruptDataError(
            f"{folder / MODEL_WEIGHTS_FILE} does not fit {folder / CONFIG_FILE} ({error})"
        ) from error
    return model.to(device).eval()


def encoder_folder_config(path: Path) -> dict[str, Any]:
    """Return the ``config.json`` of an encoder's model folder (or run folder), as plain data."""
    return json.loads((resolve_model_folder(path) / CONFIG_FILE).read_text())
