"""``carbonmap run PROJECT.toml``: run a project into the one map."""

from __future__ import annotations

from pathlib import Path

import click

from carbonmap.cli.options import out_dir_opt, quiet_opt


@click.command(short_help="Run a project file into the one map.")
@click.argument("project_file", type=click.Path(dir_okay=False, path_type=Path))
@out_dir_opt
@quiet_opt
@click.option("--only", "only", default=None, metavar="STAGE",
              help="Rerun this stage (and the stages after it, which may read its results) on the state the "
                   "last run saved; the stages before it are not run again.")
def run(project_file: Path, out_dir: Path | None, quiet: bool, only: str | None) -> None:
    """Run every stage of PROJECT_FILE (TOML) and write onemap.html, report.html, onemap.gpkg
    and unit_summary.csv to its output folder, with progress per stage."""
    from carbonmap.config import load_project
    from carbonmap.pipeline import run as run_pipeline

    project = load_project(project_file)
    if out_dir is not None:
        project = project.with_output_dir(out_dir.resolve())
    ctx = run_pipeline(project, quiet=quiet, only=only)
    if not quiet:
        click.echo(f"wrote {ctx.out_dir}")
