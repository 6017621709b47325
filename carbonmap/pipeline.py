"""Run a project file through every stage into one planning map.

The pipeline is a list of stages (:data:`STAGES`). Each stage is a function
``stage(ctx: RunContext) -> None`` that reads what earlier stages left in the context
(the planning units, the analysis grid, aligned rasters) and adds its own results: map
layers (:meth:`RunContext.add_layer`), per-unit summary columns
(:meth:`RunContext.add_summary`) and the tables of coefficients and rules it used
(:meth:`RunContext.add_table`). The last stage writes everything as

- ``onemap.gpkg``: every vector layer, the per-unit summary (``unit_summary``, with
  geometry), the tables used, the run metadata and the list of inputs with checksums;
- ``rasters/*.tif``: every raster layer as a Cloud-Optimized GeoTIFF on the analysis grid;
- ``onemap.html``: the interactive map (:mod:`carbonmap.webmap`).

Adding an analysis to the planning map is therefore: write ``stage_<name>(ctx)`` calling
the analysis's pure functions, and add it to :data:`STAGES`.

Stages only orchestrate: they read inputs through :mod:`carbonmap.io`, call analyses,
and hand results to the context. Analyses never see the context.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from carbonmap import __version__
from carbonmap.config import Project, RasterInput
from carbonmap.errors import InputError
from carbonmap.grid import AnalysisGrid, align_raster, analysis_grid
from carbonmap.io import read_vector, write_csv, write_geopackage
from carbonmap.landuse import carbon_categories, classify, code_table
from carbonmap.zonal import zonal_categories, zonal_stats

__all__ = ["Layer", "RunContext", "Stage", "STAGES", "run", "stage_names"]

#: Map groups, in the order the layer control lists them.
GROUPS = ("units", "sources", "sinks", "ecology", "renewables", "screening", "zones", "inputs")


@dataclass
class Layer:
    """A layer of the planning map.

    Exactly one of `frame` (vector, any CRS) and `raster` (path of a COG on the analysis
    grid) is set. `column` is the attribute a vector layer is coloured by; `unit` and
    `kind` ('continuous' or 'categorical') describe what is shown, for legends.
    """

    name: str
    title: str
    group: str
    frame: gpd.GeoDataFrame | None = None
    raster: Path | None = None
    column: str | None = None
    unit: str = ""
    kind: str = "continuous"
    labels: dict[str, str] | None = None  # class code -> name, for categorical rasters
    colours: dict[str, str] | None = None  # value (or class code) -> hex colour, for categories

    def __post_init__(self) -> None:
        if (self.frame is None) == (self.raster is None):
            raise ValueError(f"layer {self.name!r}: give exactly one of frame and raster")
        if self.group not in GROUPS:
            raise ValueError(f"layer {self.name!r}: unknown group {self.group!r}")


@dataclass
class RunContext:
    """What the stages of one run share. Stages add to it; the last stage writes it."""

    project: Project
    quiet: bool = True
    grid: AnalysisGrid | None = None
    units: gpd.GeoDataFrame | None = None
    layers: list[Layer] = field(default_factory=list)
    summary: pd.DataFrame | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    inputs: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _progress: Any = None

    @property
    def out_dir(self) -> Path:
        return self.project.output_dir

    def add_layer(self, layer: Layer) -> None:
        if any(existing.name == layer.name for existing in self.layers):
            raise ValueError(f"duplicate layer name {layer.name!r}")
        self.layers.append(layer)

    def add_summary(self, columns: pd.DataFrame) -> None:
        """Join per-unit columns (indexed by unit id) onto the summary table."""
        clash = set(columns.columns) & set(self.summary.columns)
        if clash:
            raise ValueError(f"summary columns defined twice: {sorted(clash)}")
        self.summary = self.summary.join(columns, how="left")

    def add_table(self, name: str, table: pd.DataFrame) -> None:
        """Record a coefficient or rule table used in the run (written to the GeoPackage)."""
        self.tables[name] = table

    def record_input(self, path: Path, role: str) -> None:
        """Note an input file with its SHA-256 (shapefile sidecars included) for the metadata."""
        files = [path]
        if path.suffix.lower() == ".shp":
            files += [p for p in sorted(path.parent.glob(path.stem + ".*")) if p != path]
        digest = hashlib.sha256()
        for f in files:
            with open(f, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
        self.inputs.append({"role": role, "path": str(path), "sha256": digest.hexdigest(),
                            "bytes": sum(f.stat().st_size for f in files)})

    def track(self, items: Iterable, description: str) -> Iterator:
        """Iterate `items`, advancing a progress bar unless the run is quiet."""
        items = list(items)
        if self._progress is None or not items:
            yield from items
            return
        task = self._progress.add_task(f"  {description}", total=len(items))
        for item in items:
            yield item
            self._progress.advance(task)


@dataclass(frozen=True)
class Stage:
    name: str
    description: str
    run: Callable[[RunContext], None]


# --------------------------------------------------------------------------- stages


def stage_units(ctx: RunContext) -> None:
    """Read the planning units, check their ids, and start the summary table."""
    cfg = ctx.project.units
    columns = [c for c in (cfg.id_field, cfg.name_field, cfg.population_field, cfg.gdp_field) if c]
    units = read_vector(cfg.path, layer=cfg.layer, columns=columns, kind="polygon",
                        assume_crs=cfg.assume_crs, datum=cfg.datum)
    ids = units[cfg.id_field]
    if ids.isna().any():
        raise InputError(f"{int(ids.isna().sum())} planning units have no id.", path=cfg.path,
                         field=cfg.id_field, fix="give every unit an id.")
    duplicated = ids[ids.duplicated()].unique()
    if len(duplicated):
        shown = ", ".join(map(str, duplicated[:10]))
        raise InputError(f"{len(duplicated)} ids are used more than once: {shown}.",
                         path=cfg.path, field=cfg.id_field,
                         fix="planning-unit ids must be unique; pick another id_field.")
    ctx.record_input(cfg.path, "planning units")
    frame = gpd.GeoDataFrame(
        {"unit_id": ids.astype(str).to_numpy()}, geometry=units.geometry.values, crs=units.crs
    )
    if cfg.name_field:
        frame["unit_name"] = units[cfg.name_field].astype(str).to_numpy()
    if cfg.population_field:
        frame["population"] = pd.to_numeric(units[cfg.population_field], errors="coerce").to_numpy()
    if cfg.gdp_field:
        frame[f"gdp_{cfg.gdp_unit}"] = pd.to_numeric(units[cfg.gdp_field], errors="coerce").to_numpy()
    ctx.units = frame.set_index("unit_id", drop=False)


def stage_grid(ctx: RunContext) -> None:
    """Choose the analysis grid and measure the units in its equal-area CRS."""
    cfg = ctx.project.grid
    ctx.grid = analysis_grid(ctx.units, cfg.resolution_m, crs=None if cfg.crs == "auto" else cfg.crs)
    ctx.units = ctx.units.to_crs(ctx.grid.crs)
    ctx.summary = pd.DataFrame(
        {"area_km2": ctx.units.geometry.area.to_numpy() / 1e6}, index=ctx.units.index
    )
    gdp = f"gdp_{ctx.project.units.gdp_unit}"
    for column in ("unit_name", "population", gdp):
        if column in ctx.units:
            ctx.summary.insert(0 if column == "unit_name" else len(ctx.summary.columns),
                               column, ctx.units[column])


def stage_rasters(ctx: RunContext) -> None:
    """Align each [[rasters]] input to the grid and summarise it per unit."""
    raster_dir = ctx.out_dir / "rasters"
    for spec in ctx.track(ctx.project.rasters, "rasters"):
        aligned = raster_dir / f"{spec.name}.tif"
        align_raster(spec.path, ctx.grid, kind=spec.kind, resampling=spec.resampling,
                     band=spec.band, dst_path=aligned, crs=spec.assume_crs)
        ctx.record_input(spec.path, f"raster {spec.name}")
        ctx.add_summary(_summarise_raster(ctx.units, aligned, spec))
        labels = colours = None
        if spec.code_system:
            table = code_table(spec.code_system)
            labels = dict(zip(table["code"], table["name_en"]))
            category_colour = carbon_categories()["colour"]
            colours = dict(zip(table["code"], category_colour.loc[table["carbon_category"]]))
        ctx.add_layer(Layer(
            name=spec.name, title=spec.title or spec.name.replace("_", " "),
            group="inputs", raster=aligned, unit=spec.unit, kind=spec.kind, labels=labels,
            colours=colours,
        ))


def stage_vectors(ctx: RunContext) -> None:
    """Read each [[vectors]] input layer for the one map."""
    for spec in ctx.track(ctx.project.vectors, "vector layers"):
        frame = read_vector(spec.path, layer=spec.layer, columns=[spec.column] if spec.column else (),
                            assume_crs=spec.assume_crs, to_crs=ctx.grid.crs)
        ctx.record_input(spec.path, f"vector {spec.name}")
        colours = None
        if spec.column == "carbon_category":  # the conventional land-use colours
            colours = carbon_categories()["colour"].to_dict()
        ctx.add_layer(Layer(
            name=spec.name, title=spec.title or spec.name.replace("_", " "), group=spec.group,
            frame=frame, column=spec.column, kind=spec.kind, colours=colours,
        ))


def _summarise_raster(units: gpd.GeoDataFrame, aligned: Path, spec: RasterInput) -> pd.DataFrame:
    if spec.kind == "categorical":
        table = zonal_categories(units, aligned, prefix="")
        table = table / 1e4  # m2 -> ha
        labels = {"nodata": "nodata"}
        if spec.code_system:
            codes = [c for c in table.columns if c != "nodata"]
            classes = classify(codes, spec.code_system, path=spec.path, field="cell values")
            labels.update(zip(codes, (_slug(n) for n in classes["name_en"])))
        table = table.T.groupby([labels.get(c, c) for c in table.columns], sort=False).sum().T
        table.columns = [f"{spec.name}_{label}_area_ha" for label in table.columns]
        return table
    table = zonal_stats(units, aligned, stats=spec.stats)
    suffix = f"_{spec.unit}" if spec.unit else ""
    table.columns = [
        f"{spec.name}_{s}_cells" if s in ("count", "nodata_count") else f"{spec.name}_{s}{suffix}"
        for s in table.columns
    ]
    return table


def _slug(text: str) -> str:
    """'Bare / sparse vegetation' -> 'bare_sparse_vegetation' (for column names)."""
    return re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_")


def stage_onemap(ctx: RunContext) -> None:
    """Write onemap.gpkg, the summary CSV and onemap.html."""
    from carbonmap.webmap import build_map, write_html

    out = ctx.out_dir
    summary = gpd.GeoDataFrame(
        ctx.summary.reset_index(), geometry=ctx.units.geometry.values, crs=ctx.units.crs
    )
    write_csv(out / "unit_summary.csv", pd.DataFrame(summary.drop(columns="geometry")))
    if ctx.project.outputs.gpkg:
        layers: dict[str, pd.DataFrame] = {"unit_summary": summary}
        for layer in ctx.layers:
            if layer.frame is not None:
                layers[layer.name] = layer.frame
        layers.update(ctx.tables)
        layers["run_inputs"] = pd.DataFrame(ctx.inputs)
        layers["run_metadata"] = run_metadata(ctx)
        write_geopackage(out / "onemap.gpkg", layers)
    if ctx.project.outputs.html:
        fmap = build_map(summary, ctx.layers, title=ctx.project.project.name)
        write_html(fmap, out / "onemap.html")


def run_metadata(ctx: RunContext) -> pd.DataFrame:
    """Key/value table: carbonmap version, date, project, analysis grid, notes."""
    grid = ctx.grid.describe() if ctx.grid else {}
    items = {
        "carbonmap_version": __version__,
        "run_date_utc": _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat(),
        "project_name": ctx.project.project.name,
        "project_file": str(ctx.project.path),
        "analysis_crs_name": grid.get("crs_name", ""),
        "analysis_crs_wkt": grid.get("crs_wkt", ""),
        "analysis_resolution_m": grid.get("resolution_m", ""),
        "analysis_grid_shape": json.dumps([grid.get("height"), grid.get("width")]),
        "analysis_grid_bounds": json.dumps(grid.get("bounds", [])),
        "notes": "\n".join(ctx.notes),
    }
    return pd.DataFrame({"key": list(items), "value": [str(v) for v in items.values()]})


#: The stages, in order. Add a stage here to add it to every run.
STAGES: tuple[Stage, ...] = (
    Stage("units", "read the planning units", stage_units),
    Stage("grid", "choose the analysis grid", stage_grid),
    Stage("rasters", "align and summarise rasters", stage_rasters),
    Stage("vectors", "read vector layers", stage_vectors),
    Stage("onemap", "write the one map", stage_onemap),
)


def stage_names() -> list[str]:
    return [s.name for s in STAGES]


def run(project: Project, *, quiet: bool = False) -> RunContext:
    """Run every stage of `project`; return the context (layers, summary, tables).

    Progress is shown per stage (rich) unless `quiet`. Outputs are written atomically by
    the last stage, so a failing stage leaves earlier outputs of the folder untouched.
    """
    ctx = RunContext(project=project, quiet=quiet)
    if quiet:
        for stage in STAGES:
            stage.run(ctx)
        return ctx
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  transient=False) as progress:
        ctx._progress = progress
        overall = progress.add_task(f"carbonmap: {project.project.name}", total=len(STAGES))
        for stage in STAGES:
            progress.update(overall, description=f"carbonmap: {stage.description}")
            stage.run(ctx)
            progress.advance(overall)
        progress.update(overall, description=f"carbonmap: done -> {ctx.out_dir}")
    ctx._progress = None
    return ctx
