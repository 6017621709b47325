r"""Targets per planning unit or citywide, checked against the baseline and the scenarios.

A planning document sets targets: the year emissions peak, the year of net zero, the reduction of
carbon intensity (emissions per unit of GDP) by a year against a base year, the forest cover, the
share of ecological land, the renewable capacity. A targets table holds them, one row per unit
(``unit_id``) or ``*`` for the city as a whole; an empty cell is no target. :func:`check_targets`
measures each target in a run (the baseline) and in each scenario, and gives its *status*
(:data:`STATUSES`), its *gap* (in the target's unit) and the scenario that closes the gap (the
*lever*).

Targets (:data:`TARGETS`; ``intensity_reduction_<year>_pct`` for any year):

======================================  =====  ========  ===========================================
target                                   unit   met when  measured as
======================================  =====  ========  ===========================================
``peak_year``                            year   <=        the year of the largest emissions E(t)
``net_zero_year``                        year   <=        the first year with N(t) <= 0
``intensity_reduction_<Y>_pct``          %      >=        R(Y), below
``forest_cover_pct``                     %      >=        forest area / land area x 100
``ecological_land_pct``                  %      >=        ecological land / land area (``eco_pland_pct``)
``renewable_capacity_mw``                MW     >=        rooftop PV + ground PV and wind in suitable zones
======================================  =====  ========  ===========================================

The carbon intensity of year t is :math:`I(t) = E(t) / G(t)` with the GDP
:math:`G(t) = G(t_b) (1 + g)^{t - t_b}` growing by g per year from the base year :math:`t_b`, so
its reduction by year Y against :math:`t_b` needs no GDP level:

.. math::

    R(Y) = 100 \left(1 - \frac{E(Y)}{E(t_b)} (1 + g)^{-(Y - t_b)}\right)  \qquad [\%]

The *gap* is how far the measure falls short of the target, positive when off track and zero or
negative (the margin) when on track:

.. math::

    gap = m - T \quad (\text{at most: years}), \qquad gap = T - m \quad (\text{at least})

The *lever* of an off-track target is the scenario that meets it first: among the scenarios
whose measure meets the target, the one meeting it in the earliest year (the scenario's peak
or net-zero year; for an intensity reduction, the first year t <= Y with R(t) >= T), then the
one with the largest margin. Forest cover and renewable capacity have no scenario measure
(scenarios do not report them): their lever is empty.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

__all__ = ["TARGETS", "STATUSES", "CITY", "target_unit", "target_direction", "target_year",
           "intensity_reduction", "unit_measures", "city_measures", "trajectory_measures", "status_of",
           "check_targets", "status_counts"]

#: The targets a table can set (besides ``intensity_reduction_<year>_pct``), with their unit.
TARGETS = {"peak_year": "year", "net_zero_year": "year", "intensity_reduction_2025_pct": "%",
           "intensity_reduction_2030_pct": "%", "forest_cover_pct": "%", "ecological_land_pct": "%",
           "renewable_capacity_mw": "MW"}
#: What a target can be: on track, off track, or not measurable in the run.
STATUSES = ("on_track", "off_track", "no_data")
#: The ``unit_id`` of citywide targets in a targets table, and of the city in results.
CITY = "*"
_INTENSITY = re.compile(r"intensity_reduction_(\d{4})_pct")


def target_unit(target: str) -> str:
    """The unit of `target` ('year', '%' or 'MW'); KeyError if it is not a known target.

    Examples
    --------
    >>> target_unit("intensity_reduction_2035_pct"), target_unit("peak_year")
    ('%', 'year')
    """
    if _INTENSITY.fullmatch(target):
        return "%"
    return TARGETS[target]


def target_direction(target: str) -> str:
    """'at_most' for years (earlier is better), 'at_least' for the others."""
    return "at_most" if target_unit(target) == "year" else "at_least"


def target_year(target: str) -> int | None:
    """The year of an intensity target (``intensity_reduction_<year>_pct``), else None."""
    match = _INTENSITY.fullmatch(target)
    return int(match.group(1)) if match else None


def intensity_reduction(emissions_co2_t_yr: np.ndarray, years: np.ndarray, *, base_year: int,
                        gdp_growth_pct: float) -> np.ndarray:
    r"""Reduction of carbon intensity in each of `years` against `base_year` [%].

    Parameters
    ----------
    emissions_co2_t_yr : array [t CO2/yr]
        Emissions E(t) of each year.
    years : array of int [year]
        The years, containing `base_year`.
    base_year : int [year]
        The base year :math:`t_b` of the reduction.
    gdp_growth_pct : float [% per year]
        Annual GDP growth g.

    Returns
    -------
    ndarray [%]
        R(t); NaN for every year when `base_year` is not among `years` or its emissions are 0.

    Notes
    -----
    .. math:: R(t) = 100 \left(1 - \frac{E(t)}{E(t_b)} (1 + g)^{-(t - t_b)}\right)

    Examples
    --------
    >>> intensity_reduction(np.array([100.0, 105.0]), np.array([2023, 2024]), base_year=2023,
    ...                     gdp_growth_pct=5.0).round(6).tolist()
    [0.0, 0.0]
    """
    emissions = np.asarray(emissions_co2_t_yr, dtype=float)
    years = np.asarray(years)
    base = emissions[years == base_year]
    if base.size == 0 or base[0] == 0:
        return np.full(emissions.shape, np.nan)
    growth = (1 + gdp_growth_pct / 100.0) ** (years - base_year)
    return 100.0 * (1 - emissions / base[0] / growth)


def _land_columns(summary: pd.DataFrame, landcover: str) -> list[str]:
    pattern = re.compile(rf"{re.escape(landcover)}_(?!nodata_)[a-z0-9_]+_area_ha")
    return [c for c in summary.columns if pattern.fullmatch(c)]


def _forest_columns(summary: pd.DataFrame, landcover: str, forest_classes) -> list[str]:
    return [f"{landcover}_{name}_area_ha" for name in forest_classes if f"{landcover}_{name}_area_ha" in summary]


_CAPACITY = ("rooftop_pv_mw", "ground_pv_suitable_mw", "wind_suitable_mw")


def unit_measures(summary: pd.DataFrame, *, landcover: str | None, forest_classes=("forest",)) -> pd.DataFrame:
    """The land and capacity measures of each unit, from a run's unit summary.

    Parameters
    ----------
    summary : DataFrame
        The unit summary, indexed by unit id (``<landcover>_<class>_area_ha`` [ha],
        ``eco_pland_pct`` [%], ``rooftop_pv_mw``, ``ground_pv_suitable_mw``, ``wind_suitable_mw`` [MW]
        when the run has them).
    landcover : str or None
        The land-cover raster whose class areas give the land area and the forest.
    forest_classes : sequence of str
        The land-cover classes that count as forest.

    Returns
    -------
    DataFrame indexed as `summary`: ``land_area_ha`` [ha] (every class but nodata),
    ``forest_cover_pct``, ``ecological_land_pct`` [%] and ``renewable_capacity_mw`` [MW]; NaN where
    the run lacks what a measure needs.
    """
    out = pd.DataFrame(index=summary.index, dtype=float)
    land = _land_columns(summary, landcover) if landcover else []
    forest = _forest_columns(summary, landcover, forest_classes) if landcover else []
    out["land_area_ha"] = summary[land].sum(axis=1) if land else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        out["forest_cover_pct"] = 100 * summary[forest].sum(axis=1) / out["land_area_ha"] if forest else np.nan
    out["ecological_land_pct"] = summary["eco_pland_pct"] if "eco_pland_pct" in summary else np.nan
    capacity = [c for c in _CAPACITY if c in summary]
    out["renewable_capacity_mw"] = summary[capacity].sum(axis=1) if capacity else np.nan
    return out.astype(float)


def city_measures(measures: pd.DataFrame) -> pd.Series:
    """The measures of :func:`unit_measures` for the whole city: capacity summed, shares weighted
    by land area [ha]."""
    weights = measures["land_area_ha"]
    out = {"land_area_ha": weights.sum(min_count=1)}
    for column in ("forest_cover_pct", "ecological_land_pct"):
        ok = measures[column].notna() & weights.notna()
        out[column] = float(np.average(measures.loc[ok, column], weights=weights[ok])) \
            if ok.any() and weights[ok].sum() > 0 else np.nan
    out["renewable_capacity_mw"] = measures["renewable_capacity_mw"].sum(min_count=1)
    return pd.Series(out, dtype=float)


def trajectory_measures(path: pd.DataFrame, target: str, value: float, *, base_year: int | None,
                        gdp_growth_pct: float) -> tuple[float, float]:
    """The measure of `target` on one trajectory and the first year it meets `value`.

    Parameters
    ----------
    path : DataFrame
        One scenario's yearly ``year``, ``emissions_co2_t_yr`` and ``net_co2_t_yr`` [t CO2/yr] for
        one unit or the city (:func:`carbonmap.scenarios.trajectory`).
    target : str
        ``peak_year``, ``net_zero_year`` or ``intensity_reduction_<year>_pct``.
    value : float
        The target [year or %].
    base_year : int or None [year]
        Base year of an intensity reduction (None: the trajectory's first year).
    gdp_growth_pct : float [% per year]
        GDP growth for an intensity reduction.

    Returns
    -------
    (measure, met_year)
        The measure [year or %] (NaN if it cannot be measured: an intensity's year or base year
        outside the trajectory; ``inf`` for a net zero never reached) and the first year the target
        is met (NaN if not met by its deadline).
    """
    years = path["year"].to_numpy()
    if target == "peak_year":
        measure = float(years[int(np.argmax(path["emissions_co2_t_yr"].to_numpy()))])
        return measure, measure if measure <= value else np.nan
    if target == "net_zero_year":
        zero = np.flatnonzero(path["net_co2_t_yr"].to_numpy() <= 0)
        measure = float(years[zero[0]]) if zero.size else np.inf
        return measure, measure if measure <= value else np.nan
    year = target_year(target)
    base = int(years[0]) if base_year is None else int(base_year)
    if year not in years or base not in years or year <= base:
        return np.nan, np.nan
    reduction = intensity_reduction(path["emissions_co2_t_yr"].to_numpy(), years, base_year=base,
                                    gdp_growth_pct=gdp_growth_pct)
    measure = float(reduction[years == year][0])
    met = np.flatnonzero((years <= year) & (years > base) & (reduction >= value))
    return measure, float(years[met[0]]) if met.size else np.nan


def status_of(measure: float, value: float, direction: str) -> tuple[str, float]:
    """Status and gap of one target (module docstring): ``(status, gap)``.

    Examples
    --------
    >>> status_of(2032.0, 2030.0, "at_most")
    ('off_track', 2.0)
    >>> status_of(25.0, 20.0, "at_least")
    ('on_track', -5.0)
    >>> status_of(float("nan"), 20.0, "at_least")
    ('no_data', nan)
    """
    if measure is None or np.isnan(measure):
        return "no_data", np.nan
    gap = measure - value if direction == "at_most" else value - measure
    return ("on_track" if gap <= 0 else "off_track"), float(gap)


def _scenario_frames(timeline: pd.DataFrame | None) -> dict[tuple[str, str], pd.DataFrame]:
    """The trajectories by (scenario, unit id); the city's as ``*``."""
    if timeline is None or timeline.empty:
        return {}
    frame = timeline.assign(unit_id=timeline["unit_id"].astype(str).replace({"city": CITY}))
    return {(str(s), str(u)): part.sort_values("year") for (s, u), part in frame.groupby(["scenario", "unit_id"],
                                                                                      sort=False)}


def _land_by_scenario(comparison: pd.DataFrame | None, measures: pd.DataFrame) -> dict[str, pd.Series]:
    """Ecological land share [%] of each scenario by unit (``*``: land-weighted), from the scenarios'
    per-unit comparison."""
    if comparison is None or "eco_pland_pct" not in comparison:
        return {}
    out = {}
    for scenario, part in comparison.groupby("scenario", sort=False):
        share = part.set_index(part["unit_id"].astype(str))["eco_pland_pct"].astype(float)
        weights = measures["land_area_ha"].reindex(share.index)
        ok = share.notna() & weights.notna()
        city = float(np.average(share[ok], weights=weights[ok])) if ok.any() and weights[ok].sum() > 0 else np.nan
        out[str(scenario)] = pd.concat([share, pd.Series({CITY: city})])
    return out


def _measure(target: str, value: float, unit: str, evidence: dict, scenario: str, *, base_year, growth
             ) -> tuple[float, float]:
    """(measure, met_year) of one target of one unit in one scenario (or the baseline)."""
    if target_unit(target) == "year" or target_year(target) is not None:
        path = evidence["paths"].get((scenario, unit))
        if path is None:
            return np.nan, np.nan
        return trajectory_measures(path, target, value, base_year=base_year, gdp_growth_pct=growth)
    if target == "ecological_land_pct" and scenario != "baseline":
        share = evidence["land"].get(scenario)
        return (float(share.get(unit, np.nan)) if share is not None else np.nan), np.nan
    if scenario != "baseline":
        return np.nan, np.nan
    measures = evidence["measures"]
    return (float(measures.at[unit, target]) if unit in measures.index else np.nan), np.nan


def _lever(target: str, value: float, unit: str, evidence: dict, *, base_year, growth) -> tuple[str, float, float]:
    """The scenario that meets an off-track target first (module docstring): (name, measure, met year)."""
    best = None
    direction = target_direction(target)
    for scenario in evidence["scenarios"]:
        measure, met = _measure(target, value, unit, evidence, scenario, base_year=base_year, growth=growth)
        status, gap = status_of(measure, value, direction)
        if status != "on_track":
            continue
        key = (met if not np.isnan(met) else np.inf, gap)
        if best is None or key < best[0]:
            best = (key, scenario, measure, met)
    return ("", np.nan, np.nan) if best is None else best[1:]


def check_targets(targets: pd.DataFrame, summary: pd.DataFrame, *, timeline: pd.DataFrame | None = None,
                  comparison: pd.DataFrame | None = None, landcover: str | None = None,
                  forest_classes=("forest",), gdp_growth_pct: float = 5.0) -> pd.DataFrame:
    """Each target of each unit (and of the city): measured, status, gap and lever.

    Parameters
    ----------
    targets : DataFrame
        The targets table: ``unit_id`` (``*`` for citywide), target columns (:data:`TARGETS`,
        ``intensity_reduction_<year>_pct``; NaN: no target), optional ``base_year`` [year] and
        ``gdp_growth_pct`` [% per year] of its intensity targets.
    summary : DataFrame
        The run's unit summary indexed by unit id (:func:`unit_measures`).
    timeline : DataFrame, optional
        The scenarios' trajectories (``scenario_timeline``: scenario, unit_id, year,
        emissions_co2_t_yr, net_co2_t_yr; the city as ``city``), the baseline as ``baseline``.
    comparison : DataFrame, optional
        The scenarios' per-unit comparison (``scenario_comparison_per_unit``: scenario, unit_id,
        eco_pland_pct [%]).
    landcover, forest_classes : see :func:`unit_measures`
    gdp_growth_pct : float [% per year]
        GDP growth of intensity targets whose row gives none.

    Returns
    -------
    DataFrame
        One row per unit and target: ``unit_id``, ``target``, ``target_unit`` (year, %, MW),
        ``target_value`` (% or MW) or ``target_year`` [year], ``base_year`` [year], ``measured`` (the
        baseline's measure, % or MW) or ``measured_year`` [year], ``status`` (:data:`STATUSES`),
        ``gap`` (in ``target_unit``) or ``gap_years`` [years late] (positive: short of the target),
        ``lever`` (a scenario, or empty), ``lever_measured`` (% or MW), ``lever_met_year`` [year: the
        year that scenario meets the target], ``note`` (``never``: a net zero not reached by the
        trajectory's end, off track without a gap).
    """
    summary = summary.copy()
    summary.index = summary.index.astype(str)
    measures = unit_measures(summary, landcover=landcover, forest_classes=forest_classes)
    city = city_measures(measures)
    paths = _scenario_frames(timeline)
    scenarios = list(dict.fromkeys(s for s, _ in paths)) or ["baseline"]
    land = _land_by_scenario(comparison, measures)
    scenarios = [s for s in dict.fromkeys(scenarios + list(land)) if s != "baseline"]
    evidence = {"paths": paths, "land": land, "scenarios": scenarios,
                "measures": pd.concat([measures, city.to_frame(CITY).T])}
    rows = []
    for row in targets.to_dict("records"):
        unit = str(row["unit_id"])
        base_year = None if pd.isna(row.get("base_year", np.nan)) else int(row["base_year"])
        growth = gdp_growth_pct if pd.isna(row.get("gdp_growth_pct", np.nan)) else float(row["gdp_growth_pct"])
        for target in (c for c in row if _is_target(c) and not pd.isna(row[c])):
            value = float(row[target])
            measure, _ = _measure(target, value, unit, evidence, "baseline", base_year=base_year, growth=growth)
            status, gap = status_of(measure, value, target_direction(target))
            lever = _lever(target, value, unit, evidence, base_year=base_year, growth=growth) \
                if status == "off_track" else ("", np.nan, np.nan)
            rows.append({"unit_id": unit, "target": target, "target_unit": target_unit(target), "target_value": value,
                         "base_year": _base_year(target, base_year, unit, evidence),
                         "measured": measure, "status": status, "gap": gap, "lever": lever[0],
                         "lever_measured": lever[1], "lever_met_year": lever[2],
                         "note": "never" if measure == np.inf else ""})
    out = pd.DataFrame(rows, columns=["unit_id", "target", "target_unit", "target_value", "base_year", "measured",
                                      "status", "gap", "lever", "lever_measured", "lever_met_year", "note"])
    for column in ("measured", "gap", "lever_measured"):  # a net zero never reached: no number to show
        out[column] = out[column].replace([np.inf, -np.inf], np.nan)
    return _years_apart(out)


def _years_apart(out: pd.DataFrame) -> pd.DataFrame:
    """Year targets' values in their own columns (``target_year``, ``measured_year``, ``gap_years``),
    so that every column holds one kind of number (years are shown as years)."""
    years = out["target_unit"] == "year"
    for value, year in (("target_value", "target_year"), ("measured", "measured_year"), ("gap", "gap_years")):
        out.insert(out.columns.get_loc(value) + 1, year, out[value].where(years))
        out.loc[years, value] = np.nan
    out.loc[years, "lever_measured"] = np.nan  # the lever's peak or net-zero year is its lever_met_year
    return out


def _base_year(target: str, base_year: int | None, unit: str, evidence: dict) -> float:
    """The base year an intensity target is measured against (the trajectory's first year by default)."""
    if target_year(target) is None:
        return np.nan
    if base_year is not None:
        return float(base_year)
    path = evidence["paths"].get(("baseline", unit))
    return float(path["year"].iloc[0]) if path is not None else np.nan


def _is_target(column: str) -> bool:
    return column in TARGETS or bool(_INTENSITY.fullmatch(column))


def status_counts(status: pd.DataFrame, units: pd.Index) -> pd.DataFrame:
    """Per unit: ``targets_on_track``, ``targets_off_track``, ``targets_no_data`` (counts) and
    ``targets_status`` (off_track if any target is, on_track if every measured one is, else
    no_data; no_targets for a unit without targets of its own), indexed by `units`."""
    own = status[status["unit_id"] != CITY]
    counts = pd.crosstab(own["unit_id"], own["status"]).reindex(index=units.astype(str), columns=list(STATUSES),
                                                                 fill_value=0)
    counts.index = units
    out = counts.rename(columns=lambda s: f"targets_{s}").astype(int)
    overall = np.where(out["targets_off_track"] > 0, "off_track",
                       np.where(out["targets_on_track"] > 0, "on_track",
                                np.where(out["targets_no_data"] > 0, "no_data", "no_targets")))
    out["targets_status"] = overall
    return out
