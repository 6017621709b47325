"""The column dictionary (carbonmap/data/columns.csv) against the columns runs write and the code
that computes them, so that the table, the docs and the code cannot drift apart silently."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pandas as pd
import pytest

from carbonmap.columns import UNITS, column_info, columns_table, markdown_table

REPO = Path(__file__).resolve().parents[1]
TABLE = columns_table()
PATTERNS = [re.compile(pattern) for pattern in TABLE["pattern"]]
#: A value for each placeholder of the readable forms, to build an example column of each pattern.
EXAMPLES = {"raster": "landcover_2023", "class": "forest", "stat": "mean", "unit": "m", "date": "landcover_2015",
            "resource": "wind", "zone": "suitable", "scenario": "top_ranked", "sector": "buildings",
            "indicator": "net_co2_t_yr", "q": "5"}


def matching_rows(name: str) -> list[str]:
    return [column for column, pattern in zip(TABLE["column"], PATTERNS) if pattern.fullmatch(name)]


def summary_columns(folder: Path) -> list[str]:
    return list(pd.read_csv(folder / "unit_summary.csv", nrows=0).columns)


@pytest.fixture(scope="module")
def olinda_run(tmp_path_factory) -> Path:
    """`carbonmap run` on the Olinda sample project (3 s)."""
    from click.testing import CliRunner

    from carbonmap.cli import main

    out = tmp_path_factory.mktemp("olinda")
    result = CliRunner().invoke(main, ["run", str(REPO / "sample_data" / "olinda" / "project.toml"),
                                       "--output", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return out


def test_every_column_of_the_demo_matches_exactly_one_row(demo_run):
    columns = summary_columns(demo_run)
    assert len(columns) > 100
    assert {name: matching_rows(name) for name in columns if len(matching_rows(name)) != 1} == {}


def test_every_column_of_olinda_matches_exactly_one_row(olinda_run):
    columns = summary_columns(olinda_run)
    assert "ndvi_nodata_count_cells" in columns
    assert {name: matching_rows(name) for name in columns if len(matching_rows(name)) != 1} == {}


def test_each_readable_form_matches_its_own_pattern_only():
    """A fixed name is its own pattern; a pattern's readable form, its placeholders filled, matches
    that row and no other."""
    for column in TABLE["column"]:
        example = re.sub(r"<(\w+)>", lambda m: EXAMPLES[m.group(1)], column)
        assert matching_rows(example) == [column], example
    fixed = TABLE[~TABLE["column"].str.contains("<")]
    assert (fixed["pattern"] == fixed["column"]).all()
    assert TABLE["column"].is_unique


def test_column_info_finds_rows_and_knows_unknown_columns():
    assert column_info("eco_mesh_ha")["function"] == "carbonmap.landscape.ecology.unit_metrics"
    assert column_info("restoration_top_ranked_sink_t_co2_yr")["column"] == "restoration_<scenario>_sink_t_co2_yr"
    assert column_info("stock_change_t_c")["column"] == "stock_change_t_c"
    assert column_info("no_such_column") is None


def _function(qualified: str):
    module, _, name = qualified.rpartition(".")
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("qualified", sorted(set(TABLE["function"])))
def test_every_function_exists(qualified):
    assert inspect.isfunction(_function(qualified))


@pytest.mark.parametrize("column, qualified", list(zip(TABLE["column"], TABLE["function"])))
def test_the_function_names_its_column_in_its_docstring(column, qualified):
    """The docstring mentions the column, or every fixed part of its pattern."""
    doc = inspect.getdoc(_function(qualified)) or ""
    fixed = [part.strip("_") for part in re.split(r"<\w+>", column) if part.strip("_")]
    assert column in doc or all(part in doc for part in fixed), f"{qualified} does not mention {column}"


def test_docs_page_is_generated_from_the_table():
    assert (REPO / "docs" / "columns.md").read_text(encoding="utf-8") == markdown_table(), \
        "regenerate it: python -m carbonmap.columns docs/columns.md"


def test_labels_units_and_stages():
    from carbonmap.pipeline import stage_names

    for field in ("label_en", "label_zh", "description"):
        assert (TABLE[field].str.strip() != "").all(), field
    assert TABLE["label_zh"].map(lambda text: bool(re.search(r"[\u4e00-\u9fff]", text))).all()
    assert set(TABLE["unit"]) <= set(UNITS), set(TABLE["unit"]) - set(UNITS)
    assert set(TABLE["stage"]) <= set(stage_names())
