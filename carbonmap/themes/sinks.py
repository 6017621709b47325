"""Sinks: vegetation NEP and blue carbon per unit and parcel; the sinks of the balance."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import geopandas as gpd
import pandas as pd

from carbonmap.coefficients import landuse_coefficients
from carbonmap.config import SinksSection
from carbonmap.emissions import aggregate_to_zones, coefficient_fluxes
from carbonmap.grid import map_windows
from carbonmap.io import read_vector
from carbonmap.sinks import vegetation_nep_sink
from carbonmap.stage import Layer, Stage, StageContext
from carbonmap.words import Text, words
from carbonmap.zonal import zonal_stats

__all__ = ["Sinks", "blue_carbon_wetlands", "SINKS"]


@dataclass
class Sinks:
    """The sinks of the balance: per unit [t CO2/yr], and how they were computed."""

    per_unit: pd.Series
    method: Text  # how, for the run's notes


def blue_carbon_wetlands(section: SinksSection, coefficients: pd.DataFrame, crs) -> gpd.GeoDataFrame:
    """Coastal wetland polygons of a [sinks] section with their IPCC soil-carbon accumulation
    rate and annual sink: wetland_type, area_ha, coef_id, sink_co2_t_yr [t CO2/yr] (summed per
    unit into the summary column ``sink_blue_carbon_co2_t_yr``)."""
    wetlands = read_vector(section.wetlands, layer=section.wetlands_layer, columns=[section.wetland_type_field],
                           kind="polygon", to_crs=crs, encoding=section.wetlands_encoding)
    types = wetlands[section.wetland_type_field]
    area_ha = wetlands.area.to_numpy() / 1e4
    fluxes = coefficient_fluxes("wetland_" + types.astype(str), area_ha, coefficients)
    return gpd.GeoDataFrame({"wetland_type": types.to_numpy(), "area_ha": area_ha,
                             "coef_id": fluxes["coef_id"].to_numpy(),
                             "sink_co2_t_yr": fluxes["coef_removal_co2_t_yr"].to_numpy()},
                            geometry=wetlands.geometry.values, crs=wetlands.crs)


def run_sinks(ctx: StageContext) -> Sinks | None:
    """Vegetation NEP and blue carbon per unit and parcel; they become the balance's sinks."""
    cfg = ctx.project.sinks
    emissions = ctx.result("emissions")
    sinks = parcel_sinks = None
    if cfg.method != "coefficient" or cfg.wetlands is not None:
        sinks, parcel_sinks = _raster_sinks(ctx)
    elif emissions is not None:
        sinks = Sinks(emissions.sinks, words("note.sinks_coefficients"))
    _parcel_carbon_layer(ctx, parcel_sinks)
    return sinks


def _raster_sinks(ctx: StageContext) -> tuple[Sinks, pd.Series | None]:
    cfg, units, emissions = ctx.project.sinks, ctx.result("units"), ctx.result("emissions")
    vegetation, parcel_sinks = pd.Series(0.0, index=units.ids), None
    if cfg.method == "nep":
        rasters = ctx.result("rasters")
        path = map_windows(partial(vegetation_nep_sink, system=rasters.code_systems[cfg.landcover]),
                           {"npp_g_c_m2": rasters.paths[cfg.npp], "mean_temperature_c": rasters.paths[cfg.temperature],
                            "annual_precipitation_mm": rasters.paths[cfg.precipitation],
                            "landcover": rasters.paths[cfg.landcover]},
                           ctx.file("rasters/sink_vegetation.tif"), nodata=float("nan"), resampling="average",
                           tags={"unit": "t CO2 ha-1 yr-1", "method": "NEP = NPP - Rh (Pei et al. 2009)"})
        method = words("note.sinks_nep")
        vegetation = _sink_totals(units.frame, path, units.grid.cell_area_m2)
        ctx.add_layer(Layer(name="sink_vegetation", title=words("layer.sink_vegetation"), group="sinks",
                            raster=path, unit="t_co2_ha_yr"))
        if emissions is not None:
            parcel_sinks = _sink_totals(emissions.parcels, path, units.grid.cell_area_m2)
    else:
        vegetation = emissions.sinks if emissions is not None else vegetation
        method = words("note.sinks_coefficients")
    blue = pd.Series(0.0, index=units.ids)
    if cfg.wetlands is not None:
        coefficients = landuse_coefficients(ctx.project.emissions.coefficients)
        wetlands = blue_carbon_wetlands(cfg, coefficients, units.grid.crs)
        ctx.record_input(cfg.wetlands, "coastal wetlands")
        ctx.add_table("coefficients_blue_carbon", coefficients[coefficients["coef_id"].isin(set(wetlands["coef_id"]))])
        blue = aggregate_to_zones(wetlands.assign(kind="blue"), units.frame, by="kind",
                                  value="sink_co2_t_yr")[0].sum(axis=1)
        method = words("note.sinks_blue", method=method)
        ctx.add_layer(Layer(name="blue_carbon", title=words("layer.blue_carbon"),
                            group="sinks", frame=wetlands, column="sink_co2_t_yr", unit="t_co2_yr"))
    ctx.add_summary(pd.DataFrame({"sink_vegetation_co2_t_yr": vegetation, "sink_blue_carbon_co2_t_yr": blue}))
    return Sinks(vegetation + blue, method), parcel_sinks


def _sink_totals(zones: gpd.GeoDataFrame, density, cell_area_m2: float) -> pd.Series:
    """The sink in each zone [t CO2/yr] from a sink density raster [t CO2/ha/yr] (0 without data)."""
    return zonal_stats(zones, density, stats=["sum"])["sum"].fillna(0.0) * cell_area_m2 / 1e4


def _parcel_carbon_layer(ctx: StageContext, parcel_sinks: pd.Series | None) -> None:
    """Parcels with their stocks and sinks, when the run computed any."""
    emissions, stocks = ctx.result("emissions"), ctx.result("stocks")
    if emissions is None:
        return
    frame = emissions.parcels[["code", "class_name", "carbon_category", "area_ha"]]
    if stocks is not None and stocks.per_parcel is not None:
        frame = frame.join(stocks.per_parcel)
    if parcel_sinks is not None:
        frame = frame.assign(sink_vegetation_co2_t_yr=parcel_sinks.to_numpy())
    columns = list(frame.columns[4:])
    if not columns:
        return
    first = columns[0]  # stock_*_t_c [t C] or sink_*_co2_t_yr [t CO2/yr]
    unit = "t_c" if first.startswith("stock_") else "t_co2_yr"
    frame = gpd.GeoDataFrame(frame, geometry=emissions.parcels.geometry, crs=emissions.parcels.crs)
    ctx.add_layer(Layer(name="parcel_carbon", title=words("layer.parcel_carbon"), group="sinks", frame=frame,
                        column=first, unit=unit))


SINKS = Stage("sinks", words("stage.sinks"), run_sinks, sections=("sinks", "emissions"),
              reads=("units", "rasters"), uses=("emissions", "stocks"), writes=Sinks)
