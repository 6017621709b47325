"""Land-use simulation in the manner of PLUS (Liang et al. 2021): suitability learned from drivers
(LEAS) and a cellular automaton with patch seeding (CARS).

**LEAS (land expansion analysis).** The cells that became class k between two dates (its
expansion) are sampled with as many cells that could have become k and did not; one random
forest per class (scikit-learn; PLUS's binary formulation, d = 1 "became k") learns the
expansion from the driver rasters. Its vote share is the development probability
:math:`P_k` of every cell, and its impurity importances are each driver's contribution.

**CARS (allocation with patch generation).** Year by year, towards a yearly target that moves
linearly from today's areas to the demand, and in as many iterations a year as it needs:

- neighbourhood effect :math:`\\Omega_k`: the share of class k among the w x w - 1 neighbours,
  times the class weight;
- patch seeding: where :math:`\\Omega_k = 0`, a uniform random r < :math:`P_k` gives
  :math:`\\Omega_k = r \\mu` (new patches away from existing ones);
- adaptive inertia :math:`D_k` (FLUS: Liu et al. 2017; Liang et al. 2018): raised while a class falls further behind
  its target;
- combined probability :math:`OP_k = P_k \\Omega_k D_k`, zero for classes that need no cells,
  for conversions the matrix forbids, in restriction zones and for cells of classes that have no
  surplus;
- roulette: each cell draws its competing class with probability proportional to
  :math:`OP_k`; the change is accepted when :math:`P_k > \\tau`, a threshold that decreases
  (:math:`\\tau = \\tau_0 \\delta^l`, l the iterations of the year that did not close the gap);
- no class gains more than its gap or loses more than its surplus (the highest
  :math:`OP_k` first), so the demand is met exactly; cells still missing after the last
  iteration of the last year are placed by the highest :math:`OP_k` (reported).

Every step is vectorised over the grid (box sums over class masks); all random
numbers come from one ``numpy.random.Generator`` seeded by the caller, so runs are identical.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from carbonmap.compute import ordered_map
from carbonmap.errors import InputError
from carbonmap.io import unseen_where_task_runs
from carbonmap.words import Text, words

__all__ = [
    "Simulation",
    "Suitability",
    "distance_drivers",
    "expansion",
    "learn_suitability",
    "simulate",
    "yearly_targets",
]


@dataclass
class Suitability:
    """Development probability of each class and the drivers' importances (LEAS).

    codes : the class codes, in the order of `probability`'s first axis.
    probability : array (K, H, W) float32 [-], NaN where a driver or the land cover is missing.
    importance : DataFrame ``code``, ``driver``, ``importance`` [-] (sums to 1 per class).
    samples : DataFrame ``code``, ``expansion_cells``, ``sampled_expansion``, ``sampled_other`` [cells],
        ``learnt`` (False: the class did not expand, its probability is the constant ``unlearnt``).
    """

    codes: np.ndarray
    probability: np.ndarray
    importance: pd.DataFrame
    samples: pd.DataFrame


@dataclass
class Simulation:
    """A simulated land cover and its course (CARS).

    landcover : masked array (H, W) of int, the land cover of the last year.
    history : DataFrame ``year_step``, ``code``, ``cells``, ``target_cells``, ``iterations``.
    completed_cells : cells placed after the last iteration by the highest combined probability.
    """

    landcover: np.ma.MaskedArray
    history: pd.DataFrame
    completed_cells: int = 0
    notes: list[Text] = field(default_factory=list)


def expansion(before, after, code: int) -> np.ndarray:
    """Cells that became `code` between two dates.

    Parameters
    ----------
    before, after : (masked) array (H, W) of int
        Land cover at the two dates.
    code : int
        The class.

    Returns
    -------
    ndarray (H, W) of bool
        Valid at both dates, not `code` before, `code` after.
    """
    valid = ~np.ma.getmaskarray(before) & ~np.ma.getmaskarray(after)
    return valid & (np.ma.getdata(before) != code) & (np.ma.getdata(after) == code)


def distance_drivers(classes, codes, spacing: tuple[float, float]) -> dict[str, np.ndarray]:
    """Distance from every cell to the nearest cell of each class [m].

    Parameters
    ----------
    classes : (masked) array (H, W) of int
        Land cover.
    codes : sequence of int
        The classes to measure the distance to.
    spacing : (float, float) [m]
        Cell height and width (non-square cells are measured as they are).

    Returns
    -------
    dict of str -> ndarray (H, W) float32 [m]
        ``distance_to_<code>``; a class absent from the map gives the grid's diagonal.

    Notes
    -----
    The exact Euclidean distance transform of Felzenszwalb and Huttenlocher, in float32
    (the `edt` package: 4 to 5 times faster than scipy's, which works in float64 with a
    feature transform of two int32 layers). The two differ by float32 rounding: 1e-7 of the
    largest distance on the megacity preset's classes, up to a few 1e-6 for a sparse class.

    References
    ----------
    .. [1] Felzenszwalb P. F., Huttenlocher D. P. (2012). Distance transforms of sampled
       functions. Theory of Computing 8: 415-428.
    """
    import edt

    data, valid = np.ma.getdata(classes), ~np.ma.getmaskarray(classes)
    diagonal = float(np.hypot(data.shape[0] * spacing[0], data.shape[1] * spacing[1]))
    out = {}
    for code in codes:
        mask = valid & (data == code)
        out[f"distance_to_{code}"] = (edt.edt(~mask, anisotropy=tuple(map(float, spacing)), black_border=False,
                                              parallel=1) if mask.any() else np.full(data.shape, diagonal, np.float32))
    return out


def _on_grid(drivers: dict[str, np.ndarray], shape) -> dict[str, np.ndarray]:
    """`drivers`, each checked to be on the land cover's grid."""
    for name, driver in drivers.items():
        if np.shape(driver) != tuple(shape):
            raise InputError(f"driver {name!r} is on another grid ({np.shape(driver)} cells, the land cover "
                             f"{tuple(shape)}).", key=name, fix="give the drivers on the land cover's grid "
                                                                "(carbonmap run and carbonmap simulate align them).")
    return drivers


def _values(driver) -> np.ndarray:
    """A driver's cells as float32, NaN where it is masked."""
    return np.ma.filled(np.ma.asarray(driver, dtype=np.float32), np.nan)


def _finite(drivers: Mapping[str, np.ndarray], shape) -> np.ndarray:
    """Cells where every driver has a finite value."""
    finite = np.ones(shape, bool)
    for name in drivers:
        finite &= np.isfinite(_values(drivers[name]))
    return finite


def learn_suitability(before, after, drivers: Mapping[str, np.ndarray], *, codes=None, sample_size: int = 2000,
                      trees: int = 50, min_leaf: int = 5, seed: int = 0,
                      predict_on: Mapping[str, np.ndarray] | None = None, unlearnt: float = 1.0,
                      distance_to=(), spacing: tuple[float, float] = (1.0, 1.0),
                      scratch: str | os.PathLike | None = None) -> Suitability:
    r"""Development probability of each class from the land expansion between two dates (LEAS).

    Parameters
    ----------
    before, after : (masked) array (H, W) of int
        Land cover at the start and end of the calibration period.
    drivers : dict of str -> array (H, W) [driver's unit]
        Driver rasters on the land cover's grid; NaN or masked cells are left out.
    codes : sequence of int, optional
        Classes to learn (default: every class of either map).
    sample_size : int [cells]
        At most this many expansion cells and as many other cells per class.
    trees : int
        Trees of each random forest.
    min_leaf : int [cells]
        Smallest leaf of a tree (smooths the probabilities).
    seed : int
        Seed of the sampling and the forests.
    predict_on : dict of str -> array (H, W), optional
        The same drivers at the start of the simulation, to predict the probability from;
        default: `drivers`.
    unlearnt : float [-]
        The probability of a class that did not expand.
    distance_to : sequence of int
        Classes whose distance is a driver too (``distance_to_<code>`` [m],
        :func:`distance_drivers`): from `before` to learn, from `after` to predict. Computed
        here one at a time, so that a large grid never holds both dates' distances.
    spacing : (float, float) [m]
        Cell height and width, for `distance_to`.
    scratch : path-like, optional
        Folder where the drivers to predict from wait, one file each, while the probabilities are
        predicted (default: the system's temporary folder); the files are removed at the end. On
        a cluster of other machines it must be a folder they all read (the run's output set).

    Returns
    -------
    Suitability

    Notes
    -----
    For class k, cells with :math:`c_{t_0} \ne k` form the candidates; those with
    :math:`c_{t_1} = k` are the expansion (d = 1), the others did not become k (d = 0). A
    stratified random sample of both trains a random forest of M trees :math:`h_n`:

    .. math:: P_k(x) = \frac{1}{M} \sum_{n=1}^{M} I(h_n(x) = 1)

    A class that did not expand gets :math:`P_k` = `unlearnt` everywhere (``learnt`` False in
    ``samples``, NaN importances).

    Only the sampled cells' driver values are gathered to learn from, and the probabilities are
    predicted by blocks of whole rows of about a million cells of the grid, so no (drivers x cells)
    table of the grid is made. The drivers to predict from (the distances, one per class in
    `distance_to`, computed one at a time) are written to files in `scratch` (4 bytes a cell
    each), from which each block reads its rows: while the probabilities are predicted, the
    memory holds no float32 copy of a driver, and the distances (finite everywhere) are on disk
    only. The blocks are tasks of the run's session
    (:mod:`carbonmap.compute`): its threads, or the worker processes of a dask cluster, each sent
    the forests once.

    References
    ----------
    .. [1] Liang X., Guan Q., Clarke K. C., Liu S., Wang B., Yao Y. (2021). Understanding the
       drivers of sustainable land expansion using a patch-generating land use simulation (PLUS)
       model: a case study in Wuhan, China. Computers, Environment and Urban Systems 85: 101569.
    .. [2] Breiman L. (2001). Random forests. Machine Learning 45: 5-32.
    """
    shape = np.shape(before)
    if shape != np.shape(after):
        raise InputError(f"the two land covers differ in shape ({shape} vs {np.shape(after)}).",
                         fix="align both dates to one grid.")
    distances = [f"distance_to_{int(code)}" for code in distance_to]
    names = list(dict.fromkeys([*drivers, *distances]))
    if not names:
        raise InputError("no driver rasters to learn the suitability from.",
                         fix="name at least one driver raster (slope, elevation, distances are computed from "
                             "the land cover when asked for).")
    static = _on_grid({n: v for n, v in drivers.items() if n not in distances}, shape)
    later = static if predict_on is None else _on_grid({n: v for n, v in predict_on.items() if n not in distances},
                                                       shape)
    if set(later) != set(static):
        raise InputError(f"the drivers to predict from ({', '.join(predict_on)}) are not those learnt from "
                         f"({', '.join(drivers)}).", fix="give the same drivers at both dates.")
    valid = ~np.ma.getmaskarray(before) & ~np.ma.getmaskarray(after) & _finite(static, shape)
    cells = np.flatnonzero(valid)
    b, a = np.ma.getdata(before).ravel()[cells], np.ma.getdata(after).ravel()[cells]
    codes = np.union1d(np.unique(b), np.unique(a)) if codes is None else np.asarray(codes)
    rng = np.random.default_rng(seed)
    samples, drawn = [], []
    for code in codes:  # the draws of one class after another, in the order they were always made
        candidates = b != code
        grown, other = np.flatnonzero(candidates & (a == code)), np.flatnonzero(candidates & (a != code))
        row = {"code": int(code), "expansion_cells": int(grown.size), "sampled_expansion": 0, "sampled_other": 0,
               "learnt": bool(grown.size and other.size)}
        drawn.append(None)
        if row["learnt"]:
            pos = rng.choice(grown, min(grown.size, sample_size), replace=False)
            neg = rng.choice(other, min(other.size, sample_size), replace=False)
            drawn[-1] = (cells[np.r_[pos, neg]], pos.size, int(rng.integers(2**31)))
            row.update(sampled_expansion=int(pos.size), sampled_other=int(neg.size))
        samples.append(row)
    del cells, b, a
    forests = _forests(drawn, names, static, before, distances, spacing, trees=trees, min_leaf=min_leaf)
    target = ~np.ma.getmaskarray(after) & _finite(later, shape)
    probability = np.full((len(codes), *shape), np.nan, np.float32)
    for k, forest in enumerate(forests):
        if forest is None:
            np.copyto(probability[k], np.float32(unlearnt), where=target)
    learnt = [k for k, forest in enumerate(forests) if forest is not None]
    if learnt:  # files named by position: two drivers' names may differ only in case
        with tempfile.TemporaryDirectory(prefix="carbonmap-drivers-", dir=scratch,
                                         ignore_cleanup_errors=True) as folder:
            grids = [_DriverFile.write(Path(folder) / f"{i}.f32", _values(_driver(n, later, distances, after, spacing)))
                     for i, n in enumerate(names)]
            flat = target.reshape(-1)
            blocks = ((rows, flat[rows]) for rows in _blocks(target.size, shape[1]))
            for block, predicted in ordered_map(partial(_predict_block, grids=grids), blocks,
                                                shared=[[forests[k] for k in learnt]]):
                for k, p in zip(learnt, predicted):
                    probability[k].reshape(-1)[block] = p
    importance = [{"code": int(code), "driver": n, "importance": float(v)} for code, forest in zip(codes, forests)
                  for n, v in zip(names, [np.nan] * len(names) if forest is None else forest.feature_importances_)]
    return Suitability(codes, probability, pd.DataFrame(importance), pd.DataFrame(samples))


def _forests(drawn, names, static, before, distances, spacing, *, trees, min_leaf) -> list:
    """One random forest per class that expanded (None for the others), fitted on the drivers of
    its drawn cells: ``(cells, expansion cells among them, random state)`` per class. Each driver
    is read (a distance computed) once, and only its drawn cells are kept."""
    from sklearn.ensemble import RandomForestClassifier

    learnt = [d for d in drawn if d is not None]
    sampled = np.concatenate([cells for cells, _, _ in learnt]) if learnt else np.zeros(0, np.intp)
    at_samples = np.column_stack([_values(_driver(n, static, distances, before, spacing)).ravel()[sampled]
                                  for n in names])
    forests, offset = [], 0
    for d in drawn:
        if d is None:
            forests.append(None)
            continue
        cells, n_pos, state = d
        forest = RandomForestClassifier(n_estimators=int(trees), min_samples_leaf=int(min_leaf), random_state=state,
                                        n_jobs=1)
        labels = np.r_[np.ones(n_pos, int), np.zeros(cells.size - n_pos, int)]
        forests.append(forest.fit(at_samples[offset:offset + cells.size], labels))
        offset += cells.size
    return forests


#: Cells of the grid (whole rows, nodata included) whose probabilities one task predicts (bounded memory).
PREDICT_CELLS = 1_000_000


def _blocks(cells: int, width: int) -> list[slice]:
    """The flat grid's blocks of whole rows of about :data:`PREDICT_CELLS` cells, in order."""
    width = max(width, 1)
    step = max(1, PREDICT_CELLS // width) * width
    return [slice(start, min(start + step, cells)) for start in range(0, cells, step)]


def _predict_block(forests: list, block: tuple[slice, np.ndarray], *, grids: list[_DriverFile]):
    """(cells, each forest's probability of class 1 there) for a block ``(rows, wanted)`` of the flat
    grid: its `rows` and which of their cells to predict (bool), each driver read from its file.

    A task of :func:`carbonmap.compute.ordered_map`, anywhere the run's tasks run: on its threads
    (the trees predict without the GIL) or on a cluster's workers, which get the `forests` once and
    read the files from the output set. Each cell is predicted alone, so any blocks give the same
    values."""
    rows, wanted = block
    cells = np.flatnonzero(wanted)
    if cells.size == 0:  # rows of nodata only
        return rows.start + cells, [np.empty(0, np.float32) for _ in forests]
    x = np.column_stack([grid.read(rows)[cells] for grid in grids])
    return rows.start + cells, [forest.predict_proba(x)[:, 1].astype(np.float32) for forest in forests]


@dataclass(frozen=True)
class _DriverFile:
    """A driver grid waiting in a file of raw float32 cells (row by row), read a block of rows at a time."""

    path: Path

    @classmethod
    def write(cls, path: Path, grid: np.ndarray) -> _DriverFile:
        np.ascontiguousarray(grid, dtype=np.float32).tofile(path)
        return cls(path)

    def read(self, rows: slice) -> np.ndarray:
        """The flat grid's cells ``rows.start:rows.stop``."""
        itemsize = np.dtype(np.float32).itemsize
        try:
            return np.fromfile(self.path, dtype=np.float32, count=rows.stop - rows.start, offset=rows.start * itemsize)
        except FileNotFoundError as exc:
            raise unseen_where_task_runs(self.path) from exc


def _driver(name: str, static: Mapping[str, np.ndarray], distances: list[str], landcover, spacing) -> np.ndarray:
    """The driver `name`: a static raster, or the distance to a class of `landcover` (computed now)."""
    if name in distances:
        return distance_drivers(landcover, [int(name.removeprefix("distance_to_"))], spacing)[name]
    return static[name]


def yearly_targets(start: np.ndarray, demand: np.ndarray, years: int) -> np.ndarray:
    r"""Cells of each class at the end of each simulated year, moving linearly to the demand.

    Parameters
    ----------
    start, demand : array (K,) of int [cells]
        Today's cells and the demand of each class.
    years : int [yr]
        Years simulated (n >= 1).

    Returns
    -------
    ndarray (n, K) of int [cells]
        :math:`T_k(y) = A_k + \mathrm{trunc}((D_k - A_k) \, y / n)`, the last row the demand.
    """
    steps = np.arange(1, years + 1)[:, None] / years
    targets = start[None, :] + np.trunc((demand - start)[None, :] * steps).astype(np.int64)
    targets[-1] = demand
    return targets


def _inertia(inertia: np.ndarray, gap_before: np.ndarray, gap_now: np.ndarray) -> np.ndarray:
    """Adaptive inertia of FLUS (Liu et al. 2017): grows while a class falls further behind."""
    out = inertia.copy()
    behind = (np.abs(gap_now) > np.abs(gap_before)) & (gap_before != 0)
    falling = behind & (gap_now < gap_before) & (gap_before < 0)
    rising = behind & (gap_before > 0) & (gap_now > gap_before)
    out[falling] = inertia[falling] * gap_before[falling] / gap_now[falling]
    out[rising] = inertia[rising] * gap_now[rising] / gap_before[rising]
    return out


def _of_classes(current: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Whether the class index of each cell is one of `classes`: one comparison a class (Python
    integers keep the comparisons in the cells' small integers): on 55 million cells, 15 times faster
    than ``np.isin`` and cheaper than a lookup by class index."""
    out = np.zeros(current.shape, bool)
    for k in classes:
        out |= current == int(k)
    return out


def _neighbour_counts(grid: np.ndarray, k: int, window: int, flat: np.ndarray) -> np.ndarray:
    """Cells of class `k` among the w x w - 1 neighbours of the grid positions `flat` (none beyond the
    grid's edge): a box sum in the smallest integers that hold w x w, one shift at a time along the
    rows, then down the columns."""
    height, width = grid.shape
    r = window // 2
    mask = np.zeros((height + 2 * r, width + 2 * r), np.min_scalar_type(window * window))
    mask[r:r + height, r:r + width] = grid == int(k)
    along_rows = mask[:, :width].copy()
    for shift in range(1, window):
        along_rows += mask[:, shift:shift + width]
    box = along_rows[:height].copy()
    for shift in range(1, window):
        box += along_rows[shift:shift + height]
    box -= mask[r:r + height, r:r + width]  # the cell itself
    return box.ravel()[flat]


def _neighbourhood(grid: np.ndarray, classes: np.ndarray, window: int, weights: np.ndarray,
                   flat: np.ndarray) -> np.ndarray:
    """Share of each of `classes` among the w x w - 1 neighbours, times its weight, at the cells `flat` (G, M)."""
    out = np.empty((classes.size, flat.size), np.float32)
    neighbours = window * window - 1
    for row, k in enumerate(classes):  # one class at a time (on threads, no faster: the counts wait on memory)
        out[row] = _neighbour_counts(grid, k, window, flat).astype(np.float32) / neighbours * weights[k]
    return out


def _step(grid, flat, current, pg, gain, allowed, inertia, weights, window, seed_weight, threshold,
          rng) -> tuple[np.ndarray, np.ndarray]:
    """One CA iteration on the candidate cells: the class each cell would become (-1: none) and the
    combined probability of that class (for the demand caps).

    `pg` (G, M) is the development probability of the classes that need cells, `gain` (G), at the
    M candidate cells (grid positions `flat`, classes `current`). The (G, M) arrays are few and
    computed in place: the candidates can be most of a city cluster's cells.
    """
    op = _neighbourhood(grid, gain, window, weights, flat)  # omega, then the combined probability
    r = rng.random(flat.size, dtype=np.float32)
    np.copyto(op, r[None, :] * seed_weight, where=(op == 0) & (r[None, :] < pg))  # patch seeding
    op *= pg
    op *= inertia[gain, None].astype(np.float32)
    for row, k in enumerate(gain):  # the conversion matrix; a class never "converts" to itself
        barred = {int(k), *(int(j) for j in np.flatnonzero(~allowed[:, k]))}  # classes that may not become k
        for j in barred:
            op[row][current == j] = 0
    cum = op.copy()  # the running sums over the classes (axis 0), one class at a time: faster than np.cumsum
    for row in range(1, gain.size):
        cum[row] += cum[row - 1]
    draw = rng.random(flat.size) * cum[-1]
    # roulette: the first class whose running sum passes the draw (the sums never fall: OP >= 0), else the last
    pick = np.zeros(flat.size, np.min_scalar_type(gain.size))
    for row in range(gain.size - 1):
        pick += cum[row] <= draw
    del cum
    change = np.empty(flat.size, np.int16)
    score = np.empty(flat.size, np.float32)
    p_picked = np.empty(flat.size, np.float32)
    for row, k in enumerate(gain):
        picked = pick == row
        np.copyto(change, int(k), where=picked)
        np.copyto(score, op[row], where=picked)
        np.copyto(p_picked, pg[row], where=picked)
    change[~((score > 0) & (p_picked > threshold))] = -1
    return change, score


def _cap(accepted: np.ndarray, groups: np.ndarray, score: np.ndarray, room: np.ndarray) -> np.ndarray:
    """Of the accepted cells, the first ``room[g]`` of each group by descending score (ties: lower index).

    Only the groups with more accepted cells than room are cut, each at its ``room[g]``-th highest score."""
    keep = accepted.copy()
    idx = np.flatnonzero(accepted)
    member_groups = groups[idx]
    counts = np.bincount(member_groups, minlength=room.size)
    for group in np.flatnonzero(counts > room):
        members = idx[member_groups == group]  # ascending: ties go to the lower index
        room_left = int(room[group])
        if room_left == 0:
            keep[members] = False
            continue
        scores = score[members]
        rank = members.size - room_left
        cut = np.partition(scores, rank)[rank]  # the room-th highest score
        chosen = scores > cut
        chosen[np.flatnonzero(scores == cut)[:room_left - int(chosen.sum())]] = True
        keep[members[~chosen]] = False
    return keep


def _check_inputs(codes, start, demand, allowed, movable_cells, p_at, n_valid):
    if demand.sum() != n_valid:
        raise InputError(f"the demand ({int(demand.sum()):,} cells) does not add up to the land cover's "
                         f"{n_valid:,} valid cells.", field="demand",
                         fix="give a demand for every class that sums to the valid cells (areas are kept).")
    if (demand < 0).any():
        raise InputError("the demand of a class is negative.", field="demand", fix="give demands of 0 or more.")
    for j in np.flatnonzero(demand > start):
        cur, free = movable_cells
        losing = (start > demand)[cur]
        reachable = int((allowed[cur, j] & free & losing & (p_at(j)[0] > 0)).sum())
        if reachable < demand[j] - start[j]:
            raise InputError(f"the demand of class {codes[j]} ({int(demand[j]):,} cells, {int(demand[j] - start[j]):,}"
                             f" new) cannot be met: only {reachable:,} cells may become {codes[j]} given the "
                             "conversion matrix, the restriction zones and the development probability.",
                             field="demand", fix="lower the demand, allow more conversions or shrink the "
                                                 "restriction zones.")


def simulate(landcover, probability, demand, years: int, *, codes, conversion: pd.DataFrame | None = None,
             restricted: np.ndarray | None = None, window: int = 3, weights=None, seed_weight: float = 0.5,
             threshold_start: float = 0.5, threshold_decay: float = 0.9, max_iterations: int = 30,
             seed: int = 0) -> Simulation:
    r"""The land cover after `years` years of cellular-automaton change towards a demand (CARS).

    Parameters
    ----------
    landcover : masked array (H, W) of int
        Today's land cover; every valid cell's class must be in `codes`.
    probability : array (K, H, W) [-]
        Development probability of each class (:func:`learn_suitability`), in the order of `codes`.
    demand : Series [cells]
        Cells of each class (code -> cells) in the last year; sums to the valid cells.
    years : int [yr]
        Years simulated, one CA step (of one or more iterations) each.
    codes : sequence of int
        The classes.
    conversion : DataFrame of bool, optional
        Which class (rows) may become which (columns); default: every conversion allowed.
    restricted : array (H, W) of bool, optional
        Cells never converted (ecological red line, permanent basic farmland, water bodies).
    window : int [cells]
        Side w of the neighbourhood window (odd, 3 or more).
    weights : sequence of float, optional
        Neighbourhood weight of each class [-] (0 or more; default 1).
    seed_weight : float [-]
        :math:`\mu`, the neighbourhood effect given to a seeded cell: r mu.
    threshold_start, threshold_decay : float [-]
        :math:`\tau_0` and :math:`\delta` of the decreasing threshold.
    max_iterations : int
        Iterations per year at most.
    seed : int
        Seed of the random numbers.

    Returns
    -------
    Simulation

    Raises
    ------
    InputError
        A class of the land cover or the conversion matrix not in `codes`, a demand that does
        not add up, a demand that cannot be met given the conversions and restriction zones, an
        even or too small window, or a negative weight.

    Notes
    -----
    .. math::

        OP_k = P_k \, \Omega_k \, D_k, \qquad
        \Omega_k = \frac{\mathrm{con}(c = k)}{w^2 - 1} \, \omega_k \;
        (\text{or } r \mu \text{ where it is 0 and } r < P_k)

    .. math::

        D_k^t = \begin{cases} D_k^{t-1} & |G_k^{t-1}| \le |G_k^{t-2}| \\
        D_k^{t-1} G_k^{t-2} / G_k^{t-1} & G_k^{t-1} < G_k^{t-2} < 0 \\
        D_k^{t-1} G_k^{t-1} / G_k^{t-2} & 0 < G_k^{t-2} < G_k^{t-1} \end{cases}

    with :math:`G_k` the target minus the cells of class k. A cell drawn for class c by the
    roulette becomes c when :math:`P_c > \tau_0 \delta^l`.

    References
    ----------
    .. [1] Liang X., et al. (2021). Understanding the drivers of sustainable land expansion using a
       patch-generating land use simulation (PLUS) model. Computers, Environment and Urban
       Systems 85: 101569.
    .. [2] Liu X., Liang X., Li X., et al. (2017). A future land use simulation model (FLUS) for
       simulating multiple land use scenarios by coupling human and natural effects. Landscape and
       Urban Planning 168: 94-116 (roulette competition, adaptive inertia).
    .. [3] Liang X., Liu X., Li X., Chen Y., Tian H., Yao Y. (2018). Delineating multi-scenario urban
       growth boundaries with a CA-based FLUS model and morphological method. Landscape and Urban
       Planning 177: 47-63.
    """
    codes = np.asarray(codes)
    k_count = codes.size
    data, valid = np.ma.getdata(landcover), ~np.ma.getmaskarray(landcover)
    present = np.unique(data[valid])
    if not np.isin(present, codes).all():
        raise InputError(f"the land cover has classes without a development probability: "
                         f"{', '.join(map(str, present[~np.isin(present, codes)]))}.",
                         fix="learn the suitability of every class of the land cover.")
    if np.shape(probability) != (k_count, *data.shape):
        raise InputError(f"the development probability is on another grid ({np.shape(probability)}).",
                         fix="learn it on the land cover's grid.")
    allowed = np.ones((k_count, k_count), bool)
    if conversion is not None:
        unknown = [c for c in [*conversion.index, *conversion.columns] if int(c) not in codes]
        if unknown:
            raise InputError(f"the conversion matrix names classes that are not in the land cover: "
                             f"{', '.join(map(str, sorted(set(unknown))))}.", field="conversion",
                             fix=f"use the land cover's codes ({', '.join(map(str, codes))}).")
        matrix = conversion.copy()
        matrix.index, matrix.columns = matrix.index.astype(int), matrix.columns.astype(int)
        allowed = matrix.reindex(index=codes, columns=codes).fillna(1).astype(bool).to_numpy()
    demand = pd.Series(demand)
    demand.index = demand.index.astype(int)
    extra = [c for c in demand.index if c not in codes]
    if extra:
        raise InputError(f"the demand names classes that are not in the land cover: {extra}.", field="demand",
                         fix=f"use the land cover's codes ({', '.join(map(str, codes))}).")
    target_final = demand.reindex(codes).fillna(0).round().astype(np.int64).to_numpy()
    flat = np.flatnonzero(valid.ravel()).astype(np.min_scalar_type(data.size))  # a grid position, a class index:
    cur = np.searchsorted(codes, data.ravel()[flat]).astype(np.min_scalar_type(k_count))  # small integers
    rows = np.asarray(probability, np.float32).reshape(k_count, -1)

    def p_at(classes, cells=slice(None)) -> np.ndarray:
        """The development probability of `classes` at the valid cells `cells` (0 for NaN), gathered
        when needed: a copy for every class and valid cell would hold the probabilities twice."""
        values = rows[np.ix_(np.atleast_1d(classes), flat[cells])]
        values[np.isnan(values)] = 0
        return values

    free = np.ones(flat.size, bool) if restricted is None else ~np.asarray(restricted, bool).ravel()[flat]
    start = np.bincount(cur, minlength=k_count)
    _check_inputs(codes, start, target_final, allowed, (cur, free), p_at, flat.size)
    weights = np.ones(k_count) if weights is None else np.asarray(weights, float)
    if window < 3 or window % 2 == 0:
        raise InputError(f"the neighbourhood window of {window} cells is not an odd width of 3 or more.",
                         key="plus_window_cells", fix="use a window of 3, 5, 7, ... cells.")
    if (weights < 0).any():
        raise InputError("a neighbourhood weight is negative.", key="neighbourhood_weights",
                         fix="give weights of 0 or more.")
    rng = np.random.default_rng(seed)
    grid = np.full(data.size, -1, np.int16)
    grid[flat] = cur
    counts = start.copy()
    targets = yearly_targets(start, target_final, int(years))
    inertia, gaps = np.ones(k_count), [targets[0] - start, targets[0] - start]
    history = []
    level = 0
    for year, target in enumerate(targets, start=1):
        iterations = 0
        for iterations in range(1, max_iterations + 1):
            gap = target - counts
            gaps = [gaps[1], gap]
            inertia = _inertia(inertia, *gaps)
            gain = np.flatnonzero(gap > 0)  # only the classes that need cells compete ...
            cells = np.flatnonzero(free & _of_classes(cur, np.flatnonzero(gap < 0)))  # ... for surplus classes' cells
            if gain.size == 0 or cells.size == 0:
                iterations -= 1
                break
            change, score = _step(grid.reshape(data.shape), flat[cells], cur[cells], p_at(gain, cells), gain, allowed,
                                  inertia, weights, window, seed_weight, threshold_start * threshold_decay**level, rng)
            keep = _cap(change >= 0, change, score, np.maximum(gap, 0))
            keep = _cap(keep, cur[cells], score, np.maximum(-gap, 0))
            changed, became = cells[keep], change[keep]
            counts += np.bincount(became, minlength=k_count) - np.bincount(cur[changed], minlength=k_count)
            cur[changed] = became
            grid[flat[changed]] = became
            if (target - counts > 0).any():
                level += 1  # the threshold decreases while the targets are not met
        history.extend({"year_step": year, "code": int(c), "cells": int(n), "target_cells": int(t),
                        "iterations": iterations} for c, n, t in zip(codes, counts, target))
    completed = _complete(cur, target_final, p_at, allowed, free, k_count)
    out = np.ma.MaskedArray(data.copy(), mask=~valid)
    out.data.ravel()[flat] = codes[cur]
    notes = [] if not completed else [words("note.cells_completed", cells=f"{completed:,}")]
    return Simulation(out, pd.DataFrame(history), completed, notes)


def _complete(cur: np.ndarray, target: np.ndarray, p_at, allowed: np.ndarray, free: np.ndarray,
              k_count: int) -> int:
    """Place the cells still missing after the last iteration: highest development probability
    (``p_at(j)[0]``, at every valid cell) first."""
    placed = 0
    for j in np.argsort(-(target - np.bincount(cur, minlength=k_count)), kind="stable"):
        gap = target - np.bincount(cur, minlength=k_count)
        if gap[j] <= 0:
            continue
        p_j = p_at(j)[0]
        candidates = free & _of_classes(cur, np.flatnonzero(allowed[:, j] & (gap < 0))) & (p_j > 0)
        score = np.where(candidates, p_j, -1.0)
        keep = _cap(candidates, cur, score, np.maximum(-gap, 0))
        idx = np.flatnonzero(keep)
        idx = idx[np.lexsort((idx, -p_j[idx]))][:gap[j]]
        cur[idx] = j
        placed += idx.size
    return placed


@dataclass
class PlusRun:
    """Everything of one calibration, simulation and (optional) validation (:func:`simulate_land_use`).

    suitability : the development probabilities and importances (LEAS), learnt on the
        calibration period and predicted on the drivers of the later date.
    simulation : the simulated land cover of the target year and its course (CARS).
    demand : cells of each class in the target year.
    flows : the Markov flows (rows: class at the later date, columns: class in the target year)
        when the demand is the Markov chain's, else None.
    validation : measures of the simulated map against a reference map of the target year (with
        the null model and, when asked, the simple allocation), else None.
    comparison : the maps of the other models of the validation (name -> map).
    patterns : FRAGSTATS class metrics of the real and simulated maps (set by
        :func:`carbonmap.themes.simulation.run_simulation`), else None.
    """

    suitability: Suitability
    simulation: Simulation
    demand: pd.Series
    flows: pd.DataFrame | None = None
    validation: pd.DataFrame | None = None
    comparison: dict = field(default_factory=dict)
    patterns: pd.DataFrame | None = None


def simulate_land_use(before, after, *, year_before: int, year_after: int, target_year: int, spacing,
                      drivers: dict | None = None, distance_to=None, demand="markov", parameters: dict | None = None,
                      conversion: pd.DataFrame | None = None, restricted=None, weights: dict | None = None,
                      reference=None, builtup_codes=(), slope_deg=None,
                      scratch: str | os.PathLike | None = None) -> PlusRun:
    """Calibrate on two dates, simulate the target year and validate it: the one entry point of
    the simulator, used by ``carbonmap simulate`` and by ``[[scenarios]] allocation = "plus"``.

    Parameters
    ----------
    before, after : masked array (H, W) of int
        Land cover at `year_before` and `year_after` (the calibration period).
    year_before, year_after, target_year : int [year]
        Dates of the two land covers and the year simulated (after `year_after`).
    spacing : (float, float) [m]
        Cell height and width.
    drivers : dict of str -> array (H, W), optional
        Static driver rasters (slope, elevation, distance to roads, population, ...) on the grid.
    distance_to : sequence of int, optional
        Classes whose distance is a driver, computed from the land cover at the start of each
        period (default: every class; ``[]`` for none).
    demand : "markov", "trend" or Series [cells]
        The Markov chain of the two dates over whole periods (:func:`~carbonmap.scenarios.periods_to`),
        the linear trend, or the cells of each class in the target year.
    parameters : dict, optional
        Rows of ``scenario_parameters.csv`` (default: :func:`carbonmap.coefficients.scenario_parameters`).
    conversion, restricted : see :func:`simulate`.
    weights : dict of int -> float, optional
        Neighbourhood weight per class (default: ``plus_neighbourhood_weight``).
    reference : masked array (H, W) of int, optional
        The real land cover of the target year: validate against it, with the null model (no
        change) and, when `builtup_codes` is given or not, today's simple allocation of the same
        Markov flows (:func:`carbonmap.scenarios.allocate`).
    builtup_codes : sequence of int
        Built-up classes (the simple allocation's distance decay).
    slope_deg : array (H, W) [degrees], optional
        Slope for the simple allocation's slope limit.
    scratch : path-like, optional
        Folder for the working files (:func:`learn_suitability`; default: the system's temporary folder).

    Returns
    -------
    PlusRun
    """
    from carbonmap.coefficients import scenario_parameters
    from carbonmap.scenarios.demand import linear_trend, whole_cells
    from carbonmap.scenarios.markov import (
        allocate,
        periods_to,
        project_areas,
        suitability,
        transition_matrix,
    )
    from carbonmap.scenarios.validation import validation_table

    if target_year <= year_after:
        raise InputError(f"the target year {target_year} is not after the later land cover ({year_after}).",
                         key="target_year", fix="simulate a year after the later land cover.")
    p = scenario_parameters() if parameters is None else parameters
    valid = ~np.ma.getmaskarray(after)
    codes = np.union1d(np.unique(np.ma.getdata(before)[~np.ma.getmaskarray(before)]),
                       np.unique(np.ma.getdata(after)[valid]))
    distance_to = codes if distance_to is None else [int(c) for c in distance_to]
    static = dict(drivers or {})
    seed = int(p["plus_random_seed"])
    suit = learn_suitability(before, after, static, codes=codes, sample_size=int(p["plus_sample_size"]),
                             trees=int(p["plus_trees"]), min_leaf=int(p["plus_min_leaf_cells"]), seed=seed,
                             unlearnt=float(p["plus_unlearnt_probability"]), distance_to=distance_to, spacing=spacing,
                             scratch=scratch)
    cells = pd.Series(np.ma.compressed(after)).value_counts().reindex(codes, fill_value=0)
    flows = None
    if isinstance(demand, str) and demand == "markov":
        flows = project_areas(cells.astype(float), transition_matrix(before, after),
                              periods_to(target_year, year_before, year_after))
        wanted = whole_cells(flows.sum(axis=0).reindex(codes, fill_value=0.0), int(valid.sum()))
    elif isinstance(demand, str) and demand == "trend":
        earlier = pd.Series(np.ma.compressed(before)).value_counts().reindex(codes, fill_value=0).astype(float)
        wanted = whole_cells(linear_trend(earlier, cells.astype(float), year_before, year_after, target_year),
                             int(valid.sum()))
    elif isinstance(demand, str):
        raise InputError(f"unknown demand {demand!r}.", key="demand", fix="use markov, trend or a table of cells.")
    else:
        wanted = pd.Series(demand)
    default_weight = float(p["plus_neighbourhood_weight"])
    class_weights = [float((weights or {}).get(int(c), default_weight)) for c in codes]
    sim = simulate(after, suit.probability, wanted, target_year - year_after, codes=codes, conversion=conversion,
                   restricted=restricted, window=int(p["plus_window_cells"]), weights=class_weights,
                   seed_weight=float(p["plus_patch_seed_weight"]), threshold_start=float(p["plus_threshold_start"]),
                   threshold_decay=float(p["plus_threshold_decay"]),
                   max_iterations=int(p["plus_max_iterations"]), seed=seed)
    run = PlusRun(suit, sim, wanted, flows)
    if reference is not None:
        models = {"null": after}
        if flows is not None:
            built = np.isin(np.ma.getdata(after), list(builtup_codes)) & valid
            models["markov_allocation"] = allocate(after, flows, lambda code: suitability(
                np.ma.getdata(after), code, float(np.mean(spacing)), window_cells=int(p["markov_window_cells"]),
                distance_decay_m=p["markov_distance_decay_m"], max_slope_deg=p["markov_max_slope_deg"],
                builtup=built if code in builtup_codes else None, slope_deg=slope_deg))
        run.comparison = models
        run.validation = validation_table(after, reference, {**models, "plus": sim.landcover})
    return run
