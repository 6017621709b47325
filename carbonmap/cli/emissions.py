"""``carbonmap emissions PARCELS ...``: emissions on parcels, standalone."""

from __future__ import annotations

from pathlib import Path

import click

from carbonmap.cli.options import assume_crs_opt, layer_opt


@click.command(short_help="Account emissions on land-use parcels (coefficients + inventory).")
@click.argument("parcels", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--code-field", required=True, help="Parcel attribute holding the land-use code.")
@click.option("--code-system", required=True, help="Code system, e.g. ydyh_2023, gb_t_21010_2017, euluc_china.")
@click.option("--crosswalk", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV mapping codes the table does not know (code,maps_to or code,space,carbon_category,ecological).")
@click.option("--inventory", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="City inventory CSV: sector, sub_sector, co2_t_yr, year.")
@click.option("--buildings", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Building footprints with floors (or height) and use: the buildings and industry proxy.")
@click.option("--floors-field", default="floors", show_default=True)
@click.option("--height-field", default=None, help="Used where floors are missing (height / 3 m).")
@click.option("--use-field", default="use", show_default=True)
@click.option("--roads", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Road centre lines with a road_class: the transport proxy.")
@click.option("--point-sources", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Points with sector and co2_t_yr, placed before the proxies.")
@click.option("--units", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Planning units: adds a per-unit balance layer.")
@click.option("--units-id-field", default=None, help="Id attribute of the planning units.")
@click.option("--coefficients", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Coefficient override table (columns of carbonmap's landuse_carbon_coefficients.csv).")
@click.option("--buildings-layer", default=None, help="Layer of --buildings.")
@click.option("--roads-layer", default=None, help="Layer of --roads.")
@click.option("--point-sources-layer", default=None, help="Layer of --point-sources.")
@click.option("--units-layer", default=None, help="Layer of --units.")
@click.option("--crs", default=None, metavar="CRS",
              help="Projected CRS to measure in (default: Albers equal-area centred on the units or parcels).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output GeoPackage.")
@layer_opt
@assume_crs_opt
def emissions(parcels: Path, code_field: str, code_system: str, crosswalk: Path | None,
              inventory: Path | None, buildings: Path | None, floors_field: str, height_field: str | None,
              use_field: str, roads: Path | None, point_sources: Path | None, units: Path | None,
              units_id_field: str | None, coefficients: Path | None, buildings_layer: str | None,
              roads_layer: str | None, point_sources_layer: str | None, units_layer: str | None,
              crs: str | None, output: Path, layer: str | None, assume_crs: str | None) -> None:
    """Emissions and removals of each parcel of PARCELS, written to a GeoPackage: layer
    parcel_emissions, the coefficients used, the inventory allocation report and, with
    --units, unit_balance. Areas and lengths are measured in an equal-area CRS (--crs)."""
    import pandas as pd

    from carbonmap.balance import unit_balance
    from carbonmap.coefficients import landuse_coefficients, road_class_weights
    from carbonmap.emissions import account_emissions, floor_area_m2
    from carbonmap.grid import equal_area_crs
    from carbonmap.io import read_vector, reproject, write_geopackage
    from carbonmap.landuse import classify

    frame = read_vector(parcels, layer=layer, columns=[code_field], kind="polygon", assume_crs=assume_crs)
    zones = None
    if units is not None:
        zones = read_vector(units, layer=units_layer, columns=[units_id_field] if units_id_field else (),
                            kind="polygon", assume_crs=assume_crs)
    # measure in an equal-area CRS centred on the study area, as the pipeline's "auto" grid does
    extent = zones if zones is not None else frame
    crs = crs or equal_area_crs(*extent.to_crs(4326).total_bounds)
    frame = reproject(frame, crs, kind="polygon")
    classes = classify(frame[code_field], code_system, crosswalk=crosswalk, path=parcels, field=code_field)
    table = landuse_coefficients(coefficients)
    extra = {}
    if inventory is not None:
        extra["inventory"] = pd.read_csv(inventory, dtype={"sub_sector": str}, keep_default_na=False,
                                         na_values={"co2_t_yr": [""]})
    if buildings is not None:
        b = read_vector(buildings, layer=buildings_layer, columns=[use_field], kind="polygon",
                        assume_crs=assume_crs, to_crs=crs)
        extra.update(buildings=b, use_field=use_field,
                     floor_area=floor_area_m2(b, floors_field=floors_field, height_field=height_field)[0])
    if roads is not None:
        extra.update(roads=read_vector(roads, layer=roads_layer, kind="line", assume_crs=assume_crs, to_crs=crs),
                     road_weights=road_class_weights())
    if point_sources is not None:
        extra["point_sources"] = read_vector(point_sources, layer=point_sources_layer,
                                             columns=["sector", "co2_t_yr"], kind="point",
                                             assume_crs=assume_crs, to_crs=crs)
    if zones is not None:
        zones = reproject(zones, crs, kind="polygon")
        if units_id_field:
            zones = zones.set_index(units_id_field)
    account = account_emissions(frame, classes["carbon_category"], table, codes=classes["code"],
                                system=code_system, units=zones, **extra)
    layers = {"parcel_emissions": account.parcels,
              "coefficients_landuse": table[table["coef_id"].isin(set(account.parcels["coef_id"]))]}
    if len(account.report):
        layers["emissions_inventory_allocation"] = account.report
    if zones is not None:
        balance = unit_balance(account.unit_sources, account.unit_sinks)
        layers["unit_balance"] = zones[["geometry"]].join(balance).reset_index()
    write_geopackage(output, layers)
    total = account.parcels["source_co2_t_yr"].sum()
    click.echo(f"wrote {output}: {len(frame)} parcels, sources {total:,.0f} t CO2/yr, "
               f"removals {account.parcels['coef_removal_co2_t_yr'].sum():,.0f} t CO2/yr")
    for note in account.notes:
        click.echo(f"note: {note}")
