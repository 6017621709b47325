"""What people read: numbers as people write them, column labels and class names in Chinese or English.

The report, the spreadsheet, the GeoPackage's field aliases, the QGIS styles and the end of a run
all write numbers and names through this module, so they read the same everywhere:

- :func:`format_number`: years without separators (``2030``), amounts with separators and no
  decimals from 1,000 on (``361,941``), other values to 3 significant digits in plain notation
  (``12.3``, ``0.0000229``; never ``2.287e-05``); missing values as an empty string.
- :func:`column_label`: the label of a summary or table column from the column dictionary
  (:mod:`carbonmap.columns`), the placeholders of pattern columns filled in (``landcover_2023_forest_area_ha``
  -> ``landcover_2023：林地面积``), or from ``words.csv`` (``column.<name>``) for the run's other tables.
- :func:`column_unit`: the unit of a column as a reader writes it, in either language.
- :func:`translate`: a class name, zone class or reason (from the code and rule tables, which
  carry both languages) in the run's language.
- :func:`cell_text`: a text cell of one of the run's tables: the value's own words (``words.csv``,
  ``value.<column>.<value>``: a proxy, a carbon pool), each item of a list, else :func:`translate`.

Examples
--------
>>> format_number(2030.0, year=True), format_number(361941.20999999996), format_number(2.287e-05)
('2030', '361,941', '0.0000229')
>>> column_label("net_co2_t_yr", "zh")
'净碳排放（吨CO₂/年）'
>>> column_label("landcover_2023_forest_area_ha", "en", rasters=("landcover_2023",))
'landcover_2023: forest area (ha)'
>>> translate("forest", "zh")
'林地'
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping
from importlib.resources import files

import numpy as np
import pandas as pd

from carbonmap.columns import column_info as _dictionary_row
from carbonmap.words import Text, words

__all__ = ["format_number", "format_values", "is_year_column", "column_label", "column_unit", "column_description",
           "per_year_unit", "translate", "cell_text", "table_title", "table_text", "translated",
           "rule_translations", "column_info", "attribute_label", "layer_fields"]

#: Significant digits of values below 1,000.
DIGITS = 3


def _missing(value) -> bool:
    try:
        return value is None or value is pd.NA or (isinstance(value, (float, np.floating)) and math.isnan(value))
    except TypeError:
        return False


def format_number(value, *, year: bool = False, digits: int = DIGITS) -> str:
    """`value` as people write it (module docstring); text and booleans pass through as text.

    Parameters
    ----------
    value : number, text or None
    year : bool
        Write a whole number without separators (``2030``).
    digits : int
        Significant digits of values below 1,000.

    Examples
    --------
    >>> [format_number(v) for v in (0, 0.5, 1.5, 12.345, 999.4, 1234.6, -58260.1, float("nan"))]
    ['0', '0.5', '1.5', '12.3', '999', '1,235', '-58,260', '']
    """
    if _missing(value):
        return ""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        return str(value)
    if year:
        return str(int(round(float(value))))
    number = float(value)
    if not math.isfinite(number):
        return "∞" if number > 0 else "-∞"
    size = abs(number)
    if size >= 10 ** digits or (isinstance(value, (int, np.integer)) and size >= 1):
        return f"{number:,.0f}"
    if size == 0:
        return "0"
    decimals = min(12, max(0, digits - 1 - math.floor(math.log10(size))))
    text = f"{number:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@functools.lru_cache(maxsize=4096)
def column_info(name: str) -> dict[str, str] | None:
    """The column dictionary's row for column `name` (:func:`carbonmap.columns.column_info`), but
    None for a column of a run's table that ``words.csv`` names (``column.<name>``) and the
    dictionary only matches by a pattern: ``connectivity_gain_sum_pct`` is the restoration
    scenarios' sum of the sites' gains, not a raster's zonal sum.

    Examples
    --------
    >>> column_info("connectivity_gain_sum_pct") is None, column_info("elevation_sum_m")["column"]
    (True, '<raster>_<stat>_<unit>')
    """
    info = _dictionary_row(name)
    if info is not None and "<" in info["column"] and _word(f"column.{name}", "en") is not None:
        return None
    return info


def is_year_column(name: str) -> bool:
    """Whether a column holds years (the dictionary's unit ``year``, or a name ending in ``year``)."""
    info = column_info(name)
    return (info is not None and info["unit"] == "year") or name == "year" or name.endswith("_year")


def format_values(values: Iterable, name: str = "") -> list[str]:
    """Each of `values` formatted for the column `name` (years as years)."""
    year = is_year_column(name)
    return [format_number(v, year=year) for v in values]


# --------------------------------------------------------------------------- units


@functools.cache
def _units() -> pd.DataFrame:
    with files("carbonmap.data").joinpath("words", "units.csv").open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle, dtype=str, keep_default_na=False)


def _unit_text(unit: str, language: str) -> str:
    """A unit written in English (the dictionary's ``unit`` column) or a unit key, in `language`."""
    if unit in ("", "-", "year"):  # a year is its own unit
        return ""
    table = _units()
    for column in ("en", "key"):
        rows = table[table[column] == unit]
        if len(rows):
            return rows.iloc[0][language]
    return unit


def column_unit(name: str, language: str) -> str:
    """The unit of column `name` as a reader writes it ('' for counts, indices, classes, names).

    Examples
    --------
    >>> column_unit("net_co2_t_yr", "zh"), column_unit("elevation_mean_m", "en"), column_unit("eco_np", "en")
    ('吨CO₂/年', 'm', '')
    >>> column_unit("trend_forest_cover_pct_per_yr", "en"), column_unit("trend_net_co2_t_yr_per_yr", "en")
    ('percentage points per year', 't CO2/yr per year')
    """
    info = column_info(name)
    if info is None:
        return ""
    if info["column"] == "trend_<indicator>_per_yr":
        return per_year_unit((_parts(name, info["column"], ()) or {}).get("indicator", ""), language)
    unit = info["unit"]
    if unit == "<unit>":
        parts = _parts(name, info["column"], ())
        unit = parts.get("unit", "") if parts else ""
    return _unit_text(unit, language)


def _unit_of_name(name: str, language: str) -> str:
    """The unit a column name ends with (``carbon_stock_t_co2`` -> t CO2), '' when none is known."""
    from carbonmap.words import unit_label

    keys = sorted(_packaged_csv("words", "units.csv")["key"], key=len, reverse=True)
    key = next((k for k in keys if name.endswith(f"_{k}")), None)
    return unit_label(key, language) if key else ""


def per_year_unit(indicator: str, language: str) -> str:
    """The unit of a monitoring trend of `indicator`: the indicator's unit per year (points of a share).

    In Chinese the label or sentence says 年均变化 (change per year), and the unit is the indicator's
    own: 净碳排放：年均变化（吨CO₂/年）, not 吨CO₂/年 每年.

    Examples
    --------
    >>> per_year_unit("net_co2_t_yr", "en"), per_year_unit("net_co2_t_yr", "zh"), per_year_unit("forest_pct", "zh")
    ('t CO2/yr per year', '吨CO₂/年', '个百分点')
    """
    if indicator.endswith("_pct"):
        return "个百分点" if language == "zh" else "percentage points per year"
    unit = column_unit(indicator, language) or _unit_of_name(indicator, language)
    if language == "zh":
        return unit
    return f"{unit} per year" if unit else "per year"


# --------------------------------------------------------------------------- labels

#: What a placeholder of a pattern column may hold (the rest: lower-case words).
_PLACEHOLDER = {"stat": r"sum|mean|min|max|std|median|percentile_[0-9.]+", "resource": "ground_pv|wind",
                "zone": "suitable|restricted|prohibited"}


def _parts(name: str, template: str, rasters: Iterable[str]) -> dict[str, str] | None:
    """The values of the placeholders of `template` in column `name` (raster names from `rasters` first)."""
    known = "|".join(re.escape(r) for r in sorted(rasters, key=len, reverse=True))
    pattern = ""
    for piece in re.split(r"(<\w+>)", template):
        match = re.fullmatch(r"<(\w+)>", piece)
        if not match:
            pattern += re.escape(piece)
            continue
        key = match.group(1)
        choices = _PLACEHOLDER.get(key, f"{known}|[a-z0-9_]+?" if key in ("raster", "date") and known
                                   else "[a-z0-9_]+?")
        pattern += f"(?P<{key}>{choices})"
    found = re.fullmatch(pattern, name)
    if found is None and template.endswith("_<unit>"):  # a raster without a unit: <raster>_<stat>
        return _parts(name, template.removesuffix("_<unit>"), rasters)
    return found.groupdict() if found else None


def _part_text(key: str, value: str, language: str, titles: dict[str, str]) -> str:
    """One placeholder's value in `language`: a layer's title, a class, a statistic, a sector, ..."""
    if key in ("raster", "date"):
        return titles.get(value, value)
    if key == "unit":
        return _unit_text(value, language)
    if key == "indicator":  # a monitoring trend: the indicator's own label
        return column_label(value, language, unit=False)
    if key == "scenario" and value in titles:  # a scenario's title in the project
        return titles[value]
    if key in ("stat", "resource", "zone", "sector", "scenario"):
        found = _word(f"{key}.{value}", language)
        if found is not None:
            return found
        if key == "stat" and value.startswith("percentile_"):
            return (f"{value.removeprefix('percentile_')} 百分位数" if language == "zh"
                    else f"{value.removeprefix('percentile_')}th percentile")
    if key == "class":
        return translate(value.replace("_", " "), language, slug=value)
    return value.replace("_", " ") if key != "scenario" else value


def _word(key: str, language: str, **fields) -> str | None:
    try:
        return words(key, **fields).in_(language)
    except KeyError:
        return None


def column_label(name: str, language: str, *, unit: bool = True, rasters: Iterable[str] = (),
                 titles: dict[str, str] | None = None) -> str:
    """The label of column `name` in `language`, with its unit in brackets when `unit`.

    Parameters
    ----------
    name : a column of the unit summary (the column dictionary) or of one of the run's tables
        (``words.csv``, key ``column.<name>``); an unknown name is shown with spaces for underscores.
    language : 'zh' or 'en'
    unit : add the unit in brackets
    rasters : the names of the run's rasters (to split ``<raster>_<class>_area_ha``)
    titles : name -> title of the run's layers (a raster's part of a label reads as its title)

    Examples
    --------
    >>> column_label("baseline_peak_year", "en")
    'Peak year: baseline'
    >>> column_label("peak_year", "zh")
    '达峰年份'
    """
    titles = titles or {}
    info = column_info(name)
    if info is None:
        return _table_column(name, language)
    if "<" in info["column"]:
        parts = _parts(name, info["column"], list(rasters) + list(titles)) or {}
        shown = {key: _part_text(key, value, language, titles) for key, value in parts.items()}
        text = _word(f"label.{info['column']}", language, **shown) if parts else None
        text = text or info[f"label_{language}"]
    else:
        text = info[f"label_{language}"]
    shown_unit = column_unit(name, language) if unit else ""
    if not shown_unit:
        return text
    return f"{text}（{shown_unit}）" if language == "zh" else f"{text} ({shown_unit})"


@functools.cache
def _wildcards() -> tuple[str, ...]:
    """The column prefixes of ``words.csv`` keys ``column.<prefix>*`` (e.g. ``covered_share_``)."""
    keys = _packaged_csv("words", "words.csv")["key"]
    return tuple(k.removeprefix("column.")[:-1] for k in keys if k.startswith("column.") and k.endswith("*"))


def _table_column(name: str, language: str) -> str:
    """The label of a column of one of the run's tables (``words.csv``), or its name with spaces."""
    text = _word(f"column.{name}", language)
    if text is not None:
        return text
    for prefix in _wildcards():
        if name.startswith(prefix) and len(name) > len(prefix):
            rest = name.removeprefix(prefix)
            return _word(f"column.{prefix}*", language, rest=translate(rest.replace("_", " "), language))
    if re.fullmatch(r"to_\w+", name):
        return "→ " + name.removeprefix("to_")
    return name.replace("_", " ")


@functools.cache
def layer_fields() -> dict[str, dict[str, str]]:
    """Labels and units of layer attributes (``words/fields.csv``: ``en``, ``zh``, ``unit_en``,
    ``unit_zh``), by column."""
    return _packaged_csv("words", "fields.csv").set_index("column").to_dict("index")


def attribute_label(name: str, language: str, **kwargs) -> str:
    """The label of attribute `name` of a vector layer (not the unit summary, not a table): its own
    words (``words/fields.csv``) first, with their unit, then :func:`column_label`.

    ``afforestation_sites.slope_mean_deg`` is a site's mean slope (平均坡度（°）), not the zonal
    mean of a raster named "slope", which the summary's column of that name would be.

    Examples
    --------
    >>> attribute_label("slope_mean_deg", "zh"), column_label("slope_mean_deg", "zh")
    ('平均坡度（°）', 'slope的平均值（deg）')
    """
    row = layer_fields().get(name)
    if row is None:
        return column_label(name, language, **kwargs)
    label, unit = row[language], row[f"unit_{language}"]
    label = label[:1].upper() + label[1:]  # a header, as the dictionary's labels are
    if not unit:
        return label
    return f"{label}（{unit}）" if language == "zh" else f"{label} ({unit})"


def column_description(name: str, language: str, *, attribute: bool = False, **kwargs) -> str:
    """One sentence on column `name` for a GIS user: the label, and the dictionary's description
    (written in English; in a Chinese run it follows the Chinese label). An `attribute` of a vector
    layer is labelled by :func:`attribute_label`, and described by the dictionary only when
    ``words/fields.csv`` does not name it."""
    if attribute and name in layer_fields():
        return attribute_label(name, language)
    info = column_info(name)
    label = column_label(name, language, **kwargs)
    if info is None:
        return label
    return f"{label}：{info['description']}" if language == "zh" else info["description"]


def table_title(name: str, language: str) -> str:
    """The title of one of the run's tables (``words.csv``: ``table.<name>``), or its name with spaces."""
    found = _word(f"table.{name}", language)
    return found if found is not None else name.replace("_", " ")


def table_text(name: str) -> Text:
    """:func:`table_title` in both languages (for a note that names a table)."""
    return Text(table_title(name, "en"), table_title(name, "zh"))


# --------------------------------------------------------------------------- class names


def _packaged_csv(*path: str) -> pd.DataFrame:
    with files("carbonmap.data").joinpath(*path).open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle, dtype=str, keep_default_na=False)


#: Tables with a name in both languages: (folder, file, English column, Chinese column).
_NAMED = (("landuse", "carbon_categories.csv", "name_en", "name_zh"),
          ("landuse", "clcd.csv", "name_en", "name_zh"),
          ("landuse", "esa_worldcover.csv", "name_en", "name_zh"),
          ("landuse", "ydyh_2023.csv", "name_en", "name_zh"),
          ("landuse", "gb_t_21010_2017.csv", "name_en", "name_zh"),
          ("landuse", "euluc_china.csv", "name_en", "name_zh"),
          ("landuse", "nlcd.csv", "name_en", "name_zh"),
          ("landuse", "esa_cci_lc.csv", "name_en", "name_zh"),
          ("landuse", "carbon_categories.csv", "carbon_category", "name_zh"),
          ("coefficients", "geothermal_classes.csv", "label_en", "label_zh"),
          ("coefficients", "geothermal_classes.csv", "class", "label_zh"),
          ("coefficients", "balance_classes.csv", "class", "label_zh"),
          ("coefficients", "compensation_classes.csv", "class", "label_zh"),
          ("coefficients", "compensation_classes.csv", "label_en", "label_zh"),
          ("coefficients", "efficiency_bands.csv", "label_en", "label_zh"),
          ("coefficients", "planning_stages.csv", "stage", "label_zh"),
          ("coefficients", "renewable_zoning_rules.csv", "reason", "reason_zh"),
          ("coefficients", "afforestation_rules.csv", "reason", "reason_zh"))


@functools.cache
def _names() -> dict[str, str]:
    """English name -> Chinese name, from the code and rule tables and ``words.csv`` (``class.*``)."""
    names: dict[str, str] = {}
    for folder, name, en, zh in _NAMED:
        table = _packaged_csv(folder, name)
        if en in table and zh in table:
            for english, chinese in zip(table[en], table[zh]):
                if english and chinese:
                    names.setdefault(english.strip().lower(), chinese.strip())
    classes = _packaged_csv("words", "classes.csv")
    for value, english, chinese in zip(classes["value"], classes["en"], classes["zh"]):
        if chinese:
            names.setdefault(value.strip().lower(), chinese.strip())
            names.setdefault(english.strip().lower(), chinese.strip())
    table = _packaged_csv("words", "words.csv")
    for key, english, chinese in zip(table["key"], table["en"], table["zh"]):
        if key.startswith(("class.", "scenario.")):
            names[key.partition(".")[2].replace("_", " ")] = chinese
            names.setdefault(english.strip().lower(), chinese)
    return names


def _slug(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_")


@functools.cache
def _english() -> dict[str, str]:
    """Column-name form of each class (``snow_ice``, ``nodata``) -> its English name (``snow/ice``, ``no data``)."""
    names = {}
    for folder, name, en, _ in _NAMED:
        table = _packaged_csv(folder, name)
        if en in table and "name_en" in table:
            names.update({_slug(v): v for v in table["name_en"] if v})
        if {"class", "label_en"} <= set(table.columns):  # a class table: its classes' English labels
            names.update({c: label for c, label in zip(table["class"], table["label_en"]) if c and label})
    classes = _packaged_csv("words", "classes.csv")
    names.update({value: english for value, english in zip(classes["value"], classes["en"]) if value and english})
    table = _packaged_csv("words", "words.csv")
    for key, english in zip(table["key"], table["en"]):
        if key.startswith(("class.", "scenario.")):
            names[key.partition(".")[2]] = english
    return names


def translated(text) -> Text:
    """:func:`translate` in both languages (for a note that names a class, zone or stage)."""
    return Text(translate(text, "en"), translate(text, "zh"))


def translate(text, language: str, *, slug: str | None = None, extra: dict[str, str] | None = None) -> str:
    """A class name, zone class, band, stage or reason in `language` (as it is when unknown).

    `extra`: more English -> Chinese names (e.g. a rule table of the run with its own ``reason_zh``).
    In English, a class's column-name form (``snow_ice``) reads as its name.
    """
    if _missing(text):
        return ""
    value = str(text)
    key = value.strip().lower()
    if language == "en":
        return _english().get(slug or value, value) if slug or "_" in value else value
    if extra and value in extra and extra[value]:
        return extra[value]
    names = _names()
    if key in names:
        return names[key]
    english = _english().get(slug or _slug(value))
    if english and english.lower() in names:
        return names[english.lower()]
    return value


#: Table columns whose cells list values of another column, comma-separated (a proxy's sub-sectors).
LIST_COLUMNS = {"proxy_sub_sectors": "sub_sector"}


def cell_text(column: str, value, language: str, *, extra: Mapping[str, str] | None = None) -> str:
    """A text cell of column `column` of one of the run's tables, in `language`.

    The value's own words come first (``words.csv``: ``value.<column>.<value>``, e.g. the proxy
    ``floor_area`` -> 建筑面积, the stock ``total_bas`` -> 碳储量合计（基准期）); a cell of a list column
    (:data:`LIST_COLUMNS`) has each of its items read so and listed as the language lists them
    (``commercial, public, residential`` -> 商业、公共、居住); anything else is a class name or
    reason (:func:`translate`, with `extra`).

    Examples
    --------
    >>> cell_text("proxy", "floor_area", "zh"), cell_text("proxy_sub_sectors", "commercial, public", "zh")
    ('建筑面积', '商业、公共')
    """
    if _missing(value):
        return ""
    text = str(value)
    if column in LIST_COLUMNS and text:
        items = [cell_text(LIST_COLUMNS[column], item.strip(), language, extra=extra) for item in text.split(",")]
        return ("、" if language == "zh" else ", ").join(items)
    own = _word(f"value.{column}.{text}", language)
    return own if own is not None else translate(value, language, extra=extra)


def rule_translations(tables: dict[str, pd.DataFrame]) -> dict[str, str]:
    """English -> Chinese reasons of the run's rule tables (their ``reason_zh``, a user's own rows included),
    readings of the landscape change (``reading_zh``) and names of the uncertain coefficients (a unit's
    most influential one), for :func:`translate`'s `extra`; a zoning rule's reason in both languages with
    the run's parameters it names (the wind setback's number of tip heights, as the zone-reason table says it)."""
    from carbonmap.coefficients import with_parameters
    from carbonmap.uncertainty import parameter_label

    parameters = _parameters(tables.get("coefficients_renewable_parameters"))
    out = {}
    for name, english, chinese in (("coefficients_renewable_zoning_rules", "reason", "reason_zh"),
                                   ("coefficients_afforestation_rules", "reason", "reason_zh"),
                                   ("afforestation_eligibility", "reason_en", "reason_zh"),
                                   ("afforestation_reasons", "reason", "reason_zh"),
                                   ("landscape_change", "reading", "reading_zh")):
        table = tables.get(name)
        if table is not None and {english, chinese} <= set(table.columns):
            out.update({with_parameters(r, parameters): with_parameters(z, parameters)
                        for r, z in zip(table[english], table[chinese]) if isinstance(z, str) and z})
    sensitivity = tables.get("uncertainty_sensitivity")
    if sensitivity is not None and "table" in sensitivity.columns:
        out.update({parameter_label(row, "en"): parameter_label(row, "zh") for row in sensitivity.to_dict("records")})
    return out


def _parameters(table: pd.DataFrame | None) -> dict[str, float]:
    """A scalar parameter table of the run (``parameter``, ``value``) as name -> number."""
    if table is None or not {"parameter", "value"} <= set(table.columns):
        return {}
    values = pd.to_numeric(table["value"], errors="coerce")
    return {name: float(v) for name, v in zip(table["parameter"], values) if not math.isnan(v)}
