"""Carbon compensation between planning units: zoning, amounts, and the compensation network.

Chinese studies of carbon balance zoning (碳平衡分区 / 碳补偿分区) grade each area by its
*carbon compensation rate*, the area's share of the region's carbon sinks against its share of
the region's carbon sources, and correct it with an *economic-contribution coefficient* (share
of output against share of emissions) and an *ecological-carrying coefficient* (share of sinks
against share of land). Areas that emit more than their sinks' share pay (碳支付区); areas
whose sinks serve the others are compensated (碳受偿区). This module does it per planning unit
and pairs payers with receivers by a transport problem: the compensation network (碳库补偿
"一张网").

- :func:`compensation_zoning`: rates, coefficients, classes, amounts [t CO2/yr] and money [CNY/yr];
- :func:`transport_plan`: the least-cost pairing of supplies and demands (HiGHS, through
  :func:`scipy.optimize.linprog`);
- :func:`centroid_distances_km`, :func:`neighbours`, :func:`same_zone`: costs and restrictions;
- :func:`compensation_network`: the pairs and their flow lines.

All amounts are in t CO2/yr; the function that needs a CRS needs a projected one (metres).

References
----------
.. [1] Zhao R., Zhang Z., Ding M., et al. (2015). Regional carbon compensation zoning based on
   carbon budget: sink-to-source ratios of land use. Journal of Natural Resources 30(10).
.. [2] Dong F., Shi M., Li W., Wang P. (2025). China's provincial horizontal carbon compensation
   mechanism based on power carbon transfer (基于电力碳转移的中国省域横向碳补偿机制).
   Environmental Science (环境科学) 46(7): 4065-4074. (Economic-contribution and
   ecological-carrying coefficients correct the carbon compensation coefficient.)
.. [3] Frontiers in Environmental Science (2024). Carbon budget, economic contribution and
   ecological support coefficients, functional zoning and carbon compensation value of 11
   prefecture-level cities of Jiangxi Province, 2010-2020 (Jiangxi Agricultural University).
   doi:10.3389/fenvs.2024.1404760.
.. [4] Wang W. (2022). Innovative regional ecological compensation: building and balancing
   carbon budget accounts (区域生态补偿创新模式研究: 碳预算账户构建与平衡). Compensation
   standards from average emissions and absorption; deficits and surpluses of Guangdong's
   main functional zones.
.. [5] Fan Z., Xia W., Yu H., Liu J., Liu B. (2024). Land use carbon budget pattern and carbon
   compensation mechanism of counties in the Pearl River Basin: a perspective based on fiscal
   imbalance. Land 13(8): 1141.
.. [6] Hitchcock F. L. (1941). The distribution of a product from several sources to numerous
   localities. Journal of Mathematics and Physics 20: 224-230.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy import sparse
from scipy.optimize import linprog
from scipy.spatial.distance import cdist

from carbonmap.coefficients import compensation_classes, compensation_parameters
from carbonmap.errors import CRSError, InputError

__all__ = ["CORRECTIONS", "RESTRICTIONS", "compensation_zoning", "transport_plan", "centroid_distances_km",
           "neighbours", "same_zone", "flow_lines", "compensation_network"]

#: Corrections of the carbon compensation rate (:func:`compensation_zoning`).
CORRECTIONS = ("economic", "ecological")
#: Which payers may pay which receivers (:func:`compensation_network`).
RESTRICTIONS = ("none", "neighbours", "zone")


def _checked(values: pd.Series, name: str, *, missing_ok: bool = False) -> pd.Series:
    """`values` as floats, every one finite and >= 0 (or missing, when `missing_ok`)."""
    values = pd.to_numeric(values, errors="coerce").astype(float)
    bad = values.index[~(np.isfinite(values.to_numpy()) | (missing_ok & values.isna().to_numpy()))
                       | (values.to_numpy() < 0)]
    if len(bad):
        shown = ", ".join(map(str, bad[:10]))
        raise InputError(f"{name} must be finite and >= 0; not so for unit(s) {shown}.", field=name,
                         fix=f"give every unit a {name} of 0 or more.")
    return values


def _sources_and_sinks(source: pd.Series, sink: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Sources and sinks checked; a negative sink (land releasing carbon) counts as a source."""
    source = _checked(source, "source_co2_t_yr")
    sink = pd.to_numeric(sink.reindex(source.index), errors="coerce").astype(float).fillna(0.0)
    if not np.isfinite(sink.to_numpy()).all():
        shown = ", ".join(map(str, sink.index[~np.isfinite(sink.to_numpy())][:10]))
        raise InputError(f"sink_co2_t_yr must be finite; not so for unit(s) {shown}.", field="sink_co2_t_yr",
                         fix="give every unit a finite sink (0 for none).")
    return source + (-sink).clip(lower=0.0), sink.clip(lower=0.0)


def _shares(source: pd.Series, sink: pd.Series) -> tuple[pd.Series, pd.Series]:
    if source.sum() <= 0 or sink.sum() <= 0:
        which = "source_co2_t_yr" if source.sum() <= 0 else "sink_co2_t_yr"
        raise InputError(f"the units have no {which.split('_')[0]}s in total: compensation needs both.",
                         field=which, fix="compensate between units of a city with both sources and sinks.")
    return source / source.sum(), sink / sink.sum()


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """numerator / denominator, NaN where the denominator is 0."""
    return numerator / denominator.where(denominator > 0)


def _correction(coefficient: pd.Series, numerator: pd.Series, low: float, high: float) -> pd.Series:
    """A correction coefficient clipped to [low, high]; where undefined (denominator 0) it is
    `high` when its numerator is positive, else 1 (nothing to correct)."""
    filled = coefficient.fillna(pd.Series(np.where(numerator > 0, np.inf, 1.0), index=coefficient.index))
    return filled.clip(low, high)


def _grade(rate: pd.Series, classes: pd.DataFrame) -> tuple[pd.Series, pd.Series, pd.Series]:
    """The class of each rate, and whether the class pays (wholly below 1) or receives (wholly at 1
    or above)."""
    lower = classes["min_compensation_rate"].to_numpy()
    upper = np.append(lower[1:], np.inf)
    position = np.clip(np.searchsorted(lower, rate.to_numpy(), side="right") - 1, 0, len(classes) - 1)
    names = pd.Series(classes["class"].to_numpy()[position], index=rate.index)
    return names, pd.Series(upper[position] <= 1.0, index=rate.index), pd.Series(lower[position] >= 1.0,
                                                                                 index=rate.index)


def compensation_zoning(
    source: pd.Series,
    sink: pd.Series,
    *,
    gdp: pd.Series | None = None,
    area_km2: pd.Series | None = None,
    corrections: Sequence[str] = (),
    classes: pd.DataFrame | None = None,
    parameters: dict[str, float] | None = None,
    price_cny_per_t_co2: float | None = None,
) -> pd.DataFrame:
    r"""Carbon compensation zoning of planning units: rate, classes, amounts and money.

    Parameters
    ----------
    source : Series [t CO2/yr]
        Sources of each unit (>= 0), indexed by unit id.
    sink : Series [t CO2/yr]
        Sinks of each unit, indexed like `source` (a unit missing has none); a negative sink
        (land releasing carbon, e.g. a reclaimed wetland) is counted as a source.
    gdp : Series [any currency per yr], optional
        Output of each unit; only shares are used. Needed for the 'economic' correction (then
        for every unit; otherwise a unit without it gets no coefficient).
    area_km2 : Series [km2], optional
        Area of each unit. Needed for the 'ecological' correction.
    corrections : sequence of {'economic', 'ecological'}
        Coefficients the rate is corrected by (none: the plain rate).
    classes : DataFrame, optional
        Classes by minimum rate (:func:`carbonmap.coefficients.compensation_classes`, the default).
    parameters : dict, optional
        ``correction_min`` and ``correction_max`` [-]
        (:func:`carbonmap.coefficients.compensation_parameters`, the default).
    price_cny_per_t_co2 : float [CNY/t CO2], optional
        Carbon price; with it, the money columns.

    Returns
    -------
    DataFrame
        Indexed like `source`: ``compensation_rate`` [-] (NaN for a unit without sources);
        with `gdp`, ``economic_contribution_coef`` [-]; with `area_km2`,
        ``ecological_carrying_coef`` [-]; with `corrections`, ``compensation_rate_corrected`` [-];
        ``compensation_class``; ``compensation_paid_co2_t_yr`` and
        ``compensation_received_co2_t_yr`` [t CO2/yr, >= 0]; with a price,
        ``compensation_paid_cny_yr`` and ``compensation_received_cny_yr`` [CNY/yr].

    Raises
    ------
    InputError
        Negative or non-finite values, no sources or no sinks in total, an unknown correction, a
        correction without its data, or a negative price.

    Notes
    -----
    With :math:`E_i` the sources and :math:`K_i` the sinks of unit i, :math:`G_i` its output
    and :math:`A_i` its area, and :math:`E, K, G, A` their sums over the units, the shares are
    :math:`e_i = E_i/E`, :math:`k_i = K_i/K`, :math:`g_i = G_i/G`, :math:`a_i = A_i/A`, and

    .. math::

        R_i = \frac{k_i}{e_i}, \qquad
        \mathrm{ECC}_i = \frac{g_i}{e_i}, \qquad
        \mathrm{ESC}_i = \frac{k_i}{a_i}

    are the carbon compensation rate, the economic-contribution coefficient and the
    ecological-carrying coefficient [1]_ [2]_ [3]_. :math:`R_i < 1`: the unit absorbs a smaller
    share of the city's sinks than it emits of its sources. The corrected rate multiplies the
    sink shares by the chosen coefficients :math:`c_i` (their product, each clipped to
    [``correction_min``, ``correction_max``]) and renormalises them, so the shares still sum
    to 1 (carbonmap's combination of the cited coefficients):

    .. math::

        k'_i = \frac{k_i c_i}{\sum_j k_j c_j}, \qquad R'_i = \frac{k'_i}{e_i}

    The amount is each unit's gap to the sinks its share of the sources calls for [4]_:

    .. math::

        x_i = K \, (e_i - k'_i), \qquad \sum_i x_i = 0

    so a payer pays for the sink capacity it uses beyond its own, and a receiver is paid for
    sinks it supplies to the others (never more than its sink without corrections). A unit's class
    is the last row of `classes` whose ``min_compensation_rate`` is at most :math:`R'_i` (a unit
    without sources: receiving with sinks, balanced without). Classes wholly below 1 pay
    :math:`x_i`, classes wholly at or above 1 receive :math:`-x_i`, a class spanning 1 (the
    balanced zone) does neither; the receivers' amounts are then scaled by
    :math:`\sum \mathrm{paid} / \sum \mathrm{received}` so that the city's paid and received
    amounts are equal (the balanced zone's small gaps are shared out). Money is amount times price.

    References
    ----------
    See the module's references.

    Examples
    --------
    >>> source = pd.Series({"a": 60.0, "b": 30.0, "c": 10.0})
    >>> sink = pd.Series({"a": 5.0, "b": 15.0, "c": 30.0})
    >>> zoning = compensation_zoning(source, sink)
    >>> zoning[["compensation_rate", "compensation_class", "compensation_paid_co2_t_yr"]]
       compensation_rate compensation_class  compensation_paid_co2_t_yr
    a           0.166667      carbon_paying                        25.0
    b           1.000000    carbon_balanced                         0.0
    c           6.000000   carbon_receiving                         0.0
    >>> float(zoning["compensation_received_co2_t_yr"].sum())
    25.0
    """
    unknown = sorted(set(corrections) - set(CORRECTIONS))
    if unknown:
        raise InputError(f"unknown correction(s) {', '.join(map(repr, unknown))}.", key="compensation.corrections",
                         fix=f"use {' and/or '.join(map(repr, CORRECTIONS))}.")
    if price_cny_per_t_co2 is not None and not price_cny_per_t_co2 >= 0:
        raise InputError(f"the carbon price must be 0 or more, got {price_cny_per_t_co2!r}.",
                         key="compensation.carbon_price", fix="give a price in CNY/t CO2, e.g. 95.96.")
    classes = compensation_classes() if classes is None else classes
    parameters = compensation_parameters() if parameters is None else parameters
    source, sink = _sources_and_sinks(source, sink)
    e, k = _shares(source, sink)
    out = pd.DataFrame({"compensation_rate": _ratio(k, e)}, index=source.index)
    coefficients, factor = _coefficients(e, k, gdp, area_km2, corrections, parameters)
    out[list(coefficients)] = coefficients
    corrected = k * factor / (k * factor).sum()
    rate = _ratio(corrected, e)
    if corrections:
        out["compensation_rate_corrected"] = rate
    graded = rate.fillna(pd.Series(np.where(corrected > 0, np.inf, 1.0), index=source.index))
    out["compensation_class"], pays, receives = _grade(graded, classes)
    paid, received = _amounts(sink.sum() * (e - corrected), pays, receives)
    out["compensation_paid_co2_t_yr"], out["compensation_received_co2_t_yr"] = paid, received
    if price_cny_per_t_co2 is not None:
        out["compensation_paid_cny_yr"] = out["compensation_paid_co2_t_yr"] * price_cny_per_t_co2
        out["compensation_received_cny_yr"] = out["compensation_received_co2_t_yr"] * price_cny_per_t_co2
    return out


def _coefficients(e: pd.Series, k: pd.Series, gdp: pd.Series | None, area_km2: pd.Series | None,
                  corrections: Sequence[str], parameters: dict[str, float]) -> tuple[pd.DataFrame, pd.Series]:
    """The economic-contribution and ecological-carrying coefficients the data allow, and the
    correction factor of the sink shares (the product of the chosen ones, clipped)."""
    out, factor = pd.DataFrame(index=e.index), pd.Series(1.0, index=e.index)
    for name, data, column in (("economic", gdp, "economic_contribution_coef"),
                               ("ecological", area_km2, "ecological_carrying_coef")):
        if data is None:
            if name in corrections:
                field = _field_of(name)
                raise InputError(f"the {name} correction needs each unit's {field}.", field=field,
                                 fix=f"give the units' {field}, or leave out the {name} correction.")
            continue
        data = _checked(data.reindex(e.index), _field_of(name), missing_ok=name not in corrections)
        share = data / data.sum() if data.sum() > 0 else data * 0.0  # a unit without data: NaN
        numerator, denominator = (share, e) if name == "economic" else (k, share)
        out[column] = _ratio(numerator, denominator)
        if name in corrections:
            factor *= _correction(out[column], numerator, parameters["correction_min"], parameters["correction_max"])
    return out, factor


def _amounts(gap: pd.Series, pays: pd.Series, receives: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Paid and received amounts from the gaps: payers pay their gap, receivers receive theirs
    scaled so that both totals are equal (none at all when either side is empty)."""
    paid, received = gap.where(pays & (gap > 0), 0.0), (-gap).where(receives & (gap < 0), 0.0)
    if not (paid.sum() > 0 and received.sum() > 0):
        return paid * 0.0, received * 0.0
    return paid, received * (paid.sum() / received.sum())


def _field_of(correction: str) -> str:
    """The per-unit field a correction needs ('economic': gdp, 'ecological': area_km2)."""
    return "gdp" if correction == "economic" else "area_km2"


def transport_plan(
    supply: pd.Series,
    demand: pd.Series,
    cost: pd.DataFrame,
    *,
    allowed: pd.DataFrame | None = None,
    restriction: str = "none",
) -> pd.DataFrame:
    r"""The least-cost transfer of `supply` to `demand`: Hitchcock's transport problem [6]_.

    Parameters
    ----------
    supply : Series [t CO2/yr]
        What each payer pays (> 0 kept), indexed by payer id.
    demand : Series [t CO2/yr]
        What each receiver receives (> 0 kept), indexed by receiver id.
    cost : DataFrame [cost per t CO2/yr, e.g. km]
        Cost of a unit of transfer, indexed by payer (rows) and receiver (columns); NaN: no link.
    allowed : DataFrame of bool, optional
        The payer-receiver pairs allowed (indexed like `cost`); default all with a cost.
    restriction : str
        Named in the error when the allowed pairs cannot carry the amounts.

    Returns
    -------
    DataFrame
        One row per pair with a flow: ``payer_id``, ``receiver_id``, ``amount_co2_t_yr``,
        ``cost`` (per unit of transfer), sorted by payer and receiver.

    Raises
    ------
    InputError
        When the allowed pairs cannot carry the amounts (infeasible), naming the units and
        ``compensation.restriction``.

    Notes
    -----
    With flows :math:`x_{ij} \ge 0` from payer i (supply :math:`s_i`) to receiver j (demand
    :math:`d_j`) on the allowed pairs, costs :math:`c_{ij}`:

    .. math::

        \min \sum_{ij} c_{ij} x_{ij} \quad \text{s.t.} \quad
        \sum_j x_{ij} = s_i, \qquad \sum_i x_{ij} = d_j

    solved with HiGHS. When the totals differ, the demands are scaled to the supplies' total
    first (the payers' amounts are kept), so that the problem is balanced.

    Examples
    --------
    >>> cost = pd.DataFrame([[1.0, 4.0], [3.0, 1.0]], index=["p", "q"], columns=["r", "s"])
    >>> transport_plan(pd.Series({"p": 5.0, "q": 5.0}), pd.Series({"r": 7.0, "s": 3.0}), cost)
      payer_id receiver_id  amount_co2_t_yr  cost
    0        p           r              5.0   1.0
    1        q           r              2.0   3.0
    2        q           s              3.0   1.0
    """
    supply, demand = supply[supply > 0].astype(float), demand[demand > 0].astype(float)
    columns = ["payer_id", "receiver_id", "amount_co2_t_yr", "cost"]
    if supply.empty or demand.empty:
        return pd.DataFrame({c: pd.Series(dtype=object if c.endswith("_id") else float) for c in columns})
    demand = demand * (supply.sum() / demand.sum())
    costs = cost.reindex(index=supply.index, columns=demand.index).to_numpy(dtype=float)
    ok = np.isfinite(costs)
    if allowed is not None:
        ok &= allowed.reindex(index=supply.index, columns=demand.index).fillna(False).to_numpy(dtype=bool)
    _check_links(ok, supply.index, demand.index, restriction)
    rows, cols = np.nonzero(ok)
    n = len(rows)
    a_eq = sparse.vstack([sparse.csr_matrix((np.ones(n), (rows, np.arange(n))), shape=(len(supply), n)),
                          sparse.csr_matrix((np.ones(n), (cols, np.arange(n))), shape=(len(demand), n))]).tocsr()
    b_eq = np.concatenate([supply.to_numpy(), demand.to_numpy()])
    solved = linprog(costs[rows, cols], A_eq=a_eq, b_eq=b_eq, bounds=(0, None), method="highs")
    if solved.status == 2:
        raise _infeasible(restriction, "the allowed pairs cannot carry every payer's amount to the receivers")
    if solved.status != 0:
        raise InputError(f"the compensation network could not be solved: {solved.message}",
                         fix="check the amounts and costs for extreme values.")
    flows = solved.x
    keep = flows > 1e-9 * supply.sum()
    plan = pd.DataFrame({"payer_id": supply.index.to_numpy()[rows[keep]],
                         "receiver_id": demand.index.to_numpy()[cols[keep]],
                         "amount_co2_t_yr": flows[keep], "cost": costs[rows[keep], cols[keep]]})
    return plan.sort_values(["payer_id", "receiver_id"], kind="stable").reset_index(drop=True)


def _check_links(ok: np.ndarray, payers: pd.Index, receivers: pd.Index, restriction: str) -> None:
    """Every payer and every receiver has at least one allowed partner."""
    alone = [f"payer {p}" for p in payers[~ok.any(axis=1)]] + [f"receiver {r}" for r in receivers[~ok.any(axis=0)]]
    if alone:
        shown = ", ".join(map(str, alone[:10])) + (", ..." if len(alone) > 10 else "")
        raise _infeasible(restriction, f"no partner may be paired with {shown}")


def _infeasible(restriction: str, why: str) -> InputError:
    return InputError(f"the compensation network is infeasible under restriction {restriction!r}: {why}.",
                      key="compensation.restriction",
                      fix="relax the restriction (none), or regroup the units so that each group has both "
                          "payers and receivers (zone_field), or give costs for the missing pairs.")


def _projected(units: gpd.GeoDataFrame) -> None:
    if units.crs is None or not units.crs.is_projected:
        raise CRSError("the planning units must be in a projected CRS (metres) to measure distances.",
                       fix="reproject them (a run does: the analysis grid's CRS), or set --assume-crs.")


def centroid_distances_km(rows: gpd.GeoDataFrame, columns: gpd.GeoDataFrame) -> pd.DataFrame:
    """Straight-line distances [km] between the centroids of `rows` and of `columns` (both in
    the same projected CRS, metres), indexed by their ids."""
    _projected(rows)
    a, b = rows.geometry.centroid, columns.geometry.centroid
    distance = cdist(np.column_stack([a.x, a.y]), np.column_stack([b.x, b.y])) / 1000.0
    return pd.DataFrame(distance, index=rows.index, columns=columns.index)


def neighbours(units: gpd.GeoDataFrame, *, tolerance_m: float = 1.0) -> pd.DataFrame:
    """Which units share a boundary: closer than `tolerance_m` [m] (queen contiguity; the
    tolerance absorbs slivers between digitised boundaries). A unit is not its own neighbour."""
    _projected(units)
    left, right = units.sindex.query(units.geometry, predicate="dwithin", distance=tolerance_m)
    adjacency = np.zeros((len(units), len(units)), dtype=bool)
    adjacency[left, right] = True
    np.fill_diagonal(adjacency, False)
    return pd.DataFrame(adjacency, index=units.index, columns=units.index)


def same_zone(zones: pd.Series) -> pd.DataFrame:
    """Which units lie in the same zone (e.g. main functional zone, 主体功能区); a unit without a
    zone is in none."""
    values = zones.to_numpy(dtype=object)
    known = pd.notna(zones).to_numpy()
    same = (values[:, None] == values[None, :]) & known[:, None] & known[None, :]
    return pd.DataFrame(same, index=zones.index, columns=zones.index)


def flow_lines(pairs: pd.DataFrame, units: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The pairs as straight lines from the payer's centroid to the receiver's, in the units' CRS."""
    centres = units.geometry.centroid
    start = shapely.get_coordinates(centres.reindex(pairs["payer_id"]).to_numpy())
    end = shapely.get_coordinates(centres.reindex(pairs["receiver_id"]).to_numpy())
    lines = shapely.linestrings(np.stack([start, end], axis=1)) if len(pairs) else []
    return gpd.GeoDataFrame(pairs.reset_index(drop=True), geometry=gpd.GeoSeries(lines, crs=units.crs).values,
                            crs=units.crs)


def compensation_network(
    zoning: pd.DataFrame,
    units: gpd.GeoDataFrame,
    *,
    restriction: str = "none",
    zones: pd.Series | None = None,
    cost: pd.DataFrame | None = None,
    price_cny_per_t_co2: float | None = None,
) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    """The compensation network: payers paired with receivers at least total cost.

    Parameters
    ----------
    zoning : DataFrame
        :func:`compensation_zoning`'s result (``compensation_paid_co2_t_yr``,
        ``compensation_received_co2_t_yr`` [t CO2/yr]), indexed by unit id.
    units : GeoDataFrame
        The units' polygons in a projected CRS [m], indexed like `zoning`.
    restriction : {'none', 'neighbours', 'zone'}
        Pair any units, only units sharing a boundary (:func:`neighbours`), or only units in the
        same zone (:func:`same_zone` of `zones`).
    zones : Series, optional
        Each unit's zone (e.g. main functional zone); needed with ``restriction='zone'``.
    cost : DataFrame, optional
        A user cost per t CO2 by payer (rows) and receiver (columns) instead of the distance;
        a missing pair cannot be used.
    price_cny_per_t_co2 : float [CNY/t CO2], optional
        With it, ``money_cny_yr`` per pair.

    Returns
    -------
    pairs : DataFrame
        ``payer_id``, ``receiver_id``, ``amount_co2_t_yr`` [t CO2/yr], ``distance_km`` [km]
        between centroids, with `cost` its ``cost`` per t CO2/yr, with a price ``money_cny_yr``.
    lines : GeoDataFrame
        The same rows as lines from the payer's centroid to the receiver's.

    Raises
    ------
    InputError
        An unknown restriction, 'zone' without zones, or an infeasible restriction.

    Notes
    -----
    The objective is :math:`\\sum x_{ij} c_{ij}`, with :math:`c_{ij}` the distance between the
    centroids [km] or the user cost (:func:`transport_plan`); the flows of a payer add up to its
    paid amount, those of a receiver to its received amount, and the paid and received totals are
    equal (:func:`compensation_zoning`).
    """
    if restriction not in RESTRICTIONS:
        raise InputError(f"unknown restriction {restriction!r}.", key="compensation.restriction",
                         fix=f"use one of {', '.join(RESTRICTIONS)}.")
    if restriction == "zone" and zones is None:
        raise InputError("restriction 'zone' needs each unit's zone.", key="compensation.zone_field",
                         fix="name the units' field of main functional zones (zone_field).")
    supply = zoning["compensation_paid_co2_t_yr"]
    demand = zoning["compensation_received_co2_t_yr"]
    payers, receivers = units.loc[supply.index[supply > 0]], units.loc[demand.index[demand > 0]]
    distance = centroid_distances_km(payers, receivers)
    allowed = None
    if restriction == "neighbours":
        allowed = neighbours(units)
    elif restriction == "zone":
        allowed = same_zone(zones.reindex(units.index))
    pairs = transport_plan(supply, demand, distance if cost is None else cost, allowed=allowed,
                           restriction=restriction)
    pairs.insert(3, "distance_km", [distance.at[p, r] for p, r in zip(pairs["payer_id"], pairs["receiver_id"])])
    if cost is None:
        pairs = pairs.drop(columns="cost")
    if price_cny_per_t_co2 is not None:
        pairs["money_cny_yr"] = pairs["amount_co2_t_yr"] * price_cny_per_t_co2
    return pairs, flow_lines(pairs, units)
