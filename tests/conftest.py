"""Shared fixtures.

Tests that read the shared data folder (``../shared`` beside the repository, or the path
in $CARBONMAP_SHARED) use the ``shared`` fixture, which skips them with the reason when
the folder is absent. CI always has it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CARBONMAP_SHARED", REPO.parent / "shared")).resolve()


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
