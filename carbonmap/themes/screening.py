"""Screening: rooftops ranked for PV with per-unit packages; afforestation sites and restoration scenarios."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from carbonmap import coefficients
from carbonmap.config import Project, RoadsSection, ScreeningSection
from carbonmap.io import read_vector, write_cog
from carbonmap.readable import translated
from carbonmap.screening import rank_rooftops, restoration_scenarios, rooftop_packages, top_per_unit
from carbonmap.screening.afforestation import AfforestationResult, Habitat, sites_from_rasters
from carbonmap.screening.rooftops import rooftop_weights
from carbonmap.stage import Layer, Stage, StageContext
from carbonmap.words import words

__all__ = ["ScreeningInputs", "prepare_screening", "afforestation", "afforestation_tables", "rooftop_screening",
           "Screening", "SCREENING", "AFFORESTATION_COLOURS"]

#: Colours of the afforestation reason raster: candidate sites green, then excluded reasons.
AFFORESTATION_COLOURS = ("#1a9850", "#d9d9d9", "#bdbdbd", "#969696", "#fdd0a2", "#fdae6b", "#fd8d3c", "#e6550d",
                         "#a63603", "#9e9ac8", "#756bb1", "#54278f", "#c6dbef", "#9ecae1", "#6baed6", "#3182bd")


@dataclass
class ScreeningInputs:
    """The tables and polygons a [screening] section names."""

    parameters: dict[str, float]
    rules: pd.DataFrame
    site_preparation: pd.DataFrame
    growth: pd.DataFrame
    zones: gpd.GeoDataFrame | None  # protection zones, with a ``zone`` column
    vacated: gpd.GeoDataFrame | None
    files: list[tuple[Path, str]] = field(default_factory=list)
    eligibility_rules: pd.DataFrame | None = None  # afforestation_eligibility, with the section's eligibility
    roads: gpd.GeoDataFrame | None = None  # road centre lines, for the roadside-greening rule


def prepare_screening(section: ScreeningSection, crs=None, roads: RoadsSection | None = None) -> ScreeningInputs:
    """Read the tables (with the section's overrides) and the protection and vacated-land polygons;
    with an eligibility rule set, its table and the `roads` (a [roads] section) for its
    roadside-greening rule."""
    inputs = ScreeningInputs(
        coefficients.screening_parameters(section.parameters), coefficients.afforestation_rules(section.rules),
        coefficients.afforestation_site_preparation(section.site_preparation),
        coefficients.afforestation_growth(section.growth), None, None)
    if section.eligibility is not None:
        inputs.eligibility_rules = coefficients.afforestation_eligibility(section.eligibility_rules)
        if roads is not None:
            inputs.roads = read_vector(roads.path, layer=roads.layer, kind="line", assume_crs=roads.assume_crs,
                                       to_crs=crs, encoding=roads.encoding)
            inputs.files.append((roads.path, "roads (roadside-greening rule)"))
    if section.protection_zones is not None:
        zones = read_vector(section.protection_zones, layer=section.protection_zones_layer,
                            columns=[section.protection_field], kind="polygon", to_crs=crs,
                            encoding=section.protection_zones_encoding)
        inputs.zones = zones.rename(columns={section.protection_field: "zone"})
        inputs.files.append((section.protection_zones, "screening protection zones"))
    if section.vacated_land is not None:
        inputs.vacated = read_vector(section.vacated_land, layer=section.vacated_land_layer, kind="polygon",
                                     to_crs=crs, encoding=section.vacated_land_encoding)
        inputs.files.append((section.vacated_land, "vacated land"))
    return inputs


def afforestation(inputs: ScreeningInputs, section: ScreeningSection, landcover, system: str, *, dem=None,
                  precipitation=None, ndvi=None, units: gpd.GeoDataFrame | None = None,
                  habitat: Habitat | None = None, earlier_landcover=None, earlier_system: str | None = None,
                  landuse: gpd.GeoDataFrame | None = None) -> tuple[AfforestationResult, tuple]:
    """Afforestation sites of a land cover and the three restoration scenarios; with the section's
    eligibility rule set, the creditable part of each site (the earlier land cover of
    `earlier_system` and the land-use parcels `landuse`, with ``carbon_category``, feed its rules).

    Without budgets in `section`, the budgeted scenarios get the share
    ``restoration_default_budget_share`` of all candidate area. Returns (the sites, the output
    of :func:`carbonmap.screening.restoration_scenarios`: per unit, citywide, members).
    """
    result = sites_from_rasters(landcover, system, tree_type=section.tree_type, parameters=inputs.parameters,
                                rules=inputs.rules, site_preparation=inputs.site_preparation, growth=inputs.growth,
                                dem=dem, precipitation=precipitation, ndvi=ndvi, zones=inputs.zones,
                                vacated=inputs.vacated, units=units, habitat=habitat,
                                eligibility=section.eligibility, eligibility_rules=inputs.eligibility_rules,
                                earlier_landcover=earlier_landcover, earlier_system=earlier_system,
                                earlier_year=section.earlier_landcover_year, roads=inputs.roads, landuse=landuse,
                                project_start_year=section.project_start_year)
    budget_area = section.budget_area_ha
    if budget_area is None and section.budget_cny is None:
        budget_area = inputs.parameters["restoration_default_budget_share"] * result.sites["area_ha"].sum()
    scenarios = restoration_scenarios(result, budget_area_ha=budget_area if budget_area is not None else np.inf,
                                      budget_cny=section.budget_cny if section.budget_cny is not None else np.inf)
    return result, scenarios


def afforestation_tables(result: AfforestationResult, scenarios: tuple) -> dict[str, pd.DataFrame]:
    """What the stage and ``carbonmap afforestation`` both write: the sites ranked, with their
    scenario membership (``in_<scenario>``), the reasons, and the citywide scenarios."""
    _, citywide, members = scenarios
    sites = result.sites.copy()
    for name, ids in members.items():
        sites[f"in_{name}"] = sites["site_id"].isin(ids)
    tables = {"afforestation_sites": sites, "afforestation_reasons": result.reason_table,
              "restoration_scenarios_citywide": citywide}
    if result.eligibility is not None:
        tables["afforestation_eligibility"] = result.eligibility.assign(rule_set=result.eligibility_name)
    return tables


def rooftop_screening(buildings: gpd.GeoDataFrame, unit_of: pd.Series, parameters: dict[str, float], *,
                      use_field: str | None, uses: list[str] | None, exclusions: gpd.GeoDataFrame | None,
                      usable: pd.Series, top_n: int) -> dict[str, pd.DataFrame]:
    """Roofs ranked for PV and bundled into per-unit packages (what the stage and
    ``carbonmap rank-rooftops`` both write): candidates, packages, the top `top_n` per unit.

    `unit_of` gives each building's unit id ("" outside every unit).
    """
    ranked = rank_rooftops(buildings, weights=rooftop_weights(parameters),
                           min_usable_area_m2=parameters["rooftop_min_usable_area_m2"], use_field=use_field,
                           uses=uses, exclusions=exclusions)
    packages = rooftop_packages(ranked, buildings, unit_of.loc[ranked.index], unit_of, usable, use_field=use_field)
    return {"rooftop_candidates": ranked.assign(unit_id=unit_of.loc[ranked.index]), "rooftop_packages": packages,
            "rooftop_top_per_unit": top_per_unit(ranked, unit_of.loc[ranked.index], n=top_n)}


@dataclass
class Screening:
    """What the scenarios read: the afforestation sites on the grid (``site_labels``, 0 none),
    the site ids of each restoration scenario, each site's unit, area [ha] and sink
    [t CO2/yr], and the CO2 avoided by each unit's rooftop PV package [t CO2/yr]."""

    site_labels: np.ndarray
    scenario_sites: dict[str, list[int]]
    sites: pd.DataFrame
    pv_avoided: pd.Series | None


def run_screening(ctx: StageContext) -> Screening:
    """Rooftops ranked for PV with per-unit packages; afforestation sites ranked; restoration scenarios."""
    cfg, units = ctx.project.screening, ctx.result("units")
    inputs = prepare_screening(cfg, units.grid.crs, roads=ctx.project.roads)
    for path, role in inputs.files:
        ctx.record_input(path, role)
    per_unit, pv_avoided = pd.DataFrame(index=units.ids), None
    renewables = ctx.result("renewables")
    if renewables is not None and renewables.rooftops is not None:
        packages = _screen_rooftops(ctx, inputs, renewables.rooftops)
        per_unit = per_unit.join(packages)
        pv_avoided = packages["pv_package_co2_avoided_t_yr"]
    else:
        ctx.note(words("note.no_rooftop"))
    summary, screening = _screen_afforestation(ctx, inputs)
    ctx.add_summary(per_unit.join(summary))
    screening.pv_avoided = pv_avoided
    return screening


#: Columns of the rooftop top tables and layers.
_TOP_COLUMNS = ["unit_id", "rank", "rank_in_unit", "score", "score_specific_yield_kwh_kwp", "score_payback_yr",
                "score_co2_avoided_t_yr", "roof_class", "usable_area_m2", "capacity_kwp", "yield_kwh_yr",
                "specific_yield_kwh_kwp", "payback_yr", "co2_avoided_t_yr", "capex_cny", "shading_loss_pct"]
_PACKAGE_TOTALS = ["roofs", "capacity_mw", "yield_gwh_yr", "co2_avoided_t_yr", "capex_cny_1e4"]


def _screen_rooftops(ctx: StageContext, inputs: ScreeningInputs, buildings: gpd.GeoDataFrame) -> pd.DataFrame:
    cfg, units = ctx.project.screening, ctx.result("units")
    excluded = None
    if inputs.zones is not None:
        excluded = inputs.zones[inputs.zones["zone"].astype(str).isin(cfg.rooftop_exclusion_zones)]
    unit_of = pd.Series(units.ids_of(buildings["unit"].to_numpy()), index=buildings.index)
    out = rooftop_screening(buildings, unit_of, inputs.parameters, use_field=ctx.project.buildings.use_field,
                            uses=cfg.rooftop_uses, exclusions=excluded,
                            usable=coefficients.rooftop_pv_usable(ctx.project.renewables.rooftop_usable),
                            top_n=cfg.top_n)
    ranked, packages = out["rooftop_candidates"], out["rooftop_packages"].reindex(units.ids)
    packages[_PACKAGE_TOTALS] = packages[_PACKAGE_TOTALS].fillna(0.0)  # units without a candidate roof
    packages["roofs"] = packages["roofs"].astype(int)
    meets = [c for c in packages.columns if c.startswith("meets_target_")]
    packages[meets] = packages[meets].astype("boolean").fillna(False).astype(bool)
    ctx.add_table("rooftop_packages", packages.reset_index())
    top = out["rooftop_top_per_unit"][_TOP_COLUMNS]
    ctx.add_table("rooftop_top_per_unit", top)
    citywide = top_per_unit(ranked, pd.Series("city", index=ranked.index), n=cfg.top_n * 5)
    ctx.add_table("rooftop_top_citywide", citywide[_TOP_COLUMNS[1:]].drop(columns="rank_in_unit"))
    layer = ranked[[*_TOP_COLUMNS[:2], *_TOP_COLUMNS[3:], "geometry"]]
    ctx.add_layer(Layer(name="rooftop_candidates", title=words("layer.rooftop_candidates"), group="screening",
                        frame=layer, column="score", unit="score", in_html=False))
    best = layer.loc[top.index]
    ctx.add_layer(Layer(name="rooftop_top", title=words("layer.rooftop_top", n=cfg.top_n),
                        group="screening", frame=best.set_geometry(best.geometry.centroid), column="score",
                        unit="score"))
    ctx.note(words("note.rooftop", candidates=f"{len(ranked):,}", roofs=f"{len(buildings):,}",
                   mw=f"{packages['capacity_mw'].sum():,.0f}", gwh=f"{packages['yield_gwh_yr'].sum():,.0f}"))
    return packages[_PACKAGE_TOTALS[:-1]].add_prefix("pv_package_")


def _screen_afforestation(ctx: StageContext, inputs: ScreeningInputs) -> tuple[pd.DataFrame, Screening]:
    cfg, units, rasters, network = (ctx.project.screening, ctx.result("units"), ctx.result("rasters"),
                                    ctx.result("network"))
    habitat = (Habitat.from_network(network.on_grid(units.grid.shape), network.settings, units.grid.resolution)
               if network else None)
    emissions = ctx.result("emissions")
    earlier = cfg.earlier_landcover if cfg.eligibility else None
    result, scenarios = afforestation(
        inputs, cfg, rasters.paths[cfg.landcover], rasters.code_systems[cfg.landcover], dem=rasters.optional(cfg.dem),
        precipitation=rasters.optional(cfg.precipitation), ndvi=rasters.optional(cfg.ndvi), units=units.frame,
        habitat=habitat, earlier_landcover=rasters.optional(earlier),
        earlier_system=rasters.code_systems[earlier] if earlier else None,
        landuse=emissions.parcels[["carbon_category", "geometry"]] if cfg.eligibility and emissions else None)
    for note in result.notes:
        ctx.note(words("note.afforestation", note=note))
    per_unit, _, members = scenarios
    tables = afforestation_tables(result, scenarios)
    sites = tables.pop("afforestation_sites")
    sites = sites.assign(unit_id=units.ids_of(sites["unit"].to_numpy())).drop(columns="unit")
    path = write_cog(ctx.file("rasters/afforestation_reasons.tif"), result.reasons, nodata=0,
                     transform=units.grid.transform, crs=units.grid.crs)
    reasons = tables["afforestation_reasons"]
    ctx.add_layer(Layer(name="afforestation_reasons", title=words("layer.afforestation_reasons"),
                        group="screening", raster=path, kind="categorical",
                        labels={str(c): r for c, r in zip(reasons["code"], reasons["reason"])},
                        colours={str(c): AFFORESTATION_COLOURS[min(c - 1, len(AFFORESTATION_COLOURS) - 1)]
                                 for c in reasons["code"]}))
    ctx.add_layer(Layer(name="afforestation_sites", title=words("layer.afforestation_sites"), group="screening",
                        frame=sites, column="score", unit="score", display_tolerance_m=units.grid.resolution))
    for name, table in tables.items():
        ctx.add_table(name, table)
    per_unit = per_unit.assign(unit_id=units.ids_of(per_unit["unit"].to_numpy())).drop(columns="unit")
    ctx.add_table("restoration_scenarios_per_unit", per_unit[["scenario", "unit_id", *per_unit.columns[1:-1]]])
    ctx.note(words("note.afforestation_sites", sites=f"{len(sites):,}", area=f"{sites['area_ha'].sum():,.1f}",
                   sink=f"{sites['sink_t_co2_yr'].sum():,.0f}",
                   years=f"{inputs.parameters['afforestation_horizon_yr']:g}"))
    summary = pd.DataFrame(index=units.ids)
    grouped = sites.groupby("unit_id")
    summary["afforestation_area_ha"] = grouped["area_ha"].sum()
    summary["afforestation_sink_t_co2_yr"] = grouped["sink_t_co2_yr"].sum()
    if result.eligibility is not None:
        summary["afforestation_ccer_area_ha"] = grouped["ccer_area_ha"].sum()
        summary["afforestation_ccer_sink_t_co2_yr"] = grouped["ccer_sink_t_co2_yr"].sum()
        ctx.note(words("note.afforestation_ccer", creditable=f"{sites['ccer_area_ha'].sum():,.1f}",
                       area=f"{sites['area_ha'].sum():,.1f}", rules=translated(result.eligibility_name),
                       sink=f"{sites['ccer_sink_t_co2_yr'].sum():,.0f}"))
    for name in members:
        part = per_unit[per_unit["scenario"] == name].set_index("unit_id")
        summary[f"restoration_{name}_sink_t_co2_yr"] = part["sink_t_co2_yr"]
    scenario_sites = {name: [int(i) for i in ids] for name, ids in members.items()}
    screening = Screening(result.site_labels, scenario_sites,
                          sites[["site_id", "unit_id", "area_ha", "sink_t_co2_yr"]], None)
    return summary.fillna(0.0), screening


def _has_screening(project: Project) -> bool:
    return project.screening is not None


SCREENING = Stage("screening", words("stage.screening"), run_screening,
                  sections=("screening", "buildings", "roads"), reads=("units", "rasters"),
                  uses=("renewables", "network", "emissions"), writes=Screening, applies=_has_screening)
