r"""Coastal blue carbon over time: InVEST's Coastal Blue Carbon transition model.

Land-cover snapshots by year drive a year-by-year bookkeeping of carbon in three pools per
cell (biomass, soil, litter). Each class has initial stocks, yearly accumulation rates,
half-lives and the fractions of its biomass and soil carbon a low-, medium- or high-impact
disturbance releases (the *biophysical table*); each change of class between two snapshots is
an accumulation, a disturbance or "no carbon change" (the *transition table*, whose template
:func:`transition_template` writes from the snapshots, as InVEST's preprocessor does). Between
snapshots a cell accumulates at the rates its last transition set, or emits the carbon its
latest disturbance released, decaying with the pool's half-life:

.. math::

    S_{p,t+1} = S_{p,t} + N_{p,t}, \qquad
    N_{p,t} = \begin{cases} -E_{p,t} & \text{emitting} \\ A_{p,t} & \text{accumulating} \end{cases},
    \qquad E_{p,t} = D_{p,s} \left(0.5^{(t-s)/H_p} - 0.5^{(t-s+1)/H_p}\right)

with :math:`D_{p,s} = M_{p,s} S_{p,s}` the carbon disturbed in the snapshot year s. Net
sequestration is summed by period (snapshot to snapshot, the last one to the analysis year)
and in total; its net present value comes from a price per year (a table, or a price growing
at a rate) discounted to the baseline year.

Units are those of the tables: InVEST calls them CO2-equivalent and converts nothing. The model
tracks carbon dioxide only (no methane), so carbonmap names its outputs in t CO2 (per ha for
rasters, in total for tables) and prices per t CO2; give C-based tables x 44/12.

Two conventions (:data:`CONVENTIONS`) differ where InVEST's code and its user guide do (see
``docs/methods/blue_carbon.md``, "Where InVEST's code and user guide differ"):

``"invest"`` (default)
    InVEST 3.20's code, which its published test cases check: after a later snapshot the
    disturbed carbon decays with the half-life of the class the cell had *before that snapshot*
    (a cleared mangrove that stays a car park stops emitting when the car park's half-life is
    0); emissions, where not nil, override accumulation; litter is counted in net sequestration
    only before the first transition, and the reported total stock adds the litter's yearly
    *rate*, not a litter stock; the net present value of a period is its net sequestration times
    the sum of the discounted prices of the years since the baseline.
``"user_guide"``
    The user guide's definitions: disturbed carbon decays with the half-life of the class that
    was disturbed, until the cell changes class again; a cell either accumulates or emits, as
    its latest transition says; litter accumulates as a stock and counts in net sequestration
    throughout; each year's net sequestration is valued at that year's discounted price.

Compared with InVEST, carbonmap aligns snapshots to one grid (the baseline's, or the run's
analysis grid) as a run aligns rasters, rather than to the intersection of their extents; a
cell that is nodata in any snapshot is nodata in every output; every unknown code, bad table
cell or missing price is reported at once with the file, row and field; it works strip by
strip in bounded memory and writes Cloud-Optimized GeoTIFFs named as InVEST names its outputs,
plus tables by period and by year.

References
----------
.. [1] Natural Capital Project (2026). InVEST 3.20 User's Guide: Coastal Blue Carbon. Stanford
   University. Source: natcap/invest, ``src/natcap/invest/coastal_blue_carbon/``.
.. [2] Houghton R. A. (2003). Revised estimates of the annual net flux of carbon to the
   atmosphere from changes in land use and land management 1850-2000. Tellus B 55(2): 378-390.
.. [3] Pendleton L., et al. (2012). Estimating global "blue carbon" emissions from conversion and
   degradation of vegetated coastal ecosystems. PLoS ONE 7(9): e43542.
.. [4] Murray B. C., Pendleton L., Jenkins W. A., Sifleet S. (2011). Green payments for blue
   carbon: economic incentives for protecting threatened coastal habitats. Nicholas Institute
   Report NI R 11-04.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from carbonmap.errors import InputError, InputNotFoundError, MissingColumnError, NodataError, UnknownCodeError
from carbonmap.grid import AnalysisGrid, aligned_source, cell_area_m2, grid_of, strips
from carbonmap.io import check_class_codes, cog_writer, read_csv

__all__ = [
    "POOLS", "IMPACTS", "TRANSITIONS", "CONVENTIONS", "BIOPHYSICAL_COLUMNS", "LOOKUP_COLUMNS",
    "BlueCarbonValuation", "BlueCarbonResult",
    "read_biophysical", "read_transitions", "read_snapshots", "read_prices", "read_lookup",
    "transition_matrices", "analysis_years", "carbon_prices", "discounted_price_sum",
    "emissions", "track_disturbance", "net_sequestration",
    "transition_template", "biophysical_template", "transition_model", "coastal_blue_carbon",
]

#: The carbon pools; litter only accumulates.
POOLS = ("biomass", "soil", "litter")
_EMITTING = ("biomass", "soil")
#: Impact levels of a disturbance, as in the biophysical table's columns.
IMPACTS = ("low", "med", "high")
#: What a transition does to carbon (cells may also be empty: the transition does not occur).
TRANSITIONS = ("accum", "low-impact-disturb", "med-impact-disturb", "high-impact-disturb", "NCC")
#: Whose definitions to follow where InVEST's code and user guide differ (module docstring).
CONVENTIONS = ("invest", "user_guide")
#: The biophysical table's columns (InVEST's names; matched case-insensitively).
BIOPHYSICAL_COLUMNS = (
    "lucode", "lulc-class", "biomass-initial", "soil-initial", "litter-initial",
    "biomass-half-life", "biomass-low-impact-disturb", "biomass-med-impact-disturb",
    "biomass-high-impact-disturb", "biomass-yearly-accumulation",
    "soil-half-life", "soil-low-impact-disturb", "soil-med-impact-disturb", "soil-high-impact-disturb",
    "soil-yearly-accumulation", "litter-yearly-accumulation",
)
#: The preprocessor's land-cover lookup table.
LOOKUP_COLUMNS = ("lucode", "lulc-class", "is_coastal_blue_carbon_habitat")

_BLANK, _ACCUM, _LOW, _MED, _HIGH, _NCC = range(6)
_KIND_OF = {"accum": _ACCUM, "low-impact-disturb": _LOW, "med-impact-disturb": _MED,
            "high-impact-disturb": _HIGH, "ncc": _NCC}
_NAME_OF = {_BLANK: "", _ACCUM: "accum", _LOW: "low-impact-disturb", _MED: "med-impact-disturb",
            _HIGH: "high-impact-disturb", _NCC: "NCC"}
_RULES = {"non_negative": "numbers >= 0", "fraction": "numbers between 0 and 1", None: "numbers"}
_YEAR_CELLS = 2**21  # cells x years followed at once for the cells emitting (memory: 3 x 8 bytes each)


# --------------------------------------------------------------------------- tables


def _frame(table: str | os.PathLike | pd.DataFrame, what: str) -> tuple[pd.DataFrame, Path | None]:
    """A table as text columns with stripped, lower-case headers, and its file (None for a frame);
    empty rows are dropped, the others keep their position as index (see :func:`_line`)."""
    if isinstance(table, pd.DataFrame):
        frame, path = table.reset_index(drop=True), None
        frame = frame.astype(object).where(frame.notna(), "").astype(str)
    else:
        path = Path(table)
        frame = read_csv(path, what=what, dtype=str, keep_default_na=False)
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    frame = frame.apply(lambda column: column.str.strip())
    empty = (frame == "").all(axis=1)
    return frame[~empty], path


def _need_columns(frame: pd.DataFrame, columns: Sequence[str], path: Path | None, what: str, fix: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise MissingColumnError(f"the {what} needs the column(s) {', '.join(missing)}.", path=path,
                                 field=missing[0], fix=fix)


def _line(frame: pd.DataFrame, index) -> str:
    """How messages name a row: its line in the CSV (header = line 1)."""
    return f"line {int(index) + 2}"


def _integers(frame: pd.DataFrame, column: str, path: Path | None, what: str, fix: str) -> pd.Series:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() | (values != np.round(values))
    if bad.any():
        listed = ", ".join(f"{_line(frame, i)} ({frame.at[i, column]!r})" for i in frame.index[bad][:10])
        raise InputError(f"{column} must be whole numbers: {listed}.", path=path, field=column, fix=fix)
    values = values.astype(np.int64)
    twice = values[values.duplicated()]
    if len(twice):
        raise InputError(f"{column} values listed twice in the {what}: {', '.join(map(str, sorted(set(twice))))}.",
                         path=path, field=column, fix=f"one row per {column}.")
    return values


def _numbers(frame: pd.DataFrame, column: str, rule: str | None, path: Path | None, label: pd.Series) -> np.ndarray:
    values = pd.to_numeric(frame[column].replace("", np.nan), errors="coerce")
    ok = values.notna() & np.isfinite(values)
    if rule == "non_negative":
        ok &= values >= 0
    elif rule == "fraction":
        ok &= (values >= 0) & (values <= 1)
    if not ok.all():
        listed = ", ".join(f"{label[i]} ({frame.at[i, column] or 'empty'})" for i in frame.index[~ok][:10])
        more = f" and {int((~ok).sum()) - 10} more" if (~ok).sum() > 10 else ""
        raise InputError(f"values of {column} must be {_RULES[rule]}: {listed}{more}.", path=path, field=column,
                         fix="give a value in every row (0 where a pool or process is absent).")
    return values.to_numpy(dtype=np.float64)


def _class_key(name: str) -> str:
    """How class names are matched (InVEST lower-cases and strips them)."""
    return str(name).strip().casefold()


def read_biophysical(table: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """Read a biophysical table: per land-cover class, InVEST Coastal Blue Carbon's parameters.

    Parameters
    ----------
    table : path or DataFrame
        A CSV with the columns of :data:`BIOPHYSICAL_COLUMNS` (case-insensitive; others kept):
        ``lucode`` (the raster code), ``lulc-class`` (a unique name, used by the transition
        table), ``<pool>-initial`` [t CO2/ha] for biomass, soil and litter,
        ``<pool>-half-life`` [yr] for biomass and soil (0: the pool emits nothing),
        ``<pool>-<impact>-impact-disturb`` [-], the fraction of the stock a low, med(ium) or high
        impact disturbance releases, and ``<pool>-yearly-accumulation`` [t CO2/ha/yr] for all
        three pools.

    Returns
    -------
    DataFrame
        Sorted by ``lucode`` (int), numbers as floats; ``attrs["path"]`` names the file.

    Raises
    ------
    MissingColumnError
        Listing every missing column.
    InputError
        Naming the file, the field and each bad row: codes that are not whole numbers or are
        listed twice, class names empty or used twice, numbers missing, negative stocks or
        half-lives, fractions outside [0, 1].

    Examples
    --------
    >>> row = dict(zip(BIOPHYSICAL_COLUMNS, [1, "mangrove", 64, 313, 3, 15, 0.5, 0.5, 1, 2,
    ...                                      7.5, 0.3, 0.5, 0.66, 5.35, 1]))
    >>> table = read_biophysical(pd.DataFrame([row]))
    >>> int(table.at[0, "lucode"]), float(table.at[0, "soil-initial"])
    (1, 313.0)
    """
    frame, path = _frame(table, "biophysical table")
    _need_columns(frame, BIOPHYSICAL_COLUMNS, path, "biophysical table",
                  "use InVEST Coastal Blue Carbon's columns: " + ", ".join(BIOPHYSICAL_COLUMNS)
                  + " (`carbonmap blue-carbon --template` writes an empty one).")
    frame["lucode"] = _integers(frame, "lucode", path, "biophysical table",
                                "one row per integer code of the land-cover snapshots.")
    label = "lucode " + frame["lucode"].astype(str)
    names = frame["lulc-class"]
    if (names == "").any():
        listed = ", ".join(label[names == ""])
        raise InputError(f"rows without a class name: {listed}.", path=path, field="lulc-class",
                         fix="name every class; the transition table refers to classes by these names.")
    keys = names.map(_class_key)
    if keys.duplicated().any():
        twice = sorted(set(names[keys.duplicated(keep=False)]))
        raise InputError(f"class names used more than once (names are matched ignoring case): {', '.join(twice)}.",
                         path=path, field="lulc-class", fix="give each class a unique name.")
    for column in BIOPHYSICAL_COLUMNS[2:]:
        rule = "fraction" if column.endswith("disturb") else None if column.endswith("accumulation") \
            else "non_negative"
        frame[column] = _numbers(frame, column, rule, path, label)
    out = frame.sort_values("lucode").reset_index(drop=True)
    out.attrs["path"] = None if path is None else str(path)
    return out


def read_transitions(table: str | os.PathLike | pd.DataFrame, biophysical: pd.DataFrame) -> pd.DataFrame:
    """Read a transition table: what each change of class does to carbon.

    Parameters
    ----------
    table : path or DataFrame
        A CSV whose first column ``lulc-class`` names the class a cell leaves, whose other
        headers name the class it becomes, and whose cells say what happens (case-insensitive):
        ``accum`` (carbon accumulates at the new class's rates), ``low-impact-disturb``,
        ``med-impact-disturb``, ``high-impact-disturb`` (the old class's fraction of its stocks
        is disturbed and emitted), ``NCC`` (no carbon change) or empty (the transition does not
        occur; if it does, nothing changes, as with NCC).
    biophysical : DataFrame
        The biophysical table (:func:`read_biophysical`), whose ``lulc-class`` names the rows
        and columns must use.

    Returns
    -------
    DataFrame
        Square, one row and column per class of `biophysical` (by ``lulc-class``, in ``lucode``
        order), holding :data:`TRANSITIONS` or ""; ``attrs["path"]`` names the file.

    Raises
    ------
    MissingColumnError
        Without a ``lulc-class`` column.
    UnknownCodeError
        A row or header naming a class the biophysical table does not have.
    InputError
        A class listed twice, or cells holding anything else (each named by row and column; the
        preprocessor's ``disturb`` must be replaced by an impact level).

    Examples
    --------
    >>> bio = read_biophysical(pd.DataFrame(
    ...     [dict(zip(BIOPHYSICAL_COLUMNS, [code, name] + [0] * 14)) for code, name in ((1, "a"), (2, "b"))]))
    >>> read_transitions(pd.DataFrame({"lulc-class": ["a", "b"], "a": ["NCC", "accum"],
    ...                                "b": ["high-impact-disturb", "ncc"]}), bio).to_dict("list")
    {'a': ['NCC', 'accum'], 'b': ['high-impact-disturb', 'NCC']}
    """
    if isinstance(table, pd.DataFrame) and table.index.name == "lulc-class":
        table = table.reset_index()  # a table as this function returns it
    frame, path = _frame(table, "transition table")
    fix = "columns: lulc-class, then one column per class of the biophysical table (as the template has)."
    _need_columns(frame, ("lulc-class",), path, "transition table", fix)
    classes = list(biophysical["lulc-class"])
    known = {_class_key(name): name for name in classes}
    bio_path = biophysical.attrs.get("path") or "the biophysical table"
    headers = [c for c in frame.columns if c != "lulc-class"]
    strangers = [h for h in headers if _class_key(h) not in known]
    if strangers:
        raise UnknownCodeError(f"the header names class(es) {', '.join(map(repr, strangers))}, which {bio_path} "
                               "does not have.", path=path, field=strangers[0],
                               fix=f"use the classes of the biophysical table: {', '.join(classes)}.")
    if len(set(headers)) < len(headers):
        twice = sorted({h for h in headers if headers.count(h) > 1})
        raise InputError(f"classes listed twice in the header: {', '.join(twice)}.", path=path, field=twice[0],
                         fix="one column per class.")
    rows = frame["lulc-class"].map(_class_key)
    unknown = [i for i, key in rows.items() if key not in known]
    if unknown:
        listed = ", ".join(f"{_line(frame, i)} ({frame.at[i, 'lulc-class']!r})" for i in unknown[:10])
        raise UnknownCodeError(f"rows name classes that {bio_path} does not have: {listed}.", path=path,
                               field="lulc-class", fix=f"use the classes of the biophysical table: "
                               f"{', '.join(classes)}.")
    if rows.duplicated().any():
        raise InputError(f"classes listed twice: {', '.join(sorted(set(frame['lulc-class'][rows.duplicated()])))}.",
                         path=path, field="lulc-class", fix="one row per class.")
    allowed = {k.casefold() for k in TRANSITIONS}
    bad = [(frame.at[i, "lulc-class"], header, frame.at[i, header]) for header in headers for i in frame.index
           if frame.at[i, header] and frame.at[i, header].casefold() not in allowed]
    if bad:
        listed = ", ".join(f"{r!r} to {c!r}: {v!r}" for r, c, v in bad[:10])
        raise InputError(f"{len(bad)} cell(s) are not a transition carbonmap knows: {listed}.", path=path,
                         field=bad[0][1], fix=f"use {', '.join(TRANSITIONS)} or leave the cell empty; replace the "
                         "preprocessor's 'disturb' with low-impact-disturb, med-impact-disturb or high-impact-disturb.")
    out = pd.DataFrame("", index=pd.Index(classes, name="lulc-class"), columns=classes)
    for i in frame.index:
        source = known[rows[i]]
        for header in headers:
            value = frame.at[i, header]
            if value:
                out.at[source, known[_class_key(header)]] = _NAME_OF[_KIND_OF[value.casefold()]]
    out.attrs["path"] = None if path is None else str(path)
    return out


def read_snapshots(table: str | os.PathLike) -> dict[int, Path]:
    """Read InVEST's snapshot table: ``snapshot_year`` and ``raster_path`` (relative to the table).

    Returns
    -------
    dict of int -> Path
        The land-cover raster of each year, by year.

    Raises
    ------
    MissingColumnError, InputError, InputNotFoundError
        Naming the table, the field and the row: a year that is not a whole number or is listed
        twice, a raster that does not exist.
    """
    path = Path(table)
    frame, _ = _frame(path, "snapshot table")
    _need_columns(frame, ("snapshot_year", "raster_path"), path, "snapshot table",
                  "columns: snapshot_year, raster_path (one row per land-cover snapshot).")
    years = _integers(frame, "snapshot_year", path, "snapshot table", "e.g. 2010.")
    out = {}
    for i, year in years.items():
        raster = Path(frame.at[i, "raster_path"])
        raster = raster if raster.is_absolute() else path.parent / raster
        if not raster.exists():
            raise InputNotFoundError(f"the raster of {year} ({_line(frame, i)}) does not exist: {raster}.",
                                     path=path, field="raster_path",
                                     fix="correct the path (relative paths are relative to the snapshot table).")
        out[int(year)] = raster
    return dict(sorted(out.items()))


def read_prices(table: str | os.PathLike | pd.DataFrame) -> dict[int, float]:
    """Read a price table: ``year`` and ``price`` [currency/t CO2].

    Raises
    ------
    MissingColumnError, InputError
        Naming the table, the field and the rows: years not whole or listed twice, prices that
        are not numbers.
    """
    frame, path = _frame(table, "price table")
    _need_columns(frame, ("year", "price"), path, "price table", "columns: year, price (one row per year).")
    years = _integers(frame, "year", path, "price table", "e.g. 2020.")
    prices = _numbers(frame, "price", None, path, "year " + years.astype(str))
    return dict(sorted(zip(years.tolist(), prices.tolist())))


def read_lookup(table: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """Read the preprocessor's lookup table: ``lucode``, ``lulc-class`` and
    ``is_coastal_blue_carbon_habitat`` (TRUE / FALSE, yes / no or 1 / 0), sorted by code.

    Raises
    ------
    MissingColumnError, InputError
        Naming the table, the field and the rows at fault.
    """
    frame, path = _frame(table, "lookup table")
    _need_columns(frame, LOOKUP_COLUMNS, path, "lookup table",
                  "columns: lucode, lulc-class, is_coastal_blue_carbon_habitat (TRUE or FALSE).")
    frame["lucode"] = _integers(frame, "lucode", path, "lookup table", "one row per land-cover code.")
    truth = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
    flags = frame["is_coastal_blue_carbon_habitat"].str.casefold().map(truth)
    if flags.isna().any():
        listed = ", ".join(f"lucode {frame.at[i, 'lucode']} ({frame.at[i, 'is_coastal_blue_carbon_habitat']!r})"
                           for i in frame.index[flags.isna()][:10])
        raise InputError(f"is_coastal_blue_carbon_habitat must be TRUE or FALSE: {listed}.", path=path,
                         field="is_coastal_blue_carbon_habitat", fix="TRUE for mangrove, marsh, seagrass, ...")
    frame["is_coastal_blue_carbon_habitat"] = flags.astype(bool)
    out = frame.sort_values("lucode").reset_index(drop=True)
    out.attrs["path"] = None if path is None else str(path)
    return out


# --------------------------------------------------------------------------- years and prices


def analysis_years(snapshot_years: Sequence[int], analysis_year: int | None = None) -> tuple[list[int], int]:
    """The snapshot years in order and the analysis year, checked as InVEST checks them.

    Returns
    -------
    (list of int, int)
        The sorted snapshot years (the first is the baseline) and the analysis year (default:
        the last snapshot's).

    Raises
    ------
    InputError
        No snapshot; one snapshot without an analysis year; an analysis year not after the last
        snapshot (``key='analysis_year'``).

    Examples
    --------
    >>> analysis_years([2010, 2000, 2020], 2030)
    ([2000, 2010, 2020], 2030)
    """
    years = sorted(int(y) for y in snapshot_years)
    if not years:
        raise InputError("there is no land-cover snapshot.", key="snapshots", fix="give at least one snapshot.")
    if analysis_year is None:
        if len(years) == 1:
            raise InputError("with one snapshot, the analysis year is required.", key="analysis_year",
                             fix=f"give an analysis year after {years[0]}.")
        return years, years[-1]
    if analysis_year <= years[-1]:
        raise InputError(f"the analysis year ({analysis_year}) must come after the last snapshot ({years[-1]}).",
                         key="analysis_year", fix=f"give a year after {years[-1]}, or none (the analysis then "
                         "ends at the last snapshot).")
    return years, int(analysis_year)


@dataclass(frozen=True)
class BlueCarbonValuation:
    """The value of net sequestration: a discount rate and prices.

    discount_rate_pct : annual discount rate [%], compounded from the baseline year.
    price_per_t_co2 : price in the baseline year [currency/t CO2], growing by
        `price_change_pct` [%] a year (InVEST's "price" and "interest rate");
    prices : or a price per year [currency/t CO2] (InVEST's price table), covering the
        baseline year to the year before the analysis year.
    """

    discount_rate_pct: float
    price_per_t_co2: float | None = None
    price_change_pct: float = 0.0
    prices: Mapping[int, float] | None = None


def carbon_prices(valuation: BlueCarbonValuation, baseline_year: int, analysis_year: int) -> dict[int, float]:
    r"""The price of each year from the baseline year to the year before the analysis year.

    Returns
    -------
    dict of int -> float [currency/t CO2]

    Raises
    ------
    InputError
        Neither or both of a price and a price table; a price table missing years (all listed).

    Notes
    -----
    From a price :math:`p_0` and a rate of change c [%]: :math:`p_y = p_0 (1 + c/100)^{y - y_0}`.

    Examples
    --------
    >>> carbon_prices(BlueCarbonValuation(4, price_per_t_co2=10.0, price_change_pct=5), 2000, 2003)
    {2000: 10.0, 2001: 10.5, 2002: 11.025}
    """
    if (valuation.prices is None) == (valuation.price_per_t_co2 is None):
        raise InputError("valuation needs either a price (with its rate of change) or a price table.",
                         key="price_per_t_co2", fix="give one of them.")
    years = range(baseline_year, analysis_year)
    if valuation.prices is None:
        growth = 1 + valuation.price_change_pct / 100.0
        return {y: float(valuation.price_per_t_co2 * growth ** (y - baseline_year)) for y in years}
    missing = [y for y in years if y not in valuation.prices]
    if missing:
        raise InputError(f"the price table has no price for {_year_ranges(missing)}.", key="prices",
                         fix=f"give a price for every year from {baseline_year} to {analysis_year - 1}.")
    return {y: float(valuation.prices[y]) for y in years}


def _year_ranges(years: Sequence[int]) -> str:
    parts, start = [], years[0]
    for a, b in zip(years, list(years[1:]) + [None]):
        if b != a + 1:
            parts.append(str(start) if start == a else f"{start}-{a}")
            start = b
    return ", ".join(parts)


def discounted_price_sum(prices: Mapping[int, float], discount_rate_pct: float, baseline_year: int,
                         year: int) -> float:
    r"""The sum of the discounted prices of the years from the baseline to `year` (excluded).

    Parameters
    ----------
    prices : mapping of int -> float [currency/t CO2]
    discount_rate_pct : float [%]
    baseline_year, year : int

    Returns
    -------
    float [currency/t CO2]

    Notes
    -----
    .. math:: F(T) = \sum_{y=y_0}^{T-1} \frac{p_y}{(1 + d/100)^{y - y_0}}

    InVEST values the net sequestration from the baseline to a snapshot year T as
    :math:`N_{y_0 \to T} \, F(T)` (its ``_calculate_npv``; convention ``"invest"``).

    Examples
    --------
    >>> round(discounted_price_sum({2010: 50, 2011: 80, 2012: 95}, 10, 2010, 2012), 6)  # InVEST test
    122.727273
    """
    rate = 1 + discount_rate_pct / 100.0
    return float(sum(prices[y] / rate ** (y - baseline_year) for y in range(baseline_year, year)))


# --------------------------------------------------------------------------- per-cell building blocks


def emissions(volume, year_disturbed, half_life, year: int) -> np.ndarray:
    r"""Carbon emitted in `year` by a disturbance [t CO2/ha], for one pool.

    Parameters
    ----------
    volume : array [t CO2/ha]
        Carbon disturbed (:func:`track_disturbance`); NaN where unknown.
    year_disturbed : array of int
        Year of the latest disturbance; negative where the cell was never disturbed.
    half_life : array [yr]
        Half-life of the disturbed carbon; 0 means it emits nothing.
    year : int
        The year whose emissions to compute (>= `year_disturbed`).

    Returns
    -------
    ndarray [t CO2/ha]
        NaN where `volume` is NaN or the cell was never disturbed; 0 where the half-life is 0.

    Notes
    -----
    The disturbance happens at the very start of its year s, which is the first year of
    emissions:

    .. math:: E_t = D \left(0.5^{(t-s)/H} - 0.5^{(t-s+1)/H}\right)

    (the user guide writes the exponents as (t-(s+1))/H and (t-s)/H, one year later, which
    would emit more than D in all; InVEST's code, followed here, does not).

    Examples
    --------
    >>> emissions(np.array([5.5]), np.array([10]), np.array([7.5]), 15).round(6)  # InVEST test_emissions
    array([0.305862])
    """
    volume = np.asarray(volume, dtype=np.float64)
    when = np.asarray(year_disturbed)
    half_life = np.asarray(half_life, dtype=np.float64)
    zero = np.isclose(half_life, 0.0)
    safe = np.where(zero, 1.0, half_life)
    age = year - when
    out = volume * (0.5 ** (age / safe) - 0.5 ** ((age + 1) / safe))
    out = np.where(zero, 0.0, out)
    return np.where((when < 0) | np.isnan(volume), np.nan, out)


def track_disturbance(magnitude, stock, year: int, prior_volume=None, prior_year=None) -> tuple[np.ndarray, np.ndarray]:
    r"""The carbon disturbed in a pool and the year of its latest disturbance, after a snapshot.

    Parameters
    ----------
    magnitude : array [-]
        Fraction of the stock the transition disturbs (0: no disturbance); NaN: unknown.
    stock : array [t CO2/ha]
        The pool's stock at the start of `year`; NaN: unknown.
    year : int
        The snapshot year.
    prior_volume, prior_year : arrays, optional
        The same after the previous snapshot (year negative: never disturbed).

    Returns
    -------
    volume : ndarray [t CO2/ha]
        :math:`D = M S` where this snapshot disturbs, else the prior volume where the cell was
        disturbed before, else 0 (NaN where `magnitude` is NaN).
    year_disturbed : ndarray of int
        `year` where this snapshot disturbs, else the prior year, else -1.

    Examples
    --------
    >>> volume, when = track_disturbance(np.array([0.5, np.nan, 0.0]), np.array([10.0, np.nan, 10.0]), 2010,
    ...                                  np.array([700.0, np.nan, 300.0]), np.array([2000, -1, 1990]))
    >>> volume.tolist(), when.tolist()  # InVEST test_track_later_disturbance
    ([5.0, nan, 300.0], [2010, -1, 1990])
    """
    magnitude = np.asarray(magnitude, dtype=np.float64)
    stock = np.asarray(stock, dtype=np.float64)
    prior_volume = np.zeros(magnitude.shape) if prior_volume is None else np.asarray(prior_volume, dtype=np.float64)
    prior_year = np.full(magnitude.shape, -1) if prior_year is None else np.asarray(prior_year)
    now = ~np.isnan(magnitude) & (magnitude != 0) & ~np.isnan(stock)
    before = prior_year >= 0
    untouched = np.where(np.isnan(magnitude), np.nan, 0.0)
    volume = np.where(now, magnitude * stock, np.where(before, prior_volume, untouched))
    return volume, np.where(now, year, np.where(before, prior_year, -1)).astype(np.int64)


def net_sequestration(accumulation, emitted) -> np.ndarray:
    """A pool's net sequestration in a year, by InVEST's rule [t CO2/ha].

    Parameters
    ----------
    accumulation : array [t CO2/ha/yr]
        The accumulation rate in effect; NaN: unknown.
    emitted : array [t CO2/ha]
        The year's emissions (:func:`emissions`); NaN: none.

    Returns
    -------
    ndarray [t CO2/ha]
        ``-emitted`` where emissions are known and not nil (``numpy.isclose(emitted, 0)``: they
        take precedence), else `accumulation`; NaN where neither is known.

    Examples
    --------
    >>> net_sequestration(np.array([40, np.nan, 70, np.nan]), np.array([np.nan, 8, 7, np.nan])).tolist()
    [40.0, -8.0, -7.0, nan]
    """
    accumulation = np.asarray(accumulation, dtype=np.float64)
    emitted = np.asarray(emitted, dtype=np.float64)
    emitting = ~np.isnan(emitted) & ~np.isclose(np.nan_to_num(emitted), 0.0)
    return np.where(emitting, -emitted, accumulation)


# --------------------------------------------------------------------------- the preprocessor


def _ordered(snapshots: Mapping[int, Any] | Sequence[Any]) -> tuple[list[int], list[Any]]:
    if isinstance(snapshots, Mapping):
        years = sorted(int(y) for y in snapshots)
        return years, [snapshots[y] for y in years]
    return list(range(len(snapshots))), list(snapshots)


def _observed(snapshots, grid, block_pixels, source_kwargs) -> dict[tuple[int, int], int]:
    """Cells per (from code, to code) over consecutive snapshots (nodata in either: not counted)."""
    _, rasters = _ordered(snapshots)
    grid = grid or grid_of(rasters[0], **source_kwargs)
    counts: dict[tuple[int, int], int] = {}
    with ExitStack() as stack:
        sources = [stack.enter_context(aligned_source(r, grid, kind="categorical", **source_kwargs)) for r in rasters]
        for src in sources:
            check_class_codes(src.dtype, name=src.name)
        for window in strips(grid.height, grid.width, block_pixels):
            data = [src.read(window) for src in sources]
            for before, after in zip(data, data[1:]):
                valid = ~np.ma.getmaskarray(before) & ~np.ma.getmaskarray(after)
                pairs = np.stack([np.ma.getdata(before)[valid], np.ma.getdata(after)[valid]]).astype(np.int64)
                unique, n = np.unique(pairs, axis=1, return_counts=True)
                for (a, b), k in zip(unique.T.tolist(), n.tolist()):
                    counts[(a, b)] = counts.get((a, b), 0) + k
    return counts


def transition_template(snapshots: Mapping[int, Any] | Sequence[Any], lookup: str | os.PathLike | pd.DataFrame, *,
                        grid: AnalysisGrid | None = None, block_pixels: int = 2**22,
                        **source_kwargs: Any) -> pd.DataFrame:
    """The transition table's template: every transition seen between consecutive snapshots.

    Parameters
    ----------
    snapshots : mapping of year -> raster, or rasters in order
        Land-cover snapshots (paths, datasets or 2-D int arrays; arrays need ``transform=``,
        ``crs=``, ``nodata=``). Later ones are aligned to the first's grid (or `grid`).
    lookup : path or DataFrame
        The lookup table (:func:`read_lookup`): which classes are coastal blue-carbon habitat.
    grid : AnalysisGrid, optional
        The grid to compare on (default: the first snapshot's).
    block_pixels : int [cells]
        Cells read per strip.
    **source_kwargs
        Passed to :func:`carbonmap.io.open_raster`.

    Returns
    -------
    DataFrame
        Index ``lulc-class`` (every class of the lookup table, by code), one column per class;
        a cell is ``accum`` (into habitat), ``disturb`` (habitat to non-habitat), ``NCC``
        (non-habitat to non-habitat) where that transition occurs, else "". Written with
        ``to_csv()`` it is InVEST's ``carbon_pool_transition_template.csv``; replace each
        ``disturb`` by an impact level before using it.

    Raises
    ------
    UnknownCodeError
        Codes of the snapshots the lookup table lacks (all, with cell counts).

    Examples
    --------
    >>> from affine import Affine
    >>> a = np.array([[0, 1], [0, 1], [0, 1]]); b = np.array([[0, 1], [1, 0], [-1, -1]])
    >>> lookup = pd.DataFrame({"lucode": [0, 1], "lulc-class": ["mangrove", "parking lot"],
    ...                        "is_coastal_blue_carbon_habitat": ["True", "False"]})
    >>> print(transition_template([a, b], lookup, transform=Affine(100, 0, 0, 0, -100, 0),
    ...                           crs="EPSG:3157", nodata=-1).to_csv(), end="")  # InVEST test
    lulc-class,mangrove,parking lot
    mangrove,accum,disturb
    parking lot,accum,NCC
    """
    table = read_lookup(lookup)
    counts = _observed(snapshots, grid, block_pixels, source_kwargs)
    codes = table["lucode"].tolist()
    seen = {}
    for (a, b), n in counts.items():
        for code in (a, b):
            if code not in codes:
                seen[code] = seen.get(code, 0) + n
    if seen:
        listed = ", ".join(f"{c} (in {n} transitions)" for c, n in sorted(seen.items()))
        raise UnknownCodeError(f"the lookup table is missing a row for land-cover code(s) {listed}.",
                               path=table.attrs.get("path"), field="lucode", fix="add a row for each.")
    habitat = dict(zip(codes, table["is_coastal_blue_carbon_habitat"]))
    name = dict(zip(codes, table["lulc-class"]))
    kind = {(True, True): "accum", (False, True): "accum", (True, False): "disturb", (False, False): "NCC"}
    out = pd.DataFrame("", index=pd.Index([name[c] for c in codes], name="lulc-class"),
                       columns=[name[c] for c in codes])
    for a, b in counts:
        out.at[name[a], name[b]] = kind[(habitat[a], habitat[b])]
    return out


def biophysical_template(lookup: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """The biophysical table's template: :data:`BIOPHYSICAL_COLUMNS`, one row per class of the
    lookup table, with the values the lookup table already has and the rest empty (InVEST's
    ``carbon_biophysical_table_template.csv``)."""
    table = read_lookup(lookup)
    out = pd.DataFrame({c: table[c] if c in table else "" for c in BIOPHYSICAL_COLUMNS})
    return out


# --------------------------------------------------------------------------- the model


@dataclass
class BlueCarbonResult:
    """What :func:`coastal_blue_carbon` computed.

    periods : one row per period (snapshot to snapshot, the last to the analysis year) and a
        last row for the whole analysis: ``start_year``, ``end_year``, ``stock_start_t_co2``,
        ``stock_end_t_co2``, ``accumulation_t_co2``, ``emissions_t_co2``,
        ``net_sequestration_t_co2`` [t CO2], ``npv`` (net present value at the end year of the
        net sequestration since the baseline [currency]; NaN without valuation) and
        ``area_ha`` [ha of valid cells].
    annual : one row per year from the baseline to the analysis year: stocks at the start of
        the year (``stock_biomass_t_co2``, ``stock_soil_t_co2``, ``stock_litter_t_co2``,
        ``stock_t_co2``) and the flows during it (``accumulation_t_co2``, ``emissions_t_co2``,
        ``net_sequestration_t_co2``; NaN for the analysis year) [t CO2].
    transitions : the transitions seen between consecutive snapshots: ``from_year``,
        ``to_year``, ``from_class``, ``to_class``, ``transition`` (from the transition table;
        "" where it is empty), ``cells``, ``area_ha``.
    rasters : output name -> Cloud-Optimized GeoTIFF [t CO2/ha; currency/ha for values]:
        ``carbon-stock-at-<year>``, ``carbon-accumulation-between-<y1>-and-<y2>``,
        ``carbon-emissions-between-<y1>-and-<y2>``,
        ``total-net-carbon-sequestration-between-<y1>-and-<y2>``,
        ``total-net-carbon-sequestration``, ``total-carbon-accumulation``,
        ``total-carbon-emissions``, ``net-present-value-at-<year>`` (empty without `out_dir`).
    """

    periods: pd.DataFrame
    annual: pd.DataFrame
    transitions: pd.DataFrame
    rasters: dict[str, Path] = field(default_factory=dict)

    @property
    def baseline_year(self) -> int:
        return int(self.annual["year"].iloc[0])

    @property
    def analysis_year(self) -> int:
        return int(self.annual["year"].iloc[-1])


@dataclass
class _State:
    """Per cell: the stocks and rates of each pool, and the latest disturbance of biomass and soil
    (carbon disturbed, year, half-life); for the user guide's convention, whether it emits."""

    stock: dict[str, np.ndarray]
    rate: dict[str, np.ndarray]
    volume: dict[str, np.ndarray]
    when: dict[str, np.ndarray]
    half: dict[str, np.ndarray]
    emitting: np.ndarray

    @classmethod
    def initial(cls, model: _Model, classes: np.ndarray) -> _State:
        size = len(classes)
        return cls({p: model.initial[p][classes].copy() for p in POOLS},
                   {p: model.rate[p][classes].copy() for p in POOLS},
                   {p: np.zeros(size) for p in _EMITTING}, {p: np.full(size, -1, dtype=np.int64) for p in _EMITTING},
                   {p: np.zeros(size) for p in _EMITTING}, np.zeros(size, dtype=bool))


def _kinds(biophysical: pd.DataFrame, transitions: pd.DataFrame) -> np.ndarray:
    """(n, n) transition kind codes, by class position (from, to)."""
    n = len(biophysical)
    kinds = np.zeros((n, n), dtype=np.int8)
    keys = {name: i for i, name in enumerate(biophysical["lulc-class"])}
    for source, row in transitions.iterrows():
        for target, value in row.items():
            if value:
                kinds[keys[source], keys[target]] = _KIND_OF[value.casefold()]
    return kinds


def transition_matrices(biophysical: pd.DataFrame, transitions: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """What each transition sets, as matrices indexed by the codes left (rows) and entered (columns).

    Parameters
    ----------
    biophysical : DataFrame
        :func:`read_biophysical`.
    transitions : DataFrame
        :func:`read_transitions` of it.

    Returns
    -------
    dict of str -> DataFrame (n, n)
        ``"biomass-accumulation"``, ``"soil-accumulation"`` [t CO2/ha/yr]: the entered class's
        yearly accumulation where the transition is ``accum``, else 0; ``"biomass-disturbance"``,
        ``"soil-disturbance"`` [-]: the left class's fraction for the transition's impact where it
        is a disturbance, else 0 (InVEST's ``_read_transition_matrix``).

    Examples
    --------
    >>> bio = read_biophysical(pd.DataFrame([dict(zip(BIOPHYSICAL_COLUMNS, [c, n, 0, 0, 0, 0, 0, 0, .9, 7,
    ...     0, 0, 0, .8, 6, 0])) for c, n in ((1, "a"), (2, "b"))]))
    >>> m = transition_matrices(bio, read_transitions(pd.DataFrame(
    ...     {"lulc-class": ["a", "b"], "a": ["NCC", "accum"], "b": ["high-impact-disturb", ""]}), bio))
    >>> m["biomass-accumulation"].to_numpy().tolist(), m["soil-disturbance"].to_numpy().tolist()
    ([[0.0, 0.0], [7.0, 0.0]], [[0.0, 0.8], [0.0, 0.0]])
    """
    kinds = _kinds(biophysical, transitions)
    codes = pd.Index(biophysical["lucode"], name="from_lucode")
    out = {}
    for p in _EMITTING:
        rate = biophysical[f"{p}-yearly-accumulation"].to_numpy(np.float64)
        fractions = [biophysical[f"{p}-{impact}-impact-disturb"].to_numpy(np.float64)[:, None] for impact in IMPACTS]
        out[f"{p}-accumulation"] = np.where(kinds == _ACCUM, rate[None, :], 0.0)
        out[f"{p}-disturbance"] = np.select([kinds == _LOW, kinds == _MED, kinds == _HIGH], fractions, 0.0)
    return {name: pd.DataFrame(matrix, index=codes, columns=pd.Index(biophysical["lucode"], name="to_lucode"))
            for name, matrix in out.items()}


@dataclass
class _Model:
    """The tables as arrays (by class position, in ``lucode`` order) and the years."""

    codes: np.ndarray
    classes: list[str]
    initial: dict[str, np.ndarray]
    rate: dict[str, np.ndarray]
    half_life: dict[str, np.ndarray]
    kinds: np.ndarray  # (n, n) transition kind codes
    accumulation: dict[str, np.ndarray]  # pool -> (n*n,) rate after a transition
    disturbance: dict[str, np.ndarray]  # pool -> (n*n,) fraction disturbed by a transition
    years: list[int]
    analysis_year: int
    convention: str
    weights: dict[int, float] | None  # year -> discounted price (valuation)

    @classmethod
    def build(cls, biophysical: pd.DataFrame, transitions: pd.DataFrame, years: list[int], analysis_year: int,
              valuation: BlueCarbonValuation | None, convention: str) -> _Model:
        if convention not in CONVENTIONS:
            raise InputError(f"unknown convention {convention!r}.", key="convention",
                             fix=f"use one of {', '.join(CONVENTIONS)}.")
        kinds = _kinds(biophysical, transitions)
        matrices = transition_matrices(biophysical, transitions)
        accumulation = {p: matrices[f"{p}-accumulation"].to_numpy().ravel() for p in _EMITTING}
        disturbance = {p: matrices[f"{p}-disturbance"].to_numpy().ravel() for p in _EMITTING}
        rate = {p: biophysical[f"{p}-yearly-accumulation"].to_numpy(np.float64) for p in POOLS}
        weights = None
        if valuation is not None:
            prices = carbon_prices(valuation, years[0], analysis_year)
            growth = 1 + valuation.discount_rate_pct / 100.0
            weights = {y: p / growth ** (y - years[0]) for y, p in prices.items()}
        return cls(biophysical["lucode"].to_numpy(np.int64), list(biophysical["lulc-class"]),
                   {p: biophysical[f"{p}-initial"].to_numpy(np.float64) for p in POOLS}, rate,
                   {p: biophysical[f"{p}-half-life"].to_numpy(np.float64) for p in _EMITTING}, kinds,
                   accumulation, disturbance, years, analysis_year, convention, weights)

    @property
    def boundaries(self) -> list[int]:
        return sorted(set(self.years) | {self.analysis_year})

    def output_names(self) -> list[str]:
        bounds = self.boundaries
        names = [f"carbon-stock-at-{y}" for y in bounds]
        for a, b in zip(bounds, bounds[1:]):
            names += [f"carbon-accumulation-between-{a}-and-{b}", f"carbon-emissions-between-{a}-and-{b}",
                      f"total-net-carbon-sequestration-between-{a}-and-{b}"]
        names += ["total-carbon-accumulation", "total-carbon-emissions", "total-net-carbon-sequestration"]
        if self.weights is not None:
            names += [f"net-present-value-at-{y}" for y in bounds[1:]]
        return names

    def run(self, index: Sequence[np.ndarray], cell_ha: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Run the model on cells: `index` holds each snapshot's class positions (1-D, valid cells
        only), `cell_ha` their areas [ha]. Returns the maps (output name -> values per cell
        [t CO2/ha]) and the annual totals, (years, 7) [t CO2]: stocks of biomass, soil, litter
        and in total at the start of each year, and its accumulation, emissions and net
        sequestration (NaN for the analysis year)."""
        state = _State.initial(self, index[0])
        snapshot = dict(zip(self.years, index))
        bounds, b, end = self.boundaries, self.years[0], self.analysis_year
        maps: dict[str, np.ndarray] = {}
        total = {k: np.zeros(len(index[0])) for k in ("acc", "em", "net", "present")}
        annual = np.full((end - b + 1, 7), np.nan)
        previous = index[0]
        for start, stop in zip(bounds, bounds[1:] + [None]):
            if start != b and start in snapshot:
                self._transition(state, previous, snapshot[start], start)
                previous = snapshot[start]
            litter = state.stock["litter"] if self.convention == "user_guide" else state.rate["litter"]
            maps[f"carbon-stock-at-{start}"] = state.stock["biomass"] + state.stock["soil"] + litter
            if stop is None:  # the analysis year: its stocks only
                annual[-1, :3] = [cell_ha @ state.stock["biomass"], cell_ha @ state.stock["soil"], cell_ha @ litter]
                annual[-1, 3] = annual[-1, :3].sum()
                break
            flows = self._period(state, start, stop, cell_ha, annual[start - b:stop - b])
            for key, name in (("acc", "carbon-accumulation"), ("em", "carbon-emissions"),
                              ("net", "total-net-carbon-sequestration")):
                maps[f"{name}-between-{start}-and-{stop}"] = flows[key]
            for key in total:
                total[key] += flows[key]
            if self.weights is not None:
                maps[f"net-present-value-at-{stop}"] = total["present"].copy() if self.convention == "user_guide" \
                    else total["net"] * sum(self.weights[y] for y in range(b, stop))
        maps["total-carbon-accumulation"] = total["acc"]
        maps["total-carbon-emissions"] = total["em"]
        maps["total-net-carbon-sequestration"] = total["net"]
        return maps, annual

    def _transition(self, state: _State, before: np.ndarray, after: np.ndarray, year: int) -> None:
        """Apply a snapshot's transitions: new rates, disturbances and half-lives."""
        flat = before * len(self.codes) + after
        state.rate["litter"] = self.rate["litter"][after]
        if self.convention == "user_guide":
            kind = self.kinds.ravel()[flat]
            disturbed = (kind >= _LOW) & (kind <= _HIGH)
            changed = before != after
            state.emitting = np.where(disturbed, True, np.where(changed, False, state.emitting))
        for p in _EMITTING:
            state.rate[p] = self.accumulation[p][flat]
            magnitude = self.disturbance[p][flat]
            if self.convention == "invest":
                state.half[p] = self.half_life[p][before]  # the class before *this* snapshot, disturbed or not
                state.volume[p], state.when[p] = track_disturbance(magnitude, state.stock[p], year, state.volume[p],
                                                                   state.when[p])
            else:
                state.volume[p] = np.where(disturbed, magnitude * state.stock[p],
                                           np.where(changed, 0.0, state.volume[p]))
                state.when[p] = np.where(disturbed, year, np.where(changed, -1, state.when[p]))
                state.half[p] = np.where(disturbed, self.half_life[p][before], state.half[p])

    def _period(self, state: _State, start: int, stop: int, cell_ha: np.ndarray, annual: np.ndarray
                ) -> dict[str, np.ndarray]:
        """The years from `start` to `stop` (excluded): per-cell sums of accumulation, emissions, net
        sequestration and its discounted value; the annual totals are written into `annual` (one row
        per year). Cells whose carbon only accumulates change linearly; only the cells emitting
        disturbed carbon are followed year by year."""
        user_guide = self.convention == "user_guide"
        n, years = stop - start, np.arange(start, stop)
        after_first = len(self.years) > 1 and start >= self.years[1]
        weights = np.array([self.weights[y] for y in years]) if self.weights is not None else np.zeros(n)
        litter_counts = user_guide or not after_first  # InVEST counts litter only in the baseline period
        rate_litter = state.rate["litter"]
        out = {"acc": rate_litter * n, "em": np.zeros(len(cell_ha)),
               "net": rate_litter * n if litter_counts else np.zeros(len(cell_ha)),
               "present": rate_litter * weights.sum() if litter_counts and user_guide else np.zeros(len(cell_ha))}
        step = np.arange(n)
        litter_ha = cell_ha @ rate_litter
        annual[:, 2] = cell_ha @ state.stock["litter"] + step * litter_ha if user_guide else litter_ha
        annual[:, 4] = litter_ha
        annual[:, 5] = 0.0
        annual[:, 6] = litter_ha if litter_counts else 0.0
        for column, p in enumerate(_EMITTING):
            stock, rate = state.stock[p], state.rate[p]
            steady = np.where(state.emitting, 0.0, rate) if user_guide else rate.copy()
            out["acc"] += steady * n  # InVEST: the rate even where emissions override it
            annual[:, 4] += cell_ha @ steady
            active = np.zeros(len(cell_ha), dtype=bool)
            if after_first:
                active = (state.when[p] >= 0) & ~np.isclose(state.half[p], 0.0)
                active &= state.emitting if user_guide else True
            cells = np.flatnonzero(active)
            steady[cells] = 0.0
            out["net"] += steady * n
            out["present"] += steady * weights.sum() if user_guide else 0.0
            annual[:, column] = cell_ha @ stock + step * (cell_ha @ steady)
            annual[:, 6] += cell_ha @ steady
            if cells.size:
                area, rates, done = cell_ha[cells], rate[cells], np.zeros(cells.size)
                volume, when, half = state.volume[p][cells], state.when[p][cells], state.half[p][cells]
                chunk = max(1, _YEAR_CELLS // cells.size)  # years at a time: bounded memory
                for first in range(0, n, chunk):
                    span = slice(first, min(n, first + chunk))
                    emitted = np.stack([emissions(volume, when, half, year) for year in years[span]])  # (years, cells)
                    change = -emitted if user_guide else net_sequestration(rates, emitted)
                    cumulative = done + np.cumsum(change, axis=0)
                    annual[span, column] += (cumulative - change) @ area  # stocks at the start of each year
                    annual[span, 5] += emitted @ area
                    annual[span, 6] += change @ area
                    out["em"][cells] += emitted.sum(axis=0)
                    if user_guide:
                        out["present"][cells] += weights[span] @ change
                    done = cumulative[-1]
                out["net"][cells] += done
                stock[cells] += done
            stock += steady * n
        state.stock["litter"] = state.stock["litter"] + rate_litter * n
        annual[:, 3] = annual[:, :3].sum(axis=1)
        return out

    def positions(self, classes: np.ndarray, valid: np.ndarray, unknown: dict[int, int]) -> np.ndarray:
        """Class positions of the valid cells' codes; unknown codes are counted into `unknown`."""
        codes = classes[valid].astype(np.int64)
        position = np.minimum(np.searchsorted(self.codes, codes), len(self.codes) - 1)
        bad = self.codes[position] != codes
        if bad.any():
            for code, n in zip(*np.unique(codes[bad], return_counts=True)):
                unknown[int(code)] = unknown.get(int(code), 0) + int(n)
        return position


def transition_model(snapshots: Mapping[int, np.ndarray], biophysical, transitions, *,
                     analysis_year: int | None = None, valuation: BlueCarbonValuation | None = None,
                     convention: str = "invest") -> dict[str, np.ma.MaskedArray]:
    r"""The transition model on land-cover arrays held in memory (one window of a landscape).

    Parameters
    ----------
    snapshots : mapping of int -> masked array (H, W) of int
        Land-cover codes by snapshot year, on one grid (masked = nodata); the earliest is the
        baseline.
    biophysical : path or DataFrame
        :func:`read_biophysical`.
    transitions : path or DataFrame
        :func:`read_transitions`.
    analysis_year : int, optional
        The last year (default: the last snapshot's; required with one snapshot).
    valuation : BlueCarbonValuation, optional
        Prices and discount rate.
    convention : {'invest', 'user_guide'}
        See the module docstring.

    Returns
    -------
    dict of str -> masked array (H, W) [t CO2/ha; currency/ha for values]
        The outputs of :class:`BlueCarbonResult` ``rasters``, by name; masked where any
        snapshot is nodata.

    Raises
    ------
    UnknownCodeError
        Codes missing from the biophysical table (with cell counts and the year).
    InputError
        For bad tables, years or prices.

    Notes
    -----
    Per cell, pool p in {biomass, soil} and year t from the baseline :math:`t_0`, with stocks
    :math:`S_{p,t}` at the start of the year:

    .. math::

        S_{p,t+1} = S_{p,t} + N_{p,t}, \qquad S_{p,t_0} = S_p^{initial}(c_{t_0})

    Before the first transition every cell accumulates at its class's rates,
    :math:`N_{p,t} = A_p(c_{t_0})`. At a snapshot year s where the cell goes from class c to c',
    an ``accum`` transition sets :math:`A_p = A_p(c')` and any other sets :math:`A_p = 0`; a
    disturbance of impact i sets :math:`D_{p} = f_{p,i}(c) \, S_{p,s}` and the year of latest
    disturbance to s. Then (:func:`emissions`, :func:`net_sequestration`)

    .. math::

        E_{p,t} = D_p \left(0.5^{(t-s)/H_p} - 0.5^{(t-s+1)/H_p}\right), \qquad
        N_{p,t} = -E_{p,t} \text{ where emitting, else } A_p

    Litter accumulates at the rate of the cell's current class. Accumulation, emissions and net
    sequestration are summed by period, net present value as
    :func:`discounted_price_sum` describes; where the conventions differ, see the module
    docstring.

    References
    ----------
    .. [1] Natural Capital Project (2026). InVEST 3.20 User's Guide: Coastal Blue Carbon.
       Stanford University.
    .. [2] Houghton R. A. (2003). Revised estimates of the annual net flux of carbon to the
       atmosphere from changes in land use and land management 1850-2000. Tellus B 55(2):
       378-390.

    Examples
    --------
    One mangrove cell (64 t CO2/ha of biomass, 313 of soil, 3 of litter; accumulating 2, 5.35
    and 1 t CO2/ha/yr) over ten years, InVEST's test case: 83.5 t CO2/ha sequestered; the stock
    in 2010 is 84 + 366.5 + 1, InVEST adding the litter's yearly rate (1), not its stock:

    >>> bio = pd.DataFrame([dict(zip(BIOPHYSICAL_COLUMNS, [1, "mangrove", 64, 313, 3, 15, .5, .5, 1, 2,
    ...                                                      7.5, .3, .5, .66, 5.35, 1]))])
    >>> out = transition_model({2000: np.ma.masked_array([[1]])}, bio, pd.DataFrame({"lulc-class": ["mangrove"]}),
    ...                        analysis_year=2010)
    >>> [round(float(out[name][0, 0]), 6) for name in ("total-net-carbon-sequestration", "carbon-stock-at-2010")]
    [83.5, 451.5]
    """
    years, end = analysis_years(list(snapshots), analysis_year)
    bio = read_biophysical(biophysical)
    model = _Model.build(bio, read_transitions(transitions, bio), years, end, valuation, convention)
    arrays = [np.ma.asarray(snapshots[y]) for y in years]
    check_class_codes(arrays[0].dtype, name="snapshot")
    shape = arrays[0].shape
    valid = np.logical_and.reduce([~np.ma.getmaskarray(a) for a in arrays])
    unknown: dict[int, int] = {}
    index = [model.positions(np.ma.getdata(a), valid, unknown) for a in arrays]
    _raise_unknown(unknown, bio, "the snapshots")
    maps, _ = model.run(index, np.ones(int(valid.sum())))
    out = {}
    for name in model.output_names():
        data = np.zeros(shape)
        data[valid] = maps[name]
        out[name] = np.ma.MaskedArray(data, mask=~valid)
    return out


def _raise_unknown(unknown: dict[int, int], biophysical: pd.DataFrame, where: str) -> None:
    if unknown:
        listed = ", ".join(f"{c} ({n} cells)" for c, n in sorted(unknown.items()))
        raise UnknownCodeError(f"{len(unknown)} land-cover code(s) of {where} are not in the biophysical table: "
                               f"{listed}.", path=biophysical.attrs.get("path"), field="lucode",
                               fix="add a row for each to the biophysical table.")


def coastal_blue_carbon(
    snapshots: Mapping[int, Any],
    biophysical: str | os.PathLike | pd.DataFrame,
    transitions: str | os.PathLike | pd.DataFrame,
    *,
    analysis_year: int | None = None,
    valuation: BlueCarbonValuation | None = None,
    convention: str = "invest",
    grid: AnalysisGrid | None = None,
    out_dir: str | os.PathLike | None = None,
    block_pixels: int = 2**18,
    **source_kwargs: Any,
) -> BlueCarbonResult:
    r"""InVEST's Coastal Blue Carbon model on land-cover rasters, strip by strip.

    Parameters
    ----------
    snapshots : mapping of int -> path, rasterio dataset or 2-D int array
        Land cover by snapshot year (arrays need ``transform=``, ``crs=``, ``nodata=``, shared).
        The earliest year is the baseline; rasters on other grids are aligned to `grid`
        (nearest, or mode when coarser), as a run aligns its rasters.
    biophysical : path or DataFrame
        :func:`read_biophysical` [t CO2/ha, t CO2/ha/yr, yr, -].
    transitions : path or DataFrame
        :func:`read_transitions`.
    analysis_year : int, optional
        The last year (after the last snapshot; default: the last snapshot's year; required with
        one snapshot).
    valuation : BlueCarbonValuation, optional
        Prices [currency/t CO2] and discount rate [%].
    convention : {'invest', 'user_guide'}
        Whose definitions to follow where InVEST's code and user guide differ (module docstring).
    grid : AnalysisGrid, optional
        The grid to compute on (default: the baseline snapshot's own).
    out_dir : path, optional
        Write the maps there as Cloud-Optimized GeoTIFFs named as InVEST names them
        (:class:`BlueCarbonResult`), NaN = nodata.
    block_pixels : int [cells]
        Cells per strip; memory is about (160 + 32 x periods) bytes x block_pixels.
    **source_kwargs
        Passed to :func:`carbonmap.io.open_raster` (``transform``, ``crs``, ``nodata``).

    Returns
    -------
    BlueCarbonResult
        Totals by period and by year [t CO2; currency], the transitions seen, the rasters.

    Raises
    ------
    UnknownCodeError
        Every code of every snapshot missing from the biophysical table, with cell counts.
    NodataError
        When no cell has data in every snapshot.
    InputError
        For bad tables, years, prices or a non-integer land cover.

    Notes
    -----
    The model is :func:`transition_model`'s; totals are sums over valid cells of the value per
    hectare times the cell's area (the true area of each row on geographic grids).

    References
    ----------
    .. [1] Natural Capital Project (2026). InVEST 3.20 User's Guide: Coastal Blue Carbon.
       Stanford University.
    .. [2] Pendleton L., et al. (2012). Estimating global "blue carbon" emissions from conversion
       and degradation of vegetated coastal ecosystems. PLoS ONE 7(9): e43542.
    """
    years, end = analysis_years(list(snapshots), analysis_year)
    rasters = [snapshots[y] for y in years]
    bio = read_biophysical(biophysical)
    model = _Model.build(bio, read_transitions(transitions, bio), years, end, valuation, convention)
    grid = grid or grid_of(rasters[0], **source_kwargs)
    names = model.output_names()
    n = len(model.codes)
    annual = np.zeros((end - years[0] + 1, 7))
    pairs = np.zeros((len(years) - 1, n * n))
    pair_cells = np.zeros((len(years) - 1, n * n), dtype=np.int64)
    unknown: dict[int, int] = {}
    valid_ha = 0.0
    out = Path(out_dir) if out_dir is not None else None
    paths = {name: out / f"{name}.tif" for name in names} if out is not None else {}
    with ExitStack() as stack:
        sources = [stack.enter_context(aligned_source(r, grid, kind="categorical", **source_kwargs)) for r in rasters]
        for src in sources:
            check_class_codes(src.dtype, name=src.name)
        writers = {name: stack.enter_context(cog_writer(
            path, width=grid.width, height=grid.height, dtype="float32", transform=grid.transform, crs=grid.crs,
            nodata=float("nan"), resampling="average",
            tags={"unit": "currency ha-1" if name.startswith("net-present") else "t CO2 ha-1",
                  "model": f"InVEST Coastal Blue Carbon (carbonmap, convention {convention})"}))
            for name, path in paths.items()}
        for window in strips(grid.height, grid.width, block_pixels):
            rows = np.arange(int(window.row_off), int(window.row_off + window.height))
            data = [src.read(window) for src in sources]
            valid = np.logical_and.reduce([~np.ma.getmaskarray(d) for d in data])
            index = [model.positions(np.ma.getdata(d), valid, unknown) for d in data]
            if unknown or not valid.any():
                continue
            cell_ha = np.broadcast_to(cell_area_m2(grid.transform, grid.crs, rows)[:, None] / 1e4,
                                      valid.shape)[valid]
            maps, totals = model.run(index, cell_ha)
            annual += totals
            valid_ha += float(cell_ha.sum())
            for k, (before, after) in enumerate(zip(index, index[1:])):
                flat = before * n + after
                pairs[k] += np.bincount(flat, weights=cell_ha, minlength=n * n)
                pair_cells[k] += np.bincount(flat, minlength=n * n)
            for name, dst in writers.items():
                block = np.full(valid.shape, np.nan, dtype=np.float32)
                block[valid] = maps[name]
                dst.write(block, 1, window=window)
        _raise_unknown(unknown, bio, "the snapshots")
        if valid_ha == 0:
            raise NodataError("no cell has land cover in every snapshot.", path=sources[0].name,
                              fix="check the snapshots' nodata values, and that they overlap.")
    return BlueCarbonResult(_periods(model, annual, valid_ha), _annual(model, annual),
                            _transitions(model, pairs, pair_cells), paths)


_ANNUAL = ("stock_biomass_t_co2", "stock_soil_t_co2", "stock_litter_t_co2", "stock_t_co2", "accumulation_t_co2",
           "emissions_t_co2", "net_sequestration_t_co2")


def _annual(model: _Model, annual: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame(annual.copy(), columns=list(_ANNUAL))
    frame.iloc[-1, 4:] = np.nan
    frame.insert(0, "year", np.arange(model.years[0], model.analysis_year + 1))
    return frame


def _periods(model: _Model, annual: np.ndarray, area_ha: float) -> pd.DataFrame:
    b = model.years[0]
    bounds = model.boundaries
    spans = list(zip(bounds, bounds[1:])) + [(b, model.analysis_year)]
    rows = []
    present = np.cumsum([0.0] + [annual[y - b, 6] * model.weights[y] for y in range(b, model.analysis_year)]) \
        if model.weights is not None else None
    for start, end in spans:
        flows = annual[start - b:end - b, 4:].sum(axis=0)
        npv = np.nan
        if model.weights is not None:
            npv = present[end - b] if model.convention == "user_guide" else \
                annual[:end - b, 6].sum() * sum(model.weights[y] for y in range(b, end))
        rows.append({"start_year": start, "end_year": end, "stock_start_t_co2": annual[start - b, 3],
                     "stock_end_t_co2": annual[end - b, 3], "accumulation_t_co2": flows[0],
                     "emissions_t_co2": flows[1], "net_sequestration_t_co2": flows[2], "npv": npv,
                     "area_ha": area_ha})
    return pd.DataFrame(rows)


def _transitions(model: _Model, pairs: np.ndarray, cells: np.ndarray) -> pd.DataFrame:
    n = len(model.codes)
    rows = []
    for k, (a, b) in enumerate(zip(model.years, model.years[1:])):
        for flat in np.flatnonzero(cells[k]):
            i, j = divmod(int(flat), n)
            rows.append({"from_year": a, "to_year": b, "from_class": model.classes[i], "to_class": model.classes[j],
                         "transition": _NAME_OF[int(model.kinds[i, j])], "cells": int(cells[k, flat]),
                         "area_ha": float(pairs[k, flat])})
    columns = ["from_year", "to_year", "from_class", "to_class", "transition", "cells", "area_ha"]
    return pd.DataFrame(rows, columns=columns)
