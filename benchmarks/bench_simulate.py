"""Land-use simulation: the PLUS-like simulator against today's Markov + simple allocation.

Each case runs both models in separate child processes (so each peak memory is its own) on the
same two land covers and the same Markov demand, and prints wall time, CPU time and peak memory:

- ``demo``: the demo city's land covers of 2015 and 2023 (sample_data/demo_city), simulated to
  2039 (16 years), with the elevation as a driver;
- ``plum``: Plum Island 1985 -> 1991, simulated to 1999 (8 years), and validated against the real
  1999 map (Figure of Merit, Kappa, overall accuracy, quantity and allocation disagreement of the
  null model, today's allocation and the simulator); test-only data, read from
  ``../shared/data/plum_island_lulcc`` (or $CARBONMAP_SHARED);
- ``megacity``: the megacity preset's aligned land covers (16,120 km2 at 30 m), 20 simulated years
  (``--megacity-rasters``, default /work/megacity_out2/rasters).

Usage::

    python benchmarks/bench_simulate.py                 # demo and plum
    python benchmarks/bench_simulate.py --cases megacity
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from _measure import run_child

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CARBONMAP_SHARED", REPO.parent / "shared"))


def _cases(megacity: Path) -> dict:
    demo = REPO / "sample_data" / "demo_city"
    plum = SHARED / "data" / "plum_island_lulcc"
    return {
        "demo": {"before": demo / "landcover_2015.tif", "after": demo / "landcover_2023.tif", "years": (2015, 2023, 2039),
                 "drivers": {"elevation": demo / "dem.tif"}, "builtup": [8]},
        "plum": {"before": plum / "lu_1985.tif", "after": plum / "lu_1991.tif", "years": (1985, 1991, 1999),
                 "drivers": {"elevation": plum / "ef_001_elevation.tif", "slope": plum / "ef_002_slope.tif"},
                 "reference": plum / "lu_1999.tif", "builtup": [2]},
        "megacity": {"before": megacity / "landcover_2015.tif", "after": megacity / "landcover_2023.tif",
                     "years": (2015, 2023, 2043), "drivers": {"elevation": megacity / "elevation.tif"},
                     "builtup": [8]},
    }


def _read(path):
    import numpy as np
    import rasterio

    with rasterio.open(path) as src:
        data = src.read(1, masked=True)
        if src.nodata is None and data.dtype.kind in "iu":
            data = np.ma.masked_equal(data, 0)
        return data, (abs(src.transform.e), abs(src.transform.a))


def child(model: str, case: dict, result: Path) -> None:
    import numpy as np
    import pandas as pd

    before, spacing = _read(case["before"])
    after, _ = _read(case["after"])
    drivers = {}
    for name, path in case["drivers"].items():
        data, _ = _read(path)
        if data.shape == after.shape:  # a driver on another grid is left out (the pipeline aligns them)
            drivers[name] = np.ma.filled(data.astype("float32"), np.nan)
    y0, y1, target = case["years"]
    start = time.perf_counter(), time.process_time()
    if model == "today":
        from carbonmap.coefficients import scenario_parameters
        from carbonmap.scenarios import (
            allocate,
            periods_to,
            project_areas,
            suitability,
            transition_matrix,
        )

        p = scenario_parameters()
        matrix = transition_matrix(before, after)
        codes, counts = np.unique(after.compressed(), return_counts=True)
        flows = project_areas(pd.Series(counts, index=codes), matrix, periods_to(target, y0, y1))
        built = np.isin(np.ma.getdata(after), case["builtup"]) & ~np.ma.getmaskarray(after)
        allocate(after, flows, lambda code: suitability(
            np.ma.getdata(after), code, float(np.mean(spacing)), window_cells=p["markov_window_cells"],
            distance_decay_m=p["markov_distance_decay_m"], max_slope_deg=p["markov_max_slope_deg"],
            builtup=built if code in case["builtup"] else None))
        extra = {}
    else:
        from carbonmap.scenarios.plus import simulate_land_use

        reference = _read(case["reference"])[0] if case.get("reference") else None
        run = simulate_land_use(before, after, year_before=y0, year_after=y1, target_year=target, spacing=spacing,
                                drivers=drivers, reference=reference, builtup_codes=case["builtup"],
                                slope_deg=drivers.get("slope"))
        extra = {"iterations": int(run.simulation.history.groupby("year_step")["iterations"].first().sum()),
                 "completed_cells": run.simulation.completed_cells}
        if run.validation is not None:
            extra["validation"] = run.validation.round(4).to_dict(orient="records")
    wall, cpu = time.perf_counter() - start[0], time.process_time() - start[1]
    result.write_text(json.dumps({"model": model, "wall_s": wall, "cpu_s": cpu, "cells": int(after.count()),
                                  "years": target - y1, **extra}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="demo,plum", help="comma-separated: demo, plum, megacity")
    parser.add_argument("--megacity-rasters", type=Path, default=Path("/work/megacity_out2/rasters"))
    parser.add_argument("--child", nargs=3, metavar=("MODEL", "CASE", "RESULT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    cases = _cases(args.megacity_rasters)
    if args.child:
        model, case, result = args.child
        child(model, {**cases[case], "megacity": args.megacity_rasters}, Path(result))
        return
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.cases.split(","):
            if not Path(cases[name]["before"]).exists():
                print(f"{name}: inputs not found ({cases[name]['before']}), skipped")
                continue
            rows = {}
            for model in ("today", "plus"):
                result = Path(tmp) / f"{name}_{model}.json"
                rows[model] = run_child([sys.executable, __file__, "--megacity-rasters", str(args.megacity_rasters),
                                         "--child", model, name, str(result)], result, f"{name} {model}")
            for model, row in rows.items():
                print(f"{name:9s} {model:6s} {row['cells']:>12,} cells {row['years']:>3} yr  wall {row['wall_s']:8.1f} s"
                      f"  cpu {row['cpu_s']:8.1f} s  peak {row['peak_mb']:8.0f} MB"
                      + (f"  CA iterations {row['iterations']}" if "iterations" in row else ""))
            print(f"{name:9s} simulator / today: wall x{rows['plus']['wall_s'] / rows['today']['wall_s']:.1f}, "
                  f"peak memory x{rows['plus']['peak_mb'] / rows['today']['peak_mb']:.1f}")
            for row in rows["plus"].get("validation", []):
                print(f"{name:9s} {row['model']:18s} FoM {row['figure_of_merit']:.4f}  kappa {row['kappa']:.4f}  "
                      f"OA {row['overall_accuracy']:.4f}  quantity {row['quantity_disagreement']:.4f}  "
                      f"allocation {row['allocation_disagreement']:.4f}")


if __name__ == "__main__":
    main()
