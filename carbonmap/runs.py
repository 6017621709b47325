"""Reading a finished run's outputs: ``carbonmap targets`` and ``carbonmap compare`` start here.

A run is complete when its folder has the manifest ``run.json`` (written last, when the output
set is swapped in: :mod:`carbonmap.outputset`) and the ``unit_summary.csv`` it lists. Its year is
the manifest's ``year`` (``[project] year``, else the [timeline] base year), or, for runs made
before carbonmap recorded it, the same keys of the project file the manifest names.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from carbonmap.errors import InputError, InputNotFoundError
from carbonmap.outputset import MANIFEST

__all__ = ["FinishedRun", "read_run", "run_year", "latest_landcover"]

SUMMARY = "unit_summary.csv"
GPKG = "onemap.gpkg"


@dataclass
class FinishedRun:
    """A complete run's folder, manifest, year, language and per-unit summary (indexed by unit id)."""

    folder: Path
    manifest: dict[str, Any]
    summary: pd.DataFrame
    year: int | None
    language: str
    _tables: dict[str, pd.DataFrame | None] = field(default_factory=dict, repr=False)

    def table(self, name: str) -> pd.DataFrame | None:
        """A table of the run's GeoPackage (e.g. ``scenario_timeline``), or None when it has none."""
        if name not in self._tables:
            self._tables[name] = _gpkg_table(self.folder / GPKG, name)
        return self._tables[name]

    def has_file(self, relative: str) -> bool:
        return any(entry.get("path") == relative for entry in self.manifest.get("files", []))


def _gpkg_table(path: Path, name: str) -> pd.DataFrame | None:
    if not path.exists():
        return None
    import pyogrio

    if name not in {layer for layer, _ in pyogrio.list_layers(path)}:
        return None
    frame = pyogrio.read_dataframe(path, layer=name, read_geometry=False)
    return pd.DataFrame(frame)


def read_run(folder: str | Path, *, year: int | None = None) -> FinishedRun:
    """The complete run in `folder`; `year` is its year when the run records none.

    Raises
    ------
    InputNotFoundError
        No such folder.
    InputError
        The folder holds no complete run (no ``run.json``: a run that is still going, failed or was
        killed), or a damaged one, or not a run of the project's stages (no ``unit_summary.csv``).
    """
    folder = Path(folder).resolve()
    fix = "run `carbonmap run PROJECT.toml` to the end first (or give the folder of a complete run)."
    if not folder.is_dir():
        raise InputNotFoundError("no such output folder.", path=folder, fix=fix)
    manifest_path = folder / MANIFEST
    if not manifest_path.exists():
        staging = any(p.name.startswith(".carbonmap-staging-") for p in folder.iterdir())
        what = "a run is still writing it, or one was stopped" if staging else "no run finished here"
        raise InputError(f"this folder holds no complete carbonmap run ({MANIFEST} is missing: {what}).",
                         path=folder, fix=fix)
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        files = {entry["path"] for entry in manifest["files"]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError("the run's manifest is damaged.", path=manifest_path, fix=fix) from exc
    if SUMMARY not in files or not (folder / SUMMARY).exists():
        if manifest.get("kind") == "monitoring":
            raise InputError("this folder holds a comparison of runs, not a run.", path=folder,
                             fix="give the output folders of the runs themselves.")
        raise InputError(f"the run has no {SUMMARY} (it is not a complete run of a project).", path=folder, fix=fix)
    _check_unchanged(folder, manifest, (SUMMARY, GPKG))
    summary = pd.read_csv(folder / SUMMARY, encoding="utf-8-sig", dtype={"unit_id": str})
    summary = summary.set_index("unit_id")
    project = _project_data(manifest)
    recorded = run_year(manifest, project)
    if year is not None and recorded is not None and year != recorded:
        raise InputError(f"the run records the year {recorded}, and --year gives it {year}.", path=folder,
                         key="--year", fix="give --year only for runs that record no year (or none at all): "
                                           "a run's own year is the year of its inputs.")
    return FinishedRun(folder, manifest, summary, year if year is not None else recorded,
                       manifest.get("language") or project.get("outputs", {}).get("language", "en"))


def _check_unchanged(folder: Path, manifest: dict[str, Any], names: tuple[str, ...]) -> None:
    """Refuse a run whose files among `names` were removed or changed after it finished (their
    SHA-256 differs from the one its manifest records)."""
    listed = {entry["path"]: entry.get("sha256") for entry in manifest["files"]}
    for name in names:
        if name not in listed:
            continue
        path = folder / name
        if not path.exists():
            raise InputError(f"the run's {name} was removed after the run finished.", path=folder,
                             fix="run the project again into this folder.")
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        if listed[name] and digest.hexdigest() != listed[name]:
            raise InputError(f"the run's {name} was changed after the run finished (its SHA-256 is not the one "
                             f"{MANIFEST} records).", path=path, fix="run the project again into this folder.")


def _project_data(manifest: dict[str, Any]) -> dict[str, Any]:
    """The project file a manifest names, parsed (empty when it is gone or unreadable)."""
    path = manifest.get("project_file")
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8-sig")) if path else {}
    except (OSError, ValueError):
        return {}


def run_year(manifest: dict[str, Any], project: dict[str, Any] | None = None) -> int | None:
    """The year of a run: its manifest's ``year``, else its project's ``[project] year`` or
    ``[timeline] base_year`` (None when none is known)."""
    if isinstance(manifest.get("year"), int):
        return manifest["year"]
    project = project or {}
    for section, key in (("project", "year"), ("timeline", "base_year")):
        value = project.get(section, {}).get(key)
        if isinstance(value, int):
            return value
    return None


def latest_landcover(columns) -> str | None:
    """Of the land-cover rasters with class areas among `columns` (``<raster>_<class>_area_ha``),
    the one with the latest year in its name (else the first).

    Examples
    --------
    >>> latest_landcover(["landcover_2023_forest_area_ha", "landcover_2015_forest_area_ha"])
    'landcover_2023'
    """
    found = (re.fullmatch(r"(.+?)_(?:nodata|forest)_area_ha", c) for c in columns)
    names = list(dict.fromkeys(m.group(1) for m in found if m))
    if not names:
        return None
    years = [max((int(y) for y in re.findall(r"(?:19|20)\d\d", n)), default=-1) for n in names]
    return names[max(range(len(names)), key=lambda i: (years[i], -i))]
