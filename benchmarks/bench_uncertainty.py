"""Uncertainty: 1,000 Monte Carlo draws through the accounting against one plain run.

The uncertainty stage does not rerun the pipeline per draw: it builds the accounting as a linear
model of the coefficients once, from the results of the earlier stages, and computes every draw
as one array product (:mod:`carbonmap.uncertainty`). This script measures, in separate processes:

- one plain run of the project (every stage, without [uncertainty]), unless ``--state`` names
  the output folder of an earlier complete run, whose ``run.json`` stage times are then used;
- the uncertainty stage on that run's saved state (``.carbonmap/state``): building the linear
  model (reading the per-coefficient parts from the earlier stages' results) and the draws, for
  ``--draws`` draws (best of ``--repeat``).

It prints both times, their ratio, and what rerunning the pipeline per draw would take.

Usage::

    python benchmarks/bench_uncertainty.py                                  # the demo city
    python benchmarks/bench_uncertainty.py --project /work/megacity/project.toml --state /work/megacity_out2 \
        --run-seconds 375 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # this checkout's carbonmap, also when another is installed

from _measure import run_child


def plain_run(project: Path, out: Path, result: Path) -> None:
    """One run of every stage of `project` without [uncertainty] (child process)."""
    from dataclasses import replace

    from carbonmap.config import load_project
    from carbonmap.pipeline import run

    loaded = replace(load_project(project).with_output_dir(out), uncertainty=None)
    began = time.perf_counter()
    record = run(loaded, quiet=True)
    wall = time.perf_counter() - began
    result.write_text(json.dumps({"wall_s": wall, "stages_s": record.manifest["stages_s"]}))


def draws_on_state(project: Path, folder: Path, draws: int, repeat: int, result: Path) -> None:
    """The uncertainty stage on the saved state of `folder` (child process)."""
    from dataclasses import replace

    from carbonmap.coefficients import balance_classes
    from carbonmap.config import UncertaintySection, load_project
    from carbonmap.pipeline import STAGES, stage_names
    from carbonmap.stage import Publication, StageContext
    from carbonmap.state import STATE_DIR, load_state
    from carbonmap.themes.uncertainty import (
        UNCERTAINTY,
        model_of_run,
        prepare_uncertainty,
    )
    from carbonmap.uncertainty import analyse

    loaded = load_project(project)
    loaded = replace(loaded, uncertainty=UncertaintySection(draws=draws, seed=1))
    manifest = json.loads((folder / STATE_DIR / "manifest.json").read_text())
    earlier = [s for s in STAGES if s.name in manifest["saved"] and s.name in stage_names()[:stage_names().index(
        "uncertainty")]]
    began = time.perf_counter()
    types_of = {s.name: {"result": s.writes if s.writes is not None else type(None), "publication": Publication}
                for s in earlier}
    _, state = load_state(folder / STATE_DIR, folder, types_of=types_of)
    load_s = time.perf_counter() - began
    results = {name: entry["result"] for name, entry in state.items()}
    published = Publication.merged(entry["publication"] for entry in state.values())
    ctx = StageContext(UNCERTAINTY, loaded, results, Path(tempfile.mkdtemp()), published=published)
    inputs = prepare_uncertainty(loaded.uncertainty)
    classes = balance_classes(loaded.balance.classes)
    best_model = best_draws = float("inf")
    for _ in range(repeat):
        began = time.perf_counter()
        model = model_of_run(ctx, inputs.ranges)
        built = time.perf_counter()
        outcome = analyse(model, draws=draws, seed=1, classes=classes)
        done = time.perf_counter()
        best_model, best_draws = min(best_model, built - began), min(best_draws, done - built)
    net = outcome.city.set_index("quantity").loc["net_co2_t_yr"]
    result.write_text(json.dumps({"load_state_s": load_s, "model_s": best_model, "draws_s": best_draws,
                                  "units": int(model.base.shape[1]), "parameters": len(model.parameters),
                                  "net_p5": float(net["p5"]), "net_p50": float(net["p50"]),
                                  "net_p95": float(net["p95"]), "net_central": float(net["central"])}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=REPO / "sample_data" / "demo_city" / "project.toml")
    parser.add_argument("--state", type=Path, default=None, help="output folder of an earlier complete run")
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--run-seconds", type=float, default=None,
                        help="the time of one plain run measured elsewhere (with --state, when its run.json holds "
                             "the times of an --only run)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "plain":
            plain_run(Path(rest[0]), Path(rest[1]), Path(rest[2]))
        else:
            draws_on_state(Path(rest[0]), Path(rest[1]), int(rest[2]), int(rest[3]), Path(rest[4]))
        return
    work = Path(tempfile.mkdtemp(prefix="bench_uncertainty_"))
    me = [sys.executable, str(Path(__file__).resolve()), "--child"]
    if args.state is None:
        folder = work / "out"
        plain = run_child(me + ["plain", str(args.project), str(folder), str(work / "plain.json")],
                          work / "plain.json", "the plain run")
        run_s = plain["wall_s"]
        print(f"one plain run: {run_s:.1f} s wall, peak {plain['peak_mb']:.0f} MB")
    else:
        folder = args.state
        stages = json.loads((folder / "run.json").read_text())["stages_s"]
        run_s = args.run_seconds if args.run_seconds is not None else sum(stages.values())
        where = "given" if args.run_seconds is not None else f"stage times of {folder / 'run.json'}"
        print(f"one plain run ({where}): {run_s:.1f} s")
    drawn = run_child(me + ["draws", str(args.project), str(folder), str(args.draws), str(args.repeat),
                            str(work / "draws.json")], work / "draws.json", "the draws")
    stage_s = drawn["model_s"] + drawn["draws_s"]
    print(f"uncertainty, {args.draws} draws of {drawn['parameters']} coefficients on {drawn['units']} units: "
          f"{stage_s:.3f} s (linear model {drawn['model_s']:.3f} s, draws and statistics {drawn['draws_s']:.3f} s; "
          f"best of {args.repeat}; reading the saved state first took {drawn['load_state_s']:.1f} s), "
          f"peak {drawn['peak_mb']:.0f} MB")
    print(f"ratio: the {args.draws} draws take {stage_s / run_s * 100:.2f} % of one run; rerunning the pipeline per "
          f"draw would take about {args.draws * run_s / 3600:.1f} h")
    print(f"citywide net [t CO2/yr]: central {drawn['net_central']:,.0f}; 5 / 50 / 95 %: {drawn['net_p5']:,.0f} / "
          f"{drawn['net_p50']:,.0f} / {drawn['net_p95']:,.0f}")
    subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
