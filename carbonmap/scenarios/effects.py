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
    """Per-hectare emission and removal [t CO2/ha/yr] of each land-cover code, and whether it is
    built-up (built-up land has no coefficient: its emissions come from the inventory)."""
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
    """Per-unit effects of changing `before` into `after` (module docstring).

    Parameters
    ----------
    before, after : land-cover codes on one grid (masked = no data)
    units : (H, W) planning-unit index per cell (-1 outside); n_units : their number
    cell_ha : cell area [ha]
    builtup_intensity : (n_units,) current built-up emission intensity [t CO2/km2/yr] (NaN: 0)
    pools : carbon-pool table (:func:`carbonmap.stocks.read_pools`), for stock changes

    Returns
    -------
    DataFrame indexed 0..n_units-1: ``converted_ha``, ``builtup_change_km2``,
    ``land_source_change_co2_t_yr``, ``land_sink_change_co2_t_yr``,
    ``builtup_source_change_co2_t_yr`` and, with pools, ``stock_change_t_c``.
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
    """`landcover` with the valid cells of `mask` (of the classes `only_from`, when given) set to
    `to_code`."""
    data = np.ma.getdata(landcover).copy()
    valid = ~np.ma.getmaskarray(landcover)
    cells = mask & valid
    if only_from is not None:
        cells &= np.isin(data, list(only_from))
    data[cells] = to_code
    return np.ma.MaskedArray(data, mask=~valid)
