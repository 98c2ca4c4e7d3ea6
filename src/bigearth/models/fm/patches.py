"""Patches and random masking of token sequences.

As in MAE (He et al., "Masked Autoencoders Are Scalable Vision Learners", CVPR 2022).
"""

from dataclasses import dataclass

import torch
from einops import rearrange
from torch import Tensor

from bigearth.errors import ConfigError


def patchify(images: Tensor, patch_size: int) -> Tensor:
    """Cut images into flattened patches, row by row.

    Args:
        images: ``(B, C, H, W)`` with H and W multiples of ``patch_size``.
        patch_size: patch side ``P`` in pixels.

    Returns:
        ``(B, H/P * W/P, P * P * C)``: pixel values of each patch, channel last.
    """
    return rearrange(images, "b c (h p) (w q) -> b (h w) (p q c)", p=patch_size, q=patch_size)


@dataclass(frozen=True)
class Masking:
    """Which patch tokens of each sequence the encoder sees.

    Attributes:
        keep: ``(B, K)`` int64 indices of the visible patches, in random order.
        restore: ``(B, N)`` int64 permutation that puts ``[visible..., hidden...]`` back in patch order.
        mask: ``(B, N)`` bool, True where a patch is hidden (the positions the losses score).
    """

    keep: Tensor
    restore: Tensor
    mask: Tensor


def random_masking(
    batch: int, patches: int, ratio: float, *, device: torch.device | None = None,
    generator: torch.Generator | None = None,
) -> Masking:  # fmt: skip
    """Hide ``floor(ratio * patches)`` random patches of each sequence, independently per sample.

    Args:
        batch: sequences ``B``.
        patches: patch tokens ``N`` per sequence.
        ratio: fraction to hide, in ``[0, 1)``.
        device: where the indices live.
        generator: random generator, for reproducible masks.

    Raises:
        ConfigError: if the ratio would hide every patch or is outside ``[0, 1)``.
    """
    visible = patches - int(patches * ratio)
    if not 0.0 <= ratio < 1.0 or visible < 1:
        raise ConfigError(f"mask ratio {ratio} must lie in [0, 1) and leave a patch of {patches} visible")
    noise = torch.rand(batch, patches, device=device, generator=generator)
    shuffle = noise.argsort(dim=1)
    restore = shuffle.argsort(dim=1)
    mask = torch.ones(batch, patches, dtype=torch.bool, device=device)
    mask[:, :visible] = False
    return Masking(keep=shuffle[:, :visible], restore=restore, mask=torch.gather(mask, 1, restore))


def take_tokens(tokens: Tensor, index: Tensor) -> Tensor:
    """Return ``tokens[b, index[b]]``: ``(B, N, d)`` and ``(B, K)`` give ``(B, K, d)``."""
    return torch.gather(tokens, 1, index[..., None].expand(-1, -1, tokens.shape[-1]))
