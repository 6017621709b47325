"""Shared fixtures.

Tests that read the shared data folder (``../shared`` beside the repository, or the path
in $CARBONMAP_SHARED) use the ``shared`` fixture, which skips them with the reason when
the folder is absent. CI always has it.

Tests that need a whole run of the demo (``demo_run``, ``project_run``: about 50 s each) are slow
ones: ``pytest -m "not slow"`` leaves them out.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CARBONMAP_SHARED", REPO.parent / "shared")).resolve()
#: Fixtures that run the whole demo: a test that uses one (even through another fixture) is slow.
DEMO_RUNS = frozenset({"demo_run", "project_run"})


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(items) -> None:
    """Tests of a whole demo run are slow ones; on several workers (pytest-xdist, ``--dist loadgroup``)
    the tests of one demo run go to one worker, which runs the demo once, and the other tests go by module,
    each module's fixtures made once."""
    for item in items:
        runs = sorted(DEMO_RUNS & set(getattr(item, "fixturenames", ())))
        if runs:
            item.add_marker(pytest.mark.slow)
        item.add_marker(pytest.mark.xdist_group(runs[0] if runs else item.nodeid.split("::")[0]))


@pytest.fixture(scope="session")
def shared() -> Path:
    """The shared data folder; skips the test when it is absent."""
    if not (SHARED / "data").is_dir():
        pytest.skip(f"shared data folder not found at {SHARED} (set CARBONMAP_SHARED to its path)")
    return SHARED


@pytest.fixture(scope="session")
def olinda(shared) -> Path:
    return shared / "data" / "olinda_landsat_dem"


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    """`carbonmap demo`: the demo city's outputs (one run per test session or worker)."""
    from click.testing import CliRunner

    from carbonmap.cli import main

    out = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(main, ["demo", "--output", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="session")
def project_run(tmp_path_factory) -> Path:
    """`carbonmap run` of the demo's project file: the outputs that `run --only` on that file resumes
    (the demo command also compares with its 2015 run, which the project file does not name).

    The run notes every packaged table it reads, by spies that only record (``tables_read.json``
    beside the output folder, for tests/test_onemap.py): one run serves both."""
    import json
    from importlib.resources import files

    from click.testing import CliRunner

    import carbonmap.coefficients as coefficients
    import carbonmap.landuse as landuse
    from carbonmap.cli import main

    out = tmp_path_factory.mktemp("project") / "out"
    project = files("carbonmap.sample_data") / "demo_city" / "project.toml"
    read = set()
    packaged, read_packaged = coefficients._packaged, landuse._read_packaged

    def spy_table(name):
        read.add(f"coefficients_{name}")
        return packaged(name)

    def spy_classes(name):
        read.add("classes_" + name.removesuffix(".csv").removeprefix("carbon_")
                 if name != "carbon_categories.csv" else "classes_carbon_categories")
        return read_packaged(name)

    landuse._packaged_table.cache_clear()
    landuse._categories.cache_clear()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(coefficients, "_packaged", spy_table)
        patch.setattr(landuse, "_read_packaged", spy_classes)
        result = CliRunner().invoke(main, ["run", str(project), "--output", str(out), "--quiet"])
    landuse._packaged_table.cache_clear()
    landuse._categories.cache_clear()
    assert result.exit_code == 0, result.output
    (out.parent / "tables_read.json").write_text(json.dumps(sorted(read)), encoding="utf-8")
    return out
