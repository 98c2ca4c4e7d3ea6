"""Features of any bigearth encoder for downstream tasks: a cross-sensor foundation model or a classifier.

:class:`FeatureEncoder` gives every encoder one contract: the ``bands`` it reads (in channel order), the
``views`` it can embed separately (``("s1", "s2")`` for a foundation model; one view named after the bands for a
classifier), pooled features of a whole image (:meth:`FeatureEncoder.forward`), of each view
(:meth:`FeatureEncoder.embed_views`, for cross-sensor retrieval) and a dense feature map
(:meth:`FeatureEncoder.dense`, for segmentation). A foundation model's pair feature is the mean of its present
sensors' pooled features, so a pair missing one sensor is embedded by the other in the same space.
"""

import copy
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from bigearth.errors import ConfigError
from bigearth.models.classifier import SceneClassifier
from bigearth.models.metadata import ModelMetadata

if TYPE_CHECKING:  # the foundation models need the [fm] extra; scene classifiers do not
    from bigearth.models.fm.csmae import CrossSensorMAE


class FeatureEncoder(nn.Module):
    """The downstream contract of an encoder.

    Attributes:
        metadata: bands, statistics and class order of the encoder's inputs.
        views: names of the inputs it embeds separately.
        feature_dim: width of pooled and dense features.
    """

    metadata: ModelMetadata
    views: tuple[str, ...]
    feature_dim: int

    @property
    def bands(self) -> tuple[str, ...]:
        """Band names of the stacked input images, in channel order."""
        return self.metadata.bands

    def embed_views(self, images: Tensor) -> dict[str, Tensor]:
        """Return pooled features ``{view: (B, feature_dim)}`` of ``images`` ``(B, len(bands), H, W)``."""
        raise NotImplementedError

    def forward(self, images: Tensor) -> Tensor:
        """Return one pooled feature ``(B, feature_dim)`` per image (the mean over the views)."""
        return torch.stack(list(self.embed_views(images).values())).mean(dim=0)

    def dense(self, images: Tensor) -> Tensor:
        """Return a feature map ``(B, feature_dim, h, w)``."""
        raise NotImplementedError

    def reinitialised(self) -> "FeatureEncoder":
        """Return the same architecture with fresh random weights (the random-encoder baseline)."""
        raise NotImplementedError


class FoundationEncoder(FeatureEncoder):
    """The encoder of a CSMAE/CSMoE model (its decoders are dropped).

    Args:
        model: the pretrained model.
    """

    def __init__(self, model: "CrossSensorMAE") -> None:
        super().__init__()
        if model.metadata is None:
            raise ConfigError("the foundation model carries no metadata (bands, statistics); load it from a folder")
        self.metadata = model.metadata
        self.config = model.config
        self.encoder = model.encoder
        self.views = model.config.sensors
        self.feature_dim = int(model.encoder.norm.normalized_shape[0])  # the embed_dim, or a slimmed width

    def _split(self, images: Tensor) -> dict[str, Tensor]:
        return self.encoder.split(images, self.bands)

    def embed_views(self, images: Tensor) -> dict[str, Tensor]:
        """Return ``{sensor: (B, d)}`` pooled features of the sensors present in ``images``."""
        return self.encoder(self._split(images))

    def embed_sensors(self, images: dict[str, Tensor]) -> dict[str, Tensor]:
        """Return ``{sensor: (B, d)}`` for images given per sensor (one sensor may be missing)."""
        return self.encoder(images)

    def dense(self, images: Tensor) -> Tensor:
        """Return the mean over sensors of the patch tokens as a ``(B, d, grid, grid)`` map."""
        tokens = torch.stack([t[:, 1:] for t in self.encoder.forward_features(self._split(images)).values()])
        grid = self.config.grid
        return tokens.mean(dim=0).transpose(1, 2).reshape(tokens.shape[1], -1, grid, grid)

    def reinitialised(self) -> "FoundationEncoder":
        """Return a freshly initialised encoder of the same architecture."""
        from bigearth.models.fm.csmae import CrossSensorMAE

        return FoundationEncoder(CrossSensorMAE(config=self.config, metadata=self.metadata))


class BackboneEncoder(FeatureEncoder):
    """The backbone of a scene classifier (its classifier head is bypassed).

    Args:
        model: the classifier.
    """

    def __init__(self, model: SceneClassifier) -> None:
        super().__init__()
        self.metadata = model.metadata
        self.model = model
        self.views = ("+".join(model.metadata.sensors),)
        self.feature_dim = int(model.backbone.num_features)

    def embed_views(self, images: Tensor) -> dict[str, Tensor]:
        """Return ``{view: (B, d)}``: the backbone's pooled pre-logits features."""
        return {self.views[0]: self.model.forward_head(self.model.forward_features(images), pre_logits=True)}

    def dense(self, images: Tensor) -> Tensor:
        """Return the backbone's last feature map (token sequences are reshaped to a square grid)."""
        features = self.model.forward_features(images)
        if features.ndim == 4:
            return features
        prefix = getattr(self.model.backbone, "num_prefix_tokens", 0)
        tokens = features[:, prefix:]
        side = int(tokens.shape[1] ** 0.5)
        if side * side != tokens.shape[1]:
            raise ConfigError(f"cannot arrange {tokens.shape[1]} tokens of {self.metadata.backbone} as a square map")
        return tokens.transpose(1, 2).reshape(tokens.shape[0], -1, side, side)

    def reinitialised(self) -> "BackboneEncoder":
        """Return a freshly initialised backbone of the same architecture."""
        fresh = SceneClassifier(self.metadata, architecture=self.model.architecture,
                                model_args=copy.deepcopy(self.model.model_args))  # fmt: skip
        return BackboneEncoder(fresh)
