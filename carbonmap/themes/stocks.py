"""Carbon stocks by pool, their change and value; wetland conversion releases."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from carbonmap.coefficients import CO2_PER_C, blue_carbon_disturbance
from carbonmap.config import Project, StocksSection
from carbonmap.readable import table_text, translated
from carbonmap.sinks import wetland_conversion_emissions
from carbonmap.stage import Layer, Stage, StageContext
from carbonmap.stocks import Valuation, carbon_stocks, read_pools
from carbonmap.themes.inputs import raster_title
from carbonmap.words import words
from carbonmap.zonal import zonal_totals

__all__ = ["StocksInputs", "Stocks", "prepare_stocks", "STOCKS"]


@dataclass
class StocksInputs:
    """The pool table [t C/ha] and the optional valuation of a [stocks] section."""

    pools: pd.DataFrame
    valuation: Valuation | None


def prepare_stocks(section: StocksSection) -> StocksInputs:
    """Read the pool table and the valuation settings of a [stocks] section."""
    valuation = None
    if section.price_per_t_c is not None:
        valuation = Valuation(section.price_per_t_c, section.discount_rate_pct, section.price_change_pct,
                              section.baseline_year, section.alternative_year)
    return StocksInputs(read_pools(section.pools), valuation)


@dataclass
class Stocks:
    """The stocks stage's result: the pool table used and each parcel's stock columns
    (``stock_<date>_t_c``, ``stock_<date>_t_co2``, ``stock_change_*``; rows as the emissions
    stage's parcels), when there are parcels."""

    pools: pd.DataFrame
    per_parcel: pd.DataFrame | None


def run_stocks(ctx: StageContext) -> Stocks:
    """Carbon stocks by pool on the grid, their change, value and per-unit totals."""
    cfg = ctx.project.stocks
    units, rasters, emissions = ctx.result("units"), ctx.result("rasters"), ctx.result("emissions")
    inputs = prepare_stocks(cfg)
    ctx.record_input(cfg.pools, "carbon pool table")
    out = ctx.out / "rasters"
    summary = carbon_stocks(rasters.paths[cfg.baseline], inputs.pools, grid=units.grid, valuation=inputs.valuation,
                            alternative=rasters.optional(cfg.alternative), out_dir=out)
    ctx.add_table("stocks_summary", summary)
    ctx.add_table("coefficients_carbon_pools", inputs.pools)
    cell_ha = units.grid.cell_area_m2 / 1e4
    baseline = raster_title(ctx.project, cfg.baseline)
    layers = [("c_storage_bas.tif", f"stock_{cfg.baseline}_t_c", words("layer.c_storage_bas", date=baseline))]
    if cfg.alternative:
        alternative = raster_title(ctx.project, cfg.alternative)
        layers += [("c_storage_alt.tif", f"stock_{cfg.alternative}_t_c",
                    words("layer.c_storage_alt", date=alternative)),
                   ("c_change_bas_alt.tif", "stock_change_t_c",
                    words("layer.c_change_bas_alt", before=baseline, after=alternative))]
    per_unit, per_parcel = {}, {}
    for file, column, title in layers:  # totals [t C] and [t CO2] per unit and parcel (NaN: all nodata)
        in_co2 = column.removesuffix("_t_c") + "_t_co2"
        per_unit[column] = zonal_totals(units.frame, out / file, cell_ha=cell_ha)
        per_unit[in_co2] = per_unit[column] * CO2_PER_C
        ctx.add_layer(Layer(name=file.removesuffix(".tif"), title=title, group="sinks", raster=out / file,
                            unit="t_c_ha"))
        if emissions is not None:
            per_parcel[column] = zonal_totals(emissions.parcels, out / file, cell_ha=cell_ha).to_numpy()
            per_parcel[in_co2] = per_parcel[column] * CO2_PER_C
    if cfg.alternative:
        _wetland_conversion(ctx, inputs.pools, cell_ha)
    ctx.add_summary(pd.DataFrame(per_unit))
    ctx.add_headline("stock_change_t_c" if cfg.alternative else f"stock_{cfg.baseline}_t_c")
    parcels = pd.DataFrame(per_parcel, index=emissions.parcels.index) if emissions is not None else None
    return Stocks(inputs.pools, parcels)


def _wetland_conversion(ctx: StageContext, pools: pd.DataFrame, cell_ha: float, years: int = 30) -> None:
    """CO2 released by wetlands converted between the stock dates, year by year (a table)."""
    cfg, rasters = ctx.project.stocks, ctx.result("rasters")
    system = rasters.code_systems.get(cfg.baseline)
    if system is None:
        return
    disturbance = blue_carbon_disturbance()
    emissions = wetland_conversion_emissions(rasters.read(cfg.baseline), rasters.read(cfg.alternative), system,
                                             pools, disturbance, cell_ha=cell_ha, years=years)
    converted = emissions.attrs["converted_ha"]
    if converted == 0:
        return
    ctx.add_table("wetland_conversion_emissions", emissions)
    table = table_text("wetland_conversion_emissions")
    ctx.note(words("note.wetland_conversion", area=f"{converted:,.1f}", before=raster_title(ctx.project, cfg.baseline),
                   after=raster_title(ctx.project, cfg.alternative), first=f"{emissions['total_co2_t'].iloc[0]:,.0f}",
                   total=f"{emissions['total_co2_t'].sum():,.0f}", years=years, table=table))
    for category, area_ha in emissions.attrs["not_covered_ha"].items():
        ctx.note(words("note.wetland_not_covered", area=f"{area_ha:,.1f}", category=translated(category),
                       table=table))


def _has_stocks(project: Project) -> bool:
    return project.stocks is not None


STOCKS = Stage("stocks", words("stage.stocks"), run_stocks, sections=("stocks",),
               reads=("units", "rasters"), uses=("emissions",), writes=Stocks, applies=_has_stocks)
