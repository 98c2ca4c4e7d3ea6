"""A pre-norm ViT block whose MLP may be a Soft MoE layer.

The attention and MLP are timm's ``Attention`` (``qkv``, ``proj``) and ``Mlp`` (``fc1``, ``fc2``), so width
slimming can cut them as in any timm ViT; a Soft MoE block keeps ``attn`` and stores its experts' weights with
the same layout (:class:`bigearth.models.fm.soft_moe.Experts`).
"""

from collections.abc import Mapping

from timm.layers import DropPath, Mlp
from timm.models.vision_transformer import Attention
from torch import Tensor, nn

from bigearth.models.fm.soft_moe import SoftMoE


class Block(nn.Module):
    """``x + attn(norm(x))``, then ``x + mlp(norm(x))`` (or a Soft MoE in place of the MLP).

    Args:
        dim: token width.
        num_heads: attention heads.
        mlp_ratio: MLP hidden width over ``dim``.
        drop_path: stochastic depth rate.
        num_experts: experts of a Soft MoE replacing the MLP (0: a dense MLP).
        slots_per_expert: Soft MoE slots per expert.
        expert_groups: sensor -> experts reserved for it (see :class:`SoftMoE`).

    Shapes:
        input and output: ``(B, m, dim)``.
    """

    def __init__(
        self,
        *,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        drop_path: float = 0.0,
        num_experts: int = 0,
        slots_per_expert: int = 1,
        expert_groups: Mapping[str, tuple[int, ...]] | None = None,
    ) -> None:
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads=num_heads, qkv_bias=True)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.is_moe = num_experts > 0
        self.mlp: nn.Module = (
            SoftMoE(dim=dim, hidden_dim=hidden, num_experts=num_experts, slots_per_expert=slots_per_expert,
                    groups=expert_groups)
            if self.is_moe else Mlp(in_features=dim, hidden_features=hidden)
        )  # fmt: skip
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, tokens: Tensor, sensor: str | None = None) -> Tensor:
        """Transform a sequence of ``sensor`` (which selects a Soft MoE's experts; ignored by an MLP)."""
        tokens = tokens + self.drop_path(self.attn(self.norm1(tokens)))
        hidden = self.norm2(tokens)
        return tokens + self.drop_path(self.mlp(hidden, sensor) if self.is_moe else self.mlp(hidden))
