"""Monitoring: complete runs of several years compared unit by unit (``carbonmap compare``).

``prepare_monitoring`` reads the runs (:func:`carbonmap.runs.read_run`: a missing or incomplete
run is refused) and the thresholds; ``compare_runs`` computes the indicator table, trends and
early warnings (:mod:`carbonmap.monitoring`); ``write_monitoring`` writes them as one output set
(staging folder, swap, ``run.json``: :mod:`carbonmap.outputset`):

- ``monitoring.gpkg``: layer ``monitoring_units`` (the latest run's units with their trend
  columns and warning counts) and the tables ``monitoring_indicators``, ``monitoring_trends``,
  ``monitoring_warnings``, ``coefficients_monitoring_thresholds``;
- ``monitoring_indicators.csv``, ``monitoring_trends.csv``, ``monitoring_warnings.csv``;
- ``monitoring.xlsx`` (the per-unit trends, labelled: :func:`carbonmap.tables.write_summary_xlsx`);
- ``monitoring.html`` (small multiples per indicator, the warnings, the notes), in the runs' language.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd

from carbonmap.coefficients import monitoring_thresholds, recording_tables
from carbonmap.errors import ConfigError, InputError
from carbonmap.io import write_csv, write_geopackage
from carbonmap.monitoring import early_warnings, indicator_table, trend_columns, trends
from carbonmap.outputset import output_set
from carbonmap.runs import GPKG, FinishedRun, read_run
from carbonmap.stage import Layer, Stage
from carbonmap.words import Text, listed, text_in, words

__all__ = ["Comparison", "prepare_monitoring", "compare_runs", "write_monitoring", "MONITORING"]


@dataclass
class Comparison:
    """What ``carbonmap compare`` writes."""

    runs: list[FinishedRun]
    indicators: pd.DataFrame
    trends: pd.DataFrame
    warnings: pd.DataFrame
    per_unit: pd.DataFrame
    thresholds: pd.DataFrame
    language: str
    notes: list[Text] = field(default_factory=list)


def prepare_monitoring(folders: list[Path | None], *, years: list[int] | None = None,
                       thresholds: Path | None = None, current: bool = False) -> tuple[list[FinishedRun], pd.DataFrame]:
    """The complete runs in `folders`, in time order, and the warning thresholds.

    `years` (one per folder) overrides the year each run records; a None folder (with `current`)
    stands for the run being made (the [monitoring] stage), which is not read. Raises
    :class:`InputError` for fewer than two runs, a run without a year, or two runs of the same year.
    """
    if current:
        folders = [f for f in folders if f is not None]
    if len(folders) < (1 if current else 2):
        raise InputError("compare needs at least two runs.", key="RUNS",
                         fix="give the output folders of two or more complete runs, earliest first.")
    if years is not None and len(years) != len(folders):
        raise InputError(f"{len(years)} years for {len(folders)} runs.", key="--year",
                         fix="give one --year per run, in the order of the folders.")
    seen: dict[Path, int] = {}
    for i, folder in enumerate(folders):
        if Path(folder).resolve() in seen:
            raise InputError(f"the same run is given twice (runs {seen[Path(folder).resolve()] + 1} and {i + 1}).",
                             path=Path(folder).resolve(), key="RUNS", fix="give each run's folder once.")
        seen[Path(folder).resolve()] = i
    runs = [read_run(f, year=None if years is None else years[i]) for i, f in enumerate(folders)]
    for run in runs:
        if run.year is None:
            raise InputError("the run records no year.", path=run.folder,
                             fix="add year = ... to [project] of its project file and run it again, or give "
                                 "--year for each run.")
    _check_years(runs)
    with recording_tables():
        table = monitoring_thresholds(thresholds)
    return sorted(runs, key=lambda r: r.year), table


def compare_runs(runs: list[FinishedRun], thresholds: pd.DataFrame, *,
                 targets_status: pd.DataFrame | None = None) -> Comparison:
    """Indicators, trends and warnings of `runs` (earliest first); the targets are the latest
    run's ``targets_status`` unless given."""
    table, missing = indicator_table({run.year: run.summary for run in runs})
    trend = trends(table)
    if targets_status is None:
        targets_status = runs[-1].table("targets_status")
    warnings = early_warnings(trend, thresholds, targets_status=targets_status)
    notes = _notes(runs, missing, targets_status)
    return Comparison(runs, table, trend, warnings, trend_columns(trend, warnings), thresholds,
                      runs[-1].language, notes)


def _notes(runs: list[FinishedRun], missing: dict, targets_status) -> list[Text]:
    """What a reader must know about the comparison: units or indicators left out, other grids."""
    from carbonmap.readable import column_label

    compared = [words("note.run_year", year=r.year, folder=r.folder) for r in runs]
    notes = [words("note.runs_compared", runs=listed(compared))]
    if missing["units"]:
        notes.append(words("note.units_left_out", units=", ".join(missing["units"])))
    if missing["indicators"]:
        labels = [Text(column_label(name, "en", unit=False), column_label(name, "zh", unit=False))
                  for name in missing["indicators"]]
        notes.append(words("note.indicators_left_out", indicators=listed(labels)))
    for part in ("grid", "units", "code systems"):
        hashes = {r.manifest.get("comparison_sha256", {}).get(part) for r in runs}
        if len(hashes) > 1:
            notes.append(words("note.runs_differ", part=words(f"note.part.{part}")))
    if targets_status is None:
        notes.append(words("note.no_targets"))
    return notes


def _units_layer(comparison: Comparison) -> gpd.GeoDataFrame | None:
    """The latest run's units (geometry of its GeoPackage) with the trend columns."""
    latest = comparison.runs[-1]
    path = latest.folder / GPKG
    if not path.exists():
        return None
    import pyogrio

    units = pyogrio.read_dataframe(path, layer="unit_summary", columns=["unit_id", "unit_name"])
    units["unit_id"] = units["unit_id"].astype(str)
    frame = units.merge(comparison.per_unit, left_on="unit_id", right_index=True, how="inner")
    return gpd.GeoDataFrame(frame, geometry="geometry", crs=units.crs)


def _fields(layers: dict, language: str) -> dict:
    """What every column of the GeoPackage means (QGIS aliases and comments), from the column dictionary."""
    from carbonmap.readable import column_description, column_label

    return {name: {c: (column_label(c, language), column_description(c, language)) for c in frame.columns
                   if c not in ("geometry", "geom")} for name, frame in layers.items()}


def _check_not_a_run(folder: Path) -> None:
    """Refuse to write the comparison over a project's run (its set would be replaced)."""
    import json

    from carbonmap.errors import OutputError
    from carbonmap.outputset import MANIFEST

    manifest = folder / MANIFEST
    if not manifest.exists():
        return
    try:
        kind = json.loads(manifest.read_text(encoding="utf-8")).get("kind")
    except (OSError, ValueError, AttributeError):
        kind = None
    if kind != "monitoring":
        raise OutputError("this folder holds a carbonmap run; the comparison would replace it.", path=folder,
                          fix="write the comparison to a folder of its own (-o out/monitoring).")


def write_monitoring(comparison: Comparison, folder: Path) -> dict:
    """Write the comparison into `folder` as one output set (module docstring); returns the manifest."""
    from carbonmap.monitoring_report import write_monitoring_page
    from carbonmap.tables import write_summary_xlsx

    _check_not_a_run(Path(folder))
    tables = {"monitoring_indicators": comparison.indicators, "monitoring_trends": comparison.trends,
              "monitoring_warnings": comparison.warnings,
              "coefficients_monitoring_thresholds": comparison.thresholds.reset_index()}
    with output_set(folder) as outputs:
        staging = outputs.staging
        layer = _units_layer(comparison)
        layers = {"monitoring_units": layer} if layer is not None else {}
        write_geopackage(staging / "monitoring.gpkg", {**layers, **tables},
                         fields=_fields({**layers, **tables}, comparison.language))
        for name in ("monitoring_indicators", "monitoring_trends", "monitoring_warnings"):
            write_csv(staging / f"{name}.csv", tables[name], encoding="utf-8-sig", float_format="%.15g")
        per_unit = comparison.per_unit.rename_axis("unit_id").reset_index()
        write_summary_xlsx(staging / "monitoring.xlsx", per_unit, language=comparison.language,
                           tables={"coefficients_monitoring_thresholds": tables["coefficients_monitoring_thresholds"]})
        write_monitoring_page(comparison, staging / "monitoring.html", units=layer)
        return outputs.commit({"kind": "monitoring", "language": comparison.language,
                               "runs": [{"folder": str(r.folder), "year": r.year,
                                         "finished_utc": r.manifest.get("finished_utc")} for r in comparison.runs],
                               "warnings": len(comparison.warnings),
                               "notes": [text_in(note, comparison.language) for note in comparison.notes]})


def run_monitoring(ctx) -> None:
    """[monitoring]: this run against the earlier complete runs it names: per-unit trend columns and
    warning counts, the tables, a map of units by their warnings."""
    from carbonmap.pipeline import run_year
    from carbonmap.state import comparison_hashes

    project, units = ctx.project, ctx.result("units")
    year = run_year(project)
    if year is None:
        raise ConfigError("[monitoring] needs the year of this run.", path=project.path, key="project.year",
                          fix="add year = ... (the year of the inputs) to [project].")
    earlier, thresholds = prepare_monitoring(list(project.monitoring.runs) + [None],
                                             thresholds=project.monitoring.thresholds, current=True)
    for run in earlier:
        ctx.record_input(run.folder / "run.json", f"earlier run of {run.year}")
    summary = ctx.published.summary.copy()
    summary.index = summary.index.astype(str)
    # named by the folder the run's outputs go to (its staging folder becomes it); its tables are given
    current = FinishedRun(project.output_dir, {"comparison_sha256": comparison_hashes(project)}, summary, year,
                          project.outputs.language, {"targets_status": ctx.published.tables.get("targets_status")})
    runs = sorted(earlier + [current], key=lambda r: r.year)
    _check_years(runs)
    comparison = compare_runs(runs, thresholds, targets_status=ctx.published.tables.get("targets_status"))
    ctx.add_table("monitoring_indicators", comparison.indicators)
    ctx.add_table("monitoring_trends", comparison.trends)
    ctx.add_table("monitoring_warnings", comparison.warnings)
    ctx.add_table("coefficients_monitoring_thresholds", thresholds.reset_index())
    per_unit = comparison.per_unit.reindex(units.ids.astype(str))
    per_unit[["monitoring_warnings", "monitoring_alerts"]] = per_unit[["monitoring_warnings", "monitoring_alerts"]] \
        .fillna(0).astype(int)
    ctx.add_summary(per_unit.set_axis(units.ids))
    named = ["unit_name"] if "unit_name" in units.frame.columns else []  # the one map names them in its language
    frame = gpd.GeoDataFrame(units.frame[named].join(per_unit[["monitoring_warnings", "monitoring_alerts"]]
                                                     .set_axis(units.frame.index)),
                             geometry=units.frame.geometry, crs=units.frame.crs)
    ctx.add_layer(Layer(name="monitoring_units", title=words("layer.monitoring_warnings"), group="scenarios",
                        frame=frame.rename_axis("unit_id").reset_index(), column="monitoring_warnings"))
    for note in comparison.notes:
        ctx.note(words("note.monitoring", note=note))


def _check_years(runs: list[FinishedRun]) -> None:
    years = [r.year for r in runs]
    if len(set(years)) < len(years):
        twice = next(y for y in years if years.count(y) > 1)
        raise InputError(f"two runs of {twice}.", path=next(r.folder for r in runs if r.year == twice),
                         fix="compare runs of different years (set [project] year).")


def _has_monitoring(project) -> bool:
    return project.monitoring is not None and bool(project.monitoring.runs)


MONITORING = Stage("monitoring", words("stage.monitoring"), run_monitoring, sections=("monitoring",),
                   reads=("units",), after=("targets",), applies=_has_monitoring)
