"""Landscape metrics: carbonmap vs pylandstats, metric by metric, on a 5,000 x 5,000 raster.

The raster (built once in --workdir, seeded): a Gaussian-smoothed random field cut into 6
equal-area classes, about 100,000 patches (8-neighbour rule), 30 m cells.

For each metric, each tool runs in a fresh process (no cache shared between metrics) and is
timed from the array in memory to the metric at class and landscape level:

- carbonmap: ``prepare`` + ``fragstats(metrics=[M])``;
- pylandstats: ``Landscape(...)`` + ``compute_class_metrics_df`` (and
  ``compute_landscape_metrics_df`` where it has the metric), stopped after --timeout seconds.

Then each tool computes all the metrics of the table at once, in one process (its caches
shared between them), with and without ENN_MN (pylandstats' ENN is the slowest by far); and
carbonmap its whole metric list (``carbonmap.landscape.metrics.ALL_METRICS``, a superset),
for the total time and peak memory: from the array in memory, and from a COG of the raster
window by window (``read_tiled_landscape``: strips labelled and joined, a patch-id COG written,
the sweeps made band by band, as the pipeline's landscape stage does).

With ``--repeat N`` each measurement runs N times and the shortest times count.

The script prints wall time, CPU time (of the computation, in the child), peak memory, the
ratio pylandstats / carbonmap on wall and on CPU time, and the largest relative difference
between the two tools' values for each metric. On a machine shared with other work the wall
times stretch with the load; the CPU times much less, so their ratio is the steadier one.

With ``--baseline DIR`` (a folder holding another version of the ``carbonmap`` package, e.g.
``git archive <commit> carbonmap | tar -x -C DIR``), that version is timed too, in the same
run, with its own ratio to pylandstats: before and after a change, on the same machine and load.

Usage::

    pip install -e ".[bench]"
    python benchmarks/bench_landscape.py [--size 5000] [--timeout 900] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from _measure import best_of as measured_best_of

#: FRAGSTATS abbreviation -> pylandstats method (class and landscape level unless noted).
METRICS = {
    "NP": "number_of_patches", "PD": "patch_density", "LPI": "largest_patch_index", "TE": "total_edge",
    "ED": "edge_density", "LSI": "landscape_shape_index", "CONTAG": "contagion", "SHDI": "shannon_diversity_index",
    "MESH": "effective_mesh_size", "AREA_MN": "area_mn", "SHAPE_MN": "shape_index_mn",
    "FRAC_MN": "fractal_dimension_mn", "PARA_MN": "perimeter_area_ratio_mn", "TCA": "total_core_area",
    "CAI_MN": "core_area_index_mn", "ENN_MN": "euclidean_nearest_neighbor_mn",
}
LANDSCAPE_ONLY = {"CONTAG", "SHDI"}
#: Where the two tools define a metric differently (values then differ by design).
KNOWN_DIFFERENCES = {
    "CONTAG": "pylandstats weights classes by adjacency counts, FRAGSTATS (and carbonmap) by area proportions "
              "(../shared/reference/fragstats/README.md)",
}


def make_raster(workdir: Path, size: int) -> Path:
    """The test raster (an array, and the same as a COG beside it), built in a child process: a
    child's peak memory (ru_maxrss) starts from its parent's, so the parent must stay small for
    the measurements to be the tools' own."""
    path = workdir / f"landscape_{size}.npy"
    if not path.exists() or not path.with_suffix(".tif").exists():
        workdir.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, __file__, "--make", str(path), "--size", str(size)], check=True)
    return path


def _generate(path: Path, size: int) -> None:
    from scipy import ndimage

    rng = np.random.default_rng(3)
    field = ndimage.gaussian_filter(rng.standard_normal((size, size), dtype=np.float32), 4.4)
    cuts = np.quantile(field[::7, ::7], np.linspace(0, 1, 7)[1:-1])
    data = (np.digitize(field, cuts) + 1).astype(np.uint8)
    np.save(path, data)
    from affine import Affine

    from carbonmap.io import cog_writer

    with cog_writer(path.with_suffix(".tif"), width=size, height=size, dtype="uint8", crs="EPSG:32650",
                    transform=Affine(30, 0, 500_000, 0, -30, 3_000_000), nodata=0) as dst:
        dst.write(data, 1)


#: Several metrics in one process: the table's metrics, the same without ENN_MN, carbonmap's whole list.
GROUPS = {"TABLE": list(METRICS), "TABLE-ENN": [m for m in METRICS if m != "ENN_MN"], "ALL": None}


def child(tool: str, metric: str, raster: Path, result: Path) -> None:
    data = np.load(raster) if tool != "carbonmap-file" else None
    if tool == "carbonmap-file":
        from carbonmap.landscape import fragstats, read_tiled_landscape
    elif tool == "carbonmap":
        from carbonmap.landscape import fragstats, prepare
    else:
        import warnings

        import pylandstats as pls

        warnings.simplefilter("ignore")
    group = metric in GROUPS
    t0, c0 = time.perf_counter(), time.process_time()  # imports done: time only the computation
    if tool == "carbonmap-file":
        land = read_tiled_landscape(raster.with_suffix(".tif"), raster.with_name("patch_id.tif"))
        out = fragstats(land, metrics=GROUPS[metric])
        classes, landscape, patches = {}, None, len(out.patch) if metric == "ALL" else None
    elif tool == "carbonmap":
        wanted = GROUPS[metric] if group else [metric]
        out = fragstats(prepare(data, 30.0), metrics=wanted)
        classes = {} if metric in LANDSCAPE_ONLY or group else dict(zip(out.class_["class"].tolist(),
                                                                        out.class_[metric].tolist()))
        landscape = None if group or metric not in out.landscape else float(out.landscape.loc[0, metric])
        patches = len(out.patch) if metric == "ALL" else None
    else:
        land = pls.Landscape(data, res=(30, 30), nodata=0, neighborhood_rule=8)
        names = [METRICS[m] for m in GROUPS[metric]] if group else [METRICS[metric]]
        classes, landscape = {}, None
        class_names = [METRICS[m] for m in METRICS if METRICS[m] in names and m not in LANDSCAPE_ONLY]
        if class_names:
            frame = land.compute_class_metrics_df(metrics=class_names)
            if not group:
                classes = {int(k): float(v) for k, v in frame[names[0]].items()}
        frame = land.compute_landscape_metrics_df(metrics=names)
        if not group:
            landscape = float(frame[names[0]].iloc[0])
        patches = None
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    result.write_text(json.dumps({"seconds": seconds, "cpu": cpu, "classes": classes, "landscape": landscape,
                                  "patches": patches}))


def run(tool: str, metric: str, raster: Path, workdir: Path, timeout: float, package: Path | None = None
        ) -> dict | None:
    """Time `tool` on `metric` in a child process; carbonmap from folder `package` if given.
    None when stopped after `timeout` seconds."""
    result = workdir / f"result_{tool}_{metric}.json"
    result.unlink(missing_ok=True)
    env = None if package is None else {**os.environ, "PYTHONPATH": str(package)}
    proc = subprocess.Popen([sys.executable, __file__, "--child", tool, "--metric", metric, "--raster", str(raster),
                             "--result", str(result)], env=env)
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            os.wait4(proc.pid, 0)
            return None
        time.sleep(0.05)
    if status != 0:
        raise SystemExit(f"{tool} {metric} failed (status {status})")
    data = json.loads(result.read_text())
    data["peak_mb"] = usage.ru_maxrss / 1024
    return data


def best_of(repeat: int, *args, **kwargs) -> dict | None:
    """:func:`run` `repeat` times: the shortest wall and CPU times, the largest peak memory."""
    return measured_best_of(repeat, lambda: run(*args, **kwargs), times=("seconds", "cpu"))


def largest_difference(a: dict, b: dict) -> float:
    pairs = [(a["landscape"], b["landscape"])] if a["landscape"] is not None and b["landscape"] is not None else []
    pairs += [(a["classes"][k], b["classes"][str(k)] if str(k) in b["classes"] else b["classes"].get(k))
              for k in a["classes"]]
    diffs = [abs(x - y) / max(abs(y), 1e-12) for x, y in pairs if x is not None and y is not None
             and np.isfinite(x) and np.isfinite(y)]
    return max(diffs) if diffs else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=5000)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds before a pylandstats run is stopped")
    parser.add_argument("--workdir", type=Path, default=Path(__file__).parent / "_work")
    parser.add_argument("--metrics", default=",".join(METRICS), help="comma-separated FRAGSTATS abbreviations")
    parser.add_argument("--baseline", type=Path, help="folder with another version of the carbonmap package to time too")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each measurement; the shortest times count")
    parser.add_argument("--no-groups", action="store_true", help="skip the runs of all the table's metrics at once")
    for hidden in ("--child", "--metric", "--raster", "--result", "--make"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make:
        _generate(Path(args.make), args.size)
        return
    if args.child:
        child(args.child, args.metric, Path(args.raster), Path(args.result))
        return
    raster = make_raster(args.workdir, args.size)
    baseline = args.baseline.resolve() if args.baseline else None
    print(f"raster: {args.size} x {args.size}, 6 classes, 30 m cells")
    head = f"{'metric':<9} {'carbonmap':>15} {'pylandstats':>15} {'ratio':>11} {'peak MB (c / p)':>16}"
    if baseline:
        head += f"  {'baseline':>15} {'ratio':>11}"
    print(head + "  largest rel. difference")
    print(f"{'':<9} {'wall / cpu':>15} {'wall / cpu':>15} {'wall / cpu':>11} {'':>16}"
          + (f"  {'wall / cpu':>15} {'wall / cpu':>11}" if baseline else ""))

    def times(r: dict) -> str:
        return f"{r['seconds']:6.2f}s /{r['cpu']:6.2f}s"

    def ratio(theirs: dict | None, ours: dict) -> str:
        if theirs is None:
            return f"> {args.timeout / ours['seconds']:.0f}x"
        return f"{theirs['seconds'] / ours['seconds']:4.1f} /{theirs['cpu'] / ours['cpu']:4.1f}"

    rows = [*args.metrics.split(","), *([] if args.no_groups else ["TABLE-ENN", "TABLE"])]
    for metric in rows:
        ours = best_of(args.repeat, "carbonmap", metric, raster, args.workdir, float("inf"))
        theirs = best_of(args.repeat, "pylandstats", metric, raster, args.workdir, args.timeout)
        old = (best_of(args.repeat, "carbonmap", metric, raster, args.workdir, float("inf"), baseline)
               if baseline else None)
        line = (f"{metric:<9} {times(ours):>15} {times(theirs) if theirs else '> ' + format(args.timeout, '.0f') + 's':>15}"
                f" {ratio(theirs, ours):>11} {ours['peak_mb']:>7.0f} / "
                f"{format(theirs['peak_mb'], '.0f') if theirs else '-':<7}")
        if old:
            line += f"  {times(old):>15} {ratio(theirs, old):>11}"
        if theirs is None:
            line += "  (pylandstats stopped)"
        elif metric not in GROUPS:
            diff = largest_difference(ours, theirs)
            note = f"  ({KNOWN_DIFFERENCES[metric]})" if metric in KNOWN_DIFFERENCES and diff > 1e-6 else ""
            line += f"  {diff:.1e}{note}"
        print(line, flush=True)
    every = best_of(args.repeat, "carbonmap", "ALL", raster, args.workdir, float("inf"))
    n_all = len(__import__("carbonmap.landscape.metrics", fromlist=["ALL_METRICS"]).ALL_METRICS)  # after the runs
    print(f"\ncarbonmap, all {n_all} metrics at once ({every['patches']:,} patches): {every['seconds']:.1f} s "
          f"(cpu {every['cpu']:.1f} s), peak {every['peak_mb']:.0f} MB")
    tiled = best_of(args.repeat, "carbonmap-file", "ALL", raster, args.workdir, float("inf"))
    print(f"carbonmap, the same from its COG window by window: {tiled['seconds']:.1f} s (cpu {tiled['cpu']:.1f} s), "
          f"peak {tiled['peak_mb']:.0f} MB")
    if baseline:
        old = best_of(args.repeat, "carbonmap", "ALL", raster, args.workdir, float("inf"), baseline)
        print(f"baseline, all metrics at once: {old['seconds']:.1f} s (cpu {old['cpu']:.1f} s), "
              f"peak {old['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
