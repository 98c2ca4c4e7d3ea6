"""SimSiam: predict the other view's projection through a stop-gradient, without momentum or negatives.

- [0] Chen, He, "Exploring Simple Siamese Representation Learning", CVPR 2021, https://arxiv.org/abs/2011.10566
- [1] Reference code: https://github.com/facebookresearch/simsiam; lightly's ``SimSiamProjectionHead``,
  ``SimSiamPredictionHead`` and ``NegativeCosineSimilarity``
"""

from lightly.loss import NegativeCosineSimilarity
from lightly.models.modules import SimSiamPredictionHead, SimSiamProjectionHead
from torch import Tensor, nn

from bigearth.ssl.methods.base import SSLMethod, SSLOutput


class SimSiam(SSLMethod):
    """Symmetrised negative cosine similarity of predictions and stop-gradient projections [0].

    Args:
        hidden_dim: width of the projector's hidden layers (2048).
        output_dim: width of the projections (2048).
        prediction_dim: width of the predictor's bottleneck (512).
    """

    def __init__(
        self, *, backbone: nn.Module, feature_dim: int, hidden_dim: int = 2048, output_dim: int = 2048,
        prediction_dim: int = 512,
    ) -> None:  # fmt: skip
        super().__init__(
            backbone=backbone,
            projector=SimSiamProjectionHead(feature_dim, hidden_dim, output_dim),
            projection_dim=output_dim,
            predictor=SimSiamPredictionHead(output_dim, prediction_dim, output_dim),
        )
        self.criterion = NegativeCosineSimilarity()

    def forward(self, view0: Tensor, view1: Tensor) -> SSLOutput:
        """Return ``(d(p0, sg(z1)) + d(p1, sg(z0))) / 2``."""
        features0, projections0 = self.encode(view0)
        _, projections1 = self.encode(view1)
        predictions0, predictions1 = self.predictor(projections0), self.predictor(projections1)  # type: ignore[misc]
        loss = (self.criterion(predictions0, projections1.detach())
                + self.criterion(predictions1, projections0.detach())) / 2  # fmt: skip
        return SSLOutput(loss, features0, projections0, ranked=(projections0,))
