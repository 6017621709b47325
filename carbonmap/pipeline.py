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

import dataclasses
import datetime as _dt
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from carbonmap import __version__
from carbonmap.config import Project, RasterInput
from carbonmap.errors import InputError
from carbonmap.grid import AnalysisGrid, align_raster, analysis_grid, rasterize
from carbonmap.balance import unit_balance
from carbonmap.coefficients import (
    balance_classes,
    blue_carbon_disturbance,
    efficiency_bands,
    landuse_coefficients,
    road_class_weights,
    CO2_PER_C,
    ecological_resistance,
    geothermal_classes,
    grid_emission_factor,
    read_table,
    renewable_parameters,
    renewable_zoning_rules,
    rooftop_pv_usable,
    screening_parameters,
    afforestation_growth,
    afforestation_rules,
    afforestation_site_preparation,
)
from carbonmap.emissions import (
    account_emissions,
    aggregate_to_zones,
    builtup_intensity,
    coefficient_fluxes,
    floor_area_m2,
    grid_emissions,
)
from carbonmap.sinks import annual_rh_from_annual_climate, g_c_m2_to_t_co2_ha, nep, wetland_conversion_emissions
from carbonmap.stocks import Valuation, carbon_stocks, read_pools
from carbonmap.io import read_raster, read_vector, reproject, write_cog, write_csv, write_geopackage
from carbonmap.landscape import (
    compare,
    prepare,
    ecological_patches,
    fragstats,
    moving_window,
    read_landscape,
    select_classes,
    unit_metrics,
)
from carbonmap.landscape.change import CHANGE_METRICS
from carbonmap.landscape.network import MSPA_LEGEND, NetworkSettings, network_from_rasters, parameter_table
from carbonmap.landscape.ecology import WINDOW_METRICS
from carbonmap.landuse import carbon_categories, classify, classify_raster, code_table
from carbonmap.renewables.potential_map import ZONE_LEGEND, renewable_potential
from carbonmap.renewables.rooftop import rooftop_pv, site_of
from carbonmap.zonal import zonal_categories, zonal_stats

__all__ = ["Layer", "RunContext", "Stage", "STAGES", "run", "stage_names"]

#: Map groups, in the order the layer control lists them.
GROUPS = ("units", "sources", "sinks", "ecology", "renewables", "screening", "scenarios", "zones", "inputs")


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
    display_tolerance_m: float = 0.0  # simplify vectors by this much in the HTML map (not the GeoPackage)
    in_html: bool = True  # False: in the GeoPackage only (too many features for a web page)
    aggregate: str = "mean"  # how a layer too large for the web page is summarised on cells: mean or sum
    # (categorical layers: their most frequent class)

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
    headline: list[str] = field(default_factory=list)  # summary columns drawn as choropleths first
    rasters: dict[str, Path] = field(default_factory=dict)  # [[rasters]] name -> COG on the grid
    parcels: gpd.GeoDataFrame | None = None  # classified land-use parcels (emissions stage)
    sources: pd.DataFrame | None = None  # units x sectors [t CO2/yr]
    sinks: pd.Series | None = None  # per unit [t CO2/yr]
    sink_method: str = ""
    rooftops: gpd.GeoDataFrame | None = None  # rooftop PV per building, with its unit index (renewables stage)
    network: tuple | None = None  # (NetworkResult, NetworkSettings) of the network stage
    afforestation: tuple | None = None  # screening: (site-id raster, {scenario: site ids}, sites table)
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
    """A step of the run: `sections` are the project-file sections it reads (a rerun of a later
    stage with ``--only`` requires them unchanged since the saved run)."""

    name: str
    description: str
    run: Callable[[RunContext], None]
    sections: tuple[str, ...] = ()


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
    ctx.units = reproject(ctx.units, ctx.grid.crs, kind="polygon")
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
        ctx.rasters[spec.name] = aligned
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


def stage_emissions(ctx: RunContext) -> None:
    """Coefficient accounting on parcels, inventory downscaling, gridded emissions."""
    project = ctx.project
    if project.parcels is None:
        return
    cfg = project.parcels
    crs = ctx.grid.crs
    parcels = read_vector(cfg.path, layer=cfg.layer, columns=[cfg.code_field], kind="polygon",
                          assume_crs=cfg.assume_crs, to_crs=crs)
    ctx.record_input(cfg.path, "parcels")
    if cfg.crosswalk is not None:
        ctx.record_input(cfg.crosswalk, "parcel code crosswalk")
    classes = classify(parcels[cfg.code_field], cfg.code_system, crosswalk=cfg.crosswalk,
                       path=cfg.path, field=cfg.code_field)
    settings = project.emissions
    coefficients = landuse_coefficients(settings.coefficients)
    inputs: dict[str, Any] = {}
    if project.inventory is not None:
        inputs["inventory"] = pd.read_csv(project.inventory.path, dtype={"sub_sector": str}, keep_default_na=False,
                                          na_values={"co2_t_yr": [""]})
        ctx.record_input(project.inventory.path, "inventory")
    if project.buildings is not None:
        b = project.buildings
        buildings = read_vector(b.path, layer=b.layer, columns=[b.use_field], kind="polygon",
                                assume_crs=b.assume_crs, to_crs=crs)
        inputs["buildings"] = buildings
        inputs["floor_area"], floors = floor_area_m2(buildings, floors_field=b.floors_field,
                                                     height_field=b.height_field, storey_height_m=b.storey_height_m)
        inputs["use_field"] = b.use_field
        ctx.record_input(b.path, "buildings")
        if floors["missing_floors"]:
            ctx.notes.append(f"{floors['missing_floors']} buildings had no floors or height: assumed the median "
                             f"floors of their use {floors['assumed_floors']}")
    if project.roads is not None:
        r = project.roads
        inputs["roads"] = read_vector(r.path, layer=r.layer, columns=[r.class_field], kind="line",
                                      assume_crs=r.assume_crs, to_crs=crs)
        inputs["road_weights"] = road_class_weights(settings.road_weights)
        inputs["road_class_field"] = r.class_field
        ctx.record_input(r.path, "roads")
    if project.point_sources is not None:
        p = project.point_sources
        points = read_vector(p.path, layer=p.layer, columns=[p.emissions_field, p.sector_field], kind="point",
                             assume_crs=p.assume_crs, to_crs=crs)
        inputs["point_sources"] = points.rename(columns={p.emissions_field: "co2_t_yr", p.sector_field: "sector"})
        ctx.record_input(p.path, "point sources")
        ctx.add_layer(Layer(name="point_sources", title="Large point sources", group="sources",
                            frame=inputs["point_sources"], column="co2_t_yr", unit="t_co2_yr",
                            kind="continuous"))
    account = account_emissions(parcels, classes["carbon_category"], coefficients,
                                codes=classes["code"], system=cfg.code_system, units=ctx.units,
                                proxies=settings.proxies, **inputs)
    ctx.notes.extend(account.notes)
    ctx.parcels = account.parcels.assign(code=classes["code"].to_numpy(), class_name=classes["name_en"].to_numpy(),
                                         space=classes["space"].to_numpy())
    ctx.sources = account.unit_sources
    ctx.sinks = account.unit_sinks
    ctx.sink_method = "per-class coefficients"
    used = coefficients[coefficients["coef_id"].isin(set(account.parcels["coef_id"]))]
    ctx.add_table("coefficients_landuse", used.drop(columns=["co2_t_ha_yr"]).assign(co2_t_ha_yr=used["co2_t_ha_yr"]))
    if "road_weights" in inputs and account.proxies.get("transport") == "roads":
        ctx.add_table("coefficients_road_weights", inputs["road_weights"].rename_axis("road_class").reset_index())
    if len(account.report):
        ctx.add_table("emissions_inventory_allocation",
                      account.report.assign(proxy=account.report["sector"].map(account.proxies).fillna("")))
    layer = ctx.parcels[["code", "class_name", "carbon_category", "space", "area_ha", "coef_id",
                         "coef_emission_co2_t_yr", "coef_removal_co2_t_yr", "inventory_co2_t_yr",
                         "source_co2_t_yr", "source_co2_t_ha_yr", "geometry"]]
    ctx.add_layer(Layer(name="parcel_emissions", title="Emissions per parcel [t CO2/ha/yr]", group="sources",
                        frame=layer, column="source_co2_t_ha_yr", unit="t_co2_ha_yr", kind="continuous"))
    ctx.add_summary(pd.DataFrame({"builtup_area_km2": account.unit_builtup_km2}))
    grid = analysis_grid(ctx.units, settings.grid_resolution_m, crs=crs)
    gridded = grid_emissions(_gridded_sources(account), grid)
    path = write_cog(ctx.out_dir / "rasters" / "emissions_grid.tif", gridded.astype("float32"),
                     transform=grid.transform, crs=grid.crs, nodata=None, resampling="average",
                     tags={"unit": "t CO2 yr-1 per cell", "cell_m": str(grid.resolution)})
    ctx.add_layer(Layer(name="emissions_grid", title=f"Gridded emissions ({grid.resolution:g} m cells)",
                        group="sources", raster=path, unit="t_co2_yr_per_cell", kind="continuous"))


def _gridded_sources(account) -> gpd.GeoDataFrame:
    """Everything counted as a source: downscaled inventory and counted coefficient emissions."""
    parcels = account.parcels
    land = parcels["source_co2_t_yr"] - parcels["inventory_co2_t_yr"]
    frames = [account.allocations[["co2_t_yr", "geometry"]]]
    if (land > 0).any():
        frames.append(gpd.GeoDataFrame({"co2_t_yr": land[land > 0].to_numpy()},
                                       geometry=parcels.geometry.values[(land > 0).to_numpy()], crs=parcels.crs))
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=parcels.crs)


def stage_stocks(ctx: RunContext) -> None:
    """Carbon stocks by pool on the grid, their change, value and per-unit totals."""
    cfg = ctx.project.stocks
    if cfg is None:
        return
    valuation = None
    if cfg.price_per_t_c is not None:
        valuation = Valuation(cfg.price_per_t_c, cfg.discount_rate_pct, cfg.price_change_pct,
                              cfg.baseline_year, cfg.alternative_year)
    out = ctx.out_dir / "rasters"
    pools = read_pools(cfg.pools)
    ctx.record_input(cfg.pools, "carbon pool table")
    summary = carbon_stocks(ctx.rasters[cfg.baseline], pools, grid=ctx.grid, valuation=valuation,
                            alternative=ctx.rasters[cfg.alternative] if cfg.alternative else None, out_dir=out)
    ctx.add_table("stocks_summary", summary)
    ctx.add_table("coefficients_carbon_pools", pools)
    cell_ha = ctx.grid.cell_area_m2 / 1e4
    layers = [("c_storage_bas.tif", f"stock_{cfg.baseline}_t_c", f"Carbon stock, {cfg.baseline} [t C/ha]")]
    if cfg.alternative:
        layers += [("c_storage_alt.tif", f"stock_{cfg.alternative}_t_c", f"Carbon stock, {cfg.alternative} [t C/ha]"),
                   ("c_change_bas_alt.tif", "stock_change_t_c",
                    f"Carbon stock change, {cfg.baseline} to {cfg.alternative} [t C/ha]")]
    columns = {}
    for file, column, title in layers:  # totals [t C] and [t CO2] per unit and parcel (NaN: all nodata)
        in_co2 = column.removesuffix("_t_c") + "_t_co2"
        columns[column] = zonal_stats(ctx.units, out / file, stats=["sum"])["sum"] * cell_ha
        columns[in_co2] = columns[column] * CO2_PER_C
        ctx.add_layer(Layer(name=Path(file).stem, title=title, group="sinks", raster=out / file, unit="t_c_ha"))
        if ctx.parcels is not None:
            ctx.parcels[column] = zonal_stats(ctx.parcels, out / file, stats=["sum"])["sum"].to_numpy() * cell_ha
            ctx.parcels[in_co2] = ctx.parcels[column] * CO2_PER_C
    if cfg.alternative:
        _wetland_conversion(ctx, pools)
    ctx.add_summary(pd.DataFrame(columns))
    ctx.headline.append("stock_change_t_c" if cfg.alternative else f"stock_{cfg.baseline}_t_c")


def _wetland_conversion(ctx: RunContext, pools: pd.DataFrame, years: int = 30) -> None:
    """CO2 released by wetlands converted between the stock dates, year by year (a table)."""
    cfg = ctx.project.stocks
    system = next((r.code_system for r in ctx.project.rasters if r.name == cfg.baseline), None)
    if system is None:
        return
    disturbance = blue_carbon_disturbance()
    before, _ = read_raster(ctx.rasters[cfg.baseline])
    after, _ = read_raster(ctx.rasters[cfg.alternative])
    emissions = wetland_conversion_emissions(before, after, system, pools, disturbance,
                                             cell_ha=ctx.grid.cell_area_m2 / 1e4, years=years)
    converted = emissions.attrs["converted_ha"]
    if converted == 0:
        return
    ctx.add_table("wetland_conversion_emissions", emissions)
    ctx.add_table("coefficients_blue_carbon_disturbance", disturbance)
    ctx.notes.append(
        f"{converted:,.1f} ha of wetland converted between {cfg.baseline} and {cfg.alternative} release "
        f"{emissions['total_co2_t'].iloc[0]:,.0f} t CO2 in the first year and {emissions['total_co2_t'].sum():,.0f} "
        f"over {years} years (table wetland_conversion_emissions; not in the annual balance)")
    for category, area_ha in emissions.attrs["not_covered_ha"].items():
        ctx.notes.append(f"{area_ha:,.1f} ha of {category} converted: not in wetland_conversion_emissions "
                         "(no disturbance parameters for it in blue_carbon_disturbance)")


def stage_sinks(ctx: RunContext) -> None:
    """Vegetation NEP and blue carbon per unit and parcel; they become the balance's sinks."""
    cfg = ctx.project.sinks
    if cfg.method != "coefficient" or cfg.wetlands is not None:
        _raster_sinks(ctx)
    _parcel_carbon_layer(ctx)


def _parcel_carbon_layer(ctx: RunContext) -> None:
    """Parcels with their stocks and sinks, when the run computed any."""
    if ctx.parcels is None:
        return
    columns = [c for c in ctx.parcels.columns if c.startswith(("stock_", "sink_"))]
    if not columns:
        return
    frame = ctx.parcels[["code", "class_name", "carbon_category", "area_ha", *columns, "geometry"]]
    first = columns[0]  # stock_*_t_c [t C] or sink_*_co2_t_yr [t CO2/yr]
    unit = "t_c" if first.startswith("stock_") else "t_co2_yr"
    ctx.add_layer(Layer(name="parcel_carbon", title=f"Carbon per parcel: {first}", group="sinks", frame=frame,
                        column=first, unit=unit, kind="continuous"))


def _raster_sinks(ctx: RunContext) -> None:
    cfg = ctx.project.sinks
    vegetation = pd.Series(0.0, index=ctx.units.index)
    if cfg.method == "nep":
        path, method = _nep_sink_raster(ctx)
        vegetation = zonal_stats(ctx.units, path, stats=["sum"])["sum"].fillna(0.0) * ctx.grid.cell_area_m2 / 1e4
        ctx.add_layer(Layer(name="sink_vegetation", title="Vegetation sink, NEP [t CO2/ha/yr]", group="sinks",
                            raster=path, unit="t_co2_ha_yr"))
        if ctx.parcels is not None:
            ctx.parcels["sink_vegetation_co2_t_yr"] = zonal_stats(ctx.parcels, path, stats=["sum"])["sum"].fillna(
                0.0).to_numpy() * ctx.grid.cell_area_m2 / 1e4
    else:
        vegetation = ctx.sinks if ctx.sinks is not None else vegetation
        method = "per-class coefficients"
    blue = pd.Series(0.0, index=ctx.units.index)
    if cfg.wetlands is not None:
        wetlands = _blue_carbon(ctx)
        blue = aggregate_to_zones(wetlands.assign(kind="blue"), ctx.units, by="kind",
                                  value="sink_co2_t_yr")[0].sum(axis=1)
        method += " + IPCC blue-carbon rates on coastal wetlands"
        ctx.add_layer(Layer(name="blue_carbon", title="Coastal wetlands: blue-carbon sink [t CO2/yr]", group="sinks",
                            frame=wetlands, column="sink_co2_t_yr", unit="t_co2_yr", kind="continuous"))
    ctx.add_summary(pd.DataFrame({"sink_vegetation_co2_t_yr": vegetation, "sink_blue_carbon_co2_t_yr": blue}))
    ctx.sinks = vegetation + blue
    ctx.sink_method = method


#: Carbon categories whose NEP counts as a sink: perennial vegetation. Cropland is left out
#: (harvest returns its carbon within the year), wetlands take blue-carbon rates instead.
NEP_SINK_CATEGORIES = ("forest", "shrub", "grassland", "orchard", "green_space")


def _nep_sink_raster(ctx: RunContext) -> tuple[Path, str]:
    cfg = ctx.project.sinks
    npp, _ = read_raster(ctx.rasters[cfg.npp])
    temperature, _ = read_raster(ctx.rasters[cfg.temperature])
    precipitation, _ = read_raster(ctx.rasters[cfg.precipitation])
    landcover, _ = read_raster(ctx.rasters[cfg.landcover])
    system = next(r.code_system for r in ctx.project.rasters if r.name == cfg.landcover)
    index, legend = classify_raster(landcover, system, "carbon_category")
    sink_codes = [i for i, category in enumerate(legend) if category in NEP_SINK_CATEGORIES]
    vegetated = np.isin(index, sink_codes)
    rh = annual_rh_from_annual_climate(temperature, precipitation)
    density = g_c_m2_to_t_co2_ha(nep(npp, rh))
    density = np.ma.MaskedArray(np.ma.getdata(density), mask=np.ma.getmaskarray(density) | ~vegetated)
    path = write_cog(ctx.out_dir / "rasters" / "sink_vegetation.tif", density.astype("float32"),
                     transform=ctx.grid.transform, crs=ctx.grid.crs, nodata=float("nan"), resampling="average",
                     tags={"unit": "t CO2 ha-1 yr-1", "method": "NEP = NPP - Rh (Pei et al. 2009)"})
    return path, "NEP (NPP - Rh, Pei et al. 2009) on forest, shrub, grassland, orchards and green space"


def _blue_carbon(ctx: RunContext) -> gpd.GeoDataFrame:
    """Coastal wetland polygons with their IPCC soil-carbon accumulation rate and annual sink."""
    cfg = ctx.project.sinks
    wetlands = read_vector(cfg.wetlands, layer=cfg.wetlands_layer, columns=[cfg.wetland_type_field],
                           kind="polygon", to_crs=ctx.grid.crs)
    ctx.record_input(cfg.wetlands, "coastal wetlands")
    coefficients = landuse_coefficients(ctx.project.emissions.coefficients)
    categories = "wetland_" + wetlands[cfg.wetland_type_field].astype(str)
    fluxes = coefficient_fluxes(categories, wetlands.area.to_numpy() / 1e4, coefficients)
    out = gpd.GeoDataFrame({
        "wetland_type": wetlands[cfg.wetland_type_field].to_numpy(), "area_ha": wetlands.area.to_numpy() / 1e4,
        "coef_id": fluxes["coef_id"].to_numpy(), "sink_co2_t_yr": fluxes["coef_removal_co2_t_yr"].to_numpy(),
    }, geometry=wetlands.geometry.values, crs=wetlands.crs)
    used = coefficients[coefficients["coef_id"].isin(set(out["coef_id"]))]
    ctx.add_table("coefficients_blue_carbon", used)
    return out


def stage_landscape(ctx: RunContext) -> None:
    """Ecological patches, FRAGSTATS metrics, per-unit fragmentation, hot spots, change."""
    cfg = ctx.project.landscape
    if cfg is None:
        return
    system = next(r.code_system for r in ctx.project.rasters if r.name == cfg.landcover)
    table = code_table(system)
    names = {int(code): name for code, name in zip(table["code"], table["name_en"]) if str(code).isdigit()}
    land = read_landscape(ctx.rasters[cfg.landcover], neighbours=cfg.neighbours)
    eco = (select_classes(land, codes=cfg.ecological_codes) if cfg.ecological_codes is not None
           else select_classes(land, system=system))
    if eco.size == 0:
        raise InputError("no ecological land in the land cover.", path=ctx.rasters[cfg.landcover],
                         key="landscape.ecological_codes", fix="list the codes of ecological land.")
    metrics = fragstats(land, edge_depth_m=cfg.edge_depth_m)
    classes = metrics.class_.copy()
    classes.insert(1, "class_name", classes["class"].map(names))
    classes.insert(2, "ecological", np.isin(np.arange(land.n_classes), eco))
    ctx.add_table("landscape_class_metrics", classes)
    ctx.add_table("landscape_metrics", metrics.landscape)
    patches = ecological_patches(land, eco, min_area_ha=cfg.min_patch_area_ha, edge_depth_m=cfg.edge_depth_m,
                                 names=names)
    category = dict(zip(table["name_en"], table["carbon_category"]))
    colour = carbon_categories()["colour"]
    ctx.add_layer(Layer(name="ecological_patches", title=f"Ecological patches of {cfg.min_patch_area_ha:g} ha or more",
                        group="ecology", frame=patches, column="class_name", kind="categorical",
                        colours={n: colour[category[n]] for n in patches["class_name"].unique() if n in category},
                        display_tolerance_m=ctx.grid.resolution))  # cell staircases need no drawing
    zones = rasterize(ctx.units, ctx.grid, values=np.arange(len(ctx.units)), fill=-1, dtype="int32")
    per_unit = unit_metrics(land, eco, zones, len(ctx.units))
    per_unit.index = ctx.units.index
    ctx.add_summary(per_unit)
    hot_spots = moving_window(land, eco, metric=cfg.window_metric, radius_m=cfg.window_radius_m)
    unit = WINDOW_METRICS[cfg.window_metric]
    path = write_cog(ctx.out_dir / "rasters" / f"ecological_{cfg.window_metric.lower()}_window.tif",
                     hot_spots, transform=ctx.grid.transform, crs=ctx.grid.crs, nodata=float("nan"),
                     resampling="average", tags={"unit": unit, "radius_m": str(cfg.window_radius_m)})
    what = "edge density" if cfg.window_metric == "ED" else "share"
    ctx.add_layer(Layer(name=f"ecological_{cfg.window_metric.lower()}_window",
                        title=f"Fragmentation: ecological land {what} within {cfg.window_radius_m:g} m",
                        group="ecology", raster=path, unit=unit.replace("/", "_")))
    ctx.headline.append("eco_mesh_ha")
    if cfg.compare_with:
        before = read_landscape(ctx.rasters[cfg.compare_with], neighbours=cfg.neighbours)
        change = compare(fragstats(before, metrics=list(CHANGE_METRICS)).class_,
                         fragstats(land, metrics=list(CHANGE_METRICS)).class_, names=names)
        ctx.add_table("landscape_change", change)
        eco_codes = set(land.classes[eco].tolist())
        ctx.notes += [f"{cfg.compare_with} to {cfg.landcover}: {text}"
                      for code, text in zip(change["class"], change["reading"]) if code in eco_codes]


def stage_network(ctx: RunContext) -> None:
    """Ecological security pattern: MSPA, sources by dPC, corridors, pinch points, barriers."""
    cfg = ctx.project.network
    if cfg is None:
        return
    system = next(r.code_system for r in ctx.project.rasters if r.name == cfg.landcover)
    roads = None
    if cfg.use_roads and ctx.project.roads is not None:
        spec = ctx.project.roads
        roads = read_vector(spec.path, layer=spec.layer, kind="line", assume_crs=spec.assume_crs)
    table = ecological_resistance(cfg.resistance)
    settings = NetworkSettings(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(NetworkSettings)})
    land, resistance, result = network_from_rasters(
        ctx.rasters[cfg.landcover], system, dem=ctx.rasters[cfg.dem] if cfg.dem else None, roads=roads,
        ecological_codes=cfg.ecological_codes, settings=settings, resistance_table=table, modifiers=cfg.modifiers)
    out = ctx.out_dir / "rasters"
    grid = {"transform": ctx.grid.transform, "crs": ctx.grid.crs}
    mspa_path = write_cog(out / "mspa.tif", result.mspa, nodata=0, **grid,
                          tags={"classes": "MSPA (GuidosToolbox values)"})
    ctx.add_layer(Layer(name="mspa", title="MSPA: core, bridges, loops, edges of ecological land", group="ecology",
                        raster=mspa_path, kind="categorical",
                        labels={str(v): name for v, (name, _) in MSPA_LEGEND.items()},
                        colours={str(v): colour for v, (_, colour) in MSPA_LEGEND.items()}))
    for name, title, data, unit in (
            ("resistance", None, resistance, "relative"),  # an input of the analysis: file only
            ("current_density", "Current density (circuit theory, summed over linked sources)", result.current, "a"),
            ("barrier_score", "Restoration benefit: least-cost distance saved per metre restored", result.barriers,
             "per_m")):
        data = np.where(np.isfinite(data), data, np.nan).astype("float32")
        path = write_cog(out / f"{name}.tif", data, nodata=float("nan"), resampling="average", **grid)
        if title:
            ctx.add_layer(Layer(name=name, title=title, group="ecology", raster=path, unit=unit))
    sources = result.sources
    ctx.add_layer(Layer(name="ecological_sources", title="Ecological sources (core areas ranked by dPC)",
                        group="ecology", frame=sources, column="dpc_pct", unit="pct", kind="continuous",
                        display_tolerance_m=ctx.grid.resolution))
    ctx.add_layer(Layer(name="ecological_corridors", title="Ecological corridors (least-cost paths)", group="ecology",
                        frame=result.corridors, column="mean_resistance", unit="relative", kind="continuous"))
    ctx.add_layer(Layer(name="ecological_corridor_lines", title="Ecological corridors: centre lines", group="ecology",
                        frame=result.corridor_lines, column="cwd", unit="cost_weighted_m", kind="continuous"))
    ctx.add_layer(Layer(name="pinch_points", title="Pinch points (highest current in corridors)", group="ecology",
                        frame=result.pinch_points, column="current", unit="a", kind="continuous"))
    ctx.add_layer(Layer(name="barriers", title="Barriers (where restoration helps most)", group="ecology",
                        frame=result.barrier_areas, column="improvement_score", unit="per_m", kind="continuous"))
    ctx.add_table("coefficients_ecological_resistance", table.rename("resistance").reset_index())
    ctx.add_table("network_parameters", parameter_table(settings, result, cfg.modifiers))
    ctx.add_summary(_network_per_unit(ctx.units, sources, result.corridor_lines))
    # what later stages read (the cores and MSPA); the current and barrier rasters are in their COGs
    ctx.network = (dataclasses.replace(result, current=None, barriers=None), settings)
    ctx.notes.append(f"ecological network: {len(sources)} sources (of {int(result.indices['candidates'])} core areas "
                     f">= {settings.min_core_area_ha:g} ha), {len(result.corridors)} corridors, PC "
                     f"{result.indices['PC']:.4f}; timings " + ", ".join(f"{k} {v:.1f} s"
                                                                         for k, v in result.timings.items()))


def _network_per_unit(units: gpd.GeoDataFrame, sources: gpd.GeoDataFrame, lines: gpd.GeoDataFrame) -> pd.DataFrame:
    """Source area [ha] and corridor length [km] inside each planning unit."""
    zones = units.to_crs(sources.crs).geometry
    source_union = sources.geometry.union_all() if len(sources) else None
    line_union = lines.geometry.union_all() if len(lines) else None
    return pd.DataFrame({
        "eco_source_area_ha": [zone.intersection(source_union).area / 1e4 if source_union else 0.0 for zone in zones],
        "eco_corridor_length_km": [zone.intersection(line_union).length / 1e3 if line_union else 0.0
                                   for zone in zones],
    }, index=units.index)


def stage_renewables(ctx: RunContext) -> None:
    """Renewable potential map: rooftop and ground PV, wind, geothermal, development-control zones."""
    cfg = ctx.project.renewables
    if cfg is None:
        return
    system = next(r.code_system for r in ctx.project.rasters if r.name == cfg.landcover)
    landcover, _ = read_raster(ctx.rasters[cfg.landcover])
    categories, legend = classify_raster(landcover, system, "carbon_category")
    optional = {key: np.ma.filled(read_raster(ctx.rasters[name])[0].astype(float), np.nan)
                for key in ("ghi", "wind_speed", "dem", "heat_flow") if (name := getattr(cfg, key))}
    protection = {}
    if cfg.protection_zones is not None:
        frame = read_vector(cfg.protection_zones, layer=cfg.protection_zones_layer, columns=[cfg.protection_field],
                            kind="polygon", to_crs=ctx.grid.crs)
        ctx.record_input(cfg.protection_zones, "protection zones")
        for name, part in frame.groupby(cfg.protection_field):
            protection[str(name)] = rasterize(part, ctx.grid, values=1, fill=0, dtype="uint8").astype(bool)
    params = renewable_parameters(cfg.parameters)
    rules = renewable_zoning_rules(cfg.zoning_rules)
    factor = grid_emission_factor(cfg.grid, cfg.grid_year)
    site = site_of(ctx.units)
    unit_raster = rasterize(ctx.units, ctx.grid, values=np.arange(len(ctx.units)), fill=-1, dtype="int32")
    buildings = unit_of_building = floor_area = None
    if cfg.rooftop:
        spec = ctx.project.buildings
        fields = [f for f in (spec.use_field, spec.floors_field, spec.height_field, cfg.roof_field) if f]
        frame = read_vector(spec.path, layer=spec.layer, columns=fields, kind="polygon", assume_crs=spec.assume_crs,
                            to_crs=ctx.grid.crs)
        roof = cfg.roof_field if cfg.roof_field in frame.columns else None
        buildings = rooftop_pv(frame, height_field=spec.height_field, floors_field=spec.floors_field,
                               use_field=spec.use_field, roof_field=roof, storey_height_m=spec.storey_height_m,
                               ghi=ctx.rasters[cfg.ghi] if cfg.ghi else None, grid=cfg.grid, grid_year=cfg.grid_year,
                               parameters=params)
        floor_area = floor_area_m2(frame, floors_field=spec.floors_field, height_field=spec.height_field,
                                   storey_height_m=spec.storey_height_m)[0].to_numpy()
        centres = buildings.geometry.centroid
        joined = gpd.sjoin(gpd.GeoDataFrame(geometry=centres, crs=buildings.crs),
                           gpd.GeoDataFrame({"unit": np.arange(len(ctx.units))}, geometry=ctx.units.geometry.values,
                                            crs=ctx.units.crs).to_crs(buildings.crs), predicate="within", how="left")
        joined = joined[~joined.index.duplicated()]
        unit_of_building = joined["unit"].fillna(-1).astype(int).reindex(buildings.index).to_numpy()
    result = renewable_potential(categories, legend, ctx.grid.resolution, unit_raster, len(ctx.units), site, params,
                                 rules, factor, ghi=optional.get("ghi"), wind_speed=optional.get("wind_speed"),
                                 elevation=optional.get("dem"), heat_flow=optional.get("heat_flow"),
                                 protection=protection, rooftop=buildings, unit_of_building=unit_of_building,
                                 floor_area_m2=floor_area, gshp_ground=cfg.gshp_ground, climate_zone=cfg.climate_zone)
    out = ctx.out_dir / "rasters"
    grid = {"transform": ctx.grid.transform, "crs": ctx.grid.crs}
    classes = geothermal_classes()
    for name, (data, unit, title) in result.rasters.items():
        if unit in ("zone", "class"):
            legend_of = ZONE_LEGEND if unit == "zone" else {
                i: (label, colour) for i, (label, colour) in enumerate(zip(classes["label_en"], GEOTHERMAL_COLOURS))}
            shifted = data if unit == "zone" else np.where(data >= 0, data + 1, 0)  # 0 = nodata
            path = write_cog(out / f"{name}.tif", shifted.astype("uint8"), nodata=0, **grid)
            offset = 0 if unit == "zone" else 1
            ctx.add_layer(Layer(name=name, title=title, group="renewables", raster=path, kind="categorical",
                                labels={str(k + offset): v[0] for k, v in legend_of.items()},
                                colours={str(k + offset): v[1] for k, v in legend_of.items()}))
        else:
            path = write_cog(out / f"{name}.tif", np.where(np.isfinite(data), data, np.nan).astype("float32"),
                             nodata=float("nan"), resampling="average", **grid)
            ctx.add_layer(Layer(name=name, title=title, group="renewables", raster=path, unit=unit))
    per_unit = result.per_unit.copy()
    per_unit.index = ctx.units.index
    electricity = [c for c in ("rooftop_pv_gwh_yr", "ground_pv_suitable_gwh_yr", "wind_suitable_gwh_yr")
                   if c in per_unit]
    per_unit["renewable_electricity_gwh_yr"] = per_unit[electricity].sum(axis=1)
    per_unit["renewable_co2_avoided_t_yr"] = per_unit["renewable_electricity_gwh_yr"] * 1e3 * factor
    ctx.add_summary(per_unit)
    ctx.headline.append("renewable_electricity_gwh_yr")
    if buildings is not None:
        ctx.rooftops = buildings.assign(unit=unit_of_building)
        columns = ["capacity_kwp", "yield_kwh_yr", "specific_yield_kwh_kwp", "co2_avoided_t_yr", "payback_yr",
                   "lcoe_cny_kwh", "roof_area_m2", "usable_share", "mounting", "tilt_deg", "module_area_m2",
                   "height_m", "horizon_deg", "shading_loss_pct", "ghi_kwh_m2_yr", "poa_kwh_m2_yr", "capex_cny"]
        use = [spec.use_field] if spec.use_field else []
        table = buildings[[*use, *columns, "geometry"]]
        ctx.add_layer(Layer(name="rooftop_pv", title="Rooftop PV per building", group="renewables", frame=table,
                            column="yield_kwh_yr", unit="kwh_yr", kind="continuous", in_html=False))
        top = table.nlargest(min(500, len(table)), "yield_kwh_yr")
        top = top.set_geometry(top.geometry.centroid)
        ctx.add_layer(Layer(name="rooftop_pv_top", title="Rooftop PV: the 500 largest roofs [kWh/yr]",
                            group="renewables", frame=top, column="yield_kwh_yr", unit="kwh_yr", kind="continuous"))
    ctx.add_table("renewable_zone_reasons", result.zone_reasons)
    ctx.add_table("coefficients_renewable_parameters", read_table("renewable_parameters", cfg.parameters))
    ctx.add_table("coefficients_renewable_zoning_rules", rules)
    ctx.add_table("coefficients_rooftop_pv_usable", read_table("rooftop_pv_usable"))
    ctx.add_table("coefficients_grid_emission_factor", pd.DataFrame({"grid": [cfg.grid], "year": [cfg.grid_year],
                                                                     "t_co2_per_mwh": [factor]}))
    ctx.notes.append(f"renewables: {per_unit['renewable_electricity_gwh_yr'].sum():,.0f} GWh/yr of electricity "
                     f"where allowed (rooftop PV, ground PV and wind in suitable zones), avoiding "
                     f"{per_unit['renewable_co2_avoided_t_yr'].sum():,.0f} t CO2/yr at {factor} t CO2/MWh")


def stage_screening(ctx: RunContext) -> None:
    """Rooftops ranked for PV with per-unit packages; afforestation sites ranked; restoration scenarios."""
    cfg = ctx.project.screening
    if cfg is None:
        return
    params = screening_parameters(cfg.parameters)
    zones = None
    if cfg.protection_zones is not None:
        zones = read_vector(cfg.protection_zones, layer=cfg.protection_zones_layer, columns=[cfg.protection_field],
                            kind="polygon", to_crs=ctx.grid.crs).rename(columns={cfg.protection_field: "zone"})
        ctx.record_input(cfg.protection_zones, "screening protection zones")
    per_unit = pd.DataFrame(index=ctx.units.index)
    if ctx.rooftops is not None:
        per_unit = per_unit.join(_screen_rooftops(ctx, cfg, params, zones))
    else:
        ctx.notes.append("screening: no rooftop PV in this run ([renewables] with rooftop = true): roofs not ranked")
    per_unit = per_unit.join(_screen_afforestation(ctx, cfg, params, zones))
    ctx.add_summary(per_unit)
    ctx.add_table("coefficients_screening_parameters", read_table("screening_parameters", cfg.parameters))


def _screen_rooftops(ctx: RunContext, cfg, params: dict, zones) -> pd.DataFrame:
    from carbonmap.screening import rank_rooftops, rooftop_packages, top_per_unit
    from carbonmap.screening.rooftops import rooftop_weights

    buildings = ctx.rooftops
    use_field = ctx.project.buildings.use_field
    excluded = None
    if zones is not None:
        excluded = zones[zones["zone"].astype(str).isin(cfg.rooftop_exclusion_zones)]
    ranked = rank_rooftops(buildings, weights=rooftop_weights(params),
                           min_usable_area_m2=params["rooftop_min_usable_area_m2"], use_field=use_field,
                           uses=cfg.rooftop_uses, exclusions=excluded)
    unit_ids = np.append(ctx.units.index.to_numpy(), "")  # index -1 (outside every unit) -> ""
    unit_of = pd.Series(unit_ids[ranked["unit"].to_numpy()], index=ranked.index)
    packages = rooftop_packages(ranked, buildings, unit_of, pd.Series(unit_ids[buildings["unit"].to_numpy()],
                                                                      index=buildings.index),
                                rooftop_pv_usable(), use_field=use_field).reindex(ctx.units.index)
    totals = ["roofs", "capacity_mw", "yield_gwh_yr", "co2_avoided_t_yr", "capex_cny_1e4"]
    packages[totals] = packages[totals].fillna(0.0)  # units without a candidate roof
    packages["roofs"] = packages["roofs"].astype(int)
    ctx.add_table("rooftop_packages", packages.reset_index())
    columns = ["unit_id", "rank", "rank_in_unit", "score", "score_specific_yield_kwh_kwp", "score_payback_yr",
               "score_co2_avoided_t_yr", "roof_class", "usable_area_m2", "capacity_kwp", "yield_kwh_yr",
               "specific_yield_kwh_kwp", "payback_yr", "co2_avoided_t_yr", "capex_cny", "shading_loss_pct"]
    top = top_per_unit(ranked, unit_of, cfg.top_n)[columns]
    ctx.add_table("rooftop_top_per_unit", top)
    ctx.add_table("rooftop_top_citywide", top_per_unit(ranked, pd.Series("city", index=ranked.index),
                                                       cfg.top_n * 5)[columns[1:]].drop(columns="rank_in_unit"))
    layer = ranked.assign(unit_id=unit_of)[[*columns[:2], *columns[3:], "geometry"]]
    ctx.add_layer(Layer(name="rooftop_candidates", title="Rooftop PV candidates, ranked", group="screening",
                        frame=layer, column="score", unit="score", in_html=False))
    best = layer.loc[top.index]
    ctx.add_layer(Layer(name="rooftop_top", title=f"Rooftop PV: the {cfg.top_n} best roofs per unit [score]",
                        group="screening", frame=best.set_geometry(best.geometry.centroid), column="score",
                        unit="score"))
    ctx.notes.append(f"rooftop screening: {len(ranked):,} of {len(buildings):,} roofs are candidates "
                     f"({packages['capacity_mw'].sum():,.0f} MW, {packages['yield_gwh_yr'].sum():,.0f} GWh/yr)")
    return packages[totals[:-1]].add_prefix("pv_package_")


def _screen_afforestation(ctx: RunContext, cfg, params: dict, zones) -> pd.DataFrame:
    from carbonmap.screening import restoration_scenarios
    from carbonmap.screening.afforestation import Habitat, sites_from_rasters

    system = next(r.code_system for r in ctx.project.rasters if r.name == cfg.landcover)
    vacated = None
    if cfg.vacated_land is not None:
        vacated = read_vector(cfg.vacated_land, layer=cfg.vacated_land_layer, kind="polygon", to_crs=ctx.grid.crs)
        ctx.record_input(cfg.vacated_land, "vacated land")
    rules = afforestation_rules(cfg.rules)
    preparation = afforestation_site_preparation(cfg.site_preparation)
    growth = afforestation_growth(cfg.growth)
    raster = {key: ctx.rasters[name] if (name := getattr(cfg, key)) else None
              for key in ("dem", "precipitation", "ndvi")}
    result = sites_from_rasters(
        ctx.rasters[cfg.landcover], system, tree_type=cfg.tree_type, parameters=params, rules=rules,
        site_preparation=preparation, growth=growth, **raster, zones=zones, vacated=vacated, units=ctx.units,
        habitat=Habitat.from_network(*ctx.network, ctx.grid.resolution) if ctx.network is not None else None)
    ctx.notes.extend(f"afforestation screening: {note}" for note in result.notes)
    unit_ids = np.append(ctx.units.index.to_numpy(), "")
    sites = result.sites.assign(unit_id=unit_ids[result.sites["unit"].to_numpy()]).drop(columns="unit")
    budget_area = cfg.budget_area_ha
    if budget_area is None and cfg.budget_cny is None:
        budget_area = params["restoration_default_budget_share"] * sites["area_ha"].sum()
    per_unit, citywide, members = restoration_scenarios(
        result, budget_area_ha=budget_area if budget_area is not None else np.inf,
        budget_cny=cfg.budget_cny if cfg.budget_cny is not None else np.inf)
    for name, ids in members.items():
        sites[f"in_{name}"] = sites["site_id"].isin(ids)
    ctx.afforestation = (result.site_labels, members, sites[["site_id", "unit_id", "area_ha", "sink_t_co2_yr"]])
    path = write_cog(ctx.out_dir / "rasters" / "afforestation_reasons.tif", result.reasons, nodata=0,
                     transform=ctx.grid.transform, crs=ctx.grid.crs)
    reasons = result.reason_table
    ctx.add_layer(Layer(name="afforestation_reasons", title="Afforestation: candidate land and the reason for the rest",
                        group="screening", raster=path, kind="categorical",
                        labels={str(c): r for c, r in zip(reasons["code"], reasons["reason"])},
                        colours={str(c): AFFORESTATION_COLOURS[min(c - 1, len(AFFORESTATION_COLOURS) - 1)]
                                 for c in reasons["code"]}))
    ctx.add_layer(Layer(name="afforestation_sites", title="Afforestation sites, ranked [score]", group="screening",
                        frame=sites, column="score", unit="score", display_tolerance_m=ctx.grid.resolution))
    ctx.add_table("afforestation_reasons", reasons)
    ctx.add_table("restoration_scenarios_citywide", citywide)
    per_unit = per_unit.assign(unit_id=unit_ids[per_unit["unit"].to_numpy()]).drop(columns="unit")
    ctx.add_table("restoration_scenarios_per_unit", per_unit[["scenario", "unit_id", *per_unit.columns[1:-1]]])
    ctx.add_table("coefficients_afforestation_rules", rules)
    ctx.add_table("coefficients_afforestation_site_preparation", preparation)
    ctx.add_table("coefficients_afforestation_growth", growth.reset_index())
    ctx.notes.append(f"afforestation screening: {len(sites)} sites, {sites['area_ha'].sum():,.1f} ha, "
                     f"{sites['sink_t_co2_yr'].sum():,.0f} t CO2/yr over {params['afforestation_horizon_yr']:g} yr")
    summary = pd.DataFrame(index=ctx.units.index)
    grouped = sites.groupby("unit_id")
    summary["afforestation_area_ha"] = grouped["area_ha"].sum()
    summary["afforestation_sink_t_co2_yr"] = grouped["sink_t_co2_yr"].sum()
    for name in members:
        part = per_unit[per_unit["scenario"] == name].set_index("unit_id")
        summary[f"restoration_{name}_sink_t_co2_yr"] = part["sink_t_co2_yr"]
    return summary.fillna(0.0)


#: Colours of the afforestation reason raster: candidate sites green, then excluded reasons.
AFFORESTATION_COLOURS = ("#1a9850", "#d9d9d9", "#bdbdbd", "#969696", "#fdd0a2", "#fdae6b", "#fd8d3c", "#e6550d",
                         "#a63603", "#9e9ac8", "#756bb1", "#54278f", "#c6dbef", "#9ecae1", "#6baed6", "#3182bd")


#: Colours of the deep-geothermal classes, warm to hot.
GEOTHERMAL_COLOURS = ("#fee5d9", "#fcbba1", "#fc9272", "#fb6a4a", "#cb181d", "#67000d")


def stage_balance(ctx: RunContext) -> None:
    """Per-unit sources, sinks, net, classes and intensities."""
    if ctx.sources is None:
        return
    cfg = ctx.project.balance
    gdp_column = f"gdp_{ctx.project.units.gdp_unit}"
    gdp_1e4 = ctx.units[gdp_column] * _CNY_1E4_PER_UNIT[ctx.project.units.gdp_unit] \
        if gdp_column in ctx.units and ctx.project.units.gdp_unit in _CNY_1E4_PER_UNIT else None
    table = unit_balance(
        ctx.sources, ctx.sinks,
        population=ctx.units["population"] if "population" in ctx.units else None,
        gdp_cny_1e4=gdp_1e4, classes=balance_classes(cfg.classes), bands=efficiency_bands(cfg.bands),
    )
    table["builtup_intensity_co2_t_km2_yr"] = builtup_intensity(table["source_co2_t_yr"],
                                                                ctx.summary["builtup_area_km2"])
    ctx.add_summary(table)
    ctx.add_table("balance_classes", balance_classes(cfg.classes))
    ctx.add_table("efficiency_bands", efficiency_bands(cfg.bands).assign(
        max_relative_intensity=lambda t: t["max_relative_intensity"].astype(str)))
    ctx.notes.append(f"sinks in the balance: {ctx.sink_method}")
    ctx.headline[:0] = ["net_co2_t_yr", "source_co2_t_yr", "sink_co2_t_yr",
                        "builtup_intensity_co2_t_km2_yr", "efficiency_index"]


#: 10^4 CNY per unit of the [units] gdp_unit values carbonmap knows.
_CNY_1E4_PER_UNIT = {"cny_1e8": 1e4, "cny_1e4": 1.0, "cny": 1e-4}


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


def stage_scenarios(ctx: RunContext) -> None:
    """Scenario land covers, their effects per unit, trajectories to 2060 and milestones."""
    from carbonmap.coefficients import planning_stages
    from carbonmap.scenarios import land_effects, milestones, stage_of, transition_matrix

    cfg = ctx.project.timeline
    if cfg is None or ctx.sources is None:
        if cfg is not None:
            ctx.notes.append("scenarios: no emissions in this run ([parcels] and [inventory]): no timeline")
        return
    system = next(r.code_system for r in ctx.project.rasters if r.name == cfg.landcover)
    base, _ = read_raster(ctx.rasters[cfg.landcover])
    units = rasterize(ctx.units, ctx.grid, values=np.arange(len(ctx.units)), fill=-1, dtype="int32")
    cell_ha = ctx.grid.cell_area_m2 / 1e4
    stages = planning_stages(cfg.stages)
    intensity = ctx.summary.get("builtup_intensity_co2_t_km2_yr", pd.Series(0.0, index=ctx.units.index))
    pools = read_pools(ctx.project.stocks.pools) if ctx.project.stocks is not None else None
    matrix = None
    if cfg.previous is not None:
        matrix = transition_matrix(read_raster(ctx.rasters[cfg.previous])[0], base)
        ctx.add_table("scenario_transition_matrix", matrix.rename_axis("from_code").reset_index().rename(
            columns=lambda c: c if c == "from_code" else f"to_{c}"))
    eco_metrics = _scenario_fragmentation(ctx, units) if ctx.project.landscape is not None else None
    comparison, paths, marks = [], [], []
    scenarios = [None, *ctx.project.scenarios]
    for spec in ctx.track(scenarios, "scenarios"):
        name = "baseline" if spec is None else spec.name
        landcover = base if spec is None else _scenario_landcover(ctx, spec, base, matrix, cfg, system)
        effects = land_effects(base, landcover, system, units, len(ctx.units), cell_ha,
                               builtup_intensity=intensity.to_numpy(), pools=pools)
        effects.index = ctx.units.index
        if spec is not None and spec.afforestation is not None:
            effects["land_sink_change_co2_t_yr"] += _planting_adjustment(ctx, spec, system)
        if spec is not None:
            nodata = 0 if not (landcover == 0).any() else np.iinfo(base.dtype).max  # a value no class uses
            path = write_cog(ctx.out_dir / "rasters" / f"scenario_{name}.tif",
                             np.ma.filled(landcover, nodata).astype(base.dtype), nodata=nodata,
                             transform=ctx.grid.transform, crs=ctx.grid.crs)
            table = code_table(system)
            colour = carbon_categories()["colour"]
            ctx.add_layer(Layer(name=f"scenario_{name}", title=f"Scenario {spec.title or name}: land cover",
                                group="scenarios", raster=path, kind="categorical",
                                labels=dict(zip(table["code"], table["name_en"])),
                                colours=dict(zip(table["code"], colour.loc[table["carbon_category"]]))))
        rows, runs = _scenario_rows(ctx, spec, name, effects, eco_metrics, landcover, cfg, stages)
        comparison.append(rows)
        paths.extend(runs[0])
        marks.extend(runs[1])
    table = pd.concat(comparison)
    table = _relative_to_baseline(table)
    ctx.add_table("scenario_comparison_per_unit", table.reset_index(drop=True))
    numeric = [c for c in table.columns if c not in ("scenario", "unit_id") and pd.api.types.is_numeric_dtype(
        table[c]) and not c.endswith("_pct") and not c.startswith(("eco_", "change_rel"))]
    citywide = table.groupby("scenario", sort=False)[numeric].sum().reset_index()
    ctx.add_table("scenario_comparison_citywide", _relative_to_baseline(citywide.assign(unit_id="city")))
    timeline = pd.concat(paths, ignore_index=True)
    timeline["stage"] = stage_of(timeline["year"], stages)
    city = timeline.groupby(["scenario", "year"], sort=False).sum(numeric_only=True).reset_index()
    city.insert(1, "unit_id", "city")
    city["stage"] = stage_of(city["year"], stages)
    ctx.add_table("scenario_timeline", pd.concat([timeline, city], ignore_index=True))
    for scenario_name, part in city.groupby("scenario", sort=False):
        marks.append({"scenario": scenario_name, "unit_id": "city", **milestones(part, stages)})
    milestone_table = pd.DataFrame(marks)
    ctx.add_table("scenario_milestones", milestone_table)
    ctx.add_table("coefficients_planning_stages", read_table("planning_stages", cfg.stages))
    per_unit = milestone_table[milestone_table["unit_id"] != "city"].pivot(
        index="unit_id", columns="scenario", values=["peak_year", "net_zero_year"])
    per_unit.columns = [f"{scenario}_{what}" for what, scenario in per_unit.columns]
    ctx.add_summary(per_unit.reindex(ctx.units.index).astype(float))
    _scenario_unit_layers(ctx, table, milestone_table)
    for row in milestone_table[milestone_table["unit_id"] == "city"].itertuples():
        zero = f"net zero in {row.net_zero_year}" if pd.notna(row.net_zero_year) else "no net zero by " \
            f"{cfg.end_year}"
        ctx.notes.append(f"scenario {row.scenario}: citywide emissions peak in {row.peak_year} "
                         f"({row.peak_emissions_co2_t_yr:,.0f} t CO2/yr, {row.peak_stage} stage); {zero}")


def _scenario_landcover(ctx: RunContext, spec, base, matrix, cfg, system) -> np.ma.MaskedArray:
    """The baseline land cover with a scenario's land changes: Markov demand, planting, conversions."""
    from carbonmap.landscape.resistance import slope_degrees
    from carbonmap.scenarios import allocate, convert, periods_to, project_areas, suitability

    landcover = base
    if spec.markov_year is not None:
        counts = pd.Series(np.unique(base.compressed(), return_counts=True)[1],
                           index=np.unique(base.compressed()))
        flows = project_areas(counts, matrix, periods_to(spec.markov_year, cfg.previous_year, cfg.base_year))
        categories = classify([str(c) for c in matrix.columns], system)["carbon_category"]
        built_codes = [int(c) for c, cat in zip(matrix.columns, categories) if cat.startswith("built")]
        builtup = np.isin(np.ma.getdata(base), built_codes) & ~np.ma.getmaskarray(base)
        dem = next((ctx.rasters[r] for r in (getattr(ctx.project.network, "dem", None),
                                              getattr(ctx.project.screening, "dem", None)) if r), None)
        slope = slope_degrees(read_raster(dem)[0], ctx.grid.resolution) if dem is not None else None
        scores = {int(c): suitability(np.ma.getdata(base), int(c), ctx.grid.resolution,
                                      builtup=builtup if int(c) in built_codes else None, slope_deg=slope)
                  for c in matrix.columns}
        landcover = allocate(base, flows, scores)
    if spec.afforestation is not None and ctx.afforestation is not None:
        labels, members, _ = ctx.afforestation
        landcover = convert(landcover, np.isin(labels, members.get(spec.afforestation, [])), spec.afforestation_to)
    if spec.convert is not None:
        frame = read_vector(spec.convert, layer=spec.convert_layer, kind="polygon", to_crs=ctx.grid.crs)
        ctx.record_input(spec.convert, f"scenario {spec.name} conversions")
        mask = rasterize(frame, ctx.grid, values=1, fill=0, dtype="uint8").astype(bool)
        landcover = convert(landcover, mask, spec.convert_to, spec.convert_from)
    return landcover


def _scenario_unit_layers(ctx: RunContext, table: pd.DataFrame, marks: pd.DataFrame) -> None:
    """One map layer per scenario: the units coloured by the change of net emissions against the
    baseline, with the scenario's milestones (in the HTML map they share the units' geometry)."""
    for name, rows in table.groupby("scenario", sort=False):
        if name == "baseline":
            continue
        columns = rows.set_index("unit_id")[["change_net_co2_t_yr", "change_rel_net_pct", "net_co2_t_yr",
                                             "stock_change_t_c" if "stock_change_t_c" in rows else "converted_ha"]]
        columns = columns.join(marks[marks["scenario"] == name].set_index("unit_id")[
            ["peak_year", "net_zero_year", "net_2060_co2_t_yr"]])
        frame = gpd.GeoDataFrame(columns.reindex(ctx.units.index), geometry=ctx.units.geometry, crs=ctx.units.crs)
        ctx.add_layer(Layer(name=f"scenario_{name}_units", title=f"Scenario {name}: change of net emissions vs "
                            "baseline [t CO2/yr]", group="scenarios", frame=frame.reset_index(),
                            column="change_net_co2_t_yr", unit="t_co2_yr"))


def _planting_adjustment(ctx: RunContext, spec, system: str) -> pd.Series:
    """Planted sites sink what their growth curve gives on average over the screening horizon
    (young stands), not the coefficient of mature forest that land_effects applied: the
    difference per unit [t CO2/yr]."""
    from carbonmap.scenarios import class_rates

    _, members, sites = ctx.afforestation
    planted = sites[sites["site_id"].isin(members.get(spec.afforestation, []))]
    rate = float(class_rates([spec.afforestation_to], system)["removal_co2_t_ha_yr"].iloc[0])
    per_unit = planted.groupby("unit_id")[["sink_t_co2_yr", "area_ha"]].sum()
    adjustment = per_unit["sink_t_co2_yr"] - rate * per_unit["area_ha"]
    return adjustment.reindex(ctx.units.index).fillna(0.0)


def _scenario_fragmentation(ctx: RunContext, units: np.ndarray):
    """A function: land cover -> per-unit fragmentation of ecological land (PLAND, NP, MESH)."""
    cfg = ctx.project.landscape
    system = next(r.code_system for r in ctx.project.rasters if r.name == cfg.landcover)

    def metrics(landcover) -> pd.DataFrame:
        land = prepare(landcover, ctx.grid.resolution, neighbours=cfg.neighbours)
        eco = select_classes(land, codes=cfg.ecological_codes) if cfg.ecological_codes is not None \
            else select_classes(land, system=system)
        table = unit_metrics(land, eco, units, len(ctx.units))[["eco_pland_pct", "eco_np", "eco_mesh_ha"]]
        table.index = ctx.units.index
        return table

    return metrics


def _scenario_rows(ctx, spec, name, effects, eco_metrics, landcover, cfg, stages):
    """Per-unit comparison rows of one scenario (fully in place), its trajectories and milestones."""
    from carbonmap.scenarios import milestones, trajectory

    sector_change = {} if spec is None else spec.sector_change_pct
    annual = {**cfg.annual_change_pct, **({} if spec is None else spec.annual_change_pct)}
    growth = cfg.sink_growth_pct if spec is None or spec.sink_growth_pct is None else spec.sink_growth_pct
    share = 0.0 if spec is None else spec.rooftop_pv_share
    avoided = share * ctx.summary.get("pv_package_co2_avoided_t_yr", pd.Series(0.0, index=ctx.units.index))
    target = cfg.base_year + 1 if spec is None else spec.target_year
    rows = pd.DataFrame(index=ctx.units.index)
    sectors = ctx.sources
    scaled = sectors.copy()
    for sector in scaled.columns:
        scaled[sector] = sectors[sector] * (1 + sector_change.get(sector, sector_change.get("all", 0.0)) / 100.0)
    land_source = effects["land_source_change_co2_t_yr"] + effects["builtup_source_change_co2_t_yr"]
    rows["source_co2_t_yr"] = scaled.sum(axis=1) + land_source - avoided
    rows["sink_co2_t_yr"] = ctx.sinks.reindex(ctx.units.index).fillna(0.0) + effects["land_sink_change_co2_t_yr"]
    rows["net_co2_t_yr"] = rows["source_co2_t_yr"] - rows["sink_co2_t_yr"]
    rows["avoided_co2_t_yr"] = avoided
    for column in effects.columns:
        rows[column] = effects[column]
    if eco_metrics is not None:
        rows = rows.join(eco_metrics(landcover))
    rows.insert(0, "unit_id", ctx.units.index)
    rows.insert(0, "scenario", name)
    paths, marks = [], []
    for unit in ctx.units.index:
        path = trajectory(sectors.loc[unit], float(ctx.sinks.get(unit, 0.0)), base_year=cfg.base_year,
                          end_year=cfg.end_year, target_year=target, annual_change=annual,
                          sector_change_pct=sector_change, land_source=float(land_source[unit]),
                          land_sink=float(effects.loc[unit, "land_sink_change_co2_t_yr"]),
                          avoided=float(avoided[unit]), sink_growth_pct=growth)
        path.insert(0, "unit_id", unit)
        path.insert(0, "scenario", name)
        paths.append(path)
        marks.append({"scenario": name, "unit_id": unit, **milestones(path, stages)})
    return rows, (paths, marks)


def _relative_to_baseline(table: pd.DataFrame) -> pd.DataFrame:
    """Add each scenario's absolute and relative change against the baseline's row of the same unit."""
    base = table[table["scenario"] == "baseline"].set_index("unit_id")
    out = table.copy()
    for column in ("source_co2_t_yr", "sink_co2_t_yr", "net_co2_t_yr"):
        reference = out["unit_id"].map(base[column])
        out[f"change_{column}"] = out[column] - reference
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"change_rel_{column.removesuffix('_co2_t_yr')}_pct"] = np.where(
                reference != 0, 100 * (out[column] - reference) / reference.abs(), np.nan)
    return out


def stage_onemap(ctx: RunContext) -> None:
    """Write onemap.html, report.html, onemap.gpkg (with QGIS layer styles) and unit_summary.csv."""
    from carbonmap.styles import layer_styles
    from carbonmap.webmap import DETAIL_LEVELS, write_map

    out = ctx.out_dir
    outputs = ctx.project.outputs
    summary = gpd.GeoDataFrame(
        ctx.summary.reset_index(), geometry=ctx.units.geometry.values, crs=ctx.units.crs
    )
    write_csv(out / "unit_summary.csv", pd.DataFrame(summary.drop(columns="geometry")))
    if outputs.html:
        _, size_mb, detail = write_map(summary, [layer for layer in ctx.layers if layer.in_html], out / "onemap.html",
                                       budget_mb=outputs.html_budget_mb, title=ctx.project.project.name,
                                       headline=ctx.headline, basemaps=outputs.basemaps,
                                       tianditu_key=outputs.tianditu_key, groups=GROUPS)
        level = DETAIL_LEVELS.index(detail)
        ctx.notes.append(f"onemap.html: {size_mb:.1f} MB at display detail level {level} "
                         f"(overlays {detail.overlay_pixels} px, simplified to 1/{1 / detail.simplify_fraction:g} "
                         f"of the extent; budget {outputs.html_budget_mb:g} MB)")
        if size_mb > outputs.html_budget_mb:
            ctx.notes.append(f"onemap.html is over its {outputs.html_budget_mb:g} MB budget even at the coarsest "
                             "display detail: hide layers or raise outputs.html_budget_mb")
    if outputs.report:
        from carbonmap.report import write_report

        write_report(ctx, summary, out / "report.html")
    if outputs.gpkg:
        layers: dict[str, pd.DataFrame] = {"unit_summary": summary}
        for layer in ctx.layers:
            if layer.frame is not None:
                layers[layer.name] = layer.frame
        layers.update(ctx.tables)
        layers["layer_styles"] = layer_styles([layer for layer in ctx.layers if layer.frame is not None], summary,
                                              ctx.headline)
        layers["run_inputs"] = pd.DataFrame(ctx.inputs)
        layers["run_metadata"] = run_metadata(ctx)
        write_geopackage(out / "onemap.gpkg", layers)


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
    Stage("units", "read the planning units", stage_units, ("units",)),
    Stage("grid", "choose the analysis grid", stage_grid, ("grid",)),
    Stage("rasters", "align and summarise rasters", stage_rasters, ("rasters",)),
    Stage("vectors", "read vector layers", stage_vectors, ("vectors",)),
    Stage("emissions", "account emissions on parcels", stage_emissions,
          ("parcels", "buildings", "roads", "point_sources", "inventory", "emissions")),
    Stage("stocks", "compute carbon stocks by pool", stage_stocks, ("stocks",)),
    Stage("sinks", "compute vegetation and blue-carbon sinks", stage_sinks, ("sinks",)),
    Stage("landscape", "measure ecological patches and fragmentation", stage_landscape, ("landscape",)),
    Stage("network", "build the ecological network", stage_network, ("network", "roads")),
    Stage("renewables", "map renewable potential", stage_renewables, ("renewables", "buildings")),
    Stage("screening", "rank rooftops and afforestation sites", stage_screening, ("screening",)),
    Stage("balance", "compute the per-unit carbon balance", stage_balance, ("balance",)),
    Stage("scenarios", "compare scenarios on the road to 2060", stage_scenarios, ("timeline", "scenarios")),
    Stage("onemap", "write the one map", stage_onemap, ("project", "outputs")),
)


def stage_names() -> list[str]:
    return [s.name for s in STAGES]


#: Where a run saves the state before each stage, for ``--only`` (inside the output folder).
STATE_FILE = Path(".carbonmap") / "run_state.pkl"


def _snapshot(ctx: RunContext) -> dict[str, Any]:
    """The context's state between stages. Data are shared, not copied: containers and data
    frames are shallow copies, so a later stage adding to them does not change the snapshot."""
    state = {}
    for item in dataclasses.fields(RunContext):
        if item.name in ("project", "quiet", "_progress"):
            continue
        value = getattr(ctx, item.name)
        if isinstance(value, pd.DataFrame):
            value = value.copy(deep=False)
        elif isinstance(value, (list, dict)):
            value = type(value)(value)
        state[item.name] = value
    return state


def _resume(project: Project, only: str, quiet: bool) -> tuple[RunContext, list[dict], int]:
    """The context saved before stage `only`, checked against `project` and the input files."""
    import pickle

    names = stage_names()
    if only not in names:
        raise InputError(f"unknown stage {only!r}.", key="--only", fix=f"use one of {', '.join(names)}.")
    path = project.output_dir / STATE_FILE
    if not path.exists():
        raise InputError("no saved run to rerun a stage of.", path=path,
                         fix="run the whole project once (without --only, with [outputs] save_state = true) "
                             "into this output folder.")
    with open(path, "rb") as handle:
        saved = pickle.load(handle)
    if saved["version"] != __version__ or saved["stages"] != names:
        raise InputError(f"the saved run is from carbonmap {saved['version']}.", path=path,
                         fix="run the whole project once (without --only) with this version.")
    index = names.index(only)
    for stage in STAGES[:index]:
        for section in stage.sections:
            if getattr(saved["project"], section) != getattr(project, section):
                raise InputError(f"[{section}] changed since the saved run, and stage {stage.name!r} before "
                                 f"{only!r} reads it.", path=project.path, key=section,
                                 fix=f"run the whole project, or --only {stage.name}.")
    ctx = RunContext(project=project, quiet=quiet, **saved["snapshots"][index])
    for entry in ctx.inputs:
        digest = hashlib.sha256()
        files = [Path(entry["path"])]
        if files[0].suffix.lower() == ".shp":
            files += [f for f in sorted(files[0].parent.glob(files[0].stem + ".*")) if f != files[0]]
        for file in files:
            if not file.exists():
                raise InputError(f"input {entry['role']} is gone since the saved run.", path=file,
                                 fix="restore it, or run the whole project.")
            digest.update(file.read_bytes())
        if digest.hexdigest() != entry["sha256"]:
            raise InputError(f"input {entry['role']} changed since the saved run.", path=files[0],
                             fix="run the whole project to use the new file.")
    return ctx, saved["snapshots"][:index], index


def _save_state(ctx: RunContext, snapshots: list[dict]) -> None:
    import pickle

    from carbonmap.io import atomic_path

    path = ctx.out_dir / STATE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        pickle.dump({"version": __version__, "stages": stage_names(), "project": ctx.project,
                     "snapshots": snapshots}, handle, protocol=pickle.HIGHEST_PROTOCOL)


def run(project: Project, *, quiet: bool = False, only: str | None = None) -> RunContext:
    """Run every stage of `project`; return the context (layers, summary, tables).

    Progress is shown per stage (rich) unless `quiet`. Outputs are written atomically by
    the last stage, so a failing stage leaves earlier outputs of the folder untouched. The
    state before each stage is saved in the output folder (:data:`STATE_FILE`).

    `only`: rerun from this stage on the state the last run saved before it — the stages
    before it are not run again (their project-file sections and input files must be
    unchanged, which is checked), while the stages after it run again, as they may read its
    results. Use it after changing one stage's settings (e.g. ``--only screening``).
    """
    if only is None:
        ctx, snapshots, first = RunContext(project=project, quiet=quiet), [], 0
    else:
        ctx, snapshots, first = _resume(project, only, quiet)
    stages = STAGES[first:]

    def step(stage: Stage) -> None:
        snapshots.append(_snapshot(ctx))
        stage.run(ctx)

    if quiet:
        for stage in stages:
            step(stage)
    else:
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                      transient=False) as progress:
            ctx._progress = progress
            overall = progress.add_task(f"carbonmap: {project.project.name}", total=len(stages))
            for stage in stages:
                progress.update(overall, description=f"carbonmap: {stage.description}")
                step(stage)
                progress.advance(overall)
            progress.update(overall, description=f"carbonmap: done -> {ctx.out_dir}")
        ctx._progress = None
    if project.outputs.save_state:
        _save_state(ctx, snapshots)
    return ctx
