"""``carbonmap run PROJECT.toml``: run a project into the one map."""

from __future__ import annotations

import signal
from pathlib import Path

import click

from carbonmap.cli.options import FILE, compute_opts, language_opt, output_dir_opt, quiet_opt, with_compute_options


def _stop_on_sigterm(signum, frame) -> None:
    raise SystemExit(128 + signum)  # unwinds the run: its staging folder is removed, the last outputs stay


def closing_words(record) -> str:
    """The end of a run on the command line: key figures, warnings, where the outputs are (the run's language)."""
    from carbonmap.run_summary import run_summary

    return run_summary(record.published, record.out_dir, language=record.project.outputs.language,
                       repeat_warnings=False)  # the runner has just printed them


def run_project(project, *, quiet: bool, only: str | None = None):
    """Run `project` with the command line's progress; SIGTERM stops it cleanly."""
    from carbonmap.pipeline import run as run_pipeline

    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        return run_pipeline(project, quiet=quiet, only=only)
    finally:
        signal.signal(signal.SIGTERM, previous)


@click.command(short_help="Run a project file into the one map.")
@click.argument("project_file", type=FILE)
@output_dir_opt
@language_opt
@quiet_opt
@click.option("--only", "only", default=None, metavar="STAGE",
              help="Rerun this stage (and the stages after it, which may read its results) on the state the "
                   "last run saved; the stages before it are not run again.")
@compute_opts
def run(project_file: Path, output: Path | None, language: str | None, quiet: bool, only: str | None,
        scheduler: str | None, workers: int | None, memory_limit: str | None) -> None:
    """Run every stage of PROJECT_FILE (TOML) and write onemap.html, report.html, onemap.gpkg,
    unit_summary.csv, rasters/, run.log and run.json to its output folder, as one set."""
    from carbonmap.config import load_project

    project = load_project(project_file)
    if output is not None:
        project = project.with_output_dir(output.resolve())
    if language is not None:
        project = project.with_language(language)
    project = with_compute_options(project, scheduler=scheduler, workers=workers, memory_limit=memory_limit)
    record = run_project(project, quiet=quiet, only=only)
    if not quiet:
        click.echo(closing_words(record))
