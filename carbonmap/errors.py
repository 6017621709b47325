"""One exception hierarchy for carbonmap, with messages a planner can act on.

Every error raised because of a user's input is a :class:`CarbonmapError`. Its message
says *where* (file, layer, field or project-file key), *what* is wrong and *how to fix
it*, in that order::

    data/parcels.gpkg, layer 'parcels', field 'code': 3 codes are not in the table
    'gb_t_21010_2017': 0999, 1234, 9999. Fix: add them to a crosswalk file ...

Subclasses also inherit the matching builtin exception (as ``rasterio`` does), so
``except FileNotFoundError`` or ``except ValueError`` keep working in user code.

Warnings raised for repaired input (for example invalid geometries made valid) are
:class:`CarbonmapWarning` subclasses, so they can be filtered or turned into errors.
"""

from __future__ import annotations

from os import PathLike

__all__ = [
    "CarbonmapError",
    "InputError",
    "InputNotFoundError",
    "StaleStateError",
    "CRSError",
    "EmptyInputError",
    "MissingColumnError",
    "GeometryError",
    "NodataError",
    "AlignmentError",
    "UnknownCodeError",
    "ConfigError",
    "OutputError",
    "CarbonmapWarning",
    "GeometryRepairedWarning",
    "ReprojectedWarning",
    "NonFiniteValuesWarning",
    "EncodingGuessedWarning",
    "compose_message",
]


def compose_message(
    problem: str,
    *,
    path: str | PathLike | None = None,
    layer: str | None = None,
    field: str | None = None,
    key: str | None = None,
    fix: str | None = None,
    entry: str | None = None,
) -> str:
    """One line: where, what, and ``Fix: ...``; the layout of every carbonmap error and warning.

    `entry` says which ``[[section]]`` entry of a project file the `key` is in, for a person
    (``the 3rd [[rasters]] entry (name "dem", path "dem.tif")``: the key counts from 0).
    """
    where = _where(path, layer, field, key, entry)
    message = f"{where}: {problem}" if where else problem
    return f"{message} Fix: {fix}" if fix else message


def _where(
    path: str | PathLike | None, layer: str | None, field: str | None, key: str | None, entry: str | None = None
) -> str:
    parts = []
    if path is not None:
        parts.append(str(path))
    if layer is not None:
        parts.append(f"layer {layer!r}")
    if field is not None:
        parts.append(f"field {field!r}")
    if key is not None:
        parts.append(f"key {key!r}" + (f" in {entry}" if entry else ""))
    return ", ".join(parts)


class CarbonmapError(Exception):
    """Root of every carbonmap error.

    Parameters
    ----------
    problem : str
        What is wrong, in one sentence.
    path, layer, field, key : optional
        Where: the input file, its layer, the attribute field, or the project-file key.
    fix : str, optional
        What the user should do about it.
    entry : str, optional
        The project file's ``[[section]]`` entry the key is in, as a person finds it (see
        :func:`compose_message` and :meth:`in_entry`).

    The pieces are kept as attributes (``err.path``, ``err.field``, ...) for programs;
    ``str(err)`` joins them into one readable line.
    """

    def __init__(
        self,
        problem: str,
        *,
        path: str | PathLike | None = None,
        layer: str | None = None,
        field: str | None = None,
        key: str | None = None,
        fix: str | None = None,
        entry: str | None = None,
    ) -> None:
        self.problem = problem
        self.path = None if path is None else str(path)
        self.layer = layer
        self.field = field
        self.key = key
        self.fix = fix
        self.entry = entry
        super().__init__(compose_message(problem, path=path, layer=layer, field=field, key=key, fix=fix, entry=entry))

    def in_entry(self, entry: str) -> CarbonmapError:
        """This error, its message also saying the ``[[section]]`` entry its key is in (`entry`)."""
        self.entry = entry
        self.args = (compose_message(self.problem, path=self.path, layer=self.layer, field=self.field, key=self.key,
                                     fix=self.fix, entry=entry),)
        return self

    def __reduce__(self):
        """Rebuilt with its pieces (a task's error crossing to the caller from a dask worker)."""
        return (_rebuilt, (type(self), self.problem, {"path": self.path, "layer": self.layer, "field": self.field,
                                                      "key": self.key, "fix": self.fix, "entry": self.entry}))


def _rebuilt(cls: type, problem: str, where: dict) -> CarbonmapError:
    return cls(problem, **where)


class InputError(CarbonmapError, ValueError):
    """An input file or object cannot be used as given."""


class StaleStateError(InputError):
    """The state a run saved no longer fits the project or its inputs (``run --only`` needs a whole run)."""


class InputNotFoundError(InputError, FileNotFoundError):
    """An input file, layer or band does not exist."""


class CRSError(InputError):
    """A coordinate reference system is missing, unusable, or wrong for the task."""


class EmptyInputError(InputError):
    """A layer has no features, or a raster has no valid cell where one is needed."""


class MissingColumnError(InputError):
    """A required attribute field is absent."""


class GeometryError(InputError):
    """Geometries are of the wrong type or cannot be repaired."""


class NodataError(EmptyInputError):
    """A raster (or the part of it that matters) is nodata everywhere."""


class AlignmentError(InputError):
    """Rasters or vectors do not line up and cannot be aligned automatically."""


class UnknownCodeError(InputError):
    """Land-use or land-cover codes that the code table does not define."""


class ConfigError(CarbonmapError, ValueError):
    """A project file is invalid: unknown or missing key, wrong type or value."""


class OutputError(CarbonmapError, OSError):
    """An output cannot be written."""


class CarbonmapWarning(UserWarning):
    """Root of carbonmap warnings: something was repaired or assumed, and said so."""


class GeometryRepairedWarning(CarbonmapWarning):
    """Invalid or empty geometries were repaired or dropped."""


class ReprojectedWarning(CarbonmapWarning):
    """An input in a geographic CRS was reprojected before measuring areas or distances."""


class NonFiniteValuesWarning(CarbonmapWarning):
    """Cells of a raster holding infinite or absurd values (|v| >= 1e30) were read as nodata."""


class EncodingGuessedWarning(CarbonmapWarning):
    """The text encoding of an input was not declared and was guessed (e.g. GB18030 for a Shapefile)."""
