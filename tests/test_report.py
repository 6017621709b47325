"""The report a planner is handed: every sample project's report has content (Olinda's too), tables
fit an A4 page and a laptop screen in a real browser, Chinese labels render, numbers read well; and
the end of a run says the key figures, the warnings and where the outputs are."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from carbonmap.report import MAX_TABLE_COLUMNS, _table_html
from carbonmap.run_summary import run_summary
from carbonmap.stage import Publication

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def olinda_report(tmp_path_factory) -> Path:
    """`carbonmap run` on Olinda (English, rasters only)."""
    from click.testing import CliRunner

    from carbonmap.cli import main

    out = tmp_path_factory.mktemp("olinda_report")
    result = CliRunner().invoke(main, ["run", str(REPO / "sample_data" / "olinda" / "project.toml"), "--output",
                                       str(out)])
    assert result.exit_code == 0, result.output
    assert "Outputs in" in result.output and "report.html: the report" in result.output  # the end of the run
    return out


def test_wide_tables_are_split_and_short_wide_tables_turned(tmp_path):
    wide = pd.DataFrame({"unit": [f"u{i}" for i in range(10)],
                         **{f"source_{s}_co2_t_yr": np.arange(10) * 1e5 for s in "abcdefghij"}})
    text = _table_html(wide, "en")
    assert text.count("<table") == 2 and "columns 1 to 6 of 10" in text
    assert text.count("<td class='text'>u3</td>") == 2  # the row names repeat in every part
    short = wide.head(3)
    turned = _table_html(short, "en")
    assert turned.count("<table") == 1 and turned.count("<tr>") == 11  # one row per column
    assert all(len(re.findall("<th", t)) <= MAX_TABLE_COLUMNS + 2 for t in text.split("</table>"))
    assert "900,000" in text and "e+05" not in text


def test_olinda_report_has_a_citywide_table_and_maps_of_its_statistics(olinda_report):
    text = (olinda_report / "report.html").read_text(encoding="utf-8")
    assert "<html lang='en'>" in text and "<h2>Contents</h2>" in text
    citywide = text.split("<section id='citywide'>", 1)[1].split("</section>", 1)[0]
    rows = re.findall(r"<tr><td class='text'>([^<]+)</td>", citywide)
    assert "Elevation (SRTM-derived DEM): mean (m)" in rows and "ndvi: mean" not in rows and len(rows) >= 4
    maps = text.split("<section id='unit-maps'>", 1)[1].split("</section>", 1)[0]
    assert len(re.findall("<img ", maps)) >= 4
    assert "<section id='inputs'>" in text  # the input rasters' maps and per-unit table


def test_the_end_of_a_run_says_figures_warnings_and_outputs(tmp_path):
    summary = pd.DataFrame({"source_co2_t_yr": [1.5e6, 2.5e5], "sink_co2_t_yr": [1000.0, 2000.0],
                            "net_co2_t_yr": [1.499e6, 2.48e5]})
    milestones = pd.DataFrame({"scenario": ["baseline"], "unit_id": ["city"], "peak_year": [2030.0],
                               "peaked": [True]})
    warned = pd.DataFrame({"unit_id": ["A", "A", "B"], "level": ["alert", "warning", "warning"]})
    indicators = pd.DataFrame({"unit_id": "A", "indicator": "net_co2_t_yr", "year": [2015, 2023], "value": 1.0})
    published = Publication(summary=summary, tables={"scenario_milestones": milestones, "monitoring_warnings": warned,
                                                     "monitoring_indicators": indicators},
                            warnings=["industry: 5,000 t CO2/yr not allocated"], notes=["a", "b"])
    (tmp_path / "report.html").write_text("")
    zh = run_summary(published, tmp_path, language="zh")
    assert "碳源（碳排放总量）：1,750,000 吨CO₂/年" in zh and "碳达峰（基准情景）：2030 年" in zh
    assert "跨期监测（2015、2023）：3 条预警，其中 1 条为警报" in zh
    assert "请注意：" in zh and "industry: 5,000" in zh and f"输出目录 {tmp_path}" in zh and "report.html：报告" in zh
    en = run_summary(published, tmp_path, language="en", repeat_warnings=False)
    assert "Net emissions: 1,747,000 t CO2/yr" in en and "the 1 warning(s) above" in en
    assert "Carbon peak (baseline): 2030" in en and "Monitoring (2015, 2023): 3 early warning(s), 1 of them alerts" in en
    assert "2 run notes" in en and "onemap.html" not in en  # only the outputs that are there


def _browser(width: int):
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.skip("Chromium and ChromeDriver not installed")
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 f"--window-size={width},900", "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


#: Every table no wider than its container; every image drawn.
_CHECK = """return {
  wide: [...document.querySelectorAll('table')].filter(t => t.scrollWidth > t.parentElement.clientWidth + 1)
        .map(t => t.parentElement.querySelector('h3') ? t.parentElement.querySelector('h3').textContent : t.id),
  tables: document.querySelectorAll('table').length,
  broken: [...document.images].filter(i => !i.complete || i.naturalWidth === 0).length,
  page: document.documentElement.scrollWidth - document.documentElement.clientWidth}"""


@pytest.mark.slow
@pytest.mark.parametrize("width", [794, 1366])  # A4 at 96 dpi, and a laptop screen
def test_report_tables_fit_the_page_in_chromium(demo_run, olinda_report, width):
    driver = _browser(width)
    try:
        for folder in (demo_run, olinda_report):
            driver.get((folder / "report.html").as_uri())
            found = driver.execute_script(_CHECK)
            assert found["tables"] > 1 and found["wide"] == [] and found["broken"] == 0, (folder, found)
            assert found["page"] <= 0, (folder, found)  # no horizontal scrolling
    finally:
        driver.quit()


@pytest.mark.parametrize(("language", "shown", "not_shown"), [("zh", "低碳发展", "low carbon"),
                                                              ("en", "low carbon", "低碳发展")])
def test_a_scenario_title_in_both_languages_is_shown_in_the_report_language(tmp_path, language, shown, not_shown):
    import geopandas as gpd
    import shapely

    from carbonmap.report import write_report
    from carbonmap.words import Text

    summary = gpd.GeoDataFrame({"unit_id": ["a", "b"], "net_co2_t_yr": [1.0, 2.0]}, crs="EPSG:4547",
                               geometry=[shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)])
    milestones = pd.DataFrame({"scenario": ["low", "baseline"], "unit_id": ["city", "city"], "peak_year": [2028, 2030]})
    path = write_report(summary, Publication(tables={"scenario_milestones": milestones}), tmp_path / "report.html",
                        title="t", grid=None, language=language,
                        scenario_titles={"low": Text(en="low carbon", zh="低碳发展")})
    text = path.read_text(encoding="utf-8")
    assert shown in text and not_shown not in text


def test_the_compensation_pairs_name_their_units(tmp_path):
    """The report's table of paying and receiving units shows the units' names, not their ids; a unit
    without a name keeps its id."""
    import geopandas as gpd
    import shapely

    from carbonmap.report import write_report

    summary = gpd.GeoDataFrame({"unit_id": ["D01", "D02", "D03"], "unit_name": ["Yunling", "新城区", ""],
                                "net_co2_t_yr": [1.0, 2.0, 3.0]}, crs="EPSG:4547",
                               geometry=[shapely.box(i, 0, i + 1, 1) for i in range(3)])
    pairs = pd.DataFrame({"payer_id": ["D01", "D03"], "receiver_id": ["D02", "D02"], "amount_co2_t_yr": [5.0, 7.0]})
    path = write_report(summary, Publication(tables={"compensation_pairs": pairs}), tmp_path / "report.html",
                        title="t", grid=None, language="en")
    text = path.read_text(encoding="utf-8")
    table = text[text.index("id='table-compensation_pairs'"):]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", table[:table.index("</table>")])
    assert cells[:2] == ["Yunling", "新城区"] and "D01" not in cells and "D02" not in cells
    assert "D03" in cells  # no name: its id


@pytest.mark.parametrize(("language", "city", "title"), [("zh", "全市", "低碳发展"), ("en", "citywide", "low carbon")])
def test_the_targets_table_names_its_units_the_city_and_the_closing_scenario(tmp_path, language, city, title):
    """The appendix's targets table shows the units by name under 规划单元, the city's row (id ``*``) as
    全市, and the scenario that closes a gap (``lever``) by its title, not by ids and keys; a column
    empty in every row (the value in that scenario, when every target is a year) is left out."""
    import geopandas as gpd
    import shapely

    from carbonmap.report import write_report
    from carbonmap.words import Text

    summary = gpd.GeoDataFrame({"unit_id": ["D01", "D02"], "unit_name": ["云岭区", "新城区"], "net_co2_t_yr": [1.0, 2.0]},
                               crs="EPSG:4547", geometry=[shapely.box(i, 0, i + 1, 1) for i in range(2)])
    status = pd.DataFrame({"unit_id": ["*", "D01", "D02"], "target": ["peak_year"] * 3,
                           "status": ["met", "not_met", "met"], "lever": ["", "low", ""],
                           "lever_measured": [np.nan] * 3, "note": ["", None, " "]})
    path = write_report(summary, Publication(tables={"targets_status": status}), tmp_path / "report.html",
                        title="t", grid=None, language=language,
                        scenario_titles={"low": Text(en="low carbon", zh="低碳发展")})
    text = path.read_text(encoding="utf-8")
    table = text[text.index("id='table-targets_status'"):]
    table = table[:table.index("</table>")]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", table)
    assert cells[0] == city and "云岭区" in cells and "新城区" in cells and title in cells, cells
    assert not {"*", "D01", "D02", "low"} & set(cells), cells
    headers = re.findall(r"<th[^>]*>([^<]*)</th>", table)
    assert headers[0] == ("规划单元" if language == "zh" else "Planning unit")
    assert len(headers) == 4, headers  # no column empty in every row: the value in the lever, the note


#: The line boxes of each cell's text: (class, text, lines).
_LINES = """return [...document.querySelectorAll('td')].map(td => {
  const range = document.createRange(); range.selectNodeContents(td);
  const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
  return [td.className, td.textContent, tops.size];});"""


def test_report_tables_break_names_only_at_spaces_and_never_numbers():
    """In a wide per-unit table on an A4 page, a unit's name wraps only between words (English) or
    characters (Chinese), never inside a word ("Chengzhon|g"), and a number never wraps."""
    from carbonmap.report import _STYLE

    assert "anywhere" not in _STYLE  # overflow-wrap: anywhere lets a table squeeze a name to single letters
    names = ["Chengzhong", "Xincheng", "Nantang East", "新吴西南"]
    table = pd.DataFrame({"unit": names, **{f"source_{s}_co2_t_yr": [1.234567e6, 2e6, 3e5, 4.5e6]
                                            for s in ("agriculture", "buildings", "industry", "transport", "waste")},
                          "net_co2_t_yr": [-1.25e6, 2e6, 3e5, 4e6]})
    page = f"<html><head><meta charset='utf-8'><style>{_STYLE}</style></head><body>{_table_html(table, 'en')}</body>"
    driver = _browser(794)
    try:
        driver.get("data:text/html;charset=utf-8," + page.replace("#", "%23"))
        cells = driver.execute_script(_LINES)
    finally:
        driver.quit()
    lines = {text: count for kind, text, count in cells}
    assert lines["Chengzhong"] == 1 and lines["Xincheng"] == 1, cells
    assert all(count == 1 for kind, _, count in cells if kind == "num"), cells  # "-1,250,000" in one piece


def _allocation() -> pd.DataFrame:
    """The inventory allocation table as the emissions stage publishes it (the demo's rows)."""
    sub_sectors = "commercial, public, residential"
    return pd.DataFrame({
        "sector": ["buildings", "buildings", "transport", "industry", "agriculture"],
        "sub_sector": ["residential", "commercial", "road", "", ""],
        "inventory_co2_t_yr": [5210128.0, 2135793.0, 4480000.0, 3360000.0, 160000.0],
        "point_co2_t_yr": [0.0, 0.0, 0.0, 1848000.0, 0.0],
        "allocated_co2_t_yr": [5210128.0, 2135793.0, 4480000.0, 1512000.0, 160000.0],
        "unallocated_co2_t_yr": [0.0] * 5, "n_features": [14968, 494, 217, 793, 560],
        "proxy": ["floor_area", "floor_area", "roads", "floor_area", "cropland"], "note": [""] * 5,
        "proxy_sub_sectors": [sub_sectors, sub_sectors, "", "industrial", ""]})


@pytest.mark.parametrize(("language", "shown"), [
    ("zh", ["建筑面积", "道路长度 × 道路等级权重", "耕地与园地面积", "商业、公共、居住", "<td class='text'>工业</td>",
            "<th class='num'>工业</th>", "<th class='num'>建筑 · 居住</th>", "<th class='num'>交通 · 道路</th>"]),
    ("en", ["building floor area", "road length × class weight", "area of cropland and orchards",
            "commercial, public, residential", "<th class='num'>industry</th>",
            "<th class='num'>buildings · residential</th>"])])
def test_the_inventory_allocation_names_its_proxies_in_words(language, shown):
    """The report's allocation table says each sector's proxy and the proxy's sub-sectors in the run's
    language (words.csv: value.proxy.*, value.sub_sector.*), not as the keys of the project file."""
    text = _table_html(_allocation(), language)
    for words_ in shown:
        assert words_ in text, (words_, text)
    for key in ("floor_area", ">roads<", ">cropland<", "industry · <", "工业用地"):
        assert key not in text, key
    if language == "zh":
        assert not re.search(r">[^<]*(commercial|public|residential|industrial)[^<]*<", text), text


def test_a_turned_table_keeps_its_rows_of_names_as_text():
    """Turned on its side, a table's rows of names (the proxy's sub-sectors) are text cells that may wrap,
    its rows of numbers numbers that do not."""
    text = _table_html(_allocation(), "zh")
    assert "<td class='text'>商业、公共、居住</td>" in text and "<td class='num'>5,210,128</td>" in text
    assert "<td class='num'>商业" not in text


@pytest.mark.parametrize(("language", "shown", "raw"), [
    ("zh", ["碳储量合计（基准期）", "地上生物量碳（基准期）", "土壤有机碳（对比期）", "碳储量变化（基准期至对比期）"],
     ["total_bas", "c_above_bas", "c_soil_alt", ">change<"]),
    ("en", ["Carbon stock, baseline", "Above-ground biomass carbon, baseline", "Soil organic carbon, alternative",
            "Change of the carbon stock, baseline to alternative"], ["total_bas", "c_above_bas", "c_soil_alt"])])
def test_the_carbon_stocks_table_names_its_rows_in_words(language, shown, raw):
    """The stocks summary's rows (one per pool and date, the change) are labelled in the run's language."""
    from carbonmap.stocks import POOLS

    quantities = [f"{p}_{d}" for d in ("bas", "alt") for p in ("total", *POOLS)] + ["change"]
    summary = pd.DataFrame({"quantity": quantities, "t_c": np.arange(len(quantities)) * 1e5,
                            "t_co2": np.arange(len(quantities)) * 3.67e5, "value": np.nan, "area_ha": 54095.67})
    text = _table_html(summary, language)
    for words_ in shown:
        assert f"<td class='text'>{words_}</td>" in text, (words_, text)
    for key in raw:
        assert key not in text, key


@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_afforestation_reasons_are_read_in_the_report_language_only(tmp_path, language):
    """The reasons table's Chinese column (reason_zh) is how a Chinese report reads each reason: an English
    report shows no Chinese, a Chinese one each reason once."""
    import html

    import geopandas as gpd
    import shapely

    from carbonmap import coefficients
    from carbonmap.report import write_report

    rules = coefficients.afforestation_rules()
    red_line = rules[rules["constraint"] == "ecological_protection_red_line"].iloc[0]
    reasons = pd.DataFrame({"code": [1, 2], "reason": ["candidate site", red_line["reason"]],
                            "rule_set": ["technical", "technical"], "clause": ["", ""],
                            "reason_zh": ["", red_line["reason_zh"]], "area_ha": [292.0, 17835.0]})
    summary = gpd.GeoDataFrame({"unit_id": ["a"], "net_co2_t_yr": [1.0]}, crs="EPSG:4547",
                               geometry=[shapely.box(0, 0, 1, 1)])
    path = write_report(summary, Publication(tables={"afforestation_reasons": reasons,
                                                     "coefficients_afforestation_rules": rules}),
                        tmp_path / "report.html", title="t", grid=None, language=language)
    text = path.read_text(encoding="utf-8")
    table = text[text.index("id='table-afforestation_reasons'"):]
    table = table[:table.index("</table>")]
    if language == "en":
        assert html.escape(red_line["reason"]) in table and not re.search(r"[\u4e00-\u9fff]", table), table
        assert "Reason in Chinese" not in table
    else:
        assert table.count(red_line["reason_zh"]) == 1 and "原因（中文）" not in table, table


@pytest.mark.parametrize(("language", "first"), [("en", "DejaVu Sans"), ("zh", "Noto Sans CJK SC")])
def test_figure_text_names_the_fonts_of_its_language_first(language, first):
    """An English figure's quotes are drawn by a Latin font, not full width by a CJK one."""
    import base64

    import matplotlib.pyplot as plt

    from carbonmap.report import _figure_html, _figure_style

    with _figure_style(language):
        fig, ax = plt.subplots()
        ax.set_title("Scenario “low carbon”: 低碳发展")
        page = _figure_html(fig, "chart")
    svg = base64.b64decode(re.search(r"base64,([^\"]+)", page).group(1)).decode("utf-8")
    families = re.findall(r"font-family: ?([^;\"]+)", svg)
    assert families and all(family.lstrip("'").startswith(first) for family in families)
    assert "Noto Sans CJK SC" in families[0]  # the Chinese in an English figure still finds its font
