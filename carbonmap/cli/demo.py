"""``carbonmap demo``: build the one map from the bundled sample data."""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

import click

from carbonmap.cli.options import quiet_opt

DEMO_PROJECT = "demo_city/project.toml"


@click.command(short_help="Build the one map from the bundled sample data.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("out/demo"), show_default=True, help="Output folder.")
@quiet_opt
def demo(out_dir: Path, quiet: bool) -> None:
    """Run the bundled sample project and write the one map to --out."""
    from carbonmap.config import load_project
    from carbonmap.pipeline import run as run_pipeline

    with as_file(files("carbonmap.sample_data") / DEMO_PROJECT) as project_file:
        project = load_project(project_file).with_output_dir(out_dir.resolve())
        ctx = run_pipeline(project, quiet=quiet)
    if not quiet:
        click.echo(f"wrote {ctx.out_dir}: open onemap.html in a browser, onemap.gpkg in a GIS")
