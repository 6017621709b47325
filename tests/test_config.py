"""Project-file validation: every error names the file and the key, with the fix."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from carbonmap.config import load_project
from carbonmap.errors import ConfigError, InputNotFoundError
from carbonmap.words import Text

GOOD = """
[project]
name = "t"

[grid]
resolution_m = 30

[units]
path = "units.gpkg"
id_field = "id"

[[rasters]]
name = "dem"
path = "dem.tif"
unit = "m"
stats = ["mean", "max"]
"""


def at(section: str, name: str, path: str, nth: str = "1st") -> str:
    """How a message names the [[section]] entry its key is in, after the key (which counts from 0): a regex."""
    return re.escape(f' in the {nth} [[{section}]] entry (name "{name}", path "{path}")')


#: The entry of GOOD's raster.
DEM = at("rasters", "dem", "dem.tif")


LANDCOVER = '\n[[rasters]]\nname = "lc"\npath = "dem.tif"\nkind = "categorical"\ncode_system = "clcd"\n'


@pytest.fixture
def folder(tmp_path) -> Path:
    (tmp_path / "units.gpkg").write_bytes(b"")
    (tmp_path / "dem.tif").write_bytes(b"")
    return tmp_path


def write(folder: Path, text: str) -> Path:
    path = folder / "project.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_good_project_resolves_paths_relative_to_the_file(folder):
    project = load_project(write(folder, GOOD))
    assert project.units.path == (folder / "units.gpkg").resolve()
    assert project.rasters[0].stats == ["mean", "max"] and project.rasters[0].kind == "continuous"
    assert project.grid.resolution_m == 30.0 and project.grid.crs == "auto"
    assert project.output_dir == (folder / "out").resolve()


#: One mistake each: (text replaced, its replacement), the error, what its message says.
MISTAKES = [
        (("resolution_m = 30", "resolution = 30"), ConfigError,
         r"key 'grid.resolution': unknown key. Fix: did you mean 'resolution_m'\?"),
        (("[units]", "[unit]"), ConfigError, r"key 'unit': unknown key. Fix: did you mean 'units'\?"),
        (('id_field = "id"', ""), ConfigError,
         r"key 'units.id_field': required key is missing. Fix: add id_field = \.\.\. to \[units\]"),
        (("resolution_m = 30", 'resolution_m = "30 m"'), ConfigError,
         r"key 'grid.resolution_m': expected float, got '30 m'"),
        (("resolution_m = 30", "resolution_m = -5"), ConfigError, "grid.resolution_m': must be positive"),
        (('path = "dem.tif"', 'path = "dme.tif"'), InputNotFoundError,
         r"key 'rasters\[0\].path'" + at("rasters", "dem", "dme.tif") + r": file not found: .*dme.tif"),
        (('stats = ["mean", "max"]', 'stats = ["mean", "mode"]'), ConfigError,
         r"key 'rasters\[0\].stats'" + DEM + r": unknown statistic\(s\): mode"),
        (('unit = "m"', 'unit = "m"\nkind = "categorial"'), ConfigError,
         r"key 'rasters\[0\].kind'" + DEM + r": unknown kind 'categorial'"),
        (('stats = ["mean", "max"]', 'stats = ["mean", "max"]\nkind = "categorial"\n\n[landscape]\nlandcover = "dem"'),
         ConfigError, r"key 'rasters\[0\].kind'" + DEM + r": unknown kind"),  # the cause, not landscape.landcover
        (('unit = "m"', 'unit = "m"\nresampling = "bilinear"\nkind = "categorical"'), ConfigError,
         r"'bilinear' is not valid for a categorical raster"),
        (("resolution_m = 30", 'resolution_m = 30\ncrs = "EPSG:4326"'), ConfigError,
         r"key 'grid.crs': 'EPSG:4326' is not a projected CRS"),
        (("resolution_m = 30", 'resolution_m = 30\ncrs = "EPSG:99999999"'), ConfigError,
         r"key 'grid.crs': 'EPSG:99999999' is not a CRS pyproj knows"),
        (('name = "dem"', 'name = "dem model"'), ConfigError, "not usable as a layer/column name"),
        (("[project]", "[project\n"), ConfigError, "is not valid TOML"),
        (("[grid]\nresolution_m = 30", ""), ConfigError, r"key 'grid': the \[grid\] section is missing"),
        (('unit = "m"', 'unit = "m"\ncode_system = "clcd"'), ConfigError,
         r"key 'rasters\[0\].code_system'" + DEM + r": code_system applies to categorical rasters only"),
        (('unit = "m"', 'unit = "m"\nkind = "categorical"\ncode_system = "corine"'), ConfigError,
         r"unknown code system 'corine'"),
        (("", '\n[[vectors]]\nname = "dem"\npath = "units.gpkg"\n'), ConfigError,
         r"key 'vectors\[0\].name'" + at("vectors", "dem", "units.gpkg") + r": duplicate layer name 'dem'"),
        (("", '\n[[vectors]]\nname = "zones"\npath = "units.gpkg"\ngroup = "ecology"\n'), ConfigError,
         r"key 'vectors\[0\].group'" + at("vectors", "zones", "units.gpkg") + r": unknown group 'ecology'"),
        (("", '\n[[vectors]]\nname = "zones"\npath = "zones.gpkg"\n'), InputNotFoundError,
         r"key 'vectors\[0\].path'" + at("vectors", "zones", "zones.gpkg") + r": file not found"),
        (("", '\n[inventory]\npath = "dem.tif"\n'), ConfigError,
         r"key 'parcels': \[inventory\] needs a \[parcels\] section"),
        (("", '\n[parcels]\npath = "units.gpkg"\ncode_field = "c"\ncode_system = "corine"\n'), ConfigError,
         r"key 'parcels.code_system': unknown code system 'corine'"),
        (("", ('\n[parcels]\npath = "units.gpkg"\ncode_field = "c"\ncode_system = "clcd"\n'
               '[emissions]\nproxies = {transport = "rail"}\n')), ConfigError,
         r"key 'emissions.proxies.transport': unknown proxy 'rail'"),
        (("", '\n[emissions]\nproxies = {waste = "landfill"}\n'), ConfigError,
         r"key 'emissions.proxies.waste': no proxy choice for sector 'waste'"),
        (("", '\n[emissions]\ngrid_resolution_m = 0\n'), ConfigError,
         r"key 'emissions.grid_resolution_m': must be positive"),
        (("", '\n[emissions]\ncoefficients = "mine.csv"\n'), InputNotFoundError,
         r"key 'emissions.coefficients': file not found"),
        (("", '\n[stocks]\npools = "dem.tif"\nbaseline = "lc"\n'), ConfigError,
         r"key 'stocks.baseline': no \[\[rasters\]\] entry named 'lc'"),
        (("", '\n[stocks]\npools = "dem.tif"\nbaseline = "dem"\n'), ConfigError,
         r"key 'stocks.baseline': \[\[rasters\]\] 'dem' must be categorical"),
        (("", '\n[sinks]\nmethod = "magic"\n'), ConfigError, r"key 'sinks.method': unknown method 'magic'"),
        (("", '\n[landscape]\nlandcover = "dem"\n'), ConfigError,
         r"key 'landscape.landcover': \[\[rasters\]\] 'dem' must be categorical"),
        (("", '\n[landscape]\nlandcover = "dem"\nwindow_radius = 5\n'), ConfigError,
         r"key 'landscape.window_radius': unknown key"),
        (("", '\n[sinks]\nmethod = "nep"\nnpp = "dem"\ntemperature = "dem"\n'), ConfigError,
         r"key 'sinks.precipitation': required key is missing"),
        (("", '\n[screening]\nlandcover = "dem"\n'), ConfigError,
         r"key 'screening.landcover': \[\[rasters\]\] 'dem' must be categorical"),
        (("", LANDCOVER + '[screening]\nlandcover = "lc"\ntree_type = "baobab"\n'), ConfigError,
         r"key 'screening.tree_type': unknown tree type 'baobab'. Fix: use one of broadleaf_subtropical"),
        (("", LANDCOVER + '[screening]\nlandcover = "lc"\nbudget_area_ha = -5\n'), ConfigError,
         r"key 'screening.budget_area_ha': must be positive"),
        (("", LANDCOVER + '[screening]\nlandcover = "lc"\nprecipitation = "lc"\n'), ConfigError,
         r"key 'screening.precipitation': \[\[rasters\]\] 'lc' must be continuous"),
        (("", LANDCOVER + '[screening]\nlandcover = "lc"\neligibility = "vcs_2020"\n'), ConfigError,
         r"key 'screening.eligibility': unknown eligibility rule set 'vcs_2020'. Fix: use one of ccer_2023"),
        (("", LANDCOVER + '[screening]\nlandcover = "lc"\neligibility = "ccer_2023"\nearlier_landcover = "lc"\n'),
         ConfigError, r"key 'screening.earlier_landcover_year': give the earlier land cover's year"),
        (("", LANDCOVER + '[screening]\nlandcover = "lc"\nearlier_landcover = "dem"\nearlier_landcover_year = 2015\n'),
         ConfigError, r"key 'screening.earlier_landcover': \[\[rasters\]\] 'dem' must be categorical"),
        (("", LANDCOVER + '[renewables]\nlandcover = "lc"\nrooftop = false\ntransposition = "klucher"\n'), ConfigError,
         r"key 'renewables.transposition': unknown transposition model 'klucher'. Fix: use one of isotropic"),
        (("", LANDCOVER + '[renewables]\nlandcover = "lc"\nrooftop = false\ndecomposition = "louche"\n'), ConfigError,
         r"key 'renewables.decomposition': unknown decomposition model 'louche'. Fix: use one of erbs_monthly"),
        (('unit = "m"', 'unit = "m"\ntitle = { zh = "高程", fr = "Altitude" }'), ConfigError,
         r"key 'rasters\[0\].title.fr'" + DEM + r": unknown key. Fix: allowed here: zh, en\."),
        (('unit = "m"', 'unit = "m"\ntitle = { zh = "高程", eng = "Elevation" }'), ConfigError,
         r"key 'rasters\[0\].title.eng'" + DEM + r": unknown key. Fix: did you mean 'en'\? allowed here: zh, en\."),
        (('unit = "m"', 'unit = "m"\ntitle = { zh = "高程" }'), ConfigError,
         r"key 'rasters\[0\].title.en'" + DEM + r": required key is missing. "
         r"Fix: add en = \"\.\.\.\" \(the title in English\), "
         r"or give one string for both languages, title = \"\.\.\.\""),
        (('unit = "m"', 'unit = "m"\ntitle = 2023'), ConfigError,
         r"key 'rasters\[0\].title'" + DEM + r": expected a string or a table of languages, got 2023. "
         r"Fix: give one string for both languages, title = \"\.\.\.\", "
         r"or one per language, title = \{ zh = \"\.\.\.\", en = \"\.\.\.\" \}"),
        (("", '\n[[vectors]]\nname = "zones"\npath = "units.gpkg"\ntitle = { zh = "分区", en = "" }\n'), ConfigError,
         r"key 'vectors\[0\].title.en'" + at("vectors", "zones", "units.gpkg")
         + r": must not be empty. Fix: give the title in English"),
        (("", '\n[[vectors]]\nname = "zones"\npath = "units.gpkg"\ntitle = { en = "Zones", zh = 1 }\n'), ConfigError,
         r"key 'vectors\[0\].title.zh'" + at("vectors", "zones", "units.gpkg")
         + r": expected str, got 1. Fix: give the title in Chinese in quotes"),
        (('name = "t"', 'name = { zh = "示范城市" }'), ConfigError,
         (r"key 'project.name.en': required key is missing. "
          r"Fix: add en = \"\.\.\.\" \(the name in English\), "
          r"or give one string for both languages, name = \"\.\.\.\"")),
        (('name = "t"', 'name = 3'), ConfigError,
         (r"key 'project.name': expected a string or a table of languages, got 3. "
          r"Fix: give one string for both languages, name = \"\.\.\.\", "
          r"or one per language, name = \{ zh = \"\.\.\.\", en = \"\.\.\.\" \}")),
        (('id_field = "id"', 'id_field = "id"\nname_field = { zh = "name_zh" }'), ConfigError,
         (r"key 'units.name_field.en': required key is missing. "
          r"Fix: add en = \"\.\.\.\" \(the name_field in English\), "
          r"or give one string for both languages, name_field = \"\.\.\.\"")),
        (('id_field = "id"', 'id_field = "id"\nname_field = 3'), ConfigError,
         (r"key 'units.name_field': expected a string or a table of languages, got 3. "
          r"Fix: give one string for both languages, name_field = \"\.\.\.\", "
          r"or one per language, name_field = \{ zh = \"\.\.\.\", en = \"\.\.\.\" \}")),
]


def test_a_title_is_one_string_for_both_languages_or_one_per_language(folder):
    text = GOOD.replace('unit = "m"', 'unit = "m"\ntitle = { zh = "2023年高程", en = "Elevation 2023" }')
    text += '\n[[vectors]]\nname = "zones"\npath = "units.gpkg"\ntitle = "Zones"\n'
    project = load_project(write(folder, text))
    assert project.rasters[0].title == Text(en="Elevation 2023", zh="2023年高程")
    assert project.vectors[0].title == "Zones"  # one string, as before


def test_the_units_name_field_is_one_field_or_one_per_language(folder):
    project = load_project(write(folder, GOOD.replace('id_field = "id"', 'id_field = "id"\nname_field = "name"')))
    assert project.units.name_field == "name"
    text = GOOD.replace('id_field = "id"', 'id_field = "id"\nname_field = { zh = "name_zh", en = "name_en" }')
    assert load_project(write(folder, text)).units.name_field == Text(en="name_en", zh="name_zh")


def test_the_project_name_is_one_string_or_one_per_language(folder):
    assert load_project(write(folder, GOOD)).project.name == "t"
    text = GOOD.replace('name = "t"', 'name = { zh = "示范城市", en = "Demo city" }', 1)
    assert load_project(write(folder, text)).project.name == Text(en="Demo city", zh="示范城市")


def test_a_problem_in_a_later_entry_names_it_by_its_position_from_1_and_its_name_and_path(folder):
    """The key counts [[rasters]] entries from 0 (rasters[2] is the third); the message also says, as a person
    counts and finds it, which entry: the 3rd, its name and path. The key itself stays as it was."""
    (folder / "ndvi.tif").write_bytes(b"")
    text = GOOD + LANDCOVER + '\n[[rasters]]\nname = "ndvi"\npath = "ndvi.tif"\ntitle = { en = "NDVI" }\n'
    with pytest.raises(ConfigError) as info:
        load_project(write(folder, text))
    assert info.value.key == "rasters[2].title.zh"
    assert str(info.value).startswith(f"{folder / 'project.toml'}, key 'rasters[2].title.zh' in the 3rd [[rasters]] "
                                      'entry (name "ndvi", path "ndvi.tif"): required key is missing. Fix: add zh')
    # the 1st entry without a name, 9 empty ones, the 11th with an unknown kind (checked after the others)
    nameless = GOOD.replace('name = "dem"\n', "") + "\n[[rasters]]\n" * 10 + 'name = "x"\npath = "dem.tif"\n'
    nameless += 'kind = "flat"\n'
    problems = []
    load_project(write(folder, nameless), problems=problems)
    named = {p.key: str(p) for p in problems}
    assert "'rasters[0].name' in the 1st [[rasters]] entry (path \"dem.tif\"): required key" in named["rasters[0].name"]
    assert "'rasters[1].name' in the 2nd [[rasters]] entry: required key" in named["rasters[1].name"]
    assert "'rasters[10].kind' in the 11th [[rasters]] entry (name \"x\", path \"dem.tif\"): unknown kind 'flat'" \
        in named["rasters[10].kind"]


def test_an_error_keeps_its_entry_across_processes():
    import pickle

    error = ConfigError("unknown kind 'flat'.", path="p.toml", key="rasters[2].kind", fix="use continuous.")
    error.in_entry('the 3rd [[rasters]] entry (name "dem")')
    copy = pickle.loads(pickle.dumps(error))
    assert str(copy) == str(error) == ("p.toml, key 'rasters[2].kind' in the 3rd [[rasters]] entry (name \"dem\"): "
                                       "unknown kind 'flat'. Fix: use continuous.")


def test_a_bad_title_leaves_the_rest_of_the_entry_usable_when_collecting(folder):
    text = GOOD.replace('unit = "m"', 'unit = "m"\ntitle = { cn = "高程", en = "Elevation" }')
    problems = []
    project = load_project(write(folder, text), problems=problems)
    assert [p.key for p in problems] == ["rasters[0].title.cn", "rasters[0].title.zh"]  # one each, once
    assert project is not None and project.rasters[0].name == "dem" and project.rasters[0].title is None


@pytest.mark.parametrize(("change", "error", "message"), MISTAKES)
def test_errors_name_the_file_and_key(folder, change, error, message):
    old, new = change
    path = write(folder, GOOD + new if old == "" else GOOD.replace(old, new))
    with pytest.raises(error, match=message) as info:
        load_project(path)
    assert str(info.value).startswith(str(path.resolve()))


def test_missing_project_file(tmp_path):
    with pytest.raises(InputNotFoundError, match="project file not found"):
        load_project(tmp_path / "nope.toml")


@pytest.mark.parametrize(("change", "error", "message"), MISTAKES)
def test_collecting_problems_finds_the_error_load_project_raises_first(folder, change, error, message):
    old, new = change
    path = write(folder, GOOD + new if old == "" else GOOD.replace(old, new))
    problems = []
    load_project(path, problems=problems)
    assert problems, "no problem collected"
    assert isinstance(problems[0], error) and re.search(message, str(problems[0]))


def test_collecting_problems_lists_each_one_once(folder):
    text = GOOD.replace("resolution_m = 30", 'resolution_m = "30"').replace('path = "dem.tif"', 'pth = "dem.tif"')
    text += '\n[landscape]\nlandcover = "dem"\nwindow_metric = "EDX"\nneighbours = 6\n'
    text += '\n[parcels]\npath = "units.gpkg"\ncode_feld = "c"\ncode_system = "clcd"\n[inventory]\npath = "no.csv"\n'
    problems = []
    assert load_project(write(folder, text), problems=problems) is None  # [grid] cannot be read
    assert [p.key for p in problems] == ["grid.resolution_m", "rasters[0].pth", "parcels.code_feld"]
    problems = []
    project = load_project(write(folder, text.replace('"30"', "30")), problems=problems)
    assert project is not None and project.parcels is None and project.rasters == []
    # the misspelt keys once each (not also as missing required keys), and nothing that only follows from the
    # sections they make unusable (no "[inventory] needs a [parcels] section", no "no [[rasters]] entry named 'dem'")
    assert [p.key for p in problems] == ["rasters[0].pth", "parcels.code_feld", "inventory.path",
                                         "landscape.neighbours", "landscape.window_metric"]
    assert "did you mean 'path'?" in str(problems[0]) and "no.csv" in str(problems[2])
