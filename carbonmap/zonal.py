"""Zonal statistics: rasterise the zones once, reduce by label, strip by strip.

Per-unit summaries are the backbone of the planning map (every layer is summarised per
planning unit, parcel or building), so they must be exact and fast on city-sized rasters.

How it works
------------
The raster is processed in horizontal strips of about `block_pixels` cells, so memory is
bounded whatever the raster size. In each strip:

1. the zones whose bounding box meets the strip are burnt together, once
   (``rasterio.features.rasterize`` with GDAL's additive merge): each zone adds a value
   that encodes it and a count of one, so every cell learns how many zones claim it and,
   claimed once, which (:func:`_claims`);
2. cells claimed by more than one zone (overlapping zones, or shared edges passing exactly
   through cell centres, which GDAL gives to both neighbours) are *contested*: each zone
   that may claim them is rasterised again on its own, with the window rasterstats would
   use, and the cell counts once for every zone that claims it;
3. labels run in long horizontal runs, so the strip is run-length encoded and every
   statistic is reduced over runs (``numpy.ufunc.reduceat``) and then over the strip's zones
   (``numpy.bincount``, ``numpy.minimum.at``) — no Python loop per cell or per zone.

Standard deviations are merged across runs and strips with the pairwise update of Chan,
Golub & LeVeque (1983), which is numerically stable; medians and percentiles keep each
zone's values only until the strips have passed the zone's last row.

Each strip is one task (:func:`carbonmap.compute.ordered_map`): it opens the raster itself,
burns and reads its strip and returns the strip's partial reductions for its zones (counts, sums,
M2, extremes, class areas), which are merged here in strip order. The tasks run on threads of
this process, or on the workers of a dask cluster (``[compute]``); the merge, and so the
result, is the same bit for bit either way.

Inclusion rule
--------------
A cell belongs to a zone when its centre is inside the zone (``all_touched=False``), or
when the zone touches it at all (``all_touched=True``): GDAL's rules, the same as
rasterstats', so results equal ``rasterstats.zonal_stats`` cell for cell (sums and means
to floating-point rounding: carbonmap accumulates in float64). Cells that are nodata or
NaN are left out of the statistics and counted in ``nodata_count``.

One degenerate case can differ with ``all_touched=True``: a zone edge passing *exactly*
through a cell corner. GDAL's all-touched fill rounds differently depending on the window
it is given, so such a corner cell may be counted by one tool and not the other (as it may
by rasterstats on two windows). Real boundaries essentially never hit corners exactly.

When to use fractional coverage instead
---------------------------------------
The centre rule counts a cell wholly or not at all. For zones that are small relative to
the cells (building footprints on a 30 m raster) or that overlap, weighting each cell by
the fraction of it that the zone covers is more accurate; ``engine="exactextract"`` does
that with the exactextract library (``pip install exactextract``), at some cost in speed.
For planning units, parcels and tracts many cells across, the centre rule's error
averages out and the label engine is the fast choice.

References
----------
.. [1] Chan, T. F., Golub, G. H., & LeVeque, R. J. (1983). Algorithms for computing the
   sample variance: analysis and recommendations. The American Statistician, 37(3),
   242-247.
.. [2] Perry, M. (2013-). rasterstats: summary statistics of geospatial raster datasets
   based on vector geometries. https://pythonhosted.org/rasterstats/ (the inclusion rule
   reproduced here).
.. [3] Baston, D. (2023). exactextract: fast and accurate raster zonal statistics.
   https://isciences.github.io/exactextract/
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rasterio.features
import shapely
from affine import Affine
from pyproj import CRS
from rasterio.errors import NotGeoreferencedWarning
from rasterio.windows import Window

from carbonmap.compute import ordered_map
from carbonmap.errors import CRSError, EmptyInputError, InputError, NodataError
from carbonmap.grid import cell_area_m2, geojson_shapes, strips
from carbonmap.io import RasterRef, RasterSource, check_class_codes, open_raster, release_reused_arrays

__all__ = ["STATS", "DEFAULT_STATS", "ENGINES", "zonal_stats", "zonal_categories", "zonal_totals", "validate_stats"]

#: Statistics :func:`zonal_stats` computes; ``percentile_<q>`` (0 <= q <= 100) is also valid.
STATS = ("count", "sum", "mean", "min", "max", "std", "median", "nodata_count")
DEFAULT_STATS = ("count", "sum", "mean", "min", "max")
#: ``label``: cell-centre (or all-touched) inclusion, fast; ``exactextract``: fractional coverage.
ENGINES = ("label", "exactextract")
_PERCENTILE = re.compile(r"^percentile_(\d+(\.\d+)?)$")
_DEFAULT_BLOCK_PIXELS = 2**22


# --------------------------------------------------------------------------- public


def zonal_stats(
    zones: gpd.GeoDataFrame | gpd.GeoSeries,
    raster: Any,
    *,
    stats: Sequence[str] = DEFAULT_STATS,
    all_touched: bool = False,
    band: int = 1,
    engine: str = "label",
    prefix: str = "",
    block_pixels: int = _DEFAULT_BLOCK_PIXELS,
    **source_kwargs: Any,
) -> pd.DataFrame:
    r"""Summarise a continuous raster within each zone.

    Parameters
    ----------
    zones : GeoDataFrame or GeoSeries of (Multi)Polygons, with a CRS
        Reprojected to the raster's CRS. Zones may overlap.
    raster : path-like, rasterio dataset or 2-D array
        See :func:`carbonmap.io.open_raster`; arrays need ``transform=`` and ``crs=``
        (and ``nodata=`` if they have one) as keyword arguments.
    stats : sequence of str
        From :data:`STATS`, plus ``percentile_<q>``. ``std`` is the population standard
        deviation (ddof=0), as rasterstats and numpy compute it.
    all_touched : bool
        Include every cell the zone touches, not just cells whose centre is inside.
    band : int
        1-based band.
    engine : {'label', 'exactextract'}
        See the module docstring. ``exactextract`` weights cells by covered fraction, so
        ``count`` becomes a sum of fractions [cells].
    prefix : str
        Prepended to every output column (e.g. ``"ndvi_"``).
    block_pixels : int [cells]
        Cells per strip; peak memory is about 40 bytes per cell of one strip.
    **source_kwargs
        Passed to :func:`carbonmap.io.open_raster`.

    Returns
    -------
    DataFrame
        One row per zone, indexed like `zones`, one column per statistic, in the units of
        the raster (``count`` and ``nodata_count`` in cells). Zones without a valid cell
        have count 0 and NaN elsewhere. A run names them ``<raster>_<stat>_<unit>`` in its
        summary (``<raster>_<stat>`` for a raster without a unit, ``<raster>_count_cells`` and
        ``<raster>_nodata_count_cells`` for the counts).

    Raises
    ------
    NodataError
        When no zone covers a single valid cell (wrong CRS, disjoint extents, or a raster
        that is nodata everywhere).

    Notes
    -----
    Over the valid cells :math:`x_i` of zone z (centre inside, or touched with `all_touched`):

    .. math::

        \mathrm{mean}_z = \frac{1}{n_z} \sum_{i \in z} x_i, \qquad
        \mathrm{std}_z = \sqrt{\frac{1}{n_z} \sum_{i \in z} (x_i - \mathrm{mean}_z)^2}

    merged across runs and strips with the pairwise update of Chan et al. (1983).

    References
    ----------
    .. [1] Perry, M. (2013-). rasterstats: summary statistics of geospatial raster datasets
       based on vector geometries. https://pythonhosted.org/rasterstats/ (the inclusion rule
       reproduced here).
    .. [2] Chan, T. F., Golub, G. H., & LeVeque, R. J. (1983). Algorithms for computing the
       sample variance: analysis and recommendations. The American Statistician, 37(3),
       242-247.

    Examples
    --------
    >>> import numpy as np, geopandas as gpd, shapely
    >>> from affine import Affine
    >>> values = np.arange(16, dtype="float32").reshape(4, 4)
    >>> zones = gpd.GeoSeries([shapely.box(0, 2, 2, 4), shapely.box(2, 0, 4, 4)], crs=3857)
    >>> zonal_stats(zones, values, transform=Affine(1, 0, 0, 0, -1, 4), crs=3857,
    ...             stats=["count", "sum", "max"])
       count   sum   max
    0      4  10.0   5.0
    1      8  68.0  15.0
    """
    stats = validate_stats(stats)
    if engine not in ENGINES:
        raise InputError(f"unknown zonal engine {engine!r}.", fix=f"use one of {', '.join(ENGINES)}.")
    with open_raster(raster, band=band, **source_kwargs) as src:
        geoms, index = _zone_geometries(zones, src)
        if engine == "exactextract":
            table = _exactextract_stats(geoms, src, stats)
        else:
            table = _label_stats(geoms, src, stats, all_touched, block_pixels)
    if not (table["count"].to_numpy() > 0).any():
        raise NodataError(
            f"none of the {len(geoms)} zones covers a valid cell of the raster.",
            path=src.name,
            fix="check that zones and raster overlap (CRS and extent) and that the raster's "
            "nodata value is right.",
        )
    table.index = index
    table = table[list(stats)]
    return table.add_prefix(prefix) if prefix else table


def zonal_totals(zones: gpd.GeoDataFrame | gpd.GeoSeries, density: Any, *, cell_ha: float) -> pd.Series:
    r"""Total of a density raster in each zone: the sum of its cells times the cell area.

    Parameters
    ----------
    zones : GeoDataFrame or GeoSeries of (Multi)Polygons, with a CRS
        The zones (planning units, parcels).
    density : path-like, rasterio dataset or 2-D array
        A density [quantity/ha], e.g. a stock [t C/ha] or a sink [t CO2/ha/yr].
    cell_ha : float [ha]
        Area of one cell (an equal-area grid: every cell has the same area).

    Returns
    -------
    Series [quantity]
        Indexed like `zones`; NaN where a zone has no valid cell.

    Notes
    -----
    :math:`T_z = a \sum_{i \in z} d_i`, with the cells of :func:`zonal_stats`.
    """
    return zonal_stats(zones, density, stats=["sum"])["sum"] * cell_ha


def zonal_categories(
    zones: gpd.GeoDataFrame | gpd.GeoSeries,
    raster: Any,
    *,
    all_touched: bool = False,
    band: int = 1,
    prefix: str = "area_m2_",
    block_pixels: int = _DEFAULT_BLOCK_PIXELS,
    **source_kwargs: Any,
) -> pd.DataFrame:
    r"""Area of each class of a categorical raster within each zone [m2].

    Parameters
    ----------
    zones : GeoDataFrame or GeoSeries of (Multi)Polygons, with a CRS
        Reprojected to the raster's CRS. Zones may overlap.
    raster : path-like, rasterio dataset or 2-D array of int
        Class codes (see :func:`carbonmap.io.open_raster`).
    all_touched, band, block_pixels, **source_kwargs
        As for :func:`zonal_stats`.
    prefix : str
        Column name prefix; the class code follows it.

    Returns
    -------
    DataFrame [m2]
        One row per zone (indexed like `zones`), columns ``<prefix><code>`` for every class
        present in any zone, sorted by code, plus ``<prefix>nodata`` for covered nodata
        cells. A run turns them into hectares named ``<raster>_<class>_area_ha`` in its
        summary (the class named through the raster's code system, plus ``nodata``).

    Raises
    ------
    NodataError
        When no zone covers a single valid cell.

    Notes
    -----
    :math:`A_{z,k} = \sum_{i \in z,\, c_i = k} a_i`, with true cell areas :math:`a_i`: constant
    for projected rasters, geodesic per row for rasters in a geographic CRS (see
    :func:`carbonmap.grid.cell_area_m2`).
    """
    with open_raster(raster, band=band, **source_kwargs) as src:
        check_class_codes(src.dtype, name=src.name)
        geoms, index = _zone_geometries(zones, src)
        areas = _ClassAreas(len(geoms))
        reduce = partial(_class_area_parts, transform=src.transform, crs=src.crs)
        for parts in _strip_results(geoms, src, all_touched, block_pixels, reduce):
            areas.add(parts)
        table = areas.table(prefix)
    if not table.drop(columns=[f"{prefix}nodata"]).to_numpy().any():
        raise NodataError(
            f"none of the {len(geoms)} zones covers a valid cell of the raster.",
            path=src.name,
            fix="check that zones and raster overlap (CRS and extent) and the nodata value.",
        )
    table.index = index
    return table


# --------------------------------------------------------------------------- inputs


def validate_stats(stats: Sequence[str]) -> tuple[str, ...]:
    """Check statistic names (a sequence, or one comma/space-separated string); return them
    de-duplicated in order. Raises :class:`InputError` naming every unknown one."""
    if isinstance(stats, str):
        stats = stats.replace(",", " ").split()
    out = tuple(dict.fromkeys(stats))
    bad = [s for s in out if s not in STATS and not _PERCENTILE.match(s)]
    if bad:
        raise InputError(
            f"unknown statistic(s): {', '.join(bad)}.",
            fix=f"use {', '.join(STATS)} or percentile_<q> (e.g. percentile_90).",
        )
    for s in out:
        m = _PERCENTILE.match(s)
        if m and not 0 <= float(m.group(1)) <= 100:
            raise InputError(f"{s}: the percentile must be between 0 and 100.", fix="e.g. percentile_90.")
    if not out:
        raise InputError("no statistic requested.", fix=f"ask for some of {', '.join(STATS)}.")
    return out


def _zone_geometries(zones, src: RasterSource) -> tuple[np.ndarray, pd.Index]:
    if not isinstance(zones, (gpd.GeoDataFrame, gpd.GeoSeries)):
        raise InputError("zones must be a GeoDataFrame or GeoSeries.",
                         fix="read them with carbonmap.io.read_vector or geopandas.")
    if len(zones) == 0:
        raise EmptyInputError("there are no zones.", fix="give at least one polygon.")
    if zones.crs is None:
        raise CRSError("the zones have no CRS.", fix="set it with .set_crs(...).")
    if src.crs is None:
        raise CRSError("the raster has no CRS.", path=src.name, fix="pass crs=... or define it in the file.")
    geo = zones.geometry if isinstance(zones, gpd.GeoDataFrame) else zones
    if CRS.from_user_input(geo.crs) != src.crs:
        geo = geo.to_crs(src.crs)
    geoms = np.asarray(geo.values, dtype=object)
    types = shapely.get_type_id(geoms)
    if not np.isin(types[~shapely.is_missing(geoms)], (3, 6)).all():
        raise InputError("zones must be Polygons or MultiPolygons.",
                         fix="buffer points or lines into polygons first.")
    return geoms, zones.index


# --------------------------------------------------------------------------- strips


@dataclass
class _Strip:
    """One strip of the raster with the zone labels of its cells.

    labels : int32 array (rows * cols,), 1 + the position in `zones` of the zone owning the
        cell, or 0 where no single zone owns it (outside every zone, or contested) or it is
        nodata.
    zones : sorted indices of the zones that may own cells of the strip.
    nodata_cells, nodata_zones : int arrays, the nodata cells a single zone owns, and that zone.
    values : raw cell values (rows * cols,).
    invalid : bool array (rows * cols,), nodata or NaN.
    extra_cells, extra_zones : int arrays, one entry per (contested cell, zone claiming it).
    row_off, width : position of the strip in the raster.
    """

    labels: np.ndarray
    zones: np.ndarray
    values: np.ndarray
    invalid: np.ndarray
    nodata_cells: np.ndarray
    nodata_zones: np.ndarray
    extra_cells: np.ndarray
    extra_zones: np.ndarray
    row_off: int
    width: int


@dataclass(frozen=True)
class _StripTask:
    """What one strip's task needs: its window and the zones whose bounding box meets it.

    zones : sorted global indices of those zones; geoms and windows : their geometries and cell
    windows (rows of :func:`_zone_windows`), in the same order.
    """

    window: Window
    zones: np.ndarray
    geoms: np.ndarray
    windows: np.ndarray


def _strip_tasks(geoms: np.ndarray, src: RasterSource, block_pixels: int) -> list[_StripTask]:
    """The strips of `src` that meet a zone, in order, each of whole blocks of the file."""
    height, width = src.shape
    if src.transform.b != 0 or src.transform.d != 0:
        raise InputError("rotated rasters are not supported.", path=src.name,
                         fix="warp the raster to a north-up grid first (gdalwarp).")
    block_rows = src.dataset.block_shapes[src.band - 1][0] if src.dataset is not None else 1
    tree = shapely.STRtree(geoms)
    zone_windows = _zone_windows(geoms, src.transform)
    tasks = []
    for window in strips(height, width, block_pixels, block_rows=block_rows):
        r0 = int(window.row_off)
        strip_transform = src.transform @ Affine.translation(0, r0)
        x0, y0 = strip_transform @ (0, 0)
        x1, y1 = strip_transform @ (width, int(window.height))
        hits = np.sort(tree.query(shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))))
        if hits.size:
            tasks.append(_StripTask(window, hits, geoms[hits], zone_windows[hits]))
    return tasks


def _strip_results(geoms: np.ndarray, src: RasterSource, all_touched: bool, block_pixels: int,
                   reduce: Callable[[_Strip], Any]) -> Iterator[Any]:
    """``reduce(strip)`` of every strip of `src` that meets a zone, in order (module docstring).

    The tasks reopen the file (a rasterio dataset serves one thread); a raster held in memory is
    reduced in this process. Non-finite cells the tasks met are added to ``src.nonfinite_cells``,
    so :func:`~carbonmap.io.open_raster` reports them once.
    """
    source = src.ref()
    task = partial(_run_strip, source=source, all_touched=all_touched, reduce=reduce)
    with warnings.catch_warnings():
        # rasterio silences this warning of its in-memory datasets with catch_warnings, which
        # threads running at once may undo for each other; the strips are georeferenced.
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        try:
            for result, nonfinite in ordered_map(task, _strip_tasks(geoms, src, block_pixels),
                                                 where=source.place):
                src.nonfinite_cells += nonfinite
                yield result
        finally:
            release_reused_arrays()  # the strips' read buffers of this process's threads


def _run_strip(task: _StripTask, *, source: RasterRef, all_touched: bool,
               reduce: Callable[[_Strip], Any]) -> tuple[Any, int]:
    """One strip's task: its partial reduction and the non-finite cells it read."""
    with source.open() as src:
        strip = _prepare_strip(task, src, all_touched)
        return reduce(strip), src.nonfinite_cells


def _zone_windows(geoms: np.ndarray, transform: Affine) -> np.ndarray:
    """Each zone's cell window, as rasterstats reads it: rows and columns from the floor
    to the ceiling of its bounds in cell units. Array (n_zones, 4): row_start, row_stop,
    col_start, col_stop (stops exclusive)."""
    xmin, ymin, xmax, ymax = shapely.bounds(geoms).T
    return np.column_stack([
        np.floor((ymax - transform.f) / transform.e),
        np.ceil((ymin - transform.f) / transform.e),
        np.floor((xmin - transform.c) / transform.a),
        np.ceil((xmax - transform.c) / transform.a),
    ]).astype(np.int64)


def _outside_windows(position: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                     windows: np.ndarray) -> np.ndarray:
    """True where cell (rows, cols) lies outside the zone window ``windows[position]``."""
    w = windows[position]
    return (rows < w[..., 0]) | (rows >= w[..., 1]) | (cols < w[..., 2]) | (cols >= w[..., 3])


def _prepare_strip(task: _StripTask, src: RasterSource, all_touched: bool) -> _Strip:
    """Label grid, contested claims and values of one strip.

    With ``all_touched``, GDAL also claims cells a zone touches only along a cell
    boundary on the right or bottom of its bounding box; rasterstats never sees those
    cells (they lie outside the window it reads for the zone), so neither do we.
    """
    window, hits = task.window, task.zones
    transform = src.transform
    row_off, rows, width = int(window.row_off), int(window.height), int(window.width)
    strip_transform = transform @ Affine.translation(0, row_off)
    position, contested = _claims(task.geoms, (rows, width), strip_transform, all_touched)
    extra_cells = extra_zones = np.empty(0, dtype=np.int64)
    if contested.any():
        extra_cells, extra_zones = _contested_claims(contested, task, transform, row_off, all_touched)
    if all_touched:
        cell_rows = np.arange(row_off, row_off + rows)[:, None]
        cell_cols = np.arange(width)[None, :]
        outside = _outside_windows(np.maximum(position, 1) - 1, cell_rows, cell_cols, task.windows)
        position[(position > 0) & outside] = 0
    data = src.read(window, reuse=True)  # the strip is reduced in this task
    labels, invalid = position.ravel(), np.ma.getmaskarray(data).ravel()
    nodata_cells = np.flatnonzero(invalid)
    nodata_cells = nodata_cells[labels[nodata_cells] > 0]
    nodata_zones = hits[labels[nodata_cells] - 1]
    np.putmask(labels, invalid, 0)
    return _Strip(
        labels=labels, zones=hits, values=np.ma.getdata(data).ravel(), invalid=invalid,
        nodata_cells=nodata_cells, nodata_zones=nodata_zones, extra_cells=extra_cells,
        extra_zones=extra_zones, row_off=row_off, width=width,
    )


#: Claims burnt together: zone k of a group burns ``(k + 1) * _CLAIM + 1``, added, so a cell's
#: value holds its number of claims in the low 16 bits and, claimed once, the zone above them.
_CLAIM = 2**16


def _claims(geoms: np.ndarray, shape: tuple[int, int], transform: Affine, all_touched: bool, *,
            group: int = _CLAIM - 1) -> tuple[np.ndarray, np.ndarray]:
    """Which of `geoms` claims each cell, from one additive burn per `group` zones (at most 65,535).

    Returns
    -------
    position : int32 array `shape`, 1 + the index in `geoms` of the one zone claiming the
        cell, 0 where none or several do.
    contested : bool array `shape`, claimed by more than one zone.

    Notes
    -----
    Zone k of a group of fewer than 2**16 zones burns the value (k + 1) 2**16 + 1 into an
    unsigned 32-bit grid with GDAL's additive merge. A cell's value modulo 2**16 is then its
    number of claims (fewer than 2**16), and a cell claimed once holds k + 1 in its upper bits.
    A sum past 2**32 needs two claims or more: GDAL saturates it at 2**32 - 1, whose low bits
    (65,535) still say "more than one", so the cell is contested as it should be.
    """
    shapes = geojson_shapes(geoms)
    position = claims = None
    for start in range(0, len(shapes), group):
        part = shapes[start:start + group]
        burnt = np.zeros(shape, dtype="uint32")
        rasterio.features.rasterize(zip(part, (np.arange(1, len(part) + 1) * _CLAIM + 1).tolist()), out=burnt,
                                    transform=transform, all_touched=all_touched,
                                    merge_alg=rasterio.features.MergeAlg.add)
        count = np.empty(shape, dtype="uint16")
        np.bitwise_and(burnt, _CLAIM - 1, out=count, casting="unsafe")
        zone = np.right_shift(burnt, 16, out=burnt).view("int32")  # k + 1 where claimed once
        if position is None:
            position, claims = zone, (count if len(shapes) <= group else count.astype("uint32"))
        else:
            claims += count
            np.copyto(position, zone + start, where=count == 1)
    contested = claims > 1
    if contested.any():
        position[contested] = 0
    return position, contested


def _contested_claims(contested, task: _StripTask, transform, row_off, all_touched):
    """Every (cell, zone) pair for cells more than one zone claims.

    Each candidate zone is rasterised alone, in the window rasterstats would read for
    it (origin at the floor of its bounds in cell units), so a cell on a shared edge goes
    to exactly the zones that claim it when rasterised one by one.
    """
    rows, cols = np.nonzero(contested)
    g_rows = rows + row_off
    px, py = abs(transform.a), abs(transform.e)
    xs, ys = transform @ (cols + 0.5, g_rows + 0.5)
    boxes = shapely.box(xs - px / 2, ys - py / 2, xs + px / 2, ys + py / 2)
    cell_idx, cand = shapely.STRtree(task.geoms).query(boxes)
    cells_out, zones_out = [], []
    order = np.argsort(cand, kind="stable")
    cell_idx, cand = cell_idx[order], cand[order]
    splits = np.flatnonzero(np.diff(cand)) + 1
    for cells, position in zip(np.split(cell_idx, splits), cand[np.r_[0, splits]]):
        r0, _, c0, _ = task.windows[position]
        cells = cells[~_outside_windows(position, g_rows[cells], cols[cells], task.windows)]
        if cells.size == 0:
            continue
        r_need, c_need = g_rows[cells], cols[cells]
        shape = (int(r_need.max() - r0 + 1), int(c_need.max() - c0 + 1))
        mask = rasterio.features.rasterize(
            [(task.geoms[position], 1)], out_shape=shape, transform=transform @ Affine.translation(c0, r0),
            fill=0, all_touched=all_touched, dtype="uint8",
        )
        claimed = mask[r_need - r0, c_need - c0] == 1
        width = contested.shape[1]
        cells_out.append(rows[cells][claimed].astype(np.int64) * width + cols[cells][claimed])
        zones_out.append(np.full(int(claimed.sum()), task.zones[position], dtype=np.int64))
    if not cells_out:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    return np.concatenate(cells_out), np.concatenate(zones_out)


def _runs(keys: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Starts and lengths of runs of equal `keys`, breaking at every row start too."""
    n = keys.size
    change = np.empty(n, dtype=bool)
    change[0] = True
    np.not_equal(keys[1:], keys[:-1], out=change[1:])
    change[::width] = True
    starts = np.flatnonzero(change)
    lengths = np.diff(np.append(starts, n))
    return starts, lengths


# --------------------------------------------------------------------------- reducers


def _moment_parts(strip: _Strip, *, stats: tuple[str, ...]) -> dict[str, Any]:
    """One strip's partial moments per zone (a task's result; merged by :class:`_Moments`).

    For each of the strip's zones (`zones`, the strip's own): its cell count, sum and, as
    `stats` need them, M2 (squared deviations from its mean in the strip), min and max, from
    the runs of cells of one zone and the contested cells; also the zones of nodata cells and,
    for medians and percentiles, each zone's values (`value_zones`, `values`) with the strip's
    last row (`strip_end`).
    """
    labels = strip.labels
    extra_ok = ~strip.invalid[strip.extra_cells]
    nodata_zones = np.concatenate([strip.nodata_zones, strip.extra_zones[~extra_ok]])
    values = strip.values
    starts, lengths = _runs(labels, strip.width)
    run_label = labels[starts]
    keep = run_label > 0
    sums = _run_sums(values, starts, lengths, strip.width)
    cells, zones = strip.extra_cells[extra_ok], strip.extra_zones[extra_ok]
    extra_values = values[cells].astype(np.float64)
    # every run, then every contested cell as a run of one, by position in strip.zones
    where = np.concatenate([run_label[keep] - 1, np.searchsorted(strip.zones, zones)])
    run_n = np.concatenate([lengths[keep], np.ones(zones.size, dtype=np.int64)])
    run_sum = np.concatenate([sums[keep], extra_values])
    k = strip.zones.size
    n = np.bincount(where, weights=run_n, minlength=k)
    total = np.bincount(where, weights=run_sum, minlength=k)
    parts = {"nodata_zones": nodata_zones, "zones": strip.zones, "n": n.astype(np.int64), "sum": total}
    if "std" in stats:
        m2 = np.concatenate([_run_sums(values, starts, lengths, strip.width, means=sums / lengths)[keep],
                             np.zeros(zones.size)])
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = total / n
        parts["m2"] = np.bincount(where, weights=m2 + run_n * (run_sum / run_n - mean[where]) ** 2, minlength=k)
    if "min" in stats:
        parts["min"] = np.full(k, np.inf)
        np.minimum.at(parts["min"], where, np.concatenate([np.minimum.reduceat(values, starts)[keep], extra_values]))
    if "max" in stats:
        parts["max"] = np.full(k, -np.inf)
        np.maximum.at(parts["max"], where, np.concatenate([np.maximum.reduceat(values, starts)[keep], extra_values]))
    if any(s == "median" or _PERCENTILE.match(s) for s in stats):
        parts.update(_zone_values(labels, strip.zones, values, cells, zones))
        parts["strip_end"] = strip.row_off + labels.size // strip.width
    return parts


def _run_sums(values: np.ndarray, starts: np.ndarray, lengths: np.ndarray, width: int, *,
              means: np.ndarray | None = None) -> np.ndarray:
    """Each run's sum of `values` in float64, or with `means` (one per run) its sum of squared
    deviations from its mean, computed 2**18 cells (whole rows) at a time.

    The float64 copy is made a few rows at a time so that it is small memory used again rather
    than a strip-sized block that the allocator maps fresh, and page-faults, for every strip.
    """
    out = np.empty(starts.size)
    rows = max(1, 2**18 // width)
    bounds = np.arange(0, values.size + rows * width, rows * width)
    first = np.searchsorted(starts, bounds)  # every row starts a run, so each chunk starts one
    for c0, c1, i0, i1 in zip(bounds[:-1], bounds[1:], first[:-1], first[1:]):
        if i0 == i1:
            continue
        chunk = values[c0:c1].astype(np.float64)
        if means is not None:
            chunk -= np.repeat(means[i0:i1], lengths[i0:i1])
            chunk *= chunk
        out[i0:i1] = np.add.reduceat(chunk, starts[i0:i1] - c0)
    return out


def _zone_values(labels, label_zones, values, extra_cells, extra_zones) -> dict[str, Any]:
    """The values of each zone in a strip: the zones (ascending) and one array of values each."""
    cells = np.flatnonzero(labels)
    zone = np.concatenate([label_zones[labels[cells] - 1], extra_zones])
    vals = np.concatenate([values[cells], values[extra_cells]])
    order = np.argsort(zone, kind="stable")
    zone, vals = zone[order], vals[order]
    bounds = np.flatnonzero(np.diff(zone)) + 1
    return {"value_zones": zone[np.r_[0, bounds]] if zone.size else np.empty(0, dtype=np.int64),
            "values": np.split(vals, bounds) if zone.size else []}


class _Moments:
    """Per-zone count, sum, min, max, M2 (for std) and kept values (for percentiles), merged
    from the strips' parts (:func:`_moment_parts`) in strip order."""

    def __init__(self, n_zones: int, stats: tuple[str, ...], last_rows: np.ndarray):
        self.n = n_zones
        self.need_std = "std" in stats
        self.need_min = "min" in stats
        self.need_max = "max" in stats
        self.quantiles = {s: _quantile_of(s) for s in stats if s == "median" or _PERCENTILE.match(s)}
        self.count = np.zeros(n_zones, dtype=np.int64)
        self.nodata = np.zeros(n_zones, dtype=np.int64)
        self.total = np.zeros(n_zones)
        self.m2 = np.zeros(n_zones)
        self.min = np.full(n_zones, np.inf)
        self.max = np.full(n_zones, -np.inf)
        self.last_rows = last_rows
        self.pieces: dict[int, list[np.ndarray]] = {}
        self.quantile_values = {s: np.full(n_zones, np.nan) for s in self.quantiles}

    def add(self, parts: dict[str, Any]) -> None:
        """Merge one strip's parts."""
        self.nodata += np.bincount(parts["nodata_zones"], minlength=self.n)
        self._merge(parts)
        if self.quantiles:
            for z, chunk in zip(parts["value_zones"], parts["values"]):
                self.pieces.setdefault(int(z), []).append(chunk)
            self._finish([z for z in self.pieces if self.last_rows[z] <= parts["strip_end"]])

    def _merge(self, parts: dict[str, np.ndarray]) -> None:
        """Chan et al.'s pairwise update of each zone's moments with the strip's."""
        z, n_new, s_new = parts["zones"], parts["n"], parts["sum"]
        if self.need_std:
            with np.errstate(invalid="ignore", divide="ignore"):
                n_old = self.count[z].astype(np.float64)
                delta = np.where((n_old > 0) & (n_new > 0), s_new / n_new - self.total[z] / n_old, 0.0)
                both = n_old + n_new
                cross = np.where(both > 0, delta * delta * n_old * n_new / np.where(both > 0, both, 1), 0.0)
            self.m2[z] += np.where(n_new > 0, parts["m2"], 0.0) + cross
        self.count[z] += n_new
        self.total[z] += s_new
        if self.need_min:
            self.min[z] = np.minimum(self.min[z], parts["min"])
        if self.need_max:
            self.max[z] = np.maximum(self.max[z], parts["max"])

    def _finish(self, zones) -> None:
        for z in zones:
            data = np.concatenate(self.pieces.pop(z)).astype(np.float64)
            for name, q in self.quantiles.items():
                self.quantile_values[name][z] = np.percentile(data, q)

    def table(self) -> pd.DataFrame:
        self._finish(list(self.pieces))
        has = self.count > 0
        with np.errstate(invalid="ignore", divide="ignore"):
            columns = {
                "count": self.count,
                "sum": np.where(has, self.total, np.nan),
                "mean": np.where(has, self.total / self.count, np.nan),
                "min": np.where(has, self.min, np.nan),
                "max": np.where(has, self.max, np.nan),
                "std": np.where(has, np.sqrt(np.maximum(self.m2, 0.0) / self.count), np.nan),
                "nodata_count": self.nodata,
            }
        columns.update(self.quantile_values)
        return pd.DataFrame(columns)


def _quantile_of(stat: str) -> float:
    return 50.0 if stat == "median" else float(_PERCENTILE.match(stat).group(1))


def _zone_last_rows(geoms: np.ndarray, transform: Affine) -> np.ndarray:
    """Index of the last raster row each zone can reach (from its bounding box)."""
    ymin = shapely.bounds(geoms)[:, 1]
    return np.floor((ymin - transform.f) / transform.e).astype(np.int64) + 1


def _label_stats(geoms, src: RasterSource, stats, all_touched, block_pixels) -> pd.DataFrame:
    moments = _Moments(len(geoms), stats, _zone_last_rows(geoms, src.transform))
    for parts in _strip_results(geoms, src, all_touched, block_pixels, partial(_moment_parts, stats=stats)):
        moments.add(parts)
    return moments.table()


def _class_area_parts(strip: _Strip, *, transform: Affine, crs: Any) -> dict[str, np.ndarray]:
    """One strip's area [m2] per (zone, class), as sorted keys ``zone << 32 | (code + 2**31)``
    and areas, and its nodata area per zone in two parts (owned and contested cells), as
    (zones, areas) arrays; a task's result, merged by :class:`_ClassAreas`."""
    rows = strip.labels.size // strip.width
    row_area = cell_area_m2(transform, crs, np.arange(strip.row_off, strip.row_off + rows))
    labels = strip.labels
    codes = strip.values.astype(np.int64)
    # a run ends where the zone or the class changes
    key = labels.astype(np.int64) << 32 | (codes + 2**31)
    starts, lengths = _runs(key, strip.width)
    keep = labels[starts] > 0
    run_keys = strip.zones[labels[starts][keep] - 1] << 32 | (key[starts][keep] & 0xFFFFFFFF)
    run_area = lengths[keep] * row_area[starts[keep] // strip.width]
    ok = ~strip.invalid[strip.extra_cells]
    cells, zones = strip.extra_cells[ok], strip.extra_zones[ok]
    extra_keys = zones << 32 | (codes[cells] + 2**31)
    all_keys = np.concatenate([run_keys, extra_keys])
    all_area = np.concatenate([run_area, row_area[cells // strip.width]])
    uniq, inverse = np.unique(all_keys, return_inverse=True)
    return {"keys": uniq, "areas": np.bincount(inverse, weights=all_area),
            "nodata_zones": strip.nodata_zones,
            "nodata_areas": row_area[strip.nodata_cells // strip.width],
            "contested_nodata_zones": strip.extra_zones[~ok],
            "contested_nodata_areas": row_area[strip.extra_cells[~ok] // strip.width]}


class _ClassAreas:
    """Per-zone, per-class area [m2] of a categorical raster, merged from the strips' parts
    (:func:`_class_area_parts`) in strip order."""

    def __init__(self, n_zones: int):
        self.n = n_zones
        self.keys: list[np.ndarray] = []
        self.areas: list[np.ndarray] = []
        self.nodata = np.zeros(n_zones)

    def add(self, parts: dict[str, np.ndarray]) -> None:
        """Merge one strip's parts."""
        self.nodata += np.bincount(parts["nodata_zones"], weights=parts["nodata_areas"], minlength=self.n)
        self.nodata += np.bincount(parts["contested_nodata_zones"], weights=parts["contested_nodata_areas"],
                                   minlength=self.n)
        self.keys.append(parts["keys"])
        self.areas.append(parts["areas"])

    def table(self, prefix: str) -> pd.DataFrame:
        if self.keys:
            keys = np.concatenate(self.keys)
            uniq, inverse = np.unique(keys, return_inverse=True)
            area = np.bincount(inverse, weights=np.concatenate(self.areas))
            zone = uniq >> 32
            code = (uniq & 0xFFFFFFFF) - 2**31
        else:
            zone = code = np.empty(0, dtype=np.int64)
            area = np.empty(0)
        codes = np.unique(code)
        wide = np.zeros((self.n, codes.size))
        wide[zone, np.searchsorted(codes, code)] = area
        table = pd.DataFrame(wide, columns=[f"{prefix}{c}" for c in codes])
        table[f"{prefix}nodata"] = self.nodata
        return table


# --------------------------------------------------------------------------- exactextract

_EXACTEXTRACT_OPS = {"count": "count", "sum": "sum", "mean": "mean", "min": "min", "max": "max",
                     "std": "stdev", "median": "median"}


def _exactextract_stats(geoms, src: RasterSource, stats) -> pd.DataFrame:
    try:
        from exactextract import exact_extract
        from exactextract.raster import NumPyRasterSource
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise InputError("engine='exactextract' needs the exactextract package.",
                         fix="pip install exactextract (or carbonmap[bench]).") from exc
    ops, names = [], []
    for s in stats:
        if s == "nodata_count":
            continue
        m = _PERCENTILE.match(s)
        ops.append(f"quantile(q={float(m.group(1)) / 100})" if m else _EXACTEXTRACT_OPS[s])
        names.append(s)
    if "count" not in names:
        ops.append("count")
        names.append("count")
    if src.array is not None:
        height, width = src.shape
        xmin, ymax = src.transform @ (0, 0)
        xmax, ymin = src.transform @ (width, height)
        rast = NumPyRasterSource(np.asarray(src.array), xmin, ymin, xmax, ymax,
                                 nodata=src.nodata, srs_wkt=src.crs.to_wkt())
    else:
        rast = src.path  # the file itself (src.name may describe an aligned copy)
    frame = gpd.GeoDataFrame({"zone": np.arange(len(geoms))}, geometry=list(geoms), crs=src.crs)
    result = exact_extract(rast, frame, ops, output="pandas", include_cols=["zone"])
    result = result.sort_values("zone").reset_index(drop=True)
    result.columns = ["zone", *names]
    table = result[names].astype(float)
    if "nodata_count" in stats:
        table["nodata_count"] = np.nan
    return table
