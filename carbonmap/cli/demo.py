"""``carbonmap demo``: build the one map from the bundled sample data."""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

import click

from carbonmap.cli.options import FOLDER, compute_opts, language_opt, quiet_opt, with_compute_options

DEMO_PROJECT = "demo_city/project.toml"
#: The demo city in 2015 (light: what the monitoring comparison reads), run first.
EARLIER_PROJECT = "demo_city/project_2015.toml"


def earlier_output(output: Path) -> Path:
    """Where the demo's earlier run goes: next to `output` (out/demo -> out/demo_2015)."""
    return output.with_name(f"{output.name}_2015")


@click.command(short_help="Build the one map from the bundled sample data.")
@click.option("-o", "--output", "output", type=FOLDER, default=Path("out/demo"), show_default=True,
              help="Output folder (the demo city of 2015, which the map compares 2023 with, goes next to it: "
                   "out/demo_2015).")
@language_opt
@quiet_opt
@compute_opts
def demo(output: Path, language: str | None, quiet: bool, scheduler: str | None, workers: int | None,
         memory_limit: str | None) -> None:
    """Run the bundled sample project and write the one map to --output.

    The demo city of 2015 runs first, into the folder next to --output; the 2023 run compares its
    units with it (monitoring across years: trends and early warnings on the map and in the report)."""
    from carbonmap.cli.run import closing_words, run_project
    from carbonmap.config import load_project

    output, earlier = output.resolve(), earlier_output(output.resolve())
    projects = []
    for name, folder in ((EARLIER_PROJECT, earlier), (DEMO_PROJECT, output)):
        with as_file(files("carbonmap.sample_data") / name) as project_file:
            project = load_project(project_file).with_output_dir(folder)
        if language is not None:
            project = project.with_language(language)
        projects.append(with_compute_options(project, scheduler=scheduler, workers=workers,
                                             memory_limit=memory_limit))
    run_project(projects[0], quiet=quiet)
    record = run_project(projects[1].with_monitoring([earlier]), quiet=quiet)
    if not quiet:
        click.echo(closing_words(record))
