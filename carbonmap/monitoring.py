r"""Monitoring across runs: each unit's indicators in several complete runs, their trends, and
early warnings where a unit moves the wrong way faster than a threshold.

Runs of the same city made in different years (new inventory, new land cover) are compared unit
by unit (matched by unit id). The *indicators* (:data:`INDICATORS`) are read from each run's unit
summary; a run lacking one leaves it out of the comparison.

For unit u and indicator x measured in the runs' years :math:`t_1 < \dots < t_n` with values
:math:`x_i`, the *trend* is the least-squares slope (with two runs, the change divided by the
years between them)

.. math::

    b = \frac{\sum_i (t_i - \bar t)(x_i - \bar x)}{\sum_i (t_i - \bar t)^2}
    \quad [\text{unit of } x \text{ per year}], \qquad
    b_{rel} = 100 \, b / |x_1| \quad [\% \text{ per year}]

An *early warning* is raised where the indicator moves the way that is worse
(``monitoring_thresholds.csv``: an increase for sources, net emissions, intensity and
fragmentation; a decrease for sinks, stocks, forest, ecological land and renewable potential)
faster than the table's threshold :math:`\theta` (relative [%/yr] or absolute [unit/yr]):

.. math:: w = s \, b_{(rel)} > \theta, \qquad s = +1 \text{ (increase is worse)}, \; -1 \text{ (decrease)}

A warning is an *alert* when the unit is also off track on a target that the indicator measures
(``targets_status`` of the latest run, :mod:`carbonmap.targets`): it is moving away from a
target it already misses.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from carbonmap.runs import latest_landcover
from carbonmap.targets import unit_measures

__all__ = ["INDICATORS", "TARGET_OF", "indicators", "indicator_table", "trends", "early_warnings", "trend_columns"]

#: The indicators compared across runs, in order (a run's unit-summary columns, or measures of
#: :func:`carbonmap.targets.unit_measures`; ``carbon_stock_t_co2`` is the stock of the run's
#: latest land cover).
INDICATORS = ("source_co2_t_yr", "sink_co2_t_yr", "net_co2_t_yr", "co2_t_per_cny_1e4",
              "builtup_intensity_co2_t_km2_yr", "carbon_stock_t_co2", "forest_cover_pct", "ecological_land_pct",
              "eco_pd_per_100ha", "eco_division", "eco_mesh_ha", "renewable_capacity_mw",
              "renewable_electricity_gwh_yr")
#: Which targets (:mod:`carbonmap.targets`) an indicator measures: a warning on it is an alert
#: when the unit is off track on one of them.
TARGET_OF = {"source_co2_t_yr": ("peak_year",), "net_co2_t_yr": ("net_zero_year",),
             "co2_t_per_cny_1e4": ("intensity_reduction_",), "forest_cover_pct": ("forest_cover_pct",),
             "ecological_land_pct": ("ecological_land_pct",), "renewable_capacity_mw": ("renewable_capacity_mw",)}


def indicators(summary: pd.DataFrame) -> pd.DataFrame:
    """The :data:`INDICATORS` a run's unit summary (indexed by unit id) has, per unit.

    Returns
    -------
    DataFrame indexed as `summary`, one column per indicator the run has (in the indicators'
    units: t CO2/yr, t CO2/10⁴ CNY, t CO2/km²/yr, t CO2, %, per 100 ha, -, ha, MW, GWh/yr).
    """
    landcover = latest_landcover(summary.columns)
    measures = unit_measures(summary, landcover=landcover)
    out = pd.DataFrame(index=summary.index)
    stock = f"stock_{landcover}_t_co2" if landcover else None
    stocks = [c for c in summary.columns if c.startswith("stock_") and c.endswith("_t_co2") and "change" not in c]
    for name in INDICATORS:
        if name == "carbon_stock_t_co2" and (stock in summary or stocks):
            out[name] = summary[stock if stock in summary else stocks[-1]]
        elif name in measures and measures[name].notna().any():
            out[name] = measures[name]
        elif name in summary:
            out[name] = summary[name]
    return out.apply(pd.to_numeric, errors="coerce")


def indicator_table(runs: Mapping[int, pd.DataFrame]) -> tuple[pd.DataFrame, dict[str, list]]:
    """The indicators of the units common to every run, by year.

    Parameters
    ----------
    runs : mapping of year -> unit summary (indexed by unit id)

    Returns
    -------
    (table, missing)
        `table`: ``unit_id``, ``indicator``, ``year``, ``value`` for the indicators every run has;
        `missing`: ``units`` (ids not in every run) and ``indicators`` (those some run lacks).
    """
    frames = {year: indicators(summary) for year, summary in sorted(runs.items())}
    common_units = sorted(set.intersection(*(set(f.index.astype(str)) for f in frames.values())))
    every = set.union(*(set(f.index.astype(str)) for f in frames.values()))
    shared = [n for n in INDICATORS if all(n in f.columns for f in frames.values())]
    lacking = [n for n in INDICATORS if n not in shared and any(n in f.columns for f in frames.values())]
    parts = []
    for year, frame in frames.items():
        part = frame.set_axis(frame.index.astype(str)).loc[common_units, shared]
        long = part.rename_axis("unit_id").reset_index().melt(id_vars="unit_id", var_name="indicator",
                                                               value_name="value")
        parts.append(long.assign(year=year))
    table = pd.concat(parts, ignore_index=True)[["unit_id", "indicator", "year", "value"]]
    order = {name: i for i, name in enumerate(INDICATORS)}
    table = table.sort_values(["unit_id", "indicator", "year"], key=lambda c: c.map(order) if c.name == "indicator"
                              else c, kind="stable").reset_index(drop=True)
    return table, {"units": sorted(every - set(common_units)), "indicators": lacking}


def _slope(years: np.ndarray, values: np.ndarray) -> float:
    ok = np.isfinite(values)
    if ok.sum() < 2:
        return np.nan
    t, x = years[ok].astype(float), values[ok]
    dt = t - t.mean()
    slope = float((dt * (x - x.mean())).sum() / (dt * dt).sum())
    # the same value summed in another order differs in its last bits: that is no trend
    return 0.0 if abs(slope) * np.ptp(t) <= 1e-12 * np.abs(x).max() else slope


def trends(table: pd.DataFrame) -> pd.DataFrame:
    """Each unit's trend of each indicator (module docstring).

    Parameters
    ----------
    table : DataFrame
        ``unit_id``, ``indicator``, ``year``, ``value`` (:func:`indicator_table`).

    Returns
    -------
    DataFrame
        ``unit_id``, ``indicator``, ``first_year``, ``last_year`` [year], ``first_value``,
        ``last_value`` (the indicator's unit), ``change_per_yr`` (its unit per year) and
        ``change_pct_yr`` [% of the first value per year; NaN where the first value is 0].
    """
    rows = []
    for (unit, indicator), part in table.groupby(["unit_id", "indicator"], sort=False):
        part = part.sort_values("year")
        years, values = part["year"].to_numpy(), part["value"].to_numpy(dtype=float)
        slope = _slope(years, values)
        first = values[0]
        rows.append({"unit_id": unit, "indicator": indicator, "first_year": int(years[0]),
                     "last_year": int(years[-1]), "first_value": first, "last_value": values[-1],
                     "change_per_yr": slope,
                     "change_pct_yr": 100 * slope / abs(first) if np.isfinite(first) and first != 0 else np.nan})
    return pd.DataFrame(rows, columns=["unit_id", "indicator", "first_year", "last_year", "first_value",
                                       "last_value", "change_per_yr", "change_pct_yr"])


def early_warnings(trend: pd.DataFrame, thresholds: pd.DataFrame, *,
                   targets_status: pd.DataFrame | None = None) -> pd.DataFrame:
    """The units moving the wrong way faster than the thresholds (module docstring).

    Parameters
    ----------
    trend : DataFrame
        :func:`trends`.
    thresholds : DataFrame
        :func:`carbonmap.coefficients.monitoring_thresholds`, indexed by indicator.
    targets_status : DataFrame, optional
        The latest run's targets (:func:`carbonmap.targets.check_targets`): ``unit_id``,
        ``target``, ``status``.

    Returns
    -------
    DataFrame
        One row per warning: ``unit_id``, ``indicator``, ``worse`` (increase or decrease),
        ``change`` (relative or absolute), ``rate_per_yr`` (how fast it moves the worse way: [%/yr]
        for relative, the indicator's unit per year for absolute), ``max_change_per_yr`` (the
        threshold), ``level`` (``alert`` when the unit is off track on a target the indicator
        measures, else ``warning``) and ``off_track_targets``.
    """
    merged = trend.join(thresholds[["worse", "change", "max_change_per_yr"]], on="indicator", how="inner")
    sign = np.where(merged["worse"] == "increase", 1.0, -1.0)
    rate = np.where(merged["change"] == "relative", merged["change_pct_yr"], merged["change_per_yr"]).astype(float) \
        * sign
    merged["rate_per_yr"] = rate
    out = merged[np.isfinite(rate) & (rate > merged["max_change_per_yr"].to_numpy(dtype=float))].copy()
    off = _off_track(targets_status)
    out["off_track_targets"] = [", ".join(t for t in off.get(u, []) if t.startswith(TARGET_OF.get(i, ("\0",))))
                                for u, i in zip(out["unit_id"], out["indicator"])]
    out["level"] = np.where(out["off_track_targets"] != "", "alert", "warning")
    columns = ["unit_id", "indicator", "worse", "change", "rate_per_yr", "max_change_per_yr", "level",
               "off_track_targets"]
    return out[columns].sort_values(["level", "unit_id"], kind="stable").reset_index(drop=True)


def _off_track(status: pd.DataFrame | None) -> dict[str, list[str]]:
    if status is None or status.empty:
        return {}
    off = status[status["status"] == "off_track"]
    return off.groupby(off["unit_id"].astype(str))["target"].apply(list).to_dict()


def trend_columns(trend: pd.DataFrame, warnings: pd.DataFrame) -> pd.DataFrame:
    """Per unit: ``trend_<indicator>_per_yr`` (the indicator's unit per year) and
    ``monitoring_warnings`` (how many warnings), ``monitoring_alerts`` (how many are alerts),
    indexed by unit id."""
    wide = trend.pivot(index="unit_id", columns="indicator", values="change_per_yr")
    wide = wide[[c for c in INDICATORS if c in wide.columns]]
    wide.columns = [f"trend_{c}_per_yr" for c in wide.columns]
    counts = warnings.groupby("unit_id")["level"].agg(
        monitoring_warnings="size", monitoring_alerts=lambda s: int((s == "alert").sum()))
    wide = wide.join(counts)
    wide[["monitoring_warnings", "monitoring_alerts"]] = wide[["monitoring_warnings", "monitoring_alerts"]] \
        .fillna(0).astype(int)
    return wide
