"""The per-unit carbon balance: sources, sinks, net, classes and intensities."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from carbonmap.balance import gdp_cny_1e4, unit_balance
from carbonmap.coefficients import balance_classes, efficiency_bands
from carbonmap.config import Project
from carbonmap.emissions import builtup_intensity
from carbonmap.stage import Stage, StageContext
from carbonmap.words import words

__all__ = ["Balance", "BALANCE"]


@dataclass
class Balance:
    """What the scenarios read of the balance: built-up carbon intensity per unit [t CO2/km2/yr]."""

    builtup_intensity: pd.Series


def run_balance(ctx: StageContext) -> Balance:
    """Per-unit sources, sinks, net, classes and intensities."""
    cfg, units, emissions, sinks = ctx.project.balance, ctx.result("units"), ctx.result("emissions"), \
        ctx.result("sinks")
    gdp_unit = ctx.project.units.gdp_unit
    gdp = units.frame.get(f"gdp_{gdp_unit}")
    classes, bands = balance_classes(cfg.classes), efficiency_bands(cfg.bands)
    table = unit_balance(emissions.sources, sinks.per_unit,
                         population=units.frame.get("population"),
                         gdp_cny_1e4=gdp_cny_1e4(gdp, gdp_unit) if gdp is not None else None,
                         classes=classes, bands=bands)
    table["builtup_intensity_co2_t_km2_yr"] = builtup_intensity(table["source_co2_t_yr"], emissions.builtup_km2)
    ctx.add_summary(table)
    ctx.note(words("note.sinks_in_balance", method=sinks.method))
    ctx.add_headline("net_co2_t_yr", "source_co2_t_yr", "sink_co2_t_yr", "builtup_intensity_co2_t_km2_yr",
                     "efficiency_index", first=True)
    return Balance(table["builtup_intensity_co2_t_km2_yr"])


def _has_emissions(project: Project) -> bool:
    return project.parcels is not None


BALANCE = Stage("balance", words("stage.balance"), run_balance, sections=("balance", "units"),
                reads=("units", "emissions", "sinks"), writes=Balance, applies=_has_emissions)
