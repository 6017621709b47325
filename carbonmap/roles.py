"""Guessing what each data set in a folder is for, from its geometry, field names and values.

``carbonmap init`` reads a folder (:mod:`carbonmap.survey`) and asks this module what each
data set might be: planning units, land-use parcels, buildings, roads, point sources, coastal
wetlands, protection zones (vector layers); land cover, elevation, NDVI, NPP, irradiation,
wind speed, temperature, precipitation, heat flow (rasters); an emission inventory, a carbon
pool table or a code crosswalk (CSV tables).

Every answer is a :class:`Guess`: a role, a score in [0, 1] (its :attr:`~Guess.confidence`:
high from 0.75, medium from 0.5, low below), the evidence in words, the settings a project file
needs (field names, code system, unit), what the user should check, and -- when the data cannot
be used as they are -- the *blocker* with its fix. :func:`assign_roles` then gives each data set
at most one role and each single role (units, parcels, ...) at most one data set, best first.

The rules are plain heuristics on names (English, Chinese and their pinyin abbreviations) and on
sampled values: land-use codes are checked with :func:`carbonmap.landuse.classify` against every
code system; raster values against the range a quantity takes in the unit carbonmap expects.
They are meant to be checked, and the project file marks each one.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from carbonmap.survey import RasterSample, Sample, TableSample, VectorSample

__all__ = ["ROLES", "SINGLE_ROLES", "RASTER_ROLES", "ASSIGN_MIN_SCORE", "Guess", "guess_roles", "assign_roles",
           "known_code_share", "raster_year", "coverage"]

#: Every role and what it means, in the order a project file lists them.
ROLES: dict[str, str] = {
    "units": "planning units",
    "parcels": "land-use parcels",
    "buildings": "building footprints",
    "roads": "road centre lines",
    "point_sources": "large point sources",
    "wetlands": "coastal wetlands",
    "protection_zones": "protection zones",
    "landcover": "land cover",
    "dem": "elevation (DEM)",
    "ndvi": "NDVI",
    "npp": "net primary production",
    "ghi": "global horizontal irradiation",
    "wind_speed": "wind speed",
    "temperature": "air temperature",
    "precipitation": "precipitation",
    "heat_flow": "terrestrial heat flow",
    "inventory": "emission inventory",
    "pools": "carbon pool table",
    "crosswalk": "land-use code crosswalk",
}
#: Roles a project has at most one data set for.
SINGLE_ROLES = ("units", "parcels", "buildings", "roads", "point_sources", "wetlands", "protection_zones",
                "inventory")
RASTER_ROLES = ("landcover", "dem", "ndvi", "npp", "ghi", "wind_speed", "temperature", "precipitation",
                "heat_flow")
#: Below this score a guess is reported but not used (except for the planning units, which a
#: project cannot do without).
ASSIGN_MIN_SCORE = 0.5
#: Code systems tried on parcel codes, preferred in this order when several know every code.
PARCEL_SYSTEMS = ("ydyh_2023", "gb_t_21010_2017", "euluc_china", "esa_worldcover", "clcd", "nlcd", "esa_cci_lc")
#: Code systems of land-cover products, tried first on categorical rasters.
RASTER_SYSTEMS = ("clcd", "esa_worldcover", "nlcd", "esa_cci_lc")
#: Values a raster without a declared nodata often uses for it.
_NODATA_LIKE = (0, 255, 127, -1, 65535, -9999, -32768)


@dataclass(frozen=True)
class Guess:
    """A role guessed for a data set.

    score : in [0, 1]; see :attr:`confidence`.
    evidence : why, in short phrases ("field 'code': 100 % of 500 features known to ydyh_2023").
    settings : project-file keys for the role (``{"id_field": "district_id", ...}``), plus a few
        facts the project writer needs (``year``, ``lucodes``).
    checks : what the user should verify (units of values, sampled-only checks, ...).
    blocker : why the data set cannot be used as it is, with the fix; None when it can.
    """

    role: str
    score: float
    evidence: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    checks: tuple[str, ...] = ()
    blocker: str | None = None

    @property
    def confidence(self) -> str:
        """'high' (score >= 0.75), 'medium' (>= 0.5) or 'low'."""
        return "high" if self.score >= 0.75 else "medium" if self.score >= 0.5 else "low"

    @property
    def usable(self) -> bool:
        """Good enough to write into a project file as it is."""
        return self.blocker is None and self.score >= ASSIGN_MIN_SCORE


def _guess(role: str, score: float, evidence, settings=None, checks=(), blocker=None) -> Guess:
    return Guess(role, round(min(max(score, 0.0), 1.0), 3), tuple(evidence), dict(settings or {}), tuple(checks),
                 blocker)


# --------------------------------------------------------------------------- names

def _names(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.IGNORECASE)


_ID = _names(r"(^|_)(id|fips|geoid)$|^id_|(^|_)(ad|geo|gb)?cod|code|^district|^county|^town|^zone_?id"
             r"|区县|区划|代码|编码|编号|^\w*(dm|bm)$")
_GENERIC_ID = _names(r"^(id|fid|gid|oid|uid|objectid|ogc_fid)$")
_NAME = _names(r"name|^nm_|_nm$|^nome|^nom$|^\w*mc$|名")
_POPULATION = _names(r"^pop|population|人口|常住|户籍|^rk$")
_GDP = _names(r"gdp|grp|生产总值|产值")
_UNITS_LAYER = _names(r"district|county|town|street|tract|ward|admin|boundar|unit|commune|municip|区|县|乡|镇"
                      r"|街道|单元|行政")
_CODE_FIELD = _names(r"code|^dl|dlbm|dldm|ydyh|yddm|land_?use|^lu|lucc|^class|^type|category|地类|用地|分类"
                     r"|编码|代码|类别")
_PARCELS_LAYER = _names(r"parcel|land_?use|dltb|lot|plot|euluc|ydyh|地块|用地|地类|图斑|宗地")
#: Names that say which code system a field, file or folder holds.
_SYSTEM_NAMES = ((_names(r"dlbm|dldm|地类编码|三调|gb_?t_?21010"), "gb_t_21010_2017"),
                 (_names(r"ydyh|yddm|用地用海|用地代码"), "ydyh_2023"), (_names(r"euluc"), "euluc_china"),
                 (_names(r"clcd"), "clcd"), (_names(r"worldcover"), "esa_worldcover"), (_names(r"nlcd"), "nlcd"),
                 (_names(r"(^|[^a-z])cci"), "esa_cci_lc"))
_FLOORS = _names(r"floor|storey|stories|^levels?$|building:levels|层数|楼层|^cs$")
_HEIGHT = _names(r"height|^h$|高度|^hgt$|_h$")
_USE = _names(r"^use$|^use_|_use$|usage|function|^type$|^category$|^class$|用途|功能|性质|类型|^yt$")
_ROOF = _names(r"roof|屋顶|屋面")
_BUILDINGS_LAYER = _names(r"build|bldg|footprint|house|建筑|房屋|楼")
_ROAD_CLASS = _names(r"class|highway|^type$|grade|^level$|^rank$|^kind$|等级|类型|^dj$")
_ROADS_LAYER = _names(r"road|street|highway|traffic|transport|道路|路网|公路")
_EMISSIONS = _names(r"co2|emission|排放|ghg|carbon|碳")
_SECTOR = _names(r"sector|部门|行业|industry|category|^type$")
_POINTS_LAYER = _names(r"point_?source|emitter|plant|facilit|factor|enterprise|企业|点源|排放源|工厂|电厂")
_WETLAND_FIELD = _names(r"wetland|type|class|类型|类别")
_WETLAND_LAYER = _names(r"wetland|mangrove|marsh|seagrass|tidal|湿地|红树|滩涂|盐沼")
_ZONE_FIELD = _names(r"zone|type|class|category|类型|管控|分区|类别")
_ZONES_LAYER = _names(r"protect|zone|red_?line|reserve|heritage|farmland|conserv|红线|保护|管控|基本农田|控制线")
_YEAR_TOKEN = re.compile(r"^(19[5-9]\d|20\d\d)$")

#: Chinese names of the protection zones the rule tables use.
ZONE_NAMES_ZH = {"生态保护红线": "ecological_protection_red_line", "永久基本农田": "permanent_basic_farmland",
                 "自然保护区": "nature_reserve", "自然保护地": "nature_reserve", "文物保护": "heritage",
                 "历史文化": "heritage"}
#: Chinese names of the wetland types carbonmap credits.
WETLAND_NAMES_ZH = {"红树林": "mangrove", "盐沼": "salt_marsh", "海草床": "seagrass", "滩涂": "tidal_flat",
                    "潮滩": "tidal_flat", "沼泽": "marsh", "泥炭地": "peatland"}


def _system_named(*texts: str) -> str | None:
    """The code system a name mentions ('dlbm' -> gb_t_21010_2017, 'xinwu_euluc' -> euluc_china)."""
    return next((system for pattern, system in _SYSTEM_NAMES for text in texts if pattern.search(text)), None)


def _place(sample) -> str:
    """The file's name with its two parent folders, and its layer: where names hint at contents."""
    return "/".join(sample.path.parts[-3:]) + "/" + (getattr(sample, "layer", None) or "")


def _first(names: Sequence[str], pattern: re.Pattern) -> str | None:
    return next((name for name in names if pattern.search(name)), None)


def _is_text(dtype: str) -> bool:
    return dtype in ("object", "str", "string")


def _is_number(dtype: str) -> bool:
    return dtype.startswith(("int", "uint", "float"))


def _values(sample: VectorSample, name: str) -> pd.Series:
    return sample.sample[name] if name in sample.sample else pd.Series([], dtype=object)


def _listing(counts: pd.Series, limit: int = 6) -> str:
    """'0199 (12), 0888 (3), ...' for the most frequent items of a value count."""
    shown = ", ".join(f"{value} ({n})" for value, n in counts.head(limit).items())
    return shown + (", ..." if len(counts) > limit else "")


# --------------------------------------------------------------------------- codes


def _code_text(value) -> str | None:
    """A code as text ('101' for 101 or 101.0); None for missing or fractional numbers."""
    if value is None or (isinstance(value, (float, np.floating)) and not np.isfinite(value)):
        return None
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else None
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    text = str(value).strip()
    return text or None


@functools.lru_cache(maxsize=None)
def _is_known(system: str, code: str) -> bool:
    from carbonmap.errors import CarbonmapError
    from carbonmap.landuse import classify

    try:
        classify([code], system)
    except CarbonmapError:
        return False
    return True


def known_code_share(values: Sequence, system: str) -> tuple[float, pd.Series]:
    """The share of (non-missing) `values` whose code `system` knows, and the unknown codes' counts.

    Codes are compared as :func:`carbonmap.landuse.classify` compares them (national codes that
    lost a leading zero are padded back); each distinct value is looked up once.
    """
    counts = pd.Series(np.asarray(values, dtype=object)).value_counts()
    codes = pd.Series([_code_text(v) for v in counts.index], index=counts.index, dtype=object)
    counts = counts[codes.notna().to_numpy()].groupby(codes.dropna().to_numpy()).sum().sort_values(ascending=False)
    if counts.empty:
        return 0.0, pd.Series([], dtype=int)
    known = np.array([_is_known(system, code) for code in counts.index])
    return float(counts[known].sum() / counts.sum()), counts[~known]


def _best_system(values: Sequence, systems: Sequence[str], named: str | None = None
                 ) -> tuple[str, float, pd.Series, list[tuple[str, float]]]:
    """The system `named` by the data (if it knows any of `values`), else the one knowing the
    largest share of them (the first of `systems` on ties).

    Returns the system, its share, its unknown codes and the (system, share) of the others.
    """
    systems = list(systems) + ([named] if named and named not in systems else [])
    results = {system: known_code_share(values, system) for system in systems}
    rank = {system: (system == named and results[system][0] > 0, results[system][0], -i)
            for i, system in enumerate(systems)}
    best = max(systems, key=rank.get)
    others = sorted(((s, results[s][0]) for s in systems if s != best and results[s][0] > 0),
                    key=lambda item: -item[1])
    return best, results[best][0], results[best][1], others


# --------------------------------------------------------------------------- vectors


def coverage(sample: Sample, others: Sequence[Sample]) -> float | None:
    """The share of `others` whose centre lies within `sample`'s lon/lat bounds (None: unknown)."""
    bounds = getattr(sample, "lonlat_bounds", None)
    centres = []
    for other in others:
        box = getattr(other, "lonlat_bounds", None)
        if other is not sample and box is not None:
            centres.append(((box[0] + box[2]) / 2, (box[1] + box[3]) / 2))
    if bounds is None or not centres:
        return None
    west, south, east, north = bounds
    return sum(west <= x <= east and south <= y <= north for x, y in centres) / len(centres)


def _crs_settings(sample: VectorSample) -> tuple[dict, list[str], str | None]:
    """assume_crs for a layer without a CRS: EPSG:4326 when its coordinates look like lon/lat."""
    if sample.crs_declared:
        return {}, [], None
    if sample.lonlat_bounds is not None:
        return ({"assume_crs": "EPSG:4326"},
                ["declares no CRS; its coordinates look like lon/lat, so assume_crs = \"EPSG:4326\""], None)
    return {}, [], ("declares no CRS and its coordinates are not lon/lat: set assume_crs to its CRS (e.g. "
                    "\"EPSG:4547\"), or define the CRS in a GIS.")


def _id_score(name: str, values: pd.Series, dtype: str) -> float:
    """How much a field looks like a unit id: 0 unless unique and complete in the sample."""
    if values.empty or values.isna().any() or not values.is_unique:
        return 0.0
    if dtype.startswith("float") and not np.all(np.mod(values.to_numpy(dtype=float), 1) == 0):
        return 0.0
    score = 0.4 + (0.5 if _ID.search(name) else 0.2 if _GENERIC_ID.search(name) else 0.0)
    score += 0.1 if (_is_text(dtype) or dtype.startswith(("int", "uint"))) else -0.2
    return score - (0.3 if _NAME.search(name) else 0.0)


def _gdp_unit(name: str, values: pd.Series) -> tuple[str, str]:
    """The GDP field's unit (cny_1e8, cny_1e4 or cny), from its name or else its magnitude."""
    if re.search(r"1e8|亿|_yi($|_)", name, re.IGNORECASE):
        return "cny_1e8", "its name says 10^8 CNY"
    if re.search(r"1e4|万|_wan($|_)", name, re.IGNORECASE):
        return "cny_1e4", "its name says 10^4 CNY"
    median = pd.to_numeric(values, errors="coerce").median()
    if not np.isfinite(median):
        return "cny_1e8", "unit unknown"
    unit = "cny_1e8" if median < 1e5 else "cny_1e4" if median < 1e9 else "cny"
    return unit, f"median {median:,.0f} fits {unit} for a planning unit"


def _units(sample: VectorSample, cover: float | None) -> Guess | None:
    if sample.geometry != "polygon" or not 0 < sample.count <= 5000:
        return None
    names = [n for n in sample.fields if n in sample.sample]
    ids = [(_id_score(n, _values(sample, n), sample.fields[n]), -i, n) for i, n in enumerate(names)]
    id_score, _, id_field = max(ids, default=(0.0, 0, None))
    if id_score < 0.4:
        return None
    n = len(sample.sample)
    evidence = [f"{sample.count} polygons" + (" (few, like planning units)" if sample.count <= 500 else ""),
                f"id {id_field!r}: unique in the {n} features read" + (", named like an id" if id_score >= 0.9 else "")]
    settings: dict[str, Any] = {"id_field": id_field}
    score = (0.2 if 2 <= sample.count <= 500 else 0.05) + 0.3 * min(id_score, 1.0)
    text = [m for m in names if m != id_field and _is_text(sample.fields[m]) and _NAME.search(m)]
    if text:
        name = max(text, key=lambda m: (_values(sample, m).is_unique, -text.index(m)))
        settings["name_field"] = name
        evidence.append(f"name {name!r}" + (f" (also {', '.join(repr(t) for t in text if t != name)})"
                                             if len(text) > 1 else ""))
        score += 0.1
    numbers = [m for m in names if _is_number(sample.fields[m])]
    population, gdp = _first(numbers, _POPULATION), _first(numbers, _GDP)
    if population:
        settings["population_field"] = population
        evidence.append(f"population {population!r}")
    if gdp:
        settings["gdp_field"] = gdp
        settings["gdp_unit"], why = _gdp_unit(gdp, _values(sample, gdp))
        evidence.append(f"GDP {gdp!r} ({settings['gdp_unit']}: {why})")
    score += 0.1 if population or gdp else 0.0
    if cover is None:
        score += 0.1
    else:
        score += 0.2 * cover
        evidence.append(f"covers {cover:.0%} of the other data sets")
    if _UNITS_LAYER.search(sample.layer) or _UNITS_LAYER.search(sample.path.stem):
        score += 0.1
        evidence.append("named like planning units")
    crs, crs_checks, blocker = _crs_settings(sample)
    settings.update(crs)
    checks = list(crs_checks)
    if re.search(r"gcj", sample.path.stem + sample.layer, re.IGNORECASE):
        settings["datum"] = "gcj02"
        evidence.append("'gcj' in the name: lon/lat of a Chinese web map (GCJ-02)")
    elif sample.lonlat_bounds and sample.crs_kind != "projected" and _in_china(sample.lonlat_bounds):
        checks.append("lon/lat over China: if they come from a Chinese web map (Amap, Tencent), set datum = "
                      "\"gcj02\"")
    if sample.count > n:
        checks.append(f"the id was checked on {n} of {sample.count} features; the run checks them all")
    return _guess("units", score, evidence, settings, checks, blocker)


def _in_china(bounds) -> bool:
    west, south, east, north = bounds
    return 73 <= west and east <= 136 and 17 <= south and north <= 54


@dataclass(frozen=True)
class _CodeField:
    """A field of land-use codes: the code system knowing most of them, or the one named."""

    name: str
    system: str
    share: float             # of the sampled features with a code the system knows
    unknown: pd.Series       # unknown code -> count
    others: list             # (system, share) of the other systems knowing some codes
    read: int                # features read
    named: bool              # the system is named by the field, file or folder


def _code_fields(sample: VectorSample) -> list[tuple[tuple, _CodeField]]:
    """Fields that may hold land-use codes, each with a ranking key (best last when sorted)."""
    place_system = _system_named(_place(sample))
    found = []
    for i, (name, dtype) in enumerate(sample.fields.items()):
        values = _values(sample, name).dropna()
        hinted = bool(_CODE_FIELD.search(name))
        if values.empty or not (_is_text(dtype) or (hinted and _is_number(dtype))):
            continue
        if values.nunique() > 300 or (len(values) > 50 and values.is_unique):
            continue  # ids or free text
        named = _system_named(name) or place_system
        system, share, unknown, others = _best_system(values, PARCEL_SYSTEMS, named)
        if share >= 0.3 or (named == system and share > 0):
            has_year = any(_YEAR_TOKEN.match(t) for t in re.split(r"[^0-9]+", name))
            found.append(((share, hinted, not has_year, -i),
                          _CodeField(name, system, share, unknown, others, len(values), named == system)))
    return found


def _parcels(sample: VectorSample) -> Guess | None:
    if sample.geometry != "polygon" or sample.count < 20:
        return None
    candidates = _code_fields(sample)
    if not candidates:
        return None
    code = max(candidates, key=lambda c: c[0])[1]
    also = f" (next: {code.others[0][0]} {code.others[0][1]:.0%})" if code.others else ""
    evidence = [f"{sample.count} polygons", f"code {code.name!r}: {code.share:.0%} of {code.read} features read "
                                            f"have a code known to {code.system}{also}"]
    if code.named:
        evidence.append(f"{code.system} named in the field, file or folder name")
    score = 0.25 + (0.15 if sample.count > 500 else 0.05) + 0.4 * max(code.share, 0.5 * code.named) \
        + (0.1 if _CODE_FIELD.search(code.name) else 0.0)
    if _PARCELS_LAYER.search(sample.layer) or _PARCELS_LAYER.search(sample.path.stem):
        score += 0.1
        evidence.append("named like parcels")
    settings = {"code_field": code.name, "code_system": code.system}
    crs, checks, blocker = _crs_settings(sample)
    settings.update(crs)
    checks = list(checks)
    if len(code.unknown):
        settings["unknown_codes"] = list(code.unknown.index)
        blocker = blocker or (f"{len(code.unknown)} sampled code(s) are not in {code.system}: "
                              f"{_listing(code.unknown)}. Map them in a crosswalk CSV (code,maps_to) and set "
                              "crosswalk = \"...\" in [parcels].")
    elif sample.count > code.read:
        checks.append(f"codes checked on {code.read} of {sample.count} features; the run checks them all")
    return _guess("parcels", score, evidence, settings, checks, blocker)


def _buildings(sample: VectorSample) -> Guess | None:
    if sample.geometry != "polygon":
        return None
    numbers = [n for n, dtype in sample.fields.items() if _is_number(dtype)]
    floors, height = _first(numbers, _FLOORS), _first(numbers, _HEIGHT)
    if not floors and not height:
        return None
    evidence = [f"{sample.count} polygons"]
    settings: dict[str, Any] = {"floors_field": floors or "", "height_field": height}
    evidence.append(", ".join(f"{what} {name!r}" for what, name in (("floors", floors), ("height", height)) if name))
    score = 0.2 + 0.3
    if sample.count > 500:
        score += 0.15
    if sample.median_area_m2 is not None and sample.median_area_m2 < 5000:
        score += 0.15
        evidence.append(f"small (median {sample.median_area_m2:,.0f} m2)")
    if _BUILDINGS_LAYER.search(sample.layer) or _BUILDINGS_LAYER.search(sample.path.stem):
        score += 0.1
        evidence.append("named like buildings")
    crs, checks, blocker = _crs_settings(sample)
    settings.update(crs)
    checks = list(checks)
    text = [n for n, dtype in sample.fields.items() if _is_text(dtype)]
    use = _first(text, _USE)
    if use:
        from carbonmap.coefficients import rooftop_pv_usable

        uses = set(rooftop_pv_usable().index) - {"other"}
        values = _values(sample, use).dropna().astype(str).str.lower()
        share = float(values.isin(uses).mean()) if len(values) else 0.0
        settings["use_field"] = use
        evidence.append(f"use {use!r} ({share:.0%} {'/'.join(sorted(uses))})")
        score += 0.1
        if share < 1:
            others = values[~values.isin(uses)].value_counts()
            checks.append(f"uses {_listing(others, 4)} are none of {', '.join(sorted(uses))}: they count as "
                          "'other' for rooftop PV and the buildings sector")
    else:
        blocker = blocker or ("no use field (residential, commercial, public, industrial): [buildings] needs one; "
                              "add it, or leave buildings out.")
    roof = _first(text, _ROOF)
    settings["roof_field"] = roof or ""
    if roof:
        evidence.append(f"roof {roof!r}")
    return _guess("buildings", score, evidence, settings, checks, blocker)


def _roads(sample: VectorSample) -> Guess | None:
    if sample.geometry != "line":
        return None
    from carbonmap.coefficients import road_class_weights

    weights = set(road_class_weights().index)
    text = [n for n, dtype in sample.fields.items()
            if _is_text(dtype) and _ROAD_CLASS.search(n) and 0 < _values(sample, n).nunique() <= 60]
    evidence, settings, score, blocker = [f"{sample.count} lines"], {}, 0.4, None
    if _ROADS_LAYER.search(sample.layer) or _ROADS_LAYER.search(sample.path.stem):
        score += 0.1
        evidence.append("named like roads")
    crs, checks, crs_blocker = _crs_settings(sample)
    settings.update(crs)
    if text:
        shares = {n: float(_values(sample, n).dropna().astype(str).isin(weights).mean()) for n in text}
        class_field = max(text, key=lambda n: (shares[n], -text.index(n)))
        settings["class_field"] = class_field
        score += 0.3 + 0.2 * shares[class_field]
        evidence.append(f"class {class_field!r} ({shares[class_field]:.0%} of the classes have a weight)")
        classes = _values(sample, class_field).dropna().astype(str)
        unknown = classes[~classes.isin(weights)].value_counts()
        if len(unknown):
            blocker = (f"road classes without a weight: {_listing(unknown)}. Give them weights in a CSV "
                       f"(road_class,weight,source) named by [emissions] road_weights; carbonmap knows "
                       f"{', '.join(sorted(weights))}.")
    else:
        blocker = "no road-class field (road_class, fclass, highway, 等级): [roads] needs one."
    return _guess("roads", score, evidence, settings, checks, crs_blocker or blocker)


def _point_sources(sample: VectorSample) -> Guess | None:
    if sample.geometry != "point":
        return None
    numbers = [n for n, dtype in sample.fields.items() if _is_number(dtype)]
    emissions = _first(numbers, _EMISSIONS)
    if not emissions:
        return None
    evidence = [f"{sample.count} points", f"emissions {emissions!r}"]
    settings = {"emissions_field": emissions}
    score = 0.7
    checks = [] if re.search(r"t_?yr|t/a|吨", emissions, re.IGNORECASE) else \
        [f"{emissions!r} is read as t CO2/yr: check its unit"]
    sector = _first([n for n, dtype in sample.fields.items() if _is_text(dtype)], _SECTOR)
    blocker = None
    if sector:
        settings["sector_field"] = sector
        evidence.append(f"sector {sector!r}")
        score += 0.2
    else:
        blocker = "no sector field: [point_sources] needs the inventory sector of each source (e.g. industry)."
    if _POINTS_LAYER.search(sample.layer) or _POINTS_LAYER.search(sample.path.stem):
        score += 0.1
        evidence.append("named like point sources")
    crs, crs_checks, crs_blocker = _crs_settings(sample)
    settings.update(crs)
    return _guess("point_sources", score, evidence, settings, checks + crs_checks, crs_blocker or blocker)


@functools.cache
def wetland_types() -> tuple[str, ...]:
    """Wetland types carbonmap credits (the ``wetland_*`` carbon categories with a coefficient)."""
    from carbonmap.coefficients import landuse_coefficients

    categories = landuse_coefficients()["carbon_category"].astype(str)
    return tuple(sorted(c.removeprefix("wetland_") for c in set(categories) if c.startswith("wetland_")))


def _wetlands(sample: VectorSample) -> Guess | None:
    if sample.geometry != "polygon":
        return None
    types = set(wetland_types())
    named = bool(_WETLAND_LAYER.search(sample.layer) or _WETLAND_LAYER.search(sample.path.stem))
    best = None
    for i, (name, dtype) in enumerate(sample.fields.items()):
        values = _values(sample, name).dropna().astype(str).str.strip()
        if not _is_text(dtype) or values.empty or values.nunique() > 30:
            continue
        share = float(values.isin(types).mean())
        share_zh = float(values.isin(WETLAND_NAMES_ZH).mean())
        if share > 0 or (named and share_zh > 0):
            key = (share, share_zh, bool(_WETLAND_FIELD.search(name)), -i)
            if best is None or key > best[0]:
                best = (key, name, values)
    if best is None:
        return None
    (share, share_zh, hinted, _), type_field, values = best
    evidence = [f"{sample.count} polygons", f"type {type_field!r}: {share:.0%} wetland types carbonmap credits"]
    score = 0.3 + 0.5 * max(share, share_zh / 2) + (0.1 if hinted else 0.0) + (0.1 if named else 0.0)
    if named:
        evidence.append("named like wetlands")
    crs, checks, blocker = _crs_settings(sample)
    unknown = values[~values.isin(types)].value_counts()
    if len(unknown):
        zh = [f"{k} -> {v}" for k, v in WETLAND_NAMES_ZH.items() if k in unknown.index]
        blocker = blocker or (f"values {_listing(unknown)} are not wetland types ({', '.join(sorted(types))})"
                              + (f"; rename them ({', '.join(zh)})" if zh else "; rename them") + ".")
    return _guess("wetlands", score, evidence, {"wetland_type_field": type_field, **crs}, checks, blocker)


@functools.cache
def zone_names() -> tuple[str, ...]:
    """Protection-zone names the renewable-zoning and afforestation rules apply to."""
    from carbonmap.coefficients import afforestation_rules, renewable_zoning_rules

    names = set()
    for table in (renewable_zoning_rules(), afforestation_rules()):
        names |= set(table.loc[table["constraint_type"] == "zone", "constraint"].astype(str))
    return tuple(sorted(names))


def _protection_zones(sample: VectorSample) -> Guess | None:
    if sample.geometry != "polygon":
        return None
    known = set(zone_names())
    named = bool(_ZONES_LAYER.search(sample.layer) or _ZONES_LAYER.search(sample.path.stem))
    best = None
    for i, (name, dtype) in enumerate(sample.fields.items()):
        values = _values(sample, name).dropna().astype(str).str.strip()
        if not _is_text(dtype) or values.empty or values.nunique() > 50:
            continue
        share = float(values.isin(known).mean())
        share_zh = float(values.map(lambda v: any(k in v for k in ZONE_NAMES_ZH)).mean())
        hinted = bool(_ZONE_FIELD.search(name))
        if share > 0 or share_zh > 0 or (named and hinted):
            key = (share, name.lower() == "zone", share_zh, hinted, -i)
            if best is None or key > best[0]:
                best = (key, name, values)
    if best is None:
        return None
    (share, _, share_zh, hinted, _), zone_field, values = best
    evidence = [f"{sample.count} polygons", f"zone {zone_field!r}: {share:.0%} zone names the rules use"
                + (f", {share_zh:.0%} Chinese zone names" if share_zh else "")]
    score = 0.3 + 0.4 * max(share, share_zh / 2) + (0.1 if hinted else 0.0) + (0.2 if named else 0.0)
    if named:
        evidence.append("named like protection zones")
    crs, checks, blocker = _crs_settings(sample)
    checks = list(checks)
    unknown = values[~values.isin(known)].value_counts()
    if len(unknown):
        zh = sorted({f"{k} -> {v}" for k, v in ZONE_NAMES_ZH.items() if any(k in u for u in unknown.index)})
        checks.append(f"zones {_listing(unknown, 4)} are not names the rules use ({', '.join(sorted(known))}): "
                      "they are drawn but no rule applies to them" + (f"; rename them ({', '.join(zh)})" if zh else ""))
    return _guess("protection_zones", score, evidence, {"protection_field": zone_field, **crs}, checks, blocker)


# --------------------------------------------------------------------------- rasters


@dataclass(frozen=True)
class _Quantity:
    """What a continuous raster of a role holds: names, plausible range and unit."""

    role: str
    names: str            # alternatives of a name token (regex), matched between '_' or the ends
    names_zh: str         # Chinese substrings (regex)
    plausible: tuple[float, float]   # [min, max] of the values in carbonmap's unit
    unit: str             # unit label used in column names
    unit_tag: str         # regex matching the unit in the file's tags
    stats: tuple[str, ...] = ("mean",)
    excludes: str = "$^"  # name tokens of look-alikes (regex)


QUANTITIES = (
    _Quantity("dem", r"dem|dtm|elev|elevation|srtm|aster|alos|copdem|gmted|altitude|terrain|topography",
              r"高程|地形", (-500, 9000), "m", r"^(m|metres?|meters?)$", ("mean", "min", "max")),
    _Quantity("ndvi", r"ndvi", r"植被指数", (-1.0001, 1.0001), "", r"^(1|-|unitless|none)$"),
    _Quantity("npp", r"npp|net_primary_production|net_primary_productivity", r"净初级", (-500, 4000), "g_c_m2_yr",
              r"g ?c"),
    _Quantity("ghi", r"ghi|irradiation|irradiance|solar|radiation|gsa|insolation|ssrd", r"辐射|日照|太阳",
              (500, 3000), "kwh_m2_yr", r"kwh", excludes=r"pvout|dni|dif|gti|opta|pv"),
    _Quantity("wind_speed", r"wind|ws|ws\d+m?|wspd|windspeed|wind_speed", r"风速|风能", (0, 40), "m_s",
              r"m ?s-1|m/s", ("mean", "max")),
    _Quantity("temperature", r"temp|temperature|tmean|tavg|tas|t2m|tmp|air_temperature", r"气温|温度", (-50, 45),
              "degc", r"deg ?c|°c|celsius|^c$"),
    _Quantity("precipitation", r"prec|precip|precipitation|prcp|pre|pr|rain|rainfall|ppt", r"降水|降雨",
              (0, 12000), "mm_yr", r"mm"),
    _Quantity("heat_flow", r"heat_flow|heatflow|hf|geotherm\w*|terrestrial_heat", r"热流|地热", (0, 300), "mw_m2",
              r"mw"),
)
_LANDCOVER_NAMES = (r"lc|lulc|lucc|lu|landcover|land_cover|land_use|landuse|clcd|worldcover|nlcd|cci_lc|ccilc|cci"
                    r"|glc\d*|globeland\d*|dynamic_world|classification", r"土地覆盖|土地利用|地表覆盖|土地覆被")
_TAG_TEXT_KEYS = ("quantity", "description", "long_name", "standard_name", "title", "name", "layer")


def _normalised(text: str, *, split_numbers: bool = True) -> str:
    """'Wind_Speed-100m' -> 'wind_speed_100_m': lower case, '_' between words (and numbers)."""
    text = text.lower()
    if split_numbers:
        text = re.sub(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])", "_", text)
    return "_".join(t for t in re.split(r"[^0-9a-z\u4e00-\u9fff]+", text) if t)


def _named(text: str, names: str, names_zh: str) -> bool:
    """Whether `text` holds one of `names` as a word ('ndvi2023', 'ndvi_2023' and 't2m' all count)."""
    pattern = rf"(^|_)({names})(_|$)"
    return bool(re.search(pattern, _normalised(text)) or re.search(pattern, _normalised(text, split_numbers=False))
                or re.search(names_zh, text))


def _raster_texts(sample: RasterSample) -> tuple[str, str]:
    """The file's stem and the text of its descriptive tags."""
    tags = " ".join(sample.tags[k] for k in _TAG_TEXT_KEYS if k in sample.tags)
    return sample.path.stem, tags


def raster_year(sample: RasterSample) -> int | None:
    """The year of a raster, from its 'year' tag or a year in its file name."""
    tag = sample.tags.get("year", "")
    if _YEAR_TOKEN.match(tag.strip()):
        return int(tag)
    years = [t for t in _normalised(sample.path.stem).split("_") if _YEAR_TOKEN.match(t)]
    return int(years[-1]) if years else None


def _unit_trouble(quantity: _Quantity, low: float, high: float, median: float, integral: bool) -> str | None:
    """A plain-language reason when values fit the quantity only in another unit."""
    role = quantity.role
    if role == "ndvi" and integral and -10000 <= low and high <= 10000 and high > 1:
        return "values look scaled (x 10,000, as MODIS NDVI); carbonmap expects -1..1"
    if role == "temperature" and 200 <= low and high <= 330:
        return "values look like kelvin; carbonmap expects the annual mean in degrees C"
    if role == "temperature" and integral and -500 <= low and high <= 450:
        return "values look scaled (x 10); carbonmap expects degrees C"
    if role == "ghi" and 1 <= median <= 9:
        return "values look daily (kWh m-2 day-1); carbonmap expects annual kWh m-2 yr-1"
    if role == "ghi" and 80 <= median <= 350:
        return "values look like mean irradiance in W m-2 (x 8.76 gives kWh m-2 yr-1); carbonmap expects annual"
    if role == "precipitation" and 0 <= low and median < 30:
        return "values look daily or monthly; carbonmap expects annual precipitation in mm"
    if role == "npp" and 0 <= low and high <= 4:
        return "values look like kg C m-2 yr-1; carbonmap expects g C m-2 yr-1"
    return None


def _continuous(sample: RasterSample, quantity: _Quantity) -> Guess | None:
    stem, tags = _raster_texts(sample)
    named = _named(stem, quantity.names, quantity.names_zh) or (tags and _named(tags, quantity.names,
                                                                                quantity.names_zh))
    if re.search(rf"(^|_)({quantity.excludes})(_|$)", _normalised(stem)):
        return None
    if not named and quantity.role != "ndvi":
        return None
    values = sample.values
    if values.size == 0:
        return None
    low, high, median = float(values.min()), float(values.max()), float(np.median(values))
    fits = quantity.plausible[0] <= low and high <= quantity.plausible[1] and high > low
    if quantity.role == "precipitation":
        fits = fits and median >= 30
    if quantity.role == "ghi":
        fits = quantity.plausible[0] <= median <= quantity.plausible[1]
    if not named and not (fits and low < 0 < high and not sample.is_integer_dtype):
        return None  # an NDVI without its name: only negative-to-positive floats within -1..1
    evidence = ["named so (file name or tags)" if named else "values only (the name does not say)",
                f"values {_number(low)} to {_number(high)}" + (" (plausible)" if fits else "")]
    if named:
        score = 0.85 if fits else 0.4
    else:  # vegetation reaches 0.5 or more, water is negative
        score = 0.5 if 0.5 <= high and low < 0 else 0.4
    unit = sample.tags.get("unit", "").strip()
    if unit and re.search(quantity.unit_tag, unit, re.IGNORECASE):
        score += 0.15
        evidence.append(f"unit tag {unit!r}")
    checks = []
    trouble = None if fits else _unit_trouble(quantity, low, high, median, sample.all_integral)
    if trouble:
        checks.append(trouble)
    elif not fits:
        checks.append(f"values {_number(low)} to {_number(high)} are unusual for {ROLES[quantity.role]}")
    settings = {"kind": "continuous", "unit": quantity.unit, "stats": list(quantity.stats)}
    if sample.crs is None:
        checks.append("declares no CRS: set assume_crs for it")
    return _guess(quantity.role, score, evidence, settings, checks)


def _landcover(sample: RasterSample) -> Guess | None:
    stem, tags = _raster_texts(sample)
    named = _named(stem, *_LANDCOVER_NAMES) or (tags and _named(tags, *_LANDCOVER_NAMES))
    distinct = sample.distinct(limit=64)
    if distinct is None or distinct.size == 0 or not (sample.is_integer_dtype or (named and sample.all_integral)):
        return None
    system_named = sample.tags.get("code_system") or _system_named(_place(sample), tags)
    systems = RASTER_SYSTEMS + tuple(s for s in PARCEL_SYSTEMS if s not in RASTER_SYSTEMS)
    if system_named not in systems:
        system_named = None
    values = sample.values.astype(np.int64)
    first = RASTER_SYSTEMS if system_named in (None, *RASTER_SYSTEMS) else systems
    system, share, unknown, others = _best_system(values, first, system_named)
    if share < 1 and system_named is None:  # a raster of a planning classification, seldom
        system, share, unknown, others = _best_system(values, systems, system)
    evidence = [f"integer values, {distinct.size} classes" + (f" ({_codes(distinct)})" if distinct.size <= 12 else ""),
                f"{share:.0%} of the cells read have a code known to {system}"
                + (f" (next: {others[0][0]} {others[0][1]:.0%})" if others else "")]
    score = 0.3 + 0.3 * share
    if named:
        score += 0.2
        evidence.append("named like land cover")
    if system_named:
        score += 0.2
        evidence.append(f"{system_named} named in the file" + ("'s tags" if sample.tags.get("code_system") else
                                                                " or folder name"))
    checks, blocker = [], None
    mismatch = _class_name_mismatch(sample.tags, system)
    if mismatch:
        blocker = f"the file's classes ({mismatch}) are not {system}'s: give the code system of this land cover."
        score -= 0.3
    elif len(unknown):
        nodata_like = [int(c) for c in unknown.index if c.lstrip("-").isdigit() and int(c) in _NODATA_LIKE]
        blocker = f"cell values {_listing(unknown)} are not {system} codes"
        if nodata_like and sample.nodata is None:
            blocker += (f": if {nodata_like[0]} means no data, declare it (gdal_edit.py -a_nodata {nodata_like[0]} "
                        f"{sample.path.name})")
        blocker += "; without a code system the raster is summarised by code only."
    elif distinct.size <= 4 and not system_named:
        checks.append(f"only {distinct.size} classes: the code system is guessed from the values alone")
    settings = {"kind": "categorical", "code_system": None if blocker else system, "year": raster_year(sample)}
    return _guess("landcover", score, evidence, settings, checks, blocker)


def _class_name_mismatch(tags: dict[str, str], system: str) -> str | None:
    """'1=forest, 2=built' when the file's own class names contradict `system`'s names."""
    text = next((tags[k] for k in ("classes", "class_names", "legend") if k in tags), "")
    pairs = re.findall(r"(\d+)\s*[=:]\s*([^;,=]+)", text)
    if not pairs:
        return None
    from carbonmap.landuse import code_table

    table = code_table(system)
    names = dict(zip(table["code"].astype(str), table["name_en"].str.lower()))
    wrong = [(c, n.strip()) for c, n in pairs if c in names and not (n.strip().lower() in names[c]
                                                                     or names[c] in n.strip().lower())]
    checked = [c for c, _ in pairs if c in names]
    if checked and len(wrong) * 2 > len(checked):
        return ", ".join(f"{c}={n}" for c, n in wrong[:4])
    return None


def _codes(values: np.ndarray) -> str:
    return ", ".join(str(int(v)) for v in values)


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


# --------------------------------------------------------------------------- tables


def _table(sample: TableSample) -> list[Guess]:
    from carbonmap.stocks import POOLS

    columns = set(sample.columns)
    lower = {c.lower(): c for c in sample.columns}
    guesses = []
    if {"sector", "co2_t_yr"} <= columns:
        from carbonmap.emissions import PROXY_CHOICES

        extra = [c for c in ("sub_sector", "year") if c in columns]
        sectors = sample.sample["sector"].dropna().astype(str).str.strip()
        unmapped = sorted(set(sectors) - set(PROXY_CHOICES))
        checks = [f"sector(s) {', '.join(unmapped)} have no proxy ({', '.join(PROXY_CHOICES)}): their emissions are "
                  "reported but not mapped"] if unmapped else []
        guesses.append(_guess("inventory", 0.85 + 0.15 * bool(extra), [
            f"columns sector, co2_t_yr{''.join(', ' + c for c in extra)}", f"{len(sample.sample)} rows read"],
            checks=checks))
    elif "sector" in lower and (emissions := _first(sample.columns, _EMISSIONS)):
        guesses.append(_guess("inventory", 0.5, [f"columns {lower['sector']}, {emissions}"], blocker=(
            f"rename the columns to sector and co2_t_yr (t CO2/yr): {lower['sector']!r}, {emissions!r}.")))
    if {"lucode", *POOLS} <= set(lower):
        codes = pd.to_numeric(sample.sample[lower["lucode"]], errors="coerce").dropna().astype(int)
        system = _system_named(sample.path.stem)
        guesses.append(_guess("pools", 0.9, [f"columns lucode, {', '.join(POOLS)}", f"{len(codes)} land-cover codes"],
                              {"lucodes": sorted(set(codes)), "system": system}))
    if "code" in lower and ("maps_to" in lower or {"space", "carbon_category", "ecological"} <= set(lower)):
        codes = [_code_text(v) for v in sample.sample[lower["code"]]]
        targets = [_code_text(v) for v in sample.sample[lower["maps_to"]]] if "maps_to" in lower else []
        guesses.append(_guess("crosswalk", 0.8, ["columns code, " + ("maps_to" if "maps_to" in lower else
                                                                      "space, carbon_category, ecological")],
                              {"codes": sorted({c for c in codes if c}), "maps_to": sorted({c for c in targets if c})}))
    return guesses


# --------------------------------------------------------------------------- all together


def guess_roles(sample: Sample, others: Sequence[Sample] = ()) -> list[Guess]:
    """Every role `sample` might have, best first (`others`: the folder's other data sets)."""
    if isinstance(sample, VectorSample):
        cover = coverage(sample, others)
        guesses = [_units(sample, cover), _parcels(sample), _buildings(sample), _roads(sample),
                   _point_sources(sample), _wetlands(sample), _protection_zones(sample)]
    elif isinstance(sample, RasterSample):
        guesses = [_landcover(sample)] + [_continuous(sample, quantity) for quantity in QUANTITIES]
    elif isinstance(sample, TableSample):
        guesses = _table(sample)
    else:
        guesses = []
    return sorted((g for g in guesses if g is not None), key=lambda g: -g.score)


def assign_roles(candidates: Sequence[Sequence[Guess]]) -> list[Guess | None]:
    """One role per data set (or None), given each data set's candidate guesses.

    Highest scores first: a data set takes its best role still open; a role of
    :data:`SINGLE_ROLES` goes to one data set only. Guesses scoring below
    :data:`ASSIGN_MIN_SCORE` are not assigned, except for the planning units.
    """
    ranked = sorted(((guess.score, -i, -j, i, guess) for i, guesses in enumerate(candidates)
                     for j, guess in enumerate(guesses)), key=lambda item: item[:3], reverse=True)
    assigned: list[Guess | None] = [None] * len(candidates)
    taken: set[str] = set()
    for score, _, _, i, guess in ranked:
        if assigned[i] is not None or (guess.role in SINGLE_ROLES and guess.role in taken):
            continue
        if score < ASSIGN_MIN_SCORE and guess.role != "units":
            continue
        assigned[i] = guess
        taken.add(guess.role)
    return assigned
