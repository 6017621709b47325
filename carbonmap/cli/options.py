"""Options shared by several commands: one name for one thing in every command.

The grammar:

- ``-o/--output``: what the command writes (a file or a folder; every command);
- ``--layer``, ``--id-field``, ``--assume-crs``: of the command's main input (its argument);
- ``--<input>``, ``--<input>-layer``, ``--<input>-<field>-field``: of a second input, e.g.
  ``--units``, ``--units-layer``, ``--units-id-field``; ``--roads``, ``--roads-layer``;
- ``--code-system``: a land-use code system (checked against the known systems);
- ``-q/--quiet``: no progress (run, demo).

Who uses what:

- ``quiet_opt``: demo, run
- ``output_dir_opt``, ``language_opt``: demo, run
- ``compute_opts`` (``--scheduler``, ``--workers``, ``--memory-limit``) and ``with_compute_options``: run, demo
- ``assume_crs_opt``: zonal, emissions, stocks, landscape-metrics, ecological-network, rooftop-pv, afforestation,
  rank-rooftops, blue-carbon, compensation
- ``layer_opt``: zonal, emissions, rooftop-pv, rank-rooftops, compensation
- ``code_system_opt``: emissions, ecological-network, afforestation
- ``units_opts``: emissions, rank-rooftops, blue-carbon
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from pathlib import Path

import click

from carbonmap.errors import CarbonmapError

FILE = click.Path(dir_okay=False, path_type=Path)
FOLDER = click.Path(file_okay=False, path_type=Path)

quiet_opt = click.option("--quiet", "-q", is_flag=True, help="Show no progress, only errors and warnings.")
output_dir_opt = click.option(
    "-o", "--output", "output", type=FOLDER, default=None,
    help="Output folder (overrides the project file's output_dir).",
)
assume_crs_opt = click.option(
    "--assume-crs", default=None, metavar="CRS",
    help="CRS of inputs that declare none, e.g. EPSG:4326 (a declared CRS always wins).",
)
layer_opt = click.option("--layer", default=None, help="Layer of a multi-layer vector file.")
language_opt = click.option("--lang", "language", type=click.Choice(["zh", "en"]), default=None,
                            help="Language of the map, report and tables (overrides [outputs] language).")


def compute_opts(command):
    """``--scheduler``, ``--workers`` and ``--memory-limit``: where a run's tasks are computed (``[compute]``)."""
    command = click.option("--memory-limit", default=None, metavar="SIZE",
                           help="Memory limit of each process of the run, e.g. 12GB: the run stops, naming its "
                                "stage, when its own process passes it; each worker of a local dask cluster "
                                "is held to it too.")(command)
    command = click.option("--workers", type=int, default=None,
                           help="Threads (in-process) or worker processes (local dask cluster).")(command)
    return click.option("--scheduler", default=None, metavar="NAME|ADDRESS",
                        help="in-process (default), local (a dask cluster of worker processes on this machine), "
                             "or the address of a dask scheduler, e.g. tcp://10.0.0.5:8786 "
                             "(overrides [compute] scheduler).")(command)


def with_compute_options(project, *, scheduler: str | None, workers: int | None, memory_limit: str | None):
    """`project` with the command line's compute options (those given) in its [compute] settings."""
    given = {key: value for key, value in (("scheduler", scheduler), ("workers", workers),
                                           ("memory_limit", memory_limit)) if value is not None}
    return project.with_compute(**given) if given else project


def _known_code_system(ctx, param, value: str | None) -> str | None:
    from carbonmap.landuse import CODE_SYSTEMS

    if value is not None and value not in CODE_SYSTEMS:
        raise click.BadParameter(f"{value!r} is not a code system carbonmap knows: use one of "
                                 f"{', '.join(CODE_SYSTEMS)}.")
    return value


code_system_opt = click.option("--code-system", required=True, callback=_known_code_system,
                               help="Land-use code system, e.g. clcd, ydyh_2023, gb_t_21010_2017, euluc_china, "
                                    "esa_worldcover, nlcd, esa_cci_lc.")


def output_opt(what: str, *, folder: bool = False):
    """``-o/--output``, required: the file (or folder) the command writes; never a file of a
    finished run (:func:`not_a_run_file`)."""
    return click.option("-o", "--output", "output", type=FOLDER if folder else FILE, required=True, help=what,
                        callback=None if folder else lambda ctx, param, value: not_a_run_file(value))


def not_a_run_file(path: Path | None) -> Path | None:
    """`path`, unless it is one of the files of a finished run (listed in the ``run.json`` of a
    folder above it): writing it would damage that run.

    Raises
    ------
    OutputError
        Naming the run's folder and the fix.
    """
    import json

    from carbonmap.errors import OutputError
    from carbonmap.outputset import MANIFEST

    if path is None:
        return path
    target = Path(path).resolve()
    for folder in target.parents:
        manifest = folder / MANIFEST
        if not manifest.is_file():
            continue
        try:
            files = {entry["path"] for entry in json.loads(manifest.read_text(encoding="utf-8"))["files"]}
        except (OSError, ValueError, KeyError, TypeError):
            files = set()
        if target.relative_to(folder).as_posix() in files:
            raise OutputError("this file belongs to the carbonmap run in its folder; writing it would damage the run.",
                              path=target, fix="write to a file outside the run's folder.")
        return path
    return path


def units_opts(function):
    """``--units``, ``--units-layer``, ``--units-id-field``: planning units."""
    function = click.option("--units-id-field", default=None,
                            help="Id field of the planning units (default: their row number).")(function)
    function = click.option("--units-layer", default=None, help="Layer of the --units file.")(function)
    return click.option("--units", type=FILE, default=None, help="Planning units (polygons).")(function)


def int_list(text: str, option: str, example: str) -> list[int]:
    """Integer codes from a comma-separated option value, or a clear error naming the option."""
    from carbonmap.errors import InputError

    try:
        return [int(c) for c in text.split(",") if c.strip()]
    except ValueError as exc:
        raise InputError(f"{option} must be integer codes, got {text!r}.", fix=f"e.g. {option} {example}") from exc


def units_section(units: Path | None, layer: str | None, id_field: str | None, assume_crs: str | None):
    """The [units] section the ``--units`` options describe (None without --units)."""
    from carbonmap.config import UnitsSection

    return None if units is None else UnitsSection(path=units, id_field=id_field, layer=layer,
                                                   assume_crs=assume_crs)


@contextmanager
def keys_as_options(options: dict[str, str]):
    """Errors that name a project-file key the command takes as an option name the option instead.

    `options`: project-file key -> option (``{"compensation.restriction": "--restriction"}``); the
    key's last part in the fix (``zone_field``) becomes the option too. Other errors pass unchanged.
    """
    from carbonmap.errors import compose_message

    try:
        yield
    except CarbonmapError as exc:
        option = options.get(exc.key or "")
        if option is None:
            raise
        fix = exc.fix
        for key, name in options.items():
            fix = fix and re.sub(rf"\b{re.escape(key.rpartition('.')[2])}\b", name, fix)
        exc.key, exc.fix = None, fix
        exc.problem = f"option {option}: {exc.problem}"
        exc.args = (compose_message(exc.problem, path=exc.path, layer=exc.layer, field=exc.field, fix=fix),)
        raise
