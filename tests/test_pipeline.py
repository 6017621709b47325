"""The pipeline and the command line, end to end on the bundled demo project."""

from __future__ import annotations

import json
import re
import shutil
from importlib.resources import files
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
from click.testing import CliRunner

from carbonmap.cli import main
from carbonmap.config import load_project
from carbonmap.pipeline import STAGES, run
from carbonmap.zonal import zonal_stats

OLINDA = Path(str(files("carbonmap.sample_data") / "olinda" / "project.toml"))


@pytest.fixture(scope="module")
def olinda_run(tmp_path_factory):
    """The real-data sample project."""
    out = tmp_path_factory.mktemp("olinda")
    result = CliRunner().invoke(main, ["run", str(OLINDA), "--output", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return out


def test_demo_gives_its_language_and_compute_options_to_both_years(tmp_path, monkeypatch):
    """`carbonmap demo --lang en` runs the 2015 city and the 2023 city in English, on the scheduler asked for,
    the 2023 run comparing itself with the 2015 one (the runs themselves are stubbed: only what they are given)."""
    import carbonmap.cli.run as cli_run

    given = []
    monkeypatch.setattr(cli_run, "run_project", lambda project, quiet: given.append(project))
    monkeypatch.setattr(cli_run, "closing_words", lambda record: "")
    result = CliRunner().invoke(main, ["demo", "--lang", "en", "--workers", "1", "-o", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    assert [p.output_dir for p in given] == [tmp_path / "demo_2015", tmp_path / "demo"]
    assert [p.outputs.language for p in given] == ["en", "en"]
    assert [p.compute.workers for p in given] == [1, 1]
    assert [p.project.year for p in given] == [2015, 2023]
    assert given[0].monitoring is None and given[1].monitoring.runs == [tmp_path / "demo_2015"]


def test_demo_writes_the_one_map(demo_run):
    assert sorted(p.name for p in demo_run.iterdir()) == [".carbonmap", ".carbonmap.lock", "onemap.gpkg",
                                                          "onemap.html", "rasters", "report.html", "run.json",
                                                          "run.log", "unit_summary.csv", "unit_summary.xlsx"]
    layers = dict(pyogrio.list_layers(demo_run / "onemap.gpkg"))
    assert {"unit_summary", "parcels", "protection_zones", "wetlands", "roads", "run_inputs", "run_metadata"} <= set(layers)
    for name, geometry_type in layers.items():
        if geometry_type is not None:  # every spatial layer carries the analysis CRS
            assert "Albers" in pyogrio.read_info(demo_run / "onemap.gpkg", layer=name)["crs"], name
    assert pyogrio.read_info(demo_run / "onemap.gpkg", layer="unit_summary")["features"] == 14
    assert json.loads((demo_run / "run.json").read_text())["warnings"] == []  # the demo's data are clean
    # 10 inputs, gridded emissions, stocks (2 dates, change), the vegetation sink, the hot-spot
    # window, the network's MSPA, resistance, current density and barrier score, and 7 renewable
    # rasters (2 zone maps, ground PV yield, wind power density and capacity factor, geothermal
    # temperature and class), the afforestation reasons and the land cover of 3 scenarios
    assert len(list((demo_run / "rasters").glob("*.tif"))) == 31
    assert {"parcel_emissions", "point_sources", "coefficients_landuse", "emissions_inventory_allocation",
            "coefficients_balance_classes", "coefficients_efficiency_bands"} <= set(layers)


def test_the_vector_layers_wait_for_the_map_on_disk_and_the_state_refers_to_them(demo_run):
    # each stage's vector layers are written to GeoParquet as it ends, not held until the one map
    folder = demo_run / ".carbonmap" / "layers"
    saved = {path.stem for path in folder.glob("*.parquet")}
    in_gpkg = {name for name, kind in pyogrio.list_layers(demo_run / "onemap.gpkg") if kind is not None}
    assert saved == in_gpkg - {"unit_summary"} and len(saved) == 25
    for name in ("parcel_emissions", "rooftop_pv", "ecological_patches"):
        waited, written = gpd.read_parquet(folder / f"{name}.parquet"), pyogrio.read_dataframe(demo_run / "onemap.gpkg",
                                                                                                 layer=name)
        assert list(waited.columns) == list(written.columns)
        np.testing.assert_allclose(waited.geometry.area, written.geometry.area, rtol=1e-12)
        numeric = waited.drop(columns="geometry").select_dtypes("number").columns
        np.testing.assert_allclose(waited[numeric].to_numpy(float), written[numeric].to_numpy(float), equal_nan=True)
    manifest = (demo_run / ".carbonmap" / "state" / "manifest.json").read_text(encoding="utf-8")
    assert all(f'"@/.carbonmap/layers/{name}.parquet"' in manifest for name in saved)  # not copied again


def test_demo_emissions_and_balance(demo_run):
    """The inventory (16 Mt) is allocated in full, per unit and on the grid; the balance adds up;
    every coefficient used is written with its source."""
    summary = pd.read_csv(demo_run / "unit_summary.csv")
    inventory = pd.read_csv(Path(str(files("carbonmap.sample_data") / "demo_city" / "inventory.csv")))
    total = inventory["co2_t_yr"].sum()
    # Allocation is exact; summing onto units is exact for features inside them. After
    # reprojection to the analysis CRS, districts and parcels tile the area to within 154 m2 of
    # 604 km2, so about 0.1 t of 16 Mt sits on slivers outside every unit: hence 1e-8.
    assert summary["source_co2_t_yr"].sum() == pytest.approx(total, rel=1e-8)
    sectors = summary.filter(regex=r"^source_(buildings|transport|industry|agriculture)_co2_t_yr$")
    assert sectors.sum().to_dict() == pytest.approx({
        f"source_{k}_co2_t_yr": v for k, v in inventory.groupby("sector")["co2_t_yr"].sum().items()}, abs=1.0)
    np.testing.assert_allclose(summary["net_co2_t_yr"], summary["source_co2_t_yr"] - summary["sink_co2_t_yr"])
    assert set(summary["balance_class"]) <= {"carbon_deficit", "balanced", "carbon_surplus"}
    city = summary["source_co2_t_yr"].sum() / summary["builtup_area_km2"].sum()
    assert 18e4 <= city <= 38e4  # the demo city's calibration
    with rasterio.open(demo_run / "rasters" / "emissions_grid.tif") as grid:
        assert grid.res == (250.0, 250.0) and grid.read(1).sum() == pytest.approx(total, rel=1e-6)
    allocation = pyogrio.read_dataframe(demo_run / "onemap.gpkg", layer="emissions_inventory_allocation")
    assert allocation["unallocated_co2_t_yr"].sum() == 0
    assert dict(zip(allocation["sector"], allocation["proxy"])) == {
        "buildings": "floor_area", "transport": "roads", "industry": "floor_area", "agriculture": "cropland"}
    coefficients = pyogrio.read_dataframe(demo_run / "onemap.gpkg", layer="coefficients_landuse")
    assert (coefficients["source"].str.len() > 10).all() and "CN-FOREST-FANG2007" in set(coefficients["coef_id"])
    parcels = pyogrio.read_dataframe(demo_run / "onemap.gpkg", layer="parcel_emissions", read_geometry=False)
    assert parcels["source_co2_t_yr"].sum() == pytest.approx(total, rel=1e-6)  # every tonne sits on a parcel


def test_demo_compensation(demo_run):
    """Paying districts are paired with receiving ones: the network carries exactly what is paid,
    which is what is received, priced at the national ETS's 2024 average, in well under 2 s."""
    summary = pd.read_csv(demo_run / "unit_summary.csv").set_index("unit_id")
    classes = summary["compensation_class"]
    assert set(classes) <= {"carbon_paying", "carbon_balanced", "carbon_receiving"}
    assert (classes == "carbon_paying").sum() >= 3 and (classes == "carbon_receiving").sum() >= 3
    paid, received = summary["compensation_paid_co2_t_yr"], summary["compensation_received_co2_t_yr"]
    assert paid.sum() == pytest.approx(received.sum()) and 0 < paid.sum() <= summary["sink_co2_t_yr"].clip(0).sum()
    assert (paid[classes != "carbon_paying"] == 0).all() and (received[classes != "carbon_receiving"] == 0).all()
    pairs = pyogrio.read_dataframe(demo_run / "onemap.gpkg", layer="compensation_pairs")
    assert pairs["amount_co2_t_yr"].sum() == pytest.approx(paid.sum())
    np.testing.assert_allclose(pairs.groupby("payer_id")["amount_co2_t_yr"].sum(), paid[paid > 0].sort_index())
    np.testing.assert_allclose(pairs["money_cny_yr"], 95.96 * pairs["amount_co2_t_yr"])
    np.testing.assert_allclose(summary["compensation_paid_cny_yr"], 95.96 * paid)
    flows = pyogrio.read_info(demo_run / "onemap.gpkg", layer="compensation_flows")
    assert flows["geometry_type"] == "LineString" and flows["features"] == len(pairs)
    prices = pyogrio.read_dataframe(demo_run / "onemap.gpkg", layer="coefficients_carbon_prices")
    assert "ICAP" in prices["source"].iloc[0]
    assert "碳补偿网络" in (demo_run / "onemap.html").read_text(encoding="utf-8")
    readme = Path(str(files("carbonmap.sample_data") / "README.md")).read_text(encoding="utf-8")
    for stated in (f"{(classes == 'carbon_paying').sum()} districts pay and {(classes == 'carbon_receiving').sum()} "
                   f"receive", f"{paid.sum():,.0f} t CO2/yr", f"in {len(pairs)} pairs",
                   f"{summary['compensation_paid_cny_yr'].sum() / 1e6:.1f} million CNY/yr"):
        assert stated in readme, stated  # the figures sample_data/README.md states


def test_demo_summary_is_consistent(demo_run):
    summary = pd.read_csv(demo_run / "unit_summary.csv")
    assert summary["population"].sum() == 2_000_000
    assert "gdp_cny_1e8" in summary and summary["gdp_cny_1e8"].sum() == pytest.approx(3682.04, abs=0.1)
    # land-cover classes (named through the CLCD table) plus nodata (sea) add up to each unit's area,
    # to the 30 m cell size
    cover = summary.filter(regex=r"^landcover_2023_.*_area_ha$")
    assert {"landcover_2023_cropland_area_ha", "landcover_2023_impervious_area_ha"} <= set(cover)
    np.testing.assert_allclose(cover.sum(axis=1) / 100, summary["area_km2"], rtol=0.01)
    # impervious land grew 2015 -> 2023, forest shrank (the demo city's documented change)
    assert summary["landcover_2023_impervious_area_ha"].sum() > summary["landcover_2015_impervious_area_ha"].sum()
    assert summary["landcover_2023_forest_area_ha"].sum() < summary["landcover_2015_forest_area_ha"].sum()
    # NPP came on a 500 m lon/lat grid: aligned, it still lies in the documented range
    assert summary["npp_mean_g_c_m2_yr"].between(0, 900).all()
    assert summary["wind_speed_100m_mean_m_s"].between(4.5, 8.2).all()


def test_demo_stocks_and_sinks(demo_run):
    """Stocks by pool with their change, NEP on vegetation calibrated to Beijing's forest sink
    (~10 t CO2/ha/yr, sample_data/README.md), blue carbon at the IPCC rates, and the balance
    using them as its sinks."""
    summary = pd.read_csv(demo_run / "unit_summary.csv")
    stocks = pyogrio.read_dataframe(demo_run / "onemap.gpkg", layer="stocks_summary").set_index("quantity")
    cell_ha = 0.09
    with rasterio.open(demo_run / "rasters" / "c_storage_bas.tif") as src:
        density = src.read(1, masked=True)
    assert stocks.loc["total_bas", "t_c"] == pytest.approx(float(density.sum()) * cell_ha, rel=1e-6)
    assert summary["stock_landcover_2015_t_c"].sum() == pytest.approx(stocks.loc["total_bas", "t_c"], rel=1e-3)
    np.testing.assert_allclose(summary["stock_change_t_co2"], summary["stock_change_t_c"] * 44 / 12, rtol=1e-3)
    parcels = pyogrio.read_dataframe(demo_run / "onemap.gpkg", layer="parcel_carbon")
    assert parcels["stock_landcover_2023_t_c"].sum() <= stocks.loc["total_alt", "t_c"]  # parcels cover the land
    np.testing.assert_allclose(parcels["stock_landcover_2023_t_co2"], parcels["stock_landcover_2023_t_c"] * 44 / 12,
                               rtol=1e-3)
    assert stocks.loc["change", "t_c"] < 0  # urban growth and forest loss, 2015 -> 2023
    assert stocks.loc["total_bas", "t_co2"] == pytest.approx(stocks.loc["total_bas", "t_c"] * 44 / 12)
    with rasterio.open(demo_run / "rasters" / "sink_vegetation.tif") as sink, \
            rasterio.open(demo_run / "rasters" / "landcover_2023.tif") as cover:
        nep, classes = sink.read(1), cover.read(1)
    forest = nep[(classes == 2) & np.isfinite(nep)]
    assert forest.mean() == pytest.approx(10.0, abs=0.6)
    assert not np.isfinite(nep[classes == 8]).any()  # no NEP credited on impervious land
    wetlands = gpd.read_file(Path(str(files("carbonmap.sample_data") / "demo_city" / "demo_city.gpkg")), layer="wetlands")
    rate = {"mangrove": 1.62, "salt_marsh": 0.91, "seagrass": 0.43, "tidal_flat": 0.253}  # t C/ha/yr
    expected_blue = sum(rate[t] * a / 1e4 * 44 / 12 for t, a in zip(wetlands["wetland_type"], wetlands.area))
    assert summary["sink_blue_carbon_co2_t_yr"].sum() == pytest.approx(expected_blue, rel=1e-3)
    np.testing.assert_allclose(summary["sink_co2_t_yr"],
                               summary["sink_vegetation_co2_t_yr"] + summary["sink_blue_carbon_co2_t_yr"])
    layers = dict(pyogrio.list_layers(demo_run / "onemap.gpkg"))
    assert {"parcel_carbon", "blue_carbon", "coefficients_carbon_pools", "coefficients_blue_carbon"} <= set(layers)
    # tidal flat reclaimed for the port (sample_data/README.md): its carbon is released over years
    released = pyogrio.read_dataframe(demo_run / "onemap.gpkg", layer="wetland_conversion_emissions")
    assert released["total_co2_t"].iloc[0] > released["total_co2_t"].iloc[5] > 0


def test_demo_landscape(demo_run):
    """Ecological land (CLCD classes flagged ecological) per district, its patches, the hot-spot
    raster and the 2015-2023 change, checked against the aligned land cover itself."""
    from rasterio.features import rasterize

    summary = pyogrio.read_dataframe(demo_run / "onemap.gpkg", layer="unit_summary")
    with rasterio.open(demo_run / "rasters" / "landcover_2023.tif") as src:
        cover, transform, nodata = src.read(1), src.transform, src.nodata
        zones = rasterize(zip(summary.to_crs(src.crs).geometry, range(len(summary))), out_shape=cover.shape,
                          transform=transform, fill=-1, dtype="int32")
    ecological = np.isin(cover, [2, 3, 4, 5, 9])  # forest, shrub, grassland, water, wetland
    valid = cover != nodata
    for i, pland in enumerate(summary["eco_pland_pct"]):
        inside = (zones == i) & valid
        assert pland == pytest.approx(100 * ecological[inside].sum() / inside.sum())
    assert (summary["eco_division"].between(0, 1)).all() and (summary["eco_np"] >= 1).all()
    patches = pyogrio.read_dataframe(demo_run / "onemap.gpkg", layer="ecological_patches")
    assert set(patches["class"]) <= {2, 3, 4, 5, 9} and (patches["area_ha"] >= 1.0).all()
    np.testing.assert_allclose(patches.geometry.area / 1e4, patches["area_ha"], rtol=1e-9)
    classes = pyogrio.read_dataframe(demo_run / "onemap.gpkg", layer="landscape_class_metrics")
    assert classes["CA"].sum() == pytest.approx(valid.sum() * 0.09)
    with rasterio.open(demo_run / "rasters" / "ecological_ed_window.tif") as src:
        edge = src.read(1)
    assert np.isnan(edge[~valid]).all() and np.nanmax(edge) > 0 and np.nanmin(edge) >= 0
    change = pyogrio.read_dataframe(demo_run / "onemap.gpkg", layer="landscape_change").set_index("class")
    assert change.loc[2, "reading"].startswith("forest: area -")  # forest lost to urban growth (README)


def test_demo_ecological_network(demo_run):
    """Sources are the large core areas ranked by dPC; each corridor costs no more than the
    straight line between its sources, and where that line crosses built-up land the corridor
    runs through cheaper land; per-unit source area adds up to the sources."""
    from shapely.ops import nearest_points

    gpkg = demo_run / "onemap.gpkg"
    sources = pyogrio.read_dataframe(gpkg, layer="ecological_sources").set_index("source_id")
    corridors = pyogrio.read_dataframe(gpkg, layer="ecological_corridors")
    assert 2 <= len(sources) <= 15 and (sources["area_ha"] >= 20).all()
    assert sources["dpc_pct"].is_monotonic_decreasing
    np.testing.assert_allclose(sources[["dpc_intra_pct", "dpc_flux_pct", "dpc_connector_pct"]].sum(axis=1),
                               sources["dpc_pct"], rtol=1e-6)
    with rasterio.open(demo_run / "rasters" / "mspa.tif") as src:
        assert {17, 3, 33} <= set(np.unique(src.read(1)))  # core, edge, bridge
    with rasterio.open(demo_run / "rasters" / "resistance.tif") as src:
        resistance, inverse = src.read(1), ~src.transform
    detours = 0
    for row in corridors.itertuples():
        a, b = nearest_points(sources.geometry[row.from_source], sources.geometry[row.to_source])
        steps = max(2, int(a.distance(b) / 5))
        xs, ys = np.linspace(a.x, b.x, steps), np.linspace(a.y, b.y, steps)
        cols, rows = (np.floor(v).astype(int) for v in inverse @ (xs, ys))
        crossed = resistance[rows, cols]
        straight_mean = float(np.mean(crossed)) if np.isfinite(crossed).all() else np.inf  # NaN: off the land
        assert row.cwd <= 1.05 * straight_mean * a.distance(b) + 30 * 1000  # no dearer than the straight line
        if straight_mean > 200:  # the straight line crosses built-up land (or leaves the land)
            assert row.mean_resistance < straight_mean
            detours += 1
    assert detours >= 1
    summary = pd.read_csv(demo_run / "unit_summary.csv")
    assert summary["eco_source_area_ha"].sum() == pytest.approx(sources["area_ha"].sum(), rel=0.02)
    # corridors sharing a stretch count it once on the ground
    lines = pyogrio.read_dataframe(gpkg, layer="ecological_corridor_lines")
    units = pyogrio.read_dataframe(gpkg, layer="unit_summary").geometry.union_all()
    on_land = lines.geometry.union_all().intersection(units).length / 1000
    assert summary["eco_corridor_length_km"].sum() == pytest.approx(on_land, rel=1e-6)
    assert on_land < corridors["length_m"].sum() / 1000


def test_demo_renewables(demo_run):
    """Zones conserve each district's land area for both resources, rooftop totals are the
    buildings' own, the red line is prohibited, and the total is the sum of its parts."""
    from rasterio.features import rasterize

    gpkg = demo_run / "onemap.gpkg"
    summary = pyogrio.read_dataframe(gpkg, layer="unit_summary")
    with rasterio.open(demo_run / "rasters" / "landcover_2023.tif") as src:
        cover, transform, nodata = src.read(1), src.transform, src.nodata
        zones = rasterize(zip(summary.to_crs(src.crs).geometry, range(len(summary))), out_shape=cover.shape,
                          transform=transform, fill=-1, dtype="int32")
    land_km2 = np.bincount(zones[(zones >= 0) & (cover != nodata)], minlength=len(summary)) * 0.0009
    for resource in ("ground_pv", "wind"):
        parts = summary[[f"{resource}_{c}_km2" for c in ("suitable", "restricted", "prohibited")]].sum(axis=1)
        np.testing.assert_allclose(parts, land_km2, rtol=1e-9)
    red_line = pyogrio.read_dataframe(folder_gpkg(), layer="protection_zones")
    red_line = red_line[red_line["zone"] == "ecological_protection_red_line"]
    with rasterio.open(demo_run / "rasters" / "zones_ground_pv.tif") as src:
        zone = src.read(1)
        inside = rasterize(((g, 1) for g in red_line.to_crs(src.crs).geometry), out_shape=zone.shape,
                           transform=src.transform, fill=0, dtype="uint8").astype(bool)
    assert inside.any() and (zone[inside & (zone > 0)] == 3).all()
    roofs = pyogrio.read_dataframe(gpkg, layer="rooftop_pv")
    assert summary["rooftop_pv_gwh_yr"].sum() == pytest.approx(roofs["yield_kwh_yr"].sum() / 1e6, rel=1e-6)
    # the deepest street canyons (horizon 60 degrees and more) lose half their yield: the beam and, with
    # Perez, the circumsolar diffuse are blocked most of the year
    assert roofs["specific_yield_kwh_kwp"].between(550, 1300).all()
    electricity = summary[["rooftop_pv_gwh_yr", "ground_pv_suitable_gwh_yr", "wind_suitable_gwh_yr"]].sum(axis=1)
    np.testing.assert_allclose(summary["renewable_electricity_gwh_yr"], electricity)
    np.testing.assert_allclose(summary["renewable_co2_avoided_t_yr"], electricity * 1e3 * 0.5703)
    assert summary["deep_geothermal_temperature_c"].between(80, 130).all()  # 61-84 mW/m2 at 3 km
    reasons = pyogrio.read_dataframe(gpkg, layer="renewable_zone_reasons")
    assert {"prohibited", "restricted"} <= set(reasons["zone_class"])


def test_demo_screening(demo_run):
    """Packages add up to their ranked roofs; afforestation sites avoid the farmland and red-line
    zones; every scenario's per-unit rows add up to its citywide row and to its sites."""
    gpkg = demo_run / "onemap.gpkg"
    summary = pyogrio.read_dataframe(gpkg, layer="unit_summary")
    candidates = pyogrio.read_dataframe(gpkg, layer="rooftop_candidates")
    packages = pyogrio.read_dataframe(gpkg, layer="rooftop_packages")
    assert packages["capacity_mw"].sum() == pytest.approx(candidates["capacity_kwp"].sum() / 1e3)
    assert summary["pv_package_yield_gwh_yr"].sum() == pytest.approx(candidates["yield_kwh_yr"].sum() / 1e6)
    assert (candidates["usable_area_m2"] >= 50 - 1e-9).all()
    assert sorted(candidates["rank"]) == list(range(1, len(candidates) + 1))
    assert candidates.sort_values("rank")["score"].is_monotonic_decreasing
    top = pyogrio.read_dataframe(gpkg, layer="rooftop_top_per_unit")
    assert top.groupby("unit_id").size().max() == 10
    sites = pyogrio.read_dataframe(gpkg, layer="afforestation_sites")
    from rasterio.features import rasterize

    zones = pyogrio.read_dataframe(folder_gpkg(), layer="protection_zones")
    with rasterio.open(demo_run / "rasters" / "afforestation_reasons.tif") as src:
        reason = src.read(1)
        protected = rasterize(((g, 1) for g in zones.to_crs(src.crs).geometry), out_shape=reason.shape,
                              transform=src.transform, fill=0, dtype="uint8").astype(bool)
    assert protected.any() and not (reason[protected] == 1).any()  # no candidate cell in a protected zone
    assert set(sites["land_category"]) <= {"barren", "grassland"}
    assert (sites["slope_max_deg"] <= 35).all() and (sites["area_ha"] >= 1.0).all()
    reasons = pyogrio.read_dataframe(gpkg, layer="afforestation_reasons")
    # the demo screens CCER eligibility: code 1 is the creditable part of the sites, the rule set's
    # reasons the rest of their area
    assert reasons.loc[reasons["code"] == 1, "area_ha"].item() == pytest.approx(sites["ccer_area_ha"].sum())
    ccer = reasons["rule_set"] == "ccer_2023"
    assert reasons.loc[ccer, "area_ha"].sum() == pytest.approx(sites["area_ha"].sum())
    assert 0 < sites["ccer_area_ha"].sum() < sites["area_ha"].sum()
    summary = pd.read_csv(demo_run / "unit_summary.csv")
    assert summary["afforestation_ccer_area_ha"].sum() == pytest.approx(sites["ccer_area_ha"].sum())
    assert (summary["afforestation_ccer_area_ha"] <= summary["afforestation_area_ha"] + 1e-9).all()
    assert (summary["afforestation_ccer_sink_t_co2_yr"] <= summary["afforestation_sink_t_co2_yr"] + 1e-9).all()
    eligibility = pyogrio.read_dataframe(gpkg, layer="afforestation_eligibility").set_index("rule")
    assert eligibility.loc["clear_tenure", "status"] == "condition to check"
    assert eligibility.loc["forest_in_the_last_3_years", "excluded_ha"] > 0  # forest in 2015
    city = pyogrio.read_dataframe(gpkg, layer="restoration_scenarios_citywide").set_index("scenario")
    per_unit = pyogrio.read_dataframe(gpkg, layer="restoration_scenarios_per_unit")
    for scenario, row in city.iterrows():
        members = sites[sites[f"in_{scenario}"]]
        assert row["sink_t_co2_yr"] == pytest.approx(members["sink_t_co2_yr"].sum())
        assert per_unit.loc[per_unit["scenario"] == scenario, "area_ha"].sum() == pytest.approx(row["area_ha"])
        by_unit = members.groupby("unit_id")["sink_t_co2_yr"].sum()
        column = summary.set_index("unit_id")[f"restoration_{scenario}_sink_t_co2_yr"]
        np.testing.assert_allclose(column.reindex(by_unit.index), by_unit)
    assert city.loc["top_ranked", "area_ha"] <= 0.25 * city.loc["all_suitable", "area_ha"] + 1e-9
    assert city.loc["all_suitable", "pc_joint_gain_pct"] > 0


def folder_gpkg() -> Path:
    return Path(str(files("carbonmap.sample_data") / "demo_city" / "demo_city.gpkg"))


def test_cli_rooftop_pv_needs_floors_or_heights(tmp_path):
    bad = CliRunner().invoke(main, ["rooftop-pv", str(folder_gpkg()), "--layer", "buildings", "-o",
                                    str(tmp_path / "x.gpkg")])
    assert bad.exit_code == 1 and "--floors-field or --height-field" in bad.output


def test_cli_landscape_metrics_equal_the_library(tmp_path):
    from carbonmap.landscape import fragstats, read_landscape

    raster = Path(str(files("carbonmap.sample_data") / "demo_city" / "landcover_2023.tif"))
    result = CliRunner().invoke(main, ["landscape-metrics", str(raster), "--neighbours", "4", "--classes", "2,4",
                                       "--metrics", "NP,ED,ENN_MN", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    expected = fragstats(read_landscape(raster, neighbours=4), metrics=["NP", "ED", "ENN_MN"])
    classes = pd.read_csv(tmp_path / "class.csv")
    assert classes["class"].tolist() == [2, 4]
    pd.testing.assert_frame_equal(classes, expected.class_[expected.class_["class"].isin([2, 4])].reset_index(drop=True))
    assert pd.read_csv(tmp_path / "landscape.csv").loc[0, "NP"] == expected.landscape.loc[0, "NP"]
    bad = CliRunner().invoke(main, ["landscape-metrics", str(raster), "--classes", "77", "-o", str(tmp_path / "x")])
    assert bad.exit_code == 1 and "class(es) 77 are not in the raster" in bad.output


def test_olinda_summary_equals_zonal_stats_on_the_aligned_raster(olinda_run):
    summary = pd.read_csv(olinda_run / "unit_summary.csv", dtype={"unit_id": str})
    units = gpd.read_file(olinda_run / "onemap.gpkg", layer="unit_summary")
    direct = zonal_stats(units, olinda_run / "rasters" / "elevation.tif", stats=["mean", "max"])
    np.testing.assert_allclose(summary["elevation_mean_m"], direct["mean"], rtol=1e-12)
    np.testing.assert_allclose(summary["elevation_max_m"], direct["max"], rtol=1e-12)
    # Olinda: a coastal town on low hills (the DEM spans -1..88 m)
    assert summary["elevation_max_m"].max() <= 88 and summary["elevation_mean_m"].median() < 40
    assert summary["area_km2"].sum() == pytest.approx(units.area.sum() / 1e6)
    assert 30 < summary["area_km2"].sum() < 50  # Olinda municipality is about 42 km2
    assert list(summary.columns[:3]) == ["unit_id", "unit_name", "area_km2"]


def test_olinda_rasters_are_cogs_on_the_analysis_grid(olinda_run):
    metadata = pyogrio.read_dataframe(olinda_run / "onemap.gpkg", layer="run_metadata")
    values = dict(zip(metadata["key"], metadata["value"]))
    assert values["analysis_resolution_m"] == "30.0" and "Albers" in values["analysis_crs_name"]
    with rasterio.open(olinda_run / "rasters" / "ndvi.tif") as ndvi:
        assert ndvi.res == (30.0, 30.0)
        assert ndvi.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        data = ndvi.read(1, masked=True)
        assert -1 <= data.min() and data.max() <= 1
    inputs = pyogrio.read_dataframe(olinda_run / "onemap.gpkg", layer="run_inputs")
    assert len(inputs) == 3 and all(re.fullmatch("[0-9a-f]{64}", h) for h in inputs["sha256"])


@pytest.mark.slow
def test_runs_are_deterministic(tmp_path):
    project = load_project(OLINDA)
    a = run(project.with_output_dir(tmp_path / "a"), quiet=True)
    b = run(project.with_output_dir(tmp_path / "b"), quiet=True)
    for name in ("unit_summary.csv", "unit_summary.xlsx", "rasters/ndvi.tif.aux.xml", "rasters/ndvi.qml"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert [layer.name for layer in a.layers] == [layer.name for layer in b.layers] == ["elevation", "ndvi"]
    # a result is let go once no later stage reads it; the run's record reads it back from the state
    assert {name for name, result in a.results.items() if result is not None} == {"units"}  # the one map's
    assert a.result("rasters").paths == {name: tmp_path / "a" / "rasters" / f"{name}.tif" for name in ("elevation",
                                                                                                       "ndvi")}
    assert a.result("sinks") is None and a.result("onemap") is None  # no vegetation sink here; the map returns none
    assert [layer.raster for layer in a.layers] == [tmp_path / "a" / "rasters" / f"{name}.tif" for name in ("elevation",
                                                                                                         "ndvi")]
    assert [s.name for s in STAGES] == ["units", "rasters", "vectors", "emissions", "stocks", "sinks", "blue_carbon",
                                        "landscape", "network", "renewables", "screening", "balance", "compensation",
                                        "scenarios", "targets", "monitoring", "uncertainty", "onemap"]


@pytest.mark.parametrize(("id_field", "message"), [
    ("NM_BAIR", "field 'NM_BAIR': 12 planning units have no id"),  # 12 tracts lack a bairro name
    ("TIPO", "field 'TIPO': 2 ids are used more than once: URBANO, RURAL"),
])
def test_a_failing_run_names_the_field_and_writes_nothing(tmp_path, id_field, message):
    folder = tmp_path / "p"
    shutil.copytree(OLINDA.parent, folder)
    text = (folder / "project.toml").read_text().replace('id_field = "CD_GEOCODI"', f'id_field = "{id_field}"')
    (folder / "project.toml").write_text(text)
    result = CliRunner().invoke(main, ["run", str(folder / "project.toml"), "--output", str(tmp_path / "o"), "-q"])
    assert result.exit_code == 1
    assert message in result.output
    assert not (tmp_path / "o").exists()


def test_cli_zonal_csv_and_gpkg(tmp_path, olinda):
    dem = olinda / "olinda_dem_utm25s.tif"
    csv = tmp_path / "z.csv"
    result = CliRunner().invoke(main, ["zonal", str(olinda / "olinda1.shp"), str(dem), "-o", str(csv),
                                       "--stats", "mean,max", "--id-field", "CD_GEOCODI"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(csv, dtype={"CD_GEOCODI": str})
    direct = zonal_stats(gpd.read_file(olinda / "olinda1.shp"), dem, stats=["mean", "max"])
    assert list(table.columns) == ["CD_GEOCODI", "mean", "max"] and len(table) == 470
    np.testing.assert_allclose(table["mean"], direct["mean"], rtol=1e-12)
    gpkg = tmp_path / "z.gpkg"
    result = CliRunner().invoke(main, ["zonal", str(olinda / "olinda1.shp"), str(dem), "-o", str(gpkg),
                                       "--prefix", "elev_"])
    assert result.exit_code == 0, result.output
    assert {"elev_mean", "elev_count"} <= set(gpd.read_file(gpkg).columns)


def test_cli_errors_are_one_line_with_the_fix(tmp_path, olinda):
    result = CliRunner().invoke(main, ["zonal", str(olinda / "olinda1.shp"), str(tmp_path / "no.tif"),
                                       "-o", str(tmp_path / "z.csv")])
    assert result.exit_code == 1
    assert re.search(r"Error: .*no\.tif: raster file not found\. Fix: check the path\.", result.output)
    result = CliRunner().invoke(main, ["zonal", str(olinda / "olinda1.shp"), str(olinda / "olinda_dem_utm25s.tif"),
                                       "-o", str(tmp_path / "z.txt")])
    assert result.exit_code == 1 and "must end in .csv or .gpkg" in result.output


def test_cli_help_and_version():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "run", "zonal"):
        assert command in result.output
    assert CliRunner().invoke(main, ["--version"]).output.startswith("carbonmap, version ")


def test_cli_emissions_reports_unknown_codes(tmp_path):
    folder = Path(str(files("carbonmap.sample_data") / "demo_city"))
    result = CliRunner().invoke(main, ["emissions", str(folder / "demo_city.gpkg"), "--layer", "parcels",
                                       "--code-field", "code", "--code-system", "gb_t_21010_2017",
                                       "-o", str(tmp_path / "x.gpkg")])
    assert result.exit_code == 1
    assert "field 'code': " in result.output and "are not in the gb_t_21010_2017 table" in result.output
    assert "0703 (" not in result.output.split("table:")[0]


def test_progress_off_a_terminal_is_plain_lines_and_every_run_has_a_log(tmp_path):
    import io

    stream = io.StringIO()
    record = run(load_project(OLINDA).with_output_dir(tmp_path / "o"), stream=stream)
    shown = stream.getvalue()
    assert "\x1b[" not in shown  # no terminal control sequences
    assert re.search(r"^\[ *\d+\.\d s\] stage 1/\d+ units: ", shown, re.MULTILINE)
    assert re.search(r"aligning rasters: 2/2, [\d.]+ s spent, about \d+ s left", shown)
    log = (record.out_dir / "run.log").read_text()
    assert all(f"stage {name} done in" in log for name in ("units", "rasters", "onemap"))
    assert record.notes and all(f"note: {note}\n" in log for note in record.notes)  # the run's notes, as promised
    assert "run.log" in {f["path"] for f in record.manifest["files"]}


def test_progress_speaks_the_runs_language(tmp_path):
    """A Chinese run's progress and log read in Chinese; the stage keeps its name (what --only takes)."""
    import io

    from carbonmap.progress import Reporter
    from carbonmap.themes.inputs import UNITS
    from carbonmap.words import words

    stream = io.StringIO()
    with Reporter(stream=stream, language="zh") as reporter:
        reporter.open_log(tmp_path / "run.log")
        reporter.run_started("示范城市", 3)
        reporter.stage_started(1, 3, UNITS.name, UNITS.description)
        list(reporter.track(["a", "b"], words("progress.aligning_rasters")))
        reporter.step(words("progress.stage_step", stage="network", step=words("step.circuits")), 3.04)
        reporter.stage_done("units", 1.5)
        reporter.finished(words("progress.done", seconds="9.0", folder=tmp_path))
    shown = stream.getvalue()
    assert "carbonmap：示范城市，共 3 个阶段" in shown
    assert "阶段 1/3 units：读取规划单元并确定分析网格" in shown
    assert re.search(r"对齐栅格：2/2，已用 [\d.]+ 秒，约剩 \d+ 秒", shown)
    assert "network 阶段：电路理论模拟完成，用时 3.0 秒" in shown
    assert f"carbonmap：完成，用时 9.0 秒 → {tmp_path}" in shown
    log = (tmp_path / "run.log").read_text(encoding="utf-8")
    assert "阶段 units 完成，用时 1.5 秒" in log and "阶段 units" not in shown  # the log has every line
    assert not re.search(r"[A-Za-z]{4,}", re.sub(r"carbonmap|units|network|/\S+", "", log))  # no English words


def test_commands_align_their_rasters_as_a_run_does(tmp_path):
    """The demo's precipitation is on a 1 km grid: the command aligns it to the land cover's
    30 m grid first instead of refusing it (as it did after a minute of work)."""
    folder = Path(str(files("carbonmap.sample_data") / "demo_city"))
    result = CliRunner().invoke(main, [
        "afforestation", str(folder / "landcover_2023.tif"), "--code-system", "clcd", "--dem", str(folder / "dem.tif"),
        "--precipitation", str(folder / "precipitation.tif"), "--ndvi", str(folder / "ndvi_2023.tif"),
        "-o", str(tmp_path / "sites.gpkg")])
    assert result.exit_code == 0, result.output
    assert len(pyogrio.read_dataframe(tmp_path / "sites.gpkg", layer="afforestation_sites")) > 0


def test_the_readme_names_every_file_the_demo_writes(demo_run):
    """README's table "What the demo writes" has a row for each file of the demo's output folder."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## What the demo writes"):]
    table = table[:table.index("\n\n", table.index("| file | content |"))]
    named = set(re.findall(r"^\| `([^`]+)` \|", table, re.MULTILINE))
    written = {p.name if p.is_file() else f"{p.name}/*.tif" for p in demo_run.iterdir() if not p.name.startswith(".")}
    assert written - named == set(), sorted(written - named)
    assert "unit_summary.xlsx" in named
