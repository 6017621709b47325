"""GCJ-02 <-> WGS84: undo the offset of Chinese web-map coordinates.

Maps and APIs published in mainland China (Amap/Gaode, Tencent, Google China, most
scraped building and POI data) give longitude/latitude in GCJ-02 ("Mars coordinates"):
WGS84 shifted by a deliberately obfuscated, smoothly varying offset of a few hundred
metres (about 530 m east and 155 m north in central Beijing). Such data is usually
labelled EPSG:4326, so it overlays true WGS84 data (satellite imagery, OpenStreetMap,
field surveys) with a systematic shift. PROJ has no definition of GCJ-02, so carbonmap
provides the conversion explicitly; it is applied only when an input is declared
``datum = "gcj02"``.

Method
------
The forward transform (WGS84 -> GCJ-02) used here is the public reconstruction of the
official algorithm that circulates in open-source mapping code and is documented in the
literature below. With :math:`x = \\lambda - 105`, :math:`y = \\varphi - 35` (degrees),

.. math::

    \\Delta\\varphi' = -100 + 2x + 3y + 0.2y^2 + 0.1xy + 0.2\\sqrt{|x|}
        + \\tfrac{2}{3}[20\\sin 6\\pi x + 20\\sin 2\\pi x]
        + \\tfrac{2}{3}[20\\sin \\pi y + 40\\sin(\\pi y/3)]
        + \\tfrac{2}{3}[160\\sin(\\pi y/12) + 320\\sin(\\pi y/30)]

    \\Delta\\lambda' = 300 + x + 2y + 0.1x^2 + 0.1xy + 0.1\\sqrt{|x|}
        + \\tfrac{2}{3}[20\\sin 6\\pi x + 20\\sin 2\\pi x]
        + \\tfrac{2}{3}[20\\sin \\pi x + 40\\sin(\\pi x/3)]
        + \\tfrac{2}{3}[150\\sin(\\pi x/12) + 300\\sin(\\pi x/30)]

are offsets in metres on the Krasovsky 1940 ellipsoid (a = 6 378 245 m,
e² = 0.006 693 421 622 965 943), turned into degrees with the meridional and
prime-vertical radii of curvature at latitude φ:

.. math::

    \\Delta\\varphi = \\frac{180\\,\\Delta\\varphi'}{\\pi\\, a (1 - e^2) / W^3}, \\quad
    \\Delta\\lambda = \\frac{180\\,\\Delta\\lambda'}{\\pi\\, a \\cos\\varphi / W}, \\quad
    W = \\sqrt{1 - e^2 \\sin^2\\varphi}.

The inverse has no closed form; :func:`gcj02_to_wgs84` solves
``wgs84_to_gcj02(w) = g`` by fixed-point iteration, ``w <- w - (wgs84_to_gcj02(w) - g)``,
which converges to better than 1e-9 degrees (0.1 mm) in a few steps because the
offset varies slowly.

Limits: the reconstruction matches the official offset to a few metres at best; the
official transform adds a small pseudo-random jitter that no public formula
reproduces. Outside mainland China's rough bounding box (72.004-137.8347 E,
0.8293-55.8271 N) GCJ-02 equals WGS84 and coordinates are returned unchanged; Hong Kong,
Macau and Taiwan inside that box are converted like the mainland, which is wrong for
data that was never offset — do not declare such data GCJ-02.

References
----------
.. [1] Wikipedia, "Restrictions on geographic data in China", section "GCJ-02"
   (describes the system and links the leaked reference implementation).
.. [2] Chen, Y., et al. (2019). "Coordinate system and conversion in Chinese web maps."
   In: Proceedings of the ICA, 2, 1-6 (overview of GCJ-02 and BD-09 and their inverses).
"""

from __future__ import annotations

import os

import geopandas as gpd
import numpy as np
import shapely

from carbonmap.errors import CRSError

__all__ = ["wgs84_to_gcj02", "gcj02_to_wgs84", "gcj02_frame_to_wgs84", "in_china_box"]

_KRASOVSKY_A_M = 6378245.0
_KRASOVSKY_E2 = 0.00669342162296594323
_CHINA_BOX = (72.004, 0.8293, 137.8347, 55.8271)  # lon_min, lat_min, lon_max, lat_max


def in_china_box(lon, lat):
    """True where (lon, lat) [degrees] lies in the box where GCJ-02 differs from WGS84."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    x0, y0, x1, y1 = _CHINA_BOX
    return (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)


def _offset_deg(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02 minus WGS84 at WGS84 position (lon, lat), in degrees (dlon, dlat)."""
    x = lon - 105.0
    y = lat - 35.0
    pi = np.pi
    common = (20.0 * np.sin(6.0 * x * pi) + 20.0 * np.sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat_m = (
        -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
        + common
        + (20.0 * np.sin(y * pi) + 40.0 * np.sin(y / 3.0 * pi)) * 2.0 / 3.0
        + (160.0 * np.sin(y / 12.0 * pi) + 320.0 * np.sin(y * pi / 30.0)) * 2.0 / 3.0
    )
    dlon_m = (
        300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
        + common
        + (20.0 * np.sin(x * pi) + 40.0 * np.sin(x / 3.0 * pi)) * 2.0 / 3.0
        + (150.0 * np.sin(x / 12.0 * pi) + 300.0 * np.sin(x / 30.0 * pi)) * 2.0 / 3.0
    )
    rad_lat = np.radians(lat)
    w2 = 1.0 - _KRASOVSKY_E2 * np.sin(rad_lat) ** 2
    w = np.sqrt(w2)
    meridional_radius = _KRASOVSKY_A_M * (1.0 - _KRASOVSKY_E2) / (w2 * w)
    parallel_radius = _KRASOVSKY_A_M / w * np.cos(rad_lat)
    dlat = dlat_m * 180.0 / (meridional_radius * pi)
    dlon = dlon_m * 180.0 / (parallel_radius * pi)
    inside = in_china_box(lon, lat)
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def wgs84_to_gcj02(lon, lat):
    """Convert WGS84 longitude/latitude [degrees] to GCJ-02 [degrees].

    Parameters
    ----------
    lon, lat : array_like [degrees]

    Returns
    -------
    (lon, lat) : tuple of ndarray [degrees]
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    dlon, dlat = _offset_deg(lon, lat)
    return lon + dlon, lat + dlat


def gcj02_to_wgs84(lon, lat, *, tolerance_deg: float = 1e-10, max_iter: int = 30):
    """Convert GCJ-02 longitude/latitude [degrees] to WGS84 [degrees] (iterative inverse).

    Parameters
    ----------
    lon, lat : array_like [degrees]
        GCJ-02 coordinates.
    tolerance_deg : float [degrees]
        Stop when the forward transform of the estimate is this close to the input.
    max_iter : int

    Returns
    -------
    (lon, lat) : tuple of ndarray [degrees]
    """
    g_lon = np.asarray(lon, dtype=float)
    g_lat = np.asarray(lat, dtype=float)
    w_lon, w_lat = g_lon.copy(), g_lat.copy()
    for _ in range(max_iter):
        f_lon, f_lat = wgs84_to_gcj02(w_lon, w_lat)
        e_lon, e_lat = f_lon - g_lon, f_lat - g_lat
        w_lon = w_lon - e_lon
        w_lat = w_lat - e_lat
        if np.all(np.abs(e_lon) < tolerance_deg) and np.all(np.abs(e_lat) < tolerance_deg):
            break
    return w_lon, w_lat


def gcj02_frame_to_wgs84(
    gdf: gpd.GeoDataFrame, *, path: str | os.PathLike | None = None
) -> gpd.GeoDataFrame:
    """Return a copy of `gdf` whose GCJ-02 lon/lat geometries are converted to WGS84.

    The frame's CRS must be geographic (GCJ-02 data is normally labelled EPSG:4326);
    the result is labelled EPSG:4326.
    """
    if gdf.crs is None or not gdf.crs.is_geographic:
        raise CRSError(
            f"GCJ-02 applies to longitude/latitude, but the layer's CRS is "
            f"{gdf.crs.name if gdf.crs else 'undefined'}.",
            path=path,
            fix="declare datum = \"gcj02\" only for lon/lat data from Chinese web maps.",
        )

    def convert(coords: np.ndarray) -> np.ndarray:
        lon, lat = gcj02_to_wgs84(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    out = gdf.copy()
    out.geometry = shapely.transform(gdf.geometry.values, convert)
    return out.set_crs("EPSG:4326", allow_override=True)
