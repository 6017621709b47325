"""Ecological network: MSPA, connectivity, resistance, corridors, circuits - by hand and analytically."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from scipy.spatial.distance import cdist

from carbonmap.errors import InputError
from carbonmap.landscape.circuits import barrier_scores, one_to_all_currents, pairwise_currents
from carbonmap.landscape.connectivity import connectivity, patch_distances
from carbonmap.landscape.corridors import least_cost_corridors
from carbonmap.landscape.mspa import mspa
from carbonmap.landscape.resistance import resistance_surface
from carbonmap.terrain import slope_degrees

# ---------------------------------------------------------------------------------- MSPA


@pytest.fixture(scope="module")
def pattern():
    """Two 11 x 11 blocks joined by a one-pixel line, with a hole, spurs, a loop, an islet
    and a missing pixel."""
    g = np.zeros((17, 30), bool)
    g[1:12, 1:12] = True  # block A
    g[1:12, 18:29] = True  # block B
    g[6, 12:18] = True  # line A-B: a bridge
    g[2, 12:15] = True  # spur out of A: a branch
    g[5:8, 5:8] = False  # hole in A: perforation around it
    g[12:15, 22] = True  # loop out of B (down) ...
    g[14, 22:27] = True
    g[12:15, 26] = True  # ... and back up into B
    g[15:17, 2:4] = True  # islet (no pixel is 2 away from background)
    mask = np.zeros_like(g)
    mask[16, 29] = True
    return np.ma.MaskedArray(g, mask=mask)


def test_mspa_classes_follow_from_the_definitions(pattern):
    out = mspa(pattern)
    assert out[3, 3] == 17 and out[9, 22] == 17  # core: more than 1 pixel from background
    assert out[1, 5] == 3 and out[11, 20] == 3  # edge along the outer background
    assert out[4, 5] == 5 and out[8, 7] == 5  # perforation around the hole
    assert out[6, 6] == 100  # the hole itself: internal background (intext)
    assert (out[6, 12:18] == 33).all()  # the line joining two cores: bridge
    assert out[6, 11] == 35 and out[6, 18] == 35  # where it crosses the edges: bridge in edge (transition)
    assert (out[2, 12:15] == 1).all()  # a dead-end spur: branch
    assert out[13, 22] == 65 and out[14, 24] == 65 and out[13, 26] == 65  # out of B and back: loop
    assert out[11, 22] == 67 and out[11, 26] == 67  # loop through the edge (transition)
    assert (out[15:17, 2:4] == 9).all()  # islet
    assert out[16, 29] == 129 and out[0, 0] == 0  # missing, background


def test_mspa_switches_width_and_connectivity(pattern):
    plain = mspa(pattern, transition=False, intext=False)
    assert plain[6, 11] == 3 and plain[11, 22] == 3  # no transitions: the edge stays edge
    assert plain[6, 6] == 0  # no internal / external distinction
    wide = mspa(pattern, edge_width=2)
    # an 11 x 11 block has a 7 x 7 core at width 2 (less the hole's zone in A); B is whole
    assert (wide[1:12, 18:29] == 17).sum() == 7 * 7
    diagonal = np.zeros((12, 21), bool)
    diagonal[:, :6] = diagonal[:, 15:] = True
    for k in range(9):  # a staircase touching only at corners from block to block
        diagonal[1 + k, 6 + k] = True
    assert (mspa(diagonal, connectivity=8)[5, 10]) == 33  # joined at corners: a bridge
    assert (mspa(diagonal, connectivity=4)[5, 10]) == 9  # with 4-connectivity each step is an islet
    with pytest.raises(InputError, match="edge width"):
        mspa(diagonal, edge_width=0)


# ----------------------------------------------------------------------------- connectivity


def test_iic_and_pc_on_a_three_patch_chain():
    areas = np.array([1.0, 2.0, 3.0])
    d = np.array([[0, 1000, 3000], [1000, 0, 1000], [3000, 1000, 0]], dtype=float)
    iic = connectivity(areas, d, 10.0, threshold_m=1500)
    # links 1-2 and 2-3: sum a_i a_j / (1 + nl_ij) = 14 + 2 x (2/2 + 6/2 + 3/3) = 24
    assert iic.index == pytest.approx(24 / 100)
    assert iic.patches["dI"][1] == pytest.approx(100 * (24 - 10) / 24)  # without 2: 1 + 9, no link
    pc = connectivity(areas, d, 10.0, probability=(0.5, 1000))
    # p12 = p23 = 0.5; p13: direct 0.125, through 2 0.25 -> p*13 = 0.25
    total = 14 + 2 * (2 * 0.5) + 2 * (6 * 0.5) + 2 * (3 * 0.25)
    assert pc.index == pytest.approx(total / 100)
    middle = pc.patches.iloc[1]
    assert middle["dI"] == pytest.approx(100 * (total - (10 + 2 * 3 * 0.125)) / total)
    assert middle["dI_intra"] == pytest.approx(100 * 4 / total)
    assert middle["dI_flux"] == pytest.approx(100 * 2 * (2 * 1 * 0.5 + 2 * 3 * 0.5) / total)
    assert middle["dI_connector"] == pytest.approx(100 * 2 * 3 * (0.25 - 0.125) / total)
    assert pc.patches.iloc[0]["dI_connector"] == pytest.approx(0, abs=1e-12)  # an end of the chain connects nobody


def test_patch_distances_are_edge_to_edge():
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 5, (25, 30))
    ids = np.array([1, 2, 3, 4])
    out = patch_distances(labels, ids, 10.0)
    for i in range(4):
        for j in range(4):
            a, b = np.argwhere(labels == ids[i]), np.argwhere(labels == ids[j])
            assert out[i, j] == pytest.approx(0 if i == j else cdist(a, b).min() * 10)
    assert np.isinf(patch_distances(labels, ids, 10.0, max_distance_m=5.0)[0, 1]) or out[0, 1] <= 5


def test_patch_distances_equal_every_cell_pair_among_many_patches():
    """Many patches of every size (a large one wrapping others, slivers, single cells): each pair's
    distance is the shortest of all its cell pairs, also with a distance limit (inf beyond it)."""
    from scipy import ndimage

    rng = np.random.default_rng(11)
    habitat = ndimage.binary_opening(rng.random((90, 120)) < 0.55) | (rng.random((90, 120)) < 0.02)
    habitat[5:85, 5] = habitat[5, 5:115] = habitat[85, 5:115] = habitat[5:86, 115] = True  # a ring
    labels, n = ndimage.label(habitat)
    ids = np.arange(1, n + 1)
    assert n > 40 and np.bincount(labels.ravel())[1:].max() > 300
    cells = [np.argwhere(labels == i) for i in ids]
    expected = np.array([[cdist(a, b).min() * 30.0 for b in cells] for a in cells])
    np.testing.assert_allclose(patch_distances(labels, ids, 30.0), expected, rtol=1e-12, atol=0)
    limited = patch_distances(labels, ids, 30.0, max_distance_m=400.0)
    np.testing.assert_allclose(limited, np.where(expected <= 400.0, expected, np.inf), rtol=1e-12, atol=0)
    assert np.isinf(limited).sum() > n and np.isfinite(limited).sum() > 3 * n


# ------------------------------------------------------------------------- resistance


def test_resistance_surface_modifiers():
    legend = ["forest", "cropland", "built_up"]
    categories = np.array([[0, 1, 2, -1]])
    plain = resistance_surface(categories, legend, 30.0)
    # built-up land raises resistance around it: x (1 + e^(-d / 500 m)), doubling on itself
    expected = [1.0 * (1 + np.exp(-60 / 500)), 100.0 * (1 + np.exp(-30 / 500)), 1000.0 * 2, np.inf]
    assert plain.ravel() == pytest.approx(expected)
    slope = resistance_surface(categories[:, :2], legend, 30.0, slope_deg=np.array([[30.0, 15.0]]),
                               modifiers={"built_factor": 0})
    assert slope.tolist() == [[2.0, 150.0]]  # 30 degrees doubles (default s_0)
    roads = np.zeros((1, 4), bool)
    roads[0, 0] = True
    near = resistance_surface(np.zeros((1, 4), int), ["forest"], 200.0, roads=roads)
    assert near[0, 0] == pytest.approx(2.0) and near[0, 1] == pytest.approx(1 + np.exp(-1))  # D_r = 200 m
    flat = np.add.outer(np.arange(5.0), np.zeros(5)) * 30.0  # rises 30 m per 30 m row: 45 degrees
    assert slope_degrees(flat, 30.0)[2, 2] == pytest.approx(45.0)
    with pytest.raises(InputError, match="no resistance for carbon categories"):
        resistance_surface(categories, ["forest", "cropland", "lava"], 30.0)


# --------------------------------------------------------------------------- corridors


def test_least_cost_corridor_takes_the_cheap_detour():
    resistance = np.full((7, 9), 10.0)
    resistance[5, :] = 1.0  # a cheap row two cells below the straight line
    sources = -np.ones((7, 9), int)
    sources[3, 0], sources[3, 8] = 0, 1
    surfaces = least_cost_corridors(resistance, sources, 2, 30.0, Affine(30, 0, 0, 0, -30, 0))
    assert surfaces.pairs == [(0, 1)]
    path = surfaces.paths[0]
    assert path["cells"][:, 0].max() == 5  # it goes down to the cheap row
    # 2 steps down and up (mean 10 then mean (10 + 1)/2, x 30 m each) and 8 along the row
    assert path["cwd"] == pytest.approx(2 * (10 * 30 + 5.5 * 30) + 8 * 30)
    assert path["length_m"] == pytest.approx(12 * 30) and path["mean_resistance"] == pytest.approx(1170 / 360)


def test_corridors_link_only_neighbouring_cost_zones():
    resistance = np.ones((5, 30))
    sources = -np.ones((5, 30), int)
    sources[2, 0], sources[2, 15], sources[2, 29] = 0, 1, 2
    surfaces = least_cost_corridors(resistance, sources, 3, 10.0, Affine(10, 0, 0, 0, -10, 0))
    assert surfaces.pairs == [(0, 1), (1, 2)]  # 0 and 2 are separated by 1's zone


# ----------------------------------------------------------------------------- circuits


def test_series_and_parallel_resistors():
    strip = np.full((1, 6), 2.0)
    ends = -np.ones((1, 6), int)
    ends[0, 0], ends[0, -1] = 0, 1
    series = pairwise_currents(strip, ends, neighbours=4)
    assert series.resistance[0, 1] == pytest.approx(5 * 2.0)  # five resistors of (2 + 2) / 2
    assert series.current.ravel() == pytest.approx(np.ones(6))  # 1 A through every cell
    double = np.full((2, 6), 2.0)
    sides = -np.ones((2, 6), int)
    sides[:, 0], sides[:, -1] = 0, 1
    parallel = pairwise_currents(double, sides, neighbours=4)
    assert parallel.resistance[0, 1] == pytest.approx(5 * 2.0 / 2)  # two strips in parallel
    assert parallel.current[:, 1:-1] == pytest.approx(np.full((2, 4), 0.5))  # half the current each
    assert parallel.current[:, [0, -1]] == pytest.approx(np.ones((2, 2)))  # a region is one node: 1 A on its cells
    # diagonals: a 2 x 2 block, source top-left, ground bottom-right, all cells resistance 1:
    # two paths of two unit resistors (2 each, in parallel: 1) and the direct diagonal of
    # sqrt(2): 1 || sqrt(2)
    block = np.ones((2, 2))
    corners = -np.ones((2, 2), int)
    corners[0, 0], corners[1, 1] = 0, 1
    assert pairwise_currents(block, corners).resistance[0, 1] == pytest.approx(1 / (1 + 1 / np.sqrt(2)))


def test_averaging_resistances_or_conductances():
    two = np.array([[1.0, 3.0]])
    ends = np.array([[0, 1]])
    assert pairwise_currents(two, ends).resistance[0, 1] == pytest.approx(2.0)  # (1 + 3) / 2
    # mean conductance (1 + 1/3) / 2 = 2/3, so 1.5 ohm
    assert pairwise_currents(two, ends, average="conductance").resistance[0, 1] == pytest.approx(1.5)


def test_only_the_active_pair_is_short_circuited():
    strip = np.ones((1, 7))
    regions = -np.ones((1, 7), int)
    regions[0, 0], regions[0, 2:5], regions[0, 6] = 0, 1, 2
    result = pairwise_currents(strip, regions, neighbours=4)
    assert result.resistance[0, 2] == pytest.approx(6.0)  # region 1 is six ordinary cells away, not a short
    assert result.resistance[0, 1] == pytest.approx(2.0) and result.resistance[1, 2] == pytest.approx(2.0)
    # every pair sends 1 A along the strip: cell 1 carries it for (0, 1) and (0, 2); region 1's
    # cells carry it as ordinary cells for (0, 2) and as one node for (0, 1) and (1, 2)
    assert result.current.ravel() == pytest.approx([2, 2, 3, 3, 3, 2, 2])
    shorted = pairwise_currents(strip, regions, neighbours=4, short_circuits=(regions == 1).astype(int))
    assert shorted.resistance[0, 2] == pytest.approx(4.0)  # a short-circuit region is shorted in every pair


def test_disconnected_pairs_and_isolated_cells():
    land = np.ones((5, 9))
    land[:, 6] = np.nan  # a wall of nodata cuts the right edge off
    land[3, 1:4] = land[4, 1] = land[4, 3] = np.nan  # cell (4, 2) is an isolated valid cell
    sources = -np.ones((5, 9), int)
    sources[2, 0], sources[1, 4], sources[2, 8] = 0, 1, 2
    alone = np.where(np.arange(9) < 6, land, np.nan)  # the same landscape without the cut-off part
    reference = pairwise_currents(alone, np.where(sources == 2, -1, sources), n_regions=2)
    for solver in ("direct", "amg"):
        result = pairwise_currents(land, sources, solver=solver, tolerance=1e-10)
        assert np.isinf(result.resistance[0, 2]) and np.isinf(result.resistance[1, 2])
        assert result.disconnected == [(0, 2), (1, 2)]
        assert result.resistance[0, 1] == pytest.approx(reference.resistance[0, 1], rel=1e-8)
        assert np.nansum(result.current[:, 7:]) == 0  # no current for the disconnected pairs
        assert result.current[4, 2] == 0 and np.isnan(result.current[3, 2])


def test_one_to_all_and_all_to_one_modes():
    strip = np.ones((1, 7))
    sources = -np.ones((1, 7), int)
    sources[0, 0], sources[0, 3], sources[0, 6] = 0, 1, 2
    result = one_to_all_currents(strip, sources, neighbours=4)
    # the middle source sees both ends in parallel (3 || 3); an end sees only the middle (the
    # grounded middle takes all its current, none reaches the far end)
    assert result.resistance[1] == pytest.approx(1.5)
    assert result.resistance[0] == pytest.approx(3.0) == result.resistance[2]
    # cells 1 and 2 carry 1 A from source 0 and 0.5 A from source 1; every ampere is counted
    assert result.current[0, 1:3] == pytest.approx([1.5, 1.5])
    assert result.current[0, 0] == pytest.approx(1.0 + 0.5)  # its own ampere, and half of the middle's
    gathered = one_to_all_currents(strip, sources, neighbours=4, direction="all-to-one")
    assert np.isnan(gathered.resistance).all()
    # ground 0: 2 A pass cells 1-2; ground 1: 1 A from each side; ground 2: 1 A from source 0
    assert gathered.current[0, 1] == pytest.approx(2 + 1 + 1)
    assert gathered.current[0, 3] == pytest.approx(2 + 2 + 2)  # the middle injects 1 A or takes 2 A in
    with pytest.raises(InputError, match="unknown circuit mode"):
        one_to_all_currents(strip, sources, direction="pairwise")


@pytest.mark.parametrize(("option", "value", "message"), [("neighbours", 6, "neighbour rule"),
                                                          ("average", "harmonic", "unknown average"),
                                                          ("solver", "cholmod", "unknown solver")])
def test_circuit_options_are_checked(option, value, message):
    sources = np.array([[0, -1, 1]])
    with pytest.raises(InputError, match=message):
        pairwise_currents(np.ones((1, 3)), sources, **{option: value})
    with pytest.raises(InputError, match="zero or negative"):
        pairwise_currents(np.array([[1.0, 0.0, 1.0]]), sources)
    with pytest.raises(InputError, match="at least two"):
        pairwise_currents(np.ones((1, 3)), np.array([[0, -1, -1]]))


def test_direct_and_multigrid_solvers_agree():
    rng = np.random.default_rng(2)
    resistance = np.exp(rng.uniform(0, 5, (60, 60)))
    sources = -np.ones((60, 60), int)
    sources[5:8, 5:8], sources[50:53, 10:13], sources[30:33, 50:53] = 0, 1, 2
    sources[40, 40] = 3  # and a single cell
    direct = pairwise_currents(resistance, sources, solver="direct")
    amg = pairwise_currents(resistance, sources, solver="amg", tolerance=1e-10)
    np.testing.assert_allclose(amg.resistance, direct.resistance, rtol=1e-8)
    np.testing.assert_allclose(amg.current, direct.current, rtol=1e-6, atol=1e-9)
    for direction in ("one-to-all", "all-to-one"):
        a = one_to_all_currents(resistance, sources, direction=direction, solver="amg", tolerance=1e-10)
        d = one_to_all_currents(resistance, sources, direction=direction, solver="direct")
        np.testing.assert_allclose(a.resistance, d.resistance, rtol=1e-8)
        np.testing.assert_allclose(a.current, d.current, rtol=1e-6, atol=1e-9)


def test_barrier_scores_point_at_the_wall():
    resistance = np.ones((9, 21))
    resistance[:, 10] = 1000.0  # a wall across the strip
    sources = -np.ones((9, 21), int)
    sources[:, 0], sources[:, 20] = 0, 1
    surfaces = least_cost_corridors(resistance, sources, 2, 10.0, Affine(10, 0, 0, 0, -10, 0))
    scores = barrier_scores(surfaces.cwd, surfaces.pairs, 10.0, radius_m=10.0)
    assert np.unravel_index(np.argmax(scores), scores.shape)[1] == 10  # the wall
    # restoring a 10 m disc at the wall: the path loses the wall cell's crossing (two half
    # steps at (1 + 1000) / 2 x 10 m) and gains 2 x 10 m of restored land
    lcd = float(np.min(surfaces.cwd[0] + surfaces.cwd[1]))
    assert scores.max() <= lcd / 20 and scores.max() > 400
    assert scores[:, :5].max() == 0  # far from the wall nothing improves


# ---------------------------------------------------------------------------------- coarser cells


def _land_cover_file(path, codes, cell):
    import rasterio

    profile = {"driver": "GTiff", "width": codes.shape[1], "height": codes.shape[0], "count": 1, "dtype": "uint8",
               "crs": "EPSG:32650", "transform": Affine(cell, 0, 500000, 0, -cell, 3500000), "nodata": 0}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(np.ma.filled(codes, 0).astype("uint8"), 1)
    return path


def test_a_coarser_network_is_the_network_of_the_majority_land_cover(tmp_path):
    """resolution_m = 2 cells: the chain runs on the block-majority land cover (60 m cells) and
    gives what the same chain gives on that land cover written at 60 m: the same MSPA, sources,
    corridors and currents, on a grid of ceil(H / 2) x ceil(W / 2) cells."""
    from carbonmap.grid import block_majority
    from carbonmap.landscape.network import NetworkSettings, network_from_rasters

    rng = np.random.default_rng(3)
    codes = np.where(rng.random((81, 95)) < 0.15, 8, 1).astype("uint8")  # cropland with villages
    for r, c in ((5, 5), (10, 60), (50, 20), (55, 70)):  # four forests of 24 x 24 cells (52 ha)
        codes[r:r + 24, c:c + 24] = 2
    codes[40:42, :] = 0  # a strip of no data
    fine = _land_cover_file(tmp_path / "fine.tif", codes, 30.0)
    coarse = _land_cover_file(tmp_path / "coarse.tif", block_majority(np.ma.masked_equal(codes, 0), 2), 60.0)
    settings = dict(min_core_area_ha=20, max_sources=4, edge_width_m=60, corridor_width_m=120,
                    circuit_max_cells=100000)
    land, resistance, result = network_from_rasters(fine, "clcd", settings=NetworkSettings(resolution_m=60, **settings))
    land_60, resistance_60, result_60 = network_from_rasters(coarse, "clcd", settings=NetworkSettings(**settings))
    assert land.index.shape == (41, 48) and land.resolution == 60.0 and land.transform == land_60.transform
    np.testing.assert_array_equal(result.mspa, result_60.mspa)
    np.testing.assert_array_equal(resistance, resistance_60)
    assert len(result.sources) == 4 and result.sources.geometry.equals(result_60.sources.geometry)
    assert len(result.corridors) >= 2
    np.testing.assert_array_equal(result.corridor_lines.geometry.values, result_60.corridor_lines.geometry.values)
    np.testing.assert_array_equal(result.current, result_60.current)
    from carbonmap.themes.network import Network  # what screening reads: back on the 30 m grid

    on_grid = Network(result, NetworkSettings(**settings), 2).on_grid(codes.shape)
    assert on_grid.mspa.shape == on_grid.core_labels.shape == (81, 95)
    np.testing.assert_array_equal(on_grid.core_labels[::2, ::2], result.core_labels)
    np.testing.assert_array_equal(on_grid.mspa[1::2, 1::2], result.mspa[:40, :47])


@pytest.mark.parametrize("resolution_m", [45.0, 15.0])
def test_a_network_cell_not_a_multiple_of_the_land_covers_is_refused(tmp_path, resolution_m):
    from carbonmap.landscape.network import NetworkSettings, network_from_rasters

    fine = _land_cover_file(tmp_path / "lc.tif", np.full((20, 20), 2, "uint8"), 30.0)
    with pytest.raises(InputError) as caught:
        network_from_rasters(fine, "clcd", settings=NetworkSettings(resolution_m=resolution_m))
    assert "lc.tif" in str(caught.value) and "key 'network.resolution_m'" in str(caught.value)
    assert "e.g. 90" in str(caught.value)


def test_the_command_names_its_option_for_a_bad_resolution(tmp_path):
    from click.testing import CliRunner

    from carbonmap.cli import main

    fine = _land_cover_file(tmp_path / "lc.tif", np.full((20, 20), 2, "uint8"), 30.0)
    result = CliRunner().invoke(main, ["ecological-network", str(fine), "--code-system", "clcd", "--resolution", "45",
                                       "-o", str(tmp_path / "out")])
    assert result.exit_code == 1 and "lc.tif: option --resolution: the network's cells of 45 m" in result.output
    assert "e.g. 90" in result.output and not (tmp_path / "out").exists()
