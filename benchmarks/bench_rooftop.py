"""Rooftop PV for a million buildings: the time and memory of ``carbonmap.renewables.rooftop_pv``.

Builds (in memory, seeded) 1,000,000 square footprints of 8-25 m on a 40 m lattice in UTM 51N
(Suzhou's latitude), with random floors (1-30), uses and roof forms, and runs rooftop PV with
shading by neighbours in a child process. There is no peer tool doing the same per building
(pvlib models one system at a time; per-building potential studies use GIS scripts), so the
script prints the time, the peak memory and the throughput; the target is "minutes, not hours".

Usage::

    python benchmarks/bench_rooftop.py [--buildings 1000000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from _measure import run_child


def child(n: int, result: Path) -> None:
    import geopandas as gpd
    import numpy as np
    import shapely

    from carbonmap.renewables.rooftop import rooftop_pv

    rng = np.random.default_rng(1)
    side = int(np.ceil(np.sqrt(n)))
    gx, gy = np.meshgrid(np.arange(side), np.arange(side))
    x = 230_000 + gx.ravel()[:n] * 40.0
    y = 3_440_000 + gy.ravel()[:n] * 40.0
    w = rng.uniform(8, 25, n)
    buildings = gpd.GeoDataFrame({"floors": rng.integers(1, 31, n),
                                  "use": rng.choice(["residential", "commercial", "industrial", "public"], n),
                                  "roof": rng.choice(["flat", "pitched"], n)},
                                 geometry=shapely.box(x - w / 2, y - w / 2, x + w / 2, y + w / 2), crs="EPSG:32651")
    t0 = time.perf_counter()
    out = rooftop_pv(buildings, floors_field="floors", use_field="use", roof_field="roof")
    seconds = time.perf_counter() - t0
    result.write_text(json.dumps({"seconds": seconds, "mwp": float(out["capacity_kwp"].sum() / 1e3),
                                  "gwh": float(out["yield_kwh_yr"].sum() / 1e6),
                                  "shaded": int((out["horizon_deg"] > 0).sum())}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--buildings", type=int, default=1_000_000)
    parser.add_argument("--workdir", type=Path, default=Path(__file__).parent / "_work")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, Path(args.result))
        return
    args.workdir.mkdir(parents=True, exist_ok=True)
    result = args.workdir / "rooftop_result.json"
    data = run_child([sys.executable, __file__, "--child", str(args.buildings), "--result", str(result)], result,
                     "rooftop PV")
    print(f"{args.buildings:,} buildings: {data['seconds']:.1f} s ({args.buildings / data['seconds']:,.0f} per second), "
          f"peak memory {data['peak_mb'] / 1024:.2f} GB (incl. building the footprints)")
    print(f"  {data['mwp']:,.0f} MWp, {data['gwh']:,.0f} GWh/yr, {data['shaded']:,} roofs shaded by a neighbour")


if __name__ == "__main__":
    main()
