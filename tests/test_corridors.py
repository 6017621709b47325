"""Least-cost corridors from one zone pass and bounded per-source passes equal the straightforward
computation: one full cost surface per source, zones by argmin, a path per pair."""

import numpy as np
import pytest
from affine import Affine
from scipy import ndimage

from carbonmap.landscape.circuits import barrier_scores
from carbonmap.landscape.corridors import least_cost_corridors

TRANSFORM = Affine(30, 0, 500000, 0, -30, 3000000)


def reference(resistance, sources, n, resolution):
    """The per-source computation (the algorithm before the bounded passes): a full
    MCP_Geometric surface from each source's edge cells, zone = argmin of the float32 surfaces
    (ties to the lower source), the pairs whose zones touch, and each pair's path traced from the
    cheapest cell of the higher source on the lower source's surface."""
    from skimage.graph import MCP_Geometric

    cwd = np.empty((n, *resistance.shape), dtype=np.float32)
    exact = np.empty((n, *resistance.shape))  # float64, as MCP computes them
    paths = {}
    for i in range(n):
        mcp = MCP_Geometric(resistance, fully_connected=True, sampling=(resolution, resolution))
        mask = sources == i
        costs, _ = mcp.find_costs(np.argwhere(mask & ~ndimage.binary_erosion(mask, border_value=0)))
        cwd[i] = exact[i] = costs
        for j in range(i + 1, n):
            cells = np.argwhere(sources == j)
            reach = costs[tuple(cells.T)]
            if np.isfinite(reach.min()):
                end = tuple(cells[int(np.argmin(reach))])
                paths[(i, j)] = (float(reach.min()), np.array(mcp.traceback(end)))
    best = cwd.min(axis=0)
    zone = np.where(np.isfinite(best), cwd.argmin(axis=0), -1)
    pairs = set()
    for a, b in ((zone[:, :-1], zone[:, 1:]), (zone[:-1, :], zone[1:, :])):
        touch = (a != b) & (a >= 0) & (b >= 0)
        pairs |= {(min(i, j), max(i, j)) for i, j in zip(a[touch].tolist(), b[touch].tolist())}
    return cwd, zone, sorted(pairs), paths, exact


def landscape(seed, shape=(70, 90), n=7, integer=False):
    """A random resistance grid with n blob sources (one on the grid's edge), an impassable
    wall closing off a corner (unreachable) and a few impassable cells."""
    rng = np.random.default_rng(seed)
    if integer:
        resistance = rng.choice([1.0, 5.0, 10.0, 50.0], size=shape)
    else:
        resistance = rng.uniform(1.0, 100.0, size=shape)
    resistance[rng.random(shape) < 0.03] = np.inf
    resistance[-12:, -1 - 12] = np.inf  # a wall shutting off the bottom-right corner
    resistance[-1 - 12, -12:] = np.inf
    resistance[-1 - 12, -1 - 12] = np.inf
    sources = -np.ones(shape, int)
    centres = [(0, rng.integers(5, shape[1] - 20))]  # on the top edge
    while len(centres) < n:
        r, c = rng.integers(3, shape[0] - 16), rng.integers(3, shape[1] - 16)
        if all(abs(r - a) + abs(c - b) > 12 for a, b in centres):
            centres.append((r, c))
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    for k, (r, c) in enumerate(centres):
        sources[(yy - r) ** 2 + (xx - c) ** 2 <= rng.integers(2, 10)] = k
    resistance[sources >= 0] = np.where(np.isfinite(resistance[sources >= 0]), resistance[sources >= 0], 1.0)
    return resistance, sources, n


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_corridors_equal_the_per_source_computation(seed):
    resistance, sources, n = landscape(seed)
    old_cwd, old_zone, old_pairs, old_paths, old_exact = reference(resistance, sources, n, 30.0)
    surfaces = least_cost_corridors(resistance, sources, n, 30.0, TRANSFORM)
    assert (old_zone == -1).any() and (sources[0] >= 0).any()  # an unreachable corner, a source on the edge
    np.testing.assert_array_equal(surfaces.zone, old_zone)
    assert surfaces.pairs == old_pairs and len(old_pairs) >= n - 1
    for pair, path in zip(surfaces.pairs, surfaces.paths):
        cwd, cells = old_paths[pair]
        assert (path["from_source"], path["to_source"]) == pair
        assert path["cwd"] == cwd  # the same float, not just close
        np.testing.assert_array_equal(path["cells"], cells)
        assert path["length_m"] == pytest.approx(float((np.hypot(*np.diff(cells, axis=0).T) * 30).sum()))
    # the bounded surfaces are the full ones up to their bounds, and give the same barrier scores
    for i in range(n):
        near = surfaces.near[i]
        kept = np.isfinite(near)
        np.testing.assert_array_equal(near[kept], old_cwd[i][kept])
        if any(i in pair for pair in surfaces.pairs):
            np.testing.assert_array_equal(kept, old_exact[i] <= surfaces.near.bounds[i])
    np.testing.assert_array_equal(barrier_scores(surfaces.near, surfaces.pairs, 30.0, radius_m=60.0),
                                  barrier_scores(old_cwd, old_pairs, 30.0, radius_m=60.0))
    np.testing.assert_array_equal(surfaces.cwd, old_cwd)  # the full surfaces, on request


def test_ties_give_the_same_paths_and_costs():
    """Few distinct resistances make many equally cheap paths: the bounded passes settle cells in
    the full passes' order, so they pick the same ones; a zone may differ only on a tie."""
    resistance, sources, n = landscape(5, integer=True)
    old_cwd, old_zone, old_pairs, old_paths, old_exact = reference(resistance, sources, n, 30.0)
    surfaces = least_cost_corridors(resistance, sources, n, 30.0, TRANSFORM)
    assert surfaces.pairs == old_pairs
    for pair, path in zip(surfaces.pairs, surfaces.paths):
        assert path["cwd"] == old_paths[pair][0]
        np.testing.assert_array_equal(path["cells"], old_paths[pair][1])
    for i in range(n):  # complete up to the bound, cells queued at exactly the bound included
        np.testing.assert_array_equal(np.isfinite(surfaces.near[i]), old_exact[i] <= surfaces.near.bounds[i])
    differ = surfaces.zone != old_zone
    tied = (old_cwd == old_cwd.min(axis=0)).sum(axis=0) > 1
    assert not (differ & ~tied).any()
    np.testing.assert_array_equal(barrier_scores(surfaces.near, surfaces.pairs, 30.0, radius_m=90.0),
                                  barrier_scores(old_cwd, old_pairs, 30.0, radius_m=90.0))


def test_a_source_cut_off_has_no_corridor():
    resistance = np.ones((8, 12))
    resistance[:, 8] = np.inf  # source 2 is walled off
    sources = -np.ones((8, 12), int)
    sources[1, 1], sources[6, 5], sources[4, 10] = 0, 1, 2
    surfaces = least_cost_corridors(resistance, sources, 3, 10.0, Affine(10, 0, 0, 0, -10, 0))
    assert surfaces.pairs == [(0, 1)]
    assert (surfaces.zone[:, 9:] == 2).all() and (surfaces.zone[:, 8] == -1).all()
    assert surfaces.near.windows[2][2].size == 0  # in no pair: no surface computed
    assert surfaces.paths[0]["cwd"] == pytest.approx(10 * (1 + 4 * np.sqrt(2)))  # 1 straight, 4 diagonal steps
