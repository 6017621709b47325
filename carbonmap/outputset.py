"""One output set: a run's files appear together, complete, or not at all.

A run writes into a staging folder inside the output folder
(``OUT/.carbonmap-staging-<pid>``). Only when every file is written does it add the
manifest ``run.json`` (carbonmap version, project hash, finish time, every file with its
SHA-256) and swap the whole set in, replacing the previous set as a whole: a killed or
failed run leaves the previous complete set as it was, and files of an earlier run that
this run does not produce do not stay mixed in.

The swap is a handful of renames, journaled in ``OUT/.carbonmap-swap.json`` so that a run
killed in the middle of it is completed by the next one. The next run also removes the
leftovers of killed runs. One run at a time writes to a folder: a second one stops at once,
naming the process that holds the folder (an ``flock`` on ``OUT/.carbonmap.lock``, which
the system releases even when a run is killed).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import fcntl
import json
import os
import re
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from carbonmap import __version__
from carbonmap.errors import OutputError
from carbonmap.io import atomic_path, file_digest

__all__ = ["MANIFEST", "output_set", "OutputSet", "is_disk_full", "disk_full_error"]

MANIFEST = "run.json"
LOCK = ".carbonmap.lock"
JOURNAL = ".carbonmap-swap.json"
STAGING_PREFIX = ".carbonmap-staging-"
OLD_PREFIX = ".carbonmap-old-"
#: What carbonmap versions without a manifest wrote (recognised by OUT/.carbonmap/run_state.pkl).
LEGACY_ENTRIES = ("onemap.gpkg", "onemap.html", "report.html", "unit_summary.csv", "rasters", ".carbonmap")
LEGACY_MARKER = Path(".carbonmap") / "run_state.pkl"


class OutputSet:
    """The staging folder of a run and the swap that publishes it (see the module docstring)."""

    def __init__(self, folder: Path, staging: Path) -> None:
        self.folder = folder
        self.staging = staging
        self.committed = False

    def previous_entries(self) -> list[str]:
        """Top-level names of the complete set now in the folder."""
        manifest = self.folder / MANIFEST
        if manifest.exists():
            try:
                files = json.loads(manifest.read_text(encoding="utf-8"))["files"]
                names = {Path(f["path"]).parts[0] for f in files}
            except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
                raise OutputError("the manifest of the outputs in this folder is damaged.", path=manifest,
                                  fix="remove the folder's carbonmap outputs, or choose another output folder.") \
                    from exc
            return sorted(names | {MANIFEST})
        if (self.folder / LEGACY_MARKER).exists():
            return [name for name in LEGACY_ENTRIES if (self.folder / name).exists()]
        return []

    def check_no_foreign_files(self, names: tuple[str, ...]) -> None:
        """Stop if any of `names` is in the folder but not in its carbonmap set (a user's own file)."""
        previous = self.previous_entries()
        foreign = [name for name in names if (self.folder / name).exists() and name not in previous]
        if foreign:
            raise OutputError(f"{', '.join(foreign)} already exist(s) here and were not written by carbonmap.",
                              path=self.folder, fix="choose an empty output folder, or move those files away.")

    def commit(self, record: dict[str, Any]) -> dict[str, Any]:
        """Write ``run.json`` into the staging folder and swap the set in. Returns the manifest."""
        files = sorted(p for p in self.staging.rglob("*") if p.is_file())
        entries = []
        for path in files:
            digest, size = file_digest(path)
            entries.append({"path": path.relative_to(self.staging).as_posix(), "sha256": digest, "bytes": size})
        manifest = {"carbonmap_version": __version__, **record,
                    "finished_utc": _now(), "files": entries}
        (self.staging / MANIFEST).write_text(json.dumps(manifest, indent=1, ensure_ascii=False), encoding="utf-8")
        new = sorted({Path(e["path"]).parts[0] for e in entries} | {MANIFEST})
        self.check_no_foreign_files(tuple(new))
        previous = self.previous_entries()
        journal = {"staging": self.staging.name, "old": OLD_PREFIX + self.staging.name[len(STAGING_PREFIX):],
                   "new": new, "previous": previous}
        with atomic_path(self.folder / JOURNAL) as tmp:
            tmp.write_text(json.dumps(journal), encoding="utf-8")
        _complete_swap(self.folder, journal)
        self.committed = True
        return manifest


def _complete_swap(folder: Path, journal: dict[str, Any]) -> None:
    """Carry out (or finish) a journaled swap; safe to repeat after an interruption."""
    staging, old = folder / journal["staging"], folder / journal["old"]
    old.mkdir(exist_ok=True)
    for name in journal["previous"]:
        current = folder / name
        not_moved_in = name not in journal["new"] or (staging / name).exists()
        if (current.exists() or current.is_symlink()) and not_moved_in and not (old / name).exists():
            os.replace(current, old / name)
    for name in journal["new"]:
        if (staging / name).exists():
            os.replace(staging / name, folder / name)
    (folder / JOURNAL).unlink(missing_ok=True)
    shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(staging, ignore_errors=True)


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()


def _clean_leftovers(folder: Path) -> list[str]:
    """Finish an interrupted swap, then remove staging folders and temporary files of killed runs."""
    journal = folder / JOURNAL
    if journal.exists():
        try:
            _complete_swap(folder, json.loads(journal.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError):
            journal.unlink(missing_ok=True)
    removed = []
    for path in folder.iterdir():
        if path.is_dir() and path.name.startswith((STAGING_PREFIX, OLD_PREFIX)):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    for pattern in (".*.tmp-*", "rasters/.*.tmp-*", "rasters/*.staging.tif"):  # older versions' temp files
        for path in folder.glob(pattern):
            path.unlink(missing_ok=True)
            removed.append(path.name)
    return removed


@contextlib.contextmanager
def _folder_lock(folder: Path) -> Iterator[None]:
    """Hold the folder's lock for the block; stop at once if another run holds it."""
    path = folder / LOCK
    handle = open(path, "a+", encoding="utf-8")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise
            handle.seek(0)
            holder = _describe_holder(handle.read())
            raise OutputError(f"another carbonmap run ({holder}) is writing to this folder.", path=folder,
                              fix="wait for it to finish, or choose another output folder.") from None
        with contextlib.suppress(OSError):  # who holds the lock, for the message of a second run
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started_utc": _now()}))
            handle.flush()
        yield
    finally:
        handle.close()  # releases the lock


def _describe_holder(text: str) -> str:
    try:
        holder = json.loads(text)
        return f"process {holder['pid']} on {holder['host']}, started {holder['started_utc']}"
    except (ValueError, KeyError, TypeError):
        return "process unknown"


@contextlib.contextmanager
def output_set(folder: str | os.PathLike) -> Iterator[OutputSet]:
    """Lock `folder`, clean leftovers of killed runs, and yield a fresh :class:`OutputSet`.

    The caller writes into ``.staging`` and calls :meth:`OutputSet.commit`; if the block
    raises (or is interrupted) before that, the staging folder is removed and the folder's
    previous set is untouched. A full disk is reported as :func:`disk_full_error`.
    """
    folder = Path(folder).resolve()
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder: {exc.strerror}.", path=folder,
                          fix="choose an output folder you can write to.") from exc
    outputs = None
    try:
        with _folder_lock(folder):
            _clean_leftovers(folder)
            staging = folder / f"{STAGING_PREFIX}{os.getpid()}"
            staging.mkdir()
            outputs = OutputSet(folder, staging)
            try:
                outputs.check_no_foreign_files((*LEGACY_ENTRIES, MANIFEST, "run.log"))
                yield outputs
            except BaseException as exc:
                if is_disk_full(exc) or shutil.disk_usage(folder).free < NEARLY_FULL_BYTES:
                    raise disk_full_error(folder) from exc
                raise
            finally:
                if not outputs.committed:
                    shutil.rmtree(staging, ignore_errors=True)
    finally:
        if created and (outputs is None or not outputs.committed):  # a failed first run leaves no folder
            shutil.rmtree(folder, ignore_errors=True)


#: A run that fails with less free space than this on its folder's disk failed for want of space
#: (GDAL reports a full disk as "Write failed", naming the cause only in its log).
NEARLY_FULL_BYTES = 4 * 2**20
_DISK_FULL = re.compile(r"no space left|disk is full|free disk space|not enough space|ENOSPC", re.IGNORECASE)


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) is a full disk, however the library reports it."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if _DISK_FULL.search(str(exc)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def disk_full_error(folder: Path) -> OutputError:
    return OutputError(f"no space left on {folder}.", path=folder,
                       fix="free some space or choose another output folder (--output); the previous outputs "
                           "in the folder are intact.")
