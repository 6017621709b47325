"""Circuitscape.jl's raster verification cases, read for carbonmap's circuit functions.

The inputs (``tests/data/circuitscape/input/raster/...``) and Circuitscape's own results
(``tests/data/circuitscape/output_verify/...``) are Circuitscape.jl's test data (MIT licence,
see that folder's README). This module reads a case's ``.ini``, turns its files into the
arrays that :func:`carbonmap.landscape.circuits.pairwise_currents` and
:func:`~carbonmap.landscape.circuits.one_to_all_currents` take, runs them, and returns ours
and theirs side by side. Run it as a script for a table of the largest relative errors.
"""

from __future__ import annotations

import configparser
import gzip
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from carbonmap.landscape.circuits import one_to_all_currents, pairwise_currents

DATA = Path(__file__).parent / "data" / "circuitscape"
NODATA = -9999.0

#: The cases run (what is left out, and why: the data README).
PAIRWISE_CASES = list(range(1, 18))
ONE_TO_ALL_CASES = list(range(1, 12))  # 12, 13 use variable source strengths and include lists
ALL_TO_ONE_CASES = list(range(1, 12))  # 12 likewise


def read_grid(path: Path) -> tuple[np.ndarray, dict]:
    """An ASCII grid (plain or gzipped) or a GeoTIFF: values and header (nodata as NaN)."""
    if path.suffix == ".tif":
        import rasterio

        with rasterio.open(path) as src:
            values = src.read(1).astype(np.float64)
            if src.nodata is not None:
                values[values == src.nodata] = np.nan
            t = src.transform
            return values, {"xllcorner": t.c, "yllcorner": t.f + t.e * src.height, "cellsize": t.a,
                            "nrows": src.height, "ncols": src.width}
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        lines = f.read().splitlines()
    header = {}
    for line in lines[:6]:
        key, value = line.split()[:2]
        header[key.lower()] = float(value)
    values = np.array([[float(v) for v in line.split()] for line in lines[6:] if line.strip()])
    values[values == header["nodata_value"]] = np.nan
    header["nrows"], header["ncols"] = int(header["nrows"]), int(header["ncols"])
    return values, header


@dataclass
class Case:
    name: str
    ours_resistance: np.ndarray  # Circuitscape's layout: -1 disconnected or not solved
    theirs_resistance: np.ndarray
    ours_current: np.ndarray | None
    theirs_current: np.ndarray | None


def _options(mode: str, number: int) -> tuple[str, dict]:
    prefix = {"pairwise": "sgVerify", "one_to_all": "oneToAllVerify", "all_to_one": "allToOneVerify"}[mode]
    name = f"{prefix}{number}"
    parser = configparser.ConfigParser()
    parser.read(DATA / "input" / "raster" / mode / str(number) / f"{name}.ini")
    options = {k: v.strip() for section in parser.sections() for k, v in parser[section].items()}
    return name, options


def _path(options, key) -> Path:
    return DATA / options[key]


def _points(options, header, shape) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, cols and ids of the focal cells (ids sorted as Circuitscape sorts them)."""
    path = _path(options, "point_file")
    head = (gzip.open(path, "rt") if path.suffix == ".gz" else open(path)).readline().lower()
    if path.suffix == ".tif" or head.startswith("ncols"):
        values, _ = read_grid(path)
        values = np.nan_to_num(values)
        rows, cols = np.nonzero(values)
        ids = values[rows, cols]
    else:
        table = np.loadtxt(path, ndmin=2)
        ids = table[:, 0]
        rows = np.array([math.ceil(header["nrows"] - (y - header["yllcorner"]) / header["cellsize"]) - 1
                         for y in table[:, 2]])
        cols = np.array([math.ceil((x - header["xllcorner"]) / header["cellsize"]) - 1 for x in table[:, 1]])
    keep = ids > 0
    return rows[keep], cols[keep], ids[keep].astype(int)


def _included(options, ids):
    """Circuitscape's include/exclude list: the ids kept and the set of pairs solved."""
    if options.get("use_included_pairs", "False") != "True":
        return np.unique(ids), None
    path = _path(options, "included_pairs_file")
    lines = path.read_text().split("\n")
    if lines[0].lower().startswith("min"):
        low, high = float(lines[0].split()[1]), float(lines[1].split()[1])
        table = np.array([[float(v) for v in line.split()] for line in lines[2:] if line.strip()])
        point_ids = table[1:, 0].astype(int)
        matrix = table[1:, 1:]
        matrix[matrix > high] = 0
        on = matrix >= low
        pairs = {(int(point_ids[i]), int(point_ids[j])) for i in range(len(point_ids))
                 for j in range(len(point_ids)) if i != j and (on[i, j] or on[j, i])}
        return point_ids, pairs
    mode = lines[0].split()[1]
    listed = [tuple(int(v) for v in line.split()) for line in lines[1:] if line.strip()]
    point_ids = np.unique(np.array(listed))
    listed_set = {p for p in listed} | {(b, a) for a, b in listed}
    if mode == "include":
        pairs = {(int(a), int(b)) for a in point_ids for b in point_ids if a != b and (a, b) in listed_set}
        return point_ids, pairs
    all_ids = np.unique(ids)
    return all_ids, {(int(a), int(b)) for a in all_ids for b in all_ids if a != b and (a, b) not in listed_set}


def run_case(mode: str, number: int, *, solver: str = "direct") -> Case:
    name, options = _options(mode, number)
    habitat, header = read_grid(_path(options, "habitat_file"))
    if options["habitat_map_is_resistances"] == "True":
        resistance = np.where(habitat > 0, habitat, np.nan)
    else:
        with np.errstate(divide="ignore"):
            resistance = np.where(habitat > 0, 1.0 / habitat, np.nan)
    if options.get("use_mask", "False") == "True":
        mask, _ = read_grid(_path(options, "mask_file"))
        resistance[~(np.nan_to_num(mask) > 0)] = np.nan
    short = None
    if options.get("use_polygons", "False") == "True":
        polygons, _ = read_grid(_path(options, "polygon_file"))
        short = np.nan_to_num(polygons).astype(np.int64)
    rows, cols, ids = _points(options, header, resistance.shape)
    kept, pairs = _included(options, ids)
    keep = np.isin(ids, kept)
    rows, cols, ids = rows[keep], cols[keep], ids[keep]
    first = np.unique(rows * resistance.shape[1] + cols, return_index=True)[1]
    keep = np.isin(ids, ids[first])  # two ids on one cell (sgVerify17's 1 and 11): the first keeps it
    rows, cols, ids = rows[keep], cols[keep], ids[keep]
    order = np.unique(ids)
    index = {int(v): k for k, v in enumerate(order)}
    focal = -np.ones(resistance.shape, dtype=np.int64)
    for r, c, v in zip(rows, cols, ids):
        focal[r, c] = index[int(v)]
    neighbours = 4 if options["connect_four_neighbors_only"] == "True" else 8
    average = "resistance" if options["connect_using_avg_resistances"] == "True" else "conductance"
    common = dict(neighbours=neighbours, average=average, short_circuits=short, solver=solver)
    if mode == "pairwise":
        todo = None if pairs is None else [(index[a], index[b]) for a, b in pairs
                                           if a < b and a in index and b in index]
        result = pairwise_currents(resistance, focal, pairs=todo, **common)
        ours = np.where(np.isfinite(result.resistance), result.resistance, -1.0)
        ours = np.vstack([np.r_[0, order], np.column_stack([order, ours])])
    else:
        direction = "one-to-all" if mode == "one_to_all" else "all-to-one"
        result = one_to_all_currents(resistance, focal, direction=direction, **common)
        values = np.where(np.isinf(result.resistance), -1.0, result.resistance)
        if direction == "all-to-one":
            values = np.where(np.isnan(values), 0.0, values)
        ours = np.column_stack([order, values])
    theirs = np.loadtxt(DATA / "output_verify" / f"{name}_resistances.out", ndmin=2)
    current_path = DATA / "output_verify" / f"{name}_cum_curmap.asc"
    writes = options.get("write_cur_maps", "False") == "True" or options.get("write_cum_cur_map_only") == "True"
    theirs_current = read_grid(current_path)[0] if writes and current_path.exists() else None
    return Case(name, ours, theirs, result.current if theirs_current is not None else None, theirs_current)


def resistance_error(case: Case) -> float:
    """Largest relative difference of the effective resistances (and the -1s must agree)."""
    ours, theirs = case.ours_resistance, case.theirs_resistance
    if case.ours_resistance.shape[1] == 2:  # one-to-all: (id, value) rows
        rows = np.isin(theirs[:, 0], ours[:, 0])
        a, b = ours[np.isin(ours[:, 0], theirs[:, 0]), 1], theirs[rows, 1]
    else:
        keep = np.r_[True, np.isin(theirs[1:, 0], ours[1:, 0])]
        theirs = theirs[np.ix_(keep, keep)]
        mine = np.r_[True, np.isin(ours[1:, 0], theirs[1:, 0])]
        ours = ours[np.ix_(mine, mine)]
        a, b = ours[1:, 1:], theirs[1:, 1:]
    if not np.array_equal(a < 0, b < 0):
        return np.inf
    b = np.where(np.abs(b) < 1e-12, 0.0, b)  # Circuitscape writes rounding residue (1.1e-16) for 0
    return float(np.max(np.where(b > 0, np.abs(a - b) / np.maximum(b, 1e-300), np.abs(a - b)), initial=0.0))


def current_error(case: Case) -> tuple[float, float, int]:
    """The cumulative current on carbonmap's network cells: the largest relative difference
    where Circuitscape's current is at least 1e-6 of its largest, the largest difference
    anywhere as a fraction of that largest current, and the number of cells where Circuitscape
    has current and carbonmap has no node (nodata cells inside a focal or short-circuit region).
    """
    ours, theirs = case.ours_current, np.nan_to_num(case.theirs_current)
    on = np.isfinite(ours)
    missing = int(np.count_nonzero(~on & (theirs > 0)))
    a, b = ours[on], theirs[on]
    top = float(np.abs(b).max(initial=0)) or 1.0
    big = np.abs(b) >= 1e-6 * top
    relative = float(np.max(np.abs(a - b)[big] / np.abs(b[big]), initial=0.0))
    return relative, float(np.max(np.abs(a - b), initial=0.0)) / top, missing


if __name__ == "__main__":
    for mode, numbers in (("pairwise", PAIRWISE_CASES), ("one_to_all", ONE_TO_ALL_CASES),
                          ("all_to_one", ALL_TO_ONE_CASES)):
        for number in numbers:
            case = run_case(mode, number)
            line = f"{case.name:<20} resistance {resistance_error(case):9.2e}"
            if case.ours_current is not None:
                relative, absolute, missing = current_error(case)
                line += f"   current {relative:9.2e} (of max {absolute:8.1e})"
                line += f"  ({missing} nodata cells in a region)" if missing else ""
            print(line)
