"""Land-use simulation (PLUS-like, :mod:`carbonmap.scenarios.plus`): the files it reads and the
tables it writes, shared by ``carbonmap simulate`` and the scenarios stage
(``[[scenarios]] allocation = "plus"``).

``prepare_simulation`` is the only place that reads the simulator's own files (land covers and
drivers for the CLI; the conversion matrix and the demand table for both); the analysis is
:func:`carbonmap.scenarios.plus.simulate_land_use`; ``plus_tables`` turns its result into tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from carbonmap.errors import InputError

__all__ = [
    "SimulationInputs",
    "plus_tables",
    "prepare_simulation",
    "read_conversion",
    "read_demand",
    "run_simulation",
]


@dataclass
class SimulationInputs:
    """What :func:`~carbonmap.scenarios.plus.simulate_land_use` needs, read and on one grid."""

    before: np.ma.MaskedArray
    after: np.ma.MaskedArray
    year_before: int
    year_after: int
    target_year: int
    spacing: tuple[float, float]
    drivers: dict = field(default_factory=dict)
    demand: object = "markov"
    conversion: pd.DataFrame | None = None
    restricted: np.ndarray | None = None
    weights: dict = field(default_factory=dict)
    parameters: dict | None = None
    reference: np.ma.MaskedArray | None = None
    builtup_codes: tuple = ()
    slope_deg: np.ndarray | None = None
    transform: object = None
    crs: object = None


def read_conversion(path: Path, codes) -> pd.DataFrame:
    """The conversion matrix: a CSV with ``from_code`` and one ``to_<code>`` column per class,
    1 (may become) or 0 (may not); classes left out may become anything.

    Raises
    ------
    InputError
        Naming the file and the column or code that is not a class of the land cover.
    """
    from carbonmap.io import read_csv

    table = read_csv(path, what="conversion matrix")
    if "from_code" not in table.columns:
        raise InputError("the conversion matrix needs a from_code column.", path=path, field="from_code",
                         fix="one row per class: from_code, to_<code>, ... with 1 (allowed) or 0.")
    codes = {int(c) for c in codes}
    to = {c: c.removeprefix("to_") for c in table.columns if c != "from_code"}
    bad = [c for c, code in to.items() if not code.isdigit() or int(code) not in codes]
    bad_rows = [str(v) for v in table["from_code"] if not str(v).isdigit() or int(v) not in codes]
    if bad or bad_rows:
        raise InputError(f"classes that are not in the land cover: {', '.join(bad + bad_rows)}.", path=path,
                         field=bad[0] if bad else "from_code",
                         fix=f"use the land cover's codes ({', '.join(map(str, sorted(codes)))}) as from_code and "
                             "to_<code>.")
    matrix = table.set_index(table["from_code"].astype(int))[list(to)]
    matrix.columns = [int(to[c]) for c in matrix.columns]
    values = matrix.apply(pd.to_numeric, errors="coerce")
    if values.isna().any().any() or not values.isin([0, 1]).all().all():
        raise InputError("the conversion matrix holds values other than 0 and 1.", path=path,
                         fix="write 1 where a class may become another, 0 where it may not.")
    return values.astype(bool)


def read_demand(path: Path, codes, total_cells: int, cell_area_ha: float) -> pd.Series:
    """The user's demand table (``code``, ``area_ha``) as whole cells (:func:`~carbonmap.scenarios.demand.table_demand`)."""
    from carbonmap.io import read_csv
    from carbonmap.scenarios.demand import table_demand

    return table_demand(read_csv(path, what="demand table"), codes, total_cells, cell_area_ha, path=path)


def _read_on_grid(path: Path, grid, what: str, *, reference: Path) -> np.ma.MaskedArray:
    """The raster at `path`, refused unless it lies on `grid` (the earlier land cover's shape, CRS and
    transform, read from `reference`): same cells, same CRS, same place to a thousandth of a cell."""
    from carbonmap.io import read_raster

    data, source = read_raster(path)
    shape, crs, transform = grid
    fix = ("resample it onto the land cover's grid (same CRS, extent and cell size), or run it through a "
           "project (carbonmap run aligns every raster).")
    if data.shape != tuple(shape):
        raise InputError(f"{what} is on another grid ({data.shape[0]} x {data.shape[1]} cells, {reference.name} "
                         f"{shape[0]} x {shape[1]}).", path=path, fix=fix)
    if (source.crs is None) != (crs is None) or (crs is not None and not source.crs.equals(crs)):
        raise InputError(f"{what} is in another CRS ({source.crs.name if source.crs else 'none'}; {reference.name}: "
                         f"{crs.name if crs else 'none'}).", path=path, fix=fix)
    if not source.transform.almost_equals(transform, precision=1e-3 * abs(transform.a)):
        raise InputError(f"{what} is not on the land cover's cells (its corner is at {source.transform.c:.2f}, "
                         f"{source.transform.f:.2f}; {reference.name}: {transform.c:.2f}, {transform.f:.2f}).",
                         path=path, fix=fix)
    return data


def prepare_simulation(before: Path, after: Path, *, year_before: int, year_after: int, target_year: int,
                       drivers: dict[str, Path] | None = None, reference: Path | None = None,
                       conversion: Path | None = None, restricted: Path | None = None, demand: str = "markov",
                       demand_table: Path | None = None, parameters: Path | None = None,
                       builtup_codes=(), slope_driver: str | None = None,
                       weights: dict | None = None) -> SimulationInputs:
    """Read the files of a simulation on one grid (``carbonmap simulate``): land covers at two dates,
    driver rasters, optionally the real map of the target year, a conversion matrix, restriction
    zones (a raster, non-zero = never converted) and a demand table.

    Raises
    ------
    InputError
        A file on another grid, a conversion matrix or demand naming classes the land cover does not
        have, an unknown demand.
    """
    from carbonmap.coefficients import scenario_parameters
    from carbonmap.io import read_raster
    from carbonmap.scenarios.demand import METHODS

    first, source = read_raster(before)
    grid = (first.shape, source.crs, source.transform)
    second = _read_on_grid(after, grid, "the later land cover", reference=before)
    read = {name: _read_on_grid(path, grid, f"driver {name!r}", reference=before)
            for name, path in (drivers or {}).items()}
    real = _read_on_grid(reference, grid, "the reference land cover", reference=before) \
        if reference is not None else None
    codes = np.union1d(np.unique(first.compressed()), np.unique(second.compressed()))
    spacing = (abs(source.transform.e), abs(source.transform.a))
    if demand not in METHODS or demand == "optimise":
        raise InputError(f"unknown demand {demand!r} for carbonmap simulate.", key="demand",
                         fix="use markov, trend or table (with a demand table).")
    wanted: object = demand
    if demand == "table":
        if demand_table is None:
            raise InputError("demand table needs the table.", key="demand-table", fix="give --demand-table FILE.")
        wanted = read_demand(demand_table, codes, int((~np.ma.getmaskarray(second)).sum()),
                             spacing[0] * spacing[1] / 1e4)
    zones = None
    if restricted is not None:
        zones = _read_on_grid(restricted, grid, "the restriction zones", reference=before)
        zones = np.ma.filled(zones, 0) != 0
    slope = np.ma.filled(read[slope_driver].astype(float), np.nan) if slope_driver in read else None
    return SimulationInputs(first, second, year_before, year_after, target_year, spacing,
                            {n: np.ma.filled(d.astype(np.float32), np.nan) for n, d in read.items()}, wanted,
                            read_conversion(conversion, codes) if conversion is not None else None, zones,
                            weights or {}, scenario_parameters(parameters), real, tuple(builtup_codes), slope,
                            source.transform, source.crs)


PATTERN_METRICS = ("PLAND", "NP", "LPI", "ED", "AI", "MESH")


def pattern_comparison(maps: dict, resolution: float) -> pd.DataFrame:
    """FRAGSTATS class metrics of the real and simulated maps, side by side (one row per map and class).

    Parameters
    ----------
    maps : dict of str -> masked array (H, W) of int
        Map name (``reference``, ``null``, ``plus``, ...) -> land cover.
    resolution : float [m]
        Cell size.

    Returns
    -------
    DataFrame
        ``model``, ``class``, then :data:`PATTERN_METRICS` (FRAGSTATS units: %, count, %, m/ha,
        %, ha), 8-neighbour patches (:func:`carbonmap.landscape.fragstats`).
    """
    from carbonmap.landscape import fragstats, prepare

    rows = [fragstats(prepare(data, resolution), metrics=PATTERN_METRICS).class_.assign(model=name)
            for name, data in maps.items()]
    table = pd.concat(rows, ignore_index=True)
    return table[["model", "class", *PATTERN_METRICS]]


def run_simulation(inputs: SimulationInputs):
    """:func:`~carbonmap.scenarios.plus.simulate_land_use` on prepared inputs; with a reference map,
    the FRAGSTATS class metrics of the real and simulated maps in ``run.patterns``."""
    from carbonmap.scenarios.plus import simulate_land_use

    run = simulate_land_use(inputs.before, inputs.after, year_before=inputs.year_before,
                             year_after=inputs.year_after, target_year=inputs.target_year, spacing=inputs.spacing,
                             drivers=inputs.drivers, demand=inputs.demand, parameters=inputs.parameters,
                             conversion=inputs.conversion, restricted=inputs.restricted, weights=inputs.weights,
                             reference=inputs.reference, builtup_codes=inputs.builtup_codes,
                             slope_deg=inputs.slope_deg)
    if inputs.reference is not None:
        run.patterns = pattern_comparison({"reference": inputs.reference, **run.comparison,
                                           "plus": run.simulation.landcover}, float(np.mean(inputs.spacing)))
    return run


def plus_tables(run, *, scenario: str | None = None) -> dict[str, pd.DataFrame]:
    """The tables of a simulation: driver importances, samples, demand, yearly course, validation.

    Returns
    -------
    dict of name -> DataFrame
        ``plus_importance`` (code, driver, importance), ``plus_samples``, ``plus_demand``
        (code, cells_demand), ``plus_course`` (year_step, code, cells, target_cells,
        iterations) and, with a reference map, ``plus_validation`` (one row per model) and
        ``plus_landscape_metrics`` (FRAGSTATS class metrics of the real and simulated maps). With
        `scenario`, each table has a first column ``scenario`` and a name starting ``scenario_``.
    """
    demand = pd.DataFrame({"code": [int(c) for c in run.demand.index], "cells_demand": run.demand.to_numpy()})
    tables = {"plus_importance": run.suitability.importance, "plus_samples": run.suitability.samples,
              "plus_demand": demand, "plus_course": run.simulation.history}
    if run.validation is not None:
        tables["plus_validation"] = run.validation
    if run.patterns is not None:
        tables["plus_landscape_metrics"] = run.patterns
    if scenario is None:
        return tables
    return {f"scenario_{name}": table.assign(scenario=scenario)[["scenario", *table.columns]]
            for name, table in tables.items()}
