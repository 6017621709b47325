"""Beijing's districts published in GCJ-02: convert to WGS84 and measure true areas.

Chinese web-map boundaries (here Amap's, via the cnmaps package) are in GCJ-02, shifted by
about 500 m from WGS84. Declaring ``datum="gcj02"`` converts them on reading; areas are then
measured in an Albers equal-area CRS centred on Beijing (never in degrees, and not in UTM,
which is conformal).
"""

from __future__ import annotations

import pandas as pd
import shapely

from carbonmap.grid import equal_area_crs
from carbonmap.io import read_vector

try:
    from _shared import shared_data
except ImportError:  # run as a module from the tests
    from examples._shared import shared_data


def main() -> pd.DataFrame:
    folder = shared_data("cnmaps_beijing_admin")
    districts = read_vector(folder / "beijing_districts_gcj02.geojson", datum="gcj02", kind="polygon")
    reference = read_vector(folder / "beijing_districts_wgs84_from_gcj02.geojson", kind="polygon")
    crs = equal_area_crs(*districts.total_bounds)
    converted = districts.to_crs(crs)
    table = pd.DataFrame({
        "name_en": districts["name_en"],
        "area_km2": converted.area / 1e6,
        "offset_removed_m": shapely.hausdorff_distance(
            read_vector(folder / "beijing_districts_gcj02.geojson").to_crs(crs).geometry.values,
            reference.to_crs(crs).geometry.values),
        "error_vs_reference_m": shapely.hausdorff_distance(converted.geometry.values,
                                                           reference.to_crs(crs).geometry.values),
    })
    return table.sort_values("area_km2", ascending=False).reset_index(drop=True)


if __name__ == "__main__":
    result = main()
    print(result.round(2).to_string())
    print(f"total {result['area_km2'].sum():,.1f} km2 (official: about 16,410 km2)")
