"""The run report: one self-contained HTML page (``report.html``) a planner can read, print on A4 or send.

It is written in the run's language (``[outputs] language``) and holds, for the run it describes:

- the run's facts (project, carbonmap version, date, analysis grid), a table of contents, and
  the warnings the run accepted;
- the citywide figures of the key per-unit columns (amounts summed; intensities, indices and
  means shown by their lowest, median and highest unit) and a classed map of each per planning
  unit, with a legend in its unit, the units' names, a north arrow and a scale bar;
- per theme (sources, sinks, ecology, renewables, screening, scenarios, zones, input rasters):
  static maps of the theme's layers over the planning units, and the per-unit table of the
  theme's columns;
- charts of sources by sector and sinks per unit, and of the road to 2060 per scenario;
- the tables of the run (e.g. restoration scenarios, rooftop packages) and, for every
  coefficient or rule table the run used, its sources; the run notes.

Column headers are the labels of the column dictionary with their units
(:func:`carbonmap.readable.column_label`), class names and reasons are translated, and numbers are
written as people write them (:func:`carbonmap.readable.format_number`). Tables fit the page:
wide ones are split into parts of a few columns, short wide ones are turned on their side.
Figures are SVG with their text left as text (matplotlib's ``svg.fonttype = "none"``), so the
browser draws Chinese labels with its own fonts; nothing is requested from any server.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as _dt
import functools
import html
import io
import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from carbonmap import __version__
from carbonmap.io import atomic_path
from carbonmap.readable import cell_text, column_label, column_unit, format_number, format_values, is_year_column, \
    rule_translations, table_title, translate
from carbonmap.tables import theme_columns
from carbonmap.words import Text, group_label, text_in, unit_label, words

__all__ = ["write_report", "THEMES", "REPORT_TABLES"]

#: Report sections, in order: the map groups (:data:`carbonmap.stage.GROUPS`) with a theme.
THEMES = ("units", "sources", "sinks", "ecology", "renewables", "screening", "scenarios", "zones", "inputs")
#: Static maps per theme, at most.
MAX_MAPS_PER_THEME = 4
#: Per-unit maps of key columns, at most.
MAX_UNIT_MAPS = 8
#: Value columns of one table part; wider tables are split (or turned on their side when short).
MAX_TABLE_COLUMNS = 6
#: Tables written in full into the report (when the run made them); their titles are in words.csv.
REPORT_TABLES = ("targets_status", "scenario_comparison_citywide", "scenario_milestones", "scenario_transition_matrix",
                 "restoration_scenarios_citywide", "rooftop_packages", "renewable_zone_reasons",
                 "afforestation_reasons", "emissions_inventory_allocation", "stocks_summary", "compensation_pairs")
#: Fonts for figure text, in the order a browser should try them (the SVG names them; any CJK font
#: the reader's system has draws the Chinese).
FONTS = ("Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC", "SimHei",
         "WenQuanYi Zen Hei", "DejaVu Sans", "sans-serif")
#: The same for an English page: Latin fonts first, so that quotes and dashes are not drawn full width
#: by a CJK font (Chinese names in it still find a CJK font).
LATIN_FONTS = ("DejaVu Sans", "Noto Sans", "Liberation Sans", "Arial", *FONTS[:-2], "sans-serif")


def _w(key: str, language: str, **fields) -> str:
    return words(key, **fields).in_(language)


# --------------------------------------------------------------------------- figures


@contextlib.contextmanager
def _figure_style(language: str):
    """Matplotlib settings of the report's figures: SVG text as text, fixed ids, the fonts of `language`."""
    import matplotlib

    matplotlib.use("Agg")
    fonts = list(FONTS if language == "zh" else LATIN_FONTS)
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "carbonmap", "font.family": "sans-serif",
                                "font.sans-serif": fonts, "axes.titlesize": 9, "axes.unicode_minus": False}), \
            warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"(Glyph|Font|findfont).*")  # measured with a stand-in font
        warnings.filterwarnings("ignore", category=UserWarning, module="matplotlib")
        yield


def _figure_html(fig, alt: str, *, wide: bool = False) -> str:
    """The figure as an SVG image (text kept as text) embedded in the page, with `alt` as its caption."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": "carbonmap"})
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    kind = "figure wide" if wide else "figure"
    return f'<figure class="{kind}"><img alt="{html.escape(alt)}" src="data:image/svg+xml;base64,{data}"></figure>'


def _nice_length(span: float) -> float:
    """A round length (1, 2 or 5 x 10^n) near a quarter of `span`."""
    target = span / 4
    power = 10 ** math.floor(math.log10(target))
    return max(step * power for step in (1, 2, 5) if step * power <= target)


def _map_furniture(ax, language: str) -> None:
    """A north arrow and a scale bar (the analysis CRS is projected, in metres; north is up)."""
    left, right = ax.get_xlim()
    bottom, top = ax.get_ylim()
    width, height = right - left, top - bottom
    ax.annotate(_w("report.north", language), xy=(0.95, 0.97), xytext=(0.95, 0.86), xycoords="axes fraction",
                ha="center", va="center", fontsize=8, fontweight="bold",
                arrowprops={"arrowstyle": "-|>", "color": "#222222", "linewidth": 1.2})
    length = _nice_length(width)
    x0, y0 = left + 0.04 * width, bottom + 0.04 * height
    from matplotlib.patches import Rectangle

    bar = 0.012 * height
    for i, colour in enumerate(("#222222", "#ffffff")):
        ax.add_patch(Rectangle((x0 + i * length / 2, y0), length / 2, bar, facecolor=colour, edgecolor="#222222",
                               linewidth=0.6, zorder=5))
    text = f"{format_number(length / 1000)} km" if length >= 1000 else f"{format_number(length)} m"
    ax.text(x0 + length / 2, y0 + 2 * bar, text, ha="center", va="bottom", fontsize=7, zorder=5,
            bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "alpha": 0.7, "linewidth": 0})
    ax.set_xlim(left, right)
    ax.set_ylim(bottom, top)


def _unit_names(summary) -> pd.Series:
    """What a unit is called: its name, else its id."""
    return (summary["unit_name"] if "unit_name" in summary else summary["unit_id"]).astype(str)


def _names_by_id(summary) -> dict[str, str]:
    """Each unit's id (text) -> what it is called (:func:`_unit_names`)."""
    return dict(zip(summary["unit_id"].astype(str), _unit_names(summary)))


def _class_edges(values: np.ndarray, classes: int = 5) -> np.ndarray:
    """Quantile class bounds of `values` (fewer classes when values repeat)."""
    edges = np.unique(np.quantile(values, np.linspace(0, 1, classes + 1)))
    return edges if edges.size > 1 else np.array([edges[0], edges[0]])


def _range_label(low: float, high: float, year: bool) -> str:
    return f"{format_number(low, year=year)} – {format_number(high, year=year)}"


def _ramp(column: str, values: np.ndarray) -> str:
    """The colour ramp of a per-unit map: sinks green, net values and changes red (up) to green (down)
    when they change sign, the rest viridis."""
    if column.startswith(("sink_", "afforestation_sink", "restoration_")) and not (values < 0).any():
        return "Greens"
    if column.startswith(("net_", "stock_change", "change_")) or (values.size and values.min() < 0 < values.max()):
        return "RdYlGn" if column.startswith("stock_change") else "RdYlGn_r"
    return "viridis"


def _unit_map(summary, column: str, language: str, labels: Mapping) -> str:
    """A classed map of one per-unit column: 5 quantile classes, legend in its unit, unit names,
    north arrow and scale bar."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_hex
    from matplotlib.patches import Patch

    fig, ax = _saved_figure((5.6, 4.6))
    values = summary[column]
    title = column_label(column, language, unit=False, **labels)
    unit = column_unit(column, language)
    handles = []
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        finite = numbers[np.isfinite(numbers)]
        edges = _class_edges(finite) if finite.size else np.array([0.0, 0.0])
        ramp = plt.get_cmap(_ramp(column, finite))
        n = max(1, edges.size - 1)
        index = np.clip(np.searchsorted(edges, numbers, side="right") - 1, 0, n - 1)
        colours = [ramp(i / max(1, n - 1)) if np.isfinite(v) else "#dddddd" for i, v in zip(index, numbers)]
        year = is_year_column(column)
        handles = [Patch(facecolor=ramp(i / max(1, n - 1)), edgecolor="#555555", linewidth=0.3,
                         label=_range_label(edges[i], edges[i + 1], year)) for i in range(n)]
    else:
        names = [translate(v, language) for v in values]
        categories = sorted({v for v in names if v})
        palette = {c: plt.cm.tab10(i % 10) for i, c in enumerate(categories)}
        colours = [palette.get(v, "#dddddd") for v in names]
        handles = [Patch(facecolor=palette[c], edgecolor="#555555", linewidth=0.3, label=c) for c in categories]
    if values.isna().any():
        handles.append(Patch(facecolor="#dddddd", edgecolor="#555555", linewidth=0.3,
                             label=_w("report.no_value", language)))
    many = len(summary) > 300
    summary.plot(ax=ax, color=[to_hex(c) for c in colours], edgecolor="#ffffff" if not many else "none", linewidth=0.4,
                 rasterized=many)
    if len(summary) <= 40:
        points = summary.geometry.representative_point()
        for point, name in zip(points, _unit_names(summary)):
            ax.annotate(name, (point.x, point.y), ha="center", va="center", fontsize=5.5, color="#111111",
                        bbox={"boxstyle": "round,pad=0.1", "facecolor": "white", "alpha": 0.6, "linewidth": 0})
    ax.legend(handles=handles, title=unit or None, fontsize=6.5, title_fontsize=7, loc="upper left",
              bbox_to_anchor=(1.01, 1), frameon=False)
    ax.set_title(title)
    ax.set_axis_off()
    ax.set_aspect("equal")
    _map_furniture(ax, language)
    return _figure_html(fig, f"{title}{f' ({unit})' if unit else ''}")


def _raster_for_plot(path: Path, max_pixels: int = 700):
    import rasterio

    with rasterio.open(path) as src:
        scale = max(1.0, max(src.width, src.height) / max_pixels)
        shape = (max(1, int(src.height / scale)), max(1, int(src.width / scale)))
        data = src.read(1, out_shape=shape, masked=True)
        bounds = src.bounds
    return data, (bounds.left, bounds.right, bounds.bottom, bounds.top)


def _categorical_legend(ax, names_colours: Sequence[tuple[str, object]]) -> None:
    from matplotlib.patches import Patch

    handles = [Patch(color=colour, label=name[:48]) for name, colour in names_colours[:18]]
    ax.legend(handles=handles, fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)


def _number_axis(colorbar) -> None:
    from matplotlib.ticker import FuncFormatter

    colorbar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_number(v)))


def _draw_raster(ax, fig, layer, language: str, unit: str, extra: Mapping[str, str]) -> None:
    """A raster layer: classes with their names, or values on viridis between the 2nd and 98th percentile."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap

    data, extent = _raster_for_plot(layer.raster)
    if layer.kind == "categorical":
        codes = np.unique(data.compressed())
        colours = [(layer.colours or {}).get(str(c), plt.cm.tab20(i % 20)) for i, c in enumerate(codes)]
        index = np.ma.MaskedArray(np.searchsorted(codes, data.filled(codes[0] if codes.size else 0)),
                                  mask=np.ma.getmaskarray(data))
        ax.imshow(index, extent=extent, cmap=ListedColormap(colours or ["#cccccc"]), interpolation="nearest",
                  vmin=-0.5, vmax=max(len(codes) - 0.5, 0.5))
        names = [translate((layer.labels or {}).get(str(code), str(code)), language, extra=extra) for code in codes]
        _categorical_legend(ax, list(zip(names, colours)))
    elif data.count():
        low, high = np.percentile(data.compressed(), [2, 98])
        image = ax.imshow(data, extent=extent, cmap="viridis", vmin=low, vmax=high, interpolation="nearest")
        _number_axis(fig.colorbar(image, ax=ax, shrink=0.7, label=unit))


def _draw_vector(ax, fig, layer, units, language: str, unit: str) -> None:
    """A vector layer: categories with their names, values on viridis, or one colour."""
    import matplotlib.pyplot as plt

    frame = layer.loaded().frame  # read from its file if it was saved
    if frame.crs is None or not frame.crs.equals(units.crs):  # an equivalent CRS needs no transform
        frame = frame.to_crs(units.crs)
    column = layer.column if layer.column in frame.columns else None
    many = len(frame) > 2000  # drawn as an image inside the SVG: small files, text still text
    if column and layer.kind == "categorical":
        values = frame[column].astype(str)
        categories = sorted(values.unique())
        palette = {c: (layer.colours or {}).get(c, plt.cm.tab20(i % 20)) for i, c in enumerate(categories)}
        colours = [palette[v] for v in values]
        if not (many and _plot_polygons(ax, frame, color=colours, linewidth=0.8, rasterized=many)):
            frame.plot(ax=ax, color=colours, linewidth=0.8, markersize=8, rasterized=many)
        _categorical_legend(ax, [(translate(c, language), palette[c]) for c in categories])
    elif column:
        values = pd.to_numeric(frame[column], errors="coerce").dropna()
        low, high = np.percentile(values, [2, 98]) if len(values) >= 50 else (values.min(), values.max())
        if not (many and _plot_polygons(ax, frame, column=column, cmap="viridis", vmin=low, vmax=high, linewidth=0.8,
                                        rasterized=many)):
            frame.plot(ax=ax, column=column, cmap="viridis", linewidth=0.8, markersize=8, vmin=low, vmax=high,
                       rasterized=many)
        if len(values):
            mappable = plt.cm.ScalarMappable(cmap="viridis", norm=plt.Normalize(low, high))
            _number_axis(fig.colorbar(mappable, ax=ax, shrink=0.7, label=unit))
    elif not (many and _plot_polygons(ax, frame, color="#1f77b4", linewidth=0.8, rasterized=many)):
        frame.plot(ax=ax, color="#1f77b4", linewidth=0.8, markersize=8, rasterized=many)


def _saved_figure(figsize: tuple[float, float]):
    """A figure and its axes for saving only (not registered with pyplot): drawn once, when saved.

    geopandas' ``plot`` asks the figure's canvas to draw after every call; a pyplot figure then renders
    everything drawn so far (for a layer of 338,000 parcels, two full renders thrown away), while a
    figure outside pyplot has a canvas that draws only when the figure is saved. The saved figure is
    the same.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots()


def _plot_polygons(ax, frame, *, color=None, column: str | None = None, cmap: str | None = None,
                   vmin: float | None = None, vmax: float | None = None, **style) -> bool:
    """Draw a layer of polygons on `ax` as geopandas' ``frame.plot`` draws it, without a patch per polygon.

    geopandas (1.x) builds one matplotlib ``PathPatch`` per (multi)polygon only to take its path:
    most of the time of a layer map of a large layer. The same paths (the normalised rings of each
    feature as one compound path: exterior, then holes, part by part) are built here from
    shapely's coordinate arrays, in the same collection, with the same colours, limits and styles,
    so that the map is drawn the same. Handles `frame.plot(color=...)` (one colour or one per row)
    and `frame.plot(column=..., cmap=..., vmin=..., vmax=...)` of a numeric column (features without
    a value not drawn); returns False, drawing nothing, for anything else (lines, points, collections,
    an unprojected CRS, a text column, no features): the caller then uses ``frame.plot``.
    """
    import shapely

    geoms = frame.geometry.values
    if len(frame) == 0 or frame.crs is None or not frame.crs.is_projected:
        return False
    kinds = shapely.get_type_id(np.asarray(geoms))
    present = ~(shapely.is_missing(np.asarray(geoms)) | shapely.is_empty(np.asarray(geoms)))
    if not present.any() or not np.isin(kinds[present], (3, 6)).all():
        return False
    if column is not None:
        values = frame[column]
        if not _is_number(values) or isinstance(values.dtype, pd.CategoricalDtype):
            return False
    _axis_labels(ax, frame.crs)
    ax.set_aspect("equal")
    keep = np.flatnonzero(present)  # geopandas drops missing and empty geometries
    if column is not None:
        numbers = np.take(frame[column], keep, axis=0)
        drawn = ~np.asarray(pd.isna(numbers), dtype=bool)
        keep, numbers = keep[drawn], np.asarray(numbers[drawn])
    elif pd.api.types.is_list_like(color) and len(color) == len(frame):
        color = np.take(color, keep, axis=0)
    collection = _polygon_collection()(_polygon_paths(shapely.normalize(np.asarray(geoms)[keep])),
                                    **({} if column is not None else {"facecolor": color}), **style)
    if column is not None:
        collection.set_cmap(cmap)
        collection.set_array(numbers)
        collection.set_clim(vmin, vmax)
    ax.add_collection(collection, autolim=True)
    ax.autoscale_view()
    return True


def _polygon_paths(geoms: np.ndarray) -> list:
    """One matplotlib path per (multi)polygon: its rings (exterior, then holes, part by part), each
    closed, in one compound path, as ``matplotlib.path.Path.make_compound_path`` joins them [m]."""
    import shapely
    from matplotlib.path import Path as MplPath

    kind, coords, offsets = shapely.to_ragged_array(geoms, include_z=False)
    rings, parts = offsets[0], offsets[1]
    features = offsets[2] if len(offsets) > 2 else np.arange(len(parts))
    codes = np.full(len(coords), MplPath.LINETO, dtype=MplPath.code_type)
    starts, ends = rings[:-1], rings[1:]
    filled = ends > starts
    codes[starts[filled]] = MplPath.MOVETO
    codes[ends[filled] - 1] = MplPath.CLOSEPOLY
    first = rings[parts[features]]  # the first coordinate of each feature
    return [MplPath(coords[a:b], codes[a:b]) for a, b in zip(first[:-1].tolist(), first[1:].tolist())]


def _axis_labels(ax, crs) -> None:
    """The axis labels geopandas gives a map of `crs` (the axes are hidden; kept so that the figure is
    the one ``frame.plot`` makes)."""
    x_label = f"{crs.axis_info[0].name} [{crs.axis_info[0].unit_name}]"
    y_label = f"{crs.axis_info[1].name} [{crs.axis_info[1].unit_name}]"
    if crs.axis_info[0].direction == "north":
        x_label, y_label = y_label, x_label
    if ax.get_xlabel() == "":
        ax.set_xlabel(x_label, fontsize="small")
    if ax.get_ylabel() == "":
        ax.set_ylabel(y_label, fontsize="small")


@functools.cache
def _polygon_collection():
    """The collection class of :func:`_plot_polygons`: a ``PatchCollection`` (as geopandas draws
    polygons) made from paths rather than patches (matplotlib is imported on first use)."""
    from matplotlib.collections import PatchCollection

    class PolygonCollection(PatchCollection):
        def __init__(self, paths, **kwargs):
            super().__init__([], **kwargs)
            self.set_paths(paths)

        def set_paths(self, paths):
            self._paths = list(paths)
            self.stale = True

    return PolygonCollection

def _layer_map(layer, units, language: str, extra: Mapping[str, str]) -> str:
    """A static map of one layer over the planning-unit outlines, with legend, north arrow and scale bar;
    `extra`: the run's own English -> Chinese class names (:func:`carbonmap.readable.rule_translations`)."""
    fig, ax = _saved_figure((5.6, 4.6))
    unit = unit_label(layer.unit, language) if layer.unit else ""
    if layer.raster is not None:
        _draw_raster(ax, fig, layer, language, unit, extra)
    else:
        _draw_vector(ax, fig, layer, units, language, unit)
    units.boundary.plot(ax=ax, color="#333333", linewidth=0.5)
    ax.set_title(str(layer.title))
    ax.set_axis_off()
    ax.set_aspect("equal")
    _map_furniture(ax, language)
    return _figure_html(fig, str(layer.title) + (f" ({unit})" if unit else ""))


def _balance_chart(summary, language: str, labels: Mapping) -> str | None:
    """Stacked bars: sources by sector (up) and sinks by kind (down), with net, per unit (at most 60 units)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    sectors = [c for c in summary.columns if c.startswith("source_") and c.endswith("_co2_t_yr")
               and c != "source_co2_t_yr"]
    sinks = [c for c in ("sink_vegetation_co2_t_yr", "sink_blue_carbon_co2_t_yr") if c in summary]
    if not sinks and "sink_co2_t_yr" in summary:
        sinks = ["sink_co2_t_yr"]
    if (not sectors and not sinks) or len(summary) > 60:
        return None
    x = np.arange(len(summary))
    fig, ax = plt.subplots(figsize=(max(6.4, 0.45 * len(x)), 4.2))
    bottom = np.zeros(len(x))
    for i, column in enumerate(sectors):
        values = summary[column].fillna(0).to_numpy() / 1e3
        ax.bar(x, values, bottom=bottom, color=plt.cm.tab10(i), label=column_label(column, language, unit=False))
        bottom += values
    below = np.zeros(len(x))
    for i, column in enumerate(sinks):
        values = -summary[column].fillna(0).to_numpy() / 1e3
        ax.bar(x, values, bottom=below, color=plt.cm.Greens(0.5 + 0.2 * i),
               label=column_label(column, language, unit=False))
        below += values
    if "net_co2_t_yr" in summary:
        ax.plot(x, summary["net_co2_t_yr"].to_numpy() / 1e3, "k_", markersize=14,
                label=column_label("net_co2_t_yr", language, unit=False))
    ax.axhline(0, color="#333333", linewidth=0.6)
    ax.set_xticks(x, list(_unit_names(summary)), rotation=60, ha="right", fontsize=7)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_number(v)))
    ax.set_ylabel(_w("report.kt_per_year", language))
    title = _w("report.balance_chart", language)
    ax.set_title(title)
    ax.legend(fontsize=6, ncol=2, frameon=False)
    return _figure_html(fig, title, wide=True)


def _timeline_chart(timeline: pd.DataFrame, stages: pd.DataFrame | None, language: str) -> str:
    """Citywide emissions (solid) and net emissions (dashed) per scenario, on the planning stages."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    city = timeline[timeline["unit_id"] == "city"]
    fig, ax = plt.subplots(figsize=(8.0, 4.2))
    if stages is not None:
        shades = ("#f7f7f7", "#fee8c8", "#e5f5e0", "#deebf7", "#f2f0f7")
        years = city["year"]
        for i, row in enumerate(stages.itertuples()):
            low = years.min() if pd.isna(row.first_year) else max(row.first_year - 0.5, years.min())
            high = years.max() if pd.isna(row.last_year) else min(row.last_year + 0.5, years.max())
            if high > low:
                ax.axvspan(low, high, color=shades[i % len(shades)], zorder=0)
                ax.text((low + high) / 2, 1.01, translate(row.stage, language), transform=ax.get_xaxis_transform(),
                        ha="center", fontsize=7, color="#555555")
    emissions, net = _w("report.emissions", language), _w("report.net", language)
    colon = "：" if language == "zh" else ": "
    for i, (name, part) in enumerate(city.groupby("scenario", sort=False)):
        colour, width = plt.cm.tab10(i), 3.0 if i == 0 else 1.5  # the baseline wide, under the others
        ax.plot(part["year"], part["emissions_co2_t_yr"] / 1e6, color=colour, linewidth=width,
                label=f"{name}{colon}{emissions}")
        ax.plot(part["year"], part["net_co2_t_yr"] / 1e6, color=colour, linewidth=width, linestyle="--",
                label=f"{name}{colon}{net}")
    ax.axhline(0, color="#333333", linewidth=0.6)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: format_number(v, year=True)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_number(v)))
    ax.set_ylabel(_w("report.mt_per_year", language))
    title = _w("report.timeline_title", language)
    ax.set_title(title, pad=14)
    ax.legend(fontsize=6, ncol=2, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.1))  # below the years
    return _figure_html(fig, title, wide=True)


# --------------------------------------------------------------------------- tables


def _is_number(series: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


def _cells(frame: pd.DataFrame, language: str, extra: Mapping[str, str]) -> pd.DataFrame:
    """Every cell of `frame` as text: numbers formatted (years as years), names and keys in words
    (:func:`carbonmap.readable.cell_text`)."""
    out = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        values = frame[column]
        if _is_number(values):
            out[column] = format_values(values, column)
        else:
            out[column] = [cell_text(column, v, language, extra=extra) for v in values]
    return out


def _html_table(cells: pd.DataFrame, headers: Sequence[str], numeric: Sequence[bool], caption: str = "", *,
                text_rows: Sequence[bool] = ()) -> str:
    """An HTML table of text `cells` (escaped), numbers right-aligned and unbroken; the cells of the
    `text_rows` (a turned table's rows of names) are text in every column."""
    head = "".join(f"<th class='{'num' if num else 'text'}'>{html.escape(h)}</th>" for h, num in zip(headers, numeric))
    rows = []
    texts = list(text_rows) + [False] * (len(cells) - len(text_rows))
    for row, text in zip(cells.itertuples(index=False), texts):
        rows.append("<tr>" + "".join(f"<td class='{'num' if num and not text else 'text'}'>{html.escape(str(v))}</td>"
                                     for v, num in zip(row, numeric)) + "</tr>")
    caption = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return f"<table class='data'>{caption}<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _key_columns(frame: pd.DataFrame) -> list[str]:
    """The columns that name a row (text columns at the left, at most 2)."""
    keys = []
    for column in frame.columns[:2]:
        if _is_number(frame[column]) and column not in ("code", "from_code", "unit_id"):
            break
        keys.append(column)
    return keys


def _table_html(frame: pd.DataFrame, language: str, *, labels: Mapping | None = None,
                extra: Mapping[str, str] | None = None, max_rows: int = 60) -> str:
    """`frame` as tables that fit the page: labelled headers, formatted numbers, translated names.

    A table of more than :data:`MAX_TABLE_COLUMNS` value columns is turned on its side when it has
    few rows (each row a column), else split into parts that repeat the row names.
    """
    labels, extra = labels or {}, extra or {}
    shown = frame.head(max_rows)
    keys = _key_columns(shown)
    values = [c for c in shown.columns if c not in keys]
    parts = []
    if len(values) > MAX_TABLE_COLUMNS and len(shown) <= 6 and keys:
        names = [" · ".join(str(v) for v in row if str(v)) for row in _cells(shown[keys], language, extra)
                 .itertuples(index=False)]
        cells = _cells(shown[values], language, extra).T
        cells.insert(0, "label", [column_label(c, language, **labels) for c in values])
        parts.append(_html_table(cells, [""] + names, [False] + [True] * len(names),
                                 text_rows=[not _is_number(shown[c]) for c in values]))
    else:
        cells = _cells(shown, language, extra)
        numeric = {c: _is_number(shown[c]) for c in shown.columns}
        groups = [values[i:i + MAX_TABLE_COLUMNS] for i in range(0, len(values), MAX_TABLE_COLUMNS)] or [[]]
        for i, group in enumerate(groups):
            columns = keys + group
            caption = "" if len(groups) == 1 else _w("report.columns_part", language, first=i * MAX_TABLE_COLUMNS + 1,
                                                     last=i * MAX_TABLE_COLUMNS + len(group), total=len(values))
            parts.append(_html_table(cells[columns], [column_label(c, language, **labels) for c in columns],
                                     [numeric[c] for c in columns], caption))
    if len(frame) > max_rows:
        more = _w("report.rows_shown", language, shown=max_rows, total=len(frame))
        parts.append(f"<p class='note'>{html.escape(more)}</p>")
    return "".join(parts)


def _is_additive(column: str) -> bool:
    """Whether units' values of a column add up to a citywide total (amounts do; indices,
    intensities, shares, means, classes and years do not)."""
    return not (is_year_column(column) or any(word in column for word in (
        "index", "intensity", "_per_", "pct", "ratio", "mean", "median", "min", "max", "std", "share",
        "temperature", "class", "band", "division", "shdi", "_np", "mesh")))


def key_columns(summary: pd.DataFrame, headline: Sequence[str]) -> list[str]:
    """The columns the citywide table and the per-unit maps show: the run's headline columns, or,
    for a run without any (rasters only), the numeric columns of the units and input rasters."""
    chosen = [c for c in headline if c in summary.columns]
    if chosen:
        return chosen
    groups = theme_columns(summary.columns)
    candidates = groups.get("units", []) + groups.get("inputs", [])
    return [c for c in candidates if _is_number(summary[c]) and not c.endswith("_cells")][:MAX_UNIT_MAPS]


def _citywide(summary: pd.DataFrame, columns: Sequence[str], language: str, labels: Mapping) -> str:
    """The key columns citywide: total of amounts, and the lowest, median and highest unit."""
    rows = []
    for column in columns:
        values = pd.to_numeric(summary[column], errors="coerce")
        year = is_year_column(column)
        total = format_number(values.sum()) if _is_additive(column) and values.notna().any() else ""
        rows.append([column_label(column, language, **labels), total,
                     *(format_number(getattr(values, f)(), year=year) for f in ("min", "median", "max"))])
    cells = pd.DataFrame(rows)
    headers = [_w(f"column.{k}", language) for k in ("indicator", "total", "lowest", "median", "highest")]
    return (f"<p class='note'>{html.escape(_w('report.citywide_about', language))}</p>"
            + _html_table(cells, headers, [False, True, True, True, True]))


def _sources_of(tables: Mapping[str, pd.DataFrame], language: str) -> str:
    """For each coefficient or rule table of the run: its rows and their distinct sources."""
    parts = []
    for name, table in tables.items():
        if not name.startswith("coefficients_"):
            continue
        sources = sorted({str(s) for s in table.get("source", pd.Series(dtype=str)) if str(s).strip()})
        items = "".join(f"<li>{html.escape(s)}</li>" for s in sources) or \
            f"<li>{html.escape(_w('report.computed', language))}</li>"
        rows = _w("report.rows", language, n=len(table))
        parts.append(f"<h3>{html.escape(name)}</h3><p class='note'>{html.escape(rows)}</p><ul>{items}</ul>")
    return "".join(parts)


_STYLE = """
body { font: 13px/1.5 "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC", sans-serif;
  margin: 24px auto; max-width: 1100px; padding: 0 16px; color: #222; }
html:lang(en) body { font-family: "DejaVu Sans", "Noto Sans", "Liberation Sans", Arial, "Noto Sans CJK SC",
  "Source Han Sans SC", "Microsoft YaHei", "PingFang SC", sans-serif; }
h1 { font-size: 22px; } h2 { font-size: 18px; border-bottom: 1px solid #ccc; margin-top: 32px; }
h3 { font-size: 14px; margin-bottom: 4px; }
nav.toc ol { columns: 2; font-size: 13px; } nav.toc a { color: #1f4e79; text-decoration: none; }
table.data { border-collapse: collapse; font-size: 11px; margin: 6px 0 14px; width: 100%; }
table.data caption { caption-side: top; text-align: left; color: #666; font-size: 11px; }
table.data th { background: #f2f2f2; font-weight: 600; text-align: left; vertical-align: bottom; padding: 3px 6px; }
table.data td { border-bottom: 1px solid #e5e5e5; padding: 2px 6px; vertical-align: top; }
table.data th, table.data td.text { overflow-wrap: normal; word-break: normal; }  /* at spaces and between CJK */
table.data th.num { text-align: right; }
table.data td.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
table.data td.text { text-align: left; }
.maps { display: flex; flex-wrap: wrap; gap: 10px; }
figure { margin: 0; flex: 1 1 460px; max-width: 540px; } figure.wide { max-width: 100%; flex-basis: 100%; }
figure img { width: 100%; height: auto; } figcaption { font-size: 11px; color: #555; }
.note { color: #666; font-size: 11px; } .warnings { background: #fff4e5; border-left: 4px solid #f0a030;
  padding: 6px 12px; }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { margin: 0; max-width: none; padding: 0; font-size: 10pt; }
  nav.toc { break-after: page; } h2 { break-after: avoid; } h3 { break-after: avoid; }
  figure, tr { break-inside: avoid; } thead { display: table-header-group; }
  figure { flex-basis: 45%; } a { color: inherit; }
}
"""


def _section(anchor: str, title: str, body: str) -> tuple[str, str, str]:
    return anchor, title, f"<section id='{html.escape(anchor)}'><h2>{html.escape(title)}</h2>{body}</section>"


def _theme_section(group: str, summary, published, units, language: str, labels: Mapping,
                   extra: Mapping[str, str]) -> tuple[str, str, str] | None:
    """A theme: its layers' maps and its per-unit table."""
    layers = [layer for layer in published.layers if layer.group == group]
    columns = theme_columns(summary.columns).get(group, [])
    if group == "units":
        columns = [c for c in columns if c != "unit_name"]
    if not layers and not columns:
        return None
    title = group_label(group, language)
    body = [f"<p>{html.escape(_w(f'theme.{group}', language))}</p>"] if group != "units" else []
    maps = [_layer_map(layer, units, language, extra) for layer in layers[:MAX_MAPS_PER_THEME]]
    if maps:
        body.append("<div class='maps'>" + "".join(maps) + "</div>")
    if len(layers) > MAX_MAPS_PER_THEME:
        rest = "、".join(str(layer.title) for layer in layers[MAX_MAPS_PER_THEME:]) if language == "zh" else \
            ", ".join(str(layer.title) for layer in layers[MAX_MAPS_PER_THEME:])
        body.append(f"<p class='note'>{html.escape(_w('report.more_layers', language, layers=rest))}</p>")
    if columns:
        table = pd.DataFrame({"unit": _unit_names(summary)})
        table = pd.concat([table, pd.DataFrame(summary[columns])], axis=1)
        body.append(f"<h3>{html.escape(_w('report.per_unit', language, theme=title))}</h3>"
                    + _table_html(table, language, labels=labels, extra=extra))
    return _section(group, title, "".join(body))


def _monitoring(tables: Mapping[str, pd.DataFrame], summary, language: str) -> tuple[str, str, str]:
    """Monitoring across runs ([monitoring]): the early warnings and the indicators' small multiples."""
    from carbonmap.monitoring_report import monitoring_section

    indicators = tables["monitoring_indicators"]
    years = [str(int(y)) for y in sorted(indicators["year"].unique())]
    names = _names_by_id(summary)
    return _section("monitoring", _w("monitoring.title", language, years=("、" if language == "zh" else ", ").join(years)),
                    monitoring_section(indicators, tables["monitoring_warnings"], language, names=names))


def _without_empty_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` without the columns that are empty in every row (NaN, None or blank text), which
    give a reader nothing to read: the targets' value in a closing scenario when every target
    that has one is a year."""
    if frame.empty:
        return frame
    blank = frame.isna() | frame.apply(lambda column: column.map(lambda v: isinstance(v, str) and not v.strip()))
    return frame.loc[:, ~blank.all().to_numpy()]


def _in_one_language(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` without its columns of one language (``reason_zh``: the table's ``reason`` is already read in
    the report's language, :func:`carbonmap.readable.rule_translations`), so that no Chinese reaches an English
    reader and a Chinese one does not read the reason twice."""
    return frame.drop(columns=[c for c in frame.columns if str(c).endswith(("_zh", "_en"))])


#: Columns of unit ids that a table shows as the units' names ("Paying unit": D03 reads as its name).
UNIT_COLUMNS = ("unit_id", "payer_id", "receiver_id")
#: The ids the run's tables give the whole city (the targets' ``*``, the scenarios' ``city``).
CITY_IDS = ("*", "city")


def _units_named(frame: pd.DataFrame, names: Mapping[str, str], language: str) -> pd.DataFrame:
    """`frame` with the unit ids of its :data:`UNIT_COLUMNS` replaced by the units' names, and the
    city's ids in ``unit_id`` (:data:`CITY_IDS`) by 全市 / citywide (an id without a name stays as it
    is); the ``unit_id`` column, now of names, becomes ``unit`` unless the table has one."""
    with_city = {**names, **dict.fromkeys(CITY_IDS, _w("class.city", language))}

    def named_as(column: str) -> pd.Series:
        ids = with_city if column == "unit_id" else names
        return frame[column].astype(str).map(lambda unit: ids.get(unit) or unit)

    named = {c: named_as(c) for c in UNIT_COLUMNS if c in frame}
    if not named:
        return frame
    return frame.assign(**named).rename(columns={} if "unit" in frame else {"unit_id": "unit"})


#: Columns of the run's tables that hold a scenario's name (the targets' ``lever``: the scenario that closes a gap).
SCENARIO_COLUMNS = ("scenario", "lever")


def _with_titles(frame, titles: Mapping[str, str]):
    """`frame` with the names in its :data:`SCENARIO_COLUMNS` replaced by their titles (when they have one)."""
    if not titles or not isinstance(frame, pd.DataFrame):
        return frame
    titled = {c: frame[c].map(lambda name: titles.get(name, name)) for c in SCENARIO_COLUMNS if c in frame.columns}
    return frame.assign(**titled) if titled else frame


def write_report(summary, published, path: str | Path, *, title: str, grid, language: str = "en",
                 warnings_: Sequence[str] = (), scenario_titles: Mapping[str, str | Text] | None = None) -> Path:
    """Write ``report.html`` for a finished run, in `language`.

    Parameters
    ----------
    summary : the per-unit summary with geometry
    published : :class:`carbonmap.stage.Publication`, everything the stages published (layer titles in `language`)
    title : the project's name
    grid : the analysis grid (:class:`carbonmap.grid.AnalysisGrid`)
    language : 'zh' or 'en'
    warnings_ : the warnings the run accepted (shown first)
    scenario_titles : scenario name -> its title in the project, one string or a :class:`Text` (tables show
        titles, not names)
    """
    grid = grid.describe() if grid else {}
    scenario_titles = {name: text_in(text, language) for name, text in (scenario_titles or {}).items()}
    tables = {name: _with_titles(frame, scenario_titles) for name, frame in published.tables.items()}
    units = summary[["geometry"]].copy()
    labels = {"rasters": tuple(layer.name for layer in published.layers if layer.raster is not None),
              "titles": {**scenario_titles, **{layer.name: str(layer.title) for layer in published.layers}}}
    extra = rule_translations(tables)
    sections = []
    with _figure_style(language):
        if warnings_:
            items = "".join(f"<li>{html.escape(w)}</li>" for w in warnings_)
            sections.append(_section("warnings", _w("report.warnings", language), f"<ul class='warnings'>{items}</ul>"))
        keys = key_columns(summary, published.headline)
        if keys:
            sections.append(_section("citywide", _w("report.citywide", language),
                                     _citywide(summary, keys, language, labels)))
            maps = [_unit_map(summary, c, language, labels) for c in keys[:MAX_UNIT_MAPS]]
            chart = _balance_chart(summary, language, labels)
            about = f"<p class='note'>{html.escape(_w('report.unit_maps_about', language))}</p>"
            sections.append(_section("unit-maps", _w("report.unit_maps", language),
                                     about + "<div class='maps'>" + "".join(maps) + (chart or "") + "</div>"))
        for group in THEMES:
            section = _theme_section(group, summary, published, units, language, labels, extra)
            if section:
                sections.append(section)
        if "scenario_timeline" in tables:
            stages = tables.get("coefficients_planning_stages")
            if stages is not None:
                stages = stages.assign(first_year=pd.to_numeric(stages["first_year"].replace("", np.nan)),
                                       last_year=pd.to_numeric(stages["last_year"].replace("", np.nan)))
            sections.append(_section("road", _w("report.road", language),
                                     _timeline_chart(tables["scenario_timeline"], stages, language)))
        if "monitoring_warnings" in tables and "monitoring_indicators" in tables:
            sections.append(_monitoring(tables, summary, language))
        from carbonmap.report_uncertainty import uncertainty_section

        timeline = tables.get("scenario_timeline")
        body = uncertainty_section(tables, language,
                                   end_year=int(timeline["year"].max()) if timeline is not None else None)
        if body:
            sections.append(_section("uncertainty", _w("report.uncertainty", language), body))
    shown = [name for name in REPORT_TABLES if name in tables]
    if shown:
        names = _names_by_id(summary)
        body = "".join(f"<h3 id='table-{html.escape(name)}'>{html.escape(table_title(name, language))}</h3>"
                       + _table_html(_units_named(_without_empty_columns(_in_one_language(pd.DataFrame(tables[name]))),
                                                  names, language), language, labels=labels, extra=extra)
                       for name in shown)
        sections.append(_section("tables", _w("report.tables", language), body))
    sections.append(_section("methods", _w("report.methods", language),
                             f"<p>{html.escape(_w('report.methods_about', language))}</p>"
                             + _sources_of(tables, language)))
    if published.notes:
        sections.append(_section("notes", _w("report.notes", language),
                                 "<ul>" + "".join(f"<li>{html.escape(text_in(note, language))}</li>"
                                                 for note in published.notes) + "</ul>"))
    facts = _w("report.facts", language, version=__version__,
               date=_dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), crs=grid.get("crs_name", ""),
               resolution=format_number(grid.get("resolution_m")), units=len(summary))
    toc = "".join(f"<li><a href='#{html.escape(a)}'>{html.escape(t)}</a></li>" for a, t, _ in sections)
    heading = _w("report.title", language, project=title)
    page = (f"<!DOCTYPE html><html lang='{'zh-CN' if language == 'zh' else 'en'}'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>{html.escape(heading)}</title><style>{_STYLE}</style></head><body>"
            f"<h1>{html.escape(heading)}</h1><p class='note'>{html.escape(facts)}</p>"
            f"<nav class='toc'><h2>{html.escape(_w('report.contents', language))}</h2><ol>{toc}</ol></nav>"
            + "".join(s for _, _, s in sections) + "</body></html>")
    with atomic_path(path) as tmp:
        Path(tmp).write_text(page, encoding="utf-8")
    return Path(path)
