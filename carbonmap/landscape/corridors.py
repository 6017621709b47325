"""Least-cost corridors between ecological sources (minimum cumulative resistance).

scikit-image's minimum-cost-path engine (:class:`skimage.graph.MCP_Geometric`) accumulates
resistance outward from a source's cells: a step between neighbouring cells costs the mean of
their resistances times the step length [m] (diagonals sqrt(2) longer), so a cumulative cost is
resistance x metres, the *cost-weighted distance* (CWD).

Sources are linked where their cost zones meet: each cell belongs to the source it is
cheapest to reach from, and two sources whose zones touch get a corridor, as in Linkage
Mapper (McRae & Kavanagh 2011). A corridor is the least-cost path between them (traced
back from the cheapest cell of one source on the other's cost surface), drawn as a polygon
of a chosen width, with its cost-weighted distance, length and their ratio (the mean
resistance along it).

How it is computed, on one cost graph built once:

1. one pass from all the sources together gives every cell's cheapest cost and the source it
   comes from (its *zone*), hence the pairs whose zones touch;
2. one *bounded* pass per linked source, stopped as soon as one cell of each of its partners
   is reached (the cell where the first pass found their zones closest). Dijkstra's algorithm
   settles cells in order of cost, so the stopped pass is the full pass cut at that cost: every
   cell up to it has the cost and the predecessor the full pass gives, which is all that the
   corridors (the cheapest cell of the partner lies below the cut) and the barrier scores (they
   only read costs below the pair's least-cost distance, :func:`barrier_scores
   <carbonmap.landscape.circuits.barrier_scores>`) need. The passes run one after another: the
   engine holds the GIL and is bound by memory access (on a shared 2-core machine, two passes
   in two processes each took 1.3 times the CPU of one alone, and no less wall time).

Nothing is quadratic in the number of sources: one full pass, then one bounded pass per source
in a pair, and a path per pair.

References
----------
.. [1] Adriaensen F., et al. (2003). The application of 'least-cost' modelling as a
   functional landscape model. Landscape and Urban Planning 64: 233-247.
.. [2] McRae B. H., Kavanagh D. M. (2011). Linkage Mapper Connectivity Analysis Software.
   The Nature Conservancy, Seattle.
.. [3] Dijkstra E. W. (1959). A note on two problems in connexion with graphs. Numerische
   Mathematik 1: 269-271.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from affine import Affine
from scipy import ndimage
from shapely.geometry import LineString

from carbonmap.errors import InputError

__all__ = ["BoundedCosts", "CostSurfaces", "least_cost_corridors"]


@dataclass
class BoundedCosts:
    """Cost-weighted distance from each source up to its bound, in windows of the grid.

    Attributes
    ----------
    shape : (n, H, W)
        The shape of the full stack of cost surfaces.
    windows : list of (row, col, array float32) [resistance x m]
        Per source: the top-left cell of its window and the costs in it; ``inf`` beyond the
        source's bound (and outside the window). An empty (0, 0) array for a source in no pair.
    bounds : ndarray (n,) [resistance x m]
        The cost up to which each surface is complete: every cell at most this dear from the
        source has its cost, and the cost is that of the full surface.
    """

    shape: tuple[int, int, int]
    windows: list[tuple[int, int, np.ndarray]]
    bounds: np.ndarray

    def window(self, i: int) -> tuple[int, int, np.ndarray]:
        """(row, col, costs float32) of source i's window."""
        return self.windows[i]

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, i: int) -> np.ndarray:
        """Source i's surface on the whole grid (float32, ``inf`` beyond its bound)."""
        out = np.full(self.shape[1:], np.inf, dtype=np.float32)
        row, col, values = self.windows[i]
        out[row:row + values.shape[0], col:col + values.shape[1]] = values
        return out


@dataclass
class CostSurfaces:
    """The cost zones, the linked pairs, their corridors and the cost surfaces they need.

    Attributes
    ----------
    zone : (H, W) int, the source each cell is cheapest to reach from (-1: unreachable)
    pairs : list of (i, j), i < j, sources whose zones touch
    paths : list of dicts, one per pair: ``from_source``, ``to_source``, ``cwd``
        [resistance x m], ``length_m``, ``mean_resistance`` (cwd / length), ``geometry``
        (LineString through cell centres in the raster's CRS; None when the sources touch),
        ``cells`` ((k, 2) row/col array)
    near : BoundedCosts
        Each linked source's cost-weighted distance up to its bound [resistance x m]: what
        :func:`~carbonmap.landscape.circuits.barrier_scores` needs.
    cwd : (n, H, W) float32, cost-weighted distance from each source on the whole grid
        [resistance x m]; computed on first use (one full pass per source), and kept.
    """

    zone: np.ndarray
    pairs: list[tuple[int, int]]
    paths: list[dict]
    near: BoundedCosts
    _full: tuple = field(repr=False, default=())
    _cwd: np.ndarray | None = field(repr=False, default=None)

    @property
    def cwd(self) -> np.ndarray:
        if self._cwd is None:
            resistance, starts, resolution = self._full
            self._cwd = _full_surfaces(resistance, starts, resolution)
        return self._cwd


def _mcp(resistance: np.ndarray, resolution: float):
    from skimage.graph import MCP_Geometric

    return MCP_Geometric(resistance, fully_connected=True, sampling=(resolution, resolution))


def least_cost_corridors(resistance: np.ndarray, sources: np.ndarray, n_sources: int, resolution: float,
                         transform: Affine) -> CostSurfaces:
    r"""The cost zones of the sources, the pairs whose zones touch, and their corridors.

    Parameters
    ----------
    resistance : array (H, W) [resistance units]
        Resistance per cell (inf: impassable).
    sources : array (H, W) of int
        Source number 0..n_sources-1 of each source cell, -1 elsewhere.
    n_sources : int
        Number of sources.
    resolution : float [m]
        Cell size.
    transform : affine.Affine
        The raster's transform (for the path geometries).

    Returns
    -------
    CostSurfaces
        ``zone`` (the source each cell is cheapest to reach from), ``pairs``, ``paths`` (one
        least-cost path per linked pair, with ``cwd`` [resistance x m], ``length_m`` [m] and
        ``mean_resistance``), ``near`` (each linked source's cost surface up to its bound) and
        ``cwd`` (n_sources, H, W) [resistance x m], the full surfaces, computed when first read.

    Raises
    ------
    InputError
        When a source lies on impassable cells.

    Notes
    -----
    A step between neighbouring cells a and b costs the mean of their resistances times the
    step length (scikit-image's :class:`~skimage.graph.MCP_Geometric`), so the cost-weighted
    distance from source i is

    .. math:: CWD_i(x) = \min_{\text{paths } i \to x} \sum_{(a, b)} \tfrac{1}{2}(R_a + R_b) \, \ell_{ab}

    with :math:`\ell_{ab}` = r or :math:`\sqrt{2} r`. Two sources are linked when their cost zones
    (:math:`\arg\min_i CWD_i`) touch, as in Linkage Mapper; the corridor is the least-cost path
    from the cheapest cell of one source on the other's cost surface.

    One pass from all the sources gives :math:`\min_i CWD_i` exactly (each surface solves the same
    Bellman equation, and adding a step's cost is monotone in floating point), and its traceback
    the zone. Where two sources are exactly as dear to reach (equal float32 costs), the argmin of
    per-source surfaces would give the cell to the lower-numbered source, and this pass gives it
    to the one it reached first: only such ties can move a zone's edge by a cell (and so, at a
    point where three zones meet, a pair).

    The pass of source i stops at the cost :math:`c_i` of the last of its partners' cells it was
    told to reach; cells still queued at exactly :math:`c_i` are settled from their queued cost and
    predecessor. Up to :math:`c_i` costs and predecessors are those of the full pass (the same
    queue operations in the same order), so the paths, their CWDs and the barrier scores are the
    full surfaces' ones: the partner's cheapest cell costs at most :math:`c_i`, and so does every
    cell that can lower a pair's least-cost distance (which is at most :math:`c_i`).

    References
    ----------
    .. [1] Adriaensen F., et al. (2003). The application of 'least-cost' modelling as a
       functional landscape model. Landscape and Urban Planning 64: 233-247.
    .. [2] McRae B. H., Kavanagh D. M. (2011). Linkage Mapper Connectivity Analysis Software.
       The Nature Conservancy, Seattle.
    """
    if not np.isfinite(resistance[sources >= 0]).all():
        raise InputError("a source lies on impassable (nodata) cells.", fix="check the land cover under the sources.")
    boxes = _boxes(sources, n_sources)
    starts = [_starts(sources, boxes[i], i) for i in range(n_sources)]
    mcp = _mcp(resistance, resolution)
    offsets = np.asarray(mcp.offsets, dtype=np.int64)
    work = {"mcp": mcp, "sources": sources, "boxes": boxes, "starts": starts, "resolution": resolution,
            "transform": transform, "offsets": offsets,
            "lengths": np.sqrt(np.sum((resolution * offsets.astype(np.float64)) ** 2, axis=1)),
            "resistance_f": np.asarray(resistance, dtype=np.float64).ravel(order="F")}
    windows = [(0, 0, np.full((0, 0), np.inf, dtype=np.float32)) for _ in range(n_sources)]
    bounds = np.zeros(n_sources)
    found: dict[tuple[int, int], dict] = {}
    everyone = [s for s in starts if len(s)]
    if everyone:
        best, traceback = mcp.find_costs(np.concatenate(everyone))
        root = _roots(traceback, offsets)
        zone = np.where(root >= 0, sources.ravel()[np.maximum(root, 0)], -1).reshape(sources.shape)
        zone = zone.astype(np.int64)
    else:
        best, root = np.full(sources.shape, np.inf), -np.ones(sources.size, np.int64)
        zone = -np.ones(sources.shape, np.int64)
    pairs = _touching(zone)
    targets = _targets(np.asarray(resistance, dtype=np.float64), best, zone, root, pairs, resolution)
    for i in sorted(targets):
        _, bounds[i], windows[i], paths = _bounded_pass(work, i, targets[i])
        found.update(paths)
    near = BoundedCosts((n_sources, *sources.shape), windows, bounds)
    return CostSurfaces(zone, pairs, [found[pair] for pair in pairs], near, _full=(resistance, starts, resolution))


def _bounded_pass(work: dict, i: int, ends: dict[int, tuple[int, float]]):
    """Source i's pass, stopped once the given cell of each partner is settled: (i, stop cost
    [resistance x m], window (row, col, float32 costs), {(i, j): path} for partners j > i)."""
    mcp, sources, boxes, offsets = work["mcp"], work["sources"], work["boxes"], work["offsets"]
    cells = [np.unravel_index(cell, sources.shape) for cell, _ in ends.values()]
    costs, traceback = mcp.find_costs(work["starts"][i], cells, find_all_ends=True)
    bound = _settle(costs, traceback, offsets, work["lengths"], work["resistance_f"])
    paths = {(i, j): _path(costs, traceback, offsets, _cells_of(sources, boxes[j], j), i, j, work["resolution"],
                           work["transform"]) for j in ends if j > i}
    return i, bound, _window(costs), paths


def _full_surfaces(resistance: np.ndarray, starts: list[np.ndarray], resolution: float) -> np.ndarray:
    """(n, H, W) float32 cost-weighted distance from each source on the whole grid."""
    cwd = np.full((len(starts), *np.shape(resistance)), np.inf, dtype=np.float32)
    mcp = _mcp(resistance, resolution)
    for i, cells in enumerate(starts):
        if len(cells):
            cwd[i] = mcp.find_costs(cells)[0]
    return cwd


def _boxes(sources: np.ndarray, n: int) -> list[tuple[slice, slice] | None]:
    """Bounding box of each source's cells (None for a source without cells)."""
    boxes = ndimage.find_objects(np.where(sources >= 0, sources + 1, 0), max_label=n)
    return list(boxes) + [None] * (n - len(boxes))


def _cells_of(sources: np.ndarray, box, i: int) -> np.ndarray:
    """(k, 2) row/col of source i's cells, in row-major order."""
    if box is None:
        return np.empty((0, 2), dtype=np.int64)
    return np.argwhere(sources[box] == i) + [box[0].start, box[1].start]


def _starts(sources: np.ndarray, box, i: int) -> np.ndarray:
    """Source i's cells with a side neighbour outside it (row-major): enough to start a cost
    surface (within the box grown by a cell, the same cells as on the whole grid)."""
    if box is None:
        return np.empty((0, 2), dtype=np.int64)
    rows = slice(max(box[0].start - 1, 0), box[0].stop + 1)
    cols = slice(max(box[1].start - 1, 0), box[1].stop + 1)
    return np.argwhere(_edge_cells(sources[rows, cols] == i)) + [rows.start, cols.start]


def _edge_cells(mask: np.ndarray) -> np.ndarray:
    """Cells of `mask` with a side neighbour outside it: enough to start a cost surface."""
    return mask & ~ndimage.binary_erosion(mask, border_value=0)


def _roots(traceback: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Flat (row-major) index of the start cell each cell's path comes from (-1: not reached):
    the start cell of its tree in the forest of predecessor links (connected components)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    width = traceback.shape[1]
    flat = np.ascontiguousarray(traceback).ravel()
    moved = flat >= 0
    cells = np.arange(flat.size, dtype=np.int64)
    pred = cells[moved] - (offsets[flat[moved], 0] * width + offsets[flat[moved], 1])
    indptr = np.zeros(flat.size + 1, dtype=np.int64)
    np.cumsum(moved, out=indptr[1:])
    links = csr_matrix((np.ones(pred.size, dtype=np.int8), pred, indptr), shape=(flat.size, flat.size))
    _, tree = connected_components(links, directed=True, connection="weak")
    starts = np.flatnonzero(flat == -1)
    start_of_tree = -np.ones(flat.size, dtype=np.int64)
    start_of_tree[tree[starts]] = starts
    root = start_of_tree[tree]
    root[flat == -2] = -1  # not reached: alone in its tree
    return root


def _touching(zone: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (i < j) of zones with side-neighbouring cells."""
    pairs = set()
    for a, b in ((zone[:, :-1], zone[:, 1:]), (zone[:-1, :], zone[1:, :])):
        touch = (a != b) & (a >= 0) & (b >= 0)
        for i, j in zip(a[touch].tolist(), b[touch].tolist()):
            pairs.add((min(i, j), max(i, j)))
    return sorted(pairs)


def _targets(resistance, best, zone, root, pairs, resolution) -> dict[int, dict[int, tuple[int, float]]]:
    """For each linked source i and each partner j, a start cell of j (flat index) that the
    pass from i reaches at about their least-cost distance, and that distance: the root, on j's
    side, of the side-neighbouring cells a (zone i), b (zone j) with the least
    D(a) + step + D(b) [resistance x m] (D: the cost from the nearest source)."""
    if not pairs:
        return {}
    parts = []
    width = zone.shape[1]
    flat_best = best.ravel()
    for a, b, shift in ((zone[:, :-1], zone[:, 1:], 1), (zone[:-1, :], zone[1:, :], width)):
        touch = (a != b) & (a >= 0) & (b >= 0)
        rows, cols = np.nonzero(touch)
        cell_a = rows * width + cols
        cell_b = cell_a + shift
        over = flat_best[cell_a] + flat_best[cell_b] + 0.5 * (resistance.ravel()[cell_a] +
                                                              resistance.ravel()[cell_b]) * resolution
        parts.append(np.column_stack([zone.ravel()[cell_a], zone.ravel()[cell_b], over, root[cell_a], root[cell_b]]))
    table = np.concatenate(parts)
    # both directions: (i, j, cost, root in i, root in j), then the cheapest crossing per (i, j)
    table = np.concatenate([table, table[:, [1, 0, 2, 4, 3]]])
    order = np.lexsort((table[:, 2], table[:, 1], table[:, 0]))
    table = table[order]
    first = np.r_[True, (np.diff(table[:, 0]) != 0) | (np.diff(table[:, 1]) != 0)]
    out: dict[int, dict[int, tuple[int, float]]] = {}
    for i, j, cost, _, cell_j in table[first]:
        out.setdefault(int(i), {})[int(j)] = (int(cell_j), float(cost))
    return out


def _settle(costs, traceback, offsets, lengths, resistance_f):
    """Settle, in place, the cells still queued at the stop cost of a stopped pass (its costs
    and traceback as MCP returns them, column-major views; `resistance_f` the resistance
    flattened column-major, float64); returns the stop cost [resistance x m]."""
    height = costs.shape[0]
    flat, steps = costs.T.reshape(-1), traceback.T.reshape(-1)  # views: MCP's arrays are column-major
    flat[steps == -1] = 0.0  # the start cells (all settled first unless steps are free)
    reached = np.isfinite(flat)
    stop = float(flat[reached].max()) if reached.any() else 0.0
    queued = np.flatnonzero((steps >= 0) & ~reached)
    if queued.size:
        k = steps[queued]
        pred = queued - (offsets[k, 1] * height + offsets[k, 0])
        cost = flat[pred] + lengths[k] * 0.5 * (resistance_f[pred] + resistance_f[queued])  # as MCP_Geometric adds it
        tie = cost == stop
        flat[queued[tie]] = cost[tie]
        steps[queued[~tie]] = -2
    return stop


def _window(costs: np.ndarray) -> tuple[int, int, np.ndarray]:
    """The bounding box of the finite costs, as (row, col, float32 costs)."""
    finite = np.isfinite(costs)
    rows = np.flatnonzero(finite.any(axis=1))
    if rows.size == 0:
        return 0, 0, np.full((0, 0), np.inf, dtype=np.float32)
    cols = np.flatnonzero(finite.any(axis=0))
    block = costs[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1].astype(np.float32)
    return int(rows[0]), int(cols[0]), block


def _trace(traceback: np.ndarray, offsets: np.ndarray, end: tuple[int, int]) -> np.ndarray:
    """(k, 2) row/col of the path from a start cell to `end`, following the traceback."""
    row, col = int(end[0]), int(end[1])
    cells = [(row, col)]
    while (k := int(traceback[row, col])) >= 0:
        row -= int(offsets[k, 0])
        col -= int(offsets[k, 1])
        cells.append((row, col))
    return np.array(cells[::-1], dtype=np.int64)


def _path(costs, traceback, offsets, target_cells, i, j, resolution, transform) -> dict:
    """The least-cost path from source i to the cheapest cell of source j."""
    reach = costs[tuple(target_cells.T)]
    cwd = float(reach.min())
    if not np.isfinite(cwd):
        return {"from_source": i, "to_source": j, "cwd": np.inf, "length_m": np.nan, "mean_resistance": np.nan,
                "geometry": None, "cells": np.empty((0, 2), dtype=int)}
    cells = _trace(traceback, offsets, tuple(target_cells[int(np.argmin(reach))]))
    length = float((np.hypot(*np.diff(cells, axis=0).T) * resolution).sum())
    x, y = transform @ (cells[:, 1] + 0.5, cells[:, 0] + 0.5)
    return {"from_source": i, "to_source": j, "cwd": cwd, "length_m": length,
            "mean_resistance": cwd / length if length else np.nan,
            "geometry": LineString(np.column_stack((x, y))) if len(cells) > 1 else None, "cells": cells}
