"""What a stage is and what it sees: the contract between the runner and the themes.

A run is a list of stages (:mod:`carbonmap.pipeline`). A :class:`Stage` declares

- the project-file sections it reads (``sections``; ``--only`` checks them unchanged),
- the results of earlier stages it needs (``reads``) or uses when present (``uses``), and the
  earlier stages whose publications alone it reads (``after``: their tables and per-unit
  columns, not their results; the runner keeps a result in memory only until the last stage
  that reads or uses it has run),
- the type of the result it returns (``writes``, a dataclass), and
- when it applies to a project (``applies``).

Its function gets a :class:`StageContext`: the project, the results it declared, and the
methods that publish what the one map shows (:class:`Publication`: layers, tables,
per-unit summary columns, notes, the input files it read). A stage never changes another
stage's result; results are passed on, publications are collected by the runner.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from pyproj import CRS

from carbonmap.config import Project
from carbonmap.errors import CarbonmapError
from carbonmap.io import file_digest
from carbonmap.words import Text, as_text, step_words, text_in, words

__all__ = ["GROUPS", "Layer", "Publication", "Stage", "StageContext", "layers_in"]

#: Map groups, in the order the layer control lists them.
GROUPS = ("units", "sources", "sinks", "ecology", "renewables", "screening", "scenarios", "zones", "inputs")


@dataclass
class Layer:
    """A layer of the planning map.

    Exactly one of `frame` (vector, any CRS), `frame_file` (the frame saved as GeoParquet
    between stages: :meth:`saved`, :meth:`loaded`) and `raster` (path of a COG on the analysis
    grid) is set. `column` is the attribute a vector layer is coloured by; `unit` and
    `kind` ('continuous' or 'categorical') describe what is shown, for legends.
    """

    name: str
    title: Text  # what readers see, in both languages (carbonmap.words)
    group: str
    frame: gpd.GeoDataFrame | None = None
    raster: Path | None = None
    frame_file: Path | None = None
    frame_crs: CRS | None = None  # a saved frame's CRS as it was (GeoParquet keeps an equal one, written otherwise)
    column: str | None = None
    unit: str = ""
    kind: str = "continuous"
    labels: dict[str, str] | None = None  # class code -> name, for categorical rasters
    colours: dict[str, str] | None = None  # value (or class code) -> hex colour, for categories
    display_tolerance_m: float = 0.0  # simplify vectors by this much in the HTML map (not the GeoPackage)
    in_html: bool = True  # False: in the GeoPackage only (too many features for a web page)
    aggregate: str = "mean"  # how a layer too large for the web page is summarised on cells: mean or sum
    # (categorical layers: their most frequent class)

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.frame, self.frame_file, self.raster)) != 1:
            raise ValueError(f"layer {self.name!r}: give exactly one of frame, frame_file and raster")
        if self.group not in GROUPS:
            raise ValueError(f"layer {self.name!r}: unknown group {self.group!r}")

    @property
    def is_vector(self) -> bool:
        return self.raster is None

    def saved(self, folder: Path) -> Layer:
        """This layer with its frame written to ``folder/<name>.parquet`` (GeoParquet) instead of
        held in memory; as it is for a raster layer, or a frame Parquet cannot hold as it is
        (column names that are not text, columns mixing types).

        The file is written beside and renamed over any file of that name (a file an earlier
        output set shares through a hard link is replaced, never written through)."""
        import pyarrow

        if self.frame is None or not all(isinstance(c, str) for c in self.frame.columns):
            return self
        folder.mkdir(parents=True, exist_ok=True)
        path, partial = folder / f"{self.name}.parquet", folder / f".{self.name}.parquet.partial"
        try:
            self.frame.to_parquet(partial, index=True)
        except (pyarrow.ArrowException, TypeError, ValueError):
            partial.unlink(missing_ok=True)
            return self
        partial.replace(path)
        return dataclasses.replace(self, frame=None, frame_file=path, frame_crs=self.frame.crs)

    def columns(self) -> list[str]:
        """The column names of a vector layer's frame (read from its file's schema if it was saved)."""
        if self.frame_file is None:
            return list(self.frame.columns)
        import pyarrow.parquet

        schema = pyarrow.parquet.read_schema(self.frame_file)
        index = set(schema.pandas_metadata["index_columns"]) if schema.pandas_metadata else set()
        return [name for name in schema.names if name not in index]

    def features(self) -> int | None:
        """The features of a vector layer (from its file's metadata if it was saved); None for a raster."""
        if self.frame is not None:
            return len(self.frame)
        if self.frame_file is None:
            return None
        import pyarrow.parquet

        return pyarrow.parquet.read_metadata(self.frame_file).num_rows

    def loaded(self) -> Layer:
        """This layer with its frame in memory (read from `frame_file` if it was saved)."""
        if self.frame_file is None:
            return self
        if not Path(self.frame_file).exists():
            raise CarbonmapError(f"the features of layer {self.name!r} were kept for the run only.",
                              path=self.frame_file, fix=f"read the layer {self.name!r} of onemap.gpkg, or run with "
                              "[outputs] save_state = true.")
        frame = _read_frame(Path(self.frame_file), self.frame_crs)
        return dataclasses.replace(self, frame=frame, frame_file=None, frame_crs=None)


def _read_frame(path: Path, crs=None) -> gpd.GeoDataFrame:
    """The GeoParquet file `path` as a frame; given `crs`, the CRS object it was written in, a file of one
    geometry column is read without parsing its CRS again (PROJ takes about 50 ms a layer for a custom CRS)."""
    import json

    import pyarrow.parquet

    geo = json.loads(pyarrow.parquet.read_schema(path).metadata[b"geo"]) if crs is not None else {}
    if len(geo.get("columns", ())) != 1:
        frame = gpd.read_parquet(path)
        return frame if crs is None else frame.set_crs(crs, allow_override=True)
    name = geo["primary_column"]
    frame = pyarrow.parquet.read_table(path).to_pandas()
    frame[name] = gpd.GeoSeries.from_wkb(frame[name], index=frame.index, crs=crs)
    return gpd.GeoDataFrame(frame, geometry=name)


def layers_in(layers: Iterable[Layer], language: str) -> list[Layer]:
    """The layers with their titles in `language` (as plain text, for the writers of the outputs)."""
    return [dataclasses.replace(layer, title=text_in(layer.title, language)) for layer in layers]


@dataclass
class Publication:
    """What one stage adds to the one map and its record."""

    layers: list[Layer] = field(default_factory=list)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    summary: pd.DataFrame | None = None  # per-unit columns, indexed by unit id
    notes: list[Text] = field(default_factory=list)  # in both languages: the outputs read their own
    warnings: list[str] = field(default_factory=list)  # accepted problems, printed at the end of the run
    inputs: list[dict[str, Any]] = field(default_factory=list)  # role, path, sha256, bytes
    headline: list[str] = field(default_factory=list)  # summary columns drawn as choropleths
    headline_first: bool = False  # put this stage's headline before the earlier stages'
    files: list[str] = field(default_factory=list)  # files written, relative to the output set

    @classmethod
    def merged(cls, publications: Iterable[Publication]) -> Publication:
        """Everything several stages published, in stage order (a stage's ``headline_first``
        columns lead the headline)."""
        out, first, rest = cls(), [], []
        for item in publications:
            names = [layer.name for layer in out.layers + item.layers]
            clash = {n for n in names if names.count(n) > 1} | set(out.tables) & set(item.tables)
            if clash:
                raise ValueError(f"layers or tables published twice: {sorted(clash)}")
            out.layers += item.layers
            out.tables.update(item.tables)
            if item.summary is not None:
                out.summary = item.summary if out.summary is None else out.summary.join(item.summary, how="left")
            out.notes += item.notes
            out.warnings += item.warnings
            out.inputs += item.inputs
            out.files += item.files
            (first if item.headline_first else rest).extend(item.headline)
        out.headline = first + rest
        return out

    def loaded(self) -> Publication:
        """This publication with every layer's frame in memory (:meth:`Layer.loaded`)."""
        return dataclasses.replace(self, layers=[layer.loaded() for layer in self.layers])


def always(project: Project) -> bool:
    return True


@dataclass(frozen=True)
class Stage:
    """A step of the run (see the module docstring)."""

    name: str
    description: Text  # what the progress shows (words("stage.<name>"))
    run: Callable[[StageContext], Any]
    sections: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()
    after: tuple[str, ...] = ()
    writes: type | None = None
    applies: Callable[[Project], bool] = always


class StageContext:
    """What a running stage sees: the project, its declared results, and where to publish.

    Parameters
    ----------
    stage : Stage
    project : Project
    results : mapping of stage name -> result, of the stages run before this one
    out : the output set being written (files go under it)
    summary_columns : the per-unit summary columns published so far (a column is published once)
    progress : a callable ``(items, description) -> iterator`` that shows progress, or None
    published : what the earlier stages published (read by the one map)
    on_step : a callable ``(description, seconds)`` told when a step of a long stage ends
    """

    def __init__(self, stage: Stage, project: Project, results: dict[str, Any], out: Path,
                 summary_columns: Iterable[str] = (), progress: Callable | None = None,
                 published: Publication | None = None, on_step: Callable | None = None) -> None:
        self.stage = stage
        self.project = project
        self.out = out
        self.publication = Publication()
        self._results = results
        self._summary_columns = set(summary_columns)
        self._progress = progress
        self._on_step = on_step
        self.published = published  # what the earlier stages published (read by the one map)

    def result(self, name: str) -> Any:
        """The result of stage `name`, which this stage declared it reads (or uses: then None
        when that stage did not run)."""
        if name not in self.stage.reads + self.stage.uses:
            raise RuntimeError(f"stage {self.stage.name!r} reads {name!r} without declaring it")
        if name in self.stage.reads and self._results.get(name) is None:
            raise RuntimeError(f"stage {self.stage.name!r} needs the result of {name!r}, which is missing")
        return self._results.get(name)

    def file(self, relative: str) -> Path:
        """The path of an output file of this stage, e.g. ``file("rasters/mspa.tif")``."""
        path = self.out / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    @contextlib.contextmanager
    def scratch(self) -> Iterator[Path]:
        """A folder for this stage's working files, removed when the block ends. It is inside
        the output set, where a dask cluster's workers read the run's files."""
        folder = self.out / ".scratch" / self.stage.name
        folder.mkdir(parents=True, exist_ok=True)
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            with contextlib.suppress(OSError):
                folder.parent.rmdir()  # unless another stage's is there

    def add_layer(self, layer: Layer) -> None:
        self.publication.layers.append(layer)

    def add_table(self, name: str, table: pd.DataFrame) -> None:
        """Record a coefficient, rule or result table (written to the GeoPackage)."""
        self.publication.tables[name] = table

    def add_summary(self, columns: pd.DataFrame) -> None:
        """Add per-unit columns (indexed by unit id) to the summary table."""
        clash = set(columns.columns) & self._summary_columns
        if clash:
            raise ValueError(f"summary columns defined twice: {sorted(clash)}")
        self._summary_columns |= set(columns.columns)
        own = self.publication.summary
        self.publication.summary = columns if own is None else own.join(columns, how="left")

    def add_headline(self, *columns: str, first: bool = False) -> None:
        self.publication.headline.extend(columns)
        self.publication.headline_first = self.publication.headline_first or first

    def note(self, text: str | Text) -> None:
        """A line for the run's record (the report's run notes, run.log, the GeoPackage's run_metadata):
        a :class:`~carbonmap.words.Text` from ``words.csv``, read in the language the outputs are written in."""
        self.publication.notes.append(as_text(text))

    def warn(self, text: str) -> None:
        """A problem the project file accepts (printed at the end of the run, and recorded)."""
        self.publication.warnings.append(text)

    def record_input(self, path: Path, role: str) -> None:
        """Note an input file with its SHA-256 (Shapefile sidecars included) for the record."""
        digest, size = file_digest(path)
        self.publication.inputs.append({"role": role, "path": str(path), "sha256": digest, "bytes": size})

    def step(self, name: str, seconds: float) -> None:
        """Say that step `name` of a long stage ended (shown with the run's progress, and logged; in
        the run's language when ``words.csv`` has ``step.<name>``)."""
        if self._on_step is not None:
            self._on_step(words("progress.stage_step", stage=self.stage.name, step=step_words(name)), seconds)

    def track(self, items: Iterable, description: str | Text) -> Iterator:
        """Iterate `items`, showing progress (with the time left) unless the run is quiet."""
        if self._progress is None:
            return iter(items)
        return self._progress(items, description)
