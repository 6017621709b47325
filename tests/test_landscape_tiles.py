"""Patches and FRAGSTATS metrics of a land-cover file window by window, against the whole raster
in memory, FRAGSTATS' own results, hand-labelled strips and a local cluster of processes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine
from scipy import ndimage

from carbonmap.compute import ComputeSettings, compute_session
from carbonmap.errors import AlignmentError, InputError, NodataError
from carbonmap.landscape import ecological_patches, fragstats, prepare, read_landscape, select_classes, unit_metrics
from carbonmap.landscape.metrics import CLASS_METRICS, LANDSCAPE_METRICS
from carbonmap.landscape.patches import join_strips, label_by_class, strip_edges, strip_groups
from carbonmap.landscape.tiles import read_tiled_landscape

CRS = "EPSG:32650"


def _write(path, codes, *, rows_per_block, cell=30.0, crs=CRS, nodata=0, transform=None):
    """A striped GeoTIFF: its blocks are `rows_per_block` whole rows (the strips follow them)."""
    height, width = codes.shape
    with rasterio.open(path, "w", driver="GTiff", width=width, height=height, count=1, dtype=codes.dtype, crs=crs,
                       transform=transform or Affine(cell, 0, 500_000, 0, -cell, 3_000_000), nodata=nodata,
                       blockysize=rows_per_block) as dst:
        dst.write(codes, 1)
    return path


def _ids(path):
    with rasterio.open(path) as src:
        return src.read(1)


def _assert_same_metrics(whole, tiled):
    """Every table equal, value for value; GYRATE (a sum of floating-point distances, added strip
    by strip) to 1e-12."""
    for a, b in zip(whole, tiled):
        assert list(a.columns) == list(b.columns) and len(a) == len(b)
        for column in a.columns:
            rtol = 1e-12 if column.startswith("GYRATE") else 0
            np.testing.assert_allclose(b[column].to_numpy(float), a[column].to_numpy(float), rtol=rtol, atol=0,
                                       equal_nan=True, err_msg=column)


HAND = np.array([[0, 2, 2, 0],
                 [0, 2, 2, 0],   # strip edge below
                 [0, 1, 1, 0],
                 [1, 2, 2, 1],   # strip edge below
                 [1, 2, 2, 1],
                 [1, 1, 1, 1]], dtype=np.uint8)


@pytest.mark.parametrize(("neighbours", "expected", "counts"), [
    # the 1s of row 2 touch the U only at its corners: one patch under 8 neighbours, two under 4
    (8, [[1, 4, 4, 2], [1, 4, 4, 2], [1, 3, 3, 2], [3, 5, 5, 3], [3, 5, 5, 3], [3, 3, 3, 3]], [2, 1, 2]),
    (4, [[1, 5, 5, 2], [1, 5, 5, 2], [1, 3, 3, 2], [4, 6, 6, 4], [4, 6, 6, 4], [4, 4, 4, 4]], [2, 2, 2]),
])
def test_strips_joined_are_numbered_as_the_whole_raster_by_hand(neighbours, expected, counts):
    """Three strips of 2 rows: the columns of 0s and the U of 1s cross both strip edges, the
    inner block of 2s one; joined, they are numbered class by class in row-major order."""
    pieces = [strip_groups(HAND[r:r + 2], 3, neighbours) for r in (0, 2, 4)]
    assert [len(piece[1]) - 1 for piece in pieces] == ([3, 4, 2] if neighbours == 8 else [3, 6, 2])
    offsets, ids, patch_class = join_strips([strip_edges(*piece) for piece in pieces], 3, neighbours)
    joined = np.concatenate([np.concatenate([[0], ids[offsets[s]:offsets[s + 1]]])[piece[0]]
                             for s, piece in enumerate(pieces)])
    assert joined.tolist() == expected
    assert np.bincount(patch_class[1:], minlength=3).tolist() == counts
    labels, whole_counts = label_by_class(HAND, 3, neighbours)
    assert labels.tolist() == expected and whole_counts.tolist() == counts


@pytest.mark.parametrize("neighbours", [4, 8])
def test_strips_joined_are_numbered_as_the_whole_raster_at_random(neighbours):
    """Any cut into strips: the joined ids are those of labelling the whole raster."""
    rng = np.random.default_rng(11)
    for _ in range(60):
        height, width, k = int(rng.integers(4, 50)), int(rng.integers(3, 40)), int(rng.integers(1, 5))
        field = ndimage.gaussian_filter(rng.standard_normal((height, width)), rng.uniform(0.5, 3))
        index = np.digitize(field, np.quantile(field, np.linspace(0, 1, k + 2)[1:-1])).astype(np.uint8)
        cuts = np.sort(rng.choice(np.arange(1, height), size=min(height - 1, int(rng.integers(0, 6))), replace=False))
        bounds = [0, *cuts.tolist(), height]
        pieces = [strip_groups(index[a:b], k, neighbours) for a, b in zip(bounds[:-1], bounds[1:])]
        offsets, ids, _ = join_strips([strip_edges(*piece) for piece in pieces], k, neighbours)
        joined = np.concatenate([np.concatenate([[0], ids[offsets[s]:offsets[s + 1]]])[piece[0]]
                                 for s, piece in enumerate(pieces)])
        assert (joined == label_by_class(index, k, neighbours)[0]).all()


@pytest.fixture(scope="module")
def mosaic(tmp_path_factory):
    """300 x 280 cells of 5 classes in 32-row strips, with a nodata hole across two strip edges."""
    rng = np.random.default_rng(3)
    field = ndimage.gaussian_filter(rng.standard_normal((300, 280)), 2)
    codes = (np.digitize(field, np.quantile(field, [0.2, 0.45, 0.7, 0.9])) + 1).astype(np.uint8)
    codes[20:90, 100:140] = 0
    return _write(tmp_path_factory.mktemp("mosaic") / "landcover.tif", codes, rows_per_block=32)


@pytest.mark.parametrize(("neighbours", "depth_m"), [(8, 30.0), (8, 150.0), (4, 75.0)])
def test_tiled_metrics_equal_the_whole_raster(mosaic, tmp_path, neighbours, depth_m):
    """Ten strips of 32 rows (core areas with a halo of 1, 5 and 2 rows): the same patch ids
    and every patch, class and landscape metric of the whole raster held in memory."""
    whole = read_landscape(mosaic, neighbours=neighbours)
    tiled = read_tiled_landscape(mosaic, tmp_path / "ids.tif", neighbours=neighbours, block_pixels=32 * 280)
    assert len(tiled.windows) == 10 and tiled.n_patches == whole.n_patches > 200
    assert (_ids(tmp_path / "ids.tif") == whole.labels).all()
    assert tiled.classes.tolist() == whole.classes.tolist() == [1, 2, 3, 4, 5]
    assert tiled.index_cells.tolist() == whole.index_cells.tolist()
    _assert_same_metrics(fragstats(whole, edge_depth_m=depth_m), fragstats(tiled, edge_depth_m=depth_m))


def test_tiled_metrics_on_real_land_cover_equal_the_whole_raster(shared, tmp_path):
    """NLCD around Augusta (440 x 678 cells of 30 m, 12-row blocks) in 19 strips of 24 rows."""
    path = shared / "data" / "landcover_landscapemetrics" / "augusta_nlcd.tif"
    whole = read_landscape(path)
    tiled = read_tiled_landscape(path, tmp_path / "ids.tif", block_pixels=24 * 678)
    assert len(tiled.windows) == 19 and tiled.n_patches == whole.n_patches
    assert (_ids(tmp_path / "ids.tif") == whole.labels).all()
    _assert_same_metrics(fragstats(whole), fragstats(tiled))
    assert select_classes(tiled, system="nlcd").tolist() == select_classes(whole, system="nlcd").tolist()


def test_tiled_metrics_equal_fragstats(shared, tmp_path):
    """FRAGSTATS' reference landscape (30 x 30, 1 m) cut into strips of 3 rows: its class and
    landscape metrics as FRAGSTATS printed them."""
    folder = shared / "reference" / "fragstats"
    grid = np.loadtxt(folder / "landscape_grid.csv", delimiter=",", dtype=np.uint8)
    path = _write(tmp_path / "landscape.tif", grid, rows_per_block=3, cell=1.0, nodata=255)
    tiled = read_tiled_landscape(path, tmp_path / "ids.tif", block_pixels=90)
    assert len(tiled.windows) == 10
    ours = fragstats(tiled)
    theirs = pd.read_csv(folder / "fragstats_landscape_class.csv").set_index("class")
    mine = ours.class_.set_index("class").loc[theirs.index]
    checked = [m for m in CLASS_METRICS if m in theirs.columns and not m.startswith("GYRATE")]
    assert len(checked) >= 50
    for metric in checked:
        both_na = mine[metric].isna() & theirs[metric].isna()
        close = (mine[metric].round(4) - theirs[metric]).abs() <= 1.001e-4 * np.maximum(1, theirs[metric].abs())
        assert (both_na | close).all(), f"{metric}: {mine[metric].tolist()} vs {theirs[metric].tolist()}"
    landscape = pd.read_csv(folder / "fragstats_landscape_landscape.csv").iloc[0]
    for metric in [m for m in LANDSCAPE_METRICS if m in landscape.index and not m.startswith("GYRATE")]:
        value = ours.landscape.loc[0, metric]
        assert (np.isnan(value) and np.isnan(landscape[metric])) or \
            abs(round(value, 4) - landscape[metric]) <= 1.001e-4 * max(1, abs(landscape[metric])), metric


def test_tiled_metrics_on_a_local_cluster_equal_the_threads(mosaic, tmp_path):
    """The strips as tasks of a local dask cluster of 2 worker processes: the same ids and the
    same tables, bit for bit (the sums are added in the strips' order either way)."""
    here = fragstats(read_tiled_landscape(mosaic, tmp_path / "here.tif", block_pixels=32 * 280), edge_depth_m=90)
    # the limit is each worker's and this process's (which holds the test session's earlier tests)
    with compute_session(ComputeSettings(scheduler="local", workers=2, memory_limit="4GB")) as session:
        assert session.distributed
        there = fragstats(read_tiled_landscape(mosaic, tmp_path / "there.tif", block_pixels=32 * 280),
                          edge_depth_m=90)
    assert (_ids(tmp_path / "here.tif") == _ids(tmp_path / "there.tif")).all()
    for a, b in zip(here, there):
        pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_bad_land_cover_files_are_refused_by_name(tmp_path):
    codes = np.ones((40, 30), dtype=np.uint8)
    degrees = _write(tmp_path / "degrees.tif", codes, rows_per_block=8, crs="EPSG:4326",
                     transform=Affine(0.001, 0, 113, 0, -0.001, 23))
    with pytest.raises(InputError, match="degrees.tif.*projected CRS"):
        read_tiled_landscape(degrees, tmp_path / "ids.tif")
    floats = _write(tmp_path / "floats.tif", codes.astype("float32"), rows_per_block=8)
    with pytest.raises(InputError, match="floats.tif"):
        read_tiled_landscape(floats, tmp_path / "ids.tif")
    oblong = _write(tmp_path / "oblong.tif", codes, rows_per_block=8, transform=Affine(30, 0, 0, 0, -20, 0))
    with pytest.raises(AlignmentError, match="oblong.tif.*not square"):
        read_tiled_landscape(oblong, tmp_path / "ids.tif")
    empty = _write(tmp_path / "empty.tif", np.zeros((40, 30), dtype=np.uint8), rows_per_block=8)
    with pytest.raises(NodataError, match="empty.tif"):
        read_tiled_landscape(empty, tmp_path / "ids.tif")
    with pytest.raises(InputError, match="ok.tif.*both the land cover and the patch-id raster"):
        read_tiled_landscape(_write(tmp_path / "ok.tif", codes, rows_per_block=8), tmp_path / "ok.tif")
    with pytest.raises(InputError, match="neighbour rule"):
        read_tiled_landscape(_write(tmp_path / "ok.tif", codes, rows_per_block=8), tmp_path / "ids.tif",
                             neighbours=6)
    assert not (tmp_path / "ids.tif").exists()


def test_metrics_in_memory_are_unchanged_by_bands():
    """One landscape, its sweeps made whole and as three bands by hand: the same sums."""
    from carbonmap.landscape.metrics import class_adjacency, corner_counts
    from carbonmap.landscape.patches import perimeter_sides

    rng = np.random.default_rng(8)
    land = prepare(rng.integers(1, 4, (30, 20)).astype(np.uint8), 10.0)
    n = land.n_patches + 1
    cuts = [(0, 9), (9, 21), (21, 30)]
    bands = []
    for a, b in cuts:  # each band with one row around it where the raster has one
        top, bottom = max(0, a - 1), min(30, b + 1)
        bands.append((land.index[top:bottom], land.labels[top:bottom], (a - top, b - top)))
    assert (sum(perimeter_sides(i, lab, n - 1, own) for i, lab, own in bands) == land.perimeter_sides).all()
    assert (sum(class_adjacency(i, land.n_classes, own) for i, _, own in bands)
            == class_adjacency(land.index, land.n_classes)).all()
    assert (sum(corner_counts(lab, n, own) for _, lab, own in bands) == corner_counts(land.labels, n)).all()


def test_patch_polygons_and_unit_metrics_from_the_file_equal_the_whole_raster(mosaic, tmp_path):
    """The ecological patches traced strip by strip (pieces dissolved across the strips' edges)
    cover the cells the whole raster's polygons cover, with the same metrics; the per-unit
    fragmentation read unit box by unit box from the file is the same table. Cells of 27.3 m on
    an origin off the metre: the pieces meet exactly all the same (traced in cell units)."""
    with rasterio.open(mosaic) as src:
        odd = _write(tmp_path / "odd.tif", src.read(1), rows_per_block=32,
                     transform=Affine(27.3, 0, 412_345.67, 0, -27.3, 2_612_345.67))
    whole = read_landscape(odd)
    tiled = read_tiled_landscape(odd, tmp_path / "ids.tif", block_pixels=32 * 280)
    eco = np.array([0, 2])
    a = ecological_patches(whole, eco, min_area_ha=2.0, names={1: "one", 3: "three"})
    b = ecological_patches(tiled, eco, min_area_ha=2.0, names={1: "one", 3: "three"})
    assert len(a) == len(b) > 20 and a["patch_id"].tolist() == b["patch_id"].tolist()
    pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"))
    assert [int(w.height) for w in tiled.trace_windows] == [128, 128, 44]  # tracing windows of 4 strips
    windows = [np.unique(np.flatnonzero((whole.labels == pid).any(axis=1)) // 128) for pid in b["patch_id"]]
    assert sum(len(w) > 1 for w in windows) > 5  # patches in two windows were traced in pieces
    same = a.geometry.geom_equals(b.geometry)  # the same points, whatever the vertices along the seams
    assert same.mean() > 0.9 and (same | ~a.geometry.is_valid).all()  # (one tracing's ring touching
    assert a.geometry.symmetric_difference(b.geometry).area.max() == 0  # itself is pieces dissolved)
    np.testing.assert_allclose(b.geometry.area, b["area_ha"] * 1e4, rtol=1e-8)  # shoelace on 6-digit coordinates
    zones = np.full(whole.index.shape, -1, dtype=np.int32)
    zones[:150, :140], zones[:150, 140:], zones[150:, :] = 0, 1, 2
    zones[100:200, 50:60] = 3  # a unit across three strips
    pd.testing.assert_frame_equal(unit_metrics(whole, eco, zones, 5), unit_metrics(tiled, eco, zones, 5))
    assert unit_metrics(tiled, eco, zones, 5).loc[4].isna().all()  # a unit without cells
