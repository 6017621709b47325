"""`carbonmap init FOLDER`: survey a folder, guess each data set's role, write a starter project."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine

from carbonmap.survey import data_files, describe, describe_raster

DEMO = Path(str(files("carbonmap.sample_data") / "demo_city"))
OLINDA = Path(str(files("carbonmap.sample_data") / "olinda"))


def write_tif(path: Path, data: np.ndarray, *, crs="EPSG:4547", cell=30.0, nodata=None, tags=None) -> Path:
    """A one-band GeoTIFF at 500 km E, 2,500 km N of EPSG:4547 (southern China)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = {"driver": "GTiff", "height": data.shape[0], "width": data.shape[1], "count": 1,
               "dtype": data.dtype.name, "crs": crs, "nodata": nodata,
               "transform": Affine(cell, 0, 500_000, 0, -cell, 2_500_000)}
    with rasterio.open(path, "w", **profile) as dst:
        dst.write(data, 1)
        if tags:
            dst.update_tags(**tags)
    return path


# --------------------------------------------------------------------------- survey


def test_data_files_skips_hidden_out_and_run_output_folders(tmp_path):
    for name in ("a.gpkg", "sub/b.tif", "sub/c.csv", "sub/c.shp", "sub/c.dbf", "notes.txt", ".hidden.tif",
                 ".git/x.tif", "out/y.tif", "runs/city/onemap.gpkg", "runs/city/rasters/z.tif"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert [p.relative_to(tmp_path).as_posix() for p in data_files(tmp_path)] == [
        "a.gpkg", "sub/b.tif", "sub/c.csv", "sub/c.shp"]


def test_describe_reads_every_layer_of_a_geopackage_with_sizes_in_metres():
    samples = {s.layer: s for s in describe(DEMO / "demo_city.gpkg")}
    assert set(samples) == {"districts", "parcels", "buildings", "roads", "point_sources", "wetlands",
                            "protection_zones"}
    parcels = samples["parcels"]
    assert (parcels.geometry, parcels.count, parcels.crs) == ("polygon", 3947, "EPSG:4547")
    assert len(parcels.sample) == 500 and "code" in parcels.fields
    assert samples["roads"].geometry == "line" and samples["point_sources"].geometry == "point"
    assert 1e3 < samples["buildings"].median_area_m2 < 1e4  # footprints: a few thousand m2
    west, south, east, north = samples["districts"].lonlat_bounds
    assert 114 < west < east < 116 and 21 < south < north < 22


def test_a_large_raster_without_overviews_is_sampled_by_windows(tmp_path):
    data = np.arange(2100 * 2100, dtype="float32").reshape(2100, 2100)
    sample = describe_raster(write_tif(tmp_path / "big.tif", data, tags={"unit": "m"}))
    assert sample.values.size <= 512 * 512 and sample.values.size > 10_000
    assert sample.minimum == 0 and sample.maximum > 0.9 * data.max()  # windows reach the far corner
    assert sample.tags["unit"] == "m" and sample.cell_size_m == 30


def test_unreadable_files_are_described_with_the_reason(tmp_path):
    (tmp_path / "broken.tif").write_bytes(b"not a tiff")
    (tmp_path / "broken.gpkg").write_bytes(b"not a geopackage")
    (tmp_path / "settings.json").write_text('{"a": 1}')
    assert describe(tmp_path / "settings.json") == []  # plain JSON is not data
    for name in ("broken.tif", "broken.gpkg"):
        (sample,) = describe(tmp_path / name)
        assert sample.kind == "unreadable" and "not readable" in sample.reason
