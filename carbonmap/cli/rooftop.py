"""``carbonmap rooftop-pv BUILDINGS -o OUT.gpkg``: rooftop PV potential per building."""

from __future__ import annotations

from pathlib import Path

import click

from carbonmap.cli.options import FILE, assume_crs_opt, layer_opt, output_opt


@click.command("rooftop-pv", short_help="Rooftop PV potential per building (pvlib solar geometry).")
@click.argument("buildings", type=FILE)
@layer_opt
@click.option("--ghi", type=FILE, default=None,
              help="Annual GHI raster [kWh m-2 yr-1]; default: pvlib clear-sky x the clear-sky index.")
@click.option("--floors-field", default=None, help="Floor count field (height = floors x --storey-height).")
@click.option("--height-field", default=None, help="Height field [m] (used before floors when both are given).")
@click.option("--storey-height", type=float, default=3.0, show_default=True, help="Metres per floor.")
@click.option("--use-field", default=None, help="Building use: residential, commercial, public, industrial.")
@click.option("--roof-field", default=None, help="Roof form: flat (tilted rows) or pitched (flush).")
@click.option("--grid", default="china_national", show_default=True, help="Row of grid_emission_factors.csv.")
@click.option("--grid-year", type=int, default=None, help="Year of the grid factor (default: the latest).")
@click.option("--parameters", type=FILE, default=None,
              help="CSV overriding rows of renewable_parameters.csv (parameter,value,unit,source).")
@click.option("--rooftop-usable", type=FILE, default=None, help="CSV overriding rows of rooftop_pv_usable.csv.")
@click.option("--grid-factors", type=FILE, default=None, help="CSV overriding rows of grid_emission_factors.csv.")
@click.option("--transposition", type=click.Choice(["isotropic", "haydavies", "perez"]), default="perez",
              show_default=True, help="Transposition model to the module plane (pvlib).")
@click.option("--decomposition", type=click.Choice(["erbs_monthly", "clear_sky", "erbs", "erbs_driesse", "boland",
                                                    "disc", "dirint", "dirindex"]),
              default="erbs_monthly", show_default=True,
              help="How the all-sky year is split into beam and diffuse (docs/methods/renewables.md).")
@click.option("--crs", default=None, metavar="CRS",
              help="Projected CRS to measure in (default: the buildings' own, or an equal-area CRS for degrees).")
@output_opt("Output GeoPackage: layer rooftop_pv (per building) and the coefficient tables used.")
@assume_crs_opt
def rooftop_pv(buildings: Path, layer: str | None, ghi: Path | None, floors_field: str | None,
               height_field: str | None, storey_height: float, use_field: str | None, roof_field: str | None,
               grid: str, grid_year: int | None, parameters: Path | None, rooftop_usable: Path | None,
               grid_factors: Path | None, transposition: str, decomposition: str, crs: str | None, output: Path,
               assume_crs: str | None) -> None:
    """Capacity [kWp], yield [kWh/yr], CO2 avoided, payback and LCOE of PV on every roof of
    BUILDINGS (footprints with floors or heights), with shading by taller neighbours, computed
    as a run's renewables stage does."""
    from carbonmap.coefficients import recording_tables
    from carbonmap.config import BuildingsSection, RenewablesSection
    from carbonmap.errors import InputError
    from carbonmap.grid import ensure_projected
    from carbonmap.io import write_geopackage
    from carbonmap.themes.renewables import ROOFTOP_COLUMNS, prepare_renewable_tables, read_buildings, rooftops

    if not (floors_field or height_field):
        raise InputError("give --floors-field or --height-field.", fix="e.g. --floors-field floors")
    section = BuildingsSection(path=buildings, layer=layer, floors_field=floors_field, height_field=height_field,
                               storey_height_m=storey_height, use_field=use_field, assume_crs=assume_crs)
    with recording_tables() as tables_read:
        try:
            tables = prepare_renewable_tables(RenewablesSection(
                landcover="", grid=grid, grid_year=grid_year, parameters=parameters, rooftop_usable=rooftop_usable,
                grid_factors=grid_factors))
        except InputError as exc:
            if exc.path is not None or exc.field not in ("grid", "year"):
                raise
            raise InputError(exc.problem, key="--grid" if exc.field == "grid" else "--grid-year", fix=exc.fix) from exc
        frame = read_buildings(section, roof_field=roof_field, crs=crs)
        if crs is None:
            frame = ensure_projected(frame, what=str(buildings))
        result = rooftops(frame, section, tables, roof_field=roof_field, ghi=ghi, transposition=transposition,
                          decomposition=decomposition)
    columns = [*([use_field] if use_field else []), *ROOFTOP_COLUMNS, "geometry"]
    write_geopackage(output, {"rooftop_pv": result[columns], **tables_read})
    total = result[["capacity_kwp", "yield_kwh_yr", "co2_avoided_t_yr"]].sum()
    click.echo(f"{len(result):,} roofs: {total['capacity_kwp'] / 1e3:,.1f} MWp, {total['yield_kwh_yr'] / 1e6:,.2f} "
               f"GWh/yr, {total['co2_avoided_t_yr']:,.0f} t CO2/yr avoided -> {output}")
