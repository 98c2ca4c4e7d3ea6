"""Seasonal snow and cloud/shadow flags of patches, from the L2A scene classification layer (SCL, 20 m).

SCL classes (sen2cor): 0 no data, 1 saturated or defective, 2 dark area pixels / topographic shadow,
3 cloud shadows, 4 vegetation, 5 not vegetated, 6 water, 7 unclassified, 8 cloud medium probability,
9 cloud high probability, 10 thin cirrus, 11 snow or ice.

reBEN took its flags over from BigEarthNet v1 (found by visual inspection); how an SCL-based rule matches them is
*unknown*. bigearth's documented default counts the 60 x 60 SCL pixels of a patch:

* ``contains_seasonal_snow``: at least :data:`SNOW_THRESHOLD` (1 %) of the pixels are snow or ice (11), not
  counting pixels where the reference map has CLC 335 "Glaciers and perpetual snow" (that snow is not seasonal);
* ``contains_cloud_or_shadow``: at least :data:`CLOUD_THRESHOLD` (1 %) of the pixels are cloud shadow (3), cloud of
  medium or high probability (8, 9) or thin cirrus (10).

1 % is 36 pixels of 20 m, about 1.4 ha: a small cloud or a snow field that a person would notice in the patch,
while isolated misclassified pixels (bright roofs taken for snow or cloud) stay below it. Flagged patches go to
``metadata_for_patches_with_snow_cloud_or_shadow.parquet``, as in reBEN.
"""

from dataclasses import dataclass

import numpy as np

from bigearth.errors import ConfigError

SCL_NODATA = 0
SCL_SNOW = 11
#: SCL classes counted as cloud or shadow.
SCL_CLOUD_OR_SHADOW: tuple[int, ...] = (3, 8, 9, 10)
#: CLC code of glaciers and perpetual snow, whose snow is not seasonal.
PERMANENT_SNOW_CODE = 335
SNOW_THRESHOLD = 0.01
CLOUD_THRESHOLD = 0.01


@dataclass(frozen=True)
class QualityThresholds:
    """Fractions of a patch's SCL pixels from which it is flagged (see the module docstring).

    Attributes:
        snow: fraction of seasonal snow/ice pixels, 0..1.
        cloud_or_shadow: fraction of cloud, cirrus or cloud-shadow pixels, 0..1.
    """

    snow: float = SNOW_THRESHOLD
    cloud_or_shadow: float = CLOUD_THRESHOLD

    def __post_init__(self) -> None:
        for name, value in (("snow", self.snow), ("cloud_or_shadow", self.cloud_or_shadow)):
            if not 0 < value <= 1:
                raise ConfigError(f"the {name} threshold must be a fraction in (0, 1], got {value}")


@dataclass(frozen=True)
class QualityFractions:
    """Per-patch fractions of SCL pixels, each ``(n,)`` float64 in 0..1."""

    snow: np.ndarray
    cloud_or_shadow: np.ndarray


def quality_fractions(scl: np.ndarray, codes: np.ndarray) -> QualityFractions:
    """Measure seasonal snow and cloud/shadow in patches.

    Args:
        scl: ``(n, 60, 60)`` uint8 SCL classes of n patches (20 m).
        codes: ``(n, 120, 120)`` uint16 CLC codes of the same patches (10 m reference maps).

    Returns:
        The fraction of seasonal snow and of cloud/shadow pixels of each patch.
    """
    n, size = scl.shape[0], scl.shape[1]
    permanent = (codes == PERMANENT_SNOW_CODE).reshape(n, size, 2, size, 2).any(axis=(2, 4))
    snow = ((scl == SCL_SNOW) & ~permanent).mean(axis=(1, 2))
    cloud = np.isin(scl, SCL_CLOUD_OR_SHADOW).mean(axis=(1, 2))
    return QualityFractions(snow=snow, cloud_or_shadow=cloud)
