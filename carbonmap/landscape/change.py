"""Change of landscape metrics between two dates, with a plain-language reading per class.

:func:`compare` puts the class metrics of two dates side by side with their differences,
and reads each class's change the way a planner states it, e.g.
``forest: area -3.1 %, patches +12 %, mean shape index -4 %, division +0.03: fragmenting``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from carbonmap.words import Text, listed, words

__all__ = ["compare", "reading", "CHANGE_METRICS"]

#: Class metrics compared, and whether the change is reported in percent (else in units).
CHANGE_METRICS = {"CA": True, "NP": True, "LPI": False, "ED": True, "SHAPE_MN": True, "MESH": True,
                  "DIVISION": False, "AI": False, "ENN_MN": True}
#: Relative changes smaller than this are "no change" in the reading.
_SMALL = 0.01


def compare(before: pd.DataFrame, after: pd.DataFrame, *, names: dict | None = None) -> pd.DataFrame:
    r"""Class metrics at two dates side by side, their change, and a plain-language reading.

    Parameters
    ----------
    before, after : DataFrame
        Class tables of :func:`carbonmap.landscape.fragstats` (``Metrics.class_``) with at
        least the metrics of :data:`CHANGE_METRICS` (units as FRAGSTATS: ha, %, m/ha, m); a
        class present at one date only counts as zero area and no patch at the other.
    names : dict, optional
        Class code -> name used in the reading (a string, or a :class:`~carbonmap.words.Text`).

    Returns
    -------
    DataFrame
        One row per class: ``class``, for each metric M ``M_before``, ``M_after``,
        ``M_change`` (after - before, in M's unit) and, for metrics in percent,
        ``M_change_pct`` [%]; and ``reading`` (:func:`reading`) in English and ``reading_zh`` in
        Chinese (the writers show the one of the output's language).

    Notes
    -----
    .. math::

        \Delta M = M_{after} - M_{before}, \qquad
        \Delta M_{\%} = 100 \, \Delta M / |M_{before}|

    References
    ----------
    .. [1] McGarigal K., Cushman S. A., Ene E. (2023). FRAGSTATS v4: Spatial Pattern Analysis
       Program for Categorical Maps. University of Massachusetts, Amherst. https://www.fragstats.org
    """
    metrics = [m for m in CHANGE_METRICS if m in before.columns and m in after.columns]
    a = before.set_index("class")[metrics]
    b = after.set_index("class")[metrics]
    classes = a.index.union(b.index)
    absent = {"CA": 0.0, "NP": 0.0, "LPI": 0.0, "ED": 0.0, "MESH": 0.0, "DIVISION": 1.0}
    a = a.reindex(classes).fillna(absent)
    b = b.reindex(classes).fillna(absent)
    out = pd.DataFrame({"class": classes})
    for m in metrics:
        out[f"{m}_before"] = a[m].to_numpy()
        out[f"{m}_after"] = b[m].to_numpy()
        out[f"{m}_change"] = out[f"{m}_after"] - out[f"{m}_before"]
        if CHANGE_METRICS[m]:
            with np.errstate(divide="ignore", invalid="ignore"):
                out[f"{m}_change_pct"] = out[f"{m}_change"] / out[f"{m}_before"].abs() * 100
    names = names or {}
    readings = [reading(row, names.get(row["class"], str(row["class"]))) for _, row in out.iterrows()]
    out["reading"] = [text.en for text in readings]
    out["reading_zh"] = [text.zh for text in readings]
    return out


def reading(row: pd.Series, name: str | Text) -> Text:
    """One line, in both languages: the main changes of a class and what they mean.

    The verdict: *fragmenting* when the class gains patches while its division rises or
    its effective mesh shrinks; *consolidating* when it loses patches and its mesh grows;
    otherwise *shrinking* or *growing* when its area changed by more than 1 %, else
    *stable*. A class absent at the first date is *new*; at the second, *lost*.
    """
    if row["CA_before"] == 0:
        return words("change.new", name=name, area=f"{row['CA_after']:,.1f}", patches=f"{row['NP_after']:.0f}")
    if row["CA_after"] == 0:
        return words("change.lost", name=name, area=f"{row['CA_before']:,.1f}", patches=f"{row['NP_before']:.0f}")
    parts = []
    for metric in ("CA", "NP", "SHAPE_MN", "MESH", "ENN_MN"):
        pct = row.get(f"{metric}_change_pct", np.nan)
        if np.isfinite(pct) and abs(pct) >= _SMALL * 100:
            parts.append(words("change.metric", metric=words(f"change.{metric}"), change=f"{pct:+.0f} %"))
    division = row.get("DIVISION_change", np.nan)
    if np.isfinite(division) and abs(division) >= _SMALL:
        parts.append(words("change.metric", metric=words("change.DIVISION"), change=f"{division:+.2f}"))
    more_patches = row["NP_change"] > 0
    mesh_pct = row.get("MESH_change_pct", np.nan)
    if more_patches and (division > 0 or (np.isfinite(mesh_pct) and mesh_pct < 0)):
        verdict = "fragmenting"
    elif row["NP_change"] < 0 and np.isfinite(mesh_pct) and mesh_pct > 0:
        verdict = "consolidating"
    elif abs(row["CA_change_pct"]) > _SMALL * 100:
        verdict = "shrinking" if row["CA_change"] < 0 else "growing"
    else:
        verdict = "stable"
    return words("change.reading", name=name, parts=listed(parts) if parts else words("change.none"),
                 verdict=words(f"change.{verdict}"))
