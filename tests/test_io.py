"""Reading with validation, and atomic writing."""

from __future__ import annotations

import hashlib
import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import shapely
from affine import Affine
from rasterio.windows import Window

from carbonmap.errors import (
    CarbonmapError,
    CRSError,
    EmptyInputError,
    GeometryError,
    GeometryRepairedWarning,
    InputError,
    InputNotFoundError,
    MissingColumnError,
    NodataError,
    NonFiniteValuesWarning,
    OutputError,
)
from carbonmap.io import (_overview_factors, open_raster, read_raster, read_vector, release_reused_arrays, write_cog,
                          write_csv, write_geopackage)

BOWTIE = shapely.Polygon([(0, 0), (10, 10), (10, 0), (0, 10), (0, 0)])  # self-intersecting


def _write(path, frame, layer=None):
    pyogrio.write_dataframe(frame, path, layer=layer)
    return path


@pytest.fixture
def parcels():
    return gpd.GeoDataFrame(
        {"code": ["0101", "0702", "1303"], "floors": [1, 6, 3]},
        geometry=[shapely.box(0, 0, 100, 100), shapely.box(100, 0, 200, 100), BOWTIE],
        crs="EPSG:32650",
    )


def test_error_message_names_where_what_and_fix():
    err = MissingColumnError("missing column 'code'.", path="a.gpkg", layer="parcels",
                             field="code", fix="rename it.")
    assert str(err) == "a.gpkg, layer 'parcels', field 'code': missing column 'code'. Fix: rename it."
    assert isinstance(err, CarbonmapError) and isinstance(err, ValueError)
    assert isinstance(InputNotFoundError("x"), FileNotFoundError)
    assert isinstance(OutputError("x"), OSError)


def test_read_vector_repairs_invalid_geometries_and_says_how_many(tmp_path, parcels):
    path = _write(tmp_path / "p.gpkg", parcels)
    with pytest.warns(GeometryRepairedWarning, match=r"repaired 1 invalid geometries .* dropped 0"):
        out = read_vector(path, kind="polygon", columns=["code"])
    assert out.is_valid.all() and len(out) == 3
    assert out.attrs["carbonmap_repairs"] == {"repaired": 1, "dropped": 0}
    # make_valid keeps the bow-tie's two triangles (area 50 of the 100 box)
    assert out.geometry.iloc[2].geom_type == "MultiPolygon"
    assert out.geometry.iloc[2].area == pytest.approx(50.0)


def test_read_vector_drops_empty_geometries_with_a_count(tmp_path, parcels):
    parcels.loc[1, "geometry"] = None
    path = _write(tmp_path / "p.gpkg", parcels.iloc[:2])
    with pytest.warns(GeometryRepairedWarning, match="dropped 1 null or empty"):
        out = read_vector(path)
    assert len(out) == 1


def test_missing_file_layer_columns_crs_and_empty_layer(tmp_path, parcels):
    with pytest.raises(InputNotFoundError, match=r"nope\.gpkg: file not found"):
        read_vector(tmp_path / "nope.gpkg")
    path = tmp_path / "p.gpkg"
    _write(path, parcels.iloc[:2], layer="parcels")
    _write(path, parcels.iloc[:2], layer="roads")
    with pytest.raises(InputError, match=r"has 2 layers \(parcels, roads\) and no layer was named"):
        read_vector(path)
    with pytest.raises(InputNotFoundError, match="no layer 'parcel'; the file has: parcels, roads"):
        read_vector(path, layer="parcel")
    with pytest.raises(MissingColumnError, match=r"field 'landuse': missing column\(s\) 'landuse'.*has: code, floors"):
        read_vector(path, layer="parcels", columns=["landuse"])
    no_crs = tmp_path / "nocrs.shp"  # a shapefile without .prj
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # pyogrio: "'crs' was not provided"
        _write(no_crs, parcels.iloc[:2].set_crs(None, allow_override=True))
    assert not no_crs.with_suffix(".prj").exists()
    with pytest.raises(CRSError, match="declares no coordinate reference system.*assume_crs"):
        read_vector(no_crs)
    assert read_vector(no_crs, assume_crs="EPSG:32650").crs.to_epsg() == 32650
    metres_as_geojson = tmp_path / "utm.geojson"  # GeoJSON implies WGS84 degrees
    shifted = parcels.iloc[:2].copy()
    shifted.geometry = shifted.translate(500000, 3500000)
    _write(metres_as_geojson, shifted.set_crs(4326, allow_override=True))
    with pytest.raises(CRSError, match="coordinates span x 500000..500200.*not degrees"):
        read_vector(metres_as_geojson)
    empty = tmp_path / "empty.gpkg"
    _write(empty, parcels.iloc[:0])
    with pytest.raises(EmptyInputError, match="the layer has no features"):
        read_vector(empty)


def test_wrong_geometry_kind_is_refused(tmp_path):
    points = gpd.GeoDataFrame(geometry=[shapely.Point(1, 1)], crs="EPSG:32650")
    path = _write(tmp_path / "pts.gpkg", points)
    with pytest.raises(GeometryError, match="expected polygon geometries but found Point"):
        read_vector(path, kind="polygon")


def test_not_a_vector_file(tmp_path):
    path = tmp_path / "junk.gpkg"
    path.write_text("not a geopackage")
    with pytest.raises(InputError, match="cannot be read as a vector dataset"):
        read_vector(path)


def test_read_vector_reprojects_on_request(tmp_path, parcels):
    path = _write(tmp_path / "p.gpkg", parcels.iloc[:2])
    out = read_vector(path, to_crs="EPSG:4326")
    assert out.crs.to_epsg() == 4326


def test_read_vector_reads_only_the_fields_asked_for(tmp_path, parcels):
    """other_columns=False reads the named fields alone; a list adds those of its optional fields
    the layer has; a missing field is still named with every field the layer has."""
    path = _write(tmp_path / "p.gpkg", parcels.iloc[:2].assign(use=["a", "b"]), layer="parcels")
    assert list(read_vector(path, columns=["code"]).columns) == ["code", "floors", "use", "geometry"]
    only = read_vector(path, columns=["code"], other_columns=False)
    assert list(only.columns) == ["code", "geometry"] and only["code"].tolist() == ["0101", "0702"]
    optional = read_vector(path, columns=["use"], other_columns=["height", "floors"])
    assert list(optional.columns) == ["floors", "use", "geometry"]  # in the layer's order
    assert optional["floors"].tolist() == [1, 6]
    with pytest.raises(MissingColumnError, match=r"missing column\(s\) 'landuse'.*has: code, floors, use"):
        read_vector(path, columns=["landuse"], other_columns=False)


def test_reproject_releasing_the_read_geometries_in_runs_equals_to_crs(monkeypatch):
    """read_vector reprojects the layer it read a run of features at a time, letting the old
    geometries go (the layer is never held twice): the same coordinates, attributes, index and
    column order as GeoPandas' to_crs, and the frame it took over has no geometry left."""
    from carbonmap import io

    rng = np.random.default_rng(3)
    x, y = rng.uniform(300_000, 400_000, (2, 11))
    frame = gpd.GeoDataFrame({"code": [f"c{i}" for i in range(11)], "geometry": shapely.box(x, y, x + 50, y + 80),
                              "floors": np.arange(11)}, crs="EPSG:32650", index=np.arange(100, 111))
    expected = frame.to_crs("EPSG:4326")
    monkeypatch.setattr(io, "REPROJECT_FEATURES", 4)
    taken = frame.copy()
    out = io.reproject(taken, "EPSG:4326", kind="polygon", release=True)
    assert list(out.columns) == ["code", "geometry", "floors"] and out.geometry.name == "geometry"
    assert out.crs.to_epsg() == 4326 and out.index.equals(expected.index)
    assert out.drop(columns="geometry").equals(expected.drop(columns="geometry"))
    assert shapely.equals_identical(out.geometry.values, expected.geometry.values).all()
    assert "geometry" not in taken.columns
    assert io.reproject(frame, "EPSG:4326").geometry.geom_equals_exact(expected.geometry, 0).all()


def _raster(path, data, crs="EPSG:32650", nodata=-9999.0):
    with rasterio.open(path, "w", driver="GTiff", width=data.shape[1], height=data.shape[0], count=1,
                       dtype=data.dtype, crs=crs, transform=Affine(30, 0, 0, 0, -30, 300),
                       nodata=nodata) as dst:
        dst.write(data, 1)
    return path


def test_read_raster_masks_nodata_and_refuses_all_nodata(tmp_path):
    data = np.array([[1, -9999], [np.nan, 4]], dtype="float32")
    masked, src = read_raster(_raster(tmp_path / "r.tif", data))
    assert masked.mask.tolist() == [[False, True], [True, False]]
    assert src.dataset is None and src.crs.to_epsg() == 32650
    with pytest.raises(NodataError, match=r"every cell is nodata \(nodata value -9999.0\)"):
        read_raster(_raster(tmp_path / "n.tif", np.full((2, 2), -9999, dtype="float32")))


def test_reused_strip_reads_equal_fresh_ones_and_the_mask_is_the_same_in_blocks(tmp_path):
    # 300 x 700 cells: the mask is made in blocks of 2**16 cells, so rows of every kind of
    # nodata fall in several blocks; a reused read overwrites the thread's last one
    rng = np.random.default_rng(5)
    data = rng.normal(size=(300, 700)).astype("float32")
    kinds = rng.integers(0, 5, size=data.shape)
    data[kinds == 1] = -9999
    data[kinds == 2] = np.nan
    data[kinds == 3] = np.inf
    data[kinds == 4] = -3e38
    expected = np.isin(kinds, (1, 2, 3, 4))
    path = _raster(tmp_path / "r.tif", data)
    absurd = np.isin(kinds, (3, 4))
    read_twice = 2 * int(absurd[150:].sum()) + int(absurd[:150].sum())
    read_thrice = read_twice + int(absurd[:150].sum())
    with pytest.warns(NonFiniteValuesWarning, match=f"{read_thrice:,} cells hold infinite"), open_raster(path) as src:
        top, bottom = Window(0, 0, 700, 150), Window(0, 150, 700, 150)
        fresh = src.read(bottom)
        first = src.read(top, reuse=True)
        assert (first.mask == expected[:150]).all()
        assert np.array_equal(first.filled(0), np.where(expected[:150], 0, data[:150]))
        second = src.read(bottom, reuse=True)
        assert np.shares_memory(first.data, second.data)  # the same memory, overwritten
        assert (second.mask == fresh.mask).all() and (second.mask == expected[150:]).all()
        assert np.array_equal(second.filled(0), fresh.filled(0))
        release_reused_arrays()  # what zonal statistics do when their strips are done
        assert not np.shares_memory(src.read(top, reuse=True).data, second.data)


def test_read_raster_without_crs_or_band(tmp_path):
    path = _raster(tmp_path / "r.tif", np.ones((2, 2), dtype="float32"), crs=None)
    with pytest.raises(CRSError, match="declares no coordinate reference system.*gdal_edit"):
        read_raster(path)
    assert read_raster(path, crs="EPSG:32650")[1].crs.to_epsg() == 32650
    with pytest.raises(InputNotFoundError, match="has 1 band.*band 2 does not exist"):
        read_raster(path, band=2, crs="EPSG:32650")


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


class Boom(Exception):
    pass


def test_a_layer_without_crs_stops_the_geopackage_and_keeps_the_existing_file(tmp_path, parcels):
    path = write_geopackage(tmp_path / "out.gpkg", {"parcels": parcels})
    before = path.read_bytes()
    with pytest.raises(OutputError, match="layer 'bare' has no CRS"):
        write_geopackage(path, {"parcels": parcels, "bare": parcels.set_crs(None, allow_override=True)})
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["out.gpkg"]


def test_interrupted_geopackage_write_leaves_no_file(tmp_path, parcels, monkeypatch):
    target = tmp_path / "out" / "onemap.gpkg"
    real = pyogrio.write_dataframe
    calls = {"n": 0}

    def fails_on_second_layer(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-write
        return real(*args, **kwargs)

    monkeypatch.setattr(pyogrio, "write_dataframe", fails_on_second_layer)
    with pytest.raises(KeyboardInterrupt):
        write_geopackage(target, {"a": parcels.iloc[:2], "b": parcels.iloc[:2]})
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # no temporary file left behind


def test_interrupted_write_keeps_the_existing_file_intact(tmp_path, parcels, monkeypatch):
    target = write_geopackage(tmp_path / "onemap.gpkg", {"a": parcels.iloc[:2]})
    before = _digest(target)

    def boom(*args, **kwargs):
        raise Boom("disk full")

    monkeypatch.setattr(pyogrio, "write_dataframe", boom)
    with pytest.raises(Boom):
        write_geopackage(target, {"a": parcels.iloc[:1], "c": parcels.iloc[:1]}, update=True)
    assert _digest(target) == before
    assert [p.name for p in tmp_path.iterdir()] == ["onemap.gpkg"]


def test_geopackage_layers_tables_and_update(tmp_path, parcels):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GeometryRepairedWarning)
        target = write_geopackage(tmp_path / "o.gpkg", {
            "parcels": parcels.iloc[:2],
            "coefficients": pd.DataFrame({"code": ["0101"], "t_co2_ha_yr": [1.5], "source": ["x"]}),
        })
        write_geopackage(target, {"roads": parcels.iloc[:1]}, update=True)
    layers = dict(pyogrio.list_layers(target))
    assert layers == {"parcels": "Polygon", "coefficients": None, "roads": "Polygon"}
    assert pyogrio.read_info(target, layer="parcels")["crs"] == "EPSG:32650"
    table = pyogrio.read_dataframe(target, layer="coefficients")
    assert table["t_co2_ha_yr"].tolist() == [1.5]
    with pytest.raises(OutputError, match="must end in .gpkg"):
        write_geopackage(tmp_path / "o.shp", {"a": parcels})
    with pytest.raises(OutputError, match="layer 'x' has no CRS"):
        write_geopackage(tmp_path / "p.gpkg", {"x": parcels.set_crs(None, allow_override=True)})


def test_cog_is_tiled_with_overviews_and_masked_cells_become_nodata(tmp_path):
    data = np.ma.MaskedArray(np.arange(1024 * 1024, dtype="float32").reshape(1024, 1024),
                             mask=np.zeros((1024, 1024), bool))
    data.mask[0, 0] = True
    path = write_cog(tmp_path / "c.tif", data, transform=Affine(30, 0, 0, 0, -30, 0),
                     crs="EPSG:32650", nodata=-1.0, resampling="average")
    with rasterio.open(path) as src:
        assert src.profile["tiled"] and src.block_shapes[0] == (512, 512)
        assert src.overviews(1) == [2]
        assert src.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert src.read(1)[0, 0] == -1.0 and src.nodata == -1.0
    assert [p.name for p in tmp_path.iterdir()] == ["c.tif"]
    with pytest.raises(OutputError, match="masked cells need a nodata value"):
        write_cog(tmp_path / "d.tif", data, transform=Affine(30, 0, 0, 0, -30, 0), crs="EPSG:32650")
    assert not (tmp_path / "d.tif").exists()


@pytest.mark.parametrize("width, height", [(3, 5), (1024, 1024), (1025, 300), (300, 1025), (2000, 1), (2049, 700)])
def test_cog_overviews_are_the_cog_drivers_levels_over_the_same_cells(tmp_path, width, height):
    """The overviews built before the COG copy: the COG driver's own levels, the same file where
    the sides halve evenly, and the same full-resolution cells always."""
    import rasterio.shutil

    data = np.random.default_rng(width).random((height, width)).astype("float32")
    transform = Affine(30, 0, 0, 0, -30, 0)
    ours = write_cog(tmp_path / "ours.tif", data, transform=transform, crs="EPSG:32650", resampling="average")
    staging = tmp_path / "staging.tif"
    with rasterio.open(staging, "w", driver="GTiff", width=width, height=height, count=1, dtype="float32",
                       crs="EPSG:32650", transform=transform, tiled=True, blockxsize=512, blockysize=512) as dst:
        dst.write(data, 1)
    theirs = tmp_path / "theirs.tif"
    rasterio.shutil.copy(staging, theirs, driver="COG", compress="DEFLATE", level=3, predictor=3, blocksize=512,
                         overview_resampling="AVERAGE")
    with rasterio.open(ours) as a, rasterio.open(theirs) as b:
        assert a.overviews(1) == b.overviews(1)
        np.testing.assert_array_equal(a.read(1), b.read(1))
    if width % 2 ** len(_overview_factors(width, height, 512)) == 0 == height % 2 ** len(
            _overview_factors(width, height, 512)):
        assert ours.read_bytes() == theirs.read_bytes()


def test_csv_is_deterministic(tmp_path):
    frame = pd.DataFrame({"unit": ["a", "b"], "co2_t_yr": [1.0 / 3.0, 2.5]})
    a = write_csv(tmp_path / "a.csv", frame).read_bytes()
    b = write_csv(tmp_path / "b.csv", frame).read_bytes()
    assert a == b and a.startswith(b"unit,co2_t_yr\n")


def test_a_table_given_as_a_map_layer_is_refused(tmp_path):
    """A CSV (e.g. a run's unit_summary.csv) where polygons are wanted: a clear error, not a crash."""
    from carbonmap.errors import InputError
    from carbonmap.io import read_vector

    table = tmp_path / "unit_summary.csv"
    table.write_text("unit_id,source_co2_t_yr\nD01,5\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"unit_summary.csv: the layer has no geometries \(a table, not a map layer\)"):
        read_vector(table)
