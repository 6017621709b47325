r"""Uncertainty and sensitivity: an interval on every number, and the coefficients that matter.

Every coefficient of the accounting carries a distribution around its central value
(:func:`carbonmap.coefficients.coefficient_uncertainty`). Each is written here as a
*multiplier* :math:`f_k` of its central value (median 1 for normal, lognormal with a range
symmetric in logs, triangular with mode 1; mean 1 for normal and for symmetric ranges).

The per-unit accounting is linear in the coefficients: a unit's sources are sums of areas x
per-hectare coefficients and of sector totals x downscaling shares; its sinks are sums of NEP
densities and blue-carbon rates x areas. So each output :math:`y_u` (sources, sinks, carbon
stock of unit u) is exactly

.. math::

    y_u(f) = y_u^0 + \sum_k J_{u,k} \, (f_k - 1)

with :math:`y_u^0` its value at the central coefficients and :math:`J_{u,k}` the part of it
that scales with coefficient k (its *contribution*; :class:`LinearModel`). All draws are then
one matrix product, :math:`Y = y^0 + (F - 1) J^T` with F the draws x coefficients multipliers,
never a rerun of the pipeline (:func:`propagate`). Draws are a Latin hypercube (McKay et al.
1979; :func:`latin_hypercube`) mapped through each distribution's quantile function
(:func:`draw_multipliers`).

From the draws: the 5 / 50 / 95 % quantiles of each unit's sources, sinks and net
(:func:`percentiles`), the probability of each balance class (:func:`class_probabilities`),
the distribution of the peak and net-zero years of a trajectory (:func:`milestone_years`);
IPCC Approach 1, error propagation, as a check of the linear model
(:func:`approach1_half_width`); and global sensitivity: Spearman rank correlations of the
outputs with each multiplier (:func:`rank_correlations`), first-order Sobol indices, exact for
a linear model with independent inputs (:func:`linear_sobol`), and the tornado of the output at
the 5 and 95 % quantiles of each coefficient (:func:`tornado`).

References
----------
.. [1] IPCC (2006). 2006 IPCC Guidelines for National Greenhouse Gas Inventories, Volume 1,
   Chapter 3: Uncertainties (Approach 1: propagation of error, Eq. 3.1 and 3.2; Approach 2:
   Monte Carlo simulation).
.. [2] McKay M. D., Beckman R. J., Conover W. J. (1979). A comparison of three methods for
   selecting values of input variables in the analysis of output from a computer code.
   Technometrics 21(2), 239-245.
.. [3] Saltelli A., Ratto M., Andres T., et al. (2008). Global Sensitivity Analysis: The Primer.
   Wiley (first-order indices; for a linear model with independent inputs
   :math:`S_k = J_k^2 \mathrm{Var}(f_k) / \mathrm{Var}(y)`).
.. [4] Gurney K. R., Liang J., Roest G., et al. (2021). Under-reporting of greenhouse gas
   emissions in U.S. cities. Nature Communications 12, 553 (95 % intervals of city emissions).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from scipy.stats import qmc

from carbonmap.coefficients import DISTRIBUTIONS
from carbonmap.errors import InputError
from carbonmap.readable import translate
from carbonmap.stocks import POOLS
from carbonmap.words import listed, words

__all__ = [
    "Z95",
    "LinearModel",
    "Trajectory",
    "UncertaintyResult",
    "analyse",
    "approach1_half_width",
    "balance_model",
    "check_draws",
    "class_probabilities",
    "draw_multipliers",
    "latin_hypercube",
    "linear_sobol",
    "milestone_years",
    "multiplier_moments",
    "multiplier_ppf",
    "parameter_label",
    "percentiles",
    "propagate",
    "rank_correlations",
    "tornado",
]

#: The standard normal's 97.5 % quantile: a 95 % interval is +-Z95 standard deviations.
Z95 = float(stats.norm.ppf(0.975))


@dataclass
class LinearModel:
    """The accounting as a linear function of the coefficient multipliers.

    parameters : one row per uncertain coefficient (a draw group): ``parameter`` (its name),
        ``distribution``, ``lower_pct``, ``upper_pct`` [%], ``source`` and what it is about.
    base : outputs x units at the central coefficients (rows e.g. ``source``, ``sink``)
        [t CO2/yr, or t C for stocks].
    contributions : dict of output -> DataFrame (units x parameters) of :math:`J_{u,k}`, the
        part of the output that scales with each parameter, in the output's unit.
    """

    parameters: pd.DataFrame
    base: pd.DataFrame
    contributions: dict[str, pd.DataFrame]
    exact: list[str] = field(default_factory=list)  # coefficients without a range (kept at their value)


def check_draws(draws: int, *, key: str = "uncertainty.draws", path=None) -> int:
    """`draws` as an int >= 2 (a spread needs two draws), else :class:`InputError`."""
    if isinstance(draws, bool) or not isinstance(draws, (int, np.integer)) or draws < 2:
        raise InputError(f"draws must be a whole number of at least 2, not {draws!r}.", path=path, key=key,
                         fix="give e.g. draws = 1000.")
    return int(draws)


def latin_hypercube(draws: int, dimensions: int, *, seed: int = 0) -> np.ndarray:
    """A Latin hypercube sample on the unit cube [-]: draws x dimensions, in (0, 1).

    Each column has exactly one point in each of the `draws` equal strata of (0, 1), at a
    random place within it, the strata paired at random between columns (McKay et al. 1979).
    The same `seed` gives the same sample.
    """
    draws = check_draws(draws)
    if dimensions == 0:
        return np.empty((draws, 0))
    return qmc.LatinHypercube(d=dimensions, rng=np.random.default_rng(seed)).random(draws)


def _frozen(distribution: str, lower_pct: float, upper_pct: float):
    """The multiplier's distribution (scipy frozen), or None for a point (a zero-width range)."""
    low, high = 1 - lower_pct / 100.0, 1 + upper_pct / 100.0
    if distribution not in DISTRIBUTIONS:
        raise InputError(f"unknown distribution {distribution!r}.", field="distribution",
                         fix=f"use one of {', '.join(DISTRIBUTIONS)}.")
    if low > high:
        raise InputError(f"the range {low:g}..{high:g} has its low bound above its high bound.",
                         field="lower_pct", fix="give non-negative lower_pct and upper_pct.")
    if high - low <= 0:
        return None
    if distribution == "normal":
        return stats.norm(loc=1.0, scale=(high - low) / 2 / Z95)
    if distribution == "lognormal":
        mu, sigma = (np.log(low) + np.log(high)) / 2, (np.log(high) - np.log(low)) / 2 / Z95
        return stats.lognorm(s=sigma, scale=np.exp(mu))
    if distribution == "triangular":
        return stats.triang(c=(1 - low) / (high - low), loc=low, scale=high - low)
    return stats.uniform(loc=low, scale=high - low)


def multiplier_ppf(distribution: str, lower_pct: float, upper_pct: float, q) -> np.ndarray:
    r"""The multiplier of a coefficient at quantiles `q` [-] (its central value is 1).

    Parameters
    ----------
    distribution : {'normal', 'lognormal', 'triangular', 'uniform'}
    lower_pct, upper_pct : float [%]
        The range below and above the central value, in % of it: the 2.5 and 97.5 %
        quantiles for normal and lognormal, the minimum and maximum for triangular and uniform.
    q : array of float [-]
        Quantiles in (0, 1).

    Returns
    -------
    array [-]
        The multipliers :math:`f = F^{-1}(q)`.

    Notes
    -----
    With :math:`a = 1 - l/100` and :math:`b = 1 + u/100`:

    - normal: :math:`f \sim N(1, \sigma)`, :math:`\sigma = (b - a) / (2 z_{0.975})`;
    - lognormal: :math:`\ln f \sim N(\mu, s)`, :math:`\mu = (\ln a + \ln b)/2`,
      :math:`s = (\ln b - \ln a) / (2 z_{0.975})` (median 1 when :math:`ab = 1`, e.g. -50 / +100 %);
    - triangular: minimum a, mode 1, maximum b; uniform: on [a, b].

    Examples
    --------
    >>> float(multiplier_ppf("normal", 10, 10, 0.975))
    1.1
    """
    frozen = _frozen(distribution, lower_pct, upper_pct)
    q = np.asarray(q, dtype=float)
    return np.ones_like(q) if frozen is None else frozen.ppf(q)


def multiplier_moments(parameters: pd.DataFrame) -> pd.DataFrame:
    """Mean and variance [-] of each parameter's multiplier (``mean``, ``variance``), indexed
    like `parameters` (``distribution``, ``lower_pct``, ``upper_pct``)."""
    rows = []
    for row in parameters.itertuples():
        frozen = _frozen(row.distribution, row.lower_pct, row.upper_pct)
        rows.append((1.0, 0.0) if frozen is None else (float(frozen.mean()), float(frozen.var())))
    return pd.DataFrame(rows, columns=["mean", "variance"], index=parameters.index)


def draw_multipliers(parameters: pd.DataFrame, draws: int, *, seed: int = 0) -> np.ndarray:
    """Latin-hypercube draws of every parameter's multiplier [-]: draws x parameters.

    `parameters`: ``distribution``, ``lower_pct``, ``upper_pct`` per row (:func:`multiplier_ppf`).
    The same `seed` gives the same draws.
    """
    unit = latin_hypercube(draws, len(parameters), seed=seed)
    out = np.empty_like(unit)
    for j, row in enumerate(parameters.itertuples()):
        out[:, j] = multiplier_ppf(row.distribution, row.lower_pct, row.upper_pct, unit[:, j])
    return out


def propagate(base: pd.Series, contributions: pd.DataFrame, multipliers: np.ndarray) -> np.ndarray:
    r"""All draws of a linear output at once: draws x units.

    Parameters
    ----------
    base : Series (units)
        The output at the central coefficients, :math:`y^0`.
    contributions : DataFrame (units x parameters)
        :math:`J_{u,k}`: the part of :math:`y_u` that scales with parameter k.
    multipliers : array (draws x parameters) [-]
        :func:`draw_multipliers`, columns in the order of `contributions`' columns.

    Returns
    -------
    array (draws x units)

    Notes
    -----
    .. math:: Y = \mathbf{1} (y^0)^T + (F - 1) J^T
    """
    jac = contributions.reindex(base.index).fillna(0.0).to_numpy(dtype=float)
    return base.to_numpy(dtype=float)[None, :] + (multipliers - 1.0) @ jac.T


def percentiles(values: np.ndarray, q=(5, 50, 95)) -> np.ndarray:
    """Quantiles [%] of each column of draws x items: len(q) x items."""
    return np.percentile(values, q, axis=0)


def class_probabilities(sources: np.ndarray, sinks: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    r"""The probability of each balance class per unit [-]: units x classes (the summary columns
    ``p_<class>_pct`` [%] of :func:`analyse`).

    Parameters
    ----------
    sources, sinks : array (draws x units) [t CO2/yr]
    thresholds : array [-]
        Ascending minimum sink-to-source ratios of the classes
        (:func:`carbonmap.coefficients.balance_classes`).

    Notes
    -----
    A draw's class is graded as :func:`carbonmap.balance.unit_balance` grades it: the last class
    whose threshold is at most :math:`K/E`; without sources a surplus when there is a sink,
    else balanced (ratio 1). :math:`P(c) = n_c / n`.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(sources > 0, sinks / np.where(sources > 0, sources, 1.0), np.where(sinks > 0, np.inf, 1.0))
    position = np.clip(np.searchsorted(thresholds, ratio, side="right") - 1, 0, len(thresholds) - 1)
    return np.stack([(position == c).mean(axis=0) for c in range(len(thresholds))], axis=1)


def approach1_half_width(contributions: pd.DataFrame, parameters: pd.DataFrame) -> pd.Series:
    r"""IPCC Approach 1: the half-width of each unit's 95 % interval [unit of the output] (of the
    net: the summary column ``net_co2_t_yr_u95``).

    Parameters
    ----------
    contributions : DataFrame (units x parameters)
        :math:`J_{u,k}` (:class:`LinearModel`).
    parameters : DataFrame
        ``lower_pct``, ``upper_pct`` [%] per parameter, in the order of the columns.

    Notes
    -----
    IPCC 2006 Vol. 1 Ch. 3, Eq. 3.1 for a sum of uncertain quantities :math:`x_k` with 95 %
    half-widths :math:`U_k` [%]: :math:`U = \sqrt{\sum_k (U_k x_k)^2}` (absolute). Here
    :math:`x_k = J_{u,k}` and :math:`U_k = (l_k + u_k)/2`, the mean of the two sides for an
    asymmetric range, as the Guidelines advise. Exact for normal inputs; for others a first-order
    approximation, valid when the relative uncertainties are below about 30 % (ibid.).
    """
    half = ((parameters["lower_pct"] + parameters["upper_pct"]) / 200.0).to_numpy(dtype=float)
    return pd.Series(np.sqrt(((contributions.to_numpy(dtype=float) * half[None, :]) ** 2).sum(axis=1)),
                     index=contributions.index)


def _ranks(values: np.ndarray) -> np.ndarray:
    return stats.rankdata(values, axis=0)


def rank_correlations(multipliers: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    r"""Spearman rank correlation of each output with each parameter [-]: outputs x parameters.

    Parameters
    ----------
    multipliers : array (draws x parameters)
    outputs : array (draws x outputs)

    Notes
    -----
    Pearson correlation of the ranks, :math:`\rho = \mathrm{corr}(R(f_k), R(y))`; 0 where a
    parameter or an output does not vary.
    """
    rx, ry = _ranks(multipliers), _ranks(outputs)
    rx, ry = rx - rx.mean(axis=0), ry - ry.mean(axis=0)
    sx, sy = np.sqrt((rx ** 2).sum(axis=0)), np.sqrt((ry ** 2).sum(axis=0))
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = (ry.T @ rx) / np.outer(sy, sx)
    return np.nan_to_num(rho)


def linear_sobol(contributions: pd.DataFrame, variances: np.ndarray) -> pd.DataFrame:
    r"""First-order Sobol indices of a linear output [-]: units x parameters (the largest for
    each unit's net is its ``net_top_coefficient``).

    Notes
    -----
    For :math:`y = y^0 + \sum_k J_k (f_k - 1)` with independent :math:`f_k`,
    :math:`\mathrm{Var}(y) = \sum_k J_k^2 \mathrm{Var}(f_k)` and the first-order index (the share
    of the variance each coefficient explains alone) is

    .. math:: S_k = J_k^2 \, \mathrm{Var}(f_k) \,/\, \mathrm{Var}(y)

    They sum to 1 (there are no interactions); 0 where the output does not vary (Saltelli et
    al. 2008).
    """
    parts = contributions.to_numpy(dtype=float) ** 2 * np.asarray(variances, dtype=float)[None, :]
    total = parts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        shares = np.where(total > 0, parts / np.where(total > 0, total, 1.0), 0.0)
    return pd.DataFrame(shares, index=contributions.index, columns=contributions.columns)


def tornado(contributions: pd.Series, parameters: pd.DataFrame, q=(0.05, 0.95)) -> pd.DataFrame:
    r"""How much an output moves when one coefficient goes to its 5 and 95 % quantiles and the
    others stay central: ``low`` and ``high`` [unit of the output], per parameter.

    Notes
    -----
    For a linear output the change is exact: :math:`\Delta y_k = J_k (F_k^{-1}(q) - 1)`.
    """
    rows = []
    for name, row in parameters.iterrows():
        low, high = multiplier_ppf(row["distribution"], row["lower_pct"], row["upper_pct"], np.asarray(q))
        j = float(contributions.get(name, 0.0))
        rows.append((j * (low - 1), j * (high - 1)))
    out = pd.DataFrame(rows, columns=["low", "high"], index=parameters.index)
    return out.assign(swing=(out["high"] - out["low"]).abs())


def milestone_years(years: np.ndarray, emissions: np.ndarray, net: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""The peak year and the net-zero year of each drawn trajectory.

    Parameters
    ----------
    years : array (T) [year]
    emissions, net : array (draws x T) [t CO2/yr]

    Returns
    -------
    (peak, net_zero) : arrays (draws) [year]
        :math:`t_{peak} = \min \arg\max_t E(t)`; :math:`t_{zero} = \min\{t : N(t) \le 0\}`, NaN
        when never (as :func:`carbonmap.scenarios.timeline.milestones`).
    """
    years = np.asarray(years)
    peak = years[np.argmax(emissions, axis=1)].astype(float)
    reached = net <= 0
    zero = np.where(reached.any(axis=1), years[np.argmax(reached, axis=1)], np.nan).astype(float)
    return peak, zero


def range_of(ranges: pd.DataFrame, table: str, key: str) -> pd.Series | None:
    """The uncertainty row of coefficient `key` of `table`: its own, else the table's ``*`` row,
    else None (the coefficient is taken as exact)."""
    rows = ranges[(ranges["table"] == table) & (ranges["key"] == key)]
    if rows.empty:
        rows = ranges[(ranges["table"] == table) & (ranges["key"] == "*")]
    return None if rows.empty else rows.iloc[-1]


class _Terms:
    """Collects contributions J (units x parameters) of several outputs and the parameters met."""

    def __init__(self, ranges: pd.DataFrame, index: pd.Index) -> None:
        self.ranges, self.index = ranges, index
        self.parameters: dict[str, dict] = {}
        self.columns: dict[str, dict[str, np.ndarray]] = {}
        self.exact: list[str] = []

    def add(self, output: str, table: str, key: str, values, *, also: str | None = None) -> None:
        values = pd.Series(values).reindex(self.index).fillna(0.0).to_numpy(dtype=float)
        if not np.any(values):
            return
        row = range_of(self.ranges, table, key)
        if row is None or row["lower_pct"] + row["upper_pct"] == 0:
            self.exact.append(f"{table}/{key}")
            return
        name = row["group"]
        entry = self.parameters.setdefault(name, {
            "parameter": name, "table": table, "keys": [], "distribution": row["distribution"],
            "lower_pct": float(row["lower_pct"]), "upper_pct": float(row["upper_pct"]), "source": row["source"],
            "verified": row.get("verified", "")})
        if key not in entry["keys"]:
            entry["keys"].append(key)
        for out in (output,) if also is None else (output, also):
            column = self.columns.setdefault(out, {})
            column[name] = column.get(name, 0.0) + values

    def model(self, base: dict[str, pd.Series]) -> LinearModel:
        names = list(self.parameters)
        parameters = pd.DataFrame([{**p, "keys": ", ".join(p["keys"])} for p in self.parameters.values()],
                                  columns=["parameter", "table", "keys", "distribution", "lower_pct", "upper_pct",
                                           "source", "verified"]).set_index("parameter", drop=False)
        contributions = {output: pd.DataFrame({n: self.columns.get(output, {}).get(n, np.zeros(len(self.index)))
                                               for n in names}, index=self.index) for output in base}
        frame = pd.DataFrame({k: v.reindex(self.index).fillna(0.0) for k, v in base.items()}).T
        return LinearModel(parameters, frame, contributions, sorted(set(self.exact)))


def balance_model(ranges: pd.DataFrame, *, sources: pd.DataFrame, sinks: pd.Series,
                  inventory: pd.DataFrame | None = None, points: pd.DataFrame | None = None,
                  land_emissions: pd.DataFrame | None = None, coefficient_sinks: pd.DataFrame | None = None,
                  nep_sink: pd.Series | None = None, blue_carbon: pd.DataFrame | None = None,
                  stocks: pd.DataFrame | None = None) -> LinearModel:
    r"""The per-unit balance (and stock) as a linear function of the coefficient multipliers.

    Parameters
    ----------
    ranges : DataFrame
        :func:`carbonmap.coefficients.coefficient_uncertainty`.
    sources : DataFrame (units x sectors) [t CO2/yr]
        The balance's sources by sector (``land_use``: counted coefficient emissions).
    sinks : Series (units) [t CO2/yr]
        The balance's sinks.
    inventory : DataFrame, optional
        Per inventory sector (index): ``inventory_co2_t_yr`` :math:`T_s` and
        ``point_co2_t_yr`` :math:`P_s` [t CO2/yr] (the allocation report, summed by sector).
    points : DataFrame (units x sectors) [t CO2/yr], optional
        Point sources per unit and sector, :math:`p_{u,s}` (part of `sources`).
    land_emissions : DataFrame (units x coef_id) [t CO2/yr], optional
        The counted coefficient emissions (`sources`' ``land_use``) by coefficient.
    coefficient_sinks, blue_carbon : DataFrame (units x coef_id) [t CO2/yr], optional
        Sinks by per-hectare coefficient (the coefficient method) and blue-carbon rate.
    nep_sink : Series (units) [t CO2/yr], optional
        The vegetation sink of the NEP method (one multiplier: ``sinks`` / ``nep``).
    stocks : DataFrame (units x pools) [t C], optional
        The baseline carbon stock by pool (``c_above``, ...): adds the output ``stock``.

    Returns
    -------
    LinearModel
        Outputs ``source`` and ``sink`` (and ``stock``); ``exact`` lists the coefficients that
        have no range (kept at their value).

    Notes
    -----
    A sector's inventory total :math:`T_s` less its point sources :math:`P_s` is downscaled by
    fixed shares, so unit u's proxy part :math:`q_{u,s} = E_{u,s} - p_{u,s}` becomes
    :math:`q_{u,s} (f_s T_s - g P_s) / (T_s - P_s)` when the total is multiplied by
    :math:`f_s` and the point sources by :math:`g`. Hence

    .. math::

        J_{u,s} = q_{u,s} \frac{T_s}{T_s - P_s}, \qquad
        J_{u,g} = \sum_s \Big(p_{u,s} - q_{u,s} \frac{P_s}{T_s - P_s}\Big)

    (their sum is :math:`E_{u,s}`: the sector's total is conserved). A per-hectare coefficient,
    a blue-carbon rate, the NEP and a pool's density contribute what they account in the unit.
    """
    index = sources.index
    terms = _Terms(ranges, index)
    points = pd.DataFrame(index=index) if points is None else points.reindex(index).fillna(0.0)
    inventory = pd.DataFrame(columns=["inventory_co2_t_yr", "point_co2_t_yr"]) if inventory is None else inventory
    for sector in sources.columns:
        if sector == "land_use":
            continue
        point = points[sector] if sector in points else pd.Series(0.0, index=index)
        proxy = sources[sector] - point
        total = float(inventory["inventory_co2_t_yr"].get(sector, 0.0))
        placed = float(inventory["point_co2_t_yr"].get(sector, 0.0))
        if total - placed > 0:
            terms.add("source", "inventory", sector, proxy * total / (total - placed), also=f"source:{sector}")
            terms.add("source", "inventory", "point_sources", point - proxy * placed / (total - placed),
                      also=f"source:{sector}")
        else:  # everything of the sector is point sources (or no inventory row: taken as measured)
            terms.add("source", "inventory", "point_sources", point, also=f"source:{sector}")
            terms.add("source", "inventory", sector, proxy, also=f"source:{sector}")
    for frame, output in ((land_emissions, "source"), (coefficient_sinks, "sink"), (blue_carbon, "sink")):
        for coef_id in ([] if frame is None else frame.columns):
            terms.add(output, "landuse_carbon_coefficients", coef_id, frame[coef_id],
                      also="source:land_use" if output == "source" else None)
    if nep_sink is not None:
        terms.add("sink", "sinks", "nep", nep_sink)
    base = {"source": sources.sum(axis=1), "sink": sinks.reindex(index).fillna(0.0),
            **{f"source:{sector}": sources[sector] for sector in sources.columns}}
    if stocks is not None:
        for pool in stocks.columns:
            terms.add("stock", "carbon_pools", pool, stocks[pool])
        base["stock"] = stocks.reindex(index).fillna(0.0).sum(axis=1)
    return terms.model(base)


def parameter_label(row, language: str = "en") -> str:
    """A parameter as readers know it, in `language`: the inventory sectors it scales (排放清单：建筑),
    the carbon pool (碳库：土壤), NEP, or the land-cover classes of its coefficient ids with the ids
    (林地 (CN-FOREST-FANG2007)); other coefficient ids as they are (IPCC-WL-SEAGRASS).

    Examples
    --------
    >>> parameter_label({"keys": "point_sources", "table": "inventory"}, "zh")
    '排放清单：重点排放源'
    >>> parameter_label({"keys": "c_soil", "table": "carbon_pools"}, "en")
    'carbon pool: soil'
    """
    keys, table = str(row.get("keys") or row.get("parameter")), str(row.get("table", ""))
    colon = "：" if language == "zh" else ": "
    if table == "inventory":  # inventory sectors
        names = [words("unc.point_sources").in_(language) if k == "point_sources" else translate(k, language)
                 for k in keys.split(", ")]
        return words("unc.inventory").in_(language) + colon + listed(names).in_(language)
    if table == "carbon_pools":
        pool = words(f"unc.{keys}").in_(language) if keys in POOLS else keys
        return words("unc.pool").in_(language) + colon + pool
    if table == "landuse_carbon_coefficients":
        names = _coefficient_classes(language)
        shown = dict.fromkeys(names.get(k, k) for k in keys.split(", "))  # rows sharing a draw: each class once
        return listed(shown).in_(language) + f" ({keys})"
    return "NEP" if keys == "nep" else keys


@functools.cache
def _coefficient_classes(language: str) -> dict[str, str]:
    """coef_id of ``landuse_carbon_coefficients.csv`` -> the name of its carbon category in `language`."""
    from carbonmap.coefficients import landuse_coefficients
    from carbonmap.landuse import carbon_categories

    categories = carbon_categories().set_index("carbon_category")[f"name_{language}"]
    table = landuse_coefficients()
    return {coef: categories.get(category, translate(category.replace("_", " "), language))
            for coef, category in zip(table["coef_id"], table["carbon_category"])}


@dataclass
class Trajectory:
    """A citywide trajectory of one scenario, linear in the base-year sources and sink.

    years : (T) [year]. sectors : DataFrame (T x sectors) of each sector's sources [t CO2/yr]
    (they scale with the sector's base-year total). other : (T) the sources that do not (land
    conversions less avoided emissions) [t CO2/yr]. sink : (T) the sink [t CO2/yr], of which
    :math:`S_0 (1 + h)^{t - t_0}` scales with the base-year sink :math:`S_0` (``sink[0]``), h =
    `sink_growth_pct` [%/yr].
    """

    scenario: str
    years: np.ndarray
    sectors: pd.DataFrame
    other: np.ndarray
    sink: np.ndarray
    sink_growth_pct: float = 0.0


def trajectory_draws(path: Trajectory, sector_ratio: dict[str, np.ndarray], sink_ratio: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray]:
    r"""Emissions and net of a trajectory in every draw [t CO2/yr]: two arrays draws x T.

    Notes
    -----
    With :math:`\rho_s = E_s^{(d)} / E_s` the drawn over the central base-year sources of sector
    s and :math:`\kappa = S_0^{(d)} / S_0` that of the sink (:mod:`carbonmap.scenarios.timeline`
    is linear in both):

    .. math::

        E^{(d)}(t) = \sum_s \rho_s E_s(t) + E_{other}(t), \qquad
        S^{(d)}(t) = S(t) + (\kappa - 1) S_0 (1 + h)^{t - t_0}
    """
    n = len(sink_ratio)
    emissions = np.tile(np.asarray(path.other, dtype=float), (n, 1))
    for sector in path.sectors.columns:
        ratio = sector_ratio.get(sector, np.ones(n))
        emissions += ratio[:, None] * path.sectors[sector].to_numpy(dtype=float)[None, :]
    growth = (1 + path.sink_growth_pct / 100.0) ** (path.years - path.years[0])
    sink = np.asarray(path.sink, dtype=float)[None, :] + (sink_ratio[:, None] - 1) * path.sink[0] * growth[None, :]
    return emissions, emissions - sink


@dataclass
class UncertaintyResult:
    """What :func:`analyse` computes.

    per_unit : the summary columns per unit (5 / 50 / 95 % of ``source_co2_t_yr``,
        ``sink_co2_t_yr``, ``net_co2_t_yr`` as ``<column>_p5`` ...; ``p_<class>_pct`` and
        ``p_balance_class_pct`` [%];
        ``net_co2_t_yr_u95`` (Approach 1); ``net_top_coefficient``; stock quantiles).
    city : the citywide quantities: central, mean, 2.5 / 5 / 50 / 95 / 97.5 %, the Approach 1
        interval (``approach1_low``, ``approach1_high``), the draws and the seed.
    sensitivity : per output (``net_co2_t_yr`` citywide [t CO2/yr], ``stock_t_c`` [t C]) and
        parameter it depends on: range, source, ``spearman`` and ``sobol_first_order`` [-], and the
        tornado: ``tornado_low`` and ``tornado_high``, the change of the output when the parameter
        is at its 5 and 95 % (the others central), and their ``swing``.
    top : per unit the three parameters that explain most of the variance of its net.
    milestones : per scenario the 5 / 50 / 95 % of the peak and net-zero years and the share of
        draws reaching net zero.
    multipliers : the draws (draws x parameters), for checks.
    """

    per_unit: pd.DataFrame
    city: pd.DataFrame
    sensitivity: pd.DataFrame
    top: pd.DataFrame
    milestones: pd.DataFrame
    multipliers: np.ndarray


def _spread(name: str, values: np.ndarray) -> dict[str, np.ndarray]:
    q = percentiles(values)
    return {f"{name}_p5": q[0], f"{name}_p50": q[1], f"{name}_p95": q[2]}


def analyse(model: LinearModel, *, draws: int = 1000, seed: int = 0, classes: pd.DataFrame | None = None,
            trajectories: list[Trajectory] | None = None, top: int = 3) -> UncertaintyResult:
    """Monte Carlo (Latin hypercube) through the linear model, with Approach 1 and sensitivity.

    Parameters
    ----------
    model : LinearModel
        :func:`balance_model`.
    draws : int
        Number of draws (>= 2).
    seed : int
        Seed of the sample: the same seed gives the same intervals.
    classes : DataFrame, optional
        Balance classes (``class``, ``min_sink_source_ratio``; default
        :func:`carbonmap.coefficients.balance_classes`).
    trajectories : list of Trajectory, optional
        Citywide scenario trajectories whose peak and net-zero years are drawn.
    top : int
        How many parameters per unit in ``top``.

    Returns
    -------
    UncertaintyResult
        ``per_unit`` has the summary columns ``source_co2_t_yr_p5``, ``source_co2_t_yr_p50``,
        ``source_co2_t_yr_p95``, ``sink_co2_t_yr_p5`` (p50, p95) and ``net_co2_t_yr_p5`` (p50,
        p95) [t CO2/yr],
        ``p_<class>_pct`` for each balance class and ``p_balance_class_pct`` [%] (the
        probability of the class of the central values), ``net_co2_t_yr_u95`` (Approach 1)
        [t CO2/yr], ``net_top_coefficient`` and, with stocks, ``stock_t_c_p5`` and
        ``stock_t_c_p95`` [t C].
    """
    from carbonmap.coefficients import balance_classes

    classes = balance_classes() if classes is None else classes
    parameters = model.parameters
    names = list(parameters.index)
    f = draw_multipliers(parameters, draws, seed=seed)
    units = model.base.columns
    jac = {k: v.reindex(columns=names).fillna(0.0) for k, v in model.contributions.items()}
    source = propagate(model.base.loc["source"], jac["source"], f)
    sink = propagate(model.base.loc["sink"], jac["sink"], f)
    net = source - sink
    jac_net = jac["source"] - jac["sink"]
    out = {**_spread("source_co2_t_yr", source), **_spread("sink_co2_t_yr", sink),
           **_spread("net_co2_t_yr", net)}
    probabilities = class_probabilities(source, sink, classes["min_sink_source_ratio"].to_numpy(dtype=float))
    for c, name in enumerate(classes["class"]):
        out[f"p_{name}_pct"] = 100.0 * probabilities[:, c]
    central = class_probabilities(model.base.loc[["source"]].to_numpy(), model.base.loc[["sink"]].to_numpy(),
                                  classes["min_sink_source_ratio"].to_numpy(dtype=float))
    out["p_balance_class_pct"] = 100.0 * (probabilities * central).sum(axis=1)  # P(the central values' class)
    out["net_co2_t_yr_u95"] = approach1_half_width(jac_net, parameters).to_numpy()
    moments = multiplier_moments(parameters)
    sobol_units = linear_sobol(jac_net, moments["variance"].to_numpy())
    labels = {name: parameter_label(row) for name, row in parameters.iterrows()}  # English; read in zh by rule_translations
    out["net_top_coefficient"] = np.where(sobol_units.to_numpy().max(axis=1) > 0,
                                          sobol_units.idxmax(axis=1).map(labels).to_numpy() if len(names) else "", "")
    if "stock" in model.base.index:
        stock = propagate(model.base.loc["stock"], jac["stock"], f)
        q = percentiles(stock, (5, 95))
        out["stock_t_c_p5"], out["stock_t_c_p95"] = q[0], q[1]
    per_unit = pd.DataFrame(out, index=units)
    # citywide
    base = model.base.sum(axis=1)
    totals = {"source_co2_t_yr": (source, jac["source"], base["source"]),
              "sink_co2_t_yr": (sink, jac["sink"], base["sink"]),
              "net_co2_t_yr": (net, jac_net, base["source"] - base["sink"])}
    if "stock" in model.base.index:
        totals["stock_t_c"] = (stock, jac["stock"], base["stock"])
    rows = []
    for quantity, (values, j, centre) in totals.items():
        city_values = values.sum(axis=1)
        half = float(approach1_half_width(j.sum(axis=0).to_frame().T, parameters).iloc[0])
        q = np.percentile(city_values, [2.5, 5, 50, 95, 97.5])
        rows.append({"quantity": quantity, "central": float(centre), "mean": float(city_values.mean()), "p2_5": q[0],
                     "p5": q[1], "p50": q[2], "p95": q[3], "p97_5": q[4], "approach1_low": centre - half,
                     "approach1_high": centre + half})
    city = pd.DataFrame(rows).assign(draws=int(draws), seed=int(seed))
    # sensitivity of the citywide net (and stock) to the parameters it depends on
    outputs = {"net_co2_t_yr": (net.sum(axis=1), jac_net.sum(axis=0))}
    if "stock" in model.base.index:
        outputs["stock_t_c"] = (stock.sum(axis=1), jac["stock"].sum(axis=0))
    parts = []
    for output, (values, j_city) in outputs.items():
        used = [k for k, name in enumerate(names) if any(model.contributions[o].get(name, pd.Series(0.0)).abs().sum()
                                                          for o in (("stock",) if output == "stock_t_c"
                                                                    else ("source", "sink")))]
        if not used:
            continue
        chosen = parameters.iloc[used]
        rho = rank_correlations(f[:, used], values[:, None])[0]
        sobol = linear_sobol(j_city.iloc[used].to_frame().T, moments["variance"].to_numpy()[used]).iloc[0]
        swing = tornado(j_city.iloc[used], chosen)
        parts.append(chosen.assign(output=output, spearman=rho, sobol_first_order=sobol.to_numpy(),
                                   tornado_low=swing["low"], tornado_high=swing["high"], swing=swing["swing"])
                     .sort_values("sobol_first_order", ascending=False, kind="stable"))
    sensitivity = pd.concat(parts) if parts else parameters.iloc[:0]
    rho_units = rank_correlations(f, net) if len(names) else np.zeros((len(units), 0))
    tops = []
    for i, unit in enumerate(units):
        order = np.argsort(-sobol_units.iloc[i].to_numpy(), kind="stable")[:top]
        for rank, k in enumerate(order, start=1):
            if sobol_units.iat[i, k] > 0:
                tops.append({"unit_id": unit, "rank": rank, "parameter": names[k], "coefficient": labels[names[k]],
                             "sobol_net": float(sobol_units.iat[i, k]), "spearman_net": float(rho_units[i, k])})
    top_table = pd.DataFrame(tops, columns=["unit_id", "rank", "parameter", "coefficient", "sobol_net", "spearman_net"])
    milestones = _milestones(trajectories or [], model, jac, f)
    return UncertaintyResult(per_unit, city, sensitivity.reset_index(drop=True), top_table, milestones, f)


def _milestones(trajectories: list[Trajectory], model: LinearModel, jac: dict[str, pd.DataFrame],
                f: np.ndarray) -> pd.DataFrame:
    """The peak and net-zero years of each trajectory over the draws."""
    if not trajectories:
        return pd.DataFrame()
    ratios = {}
    for output in model.base.index:
        if output.startswith("source:"):
            centre = float(model.base.loc[output].sum())
            drawn = centre + (f - 1) @ jac[output].sum(axis=0).to_numpy() if output in jac else np.full(len(f), centre)
            ratios[output.removeprefix("source:")] = drawn / centre if centre else np.ones(len(f))
    sink0 = float(model.base.loc["sink"].sum())
    sink_ratio = (sink0 + (f - 1) @ jac["sink"].sum(axis=0).to_numpy()) / sink0 if sink0 else np.ones(len(f))
    rows = []
    for path in trajectories:
        emissions, net = trajectory_draws(path, ratios, sink_ratio)
        peak, zero = milestone_years(path.years, emissions, net)
        reached = ~np.isnan(zero)
        row = {"scenario": path.scenario}
        for name, values in (("peak_year", peak), ("net_zero_year", zero)):
            # net zero never reached counts as later than every year (NaN when the quantile is such a draw)
            filled = np.where(np.isnan(values), np.inf, values)
            for q in (5, 50, 95):
                value = np.percentile(filled, q, method="inverted_cdf")
                row[f"{name}_p{q}"] = float(value) if np.isfinite(value) else np.nan
        row["p_net_zero"] = float(reached.mean())
        row[f"net_{int(path.years[-1])}_co2_t_yr_p5"], row[f"net_{int(path.years[-1])}_co2_t_yr_p95"] = \
            np.percentile(net[:, -1], [5, 95])
        rows.append(row)
    return pd.DataFrame(rows)
