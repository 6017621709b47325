"""Circuit theory on a resistance surface: current density, pinch points, barriers.

As in Circuitscape's raster modes (McRae et al. 2008; Anantha & Shah 2020), every valid cell
is a node and neighbouring cells (4 or 8) are joined by a resistor: the mean of their two
resistances (or, on request, the reciprocal of the mean of their conductances), times sqrt(2)
for a diagonal. Cells of a short-circuit region are one node in every solve.

*Pairwise* (Circuitscape's raster pairwise mode): for each pair of focal regions, the two
regions of the pair, and only they, are each short-circuited into one node, 1 ampere enters at
one and leaves at the other, and node voltages solve the graph Laplacian (Kirchhoff's laws).
The other focal regions are ordinary cells that the current may cross. A pair whose regions lie
in different connected components is *disconnected*: infinite effective resistance (Circuitscape
writes -1), no current. *One-to-all* and *all-to-one* (Circuitscape's modes of those names)
short-circuit every focal region: 1 A enters one region with all the others grounded, or 1 A
enters every other region and leaves at the one grounded.

The current through a cell is the larger of the currents flowing into and out of its node
(Circuitscape's node current); the *current density* map sums it over the pairs (or regions):
high current where many routes funnel through few cells (pinch points).

Solving: the cell graph is split into connected components (cells that reach no focal region
are dropped); each pair is solved on the components it touches. A pair whose two regions are
single nodes leaves the graph unchanged, so such pairs share one grounded system per component,
solved for several right-hand sides at once (superposition). A pair with a region of several
cells changes the graph (that region becomes one node), so it gets its own system: the two
regions are held at 1 V and 0 V and the other nodes are solved; the ampere is the flux out of
the first region, and the solution is scaled to 1 A. Small components are factorised directly
(SuperLU); large ones get one algebraic-multigrid hierarchy (PyAMG, classical Ruge-Stuben),
which every pair's system reuses: each level keeps its coarse points and interpolation, drops the
rows of the held nodes, and recomputes its Galerkin coarse operator, so a pair pays for a
restriction and a few conjugate-gradient iterations, not a new hierarchy.

Barriers (McRae et al. 2012, Barrier Mapper): restoring a disc of radius r around a cell x
(resistance 1) would shorten the least-cost path between sources i and j to
min_{|y-x|<=r} CWD_i(y) + min_{|y-x|<=r} CWD_j(y) + 2r. The improvement per metre restored,
(LCD_ij - that) / 2r, maximised over linked pairs, is the barrier score: where restoration
pays most.

References
----------
.. [1] McRae B. H., Dickson B. G., Keitt T. H., Shah V. B. (2008). Using circuit theory to
   model connectivity in ecology, evolution, and conservation. Ecology 89(10): 2712-2724.
.. [2] McRae B. H., et al. (2012). Where to restore ecological connectivity? Detecting
   barriers and quantifying restoration benefits. PLoS ONE 7(12): e52604.
.. [3] Anantha R., Shah V. B. (2020). Circuitscape in Julia. JOSS 5(49): 2193.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse import csgraph

from carbonmap.errors import CarbonmapError, InputError

__all__ = ["PairwiseResult", "OneToAllResult", "pairwise_currents", "one_to_all_currents", "barrier_scores",
           "DIRECT_SOLVER_MAX_NODES", "NEIGHBOURS", "AVERAGES", "SOLVERS", "DIRECTIONS"]

#: Neighbour rules of the cell graph (Circuitscape's ``connect_four_neighbors_only``).
NEIGHBOURS = (8, 4)
#: How two cells' values make the resistor between them: mean of their resistances
#: (Circuitscape's ``connect_using_avg_resistances = True``, its default) or mean of their
#: conductances (``False``).
AVERAGES = ("resistance", "conductance")
#: Linear solvers: 'auto' chooses per connected component by its number of nodes.
SOLVERS = ("auto", "direct", "amg")
#: Modes of :func:`one_to_all_currents`.
DIRECTIONS = ("one-to-all", "all-to-one")

#: Up to this many nodes a connected component's systems are factorised directly (SuperLU),
#: one factorisation per system: exact and fast on small graphs. Beyond, fill-in makes
#: factorisations slow and memory-hungry, and the component gets one algebraic-multigrid
#: hierarchy (PyAMG, Ruge-Stuben) that all its systems reuse, with conjugate gradients.
DIRECT_SOLVER_MAX_NODES = 30_000


@dataclass
class PairwiseResult:
    """Cumulative current and effective resistances of :func:`pairwise_currents`.

    current : ndarray (H, W) [A]
        Current through each cell summed over the pairs solved; 0 on cells that carry none,
        NaN off the network (no valid resistance).
    resistance : ndarray (n, n) [resistance units]
        Effective resistance between focal regions i and j: 0 on the diagonal and between
        regions that share a node, ``inf`` for a disconnected pair (Circuitscape's -1), NaN
        for a pair not asked for.
    """

    current: np.ndarray
    resistance: np.ndarray

    @property
    def disconnected(self) -> list[tuple[int, int]]:
        """The pairs (i < j) asked for whose regions lie in different components."""
        i, j = np.nonzero(np.triu(np.isinf(self.resistance), 1))
        return [(int(a), int(b)) for a, b in zip(i, j)]


@dataclass
class OneToAllResult:
    """Cumulative current and per-region resistances of :func:`one_to_all_currents`.

    current : ndarray (H, W) [A]
        Current through each cell summed over the focal regions; NaN off the network.
    resistance : ndarray (n,) [resistance units]
        One-to-all: effective resistance between region i and all the other regions grounded
        together. All-to-one: NaN (Circuitscape writes 0). Either mode: ``inf`` for a region
        with no other region in its component (Circuitscape's -1), whose solve is skipped.
    """

    current: np.ndarray
    resistance: np.ndarray


# ------------------------------------------------------------------------------ the graph


def _edges(valid: np.ndarray, neighbours: int):
    """(a, b, length) of neighbouring valid cells (flat indices); lengths in cell sizes."""
    height, width = valid.shape
    index = np.arange(valid.size).reshape(valid.shape)
    steps = [(0, 1, 1.0), (1, 0, 1.0)]
    if neighbours == 8:
        steps += [(1, 1, np.sqrt(2)), (1, -1, np.sqrt(2))]
    out = []
    for dr, dc, length in steps:
        r0, r1 = 0, height - dr
        c0, c1 = max(0, -dc), width - max(0, dc)
        a = index[r0:r1, c0:c1]
        b = index[r0 + dr:r1 + dr, c0 + dc:c1 + dc]
        ok = valid[r0:r1, c0:c1] & valid[r0 + dr:r1 + dr, c0 + dc:c1 + dc]
        out.append((a[ok], b[ok], np.full(int(ok.sum()), length)))
    return [np.concatenate(parts) for parts in zip(*out)]


def _row_of(matrix: sparse.csr_matrix) -> np.ndarray:
    """The row of every stored entry of a CSR matrix."""
    return np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))


def _submatrix(matrix: sparse.csr_matrix, rows: np.ndarray, cols: np.ndarray,
               row_of: np.ndarray | None = None) -> sparse.csr_matrix:
    """``matrix[rows][:, cols]`` for boolean masks, without scipy's fancy-indexing copies
    (`row_of`: :func:`_row_of` of `matrix`, when it is reused)."""
    row_of = _row_of(matrix) if row_of is None else row_of
    keep = rows[row_of] & cols[matrix.indices]
    row_pos = np.cumsum(rows) - 1
    col_pos = np.cumsum(cols) - 1
    n_rows, n_cols = int(rows.sum()), int(cols.sum())
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(row_pos[row_of[keep]], minlength=n_rows), out=indptr[1:])
    return sparse.csr_matrix((matrix.data[keep], col_pos[matrix.indices[keep]], indptr), shape=(n_rows, n_cols))


class _Graph:
    """Nodes (valid cells, short-circuit regions joined), resistors, Laplacian, components."""

    def __init__(self, node_of_cell: np.ndarray, n_nodes: int, p: np.ndarray, q: np.ndarray, g: np.ndarray,
                 region_of_cell: np.ndarray | None = None, region_node: np.ndarray | None = None):
        self.node_of_cell = node_of_cell  # flat, -1 off the network
        self.n_nodes = n_nodes
        self.region_of_cell = region_of_cell  # flat short-circuit label of every cell (0: none)
        self.region_node = region_node  # node of each short-circuit label (-1: no valid cell)
        keep = p != q  # resistors inside one node are short-circuited
        self.p, self.q, self.g = p[keep], q[keep], g[keep]
        n = n_nodes
        self.laplacian = sparse.csr_matrix(
            (np.r_[-self.g, -self.g], (np.r_[self.p, self.q], np.r_[self.q, self.p])), shape=(n, n))
        degree = -np.asarray(self.laplacian.sum(axis=1)).ravel()
        self.laplacian = (self.laplacian + sparse.diags(degree)).tocsr()
        self.laplacian.sum_duplicates()
        self.laplacian.sort_indices()
        self.n_components, self.component = csgraph.connected_components(self.laplacian, directed=False)
        self._components: dict[int, _Component] = {}

    @classmethod
    def from_cells(cls, resistance, neighbours, average, short_circuits):
        resistance = np.asarray(resistance, dtype=np.float64)
        finite = np.isfinite(resistance)
        if (resistance[finite] <= 0).any():
            raise InputError("a resistance map has zero or negative cells.",
                             fix="mark nodata as NaN or inf, and give cells to join without resistance as "
                                 "short_circuits.")
        valid = finite
        a, b, length = _edges(valid, neighbours)
        flat = resistance.ravel()
        if average == "resistance":
            g = 1.0 / (0.5 * (flat[a] + flat[b]) * length)
        else:
            g = 0.5 * (1.0 / flat[a] + 1.0 / flat[b]) / length
        cells = np.flatnonzero(valid.ravel())
        keys = cells.copy()
        region_of_cell = region_node = None
        if short_circuits is not None:
            region_of_cell = np.asarray(short_circuits)
            if region_of_cell.shape != resistance.shape or not np.issubdtype(region_of_cell.dtype, np.integer):
                raise InputError("short_circuits must be an integer raster on the resistance grid.",
                                 fix="label the regions 1, 2, ... (0 elsewhere) on the resistance grid.")
            region_of_cell = np.maximum(region_of_cell.ravel(), 0)
            regions = region_of_cell[cells]
            joined = regions > 0
            keys[joined] = resistance.size + regions[joined]
        _, node = np.unique(keys, return_inverse=True)
        node_of_cell = -np.ones(resistance.size, dtype=np.int64)
        node_of_cell[cells] = node
        if region_of_cell is not None:
            region_node = -np.ones(int(region_of_cell.max(initial=0)) + 1, dtype=np.int64)
            region_node[region_of_cell[cells][joined]] = node[joined]
            region_node[0] = -1
        return cls(node_of_cell, int(node.max()) + 1 if node.size else 0, node_of_cell[a], node_of_cell[b], g,
                   region_of_cell, region_node)

    def merged(self, groups: list[np.ndarray]) -> _Graph:
        """The graph with each group of nodes short-circuited into one node."""
        chains = [nodes for nodes in groups if len(nodes) > 1]
        rows = np.concatenate([nodes[:-1] for nodes in chains]) if chains else np.zeros(0, np.int64)
        cols = np.concatenate([nodes[1:] for nodes in chains]) if chains else np.zeros(0, np.int64)
        links = sparse.coo_matrix((np.ones(rows.size), (rows, cols)), shape=(self.n_nodes, self.n_nodes))
        n_new, new = csgraph.connected_components(links, directed=False)
        node_of_cell = np.where(self.node_of_cell >= 0, new[np.maximum(self.node_of_cell, 0)], -1)
        region_node = None
        if self.region_node is not None:
            region_node = np.where(self.region_node >= 0, new[np.maximum(self.region_node, 0)], -1)
        return _Graph(node_of_cell, n_new, new[self.p], new[self.q], self.g, self.region_of_cell, region_node)

    def nodes_of(self, focal: np.ndarray, n: int) -> list[np.ndarray]:
        """The nodes of each focal region 0..n-1: those of its valid cells and of every
        short-circuit region that one of its cells (valid or not) lies in; empty if none."""
        labels = np.asarray(focal).ravel()
        node = self.node_of_cell
        if self.region_node is not None:  # a cell in a short-circuit region reaches its node
            node = np.where(node >= 0, node, self.region_node[self.region_of_cell])
        on = (labels >= 0) & (labels < n) & (node >= 0)
        pairs = np.unique(np.c_[labels[on], node[on]], axis=0)
        bounds = np.searchsorted(pairs[:, 0], np.arange(n + 1))
        return [pairs[bounds[k]:bounds[k + 1], 1] for k in range(n)]

    def component_of(self, c: int, solver: str, tolerance: float) -> _Component:
        if c not in self._components:
            self._components[c] = _Component(self, c, solver, tolerance)
        return self._components[c]

    def cell_values(self, node_values: np.ndarray, shape) -> np.ndarray:
        out = np.full(self.node_of_cell.size, np.nan)
        on = self.node_of_cell >= 0
        out[on] = node_values[self.node_of_cell[on]]
        return out.reshape(shape)


class _Component:
    """One connected component: its local Laplacian, resistors and a solver factory."""

    def __init__(self, graph: _Graph, c: int, solver: str, tolerance: float):
        inside = graph.component == c
        self.nodes = np.flatnonzero(inside)
        self.local = -np.ones(graph.n_nodes, dtype=np.int64)
        self.local[self.nodes] = np.arange(self.nodes.size)
        self.laplacian = _submatrix(graph.laplacian, inside, inside)
        mine = inside[graph.p]
        self.p, self.q, self.g = self.local[graph.p[mine]], self.local[graph.q[mine]], graph.g[mine]
        if solver == "auto":
            solver = "direct" if self.nodes.size <= DIRECT_SOLVER_MAX_NODES else "amg"
        self.method = solver
        self.tolerance = tolerance
        self._hierarchy = None
        self._rows = _row_of(self.laplacian)

    def restricted(self, free: np.ndarray):
        """A function solving ``L[free][:, free] x = b`` (b of shape (m,) or (m, k))."""
        matrix = _submatrix(self.laplacian, free, free, self._rows)
        if self.method == "direct":
            from scipy.sparse.linalg import splu

            return splu(matrix.tocsc(), permc_spec="MMD_AT_PLUS_A").solve
        return _AmgSolve(self._amg_levels(free, matrix), matrix, self.tolerance)

    def _amg_levels(self, free, matrix):
        import pyamg

        if self._hierarchy is None:
            hierarchy = pyamg.ruge_stuben_solver(self.laplacian, CF=("RS", {"second_pass": True}), keep=False,
                                                 max_coarse=50)
            self._hierarchy = [(level.splitting.astype(bool), level.P.tocsr(), _row_of(level.P.tocsr()))
                               for level in hierarchy.levels[:-1]]
        levels = []
        for splitting, prolongation, rows in self._hierarchy:
            coarse = free[splitting]
            if not coarse.any():
                break
            interpolation = _submatrix(prolongation, free, coarse, rows)
            levels.append((matrix, interpolation, interpolation.T.tocsr()))
            matrix = (levels[-1][2] @ matrix @ interpolation).tocsr()
            free = coarse
        levels.append((matrix, None, None))
        return levels

    def currents(self, v: np.ndarray) -> np.ndarray:
        """Node current: the larger of the currents into and out of each node,
        (sum |flow| + |net outflow|) / 2, the net outflow being L v."""
        flow = np.abs(self.g * (v[self.p] - v[self.q]))
        n = self.nodes.size
        total = np.bincount(self.p, flow, n) + np.bincount(self.q, flow, n)
        return 0.5 * (total + np.abs(self.laplacian @ v))


class _AmgSolve:
    """Conjugate gradients preconditioned by one V-cycle of a (restricted) AMG hierarchy."""

    def __init__(self, levels, matrix, tolerance):
        from pyamg.relaxation.relaxation import gauss_seidel

        self.levels, self.matrix, self.tolerance = levels, matrix, tolerance
        self._gs = gauss_seidel
        coarsest = levels[-1][0]
        if coarsest.shape[0] <= 2000:
            self._coarse = np.linalg.pinv(coarsest.toarray()).__matmul__
        else:
            from scipy.sparse.linalg import splu

            self._coarse = splu(coarsest.tocsc()).solve

    def _cycle(self, k: int, b: np.ndarray) -> np.ndarray:
        matrix, interpolation, restriction = self.levels[k]
        if interpolation is None:
            return self._coarse(b)
        x = np.zeros_like(b)
        self._gs(matrix, x, b, iterations=1, sweep="forward")
        x += interpolation @ self._cycle(k + 1, restriction @ (b - matrix @ x))
        self._gs(matrix, x, b, iterations=1, sweep="backward")
        return x

    def __call__(self, rhs: np.ndarray, amperes=None) -> np.ndarray:
        """x solving the system to ``|r| <= tolerance |rhs|``; with `amperes` (a function of x
        giving the current that x drives), to ``|r| <= tolerance sqrt(2) amperes(x)``: the
        relative residual of the same system scaled to 1 A in and out, Circuitscape's test."""
        if rhs.ndim == 2:
            return np.column_stack([self(rhs[:, k]) for k in range(rhs.shape[1])])
        x = np.zeros_like(rhs)
        norm = np.linalg.norm(rhs)
        if norm == 0:
            return x
        r = rhs.copy()
        z = self._cycle(0, r)
        p = z.copy()
        rz = r @ z
        for _ in range(1000):
            q = self.matrix @ p
            alpha = rz / (p @ q)
            x += alpha * p
            r -= alpha * q
            reference = norm if amperes is None else np.sqrt(2) * abs(amperes(x))
            if np.linalg.norm(r) <= self.tolerance * reference:
                return x
            z = self._cycle(0, r)
            rz, previous = r @ z, rz
            p *= rz / previous
            p += z
        raise CarbonmapError("the multigrid solver did not converge in 1,000 iterations.",
                             fix="check the resistance map for extreme values, or use solver='direct'.")


def _check(neighbours, average, solver):
    if neighbours not in NEIGHBOURS:
        raise InputError(f"unknown neighbour rule {neighbours!r}.", fix="use 8 or 4.")
    if average not in AVERAGES:
        raise InputError(f"unknown average {average!r}.", fix="use 'resistance' or 'conductance'.")
    if solver not in SOLVERS:
        raise InputError(f"unknown solver {solver!r}.", fix="use 'auto', 'direct' or 'amg'.")


def _focal_count(focal: np.ndarray, resistance: np.ndarray, n_regions: int | None) -> int:
    focal = np.asarray(focal)
    if focal.shape != np.shape(resistance):
        raise InputError(f"the focal raster ({focal.shape}) is not on the resistance grid ({np.shape(resistance)}).",
                         fix="rasterise the focal regions on the resistance grid.")
    if not np.issubdtype(focal.dtype, np.integer):
        raise InputError("the focal raster must hold integers (region 0, 1, ... or -1).", fix="label the regions.")
    n = (int(focal.max()) + 1 if focal.size else 0) if n_regions is None else int(n_regions)
    if n < 2:
        raise InputError("circuit analysis needs at least two focal regions.", fix="loosen the source rules.")
    return n


# ------------------------------------------------------------------------------- pairwise


def pairwise_currents(resistance: np.ndarray, focal: np.ndarray, *, n_regions: int | None = None, pairs=None,
                      neighbours: int = 8,
                      average: str = "resistance", short_circuits: np.ndarray | None = None,
                      solver: str = "auto", tolerance: float = 1e-6) -> PairwiseResult:
    r"""Cumulative current and effective resistances over pairs of focal regions (Circuitscape's
    raster pairwise mode).

    Parameters
    ----------
    resistance : array (H, W) [resistance units]
        Resistance per cell (NaN or inf: no node). Zero or negative values are refused.
    focal : array (H, W) of int
        Focal region 0..n-1 of each cell, -1 elsewhere; a region may have many cells.
    n_regions : int, optional
        n, the number of focal regions (default the largest label + 1); a region without
        cells is disconnected from all.
    pairs : iterable of (i, j), optional
        The pairs to solve; default all pairs i < j.
    neighbours : {8, 4}
        Neighbour rule of the cell graph.
    average : {'resistance', 'conductance'}
        Resistor between two cells: the mean of their resistances, or the reciprocal of the mean
        of their conductances (Circuitscape's ``connect_using_avg_resistances`` True / False).
    short_circuits : array (H, W) of int, optional
        Regions (labels > 0) whose valid cells are one node in every solve (Circuitscape's
        short-circuit regions, "polygons").
    solver : {'auto', 'direct', 'amg'}
        'auto': direct (SuperLU) for components up to :data:`DIRECT_SOLVER_MAX_NODES` nodes,
        else algebraic multigrid (PyAMG) with conjugate gradients.
    tolerance : float [-]
        Relative residual at which conjugate gradients stop (AMG only), on the system with
        1 A in and out, as Circuitscape's conjugate gradients (1e-6).

    Returns
    -------
    PairwiseResult
        ``current`` (H, W) [A] summed over the pairs, NaN off the network; ``resistance``
        (n, n): effective resistance of each pair, ``inf`` if disconnected, NaN if not asked.

    Raises
    ------
    InputError
        For fewer than two focal regions, a focal raster off the grid, non-positive
        resistances, or an unknown neighbour rule, average or solver.

    Notes
    -----
    Neighbouring cells a, b are joined by a conductance
    :math:`g_{ab} = 1 / (\tfrac{1}{2}(R_a + R_b) \, \ell_{ab})`, or with ``average='conductance'``
    :math:`g_{ab} = \tfrac{1}{2}(1/R_a + 1/R_b) / \ell_{ab}` (:math:`\ell` = 1, or
    :math:`\sqrt 2` for a diagonal). For the pair (i, j) only regions i and j are
    short-circuited; with i held at 1 V and j at 0 V the other nodes solve
    :math:`L_{ff} u_f = -L_{fi} \mathbf 1`, the ampere is the flux :math:`I = \sum_{k \in i} (L u)_k`,
    the effective resistance :math:`R_{ij} = 1 / I`, and the voltages of 1 A are :math:`u / I`.
    The current through node k is

    .. math:: I_k = \max\Big(\sum_l g_{kl} \, (v_k - v_l)^+, \; \sum_l g_{kl} \, (v_l - v_k)^+\Big)

    (1 A on the cells of regions i and j), summed over the pairs. Pairs in different connected
    components, or with a region without valid cells, are disconnected; regions sharing a node
    (through a short-circuit region) have resistance 0; neither carries current.

    References
    ----------
    .. [1] McRae B. H., Dickson B. G., Keitt T. H., Shah V. B. (2008). Using circuit theory to
       model connectivity in ecology, evolution, and conservation. Ecology 89(10): 2712-2724.
    .. [2] Anantha R., Shah V. B. (2020). Circuitscape in Julia. JOSS 5(49): 2193.

    Examples
    --------
    Three regions on a strip of unit cells; the middle one (three cells) is crossed as ordinary
    cells by the pair of the outer two, and a nodata cell cuts the last region off:

    >>> import numpy as np
    >>> strip = np.array([[1.0, 1, 1, 1, 1, 1, 1, np.nan, 1]])
    >>> focal = np.array([[0, -1, 1, 1, 1, -1, 2, -1, 3]])
    >>> result = pairwise_currents(strip, focal, neighbours=4)
    >>> result.resistance[0, 2], result.resistance[0, 1], result.resistance[2, 3]
    (np.float64(6.0), np.float64(2.0), np.float64(inf))
    >>> result.disconnected
    [(0, 3), (1, 3), (2, 3)]
    """
    _check(neighbours, average, solver)
    n = _focal_count(focal, resistance, n_regions)
    graph = _Graph.from_cells(resistance, neighbours, average, short_circuits)
    nodes = graph.nodes_of(focal, n)
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)] if pairs is None else [tuple(p) for p in pairs]
    if any(not (0 <= k < n) for pair in pairs for k in pair):
        raise InputError(f"a pair names a focal region outside 0..{n - 1}.", fix="pass pairs of region numbers.")
    effective = np.full((n, n), np.nan)
    np.fill_diagonal(effective, 0.0)
    node_current = np.zeros(graph.n_nodes)
    single: dict[int, list[tuple[int, int]]] = {}  # component -> pairs of single-node regions
    components = [np.unique(graph.component[a]) for a in nodes]
    for i, j in pairs:
        if i == j:
            continue
        a, b = nodes[i], nodes[j]
        shared = np.intersect1d(components[i], components[j], assume_unique=True)
        if shared.size and np.intersect1d(a, b, assume_unique=True).size:
            effective[i, j] = effective[j, i] = 0.0  # joined by a short-circuit region
        elif shared.size == 0:
            effective[i, j] = effective[j, i] = np.inf
        elif a.size == 1 and b.size == 1:
            single.setdefault(int(shared[0]), []).append((i, j))
        else:
            effective[i, j] = effective[j, i] = _region_pair(graph, a, b, shared, node_current, solver, tolerance)
    for c, todo in single.items():
        _single_node_pairs(graph, graph.component_of(c, solver, tolerance), nodes, todo, effective, node_current)
    return PairwiseResult(graph.cell_values(node_current, np.shape(resistance)), effective)


def _region_pair(graph, a, b, shared, node_current, solver, tolerance) -> float:
    """Regions a and b (node sets) short-circuited, 1 A between them; returns R_ab."""
    solutions, flux = [], 0.0
    for c in shared:
        comp = graph.component_of(int(c), solver, tolerance)
        held_a = np.zeros(comp.nodes.size, bool)
        held_b = np.zeros(comp.nodes.size, bool)
        held_a[comp.local[a[graph.component[a] == c]]] = True
        held_b[comp.local[b[graph.component[b] == c]]] = True
        free = ~(held_a | held_b)
        u = held_a.astype(np.float64)
        if free.any():
            rhs = -(comp.laplacian @ u)[free]  # what region a feeds each free node at 1 V
            solve = comp.restricted(free)
            if isinstance(solve, _AmgSolve):  # stop on the residual of the 1 A system
                direct = -float((comp.laplacian @ held_b.astype(np.float64))[held_a].sum())
                total = float(rhs.sum())
                u[free] = solve(rhs, lambda x: direct + total - float(rhs @ x))
            else:
                u[free] = solve(rhs)
        flux += float((comp.laplacian @ u)[held_a].sum())
        solutions.append((comp, u, ~free))
    for comp, u, held in solutions:
        current = comp.currents(u / flux)
        current[held] = 0.0  # inside a region: one node, which carries the ampere
        node_current[comp.nodes] += current
    node_current[a] += 1.0
    node_current[b] += 1.0
    return 1.0 / flux


def _single_node_pairs(graph, comp, nodes, todo, effective, node_current):
    """Pairs of single-node regions in one component: one grounded system, superposition."""
    used = sorted({int(comp.local[nodes[k][0]]) for pair in todo for k in pair})
    ground = used[-1]
    free = np.ones(comp.nodes.size, bool)
    free[ground] = False
    columns = {node: k for k, node in enumerate(used[:-1])}
    rhs = np.zeros((int(free.sum()), len(columns)))
    position = np.cumsum(free) - 1
    for node, k in columns.items():
        rhs[position[node], k] = 1.0
    solved = comp.restricted(free)(rhs) if columns else rhs
    solved = solved.reshape(rhs.shape)
    potentials = np.zeros((comp.nodes.size, len(used)))
    potentials[free, :len(columns)] = solved  # last column: the ground, 0 everywhere
    column = {node: k for k, node in enumerate(used)}
    for i, j in todo:
        ni, nj = int(comp.local[nodes[i][0]]), int(comp.local[nodes[j][0]])
        v = potentials[:, column[ni]] - potentials[:, column[nj]]  # 1 A in at i, out at j
        effective[i, j] = effective[j, i] = float(v[ni] - v[nj])
        node_current[comp.nodes] += comp.currents(v)


# ---------------------------------------------------------------------- one-to-all, all-to-one


def one_to_all_currents(resistance: np.ndarray, focal: np.ndarray, *, n_regions: int | None = None,
                        direction: str = "one-to-all",
                        neighbours: int = 8, average: str = "resistance", short_circuits: np.ndarray | None = None,
                        solver: str = "auto", tolerance: float = 1e-6) -> OneToAllResult:
    r"""Cumulative current with every focal region short-circuited (Circuitscape's raster
    one-to-all and all-to-one modes).

    Parameters
    ----------
    resistance, focal, n_regions, neighbours, average, short_circuits, solver, tolerance
        As for :func:`pairwise_currents`.
    direction : {'one-to-all', 'all-to-one'}
        'one-to-all': 1 A enters each region in turn, every other region in its component is
        grounded. 'all-to-one': each region in turn is grounded and 1 A enters every other
        region of its component.

    Returns
    -------
    OneToAllResult
        ``current`` (H, W) [A] summed over the regions, NaN off the network; ``resistance``
        (n,): one-to-all, the effective resistance between region i and all the others grounded;
        all-to-one, NaN; ``inf`` for a region alone in its component (not solved).

    Raises
    ------
    InputError
        As :func:`pairwise_currents`, and for an unknown direction.

    Notes
    -----
    Each focal region (with any short-circuit region it touches) is one node, in every solve.
    One-to-all holds the other regions at 0 V and solves :math:`L_{ff} v_f = e_i`, giving
    :math:`R_i = v_i`; all-to-one holds region i at 0 V and solves
    :math:`L_{ff} v_f = \sum_{k \ne i} e_k`. Node currents as in :func:`pairwise_currents`
    (the grounded regions carry the current that leaves through them).

    References
    ----------
    .. [1] McRae B. H., Dickson B. G., Keitt T. H., Shah V. B. (2008). Using circuit theory to
       model connectivity in ecology, evolution, and conservation. Ecology 89(10): 2712-2724.
    .. [2] Anantha R., Shah V. B. (2020). Circuitscape in Julia. JOSS 5(49): 2193.
    """
    _check(neighbours, average, solver)
    if direction not in DIRECTIONS:
        raise InputError(f"unknown circuit mode {direction!r}.", fix="use 'one-to-all' or 'all-to-one'.")
    n = _focal_count(focal, resistance, n_regions)
    base = _Graph.from_cells(resistance, neighbours, average, short_circuits)
    graph = base.merged(base.nodes_of(focal, n))
    nodes = graph.nodes_of(focal, n)
    out = np.full(n, np.inf if direction == "one-to-all" else np.nan)
    node_current = np.zeros(graph.n_nodes)
    for i in range(n):
        if nodes[i].size == 0:
            out[i] = np.inf
            continue
        node = int(nodes[i][0])
        c = int(graph.component[node])
        others = [int(nodes[k][0]) for k in range(n) if k != i and nodes[k].size
                  and graph.component[nodes[k][0]] == c and nodes[k][0] != node]
        if not others:
            out[i] = np.inf
            continue
        comp = graph.component_of(c, solver, tolerance)
        here, there = int(comp.local[node]), comp.local[others]
        free = np.ones(comp.nodes.size, bool)
        v = np.zeros(comp.nodes.size)
        rhs = np.zeros(comp.nodes.size)
        if direction == "one-to-all":
            free[there] = False
            rhs[here] = 1.0
        else:
            free[here] = False
            np.add.at(rhs, there, 1.0)  # 1 A per region: regions sharing a node inject together
        v[free] = comp.restricted(free)(rhs[free])
        if direction == "one-to-all":
            out[i] = float(v[here])
        node_current[comp.nodes] += comp.currents(v)
    return OneToAllResult(graph.cell_values(node_current, np.shape(resistance)), out)


# ------------------------------------------------------------------------------- barriers


def barrier_scores(cwd, pairs, resolution: float, *, radius_m: float) -> np.ndarray:
    r"""Restoration improvement score of every cell, maximised over linked pairs of sources.

    Parameters
    ----------
    cwd : array (n_sources, H, W) or BoundedCosts [resistance x m]
        Cost-weighted distance from each source: the full surfaces (``CostSurfaces.cwd`` of
        :func:`carbonmap.landscape.corridors.least_cost_corridors`), or each source's surface up
        to its bound (``CostSurfaces.near``), which gives the same scores.
    pairs : iterable of (i, j)
        The linked pairs of sources.
    resolution : float [m]
        Cell size.
    radius_m : float [m]
        Radius of the restored disc (at least one cell).

    Returns
    -------
    ndarray (H, W) [resistance units saved per metre restored]
        0 where restoring does not shorten any path.

    Raises
    ------
    InputError
        For a radius smaller than a cell.

    Notes
    -----
    Restoring a disc of radius r around cell x (to resistance 1) would shorten the least-cost
    path between sources i and j to
    :math:`\min_{|y-x| \le r} CWD_i(y) + \min_{|y-x| \le r} CWD_j(y) + 2r`; the score is the
    improvement per metre restored, maximised over the pairs:

    .. math::

        B(x) = \max_{(i,j)} \frac{LCD_{ij} - \left[\min_{|y-x| \le r} CWD_i(y)
               + \min_{|y-x| \le r} CWD_j(y) + 2r\right]}{2r}

    A score is positive only where both minima are below :math:`LCD_{ij}`, so each pair is scored
    on the cells within r of both surfaces' cells cheaper than that (their windows, for bounded
    surfaces whose bounds are at least the pair's :math:`LCD_{ij}`); elsewhere it is 0.

    References
    ----------
    .. [1] McRae B. H., et al. (2012). Where to restore ecological connectivity? Detecting
       barriers and quantifying restoration benefits. PLoS ONE 7(12): e52604.
    """
    reach = radius_m / resolution
    if reach < 1:
        raise InputError(f"the barrier radius ({radius_m} m) is smaller than a cell.", fix="use a few cells.")
    half = int(np.floor(reach))
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1]
    disc = yy * yy + xx * xx <= reach * reach
    window = cwd.window if hasattr(cwd, "window") else (lambda k: (0, 0, cwd[k]))
    height, width = cwd.shape[1:]
    best = np.zeros((height, width))
    for i, j in pairs:
        (ri, ci, wi), (rj, cj, wj) = window(i), window(j)
        if wi.size == 0 or wj.size == 0:
            continue
        # the cells scored: within `half` of both windows; read with a margin of `half`
        top, left = max(ri, rj) - half, max(ci, cj) - half
        bottom = min(ri + wi.shape[0], rj + wj.shape[0]) + half
        right = min(ci + wi.shape[1], cj + wj.shape[1]) + half
        top, left, bottom, right = max(top, 0), max(left, 0), min(bottom, height), min(right, width)
        if top >= bottom or left >= right:
            continue
        box = (max(top - half, 0), max(left - half, 0), min(bottom + half, height), min(right + half, width))
        block_i, block_j = _block(ri, ci, wi, box), _block(rj, cj, wj, box)
        inner = (slice(top - box[0], bottom - box[0]), slice(left - box[1], right - box[1]))
        near_i = ndimage.minimum_filter(block_i.astype(np.float64), footprint=disc, mode="constant",
                                        cval=np.inf)[inner]
        near_j = ndimage.minimum_filter(block_j.astype(np.float64), footprint=disc, mode="constant",
                                        cval=np.inf)[inner]
        lcd = float(np.min(block_i.astype(np.float64) + block_j))
        restored = near_i + near_j + 2 * radius_m
        with np.errstate(invalid="ignore"):
            score = (lcd - restored) / (2 * radius_m)
        part = best[top:bottom, left:right]
        best[top:bottom, left:right] = np.fmax(part, np.where(np.isfinite(score), score, 0.0))
    return np.maximum(best, 0.0)


def _block(row: int, col: int, values: np.ndarray, box) -> np.ndarray:
    """Rows box[0]:box[2], cols box[1]:box[3] of a surface given as a window at (row, col)
    (``inf`` outside it)."""
    top, left, bottom, right = box
    if (row, col) == (top, left) and values.shape == (bottom - top, right - left):
        return values
    out = np.full((bottom - top, right - left), np.inf, dtype=values.dtype)
    r0, c0 = max(top, row), max(left, col)
    r1, c1 = min(bottom, row + values.shape[0]), min(right, col + values.shape[1])
    if r0 < r1 and c0 < c1:
        out[r0 - top:r1 - top, c0 - left:c1 - left] = values[r0 - row:r1 - row, c0 - col:c1 - col]
    return out
