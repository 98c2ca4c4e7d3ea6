"""Geography-aware SSL (GASSL): predict each patch's location cluster as an extra pretext task.

- [0] Ayush, Uzkent, Meng, Tanmay, Burke, Lobell, Ermon, "Geography-Aware Self-Supervised Learning", ICCV 2021,
  https://arxiv.org/abs/2011.09980 (k-means clusters of the training set's coordinates, cross-entropy on the
  query encoder's output)
- [1] Reference code: https://github.com/sustainlab-group/geography-aware-ssl
- [2] The GeoRank reference code's baseline: https://github.com/tomburgert/georank (``ssl_base.py``,
  ``ayush_geo_aware``: ``nn.Linear(128, k)`` on MoCo's 128-d projection, k = 10, cross-entropy mixed with the SSL
  loss as ``(1 - alpha) L_ssl + alpha L_ce``). bigearth does the same for MoCo-v2 and, as its own extension, uses
  ``Linear(projection width, k)`` on the projection of the other methods (the reference hard-codes 128).

Clusters are fitted on unit vectors of the coordinates (so that longitudes wrap around and a degree of longitude
is not a degree of latitude); a patch belongs to the centre nearest to it. Why by hand: k-means is a dozen lines of
torch here, where scikit-learn would be a new dependency for it alone.
"""

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from bigearth.ssl.geodesy import check_coordinates, unit_vectors


def fit_location_clusters(
    lat: Tensor, lon: Tensor, *, clusters: int = 10, iterations: int = 100, seed: int = 0
) -> Tensor:
    """Return ``(clusters, 3)`` unit-vector centres of k-means (k-means++ seeding, Lloyd iterations) on the globe.

    Args:
        lat: ``(n,)`` latitudes of the training patches, degrees.
        lon: ``(n,)`` longitudes, degrees.
        clusters: k (10 in the published baseline).
        iterations: at most this many Lloyd iterations.
        seed: seed of the k-means++ draws.

    Raises:
        ValueError: for fewer patches than clusters, or missing coordinates.
    """
    check_coordinates(lat, lon)
    if clusters < 1 or len(lat) < clusters:
        raise ValueError(f"k-means needs at least k = {clusters} >= 1 patches, got {len(lat)}")
    points = unit_vectors(lat, lon)
    generator = torch.Generator().manual_seed(seed)
    centres = points[torch.randint(len(points), (1,), generator=generator)]
    while len(centres) < clusters:  # k-means++: draw the next centre with probability ~ squared distance
        nearest = torch.cdist(points, centres).amin(dim=1).square()
        weights = nearest if bool(nearest.sum() > 0) else torch.ones_like(nearest)
        centres = torch.cat([centres, points[torch.multinomial(weights, 1, generator=generator)]])
    for _ in range(iterations):
        assignment = torch.cdist(points, centres).argmin(dim=1)
        sums = torch.zeros_like(centres).index_add_(0, assignment, points)
        counts = torch.bincount(assignment, minlength=clusters)[:, None]
        moved = torch.where(counts > 0, sums / counts.clamp_min(1), centres)  # an empty cluster keeps its centre
        moved = F.normalize(moved, dim=1)
        if torch.allclose(moved, centres):
            break
        centres = moved
    return centres.float()


class LocationClusterHead(nn.Module):
    """A linear classifier of the location cluster, with its cross-entropy loss [0].

    Args:
        in_dim: width of the outputs it classifies (the method's projection width [2]).
        centres: ``(clusters, 3)`` unit-vector cluster centres (:func:`fit_location_clusters`).

    Raises:
        ValueError: if ``centres`` is not ``(clusters, 3)``.
    """

    def __init__(self, *, in_dim: int, centres: Tensor) -> None:
        super().__init__()
        if centres.ndim != 2 or centres.shape[1] != 3 or len(centres) < 1:
            raise ValueError(f"cluster centres must be (clusters, 3) unit vectors, got {tuple(centres.shape)}")
        self.register_buffer("centres", centres.float())
        self.classifier = nn.Linear(in_dim, len(centres))

    def assign(self, lat: Tensor, lon: Tensor) -> Tensor:
        """Return the ``(batch_size,)`` int64 index of each patch's nearest centre."""
        check_coordinates(lat, lon)
        points = unit_vectors(lat, lon).to(self.centres)
        return (points @ self.centres.T).argmax(dim=1)  # nearest on the sphere = largest dot product

    def forward(self, features: Tensor, lat: Tensor, lon: Tensor) -> Tensor:
        """Return the cross-entropy of the cluster logits of ``features`` ``(batch_size, in_dim)``.

        Raises:
            ValueError: for missing coordinates or a batch size that differs from the features'.
        """
        if features.ndim != 2 or len(features) != len(lat):
            raise ValueError(
                f"features must be (batch_size, dim) with one row per coordinate, got {tuple(features.shape)}"
            )
        return F.cross_entropy(self.classifier(features).float(), self.assign(lat, lon))
