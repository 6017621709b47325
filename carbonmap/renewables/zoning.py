"""Development-control zones per resource: prohibited, restricted, suitable, with a reason.

The rules are a table (``renewable_zoning_rules.csv``; a project can replace rows). Each row
applies to one resource (``ground_pv``, ``wind``, ...) or to ``all`` and names a constraint:

- ``zone``: a protection zone given to :func:`control_zones` by name (ecological protection
  red line, permanent basic farmland, nature reserve, ...);
- ``category``: a carbon category of the land cover, or a group: ``built`` (every built-up
  category) or ``wetland`` (every wetland category);

with an optional buffer in metres (or ``setback``: a distance given by the caller, such as a
multiple of a turbine's tip height). A cell takes the strictest class of the rules it meets
(prohibited over restricted over suitable) and the reason of the first such rule in the table;
cells no rule touches are suitable. Every landscape cell gets exactly one class, so the three
areas add up to the total.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import ndimage

from carbonmap.errors import InputError

__all__ = ["ZONE_CLASSES", "control_zones", "largest_buffer_m"]

#: Zone class codes in the zone rasters (0 = nodata).
ZONE_CLASSES = {"suitable": 1, "restricted": 2, "prohibited": 3}


def _category_mask(categories: np.ndarray, legend: list[str], name: str) -> np.ndarray:
    if name == "built":
        wanted = [i for i, c in enumerate(legend) if c.startswith("built")]
    elif name == "wetland":
        wanted = [i for i, c in enumerate(legend) if c.startswith("wetland")]
    else:
        wanted = [i for i, c in enumerate(legend) if c == name]
    return np.isin(categories, wanted)


def control_zones(categories: np.ndarray, legend: list[str], resolution: float, rules: pd.DataFrame, *,
                  resource: str, protection: dict[str, np.ndarray] | None = None, setback_m: float | None = None,
                  rows: slice | None = None) -> tuple[np.ndarray, np.ndarray, list[str], list[int]]:
    """Development-control zone and reason of every cell for one resource.

    Parameters
    ----------
    categories : array (H, W) of int
        Carbon-category index per cell into `legend` (-1 = nodata).
    legend : list of str
        Carbon category of each index.
    resolution : float [m]
        Cell size.
    rules : DataFrame
        The zoning rules (:func:`carbonmap.coefficients.renewable_zoning_rules`; buffers in m).
    resource : str
        The resource zoned, e.g. "ground_pv" or "wind" (rules for it and for ``all`` apply).
    protection : dict of str -> array (H, W) of bool, optional
        Protection zones on the same grid, by the names the rules use.
    setback_m : float [m], optional
        Distance used by rules whose buffer is ``setback``.
    rows : slice, optional
        The rows whose cells decide which rules are listed (default: all). A strip of a larger
        grid, read with rows around it, lists the rules that apply to its own cells; cells
        outside `rows` hold -1 where their rule is not listed.

    Returns
    -------
    (zone, reason, reasons, positions)
        uint8 raster of :data:`ZONE_CLASSES` (0 on nodata), int16 raster indexing `reasons`
        (-1 where no rule applies), the list of reasons of the rules that apply (in the rules'
        order; a rule whose cells later rules all take stays listed), and each one's row
        position in `rules`.

    Raises
    ------
    InputError
        For a rule naming an unknown constraint type or a bad buffer.

    Notes
    -----
    A cell takes the strictest class of the rules it meets (prohibited over restricted over
    suitable) and the reason of the first such rule in the table; cells no rule touches are
    suitable, so the three areas add up to the total. A buffered rule reaches cells whose
    centres lie within its buffer of the constraint (a Euclidean distance transform).

    References
    ----------
    .. [1] CPC Central Committee and State Council (2017). Guidelines on delimiting and strictly
       observing the ecological protection red line.
    .. [2] Ministry of Natural Resources, National Forestry and Grassland Administration, National
       Energy Administration (2023). Notice on land use for PV (自然资发〔2023〕12号).
    """
    protection = protection or {}
    valid = categories >= 0
    zone = np.where(valid, ZONE_CLASSES["suitable"], 0).astype(np.uint8)
    reason = np.full(categories.shape, -1, dtype=np.int16)
    reasons: list[str] = []
    positions: list[int] = []
    counted = slice(None) if rows is None else rows
    for position in np.flatnonzero(rules["resource"].isin([resource, "all"]).to_numpy()).tolist():
        rule = rules.iloc[position]
        if rule.constraint_type == "zone":
            if rule.constraint not in protection:
                continue
            mask = np.asarray(protection[rule.constraint], dtype=bool)
        elif rule.constraint_type == "category":
            mask = _category_mask(categories, legend, rule.constraint)
        else:
            raise InputError(f"unknown constraint type {rule.constraint_type!r}.", field="constraint_type",
                             fix="use zone or category.")
        buffer = _buffer_m(rule.buffer_m, setback_m)
        if buffer > 0 and mask.any():
            mask = ndimage.distance_transform_edt(~mask) * resolution <= buffer
        code = ZONE_CLASSES[rule.zone_class]
        stricter = mask & valid & (zone < code)
        if stricter[counted].any():
            reasons.append(str(rule.reason))
            positions.append(position)
        zone[stricter] = code
        reason[stricter] = len(reasons) - 1 if positions and positions[-1] == position else -1
    return zone, reason, reasons, positions


def largest_buffer_m(rules: pd.DataFrame, resource: str, *, protection=(), setback_m: float | None = None) -> float:
    """The largest buffer [m] of the rules :func:`control_zones` applies for `resource` with the
    protection zones named in `protection`: how far a cell's zone can depend on other cells."""
    mine = rules[rules["resource"].isin([resource, "all"])]
    used = (mine["constraint_type"] != "zone") | mine["constraint"].isin(list(protection))
    return max((_buffer_m(value, setback_m) for value in mine.loc[used, "buffer_m"]), default=0.0)


def _buffer_m(value, setback_m: float | None) -> float:
    text = str(value).strip()
    if text in ("", "0", "0.0", "nan"):
        return 0.0
    if text == "setback":
        if setback_m is None:
            raise InputError("a zoning rule needs a setback distance.", field="buffer_m",
                             fix="give setback_m (e.g. tip height x setback multiple).")
        return float(setback_m)
    try:
        return float(text)
    except ValueError as exc:
        raise InputError(f"buffer {text!r} is neither metres nor 'setback'.", field="buffer_m",
                         fix="use a number of metres or setback.") from exc
