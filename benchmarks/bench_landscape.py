"""Landscape metrics: carbonmap vs pylandstats, metric by metric, on a 5,000 x 5,000 raster.

The raster (built once in --workdir, seeded): a Gaussian-smoothed random field cut into 6
equal-area classes, about 100,000 patches (8-neighbour rule), 30 m cells.

For each metric, each tool runs in a fresh process (no cache shared between metrics) and is
timed from the array in memory to the metric at class and landscape level:

- carbonmap: ``prepare`` + ``fragstats(metrics=[M])``;
- pylandstats: ``Landscape(...)`` + ``compute_class_metrics_df`` (and
  ``compute_landscape_metrics_df`` where it has the metric), stopped after --timeout seconds.

Then carbonmap computes the whole metric list of ``carbonmap.landscape.metrics`` at once, for
the total time and peak memory. The script prints wall time, peak memory, the ratio and the
largest relative difference between the two tools' values for each metric.

Usage::

    pip install -e ".[bench]"
    python benchmarks/bench_landscape.py [--size 5000] [--timeout 900]
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
    """The test raster, built in a child process: a child's peak memory (ru_maxrss) starts from
    its parent's, so the parent must stay small for the measurements to be the tools' own."""
    path = workdir / f"landscape_{size}.npy"
    if not path.exists():
        workdir.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, __file__, "--make", str(path), "--size", str(size)], check=True)
    return path


def _generate(path: Path, size: int) -> None:
    from scipy import ndimage

    rng = np.random.default_rng(3)
    field = ndimage.gaussian_filter(rng.standard_normal((size, size), dtype=np.float32), 4.4)
    cuts = np.quantile(field[::7, ::7], np.linspace(0, 1, 7)[1:-1])
    np.save(path, (np.digitize(field, cuts) + 1).astype(np.uint8))


def child(tool: str, metric: str, raster: Path, result: Path) -> None:
    data = np.load(raster)
    if tool == "carbonmap":
        from carbonmap.landscape import fragstats, prepare
    else:
        import warnings

        import pylandstats as pls

        warnings.simplefilter("ignore")
    t0 = time.perf_counter()  # imports done: time only the computation
    if tool == "carbonmap":
        wanted = None if metric == "ALL" else [metric]
        out = fragstats(prepare(data, 30.0), metrics=wanted)
        classes = {} if metric in LANDSCAPE_ONLY or metric == "ALL" else dict(zip(out.class_["class"].tolist(),
                                                                                   out.class_[metric].tolist()))
        landscape = None if metric == "ALL" or metric not in out.landscape else float(out.landscape.loc[0, metric])
        patches = len(out.patch) if metric == "ALL" else None
    else:
        land = pls.Landscape(data, res=(30, 30), nodata=0, neighborhood_rule=8)
        name = METRICS[metric]
        classes = {}
        if metric not in LANDSCAPE_ONLY:
            frame = land.compute_class_metrics_df(metrics=[name])
            classes = {int(k): float(v) for k, v in frame[name].items()}
        landscape = float(land.compute_landscape_metrics_df(metrics=[name])[name].iloc[0])
        patches = None
    seconds = time.perf_counter() - t0
    result.write_text(json.dumps({"seconds": seconds, "classes": classes, "landscape": landscape,
                                  "patches": patches}))


def run(tool: str, metric: str, raster: Path, workdir: Path, timeout: float) -> dict | None:
    result = workdir / f"result_{tool}_{metric}.json"
    result.unlink(missing_ok=True)
    proc = subprocess.Popen([sys.executable, __file__, "--child", tool, "--metric", metric, "--raster", str(raster),
                             "--result", str(result)])
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
    print(f"raster: {args.size} x {args.size}, 6 classes, 30 m cells")
    print(f"{'metric':<9} {'carbonmap':>10} {'pylandstats':>12} {'ratio':>7} {'peak MB (c / p)':>16}  largest rel. difference")
    for metric in args.metrics.split(","):
        ours = run("carbonmap", metric, raster, args.workdir, float("inf"))
        theirs = run("pylandstats", metric, raster, args.workdir, args.timeout)
        if theirs is None:
            print(f"{metric:<9} {ours['seconds']:>9.2f}s {'> ' + format(args.timeout, '.0f') + 's':>12} "
                  f"{'> ' + format(args.timeout / ours['seconds'], '.0f'):>7} {ours['peak_mb']:>7.0f} / -       "
                  "(pylandstats stopped)")
            continue
        diff = largest_difference(ours, theirs)
        note = f"  ({KNOWN_DIFFERENCES[metric]})" if metric in KNOWN_DIFFERENCES and diff > 1e-6 else ""
        print(f"{metric:<9} {ours['seconds']:>9.2f}s {theirs['seconds']:>11.2f}s {theirs['seconds'] / ours['seconds']:>6.1f}x "
              f"{ours['peak_mb']:>7.0f} / {theirs['peak_mb']:<7.0f} {diff:.1e}{note}")
    every = run("carbonmap", "ALL", raster, args.workdir, float("inf"))
    print(f"\ncarbonmap, all {len(__import__('carbonmap.landscape.metrics', fromlist=['ALL_METRICS']).ALL_METRICS)} "
          f"metrics at once ({every['patches']:,} patches): {every['seconds']:.1f} s, peak {every['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
