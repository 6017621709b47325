"""Emissions: coefficient accounting, inventory downscaling, aggregation, gridding, balance."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from affine import Affine
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonmap.balance import unit_balance
from carbonmap.coefficients import CO2_PER_C, landuse_coefficients, read_table
from carbonmap.emissions import (
    account_emissions,
    aggregate_to_zones,
    allocate,
    builtup_intensity,
    coefficient_fluxes,
    downscale_inventory,
    floor_area_m2,
    grid_emissions,
    land_proxy,
    read_inventory,
    road_proxy,
    building_proxy,
)
from carbonmap.errors import InputError, MissingColumnError
from carbonmap.grid import AnalysisGrid
from carbonmap.landuse import classify

CRS = "EPSG:32650"


# --------------------------------------------------------------------------- coefficients


def test_coefficient_fluxes_by_hand():
    coefficients = landuse_coefficients()
    categories = pd.Series(["cropland", "forest", "built_residential", "wetland_mangrove", "sea"])
    out = coefficient_fluxes(categories, np.array([10.0, 20.0, 5.0, 2.0, 100.0]), coefficients)
    # cropland 0.422 t C/ha/yr x 44/12 x 10 ha; forest 0.581 x 44/12 x 20; mangrove 1.62 x 44/12 x 2
    assert out["coef_emission_co2_t_yr"].tolist() == pytest.approx([0.422 * CO2_PER_C * 10, 0, 0, 0, 0])
    assert out["coef_removal_co2_t_yr"].tolist() == pytest.approx([0, 0.581 * CO2_PER_C * 20, 0, 1.62 * CO2_PER_C * 2, 0])
    assert out["coef_id"].tolist() == ["CN-CROPLAND-HE2006", "CN-FOREST-FANG2007", "inventory",
                                       "IPCC-WL-MANGROVE", "NONE-SEA"]


def test_a_class_specific_row_wins_over_its_category():
    override = pd.DataFrame([{"coef_id": "LOCAL-PADDY", "carbon_category": "cropland", "system": "ydyh_2023",
                              "code": "0101", "flux": "emission", "value": "2.0", "unit": "t CO2/ha/yr",
                              "source": "local paddy-methane survey"}])
    coefficients = landuse_coefficients(override)
    out = coefficient_fluxes(pd.Series(["cropland", "cropland"]), np.array([1.0, 1.0]), coefficients,
                             codes=pd.Series(["0101", "0103"]), system="ydyh_2023")
    assert out["coef_id"].tolist() == ["LOCAL-PADDY", "CN-CROPLAND-HE2006"]
    assert out["coef_emission_co2_t_yr"].tolist() == pytest.approx([2.0, 0.422 * CO2_PER_C])


def test_overrides_replace_rows_convert_units_and_need_sources():
    override = pd.DataFrame([{"coef_id": "SITE-FOREST", "carbon_category": "forest", "flux": "removal",
                              "value": "100", "unit": "g C/m2/yr", "source": "eddy covariance, 2019-2023"}])
    table = landuse_coefficients(override)
    forest = table[table["carbon_category"] == "forest"]
    assert forest["coef_id"].tolist() == ["SITE-FOREST"]  # replaced, not duplicated
    assert forest["co2_t_ha_yr"].iloc[0] == pytest.approx(1.0 * CO2_PER_C)  # 100 g C/m2 = 1 t C/ha
    with pytest.raises(InputError, match="no source"):
        read_table("landuse_carbon_coefficients", override.assign(source=""))
    with pytest.raises(InputError, match="unknown coefficient unit"):
        landuse_coefficients(override.assign(unit="t/ha"))
    with pytest.raises(InputError, match="non-negative numbers: SITE-FOREST"):
        landuse_coefficients(override.assign(value="-1"))
    with pytest.raises(MissingColumnError, match="needs the columns flux"):
        read_table("landuse_carbon_coefficients", override.drop(columns="flux"))


def test_a_category_without_coefficient_is_an_error():
    table = landuse_coefficients()
    table = table[table["carbon_category"] != "grassland"]
    with pytest.raises(InputError, match="no coefficient for the carbon categories grassland"):
        coefficient_fluxes(pd.Series(["grassland", "forest"]), np.ones(2), table)


# --------------------------------------------------------------------------- allocation


weight_lists = st.lists(st.one_of(st.just(0.0), st.floats(0, 1e6), st.floats(0, 1e-300)), min_size=1, max_size=50)


@settings(max_examples=400, deadline=None)
@given(total=st.floats(-1e300, 1e300),
       weights=weight_lists.filter(lambda w: math.fsum(w) > 0))
def test_allocation_conserves_any_total_and_gives_nothing_to_zero_weights(total, weights):
    w = np.array(weights)
    shares = allocate(total, w)
    assert math.fsum(shares) == total
    assert (shares[w == 0] == 0).all()
    assert (shares * np.sign(total) >= 0).all()  # the sign of the total (or zero)


def test_allocation_of_a_negative_total_gives_zero_weights_nothing():
    shares = allocate(-1.0, np.array([0.0, 1.0, 2.0]))
    assert shares[0] == 0 and math.fsum(shares) == -1.0 and shares.tolist() == pytest.approx([0, -1 / 3, -2 / 3])


def test_allocation_is_proportional_and_refuses_bad_weights():
    assert allocate(100.0, np.array([1.0, 3.0])).tolist() == [25.0, 75.0]
    with pytest.raises(InputError, match="all proxy weights are zero"):
        allocate(1.0, np.zeros(3))
    with pytest.raises(InputError, match="finite and non-negative"):
        allocate(1.0, np.array([1.0, -1.0]))
    with pytest.raises(InputError, match="at most 1e\\+300"):  # exact sums near the largest float overflow
        allocate(1.797e308, np.array([9.2e-301, 1.7e-301]))


def test_inventory_validation_lists_every_bad_row():
    frame = pd.DataFrame({"sector": ["buildings", "transport", "industry"], "co2_t_yr": [10, -5, None]})
    with pytest.raises(InputError, match=r"2 inventory value\(s\) are missing or negative: line 3 \(transport: -5.0\), line 4 \(industry: nan\)"):
        read_inventory(frame)
    with pytest.raises(InputError, match="sectors listed twice: buildings"):
        read_inventory(pd.DataFrame({"sector": ["buildings", "buildings"], "co2_t_yr": [1, 2]}))
    with pytest.raises(MissingColumnError, match="co2_t_yr"):
        read_inventory(pd.DataFrame({"sector": ["x"], "value": [1]}))


def _boxes(*boxes, **columns):
    return gpd.GeoDataFrame(columns, geometry=[shapely.box(*b) for b in boxes], crs=CRS)


def test_floor_area_and_a_reported_default_for_missing_floors():
    buildings = _boxes((0, 0, 10, 10), (20, 0, 40, 10), (50, 0, 60, 10), (70, 0, 80, 10),
                       floors=[3, 5, None, None], use=["residential", "residential", "residential", "office"],
                       height=[None, None, 12.0, None])
    area, report = floor_area_m2(buildings, floors_field="floors", height_field="height")
    # 100 m2 x 3; 200 x 5; height 12 m / 3 m = 4 floors; office: no office data -> all-building median 4
    assert area.tolist() == [300.0, 1000.0, 400.0, 400.0]
    assert report["missing_floors"] == 1 and report["assumed_floors"]["all"] == 4.0
    with pytest.raises(InputError, match="projected CRS"):
        floor_area_m2(buildings.to_crs(4326))
    # the median floors are taken per use of the project's use field, whatever its name
    by_kind = buildings.rename(columns={"use": "kind"}).assign(use="office")
    assert floor_area_m2(by_kind, height_field="height", use_field="kind")[0].tolist() == [300.0, 1000.0, 400.0, 400.0]
    assert floor_area_m2(by_kind, height_field="height")[0].tolist() == [300.0, 1000.0, 400.0, 400.0]


@pytest.fixture
def proxies():
    buildings = _boxes((0, 0, 10, 10), (20, 0, 30, 10), (40, 0, 50, 10), use=["residential", "residential", "commercial"])
    roads = gpd.GeoDataFrame({"road_class": ["arterial", "local"]},
                             geometry=[shapely.LineString([(0, 20), (100, 20)]), shapely.LineString([(0, 30), (100, 30)])], crs=CRS)
    parcels = _boxes((0, 100, 100, 200), (100, 100, 400, 200), (0, 200, 100, 300),
                     category=["built_industrial", "built_industrial", "cropland"])
    return {
        "buildings": building_proxy(buildings, pd.Series([100.0, 300.0, 200.0])),
        "transport": road_proxy(roads, pd.Series({"arterial": 4.0, "local": 1.0})),
        "industry": land_proxy(parcels, (parcels["category"] == "built_industrial").to_numpy()),
    }


def test_downscaling_by_hand(proxies):
    inventory = pd.DataFrame({
        "sector": ["buildings", "buildings", "transport", "industry", "agriculture"],
        "sub_sector": ["residential", "commercial", "", "", ""],
        "co2_t_yr": [400.0, 50.0, 100.0, 1000.0, 10.0],
    })
    plant = gpd.GeoDataFrame({"sector": ["industry"], "co2_t_yr": [600.0]}, geometry=[shapely.Point(50, 150)], crs=CRS)
    allocations, report = downscale_inventory(inventory, proxies, point_sources=plant)
    got = allocations.groupby(["sector", "sub_sector", "source"])["co2_t_yr"].apply(list).to_dict()
    assert got[("buildings", "residential", "proxy")] == [100.0, 300.0]  # floor areas 100 : 300
    assert got[("buildings", "commercial", "proxy")] == [50.0]
    assert got[("transport", "", "proxy")] == [80.0, 20.0]  # 100 m x 4 : 100 m x 1
    assert got[("industry", "", "point")] == [600.0]  # placed first ...
    assert got[("industry", "", "proxy")] == [100.0, 300.0]  # ... the remaining 400 by land area 1 : 3
    agriculture = report.set_index("sector").loc["agriculture"]
    assert agriculture["unallocated_co2_t_yr"] == 10.0 and agriculture["note"] == "no proxy for this sector"
    assert report["inventory_co2_t_yr"].sum() == pytest.approx(
        allocations["co2_t_yr"].sum() + report["unallocated_co2_t_yr"].sum())


def test_point_sources_must_fit_their_sector(proxies):
    inventory = pd.DataFrame({"sector": ["industry"], "co2_t_yr": [100.0]})
    plant = gpd.GeoDataFrame({"sector": ["industry"], "co2_t_yr": [600.0]}, geometry=[shapely.Point(50, 150)], crs=CRS)
    with pytest.raises(InputError, match="emit 600 t CO2/yr, more than the inventory's 100"):
        downscale_inventory(inventory, proxies, point_sources=plant)
    with pytest.raises(InputError, match="sector 'power', which the inventory does not have"):
        downscale_inventory(inventory, proxies, point_sources=plant.assign(sector="power"))


def test_a_sub_sector_uses_all_features_of_an_unlabelled_proxy(proxies):
    inventory = pd.DataFrame({"sector": ["transport"], "sub_sector": ["road"], "co2_t_yr": [100.0]})
    allocations, report = downscale_inventory(inventory, proxies)
    assert allocations["co2_t_yr"].tolist() == [80.0, 20.0] and report.loc[0, "unallocated_co2_t_yr"] == 0


def test_sub_sector_without_features_is_reported_not_dropped(proxies):
    inventory = pd.DataFrame({"sector": ["buildings"], "sub_sector": ["public"], "co2_t_yr": [70.0]})
    allocations, report = downscale_inventory(inventory, proxies)
    assert len(allocations) == 0
    assert report.loc[0, "unallocated_co2_t_yr"] == 70.0
    assert report.loc[0, "note"] == "the proxy has no features of sub-sector public"


@st.composite
def parcel_sets(draw):
    n = draw(st.integers(1, 8))
    xs = sorted(draw(st.lists(st.integers(0, 1000), min_size=n + 1, max_size=n + 1, unique=True)))
    geoms = [shapely.box(xs[i], 0, xs[i + 1], 50) for i in range(n)]
    return gpd.GeoDataFrame({"use": draw(st.lists(st.sampled_from(["a", "b"]), min_size=n, max_size=n))},
                            geometry=geoms, crs=CRS)


@settings(max_examples=80, deadline=None)
@given(parcels=parcel_sets(), total=st.floats(1, 1e7), split_at=st.floats(0.05, 0.95), which=st.integers(0, 7))
def test_allocation_is_invariant_to_splitting_a_parcel(parcels, total, split_at, which):
    """Splitting one parcel in two and re-allocating gives each original parcel the same
    emissions (the halves sum to the whole), and the sector total is conserved."""
    inventory = pd.DataFrame({"sector": ["transport"], "co2_t_yr": [total]})
    whole, _ = downscale_inventory(inventory, {"transport": land_proxy(parcels, np.ones(len(parcels), bool))})
    i = which % len(parcels)
    x0, y0, x1, y1 = parcels.geometry.iloc[i].bounds
    cut = x0 + split_at * (x1 - x0)
    halves = [shapely.box(x0, y0, cut, y1), shapely.box(cut, y0, x1, y1)]
    split = gpd.GeoDataFrame(geometry=list(parcels.geometry.drop(parcels.index[i])) + halves, crs=CRS)
    pieces, _ = downscale_inventory(inventory, {"transport": land_proxy(split, np.ones(len(split), bool))})
    a, _ = aggregate_to_zones(whole, parcels)
    b, _ = aggregate_to_zones(pieces, parcels)
    np.testing.assert_allclose(a["transport"], b["transport"], rtol=1e-9, atol=1e-9 * total)
    assert math.fsum(pieces["co2_t_yr"]) == pytest.approx(total, rel=1e-12)


# --------------------------------------------------------------------------- aggregation


def test_aggregation_splits_lines_and_polygons_between_zones():
    zones = _boxes((0, 0, 30, 100), (30, 0, 100, 100))
    allocations = gpd.GeoDataFrame({
        "sector": ["transport", "buildings", "industry", "industry"],
        "co2_t_yr": [100.0, 50.0, 10.0, 7.0],
    }, geometry=[shapely.LineString([(0, 50), (100, 50)]),  # 30 m in zone 0, 70 m in zone 1
                 shapely.box(20, 0, 40, 10),  # half in each
                 shapely.Point(80, 80),  # zone 1
                 shapely.Point(500, 500)], crs=CRS)  # outside every zone
    table, outside = aggregate_to_zones(allocations, zones)
    assert table.loc[0].to_dict() == pytest.approx({"buildings": 25.0, "industry": 0.0, "transport": 30.0})
    assert table.loc[1].to_dict() == pytest.approx({"buildings": 25.0, "industry": 10.0, "transport": 70.0})
    assert outside.to_dict() == pytest.approx({"buildings": 0.0, "industry": 7.0, "transport": 0.0})


def test_gridding_conserves_the_total_and_spreads_by_geometry():
    grid = AnalysisGrid(gpd.GeoSeries(crs=CRS).crs, Affine(10, 0, 0, 0, -10, 40), 4, 4)  # 40 m x 40 m
    allocations = gpd.GeoDataFrame({"co2_t_yr": [16.0, 8.0, 3.0, 5.0, 2.0]}, geometry=[
        shapely.box(0, 0, 40, 40),  # the whole grid: 1 per cell
        shapely.LineString([(0, 35), (40, 35)]),  # along the top row: 2 per cell
        shapely.Point(15, 15),  # one cell
        shapely.box(21, 21, 24, 24),  # smaller than a cell: its cell
        shapely.box(0, 0, 40, 40),  # the same polygon again (another sector): merged, 0.125 per cell
    ], crs=CRS)
    out = grid_emissions(allocations, grid)
    assert out.sum() == pytest.approx(34.0)
    assert out[0].tolist() == pytest.approx([3.125] * 4)  # 1 + 2 + 0.125
    assert out[2, 1] == pytest.approx(1.125 + 3.0)  # centre (15, 15) is row 2, col 1
    assert out[1, 2] == pytest.approx(1.125 + 5.0)


def test_gridding_many_polygons_in_batches_as_in_one_call(monkeypatch):
    """Polygons are burnt in batches, the same cells as in one call (overlaps included); a
    polygon whose bounds hold no cell centre goes to the cell of its point on the surface
    without being burnt, and one holding a centre inside a cell is burnt there."""
    import carbonmap.emissions as emissions

    grid = AnalysisGrid(gpd.GeoSeries(crs=CRS).crs, Affine(10, 0, 0, 0, -10, 40), 4, 4)
    allocations = gpd.GeoDataFrame({"co2_t_yr": [16.0, 4.0, 1.0, 2.0]}, geometry=[
        shapely.box(0, 0, 40, 40),  # every cell, and ...
        shapely.box(0, 20, 20, 40),  # ... these 4: one of the two burns over the other
        shapely.box(31, 1, 39, 9),  # within cell (3, 3), holding its centre (35, 5)
        shapely.box(1, 1, 4, 4),  # within cell (3, 0), no centre inside its bounds
    ], crs=CRS)
    one_call = grid_emissions(allocations, grid)
    monkeypatch.setattr(emissions, "RASTERIZE_BATCH", 1)
    assert np.array_equal(grid_emissions(allocations, grid), one_call)
    assert one_call.sum() == pytest.approx(23.0)
    assert emissions._may_hold_a_cell_centre(allocations.geometry.values, grid).tolist() == [True, True, True, False]
    alone = grid_emissions(allocations.iloc[2:], grid)
    assert alone[3, 3] == 1.0 and alone[3, 0] == 2.0 and alone.sum() == 3.0


def test_overlap_fractions_leave_the_callers_geometries_unprepared():
    """A prepared geometry keeps its index as long as it lives (5 GB on a city cluster's
    parcels): the call prepares copies of the zones, never the caller's; zones the caller
    prepared stay so."""
    import shapely

    from carbonmap.emissions import _overlap_fractions

    zones = np.array([shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)], dtype=object)
    features = np.array([shapely.box(2, 2, 4, 4), shapely.box(8, 2, 12, 4)], dtype=object)
    shapely.prepare(zones[1])
    _overlap_fractions(features, zones)
    assert shapely.is_prepared(zones).tolist() == [False, True]
    assert not shapely.is_prepared(features).any()


def test_overlap_fractions_in_runs_of_features_equal_one_run(monkeypatch):
    """The features are overlaid in runs (tasks on two threads here), each with its own prepared
    copies of the zones it meets: runs of 3 features, whose zones the next runs meet again, give
    the pairs and shares of one run over all of them, in the same order, bit for bit."""
    import shapely

    from carbonmap import emissions
    from carbonmap.emissions import _overlap_fractions

    rng = np.random.default_rng(7)
    zones = np.array([shapely.box(x, y, x + 10, y + 10) for x in range(0, 40, 10) for y in range(0, 40, 10)],
                     dtype=object)
    x, y = rng.uniform(-5, 45, (2, 60))
    w, h = rng.uniform(0.5, 12, (2, 60))
    features = np.concatenate([
        shapely.box(x[:40], y[:40], x[:40] + w[:40], y[:40] + h[:40]),  # inside, across edges, partly outside
        shapely.linestrings(np.stack([np.stack([x[40:50], y[40:50]], 1), np.stack([x[40:50] + w[40:50] * 3,
                                      y[40:50]], 1)], 1)),
        shapely.points(np.round(x[50:]), np.round(y[50:])),  # many on the zones' edges and corners
        [shapely.box(10, 10, 20, 20), shapely.LineString([(20, 0), (20, 30)])],  # a zone itself, a line along edges
    ])
    whole = _overlap_fractions(features, zones)
    monkeypatch.setattr(emissions, "OVERLAY_FEATURES", 3)
    runs = _overlap_fractions(features, zones)
    assert len(whole[0]) > len(features)  # features across edges have several pairs
    for one, many in zip(whole, runs):
        assert one.dtype == many.dtype and np.array_equal(one, many)
    assert not shapely.is_prepared(zones).any()


def test_overlap_fractions_of_a_polygon_touching_and_a_line_along_an_edge():
    """A polygon that only touches a second zone is wholly in its own (exactly 1); a line along
    the edge between two zones lies in both with its full length, and is shared half and half,
    so that it counts once."""
    import shapely

    from carbonmap.emissions import _overlap_fractions

    zones = np.array([shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10), shapely.box(0, 10, 10, 20)],
                     dtype=object)
    features = np.array([shapely.box(5, 5, 10, 10),  # touches zones 1 and 2 at its edges
                         shapely.LineString([(10, 2), (10, 8)])], dtype=object)
    z, f, share = _overlap_fractions(features, zones)
    got = {(int(fi), int(zi)): s for zi, fi, s in zip(z, f, share)}
    assert got == {(0, 0): 1.0, (1, 0): 0.5, (1, 1): 0.5}


def test_builtup_intensity():
    out = builtup_intensity(pd.Series([200.0, 50.0, 10.0], index=list("abc")), pd.Series({"a": 2.0, "b": 0.0, "c": 0.5}))
    assert out["a"] == 100.0 and np.isnan(out["b"]) and out["c"] == 20.0


# --------------------------------------------------------------------------- balance


def test_unit_balance_by_hand():
    sources = pd.DataFrame({"buildings": [80.0, 10.0, 0.0, 0.0], "transport": [20.0, 0.0, 0.0, 0.0]}, index=list("abcd"))
    sinks = pd.Series({"a": 10.0, "b": 10.5, "c": 5.0, "d": 0.0})
    population = pd.Series({"a": 50.0, "b": 10.0, "c": 1.0, "d": 0.0})
    gdp = pd.Series({"a": 20.0, "b": 20.0, "c": 1.0, "d": 1.0})  # 10^4 CNY
    out = unit_balance(sources, sinks, population=population, gdp_cny_1e4=gdp)
    assert out["source_co2_t_yr"].tolist() == [100.0, 10.0, 0.0, 0.0]
    assert out["net_co2_t_yr"].tolist() == [90.0, -0.5, -5.0, 0.0]
    assert out.loc["a", "sink_source_ratio"] == 0.1 and out.loc["b", "sink_source_ratio"] == 1.05
    # ratio < 0.9 deficit; 0.9-1.1 balanced; >= 1.1 surplus; only sinks: surplus; nothing: balanced
    assert out["balance_class"].tolist() == ["carbon_deficit", "balanced", "carbon_surplus", "balanced"]
    assert out.loc["a", "co2_t_per_capita_yr"] == 2.0 and np.isnan(out.loc["d", "co2_t_per_capita_yr"])
    # city: 110 t / 42 (10^4 CNY); a: 5.0 per 10^4 CNY -> 5 / (110/42) = 1.909 -> band 4 (1.2-2.0]
    assert out.loc["a", "co2_t_per_cny_1e4"] == 5.0
    assert out.loc["a", "efficiency_index"] == pytest.approx(5.0 / (110 / 42))
    assert out["efficiency_band"].tolist() == [4, 1, 1, 1]  # b: 0.5 / 2.619 = 0.19 -> band 1
    assert out.loc["a", "efficiency_label"] == "orange"


# --------------------------------------------------------------------------- real data


def test_xinwu_parcels_with_a_stated_inventory(shared):
    """2,033 EULUC parcels of Xinwu with a stated inventory: totals are conserved, and
    intensities (t CO2/ha) rank the classes as the inventory implies:
    commercial 0.4 Mt / 450 ha = 889 > transport 0.5 Mt / 650 ha = 769 > public 0.2 Mt / 560 ha
    = 357 > industrial 2.0 Mt / 7,530 ha = 266 > residential 0.6 Mt / 3,330 ha = 180."""
    from pathlib import Path

    parcels = gpd.read_file(shared / "data" / "wuxi_xinwu_euluc" / "xinwu_land_use.gpkg")
    crosswalk = Path(__file__).resolve().parents[1] / "examples" / "xinwu_crosswalk.csv"
    category = classify(parcels["Class"], "euluc_china", crosswalk=crosswalk)["carbon_category"].to_numpy()
    use = pd.Series(category).map({"built_residential": "residential", "built_commercial": "commercial",
                                   "built_public": "public"}).to_numpy()
    proxies = {
        "buildings": land_proxy(parcels, pd.notna(use), sub_sector=use),
        "transport": land_proxy(parcels, category == "built_transport"),
        "industry": land_proxy(parcels, category == "built_industrial"),
    }
    inventory = pd.DataFrame({
        "sector": ["buildings", "buildings", "buildings", "transport", "industry"],
        "sub_sector": ["residential", "commercial", "public", "", ""],
        "co2_t_yr": [0.6e6, 0.4e6, 0.2e6, 0.5e6, 2.0e6],
    })
    allocations, report = downscale_inventory(inventory, proxies)
    assert report["unallocated_co2_t_yr"].sum() == 0
    by_parcel, outside = aggregate_to_zones(allocations, parcels)
    assert by_parcel.to_numpy().sum() == pytest.approx(3.7e6, rel=1e-9) and outside.sum() < 1e-6
    intensity = pd.Series(by_parcel.sum(axis=1).to_numpy() / (parcels.area.to_numpy() / 1e4)).groupby(category).mean()
    order = intensity.drop(["green_space"]).sort_values(ascending=False).index.tolist()
    assert order == ["built_commercial", "built_transport", "built_public", "built_industrial", "built_residential"]
    assert intensity["built_industrial"] == pytest.approx(2.0e6 / 7530, rel=0.01)


def test_account_reports_emissions_outside_every_unit():
    parcels = _boxes((0, 0, 100, 100), (100, 0, 200, 100), (500, 0, 600, 100))
    categories = pd.Series(["built_transport", "built_transport", "built_transport"])
    units = _boxes((0, 0, 200, 100))
    inventory = pd.DataFrame({"sector": ["transport"], "co2_t_yr": [300.0]})
    account = account_emissions(parcels, categories, landuse_coefficients(), inventory=inventory, units=units)
    assert account.parcels["source_co2_t_yr"].tolist() == [100.0, 100.0, 100.0]
    assert account.unit_sources["transport"].tolist() == [200.0]
    assert any("100 t CO2/yr of sources and sinks lie outside every planning unit" in n.en
               for n in account.notes)
    assert account.proxies == {"transport": "transport_land"}


def test_overlap_fractions_cut_only_the_features_across_edges():
    """Shares of each feature in each zone, by hand: wholly inside one zone (1, without cutting it),
    across two zones (by area or length), half outside every zone (0.5 kept, nothing invented)."""
    import shapely

    from carbonmap.emissions import _overlap_fractions

    zones = np.array([shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)], dtype=object)
    features = np.array([shapely.box(2, 2, 4, 4),            # inside A
                         shapely.box(8, 2, 12, 4),           # half in A, half in B
                         shapely.box(0, 8, 10, 12),          # half in A, half outside
                         shapely.box(10, 0, 20, 10),         # B itself (its edge touches A)
                         shapely.LineString([(5, 5), (20, 5)])], dtype=object)  # 5 m in A, 10 m in B
    z, f, share = _overlap_fractions(features, zones)
    got = {(int(fi), int(zi)): s for zi, fi, s in zip(z, f, share)}
    assert got == pytest.approx({(0, 0): 1.0, (1, 0): 0.5, (1, 1): 0.5, (2, 0): 0.5, (3, 1): 1.0,
                                 (4, 0): 1 / 3, (4, 1): 2 / 3})
    assert got[(0, 0)] == 1.0 and got[(3, 1)] == 1.0  # exactly: totals are conserved exactly
