"""``carbonmap simulate BEFORE AFTER -o FOLDER``: calibrate, simulate and validate land-use change (PLUS-like)."""

from __future__ import annotations

from pathlib import Path

import click

from carbonmap.cli.options import FILE, keys_as_options, output_opt


def _pairs(values: tuple[str, ...], what: str, convert=str) -> dict:
    """``NAME=VALUE`` options as a dict."""
    out = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name or not rest:
            raise click.BadParameter(f"{value!r} is not NAME=VALUE.", param_hint=what)
        out[convert(name) if convert is not str else name] = rest
    return out


@click.command(short_help="Land-use simulation (PLUS-like): calibrate on two dates, simulate, validate.")
@click.argument("before", type=FILE)
@click.argument("after", type=FILE)
@click.option("--year-before", type=int, required=True, help="Year of BEFORE (the calibration's start).")
@click.option("--year-after", type=int, required=True, help="Year of AFTER (the calibration's end, the simulation's "
                                                            "start).")
@click.option("--target-year", type=int, required=True, help="Year to simulate.")
@click.option("--driver", "drivers", multiple=True, metavar="NAME=FILE",
              help="A driver raster on the land cover's grid (repeat); distances to every class are added.")
@click.option("--reference", type=FILE, default=None,
              help="The real land cover of the target year: validate (FoM, Kappa, disagreement) against it, "
                   "with the null model and the simple Markov allocation.")
@click.option("--conversion", type=FILE, default=None, help="CSV: from_code, to_<code>... with 1 (allowed) or 0.")
@click.option("--restricted", type=FILE, default=None, help="Raster on the grid: non-zero cells are never converted.")
@click.option("--demand", type=click.Choice(["markov", "trend", "table"]), default=None,
              help="Demand of the target year: Markov chain over whole periods of the calibration (the default), "
                   "linear trend, or a table (the default with --demand-table).")
@click.option("--demand-table", type=FILE, default=None, help="CSV: code, area_ha of the target year.")
@click.option("--weight", "weights", multiple=True, metavar="CODE=W", help="Neighbourhood weight of a class (0-1).")
@click.option("--builtup-codes", default="", metavar="C1,C2", help="Built-up classes (the simple allocation's "
                                                                   "distance decay, for the comparison).")
@click.option("--slope-driver", default=None, metavar="NAME", help="The driver that is slope [degrees] (the simple "
                                                                  "allocation's slope limit).")
@click.option("--parameters", type=FILE, default=None, help="CSV overriding rows of scenario_parameters.csv.")
@output_opt("Folder: simulated_<year>.tif, development_probability_<code>.tif and the tables (CSV).", folder=True)
def simulate(before: Path, after: Path, year_before: int, year_after: int, target_year: int, drivers: tuple,
             reference: Path | None, conversion: Path | None, restricted: Path | None, demand: str,
             demand_table: Path | None, weights: tuple, builtup_codes: str, slope_driver: str | None,
             parameters: Path | None, output: Path) -> None:
    """Learn each class's development probability from the land that changed between BEFORE and AFTER
    (random forests on the drivers), simulate the TARGET year with a cellular automaton that grows and
    seeds patches towards the demand, and, with --reference, validate it: the same preparation and
    functions as a run's scenarios with allocation = "plus"."""
    import numpy as np

    from carbonmap.coefficients import recording_tables
    from carbonmap.io import write_cog, write_csv
    from carbonmap.themes.simulation import (
        plus_tables,
        prepare_simulation,
        run_simulation,
    )

    demand = _demand(demand, demand_table, year_before, year_after, target_year)
    with recording_tables() as tables_read, keys_as_options(_OPTIONS):
        inputs = prepare_simulation(
            before, after, year_before=year_before, year_after=year_after, target_year=target_year,
            drivers={k: Path(v) for k, v in _pairs(drivers, "--driver").items()}, reference=reference,
            conversion=conversion, restricted=restricted, demand=demand, demand_table=demand_table,
            parameters=parameters, builtup_codes=[int(c) for c in builtup_codes.split(",") if c.strip()],
            slope_driver=slope_driver, weights={int(k): float(v) for k, v in _pairs(weights, "--weight").items()})
        run = run_simulation(inputs)
    output.mkdir(parents=True, exist_ok=True)
    sim = run.simulation.landcover
    write_cog(output / f"simulated_{target_year}.tif", np.ma.filled(sim, 0).astype(sim.dtype), nodata=0,
              transform=inputs.transform, crs=inputs.crs)
    for code, layer in zip(run.suitability.codes, run.suitability.probability):
        write_cog(output / f"development_probability_{code}.tif", layer, nodata=float("nan"),
                  transform=inputs.transform, crs=inputs.crs)
    for name, table in {**plus_tables(run), **tables_read}.items():
        write_csv(output / f"{name}.csv", table)
    click.echo(_summary(run, demand, year_before, year_after, target_year, output))


#: The simulation's keys this command takes as options (errors name the option).
_OPTIONS = {"target_year": "--target-year", "demand-table": "--demand-table"}
#: The models of the validation, as the summary names them.
_MODELS = {"null": "no change (null model)", "markov_allocation": "Markov + simple allocation",
           "plus": "the simulator"}


def _demand(demand: str | None, table: Path | None, year_before: int, year_after: int, target_year: int) -> str:
    """The demand method, refusing what cannot be meant: swapped dates, a table without its method, or a
    Markov demand that changes nothing (a target less than half a calibration period ahead)."""
    from carbonmap.scenarios import periods_to

    if year_after <= year_before:
        raise click.UsageError(f"--year-after ({year_after}) must be after --year-before ({year_before}): "
                               "are BEFORE and AFTER swapped?")
    demand = demand or ("table" if table is not None else "markov")
    if table is not None and demand != "table":
        raise click.UsageError(f"--demand-table is the table demand: leave out --demand {demand}, or the table.")
    if demand == "markov" and periods_to(target_year, year_before, year_after) == 0:
        step = year_after - year_before
        raise click.UsageError(f"--target-year {target_year} is less than half a calibration period ({step} years) "
                               f"after {year_after}: the Markov demand (whole periods) changes nothing. Use "
                               f"--demand trend, or a year from {year_after + step // 2 + 1} on.")
    return demand


def _summary(run, demand: str, year_before: int, year_after: int, target_year: int, output: Path) -> str:
    """What the command says at the end: the year simulated (and the Markov demand's year), the models'
    Figure of Merit and Kappa, where the tables are."""
    from carbonmap.scenarios import periods_to

    lines = [f"simulated {target_year} from {year_after} -> {output}"]
    if demand == "markov":
        k = periods_to(target_year, year_before, year_after)
        lines.append(f"  demand: the Markov chain of {year_before}-{year_after} over {k} period(s), the areas of "
                     f"{year_after + k * (year_after - year_before)}")
    if run.simulation.completed_cells:
        lines.append(f"  {run.simulation.completed_cells} cells placed after the last iteration to meet the demand")
    if run.validation is not None:
        lines.append(f"  against the real {target_year} (plus_validation.csv):")
        lines += [f"    {_MODELS.get(row.model, row.model)}: Figure of Merit {row.figure_of_merit:.3f}, "
                  f"Kappa {row.kappa:.3f}" for row in run.validation.itertuples()]
    return "\n".join(lines)
