"""Coastal blue carbon: carbonmap vs InVEST Coastal Blue Carbon, on the same synthetic coast.

Builds (once, in --workdir) four land-cover snapshots (2000, 2005, 2010, 2015; --size x --size
cells of 30 m; mangrove, salt marsh, seagrass, built land, ponds, other; habitat cleared,
dug into ponds and restored in patches between snapshots; a nodata corner), a biophysical table,
a transition table with every kind of transition (and one left empty that occurs) and a snapshot
table, then runs in separate processes, to the analysis year 2040 with a price growing 3 % a year
and a 5 % discount rate:

- carbonmap: ``coastal_blue_carbon`` (convention "invest"), writing its rasters and tables;
- InVEST (when available): ``natcap.invest.coastal_blue_carbon.coastal_blue_carbon.execute`` in
  the Python given by ``--invest-python`` (natcap.invest needs GDAL's Python bindings: Debian's
  python3-gdal and libgdal-dev, a venv with --system-site-packages, numpy < 2 and Cython < 3.1
  for the build; it is kept out of the project's environment).

The data exercise what InVEST's published tests do not: the built land and the ponds have
non-zero half-lives (after a later snapshot InVEST decays earlier disturbances with them), the
litter's initial stock differs from its yearly accumulation, restored cells keep emitting. It
prints wall time, CPU time and peak memory of each tool and compares every raster both write:
the largest difference relative to the raster's largest value (InVEST computes in float32).

Usage::

    python benchmarks/bench_blue_carbon.py --size 1000
    python benchmarks/bench_blue_carbon.py --size 1000 --invest-python /path/to/invest-venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from _measure import run_child

#: Snapshot years. InVEST 3.20.2 aligns the snapshots sorted by year into files named by the years of a
#: set, in the set's order: for many years (2000, 2010, 2020, 2030; 2015, 2023) it swaps land covers
#: (docs/methods/blue_carbon.md). For these years the set's order is the sorted one.
YEARS = (2000, 2005, 2010, 2015)
ANALYSIS_YEAR = 2040
VALUATION = {"price": 10.0, "inflation_rate": 3.0, "discount_rate": 5.0}
# lucode, class, biomass/soil/litter initial [t CO2/ha], biomass half-life, low/med/high, accumulation,
# soil half-life, low/med/high, accumulation, litter accumulation: synthetic values of the magnitudes of
# InVEST's user guide (Table 1) and sample data, not a published table
BIOPHYSICAL = [
    (1, "mangrove", 220, 1100, 10, 15, 0.5, 0.5, 1.0, 3.0, 7.5, 0.3, 0.5, 0.66, 6.0, 0.5),
    (2, "salt marsh", 60, 900, 5, 0.5, 0.5, 0.5, 1.0, 0.0, 7.5, 0.3, 1.0, 1.0, 3.3, 0.2),
    (3, "seagrass", 10, 500, 0, 0.3, 0.5, 0.5, 1.0, 0.0, 1.0, 0.1, 0.1, 0.5, 1.6, 0.0),
    (4, "built", 0, 50, 0, 0, 0, 0, 0, 0, 3.0, 0, 0, 0, 0, 0),
    (5, "pond", 0, 300, 0, 0, 0, 0, 0, 0, 10.0, 0, 0, 0, 0, 0),
    (6, "other", 5, 100, 1, 1.0, 0, 0, 0, 0.1, 0, 0, 0, 0, 0.2, 0.0),
]
COLUMNS = ("lucode,lulc-class,biomass-initial,soil-initial,litter-initial,biomass-half-life,biomass-low-impact-disturb,"
           "biomass-med-impact-disturb,biomass-high-impact-disturb,biomass-yearly-accumulation,soil-half-life,"
           "soil-low-impact-disturb,soil-med-impact-disturb,soil-high-impact-disturb,soil-yearly-accumulation,"
           "litter-yearly-accumulation")
HABITAT = {1, 2, 3}
TRANSITION = {("built", "other"): ""}  # left empty, and it occurs


def _kind(source: str, target: str) -> str:
    codes = {name: code for code, name, *_ in BIOPHYSICAL}
    if (source, target) in TRANSITION:
        return TRANSITION[(source, target)]
    if codes[target] in HABITAT:
        return "accum"
    if codes[source] in HABITAT:
        return {"built": "high-impact-disturb", "pond": "med-impact-disturb"}.get(target, "low-impact-disturb")
    return "NCC"


def make_data(workdir: Path, size: int) -> Path:
    """The inputs, built in a child process (its peak memory stays out of the measurements)."""
    workdir.mkdir(parents=True, exist_ok=True)
    snapshots = workdir / f"snapshots_{size}.csv"
    if not snapshots.exists():
        subprocess.run([sys.executable, __file__, "--make", str(workdir), "--size", str(size)], check=True)
    return snapshots


def _generate(workdir: Path, size: int) -> None:
    import rasterio
    from affine import Affine
    from scipy import ndimage

    rng = np.random.default_rng(11)

    def field(sigma):
        values = ndimage.gaussian_filter(rng.standard_normal((size, size)), sigma)
        return values / values.std()

    depth = field(20) + np.linspace(-1.5, 1.5, size)[None, :]  # land to the west, sea to the east
    classes = np.select([depth < -1.0, depth < -0.2, depth < 0.5, depth < 1.2], [6, 1, 2, 3], 6).astype("int16")
    lulc = {YEARS[0]: classes}
    for year in YEARS[1:]:
        changed = lulc[max(lulc)].copy()
        habitat = np.isin(changed, list(HABITAT))
        changed[habitat & (field(5) > 1.6)] = 4  # cleared for building
        changed[habitat & (field(5) > 1.8)] = 5  # dug into ponds
        changed[~np.isin(changed, list(HABITAT)) & (field(6) > 1.9)] = 1  # restored to mangrove
        changed[(changed == 4) & (field(4) > 1.5)] = 6  # built land abandoned: the empty transition
        lulc[year] = changed
    corner = slice(0, size // 25)
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 1, "dtype": "int16", "crs": "EPSG:32650",
               "transform": Affine(30, 0, 500000, 0, -30, 2500000), "nodata": -1, "tiled": True,
               "blockxsize": 256, "blockysize": 256, "compress": "deflate"}
    rows = ["snapshot_year,raster_path"]
    for year, data in lulc.items():
        data[corner, corner] = -1
        path = workdir / f"lulc_{year}_{size}.tif"
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data, 1)
        rows.append(f"{year},{path.name}")
    (workdir / f"snapshots_{size}.csv").write_text("\n".join(rows) + "\n")
    (workdir / "biophysical.csv").write_text("\n".join([COLUMNS] + [",".join(map(str, r)) for r in BIOPHYSICAL])
                                             + "\n")
    names = [name for _, name, *_ in BIOPHYSICAL]
    lines = ["lulc-class," + ",".join(names)] + [",".join([a] + [_kind(a, b) for b in names]) for a in names]
    (workdir / "transitions.csv").write_text("\n".join(lines) + "\n")


def child(tool: str, workdir: Path, size: int, out: Path, result: Path) -> None:
    snapshots = workdir / f"snapshots_{size}.csv"
    t0, c0 = time.perf_counter(), time.process_time()
    if tool == "carbonmap":
        from carbonmap.blue_carbon import BlueCarbonValuation, coastal_blue_carbon, read_snapshots

        valuation = BlueCarbonValuation(VALUATION["discount_rate"], price_per_t_co2=VALUATION["price"],
                                        price_change_pct=VALUATION["inflation_rate"])
        coastal_blue_carbon(read_snapshots(snapshots), workdir / "biophysical.csv", workdir / "transitions.csv",
                            analysis_year=ANALYSIS_YEAR, valuation=valuation, out_dir=out)
    else:
        from natcap.invest.coastal_blue_carbon import coastal_blue_carbon

        coastal_blue_carbon.execute({
            "workspace_dir": str(out), "results_suffix": "", "n_workers": -1,
            "landcover_snapshot_csv": str(snapshots), "biophysical_table_path": str(workdir / "biophysical.csv"),
            "landcover_transitions_table": str(workdir / "transitions.csv"), "analysis_year": ANALYSIS_YEAR,
            "do_economic_analysis": True, "use_price_table": False, **VALUATION})
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    result.write_text(json.dumps({"wall_s": wall, "cpu_s": cpu}))


def run(python: str, tool: str, workdir: Path, size: int) -> dict:
    out = workdir / f"out_{tool}_{size}"
    result = workdir / f"result_{tool}.json"
    shutil.rmtree(out, ignore_errors=True)  # InVEST's taskgraph would otherwise reuse earlier outputs
    data = run_child([python, __file__, "--child", tool, "--workdir", str(workdir), "--size", str(size),
                      "--out", str(out), "--result", str(result)], result, tool)
    data["out"] = str(out)
    return data


def compare(ours: Path, theirs: Path) -> float:
    """The largest difference between the rasters both tools wrote, relative to each raster's
    largest value; InVEST's nodata in its emissions (cells never disturbed) counts as 0."""
    import rasterio

    worst = 0.0
    names = sorted(p.name for p in (theirs / "output").glob("*.tif"))
    for name in names:
        with rasterio.open(ours / name) as src:
            a = src.read(1).astype("float64")
        with rasterio.open(theirs / "output" / name) as src:
            b = src.read(1).astype("float64")
            missing = b == src.nodata
            b[missing] = np.nan
            if name.startswith("carbon-emissions"):  # never disturbed: InVEST's nodata, carbonmap's 0
                b[missing & np.isfinite(a)] = 0.0
        both = np.isfinite(a) & np.isfinite(b)
        assert (np.isfinite(a) == np.isfinite(b)).all(), f"{name}: nodata differs"
        scale = max(np.abs(b[both]).max(), 1e-12)
        diff = float(np.abs(a[both] - b[both]).max() / scale)
        print(f"    {name:<58} largest |value| {scale:12,.2f}   difference {diff:.1e}")
        worst = max(worst, diff)
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--workdir", type=Path, default=Path(__file__).parent / "_work")
    parser.add_argument("--invest-python", default=None, help="a Python with natcap.invest installed")
    for hidden in ("--child", "--out", "--result", "--make"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make:
        _generate(Path(args.make), args.size)
        return
    if args.child:
        child(args.child, args.workdir, args.size, Path(args.out), Path(args.result))
        return
    make_data(args.workdir, args.size)
    print(f"data: four {args.size} x {args.size} land-cover snapshots (30 m), 6 classes, {YEARS[0]} to {ANALYSIS_YEAR}")
    results = {"carbonmap": run(sys.executable, "carbonmap", args.workdir, args.size)}
    if args.invest_python:
        results["invest"] = run(args.invest_python, "invest", args.workdir, args.size)
    for tool, r in results.items():
        print(f"  {tool:<10} wall {r['wall_s']:7.1f} s   cpu {r['cpu_s']:7.1f} s   peak {r['peak_mb']:7.0f} MB")
    if "invest" in results:
        a, b = results["carbonmap"], results["invest"]
        print(f"\nInVEST / carbonmap: wall x{b['wall_s'] / a['wall_s']:.1f}, cpu x{b['cpu_s'] / a['cpu_s']:.1f}, "
              f"peak memory x{b['peak_mb'] / a['peak_mb']:.2f}\n  every raster InVEST writes to output/:")
        worst = compare(Path(a["out"]), Path(b["out"]))
        if worst > 1e-5:
            raise SystemExit(f"carbonmap and InVEST disagree: {worst:.1e}")
    else:
        print("\n(InVEST not run: pass --invest-python; see docs/methods/blue_carbon.md for the last comparison)")


if __name__ == "__main__":
    main()
