"""Masked-patch decoders of CSMAE: a common decoder with one output head per sensor, or one decoder per sensor.

A decoder receives one sensor's encoded visible tokens, fills the hidden positions with a learned mask token,
adds its own sin-cos positions, runs dense ViT blocks and predicts the pixels of every patch of the target
sensor(s). Decoding an S1 encoding with the S2 head (or decoder) is the cross-sensor reconstruction.
"""

from collections.abc import Iterable, Mapping

import torch
from torch import Tensor, nn

from bigearth.models.fm.block import Block
from bigearth.models.fm.config import CrossSensorConfig
from bigearth.models.fm.encoder import init_weights, sincos_positions
from bigearth.models.fm.patches import take_tokens


class MaskedDecoder(nn.Module):
    """MAE's decoder with one linear pixel head per target sensor.

    Args:
        encoder_dim: width of the encoded tokens.
        dim: decoder width.
        depth: decoder blocks.
        num_heads: decoder attention heads.
        grid: patches per image side.
        outputs: target sensor -> values per patch (``patch_size**2 * bands``).
        mlp_ratio: MLP hidden width over ``dim``.

    Shapes:
        latent ``(B, 1 + K, encoder_dim)`` (CLS first), restore ``(B, N)`` -> ``{target: (B, N, values)}``.
    """

    def __init__(
        self, *, encoder_dim: int, dim: int, depth: int, num_heads: int, grid: int, outputs: Mapping[str, int],
        mlp_ratio: float = 4.0,
    ) -> None:  # fmt: skip
        super().__init__()
        self.embed = nn.Linear(encoder_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.register_buffer("pos_embed", sincos_positions(dim, grid), persistent=False)
        self.blocks = nn.ModuleList(Block(dim=dim, num_heads=num_heads, mlp_ratio=mlp_ratio) for _ in range(depth))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.heads = nn.ModuleDict({target: nn.Linear(dim, values) for target, values in outputs.items()})
        self.apply(init_weights)
        nn.init.normal_(self.mask_token, std=0.02)

    def forward(self, latent: Tensor, restore: Tensor, targets: Iterable[str]) -> dict[str, Tensor]:
        """Predict every patch of each target sensor from an encoded sequence.

        Args:
            latent: ``(B, 1 + K, encoder_dim)``: CLS then the K visible tokens in the order of ``Masking.keep``.
            restore: ``(B, N)`` permutation from ``[visible..., hidden...]`` to patch order.
            targets: target sensors (keys of ``outputs``).
        """
        tokens = self.embed(latent)
        batch, patches = restore.shape
        hidden = self.mask_token.expand(batch, patches - (tokens.shape[1] - 1), -1)
        ordered = take_tokens(torch.cat([tokens[:, 1:], hidden], dim=1), restore)
        tokens = torch.cat([tokens[:, :1], ordered], dim=1) + self.pos_embed
        for block in self.blocks:
            tokens = block(tokens)
        tokens = self.norm(tokens)[:, 1:]
        return {target: self.heads[target](tokens) for target in targets}


class CrossSensorDecoder(nn.Module):
    """The decoder(s) of a CSMAE variant: common (one trunk, a head per sensor) or specific (one per sensor).

    Args:
        config: the model configuration.
    """

    def __init__(self, *, config: CrossSensorConfig) -> None:
        super().__init__()
        self.kind = config.decoder_kind
        options = {"encoder_dim": config.embed_dim, "dim": config.decoder_dim, "depth": config.decoder_depth,
                   "num_heads": config.decoder_heads, "grid": config.grid, "mlp_ratio": config.mlp_ratio}  # fmt: skip
        outputs = {sensor: config.patch_values(sensor) for sensor in config.sensors}
        if self.kind == "common":
            self.decoders = nn.ModuleDict({"common": MaskedDecoder(**options, outputs=outputs)})
        else:
            self.decoders = nn.ModuleDict({s: MaskedDecoder(**options, outputs={s: v}) for s, v in outputs.items()})

    def forward(self, latent: Tensor, restore: Tensor, targets: Iterable[str]) -> dict[str, Tensor]:
        """Return ``{target: (B, N, values)}`` pixel predictions of every patch of each target sensor."""
        targets = list(targets)
        if self.kind == "common":
            return self.decoders["common"](latent, restore, targets)
        return {target: self.decoders[target](latent, restore, [target])[target] for target in targets}
