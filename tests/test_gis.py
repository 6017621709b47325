"""GIS outputs that open styled: GDAL reads a colour table, category names and an attribute table
from every categorical raster, a title and unit from every raster, a QGIS style beside each, and
field aliases and descriptions (gpkg_data_columns) from the GeoPackage."""

from __future__ import annotations

import ctypes
import glob
import os
import sqlite3
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import rasterio
from rasterio.transform import from_origin

from carbonmap.io import RasterClass, write_cog, write_raster_description


@pytest.fixture(scope="module")
def gdal():
    """rasterio's own GDAL library, for what rasterio does not expose (category names, field aliases)."""
    folder = os.path.join(os.path.dirname(rasterio.__file__), os.pardir, "rasterio.libs")
    found = glob.glob(os.path.join(folder, "libgdal*"))
    if not found:
        pytest.skip("rasterio's bundled GDAL library not found (rasterio built against a system GDAL)")
    lib = ctypes.CDLL(found[0])
    lib.GDALAllRegister()
    lib.GDALOpenEx.restype = ctypes.c_void_p
    lib.GDALOpenEx.argtypes = [ctypes.c_char_p, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    for name in ("GDALGetRasterBand",):
        getattr(lib, name).restype = ctypes.c_void_p
        getattr(lib, name).argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.GDALGetMetadata.restype = ctypes.c_void_p
    lib.GDALGetMetadata.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.GDALGetRasterCategoryNames.restype = ctypes.POINTER(ctypes.c_char_p)
    lib.GDALGetRasterCategoryNames.argtypes = [ctypes.c_void_p]
    lib.GDALGetDefaultRAT.restype = ctypes.c_void_p
    lib.GDALGetDefaultRAT.argtypes = [ctypes.c_void_p]
    lib.GDALRATGetRowCount.argtypes = [ctypes.c_void_p]
    lib.GDALRATGetValueAsString.restype = ctypes.c_char_p
    lib.GDALRATGetValueAsString.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
    lib.GDALClose.argtypes = [ctypes.c_void_p]
    lib.GDALDatasetGetLayerByName.restype = ctypes.c_void_p
    lib.GDALDatasetGetLayerByName.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    lib.OGR_L_GetLayerDefn.restype = ctypes.c_void_p
    lib.OGR_L_GetLayerDefn.argtypes = [ctypes.c_void_p]
    lib.OGR_FD_GetFieldCount.argtypes = [ctypes.c_void_p]
    lib.OGR_FD_GetFieldDefn.restype = ctypes.c_void_p
    lib.OGR_FD_GetFieldDefn.argtypes = [ctypes.c_void_p, ctypes.c_int]
    for name in ("OGR_Fld_GetNameRef", "OGR_Fld_GetAlternativeNameRef", "OGR_Fld_GetComment"):
        getattr(lib, name).restype = ctypes.c_char_p
        getattr(lib, name).argtypes = [ctypes.c_void_p]
    return lib


def categories(gdal, path) -> tuple[list[str], list[str]]:
    """The category names and the attribute table's name column of band 1, as GDAL reads them."""
    dataset = gdal.GDALOpenEx(str(path).encode(), 0x02, None, None, None)  # GDAL_OF_RASTER
    assert dataset, path
    try:
        band = gdal.GDALGetRasterBand(dataset, 1)
        gdal.GDALGetMetadata(dataset, None)  # loads the sidecar (GTiff reads it lazily)
        names, found, i = gdal.GDALGetRasterCategoryNames(band), [], 0
        while names and names[i] is not None:
            found.append(names[i].decode("utf-8"))
            i += 1
        table = gdal.GDALGetDefaultRAT(band)
        rows = [gdal.GDALRATGetValueAsString(table, r, 1).decode("utf-8")
                for r in range(gdal.GDALRATGetRowCount(table))] if table else []
        return found, rows
    finally:
        gdal.GDALClose(dataset)


def aliases(gdal, path, layer: str) -> dict[str, tuple[str, str]]:
    """Field name -> (alternative name, comment) of a GeoPackage layer, as GDAL reads them."""
    dataset = gdal.GDALOpenEx(str(path).encode(), 0x04, None, None, None)  # GDAL_OF_VECTOR
    try:
        definition = gdal.OGR_L_GetLayerDefn(gdal.GDALDatasetGetLayerByName(dataset, layer.encode()))
        out = {}
        for i in range(gdal.OGR_FD_GetFieldCount(definition)):
            field = gdal.OGR_FD_GetFieldDefn(definition, i)
            out[gdal.OGR_Fld_GetNameRef(field).decode()] = (
                (gdal.OGR_Fld_GetAlternativeNameRef(field) or b"").decode("utf-8"),
                (gdal.OGR_Fld_GetComment(field) or b"").decode("utf-8"))
        return out
    finally:
        gdal.GDALClose(dataset)


def test_a_described_raster_reads_back_in_gdal(tmp_path, gdal):
    path = write_cog(tmp_path / "zones.tif", np.array([[1, 2], [3, 0]], dtype="uint8"), nodata=0,
                     transform=from_origin(0, 2, 1, 1), crs="EPSG:32650")
    classes = [RasterClass(1, "适宜区", "#1a9850", {"en": "suitable", "zh": "适宜区"}),
               RasterClass(3, "禁止区", "#d73027", {"en": "prohibited", "zh": "禁止区"})]
    write_raster_description(path, title="风电开发管控分区", unit="", tags={"title_en": "Wind zones"}, classes=classes)
    with rasterio.open(path) as src:
        assert src.colormap(1)[1] == (26, 152, 80, 255) and src.colormap(1)[3] == (215, 48, 39, 255)
        assert src.descriptions == ("风电开发管控分区",) and src.tags()["title_en"] == "Wind zones"
        assert src.read(1).tolist() == [[1, 2], [3, 0]]  # the data untouched
    names, rows = categories(gdal, path)
    assert names == ["", "适宜区", "", "禁止区"] and rows == ["适宜区", "禁止区"]


def test_every_demo_raster_is_described_and_styled(demo_run, gdal):
    rasters = sorted((demo_run / "rasters").glob("*.tif"))
    categorical = {"landcover_2023", "landcover_2015", "mspa", "zones_ground_pv", "zones_wind",
                   "afforestation_reasons", "deep_geothermal_class", "scenario_bau_2039", "scenario_restoration",
                   "scenario_low_carbon"}
    assert categorical <= {p.stem for p in rasters}
    for path in rasters:
        with rasterio.open(path) as src:
            assert src.descriptions[0], path.name  # a title in the run's language
            tags = src.tags()
            assert tags["title_en"] and tags["title_zh"], path.name
            document = ET.fromstring(path.with_suffix(".qml").read_text(encoding="utf-8").split("'SYSTEM'>", 1)[1])
            renderer = document.find("pipe/rasterrenderer")
            if path.stem in categorical:
                colours = src.colormap(1)
                names, rows = categories(gdal, path)
                assert len(colours) > 1 and any(names) and rows, path.name
                codes = np.unique(src.read(1, masked=True).compressed())
                assert all(names[c] for c in codes if c < len(names)), path.name  # every class present is named
                assert renderer.get("type") == "paletted"
                assert {int(e.get("value")) for e in renderer.iter("paletteEntry")} >= set(codes.tolist())
            else:
                assert renderer.get("type") == "singlebandpseudocolor", path.name
                labels = [item.get("label") for item in renderer.iter("item")]
                assert len(labels) == 5 and not any("e+" in x or "e-" in x for x in labels), labels
    names, _ = categories(gdal, demo_run / "rasters" / "zones_wind.tif")
    assert "禁止区" in names
    with rasterio.open(demo_run / "rasters" / "sink_vegetation.tif") as src:
        assert src.tags()["unit"] == "吨CO₂/公顷·年" and src.tags()["unit_en"] == "t CO2/ha/yr"


def test_geopackage_fields_have_aliases_and_descriptions(demo_run, gdal):
    gpkg = demo_run / "onemap.gpkg"
    with sqlite3.connect(gpkg) as db:
        rows = db.execute("SELECT column_name, name, title, description FROM gpkg_data_columns "
                          "WHERE table_name = 'unit_summary'").fetchall()
        extension = db.execute("SELECT count(*) FROM gpkg_extensions WHERE extension_name = 'gpkg_schema'").fetchone()
    assert len(rows) > 100 and extension[0] >= 1
    found = aliases(gdal, gpkg, "unit_summary")
    assert found["net_co2_t_yr"][0] == "净碳排放（吨CO₂/年）"
    assert "Sources minus sinks" in found["net_co2_t_yr"][1]
    assert all(alias for alias, _ in found.values())  # every field has an alias QGIS shows


def test_vector_styles_are_labelled_for_people(demo_run):
    with sqlite3.connect(demo_run / "onemap.gpkg") as db:
        documents = [row[0] for row in db.execute("SELECT styleQML FROM layer_styles")]
    labels = [r.get("label") for d in documents for r in ET.fromstring(d.split("'SYSTEM'>", 1)[1]).iter("range")]
    assert labels and not [x for x in labels if "e+" in x or "e-0" in x]
    assert any("吨CO₂/年" in x for x in labels)
