"""Zonal statistics: carbonmap vs rasterstats and exactextract, in one run.

Builds (once, in --workdir) a 10,000 x 10,000 float32 GeoTIFF (30 m cells, tiled, with a
nodata block) and 20,000 zones (a Voronoi tessellation, like planning units or census
tracts), then runs each tool in its own process on the same files, for the statistics
count, sum, mean, min and max, and prints the wall and CPU time of the call (each tool
imported before the clock starts) and peak memory (the process's maximum resident set,
imports included) with ratios against carbonmap; each tool runs 3 times (``--repeat``) and
its shortest times count. It finally checks that the tools agree: carbonmap and rasterstats
(same cell-centre rule) exactly on count, min and max and to float32 rounding on sum and mean; exactextract
(fractional coverage) on count = zone area / cell area, and on means (correlation).

Usage::

    pip install -e ".[bench]"
    python benchmarks/bench_zonal.py                 # all tools, 3 runs each (rasterstats' defaults take minutes)
    python benchmarks/bench_zonal.py --size 4000 --zones 5000 --tools carbonmap,exactextract-raster

Tools: carbonmap, rasterstats (its defaults, boundless=True), rasterstats-noboundless,
exactextract (default strategy), exactextract-raster (strategy="raster-sequential").
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from _measure import best_of, run_child

STATS = ["count", "sum", "mean", "min", "max"]
TOOLS = ["carbonmap", "rasterstats", "rasterstats-noboundless", "exactextract", "exactextract-raster"]
CELL = 30.0
ORIGIN = (500_000.0, 3_500_000.0)
CRS = "EPSG:32650"
NODATA = -9999.0


def make_data(workdir: Path, size: int, zones: int, seed: int = 42) -> tuple[Path, Path]:
    import geopandas as gpd
    import rasterio
    import shapely
    from affine import Affine

    workdir.mkdir(parents=True, exist_ok=True)
    raster = workdir / f"raster_{size}.tif"
    vector = workdir / f"zones_{size}_{zones}.gpkg"
    rng = np.random.default_rng(seed)
    if not raster.exists():
        transform = Affine(CELL, 0, ORIGIN[0], 0, -CELL, ORIGIN[1])
        tmp = raster.with_suffix(".tmp.tif")
        with rasterio.open(tmp, "w", driver="GTiff", width=size, height=size, count=1,
                           dtype="float32", crs=CRS, transform=transform, nodata=NODATA,
                           tiled=True, blockxsize=512, blockysize=512) as dst:
            rows = 512
            cols = np.arange(size, dtype="float32")
            for r0 in range(0, size, rows):
                n = min(rows, size - r0)
                r = np.arange(r0, r0 + n, dtype="float32")[:, None]
                smooth = np.sin(cols / 700.0) + np.cos(r / 900.0)  # a landscape-like trend
                block = (smooth + rng.normal(0, 1, (n, size))).astype("float32")
                block[(r[:, 0] >= size * 0.2) & (r[:, 0] < size * 0.3), int(size * 0.3):int(size * 0.4)] = NODATA
                dst.write(block, 1, window=((r0, r0 + n), (0, size)))
        tmp.rename(raster)
    if not vector.exists():
        x0, y1 = ORIGIN
        x1, y0 = x0 + size * CELL, y1 - size * CELL
        pts = shapely.points(rng.uniform(x0, x1, zones), rng.uniform(y0, y1, zones))
        frame = shapely.box(x0, y0, x1, y1)
        cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=frame))
        polys = shapely.intersection(np.asarray(cells), frame)
        gpd.GeoDataFrame({"zone": np.arange(len(polys))}, geometry=polys, crs=CRS).to_file(vector)
    return raster, vector


def child(tool: str, raster: Path, vector: Path, out: Path) -> None:
    """Run one tool (in its own process) and save its results and timings."""
    import geopandas as gpd
    import pandas as pd

    zones = gpd.read_file(vector)
    if tool == "carbonmap":
        from carbonmap.zonal import zonal_stats
    elif tool.startswith("rasterstats"):
        from rasterstats import zonal_stats
    else:
        from exactextract import exact_extract
    t0, c0 = time.perf_counter(), time.process_time()  # each tool's own imports are done
    if tool == "carbonmap":
        table = zonal_stats(zones, raster, stats=STATS)
    elif tool.startswith("rasterstats"):
        rows = zonal_stats(list(zones.geometry), str(raster), stats=STATS,
                           boundless=(tool == "rasterstats"))
        table = pd.DataFrame(rows, columns=STATS)
    else:
        strategy = "raster-sequential" if tool == "exactextract-raster" else "feature-sequential"
        table = exact_extract(str(raster), zones, STATS, output="pandas", strategy=strategy)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    table = pd.DataFrame(table)[STATS].astype(float)
    np.savez(out, **{s: table[s].to_numpy() for s in STATS})
    out.with_suffix(".json").write_text(json.dumps({"wall_s": wall, "cpu_s": cpu}))


def run_tool(tool: str, raster: Path, vector: Path, workdir: Path, repeat: int = 1) -> dict:
    """`tool`'s timing (the shortest of `repeat` runs, each in a new process) and results."""
    out = workdir / f"result_{tool}.npz"
    command = [sys.executable, __file__, "--child", tool, "--raster", str(raster), "--vector", str(vector),
               "--out", str(out)]
    timing = best_of(repeat, lambda: run_child(command, out.with_suffix(".json"), tool))
    timing["result"] = dict(np.load(out))
    return timing


def check_agreement(results: dict, vector: Path) -> list[str]:
    import geopandas as gpd

    lines = []
    mine = results.get("carbonmap", {}).get("result")
    if mine is None:
        return ["(carbonmap not run: no agreement check)"]
    for tool, res in results.items():
        theirs = res["result"]
        if tool.startswith("rasterstats"):
            same = all(np.array_equal(np.nan_to_num(mine[s], nan=-1), np.nan_to_num(theirs[s], nan=-1))
                       for s in ("count", "min", "max"))
            # rasterstats accumulates float32 rasters in float32 (carbonmap in float64), so
            # its sums carry a rounding error of order eps32 * count * max|value|.
            scale = mine["count"] * np.maximum(np.abs(mine["min"]), np.abs(mine["max"]))
            err = np.nanmax(np.abs(mine["sum"] - theirs["sum"]) / np.where(scale > 0, scale, 1))
            lines.append(f"{tool}: count/min/max identical for all zones: {same}; "
                         f"max |sum difference| / (count * max|value|) = {err:.1e} (float32 rounding)")
            if not same or err > 1e-6:
                raise SystemExit(f"carbonmap and {tool} disagree")
        elif tool.startswith("exactextract"):
            zones = gpd.read_file(vector)
            area_cells = zones.area.to_numpy() / CELL**2
            nodata_free = mine["count"] > 0
            big = nodata_free & (mine["count"] >= 100)
            corr = np.corrcoef(mine["mean"][big], theirs["mean"][big])[0, 1]
            count_vs_area = np.median(np.abs(theirs["count"] - area_cells) / area_cells)
            count_diff = np.median(np.abs(theirs["count"] - mine["count"])[nodata_free]
                                   / theirs["count"][nodata_free])
            lines.append(f"{tool}: median |count - area/cell| / (area/cell) = {count_vs_area:.1e} "
                         f"(its count is a coverage sum; lower where zones meet nodata); "
                         f"median |count - carbonmap count| / count = {count_diff:.1e}; "
                         f"correlation of means (zones >= 100 cells) = {corr:.5f}")
            if corr < 0.99:
                raise SystemExit(f"carbonmap and {tool} disagree")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=10_000, help="raster width and height [cells]")
    parser.add_argument("--zones", type=int, default=20_000)
    parser.add_argument("--tools", default=",".join(TOOLS))
    parser.add_argument("--workdir", type=Path, default=Path(__file__).parent / "_work")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each tool; the shortest times count")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--raster", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--vector", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.raster, args.vector, args.out)
        return
    tools = [t for t in args.tools.split(",") if t]
    unknown = set(tools) - set(TOOLS)
    if unknown:
        raise SystemExit(f"unknown tools {sorted(unknown)}; choose from {TOOLS}")
    print(f"data: {args.size} x {args.size} float32 raster, {args.zones} zones (building once in {args.workdir}); "
          f"the shortest of {args.repeat} run(s) of each tool")
    raster, vector = make_data(args.workdir, args.size, args.zones)
    results = {}
    for tool in tools:
        results[tool] = run_tool(tool, raster, vector, args.workdir, args.repeat)
        r = results[tool]
        print(f"  {tool:<24} wall {r['wall_s']:8.1f} s   cpu {r['cpu_s']:8.1f} s   peak {r['peak_mb']:7.0f} MB", flush=True)
    base = results.get("carbonmap")
    if base:
        print("\nratios (tool / carbonmap):")
        for tool, r in results.items():
            if tool != "carbonmap":
                print(f"  {tool:<24} wall x{r['wall_s'] / base['wall_s']:6.1f}   cpu x{r['cpu_s'] / base['cpu_s']:6.1f}"
                      f"   peak memory x{r['peak_mb'] / base['peak_mb']:5.2f}")
    print("\nagreement:")
    for line in check_agreement(results, vector):
        print("  " + line)


if __name__ == "__main__":
    main()
