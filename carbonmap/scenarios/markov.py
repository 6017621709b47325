"""Business-as-usual land-use demand: a Markov chain between two land-cover dates, projected
forward, with a simple suitability-weighted spatial allocation.

This is a screening tool for planning scenarios, not a land-use change model: it is not
CLUE-S, FLUS or a calibrated CA-Markov. It answers "if the recent transitions went on, roughly
how much of each class, and roughly where?".

**Transition matrix.** From the land cover at t0 and t1 (cells valid at both dates),
P_ij = n_ij / sum_j n_ij, the share of class i's cells at t0 that are class j at t1: the
transition probabilities of one period of t1 - t0 years.

**Demand.** After k periods the expected flows out of today's areas a_i are
F = diag(a) P^k, so the demand for class j is sum_i F_ij. Target years fall on whole periods
(k = round((target - t1) / (t1 - t0)), and the docs say so).

**Allocation.** The flows F_ij (i != j), rounded to whole cells with the largest-remainder
rule so that each class's cells are conserved, are placed largest first: the F_ij cells of
class i with the highest suitability for j become j, each cell at most once. Suitability for
class j is the share of j among the w x w neighbours of the cell (neighbourhood effect of
cellular automata), plus, for built-up classes, exp(-d / d0) of the distance d to existing
built-up land, times 0 above a maximum slope for built-up land; w, d0 and the slope limit are
rows of ``scenario_parameters.csv`` (5 cells, 500 m, 25 degrees).
Ties go to the lower cell index, so the result is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import ndimage

from carbonmap.errors import InputError

__all__ = ["transition_matrix", "project_areas", "periods_to", "allocate", "suitability"]


def transition_matrix(before: np.ma.MaskedArray, after: np.ma.MaskedArray) -> pd.DataFrame:
    """P_ij (rows: class at t0, columns: class at t1), over the cells valid at both dates.

    Classes present at either date appear in both rows and columns; a class absent at t0 keeps
    itself (P_jj = 1), so P stays a stochastic matrix.
    """
    if before.shape != after.shape:
        raise InputError(f"the two land covers differ in shape ({before.shape} vs {after.shape}).",
                         fix="align both dates to the same grid (carbonmap run does this).")
    valid = ~np.ma.getmaskarray(before) & ~np.ma.getmaskarray(after)
    if not valid.any():
        raise InputError("no cell is valid at both dates.", fix="check the two land covers overlap.")
    a, b = np.ma.getdata(before)[valid], np.ma.getdata(after)[valid]
    codes = np.union1d(np.unique(a), np.unique(b))
    i, j = np.searchsorted(codes, a), np.searchsorted(codes, b)
    counts = np.zeros((len(codes), len(codes)))
    np.add.at(counts, (i, j), 1)
    totals = counts.sum(axis=1, keepdims=True)
    absent = totals[:, 0] == 0
    counts[absent, np.flatnonzero(absent)] = 1
    return pd.DataFrame(counts / counts.sum(axis=1, keepdims=True), index=codes, columns=codes)


def periods_to(target_year: int, year_before: int, year_after: int) -> int:
    r"""Whole Markov periods from the later land cover to a target year.

    Parameters
    ----------
    target_year : int [year]
        The year projected to.
    year_before : int [year]
        Date of the earlier land cover.
    year_after : int [year]
        Date of the later land cover (after `year_before`).

    Returns
    -------
    int [periods]
        :math:`k = \max(0, \mathrm{round}((T - t_1) / (t_1 - t_0)))`.

    Raises
    ------
    InputError
        When `year_before` is not before `year_after`.

    Examples
    --------
    >>> periods_to(2035, 2015, 2020)
    3
    """
    step = year_after - year_before
    if step <= 0:
        raise InputError(f"the earlier land cover ({year_before}) must be older than the later ({year_after}).",
                         fix="check the two dates.")
    return max(0, round((target_year - year_after) / step))


def project_areas(areas: pd.Series, matrix: pd.DataFrame, periods: int) -> pd.DataFrame:
    r"""Expected flows between classes after `periods` Markov periods.

    Parameters
    ----------
    areas : Series [any area unit, e.g. cells]
        Today's area of each class, indexed by code.
    matrix : DataFrame
        Transition probabilities per period (:func:`transition_matrix`) [-].
    periods : int [periods]
        Number of periods k (:func:`periods_to`).

    Returns
    -------
    DataFrame [unit of `areas`]
        Flows F (rows: class today, columns: class after k periods); column sums are the demand.

    Notes
    -----
    .. math:: F = \mathrm{diag}(a) \, P^k

    Examples
    --------
    >>> matrix = pd.DataFrame([[0.9, 0.1], [0.0, 1.0]], index=[1, 2], columns=[1, 2])
    >>> project_areas(pd.Series({1: 100.0, 2: 50.0}), matrix, 2)
          1     2
    1  81.0  19.0
    2   0.0  50.0
    """
    a = areas.reindex(matrix.index).fillna(0.0).to_numpy(dtype=float)
    power = np.linalg.matrix_power(matrix.to_numpy(), periods)
    return pd.DataFrame(a[:, None] * power, index=matrix.index, columns=matrix.columns)


def _whole_cells(flows: np.ndarray) -> np.ndarray:
    """Round each row of flows to integers keeping the row's (integer) total: largest remainders."""
    out = np.floor(flows).astype(np.int64)
    for row in range(len(flows)):
        short = int(round(flows[row].sum())) - int(out[row].sum())
        if short > 0:
            order = np.argsort(-(flows[row] - out[row]), kind="stable")[:short]
            out[row, order] += 1
    return out


def suitability(classes: np.ndarray, code: int, resolution: float, *, window_cells: int, distance_decay_m: float,
                max_slope_deg: float, builtup: np.ndarray | None = None,
                slope_deg: np.ndarray | None = None) -> np.ndarray:
    r"""Suitability of every cell for class `code`.

    Parameters
    ----------
    classes : array (H, W) of int
        Land-cover codes.
    code : int
        The class.
    resolution : float [m]
        Cell size.
    window_cells : int [cells]
        Side of the neighbourhood window w.
    distance_decay_m : float [m]
        :math:`d_0` of the distance decay to built-up land.
    max_slope_deg : float [degrees]
        No new built-up land above this slope.
    builtup : array (H, W) of bool, optional
        Existing built-up land, when `code` is a built-up class.
    slope_deg : array (H, W) [degrees], optional
        Slope.

    Returns
    -------
    ndarray (H, W) [-]

    Notes
    -----
    .. math::

        s_j = \overline{1}_{w \times w}(c = j) + [j \text{ built-up}] \, e^{-d / d_0}

    the share of class j in the w x w window around the cell (the neighbourhood effect of
    cellular-automaton models) plus, for built-up classes, the decay with the distance d to
    existing built-up land; 0 where a built-up class would go above the slope limit.

    References
    ----------
    .. [1] Liang X., et al. (2018). A future land use simulation model (FLUS) for simulating
       multiple land use scenarios by coupling human and natural effects. Landscape and Urban
       Planning 177: 47-63 (neighbourhood windows of cellular-automaton land-use models).
    """
    share = ndimage.uniform_filter((classes == code).astype(float), size=int(window_cells), mode="nearest")
    if builtup is None:
        return share
    decay = ndimage.distance_transform_edt(~builtup)  # then e^(-d / d0), in place: whole-grid float64 layers
    decay *= resolution
    np.negative(decay, out=decay)
    decay /= distance_decay_m
    share += np.exp(decay, out=decay)
    del decay
    if slope_deg is not None:
        allowed = slope_deg <= max_slope_deg
        if max_slope_deg >= 90.0:  # an unknown slope counts as 90 degrees
            allowed |= np.isnan(slope_deg)
        share[~allowed] = 0.0
    return share


def allocate(classes: np.ma.MaskedArray, flows: pd.DataFrame, score_of: Callable[[int], np.ndarray]
             ) -> np.ma.MaskedArray:
    """The land cover after the expected flows, placed by suitability.

    Parameters
    ----------
    classes : masked array (H, W) of int
        Today's land cover.
    flows : DataFrame [cells]
        Expected flows between classes (:func:`project_areas` on cell counts).
    score_of : callable
        ``score_of(code)``: the suitability raster (H, W) [-] of a class (:func:`suitability`);
        called once for each class that receives cells, and only one is held at a time.

    Returns
    -------
    masked array (H, W) of int
        The projected land cover; the mask is kept.

    Notes
    -----
    The flows :math:`F_{ij}` (i != j), rounded to whole cells by the largest-remainder rule so
    that each class's cells are conserved, are placed largest first: the :math:`F_{ij}` cells of
    class i with the highest suitability for j become j, each cell at most once; ties go to the
    lower cell index, so the result is deterministic.

    Only the cells of class i can move out of i, so the moves out of different classes never
    compete: each pair (i, j) keeps the order of class i's cells by their suitability for j
    (4 bytes a cell, beside the 8 bytes of each cell's index in its class), not j's whole
    raster, and each move takes the first cells of that order not yet taken.
    """
    data = np.ma.getdata(classes).copy()
    valid = ~np.ma.getmaskarray(classes)
    codes = flows.index.to_numpy()
    cells = _whole_cells(flows.to_numpy())
    moves = [(cells[i, j], i, j) for i in range(len(codes)) for j in range(len(codes)) if i != j and cells[i, j] > 0]
    sources = {i: np.flatnonzero(((data == codes[i]) & valid).ravel()) for i in {i for _, i, _ in moves}}
    orders = {}
    for j in sorted({j for _, _, j in moves}):
        score = np.ravel(score_of(int(codes[j])))
        for _, i, _ in (move for move in moves if move[2] == j):
            # by suitability, highest first; ties to the lower cell index (sources are in cell order)
            order = np.argsort(-score[sources[i]], kind="stable")
            orders[i, j] = order.astype(np.int32) if len(order) < 2**31 else order
        del score
    taken = {i: np.zeros(len(cells_of_i), dtype=bool) for i, cells_of_i in sources.items()}
    for count, i, j in sorted(moves, key=lambda m: (-m[0], m[1], m[2])):
        order = orders.pop((i, j))
        chosen = order[~taken[i][order]][:count]
        data.ravel()[sources[i][chosen]] = codes[j]
        taken[i][chosen] = True
    return np.ma.MaskedArray(data, mask=~valid)
