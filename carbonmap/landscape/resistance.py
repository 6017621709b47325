"""Resistance surface: the cost of moving through each cell, for corridors and circuits.

The base resistance of a cell is its land cover's value in the cited table
``carbonmap/data/coefficients/ecological_resistance.csv`` (by carbon category; a project can
override rows). Three optional modifiers multiply it:

.. math::

    R = R_{class} \\, (1 + s / s_0) \\, (1 + f_r e^{-d_r / D_r}) \\, (1 + f_b e^{-d_b / D_b})

with s the slope [degrees] (s_0: the slope that doubles the resistance), d_r and d_b the
distances [m] to the nearest road and built-up cell, f the extra resistance right next to
them and D the distance over which it fades. The modifiers' defaults are carbonmap
assumptions (:data:`DEFAULT_MODIFIERS`), written into every run's tables; set them for the
species or process the network is for.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage

from carbonmap.coefficients import ecological_resistance
from carbonmap.errors import InputError

__all__ = ["resistance_surface", "DEFAULT_MODIFIERS"]

#: Modifier parameters and their defaults (carbonmap assumptions, not from a source).
DEFAULT_MODIFIERS = {
    "slope_doubling_deg": 30.0,  # s_0: a 30 degree slope doubles the resistance
    "road_factor": 1.0,  # f_r: twice the resistance right next to a road
    "road_distance_m": 200.0,  # D_r
    "built_factor": 1.0,  # f_b
    "built_distance_m": 500.0,  # D_b
}


def resistance_surface(categories: np.ndarray, legend: list[str], resolution: float, *,
                       slope_deg: np.ndarray | None = None, roads: np.ndarray | None = None,
                       table: pd.Series | None = None, modifiers: dict | None = None) -> np.ndarray:
    """Resistance of every cell (float64; inf where the land cover is nodata).

    Parameters
    ----------
    categories : int array, index into `legend` per cell (-1 = nodata), as from
        ``carbonmap.landuse.classify_raster(codes, system, "carbon_category")``
    legend : carbon category of each index
    resolution : cell size [m]
    slope_deg : optional slope raster [degrees] on the same grid
    roads : optional bool raster of road cells on the same grid
    table : optional resistance per carbon category (default: the cited table)
    modifiers : optional overrides of :data:`DEFAULT_MODIFIERS`
    """
    table = ecological_resistance() if table is None else table
    params = {**DEFAULT_MODIFIERS, **(modifiers or {})}
    unknown = sorted(set(params) - set(DEFAULT_MODIFIERS))
    if unknown:
        raise InputError(f"unknown resistance modifier(s): {', '.join(unknown)}.",
                         fix=f"use {', '.join(DEFAULT_MODIFIERS)}.")
    missing = [c for c in legend if c not in table.index]
    if missing:
        raise InputError(f"no resistance for carbon categories {', '.join(missing)}.", field="carbon_category",
                         fix="add rows to the resistance table.")
    lut = np.append(table.loc[legend].to_numpy(dtype=float), np.inf)  # index -1 -> inf
    resistance = lut[categories]
    if slope_deg is not None:
        resistance = resistance * (1 + np.nan_to_num(np.asarray(slope_deg, float)) / params["slope_doubling_deg"])
    built_legend = [i for i, c in enumerate(legend) if c.startswith("built")]
    built = np.isin(categories, built_legend)
    for mask, factor, scale in ((roads, params["road_factor"], params["road_distance_m"]),
                                (built if built.any() else None, params["built_factor"], params["built_distance_m"])):
        if mask is None or not np.any(mask) or factor == 0:
            continue
        distance = ndimage.distance_transform_edt(~np.asarray(mask, bool)) * resolution
        resistance = resistance * (1 + factor * np.exp(-distance / scale))
    return resistance
