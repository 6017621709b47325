"""The run's foundation: planning units on the analysis grid, aligned rasters, vector layers."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from carbonmap.config import Project, RasterInput, UnitsSection, VectorInput
from carbonmap.errors import InputError
from carbonmap.grid import AnalysisGrid, align_raster, analysis_grid, grid_of, raster_footprint, rasterize
from carbonmap.io import read_raster, read_vector, reproject
from carbonmap.landuse import carbon_categories, class_legend, classify
from carbonmap.stage import Layer, Stage, StageContext
from carbonmap.words import LANGUAGES, Text, as_text, text_in, words
from carbonmap.zonal import zonal_categories, zonal_stats

__all__ = ["Units", "Rasters", "read_units", "check_units_covered", "summarise_raster", "layer_title", "raster_title",
           "UNITS", "RASTERS", "VECTORS"]


@dataclass(eq=False)
class Units:
    """The planning units on the analysis grid.

    frame : one row per unit, indexed by ``unit_id`` (text), in the grid's CRS, with the
        columns ``unit_id`` and, when the project names them, ``unit_name``, ``population``
        and ``gdp_<unit>`` (:func:`read_units`; with a name field per language, also
        ``unit_name_zh`` and ``unit_name_en``).
    grid : the analysis grid.
    """

    frame: gpd.GeoDataFrame
    grid: AnalysisGrid

    @property
    def ids(self) -> pd.Index:
        return self.frame.index

    def names_in(self, language: str) -> pd.Series | None:
        """Each unit's name in `language`, indexed by id; None when the project names no units.

        Outputs name the units through this, not ``frame["unit_name"]``: a run rerun in the other
        language (``--only ... --lang``) keeps the units stage's frame from the first run."""
        return self.frame.get(f"unit_name_{language}", self.frame.get("unit_name"))

    @functools.cached_property
    def zones(self) -> np.ndarray:
        """The unit number (0 .. n-1) of every grid cell; -1 outside every unit."""
        return rasterize(self.frame, self.grid, values=np.arange(len(self.frame)), fill=-1, dtype="int32")

    def ids_of(self, numbers: np.ndarray) -> np.ndarray:
        """The unit ids of unit numbers (-1, outside every unit: "")."""
        return np.append(self.ids.to_numpy(), "")[np.asarray(numbers)]


@dataclass
class Rasters:
    """The [[rasters]] inputs, aligned to the analysis grid as COGs.

    paths : name -> aligned COG. code_systems : name -> code system, for land covers.
    """

    paths: dict[str, Path]
    code_systems: dict[str, str]

    def read(self, name: str) -> np.ma.MaskedArray:
        return read_raster(self.paths[name])[0]

    def optional(self, name: str | None) -> Path | None:
        """The aligned COG of `name`, or None when the project names none."""
        return self.paths[name] if name else None


def read_units(section: UnitsSection, *, language: str = "en") -> gpd.GeoDataFrame:
    """The planning units of a [units] section: unique ids, optional name, population, GDP.

    Returns a frame indexed by ``unit_id`` (text) in the file's CRS. Without an id field,
    units are numbered from 0. The section's fields become ``unit_name``, ``population``
    [persons] and ``gdp_<unit>`` (``gdp_cny_1e8``, ``gdp_cny_1e4`` or ``gdp_cny``). With a name
    field per language (a :class:`~carbonmap.words.Text`), ``unit_name`` is the name in
    `language`, and ``unit_name_zh`` and ``unit_name_en`` keep both (:meth:`Units.names_in`).
    """
    names = section.name_field
    by_language = {f"unit_name_{each}": text_in(names, each) for each in LANGUAGES} if isinstance(names, Text) else {}
    name_fields = list(by_language.values()) if by_language else [names]
    fields = [section.id_field, *name_fields, section.population_field, section.gdp_field]
    units = read_vector(section.path, layer=section.layer, columns=[c for c in fields if c], kind="polygon",
                        assume_crs=section.assume_crs, datum=section.datum, encoding=section.encoding,
                        null_geometry="error", id_field=section.id_field)
    ids = units[section.id_field] if section.id_field else pd.Series(np.arange(len(units)))
    if ids.isna().any():
        rows = np.flatnonzero(ids.isna().to_numpy()) + 1
        listed = ", ".join(f"row {row}" for row in rows[:20]) + (", ..." if len(rows) > 20 else "")
        raise InputError(f"{len(rows)} planning units have no id: {listed}.", path=section.path,
                         field=section.id_field, fix="give every unit an id.")
    duplicated = ids[ids.duplicated()].unique()
    if len(duplicated):
        shown = ", ".join(map(str, duplicated[:10]))
        raise InputError(f"{len(duplicated)} ids are used more than once: {shown}.",
                         path=section.path, field=section.id_field,
                         fix="planning-unit ids must be unique; pick another id_field.")
    frame = gpd.GeoDataFrame({"unit_id": ids.astype(str).to_numpy()}, geometry=units.geometry.values, crs=units.crs)
    if names:
        frame["unit_name"] = units[text_in(names, language)].astype(str).to_numpy()
    for column, name_field in by_language.items():
        frame[column] = units[name_field].astype(str).to_numpy()
    if section.population_field:
        frame["population"] = pd.to_numeric(units[section.population_field], errors="coerce").to_numpy()
    if section.gdp_field:
        frame[f"gdp_{section.gdp_unit}"] = pd.to_numeric(units[section.gdp_field], errors="coerce").to_numpy()
    return frame.set_index("unit_id", drop=False)


def run_units(ctx: StageContext) -> Units:
    """Read the planning units, choose the analysis grid, and start the summary table (``area_km2``,
    each unit's area in the analysis CRS [km2], and the fields of :func:`read_units`)."""
    project = ctx.project
    frame = read_units(project.units, language=project.outputs.language)
    ctx.record_input(project.units.path, "planning units")
    crs = None if project.grid.crs == "auto" else project.grid.crs
    grid = analysis_grid(frame, project.grid.resolution_m, crs=crs)
    frame = reproject(frame, grid.crs, kind="polygon")
    summary = pd.DataFrame({"area_km2": frame.geometry.area.to_numpy() / 1e6}, index=frame.index)
    for column in ("unit_name", "population", f"gdp_{project.units.gdp_unit}"):
        if column in frame:
            summary.insert(0 if column == "unit_name" else len(summary.columns), column, frame[column])
    ctx.add_summary(summary)
    return Units(frame, grid)


def run_rasters(ctx: StageContext) -> Rasters:
    """Align each [[rasters]] input to the grid and summarise it per unit."""
    units: Units = ctx.result("units")
    check_units_covered(units.frame, ctx.project.rasters, ctx.project.units)
    paths, systems = {}, {}
    for spec in ctx.track(ctx.project.rasters, words("progress.aligning_rasters")):
        aligned = align_raster(spec.path, units.grid, kind=spec.kind, resampling=spec.resampling, band=spec.band,
                               dst_path=ctx.file(f"rasters/{spec.name}.tif"), crs=spec.assume_crs)
        ctx.record_input(spec.path, f"raster {spec.name}")
        paths[spec.name] = aligned
        ctx.add_summary(summarise_raster(units.frame, aligned, spec))
        labels = colours = None
        if spec.code_system:
            systems[spec.name] = spec.code_system
            labels, colours = class_legend(spec.code_system)
        ctx.add_layer(Layer(name=spec.name, title=layer_title(spec), group="inputs",
                            raster=aligned, unit=spec.unit, kind=spec.kind, labels=labels, colours=colours))
    return Rasters(paths, systems)


def check_units_covered(units: gpd.GeoDataFrame, rasters: list[RasterInput], section: UnitsSection) -> None:
    """Refuse planning units (indexed by id) that lie outside every raster of `rasters`: no raster value
    would reach them (NaN statistics, 0 ha of every class), and a unit must never silently vanish.

    Raises
    ------
    InputError
        Naming the units file, its id field and every unit outside.
    """
    if not rasters or units.empty:
        return
    geometries = units.geometry.values
    inside = np.zeros(len(units), dtype=bool)
    for spec in rasters:
        footprint = raster_footprint(spec.path, units.crs, band=spec.band, crs=spec.assume_crs)
        inside |= shapely.area(shapely.intersection(geometries, footprint)) > 0
    if inside.all():
        return
    outside = units.index[~inside]
    listed = ", ".join(map(repr, outside[:20].astype(str))) + (", ..." if len(outside) > 20 else "")
    files = ", ".join(dict.fromkeys(spec.path.name for spec in rasters))
    raise InputError(
        f"{len(outside)} planning unit(s) lie outside every raster ({files}): {listed}.", path=section.path,
        layer=section.layer, field=section.id_field,
        fix="check the CRS of the units and of the rasters (a wrong .prj or assume_crs puts data elsewhere), "
        "give rasters that cover every unit, or remove those units from the layer.")


def summarise_raster(units: gpd.GeoDataFrame, aligned: Path, spec: RasterInput) -> pd.DataFrame:
    """Per-unit columns of an aligned input raster.

    Categorical rasters give the area of each class [ha] (``<name>_<class>_area_ha``, classes
    named through the code system when there is one, plus ``nodata``); continuous rasters give
    the statistics of `spec` (``<name>_<stat>_<unit>``; counts as ``<name>_count_cells``).
    """
    if spec.kind == "categorical":
        area_m2 = zonal_categories(units, aligned, prefix="")
        table = area_m2 / 1e4  # m2 -> ha
        labels = {"nodata": "nodata"}
        if spec.code_system:
            codes = [c for c in table.columns if c != "nodata"]
            cell_m2 = grid_of(aligned).transform.a ** 2
            cells = (area_m2[codes].sum() / cell_m2).round().astype(int)
            classes = classify(codes, spec.code_system, path=spec.path, field="cell values", counts=cells.to_numpy())
            labels.update(zip(codes, (_slug(n) for n in classes["name_en"])))
        table = table.T.groupby([labels.get(c, c) for c in table.columns], sort=False).sum().T
        table.columns = [f"{spec.name}_{label}_area_ha" for label in table.columns]
        return table
    table = zonal_stats(units, aligned, stats=spec.stats)
    suffix = f"_{spec.unit}" if spec.unit else ""
    table.columns = [f"{spec.name}_{s}_cells" if s in ("count", "nodata_count") else f"{spec.name}_{s}{suffix}"
                     for s in table.columns]
    return table


def _slug(text: str) -> str:
    """'Bare / sparse vegetation' -> 'bare_sparse_vegetation' (for column names)."""
    return re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_")


def run_vectors(ctx: StageContext) -> None:
    """Read each [[vectors]] input layer for the one map."""
    units: Units = ctx.result("units")
    for spec in ctx.track(ctx.project.vectors, words("progress.reading_vectors")):
        frame = read_vector(spec.path, layer=spec.layer, columns=[spec.column] if spec.column else (),
                            assume_crs=spec.assume_crs, to_crs=units.grid.crs, encoding=spec.encoding)
        ctx.record_input(spec.path, f"vector {spec.name}")
        colours = carbon_categories()["colour"].to_dict() if spec.column == "carbon_category" else None
        ctx.add_layer(Layer(name=spec.name, title=layer_title(spec), group=spec.group,
                            frame=frame, column=spec.column, kind=spec.kind, colours=colours))


def layer_title(spec: RasterInput | VectorInput) -> Text:
    """The map title of a [[rasters]] or [[vectors]] entry in both languages: its ``title`` (one string
    for both, or one per language), else its name with spaces."""
    return as_text(spec.title or spec.name.replace("_", " "))


def raster_title(project: Project, name: str) -> Text:
    """:func:`layer_title` of the [[rasters]] entry `name` (for a note that names it)."""
    return layer_title(next(spec for spec in project.rasters if spec.name == name))


def _has_vectors(project: Project) -> bool:
    return bool(project.vectors)


UNITS = Stage("units", words("stage.units"), run_units,
              sections=("units", "grid"), writes=Units)
RASTERS = Stage("rasters", words("stage.rasters"), run_rasters, sections=("rasters",), reads=("units",),
                writes=Rasters)
VECTORS = Stage("vectors", words("stage.vectors"), run_vectors, sections=("vectors",), reads=("units",),
                applies=_has_vectors)


def align_on_landcover(landcover: Path, rasters: dict[str, Path | None], folder: Path, *, crs=None
                       ) -> tuple[Path, dict[str, Path | None]]:
    """Align a land cover and the continuous rasters beside it onto one metric grid, as a run
    aligns its [[rasters]] (for the commands that take files directly).

    The grid is the land cover's own when its CRS is projected, else an equal-area grid at its
    cell size (:func:`carbonmap.grid.metric_grid_of`). Aligned COGs are written into `folder`;
    returns the land cover's and each raster's (None stays None).
    """
    from carbonmap.grid import metric_grid_of

    grid = metric_grid_of(landcover, crs=crs)
    aligned = align_raster(landcover, grid, kind="categorical", dst_path=folder / "landcover.tif", crs=crs)
    others = {name: None if path is None else
              align_raster(path, grid, kind="continuous", dst_path=folder / f"{name}.tif", crs=crs)
              for name, path in rasters.items()}
    return aligned, others
