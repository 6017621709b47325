"""Scenarios: land covers of planning scenarios, their effects per unit, trajectories to 2060."""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import ndimage

from carbonmap.coefficients import (
    landuse_coefficients,
    planning_stages,
    scenario_parameters,
)
from carbonmap.config import Project, ScenarioInput
from carbonmap.errors import InputError
from carbonmap.grid import rasterize
from carbonmap.io import read_vector, write_cog
from carbonmap.landuse import class_legend, classify
from carbonmap.readable import translated
from carbonmap.scenarios import (
    allocate,
    class_rates,
    convert,
    land_effects,
    milestones,
    periods_to,
    project_areas,
    stage_of,
    suitability,
    trajectory,
    transition_matrix,
)
from carbonmap.scenarios.compare import (
    citywide,
    planting_adjustment,
    relative_to_baseline,
    scenario_rows,
)
from carbonmap.stage import Layer, Stage, StageContext
from carbonmap.terrain import slope_degrees
from carbonmap.themes.inputs import raster_title
from carbonmap.words import Text, as_text, words

__all__ = ["SCENARIOS"]


@dataclass
class _Baseline:
    """What every scenario of a run is compared with (internal to the stage)."""

    landcover: np.ma.MaskedArray
    system: str
    matrix: pd.DataFrame | None
    stages: pd.DataFrame
    coefficients: pd.DataFrame
    pools: pd.DataFrame | None
    intensity: pd.Series
    simulated: dict = field(default_factory=dict)  # table name -> tables of the scenarios simulated with "plus"


def run_scenarios(ctx: StageContext) -> None:
    """Scenario land covers, their effects per unit, trajectories to 2060 and milestones."""
    units = ctx.result("units")
    if ctx.result("emissions") is None:
        ctx.note(words("note.scenarios_no_emissions"))
        return
    base = _baseline(ctx)
    comparison, paths, marks = [], [], []
    for spec in ctx.track([None, *ctx.project.scenarios], words("progress.scenarios")):
        name = "baseline" if spec is None else spec.name
        landcover = base.landcover if spec is None else _scenario_landcover(ctx, spec, base)
        effects = land_effects(base.landcover, landcover, base.system, units.zones, len(units.ids),
                               units.grid.cell_area_m2 / 1e4, builtup_intensity=base.intensity.to_numpy(),
                               pools=base.pools, coefficients=base.coefficients)
        effects.index = units.ids
        if spec is not None and spec.afforestation is not None:
            effects["land_sink_change_co2_t_yr"] += _planting(ctx, spec, base)
        if spec is not None:
            _landcover_layer(ctx, spec, landcover, base)
        rows, unit_paths, unit_marks = _scenario(ctx, spec, name, effects, landcover, base)
        comparison.append(rows)
        paths.extend(unit_paths)
        marks.extend(unit_marks)
    for name, tables in base.simulated.items():
        ctx.add_table(name, pd.concat(tables, ignore_index=True))
    _publish(ctx, relative_to_baseline(pd.concat(comparison)), paths, marks, base.stages)


def _baseline(ctx: StageContext) -> _Baseline:
    cfg, rasters, stocks, balance = (ctx.project.timeline, ctx.result("rasters"), ctx.result("stocks"),
                                     ctx.result("balance"))
    landcover = rasters.read(cfg.landcover)
    matrix = None
    if cfg.previous is not None:
        matrix = transition_matrix(rasters.read(cfg.previous), landcover)
        ctx.add_table("scenario_transition_matrix", matrix.rename_axis("from_code").reset_index().rename(
            columns=lambda c: c if c == "from_code" else f"to_{c}"))
    stages = planning_stages(cfg.stages)
    return _Baseline(landcover, rasters.code_systems[cfg.landcover], matrix, stages,
                     landuse_coefficients(ctx.project.emissions.coefficients),
                     stocks.pools if stocks is not None else None,
                     balance.builtup_intensity.reindex(ctx.result("units").ids))


def _scenario(ctx: StageContext, spec: ScenarioInput | None, name: str, effects: pd.DataFrame,
              landcover: np.ma.MaskedArray, base: _Baseline) -> tuple[pd.DataFrame, list, list]:
    """Per-unit comparison rows of one scenario (fully in place), its trajectories and milestones."""
    cfg, units, emissions, sinks = (ctx.project.timeline, ctx.result("units"), ctx.result("emissions"),
                                    ctx.result("sinks"))
    screening = ctx.result("screening")
    sector_change = {} if spec is None else spec.sector_change_pct
    annual = {**cfg.annual_change_pct, **({} if spec is None else spec.annual_change_pct)}
    growth = cfg.sink_growth_pct if spec is None or spec.sink_growth_pct is None else spec.sink_growth_pct
    share = 0.0 if spec is None else spec.rooftop_pv_share
    packages = screening.pv_avoided if screening is not None and screening.pv_avoided is not None else \
        pd.Series(0.0, index=units.ids)
    avoided = share * packages
    target = cfg.base_year + 1 if spec is None else spec.target_year
    sink = sinks.per_unit if sinks is not None else pd.Series(dtype=float)
    rows = scenario_rows(emissions.sources, sink, effects, sector_change_pct=sector_change, avoided=avoided)
    if ctx.project.landscape is not None:
        rows = rows.join(ctx.result("landscape").fragmentation(landcover, units.grid.resolution, units.zones,
                                                               len(units.ids)).set_axis(units.ids))
    rows.insert(0, "unit_id", units.ids)
    rows.insert(0, "scenario", name)
    land_source = effects["land_source_change_co2_t_yr"] + effects["builtup_source_change_co2_t_yr"]
    paths, marks = [], []
    for unit in units.ids:
        path = trajectory(emissions.sources.loc[unit], float(sink.get(unit, 0.0)), base_year=cfg.base_year,
                          end_year=cfg.end_year, target_year=target, annual_change=annual,
                          sector_change_pct=sector_change, land_source=float(land_source[unit]),
                          land_sink=float(effects.loc[unit, "land_sink_change_co2_t_yr"]),
                          avoided=float(avoided[unit]), sink_growth_pct=growth)
        path.insert(0, "unit_id", unit)
        path.insert(0, "scenario", name)
        paths.append(path)
        marks.append({"scenario": name, "unit_id": unit, **milestones(path, base.stages)})
    return rows, paths, marks


def _planting(ctx: StageContext, spec: ScenarioInput, base: _Baseline) -> pd.Series:
    screening, units = ctx.result("screening"), ctx.result("units")
    planted = screening.sites[screening.sites["site_id"].isin(screening.scenario_sites.get(spec.afforestation, []))]
    rate = float(class_rates([spec.afforestation_to], base.system,
                             coefficients=base.coefficients)["removal_co2_t_ha_yr"].iloc[0])
    return planting_adjustment(planted, rate, units.ids)


def _scenario_landcover(ctx: StageContext, spec: ScenarioInput, base: _Baseline) -> np.ma.MaskedArray:
    """The baseline land cover with a scenario's land changes: Markov demand, planting, conversions."""
    units, screening = ctx.result("units"), ctx.result("screening")
    landcover = base.landcover
    if spec.markov_year is not None:
        landcover = _simulated(ctx, spec, base) if spec.allocation == "plus" else _markov(ctx, spec, base)
    if spec.afforestation is not None and screening is not None:
        sites = np.isin(screening.site_labels, screening.scenario_sites.get(spec.afforestation, []))
        landcover = convert(landcover, sites, spec.afforestation_to)
    if spec.convert is not None:
        frame = read_vector(spec.convert, layer=spec.convert_layer, kind="polygon", to_crs=units.grid.crs,
                            encoding=spec.convert_encoding)
        ctx.record_input(spec.convert, f"scenario {spec.name} conversions")
        mask = rasterize(frame, units.grid, values=1, fill=0, dtype="uint8").astype(bool)
        landcover = convert(landcover, mask, spec.convert_to, only_from=spec.convert_from)
    return landcover


def _markov(ctx: StageContext, spec: ScenarioInput, base: _Baseline) -> np.ma.MaskedArray:
    """Business-as-usual land use in ``spec.markov_year``: Markov demand, allocated by suitability."""
    cfg, units, rasters = ctx.project.timeline, ctx.result("units"), ctx.result("rasters")
    landcover, matrix = base.landcover, base.matrix
    codes, counts = np.unique(landcover.compressed(), return_counts=True)
    flows = project_areas(pd.Series(counts, index=codes), matrix,
                          periods_to(spec.markov_year, cfg.previous_year, cfg.base_year))
    categories = classify([str(c) for c in matrix.columns], base.system)["carbon_category"]
    built_codes = [int(c) for c, category in zip(matrix.columns, categories) if category.startswith("built")]
    builtup = np.isin(np.ma.getdata(landcover), built_codes) & ~np.ma.getmaskarray(landcover)
    dem = next((r for r in (getattr(ctx.project.network, "dem", None), getattr(ctx.project.screening, "dem", None))
                if r), None)
    slope = slope_degrees(rasters.read(dem), units.grid.resolution) if dem is not None else None
    p = scenario_parameters(cfg.parameters)
    return allocate(landcover, flows, lambda code: suitability(
        np.ma.getdata(landcover), code, units.grid.resolution, window_cells=p["markov_window_cells"],
        distance_decay_m=p["markov_distance_decay_m"], max_slope_deg=p["markov_max_slope_deg"],
        builtup=builtup if code in built_codes else None, slope_deg=slope))


def _simulated(ctx: StageContext, spec: ScenarioInput, base: _Baseline) -> np.ma.MaskedArray:
    """Land use in ``spec.markov_year`` from the land-use simulator (:mod:`carbonmap.scenarios.plus`),
    calibrated on [timeline] previous -> landcover; its tables and probability rasters are written."""
    from carbonmap.scenarios.plus import simulate_land_use
    from carbonmap.themes.simulation import (
        pattern_comparison,
        plus_tables,
        read_conversion,
    )

    cfg, units, rasters = ctx.project.timeline, ctx.result("units"), ctx.result("rasters")
    grid, previous, landcover = units.grid, rasters.read(cfg.previous), base.landcover
    codes = np.union1d(np.unique(previous.compressed()), np.unique(landcover.compressed()))
    drivers = {name: np.ma.filled(rasters.read(name).astype(np.float32), np.nan) for name in spec.drivers}
    dem = _dem(ctx)
    slope = None
    if dem is not None:
        elevation = rasters.read(dem)
        slope = slope_degrees(elevation, grid.resolution)
        drivers.setdefault("elevation", np.ma.filled(elevation.astype(np.float32), np.nan))
        drivers.setdefault("slope", np.ma.filled(np.ma.asarray(slope, dtype=np.float32), np.nan))
        del elevation
        if spec.reference is None:  # the slope limit serves the validation's simple allocation alone
            slope = None
    if ctx.project.roads is not None:
        roads = read_vector(ctx.project.roads.path, layer=ctx.project.roads.layer, kind="line",
                            to_crs=grid.crs, assume_crs=ctx.project.roads.assume_crs,
                            encoding=ctx.project.roads.encoding)
        on_road = rasterize(roads, grid, values=1, fill=0, dtype="uint8", all_touched=True).astype(bool)
        if on_road.any():
            drivers.setdefault("distance_to_roads", (ndimage.distance_transform_edt(~on_road)
                                                     * grid.resolution).astype(np.float32))
    restricted = None
    if spec.restricted is not None:
        zones = read_vector(spec.restricted, layer=spec.restricted_layer, kind="polygon", to_crs=grid.crs)
        ctx.record_input(spec.restricted, f"scenario {spec.name} restriction zones")
        restricted = rasterize(zones, grid, values=1, fill=0, dtype="uint8").astype(bool)
    p = scenario_parameters(cfg.parameters)
    with ctx.scratch() as scratch:  # the drivers wait there while the probabilities are predicted
        run = simulate_land_use(previous, landcover, year_before=cfg.previous_year, year_after=cfg.base_year,
                                target_year=spec.markov_year, spacing=(grid.resolution, grid.resolution),
                                drivers=drivers, demand=_demand(ctx, spec, base, codes), parameters=p,
                                conversion=read_conversion(spec.conversion, codes) if spec.conversion else None,
                                restricted=restricted,
                                weights={int(k): v for k, v in spec.neighbourhood_weights.items()},
                                builtup_codes=_built_codes(codes, base.system), slope_deg=slope,
                                reference=rasters.read(spec.reference) if spec.reference else None, scratch=scratch)
    if run.validation is not None:
        run.patterns = pattern_comparison({"reference": rasters.read(spec.reference), **run.comparison,
                                           "plus": run.simulation.landcover}, grid.resolution)
        best = run.validation.set_index("model")["figure_of_merit"]
        ctx.note(words("note.scenario_validated", scenario=_scenario_title(ctx.project, spec.name),
                       reference=raster_title(ctx.project, spec.reference),
                       scores=", ".join(f"{model} {value:.3f}" for model, value in best.items())))
    for name, table in plus_tables(run, scenario=spec.name).items():
        base.simulated.setdefault(name, []).append(table)
    for code, layer in zip(run.suitability.codes, run.suitability.probability):
        write_cog(ctx.file(f"rasters/simulation/scenario_{spec.name}_probability_{code}.tif"), layer,
                  nodata=float("nan"), transform=grid.transform, crs=grid.crs)
    for note in run.simulation.notes:
        ctx.note(words("note.scenario", scenario=_scenario_title(ctx.project, spec.name), note=note))
    return run.simulation.landcover


def _demand(ctx: StageContext, spec: ScenarioInput, base: _Baseline, codes: np.ndarray):
    """A scenario's land-use demand: "markov", "trend", or cells of each class (table, optimised)."""
    from carbonmap.scenarios.demand import optimise_demand, whole_cells
    from carbonmap.stocks import POOLS
    from carbonmap.themes.simulation import read_demand

    if spec.demand in ("markov", "trend"):
        return spec.demand
    cell_ha = ctx.result("units").grid.cell_area_m2 / 1e4
    total = int(base.landcover.count())
    if spec.demand == "table":
        ctx.record_input(spec.demand_table, f"scenario {spec.name} demand")
        return read_demand(spec.demand_table, codes, total, cell_ha)
    if base.pools is None:
        raise InputError("demand = \"optimise\" maximises carbon storage: it needs the carbon pools.",
                         key=f"scenarios.{spec.name}.demand", fix="add [stocks] with a pools table.")
    storage = base.pools.set_index(base.pools["lucode"].astype(int))[list(POOLS)].sum(axis=1)
    today = pd.Series(np.ma.compressed(base.landcover)).value_counts().reindex(codes, fill_value=0) * cell_ha
    constraints = [{"codes": [int(c) for c in k["codes"]], "min": k.get("min_ha"), "max": k.get("max_ha")}
                   for k in spec.demand_constraints]
    areas = optimise_demand(today.astype(float), storage, constraints=constraints,
                            max_change_pct=spec.demand_max_change_pct)
    return whole_cells(areas / cell_ha, total)


def _built_codes(codes, system: str) -> list[int]:
    categories = classify([str(c) for c in codes], system)["carbon_category"]
    return [int(c) for c, category in zip(codes, categories) if category.startswith("built")]


def _dem(ctx: StageContext) -> str | None:
    return next((r for r in (getattr(ctx.project.network, "dem", None), getattr(ctx.project.screening, "dem", None))
                 if r), None)


def _landcover_layer(ctx: StageContext, spec: ScenarioInput, landcover: np.ma.MaskedArray, base: _Baseline) -> None:
    grid = ctx.result("units").grid
    nodata = 0 if not (landcover == 0).any() else np.iinfo(base.landcover.dtype).max  # a value no class uses
    path = write_cog(ctx.file(f"rasters/scenario_{spec.name}.tif"),
                     np.ma.filled(landcover, nodata).astype(base.landcover.dtype), nodata=nodata,
                     transform=grid.transform, crs=grid.crs)
    labels, colours = class_legend(base.system)
    title = words("layer.scenario_landcover", scenario=spec.title or spec.name)
    ctx.add_layer(Layer(name=f"scenario_{spec.name}", title=title,
                        group="scenarios", raster=path, kind="categorical", labels=labels, colours=colours))


def _publish(ctx: StageContext, table: pd.DataFrame, paths: list, marks: list, stages: pd.DataFrame) -> None:
    """The comparison, timeline and milestone tables, per-unit milestones, layers and notes."""
    units, cfg = ctx.result("units"), ctx.project.timeline
    ctx.add_table("scenario_comparison_per_unit", table.reset_index(drop=True))
    ctx.add_table("scenario_comparison_citywide", citywide(table))
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
    per_unit = milestone_table[milestone_table["unit_id"] != "city"].pivot(
        index="unit_id", columns="scenario", values=["peak_year", "net_zero_year"])
    per_unit.columns = [f"{scenario}_{what}" for what, scenario in per_unit.columns]
    ctx.add_summary(per_unit.reindex(units.ids).astype(float))
    _unit_layers(ctx, table, milestone_table)
    for row in milestone_table[milestone_table["unit_id"] == "city"].itertuples():
        zero = words("note.net_zero", year=int(row.net_zero_year)) if pd.notna(row.net_zero_year) else \
            words("note.no_net_zero", year=cfg.end_year)
        ctx.note(words("note.scenario_peak", scenario=_scenario_title(ctx.project, row.scenario),
                       year=row.peak_year, peak=f"{row.peak_emissions_co2_t_yr:,.0f}",
                       stage=translated(row.peak_stage), zero=zero))


def _scenario_title(project: Project, name: str) -> Text:
    """What readers call scenario `name`: its title in the project, else its name (the baseline's in words)."""
    spec = next((s for s in project.scenarios if s.name == name), None)
    return as_text(spec.title) if spec is not None and spec.title else translated(name)


def _unit_layers(ctx: StageContext, table: pd.DataFrame, marks: pd.DataFrame) -> None:
    """One map layer per scenario: the units coloured by the change of net emissions against the
    baseline, with the scenario's milestones (in the HTML map they share the units' geometry)."""
    units = ctx.result("units")
    titles = {spec.name: spec.title or spec.name for spec in ctx.project.scenarios}
    for name, rows in table.groupby("scenario", sort=False):
        if name == "baseline":
            continue
        columns = rows.set_index("unit_id")[["change_net_co2_t_yr", "change_rel_net_pct", "net_co2_t_yr",
                                             "stock_change_t_c" if "stock_change_t_c" in rows else "converted_ha"]]
        columns = columns.join(marks[marks["scenario"] == name].set_index("unit_id")[
            ["peak_year", "net_zero_year", "net_2060_co2_t_yr"]])
        frame = gpd.GeoDataFrame(columns.reindex(units.ids), geometry=units.frame.geometry, crs=units.frame.crs)
        ctx.add_layer(Layer(name=f"scenario_{name}_units", title=words("layer.scenario_units", scenario=titles.get(name, name)),
                            group="scenarios", frame=frame.reset_index(), column="change_net_co2_t_yr",
                            unit="t_co2_yr"))


def _has_timeline(project: Project) -> bool:
    return project.timeline is not None


SCENARIOS = Stage("scenarios", words("stage.scenarios"), run_scenarios,
                  sections=("timeline", "scenarios", "emissions"), reads=("units", "rasters"),
                  uses=("emissions", "sinks", "stocks", "balance", "screening", "landscape"), applies=_has_timeline)
