"""Self-supervised pretraining with the GeoRank and location-cluster regularisers, and the probes of encoders.

Methods: SimCLR, MoCo-v2, BYOL, SimSiam, DINO; recipes with ``task: ssl`` live in ``configs/ssl/``.
"""

from bigearth._optional import require

require("lightly", extra="ssl")
