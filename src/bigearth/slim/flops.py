"""FLOPs of an encoder: measured with ``torch.utils.flop_counter.FlopCounterMode``, and a closed-form ViT count.

Both count 2 FLOPs per multiply-add of the matrix products and convolutions (what ``FlopCounterMode`` counts);
biases, norms, activations and softmaxes are left out (a few per cent of a ViT). PyTorch registers no count for
the CPU kernel of ``scaled_dot_product_attention``; :func:`measure_flops` adds PyTorch's own SDPA formula for it.
"""

from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_flop_count

from bigearth.models.encoders import BackboneEncoder, FeatureEncoder


def _cpu_sdpa_flops(query_shape: Any, key_shape: Any, value_shape: Any, *args: Any, **kwargs: Any) -> int:
    """FLOPs of the CPU attention kernel: ``4 * B * H * N * M * D`` (scores and weighted values)."""
    return sdpa_flop_count(query_shape, key_shape, value_shape)


#: Counts for kernels PyTorch's registry lacks.
EXTRA_COUNTS = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_sdpa_flops}


@torch.no_grad()
def measure_flops(module: nn.Module, *inputs: Any) -> int:
    """Return the FLOPs of one forward pass ``module(*inputs)`` (2 per multiply-add)."""
    with FlopCounterMode(display=False, custom_mapping=EXTRA_COUNTS) as counter:
        module(*inputs)
    return int(counter.get_total_flops())


def encoder_flops(encoder: FeatureEncoder) -> int:
    """Return the FLOPs of one pooled feature: one image of the encoder's bands at its image size."""
    size = encoder.metadata.image_size
    image = torch.zeros(1, len(encoder.bands), size, size, device=next(encoder.parameters()).device)
    return measure_flops(encoder.eval(), image)


def feature_parameters(encoder: FeatureEncoder) -> int:
    """Return the parameters that pooled features use (a classifier's head is not counted)."""
    head = encoder.model.backbone.get_classifier() if isinstance(encoder, BackboneEncoder) else None
    skipped = {id(p) for p in head.parameters()} if isinstance(head, nn.Module) else set()
    return sum(p.numel() for p in encoder.parameters() if id(p) not in skipped)


def vit_flops(
    *, patches: int, patch_values: int, embed_dim: int, depth: int, heads: int, head_dim: int, mlp_hidden: int,
    prefix_tokens: int = 1,
) -> int:  # fmt: skip
    """Return the closed-form FLOPs of one image through a ViT encoder (2 per multiply-add, matmuls only).

    Per block, with ``n = patches + prefix_tokens`` tokens of width ``D`` and ``A = heads * head_dim``:
    ``qkv 2nD(3A) + scores 2n^2A + weighted values 2n^2A + projection 2nAD + MLP 2 * 2nDH``; plus the patch
    embedding ``2 * patches * patch_values * D``.

    Args:
        patches: patch tokens per image.
        patch_values: values per patch (``bands * patch_size**2``).
        embed_dim: width of the residual stream ``D``.
        depth: blocks.
        heads: attention heads.
        head_dim: dimensions per head's query, key and value.
        mlp_hidden: MLP hidden units ``H``.
        prefix_tokens: CLS and register tokens.
    """
    tokens, inner = patches + prefix_tokens, heads * head_dim
    attention = 2 * tokens * embed_dim * 3 * inner + 2 * 2 * tokens * tokens * inner + 2 * tokens * inner * embed_dim
    mlp = 2 * 2 * tokens * embed_dim * mlp_hidden
    return 2 * patches * patch_values * embed_dim + depth * (attention + mlp)
