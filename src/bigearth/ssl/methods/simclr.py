"""SimCLR: contrast two views of every image against all other images of the batch.

- [0] Chen, Kornblith, Norouzi, Hinton, "A Simple Framework for Contrastive Learning of Visual Representations",
  ICML 2020, https://arxiv.org/abs/2002.05709
- [1] Reference code: https://github.com/google-research/simclr; lightly's ``NTXentLoss`` and
  ``SimCLRProjectionHead``
"""

from lightly.loss import NTXentLoss
from lightly.models.modules import SimCLRProjectionHead
from torch import Tensor, nn

from bigearth.ssl.methods.base import SSLMethod, SSLOutput


class SimCLR(SSLMethod):
    """NT-Xent between the projections of two views, the other 2B - 2 views of the batch as negatives [0].

    Args:
        hidden_dim: width of the projector's hidden layer (2048).
        output_dim: width of the projections (128).
        temperature: NT-Xent temperature (0.5 in lightly; 0.1 to 1 in [0]).
        gather_distributed: gather negatives from all processes.
    """

    def __init__(
        self, *, backbone: nn.Module, feature_dim: int, hidden_dim: int = 2048, output_dim: int = 128,
        temperature: float = 0.5, gather_distributed: bool = False,
    ) -> None:  # fmt: skip
        super().__init__(backbone=backbone, projector=SimCLRProjectionHead(feature_dim, hidden_dim, output_dim),
                         projection_dim=output_dim)  # fmt: skip
        self.criterion = NTXentLoss(temperature=temperature, gather_distributed=gather_distributed)

    def forward(self, view0: Tensor, view1: Tensor) -> SSLOutput:
        """Return NT-Xent of the two views' projections."""
        features0, projections0 = self.encode(view0)
        _, projections1 = self.encode(view1)
        return SSLOutput(self.criterion(projections0, projections1), features0, projections0, ranked=(projections0,))
