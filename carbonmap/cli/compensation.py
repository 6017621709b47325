"""``carbonmap compensation UNITS -o OUT.gpkg``: carbon compensation zoning and network of planning units."""

from __future__ import annotations

from pathlib import Path

import click

from carbonmap.cli.options import FILE, assume_crs_opt, keys_as_options, layer_opt, output_opt


#: The [compensation] keys this command takes as options (errors name the option).
_OPTIONS = {"compensation.restriction": "--restriction", "compensation.zone_field": "--zone-field",
            "compensation.carbon_price": "--price", "compensation.corrections": "--corrections",
            "compensation.cost": "--cost", "compensation.classes": "--classes",
            "compensation.parameters": "--parameters"}


def _price(text: str | None) -> float | str | None:
    """A number [CNY/t CO2], or the name of a row of carbon_prices.csv."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        return text


@click.command(short_help="Carbon compensation zoning (paying / receiving units) and the network of pairs.")
@click.argument("units", type=FILE)
@layer_opt
@click.option("--id-field", default="unit_id", show_default=True, help="Id field of the units.")
@click.option("--source-field", default="source_co2_t_yr", show_default=True, help="Sources [t CO2/yr].")
@click.option("--sink-field", default="sink_co2_t_yr", show_default=True, help="Sinks [t CO2/yr].")
@click.option("--gdp-field", default=None, help="Output (any currency): the economic-contribution coefficient.")
@click.option("--corrections", default="", metavar="economic,ecological",
              help="Correct the compensation rate by these coefficients (default: none).")
@click.option("--classes", type=FILE, default=None, help="CSV overriding rows of compensation_classes.csv.")
@click.option("--parameters", type=FILE, default=None, help="CSV overriding rows of compensation_parameters.csv.")
@click.option("--price", default=None, metavar="CNY|MARKET:YEAR",
              help="Carbon price [CNY/t CO2], or a row of carbon_prices.csv, e.g. china_national_ets:2024.")
@click.option("--restriction", type=click.Choice(["none", "neighbours", "zone"]), default="none", show_default=True,
              help="Pair any units, only neighbours, or only units of the same --zone-field.")
@click.option("--zone-field", default=None, help="Field of main functional zones (with --restriction zone).")
@click.option("--cost", type=FILE, default=None, help="CSV of payer_id, receiver_id, cost: used instead of distances.")
@output_opt("GeoPackage: compensation_zoning (units), compensation_flows (lines), compensation_pairs and the "
            "coefficient tables used.")
@assume_crs_opt
def compensation(units: Path, layer: str | None, id_field: str, source_field: str, sink_field: str,
                 gdp_field: str | None, corrections: str, classes: Path | None, parameters: Path | None,
                 price: str | None, restriction: str, zone_field: str | None, cost: Path | None, output: Path,
                 assume_crs: str | None) -> None:
    """Compensation zoning of the planning UNITS (polygons with sources and sinks per unit, e.g. the
    unit_summary layer of a run's onemap.gpkg) and the least-distance pairs of payers and receivers,
    with the same preparation and functions as a run's compensation stage."""
    from carbonmap.coefficients import recording_tables
    from carbonmap.config import CompensationSection, UnitsSection
    from carbonmap.grid import ensure_projected
    from carbonmap.io import read_vector, write_geopackage
    from carbonmap.themes.compensation import compensation_note, compensation_tables, prepare_compensation

    fields = [f for f in (id_field, source_field, sink_field, gdp_field) if f]
    frame = ensure_projected(read_vector(units, layer=layer, columns=fields, kind="polygon", assume_crs=assume_crs,
                                         id_field=id_field), what=str(units))  # a missing field is named
    frame = frame.set_index(frame[id_field].astype(str).rename("unit_id"))
    section = CompensationSection(corrections=[c.strip() for c in corrections.split(",") if c.strip()],
                                  classes=classes, parameters=parameters, carbon_price=_price(price),
                                  restriction=restriction, zone_field=zone_field, cost=cost)
    if "economic" in section.corrections and not gdp_field:
        raise click.UsageError("--corrections economic needs the units' output: give --gdp-field.")
    with recording_tables() as tables_read, keys_as_options(_OPTIONS):
        inputs = prepare_compensation(section, UnitsSection(path=units, id_field=id_field, layer=layer,
                                                            assume_crs=assume_crs))
        result = compensation_tables(inputs, frame[[frame.geometry.name]], frame[source_field], frame[sink_field],
                                     frame[gdp_field] if gdp_field else None)
    zoning = frame[[frame.geometry.name]].join(result.zoning).reset_index()
    write_geopackage(output, {"compensation_zoning": zoning, "compensation_flows": result.lines,
                              "compensation_pairs": result.pairs, **tables_read})
    click.echo(f"{compensation_note(inputs, result)} -> {output}")
