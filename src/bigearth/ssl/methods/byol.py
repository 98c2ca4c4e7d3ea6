"""BYOL: predict the momentum network's projection of the other view, without negatives.

- [0] Grill et al., "Bootstrap Your Own Latent: A New Approach to Self-Supervised Learning", NeurIPS 2020,
  https://arxiv.org/abs/2006.07733
- [1] Reference code: https://github.com/google-deepmind/deepmind-research/tree/master/byol; lightly's
  ``BYOLProjectionHead``, ``BYOLPredictionHead`` and ``NegativeCosineSimilarity``
"""

from lightly.loss import NegativeCosineSimilarity
from lightly.models.modules import BYOLPredictionHead, BYOLProjectionHead
from torch import Tensor, nn

from bigearth.ssl.methods.base import SSLMethod, SSLOutput


class BYOL(SSLMethod):
    """Symmetrised negative cosine similarity of online predictions and momentum projections [0].

    Args:
        hidden_dim: width of the projector's and predictor's hidden layers (4096 in [0]; 1024 in the GeoRank
            reference code).
        output_dim: width of projections and predictions (256).
    """

    def __init__(self, *, backbone: nn.Module, feature_dim: int, hidden_dim: int = 4096, output_dim: int = 256) -> None:
        super().__init__(
            backbone=backbone,
            projector=BYOLProjectionHead(feature_dim, hidden_dim, output_dim),
            projection_dim=output_dim,
            predictor=BYOLPredictionHead(output_dim, hidden_dim, output_dim),
            momentum=True,
        )
        self.criterion = NegativeCosineSimilarity()

    def forward(self, view0: Tensor, view1: Tensor) -> SSLOutput:
        """Return ``(d(p0, z1') + d(p1, z0')) / 2`` with ``p`` online predictions and ``z'`` momentum projections.

        GeoRank ranks the predictions ``p0`` (the reference code's ``BYOL.forward`` output).
        """
        features0, projections0 = self.encode(view0)
        _, projections1 = self.encode(view1)
        predictions0, predictions1 = self.predictor(projections0), self.predictor(projections1)  # type: ignore[misc]
        loss = (self.criterion(predictions0, self.encode_momentum(view1))
                + self.criterion(predictions1, self.encode_momentum(view0))) / 2  # fmt: skip
        return SSLOutput(loss, features0, projections0, ranked=(predictions0,))
