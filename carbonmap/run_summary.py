"""What the end of a run says, in the run's language: the citywide key figures (sources, sinks, net
emissions, the peak year of the first scenario), the early warnings of the comparison with earlier
runs, the warnings the run accepted, and where the
outputs are.

Example (the demo, in English)::

    Citywide:
      Carbon sources: 16,000,000 t CO2/yr
      Carbon sinks: 266,906 t CO2/yr
      Net emissions: 15,733,094 t CO2/yr
      Carbon peak (baseline): 2030
    Monitoring (2015, 2023): 46 early warning(s), 7 of them alerts (in a unit also off track on a target); in report.html
    Outputs in /home/me/out/demo:
      report.html: the report (open in a browser; prints on A4)
      ...
      17 run notes in report.html and run.log
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from carbonmap.readable import column_label, column_unit, format_number, translate
from carbonmap.words import words

__all__ = ["KEY_FIGURES", "run_summary"]

#: Citywide amounts said at the end of a run, when the run has them.
KEY_FIGURES = ("source_co2_t_yr", "sink_co2_t_yr", "net_co2_t_yr", "renewable_electricity_gwh_yr")


def _figures(summary: pd.DataFrame | None, language: str) -> list[str]:
    """`name: total unit` for each of :data:`KEY_FIGURES` the run computed."""
    if summary is None:
        return []
    lines, colon = [], "：" if language == "zh" else ": "
    for column in (c for c in KEY_FIGURES if c in summary.columns):
        total = pd.to_numeric(summary[column], errors="coerce").sum()
        unit = column_unit(column, language)
        lines.append(f"{column_label(column, language, unit=False)}{colon}{format_number(total)}"
                     + (f" {unit}" if unit else ""))
    return lines


def _peak(tables: dict[str, pd.DataFrame], language: str) -> str | None:
    """The citywide peak year of the first scenario (``scenario_milestones``), or None."""
    milestones = tables.get("scenario_milestones")
    if milestones is None or "unit_id" not in milestones:
        return None
    city = milestones[milestones["unit_id"].astype(str) == "city"]
    if city.empty:
        return None
    row = city.iloc[0]
    if pd.isna(row.get("peak_year")) or not bool(row.get("peaked", True)):
        timeline = tables.get("scenario_timeline")
        last = int(timeline["year"].max()) if timeline is not None and "year" in timeline else ""
        return words("summary.no_peak", scenario=translate(row["scenario"], language), year=last).in_(language)
    return words("summary.peak", scenario=translate(row["scenario"], language), year=int(row["peak_year"])).in_(language)


def _monitoring(tables: dict[str, pd.DataFrame], language: str) -> str | None:
    """How many early warnings the comparison with earlier runs gave ([monitoring]), or None."""
    warnings, indicators = tables.get("monitoring_warnings"), tables.get("monitoring_indicators")
    if warnings is None or indicators is None:
        return None
    years = ("、" if language == "zh" else ", ").join(str(int(y)) for y in sorted(indicators["year"].unique()))
    return words("summary.monitoring", years=years, n=len(warnings),
                 alerts=int((warnings["level"] == "alert").sum())).in_(language)


def _outputs(folder: Path, language: str) -> list[str]:
    """One line per product the run wrote into `folder`."""
    products = (("report.html", "summary.report"), ("onemap.html", "summary.map"), ("onemap.gpkg", "summary.gpkg"),
                ("unit_summary.xlsx", "summary.tables"))
    return [words(key).in_(language) for name, key in products if (folder / name).exists()]


def run_summary(published, folder: Path, *, language: str, repeat_warnings: bool = True) -> str:
    """The text said at the end of a run (module docstring).

    Parameters
    ----------
    published : :class:`carbonmap.stage.Publication`, everything the run published
    folder : the output folder
    language : 'zh' or 'en'
    repeat_warnings : list the run's warnings in full; otherwise (they were printed just above, as
        the runner does) point at them
    """
    lines = []
    figures = _figures(published.summary, language)
    peak = _peak(published.tables, language)
    if figures or peak:
        lines.append(words("summary.citywide").in_(language))
        lines += [f"  {line}" for line in figures + ([peak] if peak else [])]
    monitoring = _monitoring(published.tables, language)
    if monitoring:
        lines.append(monitoring)
    if published.warnings:
        lines.append(words("summary.attention").in_(language))
        lines += [f"  - {text}" for text in published.warnings] if repeat_warnings else \
            ["  " + words("summary.warnings_above", n=len(published.warnings)).in_(language)]
    lines.append(words("summary.outputs", folder=folder).in_(language))
    lines += [f"  {line}" for line in _outputs(Path(folder), language)]
    if published.notes:
        lines.append("  " + words("summary.notes", n=len(published.notes)).in_(language))
    return "\n".join(lines)
