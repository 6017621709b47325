"""Where a run's tiles and partitions are computed: in this process, or on dask.distributed.

A raster analysis is written as "one window (plus a halo) in, a small partial result out"
(:doc:`DESIGN.md <architecture>`, performance rules); this module runs such tasks and hands
their results back **in order**, so the caller combines them exactly as a serial loop would and
a run's tables are the same, bit for bit, whichever way the tasks ran. There is one
implementation of every analysis; only the executor changes:

``in-process`` (the default, no setup)
    a pool of threads in the running process (``workers`` threads, default: the machine's
    cores). The tasks' heavy parts (GDAL reads and rasterising, numpy) release the GIL, so the
    cores work together.
``local``
    a :class:`distributed.LocalCluster` of ``workers`` worker *processes*, each with
    ``threads_per_worker`` threads and a ``memory_limit`` (dask spills, pauses and restarts a
    worker that goes over it), started for the run and closed after it.
an address (``tcp://host:8786``)
    an existing dask.distributed scheduler: a planning institute's cluster (dask-jobqueue on a
    batch system, dask-kubernetes, ``dask scheduler`` + ``dask worker`` by hand). Its workers
    need the same carbonmap version and must read the run's files at the same paths (a shared
    file system): tasks carry file paths and windows, or a small piece of a vector layer (a run of
    features and the zones they meet, a partition of roofs), not whole layers.

Tasks reach worker processes through dask's own serialisation (pickle, over the cluster's
connections); nothing a user can edit is ever unpickled. Use clusters you control.

:func:`ordered_map` is the one entry point of the analyses; :func:`compute_session` (used by the
runner for ``[compute]``) picks the executor for the code inside it.
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import ctypes.util
import functools
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from carbonmap.errors import ConfigError

__all__ = ["SCHEDULERS", "PLACES", "ComputeSettings", "narrowest", "Session", "compute_session", "current_session", "ordered_map",
           "parse_memory", "release_free_memory", "MemoryGuard", "MemoryLimitExceeded"]

#: The schedulers by name; any other value must be a dask.distributed address.
SCHEDULERS = ("in-process", "local")
#: How long to try reaching an existing cluster's scheduler.
CONNECT_TIMEOUT = "20s"
_ADDRESS_PREFIXES = ("tcp://", "inproc://", "ucx://", "ws://")


@dataclass(frozen=True)
class ComputeSettings:
    """How to run the tasks of a run (``[compute]`` in the project file, ``--scheduler`` and
    ``--workers`` / ``--memory-limit`` on the command line).

    scheduler : ``"in-process"``, ``"local"`` or the address of a dask.distributed scheduler.
    workers : threads (in-process) or worker processes (local cluster); default: the cores this
        process may use (in-process), 2 (local cluster). Not for an existing cluster.
    threads_per_worker : threads of each worker process of a local cluster (only there).
    memory_limit : memory limit of each process of the run ("12GB", "6 GiB", "500MB"): the
        run's own process, whatever the scheduler (:class:`MemoryGuard`), and each worker
        process of a local cluster (dask's limit); default: none for the run's process, the
        machine's memory shared between a local cluster's workers.
    """

    scheduler: str = "in-process"
    workers: int | None = None
    threads_per_worker: int = 1
    memory_limit: str | None = None


@dataclass
class Session:
    """The executor of the tasks inside one :func:`compute_session`.

    description : in words, for the run's log and manifest ("in-process, 2 threads").
    distributed : whether tasks run in other processes (their arguments must then be data a
        worker can use: file paths rather than open datasets).
    client : the dask.distributed client, when distributed.
    activity : what the run is doing (the runner sets the stage's name), for messages.
    """

    executor: Executor
    description: str
    distributed: bool
    threads: int = 1
    client: Any = None
    activity: str = ""

    @property
    def slots(self) -> int:
        """How many tasks run at once now (a cluster's workers may come and go)."""
        if self.client is None:
            return self.threads
        return max(1, sum(self.client.nthreads().values()))


_SESSION: contextvars.ContextVar[Session | None] = contextvars.ContextVar("carbonmap_compute", default=None)


def check_settings(settings: ComputeSettings) -> list[tuple[str, str, str]]:
    """Problems with `settings`, as (key, problem, example value) tuples (empty when usable)."""
    problems = []
    local, address = settings.scheduler == "local", settings.scheduler not in SCHEDULERS
    if address and not settings.scheduler.startswith(_ADDRESS_PREFIXES):
        problems.append(("scheduler", f"unknown scheduler {settings.scheduler!r}: use 'in-process' or 'local', or "
                         "a dask cluster's address.", "tcp://10.0.0.5:8786"))
    if settings.workers is not None and settings.workers < 1:
        problems.append(("workers", f"workers must be at least 1, not {settings.workers}.", "2"))
    if settings.threads_per_worker < 1:
        problems.append(("threads_per_worker", f"threads_per_worker must be at least 1, not "
                         f"{settings.threads_per_worker}.", "1"))
    if settings.memory_limit is not None:
        try:
            parse_memory(settings.memory_limit)
        except ValueError as exc:
            problems.append(("memory_limit", str(exc), "6GB"))
    if settings.threads_per_worker != 1 and not local:
        problems.append(("threads_per_worker", f"threads_per_worker applies to the worker processes of a local "
                         f"cluster only, not to {settings.scheduler!r}.", "local"))
    if settings.workers is not None and address:
        problems.append(("workers", "workers are the cluster's own (dask worker --nworkers), not the run's.", "local"))
    return problems


def settings_fix(key: str, example: str, *, option: bool = False) -> str:
    """The fix of a problem of :func:`check_settings`, in the project file's words or, with `option`,
    the command line's."""
    if example == "local" and key != "scheduler":
        return (f"add --scheduler local, or leave out --{key.replace('_', '-')}." if option
                else f"set scheduler = \"local\", or remove {key}.")
    if option:
        return f"give e.g. --{key.replace('_', '-')} {example}."
    return f"give e.g. {key} = {example if example.isdigit() else repr(example).replace(chr(39), chr(34))}."


def parse_memory(text: str) -> int:
    """Bytes in a memory size such as "6GB", "6 GiB" or "500MB" (dask's own parser).

    Raises ValueError for text that is not a positive size.
    """
    from dask.utils import parse_bytes

    try:
        value = parse_bytes(str(text))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{text!r} is not a memory size.") from exc
    if value <= 0:
        raise ValueError(f"{text!r} is not a positive memory size.")
    return int(value)


@contextlib.contextmanager
def compute_session(settings: ComputeSettings | None = None) -> Iterator[Session]:
    """Run the tasks of the code inside on the executor `settings` ask for (module docstring).

    A local cluster is started here and closed on exit; an existing cluster is only connected
    to. Errors name the settings by their project-file keys (``compute.scheduler``).

    Raises
    ------
    ConfigError
        For unusable settings, or a cluster that cannot be reached.
    """
    settings = settings or ComputeSettings()
    problems = check_settings(settings)
    if problems:
        key, problem, example = problems[0]
        raise ConfigError(problem, key=f"compute.{key}", fix=settings_fix(key, example))
    guard = MemoryGuard(parse_memory(settings.memory_limit)) if settings.memory_limit else None
    session = None
    try:
        with contextlib.ExitStack() as stack:
            if settings.scheduler == "in-process":
                threads = settings.workers or len(os.sched_getaffinity(0)) or 1
                executor = stack.enter_context(ThreadPoolExecutor(threads, thread_name_prefix="carbonmap"))
                session = Session(executor, f"in-process, {threads} thread(s)", distributed=False, threads=threads)
            else:
                session = _distributed_session(settings, stack)
            if guard is not None:
                session.description += f"; this process within {settings.memory_limit}"
            token = _SESSION.set(session)
            try:
                yield session
            except MemoryLimitExceeded:
                pass  # said below
            finally:  # disarmed before the executor and the cluster are closed, so their closing is whole
                exceeded = guard.stop() if guard is not None else 0
                _SESSION.reset(token)
    except MemoryLimitExceeded:  # raised while the session was being set up
        exceeded = guard.stop()
    finally:
        if guard is not None:
            guard.stop()
    if exceeded:
        during = f" during {session.activity}" if session is not None and session.activity else ""
        raise ConfigError(f"the run's process used {_size(exceeded)}{during}, more than memory_limit = "
                          f"{settings.memory_limit}; it stopped there.", key="compute.memory_limit",
                          fix="raise memory_limit, or lighten that stage (docs/scale.md, memory: e.g. "
                          "[network] resolution_m).")


def _size(size: int) -> str:
    """A memory size in words: "12.1 GB", "512 MB"."""
    return f"{size / 1e9:.1f} GB" if size >= 1e9 else f"{size / 1e6:.0f} MB"


class MemoryLimitExceeded(BaseException):
    """Raised in the thread that runs the analyses when its process passes the memory limit (a
    BaseException, like KeyboardInterrupt, so that no ``except Exception`` of the code it
    interrupts can swallow it); :func:`compute_session` says it as a :class:`ConfigError`."""


class MemoryGuard:
    """Stop the calling thread when this process's resident memory passes `limit` [bytes].

    A thread samples the resident set size every `every_s` seconds; the first sample above the
    limit is kept in ``exceeded`` and raises :class:`MemoryLimitExceeded` in the thread that
    made the guard (``PyThreadState_SetAsyncExc``: unlike a simulated Ctrl-C, it also works
    where SIGINT is ignored, as in a job started in the background). That thread stops at its
    next Python instruction (waiting for tasks, :func:`ordered_map` looks up every 0.2 s), so a
    long step of compiled code may go further first: this is a guard against a run taking a
    shared machine's memory, not a hard limit (the operating system has no per-process one that
    counts resident memory).
    """

    def __init__(self, limit: int, *, every_s: float = 0.2) -> None:
        import psutil

        self.exceeded = 0  # the resident memory that passed the limit [bytes], 0 while within it
        self._limit, self._every_s, self._process = limit, every_s, psutil.Process()
        self._target, self._done = threading.get_ident(), threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="carbonmap-memory-guard", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        while not self._done.wait(self._every_s):
            resident = self._process.memory_info().rss
            if resident > self._limit:
                self.exceeded = resident
                _raise_in(self._target, MemoryLimitExceeded)
                return

    def stop(self) -> int:
        """Stop watching; the resident memory that passed the limit [bytes] (0: it never did).
        An interruption not yet raised is dropped, the limit being said by the return value; one
        raised while stopping is caught (the watcher raises once), and stopping again is harmless."""
        while True:
            try:
                self._done.set()
                self._watcher.join()
                _raise_in(self._target, None)
                return self.exceeded
            except MemoryLimitExceeded:
                continue


def _raise_in(thread_id: int, exception: type[BaseException] | None) -> None:
    """Raise `exception` in the thread `thread_id` at its next Python instruction (None: cancel
    one pending), through the C API's PyThreadState_SetAsyncExc."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id),
                                               None if exception is None else ctypes.py_object(exception))


def _distributed_session(settings: ComputeSettings, stack: contextlib.ExitStack) -> Session:
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - a dependency of carbonmap
        raise ConfigError("the dask scheduler needs dask.distributed.", key="compute.scheduler",
                          fix="pip install 'dask[distributed]'.") from exc
    if settings.scheduler == "local":
        workers = settings.workers or 2
        memory = parse_memory(settings.memory_limit) if settings.memory_limit else "auto"
        cluster = stack.enter_context(LocalCluster(
            n_workers=workers, threads_per_worker=settings.threads_per_worker, processes=True,
            memory_limit=memory, dashboard_address=":0", silence_logs=logging.ERROR))
        client = stack.enter_context(Client(cluster, set_as_default=False))
        limit = f", {settings.memory_limit} each" if settings.memory_limit else ""
        description = (f"local dask cluster, {workers} worker process(es) x "
                       f"{settings.threads_per_worker} thread(s){limit}")
    else:
        try:
            client = stack.enter_context(Client(settings.scheduler, set_as_default=False, timeout=CONNECT_TIMEOUT))
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"cannot reach the dask scheduler at {settings.scheduler} ({exc}).",
                              key="compute.scheduler",
                              fix="start it (dask scheduler; dask worker ADDRESS), or check the address "
                              "and the firewall.") from exc
        try:
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
        except TimeoutError as exc:
            raise ConfigError(f"the dask scheduler at {settings.scheduler} has no workers.", key="compute.scheduler",
                              fix="start some (dask worker ADDRESS, or cluster.scale(...)) before the run.") from exc
        description = f"dask cluster at {settings.scheduler}"
    import dask

    # dask advises against large task graphs sent again and again; each of our tasks (a strip and
    # its zones) is sent once
    stack.enter_context(dask.config.set({"distributed.admin.large-graph-warning-threshold": "64GiB"}))
    session = Session(client.get_executor(pure=False), description, distributed=True, client=client)
    session.description += f" ({session.slots} task slot(s) at the start)"
    return session


def current_session() -> Session | None:
    """The session of the code running now (None outside :func:`compute_session`)."""
    return _SESSION.get()


#: Where :func:`ordered_map` may run a task (see there).
PLACES = ("session", "process", "thread")


def ordered_map(function: Callable[..., Any], items: Iterable[Any], *, where: str = "session",
                shared: Sequence[Any] = ()) -> Iterator[Any]:
    """``function(*shared, item)`` for each item, computed on the current session, yielded in order.

    At most twice the session's task slots run or wait at once, so memory stays bounded by the
    results not yet consumed. Outside a session (a library call) the tasks run on threads of this
    process, as in-process.

    `where`: ``"session"``, anywhere the session runs tasks; ``"process"``, in this process, for
    arguments that only live here (arrays in memory): on the session's threads when it is
    in-process, else one after another in this thread; ``"thread"``, one after another in this
    thread, for arguments one thread at a time may use (an open dataset).

    `shared`: values every task reads (a fitted model), handed to each task before its item. A
    distributed session sends each of them to the cluster once, as a task of its own whose result
    the tasks read (each worker fetches it when its first task needs it, and the cluster runs it
    again if the worker holding it dies), not with every task as it would a value bound into
    `function`; elsewhere they are passed as they are.

    An exception of a task is raised here, in order.
    """
    if where not in PLACES:
        raise ValueError(f"where must be one of {PLACES}, not {where!r}")
    session = current_session()
    if where == "thread" or (where == "process" and session is not None and session.distributed):
        yield from (function(*shared, item) for item in items)
    elif session is None:
        with compute_session() as session:
            yield from _bounded(session, function, items, shared)
    else:
        yield from _bounded(session, function, items, shared)


def narrowest(places: Iterable[str]) -> str:
    """The narrowest of `places` (:data:`PLACES`): where tasks reading all of them may run."""
    return min(places, key=PLACES.index, default="session")


def _result(future) -> Any:
    """A task's result; a worker the cluster killed (over its memory limit) is said in words."""
    try:
        while True:  # short waits: the memory guard's interruption is raised between them
            try:
                return future.result(timeout=0.2)
            except TimeoutError:
                continue
    except Exception as exc:
        if type(exc).__name__ != "KilledWorker":
            raise
        raise ConfigError(f"a dask worker was killed while running a task ({exc}).", key="compute.memory_limit",
                          fix="give each worker more memory (memory_limit), or use fewer worker processes "
                          "(workers).") from exc


def _identity(value: Any) -> Any:
    """`value` itself: a task that puts a value on the cluster (:func:`ordered_map`'s `shared`)."""
    return value


def _bounded(session: Session, function: Callable[..., Any], items: Iterable[Any],
             shared: Sequence[Any]) -> Iterator[Any]:
    if shared and session.client is not None:  # sent once, as a task the cluster can run again if its worker dies
        shared = [session.client.submit(_identity, value, pure=False) for value in shared]
    slots, pending = session.slots, deque()
    try:
        for item in items:
            pending.append(session.executor.submit(function, *shared, item))
            if len(pending) > 2 * slots:
                yield _result(pending.popleft())
        while pending:
            yield _result(pending.popleft())
    finally:
        for future in pending:  # a task failed or the caller stopped early
            future.cancel()


def release_free_memory() -> bool:
    """Hand the C heap's free pages back to the operating system (glibc's ``malloc_trim``);
    False where the C library has no such call.

    Notes
    -----
    Geometries and small arrays live on the C heap. When a stage frees millions of them,
    glibc keeps the pages for later small allocations, but large arrays (rasters) are mapped
    apart: without the trim, a vector stage's freed gigabytes stay in the process under the
    raster stages that follow (1.2 GB after reading a city cluster's buildings). dask's
    worker processes get the same effect from their ``MALLOC_TRIM_THRESHOLD_``.

    References
    ----------
    .. [1] dask.distributed documentation, "Worker Memory Management: memory not released back
       to the OS".
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


@functools.cache
def _malloc_trim():
    """The C library's malloc_trim, or None (looked up once: find_library runs ldconfig)."""
    name = ctypes.util.find_library("c")
    return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
