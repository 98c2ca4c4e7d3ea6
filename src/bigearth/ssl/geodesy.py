"""Distances and positions on the globe for the geographic regularisers, from patch-centre latitude/longitude."""

import torch
from torch import Tensor

#: Mean Earth radius (IUGG), kilometres.
EARTH_RADIUS_KM = 6371.0088


def check_coordinates(lat: Tensor, lon: Tensor, *, batch_size: int | None = None) -> None:
    """Refuse missing or impossible coordinates.

    Args:
        lat: ``(batch_size,)`` latitudes, degrees.
        lon: ``(batch_size,)`` longitudes, degrees.
        batch_size: the expected length, if known.

    Raises:
        ValueError: for wrong shapes, NaN (patches without coordinates) or latitudes outside [-90, 90].
    """
    if lat.ndim != 1 or lon.shape != lat.shape:
        raise ValueError(
            f"lat and lon must both have shape (batch_size,), got {tuple(lat.shape)} and {tuple(lon.shape)}"
        )
    if batch_size is not None and len(lat) != batch_size:
        raise ValueError(f"got {len(lat)} coordinates for a batch of {batch_size} patches")
    missing = ~(torch.isfinite(lat) & torch.isfinite(lon))
    if bool(missing.any()):
        raise ValueError(
            f"{int(missing.sum())} of {len(lat)} patches have no coordinates (NaN latitude/longitude); the geographic "
            "regularisers need every patch's centre: drop those patches or switch the regulariser off"
        )
    if bool((lat.abs() > 90).any()):
        raise ValueError(f"latitudes must lie in [-90, 90] degrees, got {lat.abs().max().item():.3f}: lat/lon swapped?")


def haversine_distances(lat: Tensor, lon: Tensor) -> Tensor:
    """Return great-circle distances between all pairs of points (haversine formula, spherical Earth).

    Args:
        lat: ``(n,)`` latitudes, degrees.
        lon: ``(n,)`` longitudes, degrees.

    Returns:
        ``(n, n)`` distances in kilometres, float64 (metre precision at reBEN's 1.2 km patch spacing).
    """
    phi, lam = torch.deg2rad(lat.double()), torch.deg2rad(lon.double())
    half_dphi = (phi[:, None] - phi[None, :]) / 2
    half_dlam = (lam[:, None] - lam[None, :]) / 2
    # h = sin^2(dphi/2) + cos(phi_i) cos(phi_j) sin^2(dlam/2); d = 2 R asin(sqrt(h))
    h = torch.sin(half_dphi) ** 2 + torch.cos(phi)[:, None] * torch.cos(phi)[None, :] * torch.sin(half_dlam) ** 2
    return 2 * EARTH_RADIUS_KM * torch.asin(torch.sqrt(h.clamp(0, 1)))


def unit_vectors(lat: Tensor, lon: Tensor) -> Tensor:
    """Return points as unit vectors ``(n, 3)`` (x towards 0 N 0 E, z towards the north pole), float64."""
    phi, lam = torch.deg2rad(lat.double()), torch.deg2rad(lon.double())
    return torch.stack([torch.cos(phi) * torch.cos(lam), torch.cos(phi) * torch.sin(lam), torch.sin(phi)], dim=1)
