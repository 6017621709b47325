"""[[scenarios]] with the land-use simulator: bad keys are named with the fix."""

from __future__ import annotations

import re

import pytest

from carbonmap.config import load_project
from carbonmap.errors import ConfigError

PROJECT = """
[project]
name = "t"

[grid]
resolution_m = 30

[units]
path = "units.gpkg"
id_field = "id"

[[rasters]]
name = "lc"
path = "lc.tif"
kind = "categorical"
code_system = "clcd"

[[rasters]]
name = "lc_2015"
path = "lc.tif"
kind = "categorical"
code_system = "clcd"

[[rasters]]
name = "pop"
path = "lc.tif"

[timeline]
landcover = "lc"
base_year = 2023
previous = "lc_2015"
previous_year = 2015

[[scenarios]]
name = "bau"
target_year = 2035
"""


#: How a message names the project's [[scenarios]] entry after its key (which counts from 0): a regex.
BAU = re.escape(' in the 1st [[scenarios]] entry (name "bau")')


@pytest.fixture
def folder(tmp_path):
    for name in ("units.gpkg", "lc.tif", "demand.csv"):
        (tmp_path / name).write_bytes(b"")
    return tmp_path


def _load(folder, extra):
    path = folder / "project.toml"
    path.write_text(PROJECT + extra, encoding="utf-8")
    return load_project(path)


def test_a_simulated_scenario_loads_with_its_keys(folder):
    project = _load(folder, 'markov_year = 2035\nallocation = "plus"\ndrivers = ["pop"]\ndemand = "optimise"\n'
                            'demand_constraints = [{codes = [8], min_ha = 100.0}, {codes = [2], max_ha = 50.0}]\n'
                            'neighbourhood_weights = {"8" = 1.0, "2" = 0.5}\n')
    spec = project.scenarios[0]
    assert spec.allocation == "plus" and spec.drivers == ["pop"]
    assert spec.demand_constraints[0] == {"codes": [8], "min_ha": 100.0}


@pytest.mark.parametrize(("extra", "message"), [
    ('markov_year = 2035\nallocation = "flus"\n',
     r"key 'scenarios\[0\].allocation'" + BAU + r": unknown allocation 'flus'"),
    ('allocation = "plus"\n', r"key 'scenarios\[0\].markov_year'" + BAU + r": the land-use simulation needs the year"),
    ('markov_year = 2035\nallocation = "plus"\ndrivers = ["lc"]\n',
     r"key 'scenarios\[0\].drivers\[0\]'" + BAU + r": \[\[rasters\]\] 'lc' must be continuous"),
    ('markov_year = 2035\nallocation = "plus"\ndrivers = ["roads"]\n',
     r"key 'scenarios\[0\].drivers\[0\]'" + BAU + r": no \[\[rasters\]\] entry named 'roads'"),
    ('markov_year = 2035\ndemand = "trend"\n',
     r"key 'scenarios\[0\].allocation'" + BAU + r": demand = 'trend' is placed by"),
    ('markov_year = 2035\nallocation = "plus"\ndemand = "table"\n', r"key 'scenarios\[0\].demand_table'" + BAU),
    ('markov_year = 2035\nallocation = "plus"\ndemand = "optimise"\n', r"turns all land into the richest class"),
    ('markov_year = 2035\nallocation = "plus"\ndemand = "optimise"\ndemand_constraints = [{codes = [8], least = 1}]\n',
     r"key 'scenarios\[0\].demand_constraints\[0\]'" + BAU),
    ('markov_year = 2035\nreference = "lc"\n', r"key 'scenarios\[0\].reference'" + BAU + r": reference validates"),
    ('markov_year = 2035\nallocation = "plus"\nreference = "pop"\n',
     r"key 'scenarios\[0\].reference'" + BAU + r": \[\[rasters\]\] 'pop' must be categorical"),
    ('markov_year = 2035\nallocation = "plus"\nneighbourhood_weights = {"8" = 2.0}\n',
     r"key 'scenarios\[0\].neighbourhood_weights'" + BAU),
])
def test_bad_simulation_keys_are_named(folder, extra, message):
    with pytest.raises(ConfigError, match=message):
        _load(folder, extra)
