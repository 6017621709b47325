"""Build the Olinda sample data from ../shared/data/olinda_landsat_dem.

Run from the repository root: ``python sample_data/olinda/make_olinda.py``. Copies the
census tracts (as a GeoPackage) and the DEM, and derives an NDVI raster from the Landsat 7
ETM+ image (band 3 = red, band 4 = NIR, digital numbers) with
:func:`carbonmap.indices.ndvi`. Deterministic: the outputs depend only on the inputs.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import rasterio

from carbonmap.indices import ndvi
from carbonmap.io import read_vector, write_cog, write_geopackage

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parents[1] / ".." / "shared" / "data" / "olinda_landsat_dem"


def main(source: Path = SOURCE) -> None:
    source = source.resolve()
    if not source.exists():
        sys.exit(f"{source} not found: this script needs the shared data folder")
    tracts = read_vector(source / "olinda1.shp")
    write_geopackage(HERE / "olinda_tracts.gpkg", {"tracts": tracts})
    shutil.copyfile(source / "olinda_dem_utm25s.tif", HERE / "olinda_dem_utm25s.tif")
    with rasterio.open(source / "L7_ETMs.tif") as src:
        red, nir = src.read(3), src.read(4)
        index = ndvi(red, nir)
        write_cog(HERE / "olinda_ndvi.tif", index, transform=src.transform, crs=src.crs,
                  nodata=float("nan"), resampling="average",
                  tags={"source": "L7_ETMs.tif bands 3 (red) and 4 (NIR), digital numbers",
                        "quantity": "NDVI [-]"})


if __name__ == "__main__":
    main()
