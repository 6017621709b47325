"""Land-use demand: linear trend, user table, and the LP of the ecological-priority scenario."""

from __future__ import annotations

import pandas as pd
import pytest

from carbonmap.errors import InputError
from carbonmap.scenarios.demand import (
    builtup_for_population,
    linear_trend,
    optimise_demand,
    table_demand,
    whole_cells,
)

# forest, cropland, built-up [ha] and their carbon storage [t C/ha]
CURRENT = pd.Series({1: 50.0, 2: 30.0, 3: 20.0})
STORAGE = pd.Series({1: 100.0, 2: 50.0, 3: 10.0})


def test_lp_meets_its_constraints_at_the_hand_computed_optimum():
    constraints = [{"codes": [3], "min": 25.0},  # built-up land for the planned population
                   {"codes": [2], "min": 28.0}]  # farmland protection target
    x = optimise_demand(CURRENT, STORAGE, constraints=constraints, max_change_pct=30)
    # by hand: built-up and cropland at their minimums, the rest forest (47 ha <= 65 ha = 50 x 1.3)
    assert x.tolist() == pytest.approx([47.0, 28.0, 25.0])
    assert x.sum() == pytest.approx(CURRENT.sum())
    assert (x >= CURRENT * 0.7 - 1e-9).all() and (x <= CURRENT * 1.3 + 1e-9).all()


def test_lp_ecological_minimum_over_a_group_and_a_maximum():
    constraints = [{"codes": [1, 2], "min": 85.0}, {"codes": [1], "max": 60.0}]
    x = optimise_demand(CURRENT, STORAGE, constraints=constraints)
    assert x[1] == pytest.approx(60.0) and x[1] + x[2] >= 85.0 - 1e-9
    # the best rest: cropland (50) before built-up (10): all 40 ha
    assert x[2] == pytest.approx(40.0) and x[3] == pytest.approx(0.0)


def test_lp_refuses_constraints_that_cannot_hold():
    with pytest.raises(InputError, match="cannot all hold together"):
        optimise_demand(CURRENT, STORAGE, constraints=[{"codes": [3], "min": 30.0}], max_change_pct=30)
    with pytest.raises(InputError, match="not in the land cover"):
        optimise_demand(CURRENT, STORAGE, constraints=[{"codes": [9], "min": 1.0}])


def test_linear_trend_table_and_rounding():
    # +1 ha/yr of built-up land from 2010 to 2020 goes on to 2035
    trend = linear_trend(pd.Series({1: 90.0, 2: 10.0}), pd.Series({1: 80.0, 2: 20.0}), 2010, 2020, 2035)
    assert trend.tolist() == [65.0, 35.0]
    # a class that would go below 0 stops at 0 and the total is kept
    trend = linear_trend(pd.Series({1: 10.0, 2: 90.0}), pd.Series({1: 5.0, 2: 95.0}), 2000, 2010, 2030)
    assert trend[1] == 0 and trend.sum() == pytest.approx(100.0)
    assert whole_cells(pd.Series({1: 2.5, 2: 2.5, 3: 5.0}), 10).tolist() == [3, 2, 5]
    table = pd.DataFrame({"code": [1, 2], "area_ha": [30.0, 70.0]})
    assert table_demand(table, [1, 2, 3], total_cells=100, cell_area_ha=1.0).tolist() == [30, 70, 0]
    with pytest.raises(InputError, match="classes not in the land cover: 4"):
        table_demand(pd.DataFrame({"code": [4], "area_ha": [100.0]}), [1, 2], 100, 1.0)
    with pytest.raises(InputError, match="add up to 50.0 ha"):
        table_demand(pd.DataFrame({"code": [1], "area_ha": [50.0]}), [1, 2], 100, 1.0)
    assert builtup_for_population(2_000_000, 100.0) == 20_000.0
