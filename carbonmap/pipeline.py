"""The runner: a project file through its stages into one output set.

The stages (:data:`STAGES`) are the themes' (:mod:`carbonmap.themes`); each declares the
project-file sections it reads, the results of earlier stages it reads or uses, and the type
of result it writes (:class:`carbonmap.stage.Stage`). :func:`run`

1. checks the declarations against the project before any work: a stage that reads a result
   no earlier stage of this project writes is an error naming the section to add;
2. runs the stages in order, each seeing only the results it declared, and collects what they
   publish (layers, tables, per-unit summary columns, notes) for the one map;
3. records every coefficient and code table a stage reads (``coefficients_<table>``,
   ``classes_<system>`` in the GeoPackage: :func:`carbonmap.coefficients.recording_tables`);
   shows progress and writes ``run.log`` (:mod:`carbonmap.progress`); writes each stage's vector
   layers to GeoParquet as the stage ends (:data:`LAYERS_DIR`), so that they wait for the one map
   on disk rather than in memory;
4. saves the state as data for ``--only`` (:mod:`carbonmap.state`), and
5. writes everything into a staging folder swapped in whole at the end
   (:mod:`carbonmap.outputset`): ``onemap.gpkg``, ``onemap.html``, ``report.html``,
   ``unit_summary.csv``, ``rasters/*.tif``, ``run.log`` and the manifest ``run.json``.

The runner holds no domain arithmetic; adding a stage is one Stage in a theme module and one
entry in :data:`STAGES`.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import shutil
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from carbonmap.coefficients import recording_tables
from carbonmap.compute import Session, compute_session, release_free_memory
from carbonmap.config import Project
from carbonmap.errors import CarbonmapError, CarbonmapWarning, ConfigError, InputError, StaleStateError
from carbonmap.io import file_digest
from carbonmap.outputset import OutputSet, output_set
from carbonmap.progress import Reporter
from carbonmap.stage import GROUPS, Layer, Publication, Stage, StageContext
from carbonmap.state import STATE_DIR, StateWriter, comparison_hashes, load_state, section_hashes
from carbonmap.themes.balance import BALANCE
from carbonmap.themes.blue_carbon import BLUE_CARBON
from carbonmap.themes.compensation import COMPENSATION
from carbonmap.themes.emissions import EMISSIONS
from carbonmap.themes.inputs import RASTERS, UNITS, VECTORS
from carbonmap.themes.landscape import LANDSCAPE
from carbonmap.themes.monitoring import MONITORING
from carbonmap.themes.network import NETWORK
from carbonmap.themes.onemap import ONEMAP
from carbonmap.themes.renewables import RENEWABLES
from carbonmap.themes.scenarios import SCENARIOS
from carbonmap.themes.screening import SCREENING
from carbonmap.themes.sinks import SINKS
from carbonmap.themes.stocks import STOCKS
from carbonmap.themes.targets import TARGETS_STAGE
from carbonmap.themes.uncertainty import UNCERTAINTY
from carbonmap.words import Text, text_in, words

__all__ = ["GROUPS", "Layer", "Stage", "STAGES", "RunRecord", "run", "stage_names", "check_declarations"]

#: Where the stages' vector layers wait for the one map, inside the output set (GeoParquet; kept
#: with the state for ``--only``, removed at the end of a run that saves no state).
LAYERS_DIR = Path(".carbonmap") / "layers"

#: The stages, in order.
STAGES: tuple[Stage, ...] = (UNITS, RASTERS, VECTORS, EMISSIONS, STOCKS, SINKS, BLUE_CARBON, LANDSCAPE, NETWORK,
                             RENEWABLES, SCREENING, BALANCE, COMPENSATION, SCENARIOS, TARGETS_STAGE, MONITORING,
                             UNCERTAINTY, ONEMAP)

#: What a stage needs to run, when it has nothing to read: the project-file section to add.
_SECTION_OF = {"emissions": "parcels", "stocks": "stocks", "landscape": "landscape", "network": "network",
               "renewables": "renewables", "screening": "screening", "balance": "parcels"}


def stage_names(stages: tuple[Stage, ...] | None = None) -> list[str]:
    return [s.name for s in (STAGES if stages is None else stages)]


@dataclass
class RunRecord:
    """A finished run: its output folder, the results still held, everything published, the manifest.

    A stage's result is let go when the last stage that reads or uses it has run (its entry in
    `results` is then None): :meth:`result` reads it back from the run's saved state.
    """

    project: Project
    out_dir: Path
    results: dict[str, Any]
    published: Publication
    manifest: dict[str, Any]

    def result(self, name: str) -> Any:
        """Stage `name`'s result: the one still held, else the one in the run's saved state
        (``[outputs] save_state``); None for a stage that did not run or returns nothing."""
        stage = next((s for s in STAGES if s.name == name), None)
        if stage is None:
            raise InputError(f"unknown stage {name!r}.", fix=f"stages: {', '.join(stage_names())}.")
        if self.results.get(name) is not None or stage.writes is None:
            return self.results.get(name)
        if (self.out_dir / STATE_DIR / "manifest.json").exists():
            _, loaded = load_state(self.out_dir / STATE_DIR, self.out_dir, types_of={name: {"result": stage.writes}})
            return loaded[name]["result"]
        if name not in self.manifest.get("stages_s", {}):  # the stage did not run
            return None
        raise CarbonmapError(f"the result of stage {name!r} was let go during the run, and the run saved no state.",
                             path=self.out_dir, fix="run with [outputs] save_state = true, or read the stage's "
                             "tables (onemap.gpkg, RunRecord.tables).")

    @property
    def layers(self) -> list[Layer]:
        return self.published.layers

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        return self.published.tables

    @property
    def notes(self) -> list[Text]:
        return self.published.notes


def check_declarations(project: Project, stages: tuple[Stage, ...] | None = None) -> None:
    """Every result a stage of `project` reads is written by an earlier stage of it.

    Raises :class:`ConfigError` naming the project-file section that is missing; a stage
    declaring a result no stage writes is a programming error (ValueError).
    """
    stages = STAGES if stages is None else stages
    names = stage_names(stages)
    written: set[str] = set()
    for index, stage in enumerate(stages):
        unknown = [n for n in stage.reads + stage.uses + stage.after if n not in names[:index]]
        if unknown:
            raise ValueError(f"stage {stage.name!r} declares {unknown}, which are not earlier stages")
        if not stage.applies(project):
            continue
        for name in stage.reads:
            if name not in written:
                section = _SECTION_OF.get(name, name)
                raise ConfigError(f"stage {stage.name!r} needs the results of stage {name!r}, which this project "
                                  f"does not run.", path=project.path, key=section,
                                  fix=f"add a [{section}] section, or remove what needs it.")
        if stage.writes is not None:
            written.add(stage.name)


def run(project: Project, *, quiet: bool = False, only: str | None = None, stream=None) -> RunRecord:
    """Run every stage of `project` into its output folder (module docstring).

    `only`: rerun from this stage on the state the last run saved in the folder -- the stages
    before it are not run again (their project-file sections and input files must be unchanged,
    which is checked), while the stages after it run again, as they may read its results.
    Progress goes to `stream` (default standard error) unless `quiet`; ``run.log`` is always written.
    """
    if only is not None and only not in stage_names():
        close = difflib.get_close_matches(only, stage_names(), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise InputError(f"unknown stage {only!r}.", key="--only", fix=f"{hint}stages: {', '.join(stage_names())}.")
    check_declarations(project)
    started = time.time()
    with output_set(project.output_dir) as outputs, Reporter(quiet=quiet, stream=stream,
                                                                   language=project.outputs.language) as reporter:
        reporter.open_log(outputs.staging / "run.log")
        first, results, publications = 0, {}, {}
        state = StateWriter(outputs.staging / STATE_DIR, outputs.staging) if project.outputs.save_state else None
        if only is not None:
            first = stage_names().index(only)
            results, publications = _resume(project, STAGES[:first], outputs)
            reporter.log(words("progress.rerunning", stage=only, stages=len(publications)))
            for name in results if state is not None else ():
                state.add(name, {"result": results[name], "publication": publications[name]})
            _release_unread(results, [s for s in STAGES[first:] if s.applies(project)])
        reporter.run_started(text_in(project.project.name, project.outputs.language),
                             sum(s.applies(project) for s in STAGES[first:]))
        with compute_session(project.compute) as session:
            reporter.log(words("progress.compute", description=session.description), show=session.distributed)
            timings = _run_stages(project, STAGES[first:], outputs.staging, results, publications, reporter,
                                  session, state)
        published = Publication.merged(publications[s.name] for s in STAGES)
        for text in published.notes:
            reporter.log(words("progress.note", text=text), show=False)
        for text in published.warnings:
            reporter.log(words("progress.warning", text=text), show=False)
            print(f"carbonmap: warning: {text}", file=stream or sys.stderr)
        if state is not None:
            size = state.finish(stages=stage_names(), sections=section_hashes(project))
            reporter.log(words("progress.state_saved", size=f"{size / 1e6:.1f}"), show=False)
        else:
            shutil.rmtree(outputs.staging / LAYERS_DIR, ignore_errors=True)
        reporter.finished(words("progress.done", seconds=f"{time.time() - started:.1f}", folder=outputs.folder))
        reporter.close()
        manifest = outputs.commit({"project_file": str(project.path), "project_sha256": file_digest(project.path)[0],
                                   "year": run_year(project), "language": project.outputs.language,
                                   "sections_sha256": section_hashes(project),
                                   "comparison_sha256": comparison_hashes(project), "only": only,
                                   "compute": session.description,
                                   "stages_s": timings, "warnings": published.warnings})
    layers = [dataclasses.replace(layer, raster=_moved(layer.raster, outputs),
                                  frame_file=_moved(layer.frame_file, outputs)) for layer in published.layers]
    return RunRecord(project, outputs.folder, results, dataclasses.replace(published, layers=layers), manifest)


def _moved(path: Path | None, outputs: OutputSet) -> Path | None:
    """Where a file the run wrote into its staging folder is now that the set is in place."""
    if path is None or not Path(path).is_relative_to(outputs.staging):
        return path
    return outputs.folder / Path(path).relative_to(outputs.staging)


def run_year(project: Project) -> int | None:
    """The year a run's data describe, recorded in ``run.json`` for ``carbonmap compare``:
    ``[project] year``, else the [timeline] base year."""
    if project.project.year is not None:
        return project.project.year
    return project.timeline.base_year if project.timeline is not None else None


def _run_stages(project: Project, stages: tuple[Stage, ...], staging: Path, results: dict[str, Any],
                publications: dict[str, Publication], reporter: Reporter, session: Session,
                state: StateWriter | None) -> dict[str, float]:
    """Run `stages` in order, adding their results and publications (and saving them into
    `state`); returns seconds per stage. A result stays in `results` until the last stage that
    reads or uses it has run, then its entry becomes None."""
    timings = {}
    active = [s for s in stages if s.applies(project)]
    for stage in stages:
        if stage not in active:
            results[stage.name], publications[stage.name] = None, Publication()
            if state is not None:
                state.add(stage.name, {"result": None, "publication": publications[stage.name]})
            continue
        reporter.stage_started(active.index(stage) + 1, len(active), stage.name, stage.description)
        session.activity = f"the {stage.name} stage"
        before, began = _files(staging), time.monotonic()
        published = Publication.merged(publications.values())
        ctx = StageContext(stage, project, results, staging, summary_columns=_columns(published),
                           progress=reporter.track, published=published, on_step=reporter.step)
        with recording_tables() as tables_read, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", CarbonmapWarning)
            result = stage.run(ctx)
        _record_warnings(ctx, caught)
        for name, table in tables_read.items():  # every table read is on record, once
            if name not in published.tables and name not in ctx.publication.tables:
                ctx.add_table(name, table)
        if stage.writes is not None and result is not None and not isinstance(result, stage.writes):
            raise TypeError(f"stage {stage.name!r} returned {type(result).__name__}, not {stage.writes.__name__}")
        ctx.publication.files = sorted(_files(staging) - before)
        Publication.merged([published, ctx.publication])  # no layer or table published twice, before any is saved
        ctx.publication.layers = [layer.saved(staging / LAYERS_DIR) for layer in ctx.publication.layers]
        results[stage.name], publications[stage.name] = result, ctx.publication
        timings[stage.name] = round(time.monotonic() - began, 2)
        if state is not None:
            state.add(stage.name, {"result": result, "publication": ctx.publication})
        later = active[active.index(stage) + 1:]
        if later:  # the last stage's results stay for the run's record
            _release_unread(results, later)
        release_free_memory()  # what the stage freed goes back before the next one allocates
        reporter.stage_done(stage.name, timings[stage.name])
    return timings


def _release_unread(results: dict[str, Any], later: list[Stage]) -> None:
    """Let go of the results no stage of `later` reads or uses (the saved state keeps them)."""
    wanted = {name for stage in later for name in stage.reads + stage.uses}
    for name in results:
        if name not in wanted:
            results[name] = None


def _record_warnings(ctx: StageContext, caught: list[warnings.WarningMessage]) -> None:
    """carbonmap's warnings of a stage go to the run's record (run.log, run.json, the end of the
    run); other libraries' warnings are shown as usual."""
    for item in caught:
        if issubclass(item.category, CarbonmapWarning):
            ctx.warn(str(item.message))
        else:
            warnings.warn_explicit(item.message, item.category, item.filename, item.lineno)


def _columns(published: Publication) -> list[str]:
    return [] if published.summary is None else list(published.summary.columns)


def _files(folder: Path) -> set[str]:
    """The files of the output set written so far (not the log or the state)."""
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")
            if p.is_file() and p.name != "run.log" and not p.relative_to(folder).as_posix().startswith(".carbonmap")}


def _resume(project: Project, earlier: tuple[Stage, ...], outputs: OutputSet
            ) -> tuple[dict[str, Any], dict[str, Publication]]:
    """The results and publications of the `earlier` stages, from the state of the folder's
    current set, checked against `project` and the input files; their files are linked into
    the staging folder (the new set holds them too)."""
    folder = outputs.folder
    types_of = {s.name: {"result": s.writes if s.writes is not None else type(None), "publication": Publication}
                for s in earlier}
    manifest, loaded = load_state(folder / STATE_DIR, outputs.staging, types_of=types_of)
    fix = "run the whole project (without --only) to use the changes."
    if manifest["stages"] != stage_names():
        raise StaleStateError("the saved run has other stages than this version.", path=folder, fix=fix)
    hashes = section_hashes(project)
    for stage in earlier:
        for section in stage.sections:
            if manifest["sections"].get(section) != hashes[section]:
                raise StaleStateError(f"[{section}] changed since the saved run, and stage {stage.name!r} reads it.",
                                 path=project.path, key=section, fix=f"{fix[:-1]}, or --only {stage.name}.")
    publications = {name: entry["publication"] for name, entry in loaded.items()}
    for entry in (e for p in publications.values() for e in p.inputs):
        path = Path(entry["path"])
        if not path.exists():
            raise StaleStateError(f"input {entry['role']} is gone since the saved run.", path=path,
                             fix="restore it, or run the whole project.")
        if file_digest(path)[0] != entry["sha256"]:
            raise StaleStateError(f"input {entry['role']} changed since the saved run.", path=path, fix=fix)
    saved_layers = [Path(layer.frame_file).relative_to(outputs.staging).as_posix()
                    for p in publications.values() for layer in p.layers if layer.frame_file is not None]
    for relative in [f for p in publications.values() for f in p.files] + saved_layers:
        if not (folder / relative).exists():
            raise StaleStateError(f"{relative} of the saved run is missing.", path=folder, fix=fix)
        target = outputs.staging / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(folder / relative, target)  # shared, not copied
        except OSError:  # a filesystem without hard links
            shutil.copy2(folder / relative, target)
    return {name: entry["result"] for name, entry in loaded.items()}, publications
