"""The demo's business-as-usual scenario runs with the land-use simulator (allocation = "plus")."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pyogrio
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
