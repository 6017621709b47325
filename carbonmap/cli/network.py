"""``carbonmap ecological-network LANDCOVER --code-system SYSTEM -o DIR``: the ecological security pattern."""

from __future__ import annotations

from pathlib import Path

import click

from carbonmap.cli.options import assume_crs_opt, int_list


@click.command("ecological-network", short_help="MSPA, ecological sources, corridors, pinch points, barriers.")
@click.argument("landcover", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--code-system", required=True, help="Code system of the land cover, e.g. clcd, esa_worldcover.")
@click.option("--dem", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Elevation raster [m] on the same grid: steeper slopes resist more.")
@click.option("--roads", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Road lines: resistance rises near roads.")
@click.option("--roads-layer", default=None, help="Layer of the roads file.")
@click.option("--ecological-codes", default=None, metavar="CODE,CODE,...",
              help="Codes of ecological land (default: the code system's 'ecological' flag).")
@click.option("--resistance", "resistance_csv", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="CSV overriding rows of the resistance table (carbon_category,resistance,source).")
@click.option("--edge-width", type=float, default=60.0, show_default=True, help="MSPA edge width [m].")
@click.option("--min-core-area", type=float, default=10.0, show_default=True, help="Smallest source [ha].")
@click.option("--max-sources", type=int, default=20, show_default=True)
@click.option("--dispersal-distance", type=float, default=2000.0, show_default=True,
              help="Distance [m] at which the dispersal probability is --dispersal-probability (PC, IIC).")
@click.option("--dispersal-probability", type=float, default=0.5, show_default=True)
@click.option("--corridor-width", type=float, default=200.0, show_default=True, help="Corridor polygons' width [m].")
@click.option("--circuit-mode", type=click.Choice(["pairwise", "one-to-all"]), default="pairwise", show_default=True,
              help="Circuitscape mode for the current density.")
@click.option("-o", "--out-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output folder: network.gpkg (sources, corridors, centre lines, pinch points, barriers, "
                   "parameters) and mspa.tif, resistance.tif, current_density.tif, barrier_score.tif.")
@assume_crs_opt
def ecological_network(landcover: Path, code_system: str, dem: Path | None, roads: Path | None,
                       roads_layer: str | None, ecological_codes: str | None, resistance_csv: Path | None,
                       edge_width: float, min_core_area: float, max_sources: int, dispersal_distance: float,
                       dispersal_probability: float, corridor_width: float, circuit_mode: str, out_dir: Path,
                       assume_crs: str | None) -> None:
    """Build the ecological network of LANDCOVER: MSPA core areas ranked by dPC become sources,
    least-cost corridors join sources whose cost zones meet, circuit theory finds pinch points,
    and barrier scores show where restoration helps most."""
    import numpy as np

    from carbonmap.coefficients import ecological_resistance
    from carbonmap.io import read_vector, write_cog, write_geopackage
    from carbonmap.landscape.network import NetworkSettings, network_from_rasters, parameter_table

    codes = None
    if ecological_codes:
        codes = int_list(ecological_codes, "--ecological-codes", "2,3,4")
    lines = read_vector(roads, layer=roads_layer, kind="line", assume_crs=assume_crs) if roads else None
    table = ecological_resistance(resistance_csv)
    settings = NetworkSettings(edge_width_m=edge_width, min_core_area_ha=min_core_area, max_sources=max_sources,
                               dispersal_distance_m=dispersal_distance, dispersal_probability=dispersal_probability,
                               corridor_width_m=corridor_width, circuit_mode=circuit_mode)
    land, resistance, result = network_from_rasters(landcover, code_system, dem=dem, roads=lines,
                                                    ecological_codes=codes, settings=settings,
                                                    resistance_table=table, crs=assume_crs)
    out_dir.mkdir(parents=True, exist_ok=True)
    grid = {"transform": land.transform, "crs": land.crs}
    write_cog(out_dir / "mspa.tif", result.mspa, nodata=0, **grid)
    for name, data in (("resistance", resistance), ("current_density", result.current),
                       ("barrier_score", result.barriers)):
        write_cog(out_dir / f"{name}.tif", np.where(np.isfinite(data), data, np.nan).astype("float32"),
                  nodata=float("nan"), resampling="average", **grid)
    write_geopackage(out_dir / "network.gpkg", {
        "sources": result.sources, "corridors": result.corridors, "corridor_lines": result.corridor_lines,
        "pinch_points": result.pinch_points, "barriers": result.barrier_areas,
        "parameters": parameter_table(settings, result),
        "resistance_table": table.rename("resistance").reset_index(),
    })
    click.echo(f"{len(result.sources)} sources, {len(result.corridors)} corridors, PC {result.indices['PC']:.4f} "
               f"-> {out_dir}")
