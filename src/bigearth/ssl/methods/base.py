"""What the five self-supervised methods share.

A backbone, a projector, an optional predictor and an optional momentum (EMA) copy of backbone and projector,
built from lightly's heads and momentum utilities.

Each method is a plain ``nn.Module`` (no Lightning) whose ``forward(view0, view1)`` returns an
:class:`SSLOutput`: the method's loss, view 0's features and projections, and the outputs GeoRank ranks where the
reference code (https://github.com/tomburgert/georank, ``ssl_base.py``) applies it: view 0's projection for MoCo,
SimCLR and SimSiam, the predictor's output for BYOL, the teacher's and the student's outputs for DINO. The methods
differ only in their heads and in how they compare the views. Every method's constructor takes ``backbone`` (images
``(B, C, H, W)`` -> features ``(B, feature_dim)``) and ``feature_dim`` first, then its own hyper-parameters.
"""

import copy
from dataclasses import dataclass

from lightly.models.utils import deactivate_requires_grad, update_momentum
from torch import Tensor, nn


@dataclass(frozen=True)
class SSLOutput:
    """One step of a method on two views of a batch.

    Attributes:
        loss: the method's scalar loss.
        features: ``(batch_size, feature_dim)`` backbone features of view 0 (online network).
        projections: ``(batch_size, projection_dim)`` online projections of view 0 (what the location-cluster head
            classifies).
        ranked: the ``(batch_size, dim)`` outputs of view 0 that GeoRank ranks; its loss is their mean (DINO: 0.5 x
            teacher + 0.5 x student, as the reference code).
    """

    loss: Tensor
    features: Tensor
    projections: Tensor
    ranked: tuple[Tensor, ...]


class SSLMethod(nn.Module):
    """Backbone + projector (+ predictor) (+ momentum copy of backbone and projector).

    Args:
        backbone: maps images ``(B, C, H, W)`` to pooled features ``(B, feature_dim)``.
        projector: maps features to projections.
        projection_dim: width of the projections.
        predictor: maps projections to predictions (BYOL, SimSiam), or None.
        momentum: keep an exponential-moving-average copy of backbone and projector (MoCo, BYOL, DINO).
        momentum_projector: the projector's momentum copy, when it cannot be deep-copied (weight-normalised
            layers); a copy of ``projector`` by default.
    """

    def __init__(
        self, *, backbone: nn.Module, projector: nn.Module, projection_dim: int, predictor: nn.Module | None = None,
        momentum: bool = False, momentum_projector: nn.Module | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        self.projection_dim = projection_dim
        self.backbone = backbone
        self.projector = projector
        self.predictor = predictor
        self.momentum_backbone: nn.Module | None = None
        self.momentum_projector: nn.Module | None = None
        if momentum:
            self.momentum_backbone = copy.deepcopy(backbone)
            self.momentum_projector = momentum_projector or copy.deepcopy(projector)
            self.momentum_projector.load_state_dict(projector.state_dict())
            deactivate_requires_grad(self.momentum_backbone)
            deactivate_requires_grad(self.momentum_projector)

    @property
    def uses_momentum(self) -> bool:
        """Whether the method keeps a momentum copy."""
        return self.momentum_backbone is not None

    def encode(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Return the online ``(features, projections)`` of ``images`` ``(B, C, H, W)``."""
        features = self.backbone(images)
        return features, self.projector(features)

    def encode_momentum(self, images: Tensor) -> Tensor:
        """Return the momentum network's projections of ``images`` (no gradient).

        Raises:
            RuntimeError: if the method keeps no momentum copy.
        """
        if self.momentum_backbone is None or self.momentum_projector is None:
            raise RuntimeError(f"{type(self).__name__} keeps no momentum network")
        return self.momentum_projector(self.momentum_backbone(images)).detach()

    def update_momentum(self, momentum: float) -> None:
        """Move the momentum copy towards the online network: ``ema = momentum * ema + (1 - momentum) * online``."""
        if self.momentum_backbone is not None and self.momentum_projector is not None:
            update_momentum(self.backbone, self.momentum_backbone, m=momentum)
            update_momentum(self.projector, self.momentum_projector, m=momentum)

    def after_backward(self, epoch: int) -> None:
        """Adjust gradients after the backward pass (DINO freezes its last layer in the first epoch)."""

    def forward(self, view0: Tensor, view1: Tensor) -> SSLOutput:
        """Return the method's loss on two views ``(B, C, H, W)`` of one batch, and view 0's embeddings."""
        raise NotImplementedError
