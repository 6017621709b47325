"""Ecological land: its patches as polygons, its metrics per planning unit, hot-spot maps.

Planners follow *ecological land* (forest, shrub, grassland, wetland, water: the
``ecological`` flag of :mod:`carbonmap.landuse`, or classes they choose) as it shrinks and
breaks apart. This module

- delineates its patches, class by class, as polygons with their FRAGSTATS attributes
  (:func:`ecological_patches`);
- measures its fragmentation within each planning unit (:func:`unit_metrics`), on the
  binary map ecological / other land;
- maps fragmentation hot spots with a moving window (:func:`moving_window`): the share of
  ecological land, or the density of its edge with other land, within a radius of each
  cell.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import ndimage, signal

from carbonmap.errors import EmptyInputError, InputError
from carbonmap.grid import map_windows
from carbonmap.io import open_raster
from carbonmap.landscape.metrics import fragstats
from carbonmap.landscape.patches import Landscape, patch_polygons, prepare

__all__ = ["ecological_patches", "binary_landscape", "unit_metrics", "moving_window", "moving_window_raster",
           "UNIT_METRICS", "WINDOW_METRICS"]

#: Per-unit columns: FRAGSTATS metric of the ecological class (or the landscape, SHDI) -> column.
UNIT_METRICS = {
    "PLAND": "eco_pland_pct", "NP": "eco_np", "PD": "eco_pd_per_100ha", "LPI": "eco_lpi_pct",
    "ED": "eco_ed_m_ha", "MESH": "eco_mesh_ha", "DIVISION": "eco_division", "AI": "eco_ai_pct",
    "COHESION": "eco_cohesion_pct", "SHDI": "shdi",
}
#: Moving-window metrics and their units.
WINDOW_METRICS = {"PLAND": "%", "ED": "m/ha"}


def ecological_patches(land, classes: np.ndarray, *, min_area_ha: float = 0.0,
                       edge_depth_m: float | None = None, names: dict | None = None) -> gpd.GeoDataFrame:
    """Patches of the chosen classes as polygons with their patch metrics.

    Parameters
    ----------
    land : Landscape or TiledLandscape
        A georeferenced landscape (:func:`carbonmap.landscape.read_landscape`, or
        :func:`carbonmap.landscape.read_tiled_landscape` to keep it in its file).
    classes : array of int
        Class indices of the patches to draw (:func:`carbonmap.landscape.select_classes`).
    min_area_ha : float [ha]
        Patches smaller than this are left out of the layer (they still count as neighbours
        for ``enn_m``, which is FRAGSTATS' ENN over all patches of the class).
    edge_depth_m : float [m], optional
        Edge depth for the core area (default one cell).
    names : dict, optional
        Class code -> class name, for a ``class_name`` column.

    Returns
    -------
    GeoDataFrame
        ``patch_id``, ``class``, [``class_name``], ``area_ha`` [ha], ``perimeter_m`` [m],
        ``shape_index`` [-], ``fractal_dimension`` [-], ``core_area_ha`` [ha], ``enn_m`` [m]
        and the geometry; sorted by area, largest first.

    Notes
    -----
    The metrics are FRAGSTATS' AREA, PERIM, SHAPE, FRAC, CORE and ENN
    (:func:`carbonmap.landscape.fragstats`; definitions in :mod:`carbonmap.landscape.metrics`).

    References
    ----------
    .. [1] McGarigal K., Cushman S. A., Ene E. (2023). FRAGSTATS v4: Spatial Pattern Analysis
       Program for Categorical Maps. University of Massachusetts, Amherst. https://www.fragstats.org
    """
    metrics = fragstats(land, metrics=["AREA", "PERIM", "SHAPE", "FRAC", "CORE", "ENN"],
                        edge_depth_m=edge_depth_m).patch
    keep = np.isin(land.patch_class[1:], classes) & (metrics["AREA"].to_numpy() >= min_area_ha)
    table = metrics[keep].rename(columns={"PID": "patch_id", "AREA": "area_ha", "PERIM": "perimeter_m",
                                          "SHAPE": "shape_index", "FRAC": "fractal_dimension",
                                          "CORE": "core_area_ha", "ENN": "enn_m"})
    if names is not None:
        table.insert(2, "class_name", table["class"].map(names))
    polygons = patch_polygons(land, table["patch_id"].to_numpy())
    out = polygons.merge(table, on="patch_id", how="inner")
    columns = [*table.columns, "geometry"]
    return gpd.GeoDataFrame(out[columns], crs=polygons.crs).sort_values("area_ha", ascending=False, kind="stable",
                                                                         ignore_index=True)


def binary_landscape(land: Landscape, classes: np.ndarray) -> Landscape:
    """The same grid with two classes: 1 = the chosen (ecological) classes, 2 = other land."""
    data = np.where(np.isin(land.index, classes), 1, 2).astype(np.uint8)
    outside = land.index == land.n_classes
    return prepare(np.ma.MaskedArray(data, mask=outside), land.resolution, neighbours=land.neighbours,
                   transform=land.transform, crs=land.crs)


def unit_metrics(land, classes: np.ndarray, zones: np.ndarray, n_zones: int) -> pd.DataFrame:
    r"""Fragmentation of ecological land within each planning unit.

    Parameters
    ----------
    land : Landscape or TiledLandscape
        The land cover, prepared (:func:`carbonmap.landscape.prepare`), or in its file
        (:func:`carbonmap.landscape.read_tiled_landscape`: each unit's box is read from it).
    classes : array of int
        Class indices counted as ecological land.
    zones : array (H, W) of int
        Unit number 0..n_zones-1 of each cell, -1 outside every unit (e.g. the units
        rasterised on the landscape's grid).
    n_zones : int
        Number of units.

    Returns
    -------
    DataFrame
        Indexed 0..n_zones-1, the columns of :data:`UNIT_METRICS`, the run's summary columns:
        ``eco_pland_pct`` [%], ``eco_np`` [patches], ``eco_pd_per_100ha`` [patches per 100 ha],
        ``eco_lpi_pct`` [%], ``eco_ed_m_ha`` [m/ha], ``eco_mesh_ha`` [ha], ``eco_division``
        [-], ``eco_ai_pct`` [%], ``eco_cohesion_pct`` [%] and ``shdi`` [-]. Units without land
        get NaN; units without ecological land PLAND 0, NP 0, DIVISION 1.

    Notes
    -----
    Class metrics of ecological land on the binary map ecological / other land within the
    unit, and SHDI of all classes, as a FRAGSTATS run on the unit clipped out (its edge with
    its neighbours is landscape boundary). With a = cell count, A = the unit's cells, TA its
    area [ha], and :math:`a_j` the patches of ecological land:

    .. math::

        PLAND = 100 \frac{\sum_j a_j}{A}, \quad PD = 100 \frac{NP}{TA}, \quad
        LPI = 100 \frac{\max_j a_j}{A}, \quad ED = \frac{TE}{TA},

        DIVISION = 1 - \sum_j \left(\frac{a_j}{A}\right)^2, \quad
        MESH = \frac{\sum_j a_j^2}{A} \, \frac{r^2}{10^4}, \quad
        SHDI = -\sum_k P_k \ln P_k

    with TE the edge between ecological and other land [m], and AI and COHESION as defined in
    :mod:`carbonmap.landscape.metrics`.

    References
    ----------
    .. [1] McGarigal K., Cushman S. A., Ene E. (2023). FRAGSTATS v4: Spatial Pattern Analysis
       Program for Categorical Maps. University of Massachusetts, Amherst. https://www.fragstats.org
    """
    rows = []
    # each unit's box, all units in one pass: the work is the boxes' areas, not units x grid
    boxes = ndimage.find_objects(np.where(zones >= 0, zones + 1, 0), max_label=n_zones)
    for z, box in enumerate(boxes):
        row = dict.fromkeys(UNIT_METRICS.values(), np.nan)
        index = land.index_window(*box) if box is not None else np.zeros((0, 0), dtype=np.uint8)
        inside = (zones[box] == z) & (index < land.n_classes) if box is not None else index.astype(bool)
        cells = np.nonzero(inside)
        if cells[0].size:
            r0, r1, c0, c1 = cells[0].min(), cells[0].max() + 1, cells[1].min(), cells[1].max() + 1
            index, window = index[r0:r1, c0:c1], ~inside[r0:r1, c0:c1]
            binary = np.where(np.isin(index, classes), 1, 2).astype(np.uint8)
            part = prepare(np.ma.MaskedArray(binary, mask=window), land.resolution, neighbours=land.neighbours)
            eco = np.flatnonzero(part.classes == 1)
            wanted = [m for m in UNIT_METRICS if m != "SHDI"]
            metrics = fragstats(part, metrics=wanted).class_
            if eco.size:
                row.update({UNIT_METRICS[m]: float(metrics.loc[eco[0], m]) for m in wanted})
            else:
                row.update({"eco_pland_pct": 0.0, "eco_np": 0.0, "eco_pd_per_100ha": 0.0, "eco_lpi_pct": 0.0,
                            "eco_ed_m_ha": 0.0, "eco_mesh_ha": 0.0, "eco_division": 1.0})
            full = prepare(np.ma.MaskedArray(index, mask=window), land.resolution, neighbours=land.neighbours)
            row["shdi"] = float(fragstats(full, metrics=["SHDI"]).landscape.loc[0, "SHDI"])
        rows.append(row)
    return pd.DataFrame(rows)


def moving_window(land: Landscape, classes: np.ndarray, *, metric: str = "ED", radius_m: float = 500.0
                  ) -> np.ma.MaskedArray:
    r"""A raster of ecological-land `metric` within `radius_m` of each cell: fragmentation hot spots.

    Parameters
    ----------
    land : Landscape
        The land cover, prepared.
    classes : array of int
        Class indices counted as ecological land.
    metric : {'PLAND', 'ED'}
        PLAND [%]: share of the window's landscape cells that are ecological. ED [m/ha]:
        length of edge between ecological and other land inside the window (each side
        counted once, by the cells on both sides sharing it) per hectare of the window's
        landscape. Nodata cells are left out of the window.
    radius_m : float [m]
        Window radius; cells whose centres are within it form the window (at least one cell).

    Returns
    -------
    masked array (H, W) of float32 [% or m/ha]
        On the landscape's grid; nodata cells masked.

    Raises
    ------
    InputError
        For an unknown metric or a radius smaller than a cell.
    EmptyInputError
        When the landscape has no valid cell.

    Notes
    -----
    For the circular window W(x) of cell x, with e the ecological cells and r the cell size:

    .. math::

        PLAND(x) = 100 \frac{|W(x) \cap e|}{|W(x)|}, \qquad
        ED(x) = \frac{r \sum_{c \in W(x)} s_c / 2}{|W(x)| \, r^2 / 10^4}

    with :math:`s_c` the sides of cell c between ecological and other land: FRAGSTATS' class
    metrics on its moving-window option.

    References
    ----------
    .. [1] McGarigal K., Cushman S. A., Ene E. (2023). FRAGSTATS v4: Spatial Pattern Analysis
       Program for Categorical Maps. University of Massachusetts, Amherst. https://www.fragstats.org
    """
    reach = _window_reach(metric, radius_m, land.resolution)
    inside = land.index < land.n_classes
    if not inside.any():
        raise EmptyInputError("the landscape has no valid cell.", fix="check the land-cover raster.")
    eco = np.isin(land.index, classes) & inside
    return _window_values(eco, inside, metric=metric, reach=reach, resolution=land.resolution)


def moving_window_raster(landcover: str | os.PathLike, codes, out: str | os.PathLike, *, metric: str = "ED",
                         radius_m: float = 500.0, tags: dict[str, str] | None = None,
                         block_pixels: int = 2**22) -> Path:
    """:func:`moving_window` of the land cover's `codes` (ecological land) computed window by window
    of the raster `landcover` (a COG on the analysis grid) into the COG `out` [% or m/ha; NaN = nodata].

    Each window of :func:`carbonmap.grid.map_windows` (a task: threads, or the workers of a dask
    cluster) reads its rows with a halo of the radius plus one cell (a side at the window's edge
    needs the cell beyond it), so the raster equals :func:`moving_window` on the whole land cover,
    cell for cell, without the whole grid in memory. `block_pixels`: cells per window.
    """
    with open_raster(landcover) as src:
        resolution = abs(src.transform.a)
    reach = _window_reach(metric, radius_m, resolution)
    function = partial(_window_of_codes, codes=np.asarray(codes), metric=metric, reach=reach, resolution=resolution)
    return map_windows(function, {"landcover": landcover}, out, nodata=float("nan"), halo=int(np.floor(reach)) + 1,
                       resampling="average", tags=tags, block_pixels=block_pixels)


def _window_of_codes(landcover: np.ma.MaskedArray, *, codes: np.ndarray, metric: str, reach: float,
                     resolution: float) -> np.ma.MaskedArray:
    """One window of :func:`moving_window_raster`: the land cover's codes in, the metric out."""
    inside = ~np.ma.getmaskarray(landcover)
    return _window_values(np.isin(np.ma.getdata(landcover), codes) & inside, inside, metric=metric, reach=reach,
                          resolution=resolution)


def _window_reach(metric: str, radius_m: float, resolution: float) -> float:
    """The window radius in cells, once the metric and the radius are checked."""
    if metric not in WINDOW_METRICS:
        raise InputError(f"unknown moving-window metric {metric!r}.", fix=f"use one of {', '.join(WINDOW_METRICS)}.")
    reach = radius_m / resolution
    if reach < 1:
        raise InputError(f"the window radius ({radius_m} m) is smaller than a cell ({resolution} m).",
                         fix="give a radius of several cells.")
    return reach


def _window_values(eco: np.ndarray, inside: np.ndarray, *, metric: str, reach: float, resolution: float
                   ) -> np.ma.MaskedArray:
    """The moving-window metric (:func:`moving_window`) of the ecological cells `eco` among the
    landscape's cells `inside` (both (H, W) bool), beyond the array counted as outside."""
    half = int(np.floor(reach))
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1]
    kernel = (yy * yy + xx * xx <= reach * reach).astype(np.float64)
    valid_cells = _window_sum(inside.astype(np.float64), kernel)
    if metric == "PLAND":
        value = _window_sum(eco.astype(np.float64), kernel) / np.maximum(valid_cells, 1) * 100
    else:
        # half of each ecological/other side to each of its two cells
        sides = np.zeros(eco.shape)
        for a, b, sa, sb in ((eco[:, :-1], eco[:, 1:], np.s_[:, :-1], np.s_[:, 1:]),
                             (eco[:-1], eco[1:], np.s_[:-1], np.s_[1:])):
            both = inside[sa] & inside[sb] & (a != b)
            sides[sa] += 0.5 * both
            sides[sb] += 0.5 * both
        edge_m = _window_sum(sides, kernel) * resolution
        value = edge_m / np.maximum(valid_cells * resolution**2 / 1e4, 1e-12)
    return np.ma.MaskedArray(value.astype(np.float32), mask=~inside)


def _window_sum(values: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Sum of `values` over the kernel around each cell (zero beyond the raster), by FFT
    (overlap-add, bounded memory);
    rounded to remove FFT noise on counts."""
    out = signal.oaconvolve(values, kernel, mode="same")
    return np.round(out, 6)
