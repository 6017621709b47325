"""Habitat connectivity: IIC and PC, and each patch's importance dIIC and dPC.

Graph-based indices of Pascual-Hortal & Saura (2006) and Saura & Pascual-Hortal (2007) on
patches i = 1..n with habitat areas a_i and the landscape area A_L:

.. math::

    IIC = \\frac{\\sum_i \\sum_j a_i a_j / (1 + nl_{ij})}{A_L^2} \\qquad
    PC = \\frac{\\sum_i \\sum_j a_i a_j p^*_{ij}}{A_L^2}

- nl_ij: links on the shortest path between i and j in the graph where two patches are
  linked when their edge-to-edge distance is at most a threshold (nl_ii = 0; unconnected
  pairs add nothing);
- p*_ij: the largest product of direct dispersal probabilities p_ij = exp(-k d_ij) over all
  paths from i to j (p*_ii = 1), with k set by one point of the dispersal kernel: the
  probability p0 at distance d0, k = -ln(p0) / d0.

A patch's importance is the percent loss when it is removed (A_L unchanged):
dI_k = 100 (I - I_-k) / I. For PC it splits (Saura & Rubio 2010) into

- dPCintra_k = 100 a_k^2 / PCnum: habitat inside the patch;
- dPCflux_k = 100 x 2 sum_(i != k) a_i a_k p*_ik / PCnum: flow starting or ending in it;
- dPCconnector_k = dPC_k - intra - flux: its role as a stepping stone between others;

with PCnum = A_L^2 PC. Shortest paths use :mod:`scipy.sparse.csgraph` (unit links for
IIC; Dijkstra on -ln p for PC). For PC on many patches, links that a path through cheaper links
makes redundant are dropped before the searches, which leaves every p*_ij as it is
(:func:`_redundant_links`); :func:`link_distances` does the same while measuring distances, so
that most pairs of a dense set of patches are never measured.

References
----------
.. [1] Pascual-Hortal L., Saura S. (2006). Comparison and development of new graph-based
   landscape connectivity indices. Landscape Ecology 21: 959-967.
.. [2] Saura S., Pascual-Hortal L. (2007). A new habitat availability index to integrate
   connectivity in landscape conservation planning. Landscape and Urban Planning 83: 91-103.
.. [3] Saura S., Rubio L. (2010). A common currency for the different ways in which patches
   and links can contribute to habitat availability and connectivity in the landscape.
   Ecography 33: 523-537.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np
import pandas as pd
from scipy.sparse import coo_array, csr_array, issparse
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree

from carbonmap.errors import InputError

__all__ = ["patch_distances", "link_distances", "cross_distances", "connectivity", "pc_index", "pc_gain",
           "Connectivity"]


def patch_distances(labels: np.ndarray, ids: np.ndarray, resolution: float, *,
                    max_distance_m: float = np.inf) -> np.ndarray:
    r"""Edge-to-edge distances between patches [m], as FRAGSTATS' ENN measures them.

    Parameters
    ----------
    labels : array (H, W) of int
        Patch ids (0 = none).
    ids : array (n,) of int
        The patch ids to measure, in the order of the result.
    resolution : float [m]
        Cell size.
    max_distance_m : float [m]
        Pairs farther apart than this are not measured (inf).

    Returns
    -------
    ndarray (n, n) [m]
        Symmetric, 0 on the diagonal, inf beyond `max_distance_m`.

    Notes
    -----
    :math:`d_{ij} = r \min_{u \in i, v \in j} \lVert u - v \rVert`, the shortest distance between
    cell centres of the two patches; only each patch's boundary cells are searched (k-d trees).

    References
    ----------
    .. [1] McGarigal K., Cushman S. A., Ene E. (2023). FRAGSTATS v4: Spatial Pattern Analysis
       Program for Categorical Maps. University of Massachusetts, Amherst. https://www.fragstats.org

    Examples
    --------
    >>> labels = np.array([[1, 1, 0, 0, 2]])
    >>> patch_distances(labels, [1, 2], 30.0).tolist()
    [[0.0, 90.0], [90.0, 0.0]]
    """
    points = _boundary_points(labels, ids)
    n = len(ids)
    out = np.full((n, n), np.inf)
    np.fill_diagonal(out, 0.0)
    if n < 2:
        return out
    limit = max_distance_m / resolution
    bound = limit * (1 + 1e-12) if np.isfinite(limit) else np.inf
    # pairs whose bounding boxes are within the limit (a lower bound of their distance)
    boxes = _boxes(points)
    first, second = _upper_pairs(n, lambda rows: _box_gaps(boxes, rows) <= limit)
    out[first, second] = out[second, first] = _pair_distances(points, first, second, resolution, bound)
    return out


def _pair_distances(points: list[np.ndarray], first: np.ndarray, second: np.ndarray, resolution: float,
                    bound: float) -> np.ndarray:
    """Edge-to-edge distances [m] of the pairs (first[t], second[t]) of patches whose boundary
    cells are `points`, inf beyond `bound` [cells]: one k-d tree of each `first` patch, queried with
    the cells of all its `second` patches (the pairs sorted by `first`, as :func:`numpy.nonzero`
    gives them) that can be nearer than a cell already measured (:func:`_nearest_to_tree`)."""
    out = np.empty(len(first))
    starts = np.flatnonzero(np.r_[True, first[1:] != first[:-1]]) if len(first) else np.zeros(0, int)
    for start, end in zip(starts, np.r_[starts[1:], len(first)]):
        mine, others = points[first[start]], second[start:end]
        sizes = np.array([len(points[j]) for j in others])
        out[start:end] = _nearest_to_tree(mine, np.concatenate([points[j] for j in others]), sizes,
                                          bound=bound) * resolution
    return np.where(out < bound * resolution, out, np.inf)


def _nearest_to_tree(mine: np.ndarray, cells: np.ndarray, sizes: np.ndarray, *, bound: float = np.inf) -> np.ndarray:
    """The shortest distance [cells] from the point set `mine` to each of the point sets that
    `cells` holds one after another (`sizes` points each, at least one): exact below `bound`, and
    some distance above it otherwise.

    Each set's cell nearest to the bounding box of `mine` is measured first; its distance d bounds
    the set's, so only the set's cells at most d from the box (a lower bound of their distance to
    `mine`) are measured, each search stopping at the largest such d (or at `bound`). The result is
    the k-d tree's distance of the nearest cell, as when every cell is measured."""
    tree = cKDTree(mine)
    low, high = mine.min(axis=0), mine.max(axis=0)
    to_box = np.hypot(*np.maximum(0.0, np.maximum(low - cells, cells - high)).T)
    offsets = np.r_[0, np.cumsum(sizes[:-1])]
    nearest_to_box = np.repeat(np.minimum.reduceat(to_box, offsets), sizes)
    at_minimum = np.flatnonzero(to_box == nearest_to_box)
    probes = at_minimum[np.searchsorted(at_minimum, offsets)]  # each set's first such cell
    found, _ = tree.query(cells[probes])
    maybe = np.flatnonzero(to_box <= np.repeat(found, sizes) * (1 + 1e-12))
    distance = np.full(len(cells), np.inf)
    distance[maybe], _ = tree.query(cells[maybe], distance_upper_bound=min(found.max() * (1 + 1e-12), bound))
    return np.minimum(found, np.minimum.reduceat(distance, offsets))


#: Rows of an (n, n) matrix of patch pairs computed at once: bounds the temporaries to a few
#: times 512 x n values (a city cluster's 10,000 patches: 40 MB, not 2.4 GB).
_PAIR_ROWS = 512


def _row_blocks(n: int) -> list[slice]:
    return [slice(start, min(start + _PAIR_ROWS, n)) for start in range(0, n, _PAIR_ROWS)]


def _boxes(points: list[np.ndarray]) -> np.ndarray:
    """(n, 4) bounding boxes (row min, row max, col min, col max) [cells] of the point sets `points`."""
    return np.array([[p[:, 0].min(), p[:, 0].max(), p[:, 1].min(), p[:, 1].max()] for p in points])


def _box_gaps(boxes: np.ndarray, rows: slice) -> np.ndarray:
    """(rows, n) distances [cells] between the bounding boxes `boxes[rows]` and all `boxes`: a lower
    bound of the shortest distance between their point sets (0 where the boxes overlap)."""
    mine = boxes[rows]
    gap_r = np.maximum(0.0, np.maximum(boxes[None, :, 0] - mine[:, None, 1], mine[:, None, 0] - boxes[None, :, 1]))
    gap_c = np.maximum(0.0, np.maximum(boxes[None, :, 2] - mine[:, None, 3], mine[:, None, 2] - boxes[None, :, 3]))
    return np.hypot(gap_r, gap_c)


def _upper_pairs(n: int, condition: Callable[[slice], np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(first, second) with first < second where ``condition(rows)`` (a bool block of rows x n
    of an (n, n) matrix) holds, in the order of ``np.nonzero(np.triu(whole, k=1))``, computed
    block by block of rows."""
    firsts, seconds = [], []
    for rows in _row_blocks(n):
        first, second = np.nonzero(condition(rows))
        first += rows.start
        upper = second > first
        firsts.append(first[upper]), seconds.append(second[upper])
    return (np.concatenate(firsts), np.concatenate(seconds)) if firsts else (np.zeros(0, int), np.zeros(0, int))


def link_distances(labels: np.ndarray, ids, resolution: float, *, max_distance_m: float,
                   stones: int = 16) -> csr_array:
    r"""Edge-to-edge distances between patches [m] of the links a most probable (PC) path can
    need: :func:`patch_distances` less the links that a chain of shorter links makes redundant,
    as a sparse matrix.

    Parameters
    ----------
    labels : array (H, W) of int
        Patch ids (0 = none).
    ids : array (n,) of int
        The patch ids, in the order of the result.
    resolution : float [m]
        Cell size.
    max_distance_m : float [m]
        Pairs farther apart than this are not linked, as in :func:`patch_distances`.
    stones : int
        How many of each patch's nearest neighbours (by bounding box) are measured first, as the
        stepping stones of the chains.

    Returns
    -------
    scipy.sparse.csr_array (n, n) [m]
        Symmetric; a stored entry is a link, at the distance :func:`patch_distances` gives it; a
        pair not stored (and the diagonal) is not linked: beyond `max_distance_m`, or redundant.
        Memory grows with the links, not with n². For :func:`pc_index` as it is; not for
        ``.toarray()``, where a pair not stored would read 0, as if the patches touched.

    Notes
    -----
    The distances from each patch to its `stones` nearest neighbours by bounding box are
    measured first; :math:`c_{ij}`, the shortest chain of these links (Dijkstra, up to
    `max_distance_m`), is then compared with :math:`\underline{d}_{ij} \le d_{ij}`, the distance
    between the two patches' bounding boxes. Where :math:`c_{ij} \le \underline{d}_{ij}` the
    direct link is never needed by a maximum-product path, as
    :math:`p_{ij} = e^{-k d_{ij}} \le e^{-k c_{ij}}`, the product along the chain; it is left out
    without being measured. The measured links all stay, so every left-out link keeps its chain:
    :math:`p^*_{ij}` and PC on the result equal those on :func:`patch_distances` (to rounding),
    while most pairs of a dense set of patches are never measured. Not for dPC (removing a patch
    breaks the chains through it: :func:`connectivity` needs every distance) nor for IIC (a chain
    has more links than the direct one).
    """
    ids = np.asarray(ids)
    n = len(ids)
    if n < 2:
        return csr_array((n, n))
    points = _boundary_points(labels, ids)
    limit = max_distance_m / resolution
    bound = limit * (1 + 1e-12) if np.isfinite(limit) else np.inf
    boxes = _boxes(points)
    stones = min(stones, n - 1)
    # the pairs within reach by bounding box (first < second, by first then second), their box
    # distances, and each patch's nearest neighbours by bounding box
    first, second, lower = [], [], []
    nearest = np.zeros((n, stones), np.int64)
    for rows in _row_blocks(n):
        gaps = _box_gaps(boxes, rows)
        gaps[np.arange(gaps.shape[0]), np.arange(rows.start, rows.stop)] = np.inf
        if stones > 0:
            nearest[rows] = np.argpartition(gaps, stones - 1, axis=1)[:, :stones]
        i, j = np.nonzero(gaps <= limit)
        upper = j > i + rows.start
        first.append(i[upper] + rows.start), second.append(j[upper]), lower.append(gaps[i[upper], j[upper]])
    first, second, lower = np.concatenate(first), np.concatenate(second), np.concatenate(lower) * resolution
    distance = np.full(len(first), np.inf)
    # 1. the links to each patch's nearest neighbours
    patch = np.arange(n, dtype=np.int64)[:, None]
    low, high = np.minimum(patch, nearest).ravel(), np.maximum(patch, nearest).ravel()
    measured = np.isin(first.astype(np.int64) * n + second, low * n + high)
    distance[measured] = _pair_distances(points, first[measured], second[measured], resolution, bound)
    # 2. the shortest chains of these links (two patches' cells are at least one cell apart: no 0)
    linked = measured & np.isfinite(distance)
    graph = csr_array((distance[linked], (first[linked], second[linked])), shape=(n, n))
    chain = np.full(len(first), np.inf)
    starts = np.searchsorted(first, np.arange(0, n + _PAIR_ROWS, _PAIR_ROWS))
    for block, rows in enumerate(_row_blocks(n)):
        pairs = slice(starts[block], starts[block + 1])
        if pairs.start < pairs.stop:
            chains = dijkstra(graph, directed=False, indices=np.arange(rows.start, rows.stop), limit=max_distance_m)
            chain[pairs] = chains[first[pairs] - rows.start, second[pairs]]
    # 3. measure the links that no chain makes redundant
    needed = ~measured & (chain > lower)
    distance[needed] = _pair_distances(points, first[needed], second[needed], resolution, bound)
    return _symmetric(first, second, distance, n)


def _symmetric(first: np.ndarray, second: np.ndarray, distance: np.ndarray, n: int) -> csr_array:
    """(n, n) sparse matrix with `distance` at (first, second) and (second, first), where finite."""
    keep = np.isfinite(distance)
    rows, cols = np.r_[first[keep], second[keep]], np.r_[second[keep], first[keep]]
    return csr_array((np.r_[distance[keep], distance[keep]], (rows, cols)), shape=(n, n))


def _boundary_points(labels: np.ndarray, ids) -> list[np.ndarray]:
    """(row, col) of the cells of each patch in `ids` with a side neighbour outside it (or on the
    raster's border): the only cells an edge-to-edge distance can start from."""
    boundary = np.zeros(labels.shape, dtype=bool)
    boundary[:, 1:] |= labels[:, 1:] != labels[:, :-1]
    boundary[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    boundary[1:, :] |= labels[1:, :] != labels[:-1, :]
    boundary[:-1, :] |= labels[:-1, :] != labels[1:, :]
    boundary[[0, -1], :] = boundary[:, [0, -1]] = True
    rows, cols = np.nonzero(boundary & np.isin(labels, ids))
    owner = labels[rows, cols]
    order = np.argsort(owner, kind="stable")
    rows, cols, owner = rows[order], cols[order], owner[order]
    starts = np.searchsorted(owner, ids)
    ends = np.searchsorted(owner, ids, side="right")
    return [np.column_stack((rows[s:e], cols[s:e])).astype(float) for s, e in zip(starts, ends)]


def cross_distances(labels_a: np.ndarray, ids_a, labels_b: np.ndarray, ids_b, resolution: float, *,
                    max_distance_m: float = np.inf) -> np.ndarray:
    """Edge-to-edge distances from each patch of one label raster to each patch of another [m].

    Parameters
    ----------
    labels_a : array (H, W) of int
        Patch ids of the first set (0 = none), e.g. habitat cores.
    ids_a : array (n,) of int
        Its patches to measure.
    labels_b : array (H, W) of int
        Patch ids of the second set on the same grid, e.g. candidate sites.
    ids_b : array (m,) of int
        Its patches to measure.
    resolution : float [m]
        Cell size.
    max_distance_m : float [m]
        Pairs farther apart than this are not measured (inf).

    Returns
    -------
    ndarray (n, m) [m]
        The shortest distance between cell centres, as :func:`patch_distances`; inf beyond
        `max_distance_m`.
    """
    ids_a, ids_b = np.asarray(ids_a), np.asarray(ids_b)
    out = np.full((len(ids_a), len(ids_b)), np.inf)
    if len(ids_a) == 0 or len(ids_b) == 0:
        return out
    points_b = _boundary_points(labels_b, ids_b)
    owner_b = np.repeat(np.arange(len(ids_b)), [len(p) for p in points_b])
    all_b = np.concatenate(points_b)
    limit = max_distance_m / resolution
    bound = limit * (1 + 1e-12) if np.isfinite(limit) else np.inf
    by_x = np.argsort(all_b[:, 0], kind="stable")
    xs = all_b[by_x, 0]
    for i, points in enumerate(_boundary_points(labels_a, ids_a)):
        if len(points) == 0:  # an id without cells is infinitely far from everything
            continue
        near = _within_box(all_b, by_x, xs, points.min(axis=0) - bound, points.max(axis=0) + bound)
        dist, _ = cKDTree(points).query(all_b[near], distance_upper_bound=bound)
        np.minimum.at(out[i], owner_b[near], dist * resolution)
    return out


def _within_box(points: np.ndarray, by_x: np.ndarray, xs: np.ndarray, low: np.ndarray, high: np.ndarray
                ) -> np.ndarray:
    """Indices of `points` (n, 2) inside the box [low, high] (inclusive; infinite bounds take all),
    found through `by_x`, the points' order by x, and `xs`, their x in that order: only the
    points near a patch are measured."""
    inside = by_x[np.searchsorted(xs, low[0], "left"):np.searchsorted(xs, high[0], "right")]
    y = points[inside, 1]
    return inside[(y >= low[1]) & (y <= high[1])]


class Connectivity:
    """IIC or PC of a set of patches and the importance of each (see the module docstring).

    Attributes
    ----------
    index : float
        IIC or PC of the landscape.
    patches : DataFrame
        One row per patch: ``dI`` [%] (dIIC or dPC) and, for PC, ``dI_intra``, ``dI_flux``,
        ``dI_connector`` [%].
    """

    def __init__(self, index: float, patches: pd.DataFrame) -> None:
        self.index = index
        self.patches = patches


def _numerator(areas: np.ndarray, reach: np.ndarray) -> float:
    return float(areas @ reach @ areas)


def connectivity(areas, distances, landscape_area, *, threshold_m: float | None = None,
                 probability: tuple[float, float] | None = None) -> Connectivity:
    r"""Habitat connectivity, IIC (with `threshold_m`) or PC (with `probability`), and each patch's
    importance.

    Parameters
    ----------
    areas : array (n,) [ha, or any area unit]
        Habitat area of each patch.
    distances : array (n, n) [m]
        Edge-to-edge distances (:func:`patch_distances`).
    landscape_area : float [unit of `areas`]
        :math:`A_L`, the area of the landscape.
    threshold_m : float [m], optional
        IIC: patches at most this far apart are linked.
    probability : (p0 [-], d0 [m]), optional
        PC: direct dispersal probability p0 at distance d0 (e.g. (0.5, 1000)).

    Returns
    -------
    Connectivity
        ``index``: IIC or PC [-]; ``patches``: ``dI`` [%] of each patch and, for PC, its parts
        ``dI_intra``, ``dI_flux``, ``dI_connector`` [%].

    Raises
    ------
    InputError
        Unless exactly one of `threshold_m` and `probability` is given, for a probability outside
        (0, 1) or a distance matrix of the wrong shape.

    Notes
    -----
    .. math::

        IIC = \frac{\sum_i \sum_j a_i a_j / (1 + nl_{ij})}{A_L^2}

    .. math::

        PC = \frac{\sum_i \sum_j a_i a_j p^*_{ij}}{A_L^2}, \qquad p_{ij} = e^{-k d_{ij}},
        \quad k = -\ln(p_0) / d_0

    with :math:`p^*_{ij}` the largest product of direct probabilities over all paths from i to
    j (:math:`p^*_{ii} = 1`).
    :math:`nl_{ij}` is the number of links on the shortest path between i and j in the graph
    linking patches at most `threshold_m` apart. A patch's importance is the loss when it is
    removed, :math:`dI_k = 100 (I - I_{-k}) / I`; for PC it splits into
    :math:`dPC_{intra} = 100 a_k^2 / PC_{num}`, :math:`dPC_{flux} = 200 \sum_{i \ne k} a_i a_k
    p^*_{ik} / PC_{num}` and :math:`dPC_{connector}` the rest, with :math:`PC_{num} = A_L^2 PC`.

    Removing k changes only the pairs with k at one end and the pairs whose best path runs through
    k. So one search from every patch gives p* (or nl) and each patch's tree of best paths; then,
    for each patch k on some tree's paths other than at its ends, the searches are run again
    without k from the patches whose trees pass through k alone:

    .. math::

        I_{num} - I_{-k,num} = a_k \Big(2 \sum_j a_j r_{kj} - a_k\Big)
            + \sum_{i \in S_k} a_i \sum_{j \ne k} a_j \big(r_{ij} - r^{(-k)}_{ij}\big)

    with :math:`r` = :math:`p^*` or :math:`1 / (1 + nl)`, :math:`S_k` those patches and
    :math:`r^{(-k)}` the searches without k (the second term is :math:`PC_{num}\,
    dPC_{connector} / 100`). This equals removing each patch and searching again from every
    patch (to rounding), with a few searches instead of n.

    References
    ----------
    .. [1] Pascual-Hortal L., Saura S. (2006). Comparison and development of new graph-based
       landscape connectivity indices. Landscape Ecology 21: 959-967.
    .. [2] Saura S., Pascual-Hortal L. (2007). A new habitat availability index to integrate
       connectivity in landscape conservation planning. Landscape and Urban Planning 83: 91-103.
    .. [3] Saura S., Rubio L. (2010). A common currency for the different ways in which patches
       and links can contribute to habitat availability and connectivity in the landscape.
       Ecography 33: 523-537.

    Examples
    --------
    >>> result = connectivity([1.0, 1.0], np.array([[0, 1000.0], [1000.0, 0]]), 10.0, probability=(0.5, 1000))
    >>> round(result.index, 4), result.patches["dI"].round(1).tolist()
    (0.03, [66.7, 66.7])
    """
    areas = np.asarray(areas, dtype=float)
    distances = _every_distance(distances)
    if (threshold_m is None) == (probability is None):
        raise InputError("give exactly one of threshold_m (IIC) and probability (PC).",
                         fix="e.g. threshold_m=1000, or probability=(0.5, 1000).")
    if distances.shape != (len(areas), len(areas)):
        raise InputError(f"distances must be {len(areas)} x {len(areas)}, got {distances.shape}.",
                         fix="pass the matrix from patch_distances for the same patches.")
    if probability is not None:
        p0, d0 = probability
        if not (0 < p0 < 1 and d0 > 0):
            raise InputError(f"the probability must be in (0, 1) at a positive distance, got {probability}.",
                             fix="e.g. (0.5, 1000): half of the movements reach 1 km.")
        weights = -np.log(p0) / d0 * distances  # -ln p_ij
        paths = _pc_paths(*_dense_links(weights), len(areas), cost_of=lambda k, j: weights[k, j])
    else:
        paths = _iic_paths(distances <= threshold_m)
    reach, passes = paths.reach()
    total = _numerator(areas, reach)
    ends = areas * (2 * (reach @ areas) - areas)  # pairs starting or ending in k (reach_kk = 1)
    through = np.zeros(len(areas))
    for k in np.flatnonzero(passes.any(axis=0)):
        sources, others = np.flatnonzero(passes[:, k]), np.arange(len(areas)) != k
        reach_without = paths.without(k)
        lost = sum(float(areas[part] @ ((reach[part] - reach_without(part))[:, others] @ areas[others]))
                   for part in (sources[rows] for rows in _row_blocks(len(sources))))  # bounded temporaries
        through[k] = max(lost, 0.0)
    patches = pd.DataFrame({"dI": 100 * (ends + through) / total})
    if probability is not None:
        patches["dI_intra"] = 100 * areas**2 / total
        patches["dI_flux"] = 100 * 2 * (areas * (reach @ areas - areas)) / total
        patches["dI_connector"] = 100 * through / total
    return Connectivity(total / float(landscape_area) ** 2, patches)


def _every_distance(distances) -> np.ndarray:
    """The dense matrix of every distance that dPC and the gains need; a sparse matrix of links
    (:func:`link_distances`) is refused, since the pairs it leaves out matter once a patch is
    removed or added."""
    if issparse(distances):
        raise InputError("dPC and connectivity gains need every pair's distance, not a sparse matrix of links.",
                         fix="pass patch_distances(...) (link_distances is for pc_index only).")
    return np.asarray(distances, dtype=float)


class _BestPaths:
    """Best-path searches between patches on their links, and again without one patch.

    `first`, `second` (first < second) and `value` are the links (the graph stores both
    directions); `spare[t]` is a patch that makes link t redundant (:func:`_redundant_links`; -1:
    none): such links are left out, but for the searches without that patch. `search` is
    ``scipy.sparse.csgraph.dijkstra`` with its options; `to_reach` turns its results into r_ij.
    """

    def __init__(self, first, second, value, spare, n: int, *, search: Callable, to_reach: Callable) -> None:
        kept = spare < 0
        self.links = first[kept], second[kept], value[kept]
        by_spare = np.flatnonzero(~kept)[np.argsort(spare[~kept], kind="stable")]  # the others, by their patch
        self.spares, self.spare_of = (first[by_spare], second[by_spare], value[by_spare]), spare[by_spare]
        self.n, self.search, self.to_reach = n, search, to_reach

    def _graph(self, without: int | None = None) -> csr_array:
        first, second, value = self.links
        if without is not None:  # k's links out, the links redundant through k back
            use = (first != without) & (second != without)
            back = slice(*np.searchsorted(self.spare_of, [without, without + 1]))
            first, second, value = (np.r_[kept[use], spare[back]] for kept, spare in zip(self.links, self.spares))
        return _symmetric(first, second, value, self.n)

    def reach(self) -> tuple[np.ndarray, np.ndarray]:
        """r (n, n) between all patches (1 on the diagonal, 0 unconnected), and `passes` (n, n) of
        bool: the best path found from patch i to some patch runs through patch k (not at its ends)."""
        scores, predecessors = self.search(self._graph(), return_predecessors=True)
        reach = self.to_reach(scores)
        np.fill_diagonal(reach, 1.0)
        passes = np.zeros((self.n, self.n), dtype=bool)
        for rows in _row_blocks(self.n):  # predecessors other than the source: the trees' inner patches
            i, j = np.nonzero(predecessors[rows] >= 0)
            passes[i + rows.start, predecessors[rows][i, j]] = True
        np.fill_diagonal(passes, False)
        return reach, passes

    def without(self, k: int) -> Callable[[np.ndarray], np.ndarray]:
        """r (len(sources), n) from given sources once patch k is removed (0 to k), as a function of
        the sources (the graph without k made once)."""
        graph = self._graph(without=k)

        def reach(sources: np.ndarray) -> np.ndarray:
            out = self.to_reach(self.search(graph, indices=sources))
            out[np.arange(len(sources)), sources] = 1.0
            return out

        return reach


def _pc_paths(first: np.ndarray, second: np.ndarray, cost: np.ndarray, n: int, *,
              cost_of: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> _BestPaths:
    """PC's best paths (Dijkstra on the links (first, second) of `cost` = -ln p; r = p*), the
    redundant links (:func:`_redundant_links`) left out from :data:`_PRUNE_FROM` patches on.
    `cost_of(k, j)` gives the cost of any pairs (inf: no link)."""
    spare = (_redundant_links(first, second, cost, n, cost_of=cost_of) if n >= _PRUNE_FROM
             else np.full(len(cost), -1))
    # csgraph reads 0 as "no edge": give touching patches a tiny positive cost instead
    return _BestPaths(first, second, np.maximum(cost, 1e-300), spare, n, search=partial(dijkstra, directed=True),
                      to_reach=lambda scores: np.exp(-scores))


def _iic_paths(links: np.ndarray) -> _BestPaths:
    """IIC's best paths: fewest links between patches (`links` (n, n) of bool, either direction
    linking), r = 1 / (1 + nl)."""
    first, second, _ = _dense_links(np.where(links, 1.0, np.inf))
    return _BestPaths(first, second, np.ones(len(first)), np.full(len(first), -1), len(links),
                      search=partial(dijkstra, directed=True, unweighted=True),
                      to_reach=lambda hops: np.where(np.isfinite(hops), 1 / (1 + hops), 0.0))


#: Graphs of at least this many patches have their redundant links dropped before the searches
#: (:func:`_redundant_links`); for fewer, the test costs more than it saves.
_PRUNE_FROM = 200


def _pc_reach(weights: np.ndarray, keep: np.ndarray, *, min_probability: float | None = None) -> np.ndarray:
    """Maximum-product probability p*_ij (n, n) between kept patches (Dijkstra on -ln p, `weights`
    (n, n)); with `min_probability`, links and paths less likely than it are left out (p*_ij = 0
    there: a sparse graph and bounded searches)."""
    n = len(keep)
    limit = np.inf if min_probability is None else -np.log(min_probability)
    first, second, cost = _dense_links(weights)
    kept = keep[first] & keep[second]
    graph = _pc_graph(first[kept], second[kept], cost[kept], n, limit, cost_of=lambda k, j: weights[k, j])
    out = np.exp(-dijkstra(graph, directed=True, limit=limit))
    out[~keep, :] = 0
    out[:, ~keep] = 0
    out[np.arange(n)[keep], np.arange(n)[keep]] = 1.0
    return out


def _dense_links(distances: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The links (first < second, value) of an (n, n) matrix: the finite entries off the diagonal,
    the smaller of the two directions; by blocks of rows."""
    firsts, seconds, values = [], [], []
    for rows in _row_blocks(len(distances)):
        both = np.minimum(distances[rows], distances[:, rows].T)
        i, j = np.nonzero(np.isfinite(both))
        upper = j > i + rows.start
        firsts.append(i[upper] + rows.start), seconds.append(j[upper]), values.append(both[i[upper], j[upper]])
    if not firsts:
        return np.zeros(0, int), np.zeros(0, int), np.zeros(0)
    return np.concatenate(firsts), np.concatenate(seconds), np.concatenate(values)


def _sparse_links(distances, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The links (first < second, value) of a sparse (n, n) matrix: its stored finite entries off
    the diagonal (explicit zeros included), the smaller of the two directions."""
    stored = coo_array(distances)
    keep = (stored.row != stored.col) & np.isfinite(stored.data)
    rows, cols, values = stored.row[keep].astype(np.int64), stored.col[keep].astype(np.int64), stored.data[keep]
    first, second = np.minimum(rows, cols), np.maximum(rows, cols)
    order = np.lexsort((values, second, first))
    first, second, values = first[order], second[order], values[order]
    new = np.r_[True, (first[1:] != first[:-1]) | (second[1:] != second[:-1])] if len(first) else np.zeros(0, bool)
    return first[new], second[new], values[new]


def _pc_graph(first: np.ndarray, second: np.ndarray, cost: np.ndarray, n: int, limit: float, *,
              cost_of: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> csr_array:
    """The graph the PC searches run on: the links (first, second) of `cost` = -ln p at most
    `limit`, less the redundant ones (:func:`_pc_paths`), both directions stored."""
    within = cost <= limit
    return _pc_paths(first[within], second[within], cost[within], n, cost_of=cost_of)._graph()


def _redundant_links(first: np.ndarray, second: np.ndarray, cost: np.ndarray, n: int, *,
                     cost_of: Callable[[np.ndarray, np.ndarray], np.ndarray], stones: int = 16,
                     chunk: int = 1 << 20) -> np.ndarray:
    r"""The links that a path of two lighter links makes redundant.

    Parameters
    ----------
    first, second : array (m,) of int
        The linked patches of each link (no link twice).
    cost : array (m,) [-]
        Link costs :math:`w_{ij} = -\ln p_{ij}`.
    n : int
        Patches.
    cost_of : callable
        ``cost_of(k, j)``: the costs of the pairs (k[t], j[t]), inf where not linked.
    stones : int
        How many of each patch's cheapest links are tried as the middle patch k.
    chunk : int
        Links (in one direction) checked at once (memory: a few times `chunk` values).

    Returns
    -------
    ndarray (m,) of int
        For a redundant link, a middle patch k that makes it so; -1 for the others.

    Notes
    -----
    Link ij is redundant when, for some k among the `stones` cheapest neighbours of i or of j,

    .. math:: w_{ik} + w_{kj} \le w_{ij}, \qquad w_{ik} < w_{ij}, \quad w_{kj} < w_{ij}.

    Every redundant link then has a path no costlier through strictly cheaper links, each kept
    or itself redundant: by induction on the cost, dropping them all leaves every shortest path
    cost, hence :math:`p^*`, unchanged (to rounding), including which paths stay within a cutoff.
    """
    m = len(cost)
    # each link in both directions, by its start and then its cost: a start's cheapest links first
    start, end, weight = np.r_[first, second], np.r_[second, first], np.r_[cost, cost]
    link = np.r_[np.arange(m), np.arange(m)]
    order = np.lexsort((weight, start))
    start, end, weight, link = start[order], end[order], weight[order], link[order]
    begin = np.searchsorted(start, np.arange(n))
    count = np.bincount(start, minlength=n)
    out = np.full(m, -1)
    for part in range(0, 2 * m, chunk):
        i, j, w = start[part:part + chunk], end[part:part + chunk], weight[part:part + chunk]
        middle = np.full(len(i), -1)
        for s in range(min(stones, int(count.max(initial=0)))):
            has = count[i] > s
            at = np.where(has, begin[i] + s, 0)
            to_k, k = weight[at], end[at]
            from_k = cost_of(k, j)
            found = has & (middle < 0) & (to_k + from_k <= w) & (to_k < w) & (from_k < w)
            middle[found] = k[found]
        redundant = middle >= 0
        out[link[part:part + chunk][redundant]] = middle[redundant]
    return out


def _sparse_cost_of(first: np.ndarray, second: np.ndarray, cost: np.ndarray, n: int
                    ) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """``cost_of(k, j)`` for the links (first, second) of `cost`, in either direction (a sorted key search)."""
    keys = np.r_[first * n + second, second * n + first]
    order = np.argsort(keys, kind="stable")
    keys, values = keys[order], np.r_[cost, cost][order]

    def cost_of(k: np.ndarray, j: np.ndarray) -> np.ndarray:  # called only when there are links
        wanted = k * n + j
        at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
        return np.where(keys[at] == wanted, values[at], np.inf)

    return cost_of


def pc_index(areas, distances, landscape_area, *, probability: tuple[float, float],
             min_probability: float | None = None) -> float:
    r"""The probability of connectivity PC of a set of patches, without the per-patch importances.

    Parameters
    ----------
    areas : array (n,) [ha, or any area unit]
        Habitat area of each patch.
    distances : array (n, n) or scipy.sparse matrix (n, n) [m]
        Edge-to-edge distances: dense (:func:`patch_distances`; inf: not linked), or sparse, where
        the stored entries are the links and a pair not stored is not linked
        (:func:`link_distances`; an explicit 0 links touching patches).
    landscape_area : float [unit of `areas`]
        :math:`A_L`.
    probability : (p0 [-], d0 [m])
        Direct dispersal probability p0 at distance d0.
    min_probability : float [-], optional
        Leave out links and paths less likely than this (:math:`p^*_{ij} = 0` there): a sparse graph
        and bounded searches for many patches; each pair loses at most `min_probability`.

    Returns
    -------
    float [-]

    Notes
    -----

    .. math::

        PC = \frac{\sum_i \sum_j a_i a_j p^*_{ij}}{A_L^2}, \qquad p_{ij} = e^{-k d_{ij}},
        \quad k = -\ln(p_0) / d_0

    with :math:`p^*_{ij}` the largest product of direct probabilities over all paths from i to
    j (:math:`p^*_{ii} = 1`).

    References
    ----------
    .. [1] Saura S., Pascual-Hortal L. (2007). A new habitat availability index to integrate
       connectivity in landscape conservation planning. Landscape and Urban Planning 83: 91-103.
    """
    areas = np.asarray(areas, dtype=float)
    n = len(areas)
    distances = distances if issparse(distances) else np.asarray(distances, dtype=float)
    if distances.shape != (n, n):
        raise InputError(f"distances must be {n} x {n}, got {distances.shape}.",
                         fix="pass the distances of the same patches as the areas.")
    p0, d0 = probability
    decay = -np.log(p0) / d0
    limit = np.inf if min_probability is None else -np.log(min_probability)
    if issparse(distances):
        first, second, cost = _sparse_links(distances, n)
        cost = decay * cost
        cost_of = _sparse_cost_of(first, second, cost, n)
    else:
        weights = decay * distances
        first, second, cost = _dense_links(weights)
        cost_of = lambda k, j: weights[k, j]  # noqa: E731
    graph = _pc_graph(first, second, cost, n, limit, cost_of=cost_of)
    total = 0.0
    for rows in _row_blocks(n):  # p* by blocks of rows: memory grows with n, not n^2
        reach = np.exp(-dijkstra(graph, directed=True, indices=np.arange(rows.start, rows.stop), limit=limit))
        total += float(areas[rows] @ reach @ areas)
    return total / float(landscape_area) ** 2


def pc_gain(areas, distances, landscape_area, new_areas, new_distances, *,
            probability: tuple[float, float]) -> np.ndarray:
    r"""Gain in PC when each candidate site, on its own, becomes a habitat patch [%].

    Parameters
    ----------
    areas : array (n,) [ha, or any area unit]
        Habitat area of each existing patch.
    distances : array (n, n) [m]
        Edge-to-edge distances between the existing patches.
    landscape_area : float [unit of `areas`]
        :math:`A_L` (unchanged by the sites).
    new_areas : array (m,) [unit of `areas`]
        Habitat area each site would add.
    new_distances : array (n, m) [m]
        Edge-to-edge distances from each patch to each site (:func:`cross_distances`).
    probability : (p0 [-], d0 [m])
        Direct dispersal probability p0 at distance d0.

    Returns
    -------
    ndarray (m,) [%]
        0 for a site that adds no habitat.

    Raises
    ------
    InputError
        For `new_distances` of the wrong shape.

    Notes
    -----
    For site s, :math:`gain_s = 100 \, (PC_{+s} - PC) / PC`, with :math:`PC_{+s}` the PC of the
    n existing patches plus s: dPC read the other way round, the value of adding a patch
    instead of the loss from removing one.

    References
    ----------
    .. [1] Saura S., Rubio L. (2010). A common currency for the different ways in which patches
       and links can contribute to habitat availability and connectivity in the landscape.
       Ecography 33: 523-537.
    """
    areas = np.asarray(areas, dtype=float)
    new_areas = np.asarray(new_areas, dtype=float)
    new_distances = _every_distance(new_distances)
    if new_distances.shape != (len(areas), len(new_areas)):
        raise InputError(f"new_distances must be {len(areas)} x {len(new_areas)}, got {new_distances.shape}.",
                         fix="pass cross_distances(existing patches, sites).")
    p0, d0 = probability
    decay = -np.log(p0) / d0
    reach = _pc_reach(decay * _every_distance(distances), np.ones(len(areas), dtype=bool))
    base = _numerator(areas, reach)
    gains = np.zeros(len(new_areas))
    for s, area in enumerate(new_areas):
        if area > 0:
            gains[s] = 100 * (_numerator_with(areas, reach, np.exp(-decay * new_distances[:, s]), area) - base) / base
    return gains


def _numerator_with(areas: np.ndarray, reach: np.ndarray, direct: np.ndarray, area: float) -> float:
    r"""The PC numerator once a new patch s of `area` joins patches whose p* are `reach`, with
    direct probabilities `direct` (n,) from each patch to s.

    Notes
    -----
    The best path from i to s ends with a direct step from some patch k, and a best path between i
    and j that uses s passes it once, so (exactly, in :math:`O(n^2)` instead of a new all-pairs search)

    .. math::

        p^*_{is} = \max_k p^*_{ik} \, p_{ks}, \qquad p'^*_{ij} = \max(p^*_{ij}, p^*_{is} \, p^*_{sj}),

        \sum_{ij} a_i a_j p'^*_{ij} + 2 a_s \sum_i a_i p^*_{is} + a_s^2.
    """
    to_new = (reach * direct[None, :]).max(axis=1)
    return float(areas @ np.maximum(reach, np.outer(to_new, to_new)) @ areas + 2 * area * (areas @ to_new) + area**2)
