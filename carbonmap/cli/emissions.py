"""``carbonmap emissions PARCELS ...``: emissions on parcels, standalone."""

from __future__ import annotations

from pathlib import Path

import click

from carbonmap.cli.options import FILE, assume_crs_opt, code_system_opt, layer_opt, output_opt, units_opts


def _proxies(ctx, param, values: tuple[str, ...]) -> dict[str, str]:
    from carbonmap.emissions import PROXY_CHOICES

    out = {}
    for value in values:
        sector, _, proxy = value.partition("=")
        if sector not in PROXY_CHOICES or proxy not in PROXY_CHOICES[sector]:
            choices = "; ".join(f"{s}={'|'.join(p)}" for s, p in PROXY_CHOICES.items())
            raise click.BadParameter(f"{value!r}: use SECTOR=PROXY with {choices}.")
        out[sector] = proxy
    return out


@click.command(short_help="Account emissions on land-use parcels (coefficients + inventory).")
@click.argument("parcels", type=FILE)
@click.option("--code-field", required=True, help="Parcel field holding the land-use code.")
@code_system_opt
@click.option("--crosswalk", type=FILE, default=None,
              help="CSV mapping codes the table does not know (code,maps_to or code,space,carbon_category,ecological).")
@click.option("--inventory", type=FILE, default=None, help="City inventory CSV: sector, sub_sector, co2_t_yr, year.")
@click.option("--allow-unallocated", is_flag=True,
              help="Accept inventory rows no proxy feature can take (warned); without it they are an error.")
@click.option("--buildings", type=FILE, default=None,
              help="Building footprints with floors (or height) and use: the buildings and industry proxy.")
@click.option("--buildings-layer", default=None, help="Layer of --buildings.")
@click.option("--floors-field", default="floors", show_default=True, help="Floor count field of --buildings.")
@click.option("--height-field", default=None, help="Height field [m] of --buildings, where floors are missing.")
@click.option("--storey-height", type=float, default=3.0, show_default=True, help="Metres per floor.")
@click.option("--use-field", default="use", show_default=True, help="Building use field of --buildings.")
@click.option("--roads", type=FILE, default=None, help="Road centre lines: the transport proxy.")
@click.option("--roads-layer", default=None, help="Layer of --roads.")
@click.option("--roads-class-field", default="road_class", show_default=True, help="Road class field of --roads.")
@click.option("--road-weights", type=FILE, default=None, help="CSV overriding rows of road_class_weights.csv.")
@click.option("--point-sources", type=FILE, default=None, help="Large emitters (points), placed before the proxies.")
@click.option("--point-sources-layer", default=None, help="Layer of --point-sources.")
@click.option("--point-sources-emissions-field", default="co2_t_yr", show_default=True,
              help="Emissions field [t CO2/yr] of --point-sources.")
@click.option("--point-sources-sector-field", default="sector", show_default=True,
              help="Sector field of --point-sources.")
@click.option("--coefficients", type=FILE, default=None,
              help="CSV overriding rows of landuse_carbon_coefficients.csv.")
@click.option("--proxy", "proxies", multiple=True, callback=_proxies, metavar="SECTOR=PROXY",
              help="The proxy of a sector, e.g. --proxy transport=transport_land (repeatable).")
@units_opts
@click.option("--crs", default=None, metavar="CRS",
              help="Projected CRS to measure in (default: Albers equal-area centred on the units or parcels).")
@output_opt("Output GeoPackage: parcel_emissions, the coefficients used, the allocation report, unit_balance.")
@layer_opt
@assume_crs_opt
def emissions(parcels: Path, code_field: str, code_system: str, crosswalk: Path | None, inventory: Path | None,
              allow_unallocated: bool, buildings: Path | None, buildings_layer: str | None, floors_field: str,
              height_field: str | None, storey_height: float, use_field: str, roads: Path | None,
              roads_layer: str | None, roads_class_field: str, road_weights: Path | None, point_sources: Path | None,
              point_sources_layer: str | None, point_sources_emissions_field: str, point_sources_sector_field: str,
              coefficients: Path | None, proxies: dict[str, str], units: Path | None, units_layer: str | None,
              units_id_field: str | None, crs: str | None, output: Path, layer: str | None,
              assume_crs: str | None) -> None:
    """Emissions and removals of each parcel of PARCELS, written to a GeoPackage, with the same
    preparation and accounting as a run's emissions stage. Areas and lengths are measured in an
    equal-area CRS (--crs)."""
    from carbonmap.balance import unit_balance
    from carbonmap.cli.options import units_section
    from carbonmap.coefficients import recording_tables
    from carbonmap.config import (
        BuildingsSection,
        EmissionsSection,
        InventorySection,
        ParcelsSection,
        PointSourcesSection,
        RoadsSection,
    )
    from carbonmap.grid import equal_area_crs
    from carbonmap.io import read_vector, reproject, write_geopackage
    from carbonmap.themes.emissions import account, emission_tables, prepare_emissions
    from carbonmap.themes.inputs import read_units

    zones = read_units(units_section(units, units_layer, units_id_field, assume_crs)) if units else None
    if crs is None:  # an equal-area CRS centred on the study area, as the run's "auto" grid
        extent = zones if zones is not None else read_vector(parcels, layer=layer, kind="polygon",
                                                             assume_crs=assume_crs)
        crs = equal_area_crs(*extent.to_crs(4326).total_bounds)
    with recording_tables() as tables_read:
        inputs = prepare_emissions(
            ParcelsSection(path=parcels, code_field=code_field, code_system=code_system, layer=layer,
                           crosswalk=crosswalk, assume_crs=assume_crs),
            settings=EmissionsSection(coefficients=coefficients, road_weights=road_weights, proxies=proxies), crs=crs,
            buildings=buildings and BuildingsSection(path=buildings, layer=buildings_layer, floors_field=floors_field,
                                                     height_field=height_field, storey_height_m=storey_height,
                                                     use_field=use_field, assume_crs=assume_crs),
            roads=roads and RoadsSection(path=roads, layer=roads_layer, class_field=roads_class_field,
                                         assume_crs=assume_crs),
            point_sources=point_sources and PointSourcesSection(
                path=point_sources, layer=point_sources_layer, emissions_field=point_sources_emissions_field,
                sector_field=point_sources_sector_field, assume_crs=assume_crs),
            inventory=inventory and InventorySection(path=inventory, allow_unallocated=allow_unallocated))
        zones = reproject(zones, crs, kind="polygon") if zones is not None else None
        result, unallocated = account(inputs, zones)
    layers = {**emission_tables(inputs, result), **tables_read}
    if zones is not None:
        balance = unit_balance(result.unit_sources, result.unit_sinks)
        layers["unit_balance"] = zones[["unit_id", "geometry"]].join(balance)
    write_geopackage(output, layers)
    parcel_table = layers["parcel_emissions"]
    click.echo(f"wrote {output}: {len(parcel_table)} parcels, sources {parcel_table['source_co2_t_yr'].sum():,.0f} "
               f"t CO2/yr, removals {parcel_table['coef_removal_co2_t_yr'].sum():,.0f} t CO2/yr")
    for note in inputs.notes + result.notes:
        click.echo(f"note: {note}")
    for line in unallocated:
        click.echo(f"warning: {line}", err=True)
