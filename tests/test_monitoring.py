"""Monitoring across runs: trends and warnings by hand, `carbonmap compare` on the demo run and a
later copy of it, incomplete runs refused."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest
from click.testing import CliRunner

from carbonmap.cli import main
from carbonmap.coefficients import monitoring_thresholds
from carbonmap.errors import CarbonmapError, InputError
from carbonmap.monitoring import early_warnings, indicator_table, trend_columns, trends
from carbonmap.runs import read_run


def _summary(units, **columns) -> pd.DataFrame:
    return pd.DataFrame(columns, index=pd.Index(units, name="unit_id"))


def test_trend_is_the_least_squares_slope():
    table = pd.DataFrame({"unit_id": "A", "indicator": "sink_co2_t_yr", "year": [2020, 2021, 2023],
                          "value": [100.0, 104.0, 106.0]})
    row = trends(table).iloc[0]
    # t - mean = -4/3, -1/3, 5/3; x - mean = -10/3, 2/3, 8/3 -> (40 - 2 + 40)/9 / (16 + 1 + 25)/9 = 78/42 = 13/7
    assert row["change_per_yr"] == pytest.approx(13 / 7)
    assert row["change_pct_yr"] == pytest.approx(100 * 13 / 7 / 100)  # of the first value, 100
    assert (row["first_year"], row["last_year"], row["last_value"]) == (2020, 2023, 106.0)


def test_common_units_and_indicators():
    early = _summary(["A", "B"], source_co2_t_yr=[10.0, 20.0], eco_pland_pct=[50.0, 40.0])
    late = _summary(["A", "C"], source_co2_t_yr=[13.0, 5.0])
    table, missing = indicator_table({2023: late, 2020: early})
    assert missing == {"units": ["B", "C"], "indicators": ["ecological_land_pct"]}
    assert table.to_dict("list") == {"unit_id": ["A", "A"], "indicator": ["source_co2_t_yr"] * 2,
                                     "year": [2020, 2023], "value": [10.0, 13.0]}


def test_warnings_by_hand():
    early = _summary(["A", "B"], source_co2_t_yr=[100.0, 100.0], eco_pland_pct=[50.0, 50.0])
    late = _summary(["A", "B"], source_co2_t_yr=[106.0, 103.0], eco_pland_pct=[49.0, 50.0])
    trend = trends(indicator_table({2020: early, 2023: late})[0])
    thresholds = monitoring_thresholds()
    status = pd.DataFrame({"unit_id": ["A", "B"], "target": ["ecological_land_pct", "peak_year"],
                           "status": ["off_track", "off_track"]})
    warned = early_warnings(trend, thresholds, targets_status=status).set_index(["unit_id", "indicator"])
    # A's sources: +2 %/yr is not more than the threshold of 2 %/yr; B's +1 %/yr neither
    assert ("A", "source_co2_t_yr") not in warned.index and ("B", "source_co2_t_yr") not in warned.index
    # A's ecological land: -1 point in 3 years = 0.333 points/yr > 0.1, and A misses its target: an alert
    row = warned.loc[("A", "ecological_land_pct")]
    assert row["rate_per_yr"] == pytest.approx(1 / 3) and row["max_change_per_yr"] == 0.1
    assert (row["level"], row["off_track_targets"], row["change"]) == ("alert", "ecological_land_pct", "absolute")
    assert len(warned) == 1
    columns = trend_columns(trend, warned.reset_index())
    assert columns.loc["A", "trend_source_co2_t_yr_per_yr"] == pytest.approx(2.0)
    assert columns.loc["A", ["monitoring_warnings", "monitoring_alerts"]].tolist() == [1, 1]
    assert columns.loc["B", ["monitoring_warnings", "monitoring_alerts"]].tolist() == [0, 0]


def test_the_same_value_summed_in_another_order_has_no_trend():
    table = pd.DataFrame({"unit_id": "A", "indicator": "sink_co2_t_yr", "year": [2015, 2023],
                          "value": [0.1 + 0.2 + 0.3, 0.3 + 0.2 + 0.1]})  # 0.6000000000000001 and 0.6
    assert table["value"].iloc[0] != table["value"].iloc[1]
    assert trends(table)["change_per_yr"].iloc[0] == 0.0


def test_a_threshold_override_is_checked(tmp_path):
    path = tmp_path / "thresholds.csv"
    path.write_text("indicator,worse,change,max_change_per_yr,source\nsink_co2_t_yr,down,relative,1,mine\n",
                    encoding="utf-8")
    with pytest.raises(InputError, match="unknown worse or change"):
        monitoring_thresholds(path)


@pytest.fixture(scope="module")
def later_run(demo_run, tmp_path_factory):
    """The demo run as if made again in 2026: D01's sources up 10 %, D07's ecological land down
    1.5 points (it misses its 40 % target), D14 gone."""
    folder = tmp_path_factory.mktemp("later") / "out_2026"
    shutil.copytree(demo_run, folder, ignore=shutil.ignore_patterns(".carbonmap*", "rasters", "*.html", "*.xlsx"))
    summary = pd.read_csv(folder / "unit_summary.csv", encoding="utf-8-sig", dtype={"unit_id": str})
    summary.loc[summary["unit_id"] == "D01", "source_co2_t_yr"] *= 1.10
    summary.loc[summary["unit_id"] == "D07", "eco_pland_pct"] -= 1.5
    summary = summary[summary["unit_id"] != "D14"]
    summary.to_csv(folder / "unit_summary.csv", index=False, encoding="utf-8-sig")
    manifest = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    manifest["year"] = 2026
    for entry in manifest["files"]:  # the run as if made so: its manifest records the new file
        if entry["path"] == "unit_summary.csv":
            entry["sha256"] = hashlib.sha256((folder / "unit_summary.csv").read_bytes()).hexdigest()
    (folder / "run.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


def test_compare_two_demo_runs(demo_run, later_run, tmp_path):
    out = tmp_path / "monitoring"
    result = CliRunner().invoke(main, ["compare", str(demo_run), str(later_run), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 runs (2023, 2026)" in result.output and "D14" in result.output
    for name in ("monitoring.gpkg", "monitoring.html", "monitoring.xlsx", "monitoring_trends.csv", "run.json"):
        assert (out / name).exists(), name
    assert not any(p.name.startswith(".carbonmap-staging") for p in out.iterdir())
    trend = pd.read_csv(out / "monitoring_trends.csv", encoding="utf-8-sig").set_index(["unit_id", "indicator"])
    base = pd.read_csv(demo_run / "unit_summary.csv", encoding="utf-8-sig").set_index("unit_id")
    d01 = trend.loc[("D01", "source_co2_t_yr")]
    assert d01["change_per_yr"] == pytest.approx(0.10 * base.loc["D01", "source_co2_t_yr"] / 3)
    assert d01["change_pct_yr"] == pytest.approx(10 / 3)
    assert trend.loc[("D07", "ecological_land_pct"), "change_per_yr"] == pytest.approx(-0.5)
    assert trend.loc[("D02", "net_co2_t_yr"), "change_per_yr"] == pytest.approx(0.0)
    assert "D14" not in trend.index.get_level_values("unit_id")
    warned = pd.read_csv(out / "monitoring_warnings.csv", encoding="utf-8-sig", keep_default_na=False)
    # D01's sources +3.3 %/yr > 2 %/yr (its peak target is on track: a warning); D07's ecological land
    # -0.5 points/yr > 0.1 while it misses its 40 % target: an alert (net emissions were not altered)
    assert sorted(zip(warned["unit_id"], warned["indicator"], warned["level"])) == [
        ("D01", "source_co2_t_yr", "warning"), ("D07", "ecological_land_pct", "alert")]
    layer = pyogrio.read_dataframe(out / "monitoring.gpkg", layer="monitoring_units")
    assert len(layer) == 13 and layer.crs is not None
    assert layer.set_index("unit_id").loc["D07", "monitoring_alerts"] == 1
    page = (out / "monitoring.html").read_text(encoding="utf-8")
    assert page.count("data:image/svg+xml") >= 8 and "预警" in page and "生态用地占比" in page
    trends = page[page.index("<section id='trends'>"):]
    trends = trends[:trends.index("</section>")]
    assert "规划单元名称" in trends and "云岭区" in trends  # the units by name, beside their ids
    manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert manifest["kind"] == "monitoring" and [r["year"] for r in manifest["runs"]] == [2023, 2026]
    over = CliRunner().invoke(main, ["compare", str(demo_run), str(later_run), "-o", str(later_run)])
    assert over.exit_code == 1 and "holds a carbonmap run; the comparison would replace it" in over.output
    assert (later_run / "unit_summary.csv").exists()
    with pytest.raises(InputError, match="this folder holds a comparison of runs, not a run"):
        read_run(out)  # a comparison is not a run to compare


def test_compare_refuses_an_incomplete_run(demo_run, tmp_path):
    broken = tmp_path / "broken"
    (broken / ".carbonmap-staging-99").mkdir(parents=True)
    result = CliRunner().invoke(main, ["compare", str(demo_run), str(broken), "-o", str(tmp_path / "m")])
    assert result.exit_code == 1
    assert f"Error: {broken}: this folder holds no complete carbonmap run (run.json is missing" in result.output
    assert "Fix: run `carbonmap run PROJECT.toml` to the end first" in result.output
    assert not (tmp_path / "m").exists()
    result = CliRunner().invoke(main, ["compare", str(demo_run), str(tmp_path / "nowhere"), "-o", str(tmp_path / "m")])
    assert result.exit_code == 1 and "no such output folder" in result.output


def test_a_changed_run_the_same_run_twice_and_a_run_file_as_output_are_refused(demo_run, later_run, tmp_path):
    """A run whose unit_summary.csv changed after it finished (its SHA-256 is not run.json's), the
    same folder given twice, and -o naming a file of a run (targets would overwrite the run's
    unit_summary.csv, compensation its onemap.gpkg) are refused; nothing is written."""
    changed = tmp_path / "changed"
    shutil.copytree(later_run, changed)
    with open(changed / "unit_summary.csv", "a", encoding="utf-8") as handle:
        handle.write("\n")
    result = CliRunner().invoke(main, ["compare", str(demo_run), str(changed), "-o", str(tmp_path / "m")])
    assert result.exit_code == 1 and "the run's unit_summary.csv was changed after the run finished" in result.output
    result = CliRunner().invoke(main, ["compare", str(demo_run), str(demo_run), "-o", str(tmp_path / "m")])
    assert result.exit_code == 1 and "the same run is given twice (runs 1 and 2)" in result.output
    assert not (tmp_path / "m").exists()
    before = (later_run / "unit_summary.csv").read_bytes()
    targets = Path(__file__).parents[1] / "sample_data" / "demo_city" / "targets.csv"
    for command in (["targets", str(later_run), str(targets)],
                    ["compensation", str(later_run / "onemap.gpkg"), "--layer", "unit_summary"]):
        target = later_run / ("unit_summary.csv" if command[0] == "targets" else "onemap.gpkg")
        result = CliRunner().invoke(main, [*command, "-o", str(target)])
        assert result.exit_code == 1, result.output
        assert "this file belongs to the carbonmap run in its folder" in result.output
    assert (later_run / "unit_summary.csv").read_bytes() == before


def test_a_run_without_a_year_needs_one(later_run, demo_run, tmp_path):
    folder = tmp_path / "no_year"
    shutil.copytree(later_run, folder, ignore=shutil.ignore_patterns("*.gpkg"))
    manifest = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    manifest.pop("year")
    manifest["project_file"] = str(tmp_path / "gone.toml")
    manifest["files"] = [e for e in manifest["files"] if not e["path"].endswith(".gpkg")]  # a run without one
    (folder / "run.json").write_text(json.dumps(manifest), encoding="utf-8")
    assert read_run(folder).year is None
    result = CliRunner().invoke(main, ["compare", str(demo_run), str(folder), "-o", str(tmp_path / "m")])
    assert result.exit_code == 1 and "the run records no year" in result.output and "--year" in result.output
    result = CliRunner().invoke(main, ["compare", str(demo_run), str(folder), "--year", "2015", "--year", "2025",
                                       "-o", str(tmp_path / "m")])
    assert result.exit_code == 1 and "the run records the year 2023, and --year gives it 2015" in result.output
    result = CliRunner().invoke(main, ["compare", str(demo_run), str(folder), "--year", "2023", "--year", "2025",
                                       "-o", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    assert np.isclose(pd.read_csv(tmp_path / "m" / "monitoring_trends.csv").query(
        "unit_id == 'D01' and indicator == 'source_co2_t_yr'")["change_pct_yr"].iloc[0], 5.0)


def test_the_monitoring_section_compares_a_run_with_an_earlier_one(tmp_path):
    """[monitoring] in a project (the small Olinda sample, twice): the later run has the trend and
    warning columns, the tables and the layer; the earlier run's manifest is recorded as an input."""
    from carbonmap.config import load_project
    from carbonmap.pipeline import run

    olinda = (pytest.importorskip("carbonmap.sample_data").__path__[0]) + "/olinda"
    text = (f'[project]\nname = "o"\nyear = {{year}}\n[grid]\nresolution_m = 30\n'
            f'[units]\npath = "{olinda}/olinda_tracts.gpkg"\nlayer = "tracts"\nid_field = "CD_GEOCODI"\n'
            f'[[rasters]]\nname = "ndvi"\npath = "{olinda}/olinda_ndvi.tif"\nstats = ["mean"]\n'
            '[outputs]\nhtml = false\nreport = false\nsave_state = false\n')
    (tmp_path / "a.toml").write_text(text.format(year=2020), encoding="utf-8")
    first = run(load_project(tmp_path / "a.toml").with_output_dir(tmp_path / "a"), quiet=True)
    assert first.manifest["year"] == 2020
    (tmp_path / "b.toml").write_text(text.format(year=2023) + f'[monitoring]\nruns = ["{tmp_path / "a"}"]\n',
                                     encoding="utf-8")
    second = run(load_project(tmp_path / "b.toml").with_output_dir(tmp_path / "b"), quiet=True)
    summary = pd.read_csv(tmp_path / "b" / "unit_summary.csv")
    assert (summary["monitoring_warnings"] == 0).all() and "monitoring_alerts" in summary
    assert {"monitoring_trends", "monitoring_warnings", "monitoring_indicators"} <= set(second.tables)
    assert any(layer.name == "monitoring_units" for layer in second.layers)
    # without a saved state, the files the vector layers waited in are gone with the run, and said so
    assert not (tmp_path / "b" / ".carbonmap" / "layers").exists()
    layer = next(layer for layer in second.layers if layer.name == "monitoring_units")
    with pytest.raises(CarbonmapError, match="the features of layer 'monitoring_units' were kept for the run only"):
        layer.loaded()
    assert second.result("emissions") is None  # no [parcels]: the stage did not run
    with pytest.raises(CarbonmapError, match="the result of stage 'rasters' was let go during the run"):
        second.result("rasters")
    assert any(entry["role"] == "earlier run of 2020" for entry in second.published.inputs)
    assert any(f"runs compared: 2020 ({tmp_path / 'a'}), 2023 ({tmp_path / 'b'})" in note.en for note in second.notes)
    assert any(f"参与比较的运行：2020 年（{tmp_path / 'a'}）、2023 年（{tmp_path / 'b'}）" in note.zh
               for note in second.notes)  # each note in both languages
    assert not any(".carbonmap-staging" in note.en for note in second.notes)  # the folder a reader finds
    (tmp_path / "c.toml").write_text(text.format(year=2020) + f'[monitoring]\nruns = ["{tmp_path / "a"}"]\n',
                                     encoding="utf-8")
    with pytest.raises(InputError, match="two runs of 2020"):
        run(load_project(tmp_path / "c.toml").with_output_dir(tmp_path / "c"), quiet=True)


def test_the_monitoring_stage_survives_a_new_output_folder():
    """`run --only` into another folder changes [project] (its output_dir): the monitoring stage does
    not declare it, or every `--only` after it would be refused."""
    from carbonmap.themes.monitoring import MONITORING

    assert MONITORING.sections == ("monitoring",)


def test_the_demo_compares_2023_with_its_2015_run(demo_run):
    """`carbonmap demo` runs the city of 2015 next to its output and compares 2023 with it: each
    unit's trend is its change between the two runs' unit_summary.csv over 8 years, every unit whose
    sources rise faster than 2 %/yr is warned, and the report lists every warning (named units)."""
    from carbonmap.report import _monitoring

    earlier = demo_run.with_name(f"{demo_run.name}_2015")
    assert read_run(earlier).year == 2015 and not (earlier / "onemap.html").exists()
    before, after = (pd.read_csv(f / "unit_summary.csv", encoding="utf-8-sig").set_index("unit_id")
                     for f in (earlier, demo_run))
    gpkg = demo_run / "onemap.gpkg"
    trend = pyogrio.read_dataframe(gpkg, layer="monitoring_trends", read_geometry=False) \
        .set_index(["unit_id", "indicator"])
    sources = trend.xs("source_co2_t_yr", level="indicator")
    expected = (after["source_co2_t_yr"] - before["source_co2_t_yr"]) / 8 / before["source_co2_t_yr"] * 100
    np.testing.assert_allclose(sources["change_pct_yr"], expected.reindex(sources.index), rtol=1e-9)
    assert before["source_co2_t_yr"].sum() < after["source_co2_t_yr"].sum()  # the 2015 inventory is smaller
    warned = pyogrio.read_dataframe(gpkg, layer="monitoring_warnings", read_geometry=False)
    rising = set(expected.index[expected > 2.0])
    assert rising and set(warned.loc[warned["indicator"] == "source_co2_t_yr", "unit_id"]) == rising
    report = (demo_run / "report.html").read_text(encoding="utf-8")
    section = report[report.index("<section id='monitoring'>"):]
    section = section[:section.index("</section>")]
    assert "跨期监测：2015、2023" in section and section.count("<li class=") == len(warned) > 0
    assert section.count("data:image/svg+xml") >= 8  # the small multiples
    assert "跨期监测：各规划单元预警数" in (demo_run / "onemap.html").read_text(encoding="utf-8")
    tables = {name: pyogrio.read_dataframe(gpkg, layer=name, read_geometry=False)
              for name in ("monitoring_warnings", "monitoring_indicators")}
    summary = pyogrio.read_dataframe(gpkg, layer="unit_summary")
    _, title, english = _monitoring(tables, summary, "en")
    name = summary.set_index("unit_id").loc[warned["unit_id"].iloc[0], "unit_name"]
    assert title == "Monitoring across runs: 2015, 2023" and "Early warnings" in english
    assert f"{name} ({warned['unit_id'].iloc[0]})" in english


def test_line_end_labels_are_spread_one_label_apart_and_stay_near_their_values():
    from carbonmap.monitoring_report import spread_labels

    assert spread_labels([1.0, 2.0, 3.0], gap=0.5) == [1.0, 2.0, 3.0]  # apart already: where they are
    assert spread_labels([0.0, 0.1, 0.2, 5.0], gap=1.0) == [-0.9, 0.1, 1.1, 5.0]  # a crowd, centred on its mean
    assert spread_labels([0.0, 0.0, 0.0, 0.0], gap=1.0) == [-1.5, -0.5, 0.5, 1.5]
    # 0 and 0.2 make a block at -0.4, 0.6; 0.6 then overlaps it and joins: three labels around 0.8 / 3
    mean = 0.8 / 3
    assert spread_labels([0.0, 0.2, 0.6], gap=1.0) == pytest.approx([mean - 1, mean, mean + 1], abs=1e-9)
