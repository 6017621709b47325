"""Validation measures of simulated land use against hand-computed values on tiny maps."""

from __future__ import annotations

import numpy as np
import pytest

from carbonmap.errors import InputError
from carbonmap.scenarios.validation import (
    change_components,
    contingency,
    disagreement,
    figure_of_merit,
    kappa,
    overall_accuracy,
    validation_table,
)

# Observed change: (0,1) 1->2 and (1,2) 3->1. Simulated change: (0,0) 1->2 (false alarm), (0,1) 1->2 (hit),
# (1,1) 3->1 (false alarm); (1,2) kept as 3 (miss). The last column is masked in the reference: left out.
R1 = np.ma.MaskedArray([[1, 1, 2, 9], [2, 3, 3, 9]], mask=[[0, 0, 0, 1], [0, 0, 0, 1]])
R2 = np.ma.MaskedArray([[1, 2, 2, 9], [2, 3, 1, 9]], mask=[[0, 0, 0, 1], [0, 0, 0, 1]])
S2 = np.array([[2, 2, 2, 1], [2, 1, 3, 1]])


def test_contingency_counts_simulated_rows_against_reference_columns():
    table = contingency(S2, R2)
    # by hand: simulated 1 -> observed 3 (1 cell); simulated 2 -> observed 1 (1), 2 (3); simulated 3 -> observed 1
    assert table.to_numpy().tolist() == [[0, 0, 1], [1, 3, 0], [1, 0, 0]]


def test_two_map_measures_equal_hand_computed_values():
    assert overall_accuracy(S2, R2) == pytest.approx(3 / 6)
    # p_o = 18/36, p_e = (1*2 + 4*3 + 1*1) / 36 = 15/36: kappa = (3/36) / (21/36)
    assert kappa(S2, R2) == pytest.approx(1 / 7)
    d = disagreement(S2, R2)
    # quantity: (|1-2| + |4-3| + |1-1|) / 2 = 1 cell; allocation: (2*1 + 2*0 + 2*1) / 2 = 2 cells
    assert d["quantity_disagreement"] == pytest.approx(1 / 6)
    assert d["allocation_disagreement"] == pytest.approx(2 / 6)
    assert d["total_disagreement"] == pytest.approx(1 - overall_accuracy(S2, R2))


def test_three_map_components_and_figure_of_merit():
    assert change_components(R1, R2, S2) == {"misses": 1, "hits": 1, "wrong_hits": 0, "false_alarms": 2,
                                            "correct_rejections": 2}
    assert figure_of_merit(R1, R2, S2) == pytest.approx(1 / 4)
    # observed 1 -> 2, simulated 1 -> 3: a wrong hit, no hit at all
    assert change_components([[1]], [[2]], [[3]])["wrong_hits"] == 1
    assert figure_of_merit(np.array([[1]]), np.array([[2]]), np.array([[3]])) == 0.0
    # the null model (no change) has no hits: FoM 0; a perfect simulation: FoM 1 and kappa 1
    assert figure_of_merit(R1, R2, R1) == 0.0
    assert figure_of_merit(R1, R2, R2) == 1.0 and kappa(R2, R2) == pytest.approx(1.0)


def test_validation_table_has_one_row_per_model():
    table = validation_table(R1, R2, {"null": R1, "model": S2})
    assert list(table["model"]) == ["null", "model"]
    assert table.loc[1, "figure_of_merit"] == pytest.approx(0.25)
    assert table.loc[0, "misses"] == 2 and table.loc[0, "hits"] == 0


def test_maps_on_different_grids_are_refused():
    with pytest.raises(InputError, match="differ in shape"):
        overall_accuracy(np.ones((2, 2), int), np.ones((3, 2), int))
