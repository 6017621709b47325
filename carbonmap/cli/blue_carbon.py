"""``carbonmap blue-carbon SNAPSHOTS BIOPHYSICAL TRANSITIONS -o DIR``: coastal blue carbon over time
(InVEST Coastal Blue Carbon); with ``--template``, the transition table's template (its preprocessor)."""

from __future__ import annotations

from pathlib import Path

import click

from carbonmap.cli.options import FILE, assume_crs_opt, output_opt, units_opts, units_section


@click.command("blue-carbon", short_help="Coastal blue carbon over time (InVEST Coastal Blue Carbon).")
@click.argument("snapshots", type=FILE)
@click.argument("biophysical", type=FILE)
@click.argument("transitions", type=FILE, required=False)
@click.option("--analysis-year", type=int, default=None,
              help="Last year of the analysis (after the last snapshot; default: the last snapshot's year).")
@click.option("--price", type=float, default=None, help="Price per t CO2 in the baseline year (enables valuation).")
@click.option("--price-change", type=float, default=0.0, show_default=True,
              help="Annual rate of change of --price [%].")
@click.option("--prices", type=FILE, default=None, help="Price table instead of --price (CSV: year, price).")
@click.option("--discount-rate", type=float, default=None, help="Annual discount rate [%] (with --price or --prices).")
@click.option("--convention", type=click.Choice(["invest", "user_guide"]), default="invest", show_default=True,
              help="Where InVEST's code and user guide differ, follow the code (invest) or the guide.")
@click.option("--template", is_flag=True,
              help="Write the transition table's template from SNAPSHOTS instead (InVEST's preprocessor); "
                   "BIOPHYSICAL is then the lookup table: lucode, lulc-class, is_coastal_blue_carbon_habitat.")
@units_opts
@output_opt("Output folder: carbon-stock-at-YEAR.tif, total-net-carbon-sequestration.tif, ... (InVEST's names, "
            "t CO2/ha), blue_carbon_periods.csv, blue_carbon_annual.csv, blue_carbon_transitions.csv and, with "
            "--units, blue_carbon_units.csv.", folder=True)
@assume_crs_opt
def blue_carbon(snapshots: Path, biophysical: Path, transitions: Path | None, analysis_year: int | None,
                price: float | None, price_change: float, prices: Path | None, discount_rate: float | None,
                convention: str, template: bool, units: Path | None, units_layer: str | None,
                units_id_field: str | None, output: Path, assume_crs: str | None) -> None:
    """Carbon in biomass, soil and litter, year by year, of the land-cover SNAPSHOTS (CSV:
    snapshot_year, raster_path), with BIOPHYSICAL the biophysical table (stocks in t CO2/ha,
    rates in t CO2/ha/yr, half-lives, disturbed fractions) and TRANSITIONS the transition table
    (accum, low-/med-/high-impact-disturb, NCC), as InVEST Coastal Blue Carbon computes them."""
    from carbonmap.blue_carbon import biophysical_template, read_snapshots, transition_template
    from carbonmap.config import BlueCarbonSection
    from carbonmap.errors import InputError
    from carbonmap.grid import metric_grid_of
    from carbonmap.io import write_csv
    from carbonmap.themes.blue_carbon import (blue_carbon_notes, blue_carbon_per_unit, blue_carbon_tables,
                                              prepare_blue_carbon, run_blue_carbon_model)
    from carbonmap.themes.inputs import read_units

    if template:
        rasters = read_snapshots(snapshots)
        write_csv(output / "carbon_pool_transition_template.csv",
                  transition_template(rasters, biophysical, crs=assume_crs), index=True)
        write_csv(output / "carbon_biophysical_table_template.csv", biophysical_template(biophysical))
        click.echo(f"templates of the transition and biophysical tables ({len(rasters)} snapshots) -> {output}")
        return
    if transitions is None:
        raise InputError("the model needs the transition table.", key="TRANSITIONS",
                         fix="give it as the third argument, or --template to write its template.")
    inputs = prepare_blue_carbon(BlueCarbonSection(
        snapshots=snapshots, biophysical=biophysical, transitions=transitions, analysis_year=analysis_year,
        discount_rate_pct=discount_rate, price_per_t_co2=price, price_change_pct=price_change, prices=prices,
        convention=convention))
    grid = metric_grid_of(next(iter(inputs.snapshots.values())), crs=assume_crs)
    result = run_blue_carbon_model(inputs, output, grid=grid, crs=assume_crs)
    for name, table in blue_carbon_tables(inputs, result).items():
        if not name.startswith("coefficients_"):
            write_csv(output / f"{name}.csv", table)
    section = units_section(units, units_layer, units_id_field, assume_crs)
    if section is not None:
        per_unit = blue_carbon_per_unit(read_units(section), result, cell_ha=grid.cell_area_m2 / 1e4)
        write_csv(output / "blue_carbon_units.csv", per_unit.rename_axis("unit_id").reset_index())
    text, warnings = blue_carbon_notes(result)
    click.echo(f"{text} -> {output} (blue_carbon_periods.csv, blue_carbon_annual.csv)")
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
