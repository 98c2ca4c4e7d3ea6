r"""CLIP's symmetric InfoNCE loss, as open_clip's ``ClipLoss`` computes it on one process.

Radford et al., "Learning Transferable Visual Models From Natural Language Supervision", ICML 2021 [0];
the reference code is open_clip's ``src/open_clip/loss.py`` (``ClipLoss.forward``, ``world_size == 1``) [1]
and the clamp of the logit scale in its ``src/open_clip_train/train.py`` after every optimiser step [1].

For B image-text pairs with L2-normalised features ``u_i`` (image) and ``v_j`` (text) and the scale
``s = exp(t)`` of the learnable temperature parameter ``t``:

    logits_per_image[i, j] = s * <u_i, v_j>,   logits_per_text = s * <v_i, u_j> (its transpose)
    loss = (CE(logits_per_image, arange(B)) + CE(logits_per_text, arange(B))) / 2

where CE is the mean cross-entropy over the rows. ``t`` starts at ``log(1 / 0.07)`` and is clamped to
``[0, log(100)]`` after every step (:data:`LOGIT_SCALE_INIT`, :data:`LOGIT_SCALE_MAX`).

[0] https://arxiv.org/abs/2103.00020
[1] https://github.com/mlfoundations/open_clip
"""

import math

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor

#: Initial value of the temperature parameter ``t`` (the scale is ``exp(t)`` = 1 / 0.07).
LOGIT_SCALE_INIT = math.log(1 / 0.07)
#: Upper clamp of ``t`` after each optimiser step (the scale stays at most 100), as open_clip does.
LOGIT_SCALE_MAX = math.log(100)


def clip_loss(image_features: Tensor, text_features: Tensor, logit_scale: Tensor) -> Tensor:
    """Return the symmetric InfoNCE loss of B matched image-text pairs (pair i is row i of both).

    Args:
        image_features: ``(batch_size, dim)`` L2-normalised image embeddings.
        text_features: ``(batch_size, dim)`` L2-normalised text embeddings; row i describes image i.
        logit_scale: scalar tensor, the scale ``exp(t)`` (not ``t``), as open_clip passes it.

    Returns:
        The scalar loss.

    Raises:
        ValueError: if the two feature tensors are not ``(batch_size, dim)`` of the same shape, the batch has fewer
            than two pairs (nothing to contrast with), or ``logit_scale`` is no scalar.
    """
    if image_features.ndim != 2 or image_features.shape != text_features.shape:
        raise ValueError(
            f"image features {tuple(image_features.shape)} and text features {tuple(text_features.shape)} must both "
            "be (batch_size, dim)"
        )
    if image_features.shape[0] < 2:
        raise ValueError("the contrastive loss needs at least 2 image-text pairs per batch (got 1)")
    if logit_scale.numel() != 1:
        raise ValueError(f"logit_scale must be a scalar, got shape {tuple(logit_scale.shape)}")
    # i: image row, j: text row
    logits_per_image = logit_scale * torch.einsum("id,jd->ij", image_features, text_features)
    logits_per_text = logit_scale * torch.einsum("jd,id->ji", text_features, image_features)
    labels = torch.arange(image_features.shape[0], device=image_features.device)
    return (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)) / 2
