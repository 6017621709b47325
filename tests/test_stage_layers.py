"""The map's features wait on disk between the stages of a run (Layer.store), as they were."""

from __future__ import annotations

import os

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from geopandas.testing import assert_geodataframe_equal

from carbonmap.stage import Layer


def _frame() -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame(
        {"unit_id": ["D01", "D02", "D03"], "co2_t_yr": [1.5, np.nan, 3.25],
         "land_class": pd.Categorical(["forest", "urban", "forest"]), "roofs": pd.array([2, None, 7], dtype="Int64"),
         "eligible": [True, False, True]},
        geometry=[shapely.box(0, 0, 30, 30), shapely.box(30, 0, 60, 30), shapely.Point(5, 5).buffer(3)],
        crs="EPSG:32650", index=pd.Index([11, 4, 9], name="parcel"))
    frame.attrs["not_covered_ha"] = {"wetland_marsh": 0.18}
    return frame


def test_a_stored_layer_reads_back_as_it_was(tmp_path):
    frame = _frame()
    layer = Layer(name="parcels", title="Parcels", group="sources", frame=frame.copy(), column="co2_t_yr")
    layer.store(tmp_path)
    assert layer.frame is None and layer.stored == tmp_path / "parcels.parquet" and layer.is_vector
    back = layer.vector()
    assert_geodataframe_equal(back, frame, check_index_type=True)
    assert back.attrs == frame.attrs and back.index.name == "parcel"
    loaded = layer.loaded()
    assert loaded.stored is None and loaded is not layer and loaded.frame.equals(frame)
    assert Layer(name="p", title="P", group="sources", stored=layer.stored).vector().equals(frame)


def test_storing_replaces_a_file_shared_with_an_earlier_set(tmp_path):
    """A rerun's layer file may be a hard link of the set it replaces: it is replaced, not written
    through the link."""
    earlier = tmp_path / "earlier.parquet"
    _frame().iloc[:1].to_parquet(earlier)
    (tmp_path / "layers").mkdir()
    os.link(earlier, tmp_path / "layers" / "parcels.parquet")
    Layer(name="parcels", title="Parcels", group="sources", frame=_frame()).store(tmp_path / "layers")
    assert len(gpd.read_parquet(earlier)) == 1 and len(gpd.read_parquet(tmp_path / "layers" / "parcels.parquet")) == 3
    assert [p.name for p in (tmp_path / "layers").iterdir()] == ["parcels.parquet"]  # no temporary file left


def test_a_layer_has_features_or_a_raster():
    with pytest.raises(ValueError, match="exactly one of frame and raster"):
        Layer(name="nothing", title="Nothing", group="sources")
    raster = Layer(name="dem", title="DEM", group="inputs", raster="dem.tif")
    assert not raster.is_vector and raster.loaded() is raster
