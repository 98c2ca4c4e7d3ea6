"""The image encoder: a timm backbone over the patch's bands whose head maps pooled features to a fixed width.

As in LiT-4-RSVQA (ConfigILM's VQA networks), the timm network is built with ``num_classes`` = the feature width
(512), so its own classifier is the first mapping of the pooled features. Any backbone of the classification
models (:data:`bigearth.models.registry.BACKBONES`) or timm architecture name works; the lightweight encoders of
LiT-4-RSVQA have short names here (:data:`IMAGE_ENCODERS`). ``"none"`` builds a question-only model.
"""

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from torch import Tensor, nn

from bigearth.models.registry import create_backbone, timm_kwargs

#: Short names of the lightweight LiT-4-RSVQA image encoders -> timm architecture names (120 px inputs).
IMAGE_ENCODERS: Mapping[str, str] = MappingProxyType(
    {
        "mobilevit_s": "mobilevit_s",
        "mobilevit_xs": "mobilevit_xs",
        "deit_tiny": "deit_tiny_patch16_224",
        "xcit_nano_12_p8": "xcit_nano_12_p8_224",
    }
)
#: The image encoder name of a question-only model.
NO_IMAGE = "none"


def backbone_name(name: str) -> str:
    """Return the backbone (bigearth or timm) name behind an image encoder name."""
    return IMAGE_ENCODERS.get(name, name)


class ImageEncoder(nn.Module):
    """A timm backbone with ``in_chans`` = number of bands and ``num_classes`` = the feature width.

    Args:
        name: image encoder name (:data:`IMAGE_ENCODERS`), bigearth backbone or timm architecture name.
        in_chans: number of bands.
        features: output width (the timm head's size).
        image_size: input size in pixels (for networks built for one size).
        backbone_args: extra timm keyword arguments.
        architecture: timm architecture; derived from ``name`` when None (a saved model passes what it was built
            with, so that later registry changes cannot alter it).
        model_args: timm keyword arguments (with ``architecture``).
        drop_rate: dropout before the timm head (training only).
        drop_path_rate: stochastic depth rate (training only; 0 for networks without it).

    Raises:
        ConfigError: for an unknown name or an argument timm rejects.

    Shapes:
        input: ``(P, in_chans, H, W)`` normalised images; output: ``(P, features)``.
    """

    def __init__(
        self,
        name: str,
        *,
        in_chans: int,
        features: int,
        image_size: int,
        backbone_args: Mapping[str, Any] | None = None,
        architecture: str | None = None,
        model_args: Mapping[str, Any] | None = None,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
    ) -> None:
        super().__init__()
        self.name = name
        if architecture is None or model_args is None:
            architecture, model_args = timm_kwargs(
                backbone_name(name),
                in_chans=in_chans,
                num_classes=features,
                image_size=image_size,
                backbone_args=backbone_args,
            )
        self.architecture, self.model_args = architecture, dict(model_args)
        training: dict[str, Any] = {"drop_rate": drop_rate}
        if drop_path_rate:
            training["drop_path_rate"] = drop_path_rate
        self.backbone = create_backbone(self.architecture, self.model_args, **training)
        self.in_chans = in_chans
        self.out_dim = features

    def forward(self, images: Tensor) -> Tensor:
        """Return the features ``(P, features)`` of normalised images ``(P, in_chans, H, W)``."""
        return self.backbone(images)
