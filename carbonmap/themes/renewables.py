"""Renewables: rooftop and ground PV, wind, geothermal, and development-control zones."""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from rasterio.windows import Window

from carbonmap import coefficients
from carbonmap.config import BuildingsSection, Project, RenewablesSection
from carbonmap.emissions import floor_area_m2
from carbonmap.grid import rasterize
from carbonmap.io import cog_writer, open_raster, read_vector
from carbonmap.landuse import classify_raster
from carbonmap.renewables.potential_map import (
    ZONE_LEGEND,
    RenewableTables,
    StripInputs,
    finite_median,
    potential_in_strips,
    with_buildings,
)
from carbonmap.renewables.rooftop import rooftop_pv, site_of
from carbonmap.stage import Layer, Stage, StageContext
from carbonmap.words import words

__all__ = ["prepare_renewable_tables", "read_buildings", "rooftops", "unit_of_features", "Renewables",
           "RENEWABLES", "GEOTHERMAL_COLOURS"]

#: Colours of the deep-geothermal classes, warm to hot.
GEOTHERMAL_COLOURS = ("#fee5d9", "#fcbba1", "#fc9272", "#fb6a4a", "#cb181d", "#67000d")


def prepare_renewable_tables(section: RenewablesSection) -> RenewableTables:
    """The coefficient tables of a [renewables] section: packaged rows, replaced by the rows of
    the section's override files."""
    c = coefficients
    return RenewableTables(
        c.renewable_parameters(section.parameters), c.renewable_zoning_rules(section.zoning_rules),
        c.rooftop_pv_usable(section.rooftop_usable), c.wind_shear_exponents(section.wind_shear),
        c.wind_power_curve(section.power_curve), c.gshp_extraction(section.gshp_extraction),
        c.heating_demand(section.heating_demand), c.geothermal_classes(section.geothermal_classes),
        c.grid_emission_factor(section.grid, section.grid_year, override=section.grid_factors))


def read_buildings(section: BuildingsSection, *, roof_field: str | None, crs) -> gpd.GeoDataFrame:
    """The footprints of a [buildings] section with the fields rooftop PV uses, in `crs`."""
    fields = [f for f in (section.use_field, section.floors_field, section.height_field, roof_field) if f]
    return read_vector(section.path, layer=section.layer, columns=fields, kind="polygon",
                       assume_crs=section.assume_crs, to_crs=crs, encoding=section.encoding, null_geometry="error")


def rooftops(buildings: gpd.GeoDataFrame, section: BuildingsSection, tables: RenewableTables, *,
             roof_field: str | None, ghi=None, transposition: str = "perez",
             decomposition: str = "erbs_monthly") -> gpd.GeoDataFrame:
    """Rooftop PV of every building (:func:`carbonmap.renewables.rooftop.rooftop_pv`) with a
    [buildings] section's fields and the run's tables; `ghi` an optional raster [kWh m-2 yr-1];
    `transposition` and `decomposition` the [renewables] section's irradiance models."""
    return rooftop_pv(buildings, height_field=section.height_field, floors_field=section.floors_field,
                      use_field=section.use_field, roof_field=roof_field, storey_height_m=section.storey_height_m,
                      ghi=ghi, grid_factor=tables.grid_factor, parameters=tables.parameters,
                      usable=tables.rooftop_usable, transposition=transposition, decomposition=decomposition)


def unit_of_features(features: gpd.GeoDataFrame, units: gpd.GeoDataFrame) -> np.ndarray:
    """The number of the unit (0 .. n-1) that holds each feature's centroid; -1 outside every unit."""
    centres = gpd.GeoDataFrame(geometry=features.geometry.centroid, crs=features.crs)
    numbered = gpd.GeoDataFrame({"unit": np.arange(len(units))}, geometry=units.geometry.values, crs=units.crs)
    joined = gpd.sjoin(centres, numbered.to_crs(features.crs), predicate="within", how="left")
    joined = joined[~joined.index.duplicated()]
    return joined["unit"].fillna(-1).astype(int).reindex(features.index).to_numpy()


@dataclass
class Renewables:
    """What later stages read: rooftop PV per building (with ``unit``, the unit number, -1
    outside every unit), when the run computed it."""

    rooftops: gpd.GeoDataFrame | None


#: The columns of the rooftop_pv layer (after the building use).
ROOFTOP_COLUMNS = ["capacity_kwp", "yield_kwh_yr", "specific_yield_kwh_kwp", "co2_avoided_t_yr", "payback_yr",
                   "lcoe_cny_kwh", "roof_area_m2", "usable_share", "mounting", "tilt_deg", "module_area_m2",
                   "height_m", "horizon_deg", "shading_loss_pct", "ghi_kwh_m2_yr", "poa_kwh_m2_yr", "capex_cny"]


#: The project's optional rasters of the renewables and what :func:`potential_in_strips` calls them.
_RASTERS = {"ghi": "ghi", "wind_speed": "wind_speed", "dem": "elevation", "heat_flow": "heat_flow"}


def run_renewables(ctx: StageContext) -> Renewables:
    """Renewable potential map: rooftop and ground PV, wind, geothermal, development-control zones."""
    cfg, units, rasters = ctx.project.renewables, ctx.result("units"), ctx.result("rasters")
    tables = prepare_renewable_tables(cfg)
    grid = units.grid
    protection = _protection(ctx, grid)
    named = {_RASTERS[key]: name for key in _RASTERS if (name := getattr(cfg, key))}
    ghi_median = _median(rasters.read(named["ghi"])) if "ghi" in named else None
    with ExitStack() as stack:
        files = _RasterFiles(ctx, tables.geothermal_classes, stack)
        land = stack.enter_context(open_raster(rasters.paths[cfg.landcover]))
        sources = {key: stack.enter_context(open_raster(rasters.paths[name])) for key, name in named.items()}

        def read(rows: slice) -> StripInputs:
            window = Window(0, rows.start, grid.width, rows.stop - rows.start)
            categories, legend = classify_raster(land.read(window), rasters.code_systems[cfg.landcover],
                                                 column="carbon_category")
            return StripInputs(categories, legend, units.zones[rows],
                               {key: np.ma.filled(src.read(window).astype(float), np.nan)
                                for key, src in sources.items()},
                               {name: mask[rows] for name, mask in protection.items()})

        result = potential_in_strips(read, grid.shape, grid.resolution, len(units.ids), site_of(units.frame), tables,
                                     rasters=tuple(sources), protection=tuple(protection), ghi_median=ghi_median,
                                     gshp_ground=cfg.gshp_ground, climate_zone=cfg.climate_zone,
                                     transposition=cfg.transposition, decomposition=cfg.decomposition,
                                     on_raster=files.put)
    files.add_layers()
    protection.clear()  # whole-grid masks: free before the buildings
    buildings = unit_of_building = None
    per_unit = result.per_unit
    if cfg.rooftop:
        spec = ctx.project.buildings
        frame = read_buildings(spec, roof_field=cfg.roof_field, crs=units.grid.crs)
        buildings = rooftops(frame, spec, tables, roof_field=cfg.roof_field if cfg.roof_field in frame else None,
                             ghi=rasters.optional(cfg.ghi), transposition=cfg.transposition,
                             decomposition=cfg.decomposition)
        floor_area = floor_area_m2(frame, floors_field=spec.floors_field, height_field=spec.height_field,
                                   storey_height_m=spec.storey_height_m, use_field=spec.use_field)[0].to_numpy()
        unit_of_building = unit_of_features(buildings, units.frame)
        per_unit = with_buildings(per_unit, tables, rooftop=buildings, unit_of_building=unit_of_building,
                                  floor_area_m2=floor_area, climate_zone=cfg.climate_zone)
    per_unit = per_unit.set_index(units.ids)
    ctx.add_summary(per_unit)
    ctx.add_headline("renewable_electricity_gwh_yr")
    if buildings is not None:
        _rooftop_layers(ctx, buildings)
    ctx.add_table("renewable_zone_reasons", result.zone_reasons)
    ctx.note(words("note.renewables", gwh=f"{per_unit['renewable_electricity_gwh_yr'].sum():,.0f}",
                   avoided=f"{per_unit['renewable_co2_avoided_t_yr'].sum():,.0f}", factor=f"{tables.grid_factor:g}"))
    return Renewables(None if buildings is None else buildings.assign(unit=unit_of_building))


def _protection(ctx: StageContext, grid) -> dict[str, np.ndarray]:
    """Protection-zone masks on the grid, by zone name."""
    cfg = ctx.project.renewables
    if cfg.protection_zones is None:
        return {}
    frame = read_vector(cfg.protection_zones, layer=cfg.protection_zones_layer, columns=[cfg.protection_field],
                        kind="polygon", to_crs=grid.crs, encoding=cfg.protection_zones_encoding)
    ctx.record_input(cfg.protection_zones, "protection zones")
    return {str(name): rasterize(part, grid, values=1, fill=0, dtype="uint8").astype(bool)
            for name, part in frame.groupby(cfg.protection_field)}


def _median(data: np.ma.MaskedArray) -> float | None:
    """The median of a raster's valid cells (their own precision, at least float32)."""
    return finite_median(np.ma.filled(data.astype(np.result_type(data.dtype, np.float32)), np.nan))


class _RasterFiles:
    """The potential's rasters written strip by strip into COGs (zones and classes categorical,
    the rest continuous), and their map layers once the files are complete.

    `stack` closes the files when the strips are done (a failed run leaves none of them).
    """

    def __init__(self, ctx: StageContext, classes: pd.DataFrame, stack: ExitStack):
        self.ctx, self.classes, self.grid, self.stack = ctx, classes, ctx.result("units").grid, stack
        self.writers: dict[str, Any] = {}
        self.layers: list[Layer] = []

    def put(self, name: str, rows: slice, raster: tuple[np.ndarray, str, dict]) -> None:
        data, unit, facts = raster
        categorical = unit in ("zone", "class")
        if name not in self.writers:
            path = self.ctx.file(f"rasters/{name}.tif")
            self.writers[name] = self.stack.enter_context(cog_writer(
                path, width=self.grid.width, height=self.grid.height, dtype="uint8" if categorical else "float32",
                transform=self.grid.transform, crs=self.grid.crs, nodata=0 if categorical else float("nan"),
                resampling="nearest" if categorical else "average"))
            self.layers.append(self._layer(name, path, unit, facts))
        if unit == "class":  # classes start at 1 on file: 0 is nodata
            data = np.where(data >= 0, data + 1, 0)
        cells = data.astype("uint8") if categorical else np.where(np.isfinite(data), data, np.nan).astype("float32")
        self.writers[name].write(cells, 1, window=Window(0, rows.start, self.grid.width, rows.stop - rows.start))

    def _layer(self, name: str, path, unit: str, facts: dict) -> Layer:
        title = words(f"layer.{name}", **facts)
        if unit not in ("zone", "class"):
            return Layer(name=name, title=title, group="renewables", raster=path, unit=unit)
        legend_of = ZONE_LEGEND if unit == "zone" else {
            i: (label, colour) for i, (label, colour) in enumerate(zip(self.classes["label_en"], GEOTHERMAL_COLOURS))}
        offset = 0 if unit == "zone" else 1
        return Layer(name=name, title=title, group="renewables", raster=path, kind="categorical",
                     labels={str(k + offset): v[0] for k, v in legend_of.items()},
                     colours={str(k + offset): v[1] for k, v in legend_of.items()})

    def add_layers(self) -> None:
        for layer in self.layers:
            self.ctx.add_layer(layer)


def _rooftop_layers(ctx: StageContext, buildings: gpd.GeoDataFrame) -> None:
    use_field = ctx.project.buildings.use_field
    table = buildings[[*([use_field] if use_field else []), *ROOFTOP_COLUMNS, "geometry"]]
    ctx.add_layer(Layer(name="rooftop_pv", title=words("layer.rooftop_pv"), group="renewables", frame=table,
                        column="yield_kwh_yr", unit="kwh_yr", in_html=False))
    top = table.nlargest(min(500, len(table)), "yield_kwh_yr")
    ctx.add_layer(Layer(name="rooftop_pv_top", title=words("layer.rooftop_pv_top", n=len(top)),
                        group="renewables", frame=top.set_geometry(top.geometry.centroid), column="yield_kwh_yr",
                        unit="kwh_yr"))


def _has_renewables(project: Project) -> bool:
    return project.renewables is not None


RENEWABLES = Stage("renewables", words("stage.renewables"), run_renewables, sections=("renewables", "buildings"),
                   reads=("units", "rasters"), writes=Renewables, applies=_has_renewables)
