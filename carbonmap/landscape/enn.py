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

A run whose every cell has a cell of its own patch right below it never needs to look
down (dy > 0): for a cell v of another patch dy rows below, the cell of the patch right
below the run's cell is one row closer to v at the same column offset, and the run below
queries v's row from one row closer with an extent at least as wide. Likewise upwards. Only
runs on the patch's lower (upper) outline look down (up), which leaves the minimum, and so
every ENN, unchanged.
"""

from __future__ import annotations

import numpy as np

__all__ = ["nearest_neighbour_cells", "row_runs", "covered_runs", "enn_of_runs"]


def row_runs(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Maximal horizontal runs of equal nonzero labels: (row, first col, last col, label),
    sorted by row then column."""
    width = labels.shape[1]
    flat = np.ascontiguousarray(labels).reshape(-1)
    starts = np.empty(flat.size, dtype=bool)
    starts[:1] = True
    np.not_equal(flat[1:], flat[:-1], out=starts[1:])
    starts[::width] = True  # every row starts a run
    begin = np.flatnonzero(starts)
    end = np.append(begin[1:], flat.size) - 1  # a run ends before the next one starts, in its row
    label = flat[begin]
    keep = label > 0
    begin, end, label = begin[keep], end[keep], label[keep]
    rows = begin // width
    return rows, begin - rows * width, end - rows * width, label


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
    runs = runs if runs is not None else row_runs(labels)
    return enn_of_runs(runs, covered_runs(labels, *runs[:3]), patch_class, n_classes, labels.shape)


def enn_of_runs(runs: tuple[np.ndarray, ...], covered: tuple[np.ndarray, np.ndarray], patch_class: np.ndarray,
                n_classes: int, shape: tuple[int, int]) -> np.ndarray:
    """:func:`nearest_neighbour_cells` from a raster's runs (:func:`row_runs`, in row order) and
    their :func:`covered_runs` flags, without the raster (they may be gathered band by band).

    Parameters
    ----------
    runs : (row, first col, last col, label)
        Every run of the raster, sorted by row then column.
    covered : (below, above)
        For each run, whether every cell has a cell of its own patch right below it, and right
        above it.
    patch_class, n_classes
        As for :func:`nearest_neighbour_cells`.
    shape : (int, int)
        The raster's height and width.
    """
    height, width = shape
    row, first, last, label = runs
    below, above = covered
    best = np.full(len(patch_class), np.inf)
    run_class = patch_class[label].astype(np.min_scalar_type(n_classes))
    by_class = np.argsort(run_class, kind="stable")  # each class's runs together, still by row and column
    bounds = np.searchsorted(run_class[by_class], np.arange(n_classes + 1))
    for k in range(n_classes):
        mine = by_class[bounds[k]:bounds[k + 1]]
        ids = label[mine]
        if ids.size == 0 or ids.min() == ids.max():
            continue  # one patch (ids of a class are consecutive): no neighbour
        _sweep_class(row[mine], first[mine], last[mine], label[mine], below[mine], above[mine], height, width,
                     best)
    best[np.isinf(best)] = np.nan
    return best


def covered_runs(labels: np.ndarray, row: np.ndarray, first: np.ndarray, last: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Whether every cell of each run has a cell of its own patch right below it, and right
    above it (True on the raster's last, and first, row: there is nothing to look at).

    `labels` may be a band of a larger raster holding the rows of the runs and one row around
    them wherever the raster goes on (its first and last rows are then the raster's only where
    the band has no row beyond them)."""
    height, width = labels.shape
    below = row == height - 1
    above = row == 0
    if height > 1:
        # 1 where a cell's patch differs from the patch of the cell below, row-major; a 0 after
        differs = np.zeros((height - 1) * width + 1, dtype=np.uint8)
        np.not_equal(labels[:-1], labels[1:], out=differs[:-1].reshape(height - 1, width).view(bool))

        def alike(r: np.ndarray, ok: np.ndarray) -> np.ndarray:  # columns first..last alike in rows r and r + 1
            start = r[ok].astype(np.int64) * width
            bounds = np.column_stack([start + first[ok], start + last[ok] + 1]).reshape(-1)
            return np.maximum.reduceat(differs, bounds)[::2] == 0  # over [first, last + 1) of each run

        below[~below] = alike(row, ~below)
        above[~above] = alike(row - 1, ~above)
    return below, above


def _sweep_class(row, first, last, label, below, above, height, width, best) -> None:
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
    _query(np.arange(n), 0, 0, row, first, last, label, key_first, key_last, row_start, next_other, prev_other,
           stride, height, best)  # the runs' own rows
    down, up = np.flatnonzero(~below), np.flatnonzero(~above)  # runs on the patches' lower / upper outline
    dy = 1
    down, up = down[best[label[down]] > dy], up[best[label[up]] > dy]
    while (down.size or up.size) and dy < height:
        for runs, sign in ((down, 1), (up, -1)):
            _query(runs, dy, sign, row, first, last, label, key_first, key_last, row_start, next_other, prev_other,
                   stride, height, best)
        dy += 1
        down, up = down[best[label[down]] > dy], up[best[label[up]] > dy]


def _query(active, dy, sign, row, first, last, label, key_first, key_last, row_start, next_other, prev_other,
           stride, height, best) -> None:
    """Lower the best distance of the patches of runs `active` with the runs of other patches
    `dy` rows away in direction `sign`."""
    target = row[active] + sign * dy
    inside = (target >= 0) & (target < height)
    q = active[inside]
    t = target[inside].astype(np.int64)
    gap = _row_gap(q, t, first, last, label, key_first, key_last, row_start, next_other, prev_other, stride)
    dist = np.sqrt(float(dy) ** 2 + gap**2)
    np.minimum.at(best, label[q], dist)


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
