"""Uncertainty and sensitivity (carbonmap.uncertainty): analytic cases, IPCC Approach 1 against
Monte Carlo, determinism, hand-computed small models, bad ranges."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from carbonmap.coefficients import balance_classes, coefficient_uncertainty
from carbonmap.errors import InputError
from carbonmap.uncertainty import (
    Z95,
    LinearModel,
    Trajectory,
    analyse,
    approach1_half_width,
    balance_model,
    check_draws,
    class_probabilities,
    draw_multipliers,
    latin_hypercube,
    linear_sobol,
    milestone_years,
    multiplier_ppf,
    propagate,
    rank_correlations,
    tornado,
    trajectory_draws,
)


def _parameters(rows):
    frame = pd.DataFrame(rows, columns=["parameter", "distribution", "lower_pct", "upper_pct"])
    return frame.assign(table="t", keys=frame["parameter"], source="test", verified="").set_index(
        "parameter", drop=False)


def _normals():
    """Three independent normal coefficients (+-10, 20, 40 %) contributing 100, 50, 30 to one unit."""
    parameters = _parameters([("a", "normal", 10, 10), ("b", "normal", 20, 20), ("c", "normal", 40, 40)])
    contributions = pd.DataFrame({"a": [100.0], "b": [50.0], "c": [30.0]}, index=["u"])
    sigma = np.sqrt((100 * 0.10 / Z95) ** 2 + (50 * 0.20 / Z95) ** 2 + (30 * 0.40 / Z95) ** 2)
    return parameters, contributions, sigma


def test_sum_of_independent_normals_matches_the_analytic_interval():
    """5-95 % of y = sum of normals is mean +- 1.645 sqrt(sum sigma^2), within Monte Carlo error."""
    parameters, contributions, sigma = _normals()
    f = draw_multipliers(parameters, 4000, seed=3)
    y = propagate(pd.Series({"u": 180.0}), contributions, f)[:, 0]
    low, high = np.percentile(y, [5, 95])
    z = stats.norm.ppf(0.95)  # 1.645
    # Monte Carlo error of a 5 % quantile: sqrt(q (1 - q) / n) / pdf(quantile), in units of sigma
    error = np.sqrt(0.05 * 0.95 / 4000) / stats.norm.pdf(z) * sigma
    assert low == pytest.approx(180 - z * sigma, abs=3 * error)
    assert high == pytest.approx(180 + z * sigma, abs=3 * error)
    assert y.mean() == pytest.approx(180.0, abs=3 * sigma / np.sqrt(4000))


def test_approach1_agrees_with_monte_carlo_on_a_linear_case():
    parameters, contributions, sigma = _normals()
    half = float(approach1_half_width(contributions, parameters).iloc[0])
    assert half == pytest.approx(Z95 * sigma, rel=1e-12)  # exact for normals
    f = draw_multipliers(parameters, 4000, seed=11)
    y = propagate(pd.Series({"u": 180.0}), contributions, f)[:, 0]
    low, high = np.percentile(y, [2.5, 97.5])
    error = np.sqrt(0.025 * 0.975 / 4000) / stats.norm.pdf(Z95) * sigma
    assert (high - low) / 2 == pytest.approx(half, abs=3 * error)


def test_same_seed_same_draws_other_seed_other_draws():
    parameters, _, _ = _normals()
    a = draw_multipliers(parameters, 50, seed=7)
    assert np.array_equal(a, draw_multipliers(parameters, 50, seed=7))
    assert not np.array_equal(a, draw_multipliers(parameters, 50, seed=8))


def test_latin_hypercube_has_one_point_per_stratum():
    u = latin_hypercube(20, 3, seed=1)
    for column in u.T:
        assert sorted(np.floor(column * 20).astype(int)) == list(range(20))


@pytest.mark.parametrize("distribution, lower, upper, expected", [
    ("normal", 10, 10, (0.9, 1.0, 1.1)),          # the 2.5 / 50 / 97.5 % quantiles
    ("lognormal", 50, 100, (0.5, 1.0, 2.0)),      # a factor of 2 either way: median 1
    ("uniform", 20, 20, (0.8, 1.0, 1.2)),         # 0 / 50 / 100 %
    ("triangular", 20, 20, (0.8, 1.0, 1.2)),      # minimum, mode (symmetric: median), maximum
])
def test_multiplier_quantiles(distribution, lower, upper, expected):
    q = (0.025, 0.5, 0.975) if distribution in ("normal", "lognormal") else (0.0, 0.5, 1.0)
    assert multiplier_ppf(distribution, lower, upper, q) == pytest.approx(expected, rel=1e-9)


def test_a_zero_range_is_exact():
    assert multiplier_ppf("uniform", 0, 0, [0.1, 0.9]).tolist() == [1.0, 1.0]


def test_balance_model_by_hand():
    """Buildings 100 in u1 and 50 in u2 (by proxy); industry: inventory 300 of which a point source
    of 100 in u1, the rest 200 by proxy 150 / 50; land-use emission 10 in u2; NEP 40 / 20."""
    sources = pd.DataFrame({"buildings": [100.0, 50.0], "industry": [250.0, 50.0], "land_use": [0.0, 10.0]},
                           index=["u1", "u2"])
    inventory = pd.DataFrame({"inventory_co2_t_yr": [150.0, 300.0], "point_co2_t_yr": [0.0, 100.0]},
                             index=["buildings", "industry"])
    points = pd.DataFrame({"industry": [100.0, 0.0]}, index=["u1", "u2"])
    land = pd.DataFrame({"CN-CROPLAND-HE2006": [0.0, 10.0]}, index=["u1", "u2"])
    model = balance_model(coefficient_uncertainty(), sources=sources, sinks=pd.Series({"u1": 40.0, "u2": 20.0}),
                          inventory=inventory, points=points, land_emissions=land,
                          nep_sink=pd.Series({"u1": 40.0, "u2": 20.0}))
    j = model.contributions["source"]
    assert j.loc["u1", "inventory:industry"] == pytest.approx(150 * 300 / 200)  # q T / (T - P)
    assert j.loc["u1", "inventory:point_sources"] == pytest.approx(100 - 150 * 100 / 200)  # p - q P / (T - P)
    assert j.loc["u2", "inventory:point_sources"] == pytest.approx(-50 * 100 / 200)
    assert j.loc["u2", "landuse_carbon_coefficients:CN-CROPLAND-HE2006"] == 10.0
    # the contributions of a sector add up to its sources: a total drawn x1 changes nothing
    assert j.sum(axis=1).to_numpy() == pytest.approx(sources.sum(axis=1).to_numpy())
    assert model.contributions["sink"].loc["u1", "sinks:nep"] == 40.0
    # the industry total +10 % with the point sources as reported: the unit's proxy share grows
    f = np.ones((1, len(model.parameters)))
    f[0, list(model.parameters.index).index("inventory:industry")] = 1.1
    drawn = propagate(model.base.loc["source"], j.reindex(columns=model.parameters.index), f)
    assert drawn[0].tolist() == pytest.approx([100 + 100 + 150 * (330 - 100) / 200, 50 + 50 * 230 / 200 + 10])


def test_class_probabilities_by_hand():
    thresholds = balance_classes()["min_sink_source_ratio"].to_numpy()  # 0, 0.9, 1.1
    sources = np.array([[100.0, 0.0], [100.0, 0.0], [100.0, 0.0], [100.0, 0.0]])
    sinks = np.array([[50.0, 0.0], [95.0, 5.0], [120.0, 0.0], [80.0, 0.0]])
    p = class_probabilities(sources, sinks, thresholds)
    assert p[0].tolist() == [0.5, 0.25, 0.25]  # deficit, balanced, surplus
    assert p[1].tolist() == [0.0, 0.75, 0.25]  # no sources: balanced without sink, surplus with one


def test_rank_correlations_equal_scipy_spearman():
    rng = np.random.default_rng(0)
    x = rng.random((200, 3))
    y = np.column_stack([x[:, 0] ** 3 + 0.1 * x[:, 1], -x[:, 2]])
    rho = rank_correlations(x, y)
    for i in range(2):
        for k in range(3):
            assert rho[i, k] == pytest.approx(stats.spearmanr(x[:, k], y[:, i])[0], abs=1e-12)


def test_linear_sobol_is_the_share_of_variance():
    _, contributions, _ = _normals()
    variances = [(0.10 / Z95) ** 2, (0.20 / Z95) ** 2, (0.40 / Z95) ** 2]
    s = linear_sobol(contributions, variances).iloc[0]
    assert s.sum() == pytest.approx(1.0)
    assert s["a"] == pytest.approx(100 ** 2 * variances[0] / sum(c ** 2 * v for c, v in zip((100, 50, 30), variances)))


def test_tornado_is_the_output_at_each_coefficients_quantiles():
    parameters, contributions, _ = _normals()
    swing = tornado(contributions.iloc[0], parameters)
    z = stats.norm.ppf(0.95)
    assert swing.loc["a", "low"] == pytest.approx(-100 * 0.10 / Z95 * z)
    assert swing.loc["c", "high"] == pytest.approx(30 * 0.40 / Z95 * z)


def test_milestone_years_by_hand():
    years = np.array([2023, 2024, 2025, 2026])
    emissions = np.array([[1.0, 3.0, 2.0, 1.0], [1.0, 1.0, 1.0, 1.0]])
    net = np.array([[1.0, 0.5, -0.1, -1.0], [1.0, 1.0, 1.0, 1.0]])
    peak, zero = milestone_years(years, emissions, net)
    assert peak.tolist() == [2024, 2023]
    assert zero[0] == 2025 and np.isnan(zero[1])


def test_trajectory_draws_scale_sectors_and_the_sink():
    path = Trajectory("s", np.array([2023, 2024]), pd.DataFrame({"a": [10.0, 11.0], "b": [5.0, 5.0]}),
                      other=np.array([0.0, 1.0]), sink=np.array([4.0, 6.0]), sink_growth_pct=10.0)
    emissions, net = trajectory_draws(path, {"a": np.array([1.0, 2.0])}, np.array([1.0, 0.5]))
    assert emissions.tolist() == [[15.0, 17.0], [25.0, 28.0]]
    # sink: 4 -> 2 in the base year; 6 - 0.5 * 4 * 1.1 = 3.8 the year after
    assert net[1].tolist() == pytest.approx([25.0 - 2.0, 28.0 - 3.8])


def test_analyse_same_seed_same_intervals_and_sensible_summary():
    parameters, contributions, _ = _normals()
    model = LinearModel(parameters, pd.DataFrame({"u": [180.0, 90.0]}, index=["source", "sink"]),
                        {"source": contributions, "sink": contributions * 0.5})
    first, again = analyse(model, draws=300, seed=5), analyse(model, draws=300, seed=5)
    pd.testing.assert_frame_equal(first.per_unit, again.per_unit)
    pd.testing.assert_frame_equal(first.city, again.city)
    row = first.per_unit.loc["u"]
    assert row["net_co2_t_yr_p5"] < 90.0 < row["net_co2_t_yr_p95"]
    assert row["p_carbon_deficit_pct"] + row["p_balanced_pct"] + row["p_carbon_surplus_pct"] == pytest.approx(100)
    assert row["p_balance_class_pct"] == row["p_carbon_deficit_pct"]  # the central class: ratio 0.5
    assert row["net_top_coefficient"] == "c"  # 30 x 40 % beats 100 x 10 % and 50 x 20 % (its keys: "c")
    assert list(first.sensitivity["parameter"][:1]) == ["c"]
    assert first.sensitivity["sobol_first_order"].sum() == pytest.approx(1.0)


def test_draws_must_be_two_or_more():
    with pytest.raises(InputError, match="draws"):
        check_draws(1)
    with pytest.raises(InputError, match="draws"):
        latin_hypercube(0, 2)


@pytest.mark.parametrize("row, words", [
    ({"distribution": "gaussian"}, "unknown distribution 'gaussian'"),
    ({"lower_pct": "-5"}, "non-negative"),
    ({"lower_pct": "20", "upper_pct": "10", "distribution": "normal"}, "symmetric"),
    ({"lower_pct": "120", "distribution": "lognormal"}, "below zero"),
    ({"table": "pools"}, "unknown table"),
])
def test_bad_ranges_name_the_file_field_and_fix(tmp_path, row, words):
    values = {"table": "inventory", "key": "buildings", "group": "", "distribution": "normal", "lower_pct": "10",
              "upper_pct": "10", "source": "my survey", **row}
    path = tmp_path / "ranges.csv"
    pd.DataFrame([values]).to_csv(path, index=False)
    with pytest.raises(InputError, match=words) as info:
        coefficient_uncertainty(path)
    assert "ranges.csv" in str(info.value)


def test_an_override_replaces_a_range():
    table = coefficient_uncertainty(pd.DataFrame([{"table": "inventory", "key": "buildings", "group": "",
                                                   "distribution": "uniform", "lower_pct": "5", "upper_pct": "5",
                                                   "source": "city statistics bureau"}]))
    row = table[(table["table"] == "inventory") & (table["key"] == "buildings")]
    assert len(row) == 1 and row["distribution"].iloc[0] == "uniform" and row["group"].iloc[0] == "inventory:buildings"


# --------------------------------------------------------------------------- the project file and the command


DEMO = Path(__file__).resolve().parents[1] / "sample_data" / "demo_city" / "project.toml"


@pytest.mark.parametrize("section, key", [({"draws": 1}, "uncertainty.draws"), ({"seed": -1}, "uncertainty.seed"),
                                          ({"ranges": "no_such_ranges.csv"}, "uncertainty.ranges")])
def test_a_bad_uncertainty_section_names_its_key(section, key):
    from carbonmap.config import parse_project
    from carbonmap.errors import CarbonmapError

    data = tomllib.loads(DEMO.read_text(encoding="utf-8"))
    data["uncertainty"] = section
    with pytest.raises(CarbonmapError) as info:
        parse_project(data, DEMO)
    assert key in str(info.value)


def test_the_command_refuses_one_draw():
    from click.testing import CliRunner

    from carbonmap.cli import main

    result = CliRunner().invoke(main, ["uncertainty", str(DEMO), "--draws", "1", "--quiet"])
    assert result.exit_code == 1 and "--draws" in result.output and "at least 2" in result.output


# --------------------------------------------------------------------------- the demo run


def check_demo_outputs(folder: Path) -> None:
    """What a run of the demo (with its [uncertainty] section) must hold."""
    summary = pd.read_csv(folder / "unit_summary.csv")
    for name in ("source_co2_t_yr", "sink_co2_t_yr", "net_co2_t_yr"):
        low, mid, high = (summary[f"{name}_p{q}"] for q in (5, 50, 95))
        assert (low <= mid).all() and (mid <= high).all() and (low < high).any(), name
    classes = summary[["p_carbon_deficit_pct", "p_balanced_pct", "p_carbon_surplus_pct"]].sum(axis=1)
    assert classes.to_numpy() == pytest.approx(100.0)
    assert summary["p_balance_class_pct"].between(0, 100).all()
    import pyogrio

    layers = {name for name, _ in pyogrio.list_layers(folder / "onemap.gpkg")}
    assert {"uncertainty_citywide", "uncertainty_sensitivity", "uncertainty_top_coefficients",
            "coefficients_coefficient_uncertainty"} <= layers
    city = pyogrio.read_dataframe(folder / "onemap.gpkg", layer="uncertainty_citywide").set_index("quantity")
    source = city.loc["source_co2_t_yr"]
    # the sources are nearly a sum of normals: Approach 1 and the Monte Carlo 95 % agree within 10 %
    assert (source["approach1_high"] - source["approach1_low"]) == pytest.approx(source["p97_5"] - source["p2_5"],
                                                                                 rel=0.1)
    assert source["central"] == pytest.approx(summary["source_co2_t_yr"].sum())
    assert city.loc["sink_co2_t_yr", "central"] == pytest.approx(summary["sink_co2_t_yr"].sum())
    # the stock rebuilt from class areas x pool densities is the stocks stage's, and inside its interval
    assert city.loc["stock_t_c", "central"] == pytest.approx(summary["stock_landcover_2015_t_c"].sum(), rel=1e-6)
    assert ((summary["stock_t_c_p5"] < summary["stock_landcover_2015_t_c"])
            & (summary["stock_landcover_2015_t_c"] < summary["stock_t_c_p95"])).all()
    report = (folder / "report.html").read_text(encoding="utf-8")
    assert "id='uncertainty'" in report and report.count("data:image/svg+xml") >= 2
    page = (folder / "onemap.html").read_text(encoding="utf-8")
    assert "p_balance_class_pct" in page and "net_co2_t_yr_p95" in page


@pytest.mark.slow
def test_the_demo_shows_intervals_probabilities_and_the_tornado(demo_run):
    check_demo_outputs(demo_run)


@pytest.mark.slow
def test_the_command_reruns_the_stage_with_the_same_intervals(project_run, tmp_path):
    """`carbonmap uncertainty` is the stage: on a copy of the demo project's output set, with its
    draws and seed, it rewrites the same intervals (only the stage and the one map rerun)."""
    import shutil
    from importlib.resources import files

    from click.testing import CliRunner

    from carbonmap.cli import main

    copy = tmp_path / "demo"
    shutil.copytree(project_run, copy)
    (copy / ".carbonmap.lock").unlink(missing_ok=True)
    project = files("carbonmap.sample_data") / "demo_city" / "project.toml"
    result = CliRunner().invoke(main, ["uncertainty", str(project), "--draws", "1000", "--seed", "2023",
                                       "--output", str(copy), "--quiet"])
    assert result.exit_code == 0, result.output
    stages = json.loads((copy / "run.json").read_text())["stages_s"]
    assert set(stages) == {"uncertainty", "onemap"}
    before, after = pd.read_csv(project_run / "unit_summary.csv"), pd.read_csv(copy / "unit_summary.csv")
    columns = [c for c in before.columns if c.endswith(("_p5", "_p50", "_p95", "_pct", "_u95"))]
    assert len(columns) >= 13
    pd.testing.assert_frame_equal(before[columns], after[columns])


def test_the_report_section_escapes_what_users_wrote():
    """A source or a key from a user's ranges reaches the report as text, never as markup."""
    from carbonmap.report import _figure_style
    from carbonmap.report_uncertainty import uncertainty_section

    parameters, contributions, _ = _normals()
    parameters = parameters.assign(source=["<script>alert(1)</script>", "b & c", "ok"],
                                   keys=["<b>a</b>", "b", "c"])
    model = LinearModel(parameters, pd.DataFrame({"u": [180.0, 90.0]}, index=["source", "sink"]),
                        {"source": contributions, "sink": contributions * 0})
    result = analyse(model, draws=50, seed=1)
    with _figure_style("en"):
        page = uncertainty_section({"uncertainty_citywide": result.city, "uncertainty_sensitivity":
                                    result.sensitivity}, "en")
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<b>a</b>" not in page and "&lt;b&gt;a&lt;/b&gt;" in page and "b &amp; c" in page
    assert "data:image/svg+xml" in page  # the tornado


def test_the_command_runs_the_whole_project_when_the_saved_run_does_not_fit(tmp_path):
    """On an output folder whose saved run is of another version of the project (here its rasters'
    statistics changed), `carbonmap uncertainty` says so and runs the whole project instead."""
    from importlib.resources import files

    from click.testing import CliRunner

    from carbonmap.cli import main

    olinda = files("carbonmap.sample_data") / "olinda"
    text = (f'[project]\nname = "o"\n[grid]\nresolution_m = 30\n'
            f'[units]\npath = "{olinda}/olinda_tracts.gpkg"\nlayer = "tracts"\nid_field = "CD_GEOCODI"\n'
            f'[[rasters]]\nname = "ndvi"\npath = "{olinda}/olinda_ndvi.tif"\nstats = {{stats}}\n'
            '[outputs]\nhtml = false\nreport = false\n')
    out = tmp_path / "out"
    (tmp_path / "a.toml").write_text(text.format(stats='["mean"]'), encoding="utf-8")
    (tmp_path / "b.toml").write_text(text.format(stats='["mean", "max"]'), encoding="utf-8")
    assert CliRunner().invoke(main, ["run", str(tmp_path / "a.toml"), "-o", str(out), "-q"]).exit_code == 0
    result = CliRunner().invoke(main, ["uncertainty", str(tmp_path / "b.toml"), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert "The saved run cannot be resumed ([rasters] changed since the saved run" in result.output
    assert "rasters" in json.loads((out / "run.json").read_text())["stages_s"]  # the whole project ran
    assert "ndvi_max" in pd.read_csv(out / "unit_summary.csv", nrows=0).columns
