"""A multi-label scene classifier: a timm backbone plus the metadata that says what its inputs and outputs mean.

The network knows nothing of Lightning or of the data pipeline: it maps a normalised image batch to class logits.
"""

from typing import Any

import torch
from torch import nn

from bigearth.models.metadata import ModelMetadata
from bigearth.models.registry import create_backbone, timm_kwargs


class SceneClassifier(nn.Module):
    """A timm backbone with ``in_chans`` = number of bands and ``num_classes`` = number of classes.

    It honours timm's model contract (``in_chans``, ``num_classes``, ``forward_features``, ``forward_head``) and
    carries :class:`~bigearth.models.metadata.ModelMetadata` as ``metadata``. Its state dict is the timm
    backbone's under the ``backbone.`` prefix; :func:`bigearth.folders.classifier.save_model` stores it without the
    prefix, so that ``timm.create_model(architecture, **model_args)`` loads it directly.

    Args:
        metadata: bands, classes, image size and normalisation of the model.
        drop_rate: dropout before the classifier (training only).
        drop_path_rate: stochastic depth rate (training only; 0 for networks without it).
        architecture: timm architecture name; derived from ``metadata.backbone`` when None. A saved model passes
            the values it was built with, so that later changes of the registry cannot alter it.
        model_args: timm keyword arguments (with ``architecture``).
    """

    def __init__(
        self,
        metadata: ModelMetadata,
        *,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        architecture: str | None = None,
        model_args: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.metadata = metadata
        if architecture is None or model_args is None:
            architecture, model_args = timm_kwargs(
                metadata.backbone,
                in_chans=metadata.in_chans,
                num_classes=metadata.num_classes,
                image_size=metadata.image_size,
                backbone_args=metadata.backbone_args,
            )
        self.architecture, self.model_args = architecture, dict(model_args)
        training: dict[str, Any] = {"drop_rate": drop_rate}
        if drop_path_rate:
            training["drop_path_rate"] = drop_path_rate
        self.backbone = create_backbone(self.architecture, self.model_args, **training)
        self.in_chans = metadata.in_chans
        self.num_classes = metadata.num_classes

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """Return the backbone's unpooled features of ``images`` ``(B, C, H, W)`` (shape depends on the backbone)."""
        return self.backbone.forward_features(images)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool ``features`` and return logits ``(B, num_classes)`` (or pooled features if ``pre_logits``)."""
        return self.backbone.forward_head(features, pre_logits=pre_logits)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Return class logits ``(B, num_classes)`` of normalised images ``(B, in_chans, H, W)``.

        Raises:
            ValueError: if the channel count is not the number of bands the model was built for.
        """
        if images.ndim != 4 or images.shape[1] != self.in_chans:
            raise ValueError(
                f"the model reads {self.in_chans} bands {list(self.metadata.bands)} as (B, C, H, W) images, "
                f"got a tensor of shape {tuple(images.shape)}; load the data with the model's bands"
            )
        return self.backbone(images)
