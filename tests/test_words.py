"""Words for readers: every text key the code uses exists in both languages, units read well,
and the outputs use the run's language."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from carbonmap.stage import GROUPS
from carbonmap.words import LANGUAGES, Text, group_label, unit_label, words

REPO = Path(__file__).resolve().parents[1]
TABLE = pd.read_csv(REPO / "carbonmap" / "data" / "words" / "words.csv", dtype=str, keep_default_na=False)


def test_every_key_has_both_languages_and_the_same_placeholders():
    assert TABLE["key"].is_unique
    for row in TABLE.itertuples():
        assert row.en.strip() and row.zh.strip(), row.key
        assert set(re.findall(r"{(\w+)}", row.en)) == set(re.findall(r"{(\w+)}", row.zh)), row.key
        assert re.search(r"[\u4e00-\u9fff]", row.zh), f"{row.key}: the Chinese text has no Chinese"


def test_every_key_the_code_names_exists():
    keys = set(TABLE["key"])
    used = set()
    for path in (REPO / "carbonmap").rglob("*.py"):
        used |= set(re.findall(r"""words\(["']([\w.]+)["']""", path.read_text(encoding="utf-8")))
    assert used and used <= keys, sorted(used - keys)
    layer_keys = {k for k in keys if k.startswith("layer.")}
    for path in (REPO / "carbonmap" / "themes").glob("*.py"):  # f-string keys: words(f"layer.{name}")
        assert "title=\"" not in path.read_text(encoding="utf-8"), f"{path.name}: a title in one language"
    assert {"layer.zones_wind", "layer.deep_geothermal_class", "layer.ecological_ed_window"} <= layer_keys


def test_groups_and_units_read_in_both_languages():
    for group in GROUPS:
        assert group_label(group, "zh") != group_label(group, "en")
    assert unit_label("t_co2_yr", "en") == "t CO2/yr" and unit_label("t_co2_yr", "zh") == "吨CO₂/年"
    assert unit_label("no_such_unit", "zh") == "no_such_unit"


def test_placeholders_are_filled_as_people_write_numbers():
    expected = Text("Gridded emissions (250 m cells)", "网格化碳排放（250 米网格）")
    assert words("layer.emissions_grid", cell=250.0) == expected
    assert words("layer.ecological_patches", area=0.5).in_("en") == "Ecological patches of 0.5 ha or more"
    with pytest.raises(ValueError, match="unknown language"):
        Text.same("x").in_("fr")
    assert LANGUAGES == ("zh", "en")


def test_the_demo_map_and_report_are_in_chinese(demo_run):
    page = (demo_run / "onemap.html").read_text(encoding="utf-8")
    report = (demo_run / "report.html").read_text(encoding="utf-8")
    for text in ("碳储量：2015年土地覆被（CLCD 分类）", "生态源地（按 dPC 排序的核心区）", "逐栋建筑屋顶光伏潜力"):
        assert text in page or text.encode("unicode_escape").decode() in page or text in report, text
    assert "Ecological sources (core areas ranked by dPC)" not in page


def test_the_chinese_demo_names_the_ccer_reasons_in_chinese(demo_run):
    """The afforestation reasons of the CCER rules (and the creditable candidates) in the Chinese map's
    and report's legends come from the rule table's Chinese reasons, not its English ones."""
    import json
    import re

    page = (demo_run / "onemap.html").read_text(encoding="utf-8")
    data = json.loads(re.search(r'id="carbonmap-data">(.*?)</script>', page, re.S).group(1))
    legend = next(layer["legend"]["rows"] for layer in data["layers"] if "url" in layer and any(
        "候选造林地" in row[1] for row in layer["legend"]["rows"]))
    names = [row[1] for row in legend]
    assert "候选造林地，按 CCER 造林碳汇方法学（2023）可计入碳汇" in names, names
    assert not [name for name in names if "creditable" in name or name.startswith("not creditable")], names
    assert any(name.endswith("（早期土地覆被为 2015 年）") for name in names), names  # the earlier-cover rule
    english = [name for name in names if re.search(r"[A-Za-z]{4,}", name.replace("CCER", ""))]  # the scheme's acronym
    assert not english, names
    report = (demo_run / "report.html").read_text(encoding="utf-8")
    assert "候选造林地，按 CCER 造林碳汇方法学（2023）可计入碳汇" in report and "candidate site, creditable" not in report
    assert "ccer_2023" not in report  # the rule set by its name (规则集, the notes), not its key
    reasons = report[report.index("id='table-afforestation_reasons'"):]
    reasons = reasons[:reasons.index("</table>")]
    assert "规则集" in reasons and "方法学条款" in reasons and "技术条件" in reasons
    assert not [word for word in ("rule set", "clause", "reason zh", "technical") if word in reasons]
    assert "2（适用范围）" in reasons and "(scope)" not in reasons  # the methodology's clause, read in Chinese
    assert "不可计入碳汇：非林地上的通道绿化（道路 30 米以内）" in reasons  # says, as in English, what it excludes


def test_the_chinese_demo_names_its_coefficients_and_table_columns_in_chinese(demo_run):
    """Each unit's most influential coefficient reads as a parameter's Chinese name (排放清单：建筑, not
    'inventory: buildings') in the report, the map's data and the workbook; the restoration scenarios'
    summed connectivity gain has its own label, not that of a raster's zonal sum
    ('connectivity_gain的总和')."""
    import json
    import re
    import sqlite3

    from openpyxl import load_workbook

    report = (demo_run / "report.html").read_text(encoding="utf-8")
    page = (demo_run / "onemap.html").read_text(encoding="utf-8")
    assert "连通性提升（各地块之和）（%）" in report and "connectivity_gain" not in re.sub(r"<[^>]+>", "", report)
    assert "排放清单：" in report and "inventory:" not in report
    data = json.loads(re.search(r'id="carbonmap-data">(.*?)</script>', page, re.DOTALL).group(1))
    shown = data["values"]["net_top_coefficient"]  # what the map's cards show for each value
    assert shown["inventory: buildings"] == "排放清单：建筑", shown
    book = load_workbook(demo_run / "unit_summary.xlsx", read_only=True)
    values = []
    for sheet in book.worksheets:
        rows = list(sheet.iter_rows(values_only=True))
        if rows and "影响最大的系数" in rows[0]:
            column = rows[0].index("影响最大的系数")
            values = [row[column] for row in rows[1:]]
    assert len(values) == 14, values
    latin = [v for v in [*values, *shown.values()] if re.search(r"[A-Za-z]{4,}", re.sub(r"\(.*?\)|NEP", "", v or ""))]
    assert not latin and any(v.startswith("排放清单：") for v in values), values
    # the GeoPackage's columns of layers and tables by their own words, not by a summary pattern
    # (a site's mean slope is not the zonal mean of a raster named "slope")
    with sqlite3.connect(demo_run / "onemap.gpkg") as db:
        titles = {(table, column): title for table, column, title in
                  db.execute("select table_name, column_name, title from gpkg_data_columns")}
    assert titles[("afforestation_sites", "slope_mean_deg")] == "平均坡度（°）"
    assert titles[("blue_carbon_periods", "stock_start_t_co2")] == "期初碳储量（吨CO₂）"
    assert titles[("scenario_timeline", "source_land_co2_t_yr")] == "土地碳排放（吨CO₂/年）"


def test_the_chinese_demo_names_scenarios_classes_and_units_in_its_figures_and_workbook(demo_run):
    """The workbook's headers name scenarios by their titles (碳达峰年份：<title>, not bau_2039) and the
    balance classes of the probability columns (碳赤字概率, not three columns of 碳收支分区概率); the
    report's 2060 chart names the baseline 基准情景, and its monitoring charts label units by name."""
    import base64
    import re

    from openpyxl import load_workbook

    book = load_workbook(demo_run / "unit_summary.xlsx", read_only=True)
    headers = [cell for sheet in book.worksheets for cell in next(sheet.iter_rows(values_only=True))]
    peak = [h for h in headers if str(h).startswith("碳达峰年份：")]
    assert len(peak) >= 3 and not [h for h in peak if re.search(r"[a-z]_", str(h))], peak
    assert {"碳赤字概率（%）", "碳平衡概率（%）", "碳盈余概率（%）"} <= set(headers), headers
    report = (demo_run / "report.html").read_text(encoding="utf-8")
    figures = [base64.b64decode(data).decode("utf-8") for data in
               re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', report)]
    road = next(svg for svg in figures if "净排放" in svg and "基准情景" in svg)
    assert "baseline" not in road
    monitoring = report[report.index("id='monitoring'"):]
    charts = [base64.b64decode(data).decode("utf-8") for data in
              re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', monitoring[:monitoring.index("</section>")])]
    labelled = "".join(charts)
    assert re.search(r"[\u4e00-\u9fff]+区", labelled) and not re.search(r">D\d\d<|\bD\d\d\b", labelled)


def test_a_title_given_in_both_languages_is_shown_in_the_run_language(tmp_path):
    """A [[rasters]] or [[vectors]] title given per language: the rasters and vectors stages publish
    it as a Text, and a Chinese run shows the Chinese title (in the layer list and in the labels of
    the columns named after the raster), an English run the English one."""
    import geopandas as gpd
    import numpy as np
    import rasterio
    import shapely

    from carbonmap.config import load_project
    from carbonmap.readable import column_label
    from carbonmap.stage import StageContext, layers_in
    from carbonmap.themes.inputs import RASTERS, UNITS, VECTORS, run_rasters, run_units, run_vectors
    from carbonmap.words import text_in

    units = gpd.GeoDataFrame({"id": ["a", "b"]}, crs="EPSG:4547",
                             geometry=[shapely.box(500000, 2400000, 500300, 2400300),
                                       shapely.box(500300, 2400000, 500600, 2400300)])
    units.to_file(tmp_path / "units.gpkg", layer="units")
    profile = {"driver": "GTiff", "width": 20, "height": 10, "count": 1, "dtype": "uint8", "crs": "EPSG:4547",
               "transform": rasterio.transform.from_origin(500000, 2400300, 30, 30), "nodata": 0}
    with rasterio.open(tmp_path / "lc.tif", "w", **profile) as dst:
        dst.write(np.where(np.arange(20) < 10, 1, 2).astype("uint8")[None, :].repeat(10, axis=0), 1)  # cropland, forest
    (tmp_path / "project.toml").write_text("""
[project]
name = "t"
[grid]
crs = "EPSG:4547"
resolution_m = 30
[units]
path = "units.gpkg"
id_field = "id"
[[rasters]]
name = "lc"
path = "lc.tif"
kind = "categorical"
code_system = "clcd"
title = { zh = "2023年土地覆被（CLCD 分类）", en = "Land cover 2023 (CLCD classes)" }
[[vectors]]
name = "districts"
path = "units.gpkg"
title = { zh = "行政区", en = "Districts" }
[[vectors]]
name = "same"
path = "units.gpkg"
title = "One title"
""", encoding="utf-8")
    project = load_project(tmp_path / "project.toml")
    out = tmp_path / "out"
    grid = run_units(StageContext(UNITS, project, {}, out))
    layers = []
    for stage, run in ((RASTERS, run_rasters), (VECTORS, run_vectors)):
        ctx = StageContext(stage, project, {"units": grid}, out)
        run(ctx)
        layers += ctx.publication.layers
    assert [layer.title for layer in layers] == [
        Text(en="Land cover 2023 (CLCD classes)", zh="2023年土地覆被（CLCD 分类）"),
        Text(en="Districts", zh="行政区"), Text.same("One title")]
    assert [layer.title for layer in layers_in(layers, "zh")] == ["2023年土地覆被（CLCD 分类）", "行政区", "One title"]
    assert [layer.title for layer in layers_in(layers, "en")] == ["Land cover 2023 (CLCD classes)", "Districts",
                                                                  "One title"]
    for language, title in (("zh", "2023年土地覆被（CLCD 分类）"), ("en", "Land cover 2023 (CLCD classes)")):
        label = column_label("lc_cropland_area_ha", language, rasters=("lc",),
                             titles={layer.name: text_in(layer.title, language) for layer in layers})
        assert title in label and label != title, label  # 2023年土地覆被（CLCD 分类）：耕地面积（公顷）
    assert "Land cover" not in column_label("lc_cropland_area_ha", "zh", rasters=("lc",),
                                            titles={"lc": text_in(layers[0].title, "zh")})


def test_each_balance_class_probability_names_its_class():
    """The uncertainty's class probabilities are three columns, each labelled with its balance class
    (they were all 碳收支分区概率), while the probability of the central class keeps its own label."""
    from carbonmap.readable import column_label

    assert column_label("p_carbon_deficit_pct", "zh") == "碳赤字概率（%）"
    assert column_label("p_balanced_pct", "en") == "Probability: balanced (%)"
    assert column_label("p_balance_class_pct", "zh") == "碳收支分区可信度（%）"


def test_a_text_fills_each_language_of_a_word_with_its_own():
    title = Text(en="low carbon", zh="低碳发展")
    assert words("layer.scenario_units", scenario=title).in_("zh").count("低碳发展") == 1
    assert "低碳发展" not in words("layer.scenario_units", scenario=title).in_("en")
    assert "low carbon" in words("layer.scenario_units", scenario=title).in_("en")
    assert words("layer.scenario_units", scenario="low carbon") == words("layer.scenario_units",
                                                                          scenario=Text.same("low carbon"))


@pytest.mark.parametrize("key", ["layer.scenario_landcover", "layer.scenario_units"])
def test_a_scenario_layer_quotes_the_scenario_in_both_languages(key):
    """A scenario's title is quoted in its layer's name in English as in Chinese, so a title with a colon or
    a comma of its own ("business as usual, land use of 2039") reads as one name."""
    title = Text(en="business as usual, land use of 2039", zh="惯性发展情景（2039年土地利用）")
    text = words(key, scenario=title)
    assert text.en.startswith("Scenario “business as usual, land use of 2039”: "), text.en
    assert text.zh.startswith("情景“惯性发展情景（2039年土地利用）”："), text.zh
