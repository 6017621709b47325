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
from dataclasses import dataclass

import numpy as np
import pytest
import rasterio
from affine import Affine

from carbonmap.errors import CarbonmapError, CarbonmapWarning, InputError, NonFiniteValuesWarning, UnknownCodeError
from test_browser import _wait_for, browser  # noqa: F401 - the fixture (skips when Chromium is absent)

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
    expect_error(UnknownCodeError, lambda: classify_raster(data, "clcd", column="carbon_category", path=source.name),
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


def test_non_finite_cells_read_by_windows_are_counted_once_and_named(tmp_path):
    """map_windows with a halo (windows overlap by it): each bad cell is counted once, by the window
    that owns its row, and the warning names the file; the cells are nodata to the function."""
    import carbonmap.grid as grid
    from carbonmap.io import read_raster

    values = np.full((40, 8), 2.0, dtype="float32")
    values[0, 0], values[9, 3], values[10, 3], values[39, 7] = np.inf, 3e38, -np.inf, np.inf  # rows 9|10: a window edge
    raster = write_tif(tmp_path / "ndvi.tif", values, nodata=-9999)
    out = expect_warning(NonFiniteValuesWarning, lambda: grid.map_windows(
        _neighbours_valid, {"values": raster}, tmp_path / "valid.tif", halo=1, block_pixels=80, nodata=-1),
        "ndvi.tif", "4 cells")
    result = read_raster(out)[0]
    assert result[5, 5] == 3 and result[9, 3] == 1 and result[10, 3] == 1  # rows 9 and 10 bad, across the edge
    assert result[0, 0] == 1 and result[39, 7] == 1  # the border rows: a missing neighbour and a bad cell


def _neighbours_valid(values):
    """How many of a cell's three rows (above, own, below) are valid in its column (module level:
    it may run in another process)."""
    valid = (~np.ma.getmaskarray(values)).astype(np.int16)
    padded = np.pad(valid, ((1, 1), (0, 0)))
    return padded[:-2] + padded[1:-1] + padded[2:]


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


# --------------------------------------------------------------------------- tables

TABLE_READERS = {  # reader, a good header, a row with Chinese text (for the GBK file), and a check of it
    "road weights": (lambda path: _coefficients().road_class_weights(path), "road_class,weight,source\n",
                     "主干道,4,本地调查\n", lambda table: table["主干道"] == 4.0),
    "pools": (lambda path: _stocks().read_pools(path), "lucode,c_above,c_below,c_soil,c_dead,name\n",
              "1,10,2,30,1,林地\n", lambda table: table["name"].tolist() == ["林地"]),
    "crosswalk": (lambda path: _landuse().read_crosswalk(path, "clcd"), "code,maps_to,note\n", "91,2,林地\n",
                  lambda table: table.loc["91", "carbon_category"] == "forest"),
    "inventory": (lambda path: _emissions().read_inventory_file(path), "sector,sub_sector,co2_t_yr,year\n",
                  "buildings,居住用地,100,2023\n", lambda table: table["sub_sector"].tolist() == ["居住用地"]),
}


def _coefficients():
    import carbonmap.coefficients

    return carbonmap.coefficients


def _stocks():
    import carbonmap.stocks

    return carbonmap.stocks


def _landuse():
    import carbonmap.landuse

    return carbonmap.landuse


def _emissions():
    import carbonmap.emissions

    return carbonmap.emissions


BAD_TABLES = {  # kind -> (file name, bytes from (header, row), words the message must hold)
    "a raster": ("dem.tif", None, ("not a text file",)),
    "empty": ("table.csv", lambda header, row: b"", ("empty file",)),
    "header only": ("table.csv", lambda header, row: header.encode(), ("header but no rows",)),
    "GBK": ("table.csv", lambda header, row: (header + row).encode("gbk"), ("not UTF-8", "line 2", "GB18030")),
    # (short GBK words can be valid UTF-8 by chance: 住宅 is; the rows above are not)
    "UTF-16": ("table.csv", lambda header, row: (header + row).encode("utf-16"), ("UTF-16", "UTF-8")),
    "malformed": ("table.csv", lambda header, row: (header + '1,"never closed\n').encode(), ("well-formed CSV",)),
}


@pytest.mark.parametrize("kind", BAD_TABLES)
@pytest.mark.parametrize("reader", TABLE_READERS)
def test_bad_tables_get_a_clear_error(tmp_path, reader, kind):
    read, header, row, _ = TABLE_READERS[reader]
    name, content, words = BAD_TABLES[kind]
    path = tmp_path / name
    if content is None:
        write_tif(path, np.ones((20, 20), dtype="float32"))
    else:
        path.write_bytes(content(header, row))
    expect_error(InputError, lambda: read(path), name, *words)


@pytest.mark.parametrize("reader", TABLE_READERS)
def test_tables_with_a_byte_order_mark_are_read(tmp_path, reader):
    read, header, row, check = TABLE_READERS[reader]
    path = tmp_path / "excel.csv"
    path.write_bytes(("\ufeff" + header + row).encode("utf-8"))  # Excel's "CSV UTF-8"
    assert check(read(path))


def test_negative_pools_are_refused_with_their_rows(tmp_path):
    from carbonmap.stocks import read_pools

    path = tmp_path / "pools.csv"
    path.write_text("lucode,c_above,c_below,c_soil,c_dead\n1,10,2,30,1\n3,5,1,-5,0\n4,-1,0,0,-2\n")
    expect_error(InputError, lambda: read_pools(path), "pools.csv", "field 'c_above'", "2 row(s)",
                 "lucode 3 (c_soil = -5)", "lucode 4 (c_above = -1, c_dead = -2)")
    path.write_text("lucode,c_above,c_below,c_soil,c_dead\nforest,10,2,30,1\n")
    expect_error(InputError, lambda: read_pools(path), "pools.csv", "field 'lucode'", "'forest'")


@pytest.mark.parametrize(("loader", "table", "row", "words"), [
    ("road_class_weights", "road_class,weight,source\n", "arterial,-4,survey\n", ("weight", "arterial (-4)")),
    ("road_class_weights", "road_class,weight,source\n", "arterial,heavy,survey\n", ("weight", "arterial (heavy)")),
    ("ecological_resistance", "carbon_category,resistance,source\n", "forest,0,survey\n",
     ("resistance", "positive", "forest (0)")),
    ("renewable_parameters", "parameter,value,unit,source\n", "turbine_hub_m,-120,m,survey\n",
     ("value", "positive", "turbine_hub_m (-120)")),
    ("renewable_parameters", "parameter,value,unit,source\n", "performance_ratio,1.8,-,survey\n",
     ("value", "between 0 and 1", "performance_ratio (1.8)")),
    ("screening_parameters", "parameter,value,unit,source\n", "afforestation_max_slope_deg,-5,degree,survey\n",
     ("value", "afforestation_max_slope_deg (-5)")),
    ("rooftop_pv_usable", "use,usable_fraction,source\n", "public,1.4,survey\n", ("usable_fraction", "public (1.4)")),
    ("gshp_extraction", "ground,w_per_m,source\n", "normal,-50,survey\n", ("w_per_m", "normal (-50)")),
    ("afforestation_growth", "vegetation_type,agb_max_t_dm_ha,k_per_yr,p,root_shoot,carbon_fraction,source\n",
     "bamboo,-10,0.1,3,0.2,0.47,survey\n", ("agb_max_t_dm_ha", "bamboo (-10)")),
    ("landuse_coefficients", "coef_id,carbon_category,flux,value,unit,source\n",
     "MY-FOREST,forest,removal,-3,t C/ha/yr,survey\n", ("value", "non-negative", "MY-FOREST (-3)")),
])
def test_coefficient_overrides_with_forbidden_values_are_refused(tmp_path, loader, table, row, words):
    import carbonmap.coefficients as coefficients

    path = tmp_path / "override.csv"
    path.write_text(table + row)
    expect_error(InputError, lambda: getattr(coefficients, loader)(path), "override.csv", *words)


def test_only_packaged_tables_and_code_systems_can_be_named(tmp_path):
    from carbonmap.coefficients import read_table
    from carbonmap.landuse import CODE_SYSTEMS, classify, classify_raster, code_table, read_crosswalk

    secret = tmp_path / "secret.csv"
    secret.write_text("code,level\n1,1\n")
    escape = f"../../../../../../..{secret.with_suffix('')}"  # a path out of the package
    for system in ("xx", escape, "clcd.csv", None):
        for call in (lambda: code_table(system), lambda: classify(["1"], system),
                     lambda: classify_raster(np.array([[1, 2]]), system, column="space"),
                     lambda: read_crosswalk(secret, system)):
            expect_error(InputError, call, "key 'code_system'", "unknown code system", *CODE_SYSTEMS)
    expect_error(InputError, lambda: read_table(escape), "key 'table'", "unknown table", "road_class_weights")


# --------------------------------------------------------------------------- inventory


def _city():
    """Parcels of every built use, cropland, and planning units covering them."""
    import geopandas as gpd
    import pandas as pd
    import shapely

    categories = ["built_residential", "built_commercial", "built_transport", "built_industrial", "cropland"]
    boxes = [shapely.box(100 * i, 0, 100 * i + 100, 100) for i in range(5)]
    parcels = gpd.GeoDataFrame({"id": range(5)}, geometry=boxes, crs=CRS)
    return parcels, pd.Series(categories)


def test_sub_sector_all_means_the_whole_sector_for_every_sector():
    import pandas as pd

    from carbonmap.coefficients import landuse_coefficients
    from carbonmap.emissions import account_emissions

    parcels, categories = _city()
    inventory = pd.DataFrame({"sector": ["buildings", "transport", "industry", "agriculture"],
                              "sub_sector": ["all", "ALL", " all ", ""], "co2_t_yr": [215.0, 300.0, 400.0, 85.0]})
    account = account_emissions(parcels, categories, landuse_coefficients(), inventory=inventory)
    report = account.report.set_index("sector")
    assert (report["unallocated_co2_t_yr"] == 0).all(), report
    assert report["allocated_co2_t_yr"].to_dict() == {"buildings": 215.0, "transport": 300.0, "industry": 400.0,
                                                      "agriculture": 85.0}
    assert account.parcels["inventory_co2_t_yr"].sum() == pytest.approx(1000.0)
    assert account.notes == [] or not any("not allocated" in n.en for n in account.notes)


def test_unallocated_inventory_rows_are_an_error_naming_the_row_proxy_and_sub_sectors(tmp_path):
    from carbonmap.coefficients import landuse_coefficients
    from carbonmap.emissions import account_emissions, check_allocation, read_inventory_file

    path = tmp_path / "inventory.csv"
    path.write_text("sector,sub_sector,co2_t_yr,year\nbuildings,public,70,2023\nbuildings,residential,30,2023\n"
                    "power,,500,2023\n")
    parcels, categories = _city()
    account = account_emissions(parcels, categories, landuse_coefficients(), inventory=read_inventory_file(path))
    expect_error(InputError, lambda: check_allocation(account.report, allow_unallocated=False, path=path),
                 "inventory.csv", "2 inventory row(s), 570 t CO2/yr of 600", "buildings/public: 70 t CO2/yr",
                 "the parcel_area proxy has no features of sub-sector 'public'",
                 "its sub-sectors: commercial, residential", "power: 500 t CO2/yr", "no proxy for the sector 'power'",
                 "allow_unallocated = true")
    lines = check_allocation(account.report, allow_unallocated=True, path=path)
    assert len(lines) == 2 and lines[0].startswith("buildings/public: 70 t CO2/yr not allocated")
    assert check_allocation(account.report[account.report["sub_sector"] == "residential"],
                            allow_unallocated=False) == []


def test_inventory_values_are_checked_where_they_enter(tmp_path):
    from carbonmap.emissions import read_inventory_file

    path = tmp_path / "inventory.csv"
    path.write_text("sector,sub_sector,co2_t_yr,year\nbuildings,,-10,2023\ntransport,,,2023\nindustry,01,5,2023\n")
    expect_error(InputError, lambda: read_inventory_file(path), "inventory.csv", "field 'co2_t_yr'",
                 "line 2 (buildings: -10", "line 3 (transport: nan)")
    path.write_text("sector,sub_sector,co2_t_yr,year\nindustry,01,5,2023\n")
    assert read_inventory_file(path)["sub_sector"].tolist() == ["01"]  # text, not the number 1


# --------------------------------------------------------------------------- vectors

DISTRICTS = ["东城区", "西城区", "朝阳区", "海淀区"]


def _districts(crs="EPSG:4326"):
    import geopandas as gpd
    import shapely

    return gpd.GeoDataFrame({"name": DISTRICTS, "code": [110101, 110102, 110105, 110108]},
                            geometry=[shapely.box(116 + i / 10, 39.9, 116.1 + i / 10, 40.0) for i in range(4)],
                            crs=crs)


def _shapefile(path, frame, encoding):
    """A Shapefile written in `encoding`, without the .cpg file that would declare it (very common)."""
    import pyogrio

    pyogrio.write_dataframe(frame, path, encoding=encoding)
    path.with_suffix(".cpg").unlink()
    return path


def test_a_shapefile_without_its_dbf_or_shx_names_the_missing_part(tmp_path):
    from carbonmap.errors import InputNotFoundError
    from carbonmap.io import read_vector

    for missing in (".dbf", ".shx"):
        folder = tmp_path / missing[1:]
        folder.mkdir()
        path = _shapefile(folder / "units.shp", _districts(), "utf-8")
        path.with_suffix(missing).unlink()
        expect_error(InputNotFoundError, lambda: read_vector(path, columns=["name"]), "units.shp",
                     f"units{missing}", "is missing", "every part of the Shapefile")


def test_a_gbk_shapefile_without_cpg_is_read_as_gb18030_with_a_warning(tmp_path):
    from carbonmap.errors import EncodingGuessedWarning
    from carbonmap.io import read_vector

    path = _shapefile(tmp_path / "districts.shp", _districts(), "gbk")
    frame = expect_warning(EncodingGuessedWarning, lambda: read_vector(path, columns=["name"]),
                           "districts.shp", "no .cpg", "GB18030", "encoding")
    assert frame["name"].tolist() == DISTRICTS


def test_chinese_field_names_are_decoded_too(tmp_path):
    from carbonmap.errors import EncodingGuessedWarning
    from carbonmap.io import read_vector

    path = _shapefile(tmp_path / "districts.shp", _districts().rename(columns={"name": "名称"}), "gbk")
    frame = expect_warning(EncodingGuessedWarning, lambda: read_vector(path, columns=["名称"]), "districts.shp")
    assert frame["名称"].tolist() == DISTRICTS


def test_a_utf8_shapefile_without_cpg_is_read_silently_and_an_encoding_can_be_set(tmp_path):
    from carbonmap.io import read_vector

    utf8 = _shapefile(tmp_path / "utf8.shp", _districts(), "utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_vector(utf8)["name"].tolist() == DISTRICTS
        gbk = _shapefile(tmp_path / "gbk.shp", _districts(), "gbk")
        assert read_vector(gbk, encoding="gbk")["name"].tolist() == DISTRICTS


def test_bad_encodings_are_named(tmp_path):
    from carbonmap.io import read_vector

    gbk = _shapefile(tmp_path / "gbk.shp", _districts(), "gbk")
    expect_error(InputError, lambda: read_vector(gbk, encoding="gbkk"), "gbk.shp", "key 'encoding'", "'gbkk'")
    expect_error(InputError, lambda: read_vector(gbk, encoding="utf-8"), "gbk.shp", "not utf-8 text", "gb18030")
    names = ["Várzea", "Torreão", "São José", "Boa Vista"]  # "é" last: not GB18030 either
    latin = _shapefile(tmp_path / "recife.shp", _districts().assign(name=names), "latin1")
    expect_error(InputError, lambda: read_vector(latin), "recife.shp", "neither UTF-8 nor GB18030", "latin1")
    assert read_vector(latin, encoding="latin1")["name"].tolist() == names


def test_planning_units_without_geometry_are_an_error_listing_them(tmp_path):
    import geopandas as gpd

    from carbonmap.errors import GeometryError, GeometryRepairedWarning
    from carbonmap.io import read_vector

    units = _districts(CRS).assign(unit_id=["A", "B", "C", "D"])
    units.loc[[1, 3], "geometry"] = None
    path = tmp_path / "units.gpkg"
    units.to_file(path)
    expect_error(GeometryError, lambda: read_vector(path, null_geometry="error", id_field="unit_id"),
                 "units.gpkg", "2 feature(s) have no geometry", "row 2 (unit_id 'B')", "row 4 (unit_id 'D')")
    kept = expect_warning(GeometryRepairedWarning, lambda: read_vector(path), "units.gpkg", "dropped 2")
    assert isinstance(kept, gpd.GeoDataFrame) and kept["unit_id"].tolist() == ["A", "C"]
    expect_error(InputError, lambda: read_vector(path, null_geometry="keep"), "units.gpkg", "drop, error")


def test_a_units_name_field_per_language_keeps_both_and_names_a_missing_field(tmp_path):
    from carbonmap.config import UnitsSection
    from carbonmap.grid import analysis_grid
    from carbonmap.themes.inputs import Units, read_units
    from carbonmap.words import Text

    path = tmp_path / "units.gpkg"
    english = ["Dongcheng", "Xicheng", "Chaoyang", "Haidian"]
    _districts(CRS).assign(name_en=english).to_file(path)
    section = UnitsSection(path=path, id_field="code", name_field=Text(en="name_en", zh="name"))
    chinese_run = read_units(section, language="zh")
    assert chinese_run["unit_name"].tolist() == DISTRICTS
    units = Units(chinese_run, analysis_grid(chinese_run, 100.0))
    assert units.names_in("en").tolist() == english and units.names_in("zh").tolist() == DISTRICTS
    assert read_units(section, language="en")["unit_name"].tolist() == english
    one = Units(read_units(UnitsSection(path=path, id_field="code", name_field="name"), language="en"), units.grid)
    assert one.names_in("en").tolist() == DISTRICTS  # one field serves both languages
    assert Units(read_units(UnitsSection(path=path, id_field="code")), units.grid).names_in("zh") is None
    missing = UnitsSection(path=path, id_field="code", name_field=Text(en="name_english", zh="name"))
    expect_error(InputError, lambda: read_units(missing, language="zh"), "units.gpkg", "name_english")


@pytest.mark.parametrize("name", ["units.gpkg", "units.geojson", "units.shp"])
def test_corrupt_vector_files_are_named(tmp_path, name):
    from carbonmap.io import read_vector

    path = tmp_path / name
    if name.endswith(".gpkg"):
        _districts(CRS).to_file(path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    else:
        path.write_bytes(np.random.default_rng(3).bytes(3000))
        for part in (".shx", ".dbf"):
            path.with_suffix(part).write_bytes(np.random.default_rng(4).bytes(300))
    expect_error(InputError, lambda: read_vector(path), name, "damaged or incomplete")


# --------------------------------------------------------------------------- project file

PROJECT = """# 项目文件
[project]
name = "东城区碳图"

[grid]
resolution_m = 30

[units]
path = "units.gpkg"
id_field = "id"
name_field = "名称"
"""


@pytest.fixture
def project_folder(tmp_path):
    (tmp_path / "units.gpkg").write_bytes(b"")
    return tmp_path


def test_a_project_file_with_a_byte_order_mark_is_read(project_folder):
    from carbonmap.config import load_project

    path = project_folder / "project.toml"
    path.write_bytes(("\ufeff" + PROJECT).encode("utf-8"))  # Notepad's "UTF-8 with BOM"
    project = load_project(path)
    assert project.project.name == "东城区碳图" and project.units.name_field == "名称"


def test_a_project_file_in_gbk_names_the_line_and_asks_for_utf8(project_folder):
    from carbonmap.config import load_project
    from carbonmap.errors import ConfigError

    path = project_folder / "project.toml"
    path.write_bytes(PROJECT.encode("gbk"))
    expect_error(ConfigError, lambda: load_project(path), "project.toml", "not UTF-8", "line 1", "GB18030",
                 "save it as UTF-8")


def test_encoding_keys_must_name_a_codec(project_folder):
    from carbonmap.config import load_project
    from carbonmap.errors import ConfigError

    path = project_folder / "project.toml"
    path.write_text(PROJECT + 'encoding = "gbk"\n', encoding="utf-8")
    assert load_project(path).units.encoding == "gbk"
    path.write_text(PROJECT + 'encoding = "chinese-windows"\n', encoding="utf-8")
    expect_error(ConfigError, lambda: load_project(path), "project.toml", "key 'units.encoding'",
                 "'chinese-windows'", "gb18030")
    (project_folder / "roads.gpkg").write_bytes(b"")
    path.write_text(PROJECT + '\n[[vectors]]\nname = "roads"\npath = "roads.gpkg"\nencoding = "nope"\n',
                    encoding="utf-8")
    expect_error(ConfigError, lambda: load_project(path), "key 'vectors[0].encoding'", "'nope'")


# --------------------------------------------------------------------------- the HTML map

XSS = '<img src=x onerror="window.__xss=1">'


@dataclass
class MapLayer:
    """What carbonmap.webmap reads of a layer (as carbonmap.pipeline.Layer), with any group."""

    name: str
    title: str
    group: str
    frame: object = None
    raster: object = None
    column: str | None = None
    unit: str = ""
    kind: str = "continuous"
    labels: dict | None = None
    colours: dict | None = None
    display_tolerance_m: float = 0.0
    aggregate: str = "mean"

    def features(self) -> int | None:
        return None if self.frame is None else len(self.frame)

    def loaded(self) -> MapLayer:  # its frame is in memory
        return self


@pytest.fixture(scope="module")
def xss_map(tmp_path_factory):
    """A map whose layer titles, group, unit name, class labels and attribute values are all the
    same script-bearing string."""
    import geopandas as gpd
    import shapely

    from carbonmap.io import write_cog
    from carbonmap.webmap import write_map

    folder = tmp_path_factory.mktemp("xss")
    x0, y0 = 500_000, 3_000_000
    units = gpd.GeoDataFrame({"unit_id": ["u1", "u2"], "unit_name": [XSS, "Dongcheng"], "note": [XSS, "ok"],
                              "net_co2_t_yr": [10.0, 20.0]},
                             geometry=[shapely.box(x0, y0, x0 + 1000, y0 + 1000),
                                       shapely.box(x0 + 1000, y0, x0 + 2000, y0 + 1000)], crs=CRS)
    parcels = gpd.GeoDataFrame({"land_class": [XSS, "forest"]}, geometry=units.geometry.values, crs=CRS)
    codes = np.ones((10, 20), dtype="uint8")
    codes[:, 10:] = 2
    raster = write_cog(folder / "landcover.tif", codes, transform=Affine(100, 0, x0, 0, -100, y0 + 1000), crs=CRS,
                       nodata=0)
    layers = [MapLayer(name="parcels", title=XSS, group=XSS, frame=parcels, column="land_class", kind="categorical"),
              MapLayer(name="landcover", title=XSS + " raster", group="inputs", raster=raster, kind="categorical",
                       labels={"1": XSS, "2": "water"})]
    path, _, _ = write_map(units, layers, folder / "onemap.html", headline=["net_co2_t_yr"], title=XSS, basemaps=())
    return path


def test_html_map_escapes_every_string_from_data(xss_map):
    page = xss_map.read_text(encoding="utf-8")
    assert "<img src=x" not in page  # nowhere as markup: not in scripts, legends, title
    assert "&lt;img src=x onerror=&quot;window.__xss=1&quot;&gt;" in page  # in legends and the title, as text
    assert "\\u003cimg src=x" in page  # in the data tables, as a JSON string


def test_html_map_runs_no_script_from_data_in_chromium(browser, xss_map):  # noqa: F811 - the fixture imported above
    browser.get(xss_map.resolve().as_uri())
    _wait_for(browser, "return document.readyState === 'complete' && document.querySelector('.leaflet-control-layers')")
    assert browser.execute_script("return window.__xss") is None
    texts = browser.execute_script(
        "return Array.from(document.querySelectorAll('.leaflet-control-layers label, "
        ".leaflet-control-layers-group-name')).map(e => e.textContent.trim())")
    assert XSS in texts and XSS + " raster" in texts  # shown as text: the group and the layer's name
    browser.execute_script("""
        document.querySelectorAll('.leaflet-control-layers-overlays input')
          .forEach(i => { if (!i.checked) i.click(); });
        const map = Object.values(window).find(v => v instanceof L.Map);
        map.eachLayer(l => {
          if (l.getPopup && l.getPopup() && (l.getLatLng || l.getBounds)) { l.openPopup(); }
          if (l.getTooltip && l.getTooltip() && (l.getLatLng || l.getBounds)) { l.openTooltip(); }
        });""")
    _wait_for(browser, "return document.querySelector('.leaflet-popup-content')")
    shown = browser.execute_script(
        "return Array.from(document.querySelectorAll('.leaflet-popup-content, .leaflet-tooltip, .carbonmap-legend'))"
        ".map(e => e.textContent).join(' | ')")
    assert XSS in shown  # popups, tooltips and legends show the string as text
    finder = browser.find_element("css selector", ".carbonmap-finder input")
    finder.send_keys("img src")
    browser.execute_script("arguments[0].dispatchEvent(new Event('change'))", finder)
    assert browser.execute_script("return window.__xss") is None
    assert browser.execute_script("return document.querySelectorAll('img[src=\"x\"]').length") == 0


# --------------------------------------------------------------------------- unknown codes


def test_unknown_codes_of_a_raster_are_counted_in_cells(tmp_path):
    from carbonmap.io import read_raster
    from carbonmap.landuse import classify, classify_raster

    codes = np.full((20, 30), 2, dtype="uint8")
    codes[:, 10:30] = 77  # 400 cells of a code CLCD does not have
    path = write_tif(tmp_path / "clcd.tif", codes, nodata=0)
    data, source = read_raster(path)
    expect_error(UnknownCodeError, lambda: classify_raster(data, "clcd", column="carbon_category", path=source.name),
                 "clcd.tif", "1 code(s) are not in the clcd table: 77 (400)", "crosswalk")
    present, counts = np.unique(data.compressed(), return_counts=True)  # a table of codes and cell counts
    expect_error(UnknownCodeError, lambda: classify(present, "clcd", counts=counts, path=source.name,
                                                    field="cell values"), "clcd.tif", "77 (400)")


def test_exactextract_reads_an_aligned_copy_by_its_own_path(tmp_path):
    from carbonmap.grid import align_raster, analysis_grid
    from carbonmap.zonal import zonal_stats

    dem = write_tif(tmp_path / "dem.tif", np.full((20, 20), 7.0, dtype="float32"))
    copy = align_raster(dem, analysis_grid(_square(600), 30.0, crs=CRS), kind="continuous",
                        dst_path=tmp_path / "out" / "elevation.tif")
    table = zonal_stats(_square(300), copy, engine="exactextract", stats=["mean"])
    assert table.loc[0, "mean"] == pytest.approx(7.0)


@pytest.mark.parametrize("part", [".shp", ".dbf"])
def test_a_cut_shapefile_is_an_error_not_features_without_geometry(tmp_path, part):
    import geopandas as gpd
    import shapely

    from carbonmap.io import read_vector

    units = gpd.GeoDataFrame({"unit_id": range(200)}, geometry=[shapely.box(i, 0, i + 1, 1) for i in range(200)],
                             crs=CRS)
    path = _shapefile(tmp_path / "units.shp", units, "utf-8")
    cut = path.with_suffix(part)
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])
    expect_error(InputError, lambda: read_vector(path), "units.shp", "damaged or incomplete",
                 f"units{part} has", "re-download")


def test_screening_and_network_name_the_users_land_cover(tmp_path):
    from carbonmap.coefficients import (afforestation_growth, afforestation_rules, afforestation_site_preparation,
                                        screening_parameters)
    from carbonmap.grid import align_raster, analysis_grid
    from carbonmap.landscape.network import network_from_rasters
    from carbonmap.screening.afforestation import sites_from_rasters

    codes = np.full((20, 20), 2, dtype="uint8")
    codes[:5, :5] = 77
    user_file = write_tif(tmp_path / "clcd_2023.tif", codes, nodata=0)
    copy = align_raster(user_file, analysis_grid(_square(600), 30.0, crs=CRS), kind="categorical",
                        dst_path=tmp_path / "out" / "rasters" / "landcover.tif")
    expect_error(UnknownCodeError, lambda: sites_from_rasters(
        copy, "clcd", tree_type="broadleaf_subtropical", parameters=screening_parameters(), rules=afforestation_rules(),
        site_preparation=afforestation_site_preparation(), growth=afforestation_growth()),
        "clcd_2023.tif (aligned", "77 (25)")
    expect_error(UnknownCodeError, lambda: network_from_rasters(copy, "clcd"), "clcd_2023.tif (aligned", "77 (25)")
    expect_error(InputError, lambda: network_from_rasters(copy, "../clcd"), "key 'code_system'", "nlcd")
