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
    for text in ("{} 碳储量".format("landcover_2015"), "生态源地（按 dPC 排序的核心区）", "逐栋建筑屋顶光伏潜力"):
        assert text in page or text.encode("unicode_escape").decode() in page or text in report, text
    assert "Ecological sources (core areas ranked by dPC)" not in page
