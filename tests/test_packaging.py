"""Packaging: every subpackage ships, and the demo data is part of the package."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_subpackage_is_listed_in_pyproject():
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    code = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "carbonmap").rglob("__init__.py")}
    assert code <= listed
    for name in listed:  # code packages and data-only folders alike must exist
        if name.startswith("carbonmap.sample_data"):
            path = REPO / "sample_data" / Path(*name.split(".")[2:])
        else:
            path = REPO / Path(*name.split("."))
        assert path.is_dir(), name


def test_demo_project_is_packaged():
    from importlib.resources import files

    project = files("carbonmap.sample_data") / "olinda" / "project.toml"
    assert project.is_file()
    assert "[units]" in project.read_text()
