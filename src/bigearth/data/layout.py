"""The official reBEN layout on disk: folder names, patch names, file paths and the metadata schema.

reBEN as distributed (Clasen et al., "reBEN: Refined BigEarthNet Dataset for Remote Sensing Image Analysis",
IGARSS 2025)::

    BigEarthNet-S2/<tile>/<patch_id>/<patch_id>_<BAND>.tif        uint16, native 120/60/20 px
    BigEarthNet-S1/<s1_scene>/<s1_name>/<s1_name>_<VV|VH>.tif      float32 dB, 120 px
    Reference_Maps/<tile>/<patch_id>/<patch_id>_reference_map.tif  uint16 CLC codes, 120 px
    metadata.parquet, metadata_for_patches_with_snow_cloud_or_shadow.parquet

``<tile>`` is an L2A product name without its processing time, ``S2A_MSIL2A_<sensing>_N9999_R<orbit>_T<tile>``;
``<patch_id>`` appends ``_<x>_<y>`` (zero-padded column and row, 0 = west / north). S1 names are
``<s1_scene>_<tile without T>_<x>_<y>`` with x and y not padded.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa

from bigearth.errors import ConfigError
from bigearth.suggest import did_you_mean

S2_DIR = "BigEarthNet-S2"
S1_DIR = "BigEarthNet-S1"
REFERENCE_DIR = "Reference_Maps"
METADATA_FILE = "metadata.parquet"
SNOW_CLOUD_METADATA_FILE = "metadata_for_patches_with_snow_cloud_or_shadow.parquet"
METADATA_FILES = (METADATA_FILE, SNOW_CLOUD_METADATA_FILE)

#: The ten countries of reBEN, as its metadata names them.
COUNTRIES: tuple[str, ...] = (
    "Austria", "Belgium", "Finland", "Ireland", "Kosovo",
    "Lithuania", "Luxembourg", "Portugal", "Serbia", "Switzerland",
)  # fmt: skip
#: Meteorological seasons (northern hemisphere), in the order of :func:`season`.
SEASONS: tuple[str, ...] = ("winter", "spring", "summer", "autumn")

#: The split names of the metadata; ``"val"`` is accepted everywhere as ``"validation"``.
SPLITS = ("train", "validation", "test")

#: Schema of both official metadata files.
METADATA_SCHEMA = pa.schema(
    [
        ("patch_id", pa.string()),
        ("labels", pa.list_(pa.string())),
        ("split", pa.string()),
        ("country", pa.string()),
        ("s1_name", pa.string()),
        ("s2v1_name", pa.string()),
        ("contains_seasonal_snow", pa.bool_()),
        ("contains_cloud_or_shadow", pa.bool_()),
    ]
)

_S2_PATCH = re.compile(
    r"^(?P<tile>(?P<mission>S2[A-D])_MSIL2A_(?P<sensing>\d{8}T\d{6})_N\d{4}_R(?P<orbit>\d{3})_T(?P<mgrs>\d{2}[A-Z]{3}))"
    r"_(?P<x>\d{2})_(?P<y>\d{2})$"
)
_S1_NAME = re.compile(
    r"^(?P<scene>S1[A-D]_IW_GRD[HM]_1S[DS][VH]_(?P<sensing>\d{8}T\d{6}))_(?P<mgrs>\d{2}[A-Z]{3})_(?P<x>\d{1,2})_(?P<y>\d{1,2})$"
)


@dataclass(frozen=True)
class S2PatchName:
    """The parts of an official S2 patch name such as ``S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_75_43``."""

    tile: str
    mission: str
    sensing_time: datetime
    orbit: int
    mgrs_tile: str
    x: int
    y: int

    @property
    def patch_id(self) -> str:
        """The full patch name."""
        return f"{self.tile}_{self.x:02d}_{self.y:02d}"

    @property
    def s2v1_name(self) -> str:
        """A BigEarthNet v1 style name: mission, level and sensing time, then x and y (not padded).

        The official ``s2v1_name`` carries the sensing time of the v1 product, which can differ from the v2 one;
        this property builds the name for patches that have no v1 counterpart (the mini-reBEN).
        """
        return f"{self.mission}_MSIL2A_{self.sensing_time:%Y%m%dT%H%M%S}_{self.x}_{self.y}"


@dataclass(frozen=True)
class S1PatchName:
    """The parts of an official S1 patch name such as ``S1A_IW_GRDH_1SDV_20170613T165043_33UUP_70_48``."""

    scene: str
    sensing_time: datetime
    mgrs_tile: str
    x: int
    y: int

    @property
    def name(self) -> str:
        """The full S1 patch name."""
        return f"{self.scene}_{self.mgrs_tile}_{self.x}_{self.y}"


def parse_s2_name(patch_id: str) -> S2PatchName:
    """Split an S2 patch name into its parts.

    Raises:
        ValueError: if the name does not follow the official scheme.
    """
    match = _S2_PATCH.match(patch_id)
    if match is None:
        raise ValueError(
            f"{patch_id!r} is no reBEN S2 patch name (expected e.g. S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_75_43)"
        )
    return S2PatchName(
        tile=match["tile"],
        mission=match["mission"],
        sensing_time=datetime.strptime(match["sensing"], "%Y%m%dT%H%M%S"),
        orbit=int(match["orbit"]),
        mgrs_tile=match["mgrs"],
        x=int(match["x"]),
        y=int(match["y"]),
    )


def parse_s1_name(s1_name: str) -> S1PatchName:
    """Split an S1 patch name into its parts.

    Raises:
        ValueError: if the name does not follow the official scheme.
    """
    match = _S1_NAME.match(s1_name)
    if match is None:
        raise ValueError(
            f"{s1_name!r} is no reBEN S1 patch name (expected e.g. S1A_IW_GRDH_1SDV_20170613T165043_33UUP_70_48)"
        )
    return S1PatchName(
        scene=match["scene"],
        sensing_time=datetime.strptime(match["sensing"], "%Y%m%dT%H%M%S"),
        mgrs_tile=match["mgrs"],
        x=int(match["x"]),
        y=int(match["y"]),
    )


def reference_map_key(patch_id: str) -> str:
    """Return the store key (and file stem) of a patch's reference map."""
    return f"{patch_id}_reference_map"


def s2_band_path(root: Path, patch_id: str, band: str) -> Path:
    """Return the GeoTIFF path of one S2 band of a patch under a release root."""
    tile = patch_id.rsplit("_", 2)[0]
    return root / S2_DIR / tile / patch_id / f"{patch_id}_{band}.tif"


def s1_band_path(root: Path, s1_name: str, band: str) -> Path:
    """Return the GeoTIFF path of one S1 polarisation of a patch under a release root."""
    scene = s1_name.rsplit("_", 3)[0]
    return root / S1_DIR / scene / s1_name / f"{s1_name}_{band}.tif"


def reference_map_path(root: Path, patch_id: str) -> Path:
    """Return the GeoTIFF path of a patch's reference map under a release root."""
    tile = patch_id.rsplit("_", 2)[0]
    return root / REFERENCE_DIR / tile / patch_id / f"{reference_map_key(patch_id)}.tif"


def season(when: datetime) -> str:
    """Return the meteorological season (northern hemisphere) of a date: winter, spring, summer or autumn."""
    return SEASONS[(when.month % 12) // 3]


def normalise_split(split: str) -> str:
    """Return the metadata split name for a user's split name (``val`` is ``validation``).

    Raises:
        ConfigError: (a ``ValueError``) for an unknown split name.
    """
    name = "validation" if split == "val" else split
    if name not in SPLITS:
        raise ConfigError(f"unknown split {split!r}{did_you_mean(split, SPLITS)}: use one of {SPLITS} (or 'val')")
    return name


def is_release_root(path: Path) -> bool:
    """Return whether ``path`` looks like a reBEN release root (holds at least one of the data folders)."""
    return any((path / name).is_dir() for name in (S2_DIR, S1_DIR, REFERENCE_DIR))
