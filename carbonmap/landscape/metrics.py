"""FRAGSTATS landscape metrics at patch, class and landscape level.

Definitions follow the FRAGSTATS v4 documentation (McGarigal, Cushman & Ene 2023) and use
its abbreviations, units and conventions, checked against FRAGSTATS' own results on the
reference landscape (``tests/test_landscape.py``). With a = cell count, p = perimeter in
cell sides, r = cell size [m]:

Patch level
    AREA [ha] = a r^2 / 10^4; PERIM [m] = p r, counting sides on the landscape boundary and
    on nodata; GYRATE [m] = mean distance from each cell centre to the patch centroid
    (FRAGSTATS reports r/2 for a one-cell patch, and so does carbonmap); PARA [m/ha] =
    PERIM / AREA (FRAGSTATS divides by hectares, not m2 as its manual says); SHAPE =
    p / min p(a), min p the perimeter of the most compact a cells (4m, 4m+2 or 4m+4 with
    m = floor(sqrt a)); FRAC = 2 ln(0.25 PERIM) / ln(AREA_m2) (1 for a one-cell patch on a
    1 m grid, where it is 0/0); CIRCLE = 1 - AREA / area of the circle whose diameter is
    the longest distance between two cell corners of the patch (0 for a one-cell patch,
    as FRAGSTATS reports); CONTIG = (mean over cells of the 3x3 template sum - 1) / 12
    (template: centre 1, sides 2, corners 1, counted where the neighbour is in the
    patch); CORE [ha] = area of cells farther than the edge depth (centre to centre)
    from every cell of another class or outside the landscape; NCORE = disjunct core
    areas (connected by the patch rule); CAI [%] = CORE / AREA x 100; ENN [m], see
    :mod:`carbonmap.landscape.enn`.

Class level (for class i over its n_i patches; TA = landscape area [ha])
    CA = sum AREA; PLAND = CA / TA x 100; NP; PD = NP / TA x 100 [per 100 ha];
    LPI = max AREA / TA x 100; TE [m] = sides shared with other classes (not the landscape
    boundary nor nodata) x r; ED = TE / TA [m/ha]; LSI = e_i / min e(a_i), e_i the
    class's sides including the boundary; {AREA, GYRATE, SHAPE, FRAC, PARA, CIRCLE,
    CONTIG, CORE, CAI, ENN}_{MN, SD, CV}: mean, population standard deviation and
    SD / MN x 100 over the patches (ENN over patches that have one); DCORE_* over the
    disjunct core areas; PAFRAC = 2 / slope of ln AREA_m2 on ln PERIM (N/A below 10
    patches); TCA = sum CORE; CPLAND = TCA / TA x 100; NDCA = sum NCORE; DCAD = NDCA /
    TA x 100; PLADJ = g_ii / sum_k g_ik x 100 and CLUMPY from like adjacencies g counted
    twice (k over all classes and the boundary); AI = g_ii / max g_ii x 100 with g_ii
    counted once and max g_ii = 2m(m-1) (+ 2s - 1 when 0 < s <= m, + 2s - 2 when s > m;
    s = a_i - m^2); IJI from the shares of the class's edge with each other class;
    COHESION = (1 - sum p / sum p sqrt(a)) / (1 - 1/sqrt(Z)) x 100 (Z = landscape cells);
    DIVISION = 1 - sum (a / A)^2; MESH [ha] = sum a^2 / A; SPLIT = A^2 / sum a^2;
    NLSI = (e_i - min e_i) / (max e_i - min e_i), max e_i = 4 a_i when the class covers at
    most half the landscape, else 4 (Z - a_i) + B (B: landscape boundary in cell sides).

Landscape level
    TA, NP, PD, LPI, TE, ED, LSI (e = all sides between classes, counted once, plus the
    boundary), the _MN/_SD/_CV over all patches, PAFRAC, TCA, NDCA, DCAD, CONTAG (area
    proportions with the double-counted adjacency table, boundary excluded), PLADJ, IJI,
    COHESION, DIVISION, MESH, SPLIT, PR = classes, PRD = PR / TA x 100, SHDI, SIDI, MSIDI,
    SHEI, SIEI, MSIEI (area proportions P_i), AI (area-weighted class AI).

References
----------
McGarigal K., Cushman S. A., Ene E. (2023). FRAGSTATS v4: Spatial Pattern Analysis
Program for Categorical Maps. University of Massachusetts, Amherst. https://www.fragstats.org
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cached_property
from itertools import pairwise
from typing import NamedTuple

import numpy as np
import pandas as pd

from carbonmap.errors import InputError
from carbonmap.landscape.enn import covered_runs, enn_of_runs, row_runs
from carbonmap.landscape.patches import (
    Landscape,
    StripGroups,
    _count_values,
    band_border,
    join_strips,
    patch_cells,
    row_blocks,
    strip_edges,
    strip_groups,
    unlike_sides,
)

__all__ = ["Metrics", "fragstats", "min_perimeter", "max_like_adjacencies", "PATCH_METRICS", "CLASS_METRICS",
           "LANDSCAPE_METRICS", "ALL_METRICS"]

#: Patch metrics that get _MN, _SD and _CV at class and landscape level.
_DISTRIBUTED = ("AREA", "GYRATE", "SHAPE", "FRAC", "PARA", "CIRCLE", "CONTIG", "CORE", "DCORE", "CAI", "ENN")
PATCH_METRICS = ("AREA", "PERIM", "GYRATE", "PARA", "SHAPE", "FRAC", "CIRCLE", "CONTIG", "CORE", "NCORE", "CAI",
                 "ENN")
CLASS_METRICS = ("CA", "PLAND", "NP", "PD", "LPI", "TE", "ED", "LSI",
                 *(f"{m}_{s}" for m in _DISTRIBUTED for s in ("MN", "SD", "CV")),
                 "PAFRAC", "TCA", "CPLAND", "NDCA", "DCAD", "CLUMPY", "PLADJ", "IJI", "COHESION", "DIVISION",
                 "MESH", "SPLIT", "AI", "NLSI")
LANDSCAPE_METRICS = ("TA", "NP", "PD", "LPI", "TE", "ED", "LSI",
                     *(f"{m}_{s}" for m in _DISTRIBUTED for s in ("MN", "SD", "CV")),
                     "PAFRAC", "TCA", "NDCA", "DCAD", "CONTAG", "PLADJ", "IJI", "COHESION", "DIVISION", "MESH",
                     "SPLIT", "PR", "PRD", "SHDI", "SIDI", "MSIDI", "SHEI", "SIEI", "MSIEI", "AI")

#: Rows per block of the sweeps that sum floats (GYRATE): the blocks set the order of the sums.
_BLOCK_ROWS = 512


class Metrics(NamedTuple):
    """FRAGSTATS-style tables: one row per patch, per class, and for the landscape."""

    patch: pd.DataFrame
    class_: pd.DataFrame
    landscape: pd.DataFrame


def min_perimeter(cells):
    """Perimeter [cell sides] of the most compact arrangement of `cells` cells.

    With m = floor(sqrt(a)): 4m if a = m^2; 4m + 2 if m^2 < a <= m(m + 1); else 4m + 4.

    >>> min_perimeter(np.array([1, 2, 4, 5, 7])).tolist()
    [4, 6, 8, 10, 12]
    """
    a = np.asarray(cells, dtype=np.int64)
    m = np.floor(np.sqrt(a)).astype(np.int64)
    m -= (m * m > a)  # guard against rounding of sqrt
    return np.where(m * m == a, 4 * m, np.where(a <= m * (m + 1), 4 * m + 2, 4 * m + 4))


def max_like_adjacencies(cells):
    """Most like adjacencies (counted once) among `cells` cells: the AI denominator.

    With m = floor(sqrt(a)) and s = a - m^2: 2m(m-1), plus 2s - 1 if 0 < s <= m, or 2s - 2
    if s > m.

    >>> max_like_adjacencies(np.array([1, 2, 4, 9])).tolist()
    [0, 1, 4, 12]
    """
    a = np.asarray(cells, dtype=np.int64)
    m = np.floor(np.sqrt(a)).astype(np.int64)
    m -= (m * m > a)
    s = a - m * m
    return 2 * m * (m - 1) + np.where(s == 0, 0, np.where(s <= m, 2 * s - 1, 2 * s - 2))


# --------------------------------------------------------------------------- sweeps


def _blocks(top: int, bottom: int) -> Iterator[tuple[int, int]]:
    """Rows top..bottom-1 in blocks of :data:`_BLOCK_ROWS` counted from `top`."""
    for r0 in range(top, bottom, _BLOCK_ROWS):
        yield r0, min(bottom, r0 + _BLOCK_ROWS)


def _own(values: np.ndarray, own: tuple[int, int] | None) -> tuple[int, int]:
    return own if own is not None else (0, values.shape[0])


def corner_counts(labels: np.ndarray, n: int, own: tuple[int, int] | None = None) -> np.ndarray:
    """Per patch id 0..n-1: pairs of corner (diagonal) neighbours inside the patch, each pair
    counted by the band (`own` rows, as for :func:`carbonmap.landscape.patches.perimeter_sides`)
    that holds its upper cell."""
    top, bottom = _own(labels, own)
    like = np.zeros(n)
    for r0, r1 in row_blocks(bottom - top, labels.shape[1]):
        lab = labels[top + r0:top + r1]
        below = labels[top + r0 + 1:top + r1 + 1]
        for a, b in ((lab[:len(below), 1:], below[:, :-1]), (lab[:len(below), :-1], below[:, 1:])):
            like += np.bincount(a[a == b], minlength=n)
    return like


def centroid_sums(labels: np.ndarray, n: int, own: tuple[int, int] | None = None, row0: int = 0
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Per patch id 0..n-1: the sums of its cells' row and column numbers, over the `own` rows
    of a band whose first row is the raster's row `row0`."""
    top, bottom = _own(labels, own)
    rows, cols = np.zeros(n), np.zeros(n)
    width = labels.shape[1]
    col_index = np.arange(width, dtype=np.float64)
    for r0, r1 in _blocks(top, bottom):
        lab = labels[r0:r1].ravel()
        rows += np.bincount(lab, weights=np.repeat(np.arange(row0 + r0, row0 + r1, dtype=np.float64), width),
                            minlength=n)
        cols += np.bincount(lab, weights=np.tile(col_index, r1 - r0), minlength=n)
    return rows, cols


def distance_sums(labels: np.ndarray, row_c: np.ndarray, col_c: np.ndarray, own: tuple[int, int] | None = None,
                  row0: int = 0) -> np.ndarray:
    """Per patch id: the sum of its cells' distances [cells] to its centroid (row_c, col_c),
    over the `own` rows of a band whose first row is the raster's row `row0`."""
    top, bottom = _own(labels, own)
    n = len(row_c)
    total = np.zeros(n)
    cols = np.arange(labels.shape[1], dtype=np.float64)
    for r0, r1 in _blocks(top, bottom):
        lab = labels[r0:r1]
        dr = np.arange(row0 + r0, row0 + r1, dtype=np.float64)[:, None] - row_c[lab]
        dc = cols[None, :] - col_c[lab]
        total += np.bincount(lab.ravel(), weights=np.hypot(dr, dc).ravel(), minlength=n)
    return total


def class_adjacency(index: np.ndarray, n_classes: int, own: tuple[int, int] | None = None,
                    cells: np.ndarray | None = None) -> np.ndarray:
    r"""Cell sides between classes, (K+1) x (K+1), double-counted (each side seen from both
    cells, like adjacencies twice); index K is outside (nodata and the raster's edge).

    Parameters
    ----------
    index : ndarray (H, W)
        Class index of each cell, K for nodata.
    n_classes : int
        K.
    own : (int, int), optional
        Count the sides as seen from the cells of these rows of a band (as for
        :func:`carbonmap.landscape.patches.perimeter_sides`): the bands of a raster sum to its
        table. Default: the whole raster.
    cells : ndarray (K + 1,) of int, optional
        The cells of each index in those rows, if already counted.

    Notes
    -----
    Only the sides between different indices are counted pair by pair (a small share of all
    sides); a class's like adjacencies follow from its cells' 4 sides each:
    :math:`g_{cc} = 4 a_c - \sum_{k \ne c} g_{ck} - b_c`, with :math:`b_c` its sides on the
    raster's edge (the edge then adds :math:`b` to row and column K).
    """
    index = np.ascontiguousarray(index)
    top, bottom = _own(index, own)
    k1 = n_classes + 1
    width = index.shape[1]
    flat = index.reshape(-1)
    both = np.zeros(k1 * k1, dtype=np.int64)  # sides whose two cells are the band's: seen from each
    one = np.zeros(k1 * k1, dtype=np.int64)  # sides to a row around the band: seen from the band's cell
    for r0, r1 in row_blocks(bottom - top, width):
        across, down = unlike_sides(index, top + r0, top + r1)
        inner = down < (bottom - 1) * width
        first = np.concatenate([flat[across], flat[down[inner]]]).astype(np.intp)
        both += np.bincount(first * k1 + np.concatenate([flat[across + 1], flat[down[inner] + width]]),
                            minlength=k1 * k1)
        outer = down[~inner]
        one += np.bincount(flat[outer].astype(np.intp) * k1 + flat[outer + width], minlength=k1 * k1)
    if top > 0:
        up = unlike_sides(index, top - 1, top)[1]
        one += np.bincount(flat[up + width].astype(np.intp) * k1 + flat[up], minlength=k1 * k1)
    unlike = both.reshape(k1, k1)
    unlike = unlike + unlike.T + one.reshape(k1, k1)
    outside = np.bincount(band_border(index, top, bottom), minlength=k1)
    cells = _count_values(index[top:bottom], k1) if cells is None else cells
    adjacency = (unlike + np.diag(4 * cells - unlike.sum(axis=1) - outside)).astype(float)
    adjacency[:, -1] += outside
    adjacency[-1, :] += outside
    return adjacency


def _diameter_cells(n: int, runs: tuple[np.ndarray, ...]) -> np.ndarray:
    """Longest distance [cells] between two cell corners of each patch.

    The corners farthest apart lie on the patch's row-wise extremes. For each horizontal
    grid line y a patch touches, xl(y) and xr(y) are the leftmost and rightmost corner
    x on it; the diameter is the largest hypot(y2 - y1, max(xr(y2) - xl(y1), xr(y1) - xl(y2)))
    over pairs of lines, evaluated for all patches with the same number of lines at once.
    """
    s_rows, s_cols, e_cols, run_label = runs
    order = np.lexsort((s_rows, run_label))
    run_label, s_rows, s_cols, e_cols = run_label[order], s_rows[order], s_cols[order], e_cols[order]
    # per (patch, row): leftmost start and rightmost end
    key_change = np.ones(len(run_label), dtype=bool)
    key_change[1:] = (run_label[1:] != run_label[:-1]) | (s_rows[1:] != s_rows[:-1])
    first = np.flatnonzero(key_change)
    row_label = run_label[first]
    left = np.minimum.reduceat(s_cols, first)
    right = np.maximum.reduceat(e_cols, first) + 1
    # per patch: first row and number of rows (rows of a connected patch are contiguous)
    patch_first = np.flatnonzero(np.r_[True, row_label[1:] != row_label[:-1]])
    patch_ids = row_label[patch_first]
    n_rows = np.diff(np.r_[patch_first, len(row_label)])
    diameter = np.zeros(n)
    for h in np.unique(n_rows):
        group = np.flatnonzero(n_rows == h)
        lines = h + 1
        step = max(1, 2**22 // (lines * lines))
        for g0 in range(0, len(group), step):
            g = group[g0:g0 + step]
            rows_idx = patch_first[g][:, None] + np.arange(h)[None, :]
            lft = left[rows_idx].astype(np.float64)
            rgt = right[rows_idx].astype(np.float64)
            inf = np.full((len(g), 1), np.inf)
            # line y touches rows y-1 and y: take the extremes of both
            xl = np.minimum(np.hstack([lft, inf]), np.hstack([inf, lft]))
            xr = np.maximum(np.hstack([rgt, -inf]), np.hstack([-inf, rgt]))
            dy = np.arange(lines, dtype=np.float64)
            dy = dy[None, :, None] - dy[None, None, :]
            # right end of line i to left end of line j, over both orders of each pair: the
            # larger of the pair's two spans is the one counted (a negative span is the smaller)
            dx = xr[:, :, None] - xl[:, None, :]
            diameter[patch_ids[g]] = np.sqrt((dy * dy + dx * dx).reshape(len(g), -1).max(axis=1))
    return diameter


def core_mask(index: np.ndarray, n_classes: int, depth_cells: float, own: tuple[int, int] | None = None
              ) -> np.ndarray:
    """Of the `own` rows of a band (default: the whole raster): the cells whose every cell within
    `depth_cells` (centre to centre) is of the same class and inside the landscape.

    The band must hold floor(depth_cells) rows around its own rows wherever the raster goes on
    (rows beyond the raster's edges are outside the landscape)."""
    top, bottom = _own(index, own)
    k = n_classes
    reach = int(np.floor(depth_cells))
    low, high = max(0, top - reach), min(index.shape[0], bottom + reach)
    padded = np.pad(index[low:high], ((reach - (top - low), reach - (high - bottom)), (reach, reach)),
                    constant_values=k)
    height, width = bottom - top, index.shape[1]
    core = padded[reach:reach + height, reach:reach + width] != k
    for dy in range(0, reach + 1):
        for dx in range(-reach, reach + 1):
            if (dy, dx) <= (0, 0) or dy * dy + dx * dx > depth_cells * depth_cells + 1e-9:
                continue
            # compare each cell with the one at +(dy, dx) and, symmetrically, at -(dy, dx)
            a = padded[reach:reach + height, reach:reach + width]
            plus = padded[reach + dy:reach + dy + height, reach + dx:reach + dx + width]
            minus = padded[reach - dy:reach - dy + height, reach - dx:reach - dx + width]
            core &= a == plus
            core &= a == minus
    return core


class CorePieces(NamedTuple):
    """The disjunct core areas of a band of a raster (:func:`core_pieces`), as joining them to the
    next bands needs them."""

    strip: StripGroups  #: the core areas found in the band, by class
    cells: np.ndarray  #: (G + 1,) cells of each (entry 0 unused)
    patch: np.ndarray  #: (G + 1,) the patch id of each


def core_pieces(index: np.ndarray, labels: np.ndarray, n_classes: int, neighbours: int, depth_cells: float,
                own: tuple[int, int] | None = None) -> CorePieces:
    """The core cells of the `own` rows of a band (:func:`core_mask`) connected by the patch rule
    within their class, with their cells and patch."""
    top, bottom = _own(index, own)
    core = core_mask(index, n_classes, depth_cells, own)
    groups, group_class = strip_groups(np.where(core, index[top:bottom], n_classes), n_classes, neighbours)
    n = len(group_class) - 1
    patch = np.zeros(n + 1, dtype=np.int64)
    patch[groups.reshape(-1)] = labels[top:bottom].reshape(-1)  # all cells of a core share one patch (entry 0: any)
    return CorePieces(strip_edges(groups, group_class), patch_cells(groups, n), patch)


def join_cores(pieces: Sequence[CorePieces], n_classes: int, neighbours: int, n_patches: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The disjunct core areas of a raster from those of its bands, top to bottom.

    Returns core cells per patch id (P + 1,), number of disjunct cores per patch id (P + 1,),
    and for each disjunct core, numbered class by class in row-major order of its first cell,
    its patch and its cells.
    """
    _, ids, core_class = join_strips([piece.strip for piece in pieces], n_classes, neighbours)
    n_found = len(core_class) - 1
    core_size = np.bincount(ids, weights=np.concatenate([piece.cells[1:] for piece in pieces]),
                            minlength=n_found + 1)[1:]
    core_patch = np.zeros(n_found + 1, dtype=np.int64)
    core_patch[ids] = np.concatenate([piece.patch[1:] for piece in pieces])
    core_patch = core_patch[1:]
    core_cells = np.bincount(core_patch, weights=core_size, minlength=n_patches + 1)
    n_cores = np.bincount(core_patch, minlength=n_patches + 1).astype(float)
    return core_cells, n_cores, core_patch, core_size


class GridSweeps:
    """The sweeps of :func:`fragstats` over a landscape held in memory (one band: the whole
    raster). :class:`carbonmap.landscape.tiles.TiledLandscape` makes the same sweeps band by band
    from a file, with the same functions."""

    def __init__(self, land: Landscape) -> None:
        self.land = land

    def adjacency(self) -> np.ndarray:
        """:func:`class_adjacency`."""
        return class_adjacency(self.land.index, self.land.n_classes, cells=self.land.index_cells)

    def corners(self) -> np.ndarray:
        """:func:`corner_counts` by patch id (P + 1,)."""
        return corner_counts(self.land.labels, self.land.n_patches + 1)

    def distances(self, cells: np.ndarray) -> np.ndarray:
        """Mean distance [cells] from each cell centre to its patch's centroid, by patch id."""
        rows, cols = centroid_sums(self.land.labels, len(cells))
        cells = np.maximum(cells, 1)
        return distance_sums(self.land.labels, rows / cells, cols / cells) / cells

    def runs(self) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, np.ndarray], tuple[int, int]]:
        """The raster's runs (:func:`row_runs`), their :func:`covered_runs` flags and its shape."""
        runs = row_runs(self.land.labels)
        return runs, covered_runs(self.land.labels, *runs[:3]), self.land.labels.shape

    def core(self, depth_cells: float) -> tuple[np.ndarray, ...]:
        """:func:`join_cores` of the whole raster."""
        land = self.land
        return join_cores([core_pieces(land.index, land.labels, land.n_classes, land.neighbours, depth_cells)],
                          land.n_classes, land.neighbours, land.n_patches)


# --------------------------------------------------------------------------- tables


def _distribution(values: np.ndarray, groups: np.ndarray | None, n_groups: int) -> tuple[np.ndarray, ...]:
    """Mean, population SD and CV [%] of `values` by group (NaN values ignored)."""
    ok = np.isfinite(values)
    values = values[ok]
    groups = np.zeros(len(values), dtype=np.int64) if groups is None else groups[ok]
    count = np.bincount(groups, minlength=n_groups).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(groups, weights=values, minlength=n_groups) / count
        var = np.bincount(groups, weights=(values - mean[groups]) ** 2, minlength=n_groups) / count
        sd = np.sqrt(var)
        cv = np.where(mean != 0, sd / mean * 100, np.nan)
    return mean, sd, cv


def _pafrac(area_m2: np.ndarray, perimeter_m: np.ndarray) -> float:
    """2 / slope of the regression of ln(area) on ln(perimeter); N/A below 10 patches."""
    if len(area_m2) < 10:
        return np.nan
    x, y = np.log(perimeter_m), np.log(area_m2)
    n = len(x)
    slope = (n * (x * y).sum() - x.sum() * y.sum()) / (n * (x * x).sum() - x.sum() ** 2)
    return 2.0 / slope if slope else np.nan


def _shannon(shares: np.ndarray) -> float:
    shares = shares[shares > 0]
    return float(-(shares * np.log(shares)).sum())


def _iji_class(edges: np.ndarray, k: int) -> float:
    """Interspersion and juxtaposition of one class [%]: evenness of its edge shares."""
    total = edges.sum()
    if k < 3 or total == 0:
        return np.nan
    return _shannon(edges / total) / np.log(k - 1) * 100


def _iji_landscape(between: np.ndarray, k: int) -> float:
    """Landscape IJI [%]: evenness of edge lengths over all pairs of classes."""
    upper = between[np.triu_indices(k, 1)]
    if k < 3 or upper.sum() == 0:
        return np.nan
    return _shannon(upper / upper.sum()) / np.log(k * (k - 1) / 2) * 100


class _Quantities:
    """What the metrics are computed from; each piece is computed on first use, so asking
    for a few metrics costs only what they need."""

    def __init__(self, land: Landscape, depth_cells: float) -> None:
        self.land = land
        self.sweeps = land.sweeps
        self.depth_cells = depth_cells
        self.r = land.resolution
        self.k = land.n_classes
        self.cell_ha = land.cell_m2 / 1e4
        self.values: dict[str, np.ndarray] = {}  # patch metrics computed so far

    # ---------------------------------------------------------------- class counts
    @cached_property
    def adjacency(self) -> np.ndarray:
        return self.sweeps.adjacency()

    @property
    def class_cells(self) -> np.ndarray:
        return self.land.class_cells

    @cached_property
    def total_cells(self) -> float:
        return float(self.class_cells.sum())

    @property
    def ta(self) -> float:
        return self.total_cells * self.cell_ha

    @property
    def share(self) -> np.ndarray:
        return self.class_cells / self.total_cells

    @cached_property
    def between(self) -> np.ndarray:
        """Sides between different classes (K x K), zero diagonal."""
        out = self.adjacency[:self.k, :self.k].copy()
        np.fill_diagonal(out, 0)
        return out

    @property
    def like(self) -> np.ndarray:
        return np.diag(self.adjacency)[:self.k]

    @property
    def boundary_sides(self) -> np.ndarray:
        return self.adjacency[:self.k, self.k]

    # ---------------------------------------------------------------- patches
    @property
    def pclass(self) -> np.ndarray:
        return self.land.patch_class[1:]

    @cached_property
    def all_cells(self) -> np.ndarray:
        """Cells per patch id, entry 0 = nodata."""
        return self.land.patch_cells.astype(float)

    @property
    def cells(self) -> np.ndarray:
        return self.all_cells[1:]

    @cached_property
    def perim_sides(self) -> np.ndarray:
        """Perimeter in cell sides (sides on the raster's edge and on nodata count)."""
        return self.land.perimeter_sides[1:].astype(float)

    @property
    def like_sides(self) -> np.ndarray:
        """Sides shared by two cells of the patch: a cell's 4 sides, less the perimeter, halved."""
        return (4 * self.cells - self.perim_sides) / 2

    @cached_property
    def runs(self) -> tuple:
        """(runs, their covered flags, the raster's shape): :meth:`GridSweeps.runs`."""
        return self.sweeps.runs()

    @cached_property
    def core(self) -> tuple[np.ndarray, ...]:
        return self.sweeps.core(self.depth_cells)

    def per_class(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(self.pclass, weights=values, minlength=self.k)

    # ---------------------------------------------------------------- patch metrics
    @cached_property
    def patch(self) -> dict:
        """Patch metric name -> function returning one value per patch."""
        q = self
        return {
            "AREA": lambda: q.cells * q.cell_ha,
            "PERIM": lambda: q.perim_sides * q.r,
            "GYRATE": q._gyrate,
            "PARA": lambda: q.perim_sides * q.r / (q.cells * q.cell_ha),
            "SHAPE": lambda: q.perim_sides / min_perimeter(q.cells),
            "FRAC": q._frac,
            "CIRCLE": q._circle,
            "CONTIG": q._contig,
            "CORE": lambda: q.core[0][1:] * q.cell_ha,
            "NCORE": lambda: q.core[1][1:],
            "CAI": lambda: q.core[0][1:] / q.cells * 100,
            "ENN": lambda: enn_of_runs(*q.runs[:2], q.land.patch_class, q.k, q.runs[2])[1:] * q.r,
        }

    def patch_metric(self, name: str) -> np.ndarray:
        if name not in self.values:
            self.values[name] = self.patch[name]()
        return self.values[name]

    def _contig(self) -> np.ndarray:
        corners = self.sweeps.corners()[1:]
        template_sum = self.cells + 4 * self.like_sides + 2 * corners  # both cells of each pair
        return (template_sum / self.cells - 1) / 12

    def _gyrate(self) -> np.ndarray:
        gyrate = self.sweeps.distances(self.all_cells)[1:] * self.r
        gyrate[self.cells == 1] = 0.5 * self.r  # FRAGSTATS' value for one-cell patches
        return gyrate

    def _frac(self) -> np.ndarray:
        area_m2 = self.cells * self.land.cell_m2
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(area_m2 == 1, 1.0, 2 * np.log(0.25 * self.perim_sides * self.r) / np.log(area_m2))

    def _circle(self) -> np.ndarray:
        radius = _diameter_cells(self.land.n_patches + 1, self.runs[0])[1:] / 2
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.cells == 1, 0.0, 1 - self.cells / (np.pi * radius**2))

    def distributed(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(values, class index) over which name_MN/SD/CV are taken."""
        if name == "DCORE":
            _, _, core_patch, core_size = self.core
            return core_size * self.cell_ha, self.land.patch_class[core_patch]
        return self.patch_metric(name), self.pclass


def _class_functions(q: _Quantities) -> dict:
    """Class metric name -> function returning one value per class."""
    k = q.k

    def lsi():
        return (q.between.sum(axis=1) + q.boundary_sides) / min_perimeter(q.class_cells)

    def clumpy():
        g = q.like / (q.adjacency[:k, :].sum(axis=1) - min_perimeter(q.class_cells))
        p = q.share
        return np.where((g < p) & (p < 0.5), (g - p) / p, (g - p) / (1 - p))

    def cohesion():
        sum_p = q.per_class(q.perim_sides)
        sum_pa = q.per_class(q.perim_sides * np.sqrt(q.cells))
        return (1 - sum_p / sum_pa) / (1 - 1 / np.sqrt(q.total_cells)) * 100

    def nlsi():
        e = q.between.sum(axis=1) + q.boundary_sides
        low = min_perimeter(q.class_cells)
        high = np.where(q.share <= 0.5, 4 * q.class_cells,
                        4 * (q.total_cells - q.class_cells) + q.adjacency[k, :k].sum())
        return (e - low) / (high - low)

    def lpi():
        largest = np.zeros(k)
        np.maximum.at(largest, q.pclass, q.cells)
        return largest / q.total_cells * 100

    def pafrac():
        area_m2, perim = q.cells * q.land.cell_m2, q.perim_sides * q.r
        bounds = np.searchsorted(q.pclass, np.arange(k + 1))  # patches are numbered class by class
        return np.array([_pafrac(area_m2[lo:hi], perim[lo:hi]) for lo, hi in pairwise(bounds)])

    split_sq = lambda: q.per_class((q.cells / q.total_cells) ** 2)  # noqa: E731
    n_patches = lambda: np.bincount(q.pclass, minlength=k).astype(float)  # noqa: E731
    functions = {
        "CA": lambda: q.class_cells * q.cell_ha,
        "PLAND": lambda: q.share * 100,
        "NP": n_patches,
        "PD": lambda: n_patches() / q.ta * 100,
        "LPI": lpi,
        "TE": lambda: q.between.sum(axis=1) * q.r,
        "ED": lambda: q.between.sum(axis=1) * q.r / q.ta,
        "LSI": lsi,
        "PAFRAC": pafrac,
        "TCA": lambda: q.per_class(q.core[0][1:]) * q.cell_ha,
        "CPLAND": lambda: q.per_class(q.core[0][1:]) / q.total_cells * 100,
        "NDCA": lambda: q.per_class(q.core[1][1:]),
        "DCAD": lambda: q.per_class(q.core[1][1:]) / q.ta * 100,
        "CLUMPY": clumpy,
        "PLADJ": lambda: q.like / q.adjacency[:k, :].sum(axis=1) * 100,
        "IJI": lambda: np.array([_iji_class(q.between[i], k) for i in range(k)]),
        "COHESION": cohesion,
        "DIVISION": lambda: 1 - split_sq(),
        "MESH": lambda: split_sq() * q.ta,
        "SPLIT": lambda: 1 / split_sq(),
        "AI": lambda: (q.like / 2) / max_like_adjacencies(q.class_cells) * 100,
        "NLSI": nlsi,
    }
    for name in _DISTRIBUTED:
        for i, stat in enumerate(("MN", "SD", "CV")):
            functions[f"{name}_{stat}"] = (lambda name=name, i=i: _distribution(*q.distributed(name), k)[i])
    return functions


def _landscape_functions(q: _Quantities) -> dict:
    """Landscape metric name -> function returning one value."""
    k = q.k

    def contag():
        inner = q.adjacency[:k, :k]
        with np.errstate(divide="ignore", invalid="ignore"):
            terms = q.share[:, None] * inner / inner.sum(axis=1, keepdims=True)
            ent = np.where(terms > 0, terms * np.log(terms), 0.0).sum()
        return (1 + ent / (2 * np.log(k))) * 100 if k > 1 else np.nan

    def cohesion():
        return ((1 - q.perim_sides.sum() / (q.perim_sides * np.sqrt(q.cells)).sum())
                / (1 - 1 / np.sqrt(q.total_cells)) * 100)

    def pafrac():
        return _pafrac(q.cells * q.land.cell_m2, q.perim_sides * q.r)

    def evenness(value, maximum):
        return value / maximum if k > 1 else np.nan

    def class_ai():
        return _class_functions(q)["AI"]()

    split_sq = lambda: float(((q.cells / q.total_cells) ** 2).sum())  # noqa: E731
    simpson = lambda: float((q.share**2).sum())  # noqa: E731
    te = lambda: q.between.sum() / 2  # noqa: E731
    functions = {
        "TA": lambda: q.ta,
        "NP": lambda: float(q.land.n_patches),
        "PD": lambda: q.land.n_patches / q.ta * 100,
        "LPI": lambda: q.cells.max() / q.total_cells * 100,
        "TE": lambda: te() * q.r,
        "ED": lambda: te() * q.r / q.ta,
        "LSI": lambda: (te() + q.boundary_sides.sum()) / float(min_perimeter(q.total_cells)),
        "PAFRAC": pafrac,
        "TCA": lambda: q.core[0].sum() * q.cell_ha,
        "NDCA": lambda: q.core[1].sum(),
        "DCAD": lambda: q.core[1].sum() / q.ta * 100,
        "CONTAG": contag,
        "PLADJ": lambda: q.like.sum() / q.adjacency[:k, :].sum() * 100,  # boundary sides count, as for classes
        "IJI": lambda: _iji_landscape(q.between, k),
        "COHESION": cohesion,
        "DIVISION": lambda: 1 - split_sq(),
        "MESH": lambda: split_sq() * q.ta,
        "SPLIT": lambda: 1 / split_sq(),
        "PR": lambda: float(k),
        "PRD": lambda: k / q.ta * 100,
        "SHDI": lambda: _shannon(q.share),
        "SIDI": lambda: 1 - simpson(),
        "MSIDI": lambda: -np.log(simpson()),
        "SHEI": lambda: evenness(_shannon(q.share), np.log(k)),
        "SIEI": lambda: evenness(1 - simpson(), 1 - 1 / k),
        "MSIEI": lambda: evenness(-np.log(simpson()), np.log(k)),
        "AI": lambda: float(np.nansum(class_ai() * q.share)),
    }
    for name in _DISTRIBUTED:
        for i, stat in enumerate(("MN", "SD", "CV")):
            functions[f"{name}_{stat}"] = (lambda name=name, i=i: float(_distribution(q.distributed(name)[0], None,
                                                                                        1)[i][0]))
    return functions


ALL_METRICS = frozenset(PATCH_METRICS) | frozenset(CLASS_METRICS) | frozenset(LANDSCAPE_METRICS)


def fragstats(land, *, metrics=None, edge_depth_m: float | None = None) -> Metrics:
    r"""FRAGSTATS metrics of a prepared landscape at patch, class and landscape level.

    Parameters
    ----------
    land : Landscape or TiledLandscape
        The land cover, prepared in memory (:func:`carbonmap.landscape.prepare`), or a file to
        sweep band by band (:func:`carbonmap.landscape.read_tiled_landscape`): the same tables.
    metrics : iterable of str, optional
        FRAGSTATS abbreviations to compute (any level: "NP" gives the class and landscape
        NP). Default: all of :data:`PATCH_METRICS`, :data:`CLASS_METRICS` and
        :data:`LANDSCAPE_METRICS`. Only what the chosen metrics need is computed.
    edge_depth_m : float [m], optional
        Edge depth for core areas; default one cell.

    Returns
    -------
    Metrics
        ``patch``: PID, class, then the patch metrics; ``class_``: class, then the class
        metrics; ``landscape``: one row. A level none of whose metrics was asked for has
        only its key columns. Units as FRAGSTATS: ha, m, m/ha, per 100 ha, %.

    Raises
    ------
    InputError
        For unknown metric names or an edge depth that is not positive.

    Notes
    -----
    The definitions (FRAGSTATS v4's, checked against FRAGSTATS' own results) are listed in the
    module docstring; for example, with patch areas :math:`a_{ij}` [ha] of class i and
    landscape area A:

    .. math::

        PLAND_i = 100 \frac{\sum_j a_{ij}}{A}, \qquad
        MESH_i = \frac{\sum_j a_{ij}^2}{A}, \qquad
        DIVISION_i = 1 - \sum_j \left(\frac{a_{ij}}{A}\right)^2

    References
    ----------
    .. [1] McGarigal K., Cushman S. A., Ene E. (2023). FRAGSTATS v4: Spatial Pattern Analysis
       Program for Categorical Maps. University of Massachusetts, Amherst. https://www.fragstats.org

    Examples
    --------
    >>> from carbonmap.landscape import prepare
    >>> land = prepare(np.array([[1, 1, 2], [1, 2, 2], [2, 2, 2]]), 100.0)
    >>> fragstats(land, metrics=["PLAND", "NP"]).class_
       class      PLAND   NP
    0      1  33.333333  1.0
    1      2  66.666667  1.0
    """
    wanted = ALL_METRICS if metrics is None else {str(m).upper() for m in metrics}
    unknown = sorted(wanted - ALL_METRICS)
    if unknown:
        raise InputError(f"unknown metric(s): {', '.join(unknown)}.",
                         fix=f"use FRAGSTATS abbreviations: {', '.join(sorted(ALL_METRICS))}.")
    depth_cells = 1.0 if edge_depth_m is None else edge_depth_m / land.resolution
    if not depth_cells > 0:
        raise InputError(f"the edge depth must be positive, got {edge_depth_m} m.", fix="give a depth in metres.")
    q = _Quantities(land, depth_cells)
    patch_cols = [m for m in PATCH_METRICS if m in wanted]
    codes = land.classes.astype(np.int64)
    patch = pd.DataFrame({"PID": np.arange(1, land.n_patches + 1), "class": codes[q.pclass]}
                         if patch_cols else {"PID": [], "class": []})
    for name in patch_cols:
        patch[name] = q.patch_metric(name)
    class_fn = _class_functions(q)
    class_table = pd.DataFrame({"class": codes})
    with np.errstate(divide="ignore", invalid="ignore"):
        for name in CLASS_METRICS:
            if name in wanted:
                class_table[name] = class_fn[name]()
        land_fn = _landscape_functions(q)
        landscape = pd.DataFrame([{name: land_fn[name]() for name in LANDSCAPE_METRICS if name in wanted}])
    return Metrics(patch, class_table, landscape)
