"""DINO: self-distillation of a momentum teacher's centred, sharpened outputs into the student.

- [0] Caron et al., "Emerging Properties in Self-Supervised Vision Transformers", ICCV 2021,
  https://arxiv.org/abs/2104.14294
- [1] Reference code: https://github.com/facebookresearch/dino; lightly's ``DINOProjectionHead`` and ``DINOLoss``
- [2] GeoRank reference code: https://github.com/tomburgert/georank (``ssl_base.py`` ``DINO``: head 512/64/2048,
  2 global + 4 local crops, GeoRank on the teacher's and the student's outputs of global view 0)

Multi-crop [0]: two global views, which the teacher sees, and any number of local views (smaller crops), which only
the student sees; every student view is compared with every teacher view of another crop (lightly's ``DINOLoss``).
"""

import warnings

from lightly.loss import DINOLoss
from lightly.models.modules import DINOProjectionHead
from torch import Tensor, nn

from bigearth.ssl.methods.base import SSLMethod, SSLOutput


class DINO(SSLMethod):
    """Cross-entropy between teacher (momentum) and student outputs of the two views, each on the other [0].

    Args:
        hidden_dim: width of the head's hidden layers (2048).
        bottleneck_dim: width before the prototypes (256).
        output_dim: number of prototypes K (65536).
        teacher_temperature: sharpening of the teacher (0.04).
        student_temperature: temperature of the student (0.1).
        center_momentum: EMA rate of the teacher's centre (0.9).
        freeze_last_layer: epochs during which the prototypes are not trained (1).
        batch_norm: batch norm in the head (False in [0] for ViTs; True suits ResNets).
    """

    def __init__(
        self, *, backbone: nn.Module, feature_dim: int, hidden_dim: int = 2048, bottleneck_dim: int = 256,
        output_dim: int = 65536, teacher_temperature: float = 0.04, student_temperature: float = 0.1,
        center_momentum: float = 0.9, freeze_last_layer: int = 1, batch_norm: bool = False,
    ) -> None:  # fmt: skip
        def head(freeze: int) -> DINOProjectionHead:
            with warnings.catch_warnings():  # lightly's head uses torch's older weight_norm, deprecated but working
                warnings.simplefilter("ignore", FutureWarning)
                return DINOProjectionHead(feature_dim, hidden_dim, bottleneck_dim, output_dim, batch_norm=batch_norm,
                                          freeze_last_layer=freeze)  # fmt: skip

        # the weight-normalised prototypes cannot be deep-copied: the teacher head is built alike
        super().__init__(backbone=backbone, projector=head(freeze_last_layer), projection_dim=output_dim,
                         momentum=True, momentum_projector=head(-1))  # fmt: skip
        self.criterion = DINOLoss(output_dim=output_dim, warmup_teacher_temp=teacher_temperature,
                                  teacher_temp=teacher_temperature, student_temp=student_temperature,
                                  center_momentum=center_momentum)  # fmt: skip

    def after_backward(self, epoch: int) -> None:
        """Drop the prototypes' gradients during the first ``freeze_last_layer`` epochs."""
        self.projector.cancel_last_layer_gradients(current_epoch=epoch)  # type: ignore[operator]

    def forward(self, view0: Tensor, view1: Tensor, *local_views: Tensor) -> SSLOutput:
        """Return DINO's loss of the student's outputs of all views against the teacher's (centre updated).

        Args:
            view0: ``(B, C, H, W)`` first global view.
            view1: ``(B, C, H, W)`` second global view.
            local_views: ``(B, C, h, w)`` local views (multi-crop), student only.

        GeoRank ranks the teacher's and the student's outputs of ``view0`` (0.5 x each, as [2]).
        """
        features0, student0 = self.encode(view0)
        students = [student0, self.encode(view1)[1], *(self.encode(view)[1] for view in local_views)]
        teacher = [self.encode_momentum(view0), self.encode_momentum(view1)]
        loss = self.criterion(teacher, students, teacher_temp=self.criterion.teacher_temp)
        return SSLOutput(loss, features0, student0, ranked=(teacher[0], student0))
