"""Central Suzhou building footprints with floors: floor area and building density.

The file claims WGS84 longitude/latitude (its true datum is undocumented and may be GCJ-02,
see the data's SOURCES.md). Areas are measured after projecting to an equal-area CRS.
"""

from __future__ import annotations

import pandas as pd

from carbonmap.grid import ensure_projected
from carbonmap.io import read_vector

try:
    from _shared import shared_data
except ImportError:  # run as a module from the tests
    from examples._shared import shared_data

STOREY_M = 3.0  # the file's height field is 3 m x Floor


def main() -> pd.Series:
    buildings = read_vector(shared_data("suzhou_buildings_pybdshadow") / "suzhou_buildings_bd_demo_2.geojson",
                            columns=["Floor", "height"], kind="polygon")
    import warnings

    from carbonmap.errors import ReprojectedWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ReprojectedWarning)  # expected: the file is in degrees
        projected = ensure_projected(buildings, what="Suzhou buildings")
    footprint_m2 = projected.area
    floor_area_m2 = footprint_m2 * projected["Floor"]
    extent_m2 = projected.union_all().convex_hull.area
    return pd.Series({
        "buildings": len(projected),
        "footprint_km2": footprint_m2.sum() / 1e6,
        "floor_area_km2": floor_area_m2.sum() / 1e6,
        "median_floors": projected["Floor"].median(),
        "building_coverage": footprint_m2.sum() / extent_m2,
        "floor_area_ratio": floor_area_m2.sum() / extent_m2,
        "height_is_3m_per_floor": bool((projected["height"] == STOREY_M * projected["Floor"]).all()),
    })


if __name__ == "__main__":
    print(main().to_string())
