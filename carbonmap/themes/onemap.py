"""The one map: onemap.html, report.html, onemap.gpkg (with QGIS styles) and unit_summary.csv."""

from __future__ import annotations

import datetime as _dt
import json

import geopandas as gpd
import pandas as pd

from carbonmap import __version__
from carbonmap.io import write_csv, write_geopackage
from carbonmap.stage import GROUPS, Publication, Stage, StageContext, layers_in

__all__ = ["ONEMAP", "run_metadata"]


def run_onemap(ctx: StageContext) -> None:
    """Write onemap.html, report.html, onemap.gpkg (with QGIS layer styles) and unit_summary.csv."""
    units, outputs, published = ctx.result("units"), ctx.project.outputs, ctx.published
    summary = gpd.GeoDataFrame(published.summary.reset_index(), geometry=units.frame.geometry.values,
                               crs=units.frame.crs)
    steps = ["unit_summary.csv"] + [name for name, wanted in (("onemap.html", outputs.html),
                                                              ("report.html", outputs.report),
                                                              ("onemap.gpkg", outputs.gpkg)) if wanted]
    for step in ctx.track(steps, "writing the one map"):
        if step == "unit_summary.csv":
            write_csv(ctx.file(step), pd.DataFrame(summary.drop(columns="geometry")))
        elif step == "onemap.html":
            _write_html(ctx, summary)
        elif step == "report.html":
            from carbonmap.report import write_report

            write_report(summary, _with_own_notes(ctx), ctx.file(step), title=ctx.project.project.name,
                         grid=units.grid)
        else:
            _write_geopackage(ctx, summary)


def _with_own_notes(ctx: StageContext) -> Publication:
    """The earlier stages' publication with this stage's notes so far, layer titles in the run's language."""
    published = ctx.published
    return Publication(layers=layers_in(published.layers, ctx.project.outputs.language), tables=published.tables,
                       summary=published.summary, notes=published.notes + ctx.publication.notes,
                       inputs=published.inputs, headline=published.headline)


def _write_html(ctx: StageContext, summary: gpd.GeoDataFrame) -> None:
    """onemap.html in the run's language, within the size budget (layers a theme marks ``in_html=False``
    -- every building, every candidate roof -- are drawn when the page has room for them)."""
    from carbonmap.webmap import DETAIL_LEVELS, write_map

    outputs, published = ctx.project.outputs, ctx.published
    _, size_mb, detail = write_map(summary, layers_in(published.layers, outputs.language), ctx.file("onemap.html"),
                                   budget_mb=outputs.html_budget_mb, title=ctx.project.project.name,
                                   headline=published.headline, basemaps=outputs.basemaps,
                                   tianditu_key=outputs.tianditu_key, groups=GROUPS, language=outputs.language,
                                   milestones=published.tables.get("scenario_milestones"),
                                   scenarios={s.name: s.title or s.name for s in ctx.project.scenarios})
    level = DETAIL_LEVELS.index(detail)
    ctx.note(f"onemap.html: {size_mb:.1f} MB at display detail level {level} ("
             + ("every feature" if detail.max_features is None else f"cells above {detail.max_features:,} features")
             + ("" if detail.optional_layers else ", without the layers marked for the GeoPackage only")
             + f"; overlays {detail.overlay_pixels} px; budget {outputs.html_budget_mb:g} MB)")
    if size_mb > outputs.html_budget_mb:
        ctx.note(f"onemap.html is over its {outputs.html_budget_mb:g} MB budget even at the coarsest display "
                 "detail: hide layers or raise outputs.html_budget_mb")


def _write_geopackage(ctx: StageContext, summary: gpd.GeoDataFrame) -> None:
    from carbonmap.styles import layer_styles

    published = _with_own_notes(ctx)
    layers: dict[str, pd.DataFrame] = {"unit_summary": summary}
    for layer in published.layers:
        if layer.frame is not None:
            layers[layer.name] = layer.frame
    layers.update(published.tables)
    layers["layer_styles"] = layer_styles([layer for layer in published.layers if layer.frame is not None], summary,
                                          headline=published.headline)
    layers["run_inputs"] = pd.DataFrame(published.inputs)
    layers["run_metadata"] = run_metadata(ctx.project, ctx.result("units").grid, published.notes)
    write_geopackage(ctx.file("onemap.gpkg"), layers)


def run_metadata(project, grid, notes: list[str]) -> pd.DataFrame:
    """Key/value table: carbonmap version, date, project, analysis grid, notes."""
    grid = grid.describe() if grid else {}
    items = {
        "carbonmap_version": __version__,
        "run_date_utc": _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        "project_name": project.project.name,
        "project_file": str(project.path),
        "analysis_crs_name": grid.get("crs_name", ""),
        "analysis_crs_wkt": grid.get("crs_wkt", ""),
        "analysis_resolution_m": grid.get("resolution_m", ""),
        "analysis_grid_shape": json.dumps([grid.get("height"), grid.get("width")]),
        "analysis_grid_bounds": json.dumps(grid.get("bounds", [])),
        "notes": "\n".join(notes),
    }
    return pd.DataFrame({"key": list(items), "value": [str(v) for v in items.values()]})


ONEMAP = Stage("onemap", "write the one map", run_onemap, sections=("project", "outputs"), reads=("units",))
