"""Options of a reBEN build that change what it writes (recorded, and checked when a build is resumed)."""

from dataclasses import asdict, dataclass, field
from typing import Any

from bigearth.construct.quality import QualityThresholds
from bigearth.data.layout import COUNTRIES

#: Patches with this fraction of unlabelled pixels or more are not in reBEN (DESIGN 2.2).
UNLABELLED_LIMIT = 0.25


@dataclass(frozen=True)
class BuildOptions:
    """What a build makes of its inputs.

    Attributes:
        keep_baseline: name tiles and patches with the product's processing baseline (``N0500``) instead of
            reBEN's ``N9999``.
        thresholds: SCL fractions from which a patch is flagged as snowy or cloudy (:mod:`bigearth.construct.quality`).
        countries: countries a patch may be assigned to (default reBEN's ten); None for every country.
    """

    keep_baseline: bool = False
    thresholds: QualityThresholds = field(default_factory=QualityThresholds)
    countries: tuple[str, ...] | None = COUNTRIES

    def record(self) -> dict[str, Any]:
        """Return the options as JSON-ready values (with the fixed reBEN rules), for the build record."""
        values = asdict(self)
        values["countries"] = None if self.countries is None else list(self.countries)
        return values | {"unlabelled_limit": UNLABELLED_LIMIT}
