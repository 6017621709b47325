"""The ecological-network chain on a 2,000 x 2,000 land cover with about 20 sources.

Builds (once, in --workdir, seeded) a CLCD-coded land cover of 30 m cells: forest, grassland,
cropland, water and towns from smoothed random fields, then runs
``carbonmap.landscape.network.network_from_rasters`` (MSPA, dPC ranking, resistance, least-cost
corridors, circuit currents, pinch points and barriers) in a child process, and prints the time
of each step and the peak memory. The circuits are Circuitscape's pairwise mode on 2 x 2 blocks:
one system per linked pair (only that pair's two sources short-circuited), all reusing one
multigrid hierarchy. To compare two versions, ``--against <other checkout>`` runs that
checkout's chain right after this one's, on the same land cover, and prints each step's ratio
(other / this). There is no peer to compare against in one script (GuidosToolbox and
Circuitscape are separate desktop tools); the target is "a few minutes, under 4 GB".

Usage::

    python benchmarks/bench_network.py [--size 2000] [--against /path/to/other/checkout]
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

from _measure import run_child


def _generate(path: Path, size: int) -> None:
    import rasterio
    from affine import Affine
    from scipy import ndimage

    rng = np.random.default_rng(11)
    nature = ndimage.gaussian_filter(rng.standard_normal((size, size)), size / 60)
    towns = ndimage.gaussian_filter(rng.standard_normal((size, size)), size / 100)
    wet = ndimage.gaussian_filter(rng.standard_normal((size, size)), size / 150)
    cover = np.full((size, size), 1, dtype=np.uint8)  # cropland
    cover[nature > np.quantile(nature, 0.55)] = 4  # grassland
    cover[nature > np.quantile(nature, 0.70)] = 2  # forest
    cover[towns > np.quantile(towns, 0.85)] = 8  # impervious
    cover[wet > np.quantile(wet, 0.97)] = 5  # water
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 1, "dtype": "uint8", "nodata": 0,
               "crs": "EPSG:32650", "transform": Affine(30, 0, 400000, 0, -30, 3400000), "tiled": True,
               "compress": "deflate"}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(cover, 1)


def child(raster: Path, result: Path) -> None:
    from carbonmap.landscape.network import NetworkSettings, network_from_rasters

    t0 = time.perf_counter()
    land, _, out = network_from_rasters(raster, "clcd", settings=NetworkSettings(min_core_area_ha=50, max_sources=20))
    total = time.perf_counter() - t0
    result.write_text(json.dumps({"total_s": total, "timings": out.timings, "indices": out.indices,
                                  "cells": int(land.index.size)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=2000)
    parser.add_argument("--workdir", type=Path, default=Path(__file__).parent / "_work")
    parser.add_argument("--against", type=Path, help="another checkout to time on the same land cover")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--make", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make:
        _generate(Path(args.make), args.size)
        return
    if args.child:
        child(Path(args.child), Path(args.result))
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    raster = args.workdir / f"network_cover_{args.size}.tif"
    if not raster.exists():  # built in a child: a child's peak memory starts from its parent's
        subprocess.run([sys.executable, __file__, "--make", str(raster), "--size", str(args.size)], check=True)
    result = args.workdir / "network_result.json"
    data = run_child([sys.executable, __file__, "--child", str(raster), "--result", str(result)], result, "the chain")
    print(f"land cover: {args.size} x {args.size} cells of 30 m; {int(data['indices']['candidates'])} core areas "
          f">= 50 ha, {int(data['indices']['sources'])} sources, {int(data['indices']['corridors'])} corridors")
    for step, seconds in data["timings"].items():
        print(f"  {step:<28} {seconds:7.1f} s")
    print(f"  {'total (with reading, resistance)':<28} {data['total_s']:7.1f} s   peak memory {data['peak_mb'] / 1024:.2f} GB")
    if args.against:
        other = _run_other(args.against, raster, args.workdir / "network_result_other.json")
        print(f"against {args.against}: its time and the ratio (its / this)")
        for step, seconds in data["timings"].items():
            theirs = other["timings"].get(step, float("nan"))
            print(f"  {step:<28} {theirs:7.1f} s   x {theirs / seconds:5.2f}")
        print(f"  {'total (with reading, resistance)':<28} {other['total_s']:7.1f} s   x "
              f"{other['total_s'] / data['total_s']:5.2f}   peak memory {other['peak_mb'] / 1024:.2f} GB")


def _run_other(checkout: Path, raster: Path, result: Path) -> dict:
    """The chain of another checkout of carbonmap (its package first on the path)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(checkout), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, __file__, "--child", str(raster), "--result", str(result)], env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise SystemExit(f"the chain of {checkout} failed (status {status})")
    data = json.loads(result.read_text())
    data["peak_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
    return data


if __name__ == "__main__":
    main()
