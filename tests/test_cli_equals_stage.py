"""Every command gives what the run's stage gives on the same inputs: one prepare step and one
implementation behind both (emissions, stocks, landscape metrics, ecological network, rooftop
PV, afforestation, blue carbon, compensation), compared on every column the command writes."""

from __future__ import annotations

import shutil
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
from click.testing import CliRunner

from carbonmap.cli import main

DEMO = Path(str(files("carbonmap.sample_data") / "demo_city"))
GPKG = str(DEMO / "demo_city.gpkg")


def invoke(*args) -> None:
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output


def read(path: Path, layer: str) -> pd.DataFrame:
    return pyogrio.read_dataframe(path, layer=layer)


def assert_same_columns(ours: pd.DataFrame, theirs: pd.DataFrame, *, key: str | None = None) -> None:
    """Every column of `ours` equals the same column of `theirs` (rows matched by `key`)."""
    assert len(ours) == len(theirs)
    if key is not None:
        ours, theirs = ours.sort_values(key, ignore_index=True), theirs.sort_values(key, ignore_index=True)
    missing = set(ours.columns) - set(theirs.columns)
    assert not missing, f"columns the stage does not write: {missing}"
    for column in ours.columns:
        if column == "geometry":
            assert ours.geometry.geom_equals_exact(theirs.geometry, tolerance=1e-6).all()
        else:
            pd.testing.assert_series_equal(ours[column], theirs[column], check_dtype=False, rtol=1e-12,
                                           obj=column)


def analysis_crs(run: Path) -> str:
    meta = read(run / "onemap.gpkg", "run_metadata").set_index("key")["value"]
    return meta["analysis_crs_wkt"]


def test_emissions(demo_run, tmp_path):
    out = tmp_path / "em.gpkg"
    invoke("emissions", GPKG, "--layer", "parcels", "--code-field", "code", "--code-system", "ydyh_2023",
           "--inventory", DEMO / "inventory.csv", "--buildings", GPKG, "--buildings-layer", "buildings",
           "--floors-field", "floors", "--height-field", "height_m", "--roads", GPKG, "--roads-layer", "roads",
           "--point-sources", GPKG, "--point-sources-layer", "point_sources", "--units", GPKG,
           "--units-layer", "districts", "--units-id-field", "district_id", "-o", out)
    run = demo_run / "onemap.gpkg"
    for layer in ("parcel_emissions", "coefficients_landuse", "coefficients_road_class_weights",
                  "emissions_inventory_allocation"):
        assert_same_columns(read(out, layer), read(run, layer))
    balance = read(out, "unit_balance").set_index("unit_id")
    summary = pd.read_csv(demo_run / "unit_summary.csv", dtype={"unit_id": str}).set_index("unit_id")
    for column in [c for c in balance.columns if c.startswith("source_")]:
        np.testing.assert_allclose(balance.loc[summary.index, column], summary[column], rtol=1e-12)


def test_stocks(demo_run, tmp_path):
    rasters = demo_run / "rasters"
    invoke("stocks", rasters / "landcover_2015.tif", DEMO / "pools_clcd.csv", "--alt",
           rasters / "landcover_2023.tif", "-o", tmp_path)
    assert_same_columns(pd.read_csv(tmp_path / "summary.csv"), read(demo_run / "onemap.gpkg", "stocks_summary"))
    for name in ("c_storage_bas", "c_storage_alt", "c_change_bas_alt"):
        with rasterio.open(tmp_path / f"{name}.tif") as ours, rasterio.open(rasters / f"{name}.tif") as theirs:
            np.testing.assert_array_equal(ours.read(1), theirs.read(1))


def test_landscape_metrics(demo_run, tmp_path):
    invoke("landscape-metrics", demo_run / "rasters" / "landcover_2023.tif", "-o", tmp_path)
    run = demo_run / "onemap.gpkg"
    assert_same_columns(pd.read_csv(tmp_path / "class.csv"), read(run, "landscape_class_metrics"))
    assert_same_columns(pd.read_csv(tmp_path / "landscape.csv"), read(run, "landscape_metrics"))


@pytest.mark.slow
def test_ecological_network(demo_run, tmp_path):
    rasters = demo_run / "rasters"
    invoke("ecological-network", rasters / "landcover_2023.tif", "--code-system", "clcd", "--dem",
           rasters / "elevation.tif", "--roads", GPKG, "--roads-layer", "roads", "--min-core-area", "20",
           "--max-sources", "15", "--circuit-max-cells", "100000", "-o", tmp_path)
    for layer in ("ecological_sources", "ecological_corridors", "ecological_corridor_lines", "pinch_points",
                  "barriers", "coefficients_ecological_resistance"):
        assert_same_columns(read(tmp_path / "network.gpkg", layer), read(demo_run / "onemap.gpkg", layer))
    parameters = read(tmp_path / "network.gpkg", "network_parameters")
    theirs = read(demo_run / "onemap.gpkg", "network_parameters")
    assert_same_columns(parameters[~parameters["parameter"].str.startswith("index_time")],
                        theirs[~theirs["parameter"].str.startswith("index_time")])
    for name in ("mspa", "resistance", "current_density", "barrier_score"):
        with rasterio.open(tmp_path / f"{name}.tif") as ours, rasterio.open(rasters / f"{name}.tif") as theirs:
            np.testing.assert_array_equal(ours.read(1), theirs.read(1))


def test_rooftop_pv(demo_run, tmp_path):
    out = tmp_path / "pv.gpkg"
    invoke("rooftop-pv", GPKG, "--layer", "buildings", "--floors-field", "floors", "--height-field", "height_m",
           "--use-field", "use", "--roof-field", "roof", "--ghi", demo_run / "rasters" / "ghi.tif",
           "--crs", analysis_crs(demo_run), "-o", out)
    assert_same_columns(read(out, "rooftop_pv"), read(demo_run / "onemap.gpkg", "rooftop_pv"))
    for table in ("coefficients_renewable_parameters", "coefficients_rooftop_pv_usable",
                  "coefficients_grid_emission_factors"):
        assert_same_columns(read(out, table), read(demo_run / "onemap.gpkg", table))


@pytest.fixture(scope="module")
def screening_run(tmp_path_factory) -> Path:
    """The demo's units, land cover, terrain and [screening] without the network (whose
    connectivity scores the command adds only with --connectivity and default settings)."""
    folder = tmp_path_factory.mktemp("screening")
    for name in ("demo_city.gpkg", "landcover_2023.tif", "landcover_2015.tif", "dem.tif", "precipitation.tif",
                 "ndvi_2023.tif"):
        shutil.copy(DEMO / name, folder / name)
    (folder / "project.toml").write_text("""
[project]
name = "screening only"
output_dir = "out"
[grid]
resolution_m = 30
[units]
path = "demo_city.gpkg"
layer = "districts"
id_field = "district_id"
[[rasters]]
name = "landcover_2023"
path = "landcover_2023.tif"
kind = "categorical"
code_system = "clcd"
[[rasters]]
name = "landcover_2015"
path = "landcover_2015.tif"
kind = "categorical"
code_system = "clcd"
[[rasters]]
name = "elevation"
path = "dem.tif"
[[rasters]]
name = "precipitation"
path = "precipitation.tif"
[[rasters]]
name = "ndvi"
path = "ndvi_2023.tif"
[screening]
landcover = "landcover_2023"
dem = "elevation"
precipitation = "precipitation"
ndvi = "ndvi"
protection_zones = "demo_city.gpkg"
protection_zones_layer = "protection_zones"
eligibility = "ccer_2023"
earlier_landcover = "landcover_2015"
earlier_landcover_year = 2015
project_start_year = 2025
[outputs]
html = false
report = false
save_state = false
""", encoding="utf-8")
    invoke("run", folder / "project.toml", "-q")
    return folder / "out"


@pytest.mark.slow
def test_afforestation(screening_run, tmp_path):
    rasters = screening_run / "rasters"
    out = tmp_path / "aff.gpkg"
    invoke("afforestation", rasters / "landcover_2023.tif", "--code-system", "clcd", "--dem",
           rasters / "elevation.tif", "--precipitation", rasters / "precipitation.tif", "--ndvi",
           rasters / "ndvi.tif", "--zones", GPKG, "--zones-layer", "protection_zones", "--eligibility", "ccer_2023",
           "--earlier-landcover", rasters / "landcover_2015.tif", "--earlier-year", "2015",
           "--project-start-year", "2025", "-o", out)
    run = screening_run / "onemap.gpkg"
    assert len(read(out, "afforestation_sites")) > 10
    for layer in ("afforestation_sites", "afforestation_reasons", "restoration_scenarios_citywide",
                  "afforestation_eligibility", "coefficients_afforestation_rules", "coefficients_afforestation_growth",
                  "coefficients_afforestation_eligibility"):
        assert_same_columns(read(out, layer), read(run, layer))


def test_rank_rooftops(demo_run, tmp_path):
    out = tmp_path / "roofs.gpkg"
    invoke("rank-rooftops", demo_run / "onemap.gpkg", "--use-field", "use", "--units", GPKG, "--units-layer",
           "districts", "--units-id-field", "district_id", "-o", out)
    ours = read(out, "rooftop_packages").set_index("unit_id")
    theirs = read(demo_run / "onemap.gpkg", "rooftop_packages").set_index("unit_id")
    theirs = theirs[theirs["roofs"] > 0]  # the run lists every unit, the command units with candidates
    assert_same_columns(ours.loc[theirs.index].reset_index(), theirs.reset_index())
    candidates = read(out, "rooftop_candidates")
    run = read(demo_run / "onemap.gpkg", "rooftop_candidates")
    assert_same_columns(candidates[[c for c in run.columns if c in candidates]], run, key="rank")


def test_blue_carbon(demo_run, tmp_path):
    from carbonmap.config import load_project

    section = load_project(DEMO / "project.toml").blue_carbon
    rasters = demo_run / "rasters"
    snapshots = tmp_path / "snapshots.csv"
    snapshots.write_text("snapshot_year,raster_path\n" + "".join(
        f"{year},{rasters / name}.tif\n" for year, name in section.snapshots.items()))
    out = tmp_path / "out"
    invoke("blue-carbon", snapshots, section.biophysical, section.transitions, "--analysis-year", section.analysis_year,
           "--price", section.price_per_t_co2, "--price-change", section.price_change_pct, "--discount-rate",
           section.discount_rate_pct, "--units", GPKG, "--units-layer", "districts", "--units-id-field", "district_id",
           "-o", out)
    run = demo_run / "onemap.gpkg"
    for table in ("blue_carbon_periods", "blue_carbon_annual", "blue_carbon_transitions"):
        assert_same_columns(pd.read_csv(out / f"{table}.csv"), read(run, table))
    ours = pd.read_csv(out / "blue_carbon_units.csv", dtype={"unit_id": str})
    summary = pd.read_csv(demo_run / "unit_summary.csv", dtype={"unit_id": str}).set_index("unit_id")
    assert len(ours.columns) == 6
    assert_same_columns(ours, summary.loc[ours["unit_id"], ours.columns[1:]].reset_index())
    theirs = sorted((rasters / "blue_carbon").glob("*.tif"))
    assert len(theirs) == 14
    for path in theirs:
        with rasterio.open(out / path.name) as a, rasterio.open(path) as b:
            np.testing.assert_array_equal(a.read(1), b.read(1))


def test_compensation(demo_run, tmp_path):
    """The command on the run's unit summary gives the stage's zoning columns and pairs."""
    out = tmp_path / "compensation.gpkg"
    invoke("compensation", demo_run / "onemap.gpkg", "--layer", "unit_summary", "--gdp-field", "gdp_cny_1e8",
           "--price", "china_national_ets:2024", "-o", out)
    ours = read(out, "compensation_zoning").drop(columns="geometry")
    assert_same_columns(ours, read(demo_run / "onemap.gpkg", "unit_summary")[list(ours.columns)], key="unit_id")
    assert_same_columns(read(out, "compensation_pairs"), read(demo_run / "onemap.gpkg", "compensation_pairs"))
    assert_same_columns(read(out, "compensation_flows"), read(demo_run / "onemap.gpkg", "compensation_flows"))
