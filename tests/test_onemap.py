"""The one map's three products: the GeoPackage (every layer with a CRS, QGIS styles), the
report, the HTML map's display rules (aggregation, coverage simplification, size budget), and
rerunning one stage."""

from __future__ import annotations

import dataclasses
import html
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
from carbonmap.webmap import DETAIL_LEVELS, _aggregate, _display_geometry, write_map


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
    cells = _aggregate(points, "kwh", "sum", max_features=400)
    assert len(cells) <= 400 and cells["features"].sum() == 5000
    assert cells["kwh_sum"].sum() == pytest.approx(points["kwh"].sum())
    classes = points.assign(kind=np.where(points["kwh"] > 30, "big", "small"))
    modes = _aggregate(classes, "kind", "mode", max_features=400)
    assert (modes["kind_mode"] == "big").mean() > 0.9  # 70 % of each cell's points are "big"
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
    shown = gpd.GeoSeries(_display_geometry(parcels, 10.0), crs="EPSG:4326").to_crs("EPSG:32650")
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
    _, full_mb, level = write_map(units, [layer], tmp_path / "a.html", budget_mb=100)
    assert level == DETAIL_LEVELS[0]
    path, small_mb, level = write_map(units, [layer], tmp_path / "b.html", budget_mb=full_mb * 0.6)
    assert level != DETAIL_LEVELS[0] and small_mb <= full_mb * 0.6
    assert "aggregated to" in path.read_text()


@pytest.fixture(scope="module")
def own_demo(tmp_path_factory):
    from importlib.resources import files

    project = load_project(str(files("carbonmap.sample_data") / "demo_city" / "project.toml"))
    project = project.with_output_dir(tmp_path_factory.mktemp("demo_only"))
    run(project, quiet=True)
    return project


@pytest.mark.slow
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


@pytest.fixture(scope="module")
def tables_read(tmp_path_factory, monkeypatch_module):
    """A demo run that notes every packaged table it reads (by an independent spy)."""
    from importlib.resources import files

    import carbonmap.coefficients as coefficients
    import carbonmap.landuse as landuse

    read = set()
    packaged, read_packaged = coefficients._packaged, landuse._read_packaged

    def spy_table(name):
        read.add(f"coefficients_{name}")
        return packaged(name)

    def spy_classes(name):
        read.add("classes_" + name.removesuffix(".csv").removeprefix("carbon_")
                 if name != "carbon_categories.csv" else "classes_carbon_categories")
        return read_packaged(name)

    landuse._packaged_table.cache_clear()
    landuse._categories.cache_clear()
    monkeypatch_module.setattr(coefficients, "_packaged", spy_table)
    monkeypatch_module.setattr(landuse, "_read_packaged", spy_classes)
    project = load_project(str(files("carbonmap.sample_data") / "demo_city" / "project.toml"))
    out = tmp_path_factory.mktemp("tables")
    run(project.with_output_dir(out), quiet=True)
    return read, out


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


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
