"""Trajectories of sources and sinks from a base year to 2060, and their milestones.

For a planning unit with base-year sources E_s by sector s and sink S (t CO2/yr), a scenario
gives in year t (base year t0, implementation complete in the target year T):

.. math::

    r(t) = \\min(1, \\max(0, (t - t_0) / (T - t_0)))                 \\quad\\text{(roll-out)}

    E_s(t) = E_s \\prod_{y = t_0 + 1}^{t} (1 + g_s(y)) \\; (1 + r(t) \\, m_s)

    E(t) = \\sum_s E_s(t) + r(t) \\, \\Delta E_{land} - r(t) \\, A

    S(t) = S \\, (1 + h)^{t - t_0} + r(t) \\, \\Delta S_{land}

    N(t) = E(t) - S(t)

with g_s(y) the annual change of sector s in year y (by periods), m_s a one-off change of its
intensity (e.g. -15 % for a building energy retrofit), ΔE_land and ΔS_land the sources and
sinks that the scenario's land conversions add (:mod:`carbonmap.scenarios.effects`), A the
emissions avoided by rooftop PV, h the annual growth of the existing sink.

Milestones: the *peak* is the year of the largest E(t) (the unit "has peaked" when that year
is before the last year); *net zero* is the first year with N(t) <= 0; the *gap* is N(2060).
Each year belongs to a stage of ``planning_stages.csv``: exploration (to 2020), peaking
(2021-2030), interlacing (2031-2040), neutrality (2041-2060), post-neutrality (after 2060).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from carbonmap.errors import InputError

__all__ = ["annual_factors", "roll_out", "trajectory", "milestones", "stage_of"]


def annual_factors(changes: list[list[float]] | None, years: np.ndarray) -> np.ndarray:
    """Cumulative factor prod_(y <= t) (1 + g(y)) for each of `years` (the first year is the base,
    factor 1). `changes`: [[from_year, pct_per_year], ...]; a rate holds until the next one."""
    rate = np.zeros(len(years))
    for start, pct in sorted(changes or []):
        rate[years >= start] = pct / 100.0
    rate[0] = 0.0  # the base year is as measured
    if (rate <= -1).any():
        raise InputError("an annual change of -100 % or less.", fix="give annual changes above -100 %.")
    return np.cumprod(1 + rate)


def roll_out(years: np.ndarray, *, base_year: int, target_year: int) -> np.ndarray:
    """Share r(t) of a scenario's measures in place: 0 in the base year, 1 from the target year."""
    if target_year <= base_year:
        return (years >= target_year).astype(float)
    return np.clip((years - base_year) / (target_year - base_year), 0.0, 1.0)


def trajectory(sources: pd.Series, sink: float, *, base_year: int, end_year: int, target_year: int,
               annual_change: dict[str, list[list[float]]] | None = None,
               sector_change_pct: dict[str, float] | None = None, land_source: float = 0.0,
               land_sink: float = 0.0, avoided: float = 0.0, sink_growth_pct: float = 0.0) -> pd.DataFrame:
    """Yearly sources, sinks and net [t CO2/yr] of one unit under one scenario (module docstring).

    Parameters
    ----------
    sources : base-year sources by sector [t CO2/yr]
    sink : base-year sink [t CO2/yr]
    annual_change : sector -> [[from_year, pct_per_year], ...] (sector "all" applies to sectors
        without their own)
    sector_change_pct : sector -> one-off change [%] reached at the target year
    land_source, land_sink, avoided : the scenario's additions [t CO2/yr] when fully in place
    """
    years = np.arange(base_year, end_year + 1)
    ramp = roll_out(years, base_year=base_year, target_year=target_year)
    annual_change = annual_change or {}
    sector_change_pct = sector_change_pct or {}
    out = pd.DataFrame({"year": years})
    total = np.zeros(len(years))
    for sector, value in sources.items():
        factor = annual_factors(annual_change.get(sector, annual_change.get("all")), years)
        one_off = 1 + ramp * sector_change_pct.get(sector, sector_change_pct.get("all", 0.0)) / 100.0
        out[f"source_{sector}_co2_t_yr"] = value * factor * one_off
        total += out[f"source_{sector}_co2_t_yr"].to_numpy()
    out["source_land_co2_t_yr"] = ramp * land_source
    out["avoided_co2_t_yr"] = ramp * avoided
    out["emissions_co2_t_yr"] = total + out["source_land_co2_t_yr"] - out["avoided_co2_t_yr"]
    out["sink_co2_t_yr"] = sink * (1 + sink_growth_pct / 100.0) ** (years - base_year) + ramp * land_sink
    out["net_co2_t_yr"] = out["emissions_co2_t_yr"] - out["sink_co2_t_yr"]
    return out


def stage_of(years, stages: pd.DataFrame) -> np.ndarray:
    """The planning stage of each year (``planning_stages``; open bounds are NaN)."""
    years = np.asarray(years, dtype=float)
    out = np.full(years.shape, "", dtype=object)
    for row in stages.itertuples():
        low = -np.inf if pd.isna(row.first_year) else row.first_year
        high = np.inf if pd.isna(row.last_year) else row.last_year
        out[(years >= low) & (years <= high)] = row.stage
    return out


def milestones(path: pd.DataFrame, stages: pd.DataFrame, *, gap_year: int = 2060) -> dict:
    """Peak year and value of emissions, whether they have peaked, the stage of the peak, the
    first year of net zero (None if never), and the net emissions in `gap_year` (the gap)."""
    years = path["year"].to_numpy()
    emissions = path["emissions_co2_t_yr"].to_numpy()
    net = path["net_co2_t_yr"].to_numpy()
    peak = int(np.argmax(emissions))  # the first year of the largest value
    zero = np.flatnonzero(net <= 0)
    gap = net[years == gap_year]
    return {"peak_year": int(years[peak]), "peak_emissions_co2_t_yr": float(emissions[peak]),
            "peaked": bool(peak < len(years) - 1), "peak_stage": str(stage_of([years[peak]], stages)[0]),
            "net_zero_year": int(years[zero[0]]) if zero.size else None,
            f"net_{gap_year}_co2_t_yr": float(gap[0]) if gap.size else float("nan")}
