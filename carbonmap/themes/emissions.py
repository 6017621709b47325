"""Emissions: coefficient accounting on parcels, the inventory downscaled by proxies, gridded emissions."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd

from carbonmap.coefficients import landuse_coefficients, road_class_weights
from carbonmap.config import (
    BuildingsSection,
    EmissionsSection,
    InventorySection,
    ParcelsSection,
    PointSourcesSection,
    Project,
    RoadsSection,
)
from carbonmap.emissions import (
    EmissionsAccount,
    account_emissions,
    check_allocation,
    floor_area_m2,
    grid_emissions,
    gridded_sources,
    read_inventory_file,
)
from carbonmap.grid import analysis_grid
from carbonmap.io import read_vector, write_cog
from carbonmap.landuse import classify
from carbonmap.readable import translated
from carbonmap.stage import Layer, Stage, StageContext
from carbonmap.words import Text, listed, words

__all__ = ["EmissionsInputs", "Emissions", "prepare_emissions", "account", "emission_tables", "EMISSIONS"]


@dataclass
class EmissionsInputs:
    """Everything :func:`carbonmap.emissions.account_emissions` needs, read from the files.

    files : (path, role) of every file read, for the run's record.
    notes : what was assumed while reading (e.g. floors filled by use).
    """

    parcels: gpd.GeoDataFrame
    classes: pd.DataFrame  # code, name_en, space, carbon_category, ... per parcel
    system: str
    coefficients: pd.DataFrame
    proxies: dict[str, str] = field(default_factory=dict)
    inventory: pd.DataFrame | None = None
    buildings: gpd.GeoDataFrame | None = None
    floor_area: pd.Series | None = None
    use_field: str = "use"
    roads: gpd.GeoDataFrame | None = None
    road_weights: pd.Series | None = None
    road_class_field: str = "road_class"
    point_sources: gpd.GeoDataFrame | None = None
    inventory_file: InventorySection | None = None
    files: list[tuple[Path, str]] = field(default_factory=list)
    notes: list[Text] = field(default_factory=list)


def prepare_emissions(parcels: ParcelsSection, *, settings: EmissionsSection, crs,
                      buildings: BuildingsSection | None = None, roads: RoadsSection | None = None,
                      point_sources: PointSourcesSection | None = None,
                      inventory: InventorySection | None = None) -> EmissionsInputs:
    """Read and check the emissions inputs of a project's sections, in `crs` (projected, metres)."""
    frame = read_vector(parcels.path, layer=parcels.layer, columns=[parcels.code_field], kind="polygon",
                        assume_crs=parcels.assume_crs, to_crs=crs, encoding=parcels.encoding, null_geometry="error",
                        other_columns=False)
    classes = classify(frame[parcels.code_field], parcels.code_system, crosswalk=parcels.crosswalk,
                       path=parcels.path, field=parcels.code_field)
    inputs = EmissionsInputs(frame, classes, parcels.code_system, landuse_coefficients(settings.coefficients),
                             proxies=dict(settings.proxies), files=[(parcels.path, "parcels")])
    if parcels.crosswalk is not None:
        inputs.files.append((parcels.crosswalk, "parcel code crosswalk"))
    if inventory is not None:
        inputs.inventory = read_inventory_file(inventory.path)
        inputs.inventory_file = inventory
        inputs.files.append((inventory.path, "inventory"))
    if buildings is not None:
        inputs.buildings = read_vector(buildings.path, layer=buildings.layer, columns=buildings.fields,
                                       kind="polygon", assume_crs=buildings.assume_crs, to_crs=crs,
                                       encoding=buildings.encoding, null_geometry="error",
                                       other_columns=[f for f in (buildings.floors_field,) if f])
        inputs.floor_area, floors = floor_area_m2(inputs.buildings, floors_field=buildings.floors_field,
                                                  height_field=buildings.height_field,
                                                  storey_height_m=buildings.storey_height_m,
                                                  use_field=buildings.use_field)
        inputs.use_field = buildings.use_field
        inputs.files.append((buildings.path, "buildings"))
        if floors["missing_floors"]:
            inputs.notes.append(words("note.floors_assumed", buildings=f"{floors['missing_floors']:,}",
                                      floors=listed(words("note.use_floors", use=_use_name(use), floors=f"{n:g}")
                                                    for use, n in floors["assumed_floors"].items())))
    if roads is not None:
        inputs.roads = read_vector(roads.path, layer=roads.layer, columns=[roads.class_field], kind="line",
                                   assume_crs=roads.assume_crs, to_crs=crs, encoding=roads.encoding,
                                   other_columns=False)
        inputs.road_weights = road_class_weights(settings.road_weights)
        inputs.road_class_field = roads.class_field
        inputs.files.append((roads.path, "roads"))
    if point_sources is not None:
        points = read_vector(point_sources.path, layer=point_sources.layer,
                             columns=[point_sources.emissions_field, point_sources.sector_field], kind="point",
                             assume_crs=point_sources.assume_crs, to_crs=crs, encoding=point_sources.encoding)
        inputs.point_sources = points.rename(columns={point_sources.emissions_field: "co2_t_yr",
                                                      point_sources.sector_field: "sector"})
        inputs.files.append((point_sources.path, "point sources"))
    return inputs


def account(inputs: EmissionsInputs, units: gpd.GeoDataFrame | None = None) -> tuple[EmissionsAccount, list[str]]:
    """:func:`carbonmap.emissions.account_emissions` on prepared inputs (per unit with `units`).

    Returns the account and the inventory rows left unallocated, as lines for the end of the
    run; they are an error unless the [inventory] section accepts them (``allow_unallocated``).
    """
    result = account_emissions(
        inputs.parcels, inputs.classes["carbon_category"], inputs.coefficients, codes=inputs.classes["code"],
        system=inputs.system, inventory=inputs.inventory, buildings=inputs.buildings, floor_area=inputs.floor_area,
        roads=inputs.roads, road_weights=inputs.road_weights, point_sources=inputs.point_sources, units=units,
        proxies=inputs.proxies, use_field=inputs.use_field, road_class_field=inputs.road_class_field)
    section = inputs.inventory_file
    unallocated = [] if section is None else check_allocation(
        result.report, allow_unallocated=section.allow_unallocated, path=section.path)
    return result, unallocated


#: The columns of the parcel_emissions layer.
PARCEL_COLUMNS = ["code", "class_name", "carbon_category", "space", "area_ha", "coef_id", "coef_emission_co2_t_yr",
                  "coef_removal_co2_t_yr", "inventory_co2_t_yr", "source_co2_t_yr", "source_co2_t_ha_yr", "geometry"]


def _use_name(use: str) -> Text:
    """A building use as readers know it (``all``: every use, in :func:`floor_area_m2`'s report)."""
    return words("note.every_use") if use == "all" else translated(use)


def emission_tables(inputs: EmissionsInputs, result: EmissionsAccount) -> dict[str, pd.DataFrame]:
    """What the stage and ``carbonmap emissions`` both write: the parcels with their fluxes,
    the coefficients applied to them, and the inventory allocation report."""
    parcels = result.parcels.assign(code=inputs.classes["code"].to_numpy(),
                                    class_name=inputs.classes["name_en"].to_numpy(),
                                    space=inputs.classes["space"].to_numpy())
    used = inputs.coefficients[inputs.coefficients["coef_id"].isin(set(result.parcels["coef_id"]))]
    tables = {"parcel_emissions": parcels[PARCEL_COLUMNS],
              "coefficients_landuse": used.drop(columns=["co2_t_ha_yr"]).assign(co2_t_ha_yr=used["co2_t_ha_yr"])}
    if len(result.report):
        tables["emissions_inventory_allocation"] = result.report.assign(
            proxy=result.report["sector"].map(result.proxies).fillna(""))
    return tables


@dataclass
class Emissions:
    """The emissions stage's result for later stages.

    parcels : the parcels with their classes, fluxes and sources (layer parcel_emissions).
    sources : units x sectors [t CO2/yr]. sinks : per-class coefficient removals per unit
    [t CO2/yr]. builtup_km2 : built-up land per unit [km2].
    """

    parcels: gpd.GeoDataFrame
    sources: pd.DataFrame
    sinks: pd.Series
    builtup_km2: pd.Series


def run_emissions(ctx: StageContext) -> Emissions:
    """Coefficient accounting on parcels, inventory downscaling, gridded emissions."""
    project, units = ctx.project, ctx.result("units")
    inputs = prepare_emissions(project.parcels, settings=project.emissions, crs=units.grid.crs,
                               buildings=project.buildings, roads=project.roads,
                               point_sources=project.point_sources, inventory=project.inventory)
    for path, role in inputs.files:
        ctx.record_input(path, role)
    if inputs.point_sources is not None:
        ctx.add_layer(Layer(name="point_sources", title=words("layer.point_sources"), group="sources",
                            frame=inputs.point_sources, column="co2_t_yr", unit="t_co2_yr"))
    result, unallocated = account(inputs, units.frame)
    for note in inputs.notes + result.notes:
        ctx.note(note)
    for line in unallocated:
        ctx.warn(line)
    tables = emission_tables(inputs, result)
    parcels = tables.pop("parcel_emissions")
    for name, table in tables.items():
        ctx.add_table(name, table)
    ctx.add_layer(Layer(name="parcel_emissions", title=words("layer.parcel_emissions"), group="sources",
                        frame=parcels, column="source_co2_t_ha_yr", unit="t_co2_ha_yr"))
    ctx.add_summary(pd.DataFrame({"builtup_area_km2": result.unit_builtup_km2}))
    grid = analysis_grid(units.frame, project.emissions.grid_resolution_m, crs=units.grid.crs)
    gridded = grid_emissions(gridded_sources(result), grid)
    path = write_cog(ctx.file("rasters/emissions_grid.tif"), gridded.astype("float32"), transform=grid.transform,
                     crs=grid.crs, nodata=None, resampling="average",
                     tags={"unit": "t CO2 yr-1 per cell", "cell_m": str(grid.resolution)})
    ctx.add_layer(Layer(name="emissions_grid", title=words("layer.emissions_grid", cell=grid.resolution),
                        group="sources", raster=path, unit="t_co2_yr_per_cell"))
    return Emissions(parcels, result.unit_sources, result.unit_sinks, result.unit_builtup_km2)


def _has_parcels(project: Project) -> bool:
    return project.parcels is not None


EMISSIONS = Stage("emissions", words("stage.emissions"), run_emissions,
                  sections=("parcels", "buildings", "roads", "point_sources", "inventory", "emissions"),
                  reads=("units",), writes=Emissions, applies=_has_parcels)
