"""MoCo-v2: contrast queries against momentum-encoded keys and a queue of earlier keys.

- [0] He, Fan, Wu, Xie, Girshick, "Momentum Contrast for Unsupervised Visual Representation Learning",
  CVPR 2020, https://arxiv.org/abs/1911.05722
- [1] Chen, Fan, Girshick, He, "Improved Baselines with Momentum Contrastive Learning", 2020,
  https://arxiv.org/abs/2003.04297 (MLP head, temperature 0.2, momentum 0.999, queue 65536)
- [2] Reference code: https://github.com/facebookresearch/moco; lightly's ``NTXentLoss`` with a memory bank,
  ``MoCoProjectionHead`` and ``update_momentum``
"""

from lightly.loss import NTXentLoss
from lightly.models.modules import MoCoProjectionHead
from torch import Tensor, nn

from bigearth.ssl.methods.base import SSLMethod, SSLOutput


class MoCoV2(SSLMethod):
    """InfoNCE of each query (view 0, online) against its key (view 1, momentum network) and a queue [1].

    Args:
        hidden_dim: width of the projector's hidden layer (2048).
        output_dim: width of the projections (128).
        temperature: InfoNCE temperature (0.2).
        memory_bank_size: keys kept as negatives (65536).
        gather_distributed: gather keys from all processes before they enter the queue.
    """

    def __init__(
        self, *, backbone: nn.Module, feature_dim: int, hidden_dim: int = 2048, output_dim: int = 128,
        temperature: float = 0.2, memory_bank_size: int = 65536, gather_distributed: bool = False,
    ) -> None:  # fmt: skip
        super().__init__(backbone=backbone, projector=MoCoProjectionHead(feature_dim, hidden_dim, output_dim),
                         projection_dim=output_dim, momentum=True)  # fmt: skip
        self.criterion = NTXentLoss(temperature=temperature, memory_bank_size=(memory_bank_size, output_dim),
                                    gather_distributed=gather_distributed)  # fmt: skip

    def forward(self, view0: Tensor, view1: Tensor) -> SSLOutput:
        """Return InfoNCE of the queries of view 0 against the keys of view 1 and the queue."""
        features0, queries = self.encode(view0)
        return SSLOutput(self.criterion(queries, self.encode_momentum(view1)), features0, queries, ranked=(queries,))
