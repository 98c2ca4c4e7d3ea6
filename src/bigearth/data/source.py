"""One reading interface over a store and a release root, so that everything accepts either (``--data PATH``)."""

from pathlib import Path

import numpy as np

from bigearth.data import geotiff
from bigearth.bands import S1_BANDS, S2_BANDS
from bigearth.data.layout import METADATA_FILE, is_release_root
from bigearth.data.store import PatchVisitor, StoreReader, is_store
from bigearth.errors import ConfigError, MissingDataError


class ReleaseReader:
    """Reads patches from a release root in the official GeoTIFF layout (one file per band).

    Args:
        root: folder holding ``BigEarthNet-S2``, ``BigEarthNet-S1`` and/or ``Reference_Maps``.
    """

    kind = "release root"

    def __init__(self, root: Path) -> None:
        self.path = Path(root)

    def read_s2(self, patch_id: str, bands: tuple[str, ...] = S2_BANDS) -> dict[str, np.ndarray]:
        """Return S2 bands of a patch at native size, ``{band: uint16 (n, n)}``."""
        return geotiff.read_s2(self.path, patch_id, bands)

    def read_s1(self, s1_name: str, bands: tuple[str, ...] = S1_BANDS) -> dict[str, np.ndarray]:
        """Return S1 polarisations of a patch, ``{band: float32 (120, 120)}``."""
        return geotiff.read_s1(self.path, s1_name, bands)

    def read_reference_map(self, patch_id: str) -> np.ndarray:
        """Return a patch's reference map, ``(120, 120)`` uint16 CLC codes."""
        return geotiff.read_reference_map(self.path, patch_id)

    def for_each(self, names: list[str], bands: tuple[str, ...], visit: PatchVisitor) -> None:
        """Call ``visit(i, {band: array})`` for the chosen bands of each S2 patch id or S1 name (all one sensor)."""
        read = self.read_s1 if names and names[0].startswith("S1") else self.read_s2
        for i, name in enumerate(names):
            visit(i, read(name, bands))


PatchSource = StoreReader | ReleaseReader


def open_source(path: Path, *, verify_checksums: bool = False) -> PatchSource:
    """Open a store folder or a release root, whichever ``path`` is.

    Args:
        path: store folder or release root.
        verify_checksums: compare every store value read with its recorded checksum (stores only).

    Raises:
        MissingDataError: if ``path`` is neither.
        ConfigError: if ``verify_checksums`` is asked of a release root (its GeoTIFFs have no recorded checksums).
        StoreError: if ``verify_checksums`` is asked of a store without checksums (see :class:`StoreReader`).
    """
    path = Path(path)
    if is_store(path):
        return StoreReader(path, verify_checksums=verify_checksums)
    if is_release_root(path) or (path / METADATA_FILE).is_file():
        if verify_checksums:
            raise ConfigError(
                f"{path} is a release root: its GeoTIFFs have no recorded checksums, so verify_checksums applies "
                "to stores only; encode one with `bigearth encode`, or read without verify_checksums"
            )
        return ReleaseReader(path)
    raise MissingDataError(
        f"{path} is neither a store (no data.mdb) nor a reBEN release root (no BigEarthNet-S2, BigEarthNet-S1 or "
        "Reference_Maps folder); make one with `bigearth synth` or point --data at the extracted reBEN archive"
    )
