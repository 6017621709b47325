"""Validation of a simulated land-use map against the real one, as the field does it.

Two-map measures (a simulated map against the reference map of the same date): overall
accuracy, Cohen's Kappa, and Pontius & Millones's (2011) quantity and allocation disagreement.
Three-map measures (reference at the start, reference at the end, simulated end): Pontius et
al.'s (2008) misses, hits, wrong hits, false alarms and the Figure of Merit, which scores only
the change, so that a model is not rewarded for the persistence every model gets right.

All functions take plain integer class maps (any codes) with a mask or a `valid` array; cells
masked in any map are left out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from carbonmap.errors import InputError

__all__ = [
    "change_components",
    "contingency",
    "disagreement",
    "figure_of_merit",
    "kappa",
    "overall_accuracy",
    "validation_table",
]


def _valid(*maps) -> tuple[list[np.ndarray], np.ndarray]:
    shapes = {np.shape(m) for m in maps}
    if len(shapes) != 1:
        raise InputError(f"the maps to compare differ in shape ({', '.join(map(str, sorted(shapes)))}).",
                         fix="put them on one grid (carbonmap run and carbonmap simulate align them).")
    valid = np.logical_and.reduce([~np.ma.getmaskarray(m) for m in maps])
    if not valid.any():
        raise InputError("no cell is valid in every map.", fix="check the maps overlap and their nodata values.")
    return [np.asarray(np.ma.getdata(m))[valid] for m in maps], valid


def contingency(simulated, reference) -> pd.DataFrame:
    """Cell counts of simulated class (rows) against reference class (columns).

    Parameters
    ----------
    simulated, reference : (masked) array (H, W) of int
        Class maps on one grid; masked cells of either are left out.

    Returns
    -------
    DataFrame [cells]
        Rows: simulated codes; columns: reference codes (the union of both maps' codes).
    """
    (s, r), _ = _valid(simulated, reference)
    codes = np.union1d(np.unique(s), np.unique(r))
    counts = np.zeros((codes.size, codes.size), dtype=np.int64)
    np.add.at(counts, (np.searchsorted(codes, s), np.searchsorted(codes, r)), 1)
    return pd.DataFrame(counts, index=pd.Index(codes, name="simulated"), columns=pd.Index(codes, name="reference"))


def overall_accuracy(simulated, reference) -> float:
    r"""Share of cells where the simulated class equals the reference class [-].

    Notes
    -----
    .. math:: OA = \sum_g p_{gg}

    with :math:`p_{ij}` the share of cells simulated as i and observed as j.
    """
    p = contingency(simulated, reference).to_numpy(dtype=float)
    return float(np.trace(p) / p.sum())


def kappa(simulated, reference) -> float:
    r"""Cohen's Kappa of the simulated against the reference map [-].

    Notes
    -----
    .. math:: \kappa = \frac{p_o - p_e}{1 - p_e}, \quad p_o = \sum_g p_{gg}, \quad
              p_e = \sum_g p_{g+} \, p_{+g}

    NaN when :math:`p_e = 1` (both maps one and the same single class).

    References
    ----------
    .. [1] Cohen J. (1960). A coefficient of agreement for nominal scales. Educational and
       Psychological Measurement 20: 37-46.
    """
    p = contingency(simulated, reference).to_numpy(dtype=float)
    p = p / p.sum()
    observed, expected = np.trace(p), float(p.sum(axis=1) @ p.sum(axis=0))
    return float("nan") if expected == 1 else float((observed - expected) / (1 - expected))


def disagreement(simulated, reference) -> dict[str, float]:
    r"""Quantity and allocation disagreement (Pontius & Millones 2011) [-].

    Returns
    -------
    dict
        ``quantity_disagreement`` Q, ``allocation_disagreement`` A and ``total_disagreement``
        Q + A = 1 - overall accuracy, as shares of the valid cells.

    Notes
    -----
    With :math:`p_{ij}` the share of cells simulated as i and observed as j:

    .. math::

        q_g = |p_{g+} - p_{+g}|, \quad Q = \tfrac12 \sum_g q_g

        a_g = 2 \min(p_{g+} - p_{gg}, \; p_{+g} - p_{gg}), \quad A = \tfrac12 \sum_g a_g

    References
    ----------
    .. [1] Pontius R. G. Jr, Millones M. (2011). Death to Kappa: birth of quantity disagreement
       and allocation disagreement for accuracy assessment. International Journal of Remote
       Sensing 32(15): 4407-4429.
    """
    p = contingency(simulated, reference).to_numpy(dtype=float)
    p = p / p.sum()
    rows, cols, diag = p.sum(axis=1), p.sum(axis=0), np.diag(p)
    quantity = 0.5 * float(np.abs(rows - cols).sum())
    allocation = 0.5 * float((2 * np.minimum(rows - diag, cols - diag)).sum())
    return {"quantity_disagreement": quantity, "allocation_disagreement": allocation,
            "total_disagreement": quantity + allocation}


def change_components(reference_start, reference_end, simulated_end) -> dict[str, int]:
    """Misses, hits, wrong hits and false alarms of a simulated change (Pontius et al. 2008) [cells].

    Parameters
    ----------
    reference_start, reference_end : (masked) array (H, W) of int
        The observed maps at the start and end dates.
    simulated_end : (masked) array (H, W) of int
        The simulated map of the end date (simulated from `reference_start`).

    Returns
    -------
    dict of int [cells]
        ``misses`` (observed change simulated as persistence), ``hits`` (observed change
        simulated as change to the observed class), ``wrong_hits`` (observed change simulated
        as change to another class), ``false_alarms`` (observed persistence simulated as change),
        ``correct_rejections`` (persistence simulated as persistence).
    """
    (r1, r2, s2), _ = _valid(reference_start, reference_end, simulated_end)
    observed, simulated = r1 != r2, s2 != r1
    return {"misses": int((observed & ~simulated).sum()),
            "hits": int((observed & simulated & (s2 == r2)).sum()),
            "wrong_hits": int((observed & simulated & (s2 != r2)).sum()),
            "false_alarms": int((~observed & simulated).sum()),
            "correct_rejections": int((~observed & ~simulated).sum())}


def figure_of_merit(reference_start, reference_end, simulated_end) -> float:
    r"""Figure of Merit of a simulated change [-].

    Notes
    -----
    .. math:: FoM = \frac{B}{A + B + C + D}

    with A misses, B hits, C wrong hits and D false alarms (:func:`change_components`): the
    share of hits in the union of observed and simulated change. NaN when neither map changes.

    References
    ----------
    .. [1] Pontius R. G. Jr, et al. (2008). Comparing the input, output, and validation maps for
       several models of land change. The Annals of Regional Science 42(1): 11-37.
    """
    c = change_components(reference_start, reference_end, simulated_end)
    union = c["misses"] + c["hits"] + c["wrong_hits"] + c["false_alarms"]
    return float("nan") if union == 0 else c["hits"] / union


def validation_table(reference_start, reference_end, simulated: dict) -> pd.DataFrame:
    """The validation measures of one or more simulated maps of the end date, one row each.

    Parameters
    ----------
    reference_start, reference_end : (masked) array (H, W) of int
        Observed maps at the start and end dates.
    simulated : dict of str -> (masked) array (H, W) of int
        Model name -> its simulated map of the end date.

    Returns
    -------
    DataFrame
        Columns ``model``, ``figure_of_merit``, ``kappa``, ``overall_accuracy``,
        ``quantity_disagreement``, ``allocation_disagreement`` [-] and the change components
        ``hits``, ``misses``, ``wrong_hits``, ``false_alarms`` [cells].
    """
    rows = []
    for name, sim in simulated.items():
        components = change_components(reference_start, reference_end, sim)
        components.pop("correct_rejections")
        dis = disagreement(sim, reference_end)
        rows.append({"model": name, "figure_of_merit": figure_of_merit(reference_start, reference_end, sim),
                     "kappa": kappa(sim, reference_end), "overall_accuracy": overall_accuracy(sim, reference_end),
                     "quantity_disagreement": dis["quantity_disagreement"],
                     "allocation_disagreement": dis["allocation_disagreement"], **components})
    return pd.DataFrame(rows)
