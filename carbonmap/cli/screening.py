"""``carbonmap afforestation`` and ``carbonmap rank-rooftops``: site screening from files."""

from __future__ import annotations

from pathlib import Path

import click

from carbonmap.cli.options import FILE, assume_crs_opt, code_system_opt, layer_opt, output_opt, units_opts


@click.command("afforestation", short_help="Candidate afforestation sites, ranked, and restoration scenarios.")
@click.argument("landcover", type=FILE)
@code_system_opt
@click.option("--dem", type=FILE, default=None, help="Elevation [m] (slope rules), aligned to the land cover's grid.")
@click.option("--precipitation", type=FILE, default=None, help="Annual precipitation [mm] (trees, shrubs or grass).")
@click.option("--ndvi", type=FILE, default=None, help="NDVI (only sparse grassland is plantable).")
@click.option("--zones", type=FILE, default=None, help="Protection zones (polygons) named in --zones-field.")
@click.option("--zones-layer", default=None, help="Layer of --zones.")
@click.option("--zones-field", default="zone", show_default=True, help="Field of --zones with the names the rules use.")
@click.option("--vacated", type=FILE, default=None, help="Vacated land (polygons) eligible whatever its class.")
@click.option("--vacated-layer", default=None, help="Layer of --vacated.")
@click.option("--tree-type", default="broadleaf_subtropical", show_default=True,
              help="Row of afforestation_growth.csv planted where trees grow.")
@click.option("--connectivity/--no-connectivity", default=False, show_default=True,
              help="Build the ecological network (default settings) and score connectivity gains.")
@click.option("--budget-area", type=float, default=None, help="Area budget [ha] of the budgeted scenarios.")
@click.option("--budget-cny", type=float, default=None, help="Cost budget [CNY] of the budgeted scenarios.")
@click.option("--parameters", type=FILE, default=None, help="CSV overriding rows of screening_parameters.csv.")
@click.option("--rules", type=FILE, default=None, help="CSV overriding rows of afforestation_rules.csv.")
@click.option("--site-preparation", type=FILE, default=None,
              help="CSV overriding rows of afforestation_site_preparation.csv.")
@click.option("--growth", type=FILE, default=None, help="CSV overriding rows of afforestation_growth.csv.")
@click.option("--eligibility", default=None, metavar="RULE_SET",
              help="Rule set of afforestation_eligibility.csv applied after the technical rules (e.g. ccer_2023).")
@click.option("--eligibility-rules", type=FILE, default=None,
              help="CSV overriding rows of afforestation_eligibility.csv.")
@click.option("--earlier-landcover", type=FILE, default=None,
              help="An earlier land cover (same code system unless --earlier-code-system) for 'not forest before'.")
@click.option("--earlier-code-system", default=None,
              help="Code system of --earlier-landcover (default: --code-system).")
@click.option("--earlier-year", type=int, default=None, help="Year of --earlier-landcover.")
@click.option("--roads", type=FILE, default=None, help="Road centre lines (the roadside-greening rule).")
@click.option("--roads-layer", default=None, help="Layer of --roads.")
@click.option("--parcels", type=FILE, default=None,
              help="Land-use parcels (the urban, village and industrial land rule).")
@click.option("--parcels-layer", default=None, help="Layer of --parcels.")
@click.option("--parcels-code-field", default="code", show_default=True, help="Land-use code field of --parcels.")
@click.option("--parcels-code-system", default=None, help="Code system of --parcels (e.g. ydyh_2023).")
@click.option("--project-start-year", type=int, default=None,
              help="Year the project starts (parcel size: 667 m2 up to 2019, 400 m2 after).")
@output_opt("Output GeoPackage: the sites (ranked, with scenario membership), reasons, scenarios, tables used.")
@assume_crs_opt
def afforestation(landcover: Path, code_system: str, dem: Path | None, precipitation: Path | None,
                  ndvi: Path | None, zones: Path | None, zones_layer: str | None, zones_field: str,
                  vacated: Path | None, vacated_layer: str | None, tree_type: str, connectivity: bool,
                  budget_area: float | None, budget_cny: float | None, parameters: Path | None, rules: Path | None,
                  site_preparation: Path | None, growth: Path | None, eligibility: str | None,
                  eligibility_rules: Path | None, earlier_landcover: Path | None, earlier_code_system: str | None,
                  earlier_year: int | None, roads: Path | None, roads_layer: str | None, parcels: Path | None,
                  parcels_layer: str | None, parcels_code_field: str, parcels_code_system: str | None,
                  project_start_year: int | None, output: Path, assume_crs: str | None) -> None:
    """Rank the land of LANDCOVER that is suitable for planting (宜林地), with the same preparation
    and rules as a run's screening stage: every exclusion with its reason, 30-year sequestration
    from growth curves, connectivity gain, a weighted score, and three restoration scenarios.
    The other rasters are aligned to the land cover's grid first."""
    import tempfile

    from carbonmap.coefficients import afforestation_growth, recording_tables
    from carbonmap.config import NetworkSection, RoadsSection, ScreeningSection
    from carbonmap.errors import InputError
    from carbonmap.io import read_vector, write_geopackage
    from carbonmap.landuse import classify
    from carbonmap.screening.afforestation import Habitat
    from carbonmap.themes.inputs import align_on_landcover
    from carbonmap.themes.network import build_network, prepare_network
    from carbonmap.themes.screening import afforestation as screen
    from carbonmap.themes.screening import afforestation_tables, prepare_screening

    types = afforestation_growth(growth).index
    if tree_type not in types:  # as the project file's check, before any work
        raise InputError(f"unknown tree type {tree_type!r}.", key="--tree-type",
                         fix=f"use one of {', '.join(types)}, or add a row with --growth.")
    if earlier_landcover is not None and earlier_year is None:
        raise InputError("--earlier-landcover needs --earlier-year.", key="--earlier-year",
                         fix="e.g. --earlier-year 2015")
    if parcels is not None and parcels_code_system is None:
        raise InputError("--parcels needs --parcels-code-system.", key="--parcels-code-system",
                         fix="e.g. --parcels-code-system ydyh_2023")
    section = ScreeningSection(landcover=str(landcover), tree_type=tree_type, protection_zones=zones,
                               protection_zones_layer=zones_layer, protection_field=zones_field, vacated_land=vacated,
                               vacated_land_layer=vacated_layer, budget_area_ha=budget_area, budget_cny=budget_cny,
                               parameters=parameters, rules=rules, site_preparation=site_preparation, growth=growth,
                               eligibility=eligibility,
                               earlier_landcover=None if earlier_landcover is None else "earlier",
                               earlier_landcover_year=earlier_year, project_start_year=project_start_year,
                               eligibility_rules=eligibility_rules)
    with tempfile.TemporaryDirectory(prefix="carbonmap-") as folder, recording_tables() as tables_read:
        grid_landcover, aligned = align_on_landcover(
            landcover, {"dem": dem, "precipitation": precipitation, "ndvi": ndvi}, Path(folder), crs=assume_crs)
        earlier = None
        if earlier_landcover is not None and eligibility is not None:
            from carbonmap.grid import align_raster, metric_grid_of

            earlier = align_raster(earlier_landcover, metric_grid_of(landcover, crs=assume_crs), kind="categorical",
                                   dst_path=Path(folder) / "earlier_landcover.tif", crs=assume_crs)
        inputs = prepare_screening(section, roads=None if roads is None else RoadsSection(
            path=roads, layer=roads_layer, assume_crs=assume_crs))
        landuse = None
        if parcels is not None and eligibility is not None:
            frame = read_vector(parcels, layer=parcels_layer, columns=[parcels_code_field], kind="polygon",
                                assume_crs=assume_crs)
            frame["carbon_category"] = classify(frame[parcels_code_field], parcels_code_system, path=parcels,
                                                field=parcels_code_field)["carbon_category"].to_numpy()
            landuse = frame
        habitat = None
        if connectivity:
            network = prepare_network(NetworkSection(landcover=str(landcover)))
            land, _, result = build_network(network, grid_landcover, code_system, dem=aligned["dem"])
            habitat = Habitat.from_network(result, network.settings, land.resolution)
        result, scenarios = screen(inputs, section, grid_landcover, code_system, **aligned, habitat=habitat,
                                   earlier_landcover=earlier, earlier_system=earlier_code_system or code_system,
                                   landuse=landuse)
    tables = afforestation_tables(result, scenarios)
    tables["afforestation_sites"] = tables["afforestation_sites"].drop(columns="unit")
    write_geopackage(output, {**tables, **tables_read})
    for note in result.notes:
        click.echo(f"note: {note}")
    sites = tables["afforestation_sites"]
    click.echo(f"{len(sites)} sites, {sites['area_ha'].sum():,.1f} ha, {sites['sink_t_co2_yr'].sum():,.0f} "
               f"t CO2/yr over {inputs.parameters['afforestation_horizon_yr']:g} years -> {output}")
    if eligibility is not None:
        click.echo(f"creditable under {eligibility}: {sites['ccer_area_ha'].sum():,.1f} ha, "
                   f"{sites['ccer_sink_t_co2_yr'].sum():,.0f} t CO2/yr")


@click.command("rank-rooftops", short_help="Rank roofs for PV and bundle them into per-unit packages.")
@click.argument("rooftop_pv", type=FILE)
@layer_opt
@click.option("--use-field", default=None, help="Building use field (public, commercial, industrial, residential).")
@click.option("--uses", default=None, metavar="USE,USE,...", help="Only these building uses (default: all).")
@units_opts
@click.option("--exclusions", type=FILE, default=None, help="Polygons where roofs are left out (e.g. heritage).")
@click.option("--exclusions-layer", default=None, help="Layer of --exclusions.")
@click.option("--top", "top_n", type=click.IntRange(min=1), default=10, show_default=True,
              help="Best roofs per unit in the table.")
@click.option("--parameters", type=FILE, default=None, help="CSV overriding rows of screening_parameters.csv.")
@click.option("--rooftop-usable", type=FILE, default=None, help="CSV overriding rows of rooftop_pv_usable.csv.")
@output_opt("Output GeoPackage: rooftop_candidates (ranked), rooftop_packages, rooftop_top_per_unit, tables used.")
@assume_crs_opt
def rank_rooftops(rooftop_pv: Path, layer: str | None, use_field: str | None, uses: str | None, units: Path | None,
                  units_layer: str | None, units_id_field: str | None, exclusions: Path | None,
                  exclusions_layer: str | None, top_n: int, parameters: Path | None, rooftop_usable: Path | None,
                  output: Path, assume_crs: str | None) -> None:
    """Rank the roofs of ROOFTOP_PV (the output of `carbonmap rooftop-pv`) by specific yield,
    payback and CO2 avoided, and bundle the candidates of each planning unit into a package with
    the share of public, commercial/industrial and residential roof area covered (as a run's
    screening stage does)."""
    import numpy as np
    import pandas as pd

    from carbonmap import coefficients
    from carbonmap.cli.options import units_section
    from carbonmap.errors import MissingColumnError
    from carbonmap.io import read_vector, write_geopackage
    from carbonmap.screening.rooftops import RANKED_FIELDS
    from carbonmap.themes.inputs import read_units
    from carbonmap.themes.renewables import unit_of_features
    from carbonmap.themes.screening import rooftop_screening

    try:
        roofs = read_vector(rooftop_pv, layer=layer or "rooftop_pv", kind="polygon", assume_crs=assume_crs,
                            columns=[*RANKED_FIELDS, *([use_field] if use_field else [])])
    except MissingColumnError as exc:
        raise MissingColumnError(exc.problem, path=exc.path, layer=exc.layer, field=exc.field,
                                 fix="give the output of `carbonmap rooftop-pv` (its layer rooftop_pv), or name "
                                 "the use field it has (--use-field).") from exc
    unit_of = pd.Series("all", index=roofs.index)
    if units is not None:
        zones = read_units(units_section(units, units_layer, units_id_field, assume_crs))
        number = unit_of_features(roofs, zones)
        unit_of = pd.Series(np.append(zones.index.to_numpy(), "")[number], index=roofs.index)
    excluded = read_vector(exclusions, layer=exclusions_layer, kind="polygon", assume_crs=assume_crs) \
        if exclusions else None
    with coefficients.recording_tables() as tables_read:
        out = rooftop_screening(roofs, unit_of, coefficients.screening_parameters(parameters), use_field=use_field,
                                uses=uses.split(",") if uses else None, exclusions=excluded,
                                usable=coefficients.rooftop_pv_usable(rooftop_usable), top_n=top_n)
    packages = out["rooftop_packages"]
    write_geopackage(output, {**out, "rooftop_packages": packages.reset_index(), **tables_read})
    click.echo(f"{len(out['rooftop_candidates']):,} of {len(roofs):,} roofs are candidates: "
               f"{packages['capacity_mw'].sum():,.1f} MW, {packages['yield_gwh_yr'].sum():,.2f} GWh/yr in "
               f"{len(packages)} package(s) -> {output}")
