"""Tables for people: unit_summary.csv opens right in Excel (BOM, no float noise, years as years) and
unit_summary.xlsx has labelled headers in the run's language, a sheet per theme and the sources."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from carbonmap.readable import format_number
from carbonmap.tables import theme_columns, write_summary_csv, write_summary_xlsx


@pytest.fixture
def summary() -> pd.DataFrame:
    return pd.DataFrame({"unit_id": ["D01", "D02"], "unit_name": ["新吴西南", "Yunling"],
                         "area_km2": [22.95157694258233, 1.0], "source_co2_t_yr": [361941.20999999996, 0.1 + 0.2],
                         "sink_source_ratio": [2.287e-05, 1.5], "baseline_peak_year": [2030.0, np.nan],
                         "balance_class": ["carbon_deficit", "balanced"]})


def test_csv_has_a_bom_no_float_noise_and_whole_years(summary, tmp_path):
    write_summary_csv(tmp_path / "a.csv", summary)
    data = (tmp_path / "a.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbfunit_id,")  # Excel reads UTF-8 only with a BOM
    text = data.decode("utf-8-sig")
    assert "新吴西南" in text and "361941.21," in text and "0.3," in text and "2.287e-05" in text
    assert "99999" not in text and "2030.0" not in text and ",2030," in text
    back = pd.read_csv(tmp_path / "a.csv")
    assert list(back.columns) == list(summary.columns)  # machine names: scripts join on them
    assert back["baseline_peak_year"].dtype == float and back["baseline_peak_year"].isna().sum() == 1
    write_summary_csv(tmp_path / "b.csv", summary)
    assert (tmp_path / "b.csv").read_bytes() == data


@pytest.mark.parametrize("language", ["zh", "en"])
def test_xlsx_has_labelled_headers_a_sheet_per_theme_and_the_sources(summary, tmp_path, language):
    from openpyxl import load_workbook

    tables = {"coefficients_balance_classes": pd.DataFrame({"class": ["a"], "source": ["carbonmap default"]})}
    write_summary_xlsx(tmp_path / "a.xlsx", summary, language=language, tables=tables)
    book = load_workbook(tmp_path / "a.xlsx")
    names = book.sheetnames
    expected = {"zh": ["规划单元", "碳源", "情景", "字段说明", "系数来源"],
                "en": ["Planning units", "Carbon sources", "Scenarios", "Columns", "Coefficient sources"]}[language]
    assert names == expected
    sources = [[c.value for c in row] for row in book[names[1]].iter_rows()]
    header = " ".join(sources[0])
    assert ("碳源（碳排放总量）（吨CO₂/年）" in header and "碳汇碳源比" in header) if language == "zh" \
        else ("Carbon sources (t CO2/yr)" in header)
    assert not re.search(r"\b[a-z]+_[a-z_]+\b", header)  # no machine name in a header
    assert sources[1][2] == pytest.approx(361941.21)  # numbers stay numbers ...
    assert "E" not in book[names[1]].cell(row=2, column=4).number_format  # ... shown without scientific notation
    assert sources[1][-1] == ("碳赤字" if language == "zh" else "carbon deficit")
    assert book[names[2]].cell(row=2, column=3).value == 2030
    assert [c.value for c in book[names[-1]][2]][2] == "carbonmap default"
    write_summary_xlsx(tmp_path / "b.xlsx", summary, language=language, tables=tables)
    assert (tmp_path / "b.xlsx").read_bytes() == (tmp_path / "a.xlsx").read_bytes()  # deterministic


def test_theme_columns_keep_the_themes_order():
    assert list(theme_columns(["elevation_mean_m", "eco_np", "net_co2_t_yr"])) == ["sources", "ecology", "inputs"]


@pytest.mark.parametrize(("value", "year", "text"), [
    (2030.0, True, "2030"), (361941.20999999996, False, "361,941"), (2.287e-05, False, "0.0000229"),
    (-58260.1, False, "-58,260"), (0.1 + 0.2, False, "0.3"), (12.3456, False, "12.3"), (1e-15, False, "0"),
    (None, False, ""), ("text", False, "text"), (3, False, "3"), (12345, False, "12,345")])
def test_numbers_are_written_as_people_write_them(value, year, text):
    assert format_number(value, year=year) == text


def test_the_demo_tables(demo_run):
    from openpyxl import load_workbook

    data = (demo_run / "unit_summary.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    numbers = re.findall(rb"[-+]?\d+\.\d+(?:e[-+]\d+)?", data)
    assert numbers and max(len(n.split(b"e")[0].lstrip(b"-+0.").replace(b".", b"")) for n in numbers) <= 15
    summary = pd.read_csv(demo_run / "unit_summary.csv")
    assert summary["baseline_peak_year"].notna().all()
    assert re.search(rb",20[2-6][0-9],", data) and not re.search(rb",20[2-6][0-9]\.0,", data)
    book = load_workbook(demo_run / "unit_summary.xlsx")
    assert book.sheetnames[0] == "规划单元" and len(book.sheetnames) >= 9
