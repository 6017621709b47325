"""The per-unit summary as tables for people: ``unit_summary.csv`` and ``unit_summary.xlsx``.

``unit_summary.csv`` is for scripts and spreadsheets alike: the machine column names as its
header (scripts join on them), UTF-8 with a byte-order mark (so that Excel on a Chinese Windows
reads ``新吴西南`` as written), numbers to 15 significant digits (``%.15g``: ``361941.21``, not the
float noise ``361941.20999999996``), years as whole numbers (``2030``, not ``2030.0``; empty where
there is none).

``unit_summary.xlsx`` is for reading: one sheet per theme (planning units, sources, sinks,
ecology, renewables, screening, scenarios, the input rasters), headers labelled in the run's
language with their units (:func:`carbonmap.readable.column_label`), numbers kept as numbers with
a display format (separators, no scientific notation), a sheet describing every column, and one
with the sources of every coefficient table the run used. Both files are deterministic: the same
run gives the same bytes.
"""

from __future__ import annotations

import io
import math
import re
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from carbonmap.io import atomic_path, write_csv
from carbonmap.readable import (column_description, column_label, is_year_column, rule_translations, table_title,
                                translate)
from carbonmap.words import group_label, words

__all__ = ["THEME_COLUMNS", "theme_columns", "csv_frame", "write_summary_csv", "write_summary_xlsx"]

#: Summary columns by theme: prefixes or suffixes of their names, or patterns of whole names (the first
#: theme that matches a column takes it).
THEME_COLUMNS = {
    "units": ("unit_name", "area_km2", "population", "gdp_"),
    "sources": ("source_", "builtup_", "efficiency_", "net_co2", "balance_", "co2_t_per_", "sink_source_",
                "compensation_", "economic_contribution_coef", "ecological_carrying_coef",  # the balance's compensation
                re.compile(r"p_\w+_pct"), "net_top_coefficient"),  # the balance's uncertainty
    "sinks": ("sink_", "stock_", "blue_carbon_"),
    "ecology": ("eco_", "shdi"),
    "renewables": ("rooftop_pv", "ground_pv", "wind", "gshp", "heating", "deep_geothermal", "renewable_"),
    "screening": ("pv_package_", "afforestation_", "restoration_"),
    "scenarios": ("_peak_year", "_net_zero_year", "targets_", "monitoring_", "trend_"),
}
#: Float format of the CSV: 15 significant digits, enough for every measured quantity, none of the noise.
CSV_FLOAT_FORMAT = "%.15g"
#: The time stamp of every entry of the xlsx file (a fixed one keeps the bytes deterministic).
_ZIP_TIME = (2000, 1, 1, 0, 0, 0)


def theme_columns(columns: Iterable[str]) -> dict[str, list[str]]:
    """The summary's columns by theme (:data:`THEME_COLUMNS`); the rest (input rasters) under 'inputs'.

    Examples
    --------
    >>> theme_columns(["unit_id", "area_km2", "net_co2_t_yr", "eco_np", "elevation_mean_m", "compensation_rate"])
    {'units': ['area_km2'], 'sources': ['net_co2_t_yr', 'compensation_rate'], 'ecology': ['eco_np'], 'inputs': ['elevation_mean_m']}
    """
    out: dict[str, list[str]] = {}
    for column in columns:
        if column in ("unit_id", "geometry"):
            continue
        theme = next((name for name, patterns in THEME_COLUMNS.items()
                      if any(_matches(column, p) for p in patterns)), "inputs")
        out.setdefault(theme, []).append(column)
    return {theme: out[theme] for theme in (*THEME_COLUMNS, "inputs") if theme in out}


def _matches(column: str, pattern: str | re.Pattern) -> bool:
    """Whether `column` starts or ends with `pattern`, or is all of it (a compiled pattern)."""
    if isinstance(pattern, re.Pattern):
        return pattern.fullmatch(column) is not None
    return column.startswith(pattern) or column.endswith(pattern)


def csv_frame(summary: pd.DataFrame) -> pd.DataFrame:
    """The summary as written to CSV: without geometry, years as nullable whole numbers (Int64)."""
    frame = pd.DataFrame(summary.drop(columns="geometry", errors="ignore")).copy()
    for column in frame.columns:
        if is_year_column(column) and pd.api.types.is_numeric_dtype(frame[column]):
            frame[column] = frame[column].round().astype("Int64")
    return frame


def write_summary_csv(path: str | Path, summary: pd.DataFrame) -> Path:
    """Write ``unit_summary.csv`` (module docstring: BOM, ``%.15g``, years as integers)."""
    return write_csv(path, csv_frame(summary), encoding="utf-8-sig", float_format=CSV_FLOAT_FORMAT)


# --------------------------------------------------------------------------- xlsx


def _number_format(values: pd.Series, year: bool) -> str:
    """An Excel display format for a numeric column: separators, and decimals for 3 significant
    digits of its typical value (never scientific notation)."""
    if year:
        return "0"
    numbers = pd.to_numeric(values, errors="coerce").abs()
    numbers = numbers[np.isfinite(numbers) & (numbers > 0)]
    if numbers.empty:
        return "#,##0"
    typical = float(numbers.median())
    decimals = min(8, max(0, 2 - math.floor(math.log10(typical))))
    return "#,##0" + ("." + "0" * decimals if decimals else "")


def _cell(value):
    """A value as openpyxl writes it: numbers as numbers, missing as empty, the rest as text."""
    if value is None or value is pd.NA or (isinstance(value, (float, np.floating)) and not np.isfinite(value)):
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value)
    return str(value)


def _sheet_name(text: str, taken: set[str]) -> str:
    """An Excel sheet name (at most 31 characters, none of []:*?/\\), unique in the workbook."""
    name = "".join(" " if c in "[]:*?/\\" else c for c in text)[:31].strip() or "sheet"
    base, i = name, 2
    while name in taken:
        name = f"{base[:28]} {i}"
        i += 1
    taken.add(name)
    return name


def _write_sheet(sheet, frame: pd.DataFrame, headers: Sequence[str], formats: Mapping[str, str]) -> None:
    """Write `frame` under `headers` (bold, wrapped, frozen), with a display format per column."""
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    sheet.append(list(headers))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for row in frame.itertuples(index=False):
        sheet.append([_cell(v) for v in row])
    for i, column in enumerate(frame.columns, start=1):
        letter = get_column_letter(i)
        fmt = formats.get(column)
        if fmt:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=i, max_col=i):
                cell.number_format = fmt
        width = max([len(str(headers[i - 1])) / 2 + 2, 10] + [len(str(v)) + 2 for v in frame[column].head(50)])
        sheet.column_dimensions[letter].width = min(40, width)
    sheet.freeze_panes = "C2" if frame.shape[1] > 2 else "A2"


def _labelled(frame: pd.DataFrame, language: str, labels: Mapping, extra: Mapping[str, str]
              ) -> tuple[pd.DataFrame, list[str], dict[str, str]]:
    """`frame` with class names translated (with the run's own, `extra`), its headers labelled, and the
    display format of each number column."""
    shown = frame.copy()
    formats = {}
    for column in shown.columns:
        if pd.api.types.is_numeric_dtype(shown[column]) and not pd.api.types.is_bool_dtype(shown[column]):
            formats[column] = _number_format(shown[column], is_year_column(column))
        elif column not in ("unit_id", "unit_name"):
            shown[column] = [translate(v, language, extra=extra) if isinstance(v, str) else v for v in shown[column]]
    headers = [column_label(c, language, **labels) for c in shown.columns]
    return shown, headers, formats


def _columns_sheet(columns: Sequence[str], language: str, labels: Mapping) -> pd.DataFrame:
    """What each column is: machine name, label, description."""
    return pd.DataFrame({"column": list(columns),
                         "label": [column_label(c, language, **labels) for c in columns],
                         "description": [column_description(c, language, **labels) for c in columns]})


def _sources_sheet(tables: Mapping[str, pd.DataFrame], language: str) -> pd.DataFrame:
    """Each coefficient or rule table of the run with the distinct sources of its rows."""
    rows = []
    for name, table in tables.items():
        if not name.startswith("coefficients_") or "source" not in table:
            continue
        for source in sorted({str(s).strip() for s in table["source"] if str(s).strip()}):
            rows.append({"table": name, "title": table_title(name, language), "source": source})
    return pd.DataFrame(rows, columns=["table", "title", "source"])


def write_summary_xlsx(path: str | Path, summary: pd.DataFrame, *, language: str,
                       tables: Mapping[str, pd.DataFrame] | None = None, rasters: Sequence[str] = (),
                       titles: Mapping[str, str] | None = None) -> Path:
    """Write ``unit_summary.xlsx``: a sheet per theme with labelled headers, the columns, the sources.

    Parameters
    ----------
    summary : the per-unit summary (geometry dropped)
    language : 'zh' or 'en'
    tables : the run's tables (``coefficients_*`` give the sources sheet)
    rasters, titles : the run's raster names and layer titles, for the labels of raster columns
    """
    from openpyxl import Workbook

    frame = csv_frame(summary)
    labels = {"rasters": tuple(rasters), "titles": dict(titles or {})}
    keys = [c for c in ("unit_id", "unit_name") if c in frame.columns]
    extra = rule_translations(tables or {})
    book = Workbook()
    book.remove(book.active)
    taken: set[str] = set()
    for theme, columns in theme_columns(frame.columns).items():
        part = frame[keys + [c for c in columns if c not in keys]]
        shown, headers, formats = _labelled(part, language, labels, extra)
        _write_sheet(book.create_sheet(_sheet_name(group_label(theme, language), taken)), shown, headers, formats)
    columns = _columns_sheet(list(frame.columns), language, labels)
    sources = _sources_sheet(tables or {}, language)
    for key, table in (("sheet.columns", columns), ("sheet.coefficients", sources)):
        headers = [words(f"sheet.{c}").in_(language) for c in table.columns]
        _write_sheet(book.create_sheet(_sheet_name(words(key).in_(language), taken)), table, headers, {})
    book.properties.creator = "carbonmap"
    book.properties.created = book.properties.modified = pd.Timestamp("2000-01-01").to_pydatetime()
    buffer = io.BytesIO()
    book.save(buffer)
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(_fixed_times(buffer.getvalue()))
    return Path(path)


def _fixed_times(data: bytes) -> bytes:
    """The zip archive `data` with every entry's time, and the workbook's modification time (openpyxl sets
    it when saving), set to :data:`_ZIP_TIME` (same run, same bytes)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            info = zipfile.ZipInfo(item.filename, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = item.external_attr
            content = source.read(item.filename)
            if item.filename == "docProps/core.xml":
                content = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                                 rb"\g<1>2000-01-01T00:00:00Z\g<2>", content)
            target.writestr(info, content)
    return out.getvalue()
