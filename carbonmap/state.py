"""A run's state as data: what ``carbonmap run --only STAGE`` needs, never code.

As each stage ends, its result and its publication are saved under
``OUT/.carbonmap/state/`` (the manifest last, when the run ends): tables as Parquet (GeoParquet
for geometries), arrays as compressed NumPy files, everything else in ``manifest.json``, with the
carbonmap version, a hash of each project-file section and the checksum of each input file.

Loading reads only those formats, into the types the code declares (the result
dataclass of each stage): nothing in the files chooses what code runs (no pickle; NumPy
files are loaded with ``allow_pickle=False``). A state written by another carbonmap
version, or a damaged one, is refused with the advice to rerun in full.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from affine import Affine
from pyproj import CRS

from carbonmap import __version__
from carbonmap.errors import InputError

__all__ = ["STATE_DIR", "StateError", "StateWriter", "section_hashes", "load_state"]

#: Where a run's state lives, inside its output set.
STATE_DIR = Path(".carbonmap") / "state"
FORMAT = 1


class StateError(InputError):
    """The saved state cannot be used (damaged, or written by another version)."""


def section_hashes(project) -> dict[str, str]:
    """SHA-256 of each project-file section's values (for ``--only``: what changed)."""
    out = {}
    for item in dataclasses.fields(project):
        if item.name == "path":
            continue
        value = getattr(project, item.name)
        text = json.dumps(_plain(value), sort_keys=True, default=str)
        out[item.name] = hashlib.sha256(text.encode()).hexdigest()
    return out


def comparison_hashes(project) -> dict[str, str]:
    """SHA-256 of what makes two runs' per-unit tables comparable (``carbonmap compare``): the grid,
    the units (file name, layer, id field: not the folder, which differs between machines, nor the
    population or GDP fields, which change from year to year) and the code systems of the categorical
    rasters (not their files or names)."""
    units = project.units
    parts = {"grid": _plain(project.grid),
             "units": [Path(units.path).name, units.layer, units.id_field],
             "code systems": sorted({r.code_system for r in project.rasters if r.code_system})}
    return {name: hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
            for name, value in parts.items()}


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value if isinstance(value, (int, float, str, bool, type(None))) else str(value)


# --------------------------------------------------------------------------- encoding


class _Writer:
    """Encodes a value into a JSON node, writing tables and arrays as files in `folder`."""

    def __init__(self, folder: Path, root: Path) -> None:
        self.folder = folder
        self.root = root  # paths under it are stored relative to it
        self.count = 0

    def _file(self, suffix: str) -> Path:
        self.count += 1
        return self.folder / f"{self.count:04d}{suffix}"

    def encode(self, value: Any) -> Any:
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, Path):
            return {"path": _relative(value, self.root)}
        if isinstance(value, CRS):
            return {"crs": value.to_wkt()}
        if isinstance(value, Affine):
            return {"affine": list(value)[:6]}
        if isinstance(value, gpd.GeoDataFrame):
            return {"geoframe": self._frame(value, geo=True)}
        if isinstance(value, pd.DataFrame):
            return {"frame": self._frame(value)}
        if isinstance(value, pd.Series):
            return {"series": self._frame(value.to_frame("values")), "name": self.encode(value.name)}
        if isinstance(value, np.ndarray):
            return self._array(value)
        if dataclasses.is_dataclass(value):
            return {"fields": {f.name: self.encode(getattr(value, f.name)) for f in dataclasses.fields(value)}}
        if isinstance(value, dict):
            return {"dict": [[self.encode(k), self.encode(v)] for k, v in value.items()]}
        if isinstance(value, (list, tuple)):
            return {"list": [self.encode(v) for v in value]}
        raise TypeError(f"cannot save a {type(value).__name__} in the run state")

    def _frame(self, frame: pd.DataFrame, geo: bool = False) -> dict:
        file = self._file(".parquet")
        labels = list(frame.columns)
        stored = frame.copy(deep=False)
        geometry = frame.geometry.name if geo else None
        stored.columns = [f"c{i}" for i in range(len(labels))]  # Parquet needs string names
        if geo:
            stored = gpd.GeoDataFrame(stored, geometry=f"c{labels.index(geometry)}", crs=frame.crs)
        stored.to_parquet(file, index=True)
        return {"file": file.name, "columns": [self.encode(c) for c in labels]}

    def _array(self, array: np.ndarray) -> dict:
        file = self._file(".npz")
        parts = {"data": np.ma.getdata(array)}
        if isinstance(array, np.ma.MaskedArray):
            parts["mask"] = np.ma.getmaskarray(array)
        np.savez_compressed(file, **parts)
        return {"array": file.name, "masked": isinstance(array, np.ma.MaskedArray)}


def _relative(path: Path, root: Path) -> str:
    try:
        return "@/" + Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


class _Reader:
    """Decodes JSON nodes into the declared types, reading tables and arrays from `folder`."""

    def __init__(self, folder: Path, root: Path) -> None:
        self.folder = folder
        self.root = root

    def decode(self, node: Any, hint: Any) -> Any:
        hint = _concrete(node, hint)
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if not isinstance(node, dict) or len(node) == 0:
            raise StateError("unexpected entry in the saved state.")
        if "path" in node:
            text = node["path"]
            return self.root / text[2:] if text.startswith("@/") else Path(text)
        if "crs" in node:
            return CRS.from_wkt(node["crs"])
        if "affine" in node:
            return Affine(*node["affine"])
        if "geoframe" in node or "frame" in node:
            return self._frame(node.get("geoframe") or node["frame"], geo="geoframe" in node)
        if "series" in node:
            frame = self._frame(node["series"])
            return frame["values"].rename(self.decode(node["name"], Any))
        if "array" in node:
            with np.load(self.folder / _name(node["array"]), allow_pickle=False) as parts:
                data = parts["data"]
                return np.ma.MaskedArray(data, mask=parts["mask"]) if node["masked"] else data
        if "fields" in node:
            if not (isinstance(hint, type) and dataclasses.is_dataclass(hint)):
                raise StateError("the saved state does not match this version's results.")
            hints = typing.get_type_hints(hint)
            values = {name: self.decode(v, hints.get(name, Any)) for name, v in node["fields"].items()}
            if set(values) != {f.name for f in dataclasses.fields(hint)}:
                raise StateError("the saved state does not match this version's results.")
            return hint(**values)
        if "dict" in node:
            key_hint, value_hint = _args(hint, 2)
            return {self.decode(k, key_hint): self.decode(v, value_hint) for k, v in node["dict"]}
        if "list" in node:
            items = [self.decode(v, _args(hint, 1)[0]) for v in node["list"]]
            return tuple(items) if typing.get_origin(hint) is tuple or hint is tuple else items
        raise StateError("unexpected entry in the saved state.")

    def _frame(self, spec: dict, geo: bool = False) -> pd.DataFrame:
        path = self.folder / _name(spec["file"])
        frame = gpd.read_parquet(path) if geo else pd.read_parquet(path)
        frame.columns = [self.decode(c, Any) for c in spec["columns"]]
        if geo:
            geometry = next(c for c in frame.columns if isinstance(frame[c], gpd.GeoSeries)
                            or frame[c].dtype.name == "geometry")
            frame = frame.set_geometry(geometry)
        return frame


def _name(file: str) -> str:
    """A file name of the state folder (never a path elsewhere)."""
    if Path(file).name != file or file.startswith("."):
        raise StateError("unexpected file name in the saved state.")
    return file


def _args(hint: Any, n: int) -> tuple:
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple and len(args) == 2 and args[1] is Ellipsis:
        args = args[:1]
    return args if len(args) == n else (Any,) * n


def _concrete(node: Any, hint: Any) -> Any:
    """The one non-None type of an optional hint (``X | None``)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        dataclass_options = [a for a in options if isinstance(a, type) and dataclasses.is_dataclass(a)]
        return dataclass_options[0] if dataclass_options else options[0] if len(options) == 1 else Any
    return hint


# --------------------------------------------------------------------------- save / load


class StateWriter:
    """Writes a run's state into `folder` (inside the output set `root`) stage by stage, as the
    stages end, so that a result need not stay in memory until the end of the run; the manifest
    is written last (:meth:`finish`), so a state is complete or absent."""

    def __init__(self, folder: Path, root: Path) -> None:
        self.folder, self.root = folder, root
        self.saved: dict[str, Any] = {}
        folder.mkdir(parents=True, exist_ok=True)

    def add(self, name: str, entry: dict[str, Any]) -> None:
        """Save stage `name`'s entry: {"result": result or None, "publication": Publication}."""
        writer = _Writer(self.folder / name, self.root)
        writer.folder.mkdir(exist_ok=True)
        self.saved[name] = {key: writer.encode(value) for key, value in entry.items()}

    def finish(self, *, stages: list[str], sections: dict[str, str]) -> int:
        """Write the manifest; returns the size of the state [bytes]."""
        manifest = {"format": FORMAT, "carbonmap_version": __version__, "stages": stages, "sections": sections,
                    "saved": self.saved}
        (self.folder / "manifest.json").write_text(json.dumps(manifest, indent=1, allow_nan=True), encoding="utf-8")
        return sum(f.stat().st_size for f in self.folder.rglob("*") if f.is_file())


def load_state(folder: Path, root: Path, *, types_of: dict[str, dict[str, Any]]) -> tuple[dict, dict]:
    """Read a state written by :class:`StateWriter`.

    `types_of`: stage name -> {"result": result type, "publication": Publication}, the
    types the code declares. Returns (manifest, {stage name: {"result": ..., "publication": ...}})
    for the stages in `types_of`.
    """
    path = folder / "manifest.json"
    fix = "run the whole project once (without --only) into this output folder."
    if not path.exists():
        output = folder.parents[len(STATE_DIR.parts) - 1] if folder.match(str(STATE_DIR)) else folder
        raise StateError("no saved run to rerun a stage of.", path=output,
                         fix=fix[:-1] + ", with [outputs] save_state = true.")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StateError("the saved state is damaged.", path=path, fix=fix) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT \
            or manifest.get("carbonmap_version") != __version__:
        version = manifest.get("carbonmap_version", "unknown") if isinstance(manifest, dict) else "unknown"
        raise StateError(f"the saved run is from carbonmap {version}, this is {__version__}.", path=path, fix=fix)
    missing = [name for name in types_of if name not in (manifest.get("saved") or {})]
    if missing:
        raise StateError(f"the saved run has no state of stage {', '.join(missing)} (it was made with other "
                         "stages).", path=path, fix=fix)
    loaded = {}
    try:
        for name, kinds in types_of.items():
            reader = _Reader(folder / _name(name), root)
            saved = manifest["saved"][name]
            loaded[name] = {key: reader.decode(saved[key], hint) for key, hint in kinds.items()}
    except StateError as exc:
        raise StateError(exc.problem, path=path, fix=fix) from exc
    except (KeyError, TypeError, ValueError, OSError, StopIteration) as exc:
        raise StateError(f"the saved state is damaged ({type(exc).__name__}: {exc}).", path=path, fix=fix) from exc
    return manifest, loaded
