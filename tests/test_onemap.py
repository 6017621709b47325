"""The one map's three products: the GeoPackage (every layer with a CRS, QGIS styles), the
report, the HTML map (its words in the run's language, classes, numbers, geometry encoding, display
rules: aggregation, coverage simplification, size budget), and rerunning one stage."""

from __future__ import annotations

import dataclasses
import html
import json
import re
import sqlite3
import xml.etree.ElementTree as ET

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from carbonmap.config import load_project
from carbonmap.errors import InputError
from carbonmap.pipeline import Layer, run
from carbonmap.state import STATE_DIR
from hypothesis import given
from hypothesis import strategies as st

from carbonmap.columns import column_info
from carbonmap.webmap import (DETAIL_LEVELS, MSPA_COLOURS, _display_geometry, _raster_spec, _Words, aggregate_cells,
                              class_breaks, encode_integers, format_number, write_map)


def test_geopackage_lists_every_layer_with_a_crs_and_styles_for_qgis(demo_run):
    gpkg = demo_run / "onemap.gpkg"
    layers = dict(pyogrio.list_layers(gpkg))
    spatial = {name for name, kind in layers.items() if kind is not None}
    for name in spatial:
        assert pyogrio.read_info(gpkg, layer=name)["crs"], name
    assert "layer_styles" in layers and layers["layer_styles"] is None
    with sqlite3.connect(gpkg) as db:  # the columns QGIS reads, with "id" as the key
        columns = [row[1] for row in db.execute("PRAGMA table_info(layer_styles)")]
        styles = db.execute("SELECT f_table_name, f_geometry_column, styleQML, useAsDefault "
                            "FROM layer_styles").fetchall()
    assert columns[:1] == ["id"] and {"f_table_name", "f_geometry_column", "styleName", "styleQML", "styleSLD",
                                      "useAsDefault", "description", "owner", "ui", "update_time"} <= set(columns)
    assert {name for name, *_ in styles} == spatial  # one default style for every spatial layer
    for name, geometry_column, document, default in styles:
        assert geometry_column == pyogrio.read_info(gpkg, layer=name)["geometry_name"] and default == 1
        renderer = ET.fromstring(document.split("'SYSTEM'>", 1)[1]).find("renderer-v2")
        attribute = renderer.get("attr")
        if attribute is None:
            continue
        frame = pyogrio.read_dataframe(gpkg, layer=name, read_geometry=False, columns=[attribute])
        if renderer.get("type") == "categorizedSymbol":
            values = {c.get("value") for c in renderer.iter("category")}
            assert values == set(frame[attribute].astype(str)), name
        else:
            ranges = [(float(r.get("lower")), float(r.get("upper"))) for r in renderer.iter("range")]
            data = pd.to_numeric(frame[attribute], errors="coerce").dropna()
            assert ranges[0][0] == pytest.approx(data.min()) and ranges[-1][1] == pytest.approx(data.max()), name
            assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))  # classes touch


def test_report_shows_every_theme_with_labels_and_sources(demo_run):
    text = (demo_run / "report.html").read_text(encoding="utf-8")
    assert "<nav class='toc'>" in text and "<h2>目录</h2>" in text
    for anchor, theme in (("sources", "碳源"), ("sinks", "碳汇与碳储量"), ("ecology", "生态格局"),
                          ("renewables", "可再生能源"), ("screening", "优先行动选址"), ("scenarios", "情景")):
        assert f"<section id='{anchor}'><h2>{theme}</h2>" in text, theme
        assert f"<a href='#{anchor}'>{theme}</a>" in text, theme  # in the table of contents
        assert f"<h3>{theme}：分单元统计</h3>" in text, theme
    figures = re.findall(r'<img alt="[^"]*" src="data:image/svg\+xml;base64,', text)
    assert len(figures) >= 20  # layer maps, per-unit maps, charts
    assert re.search(r'src="https?:', text) is None and "<link" not in text  # self-contained
    headers = re.findall(r"<th[^>]*>([^<]*)</th>", text)
    for label in ("碳源（碳排放总量）（吨CO₂/年）", "碳汇（固碳总量）（吨CO₂/年）", "生态源地面积（公顷）",
                  "可再生能源发电潜力（吉瓦时/年）", "宜林地造林年均固碳量（吨CO₂/年）", "达峰年份"):
        assert label in headers, label
    scenarios = {c.removesuffix("_peak_year") for c in pd.read_csv(demo_run / "unit_summary.csv", nrows=0).columns
                 if c.endswith("_peak_year")}  # the project's names of its scenarios head their columns
    raw = [h for h in headers if re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)+", h) and h not in scenarios]
    assert raw == []  # no machine column name reaches a reader
    cells = re.findall(r"<td class='num'>([^<]*)</td>", text)
    assert cells and not [c for c in cells if re.search(r"e[-+]\d|\.0$", c)]  # no scientific notation
    assert "<td class='num'>2030</td>" in text  # peak years as years
    gpkg = demo_run / "onemap.gpkg"
    for name, _ in pyogrio.list_layers(gpkg):
        if not name.startswith("coefficients_"):
            continue
        table = pyogrio.read_dataframe(gpkg, layer=name, read_geometry=False)
        assert f"<h3>{name}</h3>" in text, name
        for source in set(table.get("source", pd.Series(dtype=str)).dropna()):
            if source.strip():
                assert html.escape(source) in text, (name, source)
    assert "全市生态修复情景" in text and "分单元屋顶光伏项目包" in text
    assert "2060 年碳中和路径" in text and "各情景分单元里程碑" in text
    assert "禁止区" in text and "永久基本农田" in text  # zone classes and reasons in Chinese


def test_report_figures_keep_their_text_as_text(demo_run):
    """Figures are SVG with text elements: the browser draws the Chinese with its own fonts."""
    import base64

    text = (demo_run / "report.html").read_text(encoding="utf-8")
    svgs = [base64.b64decode(data).decode("utf-8")
            for data in re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', text)]
    joined = "".join(svgs)
    assert "<text" in joined and "净碳排放" in joined and "吨CO₂/年" in joined and "北" in joined
    assert "km</text>" in joined  # scale bars
    assert "font-family" in joined or "font:" in joined


def test_large_layers_are_aggregated_with_their_totals():
    rng = np.random.default_rng(1)
    points = gpd.GeoDataFrame({"kwh": rng.uniform(0, 100, 5000)},
                              geometry=gpd.points_from_xy(rng.uniform(0, 10_000, 5000), rng.uniform(0, 8_000, 5000)),
                              crs="EPSG:32650")
    cells = aggregate_cells(points, "kwh", "sum", max_features=400)
    assert len(cells) <= 400 and cells["features"].sum() == 5000
    assert cells["kwh"].sum() == pytest.approx(points["kwh"].sum())
    classes = points.assign(kind=np.where(points["kwh"] > 30, "big", "small"))
    modes = aggregate_cells(classes, "kind", "mode", max_features=400)
    assert (modes["kind"] == "big").mean() > 0.9  # 70 % of each cell's points are "big"
    joined = gpd.sjoin(points, cells, predicate="intersects")  # every point lies in a cell ...
    assert joined.index.nunique() == 5000
    counts = joined.groupby("index_right").size()  # ... and in the one that counts it
    assert (counts.reindex(cells.index).fillna(0) >= cells["features"]).all()


def test_coverage_simplification_opens_no_gaps():
    """Parcels with wiggly shared edges: simplified for display, they still tile the area."""
    xs = np.linspace(0, 2000, 41)
    wiggle = 3 * np.sin(xs / 7)
    boundary = shapely.LineString(np.column_stack([xs, 500 + wiggle]))
    box = shapely.box(0, 0, 2000, 1000)
    lower, upper = shapely.ops.split(box, boundary).geoms
    parcels = gpd.GeoDataFrame({"id": [1, 2]}, geometry=[lower, upper], crs="EPSG:32650")
    shown = gpd.GeoSeries(_display_geometry(parcels, 10.0), crs="EPSG:3857").to_crs("EPSG:32650")
    assert shapely.get_num_coordinates(shown.values).sum() < shapely.get_num_coordinates(parcels.geometry.values).sum()
    union = shown.union_all()
    assert union.geom_type == "Polygon" and len(union.interiors) == 0  # no gap between the two
    assert shown.iloc[0].intersection(shown.iloc[1]).area < 1.0  # no overlap [m2]
    assert shown.area.sum() == pytest.approx(union.area, abs=1.0)


def test_write_map_keeps_the_size_budget_with_less_detail(tmp_path):
    rng = np.random.default_rng(2)
    units = gpd.GeoDataFrame({"unit_id": ["a"], "value": [1.0]}, geometry=[shapely.box(0, 0, 5000, 5000)],
                             crs="EPSG:32650")
    centres = gpd.points_from_xy(rng.uniform(0, 5000, 25_000), rng.uniform(0, 5000, 25_000))
    footprints = gpd.GeoDataFrame({"v": rng.uniform(size=25_000)}, geometry=centres.buffer(6, quad_segs=3),
                                  crs="EPSG:32650")  # 25,000 "buildings" of 13 vertices
    layer = Layer(name="roofs", title="Roofs", group="sources", frame=footprints, column="v")
    path, full_mb, level = write_map(units, [layer], tmp_path / "a.html", budget_mb=100)
    assert level == DETAIL_LEVELS[0]
    roofs = _page_data(path)["layers"][-1]
    assert roofs["tiles"]["minZoom"] >= 14 and _page_data(path)["geometries"][roofs["geometry"]]["n"] == 25_000
    path, small_mb, level = write_map(units, [layer], tmp_path / "b.html", budget_mb=full_mb * 0.6)
    assert level.max_features is not None and small_mb <= full_mb * 0.6
    roofs = _page_data(path)["layers"][-1]
    assert "tiles" not in roofs and "onemap.gpkg" in roofs["legend"]["note"]  # cells only, and the legend says so


def test_write_map_reads_saved_layers_as_each_page_draws_them(tmp_path, monkeypatch):
    """Layers saved between stages give the page of the same layers in memory; a small layer is read
    once for every level, a large one (more than TILE_ABOVE features) for each page that draws it."""
    from carbonmap import webmap

    rng = np.random.default_rng(3)
    units = gpd.GeoDataFrame({"unit_id": ["a"], "value": [1.0]}, geometry=[shapely.box(0, 0, 5000, 5000)],
                             crs="EPSG:32650")
    centres = gpd.points_from_xy(rng.uniform(0, 5000, 12_000), rng.uniform(0, 5000, 12_000))
    roofs = gpd.GeoDataFrame({"v": rng.uniform(size=12_000)}, geometry=centres.buffer(5, quad_segs=2), crs="EPSG:32650")
    parks = gpd.GeoDataFrame({"v": [1.0, 2.0]}, geometry=[shapely.box(0, 0, 900, 900), shapely.box(2000, 0, 2500, 700)],
                             crs="EPSG:32650")
    layers = [Layer(name="roofs", title="Roofs", group="sources", frame=roofs, column="v"),
              Layer(name="parks", title="Parks", group="sinks", frame=parks, column="v")]
    saved = [layer.saved(tmp_path / "layers") for layer in layers]
    assert all(layer.frame is None for layer in saved) and [layer.features() for layer in saved] == [12_000, 2]
    import carbonmap.stage

    reads = []
    read_frame = carbonmap.stage._read_frame
    monkeypatch.setattr(carbonmap.stage, "_read_frame",
                        lambda path, crs: reads.append(path.stem) or read_frame(path, crs))
    full_mb = webmap.write_map(units, layers, tmp_path / "full.html", budget_mb=100, basemaps=())[1]
    budget = full_mb * 0.8  # under the first level's page: the pages of more levels are made
    in_memory = webmap.write_map(units, layers, tmp_path / "a.html", budget_mb=budget, basemaps=())
    reads.clear()
    from_files = webmap.write_map(units, saved, tmp_path / "b.html", budget_mb=budget, basemaps=())
    assert from_files[2] == in_memory[2] != DETAIL_LEVELS[0]
    assert (tmp_path / "a.html").read_bytes() == (tmp_path / "b.html").read_bytes()
    assert reads.count("parks") == 1 and reads.count("roofs") >= 2


def _page_data(path) -> dict:
    """The data a map page gives carbonmap.start."""
    text = path.read_text(encoding="utf-8")
    start = '<script type="application/json" id="carbonmap-data">'
    return json.loads(text[text.index(start) + len(start):text.index("</script>", text.index(start))])


def test_demo_map_shows_every_layer_in_the_run_language(demo_run):
    page = demo_run / "onemap.html"
    text = page.read_text(encoding="utf-8")
    data = _page_data(page)
    from carbonmap.words import words

    titles = [layer["title"] for layer in data["layers"]]
    expected = ["用地地块（2023年分类，按碳核算类别）", "保护管控区",  # the project's titles, in Chinese
                "2023年土地覆被（CLCD 分类）", "2023年净初级生产力（500 米经纬度网格）",
                "碳储量：2015年土地覆被（CLCD 分类）",  # named by the land cover's title, not its key
                "碳储量变化：2015年土地覆被（CLCD 分类）至2023年土地覆被（CLCD 分类）"]
    expected += [text.in_("zh") for text in (  # the demo is in Chinese
        words("layer.parcel_emissions"), words("layer.emissions_grid", cell=250), words("layer.point_sources"),
        words("layer.ecological_patches", area=1), words("layer.ecological_ed_window", radius=500),
        words("layer.rooftop_pv_top", n=500), words("layer.zones_wind"), words("layer.deep_geothermal_class"),
        words("layer.afforestation_sites"), words("layer.afforestation_reasons"), words("layer.rooftop_pv"))]
    assert set(expected) <= set(titles), set(expected) - set(titles)
    assert titles[:3] == ["净碳排放", "碳收支分区", "碳效等级"] and data["layers"][0]["show"]  # the headline first
    assert [spec["show"] for spec in data["layers"]].count(True) == 1
    assert data["layers"][0]["fill"]["breaks"].count(0) == 1  # diverging at zero
    assert all(spec["url"].startswith("data:image/png;base64,") for spec in data["layers"] if spec["kind"] == "image")
    assert not {"Protection zones", "Land cover 2023 (CLCD classes)"} & set(titles)  # not their English
    zones = next(spec for spec in data["layers"] if spec["title"] == "保护管控区")
    assert [row[1] for row in zones["legend"]["rows"]] == ["生态保护红线", "永久基本农田"]
    assert len(text.encode()) < 15e6  # the one-map size budget
    # offline: Leaflet is inlined, nothing is linked from a CDN
    assert re.search(r"<script[^>]+src=", text) is None and re.search(r"<link[^>]+href=", text) is None
    assert "Leaflet 1.9.4" in text and '<html lang="zh-CN">' in text


def test_every_summary_column_the_map_shows_has_a_dictionary_entry(demo_run):
    """The unit card and the unit layers show unit_summary columns by their dictionary labels: a
    column without a dictionary entry fails here."""
    data = _page_data(demo_run / "onemap.html")
    shown = {c for theme in data["units"]["card"]["themes"] for c in theme[2]}
    shown |= {spec["fill"]["column"] for spec in data["layers"] if spec.get("units")}
    summary = set(pd.read_csv(demo_run / "unit_summary.csv", nrows=0).columns)
    assert shown == summary - {"unit_id", "unit_name"}
    assert [c for c in sorted(shown) if column_info(c) is None] == []
    for column in shown:
        label, unit, _ = data["fields"][column]
        assert label != column and not re.search(r"\b[a-z]+_[a-z0-9_]+\b", label), (column, label)


def test_class_breaks_by_method():
    clusters = np.concatenate([np.full(20, 1.0), np.full(20, 10.0), np.full(20, 100.0)]) + np.arange(60) * 0.01
    assert class_breaks(clusters, method="jenks", classes=3).tolist() == [10.0, 100.0]  # natural breaks
    values = np.arange(1, 101, dtype=float)
    assert class_breaks(values, method="quantile", classes=4).tolist() == [25.0, 50.0, 75.0]
    assert class_breaks(values, method="equal", classes=4).tolist() == [26.0, 50.0, 75.0]  # two significant digits
    assert class_breaks([0.003, 0.5, 7, 19.0], method="log", classes=5).tolist() == [0.01, 0.1, 1.0, 10.0]
    net = np.array([-58_256, -27_390, -26_036, -623, 18_037, 61_614, 118_226, 1_276_969, 1_330_191, 2_033_584,
                    2_327_532, 2_667_064, 2_802_529, 3_209_654], dtype=float)
    breaks = class_breaks(net, method="diverging", classes=6)
    assert 0 in breaks and (breaks < 0).sum() == 1 and (breaks > 0).sum() == 3
    assert class_breaks([np.nan, 1, 1], method="quantile").size == 0  # nothing to class
    with pytest.raises(ValueError, match="unknown classification method 'natural'"):
        class_breaks(values, method="natural")


def test_breaks_keep_narrow_ranges_apart():
    """Two significant digits where they move no break by more than a tenth of a class; more where
    the range is narrow (irradiation 1,300-1,400, temperatures, elevations, years)."""
    assert class_breaks(np.linspace(1300, 1400, 50), method="equal").tolist() == [1320, 1340, 1360, 1380]
    assert class_breaks(np.linspace(17.5, 22.5, 50), method="equal").tolist() == [18.5, 19.5, 20.5, 21.5]
    assert class_breaks(np.linspace(1500, 1560, 50), method="equal", classes=7).size == 6
    assert class_breaks(np.arange(2028, 2036), method="quantile", classes=4).tolist() == [2029, 2031, 2033]


def test_diverging_scales_turn_at_their_centre():
    """Values on one side of zero take only that side's colours; exact zeros are the neutral
    middle colour, in a class of their own; the efficiency index turns at the city's 1."""
    from carbonmap.webmap import _brewer, _scale, _style_of

    style = _style_of("change_net_co2_t_yr", "scenarios")  # RdYlBu_r: blue below zero, red above
    full = _brewer(style.palette, 11)
    neutral, blues, reds = full[5], set(full[:5]), set(full[6:])
    more = _scale(np.r_[np.zeros(11), 7, 120, 817_000.0], style)  # a scenario that only adds emissions
    assert set(more.colours) <= reds and more.centre_colour == neutral
    assert more.rows[0] == [neutral, "0"] and more.rows[1][1].startswith("0 – ")
    assert more.colour_index(np.array([0.0, 7.0, 817_000.0])).tolist() == [len(more.colours), 0,
                                                                          len(more.colours) - 1]
    less = _scale(-np.linspace(5, 900, 14), style)  # only reductions: no zero class, blue only
    assert set(less.colours) <= blues and less.centre_colour is None and less.rows[-1][1].endswith("– 0")
    both = _scale(np.array([-58_256, -27_390, -623, 18_037, 1_276_969, 3_209_654.0]), style)
    below = [c for c, b in zip(both.colours, [-np.inf] + both.breaks) if b < 0]
    assert 0.0 in both.breaks and set(below) <= blues and set(both.colours) - set(below) <= reds
    efficiency = _scale(np.array([0.43, 0.62, 0.85, 0.97, 1.1, 1.6, 4.3]), _style_of("efficiency_index", "units"))
    assert 1.0 in efficiency.breaks
    greens = set(_brewer("RdYlGn_r", 11)[:5])
    assert all((c in greens) == (b < 1) for c, b in zip(efficiency.colours, [-np.inf] + efficiency.breaks))


def test_small_counts_are_classed_as_whole_numbers():
    """Warnings per unit: each class names the whole numbers it holds, and the colours follow the
    labels; large whole numbers (tonnes) keep ranges of breaks."""
    from carbonmap.webmap import _scale, _style_of

    style = _style_of("monitoring_units", "scenarios")
    counts = np.array([2, 1, 0, 0, 0, 0, 4, 2, 5, 8, 6, 6, 6, 6.0])
    scale = _scale(counts, style)  # equal intervals of 1.6 -> whole breaks 2, 4, 5, 7
    assert scale.breaks == [2.0, 4.0, 5.0, 7.0]
    assert [label for _, label in scale.rows] == ["0 – 1", "2 – 3", "4", "5 – 6", "7 – 8"]
    labels = [scale.rows[i][1] for i in scale.colour_index(np.arange(9.0))]
    assert labels == ["0 – 1", "0 – 1", "2 – 3", "2 – 3", "4", "5 – 6", "5 – 6", "7 – 8", "7 – 8"]
    sure = _scale(np.array([100, 100, 100.0]), _style_of("p_balance_class_pct", "units"))  # fixed classes
    assert [label for _, label in sure.rows] == ["< 50", "50 – 75", "75 – 90", "90 – 95", "95 – 99", "≥ 99"]
    assert sure.colour_index(np.array([91.1, 100.0])).tolist() == [3, 5]
    tonnes = _scale(np.array([0, 120_000, 1_300_000, 2_700_000.0]), _style_of("source_co2_t_yr", "sources"))
    assert tonnes.rows[-1][1].startswith("≥ ") and not any(label.endswith("999") for _, label in tonnes.rows)


def test_codes_and_whole_numbers_reach_the_page_exactly():
    """Whole numbers (codes, ids, counts) are never rounded; a code column with nulls (read as
    floats) keys its colours as the page's script reads the table; Z coordinates are dropped."""
    from carbonmap.webmap import _class_key, _column_values, _display_geometry, _mspa_class

    assert _column_values(pd.Series([1_234_567, 123_456, 1001]), 3) == [1_234_567, 123_456, 1001]
    assert _column_values(pd.Series([1_234_567.4, 0.012345, np.nan]), 3) == [1_234_567, 0.0123, None]
    codes = pd.Series([101.0, np.nan, 1202.0])
    assert [_class_key(v) for v in codes.dropna()] == [str(v) for v in _column_values(codes) if v is not None]
    frame = gpd.GeoDataFrame(geometry=[shapely.Polygon([(0, 0, 5), (10, 0, 5), (10, 10, 6)])], crs="EPSG:32650")
    assert not shapely.has_z(_display_geometry(frame, 1.0)).any()
    assert [_mspa_class(c) for c in (117, 133, 165, 169, 100, 129)] == [17, 33, 65, 65, 0, 129]


def test_flows_point_where_they_go():
    """A flow from (0, 0) to (100, 0) is drawn with strokes of 10 m back from (100, 0) at 25 degrees
    either side; a short one with strokes of a fifth of its length."""
    from carbonmap.webmap import _with_arrowheads

    frame = gpd.GeoDataFrame(geometry=[shapely.LineString([(0, 0), (100, 0)]), shapely.LineString([(0, 0), (0, 20)])],
                             crs="EPSG:32650")
    long, short = _with_arrowheads(frame, 10.0).geometry
    dx, dy = 10 * np.cos(np.radians(25)), 10 * np.sin(np.radians(25))
    assert np.allclose(long.geoms[1].coords, [(100 - dx, -dy), (100, 0), (100 - dx, dy)])
    sx, sy = 4 * np.sin(np.radians(25)), 20 - 4 * np.cos(np.radians(25))
    assert np.allclose(short.geoms[1].coords, [(sx, sy), (0, 20), (-sx, sy)])
    assert long.geoms[0].equals(frame.geometry[0])  # the flow itself, unchanged


def test_large_polygon_layers_are_not_checked_as_coverages(monkeypatch):
    """The coverage check (slow on large layers) runs for a layer of up to 200,000 vertices only;
    a larger one is simplified feature by feature."""
    from carbonmap import webmap

    checked = []
    monkeypatch.setattr(webmap.shapely, "coverage_is_valid", lambda g: checked.append(len(g)) or True)
    squares = [shapely.box(x, 0, x + 1, 1) for x in range(0, 2 * 2001, 2)]  # 2,001 squares of 5 vertices
    frame = gpd.GeoDataFrame(geometry=squares, crs="EPSG:32650")
    webmap._display_geometry(frame, 0.1)
    monkeypatch.setattr(webmap, "COVERAGE_CHECK_MAX_VERTICES", 10_000)
    webmap._display_geometry(frame, 0.1)
    assert checked == [2001]  # checked under the limit (10,005 vertices), not over it


@given(st.floats(min_value=-1e12, max_value=1e12, allow_nan=False).filter(lambda v: v == 0 or abs(v) > 1e-9))
def test_numbers_are_written_for_people(value):
    text = format_number(value)
    assert "e" not in text.lower()
    number = float(text.replace(",", ""))
    assert number == pytest.approx(value, rel=0.06, abs=0.5 if abs(value) >= 99.5 else 1e-12)


def _decode(text: str) -> list[int]:
    """The integers of encode_integers (as the page's script reads them)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    out, value, shift = [], 0, 0
    for char in text:
        code = alphabet.index(char)
        value |= (code & 31) << shift
        if code & 32:
            shift += 5
            continue
        out.append(-(value + 1) // 2 if value % 2 else value // 2)
        value, shift = 0, 0
    return out


@given(st.lists(st.integers(min_value=-(2 ** 40), max_value=2 ** 40)))
def test_integers_survive_their_text_form(values):
    text = encode_integers(values)
    assert re.fullmatch(r"[A-Za-z0-9_-]*", text) and _decode(text) == values


def test_class_names_and_zones_in_both_languages():
    zh, en = _Words("zh"), _Words("en")
    assert zh.class_name("ecological_protection_red_line") == "生态保护红线"
    assert en.class_name("permanent_basic_farmland") == "permanent basic farmland"
    assert zh.class_name("forest") == "林地" and zh.class_name("carbon_surplus") == "碳盈余"
    assert zh.class_name("class-1 urban residential land") == "一类城镇住宅用地"  # from the code tables
    assert zh.column("landcover_2023_forest_area_ha") == ("地类面积：林地，landcover_2023", "公顷")
    assert en.column("source_buildings_co2_t_yr") == ("Carbon source by sector: buildings", "t CO2/yr")
    assert zh.column("no_such_column") is None


def test_a_rule_reason_reads_the_same_on_the_map_and_in_the_report():
    """Each reason of the zoning and afforestation rules (the ecological protection red line's among them)
    has one wording, its rule table's: the map's legend and the report's tables (both given the run's rule
    tables) say it alike in each language, the English without Chinese."""
    from carbonmap import coefficients
    from carbonmap.readable import cell_text, rule_translations

    tables = {"coefficients_renewable_zoning_rules": coefficients.renewable_zoning_rules(),
              "coefficients_afforestation_rules": coefficients.afforestation_rules(),
              "coefficients_renewable_parameters": coefficients.read_table("renewable_parameters")}
    extra = rule_translations(tables)
    red_lines = 0
    for table in ("coefficients_renewable_zoning_rules", "coefficients_afforestation_rules"):
        for reason, chinese in zip(tables[table]["reason"], tables[table]["reason_zh"]):
            if "{" in reason:  # a parameter's value in its words (the setback): in the run's tables only
                continue
            for language, expected in (("zh", chinese), ("en", reason)):
                on_map = _Words(language, translations=extra).class_name(reason)
                in_report = cell_text("reason", reason, language, extra=extra)
                assert on_map == in_report == expected, (language, on_map, in_report)
            assert not re.search(r"[\u4e00-\u9fff]", reason), reason
            red_lines += reason.startswith("ecological protection red line")
    assert red_lines == 2
    assert _Words("en").class_name("ecological protection red line: restoration follows the red line's own plan") \
        == "ecological protection red line: restoration follows the red line's own plan"


def test_mspa_legend_has_one_entry_per_colour_in_guidostoolbox_colours(tmp_path):
    from affine import Affine

    from carbonmap.io import write_cog
    from carbonmap.landscape.network import MSPA_LEGEND

    codes = np.array(sorted(MSPA_LEGEND), dtype="uint8").repeat(40).reshape(-1, 20)
    path = write_cog(tmp_path / "mspa.tif", codes, transform=Affine(30, 0, 500_000, 0, -30, 3_000_000),
                     crs="EPSG:32650", nodata=0)
    layer = Layer(name="mspa", title="MSPA", group="ecology", raster=path, kind="categorical",
                  labels={str(v): name for v, (name, _) in MSPA_LEGEND.items()},
                  colours={str(v): colour for v, (_, colour) in MSPA_LEGEND.items()})
    rows = _raster_spec(layer, DETAIL_LEVELS[0], _Words("zh"))["legend"]["rows"]
    colours = [colour for colour, _ in rows]
    assert len(colours) == len(set(colours)) == 9
    assert rows[:3] == [[MSPA_COLOURS[17][1], "核心区"], [MSPA_COLOURS[9][1], "孤岛"], [MSPA_COLOURS[5][1], "穿孔"]]


@pytest.fixture(scope="module")
def own_demo(project_run, tmp_path_factory):
    """The demo project with a copy of its run's outputs and state, to rerun stages on."""
    import shutil
    from importlib.resources import files

    folder = tmp_path_factory.mktemp("demo_only") / "out"
    shutil.copytree(project_run, folder)
    project = load_project(str(files("carbonmap.sample_data") / "demo_city" / "project.toml"))
    return project.with_output_dir(folder)


@pytest.mark.slow
def test_a_layer_waits_on_disk_as_it_was_or_in_memory_when_parquet_cannot_hold_it(tmp_path):
    points = shapely.points([0.0, 1.0, 2.0], [0.0, 1.0, 2.0])
    frame = gpd.GeoDataFrame({"v": [1.5, np.nan, 3.0], "kind": pd.Categorical(["a", "b", "a"])}, geometry=points,
                             crs="EPSG:4547", index=pd.Index([7, 3, 5], name="fid"))
    layer = Layer(name="roofs", title="Roofs", group="sources", frame=frame, column="v")
    saved = layer.saved(tmp_path)
    assert saved.frame is None and saved.frame_file == tmp_path / "roofs.parquet" and saved.columns() == [
        "v", "kind", "geometry"]
    back = saved.loaded().frame
    pd.testing.assert_frame_equal(back, frame)  # index, categories, NaN
    assert back.crs is frame.crs  # the CRS object itself: written the same way as before it waited
    assert [p.name for p in tmp_path.iterdir()] == ["roofs.parquet"]
    mixed = Layer(name="mixed", title="Mixed", group="sources", frame=frame.assign(kind=[1, "b", 2.5]), column="v")
    assert mixed.saved(tmp_path) is mixed and [p.name for p in tmp_path.iterdir()] == ["roofs.parquet"]
    # one name is one file: a name published twice, even by one stage, stops the run before any is saved
    from carbonmap.stage import Publication

    with pytest.raises(ValueError, match=r"published twice: \['roofs'\]"):
        Publication.merged([Publication(), Publication(layers=[layer, layer])])
    centres = frame.assign(centre=frame.geometry.centroid)  # a second geometry column comes back as geometries
    pd.testing.assert_frame_equal(Layer(name="centres", title="C", group="sources", frame=centres,
                                        column="v").saved(tmp_path / "two").loaded().frame, centres)


def test_only_reruns_a_stage_on_the_saved_state(own_demo, monkeypatch):
    project = own_demo
    out = project.output_dir
    before = pyogrio.read_dataframe(out / "onemap.gpkg", layer="unit_summary", read_geometry=False)
    assert (out / STATE_DIR / "manifest.json").exists()
    import carbonmap.pipeline as pipeline

    def must_not_run(ctx):
        raise AssertionError("a stage before screening ran again")

    names = pipeline.stage_names()
    earlier = set(names[:names.index("screening")])
    monkeypatch.setattr(pipeline, "STAGES", tuple(dataclasses.replace(s, run=must_not_run) if s.name in earlier
                                                  else s for s in pipeline.STAGES))
    changed = dataclasses.replace(project, screening=dataclasses.replace(project.screening, top_n=3))
    ctx = run(changed, quiet=True, only="screening")
    assert [layer.name for layer in ctx.layers][:3] == ["landcover_2023", "landcover_2015", "elevation"]
    top = pyogrio.read_dataframe(out / "onemap.gpkg", layer="rooftop_top_per_unit", read_geometry=False)
    assert top.groupby("unit_id").size().max() == 3
    after = pyogrio.read_dataframe(out / "onemap.gpkg", layer="unit_summary", read_geometry=False)
    pd.testing.assert_frame_equal(after, before)  # top_n changes tables only, not the per-unit summary
    with pytest.raises(InputError, match=r"\[network\] changed since the saved run"):
        run(dataclasses.replace(changed, network=dataclasses.replace(project.network, max_sources=5)),
            quiet=True, only="screening")
    with pytest.raises(InputError, match="unknown stage 'screen'.*did you mean 'screening'"):
        run(changed, quiet=True, only="screen")


def test_the_one_map_names_the_units_in_its_language_in_the_summary_and_the_units_layers(tmp_path):
    """A layer of the units (the monitoring's) and the summary were published in the first run's language;
    the one map names the units in its own, reading a saved layer from its file."""
    from carbonmap.stage import Publication
    from carbonmap.themes.inputs import Units
    from carbonmap.themes.onemap import _named_in

    ids = pd.Index(["D1", "D2"], name="unit_id")
    squares = [shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1)]
    frame = gpd.GeoDataFrame({"unit_id": ids, "unit_name": ["云岭区", "新城区"], "unit_name_zh": ["云岭区", "新城区"],
                              "unit_name_en": ["Yunling", "Xincheng"]}, index=ids, geometry=squares, crs="EPSG:32650")
    warned = gpd.GeoDataFrame({"unit_id": ["D2", "D1"], "unit_name": ["新城区", "云岭区"], "monitoring_warnings": [3, 0]},
                              geometry=squares[::-1], crs="EPSG:32650")
    layers = [Layer(name="monitoring_units", title="w", group="scenarios", frame=warned,
                    column="monitoring_warnings").saved(tmp_path),
              Layer(name="sites", title="s", group="screening", frame=warned.drop(columns="unit_name"), column="unit_id")]
    published = Publication(layers=layers, summary=pd.DataFrame({"unit_name": ["云岭区", "新城区"], "x": [1, 2]}, index=ids))
    english = _named_in(published, Units(frame, None), "en")
    assert english.summary["unit_name"].tolist() == ["Yunling", "Xincheng"] and english.summary["x"].tolist() == [1, 2]
    assert english.layers[0].frame["unit_name"].tolist() == ["Xincheng", "Yunling"]  # by id, not by position
    assert english.layers[0].frame["monitoring_warnings"].tolist() == [3, 0] and english.layers[1] is layers[1]
    assert _named_in(published, Units(frame, None), "zh").layers[0].frame["unit_name"].tolist() == ["新城区", "云岭区"]
    one_name = Units(frame.drop(columns=["unit_name_zh", "unit_name_en"]), None)
    assert _named_in(published, one_name, "en").summary["unit_name"].tolist() == ["云岭区", "新城区"]  # one field


def _run_notes(report: str) -> list[str]:
    """The items of the report's run notes."""
    section = re.search(r"<section id='notes'>.*?</section>", report, re.DOTALL).group(0)
    return [html.unescape(item) for item in re.findall(r"<li>(.*?)</li>", section, re.DOTALL)]


def test_a_chinese_reports_run_notes_are_in_chinese(demo_run):
    notes = _run_notes((demo_run / "report.html").read_text(encoding="utf-8"))
    assert len(notes) >= 20
    assert all(re.search(r"[\u4e00-\u9fff]", note) for note in notes)
    names = (r"/[^）)、]+|onemap\.html|carbon_prices\.csv|china_national_ets|CCER|carbonmap|MSPA|IPCC|CLCD|NEP|NPP|"
             r"GDP|Pei|MB|PC|Rh")  # folders, files, a price's source, names and acronyms
    english = [note for note in notes if re.search(r"[A-Za-z]{3,}", re.sub(names, "", note))]
    assert english == []
    assert any(note.startswith("生态网络：") and "条生态廊道" in note for note in notes)


@pytest.fixture(scope="module")
def tables_read(project_run):
    """The packaged tables the demo project's run read (noted by an independent spy, tests/conftest.py)."""
    import json

    return set(json.loads((project_run.parent / "tables_read.json").read_text(encoding="utf-8"))), project_run


@pytest.mark.slow
def test_every_table_a_run_reads_is_in_the_geopackage(tables_read):
    read, out = tables_read
    layers = set(pyogrio.list_layers(out / "onemap.gpkg")[:, 0])
    assert {"coefficients_wind_power_curve", "coefficients_wind_shear_exponents", "coefficients_gshp_extraction",
            "coefficients_heating_demand", "coefficients_geothermal_classes", "classes_clcd",
            "classes_ydyh_2023"} <= read  # the spy sees the tables that used to escape the record
    assert read <= layers, f"read but not written: {sorted(read - layers)}"
    for name in read:
        assert len(pyogrio.read_dataframe(out / "onemap.gpkg", layer=name)) > 0, name
