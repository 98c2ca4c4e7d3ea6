"""Fusion of the projected image and question vectors into one vector for the answer classifier.

* ``product``: element-wise product, LiT-4-RSVQA's fusion (and ConfigILM's default).
* ``mfb``: multi-modal factorised bilinear pooling, a low-rank bilinear model between the two vectors [0].

Both take ``image`` and ``question`` of shape ``(batch_size, dim)`` and return ``(batch_size, out_dim)``.

- [0] Yu, Yu, Fan, Tao. "Multi-modal Factorized Bilinear Pooling with Co-Attention Learning for Visual Question
  Answering", ICCV 2017, https://arxiv.org/abs/1708.01471
- [1] Reference code: https://github.com/yuzcccc/vqa-mfb
"""

from typing import Any

import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from bigearth.errors import ConfigError


def _check_pair(image: Tensor, question: Tensor, dim: int) -> None:
    """Refuse inputs that are not two ``(batch_size, dim)`` tensors of one batch size."""
    if image.ndim != 2 or question.ndim != 2 or image.shape != question.shape or image.shape[1] != dim:
        raise ValueError(
            f"fusion expects image and question vectors of shape (batch_size, {dim}), "
            f"got {tuple(image.shape)} and {tuple(question.shape)}"
        )


class ProductFusion(nn.Module):
    """Element-wise product ``z = x * y`` (no parameters).

    Args:
        dim: width of both inputs (= ``out_dim``).
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = self.out_dim = dim

    def forward(self, image: Tensor, question: Tensor) -> Tensor:
        """Return ``image * question`` ``(batch_size, dim)``.

        Raises:
            ValueError: if the inputs are not both ``(batch_size, dim)``.
        """
        _check_pair(image, question, self.dim)
        return image * question


class MFBFusion(nn.Module):
    """Multi-modal factorised bilinear pooling (MFB) [0].

    Each output unit is a bilinear form of rank ``factor`` between the two inputs. With ``U x`` and ``V y`` of
    width ``out_dim * factor``::

        z_i = sum_{j < factor} (U x + b_U)_{i * factor + j} * (V y + b_V)_{i * factor + j}    (sum pooling)
        z   = sign(z) * sqrt(|z|)                                                       (power normalisation)
        z   = z / ||z||_2                                                               (L2 normalisation)

    Dropout is applied to the expanded product before sum pooling, as in [1]; the paper's defaults are
    ``factor = 5`` and ``out_dim = 1000`` (500 here keeps the fusion lightweight: 2 x 1.3 M parameters at 512).

    Args:
        dim: width of both inputs.
        out_dim: output width o.
        factor: rank k of each bilinear form.
        dropout: dropout rate on the expanded product (training only).

    Raises:
        ValueError: if a size is below 1 or the dropout rate is outside [0, 1).
    """

    def __init__(self, dim: int, *, out_dim: int = 500, factor: int = 5, dropout: float = 0.1) -> None:
        super().__init__()
        if min(dim, out_dim, factor) < 1 or not 0 <= dropout < 1:
            raise ValueError(
                f"MFB needs positive sizes and dropout in [0, 1), got {dim}, {out_dim}, {factor}, {dropout}"
            )
        self.dim, self.out_dim, self.factor = dim, out_dim, factor
        self.image_projection = nn.Linear(dim, out_dim * factor)
        self.question_projection = nn.Linear(dim, out_dim * factor)
        self.dropout = nn.Dropout(dropout)

    def forward(self, image: Tensor, question: Tensor) -> Tensor:
        """Return the fused vectors ``(batch_size, out_dim)``, each of unit L2 norm.

        Raises:
            ValueError: if the inputs are not both ``(batch_size, dim)``.
        """
        _check_pair(image, question, self.dim)
        # expand both to (batch_size, out_dim * factor) and multiply: k rank-one terms per output unit
        product = self.dropout(self.image_projection(image) * self.question_projection(question))
        # sum pooling over the k terms of each unit: (batch_size, out_dim, factor) -> (batch_size, out_dim)
        pooled = product.view(-1, self.out_dim, self.factor).sum(dim=2)
        # signed square root; relu keeps the gradient finite at 0 (as [1])
        powered = pooled.relu().sqrt() - (-pooled).relu().sqrt()
        return F.normalize(powered, dim=1)


#: Fusion names -> classes; each is built as ``cls(dim, **fusion_args)`` and has ``out_dim``.
FUSIONS: dict[str, type[nn.Module]] = {"product": ProductFusion, "mfb": MFBFusion}


def build_fusion(name: str, dim: int, args: dict[str, Any] | None = None) -> nn.Module:
    """Build a fusion by name.

    Args:
        name: a key of :data:`FUSIONS`.
        dim: width of the projected image and question vectors.
        args: keyword arguments of the fusion (e.g. ``out_dim``, ``factor`` of MFB).

    Raises:
        ConfigError: for an unknown name or argument.
    """
    if name not in FUSIONS:
        raise ConfigError(f"unknown fusion {name!r}; use one of {list(FUSIONS)}")
    try:
        return FUSIONS[name](dim, **(args or {}))
    except (TypeError, ValueError) as error:
        raise ConfigError(f"cannot build fusion {name!r} with {args} ({error}); see model.fusion_args") from error
