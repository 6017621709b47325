"""``carbonmap rooftop-pv BUILDINGS -o OUT.gpkg``: rooftop PV potential per building."""

from __future__ import annotations

from pathlib import Path

import click

from carbonmap.cli.options import assume_crs_opt, layer_opt


@click.command("rooftop-pv", short_help="Rooftop PV potential per building (pvlib solar geometry).")
@click.argument("buildings", type=click.Path(dir_okay=False, path_type=Path))
@layer_opt
@click.option("--ghi", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Annual GHI raster [kWh m-2 yr-1]; default: pvlib clear-sky x the clear-sky index.")
@click.option("--floors-field", default=None, help="Floor count field (height = floors x --storey-height).")
@click.option("--height-field", default=None, help="Height field [m] (used before floors when both are given).")
@click.option("--storey-height", type=float, default=3.0, show_default=True, help="Metres per floor.")
@click.option("--use-field", default=None, help="Building use: residential, commercial, public, industrial.")
@click.option("--roof-field", default=None, help="Roof form: flat (tilted rows) or pitched (flush).")
@click.option("--grid", default="china_national", show_default=True, help="Row of grid_emission_factors.csv.")
@click.option("--parameters", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV overriding rows of renewable_parameters.csv (parameter,value,unit,source).")
@click.option("-o", "--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output GeoPackage: layer rooftop_pv (per building) and table parameters.")
@assume_crs_opt
def rooftop_pv(buildings: Path, layer: str | None, ghi: Path | None, floors_field: str | None,
               height_field: str | None, storey_height: float, use_field: str | None, roof_field: str | None,
               grid: str, parameters: Path | None, out_path: Path, assume_crs: str | None) -> None:
    """Capacity [kWp], yield [kWh/yr], CO2 avoided, payback and LCOE of PV on every roof of
    BUILDINGS (footprints with floors or heights), with shading by taller neighbours."""
    from carbonmap.coefficients import read_table, renewable_parameters
    from carbonmap.errors import InputError
    from carbonmap.grid import ensure_projected
    from carbonmap.io import read_vector, write_geopackage
    from carbonmap.renewables.rooftop import rooftop_pv as compute

    if not (floors_field or height_field):
        raise InputError("give --floors-field or --height-field.", fix="e.g. --floors-field floors")
    fields = [f for f in (floors_field, height_field, use_field, roof_field) if f]
    frame = ensure_projected(read_vector(buildings, layer=layer, columns=fields, kind="polygon", assume_crs=assume_crs),
                             what=str(buildings))
    result = compute(frame, height_field=height_field, floors_field=floors_field, use_field=use_field,
                     roof_field=roof_field, ghi=ghi, storey_height_m=storey_height, grid=grid,
                     parameters=renewable_parameters(parameters))
    write_geopackage(out_path, {"rooftop_pv": result,
                                "parameters": read_table("renewable_parameters", parameters).astype(str)})
    total = result[["capacity_kwp", "yield_kwh_yr", "co2_avoided_t_yr"]].sum()
    click.echo(f"{len(result):,} roofs: {total['capacity_kwp'] / 1e3:,.1f} MWp, {total['yield_kwh_yr'] / 1e6:,.2f} "
               f"GWh/yr, {total['co2_avoided_t_yr']:,.0f} t CO2/yr avoided -> {out_path}")
