"""Euclidean nearest-neighbour distance (ENN) between patches of the same class.

FRAGSTATS' ENN of a patch is the shortest straight-line distance, cell centre to cell
centre, from any of its cells to any cell of another patch of the same class. A patch
alone in its class has no ENN (NaN, FRAGSTATS' N/A).

Exact sweep over row offsets
----------------------------
Each patch is a set of *runs*: maximal horizontal stretches of its cells in one row. Two
cells dy rows apart whose columns differ by dx are sqrt(dy^2 + dx^2) apart, so for a run
[a, b] in row r, the closest cell of another patch in row r + dy (or r - dy) is found in
one dimension: a run of another patch overlapping [a, b] (dx = 0), else the nearest one
to its left or right. Runs of one class are kept sorted by (row, column); a binary search
finds the runs of the target row around [a, b], and precomputed links to the nearest run
with a *different* patch label, left and right in the same row, skip the patch's own runs.

The sweep goes dy = 0, 1, 2, ... and keeps querying a patch only while dy is below the
best distance found for it (a pair dy rows apart is at least dy apart), so it stops after
about the largest ENN in rows, with fewer runs at each step. Every distance is exact.
"""

from __future__ import annotations

import numpy as np

__all__ = ["nearest_neighbour_cells", "row_runs"]


def row_runs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Maximal horizontal runs of equal nonzero labels: (row, first col, last col, label),
    sorted by row then column."""
    starts = np.ones(labels.shape, dtype=bool)
    starts[:, 1:] = labels[:, 1:] != labels[:, :-1]
    ends = np.ones(labels.shape, dtype=bool)
    ends[:, :-1] = starts[:, 1:]
    rows, first = np.nonzero(starts)
    _, last = np.nonzero(ends)
    label = labels[rows, first]
    keep = label > 0
    return rows[keep], first[keep], last[keep], label[keep]


def nearest_neighbour_cells(labels: np.ndarray, patch_class: np.ndarray, n_classes: int, *,
                            runs: tuple[np.ndarray, ...] | None = None) -> np.ndarray:
    r"""Euclidean nearest-neighbour distance (ENN) of every patch, in cells.

    Parameters
    ----------
    labels : array (H, W) of int
        Patch ids (0 = outside).
    patch_class : array (P + 1,) of int
        Class index of each patch id.
    n_classes : int
        Number of classes.
    runs : tuple of arrays, optional
        :func:`row_runs` of `labels`, if already computed.

    Returns
    -------
    ndarray (P + 1,) [cells]
        Entry p is the ENN of patch p (multiply by the cell size for metres); NaN when its
        class has no other patch (entry 0 is unused).

    Notes
    -----
    :math:`ENN_p = \min_{q \ne p,\; class(q) = class(p)} \; \min_{u \in p, v \in q} \lVert u - v \rVert`,
    cell centre to cell centre, found exactly by the sweep over row offsets of the module
    docstring.

    References
    ----------
    .. [1] McGarigal K., Cushman S. A., Ene E. (2023). FRAGSTATS v4: Spatial Pattern Analysis
       Program for Categorical Maps. University of Massachusetts, Amherst. https://www.fragstats.org

    Examples
    --------
    >>> labels = np.array([[1, 0, 0, 2], [0, 0, 0, 0], [3, 0, 0, 0]])
    >>> nearest_neighbour_cells(labels, np.array([2, 0, 0, 1]), 2)[1:].tolist()
    [3.0, 3.0, nan]
    """
    height, width = labels.shape
    row, first, last, label = runs if runs is not None else row_runs(labels)
    best = np.full(len(patch_class), np.inf)
    run_class = patch_class[label]
    for k in range(n_classes):
        mine = run_class == k
        ids = label[mine]
        if ids.size == 0 or ids.min() == ids.max():
            continue  # one patch (ids of a class are consecutive): no neighbour
        _sweep_class(row[mine], first[mine], last[mine], label[mine], height, width, best)
    best[np.isinf(best)] = np.nan
    return best


def _sweep_class(row, first, last, label, height, width, best) -> None:
    n = len(row)
    stride = width + 1
    key_first = row.astype(np.int64) * stride + first
    key_last = row.astype(np.int64) * stride + last
    row_start = np.searchsorted(row, np.arange(height + 1))  # runs of row r: row_start[r]:row_start[r+1]
    # segments of consecutive runs with the same row and label; links past them
    new_segment = np.ones(n, dtype=bool)
    new_segment[1:] = (row[1:] != row[:-1]) | (label[1:] != label[:-1])
    seg = np.cumsum(new_segment) - 1
    seg_first = np.flatnonzero(new_segment)
    seg_last = np.r_[seg_first[1:], n] - 1
    row_end = row_start[row + 1]  # exclusive end of each run's row
    next_other = seg_last[seg] + 1  # nearest run to the right with another label (same row if < row_end)
    prev_other = seg_first[seg] - 1  # nearest run to the left with another label (same row if >= row_start)
    next_other = np.where(next_other < row_end, next_other, -1)
    prev_other = np.where(prev_other >= row_start[row], prev_other, -1)
    active = np.arange(n)
    dy = 0
    while active.size and dy < height:
        for sign in ((1,) if dy == 0 else (1, -1)):
            target = row[active] + sign * dy
            inside = (target >= 0) & (target < height)
            q = active[inside]
            t = target[inside].astype(np.int64)
            gap = _row_gap(q, t, first, last, label, key_first, key_last, row_start, next_other, prev_other,
                           stride)
            dist = np.sqrt(float(dy) ** 2 + gap**2)
            np.minimum.at(best, label[q], dist)
        dy += 1
        active = active[best[label[active]] > dy]


def _row_gap(q, t, first, last, label, key_first, key_last, row_start, next_other, prev_other, stride):
    """Column gap from runs `q` to the nearest run of another label in rows `t` (inf if none)."""
    n = len(first)
    a, b, own = first[q], last[q], label[q]
    r0, r1 = row_start[t], row_start[t + 1]
    lo = np.searchsorted(key_last, t * stride + a, side="left")  # first run ending at or after a
    hi = np.searchsorted(key_first, t * stride + b, side="right") - 1  # last run starting at or before b
    lo_c = np.minimum(lo, n - 1)
    overlap = (lo <= hi) & ((label[lo_c] != own) | ((next_other[lo_c] >= 0) & (next_other[lo_c] <= hi)))
    gap = np.full(len(q), np.inf)
    # left: the run before lo, or the nearest other-label run before it
    p = lo - 1
    ok = p >= r0
    p_c = np.maximum(p, 0)
    cand = np.where(label[p_c] != own, p_c, prev_other[p_c])
    ok &= cand >= 0
    gap = np.where(ok, a - last[np.maximum(cand, 0)], gap)
    # right: the run after hi, or the nearest other-label run after it
    p = hi + 1
    ok = p < r1
    p_c = np.minimum(p, n - 1)
    cand = np.where(label[p_c] != own, p_c, next_other[p_c])
    ok &= cand >= 0
    gap = np.minimum(gap, np.where(ok, first[np.maximum(cand, 0)] - b, np.inf))
    return np.where(overlap, 0.0, gap.astype(np.float64))
