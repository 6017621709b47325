"""A scenario against the baseline, per planning unit: sources, sinks, net, and their change.

For unit u, base-year sources by sector :math:`E_{u,s}`, sink :math:`S_u`, a scenario's one-off
sector changes :math:`m_s` [%], the land effects of its land-cover changes (land sources
:math:`\\Delta E^{land}_u`, built-up sources :math:`\\Delta E^{built}_u`, land sinks
:math:`\\Delta S^{land}_u`, from :func:`carbonmap.scenarios.land_effects`) and the emissions
avoided by rooftop PV :math:`A_u`, the scenario *fully in place* gives

.. math::

    E'_u = \\sum_s E_{u,s} (1 + m_s / 100) + \\Delta E^{land}_u + \\Delta E^{built}_u - A_u

    S'_u = S_u + \\Delta S^{land}_u, \\qquad N'_u = E'_u - S'_u

and the change against the baseline row of the same unit, absolute and relative to the
baseline's magnitude. Its trajectory to 2060 is :func:`carbonmap.scenarios.trajectory`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["scenario_rows", "planting_adjustment", "relative_to_baseline", "citywide"]


def scenario_rows(sources: pd.DataFrame, sinks: pd.Series, effects: pd.DataFrame, *,
                  sector_change_pct: dict[str, float], avoided: pd.Series) -> pd.DataFrame:
    """Per-unit sources, sinks and net [t CO2/yr] of a scenario fully in place (module docstring).

    Parameters
    ----------
    sources : units x sectors [t CO2/yr], the base year
    sinks : per unit [t CO2/yr], the base year
    effects : per-unit land effects (:func:`carbonmap.scenarios.land_effects`), indexed by unit id
    sector_change_pct : one-off change by sector, or ``all`` [%]
    avoided : emissions avoided by rooftop PV per unit [t CO2/yr]

    Returns
    -------
    ``source_co2_t_yr``, ``sink_co2_t_yr``, ``net_co2_t_yr``, ``avoided_co2_t_yr`` and the
    columns of `effects`, indexed as `effects`.
    """
    scaled = sources.copy()
    for sector in scaled.columns:
        scaled[sector] = sources[sector] * (1 + sector_change_pct.get(sector, sector_change_pct.get("all", 0.0))
                                            / 100.0)
    land_source = effects["land_source_change_co2_t_yr"] + effects["builtup_source_change_co2_t_yr"]
    rows = pd.DataFrame(index=effects.index)
    rows["source_co2_t_yr"] = scaled.sum(axis=1) + land_source - avoided
    rows["sink_co2_t_yr"] = sinks.reindex(effects.index).fillna(0.0) + effects["land_sink_change_co2_t_yr"]
    rows["net_co2_t_yr"] = rows["source_co2_t_yr"] - rows["sink_co2_t_yr"]
    rows["avoided_co2_t_yr"] = avoided
    for column in effects.columns:
        rows[column] = effects[column]
    return rows


def planting_adjustment(sites: pd.DataFrame, removal_co2_t_ha_yr: float, units: pd.Index) -> pd.Series:
    r"""The sink of planted sites at their growth curve instead of a mature stand's coefficient [t CO2/yr].

    Planted sites sink what their growth curve gives on average over the screening horizon
    (young stands, ``sink_t_co2_yr`` of each site), while :func:`carbonmap.scenarios.land_effects`
    credits their new class's coefficient: per unit,
    :math:`\sum_{sites} (sink_i - R \, a_i)`, with R the class's removal [t CO2/ha/yr] and
    :math:`a_i` the site's area [ha].

    Parameters
    ----------
    sites : DataFrame
        The planted sites: ``unit_id``, ``area_ha`` [ha], ``sink_t_co2_yr`` [t CO2/yr].
    removal_co2_t_ha_yr : float [t CO2/ha/yr]
        The planted class's removal coefficient.
    units : Index
        The unit ids of the result (0 where nothing is planted).

    Returns
    -------
    Series [t CO2/yr]
        Indexed by `units`.
    """
    per_unit = sites.groupby("unit_id")[["sink_t_co2_yr", "area_ha"]].sum()
    adjustment = per_unit["sink_t_co2_yr"] - removal_co2_t_ha_yr * per_unit["area_ha"]
    return adjustment.reindex(units).fillna(0.0)


def relative_to_baseline(table: pd.DataFrame) -> pd.DataFrame:
    """Add each scenario's change of sources, sinks and net against the baseline row of the same
    unit: ``change_<x>_co2_t_yr`` [t CO2/yr] and ``change_rel_<x>_pct`` [% of the baseline's
    magnitude; NaN where the baseline is 0]."""
    base = table[table["scenario"] == "baseline"].set_index("unit_id")
    out = table.copy()
    for column in ("source_co2_t_yr", "sink_co2_t_yr", "net_co2_t_yr"):
        reference = out["unit_id"].map(base[column])
        out[f"change_{column}"] = out[column] - reference
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"change_rel_{column.removesuffix('_co2_t_yr')}_pct"] = np.where(
                reference != 0, 100 * (out[column] - reference) / reference.abs(), np.nan)
    return out


def citywide(table: pd.DataFrame) -> pd.DataFrame:
    """The scenarios' per-unit rows summed over the city (amounts only: not percentages,
    fragmentation metrics or relative changes), with their change against the baseline."""
    numeric = [c for c in table.columns if c not in ("scenario", "unit_id") and pd.api.types.is_numeric_dtype(
        table[c]) and not c.endswith("_pct") and not c.startswith(("eco_", "change_rel"))]
    totals = table.groupby("scenario", sort=False)[numeric].sum().reset_index()
    return relative_to_baseline(totals.assign(unit_id="city"))
