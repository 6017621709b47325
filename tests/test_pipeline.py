"""The pipeline and the command line, end to end on the bundled demo project."""

from __future__ import annotations

import re
import shutil
import tomllib
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

DEMO = Path(str(files("carbonmap.sample_data") / "olinda" / "project.toml"))


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(main, ["demo", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return out


def test_demo_writes_the_one_map(demo_run):
    assert sorted(p.name for p in demo_run.iterdir()) == ["onemap.gpkg", "onemap.html", "rasters", "unit_summary.csv"]
    layers = dict(pyogrio.list_layers(demo_run / "onemap.gpkg"))
    assert layers["unit_summary"] in ("MultiPolygon", "Polygon")
    assert {"run_inputs", "run_metadata"} <= set(layers)
    info = pyogrio.read_info(demo_run / "onemap.gpkg", layer="unit_summary")
    assert info["features"] == 470 and "Albers" in info["crs"] or info["crs"].startswith("PROJCS")


def test_demo_summary_equals_zonal_stats_on_the_aligned_raster(demo_run):
    summary = pd.read_csv(demo_run / "unit_summary.csv", dtype={"unit_id": str})
    units = gpd.read_file(demo_run / "onemap.gpkg", layer="unit_summary")
    direct = zonal_stats(units, demo_run / "rasters" / "elevation.tif", stats=["mean", "max"])
    np.testing.assert_allclose(summary["elevation_mean_m"], direct["mean"], rtol=1e-12)
    np.testing.assert_allclose(summary["elevation_max_m"], direct["max"], rtol=1e-12)
    # Olinda: a coastal town on low hills (the DEM spans -1..88 m)
    assert summary["elevation_max_m"].max() <= 88 and summary["elevation_mean_m"].median() < 40
    assert summary["area_km2"].sum() == pytest.approx(units.area.sum() / 1e6)
    assert 30 < summary["area_km2"].sum() < 50  # Olinda municipality is about 42 km2
    assert list(summary.columns[:3]) == ["unit_id", "unit_name", "area_km2"]


def test_demo_rasters_are_cogs_on_the_analysis_grid(demo_run):
    metadata = pyogrio.read_dataframe(demo_run / "onemap.gpkg", layer="run_metadata")
    values = dict(zip(metadata["key"], metadata["value"]))
    assert values["analysis_resolution_m"] == "30.0" and "Albers" in values["analysis_crs_name"]
    with rasterio.open(demo_run / "rasters" / "ndvi.tif") as ndvi:
        assert ndvi.res == (30.0, 30.0)
        assert ndvi.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        data = ndvi.read(1, masked=True)
        assert -1 <= data.min() and data.max() <= 1
    inputs = pyogrio.read_dataframe(demo_run / "onemap.gpkg", layer="run_inputs")
    assert len(inputs) == 3 and all(re.fullmatch("[0-9a-f]{64}", h) for h in inputs["sha256"])


def test_demo_html_has_layers_and_legend(demo_run):
    html = (demo_run / "onemap.html").read_text()
    assert "L.control.layers" in html
    for name in ("units: elevation_mean_m", "Elevation (SRTM-derived DEM)", "NDVI (Landsat 7 ETM+, digital numbers)"):
        assert name in html
    assert "data:image/png;base64" in html  # raster overlays embedded, not linked


def test_runs_are_deterministic(tmp_path):
    project = load_project(DEMO)
    a = run(project.with_output_dir(tmp_path / "a"), quiet=True)
    b = run(project.with_output_dir(tmp_path / "b"), quiet=True)
    assert (tmp_path / "a" / "unit_summary.csv").read_bytes() == (tmp_path / "b" / "unit_summary.csv").read_bytes()
    assert [layer.name for layer in a.layers] == [layer.name for layer in b.layers] == ["elevation", "ndvi"]
    assert [s.name for s in STAGES] == ["units", "grid", "rasters", "onemap"]


@pytest.mark.parametrize(("id_field", "message"), [
    ("NM_BAIR", "field 'NM_BAIR': 12 planning units have no id"),  # 12 tracts lack a bairro name
    ("TIPO", "field 'TIPO': 2 ids are used more than once: URBANO, RURAL"),
])
def test_a_failing_run_names_the_field_and_writes_nothing(tmp_path, id_field, message):
    folder = tmp_path / "p"
    shutil.copytree(DEMO.parent, folder)
    text = (folder / "project.toml").read_text().replace('id_field = "CD_GEOCODI"', f'id_field = "{id_field}"')
    (folder / "project.toml").write_text(text)
    result = CliRunner().invoke(main, ["run", str(folder / "project.toml"), "--out", str(tmp_path / "o"), "-q"])
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
