"""Thematic-climatic selection: a subset that covers the archive's climate zones and their land-cover themes.

Design (DESIGN 2.7 leaves the sampling open), two levels:

1. the budget is shared among the **climate zones**, then each zone's share among the **land-cover themes**
   found in that zone (the cells);
2. at each level every group first gets one patch (when the budget allows: coverage first), and the rest is
   shared in proportion to ``N_group ** power``, never more than a group holds (what a small group cannot take
   goes to the others), rounded by largest remainder so the total is exact;
3. each cell's share is drawn at random.

``power = 1`` keeps the archive's proportions (representative), ``power = 0`` gives every group the same share
(diverse); the default 0.5 sits between them: large groups keep most of their weight while rare climates and
rare climate-land-cover combinations gain.
"""

import numpy as np
import pandas as pd

from bigearth.errors import ConfigError


def allocate(counts: pd.Series, size: int, *, power: float = 0.5) -> pd.Series:
    """Share ``size`` among groups: one each if possible, the rest in proportion to ``count ** power``, capped.

    Args:
        counts: patches per group (index: group names).
        size: the total to share, at most ``counts.sum()``.
        power: the exponent (0 = equal shares, 1 = proportional).

    Returns:
        Patches per cell, summing to ``size``.

    Raises:
        ConfigError: if ``size`` is not in ``1..counts.sum()`` or ``power`` is negative.
    """
    if not 0 < size <= int(counts.sum()):
        raise ConfigError(f"the subset size {size} must lie in 1..{int(counts.sum())} (the patches available)")
    if power < 0:
        raise ConfigError(f"the sampling power {power} must be >= 0")
    shares = pd.Series(0, index=counts.index, dtype=np.int64)
    open_cells = counts.index[counts > 0]
    if size >= len(open_cells):  # coverage first: one patch per group
        shares[open_cells] = 1
    remaining = size - int(shares.sum())
    open_cells = open_cells[(counts[open_cells] - shares[open_cells]) > 0]
    while remaining > 0:
        weights = counts[open_cells].astype(float) ** power
        ideal = remaining * weights / weights.sum()
        room = counts[open_cells] - shares[open_cells]
        floor = np.minimum(np.floor(ideal).astype(np.int64), room)
        if floor.sum() == 0:  # give the largest remainders one each
            order = (ideal - np.floor(ideal)).sort_values(ascending=False).index
            floor = pd.Series(0, index=open_cells, dtype=np.int64)
            floor[order[:remaining]] = 1
            floor = np.minimum(floor, room)
        shares[open_cells] += floor
        remaining = size - int(shares.sum())
        open_cells = open_cells[(counts[open_cells] - shares[open_cells]) > 0]
    return shares


def thematic_climatic_sample(
    descriptors: pd.DataFrame, size: int, *, power: float = 0.5, seed: int = 0
) -> pd.DataFrame:
    """Select ``size`` patches balanced over climate zones, then land-cover themes (see the module docstring).

    Args:
        descriptors: one row per patch with ``climate_zone`` and ``land_cover`` columns
            (:func:`~bigearth.sampling.descriptors.patch_descriptors`).
        size: patches to select.
        power: the allocation exponent.
        seed: random seed of the draws inside each cell.

    Returns:
        The selected rows, in archive order.
    """
    zones = allocate(descriptors["climate_zone"].value_counts().sort_index(), size, power=power)
    generator = np.random.default_rng(seed)
    chosen = []
    for zone, zone_rows in descriptors.groupby("climate_zone", sort=True).indices.items():
        if not zones[zone]:
            continue
        themes = descriptors["land_cover"].iloc[zone_rows]
        cells = allocate(themes.value_counts().sort_index(), int(zones[zone]), power=power)
        for theme, rows in themes.groupby(themes, sort=True).indices.items():
            chosen.append(generator.choice(zone_rows[rows], size=int(cells[theme]), replace=False))
    return descriptors.iloc[np.sort(np.concatenate(chosen))]


def random_sample(descriptors: pd.DataFrame, size: int, *, seed: int = 0) -> pd.DataFrame:
    """Select ``size`` patches uniformly at random (the baseline the report compares with)."""
    rows = np.random.default_rng(seed).choice(len(descriptors), size=size, replace=False)
    return descriptors.iloc[np.sort(rows)]
