"""Restoration scenarios built from the ranked afforestation sites.

Three scenarios, each a set of sites:

- ``all_suitable``: every candidate site;
- ``top_ranked``: sites in order of their score, each taken if it still fits the area and
  cost budgets (greedy: a site too large for what is left is skipped and the next one tried);
- ``connectivity_first``: the same budgets, sites in order of connectivity gain (then score);
  only when the run has an ecological network.

Per scenario and planning unit: sites, area, sequestration over the horizon, mean annual sink,
cost and the sum of the sites' single-site connectivity gains. Citywide, the joint gain in
PC when all of a scenario's sites become habitat together is computed on the whole graph
(:func:`carbonmap.landscape.connectivity.pc_index`), since single-site gains do not add up
(sites can be stepping stones for one another, or redundant); links, and paths, with a dispersal
probability below :data:`JOINT_MIN_PROBABILITY` are left out, for speed (a sparse graph and bounded
searches: a pair of patches loses at most that probability). Links between sites that a chain of
shorter links between sites makes redundant are not even measured
(:func:`carbonmap.landscape.connectivity.link_distances`), which changes no PC.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.sparse import coo_array

from carbonmap.landscape.connectivity import link_distances, pc_index

__all__ = ["SCENARIOS", "restoration_scenarios", "pick_within_budget"]

#: Links and paths weaker than this are left out of the joint PC (for speed).
JOINT_MIN_PROBABILITY = 1e-4

#: The scenarios, in the order tables list them.
SCENARIOS = ("all_suitable", "top_ranked", "connectivity_first")

#: Scenario column -> the site column it sums.
_SUMS = {"area_ha": "area_ha", "sequestration_t_co2": "sequestration_t_co2", "sink_t_co2_yr": "sink_t_co2_yr",
         "cost_cny": "cost_cny"}


def pick_within_budget(order: pd.Index, area_ha: pd.Series, cost_cny: pd.Series, *, budget_area_ha: float,
                       budget_cny: float) -> list:
    """Sites taken greedily in `order` while both budgets hold (a site that does not fit is skipped).

    Parameters
    ----------
    order : Index
        Site ids in the order to try them.
    area_ha : Series [ha]
        Area of each site, indexed by site id.
    cost_cny : Series [CNY]
        Cost of each site, indexed by site id.
    budget_area_ha : float [ha]
        Area budget (inf: none).
    budget_cny : float [CNY]
        Cost budget (inf: none).

    Returns
    -------
    list
        The site ids taken, in `order`.

    Examples
    --------
    >>> area, cost = pd.Series({1: 6.0, 2: 6.0, 3: 3.0}), pd.Series({1: 1.0, 2: 1.0, 3: 1.0})
    >>> pick_within_budget(pd.Index([1, 2, 3]), area, cost, budget_area_ha=10.0, budget_cny=np.inf)
    [1, 3]
    """
    chosen, area_left, cost_left = [], budget_area_ha, budget_cny
    for site in order:
        if area_ha[site] <= area_left + 1e-9 and cost_cny[site] <= cost_left + 1e-6:
            chosen.append(site)
            area_left -= area_ha[site]
            cost_left -= cost_cny[site]
    return chosen


def restoration_scenarios(result, *, budget_area_ha: float = np.inf,
                          budget_cny: float = np.inf) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, list]]:
    r"""Restoration scenarios from ranked afforestation sites: tables per unit and citywide, and
    the site ids of each scenario.

    Parameters
    ----------
    result : AfforestationResult
        The ranked sites (:func:`carbonmap.screening.afforestation.afforestation_sites`).
    budget_area_ha : float [ha]
        Area budget of the budgeted scenarios (inf: none).
    budget_cny : float [CNY]
        Cost budget of the budgeted scenarios (inf: none).

    Returns
    -------
    (per_unit, citywide, members)
        ``per_unit``: one row per scenario and unit (``unit``: the unit index of the sites) with
        ``sites``, ``area_ha`` [ha], ``sequestration_t_co2`` [t CO2], ``sink_t_co2_yr``
        [t CO2/yr], ``cost_cny`` [CNY] and, with a network, ``connectivity_gain_sum_pct`` [%];
        ``citywide``: one row per scenario, with ``pc_joint_gain_pct`` [%] when the run has a
        network; ``members``: each scenario's site ids. A run publishes each scenario's sink
        per unit as the summary column ``restoration_<scenario>_sink_t_co2_yr``.

    Notes
    -----
    ``all_suitable`` takes every site; ``top_ranked`` the sites by rank and
    ``connectivity_first`` by connectivity gain (then score), each through
    :func:`pick_within_budget`. The citywide joint gain in PC of a scenario's sites,

    .. math:: \Delta PC = 100 \, \frac{PC_{+S} - PC}{PC}

    is computed on the whole graph (:func:`carbonmap.landscape.connectivity.pc_index`), since
    single-site gains do not add up; links and paths with a probability below
    :data:`JOINT_MIN_PROBABILITY` are left out of both PCs, for speed.

    References
    ----------
    .. [1] Saura S., Pascual-Hortal L. (2007). A new habitat availability index to integrate
       connectivity in landscape conservation planning. Landscape and Urban Planning 83: 91-103.
    .. [2] Saura S., Rubio L. (2010). A common currency for the different ways in which patches
       and links can contribute to habitat availability and connectivity in the landscape.
       Ecography 33: 523-537.
    """
    sites = result.sites.set_index("site_id", drop=False)
    members = {"all_suitable": list(sites.index)}
    by_score = sites.sort_values("rank").index
    members["top_ranked"] = pick_within_budget(by_score, sites["area_ha"], sites["cost_cny"],
                                               budget_area_ha=budget_area_ha, budget_cny=budget_cny)
    has_network = "connectivity_gain_pct" in sites
    if has_network:
        by_gain = sites.sort_values(["connectivity_gain_pct", "score"], ascending=False).index
        members["connectivity_first"] = pick_within_budget(by_gain, sites["area_ha"], sites["cost_cny"],
                                                           budget_area_ha=budget_area_ha, budget_cny=budget_cny)
    sum_of = {**_SUMS, **({"connectivity_gain_sum_pct": "connectivity_gain_pct"} if has_network else {})}
    before = _pc_of_habitat(result.habitat) if has_network else None
    rows, city = [], []
    for name, ids in members.items():
        part = sites.loc[ids]
        sums = {column: part[source].sum() for column, source in sum_of.items()}
        city.append({"scenario": name, "sites": len(part), **sums,
                     **({"pc_joint_gain_pct": _joint_gain(result, np.asarray(ids), before)} if has_network
                        else {})})
        grouped = part.groupby("unit")
        table = pd.DataFrame({"sites": grouped.size(), **{c: grouped[source].sum() for c, source in sum_of.items()}})
        rows.append(table.reset_index().assign(scenario=name))
    per_unit = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    per_unit = per_unit[["scenario", "unit", *[c for c in per_unit.columns if c not in ("scenario", "unit")]]]
    return per_unit, pd.DataFrame(city), members


def _joint_gain(result, ids: np.ndarray, before: float) -> float:
    """Gain in PC [%] when all sites `ids` become habitat together, from the habitat's PC `before`."""
    habitat = result.habitat
    if len(ids) == 0:
        return 0.0
    sites = result.sites.set_index("site_id")
    # pairs farther apart than where the direct probability falls below the cutoff are left
    # unlinked directly (they still connect through other patches), and so are pairs of sites that
    # a chain of shorter links between sites joins at least as well (the same PC, most pairs not
    # measured); the graph is sparse: its memory grows with the links, not with the patches squared
    # (the habitat's own distances, cores x cores and cores x sites, are the network's, dense)
    p0, d0 = habitat.probability
    reach_m = d0 * np.log(JOINT_MIN_PROBABILITY) / np.log(p0)
    between = link_distances(result.site_labels, ids, result.resolution, max_distance_m=reach_m)
    links = _joined(habitat.distances, result.core_site_distances[:, ids - 1], between, reach_m)
    areas = np.concatenate([habitat.areas_ha, sites.loc[ids, "new_habitat_ha"].to_numpy()])
    after = pc_index(areas, links, habitat.landscape_ha, probability=habitat.probability,
                     min_probability=JOINT_MIN_PROBABILITY)
    return 100 * (after - before) / before


def _joined(existing: np.ndarray, cross: np.ndarray, between, reach_m: float) -> coo_array:
    """The links [m] of the habitat's n patches and m sites together, as one sparse (n + m, n + m)
    matrix: from `existing` (n, n) and `cross` (n, m), the pairs within `reach_m` (and a hair
    beyond: :func:`pc_index` makes the exact cut); from `between` (sparse, m x m), every link."""
    n = len(existing)
    within = reach_m * (1 + 1e-9)
    i, j = np.nonzero(existing <= within)
    to_site, site = np.nonzero(cross <= within)
    between = coo_array(between)
    rows = np.r_[i, to_site, n + between.row]
    cols = np.r_[j, n + site, n + between.col]
    values = np.r_[existing[i, j], cross[to_site, site], between.data]
    size = n + cross.shape[1]
    return coo_array((values, (rows, cols)), shape=(size, size))


def _pc_of_habitat(habitat) -> float:
    """PC of the existing habitat as the joint gains count it (links and paths less likely than
    :data:`JOINT_MIN_PROBABILITY` left out)."""
    return pc_index(habitat.areas_ha, habitat.distances, habitat.landscape_ha, probability=habitat.probability,
                    min_probability=JOINT_MIN_PROBABILITY)
