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
    r"""Share of a scenario's measures in place in each year [-]: 0 in the base year, 1 from the
    target year.

    Parameters
    ----------
    years : array of int [year]
        The years.
    base_year : int [year]
        The base year :math:`t_0`.
    target_year : int [year]
        The year the measures are complete, T.

    Returns
    -------
    ndarray [-]

    Notes
    -----
    .. math:: r(t) = \min(1, \max(0, (t - t_0) / (T - t_0)))

    (a step at T when :math:`T \le t_0`).

    Examples
    --------
    >>> roll_out(np.arange(2023, 2028), base_year=2023, target_year=2027).tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    if target_year <= base_year:
        return (years >= target_year).astype(float)
    return np.clip((years - base_year) / (target_year - base_year), 0.0, 1.0)


def trajectory(sources: pd.Series, sink: float, *, base_year: int, end_year: int, target_year: int,
               annual_change: dict[str, list[list[float]]] | None = None,
               sector_change_pct: dict[str, float] | None = None, land_source: float = 0.0,
               land_sink: float = 0.0, avoided: float = 0.0, sink_growth_pct: float = 0.0) -> pd.DataFrame:
    r"""Yearly sources, sinks and net of one unit under one scenario [t CO2/yr].

    Parameters
    ----------
    sources : Series [t CO2/yr]
        Base-year sources by sector.
    sink : float [t CO2/yr]
        Base-year sink.
    base_year : int [year]
        First year of the trajectory, as measured.
    end_year : int [year]
        Last year (e.g. 2060).
    target_year : int [year]
        Year the scenario's measures are complete (:func:`roll_out`).
    annual_change : dict of sector -> [[from_year, pct_per_year], ...], optional
        Annual change of each sector [% per year], a rate holding until the next one (sector
        "all" applies to sectors without their own).
    sector_change_pct : dict of sector -> float [%], optional
        One-off change of each sector's intensity, reached at the target year.
    land_source : float [t CO2/yr]
        Sources the scenario's land conversions add when fully in place.
    land_sink : float [t CO2/yr]
        Sinks the scenario's land conversions add when fully in place.
    avoided : float [t CO2/yr]
        Emissions avoided by rooftop PV when fully in place.
    sink_growth_pct : float [% per year]
        Annual growth of the existing sink.

    Returns
    -------
    DataFrame
        One row per year: ``year``, ``source_<sector>_co2_t_yr``, ``source_land_co2_t_yr``,
        ``avoided_co2_t_yr``, ``emissions_co2_t_yr``, ``sink_co2_t_yr`` and ``net_co2_t_yr``
        [t CO2/yr].

    Notes
    -----
    .. math::

        E_s(t) = E_s \prod_{y = t_0 + 1}^{t} (1 + g_s(y)) \; (1 + r(t) \, m_s)

        E(t) = \sum_s E_s(t) + r(t) \, \Delta E_{land} - r(t) \, A, \qquad
        S(t) = S \, (1 + h)^{t - t_0} + r(t) \, \Delta S_{land}, \qquad
        N(t) = E(t) - S(t)

    with the roll-out r(t) of :func:`roll_out` (module docstring).
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
    r"""The milestones of a trajectory: peak, net zero and the gap left in `gap_year`.

    Parameters
    ----------
    path : DataFrame
        A trajectory (:func:`trajectory`): ``year``, ``emissions_co2_t_yr``, ``net_co2_t_yr``
        [t CO2/yr].
    stages : DataFrame
        The planning stages (:func:`carbonmap.coefficients.planning_stages`).
    gap_year : int [year]
        The year of the gap (default 2060, the neutrality target).

    Returns
    -------
    dict
        ``peak_year`` [year], ``peak_emissions_co2_t_yr`` [t CO2/yr], ``peaked`` (the peak is
        before the last year), ``peak_stage``, ``net_zero_year`` [year] (None if never) and
        ``net_<gap_year>_co2_t_yr`` [t CO2/yr]. A run publishes each scenario's peak and net-zero
        years per unit as the summary columns ``<scenario>_peak_year`` and
        ``<scenario>_net_zero_year``.

    Notes
    -----
    .. math::

        t_{peak} = \min \arg\max_t E(t), \qquad t_{zero} = \min \{t : N(t) \le 0\}

    Examples
    --------
    >>> from carbonmap.coefficients import planning_stages
    >>> path = trajectory(pd.Series({"all": 100.0}), 20.0, base_year=2023, end_year=2060, target_year=2030,
    ...                   sector_change_pct={"all": -90})
    >>> marks = milestones(path, planning_stages())
    >>> marks["peak_year"], marks["peak_stage"], marks["net_zero_year"]
    (2023, 'peaking', 2030)
    """
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
