"""A transparent weighted score for ranking sites.

Each criterion c is rescaled to [0, 1] over the candidates (min-max), flipped where lower is
better, and the score is the weighted mean

.. math::

    S_i = \\sum_c w_c \\, s_{ic} / \\sum_c w_c, \\qquad
    s_{ic} = \\frac{x_{ic} - \\min_j x_{jc}}{\\max_j x_{jc} - \\min_j x_{jc}}
    \\;\\text{(or } 1 - \\cdot \\text{ where lower is better)}

A criterion equal for every candidate (to 1e-9 relative) scores 1 for all (it cannot separate them). With
positive weights, a site at least as good on every criterion and better on one scores
higher: the score is strictly monotone in each criterion. Every rescaled criterion is
returned as a ``score_<criterion>`` column so that a planner can recompute the score by hand.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from carbonmap.errors import InputError

__all__ = ["weighted_score"]


def weighted_score(criteria: pd.DataFrame, *, weights: dict[str, float], higher_is_better: dict[str, bool]
                   ) -> pd.DataFrame:
    r"""Rescaled criteria and their weighted mean: a transparent score for ranking sites.

    Parameters
    ----------
    criteria : DataFrame
        One row per candidate, one column per criterion, in its own unit (NaN or inf: worst).
    weights : dict of str -> float [-]
        Criterion -> weight (>= 0; at least one positive); criteria with weight 0 or no
        weight are shown but not scored.
    higher_is_better : dict of str -> bool
        Criterion -> direction.

    Returns
    -------
    DataFrame
        Same index, with ``score_<criterion>`` in [0, 1] and ``score`` in [0, 1].

    Raises
    ------
    InputError
        For a weighted criterion that is not a column, or weights that are negative or all 0.

    Notes
    -----
    .. math::

        S_i = \frac{\sum_c w_c \, s_{ic}}{\sum_c w_c}, \qquad
        s_{ic} = \frac{x_{ic} - \min_j x_{jc}}{\max_j x_{jc} - \min_j x_{jc}}
        \;\text{(or } 1 - s_{ic} \text{ where lower is better)}

    A criterion equal for every candidate scores 1 for all.

    Examples
    --------
    >>> criteria = pd.DataFrame({"yield": [900.0, 1100.0], "payback": [8.0, 6.0]})
    >>> weighted_score(criteria, weights={"yield": 1, "payback": 1},
    ...                higher_is_better={"yield": True, "payback": False})["score"].tolist()
    [0.0, 1.0]
    """
    used = {c: float(w) for c, w in weights.items() if float(w) > 0}
    missing = [c for c in used if c not in criteria.columns]
    if missing:
        raise InputError(f"no criterion {missing[0]!r} among {', '.join(criteria.columns)}.",
                         fix="weight only the criteria that are computed.")
    if any(float(w) < 0 for w in weights.values()) or not used:
        raise InputError(f"weights must be >= 0 with at least one positive, got {weights}.",
                         fix="e.g. {'yield': 0.5, 'payback': 0.5}.")
    out = pd.DataFrame(index=criteria.index)
    total = np.zeros(len(criteria))
    for column in criteria.columns:
        values = criteria[column].to_numpy(dtype=float)
        better_high = higher_is_better[column]
        finite = np.isfinite(values)
        rescaled = np.zeros(len(values))  # the worst where the criterion is missing or infinite
        if finite.any():
            low, high = values[finite].min(), values[finite].max()
            span = 0.0 if np.isclose(low, high, rtol=1e-9, atol=0.0) else high - low  # equal up to rounding
            part = np.ones(finite.sum()) if span == 0 else (values[finite] - low) / span
            rescaled[finite] = part if better_high else 1 - part if span else part
        out[f"score_{column}"] = rescaled
        total += used.get(column, 0.0) * rescaled
    out["score"] = total / sum(used.values())
    return out
