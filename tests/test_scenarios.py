"""Scenarios: a scenario that changes nothing is the baseline exactly, a known conversion changes
stocks and land fluxes by the hand-computed amounts, the Markov chain reproduces a constructed
matrix, and peak and net-zero years are right on hand-built trajectories."""

from __future__ import annotations

import dataclasses
import math
import shutil

import numpy as np
import pandas as pd
import pyogrio
import pytest

from carbonmap.coefficients import planning_stages
from carbonmap.errors import InputError
from carbonmap.scenarios import (
    allocate,
    convert,
    land_effects,
    milestones,
    periods_to,
    project_areas,
    stage_of,
    suitability,
    trajectory,
    transition_matrix,
)
from carbonmap.stocks import read_pools

CO2 = 44 / 12


def _map():
    """10 x 10 CLCD codes: cropland (1) left, forest (2) right, a row of impervious (8)."""
    codes = np.ones((10, 10), dtype=np.int16)
    codes[:, 5:] = 2
    codes[9, :] = 8
    return np.ma.MaskedArray(codes, mask=False)


POOLS = read_pools(pd.DataFrame({"lucode": [1, 2, 8], "c_above": [5.0, 80.0, 0.0], "c_below": [0.0, 20.0, 0.0],
                                 "c_soil": [45.0, 50.0, 20.0], "c_dead": [0.0, 0.0, 0.0]}))


def test_a_scenario_that_changes_nothing_is_the_baseline_exactly():
    base = _map()
    units = np.zeros(base.shape, dtype=np.int32)
    effects = land_effects(base, base.copy(), "clcd", units, 1, 1.0, builtup_intensity=np.array([1e4]), pools=POOLS)
    assert (effects.to_numpy() == 0).all()
    kwargs = dict(base_year=2023, end_year=2060, target_year=2030, annual_change={"all": [[2024, 2.0], [2031, -3.0]]})
    sources = pd.Series({"buildings": 500.0, "transport": 300.0})
    a = trajectory(sources, 100.0, **kwargs)
    b = trajectory(sources, 100.0, **kwargs, sector_change_pct={}, land_source=0.0, land_sink=0.0, avoided=0.0)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    assert a.loc[0, "emissions_co2_t_yr"] == 800.0 and a.loc[0, "net_co2_t_yr"] == 700.0  # the base year as measured


def test_converting_a_known_area_changes_stocks_and_fluxes_by_hand():
    base = _map()
    mask = np.zeros(base.shape, dtype=bool)
    mask[0:5, 0:1] = True  # 5 cells of cropland ...
    mask[0, 5] = True  # ... and one forest cell that only_from leaves alone
    after = convert(base, mask, 2, only_from=[1])
    assert int((after != base).sum()) == 5
    units = np.zeros(base.shape, dtype=np.int32)
    units[:, 5:] = 1
    effects = land_effects(base, after, "clcd", units, 2, 0.09, builtup_intensity=np.array([2e4, 3e4]), pools=POOLS)
    # 5 cells of 0.09 ha from cropland (50 t C/ha) to forest (150 t C/ha)
    assert effects.loc[0, "stock_change_t_c"] == pytest.approx(5 * 0.09 * (150 - 50))
    assert effects.loc[0, "converted_ha"] == pytest.approx(0.45)
    # cropland emits 0.422 t C/ha/yr (He 2006); forest removes 0.581 t C/ha/yr (Fang et al. 2007)
    assert effects.loc[0, "land_source_change_co2_t_yr"] == pytest.approx(-0.45 * 0.422 * CO2)
    assert effects.loc[0, "land_sink_change_co2_t_yr"] == pytest.approx(0.45 * 0.581 * CO2)
    assert (effects.loc[1] == 0).all()
    # new built-up land emits at the unit's built-up intensity
    sprawl = convert(base, np.zeros(base.shape, bool) | (np.arange(10)[:, None] == 8) & (np.arange(10) < 5), 8)
    built = land_effects(base, sprawl, "clcd", units, 2, 0.09, builtup_intensity=np.array([2e4, 3e4]))
    assert built.loc[0, "builtup_change_km2"] == pytest.approx(5 * 0.0009)
    assert built.loc[0, "builtup_source_change_co2_t_yr"] == pytest.approx(5 * 0.0009 * 2e4)


def test_markov_chain_reproduces_a_constructed_matrix():
    before = np.ma.MaskedArray(np.ones((10, 15), dtype=np.int16), mask=False)
    before[:, 10:] = 8  # 100 cells of cropland, 50 built-up
    after = before.copy()
    after[0:2, 0:10] = 8  # 20 of the 100 cropland cells are built over
    matrix = transition_matrix(before, after)
    np.testing.assert_array_equal(matrix.to_numpy(), [[0.8, 0.2], [0.0, 1.0]])
    assert periods_to(2039, 2015, 2023) == 2 and periods_to(2023, 2015, 2023) == 0
    counts = pd.Series({1: 80, 8: 70})
    flows = project_areas(counts, matrix, 1)
    np.testing.assert_allclose(flows.to_numpy(), [[64, 16], [0, 70]])
    builtup = np.ma.getdata(after) == 8
    scores = {c: suitability(np.ma.getdata(after), c, 30.0, window_cells=5, distance_decay_m=500.0, max_slope_deg=25.0,
                             builtup=builtup if c == 8 else None) for c in (1, 8)}
    projected = allocate(after, flows, scores.__getitem__)
    assert int((projected == 8).sum()) == 86 and int((projected == 1).sum()) == 64
    np.testing.assert_allclose(transition_matrix(after, projected).to_numpy(), matrix.to_numpy())
    grown = (projected == 8) & (after == 1)
    assert grown.sum() == 16 and grown[2, :10].all()  # next to the built-up land first ...
    from scipy import ndimage

    distance = ndimage.distance_transform_edt(~builtup)
    assert distance[grown].max() <= 2  # ... and nowhere far from it
    two = project_areas(pd.Series({1: 100, 8: 50}), matrix, 2)
    np.testing.assert_allclose(two.to_numpy(), [[64, 36], [0, 50]])  # 100 x [0.64, 0.36]
    with pytest.raises(InputError, match="differ in shape"):
        transition_matrix(before, after[:5])


def _allocate_the_plain_way(classes, flows, scores):
    """Each move in turn on the whole grid: the free cells of class i with the highest scores for j."""
    from carbonmap.scenarios.markov import _whole_cells

    data, valid = np.ma.getdata(classes).copy(), ~np.ma.getmaskarray(classes)
    codes, cells, taken = flows.index.to_numpy(), _whole_cells(flows.to_numpy()), ~valid
    moves = [(cells[i, j], i, j) for i in range(len(codes)) for j in range(len(codes)) if i != j and cells[i, j] > 0]
    for count, i, j in sorted(moves, key=lambda m: (-m[0], m[1], m[2])):
        free = np.flatnonzero(((np.ma.getdata(classes) == codes[i]) & ~taken).ravel())
        chosen = free[np.lexsort((free, -scores[int(codes[j])].ravel()[free]))[:count]]
        data.ravel()[chosen] = codes[j]
        taken.ravel()[chosen] = True
    return np.ma.MaskedArray(data, mask=~valid)


def test_allocation_by_class_pairs_equals_moving_cells_on_the_whole_grid():
    """Four classes, masked cells, many tied scores (rounded to tenths) and several moves out of each
    class: the same land cover cell for cell as placing each move on the whole grid in turn, and each
    suitability raster is asked for once."""
    rng = np.random.default_rng(3)
    codes = [1, 2, 5, 8]
    classes = np.ma.MaskedArray(rng.choice(codes, size=(60, 70)).astype(np.uint8), mask=rng.random((60, 70)) < 0.1)
    flows = pd.DataFrame(rng.random((4, 4)) * 300, index=codes, columns=codes)
    scores = {c: np.round(rng.random((60, 70)), 1) for c in codes}
    asked = []
    got = allocate(classes, flows, lambda code: asked.append(code) or scores[code])
    expected = _allocate_the_plain_way(classes, flows, scores)
    np.testing.assert_array_equal(np.ma.getdata(got), np.ma.getdata(expected))
    np.testing.assert_array_equal(np.ma.getmaskarray(got), np.ma.getmaskarray(classes))
    assert sorted(asked) == codes  # every class receives cells here, each asked once
    assert (np.ma.getdata(got) != np.ma.getdata(classes)).sum() > 1000


def test_peak_and_net_zero_years_on_hand_built_trajectories():
    stages = planning_stages()
    # +10 %/yr to 2027, then -20 %/yr: 100, 110, 121, 133.1, 146.41, 117.128, 93.70, 74.96, 59.97, 47.98
    path = trajectory(pd.Series({"all": 100.0}), 50.0, base_year=2023, end_year=2060, target_year=2030,
                      annual_change={"all": [[2024, 10.0], [2028, -20.0]]})
    assert path.loc[path["year"] == 2027, "emissions_co2_t_yr"].item() == pytest.approx(146.41)
    marks = milestones(path, stages)
    assert marks["peak_year"] == 2027 and marks["peak_emissions_co2_t_yr"] == pytest.approx(146.41)
    assert marks["peaked"] and marks["peak_stage"] == "peaking"
    assert marks["net_zero_year"] == 2032  # 146.41 x 0.8^5 = 47.98 <= 50
    assert marks["net_2060_co2_t_yr"] == pytest.approx(146.41 * 0.8 ** 33 - 50)
    rising = milestones(trajectory(pd.Series({"all": 100.0}), 0.0, base_year=2023, end_year=2060, target_year=2030,
                                   annual_change={"all": [[2024, 1.0]]}), stages)
    assert rising["peak_year"] == 2060 and not rising["peaked"] and rising["net_zero_year"] is None
    assert rising["peak_stage"] == "neutrality"
    # a retrofit of -15 % rolled out by 2030, a sink growing 2 %/yr, and avoided emissions
    path = trajectory(pd.Series({"buildings": 200.0}), 40.0, base_year=2023, end_year=2040, target_year=2030,
                      sector_change_pct={"buildings": -15.0}, avoided=14.0, land_sink=7.0, sink_growth_pct=2.0)
    row = path.set_index("year")
    assert row.loc[2030, "emissions_co2_t_yr"] == pytest.approx(200 * 0.85 - 14)
    assert row.loc[2026, "emissions_co2_t_yr"] == pytest.approx(200 * (1 - 0.15 * 3 / 7) - 14 * 3 / 7)
    assert row.loc[2035, "sink_co2_t_yr"] == pytest.approx(40 * 1.02 ** 12 + 7)
    assert list(stage_of([2019, 2020, 2021, 2030, 2031, 2041, 2060, 2061], stages)) == [
        "exploration", "exploration", "peaking", "peaking", "interlacing", "neutrality", "neutrality",
        "post_neutrality"]
    with pytest.raises(InputError, match="-100 %"):
        trajectory(pd.Series({"a": 1.0}), 0.0, base_year=2023, end_year=2030, target_year=2025,
                   annual_change={"a": [[2024, -100.0]]})


def test_demo_scenarios_add_up_and_start_from_the_run(demo_run):
    gpkg = demo_run / "onemap.gpkg"
    summary = pyogrio.read_dataframe(gpkg, layer="unit_summary", read_geometry=False).set_index("unit_id")
    table = pyogrio.read_dataframe(gpkg, layer="scenario_comparison_per_unit", read_geometry=False)
    city = pyogrio.read_dataframe(gpkg, layer="scenario_comparison_citywide", read_geometry=False)
    assert list(city["scenario"]) == ["baseline", "bau_2039", "restoration", "low_carbon"]
    for column in ("source_co2_t_yr", "sink_co2_t_yr", "stock_change_t_c"):
        sums = table.groupby("scenario", sort=False)[column].sum()
        np.testing.assert_allclose(city.set_index("scenario")[column], sums.reindex(city["scenario"]))
    baseline = table[table["scenario"] == "baseline"].set_index("unit_id")
    assert (baseline[["change_source_co2_t_yr", "change_sink_co2_t_yr", "converted_ha"]] == 0).all().all()
    np.testing.assert_allclose(baseline["source_co2_t_yr"], summary["source_co2_t_yr"].reindex(baseline.index))
    np.testing.assert_allclose(baseline["sink_co2_t_yr"], summary["sink_co2_t_yr"].reindex(baseline.index))
    restoration = city.set_index("scenario").loc["restoration"]
    sites = pyogrio.read_dataframe(gpkg, layer="afforestation_sites", read_geometry=False)
    planted = sites[sites["in_top_ranked"]]
    assert restoration["converted_ha"] == pytest.approx(planted["area_ha"].sum())
    assert restoration["change_sink_co2_t_yr"] == pytest.approx(planted["sink_t_co2_yr"].sum() - 0.005 * CO2 *
                                                                planted["area_ha"].sum())  # barren removed 0.005
    timeline = pyogrio.read_dataframe(gpkg, layer="scenario_timeline", read_geometry=False)
    first = timeline[(timeline["year"] == 2023) & (timeline["unit_id"] == "city")]
    assert first["emissions_co2_t_yr"].to_numpy() == pytest.approx([summary["source_co2_t_yr"].sum()] * 4)
    marks = pyogrio.read_dataframe(gpkg, layer="scenario_milestones", read_geometry=False)
    np.testing.assert_allclose(summary["baseline_peak_year"], marks[
        (marks["scenario"] == "baseline") & (marks["unit_id"] != "city")].set_index("unit_id")["peak_year"]
        .reindex(summary.index))
    assert (marks[marks["unit_id"] == "city"].set_index("scenario")["peak_year"].loc["baseline"] == 2030)


@pytest.mark.slow
def test_a_null_scenario_in_the_pipeline_equals_the_baseline(demo_run, tmp_path):
    from importlib.resources import files

    from carbonmap.config import ScenarioInput, load_project
    from carbonmap.pipeline import run

    out = tmp_path / "demo"
    shutil.copytree(demo_run, out)
    project = load_project(str(files("carbonmap.sample_data") / "demo_city" / "project.toml")).with_output_dir(out)
    project = dataclasses.replace(project, scenarios=[*project.scenarios, ScenarioInput(name="nothing")])
    run(project, quiet=True, only="scenarios")
    table = pyogrio.read_dataframe(out / "onemap.gpkg", layer="scenario_comparison_per_unit", read_geometry=False)
    nothing = table[table["scenario"] == "nothing"].drop(columns="scenario").reset_index(drop=True)
    baseline = table[table["scenario"] == "baseline"].drop(columns="scenario").reset_index(drop=True)
    pd.testing.assert_frame_equal(nothing, baseline, check_exact=True)
    timeline = pyogrio.read_dataframe(out / "onemap.gpkg", layer="scenario_timeline", read_geometry=False)
    a = timeline[timeline["scenario"] == "nothing"].drop(columns="scenario").reset_index(drop=True)
    b = timeline[timeline["scenario"] == "baseline"].drop(columns="scenario").reset_index(drop=True)
    assert not math.isnan(a["net_co2_t_yr"].sum())
    pd.testing.assert_frame_equal(a, b, check_exact=True)
