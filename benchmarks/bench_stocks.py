"""Carbon stocks: carbonmap vs the InVEST Carbon model, on the same 4,000 x 4,000 rasters.

Builds (once, in --workdir) two land-cover GeoTIFFs (4,000 x 4,000 cells of 30 m, 8 classes in
patches, some nodata) and a pool table, then runs in separate processes:

- carbonmap: ``carbon_stocks`` with the alternative and valuation, writing the stock, change
  and value rasters (COGs) and the summary;
- InVEST (when available): ``natcap.invest.carbon.execute`` with the same inputs, in the Python
  given by ``--invest-python`` (natcap.invest installs only from source: it needs Debian's
  libgdal-dev, matching GDAL bindings, numpy < 2 and Cython < 3.1, so it is kept out of the
  project's environment; see Usage).

It prints wall time, CPU time and peak memory of each (the shortest times of 3 runs,
``--repeat``), the ratio, and checks that the totals agree (InVEST reports them in its report; carbonmap in its summary).

Usage::

    python benchmarks/bench_stocks.py
    python benchmarks/bench_stocks.py --invest-python /path/to/invest-venv/bin/python

InVEST's environment (as built on Debian 12, GDAL 3.6.2; its ``bin`` must be on PATH while
building, for ``pybabel``; pygeoprocessing before natcap.invest; no build isolation, since both
ask for numpy >= 2 to build, which the GDAL 3.6 bindings cannot use)::

    apt-get install -y libgdal-dev
    python3.11 -m venv /opt/invest && export PATH=/opt/invest/bin:$PATH
    pip install "numpy<2" "cython<3.1" "setuptools>=64" wheel "setuptools_scm>=8" babel
    pip install --no-build-isolation "gdal==$(gdal-config --version)"
    printf 'numpy<2\\ncython<3.1\\n' > /tmp/invest-constraints.txt
    pip install --no-build-isolation -c /tmp/invest-constraints.txt pygeoprocessing==2.4.11
    pip install --no-build-isolation -c /tmp/invest-constraints.txt natcap.invest==3.20.2
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

from _measure import best_of, run_child

CODES = np.array([1, 2, 3, 4, 5, 7, 8, 9])
POOLS = {  # lucode: c_above, c_below, c_soil, c_dead [t C/ha]
    1: (5, 1, 80, 0), 2: (60, 15, 110, 5), 3: (15, 8, 90, 2), 4: (2, 6, 85, 0),
    5: (0, 0, 0, 0), 7: (0, 0, 20, 0), 8: (0, 0, 25, 0), 9: (20, 10, 250, 2),
}
VALUATION = {"price_per_metric_ton_of_c": 43.0, "discount_rate": -7.1, "rate_change": 2.8,
             "lulc_bas_year": 2016, "lulc_alt_year": 2030}


def make_data(workdir: Path, size: int) -> tuple[Path, Path, Path]:
    """The inputs, built in a child process: a child's peak memory (ru_maxrss) starts from its
    parent's, so the parent must stay small for the measurements to be the tools' own."""
    workdir.mkdir(parents=True, exist_ok=True)
    base, alt, pools = workdir / f"lulc_bas_{size}.tif", workdir / f"lulc_alt_{size}.tif", workdir / "pools.csv"
    if not base.exists():
        subprocess.run([sys.executable, __file__, "--make", str(workdir), "--size", str(size)], check=True)
    return base, alt, pools


def _generate(workdir: Path, size: int) -> None:
    import rasterio
    from affine import Affine
    from scipy import ndimage

    base, alt, pools = workdir / f"lulc_bas_{size}.tif", workdir / f"lulc_alt_{size}.tif", workdir / "pools.csv"
    rng = np.random.default_rng(7)
    field = ndimage.gaussian_filter(rng.standard_normal((size, size)), 12)
    ranks = np.argsort(np.argsort(field.ravel())).reshape(size, size)
    classes = CODES[(ranks * len(CODES)) // ranks.size].astype("int16")
    classes[: size // 20, : size // 20] = -1  # a nodata corner
    changed = classes.copy()
    noise = ndimage.gaussian_filter(rng.standard_normal((size, size)), 6)
    flip = noise / noise.std() > 1.2  # about 11 % of the cells
    changed[flip & (classes != -1)] = 8  # patches built over
    profile = {"driver": "GTiff", "width": size, "height": size, "count": 1, "dtype": "int16",
               "crs": "EPSG:32650", "transform": Affine(30, 0, 500000, 0, -30, 3500000), "nodata": -1,
               "tiled": True, "blockxsize": 256, "blockysize": 256, "compress": "deflate"}
    for path, data in ((base, classes), (alt, changed)):
        with rasterio.open(path, "w", **profile) as dst:
            dst.write(data, 1)
    rows = ["lucode,C_above,C_below,C_soil,C_dead"] + [f"{k},{','.join(map(str, v))}" for k, v in POOLS.items()]
    pools.write_text("\n".join(rows) + "\n")


def child(tool: str, base: Path, alt: Path, pools: Path, out: Path, result: Path) -> None:
    t0, c0 = time.perf_counter(), time.process_time()
    if tool == "carbonmap":
        from carbonmap.stocks import Valuation, carbon_stocks

        summary = carbon_stocks(base, pools, alternative=alt, out_dir=out,
                                valuation=Valuation(VALUATION["price_per_metric_ton_of_c"], VALUATION["discount_rate"],
                                                    VALUATION["rate_change"], VALUATION["lulc_bas_year"],
                                                    VALUATION["lulc_alt_year"]))
        totals = summary.set_index("quantity")
        numbers = {"total_bas": totals.loc["total_bas", "t_c"], "total_alt": totals.loc["total_alt", "t_c"],
                   "change": totals.loc["change", "t_c"], "npv": totals.loc["npv", "value"]}
    else:
        from natcap.invest import carbon

        args = {"workspace_dir": str(out), "lulc_bas_path": str(base), "lulc_alt_path": str(alt),
                "carbon_pools_path": str(pools), "calc_sequestration": True, "do_valuation": True, **VALUATION}
        carbon.execute(args)
        numbers = _invest_totals(out, base, alt)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    result.write_text(json.dumps({"wall_s": wall, "cpu_s": cpu, **numbers}))


def _invest_totals(out: Path, base: Path, alt: Path) -> dict:
    """Totals from InVEST's output rasters (t C/ha per pixel x pixel area), read with GDAL's own
    bindings (InVEST's environment has no rasterio)."""
    from osgeo import gdal

    def total(name):
        path = next(out.rglob(name))
        dataset = gdal.Open(str(path))
        band = dataset.GetRasterBand(1)
        data = band.ReadAsArray().astype("float64")
        nodata = band.GetNoDataValue()
        valid = np.isfinite(data) if nodata is None else (data != nodata) & np.isfinite(data)
        _, dx, _, _, _, dy = dataset.GetGeoTransform()
        return float(data[valid].sum()) * abs(dx * dy) / 1e4

    return {"total_bas": total("c_storage_bas*.tif"), "total_alt": total("c_storage_alt*.tif"),
            "change": total("c_change_bas_alt*.tif"), "npv": total("npv_alt*.tif")}


def run(python: str, tool: str, base, alt, pools, workdir: Path) -> dict:
    out = workdir / f"out_{tool}"
    result = workdir / f"result_{tool}.json"
    shutil.rmtree(out, ignore_errors=True)  # InVEST's taskgraph would otherwise reuse earlier outputs
    return run_child([python, __file__, "--child", tool, "--base", str(base), "--alt", str(alt), "--pools", str(pools),
                      "--out", str(out), "--result", str(result)], result, tool)


def best_run(repeat: int, *args) -> dict:
    """:func:`run` `repeat` times: the shortest wall and CPU times, the largest peak memory."""
    return best_of(repeat, lambda: run(*args))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=4000)
    parser.add_argument("--workdir", type=Path, default=Path(__file__).parent / "_work")
    parser.add_argument("--invest-python", default=None, help="a Python with natcap.invest installed")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each tool; the shortest times count")
    for hidden in ("--child", "--base", "--alt", "--pools", "--out", "--result", "--make"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.make:
        _generate(Path(args.make), args.size)
        return
    if args.child:
        child(args.child, Path(args.base), Path(args.alt), Path(args.pools), Path(args.out), Path(args.result))
        return
    base, alt, pools = make_data(args.workdir, args.size)
    print(f"data: two {args.size} x {args.size} land-cover rasters (30 m), 8 classes; "
          f"the shortest of {args.repeat} run(s) of each tool")
    results = {"carbonmap": best_run(args.repeat, sys.executable, "carbonmap", base, alt, pools, args.workdir)}
    if args.invest_python:
        results["invest"] = best_run(args.repeat, args.invest_python, "invest", base, alt, pools, args.workdir)
    for tool, r in results.items():
        print(f"  {tool:<10} wall {r['wall_s']:7.1f} s   cpu {r['cpu_s']:7.1f} s   peak {r['peak_mb']:7.0f} MB   "
              f"baseline {r['total_bas']:,.0f} t C   change {r['change']:,.0f} t C   npv {r['npv']:,.0f}")
    if "invest" in results:
        a, b = results["carbonmap"], results["invest"]
        print(f"\nInVEST / carbonmap: wall x{b['wall_s'] / a['wall_s']:.1f}, cpu x{b['cpu_s'] / a['cpu_s']:.1f}, "
              f"peak memory x{b['peak_mb'] / a['peak_mb']:.2f}")
        for key in ("total_bas", "total_alt", "change", "npv"):
            rel = abs(a[key] - b[key]) / max(abs(b[key]), 1e-9)
            print(f"  {key}: carbonmap {a[key]:,.3f}  InVEST {b[key]:,.3f}  relative difference {rel:.1e}")
            if rel > 1e-5:
                raise SystemExit(f"carbonmap and InVEST disagree on {key}")
    else:
        print("\n(InVEST not run: pass --invest-python; see docs/methods/sinks.md for the last comparison)")


if __name__ == "__main__":
    main()
