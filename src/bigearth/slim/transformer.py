"""Slimming of vision transformers: timm ``VisionTransformer`` and the cross-sensor ViT of CSMAE/CSMoE.

Every block keeps the first ``floor(s * d_head)`` dimensions of each head's query, key and value (mode ``dims``)
or the first ``floor(s * heads)`` heads (mode ``heads``), and the first ``floor(s * hidden)`` units of its MLP
(or of every Soft MoE expert). With ``embed_width < 1`` the residual stream keeps its first channels too: patch
projections, CLS tokens, positions, norms, layer scales, the head and a CSMAE decoder's input projection.

The attention keeps timm's ``Attention`` module with new sizes (``num_heads``, ``head_dim``, ``attn_dim``). Its
softmax scale follows the spec's ``attention_scale``: ``slimmed`` sets ``scale = head_dim'**-0.5``, exactly the
module timm builds for those sizes (timm's fused path, ``F.scaled_dot_product_attention`` without ``scale``,
applies that same value); ``original`` keeps the full model's scale and, where the head width changed, switches
the module to timm's explicit path (``fused_attn = False``), the one that multiplies by ``attn.scale``.
"""

import torch
from timm.layers import LayerScale, Mlp, PatchEmbed
from timm.models.vision_transformer import Attention, VisionTransformer
from timm.models.vision_transformer import Block as TimmBlock
from torch import Tensor, nn

from bigearth.errors import ConfigError
from bigearth.models.fm.block import Block as CrossSensorBlock
from bigearth.models.fm.csmae import CrossSensorMAE
from bigearth.models.fm.encoder import CrossSensorEncoder
from bigearth.models.fm.soft_moe import SoftMoE
from bigearth.slim.plan import Cutter, first
from bigearth.slim.spec import SlimSpec, kept


def embedding_index(dim: int, spec: SlimSpec) -> Tensor | None:
    """Return the kept residual-stream channels (None: all of them)."""
    return None if spec.embed_width == 1.0 else first(kept(dim, spec.embed_width))


def _fraction_index(total: int, fraction: float) -> Tensor | None:
    """Return the first ``kept(total, fraction)`` indices, or None when that is all of them."""
    count = kept(total, fraction)
    return None if count == total else first(count)


def _norm(cut: Cutter, module: nn.Module, channels: Tensor | None, where: str) -> None:
    """Cut a layer norm; leave an identity alone; refuse anything else."""
    if isinstance(module, nn.LayerNorm):
        cut.norm(module, channels)
    elif not isinstance(module, nn.Identity):
        raise ConfigError(f"cannot slim the {type(module).__name__} at {where}; slimming supports LayerNorm")


def slim_attention(cut: Cutter, attn: Attention, spec: SlimSpec, embed: Tensor | None) -> None:
    """Cut one timm ``Attention``: fewer dimensions per head (``dims``) or fewer heads (``heads``).

    The fused ``qkv`` rows are ordered (part, head, dimension): row ``p * H * D + h * D + d``.
    """
    if attn.gate is not None:
        raise ConfigError("cannot slim gated attention; slimming supports timm's plain Attention")
    heads, head_dim = attn.num_heads, attn.head_dim
    keep_heads = heads if spec.mode == "dims" else kept(heads, spec.width)
    keep_dims = kept(head_dim, spec.width) if spec.mode == "dims" else head_dim
    grid = (torch.arange(3)[:, None, None] * heads * head_dim + torch.arange(keep_heads)[None, :, None] * head_dim
            + torch.arange(keep_dims)[None, None, :])  # fmt: skip
    whole = (keep_heads, keep_dims) == (heads, head_dim)
    rows, inner = (None, None) if whole else (grid.flatten(), grid[0].flatten())
    cut.linear(attn.qkv, rows=rows, cols=embed)
    for norm in (attn.q_norm, attn.k_norm):
        _norm(cut, norm, None if keep_dims == head_dim else first(keep_dims), "q_norm/k_norm")
    _norm(cut, attn.norm, inner, "the attention's output norm")
    cut.linear(attn.proj, rows=embed, cols=inner)
    attn.num_heads, attn.head_dim, attn.attn_dim = keep_heads, keep_dims, keep_heads * keep_dims
    if keep_dims == head_dim:
        return
    if spec.attention_scale == "slimmed":
        attn.scale = keep_dims**-0.5
    else:  # timm's fused path would apply keep_dims**-0.5 whatever attn.scale says
        attn.fused_attn = False


def slim_mlp(cut: Cutter, mlp: nn.Module, spec: SlimSpec, embed: Tensor | None) -> None:
    """Cut the hidden units of a timm ``Mlp`` or of every expert of a :class:`SoftMoE`."""
    if isinstance(mlp, SoftMoE):
        hidden = _fraction_index(mlp.experts.fc1_weight.shape[1], spec.width)
        cut.tensor(mlp, "phi", (embed, None, None))
        for name, index in (("fc1_weight", (None, hidden, embed)), ("fc1_bias", (None, hidden)),
                            ("fc2_weight", (None, embed, hidden)), ("fc2_bias", (None, embed))):  # fmt: skip
            cut.tensor(mlp.experts, name, index)
        return
    if type(mlp) is not Mlp or not isinstance(mlp.fc1, nn.Linear):
        raise ConfigError(f"cannot slim a {type(mlp).__name__} MLP; slimming supports timm's Mlp and Soft MoE")
    hidden = _fraction_index(mlp.fc1.out_features, spec.width)
    cut.linear(mlp.fc1, rows=hidden, cols=embed)
    _norm(cut, mlp.norm, hidden, "the MLP's hidden norm")
    cut.linear(mlp.fc2, rows=embed, cols=hidden)


def slim_block(cut: Cutter, block: nn.Module, spec: SlimSpec, embed: Tensor | None) -> None:
    """Cut a pre-norm transformer block (timm's ``Block`` or the cross-sensor ``Block``)."""
    if type(block) not in (TimmBlock, CrossSensorBlock):
        raise ConfigError(f"cannot slim a {type(block).__name__}; slimming supports timm's Block")
    _norm(cut, block.norm1, embed, "norm1")
    _norm(cut, block.norm2, embed, "norm2")
    for scale in (getattr(block, "ls1", None), getattr(block, "ls2", None)):
        if isinstance(scale, LayerScale):
            cut.tensor(scale, "gamma", (embed,))
    slim_attention(cut, block.attn, spec, embed)
    slim_mlp(cut, block.mlp, spec, embed)


def slim_vit(cut: Cutter, vit: VisionTransformer, spec: SlimSpec) -> None:
    """Cut a timm ``VisionTransformer`` in place (token or average pooling, linear or no head).

    Raises:
        ConfigError: for attention pooling or blocks other than timm's ``Block``.
    """
    if getattr(vit, "attn_pool", None) is not None or not isinstance(vit.patch_embed, PatchEmbed):
        raise ConfigError("cannot slim a ViT with attention pooling or a custom patch embedding")
    embed = embedding_index(vit.embed_dim, spec)
    cut.conv(vit.patch_embed.proj, out=embed)
    _norm(cut, vit.patch_embed.norm, embed, "the patch embedding's norm")
    for name in ("cls_token", "reg_token", "pos_embed"):
        if getattr(vit, name, None) is not None:
            cut.tensor(vit, name, (None, None, embed))
    for name in ("norm_pre", "norm", "fc_norm"):
        _norm(cut, getattr(vit, name), embed, name)
    for block in vit.blocks:
        slim_block(cut, block, spec, embed)
    if isinstance(vit.head, nn.Linear):
        cut.linear(vit.head, cols=embed)
    if embed is not None:
        vit.embed_dim = vit.num_features = vit.head_hidden_size = len(embed)


def slim_cross_sensor(cut: Cutter, encoder: CrossSensorEncoder, spec: SlimSpec) -> None:
    """Cut the cross-sensor ViT encoder in place (every sensor's embedding and blocks, the shared blocks)."""
    embed = embedding_index(encoder.embed_dim, spec)
    for sensor in encoder.sensors:
        cut.conv(encoder.patch_embed[sensor].proj, out=embed)
        cut.tensor(encoder.cls_token, sensor, (None, None, embed))
        for block in encoder.specific_blocks[sensor]:
            slim_block(cut, block, spec, embed)
    cut.tensor(encoder, "pos_embed", (None, None, embed))
    for block in encoder.shared_blocks:
        slim_block(cut, block, spec, embed)
    cut.norm(encoder.norm, embed)


def slim_cross_sensor_mae(cut: Cutter, model: CrossSensorMAE, spec: SlimSpec) -> None:
    """Cut a CSMAE/CSMoE encoder and the decoders' input projections, so the whole model still runs."""
    slim_cross_sensor(cut, model.encoder, spec)
    embed = embedding_index(model.encoder.embed_dim, spec)
    for decoder in model.decoder.decoders.values():
        cut.linear(decoder.embed, cols=embed)


def width_of(encoder: CrossSensorEncoder) -> int:
    """Return the (possibly slimmed) width of a cross-sensor encoder's tokens and pooled features."""
    return int(encoder.norm.normalized_shape[0])
