"""Land-use code systems: table integrity, mappings against the standards, unknown codes."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio

from carbonmap.errors import InputError, MissingColumnError, UnknownCodeError
from carbonmap.landuse import (
    CODE_SYSTEMS,
    SPACES,
    carbon_categories,
    classify,
    classify_raster,
    code_table,
    crosswalk_codes,
    read_crosswalk,
)


@pytest.mark.parametrize("system", CODE_SYSTEMS)
def test_tables_are_consistent(system):
    table = code_table(system)
    assert table["code"].is_unique
    assert set(table["space"]) <= set(SPACES)
    assert set(table["carbon_category"]) <= set(carbon_categories().index)
    parents = table.loc[table["level"] > 1, "parent"]
    assert parents.isin(table.index).all()
    assert (table.loc[table["level"] == 1, "parent"] == "").all()
    assert (table["name_zh"] != "").all() and (table["name_en"] != "").all()
    if system in ("gb_t_21010_2017", "ydyh_2023"):  # codes are 2 digits per level
        assert (table["code"].str.len() == 2 * table["level"]).all()
        assert all(code.startswith(parent) for code, parent in zip(table["code"], table["parent"]))


def test_gb_t_21010_has_12_first_and_73_second_level_classes():
    levels = code_table("gb_t_21010_2017")["level"].value_counts()
    assert levels[1] == 12 and levels[2] == 73  # GB/T 21010-2017, Table 1


# (system, code, name in the source document, carbon category, space, ecological)
SAMPLE = [
    ("gb_t_21010_2017", "0101", "水田", "cropland", "production", False),
    ("gb_t_21010_2017", "0303", "红树林地", "wetland_mangrove", "ecological", True),
    ("gb_t_21010_2017", "0702", "农村宅基地", "built_residential", "living", False),
    ("gb_t_21010_2017", "0810", "公园与绿地", "green_space", "ecological", True),
    ("gb_t_21010_2017", "1105", "沿海滩涂", "wetland_tidal_flat", "ecological", True),
    ("gb_t_21010_2017", "1207", "裸岩石砾地", "barren", "ecological", False),
    ("ydyh_2023", "0204", "油料园地", "orchard", "production", False),
    ("ydyh_2023", "0507", "红树林地", "wetland_mangrove", "ecological", True),
    ("ydyh_2023", "060203", "水产养殖设施建设用地", "built_other", "production", False),
    ("ydyh_2023", "100102", "二类工业用地", "built_industrial", "production", False),
    ("ydyh_2023", "1403", "广场用地", "built_public", "living", False),
    ("ydyh_2023", "16", "留白用地", "barren", "living", False),
    ("ydyh_2023", "1703", "水库水面", "water", "ecological", True),
    ("ydyh_2023", "2302", "后备耕地", "barren", "production", False),
    ("euluc_china", "505", "公园与绿地", "green_space", "ecological", True),
    ("euluc_china", "403", "机场设施用地", "built_transport", "production", False),
    ("esa_worldcover", "95", "红树林", "wetland_mangrove", "ecological", True),
    ("clcd", "8", "不透水面", "built_up", "living", False),
    ("nlcd", "90", "木本湿地", "wetland_swamp_forest", "ecological", True),
    ("esa_cci_lc", "170", "咸水淹没林", "wetland_mangrove", "ecological", True),
]


@pytest.mark.parametrize(("system", "code", "name", "category", "space", "ecological"), SAMPLE)
def test_sample_of_mappings(system, code, name, category, space, ecological):
    row = classify([code], system).iloc[0]
    assert (row["name_zh"], row["carbon_category"], row["space"], row["ecological"]) == \
        (name, category, space, ecological)


def test_esa_cci_and_worldcover_english_names_follow_the_legends():
    assert code_table("esa_worldcover").loc["60", "name_en"] == "bare / sparse vegetation"
    assert code_table("esa_cci_lc").loc["180", "name_en"].startswith("shrub or herbaceous cover, flooded")


def test_codes_that_lost_their_leading_zero_are_padded():
    out = classify([101, "303", 70101.0, " 1403 ", np.int64(505)], "ydyh_2023")
    assert out["code"].tolist() == ["0101", "0303", "070101", "1403", "0505"]
    # EULUC codes are not zero-padded: 101 stays 101
    assert classify([101, "505"], "euluc_china")["code"].tolist() == ["101", "505"]
    with pytest.raises(InputError, match="whole numbers or text"):
        classify([101.5], "ydyh_2023")


def test_unknown_codes_are_all_listed_with_counts_and_the_fix():
    with pytest.raises(UnknownCodeError) as info:
        classify(["0101", "0999", "9901", "0999", "0102", "99"], "ydyh_2023", path="parcels.gpkg", field="dlbm")
    message = str(info.value)
    assert message.startswith("parcels.gpkg, field 'dlbm': 3 code(s) are not in the ydyh_2023 table: 99 (1), 0999 (2), 9901 (1).")
    assert "crosswalk CSV" in message and "code,maps_to" in message


def test_missing_codes_are_counted():
    with pytest.raises(InputError, match="2 features have no land-use code"):
        classify(["0101", None, np.nan], "ydyh_2023")


def test_user_crosswalk_maps_and_defines(tmp_path):
    path = tmp_path / "crosswalk.csv"
    path.write_text("code,maps_to,space,carbon_category,ecological,name_en\n"
                    "A1,0301,,,,\n"
                    "B7,,ecological,wetland_salt_marsh,true,salt marsh (local survey)\n")
    out = classify(["A1", "B7", "0101"], "ydyh_2023", crosswalk=path)
    assert out["carbon_category"].tolist() == ["forest", "wetland_salt_marsh", "cropland"]
    assert out.loc[1, "name_en"] == "salt marsh (local survey)" and out.loc[1, "ecological"]


@pytest.mark.parametrize(("text", "error", "message"), [
    ("code,maps_to\nA1,9999\n", UnknownCodeError, "line 2: maps_to '9999' is not a code of ydyh_2023"),
    ("code,space,carbon_category,ecological\nA1,ecological,jungle,true\n", InputError, "unknown carbon_category 'jungle'"),
    ("code,space,carbon_category,ecological\nA1,green,forest,true\n", InputError, "unknown space 'green'"),
    ("code,space,carbon_category,ecological\nA1,ecological,forest,yes\n", InputError, "ecological must be true or false"),
    ("code,space\nA1,ecological\n", MissingColumnError, "has neither maps_to nor carbon_category, ecological"),
    ("klass,maps_to\nA1,0101\n", MissingColumnError, "needs a 'code' column"),
    ("code,maps_to\nA1,0101\nA1,0102\n", InputError, "codes listed twice: A1"),
])
def test_bad_crosswalks_name_the_line_and_field(tmp_path, text, error, message):
    path = tmp_path / "cw.csv"
    path.write_text(text)
    with pytest.raises(error, match=message) as info:
        read_crosswalk(path, "ydyh_2023")
    assert str(info.value).startswith(str(path))


def test_gb_to_2023_crosswalk_is_complete_and_keeps_carbon_categories():
    gb = code_table("gb_t_21010_2017")
    ydyh = code_table("ydyh_2023")
    out = crosswalk_codes(gb["code"], "gb_t_21010_2017", "ydyh_2023")
    assert out["to_code"].isin(ydyh.index).all()
    exact = out[out["match"] == "exact"]
    same = gb.loc[exact["from_code"], "carbon_category"].to_numpy() == ydyh.loc[exact["to_code"], "carbon_category"].to_numpy()
    assert same.all(), exact[~same]
    assert crosswalk_codes(["0303", "05"], "gb_t_21010_2017", "ydyh_2023")["to_code"].tolist() == ["0507", "09"]
    with pytest.raises(InputError, match="no crosswalk from ydyh_2023 to gb_t_21010_2017"):
        crosswalk_codes(["01"], "ydyh_2023", "gb_t_21010_2017")


def test_classify_raster_by_hand():
    classes = np.ma.MaskedArray([[10, 10, 80], [95, 0, 50]], mask=[[False, False, False], [False, True, False]])
    index, legend = classify_raster(classes, "esa_worldcover", column="carbon_category")
    assert [[legend[i] if i >= 0 else None for i in row] for row in index] == \
        [["forest", "forest", "water"], ["wetland_mangrove", None, "built_up"]]
    with pytest.raises(UnknownCodeError, match=r"1 code\(s\) are not in the esa_worldcover table: 11 \(2\)"):
        classify_raster(np.array([[11, 11, 10]]), "esa_worldcover", column="space")


def test_real_nlcd_and_esa_cci_rasters_are_fully_known(shared):
    folder = shared / "data" / "landcover_landscapemetrics"
    with rasterio.open(folder / "augusta_nlcd.tif") as src:
        nlcd = src.read(1, masked=True)
    index, legend = classify_raster(nlcd, "nlcd", column="ecological")
    ecological = np.isin(index, [legend.index(True)])
    forest = np.isin(nlcd.filled(0), [41, 42, 43])
    assert ecological[forest].all()  # every forest cell is ecological land
    assert 0.3 < ecological[index >= 0].mean() < 0.9
    with rasterio.open(folder / "podlasie_ccilc.tif") as src:
        cci = src.read(1, masked=True)
    index, legend = classify_raster(cci, "esa_cci_lc", column="carbon_category")
    assert "wetland_marsh" in legend  # class 180, flooded shrub or herbaceous
    assert (index[~cci.mask] >= 0).all()


def test_xinwu_euluc_parcels_with_a_crosswalk_for_their_index(shared, tmp_path):
    """The Xinwu parcels carry EULUC level-2 classes as an index 0..10 (SOURCES.md): a
    crosswalk maps the index to the EULUC codes, and class areas match the stated ones."""
    parcels = gpd.read_file(shared / "data" / "wuxi_xinwu_euluc" / "xinwu_land_use.gpkg")
    crosswalk = tmp_path / "xinwu_crosswalk.csv"
    pd.DataFrame({"code": range(11),
                  "maps_to": [101, 201, 202, 301, 402, 403, 501, 502, 503, 504, 505]}).to_csv(crosswalk, index=False)
    # Without the crosswalk, 0 and 6-10 are unknown; 1-5 are not reported because they are
    # valid EULUC level-1 codes -- with other meanings (EULUC 1 is residential, Xinwu's 1 is
    # business office). The crosswalk overrides the table, which is why it is required here.
    with pytest.raises(UnknownCodeError,
                       match=r"6 code\(s\) are not in the euluc_china table: 0 \(690\), 6 \(70\), 7 \(60\), 8 \(21\), 9 \(23\), 10 \(541\)"):
        classify(parcels["Class"], "euluc_china")
    classes = classify(parcels["Class"], "euluc_china", crosswalk=crosswalk)
    assert (classes.loc[parcels["Class"] == 1, "name_en"] == "business office").all()
    area_km2 = parcels.area.groupby(classes["carbon_category"].to_numpy()).sum() / 1e6
    assert area_km2["built_industrial"] == pytest.approx(75.3, abs=0.05)  # class 3
    assert area_km2["built_residential"] == pytest.approx(33.3, abs=0.05)  # class 0
    assert area_km2["green_space"] == pytest.approx(18.2, abs=0.05)  # class 10
    assert area_km2.sum() == pytest.approx(143.4, abs=0.1)
