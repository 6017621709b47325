"""The land-use simulator (PLUS-like LEAS + CARS) on hand-built landscapes with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from carbonmap.errors import InputError
from carbonmap.scenarios.plus import (
    _cap,
    _inertia,
    _neighbour_counts,
    distance_drivers,
    expansion,
    learn_suitability,
    simulate,
    yearly_targets,
)

CODES = [1, 2, 3]


def _landscape(size=30):
    """Open land (1) with a built strip (2) along the left edge and a lake (3) in the top right."""
    land = np.ones((size, size), np.int64)
    land[:, 0] = 2
    land[:5, -5:] = 3
    return np.ma.MaskedArray(land, mask=np.zeros_like(land, bool))


def _demand(land, **change):
    counts = pd.Series(np.ma.compressed(land)).value_counts().reindex(CODES, fill_value=0)
    for code, delta in change.items():
        counts[int(code[1:])] += delta
    return counts


def test_growth_only_in_the_one_corridor_a_class_can_reach():
    land = _landscape()
    p = np.zeros((3, 30, 30), np.float32)
    p[1, 20:26, 20:26] = 1.0  # built may only grow in a block far from the existing built strip: seeding needed
    sim = simulate(land, p, _demand(land, c1=-20, c2=20), 5, codes=CODES, seed=1)
    new = (sim.landcover == 2) & (land != 2)
    assert new.sum() == 20
    rows, cols = np.nonzero(new)
    assert rows.min() >= 20 and rows.max() < 26 and cols.min() >= 20 and cols.max() < 26


def test_demand_met_exactly_and_restricted_cells_never_converted():
    land = _landscape()
    rng = np.random.default_rng(0)
    p = rng.random((3, 30, 30)).astype(np.float32)
    restricted = np.zeros((30, 30), bool)
    restricted[:, :3] = True  # next to the built strip, where growth would go first
    demand = _demand(land, c1=-150, c2=120, c3=30)
    sim = simulate(land, p, demand, 4, codes=CODES, restricted=restricted, seed=3)
    counts = pd.Series(np.ma.compressed(sim.landcover)).value_counts().reindex(CODES)
    assert counts.tolist() == demand.tolist()
    assert (sim.landcover[restricted] == land[restricted]).all()
    # the yearly course reaches each year's target
    last = sim.history[sim.history["year_step"] == 4]
    assert (last["cells"] == last["target_cells"]).all()


def test_same_seed_same_map_and_another_seed_another():
    land = _landscape()
    p = np.random.default_rng(1).random((3, 30, 30)).astype(np.float32)
    demand = _demand(land, c1=-80, c2=80)
    one, two = (simulate(land, p, demand, 3, codes=CODES, seed=7).landcover for _ in range(2))
    other = simulate(land, p, demand, 3, codes=CODES, seed=8).landcover
    assert np.array_equal(one, two)
    assert not np.array_equal(one, other)


def test_conversion_matrix_is_respected_and_bad_codes_named():
    land = _landscape()
    p = np.ones((3, 30, 30), np.float32)
    conversion = pd.DataFrame(True, index=CODES, columns=CODES)
    conversion.loc[3, 2] = False  # the lake never becomes built
    sim = simulate(land, p, _demand(land, c3=-10, c1=-40, c2=50), 3, codes=CODES, conversion=conversion, seed=2)
    assert not ((land == 3) & (sim.landcover == 2)).any()
    with pytest.raises(InputError, match="not in the land cover: 7"):
        simulate(land, p, _demand(land), 3, codes=CODES, conversion=pd.DataFrame(True, index=[1, 7], columns=[1, 2]))


def test_demand_that_cannot_be_met_is_refused_not_under_allocated():
    land = _landscape()
    p = np.zeros((3, 30, 30), np.float32)
    p[1, 10, 5:10] = 1.0  # 5 cells may become built
    with pytest.raises(InputError, match="cannot be met: only 5 cells"):
        simulate(land, p, _demand(land, c1=-6, c2=6), 2, codes=CODES)
    with pytest.raises(InputError, match="does not add up"):
        simulate(land, p, _demand(land, c2=6), 2, codes=CODES)


def test_learnt_probability_follows_the_driver_that_explains_the_expansion():
    rng = np.random.default_rng(4)
    before = np.ones((60, 60), np.int64)
    after = before.copy()
    column = np.tile(np.arange(60, dtype=np.float32), (60, 1))
    grows = (column < 15) & (rng.random((60, 60)) < 0.3)  # built appears only in the western quarter
    after[grows] = 2
    drivers = {"x_m": column * 30.0, "noise": rng.random((60, 60)).astype(np.float32)}
    suit = learn_suitability(before, after, drivers, codes=[1, 2], sample_size=500, trees=20, min_leaf=5, seed=0)
    p_built = suit.probability[1]
    assert p_built[:, :15].mean() > 0.5 > p_built[:, 30:].mean() + 0.3
    imp = suit.importance.set_index(["code", "driver"])["importance"]
    assert imp[(2, "x_m")] > imp[(2, "noise")]
    # class 1 did not expand: nothing to learn, its probability is the constant `unlearnt`
    assert (suit.probability[0] == 1).all() and not suit.samples.set_index("code").loc[1, "learnt"]
    assert (learn_suitability(before, after, drivers, codes=[1, 2], trees=5, unlearnt=0.0).probability[0] == 0).all()
    assert suit.samples.set_index("code").loc[2, "expansion_cells"] == grows.sum()
    with pytest.raises(InputError, match="another grid"):
        learn_suitability(before, after, {"x_m": column[:10]}, codes=[1, 2])


@pytest.mark.parametrize(("block_cells", "block_rows"), [(7, 1), (150, 3)])
def test_distances_computed_one_at_a_time_and_predicted_in_blocks_equal_whole_driver_stacks(
        monkeypatch, tmp_path, block_cells, block_rows):
    """The distances learnt from the earlier map and predicted from the later one, computed inside
    one at a time (a grid never holds both dates' distances, nor a drivers x cells table) and read
    back by blocks of whole rows from files in the scratch folder (with the other drivers), give the
    probabilities, importances and samples of the distance rasters handed in whole, bit for bit,
    whatever the block of cells
    predicted at once (a short last block; blocks of masked rows only, skipped); a masked and a NaN
    cell stay NaN; the files are gone at the end."""
    from carbonmap.scenarios import plus

    rng = np.random.default_rng(11)
    before = np.ma.MaskedArray(rng.choice([1, 2, 3], (40, 50), p=[0.7, 0.2, 0.1]), mask=np.zeros((40, 50), bool))
    after = before.copy()
    near_built = plus.distance_drivers(before, [2], (30.0, 30.0))["distance_to_2"] < 90
    after[near_built & (rng.random((40, 50)) < 0.4)] = 2
    after[rng.random((40, 50)) < 0.03] = 3
    after[0, 0] = np.ma.masked
    after[12:15] = np.ma.masked  # whole blocks without a cell to predict
    slope = rng.random((40, 50)).astype(np.float32) * 30
    slope[5, 7] = np.nan
    kwargs = {"codes": [1, 2, 3], "sample_size": 200, "trees": 10, "min_leaf": 3, "seed": 5}
    whole = plus.learn_suitability(
        before, after, {"slope": slope, **plus.distance_drivers(before, [2, 3], (30.0, 30.0))},
        predict_on={"slope": slope, **plus.distance_drivers(after, [2, 3], (30.0, 30.0))}, **kwargs)
    monkeypatch.setattr(plus, "PREDICT_CELLS", block_cells)
    read, reads = plus._DriverFile.read, []
    monkeypatch.setattr(plus._DriverFile, "read", lambda self, rows: reads.append((self.path, rows))
                        or read(self, rows))
    inside = plus.learn_suitability(before, after, {"slope": slope}, distance_to=[2, 3], spacing=(30.0, 30.0),
                                    scratch=tmp_path, **kwargs)
    assert np.array_equal(whole.probability, inside.probability, equal_nan=True)
    assert {path.name for path, _ in reads} == {"0.f32", "1.f32", "2.f32"}  # slope, distance_to_2, distance_to_3
    assert {path.parent.parent for path, _ in reads} == {tmp_path} and not any(tmp_path.iterdir())
    starts = [row * 50 for row in range(0, 40, block_rows) if not 12 <= row < 15]
    assert sorted(rows.start for _, rows in reads) == sorted(starts * 3)
    assert all(rows.stop - rows.start == min(block_rows * 50, 2000 - rows.start) for _, rows in reads)
    assert np.isnan(inside.probability[:, 12:15]).all()
    assert whole.importance.equals(inside.importance) and whole.samples.equals(inside.samples)
    assert list(inside.importance["driver"][:3]) == ["slope", "distance_to_2", "distance_to_3"]
    assert np.isnan(inside.probability[:, 0, 0]).all() and np.isnan(inside.probability[:, 5, 7]).all()
    assert inside.samples["learnt"].tolist() == [False, True, True]
    assert (inside.probability[0][~np.isnan(inside.probability[0])] == 1).all()


def test_small_pieces_equal_hand_computed_values():
    assert expansion(np.array([[1, 2, 1]]), np.array([[2, 2, 1]]), 2).tolist() == [[True, False, False]]
    # non-square cells: 10 m high, 30 m wide
    d = distance_drivers(np.array([[2, 1, 1], [1, 1, 1]]), [2], (10.0, 30.0))["distance_to_2"]
    assert d[0].tolist() == [0, 30, 60] and d[1, 0] == 10 and d[1, 1] == pytest.approx(np.hypot(10, 30))
    assert yearly_targets(np.array([10, 0]), np.array([4, 6]), 4).tolist() == [[9, 1], [7, 3], [6, 4], [4, 6]]
    # inertia doubles when the gap doubles, is kept when the gap shrinks, halves when the surplus doubles
    d = _inertia(np.ones(3), np.array([10.0, 10.0, -5.0]), np.array([20.0, 5.0, -10.0]))
    assert d.tolist() == [2.0, 1.0, 0.5]


def test_neighbour_counts_equal_a_uniform_filter_rounded():
    from scipy import ndimage

    rng = np.random.default_rng(5)
    for window in (3, 5, 7, 17):
        grid = rng.integers(0, 3, (23, 31)).astype(np.int16)
        mask = (grid == 1).astype(np.float64)
        expected = np.rint(ndimage.uniform_filter(mask, size=window, mode="constant") * window**2 - mask)
        assert np.array_equal(_neighbour_counts(grid, 1, window, np.arange(grid.size)), expected.ravel())


def test_an_even_window_or_a_negative_weight_is_refused():
    land = _landscape(10)
    probability = np.full((3, 10, 10), 0.5, np.float32)
    for kwargs, words in (({"window": 4}, "window of 4 cells"), ({"window": 1}, "window of 1 cells"),
                          ({"weights": [1, -0.5, 1]}, "weight is negative")):
        with pytest.raises(InputError, match=words):
            simulate(land, probability, _demand(land, c1=-5, c2=5), 2, codes=CODES, **kwargs)


def test_the_parameters_refuse_an_even_window_before_any_work():
    from carbonmap.coefficients import scenario_parameters

    row = {"parameter": "plus_window_cells", "unit": "cells", "source": "a user's study"}
    assert scenario_parameters(pd.DataFrame([{**row, "value": "7"}]))["plus_window_cells"] == 7
    for value in ("4", "1", "5.5"):
        with pytest.raises(InputError, match=rf"odd whole numbers of 3 or more.*plus_window_cells \({value}\)"):
            scenario_parameters(pd.DataFrame([{**row, "value": value}]))


def test_neighbour_counts_and_caps_equal_hand_counts():
    grid = np.array([[1, 1, 0], [0, 1, 0], [1, 0, 1]], np.int16)
    every = np.arange(9)
    # the 8 neighbours, none beyond the edge; a window wider than the grid sees every other cell
    assert _neighbour_counts(grid, 1, 3, every).reshape(3, 3).tolist() == [[2, 2, 2], [4, 4, 3], [1, 3, 1]]
    for window in (5, 17):  # 17 x 17 counts past 255: wider integers
        assert _neighbour_counts(grid, 1, window, every).reshape(3, 3).tolist() == [[4, 4, 5], [5, 4, 5], [4, 5, 4]]
    assert _neighbour_counts(grid, 0, 3, np.array([4, 8])).tolist() == [4, 2]
    # the first `room` of each group by score, a tie to the lower index; a group within its room untouched
    accepted = np.array([True, True, True, True, False, True])
    groups, score = np.array([0, 0, 0, 1, 1, 1]), np.array([0.5, 0.9, 0.5, 0.2, 0.9, 0.1])
    assert _cap(accepted, groups, score, np.array([2, 1])).tolist() == [True, True, False, True, False, False]
    assert _cap(accepted, groups, score, np.array([0, 5])).tolist() == [False, False, False, True, False, True]


def test_a_driver_file_a_worker_cannot_see_is_an_error_naming_it(tmp_path):
    """A block's driver is read from the run's output set; a worker that does not see that folder
    (no shared file system) gets an error naming the file and the fix, not a bare OSError."""
    from carbonmap.errors import InputNotFoundError
    from carbonmap.scenarios import plus

    driver = plus._DriverFile.write(tmp_path / "slope.f32", np.arange(6, dtype=np.float64))
    assert driver.read(slice(2, 5)).tolist() == [2.0, 3.0, 4.0]
    driver.path.unlink()
    with pytest.raises(InputNotFoundError) as error:
        driver.read(slice(0, 3))
    assert error.value.path == str(tmp_path / "slope.f32") and "shared file system" in error.value.fix
