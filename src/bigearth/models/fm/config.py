"""The configuration of a cross-sensor masked autoencoder (CSMAE) or its Soft-MoE twin (CSMoE).

Variants (Hackstein et al., "Exploring Masked Autoencoders for Sensor-Agnostic Image Retrieval in Remote
Sensing", IEEE TGRS 2024): the encoder is **common** (every block shared by S1 and S2; only the patch
embeddings and CLS tokens are per sensor) or **separate** (sensor-specific blocks, then ``shared_depth`` shared
ones: 10/2 for ViT-B), and the decoder is **common** (one decoder trunk with one output head per sensor) or
**specific** (one decoder per target sensor):

=========  =========  =========
variant    encoder    decoder
=========  =========  =========
``cecd``   common     common
``cesd``   common     specific
``secd``   separate   common
``sesd``   separate   specific
=========  =========  =========

Sizes follow the ViT ladder at 120 px with 15 px patches (64 tokens per sensor): tiny 192 d / 3 heads, small
384 d / 6 heads, base 768 d / 12 heads (DESIGN 2.7), all 12 blocks deep.
"""

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Union

from bigearth.bands import BAND_PRESETS, IMAGE_SIZE, S1_BANDS
from bigearth.errors import ConfigError

#: variant name -> (encoder kind, decoder kind).
VARIANTS: dict[str, tuple[str, str]] = {
    "cecd": ("common", "common"),
    "cesd": ("common", "specific"),
    "secd": ("separate", "common"),
    "sesd": ("separate", "specific"),
}
#: The sensors in their canonical order.
SENSORS: tuple[str, ...] = ("s1", "s2")
#: Default bands of each sensor: S1 VV VH, S2 the ten 10 m and 20 m bands (ConfigILM preset 10).
SENSOR_BANDS: dict[str, tuple[str, ...]] = {"s1": S1_BANDS, "s2": BAND_PRESETS[10]}


#: Expert wirings of sensor-specific blocks (:class:`MoEConfig`).
WIRINGS = ("full", "lean")


@dataclass(frozen=True)
class MoEConfig:
    """Where and how Soft Mixture-of-Experts layers replace MLPs (all zero: a dense CSMAE).

    Attributes:
        num_experts: experts per MoE layer (0: no MoE layers, the model is a CSMAE).
        sensor_experts: in blocks shared by both sensors, the experts reserved for S1 and, as many again, for
            S2; the remaining ``num_experts - 2 * sensor_experts`` experts are shared.
        slots_per_expert: slots each expert processes (Soft MoE's p; 1 in the original).
        layers: which encoder blocks get MoE layers: ``"last_half"`` (the original), ``"all"``, ``"every_other"``
            (odd blocks) or a list of block indices.
        wiring: the experts of a separate encoder's sensor-specific blocks (shared blocks always hold all
            ``num_experts``, in S1, S2 and shared groups): ``"full"`` (all ``num_experts`` serve the block's
            sensor; what model folders without the key hold) or ``"lean"`` (an S1 block holds only the
            ``sensor_experts`` of the S1 group, an S2 block only those of the S2 group). A common encoder has no
            sensor-specific blocks, so the wiring changes nothing there.
    """

    num_experts: int = 0
    sensor_experts: int = 0
    slots_per_expert: int = 1
    layers: Union[str, list[int]] = "last_half"  # noqa: UP007  (typing.get_type_hints keeps the Union readable)
    wiring: str = "full"

    def specific_experts(self) -> int:
        """Return the experts of a MoE layer in a sensor-specific block: all of them, or the sensor's group."""
        return self.sensor_experts if self.wiring == "lean" else self.num_experts

    def layer_indices(self, depth: int) -> tuple[int, ...]:
        """Return the indices of the encoder blocks with MoE layers, for an encoder ``depth`` blocks deep.

        Raises:
            ConfigError: for an unknown layer rule or an index outside the encoder.
        """
        if not self.num_experts:
            return ()
        rules = {"last_half": range(depth // 2, depth), "all": range(depth), "every_other": range(1, depth, 2)}
        if isinstance(self.layers, str):
            if self.layers not in rules:
                raise ConfigError(f"unknown moe.layers {self.layers!r}; use {list(rules)} or a list of block indices")
            return tuple(rules[self.layers])
        outside = [index for index in self.layers if not 0 <= index < depth]
        if outside:
            raise ConfigError(f"moe.layers {outside} lie outside the encoder's blocks 0..{depth - 1}")
        return tuple(sorted(set(self.layers)))


@dataclass(frozen=True)
class CrossSensorConfig:
    """Everything that shapes a cross-sensor masked autoencoder's weights (saved in its ``config.json``).

    Attributes:
        variant: ``cecd``, ``cesd``, ``secd`` or ``sesd`` (see the module docstring).
        size: a label for reports (``tiny``, ``small``, ``base`` or ``custom``); the numbers below decide.
        embed_dim: encoder width.
        depth: encoder blocks in all (sensor-specific plus shared).
        num_heads: encoder attention heads.
        shared_depth: shared blocks at the end of a separate encoder (the rest are sensor-specific); ignored by
            a common encoder, whose blocks are all shared.
        mlp_ratio: MLP (and expert) hidden width over ``embed_dim``.
        decoder_dim: decoder width.
        decoder_depth: decoder blocks.
        decoder_heads: decoder attention heads.
        patch_size: patch side in pixels (15: 8 x 8 = 64 tokens per sensor at 120 px).
        image_size: input side in pixels.
        mask_ratio: fraction of each sensor's patches hidden from the encoder during pretraining.
        pool: how a sequence becomes one feature vector: ``"cls"`` (the CLS token) or ``"mean"`` (mean patch token).
        drop_path_rate: stochastic depth of the encoder (training only).
        moe: the Soft MoE layers (none for CSMAE).
        sensor_bands: band names of each sensor, in channel order.
    """

    variant: str = "sesd"
    size: str = "base"
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    shared_depth: int = 2
    mlp_ratio: float = 4.0
    decoder_dim: int = 512
    decoder_depth: int = 8
    decoder_heads: int = 16
    patch_size: int = 15
    image_size: int = IMAGE_SIZE
    mask_ratio: float = 0.5
    pool: str = "mean"
    drop_path_rate: float = 0.0
    moe: MoEConfig = field(default_factory=MoEConfig)
    sensor_bands: dict[str, list[str]] = field(default_factory=lambda: {s: list(b) for s, b in SENSOR_BANDS.items()})

    def __post_init__(self) -> None:
        self.validate()

    @property
    def encoder_kind(self) -> str:
        """``"common"`` or ``"separate"``."""
        return VARIANTS[self.variant][0]

    @property
    def decoder_kind(self) -> str:
        """``"common"`` or ``"specific"``."""
        return VARIANTS[self.variant][1]

    @property
    def specific_depth(self) -> int:
        """Sensor-specific encoder blocks (0 for a common encoder)."""
        return self.depth - self.shared_depth if self.encoder_kind == "separate" else 0

    @property
    def model_type(self) -> str:
        """``"csmoe"`` when the encoder has Soft MoE layers, else ``"csmae"``."""
        return "csmoe" if self.moe.num_experts else "csmae"

    @property
    def grid(self) -> int:
        """Patches per image side."""
        return self.image_size // self.patch_size

    @property
    def num_patches(self) -> int:
        """Patch tokens per sensor."""
        return self.grid**2

    @property
    def sensors(self) -> tuple[str, ...]:
        """The sensors the model embeds, in canonical order."""
        return tuple(s for s in SENSORS if s in self.sensor_bands)

    @property
    def bands(self) -> tuple[str, ...]:
        """All bands, sensor by sensor (the channel order of a stacked S1+S2 image)."""
        return tuple(band for s in self.sensors for band in self.sensor_bands[s])

    def patch_values(self, sensor: str) -> int:
        """Values in one patch of a sensor (``patch_size**2 * bands``)."""
        return self.patch_size**2 * len(self.sensor_bands[sensor])

    def validate(self) -> None:
        """Refuse inconsistent settings with a message that says what to change.

        Raises:
            ConfigError: naming the offending value.
        """
        problems = []
        if self.variant not in VARIANTS:
            problems.append(f"variant {self.variant!r} is none of {list(VARIANTS)}")
        if self.image_size % self.patch_size:
            problems.append(f"image_size {self.image_size} is not a multiple of patch_size {self.patch_size}")
        for name, width, heads in (("", self.embed_dim, self.num_heads), ("decoder_", self.decoder_dim,
                                                                            self.decoder_heads)):  # fmt: skip
            if heads < 1 or width % heads:
                problems.append(f"{name}dim {width} is not divisible by {name}heads {heads}")
        if self.depth < 1 or self.decoder_depth < 1:
            problems.append("depth and decoder_depth must be at least 1")
        if self.variant in VARIANTS and self.encoder_kind == "separate" and not 0 <= self.shared_depth < self.depth:
            problems.append(f"a separate encoder needs 0 <= shared_depth < depth, got {self.shared_depth}/{self.depth}")
        if not 0.0 <= self.mask_ratio < 1.0:
            problems.append(f"mask_ratio {self.mask_ratio} must lie in [0, 1)")
        if self.pool not in ("cls", "mean"):
            problems.append(f"pool {self.pool!r} is neither 'cls' nor 'mean'")
        unknown = [s for s in self.sensor_bands if s not in SENSORS]
        if unknown or not self.sensor_bands:
            problems.append(f"sensor_bands must name sensors among {list(SENSORS)}, got {list(self.sensor_bands)}")
        moe = self.moe
        if moe.num_experts < 0 or moe.sensor_experts < 0 or moe.slots_per_expert < 1:
            problems.append("moe.num_experts and moe.sensor_experts must be >= 0 and moe.slots_per_expert >= 1")
        elif moe.num_experts and moe.num_experts - 2 * moe.sensor_experts < 0:
            problems.append(f"moe.num_experts {moe.num_experts} < 2 x moe.sensor_experts {moe.sensor_experts}")
        if moe.wiring not in WIRINGS:
            problems.append(f"moe.wiring {moe.wiring!r} is unknown; use one of {list(WIRINGS)}")
        elif moe.wiring == "lean" and moe.num_experts and not moe.sensor_experts:
            problems.append("moe.wiring lean gives sensor-specific blocks the sensor's own experts: set "
                            "moe.sensor_experts >= 1 (or moe.wiring full)")  # fmt: skip
        if problems:
            raise ConfigError("invalid cross-sensor model configuration: " + "; ".join(problems))
        self.moe.layer_indices(self.depth)

    def to_dict(self) -> dict[str, Any]:
        """Return plain JSON-ready data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> "CrossSensorConfig":
        """Rebuild a configuration from :meth:`to_dict` output.

        Raises:
            ConfigError: for unknown keys or invalid values.
        """
        allowed = {item.name for item in fields(cls)}
        unknown = [key for key in payload if key not in allowed]
        if unknown:
            raise ConfigError(f"unknown cross-sensor model key(s) {unknown}; allowed: {sorted(allowed)}")
        values = dict(payload)
        moe = values.pop("moe", {}) or {}
        if not isinstance(moe, dict):
            raise ConfigError(f"moe must be a mapping, got {moe!r}")
        moe_allowed = {item.name for item in fields(MoEConfig)}
        if set(moe) - moe_allowed:
            raise ConfigError(f"unknown moe key(s) {sorted(set(moe) - moe_allowed)}; allowed: {sorted(moe_allowed)}")
        if "sensor_bands" in values:
            values["sensor_bands"] = {s: list(b) for s, b in values["sensor_bands"].items()}
        return cls(**values, moe=MoEConfig(**moe))


#: Encoder and decoder sizes of the ViT ladder (DESIGN 2.7 gives base; tiny and small scale it down).
SIZES: dict[str, dict[str, Any]] = {
    "tiny": {"embed_dim": 192, "num_heads": 3, "decoder_dim": 128, "decoder_depth": 2, "decoder_heads": 4},
    "small": {"embed_dim": 384, "num_heads": 6, "decoder_dim": 256, "decoder_depth": 4, "decoder_heads": 8},
    "base": {"embed_dim": 768, "num_heads": 12, "decoder_dim": 512, "decoder_depth": 8, "decoder_heads": 16},
}
#: The default Soft MoE of CSMoE: 16 experts (4 for S1, 4 for S2, 8 shared), 2 slots each, in the last half.
#: Each sensor's tokens meet 12 experts x 2 slots = 24 slots: at inference 65 tokens per sensor are mixed into
#: 24 slots, so the expert MLPs cost about 24/65 of the dense MLPs they replace.
CSMOE_DEFAULT = MoEConfig(num_experts=16, sensor_experts=4, slots_per_expert=2, layers="last_half")


def preset(size: str, *, variant: str = "sesd", moe: MoEConfig | None = None, **overrides: Any) -> CrossSensorConfig:
    """Return the configuration of a named size (``tiny``, ``small``, ``base``).

    Args:
        size: a key of :data:`SIZES`.
        variant: the encoder/decoder variant.
        moe: Soft MoE layers (None: a dense CSMAE).
        **overrides: any other :class:`CrossSensorConfig` field.

    Raises:
        ConfigError: for an unknown size or an invalid combination.
    """
    if size not in SIZES:
        raise ConfigError(f"unknown size {size!r}; sizes are {list(SIZES)}")
    config = CrossSensorConfig(variant=variant, size=size, **SIZES[size])
    return replace(config, moe=moe or MoEConfig(), **overrides)
