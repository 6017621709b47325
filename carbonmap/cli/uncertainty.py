"""``carbonmap uncertainty PROJECT.toml``: intervals and sensitivity of a project's numbers."""

from __future__ import annotations

from pathlib import Path

import click

from carbonmap.cli.options import FILE, language_opt, output_dir_opt, quiet_opt


@click.command(short_help="Intervals, class probabilities and the coefficients that matter (Monte Carlo).")
@click.argument("project_file", type=FILE)
@click.option("--draws", type=int, default=None, help="Number of Latin-hypercube draws (default: the project's "
              "[uncertainty] draws, else 1000).")
@click.option("--seed", type=int, default=None, help="Seed of the draws (the same seed gives the same intervals).")
@click.option("--ranges", type=FILE, default=None, help="Override of coefficient_uncertainty.csv (rows by table "
              "and key).")
@output_dir_opt
@language_opt
@quiet_opt
def uncertainty(project_file: Path, draws: int | None, seed: int | None, ranges: Path | None, output: Path | None,
                language: str | None, quiet: bool) -> None:
    """Draw every coefficient of PROJECT_FILE from its range and write the 5 / 50 / 95 % of each
    unit's sources, sinks and net, the probability of each balance class, the sensitivity to each
    coefficient and the spread of the peak and net-zero years into the one map. It is the
    project's [uncertainty] stage with these options: on the state of the last complete run in
    the output folder only this stage and the one map are rerun, else the whole project runs."""
    from dataclasses import replace

    from carbonmap.cli.run import closing_words, run_project
    from carbonmap.config import UncertaintySection, load_project
    from carbonmap.errors import StaleStateError
    from carbonmap.state import STATE_DIR
    from carbonmap.uncertainty import check_draws

    project = load_project(project_file)
    if output is not None:
        project = project.with_output_dir(output.resolve())
    if language is not None:
        project = project.with_language(language)
    section = project.uncertainty or UncertaintySection()
    section = replace(section, **{k: v for k, v in (("draws", draws), ("seed", seed), ("ranges", ranges))
                                  if v is not None})
    check_draws(section.draws, key="--draws")
    project = replace(project, uncertainty=section)
    record = None
    if (project.output_dir / STATE_DIR / "manifest.json").exists():
        try:
            record = run_project(project, quiet=quiet, only="uncertainty")
        except StaleStateError as exc:  # the last run was of another project, or its inputs changed
            click.echo(f"The saved run cannot be resumed ({exc.problem}): the whole project runs.", err=True)
    if record is None:
        record = run_project(project, quiet=quiet)
    if not quiet:
        click.echo(closing_words(record))
