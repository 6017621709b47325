"""The bad-input suite through the command line: `carbonmap run` and every subcommand.

Each case breaks one thing in a small copy of a bundled sample (a project key, a file, a layer, a
field, a table, a code, an option) and runs the command as a user would, through click's
``CliRunner``. The answer must be exit status 1 with one message that names the user's own
file, layer, field or key and says "Fix:" (or, for a usage error, exit status 2 naming the
option), and never a traceback: any exception other than a CarbonmapError or SystemExit fails the
test with its traceback. Accepted problems (``allow_unallocated``) exit 0 with the warning printed
at the end and recorded.

The copies are small: Olinda (470 census tracts, two rasters) and a two-district cut of the demo
city (`mini`: parcels, buildings, roads, a land cover and a DEM), so that each case runs in a
second or two.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import traceback
import warnings
from pathlib import Path

import numpy as np
import pyogrio
import pytest
import rasterio
import rasterio.errors
import rasterio.windows
import shapely
from click.testing import CliRunner

from carbonmap.cli import main
from carbonmap.errors import CarbonmapError

SAMPLES = Path(__file__).resolve().parents[1] / "sample_data"
DEMO = SAMPLES / "demo_city"


# --------------------------------------------------------------------------- the helper


def invoke(*args):
    """`carbonmap *args` in this process; any exception other than a CarbonmapError or SystemExit
    (a raw traceback) fails the test with its traceback."""
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)
    error = result.exception
    if error is not None and not isinstance(error, (CarbonmapError, SystemExit)):
        pytest.fail(f"raw {type(error).__name__} instead of a CarbonmapError:\n"
                    + "".join(traceback.format_exception(error)))
    return result


def expect_error(args, *names, code: int = 1) -> str:
    """Run the command `args`: it must exit with `code` (1: a CarbonmapError; 2: a usage error)
    and print every one of `names` (the user's file, field, key or option), "Fix:" for an error,
    and no traceback. Returns the output."""
    result = invoke(*args)
    output = result.output
    if os.environ.get("CARBONMAP_SHOW_OUTPUT"):  # to read the messages: CARBONMAP_SHOW_OUTPUT=1 pytest -s
        print(f"\n$ carbonmap {' '.join(map(str, args))}\n{output}")
    assert "Traceback" not in output, output
    assert result.exit_code == code, f"exit status {result.exit_code} instead of {code}:\n{output}"
    for name in (*map(str, names), *(("Fix:",) if code == 1 else ())):
        assert name in output, f"{name!r} is not in the output:\n{output}"
    return output


# --------------------------------------------------------------------------- small broken copies


def _set_output_dir(project: Path) -> Path:
    text = re.sub(r'output_dir = ".*"', 'output_dir = "out"', project.read_text(encoding="utf-8"))
    project.write_text(text, encoding="utf-8")
    return project


@pytest.fixture
def olinda(tmp_path) -> Path:
    """A copy of the Olinda sample project (writing into its own out/); its folder."""
    folder = tmp_path / "olinda"
    shutil.copytree(SAMPLES / "olinda", folder, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    _set_output_dir(folder / "project.toml")
    return folder


MINI_PROJECT = """[project]
name = "mini city"
output_dir = "out"

[grid]
resolution_m = 60

[units]
path = "mini.gpkg"
layer = "districts"
id_field = "district_id"
name_field = "name_en"

[[rasters]]
name = "landcover"
path = "landcover.tif"
kind = "categorical"
code_system = "clcd"

[parcels]
path = "mini.gpkg"
layer = "parcels"
code_field = "code"
code_system = "ydyh_2023"

[buildings]
path = "mini.gpkg"
layer = "buildings"
height_field = "height_m"

[inventory]
path = "inventory.csv"

[outputs]
html = false
report = false
save_state = false
"""


def _clip_raster(source: Path, target: Path, bounds) -> None:
    with rasterio.open(source) as src:
        window = rasterio.windows.from_bounds(*bounds, transform=src.transform).round_offsets().round_lengths()
        data = src.read(1, window=window)
        profile = {**src.profile, "width": data.shape[1], "height": data.shape[0],
                   "transform": src.window_transform(window)}
    with rasterio.open(target, "w", **profile) as dst:
        dst.write(data, 1)


@pytest.fixture(scope="module")
def mini_source(tmp_path_factory) -> Path:
    """Two districts of the demo city (D01, D02: residential buildings only) with their parcels,
    buildings and roads, land cover and DEM, an inventory that allocates fully, a pool table, and
    a project running units, rasters, emissions, sinks and balance without HTML or report."""
    folder = tmp_path_factory.mktemp("mini")
    districts = pyogrio.read_dataframe(DEMO / "demo_city.gpkg", layer="districts")
    units = districts[districts["district_id"].isin(["D01", "D02"])]
    area = shapely.union_all(units.geometry.values)
    pyogrio.write_dataframe(units, folder / "mini.gpkg", layer="districts")
    for layer in ("parcels", "buildings", "roads"):
        frame = pyogrio.read_dataframe(DEMO / "demo_city.gpkg", layer=layer)
        keep = frame.intersects(area) if layer == "roads" else frame.representative_point().within(area)
        pyogrio.write_dataframe(frame[keep], folder / "mini.gpkg", layer=layer)
    xmin, ymin, xmax, ymax = units.total_bounds
    for name, source in (("landcover.tif", "landcover_2023.tif"), ("dem.tif", "dem.tif")):
        _clip_raster(DEMO / source, folder / name, (xmin - 300, ymin - 300, xmax + 300, ymax + 300))
    (folder / "inventory.csv").write_text("sector,sub_sector,co2_t_yr,year\nbuildings,residential,100000,2023\n")
    shutil.copy(DEMO / "pools_clcd.csv", folder / "pools.csv")
    (folder / "project.toml").write_text(MINI_PROJECT, encoding="utf-8")
    return folder


@pytest.fixture
def mini(tmp_path, mini_source) -> Path:
    """A fresh copy of the mini city; its folder."""
    return Path(shutil.copytree(mini_source, tmp_path / "mini"))


def edit(folder: Path, old: str, new: str, file: str = "project.toml") -> None:
    """Replace `old` (which must be there) by `new` in a text file of `folder`."""
    path = folder / file
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def add(folder: Path, text: str, file: str = "project.toml") -> None:
    with (folder / file).open("a", encoding="utf-8") as handle:
        handle.write("\n" + text)


def write(folder: Path, file: str, content: str | bytes) -> None:
    path = folder / file
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))


def change_layer(path: Path, layer: str, change, *, crs="keep") -> None:
    """Rewrite a layer of a GeoPackage as `change(frame)` returns it (optionally without a CRS)."""
    frame = change(pyogrio.read_dataframe(path, layer=layer))
    if crs is None:
        frame = frame.set_crs(None, allow_override=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "'crs' was not provided")  # that is the point
        pyogrio.write_dataframe(frame, path, layer=layer)


def garble(path: Path) -> None:
    """Random bytes under the file's name (a failed download, a renamed archive)."""
    path.write_bytes(np.random.default_rng(11).bytes(5000))


def truncate(path: Path) -> None:
    """The first half of the file (an interrupted copy)."""
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def change_raster(path: Path, values=None, **profile) -> None:
    """Rewrite a one-band GeoTIFF with other values (a function of the old ones) or profile entries."""
    with rasterio.open(path) as src:
        data, old = src.read(1), src.profile
    data = values(data) if values is not None else data
    new = {**old, "dtype": data.dtype.name, **profile}
    path.unlink()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=rasterio.errors.NotGeoreferencedWarning)  # when that is the point
        with rasterio.open(path, "w", **new) as dst:
            dst.write(data, 1)


TRACTS = "olinda_tracts.gpkg"
DEM = "olinda_dem_utm25s.tif"
NDVI = "olinda_ndvi.tif"


def _shift_two_tracts(folder: Path) -> None:
    def shift(frame):
        frame.loc[[3, 7], "geometry"] = frame.loc[[3, 7], "geometry"].translate(0.5, 0)  # 55 km east, at sea
        return frame

    change_layer(folder / TRACTS, "tracts", shift)


def _no_geometry(folder: Path) -> None:
    def drop(frame):
        frame.loc[[0, 9], "geometry"] = None
        return frame

    change_layer(folder / TRACTS, "tracts", drop)


def _metres_labelled_degrees(folder: Path) -> None:
    change_layer(folder / TRACTS, "tracts", lambda f: f.to_crs(31985).set_crs(4326, allow_override=True))


# --------------------------------------------------------------------------- carbonmap run: Olinda

OLINDA_RUN = [  # (id, how the copy is broken, words the message must hold)
    ("key typo", lambda f: edit(f, "resolution_m = 30", "resolution = 30"),
     ("project.toml", "key 'grid.resolution'", "did you mean 'resolution_m'?")),
    ("wrong type", lambda f: edit(f, "resolution_m = 30", 'resolution_m = "30 m"'),
     ("key 'grid.resolution_m'", "expected float, got '30 m'")),
    ("wrong value", lambda f: edit(f, "resolution_m = 30", "resolution_m = -30"),
     ("key 'grid.resolution_m'", "must be positive")),
    ("unknown section", lambda f: edit(f, "[units]", "[unit]"), ("key 'unit'", "did you mean 'units'?")),
    ("unknown raster kind", lambda f: edit(f, 'kind = "continuous"', 'kind = "continous"'),
     ("key 'rasters[0].kind'", "unknown kind 'continous'")),
    ("unknown statistic", lambda f: edit(f, '"mean", "min", "max"', '"mean", "mode"'),
     ("key 'rasters[0].stats'", "mode")),
    ("assume_crs not a CRS", lambda f: edit(f, 'layer = "tracts"', 'layer = "tracts"\nassume_crs = "EPSG:99999999"'),
     ("key 'units.assume_crs'", "'EPSG:99999999'")),
    ("grid CRS in degrees", lambda f: edit(f, 'crs = "auto"', 'crs = "EPSG:4326"'),
     ("key 'grid.crs'", "not a projected CRS")),
    ("project file not UTF-8", lambda f: write(f, "project.toml", (f / "project.toml").read_text(
        encoding="utf-8").replace("(demo)", "(演示)").encode("gbk")), ("project.toml", "not UTF-8", "GB18030")),
    ("project file not TOML", lambda f: edit(f, "[grid]", "[grid"), ("project.toml", "is not valid TOML")),
    ("units: missing file", lambda f: edit(f, f'path = "{TRACTS}"', 'path = "tracts.gpkg"'),
     ("key 'units.path'", "tracts.gpkg", "file not found")),
    ("units: wrong layer", lambda f: edit(f, 'layer = "tracts"', 'layer = "tract"'),
     (TRACTS, "no layer 'tract'", "the file has: tracts")),
    ("units: wrong id field", lambda f: edit(f, 'id_field = "CD_GEOCODI"', 'id_field = "CD_GEOCOD"'),
     (TRACTS, "field 'CD_GEOCOD'", "the layer has: ID, CD_GEOCODI")),
    ("units: ids used twice", lambda f: edit(f, 'id_field = "CD_GEOCODI"', 'id_field = "TIPO"'),
     (TRACTS, "field 'TIPO'", "2 ids are used more than once: URBANO, RURAL")),
    ("units: ids missing", lambda f: edit(f, 'id_field = "CD_GEOCODI"', 'id_field = "NM_BAIR"'),
     (TRACTS, "field 'NM_BAIR'", "12 planning units have no id: row ")),
    ("units: null geometries", _no_geometry,
     (TRACTS, "2 feature(s) have no geometry", "CD_GEOCODI '260960005000001'")),
    ("units: outside every raster", _shift_two_tracts,
     (TRACTS, "field 'CD_GEOCODI'", "2 planning unit(s) lie outside every raster", "'260960005000004'")),
    ("units: garbled file", lambda f: garble(f / TRACTS), (TRACTS, "cannot be read")),
    ("units: empty file", lambda f: write(f, TRACTS, b""), (TRACTS,)),
    ("units: no CRS", lambda f: change_layer(f / TRACTS, "tracts", lambda x: x, crs=None),
     (TRACTS, "declares no coordinate reference system", "assume_crs")),
    ("units: points", lambda f: change_layer(f / TRACTS, "tracts", lambda x: x.set_geometry(x.representative_point())),
     (TRACTS, "expected polygon geometries but found Point")),
    ("units: metres labelled degrees", _metres_labelled_degrees, (TRACTS, "which are not degrees")),
    ("raster title: a language missing",
     lambda f: edit(f, 'title = { zh = "高程（SRTM 数字高程模型）", ', 'title = { '),
     ("project.toml", f"key 'rasters[0].title.zh' in the 1st [[rasters]] entry (name \"elevation\", path \"{DEM}\")",
      "required key is missing", 'add zh = "..."')),
    ("raster title: a language unknown", lambda f: edit(f, 'title = { zh = ', 'title = { cn = '),
     ("project.toml", "key 'rasters[0].title.cn' in the 1st [[rasters]] entry (name \"elevation\"", "unknown key",
      "allowed here: zh, en")),
    ("raster: missing file", lambda f: edit(f, f'path = "{DEM}"', 'path = "dem.tif"'),
     ("key 'rasters[0].path'", "dem.tif", "file not found")),
    ("raster: garbled file", lambda f: garble(f / DEM), (DEM, "cannot be read as a raster")),
    ("raster: empty file", lambda f: write(f, DEM, b""), (DEM, "cannot be read as a raster")),
    ("raster: damaged file", lambda f: truncate(f / NDVI), (NDVI, "damaged or incomplete")),
    ("raster: no CRS", lambda f: change_raster(f / DEM, crs=None), (DEM, "declares no coordinate reference system")),
    ("raster: no geotransform", lambda f: change_raster(f / DEM, transform=rasterio.Affine.identity()),
     (DEM, "no geotransform")),
    ("raster: band 2", lambda f: edit(f, f'path = "{DEM}"', f'path = "{DEM}"\nband = 2'),
     (DEM, "band 2 does not exist")),
    ("float land cover", lambda f: add(f, f'[[rasters]]\nname = "lc"\npath = "{NDVI}"\nkind = "categorical"\n'),
     (NDVI, "integer class codes", "float32")),
    ("vectors: wrong column", lambda f: add(f, f'[[vectors]]\nname = "t"\npath = "{TRACTS}"\ncolumn = "BAIRRO"\n'),
     (TRACTS, "field 'BAIRRO'", "the layer has")),
    ("vectors: missing file", lambda f: add(f, '[[vectors]]\nname = "t"\npath = "zones.gpkg"\n'),
     ("key 'vectors[0].path'", "zones.gpkg")),
    ("project file empty", lambda f: write(f, "project.toml", ""),
     ("project.toml", "the [project] section is missing")),
]


@pytest.mark.parametrize(("break_it", "names"), [pytest.param(b, n, id=i) for i, b, n in OLINDA_RUN])
def test_run_olinda(olinda, break_it, names):
    break_it(olinda)
    expect_error(["run", olinda / "project.toml", "-q"], *names)
    assert not (olinda / "out").exists()  # nothing half-written


# --------------------------------------------------------------------------- carbonmap run: the mini city

STOCKS = '[stocks]\npools = "pools.csv"\nbaseline = "landcover"\n'


def _parcel_codes(folder: Path, codes) -> None:
    def change(frame):
        frame.loc[[2, 4], "code"] = codes
        return frame

    change_layer(folder / "mini.gpkg", "parcels", change)


def _no_geometries(folder: Path, layer: str) -> None:
    def drop(frame):
        frame.loc[[2, 4], "geometry"] = None
        return frame

    change_layer(folder / "mini.gpkg", layer, drop)


MINI_RUN = [
    ("parcels: unknown code", lambda f: _parcel_codes(f, "9999"),
     ("mini.gpkg", "field 'code'", "not in the ydyh_2023 table: 9999 (2)", "crosswalk")),
    ("parcels: no code", lambda f: _parcel_codes(f, None), ("mini.gpkg", "field 'code'", "2 features have no")),
    ("parcels: null geometries", lambda f: _no_geometries(f, "parcels"),
     ("mini.gpkg", "layer 'parcels'", "2 feature(s) have no geometry", "row 3, row 5", "must not silently vanish")),
    ("buildings: null geometries", lambda f: _no_geometries(f, "buildings"),
     ("mini.gpkg", "layer 'buildings'", "2 feature(s) have no geometry", "row 3, row 5")),
    ("parcels: wrong code field", lambda f: edit(f, 'code_field = "code"', 'code_field = "landuse"'),
     ("mini.gpkg", "layer 'parcels'", "field 'landuse'", "the layer has")),
    ("parcels: unknown code system", lambda f: edit(f, 'code_system = "ydyh_2023"', 'code_system = "ydyh"'),
     ("key 'parcels.code_system'", "unknown code system 'ydyh'")),
    ("parcels: codes of another system", lambda f: edit(f, 'code_system = "ydyh_2023"', 'code_system = "clcd"'),
     ("mini.gpkg", "field 'code'", "not in the clcd table")),
    ("buildings: wrong field", lambda f: edit(f, 'height_field = "height_m"', 'height_field = "height"'),
     ("mini.gpkg", "layer 'buildings'", "field 'height'")),
    ("buildings: another layer", lambda f: edit(f, 'layer = "buildings"', 'layer = "roads"'),
     ("mini.gpkg", "layer 'roads'", "field 'use'", "the layer has: road_class")),
    ("roads: polygons", lambda f: add(f, '[roads]\npath = "mini.gpkg"\nlayer = "parcels"\nclass_field = "code"\n'),
     ("mini.gpkg", "layer 'parcels'", "expected line geometries but found MultiPolygon")),
    ("roads: wrong field", lambda f: add(f, '[roads]\npath = "mini.gpkg"\nlayer = "roads"\nclass_field = "kind"\n'),
     ("mini.gpkg", "layer 'roads'", "field 'kind'")),
    ("point sources: polygons", lambda f: add(f, '[point_sources]\npath = "mini.gpkg"\nlayer = "districts"\n'
                                                 'emissions_field = "population"\nsector_field = "name_en"\n'),
     ("mini.gpkg", "layer 'districts'", "expected point geometries")),
    ("land cover: unknown codes", lambda f: edit(f, 'code_system = "clcd"', 'code_system = "esa_worldcover"'),
     ("landcover.tif", "not in the esa_worldcover table")),
    ("inventory: missing column", lambda f: write(f, "inventory.csv", "sector,sub_sector,t_co2\nbuildings,,5\n"),
     ("inventory.csv", "co2_t_yr")),
    ("inventory: empty", lambda f: write(f, "inventory.csv", ""), ("inventory.csv", "empty file")),
    ("inventory: missing file", lambda f: (f / "inventory.csv").unlink(),
     ("key 'inventory.path'", "inventory.csv", "file not found")),
    ("inventory: not a CSV", lambda f: edit(f, 'path = "inventory.csv"', 'path = "landcover.tif"'),
     ("landcover.tif", "not a text file")),
    ("inventory: negative", lambda f: write(f, "inventory.csv", "sector,sub_sector,co2_t_yr\nbuildings,,-5\n"),
     ("inventory.csv", "field 'co2_t_yr'", "line 2 (buildings: -5)")),
    ("inventory: GBK", lambda f: write(f, "inventory.csv", "sector,sub_sector,co2_t_yr\nbuildings,居住用地,5\n"
                                       .encode("gbk")), ("inventory.csv", "not UTF-8")),
    ("inventory: listed twice", lambda f: write(f, "inventory.csv", "sector,sub_sector,co2_t_yr\nindustry,,5\n"
                                                "industry,all,6\n"), ("inventory.csv", "listed twice: industry")),
    ("inventory: 'all' without proxy features", lambda f: write(
        f, "inventory.csv", "sector,sub_sector,co2_t_yr\nbuildings,residential,100\nindustry,all,5000\n"),
     ("inventory.csv", "industry: 5,000 t CO2/yr not allocated", "allow_unallocated")),
    ("inventory: a sub-sector the buildings lack", lambda f: write(
        f, "inventory.csv", "sector,sub_sector,co2_t_yr\nbuildings,commercial,700\n"),
     ("inventory.csv", "buildings/commercial: 700 t CO2/yr not allocated", "its sub-sectors: residential")),
    ("inventory: a sector without proxy", lambda f: write(f, "inventory.csv", "sector,sub_sector,co2_t_yr\n"
                                                          "waste,,40\n"),
     ("inventory.csv", "no proxy for the sector 'waste'")),
    ("crosswalk: empty", lambda f: (write(f, "crosswalk.csv", ""), edit(
        f, 'code_system = "ydyh_2023"', 'code_system = "ydyh_2023"\ncrosswalk = "crosswalk.csv"')),
     ("crosswalk.csv", "empty file")),
    ("crosswalk: unknown target", lambda f: (write(f, "crosswalk.csv", "code,maps_to\n9999,7777\n"), edit(
        f, 'code_system = "ydyh_2023"', 'code_system = "ydyh_2023"\ncrosswalk = "crosswalk.csv"')),
     ("crosswalk.csv", "maps_to '7777' is not a code of ydyh_2023")),
    ("crosswalk: not a CSV", lambda f: edit(f, 'code_system = "ydyh_2023"', 'code_system = "ydyh_2023"\n'
                                                                             'crosswalk = "mini.gpkg"'),
     ("mini.gpkg", "not a text file")),
    ("crosswalk: no code column", lambda f: (write(f, "crosswalk.csv", "value,maps_to\n9999,0101\n"), edit(
        f, 'code_system = "ydyh_2023"', 'code_system = "ydyh_2023"\ncrosswalk = "crosswalk.csv"')),
     ("crosswalk.csv", "needs a 'code' column")),
    ("pools: negative", lambda f: (add(f, STOCKS), edit(f, "3,15,8,90,2", "3,15,-8,90,2", "pools.csv")),
     ("pools.csv", "lucode 3 (c_below = -8)")),
    ("pools: missing column", lambda f: (add(f, STOCKS), write(f, "pools.csv", "lucode,c_above\n1,5\n")),
     ("pools.csv", "c_below, c_soil, c_dead")),
    ("pools: not a CSV", lambda f: add(f, STOCKS.replace("pools.csv", "dem.tif")), ("dem.tif", "not a text file")),
    ("pools: empty", lambda f: (add(f, STOCKS), write(f, "pools.csv", "")), ("pools.csv", "empty file")),
    ("pools: missing file", lambda f: add(f, STOCKS.replace("pools.csv", "pool.csv")),
     ("key 'stocks.pools'", "pool.csv", "file not found")),
    ("pools: a land-cover code missing", lambda f: (add(f, STOCKS), edit(f, "2,60,", "12,60,", "pools.csv")),
     ("landcover.tif", "not in the pool table: 2 (", "pools.csv")),
    ("coefficients: negative", lambda f: (add(f, '[emissions]\ncoefficients = "coef.csv"\n'), write(
        f, "coef.csv", "coef_id,carbon_category,flux,value,unit,source\n"
        "MY-FOREST,forest,removal,-3,t C/ha/yr,survey\n")),
     ("coef.csv", "MY-FOREST (-3)")),
    ("coefficients: missing column", lambda f: (add(f, '[emissions]\ncoefficients = "coef.csv"\n'), write(
        f, "coef.csv", "coef_id,carbon_category,value,unit,source\nMY-FOREST,forest,3,t C/ha/yr,survey\n")),
     ("coef.csv", "field 'flux'", "needs the columns flux")),
    ("coefficients: missing file", lambda f: add(f, '[emissions]\ncoefficients = "coef.csv"\n'),
     ("key 'emissions.coefficients'", "coef.csv")),
    ("unknown proxy", lambda f: add(f, '[emissions]\nproxies = {buildings = "rooftops"}\n'),
     ("key 'emissions.proxies.buildings'", "unknown proxy 'rooftops'")),
]


@pytest.mark.parametrize(("break_it", "names"), [pytest.param(b, n, id=i) for i, b, n in MINI_RUN])
def test_run_mini_city(mini, break_it, names):
    break_it(mini)
    expect_error(["run", mini / "project.toml", "-q"], *names)
    assert not (mini / "out").exists()


def test_run_accepts_unallocated_rows_when_the_project_says_so(mini):
    write(mini, "inventory.csv", "sector,sub_sector,co2_t_yr\nbuildings,residential,100\nindustry,all,5000\n")
    edit(mini, 'path = "inventory.csv"', 'path = "inventory.csv"\nallow_unallocated = true')
    result = invoke("run", mini / "project.toml")
    assert result.exit_code == 0, result.output
    line = "carbonmap: warning: industry: 5,000 t CO2/yr not allocated: the floor_area proxy has no features"
    assert line in result.output
    assert result.output.index(line) > result.output.index("stage 6/6")  # at the end of the run
    recorded = json.loads((mini / "out" / "run.json").read_text())["warnings"]
    assert recorded == [line.removeprefix("carbonmap: warning: ")]


# --------------------------------------------------------------------------- carbonmap run: the command line


def test_run_a_project_file_that_does_not_exist(tmp_path):
    expect_error(["run", tmp_path / "projet.toml"], "projet.toml", "project file not found")


def test_run_a_folder_as_project_file(olinda):
    expect_error(["run", olinda], "PROJECT_FILE", "is a directory", code=2)


def test_run_only_a_stage_that_does_not_exist(olinda):
    expect_error(["run", olinda / "project.toml", "--only", "raster"], "--only", "unknown stage 'raster'",
                 "did you mean 'rasters'?")


def test_run_only_without_a_saved_run(olinda):
    expect_error(["run", olinda / "project.toml", "--only", "rasters", "-q"],
                 f"{(olinda / 'out').resolve()}: no saved run to rerun a stage of", "save_state = true")


def test_run_into_a_file(olinda):
    (olinda / "out.txt").write_text("")
    expect_error(["run", olinda / "project.toml", "-o", olinda / "out.txt"], "'-o' / '--output'", code=2)


# --------------------------------------------------------------------------- the subcommands


def _fake_rooftops(folder: Path, *, complete: bool = False) -> Path:
    """A GeoPackage with a layer rooftop_pv of the mini city's footprints, with their use and (`complete`)
    made-up values of the fields rank-rooftops needs."""
    from carbonmap.screening.rooftops import RANKED_FIELDS

    frame = pyogrio.read_dataframe(folder / "mini.gpkg", layer="buildings")[["use", "geometry"]]
    if complete:
        frame = frame.assign(**{name: 1.0 for name in RANKED_FIELDS})
    pyogrio.write_dataframe(frame, folder / "roofs.gpkg", layer="rooftop_pv")
    return folder / "roofs.gpkg"


def _zones_without_crs(folder: Path) -> Path:
    change_layer(folder / "mini.gpkg", "districts", lambda x: x, crs=None)
    return folder / "mini.gpkg"


OUT = "out.gpkg"
SUBCOMMANDS = [  # (id, arguments for a broken copy of the mini city (a function of its folder), words, exit status)
    # zonal
    ("zonal: zones missing", lambda f: ["zonal", f / "zones.gpkg", f / "dem.tif", "-o", f / "z.csv"],
     ("zones.gpkg", "file not found"), 1),
    ("zonal: raster garbled", lambda f: (garble(f / "dem.tif"), ["zonal", f / "mini.gpkg", f / "dem.tif", "--layer",
                                                                 "districts", "-o", f / "z.csv"])[1],
     ("dem.tif", "cannot be read as a raster"), 1),
    ("zonal: wrong id field", lambda f: ["zonal", f / "mini.gpkg", f / "dem.tif", "--layer", "districts",
                                         "--id-field", "district", "-o", f / "z.csv"],
     ("mini.gpkg", "field 'district'", "the layer has: district_id"), 1),
    ("zonal: no layer named", lambda f: ["zonal", f / "mini.gpkg", f / "dem.tif", "-o", f / "z.csv"],
     ("mini.gpkg", "has 4 layers", "--layer"), 1),
    ("zonal: output not csv or gpkg", lambda f: ["zonal", f / "mini.gpkg", f / "dem.tif", "--layer", "districts",
                                                  "-o", f / "z.txt"], ("z.txt", ".csv or .gpkg"), 1),
    ("zonal: unknown statistic", lambda f: ["zonal", f / "mini.gpkg", f / "dem.tif", "--layer", "districts",
                                            "--stats", "mean,mode", "-o", f / "z.csv"], ("'--stats'", "mode"), 2),
    ("zonal: band 3", lambda f: ["zonal", f / "mini.gpkg", f / "dem.tif", "--layer", "districts", "--band", "3",
                                 "-o", f / "z.csv"], ("dem.tif", "band 3 does not exist"), 1),
    ("zonal: float classes", lambda f: ["zonal", f / "mini.gpkg", f / "dem.tif", "--layer", "districts",
                                        "--categorical", "-o", f / "z.csv"], ("dem.tif", "integer class codes"), 1),
    ("zonal: zones without CRS", lambda f: ["zonal", _zones_without_crs(f), f / "dem.tif", "--layer", "districts",
                                            "-o", f / "z.csv"],
     ("mini.gpkg", "declares no coordinate reference system", "--assume-crs"), 1),
    ("zonal: assumed CRS unknown", lambda f: ["zonal", _zones_without_crs(f), f / "dem.tif", "--layer", "districts",
                                              "--assume-crs", "EPSG:99999999", "-o", f / "z.csv"],
     ("mini.gpkg", "'EPSG:99999999' is not a CRS pyproj knows"), 1),
    ("zonal: unknown engine", lambda f: ["zonal", f / "mini.gpkg", f / "dem.tif", "--engine", "fast", "-o",
                                         f / "z.csv"], ("'--engine'", "'fast'"), 2),
    # emissions
    ("emissions: unknown code system", lambda f: ["emissions", f / "mini.gpkg", "--layer", "parcels", "--code-field",
                                                  "code", "--code-system", "ydyh", "-o", f / OUT],
     ("'--code-system'", "'ydyh'"), 2),
    ("emissions: no code field", lambda f: ["emissions", f / "mini.gpkg", "--layer", "parcels", "--code-system",
                                            "ydyh_2023", "-o", f / OUT], ("'--code-field'",), 2),
    ("emissions: wrong code field", lambda f: ["emissions", f / "mini.gpkg", "--layer", "parcels", "--code-field",
                                               "landuse", "--code-system", "ydyh_2023", "-o", f / OUT],
     ("mini.gpkg", "field 'landuse'"), 1),
    ("emissions: unknown codes", lambda f: (_parcel_codes(f, "9999"), [
        "emissions", f / "mini.gpkg", "--layer", "parcels", "--code-field", "code", "--code-system", "ydyh_2023",
        "-o", f / OUT])[1], ("mini.gpkg", "9999 (2)", "crosswalk"), 1),
    ("emissions: unknown proxy", lambda f: ["emissions", f / "mini.gpkg", "--layer", "parcels", "--code-field",
                                            "code", "--code-system", "ydyh_2023", "--proxy", "transport=rail", "-o",
                                            f / OUT], ("'--proxy'", "'transport=rail'"), 2),
    ("emissions: inventory negative", lambda f: (write(f, "inventory.csv", "sector,co2_t_yr\nbuildings,-1\n"), [
        "emissions", f / "mini.gpkg", "--layer", "parcels", "--code-field", "code", "--code-system", "ydyh_2023",
        "--inventory", f / "inventory.csv", "-o", f / OUT])[1], ("inventory.csv", "line 2 (buildings: -1)"), 1),
    ("emissions: unallocated inventory", lambda f: (write(f, "inventory.csv", "sector,sub_sector,co2_t_yr\n"
                                                          "buildings,commercial,700\n"), [
        "emissions", f / "mini.gpkg", "--layer", "parcels", "--code-field", "code", "--code-system", "ydyh_2023",
        "--buildings", f / "mini.gpkg", "--buildings-layer", "buildings", "--inventory", f / "inventory.csv",
        "-o", f / OUT])[1], ("inventory.csv", "buildings/commercial: 700 t CO2/yr", "--allow-unallocated"), 1),
    ("emissions: buildings are lines", lambda f: [
        "emissions", f / "mini.gpkg", "--layer", "parcels", "--code-field", "code", "--code-system", "ydyh_2023",
        "--buildings", f / "mini.gpkg", "--buildings-layer", "roads", "--use-field", "road_class",
        "--floors-field", "length_m", "-o", f / OUT], ("mini.gpkg", "layer 'roads'", "expected polygon"), 1),
    ("emissions: crosswalk malformed", lambda f: (write(f, "cw.csv", 'code,maps_to\n9999,"0101\n'), [
        "emissions", f / "mini.gpkg", "--layer", "parcels", "--code-field", "code", "--code-system", "ydyh_2023",
        "--crosswalk", f / "cw.csv", "-o", f / OUT])[1], ("cw.csv", "well-formed CSV"), 1),
    ("emissions: units id field", lambda f: [
        "emissions", f / "mini.gpkg", "--layer", "parcels", "--code-field", "code", "--code-system", "ydyh_2023",
        "--units", f / "mini.gpkg", "--units-layer", "districts", "--units-id-field", "id", "-o", f / OUT],
     ("mini.gpkg", "layer 'districts'", "field 'id'"), 1),
    ("emissions: coefficients without source", lambda f: (write(
        f, "coef.csv", "coef_id,carbon_category,flux,value,unit,source\nMY,forest,removal,3,t C/ha/yr,\n"), [
        "emissions", f / "mini.gpkg", "--layer", "parcels", "--code-field", "code", "--code-system", "ydyh_2023",
        "--coefficients", f / "coef.csv", "-o", f / OUT])[1], ("coef.csv", "have no source"), 1),
    # stocks
    ("stocks: negative pool", lambda f: (edit(f, "3,15,8,90,2", "3,15,8,-90,2", "pools.csv"), [
        "stocks", f / "landcover.tif", f / "pools.csv", "-o", f / "st"])[1], ("pools.csv", "c_soil = -90"), 1),
    ("stocks: pool columns", lambda f: (write(f, "pools.csv", "code,above\n1,5\n"), [
        "stocks", f / "landcover.tif", f / "pools.csv", "-o", f / "st"])[1], ("pools.csv", "lucode, c_above"), 1),
    ("stocks: pools empty", lambda f: (write(f, "pools.csv", ""), [
        "stocks", f / "landcover.tif", f / "pools.csv", "-o", f / "st"])[1], ("pools.csv", "empty file"), 1),
    ("stocks: float land cover", lambda f: ["stocks", f / "dem.tif", f / "pools.csv", "-o", f / "st"],
     ("dem.tif", "integer class codes"), 1),
    ("stocks: a code without pools", lambda f: (edit(f, "2,60,15,110,5", "12,60,15,110,5", "pools.csv"), [
        "stocks", f / "landcover.tif", f / "pools.csv", "-o", f / "st"])[1], ("landcover.tif", "not in the pool "
                                                                                "table: 2 ("), 1),
    ("stocks: half a valuation", lambda f: ["stocks", f / "landcover.tif", f / "pools.csv", "--price", "10", "-o",
                                            f / "st"], ("--price", "--discount-rate", "--years"), 1),
    ("stocks: alternative damaged", lambda f: (shutil.copy(f / "landcover.tif", f / "alt.tif"),
                                               truncate(f / "alt.tif"),
                                               ["stocks", f / "landcover.tif", f / "pools.csv", "--alt", f / "alt.tif",
                                                "-o", f / "st"])[2], ("alt.tif", "cannot be read"), 1),
    ("stocks: baseline missing", lambda f: ["stocks", f / "lc.tif", f / "pools.csv", "-o", f / "st"],
     ("lc.tif", "not found"), 1),
    # landscape-metrics
    ("landscape: float raster", lambda f: ["landscape-metrics", f / "dem.tif", "-o", f / "lm"],
     ("dem.tif", "integer class codes"), 1),
    ("landscape: absent class", lambda f: ["landscape-metrics", f / "landcover.tif", "--classes", "2,77", "-o",
                                           f / "lm"], ("landcover.tif", "class(es) 77 are not in the raster"), 1),
    ("landscape: classes not codes", lambda f: ["landscape-metrics", f / "landcover.tif", "--classes", "forest",
                                                "-o", f / "lm"], ("--classes", "'forest'"), 1),
    ("landscape: unknown metric", lambda f: ["landscape-metrics", f / "landcover.tif", "--metrics", "NP,FOO", "-o",
                                             f / "lm"], ("'--metrics'", "FOO"), 2),
    ("landscape: garbled raster", lambda f: (garble(f / "landcover.tif"), ["landscape-metrics", f / "landcover.tif",
                                                                           "-o", f / "lm"])[1],
     ("landcover.tif", "cannot be read as a raster"), 1),
    ("landscape: neighbours 6", lambda f: ["landscape-metrics", f / "landcover.tif", "--neighbours", "6", "-o",
                                           f / "lm"], ("'--neighbours'",), 2),
    # ecological-network
    ("network: unknown code system", lambda f: ["ecological-network", f / "landcover.tif", "--code-system", "corine",
                                                "-o", f / "net"], ("'--code-system'", "'corine'"), 2),
    ("network: codes of another system", lambda f: ["ecological-network", f / "landcover.tif", "--code-system",
                                                    "esa_worldcover", "-o", f / "net"],
     ("landcover.tif", "not in the esa_worldcover table"), 1),
    ("network: ecological codes not codes", lambda f: ["ecological-network", f / "landcover.tif", "--code-system",
                                                       "clcd", "--ecological-codes", "forest", "-o", f / "net"],
     ("--ecological-codes", "'forest'"), 1),
    ("network: resistance zero", lambda f: (write(f, "res.csv", "carbon_category,resistance,source\nforest,0,me\n"), [
        "ecological-network", f / "landcover.tif", "--code-system", "clcd", "--resistance", f / "res.csv", "-o",
        f / "net"])[1], ("res.csv", "forest (0)"), 1),
    ("network: roads are polygons", lambda f: ["ecological-network", f / "landcover.tif", "--code-system", "clcd",
                                               "--roads", f / "mini.gpkg", "--roads-layer", "parcels", "-o",
                                               f / "net"], ("mini.gpkg", "expected line geometries"), 1),
    ("network: dem garbled", lambda f: (garble(f / "dem.tif"), [
        "ecological-network", f / "landcover.tif", "--code-system", "clcd", "--dem", f / "dem.tif", "-o",
        f / "net"])[1], ("dem.tif", "cannot be read as a raster"), 1),
    # rooftop-pv
    ("rooftop: neither floors nor height", lambda f: ["rooftop-pv", f / "mini.gpkg", "--layer", "buildings", "-o",
                                                      f / OUT], ("--floors-field", "--height-field"), 1),
    ("rooftop: wrong floors field", lambda f: ["rooftop-pv", f / "mini.gpkg", "--layer", "buildings",
                                               "--floors-field", "storeys", "-o", f / OUT],
     ("mini.gpkg", "field 'storeys'", "the layer has"), 1),
    ("rooftop: unknown grid", lambda f: ["rooftop-pv", f / "mini.gpkg", "--layer", "buildings", "--floors-field",
                                         "floors", "--grid", "mars", "-o", f / OUT], ("'mars'", "--grid"), 1),
    ("rooftop: null geometries", lambda f: (_no_geometries(f, "buildings"), [
        "rooftop-pv", f / "mini.gpkg", "--layer", "buildings", "--floors-field", "floors", "-o", f / OUT])[1],
     ("mini.gpkg", "layer 'buildings'", "2 feature(s) have no geometry"), 1),
    ("rooftop: points", lambda f: (change_layer(f / "mini.gpkg", "buildings",
                                                lambda x: x.set_geometry(x.representative_point())),
                                   ["rooftop-pv", f / "mini.gpkg", "--layer", "buildings", "--floors-field", "floors",
                                    "-o", f / OUT])[1], ("mini.gpkg", "expected polygon geometries"), 1),
    ("rooftop: parameters out of range", lambda f: (write(f, "p.csv", "parameter,value,unit,source\n"
                                                           "performance_ratio,1.8,-,me\n"), [
        "rooftop-pv", f / "mini.gpkg", "--layer", "buildings", "--floors-field", "floors", "--parameters",
        f / "p.csv", "-o", f / OUT])[1], ("p.csv", "performance_ratio (1.8)"), 1),
    ("rooftop: usable share above 1", lambda f: (write(f, "u.csv", "use,usable_fraction,source\npublic,1.4,me\n"), [
        "rooftop-pv", f / "mini.gpkg", "--layer", "buildings", "--floors-field", "floors", "--rooftop-usable",
        f / "u.csv", "-o", f / OUT])[1], ("u.csv", "public (1.4)"), 1),
    ("rooftop: GHI damaged", lambda f: (shutil.copy(f / "dem.tif", f / "ghi.tif"), truncate(f / "ghi.tif"), [
        "rooftop-pv", f / "mini.gpkg", "--layer", "buildings", "--floors-field", "floors", "--ghi", f / "ghi.tif",
        "-o", f / OUT])[2], ("ghi.tif", "cannot be read"), 1),
    # rank-rooftops
    ("rank: not a rooftop-pv output", lambda f: ["rank-rooftops", f / "mini.gpkg", "-o", f / OUT],
     ("mini.gpkg", "no layer 'rooftop_pv'"), 1),
    ("rank: top 0", lambda f: ["rank-rooftops", f / "mini.gpkg", "--top", "0", "-o", f / OUT], ("'--top'",), 2),
    ("rank: units id field", lambda f: ["rank-rooftops", _fake_rooftops(f, complete=True), "--units", f / "mini.gpkg",
                                        "--units-layer", "districts", "--units-id-field", "id", "-o", f / OUT],
     ("mini.gpkg", "field 'id'"), 1),
    ("rank: rooftop columns missing", lambda f: ["rank-rooftops", _fake_rooftops(f), "-o", f / OUT],
     ("roofs.gpkg", "layer 'rooftop_pv'", "field 'roof_area_m2'", "carbonmap rooftop-pv"), 1),
    ("rank: parameter negative", lambda f: (write(f, "p.csv", "parameter,value,unit,source\n"
                                                   "rooftop_weight_payback,-0.3,-,me\n"), [
        "rank-rooftops", _fake_rooftops(f, complete=True), "--parameters", f / "p.csv", "-o", f / OUT])[1],
     ("p.csv", "rooftop_weight_payback (-0.3)"), 1),
    ("rank: parameter misspelt", lambda f: (write(f, "p.csv", "parameter,value,unit,source\n"
                                                  "rooftop_min_area_m2,20,m2,me\n"), [
        "rank-rooftops", _fake_rooftops(f, complete=True), "--parameters", f / "p.csv", "-o", f / OUT])[1],
     ("p.csv", "unknown parameter(s) 'rooftop_min_area_m2'", "did you mean 'rooftop_min_usable_area_m2'?"), 1),
    # afforestation
    ("afforestation: unknown code system", lambda f: ["afforestation", f / "landcover.tif", "--code-system", "lucc",
                                                      "-o", f / OUT], ("'--code-system'", "'lucc'"), 2),
    ("afforestation: unknown tree type", lambda f: ["afforestation", f / "landcover.tif", "--code-system", "clcd",
                                                    "--tree-type", "baobab", "-o", f / OUT],
     ("key '--tree-type'", "'baobab'", "broadleaf_subtropical"), 1),
    ("afforestation: codes of another system", lambda f: ["afforestation", f / "landcover.tif", "--code-system",
                                                          "nlcd", "-o", f / OUT],
     ("landcover.tif", "not in the nlcd table"), 1),
    ("afforestation: growth without source", lambda f: (write(
        f, "g.csv", "vegetation_type,agb_max_t_dm_ha,k_per_yr,p,root_shoot,carbon_fraction,source\n"
        "bamboo,100,0.1,3,0.2,0.47,\n"), [
        "afforestation", f / "landcover.tif", "--code-system", "clcd", "--growth", f / "g.csv", "-o", f / OUT])[1],
     ("g.csv", "no source"), 1),
    ("afforestation: dem damaged", lambda f: (truncate(f / "dem.tif"), [
        "afforestation", f / "landcover.tif", "--code-system", "clcd", "--dem", f / "dem.tif", "-o", f / OUT])[1],
     ("dem.tif", "cannot be read"), 1),
    ("afforestation: zones field", lambda f: [
        "afforestation", f / "landcover.tif", "--code-system", "clcd", "--zones", f / "mini.gpkg", "--zones-layer",
        "districts", "--zones-field", "zona", "-o", f / OUT], ("mini.gpkg", "field 'zona'"), 1),
    # init and validate
    ("init: no such folder", lambda f: ["init", f / "data"], ("data",), 1),
    ("init: project file exists", lambda f: ["init", f, "-o", f / "project.toml"], ("project.toml", "--force"), 1),
    ("validate: no project file", lambda f: ["validate", f / "projekt.toml"], ("projekt.toml", "not found"), 1),
    ("validate: not TOML", lambda f: (edit(f, "[grid]", "[grid"), ["validate", f / "project.toml"])[1],
     ("project.toml", "is not valid TOML"), 1),
    ("validate: a folder", lambda f: ["validate", f], ("PROJECT_FILE", "is a directory"), 2),
]


@pytest.mark.parametrize(("arguments", "names", "code"), [pytest.param(a, n, c, id=i) for i, a, n, c in SUBCOMMANDS])
def test_subcommands(mini, arguments, names, code):
    expect_error(arguments(mini), *names, code=code)
    assert not [p for name in (OUT, "z.csv", "st", "lm", "net") for p in [mini / name, *(mini / name).rglob("*")]
                if p.is_file()]  # nothing written


def test_emissions_accepts_unallocated_rows_when_asked(mini):
    write(mini, "inventory.csv", "sector,sub_sector,co2_t_yr\nbuildings,residential,100\nbuildings,commercial,700\n")
    result = invoke("emissions", mini / "mini.gpkg", "--layer", "parcels", "--code-field", "code", "--code-system",
                    "ydyh_2023", "--buildings", mini / "mini.gpkg", "--buildings-layer", "buildings",
                    "--height-field", "height_m", "--inventory", mini / "inventory.csv", "--allow-unallocated",
                    "-o", mini / OUT)
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith("warning: buildings/commercial: 700 t CO2/yr not allocated: the floor_area "
                                           "proxy has no features of sub-sector 'commercial' (its sub-sectors: "
                                           "residential)")
    assert (mini / OUT).exists()


def test_run_warns_of_a_guessed_encoding_and_goes_on(olinda):
    """A Shapefile in GBK without its .cpg is read as GB18030, with a warning naming it (recorded, not an error)."""
    tracts = pyogrio.read_dataframe(olinda / TRACTS, layer="tracts").head(20).assign(bairro="东城区")
    pyogrio.write_dataframe(tracts[["bairro", "geometry"]], olinda / "bairros.shp", encoding="gbk")
    (olinda / "bairros.cpg").unlink()
    add(olinda, '[[vectors]]\nname = "bairros"\npath = "bairros.shp"\ncolumn = "bairro"\n')
    edit(olinda, "[project]", "[outputs]\nhtml = false\nreport = false\nsave_state = false\n\n[project]")
    result = invoke("run", olinda / "project.toml", "-q")
    assert result.exit_code == 0, result.output
    message = r"bairros.shp: declares no encoding .* GB18030"
    assert re.search("carbonmap: warning: .*" + message, result.output)  # said at the end of the run
    manifest = json.loads((olinda / "out" / "run.json").read_text())
    assert any(re.search(message, text) for text in manifest["warnings"])  # and recorded
