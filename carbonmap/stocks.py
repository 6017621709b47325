"""Carbon stocks by pool, their change between two dates, and its value (InVEST-compatible).

Each land-cover code maps to four pool densities [t C/ha]: above-ground biomass, below-ground
biomass, soil and dead organic matter; the stock of a cell is their sum. Between a baseline
and an alternative (a later date, or a scenario) the change is

.. math:: \\Delta C = C_{alt} - C_{bas} \\quad [\\mathrm{t\\,C\\,ha^{-1}}]

and, with a price :math:`p` per t C, an annual discount rate :math:`r` and an annual rate of
price change :math:`c` (both in percent) over :math:`n` years, its net present value is

.. math::

    NPV = \\Delta C \\, \\frac{p}{n} \\sum_{t=0}^{n-1}
          \\left[(1 + r/100)(1 + c/100)\\right]^{-t}
        = \\Delta C \\, \\frac{p}{n} \\, \\frac{1 - q^n}{1 - q}, \\quad q = \\frac{1}{(1 + r/100)(1 + c/100)}

(:math:`p` when :math:`q = 1`), the formula of the InVEST Carbon Storage and Sequestration
model, whose published test cases carbonmap reproduces exactly.

Compared with InVEST, carbonmap aligns rasters of other grids to the baseline's grid (or to
the analysis grid) instead of refusing them, lists every code missing from the pool table at
once, takes arrays in memory as well as files, works strip by strip in bounded memory, and
always returns (and the CLI always writes) a summary table in t C and t CO2.

References
----------
.. [1] Sharp, R., et al. (2024). InVEST User's Guide: Carbon Storage and Sequestration. The
   Natural Capital Project, Stanford University.
.. [2] IPCC (2006). 2006 IPCC Guidelines for National Greenhouse Gas Inventories, Volume 4,
   Chapter 2: the five carbon pools.
"""

from __future__ import annotations

import math
import os
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rasterio.windows import Window

from carbonmap.coefficients import CO2_PER_C
from carbonmap.errors import InputError, MissingColumnError, NodataError, UnknownCodeError
from carbonmap.grid import AnalysisGrid, aligned_source, cell_area_m2, grid_of, strips
from carbonmap.compute import narrowest, ordered_map
from carbonmap.io import RasterRef, check_class_codes, cog_writer, read_csv

__all__ = ["POOLS", "Valuation", "read_pools", "pool_densities", "valuation_constant", "carbon_stocks"]

#: The four pools of the pool table, in t C/ha.
POOLS = ("c_above", "c_below", "c_soil", "c_dead")
_NODATA = -1.0e30  # written as nodata in float32 outputs (InVEST uses a large negative number too)


@dataclass(frozen=True)
class Valuation:
    """Economic parameters of InVEST's valuation.

    price_per_t_c : price of a tonne of carbon [currency/t C].
    discount_rate_pct, price_change_pct : annual rates [%], may be negative.
    baseline_year, alternative_year : n = alternative_year - baseline_year (> 0).
    """

    price_per_t_c: float
    discount_rate_pct: float
    price_change_pct: float
    baseline_year: int
    alternative_year: int


def valuation_constant(valuation: Valuation) -> float:
    """The per-t-C multiplier of the change: p/n * sum_{t<n} q^t (see the module docstring).

    Examples
    --------
    >>> round(valuation_constant(Valuation(50, 50, 5, 2010, 2012)), 5)  # InVEST test case
    40.87302
    """
    n = valuation.alternative_year - valuation.baseline_year
    if n <= 0:
        raise InputError("the alternative year must come after the baseline year.",
                         fix="give years with alternative > baseline.")
    ratio = 1.0 / ((1 + valuation.discount_rate_pct / 100.0) * (1 + valuation.price_change_pct / 100.0))
    if ratio == 1.0:
        return float(valuation.price_per_t_c)
    return valuation.price_per_t_c / n * (1 - ratio**n) / (1 - ratio)


def read_pools(table: str | os.PathLike | pd.DataFrame) -> pd.DataFrame:
    """Read a pool table: ``lucode`` and the pools of :data:`POOLS` in t C/ha.

    Column names are case-insensitive (InVEST writes ``C_above``); other columns are kept.
    Missing pool values are errors, not zeros; so are negative densities (a stock cannot be
    negative) and codes that are not integers.

    Raises
    ------
    InputError
        Naming the file, the field and every bad row (see also :func:`carbonmap.io.read_csv`
        for files that are not usable CSVs).
    """
    path = None
    if not isinstance(table, pd.DataFrame):
        path = Path(table)
        table = read_csv(path, what="pool table")
    frame = table.rename(columns={c: str(c).strip().lower() for c in table.columns})
    missing = [c for c in ("lucode", *POOLS) if c not in frame.columns]
    if missing:
        raise MissingColumnError(f"the pool table needs the columns {', '.join(missing)}.", path=path,
                                 field=missing[0], fix="columns: lucode, c_above, c_below, c_soil, c_dead (t C/ha).")
    values = frame[list(POOLS)].apply(pd.to_numeric, errors="coerce")
    if values.isna().any().any():
        bad = frame.loc[values.isna().any(axis=1), "lucode"].tolist()
        raise InputError(f"pool values missing or not numbers for lucode {', '.join(map(str, bad))}.", path=path,
                         field="c_above", fix="give all four pools for every code (0 where a pool is empty).")
    negative = values < 0
    if negative.any().any():
        rows = frame.index[negative.any(axis=1)]
        listed = ", ".join(f"lucode {frame.at[i, 'lucode']} ("
                           + ", ".join(f"{p} = {values.at[i, p]:g}" for p in POOLS if negative.at[i, p]) + ")"
                           for i in rows[:10])
        raise InputError(f"{len(rows)} row(s) have negative pool densities: {listed}.", path=path,
                         field=next(p for p in POOLS if negative[p].any()),
                         fix="carbon densities are stocks in t C/ha and cannot be negative; a change between "
                         "dates comes from two land covers, not from negative pools.")
    frame[list(POOLS)] = values.astype(float)
    lucode = pd.to_numeric(frame["lucode"], errors="coerce")
    bad = lucode.isna() | (lucode != np.round(lucode))
    if bad.any():
        listed = ", ".join(map(repr, frame.loc[bad, "lucode"]))
        raise InputError(f"lucode must be an integer land-cover code: {listed}.", path=path, field="lucode",
                         fix="one row per integer code of the land-cover raster.")
    frame["lucode"] = lucode.astype(np.int64)
    if frame["lucode"].duplicated().any():
        twice = frame.loc[frame["lucode"].duplicated(), "lucode"]
        raise InputError("lucodes listed twice: " + ", ".join(map(str, twice)),
                         path=path, field="lucode", fix="one row per land-cover code.")
    out = frame.sort_values("lucode").reset_index(drop=True)
    out.attrs["path"] = str(path) if path is not None else table.attrs.get("path")  # for messages
    return out


def pool_densities(classes: np.ma.MaskedArray, pools: pd.DataFrame, *, name: str = "raster"
                   ) -> dict[str, np.ma.MaskedArray]:
    """Pool densities of each cell [t C/ha], plus their sum under ``"total"``.

    Parameters
    ----------
    classes : masked array (H, W) of int
        Land-cover codes (masked = nodata).
    pools : DataFrame
        The pool table (:func:`read_pools`): ``lucode`` and :data:`POOLS` [t C/ha].
    name : str
        How errors name the raster.

    Returns
    -------
    dict of str -> masked array (H, W) of float32 [t C/ha]
        One entry per pool of :data:`POOLS` and ``"total"``; nodata cells masked.

    Raises
    ------
    UnknownCodeError
        Listing every code present in `classes` but absent from `pools`, with cell counts.

    Notes
    -----
    :math:`C_{total} = C_{above} + C_{below} + C_{soil} + C_{dead}` of the cell's code, as in
    InVEST's carbon model.

    References
    ----------
    .. [1] Sharp, R., et al. (2024). InVEST User's Guide: Carbon Storage and Sequestration. The
       Natural Capital Project, Stanford University.
    .. [2] IPCC (2006). 2006 IPCC Guidelines for National Greenhouse Gas Inventories, Volume 4,
       Chapter 2: the five carbon pools.

    Examples
    --------
    >>> lulc = np.ma.MaskedArray([[1, 1], [2, 3]], mask=False)
    >>> table = pd.DataFrame({"lucode": [1, 2, 3], "c_above": [5000, 60, 120],
    ...                       "c_below": 0, "c_soil": 0, "c_dead": 0})
    >>> pool_densities(lulc, read_pools(table))["c_above"].tolist()  # InVEST test case 4
    [[5000.0, 5000.0], [60.0, 120.0]]
    """
    check_class_codes(np.asarray(classes).dtype, name=name)
    data = np.ma.getdata(classes)
    valid = ~np.ma.getmaskarray(classes)
    codes = pools["lucode"].to_numpy()
    present, counts = np.unique(data[valid], return_counts=True)
    unknown = ~np.isin(present, codes)
    if unknown.any():
        listed = ", ".join(f"{c} ({n} cells)" for c, n in zip(present[unknown], counts[unknown]))
        raise UnknownCodeError(f"{int(unknown.sum())} land-cover code(s) are not in the pool table: {listed}.",
                               path=name, field="lucode", fix="add a row for each to the pool table.")
    index = np.searchsorted(codes, np.where(valid, data, codes[0]))
    out = {}
    total = np.zeros(data.shape, dtype=np.float64)
    for pool in POOLS:
        values = pools[pool].to_numpy(dtype=np.float64)[index]
        total += values
        out[pool] = np.ma.MaskedArray(values.astype(np.float32), mask=~valid)
    out["total"] = np.ma.MaskedArray(total.astype(np.float32), mask=~valid)
    return out


def _class_index(classes: np.ma.MaskedArray, codes: np.ndarray, name: str, table: str | None = None) -> np.ndarray:
    """Row of each cell's code in the pool table (int32), ``len(codes)`` where the cell is nodata;
    unknown codes raise."""
    data = np.ma.getdata(classes)
    valid = ~np.ma.getmaskarray(classes)
    n = len(codes)
    if data.dtype.kind in "iu" and data.dtype.itemsize <= 2:  # byte and 16-bit codes: a table of every value
        limits = np.iinfo(data.dtype)
        storable = np.flatnonzero((codes >= limits.min) & (codes <= limits.max))  # rows whose code fits
        unsigned = np.dtype(f"u{data.dtype.itemsize}")
        lut = np.full(2 ** (8 * data.dtype.itemsize), -1, dtype=np.int32)
        lut[codes[storable].astype(data.dtype).view(unsigned)] = storable
        index = lut[data.view(unsigned)]
        np.putmask(index, ~valid, n)
        unknown = index < 0
    else:
        low = int(min(codes.min(), data[valid].min())) if valid.any() else int(codes.min())
        high = int(max(codes.max(), data[valid].max())) if valid.any() else int(codes.max())
        if high - low < 2**20:  # small integer codes: a direct lookup table
            lut = np.full(high - low + 1, -1, dtype=np.int32)
            lut[codes - low] = np.arange(n)
            index = lut[np.where(valid, data, low).astype(np.int64) - low]
            unknown = valid & (index < 0)
        else:
            index = np.minimum(np.searchsorted(codes, data), n - 1)
            unknown = valid & (codes[index] != data)
        index = np.where(valid, index, n).astype(np.int32)
    if unknown.any():
        present, counts = np.unique(data[unknown], return_counts=True)
        listed = ", ".join(f"{c} ({n} cells)" for c, n in zip(present, counts))
        raise UnknownCodeError(f"{len(present)} land-cover code(s) are not in the pool table: {listed}.",
                               path=name, field="lucode",
                               fix=f"add a row for each to the pool table{f' {table}' if table else ''}.")
    return index


def carbon_stocks(
    baseline: Any,
    pools: str | os.PathLike | pd.DataFrame,
    *,
    alternative: Any = None,
    valuation: Valuation | None = None,
    grid: AnalysisGrid | None = None,
    out_dir: str | os.PathLike | None = None,
    write_pools: bool = False,
    block_pixels: int = 2**22,
    **source_kwargs: Any,
) -> pd.DataFrame:
    r"""Carbon stocks of land-cover rasters, and their change and value between two dates.

    Parameters
    ----------
    baseline : path, rasterio dataset or 2-D int array
        Land-cover codes at the baseline date (arrays need ``transform=``, ``crs=``,
        ``nodata=`` keywords, shared with `alternative`).
    pools : path or DataFrame
        The pool table (:func:`read_pools`) [t C/ha].
    alternative : path, rasterio dataset or 2-D int array, optional
        Land-cover codes at a later date or of a scenario; on another grid it is aligned
        (nearest / mode).
    valuation : Valuation, optional
        Price [currency/t C], rates [%] and years; needs `alternative`.
    grid : AnalysisGrid, optional
        Grid to compute on; default: the baseline's own grid.
    out_dir : path, optional
        Write Cloud-Optimized GeoTIFFs there, named as InVEST does: ``c_storage_bas.tif``,
        ``c_storage_alt.tif``, ``c_change_bas_alt.tif`` [t C/ha], ``npv_alt.tif``
        [currency/ha], and with `write_pools` one file per pool and date.
    write_pools : bool
        Also write each pool's density.
    block_pixels : int [cells]
        Cells per strip (memory is about 40 bytes x block_pixels).
    **source_kwargs
        Passed to :func:`carbonmap.io.open_raster` (``transform``, ``crs``, ``nodata``).

    Returns
    -------
    DataFrame
        The summary, one row per quantity: ``quantity`` (e.g. ``total_bas``, ``c_soil_alt``,
        ``change``, ``npv``), ``t_c`` [t C], ``t_co2`` [t CO2], ``value`` [currency, for
        ``npv``; only with a valuation] and ``area_ha`` [ha of valid cells].

    Raises
    ------
    InputError
        For a valuation without an alternative, or a bad pool table.
    UnknownCodeError
        For codes the pool table does not have.
    NodataError
        When every baseline cell is nodata.

    Notes
    -----
    The stock of a cell of area a [ha] is :math:`a \, C_{total}(c)` (:func:`pool_densities`);
    totals are sums over valid cells. The change and its value, with price p per t C, discount
    rate r and price change c [% per year] over n years (:func:`valuation_constant`):

    .. math::

        \Delta C = C_{alt} - C_{bas}, \qquad
        NPV = \Delta C \, \frac{p}{n} \sum_{t=0}^{n-1} \left[(1 + r/100)(1 + c/100)\right]^{-t}

    A run sums the stock maps per planning unit (:func:`carbonmap.zonal.zonal_totals`) into the
    summary columns ``stock_<date>_t_c`` and ``stock_<date>_t_co2`` (x 44/12), ``<date>``
    being the land cover's raster name, and ``stock_change_t_c`` and ``stock_change_t_co2``.

    References
    ----------
    .. [1] Sharp, R., et al. (2024). InVEST User's Guide: Carbon Storage and Sequestration. The
       Natural Capital Project, Stanford University.
    .. [2] IPCC (2006). 2006 IPCC Guidelines for National Greenhouse Gas Inventories, Volume 4,
       Chapter 2: the five carbon pools.
    """
    table = read_pools(pools)
    if valuation is not None and alternative is None:
        raise InputError("valuation needs an alternative land cover.", fix="give the alternative raster too.")
    grid = grid or grid_of(baseline, **source_kwargs)
    constant = valuation_constant(valuation) if valuation is not None else None
    dates = {"bas": baseline} if alternative is None else {"bas": baseline, "alt": alternative}
    totals: dict[str, float] = {}
    valid_ha: dict[str, float] = {}
    outputs = _output_names(out_dir, dates, valuation is not None, write_pools)
    codes = table["lucode"].to_numpy()
    density = table[list(POOLS)].to_numpy(dtype=np.float64)  # (codes, pools) [t C/ha]
    total_lut = density.sum(axis=1).astype(np.float32)
    lookup = _Lookup(codes, density, total_lut, constant, write_pools, table.attrs.get("path"))
    with ExitStack() as stack:
        sources = {date: stack.enter_context(aligned_source(raster, grid, kind="categorical", **source_kwargs))
                   for date, raster in dates.items()}
        for src in sources.values():
            check_class_codes(src.dtype, name=src.name)
        writers = {key: stack.enter_context(cog_writer(path, width=grid.width, height=grid.height,
                                                       dtype="float32", transform=grid.transform, crs=grid.crs,
                                                       nodata=_NODATA, resampling="average"))
                   for key, path in outputs.items()}
        # strips are tasks when every land cover is a file on the grid; else they are read here
        on_grid = all(src.dataset is not None and src.shape == grid.shape and src.transform == grid.transform
                      for src in sources.values())
        refs = {date: src.ref() for date, src in sources.items()}
        task = partial(_stock_strip, sources=refs if on_grid else sources, grid=grid, lookup=lookup,
                       keep=tuple(writers))
        where = narrowest(ref.place for ref in refs.values()) if on_grid else "thread"
        windows = strips(grid.height, grid.width, block_pixels)
        for window, (layers, sums, valid) in zip(windows, ordered_map(task, windows, where=where)):
            for key, value in sums:
                totals[key] = totals.get(key, 0.0) + value
            for date, value in valid.items():
                valid_ha[date] = valid_ha.get(date, 0.0) + value
            for key, dst in writers.items():
                dst.write(layers[key], 1, window=window)
    if all(v == 0 for v in valid_ha.values()):
        raise NodataError("every land-cover cell is nodata.", path=sources["bas"].name,
                          fix="check the raster's nodata value and extent.")
    return _summary(totals, valid_ha)


@dataclass(frozen=True)
class _Lookup:
    """What a strip's task needs of the pool table: codes, densities (codes x pools) [t C/ha], the
    total per code [t C/ha], the valuation constant, whether to keep each pool's layer, the table's file."""

    codes: np.ndarray
    density: np.ndarray
    total: np.ndarray
    constant: float | None
    write_pools: bool
    table_path: str | None


def _stock_strip(window: Window, *, sources: dict, grid: AnalysisGrid, lookup: _Lookup, keep: tuple[str, ...]):
    """One strip's task: its layers [t C/ha] (those in `keep`, float32 with the nodata value), its
    partial totals [t C] as (quantity, value) pairs and its valid area per date [ha].

    `sources`: the land covers by date, as :class:`~carbonmap.io.RasterRef` (opened here) or as
    open sources on the grid (read here, in the caller's thread).

    Every quantity depends on a cell only through its classes (its baseline class, and its
    alternative class when there is one), so the strip is reduced to the area of each class, or
    pair of classes, and the layers are looked up from small tables indexed the same way.
    """
    rows = np.arange(int(window.row_off), int(window.row_off + window.height))
    row_ha = cell_area_m2(grid.transform, grid.crs, rows) / 1e4
    with ExitStack() as stack:
        opened = {date: stack.enter_context(src.open()) if isinstance(src, RasterRef) else src
                  for date, src in sources.items()}
        index = {date: _class_index(src.read(window), lookup.codes, src.name, lookup.table_path)
                 for date, src in opened.items()}
    n = len(lookup.codes)  # the index of nodata
    size = (n + 1) ** len(index)
    key = index["bas"] if "alt" not in index else (
        index["bas"].astype(np.int64 if size > 2**31 else np.int32) * (n + 1) + index["alt"])
    keys, area = _area_by_key(key, row_ha, size)
    classes = {"bas": keys // (n + 1), "alt": keys % (n + 1)} if "alt" in index else {"bas": keys}
    sums, valid_ha, layers = [], {}, {}
    for date, cls in classes.items():
        ok = cls < n
        class_area = np.bincount(cls[ok], weights=area[ok], minlength=n)  # [ha]
        sums += [(f"{pool}_{date}", float(class_area @ lookup.density[:, k])) for k, pool in enumerate(POOLS)]
        sums.append((f"total_{date}", float(class_area @ lookup.density.sum(axis=1))))
        valid_ha[date] = float(class_area.sum())
        layers[f"total_{date}"] = _with_nodata(lookup.total)[index[date]]
        if lookup.write_pools:
            for k, pool in enumerate(POOLS):
                layers[f"{pool}_{date}"] = _with_nodata(lookup.density[:, k].astype(np.float32))[index[date]]
    if "alt" in index:
        # the change of each pair of classes present, as a cell computes it (float32)
        both = (classes["bas"] < n) & (classes["alt"] < n)
        change = lookup.total[classes["alt"][both]] - lookup.total[classes["bas"][both]]
        sums.append(("change", float(change.astype(np.float64) @ area[both])))
        missing = (index["bas"] == n) | (index["alt"] == n)
        layers["change"] = np.where(missing, np.float32(_NODATA), layers["total_alt"] - layers["total_bas"])
        if lookup.constant is not None:
            sums.append(("npv", float((change.astype(np.float64) * lookup.constant) @ area[both])))
            layers["npv"] = np.where(missing, np.float32(_NODATA), layers["change"] * np.float32(lookup.constant))
    return {name: layers[name] for name in keep}, sums, valid_ha


def _with_nodata(table: np.ndarray) -> np.ndarray:
    """A float32 lookup table by class index, with the nodata value appended (the nodata index)."""
    return np.append(table.astype(np.float32), np.float32(_NODATA))


def _area_by_key(key: np.ndarray, row_ha: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The keys present in `key` (an int array (rows, cols), values below `size`) and the area
    of the cells holding each [ha], from each row's cell area `row_ha` [ha]."""
    flat = key.ravel()
    if size > 2**22:  # more pairs of classes than a strip has cells: number the pairs present
        present, flat = np.unique(flat, return_inverse=True)
        size = present.size
    else:
        present = np.arange(size)
    if np.all(row_ha == row_ha[0]):  # a projected grid: one cell area
        area = np.bincount(flat, minlength=size) * row_ha[0]
    else:
        area = np.bincount(flat, weights=np.repeat(row_ha, key.shape[1]), minlength=size)
    found = area > 0
    return present[found], area[found]


def _output_names(out_dir, dates, has_value, write_pools) -> dict[str, Path]:
    if out_dir is None:
        return {}
    out = Path(out_dir)
    names = {f"total_{d}": out / f"c_storage_{d}.tif" for d in dates}
    if write_pools:
        names.update({f"{p}_{d}": out / f"{p}_{d}.tif" for d in dates for p in POOLS})
    if "alt" in dates:
        names["change"] = out / "c_change_bas_alt.tif"
        if has_value:
            names["npv"] = out / "npv_alt.tif"
    return names


def _summary(totals: dict[str, float], valid_ha: dict[str, float]) -> pd.DataFrame:
    rows = []
    for key, value in totals.items():
        date = key.rsplit("_", 1)[-1] if key not in ("change", "npv") else "alt"
        rows.append({"quantity": key, "t_c": value if key != "npv" else math.nan,
                     "t_co2": value * CO2_PER_C if key != "npv" else math.nan,
                     "value": value if key == "npv" else math.nan, "area_ha": valid_ha.get(date, math.nan)})
    order = {q: i for i, q in enumerate(
        [f"{p}_{d}" for d in ("bas", "alt") for p in ("total", *POOLS)] + ["change", "npv"])}
    table = pd.DataFrame(rows).sort_values("quantity", key=lambda s: s.map(order)).reset_index(drop=True)
    return table if "npv" in totals else table.drop(columns="value")  # no price, no value column
