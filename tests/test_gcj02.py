"""GCJ-02 -> WGS84, against the same Beijing districts published in both systems."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from carbonmap.errors import CRSError
from carbonmap.gcj02 import gcj02_to_wgs84, wgs84_to_gcj02
from carbonmap.io import read_vector


@pytest.mark.slow
def test_beijing_districts_match_the_wgs84_reference(shared):
    folder = shared / "data" / "cnmaps_beijing_admin"
    converted = read_vector(folder / "beijing_districts_gcj02.geojson", datum="gcj02")
    reference = read_vector(folder / "beijing_districts_wgs84_from_gcj02.geojson")
    raw = read_vector(folder / "beijing_districts_gcj02.geojson")
    assert len(converted) == 16
    a = converted.to_crs(32650).geometry.values
    b = reference.to_crs(32650).geometry.values
    offset = shapely.hausdorff_distance(raw.to_crs(32650).geometry.values, b)
    error = shapely.hausdorff_distance(a, b)
    assert offset.min() > 300  # the GCJ-02 shift is hundreds of metres...
    assert error.max() < 1.0  # ...and the conversion removes it to well under a metre
    areas = reference.to_crs(32650).area.sum() / 1e6
    assert converted.to_crs(32650).area.sum() / 1e6 == pytest.approx(areas, rel=1e-6)


def test_offset_in_central_beijing_is_about_530_m_east_155_m_north():
    lon, lat = 116.3975, 39.9087  # Tiananmen, WGS84
    g_lon, g_lat = wgs84_to_gcj02(lon, lat)
    east = (g_lon - lon) * 111_320 * np.cos(np.radians(lat))
    north = (g_lat - lat) * 110_950
    assert 480 < east < 580 and 110 < north < 200


def test_round_trip_and_outside_china():
    lon = np.array([116.4, 121.47, 113.26, 2.35])
    lat = np.array([39.9, 31.23, 23.13, 48.86])  # Beijing, Shanghai, Guangzhou, Paris
    back_lon, back_lat = wgs84_to_gcj02(*gcj02_to_wgs84(lon, lat))
    np.testing.assert_allclose(back_lon, lon, atol=1e-9)
    np.testing.assert_allclose(back_lat, lat, atol=1e-9)
    paris = gcj02_to_wgs84(2.35, 48.86)
    assert (float(paris[0]), float(paris[1])) == (2.35, 48.86)


def test_gcj02_only_applies_to_lonlat(tmp_path):
    import geopandas as gpd

    path = tmp_path / "utm.gpkg"
    gpd.GeoDataFrame(geometry=[shapely.box(0, 0, 1, 1)], crs=32650).to_file(path)
    with pytest.raises(CRSError, match="GCJ-02 applies to longitude/latitude"):
        read_vector(path, datum="gcj02")
