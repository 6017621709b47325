"""Check a project without computing it: ``carbonmap validate PROJECT.toml``.

:func:`validate_project` finds every problem a run would meet in its inputs, and lists them all
at once (a run stops at the first):

1. the project file: every section and key (:func:`carbonmap.config.load_project`, collecting),
   and that each stage gets the results it needs (:func:`carbonmap.pipeline.check_declarations`);
2. every vector input: it opens, has its layer and the fields the project names, a CRS (or
   ``assume_crs``) and the geometry family the run needs -- from a sample of its first features;
   the planning units are read whole (ids present and unique, every unit with a geometry);
3. every raster: it opens and reads (a damaged file is named), has a CRS; a categorical raster
   holds integer codes its code system knows (values read decimated when the raster is large),
   and the land covers of [stocks] only codes the pool table has, those of [blue_carbon] only codes
   its biophysical table has;
4. the parcels' codes are known to their code system (each distinct code classified once, with
   its count of parcels);
5. every table the project names reads and holds allowed values (inventory, pools, crosswalk,
   coefficient overrides);
6. overlap: every raster and vector input overlaps the planning units, and no unit lies outside
   every raster.

Each problem is the :class:`~carbonmap.errors.CarbonmapError` the run would raise (the same
message: file, layer, field or key, and the fix). Nothing is written.
"""

from __future__ import annotations

import tomllib
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.errors
import rasterio.errors
import shapely
from rasterio.enums import Resampling

from carbonmap import coefficients
from carbonmap.config import Project, RasterInput, load_project
from carbonmap.errors import (
    CarbonmapError,
    EncodingGuessedWarning,
    InputError,
    MissingColumnError,
    NodataError,
    UnknownCodeError,
)
from carbonmap.grid import raster_footprint
from carbonmap.io import check_class_codes, damaged_raster_error, open_raster, read_vector
from carbonmap.landuse import CODE_SYSTEMS, classify, read_crosswalk

__all__ = ["Validation", "VectorCheck", "validate_project", "vector_checks", "SAMPLE_FEATURES", "MAX_CELLS"]

#: Features read from each vector input to check its geometry, CRS and encoding.
SAMPLE_FEATURES = 200
#: Cells read from each raster; larger rasters are read decimated to about this many cells.
MAX_CELLS = 2**24
#: Warnings worth passing on: those about whole inputs (others count what a sample holds).
_SHOWN_WARNINGS = (EncodingGuessedWarning,)


@dataclass
class Validation:
    """What :func:`validate_project` found.

    problems : every problem (the project file's, then its inputs'), each a CarbonmapError, once.
    sections : the sections of the project file.
    inputs : the inputs checked, one line each (file, and layer or key).
    warnings : what a run would warn about (e.g. an encoding guessed), one line each.
    """

    path: Path
    problems: list[CarbonmapError] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class VectorCheck:
    """A vector input as the run reads it: the key naming it, and :func:`carbonmap.io.read_vector`'s arguments."""

    key: str
    path: Path
    layer: str | None = None
    columns: tuple[str, ...] = ()
    kind: str | None = "polygon"
    assume_crs: str | None = None
    encoding: str | None = None


def validate_project(path: str | Path) -> Validation:
    """Every problem of a project file and its inputs, found without computing (module docstring)."""
    result = Validation(Path(path))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        project = load_project(path, problems=result.problems)
        if project is not None:
            result.sections = _sections(project.path)
            _check_inputs(project, result)
    result.warnings = list(dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, _SHOWN_WARNINGS)))
    result.problems = list({str(problem): problem for problem in result.problems}.values())  # each once
    return result


def _sections(path: Path) -> list[str]:
    """The sections of a project file that parsed (the file is valid TOML by then)."""
    return list(tomllib.loads(path.read_text(encoding="utf-8-sig")))


def _check_inputs(project: Project, result: Validation) -> None:
    problems = result.problems
    readable = _readable(problems)
    _check_declarations(project, result.sections, problems)
    units = None
    if readable("units", project.units.path):
        result.inputs.append(f"{project.units.path} (units)")
        units = _attempt(problems, "units", _read_units, project)
    rasters = {}  # name -> (footprint, codes present), of the rasters that read
    for i, spec in enumerate(project.rasters):
        if readable(f"rasters[{i}]", spec.path):
            result.inputs.append(f"{spec.path} (rasters[{i}])")
            rasters[spec.name] = _attempt(problems, f"rasters[{i}]", _check_raster, spec)
    for check in vector_checks(project):
        if readable(check.key, check.path):
            result.inputs.append(f"{check.path} ({check.key})")
            sample = _check_vector(check, problems)
            if sample is not None and units is not None:
                _attempt(problems, check.key, _check_overlap, _vector_extent(check, sample), units, check.path)
    if project.parcels is not None and project.parcels.path.exists():
        _attempt(problems, "parcels", _check_parcel_codes, project)
    compensation = project.compensation
    if units is not None and compensation is not None and compensation.zone_field is not None:
        from carbonmap.themes.compensation import prepare_compensation  # reads the zone field

        _attempt(problems, "compensation.zone_field", prepare_compensation, compensation, project.units)
    for key, read, table in _tables(project):
        if table.exists():
            result.inputs.append(f"{table} ({key})")
            _attempt(problems, key, read, table)
    if units is not None and project.targets is not None and project.targets.table.exists():
        _attempt(problems, "targets.table", _check_target_units, project, units)
    _attempt(problems, "stocks", _check_pools_cover_land_covers, project, rasters)
    _check_biophysical_covers_snapshots(project, rasters, problems)
    if units is not None:
        for i, spec in enumerate(project.rasters):
            if rasters.get(spec.name) is not None:
                _attempt(problems, f"rasters[{i}]", _check_overlap, rasters[spec.name][0], units, spec.path)
        if all(rasters.get(spec.name) is not None for spec in project.rasters):
            from carbonmap.themes.inputs import check_units_covered

            _attempt(problems, "units", check_units_covered, units, project.rasters, project.units)


def _readable(problems: list[CarbonmapError]) -> Callable[[str, Path], bool]:
    """Whether the input of a project-file entry (e.g. "units", "sinks.wetlands") can be read: its
    file exists and the project file names a usable CRS and encoding for it (else that problem is
    reported already, and reading would only report it again)."""
    broken = [p.key for p in problems if p.key and p.key.endswith(("assume_crs", "encoding"))]

    def readable(key: str, path: Path) -> bool:
        return path.exists() and not any(k.startswith((f"{key}.", f"{key}_")) for k in broken)

    return readable


def _attempt(problems: list[CarbonmapError], key: str, check: Callable, *args: Any) -> Any:
    """`check(*args)`, or None with its CarbonmapError added to `problems` (see :func:`_keyed`)."""
    try:
        return check(*args)
    except CarbonmapError as exc:
        problems.append(_keyed(exc, key))
        return None


def _keyed(error: CarbonmapError, key: str) -> CarbonmapError:
    """`error`, naming the project-file entry (`key`) of its input when it names none: the same file
    (a GeoPackage) often holds the layers of several entries."""
    if error.key is not None:
        return error
    keyed = type(error)(error.problem, path=error.path, layer=error.layer, field=error.field, key=key, fix=error.fix)
    keyed.__cause__ = error.__cause__
    return keyed


def _check_declarations(project: Project, sections: list[str], problems: list[CarbonmapError]) -> None:
    """:func:`carbonmap.pipeline.check_declarations`, unless the section it asks for is in the file
    (then it could not be read, which is reported already)."""
    from carbonmap.pipeline import check_declarations

    try:
        check_declarations(project)
    except CarbonmapError as exc:
        if exc.key not in sections:
            problems.append(exc)


# --------------------------------------------------------------------------- vectors


def vector_checks(project: Project) -> list[VectorCheck]:
    """Every vector input of `project` but the planning units, with what the run requires of it."""
    checks = []
    parcels, buildings, roads, points = project.parcels, project.buildings, project.roads, project.point_sources
    if parcels is not None:
        checks.append(VectorCheck("parcels", parcels.path, parcels.layer, (parcels.code_field,), "polygon",
                                  parcels.assume_crs, parcels.encoding))
    if buildings is not None:
        renewables = project.renewables
        fields = buildings.fields
        if renewables is not None and renewables.rooftop:  # as themes.renewables.read_buildings
            fields = [buildings.use_field, buildings.floors_field, buildings.height_field, renewables.roof_field]
        checks.append(VectorCheck("buildings", buildings.path, buildings.layer, tuple(f for f in fields if f),
                                  "polygon", buildings.assume_crs, buildings.encoding))
    if roads is not None:
        checks.append(VectorCheck("roads", roads.path, roads.layer, (roads.class_field,), "line", roads.assume_crs,
                                  roads.encoding))
    if points is not None:
        checks.append(VectorCheck("point_sources", points.path, points.layer,
                                  (points.emissions_field, points.sector_field), "point", points.assume_crs,
                                  points.encoding))
    sinks = project.sinks
    if sinks.wetlands is not None:
        checks.append(VectorCheck("sinks.wetlands", sinks.wetlands, sinks.wetlands_layer,
                                  (sinks.wetland_type_field,), encoding=sinks.wetlands_encoding))
    for name in ("renewables", "screening"):
        section = getattr(project, name)
        if section is not None and section.protection_zones is not None:
            checks.append(VectorCheck(f"{name}.protection_zones", section.protection_zones,
                                      section.protection_zones_layer, (section.protection_field,),
                                      encoding=section.protection_zones_encoding))
    screening = project.screening
    if screening is not None and screening.vacated_land is not None:
        checks.append(VectorCheck("screening.vacated_land", screening.vacated_land, screening.vacated_land_layer,
                                  encoding=screening.vacated_land_encoding))
    for i, scenario in enumerate(project.scenarios):
        if scenario.convert is not None:
            checks.append(VectorCheck(f"scenarios[{i}].convert", scenario.convert, scenario.convert_layer,
                                      encoding=scenario.convert_encoding))
    for i, vector in enumerate(project.vectors):
        checks.append(VectorCheck(f"vectors[{i}]", vector.path, vector.layer,
                                  (vector.column,) if vector.column else (), None, vector.assume_crs,
                                  vector.encoding))
    return checks


def _check_vector(check: VectorCheck, problems: list[CarbonmapError]) -> gpd.GeoDataFrame | None:
    """A sample of the layer, read as the run reads it; its problems added to `problems` (a missing
    field, and then whatever else is wrong with it)."""
    def sample(columns):
        return read_vector(check.path, layer=check.layer, columns=columns, kind=check.kind,
                           assume_crs=check.assume_crs, encoding=check.encoding, max_features=SAMPLE_FEATURES)

    try:
        return sample(check.columns)
    except MissingColumnError as exc:
        problems.append(_keyed(exc, check.key))
        return _attempt(problems, check.key, sample, ())
    except CarbonmapError as exc:
        problems.append(_keyed(exc, check.key))
        return None


def _vector_extent(check: VectorCheck, sample: gpd.GeoDataFrame) -> gpd.GeoSeries:
    """The bounding box of a whole layer (from its metadata), in the CRS of its sample."""
    try:
        bounds = pyogrio.read_info(check.path, layer=check.layer, force_total_bounds=True).get("total_bounds")
    except pyogrio.errors.DataSourceError:  # read already; should it fail now, the sample's extent will do
        bounds = None
    if bounds is None or not np.all(np.isfinite(bounds)):
        bounds = sample.total_bounds
    return gpd.GeoSeries([shapely.box(*bounds)], crs=sample.crs)


def _read_units(project: Project) -> gpd.GeoDataFrame:
    from carbonmap.themes.inputs import read_units

    return read_units(project.units)


def _check_overlap(extent: gpd.GeoSeries, units: gpd.GeoDataFrame, path: Path) -> None:
    """Refuse an input whose extent (one polygon, with its CRS) misses every planning unit."""
    extent = extent.to_crs(units.crs).iloc[0]
    if shapely.intersects(units.geometry.values, extent).any():
        return
    raise InputError(
        f"lies outside the planning units: it covers x {extent.bounds[0]:.6g}..{extent.bounds[2]:.6g}, "
        f"y {extent.bounds[1]:.6g}..{extent.bounds[3]:.6g} and the units x {units.total_bounds[0]:.6g}.."
        f"{units.total_bounds[2]:.6g}, y {units.total_bounds[1]:.6g}..{units.total_bounds[3]:.6g} "
        f"(in {units.crs.name}).", path=path,
        fix="check its CRS (a wrong .prj or assume_crs puts data elsewhere) and that it is the study area's.")


# --------------------------------------------------------------------------- rasters


def _check_raster(spec: RasterInput) -> tuple[gpd.GeoSeries, pd.Series | None]:
    """Open and read a [[rasters]] input (decimated when large) as the run would; check its codes.

    Returns its footprint (in its CRS) and, for a categorical raster, the cells of each code, for
    the other checks.
    """
    with open_raster(spec.path, band=spec.band, crs=spec.assume_crs) as src:
        values = _sample_values(src)
        name, dtype = src.name, src.dtype
    if values.mask.all():
        raise NodataError(f"every cell is nodata (nodata value {src.nodata!r}).", path=name,
                          fix="check the nodata value declared in the file, or that this is the right band.")
    footprint = gpd.GeoSeries([raster_footprint(spec.path, band=spec.band, crs=spec.assume_crs)], crs=src.crs)
    if spec.kind != "categorical":
        return footprint, None
    check_class_codes(dtype, name=name)
    codes, counts = np.unique(values.compressed(), return_counts=True)
    counts = np.round(counts * src.shape[0] * src.shape[1] / values.size).astype(np.int64)  # cells, if decimated
    if spec.code_system in CODE_SYSTEMS:
        classify(codes, spec.code_system, path=name, field="cell values", counts=counts)
    return footprint, pd.Series(counts, index=codes)


def _sample_values(src) -> np.ma.MaskedArray:
    """The raster's values, every cell up to :data:`MAX_CELLS`, beyond that a decimated read (nearest);
    a read that fails names the user's file as damaged."""
    rows, cols = src.shape
    if rows * cols <= MAX_CELLS:
        return src.read()
    step = np.sqrt(rows * cols / MAX_CELLS)
    shape = (max(1, int(rows / step)), max(1, int(cols / step)))
    try:
        data = src.dataset.read(src.band, out_shape=shape, resampling=Resampling.nearest)
    except rasterio.errors.RasterioError as exc:
        raise damaged_raster_error(src.name, exc) from exc
    return np.ma.MaskedArray(data, mask=src.invalid(data))


def _check_pools_cover_land_covers(project: Project, checked: dict[str, Any]) -> None:
    """The land covers of [stocks] hold only codes that the pool table has (as the stocks stage requires)."""
    stocks = project.stocks
    if stocks is None or not stocks.pools.exists():
        return
    from carbonmap.stocks import read_pools

    try:
        lucodes = read_pools(stocks.pools)["lucode"].to_numpy()
    except CarbonmapError:
        return  # reported with the tables
    for key, name in (("stocks.baseline", stocks.baseline), ("stocks.alternative", stocks.alternative)):
        found = checked.get(name)
        if found is None or found[1] is None:
            continue
        codes = found[1]
        unknown = codes[~np.isin(codes.index, lucodes)]
        if len(unknown):
            spec = next(r for r in project.rasters if r.name == name)
            listed = ", ".join(f"{code} ({n} cells)" for code, n in unknown.items())
            raise UnknownCodeError(f"{len(unknown)} land-cover code(s) are not in the pool table: {listed}.",
                                   path=spec.path, key=key,
                                   fix=f"add a row for each to the pool table {stocks.pools}.")


def _check_biophysical_covers_snapshots(project: Project, checked: dict[str, Any],
                                        problems: list[CarbonmapError]) -> None:
    """The snapshots of [blue_carbon] named as [[rasters]] hold only codes the biophysical table has
    (each snapshot that does not is a problem)."""
    section = project.blue_carbon
    if section is None or not isinstance(section.snapshots, dict) or not section.biophysical.exists():
        return
    from carbonmap.blue_carbon import read_biophysical

    try:
        lucodes = read_biophysical(section.biophysical)["lucode"].to_numpy()
    except CarbonmapError:
        return  # reported with the project file
    for year, name in section.snapshots.items():
        found = checked.get(name)
        if found is None or found[1] is None:
            continue
        unknown = found[1][~np.isin(found[1].index, lucodes)]
        if len(unknown):
            spec = next(r for r in project.rasters if r.name == name)
            listed = ", ".join(f"{code} ({n} cells)" for code, n in unknown.items())
            problems.append(UnknownCodeError(
                f"{len(unknown)} land-cover code(s) are not in the biophysical table: {listed}.", path=spec.path,
                key=f"blue_carbon.snapshots.{year}",
                fix=f"add a row for each to the biophysical table {section.biophysical}."))


# --------------------------------------------------------------------------- codes and tables


def _check_parcel_codes(project: Project) -> None:
    """Every parcel code is known to the code system (or the crosswalk): each distinct code classified once."""
    parcels = project.parcels
    if parcels.code_system not in CODE_SYSTEMS:
        return  # reported with the project file
    crosswalk = parcels.crosswalk if parcels.crosswalk is not None and parcels.crosswalk.exists() else None
    try:
        frame = pyogrio.read_dataframe(parcels.path, layer=parcels.layer, columns=[parcels.code_field],
                                       read_geometry=False, encoding=parcels.encoding)
    except Exception:  # noqa: BLE001 - the layer's own problems are reported by its vector check
        return
    if parcels.code_field not in frame:
        return
    codes = frame[parcels.code_field].value_counts(dropna=False, sort=False)
    try:
        classify(codes.index, parcels.code_system, crosswalk=crosswalk, path=parcels.path, field=parcels.code_field,
                 counts=codes.to_numpy())
    except CarbonmapError as exc:
        if crosswalk is not None and exc.path == str(crosswalk):
            return  # the crosswalk's own problem is reported with the tables
        raise


def _check_target_units(project: Project, units: gpd.GeoDataFrame) -> None:
    """The targets table names only the project's units (checked by the run at its targets stage,
    after every other stage)."""
    from carbonmap.themes.targets import check_target_units, read_targets

    try:
        table = read_targets(project.targets.table)
    except CarbonmapError:
        return  # the tables' check says what is wrong with it
    check_target_units(table, units["unit_id"], path=project.targets.table)


def _tables(project: Project) -> list[tuple[str, Callable, Path]]:
    """(key, reader, file) of every table the project names, read as the run reads it."""
    from carbonmap.emissions import read_inventory_file
    from carbonmap.stocks import read_pools

    tables = []
    parcels = project.parcels
    if parcels is not None and parcels.crosswalk is not None and parcels.code_system in CODE_SYSTEMS:
        tables.append(("parcels.crosswalk", lambda p: read_crosswalk(p, parcels.code_system), parcels.crosswalk))
    if project.inventory is not None:
        tables.append(("inventory.path", read_inventory_file, project.inventory.path))
    if project.stocks is not None:
        tables.append(("stocks.pools", read_pools, project.stocks.pools))
    if project.targets is not None:
        from carbonmap.themes.targets import read_targets

        tables.append(("targets.table", read_targets, project.targets.table))
    readers = {  # (section, key) -> reader of an override
        ("emissions", "coefficients"): coefficients.landuse_coefficients,
        ("emissions", "road_weights"): coefficients.road_class_weights,
        ("balance", "classes"): coefficients.balance_classes, ("balance", "bands"): coefficients.efficiency_bands,
        ("network", "resistance"): coefficients.ecological_resistance,
        ("renewables", "parameters"): coefficients.renewable_parameters,
        ("renewables", "zoning_rules"): coefficients.renewable_zoning_rules,
        ("renewables", "rooftop_usable"): coefficients.rooftop_pv_usable,
        ("renewables", "wind_shear"): coefficients.wind_shear_exponents,
        ("renewables", "power_curve"): coefficients.wind_power_curve,
        ("renewables", "gshp_extraction"): coefficients.gshp_extraction,
        ("renewables", "heating_demand"): coefficients.heating_demand,
        ("renewables", "geothermal_classes"): coefficients.geothermal_classes,
        ("renewables", "grid_factors"): lambda p: coefficients.read_table("grid_emission_factors", p),
        ("screening", "parameters"): coefficients.screening_parameters,
        ("screening", "rules"): coefficients.afforestation_rules,
        ("screening", "site_preparation"): coefficients.afforestation_site_preparation,
        ("screening", "growth"): coefficients.afforestation_growth,
        ("timeline", "stages"): coefficients.planning_stages,
        ("timeline", "parameters"): coefficients.scenario_parameters,
        ("targets", "parameters"): coefficients.target_parameters,
        ("monitoring", "thresholds"): coefficients.monitoring_thresholds,
    }
    for (section, key), read in readers.items():
        value = getattr(project, section)
        if value is not None and getattr(value, key) is not None:
            tables.append((f"{section}.{key}", read, getattr(value, key)))
    return tables
