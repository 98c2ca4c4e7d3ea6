"""Bad build input gets one clear error that names the input, before any patch is written (or, for errors found
while cutting, with nothing of the tile left in the output)."""

import shutil
from pathlib import Path

import numpy as np
import pytest
import rasterio

from bigearth.construct import build
from bigearth.construct.clc import LEVEL3_CODES, inspect_clc
from bigearth.construct.fixtures import make_example, parse_window, write_clc_gpkg, write_clc_raster, write_s1_scene
from bigearth.construct.grid import CellBlock
from bigearth.construct.quality import QualityThresholds
from bigearth.construct.state import STATE_DIR
from bigearth.data.layout import METADATA_FILE, S2_DIR
from bigearth.errors import ConfigError, CorruptDataError, MissingDataError

WINDOW = CellBlock(x0=40, y0=40, columns=2, rows=2)


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory):
    return make_example(tmp_path_factory.mktemp("bad") / "inputs", window=WINDOW, defects=False)


@pytest.fixture
def product(small, tmp_path: Path) -> Path:
    """A private copy of the small S2 product that a test may damage."""
    copy = tmp_path / small.s2.name
    shutil.copytree(small.s2, copy)
    return copy


def band_file(product: Path, band: str) -> Path:
    return next(product.glob(f"GRANULE/*/IMG_DATA/R*m/*_{band}_*m.jp2"))


def test_product_missing_a_band(small, product: Path, tmp_path: Path) -> None:
    band_file(product, "B8A").unlink()
    with pytest.raises(MissingDataError, match="band B8A at 20 m is missing") as error:
        build([product], [small.s1], small.clc, tmp_path / "out", workers=0)
    assert str(product) in str(error.value)
    assert not (tmp_path / "out").exists()


def test_folder_that_is_no_product(small, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingDataError, match="is no S2 L2A product"):
        build([tmp_path / "empty"], [small.s1], small.clc, tmp_path / "out", workers=0)


def test_tile_metadata_crs_disagrees_with_the_tile(small, product: Path, tmp_path: Path) -> None:
    metadata = next(product.glob("GRANULE/*/MTD_TL.xml"))
    metadata.write_text(metadata.read_text().replace("EPSG:32633", "EPSG:32632"))
    with pytest.raises(CorruptDataError, match="says EPSG:32632, but tile T33UUP lies in EPSG:32633") as error:
        build([product], [small.s1], small.clc, tmp_path / "out", workers=0)
    assert str(product) in str(error.value)


def test_band_crs_disagrees_with_tile_metadata(small, product: Path, tmp_path: Path) -> None:
    path = band_file(product, "B03")
    with rasterio.open(path) as source:
        array, profile = source.read(1), source.profile
    path.unlink()
    with rasterio.open(path, "w", **(profile | {"crs": "EPSG:32632"})) as sink:
        sink.write(array, 1)
    with pytest.raises(CorruptDataError, match=r"band B03 .* is in EPSG:32632 but the tile metadata"):
        build([product], [small.s1], small.clc, tmp_path / "out", workers=0)


def test_s1_scene_that_does_not_overlap(small, tmp_path: Path) -> None:
    name = "S1B_IW_GRDH_1SDV_20170612T165809_20170612T165834_006000_00A8C6_1F3A"
    window = parse_window("80,80,1,1")
    far = write_s1_scene(tmp_path / "far", small.polygons, small.codes, window=window, defects=False, name=name)
    with pytest.raises(ConfigError, match="overlap none of the S2 tiles") as error:
        build([small.s2], [small.s1, far], small.clc, tmp_path / "out", workers=0)
    assert str(far) in str(error.value)
    with pytest.raises(ConfigError, match="none of the S1 scenes"):
        build([small.s2], [far], small.clc, tmp_path / "out", workers=0)


def test_s1_scene_in_linear_units(small, tmp_path: Path) -> None:
    path = tmp_path / small.s1.name
    with rasterio.open(small.s1) as source:
        profile, bands = source.profile, source.read()
    with rasterio.open(path, "w", **profile) as sink:
        sink.write(np.power(10, bands / 10))
    with pytest.raises(CorruptDataError, match="linear backscatter, not dB"):
        build([small.s2], [path], small.clc, tmp_path / "out", workers=0)


def test_s1_file_without_a_product_name(small, tmp_path: Path) -> None:
    path = tmp_path / "backscatter.tif"
    shutil.copy(small.s1, path)
    with pytest.raises(CorruptDataError, match="holds no S1 GRD product name"):
        build([small.s2], [path], small.clc, tmp_path / "out", workers=0)


def test_clc_with_unknown_codes(small, tmp_path: Path) -> None:
    codes = small.codes.copy()
    codes[0] = 777
    clc = write_clc_gpkg(tmp_path / "clc.gpkg", small.polygons, codes, epsg=32633)
    with pytest.raises(CorruptDataError, match=r"no CORINE Land Cover level-3 code: \[777\]") as error:
        build([small.s2], [small.s1], clc, tmp_path / "out", workers=0)
    assert str(clc) in str(error.value)
    assert not (tmp_path / "out").exists()


def test_clc_without_a_code_field(small, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no field 'CODE'"):
        inspect_clc(small.clc, field="CODE")


def test_clc_raster_with_values_of_no_legend_is_found_while_cutting(small, tmp_path: Path) -> None:
    clc = write_clc_raster(tmp_path / "clc.tif", small.polygons, small.codes, epsg=32633, to_epsg=3035,
                           resolution=100.0)  # fmt: skip
    with rasterio.open(clc, "r+") as raster:
        raster.write(np.full((raster.height, raster.width), 46, dtype=np.uint8), 1)  # 46: no CLC grid index
    out = tmp_path / "out"
    with pytest.raises(CorruptDataError, match=r"grid values \[46\]") as error:
        build([small.s2], [small.s1], clc, out, workers=0)
    assert str(clc) in str(error.value)
    assert not (out / METADATA_FILE).exists()
    assert not (out / S2_DIR).exists()
    assert not any((out / STATE_DIR / "staging").glob("*"))


def test_same_product_twice(small, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="given twice"):
        build([small.s2, small.s2], [small.s1], small.clc, tmp_path / "out", workers=0)


def test_bad_options_and_windows() -> None:
    with pytest.raises(ConfigError, match="fraction"):
        QualityThresholds(snow=0)
    with pytest.raises(ConfigError, match="four integers"):
        parse_window("1,2,3")
    with pytest.raises(ConfigError, match="leaves the tile"):
        parse_window("90,0,2,1")


def test_raster_clc_in_grid_index_and_codes(small, tmp_path: Path) -> None:
    """Rasters work too: 3-digit codes on the 10 m grid give the vector's maps; the 100 m grid index runs."""
    vector = build([small.s2], [small.s1], small.clc, tmp_path / "vector", workers=0)
    codes = write_clc_raster(tmp_path / "codes.tif", small.polygons, small.codes, epsg=32633, to_epsg=32633,
                             resolution=10.0, values="codes", origin=(300_000.0, 5_400_000.0))  # fmt: skip
    raster = build([small.s2], [small.s1], codes, tmp_path / "codes", workers=0)
    assert raster.totals == vector.totals
    for path in (tmp_path / "vector" / "Reference_Maps").rglob("*.tif"):
        twin = tmp_path / "codes" / path.relative_to(tmp_path / "vector")
        with rasterio.open(path) as a, rasterio.open(twin) as b:
            np.testing.assert_array_equal(a.read(1), b.read(1))
    grid = write_clc_raster(tmp_path / "grid.tif", small.polygons, small.codes, epsg=32633, to_epsg=3035,
                            resolution=100.0)  # fmt: skip
    summary = build([small.s2], [small.s1], grid, tmp_path / "grid", workers=0)
    assert summary.totals["candidates"] == WINDOW.count
    for path in (tmp_path / "grid" / "Reference_Maps").rglob("*.tif"):
        with rasterio.open(path) as source:
            assert set(np.unique(source.read(1))) <= {*LEVEL3_CODES, 999}
