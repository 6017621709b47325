"""The demo's business-as-usual scenario runs with the land-use simulator (allocation = "plus")."""

from __future__ import annotations

import dataclasses
import shutil

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio
from conftest import REPO
from rasterio import features


def test_demo_bau_is_simulated_meets_its_demand_and_keeps_the_protection_zones(demo_run):
    gpkg = demo_run / "onemap.gpkg"
    read = lambda layer: pyogrio.read_dataframe(gpkg, layer=layer, read_geometry=False)
    demand = read("scenario_plus_demand").set_index("code")["cells_demand"]
    with rasterio.open(demo_run / "rasters" / "scenario_bau_2039.tif") as src:
        simulated, transform, crs, nodata = src.read(1), src.transform, src.crs, src.nodata
    with rasterio.open(demo_run / "rasters" / "landcover_2023.tif") as src:
        today = src.read(1)
    codes, counts = np.unique(simulated[simulated != nodata], return_counts=True)
    assert dict(zip(codes.tolist(), counts.tolist())) == {c: n for c, n in demand.items() if n}
    zones = gpd.read_file(REPO / "sample_data" / "demo_city" / "demo_city.gpkg", layer="protection_zones").to_crs(crs)
    inside = features.rasterize(zones.geometry, out_shape=simulated.shape, transform=transform).astype(bool)
    assert inside.sum() > 1000 and (simulated[inside] == today[inside]).all()
    assert ((simulated != today) & ~inside).sum() > 1000  # and the rest did change
    importance = read("scenario_plus_importance")
    assert set(importance["scenario"]) == {"bau_2039"}
    assert {"distance_to_roads", "elevation", "slope", "distance_to_8"} <= set(importance["driver"])
    assert (demo_run / "rasters" / "simulation" / "scenario_bau_2039_probability_8.tif").exists()
    parameters = read("coefficients_scenario_parameters").set_index("parameter")
    assert float(parameters.loc["plus_window_cells", "value"]) == 5


@pytest.mark.slow
def test_an_ecological_priority_scenario_meets_its_lp_constraints_through_the_pipeline(demo_run, tmp_path):
    """demand = "optimise": the most carbon storage under the planner's constraints, simulated (30 s)."""
    from carbonmap.config import ScenarioInput, load_project
    from carbonmap.pipeline import run

    out = tmp_path / "demo"
    shutil.copytree(demo_run, out)
    with rasterio.open(out / "rasters" / "landcover_2023.tif") as src:
        today = src.read(1)
        cell_ha = abs(src.transform.a * src.transform.e) / 1e4
    ha = {code: float((today == code).sum() * cell_ha) for code in (1, 2, 8, 9)}
    constraints = [{"codes": [8], "min_ha": ha[8] + 500.0},  # built-up land for the planned population
                   {"codes": [1], "min_ha": 0.98 * ha[1]},  # farmland protection target
                   {"codes": [2, 9], "min_ha": ha[2] + ha[9] + 300.0}]  # ecological land minimum
    project = load_project(REPO / "sample_data" / "demo_city" / "project.toml").with_output_dir(out)
    project = dataclasses.replace(project, scenarios=[ScenarioInput(
        name="ecological_priority", markov_year=2035, target_year=2035, allocation="plus", demand="optimise",
        demand_constraints=constraints, demand_max_change_pct=10.0,
        reference="landcover_2023")])  # plumbing of the validation: the base map itself as the "real" map
    run(project, quiet=True, only="scenarios")
    demand = pyogrio.read_dataframe(out / "onemap.gpkg", layer="scenario_plus_demand", read_geometry=False)
    area = demand.set_index("code")["cells_demand"] * cell_ha
    one_cell = cell_ha + 1e-6
    assert area[8] >= ha[8] + 500.0 - one_cell
    assert area[1] >= 0.98 * ha[1] - one_cell
    assert area[2] + area[9] >= ha[2] + ha[9] + 300.0 - one_cell
    with rasterio.open(out / "rasters" / "scenario_ecological_priority.tif") as src:
        simulated, nodata = src.read(1), src.nodata
    codes, counts = np.unique(simulated[simulated != nodata], return_counts=True)
    assert dict(zip(codes.tolist(), counts.tolist())) == {c: n for c, n in demand.set_index("code")["cells_demand"]
                                                          .items() if n}
    validation = pyogrio.read_dataframe(out / "onemap.gpkg", layer="scenario_plus_validation",
                                        read_geometry=False).set_index("model")
    valid = simulated != nodata
    assert validation.loc["null", "overall_accuracy"] == 1.0
    assert validation.loc["plus", "overall_accuracy"] == pytest.approx((simulated == today)[valid].mean())
    assert validation.loc["plus", "false_alarms"] == ((simulated != today) & valid).sum()
    metrics = pyogrio.read_dataframe(out / "onemap.gpkg", layer="scenario_plus_landscape_metrics", read_geometry=False)
    assert set(metrics["model"]) == {"reference", "null", "plus"}  # an LP demand: no simple-allocation flows
