"""Coastal blue carbon over time (InVEST's transition model): prepare, shared outputs, the stage."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd

from carbonmap.blue_carbon import (BlueCarbonResult, BlueCarbonValuation, coastal_blue_carbon, read_biophysical,
                                   read_prices, read_snapshots, read_transitions)
from carbonmap.config import BlueCarbonSection, Project
from carbonmap.errors import InputError
from carbonmap.readable import table_text
from carbonmap.stage import Layer, Stage, StageContext
from carbonmap.words import Text, words
from carbonmap.zonal import zonal_totals

__all__ = ["BlueCarbonInputs", "BlueCarbon", "prepare_blue_carbon", "run_blue_carbon_model", "blue_carbon_tables",
           "blue_carbon_per_unit", "blue_carbon_notes", "BLUE_CARBON"]


@dataclass
class BlueCarbonInputs:
    """What a [blue_carbon] section names, read: the snapshots by year, the tables, the years,
    the valuation, the convention, and every file read (role, path) for the run's record."""

    snapshots: dict[int, Path]
    biophysical: pd.DataFrame
    transitions: pd.DataFrame
    analysis_year: int | None
    valuation: BlueCarbonValuation | None
    convention: str
    files: list[tuple[str, Path]] = field(default_factory=list)


def prepare_blue_carbon(section: BlueCarbonSection, rasters: Mapping[str, Path] | None = None) -> BlueCarbonInputs:
    """Read the tables of a [blue_carbon] section; snapshots named as [[rasters]] entries are
    taken from `rasters` (name -> aligned raster), a snapshot table from its file.

    Raises
    ------
    InputError
        For bad tables (:mod:`carbonmap.blue_carbon`), or a valuation without its discount rate
        or price.
    """
    files = [("blue-carbon biophysical table", section.biophysical),
             ("blue-carbon transition table", section.transitions)]
    if isinstance(section.snapshots, dict):
        if rasters is None:
            raise InputError("snapshots named as [[rasters]] entries need a run.", key="blue_carbon.snapshots",
                             fix="give the path of a snapshot table (CSV: snapshot_year, raster_path).")
        snapshots = {int(year): Path(rasters[name]) for year, name in section.snapshots.items()}
    else:
        snapshots = read_snapshots(section.snapshots)
        files += [("blue-carbon snapshot table", section.snapshots)]
        files += [(f"blue-carbon land cover {year}", path) for year, path in snapshots.items()]
    biophysical = read_biophysical(section.biophysical)
    transitions = read_transitions(section.transitions, biophysical)
    valuation = None
    if section.price_per_t_co2 is not None or section.prices is not None or section.discount_rate_pct is not None:
        if section.discount_rate_pct is None:
            raise InputError("valuation needs a discount rate.", key="discount_rate_pct",
                             fix="give the annual discount rate in percent (e.g. 8).")
        prices = None
        if section.prices is not None:
            prices = read_prices(section.prices)
            files.append(("blue-carbon price table", section.prices))
        valuation = BlueCarbonValuation(section.discount_rate_pct, section.price_per_t_co2, section.price_change_pct,
                                        prices)
    return BlueCarbonInputs(dict(sorted(snapshots.items())), biophysical, transitions, section.analysis_year,
                            valuation, section.convention, files)


def run_blue_carbon_model(inputs: BlueCarbonInputs, out_dir: Path, **kwargs) -> BlueCarbonResult:
    """:func:`carbonmap.blue_carbon.coastal_blue_carbon` on prepared inputs, writing its rasters
    into `out_dir` (other keywords: ``grid``, ``crs``, ``block_pixels``)."""
    return coastal_blue_carbon(inputs.snapshots, inputs.biophysical, inputs.transitions,
                               analysis_year=inputs.analysis_year, valuation=inputs.valuation,
                               convention=inputs.convention, out_dir=out_dir, **kwargs)


def blue_carbon_tables(inputs: BlueCarbonInputs, result: BlueCarbonResult) -> dict[str, pd.DataFrame]:
    """The tables the stage and the command write: totals by period and by year, the
    transitions seen, and the biophysical and transition tables used."""
    return {"blue_carbon_periods": result.periods, "blue_carbon_annual": result.annual,
            "blue_carbon_transitions": result.transitions,
            "coefficients_blue_carbon_biophysical": inputs.biophysical,
            "coefficients_blue_carbon_transition_table": inputs.transitions.reset_index()}


def blue_carbon_per_unit(zones: gpd.GeoDataFrame, result: BlueCarbonResult, *, cell_ha: float) -> pd.DataFrame:
    """Per-unit totals of the blue-carbon maps [t CO2; CNY], indexed like `zones`.

    Columns: ``blue_carbon_stock_t_co2`` (biomass, soil and litter carbon at the analysis year),
    ``blue_carbon_accumulation_t_co2``, ``blue_carbon_emissions_t_co2`` and
    ``blue_carbon_net_sequestration_t_co2`` (from the baseline to the analysis year), and with a
    valuation ``blue_carbon_npv_cny`` (the net present value of that net sequestration at the
    analysis year); NaN where a unit has no cell with data in every snapshot
    (:func:`carbonmap.zonal.zonal_totals` of the maps of
    :func:`carbonmap.blue_carbon.coastal_blue_carbon`).
    """
    year = result.analysis_year
    maps = {"blue_carbon_stock_t_co2": f"carbon-stock-at-{year}",
            "blue_carbon_accumulation_t_co2": "total-carbon-accumulation",
            "blue_carbon_emissions_t_co2": "total-carbon-emissions",
            "blue_carbon_net_sequestration_t_co2": "total-net-carbon-sequestration",
            "blue_carbon_npv_cny": f"net-present-value-at-{year}"}
    return pd.DataFrame({column: zonal_totals(zones, result.rasters[name], cell_ha=cell_ha)
                         for column, name in maps.items() if name in result.rasters}, index=zones.index)


def blue_carbon_notes(result: BlueCarbonResult) -> tuple[Text, list[str]]:
    """A sentence on the whole analysis, and one warning per transition seen in the snapshots that
    the transition table leaves empty (no carbon change, as InVEST treats it)."""
    whole = result.periods.iloc[-1]
    worth = (words("note.blue_carbon_worth", npv=f"{whole['npv']:,.0f}", year=result.analysis_year)
             if pd.notna(whole["npv"]) else Text.same(""))
    text = words("note.blue_carbon", first=result.baseline_year, last=result.analysis_year,
                 accumulated=f"{whole['accumulation_t_co2']:,.0f}", emitted=f"{whole['emissions_t_co2']:,.0f}",
                 net=f"{whole['net_sequestration_t_co2']:,.0f}", area=f"{whole['area_ha']:,.1f}", worth=worth,
                 periods=table_text("blue_carbon_periods"), annual=table_text("blue_carbon_annual"))
    empty = result.transitions[result.transitions["transition"] == ""]
    warnings = [f"blue carbon: {row.cells:,} cell(s) ({row.area_ha:,.2f} ha) changed from {row.from_class} to "
                f"{row.to_class} between {row.from_year} and {row.to_year}, a transition the transition table leaves "
                "empty: counted as no carbon change (as InVEST does); fill in that cell of the table"
                for row in empty.itertuples()]
    return text, warnings


@dataclass
class BlueCarbon:
    """The blue_carbon stage's result: totals by period and per unit."""

    periods: pd.DataFrame
    per_unit: pd.DataFrame


def run_blue_carbon(ctx: StageContext) -> BlueCarbon:
    """Coastal blue carbon on the analysis grid: maps, per-unit totals, tables by period and year."""
    units, rasters = ctx.result("units"), ctx.result("rasters")
    inputs = prepare_blue_carbon(ctx.project.blue_carbon, rasters.paths)
    for role, path in inputs.files:
        ctx.record_input(path, role)
    result = run_blue_carbon_model(inputs, ctx.out / "rasters" / "blue_carbon", grid=units.grid)
    for name, table in blue_carbon_tables(inputs, result).items():
        ctx.add_table(name, table)
    per_unit = blue_carbon_per_unit(units.frame, result, cell_ha=units.grid.cell_area_m2 / 1e4)
    ctx.add_summary(per_unit)
    first, last = result.baseline_year, result.analysis_year
    for layer, raster in (("blue_carbon_net_sequestration", "total-net-carbon-sequestration"),
                          ("blue_carbon_stock", f"carbon-stock-at-{last}")):
        ctx.add_layer(Layer(name=layer, title=words(f"layer.{layer}", first=first, last=last), group="sinks",
                            raster=result.rasters[raster], unit="t_co2_ha"))
    text, warnings = blue_carbon_notes(result)
    ctx.note(text)
    for warning in warnings:
        ctx.warn(warning)
    return BlueCarbon(result.periods, per_unit)


def _has_blue_carbon(project: Project) -> bool:
    return project.blue_carbon is not None


BLUE_CARBON = Stage("blue_carbon", words("stage.blue_carbon"), run_blue_carbon, sections=("blue_carbon",),
                    reads=("units", "rasters"), writes=BlueCarbon, applies=_has_blue_carbon)
