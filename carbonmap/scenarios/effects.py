"""What a scenario's land-cover changes do, per planning unit, against the baseline map.

For the cells whose class changes (c -> c'), with cell area a [ha]:

- **stocks** (with a carbon-pool table): ΔC = sum a (C_total(c') - C_total(c)) [t C], the
  pool densities of :mod:`carbonmap.stocks` (InVEST's method);
- **land sinks and sources**: ΔS = sum a (R(c') - R(c)) and ΔE = sum a (F(c') - F(c))
  [t CO2/yr], with R and F the per-hectare removal and emission coefficients of
  ``landuse_carbon_coefficients.csv`` (class rows before category rows, as for parcels);
- **built-up land**: Δ built-up area [km2] times the unit's current built-up emission intensity
  [t CO2/km2/yr]: new built-up land is assumed to emit as the unit's built-up land does now,
  and built-up land that is restored stops emitting at that rate;
- **fragmentation** of ecological land: the per-unit metrics of
  :func:`carbonmap.landscape.unit_metrics` on the scenario's map.

Comparing the baseline map with itself gives zeros exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from carbonmap.coefficients import landuse_coefficients
from carbonmap.emissions import BUILT_PREFIX
from carbonmap.landuse import classify

__all__ = ["class_rates", "convert", "land_effects"]


def class_rates(codes, system: str, *, coefficients: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per-hectare emission and removal of each land-cover code, and whether it is built-up.

    Parameters
    ----------
    codes : iterable of int (n,)
        Land-cover codes of `system`.
    system : str
        Their code system.
    coefficients : DataFrame, optional
        Per-hectare coefficients (default the packaged
        :func:`carbonmap.coefficients.landuse_coefficients`); class rows before category rows,
        as for parcels.

    Returns
    -------
    DataFrame
        Indexed by ``code``: ``emission_co2_t_ha_yr`` and ``removal_co2_t_ha_yr``
        [t CO2/ha/yr], ``builtup`` (built-up land has no coefficient: its emissions come from
        the inventory).

    References
    ----------
    .. [1] Zhao R., Huang X., Peng B. (2012). Research on carbon emission intensity and carbon
       footprint of different industrial spaces in China. Acta Geographica Sinica 67(10).

    Examples
    --------
    >>> rates = class_rates([20, 50], "esa_worldcover")  # shrubland, built-up
    >>> rates["removal_co2_t_ha_yr"].round(2).tolist(), rates["builtup"].tolist()
    ([2.13, 0.0], [False, True])
    """
    from carbonmap.emissions import coefficient_fluxes

    codes = pd.Series(np.asarray(codes)).astype(str)
    classes = classify(codes, system)
    coefficients = landuse_coefficients() if coefficients is None else coefficients
    fluxes = coefficient_fluxes(classes["carbon_category"], np.ones(len(codes)), coefficients, codes=classes["code"],
                                system=system)
    return pd.DataFrame({"emission_co2_t_ha_yr": fluxes["coef_emission_co2_t_yr"].to_numpy(),
                         "removal_co2_t_ha_yr": fluxes["coef_removal_co2_t_yr"].to_numpy(),
                         "builtup": classes["carbon_category"].str.startswith(BUILT_PREFIX).to_numpy()},
                        index=pd.Index(np.asarray(codes.astype(int)), name="code"))


def _per_unit(values: np.ndarray, units: np.ndarray, n_units: int) -> np.ndarray:
    inside = units >= 0
    return np.bincount(units[inside], weights=values[inside], minlength=n_units)[:n_units]


def land_effects(before: np.ma.MaskedArray, after: np.ma.MaskedArray, system: str, units: np.ndarray,
                 n_units: int, cell_ha: float, *, builtup_intensity: np.ndarray, pools: pd.DataFrame | None = None,
                 coefficients: pd.DataFrame | None = None) -> pd.DataFrame:
    r"""Per-unit effects of changing the land cover `before` into `after`.

    Parameters
    ----------
    before, after : masked array (H, W) of int
        Land-cover codes on one grid (masked = no data).
    system : str
        Their code system.
    units : array (H, W) of int
        Planning-unit index per cell (-1 outside).
    n_units : int
        Number of units.
    cell_ha : float [ha]
        Cell area.
    builtup_intensity : array (n_units,) [t CO2/km2/yr]
        Current built-up emission intensity of each unit (NaN: 0).
    pools : DataFrame, optional
        Carbon-pool table (:func:`carbonmap.stocks.read_pools`) [t C/ha], for stock changes.
    coefficients : DataFrame, optional
        Per-hectare coefficients (default the packaged table).

    Returns
    -------
    DataFrame
        Indexed 0..n_units-1: ``converted_ha`` [ha], ``builtup_change_km2`` [km2],
        ``land_source_change_co2_t_yr``, ``land_sink_change_co2_t_yr`` and
        ``builtup_source_change_co2_t_yr`` [t CO2/yr] and, with pools, ``stock_change_t_c``
        [t C].

    Notes
    -----
    Over the cells of a unit whose class changes (c -> c'), with cell area a:

    .. math::

        \Delta C = \sum a \, (C(c') - C(c)), \quad
        \Delta S = \sum a \, (R(c') - R(c)), \quad
        \Delta E = \sum a \, (F(c') - F(c)), \quad
        \Delta E_{built} = \Delta B \, I_u

    with C the total pool density, R and F the removal and emission coefficients
    (:func:`class_rates`), :math:`\Delta B` the change of built-up area [km2] and :math:`I_u` the
    unit's built-up intensity: new built-up land emits as the unit's built-up land does now.
    Comparing a map with itself gives zeros exactly.

    References
    ----------
    .. [1] Sharp, R., et al. (2024). InVEST User's Guide: Carbon Storage and Sequestration. The
       Natural Capital Project, Stanford University.
    .. [2] Zhao R., Huang X., Peng B. (2012). Research on carbon emission intensity and carbon
       footprint of different industrial spaces in China. Acta Geographica Sinica 67(10).
    """
    valid = ~np.ma.getmaskarray(before) & ~np.ma.getmaskarray(after)
    a, b = np.ma.getdata(before), np.ma.getdata(after)
    changed = valid & (a != b)
    codes = np.unique(np.concatenate([a[valid], b[valid]]))
    rates = class_rates(codes, system, coefficients=coefficients)
    index_a = np.searchsorted(codes, a[changed])
    index_b = np.searchsorted(codes, b[changed])
    unit = units[changed]

    def delta(column):
        values = rates[column].to_numpy(dtype=float)
        return _per_unit((values[index_b] - values[index_a]) * cell_ha, unit, n_units)

    builtup_km2 = delta("builtup") / 100.0
    out = pd.DataFrame({
        "converted_ha": _per_unit(np.full(unit.size, cell_ha), unit, n_units),
        "builtup_change_km2": builtup_km2,
        "land_source_change_co2_t_yr": delta("emission_co2_t_ha_yr"),
        "land_sink_change_co2_t_yr": delta("removal_co2_t_ha_yr"),
        "builtup_source_change_co2_t_yr": builtup_km2 * np.nan_to_num(np.asarray(builtup_intensity, dtype=float)),
    })
    if pools is not None:
        from carbonmap.stocks import pool_densities

        density = pool_densities(np.ma.MaskedArray(np.concatenate([a[changed], b[changed]]), mask=False), pools)
        total = np.ma.getdata(density["total"]).astype(float)
        out["stock_change_t_c"] = _per_unit((total[unit.size:] - total[:unit.size]) * cell_ha, unit, n_units)
    return out


def convert(landcover: np.ma.MaskedArray, mask: np.ndarray, to_code: int, *, only_from=None) -> np.ma.MaskedArray:
    """The land cover with the cells of `mask` set to `to_code`.

    Parameters
    ----------
    landcover : masked array (H, W) of int
        Land-cover codes (masked = no data, never converted).
    mask : array (H, W) of bool
        Cells to convert.
    to_code : int
        The new code.
    only_from : iterable of int, optional
        Convert only cells of these codes.

    Returns
    -------
    masked array (H, W) of int
        A copy; the mask is kept.

    Examples
    --------
    >>> landcover = np.ma.MaskedArray([[1, 1, 2], [2, 3, 3]], mask=[[0, 0, 0], [0, 0, 1]])
    >>> convert(landcover, np.ones((2, 3), bool), 9, only_from=[2]).tolist()
    [[1, 1, 9], [9, 3, None]]
    """
    data = np.ma.getdata(landcover).copy()
    valid = ~np.ma.getmaskarray(landcover)
    cells = mask & valid
    if only_from is not None:
        cells &= np.isin(data, list(only_from))
    data[cells] = to_code
    return np.ma.MaskedArray(data, mask=~valid)
