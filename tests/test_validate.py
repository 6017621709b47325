"""``carbonmap validate``: every problem of a project and its inputs at once, without computing."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pyogrio
import pytest
from click.testing import CliRunner

from carbonmap.cli import main
from carbonmap.errors import CarbonmapError
from carbonmap.validate import validate_project

SAMPLES = Path(__file__).resolve().parents[1] / "sample_data"


def invoke(*args):
    """`carbonmap *args`; a traceback (any exception but SystemExit) fails the test."""
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        pytest.fail("".join(traceback.format_exception(result.exception)))
    return result


def copy_sample(name: str, folder: Path) -> Path:
    """A copy of a bundled sample project in `folder`, writing into `folder`/out; its project file."""
    shutil.copytree(SAMPLES / name, folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    project = folder / "project.toml"
    text = re.sub(r'output_dir = ".*"', 'output_dir = "out"', project.read_text(encoding="utf-8"))
    project.write_text(text, encoding="utf-8")
    return project


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def test_the_demo_project_is_valid_and_nothing_is_written(tmp_path):
    project = copy_sample("demo_city", tmp_path / "demo")
    before = snapshot(tmp_path)
    result = invoke("validate", project)
    assert result.exit_code == 0, result.output
    assert re.fullmatch(r"\S+project.toml is valid: 24 sections, 25 inputs checked.\n", result.output), result.output
    assert snapshot(tmp_path) == before  # no output folder, no sidecar file, nothing changed
    assert not (tmp_path / "demo" / "out").exists()


def test_the_demo_city_of_2015_is_valid():
    """The earlier run `carbonmap demo` compares with reads 2015 columns and files that exist."""
    result = validate_project(SAMPLES / "demo_city" / "project_2015.toml")
    assert result.valid and result.problems == [] and len(result.inputs) == 12, result.problems


def test_olinda_is_valid():
    result = validate_project(SAMPLES / "olinda" / "project.toml")
    assert result.valid and result.problems == [] and len(result.inputs) == 3, result.problems


#: Five planted mistakes of different kinds, and more: (what is planted, words its line must hold).
PLANTED = {
    "a missing file": ("key 'inventory.path'", "file not found", "inventory_2023.csv"),
    "a key typo": ("key 'landscape.window_radius'", "unknown key", "did you mean 'window_radius_m'?"),
    "a field that does not exist": ("demo_city.gpkg", "layer 'buildings'", "field 'usage'", "the layer has: "
                                    "building_id, parcel_id, use,"),
    "a layer that does not exist": ("demo_city.gpkg", "key 'roads'", "no layer 'road'", "the file has:"),
    "an unknown parcel code in the data": ("demo_city.gpkg", "field 'code'", "key 'parcels'",
                                           "not in the ydyh_2023 table: 9999 (2)"),
    "a raster with the wrong code system": ("landcover_2015.tif", "key 'rasters[1]'",
                                            "8 code(s) are not in the esa_worldcover table", "2 (255996)"),
    "a table with a negative value": ("pools_clcd.csv", "key 'stocks.pools'", "field 'c_below'",
                                      "lucode 3 (c_below = -8)"),
    "a target for a unit the project does not have": ("targets.csv", "key 'targets.table'", "field 'unit_id'",
                                                      "units D99 are not planning units of the run"),
}


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> Path:
    """A copy of the demo project with the mistakes of :data:`PLANTED`."""
    project = copy_sample("demo_city", tmp_path_factory.mktemp("planted") / "demo")
    folder = project.parent
    text = project.read_text(encoding="utf-8")
    for old, new in (('path = "inventory.csv"', 'path = "inventory_2023.csv"'),
                     ("window_radius_m = 500", "window_radius = 500"),
                     ('use_field = "use"', 'use_field = "usage"'),
                     ('layer = "roads"\nclass_field', 'layer = "road"\nclass_field'),
                     ('path = "landcover_2015.tif"\nkind = "categorical"\ncode_system = "clcd"',
                      'path = "landcover_2015.tif"\nkind = "categorical"\ncode_system = "esa_worldcover"')):
        assert old in text
        text = text.replace(old, new)
    project.write_text(text, encoding="utf-8")
    pools = folder / "pools_clcd.csv"
    pools.write_text(pools.read_text(encoding="utf-8").replace("3,15,8,90,2", "3,15,-8,90,2"), encoding="utf-8")
    targets = folder / "targets.csv"
    targets.write_text(targets.read_text(encoding="utf-8").replace("\nD02,", "\nD99,"), encoding="utf-8")
    parcels = pyogrio.read_dataframe(folder / "demo_city.gpkg", layer="parcels")
    parcels.loc[[5, 9], "code"] = "9999"
    pyogrio.write_dataframe(parcels, folder / "demo_city.gpkg", layer="parcels")
    return project


def test_every_planted_mistake_is_listed_once_with_its_fix(planted):
    before = snapshot(planted.parent)
    result = invoke("validate", planted)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    problems = [line for line in lines if re.match(r"\d+\. ", line)]
    assert len(problems) == len(PLANTED), result.output
    for mistake, words in PLANTED.items():
        found = [line for line in problems if all(word in line for word in words)]
        assert len(found) == 1, f"{mistake}: {words} in none of\n{result.output}"
        assert "Fix: " in found[0]
    assert lines[-1].endswith(f"project.toml: {len(PLANTED)} problem(s) found; fix them and validate again.")
    assert "Traceback" not in result.output
    assert snapshot(planted.parent) == before


def test_the_library_returns_the_errors(planted):
    result = validate_project(planted)
    assert not result.valid and all(isinstance(p, CarbonmapError) for p in result.problems)
    assert {p.key for p in result.problems} >= {"inventory.path", "landscape.window_radius", "stocks.pools"}


def test_a_damaged_raster_is_a_problem_not_a_traceback(tmp_path):
    project = copy_sample("olinda", tmp_path / "olinda")
    ndvi = project.parent / "olinda_ndvi.tif"
    ndvi.write_bytes(ndvi.read_bytes()[: ndvi.stat().st_size // 2])
    result = invoke("validate", project)
    assert result.exit_code == 1
    assert re.search(r"1\. \S+olinda_ndvi.tif, key 'rasters\[1\]': cannot be read: the file is damaged or incomplete"
                     r".* Fix: re-export or re-download it", result.output), result.output


def test_units_outside_every_raster_are_named(tmp_path):
    project = copy_sample("olinda", tmp_path / "olinda")
    tracts = pyogrio.read_dataframe(project.parent / "olinda_tracts.gpkg", layer="tracts")
    tracts.loc[[3, 7], "geometry"] = tracts.loc[[3, 7], "geometry"].translate(0.5, 0)  # 55 km east, in the sea
    pyogrio.write_dataframe(tracts, project.parent / "olinda_tracts.gpkg", layer="tracts")
    problems = validate_project(project).problems
    assert len(problems) == 1
    assert re.search(r"olinda_tracts.gpkg, layer 'tracts', field 'CD_GEOCODI', key 'units': 2 planning unit\(s\) lie "
                     r"outside every raster \(olinda_dem_utm25s.tif, olinda_ndvi.tif\): '260960005000004', "
                     r"'260960005000008'. Fix: ", str(problems[0])), problems[0]


def test_an_input_elsewhere_is_named(tmp_path):
    project = copy_sample("olinda", tmp_path / "olinda")
    tracts = pyogrio.read_dataframe(project.parent / "olinda_tracts.gpkg", layer="tracts")
    pyogrio.write_dataframe(tracts.set_geometry(tracts.translate(10, 10)), project.parent / "olinda_tracts.gpkg",
                            layer="elsewhere")
    with project.open("a", encoding="utf-8") as handle:
        handle.write('\n[[vectors]]\nname = "tracts_elsewhere"\npath = "olinda_tracts.gpkg"\nlayer = "elsewhere"\n')
    problems = validate_project(project).problems
    assert len(problems) == 1, problems
    assert re.search(r"olinda_tracts.gpkg, key 'vectors\[0\]': lies outside the planning units: .* Fix: check its "
                     "CRS", str(problems[0])), problems[0]


def test_a_project_file_that_cannot_be_read_lists_what_it_can(tmp_path):
    project = copy_sample("olinda", tmp_path / "olinda")
    text = project.read_text(encoding="utf-8").replace("resolution_m = 30", 'resolution_m = "30 m"')
    project.write_text(text.replace('id_field = "CD_GEOCODI"', 'id_feld = "CD_GEOCODI"'), encoding="utf-8")
    result = invoke("validate", project)
    assert result.exit_code == 1
    assert "1. " in result.output and "key 'grid.resolution_m': expected float, got '30 m'" in result.output
    assert "2. " in result.output and "key 'units.id_feld': unknown key. Fix: did you mean 'id_field'?" in result.output
    assert "3. " not in result.output  # the missing id_field is the misspelt key, said once
    project.write_text("[project\n", encoding="utf-8")
    result = invoke("validate", project)
    assert result.exit_code == 1 and "1. " in result.output and "is not valid TOML" in result.output


def test_a_crs_the_project_file_declares_wrongly_is_one_problem(tmp_path):
    project = copy_sample("olinda", tmp_path / "olinda")
    tracts = pyogrio.read_dataframe(project.parent / "olinda_tracts.gpkg", layer="tracts")
    with pytest.warns(UserWarning, match="'crs' was not provided"):
        pyogrio.write_dataframe(tracts.set_crs(None, allow_override=True), project.parent / "olinda_tracts.gpkg",
                                layer="tracts")
    text = project.read_text(encoding="utf-8").replace('layer = "tracts"', 'layer = "tracts"\nassume_crs = "EPSG:0"')
    project.write_text(text, encoding="utf-8")
    problems = validate_project(project).problems
    assert [p.key for p in problems] == ["units.assume_crs"], problems  # not again when the units are read
