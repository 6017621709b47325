"""The column dictionary: what each column of the per-unit summary (``unit_summary``) means.

``carbonmap/data/columns.csv`` has one row per summary column, or per *pattern* of columns
whose names are built from names in the project (``<raster>_<class>_area_ha``,
``<scenario>_peak_year``, ...):

===============  ==============================================================
``pattern``      a regular expression the whole column name matches
``column``       the readable form, with ``<placeholders>`` for the built parts
``label_en``     English label
``label_zh``     Chinese label (the planning term)
``unit``         one of :data:`UNITS`; ``<unit>``: the unit in the column's name
``description``  one sentence for a planner
``function``     the function that computes it (its docstring names the column)
``stage``        the run stage that publishes it
===============  ==============================================================

Maps, reports and GeoPackage field descriptions read labels from it. ``docs/columns.md`` is
generated from it: ``python -m carbonmap.columns docs/columns.md``.
"""

from __future__ import annotations

import functools
import re
import sys
from importlib.resources import files
from pathlib import Path

import pandas as pd

__all__ = ["UNITS", "columns_table", "column_info", "markdown_table"]

#: The units a column can have (``-``: a count, ratio, index, class or name).
UNITS = ("-", "%", "cells", "persons", "year", "ha", "km²", "km", "m/ha", "per 100 ha", "°C", "CNY", "CNY/yr", "10⁴ CNY",
         "10⁸ CNY", "t C", "t CO2", "t CO2/yr", "t CO2/person/yr", "t CO2/10⁴ CNY", "t CO2/km²/yr", "MW", "GWh/yr",
         "<unit>")


@functools.cache
def _table() -> pd.DataFrame:
    with files("carbonmap.data").joinpath("columns.csv").open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle, dtype=str, keep_default_na=False)


@functools.cache
def _patterns() -> tuple[re.Pattern, ...]:
    return tuple(re.compile(pattern) for pattern in _table()["pattern"])


def columns_table() -> pd.DataFrame:
    """The column dictionary, one row per column or pattern (a copy)."""
    return _table().copy()


def column_info(name: str) -> dict[str, str] | None:
    """The dictionary row of the first pattern the whole of `name` matches, or None.

    Examples
    --------
    >>> column_info("net_co2_t_yr")["label_zh"]
    '净碳排放'
    >>> column_info("landcover_2023_forest_area_ha")["column"]
    '<raster>_<class>_area_ha'
    >>> column_info("no_such_column") is None
    True
    """
    row = _row_of(name)
    return None if row is None else dict(_rows()[row])


@functools.cache
def _rows() -> tuple[dict[str, str], ...]:
    return tuple(row._asdict() for row in _table().itertuples(index=False))


@functools.lru_cache(maxsize=4096)
def _row_of(name: str) -> int | None:
    """Index of the first dictionary row whose pattern the whole of `name` matches (a map, a report
    and a GeoPackage ask for the same few hundred columns thousands of times)."""
    return next((i for i, pattern in enumerate(_patterns()) if pattern.fullmatch(name)), None)


def markdown_table() -> str:
    """The text of ``docs/columns.md``: the dictionary as a Markdown table."""
    header = ["column", "label", "中文", "unit", "description", "computed by", "stage"]
    lines = ["# Columns of the unit summary", "",
             "Every column of `unit_summary` (in `unit_summary.csv` and `onemap.gpkg`), with the function",
             "that computes it. Names in `<angle brackets>` are filled from the project (a raster's",
             "name, a land-cover class, a scenario, ...).", "",
             "Generated from `carbonmap/data/columns.csv` by `python -m carbonmap.columns docs/columns.md`;",
             "edit the table, not this page.", "",
             "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for row in _table().itertuples(index=False):
        cells = [f"`{row.column}`", row.label_en, row.label_zh, row.unit, row.description, f"`{row.function}`",
                 row.stage]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(markdown_table(), encoding="utf-8")
    else:
        sys.stdout.write(markdown_table())
