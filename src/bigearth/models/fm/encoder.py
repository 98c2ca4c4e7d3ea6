"""The cross-sensor ViT encoder of CSMAE and CSMoE.

Each sensor (S1: 2 bands, S2: 10 bands) has its own patch embedding and CLS token; both share fixed 2-D sin-cos
positions. A sequence passes the sensor's own blocks (a separate encoder's first ``depth - shared_depth``
blocks; none for a common encoder), then the blocks both sensors share, then a shared final norm. Sensors are
encoded one at a time, so an image pair that lacks one sensor still embeds the other. Blocks listed by
``moe.layers`` hold Soft MoE layers: in shared blocks the experts split into S1, S2 and shared groups; a
sensor's own blocks hold all experts, serving that sensor (``moe.wiring: full``), or only that sensor's group
(``lean``) (:mod:`bigearth.models.fm.soft_moe`).
"""

from collections.abc import Mapping

import torch
from lightly.models.utils import get_2d_sine_cosine_positional_embedding
from timm.layers import PatchEmbed
from torch import Tensor, nn

from bigearth.errors import ConfigError
from bigearth.models.fm.block import Block
from bigearth.models.fm.config import CrossSensorConfig


def sincos_positions(dim: int, grid: int) -> Tensor:
    """Return fixed 2-D sin-cos positions ``(1, 1 + grid**2, dim)``, zero for the CLS token (MAE's recipe)."""
    return torch.from_numpy(get_2d_sine_cosine_positional_embedding(dim, grid, cls_token=True)).float()[None]


def init_weights(module: nn.Module) -> None:
    """MAE initialisation: Xavier-uniform linear layers (and patch projections), zero biases, unit norms."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
    elif isinstance(module, PatchEmbed):
        nn.init.xavier_uniform_(module.proj.weight.view(module.proj.weight.shape[0], -1))


class CrossSensorEncoder(nn.Module):
    """Sensor-specific embeddings and blocks, then shared blocks.

    Args:
        config: the model configuration (widths, depths, variant, Soft MoE layers, bands per sensor).

    Shapes:
        :meth:`embed`: ``(B, C_sensor, H, W)`` -> ``(B, N, d)``; :meth:`encode`: ``(B, K, d)`` visible patch
        tokens -> ``(B, 1 + K, d)`` (CLS first); :meth:`forward`: ``{sensor: image}`` -> ``{sensor: (B, d)}``.
    """

    def __init__(self, *, config: CrossSensorConfig) -> None:
        super().__init__()
        self.config = config
        dim = config.embed_dim
        self.patch_embed = nn.ModuleDict({
            sensor: PatchEmbed(config.image_size, config.patch_size, len(config.sensor_bands[sensor]), dim)
            for sensor in config.sensors
        })  # fmt: skip
        self.cls_token = nn.ParameterDict({s: nn.Parameter(torch.zeros(1, 1, dim)) for s in config.sensors})
        self.register_buffer("pos_embed", sincos_positions(dim, config.grid), persistent=False)
        moe_layers = set(config.moe.layer_indices(config.depth))
        drop = torch.linspace(0, config.drop_path_rate, config.depth).tolist()
        k = config.moe.sensor_experts
        groups = {"s1": tuple(range(k)), "s2": tuple(range(k, 2 * k))} if k else None

        def block(index: int, experts: int, expert_groups: dict[str, tuple[int, ...]] | None) -> Block:
            moe = index in moe_layers
            return Block(
                dim=dim,
                num_heads=config.num_heads,
                mlp_ratio=config.mlp_ratio,
                drop_path=drop[index],
                num_experts=experts if moe else 0,
                slots_per_expert=config.moe.slots_per_expert,
                expert_groups=expert_groups if moe else None,
            )

        specific = config.specific_depth
        self.specific_blocks = nn.ModuleDict({
            sensor: nn.ModuleList(block(i, config.moe.specific_experts(), None) for i in range(specific))
            for sensor in config.sensors
        })  # fmt: skip
        self.shared_blocks = nn.ModuleList(block(i, config.moe.num_experts, groups)
                                           for i in range(specific, config.depth))  # fmt: skip
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.apply(init_weights)
        for token in self.cls_token.values():
            nn.init.normal_(token, std=0.02)

    @property
    def sensors(self) -> tuple[str, ...]:
        """The sensors this encoder embeds."""
        return self.config.sensors

    @property
    def embed_dim(self) -> int:
        """Width of the tokens and pooled features."""
        return self.config.embed_dim

    def _check(self, image: Tensor, sensor: str) -> None:
        """Refuse an unknown sensor or an image of the wrong shape, saying what the model reads."""
        if sensor not in self.config.sensor_bands:
            raise ConfigError(f"the encoder embeds sensors {list(self.sensors)}, not {sensor!r}")
        bands = self.config.sensor_bands[sensor]
        size = self.config.image_size
        if image.ndim != 4 or tuple(image.shape[1:]) != (len(bands), size, size):
            raise ConfigError(
                f"the {sensor} embedding reads (B, {len(bands)}, {size}, {size}) images (bands {bands}), got "
                f"{tuple(image.shape)}; load the data with these bands at {size} px"
            )

    def embed(self, image: Tensor, sensor: str) -> Tensor:
        """Return the patch tokens (positions added) of one sensor's images: ``(B, N, d)``.

        Raises:
            ConfigError: for an unknown sensor or a wrong image shape.
        """
        self._check(image, sensor)
        return self.patch_embed[sensor](image) + self.pos_embed[:, 1:]

    def encode(self, tokens: Tensor, sensor: str) -> Tensor:
        """Prepend the sensor's CLS token and run the sensor's blocks, the shared blocks and the norm.

        Args:
            tokens: ``(B, K, d)`` patch tokens from :meth:`embed` (all of them, or the visible ones).
            sensor: which sensor they come from.

        Returns:
            ``(B, 1 + K, d)``, CLS first.
        """
        cls = (self.cls_token[sensor] + self.pos_embed[:, :1]).expand(tokens.shape[0], -1, -1)
        tokens = torch.cat([cls, tokens], dim=1)
        for block in self.specific_blocks[sensor]:
            tokens = block(tokens, sensor)
        for block in self.shared_blocks:
            tokens = block(tokens, sensor)
        return self.norm(tokens)

    def pool(self, tokens: Tensor) -> Tensor:
        """Return one feature per sequence ``(B, d)``: the CLS token or the mean patch token (``config.pool``)."""
        return tokens[:, 0] if self.config.pool == "cls" else tokens[:, 1:].mean(dim=1)

    def forward_features(self, images: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Return the unmasked token sequences ``{sensor: (B, 1 + N, d)}`` of the sensors present in ``images``.

        Raises:
            ConfigError: if ``images`` holds no sensor, an unknown one or a wrong shape.
        """
        if not images:
            raise ConfigError(f"no image to embed: pass at least one of the sensors {list(self.sensors)}")
        return {sensor: self.encode(self.embed(image, sensor), sensor) for sensor, image in images.items()}

    def forward(self, images: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """Return pooled features ``{sensor: (B, d)}`` of the sensors present in ``images``."""
        return {sensor: self.pool(tokens) for sensor, tokens in self.forward_features(images).items()}

    def split(self, images: Tensor, bands: tuple[str, ...] | list[str]) -> dict[str, Tensor]:
        """Split a stacked image batch ``(B, C, H, W)`` with channels ``bands`` into ``{sensor: (B, C_s, H, W)}``.

        Channels are picked by band name in the order the model reads them; a sensor none of whose bands is
        present is left out (the model embeds the others).

        Raises:
            ConfigError: if a sensor is present with only some of its bands, or the channel count is not
                ``len(bands)``.
        """
        bands = list(bands)
        if images.ndim != 4 or images.shape[1] != len(bands):
            raise ConfigError(f"images of shape {tuple(images.shape)} do not have the {len(bands)} bands {bands}")
        out = {}
        for sensor in self.sensors:
            wanted = self.config.sensor_bands[sensor]
            present = [band for band in wanted if band in bands]
            if present and len(present) != len(wanted):
                missing = [band for band in wanted if band not in bands]
                raise ConfigError(
                    f"the data has {sensor} bands {present} but lacks {missing}; the model reads {wanted}"
                )
            if present:
                out[sensor] = images[:, [bands.index(band) for band in wanted]]
        if not out:
            raise ConfigError(f"bands {bands} hold no sensor the model reads ({self.config.sensor_bands})")
        return out
