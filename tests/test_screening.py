"""Screening: exclusions on hand-built rasters, score monotonicity, growth by hand, connectivity
gain by hand, scenario totals, rooftop packages by hand."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from affine import Affine
from scipy import ndimage
from scipy.sparse import coo_array

from carbonmap.coefficients import (
    afforestation_growth,
    afforestation_rules,
    afforestation_site_preparation,
    screening_parameters,
)
from carbonmap.errors import InputError
from carbonmap.landscape.connectivity import (
    connectivity,
    cross_distances,
    patch_distances,
    pc_gain,
    pc_index,
)
from carbonmap.screening import (
    afforestation_sites,
    rank_rooftops,
    restoration_scenarios,
    rooftop_packages,
    sequestration_t_co2_ha,
    weighted_score,
)
from carbonmap.screening.afforestation import CANDIDATE, Habitat
from carbonmap.screening.restoration import pick_within_budget

CRS = "EPSG:32650"
RES = 100.0  # 1 ha cells
TRANSFORM = Affine(RES, 0, 500_000, 0, -RES, 3_500_000)
LEGEND = ["barren", "grassland", "cropland", "built_industrial", "water", "wetland_marsh", "forest"]


def _reason_of(result, reason_text: str) -> int:
    table = result.reason_table
    return int(table.loc[table["reason"].str.startswith(reason_text), "code"].iloc[0])


def _landscape():
    """A 12 x 12 landscape: every rule has a block to exclude (indices into LEGEND)."""
    cat = np.zeros((12, 12), dtype=np.int16)  # barren everywhere ...
    cat[0:3, 6:12] = 2  # cropland
    cat[3:6, 6:12] = 3  # built-up
    cat[6:8, 6:12] = 4  # water
    cat[8:10, 6:12] = 5  # wetland
    cat[10:12, 6:12] = 6  # forest
    cat[6:12, 0:3] = 1  # grassland (sparse where NDVI is low)
    ndvi = np.full(cat.shape, 0.1)
    ndvi[9:12, 0:3] = 0.8  # dense grassland
    slope = np.full(cat.shape, 5.0)
    slope[0:2, 0:2] = 40.0  # too steep
    slope[2:6, 3:6] = 20.0  # the terrace band
    zones = {"permanent_basic_farmland": np.zeros(cat.shape, bool)}
    zones["permanent_basic_farmland"][4:6, 0:3] = True
    cat[0, 4] = -1  # no data
    return cat, ndvi, slope, zones


def _sites(**kwargs):
    cat, ndvi, slope, zones = _landscape()
    cat = kwargs.pop("categories", cat)
    params = {**screening_parameters(), "afforestation_min_patch_area_ha": 2.0, **kwargs.pop("params", {})}
    args = dict(rules=afforestation_rules(), parameters=params, site_preparation=afforestation_site_preparation(),
                growth=afforestation_growth(), tree_type="broadleaf_subtropical", slope_deg=slope, ndvi=ndvi,
                zones=zones, precipitation_mm=np.full(cat.shape, 1200.0))
    args.update(kwargs)
    return afforestation_sites(cat, LEGEND, RES, TRANSFORM, CRS, **args)


def test_every_exclusion_removes_what_it_should():
    result = _sites()
    reasons = result.reasons
    cat, *_ = _landscape()
    assert reasons[0, 4] == 0  # no data
    assert (reasons[0:2, 0:2] == _reason_of(result, "slope above 35")).all()
    assert (reasons[4:6, 0:3] == _reason_of(result, "permanent basic farmland")).all()
    assert (reasons[0:3, 6:12] == _reason_of(result, "cropland")).all()
    assert (reasons[3:6, 6:12] == _reason_of(result, "built-up land")).all()
    assert (reasons[6:8, 6:12] == _reason_of(result, "water")).all()
    assert (reasons[8:10, 6:12] == _reason_of(result, "wetland")).all()
    assert (reasons[10:12, 6:12] == _reason_of(result, "forest")).all()
    assert (reasons[9:12, 0:3] == _reason_of(result, "grassland with vegetation cover")).all()
    # candidates: barren and sparse grassland outside every rule
    expected = np.zeros(cat.shape, bool)
    expected[0:6, 0:6] = True
    expected[0:2, 0:2] = False  # steep
    expected[4:6, 0:3] = False  # farmland
    expected[0, 4] = False  # no data
    expected[6:9, 0:6] = True  # sparse grassland and barren below
    expected[9:12, 3:6] = True  # barren
    assert np.array_equal(reasons == CANDIDATE, expected)
    # every hectare is explained once
    assert result.reason_table["area_ha"].sum() == pytest.approx((cat >= 0).sum() * 1.0)
    assert result.sites["area_ha"].sum() == pytest.approx(expected.sum())
    terrace = result.sites.loc[result.sites["slope_mean_deg"] > 15]
    assert (terrace["technique"].str.startswith("level terraces") | (terrace["slope_mean_deg"] < 15)).all()


def test_small_patches_vacated_land_and_missing_ndvi():
    cat, ndvi, slope, zones = _landscape()
    cat[:] = 6  # forest everywhere ...
    cat[3, 3] = 0  # ... but one barren cell (1 ha < 2 ha)
    cat[5:8, 5:8] = 3  # a 9 ha industrial block
    vacated = np.zeros(cat.shape, bool)
    vacated[5:8, 5:7] = True  # 6 ha of it vacated
    result = _sites(vacated=vacated, categories=cat)
    assert result.reasons[3, 3] == _reason_of(result, "patch smaller than 2 ha")
    assert np.array_equal(result.reasons == CANDIDATE, vacated)
    assert (result.reasons[5:8, 7] == _reason_of(result, "built-up land")).all()
    assert list(result.sites["land_category"]) == ["built_industrial"]
    grass = _sites(ndvi=None)  # grassland cover unknown: left out
    assert (grass.reasons[6:12, 0:3] == _reason_of(grass, "grassland: cover unknown")).all()
    assert any("NDVI" in note.en and "NDVI" in note.zh for note in grass.notes)


def test_dryness_recommends_shrubs_then_grass():
    cat = np.full((12, 12), 6, dtype=np.int16)  # forest, with three barren blocks apart
    rain = np.zeros(cat.shape)
    for column, mm in ((0, 1200.0), (4, 300.0), (8, 150.0)):
        cat[0:3, column:column + 3] = 0
        rain[0:3, column:column + 3] = mm
    result = _sites(categories=cat, precipitation_mm=rain, slope_deg=np.full(cat.shape, 5.0))
    types = dict(zip(result.sites["precipitation_mm_yr"], result.sites["vegetation_type"]))
    assert types == {1200.0: "broadleaf_subtropical", 300.0: "shrub", 150.0: "grass"}


def test_thirty_year_sequestration_matches_the_growth_curve_by_hand():
    # broadleaf_subtropical: B_max 180 t d.m./ha, k 0.05, p 3, root:shoot 0.24, carbon fraction 0.47
    by_hand = 180 * (1 - math.exp(-0.05 * 30)) ** 3 * (1 + 0.24) * 0.47 * 44 / 12
    assert by_hand == pytest.approx(180.35, abs=0.01)
    growth = afforestation_growth()
    assert sequestration_t_co2_ha("broadleaf_subtropical", 30, growth)[0] == pytest.approx(by_hand, rel=1e-12)
    result = _sites()
    sites = result.sites
    assert np.allclose(sites["sequestration_t_co2"], sites["area_ha"] * by_hand)
    assert np.allclose(sites["sink_t_co2_yr"], sites["area_ha"] * by_hand / 30)
    with pytest.raises(InputError, match="no growth parameters"):
        sequestration_t_co2_ha("baobab", 30, growth)


def test_score_ranks_a_site_better_on_every_criterion_higher():
    rng = np.random.default_rng(7)
    criteria = pd.DataFrame(rng.normal(size=(60, 3)), columns=["a", "b", "c"])
    criteria.loc[60] = criteria.loc[0] + [0.1, 0.0, -0.1]  # better on a and c (c: lower is better), equal on b
    directions = {"a": True, "b": True, "c": False}
    scores = weighted_score(criteria, weights={"a": 0.5, "b": 0.3, "c": 0.2},
                            higher_is_better=directions)["score"].to_numpy()
    assert scores[60] > scores[0]
    values = criteria.to_numpy() * np.array([1, 1, -1])  # higher = better on every column
    for i in range(len(values)):
        dominated = np.all(values[i] >= values, axis=1) & np.any(values[i] > values, axis=1)
        assert (scores[i] > scores[dominated]).all()
    # by hand: two candidates, the better one on every criterion scores 1, the other 0
    two = weighted_score(pd.DataFrame({"a": [1.0, 2.0], "c": [5.0, 3.0]}), weights={"a": 1, "c": 3},
                         higher_is_better={"a": True, "c": False})
    assert list(two["score"]) == [0.0, 1.0]
    with pytest.raises(InputError, match="no criterion"):
        weighted_score(criteria, weights={"z": 1}, higher_is_better=directions)


def test_connectivity_gain_by_hand():
    """Two 1-ha patches d0 apart (p = 0.5), a 1-ha site d0 beyond the second (2 d0 from the first).

    PC numerators: before 1 + 1 + 2 x 0.5 = 3; after, with p*(site, 1) = max(0.25, 0.5 x 0.5):
    3 + 1 + 2 x (0.5 + 0.25) = 5.5; gain = 100 (5.5 - 3) / 3.
    """
    d0 = 1000.0
    distances = np.array([[0, d0], [d0, 0]])
    gain = pc_gain([1, 1], distances, 10, [1.0, 0.0], np.array([[2 * d0, 5 * d0], [d0, 5 * d0]]),
                   probability=(0.5, d0))
    assert gain[0] == pytest.approx(100 * 2.5 / 3)
    assert gain[1] == 0.0  # a site adding no habitat gains nothing
    assert pc_index([1, 1], distances, 10, probability=(0.5, d0)) == pytest.approx(3 / 100)
    assert pc_index([1, 1], distances, 10, probability=(0.5, d0)) == pytest.approx(
        connectivity([1, 1], distances, 10, probability=(0.5, d0)).index)


def test_connectivity_gain_equals_a_new_search_with_the_site_and_a_cutoff_loses_at_most_its_probability():
    """Each site's gain (found from the patches' p* in O(n^2)) equals PC recomputed on the graph with
    the site added; leaving out links and paths below p_min lowers PC by at most p_min (sum a)^2 / A^2."""
    rng = np.random.default_rng(5)
    xy, sites = rng.random((25, 2)) * 20_000, rng.random((40, 2)) * 20_000
    distances = np.hypot(*(xy[:, None] - xy[None]).transpose(2, 0, 1))
    cross = np.hypot(*(xy[:, None] - sites[None]).transpose(2, 0, 1))
    areas, new = rng.random(25) * 50, rng.random(40) * 5
    probability, landscape = (0.5, 2000.0), 40_000.0
    gains = pc_gain(areas, distances, landscape, new, cross, probability=probability)
    before = pc_index(areas, distances, landscape, probability=probability)
    for s in range(40):
        joined = np.block([[distances, cross[:, [s]]], [cross[:, [s]].T, np.zeros((1, 1))]])
        after = pc_index(np.append(areas, new[s]), joined, landscape, probability=probability)
        assert gains[s] == pytest.approx(100 * (after - before) / before, rel=1e-9)
    cut = pc_index(areas, distances, landscape, probability=probability, min_probability=1e-3)
    assert before - 1e-3 * areas.sum() ** 2 / landscape**2 <= cut < before
    near = distances / 100  # every pair likelier than 1e-3: nothing is left out
    assert pc_index(areas, near, landscape, probability=probability, min_probability=1e-3) == pytest.approx(
        pc_index(areas, near, landscape, probability=probability), rel=1e-12)


def _floyd_warshall_pc(areas, distances, landscape, probability, min_probability=None):
    """PC the plain way: every link's cost -ln p_ij = k d_ij, links above -ln(min_probability) left
    out, Floyd-Warshall over all patches, paths costlier than -ln(min_probability) left out."""
    p0, d0 = probability
    cost = -np.log(p0) / d0 * np.asarray(distances, dtype=float)
    limit = np.inf if min_probability is None else -np.log(min_probability)
    cost[cost > limit] = np.inf
    np.fill_diagonal(cost, 0.0)
    for k in range(len(cost)):
        cost = np.minimum(cost, cost[:, [k]] + cost[[k], :])
    reach = np.where(cost <= limit, np.exp(-cost), 0.0)
    return float(areas @ reach @ areas) / landscape**2, reach


def _patch_field(rng, n, size, clusters):
    """`n` round patches in `clusters` groups far apart: their areas [ha] and edge-to-edge distances [m]
    (0 where they overlap, inf between groups): stepping stones are many, the triangle inequality fails."""
    centres = rng.integers(0, clusters, n)[:, None] * 10 * size + rng.random((n, 2)) * size
    radii = rng.random(n) * 300
    gaps = np.hypot(*(centres[:, None] - centres[None]).transpose(2, 0, 1)) - radii[:, None] - radii[None]
    distances = np.where(gaps > 3 * size, np.inf, np.maximum(gaps, 0.0))  # unmeasured, as patch_distances'
    np.fill_diagonal(distances, 0.0)
    return distances, np.pi * radii**2 / 1e4


def test_pc_equals_floyd_warshall_with_a_cutoff_and_separate_components():
    """PC (with its link pruning and bounded Dijkstra on 260 patches, above the pruning size) equals
    Floyd-Warshall on -ln p: three groups of patches that cannot reach each other, patches that
    touch (d = 0), and a cutoff that removes both direct links and longer chains."""
    from carbonmap.landscape.connectivity import _PRUNE_FROM, _pc_reach

    rng = np.random.default_rng(19)
    distances, areas = _patch_field(rng, 260, 12_000.0, clusters=3)
    assert len(areas) >= _PRUNE_FROM and (distances[np.triu_indices(260, 1)] == 0).sum() > 0
    probability, landscape = (0.5, 500.0), 5e5
    weights = -np.log(probability[0]) / probability[1] * distances
    for cutoff in (None, 1e-3):
        expected, reach = _floyd_warshall_pc(areas, distances, landscape, probability, cutoff)
        assert pc_index(areas, distances, landscape, probability=probability,
                        min_probability=cutoff) == pytest.approx(expected, rel=1e-12)
        got = _pc_reach(weights, np.ones(260, dtype=bool), min_probability=cutoff)
        np.testing.assert_allclose(got, reach, rtol=1e-12, atol=0)
        # the same links as a sparse matrix, one direction stored, touching patches as explicit zeros
        first, second = np.nonzero(np.triu(np.isfinite(distances), k=1))
        links = coo_array((distances[first, second], (first, second)), shape=distances.shape)
        assert (links.data == 0).sum() > 0
        assert pc_index(areas, links, landscape, probability=probability,
                        min_probability=cutoff) == pytest.approx(expected, rel=1e-12)
        assert (reach == 0).sum() > 2 * (260 // 3) ** 2  # the groups stay apart
        # stored in one direction only, or each direction differently: the nearer one links them
        longer = distances + np.triu(rng.random(distances.shape) * 400, k=1)  # finite, inf stay inf
        assert pc_index(areas, longer.T, landscape, probability=probability,
                        min_probability=cutoff) == pytest.approx(expected, rel=1e-12)
    _, full = _floyd_warshall_pc(areas, distances, landscape, probability)
    _, cut = _floyd_warshall_pc(areas, distances, landscape, probability, 1e-3)
    direct = np.exp(-weights)
    # the cutoff matters: pairs joined only by chains less likely than it, pairs whose direct link is
    # below it but a chain above, and chains that beat the direct link
    assert ((full > 0) & (cut == 0)).sum() > 1000
    assert ((direct < 1e-3) & (cut > 1e-3)).sum() > 1000
    assert ((full > direct * (1 + 1e-9)) & (cut > 0)).sum() > 1000
    # a patch removed (the importance loop of connectivity): the same as the reference without it
    keep = np.ones(260, dtype=bool)
    keep[np.argmax((full > direct * (1 + 1e-9)).sum(axis=0))] = False  # the busiest stepping stone
    _, without = _floyd_warshall_pc(areas[keep], distances[np.ix_(keep, keep)], landscape, probability, 1e-3)
    got = _pc_reach(weights, keep, min_probability=1e-3)[np.ix_(keep, keep)]
    np.testing.assert_allclose(got, without, rtol=1e-12, atol=0)


def _floyd_warshall_iic(areas, links):
    """IIC's numerator the plain way: 1 / (1 + fewest links) by Floyd-Warshall, 0 where unconnected."""
    hops = np.where(links, 1.0, np.inf)
    np.fill_diagonal(hops, 0.0)
    for k in range(len(hops)):
        hops = np.minimum(hops, hops[:, [k]] + hops[[k], :])
    return float(areas @ np.where(np.isfinite(hops), 1 / (1 + hops), 0.0) @ areas)


def test_patch_importance_equals_each_patch_removed_and_searched_again():
    """dPC and dIIC (with PC's link pruning: 260 patches, above the pruning size) equal the loss when a
    patch is removed and every path is searched again (Floyd-Warshall), for the stepping stones, the
    ends of paths and patches in another group; dPC's parts add up, and patches no best path runs
    through connect nothing."""
    from carbonmap.landscape.connectivity import _PRUNE_FROM

    rng = np.random.default_rng(23)
    distances, areas = _patch_field(rng, 260, 12_000.0, clusters=3)
    probability, landscape, threshold = (0.5, 500.0), 5e5, 400.0
    assert len(areas) >= _PRUNE_FROM
    pc = connectivity(areas, distances, landscape, probability=probability).patches
    iic = connectivity(areas, distances, landscape, threshold_m=threshold).patches
    pc_total, reach = _floyd_warshall_pc(areas, distances, landscape, probability)
    direct = np.exp(-np.log(probability[0]) / probability[1] * distances)
    stones = np.argsort(-(reach > direct * (1 + 1e-9)).sum(axis=0))[:12]  # patches beaten by paths most
    checked = np.unique(np.r_[stones, rng.choice(260, 12, replace=False)])
    iic_total = _floyd_warshall_iic(areas, distances <= threshold)
    for k in checked:
        keep = np.arange(260) != k
        without, _ = _floyd_warshall_pc(areas[keep], distances[np.ix_(keep, keep)], landscape, probability)
        assert pc.loc[k, "dI"] == pytest.approx(100 * (pc_total - without) / pc_total, rel=1e-9, abs=1e-12)
        iic_without = _floyd_warshall_iic(areas[keep], (distances <= threshold)[np.ix_(keep, keep)])
        assert iic.loc[k, "dI"] == pytest.approx(100 * (iic_total - iic_without) / iic_total, rel=1e-9, abs=1e-12)
    assert (pc.loc[checked, "dI_connector"] > 0.1).sum() >= 3  # stepping stones were among them
    parts = pc[["dI_intra", "dI_flux", "dI_connector"]].sum(axis=1)
    np.testing.assert_allclose(parts, pc["dI"], rtol=1e-12)
    assert (pc["dI_connector"] == 0).sum() > 20  # no best path runs through them


def test_link_distances_leave_out_only_links_pc_never_needs():
    """Every entry of link_distances is patch_distances' or inf, most pairs within reach are left out,
    and PC (with and without a cutoff) is the same on both, and equals the Floyd-Warshall reference."""
    from carbonmap.landscape.connectivity import link_distances

    rng = np.random.default_rng(7)
    grown = ndimage.binary_dilation(rng.random((150, 200)) < 0.012) & (rng.random((150, 200)) < 0.8)
    grown[:, 80:140] = False  # a gap wider than the cutoff distance: two groups
    labels = ndimage.label(grown, structure=np.ones((3, 3), dtype=bool))[0]
    ids = np.unique(labels[labels > 0])
    reach_m = 1500.0
    full = patch_distances(labels, ids, 30.0, max_distance_m=reach_m)
    links = link_distances(labels, ids, 30.0, max_distance_m=reach_m, stones=4)  # sparse: the links stored
    assert (links != links.T).nnz == 0 and links.diagonal().sum() == 0
    kept = links.toarray() > 0  # distinct patches are at least a cell apart: every link is positive
    assert np.array_equal(links.toarray()[kept], full[kept])
    assert (np.isfinite(full) & ~kept).sum() > 0.25 * np.isfinite(full).sum()
    left = np.isin(ids, labels[:, :80])
    assert np.isinf(full[np.ix_(left, ~left)]).all() and left.sum() > 50 and (~left).sum() > 50
    areas = np.bincount(labels.ravel())[ids] * 0.09
    probability, landscape = (0.5, 400.0), 2025.0
    p_min = 0.5 ** (reach_m / 400.0)  # the cutoff distance's probability
    with pytest.raises(InputError, match="every pair"):  # dPC needs the pairs the links leave out
        connectivity(areas, links, landscape, probability=probability)
    with pytest.raises(InputError, match=f"{len(ids) + 1} x {len(ids) + 1}"):
        pc_index(np.append(areas, 1.0), links, landscape, probability=probability)
    for cutoff in (None, p_min):
        on_links = pc_index(areas, links, landscape, probability=probability, min_probability=cutoff)
        assert on_links == pytest.approx(pc_index(areas, full, landscape, probability=probability,
                                                  min_probability=cutoff), rel=1e-12)
        assert on_links == pytest.approx(_floyd_warshall_pc(areas, full, landscape, probability, cutoff)[0],
                                         rel=1e-12)
    # the (n, n) steps run by blocks of rows (bounded memory on a city cluster): the same, bit for bit
    import carbonmap.landscape.connectivity as module

    original = module._PAIR_ROWS
    try:
        module._PAIR_ROWS = 7
        np.testing.assert_array_equal(
            link_distances(labels, ids, 30.0, max_distance_m=reach_m, stones=4).toarray(), links.toarray())
        np.testing.assert_array_equal(patch_distances(labels, ids, 30.0, max_distance_m=reach_m), full)
        assert pc_index(areas, links, landscape, probability=probability) == pytest.approx(
            pc_index(areas, full, landscape, probability=probability), rel=1e-12)
    finally:
        module._PAIR_ROWS = original


def test_only_parcels_that_reach_a_site_are_burnt_the_same_on_its_cells():
    """The land-use parcels burnt for the eligibility rules: those meeting a site's cells' bounding box
    give the same raster on every site cell as all the parcels (overlapping ones too, the last wins)."""
    from rasterio.features import rasterize

    from carbonmap.screening.afforestation import _reaching

    rng = np.random.default_rng(3)
    sites = np.zeros((60, 80), dtype=np.int32)
    sites[5:9, 10:14], sites[30:41, 50:52], sites[50, 5] = 1, 2, 3
    x0, y0 = rng.random(400) * 80 * RES + 500_000, 3_500_000 - rng.random(400) * 60 * RES
    parcels = shapely.box(x0, y0, x0 + rng.random(400) * 6 * RES, y0 + rng.random(400) * 6 * RES)
    values = np.arange(1, 401)
    near = _reaching(parcels, sites, TRANSFORM)
    every = rasterize(zip(parcels, values), out_shape=sites.shape, transform=TRANSFORM, fill=-1, dtype="int32")
    some = rasterize(zip(parcels[near], values[near]), out_shape=sites.shape, transform=TRANSFORM, fill=-1,
                     dtype="int32")
    assert np.array_equal(every[sites > 0], some[sites > 0])
    assert 0 < near.sum() < 100 and len(np.unique(every[sites > 0])) > 5


def test_cross_distances_equal_brute_force():
    a = np.zeros((30, 30), np.int32)
    b = np.zeros((30, 30), np.int32)
    a[2:6, 2:5], a[20:25, 3:8] = 1, 2
    b[10:12, 20:27], b[27:30, 25:30], b[4:5, 6:7] = 4, 7, 9
    got = cross_distances(a, [1, 2], b, [4, 7, 9], 30.0)
    for i, ia in enumerate([1, 2]):
        for j, jb in enumerate([4, 7, 9]):
            pa, pb = np.argwhere(a == ia), np.argwhere(b == jb)
            brute = np.sqrt(((pa[:, None, :] - pb[None, :, :]) ** 2).sum(-1)).min() * 30.0
            assert got[i, j] == pytest.approx(brute)
    limit = np.unique(got)[2]  # a pair exactly at the limit counts; only pairs beyond it are left out
    capped = cross_distances(a, [1, 2], b, [4, 7, 9], 30.0, max_distance_m=limit)
    assert np.array_equal(capped, np.where(got <= limit, got, np.inf)) and np.isinf(capped).sum() == 3
    absent = cross_distances(a, [1, 3], b, [4, 7, 9], 30.0, max_distance_m=limit)  # 3: an id without cells
    assert np.array_equal(absent[0], capped[0]) and np.isinf(absent[1]).all()


def test_scenarios_add_up_to_their_sites_and_respect_the_budget():
    cat, ndvi, slope, zones = _landscape()
    habitat_labels = np.zeros(cat.shape, np.int32)
    habitat_labels[10:12, 6:12] = 1  # the forest block
    habitat_labels[0:3, 9:12] = 2  # pretend part of the cropland is a second core
    ids = np.array([1, 2])
    habitat = Habitat(habitat_labels, ids, np.array([12.0, 9.0]), patch_distances(habitat_labels, ids, RES), 144.0,
                      (0.5, 500.0), habitat_labels > 0)
    result = _sites(params={"afforestation_min_patch_area_ha": 1.0}, habitat=habitat,
                    units=np.where(np.arange(12)[None, :] < 6, 0, 1).repeat(12, 0))
    per_unit, city, members = restoration_scenarios(result, budget_area_ha=20.0)
    sites = result.sites.set_index("site_id")
    for row in city.itertuples():
        part = sites.loc[members[row.scenario]]
        assert row.area_ha == pytest.approx(part["area_ha"].sum())
        assert row.sequestration_t_co2 == pytest.approx(part["sequestration_t_co2"].sum())
        assert row.connectivity_gain_sum_pct == pytest.approx(part["connectivity_gain_pct"].sum())
        units = per_unit[per_unit["scenario"] == row.scenario]
        assert units["sink_t_co2_yr"].sum() == pytest.approx(row.sink_t_co2_yr)
        assert units["sites"].sum() == row.sites
    budgeted = city.set_index("scenario")
    assert budgeted.loc["top_ranked", "area_ha"] <= 20.0
    assert budgeted.loc["all_suitable", "area_ha"] == pytest.approx(sites["area_ha"].sum())
    # one site alone: the joint gain is its own gain (here no pair is less likely than the cutoff)
    single = sites.index[:1].to_numpy()
    from carbonmap.screening.restoration import _joint_gain, _pc_of_habitat
    assert _joint_gain(result, single, _pc_of_habitat(result.habitat)) == pytest.approx(
        sites.loc[single[0], "connectivity_gain_pct"])


def test_joint_gain_on_the_sparse_graph_equals_floyd_warshall_on_every_distance():
    """All sites together (their links between each other measured only where no chain of sites
    does better, the graph kept sparse): the same PC gain as Floyd-Warshall on the dense matrix of
    every distance, with pairs beyond the cutoff distance."""
    from types import SimpleNamespace

    from carbonmap.landscape.connectivity import _PRUNE_FROM
    from carbonmap.screening.restoration import JOINT_MIN_PROBABILITY, _joint_gain, _pc_of_habitat

    rng = np.random.default_rng(11)
    field = ndimage.binary_dilation(rng.random((160, 240)) < 0.01) & (rng.random((160, 240)) < 0.9)
    labels = ndimage.label(field, structure=np.ones((3, 3), dtype=bool))[0]
    core_labels = np.where(labels % 3 == 0, labels // 3, 0)  # a third of the patches are habitat
    site_labels = np.zeros_like(labels)
    is_site = (labels > 0) & (labels % 3 != 0)
    site_labels[is_site] = np.unique(labels[is_site], return_inverse=True)[1] + 1
    cores, site_ids = np.unique(core_labels[core_labels > 0]), np.unique(site_labels[site_labels > 0])
    assert len(cores) + len(site_ids) >= _PRUNE_FROM and len(cores) > 50  # links pruned
    probability = (0.5, 300.0)  # the cutoff distance: 300 x log2(1e4) = 3,986 m; the field is 7,200 m wide
    habitat = Habitat(core_labels, cores, np.bincount(core_labels.ravel())[cores] * 0.09,
                      patch_distances(core_labels, cores, RES), 3456.0, probability, core_labels > 0)
    cross = cross_distances(core_labels, cores, site_labels, site_ids, RES)
    new_ha = np.bincount(site_labels.ravel())[site_ids] * 0.09
    result = SimpleNamespace(habitat=habitat, core_site_distances=cross, site_labels=site_labels, resolution=RES,
                             sites=pd.DataFrame({"site_id": site_ids, "new_habitat_ha": new_ha}))
    dense = np.block([[habitat.distances, cross], [cross.T, patch_distances(site_labels, site_ids, RES)]])
    reach_m = 300.0 * np.log(JOINT_MIN_PROBABILITY) / np.log(0.5)
    assert (dense > reach_m).sum() > 0.1 * dense.size  # the cutoff leaves pairs out
    before = _floyd_warshall_pc(habitat.areas_ha, habitat.distances, 3456.0, probability, JOINT_MIN_PROBABILITY)[0]
    after = _floyd_warshall_pc(np.r_[habitat.areas_ha, new_ha], dense, 3456.0, probability, JOINT_MIN_PROBABILITY)[0]
    assert _pc_of_habitat(habitat) == pytest.approx(before, rel=1e-12)
    assert _joint_gain(result, site_ids, before) == pytest.approx(100 * (after - before) / before, rel=1e-9)


def test_pick_within_budget_is_greedy_in_order():
    area = pd.Series({1: 5.0, 2: 8.0, 3: 3.0, 4: 2.0})
    cost = pd.Series({1: 1.0, 2: 1.0, 3: 1.0, 4: 10.0})
    assert pick_within_budget(pd.Index([1, 2, 3, 4]), area, cost, budget_area_ha=10.0, budget_cny=np.inf) == [1, 3, 4]
    assert pick_within_budget(pd.Index([1, 2, 3, 4]), area, cost, budget_area_ha=10.0, budget_cny=5.0) == [1, 3]


def _roofs():
    """Four roofs of 100 m2 each: public, commercial, residential (two)."""
    squares = [shapely.box(x, 0, x + 10, 10) for x in (0, 50, 100, 150)]
    return gpd.GeoDataFrame({
        "use": ["public", "commercial", "residential", "residential"],
        "roof_area_m2": 100.0, "usable_share": [0.4, 0.3, 0.2, 0.3],
        "capacity_kwp": [8.0, 6.0, 4.0, 4.2], "yield_kwh_yr": [9000.0, 6500.0, 4100.0, 4600.0],
        "specific_yield_kwh_kwp": [1125.0, 1083.3, 1025.0, 1095.2], "payback_yr": [6.0, 7.0, 8.0, 7.5],
        "co2_avoided_t_yr": [5.1, 3.7, 2.3, 2.6], "capex_cny": [28000.0, 21000.0, 14000.0, 14700.0],
    }, geometry=squares, crs=CRS)


def test_rooftop_ranking_filters_and_packages_by_hand():
    roofs = _roofs()
    weights = {"specific_yield_kwh_kwp": 0.4, "payback_yr": 0.3, "co2_avoided_t_yr": 0.3}
    ranked = rank_rooftops(roofs, weights=weights, min_usable_area_m2=25.0, use_field="use")
    assert list(ranked.index)[0] == 0  # roof 0 is best on every criterion
    assert set(ranked.index) == {0, 1, 3}  # roof 2: 20 m2 usable < 25
    heritage = gpd.GeoDataFrame({"zone": ["heritage"]}, geometry=[shapely.box(45, -5, 65, 15)], crs=CRS)
    assert 1 not in rank_rooftops(roofs, weights=weights, min_usable_area_m2=0, exclusions=heritage).index
    assert list(rank_rooftops(roofs, weights=weights, min_usable_area_m2=0, use_field="use",
                              uses=["residential"]).index) == [3, 2]
    unit = pd.Series("U1", index=roofs.index)
    targets = pd.Series({"public": 0.4, "commercial": 0.3, "residential": 0.2})
    package = rooftop_packages(ranked, roofs, unit.loc[ranked.index], unit, targets, use_field="use").loc["U1"]
    assert package["roofs"] == 3
    assert package["capacity_mw"] == pytest.approx((8 + 6 + 4.2) / 1000)
    assert package["covered_share_public"] == pytest.approx(0.4)
    assert package["covered_share_residential"] == pytest.approx(30 / 200)  # one of two roofs, 30 m2 of 200
    assert bool(package["meets_target_public"]) and not bool(package["meets_target_residential"])
    with pytest.raises(InputError, match="no roof passes"):
        rank_rooftops(roofs, weights=weights, min_usable_area_m2=1e6)


def test_no_candidate_land_gives_empty_sites_and_zero_scenarios():
    cat = np.full((12, 12), 6, dtype=np.int16)  # forest only
    labels = np.zeros(cat.shape, np.int32)
    labels[0:3, 0:3], labels[8:12, 8:12] = 1, 2
    habitat = Habitat(labels, np.array([1, 2]), np.array([9.0, 16.0]), patch_distances(labels, [1, 2], RES), 144.0,
                      (0.5, 500.0), np.ones(cat.shape, bool))
    result = _sites(categories=cat, habitat=habitat)
    assert "connectivity_gain_pct" in result.sites
    assert len(result.sites) == 0 and not (result.reasons == CANDIDATE).any()
    per_unit, city, members = restoration_scenarios(result)
    assert per_unit.empty and list(city["sites"]) == [0, 0, 0] and list(city["area_ha"]) == [0.0, 0.0, 0.0]


# ---------------------------------------------------------------------------------- CCER eligibility
FINE = 10.0  # 100 m2 cells: the methodology's 400 m2 is 4 cells
FINE_TRANSFORM = Affine(FINE, 0, 500_000, 0, -FINE, 3_500_000)


def _fine_sites(categories, **kwargs):
    params = {**screening_parameters(), "afforestation_min_patch_area_ha": 0.0001}
    args = dict(rules=afforestation_rules(), parameters=params, site_preparation=afforestation_site_preparation(),
                growth=afforestation_growth(), tree_type="broadleaf_subtropical",
                slope_deg=np.full(categories.shape, 5.0), precipitation_mm=np.full(categories.shape, 1200.0))
    args.update(kwargs)
    return afforestation_sites(categories, LEGEND, FINE, FINE_TRANSFORM, CRS, **args)


def _credit(result, categories, **kwargs):
    from carbonmap.coefficients import afforestation_eligibility
    from carbonmap.screening.afforestation import apply_eligibility

    return apply_eligibility(result, afforestation_eligibility(), eligibility="ccer_2023", categories=categories,
                             legend=LEGEND, transform=FINE_TRANSFORM, **kwargs)


def test_ccer_rules_exclude_candidate_cells_with_their_clause():
    """Technically suitable land that the 2023 methodology does not credit, rule by rule (in table order:
    the first rule failed is the reason), on a 16 x 16 grid of 10 m cells."""
    from carbonmap.screening.afforestation import EarlierLandcover

    cat = np.zeros((16, 16), dtype=np.int16)  # barren
    cat[0:3, 0:4] = 3  # industrial block ...
    vacated = np.zeros(cat.shape, bool)
    vacated[0:3, 0:4] = True  # ... vacated: technically plantable, but industrial land (2, scope)
    vacated[0:3, 8:12] = True  # vacated barren land: construction land all the same (2, scope)
    earlier = np.zeros(cat.shape, dtype=np.int16)
    earlier[4:6, :] = 6  # forest in 2015 (2 a)
    landuse = np.full(cat.shape, -1, dtype=np.int32)
    landuse[7:9, 0:8] = 0  # a residential parcel on barren land (2, scope)
    cat[10, :] = 4  # a river row: the strip below is cut off from the rest
    cat[11:16, :] = 4  # water ...
    cat[12:14, 14:16] = 0  # ... with a 4-cell (400 m2) islet ...
    cat[15, 15] = 0  # ... and a 1-cell (100 m2) one
    road = gpd.GeoDataFrame(geometry=[shapely.LineString([(500_000, 3_500_000 - 93), (500_160, 3_500_000 - 93)])],
                            crs=CRS)  # 2 m above row 9's centre: rows 6-11 are within 30 m (centre to line)
    result = _fine_sites(cat, vacated=vacated)
    technical = result.reasons == CANDIDATE
    assert technical[0:3, 0:4].all() and technical[0:3, 8:12].all() and technical[15, 15]
    result = _credit(result, cat, vacated=vacated, earlier=EarlierLandcover(earlier, LEGEND, 2015),
                     landuse=(landuse, ["built_residential"]), roads=road)
    reasons, table = result.reasons, result.reason_table.set_index("code")

    def clause_of(cells):
        codes = np.unique(cells)
        assert len(codes) == 1, codes
        return table.loc[codes[0], "clause"], table.loc[codes[0], "reason"]

    assert clause_of(reasons[0:3, 0:4])[1].startswith("not creditable: greening of urban, village, industrial")
    assert clause_of(reasons[0:3, 8:12])[1].startswith("not creditable: vacated construction land")
    assert clause_of(reasons[7:9, 0:8])[1].startswith("not creditable: urban, village, industrial or mining land in")
    assert clause_of(reasons[6:10, 8:16]) == ("2 (scope)", table.loc[reasons[6, 8], "reason"])
    assert table.loc[reasons[6, 8], "reason"].startswith("not creditable: roadside greening")
    clause, reason = clause_of(reasons[4:6, :])  # forest in 2015: not 3 years without forest
    assert clause == "2 a)" and reason.endswith("(the earlier land cover is of 2015)")
    assert clause_of(reasons[15:16, 15:16]) == ("2 c)", "not creditable: contiguous parcel smaller than 400 m2")
    assert (reasons[12:14, 14:16] == CANDIDATE).all()  # 400 m2: creditable
    assert (reasons[3, 4:8] == CANDIDATE).all() and (reasons[0:3, 4:8] == CANDIDATE).all()
    # every technically suitable cell is creditable or has a reason of the rule set
    ccer = table[table["rule_set"] == "ccer_2023"].index
    assert np.array_equal(technical, (reasons == CANDIDATE) | np.isin(reasons, ccer))
    assert np.array_equal(result.creditable, reasons == CANDIDATE)
    assert table["area_ha"].sum() == pytest.approx((cat >= 0).sum() * FINE**2 / 1e4)
    # per site: technical area, creditable area and its sink
    sites = result.sites
    assert sites["area_ha"].sum() == pytest.approx(technical.sum() * 0.01)
    assert sites["ccer_area_ha"].sum() == pytest.approx((reasons == CANDIDATE).sum() * 0.01)
    assert (sites["ccer_sink_t_co2_yr"] <= sites["sink_t_co2_yr"] + 1e-12).all()
    # rules rasters cannot show are conditions to check, never passed silently
    status = result.eligibility.set_index("rule")["status"]
    assert status["clear_tenure"] == status["planned_afforestation_land"] == "condition to check"
    assert status["contiguous_parcel_667_m2"].startswith("not applicable")
    assert any("clear tenure (a real-estate title" in note.en and "土地权属清晰" in note.zh for note in result.notes)


def test_ccer_parcel_size_follows_the_start_year_and_missing_data_is_said():
    cat = np.full((8, 8), 4, dtype=np.int16)  # water ...
    cat[1:3, 1:4] = 0  # ... with a 600 m2 islet of barren land
    new = _credit(_fine_sites(cat), cat, project_start_year=2024)
    assert (new.reasons[1:3, 1:4] == CANDIDATE).all()  # 600 m2 >= 400 m2
    old = _credit(_fine_sites(cat), cat, project_start_year=2019)
    table = old.reason_table.set_index("code")
    assert table.loc[old.reasons[1, 1], "reason"].endswith("smaller than 667 m2 (project started in 2019 or earlier)")
    assert old.sites["ccer_area_ha"].sum() == 0 and old.sites["area_ha"].sum() == pytest.approx(0.06)
    status = new.eligibility.set_index("rule")["status"]
    assert status["forest_in_the_last_3_years"] == "not checked: no earlier land cover"
    assert status["roadside_greening"] == "not checked: no roads"
    assert status["construction_land_in_the_land_use_plan"] == "not checked: no land-use parcels"
    assert any("not checked" in note.en and "upper bound" in note.en for note in new.notes)


def test_ccer_credits_trees_and_shrubs_not_grass():
    cat = np.full((8, 8), 4, dtype=np.int16)
    cat[1:3, 1:4] = 0
    dry = _credit(_fine_sites(cat, precipitation_mm=np.full(cat.shape, 150.0)), cat)
    assert list(dry.sites["vegetation_type"]) == ["grass"] and dry.sites["ccer_area_ha"].sum() == 0
    assert dry.reason_table.set_index("code").loc[dry.reasons[1, 1], "reason"].startswith("not creditable: grass")
    shrubs = _credit(_fine_sites(cat, precipitation_mm=np.full(cat.shape, 300.0)), cat)
    assert list(shrubs.sites["vegetation_type"]) == ["shrub"] and shrubs.sites["ccer_area_ha"].sum() > 0


def test_an_unknown_rule_set_raises():
    cat = np.zeros((4, 4), dtype=np.int16)
    from carbonmap.coefficients import afforestation_eligibility
    from carbonmap.screening.afforestation import apply_eligibility

    with pytest.raises(InputError, match="unknown eligibility rule set 'vcs'"):
        apply_eligibility(_fine_sites(cat), afforestation_eligibility(), eligibility="vcs", categories=cat,
                          legend=LEGEND)


# ---------------------------------------------------------------------------------- band by band
def _patchy(shape, seed):
    """A land cover of blobs that reach across many rows: barren, grassland, cropland, built-up,
    forest (indices into LEGEND; -1 no data in one corner), with NDVI, slope and rain."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.normal(size=shape), 2.0)
    cat = np.digitize(field, np.quantile(field, [0.4, 0.55, 0.7, 0.85])).astype(np.int16)
    cat = np.array([0, 1, 2, 3, 6], dtype=np.int16)[cat]
    cat[:, ::7] = 6  # tree lines
    cat[:3, :4] = -1
    ndvi = ndimage.gaussian_filter(rng.uniform(0.0, 0.7, shape), 1.5)
    elevation = np.cumsum(rng.uniform(0, 4.0, shape), axis=0) + ndimage.gaussian_filter(rng.normal(size=shape), 3) * 20
    rain = np.where(np.arange(shape[1]) < shape[1] // 3, 300.0, 1200.0) * np.ones(shape)
    return cat, ndvi, elevation, rain


def _assert_same_sites(a, b):
    assert (a.reasons == b.reasons).all() and (a.site_labels == b.site_labels).all()
    pd.testing.assert_frame_equal(a.reason_table, b.reason_table)
    pd.testing.assert_frame_equal(a.sites.drop(columns="geometry"), b.sites.drop(columns="geometry"), rtol=1e-12)
    assert a.sites.geometry.geom_equals(b.sites.geometry).all()
    if a.eligibility is not None:
        pd.testing.assert_frame_equal(a.eligibility, b.eligibility)
        assert (a.creditable == b.creditable).all()


def test_the_site_rules_band_by_band_equal_the_whole_grid():
    """Sites, reasons and the CCER rules computed 3 rows at a time equal those of the whole grid at
    once; sites and parcels reach across the bands' edges."""
    from carbonmap.coefficients import afforestation_eligibility
    from carbonmap.screening.afforestation import EarlierLandcover, apply_eligibility
    from carbonmap.terrain import slope_degrees

    cat, ndvi, elevation, rain = _patchy((40, 30), seed=7)
    zones = {"permanent_basic_farmland": np.zeros(cat.shape, bool)}
    zones["permanent_basic_farmland"][10:14, 5:20] = True
    vacated = np.zeros(cat.shape, bool)
    vacated[20:26, 0:12] = True
    units = np.where(np.arange(30) < 17, 0, 1) * np.ones(cat.shape, dtype=np.int32)
    earlier = EarlierLandcover(np.where(np.arange(40)[:, None] % 9 == 0, 6, cat).astype(np.int16), LEGEND, 2015)
    landuse = (np.where(np.arange(30) % 11 == 0, 0, -1) * np.ones(cat.shape, dtype=np.int32), ["built_industrial"])
    roads = gpd.GeoDataFrame(geometry=[shapely.LineString([(500_000, 3_499_800), (500_300, 3_499_700)])], crs=CRS)

    def run(block_pixels):
        params = {**screening_parameters(), "afforestation_min_patch_area_ha": 0.05}
        result = afforestation_sites(
            cat, LEGEND, FINE, FINE_TRANSFORM, CRS, rules=afforestation_rules(), parameters=params,
            site_preparation=afforestation_site_preparation(), growth=afforestation_growth(),
            tree_type="broadleaf_subtropical", units=units, slope_deg=slope_degrees(elevation, FINE),
            precipitation_mm=rain, ndvi=ndvi, zones=zones, vacated=vacated, block_pixels=block_pixels)
        return apply_eligibility(result, afforestation_eligibility(), eligibility="ccer_2023", categories=cat,
                                 legend=LEGEND, transform=FINE_TRANSFORM, vacated=vacated, earlier=earlier,
                                 landuse=landuse, roads=roads, project_start_year=2024, block_pixels=block_pixels)

    whole, bands = run(None), run(3 * 30)
    _assert_same_sites(whole, bands)
    rows_of_site = ndimage.find_objects(whole.site_labels)
    assert sum(s[0].start // 3 != (s[0].stop - 1) // 3 for s in rows_of_site if s) >= 5  # sites across bands
    excluded = whole.eligibility.set_index("rule")["excluded_ha"]
    assert (excluded[["forest_in_the_last_3_years", "roadside_greening", "contiguous_parcel_400_m2",
                      "construction_land_in_the_land_use_plan", "vacated_construction_land"]] > 0).all()
    assert whole.sites["unit"].isin([0, 1]).all() and whole.sites["vegetation_type"].nunique() >= 2


def test_site_rules_read_from_files_band_by_band_equal_those_of_arrays(tmp_path):
    """From files, the rasters read and the zones, vacated land, units and parcels burnt band by
    band (5 rows) give the sites of the whole arrays at once."""
    import rasterio

    from carbonmap.coefficients import afforestation_eligibility
    from carbonmap.landuse import classify_raster
    from carbonmap.screening.afforestation import EarlierLandcover, apply_eligibility, sites_from_rasters
    from carbonmap.terrain import slope_degrees

    cat, ndvi, elevation, rain = _patchy((36, 28), seed=11)
    clcd = np.array([7, 4, 1, 8, 2], dtype=np.uint8)  # barren, grassland, cropland, impervious, forest
    codes = np.zeros(cat.shape, dtype=np.uint8)
    for index, code in zip([0, 1, 2, 3, 6], clcd):
        codes[cat == index] = code
    earlier_codes = np.where(np.arange(36)[:, None] % 7 == 0, 2, codes).astype(np.uint8)
    files = {}
    for name, data, nodata in (("land", codes, 0), ("earlier", earlier_codes, 0), ("dem", elevation, None),
                               ("rain", rain, None), ("ndvi", ndvi, None)):
        files[name] = tmp_path / f"{name}.tif"
        with rasterio.open(files[name], "w", driver="GTiff", width=28, height=36, count=1, dtype=data.dtype,
                           crs=CRS, transform=FINE_TRANSFORM, nodata=nodata) as dst:
            dst.write(data, 1)
    x0, y0 = FINE_TRANSFORM.c, FINE_TRANSFORM.f
    box = lambda c0, r0, c1, r1: shapely.box(x0 + c0 * FINE, y0 - r1 * FINE, x0 + c1 * FINE, y0 - r0 * FINE)  # noqa: E731
    zones = gpd.GeoDataFrame({"zone": ["permanent_basic_farmland", "nature_reserve"]},
                             geometry=[box(2, 8.5, 20, 13.2), box(20, 25, 28, 33)], crs=CRS)
    vacated = gpd.GeoDataFrame(geometry=[box(0, 18, 10.5, 24)], crs=CRS)
    units = gpd.GeoDataFrame(geometry=[box(0, 0, 15.3, 36), box(15.3, 0, 28, 36)], crs=CRS)
    parcels = gpd.GeoDataFrame({"carbon_category": ["built_industrial", "forest"]},
                               geometry=[box(3, 2, 9, 30), box(9, 2, 12, 30)], crs=CRS)
    roads = gpd.GeoDataFrame(geometry=[shapely.LineString([(x0, y0 - 100), (x0 + 280, y0 - 200)])], crs=CRS)
    tables = dict(tree_type="broadleaf_subtropical", rules=afforestation_rules(),
                  parameters={**screening_parameters(), "afforestation_min_patch_area_ha": 0.05},
                  site_preparation=afforestation_site_preparation(), growth=afforestation_growth())
    from_files = sites_from_rasters(files["land"], "clcd", dem=files["dem"], precipitation=files["rain"],
                                    ndvi=files["ndvi"], zones=zones, vacated=vacated, units=units,
                                    eligibility="ccer_2023", earlier_landcover=files["earlier"], earlier_system="clcd",
                                    earlier_year=2015, roads=roads, landuse=parcels, project_start_year=2024,
                                    block_pixels=5 * 28, **tables)

    def burnt(frame, values, fill=0, dtype="uint8"):
        from rasterio.features import rasterize

        return rasterize(zip(frame.geometry, values), out_shape=cat.shape, transform=FINE_TRANSFORM, fill=fill,
                         dtype=dtype)

    categories, legend = classify_raster(codes, "clcd", column="carbon_category", nodata=0)
    earlier, earlier_legend = classify_raster(earlier_codes, "clcd", column="carbon_category", nodata=0)
    vacated_cells = burnt(vacated, [1]).astype(bool)
    arrays = afforestation_sites(
        categories, legend, FINE, FINE_TRANSFORM, CRS, units=burnt(units, [0, 1], -1, "int32"),
        slope_deg=slope_degrees(elevation, FINE), precipitation_mm=rain.astype(np.float32),
        ndvi=ndvi, vacated=vacated_cells, zones={z: burnt(zones[zones["zone"] == z], [1]).astype(bool)
                                                 for z in zones["zone"]}, **tables)
    arrays = apply_eligibility(arrays, afforestation_eligibility(), eligibility="ccer_2023", categories=categories,
                               legend=legend, transform=FINE_TRANSFORM, vacated=vacated_cells,
                               earlier=EarlierLandcover(earlier, earlier_legend, 2015),
                               landuse=(burnt(parcels, [0, 1], -1, "int32"), ["built_industrial", "forest"]),
                               roads=roads, project_start_year=2024)
    _assert_same_sites(from_files, arrays)
    assert len(from_files.sites) >= 5 and from_files.sites["unit"].nunique() == 2
    assert (from_files.eligibility.set_index("rule").loc[["construction_land_in_the_land_use_plan",
                                                          "vacated_construction_land"], "excluded_ha"] > 0).all()


def test_bad_values_read_band_by_band_are_counted_once(tmp_path):
    """A DEM with 6 infinite cells, 2 of them on the rows around a band, read in bands of 4 rows
    (each band twice, its neighbours' edge rows too): the warning says 6 cells."""
    import rasterio

    from carbonmap.errors import NonFiniteValuesWarning
    from carbonmap.screening.afforestation import sites_from_rasters

    codes = np.full((16, 12), 7, dtype=np.uint8)  # barren: one site over every band
    dem = np.tile(np.arange(16, dtype=np.float32)[:, None], (1, 12))
    for row, col in ((0, 0), (3, 5), (4, 5), (7, 1), (8, 9), (15, 11)):
        dem[row, col] = np.inf
    paths = []
    for name, data in (("land", codes), ("dem", dem)):
        paths.append(tmp_path / f"{name}.tif")
        with rasterio.open(paths[-1], "w", driver="GTiff", width=12, height=16, count=1, dtype=data.dtype, crs=CRS,
                           transform=FINE_TRANSFORM) as dst:
            dst.write(data, 1)
    with pytest.warns(NonFiniteValuesWarning) as caught:
        result = sites_from_rasters(paths[0], "clcd", dem=paths[1], tree_type="broadleaf_subtropical",
                                    parameters={**screening_parameters(), "afforestation_min_patch_area_ha": 0.0001},
                                    rules=afforestation_rules(), site_preparation=afforestation_site_preparation(),
                                    growth=afforestation_growth(), block_pixels=4 * 12)
    assert [str(w.message).split(" cells")[0].split()[-1] for w in caught] == ["6"]
    assert result.reason_table.set_index("reason").filter(like="slope above", axis=0)["area_ha"].iloc[0] > 0


def test_roads_without_a_crs_are_taken_on_the_grid():
    cat = np.zeros((8, 8), dtype=np.int16)
    roads = gpd.GeoDataFrame(geometry=[shapely.LineString([(500_000, 3_499_960), (500_080, 3_499_960)])])
    result = _credit(_fine_sites(cat), cat, roads=roads)
    assert result.eligibility.set_index("rule").loc["roadside_greening", "excluded_ha"] > 0
