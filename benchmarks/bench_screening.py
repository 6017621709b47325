"""The screening stage alone, on the saved state of a finished run (e.g. the megacity preset).

Loads the results of the stages before ``screening`` from a *copy* of a run's output folder
(``[outputs] save_state = true``), runs the stage's function once in a child process (its own
peak memory), and prints the stage's time, the time of its parts (rooftop ranking, the
afforestation sites, the per-site connectivity gains, the restoration scenarios with their joint
PC gains) and the peak memory. With ``--save FILE`` it also writes what the stage computes for
the sites (every numeric column of the ranked sites, their ranks, the reason and eligibility
areas, the citywide joint gains) to an ``.npz``; with ``--compare FILE`` it checks them against
such a file (ranks identical, values to 1e-9 relative), e.g. one written by another checkout::

    PYTHONPATH=/path/to/old python benchmarks/bench_screening.py PROJECT COPY --save old.npz
    PYTHONPATH=$PWD python benchmarks/bench_screening.py PROJECT COPY --compare old.npz

The stage writes its files into a temporary folder, never into COPY.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _measure import run_child


def _timed(module, name: str, spent: dict) -> None:
    """Wrap ``module.name`` so that its calls add their seconds to ``spent[name]``."""
    original = getattr(module, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        began = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - began

    setattr(module, name, wrapper)


def child(project_path: Path, folder: Path, result: Path, save: str | None) -> None:
    import carbonmap.themes.screening as theme
    from carbonmap.config import load_project
    from carbonmap.pipeline import STAGES, stage_names
    from carbonmap.screening import afforestation, restoration
    from carbonmap.stage import Publication, StageContext
    from carbonmap.state import STATE_DIR, load_state

    project = load_project(project_path)
    first = stage_names().index("screening")
    types_of = {s.name: {"result": s.writes if s.writes is not None else type(None), "publication": Publication}
                for s in STAGES[:first]}
    _, loaded = load_state(folder / STATE_DIR, folder, types_of=types_of)
    results = {name: entry["result"] for name, entry in loaded.items()}
    spent: dict[str, float] = {}
    _timed(afforestation, "pc_gain", spent)
    _timed(afforestation, "cross_distances", spent)
    _timed(restoration, "_joint_gain", spent)
    _timed(restoration, "_pc_of_habitat", spent)
    _timed(theme, "sites_from_rasters", spent)
    _timed(theme, "restoration_scenarios", spent)
    _timed(theme, "_screen_rooftops", spent)
    captured = {}
    original = theme.afforestation_tables

    def tables(result, scenarios):
        captured["result"], captured["scenarios"] = result, scenarios
        return original(result, scenarios)

    theme.afforestation_tables = tables
    stage = STAGES[first]
    with tempfile.TemporaryDirectory() as out:
        ctx = StageContext(stage, project, results, Path(out))
        began, cpu = time.perf_counter(), time.process_time()
        stage.run(ctx)
        total, cpu = time.perf_counter() - began, time.process_time() - cpu
    sites = captured["result"].sites.sort_values("site_id")
    citywide = captured["scenarios"][1]
    if save:
        screened = captured["result"]
        numbers = sites.select_dtypes("number").drop(columns=["site_id", "rank"])
        extra = {"reason_ha": screened.reason_table["area_ha"].to_numpy()}
        if screened.eligibility is not None:
            extra["eligibility_ha"] = screened.eligibility["excluded_ha"].to_numpy()
        np.savez(save, site_id=sites["site_id"].to_numpy(), rank=sites["rank"].to_numpy(),
                 scenarios=citywide["scenario"].to_numpy().astype(str),
                 joint=citywide["pc_joint_gain_pct"].to_numpy(), columns=np.array(numbers.columns, dtype=str),
                 sites=numbers.to_numpy(dtype=float), **extra)
    result.write_text(json.dumps({"stage_s": total, "stage_cpu_s": cpu, "parts_s": spent, "sites": len(sites),
                                  "joint_gain_pct": dict(zip(citywide["scenario"], citywide["pc_joint_gain_pct"]))}))


def compare(new: str, old: str) -> None:
    """Print the largest relative differences between two ``--save`` files; exit 1 unless ranks
    and scenarios are equal and the values agree to 1e-9."""
    a, b = np.load(new), np.load(old)
    ok = True
    for key in ("site_id", "rank", "scenarios"):
        same = np.array_equal(a[key], b[key])
        ok &= same
        print(f"{key}: {'identical' if same else 'DIFFERENT'}")
    columns = [str(c) for c in b["columns"]]
    same = columns == [str(c) for c in a["columns"]]
    ok &= same
    values = {"joint": (a["joint"], b["joint"])}
    if same:
        values.update({c: (a["sites"][:, i], b["sites"][:, i]) for i, c in enumerate(columns)})
    values.update({key: (a[key], b[key]) for key in ("reason_ha", "eligibility_ha") if key in b.files})
    for key, (new_values, old_values) in values.items():
        if new_values.shape != old_values.shape:
            ok = False
            print(f"{key}: DIFFERENT shapes")
            continue
        both = np.isfinite(old_values) & np.isfinite(new_values)
        same_kind = np.array_equal(np.isnan(old_values), np.isnan(new_values)) and np.array_equal(
            old_values[~both & ~np.isnan(old_values)], new_values[~both & ~np.isnan(new_values)])
        scale = np.maximum(np.abs(old_values[both]), 1e-300)
        worst = float(np.max(np.abs(new_values[both] - old_values[both]) / scale)) if both.any() else 0.0
        ok &= worst <= 1e-9 and same_kind
        print(f"{key}: largest relative difference {worst:.3g}{'' if same_kind else ', nan/inf DIFFER'}")
    if not ok:
        sys.exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("project", type=Path)
    parser.add_argument("folder", type=Path, help="a copy of the run's output folder (with its saved state)")
    parser.add_argument("--save", help="write the connectivity results to this .npz")
    parser.add_argument("--compare", help="check the connectivity results against this .npz")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.project, args.folder, Path(args.result), args.save)
        return
    with tempfile.TemporaryDirectory() as work:
        save = args.save or (str(Path(work) / "new.npz") if args.compare else None)
        command = [sys.executable, __file__, str(args.project), str(args.folder), "--child",
                   "--result", str(Path(work) / "result.json")] + (["--save", save] if save else [])
        data = run_child(command, Path(work) / "result.json", "the screening stage")
        print(f"screening stage: {data['stage_s']:.1f} s ({data.get('stage_cpu_s', float('nan')):.1f} s of CPU), "
              f"peak {data['peak_mb']:.0f} MB, {data['sites']} sites")
        for name, seconds in sorted(data["parts_s"].items(), key=lambda kv: -kv[1]):
            print(f"  {name}: {seconds:.1f} s")
        print("  joint PC gains [%]: " + ", ".join(f"{k} {v:.6g}" for k, v in data["joint_gain_pct"].items()))
        if args.compare:
            compare(save, args.compare)


if __name__ == "__main__":
    main()
