"""``carbonmap compare OUT_2020 OUT_2023 ... -o DIR``: monitoring across complete runs."""

from __future__ import annotations

from pathlib import Path

import click

from carbonmap.cli.options import FILE, FOLDER


@click.command(short_help="Compare complete runs of several years: indicators, trends, early warnings.")
@click.argument("runs", nargs=-1, required=True, type=FOLDER)
@click.option("-o", "--output", type=FOLDER, required=True,
              help="Output folder: monitoring.gpkg, monitoring.html, monitoring.xlsx and the CSV tables.")
@click.option("--year", "years", type=int, multiple=True,
              help="The year of each run, in the order of RUNS, for runs that record none (a run that records "
                   "its year must be given the same).")
@click.option("--targets", "targets_table", type=FILE, default=None,
              help="A targets table to check the latest run against (default: the latest run's own targets).")
@click.option("--thresholds", type=FILE, default=None, help="An override of monitoring_thresholds.csv.")
@click.option("--lang", "language", type=click.Choice(["zh", "en"]), default=None,
              help="Language of the page and tables (default: the latest run's).")
def compare(runs: tuple[Path, ...], output: Path, years: tuple[int, ...], targets_table: Path | None,
            thresholds: Path | None, language: str | None) -> None:
    """Compare the complete runs in RUNS (output folders of `carbonmap run`, made in different
    years) unit by unit: each indicator across the runs, its trend per year, and early warnings
    where a unit moves the wrong way faster than a threshold."""
    from carbonmap.config import TargetsSection
    from carbonmap.themes.monitoring import compare_runs, prepare_monitoring, write_monitoring
    from carbonmap.themes.targets import prepare_targets, targets_status

    finished, table = prepare_monitoring(list(runs), years=list(years) or None, thresholds=thresholds)
    status = None
    if targets_table is not None:
        latest = finished[-1]
        status = targets_status(prepare_targets(TargetsSection(table=targets_table)), latest.summary,
                                timeline=latest.table("scenario_timeline"),
                                comparison=latest.table("scenario_comparison_per_unit"))
    comparison = compare_runs(finished, table, targets_status=status)
    if language is not None:
        comparison.language = language
    write_monitoring(comparison, output)
    alerts = int((comparison.warnings["level"] == "alert").sum())
    click.echo(f"{len(finished)} runs ({', '.join(str(r.year) for r in finished)}), "
               f"{comparison.per_unit.shape[0]} units compared: {len(comparison.warnings)} warnings "
               f"({alerts} alerts) -> {output}")
    for note in comparison.notes[1:]:
        click.echo(f"note: {note}")
