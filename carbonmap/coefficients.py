"""Coefficient and rule tables: every factor carbonmap applies, with its source.

Factors never appear as bare literals in analysis code. They live in versioned CSV tables in
``carbonmap/data/coefficients/`` (see SOURCES.md there), each row with a ``source``; they are
read only through the loaders below, which accept a user table (a CSV path or DataFrame with
the same columns) whose rows replace the packaged rows with the same key or add new ones.
Every run writes the rows it used into its outputs.

Units are explicit: land-use coefficients may be given in t C/ha/yr, t CO2/ha/yr, g C/m2/yr or
kg CO2/m2/yr and are converted to t CO2/ha/yr with :data:`CO2_PER_C` = 44/12 where the unit is
carbon.
"""

from __future__ import annotations

import contextlib
import contextvars
import difflib
import os
import re
from collections.abc import Iterator, Mapping
from importlib.resources import files
from pathlib import Path

import numpy as np
import pandas as pd

from carbonmap.errors import InputError, MissingColumnError
from carbonmap.io import read_csv

__all__ = [
    "CO2_PER_C",
    "UNIT_TO_CO2_T_HA_YR",
    "FLUXES",
    "read_table",
    "with_parameters",
    "landuse_coefficients",
    "road_class_weights",
    "efficiency_bands",
    "balance_classes",
    "blue_carbon_disturbance",
    "ecological_resistance",
    "renewable_parameters",
    "rooftop_pv_usable",
    "grid_emission_factor",
    "wind_shear_exponents",
    "wind_power_curve",
    "gshp_extraction",
    "heating_demand",
    "geothermal_classes",
    "renewable_zoning_rules",
    "screening_parameters",
    "afforestation_rules",
    "afforestation_eligibility",
    "afforestation_site_preparation",
    "afforestation_growth",
    "planning_stages",
    "scenario_parameters",
    "network_settings",
    "compensation_classes",
    "compensation_parameters",
    "carbon_price",
    "target_parameters",
    "monitoring_thresholds",
    "coefficient_uncertainty",
    "DISTRIBUTIONS",
    "UNCERTAIN_TABLES",
    "RULES",
    "numbers",
]

#: Mass ratio of CO2 to C (molar masses 44.01 / 12.011, rounded as IPCC does).
CO2_PER_C = 44.0 / 12.0
#: Conversion of each accepted coefficient unit to t CO2 per ha per year.
UNIT_TO_CO2_T_HA_YR = {
    "t C/ha/yr": CO2_PER_C,
    "t CO2/ha/yr": 1.0,
    "g C/m2/yr": 1e4 * 1e-6 * CO2_PER_C,
    "kg CO2/m2/yr": 1e4 * 1e-3,
}
#: A coefficient either emits carbon (a source) or removes it (a sink).
FLUXES = ("emission", "removal")

_TABLES = {  # name -> (key columns, required columns)
    "landuse_carbon_coefficients": (("carbon_category", "system", "code"),
                                    ("coef_id", "carbon_category", "flux", "value", "unit", "source")),
    "road_class_weights": (("road_class",), ("road_class", "weight", "source")),
    "efficiency_bands": (("band",), ("band", "label_en", "colour", "max_relative_intensity", "source")),
    "balance_classes": (("class",), ("class", "label_zh", "min_sink_source_ratio", "source")),
    "blue_carbon_disturbance": (("wetland_category", "pool"),
                                ("wetland_category", "pool", "half_life_yr", "low", "medium", "high", "source")),
    "ecological_resistance": (("carbon_category",), ("carbon_category", "resistance", "source")),
    "renewable_parameters": (("parameter",), ("parameter", "value", "unit", "source")),
    "rooftop_pv_usable": (("use",), ("use", "usable_fraction", "source")),
    "grid_emission_factors": (("grid", "year"), ("grid", "year", "t_co2_per_mwh", "source")),
    "wind_shear_exponents": (("carbon_category",), ("carbon_category", "alpha", "source")),
    "wind_power_curve": (("wind_speed_m_s",), ("wind_speed_m_s", "power_kw", "source")),
    "gshp_extraction": (("ground",), ("ground", "w_per_m", "source")),
    "heating_demand": (("climate_zone",), ("climate_zone", "kwh_per_m2_yr", "source")),
    "geothermal_classes": (("class",), ("class", "min_temperature_c", "label_en", "source")),
    "renewable_zoning_rules": (("resource", "constraint_type", "constraint", "buffer_m"),
                               ("resource", "constraint_type", "constraint", "zone_class", "buffer_m", "reason",
                                "source")),
    "screening_parameters": (("parameter",), ("parameter", "value", "unit", "source")),
    "afforestation_rules": (("constraint_type", "constraint"), ("constraint_type", "constraint", "outcome", "reason",
                                                                "source")),
    "afforestation_site_preparation": (("min_slope_deg",), ("min_slope_deg", "technique", "cost_cny_per_ha",
                                                            "source")),
    "planning_stages": (("stage",), ("stage", "first_year", "last_year", "source")),
    "scenario_parameters": (("parameter",), ("parameter", "value", "unit", "source")),
    "network_settings": (("parameter",), ("parameter", "value", "unit", "source")),
    "compensation_classes": (("class",), ("class", "label_en", "label_zh", "min_compensation_rate", "source")),
    "compensation_parameters": (("parameter",), ("parameter", "value", "unit", "source")),
    "carbon_prices": (("market", "year"), ("market", "year", "price_cny_per_t_co2", "source")),
    "target_parameters": (("parameter",), ("parameter", "value", "unit", "source")),
    "monitoring_thresholds": (("indicator",), ("indicator", "worse", "change", "max_change_per_yr", "source")),
    "afforestation_growth": (("vegetation_type",), ("vegetation_type", "agb_max_t_dm_ha", "k_per_yr", "p",
                                                    "root_shoot", "carbon_fraction", "source")),
    "coefficient_uncertainty": (("table", "key"), ("table", "key", "distribution", "lower_pct", "upper_pct",
                                                   "source")),
    "afforestation_eligibility": (("eligibility", "rule"), ("eligibility", "rule", "check", "constraint", "value",
                                                          "clause", "reason_en", "reason_zh", "source")),
}


def _packaged(name: str) -> pd.DataFrame:
    with files("carbonmap.data").joinpath("coefficients", f"{name}.csv").open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle, dtype=str, keep_default_na=False)


_TABLES_READ: contextvars.ContextVar[dict[str, pd.DataFrame] | None] = contextvars.ContextVar("tables_read",
                                                                                             default=None)


@contextlib.contextmanager
def recording_tables() -> Iterator[dict[str, pd.DataFrame]]:
    """Collect every coefficient and code table read in the block, by the name it takes in a
    run's GeoPackage (``coefficients_<table>``, ``classes_<code system>``), as read (overrides
    applied): the run writes them all, so every factor it used is on record."""
    token = _TABLES_READ.set({})
    try:
        yield _TABLES_READ.get()
    finally:
        _TABLES_READ.reset(token)


def record_table(name: str, table: pd.DataFrame) -> None:
    """Note a table read, when :func:`recording_tables` is on (the first reading of a name wins)."""
    read = _TABLES_READ.get()
    if read is not None and name not in read:
        read[name] = table.copy()


def read_table(name: str, override: str | os.PathLike | pd.DataFrame | None = None) -> pd.DataFrame:
    """A packaged table, with the rows of `override` replacing those with the same key.

    Parameters
    ----------
    name : str
        One of the tables in ``carbonmap/data/coefficients`` (without ``.csv``).
    override : path or DataFrame, optional
        Rows to add or replace; must have the table's required columns, and a non-empty
        ``source`` on every row.

    Returns
    -------
    DataFrame of text columns (callers convert, see :func:`numbers`), packaged rows first, in
    file order; ``attrs`` holds ``table_name`` and ``override_path`` (for messages).

    Raises
    ------
    InputError
        An unknown table name (only packaged tables can be named: never a path), or an
        override that is not a usable CSV (see :func:`carbonmap.io.read_csv`), lacks columns or
        sources.
    """
    if not isinstance(name, str) or name not in _TABLES:  # only packaged names: never a path
        raise InputError(f"unknown table {name!r}.", key="table", fix=f"use one of {', '.join(_TABLES)}.")
    keys, required = _TABLES[name]
    table = _packaged(name)
    table.attrs.update(table_name=name, override_path=None)
    if override is None:
        record_table(f"coefficients_{name}", table)
        return table
    path = None
    if isinstance(override, pd.DataFrame):
        extra = override.astype(str).replace("nan", "")
    else:
        path = Path(override)
        extra = read_csv(path, what=f"override of {name}", dtype=str, keep_default_na=False)
    missing = [c for c in required if c not in extra.columns]
    if missing:
        raise MissingColumnError(f"an override of {name} needs the columns {', '.join(missing)}.",
                                 path=path, field=missing[0],
                                 fix=f"use the columns of carbonmap's {name}.csv: {', '.join(table.columns)}.")
    unsourced = extra.index[extra["source"].str.strip() == ""]
    if len(unsourced):
        raise InputError(f"{len(unsourced)} override row(s) have no source (first: line {unsourced[0] + 2}).",
                         path=path, field="source", fix="cite where each value comes from.")
    for column in table.columns:
        if column not in extra.columns:
            extra[column] = ""
    key_of = lambda frame: frame[[k for k in keys if k in frame]].agg("|".join, axis=1)  # noqa: E731
    kept = table[~key_of(table).isin(set(key_of(extra)))]
    merged = pd.concat([kept, extra[table.columns]], ignore_index=True)
    merged.attrs.update(table_name=name, override_path=None if path is None else str(path))
    record_table(f"coefficients_{name}", merged)
    return merged


#: What :func:`numbers` can require of a column, and how messages say it.
RULES = {
    None: "numbers",
    "non_negative": "non-negative numbers",
    "positive": "positive numbers",
    "fraction": "numbers between 0 and 1",
    "odd_window": "odd whole numbers of 3 or more (a window of w x w cells)",
}


def numbers(table: pd.DataFrame, column: str, *, rule: str | None = None, rows=None) -> pd.Series:
    """A column of a table from :func:`read_table` as floats, every value checked.

    Parameters
    ----------
    table : DataFrame
        A table from :func:`read_table` (text columns; ``attrs`` name the table and any
        override file, for messages).
    column : str
        The column to convert.
    rule : {None, 'non_negative', 'positive', 'fraction', 'odd_window'}
        What the values must be besides numbers (see :data:`RULES`); ``inf`` passes
        'non_negative' and 'positive'.
    rows : array of bool, optional
        Check only these rows (e.g. the parameters a rule applies to); the others are converted
        unchecked.

    Returns
    -------
    Series of float
        The column's values, in the table's unit (empty text is NaN).

    Raises
    ------
    InputError
        Listing every row (by the table's key) whose value breaks the rule, naming the override
        file when there is one.

    Examples
    --------
    >>> numbers(pd.DataFrame({"value": ["0.5", "inf"]}), "value", rule="non_negative").tolist()
    [0.5, inf]
    """
    values = pd.to_numeric(table[column].replace("", np.nan), errors="coerce")
    ok = values.notna()
    if rule == "non_negative":
        ok &= values >= 0
    elif rule == "positive":
        ok &= values > 0
    elif rule == "fraction":
        ok &= (values >= 0) & (values <= 1)
    elif rule == "odd_window":
        ok &= (values >= 3) & (values % 2 == 1)
    if rows is not None:
        ok |= ~np.asarray(rows, dtype=bool)
    if not ok.all():
        name = table.attrs.get("table_name", "")
        keys = ["coef_id"] if "coef_id" in table else [k for k in _TABLES.get(name, ((),))[0] if k in table]
        label = table[keys].astype(str).agg("/".join, axis=1)
        listed = ", ".join(f"{k} ({v!s})" for k, v in zip(label[~ok], table.loc[~ok, column]))
        path = table.attrs.get("override_path")
        raise InputError(f"values of {column} must be {RULES[rule]}: {listed}.", path=path, field=column,
                         fix=f"correct these rows{' of the override' if path else ''} of {name or 'the table'}.")
    return values.astype(float)


def landuse_coefficients(override: str | os.PathLike | pd.DataFrame | None = None) -> pd.DataFrame:
    """Per-hectare emission and removal coefficients of non-built land.

    Returns the table with ``value`` as float and ``co2_t_ha_yr``: the coefficient's magnitude
    converted to t CO2/ha/yr (always >= 0; ``flux`` says whether it is an emission or a
    removal). A row with ``system`` and ``code`` applies to that class only and takes
    precedence over its category's row.

    Raises
    ------
    InputError
        For an unknown unit or flux, or a negative value.
    """
    table = read_table("landuse_carbon_coefficients", override)
    bad_unit = sorted(set(table["unit"]) - set(UNIT_TO_CO2_T_HA_YR))
    if bad_unit:
        raise InputError(f"unknown coefficient unit(s): {', '.join(bad_unit)}.", field="unit",
                         path=table.attrs["override_path"],
                         fix=f"use one of {', '.join(UNIT_TO_CO2_T_HA_YR)}.")
    bad_flux = sorted(set(table["flux"]) - set(FLUXES))
    if bad_flux:
        raise InputError(f"unknown flux value(s): {', '.join(bad_flux)}.", field="flux",
                         path=table.attrs["override_path"],
                         fix="use 'emission' or 'removal' (the sign goes in flux, not in value).")
    table["value"] = numbers(table, "value", rule="non_negative")  # the sign is in flux
    table["co2_t_ha_yr"] = table["value"] * table["unit"].map(UNIT_TO_CO2_T_HA_YR)
    return table


def road_class_weights(override=None) -> pd.Series:
    """Relative traffic per km of road by ``road_class`` (the transport proxy's weights)."""
    table = read_table("road_class_weights", override)
    return pd.Series(numbers(table, "weight", rule="non_negative").to_numpy(), index=table["road_class"], name="weight")


def efficiency_bands(override=None) -> pd.DataFrame:
    """Bands of emissions per unit of output relative to the city average, ascending."""
    table = read_table("efficiency_bands", override)
    table["band"] = numbers(table, "band", rule="non_negative").astype(int)
    table["max_relative_intensity"] = numbers(table, "max_relative_intensity", rule="positive")
    table = table.sort_values("max_relative_intensity").reset_index(drop=True)
    if not np.isinf(table["max_relative_intensity"].iloc[-1]):
        raise InputError("the last efficiency band must be open-ended (max_relative_intensity = inf).",
                         field="max_relative_intensity", fix="give the highest band inf.")
    return table


def balance_classes(override=None) -> pd.DataFrame:
    """Carbon surplus / balanced / deficit classes by minimum sink-to-source ratio, ascending."""
    table = read_table("balance_classes", override)
    table["min_sink_source_ratio"] = numbers(table, "min_sink_source_ratio", rule="non_negative")
    return table.sort_values("min_sink_source_ratio").reset_index(drop=True)


def blue_carbon_disturbance(override=None) -> pd.DataFrame:
    """Half-lives [yr] and disturbed fractions by impact level of wetland carbon pools."""
    table = read_table("blue_carbon_disturbance", override)
    table["half_life_yr"] = numbers(table, "half_life_yr", rule="positive")
    for column in ("low", "medium", "high"):  # disturbed fractions of the pool
        table[column] = numbers(table, column, rule="fraction")
    return table


def ecological_resistance(override=None) -> pd.Series:
    """Resistance to movement of each carbon category (relative cost per metre), indexed by
    carbon category."""
    table = read_table("ecological_resistance", override)
    resistance = numbers(table, "resistance", rule="positive")  # 1 for the easiest land, more for harder land
    return pd.Series(resistance.to_numpy(), index=table["carbon_category"], name="resistance")


def _scalars(name: str, override, rules: dict[str, str]) -> dict[str, float]:
    """A table of scalar parameters as name -> value (units in the table), each a number and
    each parameter named in `rules` checked by its rule (:func:`numbers`)."""
    table = read_table(name, override)
    known = list(_packaged(name)["parameter"])
    unknown = [p for p in table["parameter"] if p not in known]
    if unknown:  # a misspelt override would otherwise be silently ignored
        close = difflib.get_close_matches(unknown[0], known, n=1)
        raise InputError(f"unknown parameter(s) {', '.join(map(repr, unknown))}.", path=table.attrs["override_path"],
                         field="parameter", fix=(f"did you mean {close[0]!r}? " if close else "")
                         + f"the parameters of {name} are: {', '.join(known)}.")
    values = numbers(table, "value")
    for rule in set(rules.values()):
        numbers(table, "value", rule=rule, rows=table["parameter"].map(rules).eq(rule))
    return dict(zip(table["parameter"], values))


_RENEWABLE_RULES = {  # physical sizes and shares: what each parameter must be
    **dict.fromkeys(("module_kwp_per_m2", "ground_capacity_mw_per_km2", "lifetime_yr", "turbine_rated_mw",
                     "turbine_rotor_m", "turbine_hub_m", "turbine_spacing_rotor_diameters", "weibull_shape",
                     "wind_reference_height_m", "air_density_sea_level", "air_density_scale_height_m",
                     "gshp_borehole_spacing_m", "gshp_borehole_depth_m", "gshp_full_load_hours", "gshp_cop",
                     "rock_thermal_conductivity", "deep_geothermal_depth_m"), "positive"),
    **dict.fromkeys(("performance_ratio", "clear_sky_index", "albedo"), "fraction"),
    **dict.fromkeys(("degradation_pct_yr", "pitched_roof_tilt_deg", "rooftop_capex_cny_per_kwp",
                     "opex_cny_per_kwp_yr", "electricity_price_cny_per_kwh", "ground_max_slope_deg",
                     "ground_max_north_slope_deg", "wind_setback_tip_heights"), "non_negative"),
}
_SCREENING_RULES = {
    **dict.fromkeys(("rooftop_min_usable_area_m2", "rooftop_weight_specific_yield", "rooftop_weight_payback",
                     "rooftop_weight_co2_avoided", "afforestation_min_patch_area_ha", "afforestation_max_slope_deg",
                     "afforestation_tree_min_precipitation_mm", "afforestation_shrub_min_precipitation_mm",
                     "afforestation_weight_sequestration", "afforestation_weight_connectivity",
                     "afforestation_weight_cost"), "non_negative"),
    **dict.fromkeys(("afforestation_sparse_grass_max_cover", "restoration_default_budget_share"), "fraction"),
    "afforestation_horizon_yr": "positive",
}


def renewable_parameters(override=None) -> dict[str, float]:
    """Scalar parameters of the renewables module (name -> value; units in the table)."""
    return _scalars("renewable_parameters", override, _RENEWABLE_RULES)


def rooftop_pv_usable(override=None) -> pd.Series:
    """Share of roof area that can carry PV, by building use (index: use)."""
    table = read_table("rooftop_pv_usable", override)
    return pd.Series(numbers(table, "usable_fraction", rule="fraction").to_numpy(), index=table["use"],
                     name="usable_fraction")


def grid_emission_factor(grid: str = "china_national", year: int | None = None, *, override=None) -> float:
    """The grid emission factor of a grid and year [t CO2/MWh].

    Parameters
    ----------
    grid : str
        A ``grid`` of ``grid_emission_factors.csv`` (default ``china_national``), or of the
        override.
    year : int, optional
        The year of the factor; default the latest year the table has for `grid`.
    override : path or DataFrame, optional
        Rows that replace or add to the packaged table (:func:`read_table`).

    Returns
    -------
    float
        The factor [t CO2/MWh]: the CO2 emitted per MWh taken from that grid.

    Raises
    ------
    InputError
        For a grid or year the table does not have (listing those it has).

    References
    ----------
    .. [1] Ministry of Ecology and Environment of China (2023). Notice on the greenhouse-gas
       emission reports of power generation enterprises 2023-2025
       (关于做好2023-2025年发电行业企业温室气体排放报告管理有关工作的通知): the national grid average
       emission factor for 2022.

    Examples
    --------
    >>> grid_emission_factor("china_national", 2022)
    0.5703
    """
    table = read_table("grid_emission_factors", override)
    rows = table[table["grid"] == grid]
    if rows.empty:
        raise InputError(f"no emission factor for grid {grid!r}.", field="grid",
                         fix=f"use one of {', '.join(sorted(table['grid'].unique()))}, or add a row.")
    years = numbers(rows, "year", rule="positive").astype(int)
    pick = rows[years == (year if year is not None else years.max())]
    if pick.empty:
        raise InputError(f"no emission factor for grid {grid!r} in {year}.", field="year",
                         fix=f"years available: {', '.join(map(str, sorted(years)))}.")
    return float(numbers(pick, "t_co2_per_mwh", rule="non_negative").iloc[-1])


def wind_shear_exponents(override=None) -> pd.Series:
    """Power-law shear exponent by carbon category (index)."""
    table = read_table("wind_shear_exponents", override)
    return pd.Series(numbers(table, "alpha", rule="non_negative").to_numpy(), index=table["carbon_category"],
                     name="alpha")


def wind_power_curve(override=None) -> pd.DataFrame:
    """Turbine power curve: ``wind_speed_m_s``, ``power_kw`` (sorted by speed)."""
    table = read_table("wind_power_curve", override)
    curve = pd.DataFrame({"wind_speed_m_s": numbers(table, "wind_speed_m_s", rule="non_negative"),
                          "power_kw": numbers(table, "power_kw", rule="non_negative")})
    return curve.sort_values("wind_speed_m_s", ignore_index=True)


def gshp_extraction(override=None) -> pd.Series:
    """Specific heat extraction of borehole heat exchangers [W per m of borehole] by ground type."""
    table = read_table("gshp_extraction", override)
    return pd.Series(numbers(table, "w_per_m", rule="positive").to_numpy(), index=table["ground"], name="w_per_m")


def heating_demand(override=None) -> pd.Series:
    """Space-heating demand [kWh per m2 of floor area per year] by climate zone."""
    table = read_table("heating_demand", override)
    return pd.Series(numbers(table, "kwh_per_m2_yr", rule="non_negative").to_numpy(), index=table["climate_zone"],
                     name="kwh_per_m2_yr")


def geothermal_classes(override=None) -> pd.DataFrame:
    """Geothermal temperature classes (GB/T 11615), sorted by their lower bound [degC]."""
    table = read_table("geothermal_classes", override)
    table["min_temperature_c"] = numbers(table, "min_temperature_c")
    return table.sort_values("min_temperature_c", ignore_index=True)


def renewable_zoning_rules(override=None) -> pd.DataFrame:
    """Development-control rules: resource, constraint, zone class, buffer and reason."""
    table = read_table("renewable_zoning_rules", override)
    bad = sorted(set(table["zone_class"]) - {"prohibited", "restricted", "suitable"})
    if bad:
        raise InputError(f"unknown zone class(es) {', '.join(bad)}.", field="zone_class",
                         fix="use prohibited, restricted or suitable.")
    return table


def with_parameters(text: str, parameters: Mapping[str, float]) -> str:
    """A rule's `text` with each ``{parameter}`` it names replaced by that parameter's value (a zoning
    rule's reason: ``setback from built-up land ({wind_setback_tip_heights} tip heights)`` -> ``... (4 tip
    heights)``); a placeholder that names no parameter stays as it is.

    Examples
    --------
    >>> with_parameters("建设用地退让距离（{wind_setback_tip_heights} 倍叶尖高度）", {"wind_setback_tip_heights": 4.0})
    '建设用地退让距离（4 倍叶尖高度）'
    """
    def value(match: re.Match) -> str:
        name = match.group(1)
        return f"{float(parameters[name]):g}" if name in parameters else match.group(0)

    return re.sub(r"{(\w+)}", value, str(text))


def screening_parameters(override=None) -> dict[str, float]:
    """Scalar parameters of site screening (name -> value; units in the table)."""
    return _scalars("screening_parameters", override, _SCREENING_RULES)


#: What an afforestation rule can decide about the land it matches.
AFFORESTATION_OUTCOMES = ("eligible", "eligible_if_sparse", "excluded")


def afforestation_rules(override=None) -> pd.DataFrame:
    """Afforestation eligibility rules: by carbon category (shell patterns such as ``built_*``)
    or by protection zone, each with an outcome and a reason."""
    table = read_table("afforestation_rules", override)
    bad = sorted(set(table["outcome"]) - set(AFFORESTATION_OUTCOMES))
    if bad:
        raise InputError(f"unknown afforestation outcome(s) {', '.join(bad)}.", field="outcome",
                         fix=f"use {', '.join(AFFORESTATION_OUTCOMES)}.")
    types = sorted(set(table["constraint_type"]) - {"category", "zone"})
    if types:
        raise InputError(f"unknown constraint type(s) {', '.join(types)}.", field="constraint_type",
                         fix="use category (a carbon category or pattern) or zone (a protection-zone name).")
    return table


#: How a rule of ``afforestation_eligibility.csv`` is checked
#: (:func:`carbonmap.screening.afforestation.apply_eligibility`).
ELIGIBILITY_CHECKS = ("category", "landuse", "vacated", "corridor", "vegetation_type", "earlier_category",
                      "min_parcel_m2", "condition")


def afforestation_eligibility(override=None) -> pd.DataFrame:
    """Rule sets of eligibility for carbon credits (e.g. ``ccer_2023``), applied after the technical
    afforestation rules: each rule with how it is checked, its constraint and value (``value``
    as a number, NaN where none), the methodology's clause and the reason in English and Chinese."""
    table = read_table("afforestation_eligibility", override)
    bad = sorted(set(table["check"]) - set(ELIGIBILITY_CHECKS))
    if bad:
        raise InputError(f"unknown eligibility check(s) {', '.join(bad)}.", field="check",
                         fix=f"use {', '.join(ELIGIBILITY_CHECKS)}.")
    needs_value = table["check"].isin(["corridor", "earlier_category", "min_parcel_m2"])
    table["value"] = pd.to_numeric(table["value"].replace("", np.nan), errors="coerce")
    bad_value = needs_value & ~(table["value"] > 0)
    if bad_value.any():
        raise InputError(f"eligibility rule {table.loc[bad_value, 'rule'].iloc[0]!r} needs a positive value.",
                         field="value", fix="give the distance [m], the years or the area [m2].")
    return table


def afforestation_site_preparation(override=None) -> pd.DataFrame:
    """Site-preparation technique and unit cost [CNY/ha] by slope band (from ``min_slope_deg``)."""
    table = read_table("afforestation_site_preparation", override)
    table["min_slope_deg"] = numbers(table, "min_slope_deg", rule="non_negative")
    table["cost_cny_per_ha"] = numbers(table, "cost_cny_per_ha", rule="non_negative")
    return table.sort_values("min_slope_deg", ignore_index=True)


def afforestation_growth(override=None) -> pd.DataFrame:
    """Chapman-Richards growth parameters, root:shoot ratio and carbon fraction by vegetation
    type (index)."""
    table = read_table("afforestation_growth", override)
    for column, rule in (("agb_max_t_dm_ha", "positive"), ("k_per_yr", "positive"), ("p", "positive"),
                         ("root_shoot", "non_negative"), ("carbon_fraction", "fraction")):
        table[column] = numbers(table, column, rule=rule)
    return table.set_index("vegetation_type")


def planning_stages(override=None) -> pd.DataFrame:
    """The stages of the road to neutrality with their years (open-ended first and last)."""
    table = read_table("planning_stages", override)
    for column in ("first_year", "last_year"):
        table[column] = pd.to_numeric(table[column].replace("", np.nan))
    return table


def scenario_parameters(override=None) -> dict[str, float]:
    """Scalar parameters of the scenarios' land-use allocation (name -> value; units in the table)."""
    return _scalars("scenario_parameters", override, {
        **dict.fromkeys(("markov_window_cells", "markov_distance_decay_m", "markov_max_slope_deg", "plus_sample_size",
                         "plus_trees", "plus_min_leaf_cells", "plus_max_iterations"), "positive"),
        "plus_window_cells": "odd_window",
        **dict.fromkeys(("plus_neighbourhood_weight", "plus_patch_seed_weight", "plus_threshold_start",
                         "plus_threshold_decay", "plus_unlearnt_probability"), "fraction"),
        "plus_random_seed": "non_negative"})


def network_settings(override=None) -> dict[str, float]:
    """Defaults of the ecological network's settings and resistance modifiers (name -> value;
    units in the table); the [network] keys of a project override them one by one."""
    return _scalars("network_settings", override, {})


def compensation_classes(override=None) -> pd.DataFrame:
    """Carbon paying / balanced / receiving zones by minimum carbon compensation rate [-], ascending
    (:func:`carbonmap.compensation.compensation_zoning`)."""
    table = read_table("compensation_classes", override)
    table["min_compensation_rate"] = numbers(table, "min_compensation_rate", rule="non_negative")
    table = table.sort_values("min_compensation_rate").reset_index(drop=True)
    if table.empty or table["min_compensation_rate"].iloc[0] != 0:
        raise InputError("the lowest compensation class must start at a rate of 0.", path=table.attrs["override_path"],
                         field="min_compensation_rate", fix="give the paying class min_compensation_rate 0.")
    return table


def compensation_parameters(override=None) -> dict[str, float]:
    """The bounds of the correction coefficients of the carbon compensation rate (name -> value)."""
    return _scalars("compensation_parameters", override, dict.fromkeys(("correction_min", "correction_max"),
                                                                       "positive"))


def carbon_price(name: str, override=None) -> float:
    """A carbon price [CNY/t CO2] of ``carbon_prices.csv`` named ``"<market>:<year>"``
    (e.g. ``"china_national_ets:2024"``).

    Raises
    ------
    InputError
        For a name that is not in the table, listing the names that are.
    """
    table = read_table("carbon_prices", override)
    names = table["market"] + ":" + table["year"]
    if name not in set(names):
        raise InputError(f"unknown carbon price {name!r}.", key="compensation.carbon_price",
                         fix=f"use a price in CNY/t CO2, or one of {', '.join(names)}.")
    prices = numbers(table, "price_cny_per_t_co2", rule="non_negative")
    return float(prices[names == name].iloc[0])
def target_parameters(override=None) -> dict[str, float]:
    """Defaults of the targets check (name -> value; units in the table): the GDP growth of
    intensity targets."""
    return _scalars("target_parameters", override, {})


def monitoring_thresholds(override=None) -> pd.DataFrame:
    """How fast an indicator may move the wrong way before ``carbonmap compare`` warns, indexed by
    indicator: ``worse`` ('increase' or 'decrease'), ``change`` ('relative' [% of the earlier value
    per year] or 'absolute' [the indicator's unit per year]) and ``max_change_per_yr`` (>= 0)."""
    table = read_table("monitoring_thresholds", override)
    bad = table[~table["worse"].isin(("increase", "decrease")) | ~table["change"].isin(("relative", "absolute"))]
    if len(bad):
        raise InputError(f"rows {', '.join(bad['indicator'])} have an unknown worse or change.",
                         path=table.attrs["override_path"], field="worse",
                         fix="worse is increase or decrease; change is relative or absolute.")
    table["max_change_per_yr"] = numbers(table, "max_change_per_yr", rule="non_negative")
    return table.set_index("indicator")


#: The distributions an uncertainty range can have (:func:`coefficient_uncertainty`).
DISTRIBUTIONS = ("normal", "lognormal", "triangular", "uniform")
#: What an uncertainty range can be about: the table, and what its ``key`` names in it.
UNCERTAIN_TABLES = {
    "landuse_carbon_coefficients": "a coef_id of landuse_carbon_coefficients",
    "inventory": "an inventory sector, or point_sources",
    "sinks": "nep (the vegetation sink of the NEP method)",
    "carbon_pools": "a pool: c_above, c_below, c_soil or c_dead",
}


def coefficient_uncertainty(override=None) -> pd.DataFrame:
    """The uncertainty of each coefficient: a distribution and its 95 % range, with a source.

    One row per coefficient (``table`` and ``key``; key ``*`` is the default of every row of the
    table without its own), read with :func:`read_table` (a user table replaces rows by table
    and key). ``lower_pct`` and ``upper_pct`` [%] give the range below and above the central
    value :math:`x` as percentages of it: for ``normal`` and ``lognormal`` the 2.5 and 97.5 %
    quantiles :math:`x (1 - l/100)` and :math:`x (1 + u/100)` (IPCC 2006 Vol. 1 Ch. 3: the
    95 % confidence interval); for ``triangular`` and ``uniform`` the minimum and maximum (the
    triangle's mode is :math:`x`). Rows with the same non-empty ``group`` share one draw (the
    same study's value applied to several classes); an empty group is the row's own.

    Returns the table with ``lower_pct`` and ``upper_pct`` as floats and ``group`` filled
    (``<table>:<key>`` where empty).

    Raises
    ------
    InputError
        Naming the table (and the override file) for an unknown table or distribution, a
        negative bound (the range must hold the central value), a range reaching below zero
        (``lower_pct`` of 100 or more, except a uniform or triangular one reaching exactly 0), or
        a normal range that is not symmetric.

    References
    ----------
    .. [1] IPCC (2006). 2006 IPCC Guidelines for National Greenhouse Gas Inventories, Volume 1,
       Chapter 3: Uncertainties.
    """
    table = read_table("coefficient_uncertainty", override)
    path = table.attrs["override_path"]
    bad = sorted(set(table["table"]) - set(UNCERTAIN_TABLES))
    if bad:
        raise InputError(f"uncertainty ranges for unknown table(s) {', '.join(bad)}.", path=path, field="table",
                         fix=f"use one of {', '.join(UNCERTAIN_TABLES)}.")
    bad = table[~table["distribution"].isin(DISTRIBUTIONS)]
    if len(bad):
        close = difflib.get_close_matches(bad["distribution"].iloc[0], DISTRIBUTIONS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise InputError(f"unknown distribution {bad['distribution'].iloc[0]!r} "
                         f"({bad['table'].iloc[0]} / {bad['key'].iloc[0]}).", path=path, field="distribution",
                         fix=f"{hint}use one of {', '.join(DISTRIBUTIONS)}.")
    for column in ("lower_pct", "upper_pct"):  # a range around the central value: both bounds >= 0
        table[column] = numbers(table, column, rule="non_negative")
    label = table["table"] + " / " + table["key"]
    below = (table["lower_pct"] >= 100) & ~(table["distribution"].isin(("uniform", "triangular"))
                                              & (table["lower_pct"] == 100))
    if below.any():
        raise InputError(f"ranges reaching below zero: {', '.join(label[below])} (lower_pct >= 100).", path=path,
                         field="lower_pct", fix="a coefficient cannot change sign: give lower_pct below 100 "
                         "(a lognormal range suits wide ranges of positive values).")
    skew = (table["distribution"] == "normal") & (table["lower_pct"] != table["upper_pct"])
    if skew.any():
        raise InputError(f"normal ranges must be symmetric: {', '.join(label[skew])}.", path=path,
                         field="upper_pct", fix="give lower_pct = upper_pct, or use lognormal or triangular.")
    table["group"] = table["group"].where(table["group"].str.strip() != "", table["table"] + ":" + table["key"])
    return table
