"""The interactive planning map: one self-contained HTML page (Leaflet and carbonmap's own script).

:func:`build_page` draws, in the run's language (``zh`` or ``en``):

- a **header** with the plan's name and the citywide key figures (sources, sinks, net emissions,
  the peak year when the run has scenarios);
- the **planning units**: net emissions classed on a diverging palette centred at zero (shown on
  load), the carbon balance class and the carbon efficiency grade as categories, one choropleth
  per headline column in its theme's group, the units' boundaries and names; a click on a unit
  opens its **card** (key figures by theme, each with a bar against the mean of the units, and every
  figure of ``unit_summary`` behind a "details" fold, labelled from the column dictionary);
- every **layer** of the run, grouped by theme, each with a classed legend: classes by quantiles,
  natural breaks (Jenks), equal intervals or powers of ten, set per layer in
  ``carbonmap/data/web/map_classes.csv`` (diverging around zero where the sign matters), on
  ColorBrewer palettes; categories named from the code tables and ``carbonmap/data/words``;
- a **layer panel** (groups that fold, a filter box; a drawer on phones) and a **find box** that
  highlights the unit found, says when nothing matches and tells units of the same name apart.

No raw column name, class code or unit key reaches a reader: column labels come from the column
dictionary (:mod:`carbonmap.columns`) or ``words/fields.csv``, class names from the code tables
and ``words/classes.csv``, units from ``words/units.csv`` (:mod:`carbonmap.words`). Numbers are
written for people (:func:`format_number`).

**Offline.** Leaflet 1.9.4 (from the npm registry, licence in ``carbonmap/data/web``) and
carbonmap's own script and styles are inlined; the page requests nothing. Basemaps
(OpenStreetMap; Tianditu with a user key) are optional base layers, off by default; offline they
show a notice instead of breaking the map.

**Size and detail.** Geometries are stored once per distinct set, as integers (Web Mercator
metres) delta-encoded in text (:func:`encode_integers`); attributes as columns. Layers of more
than :data:`TILE_ABOVE` features are drawn in full by carbonmap's canvas tiles from the zoom at
which their features are a few pixels wide, and as square cells (:func:`aggregate_cells`) below
it. Small layers are simplified for display by a fraction of the map's extent (coverage-aware
for parcels and units, so neighbours keep shared edges); rasters become palette PNGs of at most
:attr:`Detail.overlay_pixels` a side. :func:`write_map` writes the page and, when it is over the
size budget, rebuilds it at the coarser levels of :data:`DETAIL_LEVELS`. Layers whose features
wait on disk between stages (:meth:`carbonmap.stage.Layer.saved`) are read as a page needs them:
the small ones once, each large one for its part of a page, so that one large layer at a time is
in memory (a city cluster's layers take about 5 GB all at once).

Drawing lives here and in :mod:`carbonmap.report` only; analyses never draw.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import html
import io
import json
import math
import re
import threading
import warnings
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import rasterio
import rasterio.warp
import shapely
from rasterio.enums import Resampling
from rasterio.errors import NotGeoreferencedWarning

from carbonmap.io import atomic_path
from carbonmap.readable import column_info, column_label, column_unit, layer_fields
from carbonmap.words import LANGUAGES, group_label, unit_label, words

__all__ = ["build_page", "write_map", "write_html", "class_breaks", "format_number", "encode_integers",
           "aggregate_cells", "Detail", "DETAIL_LEVELS", "BASEMAPS", "METHODS", "MSPA_COLOURS", "TILE_ABOVE"]

#: Tile basemaps: name -> (URL template, attribution). ``{key}`` is the user's Tianditu key.
BASEMAPS = {
    "OpenStreetMap": ("https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                      "&copy; OpenStreetMap contributors"),
    "Tianditu": ("https://t0.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=vec"
                 "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}",
                 "&copy; 天地图 Tianditu"),
}
#: Classification methods: quantiles, natural breaks (Jenks), equal intervals, powers of ten, and
#: diverging (zero is a break; each side by quantiles). A row of map_classes.csv may also say
#: "fixed", with its own breaks (the same in every run).
METHODS = ("quantile", "jenks", "equal", "log", "diverging")
#: GuidosToolbox's MSPA colours (Vogt & Riitters 2017, GuidosToolbox; Soille & Vogt 2009), by MSPA
#: value. Bridges and loops through edge or perforation (35, 37, 67, 69) and internal features
#: (value + 100) take the colour of their class, so the legend has one entry per colour.
MSPA_COLOURS = {0: ("background", "#dcdcdc"), 1: ("branch", "#ff8c00"), 3: ("edge", "#000000"),
                5: ("perforation", "#0000ff"), 9: ("islet", "#a03c00"), 17: ("core", "#00c800"),
                33: ("bridge", "#ff0000"), 65: ("loop", "#ffff00"), 129: ("missing", "#ffffff")}
#: Threads making the raster overlays and the geometries of small vector layers while :func:`write_map`
#: builds its pages.
OVERLAY_THREADS = 2
#: Vector layers with more features than this are drawn by carbonmap's canvas tiles (every feature
#: from a suitable zoom, cells below it) rather than as one Leaflet layer.
TILE_ABOVE = 10_000
#: Qualitative colours for classes without their own (ColorBrewer Set2, then Paired, then these).
_MORE_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94")
#: Palette of a layer without a row in map_classes.csv, by map group (ColorBrewer names).
_GROUP_PALETTE = {"units": "YlOrRd", "sources": "YlOrRd", "sinks": "YlGn", "ecology": "BuGn",
                  "renewables": "YlOrBr", "screening": "Purples", "scenarios": "RdYlBu_r", "zones": "Set2",
                  "inputs": "YlGnBu"}
_NO_DATA = "#cccccc"
#: Line layers of flows: drawn wider for higher classes of their column, besides darker (flows by
#: amount), with an arrowhead where each flow goes.
_FLOW_LAYERS = {"compensation_flows"}
#: Colours of zone classes as territorial plans draw them ("three zones and three lines": the
#: ecological protection red line green, permanent basic farmland yellow, the urban development
#: boundary red), used when a layer brings no colours of its own.
_CLASS_COLOURS = {"ecological_protection_red_line": "#4daf4a", "permanent_basic_farmland": "#ffd92f",
                  "urban_development_boundary": "#e41a1c", "ecological_control_line": "#a6d96a"}


@dataclass(frozen=True)
class Detail:
    """How much detail the HTML map draws (the GeoPackage and COGs keep all of it).

    overlay_pixels : longest side of a raster overlay [pixels]
    simplify_fraction : display simplification of small vector layers, as a fraction of the map's extent
    max_features : vector layers with more features are drawn as cells only (None: every feature)
    optional_layers : draw the layers a theme leaves out of a page that must stay small (``in_html=False``:
        every building, every candidate roof)
    """

    overlay_pixels: int = 640
    simplify_fraction: float = 1 / 4000
    max_features: int | None = None
    optional_layers: bool = True


#: Levels tried in turn by :func:`write_map` until the page fits its size budget.
DETAIL_LEVELS = (Detail(), Detail(optional_layers=False), Detail(640, 1 / 4000, 20_000, False),
                 Detail(480, 1 / 2000, 10_000, False), Detail(320, 1 / 1000, 5_000, False))

_WEB = files("carbonmap.data").joinpath("web")
_DATA = files("carbonmap.data")


# --------------------------------------------------------------------------- words for readers


@functools.cache
def _csv(*parts: str) -> pd.DataFrame:
    with _DATA.joinpath(*parts).open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle, dtype=str, keep_default_na=False)


def _norm(value: object) -> str:
    """A class value as a lookup key: lower case, runs of other characters as one underscore."""
    return re.sub(r"[^0-9a-z\u4e00-\u9fff]+", "_", str(value).lower()).strip("_")


@functools.cache
def _class_names() -> dict[str, tuple[str, str]]:
    """Class value (normalised) -> (English, Chinese) name: ``words/classes.csv`` first, then the
    carbon categories, the balance, efficiency and geothermal tables and the land-use code tables.
    The packaged tables are read as files (not through the loaders that put a table on the run's record)."""
    names: dict[str, tuple[str, str]] = {}

    def add(keys, en, zh):
        for key, e, z in zip(keys, en, zh):
            names.setdefault(_norm(key), (e, z))

    table = _csv("words", "classes.csv")
    add(table["value"], table["en"], table["zh"])
    categories = _csv("landuse", "carbon_categories.csv")
    add(categories["carbon_category"], categories["name_en"], categories["name_zh"])
    for name in ("efficiency_bands.csv", "geothermal_classes.csv"):
        coefficients = _csv("coefficients", name)
        add(coefficients["label_en"], coefficients["label_en"], coefficients["label_zh"])
    for path in sorted(_DATA.joinpath("landuse").iterdir(), key=lambda p: p.name):
        if path.name.endswith(".csv") and not path.name.startswith(("crosswalk", "carbon_")):
            codes = _csv("landuse", path.name)
            add(codes["name_en"], codes["name_en"], codes["name_zh"])
    return names


@functools.cache
def _word_keys() -> frozenset[str]:
    return frozenset(_csv("words", "words.csv")["key"])


class _Words:
    """What a reader sees, in one language: texts, units, group, class and column names."""

    def __init__(self, language: str, rasters: dict[str, str] | None = None, scenarios: dict[str, str] | None = None,
                 translations: dict[str, str] | None = None):
        if language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r}: use one of {LANGUAGES}")
        self.language = language
        self.rasters = rasters or {}  # raster layer name -> its title (for columns named after rasters)
        self.scenarios = scenarios or {}  # scenario name -> its title in the project
        self.translations = translations or {}  # the run's own English -> Chinese class names (its rules' reasons)
        self.sep, self.comma = ("：", "，") if language == "zh" else (": ", ", ")

    def __call__(self, key: str, **fields) -> str:
        return words(key, **fields).in_(self.language)

    def has(self, key: str) -> bool:
        return key in _word_keys()

    def group(self, group: str) -> str:
        """A map group's name; a group carbonmap does not know is shown as it is."""
        return group_label(group, self.language) if self.has(f"group.{group}") else group

    def unit(self, key: str | None) -> str:
        """A unit key of ``units.csv`` (``t_co2_yr``) as a reader writes it."""
        return unit_label(key, self.language) if key else ""

    def symbol(self, text: str) -> str:
        """A unit of the column dictionary (written in English there) in the run's language."""
        if text in ("", "-", "year") or self.language == "en":
            return "" if text in ("-", "year") else text
        units = _csv("words", "units.csv")
        match = units[units["en"] == text]
        if len(match):
            return match["zh"].iloc[0]
        return self(f"unit.{text}") if self.has(f"unit.{text}") else text

    def class_name(self, value: object) -> str:
        """A class value or English class name (``ecological_protection_red_line``, ``forest``,
        ``dark green``) in the run's language; a value no table knows is shown as it is."""
        if self.language == "zh" and self.translations.get(str(value)):
            return self.translations[str(value)]
        names = _class_names().get(_norm(value))
        if names is None:
            return str(value)
        return names[1] if self.language == "zh" else names[0]

    def column(self, name: str, *, summary: bool = True) -> tuple[str, str] | None:
        """(label, unit) of a column: from the column dictionary, with its placeholders filled
        (a land-cover class, a raster's title, a statistic, ...), or from ``words/fields.csv``
        (first, for a layer's attribute: not a `summary` column); None for a column neither knows."""
        row = None if summary else layer_fields().get(name)
        info = column_info(name) if row is None else None
        if info is not None:
            return self._dictionary_label(name, info)
        row = row or layer_fields().get(name)
        return None if row is None else (row[self.language], row[f"unit_{self.language}"])

    def _dictionary_label(self, name: str, info: dict) -> tuple[str, str]:
        label, form = info[f"label_{self.language}"], info["column"]
        if "<indicator>" in form:  # a monitoring trend: the indicator's label and unit, per year
            return column_label(name, self.language, unit=False), column_unit(name, self.language)
        parts = _placeholders(form, name, list(self.rasters))
        unit = self.unit(parts.get("unit")) if info["unit"] == "<unit>" else self.symbol(info["unit"])
        if set(parts) <= {"q"} and self.has(f"label.{form}"):  # a label of its own (a quantile of the draws)
            return column_label(name, self.language, unit=False), unit
        if form.startswith("<raster>_<stat>") and "raster" in parts:
            return f"{self.rasters.get(parts['raster'], parts['raster'])}{self.sep}{self._stat(parts['stat'])}", unit
        named = sorted(((key in ("raster", "date"), self.placeholder(key, value)) for key, value in parts.items()
                        if key not in ("unit", "stat")), key=lambda item: item[0])  # the raster last
        qualifiers = [text for _, text in named]
        return (f"{label}{self.sep}{self.comma.join(qualifiers)}" if qualifiers else label), unit

    def placeholder(self, key: str, value: str) -> str:
        if key in ("raster", "date"):
            return self.rasters.get(value, value)
        if key == "scenario" and value in self.scenarios:
            return self.scenarios[value]
        return self.class_name(value)

    def _stat(self, stat: str) -> str:
        if stat.startswith("percentile_"):
            return self("stat.percentile", p=stat.removeprefix("percentile_"))
        return self(f"stat.{stat}") if self.has(f"stat.{stat}") else stat


def _placeholders(form: str, name: str, rasters: Sequence[str]) -> dict[str, str]:
    """The values of the ``<placeholders>`` of a dictionary row's readable `form` in column `name`
    (raster names are matched against the run's rasters, longest first)."""
    known = "|".join(re.escape(r) for r in sorted(rasters, key=len, reverse=True)) or "[a-z0-9_]+"
    choices = {"raster": known, "date": known, "stat": r"sum|mean|min|max|std|median|percentile_[0-9.]+",
               "unit": "[a-z0-9_]+"}
    pattern = re.escape(form).replace(r"_<unit>", "(?:_<unit>)?")
    pattern = re.sub(r"<(\w+)>", lambda m: f"(?P<{m.group(1)}>{choices.get(m.group(1), '[a-z0-9_]+')})", pattern)
    match = re.fullmatch(pattern, name)
    return {k: v for k, v in match.groupdict().items() if v is not None} if match else {}


# --------------------------------------------------------------------------- numbers


def format_number(value: float | None) -> str:
    """A number as people write it: thousands separated, whole from 100, then 1 or 2 decimals,
    two significant digits below 1; never in scientific notation.

    Examples
    --------
    >>> format_number(3209654.2), format_number(-58.25), format_number(0.0345), format_number(2.0)
    ('3,209,654', '-58.2', '0.035', '2')
    """
    if value is None or not math.isfinite(value):
        return "–"
    size = abs(value)
    if size == 0:
        return "0"
    if size >= 99.5:
        return f"{value:,.0f}"
    decimals = 1 if size >= 9.95 else 2 if size >= 0.995 else min(15, 1 - math.floor(math.log10(size)))
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _round_significant(values: np.ndarray, digits: int = 2) -> np.ndarray:
    """Values rounded to `digits` significant digits (class breaks that read well)."""
    values = np.asarray(values, dtype=float)
    out = values.copy()
    nonzero = values != 0
    scale = 10.0 ** (np.floor(np.log10(np.abs(values[nonzero]))) - digits + 1)
    out[nonzero] = np.round(values[nonzero] / scale) * scale
    return out


# --------------------------------------------------------------------------- classes and colours


def _readable_breaks(raw: np.ndarray, width: float) -> np.ndarray:
    """Breaks rounded to the fewest significant digits (two at least) that keep them apart and
    within a tenth of a class `width` of where the method put them."""
    raw = np.unique(np.asarray(raw, dtype=float))
    for digits in range(2, 16):
        rounded = _round_significant(raw, digits)
        if np.unique(rounded).size == raw.size and np.abs(rounded - raw).max(initial=0) <= 0.1 * width:
            return rounded
    return raw


def class_breaks(values, *, method: str = "quantile", classes: int = 5) -> np.ndarray:
    """The inner boundaries of `classes` classes of the finite `values` (ascending; fewer when
    values repeat). Breaks are rounded to two significant digits where that moves none by more
    than a tenth of the mean class width, else to as many digits as needed. A value belongs to the
    class of the breaks it reaches: ``np.searchsorted(breaks, value, side="right")``.

    method : one of :data:`METHODS` -- ``quantile`` (equal counts), ``jenks`` (natural breaks:
        Fisher's exact optimisation of Jenks' criterion, on at most 1,000 quantiles), ``equal``
        (equal intervals), ``log`` (powers of ten below the largest value), ``diverging`` (zero is
        a break; the classes of each side in proportion to its values, by quantiles)
    """
    if method not in METHODS:
        raise ValueError(f"unknown classification method {method!r}: use one of {METHODS}")
    data = np.sort(np.asarray(values, dtype=float)[np.isfinite(np.asarray(values, dtype=float))])
    if data.size == 0 or data[0] == data[-1] or classes < 2:
        return np.array([])
    raw = {"quantile": _quantile_breaks, "jenks": _jenks_breaks, "equal": _equal_breaks, "log": _log_breaks,
           "diverging": _diverging_breaks}[method](data, classes)
    breaks = _readable_breaks(raw, (data[-1] - data[0]) / classes)
    return breaks[(breaks > data[0]) & (breaks <= data[-1])]


def _quantile_breaks(data: np.ndarray, classes: int) -> np.ndarray:
    return np.quantile(data, np.linspace(0, 1, classes + 1)[1:-1], method="inverted_cdf")


def _equal_breaks(data: np.ndarray, classes: int) -> np.ndarray:
    return np.linspace(data[0], data[-1], classes + 1)[1:-1]


def _log_breaks(data: np.ndarray, classes: int) -> np.ndarray:
    positive = data[data > 0]
    if positive.size == 0:
        return _equal_breaks(data, classes)
    top = math.floor(math.log10(positive[-1]))
    return 10.0 ** np.arange(top - classes + 2, top + 1)


def _diverging_breaks(data: np.ndarray, classes: int) -> np.ndarray:
    negative, positive = data[data < 0], data[data > 0]
    if negative.size == 0 or positive.size == 0:
        return _quantile_breaks(data, classes)
    low = min(classes - 1, max(1, round(classes * negative.size / (negative.size + positive.size))))
    below = _quantile_breaks(negative, low) if low > 1 else []
    above = _quantile_breaks(positive, classes - low) if classes - low > 1 else []
    return np.concatenate([below, [0.0], above])


def _jenks_breaks(data: np.ndarray, classes: int) -> np.ndarray:
    """Natural breaks: the split of sorted `data` into `classes` runs with the least total squared
    deviation from the run means (Fisher 1958), by dynamic programming."""
    values = data if data.size <= 1000 else np.quantile(data, np.linspace(0, 1, 1000))
    n = values.size
    classes = min(classes, np.unique(values).size)
    s1, s2 = np.concatenate([[0.0], np.cumsum(values)]), np.concatenate([[0.0], np.cumsum(values ** 2)])
    cost = np.full((classes + 1, n + 1), np.inf)
    cost[0, 0] = 0.0
    start = np.zeros((classes + 1, n + 1), dtype=np.int64)
    for c in range(1, classes + 1):
        for j in range(c, n + 1):
            i = np.arange(c - 1, j)
            total = cost[c - 1, i] + (s2[j] - s2[i]) - (s1[j] - s1[i]) ** 2 / (j - i)
            best = int(np.argmin(total))
            cost[c, j], start[c, j] = total[best], i[best]
    breaks, j = [], n
    for c in range(classes, 1, -1):
        j = start[c, j]
        breaks.append(values[j])
    return np.array(breaks[::-1])


def _brewer(name: str, count: int) -> list[str]:
    """`count` colours of the ColorBrewer palette `name` (``_r``: reversed), light to dark for
    sequential palettes; from the palettes branca (a dependency of folium) ships."""
    from branca.utilities import color_brewer

    reverse = name.endswith("_r")
    base = name.removesuffix("_r")
    if count >= 3:
        colours = color_brewer(base, count)
    else:
        three = color_brewer(base, 3)
        colours = three[1:2] if count == 1 else [three[0], three[2]]
    return colours[::-1] if reverse else list(colours)


def _diverging_colours(palette: str, below: int, above: int) -> list[str]:
    """Colours of `below` classes under zero and `above` classes over it, darker away from zero."""
    full = _brewer(palette, 11)
    low_side, high_side = full[4::-1], full[6:]  # each light to dark

    def pick(side, count):
        if count == 0:
            return []
        positions = [2] if count == 1 else np.round(np.linspace(0, 4, count)).astype(int)
        return [side[p] for p in positions]

    return pick(low_side, below)[::-1] + pick(high_side, above)


@dataclass(frozen=True)
class _Style:
    """How a layer's values are coloured: a row of ``map_classes.csv`` or the default for its group."""

    method: str = "quantile"
    classes: int = 5
    palette: str = "YlGnBu"
    centre: float = 0.0  # where a diverging scale turns (0; 1 for a ratio to the city)
    breaks: tuple[float, ...] = ()  # the class breaks of the "fixed" method (the same in every run)


def _style_of(key: str, group: str) -> _Style:
    table = _csv("web", "map_classes.csv").set_index("key")
    if key in table.index:
        row = table.loc[key]
        centre = float(row["centre"]) if pd.notna(row.get("centre")) and str(row["centre"]).strip() else 0.0
        breaks = tuple(float(b) for b in str(row["breaks"]).split()) if pd.notna(row.get("breaks")) else ()
        return _Style(row["method"], int(row["classes"]), row["palette"], centre, breaks)
    return _Style(palette=_GROUP_PALETTE.get(group, "YlGnBu"))


def _auto_method(data: np.ndarray, style: _Style) -> str:
    """A method for a layer without its own: diverging when values of both signs are common, powers
    of ten for heavy tails of positive values, else the style's."""
    if data.size == 0:
        return style.method
    negative, positive = (data < 0).mean(), (data > 0).mean()
    if negative > 0.05 and positive > 0.05:
        return "diverging"
    if data.min() >= 0 and positive > 0:
        above = data[data > 0]  # the tail of the values there are (a layer of mostly zeros is not heavy-tailed)
        if np.percentile(above, 98) > 100 * np.percentile(above, 50):
            return "log"
    return style.method


@dataclass
class _Scale:
    """Classes of a continuous layer: breaks, one colour per class, legend rows; values at the
    centre of a diverging scale in its neutral colour (`centre_colour`)."""

    breaks: list[float]
    colours: list[str]
    rows: list[list[str]]
    hide_zero: bool = False
    centre: float = 0.0
    centre_colour: str | None = None

    def spec(self) -> dict:
        spec = {"breaks": self.breaks, "colours": self.colours, "hideZero": self.hide_zero}
        return {**spec, "centre": self.centre, "centreColour": self.centre_colour} if self.centre_colour else spec

    def colour_index(self, values: np.ndarray) -> np.ndarray:
        """Index of each value's colour in :meth:`palette` (as the page's script colours them)."""
        index = np.searchsorted(np.asarray(self.breaks), values, side="right")
        return np.where(values == self.centre, len(self.colours), index) if self.centre_colour else index

    def palette(self) -> list[str]:
        return self.colours + ([self.centre_colour] if self.centre_colour else [])


#: Whole-number values spanning at most this many are counts, classed and labelled as whole numbers
#: (warnings per unit: ``0 – 1``, ``2 – 3``; not ``< 2``, ``2 – 4``).
SMALL_COUNTS = 100


def _scale(values, style: _Style, *, hide_zero: bool = False, explicit: bool = True, year: bool = False,
           lines: bool = False) -> _Scale:
    """Class the finite `values` by `style` (a layer's own method, or a data-driven one when
    `explicit` is False); zeros are left uncoloured and out of the classes when `hide_zero`;
    `year`: the values are years (legends without thousands separators); `lines`: the darker
    colours of sequential palettes (the lightest are lost on a map as thin lines).
    Diverging scales turn at the style's centre (:func:`_diverging_scale`)."""
    data = np.asarray(values, dtype=float)
    data = data[np.isfinite(data)]
    if hide_zero:
        data = data[data != 0]
    method = style.method if explicit else _auto_method(data, style)
    if method == "diverging" or _is_diverging(style.palette):
        return _diverging_scale(data, style, hide_zero=hide_zero)
    breaks = np.asarray(style.breaks) if method == "fixed" else class_breaks(data, method=method, classes=style.classes)
    whole = method != "fixed" and not year and data.size and np.ptp(data) <= SMALL_COUNTS and bool(np.all(data == np.round(data)))
    if whole:  # small counts: classes of whole numbers, labelled by their first and last value
        breaks = np.unique(np.ceil(breaks))
    count = len(breaks) + 1
    colours = _brewer(style.palette, min(max(count, 3) + (2 if lines else 0), 9))[-count:]
    rows = _class_rows(breaks, colours, year=year, whole=(data.min(), data.max()) if whole else None)
    if not len(breaks) and data.size:  # one class: its value, or its range
        low, high = (str(int(v)) if year else format_number(v) for v in (data.min(), data.max()))
        rows[0][1] = low if low == high else f"{low} – {high}"
    return _Scale([float(b) for b in breaks], colours, rows, hide_zero)


def _diverging_scale(data: np.ndarray, style: _Style, *, hide_zero: bool = False) -> _Scale:
    """Classes on each side of the style's centre c, darker away from it, on the matching half of
    the palette (values all above c take only the upper half); values equal to c are a class of
    their own in the palette's neutral middle colour."""
    centre, neutral = style.centre, _brewer(style.palette, 11)[5]
    if data.size == 0:
        return _Scale([], [neutral], [[neutral, ""]], hide_zero)
    off = data[data != centre] - centre
    one_sided = off.size and (off.max() < 0 or off.min() > 0)
    classes = min(style.classes, 5) if one_sided else style.classes  # a half palette has 5 colours
    breaks = class_breaks(off, method="diverging", classes=classes) + centre if off.size else np.array([])
    count = len(breaks) + 1
    below = count if off.size and off.max() < 0 else 0 if off.size and off.min() > 0 else \
        int(np.searchsorted(breaks, centre)) + 1  # both sides: the classes under c, and the one up to it
    colours = _diverging_colours(style.palette, below, count - below)
    rows = _class_rows(breaks, colours)
    text = format_number(centre)
    if len(breaks) and below == count:  # the last class ends at the centre
        rows[-1][1] = f"{format_number(breaks[-1])} – {text}"
    elif len(breaks) and below == 0:
        rows[0][1] = f"{text} – {format_number(breaks[0])}"
    elif not len(breaks) and off.size:
        rows[0][1] = f"{format_number(off.min() + centre)} – {format_number(off.max() + centre)}"
    has_centre = bool((data == centre).any())
    if has_centre:
        rows.insert(below, [neutral, text])
    return _Scale([float(b) for b in breaks], colours if off.size else [neutral], rows if off.size else
                  [[neutral, text]], hide_zero, centre, neutral if has_centre and off.size else None)


def _is_year(column: str) -> bool:
    """Whether a column holds years (``year``, ``*_year``: the peak year, the net-zero year)."""
    return column == "year" or column.endswith("_year")


def _is_diverging(palette: str) -> bool:
    return palette.removesuffix("_r") in ("RdYlBu", "RdBu", "BrBG", "PiYG", "PRGn", "PuOr", "RdGy", "RdYlGn",
                                          "Spectral")


def _class_rows(breaks: Sequence[float], colours: Sequence[str], *, year: bool = False,
                whole: tuple[float, float] | None = None) -> list[list[str]]:
    """Legend rows (colour, label) of classes: ``< b1``, ``b1 – b2``, ..., ``≥ bn``; of whole
    numbers from `whole` = (lowest, highest) with whole breaks: ``lowest – b1-1``, ``b1 – b2-1``,
    ..., ``bn – highest`` (one number where a class holds one)."""
    if len(breaks) == 0:
        return [[colours[0], ""]]
    if whole is not None:
        bounds = zip([whole[0], *breaks], [b - 1 for b in breaks] + [whole[1]])
        labels = [format_number(a) if a == b else f"{format_number(a)} – {format_number(b)}" for a, b in bounds]
        return [[colour, label] for colour, label in zip(colours, labels)]
    text = [str(int(round(b))) if year else format_number(b) for b in breaks]
    labels = [f"< {text[0]}"] + [f"{a} – {b}" for a, b in zip(text, text[1:])] + [f"≥ {text[-1]}"]
    return [[colour, label] for colour, label in zip(colours, labels)]


def _categories(values: Sequence[str], fixed: dict[str, str] | None, names: dict[str, str] | None,
                wording: _Words) -> tuple[dict[str, str], list[list[str]]]:
    """Colour per class value, and legend rows (colour, name) with one row per colour: classes of
    one colour are one entry, named by the first of them."""
    fixed = {**{v: _CLASS_COLOURS[v] for v in values if v in _CLASS_COLOURS},
             **{_class_key(k): c for k, c in (fixed or {}).items()}}
    names = {_class_key(k): n for k, n in (names or {}).items()}
    free = [v for v in values if v not in fixed]
    spare = _qualitative(len(free))
    colours = {v: fixed.get(v) or spare[free.index(v)] for v in values}
    rows, seen = [], {}
    for value in values:
        colour = colours[value]
        if colour not in seen:
            seen[colour] = True
            rows.append([colour, wording.class_name(names.get(value, value))])
    return colours, rows


def _qualitative(count: int) -> list[str]:
    if count <= 8:
        return _brewer("Set2", max(count, 3))[:count]
    if count <= 12:
        return _brewer("Paired", count)
    return [_MORE_COLOURS[i % len(_MORE_COLOURS)] for i in range(count)]


# --------------------------------------------------------------------------- geometries as text

#: Characters of :func:`encode_integers`: 0-31 end a number, 32-63 mean "more bits follow".
_ALPHABET = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", dtype=np.uint8)


def encode_integers(values) -> str:
    """Signed integers as text, for the page: each zigzag-coded (0, -1, 1, -2, ... -> 0, 1, 2, 3, ...)
    and written 5 bits per character, low bits first, in URL-safe base64 characters whose upper
    half marks "more follows". Small numbers take one character; the text needs no escaping.

    Examples
    --------
    >>> encode_integers([0, -1, 1, 15, 16, -300])
    'ABCegB3S'
    """
    v = np.asarray(values, dtype=np.int64)
    if v.size == 0:
        return ""
    z = ((v << 1) ^ (v >> 63)).view(np.uint64)
    groups = np.ones(v.size, dtype=np.int64)
    rest = z >> np.uint64(5)
    while rest.any():
        groups += rest > 0
        rest >>= np.uint64(5)
    owner = np.repeat(np.arange(v.size), groups)
    first = np.cumsum(groups) - groups
    position = np.arange(owner.size) - first[owner]
    chunk = (z[owner] >> (np.uint64(5) * position.astype(np.uint64))) & np.uint64(31)
    more = position < groups[owner] - 1
    return _ALPHABET[chunk.astype(np.int64) + 32 * more].tobytes().decode("ascii")


def _vector_kind(frame: gpd.GeoDataFrame) -> str:
    """"point", "line" or "polygon": the kind of the frame's geometries (polygon when they are mixed)."""
    types = set(np.unique(shapely.get_type_id(np.asarray(frame.geometry.values))).tolist()) - {-1}  # -1: missing
    if types <= {0, 4}:  # Point, MultiPoint
        return "point"
    if types <= {1, 5}:  # LineString, MultiLineString
        return "line"
    return "polygon"


_FAMILY = {"point": (0, 4), "line": (1, 5), "polygon": (3, 6)}


def _encode_geometries(geoms: np.ndarray, kind: str, transform=None) -> dict:
    """Geometries (in Web Mercator) as counts and delta-coded coordinates [m]: for polygons, the
    parts of each feature, the rings of each part and the vertices of each ring (its closing vertex
    dropped); for lines, the parts and their vertices; for points, the vertices of each feature.

    `transform`: a function of x and y arrays giving their Web Mercator x and y [m], for geometries
    in another CRS (applied to their coordinates, as ``GeoSeries.to_crs`` applies it).
    """
    usable = np.isin(shapely.get_type_id(geoms), _FAMILY[kind]) & ~shapely.is_empty(geoms)
    empty = {"point": "MULTIPOINT EMPTY", "line": "MULTILINESTRING EMPTY", "polygon": "MULTIPOLYGON EMPTY"}[kind]
    geoms = np.where(usable, geoms, shapely.from_wkt(empty))
    geometry_type, coords, offsets = shapely.to_ragged_array(geoms, include_z=False)
    if transform is not None and len(coords):
        coords = np.column_stack(transform(coords[:, 0], coords[:, 1]))
    counts, keep = _counts(int(geometry_type), offsets, len(coords), len(geoms))
    xy = np.rint(coords[keep]).astype(np.int64)
    deltas = np.diff(xy, axis=0, prepend=np.zeros((1, 2), dtype=np.int64)).ravel()
    return {"type": kind, "n": int(len(geoms)), "counts": [encode_integers(counts), int(counts.size)],
            "coords": [encode_integers(deltas), int(deltas.size)]}


def _counts(geometry_type: int, offsets: tuple, n_coords: int, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """The count stream of a ragged array and the mask of the coordinates kept."""
    keep = np.ones(n_coords, dtype=bool)
    if geometry_type == 0:  # points
        return np.ones(n_features, dtype=np.int64), keep
    if geometry_type in (1, 4):  # linestrings, multipoints: vertices per feature
        per = np.diff(offsets[0])
        return (np.concatenate([np.ones(n_features, dtype=np.int64), per]) if geometry_type == 1 else per), keep
    if geometry_type == 5:  # multilinestrings
        return np.concatenate([np.diff(offsets[1]), np.diff(offsets[0])]), keep
    rings = offsets[0]
    keep[rings[1:][np.diff(rings) > 0] - 1] = False  # the closing vertex of each ring
    vertices = np.diff(rings) - 1
    if geometry_type == 3:  # polygons: one part each (none when empty)
        per_feature = np.diff(offsets[1])
        parts = (per_feature > 0).astype(np.int64)
        return np.concatenate([parts, per_feature[per_feature > 0], vertices]), keep
    return np.concatenate([np.diff(offsets[2]), np.diff(offsets[1]), vertices]), keep


#: Polygon layers of up to this many vertices are checked for being a coverage (and then simplified
#: keeping shared edges): the check is slow on large layers (400 s on the megacity's 35,848
#: ecological patches of 1.4 million vertices), which are simplified feature by feature.
COVERAGE_CHECK_MAX_VERTICES = 200_000


def _display_geometry(frame: gpd.GeoDataFrame, tolerance_m: float) -> np.ndarray:
    """Geometries simplified by `tolerance_m` (coverage-aware for polygon coverages of up to
    :data:`COVERAGE_CHECK_MAX_VERTICES` vertices), in Web Mercator."""
    return gpd.GeoSeries(_simplified(frame, tolerance_m), crs=frame.crs).to_crs("EPSG:3857").values


def _simplified(frame: gpd.GeoDataFrame, tolerance_m: float) -> np.ndarray:
    """The frame's geometries in x and y only, simplified by `tolerance_m` (:func:`_display_geometry`),
    in the frame's CRS."""
    geoms = np.asarray(frame.geometry.values)
    if shapely.has_z(geoms).any():  # the page draws x and y
        geoms = shapely.force_2d(geoms)
    if tolerance_m > 0 and frame.crs is not None and frame.crs.is_projected:
        polygons = np.isin(shapely.get_type_id(geoms), (3, 6))
        small = shapely.get_num_coordinates(geoms).sum() <= COVERAGE_CHECK_MAX_VERTICES
        if polygons.all() and len(geoms) > 1 and small and bool(shapely.coverage_is_valid(geoms)):
            geoms = shapely.coverage_simplify(geoms, tolerance_m)
        else:
            geoms = shapely.simplify(geoms, tolerance_m, preserve_topology=True)
    return geoms


def _display_encoding(frame: gpd.GeoDataFrame, tolerance_m: float, kind: str) -> dict:
    """:func:`_encode_geometries` of :func:`_display_geometry`: the frame's coordinates are taken
    once and transformed to Web Mercator as arrays (the same transformation, point by point, as
    ``to_crs``, without building the transformed geometries)."""
    if frame.crs is None:  # to_crs says what is wrong
        return _encode_geometries(_display_geometry(frame, tolerance_m), kind)
    return _encode_geometries(_simplified(frame, tolerance_m), kind, _to_web_mercator(frame.crs))


def _to_web_mercator(crs):
    """The function of x and y arrays in `crs` giving Web Mercator x and y [m] that geopandas'
    ``to_crs("EPSG:3857")`` applies (None: `crs` is Web Mercator)."""
    target = pyproj.CRS.from_user_input("EPSG:3857")
    if crs.is_exact_same(target):
        return None
    return _transformer(crs, target).transform


def _transformer(source, target) -> pyproj.Transformer:
    """A transformer from `source` to `target` (x, y order) for the calling thread (PROJ's
    transformers are not to be shared between threads)."""
    return _thread_transformer(source, target, threading.get_ident())


@functools.lru_cache(maxsize=32)
def _thread_transformer(source, target, thread: int) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(source, target, always_xy=True)


# --------------------------------------------------------------------------- tables


def _column_values(series: pd.Series, digits: int = 5):
    """A column for the page: numbers to `digits` significant digits but never coarser than whole
    units, so whole numbers (codes, ids, counts) stay exact (NaN -> null); text and booleans as a
    list of distinct values and a code per row when that is shorter."""
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        values = series.to_numpy(dtype=float)
        finite = np.isfinite(values)
        rounded = np.where(finite, values, 0.0)
        nonzero = rounded != 0
        scale = 10.0 ** np.maximum(0, digits - 1 - np.floor(np.log10(np.abs(rounded[nonzero]))))
        rounded[nonzero] = np.round(rounded[nonzero] * scale) / scale
        whole = (rounded == np.floor(rounded)) & (np.abs(rounded) < 1e15)
        out = rounded.astype(object)
        out[whole] = rounded[whole].astype(np.int64)
        out[~finite] = None
        return out.tolist()
    text = series.astype(object).where(series.notna(), None).map(lambda v: None if v is None else str(v))
    codes, distinct = pd.factorize(text, use_na_sentinel=True)
    if len(distinct) < 0.5 * len(text):
        return {"codes": encode_integers(codes), "n": int(len(codes)), "values": [str(v) for v in distinct]}
    return text.tolist()


def _distinct(series: pd.Series) -> pd.Series:
    """The values of a column other than nulls, each once (all of them for an object column, whose equal
    values may differ in type)."""
    values = series.dropna()
    return values if values.dtype == object else values.drop_duplicates()


def _class_key(value) -> str:
    """A class value as the page's script reads it from the table: whole numbers without a decimal
    point (a code read as 101.0 from a column with nulls is class "101")."""
    if isinstance(value, (int, float, np.integer, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _js(value) -> str:
    """JSON for inline <script>: every ``<`` written as ``\\u003c``, so that no data can close the
    script element or open a comment or tag in it (the JSON, and the strings in it, are unchanged)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).replace("<", "\\u003c")


# --------------------------------------------------------------------------- aggregation


def aggregate_cells(frame: gpd.GeoDataFrame, column: str | None, how: str, max_features: int) -> gpd.GeoDataFrame:
    """Features summarised on square cells (count, and the column's sum, mean or most frequent
    value: `how`), at the finest cell size that yields at most `max_features` cells with features."""
    centres = frame.geometry.centroid
    x, y = centres.x.to_numpy(), centres.y.to_numpy()
    xmin, ymin, xmax, ymax = frame.total_bounds
    size = max(xmax - xmin, ymax - ymin, 1.0) / math.sqrt(max_features)
    while True:
        cx, cy = np.floor((x - xmin) / size).astype(np.int64), np.floor((y - ymin) / size).astype(np.int64)
        key = cx * (int(cy.max()) + 1) + cy
        if len(np.unique(key)) <= max_features:
            break
        size *= 1.25
    table = pd.DataFrame({"key": key, "cx": cx, "cy": cy})
    if column is not None:
        values = frame[column].to_numpy()
        table[column] = values if how == "mode" else pd.to_numeric(frame[column], errors="coerce").to_numpy()
    grouped = table.groupby("key")
    out = pd.DataFrame({"features": grouped.size(), "cx": grouped["cx"].first(), "cy": grouped["cy"].first()})
    if column is not None:
        if how == "mode":  # the most frequent class of each cell (ties: the first in sort order)
            counts = table.groupby(["key", column]).size().rename("n").reset_index()
            counts = counts.sort_values(["key", "n"], ascending=[True, False], kind="stable")
            out[column] = counts.drop_duplicates("key").set_index("key")[column]
        else:
            out[column] = grouped[column].sum() if how == "sum" else grouped[column].mean()
    left, bottom = xmin + out["cx"].to_numpy() * size, ymin + out["cy"].to_numpy() * size
    boxes = shapely.box(left, bottom, left + size, bottom + size)
    result = gpd.GeoDataFrame(out.drop(columns=["cx", "cy"]).reset_index(drop=True), geometry=boxes, crs=frame.crs)
    result.attrs["cell_m"] = size
    return result


# --------------------------------------------------------------------------- rasters


def _hex_to_rgb(colors: Sequence[str]) -> np.ndarray:
    return np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in colors], dtype=float)


def _raster_overlay(path: Path, max_pixels: int) -> tuple[np.ma.MaskedArray, list[list[float]]]:
    """A raster reprojected to Web Mercator (at most `max_pixels` a side) and its lat/lon bounds."""
    with rasterio.open(path) as src:
        transform, width, height = rasterio.warp.calculate_default_transform(
            src.crs, "EPSG:3857", src.width, src.height, *src.bounds
        )
        scale = max(width, height) / max_pixels
        if scale > 1:
            width, height = math.ceil(width / scale), math.ceil(height / scale)
            transform = transform @ transform.scale(scale)
        nodata = src.nodata
        fill = nodata if nodata is not None else 0
        out = np.full((height, width), fill, dtype=src.dtypes[0])
        categorical = np.issubdtype(np.dtype(src.dtypes[0]), np.integer)
        rasterio.warp.reproject(
            rasterio.band(src, 1), out, dst_transform=transform, dst_crs="EPSG:3857",
            dst_nodata=nodata, resampling=Resampling.nearest if categorical else Resampling.average,
        )
    mask = np.zeros(out.shape, dtype=bool)
    if nodata is not None:
        mask = np.isnan(out) if isinstance(nodata, float) and math.isnan(nodata) else out == nodata
    west, north = transform @ (0, 0)
    east, south = transform @ (width, height)
    (lon0, lon1), (lat0, lat1) = rasterio.warp.transform("EPSG:3857", "EPSG:4326", [west, east], [south, north])
    return np.ma.MaskedArray(out, mask=mask), [[lat0, lon0], [lat1, lon1]]


def _palette_png(index: np.ndarray, transparent: np.ndarray, colours: np.ndarray) -> str:
    """A palette PNG (data URL) of colour indices; `transparent` cells take an extra, clear entry."""
    from PIL import Image

    clear = len(colours)
    pixels = np.where(transparent, clear, index).astype(np.uint8)
    palette = np.vstack([colours, [[0, 0, 0]]]).astype(np.uint8)
    image = Image.fromarray(pixels, mode="P")
    image.putpalette(palette.ravel().tolist())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True, transparency=clear)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _mspa_class(code: int) -> int | None:
    """The MSPA class whose colour a value takes (transitions and internal features: their class)."""
    base = code - 100 if code >= 100 and code != 129 else code  # 100 + class: enclosed by a perforation
    base = {35: 33, 37: 33, 67: 65, 69: 65}.get(base, base)
    return base if base in MSPA_COLOURS else None


#: The order of MSPA classes in a legend (GuidosToolbox's).
_MSPA_ORDER = (17, 9, 5, 3, 65, 33, 1, 0, 129)


def _raster_classes(layer, codes: np.ndarray) -> tuple[list[str], dict | None, dict | None]:
    """Class values (in legend order), fixed colours and names of a categorical raster."""
    values = [str(c) for c in codes]
    if layer.name != "mspa":
        return values, layer.colours, layer.labels
    base = {v: _mspa_class(int(v)) for v in values}
    order = sorted(values, key=lambda v: (_MSPA_ORDER.index(base[v]) if base[v] is not None else 99, int(v)))
    colours = {v: MSPA_COLOURS[b][1] for v, b in base.items() if b is not None}
    names = {v: MSPA_COLOURS[b][0] for v, b in base.items() if b is not None}
    return order, {**(layer.colours or {}), **colours}, {**(layer.labels or {}), **names}


def _raster_spec(layer, detail: Detail, wording: _Words) -> dict | None:
    """URL, bounds and legend of a raster layer's overlay (None when it has no data)."""
    data, bounds = _raster_overlay(layer.raster, detail.overlay_pixels)
    if not data.count():
        return None
    mask = np.ma.getmaskarray(data)
    legend = {"title": layer.title, "unit": wording.unit(layer.unit)}
    if layer.kind == "categorical":
        codes = np.unique(data.compressed())
        values, fixed, names = _raster_classes(layer, codes)
        colours, rows = _categories(values, fixed, names, wording)
        index = np.searchsorted(codes, data.filled(codes[0]))
        url = _palette_png(index, mask, _hex_to_rgb([colours[str(c)] for c in codes]))
        legend["rows"] = rows
    else:
        values = data.compressed().astype(float)
        hide = bool((values == 0).mean() >= 0.3 and (values != 0).any())
        scale = _scale(values, _style_of(layer.name, layer.group), hide_zero=hide, explicit=_has_style(layer.name))
        filled = data.filled(0).astype(float)
        url = _palette_png(scale.colour_index(filled), mask | (hide & (filled == 0)), _hex_to_rgb(scale.palette()))
        legend.update(rows=scale.rows, note=wording("map.zero_not_drawn") if hide else "")
    return {"url": url, "bounds": bounds, "legend": legend}


def _has_style(key: str | None) -> bool:
    return key is not None and key in set(_csv("web", "map_classes.csv")["key"])


# --------------------------------------------------------------------------- the page's contents


#: Columns of names a project gives, shown as written (a unit named "Forest" is not 林地).
_AS_WRITTEN = frozenset({"unit_id", "unit_name", "name", "title"})


class _OverBudget(Exception):
    """A page being built is already larger than its size budget (:func:`write_map` then tries the next level)."""


class _Page:
    """Collects what one map page shows: geometries and tables (each stored once), field labels,
    class names, layers, and the words of the page.

    With a `budget_mb`, the page counts the bytes it will hold at least -- its encoded geometries,
    its tables as JSON and its images, each written into the page as they are -- and raises
    :class:`_OverBudget` as soon as they are over the budget: the finished page would be too.
    """

    def __init__(self, detail: Detail, extent_m: float, wording: _Words, encoded: dict | None = None,
                 overlays: dict | None = None, budget_mb: float | None = None):
        self.detail = detail
        self.extent_m = extent_m
        self.tolerance_m = extent_m * detail.simplify_fraction
        self.words = wording
        self.geometries: dict[str, dict] = {}
        self.tables: dict[str, dict] = {}
        self.fields: dict[str, list] = {}
        self.values: dict[str, dict[str, str]] = {}  # column -> value -> the name a reader sees
        self.layers: list[dict] = []
        self._keys: dict[str, str] = {}
        self._encoded = {} if encoded is None else encoded  # shared by the pages of write_map's levels
        self.overlays = {} if overlays is None else overlays  # raster overlays, shared likewise
        self._budget_mb = budget_mb
        self._bytes = 0  # the page's size at least [bytes]

    def _holds(self, size: int) -> None:
        """Count `size` bytes of the page (raises :class:`_OverBudget` when the page is over its budget)."""
        self._bytes += size
        if self._budget_mb is not None and self._bytes / 1e6 > self._budget_mb:
            raise _OverBudget

    def geometry(self, frame: gpd.GeoDataFrame, tolerance_m: float) -> str:
        """Key of the frame's display geometries, stored once per distinct set (layers drawn from the
        same geometries, like the parcels by emissions and by carbon, share them)."""
        digest, kind, tolerance_m = _geometry_key(frame, tolerance_m)
        if digest not in self._keys:
            self._keys[digest] = f"g{len(self._keys)}"
            if digest not in self._encoded:
                self._encoded[digest] = _display_encoding(frame, tolerance_m, kind)
            if isinstance(self._encoded[digest], Future):  # being encoded by another thread
                self._encoded[digest] = self._encoded[digest].result()
            encoded = self.geometries[self._keys[digest]] = self._encoded[digest]
            self._holds(len(encoded["counts"][0]) + len(encoded["coords"][0]))  # ASCII text in the page
        return self._keys[digest]

    def table(self, frame: pd.DataFrame, digits: int = 5, *, summary: bool = False) -> str:
        """Key of the attribute table (its columns labelled for readers)."""
        key = f"t{len(self.tables)}"
        self.tables[key] = {c: _column_values(frame[c], digits) for c in frame.columns}
        if self._budget_mb is not None:  # the table's JSON is written into the page as it is
            self._holds(len(_js(self.tables[key]).encode("utf-8")))
        for column in frame.columns:
            self.field(column, summary=summary)
            text = not pd.api.types.is_numeric_dtype(frame[column]) or pd.api.types.is_bool_dtype(frame[column])
            if text and column not in _AS_WRITTEN:
                self.name_values(column, frame[column])
        return key

    def field(self, column: str, *, summary: bool = False) -> None:
        """The label and unit readers see for a column (its own name when no table knows it: a
        column of the user's own data)."""
        if column not in self.fields:
            label, unit = self.words.column(column, summary=summary) or (column, "")
            self.fields[column] = [label, unit, 1 if _is_year(column) else 0]

    def name_values(self, column: str, series: pd.Series) -> None:
        """Readers' names of the classes of a text column (skipped for identifiers: many values)."""
        distinct = pd.unique(series.dropna().astype(str))
        if len(distinct) > 255:
            return
        named = {v: self.words.class_name(v) for v in distinct}
        named = {v: n for v, n in named.items() if n != v}
        if named:
            self.values.setdefault(column, {}).update(named)

    def add(self, spec: dict) -> None:
        spec["id"] = f"l{len(self.layers)}"
        self.layers.append(spec)
        self._holds(len(spec.get("url", "")))  # an image's data URL (ASCII)


def _geometry_key(frame: gpd.GeoDataFrame, tolerance_m: float) -> tuple[str, str, float]:
    """The digest of a frame's display geometries (the same for the same geometries, kind,
    tolerance and CRS), their kind and their tolerance [m] (none but for polygons)."""
    kind = _vector_kind(frame)
    tolerance_m = tolerance_m if kind == "polygon" else 0.0
    source = shapely.to_wkb(frame.geometry.values)
    crs = frame.crs.to_wkt() if frame.crs is not None else ""  # the same CRS however it was written
    digest = hashlib.sha1(b"".join(source) + f"{kind} {tolerance_m:.6g} {crs}".encode()).hexdigest()
    return digest, kind, tolerance_m


def _drawn_geometry(layer, detail: Detail, extent_m: float) -> tuple[gpd.GeoDataFrame, float]:
    """The frame a vector layer's features are drawn from (flows with their arrowheads) and its
    display tolerance [m] at `detail`, on a map `extent_m` wide."""
    frame = layer.frame
    # large layers are drawn in full at close zoom: rounded to metres, not simplified (nor checked as coverages)
    large = len(frame) > TILE_ABOVE
    tolerance = max(getattr(layer, "display_tolerance_m", 0.0), 0.0 if large else extent_m * detail.simplify_fraction)
    flows = layer.name in _FLOW_LAYERS and _vector_kind(frame) == "line"
    return (_with_arrowheads(frame, extent_m / 60) if flows else frame), tolerance


def _colour_spec(page: _Page, layer, frame: gpd.GeoDataFrame, column: str | None) -> tuple[dict, dict]:
    """How a vector layer's features are coloured, and its legend."""
    legend = {"title": layer.title, "unit": page.words.unit(layer.unit)}
    if column is None:
        colour = _brewer(_GROUP_PALETTE.get(layer.group, "YlGnBu"), 5)[3]
        legend["rows"] = [[colour, ""]]
        return {"type": "single", "colour": colour}, legend
    if layer.kind == "categorical":
        values = sorted({_class_key(v) for v in _distinct(frame[column])})
        colours, legend["rows"] = _categories(values, layer.colours, getattr(layer, "labels", None), page.words)
        return {"type": "categories", "column": column, "colours": colours, "missing": _NO_DATA}, legend
    key = layer.name if _has_style(layer.name) else column
    scale = _scale(pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float), _style_of(key, layer.group),
                   explicit=_has_style(key), year=_is_year(column), lines=_vector_kind(frame) == "line")
    legend["rows"] = scale.rows
    return {"type": "classes", "column": column, "missing": _NO_DATA, **scale.spec()}, legend


def _full_detail_zoom(frame: gpd.GeoDataFrame) -> int:
    """The zoom from which every feature of a large layer is drawn: a typical feature two or three
    pixels wide, and at most 20,000 features in the densest 256-pixel tile (sizes in the frame's
    projected CRS, scaled to Web Mercator at the layer's latitude)."""
    bounds = frame.geometry.bounds.to_numpy()
    bounds = bounds[np.isfinite(bounds).all(axis=1)]
    projected = frame.crs is not None and frame.crs.is_projected
    latitude = float(frame.geometry.iloc[:1].centroid.to_crs("EPSG:4326").y.iloc[0]) if projected else 0.0
    stretch = 1 / math.cos(math.radians(latitude)) if projected else 2 * math.pi * 6378137.0 / 360  # m per degree
    size = np.maximum(bounds[:, 2] - bounds[:, 0], bounds[:, 3] - bounds[:, 1]) * stretch
    typical = float(np.median(size)) if size.size and np.median(size) > 0 else 10.0
    world = 2 * math.pi * 6378137.0
    zoom = max(0, math.ceil(math.log2(2.5 * world / 256 / typical)))
    centres = np.column_stack([bounds[:, 0] + bounds[:, 2], bounds[:, 1] + bounds[:, 3]]) / 2 * stretch
    while zoom < 18:
        _, counts = np.unique(np.floor(centres / (world / 2 ** zoom)), axis=0, return_counts=True)
        if counts.size == 0 or counts.max() <= 20_000:
            break
        zoom += 1
    return int(min(zoom, 18))


def _shown_columns(frame: gpd.GeoDataFrame, column: str | None, limit: int) -> list[str]:
    columns = [c for c in frame.columns if c != frame.geometry.name]
    if column:
        columns = [column] + [c for c in columns if c != column]
    return columns[:limit]


def _with_arrowheads(frame: gpd.GeoDataFrame, size_m: float) -> gpd.GeoDataFrame:
    """Each line with an arrowhead at its end: two strokes of at most `size_m` (a fifth of the line
    at the most) at 25 degrees either side of the line's last segment, for display only."""
    heads = []
    for line in frame.geometry.values:
        if line is None or line.geom_type != "LineString" or line.length == 0:
            heads.append(line)
            continue
        xy = np.asarray(line.coords)[:, :2]
        (x0, y0), (x1, y1) = xy[-2], xy[-1]
        back = math.atan2(y0 - y1, x0 - x1)
        size = min(size_m, line.length / 5)
        left, right = ((x1 + size * math.cos(back + a), y1 + size * math.sin(back + a))
                       for a in (math.radians(25), -math.radians(25)))
        heads.append(shapely.MultiLineString([xy, [left, (x1, y1), right]]))
    return frame.set_geometry(gpd.GeoSeries(heads, index=frame.index, crs=frame.crs))


def _vector_spec(page: _Page, layer) -> dict | None:
    """A vector layer: drawn whole (small), by canvas tiles with cells at small scales (large), or as
    cells only (over the level's feature limit). None for a layer without features."""
    frame = layer.frame
    if len(frame) == 0:
        return None
    limit = page.detail.max_features
    if limit is not None and len(frame) > limit:
        return _cells_only_spec(page, layer, limit)
    large = len(frame) > TILE_ABOVE
    columns = _shown_columns(frame, layer.column, 5 if large else 30)
    kind = _vector_kind(frame)
    fill, legend = _colour_spec(page, layer, frame, layer.column)
    flows = layer.name in _FLOW_LAYERS and kind == "line"
    shown, tolerance = _drawn_geometry(layer, page.detail, page.extent_m)
    spec = {"group": layer.group, "title": layer.title, "kind": kind, "show": False, "fill": fill, "legend": legend,
            "geometry": page.geometry(shown, tolerance), "table": page.table(frame[columns], 3 if large else 5),
            "tooltip": columns[:3], "popup": columns}
    if flows:
        spec["widths"] = True
    if large:
        spec["tiles"] = _cells(page, layer, frame, _full_detail_zoom(frame))
    return spec


def _cells(page: _Page, layer, frame: gpd.GeoDataFrame, zoom: int) -> dict:
    """The cells a large layer shows below the zoom of full detail: the mean (or most frequent
    class) of its column per cell, coloured like the features."""
    how = "mode" if layer.kind == "categorical" else "mean"
    cells = aggregate_cells(frame, layer.column, how, 5_000)
    columns = ["features"] + ([layer.column] if layer.column else [])
    note = page.words("map.cells", how=page.words(f"map.how_{how}"), cell=round(cells.attrs["cell_m"]))
    return {"minZoom": zoom, "geometry": page.geometry(cells, 0.0), "table": page.table(cells[columns], 3),
            "note": note}


def _cells_only_spec(page: _Page, layer, limit: int) -> dict:
    how = "mode" if layer.kind == "categorical" else getattr(layer, "aggregate", "mean")
    cells = aggregate_cells(layer.frame, layer.column, how, limit)
    fill, legend = _colour_spec(page, layer, cells, layer.column)
    legend["note"] = page.words("map.aggregated", how=page.words(f"map.how_{how}"), cell=round(cells.attrs["cell_m"]))
    columns = ["features"] + ([layer.column] if layer.column else [])
    return {"group": layer.group, "title": layer.title, "kind": "polygon", "show": False, "fill": fill,
            "legend": legend, "geometry": page.geometry(cells, 0.0), "table": page.table(cells[columns], 3),
            "tooltip": columns[::-1], "popup": columns}


def _raster_layer_spec(page: _Page, layer) -> dict | None:
    """A raster layer's overlay (None when it has no data), made once for every page of the same
    overlay size (:attr:`_Page.overlays`: made already, or being made by another thread)."""
    key = (id(layer), page.detail.overlay_pixels)
    if key not in page.overlays:
        page.overlays[key] = _raster_spec(layer, page.detail, page.words)
    spec = page.overlays[key]
    if isinstance(spec, Future):
        spec = page.overlays[key] = spec.result()
    if spec is None:
        return None
    return {"group": layer.group, "title": layer.title, "kind": "image", "show": False, **spec}


# --------------------------------------------------------------------------- planning units

#: Colours of the carbon balance classes.
_BALANCE_COLOURS = {"carbon_deficit": "#d73027", "balanced": "#fee08b", "carbon_surplus": "#1a9850"}
#: Colours of the carbon compensation zones (:mod:`carbonmap.compensation`): payers red, receivers green.
_COMPENSATION_COLOURS = {"carbon_paying": "#d73027", "carbon_balanced": "#fee08b", "carbon_receiving": "#1a9850"}
#: Summary columns of classes drawn as unit layers, with their colours.
_CLASS_COLUMNS = {"balance_class": _BALANCE_COLOURS, "compensation_class": _COMPENSATION_COLOURS}
#: The theme of each summary column (first matching rule), else by the stage that publishes it.
_THEME_RULES = ((r"stock_t_c_p\d+", "sinks"),
                (r"(source|sink|net)_co2_t_yr_(p\d+|u95)|p_\w+_pct|net_top_coefficient", "balance"),
                (r"source_\w+|builtup_\w+", "sources"), (r"sink_co2_t_yr", "sinks"),
                (r"net_co2_t_yr|sink_source_ratio|balance_class|efficiency_\w+|co2_t_per_\w+", "balance"))
_THEME_OF_STAGE = {"units": "units", "rasters": "inputs", "emissions": "sources", "stocks": "sinks", "sinks": "sinks",
                   "landscape": "ecology", "network": "ecology", "renewables": "renewables", "screening": "screening",
                   "balance": "balance", "compensation": "balance", "scenarios": "scenarios"}
#: The card's themes and their key figures (patterns of summary columns), in order.
_KEY_FIGURES = (
    ("balance", (r"net_co2_t_yr", r"source_co2_t_yr", r"sink_co2_t_yr", r"sink_source_ratio", r"balance_class",
                 r"p_balance_class_pct", r"efficiency_band", r"co2_t_per_capita_yr", r"co2_t_per_cny_1e4", r"compensation_class",
                 r"compensation_paid_co2_t_yr", r"compensation_received_co2_t_yr")),
    ("sources", (r"source_(?!co2_t_yr$)\w+_co2_t_yr", r"builtup_intensity_co2_t_km2_yr")),
    ("sinks", (r"sink_vegetation_co2_t_yr", r"sink_blue_carbon_co2_t_yr", r"stock_change_t_co2")),
    ("ecology", (r"eco_pland_pct", r"eco_mesh_ha", r"eco_division", r"eco_source_area_ha", r"eco_corridor_length_km")),
    ("renewables", (r"renewable_electricity_gwh_yr", r"rooftop_pv_gwh_yr", r"renewable_co2_avoided_t_yr",
                    r"gshp_heat_potential_gwh_yr")),
    ("screening", (r"pv_package_yield_gwh_yr", r"afforestation_area_ha", r"afforestation_sink_t_co2_yr")),
    ("scenarios", (r"\w+_peak_year", r"\w+_net_zero_year")),
    ("units", (r"population", r"area_km2", r"gdp_cny\w*")),
    ("inputs", ()),
)


def _theme(column: str) -> str:
    for pattern, theme in _THEME_RULES:
        if re.fullmatch(pattern, column):
            return theme
    info = column_info(column)
    return _THEME_OF_STAGE.get(info["stage"], "inputs") if info else "inputs"


def _theme_label(theme: str, wording: _Words) -> str:
    return wording("map.theme_balance") if theme == "balance" else wording.group(theme)


def _card(summary: pd.DataFrame, wording: _Words) -> dict:
    """The unit card: per theme, its key figures and all its columns; the range and mean of each
    numeric column across the units (for the bars)."""
    columns = [c for c in summary.columns if c not in ("unit_id", "unit_name")]
    themes = []
    for theme, patterns in _KEY_FIGURES:
        own = [c for c in columns if _theme(c) == theme]
        if not own:
            continue
        key = [c for p in patterns for c in own if re.fullmatch(p, c)]
        themes.append([_theme_label(theme, wording), list(dict.fromkeys(key)), own])
    stats = {}
    for column in _numeric_columns(summary):
        values = summary[column].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        if values.size:
            stats[column] = [float(values.min()), float(values.max()), float(f"{values.mean():.5g}")]
    return {"themes": themes, "stats": stats}


def _numeric_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c != "geometry" and pd.api.types.is_numeric_dtype(frame[c])
            and not pd.api.types.is_bool_dtype(frame[c])]


def _choropleths(summary: pd.DataFrame, headline: Sequence[str]) -> list[str]:
    """The summary columns drawn as unit layers: net emissions, the balance class, the efficiency
    grade and the compensation zone, the headline columns, then the area."""
    numeric = set(_numeric_columns(summary))
    first = ["net_co2_t_yr", "balance_class", "efficiency_band", "compensation_class"]
    wanted = first + [c for c in headline if c not in first and c != "area_km2"] + ["area_km2"]
    return [c for c in dict.fromkeys(wanted) if c in summary and (c in numeric or c in _CLASS_COLUMNS)]


def _unit_fill(summary: pd.DataFrame, column: str, wording: _Words) -> tuple[dict, list]:
    """Colours and legend rows of one unit layer."""
    if column in _CLASS_COLUMNS:
        known = _CLASS_COLUMNS[column]
        present = [c for c in known if c in set(summary[column].dropna())]
        extra = sorted(set(summary[column].dropna()) - set(present))
        colours, rows = _categories(present + extra, known, None, wording)
        return {"type": "categories", "column": column, "colours": colours, "missing": _NO_DATA}, rows
    if column == "efficiency_band":
        return _efficiency_fill(summary, wording)
    style = _style_of(column, "units")
    scale = _scale(summary[column].to_numpy(dtype=float), style, explicit=_has_style(column), year=_is_year(column))
    return {"type": "classes", "column": column, "missing": _NO_DATA, **scale.spec()}, scale.rows


def _efficiency_fill(summary: pd.DataFrame, wording: _Words) -> tuple[dict, list]:
    """The carbon efficiency grades, in the colours and with the limits of the bands table."""
    bands = _csv("coefficients", "efficiency_bands.csv")
    colours, rows = {}, []
    for i, band in enumerate(bands.itertuples()):
        last = i == len(bands) - 1
        limit = bands["max_relative_intensity"].iloc[i - 1 if last else i]
        name = band.label_zh if wording.language == "zh" else band.label_en
        key = "map.efficiency_band_last" if last else "map.efficiency_band"
        colours[str(band.band)] = band.colour
        rows.append([band.colour, wording(key, band=band.band, colour=name, limit=format_number(float(limit)))])
    return {"type": "categories", "column": "efficiency_band", "colours": colours, "missing": _NO_DATA}, rows


def _add_units(page: _Page, summary: gpd.GeoDataFrame, headline: Sequence[str]) -> dict:
    """The unit layers (sharing the units' geometry and table), and what the card, the labels and
    the find box need."""
    attributes = pd.DataFrame(summary.drop(columns=summary.geometry.name))
    geometry, table = page.geometry(summary, page.tolerance_m), page.table(attributes, digits=7, summary=True)
    page.values["efficiency_band"] = {str(b): r[1] for b, r in zip(
        _csv("coefficients", "efficiency_bands.csv")["band"], _efficiency_fill(summary, page.words)[1])}
    name = "unit_name" if "unit_name" in summary else "unit_id"
    for column in _choropleths(attributes, headline):
        fill, rows = _unit_fill(attributes, column, page.words)
        label, unit = page.words.column(column) or (column, "")
        theme = _theme(column)
        page.add({"group": "units" if theme in ("balance", "units") else theme, "title": label, "kind": "polygon",
                  "show": column == "net_co2_t_yr", "units": True, "geometry": geometry, "table": table,
                  "fill": fill, "legend": {"title": label, "unit": unit, "rows": rows},
                  "tooltip": [name, column], "popup": None})
    if page.layers and not any(spec["show"] for spec in page.layers):
        page.layers[0]["show"] = True
    return {"geometry": geometry, "table": table, "name": name, "id": "unit_id" if "unit_id" in summary else name,
            "labels": _label_points(summary), "card": _card(attributes, page.words)}


def _label_points(summary: gpd.GeoDataFrame) -> list[list[float]]:
    """Where each unit's name is written: the centre of its largest inscribed circle [lat, lon],
    and the unit's area (larger units are labelled first)."""
    geoms = summary.geometry.values
    tolerance = max(math.sqrt(float(np.median(shapely.area(geoms)))) / 50, 1.0)
    centres = shapely.get_point(shapely.maximum_inscribed_circle(geoms, tolerance), 0)
    centres = np.where(shapely.is_empty(centres), shapely.point_on_surface(geoms), centres)
    lonlat = gpd.GeoSeries(centres, crs=summary.crs).to_crs("EPSG:4326")
    return [[round(p.y, 6), round(p.x, 6), float(a)] for p, a in zip(lonlat, shapely.area(geoms))]


# --------------------------------------------------------------------------- header and page


def _header(summary: pd.DataFrame, wording: _Words, title: str, milestones: pd.DataFrame | None) -> dict:
    """The plan's name and the citywide figures: sources, sinks, net emissions (in Mt CO2/yr or
    10^4 t CO2/yr), the peak year of the baseline when the run has scenarios."""
    scale = 1e4 if wording.language == "zh" else 1e6
    figures = []
    for column, key in (("source_co2_t_yr", "map.sources"), ("sink_co2_t_yr", "map.sinks"),
                        ("net_co2_t_yr", "map.net")):
        if column in summary:
            total = float(pd.to_numeric(summary[column], errors="coerce").sum())
            figures.append([wording(key), _figure(total / scale), wording("map.million_t_co2_yr")])
    peak = _peak(milestones, wording)
    if peak:
        figures.append([wording("map.peak"), peak, ""])
    return {"title": title, "figures": figures}


def _figure(value: float) -> str:
    """A header figure: whole from 100, else one decimal (two significant digits below 1)."""
    if abs(value) >= 99.95 or value == 0:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 0.995 else format_number(value)


def _peak(milestones: pd.DataFrame | None, wording: _Words) -> str | None:
    if milestones is None or "unit_id" not in milestones:
        return None
    city = milestones[milestones["unit_id"].astype(str) == "city"]
    if city.empty:
        return None
    row = city[city["scenario"] == "baseline"].iloc[0] if (city["scenario"] == "baseline").any() else city.iloc[0]
    scenario = wording.placeholder("scenario", row["scenario"])
    if "peaked" in row and not bool(row["peaked"]):
        return wording("map.no_peak", year=int(row["peak_year"]), scenario=scenario)
    return wording("map.peak_year", year=int(row["peak_year"]), scenario=scenario)


#: Words the page's script shows (buttons, messages), by its own names.
_UI_WORDS = {"layers": "map.layers", "filter": "map.filter", "basemap": "map.basemap", "find": "map.find",
             "noMatch": "map.no_match", "matches": "map.matches", "found": "map.found", "unitNames": "map.unit_names",
             "allFigures": "map.all_figures", "cityAverage": "map.city_average", "moreInGpkg": "map.more_in_gpkg",
             "close": "map.close", "noData": "map.no_data", "offline": "map.basemap_offline",
             "openLayers": "map.open_layers", "closeLayers": "map.close_layers", "unitCard": "map.unit_card",
             "interval": "map.interval"}


def _ui_words(wording: _Words) -> dict[str, str]:
    """The page's words in the run's language, their ``{placeholders}`` left for the script to fill."""
    table = _csv("words", "words.csv").set_index("key")
    return {name: table.at[key, wording.language] for name, key in _UI_WORDS.items()}


def _basemaps(wording: _Words, names: Sequence[str], tianditu_key: str | None) -> list:
    bases = [[wording("map.no_basemap"), None, {}, True]]
    for name in names:
        if name == "Tianditu" and not tianditu_key:
            continue
        url, attribution = BASEMAPS[name]
        label = wording(f"map.basemap_name_{name}") if wording.has(f"map.basemap_name_{name}") else name
        bases.append([label, url.replace("{key}", tianditu_key or ""), {"attribution": attribution, "maxZoom": 18},
                      False])
    return bases


def _finder(summary: gpd.GeoDataFrame, name: str, identifier: str) -> list:
    """[shown name, id, [[south, west], [north, east]]] per unit; repeated names carry the id."""
    lonlat = summary.to_crs("EPSG:4326")
    names = lonlat[name].astype(str)
    repeated = names.duplicated(keep=False)
    ids = lonlat[identifier].astype(str)
    shown = np.where(repeated & (name != identifier), names + " (" + ids + ")", names)
    bounds = lonlat.geometry.bounds.values
    return [[str(s), str(i), [[b[1], b[0]], [b[3], b[2]]]] for s, i, b in zip(shown, ids, bounds)]


def _rasters(layers: Sequence) -> dict[str, str]:
    return {layer.name: str(layer.title) for layer in layers if getattr(layer, "raster", None) is not None}


def build_page(summary: gpd.GeoDataFrame, layers: Sequence = (), *, title: str = "carbonmap",
               headline: Sequence[str] = (), detail: Detail = Detail(), basemaps: Sequence[str] = ("OpenStreetMap",),
               tianditu_key: str | None = None, groups: Sequence[str] = (), language: str = "en",
               milestones: pd.DataFrame | None = None, scenarios: dict[str, str] | None = None,
               translations: dict[str, str] | None = None, encoded: dict | None = None) -> str:
    """The planning map as one HTML page (module docstring).

    Parameters
    ----------
    summary : GeoDataFrame
        One row per planning unit with the summary columns (projected CRS).
    layers : sequence of :class:`carbonmap.stage.Layer`, titles as text in `language`
    title : the plan's name, shown in the header and the page title
    headline : summary columns drawn as unit layers (after net emissions, balance class, efficiency grade)
    detail : Detail
    basemaps : names of :data:`BASEMAPS` offered as base layers (off by default)
    tianditu_key : the user's Tianditu key (the Tianditu basemap is offered only with one)
    groups : the order of the layer groups (others follow in order of use)
    language : "zh" or "en": every word a reader sees
    milestones : the run's ``scenario_milestones`` table (the peak year in the header), if any
    scenarios : the title of each scenario of the run, by name
    translations : the run's own English -> Chinese class names, such as its rule tables' reasons
        (:func:`carbonmap.readable.rule_translations`), used first in a Chinese page
    encoded : geometries encoded for an earlier page, by their digest (reused, and added to:
        :func:`write_map` shares them between the pages of its levels)
    """
    return _build_page(summary, layers, title=title, headline=headline, detail=detail, basemaps=basemaps,
                       tianditu_key=tianditu_key, groups=groups, language=language, milestones=milestones,
                       scenarios=scenarios, translations=translations, encoded=encoded)


def _build_page(summary: gpd.GeoDataFrame, layers: Sequence = (), *, title: str = "carbonmap",
                headline: Sequence[str] = (), detail: Detail = Detail(), basemaps: Sequence[str] = ("OpenStreetMap",),
                tianditu_key: str | None = None, groups: Sequence[str] = (), language: str = "en",
                milestones: pd.DataFrame | None = None, scenarios: dict[str, str] | None = None,
                translations: dict[str, str] | None = None, encoded: dict | None = None, overlays: dict | None = None,
                budget_mb: float | None = None) -> str:
    """:func:`build_page`, sharing raster `overlays` (by layer and pixels) with other pages; with a
    `budget_mb`, raises :class:`_OverBudget` as soon as the page is sure to be larger."""
    wording = _Words(language, _rasters(layers), scenarios, translations)
    xmin, ymin, xmax, ymax = summary.total_bounds
    page = _Page(detail, max(xmax - xmin, ymax - ymin), wording, encoded, overlays, budget_mb)
    units = _add_units(page, summary, headline)
    for layer in layers:
        if not (getattr(layer, "in_html", True) or detail.optional_layers):
            continue
        # a layer saved between stages is read for its spec alone: one large layer in memory at a time
        spec = _vector_spec(page, layer.loaded()) if layer.raster is None else _raster_layer_spec(page, layer)
        if spec is not None:
            page.add(spec)
    units["find"] = _finder(summary, units["name"], units["id"])
    used = [spec["group"] for spec in page.layers]
    order = [g for g in dict.fromkeys([*groups, *used]) if g in used]
    bounds = summary.to_crs("EPSG:4326").total_bounds
    data = {"lang": language, "words": _ui_words(wording), "header": _header(summary, wording, title, milestones),
            "bounds": [[bounds[1], bounds[0]], [bounds[3], bounds[2]]],
            "basemaps": _basemaps(wording, basemaps, tianditu_key),
            "groups": [[g, wording.group(g)] for g in order], "geometries": page.geometries, "tables": page.tables,
            "fields": page.fields, "values": page.values, "layers": page.layers, "units": units}
    return _html(title, language, data)


def _html(title: str, language: str, data: dict) -> str:
    """The page: Leaflet, carbonmap's script and styles inlined, and the map's data as JSON (in a
    data block, parsed as JSON: faster than a script literal for large maps)."""
    layers_png = base64.b64encode(_WEB.joinpath("layers.png").read_bytes()).decode("ascii")
    css = _WEB.joinpath("leaflet.css").read_text(encoding="utf-8")
    css = re.sub(r"url\(images/layers(-2x)?\.png\)", f"url(data:image/png;base64,{layers_png})", css)
    css = css.replace("url(images/marker-icon.png)", "none")  # no default markers: nothing to fetch
    css += "\n" + _WEB.joinpath("carbonmap.css").read_text(encoding="utf-8")
    scripts = [_WEB.joinpath(name).read_text(encoding="utf-8").split("//# sourceMappingURL")[0]
               for name in ("leaflet.js", "carbonmap.js")]
    lang = "zh-CN" if language == "zh" else "en"
    return (f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n<style>{css}</style>\n"
            + "".join(f"<script>{s}</script>\n" for s in scripts)
            + "</head>\n<body>\n<div id=\"carbonmap\"></div>\n"
            f'<script type="application/json" id="carbonmap-data">{_js(data)}</script>\n'
            "<script>carbonmap.start(document.getElementById(\"carbonmap\"), "
            "JSON.parse(document.getElementById(\"carbonmap-data\").textContent));</script>\n"
            "</body>\n</html>\n")


def write_html(page: str, path: str | Path) -> Path:
    """Save a page, atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(page, encoding="utf-8")
    return Path(path)


def write_map(summary: gpd.GeoDataFrame, layers: Sequence, path: str | Path, *, budget_mb: float = 15.0,
              **options) -> tuple[Path, float, Detail]:
    """Build and write the map, at the finest of :data:`DETAIL_LEVELS` that fits `budget_mb`.

    Returns (path, size in MB, the level used). If even the coarsest level is over budget, the
    coarsest page is written and the caller is told by the size.
    """
    levels, signatures = [], set()
    for detail in DETAIL_LEVELS:  # a level giving the same page as an earlier one is left out
        if _signature(detail, layers) not in signatures:
            signatures.add(_signature(detail, layers))
            levels.append(detail)
    wording = _Words(options.get("language", "en"), _rasters(layers), options.get("scenarios"),
                     options.get("translations"))
    xmin, ymin, xmax, ymax = summary.total_bounds
    extent_m, first = max(xmax - xmin, ymax - ymin), levels[0]
    # small layers are read once for every level; large ones as each page needs them (module docstring)
    layers = [layer.loaded() if layer.raster is None and layer.features() <= TILE_ABOVE else layer
              for layer in layers]
    drawn = [layer for layer in layers if getattr(layer, "in_html", True) or first.optional_layers]
    overlays, encoded = {}, {}  # made once for all levels
    with contextlib.ExitStack() as stack:
        # rasterio silences this warning of its in-memory datasets with catch_warnings, which threads
        # running at once may undo for each other; the overlays are georeferenced
        stack.enter_context(warnings.catch_warnings())
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        pool = ThreadPoolExecutor(max_workers=OVERLAY_THREADS)
        stack.callback(pool.shutdown, cancel_futures=True)
        # made by other threads (rasterio, Pillow, shapely and PROJ release the GIL), in the order the pages
        # need them: the raster overlays of the first level and the geometries of the small vector layers
        for layer in drawn:
            if layer.raster is not None:
                overlays[(id(layer), first.overlay_pixels)] = pool.submit(_raster_spec, layer, first, wording)
            elif 0 < layer.features() <= TILE_ABOVE:  # drawn whole at every level
                shown, tolerance = _drawn_geometry(layer, first, extent_m)
                digest, kind, tolerance = _geometry_key(shown, tolerance)
                if digest not in encoded:
                    encoded[digest] = pool.submit(_display_encoding, shown, tolerance, kind)
        for detail in levels:
            last = detail is levels[-1]  # written even when over budget
            try:
                page = _build_page(summary, layers, detail=detail, encoded=encoded, overlays=overlays,
                                   budget_mb=None if last else budget_mb, **options)
            except _OverBudget:  # this level's page is over budget: no need to finish it
                continue
            size_mb = len(page.encode("utf-8")) / 1e6
            if size_mb <= budget_mb:
                break
    write_html(page, path)
    return Path(path), size_mb, detail


def _signature(detail: Detail, layers: Sequence) -> tuple:
    """What a level changes in the page of these layers (levels with the same signature give the same page)."""
    limit = detail.max_features
    drawn = tuple((getattr(layer, "in_html", True) or detail.optional_layers,
                   limit if layer.raster is None and limit is not None and layer.features() > limit else None)
                  for layer in layers)
    return detail.overlay_pixels, detail.simplify_fraction, drawn
