"""``monitoring.html``: the comparison of runs for readers, in the runs' language.

Small multiples (one small SVG chart per indicator: each unit's values in the runs' years, the
units with a warning on it drawn in red), the list of warnings, the per-unit trends and the
thresholds with their sources. Figures and tables are drawn as ``report.html`` draws them
(:mod:`carbonmap.report`).
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from carbonmap.io import atomic_path
from carbonmap.readable import column_label, format_number, per_year_unit, translate
from carbonmap.report import _STYLE, _figure_html, _figure_style, _table_html
from carbonmap.words import text_in, words

__all__ = ["write_monitoring_page", "indicator_chart", "indicator_charts", "warnings_html", "monitoring_section"]


def _w(key: str, language: str, **fields) -> str:
    return words(key, **fields).in_(language)


#: Height of a line-end label [pt] (6 pt text and its leading): labels closer than this are spread apart.
LABEL_SPACING_PT = 7.0


def spread_labels(values, gap: float) -> list[float]:
    """Label positions [the values' unit] for ascending `values` [the chart's unit], each at least `gap`
    above the one below and as close to its own value as that allows: a run of crowded labels is
    centred on its values' mean (blocks merged from the bottom up, as the pool-adjacent-violators
    algorithm merges them).

    >>> spread_labels([0.0, 0.1, 0.2, 5.0], gap=1.0)
    [-0.9, 0.1, 1.1, 5.0]
    """
    blocks: list[list[float]] = []  # [sum of values, count]: each block's labels sit gap apart
    for value in values:
        blocks.append([value, 1])
        while len(blocks) > 1:
            (s1, n1), (s2, n2) = blocks[-2], blocks[-1]
            bottom1 = s1 / n1 - gap * (n1 - 1) / 2
            bottom2 = s2 / n2 - gap * (n2 - 1) / 2
            if bottom2 >= bottom1 + gap * n1:
                break
            blocks[-2:] = [[s1 + s2, n1 + n2]]
    positions = []
    for total, count in blocks:
        bottom = total / count - gap * (count - 1) / 2
        positions.extend(round(bottom + gap * k, 12) for k in range(count))
    return positions


def indicator_chart(table: pd.DataFrame, indicator: str, warned: set[str], language: str, *,
                    names: Mapping[str, str] | None = None) -> str:
    """One small multiple: `indicator` of every unit across the years, the `warned` units in red and
    labelled by their `names` (their ids where they have none)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    part = table[table["indicator"] == indicator]
    fig, ax = plt.subplots(figsize=(3.2, 2.4))
    ends = []  # (last value, unit, its last year) of the warned units, labelled at the lines' ends
    for unit, rows in part.groupby("unit_id", sort=True):
        red = unit in warned
        ax.plot(rows["year"], rows["value"], color="#d73027" if red else "#9e9e9e", linewidth=1.6 if red else 0.8,
                marker="o", markersize=2.5, zorder=3 if red else 2)
        if red:
            ends.append((float(rows["value"].iloc[-1]), (names or {}).get(str(unit)) or str(unit), rows["year"].iloc[-1]))
    if ends:
        low, high = ax.get_ylim()
        height_pt = ax.get_position().height * fig.get_figheight() * 72
        gap = (high - low) * LABEL_SPACING_PT / height_pt  # one label's height, in the values' unit
        ends.sort()
        for (value, unit, year), at in zip(ends, spread_labels([value for value, *_ in ends], gap)):
            ax.annotate(unit, (year, value), xytext=(3, (at - value) / gap * LABEL_SPACING_PT),
                        textcoords="offset points", fontsize=6, color="#d73027", va="center", annotation_clip=False)
    years = sorted(part["year"].unique())
    ax.set_xticks(years)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: format_number(v, year=True)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_number(v)))
    ax.tick_params(labelsize=6.5)
    title = column_label(indicator, language)
    ax.set_title(title, fontsize=7.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return _figure_html(fig, title)


def indicator_charts(table: pd.DataFrame, warnings: pd.DataFrame, language: str, *,
                     names: Mapping[str, str] | None = None) -> str:
    """The small multiples: one :func:`indicator_chart` per indicator of `table` (units by their `names`),
    with a note on how to read them."""
    with _figure_style(language):
        charts = [indicator_chart(table, name, set(warnings.loc[warnings["indicator"] == name, "unit_id"]), language,
                                  names=names) for name in dict.fromkeys(table["indicator"])]
    about = f"<p class='note'>{html.escape(_w('monitoring.charts_about', language))}</p>"
    return about + "<div class='maps'>" + "".join(charts) + "</div>"


def warnings_html(warnings: pd.DataFrame, language: str, *, names: Mapping[str, str] | None = None) -> str:
    """The early warnings as a list of sentences (alerts first); units by their `names` where given."""
    if warnings.empty:
        return f"<p>{html.escape(_w('monitoring.no_warnings', language))}</p>"
    names = names or {}
    items = []
    for row in warnings.itertuples():
        unit = f"{names[row.unit_id]} ({row.unit_id})" if names.get(row.unit_id) else row.unit_id
        per = _w("monitoring.per_relative", language) if row.change == "relative" else \
            per_year_unit(row.indicator, language)  # '' in Chinese for an indicator without a unit
        text = _w(f"monitoring.{row.level}", language, unit=unit, indicator=column_label(
            row.indicator, language, unit=False), worse=translate(row.worse, language),
            rate=format_number(row.rate_per_yr), threshold=format_number(row.max_change_per_yr),
            per=f" {per}" if per else "", targets=", ".join(
                translate(t, language) for t in row.off_track_targets.split(", ") if t))
        items.append(f"<li class='{html.escape(row.level)}'>{html.escape(text)}</li>")
    return "<ul class='warnings'>" + "".join(items) + "</ul>"


def monitoring_section(indicators: pd.DataFrame, warnings: pd.DataFrame, language: str, *,
                       names: Mapping[str, str] | None = None) -> str:
    """``report.html``'s monitoring section: the early warnings, then the small multiples."""
    return (f"<h3>{html.escape(_w('monitoring.warnings', language))}</h3>"
            + warnings_html(warnings, language, names=names)
            + f"<h3>{html.escape(_w('monitoring.indicators', language))}</h3>"
            + indicator_charts(indicators, warnings, language, names=names))


def _names_of(units) -> dict[str, str]:
    if units is None or "unit_name" not in getattr(units, "columns", ()):
        return {}
    return {str(i): str(n) for i, n in zip(units["unit_id"], units["unit_name"]) if isinstance(n, str) and n}


def write_monitoring_page(comparison, path: str | Path, *, units=None) -> Path:
    """Write ``monitoring.html`` for a :class:`carbonmap.themes.monitoring.Comparison`; `units`
    (unit_id, unit_name) names the units in the warnings."""
    language = comparison.language
    table, warnings = comparison.indicators, comparison.warnings
    names = _names_of(units)
    sections = [("warnings", _w("monitoring.warnings", language), warnings_html(warnings, language, names=names)),
                ("indicators", _w("monitoring.indicators", language),
                 indicator_charts(table, warnings, language, names=names))]
    per_unit = comparison.per_unit.rename_axis("unit_id").reset_index()
    if names:  # the units by name, their ids beside
        per_unit.insert(0, "unit_name", per_unit["unit_id"].astype(str).map(names).fillna(""))
    sections.append(("trends", _w("monitoring.trends", language), _table_html(per_unit, language)))
    thresholds = comparison.thresholds.reset_index()[["indicator", "worse", "change", "max_change_per_yr", "source"]]
    sections.append(("thresholds", _w("monitoring.thresholds", language), _table_html(thresholds, language)))
    sections.append(("notes", _w("report.notes", language),
                     "<ul>" + "".join(f"<li>{html.escape(text_in(n, language))}</li>" for n in comparison.notes)
                     + "</ul>"))
    years = "、".join(str(r.year) for r in comparison.runs) if language == "zh" else \
        ", ".join(str(r.year) for r in comparison.runs)
    heading = _w("monitoring.title", language, years=years)
    toc = "".join(f"<li><a href='#{a}'>{html.escape(t)}</a></li>" for a, t, _ in sections)
    body = "".join(f"<section id='{a}'><h2>{html.escape(t)}</h2>{b}</section>" for a, t, b in sections)
    page = (f"<!DOCTYPE html><html lang='{'zh-CN' if language == 'zh' else 'en'}'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{html.escape(heading)}"
            f"</title><style>{_STYLE}</style></head><body><h1>{html.escape(heading)}</h1>"
            f"<nav class='toc'><h2>{html.escape(_w('report.contents', language))}</h2><ol>{toc}</ol></nav>"
            f"{body}</body></html>")
    with atomic_path(path) as tmp:
        Path(tmp).write_text(page, encoding="utf-8")
    return Path(path)
