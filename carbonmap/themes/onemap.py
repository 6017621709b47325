"""The one map: onemap.html, report.html, onemap.gpkg (with QGIS styles) and unit_summary.csv."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from carbonmap import __version__
from carbonmap.compute import release_free_memory
from carbonmap.io import RasterClass, write_geopackage, write_raster_description
from carbonmap.readable import attribute_label, column_description, column_label, rule_translations, translate
from carbonmap.styles import raster_qml
from carbonmap.stage import GROUPS, Layer, Publication, Stage, StageContext, layers_in
from carbonmap.tables import write_summary_csv, write_summary_xlsx
from carbonmap.words import Text, text_in, unit_label, words

__all__ = ["ONEMAP", "run_metadata"]


def run_onemap(ctx: StageContext) -> None:
    """Write onemap.html, report.html, onemap.gpkg (with QGIS layer styles), unit_summary.csv and .xlsx."""
    units, outputs = ctx.result("units"), ctx.project.outputs
    ctx.published = published = _named_in(ctx.published, units, outputs.language)  # what every writer reads
    summary = gpd.GeoDataFrame(published.summary.reset_index(), geometry=units.frame.geometry.values,
                               crs=units.frame.crs)
    steps = ["unit_summary.csv", "unit_summary.xlsx"] + [name for name, wanted in (("onemap.html", outputs.html),
                                                              ("report.html", outputs.report),
                                                              ("onemap.gpkg", outputs.gpkg)) if wanted] + ["rasters"]
    for step in ctx.track(steps, words("progress.writing_onemap")):
        if step == "unit_summary.csv":
            write_summary_csv(ctx.file(step), summary)
        elif step == "unit_summary.xlsx":
            write_summary_xlsx(ctx.file(step), summary, language=outputs.language, tables=published.tables,
                               **_label_context(published.layers, ctx.project.scenarios, outputs.language))
        elif step == "onemap.html":
            _write_html(ctx, summary)
        elif step == "report.html":
            from carbonmap.report import write_report

            write_report(summary, _with_own_notes(ctx), ctx.file(step),
                         title=text_in(ctx.project.project.name, outputs.language),
                         grid=units.grid, language=outputs.language,
                         warnings_=published.warnings + ctx.publication.warnings,
                         scenario_titles=_scenario_titles(ctx.project.scenarios, outputs.language))
        elif step == "onemap.gpkg":
            _write_geopackage(ctx, summary)
        else:
            _describe_rasters(ctx)
        release_free_memory()  # the layers a step read go back before the next step reads its own


def _named_in(published: Publication, units, language: str) -> Publication:
    """What the earlier stages published, with the units' names in `language`: in the summary and in
    the layers of the units (``unit_id`` and ``unit_name``, one feature a unit). They were published
    in the language of the run that read the units, which ``--only ... --lang`` keeps."""
    names = units.names_in(language)
    if names is None:
        return published
    summary = published.summary
    if summary is not None and "unit_name" in summary:
        summary = summary.assign(unit_name=names.reindex(summary.index).to_numpy())
    layers = [_layer_named(layer, names) for layer in published.layers]
    return dataclasses.replace(published, summary=summary, layers=layers)


def _layer_named(layer: Layer, names: pd.Series) -> Layer:
    """`layer` with ``unit_name`` from `names` (by ``unit_id``) when it is a layer of the units."""
    if not layer.is_vector or not {"unit_id", "unit_name"} <= set(layer.columns()):
        return layer
    layer = layer.loaded()  # one feature a unit: small
    named = layer.frame["unit_id"].astype(str).map(names)
    return dataclasses.replace(layer, frame=layer.frame.assign(unit_name=named.to_numpy()))


def _label_context(layers, scenarios, language: str) -> dict:
    """What column labels need of the run: its raster names, and each layer's and scenario's title
    in `language` (``bau_2039_peak_year``: 碳达峰年份：惯性发展情景, not bau_2039)."""
    return {"rasters": tuple(layer.name for layer in layers if layer.raster is not None),
            "titles": {**_scenario_titles(scenarios, language),
                       **{layer.name: text_in(layer.title, language) for layer in layers}}}


def _scenario_titles(scenarios, language: str) -> dict[str, str]:
    """Each scenario's title in `language` by its name: the baseline's, and the project's scenarios'
    (their name where they have no title)."""
    return {"baseline": words("scenario.baseline").in_(language),
            **{spec.name: text_in(spec.title, language) or spec.name for spec in scenarios}}


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

    outputs, published = ctx.project.outputs, ctx.published  # the page reads each saved layer as it draws it
    _, size_mb, detail = write_map(summary, layers_in(published.layers, outputs.language), ctx.file("onemap.html"),
                                   budget_mb=outputs.html_budget_mb,
                                   title=text_in(ctx.project.project.name, outputs.language),
                                   headline=published.headline, basemaps=outputs.basemaps,
                                   tianditu_key=outputs.tianditu_key, groups=GROUPS, language=outputs.language,
                                   milestones=published.tables.get("scenario_milestones"),
                                   scenarios=_scenario_titles(ctx.project.scenarios, outputs.language),
                                   translations=rule_translations(published.tables))
    level = DETAIL_LEVELS.index(detail)
    features = words("note.every_feature") if detail.max_features is None else \
        words("note.cells_above", features=f"{detail.max_features:,}")
    ctx.note(words("note.onemap_size", size=f"{size_mb:.1f}", level=level, features=features,
                   optional=Text.same("") if detail.optional_layers else words("note.without_optional"),
                   pixels=detail.overlay_pixels, budget=f"{outputs.html_budget_mb:g}"))
    if size_mb > outputs.html_budget_mb:
        ctx.note(words("note.onemap_over_budget", budget=f"{outputs.html_budget_mb:g}"))


def _write_geopackage(ctx: StageContext, summary: gpd.GeoDataFrame) -> None:
    from carbonmap.styles import layer_styles

    published = _with_own_notes(ctx)
    language = ctx.project.outputs.language
    styles = [layer_styles([], summary, headline=published.headline, language=language)]  # the unit summary's

    def style(layer: Layer) -> None:  # each vector layer's QGIS style, from the read that writes it
        styles.append(layer_styles([layer], summary, headline=published.headline, language=language).iloc[1:])

    vectors = [layer for layer in published.layers if layer.is_vector]
    layers = _Frames({"unit_summary": summary, **{layer.name: layer for layer in vectors}, **published.tables},
                     on_read=style)
    layers["layer_styles"] = lambda: pd.concat(styles, ignore_index=True)  # written after the vector layers
    layers["run_inputs"] = pd.DataFrame(published.inputs)
    layers["run_metadata"] = run_metadata(ctx.project, ctx.result("units").grid, published.notes)
    context = _label_context(ctx.published.layers, ctx.project.scenarios, language)
    columns = {name: [c for c in layers.columns(name) if c not in ("geometry", "geom")]
               for name in layers if name not in ("layer_styles", "run_metadata")}
    on_layers = {layer.name for layer in vectors}  # their attributes have their own words (words/fields.csv)

    def labelled(column: str, attribute: bool) -> tuple[str, str]:
        label = (attribute_label if attribute else column_label)(column, language, **context)
        return label, column_description(column, language, attribute=attribute, **context)

    kinds = dict.fromkeys((c, name in on_layers) for name, names in columns.items() for c in names)
    labels = {key: labelled(*key) for key in kinds}  # once per column name and kind
    fields = {name: {c: labels[c, name in on_layers] for c in names} for name, names in columns.items()}
    write_geopackage(ctx.file("onemap.gpkg"), layers, fields=fields)


class _Frames(Mapping):
    """The GeoPackage's layers by name: tables; tables made when they are written (functions); and
    the run's vector layers, read from the files they waited in only when written, one at a time,
    each read shown to `on_read`."""

    def __init__(self, items: dict[str, Any], on_read: Callable[[Layer], None]) -> None:
        self._items = items  # name -> DataFrame, function giving one, or Layer
        self._on_read = on_read

    def __getitem__(self, name: str) -> pd.DataFrame:
        item = self._items[name]
        if isinstance(item, Layer):
            item = item.loaded()
            self._on_read(item)
            return item.frame
        return item() if callable(item) else item

    def __setitem__(self, name: str, frame: pd.DataFrame | Callable[[], pd.DataFrame]) -> None:
        self._items[name] = frame

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def columns(self, name: str) -> list[str]:
        """Layer `name`'s column names, without reading its features."""
        item = self._items[name]
        return item.columns() if isinstance(item, Layer) else list(item.columns)


def _describe_rasters(ctx: StageContext) -> None:
    """Every raster of the run gets its description (title, unit, class names and colours) in a GDAL
    sidecar and a QGIS style (``rasters/<name>.qml``), in the run's language."""
    language = ctx.project.outputs.language
    extra = rule_translations(ctx.published.tables)
    for layer in ctx.published.layers:
        path = layer.raster
        if path is None or not Path(path).exists() or ctx.out.resolve() not in Path(path).resolve().parents:
            continue
        unit = unit_label(layer.unit, language) if layer.unit else ""
        classes = _raster_classes(layer, language, extra) if layer.kind == "categorical" else []
        tags = {"title_en": text_in(layer.title, "en"), "title_zh": text_in(layer.title, "zh"), "kind": layer.kind,
                **({"unit_en": unit_label(layer.unit, "en"), "unit_zh": unit_label(layer.unit, "zh"),
                    "unit_key": layer.unit} if layer.unit else {})}
        write_raster_description(path, title=text_in(layer.title, language), unit=unit, tags=tags, classes=classes)
        document = raster_qml(kind="categorical", classes=[(c.value, c.name, c.colour) for c in classes]) if classes \
            else raster_qml(kind="continuous", values=_raster_sample(path), unit=unit)
        Path(path).with_suffix(".qml").write_text(document, encoding="utf-8")
    _describe_other_rasters(ctx, {Path(layer.raster).name for layer in ctx.published.layers if layer.raster})


def _describe_other_rasters(ctx: StageContext, described: set[str]) -> None:
    """Rasters a stage wrote without a map layer (e.g. the network's resistance surface): titled from
    ``words.csv`` (``layer.<name>``), styled as continuous values."""
    language = ctx.project.outputs.language
    for path in sorted((ctx.out / "rasters").glob("*.tif")):
        if path.name in described:
            continue
        try:
            title = words(f"layer.{path.stem}")
        except KeyError:
            title = Text.same(path.stem.replace("_", " "))
        write_raster_description(path, title=title.in_(language), tags={"title_en": title.en, "title_zh": title.zh,
                                                                          "kind": "continuous"})
        path.with_suffix(".qml").write_text(raster_qml(kind="continuous", values=_raster_sample(path)),
                                            encoding="utf-8")


def _raster_classes(layer, language: str, extra: dict[str, str]) -> list[RasterClass]:
    """The classes of a categorical raster layer (its legend), named in `language` and in both."""
    from carbonmap.styles import _OTHER

    classes = []
    for i, (code, label) in enumerate(sorted((layer.labels or {}).items(), key=lambda item: str(item[0]))):
        try:
            value = int(code)
        except ValueError:
            continue
        colour = (layer.colours or {}).get(str(code)) or _OTHER[i % len(_OTHER)]
        names = {lang: translate(label, lang, extra=extra) for lang in ("en", "zh")}
        classes.append(RasterClass(value, names[language], colour, names))
    return sorted(classes, key=lambda c: c.value)


def _raster_sample(path, size: int = 512):
    """The values of a raster read at most `size` cells a side (from its overviews)."""
    import rasterio

    with rasterio.open(path) as src:
        scale = max(1.0, max(src.width, src.height) / size)
        data = src.read(1, out_shape=(max(1, int(src.height / scale)), max(1, int(src.width / scale))), masked=True)
    return data.compressed()


def run_metadata(project, grid, notes: list[Text]) -> pd.DataFrame:
    """Key/value table: carbonmap version, date, project, analysis grid, notes (in the project's language)."""
    grid = grid.describe() if grid else {}
    items = {
        "carbonmap_version": __version__,
        "run_date_utc": _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        "project_name": text_in(project.project.name, project.outputs.language),
        "project_file": str(project.path),
        "analysis_crs_name": grid.get("crs_name", ""),
        "analysis_crs_wkt": grid.get("crs_wkt", ""),
        "analysis_resolution_m": grid.get("resolution_m", ""),
        "analysis_grid_shape": json.dumps([grid.get("height"), grid.get("width")]),
        "analysis_grid_bounds": json.dumps(grid.get("bounds", [])),
        "notes": "\n".join(text_in(note, project.outputs.language) for note in notes),
    }
    return pd.DataFrame({"key": list(items), "value": [str(v) for v in items.values()]})


ONEMAP = Stage("onemap", words("stage.onemap"), run_onemap, sections=("project", "outputs"), reads=("units",))
