"""``carbonmap landscape-metrics RASTER -o DIR``: FRAGSTATS metrics of a land-cover raster."""

from __future__ import annotations

from pathlib import Path

import click

from carbonmap.cli.options import FILE, assume_crs_opt, int_list, output_opt


def _known_metrics(ctx, param, value: str | None) -> str | None:
    from carbonmap.landscape.metrics import ALL_METRICS

    unknown = [m for m in (value or "").split(",") if m.strip() and m.strip().upper() not in ALL_METRICS]
    if unknown:
        raise click.BadParameter(f"unknown metric(s) {', '.join(unknown)}: use FRAGSTATS abbreviations, e.g. NP, "
                                 "ED, SHAPE_MN, ENN_MN (carbonmap.landscape.metrics.ALL_METRICS lists them all).")
    return value


@click.command("landscape-metrics", short_help="Patch, class and landscape metrics (FRAGSTATS-compatible).")
@click.argument("raster", type=FILE)
@click.option("--neighbours", type=click.Choice(["8", "4"]), default="8", show_default=True,
              help="Patch neighbour rule: 8 (edges and corners, FRAGSTATS' default) or 4 (edges).")
@click.option("--edge-depth", type=float, default=1.0, show_default=True, metavar="CELLS",
              help="Edge depth for core areas, in cells.")
@click.option("--classes", default=None, metavar="CODE,CODE,...",
              help="Report only these classes in patch.csv and class.csv (the landscape keeps all).")
@click.option("--metrics", default=None, metavar="NAME,NAME,...", callback=_known_metrics,
              help="Only these metrics (FRAGSTATS abbreviations, e.g. NP,ED,SHAPE_MN,ENN_MN); default all.")
@output_opt("Output folder: patch.csv, class.csv, landscape.csv.", folder=True)
@assume_crs_opt
def landscape_metrics(raster: Path, neighbours: str, edge_depth: float, classes: str | None, metrics: str | None,
                      output: Path, assume_crs: str | None) -> None:
    """FRAGSTATS metrics of RASTER, a land-cover raster in a projected CRS (a raster in degrees
    is warped to an equal-area grid first), written like a FRAGSTATS batch run: one CSV per
    level with FRAGSTATS abbreviations as columns and FRAGSTATS units (ha, m, m/ha, %)."""
    from carbonmap.errors import InputError
    from carbonmap.io import write_csv
    from carbonmap.landscape import fragstats, read_landscape

    land = read_landscape(raster, neighbours=int(neighbours), crs=assume_crs)
    wanted = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else None
    patch, class_, landscape = fragstats(land, metrics=wanted, edge_depth_m=edge_depth * land.resolution)
    if classes:
        keep = int_list(classes, "--classes", "41,42,43")
        missing = sorted(set(keep) - set(land.classes.tolist()))
        if missing:
            raise InputError(f"class(es) {', '.join(map(str, missing))} are not in the raster.", path=raster,
                             fix=f"choose among {', '.join(map(str, land.classes))}.")
        patch, class_ = patch[patch["class"].isin(keep)], class_[class_["class"].isin(keep)]
    output.mkdir(parents=True, exist_ok=True)
    for name, table in (("patch", patch), ("class", class_), ("landscape", landscape)):
        write_csv(output / f"{name}.csv", table)
    click.echo(f"{land.n_patches:,} patches in {land.n_classes} classes, {land.resolution:g} m cells -> {output}")
