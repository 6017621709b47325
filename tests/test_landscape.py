"""Landscape metrics against FRAGSTATS' own results, brute force, hand counts and real land cover."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist

from carbonmap.errors import InputError, NodataError, ReprojectedWarning
from carbonmap.landscape import (
    compare,
    ecological_patches,
    fragstats,
    moving_window,
    prepare,
    read_landscape,
    select_classes,
    unit_metrics,
)
from carbonmap.landscape.enn import nearest_neighbour_cells
from carbonmap.landscape.metrics import CLASS_METRICS, LANDSCAPE_METRICS


@pytest.fixture(scope="module")
def reference(shared):
    folder = shared / "reference" / "fragstats"
    grid = np.loadtxt(folder / "landscape_grid.csv", delimiter=",", dtype=int)
    read = lambda name: pd.read_csv(folder / f"fragstats_landscape_{name}.csv")  # noqa: E731
    return fragstats(prepare(grid, 1.0)), read("patch"), read("class"), read("landscape")


def _equal_to_rounding(ours, theirs):
    """FRAGSTATS prints 4 decimals: ours rounded must equal theirs (NaN = N/A)."""
    ours, theirs = np.asarray(ours, float), np.asarray(theirs, float)
    both_na = np.isnan(ours) & np.isnan(theirs)
    close = np.abs(np.round(ours, 4) - theirs) <= 1e-4 * np.maximum(1, np.abs(theirs)) * 1.001
    return both_na | close


# GYRATE is the one metric whose FRAGSTATS values do not follow FRAGSTATS' own definition
# (mean distance from cell centres to the patch centroid): 3- to 16-cell patches differ by up to
# 2.3 %, while 2-cell, straight 3-cell and 2 x 3 patches agree. landscapemetrics meets the same
# unexplained deviation (r-spatialecology/landscapemetrics issue #303, "Issues with FRAGSTATS
# comparison": Gyrate) and tests it by correlation. carbonmap follows the definition (and
# FRAGSTATS' r/2 for one-cell patches) and is checked within 2.5 % (patch) and 1 % (class MN/SD).
GYRATE = {"GYRATE", "GYRATE_MN", "GYRATE_SD", "GYRATE_CV"}


def test_class_metrics_equal_fragstats(reference):
    ours, _, _, theirs = reference[0].class_.set_index("class"), *reference[1:]
    theirs = reference[2].set_index("class")
    checked = [m for m in CLASS_METRICS if m in theirs.columns and m not in GYRATE]
    assert len(checked) >= 50
    for metric in checked:
        ok = _equal_to_rounding(ours.loc[theirs.index, metric], theirs[metric])
        assert ok.all(), f"{metric}: ours {ours.loc[theirs.index, metric].tolist()} FRAGSTATS {theirs[metric].tolist()}"
    for metric in ("GYRATE_MN", "GYRATE_SD"):
        np.testing.assert_allclose(ours.loc[theirs.index, metric], theirs[metric], rtol=0.01)


def test_landscape_metrics_equal_fragstats(reference):
    ours, theirs = reference[0].landscape.iloc[0], reference[3].iloc[0]
    checked = [m for m in LANDSCAPE_METRICS if m in theirs.index and m not in GYRATE]
    assert len(checked) >= 55
    for metric in checked:
        assert _equal_to_rounding(ours[metric], theirs[metric]), f"{metric}: ours {ours[metric]} FRAGSTATS {theirs[metric]}"
    # the conventions the reference's README lists
    assert ours["TE"] == 340 and ours["LSI"] == pytest.approx(460 / 120)
    assert ours["SHDI"] == pytest.approx(1.0092, abs=5e-5) and ours["CONTAG"] == pytest.approx(26.4538, abs=5e-5)


def test_patch_metrics_equal_fragstats(reference):
    """FRAGSTATS numbers patches its own way: compare each class's sorted values."""
    ours, theirs = reference[0].patch, reference[1]
    assert len(ours) == len(theirs) == 28
    for metric in ("AREA", "PERIM", "PARA", "SHAPE", "FRAC", "CIRCLE", "CONTIG", "CORE", "NCORE", "CAI", "ENN"):
        for cls in (1, 2, 3):
            a = np.sort(ours.loc[ours["class"] == cls, metric].to_numpy())
            b = np.sort(theirs.loc[theirs["class"] == cls, metric].to_numpy())
            assert _equal_to_rounding(a, b).all(), f"{metric} class {cls}: {np.round(a, 4)} vs {b}"
    for cls in (1, 2, 3):
        a = np.sort(ours.loc[ours["class"] == cls, "GYRATE"].to_numpy())
        b = np.sort(theirs.loc[theirs["class"] == cls, "GYRATE"].to_numpy())
        np.testing.assert_allclose(a, b, rtol=0.025)


def test_four_neighbour_rule_and_one_cell_conventions():
    grid = np.array([[1, 2, 1],
                     [2, 1, 2],
                     [1, 2, 1]])
    eight = fragstats(prepare(grid, 10.0, neighbours=8))
    four = fragstats(prepare(grid, 10.0, neighbours=4))
    # 8-rule: class 1 is one X-shaped patch, class 2 one diamond; 4-rule: every cell alone
    assert eight.class_.set_index("class")["NP"].tolist() == [1, 1]
    assert four.landscape.loc[0, "NP"] == 9
    single = four.patch
    assert (single["GYRATE"] == 5.0).all() and (single["CIRCLE"] == 0).all()  # r/2 and 0, as FRAGSTATS
    assert single["FRAC"].to_numpy() == pytest.approx(np.ones(9))  # 2 ln(0.25 x 40) / ln(100) = 1 on a 10 m grid
    # 4-rule ENN: diagonal neighbours of the same class are sqrt(2) cells apart
    assert single["ENN"].to_numpy() == pytest.approx(np.full(9, 10 * np.sqrt(2)))
    x = eight.patch.set_index("class").loc[1]
    assert x["AREA"] == pytest.approx(5 * 100 / 1e4) and x["PERIM"] == 20 * 10
    # CONTIG of the X: five cells (template 1 each) and four corner pairs (1, seen from both cells)
    template_sum = 5 + 2 * 4
    assert x["CONTIG"] == pytest.approx((template_sum / 5 - 1) / 12)


def test_core_area_with_edge_depth():
    grid = np.ones((7, 9), dtype=int)
    grid[0, :] = 2  # a strip of another class along the top
    one = fragstats(prepare(grid, 1.0), metrics=["CORE", "NCORE"]).patch.set_index("class")
    two = fragstats(prepare(grid, 1.0), metrics=["CORE"], edge_depth_m=2.0).patch.set_index("class")
    # class 1 is 6 x 9; the landscape boundary counts as edge: depth 1 leaves 4 x 7 cells,
    # depth 2 (centres within 2 cells, a disc) leaves 2 x 5
    assert one.loc[1, "CORE"] == pytest.approx(28 / 1e4) and one.loc[1, "NCORE"] == 1
    assert two.loc[1, "CORE"] == pytest.approx(10 / 1e4)
    assert one.loc[2, "CORE"] == 0


def test_enn_and_circle_match_brute_force():
    rng = np.random.default_rng(42)
    for trial in range(60):
        height, width = rng.integers(2, 20, 2)
        grid = rng.integers(1, rng.integers(2, 5), (height, width))
        mask = rng.random((height, width)) < (0.2 if trial % 3 == 0 else 0.0)
        for neighbours in (4, 8):
            land = prepare(np.ma.MaskedArray(grid, mask=mask), 1.0, neighbours=neighbours)
            enn = nearest_neighbour_cells(land.labels, land.patch_class, land.n_classes)
            circle = fragstats(land, metrics=["CIRCLE"]).patch["CIRCLE"].to_numpy()
            for p in range(1, land.n_patches + 1):
                own = np.argwhere(land.labels == p)
                others = np.argwhere((land.index == land.patch_class[p]) & (land.labels != p) & (land.labels > 0))
                expected = cdist(own, others).min() if len(others) else np.nan
                assert enn[p] == pytest.approx(expected, nan_ok=True)
                corners = np.unique(np.concatenate([own + d for d in ((0, 0), (0, 1), (1, 0), (1, 1))]), axis=0)
                diameter = cdist(corners, corners).max()
                expected_circle = 0.0 if len(own) == 1 else 1 - len(own) / (np.pi * diameter**2 / 4)
                assert circle[p - 1] == pytest.approx(expected_circle)


@pytest.mark.parametrize("neighbours", [4, 8])
def test_patches_are_labelled_class_by_class_as_on_the_whole_grid(neighbours):
    """Labelling each class inside its bounding box numbers the patches exactly as labelling each
    class on the whole grid: class by class, in row-major order of each patch's first cell; with
    a thousand small classes (MSPA core areas) as with 4 land-cover classes."""
    from scipy import ndimage

    from carbonmap.landscape.patches import STRUCTURES, label_by_class

    rng = np.random.default_rng(5)
    blobs, _ = ndimage.label(ndimage.gaussian_filter(rng.random((240, 260)), 1) > 0.6)
    for index in (rng.integers(0, 5, (120, 130)), np.where(blobs > 0, blobs - 1, blobs.max())):
        k = int(index.max())  # the highest index is "no class"
        expected = np.zeros(index.shape, dtype=np.int64)
        counts = []
        for c in range(k):  # the definition: each class labelled on the whole grid, ids after the classes before
            found, count = ndimage.label(index == c, structure=STRUCTURES[neighbours])
            expected += np.where(found > 0, found + sum(counts), 0)
            counts.append(count)
        labels, got_counts = label_by_class(index, k, neighbours)
        assert got_counts.tolist() == counts and (labels == expected).all()
    assert k > 1000


def test_only_requested_metrics_are_returned():
    grid = np.array([[1, 1, 2], [1, 2, 2]])
    out = fragstats(prepare(grid, 30.0), metrics=["np", "ED"])
    assert list(out.class_.columns) == ["class", "NP", "ED"]
    assert list(out.landscape.columns) == ["NP", "ED"]
    assert out.patch.empty
    # edges between classes: 3 sides of 30 m over 6 cells of 0.09 ha
    assert out.landscape.loc[0, "ED"] == pytest.approx(3 * 30 / 0.54)
    with pytest.raises(InputError, match="unknown metric"):
        fragstats(prepare(grid, 30.0), metrics=["NOPE"])


def test_bad_input():
    with pytest.raises(InputError, match="integer class codes"):
        prepare(np.zeros((3, 3)), 30.0)
    with pytest.raises(NodataError, match="every cell is nodata"):
        prepare(np.ma.MaskedArray(np.ones((2, 2), int), mask=True), 30.0)
    with pytest.raises(InputError, match="neighbour rule"):
        prepare(np.ones((2, 2), int), 30.0, neighbours=6)
    with pytest.raises(InputError, match="cell size"):
        prepare(np.ones((2, 2), int), 0)


def test_ecological_patches_min_area_and_polygons():
    from affine import Affine

    grid = np.full((6, 6), 8)  # 8 = impervious (CLCD)
    grid[0:3, 0:3] = 2  # forest, 9 cells
    grid[5, 5] = 2  # forest, 1 cell
    grid[4, 0:2] = 4  # grassland, 2 cells
    land = prepare(grid, 30.0, transform=Affine(30, 0, 500000, 0, -30, 4000000), crs="EPSG:32650")
    eco = select_classes(land, system="clcd")
    assert set(land.classes[eco]) == {2, 4}
    patches = ecological_patches(land, eco, min_area_ha=0.15)
    assert patches["class"].tolist() == [2, 4]  # the one-cell forest (0.09 ha) is dropped
    np.testing.assert_allclose(patches.geometry.area / 1e4, patches["area_ha"])
    assert patches.loc[0, "perimeter_m"] == 12 * 30 and patches.loc[0, "core_area_ha"] == pytest.approx(0.09)
    # the 9-cell forest's nearest forest is the dropped one-cell patch: ENN counts all patches
    assert patches.loc[0, "enn_m"] == pytest.approx(30 * np.hypot(3, 3))


def test_unit_metrics_and_moving_window():
    grid = np.full((4, 8), 8)
    grid[:, 0:2] = 2  # zone 0: half forest (one strip)
    grid[0, 4] = grid[2, 4] = grid[0, 6] = 2  # zone 1: three one-cell forest patches
    land = prepare(grid, 10.0)
    zones = np.zeros((4, 8), dtype=int)
    zones[:, 4:] = 1
    eco = select_classes(land, codes=[2])
    table = unit_metrics(land, eco, zones, 2)
    assert table["eco_pland_pct"].tolist() == pytest.approx([50.0, 3 / 16 * 100])
    assert table["eco_np"].tolist() == [1, 3]
    # zone 0: 4 forest/other sides of 10 m inside the unit over 0.16 ha
    assert table.loc[0, "eco_ed_m_ha"] == pytest.approx(40 / 0.16)
    window = moving_window(land, eco, metric="PLAND", radius_m=10.0)
    # cell (1, 1): itself and its 4 side neighbours (radius 1 cell); all but (1, 2) are forest
    assert window[1, 1] == pytest.approx(80.0)
    edge = moving_window(land, eco, metric="ED", radius_m=10.0)
    # cell (1, 2): neighbours (1,1) forest, (0,2), (2,2), (1,3) other. Sides with a forest/other
    # pair inside the window, half to each cell: (1,1)|(1,2) gives 1/2 + 1/2; (0,1)|(0,2) half
    # to (0,2) and (2,1)|(2,2) half to (2,2) -> 2 sides x 10 m over 5 cells x 0.01 ha
    assert edge[1, 2] == pytest.approx(20 / 0.05)


def test_moving_window_by_windows_equals_the_whole_raster(tmp_path):
    """The moving window computed window by window (halo = radius + 1 cell) from the land cover's
    file equals the whole-raster one cell for cell: PLAND and ED, nodata cells, windows of 12 rows
    against a radius of 4 cells, so every window's edge rows need the halo."""
    from scipy import ndimage
    from test_init import write_tif

    from carbonmap.io import read_raster
    from carbonmap.landscape import moving_window_raster

    rng = np.random.default_rng(4)
    codes = np.where(ndimage.gaussian_filter(rng.random((60, 40)), 2) > 0.5, 2, 8).astype(np.uint8)
    codes[rng.random((60, 40)) < 0.05] = 0  # nodata
    path = write_tif(tmp_path / "landcover.tif", codes, nodata=0)
    land = read_landscape(path)
    eco = select_classes(land, codes=[2])
    for metric in ("PLAND", "ED"):
        whole = moving_window(land, eco, metric=metric, radius_m=120.0)
        out = moving_window_raster(path, [2], tmp_path / f"{metric}.tif", metric=metric, radius_m=120.0,
                                   block_pixels=12 * 40)
        by_windows, _ = read_raster(out)
        np.testing.assert_array_equal(np.ma.getmaskarray(by_windows), np.ma.getmaskarray(whole))
        np.testing.assert_array_equal(by_windows.compressed(), whole.compressed())
        assert len(np.unique(whole.compressed())) > 20  # values vary: the comparison is not trivial
    with pytest.raises(InputError, match="smaller than a cell"):
        moving_window_raster(path, [2], tmp_path / "x.tif", radius_m=10.0)


def test_change_reading():
    before = np.full((10, 10), 8)
    before[2:8, 2:8] = 2  # one forest block
    after = before.copy()
    after[:, 5] = 8  # a road cuts it in two
    a = fragstats(prepare(before, 30.0)).class_
    b = fragstats(prepare(after, 30.0)).class_
    table = compare(a, b, names={2: "forest", 8: "impervious"}).set_index("class")
    assert table.loc[2, "NP_change"] == 1 and table.loc[2, "CA_change_pct"] == pytest.approx(-100 / 6)
    assert table.loc[2, "reading"].startswith("forest: area -17 %, patches +100 %")
    assert table.loc[2, "reading"].endswith(": fragmenting")
    assert table.loc[2, "reading_zh"].startswith("forest：面积变化 -17 %、斑块数变化 +100 %")  # the same in Chinese
    assert table.loc[2, "reading_zh"].endswith("；总体趋于破碎")


@pytest.mark.slow
def test_real_land_cover_augusta(shared):
    path = shared / "data" / "landcover_landscapemetrics" / "augusta_nlcd.tif"
    eight = read_landscape(path)
    four = read_landscape(path, neighbours=4)
    m8, m4 = fragstats(eight), fragstats(four, metrics=["NP", "TA"])
    cells = int((eight.index < eight.n_classes).sum())
    assert m8.landscape.loc[0, "TA"] == pytest.approx(cells * 0.09) == m4.landscape.loc[0, "TA"]
    assert m4.landscape.loc[0, "NP"] > m8.landscape.loc[0, "NP"]  # the 4-rule splits diagonal links
    assert m8.class_["CA"].sum() == pytest.approx(m8.landscape.loc[0, "TA"])
    assert m8.class_["PLAND"].sum() == pytest.approx(100)
    # ENN of the 50 largest forest patches against brute force over all deciduous forest cells
    patch = m8.patch
    forest = patch[patch["class"] == 41].nlargest(50, "AREA")
    cls = int(np.flatnonzero(eight.classes == 41)[0])
    for pid, enn in zip(forest["PID"], forest["ENN"]):
        own = np.argwhere(eight.labels == pid)
        others = np.argwhere((eight.index == cls) & (eight.labels != pid))
        assert enn == pytest.approx(cdist(own, others).min() * 30)


def test_real_land_cover_in_degrees_is_measured_in_metres(shared):
    from carbonmap.grid import cell_area_m2
    from carbonmap.io import read_raster

    path = shared / "data" / "landcover_landscapemetrics" / "podlasie_ccilc.tif"
    with pytest.warns(ReprojectedWarning, match="geographic CRS"):
        land = read_landscape(path)
    assert land.crs.is_projected and 200 < land.resolution < 300
    data, src = read_raster(path)
    area = cell_area_m2(src.transform, src.crs, data.shape[0])[:, None]
    geodesic_ha = float((area * ~data.mask).sum() / 1e4)
    metrics = fragstats(land, metrics=["TA", "PLAND"])
    assert metrics.landscape.loc[0, "TA"] == pytest.approx(geodesic_ha, rel=1e-3)
    forest_share = float((area * (data.filled(0) == 10)).sum() / 1e4) / geodesic_ha * 100
    pland = metrics.class_.set_index("class").loc[10, "PLAND"]
    assert pland == pytest.approx(forest_share, abs=0.1)


def _random_landscapes(seed: int = 11):
    """Random and blob-like grids, with and without nodata, under both neighbour rules."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    for trial in range(24):
        height, width = rng.integers(1, 25, 2)
        if trial % 2:
            grid = rng.integers(1, rng.integers(2, 6), (height, width))
        else:  # smooth blobs: large patches with interior runs
            field = ndimage.gaussian_filter(rng.standard_normal((height, width)), 2)
            grid = np.digitize(field, np.quantile(field, [0.3, 0.6])) + 1
        mask = rng.random((height, width)) < (0.2 if trial % 3 == 0 else 0.0)
        mask.flat[0] = False
        for neighbours in (4, 8):
            yield prepare(np.ma.MaskedArray(grid, mask=mask), 1.0, neighbours=neighbours)


def test_class_adjacency_and_perimeters_equal_a_count_of_every_side():
    """The adjacency table and the patch perimeters, counted from the sides between different
    classes only, equal a count of every side of every cell (the definition)."""
    from carbonmap.landscape.metrics import class_adjacency

    for land in _random_landscapes():
        k1 = land.n_classes + 1
        index = np.pad(land.index, 1, constant_values=land.n_classes)  # the raster's edge is outside
        expected = np.zeros((k1, k1))
        for a, b in ((index[:, :-1], index[:, 1:]), (index[:-1], index[1:])):
            np.add.at(expected, (a.ravel(), b.ravel()), 1)
            np.add.at(expected, (b.ravel(), a.ravel()), 1)
        got = class_adjacency(land.index, land.n_classes)  # all but the outside-outside entry, which no metric reads
        np.testing.assert_array_equal(got[:-1], expected[:-1])
        np.testing.assert_array_equal(got[:, :-1], expected[:, :-1])
        labels = np.pad(land.labels, 1)
        perimeter = np.zeros(land.n_patches + 1, dtype=np.int64)
        for a, b in ((labels[:, :-1], labels[:, 1:]), (labels[:-1], labels[1:])):
            np.add.at(perimeter, a[a != b], 1)
            np.add.at(perimeter, b[a != b], 1)
        np.testing.assert_array_equal(land.perimeter_sides[1:], perimeter[1:])
        np.testing.assert_array_equal(land.patch_cells, np.bincount(land.labels.ravel(), minlength=land.n_patches + 1))


def test_per_patch_counts_do_not_depend_on_the_order_they_are_asked_in():
    """Counted on the one-pass groups and put in patch order, or on the patch ids: the same."""
    for land in _random_landscapes(seed=3):
        again = prepare(np.ma.MaskedArray(land.classes[np.minimum(land.index, land.n_classes - 1)],
                                          mask=land.index == land.n_classes), 1.0, neighbours=land.neighbours)
        before = again.patch_cells.copy(), again.perimeter_sides.copy()  # labels not made yet
        assert "labels" not in again.__dict__
        land.labels  # noqa: B018 (made first)
        np.testing.assert_array_equal(before[0], land.patch_cells)
        np.testing.assert_array_equal(before[1], land.perimeter_sides)
        np.testing.assert_array_equal(again.labels, land.labels)


def test_prepare_counts_classes_of_every_code_range():
    rng = np.random.default_rng(8)
    grids = [rng.integers(0, 256, (31, 41)).astype(np.uint8), rng.integers(0, 3000, (30, 40)).astype(np.uint16),
             rng.integers(-5, 5, (30, 40)).astype(np.int8), (rng.integers(-3, 3, (30, 40)) * 10**6).astype(np.int64),
             rng.integers(0, 2**40, (30, 40)).astype(np.uint64)]
    for grid in grids:
        mask = rng.random(grid.shape) < 0.1
        land = prepare(np.ma.MaskedArray(grid, mask=mask), 10.0)
        classes, cells = np.unique(grid[~mask], return_counts=True)
        np.testing.assert_array_equal(land.classes, classes)
        np.testing.assert_array_equal(land.index_cells, [*cells, mask.sum()])
        np.testing.assert_array_equal(land.classes[land.index[~mask]], grid[~mask])
    # more than 65,534 classes: a 32-bit class index, each cell its own patch
    grid = np.arange(300 * 300).reshape(300, 300)
    land = prepare(grid, 10.0)
    assert land.index.dtype == np.uint32 and land.n_patches == grid.size
    np.testing.assert_array_equal(land.labels, grid + 1)


def test_unit_metrics_equal_fragstats_on_each_unit_alone():
    """unit_metrics finds each unit in one pass; each row must equal FRAGSTATS on that unit
    clipped out (the rest masked), its definition."""
    from scipy import ndimage

    rng = np.random.default_rng(4)
    field = ndimage.gaussian_filter(rng.standard_normal((40, 50)), 2)
    grid = np.digitize(field, np.quantile(field, [0.3, 0.6])) + 1
    mask = rng.random(grid.shape) < 0.05
    land = prepare(np.ma.MaskedArray(grid, mask=mask), 30.0)
    zones = (np.arange(40)[:, None] // 10) * 5 + np.arange(50)[None, :] // 10  # 4 x 5 blocks
    zones[zones == 7] = -1  # a block outside every unit
    n_zones = 21  # unit 20 has no cell
    eco = select_classes(land, codes=[1])
    table = unit_metrics(land, eco, zones, n_zones)
    for z in range(n_zones):
        alone = (zones != z) | mask
        if alone.all():
            assert table.loc[z].isna().all()
            continue
        binary = np.where(grid == 1, 1, 2)
        part = fragstats(prepare(np.ma.MaskedArray(binary, mask=alone), 30.0),
                         metrics=["PLAND", "NP", "ED", "MESH"]).class_.set_index("class")
        if 1 in part.index:
            assert table.loc[z, "eco_np"] == part.loc[1, "NP"]
            assert table.loc[z, "eco_pland_pct"] == pytest.approx(part.loc[1, "PLAND"])
            assert table.loc[z, "eco_ed_m_ha"] == pytest.approx(part.loc[1, "ED"])
            assert table.loc[z, "eco_mesh_ha"] == pytest.approx(part.loc[1, "MESH"])
        else:
            assert table.loc[z, "eco_np"] == 0
