"""The analysis grid: CRS choice, snapping, alignment, rasterising, true cell areas."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import CRS, Geod

from carbonmap.errors import CRSError, InputError, ReprojectedWarning
from carbonmap.grid import (
    AnalysisGrid,
    align_raster,
    analysis_grid,
    cell_area_m2,
    ensure_projected,
    equal_area_crs,
    geojson_shapes,
    rasterize,
)

UTM = CRS.from_epsg(32650)


def test_equal_area_crs_preserves_area():
    crs = equal_area_crs(115.4, 39.4, 117.5, 41.1)  # Beijing
    assert crs.is_projected and "Albers" in crs.name
    cell = gpd.GeoSeries([shapely.box(116.0, 40.0, 117.0, 41.0).segmentize(0.01)], crs=4326)
    geodesic, _ = Geod(ellps="WGS84").geometry_area_perimeter(cell.iloc[0])
    assert cell.to_crs(crs).area.iloc[0] == pytest.approx(abs(geodesic), rel=1e-5)


def test_analysis_grid_snaps_and_covers():
    units = gpd.GeoSeries([shapely.box(500_010, 3_400_020, 503_995, 3_402_990)], crs=UTM)
    grid = analysis_grid(units, 30, crs="EPSG:32650")
    xmin, ymin, xmax, ymax = grid.bounds
    assert xmin % 30 == 0 and ymax % 30 == 0
    assert xmin <= 500_010 and ymin <= 3_400_020 and xmax >= 503_995 and ymax >= 3_402_990
    assert xmax - 503_995 < 30 and 3_400_020 - ymin < 30
    assert grid.cell_area_m2 == 900 and grid.shape == (grid.height, grid.width)
    auto = analysis_grid(units, 100)
    assert "Albers" in auto.crs.name and auto.resolution == 100


def test_analysis_grid_refuses_bad_crs_and_resolution():
    units = gpd.GeoSeries([shapely.box(0, 0, 1, 1)], crs=4326)
    with pytest.raises(CRSError, match="must be projected"):
        analysis_grid(units, 30, crs="EPSG:4326")
    with pytest.raises(CRSError, match="not in metres"):
        analysis_grid(units.set_crs(None, allow_override=True).set_crs(2249), 30, crs="EPSG:2249")
    with pytest.raises(InputError, match="resolution must be positive"):
        analysis_grid(units, 0)
    with pytest.raises(CRSError, match="study area has no CRS"):
        analysis_grid(gpd.GeoSeries([shapely.box(0, 0, 1, 1)]), 30)


def test_ensure_projected_warns_and_measures_true_area():
    square = gpd.GeoDataFrame(geometry=[shapely.box(116.0, 40.0, 116.1, 40.1).segmentize(0.001)], crs=4326)
    with pytest.warns(ReprojectedWarning, match="geographic CRS"):
        projected = ensure_projected(square, what="parcels")
    geodesic, _ = Geod(ellps="WGS84").geometry_area_perimeter(square.geometry.iloc[0])
    assert projected.area.iloc[0] == pytest.approx(abs(geodesic), rel=1e-5)
    same = square.to_crs(UTM)
    assert ensure_projected(same) is same


def test_cell_area_in_feet_and_metres():
    assert cell_area_m2(Affine(30, 0, 0, 0, -30, 0), UTM, 2).tolist() == [900.0, 900.0]
    feet = cell_area_m2(Affine(100, 0, 0, 0, -100, 0), "EPSG:2249", 1)[0]  # US survey feet
    assert feet == pytest.approx((100 * 1200 / 3937) ** 2)


def _grid(resolution, width, height, x0=0.0, y1=40.0):
    return AnalysisGrid(UTM, Affine(resolution, 0, x0, 0, -resolution, y1), width, height)


CLASSES = np.array([[1, 1, 2, 2],
                    [1, 3, 2, 2],
                    [4, 4, 5, 5],
                    [4, 0, 5, 6]], dtype="uint8")  # 10 m cells; 0 = nodata
SRC = {"transform": Affine(10, 0, 0, 0, -10, 40), "crs": UTM}


def test_align_categorical_mode_when_coarser():
    out = align_raster(CLASSES, _grid(20, 2, 2), kind="categorical", nodata=0, **SRC)
    # each 20 m cell takes the most common valid class of its four 10 m cells
    assert out.filled(0).tolist() == [[1, 2], [4, 5]]


def test_align_continuous_average_when_coarser_and_nodata_stays_nodata():
    values = np.arange(16, dtype="float32").reshape(4, 4)
    values[0, 0] = np.nan
    out = align_raster(values, _grid(20, 3, 2), kind="continuous", **SRC)
    assert out.dtype == np.float32
    assert out[0, 0] == pytest.approx((1 + 4 + 5) / 3)  # nodata left out of the average
    assert out[1, 1] == pytest.approx((10 + 11 + 14 + 15) / 4)
    assert out.mask[:, 2].all()  # beyond the source: nodata, not zero


def test_align_refuses_interpolating_categories():
    with pytest.raises(InputError, match="'bilinear' is not valid for a categorical raster"):
        align_raster(CLASSES, _grid(20, 2, 2), kind="categorical", resampling="bilinear", **SRC)
    with pytest.raises(InputError, match="unknown raster kind"):
        align_raster(CLASSES, _grid(20, 2, 2), kind="classes", **SRC)


def test_align_file_windowed_equals_in_memory(tmp_path, shared):
    dem = shared / "data" / "luxembourg_dem" / "elev.tif"  # geographic CRS, nodata -32768
    with rasterio.open(dem) as src:
        lon0, lat0, lon1, lat1 = src.bounds
    units = gpd.GeoSeries([shapely.box(lon0, lat0, lon1, lat1)], crs=4326)
    grid = analysis_grid(units, 250)
    in_memory = align_raster(dem, grid, kind="continuous")
    path = align_raster(dem, grid, kind="continuous", dst_path=tmp_path / "dem.tif", block_pixels=5000)
    with rasterio.open(path) as out:
        on_disk = out.read(1, masked=True)
        assert out.crs == grid.crs and out.transform == grid.transform
    np.testing.assert_array_equal(on_disk.mask, in_memory.mask)
    np.testing.assert_allclose(on_disk.compressed(), in_memory.compressed(), rtol=1e-6)
    # elevations stay within the DEM's range (141..547 m) and the nodata frame stays nodata
    assert 141 <= in_memory.min() and in_memory.max() <= 547
    assert in_memory.mask.any() and not in_memory.mask.all()


def test_rasterize_by_hand():
    frame = gpd.GeoDataFrame({"v": [7, 9]}, geometry=[shapely.box(0, 20, 20, 40), shapely.box(10, 0, 40, 30)], crs=UTM)
    grid = _grid(10, 4, 4)
    out = rasterize(frame, grid, values="v")
    assert out.tolist() == [[7, 7, 0, 0], [7, 9, 9, 9], [0, 9, 9, 9], [0, 9, 9, 9]]
    added = rasterize(frame, grid, values=1, merge="add")
    assert added[1, 1] == 2 and added[0, 0] == 1 and added[3, 0] == 0


def test_geojson_shapes_equal_each_geo_interface():
    """Polygons (with holes, with Z), multipolygons of one and two parts, and the other types
    as they come, in their own order; the coordinates are the same numbers."""
    holed = shapely.box(0, 0, 10, 10).difference(shapely.box(2, 2, 4, 4))
    multi = shapely.MultiPolygon([holed, shapely.box(20, 0, 30, 5)])
    geoms = np.array([shapely.box(0, 0, 1, 2), multi, shapely.LineString([(0, 0), (3, 4)]), holed,
                      shapely.MultiPolygon([shapely.box(5, 5, 6, 6)]), shapely.Point(1, 2), shapely.Polygon(),
                      None, shapely.Polygon([(0, 0, 5), (1, 0, 5), (1, 1, 5)])], dtype=object)

    def as_lists(value):
        return [as_lists(v) for v in value] if isinstance(value, (list, tuple)) else value

    shapes = geojson_shapes(geoms)
    for shape, geom in zip(shapes[:-2], geoms[:-2]):
        expected = geom.__geo_interface__
        assert shape["type"] == expected["type"]
        assert as_lists(shape["coordinates"]) == as_lists(expected["coordinates"])
    assert shapes[-2] is None
    assert as_lists(shapes[-1]["coordinates"]) == [[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 0.0]]]
    # the mixture of types leaves the collector as it was
    import gc
    assert gc.isenabled()


def test_blocks_by_hand():
    """Majority (ties to the smaller code, no data never counted), mean of valid cells, and the
    expansion back, on 2 x 2 blocks with partial blocks at the right and bottom edges."""
    from carbonmap.grid import block_expand, block_majority, block_mean

    codes = np.ma.MaskedArray([[1, 1, 2, 5, 5], [2, 2, 1, 5, 7], [3, 3, 3, 9, 9]],
                              mask=[[0, 0, 0, 0, 0], [0, 0, 0, 1, 1], [1, 1, 1, 0, 1]])
    majority = block_majority(codes, 2)
    assert majority.filled(0).tolist() == [[1, 1, 5], [0, 9, 0]] and majority.mask.tolist() == [
        [False, False, False], [True, False, True]]
    mean = block_mean(codes.astype(float), 2)
    assert mean.filled(-1).tolist() == [[1.5, 8 / 3, 5.0], [-1, 9.0, -1]]
    assert block_expand(majority.filled(0), 2, (3, 5)).tolist() == [[1, 1, 1, 1, 5], [1, 1, 1, 1, 5],
                                                                      [0, 0, 9, 9, 0]]


def test_strips_are_whole_blocks_of_the_file():
    """A strip never shares a row of blocks with the next (each block is decoded once): whole
    blocks when a strip holds one or more; one block's rows when the strip would hold fewer but a
    row of blocks holds at most twice the cells asked for; rows as asked when a row of blocks is
    wider than that (a block is then read twice, memory stays bounded)."""
    from carbonmap.grid import strips

    def heights(windows):
        return [int(w.height) for w in windows]

    assert heights(strips(2000, 10_000, 2**22, block_rows=256)) == [256] * 7 + [208]  # 419 -> 256
    assert heights(strips(2000, 10_000, 2**22, block_rows=512)) == [512] * 3 + [464]  # 419 -> 512
    assert heights(strips(1000, 100_000, 2**22, block_rows=512)) == [41] * 24 + [16]  # 512 rows: 12x too wide
    assert heights(strips(1000, 10_000, 2**22)) == [419, 419, 162]
    assert sum(heights(strips(1000, 10_000, 2**22, block_rows=512))) == 1000
    assert heights(strips(500, 10_000, 2**22, block_rows=1024)) == [500]  # shorter than one tile row
