"""Land-use and land-cover code systems: what a class code means for carbon accounting.

Every analysis needs to know what a parcel's or a pixel's code is: production, living or
ecological space (三生空间); how carbon is accounted for it (its *carbon category*: built-up
land by use, cropland, orchard, forest, shrub, grassland, wetland by type, water, barren,
...); and whether it is ecological land for the landscape module. Each supported code system
is a data table in ``carbonmap/data/landuse/`` with its source document (see SOURCES.md
there):

=====================  =========================================================
system                 what
=====================  =========================================================
``gb_t_21010_2017``    GB/T 21010-2017 current land-use classification (level 1, 2)
``ydyh_2023``          2023 land/sea use classification for territorial planning
                       (用地用海分类指南; level 1, 2, 3)
``euluc_china``        EULUC-China urban land use (level 1, 2)
``esa_worldcover``     ESA WorldCover 10 m
``clcd``               CLCD, China Land Cover Dataset (30 m, annual)
``nlcd``               US National Land Cover Database
``esa_cci_lc``         ESA CCI Land Cover (LCCS)
=====================  =========================================================

Codes are text, compared exactly, with one normalisation: codes of the Chinese national
systems (``gb_t_21010_2017``, ``ydyh_2023``) always have an even number of digits, so a code
that lost its leading zero in a numeric field (``101`` for ``0101``) is padded back.

Codes a table does not know raise :class:`~carbonmap.errors.UnknownCodeError` listing every
unknown code with its count and how to map it: a *crosswalk file* (CSV) either maps each
code to a known code of the system (``code,maps_to``) or defines it directly
(``code,space,carbon_category,ecological[,name_en,name_zh]``). See :func:`read_crosswalk`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd

from carbonmap.coefficients import record_table
from carbonmap.errors import InputError, MissingColumnError, UnknownCodeError
from carbonmap.io import check_class_codes, read_csv

__all__ = [
    "CODE_SYSTEMS",
    "SPACES",
    "CLASS_COLUMNS",
    "code_table",
    "carbon_categories",
    "read_crosswalk",
    "classify",
    "classify_raster",
    "CodeLegend",
    "crosswalk_codes",
    "class_legend",
]

CODE_SYSTEMS = ("gb_t_21010_2017", "ydyh_2023", "euluc_china", "esa_worldcover", "clcd", "nlcd",
                "esa_cci_lc")
#: Production, living and ecological space (三生空间).
SPACES = ("production", "living", "ecological")
#: Columns :func:`classify` returns for every input code.
CLASS_COLUMNS = ("code", "name_zh", "name_en", "space", "carbon_category", "ecological")
_ZERO_PADDED = ("gb_t_21010_2017", "ydyh_2023")
_CROSSWALKS = {("gb_t_21010_2017", "ydyh_2023"): "crosswalk_gb_t_21010_2017_to_ydyh_2023.csv"}


def _read_packaged(name: str) -> pd.DataFrame:
    with files("carbonmap.data").joinpath("landuse", name).open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle, dtype=str, keep_default_na=False)


def _check_system(system: str, key: str = "code_system") -> None:
    """Accept only the names in :data:`CODE_SYSTEMS` (never a path: nothing outside the package is read)."""
    if not isinstance(system, str) or system not in CODE_SYSTEMS:
        raise InputError(f"unknown code system {system!r}.", key=key,
                         fix=f"use one of {', '.join(CODE_SYSTEMS)}.")


def _table(system: str) -> pd.DataFrame:
    """The packaged table of `system` (checked first: only known names reach the package's files)."""
    _check_system(system)
    table = _packaged_table(system)
    record_table(f"classes_{system}", table.reset_index(drop=True))
    return table


@functools.cache
def _packaged_table(system: str) -> pd.DataFrame:
    table = _read_packaged(f"{system}.csv")
    table["level"] = table["level"].astype(int)
    table["ecological"] = table["ecological"].map({"true": True, "false": False}).astype(bool)
    return table.set_index("code", drop=False)


def code_table(system: str) -> pd.DataFrame:
    """The classes of a code system, indexed by code (a copy: safe to modify).

    Columns: code, level, parent, name_zh, name_en, space, carbon_category, ecological.
    """
    return _table(system).copy()


@functools.cache
def _categories() -> pd.DataFrame:
    table = _read_packaged("carbon_categories.csv")
    table["built"] = table["built"] == "true"
    return table.set_index("carbon_category", drop=False)


def carbon_categories() -> pd.DataFrame:
    """The carbon categories every class maps to, with group, names and description."""
    record_table("classes_carbon_categories", _categories().reset_index(drop=True))
    return _categories().copy()


# --------------------------------------------------------------------------- codes


def _code_text(value) -> str | None:
    if value is None or (isinstance(value, (float, np.floating)) and np.isnan(value)):
        return None
    if isinstance(value, (float, np.floating)):
        if value != np.round(value):
            raise InputError(f"land-use codes must be whole numbers or text, got {value!r}.",
                             fix="check that the right field is used as the code.")
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value).strip()


def _normalise(codes: Iterable, system: str) -> pd.Series:
    """Codes as text: integers without '.0', stripped, national codes zero-padded."""
    text = pd.Series([_code_text(v) for v in codes], dtype=object)
    if system in _ZERO_PADDED:
        text = text.map(lambda c: c if c is None or len(c) % 2 == 0 else "0" + c)
    return text


def read_crosswalk(source: str | os.PathLike | pd.DataFrame, system: str) -> pd.DataFrame:
    """Read a user crosswalk that makes codes of an input known to `system`.

    Two forms, which may be mixed row by row:

    - ``code,maps_to``: the input code means the class `maps_to` of `system`;
    - ``code,space,carbon_category,ecological[,name_en,name_zh]``: the input code is a class
      of its own (a local extension, say), described directly.

    Returns
    -------
    DataFrame indexed by input code with the columns of :data:`CLASS_COLUMNS`.
    """
    _check_system(system)
    path = None
    if isinstance(source, pd.DataFrame):
        frame = source.astype(str).copy()
    else:
        path = Path(source)
        frame = read_csv(path, what="crosswalk", dtype=str, keep_default_na=False)
    if "code" not in frame.columns:
        raise MissingColumnError("a crosswalk needs a 'code' column.", path=path, field="code",
                                 fix="columns: code,maps_to or code,space,carbon_category,ecological.")
    table = _table(system)
    categories = _categories()
    frame["code"] = _normalise(frame["code"], system).to_numpy()
    rows = []
    for i, row in frame.iterrows():
        line = i + 2  # header is line 1
        target = row.get("maps_to", "")
        if target:
            target = _normalise([target], system).iloc[0]
            if target not in table.index:
                raise UnknownCodeError(
                    f"line {line}: maps_to {target!r} is not a code of {system}.", path=path,
                    field="maps_to", fix=f"use a code listed in carbonmap's {system} table.",
                )
            known = table.loc[target]
            rows.append({"code": row["code"], "name_zh": known["name_zh"], "name_en": known["name_en"],
                         "space": known["space"], "carbon_category": known["carbon_category"],
                         "ecological": bool(known["ecological"])})
            continue
        missing = [c for c in ("space", "carbon_category", "ecological") if not row.get(c, "")]
        if missing:
            raise MissingColumnError(
                f"line {line}: code {row['code']!r} has neither maps_to nor {', '.join(missing)}.",
                path=path, field=missing[0],
                fix="give maps_to (a known code) or space, carbon_category and ecological.",
            )
        if row["space"] not in SPACES:
            raise InputError(f"line {line}: unknown space {row['space']!r}.", path=path, field="space",
                             fix=f"use one of {', '.join(SPACES)}.")
        if row["carbon_category"] not in categories.index:
            raise InputError(f"line {line}: unknown carbon_category {row['carbon_category']!r}.",
                             path=path, field="carbon_category",
                             fix=f"use one of {', '.join(categories.index)}.")
        flag = row["ecological"].strip().lower()
        if flag not in ("true", "false"):
            raise InputError(f"line {line}: ecological must be true or false, got {flag!r}.",
                             path=path, field="ecological", fix="write true or false.")
        rows.append({"code": row["code"], "name_zh": row.get("name_zh", ""),
                     "name_en": row.get("name_en", "") or row["code"], "space": row["space"],
                     "carbon_category": row["carbon_category"], "ecological": flag == "true"})
    result = pd.DataFrame(rows, columns=list(CLASS_COLUMNS))
    duplicated = result["code"][result["code"].duplicated()].unique()
    if len(duplicated):
        raise InputError(f"codes listed twice: {', '.join(duplicated)}.", path=path, field="code",
                         fix="keep one row per code.")
    return result.set_index("code", drop=False)


def _lookup(system: str, crosswalk) -> pd.DataFrame:
    """The system's classes, plus (overriding) the crosswalk's."""
    table = _table(system)[list(CLASS_COLUMNS)]
    if crosswalk is None:
        return table
    extra = crosswalk if isinstance(crosswalk, pd.DataFrame) and "carbon_category" in crosswalk \
        else read_crosswalk(crosswalk, system)
    return pd.concat([table.drop(index=extra.index, errors="ignore"), extra])


def _unknown_error(unknown: pd.Series, system: str, path, field) -> UnknownCodeError:
    """The error listing every unknown code with its count; `unknown` maps code -> count
    (features or cells)."""
    counts = unknown.groupby(level=0).sum()
    counts = counts.loc[sorted(counts.index, key=lambda c: (not c.isdigit(), int(c) if c.isdigit() else 0, c))]
    listed = ", ".join(f"{code} ({n})" for code, n in counts.items())
    return UnknownCodeError(
        f"{len(counts)} code(s) are not in the {system} table: {listed}.",
        path=path,
        field=field,
        fix="map them in a crosswalk CSV, either code,maps_to (a known code of "
        f"{system}) or code,space,carbon_category,ecological, and name it in the project "
        "file (crosswalk = \"...\") or pass crosswalk= in Python.",
    )


def classify(
    codes: Iterable,
    system: str,
    *,
    crosswalk: str | os.PathLike | pd.DataFrame | None = None,
    path: str | os.PathLike | None = None,
    field: str | None = None,
    counts: Iterable[int] | None = None,
) -> pd.DataFrame:
    """What each code means: names, space, carbon category, ecological flag.

    Parameters
    ----------
    codes : iterable (n,)
        Class codes, text or integers (e.g. a parcel layer's code column). See the module
        docstring for normalisation.
    system : str
        One of :data:`CODE_SYSTEMS`.
    crosswalk : path or DataFrame, optional
        Extra codes (see :func:`read_crosswalk`); they override the table's.
    path : path-like, optional
        Where the codes come from, for error messages.
    field : str, optional
        The field the codes come from, for error messages.
    counts : iterable of int (n,) [features or cells], optional
        How many features or cells each code stands for (default: one each), for the counts
        the unknown-code and missing-code errors give; e.g. the cell count of each distinct code of a raster.

    Returns
    -------
    DataFrame
        One row per input code, in input order (index 0..n-1), columns
        :data:`CLASS_COLUMNS` (``code`` is the normalised code).

    Raises
    ------
    UnknownCodeError
        Listing every code the table (and crosswalk) does not know, with counts.
    InputError
        For missing codes (null values), also counted.

    Notes
    -----
    The tables and their source documents are listed in ``carbonmap/data/landuse/SOURCES.md``;
    ``space`` follows the production-living-ecological classification of Liu et al. (2017);
    ``carbon_category`` and ``ecological`` are carbonmap's assignments from the class
    definitions.

    References
    ----------
    .. [1] GB/T 21010-2017 Current land use classification (土地利用现状分类). General
       Administration of Quality Supervision, Inspection and Quarantine; Standardization
       Administration of China, 2017, Table 1.
    .. [2] Ministry of Natural Resources (2023). Land and sea use classification for territorial
       spatial survey, planning and use control (国土空间调查、规划、用途管制用地用海分类指南),
       自然资发〔2023〕234号, Appendix A.
    .. [3] Liu J., Liu Y., Li Y. (2017). 中国"三生空间"分类评价与时空格局分析 (Classification
       evaluation and spatial-temporal analysis of "production-living-ecological" spaces in
       China). Acta Geographica Sinica 72(7), 1290-1304.

    Examples
    --------
    >>> classify(["0303", "070101", 101], "ydyh_2023")[["code", "carbon_category", "space"]]
         code    carbon_category       space
    0    0303              shrub  ecological
    1  070101  built_residential      living
    2    0101           cropland  production
    """
    _check_system(system)
    text = _normalise(codes, system)
    weight = np.ones(len(text), dtype=np.int64) if counts is None else np.asarray(list(counts), dtype=np.int64)
    if text.isna().any():
        missing = text.isna().to_numpy()
        rows = "" if counts is not None else ": " + ", ".join(  # one code per feature: say which
            f"row {row}" for row in np.flatnonzero(missing)[:20] + 1) + (", ..." if missing.sum() > 20 else "")
        raise InputError(f"{int(weight[missing].sum())} features have no land-use code{rows}.", path=path,
                         field=field, fix="fill in the codes, or drop those features first.")
    lookup = _lookup(system, crosswalk)
    known = text.isin(lookup.index)
    if not known.all():
        raise _unknown_error(pd.Series(weight[~known.to_numpy()], index=text[~known].to_numpy()), system, path, field)
    result = lookup.loc[text.to_numpy()].reset_index(drop=True)
    result["ecological"] = result["ecological"].astype(bool)
    return result


def classify_raster(
    classes: np.ndarray,
    system: str,
    *,
    column: str,
    nodata: float | None = None,
    crosswalk: str | os.PathLike | pd.DataFrame | None = None,
    path: str | os.PathLike | None = None,
) -> tuple[np.ndarray, list]:
    """Map a raster of class codes to one attribute, as small integers plus a legend.

    Parameters
    ----------
    classes : array (H, W) of int (masked arrays keep their mask)
        Land-cover codes of `system`.
    system : str
        One of :data:`CODE_SYSTEMS`.
    column : {'carbon_category', 'space', 'ecological', 'name_en', ...}
        The attribute (a column of :data:`CLASS_COLUMNS`).
    nodata : int, optional
        Code of nodata cells (besides masked cells).
    crosswalk : path or DataFrame, optional
        As for :func:`classify`.
    path : path-like, optional
        The user's raster, for error messages (e.g. ``RasterSource.name``).

    Returns
    -------
    (index, legend)
        `index` is an int16 array (H, W): ``legend[index]`` is the attribute of each cell;
        nodata cells are -1.

    Raises
    ------
    UnknownCodeError
        Listing every unknown code present with its cell count (each code is checked once).
    InputError
        For codes not stored as integers (:func:`carbonmap.io.check_class_codes`).

    Examples
    --------
    >>> codes = np.ma.MaskedArray([[10, 10, 80], [50, 0, 80]], mask=[[0, 0, 0], [0, 1, 0]])
    >>> index, legend = classify_raster(codes, "esa_worldcover", column="carbon_category")
    >>> index.tolist(), legend
    ([[0, 0, 2], [1, -1, 2]], ['forest', 'built_up', 'water'])
    """
    data = np.ma.getdata(classes)
    check_class_codes(data.dtype, name=str(path) if path is not None else "raster")
    valid = ~np.ma.getmaskarray(classes)
    if nodata is not None:
        valid &= data != nodata
    present, counts = np.unique(data[valid], return_counts=True)
    legend = CodeLegend.of(present, counts, system, column=column, crosswalk=crosswalk, path=path)
    return legend.index(classes, valid), legend.legend


@dataclass(frozen=True)
class CodeLegend:
    """The attribute of each code present in a raster, as small integers: what
    :func:`classify_raster` does, for a raster read window by window (each window's index then
    refers to the whole raster's legend).

    present : the codes present, sorted; code_to_index : the legend index of each; legend : the
    attribute of each index, in the order of the codes that first give it.
    """

    present: np.ndarray
    code_to_index: np.ndarray
    legend: list

    @classmethod
    def of(cls, present: np.ndarray, counts: np.ndarray, system: str, *, column: str, crosswalk=None,
           path: str | os.PathLike | None = None) -> CodeLegend:
        """The legend of the codes `present` (sorted, unique) with their cell `counts`.

        Raises
        ------
        UnknownCodeError
            Listing every unknown code present with its cell count.
        """
        text = _normalise(present.tolist(), system)
        lookup = _lookup(system, crosswalk)
        known = text.isin(lookup.index).to_numpy()
        if not known.all():
            raise _unknown_error(pd.Series(counts[~known], index=text[~known].to_numpy()), system, path,
                                 "cell values")
        values = lookup.loc[text.to_numpy(), column].tolist()
        legend = list(dict.fromkeys(values))
        return cls(present, np.array([legend.index(v) for v in values], dtype=np.int16), legend)

    def index(self, classes: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
        """The int16 legend index of each cell of `classes` (codes this legend has; -1 where not
        `valid`, by default the masked cells)."""
        data = np.ma.getdata(classes)
        valid = ~np.ma.getmaskarray(classes) if valid is None else valid
        index = np.full(data.shape, -1, dtype=np.int16)
        index[valid] = self.code_to_index[np.searchsorted(self.present, data[valid])]
        return index


def crosswalk_codes(codes: Iterable, from_system: str, to_system: str) -> pd.DataFrame:
    """Translate codes between two code systems where carbonmap has a crosswalk table.

    Parameters
    ----------
    codes : iterable
        Codes of `from_system` (normalised as by :func:`classify`).
    from_system, to_system : str
        The systems; supported: ``gb_t_21010_2017`` -> ``ydyh_2023`` (first and second level).

    Returns
    -------
    DataFrame
        ``from_code``, ``to_code`` and ``match``: 'exact', or 'approximate' where the target
        class is broader or the source class is split in the target system.

    Raises
    ------
    InputError
        For a pair of systems without a crosswalk.
    UnknownCodeError
        For codes `from_system` does not have.

    Notes
    -----
    The crosswalk is carbonmap's, from the class definitions of both documents.

    References
    ----------
    .. [1] GB/T 21010-2017 Current land use classification (土地利用现状分类). General
       Administration of Quality Supervision, Inspection and Quarantine; Standardization
       Administration of China, 2017, Table 1.
    .. [2] Ministry of Natural Resources (2023). Land and sea use classification for territorial
       spatial survey, planning and use control (国土空间调查、规划、用途管制用地用海分类指南),
       自然资发〔2023〕234号, Appendix A.

    Examples
    --------
    >>> crosswalk_codes(["0101", "0702"], "gb_t_21010_2017", "ydyh_2023")
      from_code to_code  match
    0      0101    0101  exact
    1      0702    0703  exact
    """
    key = (from_system, to_system)
    if key not in _CROSSWALKS:
        raise InputError(f"no crosswalk from {from_system} to {to_system}.",
                         fix=f"available: {', '.join(f'{a} -> {b}' for a, b in _CROSSWALKS)}.")
    table = _read_packaged(_CROSSWALKS[key]).set_index("from_code")
    text = _normalise(codes, from_system)
    classify(text, from_system)  # unknown codes -> one clear error
    rows = table.loc[text.to_numpy()]  # every code of the source table has a row (tested)
    return pd.DataFrame({"from_code": text.to_numpy(), "to_code": rows["to_code"].to_numpy(),
                         "match": rows["match"].to_numpy()})


def class_legend(system: str) -> tuple[dict[str, str], dict[str, str]]:
    """The map legend of a code system: ({code: English name}, {code: colour of its carbon category})."""
    table = code_table(system)
    colour = carbon_categories()["colour"]
    return (dict(zip(table["code"], table["name_en"])),
            dict(zip(table["code"], colour.loc[table["carbon_category"]])))
