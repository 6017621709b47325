"""Carbon compensation: zoning by hand, the transport problem against a hand-solved case,
conservation, bad inputs, the command against the functions, the project section."""

from __future__ import annotations

import shutil
import tomllib
from importlib.resources import files
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from click.testing import CliRunner

from carbonmap.cli import main
from carbonmap.compensation import (
    compensation_network,
    compensation_zoning,
    neighbours,
    same_zone,
    transport_plan,
)
from carbonmap.config import parse_project
from carbonmap.errors import CarbonmapError, ConfigError, InputError, MissingColumnError

DEMO = Path(str(files("carbonmap.sample_data") / "demo_city" / "project.toml"))


# --------------------------------------------------------------------------- the transport problem

def test_transport_plan_matches_a_hand_solved_case():
    """2 payers x 3 receivers. Costs (A: 1 2 5, B: 4 3 1), supplies A 30, B 20, demands X 10, Y 25, Z 15.
    By hand (northwest corner improved by potentials): B sends its cheapest 15 to Z, A fills X (10)
    and 20 of Y, B the other 5 of Y. Potentials u_A = 0, v_X = 1, v_Y = 2, u_B = 1, v_Z = 0 leave
    reduced costs A-Z 5 and B-X 2, both > 0: the optimum is unique, at 10 + 40 + 15 + 15 = 80."""
    cost = pd.DataFrame([[1.0, 2.0, 5.0], [4.0, 3.0, 1.0]], index=["A", "B"], columns=["X", "Y", "Z"])
    plan = transport_plan(pd.Series({"A": 30.0, "B": 20.0}), pd.Series({"X": 10.0, "Y": 25.0, "Z": 15.0}), cost)
    flows = {(p, r): a for p, r, a in zip(plan["payer_id"], plan["receiver_id"], plan["amount_co2_t_yr"])}
    assert flows == pytest.approx({("A", "X"): 10.0, ("A", "Y"): 20.0, ("B", "Y"): 5.0, ("B", "Z"): 15.0}, abs=1e-9)
    assert (plan["amount_co2_t_yr"] * plan["cost"]).sum() == pytest.approx(80.0, abs=1e-9)


def test_transport_plan_conserves_amounts_and_balances_unequal_totals():
    rng = np.random.default_rng(7)
    supply = pd.Series(rng.uniform(1, 50, 6), index=[f"p{i}" for i in range(6)])
    demand = pd.Series(rng.uniform(1, 50, 5), index=[f"r{i}" for i in range(5)])
    cost = pd.DataFrame(rng.uniform(1, 20, (6, 5)), index=supply.index, columns=demand.index)
    plan = transport_plan(supply, demand, cost)
    # the payers' amounts are kept; the demands are scaled to their total
    np.testing.assert_allclose(plan.groupby("payer_id")["amount_co2_t_yr"].sum().reindex(supply.index), supply)
    scaled = demand * supply.sum() / demand.sum()
    np.testing.assert_allclose(plan.groupby("receiver_id")["amount_co2_t_yr"].sum().reindex(demand.index), scaled)
    assert (plan["amount_co2_t_yr"] > 0).all()


def test_transport_plan_respects_the_allowed_pairs_and_names_an_infeasible_restriction():
    cost = pd.DataFrame(1.0, index=["A", "B"], columns=["X", "Y"])
    allowed = pd.DataFrame([[True, False], [False, True]], index=["A", "B"], columns=["X", "Y"])
    plan = transport_plan(pd.Series({"A": 2.0, "B": 3.0}), pd.Series({"X": 2.0, "Y": 3.0}), cost, allowed=allowed)
    assert list(zip(plan["payer_id"], plan["receiver_id"])) == [("A", "X"), ("B", "Y")]
    # every unit has a partner, but only B (1) may pay Y (5), and X takes only 1 of A's 5: infeasible
    allowed.loc["B", "X"] = True
    with pytest.raises(InputError, match=r"compensation.restriction.*infeasible under restriction 'zone': the "
                                         "allowed pairs cannot carry"):
        transport_plan(pd.Series({"A": 5.0, "B": 1.0}), pd.Series({"X": 1.0, "Y": 5.0}), cost, allowed=allowed,
                       restriction="zone")


# --------------------------------------------------------------------------- zoning by hand

def test_classes_and_amounts_by_hand_with_a_balanced_unit():
    """Sources a 50, b 30, c 15, d 5 (E = 100) and sinks a 4, b 11, c 5, d 20 (K = 40):
    shares e = .5 .3 .15 .05 and k = .1 .275 .125 .5, so rates k/e = .2, .9167, .8333, 10:
    a and c pay (below .9), b is balanced (.9 to 1.1), d receives. Gaps K (e - k) = 16, 1, 1, -18:
    a pays 16, c pays 1; b's gap of 1 is not paid, so d's 18 is scaled to the 17 paid."""
    zoning = compensation_zoning(pd.Series({"a": 50.0, "b": 30.0, "c": 15.0, "d": 5.0}),
                                 pd.Series({"a": 4.0, "b": 11.0, "c": 5.0, "d": 20.0}))
    np.testing.assert_allclose(zoning["compensation_rate"], [0.2, 0.275 / 0.3, 0.125 / 0.15, 10.0])
    assert list(zoning["compensation_class"]) == ["carbon_paying", "carbon_balanced", "carbon_paying",
                                                  "carbon_receiving"]
    np.testing.assert_allclose(zoning["compensation_paid_co2_t_yr"], [16.0, 0.0, 1.0, 0.0])
    np.testing.assert_allclose(zoning["compensation_received_co2_t_yr"], [0.0, 0.0, 0.0, 17.0])
    assert "compensation_paid_cny_yr" not in zoning  # no price, no money


def test_economic_correction_by_hand():
    """Sources a 60, b 30, c 10; sinks a 10, b 10, c 20 (K = 40); GDP a 30, b 60, c 10.
    e = .6 .3 .1, k = .25 .25 .5, g = .3 .6 .1: ECC = g/e = .5, 2, 1; weighted sink shares
    k ECC = .125 .5 .5 (sum 1.125) -> k' = 1/9, 4/9, 4/9; corrected rates k'/e = .185, 1.481, 4.444:
    a pays, b and c receive (b would pay uncorrected: .833). Gaps 40 (e - k') = 176/9, -52/9, -124/9.
    With a price of 100 CNY/t CO2 the money is 100 times the amounts."""
    zoning = compensation_zoning(pd.Series({"a": 60.0, "b": 30.0, "c": 10.0}),
                                 pd.Series({"a": 10.0, "b": 10.0, "c": 20.0}),
                                 gdp=pd.Series({"a": 30.0, "b": 60.0, "c": 10.0}), corrections=["economic"],
                                 price_cny_per_t_co2=100.0)
    np.testing.assert_allclose(zoning["economic_contribution_coef"], [0.5, 2.0, 1.0])
    np.testing.assert_allclose(zoning["compensation_rate"], [0.25 / 0.6, 0.25 / 0.3, 5.0])
    np.testing.assert_allclose(zoning["compensation_rate_corrected"], [1 / 9 / 0.6, 4 / 9 / 0.3, 4 / 9 / 0.1])
    assert list(zoning["compensation_class"]) == ["carbon_paying", "carbon_receiving", "carbon_receiving"]
    np.testing.assert_allclose(zoning["compensation_paid_co2_t_yr"], [176 / 9, 0, 0])
    np.testing.assert_allclose(zoning["compensation_received_co2_t_yr"], [0, 52 / 9, 124 / 9])
    np.testing.assert_allclose(zoning["compensation_paid_cny_yr"], 100 * zoning["compensation_paid_co2_t_yr"])


def test_ecological_coefficient_and_negative_sinks():
    """ESC = share of sinks / share of area; a negative sink (land releasing carbon) is a source:
    b's -10 makes its sources 10 + 10 = 20 of 40, its sinks 0."""
    zoning = compensation_zoning(pd.Series({"a": 20.0, "b": 10.0}), pd.Series({"a": 30.0, "b": -10.0}),
                                 area_km2=pd.Series({"a": 1.0, "b": 3.0}))
    np.testing.assert_allclose(zoning["ecological_carrying_coef"], [1.0 / 0.25, 0.0])
    np.testing.assert_allclose(zoning["compensation_rate"], [1.0 / 0.5, 0.0])
    np.testing.assert_allclose(zoning["compensation_paid_co2_t_yr"], [0.0, 15.0])  # 30 x (0.5 - 0)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"corrections": ["economic"]}, "economic correction needs each unit's gdp"),
    ({"corrections": ["social"]}, "unknown correction"),
    ({"price_cny_per_t_co2": -5.0}, "carbon price must be 0 or more"),
    ({"gdp": pd.Series({"a": 1.0, "b": np.nan}), "corrections": ["economic"]},
     "gdp must be finite and >= 0; not so for unit\\(s\\) b"),
    ({"gdp": pd.Series({"a": 1.0, "b": -1.0})}, "gdp must be finite and >= 0"),
])
def test_bad_zoning_inputs_are_named(kwargs, message):
    with pytest.raises(CarbonmapError, match=message):
        compensation_zoning(pd.Series({"a": 1.0, "b": 2.0}), pd.Series({"a": 2.0, "b": 0.5}), **kwargs)


def test_a_unit_without_gdp_gets_no_coefficient_unless_the_correction_needs_it():
    zoning = compensation_zoning(pd.Series({"a": 1.0, "b": 2.0}), pd.Series({"a": 2.0, "b": 0.5}),
                                 gdp=pd.Series({"a": 4.0}))
    assert zoning["economic_contribution_coef"].tolist()[0] == pytest.approx(3.0)  # 1 / (1/3)
    assert np.isnan(zoning["economic_contribution_coef"].tolist()[1])


def test_a_city_without_sinks_cannot_compensate():
    with pytest.raises(InputError, match="no sinks in total"):
        compensation_zoning(pd.Series({"a": 1.0}), pd.Series({"a": 0.0}))


# --------------------------------------------------------------------------- the network on polygons

def _strip(ids=("a", "b", "c", "d"), gaps=(0, 0, 3)) -> gpd.GeoDataFrame:
    """Unit squares of 1 km in a row; `gaps` [km] before b, c, d."""
    x, boxes = 0.0, []
    for gap in (0, *gaps):
        x += gap
        boxes.append(shapely.box(x * 1000, 0, (x + 1) * 1000, 1000))
        x += 1
    return gpd.GeoDataFrame(geometry=boxes, index=pd.Index(ids, name="unit_id"), crs="EPSG:4547")


def test_network_pairs_the_nearest_and_conserves_amounts():
    units = _strip()  # a | b | c, then d 3 km away
    zoning = compensation_zoning(pd.Series({"a": 50.0, "b": 30.0, "c": 15.0, "d": 5.0}),
                                 pd.Series({"a": 4.0, "b": 6.0, "c": 10.0, "d": 20.0}), price_cny_per_t_co2=10.0)
    pairs, lines = compensation_network(zoning, units, price_cny_per_t_co2=10.0)
    paid, received = zoning["compensation_paid_co2_t_yr"], zoning["compensation_received_co2_t_yr"]
    assert pairs["amount_co2_t_yr"].sum() == pytest.approx(paid.sum()) == pytest.approx(received.sum())
    np.testing.assert_allclose(pairs.groupby("payer_id")["amount_co2_t_yr"].sum(), paid[paid > 0])
    np.testing.assert_allclose(pairs.groupby("receiver_id")["amount_co2_t_yr"].sum(), received[received > 0])
    np.testing.assert_allclose(pairs["money_cny_yr"], 10 * pairs["amount_co2_t_yr"])
    assert list(lines.geom_type.unique()) == ["LineString"] and lines.crs == units.crs
    first = lines.iloc[0]
    start = units.geometry.centroid[first["payer_id"]]
    assert shapely.get_coordinates(first.geometry)[0] == pytest.approx([start.x, start.y])
    assert first["distance_km"] == pytest.approx(first.geometry.length / 1000)


def test_restrictions_to_neighbours_and_zones():
    units = _strip()
    adjacency = neighbours(units)
    assert adjacency.loc["a", "b"] and adjacency.loc["b", "c"] and not adjacency.loc["a", "c"]
    assert not adjacency.loc["c", "d"] and not adjacency.loc["a", "a"]
    zones = same_zone(pd.Series({"a": "x", "b": "x", "c": "y", "d": None}))
    assert zones.loc["a", "b"] and not zones.loc["a", "c"] and not zones.loc["d", "d"]
    # a pays, b receives; c pays, d receives -- d lies 3 km from c: neighbours is infeasible
    zoning = compensation_zoning(pd.Series({"a": 10.0, "b": 1.0, "c": 10.0, "d": 1.0}),
                                 pd.Series({"a": 1.0, "b": 10.0, "c": 1.0, "d": 10.0}))
    with pytest.raises(InputError, match="restriction 'neighbours'.*no partner may be paired with receiver d"):
        compensation_network(zoning, units, restriction="neighbours")
    pairs, _ = compensation_network(zoning, units, restriction="zone",
                                    zones=pd.Series({"a": "x", "b": "x", "c": "y", "d": "y"}))
    assert list(zip(pairs["payer_id"], pairs["receiver_id"])) == [("a", "b"), ("c", "d")]
    with pytest.raises(InputError, match="needs each unit's zone"):
        compensation_network(zoning, units, restriction="zone")


# --------------------------------------------------------------------------- the command

@pytest.fixture()
def units_file(tmp_path) -> Path:
    units = _strip(ids=("u1", "u2", "u3", "u4"), gaps=(0, 0, 0))
    units["unit_id"] = units.index
    units["source_co2_t_yr"] = [500.0, 300.0, 150.0, 50.0]
    units["sink_co2_t_yr"] = [40.0, 60.0, 100.0, 200.0]
    units["gdp"] = [10.0, 40.0, 20.0, 5.0]
    units["zone"] = ["dev", "dev", "eco", "eco"]
    path = tmp_path / "units.gpkg"
    units.reset_index(drop=True).to_file(path, layer="unit_summary")
    return path


def test_the_command_equals_the_functions(units_file, tmp_path):
    out = tmp_path / "compensation.gpkg"
    result = CliRunner().invoke(main, ["compensation", str(units_file), "--gdp-field", "gdp", "--corrections",
                                       "economic", "--price", "china_national_ets:2024", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "t CO2/yr in" in result.output
    units = gpd.read_file(units_file).set_index("unit_id")
    expected = compensation_zoning(units["source_co2_t_yr"], units["sink_co2_t_yr"], gdp=units["gdp"],
                                   area_km2=units.geometry.area / 1e6, corrections=["economic"],
                                   price_cny_per_t_co2=95.96)
    pairs, _ = compensation_network(expected, units, price_cny_per_t_co2=95.96)
    written = pyogrio.read_dataframe(out, layer="compensation_zoning").set_index("unit_id")
    pd.testing.assert_frame_equal(written[expected.columns], expected, check_names=False)
    pd.testing.assert_frame_equal(pyogrio.read_dataframe(out, layer="compensation_pairs"), pairs)
    assert pyogrio.read_info(out, layer="compensation_flows")["geometry_type"] == "LineString"
    prices = pyogrio.read_dataframe(out, layer="coefficients_carbon_prices")
    assert "icapcarbonaction.com" in prices["source"].iloc[0]


@pytest.mark.parametrize(("args", "message"), [
    (["--sink-field", "absorbed"], "field 'absorbed'"),
    (["--restriction", "zone", "--zone-field", "zone"], "option --restriction: the compensation network is "
                                                         "infeasible under restriction 'zone'"),
    (["--restriction", "zone"], "option --zone-field: restriction 'zone' needs each unit's zone. Fix: name the "
                                "units' field of main functional zones (--zone-field)."),
    (["--price", "-1"], "carbon price must be 0 or more"),
    (["--price", "eu_ets:2024"], "option --price: unknown carbon price 'eu_ets:2024'"),
    (["--corrections", "economic"], "--corrections economic needs the units' output: give --gdp-field."),
])
def test_the_command_names_bad_inputs(units_file, tmp_path, args, message):
    """Errors name the command's own options, not the project file's keys."""
    result = CliRunner().invoke(main, ["compensation", str(units_file), *args, "-o", str(tmp_path / "x.gpkg")])
    assert result.exit_code in (1, 2) and message in result.output, result.output
    assert "key 'compensation." not in result.output
    assert not (tmp_path / "x.gpkg").exists()


def test_a_missing_zone_field_is_named(units_file):
    from carbonmap.config import CompensationSection, UnitsSection
    from carbonmap.themes.compensation import prepare_compensation

    with pytest.raises(MissingColumnError, match="field 'main_zone': missing column"):
        prepare_compensation(CompensationSection(restriction="zone", zone_field="main_zone"),
                             UnitsSection(path=units_file, id_field="unit_id"))


# --------------------------------------------------------------------------- the project section

@pytest.mark.parametrize(("section", "key", "fix"), [
    ({"restriction": "adjacent"}, "compensation.restriction", "use one of"),
    ({"restriction": "zone"}, "compensation.zone_field", "main functional zones"),
    ({"zone_field": "zone"}, "compensation.restriction", "restriction = \"zone\""),
    ({"corrections": ["social"]}, "compensation.corrections[0]", "'economic' and/or 'ecological'"),
    ({"carbon_price": -1}, "compensation.carbon_price", "CNY/t CO2"),
    ({"carbon_price": "nowhere:2024"}, "compensation.carbon_price", "china_national_ets:2024"),
])
def test_the_project_section_is_checked(section, key, fix):
    data = tomllib.loads(DEMO.read_text(encoding="utf-8"))
    data["compensation"] = section
    with pytest.raises(ConfigError) as error:
        parse_project(data, DEMO)
    assert error.value.key == key and fix in error.value.fix


def test_the_economic_correction_needs_the_units_gdp():
    data = tomllib.loads(DEMO.read_text(encoding="utf-8"))
    data["compensation"] = {"corrections": ["economic"]}
    del data["units"]["gdp_field"]
    with pytest.raises(ConfigError, match="needs the units' GDP"):
        parse_project(data, DEMO)


def test_validate_names_a_missing_zone_field(tmp_path):
    from carbonmap.validate import validate_project

    folder = tmp_path / "demo"
    shutil.copytree(DEMO.parent, folder)
    project = folder / "project.toml"
    text = project.read_text(encoding="utf-8").replace('restriction = "none"', 'restriction = "zone"\nzone_field = '
                                                       '"main_zone"')
    project.write_text(text, encoding="utf-8")
    problems = validate_project(project).problems
    assert [p.key for p in problems] == ["compensation.zone_field"] and "'main_zone'" in str(problems[0])
