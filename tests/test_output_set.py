"""One output set: a killed or failed run leaves the previous complete set as it was, the next
run removes the leftovers, one run at a time writes to a folder, a full disk is said so; and
the state for --only is data that no file can turn into code."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from importlib.resources import files
from pathlib import Path

import numpy as np
import pyogrio
import pytest

from carbonmap.errors import InputError, OutputError
from carbonmap.outputset import LOCK, output_set

DEMO_PROJECT = Path(str(files("carbonmap.sample_data") / "demo_city" / "project.toml"))
OLINDA_PROJECT = Path(str(files("carbonmap.sample_data") / "olinda" / "project.toml"))


#: A child running carbonmap that holds the first temporary file named like $CARBONMAP_TEST_HOLD
#: (a glob of the name) for 60 s before renaming it into place: a test stopping the run while
#: that file exists then never misses it (an HTML page is otherwise written in a few milliseconds).
_HOLDING_CHILD = """
import fnmatch, os, runpy, sys, time
pattern, replace = os.environ["CARBONMAP_TEST_HOLD"], os.replace
def held(src, dst, *args, **kwargs):
    if fnmatch.fnmatch(os.path.basename(os.fspath(src)), pattern):
        time.sleep(60)
    return replace(src, dst, *args, **kwargs)
os.replace = held
sys.argv = ["carbonmap", *sys.argv[1:]]
runpy.run_module("carbonmap", run_name="__main__", alter_sys=True)
"""


def carbonmap(*args: object, hold: str | None = None, **popen) -> subprocess.Popen:
    """`carbonmap ARGS` in a child process that Ctrl-C (SIGINT) stops, even when the tests themselves
    run in the background of a shell (which starts them with SIGINT ignored, and children inherit it);
    with `hold`, the child keeps the first temporary file whose name matches it (see above)."""
    command = [sys.executable, "-m", "carbonmap"] if hold is None else [sys.executable, "-c", _HOLDING_CHILD]
    if hold is not None:
        popen["env"] = {**os.environ, "CARBONMAP_TEST_HOLD": hold.rsplit("/", 1)[-1]}
    return subprocess.Popen([*command, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL), **popen)


def complete_set(folder: Path) -> dict[str, str]:
    """The files of the folder's set by its manifest, each checked against its SHA-256."""
    manifest = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    listed = {}
    for entry in manifest["files"]:
        data = (folder / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], entry["path"]
        listed[entry["path"]] = entry["sha256"]
    on_disk = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    killed = set(leftovers(folder))  # a killed run's staging folder, removed by the next run
    assert on_disk - set(listed) - killed - {"run.json", LOCK} == set(), "files outside the set"
    assert pyogrio.list_layers(folder / "onemap.gpkg").size > 0  # it opens
    return listed


def leftovers(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if ".carbonmap-staging-" in str(p) or ".carbonmap-old-" in str(p) or ".tmp-" in p.name
                  or p.name.endswith(".staging.tif") or p.name == ".carbonmap-swap.json")


def kill_when(process: subprocess.Popen, folder: Path, pattern: str, sig: int, timeout: float = 120) -> str:
    """Send `sig` to `process` as soon as a file matching `pattern` appears in its staging folder."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(folder.glob(f".carbonmap-staging-{process.pid}/{pattern}"))
        if found:
            process.send_signal(sig)
            process.wait(60)
            return found[0].name
        if process.poll() is not None:
            pytest.fail(f"the run ended before writing {pattern}: {process.stdout.read()}")
        time.sleep(0.002)
    process.kill()
    pytest.fail(f"no {pattern} within {timeout} s")


@pytest.fixture(scope="module")
def previous(project_run, tmp_path_factory) -> Path:
    """A copy of a complete set of the demo project (with its state) to be disturbed."""
    folder = tmp_path_factory.mktemp("sets") / "out"
    shutil.copytree(project_run, folder)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "args", "pattern"), [
    (signal.SIGKILL, (), "rasters/.*.tmp-*"),
    (signal.SIGINT, (), "rasters/.*.tmp-*"),
    (signal.SIGINT, ("--only", "onemap"), ".onemap.tmp-*.html"),
    (signal.SIGKILL, ("--only", "onemap"), ".onemap.tmp-*.html"),
    (signal.SIGKILL, ("--only", "onemap"), ".onemap.tmp-*.gpkg"),
    (signal.SIGTERM, ("--only", "onemap"), ".onemap.tmp-*.gpkg"),
], ids=["kill-rasters", "int-rasters", "int-html", "kill-html", "kill-gpkg", "term-gpkg"])
def test_a_killed_run_leaves_the_previous_set_intact(previous, sig, args, pattern):
    before = complete_set(previous)
    process = carbonmap("run", DEMO_PROJECT, "-o", previous, "-q", *args, hold=pattern)
    kill_when(process, previous, pattern, sig)
    assert complete_set(previous) == before
    if sig != signal.SIGKILL:  # stopped cleanly: nothing left behind
        assert leftovers(previous) == []


@pytest.mark.slow
def test_the_next_run_removes_leftovers_and_replaces_the_whole_set(previous, tmp_path):
    process = carbonmap("run", DEMO_PROJECT, "-o", previous, "-q", "--only", "onemap")
    kill_when(process, previous, ".onemap.tmp-*.gpkg", signal.SIGKILL)
    assert leftovers(previous)  # a killed run cannot clean up
    (previous / "rasters" / "from_an_older_run.tif").write_bytes(b"not part of any set")
    stale = json.loads((previous / "run.json").read_text())
    stale["files"].append({"path": "rasters/from_an_older_run.tif", "sha256": hashlib.sha256(
        b"not part of any set").hexdigest(), "bytes": 19})
    (previous / "run.json").write_text(json.dumps(stale))
    process = carbonmap("run", DEMO_PROJECT, "-o", previous, "-q", "--only", "onemap")
    assert process.wait(300) == 0, process.stdout.read()
    assert leftovers(previous) == []
    assert not (previous / "rasters" / "from_an_older_run.tif").exists()  # the old set went as a whole
    assert "rasters/mspa.tif" in complete_set(previous)  # earlier stages' files are in the new set


@pytest.mark.slow
def test_a_second_run_on_the_same_folder_stops_at_once(tmp_path):
    out = tmp_path / "out"
    first = carbonmap("run", DEMO_PROJECT, "-o", out, "-q")
    deadline = time.monotonic() + 60
    while not (out / f".carbonmap-staging-{first.pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    began = time.monotonic()
    second = carbonmap("run", OLINDA_PROJECT, "-o", out, "-q")
    output = second.communicate(timeout=60)[0]
    assert second.returncode == 1
    assert f"another carbonmap run (process {first.pid}" in output and "Fix: wait for it" in output
    assert time.monotonic() - began < 15  # at once, not after the first run
    first.send_signal(signal.SIGINT)
    first.wait(60)
    assert not out.exists()  # the first run was the folder's first: nothing is left


def test_a_failing_first_run_leaves_no_folder_and_a_failing_rerun_keeps_the_set(tmp_path):
    with pytest.raises(RuntimeError), output_set(tmp_path / "new") as outputs:
        (outputs.staging / "onemap.gpkg").write_bytes(b"half")
        raise RuntimeError("a stage failed")
    assert not (tmp_path / "new").exists()
    with output_set(tmp_path / "kept") as outputs:
        (outputs.staging / "unit_summary.csv").write_text("unit_id\n1\n")
        outputs.commit({})
    with pytest.raises(KeyboardInterrupt), output_set(tmp_path / "kept") as outputs:
        (outputs.staging / "unit_summary.csv").write_text("unit_id\n2\n")
        raise KeyboardInterrupt
    assert (tmp_path / "kept" / "unit_summary.csv").read_text() == "unit_id\n1\n"
    assert sorted(p.name for p in (tmp_path / "kept").iterdir()) == [LOCK, "run.json", "unit_summary.csv"]


def test_files_of_another_program_are_never_replaced(tmp_path):
    (tmp_path / "onemap.html").write_text("the user's own page")
    with pytest.raises(OutputError, match="onemap.html already exist.*not written by carbonmap"):
        with output_set(tmp_path):  # before any work
            pytest.fail("the run started")
    (tmp_path / "onemap.html").rename(tmp_path / "mine.html")
    (tmp_path / "notes").mkdir()
    with pytest.raises(OutputError, match="notes already exist"), output_set(tmp_path) as outputs:
        (outputs.staging / "notes").mkdir()  # a name carbonmap learns only at the end
        (outputs.staging / "notes" / "a.txt").write_text("x")
        outputs.commit({})
    assert (tmp_path / "mine.html").read_text() == "the user's own page" and not (tmp_path / "notes" / "a.txt").exists()


_FULL_DISK = textwrap.dedent("""
    import json, subprocess, sys, os
    out = sys.argv[1] + "/out"
    def run():
        p = subprocess.run([sys.executable, "-m", "carbonmap", "run", sys.argv[2], "-o", out, "-q"],
                           capture_output=True, text=True)
        return p.returncode, p.stdout + p.stderr
    first = run()
    manifest = json.load(open(out + "/run.json"))
    stat = os.statvfs(sys.argv[1])
    with open(sys.argv[1] + "/filler", "wb") as f:  # leave about 300 kB free
        f.write(b"0" * max(0, stat.f_bavail * stat.f_frsize - 300_000))
    second = run()
    import hashlib
    intact = all(hashlib.sha256(open(out + "/" + e["path"], "rb").read()).hexdigest() == e["sha256"]
                 for e in manifest["files"])
    left = [n for n in os.listdir(out) if n.startswith(".carbonmap-staging-")]
    print(json.dumps({"first": first, "second": second, "intact": intact, "left": left}))
""")


@pytest.mark.slow
def test_a_full_disk_is_said_so_and_keeps_the_previous_set(tmp_path):
    """On a 20 MB filesystem of its own (a tmpfs in a user and mount namespace)."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    mount = tmp_path / "small"
    mount.mkdir()
    script = tmp_path / "full_disk.py"
    script.write_text(_FULL_DISK)
    command = (f"mount -t tmpfs -o size=20m tmpfs {mount} && "
               f"{sys.executable} {script} {mount} {OLINDA_PROJECT}")
    probe = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"cannot make a mount namespace here: {probe.stderr.decode().strip()}")
    done = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", command],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": os.getcwd()})
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["first"][0] == 0, result["first"][1]
    code, output = result["second"]
    assert code == 1 and f"no space left on {mount}/out" in output, output
    assert "Traceback" not in output
    assert result["intact"] and result["left"] == []


# --------------------------------------------------------------------------- the state


class _Payload:
    """Unpickling this runs code: it would create the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "code ran"))


def test_a_planted_state_never_runs_code(previous, tmp_path):
    from carbonmap.config import load_project
    from carbonmap.pipeline import run

    folder = tmp_path / "out"
    shutil.copytree(previous, folder)
    marker = tmp_path / "marker"
    project = load_project(DEMO_PROJECT).with_output_dir(folder)
    state = folder / ".carbonmap" / "state"
    # 1. a pickle where an older version kept its state
    (folder / ".carbonmap" / "run_state.pkl").write_bytes(pickle.dumps(_Payload(marker)))
    # 2. a NumPy file of the state holding a pickled object
    arrays = next(state.glob("*/*.npz"))
    np.savez(arrays.with_suffix(""), data=np.array([_Payload(marker)], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="the saved state is damaged") as error:
        run(project, quiet=True, only="balance")
    assert "Fix: run the whole project once" in str(error.value)
    assert not marker.exists()
    # 3. a manifest naming a file outside the state folder
    manifest = json.loads((state / "manifest.json").read_text())
    manifest["saved"]["units"]["result"]["fields"]["frame"]["geoframe"]["file"] = "../../../../etc/passwd"
    (state / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="unexpected file name in the saved state"):
        run(project, quiet=True, only="balance")
    # 4. a state without a stage this version has (made before the stage existed)
    stage = manifest["saved"].pop("compensation")
    (state / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="the saved run has no state of stage compensation"):
        run(project, quiet=True, only="onemap")
    manifest["saved"]["compensation"] = stage
    # 5. a state written by another version
    manifest["carbonmap_version"] = "0.0.1"
    (state / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match=r"the saved run is from carbonmap 0\.0\.1"):
        run(project, quiet=True, only="balance")
    assert not marker.exists()
    assert leftovers(folder) == []  # a refused rerun leaves nothing behind


def test_the_state_is_smaller_than_the_outputs(demo_run):
    state = sum(p.stat().st_size for p in (demo_run / ".carbonmap").rglob("*") if p.is_file())  # with its layers
    outputs = sum(p.stat().st_size for p in demo_run.rglob("*") if p.is_file()) - state
    assert state < 0.3 * outputs  # the state shares the rasters already written
