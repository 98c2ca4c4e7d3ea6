"""The hand-made tables of the mini-reBEN: its tiles and their land cover, and what each class looks like.

:data:`TILES` are real Sentinel-2 tiles of reBEN (real MGRS squares, all of their reBEN L2A products with the S1
scene names paired with them, countries) with an invented land-cover mix per tile side (CLC code -> weight) that
follows the region's real landscape.

Each class has a mean Sentinel-2 L2A reflectance (x 10^4) per band, a mean Sentinel-1 backscatter (dB) per
polarisation, a spatial texture and how strongly its red-edge/NIR follows the season. The magnitudes follow
typical L2A spectra and stay near the reBEN band statistics (:data:`bigearth.bands.REBEN_STATS`): water is
dark in NIR and SWIR and has the lowest backscatter, vegetation is bright in NIR, urban and industrial areas are
bright in the visible and SWIR and in VV, sand is bright everywhere, snow is bright in the visible and dark in
SWIR. Every class has its own mean spectrum; some pairs differ mostly in backscatter (forests, wetlands) or in
texture (stripes of orchards, patchwork of complex cultivation), so that region averages separate all 19
classes while single pixels of similar classes do not.

These numbers are hand-made for synthetic data; they are not measured class means of reBEN.
"""

from dataclasses import dataclass

from bigearth.bands import S2_BANDS
from bigearth.data.layout import parse_s2_name, season
from bigearth.nomenclature import CLASSES_TABLE

#: Spatial texture kinds, each one field per patch (see ``bigearth.data.synth``).
TEXTURES: tuple[str, ...] = ("smooth", "grain", "stripes", "blocks", "dots", "parcels")

#: Central wavelength (nm) of each S2 band, for the spectral shape of haze.
WAVELENGTHS: dict[str, float] = {
    "B01": 443, "B02": 490, "B03": 560, "B04": 665, "B05": 705, "B06": 740, "B07": 783, "B08": 842, "B8A": 865,
    "B09": 945, "B11": 1610, "B12": 2190,
}  # fmt: skip

#: How a class's greenness follows the year: ``none`` (no cycle), ``evergreen`` (a small dip in the dormant
#: season), ``deciduous`` and ``grass`` (green in the climate's growing season), ``wetland`` (half of it) and
#: ``crop`` (each field has its own sowing and harvest dates; bare soil between them).
PHENOLOGIES: tuple[str, ...] = ("none", "evergreen", "deciduous", "grass", "wetland", "crop")


@dataclass(frozen=True)
class Signature:
    """Mean appearance of one land-cover class (or unlabelled surface) in a mini-reBEN patch.

    Attributes:
        s2: mean reflectance x 10^4 per S2 band name.
        vv: mean VV backscatter in dB.
        vh: mean VH backscatter in dB.
        texture: one of :data:`TEXTURES`.
        roughness: relative amplitude of the texture (0.1 = +-10 % brightness; also scales S1 texture).
        vegetation: 0..1, the share of the class's reflectance that is vegetation, which turns into its dormant
            look (senescent leaves, or bare soil for crops) out of the growing season.
        phenology: one of :data:`PHENOLOGIES`.
    """

    s2: dict[str, float]
    vv: float
    vh: float
    texture: str
    roughness: float
    vegetation: float
    phenology: str = "none"


def _signature(
    s2: tuple[float, ...], vv: float, vh: float, texture: str, roughness: float, vegetation: float,
    phenology: str = "none",
) -> Signature:  # fmt: skip
    """Build a signature from reflectances given in :data:`~bigearth.bands.S2_BANDS` order."""
    return Signature(dict(zip(S2_BANDS, s2, strict=True)), vv, vh, texture, roughness, vegetation, phenology)


# fmt: off
#: Signature of every class, keyed by class name. Reflectances in S2_BANDS order:
#: B01 B02 B03 B04 B05 B06 B07 B08 B8A B09 B11 B12.
CLASS_SIGNATURES: dict[str, Signature] = {
    "Urban fabric": _signature(
        (950, 1050, 1150, 1250, 1450, 1750, 1950, 2100, 2200, 2150, 2300, 1950),
        -6.5, -13.0, "grain", 0.22, 0.2, "deciduous"),
    "Industrial or commercial units": _signature(
        (1250, 1400, 1500, 1600, 1750, 1900, 2000, 2050, 2100, 2050, 2650, 2400), -5.0, -14.5, "blocks", 0.2, 0.0),
    "Arable land": _signature(
        (520, 620, 880, 1050, 1350, 1850, 2150, 2350, 2450, 2400, 2500, 1750),
        -12.0, -19.5, "parcels", 0.18, 0.6, "crop"),
    "Permanent crops": _signature(
        (480, 540, 800, 850, 1250, 1950, 2250, 2450, 2500, 2450, 2150, 1350),
        -10.5, -17.0, "stripes", 0.35, 0.5, "deciduous"),
    "Pastures": _signature(
        (300, 350, 680, 430, 1000, 2500, 3050, 3250, 3350, 3250, 1950, 950),
        -13.0, -19.0, "smooth", 0.08, 1.0, "grass"),
    "Complex cultivation patterns": _signature(
        (420, 480, 760, 720, 1150, 2150, 2550, 2750, 2850, 2800, 2200, 1300),
        -11.5, -18.0, "parcels", 0.28, 0.7, "crop"),
    "Land principally occupied by agriculture, with significant areas of natural vegetation": _signature(
        (380, 420, 700, 620, 1080, 2050, 2450, 2650, 2750, 2700, 1950, 1100), -10.0, -16.0, "parcels", 0.3, 0.7, "grass"),
    "Agro-forestry areas": _signature(
        (550, 600, 850, 1000, 1350, 1750, 1950, 2150, 2250, 2250, 2700, 1900),
        -11.0, -18.5, "dots", 0.25, 0.4, "evergreen"),
    "Broad-leaved forest": _signature(
        (240, 290, 560, 330, 850, 2450, 3100, 3400, 3500, 3400, 1700, 780),
        -8.0, -13.8, "grain", 0.12, 1.0, "deciduous"),
    "Coniferous forest": _signature(
        (160, 200, 360, 210, 560, 1350, 1650, 1850, 1950, 1900, 880, 420),
        -9.5, -15.5, "grain", 0.12, 0.3, "evergreen"),
    "Mixed forest": _signature(
        (200, 250, 460, 270, 720, 1900, 2350, 2600, 2700, 2650, 1300, 600),
        -8.8, -14.6, "grain", 0.14, 0.7, "deciduous"),
    "Natural grassland and sparsely vegetated areas": _signature(
        (800, 900, 1150, 1300, 1600, 1950, 2150, 2300, 2400, 2350, 2900, 2200),
        -13.5, -21.5, "smooth", 0.12, 0.5, "grass"),
    "Moors, heathland and sclerophyllous vegetation": _signature(
        (300, 340, 480, 520, 800, 1150, 1300, 1400, 1480, 1450, 1550, 1050),
        -11.0, -17.5, "dots", 0.25, 0.5, "evergreen"),
    "Transitional woodland, shrub": _signature(
        (290, 340, 620, 480, 980, 2100, 2550, 2800, 2900, 2850, 1800, 920),
        -9.8, -16.0, "grain", 0.2, 0.8, "deciduous"),
    "Beaches, dunes, sands": _signature(
        (1800, 2050, 2350, 2650, 2850, 2950, 3050, 3150, 3200, 3150, 3700, 3300), -17.0, -25.5, "smooth", 0.06, 0.0),
    "Inland wetlands": _signature(
        (320, 370, 560, 460, 820, 1500, 1750, 1850, 1900, 1850, 1150, 600), -14.5, -20.5, "dots", 0.2, 0.6, "wetland"),
    "Coastal wetlands": _signature(
        (420, 480, 680, 620, 820, 1050, 1200, 1250, 1250, 1200, 900, 560), -17.5, -23.5, "dots", 0.2, 0.3, "wetland"),
    "Inland waters": _signature(
        (320, 380, 480, 330, 290, 260, 250, 230, 210, 210, 130, 95), -20.5, -26.5, "smooth", 0.05, 0.0),
    "Marine waters": _signature(
        (380, 460, 430, 230, 180, 160, 150, 130, 120, 120, 70, 50), -23.5, -29.5, "stripes", 0.05, 0.0),
}

#: Unlabelled surfaces: artificial ones (roads, ports, airports, mines, dumps, green urban areas: CLC 12x-14x)
#: and pixels outside every CLC polygon (999).
ARTIFICIAL_UNLABELLED = _signature(
    (1000, 1100, 1200, 1300, 1400, 1600, 1700, 1800, 1850, 1800, 2200, 1900),
    -8.0, -16.0, "grain", 0.2, 0.1, "deciduous")
NO_DATA_UNLABELLED = _signature(
    (600, 700, 900, 900, 1200, 1900, 2200, 2400, 2500, 2450, 2100, 1400), -12.0, -19.0, "smooth", 0.1, 0.5, "grass")

#: Fresh snow and an opaque cloud top (reflectance x 10^4); cloud shadows scale the ground by SHADOW_FACTOR.
SNOW: dict[str, float] = dict(zip(
    S2_BANDS, (7200, 8200, 8100, 7900, 7700, 7400, 7200, 6900, 6700, 6400, 900, 700), strict=True))
CLOUD: dict[str, float] = dict(zip(
    S2_BANDS, (4800, 5000, 4900, 5000, 5100, 5300, 5400, 5500, 5500, 5000, 3800, 2800), strict=True))
# fmt: on
SHADOW_FACTOR = 0.55

# fmt: off
#: Dormant looks of vegetation (reflectance x 10^4): senescent leaves and dry grass (bright red, flat red edge,
#: bright SWIR), and dry bare soil (ploughed fields; darker in every band, most in the SWIR, when wet).
SENESCENT: dict[str, float] = dict(zip(
    S2_BANDS, (480, 560, 820, 1080, 1350, 1600, 1780, 1900, 2000, 2000, 2800, 2100), strict=True))
SOIL: dict[str, float] = dict(zip(
    S2_BANDS, (600, 720, 1000, 1280, 1480, 1650, 1780, 1880, 1980, 2000, 2900, 2400), strict=True))
#: How much wet soil darkens each band at full moisture (water absorbs most in the SWIR).
SOIL_WETNESS_DARKENING: dict[str, float] = dict(zip(
    S2_BANDS, (0.3, 0.3, 0.32, 0.34, 0.35, 0.36, 0.37, 0.38, 0.38, 0.4, 0.55, 0.6), strict=True))
# fmt: on


@dataclass(frozen=True)
class Climate:
    """The seasons of a Köppen-Geiger climate zone, as the mini-reBEN's vegetation and soils follow them.

    Attributes:
        peak: day of the year (1-365) when grass and deciduous vegetation are greenest.
        half_width: days from the peak to the end of the green season.
        floor: greenness (0..1) of grass and deciduous vegetation in the dormant season.
        wettest: day of the year when the soil is wettest.
        frozen: whether the ground freezes in the dormant season (lower backscatter).
    """

    peak: int
    half_width: int
    floor: float
    wettest: int
    frozen: bool


#: The climate zones of the mini-reBEN's tiles (Köppen-Geiger at the tile centres, Rubel et al. 2016):
#: temperate oceanic (green April-October, wet winters), hot-summer Mediterranean (green in winter and spring,
#: dry and brown in summer), subarctic (a short green summer, frozen and snowy from November).
CLIMATES: dict[str, Climate] = {
    "Cfb": Climate(peak=185, half_width=120, floor=0.35, wettest=15, frozen=False),
    "Csa": Climate(peak=85, half_width=105, floor=0.2, wettest=20, frozen=False),
    "Dfc": Climate(peak=200, half_width=95, floor=0.05, wettest=290, frozen=True),
}


@dataclass(frozen=True)
class Acquisition:
    """One date on which a tile of the mini-reBEN was imaged: a real reBEN S2 product and its S1 partner scene.

    Attributes:
        product: S2 L2A product name without processing time, as reBEN names tile folders.
        s1_scene: name of the S1 GRD scene paired with the product (the scene that reBEN pairs with most of the
            product's patches, within 3 days of the S2 date).
        snow: fraction of the acquisition's patches with seasonal snow.
        cloud: fraction of the acquisition's patches with cloud or cloud shadow.
    """

    product: str
    s1_scene: str
    snow: float = 0.0
    cloud: float = 0.0

    @property
    def season(self) -> str:
        """The meteorological season of the S2 acquisition."""
        return season(parse_s2_name(f"{self.product}_00_00").sensing_time)

    @property
    def day_of_year(self) -> int:
        """The day of the year (1-366) of the S2 acquisition."""
        return parse_s2_name(f"{self.product}_00_00").sensing_time.timetuple().tm_yday


@dataclass(frozen=True)
class SynthTile:
    """One Sentinel-2 tile of the mini-reBEN, its acquisitions and its land cover.

    Attributes:
        acquisitions: the tile's S2 products (1 to 4 dates, those of reBEN), each with its S1 partner.
        country: the country column of the tile's patches.
        mix_from: land-cover mix (CLC code -> weight) on one side of the tile.
        mix_to: land-cover mix on the opposite side; the mix drifts linearly between them.
        direction: (dx, dy) grid direction from the ``mix_from`` side to the ``mix_to`` side (y grows south).
        climate: Köppen-Geiger zone of the tile (a key of :data:`CLIMATES`).
    """

    acquisitions: tuple[Acquisition, ...]
    country: str
    mix_from: dict[int, float]
    mix_to: dict[int, float]
    direction: tuple[float, float]
    climate: str

    @property
    def mgrs(self) -> str:
        """The MGRS tile without ``T``, e.g. ``"33UUP"``."""
        return self.acquisitions[0].product.rsplit("_T", 1)[1]


def _acquisitions(*dates: tuple[str, str, float, float]) -> tuple[Acquisition, ...]:
    """Build a tile's acquisitions from ``(product, s1_scene, snow, cloud)`` tuples."""
    return tuple(Acquisition(*date) for date in dates)


#: The tiles of the mini-reBEN: real MGRS tiles of reBEN with all of their reBEN S2 products (1 to 4 dates, in
#: every season) and the S1 scene that reBEN pairs with each. Snow and cloud fractions follow the release's
#: (Finland in November: 44 % snow; Serbia in February: 17 %; Ireland in February: 6 % cloud).
TILES: tuple[SynthTile, ...] = (
    SynthTile(  # Upper Austria: farmland in the north-west, forested Alpine foothills to the south-east
        _acquisitions(
            ("S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP", "S1A_IW_GRDH_1SDV_20170613T165043", 0.0, 0.05)),
        "Austria",
        {112: 2, 211: 3, 231: 3, 242: 2, 243: 2, 313: 1.5},
        {312: 3, 313: 3, 231: 2, 311: 1, 512: 0.8, 121: 0.6}, (1, 1), "Cfb"),
    SynthTile(  # Setubal coast and Sado estuary in the west, Alentejo montado inland
        _acquisitions(
            ("S2A_MSIL2A_20170813T112121_N9999_R037_T29SNC", "S1A_IW_GRDH_1SDV_20170812T182647", 0.0, 0.0),
            ("S2A_MSIL2A_20171002T112111_N9999_R037_T29SNC", "S1B_IW_GRDH_1SDV_20171004T064231", 0.0, 0.0),
            ("S2B_MSIL2A_20180224T112109_N9999_R037_T29SNC", "S1B_IW_GRDH_1SDV_20180225T064227", 0.0, 0.02),
            ("S2B_MSIL2A_20180515T112109_N9999_R037_T29SNC", "S1B_IW_GRDH_1SDV_20180515T063421", 0.0, 0.01)),
        "Portugal",
        {523: 3, 522: 1, 331: 1.5, 421: 2, 112: 1.5, 121: 1, 323: 1.5, 312: 0.6},
        {244: 3.5, 211: 1.5, 223: 2, 311: 1.5, 324: 1.5, 242: 1, 212: 0.5}, (1, 0), "Csa"),
    SynthTile(  # Finnish lakeland: boreal forest and bogs in the north, lakes and farms in the south
        _acquisitions(
            ("S2A_MSIL2A_20171101T094131_N9999_R036_T35VNK", "S1B_IW_GRDH_1SDV_20171101T154016", 0.4, 0.01),
            ("S2B_MSIL2A_20180525T094029_N9999_R036_T35VNK", "S1B_IW_GRDH_1SDV_20180524T154016", 0.0, 0.01)),
        "Finland",
        {312: 4.5, 313: 3, 324: 2, 412: 1.5, 512: 2.5},
        {313: 2.5, 312: 2, 512: 3, 243: 1.5, 211: 1.2, 112: 0.8, 311: 0.6}, (0, 1), "Dfc"),
    SynthTile(  # Western Lithuania: Curonian lagoon and coast in the west, farmland and forest inland
        _acquisitions(
            ("S2B_MSIL2A_20170930T095019_N9999_R079_T34UEG", "S1B_IW_GRDH_1SDV_20170929T045032", 0.0, 0.01),
            ("S2A_MSIL2A_20180413T095031_N9999_R079_T34UEG", "S1A_IW_GRDH_1SDV_20180413T161957", 0.0, 0.02)),
        "Lithuania",
        {521: 1.5, 331: 0.8, 421: 0.6, 211: 2.5, 231: 2, 242: 1.5, 112: 1.2, 121: 0.5},
        {211: 3, 231: 2, 242: 2, 243: 1.5, 313: 2.5, 312: 1.5, 311: 1, 324: 1.5, 411: 0.8}, (1, 0), "Cfb"),
    SynthTile(  # Central Serbia: Morava valley farmland in the north, oak-forested hills to the south
        _acquisitions(
            ("S2B_MSIL2A_20170914T093029_N9999_R136_T34TEP", "S1A_IW_GRDH_1SDV_20170914T162451", 0.0, 0.01),
            ("S2B_MSIL2A_20180201T093219_N9999_R136_T34TEP", "S1B_IW_GRDH_1SDV_20180130T162407", 0.17, 0.01),
            ("S2B_MSIL2A_20180502T093039_N9999_R136_T34TEP", "S1A_IW_GRDH_1SDV_20180430T162450", 0.0, 0.01)),
        "Serbia",
        {211: 3, 242: 3, 243: 2, 112: 1.5, 231: 1, 222: 1, 511: 0.5},
        {311: 4, 321: 2, 324: 2, 243: 1.5, 333: 0.5}, (0, 1), "Cfb"),
    SynthTile(  # Irish midlands (pasture, raised bogs) to the Irish Sea coast north of Dublin
        _acquisitions(
            ("S2A_MSIL2A_20170717T113321_N9999_R080_T29UPV", "S1B_IW_GRDH_1SDV_20170717T064630", 0.0, 0.03),
            ("S2B_MSIL2A_20180220T114339_N9999_R123_T29UPV", "S1A_IW_GRDH_1SDV_20180219T063851", 0.0, 0.12)),
        "Ireland",
        {231: 4, 412: 2, 211: 1, 322: 1, 312: 1, 512: 0.5},
        {231: 3, 211: 2.5, 112: 1.5, 523: 2, 331: 0.5, 121: 0.5, 421: 0.3}, (1, 0), "Cfb"),
    SynthTile(  # Hainaut: Mons-Charleroi towns and industry in the north-east, farmland and woods to the south-west
        _acquisitions(
            ("S2B_MSIL2A_20170829T105019_N9999_R051_T31UER", "S1A_IW_GRDH_1SDV_20170829T055029", 0.0, 0.02),
            ("S2B_MSIL2A_20171107T105229_N9999_R051_T31UER", "S1B_IW_GRDH_1SDV_20171108T055808", 0.0, 0.08),
            ("S2B_MSIL2A_20180225T105019_N9999_R051_T31UER", "S1A_IW_GRDH_1SDV_20180225T055027", 0.0, 0.03),
            ("S2B_MSIL2A_20180506T105029_N9999_R051_T31UER", "S1A_IW_GRDH_1SDV_20180508T055029", 0.0, 0.02)),
        "Belgium",
        {112: 3, 121: 1.5, 211: 2.5, 231: 2, 242: 2},
        {211: 3, 311: 2, 231: 1.5, 313: 1, 512: 0.5, 243: 1}, (-1, 1), "Cfb"),
    SynthTile(  # Swiss Plateau and lakes in the north, Alpine forest and grassland in the south
        _acquisitions(
            ("S2A_MSIL2A_20170818T103021_N9999_R108_T32TMT", "S1B_IW_GRDH_1SDV_20170818T054218", 0.0, 0.02)),
        "Switzerland",
        {231: 3, 211: 2, 112: 1.5, 313: 2, 312: 1.5, 512: 1.5, 121: 0.5},
        {312: 3, 321: 3, 333: 1, 322: 1, 324: 1, 231: 1}, (0, 1), "Cfb"),
)  # fmt: skip

if tuple(CLASS_SIGNATURES) != CLASSES_TABLE:  # pragma: no cover - guards edits of the table above
    raise RuntimeError("CLASS_SIGNATURES must list the 19 classes of bigearth.nomenclature in table order")
