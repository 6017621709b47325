"""Circuit functions against Circuitscape.jl's own raster verification cases.

Data: ``tests/data/circuitscape`` (Circuitscape.jl's test inputs and expected outputs, MIT;
see its README). Circuitscape wrote most expected maps from conjugate-gradient solves stopped at
a relative residual of 1e-6, and cells that must carry equal current differ there by up to
7e-7 (sgVerify1, cells (6, 8) and (6, 9) in series): currents are compared to 1e-6 relative,
or 1e-6 of the map's largest current.
"""

from __future__ import annotations

import numpy as np
import pytest

from circuitscape_cases import (ALL_TO_ONE_CASES, ONE_TO_ALL_CASES, PAIRWISE_CASES, current_error, resistance_error,
                                run_case)

CASES = ([("pairwise", k) for k in PAIRWISE_CASES] + [("one_to_all", k) for k in ONE_TO_ALL_CASES]
         + [("all_to_one", k) for k in ALL_TO_ONE_CASES])


@pytest.mark.parametrize(("mode", "number"), CASES, ids=[f"{m}-{k}" for m, k in CASES])
def test_circuitscape_verification_case(mode, number):
    case = run_case(mode, number)
    assert resistance_error(case) <= 1e-6  # disconnected (-1) and zero entries must agree exactly
    if case.ours_current is not None:
        on = np.isfinite(case.ours_current)
        theirs = np.nan_to_num(case.theirs_current)
        np.testing.assert_allclose(case.ours_current[on], theirs[on], rtol=1e-6, atol=1e-6 * theirs.max())


@pytest.mark.parametrize(("mode", "number"), [("pairwise", 5), ("pairwise", 11), ("pairwise", 13), ("one_to_all", 9),
                                              ("all_to_one", 11)])
def test_circuitscape_cases_with_multigrid(mode, number):
    case = run_case(mode, number, solver="amg")
    assert resistance_error(case) <= 1e-5
    if case.ours_current is not None:
        _, absolute, _ = current_error(case)
        assert absolute <= 1e-5
