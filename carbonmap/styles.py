"""QGIS layer styles stored in the GeoPackage, so that layers open styled in QGIS.

QGIS looks for a table ``layer_styles`` in a GeoPackage (the schema QGIS creates when a style is
saved "in the database": ``f_table_catalog``, ``f_table_schema``, ``f_table_name``,
``f_geometry_column``, ``styleName``, ``styleQML``, ``styleSLD``, ``useAsDefault``,
``description``, ``owner``, ``ui``, ``update_time``) and applies the row marked
``useAsDefault`` when a layer is opened. :func:`layer_styles` writes one such row per vector
layer: a graduated renderer (5 quantile classes on the viridis ramp the HTML map uses) for a
continuous column, a categorized renderer with the layer's own colours for a categorical one,
a single symbol otherwise. The styles carry symbology only (QML ``styleCategories="Symbology"``).
Class labels are written for people: ranges as ``-58,256 – -10,788 t CO2/yr`` (never scientific
notation), categories by their names in the run's language.

:func:`raster_qml` writes the same for a raster (``rasters/<name>.qml`` beside each COG, which
QGIS applies when the raster is opened): a paletted renderer with the class names and colours
for a categorical raster, a pseudocolour ramp with 5 labelled stops for a continuous one.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Sequence
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import pandas as pd

from carbonmap.readable import format_number, translate

__all__ = ["layer_styles", "qml", "raster_qml"]

#: GeoPackage geometry column name (pyogrio / GDAL default).
GEOMETRY_COLUMN = "geom"
_RAMP = ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725")  # viridis, as the HTML map
_OTHER = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
          "#17becf")


def _rgba(hex_colour: str, alpha: int = 255) -> str:
    return ",".join(str(int(hex_colour[i:i + 2], 16)) for i in (1, 3, 5)) + f",{alpha}"


def _symbol(name: str, geometry: str, colour: str) -> str:
    """One QGIS symbol: a filled polygon, a line or a circle marker."""
    if geometry == "line":
        kind, cls, options = "line", "SimpleLine", {"line_color": _rgba(colour), "line_width": "0.6",
                                                    "line_style": "solid", "capstyle": "round"}
    elif geometry == "point":
        kind, cls, options = "marker", "SimpleMarker", {"color": _rgba(colour), "name": "circle", "size": "2.6",
                                                        "outline_color": "35,35,35,255", "outline_width": "0.2"}
    else:
        kind, cls, options = "fill", "SimpleFill", {"color": _rgba(colour, 200), "style": "solid",
                                                    "outline_color": "51,51,51,255", "outline_width": "0.1"}
    entries = "".join(f'<Option type="QString" name="{k}" value="{v}"/>' for k, v in options.items())
    return (f'<symbol type="{kind}" name="{name}" alpha="1" clip_to_extent="1" force_rhr="0">'
            f'<layer class="{cls}" pass="0" locked="0" enabled="1"><Option type="Map">{entries}</Option></layer>'
            f"</symbol>")


def qml(geometry: str, column: str | None = None, *, kind: str = "continuous", values=None,
        colours: dict[str, str] | None = None, unit: str = "", language: str = "en", year: bool = False) -> str:
    """A QGIS style document (QML) for a layer of `geometry` coloured by `column`.

    Parameters
    ----------
    geometry : {'polygon', 'line', 'point'}
        The layer's geometry family.
    column : str, optional
        The attribute the layer is coloured by; without it (or without `values`) a single
        symbol.
    kind : {'continuous', 'categorical'}
        How `column` is drawn.
    values : array, optional
        The column's values: continuous values give 5 quantile classes on the viridis ramp;
        categorical values one class per distinct value.
    colours : dict of str -> str, optional
        Hex colour of each category (others get a default palette).
    unit : str
        Unit shown after the class bounds of a continuous legend.
    language : {'zh', 'en'}
        The language of category labels (class names, zones, reasons are translated).
    year : bool
        The values are years (written without separators).

    Returns
    -------
    str
        The QML document (symbology only).

    Examples
    --------
    >>> "graduatedSymbol" in qml("polygon", "net_co2_t_yr", values=[1.0, 2.0, 3.0])
    True
    """
    head = '<!DOCTYPE qgis PUBLIC \'http://mrcc.com/qgis.dtd\' \'SYSTEM\'>' \
           '<qgis version="3.28.0" styleCategories="Symbology">'
    if column is None or values is None or len(values) == 0:
        return (head + '<renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0" forceraster="0">'
                f"<symbols>{_symbol('0', geometry, _OTHER[0])}</symbols></renderer-v2></qgis>")
    if kind == "categorical":
        labels = sorted({str(v) for v in values})
        fixed = colours or {}
        symbols = "".join(_symbol(str(i), geometry, fixed.get(label, _OTHER[i % len(_OTHER)]))
                          for i, label in enumerate(labels))
        categories = "".join(f"<category value={quoteattr(label)} symbol=\"{i}\" "
                             f'label={quoteattr(translate(label, language))} render="true"/>'
                             for i, label in enumerate(labels))
        return (head + f'<renderer-v2 type="categorizedSymbol" attr={quoteattr(column)} symbollevels="0" '
                f'enableorderby="0" forceraster="0"><categories>{categories}</categories>'
                f"<symbols>{symbols}</symbols></renderer-v2></qgis>")
    numbers = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    numbers = numbers[np.isfinite(numbers)]
    if numbers.size == 0:
        return qml(geometry)
    edges = np.unique(np.quantile(numbers, np.linspace(0, 1, len(_RAMP) + 1)))
    if edges.size == 1:
        edges = np.array([edges[0], edges[0]])
    ranges, symbols = [], []
    for i, (low, high) in enumerate(zip(edges[:-1], edges[1:])):
        colour = _RAMP[round(i * (len(_RAMP) - 1) / max(1, len(edges) - 2))]
        ranges.append(f'<range lower="{low:.10g}" upper="{high:.10g}" symbol="{i}" '
                      f'label={quoteattr(range_label(low, high, unit, year=year))} render="true"/>')
        symbols.append(_symbol(str(i), geometry, colour))
    return (head + f'<renderer-v2 type="graduatedSymbol" attr={quoteattr(column)} graduatedMethod="GraduatedColor" '
            f'symbollevels="0" enableorderby="0" forceraster="0"><ranges>{"".join(ranges)}</ranges>'
            f'<symbols>{"".join(symbols)}</symbols><mode name="quantile"/></renderer-v2></qgis>')


def range_label(low: float, high: float, unit: str = "", *, year: bool = False) -> str:
    """A class's label: its bounds as people write them, and the unit.

    Examples
    --------
    >>> range_label(-58260.1, -10788.4, "t CO2/yr")
    '-58,260 – -10,788 t CO2/yr'
    """
    text = f"{format_number(low, year=year)} – {format_number(high, year=year)}"
    return f"{text} {unit}" if unit else text


_RASTER_TAIL = ('<brightnesscontrast brightness="0" contrast="0" gamma="1"/>'
                '<huesaturation saturation="0" grayscaleMode="0" colorizeOn="0" colorizeRed="255" '
                'colorizeGreen="128" colorizeBlue="128" colorizeStrength="100" invertColors="0"/>'
                '<rasterresampler maxOversampling="2"/></pipe><blendMode>0</blendMode></qgis>')


def raster_qml(*, kind: str, classes: Sequence[tuple[int, str, str]] = (), values=None, unit: str = "") -> str:
    """A QGIS style document (QML) for a single-band raster.

    Parameters
    ----------
    kind : {'categorical', 'continuous'}
    classes : sequence of (value, label, hex colour)
        The classes of a categorical raster (a paletted renderer).
    values : array, optional
        A sample of a continuous raster's values: 5 stops at its 2nd, 25th, 50th, 75th and
        98th percentiles on the viridis ramp, labelled as people write numbers.
    unit : str
        The unit, after the labels of a continuous ramp.

    Returns
    -------
    str
        The QML document.

    Examples
    --------
    >>> 'type="paletted"' in raster_qml(kind="categorical", classes=[(1, "forest", "#1b7837")])
    True
    """
    head = ('<!DOCTYPE qgis PUBLIC \'http://mrcc.com/qgis.dtd\' \'SYSTEM\'>'
            '<qgis version="3.28.0" styleCategories="Symbology"><pipe>')
    if kind == "categorical":
        entries = "".join(f'<paletteEntry value="{int(value)}" color="{colour}" alpha="255" '
                          f"label={quoteattr(label)}/>" for value, label, colour in classes)
        return (head + '<rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">'
                f"<rasterTransparency/><colorPalette>{entries}</colorPalette></rasterrenderer>" + _RASTER_TAIL)
    numbers = np.asarray(values if values is not None else [], dtype=float)
    numbers = numbers[np.isfinite(numbers)]
    stops = np.percentile(numbers, [2, 25, 50, 75, 98]) if numbers.size else np.zeros(5)
    items = "".join(f'<item value="{v:.10g}" color="{c}" alpha="255" '
                    f"label={quoteattr(format_number(v) + (f' {unit}' if unit else ''))}/>"
                    for v, c in zip(stops, _RAMP))
    return (head + f'<rasterrenderer type="singlebandpseudocolor" band="1" opacity="1" alphaBand="-1" '
            f'classificationMin="{stops[0]:.10g}" classificationMax="{stops[-1]:.10g}" nodataColor="">'
            '<rasterTransparency/><minMaxOrigin><limits>None</limits><extent>WholeRaster</extent>'
            '<statAccuracy>Estimated</statAccuracy><cumulativeCutLower>0.02</cumulativeCutLower>'
            '<cumulativeCutUpper>0.98</cumulativeCutUpper><stdDevFactor>2</stdDevFactor></minMaxOrigin>'
            f'<rastershader><colorrampshader colorRampType="INTERPOLATED" classificationMode="2" clip="0" '
            f'minimumValue="{stops[0]:.10g}" maximumValue="{stops[-1]:.10g}">{items}</colorrampshader>'
            "</rastershader></rasterrenderer>" + _RASTER_TAIL)


def _geometry_kind(frame) -> str:
    """"point", "line" or "polygon" (also for mixed or no geometries), from shapely's type ids."""
    import shapely

    types = set(np.unique(shapely.get_type_id(np.asarray(frame.geometry.values))).tolist()) - {-1}  # -1: missing
    if types and types <= {0, 4}:  # Point, MultiPoint
        return "point"
    if types and types <= {1, 5}:  # LineString, MultiLineString
        return "line"
    return "polygon"


def layer_styles(layers: Iterable, summary, *, headline: Sequence[str] = (), language: str = "en") -> pd.DataFrame:
    """The ``layer_styles`` table QGIS reads from a GeoPackage: one default style per layer.

    Parameters
    ----------
    layers : iterable of Layer
        Vector layers of the run (:class:`carbonmap.stage.Layer` with a frame), each styled by
        its ``column``, ``kind``, ``colours`` and ``unit``.
    summary : GeoDataFrame
        The unit summary.
    headline : sequence of str
        Headline columns; the unit summary is coloured by the first one it has.
    language : {'zh', 'en'}
        The language of the labels (units, class names).

    Returns
    -------
    DataFrame
        One row per styled table, in the schema of QGIS's ``layer_styles`` (module docstring).
    """
    now = _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()
    rows = []

    def add(table, title, document):
        rows.append({"f_table_catalog": "", "f_table_schema": "", "f_table_name": table,
                     "f_geometry_column": GEOMETRY_COLUMN, "styleName": table, "styleQML": document,
                     "styleSLD": "", "useAsDefault": True, "description": escape(title), "owner": "carbonmap",
                     "ui": "", "update_time": now})

    from carbonmap.readable import column_label, column_unit, is_year_column
    from carbonmap.words import group_label, unit_label

    first = next((c for c in headline if c in summary.columns), None)
    add("unit_summary", column_label(first, language) if first else group_label("units", language),
        qml("polygon", first, values=summary[first].to_numpy() if first else None, language=language,
            unit=column_unit(first, language) if first else "", year=bool(first) and is_year_column(first)))
    for layer in layers:
        column = layer.column if layer.column in layer.frame.columns else None
        add(layer.name, str(layer.title), qml(_geometry_kind(layer.frame), column, kind=layer.kind,
                                              values=layer.frame[column].to_numpy() if column else None,
                                              colours=layer.colours, language=language,
                                              unit=unit_label(layer.unit, language) if layer.unit else ""))
    return pd.DataFrame(rows)
