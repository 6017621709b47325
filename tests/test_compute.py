"""Where tasks run (carbonmap.compute): in-process threads, a local dask cluster of worker
processes, or an existing cluster; the same results, in order, whichever way."""

from __future__ import annotations

import os
import re
import threading
import time
import tomllib
from importlib.resources import files
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import CRS as PyprojCRS
from click.testing import CliRunner

from carbonmap.cli import main
from carbonmap.compute import ComputeSettings, compute_session, current_session, ordered_map, parse_memory
from carbonmap.config import load_project, parse_project
from carbonmap.errors import AlignmentError, ConfigError, InputError
from carbonmap.grid import map_windows
from carbonmap.zonal import zonal_categories, zonal_stats

CRS = "EPSG:32650"
TRANSFORM = Affine(30, 0, 500_000, 0, -30, 3_000_000)


def _slow_square(x: int) -> int:
    time.sleep(0.02 * (5 - x % 5))  # later items finish first
    return x * x


def _fail_on_three(x: int) -> int:
    if x == 3:
        raise InputError("cell 3 is bad.", path="strip_3.tif", fix="fix cell 3.")
    return x


def test_ordered_map_yields_in_order_whatever_finishes_first():
    with compute_session(ComputeSettings(workers=4)) as session:
        assert session.slots == 4 and not session.distributed
        assert list(ordered_map(_slow_square, range(12))) == [x * x for x in range(12)]
    assert current_session() is None


def test_ordered_map_keeps_at_most_twice_the_slots_waiting():
    pulled = []

    def items():
        for x in range(40):
            pulled.append(x)
            yield x

    with compute_session(ComputeSettings(workers=2)):
        results = ordered_map(_slow_square, items())
        first = next(results)
        assert first == 0
        assert len(pulled) <= 2 * 2 + 2  # 5 submitted before the first result is asked for, 1 more now
        assert list(results) == [x * x for x in range(1, 40)]


def test_a_task_error_reaches_the_caller_with_its_file():
    with compute_session(ComputeSettings(workers=2)), pytest.raises(InputError) as error:
        list(ordered_map(_fail_on_three, range(8)))
    assert error.value.path == "strip_3.tif" and "Fix: fix cell 3." in str(error.value)


def test_outside_a_session_tasks_still_run_on_threads():
    seen = set()

    def where(x):
        seen.add(threading.current_thread().name)
        return x

    assert list(ordered_map(where, range(6))) == list(range(6))
    assert all(name.startswith("carbonmap") for name in seen)


@pytest.mark.parametrize("text, size", [("6GB", 6_000_000_000), ("6 GiB", 6 * 2**30), ("500MB", 500_000_000)])
def test_memory_sizes(text, size):
    assert parse_memory(text) == size


@pytest.mark.parametrize("changes, words", [
    ({"scheduler": "lokal"}, "option --scheduler: unknown scheduler 'lokal'"),
    ({"workers": 0}, "option --workers: workers must be at least 1, not 0. Fix: give e.g. --workers 2."),
    ({"memory_limit": "lots"}, "option --memory-limit: 'lots' is not a memory size."),
    ({"scheduler": "tcp://10.0.0.5:8786", "workers": 4}, "option --workers: workers are the cluster's own"),
])
def test_bad_compute_options_name_the_option(changes, words):
    project = load_project(files("carbonmap.sample_data") / "demo_city" / "project.toml")
    with pytest.raises(ConfigError) as error:
        project.with_compute(**changes)
    assert words in str(error.value) and error.value.path is None and error.value.key is None


def test_the_project_file_compute_section_is_checked():
    source = files("carbonmap.sample_data") / "demo_city" / "project.toml"
    data = tomllib.loads(source.read_text(encoding="utf-8"))
    data["compute"] = {"scheduler": "local", "workers": 2, "memory_limit": "3 GB"}
    project = parse_project(data, Path(source))
    assert project.compute == ComputeSettings(scheduler="local", workers=2, memory_limit="3 GB")
    data["compute"]["memory_limit"] = "three"
    with pytest.raises(ConfigError) as error:
        parse_project(data, Path(source))
    assert error.value.key == "compute.memory_limit" and error.value.path == str(source)
    assert error.value.fix == 'give e.g. memory_limit = "6GB".'


def test_a_task_error_crosses_processes_with_its_pieces():
    """carbonmap's errors keep their file, key and fix when rebuilt (as dask rebuilds a worker's error)."""
    import pickle

    from carbonmap.errors import InputNotFoundError

    error = InputNotFoundError("cannot be seen where a task runs.", path="/data/dem.tif", key="rasters[0]",
                               fix="share the folder.")
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is InputNotFoundError and isinstance(again, FileNotFoundError)
    assert (again.path, again.key, again.fix, str(again)) == (error.path, error.key, error.fix, str(error))


def test_the_command_line_names_its_own_options(tmp_path):
    project = files("carbonmap.sample_data") / "demo_city" / "project.toml"
    result = CliRunner().invoke(main, ["run", str(project), "-o", str(tmp_path / "out"), "--workers", "0"])
    assert result.exit_code != 0
    assert "option --workers: workers must be at least 1" in result.output and "project.toml" not in result.output
    assert not (tmp_path / "out").exists()


def test_an_unreachable_scheduler_is_a_clear_error(monkeypatch):
    monkeypatch.setattr("carbonmap.compute.CONNECT_TIMEOUT", "1s")
    with pytest.raises(ConfigError) as error, compute_session(ComputeSettings(scheduler="tcp://127.0.0.1:9")):
        pass
    assert error.value.key == "compute.scheduler" and "cannot reach the dask scheduler" in str(error.value)


@pytest.fixture(scope="module")
def rasters(tmp_path_factory):
    """A continuous and a categorical raster (tiled GeoTIFFs, 300 x 280 cells) and 120 zones
    that cross the strips' edges, overlap and leave the raster."""
    folder = tmp_path_factory.mktemp("compute")
    rng = np.random.default_rng(7)
    values = (rng.random((300, 280)) * 100).astype("float32")
    values[rng.random(values.shape) < 0.05] = -9999
    classes = rng.integers(1, 6, size=(300, 280)).astype("uint8")
    paths = {}
    for name, data, nodata in (("values", values, -9999), ("classes", classes, 0)):
        paths[name] = folder / f"{name}.tif"
        with rasterio.open(paths[name], "w", driver="GTiff", width=280, height=300, count=1, dtype=data.dtype,
                           crs=CRS, transform=TRANSFORM, nodata=nodata, tiled=True, blockxsize=16,
                           blockysize=16) as dst:
            dst.write(data, 1)
    x0, y1 = 500_000, 3_000_000
    centres = rng.random((120, 2)) * [280 * 30 + 600, 300 * 30 + 600] + [x0 - 300, y1 - 300 * 30 - 300]
    zones = gpd.GeoDataFrame({"name": [f"z{i}" for i in range(120)]},
                             geometry=shapely.buffer(shapely.points(centres), rng.random(120) * 900 + 40), crs=CRS)
    return paths, zones


STATS = ["count", "sum", "mean", "min", "max", "std", "median", "percentile_90", "nodata_count"]


def _both(paths, zones):
    return (zonal_stats(zones, paths["values"], stats=STATS, block_pixels=280 * 16),
            zonal_categories(zones, paths["classes"], block_pixels=280 * 16))


def smoothed_where_class(values, classes):
    """A neighbourhood function: the 5 x 5 mean of the values (nodata as 0) where the class is above 2."""
    from scipy import ndimage

    mean = ndimage.uniform_filter(np.ma.filled(values, 0.0).astype("float64"), size=5, mode="nearest")
    return np.ma.MaskedArray(mean, mask=np.ma.getmaskarray(classes) | (np.ma.getdata(classes) <= 2))


def _windowed(paths, out, halo):
    return map_windows(smoothed_where_class, {"values": paths["values"], "classes": paths["classes"]}, out,
                       nodata=-1.0, halo=halo, block_pixels=280 * 16)


def _read(path):
    with rasterio.open(path) as src:
        return src.read(1, masked=True)


def test_windows_with_a_halo_equal_one_whole_raster_call(rasters, tmp_path):
    paths, _ = rasters
    whole = smoothed_where_class(_read(paths["values"]), _read(paths["classes"])).filled(-1.0).astype("float32")
    np.testing.assert_array_equal(_read(_windowed(paths, tmp_path / "halo.tif", halo=2)).data, whole)
    without = _read(_windowed(paths, tmp_path / "no_halo.tif", halo=0)).data  # 19 windows of 16 rows
    assert (without != whole).sum() > 100  # the rows next to each window's edge lack their neighbours


def test_windows_refuse_a_raster_off_the_grid(rasters, tmp_path):
    paths, _ = rasters
    with rasterio.open(paths["values"]) as src:
        data, profile = src.read(), src.profile
    profile["transform"] = TRANSFORM @ Affine.translation(1, 0)
    moved = tmp_path / "moved.tif"
    with rasterio.open(moved, "w", **profile) as dst:
        dst.write(data)
    with pytest.raises(AlignmentError) as error:
        map_windows(smoothed_where_class, {"values": moved, "classes": paths["classes"]}, tmp_path / "x.tif")
    assert "moved.tif" in str(error.value) and not (tmp_path / "x.tif").exists()


def test_zonal_statistics_and_windows_are_the_same_on_a_local_cluster_of_processes(rasters, tmp_path):
    paths, zones = rasters
    serial = [(zonal_stats(zones, paths["values"], stats=STATS, block_pixels=10**9),
               zonal_categories(zones, paths["classes"], block_pixels=10**9))]
    threads = _both(paths, zones)
    here = _read(_windowed(paths, tmp_path / "threads.tif", halo=2))
    with compute_session(ComputeSettings(scheduler="local", workers=2, memory_limit="1GB")) as session:
        assert session.distributed and session.slots == 2
        cluster = _both(paths, zones)
        np.testing.assert_array_equal(_read(_windowed(paths, tmp_path / "cluster.tif", halo=2)).data, here.data)
    for mine, theirs in zip(threads, cluster):  # the same merge order: bit for bit
        pd.testing.assert_frame_equal(mine, theirs, check_exact=True)
    # one strip against 19: sums differ only in rounding, counts and areas not at all
    pd.testing.assert_frame_equal(serial[0][0], threads[0], rtol=1e-9)
    pd.testing.assert_frame_equal(serial[0][1], threads[1], rtol=1e-12)
    assert (threads[0]["count"] > 0).sum() > 100


class _Counted:
    """A value that counts the copies of it this process has unpickled (a worker's copies)."""

    loaded = 0

    def __init__(self, scale: int) -> None:
        self.scale = scale

    def __setstate__(self, state: dict) -> None:
        type(self).loaded += 1
        self.__dict__.update(state)


def _scaled(model: _Counted, item: int) -> tuple[int, int, int]:
    """A task that says the process it ran in, how many copies of `model` that process has read, and its value."""
    return os.getpid(), _Counted.loaded, model.scale * item


def test_shared_values_reach_each_worker_once_and_the_models_and_vector_tasks_run_there(tmp_path, monkeypatch):
    """Values every task reads (`shared`) are sent to the cluster once, not with each task.
    On a local cluster's workers, the land-use simulator's blocks (its forests sent that way, its
    drivers read from the scratch folder), the emissions overlay's runs of features and the rooftop
    shading's partitions (each carrying its own features or roofs) give what the run's threads
    give, bit for bit."""
    from distributed import get_task_stream

    from carbonmap import emissions
    from carbonmap.renewables.rooftop import horizon_angles
    from carbonmap.scenarios import plus

    rng = np.random.default_rng(3)
    before = rng.choice([1, 2, 3], (60, 70), p=[0.7, 0.2, 0.1])
    after = before.copy()
    after[(plus.distance_drivers(before, [2], (30.0, 30.0))["distance_to_2"] < 90) & (rng.random((60, 70)) < 0.4)] = 2
    slope = rng.random((60, 70)).astype(np.float32) * 30
    kwargs = {"codes": [1, 2, 3], "sample_size": 300, "trees": 10, "seed": 2, "distance_to": [2],
              "spacing": (30.0, 30.0), "scratch": tmp_path}
    zones = shapely.buffer(shapely.points(rng.random((40, 2)) * 1000), 80.0)
    features = shapely.buffer(shapely.points(rng.random((300, 2)) * 1000), 15.0)
    roofs = rng.random((4, 600)) * [[2000], [2000], [10], [60]] + [[0], [0], [3], [3]]
    monkeypatch.setattr(plus, "PREDICT_CELLS", 700)  # blocks of 10 rows
    monkeypatch.setattr(emissions, "OVERLAY_FEATURES", 100)  # 3 runs

    def computed():
        return (plus.learn_suitability(before, after, {"slope": slope}, **kwargs).probability,
                emissions._overlap_fractions(features, zones), horizon_angles(*roofs, latitude=31.0, tile_m=500.0))

    with compute_session(ComputeSettings(workers=2)):
        here = computed()
    with compute_session(ComputeSettings(scheduler="local", workers=2, memory_limit="1GB")) as session:
        ran = list(ordered_map(_scaled, range(30), shared=[_Counted(3)]))
        with get_task_stream(session.client) as stream:
            there = computed()
    assert [value for _, _, value in ran] == [3 * i for i in range(30)]
    assert os.getpid() not in {pid for pid, _, _ in ran}
    # one copy a worker (dask's memory manager may drop an idle copy and fetch it again: at most twice here);
    # bound into the function, each task would unpickle its own (17 in one worker)
    assert max(copies for _, copies, _ in ran) <= 2
    tasks = pd.Series([task["key"].split("-")[0] for task in stream.data]).value_counts()
    assert (tasks["_predict_block"], tasks["_run_fractions"], tasks["_partition_horizons"]) == (6, 3, 16)
    assert np.array_equal(here[0], there[0], equal_nan=True) and not any(tmp_path.iterdir())
    for mine, theirs in zip(here[1], there[1]):
        assert np.array_equal(mine, theirs)
    assert len(here[1][0]) > 100 and np.array_equal(here[2], there[2]) and (here[2] > 0).sum() > 100


def test_the_demo_on_a_local_cluster_equals_the_default_run(project_run, tmp_path):
    """The demo's project through a local dask cluster of 2 worker processes: the same per-unit
    table, byte for byte, and the same rasters, cell for cell."""
    project = files("carbonmap.sample_data") / "demo_city" / "project.toml"
    out = tmp_path / "cluster"
    result = CliRunner().invoke(main, ["run", str(project), "-o", str(out), "-q", "--scheduler", "local",
                                       "--workers", "2", "--memory-limit", "3GB"])
    assert result.exit_code == 0, result.output
    assert (out / "unit_summary.csv").read_bytes() == (project_run / "unit_summary.csv").read_bytes()
    rasters = sorted(p.name for p in (project_run / "rasters").glob("*.tif"))
    assert rasters == sorted(p.name for p in (out / "rasters").glob("*.tif")) and len(rasters) > 10
    for name in rasters:
        with rasterio.open(project_run / "rasters" / name) as a, rasterio.open(out / "rasters" / name) as b:
            np.testing.assert_array_equal(a.read(), b.read(), err_msg=name)
    assert "local dask cluster, 2 worker process(es)" in (out / "run.log").read_text(encoding="utf-8")


def test_a_warped_dataset_is_read_as_warped_not_reopened_from_its_file(rasters, tmp_path):
    """A dataset a caller holds (here a WarpedVRT onto a 60 m grid) is read by the caller's thread:
    reopening its file would read the 30 m cells instead."""
    from rasterio.vrt import WarpedVRT

    from carbonmap.grid import AnalysisGrid, align_raster

    paths, zones = rasters
    grid = AnalysisGrid(crs=PyprojCRS.from_user_input(CRS), transform=Affine(60, 0, 500_000, 0, -60, 3_000_000),
                        width=140, height=150)
    aligned = align_raster(paths["values"], grid, kind="continuous", resampling="average", dst_path=tmp_path / "a.tif")
    with rasterio.open(paths["values"]) as src, WarpedVRT(src, crs=CRS, transform=grid.transform, width=140,
                                                          height=150, resampling=rasterio.enums.Resampling.average,
                                                          src_nodata=-9999, nodata=-9999) as vrt:
        from_vrt = zonal_stats(zones, vrt, stats=["count", "sum"])
    from_file = zonal_stats(zones, aligned, stats=["count", "sum"])
    pd.testing.assert_frame_equal(from_vrt, from_file)
    assert from_file["count"].sum() < zonal_stats(zones, paths["values"], stats=["count"])["count"].sum() / 3


def test_a_dataset_opened_with_options_is_read_as_opened(rasters, tmp_path):
    """A dataset the caller opened (here at its first overview, 2 x 2 cells each) is read by the caller's
    thread as it is: reopening its file by path would read the full-resolution cells."""
    paths, zones = rasters
    copy = tmp_path / "with_overview.tif"
    with rasterio.open(paths["values"]) as src:
        profile, data = src.profile, src.read()
    with rasterio.open(copy, "w", **profile) as dst:
        dst.write(data)
        dst.build_overviews([2], rasterio.enums.Resampling.average)
    full = zonal_stats(zones, copy, stats=["count"])["count"].sum()
    with rasterio.open(copy, OVERVIEW_LEVEL=0) as overview:
        assert overview.width == 140
        halved = zonal_stats(zones, overview, stats=["count"])["count"].sum()
    assert full / 5 < halved < full / 3  # reopened by its path it would be `full`


def test_freed_geometries_go_back_to_the_system_between_stages():
    """Geometries freed while a few survive leave the C heap's pages in the process; the trim
    the runner does after each stage hands them back (here 300 MB -> under 150 MB)."""
    import psutil
    import shapely

    from carbonmap.compute import release_free_memory

    process = psutil.Process()
    geometries = shapely.buffer(shapely.points(np.random.default_rng(0).random((300_000, 2))), 1.0, quad_segs=4)
    survivors = geometries[::50].copy()  # scattered over the heap's pages
    del geometries
    before = process.memory_info().rss
    if not release_free_memory():
        pytest.skip("this C library has no malloc_trim")
    assert before - process.memory_info().rss > 100e6
    assert len(survivors) == 6000


@pytest.mark.parametrize("sigint", ["default", "ignored"])
def test_a_run_over_its_memory_limit_stops_naming_the_limit(sigint):
    """The run's own process is held to memory_limit: past it, the main thread stops at its next
    instruction and the error names the key, the stage and the memory used; also in a job
    started in the background, where SIGINT is ignored (so no simulated Ctrl-C would do)."""
    import signal

    import psutil

    if sigint == "ignored":
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # restored below, whatever happens
    resident = psutil.Process().memory_info().rss
    limit = f"{(resident + 150e6) / 1e6:.0f}MB"
    held = []
    try:
        with pytest.raises(ConfigError) as error, compute_session(ComputeSettings(memory_limit=limit)) as session:
            session.activity = "the test stage"
            for _ in range(40):  # 40 x 20 MB, written so the pages are resident
                held.append(np.ones(2_500_000))
                time.sleep(0.05)
    finally:
        if sigint == "ignored":
            signal.signal(signal.SIGINT, previous)
    assert error.value.key == "compute.memory_limit" and "during the test stage" in str(error.value)
    assert f"more than memory_limit = {limit}" in str(error.value)
    assert 100e6 < len(held) * 20e6 < 800e6  # stopped on the way (near 150 MB more), not at the end


def test_a_run_within_its_memory_limit_is_not_stopped():
    with compute_session(ComputeSettings(memory_limit="64GB")) as session:
        time.sleep(0.5)
        assert session.description.endswith("; this process within 64GB")


def test_a_project_over_its_memory_limit_stops_and_leaves_no_output(tmp_path):
    """--memory-limit below what this process already holds: the run stops in its first stage with
    the error in words, and writes no output folder."""
    out = tmp_path / "out"
    project = files("carbonmap.sample_data") / "demo_city" / "project.toml"
    result = CliRunner().invoke(main, ["run", str(project), "--output", str(out), "--memory-limit", "100MB",
                                       "--quiet"])
    assert result.exit_code != 0
    assert "key 'compute.memory_limit'" in result.output
    assert re.search(r"used \d+ MB during the \w+ stage, more than memory_limit = 100MB", result.output)
    assert not out.exists()


def test_the_memory_limit_stops_a_run_waiting_for_its_tasks():
    """The run's thread mostly waits for tasks while they allocate: it waits in short steps, so
    the guard stops it while the task still runs, not when the task ends."""
    import psutil

    limit = f"{(psutil.Process().memory_info().rss + 150e6) / 1e6:.0f}MB"
    task_done, interrupted_while_running = threading.Event(), []

    def task(_):
        held = np.ones(40_000_000)  # 320 MB, past the limit
        time.sleep(3)
        task_done.set()
        return float(held[0])

    with pytest.raises(ConfigError) as error, compute_session(ComputeSettings(memory_limit=limit)) as session:
        session.activity = "the test stage"
        try:
            list(ordered_map(task, [0]))
        except BaseException:
            interrupted_while_running.append(not task_done.is_set())
            raise
    assert interrupted_while_running == [True] and "during the test stage" in str(error.value)
