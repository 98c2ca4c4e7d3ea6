"""Semantic segmentation on top of any :class:`~bigearth.models.encoders.FeatureEncoder`.

The head is a simple progressive-upsampling decoder (simpler than UPerNet, which needs a feature pyramid that a
plain ViT lacks): a 1x1 projection of the encoder's last feature map, then [3x3 conv, batch norm, ReLU, 2x
bilinear upsampling] until the map is at least the image size, a bilinear resize to the image size and a 1x1
classifier. For a 15 px-patch ViT the 8 x 8 token map goes 16, 32, 64, 128 -> 120 px.
"""

import math

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from bigearth.models.encoders import FeatureEncoder


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
