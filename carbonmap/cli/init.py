"""``carbonmap init FOLDER``: write a commented starter project file from the data in a folder."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(short_help="Write a starter project file from the data found in a folder.")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Project file to write [default: FOLDER/project.toml].")
@click.option("--force", is_flag=True, help="Replace an existing project file.")
def init(folder: Path, output: Path | None, force: bool) -> None:
    """Survey FOLDER (vector layers, GeoTIFFs and CSV tables, recursively; not out/ or hidden
    folders), guess the role of each data set from its geometry, field names and values, and
    write a commented project file that `carbonmap run` accepts. Every guess is marked
    "GUESS (check)" with its evidence; sections whose data were not found are commented out."""
    from carbonmap.init import checklist, write_starter_project

    path, found = write_starter_project(folder, output, force=force)
    click.echo(f"Found {len(found)} data set(s) in {folder}:")
    width = max((len(f.label) for f in found), default=0)
    for item in found:
        role = f"{item.role} ({item.confidence})" if item.guess else "-"
        click.echo(f"  {item.label:<{width}}  {role:<26} {item.summary}")
    checks = checklist(found)
    if checks:
        click.echo("Check before running:")
        for line in checks:
            click.echo(f"  - {line}")
    click.echo(f"Wrote {path}: every guess is marked \"GUESS (check)\". Then: carbonmap run {path}")
