"""``carbonmap validate PROJECT.toml``: every problem of a project and its inputs, without computing."""

from __future__ import annotations

from pathlib import Path

import click

from carbonmap.cli.options import FILE


@click.command(short_help="Check a project file and its inputs without computing; list every problem.")
@click.argument("project_file", type=FILE)
def validate(project_file: Path) -> None:
    """Check every section, key, file, layer, field, CRS, code, table and overlap of PROJECT_FILE
    (TOML) as a run would, without computing or writing anything, and list all the problems at
    once, each with its fix. The exit status is 1 when there are problems."""
    from carbonmap.validate import validate_project

    result = validate_project(project_file)
    width = len(str(len(result.problems)))
    for number, problem in enumerate(result.problems, start=1):
        click.echo(f"{number:>{width}}. {problem}")
    for warning in result.warnings:
        click.echo(f"warning: {warning}")
    if result.problems:
        click.echo(f"{project_file}: {len(result.problems)} problem(s) found; fix them and validate again.")
        raise SystemExit(1)
    click.echo(f"{project_file} is valid: {len(result.sections)} sections, {len(result.inputs)} inputs checked.")
