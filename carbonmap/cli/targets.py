"""``carbonmap targets OUT TARGETS.csv``: check targets against a finished run's outputs."""

from __future__ import annotations

from pathlib import Path

import click

from carbonmap.cli.options import FILE, FOLDER, not_a_run_file


@click.command(short_help="Check targets per unit against a finished run (on / off track, gap, lever).")
@click.argument("run_folder", type=FOLDER)
@click.argument("table", type=FILE)
@click.option("--landcover", default=None,
              help="The land-cover raster of the run whose class areas give forest cover (default: the latest).")
@click.option("--forest-class", "forest_classes", multiple=True, default=("forest",), show_default=True,
              help="A land-cover class that counts as forest (repeat for several).")
@click.option("--parameters", type=FILE, default=None, help="An override of target_parameters.csv (GDP growth).")
@click.option("-o", "--output", type=FILE, default=Path("targets_status.csv"), show_default=True,
              callback=lambda ctx, param, value: not_a_run_file(value), help="The status table (CSV) to write.")
def targets(run_folder: Path, table: Path, landcover: str | None, forest_classes: tuple[str, ...],
            parameters: Path | None, output: Path) -> None:
    """Check the targets of TABLE (CSV: unit_id or * for citywide, then peak_year, net_zero_year,
    intensity_reduction_<year>_pct, forest_cover_pct, ecological_land_pct, renewable_capacity_mw)
    against the complete run in RUN_FOLDER: each target on or off track, the gap in its unit, and
    the scenario that closes it."""
    from carbonmap.config import TargetsSection
    from carbonmap.io import write_csv
    from carbonmap.runs import read_run
    from carbonmap.themes.targets import prepare_targets, targets_status

    run = read_run(run_folder)
    inputs = prepare_targets(TargetsSection(table=table, landcover=landcover, forest_classes=list(forest_classes),
                                            parameters=parameters))
    status = targets_status(inputs, run.summary, timeline=run.table("scenario_timeline"),
                            comparison=run.table("scenario_comparison_per_unit"))
    write_csv(output, status, encoding="utf-8-sig")
    tally = status["status"].value_counts()
    click.echo(f"{len(status)} targets: {tally.get('on_track', 0)} on track, {tally.get('off_track', 0)} off track, "
               f"{tally.get('no_data', 0)} without data -> {output}")
