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
    """Whole Markov periods from `year_after` to `target_year` (rounded)."""
    step = year_after - year_before
    if step <= 0:
        raise InputError(f"the earlier land cover ({year_before}) must be older than the later ({year_after}).",
                         fix="check the two dates.")
    return max(0, round((target_year - year_after) / step))


def project_areas(areas: pd.Series, matrix: pd.DataFrame, periods: int) -> pd.DataFrame:
    """Expected flows F = diag(a) P^k between classes after `periods` periods (areas in any unit)."""
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
    r"""Suitability of every cell for class `code` (module docstring).

    Parameters
    ----------
    classes : (H, W) land-cover codes
    code : the class
    resolution : cell size [m]
    window_cells : side of the neighbourhood window [cells]
    distance_decay_m : d0 of the distance decay to built-up land [m]
    max_slope_deg : no new built-up land above this slope [degrees]
    builtup : (H, W) bool, existing built-up land, when `code` is a built-up class
    slope_deg : (H, W) slope [degrees], optional

    Notes
    -----
    :math:`s_j = \bar{1}_{w \times w}(c = j) + [j \text{ built-up}] \, e^{-d / d_0}`, and 0 where
    a built-up class would go above the slope limit.
    """
    share = ndimage.uniform_filter((classes == code).astype(float), size=int(window_cells), mode="nearest")
    if builtup is None:
        return share
    distance = ndimage.distance_transform_edt(~builtup) * resolution
    score = share + np.exp(-distance / distance_decay_m)
    if slope_deg is not None:
        score = np.where(np.nan_to_num(slope_deg, nan=90.0) <= max_slope_deg, score, 0.0)
    return score


def allocate(classes: np.ma.MaskedArray, flows: pd.DataFrame, scores: dict[int, np.ndarray]) -> np.ma.MaskedArray:
    """The land cover after the expected `flows` (cells; :func:`project_areas` on cell counts),
    placed by suitability (module docstring). `scores`: class code -> suitability raster."""
    data = np.ma.getdata(classes).copy()
    valid = ~np.ma.getmaskarray(classes)
    codes = flows.index.to_numpy()
    cells = _whole_cells(flows.to_numpy())
    taken = ~valid
    moves = [(cells[i, j], i, j) for i in range(len(codes)) for j in range(len(codes)) if i != j and cells[i, j] > 0]
    for count, i, j in sorted(moves, key=lambda m: (-m[0], m[1], m[2])):
        candidates = np.flatnonzero(((np.ma.getdata(classes) == codes[i]) & ~taken).ravel())
        if candidates.size == 0:
            continue
        score = scores[int(codes[j])].ravel()[candidates]
        chosen = candidates[np.lexsort((candidates, -score))[:count]]
        data.ravel()[chosen] = codes[j]
        taken.ravel()[chosen] = True
    return np.ma.MaskedArray(data, mask=~valid)
