"""Reading Sentinel-2 L2A products in SAFE structure: product name, tile geocoding, band files, BOA offsets.

A product as users download it (unzipped)::

    S2A_MSIL2A_20170613T101031_N0500_R022_T33UUP_20231019T083000.SAFE/
        MTD_MSIL2A.xml                                  product metadata: baseline, BOA_ADD_OFFSET, quantification
        GRANULE/L2A_T33UUP_A010365_20170613T101032/
            MTD_TL.xml                                  tile metadata: EPSG code, upper-left corner, size
            IMG_DATA/R10m/T33UUP_20170613T101031_B02_10m.jp2   (B02 B03 B04 B08)
            IMG_DATA/R20m/T33UUP_20170613T101031_B05_20m.jp2   (B05 B06 B07 B8A B11 B12, SCL)
            IMG_DATA/R60m/T33UUP_20170613T101031_B01_60m.jp2   (B01 B09)

Each band is read at its native resolution (:data:`bigearth.bands.BAND_GSD`). Products of processing
baseline 04.00 and later store ``DN = 10^4 * reflectance - BOA_ADD_OFFSET`` with ``BOA_ADD_OFFSET = -1000``;
:mod:`bigearth.construct.radiometry` removes it.
"""

import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from bigearth.bands import BAND_GSD, S2_BANDS
from bigearth.errors import CorruptDataError, MissingDataError

#: The scene classification layer (SCL) of an L2A product, read at 20 m.
SCL = "SCL"
SCL_GSD = 20
#: Offset of products from processing baseline 04.00 on, where their metadata does not list it.
DEFAULT_BOA_ADD_OFFSET = -1000
#: First processing baseline whose products carry ``BOA_ADD_OFFSET``.
OFFSET_BASELINE = "04.00"
#: Physical band order of the ``band_id`` attributes of L2A metadata (13 bands, with B10).
_PHYSICAL_BANDS = ("B01", "B02", "B03", "B04", "B05", "B06", "B07", "B08", "B8A", "B09", "B10", "B11", "B12")

_PHYSICAL_BANDS_BY_ID = {str(index): band for index, band in enumerate(_PHYSICAL_BANDS)}

PRODUCT_NAME = re.compile(
    r"^(?P<mission>S2[A-D])_MSIL2A_(?P<sensing>\d{8}T\d{6})_N(?P<baseline>\d{4})_R(?P<orbit>\d{3})"
    r"_T(?P<mgrs>\d{2}[A-Z]{3})_(?P<discriminator>\d{8}T\d{6})(?:\.SAFE)?$"
)


@dataclass(frozen=True)
class TileGeocoding:
    """Georeference of an S2 tile from its ``MTD_TL.xml``.

    Attributes:
        epsg: EPSG code of the tile's UTM CRS (``HORIZONTAL_CS_CODE``).
        ulx: easting of the tile's upper-left corner, metres.
        uly: northing of the tile's upper-left corner, metres.
        size_m: side of the tile in metres (``NCOLS`` of the 10 m grid times 10; 109,800 for every S2 tile).
    """

    epsg: int
    ulx: float
    uly: float
    size_m: float


@dataclass(frozen=True)
class S2Product:
    """An S2 L2A product in SAFE structure, as far as the build needs it.

    Attributes:
        path: the product folder.
        name: product name without ``.SAFE``.
        mission: ``S2A``, ``S2B``, ...
        sensing_time: datatake sensing start (UTC, naive).
        baseline: processing baseline, e.g. ``"05.00"``.
        orbit: relative orbit number.
        mgrs_tile: MGRS tile without the ``T``, e.g. ``"33UUP"``.
        geocoding: the tile's georeference from ``MTD_TL.xml``.
        band_files: JP2 file of each of the 12 reBEN bands and of ``SCL``, at native resolution.
        offsets: ``BOA_ADD_OFFSET`` of each reBEN band (0 before baseline 04.00).
        offset_source: where the offsets come from (the metadata file, or the baseline rule).
        quantification: ``BOA_QUANTIFICATION_VALUE`` (10,000 for every baseline so far).
    """

    path: Path
    name: str
    mission: str
    sensing_time: datetime
    baseline: str
    orbit: int
    mgrs_tile: str
    geocoding: TileGeocoding
    band_files: dict[str, Path]
    offsets: dict[str, int]
    offset_source: str
    quantification: float

    def tile_name(self, *, keep_baseline: bool = False) -> str:
        """Return the reBEN tile name: the product name without its processing time, baseline ``N9999``.

        Args:
            keep_baseline: keep the product's own baseline (``N0500``) instead of reBEN's ``N9999``.
        """
        baseline = self.baseline.replace(".", "") if keep_baseline else "9999"
        return (
            f"{self.mission}_MSIL2A_{self.sensing_time:%Y%m%dT%H%M%S}_N{baseline}_R{self.orbit:03d}_T{self.mgrs_tile}"
        )


def _parse_xml(path: Path, product: Path) -> ElementTree.Element:
    if not path.is_file():
        raise MissingDataError(
            f"S2 product {product}: {path.name} is missing ({path}); give the unzipped .SAFE folder of an L2A "
            "product as downloaded"
        )
    try:
        return ElementTree.parse(path).getroot()
    except ElementTree.ParseError as error:
        raise CorruptDataError(f"S2 product {product}: {path} is no valid XML ({error}); re-download it") from error


def _text(root: ElementTree.Element, tag: str) -> str | None:
    """Return the stripped text of the first element named ``tag`` in any namespace, or None."""
    element = root.find(f".//{{*}}{tag}")
    return None if element is None or element.text is None else element.text.strip()


def _geocoding(path: Path, product: Path) -> TileGeocoding:
    root = _parse_xml(path, product)
    code = _text(root, "HORIZONTAL_CS_CODE")
    position = next((e for e in root.iterfind(".//{*}Geoposition") if e.get("resolution") == "10"), None)
    size = next((e for e in root.iterfind(".//{*}Size") if e.get("resolution") == "10"), None)
    if code is None or position is None or size is None:
        raise CorruptDataError(
            f"S2 product {product}: {path} lacks HORIZONTAL_CS_CODE or the 10 m Geoposition/Size of the tile; "
            "the tile metadata is incomplete: re-download the product"
        )
    try:
        epsg = int(code.upper().removeprefix("EPSG:"))
        ulx, uly = float(_text(position, "ULX") or ""), float(_text(position, "ULY") or "")
        columns = int(_text(size, "NCOLS") or "")
    except ValueError as error:
        raise CorruptDataError(f"S2 product {product}: {path} has an unreadable tile geocoding ({error})") from error
    return TileGeocoding(epsg=epsg, ulx=ulx, uly=uly, size_m=columns * 10.0)


def _offsets(root: ElementTree.Element | None, baseline: str) -> tuple[dict[str, int], str]:
    """Return the BOA_ADD_OFFSET of each reBEN band and where it came from."""
    listed = [] if root is None else list(root.iterfind(".//{*}BOA_ADD_OFFSET"))
    if root is not None and listed:
        physical = dict(_PHYSICAL_BANDS_BY_ID)
        for info in root.iterfind(".//{*}Spectral_Information"):  # the product's own band_id table, if listed
            band, band_id = info.get("physicalBand"), info.get("bandId")
            if band and band_id is not None:
                physical[band_id] = band if band == "B8A" else f"B{int(band[1:]):02d}"
        by_band = {physical.get(e.get("band_id", ""), ""): int(float(e.text or 0)) for e in listed}
        return {band: by_band.get(band, 0) for band in S2_BANDS}, "MTD_MSIL2A.xml BOA_ADD_OFFSET_VALUES_LIST"
    if baseline >= OFFSET_BASELINE:
        rule = f"processing baseline {baseline} >= {OFFSET_BASELINE} (offset not listed in the metadata)"
        return dict.fromkeys(S2_BANDS, DEFAULT_BOA_ADD_OFFSET), rule
    return dict.fromkeys(S2_BANDS, 0), f"processing baseline {baseline} < {OFFSET_BASELINE} (no offset)"


def _band_file(granule: Path, band: str, gsd: int, product: Path) -> Path:
    matches = sorted((granule / "IMG_DATA" / f"R{gsd}m").glob(f"*_{band}_{gsd}m.jp2"))
    if len(matches) != 1:
        found = "none" if not matches else f"{len(matches)} files"
        raise MissingDataError(
            f"S2 product {product}: band {band} at {gsd} m is missing (found {found} matching "
            f"GRANULE/*/IMG_DATA/R{gsd}m/*_{band}_{gsd}m.jp2); give a complete L2A product with all 12 reBEN "
            f"bands {list(S2_BANDS)} and the SCL layer"
        )
    return matches[0]


def read_product(path: Path) -> S2Product:
    """Read an unzipped S2 L2A product (``.SAFE`` folder): names, tile geocoding, band files and offsets.

    Args:
        path: the product folder.

    Returns:
        The product description; no pixels are read.

    Raises:
        MissingDataError: if the folder, a metadata file, the granule or a band file is missing.
        CorruptDataError: if the name or the metadata cannot be read.
    """
    path = Path(path)
    if not path.is_dir():
        raise MissingDataError(f"S2 product {path} does not exist or is no folder; give an unzipped .SAFE folder")
    metadata_file = path / "MTD_MSIL2A.xml"
    product_root = _parse_xml(metadata_file, path) if metadata_file.is_file() else None
    name = path.name.removesuffix(".SAFE")
    match = PRODUCT_NAME.match(name)
    if match is None and product_root is not None:
        name = (_text(product_root, "PRODUCT_URI") or "").removesuffix(".SAFE")
        match = PRODUCT_NAME.match(name)
    if match is None:
        raise CorruptDataError(
            f"S2 product {path}: the folder name is no L2A product name (expected e.g. "
            "S2A_MSIL2A_20170613T101031_N0500_R022_T33UUP_20231019T083000.SAFE); keep the name as downloaded"
        )
    granules = sorted(p for p in (path / "GRANULE").glob("*") if p.is_dir()) if (path / "GRANULE").is_dir() else []
    if len(granules) != 1:
        raise MissingDataError(
            f"S2 product {path}: expected one folder under GRANULE/, found {len(granules)}; give a complete product"
        )
    granule = granules[0]
    listed_baseline = _text(product_root, "PROCESSING_BASELINE") if product_root is not None else None
    baseline = listed_baseline or f"{match['baseline'][:2]}.{match['baseline'][2:]}"
    offsets, source = _offsets(product_root, baseline)
    listed_quantification = _text(product_root, "BOA_QUANTIFICATION_VALUE") if product_root is not None else None
    quantification = float(listed_quantification or 10000)
    band_files = {band: _band_file(granule, band, BAND_GSD[band], path) for band in S2_BANDS}
    band_files[SCL] = _band_file(granule, SCL, SCL_GSD, path)
    return S2Product(
        path=path,
        name=name,
        mission=match["mission"],
        sensing_time=datetime.strptime(match["sensing"], "%Y%m%dT%H%M%S"),
        baseline=baseline,
        orbit=int(match["orbit"]),
        mgrs_tile=match["mgrs"],
        geocoding=_geocoding(granule / "MTD_TL.xml", path),
        band_files=band_files,
        offsets=offsets,
        offset_source=source,
        quantification=quantification,
    )
