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

from carbonmap.coefficients import ecological_resistance, network_settings
from carbonmap.errors import InputError

__all__ = ["resistance_surface", "DEFAULT_MODIFIERS"]

#: Modifier parameters and their defaults (carbonmap assumptions: the ``modifier_*`` rows of
#: ``network_settings.csv``): s_0 (a 30 degree slope doubles the resistance), f_r and D_r (twice
#: the resistance next to a road, decaying over 200 m), f_b and D_b (built-up land, over 500 m).
DEFAULT_MODIFIERS = {name.removeprefix("modifier_"): value for name, value in network_settings().items()
                     if name.startswith("modifier_")}


def resistance_surface(categories: np.ndarray, legend: list[str], resolution: float, *,
                       slope_deg: np.ndarray | None = None, roads: np.ndarray | None = None,
                       table: pd.Series | None = None, modifiers: dict | None = None) -> np.ndarray:
    r"""Resistance of every cell to movement, for corridors and circuits.

    Parameters
    ----------
    categories : array (H, W) of int
        Index into `legend` per cell (-1 = nodata), as from
        ``carbonmap.landuse.classify_raster(codes, system, column="carbon_category")``.
    legend : list of str
        Carbon category of each index.
    resolution : float [m]
        Cell size.
    slope_deg : array (H, W) [degrees], optional
        Slope on the same grid.
    roads : array (H, W) of bool, optional
        Road cells on the same grid.
    table : Series [-], optional
        Resistance per carbon category (relative cost per metre; default the cited table,
        :func:`carbonmap.coefficients.ecological_resistance`).
    modifiers : dict, optional
        Overrides of :data:`DEFAULT_MODIFIERS`.

    Returns
    -------
    ndarray (H, W) of float64 [-]
        Relative resistance; inf where the land cover is nodata.

    Raises
    ------
    InputError
        For unknown modifiers or carbon categories without a resistance.

    Notes
    -----
    .. math::

        R = R_{class} \, (1 + s / s_0) \, (1 + f_r e^{-d_r / D_r}) \, (1 + f_b e^{-d_b / D_b})

    with s the slope [degrees] (:math:`s_0` the slope that doubles the resistance),
    :math:`d_r` and :math:`d_b` the distances [m] to the nearest road and built-up cell, f the
    extra resistance right next to them and D the distance over which it fades. The modifiers'
    defaults are carbonmap assumptions, not taken from a source.

    References
    ----------
    .. [1] Yu K. (1996). Security patterns and surface model in landscape ecological planning.
       Landscape and Urban Planning 36: 1-17.
    .. [2] Peng J., Yang Y., Liu Y., et al. (2018). Linking ecosystem services and circuit theory
       to identify ecological security patterns. Science of the Total Environment 644: 781-790.
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
