"""Xinwu (Wuxi) EULUC-China parcels: what each class means for carbon accounting.

The parcels store EULUC-China level-2 classes as a 0-10 index of the dataset's own (see the
data's SOURCES.md). ``xinwu_crosswalk.csv`` maps that index to EULUC-China codes; without it
carbonmap refuses the codes -- and would misread 1-5, which are valid EULUC level-1 codes with
other meanings. The OSM water polygons are counted as water land.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from carbonmap.io import read_vector
from carbonmap.landuse import classify

try:
    from _shared import shared_data
except ImportError:  # run as a module from the tests
    from examples._shared import shared_data

CROSSWALK = Path(__file__).with_name("xinwu_crosswalk.csv")


def main() -> dict[str, pd.DataFrame]:
    folder = shared_data("wuxi_xinwu_euluc")
    parcels = read_vector(folder / "xinwu_land_use.gpkg", columns=["Class"], kind="polygon")
    water = read_vector(folder / "xinwu_water_osm.gpkg", kind="polygon", to_crs=parcels.crs)
    classes = classify(parcels["Class"], "euluc_china", crosswalk=CROSSWALK,
                       path=folder / "xinwu_land_use.gpkg", field="Class")
    parcels = parcels.join(classes.set_index(parcels.index))
    area_ha = parcels.area / 1e4
    by_category = area_ha.groupby(parcels["carbon_category"]).sum().rename("area_ha").to_frame()
    by_space = area_ha.groupby(parcels["space"]).sum().rename("area_ha").to_frame()
    water_in_district = water.clip(parcels.union_all().envelope)
    return {
        "by_category": by_category.sort_values("area_ha", ascending=False),
        "by_space": by_space,
        "water_ha": pd.DataFrame({"area_ha": [water_in_district.area.sum() / 1e4]}),
    }


if __name__ == "__main__":
    for name, table in main().items():
        print(f"\n{name}\n{table.round(1).to_string()}")
