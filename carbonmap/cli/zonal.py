"""``carbonmap zonal ZONES RASTER -o OUT``: one-off zonal statistics."""

from __future__ import annotations

from pathlib import Path

import click

from carbonmap.cli.options import assume_crs_opt, layer_opt, not_a_run_file


def _known_stats(ctx, param, value: str) -> str:
    from carbonmap.errors import InputError
    from carbonmap.zonal import validate_stats

    try:
        validate_stats(value)
    except InputError as exc:
        raise click.BadParameter(f"{exc.problem} {exc.fix[:1].upper()}{exc.fix[1:]}") from None
    return value


@click.command(short_help="Zonal statistics of a raster over polygons.")
@click.argument("zones", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("raster", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              callback=lambda ctx, param, value: not_a_run_file(value),
              help="Output .csv (table) or .gpkg (zones with their statistics).")
@click.option("--stats", default="count,sum,mean,min,max", show_default=True, callback=_known_stats,
              help="Comma-separated: count sum mean min max std median nodata_count percentile_<q>.")
@click.option("--categorical", is_flag=True,
              help="Area of each class per zone [m2] instead of statistics.")
@click.option("--all-touched", is_flag=True, help="Count every cell a zone touches.")
@click.option("--band", default=1, show_default=True, help="Raster band (1-based).")
@click.option("--id-field", default=None, help="Zone attribute to keep as the first column.")
@click.option("--engine", type=click.Choice(["label", "exactextract"]), default="label",
              show_default=True, help="label: cell-centre rule, fast; exactextract: coverage fractions.")
@click.option("--prefix", default="", help="Prefix for the statistic columns.")
@layer_opt
@assume_crs_opt
def zonal(zones: Path, raster: Path, output: Path, stats: str, categorical: bool,
          all_touched: bool, band: int, id_field: str | None, engine: str, prefix: str,
          layer: str | None, assume_crs: str | None) -> None:
    """Summarise RASTER within each polygon of ZONES."""
    import pandas as pd

    from carbonmap.errors import InputError
    from carbonmap.io import read_vector, write_csv, write_geopackage
    from carbonmap.zonal import zonal_categories, zonal_stats

    suffix = output.suffix.lower()
    if suffix not in (".csv", ".gpkg"):
        raise InputError("the output must end in .csv or .gpkg.", path=output,
                         fix="e.g. -o stats.csv or -o stats.gpkg.")
    frame = read_vector(zones, layer=layer, columns=[id_field] if id_field else (),
                        kind="polygon", assume_crs=assume_crs)
    if categorical:
        table = zonal_categories(frame, raster, all_touched=all_touched, band=band,
                                 prefix=prefix or "area_m2_", crs=assume_crs)
    else:
        table = zonal_stats(frame, raster, stats=stats, all_touched=all_touched, band=band,
                            engine=engine, prefix=prefix, crs=assume_crs)
    if suffix == ".csv":
        keys = frame[[id_field]] if id_field else pd.DataFrame(index=frame.index)
        write_csv(output, keys.join(table))
    else:
        write_geopackage(output, {output.stem: frame.join(table)})
    click.echo(f"wrote {len(table)} zones to {output}")
