"""``carbonmap afforestation`` and ``carbonmap rank-rooftops``: site screening from files."""

from __future__ import annotations

from pathlib import Path

import click

from carbonmap.cli.options import assume_crs_opt

_file = click.Path(dir_okay=False, path_type=Path)


@click.command("afforestation", short_help="Candidate afforestation sites, ranked, and restoration scenarios.")
@click.argument("landcover", type=_file)
@click.option("--code-system", required=True, help="Code system of the land cover, e.g. clcd.")
@click.option("--dem", type=_file, default=None, help="Elevation [m] on the land cover's grid (slope rules).")
@click.option("--precipitation", type=_file, default=None, help="Annual precipitation [mm] (trees, shrubs or grass).")
@click.option("--ndvi", type=_file, default=None, help="NDVI (only sparse grassland is plantable).")
@click.option("--zones", type=_file, default=None, help="Protection zones (polygons) named in --zone-field.")
@click.option("--zones-layer", default=None, help="Layer of the zones file.")
@click.option("--zone-field", default="zone", show_default=True, help="Field with the zone names the rules use.")
@click.option("--vacated", type=_file, default=None, help="Vacated land (polygons) eligible whatever its class.")
@click.option("--vacated-layer", default=None, help="Layer of the vacated-land file.")
@click.option("--tree-type", default="broadleaf_subtropical", show_default=True,
              help="Row of afforestation_growth.csv planted where trees grow.")
@click.option("--connectivity/--no-connectivity", default=False, show_default=True,
              help="Build the ecological network (default settings) and score connectivity gains.")
@click.option("--budget-area", type=float, default=None, help="Area budget [ha] of the budgeted scenarios.")
@click.option("--budget-cny", type=float, default=None, help="Cost budget [CNY] of the budgeted scenarios.")
@click.option("--parameters", type=_file, default=None, help="CSV overriding rows of screening_parameters.csv.")
@click.option("--rules", type=_file, default=None, help="CSV overriding rows of afforestation_rules.csv.")
@click.option("-o", "--out", "out_path", type=_file, required=True,
              help="Output GeoPackage: sites (ranked, with scenario membership), reasons, scenarios, parameters.")
@assume_crs_opt
def afforestation(landcover: Path, code_system: str, dem: Path | None, precipitation: Path | None,
                  ndvi: Path | None, zones: Path | None, zones_layer: str | None, zone_field: str,
                  vacated: Path | None, vacated_layer: str | None, tree_type: str, connectivity: bool,
                  budget_area: float | None, budget_cny: float | None, parameters: Path | None, rules: Path | None,
                  out_path: Path, assume_crs: str | None) -> None:
    """Rank the land of LANDCOVER that is suitable for planting (宜林地): every exclusion with
    its reason, 30-year sequestration from growth curves, connectivity gain, a weighted score,
    and three restoration scenarios."""
    import numpy as np

    from carbonmap.coefficients import (
        afforestation_growth,
        afforestation_rules,
        afforestation_site_preparation,
        read_table,
        screening_parameters,
    )
    from carbonmap.io import read_vector, write_geopackage
    from carbonmap.screening import restoration_scenarios
    from carbonmap.screening.afforestation import Habitat, sites_from_rasters

    params = screening_parameters(parameters)
    zone_frame = vacated_frame = habitat = None
    if zones is not None:
        zone_frame = read_vector(zones, layer=zones_layer, columns=[zone_field], kind="polygon",
                                 assume_crs=assume_crs).rename(columns={zone_field: "zone"})
    if vacated is not None:
        vacated_frame = read_vector(vacated, layer=vacated_layer, kind="polygon", assume_crs=assume_crs)
    if connectivity:
        from carbonmap.landscape.network import NetworkSettings, network_from_rasters

        settings = NetworkSettings()
        land, _, network = network_from_rasters(landcover, code_system, dem=dem, settings=settings)
        habitat = Habitat.from_network(network, settings, land.resolution)
    result = sites_from_rasters(landcover, code_system, tree_type=tree_type, parameters=params,
                                rules=afforestation_rules(rules), site_preparation=afforestation_site_preparation(),
                                growth=afforestation_growth(), dem=dem, precipitation=precipitation, ndvi=ndvi,
                                zones=zone_frame, vacated=vacated_frame, habitat=habitat)
    if budget_area is None and budget_cny is None:
        budget_area = params["restoration_default_budget_share"] * result.sites["area_ha"].sum()
    _, citywide, members = restoration_scenarios(
        result, budget_area_ha=np.inf if budget_area is None else budget_area,
        budget_cny=np.inf if budget_cny is None else budget_cny)
    sites = result.sites.drop(columns="unit")
    for name, ids in members.items():
        sites[f"in_{name}"] = sites["site_id"].isin(ids)
    write_geopackage(out_path, {"sites": sites, "reasons": result.reason_table, "scenarios": citywide,
                                "parameters": read_table("screening_parameters", parameters)})
    for note in result.notes:
        click.echo(f"note: {note}")
    click.echo(f"{len(sites)} sites, {sites['area_ha'].sum():,.1f} ha, {sites['sink_t_co2_yr'].sum():,.0f} "
               f"t CO2/yr over {params['afforestation_horizon_yr']:g} years -> {out_path}")


@click.command("rank-rooftops", short_help="Rank roofs for PV and bundle them into per-unit packages.")
@click.argument("rooftop_pv", type=_file)
@click.option("--layer", default="rooftop_pv", show_default=True, help="Layer of the rooftop-pv output.")
@click.option("--use-field", default=None, help="Building use field (public, commercial, industrial, residential).")
@click.option("--uses", default=None, metavar="USE,USE,...", help="Only these building uses (default: all).")
@click.option("--units", type=_file, default=None, help="Planning units (polygons) for the packages.")
@click.option("--units-layer", default=None, help="Layer of the units file.")
@click.option("--unit-id-field", default=None, help="Unit id field (default: the row number).")
@click.option("--exclusions", type=_file, default=None, help="Polygons where roofs are left out (e.g. heritage).")
@click.option("--top", "top_n", type=int, default=10, show_default=True, help="Best roofs per unit in the table.")
@click.option("--parameters", type=_file, default=None, help="CSV overriding rows of screening_parameters.csv.")
@click.option("-o", "--out", "out_path", type=_file, required=True,
              help="Output GeoPackage: candidates (ranked), packages, top_per_unit, parameters.")
@assume_crs_opt
def rank_rooftops(rooftop_pv: Path, layer: str, use_field: str | None, uses: str | None, units: Path | None,
                  units_layer: str | None, unit_id_field: str | None, exclusions: Path | None, top_n: int,
                  parameters: Path | None, out_path: Path, assume_crs: str | None) -> None:
    """Rank the roofs of ROOFTOP_PV (the output of `carbonmap rooftop-pv`) by specific yield,
    payback and CO2 avoided, and bundle the candidates of each planning unit into a package with
    the share of public, commercial/industrial and residential roof area covered."""
    import geopandas as gpd
    import numpy as np
    import pandas as pd

    from carbonmap.coefficients import read_table, rooftop_pv_usable, screening_parameters
    from carbonmap.io import read_vector, write_geopackage
    from carbonmap.screening import rank_rooftops as rank, rooftop_packages, top_per_unit
    from carbonmap.screening.rooftops import rooftop_weights

    params = screening_parameters(parameters)
    roofs = read_vector(rooftop_pv, layer=layer, kind="polygon", assume_crs=assume_crs)
    unit = pd.Series("all", index=roofs.index)
    if units is not None:
        zones = read_vector(units, layer=units_layer, columns=[unit_id_field] if unit_id_field else (),
                            kind="polygon", assume_crs=assume_crs).to_crs(roofs.crs)
        ids = zones[unit_id_field].astype(str) if unit_id_field else pd.Series(np.arange(len(zones)).astype(str))
        centres = gpd.GeoDataFrame(geometry=roofs.geometry.centroid, crs=roofs.crs)
        joined = gpd.sjoin(centres, zones.assign(unit_id=ids.to_numpy())[["unit_id", "geometry"]],
                           predicate="within", how="left")
        unit = joined[~joined.index.duplicated()]["unit_id"].fillna("").reindex(roofs.index)
    excluded = read_vector(exclusions, kind="polygon", assume_crs=assume_crs) if exclusions else None
    ranked = rank(roofs, weights=rooftop_weights(params), min_usable_area_m2=params["rooftop_min_usable_area_m2"],
                  use_field=use_field, uses=uses.split(",") if uses else None, exclusions=excluded)
    packages = rooftop_packages(ranked, roofs, unit.loc[ranked.index], unit, rooftop_pv_usable(), use_field=use_field)
    write_geopackage(out_path, {"candidates": ranked.assign(unit_id=unit.loc[ranked.index]),
                                "packages": packages.reset_index(),
                                "top_per_unit": top_per_unit(ranked, unit.loc[ranked.index], top_n),
                                "parameters": read_table("screening_parameters", parameters)})
    click.echo(f"{len(ranked):,} of {len(roofs):,} roofs are candidates: {packages['capacity_mw'].sum():,.1f} MW, "
               f"{packages['yield_gwh_yr'].sum():,.2f} GWh/yr in {len(packages)} package(s) -> {out_path}")
