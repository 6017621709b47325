"""Zonal statistics: hand-computed values, and exact agreement with rasterstats."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasterstats import zonal_stats as rasterstats_zonal

from carbonmap.errors import CRSError, InputError, NodataError
from carbonmap.zonal import STATS, zonal_categories, zonal_stats

CRS = "EPSG:32650"
# 4 x 6 cells of 10 m, upper-left corner at (0, 40)
TRANSFORM = Affine(10, 0, 0, 0, -10, 40)
NODATA = -1.0


@pytest.fixture
def values() -> np.ndarray:
    v = np.arange(1, 25, dtype="float32").reshape(4, 6)
    v[1, 1] = NODATA  # was 8
    return v


def zones_of(*boxes) -> gpd.GeoSeries:
    return gpd.GeoSeries([shapely.box(*b) for b in boxes], crs=CRS)


def test_hand_computed_statistics(values):
    # A: rows 0-1, cols 0-2 -> 1 2 3 / 7 (nodata) 9
    # B: rows 2-3, cols 2-5 -> 15 16 17 18 / 21 22 23 24
    # C: rows 1-2, cols 1-3 -> (nodata) 9 10 / 14 15 16 ; overlaps A and B
    zones = zones_of((0, 20, 30, 40), (20, 0, 60, 20), (10, 10, 40, 30))
    out = zonal_stats(zones, values, transform=TRANSFORM, crs=CRS, nodata=NODATA,
                      stats=["count", "sum", "mean", "min", "max", "std", "median",
                             "nodata_count", "percentile_25"])
    a = np.array([1, 2, 3, 7, 9.0])
    b = np.array([15, 16, 17, 18, 21, 22, 23, 24.0])
    c = np.array([9, 10, 14, 15, 16.0])
    for row, cells in zip(out.itertuples(), (a, b, c)):
        assert row.count == cells.size
        assert row.sum == pytest.approx(cells.sum())
        assert row.mean == pytest.approx(cells.mean())
        assert row.min == cells.min() and row.max == cells.max()
        assert row.std == pytest.approx(cells.std())
        assert row.median == pytest.approx(np.median(cells))
        assert row.percentile_25 == pytest.approx(np.percentile(cells, 25))
    assert out["nodata_count"].tolist() == [1, 0, 1]
    # A by hand: mean 4.4, population variance 47.2 / 5
    assert out.loc[0, "std"] == pytest.approx(math.sqrt(47.2 / 5))
    assert out.loc[1, "median"] == 19.5


def test_nan_cells_are_nodata(values):
    values[0, 0] = np.nan
    out = zonal_stats(zones_of((0, 20, 30, 40)), values, transform=TRANSFORM, crs=CRS,
                      nodata=NODATA, stats=["count", "sum", "nodata_count"])
    assert out.loc[0, "count"] == 4 and out.loc[0, "sum"] == 2 + 3 + 7 + 9
    assert out.loc[0, "nodata_count"] == 2


def test_zone_outside_the_raster_gets_count_0_and_nan(values):
    zones = zones_of((0, 20, 30, 40), (1000, 1000, 1010, 1010))
    out = zonal_stats(zones, values, transform=TRANSFORM, crs=CRS, nodata=NODATA,
                      stats=["count", "mean"])
    assert out.loc[1, "count"] == 0 and np.isnan(out.loc[1, "mean"])


def test_index_of_the_zones_is_kept(values):
    zones = gpd.GeoDataFrame({"name": ["x", "y"]}, index=["u7", "u9"],
                             geometry=[shapely.box(0, 20, 30, 40), shapely.box(20, 0, 60, 20)], crs=CRS)
    out = zonal_stats(zones, values, transform=TRANSFORM, crs=CRS, nodata=NODATA, prefix="v_")
    assert list(out.index) == ["u7", "u9"]
    assert list(out.columns) == ["v_count", "v_sum", "v_mean", "v_min", "v_max"]


def test_no_valid_cell_anywhere_is_an_error(values):
    with pytest.raises(NodataError, match="none of the 1 zones covers a valid cell"):
        zonal_stats(zones_of((500, 500, 600, 600)), values, transform=TRANSFORM, crs=CRS)
    with pytest.raises(NodataError, match="nodata value"):
        zonal_stats(zones_of((0, 0, 60, 40)), np.full((4, 6), NODATA, dtype="float32"),
                    transform=TRANSFORM, crs=CRS, nodata=NODATA)


def test_bad_arguments_are_named(values):
    with pytest.raises(InputError, match="unknown statistic.*mode"):
        zonal_stats(zones_of((0, 0, 10, 10)), values, transform=TRANSFORM, crs=CRS, stats=["mean", "mode"])
    with pytest.raises(InputError, match="percentile must be between 0 and 100"):
        zonal_stats(zones_of((0, 0, 10, 10)), values, transform=TRANSFORM, crs=CRS, stats=["percentile_101"])
    with pytest.raises(InputError, match="unknown zonal engine"):
        zonal_stats(zones_of((0, 0, 10, 10)), values, transform=TRANSFORM, crs=CRS, engine="fast")
    with pytest.raises(CRSError, match="zones have no CRS"):
        zonal_stats(gpd.GeoSeries([shapely.box(0, 0, 10, 10)]), values, transform=TRANSFORM, crs=CRS)
    with pytest.raises(CRSError, match="array needs its CRS"):
        zonal_stats(zones_of((0, 0, 10, 10)), values, transform=TRANSFORM)
    with pytest.raises(InputError, match="Polygons or MultiPolygons"):
        zonal_stats(gpd.GeoSeries([shapely.Point(5, 5)], crs=CRS), values, transform=TRANSFORM, crs=CRS)


def _rasterstats(zones: gpd.GeoSeries, values, stats, all_touched=False, nodata=NODATA) -> pd.DataFrame:
    rows = rasterstats_zonal(list(zones.values), values, affine=TRANSFORM, nodata=nodata,
                             stats=stats, all_touched=all_touched)
    return pd.DataFrame(rows, columns=stats).astype(float)


def assert_same_as_rasterstats(mine: pd.DataFrame, theirs: pd.DataFrame) -> None:
    for column in theirs.columns:
        a, b = mine[column].to_numpy(float), theirs[column].to_numpy(float)
        assert np.array_equal(np.isnan(a), np.isnan(b)), column
        if column in ("count", "min", "max"):
            np.testing.assert_array_equal(a, b, err_msg=column)
        else:  # rasterstats accumulates float32 data in float32 for some statistics
            np.testing.assert_allclose(a, b, rtol=2e-6, atol=1e-9, err_msg=column)


RS_STATS = ["count", "sum", "mean", "min", "max", "std", "median"]


@pytest.mark.parametrize("all_touched", [False, True])
def test_edges_through_cell_centres_match_rasterstats(values, all_touched):
    # Neighbours sharing edges that pass exactly through cell centres (x = 25, y = 25):
    # GDAL gives such cells to both neighbours, and so must we.
    zones = zones_of((5, 5, 25, 25), (25, 5, 45, 25), (5, 25, 25, 35), (25, 25, 55, 35),
                     (15, 15, 35, 35))
    mine = zonal_stats(zones, values, transform=TRANSFORM, crs=CRS, nodata=NODATA,
                       stats=RS_STATS, all_touched=all_touched)
    assert_same_as_rasterstats(mine, _rasterstats(zones, values, RS_STATS, all_touched))


def test_strips_do_not_change_results(values):
    zones = zones_of((0, 20, 30, 40), (20, 0, 60, 20), (10, 10, 40, 30), (5, 5, 25, 25))
    stats = ["count", "sum", "mean", "min", "max", "std", "median", "nodata_count"]
    whole = zonal_stats(zones, values, transform=TRANSFORM, crs=CRS, nodata=NODATA, stats=stats)
    by_rows = zonal_stats(zones, values, transform=TRANSFORM, crs=CRS, nodata=NODATA, stats=stats,
                          block_pixels=6)  # one row per strip
    pd.testing.assert_frame_equal(whole, by_rows)


@pytest.mark.parametrize("all_touched", [False, True])
def test_claims_burnt_in_groups_equal_one_burn(all_touched):
    """Which zone owns each cell, and which cells several zones claim, do not depend on how many
    zones share one additive burn; by hand for the cells claimed three times over."""
    from carbonmap.zonal import _claims

    rng = np.random.default_rng(3)
    x0, y0 = rng.uniform(0, 300, (2, 40))
    geoms = np.array([shapely.box(x, y, x + w, y + h) for x, y, w, h in
                      zip(x0, y0, *rng.uniform(5, 80, (2, 40)))], dtype=object)
    transform = Affine(10, 0, 0, 0, -10, 400)
    one = _claims(geoms, (40, 40), transform, all_touched)
    for group in (1, 3, 7):
        grouped = _claims(geoms, (40, 40), transform, all_touched, group=group)
        np.testing.assert_array_equal(grouped[0], one[0])
        np.testing.assert_array_equal(grouped[1], one[1])
    assert one[1].sum() > 100 and (one[0] > 0).sum() > 100  # both kinds of cells are there
    three = shapely.box(0, 0, 30, 30), shapely.box(10, 0, 30, 30), shapely.box(0, 10, 30, 30)
    position, contested = _claims(np.array(three, dtype=object), (3, 3), Affine(10, 0, 0, 0, -10, 30), False)
    # zone 1 claims every cell, zone 2 columns 1-2, zone 3 rows 0-1 (cell centres at 5, 15, 25 m)
    assert contested.tolist() == [[True, True, True], [True, True, True], [False, True, True]]
    assert position.tolist() == [[0, 0, 0], [0, 0, 0], [1, 0, 0]]


def test_file_and_array_give_the_same(values, tmp_path):
    path = tmp_path / "v.tif"
    with rasterio.open(path, "w", driver="GTiff", width=6, height=4, count=1, dtype="float32",
                       crs=CRS, transform=TRANSFORM, nodata=NODATA) as dst:
        dst.write(values, 1)
    zones = zones_of((0, 20, 30, 40), (20, 0, 60, 20))
    from_file = zonal_stats(zones, path, stats=RS_STATS)
    from_array = zonal_stats(zones, values, transform=TRANSFORM, crs=CRS, nodata=NODATA, stats=RS_STATS)
    pd.testing.assert_frame_equal(from_file, from_array)


def _gdal_cache_max() -> int:
    """GDAL's block cache size [bytes], from the GDAL library rasterio loaded (Linux; pyogrio's
    wheels bring a GDAL of their own)."""
    import ctypes
    from pathlib import Path

    maps = Path("/proc/self/maps")
    loaded = {line.split()[-1] for line in maps.read_text().splitlines() if "libgdal" in line} \
        if maps.exists() else set()
    rasterios = {path for path in loaded if "rasterio" in path}
    library = next(iter(rasterios or loaded), None) if len(rasterios or loaded) == 1 else None
    if library is None:
        pytest.skip("finds rasterio's GDAL library through /proc/self/maps (Linux)")
    gdal = ctypes.CDLL(library)
    gdal.GDALGetCacheMax64.restype = ctypes.c_int64
    return gdal.GDALGetCacheMax64()


@pytest.mark.parametrize("workers", [1, 2])
def test_zonal_statistics_leave_gdals_block_cache_as_they_found_it(values, tmp_path, workers):
    # GDAL's cache size is one value for the whole process, and rasterio's Env does not restore it
    # when strips in other threads set it: a cache left small made later multi-threaded COG writes
    # lose whole blocks (found on the city cluster: aligned rasters with 512 x 512 holes)
    from carbonmap.compute import ComputeSettings, compute_session

    path = tmp_path / "v.tif"
    with rasterio.open(path, "w", driver="GTiff", width=6, height=4, count=1, dtype="float32",
                       crs=CRS, transform=TRANSFORM, nodata=NODATA) as dst:
        dst.write(values, 1)
    rasterio.open(path).close()  # GDAL is initialised
    before = _gdal_cache_max()
    with compute_session(ComputeSettings(scheduler="in-process", workers=workers)):
        table = zonal_stats(zones_of((0, 20, 30, 40), (20, 0, 60, 20)), path, stats=["count"], block_pixels=6)
    assert table["count"].tolist() == [5, 8]
    assert _gdal_cache_max() == before


@st.composite
def zone_sets(draw, x_offset: float = 0.0, y_offset: float = 0.0):
    """Up to 6 zones: boxes and triangles with vertices on a half-cell lattice (shifted by
    the offsets), so that without offsets edges often run through cell centres; zones may
    overlap, touch, or leave the raster."""
    n = draw(st.integers(1, 6))
    geoms = []
    xs = st.integers(-4, 30).map(lambda k: k * 5.0 + x_offset)  # multiples of half a 10 m cell
    ys = st.integers(-4, 26).map(lambda k: k * 5.0 + y_offset)
    for _ in range(n):
        if draw(st.booleans()):
            x0, x1 = sorted(draw(st.lists(xs, min_size=2, max_size=2, unique=True)))
            y0, y1 = sorted(draw(st.lists(ys, min_size=2, max_size=2, unique=True)))
            geoms.append(shapely.box(x0, y0, x1, y1))
        else:
            pts = draw(st.lists(st.tuples(xs, ys), min_size=3, max_size=3, unique=True))
            tri = shapely.Polygon(pts)
            geoms.append(tri if tri.area > 0 else shapely.box(0, 0, 15, 15))
    return gpd.GeoSeries(geoms, crs=CRS)


def _check_against_rasterstats(zones, seed, all_touched):
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 50, size=(12, 14)).astype("float32")
    values[rng.random(values.shape) < 0.1] = NODATA
    transform = Affine(10, 0, 0, 0, -10, 120)
    rows = rasterstats_zonal(list(zones.values), values, affine=transform, nodata=NODATA,
                             stats=RS_STATS, all_touched=all_touched)
    theirs = pd.DataFrame(rows, columns=RS_STATS).astype(float)

    def mine():
        return zonal_stats(zones, values, transform=transform, crs=CRS, nodata=NODATA,
                           stats=RS_STATS, all_touched=all_touched, block_pixels=14 * 5)

    if (theirs["count"] == 0).all():
        with pytest.raises(NodataError):
            mine()
    else:
        assert_same_as_rasterstats(mine(), theirs)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(zones=zone_sets(), seed=st.integers(0, 2**16))
def test_property_cell_centre_rule_equals_rasterstats(zones, seed):
    """Vertices on the half-cell lattice: edges through cell centres, shared edges,
    overlaps, zones across strip boundaries."""
    _check_against_rasterstats(zones, seed, all_touched=False)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(zones=zone_sets(x_offset=1.2345, y_offset=3.4567), seed=st.integers(0, 2**16))
def test_property_all_touched_equals_rasterstats(zones, seed):
    """Vertices off the cell lattice. (GDAL's all-touched fill is not translation-invariant
    for an edge passing exactly through a cell corner, so there the cell set depends on the
    window GDAL is given; see the zonal module docstring.)"""
    _check_against_rasterstats(zones, seed, all_touched=True)


# --------------------------------------------------------------------------- categories


def test_class_areas_by_hand():
    classes = np.array([[1, 1, 2, 2, 3, 3],
                        [1, 1, 2, 2, 3, 3],
                        [4, 4, 4, 0, 0, 0],
                        [4, 4, 4, 0, 0, 0]], dtype="uint8")  # 0 = nodata
    zones = zones_of((0, 0, 30, 40), (10, 0, 60, 40))
    out = zonal_categories(zones, classes, transform=TRANSFORM, crs=CRS, nodata=0)
    assert list(out.columns) == ["area_m2_1", "area_m2_2", "area_m2_3", "area_m2_4", "area_m2_nodata"]
    # zone 0: cols 0-2 -> class 1: 4 cells, class 2: 2, class 4: 6; 100 m2 each
    assert out.loc[0].tolist() == [400.0, 200.0, 0.0, 600.0, 0.0]
    # zone 1: cols 1-5 -> class 1: 2, class 2: 4, class 3: 4, class 4: 4, nodata 6
    assert out.loc[1].tolist() == [200.0, 400.0, 400.0, 400.0, 600.0]


def test_class_areas_refuse_continuous_rasters(values):
    with pytest.raises(InputError, match="integer class codes"):
        zonal_categories(zones_of((0, 0, 10, 10)), values, transform=TRANSFORM, crs=CRS)


def _cell_area_by_densified_geodesics(west, south, east, north, n=2000) -> float:
    """Area of a lon/lat cell on WGS84 by pyproj's geodesic polygon area, with the
    parallels densified so that the geodesic edges follow them (independent of
    carbonmap's closed-form formula)."""
    from pyproj import Geod

    lons = np.r_[np.linspace(west, east, n), np.linspace(east, west, n)]
    lats = np.r_[np.full(n, south), np.full(n, north)]
    area, _ = Geod(ellps="WGS84").polygon_area_perimeter(lons, lats)
    return abs(area)


@st.composite
def partitions(draw):
    """Zones that partition a box around the 12 x 14 cell raster of :func:`_check_conservation`
    (x 0..140, y 0..120 m; 10 m cells): rectangles cut at cell edges or a quarter cell from them,
    never through a cell centre, some pairs merged into one zone (a MultiPolygon when apart)."""
    cut = st.one_of(st.integers(-1, 15).map(lambda k: 10.0 * k), st.integers(-2, 29).map(lambda k: 5.0 * k + 2.5))
    boxes = [(-10.0, -10.0, 150.0, 130.0)]
    for _ in range(draw(st.integers(0, 10))):
        i = draw(st.integers(0, len(boxes) - 1))
        x0, y0, x1, y1 = boxes[i]
        at = draw(cut)
        if draw(st.booleans()) and x0 < at < x1:
            boxes[i:i + 1] = [(x0, y0, at, y1), (at, y0, x1, y1)]
        elif y0 < at < y1:
            boxes[i:i + 1] = [(x0, y0, x1, at), (x0, at, x1, y1)]
    geoms = [shapely.box(*b) for b in boxes]
    for _ in range(draw(st.integers(0, len(geoms) // 3))):
        a = geoms.pop(draw(st.integers(0, len(geoms) - 1)))
        j = draw(st.integers(0, len(geoms) - 1))
        geoms[j] = shapely.union(geoms[j], a)
    return gpd.GeoSeries(geoms, crs=CRS)


def _covered(zones: gpd.GeoSeries, shape: tuple[int, int], transform: Affine) -> np.ndarray:
    """(zones, rows, cols): whether each cell's centre is inside each zone (never on an edge here)."""
    rows, cols = np.indices(shape)
    xs, ys = transform @ (cols + 0.5, rows + 0.5)
    return np.stack([shapely.contains_xy(zone, xs, ys) for zone in zones.values])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(zones=partitions(), seed=st.integers(0, 2**16), block_rows=st.integers(1, 12))
def test_property_zonal_sums_and_counts_are_conserved(zones, seed, block_rows):
    """Zones partitioning the raster: every valid cell is counted once, so the zones' sums add up
    to the raster's, and each zone's sum and counts are those of the cells whose centre it holds."""
    rng = np.random.default_rng(seed)
    values = rng.normal(100, 40, size=(12, 14)).astype("float32")
    values[rng.random(values.shape) < 0.1] = NODATA
    transform = Affine(10, 0, 0, 0, -10, 120)
    table = zonal_stats(zones, values, transform=transform, crs=CRS, nodata=NODATA, block_pixels=14 * block_rows,
                        stats=["sum", "count", "nodata_count"])
    valid = values != NODATA
    assert table["count"].sum() == valid.sum() and table["nodata_count"].sum() == (~valid).sum()
    assert math.isclose(table["sum"].fillna(0).sum(), values[valid].sum(dtype=np.float64), rel_tol=1e-9)
    inside = _covered(zones, values.shape, transform)
    for i in range(len(zones)):
        assert table.loc[i, "count"] == (inside[i] & valid).sum()
        assert table.loc[i, "nodata_count"] == (inside[i] & ~valid).sum()
        assert math.isclose(np.nan_to_num(table.loc[i, "sum"]), values[inside[i] & valid].sum(dtype=np.float64),
                            rel_tol=1e-9, abs_tol=1e-6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(zones=partitions(), seed=st.integers(0, 2**16), block_rows=st.integers(1, 12))
def test_property_class_areas_are_conserved(zones, seed, block_rows):
    """Each zone's class areas (with its nodata area) add up to its covered cells x the cell area,
    and the zones' areas of each class add up to the raster's."""
    rng = np.random.default_rng(seed)
    classes = rng.integers(0, 5, size=(12, 14)).astype("uint8")  # 0: nodata
    transform = Affine(10, 0, 0, 0, -10, 120)
    table = zonal_categories(zones, classes, transform=transform, crs=CRS, nodata=0, prefix="",
                             block_pixels=14 * block_rows)
    inside = _covered(zones, classes.shape, transform)
    np.testing.assert_array_equal(table.sum(axis=1).to_numpy(), inside.sum(axis=(1, 2)) * 100.0)
    for code in range(1, 5):
        total = table[str(code)].sum() if str(code) in table else 0.0
        assert total == (classes == code).sum() * 100.0
    assert table["nodata"].sum() == (classes == 0).sum() * 100.0


def test_class_areas_in_a_geographic_raster_are_true_areas():
    """1-degree cells from 50 N to 52 N: areas are ellipsoidal, not square degrees."""
    classes = np.array([[1, 2], [1, 1]], dtype="uint8")
    transform = Affine(1, 0, 10, 0, -1, 52)
    zones = gpd.GeoSeries([shapely.box(9, 49, 13, 53)], crs="EPSG:4326")
    out = zonal_categories(zones, classes, transform=transform, crs="EPSG:4326")
    north = _cell_area_by_densified_geodesics(11, 51, 12, 52)
    south = _cell_area_by_densified_geodesics(10, 50, 11, 51)
    assert north < south  # cells shrink towards the pole
    assert out.loc[0, "area_m2_2"] == pytest.approx(north, rel=1e-6)
    assert out.loc[0, "area_m2_1"] == pytest.approx(north + 2 * south, rel=1e-6)


def test_class_areas_match_rasterstats_counts_on_podlasie(shared):
    """ESA CCI LC over Podlasie, EPSG:4326: class counts equal rasterstats' categorical
    counts, and areas equal those counts times each row's geodesic cell area."""
    path = shared / "data" / "landcover_landscapemetrics" / "podlasie_ccilc.tif"
    with rasterio.open(path) as src:
        bounds = src.bounds
    xmid, ymid = (bounds.left + bounds.right) / 2, (bounds.bottom + bounds.top) / 2
    zones = gpd.GeoSeries([shapely.box(bounds.left, ymid, xmid, bounds.top),
                           shapely.Point(xmid, ymid).buffer(0.3)], crs="EPSG:4326")
    areas = zonal_categories(zones, path, prefix="")
    counts = rasterstats_zonal(list(zones.values), str(path), categorical=True)
    with rasterio.open(path) as src:
        data = src.read(1)
        cell = np.abs(src.transform.a)
    for i, theirs in enumerate(counts):
        for code, n in theirs.items():
            assert areas.loc[i, str(code)] > 0
            # mean cell area must lie between the smallest and largest row's cell area
            mean_cell = areas.loc[i, str(code)] / n
            assert 0.55 * (cell * 111_320) ** 2 < mean_cell < 0.65 * (cell * 111_320) ** 2
        present = {c for c in areas.columns if c != "nodata" and areas.loc[i, c] > 0}
        assert present == {str(c) for c in theirs}
    assert data.dtype == np.uint8


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def olinda_ndvi(olinda):
    from carbonmap.indices import ndvi

    with rasterio.open(olinda / "L7_ETMs.tif") as src:
        red, nir = src.read(3), src.read(4)
        transform, crs = src.transform, src.crs
    index = ndvi(red, nir).filled(np.nan)
    tracts = gpd.read_file(olinda / "olinda1.shp")
    return index, transform, crs, tracts


@pytest.mark.parametrize("all_touched", [False, True])
def test_olinda_ndvi_equals_rasterstats(olinda_ndvi, all_touched):
    """NDVI from Landsat 7 bands 3 and 4 over Olinda's 470 census tracts. The tracts are
    in a geographic CRS and the image in UTM 25 S: carbonmap reprojects the tracts."""
    index, transform, crs, tracts = olinda_ndvi
    assert tracts.crs.is_geographic and len(tracts) == 470
    mine = zonal_stats(tracts, index, transform=transform, crs=crs,
                       stats=RS_STATS, all_touched=all_touched)
    rows = rasterstats_zonal(list(tracts.to_crs(crs).geometry), index, affine=transform,
                             nodata=np.nan, stats=RS_STATS, all_touched=all_touched)
    theirs = pd.DataFrame(rows, columns=RS_STATS).astype(float)
    assert theirs["count"].sum() > 10_000
    for column in RS_STATS:
        a, b = mine[column].to_numpy(float), theirs[column].to_numpy(float)
        if column in ("count", "min", "max"):
            np.testing.assert_array_equal(a, b, err_msg=column)
        else:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7, err_msg=column)


def test_olinda_exactextract_engine_agrees_within_coverage_fractions(olinda_ndvi):
    """exactextract weights cells by the covered fraction: its count is the zone's area in
    cells, and its means agree closely with the centre rule's on zones many cells wide."""
    pytest.importorskip("exactextract")
    index, transform, crs, tracts = olinda_ndvi
    zones = tracts.to_crs(crs)
    inside = zones.within(shapely.box(*rasterio.transform.array_bounds(*index.shape, transform)))
    zones = zones[inside]
    exact = zonal_stats(zones, index, transform=transform, crs=crs, engine="exactextract",
                        stats=["count", "mean"])
    centre = zonal_stats(zones, index, transform=transform, crs=crs, stats=["count", "mean"])
    touched = zonal_stats(zones, index, transform=transform, crs=crs, stats=["count"], all_touched=True)
    cell_area = abs(transform.a * transform.e)
    np.testing.assert_allclose(exact["count"], zones.area / cell_area, rtol=1e-6)
    assert (exact["count"] <= touched["count"] + 1e-9).all()
    assert (np.abs(exact["count"] - centre["count"]) <= touched["count"] - centre["count"] + 1).all()
    big = centre["count"] >= 50
    assert np.corrcoef(exact.loc[big, "mean"], centre.loc[big, "mean"])[0, 1] > 0.99


def test_stats_tuple_is_documented():
    assert set(STATS) >= {"count", "sum", "mean", "min", "max", "std", "median"}
