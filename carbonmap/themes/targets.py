"""Targets: the project's targets per unit or citywide, checked against the baseline and the scenarios.

``prepare_targets`` reads and checks the targets table (the only place the theme reads files);
``carbonmap targets`` (a finished run's outputs) and the ``targets`` stage (the run's own
results) call it and the same :func:`carbonmap.targets.check_targets`.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from carbonmap.coefficients import target_parameters
from carbonmap.config import Project, TargetsSection
from carbonmap.errors import InputError, MissingColumnError
from carbonmap.io import read_csv
from carbonmap.runs import latest_landcover
from carbonmap.stage import Layer, Stage, StageContext
from carbonmap.targets import CITY, TARGETS, check_targets, status_counts, target_unit
from carbonmap.words import words

__all__ = ["TargetInputs", "read_targets", "prepare_targets", "check_target_units", "targets_status", "TARGETS_STAGE",
           "STATUS_COLOURS"]

#: Colours of the status classes on the map.
STATUS_COLOURS = {"on_track": "#1a9850", "off_track": "#d73027", "no_data": "#bdbdbd", "no_targets": "#f0f0f0"}
#: The columns of a targets table besides the targets.
_OTHER_COLUMNS = ("unit_id", "base_year", "gdp_growth_pct", "note")
#: Plausible values of each kind of target (a year, a share, a reduction, a capacity).
_RANGES = {"year": (2000, 2100), "%": (-100.0, 100.0), "MW": (0.0, np.inf)}
#: Targets that are shares of land [%]: 0 to 100 (reductions may be negative: an allowed rise).
_SHARES = frozenset({"forest_cover_pct", "ecological_land_pct"})


@dataclass
class TargetInputs:
    """The targets table and the settings of the check."""

    table: pd.DataFrame
    path: Path | None
    landcover: str | None
    forest_classes: tuple[str, ...]
    gdp_growth_pct: float


def read_targets(path: str | Path) -> pd.DataFrame:
    """Read and check a targets table (CSV): ``unit_id`` (``*``: citywide), target columns
    (:data:`carbonmap.targets.TARGETS`, ``intensity_reduction_<year>_pct``), optional ``base_year``,
    ``gdp_growth_pct``, ``note``. Empty cells are no target.

    Raises
    ------
    InputError
        Naming the file, the column and the fix: no ``unit_id``, an unknown column, a value that is
        not a number or out of range, a unit listed twice.
    """
    path = Path(path)
    table = read_csv(path, what="targets table", dtype=str, keep_default_na=False)
    table.columns = [str(c).strip() for c in table.columns]
    if "unit_id" not in table.columns:
        raise MissingColumnError("the targets table has no unit_id column.", path=path, field="unit_id",
                                 fix="add a unit_id column: the planning unit's id, or * for a citywide target.")
    known = [*TARGETS, *_OTHER_COLUMNS]
    for column in table.columns:
        if column not in _OTHER_COLUMNS and not _is_target_column(column):
            close = difflib.get_close_matches(column, known, n=1)
            raise InputError(f"unknown column {column!r}.", path=path, field=column,
                             fix=(f"did you mean {close[0]!r}? " if close else "")
                             + f"targets are {', '.join(TARGETS)} or intensity_reduction_<year>_pct.")
    table["unit_id"] = table["unit_id"].str.strip()
    twice = table["unit_id"][table["unit_id"].duplicated()]
    if len(twice):
        raise InputError(f"unit {twice.iloc[0]!r} has more than one row.", path=path, field="unit_id",
                         fix="give each unit (and *) one row, with one column per target.")
    out = table[["unit_id"] + (["note"] if "note" in table else [])].copy()
    for column in (c for c in table.columns if c not in ("unit_id", "note")):
        out[column] = _numbers(table, column, path)
    return out


def _is_target_column(column: str) -> bool:
    try:
        target_unit(column)
    except KeyError:
        return False
    return True


def _numbers(table: pd.DataFrame, column: str, path: Path) -> pd.Series:
    text = table[column].str.strip()
    values = pd.to_numeric(text.replace("", np.nan), errors="coerce")
    low, high = _RANGES[target_unit(column)] if _is_target_column(column) else \
        ((2000, 2100) if column == "base_year" else (-50.0, 50.0))
    if column in _SHARES:
        low = 0.0  # a share of land
    bad = (values.isna() & (text != "")) | (values < low) | (values > high)
    if bad.any():
        first = bad.idxmax()
        raise InputError(f"{column} of unit {table.at[first, 'unit_id']!r} is {text[first]!r}, not a number "
                         f"from {low:g} to {high:g}.", path=path, field=column,
                         fix="give a number in the column's unit (a year, a percentage or MW), or leave it empty.")
    return values.astype(float)


def prepare_targets(section: TargetsSection, *, project: Project | None = None) -> TargetInputs:
    """The targets table and settings of a [targets] section (the command line builds the section
    from its options); the land cover defaults to the project's [timeline] or [landscape] land cover."""
    table = read_targets(section.table)
    landcover = section.landcover
    if landcover is None and project is not None:
        landcover = next((s.landcover for s in (project.timeline, project.landscape) if s is not None), None)
    growth = target_parameters(section.parameters)["gdp_growth_pct"]
    return TargetInputs(table, section.table, landcover, tuple(section.forest_classes), growth)


def check_target_units(table: pd.DataFrame, unit_ids, *, path=None) -> None:
    """Every unit of a targets table (:func:`read_targets`) is one of `unit_ids`, or ``*``.

    Raises
    ------
    InputError
        Naming the targets file, ``unit_id`` and up to five of the unknown ids.
    """
    unknown = sorted(set(table["unit_id"]) - {CITY} - {str(i) for i in unit_ids})
    if unknown:
        raise InputError(f"units {', '.join(unknown[:5])} are not planning units of the run.", path=path,
                         field="unit_id", fix="use the ids of the units layer, or * for a citywide target.")


def targets_status(inputs: TargetInputs, summary: pd.DataFrame, *, timeline: pd.DataFrame | None,
                   comparison: pd.DataFrame | None) -> pd.DataFrame:
    """The status table of a run (shared by the stage and the command): every unit of the targets
    table must be a unit of the run."""
    check_target_units(inputs.table, summary.index, path=inputs.path)
    landcover = inputs.landcover or latest_landcover(summary.columns)
    return check_targets(inputs.table, summary, timeline=timeline, comparison=comparison, landcover=landcover,
                         forest_classes=inputs.forest_classes, gdp_growth_pct=inputs.gdp_growth_pct)


def run_targets(ctx: StageContext) -> None:
    """The targets' status per unit and citywide: a table, per-unit counts, a map of units by status."""
    units = ctx.result("units")
    inputs = prepare_targets(ctx.project.targets, project=ctx.project)
    ctx.record_input(inputs.path, "targets table")
    published = ctx.published
    summary = published.summary.copy()
    summary.index = summary.index.astype(str)
    status = targets_status(inputs, summary, timeline=published.tables.get("scenario_timeline"),
                            comparison=published.tables.get("scenario_comparison_per_unit"))
    ctx.add_table("targets_status", status)
    counts = status_counts(status, units.ids)
    ctx.add_summary(counts)
    frame = gpd.GeoDataFrame(counts.reindex(units.ids), geometry=units.frame.geometry, crs=units.frame.crs)
    ctx.add_layer(Layer(name="targets_units", title=words("layer.targets_status"), group="scenarios",
                        frame=frame.rename_axis("unit_id").reset_index(), column="targets_status",
                        kind="categorical", colours=STATUS_COLOURS))
    tally = status["status"].value_counts()
    ctx.note(words("note.targets", checked=len(status), on_track=tally.get("on_track", 0),
                   off_track=tally.get("off_track", 0), no_data=tally.get("no_data", 0),
                   growth=f"{inputs.gdp_growth_pct:g}"))


def _has_targets(project: Project) -> bool:
    return project.targets is not None


TARGETS_STAGE = Stage("targets", words("stage.targets"), run_targets, sections=("targets",),
                      reads=("units",), after=("balance", "landscape", "renewables", "scenarios"),
                      applies=_has_targets)
