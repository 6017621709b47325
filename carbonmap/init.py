"""``carbonmap init``: a commented starter project file from the data found in a folder.

:func:`survey_folder` reads every data set in a folder (:mod:`carbonmap.survey`: metadata and a
sample only) and guesses what each one is (:mod:`carbonmap.roles`). :func:`starter_project`
turns the guesses into the text of a project file that :func:`carbonmap.config.load_project`
accepts as written:

- every guessed value carries a ``# GUESS (check): <evidence>`` comment;
- required keys are filled, optional keys are commented out with their meaning;
- a section is enabled only when what it needs was found (``[stocks]`` needs a pool table covering
  the land cover's codes, ``[buildings]`` needs ``[parcels]``, ``[sinks] method = "nep"`` needs NPP,
  temperature, precipitation and a land cover, ...); otherwise it is commented out with a note of
  what is missing;
- paths are relative to the project file.

:func:`write_starter_project` does both and writes the file atomically, never over an existing
one unless asked; :func:`checklist` lists what the user should check before running.
"""

from __future__ import annotations

import os
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carbonmap.errors import EmptyInputError, InputError, InputNotFoundError, OutputError
from carbonmap.roles import ROLES, Guess, assign_roles, guess_roles, known_code_share, raster_year
from carbonmap.survey import RasterSample, Sample, VectorSample, data_files, describe
from carbonmap.words import words

__all__ = ["Found", "survey_folder", "starter_project", "checklist", "write_starter_project", "PROJECT_FILE"]

#: The project file `carbonmap init` writes by default, in the surveyed folder.
PROJECT_FILE = "project.toml"
#: Cell sizes [m] a grid resolution is rounded to when a raster's cell size is within 10 % of one.
_ROUND_RESOLUTIONS = (10, 20, 25, 30, 50, 90, 100, 250, 300, 500, 1000)
#: [[rasters]] entry names by role.
_ENTRY_NAMES = {"landcover": "landcover", "dem": "elevation", "ndvi": "ndvi", "npp": "npp", "ghi": "ghi",
                "wind_speed": "wind_speed", "temperature": "temperature", "precipitation": "precipitation",
                "heat_flow": "heat_flow"}
_WIDTH = 118  # of comment lines
_KEY_COLUMN = 36  # where inline comments start


@dataclass(frozen=True)
class Found:
    """A data set found in the folder, with the role guessed for it (None: not used).

    alternatives : the other roles it might have, best first (reported, not used).
    """

    source: Sample
    guess: Guess | None = None
    alternatives: tuple[Guess, ...] = ()

    @property
    def path(self) -> Path:
        return self.source.path

    @property
    def layer(self) -> str | None:
        return getattr(self.source, "layer", None)

    @property
    def label(self) -> str:
        """'demo_city.gpkg:districts', 'dem.tif'."""
        return self.source.label

    @property
    def role(self) -> str | None:
        return self.guess.role if self.guess else None

    @property
    def confidence(self) -> str | None:
        return self.guess.confidence if self.guess else None

    @property
    def summary(self) -> str:
        """What the data set is, in a few words ('14 polygons, EPSG:4547')."""
        source = self.source
        if isinstance(source, VectorSample):
            return f"{source.count:,} {source.geometry}s, {source.crs or 'no CRS'}".replace("nones", "features")
        if isinstance(source, RasterSample):
            about = "about " if source.geographic else ""
            cell = f", {about}{source.cell_size_m:.4g} m cells" if source.cell_size_m else ""
            return f"{source.shape[0]:,} x {source.shape[1]:,} {source.dtype}{cell}, {source.crs or 'no CRS'}"
        if source.kind == "table":
            return f"table: {', '.join(source.columns[:6])}{', ...' if len(source.columns) > 6 else ''}"
        return source.reason


def survey_folder(folder: str | os.PathLike) -> list[Found]:
    """Every data set in `folder` (recursively) with its guessed role, in path order.

    Raises
    ------
    InputNotFoundError
        The folder does not exist.
    InputError
        It is a file, not a folder.
    """
    folder = _existing_folder(folder)
    samples = [sample for path in data_files(folder) for sample in describe(path)]
    candidates = [guess_roles(sample, samples) for sample in samples]
    assigned = assign_roles(candidates)
    return [Found(sample, guess, tuple(g for g in guesses if g is not guess))
            for sample, guesses, guess in zip(samples, candidates, assigned)]


def _existing_folder(folder: str | os.PathLike) -> Path:
    folder = Path(folder)
    if not folder.exists():
        raise InputNotFoundError("folder not found.", path=folder,
                                 fix="give the folder that holds the city's data (vector layers, GeoTIFFs, CSV).")
    if not folder.is_dir():
        raise InputError("is a file, not a folder.", path=folder,
                         fix="give the folder that holds the data; the project file is written into it.")
    return folder


# --------------------------------------------------------------------------- the plan


@dataclass
class _Raster:
    """A [[rasters]] entry: its name and the data set."""

    name: str
    found: Found

    @property
    def guess(self) -> Guess | None:
        return self.found.guess

    @property
    def year(self) -> int | None:
        return raster_year(self.found.source)


@dataclass
class _Plan:
    """What the project file uses: the chosen data set per role and what each section can have."""

    units: Found
    single: dict[str, Found]                  # role -> data set (parcels, buildings, ...; usable or not)
    rasters: list[_Raster]
    wired: dict[str, str] = field(default_factory=dict)   # continuous role -> [[rasters]] name (usable)
    landcover: _Raster | None = None          # the latest land cover with a code system
    previous: _Raster | None = None           # an earlier one of the same system
    pools: Found | None = None
    crosswalk: Found | None = None
    unused: list[Found] = field(default_factory=list)

    def usable(self, role: str) -> Found | None:
        """The data set of a single role, if the project file can use it as it is."""
        found = self.single.get(role)
        if found is None:
            return None
        if role == "parcels" and self.crosswalk is not None:  # the crosswalk maps the unknown codes
            return found if found.guess.settings.get("assume_crs") or found.source.crs_declared else None
        return found if found.guess.blocker is None else None


def _plan(found: Sequence[Found]) -> _Plan:
    units = next((f for f in found if f.role == "units"), None)
    if units is None:
        raise _no_units_error(found)
    single = {f.role: f for f in found if f.role and f.role not in ("units", "pools", "crosswalk")
              and f.source.kind != "raster"}
    plan = _Plan(units, single, _raster_entries(found))
    by_date = sorted(plan.rasters, key=lambda r: (r.year or 0, plan.rasters.index(r)))
    for entry in by_date:
        role = entry.found.role
        if role in _ENTRY_NAMES and role != "landcover" and entry.guess.usable:
            plan.wired[role] = entry.name  # the latest of each quantity
    covers = [r for r in by_date if r.found.role == "landcover" and r.guess.usable]
    if covers:
        plan.landcover = covers[-1]
        system = plan.landcover.guess.settings["code_system"]
        earlier = [r for r in covers[:-1] if r.guess.settings["code_system"] == system
                   and (r.year or 0) < (plan.landcover.year or 0)]
        plan.previous = earlier[0] if earlier else None
    plan.pools = _matching_pools(found, plan)
    plan.crosswalk = _matching_crosswalk(found, single.get("parcels"))
    plan.unused = [f for f in found if f.guess is None]
    return plan


def _raster_entries(found: Sequence[Found]) -> list[_Raster]:
    """A [[rasters]] entry for every raster, named by role (and year) or by file name."""
    entries, names = [], set()
    for item in found:
        if not isinstance(item.source, RasterSample):
            continue
        role, year = item.role, raster_year(item.source)
        if role in _ENTRY_NAMES:
            base = _ENTRY_NAMES[role] + (f"_{year}" if year and role != "dem" else "")
        else:
            base = _identifier(item.path.stem)
        name, n = base, 2
        while name in names:
            name, n = f"{base}_{n}", n + 1
        names.add(name)
        entries.append(_Raster(name, item))
    return entries


def _identifier(text: str) -> str:
    """'Land Cover-2023' -> 'land_cover_2023' (a valid layer name)."""
    name = re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_") or "raster"
    return f"r_{name}" if name[0].isdigit() else name


def _matching_pools(found: Sequence[Found], plan: _Plan) -> Found | None:
    """The pool table whose codes cover every sampled code of the stock land covers."""
    if plan.landcover is None:
        return None
    system = plan.landcover.guess.settings["code_system"]
    needed = set()
    for entry in filter(None, (plan.landcover, plan.previous)):
        needed |= {int(v) for v in entry.found.source.distinct()}
    for item in found:
        if item.role == "pools" and item.guess.settings.get("system") in (None, system) \
                and needed <= set(item.guess.settings["lucodes"]):
            return item
    return None


def _matching_crosswalk(found: Sequence[Found], parcels: Found | None) -> Found | None:
    """A crosswalk table mapping every sampled parcel code the code system does not know (to codes it knows)."""
    if parcels is None or not parcels.guess.settings.get("unknown_codes"):
        return None
    unknown = set(parcels.guess.settings["unknown_codes"])
    system = parcels.guess.settings["code_system"]
    for item in found:
        if item.role != "crosswalk" or not unknown <= set(item.guess.settings["codes"]):
            continue
        targets = item.guess.settings.get("maps_to", [])
        if not targets or known_code_share(targets, system)[0] == 1:
            return item
    return None


def _no_units_error(found: Sequence[Found]) -> EmptyInputError:
    polygons = [f for f in found if isinstance(f.source, VectorSample) and f.source.geometry == "polygon"]
    if not found:
        problem = "no vector, raster or CSV data found (searched recursively, skipping out/ and hidden folders)."
    elif not polygons:
        problem = f"no polygon layer among the {len(found)} data sets found, so no planning units."
    else:
        seen = "; ".join(f"{f.label} ({f.source.count:,} polygons" + (f", {f.role}" if f.role else "") + ")"
                         for f in polygons[:6])
        problem = f"no polygon layer looks like planning units (a unique id in every feature): {seen}."
    return EmptyInputError(problem, fix="add a polygon layer of planning units (districts, towns, census tracts) "
                                        "with a unique id field (e.g. district_id, adcode, 区县代码) to the folder, "
                                        "then run carbonmap init again.")


# --------------------------------------------------------------------------- TOML text


def _toml(value: Any) -> str:
    """A TOML value: strings quoted and escaped, numbers without a trailing '.0', lists."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }" if value else "{}"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    text = re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\u{ord(m.group()):04x}", text)
    return f'"{text}"'


def _comment(text: str, prefix: str = "# ") -> list[str]:
    return textwrap.wrap(text, _WIDTH - len(prefix), initial_indent=prefix, subsequent_indent=prefix + "  ",
                         break_long_words=False, break_on_hyphens=False) or [prefix.rstrip()]


@dataclass(frozen=True)
class _Key:
    """One `key = value` line, with its comment; `on=False` writes it commented out."""

    key: str
    value: Any
    comment: str = ""
    on: bool = True


def _guess_key(key: str, value: Any, evidence: str) -> _Key:
    return _Key(key, value, f"GUESS (check): {evidence}")


def _key_lines(item: _Key, section_on: bool = True) -> list[str]:
    line = f"{item.key} = {_toml(item.value)}"
    if not (item.on and section_on):
        line = "# " + line
    if not item.comment:
        return [line]
    if len(line) < _KEY_COLUMN and _KEY_COLUMN + 2 + len(item.comment) <= 120:
        return [f"{line:<{_KEY_COLUMN}}# {item.comment}"]
    return _comment(item.comment) + [line]


def _section(header: str, keys: Sequence[_Key], *, note: str | Sequence[str] = (), on: bool = True) -> list[str]:
    """A table: its notes (comments), `[header]` and its keys; all commented out when not `on`."""
    notes = [note] if isinstance(note, str) else list(note)
    lines = [""] + [line for text in notes for line in _comment(text)]
    lines.append(header if on else f"# {header}")
    for item in keys:
        lines += _key_lines(item, on)
    return lines


def _relative(path: Path, base: Path) -> str:
    try:
        return Path(os.path.relpath(path.resolve(), base.resolve())).as_posix()
    except ValueError:  # another drive
        return path.resolve().as_posix()


def _layer_key(found: Found) -> str | None:
    """The layer to name: in a GeoPackage or a file of several layers."""
    source = found.source
    if isinstance(source, VectorSample) and (source.layers_in_file > 1 or source.path.suffix.lower() == ".gpkg"):
        return source.layer
    return None


def _source_keys(found: Found, base: Path, *, path_key: str = "path", layer_key: str = "layer") -> list[_Key]:
    keys = [_Key(path_key, _relative(found.path, base))]
    if _layer_key(found):
        keys.append(_Key(layer_key, _layer_key(found)))
    return keys


def _evidence(guess: Guess) -> str:
    return f"{ROLES[guess.role]} ({guess.confidence} confidence): " + "; ".join(guess.evidence)


def _crs_keys(guess: Guess) -> list[_Key]:
    if "assume_crs" in guess.settings:
        return [_guess_key("assume_crs", guess.settings["assume_crs"], "the file declares no CRS; lon/lat values")]
    return [_Key("assume_crs", "EPSG:4326", "CRS to use if the file declares none", on=False)]


def starter_project(folder: str | os.PathLike, found: Sequence[Found], *,
                    project_file: str | os.PathLike | None = None) -> str:
    """The text of a commented starter project file for the data `found` in `folder`.

    Parameters
    ----------
    folder : the surveyed folder (its name becomes the project's name).
    found : from :func:`survey_folder`.
    project_file : where the file will be written (paths in it are relative to its folder);
        default ``FOLDER/project.toml``.

    Raises
    ------
    EmptyInputError
        When no data set can be the planning units: a project cannot do without them.
    """
    folder = Path(folder)
    project_file = Path(project_file) if project_file is not None else folder / PROJECT_FILE
    base = project_file.parent
    plan = _plan(found)
    lines = _header(folder, found, project_file)
    lines += _section("[project]", [_Key("name", folder.resolve().name),
                                    _Key("output_dir", "out", "relative to this file's folder")])
    lines += _grid(plan)
    lines += _units(plan, base)
    lines += _rasters(plan, base)
    lines += _emissions(plan, base)
    lines += _stocks(plan, base)
    lines += _sinks(plan, base)
    lines += _vectors(plan, base)
    lines += _landcover_sections(plan, base)
    lines += _timeline(plan)
    lines += _section("[outputs]", [
        _Key("basemaps", ["OpenStreetMap"], "tile basemaps of the HTML map (need a network); [] for none", on=False),
        _Key("html_budget_mb", 15, "size budget of onemap.html [MB]", on=False),
        _Key("save_state", True, "keep the state for `carbonmap run --only STAGE`", on=False),
    ], note="What to write (defaults: onemap.gpkg, onemap.html, report.html).", on=False)
    lines += _unused(plan, base)
    return "\n".join(lines).strip("\n") + "\n"


def _header(folder: Path, found: Sequence[Found], project_file: Path) -> list[str]:
    used = sum(f.guess is not None for f in found)
    return [
        f"# carbonmap project file: a starter written by `carbonmap init` from the {len(found)} data sets found",
        f"# in {folder.resolve().name}/ ({used} with a guessed role).",
        "#",
        "# Values marked \"GUESS (check)\" are carbonmap's reading of the data, with the evidence: check each.",
        "# Commented-out keys are optional (with their meaning); commented-out sections need data that was not",
        "# found, and say what. The keys are documented in docs/project_file.md.",
        f"# Then: carbonmap run {project_file.name}",
    ]


def _grid(plan: _Plan) -> list[str]:
    resolution, why = _resolution(plan)
    units = plan.units.source
    crs_note = f"the units are in {units.crs}" if units.crs else "the units declare no CRS"
    return _section("[grid]", [
        _Key("crs", "auto", f"Albers equal-area centred on the units, or a projected CRS in metres ({crs_note})"),
        _guess_key("resolution_m", resolution, why),
    ], note="The analysis grid every raster is aligned to.")


def _resolution(plan: _Plan) -> tuple[float, str]:
    """The land cover's cell size (else the finest raster's), rounded to a usual value; else 30 m."""
    if plan.landcover is not None and plan.landcover.found.source.cell_size_m:
        entry, what = plan.landcover, "the land cover's cell size"
    else:
        sized = [r for r in plan.rasters if r.found.source.cell_size_m and r.guess is not None]
        if not sized:
            return 30.0, "no raster with a known cell size; 30 m is usual for city land cover"
        entry = min(sized, key=lambda r: r.found.source.cell_size_m)
        what = "the finest raster's cell size"
    cell = entry.found.source.cell_size_m
    nice = min(_ROUND_RESOLUTIONS, key=lambda r: abs(r - cell))
    resolution = float(nice if abs(nice - cell) <= 0.1 * cell else round(cell))
    return resolution, f"{what} ({entry.found.label}: {cell:.4g} m); coarser runs faster"


def _units(plan: _Plan, base: Path) -> list[str]:
    guess = plan.units.guess
    settings = guess.settings
    keys = _source_keys(plan.units, base)
    starts = {"id_field": "id ", "name_field": "name ", "population_field": "population ", "gdp_field": "GDP "}
    for key in ("id_field", "name_field", "population_field", "gdp_field"):
        if key in settings:
            evidence = next(e for e in guess.evidence if e.startswith(starts[key]))
            keys.append(_guess_key(key, settings[key], evidence.split(" (cny")[0]))
        else:
            keys.append(_Key(key, "...", {"name_field": "a readable name of each unit",
                                          "population_field": "population [persons], for per-capita indicators",
                                          "gdp_field": "GDP, for carbon intensity"}[key], on=False))
    if "gdp_unit" in settings:
        why = next(e for e in guess.evidence if e.startswith("GDP "))
        keys.append(_guess_key("gdp_unit", settings["gdp_unit"], why.split(": ", 1)[-1].rstrip(")")
                               + "; cny_1e8 (亿元), cny_1e4 (万元) or cny"))
    keys += _crs_keys(guess)
    if settings.get("datum") == "gcj02":
        keys.append(_guess_key("datum", "gcj02", "'gcj' in the file name: lon/lat of a Chinese web map"))
    else:
        keys.append(_Key("datum", "gcj02", "if the lon/lat come from a Chinese web map (Amap, Tencent)", on=False))
    notes = ["Planning units: every layer is summarised by them.", f"GUESS (check): {_evidence(guess)}"]
    notes += [f"Check: {c}" for c in guess.checks]
    if guess.blocker:
        notes.append(f"FIX before running: {guess.blocker}")
    return _section("[units]", keys, note=notes)


def _rasters(plan: _Plan, base: Path) -> list[str]:
    lines = []
    for entry in plan.rasters:
        guess, source = entry.guess, entry.found.source
        keys = [_Key("name", entry.name), _Key("path", _relative(source.path, base))]
        notes = []
        if guess is not None and guess.role == "landcover":
            system = guess.settings.get("code_system")
            keys += [_Key("kind", "categorical", "area per class per unit")]
            if system:
                keys.append(_guess_key("code_system", system, next(e for e in guess.evidence if "known to" in e)))
            else:
                keys.append(_Key("code_system", "clcd", "the classes' code system, once known", on=False))
            keys.append(_Key("title", _title("landcover", entry.year)))
            notes.append(f"GUESS (check): {_evidence(guess)}")
            if guess.blocker:
                notes.append(f"No code system: {guess.blocker}")
        elif guess is not None:
            keys += [_Key("kind", "continuous"), _Key("unit", guess.settings["unit"], "unit of the values, in "
                                                      "column names"), _Key("stats", guess.settings["stats"])]
            keys.append(_Key("title", _title(guess.role, entry.year if guess.role != "dem" else None)))
            notes.append(f"GUESS (check): {_evidence(guess)}")
        else:
            categorical = source.is_integer_dtype and source.distinct(64) is not None
            keys += [_Key("kind", "categorical" if categorical else "continuous",
                          "few integer values: classes" if categorical else "")]
            if not categorical:
                keys += [_Key("unit", "", "unit of the values, used in column names (e.g. \"m\")"),
                         _Key("stats", ["mean"])]
            if source.bands > 1:
                keys.append(_Key("band", 1, f"of {source.bands} bands"))
            possible = "; ".join(f"{ROLES[g.role]}? {'; '.join(g.checks) or g.confidence + ' confidence'}"
                                 for g in entry.found.alternatives[:2])
            notes.append(f"Not recognised ({entry.found.summary}): uncomment to summarise it per unit."
                         + (f" Possibly {possible}." if possible else ""))
        if guess is not None:
            notes += [f"Check: {c}" for c in guess.checks]
        if source.crs is None:
            keys.append(_Key("assume_crs", "EPSG:4326", "the raster declares no CRS: give it", on=False))
            notes.append("FIX before running: the raster declares no CRS; set assume_crs.")
        lines += _section("[[rasters]]", keys, note=notes, on=guess is not None)
    if lines:
        lines = ["", "# ---- rasters, each summarised per planning unit"] + lines
    return lines


def _title(role: str, year: int | str | None) -> dict[str, str]:
    """A raster's title in both languages, ``{ zh = "2023 年土地覆被", en = "Land cover 2023" }``: its role's
    words (``words.csv``: ``init.title.<role>``) with its year, when known."""
    title = words(f"init.title.{role}")
    if year:
        title = words("init.title_year", title=title, year=year)
    return {"zh": title.zh, "en": title.en}


def _emissions(plan: _Plan, base: Path) -> list[str]:
    lines = ["", "# ---- emissions: accounted on land-use parcels (see docs/methods/emissions.md)"]
    parcels = plan.usable("parcels")
    candidate = plan.single.get("parcels")
    if candidate is not None:
        guess = candidate.guess
        keys = _source_keys(candidate, base)
        keys += [_guess_key("code_field", guess.settings["code_field"], "the land-use code field"),
                 _guess_key("code_system", guess.settings["code_system"],
                            next(e for e in guess.evidence if "known to" in e).split(": ", 1)[-1])]
        if plan.crosswalk is not None:
            keys.append(_guess_key("crosswalk", _relative(plan.crosswalk.path, base),
                                   "maps every sampled code the system does not know"))
        else:
            keys.append(_Key("crosswalk", "crosswalk.csv", "CSV (code,maps_to) for codes the system lacks", on=False))
        keys += _crs_keys(guess)
        notes = [f"GUESS (check): {_evidence(guess)}"] + [f"Check: {c}" for c in guess.checks]
        if parcels is None:
            notes.append(f"Not enabled: {guess.blocker}")
        lines += _section("[parcels]", keys, note=notes, on=parcels is not None)
    else:
        lines += _section("[parcels]", [_Key("path", "parcels.gpkg"), _Key("code_field", "code"),
                                        _Key("code_system", "ydyh_2023")],
                          note="Not enabled: no layer of land-use parcels with codes of a known system "
                               "(ydyh_2023, gb_t_21010_2017, euluc_china, ...) was found. Emissions need one.",
                          on=False)
    lines += _emission_layer(plan, base, "buildings", parcels, lambda g: [
        _guess_key("floors_field", g.settings["floors_field"], "floors field" if g.settings["floors_field"]
                   else "no floors field: floors from the height"),
        _guess_key("height_field", g.settings["height_field"], "height field") if g.settings.get("height_field")
        else _Key("height_field", "height", "height [m], for floors where they are missing", on=False),
        _Key("storey_height_m", 3.0, "height of a storey [m], for floors from the height", on=False),
        _guess_key("use_field", g.settings.get("use_field", "use"), "the building use field"),
    ], "footprints with floors (or a height) and a use (residential, commercial, public, industrial)")
    lines += _emission_layer(plan, base, "roads", parcels, lambda g: [
        _guess_key("class_field", g.settings.get("class_field", "road_class"), "the road-class field")],
        "road centre lines with a class (weights in road_class_weights.csv)")
    lines += _emission_layer(plan, base, "point_sources", parcels, lambda g: [
        _guess_key("emissions_field", g.settings["emissions_field"], "emissions [t CO2/yr]"),
        _guess_key("sector_field", g.settings.get("sector_field", "sector"), "the inventory sector")],
        "points of large emitters with emissions [t CO2/yr] and a sector")
    inventory = plan.single.get("inventory")
    usable = plan.usable("inventory")
    if inventory is not None:
        notes = [f"GUESS (check): {_evidence(inventory.guess)}"]
        if usable is None:
            notes.append(f"Not enabled: {inventory.guess.blocker}")
        elif parcels is None:
            notes.append("Not enabled: the inventory needs [parcels].")
        lines += _section("[inventory]", [_Key("path", _relative(inventory.path, base))], note=notes,
                          on=usable is not None and parcels is not None)
    else:
        lines += _section("[inventory]", [_Key("path", "inventory.csv")], note="Not enabled: no inventory CSV "
                          "(sector, sub_sector, co2_t_yr, year) was found.", on=False)
    lines += _section("[emissions]", [
        _Key("grid_resolution_m", 100, "cell size of the gridded emissions [m]"),
        _Key("proxies", {"transport": "transport_land"}, "proxy by sector (default: the first available)",
             on=False),
    ], note="Settings of the emissions stage." if parcels else "Needs [parcels].", on=parcels is not None)
    return lines


def _emission_layer(plan: _Plan, base: Path, role: str, parcels: Found | None, keys_of, what: str) -> list[str]:
    """[buildings], [roads] or [point_sources]: enabled when found, usable and parcels are."""
    found = plan.single.get(role)
    if found is None:
        return _section(f"[{role}]", [_Key("path", f"{role}.gpkg")], note=f"Not enabled: nothing found like {what}.",
                        on=False)
    guess = found.guess
    notes = [f"GUESS (check): {_evidence(guess)}"] + [f"Check: {c}" for c in guess.checks]
    usable = plan.usable(role) is not None
    if not usable:
        notes.append(f"Not enabled: {guess.blocker}")
    elif parcels is None:
        notes.append(f"Not enabled: [{role}] needs [parcels].")
    return _section(f"[{role}]", _source_keys(found, base) + keys_of(guess) + _crs_keys(guess), note=notes,
                    on=usable and parcels is not None)


def _stocks(plan: _Plan, base: Path) -> list[str]:
    lines = ["", "# ---- carbon stocks and sinks (see docs/methods/sinks.md)"]
    if plan.landcover is None:
        return lines + _section("[stocks]", [_Key("pools", "pools.csv"), _Key("baseline", "landcover")],
                                note="Not enabled: needs a land cover with a code system.", on=False)
    baseline, alternative = (plan.previous, plan.landcover) if plan.previous else (plan.landcover, None)
    keys = [_Key("pools", _relative(plan.pools.path, base) if plan.pools else "pools.csv",
                 "GUESS (check): lucode and the four pools [t C/ha]" if plan.pools else ""),
            _Key("baseline", baseline.name, "the earlier land cover" if alternative else "")]
    if alternative:
        keys.append(_Key("alternative", alternative.name, "the later land cover: stock change"))
    else:
        keys.append(_Key("alternative", "landcover_later", "a later or scenario land cover, for the change",
                         on=False))
    keys.append(_Key("price_per_t_c", 100.0, "valuation: with discount_rate_pct, price_change_pct, baseline_year "
                     "and alternative_year", on=False))
    codes = sorted({int(v) for r in filter(None, (baseline, alternative)) for v in r.found.source.distinct()})
    if plan.pools is None:
        note = ("Not enabled: needs a pool table, a CSV of lucode, c_above, c_below, c_soil, c_dead [t C/ha] with "
                f"a row for each code of the land cover ({', '.join(map(str, codes))}).")
        return lines + _section("[stocks]", keys, note=note, on=False)
    return lines + _section("[stocks]", keys, note=[
        f"GUESS (check): {_evidence(plan.pools.guess)}",
        f"Check: the table covers the codes sampled in the land cover ({', '.join(map(str, codes))}); the run "
        "checks every cell."])


def _sinks(plan: _Plan, base: Path) -> list[str]:
    need = {"npp": "npp", "temperature": "temperature", "precipitation": "precipitation"}
    have = {key: plan.wired.get(role) for key, role in need.items()}
    nep = plan.landcover is not None and all(have.values())
    missing = [key for key, name in have.items() if not name] + ([] if plan.landcover else ["a land cover"])
    keys = [_Key("method", "nep" if nep else "coefficient",
                 "NEP = NPP - Rh on perennial vegetation" if nep else
                 "per-class coefficients on the parcels; \"nep\" needs " + ", ".join(missing))]
    for key in need:
        keys.append(_Key(key, have[key] or key, "a continuous [[rasters]] entry", on=nep))
    keys.append(_Key("landcover", plan.landcover.name if plan.landcover else "landcover", "", on=nep))
    wetlands = plan.single.get("wetlands")
    notes = ["How the balance's sinks are computed."]
    if wetlands is not None:
        usable = plan.usable("wetlands") is not None
        keys += [_Key("wetlands", _relative(wetlands.path, base), on=usable)]
        if _layer_key(wetlands):
            keys.append(_Key("wetlands_layer", _layer_key(wetlands), on=usable))
        keys.append(_guess_key("wetland_type_field", wetlands.guess.settings["wetland_type_field"],
                               "mangrove, salt_marsh, seagrass, tidal_flat, ...") if usable else
                    _Key("wetland_type_field", wetlands.guess.settings["wetland_type_field"], on=False))
        notes.append(f"GUESS (check): {_evidence(wetlands.guess)}")
        if not usable:
            notes.append(f"Wetlands not used: {wetlands.guess.blocker}")
    else:
        keys.append(_Key("wetlands", "wetlands.gpkg", "coastal wetland polygons (IPCC blue-carbon rates)", on=False))
    return _section("[sinks]", keys, note=notes)


def _vectors(plan: _Plan, base: Path) -> list[str]:
    lines = []
    for role, name, group in (("protection_zones", "protection_zones", "zones"), ("roads", "roads", "inputs")):
        found = plan.single.get(role)
        if found is None or (found.guess.blocker and "CRS" in found.guess.blocker):
            continue
        column = found.guess.settings.get("protection_field" if role == "protection_zones" else "class_field")
        keys = [_Key("name", name), *_source_keys(found, base)]
        if column:
            keys.append(_Key("column", column, "coloured by"))
        keys += [_Key("group", group)] + (_crs_keys(found.guess) if "assume_crs" in found.guess.settings else [])
        lines += _section("[[vectors]]", keys, note=f"{ROLES[role].capitalize()}, shown in the one map.")
    names = {"protection_zones", "roads"} | {r.name for r in plan.rasters}
    for found in plan.unused:
        source = found.source
        if not isinstance(source, VectorSample) or source.geometry == "none":
            continue
        name = _identifier(source.layer)
        while name in names:
            name += "_layer"
        names.add(name)
        lines += _section("[[vectors]]", [_Key("name", name), *_source_keys(found, base)],
                          note=f"Not recognised ({found.summary}): uncomment to show it in the one map.", on=False)
    return (["", "# ---- vector layers shown in the one map"] + lines) if lines else []


def _landcover_sections(plan: _Plan, base: Path) -> list[str]:
    """[landscape], [network], [renewables] and [screening]: each needs a land cover with a code system."""
    cover = plan.landcover
    on = cover is not None
    name = cover.name if cover else "landcover"
    missing = None if on else "Not enabled: needs a categorical land-cover raster with a code system."
    wired = plan.wired
    zones = plan.usable("protection_zones")
    buildings = plan.usable("buildings") if plan.usable("parcels") else None
    lines = ["", "# ---- ecology, renewables, screening: on the land cover"]
    lines += _section("[landscape]", [
        _Key("landcover", name),
        _Key("compare_with", plan.previous.name if plan.previous else "landcover_earlier", "metrics at both dates",
             on=plan.previous is not None),
        _Key("min_patch_area_ha", 1.0, "smaller ecological patches are not drawn", on=False),
    ], note=missing or "Ecological patches and fragmentation (see docs/methods/landscape.md).", on=on)
    lines += _section("[network]", [
        _Key("landcover", name),
        _Key("dem", wired.get("dem", "elevation"), "steeper slopes resist movement more", on="dem" in wired),
        _Key("min_core_area_ha", 10.0, "smallest core area that can be an ecological source", on=False),
        _Key("use_roads", True, "roads as barriers, from [roads]", on=False),
    ], note=missing or "Ecological sources, corridors, pinch points and barriers; the slowest stage.", on=on)
    keys = [_Key("landcover", name)]
    keys += [_Key(key, wired.get(key, key), "", on=key in wired) for key in ("ghi", "wind_speed")]
    keys += [_Key("dem", wired.get("dem", "elevation"), "", on="dem" in wired),
             _Key("heat_flow", wired.get("heat_flow", "heat_flow"), "", on="heat_flow" in wired)]
    keys += _zone_keys(zones, base)
    keys.append(_Key("rooftop", buildings is not None, "rooftop PV on the [buildings]" if buildings else
                     "rooftop PV needs [buildings]"))
    if buildings is not None:
        roof = buildings.guess.settings.get("roof_field", "")
        keys.append(_guess_key("roof_field", roof, "roof type field (flat / pitched)") if roof else
                    _Key("roof_field", "", "no roof-type field found: roofs are taken as flat"))
    keys.append(_Key("climate_zone", "hot_summer_cold_winter", "building climate zone: severe_cold, cold, "
                     "hot_summer_cold_winter, temperate or hot_summer_warm_winter", on=False))
    lines += _section("[renewables]", keys, note=missing or "The renewable potential map "
                      "(see docs/methods/renewables.md).", on=on)
    lines += _section("[screening]", [
        _Key("landcover", name),
        *[_Key(key, wired.get(key, key if key != "dem" else "elevation"), "", on=key in wired)
          for key in ("dem", "precipitation", "ndvi")],
        *_zone_keys(zones, base),
        _Key("tree_type", "broadleaf_subtropical", "broadleaf_/conifer_ subtropical or temperate, shrub, grass",
             on=False),
    ], note=missing or "Where to act first: rooftops and afforestation sites (see docs/methods/screening.md).", on=on)
    return lines


def _zone_keys(zones: Found | None, base: Path) -> list[_Key]:
    if zones is None:
        return [_Key("protection_zones", "zones.gpkg", "polygons of protection zones (a zone-name field)", on=False)]
    keys = _source_keys(zones, base, path_key="protection_zones", layer_key="protection_zones_layer")
    field_name = zones.guess.settings["protection_field"]
    return keys + [_guess_key("protection_field", field_name, "the zone-name field") if field_name != "zone"
                   else _Key("protection_field", "zone")]


def _timeline(plan: _Plan) -> list[str]:
    cover = plan.landcover
    on = cover is not None and plan.usable("parcels") is not None
    keys = [_Key("landcover", cover.name if cover else "landcover")]
    if cover is not None and cover.year:
        keys.append(_guess_key("base_year", cover.year, "the land cover's year"))
    else:
        keys.append(_Key("base_year", 2023, "the land cover's year: check"))
    keys.append(_Key("end_year", 2060))
    if plan.previous is not None and plan.previous.year:
        keys += [_Key("previous", plan.previous.name, "earlier land cover: Markov projection of land use"),
                 _Key("previous_year", plan.previous.year)]
    note = ("Scenarios and the road to 2060 (see docs/methods/scenarios.md); add [[scenarios]] tables, e.g. "
            "name = \"low_carbon\", sector_change_pct = { buildings = -15 }, target_year = 2030.")
    if not on:
        note = "Not enabled: the timeline needs emissions ([parcels]) and a land cover with a code system."
    return ["", "# ---- scenarios"] + _section("[timeline]", keys, note=note, on=on)


def _unused(plan: _Plan, base: Path) -> list[str]:
    """Comments naming the data sets the project does not use, and why."""
    items = [f for f in plan.unused if not isinstance(f.source, RasterSample)]
    if not items:
        return []
    lines = ["", "# ---- not used"]
    for found in items:
        why = found.source.reason if found.source.kind == "unreadable" else "role not recognised"
        if found.alternatives:
            why = "possibly " + ", ".join(f"{ROLES[g.role]} ({g.confidence})" for g in found.alternatives[:2])
        layer = f":{_layer_key(found)}" if _layer_key(found) else ""
        lines += _comment(f"{_relative(found.path, base)}{layer}: {why}.")
    return lines


# --------------------------------------------------------------------------- checklist and writing


def checklist(found: Sequence[Found]) -> list[str]:
    """What the user should check or fix before running, one line each."""
    plan = _plan(found)
    items = []
    for item in found:
        guess = item.guess
        if guess is None:
            continue
        if guess.confidence != "high":
            items.append(f"{item.label}: {ROLES[guess.role]}? ({guess.confidence} confidence)")
        items += [f"{item.label}: {check}" for check in guess.checks]
        if guess.blocker and guess.role == "units":
            items.append(f"{item.label}: fix before running: {guess.blocker}")
        elif guess.blocker and not (guess.role == "parcels" and plan.crosswalk is not None):
            items.append(f"{item.label}: not used as {ROLES[guess.role]}: {guess.blocker}")
    if plan.crosswalk is not None:
        parcels = plan.single["parcels"].guess.settings
        systems = _systems_knowing(plan.crosswalk.guess.settings.get("maps_to", []))
        items.append(f"{plan.crosswalk.label} maps the parcel codes {parcels['code_system']} lacks: check that its "
                     f"maps_to codes are {parcels['code_system']} codes (they are codes of {', '.join(systems)})")
    if plan.usable("parcels") is None:
        items.append("no usable land-use parcels: emissions, buildings, roads, point sources, inventory and the "
                     "timeline are left out")
    if plan.landcover is None:
        items.append("no land cover with a code system: stocks, landscape, network, renewables and screening are "
                     "left out")
    elif plan.pools is None:
        items.append("no pool table covering the land cover's codes: [stocks] is left out")
    if plan.landcover is not None:
        items.append("[renewables] climate_zone and [screening] tree_type keep their defaults: set them for the city")
    return items


def _systems_knowing(codes: Sequence[str]) -> list[str]:
    """The code systems that know every one of `codes`."""
    from carbonmap.landuse import CODE_SYSTEMS

    return [system for system in CODE_SYSTEMS if codes and known_code_share(codes, system)[0] == 1]


def write_starter_project(folder: str | os.PathLike, output: str | os.PathLike | None = None, *,
                          force: bool = False) -> tuple[Path, list[Found]]:
    """Survey `folder` and write a starter project file (default ``FOLDER/project.toml``).

    The file is validated with :func:`carbonmap.config.parse_project` before it is written, and
    written atomically. Returns its path and what was found.

    Raises
    ------
    InputNotFoundError
        The folder does not exist.
    OutputError
        The project file exists and `force` is false (nothing is written).
    EmptyInputError
        No data set can be the planning units (nothing is written).
    """
    import tomllib

    from carbonmap.config import parse_project
    from carbonmap.io import atomic_path

    folder = _existing_folder(folder)
    output = Path(output) if output is not None else folder / PROJECT_FILE
    if output.is_dir():
        raise OutputError("is a folder.", path=output, fix="give the project file's name, e.g. -o city.toml.")
    if output.exists() and not force:
        raise OutputError("already exists; carbonmap init never overwrites a project file.", path=output,
                          fix="pass --force to replace it, or -o to write another file.")
    found = survey_folder(folder)
    text = starter_project(folder, found, project_file=output)
    parse_project(tomllib.loads(text), output)  # as `carbonmap run` will read it
    with atomic_path(output) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return output, found
