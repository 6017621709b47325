"""``carbonmap demo``: build the one map from the bundled sample data."""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

import click

from carbonmap.cli.options import FOLDER, language_opt, quiet_opt

DEMO_PROJECT = "demo_city/project.toml"


@click.command(short_help="Build the one map from the bundled sample data.")
@click.option("-o", "--output", "output", type=FOLDER, default=Path("out/demo"), show_default=True,
              help="Output folder.")
@language_opt
@quiet_opt
def demo(output: Path, language: str | None, quiet: bool) -> None:
    """Run the bundled sample project and write the one map to --output."""
    from carbonmap.cli.run import closing_words, run_project
    from carbonmap.config import load_project

    with as_file(files("carbonmap.sample_data") / DEMO_PROJECT) as project_file:
        project = load_project(project_file).with_output_dir(output.resolve())
        if language is not None:
            project = project.with_language(language)
        record = run_project(project, quiet=quiet)
    if not quiet:
        click.echo(closing_words(record))
