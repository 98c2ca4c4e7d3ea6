"""What a slimmed network keeps: :class:`SlimSpec`, and width lists as users write them.

Post-hoc slimming at width ``s`` (DESIGN 2.8) keeps the first ``floor(s * n)`` units of every MLP hidden layer
and the first ``floor(s * d_head)`` dimensions of every attention head's query, key and value (mode ``dims``:
all heads stay) or the first ``floor(s * heads)`` whole heads (mode ``heads``). For very small budgets the
embedding width (the residual stream, and with it the pooled features) is cut too (``embed_width``). A ResNet
keeps the first ``floor(s * c)`` channels of every convolution (the embedding width does not apply). At least
one unit of everything is always kept.

Cutting head dimensions leaves a choice the paper does not state (``attention_scale``): the softmax scale stays
the full model's ``1 / sqrt(d_head)`` (``original``, the default: pure slicing, the slimmed network is exactly
the full network with the cut dimensions removed) or becomes ``1 / sqrt(d_head')`` of the kept dimensions
(``slimmed``: as a network built at that width; what bigearth did before the option existed, so a recorded cut
without the key reads as ``slimmed``). Dropping whole heads (mode ``heads``) keeps ``d_head``: both agree.
"""

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bigearth.errors import ConfigError

#: How attention is slimmed: ``dims`` keeps every head with fewer dimensions, ``heads`` drops whole heads.
MODES = ("dims", "heads")
#: The softmax scale of slimmed attention: the full model's ``1/sqrt(d_head)``, or ``1/sqrt(d_head')`` of the cut.
ATTENTION_SCALES = ("original", "slimmed")
#: What a recorded cut without ``attention_scale`` (written before the option existed) used.
LEGACY_ATTENTION_SCALE = "slimmed"
#: The widths ``slim evaluate`` uses by default.
DEFAULT_WIDTHS = (1.0, 0.75, 0.5, 0.25, 0.1)


def check_width(value: float, name: str = "width") -> float:
    """Return ``value`` as a float if it lies in (0, 1].

    Raises:
        ConfigError: otherwise, saying what a width is.
    """
    if not isinstance(value, int | float) or not 0.0 < float(value) <= 1.0 or math.isnan(value):
        raise ConfigError(f"{name} must lie in (0, 1] (the fraction of channels kept), got {value!r}")
    return float(value)


def kept(total: int, fraction: float) -> int:
    """Return how many of ``total`` units a width keeps: ``max(1, floor(fraction * total))``."""
    return max(1, math.floor(fraction * total + 1e-9))


@dataclass(frozen=True)
class SlimSpec:
    """One slimmed width.

    Attributes:
        width: fraction of MLP hidden units and of attention head dimensions (or heads) kept; of all channels
            for a ResNet.
        embed_width: fraction of the embedding width (residual stream) kept; 1 keeps it whole.
        mode: ``dims`` (every head keeps its first dimensions) or ``heads`` (whole heads are dropped).
        attention_scale: softmax scale of attention with cut heads: ``original`` (the full model's) or
            ``slimmed`` (``1/sqrt`` of the kept head dimensions).
    """

    width: float = 1.0
    embed_width: float = 1.0
    mode: str = "dims"
    attention_scale: str = "original"

    def __post_init__(self) -> None:
        check_width(self.width)
        check_width(self.embed_width, "embed_width")
        if self.mode not in MODES:
            raise ConfigError(f"slimming mode {self.mode!r} is unknown; use one of {list(MODES)}")
        check_attention_scale(self.attention_scale)

    @property
    def is_full(self) -> bool:
        """Whether nothing is cut."""
        return self.width == 1.0 and self.embed_width == 1.0

    def to_dict(self) -> dict[str, Any]:
        """Return plain JSON-ready data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> "SlimSpec":
        """Rebuild a spec from :meth:`to_dict` output (without ``attention_scale``: ``slimmed``, as written then).

        Raises:
            ConfigError: for unknown keys or invalid values.
        """
        unknown = sorted(set(payload) - {"width", "embed_width", "mode", "attention_scale"})
        if unknown:
            raise ConfigError(f"unknown slimming key(s) {unknown}; a slim entry has width, embed_width, mode and "
                              "attention_scale")  # fmt: skip
        return cls(**{"attention_scale": LEGACY_ATTENTION_SCALE, **payload})


def check_attention_scale(value: str, name: str = "attention_scale") -> str:
    """Return ``value`` if it names an attention scale.

    Raises:
        ConfigError: otherwise, listing the scales.
    """
    if value not in ATTENTION_SCALES:
        raise ConfigError(f"{name} {value!r} is unknown; use one of {list(ATTENTION_SCALES)} (original: the full "
                          "model's 1/sqrt(d_head); slimmed: 1/sqrt of the kept head dimensions)")  # fmt: skip
    return value


def width_spec(
    width: float, *, embed_below: float = 0.0, mode: str = "dims", attention_scale: str = "original"
) -> SlimSpec:
    """Return the spec of one width: widths below ``embed_below`` also cut the embedding to the same fraction.

    Args:
        width: the width in (0, 1].
        embed_below: widths strictly below this cut the embedding width too (0: never), so that FLOPs fall about
            quadratically there (e.g. width 0.1 leaves about 1 % of a ViT's FLOPs).
        mode: ``dims`` or ``heads``.
        attention_scale: ``original`` or ``slimmed``.

    Raises:
        ConfigError: for a width outside (0, 1], an unknown mode or attention scale.
    """
    width = check_width(width)
    return SlimSpec(width=width, embed_width=width if width < embed_below else 1.0, mode=mode,
                    attention_scale=attention_scale)  # fmt: skip


def parse_widths(text: str | Sequence[float]) -> list[float]:
    """Return the widths of ``"1,0.75,0.5"`` (or a sequence), largest first and without repeats.

    Raises:
        ConfigError: for an empty list, a non-number or a width outside (0, 1].
    """
    parts = [part.strip() for part in text.split(",") if part.strip()] if isinstance(text, str) else list(text)
    if not parts:
        raise ConfigError("name at least one width, e.g. --widths 1,0.75,0.5,0.25")
    widths = []
    for part in parts:
        try:
            value = float(part)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"width {part!r} is not a number; write widths like 1,0.75,0.5") from error
        widths.append(check_width(value))
    return sorted(set(widths), reverse=True)
