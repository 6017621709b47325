"""Targets per unit and citywide: status, gap and lever checked by hand on a small case; the
targets table's checks; the stage in the demo and the command on its outputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyogrio
import pytest
from click.testing import CliRunner

from carbonmap.cli import main
from carbonmap.errors import CarbonmapError, InputError
from carbonmap.targets import check_targets, intensity_reduction, status_counts, status_of, unit_measures
from carbonmap.themes.targets import read_targets

YEARS = np.arange(2023, 2031)


def _path(scenario: str, unit: str, emissions, net) -> pd.DataFrame:
    return pd.DataFrame({"scenario": scenario, "unit_id": unit, "year": YEARS, "emissions_co2_t_yr": emissions,
                         "net_co2_t_yr": net})


@pytest.fixture
def case():
    """Two units, A and B. Land cover 'lc': A 60 ha forest of 100 ha land (+ 50 ha nodata); B 10 of 50 ha.
    Baseline emissions of A rise 10 t/yr to 2027 (peak 2027) then stay; scenario 'cut' peaks A in
    2025 and falls 10 t/yr; B's baseline falls 5 %/yr."""
    summary = pd.DataFrame({"lc_forest_area_ha": [60.0, 10.0], "lc_cropland_area_ha": [40.0, 40.0],
                            "lc_nodata_area_ha": [50.0, 0.0], "eco_pland_pct": [70.0, 20.0],
                            "rooftop_pv_mw": [1.0, 2.0], "ground_pv_suitable_mw": [3.0, np.nan],
                            "wind_suitable_mw": [0.0, 4.0]}, index=pd.Index(["A", "B"], name="unit_id"))
    base_a = np.array([100, 110, 120, 130, 140, 140, 140, 140], dtype=float)
    cut_a = np.array([100, 110, 120, 110, 100, 90, 80, 70], dtype=float)
    base_b = 200 * 0.95 ** (YEARS - 2023)
    timeline = pd.concat([_path("baseline", "A", base_a, base_a - 150), _path("cut", "A", cut_a, cut_a - 150),
                          _path("baseline", "B", base_b, base_b), _path("cut", "B", base_b, base_b),
                          _path("baseline", "city", base_a + base_b, base_a + base_b - 150),
                          _path("cut", "city", cut_a + base_b, cut_a + base_b - 150)])
    comparison = pd.DataFrame({"scenario": ["baseline", "baseline", "cut", "cut"], "unit_id": ["A", "B", "A", "B"],
                               "eco_pland_pct": [70.0, 20.0, 72.0, 30.0]})
    return summary, timeline, comparison


def _check(case, targets: dict) -> pd.DataFrame:
    summary, timeline, comparison = case
    return check_targets(pd.DataFrame(targets), summary, timeline=timeline, comparison=comparison, landcover="lc",
                         gdp_growth_pct=5.0).set_index(["unit_id", "target"])


def test_intensity_reduction_by_hand():
    # E falls from 100 to 90 in two years while GDP grows 5 %/yr: I(2025)/I(2023) = 0.9 / 1.05**2
    reduction = intensity_reduction(np.array([100.0, 95.0, 90.0]), np.array([2023, 2024, 2025]), base_year=2023,
                                    gdp_growth_pct=5.0)
    assert reduction[2] == pytest.approx(100 * (1 - 0.9 / 1.1025))  # 18.367 %
    assert reduction[0] == 0.0
    assert np.isnan(intensity_reduction(np.array([1.0]), np.array([2030]), base_year=2020, gdp_growth_pct=5)).all()


def test_status_and_gap_by_direction():
    assert status_of(2027.0, 2025.0, "at_most") == ("off_track", 2.0)
    assert status_of(2025.0, 2025.0, "at_most") == ("on_track", 0.0)
    assert status_of(55.0, 60.0, "at_least") == ("off_track", 5.0)
    assert status_of(np.nan, 60.0, "at_least")[0] == "no_data"


def test_land_and_capacity_measures_by_hand(case):
    measures = unit_measures(case[0], landcover="lc")
    assert measures.loc["A", "land_area_ha"] == 100.0  # nodata is not land
    assert measures.loc["A", "forest_cover_pct"] == pytest.approx(60.0)
    assert measures.loc["B", "forest_cover_pct"] == pytest.approx(20.0)
    assert measures["renewable_capacity_mw"].tolist() == [4.0, 6.0]  # a missing ground PV counts as none


def test_peak_year_off_track_with_the_scenario_that_closes_it(case):
    out = _check(case, {"unit_id": ["A", "B"], "peak_year": [2025, 2025]})
    a = out.loc[("A", "peak_year")]
    # first year of the largest value, 2 years late
    assert (a["target_year"], a["measured_year"], a["status"], a["gap_years"]) == (2025, 2027.0, "off_track", 2.0)
    assert (a["lever"], a["lever_met_year"]) == ("cut", 2025.0)
    assert np.isnan(a[["target_value", "measured", "gap", "lever_measured"]].astype(float)).all()  # years apart
    b = out.loc[("B", "peak_year")]
    assert (b["measured_year"], b["status"], b["gap_years"], b["lever"]) == (2023.0, "on_track", -2.0, "")


def test_intensity_target_measured_on_the_trajectory(case):
    out = _check(case, {"unit_id": ["A", "B"], "intensity_reduction_2030_pct": [40.0, 40.0]})
    a = out.loc[("A", "intensity_reduction_2030_pct")]
    expected = 100 * (1 - 140 / 100 / 1.05 ** 7)  # -(-0.5 %): no reduction
    assert a["measured"] == pytest.approx(expected) and a["status"] == "off_track"
    assert a["gap"] == pytest.approx(40.0 - expected)
    assert a["base_year"] == 2023  # the trajectory's first year by default
    # 'cut': R(t) = 1 - E(t)/100/1.05^(t-2023); 2030: 1 - 0.70/1.4071 = 50.25 % >= 40; first met in 2029
    assert a["lever"] == "cut"
    assert a["lever_measured"] == pytest.approx(100 * (1 - 0.70 / 1.05 ** 7))
    r_2028 = 100 * (1 - 0.90 / 1.05 ** 5)  # 29.5 %: not yet
    r_2029 = 100 * (1 - 0.80 / 1.05 ** 6)  # 40.3 %: met
    assert r_2028 < 40 <= r_2029 and a["lever_met_year"] == 2029
    b = out.loc[("B", "intensity_reduction_2030_pct")]
    assert b["measured"] == pytest.approx(100 * (1 - 0.95 ** 7 / 1.05 ** 7)) and b["status"] == "on_track"


def test_land_shares_capacity_net_zero_and_citywide(case):
    out = _check(case, {"unit_id": ["A", "B", "*"], "forest_cover_pct": [50, 30, 40],
                        "ecological_land_pct": [None, 25, 50], "renewable_capacity_mw": [5, None, 12],
                        "net_zero_year": [2030, None, 2030]})
    assert out.loc[("A", "forest_cover_pct"), ["status", "gap"]].tolist() == ["on_track", -10.0]
    assert out.loc[("B", "forest_cover_pct"), ["status", "gap"]].tolist() == ["off_track", 10.0]
    assert out.loc[("B", "forest_cover_pct"), "lever"] == ""  # scenarios do not report forest
    eco = out.loc[("B", "ecological_land_pct")]
    assert (eco["status"], eco["gap"], eco["lever"], eco["lever_measured"]) == ("off_track", 5.0, "cut", 30.0)
    assert out.loc[("A", "renewable_capacity_mw"), ["status", "gap"]].tolist() == ["off_track", 1.0]
    # A's net: E - 150 <= 0 first in 2023 (100 - 150)
    assert out.loc[("A", "net_zero_year"), ["measured_year", "status"]].tolist() == [2023.0, "on_track"]
    # citywide: forest (60 + 10) / (100 + 50) land; eco share land-weighted (70*100 + 20*50) / 150
    city = out.loc["*"]
    assert city.loc["forest_cover_pct", "measured"] == pytest.approx(100 * 70 / 150)
    assert city.loc["ecological_land_pct", "measured"] == pytest.approx(8000 / 150)
    assert city.loc["ecological_land_pct", "status"] == "on_track"
    assert city.loc["renewable_capacity_mw", ["measured", "status", "gap"]].tolist() == [10.0, "off_track", 2.0]
    # the city's net (A + B - 150) is never <= 0 in the baseline: off track, no gap to give
    assert city.loc["net_zero_year", "status"] == "off_track" and city.loc["net_zero_year", "note"] == "never"


def test_no_data_without_scenarios_or_land_cover(case):
    summary = case[0]
    out = check_targets(pd.DataFrame({"unit_id": ["A"], "peak_year": [2030], "forest_cover_pct": [10]}), summary,
                        landcover=None)
    assert out["status"].tolist() == ["no_data", "no_data"]


def test_counts_per_unit(case):
    out = _check(case, {"unit_id": ["A", "B", "*"], "peak_year": [2025, 2025, 2025], "forest_cover_pct": [50, 30, 1]})
    counts = status_counts(out.reset_index(), pd.Index(["A", "B", "C"]))
    assert counts.loc["A"].tolist() == [1, 1, 0, "off_track"]
    assert counts.loc["B"].tolist() == [1, 1, 0, "off_track"]
    assert counts.loc["C"].tolist() == [0, 0, 0, "no_targets"]  # only the citywide target


@pytest.mark.parametrize("text, match", [
    ("unit,peak_year\nA,2030\n", "has no unit_id column"),
    ("unit_id,peak_yr\nA,2030\n", "unknown column 'peak_yr'.*did you mean 'peak_year'"),
    ("unit_id,forest_cover_pct\nA,high\n", "forest_cover_pct of unit 'A' is 'high'"),
    ("unit_id,forest_cover_pct\nA,150\n", "not a number from 0 to 100"),
    ("unit_id,ecological_land_pct\nA,-5\n", "not a number from 0 to 100"),  # a share of land
    ("unit_id,intensity_reduction_2030_pct\nA,-150\n", "not a number from -100 to 100"),
    ("unit_id,peak_year\nA,2030\nA,2028\n", "unit 'A' has more than one row"),
])
def test_a_bad_targets_table_names_file_column_and_fix(tmp_path, text, match):
    path = tmp_path / "targets.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=match) as info:
        read_targets(path)
    assert str(path) in str(info.value) and "Fix:" in str(info.value)


def test_the_project_file_checks_the_targets_table(tmp_path):
    from carbonmap.config import load_project

    (tmp_path / "units.gpkg").write_bytes(b"")
    (tmp_path / "targets.csv").write_text("unit_id,peak_yaer\n*,2030\n", encoding="utf-8")
    project = tmp_path / "project.toml"
    project.write_text('[project]\nname = "t"\nyear = 2023\n[grid]\nresolution_m = 30\n'
                       '[units]\npath = "units.gpkg"\nid_field = "id"\n[targets]\ntable = "targets.csv"\n',
                       encoding="utf-8")
    with pytest.raises(CarbonmapError, match="targets.csv.*unknown column 'peak_yaer'"):
        load_project(project)
    (tmp_path / "targets.csv").write_text("unit_id,peak_year\n*,2030\n", encoding="utf-8")
    loaded = load_project(project)
    assert loaded.project.year == 2023 and loaded.targets.forest_classes == ["forest"]


def test_the_demo_shows_targets(demo_run):
    status = pyogrio.read_dataframe(demo_run / "onemap.gpkg", layer="targets_status", read_geometry=False)
    assert set(status["status"]) <= {"on_track", "off_track", "no_data"} and len(status) > 20
    assert (status["unit_id"] == "*").any()
    summary = pd.read_csv(demo_run / "unit_summary.csv", encoding="utf-8-sig")
    assert {"targets_on_track", "targets_off_track", "targets_no_data", "targets_status"} <= set(summary.columns)
    assert summary["targets_off_track"].sum() == (status[status["unit_id"] != "*"]["status"] == "off_track").sum()
    report = (demo_run / "report.html").read_text(encoding="utf-8")
    assert "未达标" in report and "可弥合差距的情景" in report


def test_the_command_equals_the_stage(demo_run, tmp_path):
    from importlib.resources import files

    table = files("carbonmap.sample_data") / "demo_city" / "targets.csv"
    out = tmp_path / "status.csv"
    result = CliRunner().invoke(main, ["targets", str(demo_run), str(table), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "on track" in result.output
    command = pd.read_csv(out, encoding="utf-8-sig", dtype={"unit_id": str}, keep_default_na=False,
                          na_values=[""])
    stage = pyogrio.read_dataframe(demo_run / "onemap.gpkg", layer="targets_status", read_geometry=False)
    pd.testing.assert_frame_equal(command[["unit_id", "target", "status"]], stage[["unit_id", "target", "status"]])
    np.testing.assert_allclose(command["gap"], stage["gap"])
    np.testing.assert_allclose(command["gap_years"], stage["gap_years"])


def test_the_command_refuses_an_incomplete_run(tmp_path):
    table = tmp_path / "targets.csv"
    table.write_text("unit_id,peak_year\n*,2030\n", encoding="utf-8")
    folder = tmp_path / "out"
    (folder / ".carbonmap-staging-123").mkdir(parents=True)
    result = CliRunner().invoke(main, ["targets", str(folder), str(table)])
    assert result.exit_code == 1
    assert f"{folder}: this folder holds no complete carbonmap run" in result.output
    assert "a run is still writing it, or one was stopped" in result.output
    assert "Fix: run `carbonmap run PROJECT.toml` to the end first" in result.output
