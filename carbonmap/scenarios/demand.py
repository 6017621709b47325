"""Land-use demand of a target year: how much of each class, before the simulator says where.

Four ways (the Markov chain is :func:`carbonmap.scenarios.project_areas`):

- :func:`linear_trend`: each class keeps its yearly change between two dates;
- :func:`table_demand`: the user's table of areas;
- :func:`optimise_demand`: linear programming for the "ecological priority" scenario: the
  areas that maximise carbon storage (or sink) under the planner's constraints (built-up land
  for the planned population, cropland for the farmland protection target, ecological land
  minimums, a largest change per class);
- :func:`whole_cells`: areas to whole cells, keeping the total.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from carbonmap.errors import InputError

__all__ = ["METHODS", "builtup_for_population", "linear_trend", "optimise_demand", "table_demand", "whole_cells"]

METHODS = ("markov", "trend", "table", "optimise")


def whole_cells(areas: pd.Series, total: int) -> pd.Series:
    """Areas [cells] rounded to whole cells that add up to `total` (largest remainders).

    Examples
    --------
    >>> whole_cells(pd.Series({1: 2.5, 2: 2.5, 3: 5.0}), 10).tolist()
    [3, 2, 5]
    """
    values = areas.to_numpy(dtype=float)
    out = np.floor(values).astype(np.int64)
    short = int(total) - int(out.sum())
    if short > 0:
        out[np.argsort(-(values - out), kind="stable")[:short]] += 1
    elif short < 0:
        out[np.argsort(values - out, kind="stable")[:-short]] -= 1
    return pd.Series(out, index=areas.index)


def linear_trend(before: pd.Series, after: pd.Series, year_before: int, year_after: int,
                 target_year: int) -> pd.Series:
    r"""Demand of a target year that continues each class's yearly change [unit of the areas].

    Parameters
    ----------
    before, after : Series [any area unit]
        Areas of each class (code -> area) at `year_before` and `year_after`.
    year_before, year_after, target_year : int [year]

    Returns
    -------
    Series [unit of the areas]
        :math:`a_k(T) = a_k(t_1) + (a_k(t_1) - a_k(t_0)) (T - t_1) / (t_1 - t_0)`; a class that
        would fall below 0 stops at 0 and the others are scaled to keep the total.

    Examples
    --------
    >>> linear_trend(pd.Series({1: 60.0, 2: 40.0}), pd.Series({1: 50.0, 2: 50.0}), 2010, 2020, 2030).tolist()
    [40.0, 60.0]
    """
    if year_after <= year_before:
        raise InputError(f"the earlier land cover ({year_before}) must be older than the later ({year_after}).",
                         fix="check the two dates.")
    codes = before.index.union(after.index)
    a0, a1 = before.reindex(codes, fill_value=0.0), after.reindex(codes, fill_value=0.0)
    trend = (a1 + (a1 - a0) * (target_year - year_after) / (year_after - year_before)).clip(lower=0.0)
    return trend * (a1.sum() / trend.sum())


def table_demand(table: pd.DataFrame, codes, total_cells: int, cell_area_ha: float, *, path=None) -> pd.Series:
    """The user's demand table (columns ``code`` and ``area_ha``) as whole cells of each class.

    Raises
    ------
    InputError
        Missing columns, codes not in the land cover, or areas that do not add up to the land
        cover's area (within half a percent).
    """
    missing = [c for c in ("code", "area_ha") if c not in table.columns]
    if missing:
        raise InputError(f"the demand table needs the columns code and area_ha (missing: {', '.join(missing)}).",
                         path=path, field=missing[0], fix="one row per class: code, area_ha.")
    codes = [int(c) for c in codes]
    frame = table.assign(code=pd.to_numeric(table["code"], errors="coerce"),
                         area_ha=pd.to_numeric(table["area_ha"], errors="coerce"))
    unknown = sorted(set(frame["code"].dropna().astype(int)) - set(codes)) + \
        (["(not a number)"] if frame["code"].isna().any() else [])
    if unknown:
        raise InputError(f"classes not in the land cover: {', '.join(map(str, unknown))}.", path=path, field="code",
                         fix=f"use the land cover's codes ({', '.join(map(str, codes))}).")
    if frame["area_ha"].isna().any() or (frame["area_ha"] < 0).any():
        raise InputError("an area is missing, not a number or negative.", path=path, field="area_ha",
                         fix="give every class an area of 0 ha or more.")
    cells = frame.groupby(frame["code"].astype(int))["area_ha"].sum().reindex(codes, fill_value=0.0) / cell_area_ha
    if abs(cells.sum() - total_cells) > 0.005 * total_cells:
        raise InputError(f"the areas add up to {cells.sum() * cell_area_ha:,.1f} ha, the land cover has "
                         f"{total_cells * cell_area_ha:,.1f} ha.", path=path, field="area_ha",
                         fix="give areas of every class that add up to the land cover's area.")
    return whole_cells(cells * total_cells / cells.sum(), total_cells)


def builtup_for_population(population: float, m2_per_person: float) -> float:
    """Built-up land a planned population needs [ha]: population x per-capita construction land.

    Parameters
    ----------
    population : float [persons]
    m2_per_person : float [m2/person]
        Per-capita construction land (China's GB 50137-2011 sets 65-115 m2 per person for urban
        construction land).

    Examples
    --------
    >>> builtup_for_population(2_000_000, 100.0)
    20000.0
    """
    return population * m2_per_person / 1e4


def optimise_demand(current: pd.Series, value: pd.Series, *, constraints=(), max_change_pct: float | None = None,
                    minimise: bool = False) -> pd.Series:
    r"""Areas of each class that maximise the total carbon value under the planner's constraints (LP).

    Parameters
    ----------
    current : Series [ha or cells]
        Today's area of each class (code -> area); the total is kept.
    value : Series [e.g. t C/ha, or t CO2/ha/yr]
        Carbon storage (or sink) per unit area of each class; a class without a value counts 0.
    constraints : sequence of dict
        Each ``{"codes": [...], "min": area}`` and/or ``"max": area`` [unit of `current`]: the
        sum of the classes' areas within the bounds, e.g. built-up land for the planned
        population (:func:`builtup_for_population`), cropland for the farmland protection
        target, ecological land minimums.
    max_change_pct : float [%], optional
        Each class within +/- this share of its current area (keeps the optimum plausible).
    minimise : bool
        Minimise instead (e.g. emissions per area).

    Returns
    -------
    Series [unit of `current`]

    Raises
    ------
    InputError
        Constraints naming classes not in `current`, or that cannot all hold together.

    Notes
    -----
    .. math::

        \max_x \sum_k v_k x_k \quad \text{s.t.} \quad \sum_k x_k = \sum_k a_k, \;
        L_g \le \sum_{k \in g} x_k \le U_g, \; |x_k - a_k| \le m a_k, \; x_k \ge 0

    solved with HiGHS (``scipy.optimize.linprog``).

    References
    ----------
    .. [1] Liang X., et al. (2021). PLUS model (Computers, Environment and Urban Systems 85:
       101569): its demand module and the multi-objective land-demand optimisation of
       "ecological priority" scenarios in Chinese planning studies.
    """
    from scipy.optimize import linprog

    codes = list(current.index)
    a = current.to_numpy(dtype=float)
    v = value.reindex(codes).fillna(0.0).to_numpy(dtype=float)
    rows, bounds_up = [], []
    for i, constraint in enumerate(constraints):
        unknown = [c for c in constraint.get("codes", []) if c not in codes]
        if unknown or not constraint.get("codes"):
            raise InputError(f"demand constraint {i + 1} names classes not in the land cover: {unknown or 'none'}.",
                             key=f"constraints[{i}].codes", fix=f"use the land cover's codes ({codes}).")
        member = np.isin(codes, constraint["codes"]).astype(float)
        if constraint.get("max") is not None:
            rows.append(member)
            bounds_up.append(float(constraint["max"]))
        if constraint.get("min") is not None:
            rows.append(-member)
            bounds_up.append(-float(constraint["min"]))
    m = None if max_change_pct is None else max_change_pct / 100.0
    bounds = [(0.0, None) if m is None else (max(0.0, ak * (1 - m)), ak * (1 + m)) for ak in a]
    result = linprog(v if minimise else -v, A_ub=np.array(rows) if rows else None,
                     b_ub=np.array(bounds_up) if rows else None, A_eq=np.ones((1, len(codes))), b_eq=[a.sum()],
                     bounds=bounds, method="highs")
    if result.status != 0:
        raise InputError(f"the demand constraints cannot all hold together ({result.message.strip()}).",
                         key="constraints", fix="relax a minimum or maximum, or allow a larger max_change_pct.")
    return pd.Series(result.x, index=current.index)
