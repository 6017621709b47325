"""The run report: one self-contained HTML page (``report.html``) a planner can print or send.

It holds, for the run it describes:

- the run's facts (project, carbonmap version, date, analysis grid) and notes;
- citywide totals of the headline per-unit columns;
- per theme (sources, sinks, ecology, renewables, screening, zones): static maps
  (matplotlib) of the theme's layers over the planning units, and the per-unit table of the
  theme's summary columns, units in the column names;
- charts of sources by sector and sinks by kind for every unit;
- the tables of the run (e.g. restoration scenarios, rooftop packages) and, for every
  coefficient or rule table the run used, its sources.

Figures are PNG embedded as data URLs; the page requests nothing from any server.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from carbonmap import __version__
from carbonmap.io import atomic_path

__all__ = ["write_report", "THEMES"]

#: Report sections: group -> (title, what it shows, prefixes or suffixes of the theme's summary columns).
THEMES = {
    "sources": ("Sources", "Emissions by parcel, sector and grid cell", ("source_", "builtup_", "efficiency_",
                                                                          "net_co2", "balance_")),
    "sinks": ("Sinks", "Vegetation and blue-carbon sinks, carbon stocks and their change", ("sink_", "stock_")),
    "ecology": ("Ecology", "Ecological patches, fragmentation and the ecological network", ("eco_",)),
    "renewables": ("Renewables", "Renewable potential and development-control zones",
                   ("rooftop_pv", "ground_pv", "wind", "gshp", "heating", "deep_geothermal", "renewable_")),
    "screening": ("Screening", "Rooftops ranked for PV, afforestation sites and restoration scenarios",
                  ("pv_package_", "afforestation_", "restoration_")),
    "scenarios": ("Scenarios", "Planning scenarios and the road from peaking to neutrality",
                  ("_peak_year", "_net_zero_year")),
    "zones": ("Zones", "Protection and planning zones", ()),
}
#: Static maps per theme, at most.
MAX_MAPS_PER_THEME = 4
#: Tables written in full into the report (when the run made them).
REPORT_TABLES = {
    "scenario_comparison_citywide": "Scenarios compared, citywide (measures fully in place)",
    "scenario_milestones": "Milestones per scenario and unit: peak, net zero, the 2060 gap",
    "scenario_transition_matrix": "Land-cover transition matrix (Markov chain)",
    "restoration_scenarios_citywide": "Restoration scenarios, citywide",
    "rooftop_packages": "Rooftop PV packages per planning unit",
    "renewable_zone_reasons": "Development-control zones: the reasons",
    "afforestation_reasons": "Afforestation: candidate land and the reasons for the rest",
    "emissions_inventory_allocation": "Inventory allocation by sector",
    "stocks_summary": "Carbon stocks",
}


#: Fonts with Chinese glyphs matplotlib may find; labels drop Chinese text when none is installed.
_CJK_FONTS = ("Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei", "SimHei", "Microsoft YaHei",
              "PingFang SC")


def _setup_fonts() -> bool:
    """Use a CJK font as fallback when one is installed; True if one is."""
    import matplotlib
    from matplotlib import font_manager

    installed = {f.name for f in font_manager.fontManager.ttflist}
    found = [name for name in _CJK_FONTS if name in installed]
    matplotlib.rcParams["font.sans-serif"] = ["DejaVu Sans", *found]
    return bool(found)


_HAS_CJK = None


def _label(text) -> str:
    """Figure text: as is with a CJK font, else without its Chinese characters (the tables keep them)."""
    import re

    text = str(text)
    if _HAS_CJK:
        return text
    stripped = re.sub(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]+", "", text)
    return re.sub(r"\s*\(\s*[,;]?\s*\)", "", stripped).strip()


def _figure_html(fig, alt: str) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _raster_for_plot(path: Path, max_pixels: int = 700):
    import rasterio

    with rasterio.open(path) as src:
        scale = max(1.0, max(src.width, src.height) / max_pixels)
        shape = (max(1, int(src.height / scale)), max(1, int(src.width / scale)))
        data = src.read(1, out_shape=shape, masked=True)
        bounds = src.bounds
    return data, (bounds.left, bounds.right, bounds.bottom, bounds.top)


def _layer_map(layer, units) -> str:
    """A static map of one layer over the planning-unit outlines."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    unit_label = f" [{layer.unit}]" if layer.unit and f"[{layer.unit}" not in layer.title else ""
    if layer.raster is not None:
        data, extent = _raster_for_plot(layer.raster)
        if layer.kind == "categorical":
            codes = np.unique(data.compressed())
            colours = [(layer.colours or {}).get(str(c), plt.cm.tab20(i % 20)) for i, c in enumerate(codes)]
            index = np.ma.MaskedArray(np.searchsorted(codes, data.filled(codes[0] if codes.size else 0)),
                                      mask=np.ma.getmaskarray(data))
            ax.imshow(index, extent=extent, cmap=ListedColormap(colours or ["#cccccc"]), interpolation="nearest",
                      vmin=-0.5, vmax=max(len(codes) - 0.5, 0.5))
            labels = layer.labels or {}
            handles = [Patch(color=c, label=_label(labels.get(str(code), code))[:40])
                       for code, c in zip(codes, colours)]
            ax.legend(handles=handles[:16], fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
        elif data.count():
            low, high = np.percentile(data.compressed(), [2, 98])
            image = ax.imshow(data, extent=extent, cmap="viridis", vmin=low, vmax=high, interpolation="nearest")
            fig.colorbar(image, ax=ax, shrink=0.7, label=layer.unit)
    else:
        frame = layer.frame.to_crs(units.crs)
        column = layer.column if layer.column in frame.columns else None
        if column and layer.kind == "categorical":
            values = frame[column].astype(str)
            categories = sorted(values.unique())
            palette = {c: (layer.colours or {}).get(c, plt.cm.tab20(i % 20)) for i, c in enumerate(categories)}
            frame.plot(ax=ax, color=[palette[v] for v in values], linewidth=0.8, markersize=8)
            ax.legend(handles=[Patch(color=palette[c], label=_label(c)[:40]) for c in categories[:16]], fontsize=6,
                      loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
        elif column:
            values = pd.to_numeric(frame[column], errors="coerce").dropna()
            low, high = np.percentile(values, [2, 98]) if len(values) >= 50 else (values.min(), values.max())
            frame.plot(ax=ax, column=column, cmap="viridis", linewidth=0.8, markersize=8, legend=True, vmin=low,
                       vmax=high, legend_kwds={"shrink": 0.7, "label": layer.unit})
        else:
            frame.plot(ax=ax, color="#1f77b4", linewidth=0.8, markersize=8)
    units.boundary.plot(ax=ax, color="#333333", linewidth=0.6)
    ax.set_title(_label(layer.title + unit_label), fontsize=9)
    ax.set_axis_off()
    ax.set_aspect("equal")
    return _figure_html(fig, layer.title)


def _unit_label(summary) -> pd.Series:
    return summary["unit_name"] if "unit_name" in summary else summary["unit_id"]


def _balance_chart(summary) -> str | None:
    """Stacked bars: sources by sector (up) and sinks by kind (down), with net, per unit."""
    import matplotlib.pyplot as plt

    sectors = [c for c in summary.columns if c.startswith("source_") and c.endswith("_co2_t_yr")
               and c != "source_co2_t_yr"]
    sinks = [c for c in ("sink_vegetation_co2_t_yr", "sink_blue_carbon_co2_t_yr") if c in summary]
    if not sinks and "sink_co2_t_yr" in summary:
        sinks = ["sink_co2_t_yr"]
    if not sectors and not sinks:
        return None
    labels = [_label(name) for name in _unit_label(summary).astype(str)]
    x = np.arange(len(summary))
    fig, ax = plt.subplots(figsize=(max(6.4, 0.5 * len(x)), 4.2))
    bottom = np.zeros(len(x))
    for i, column in enumerate(sectors):
        values = summary[column].fillna(0).to_numpy() / 1e3
        ax.bar(x, values, bottom=bottom, color=plt.cm.tab10(i), label=column.removeprefix("source_"))
        bottom += values
    below = np.zeros(len(x))
    for i, column in enumerate(sinks):
        values = -summary[column].fillna(0).to_numpy() / 1e3
        ax.bar(x, values, bottom=below, color=plt.cm.Greens(0.5 + 0.2 * i), label=column)
        below += values
    if "net_co2_t_yr" in summary:
        ax.plot(x, summary["net_co2_t_yr"].to_numpy() / 1e3, "k_", markersize=14, label="net_co2_t_yr")
    ax.axhline(0, color="#333333", linewidth=0.6)
    ax.set_xticks(x, labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("kt CO2 / yr")
    ax.set_title("Sources by sector (up) and sinks (down) per planning unit", fontsize=9)
    ax.legend(fontsize=6, ncol=2, frameon=False)
    return _figure_html(fig, "sources and sinks per unit")


def _timeline_chart(timeline: pd.DataFrame, stages: pd.DataFrame | None) -> str:
    """Citywide emissions (solid) and net emissions (dashed) per scenario, on the planning stages."""
    import matplotlib.pyplot as plt

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
                ax.text((low + high) / 2, 1.01, row.stage, transform=ax.get_xaxis_transform(), ha="center",
                        fontsize=7, color="#555555")
    for i, (name, part) in enumerate(city.groupby("scenario", sort=False)):
        colour, width = plt.cm.tab10(i), 3.0 if i == 0 else 1.5  # the baseline wide, under the others
        ax.plot(part["year"], part["emissions_co2_t_yr"] / 1e6, color=colour, linewidth=width,
                label=f"{name}: emissions")
        ax.plot(part["year"], part["net_co2_t_yr"] / 1e6, color=colour, linewidth=width, linestyle="--",
                label=f"{name}: net")
    ax.axhline(0, color="#333333", linewidth=0.6)
    ax.set_ylabel("Mt CO2 / yr")
    ax.set_title("Citywide emissions and net emissions by scenario", fontsize=9, pad=14)
    ax.legend(fontsize=6, ncol=2, frameon=False)
    return _figure_html(fig, "scenario timeline")


def _table_html(frame: pd.DataFrame, max_rows: int = 60) -> str:
    shown = frame.head(max_rows)
    formatters = {c: (lambda v: "" if pd.isna(v) else (f"{v:,.0f}" if abs(v) >= 1e3 else f"{v:.4g}"))
                  for c in shown.columns if pd.api.types.is_float_dtype(shown[c])}
    table = shown.to_html(index=False, border=0, classes="data", formatters=formatters, na_rep="", escape=True)
    more = f"<p class='note'>first {max_rows} of {len(frame)} rows; all in onemap.gpkg</p>" if len(frame) > max_rows \
        else ""
    return table + more


def _is_additive(column: str) -> bool:
    """Whether units' values of a column add up to a citywide total (amounts do; indices,
    intensities, shares and means do not)."""
    return not any(word in column for word in ("index", "intensity", "_per_", "pct", "ratio", "mean", "share",
                                               "temperature", "class"))


def _theme_columns(summary, patterns: Sequence[str]) -> list[str]:
    return [c for c in summary.columns if c != "geometry" and any(c.startswith(p) or c.endswith(p) for p in patterns)]


def _sources_of(tables: dict[str, pd.DataFrame]) -> str:
    """For each coefficient or rule table of the run: its rows and their distinct sources."""
    parts = []
    for name, table in tables.items():
        if not name.startswith("coefficients_"):
            continue
        sources = sorted({str(s) for s in table.get("source", pd.Series(dtype=str)) if str(s).strip()})
        items = "".join(f"<li>{html.escape(s)}</li>" for s in sources) or "<li>(values computed in the run)</li>"
        parts.append(f"<h3>{html.escape(name)}</h3><p class='note'>{len(table)} rows</p><ul>{items}</ul>")
    return "".join(parts)


_STYLE = """
body { font: 13px/1.45 sans-serif; margin: 24px auto; max-width: 1100px; color: #222; }
h1 { font-size: 22px; } h2 { font-size: 18px; border-bottom: 1px solid #ccc; margin-top: 32px; }
h3 { font-size: 14px; margin-bottom: 4px; }
table.data { border-collapse: collapse; font-size: 11px; margin: 6px 0 12px; display: block; overflow-x: auto; }
table.data th, table.data td { border-bottom: 1px solid #e5e5e5; padding: 2px 6px; text-align: right; }
table.data th { background: #f5f5f5; position: sticky; top: 0; }
.maps { display: flex; flex-wrap: wrap; gap: 8px; } .maps img { max-width: 540px; }
.note { color: #666; font-size: 11px; }
"""


def write_report(summary, published, path: str | Path, *, title: str, grid) -> Path:
    """Write ``report.html`` for a finished run.

    Parameters
    ----------
    summary : the per-unit summary with geometry
    published : :class:`carbonmap.stage.Publication`, everything the stages published
    title : the project's name
    grid : the analysis grid (:class:`carbonmap.grid.AnalysisGrid`)
    """
    import matplotlib

    global _HAS_CJK
    matplotlib.use("Agg")
    _HAS_CJK = _setup_fonts()
    grid = grid.describe() if grid else {}
    units = summary[["geometry"]].copy()
    body = [f"<h1>{html.escape(title)}: carbon sources and sinks, the one map</h1>",
            "<p class='note'>carbonmap " + html.escape(__version__) + " · run "
            + _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC") + " · analysis grid "
            + html.escape(f"{grid.get('crs_name', '')}, {grid.get('resolution_m', '')} m") + " · "
            + f"{len(summary)} planning units</p>"]
    headline = [c for c in published.headline if c in summary.columns and _is_additive(c)]
    totals = pd.DataFrame({"column": headline, "citywide total": [summary[c].sum() for c in headline]})
    body.append("<h2>Citywide</h2>" + _table_html(totals))
    chart = _balance_chart(summary)
    if chart:
        body.append(chart)
    for group, (title, description, patterns) in THEMES.items():
        layers = [layer for layer in published.layers if layer.group == group]
        columns = _theme_columns(summary, patterns)
        if not layers and not columns:
            continue
        body.append(f"<h2>{html.escape(title)}</h2><p>{html.escape(description)}.</p>")
        maps = [_layer_map(layer, units) for layer in layers[:MAX_MAPS_PER_THEME]]
        if maps:
            body.append("<div class='maps'>" + "".join(maps) + "</div>")
        if len(layers) > MAX_MAPS_PER_THEME:
            rest = ", ".join(layer.title for layer in layers[MAX_MAPS_PER_THEME:])
            body.append(f"<p class='note'>Also on the interactive map and in onemap.gpkg: {html.escape(rest)}.</p>")
        if columns:
            table = pd.DataFrame(summary[["unit_id", *columns]])
            if "unit_name" in summary:
                table.insert(1, "unit_name", summary["unit_name"])
            body.append(f"<h3>{html.escape(title)} per planning unit</h3>" + _table_html(table))
    if "scenario_timeline" in published.tables:
        stages = published.tables.get("coefficients_planning_stages")
        if stages is not None:
            stages = stages.assign(first_year=pd.to_numeric(stages["first_year"].replace("", np.nan)),
                                   last_year=pd.to_numeric(stages["last_year"].replace("", np.nan)))
        body.append("<h2>The road to 2060</h2>" + _timeline_chart(published.tables["scenario_timeline"], stages))
    tables = [(name, label) for name, label in REPORT_TABLES.items() if name in published.tables]
    if tables:
        body.append("<h2>Tables</h2>")
        for name, label in tables:
            body.append(f"<h3>{html.escape(label)} <span class='note'>({name})</span></h3>"
                        + _table_html(pd.DataFrame(published.tables[name])))
    body.append("<h2>Methods and coefficient sources</h2><p>Every factor the run applied comes from one of "
                "these tables (all rows in onemap.gpkg, under the same names). The methods are described in "
                "carbonmap's docs/methods.</p>" + _sources_of(published.tables))
    if published.notes:
        body.append("<h2>Run notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in published.notes) + "</ul>")
    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}"
            f" report</title><style>{_STYLE}</style></head><body>{''.join(body)}</body></html>")
    with atomic_path(path) as tmp:
        Path(tmp).write_text(page, encoding="utf-8")
    return Path(path)
