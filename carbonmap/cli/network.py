"""``carbonmap ecological-network LANDCOVER --code-system SYSTEM -o DIR``: the ecological security pattern."""

from __future__ import annotations

from pathlib import Path

import click

from carbonmap.cli.options import FILE, assume_crs_opt, code_system_opt, int_list, output_opt


@click.command("ecological-network", short_help="MSPA, ecological sources, corridors, pinch points, barriers.")
@click.argument("landcover", type=FILE)
@code_system_opt
@click.option("--dem", type=FILE, default=None,
              help="Elevation raster [m]: steeper slopes resist more (aligned to the land cover's grid).")
@click.option("--roads", type=FILE, default=None, help="Road lines: resistance rises near roads.")
@click.option("--roads-layer", default=None, help="Layer of --roads.")
@click.option("--ecological-codes", default=None, metavar="CODE,CODE,...",
              help="Codes of ecological land (default: the code system's 'ecological' flag).")
@click.option("--resistance", "resistance_csv", type=FILE, default=None,
              help="CSV overriding rows of the resistance table (carbon_category,resistance,source).")
@click.option("--edge-width", type=float, default=None, help="MSPA edge width [m] (default: network_settings.csv).")
@click.option("--min-core-area", type=float, default=None, help="Smallest source [ha] (default: the table's).")
@click.option("--max-sources", type=int, default=None, help="Most sources kept, by dPC (default: the table's).")
@click.option("--dispersal-distance", type=float, default=None,
              help="Distance [m] at which the dispersal probability is --dispersal-probability (PC, IIC).")
@click.option("--dispersal-probability", type=float, default=None, help="Probability at --dispersal-distance.")
@click.option("--corridor-width", type=float, default=None, help="Corridor polygons' width [m].")
@click.option("--circuit-max-cells", type=int, default=None,
              help="Above this many cells, circuits run on aggregated blocks (default: the table's).")
@click.option("--resolution", type=float, default=None,
              help="Solve the network on cells of this size [m], a whole multiple of the land cover's "
              "(regional networks: e.g. 90 for 30 m land cover); each takes its block's majority class.")
@click.option("--circuit-mode", type=click.Choice(["pairwise", "one-to-all"]), default="pairwise", show_default=True,
              help="Circuitscape mode for the current density.")
@output_opt("Output folder: network.gpkg (sources, corridors, centre lines, pinch points, barriers, parameters) "
            "and mspa.tif, resistance.tif, current_density.tif, barrier_score.tif.", folder=True)
@assume_crs_opt
def ecological_network(landcover: Path, code_system: str, dem: Path | None, roads: Path | None,
                       roads_layer: str | None, ecological_codes: str | None, resistance_csv: Path | None,
                       edge_width: float | None, min_core_area: float | None, max_sources: int | None,
                       dispersal_distance: float | None, dispersal_probability: float | None,
                       corridor_width: float | None, circuit_max_cells: int | None, resolution: float | None,
                       circuit_mode: str, output: Path,
                       assume_crs: str | None) -> None:
    """Build the ecological network of LANDCOVER with the same preparation and chain as a run's
    network stage: MSPA core areas ranked by dPC become sources, least-cost corridors join
    sources whose cost zones meet, circuit theory finds pinch points, and barrier scores show
    where restoration helps most."""
    import tempfile

    from carbonmap.coefficients import recording_tables
    from carbonmap.config import NetworkSection, RoadsSection
    from carbonmap.errors import InputError
    from carbonmap.io import write_geopackage
    from carbonmap.themes.inputs import align_on_landcover
    from carbonmap.themes.network import build_network, network_tables, prepare_network, write_network_rasters

    codes = int_list(ecological_codes, "--ecological-codes", "2,3,4") if ecological_codes else None
    given = {"edge_width_m": edge_width, "min_core_area_ha": min_core_area, "max_sources": max_sources,
             "dispersal_distance_m": dispersal_distance, "dispersal_probability": dispersal_probability,
             "corridor_width_m": corridor_width, "circuit_max_cells": circuit_max_cells, "resolution_m": resolution}
    section = NetworkSection(landcover=str(landcover), dem=dem and str(dem), use_roads=roads is not None,
                             ecological_codes=codes, resistance=resistance_csv, circuit_mode=circuit_mode,
                             **{key: value for key, value in given.items() if value is not None})
    with tempfile.TemporaryDirectory(prefix="carbonmap-") as folder, recording_tables() as tables_read:
        inputs = prepare_network(section, roads and RoadsSection(path=roads, layer=roads_layer,
                                                                 assume_crs=assume_crs))
        grid_landcover, aligned = align_on_landcover(landcover, {"dem": dem}, Path(folder), crs=assume_crs)
        try:
            land, resistance, result = build_network(inputs, grid_landcover, code_system, dem=aligned["dem"])
        except InputError as error:  # the command line's words for the project file's key
            if error.key != "network.resolution_m":
                raise
            raise InputError(f"option --resolution: {error.problem}", path=landcover, fix=error.fix) from None
    output.mkdir(parents=True, exist_ok=True)
    write_network_rasters(output, resistance, result, transform=land.transform, crs=land.crs)
    write_geopackage(output / "network.gpkg", {**network_tables(inputs, result), **tables_read})
    click.echo(f"{len(result.sources)} sources, {len(result.corridors)} corridors, PC {result.indices['PC']:.4f} "
               f"-> {output}")
