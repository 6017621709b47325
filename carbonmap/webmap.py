"""The interactive planning map (folium / Leaflet).

:func:`build_map` draws the per-unit summary as choropleths (one per headline column, with
a tooltip listing every summary value) and each raster layer as a colour-mapped overlay
with a legend, grouped in a layer control. Rasters are reprojected to Web Mercator before
they are drawn, so they sit exactly where Leaflet expects them.

Drawing lives here and in :mod:`carbonmap.report` only; analyses never draw.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import branca.colormap
from branca.element import Template
import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rasterio.warp
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
_MAX_OVERLAY_PIXELS = 1024


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
    """Read a raster reprojected to Web Mercator (at most ~1024 px a side) and its lat/lon bounds."""
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
    caption = f"{layer.title} [{layer.unit}]" if layer.unit else layer.title
    if layer.kind == "categorical":
        codes = np.unique(data.compressed())
        index = np.searchsorted(codes, data.filled(codes[0] if codes.size else 0))
        palette = _hex_to_rgb(CATEGORICAL)
        rgba = np.zeros(data.shape + (4,), dtype=np.uint8)
        rgba[..., :3] = palette[index % len(palette)]
        rgba[..., 3] = np.where(np.ma.getmaskarray(data), 0, 200)
        folium.raster_layers.ImageOverlay(rgba, bounds=bounds, name=layer.title).add_to(group)
    elif data.count():
        vmin, vmax = np.percentile(data.compressed(), [2, 98])
        folium.raster_layers.ImageOverlay(
            colorize(data, float(vmin), float(vmax)), bounds=bounds, name=layer.title
        ).add_to(group)
        branca.colormap.LinearColormap(list(SEQUENTIAL), vmin=float(vmin), vmax=float(vmax),
                                       caption=caption).add_to(fmap)
    group.add_to(fmap)


def _fill_colours(values, kind: str) -> tuple[list[str], dict[str, str]]:
    """Hex fill per feature, and a legend (label -> colour) for categories."""
    if kind == "categorical":
        labels = sorted(map(str, set(values)))
        palette = {label: CATEGORICAL[i % len(CATEGORICAL)] for i, label in enumerate(labels)}
        return [palette[str(v)] for v in values], palette
    data = np.ma.masked_invalid(np.asarray(values, dtype=float))
    vmin, vmax = (float(data.min()), float(data.max())) if data.count() else (0.0, 1.0)
    rgba = colorize(data, vmin, vmax)
    return [f"#{r:02x}{g:02x}{b:02x}" for r, g, b, _ in rgba], {}


def _legend_html(title: str, palette: dict[str, str]) -> str:
    rows = "".join(
        f'<div><span style="display:inline-block;width:12px;height:12px;background:{colour};'
        f'margin-right:4px"></span>{label}</div>' for label, colour in palette.items()
    )
    return (f'<div style="background:white;padding:6px;font:11px sans-serif;max-height:240px;'
            f'overflow:auto"><b>{title}</b>{rows}</div>')


def _add_vector(fmap: folium.Map, layer) -> None:
    frame = layer.frame.to_crs("EPSG:4326")
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
    palette = {}
    if layer.column:
        frame["_fill"], palette = _fill_colours(frame[layer.column].to_numpy(), layer.kind)
    else:
        frame["_fill"] = CATEGORICAL[0]
    line_only = frame.geom_type.isin(["LineString", "MultiLineString"]).all()
    folium.GeoJson(
        frame,
        style_function=lambda f, line=line_only: {
            "color": f["properties"]["_fill"] if line else "#333333",
            "weight": 2 if line else 0.3,
            "fillColor": f["properties"]["_fill"], "fillOpacity": 0.7,
        },
        tooltip=folium.GeoJsonTooltip(fields=shown, sticky=True),
        name=layer.title,
    ).add_to(group)
    if palette:
        fmap.add_child(_Legend(_legend_html(layer.title, palette)))
    group.add_to(fmap)


class _Legend(folium.MacroElement):
    """A Leaflet control in the bottom-left corner holding an HTML legend."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "(function () { var legend = L.control({position: 'bottomleft'});"
        "legend.onAdd = function () { var d = L.DomUtil.create('div'); d.innerHTML = {{ this.html }};"
        " return d; }; legend.addTo({{ this._parent.get_name() }}); })();"
        "{% endmacro %}"
    )

    def __init__(self, html: str):
        super().__init__()
        self.html = json.dumps(html).replace("</", "<\\/")


def _numeric_columns(frame: gpd.GeoDataFrame) -> list[str]:
    return [c for c in frame.columns if c != "geometry" and pd.api.types.is_numeric_dtype(frame[c])]


def _headline_columns(summary: gpd.GeoDataFrame, limit: int = 6) -> list[str]:
    numeric = _numeric_columns(summary)
    headline = [c for c in numeric if c != "area_km2"][:limit - 1]
    return headline + (["area_km2"] if "area_km2" in numeric else [])


def build_map(summary: gpd.GeoDataFrame, layers: Sequence = (), *, title: str = "carbonmap") -> folium.Map:
    """The planning map: per-unit choropleths, vector and raster layers, a layer control.

    Parameters
    ----------
    summary : GeoDataFrame
        One row per planning unit with the summary columns (any CRS).
    layers : sequence of :class:`carbonmap.pipeline.Layer`
    title : str
        Shown in the page title.
    """
    units = summary.to_crs("EPSG:4326")
    xmin, ymin, xmax, ymax = units.total_bounds
    fmap = folium.Map(tiles=None, control_scale=True, prefer_canvas=True)
    fmap.get_root().header.add_child(folium.Element(f"<title>{title}</title>"))
    folium.TileLayer("OpenStreetMap", name="OpenStreetMap", control=True).add_to(fmap)
    fmap.fit_bounds([[ymin, xmin], [ymax, xmax]])

    numeric = _numeric_columns(units)
    units[numeric] = units[numeric].astype(float).round(4)
    tooltip_fields = [c for c in units.columns if c != "geometry"]
    for i, column in enumerate(_headline_columns(units)):
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
        if i == 0:
            branca.colormap.LinearColormap(list(SEQUENTIAL), vmin=vmin, vmax=vmax,
                                           caption=f"units: {column}").add_to(fmap)
    for layer in layers:
        if layer.raster is not None:
            _add_raster(fmap, layer)
        elif layer.frame is not None:
            _add_vector(fmap, layer)
    folium.LayerControl(collapsed=False).add_to(fmap)
    return fmap


def write_html(fmap: folium.Map, path: str | Path) -> Path:
    """Save the map as one HTML file, atomically."""
    with atomic_path(path) as tmp:
        fmap.save(str(tmp))
    return Path(path)
