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


def test_every_data_file_is_declared_as_package_data():
    """Data folders ship in a wheel only when listed with patterns that match their files
    (an editable install hides the omission)."""
    from fnmatch import fnmatch

    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    data = REPO / "carbonmap" / "data"
    for folder in [data, *[p for p in data.rglob("*") if p.is_dir()]]:
        files = [f.name for f in folder.iterdir() if f.is_file() and f.suffix != ".py"]
        if not files:
            continue
        package = ".".join(folder.relative_to(REPO).parts)
        assert package in config["packages"], package
        patterns = config["package-data"].get(package, [])
        missing = [name for name in files if not any(fnmatch(name, pattern) for pattern in patterns)]
        assert not missing, f"{package}: {missing} would not ship"
