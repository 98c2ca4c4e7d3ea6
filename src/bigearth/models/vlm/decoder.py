"""A small pre-norm causal transformer decoder with a key/value cache for greedy generation.

The blocks are GPT-2's (Radford et al., "Language Models are Unsupervised Multitask Learners", 2019): layer norm
before attention and before the MLP, residual connections, a GELU MLP of four times the width. Attention is
:func:`torch.nn.functional.scaled_dot_product_attention` with a boolean mask (True = may attend), so one mask
expresses both causality and padding. Written here rather than taken from ``torch.nn.TransformerDecoderLayer``
because that layer keeps no key/value cache: without one, every generated token would re-encode the whole
sequence.
"""

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

#: Keys and values of one block for the tokens seen so far: two ``(B, heads, L, head_dim)`` tensors.
Cache = tuple[Tensor, Tensor]


class DecoderBlock(nn.Module):
    """One pre-norm transformer block: masked self-attention, then an MLP.

    Args:
        width: token width.
        heads: attention heads (``width`` must be a multiple).
        dropout: dropout on attention weights and on both residual branches (training only).

    Raises:
        ValueError: if ``width`` is not a multiple of ``heads``.
    """

    def __init__(self, width: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"the width {width} is not a multiple of the {heads} attention heads")
        self.heads, self.dropout = heads, dropout
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor, cache: Cache | None = None) -> tuple[Tensor, Cache]:
        """Return the updated tokens ``(B, L, width)`` and the keys and values of every token so far.

        Args:
            x: the new tokens ``(B, L, width)``.
            mask: ``(B, 1, L, K)`` bool, whether each new token may attend to each of the K tokens so far (the
                cached ones first, then the new ones).
            cache: keys and values of the earlier tokens, or None.
        """
        batch, length, width = x.shape
        # (B, L, 3 * width) -> three (B, heads, L, head width)
        q, k, v = self.qkv(self.norm1(x)).view(batch, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                                  dropout_p=self.dropout if self.training else 0.0)  # fmt: skip
        x = x + self.drop(self.proj(attended.transpose(1, 2).reshape(batch, length, width)))
        return x + self.drop(self.mlp(self.norm2(x))), (k, v)


def attention_mask(valid: Tensor, queries: int) -> Tensor:
    """Return the causal mask ``(B, 1, queries, K)`` of the last ``queries`` of K tokens, padding keys masked out.

    Args:
        valid: ``(B, K)`` bool, whether each token so far is real (False for padding).
        queries: how many of the K tokens are new (the last ones).
    """
    keys = valid.shape[1]
    causal = torch.ones(queries, keys, dtype=torch.bool, device=valid.device).tril(diagonal=keys - queries)
    return (causal.unsqueeze(0) & valid.unsqueeze(1)).unsqueeze(1)
