"""Self-supervised learning for multispectral imagery: networks, losses and augmentations (no Lightning).

- :mod:`bigearth.ssl.methods`: SimCLR, MoCo-v2, BYOL, SimSiam and DINO on lightly's losses and heads;
- :mod:`bigearth.ssl.georank_loss`: the GeoRank regulariser, on :mod:`bigearth.ssl.soft_rank` (Blondel et al.
  2020) and :mod:`bigearth.ssl.geodesy` (haversine distances);
- :mod:`bigearth.ssl.location_clusters`: the geography-aware SSL baseline (location-cluster classification);
- :mod:`bigearth.ssl.augment`: multispectral augmentations of whole batches on their device.

The Lightning task that trains them is :mod:`bigearth.tasks.ssl`.
"""

from bigearth._optional import require

require("lightly", extra="ssl")
