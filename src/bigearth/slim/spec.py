"""What a slimmed network keeps: :class:`SlimSpec`, and width lists as users write them.

Post-hoc slimming at width ``s`` (DESIGN 2.8) keeps the first ``floor(s * n)`` units of every MLP hidden layer
and the first ``floor(s * d_head)`` dimensions of every attention head's query, key and value (mode ``dims``:
all heads stay) or the first ``floor(s * heads)`` whole heads (mode ``heads``). For very small budgets the
embedding width (the residual stream, and with it the pooled features) is cut too (``embed_width``). A ResNet
keeps the first ``floor(s * c)`` channels of every convolution (the embedding width does not apply). At least
one unit of everything is always kept.
"""

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bigearth.errors import ConfigError

#: How attention is slimmed: ``dims`` keeps every head with fewer dimensions, ``heads`` drops whole heads.
MODES = ("dims", "heads")
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
    """

    width: float = 1.0
    embed_width: float = 1.0
    mode: str = "dims"

    def __post_init__(self) -> None:
        check_width(self.width)
        check_width(self.embed_width, "embed_width")
        if self.mode not in MODES:
            raise ConfigError(f"slimming mode {self.mode!r} is unknown; use one of {list(MODES)}")

    @property
    def is_full(self) -> bool:
        """Whether nothing is cut."""
        return self.width == 1.0 and self.embed_width == 1.0

    def to_dict(self) -> dict[str, Any]:
        """Return plain JSON-ready data."""
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> "SlimSpec":
        """Rebuild a spec from :meth:`to_dict` output.

        Raises:
            ConfigError: for unknown keys or invalid values.
        """
        unknown = sorted(set(payload) - {"width", "embed_width", "mode"})
        if unknown:
            raise ConfigError(f"unknown slimming key(s) {unknown}; a slim entry has width, embed_width and mode")
        return cls(**payload)


def width_spec(width: float, *, embed_below: float = 0.0, mode: str = "dims") -> SlimSpec:
    """Return the spec of one width: widths below ``embed_below`` also cut the embedding to the same fraction.

    Args:
        width: the width in (0, 1].
        embed_below: widths strictly below this cut the embedding width too (0: never), so that FLOPs fall about
            quadratically there (e.g. width 0.1 leaves about 1 % of a ViT's FLOPs).
        mode: ``dims`` or ``heads``.

    Raises:
        ConfigError: for a width outside (0, 1] or an unknown mode.
    """
    width = check_width(width)
    return SlimSpec(width=width, embed_width=width if width < embed_below else 1.0, mode=mode)


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
