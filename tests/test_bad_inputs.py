"""The bad-input suite: every bad input a new user may give gets a clear answer.

Each test makes one bad input in `tmp_path` (a truncated GeoTIFF, a GBK Shapefile without its
.cpg, an empty CSV, ...) and checks that carbonmap answers with a :class:`CarbonmapError` (or
a recorded :class:`CarbonmapWarning`) whose message names the user's own input -- the file,
layer, field or key the user wrote, never a file carbonmap derived from it -- and says how to
fix it. A raw traceback (``RasterioIOError``, ``UnicodeDecodeError``, ``ParserError``, ...) fails
the test.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import rasterio
from affine import Affine

from carbonmap.errors import CarbonmapError, CarbonmapWarning, InputError, NonFiniteValuesWarning, UnknownCodeError

CRS = "EPSG:32650"


def expect_error(exc_type: type[CarbonmapError], call, *names) -> CarbonmapError:
    """Run `call`; it must raise `exc_type` (a CarbonmapError) whose message holds every one of
    `names` and "Fix:". Any other exception fails the test (a raw traceback is a bug)."""
    try:
        call()
    except CarbonmapError as exc:
        message = str(exc)
        assert isinstance(exc, exc_type), f"{type(exc).__name__} instead of {exc_type.__name__}: {message}"
        for name in (*map(str, names), "Fix:"):
            assert name in message, f"{name!r} is not in the message: {message}"
        return exc
    except Exception as exc:  # noqa: BLE001 - anything else is the failure this suite looks for
        pytest.fail(f"raw {type(exc).__name__} instead of a CarbonmapError: {exc}")
    pytest.fail(f"no error raised (expected {exc_type.__name__})")


def expect_warning(warning_type: type[CarbonmapWarning], call, *names):
    """Run `call`; it must warn `warning_type` once, with every one of `names` and "Fix:" in the
    message. Returns what `call` returned."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = call()
    ours = [w for w in caught if issubclass(w.category, warning_type)]
    assert len(ours) == 1, [str(w.message) for w in caught]
    message = str(ours[0].message)
    for name in (*map(str, names), "Fix:"):
        assert name in message, f"{name!r} is not in the warning: {message}"
    return result


def write_tif(path, data, *, nodata=None, transform=Affine(30, 0, 500_000, 0, -30, 3_000_000), crs=CRS,
              tiled=False, compress=None):
    """A one-band GeoTIFF of `data` (rows, cols)."""
    profile = {"driver": "GTiff", "width": data.shape[1], "height": data.shape[0], "count": 1,
               "dtype": data.dtype.name, "crs": crs, "transform": transform, "nodata": nodata}
    if tiled:
        profile.update(tiled=True, blockxsize=64, blockysize=64)
    if compress:
        profile["compress"] = compress
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
    return path


def truncated_tif(path, dtype):
    """A real tiled, compressed GeoTIFF of random values, cut in half (its header is intact, its
    tiles are not)."""
    rng = np.random.default_rng(7)
    data = (rng.random((256, 256)) * 100).astype(dtype)
    write_tif(path, data, tiled=True, compress="deflate")
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    return path


# --------------------------------------------------------------------------- rasters


@pytest.fixture
def truncated_dem(tmp_path):
    return truncated_tif(tmp_path / "dem.tif", "float32")


@pytest.fixture
def truncated_landcover(tmp_path):
    return truncated_tif(tmp_path / "landcover.tif", "uint8")


def _square(size_m=3000.0):
    import geopandas as gpd
    import shapely

    x0, y0 = 500_000, 3_000_000
    return gpd.GeoDataFrame({"unit": ["a"]}, geometry=[shapely.box(x0, y0 - size_m, x0 + size_m, y0)], crs=CRS)


def test_truncated_raster_is_named_when_aligned(truncated_dem, tmp_path):
    from carbonmap.grid import align_raster, analysis_grid

    grid = analysis_grid(_square(), 60.0, crs=CRS)
    expect_error(InputError, lambda: align_raster(truncated_dem, grid, kind="continuous",
                                                        dst_path=tmp_path / "out" / "rasters" / "elevation.tif"),
                 "dem.tif", "damaged or incomplete", "re-download")
    assert not (tmp_path / "out" / "rasters" / "elevation.tif").exists()  # nothing half-written


def test_truncated_raster_is_named_in_zonal_stats(truncated_dem):
    from carbonmap.zonal import zonal_stats

    expect_error(InputError, lambda: zonal_stats(_square(), truncated_dem), "dem.tif", "damaged or incomplete")


def test_truncated_land_cover_is_named_in_stocks_and_landscape(truncated_landcover):
    import pandas as pd

    from carbonmap.landscape import read_landscape
    from carbonmap.stocks import carbon_stocks

    pools = pd.DataFrame({"lucode": np.arange(100), "c_above": 1.0, "c_below": 0.0, "c_soil": 0.0, "c_dead": 0.0})
    expect_error(InputError, lambda: carbon_stocks(truncated_landcover, pools), "landcover.tif",
                 "damaged or incomplete")
    expect_error(InputError, lambda: read_landscape(truncated_landcover), "landcover.tif",
                 "damaged or incomplete")


def test_a_raster_cut_before_its_tiles_start_is_named(tmp_path):
    from carbonmap.io import read_raster

    path = truncated_tif(tmp_path / "dem.tif", "float32")
    path.write_bytes(path.read_bytes()[:100])  # not even a whole header
    expect_error(InputError, lambda: read_raster(path), "dem.tif", "cannot be read as a raster")


def test_errors_about_an_aligned_copy_name_the_users_file(tmp_path):
    from carbonmap.grid import align_raster, analysis_grid
    from carbonmap.io import read_raster
    from carbonmap.landscape import read_landscape, select_classes
    from carbonmap.landuse import classify_raster

    codes = np.full((20, 20), 2, dtype="uint8")  # CLCD 2: forest
    codes[5:10, 5:10] = 77  # not a CLCD code
    user_file = write_tif(tmp_path / "clcd_2023.tif", codes, nodata=0)
    copy = align_raster(user_file, analysis_grid(_square(600), 30.0, crs=CRS), kind="categorical",
                        dst_path=tmp_path / "out" / "rasters" / "landcover.tif")
    land = read_landscape(copy)
    error = expect_error(UnknownCodeError, lambda: select_classes(land, system="clcd"),
                         "clcd_2023.tif (aligned to the analysis grid as", "landcover.tif", "77 (25)")
    assert str(error).index("clcd_2023.tif") < str(error).index("landcover.tif")  # the user's file first
    data, source = read_raster(copy)
    assert source.origin == str(user_file)
    expect_error(UnknownCodeError, lambda: classify_raster(data, "clcd", "carbon_category", path=source.name),
                 "clcd_2023.tif")


def test_non_finite_cells_are_nodata_with_a_warning_naming_the_file_and_count(tmp_path):
    from carbonmap.zonal import zonal_stats

    values = np.arange(100, dtype="float32").reshape(10, 10) + 10
    values[0, 0], values[3, 4], values[7, 7] = np.inf, -np.inf, 3e38
    values[9, 9] = -9999  # the declared nodata: not counted
    dem = write_tif(tmp_path / "dem.tif", values, nodata=-9999)
    zones = _square(300)
    table = expect_warning(NonFiniteValuesWarning, lambda: zonal_stats(zones, dem, stats=["mean", "count", "max"]),
                           "dem.tif", "3 cells", "nodata")
    rest = values[(np.abs(values) < 1e30) & (values != -9999)]
    assert table.loc[0, "count"] == 96
    assert math.isfinite(table.loc[0, "mean"]) and table.loc[0, "mean"] == pytest.approx(rest.mean(), rel=1e-12)
    assert table.loc[0, "max"] == rest.max()


def test_non_finite_cells_never_spread_when_aligned(tmp_path):
    from carbonmap.grid import align_raster, analysis_grid
    from carbonmap.io import read_raster

    values = np.full((20, 20), 50.0, dtype="float32")
    values[4, 4], values[15, 15] = np.inf, np.float32(3.4e38)  # an undeclared float32-max fill
    dem = write_tif(tmp_path / "dem.tif", values)
    grid = analysis_grid(_square(600), 60.0, crs=CRS)  # 2 x 2 source cells per cell: 'average'
    copy = expect_warning(NonFiniteValuesWarning, lambda: align_raster(
        dem, grid, kind="continuous", dst_path=tmp_path / "out" / "elevation.tif"), "dem.tif", "2 cells")
    aligned, _ = read_raster(copy)
    assert aligned.count() == aligned.size and np.all(aligned == 50.0)  # averages of the other cells


def test_stocks_refuse_a_float_land_cover_like_landscape_metrics(tmp_path):
    import pandas as pd

    from carbonmap.landscape import read_landscape
    from carbonmap.stocks import carbon_stocks
    from carbonmap.zonal import zonal_categories

    codes = np.full((10, 10), 2.0, dtype="float32")
    codes[:5] = 2.5
    path = write_tif(tmp_path / "lulc_float.tif", codes)
    pools = pd.DataFrame({"lucode": [2, 3], "c_above": 1.0, "c_below": 0.0, "c_soil": 0.0, "c_dead": 0.0})
    for call in (lambda: carbon_stocks(path, pools), lambda: read_landscape(path),
                 lambda: zonal_categories(_square(300), path)):
        expect_error(InputError, call, "lulc_float.tif", "integer class codes", "float32", "gdal_translate")
