"""Uncertainty: an interval on every unit's sources, sinks and net, class probabilities, the
coefficients that matter, and the spread of the peak and net-zero years (:mod:`carbonmap.uncertainty`).

The stage gathers what the accounting did per coefficient from the earlier stages' results
(parcels by coefficient, inventory sectors and point sources, the NEP and blue-carbon sinks,
stocks by pool), builds the linear model once and draws all Monte Carlo samples as array
products: no stage is rerun per draw.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from carbonmap.coefficients import balance_classes, coefficient_uncertainty
from carbonmap.config import Project, UncertaintySection
from carbonmap.emissions import aggregate_to_zones
from carbonmap.stage import Stage, StageContext
from carbonmap.uncertainty import (
    LinearModel,
    Trajectory,
    UncertaintyResult,
    analyse,
    balance_model,
    check_draws,
    parameter_label,
)
from carbonmap.words import Text, listed, words

__all__ = ["UNCERTAINTY", "model_of_run", "prepare_uncertainty", "uncertainty_tables"]

POOLS = ("c_above", "c_below", "c_soil", "c_dead")


@dataclass
class UncertaintyInputs:
    """The ranges (:func:`carbonmap.coefficients.coefficient_uncertainty`), draws and seed."""

    ranges: pd.DataFrame
    draws: int
    seed: int


def prepare_uncertainty(section: UncertaintySection) -> UncertaintyInputs:
    """Read the ranges (and the override of [uncertainty] ranges) and check the draws."""
    return UncertaintyInputs(coefficient_uncertainty(section.ranges), check_draws(section.draws), int(section.seed))


def _by(frame: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, by: str, value: str) -> pd.DataFrame | None:
    """Per zone and per value of `by` the sum of `value` (features split by area), or None."""
    frame = frame[frame[value].to_numpy(dtype=float) > 0]
    if frame.empty:
        return None
    return aggregate_to_zones(frame[[by, value, frame.geometry.name]], zones, by=by, value=value)[0]


def _stock_pools(ctx: StageContext) -> pd.DataFrame | None:
    """The baseline stock per unit and pool [t C]: cells of each class x the pool table's densities."""
    stocks, rasters, units = ctx.result("stocks"), ctx.result("rasters"), ctx.result("units")
    if stocks is None or rasters is None:
        return None
    codes = rasters.read(ctx.project.stocks.baseline)
    zones = units.zones
    inside = (zones >= 0) & ~np.ma.getmaskarray(codes)
    values, where = np.asarray(codes.data)[inside].astype(np.int64), zones[inside]
    lucodes = stocks.pools["lucode"].to_numpy(dtype=np.int64)
    order = np.argsort(lucodes)
    position = np.clip(np.searchsorted(lucodes[order], values), 0, len(lucodes) - 1)
    known = lucodes[order][position] == values
    counts = np.zeros((len(units.ids), len(lucodes)))
    np.add.at(counts, (where[known], order[position[known]]), 1.0)
    pools = [p for p in POOLS if p in stocks.pools]
    density = stocks.pools[pools].to_numpy(dtype=float)  # [t C/ha]
    return pd.DataFrame(counts * (units.grid.cell_area_m2 / 1e4) @ density, index=units.ids, columns=pools)


def model_of_run(ctx: StageContext, ranges: pd.DataFrame) -> LinearModel:
    """The run's balance as a linear model of its coefficients (:func:`balance_model`)."""
    project, units = ctx.project, ctx.result("units")
    emissions, sinks = ctx.result("emissions"), ctx.result("sinks")
    published = ctx.published
    layers = {layer.name: layer.loaded() for layer in published.layers
              if layer.name in ("point_sources", "blue_carbon") and layer.is_vector}
    report = published.tables.get("emissions_inventory_allocation")
    inventory = report.groupby("sector")[["inventory_co2_t_yr", "point_co2_t_yr"]].sum() if report is not None \
        else None
    points = _by(layers["point_sources"].frame, units.frame, "sector", "co2_t_yr") if "point_sources" in layers \
        else None
    parcels = emissions.parcels
    land = _by(parcels, units.frame, "coef_id", "coef_emission_co2_t_yr") if "land_use" in emissions.sources \
        else None
    nep = coefficient_sinks = blue = None
    if project.sinks.method == "nep":
        nep = published.summary["sink_vegetation_co2_t_yr"].reindex(units.ids)
    else:
        coefficient_sinks = _by(parcels, units.frame, "coef_id", "coef_removal_co2_t_yr")
    if "blue_carbon" in layers:
        blue = _by(layers["blue_carbon"].frame, units.frame, "coef_id", "sink_co2_t_yr")
    return balance_model(ranges, sources=emissions.sources, sinks=sinks.per_unit, inventory=inventory,
                         points=points, land_emissions=land, coefficient_sinks=coefficient_sinks, nep_sink=nep,
                         blue_carbon=blue, stocks=_stock_pools(ctx))


def trajectories_of_run(project: Project, timeline: pd.DataFrame | None) -> list[Trajectory]:
    """The citywide trajectory of every scenario from the ``scenario_timeline`` table."""
    if timeline is None or project.timeline is None:
        return []
    growth = {"baseline": project.timeline.sink_growth_pct}
    for spec in project.scenarios:
        growth[spec.name] = project.timeline.sink_growth_pct if spec.sink_growth_pct is None else spec.sink_growth_pct
    city = timeline[timeline["unit_id"] == "city"]
    out = []
    for name, path in city.groupby("scenario", sort=False):
        path = path.sort_values("year")
        sectors = [c for c in path.columns if c.startswith("source_") and c.endswith("_co2_t_yr")
                   and c != "source_land_co2_t_yr"]
        frame = path[sectors].fillna(0.0).rename(columns=lambda c: c.removeprefix("source_").removesuffix("_co2_t_yr"))
        other = (path["source_land_co2_t_yr"].fillna(0.0) - path["avoided_co2_t_yr"].fillna(0.0)).to_numpy()
        out.append(Trajectory(name, path["year"].to_numpy(dtype=int), frame.reset_index(drop=True), other,
                              path["sink_co2_t_yr"].fillna(0.0).to_numpy(dtype=float), growth.get(name, 0.0)))
    return out


def uncertainty_tables(result: UncertaintyResult) -> dict[str, pd.DataFrame]:
    """The tables the stage writes: citywide intervals, sensitivity, top coefficients per unit,
    milestone years."""
    tables = {"uncertainty_citywide": result.city, "uncertainty_sensitivity": result.sensitivity,
              "uncertainty_top_coefficients": result.top}
    if len(result.milestones):
        tables["uncertainty_milestones"] = result.milestones
    return tables


def run_uncertainty(ctx: StageContext) -> None:
    """Monte Carlo through the run's accounting: intervals, class probabilities, sensitivity."""
    inputs = prepare_uncertainty(ctx.project.uncertainty)
    began = time.perf_counter()
    model = model_of_run(ctx, inputs.ranges)
    paths = trajectories_of_run(ctx.project, ctx.published.tables.get("scenario_timeline"))
    result = analyse(model, draws=inputs.draws, seed=inputs.seed, classes=balance_classes(ctx.project.balance.classes),
                     trajectories=paths)
    seconds = time.perf_counter() - began
    ctx.add_summary(result.per_unit)
    for name, table in uncertainty_tables(result).items():
        ctx.add_table(name, table)
    ctx.add_headline("p_balance_class_pct")
    net = result.city.set_index("quantity").loc["net_co2_t_yr"]
    sensitivity = result.sensitivity
    top = [Text(parameter_label(row, "en"), parameter_label(row, "zh"))
           for _, row in sensitivity[sensitivity["output"] == "net_co2_t_yr"].head(3).iterrows()]
    ctx.note(words("note.uncertainty", draws=inputs.draws, seed=inputs.seed, coefficients=len(model.parameters),
                   p5=f"{net['p5']:,.0f}", p50=f"{net['p50']:,.0f}", p95=f"{net['p95']:,.0f}",
                   low=f"{net['approach1_low']:,.0f}", high=f"{net['approach1_high']:,.0f}", top=listed(top)))
    if model.exact:
        ctx.note(words("note.uncertainty_exact", coefficients=", ".join(model.exact)))
    ctx.step("draws", seconds)


def _has_uncertainty(project: Project) -> bool:
    return project.uncertainty is not None and project.parcels is not None


UNCERTAINTY = Stage("uncertainty", words("stage.uncertainty"), run_uncertainty,
                    sections=("uncertainty", "sinks", "stocks", "balance", "timeline", "scenarios"),
                    reads=("units", "emissions", "sinks", "balance"), uses=("rasters", "stocks"),
                    applies=_has_uncertainty)
