"""The analysis grid: one equal-area CRS and one raster grid for a whole run.

Every raster analysis in carbonmap works on cells of one grid, so that layers can be
added cell by cell and areas are true areas. This module

- chooses the CRS: by default an Albers equal-area projection centred on the study area
  (:func:`equal_area_crs`), or a CRS the user names (e.g. a CGCS2000 Gauss-Kruger zone,
  EPSG:4547);
- defines the grid covering the study area at a resolution in metres, with its origin
  snapped to a multiple of the resolution so that grids of the same CRS and resolution
  line up (:func:`analysis_grid`);
- aligns any raster to the grid window by window, so memory stays bounded
  (:func:`align_raster`), with resampling that respects what the values mean (nearest or
  mode for categories; bilinear or average for continuous quantities);
- rasterises vectors onto the grid (:func:`rasterize`);
- runs a cell-wise or neighbourhood computation over rasters on the grid window by window
  (with a halo), as tasks of the run's executor, into a COG (:func:`map_windows`);
- measures cells: :func:`cell_area_m2` gives the true area of each row of cells, also
  for rasters in a geographic CRS (geodesic area on the ellipsoid), so no area is ever
  computed in square degrees.
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator, Mapping
from functools import partial
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio
import rasterio.features
import rasterio.transform
import rasterio.warp
import shapely
from affine import Affine
from pyproj import CRS
from pyproj.crs import GeographicCRS, ProjectedCRS
from pyproj.crs.coordinate_operation import AlbersEqualAreaConversion
from rasterio.enums import Resampling
from rasterio.vrt import WarpedVRT
from rasterio.windows import Window

from carbonmap.errors import AlignmentError, CRSError, InputError, ReprojectedWarning
from carbonmap.compute import narrowest, ordered_map
from carbonmap.io import (
    SOURCE_TAG,
    RasterRef,
    RasterSource,
    check_class_codes,
    cog_writer,
    nonfinite_cells,
    open_raster,
)

__all__ = [
    "RASTER_KINDS",
    "RESAMPLING_METHODS",
    "AnalysisGrid",
    "equal_area_crs",
    "analysis_grid",
    "ensure_projected",
    "align_raster",
    "aligned_source",
    "grid_of",
    "metric_grid_of",
    "raster_footprint",
    "rasterize",
    "cell_area_m2",
    "default_nodata",
    "map_windows",
    "strips",
    "block_majority",
    "block_mean",
    "block_expand",
]

#: What raster values mean; decides which resampling methods are allowed.
RASTER_KINDS = ("categorical", "continuous")
#: Resampling methods allowed for each kind.
RESAMPLING_METHODS = {
    "categorical": ("nearest", "mode"),
    "continuous": ("nearest", "bilinear", "cubic", "average"),
}


@dataclass(frozen=True)
class AnalysisGrid:
    """A raster grid: CRS, affine transform and size. North-up, square cells.

    Attributes
    ----------
    crs : pyproj.CRS
        A projected CRS in metres.
    transform : affine.Affine
        Maps (col, row) to (x, y) of the cell's upper-left corner.
    width, height : int
        Number of columns and rows.
    """

    crs: CRS
    transform: Affine
    width: int
    height: int

    @property
    def resolution(self) -> float:
        """Cell size [m]."""
        return abs(self.transform.a)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols)."""
        return (self.height, self.width)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) [m]."""
        x0, y0 = self.transform.c, self.transform.f
        return (x0, y0 - self.height * self.resolution, x0 + self.width * self.resolution, y0)

    @property
    def cell_area_m2(self) -> float:
        """Area of one cell [m2] (exact: the CRS is projected in metres)."""
        return self.resolution**2

    def describe(self) -> dict[str, Any]:
        """Plain values for run metadata."""
        return {
            "crs_wkt": self.crs.to_wkt(),
            "crs_name": self.crs.name,
            "resolution_m": self.resolution,
            "width": self.width,
            "height": self.height,
            "bounds": list(self.bounds),
        }


def equal_area_crs(lon_min: float, lat_min: float, lon_max: float, lat_max: float) -> CRS:
    r"""An Albers equal-area CRS centred on a longitude/latitude box (WGS84 datum, metres).

    Parameters
    ----------
    lon_min, lat_min, lon_max, lat_max : float [degrees]
        The box, e.g. the study area's bounds in EPSG:4326.

    Returns
    -------
    pyproj.CRS
        A projected CRS named after its central meridian and latitude of origin.

    Notes
    -----
    Standard parallels at 1/6 and 5/6 of the latitude range (the classic rule of thumb,
    Snyder 1987, p. 99), central meridian and latitude of origin at the box centre:

    .. math::

        \varphi_1 = \varphi_{min} + \Delta\varphi / 6, \quad
        \varphi_2 = \varphi_{max} - \Delta\varphi / 6, \quad
        \varphi_0 = (\varphi_{min} + \varphi_{max}) / 2, \quad
        \lambda_0 = (\lambda_{min} + \lambda_{max}) / 2

    rounded to 1e-4 degrees so the CRS is reproducible (a box with no latitude range gets
    parallels 0.01 degree apart).

    References
    ----------
    .. [1] Snyder, J. P. (1987). Map Projections: A Working Manual. USGS Professional
       Paper 1395, pp. 98-103.

    Examples
    --------
    >>> equal_area_crs(116.0, 39.6, 117.0, 40.2).name
    'carbonmap Albers equal-area (lon_0=116.5, lat_0=39.9)'
    """
    span = lat_max - lat_min
    lat_1 = round(lat_min + span / 6.0, 4)
    lat_2 = round(lat_max - span / 6.0, 4)
    if lat_1 == lat_2:
        lat_2 = round(lat_1 + 0.01, 4)
    lat_0 = round((lat_min + lat_max) / 2.0, 4)
    lon_0 = round((lon_min + lon_max) / 2.0, 4)
    conversion = AlbersEqualAreaConversion(
        latitude_first_parallel=lat_1,
        latitude_second_parallel=lat_2,
        latitude_false_origin=lat_0,
        longitude_false_origin=lon_0,
    )
    return ProjectedCRS(
        conversion=conversion,
        geodetic_crs=GeographicCRS(datum="WGS84"),
        name=f"carbonmap Albers equal-area (lon_0={lon_0}, lat_0={lat_0})",
    )


def _lonlat_bounds(frame: gpd.GeoDataFrame) -> tuple[float, float, float, float]:
    return tuple(frame.to_crs("EPSG:4326").total_bounds)  # type: ignore[return-value]


def _metre_factor(crs: CRS) -> float:
    unit = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
    return float(unit)


def analysis_grid(
    study_area: gpd.GeoDataFrame | gpd.GeoSeries,
    resolution_m: float,
    *,
    crs: Any = None,
) -> AnalysisGrid:
    r"""The grid covering `study_area` at `resolution_m`, in an equal-area CRS.

    Parameters
    ----------
    study_area : GeoDataFrame or GeoSeries with a CRS
        Typically the planning units; the grid covers their total bounds.
    resolution_m : float [m]
        Cell size.
    crs : CRS-like, optional
        A projected CRS in metres (e.g. ``"EPSG:4547"``, CGCS2000 / 3-degree
        Gauss-Kruger CM 114E). Default: :func:`equal_area_crs` of the study area.

    Returns
    -------
    AnalysisGrid
        CRS, north-up transform, width and height [cells].

    Raises
    ------
    CRSError
        When the study area has no CRS, or `crs` is not projected or not in metres.
    InputError
        For a resolution that is not positive.

    Notes
    -----
    The origin is snapped outward to a multiple of the resolution r, so two grids with the
    same CRS and resolution share cell edges:

    .. math::

        x_0 = r \lfloor x_{min} / r \rfloor, \quad y_1 = r \lceil y_{max} / r \rceil, \quad
        W = \lceil (x_{max} - x_0) / r \rceil, \quad H = \lceil (y_1 - y_{min}) / r \rceil
    """
    if study_area.crs is None:
        raise CRSError("the study area has no CRS.", fix="set the planning units' CRS.")
    if not resolution_m > 0:
        raise InputError(f"resolution must be positive, got {resolution_m}.",
                         key="grid.resolution_m", fix="give a cell size in metres, e.g. 30.")
    target = CRS.from_user_input(crs) if crs is not None else equal_area_crs(*_lonlat_bounds(study_area))
    if not target.is_projected:
        raise CRSError(
            f"the analysis CRS must be projected, not {target.name}.",
            key="grid.crs",
            fix="name a projected CRS in metres (e.g. EPSG:4547) or leave it as \"auto\".",
        )
    if abs(_metre_factor(target) - 1.0) > 1e-9:
        raise CRSError(f"the analysis CRS {target.name} is not in metres.", key="grid.crs",
                       fix="choose a CRS whose unit is the metre.")
    xmin, ymin, xmax, ymax = study_area.to_crs(target).total_bounds
    r = float(resolution_m)
    x0 = math.floor(xmin / r) * r
    y1 = math.ceil(ymax / r) * r
    width = max(1, math.ceil((xmax - x0) / r))
    height = max(1, math.ceil((y1 - ymin) / r))
    return AnalysisGrid(target, Affine(r, 0.0, x0, 0.0, -r, y1), width, height)


def ensure_projected(frame: gpd.GeoDataFrame, *, what: str = "input") -> gpd.GeoDataFrame:
    """Return `frame` in a projected CRS, reprojecting geographic data to equal-area.

    Analyses that measure areas or distances call this on their vector inputs, so a
    GeoDataFrame in degrees never yields square degrees. Reprojection is announced with
    a :class:`ReprojectedWarning`.
    """
    if frame.crs is None:
        raise CRSError(f"{what} has no CRS.", fix="set it with .set_crs(...) or in the project file.")
    if frame.crs.is_projected:
        return frame
    target = equal_area_crs(*_lonlat_bounds(frame))
    warnings.warn(
        f"{what} is in a geographic CRS ({frame.crs.name}); reprojected to {target.name} "
        "to measure areas and distances.",
        ReprojectedWarning,
        stacklevel=2,
    )
    return frame.to_crs(target)


# --------------------------------------------------------------------------- cells


def cell_area_m2(transform: Affine, crs: Any, rows: np.ndarray | int) -> np.ndarray:
    r"""True area of one cell in each of `rows` of a north-up raster [m2].

    Parameters
    ----------
    transform : affine.Affine
        The raster's transform; must be north-up (no rotation).
    crs : CRS-like
        The raster's CRS, projected or geographic.
    rows : int or array of int
        Row indices (an int n means rows 0..n-1).

    Returns
    -------
    ndarray [m2]
        One area per row.

    Raises
    ------
    AlignmentError
        For a rotated transform.

    Notes
    -----
    For a projected CRS the area is :math:`|a e|` times the square of the unit's length in
    metres, the same for every row. For a geographic CRS the cell is bounded by two meridians
    and two parallels, and its area on the CRS's ellipsoid (semi-major axis a, eccentricity e)
    is exact (Snyder 1987, eq. 3-12 and 14-20):

    .. math::

        A = \frac{a^2 \Delta\lambda}{2} \left[q(\varphi_2) - q(\varphi_1)\right],\quad
        q(\varphi) = (1 - e^2)\left[\frac{\sin\varphi}{1 - e^2 \sin^2\varphi}
            - \frac{1}{2e} \ln\frac{1 - e \sin\varphi}{1 + e \sin\varphi}\right]

    with :math:`\Delta\lambda` in radians (:math:`q = 2\sin\varphi` on a sphere). A
    0.00833 degree cell is 0.86 km2 at the equator and 0.55 km2 at 50 degrees N.

    References
    ----------
    .. [1] Snyder, J. P. (1987). Map Projections: A Working Manual. USGS Professional
       Paper 1395.

    Examples
    --------
    >>> from affine import Affine
    >>> cell_area_m2(Affine(30.0, 0.0, 0.0, 0.0, -30.0, 0.0), "EPSG:3857", 2).tolist()
    [900.0, 900.0]
    """
    crs = CRS.from_user_input(crs)
    rows = np.arange(rows) if np.isscalar(rows) else np.asarray(rows)
    if transform.b != 0 or transform.d != 0:
        raise AlignmentError("rotated rasters are not supported.",
                             fix="warp the raster to a north-up grid first (gdalwarp).")
    if not crs.is_geographic:
        factor = _metre_factor(crs)
        return np.full(rows.shape, abs(transform.a * transform.e) * factor * factor)
    ellipsoid = crs.ellipsoid
    a = ellipsoid.semi_major_metre
    e2 = 1.0 - (ellipsoid.semi_minor_metre / a) ** 2
    top = transform.f + transform.e * rows
    bottom = top + transform.e
    dlon = np.radians(abs(transform.a))
    return a * a * dlon / 2.0 * np.abs(_authalic_q(top, e2) - _authalic_q(bottom, e2))


def _authalic_q(lat_deg: np.ndarray, e2: float) -> np.ndarray:
    """Snyder's q(phi) (eq. 3-12); 2 sin(phi) on a sphere."""
    s = np.sin(np.radians(np.clip(lat_deg, -90.0, 90.0)))
    if e2 < 1e-15:
        return 2.0 * s
    e = np.sqrt(e2)
    return (1.0 - e2) * (s / (1.0 - e2 * s * s) - np.log((1.0 - e * s) / (1.0 + e * s)) / (2.0 * e))


def default_nodata(dtype: Any) -> float:
    """Nodata value carbonmap writes for `dtype`: NaN for floats, the extreme for integers."""
    dtype = np.dtype(dtype)
    if np.issubdtype(dtype, np.floating):
        return float("nan")
    info = np.iinfo(dtype)
    return info.max if info.min == 0 else info.min


# --------------------------------------------------------------------------- alignment


def _pick_resampling(kind: str, resampling: str | None, src: RasterSource, grid: AnalysisGrid) -> str:
    if kind not in RASTER_KINDS:
        raise InputError(f"unknown raster kind {kind!r}.", path=src.name,
                         fix=f"use one of {', '.join(RASTER_KINDS)}.")
    if kind == "categorical":  # before any work, naming the user's file (not an aligned copy)
        check_class_codes(src.dtype, name=src.name)
    if resampling is not None:
        if resampling not in RESAMPLING_METHODS[kind]:
            raise InputError(
                f"resampling {resampling!r} is not valid for a {kind} raster.",
                path=src.name,
                fix=f"use one of {', '.join(RESAMPLING_METHODS[kind])} "
                "(categories must never be interpolated).",
            )
        return resampling
    # coarser target than source -> aggregate (mode/average); else sample (nearest/bilinear), by the
    # source's cell size in the grid's CRS as GDAL would warp it (one coordinate transformation: each
    # costs PROJ about 0.2 s for a custom CRS)
    suggested, _, _ = rasterio.warp.calculate_default_transform(
        src.crs, grid.crs, src.shape[1], src.shape[0],
        *rasterio.transform.array_bounds(src.shape[0], src.shape[1], src.transform),
    )
    src_res = max(abs(suggested.a), abs(suggested.e))
    coarser = grid.resolution > 1.5 * src_res
    if kind == "categorical":
        return "mode" if coarser else "nearest"
    return "average" if coarser else "bilinear"


def strips(height: int, width: int, block_pixels: int, *, block_rows: int = 1) -> list[Window]:
    """Full-width windows of about `block_pixels` cells [cells], at most twice that, top to bottom;
    with the file's `block_rows`, of whole blocks where a row of blocks (or the whole raster, if
    shorter) holds at most twice `block_pixels` cells, so that no block is decoded twice (a strip of
    419 rows over 512-row tiles decodes every tile twice, and takes a tenth longer to reduce)."""
    rows = max(1, block_pixels // max(width, 1))
    if block_rows <= rows:
        rows -= rows % block_rows
    elif min(block_rows, height) * width <= 2 * block_pixels:
        rows = block_rows
    return [Window(0, r0, width, min(rows, height - r0)) for r0 in range(0, height, rows)]


def align_raster(
    raster: Any,
    grid: AnalysisGrid,
    *,
    kind: str,
    resampling: str | None = None,
    band: int = 1,
    dst_path: str | os.PathLike | None = None,
    dtype: Any = None,
    block_pixels: int = 2**22,
    **source_kwargs: Any,
) -> np.ma.MaskedArray | Path:
    """Resample a raster onto the analysis grid.

    Parameters
    ----------
    raster : path-like, rasterio dataset or 2-D array
        See :func:`carbonmap.io.open_raster` (arrays need ``transform=`` and ``crs=``).
    grid : AnalysisGrid
        The target grid.
    kind : {'categorical', 'continuous'}
        What the values mean. Categories (land-cover codes) are never interpolated.
    resampling : str, optional
        One of :data:`RESAMPLING_METHODS` for `kind`. Default: for categories 'mode' when
        the grid is more than 1.5 times coarser than the source, else 'nearest'; for
        continuous values 'average' when coarser, else 'bilinear'.
    band : int
        1-based band of the source.
    dst_path : path-like, optional
        Write a COG there (block by block, bounded memory) and return its path;
        otherwise return a masked array of the grid's shape. The COG's tag
        :data:`carbonmap.io.SOURCE_TAG` names the user's raster, so that messages about the
        copy name the user's file.
    dtype : optional
        Output dtype (default: the source's; float32 for interpolating resamplings of integers).
    block_pixels : int [cells]
        Cells per block when writing to a file.
    **source_kwargs
        Passed to :func:`carbonmap.io.open_raster` (``transform``, ``crs``, ``nodata``).

    Returns
    -------
    numpy.ma.MaskedArray (grid.height, grid.width) or Path
        The aligned values, in the source's unit, or the path of the COG.

    Notes
    -----
    Cells outside the source, and source nodata, become nodata (masked). Infinite or absurd
    cells of a floating-point source (:data:`carbonmap.io.ABSURD_MAGNITUDE`) are nodata too,
    before resampling, so they never spread into their neighbours (a
    :class:`~carbonmap.errors.NonFiniteValuesWarning` gives their count).
    """
    with open_raster(raster, band=band, **source_kwargs) as src:
        method = _pick_resampling(kind, resampling, src, grid)
        out_dtype = np.dtype(dtype) if dtype is not None else src.dtype
        if method in ("bilinear", "cubic", "average") and not np.issubdtype(out_dtype, np.floating):
            out_dtype = np.dtype("float32")
        nodata = src.nodata if src.nodata is not None else default_nodata(out_dtype)
        if src.array is not None:
            return _align_array(src, grid, method, out_dtype, nodata, dst_path)
        if dst_path is None:
            with _warped(src, grid, method, out_dtype, nodata, block_pixels) as warped:
                return warped.read()
        with _finite_dataset(src, block_pixels) as (dataset, src_nodata), cog_writer(
            dst_path, width=grid.width, height=grid.height, dtype=out_dtype,
            transform=grid.transform, crs=grid.crs, nodata=nodata,
            resampling="nearest" if kind == "categorical" else "average",
            tags={SOURCE_TAG: src.origin},
        ) as dst:
            copy = dataset is not src.dataset  # a temporary copy without non-finite cells, on this machine
            where = "process" if copy else src.ref().place
            task = partial(_warp_window, source=dataset if where == "thread" else dataset.name,
                           band=1 if copy else src.band, name=src.name,
                           options=_warp_options(src, dataset, grid, method, out_dtype, nodata, src_nodata))
            windows = strips(grid.height, grid.width, block_pixels)
            for window, block in zip(windows, ordered_map(task, windows, where=where)):
                dst.write(block, 1, window=window)
        return Path(dst_path)


@contextlib.contextmanager
def aligned_source(raster: Any, grid: AnalysisGrid, *, kind: str, resampling: str | None = None,
                   band: int = 1, **source_kwargs: Any) -> Iterator[RasterSource]:
    """Open `raster` as a :class:`~carbonmap.io.RasterSource` on `grid`, warping window by window.

    Parameters
    ----------
    raster : path-like, rasterio dataset or 2-D array
        See :func:`carbonmap.io.open_raster`.
    grid : AnalysisGrid
        The grid to read on.
    kind : {'categorical', 'continuous'}
        What the values mean (chooses the resampling, as :func:`align_raster`).
    resampling : str, optional
        As for :func:`align_raster`.
    band : int
        1-based band of the source.
    **source_kwargs
        Passed to :func:`carbonmap.io.open_raster`.

    Yields
    ------
    RasterSource
        Windows read from it are on `grid`, in the source's unit.

    Notes
    -----
    A raster already on the grid (same CRS, transform and shape) is read directly; any other
    is read through a GDAL WarpedVRT with the resampling :func:`align_raster` would use, so
    nothing is written and memory stays bounded by the windows read.
    """
    with open_raster(raster, band=band, **source_kwargs) as src:
        same = (src.crs == grid.crs and src.transform.almost_equals(grid.transform)
                and src.shape == grid.shape)
        if same:
            yield src
            return
        if src.array is not None:
            yield RasterSource(src.name, grid.shape, grid.transform, grid.crs,
                               src.nodata if src.nodata is not None else default_nodata(src.dtype),
                               src.dtype, array=np.ma.getdata(align_raster(
                                   src.array, grid, kind=kind, resampling=resampling,
                                   transform=src.transform, crs=src.crs, nodata=src.nodata)))
            return
        method = _pick_resampling(kind, resampling, src, grid)
        out_dtype = src.dtype
        if method in ("bilinear", "cubic", "average") and not np.issubdtype(out_dtype, np.floating):
            out_dtype = np.dtype("float32")
        nodata = src.nodata if src.nodata is not None else default_nodata(out_dtype)
        with _warped(src, grid, method, out_dtype, nodata, 2**22) as warped:
            yield warped


@contextlib.contextmanager
def _warped(src: RasterSource, grid: AnalysisGrid, method: str, dtype: np.dtype, nodata: float,
            block_pixels: int) -> Iterator[RasterSource]:
    """`src` (a file) warped onto `grid` through a GDAL WarpedVRT, as a :class:`RasterSource`
    named like `src`, so that failed reads name the user's file."""
    with _finite_dataset(src, block_pixels) as (dataset, src_nodata), WarpedVRT(
            dataset, **_warp_options(src, dataset, grid, method, dtype, nodata, src_nodata)) as vrt:
        yield RasterSource(src.name, grid.shape, grid.transform, grid.crs, nodata, dtype, dataset=vrt,
                           band=src.band if dataset is src.dataset else 1, path=src.path, origin=src.origin)


def _warp_options(src: RasterSource, dataset, grid: AnalysisGrid, method: str, dtype: np.dtype, nodata: float,
                  src_nodata: float | None) -> dict[str, Any]:
    """The WarpedVRT options that put `dataset` (`src`'s file or its finite copy) on `grid`."""
    options = {"crs": grid.crs.to_wkt(), "transform": grid.transform, "width": grid.width,
               "height": grid.height, "resampling": Resampling[method], "nodata": nodata, "dtype": dtype.name}
    if src_nodata is not None:
        options["src_nodata"] = src_nodata
    if not dataset.crs and src.crs is not None:  # a CRS the user declared for a file without one
        options["src_crs"] = src.crs.to_wkt()
    return options


def _warp_window(window: Window, *, source: Any, band: int, name: str, options: dict[str, Any]) -> np.ndarray:
    """One window of :func:`align_raster` (a task): `source` (a file's path, or a dataset this
    thread holds) warped onto the grid, nodata filled."""
    with contextlib.ExitStack() as stack:
        dataset = source
        if isinstance(source, str):
            try:
                dataset = stack.enter_context(rasterio.open(source))
            except rasterio.errors.RasterioError as exc:
                raise InputError(f"cannot be read ({exc}).", path=name, fix="check that the file is complete.") from exc
        vrt = stack.enter_context(WarpedVRT(dataset, **options))
        height, width = options["height"], options["width"]
        warped = RasterSource(name, (height, width), options["transform"], None, options["nodata"],
                              np.dtype(options["dtype"]), dataset=vrt, band=band)
        return warped.read(window).filled(options["nodata"])


@contextlib.contextmanager
def _finite_dataset(src: RasterSource, block_pixels: int) -> Iterator[tuple[Any, float | None]]:
    """The dataset to warp and its nodata: `src`'s own, or, when a floating-point source holds
    infinite or absurd cells, a temporary copy in which they are nodata (so that resampling
    never spreads them). The cells are counted in ``src.nonfinite_cells``."""
    if not np.issubdtype(src.dtype, np.floating):
        yield src.dataset, src.nodata
        return
    windows = strips(src.shape[0], src.shape[1], block_pixels)
    for window in windows:
        src.read(window)
    if src.nonfinite_cells == 0:
        yield src.dataset, src.nodata
        return
    nodata = src.nodata if src.nodata is not None else float("nan")
    profile = {"driver": "GTiff", "width": src.shape[1], "height": src.shape[0], "count": 1,
               "dtype": src.dtype.name, "crs": src.crs.to_wkt() if src.crs else None,
               "transform": src.transform, "nodata": nodata, "tiled": True, "BIGTIFF": "IF_SAFER"}
    counted = src.nonfinite_cells
    with tempfile.TemporaryDirectory(prefix="carbonmap-") as folder:
        clean = Path(folder) / "finite.tif"
        with rasterio.open(clean, "w", **profile) as dst:
            for window in windows:
                dst.write(src.read(window).filled(nodata), 1, window=window)
        src.nonfinite_cells = counted  # counted once, by the first pass
        with rasterio.open(clean) as dataset:
            yield dataset, nodata


def grid_of(raster: Any, **source_kwargs: Any) -> AnalysisGrid:
    """The raster's own grid (CRS, transform, shape), for a file, dataset or array."""
    with open_raster(raster, **source_kwargs) as src:
        return AnalysisGrid(src.crs, src.transform, src.shape[1], src.shape[0])


def metric_grid_of(raster: Any, **source_kwargs: Any) -> AnalysisGrid:
    """A grid in metres for a raster: its own grid when its CRS is projected; else an Albers
    equal-area grid centred on it (:func:`equal_area_crs`) whose cell has the area of the
    source's cell at its central row."""
    from shapely.geometry import box

    with open_raster(raster, **source_kwargs) as src:
        transform, crs, (height, width) = src.transform, src.crs, src.shape
    if not crs.is_geographic:
        return AnalysisGrid(crs, transform, width, height)
    cell_m = float(np.sqrt(cell_area_m2(transform, crs, np.array([height // 2]))[0]))
    west, north = transform.c, transform.f
    east, south = west + transform.a * width, north + transform.e * height
    footprint = gpd.GeoSeries([box(west, south, east, north).segmentize(abs(transform.a) * 10)], crs=crs)
    return analysis_grid(footprint, cell_m)


def raster_footprint(raster: Any, to_crs: Any = None, **source_kwargs: Any):
    """The rectangle a raster's cells cover, as a shapely polygon in `to_crs` (default: the raster's own).

    Its edges are densified before it is reprojected, so that it keeps its shape in another CRS.
    Keyword arguments are those of :func:`carbonmap.io.open_raster` (e.g. ``crs=`` for a raster
    that declares none, ``band=``).
    """
    from shapely.geometry import box

    with open_raster(raster, **source_kwargs) as src:
        west, south, east, north = rasterio.transform.array_bounds(*src.shape, src.transform)
        own = src.crs
    footprint = box(west, south, east, north)
    if to_crs is None or CRS.from_user_input(to_crs) == own:
        return footprint
    edge = max(east - west, north - south) / 50
    return gpd.GeoSeries([footprint.segmentize(edge)], crs=own).to_crs(to_crs).iloc[0]


def _nodata_mask(data: np.ndarray, nodata: float) -> np.ndarray:
    if isinstance(nodata, float) and math.isnan(nodata):
        return np.isnan(data)
    mask = data == nodata
    if np.issubdtype(data.dtype, np.floating):
        mask |= np.isnan(data)
    return mask


def _align_array(src: RasterSource, grid: AnalysisGrid, method: str, dtype: np.dtype,
                 nodata: float, dst_path) -> np.ma.MaskedArray | Path:
    source = src.read()
    source_filled = (source.filled(nodata).astype(dtype, copy=False) if source.mask.any()
                     else np.asarray(source, dtype=dtype))
    out = np.full(grid.shape, nodata, dtype=dtype)
    rasterio.warp.reproject(
        source_filled, out, src_transform=src.transform, src_crs=src.crs,
        src_nodata=nodata, dst_transform=grid.transform, dst_crs=grid.crs,
        dst_nodata=nodata, resampling=Resampling[method],
    )
    result = np.ma.MaskedArray(out, mask=_nodata_mask(out, nodata))
    if dst_path is None:
        return result
    from carbonmap.io import write_cog

    return write_cog(dst_path, out, transform=grid.transform, crs=grid.crs, nodata=nodata,
                     resampling="nearest" if method in ("nearest", "mode") else "average")


# --------------------------------------------------------------------------- vectors


def geojson_shapes(geoms: np.ndarray) -> list[dict[str, Any]]:
    """Shapely geometries as GeoJSON-like mappings, the form ``rasterio.features.rasterize`` reads.

    Equal to each geometry's ``__geo_interface__``, but polygons are converted together from
    their coordinate array (``shapely.to_ragged_array``) instead of one coordinate at a time,
    with Python's cyclic garbage collector paused while the lists are built (they hold only
    floats, and counting them as they are made triggers collections that cost four times the
    building): about five times faster. Other geometry types give their own
    ``__geo_interface__``.

    Parameters
    ----------
    geoms : array of shapely geometries (n,)

    Returns
    -------
    list of n dicts with ``type`` and ``coordinates``
    """
    geoms = np.asarray(geoms, dtype=object)
    types = shapely.get_type_id(geoms)
    polygonal = np.isin(types, (3, 6)) & ~shapely.is_empty(geoms)
    shapes: list[Any] = [None] * len(geoms)
    index = np.flatnonzero(polygonal)
    if index.size:
        with _collector_paused():
            _polygon_mappings(geoms, types, index, shapes)
    for i in np.flatnonzero(~polygonal).tolist():
        shapes[i] = None if geoms[i] is None else geoms[i].__geo_interface__
    return shapes


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector, if it runs, for the block."""
    running = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if running:
            gc.enable()


def _polygon_mappings(geoms: np.ndarray, types: np.ndarray, index: np.ndarray, shapes: list[Any]) -> None:
    """Fill ``shapes[i]`` for the (Multi)Polygons ``geoms[index]`` (see :func:`geojson_shapes`)."""
    kind, coords, offsets = shapely.to_ragged_array(geoms[index], include_z=False)
    points = coords.tolist()
    rings = [points[a:b] for a, b in zip(offsets[0][:-1].tolist(), offsets[0][1:].tolist())]
    polygons = [rings[a:b] for a, b in zip(offsets[1][:-1].tolist(), offsets[1][1:].tolist())]
    if kind == shapely.GeometryType.POLYGON:
        for i, polygon in zip(index.tolist(), polygons):
            shapes[i] = {"type": "Polygon", "coordinates": polygon}
    else:
        parts = offsets[2]
        for i, single, a, b in zip(index.tolist(), (types[index] == 3).tolist(), parts[:-1].tolist(),
                                   parts[1:].tolist()):
            shapes[i] = ({"type": "Polygon", "coordinates": polygons[a]} if single
                         else {"type": "MultiPolygon", "coordinates": polygons[a:b]})


def rasterize(
    frame: gpd.GeoDataFrame,
    grid: AnalysisGrid,
    *,
    values: str | float | np.ndarray = 1,
    fill: float = 0,
    all_touched: bool = False,
    dtype: Any = None,
    merge: str = "replace",
) -> np.ndarray:
    """Burn vector features into an array on the analysis grid.

    Parameters
    ----------
    frame : GeoDataFrame with a CRS
        Reprojected to the grid's CRS if needed.
    grid : AnalysisGrid
        The target grid.
    values : column name, scalar or array (n,)
        Value burnt for each feature, in its own unit.
    fill : float
        Value of cells no feature covers.
    all_touched : bool
        False: a cell is burnt when its centre is inside the feature (GDAL's rule, the
        same as rasterstats'); True: when the feature touches it at all.
    dtype : optional
        Output dtype (default: from `values`; int32 for the scalar default).
    merge : {'replace', 'add'}
        Where features overlap: the last one wins, or their values are added.

    Returns
    -------
    ndarray (grid.height, grid.width)

    Raises
    ------
    CRSError
        When the layer has no CRS.
    """
    if frame.crs is None:
        raise CRSError("the layer has no CRS.", fix="set its CRS before rasterising.")
    if len(frame) == 0:
        return np.full(grid.shape, fill, dtype=dtype or "int32")
    geoms = frame.to_crs(grid.crs).geometry.values if frame.crs != grid.crs else frame.geometry.values
    if isinstance(values, str):
        vals = frame[values].to_numpy()
    else:
        vals = np.broadcast_to(np.asarray(values), (len(frame),))
    if dtype is not None:
        out_dtype = np.dtype(dtype)
    else:  # int32 for the scalar default, else the values' own type
        out_dtype = np.dtype("int32") if np.ndim(values) == 0 and not isinstance(values, str) else vals.dtype
    merge_alg = {"replace": rasterio.features.MergeAlg.replace, "add": rasterio.features.MergeAlg.add}[merge]
    return rasterio.features.rasterize(
        zip(geojson_shapes(geoms), vals), out_shape=grid.shape, transform=grid.transform, fill=fill,
        all_touched=all_touched, dtype=out_dtype, merge_alg=merge_alg,
    )


def map_windows(
    function: Callable[..., np.ndarray],
    rasters: Mapping[str, Any],
    out: str | os.PathLike,
    *,
    dtype: Any = "float32",
    nodata: float | None = None,
    halo: int = 0,
    block_pixels: int = 2**22,
    resampling: str = "nearest",
    tags: Mapping[str, str] | None = None,
) -> Path:
    r"""Compute ``function(**windows)`` over rasters of one grid, window by window, into a COG.

    Parameters
    ----------
    function : callable
        Takes one keyword per raster (a masked array (h, w) of the window, with `halo` more rows
        above and below where the raster has them) and returns an array of the same shape, whose
        masked cells are written as `nodata`. A pure function of its arguments, defined at module
        level (it may run in another process).
    rasters : mapping of keyword -> path
        Rasters on one grid (the analysis grid's aligned COGs): same shape, transform and CRS.
    out : path
        The COG to write (atomically).
    dtype, nodata, resampling, tags
        Of the output (:func:`carbonmap.io.cog_writer`).
    halo : int [cells]
        Rows of neighbours a window needs on each side: a neighbourhood of radius r cells needs
        ``halo = r``. Columns need none (windows span the whole width).
    block_pixels : int [cells]
        Cells per window (rounded to whole blocks of the first raster).

    Returns
    -------
    Path
        `out`.

    Notes
    -----
    Each window is a task of :func:`carbonmap.compute.ordered_map` (threads in-process, or the
    workers of a dask cluster), which opens the files itself; windows are written in order.
    With the halo, each window's cells see the same neighbours as in one whole-raster call, so
    the output equals ``function(**whole_rasters)`` cell for cell for any function whose value
    at a cell depends only on cells within `halo` rows (the raster's first and last rows keep the
    function's own edge rule).
    """
    if not rasters:
        raise ValueError("map_windows needs at least one raster")
    with contextlib.ExitStack() as stack:
        sources = {key: stack.enter_context(open_raster(path)) for key, path in rasters.items()}
        first = next(iter(sources.values()))
        for key, src in sources.items():
            if src.shape != first.shape or not src.transform.almost_equals(first.transform) or src.crs != first.crs:
                raise AlignmentError(f"is not on the grid of {first.name} (shape, transform or CRS).",
                                     path=src.name, fix="align it to the analysis grid first (align_raster).")
        height, width = first.shape
        windows = strips(height, width, block_pixels,
                         block_rows=first.dataset.block_shapes[0][0] if first.dataset is not None else 1)
        refs = {key: src.ref() for key, src in sources.items()}
        task = partial(_window_task, function=function, rasters=refs, halo=halo, height=height, nodata=nodata,
                       dtype=np.dtype(dtype))
        where = narrowest(ref.place for ref in refs.values())
        dst = stack.enter_context(cog_writer(out, width=width, height=height, dtype=dtype, transform=first.transform,
                                             crs=first.crs, nodata=nodata, resampling=resampling, tags=tags))
        for window, (block, nonfinite) in zip(windows, ordered_map(task, windows, where=where)):
            dst.write(block, 1, window=window)
            for key, cells in nonfinite.items():  # reported, naming the file, when it is closed
                sources[key].nonfinite_cells += cells
    return Path(out)


def _window_task(window: Window, *, function, rasters: Mapping[str, RasterRef], halo: int, height: int,
                 nodata: float | None, dtype: np.dtype) -> tuple[np.ndarray, dict[str, int]]:
    """One window of :func:`map_windows`: read with the halo, compute, trim, fill; and the
    non-finite cells of each raster in the window itself (its halo is another window's)."""
    top = max(0, int(window.row_off) - halo)
    bottom = min(height, int(window.row_off + window.height) + halo)
    padded = Window(window.col_off, top, window.width, bottom - top)
    start = int(window.row_off) - top
    arrays, nonfinite = {}, {}
    for key, ref in rasters.items():
        with ref.open() as src:
            arrays[key] = src.read(padded)
            nonfinite[key] = nonfinite_cells(arrays[key][start:start + int(window.height)], src.nodata)
    result = function(**arrays)
    result = result[start:start + int(window.height)]
    if isinstance(result, np.ma.MaskedArray):
        if nodata is None and result.mask.any():
            raise ValueError("masked cells need a nodata value: pass nodata= to map_windows")
        result = result.filled(nodata if nodata is not None else 0)
    return np.asarray(result, dtype=dtype), nonfinite


# --------------------------------------------------------------------------- coarser grids


def _blocks(data: np.ndarray, factor: int, fill: Any) -> np.ndarray:
    """`data` padded with `fill` to whole `factor` x `factor` blocks, as (rows, factor, cols, factor)."""
    height, width = data.shape
    rows, cols = -(-height // factor), -(-width // factor)
    padded = np.full((rows * factor, cols * factor), fill, dtype=data.dtype)
    padded[:height, :width] = data
    return padded.reshape(rows, factor, cols, factor)


def block_majority(codes: np.ma.MaskedArray, factor: int) -> np.ma.MaskedArray:
    """The most frequent code of each `factor` x `factor` block of cells.

    Parameters
    ----------
    codes : masked array (H, W) of int
        Class codes; masked cells are no data.
    factor : int
        Cells per block side; blocks at the right and bottom edges may be partial.

    Returns
    -------
    masked array (ceil(H / factor), ceil(W / factor))
        The most frequent code among each block's valid cells (the smallest code on a tie);
        masked where every cell of the block is.

    Notes
    -----
    The majority (mode) rule of aggregating categorical rasters to a coarser grain, as
    GDAL's ``mode`` resampling and ArcGIS's Block Statistics do; regional ecological networks
    are solved on such coarser grids [1]_.

    References
    ----------
    .. [1] Peng J., et al. (2018). Linking ecosystem services and circuit theory to identify
       ecological security patterns. Science of the Total Environment 644, 781-790.
    """
    values = np.unique(np.ma.compressed(codes))
    index = np.searchsorted(values, np.ma.getdata(codes)).astype(np.int32)
    index[np.ma.getmaskarray(codes)] = len(values)  # no data: never counted
    blocks = _blocks(index, factor, len(values))
    best_count = np.zeros((blocks.shape[0], blocks.shape[2]), np.int32)
    best = np.full(best_count.shape, len(values), np.int32)
    for k in range(len(values)):  # strictly more wins: on a tie, the smaller code stays
        count = np.count_nonzero(blocks == k, axis=(1, 3))
        more = count > best_count
        best[more], best_count[more] = k, count[more]
    out = np.append(values, values[:1] if len(values) else np.zeros(1, codes.dtype))[best]
    return np.ma.MaskedArray(out.astype(codes.dtype), mask=best_count == 0)


def block_mean(values: np.ma.MaskedArray, factor: int) -> np.ma.MaskedArray:
    """The mean of the valid cells of each `factor` x `factor` block (float64; masked where
    every cell of the block is); blocks at the right and bottom edges may be partial."""
    valid = ~np.ma.getmaskarray(values)
    sums = _blocks(np.where(valid, np.ma.getdata(values), 0.0).astype(np.float64), factor, 0.0).sum(axis=(1, 3))
    counts = _blocks(valid, factor, False).sum(axis=(1, 3))
    return np.ma.MaskedArray(np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0), mask=counts == 0)


def block_expand(data: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
    """Each cell of a coarser grid repeated over its `factor` x `factor` block of the finer grid of
    `shape` (the inverse of :func:`block_majority`'s blocking; edge blocks cropped)."""
    return np.repeat(np.repeat(data, factor, axis=0), factor, axis=1)[:shape[0], :shape[1]]
