"""The interactive planning map: one self-contained HTML file (folium / Leaflet).

:func:`build_map` draws the per-unit summary as choropleths (one per headline column; the
tooltip names the unit and its value, a click opens the unit's whole summary), every vector
layer coloured by its column, and every raster as a colour-mapped PNG overlay, each with a
legend shown while the layer is on, in a layer control grouped by theme (units, sources,
sinks, ecology, renewables, screening, zones, inputs). A search box zooms to a unit.

**Offline.** Leaflet 1.9.4 and leaflet-groupedlayercontrol 0.6.1 (from the npm registry,
licences in ``carbonmap/data/web``) and carbonmap's own script are inlined; the page requests
nothing from any server. Basemaps (OpenStreetMap; Tianditu with a user key) are optional base
layers, off by default; offline they show a notice instead of breaking the map.

**Size.** Page weight follows vertices, not features. For display only (the GeoPackage keeps
full detail): coordinates are rounded to 1e-5 degrees (about 1 m); polygons are simplified by
a tolerance of the map extent x :attr:`Detail.simplify_fraction` — with shapely's coverage
simplification when the layer is a valid coverage (parcels, units), so neighbours keep
shared edges and no gaps open; layers sharing geometries (the parcels drawn by emissions and
by carbon) store them once; attributes are stored as columns, numbers to 5 significant
digits; layers with more than :attr:`Detail.max_features` features are aggregated to square
cells; rasters are palette PNGs at most :attr:`Detail.overlay_pixels` a side.
:func:`write_map` writes the page and, when it is over the size budget, rebuilds it at the
coarser levels of :data:`DETAIL_LEVELS`.

Drawing lives here and in :mod:`carbonmap.report` only; analyses never draw.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
import rasterio.warp
import shapely
from branca.element import Element, MacroElement, Template
from rasterio.enums import Resampling

from carbonmap.io import atomic_path

__all__ = ["build_map", "write_map", "write_html", "colorize", "Detail", "DETAIL_LEVELS", "SEQUENTIAL",
           "CATEGORICAL", "BASEMAPS"]

#: Sequential ramp (viridis, sampled at 5 stops) for continuous values.
SEQUENTIAL = ("#440154", "#3b528b", "#21918c", "#5ec962", "#fde725")
#: Qualitative palette for classes (Tableau 20 order).
CATEGORICAL = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
    "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
)
#: Decimal places of longitude/latitude in the HTML map: 1e-5 degrees is about 1 m.
COORDINATE_DECIMALS = 5
#: Tile basemaps: name -> (URL template, attribution). ``{key}`` is the user's Tianditu key.
BASEMAPS = {
    "OpenStreetMap": ("https://tile.openstreetmap.org/{z}/{x}/{y}.png",
                      "&copy; OpenStreetMap contributors"),
    "Tianditu": ("https://t0.tianditu.gov.cn/vec_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0&LAYER=vec"
                 "&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk={key}",
                 "&copy; 天地图 Tianditu"),
}


@dataclass(frozen=True)
class Detail:
    """How much detail the HTML map draws (the GeoPackage and COGs keep all of it).

    overlay_pixels : longest side of a raster overlay [pixels]
    simplify_fraction : display simplification tolerance as a fraction of the map's extent
    max_features : vector layers with more features are drawn aggregated to square cells
    """

    overlay_pixels: int = 640
    simplify_fraction: float = 1 / 4000
    max_features: int = 20_000


#: Levels tried in turn by :func:`write_map` until the page fits its size budget.
DETAIL_LEVELS = (Detail(), Detail(480, 1 / 2000, 10_000), Detail(320, 1 / 1000, 5_000))

_WEB = files("carbonmap.data").joinpath("web")
_CSS = """
.leaflet-container { background: #f2efe9; }
.carbonmap-legend { background: white; padding: 6px 8px; font: 11px sans-serif; max-height: 260px;
  overflow: auto; border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,0.3); }
.carbonmap-table { border-collapse: collapse; font: 11px sans-serif; }
.carbonmap-table th { text-align: left; padding: 1px 6px 1px 0; font-weight: normal; color: #555; }
.carbonmap-table td { text-align: right; padding: 1px 0; }
.carbonmap-finder input { width: 170px; padding: 4px 6px; border: none; font: 12px sans-serif; }
.leaflet-control-layers-group-name { font-weight: bold; display: block; margin-top: 4px; }
.leaflet-control-layers { max-height: 70vh; overflow-y: auto; font: 12px sans-serif; }
"""


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


# --------------------------------------------------------------------------- rasters


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


#: Colours of a continuous raster overlay (the ramp sampled at this many levels).
_RAMP_LEVELS = 64


def _raster_spec(layer, detail: Detail) -> dict | None:
    """URL, bounds and legend of a raster layer's overlay (None when it has no data)."""
    data, bounds = _raster_overlay(layer.raster, detail.overlay_pixels)
    if not data.count():
        return None
    mask = np.ma.getmaskarray(data)
    if layer.kind == "categorical":
        codes = np.unique(data.compressed())
        colours = _palette([str(c) for c in codes], layer.colours)
        index = np.searchsorted(codes, data.filled(codes[0]))
        url = _palette_png(index, mask, _hex_to_rgb(list(colours.values())))
        labels = layer.labels or {}
        legend = _category_legend(layer.title, {labels.get(code, code): colour for code, colour in colours.items()})
    else:
        vmin, vmax = _stretch(data)
        span = vmax - vmin if vmax > vmin else 1.0
        t = np.clip((data.filled(vmin).astype(float) - vmin) / span, 0, 1)
        index = np.round(t * (_RAMP_LEVELS - 1)).astype(np.uint8)
        ramp = colorize(np.linspace(vmin, vmax, _RAMP_LEVELS), vmin, vmax)[:, :3].astype(float)
        url = _palette_png(index, mask, ramp)
        legend = _ramp_legend(layer.title, layer.unit, vmin, vmax)
    return {"url": url, "bounds": bounds, "legend": legend}


# --------------------------------------------------------------------------- legends and colours


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
    fills = [f"#{r:02x}{g:02x}{b:02x}" for r, g, b, _ in rgba]
    return [fill if ok else "#bdbdbd" for fill, ok in zip(fills, ~np.ma.getmaskarray(data))], (vmin, vmax)


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


def _category_legend(title: str, palette: dict[str, str]) -> str:
    """Legend HTML of classes; every title, label and colour is escaped (they come from data)."""
    rows = "".join(
        f'<div><span style="display:inline-block;width:12px;height:12px;background:{html.escape(str(colour))};'
        f'margin-right:4px;vertical-align:middle"></span>{html.escape(str(label))}</div>'
        for label, colour in palette.items()
    )
    return f"<b>{html.escape(title)}</b>{rows}"


def _ramp_legend(title: str, unit: str, vmin: float, vmax: float) -> str:
    """Legend HTML of a colour ramp; the caption (title and unit, from data) is escaped."""
    caption = f"{title} [{unit}]" if unit and f"[{unit}" not in title else title
    gradient = ", ".join(SEQUENTIAL)
    return (f"<b>{html.escape(caption)}</b>"
            f'<div style="width:180px;height:10px;margin:4px 0;background:linear-gradient(to right, {gradient})"></div>'
            f'<div style="display:flex;justify-content:space-between;width:180px">'
            f"<span>&le; {_number(vmin)}</span><span>&ge; {_number(vmax)}</span></div>")


def _number(value: float) -> str:
    """A legend number: thousands separated from 10,000, else 4 significant digits."""
    return f"{value:,.0f}" if abs(value) >= 1e4 else f"{value:.4g}"


# --------------------------------------------------------------------------- vectors


def _display_geometry(frame: gpd.GeoDataFrame, tolerance_m: float) -> np.ndarray:
    """Geometries simplified by `tolerance_m` (coverage-aware for polygon coverages) and rounded,
    in longitude/latitude."""
    geoms = frame.geometry.values
    if tolerance_m > 0 and frame.crs is not None and frame.crs.is_projected:
        polygons = np.isin(shapely.get_type_id(geoms), (3, 6))
        if polygons.all() and len(geoms) > 1 and bool(shapely.coverage_is_valid(geoms)):
            geoms = shapely.coverage_simplify(geoms, tolerance_m)
        else:
            geoms = shapely.simplify(geoms, tolerance_m, preserve_topology=True)
    lonlat = gpd.GeoSeries(geoms, crs=frame.crs).to_crs("EPSG:4326").values
    return shapely.transform(lonlat, lambda c: np.round(c, COORDINATE_DECIMALS))


def _aggregate(frame: gpd.GeoDataFrame, column: str | None, how: str, max_features: int) -> gpd.GeoDataFrame:
    """Features summarised on square cells (count, and the column's sum, mean or most frequent
    value: `how`), at the finest cell size that yields at most `max_features` cells with features."""
    centres = frame.geometry.centroid
    x, y = centres.x.to_numpy(), centres.y.to_numpy()
    xmin, ymin, xmax, ymax = frame.total_bounds
    size = max(xmax - xmin, ymax - ymin) / math.sqrt(max_features)
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
    name = None
    if column is not None:
        name = f"{column}_{how}"
        if how == "mode":  # the most frequent class of each cell (ties: the first in sort order)
            counts = table.groupby(["key", column]).size().rename("n").reset_index()
            counts = counts.sort_values(["key", "n"], ascending=[True, False], kind="stable")
            out[name] = counts.drop_duplicates("key").set_index("key")[column]
        else:
            out[name] = grouped[column].sum() if how == "sum" else grouped[column].mean()
    left, bottom = xmin + out["cx"].to_numpy() * size, ymin + out["cy"].to_numpy() * size
    boxes = shapely.box(left, bottom, left + size, bottom + size)
    result = gpd.GeoDataFrame(out.drop(columns=["cx", "cy"]).reset_index(drop=True), geometry=boxes, crs=frame.crs)
    result.attrs["cell_m"] = size
    result.attrs["column"] = name
    return result


def _column_values(series: pd.Series) -> list:
    """A column for the page: numbers to 5 significant digits (NaN -> null), others as text."""
    if pd.api.types.is_bool_dtype(series):
        return series.astype(str).tolist()
    if pd.api.types.is_numeric_dtype(series):
        values = series.to_numpy(dtype=float)
        return [None if not math.isfinite(v) else (int(v) if v == int(v) and abs(v) < 1e15 else float(f"{v:.5g}"))
                for v in values]
    return series.astype(str).tolist()


def _js(value) -> str:
    """JSON for inline <script>: every ``<`` written as ``\\u003c``, so that no data can close the
    script element or open a comment or tag in it (the JSON, and the strings in it, are unchanged)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")


class _Script(MacroElement):
    """Inline JavaScript run after the map exists."""

    _template = Template("{% macro script(this, kwargs) %}{{ this.code }}{% endmacro %}")

    def __init__(self, code: str):
        super().__init__()
        self.code = code


class _Page:
    """Collects the geometries, tables and layers of one map page."""

    def __init__(self, fmap: folium.Map, detail: Detail, extent_m: float):
        self.fmap = fmap
        self.name = fmap.get_name()
        self.detail = detail
        self.tolerance_m = extent_m * detail.simplify_fraction
        self._geometries: dict[str, str] = {}
        self._count = 0

    def _emit(self, code: str) -> None:
        self.fmap.add_child(_Script(code))

    def geometry(self, frame: gpd.GeoDataFrame, tolerance_m: float) -> str:
        """Key of the frame's display geometries, emitted once per distinct set."""
        geoms = _display_geometry(frame, tolerance_m)
        digest = hashlib.sha1(b"".join(shapely.to_wkb(geoms))).hexdigest()
        if digest not in self._geometries:
            key = f"g{len(self._geometries)}"
            self._geometries[digest] = key
            self._emit(f'carbonmap.geometries["{key}"]=[{",".join(shapely.to_geojson(geoms))}];')
        return self._geometries[digest]

    def table(self, frame: pd.DataFrame) -> str:
        self._count += 1
        key = f"t{self._count}"
        self._emit(f'carbonmap.tables["{key}"]={_js({c: _column_values(frame[c]) for c in frame.columns})};')
        return key

    def vector(self, spec: dict) -> None:
        self._emit(f"carbonmap.vector({self.name},{_js(spec)});")

    def image(self, spec: dict) -> None:
        self._emit(f"carbonmap.image({self.name},{_js(spec)});")


def _vector_kind(frame: gpd.GeoDataFrame) -> str:
    types = set(frame.geom_type)
    if types <= {"Point", "MultiPoint"}:
        return "point"
    if types <= {"LineString", "MultiLineString"}:
        return "line"
    return "polygon"


def _add_vector(page: _Page, layer) -> None:
    frame, title, column = layer.frame, layer.title, layer.column
    if len(frame) == 0:
        return
    if len(frame) > page.detail.max_features:
        how = "mode" if layer.kind == "categorical" else layer.aggregate
        frame = _aggregate(frame, column, how, page.detail.max_features)
        title = f"{title} (aggregated to {frame.attrs['cell_m']:,.0f} m cells; all features in onemap.gpkg)"
        column = frame.attrs["column"]
    columns = [c for c in frame.columns if c != frame.geometry.name]
    if column:
        columns = [column] + [c for c in columns if c != column]
    attributes = frame[columns[:30]]
    spec = {"group": layer.group, "title": title, "kind": _vector_kind(frame), "show": False,
            "tooltip": columns[:6], "popup": columns[:30] if len(columns) > 6 else None}
    tolerance = max(layer.display_tolerance_m, page.tolerance_m) if spec["kind"] == "polygon" else 0.0
    spec["geometry"] = page.geometry(frame, tolerance)
    spec["table"] = page.table(attributes)
    if column:
        kind = layer.kind if column == layer.column or column.endswith("_mode") else "continuous"
        spec["fill"], scale = _fill_colours(frame[column].to_numpy(), kind, layer.colours)
        spec["legend"] = _category_legend(title, scale) if kind == "categorical" else \
            _ramp_legend(title, layer.unit, *scale)
    else:
        spec["fill"] = [CATEGORICAL[0]] * len(frame)
    page.vector(spec)


def _add_raster(page: _Page, layer) -> None:
    spec = _raster_spec(layer, page.detail)
    if spec is not None:
        page.image({"group": layer.group, "title": layer.title, "show": False, **spec})


def _drawing_order(layer) -> int:
    if layer.raster is not None:
        return 0
    return {"polygon": 1, "line": 2, "point": 3}[_vector_kind(layer.frame)] if len(layer.frame) else 1


def _numeric_columns(frame: gpd.GeoDataFrame) -> list[str]:
    return [c for c in frame.columns if c != "geometry" and pd.api.types.is_numeric_dtype(frame[c])
            and not pd.api.types.is_bool_dtype(frame[c])]


def _headline_columns(summary: gpd.GeoDataFrame, preferred: Sequence[str] = (), limit: int = 9) -> list[str]:
    """The summary columns drawn as choropleths: `preferred` first, then the first others."""
    numeric = _numeric_columns(summary)
    first = [c for c in preferred if c in numeric]
    rest = [c for c in numeric if c not in first and c != "area_km2"]
    return (first + rest)[:limit - 1] + (["area_km2"] if "area_km2" in numeric else [])


def _add_units(page: _Page, summary: gpd.GeoDataFrame, headline: Sequence[str]) -> None:
    """One choropleth per headline column, sharing the units' geometry and summary table."""
    label = "unit_name" if "unit_name" in summary else "unit_id"
    attributes = summary.drop(columns=summary.geometry.name)
    geometry = page.geometry(summary, page.tolerance_m)
    table = page.table(attributes)
    for i, column in enumerate(_headline_columns(summary, headline)):
        values = summary[column].to_numpy(dtype=float)
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            continue
        vmin, vmax = float(finite.min()), float(finite.max())
        fills = [f"#{r:02x}{g:02x}{b:02x}" if math.isfinite(v) else "#bdbdbd"
                 for (r, g, b, _), v in zip(colorize(np.ma.masked_invalid(values), vmin, vmax), values)]
        page.vector({"group": "units", "title": f"units: {column}", "kind": "polygon", "show": i == 0,
                     "geometry": geometry, "table": table, "fill": fills,
                     "tooltip": [label, column], "popup": list(attributes.columns),
                     "legend": _ramp_legend(f"units: {column}", "", vmin, vmax)})


def _inline_assets(fmap: folium.Map) -> None:
    """Leaflet, the grouped layer control and carbonmap's script and styles, inlined."""
    fmap.default_js = []
    fmap.default_css = []
    layers_png = base64.b64encode(_WEB.joinpath("layers.png").read_bytes()).decode("ascii")
    leaflet_css = _WEB.joinpath("leaflet.css").read_text(encoding="utf-8")
    leaflet_css = leaflet_css.replace("url(images/layers.png)", f"url(data:image/png;base64,{layers_png})")
    leaflet_css = leaflet_css.replace("url(images/layers-2x.png)", f"url(data:image/png;base64,{layers_png})")
    css = [leaflet_css, _WEB.joinpath("leaflet.groupedlayercontrol.min.css").read_text(encoding="utf-8"), _CSS]
    scripts = [_WEB.joinpath(name).read_text(encoding="utf-8").split("//# sourceMappingURL")[0]
               for name in ("leaflet.js", "leaflet.groupedlayercontrol.min.js", "carbonmap.js")]
    header = fmap.get_root().header
    header.add_child(Element("<style>" + "\n".join(css) + "</style>"), name="carbonmap_css")
    header.add_child(Element("".join(f"<script>{s}</script>" for s in scripts)), name="carbonmap_js")


def build_map(summary: gpd.GeoDataFrame, layers: Sequence = (), *, title: str = "carbonmap",
              headline: Sequence[str] = (), detail: Detail = Detail(), basemaps: Sequence[str] = ("OpenStreetMap",),
              tianditu_key: str | None = None, groups: Sequence[str] = ()) -> folium.Map:
    """The planning map (module docstring).

    Parameters
    ----------
    summary : GeoDataFrame
        One row per planning unit with the summary columns (projected CRS).
    layers : sequence of :class:`carbonmap.pipeline.Layer`
    title : str
        Shown in the page title.
    headline : sequence of str
        Summary columns to draw as choropleths first (the first one is shown).
    detail : Detail
    basemaps : names of :data:`BASEMAPS` offered as base layers (off by default)
    tianditu_key : the user's Tianditu key (the Tianditu basemap is offered only with one)
    groups : the order of the layer groups in the layer control (others follow in order of use)
    """
    bounds = summary.to_crs("EPSG:4326").total_bounds
    xmin, ymin, xmax, ymax = summary.total_bounds
    fmap = folium.Map(tiles=None, control_scale=True, prefer_canvas=True, zoom_control=True)
    fmap.get_root().header.add_child(folium.Element(f"<title>{html.escape(title)}</title>"))
    _inline_assets(fmap)
    fmap.fit_bounds([[bounds[1], bounds[0]], [bounds[3], bounds[2]]])
    page = _Page(fmap, detail, max(xmax - xmin, ymax - ymin))
    page._emit(f'carbonmap.basemap({page.name},"No basemap",null,{{}},true);')
    for name in basemaps:
        if name == "Tianditu" and not tianditu_key:
            continue
        url, attribution = BASEMAPS[name]
        url = url.replace("{key}", tianditu_key or "")
        page._emit(f"carbonmap.basemap({page.name},{_js(name)},{_js(url)},"
                   f"{_js({'attribution': attribution, 'maxZoom': 18})},false);")
    _add_units(page, summary, headline)
    for layer in sorted(layers, key=_drawing_order):  # rasters, polygons, lines, then points on top
        if layer.raster is not None:
            _add_raster(page, layer)
        else:
            _add_vector(page, layer)
    label = "unit_name" if "unit_name" in summary else "unit_id"
    lonlat = summary.to_crs("EPSG:4326")
    units = [[str(name), [[b[1], b[0]], [b[3], b[2]]]] for name, b in zip(lonlat[label], lonlat.geometry.bounds.values)]
    page._emit(f"carbonmap.controls({page.name},{_js(list(groups))});carbonmap.finder({page.name},{_js(units)});")
    return fmap


def write_html(fmap: folium.Map, path: str | Path) -> Path:
    """Save the map as one HTML file, atomically."""
    with atomic_path(path) as tmp:
        fmap.save(str(tmp))
    return Path(path)


def write_map(summary: gpd.GeoDataFrame, layers: Sequence, path: str | Path, *, budget_mb: float = 15.0,
              **options) -> tuple[Path, float, Detail]:
    """Build and write the map, at the finest of :data:`DETAIL_LEVELS` that fits `budget_mb`.

    Returns (path, size in MB, the level used). If even the coarsest level is over budget, the
    coarsest page is written and the caller is told by the size.
    """
    for detail in DETAIL_LEVELS:
        write_html(build_map(summary, layers, detail=detail, **options), path)
        size_mb = Path(path).stat().st_size / 1e6
        if size_mb <= budget_mb:
            break
    return Path(path), size_mb, detail
