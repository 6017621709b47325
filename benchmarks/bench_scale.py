"""Scale: whole runs of the demo, the megacity and the city cluster, on each scheduler.

Each case is ``carbonmap run PROJECT`` in a child process; its peak memory is that of the largest
single process among it and its waited-for descendants (a local cluster's workers), not their sum.
The schedulers:

- ``in-process``: the default (threads of one process);
- ``local``: a local dask.distributed cluster of ``--workers`` worker processes.

Every run is given ``--memory-limit`` (default 12GB): the run's own process, and each worker of
a local cluster, is held to it (a run that passes it stops with an error).

It prints, per case and scheduler, the wall time, the peak memory and each stage's seconds (from
the run's ``run.json``), the slowest stage's share of the run, and the growth of time and memory
with the number of grid cells between the cases run (the exponent b of ``t ~ cells^b``).

The projects:

- ``demo``: ``sample_data/demo_city/project.toml``;
- ``megacity``: ``python sample_data/make_demo_city.py --preset megacity --out DIR`` and the demo
  project copied next to it (sample_data/README.md); ``--megacity DIR/project.toml``;
- ``cluster``: the city-cluster preset, likewise (``--cluster DIR/project.toml``).

Usage::

    python benchmarks/bench_scale.py                                   # demo, both schedulers
    python benchmarks/bench_scale.py --cases demo megacity --megacity /work/megacity/project.toml
    python benchmarks/bench_scale.py --cases megacity --schedulers in-process
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run_case(project: Path, scheduler: str, workers: int, memory_limit: str, out: Path) -> dict:
    """One whole run in a child process: wall time [s], peak memory [MB], stages [s], cells."""
    command = [sys.executable, "-m", "carbonmap", "run", str(project), "-o", str(out), "-q",
               "--scheduler", scheduler, "--memory-limit", memory_limit]
    if scheduler != "in-process":
        command += ["--workers", str(workers)]
    began = time.perf_counter()
    proc = subprocess.Popen(command)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - began
    if status != 0:
        raise SystemExit(f"{project} on {scheduler} failed (status {status})")
    manifest = json.loads((out / "run.json").read_text(encoding="utf-8"))
    return {"wall_s": wall, "peak_mb": usage.ru_maxrss / 1024, "cpu_s": usage.ru_utime + usage.ru_stime,
            "stages_s": manifest["stages_s"], "cells": _cells(out)}


def _cells(out: Path) -> int:
    import rasterio

    first = sorted((out / "rasters").glob("*.tif"))[0]
    with rasterio.open(first) as src:
        return src.width * src.height


def exponent(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope b of log(y) = a + b log(x) (None for fewer than two sizes)."""
    if len({x for x, _ in points}) < 2:
        return None
    lx = [math.log(x) for x, _ in points]
    ly = [math.log(y) for _, y in points]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", default=["demo"], choices=["demo", "megacity", "cluster"])
    parser.add_argument("--schedulers", nargs="+", default=["in-process", "local"])
    parser.add_argument("--megacity", type=Path, default=Path("/work/megacity/project.toml"))
    parser.add_argument("--cluster", type=Path, default=Path("/work/cluster/project.toml"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="12GB")
    parser.add_argument("--keep", type=Path, default=None, help="keep the outputs in this folder")
    args = parser.parse_args()
    projects = {"demo": REPO / "sample_data" / "demo_city" / "project.toml", "megacity": args.megacity,
                "cluster": args.cluster}
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep or Path(tmp)
        for case in args.cases:
            for scheduler in args.schedulers:
                out = base / f"{case}_{scheduler.replace('://', '_').replace(':', '_')}"
                result = run_case(projects[case], scheduler, args.workers, args.memory_limit, out)
                results[(case, scheduler)] = result
                slowest = max(result["stages_s"], key=result["stages_s"].get)
                share = result["stages_s"][slowest] / result["wall_s"]
                print(f"{case:9s} {scheduler:11s} {result['cells'] / 1e6:7.1f} M cells  "
                      f"{result['wall_s']:7.1f} s  {result['cpu_s']:7.1f} s CPU  {result['peak_mb']:8.0f} MB peak  "
                      f"slowest stage {slowest} {result['stages_s'][slowest]:.1f} s ({share:.0%})", flush=True)
                print("          " + ", ".join(f"{k} {v:.1f}" for k, v in result["stages_s"].items()), flush=True)
    for scheduler in args.schedulers:
        runs = [r for (_, s), r in results.items() if s == scheduler]
        time_b = exponent([(r["cells"], r["wall_s"]) for r in runs])
        memory_b = exponent([(r["cells"], r["peak_mb"]) for r in runs])
        if time_b is not None:
            print(f"growth on {scheduler}: time ~ cells^{time_b:.2f}, peak memory ~ cells^{memory_b:.2f}")


if __name__ == "__main__":
    main()
