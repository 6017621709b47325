"""``carbonmap run PROJECT.toml``: run a project into the one map."""

from __future__ import annotations

from pathlib import Path

import click

from carbonmap.cli.options import out_dir_opt, quiet_opt


@click.command(short_help="Run a project file into the one map.")
@click.argument("project_file", type=click.Path(dir_okay=False, path_type=Path))
@out_dir_opt
@quiet_opt
def run(project_file: Path, out_dir: Path | None, quiet: bool) -> None:
    """Run every stage of PROJECT_FILE (TOML) and write onemap.gpkg, onemap.html and
    unit_summary.csv to its output folder."""
    from carbonmap.config import load_project
    from carbonmap.pipeline import run as run_pipeline

    project = load_project(project_file)
    if out_dir is not None:
        project = project.with_output_dir(out_dir.resolve())
    ctx = run_pipeline(project, quiet=quiet)
    if not quiet:
        click.echo(f"wrote {ctx.out_dir}")
