"""`carbonmap init FOLDER`: survey a folder, guess each data set's role, write a starter project."""

from __future__ import annotations

import re
from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from carbonmap.survey import data_files, describe, describe_raster

DEMO = Path(str(files("carbonmap.sample_data") / "demo_city"))
OLINDA = Path(str(files("carbonmap.sample_data") / "olinda"))


def write_tif(path: Path, data: np.ndarray, *, crs="EPSG:4547", cell=30.0, nodata=None, tags=None) -> Path:
    """A one-band GeoTIFF at 500 km E, 2,500 km N of EPSG:4547 (southern China)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {"driver": "GTiff", "height": data.shape[0], "width": data.shape[1], "count": 1,
               "dtype": data.dtype.name, "crs": crs, "nodata": nodata,
               "transform": Affine(cell, 0, 500_000, 0, -cell, 2_500_000)}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
        if tags:
            dst.update_tags(**tags)
    return path


# --------------------------------------------------------------------------- survey


def test_data_files_skips_hidden_out_and_run_output_folders(tmp_path):
    for name in ("a.gpkg", "sub/b.tif", "sub/c.csv", "sub/c.shp", "sub/c.dbf", "notes.txt", ".hidden.tif",
                 ".git/x.tif", "out/y.tif", "runs/city/onemap.gpkg", "runs/city/rasters/z.tif"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert [p.relative_to(tmp_path).as_posix() for p in data_files(tmp_path)] == [
        "a.gpkg", "sub/b.tif", "sub/c.csv", "sub/c.shp"]


def test_describe_reads_every_layer_of_a_geopackage_with_sizes_in_metres():
    samples = {s.layer: s for s in describe(DEMO / "demo_city.gpkg")}
    assert set(samples) == {"districts", "parcels", "buildings", "roads", "point_sources", "wetlands",
                            "protection_zones"}
    parcels = samples["parcels"]
    assert (parcels.geometry, parcels.count, parcels.crs) == ("polygon", 3947, "EPSG:4547")
    assert len(parcels.sample) == 500 and "code" in parcels.fields
    assert samples["roads"].geometry == "line" and samples["point_sources"].geometry == "point"
    assert 1e3 < samples["buildings"].median_area_m2 < 1e4  # footprints: a few thousand m2
    west, south, east, north = samples["districts"].lonlat_bounds
    assert 114 < west < east < 116 and 21 < south < north < 22


def test_a_large_raster_without_overviews_is_sampled_by_windows(tmp_path):
    data = np.arange(2100 * 2100, dtype="float32").reshape(2100, 2100)
    sample = describe_raster(write_tif(tmp_path / "big.tif", data, tags={"unit": "m"}))
    assert sample.values.size <= 512 * 512 and sample.values.size > 10_000
    assert sample.minimum == 0 and sample.maximum > 0.9 * data.max()  # windows reach the far corner
    assert sample.tags["unit"] == "m" and sample.cell_size_m == 30


def test_unreadable_files_are_described_with_the_reason(tmp_path):
    (tmp_path / "broken.tif").write_bytes(b"not a tiff")
    (tmp_path / "broken.gpkg").write_bytes(b"not a geopackage")
    (tmp_path / "settings.json").write_text('{"a": 1}')
    assert describe(tmp_path / "settings.json") == []  # plain JSON is not data
    for name in ("broken.tif", "broken.gpkg"):
        (sample,) = describe(tmp_path / name)
        assert sample.kind == "unreadable" and "not readable" in sample.reason


# --------------------------------------------------------------------------- roles

DEMO_ROLES = {
    "demo_city.gpkg:districts": "units", "demo_city.gpkg:parcels": "parcels", "demo_city.gpkg:buildings": "buildings",
    "demo_city.gpkg:roads": "roads", "demo_city.gpkg:point_sources": "point_sources",
    "demo_city.gpkg:wetlands": "wetlands", "demo_city.gpkg:protection_zones": "protection_zones",
    "landcover_2015.tif": "landcover", "landcover_2023.tif": "landcover", "dem.tif": "dem", "ndvi_2023.tif": "ndvi",
    "npp_2023.tif": "npp", "ghi.tif": "ghi", "wind_speed_100m.tif": "wind_speed", "heat_flow.tif": "heat_flow",
    "temperature.tif": "temperature", "precipitation.tif": "precipitation", "inventory.csv": "inventory",
    "pools_clcd.csv": "pools",
}
#: Files of the demo that init finds and gives no role: it proposes no [blue_carbon] section (yet),
#: and of two inventories it takes one (inventory_2015.csv is the earlier run's, `carbonmap demo`).
DEMO_UNASSIGNED = ("blue_carbon_biophysical.csv", "blue_carbon_transitions.csv", "targets.csv", "inventory_2015.csv")


@pytest.fixture(scope="module")
def demo_found():
    from carbonmap.init import survey_folder

    return {f.label: f for f in survey_folder(DEMO)}


def test_the_demo_city_roles_are_the_known_roles(demo_found):
    assert {label: f.role for label, f in demo_found.items()} == {**DEMO_ROLES, **dict.fromkeys(DEMO_UNASSIGNED)}
    settings = {label: demo_found[label].guess.settings for label in DEMO_ROLES}
    assert settings["demo_city.gpkg:districts"] == {
        "id_field": "district_id", "name_field": "name_zh", "population_field": "population",
        "gdp_field": "gdp_cny_1e8", "gdp_unit": "cny_1e8"}
    parcels = settings["demo_city.gpkg:parcels"]
    assert (parcels["code_field"], parcels["code_system"]) == ("code", "ydyh_2023")  # not code_2015
    buildings = settings["demo_city.gpkg:buildings"]
    assert [buildings[k] for k in ("floors_field", "height_field", "use_field")] == ["floors", "height_m", "use"]
    assert settings["demo_city.gpkg:roads"]["class_field"] == "road_class"
    assert settings["demo_city.gpkg:protection_zones"]["protection_field"] == "zone"  # not name_zh (生态保护红线)
    assert settings["demo_city.gpkg:wetlands"]["wetland_type_field"] == "wetland_type"
    assert [settings[f"landcover_{y}.tif"]["code_system"] for y in (2015, 2023)] == ["clcd", "clcd"]
    assert all(demo_found[label].confidence == "high" for label in DEMO_ROLES)
    assert demo_found["demo_city.gpkg:parcels"].alternatives[0].role == "units"  # reported, not used


def test_the_olinda_sample_has_its_units_dem_and_ndvi():
    from carbonmap.init import survey_folder

    roles = {f.label: (f.role, f.guess.settings) for f in survey_folder(OLINDA)}
    assert roles["olinda_tracts.gpkg:tracts"][0] == "units"
    # the IBGE tract code, not the float 'ID' (also unique) nor the neighbourhood code (repeated)
    assert roles["olinda_tracts.gpkg:tracts"][1]["id_field"] == "CD_GEOCODI"
    assert roles["olinda_tracts.gpkg:tracts"][1]["name_field"] == "NM_BAIR"
    assert roles["olinda_dem_utm25s.tif"][0] == "dem" and roles["olinda_ndvi.tif"][0] == "ndvi"


@pytest.mark.parametrize(("values", "system", "share"), [
    (["070101", "110101", "0303", "0303"], "ydyh_2023", 1.0),
    ([101, 303.0, "0303"], "gb_t_21010_2017", 1.0),   # numbers that lost their leading zero
    (["070101", "9999", None], "ydyh_2023", 0.5),     # missing values are not counted
])
def test_known_code_share_compares_codes_as_classify_does(values, system, share):
    from carbonmap.roles import known_code_share

    got, unknown = known_code_share(values, system)
    assert got == share
    assert list(unknown.index) == ([] if share == 1 else ["9999"])


def unwrapped(text: str) -> str:
    """A project file's comments with wrapped lines joined."""
    return re.sub(r"\n#\s+", " ", text)


def _polygons(tmp_path, name, columns: dict, *, layer=None, crs="EPSG:4547", size=100.0):
    """Square polygons in a row (at 500 km E, 2,500 km N, or 114 E, 22.5 N in lon/lat), with `columns`."""
    import geopandas as gpd
    import shapely

    n = len(next(iter(columns.values())))
    x, y = (114.0, 22.5) if crs == "EPSG:4326" else (500_000, 2_500_000)
    boxes = [shapely.box(x + i * size, y, x + (i + 1) * size, y + size) for i in range(n)]
    frame = gpd.GeoDataFrame(columns, geometry=boxes, crs=crs)
    path = tmp_path / name
    frame.to_file(path, layer=layer, driver="GPKG" if path.suffix == ".gpkg" else None)
    return path


def _guesses(path, **kwargs):
    from carbonmap.roles import guess_roles

    (sample,) = describe(path) if not kwargs.get("layer") else [s for s in describe(path)
                                                                   if s.layer == kwargs["layer"]]
    return {g.role: g for g in guess_roles(sample)}


def test_a_dlbm_field_holds_gb_t_codes_and_unknown_codes_block_the_parcels(tmp_path):
    codes = ["0101", "0201", "0301", "0702"] * 20
    guess = _guesses(_polygons(tmp_path, "dltb.gpkg", {"DLBM": codes}))["parcels"]
    assert guess.settings["code_system"] == "gb_t_21010_2017"  # the ydyh_2023 table knows them too
    assert guess.blocker is None and guess.confidence == "high"
    guess = _guesses(_polygons(tmp_path, "parcels.gpkg", {"code": ["070101"] * 70 + ["0199"] * 10}))["parcels"]
    assert guess.settings["code_system"] == "ydyh_2023" and guess.blocker is not None
    assert "0199 (10)" in guess.blocker and "crosswalk" in guess.blocker


def test_floors_alone_are_not_land_use_codes(tmp_path):
    path = _polygons(tmp_path, "bldg.gpkg", {"floors": [1, 2, 3, 5, 8] * 200, "use": ["residential"] * 1000},
                     size=20.0)
    guesses = _guesses(path)
    assert "parcels" not in guesses  # 1..12 are codes of several systems, but not in a field named floors
    assert guesses["buildings"].settings["floors_field"] == "floors" and guesses["buildings"].usable


@pytest.mark.parametrize(("name", "values", "tags", "system"), [
    ("lc.tif", [10, 20, 30, 40, 50, 60, 80, 90, 95], None, "esa_worldcover"),
    ("landcover_2020.tif", [1, 2, 3, 4, 5, 8, 9], None, "clcd"),
    ("city_nlcd.tif", [11, 21, 22, 23, 41, 42, 81, 82, 90], None, "nlcd"),
    ("classes.tif", [1, 2, 4, 5, 8], {"code_system": "clcd"}, "clcd"),
])
def test_land_cover_code_systems_from_the_values(tmp_path, name, values, tags, system):
    data = np.resize(np.array(values, dtype="uint8"), (60, 60))
    guess = _guesses(write_tif(tmp_path / name, data, nodata=0, tags=tags))["landcover"]
    assert guess.settings["code_system"] == system and guess.usable


def test_a_land_cover_with_an_undeclared_nodata_value_gets_the_fix(tmp_path):
    data = np.resize(np.array([0, 1, 2, 3, 4, 8], dtype="uint8"), (60, 60))
    guess = _guesses(write_tif(tmp_path / "landcover.tif", data))["landcover"]
    assert guess.settings["code_system"] is None and not guess.usable
    assert "gdal_edit.py -a_nodata 0 landcover.tif" in guess.blocker


def test_class_names_in_the_tags_overrule_a_match_by_values(tmp_path):
    data = np.resize(np.array([1, 2, 3], dtype="uint8"), (60, 60))
    tags = {"CLASSES": "1=forest;2=built;3=other"}  # CLCD's 1, 2, 3 are cropland, forest, shrub
    guess = _guesses(write_tif(tmp_path / "lu_1985.tif", data, nodata=0, tags=tags))["landcover"]
    assert guess.settings["code_system"] is None and "1=forest" in guess.blocker


@pytest.mark.parametrize(("name", "low", "high", "role", "confidence", "check"), [
    ("srtm_30m.tif", 2.0, 1400.0, "dem", "high", None),
    ("tmean_annual.tif", 12.0, 24.0, "temperature", "high", None),
    ("t2m.tif", 283.0, 299.0, "temperature", "low", "kelvin"),
    ("rainfall.tif", 900.0, 2100.0, "precipitation", "high", None),
    ("prec_daily.tif", 0.5, 9.0, "precipitation", "low", "daily"),
    ("GHI.tif", 1100.0, 1600.0, "ghi", "high", None),
    ("ghi_daily.tif", 3.0, 5.0, "ghi", "low", "daily"),
    ("ws100.tif", 3.0, 9.0, "wind_speed", "high", None),
    ("heatflow.tif", 40.0, 90.0, "heat_flow", "high", None),
    ("s2_index.tif", -0.4, 0.9, "ndvi", "medium", None),  # no telling name: values only
])
def test_continuous_rasters_by_name_and_range(tmp_path, name, low, high, role, confidence, check):
    data = np.linspace(low, high, 3600, dtype="float32").reshape(60, 60)
    guess = _guesses(write_tif(tmp_path / name, data))[role]
    assert guess.confidence == confidence
    assert (check is None and not guess.checks) or any(check in c for c in guess.checks)


def test_each_single_role_goes_to_one_data_set_best_first():
    from carbonmap.roles import Guess, assign_roles

    a, b, c = Guess("units", 0.9), Guess("units", 0.7), Guess("parcels", 0.95)
    assert assign_roles([[a], [c, b], [Guess("dem", 0.4)], [Guess("dem", 0.8)], [Guess("units", 0.3)]]) == [
        a, c, None, Guess("dem", 0.8), None]


# --------------------------------------------------------------------------- the starter project


@pytest.fixture(scope="module")
def demo_copy(tmp_path_factory) -> Path:
    """The demo city's data without its project file."""
    import shutil

    folder = tmp_path_factory.mktemp("init") / "demo_city"
    shutil.copytree(DEMO, folder, ignore=shutil.ignore_patterns("project.toml", "__pycache__"))
    return folder


@pytest.fixture(scope="module")
def demo_project(demo_copy) -> Path:
    from carbonmap.init import write_starter_project

    path, _ = write_starter_project(demo_copy)
    return path


def test_the_demo_starter_project_loads_with_every_theme(demo_project):
    from carbonmap.config import load_project

    project = load_project(demo_project)
    folder = demo_project.parent
    assert project.project.name == "demo_city" and project.output_dir == folder / "out"
    assert project.grid.resolution_m == 30 and project.grid.crs == "auto"
    units = project.units
    assert (units.path, units.layer, units.id_field) == (folder / "demo_city.gpkg", "districts", "district_id")
    assert (units.population_field, units.gdp_field, units.gdp_unit) == ("population", "gdp_cny_1e8", "cny_1e8")
    rasters = {r.name: r for r in project.rasters}
    assert rasters["landcover_2023"].code_system == "clcd" and rasters["landcover_2023"].kind == "categorical"
    assert rasters["elevation"].unit == "m" and rasters["elevation"].path == folder / "dem.tif"
    assert (project.parcels.code_field, project.parcels.code_system) == ("code", "ydyh_2023")
    assert project.buildings.height_field == "height_m" and project.roads.class_field == "road_class"
    assert project.point_sources is not None and project.inventory.path == folder / "inventory.csv"
    assert (project.stocks.pools, project.stocks.baseline, project.stocks.alternative) == (
        folder / "pools_clcd.csv", "landcover_2015", "landcover_2023")
    assert project.sinks.method == "nep" and project.sinks.npp == "npp_2023" and project.sinks.wetlands_layer == \
        "wetlands"
    assert project.landscape.compare_with == "landcover_2015" and project.network.dem == "elevation"
    assert project.renewables.rooftop and project.renewables.protection_zones_layer == "protection_zones"
    assert project.screening.ndvi == "ndvi_2023"
    assert (project.timeline.base_year, project.timeline.previous_year) == (2023, 2015)
    assert {v.name for v in project.vectors} == {"protection_zones", "roads"}


def test_the_starter_project_titles_each_raster_in_both_languages(demo_project):
    """`carbonmap init` writes each raster's title per language (title = { zh = "...", en = "..." }, from
    words.csv), which the project file reads as a text in both languages."""
    import tomllib

    from carbonmap.config import load_project
    from carbonmap.roles import RASTER_ROLES
    from carbonmap.words import Text, words

    text = demo_project.read_text(encoding="utf-8")
    titles = {r["name"]: r["title"] for r in tomllib.loads(text)["rasters"]}
    assert titles["landcover_2023"] == {"zh": "2023 年土地覆被", "en": "Land cover 2023"}
    assert titles["elevation"] == {"zh": "高程（DEM）", "en": "Elevation (DEM)"}  # a DEM has no year
    assert 'title = { zh = "2023 年土地覆被", en = "Land cover 2023" }' in text
    assert all(set(title) == {"zh", "en"} for title in titles.values()), titles
    rasters = {r.name: r.title for r in load_project(demo_project).rasters}
    assert rasters["landcover_2015"] == Text(en="Land cover 2015", zh="2015 年土地覆被")
    assert all(words(f"init.title.{role}").zh != words(f"init.title.{role}").en for role in RASTER_ROLES)


def test_every_guess_in_the_project_file_is_marked_with_its_evidence(demo_project):
    text = demo_project.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert all(len(line) <= 120 for line in lines)
    id_line = next(line for line in lines if line.startswith("id_field"))
    assert "# GUESS (check):" in id_line and "unique in the 14 features" in id_line
    assert 'code_system = "ydyh_2023"' in text and text.count("GUESS (check)") >= 30
    assert '# datum = "gcj02"' in text  # optional keys commented out with their meaning


def test_sections_without_their_data_are_commented_out_with_what_they_need(tmp_path):
    import shutil
    import tomllib

    from carbonmap.config import load_project
    from carbonmap.init import write_starter_project

    for name in ("demo_city.gpkg", "landcover_2023.tif", "dem.tif"):
        shutil.copy(DEMO / name, tmp_path / name)
    path, _ = write_starter_project(tmp_path)
    text = path.read_text(encoding="utf-8")
    data = tomllib.loads(text)
    assert "stocks" not in data and "inventory" not in data and "timeline" in data  # parcels: a timeline
    notes = unwrapped(text)
    assert "# [stocks]" in text and "a row for each code of the land cover (1, 2, 3, 4, 5, 7, 8, 9)" in notes
    assert data["sinks"]["method"] == "coefficient" and "\"nep\" needs npp, temperature, precipitation" in notes
    assert "compare_with" not in data["landscape"]  # one date only
    project = load_project(path)
    assert project.renewables.ghi is None and project.renewables.dem == "elevation"


def test_a_folder_of_units_alone_gives_a_units_only_project(tmp_path):
    import shutil

    from carbonmap.config import load_project
    from carbonmap.init import write_starter_project

    shutil.copy(OLINDA / "olinda_tracts.gpkg", tmp_path)
    project = load_project(write_starter_project(tmp_path)[0])
    assert project.units.id_field == "CD_GEOCODI" and project.rasters == [] and project.parcels is None
    assert project.landscape is project.renewables is project.stocks is None


def test_chinese_field_names_are_guessed_and_quoted(tmp_path):
    import tomllib

    from carbonmap.config import load_project
    from carbonmap.init import write_starter_project

    _polygons(tmp_path, "区县.gpkg", {"区县代码": ["440303", "440304", "440305"], "区县名称": ["罗湖区", "福田区", "南山区"],
                                     "人口": [1_100_000, 1_600_000, 1_800_000]}, layer="区县", crs="EPSG:4326", size=0.1)
    path, found = write_starter_project(tmp_path)
    units = found[0].guess
    assert units.settings == {"id_field": "区县代码", "name_field": "区县名称", "population_field": "人口"}
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert data["units"]["id_field"] == "区县代码" and data["units"]["layer"] == "区县"
    assert 'name_field = "区县名称"' in path.read_text(encoding="utf-8")
    assert load_project(path).units.path == tmp_path / "区县.gpkg"
    assert any("gcj02" in check for check in units.checks)  # lon/lat over China: the datum to check


def test_the_project_name_and_paths_are_escaped_and_relative_to_the_project_file(tmp_path):
    import shutil

    from carbonmap.config import load_project
    from carbonmap.init import write_starter_project

    data = tmp_path / 'city "A" \\ 2023' / "data"
    data.mkdir(parents=True)
    shutil.copy(OLINDA / "olinda_tracts.gpkg", data)
    shutil.copy(OLINDA / "olinda_ndvi.tif", data / "sub_ndvi.tif")
    path, _ = write_starter_project(data, tmp_path / "projects" / "city.toml")
    text = path.read_text(encoding="utf-8")
    assert 'path = "../city \\"A\\" \\\\ 2023/data/olinda_tracts.gpkg"' in text
    project = load_project(path)
    assert project.project.name == "data" and project.rasters[0].path == data / "sub_ndvi.tif"
    assert project.output_dir == tmp_path / "projects" / "out"


def test_a_crosswalk_in_the_folder_makes_unknown_parcel_codes_usable(tmp_path):
    import tomllib

    from carbonmap.init import write_starter_project

    _polygons(tmp_path, "units.gpkg", {"town_code": ["T1", "T2"]}, size=5000.0)
    _polygons(tmp_path, "parcels.gpkg", {"ydyh": ["070101"] * 60 + ["local_7"] * 20}, size=100.0)
    (tmp_path / "local_codes.csv").write_text("code,maps_to\nlocal_7,0301\n")
    path, found = write_starter_project(tmp_path)
    parcels = tomllib.loads(path.read_text(encoding="utf-8"))["parcels"]
    assert parcels["crosswalk"] == "local_codes.csv" and parcels["code_system"] == "ydyh_2023"
    (tmp_path / "local_codes.csv").write_text("code,maps_to\nlocal_7,9999\n")  # maps to no known code
    path, _ = write_starter_project(tmp_path, force=True)
    assert "parcels" not in tomllib.loads(path.read_text(encoding="utf-8"))


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_layers_without_a_crs_get_assume_crs_when_their_coordinates_are_lon_lat(tmp_path):
    import geopandas as gpd
    import tomllib

    from carbonmap.config import load_project
    from carbonmap.init import checklist, write_starter_project

    _polygons(tmp_path, "towns.gpkg", {"town_code": ["T1", "T2", "T3"]}, crs="EPSG:4326", size=0.05)
    frame = gpd.read_file(tmp_path / "towns.gpkg").set_crs(None, allow_override=True)
    (tmp_path / "towns.gpkg").unlink()
    frame.to_file(tmp_path / "towns.shp")  # no .prj
    assert not (tmp_path / "towns.prj").exists()
    path, found = write_starter_project(tmp_path)
    units = tomllib.loads(path.read_text(encoding="utf-8"))["units"]
    assert units["assume_crs"] == "EPSG:4326" and "layer" not in units  # a shapefile has one layer
    assert load_project(path).units.assume_crs == "EPSG:4326"
    frame.set_crs("EPSG:4326").to_crs("EPSG:4547").set_crs(None, allow_override=True).to_file(tmp_path / "towns.shp")
    path, found = write_starter_project(tmp_path, force=True)
    assert "FIX before running: declares no CRS and its coordinates are not lon/lat" in unwrapped(
        path.read_text(encoding="utf-8"))
    assert any("towns.shp: fix before running: declares no CRS" in line for line in checklist(found))


@pytest.mark.slow
def test_carbonmap_run_accepts_the_demo_starter_project(demo_project, tmp_path):
    import pandas as pd
    from click.testing import CliRunner

    from carbonmap.cli import main

    result = CliRunner().invoke(main, ["run", str(demo_project), "--quiet", "--output", str(tmp_path)])
    assert result.exit_code == 0, result.output
    summary = pd.read_csv(tmp_path / "unit_summary.csv")
    assert len(summary) == 14 and {"net_co2_t_yr", "eco_mesh_ha", "stock_change_t_c"} <= set(summary.columns)


# --------------------------------------------------------------------------- the command


def test_init_prints_what_it_found_and_what_to_check(tmp_path):
    import shutil

    from click.testing import CliRunner

    from carbonmap.cli import main

    shutil.copy(OLINDA / "olinda_tracts.gpkg", tmp_path)
    shutil.copy(OLINDA / "olinda_dem_utm25s.tif", tmp_path)
    result = CliRunner().invoke(main, ["init", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "olinda_tracts.gpkg:tracts  units (high)" in result.output
    assert "olinda_dem_utm25s.tif" in result.output and "dem (high)" in result.output
    assert "Check before running:" in result.output and "no land cover with a code system" in result.output
    assert (tmp_path / "project.toml").exists()


def test_init_never_overwrites_a_project_file_without_force(tmp_path):
    import shutil

    from click.testing import CliRunner

    from carbonmap.cli import main

    shutil.copy(OLINDA / "olinda_tracts.gpkg", tmp_path)
    (tmp_path / "project.toml").write_text("# mine\n")
    result = CliRunner().invoke(main, ["init", str(tmp_path)])
    assert result.exit_code == 1
    assert "already exists; carbonmap init never overwrites a project file. Fix: pass --force" in result.output
    assert (tmp_path / "project.toml").read_text() == "# mine\n"
    result = CliRunner().invoke(main, ["init", str(tmp_path), "--force"])
    assert result.exit_code == 0 and "[units]" in (tmp_path / "project.toml").read_text()
    result = CliRunner().invoke(main, ["init", str(tmp_path), "-o", str(tmp_path / "other.toml")])
    assert result.exit_code == 0 and (tmp_path / "other.toml").exists()


@pytest.mark.parametrize(("make", "message"), [
    (None, "folder not found. Fix: give the folder"),
    (lambda folder: None, "no vector, raster or CSV data found"),
    (lambda folder: write_tif(folder / "dem.tif", np.ones((5, 5), "float32")),
     "no polygon layer among the 1 data sets"),
    (lambda folder: _polygons(folder, "lots.gpkg", {"use": ["a"] * 30}),
     "no polygon layer looks like planning units (a unique id in every feature): lots.gpkg:lots"),
])
def test_init_refuses_a_folder_without_planning_units_and_writes_nothing(tmp_path, make, message):
    from click.testing import CliRunner

    from carbonmap.cli import main

    folder = tmp_path / "city"
    if make is not None:
        folder.mkdir()
        make(folder)
    result = CliRunner().invoke(main, ["init", str(folder)])
    assert result.exit_code == 1 and result.output.startswith("Error: ")
    assert message in result.output and "Traceback" not in result.output
    assert not (folder / "project.toml").exists()
