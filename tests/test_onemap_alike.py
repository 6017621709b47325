"""The one map's faster ways give what the plain ways gave: the report's polygon maps the same SVG
as geopandas draws, the map page the same level and text as building every level in full, display
geometries the same codes as ``to_crs``, the GeoPackage the same tables through Arrow."""

from __future__ import annotations

import sqlite3

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from carbonmap import io as cio
from carbonmap import report, webmap
from carbonmap.stage import Layer
from carbonmap.styles import _geometry_kind


def _polygons(n: int = 2600, seed: int = 4) -> gpd.GeoDataFrame:
    """`n` polygons in UTM: squares, squares with a hole, two-part features; one missing, one empty."""
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(0, 20_000, n), rng.uniform(0, 20_000, n)
    geoms = []
    for i, (a, b) in enumerate(zip(x, y)):
        box = shapely.box(a, b, a + 120, b + 80)
        if i % 3 == 1:
            box = box.difference(shapely.box(a + 30, b + 20, a + 60, b + 50))
        elif i % 3 == 2:
            box = shapely.MultiPolygon([box, shapely.box(a + 200, b, a + 260, b + 40)])
        geoms.append(box)
    geoms[5], geoms[6] = None, shapely.Polygon()
    values = rng.lognormal(size=n)
    values[::17] = np.nan
    return gpd.GeoDataFrame({"v": values, "c": rng.choice(["a", "b", "c"], n)}, geometry=geoms, crs="EPSG:32650")


def _svg(draw) -> str:
    import matplotlib.pyplot as plt

    with report._figure_style("en"):
        fig, ax = draw(plt)
        ax.set_axis_off()
        ax.set_aspect("equal")
        return report._figure_html(fig, "map")


@pytest.mark.parametrize("style", ["colours", "column", "colour"])
def test_report_polygons_are_drawn_as_geopandas_draws_them(style):
    frame = _polygons()
    palette = {"a": (0.1, 0.6, 0.5, 1.0), "b": (0.8, 0.3, 0.1, 1.0), "c": (0.5, 0.4, 0.7, 1.0)}  # as tab20 gives
    options = {"colours": {"color": [palette[v] for v in frame["c"]]},
               "column": {"column": "v", "cmap": "viridis", "vmin": 0.2, "vmax": 3.0},
               "colour": {"color": "#1f77b4"}}[style]

    def by_geopandas(plt):
        fig, ax = plt.subplots(figsize=(5.6, 4.6))
        frame.plot(ax=ax, linewidth=0.8, markersize=8, rasterized=True, **options)
        return fig, ax

    def by_paths(plt):
        fig, ax = report._saved_figure((5.6, 4.6))
        assert report._plot_polygons(ax, frame, linewidth=0.8, rasterized=True, **options)
        return fig, ax

    assert _svg(by_paths) == _svg(by_geopandas)


def test_report_leaves_lines_points_and_text_columns_to_geopandas():
    import matplotlib.pyplot as plt

    fig, ax = report._saved_figure((4, 3))
    lines = gpd.GeoDataFrame({"v": [1.0]}, geometry=[shapely.LineString([(0, 0), (1, 1)])], crs="EPSG:32650")
    assert not report._plot_polygons(ax, lines, color="#000000")
    assert not report._plot_polygons(ax, _polygons(10), column="c")  # text: geopandas draws categories
    assert not report._plot_polygons(ax, _polygons(10).to_crs(4326), color="#000000")  # not projected
    assert not ax.collections
    plt.close(fig)


def _roofs(n: int = 25_000) -> tuple[gpd.GeoDataFrame, list]:
    rng = np.random.default_rng(2)
    units = gpd.GeoDataFrame({"unit_id": ["a", "b"], "value": [1.0, -2.0]},
                             geometry=[shapely.box(0, 0, 2500, 5000), shapely.box(2500, 0, 5000, 5000)],
                             crs="EPSG:32650")
    centres = gpd.points_from_xy(rng.uniform(0, 5000, n), rng.uniform(0, 5000, n))
    roofs = gpd.GeoDataFrame({"v": rng.uniform(size=n), "use": rng.choice(["home", "shop"], n)},
                             geometry=centres.buffer(6, quad_segs=3), crs="EPSG:32650")
    zone = gpd.GeoDataFrame({"zone": ["x"]}, geometry=[shapely.Point(2500, 2500).buffer(900, quad_segs=64)],
                            crs="EPSG:32650")
    layers = [Layer(name="zones", title="Zones", group="zones", frame=zone, column="zone", kind="categorical"),
              Layer(name="roofs", title="Roofs", group="sources", frame=roofs, column="v"),
              Layer(name="roof_use", title="Use", group="sources", frame=roofs[["use", "geometry"]], column="use",
                    kind="categorical")]
    return units, layers


@pytest.mark.parametrize("share", [1.0, 0.6, 0.2])
def test_write_map_writes_the_page_of_building_every_level_in_turn(tmp_path, share):
    """The level written and its page are those of the plain way: build each level's page in full,
    keep the first within budget (else the last)."""
    units, layers = _roofs()
    full = webmap.build_page(units, layers, detail=webmap.DETAIL_LEVELS[0], basemaps=())
    budget = len(full.encode()) / 1e6 * share
    expected = None
    for detail in webmap.DETAIL_LEVELS:
        expected, level = webmap.build_page(units, layers, detail=detail, basemaps=()), detail
        if len(expected.encode()) / 1e6 <= budget:
            break
    path, size_mb, chosen = webmap.write_map(units, layers, tmp_path / "map.html", budget_mb=budget, basemaps=())
    assert chosen == level and path.read_text(encoding="utf-8") == expected
    assert size_mb == len(expected.encode()) / 1e6


def test_display_geometries_are_coded_as_through_to_crs():
    box = shapely.box(0, 0, 100, 100)
    polygons = gpd.GeoDataFrame(geometry=[box, None, shapely.Polygon(), shapely.MultiPolygon([box, shapely.box(
        200, 200, 300, 300)]), shapely.Polygon([(0, 0, 1), (10, 0, 2), (10, 10, 3), (0, 0, 1)])], crs="EPSG:32650")
    lines = gpd.GeoDataFrame(geometry=[shapely.LineString([(0, 0), (100, 50)]),
                                       shapely.MultiLineString([[(0, 0), (1, 1)], [(5, 5), (9, 9)]])], crs="EPSG:32650")
    points = gpd.GeoDataFrame(geometry=[shapely.Point(114.1, 22.3), shapely.Point(114.2, 22.4, 5)], crs=4326)
    cases = [(polygons, 5.0, "polygon"), (polygons.set_crs(3857, allow_override=True), 5.0, "polygon"),
             (_polygons(300), 0.0, "polygon"), (_polygons(300), 30.0, "polygon"), (lines, 0.0, "line"),
             (points, 0.0, "point")]
    for frame, tolerance, kind in cases:
        plain = webmap._encode_geometries(webmap._display_geometry(frame, tolerance), kind)
        assert webmap._display_encoding(frame, tolerance, kind) == plain


def test_geometry_kinds_from_type_ids():
    cases = {"point": [shapely.Point(0, 0), None, shapely.MultiPoint([(1, 1)])],
             "line": [shapely.LineString([(0, 0), (1, 1)]), shapely.LineString()],
             "polygon": [shapely.box(0, 0, 1, 1), shapely.Point(0, 0)]}
    for kind, geoms in cases.items():
        frame = gpd.GeoDataFrame(geometry=gpd.GeoSeries(geoms), crs=3857)
        assert webmap._vector_kind(frame) == kind and _geometry_kind(frame) == kind
    nothing = gpd.GeoDataFrame(geometry=gpd.GeoSeries([None], dtype="geometry"), crs=3857)
    assert webmap._vector_kind(nothing) == "point" and _geometry_kind(nothing) == "polygon"  # as before


def _tables(path) -> dict:
    """Every table of a GeoPackage, rows in order (the write times left out)."""
    out = {}
    with sqlite3.connect(path) as db:
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        for name in names:
            columns = [r[1] for r in db.execute(f'PRAGMA table_info("{name}")') if r[1] != "last_change"]
            out[name] = (db.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone(),
                         db.execute(f'SELECT {", ".join(chr(34) + c + chr(34) for c in columns)} FROM "{name}"').fetchall())
    return out


def test_geopackage_through_arrow_holds_the_same_tables(tmp_path, monkeypatch):
    n = 7
    geoms = [shapely.box(i, i, i + 1, i + 1) for i in range(n)]
    geoms[2] = shapely.MultiPolygon([geoms[2], shapely.box(20, 20, 21, 21)])
    geoms[3] = None
    frame = gpd.GeoDataFrame({
        "f": np.linspace(0, 1, n), "i": np.arange(n), "b": np.arange(n) % 2 == 0, "u8": np.arange(n, dtype="uint8"),
        "s": pd.array(["a", None, "中文", "d", "e", "f", "g"], dtype="string"),
        "o": np.array(["x", None, "y", "z", "x", "y", "z"], dtype=object),
        "n": pd.array([1, None, 3, 4, 5, 6, 7], dtype="Int64"), "t": pd.date_range("2020-01-01", periods=n)},
        geometry=geoms, crs="+proj=aea +lat_1=21 +lat_2=23 +lat_0=22 +lon_0=115 +datum=WGS84 +units=m")
    table = pd.DataFrame({"key": ["a", "b"], "value": ["1", None]})
    odd = pd.DataFrame({"mixed": np.array([1, "a"], dtype=object), "big": np.array([1, 2], dtype="uint64")})
    layers = {"features": frame, "table": table, "odd": odd, "empty": frame.iloc[:0]}
    fields = {"features": {"f": ("F", "a number")}}
    assert cio._written_alike_through_arrow(frame) and not cio._written_alike_through_arrow(odd)
    monkeypatch.setattr(cio, "_ARROW_WRITES", False)
    cio.write_geopackage(tmp_path / "plain.gpkg", layers, fields=fields)
    monkeypatch.setattr(cio, "_ARROW_WRITES", True)
    cio.write_geopackage(tmp_path / "arrow.gpkg", layers, fields=fields)
    assert _tables(tmp_path / "arrow.gpkg") == _tables(tmp_path / "plain.gpkg")
