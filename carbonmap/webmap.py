"""The interactive planning map (folium / Leaflet).

:func:`build_map` draws the per-unit summary as choropleths (one per headline column, with
a tooltip listing every summary value) and each raster layer as a colour-mapped overlay
with a legend, grouped in a layer control. Rasters are reprojected to Web Mercator before
they are drawn, so they sit exactly where Leaflet expects them.

Drawing lives here and in :mod:`carbonmap.report` only; analyses never draw.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from pathlib import Path

from branca.element import Template
import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rasterio.warp
import shapely
from rasterio.enums import Resampling

from carbonmap.io import atomic_path

__all__ = ["build_map", "write_html", "colorize", "SEQUENTIAL", "CATEGORICAL"]

#: Sequential ramp (viridis, sampled at 5 stops) for continuous values.
SEQUENTIAL = ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725")
#: Qualitative palette for classes (Tableau 20 order).
CATEGORICAL = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
    "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)
#: Longest side of a raster overlay in the HTML map [pixels]: with some 25 rasters embedded as
#: PNG, 640 keeps the page near 12 MB; full resolution stays in the COGs.
_MAX_OVERLAY_PIXELS = 640


def _hex_to_rgb(colors: Sequence[str]) -> np.ndarray:
    return np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in colors], dtype=float)


def colorize(values: np.ma.MaskedArray, vmin: float, vmax: float,
             stops: Sequence[str] = SEQUENTIAL) -> np.ndarray:
    """Map values linearly onto colour `stops`; masked cells become transparent.

    Returns
    -------
    ndarray (rows, cols, 4) uint8, RGBA.
    """
    data = np.ma.masked_invalid(values)
    span = vmax - vmin if vmax > vmin else 1.0
    t = np.clip((data.filled(vmin) - vmin) / span, 0.0, 1.0)
    rgb = _hex_to_rgb(stops)
    positions = np.linspace(0.0, 1.0, len(stops))
    out = np.empty(t.shape + (4,), dtype=np.uint8)
    for channel in range(3):
        out[..., channel] = np.interp(t, positions, rgb[:, channel]).round().astype(np.uint8)
    out[..., 3] = np.where(np.ma.getmaskarray(data), 0, 200)
    return out


def _raster_overlay(path: Path) -> tuple[np.ma.MaskedArray, list[list[float]]]:
    """Read a raster reprojected to Web Mercator (at most :data:`_MAX_OVERLAY_PIXELS` a side) and its
    lat/lon bounds."""
    with rasterio.open(path) as src:
        transform, width, height = rasterio.warp.calculate_default_transform(
            src.crs, "EPSG:3857", src.width, src.height, *src.bounds
        )
        scale = max(width, height) / _MAX_OVERLAY_PIXELS
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


def _add_raster(fmap: folium.Map, layer) -> None:
    data, bounds = _raster_overlay(layer.raster)
    group = folium.FeatureGroup(name=f"{layer.title}", show=False)
    if layer.kind == "categorical":
        codes = np.unique(data.compressed())
        colours = _palette([str(c) for c in codes], layer.colours)
        index = np.searchsorted(codes, data.filled(codes[0] if codes.size else 0))
        rgba = np.zeros(data.shape + (4,), dtype=np.uint8)
        rgba[..., :3] = _hex_to_rgb(list(colours.values()))[index] if codes.size else 0
        rgba[..., 3] = np.where(np.ma.getmaskarray(data), 0, 200)
        folium.raster_layers.ImageOverlay(rgba, bounds=bounds, name=layer.title).add_to(group)
        labels = layer.labels or {}
        legend = _category_legend(layer.title, {labels.get(code, code): colour for code, colour in colours.items()})
    elif data.count():
        vmin, vmax = _stretch(data)
        folium.raster_layers.ImageOverlay(colorize(data, vmin, vmax), bounds=bounds, name=layer.title).add_to(group)
        legend = _ramp_legend(layer.title, layer.unit, vmin, vmax)
    else:
        legend = None
    group.add_to(fmap)
    if legend:
        fmap.add_child(_Legend(legend, group))


def _palette(labels: Sequence[str], fixed: dict[str, str] | None = None) -> dict[str, str]:
    """A colour per label: from `fixed` where it has one, else in order from :data:`CATEGORICAL`."""
    fixed = fixed or {}
    return {label: fixed.get(label, CATEGORICAL[i % len(CATEGORICAL)]) for i, label in enumerate(labels)}


def _fill_colours(values, kind: str, fixed: dict[str, str] | None = None
                  ) -> tuple[list[str], dict[str, str] | tuple[float, float]]:
    """Hex fill per feature, and the legend: label -> colour for categories, (min, max) else."""
    if kind == "categorical":
        palette = _palette(sorted(map(str, set(values))), fixed)
        return [palette[str(v)] for v in values], palette
    data = np.ma.masked_invalid(np.asarray(values, dtype=float))
    vmin, vmax = _stretch(data)
    rgba = colorize(data, vmin, vmax)
    return [f"#{r:02x}{g:02x}{b:02x}" for r, g, b, _ in rgba], (vmin, vmax)


def _stretch(data: np.ma.MaskedArray) -> tuple[float, float]:
    """Colour-ramp limits: min-max for few values, else the 2nd-98th percentiles, so that one
    outlier (a power plant's parcel) does not flatten the map. Values beyond take the end colours."""
    values = data.compressed()
    if values.size == 0:
        return 0.0, 1.0
    if values.size < 50:
        return float(values.min()), float(values.max())
    low, high = np.percentile(values, [2, 98])
    return float(low), float(high)


_LEGEND_BOX = "background:white;padding:6px 8px;font:11px sans-serif;max-height:260px;overflow:auto"


def _category_legend(title: str, palette: dict[str, str]) -> str:
    rows = "".join(
        f'<div><span style="display:inline-block;width:12px;height:12px;background:{colour};'
        f'margin-right:4px;vertical-align:middle"></span>{html.escape(str(label))}</div>'
        for label, colour in palette.items()
    )
    return f'<div style="{_LEGEND_BOX}"><b>{html.escape(title)}</b>{rows}</div>'


def _ramp_legend(title: str, unit: str, vmin: float, vmax: float) -> str:
    caption = f"{title} [{unit}]" if unit else title
    gradient = ", ".join(SEQUENTIAL)
    return (f'<div style="{_LEGEND_BOX}"><b>{html.escape(caption)}</b>'
            f'<div style="width:180px;height:10px;margin:4px 0;background:linear-gradient(to right, {gradient})"></div>'
            f'<div style="display:flex;justify-content:space-between;width:180px">'
            f'<span>&le; {vmin:.4g}</span><span>&ge; {vmax:.4g}</span></div></div>')


#: Decimal places of longitude/latitude in the HTML map: 1e-6 degrees is about 0.1 m, far
#: below what a screen shows; full precision stays in onemap.gpkg.
COORDINATE_DECIMALS = 6


def _for_display(frame: gpd.GeoDataFrame, tolerance_m: float = 0.0) -> gpd.GeoDataFrame:
    """`frame` in longitude/latitude with coordinates rounded for the HTML map, simplified
    first by `tolerance_m` (Douglas-Peucker, in the frame's projected CRS) when given."""
    if tolerance_m > 0 and frame.crs is not None and frame.crs.is_projected:
        frame = frame.set_geometry(frame.geometry.simplify(tolerance_m))
    out = frame.to_crs("EPSG:4326")
    out.geometry = shapely.transform(out.geometry.values, lambda c: np.round(c, COORDINATE_DECIMALS))
    return out


def _add_vector(fmap: folium.Map, layer) -> None:
    frame = _for_display(layer.frame, layer.display_tolerance_m)
    group = folium.FeatureGroup(name=layer.title, show=False)
    shown = [c for c in frame.columns if c != "geometry"]
    if layer.column:
        shown = [layer.column] + [c for c in shown if c != layer.column]
    shown = shown[:6]
    frame = frame[shown + ["geometry"]].copy()
    for column in shown:  # JSON-serialisable, compact
        if pd.api.types.is_float_dtype(frame[column]):
            frame[column] = frame[column].round(3)
        elif not pd.api.types.is_numeric_dtype(frame[column]):
            frame[column] = frame[column].astype(str)
    legend = None
    if layer.column:
        frame["_fill"], scale = _fill_colours(frame[layer.column].to_numpy(), layer.kind, layer.colours)
        legend = _category_legend(layer.title, scale) if layer.kind == "categorical" \
            else _ramp_legend(layer.title, layer.unit, *scale)
    else:
        frame["_fill"] = CATEGORICAL[0]
    line_only = frame.geom_type.isin(["LineString", "MultiLineString"]).all()
    points = frame.geom_type.isin(["Point", "MultiPoint"]).all()
    folium.GeoJson(
        frame,
        style_function=lambda f, line=line_only: {
            "color": f["properties"]["_fill"] if line else "#333333",
            "weight": 2 if line else 0.5,
            "fillColor": f["properties"]["_fill"], "fillOpacity": 0.8 if points else 0.7,
        },
        marker=folium.CircleMarker(radius=8, fill=True) if points else None,  # coloured circles, not pins
        tooltip=folium.GeoJsonTooltip(fields=shown, sticky=True),
        name=layer.title,
    ).add_to(group)
    group.add_to(fmap)
    if legend:
        fmap.add_child(_Legend(legend, group))


class _Legend(folium.MacroElement):
    """A legend (an HTML Leaflet control) shown while its layer group is on the map."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "(function () {"
        " var map = {{ this._parent.get_name() }}, group = {{ this.group.get_name() }};"
        " var legend = L.control({position: 'bottomleft'});"
        " legend.onAdd = function () { var d = L.DomUtil.create('div', 'carbonmap-legend');"
        "   d.innerHTML = {{ this.html }}; return d; };"
        " if (map.hasLayer(group)) { legend.addTo(map); }"
        " map.on('overlayadd', function (e) { if (e.layer === group) { legend.addTo(map); } });"
        " map.on('overlayremove', function (e) { if (e.layer === group) { legend.remove(); } });"
        "})();"
        "{% endmacro %}"
    )

    def __init__(self, legend_html: str, group: folium.FeatureGroup):
        super().__init__()
        self.group = group
        self.html = json.dumps(legend_html).replace("</", "<\\/")


def _drawing_order(layer) -> int:
    if layer.raster is not None:
        return 0
    types = set(layer.frame.geom_type)
    if types <= {"Point", "MultiPoint"}:
        return 3
    if types <= {"LineString", "MultiLineString"}:
        return 2
    return 1


def _numeric_columns(frame: gpd.GeoDataFrame) -> list[str]:
    return [c for c in frame.columns if c != "geometry" and pd.api.types.is_numeric_dtype(frame[c])]


def _headline_columns(summary: gpd.GeoDataFrame, preferred: Sequence[str] = (), limit: int = 9) -> list[str]:
    """The summary columns drawn as choropleths: `preferred` first, then the first others."""
    numeric = _numeric_columns(summary)
    first = [c for c in preferred if c in numeric]
    rest = [c for c in numeric if c not in first and c != "area_km2"]
    return (first + rest)[:limit - 1] + (["area_km2"] if "area_km2" in numeric else [])


def build_map(summary: gpd.GeoDataFrame, layers: Sequence = (), *, title: str = "carbonmap",
              headline: Sequence[str] = ()) -> folium.Map:
    """The planning map: per-unit choropleths, vector and raster layers, a layer control.

    Parameters
    ----------
    summary : GeoDataFrame
        One row per planning unit with the summary columns (any CRS).
    layers : sequence of :class:`carbonmap.pipeline.Layer`
    title : str
        Shown in the page title.
    headline : sequence of str
        Summary columns to draw as choropleths first (the first one is shown).
    """
    units = _for_display(summary)
    xmin, ymin, xmax, ymax = units.total_bounds
    fmap = folium.Map(tiles=None, control_scale=True, prefer_canvas=True)
    fmap.get_root().header.add_child(folium.Element(f"<title>{title}</title>"))
    folium.TileLayer("OpenStreetMap", name="OpenStreetMap", control=True).add_to(fmap)
    fmap.fit_bounds([[ymin, xmin], [ymax, xmax]])

    numeric = _numeric_columns(units)
    units[numeric] = units[numeric].astype(float).round(4)
    tooltip_fields = [c for c in units.columns if c != "geometry"]
    for i, column in enumerate(_headline_columns(units, headline)):
        values = units[column].to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            continue
        vmin, vmax = float(finite.min()), float(finite.max())
        colors = colorize(np.ma.masked_invalid(values), vmin, vmax)
        fills = [f"#{r:02x}{g:02x}{b:02x}" for r, g, b, _ in colors]
        frame = units[tooltip_fields + ["geometry"]].copy()
        frame["_fill"] = fills
        group = folium.FeatureGroup(name=f"units: {column}", show=(i == 0))
        folium.GeoJson(
            frame,
            style_function=lambda f: {"fillColor": f["properties"]["_fill"], "color": "#333333",
                                      "weight": 0.5, "fillOpacity": 0.7},
            tooltip=folium.GeoJsonTooltip(fields=tooltip_fields, sticky=True),
            name=column,
        ).add_to(group)
        group.add_to(fmap)
        fmap.add_child(_Legend(_ramp_legend(f"units: {column}", "", vmin, vmax), group))
    for layer in sorted(layers, key=_drawing_order):  # rasters, polygons, lines, then points on top
        if layer.raster is not None:
            _add_raster(fmap, layer)
        else:
            _add_vector(fmap, layer)
    folium.LayerControl(collapsed=False).add_to(fmap)
    return fmap


def write_html(fmap: folium.Map, path: str | Path) -> Path:
    """Save the map as one HTML file, atomically."""
    with atomic_path(path) as tmp:
        fmap.save(str(tmp))
    return Path(path)
