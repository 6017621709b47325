"""Rank rooftops for PV and bundle them into project packages per planning unit.

Input is the per-building result of :func:`carbonmap.renewables.rooftop.rooftop_pv`. A roof
is a candidate when its usable area (roof area x usable share) is at least a minimum, its use
is one of the uses wanted, and its centroid lies outside every excluded zone (e.g. heritage
zones). Candidates are ranked by the weighted score of :mod:`carbonmap.screening.score`
over three criteria that measure different things:

- specific yield [kWh/kWp/yr]: the quality of the roof (irradiation, tilt, shading);
- simple payback [yr] (lower is better): the economics;
- CO2 avoided [t/yr]: the size of the project.

A *package* is every candidate roof of a planning unit, the unit of a whole-county rooftop
PV programme (整县屋顶分布式光伏, NEA 2021). For each class of roof the package reports the
share of roof area it covers with modules' footprint, next to the programme's minimum share:
government and public buildings 40-50 %, commercial and industrial 30 %, residential 20 %
(``rooftop_pv_usable.csv``).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from carbonmap.errors import InputError, MissingColumnError
from carbonmap.screening.score import weighted_score

__all__ = ["ROOF_CLASSES", "RANKED_FIELDS", "rank_rooftops", "roof_classes", "rooftop_packages", "rooftop_weights",
           "top_per_unit"]

#: Building use -> class of roof in a whole-county rooftop PV programme.
ROOF_CLASSES = {"public": "public", "government": "public", "commercial": "commercial_industrial",
                "industrial": "commercial_industrial", "residential": "residential"}

_CRITERIA = {"specific_yield_kwh_kwp": True, "payback_yr": False, "co2_avoided_t_yr": True}
#: The fields :func:`rank_rooftops` needs (those of the rooftop PV output).
RANKED_FIELDS = ("roof_area_m2", "usable_share", "capacity_kwp", "yield_kwh_yr", *_CRITERIA)


def roof_classes(buildings: pd.DataFrame, use_field: str | None) -> pd.Series:
    """Class of each roof in a whole-county programme (:data:`ROOF_CLASSES`; others "other")."""
    if use_field is None:
        return pd.Series("other", index=buildings.index)
    return buildings[use_field].astype(str).str.lower().map(ROOF_CLASSES).fillna("other")


def rooftop_weights(parameters: dict[str, float]) -> dict[str, float]:
    """The score weights of the three criteria, from ``screening_parameters``."""
    return {"specific_yield_kwh_kwp": parameters["rooftop_weight_specific_yield"],
            "payback_yr": parameters["rooftop_weight_payback"],
            "co2_avoided_t_yr": parameters["rooftop_weight_co2_avoided"]}


def rank_rooftops(buildings: gpd.GeoDataFrame, *, weights: dict[str, float], min_usable_area_m2: float,
                  use_field: str | None = None, uses=None, exclusions: gpd.GeoDataFrame | None = None
                  ) -> gpd.GeoDataFrame:
    """Candidate roofs for PV with their criteria, score and rank.

    Parameters
    ----------
    buildings : GeoDataFrame
        Output of :func:`~carbonmap.renewables.rooftop.rooftop_pv` (projected CRS).
    weights : dict of str -> float [-]
        Weight of each criterion: ``specific_yield_kwh_kwp``, ``payback_yr``,
        ``co2_avoided_t_yr``.
    min_usable_area_m2 : float [m2]
        Roofs with less usable area are not candidates.
    use_field : str, optional
        Field of the building use.
    uses : iterable of str, optional
        Keep only buildings whose use is one of these (default: every use).
    exclusions : GeoDataFrame, optional
        Polygons (any CRS) where no roof is a candidate.

    Returns
    -------
    GeoDataFrame
        The candidates (index kept), with ``usable_area_m2`` [m2], ``roof_class``, ``score_*``
        [-], ``score`` [-] and ``rank`` (1 = best, citywide), sorted by rank.

    Raises
    ------
    MissingColumnError
        When the buildings lack the columns of :func:`rooftop_pv` or `use_field`.
    InputError
        When no roof passes the filters.

    Notes
    -----
    Usable area :math:`u A` (usable share by use times roof area); the score is
    :func:`~carbonmap.screening.score.weighted_score` of specific yield (higher), simple payback
    (lower) and CO2 avoided (higher).

    References
    ----------
    .. [1] National Energy Administration (2021). Notice on county-wide rooftop distributed PV
       pilots (整县屋顶分布式光伏开发试点): public buildings at least 40 %, industrial and commercial
       roofs at least 30 %, rural residential roofs at least 20 % of roof area.
    """
    missing = [c for c in RANKED_FIELDS if c not in buildings.columns]
    if missing:
        raise MissingColumnError(f"the buildings have no {missing[0]!r}.", field=missing[0],
                                 fix="pass the output of carbonmap.renewables.rooftop_pv.")
    if use_field is not None and use_field not in buildings.columns:
        raise MissingColumnError(f"no field {use_field!r} in the buildings.", field=use_field,
                                 fix=f"fields: {', '.join(map(str, buildings.columns))}.")
    frame = buildings.copy()
    frame["usable_area_m2"] = frame["roof_area_m2"] * frame["usable_share"]
    frame["roof_class"] = roof_classes(frame, use_field)
    keep = frame["usable_area_m2"] >= min_usable_area_m2
    if uses is not None:
        use = frame[use_field].astype(str).str.lower() if use_field else pd.Series("other", index=frame.index)
        keep &= use.isin([u.lower() for u in uses])
    if exclusions is not None and len(exclusions):
        centres = gpd.GeoDataFrame(geometry=frame.geometry.centroid, crs=frame.crs)
        inside = gpd.sjoin(centres, exclusions.to_crs(frame.crs)[["geometry"]], predicate="within", how="inner")
        keep &= ~frame.index.isin(inside.index)
    candidates = frame[keep]
    if candidates.empty:
        raise InputError(f"no roof passes the filters (minimum usable area {min_usable_area_m2:g} m2, uses "
                         f"{uses or 'all'}, {0 if exclusions is None else len(exclusions)} exclusion zones).",
                         fix="lower the minimum usable area or widen the uses.")
    scores = weighted_score(candidates[list(_CRITERIA)], weights=weights, higher_is_better=_CRITERIA)
    out = candidates.join(scores)
    out["rank"] = out["score"].rank(ascending=False, method="first").astype(int)
    return out.sort_values("rank")


def top_per_unit(ranked: pd.DataFrame, unit: pd.Series, *, n: int) -> pd.DataFrame:
    """The `n` best-ranked rows in each unit.

    Parameters
    ----------
    ranked : DataFrame
        Rows with a ``score`` (e.g. :func:`rank_rooftops`).
    unit : Series
        Unit id of each row.
    n : int
        Rows to keep per unit.

    Returns
    -------
    DataFrame
        Without geometry, with ``unit_id`` and ``rank_in_unit`` (1 = best), sorted by unit and
        rank.
    """
    frame = pd.DataFrame(ranked.drop(columns="geometry", errors="ignore")).assign(unit_id=unit)
    frame["rank_in_unit"] = frame.groupby("unit_id")["score"].rank(ascending=False, method="first").astype(int)
    frame = frame[frame["rank_in_unit"] <= n]
    return frame.sort_values(["unit_id", "rank_in_unit"])


def rooftop_packages(ranked: pd.DataFrame, all_buildings: pd.DataFrame, unit_of_ranked: pd.Series,
                     unit_of_all: pd.Series, targets: pd.Series, *, use_field: str | None) -> pd.DataFrame:
    r"""Per-unit rooftop PV project packages: size, yield, cost, CO2 and roof coverage by class.

    Parameters
    ----------
    ranked : DataFrame
        Candidate roofs (:func:`rank_rooftops`).
    all_buildings : DataFrame
        Every building (its ``roof_area_m2`` and use), for the denominators.
    unit_of_ranked : Series
        Unit id of each row of `ranked`.
    unit_of_all : Series
        Unit id of each row of `all_buildings`.
    targets : Series [-]
        The programme's minimum roof share by use (``rooftop_pv_usable``).
    use_field : str, optional
        Field of the building use.

    Returns
    -------
    DataFrame
        One row per unit (index ``unit_id``): ``roofs``, ``capacity_mw`` [MW],
        ``yield_gwh_yr`` [GWh/yr], ``co2_avoided_t_yr`` [t CO2/yr], ``capex_cny_1e4``
        [10^4 CNY], and per roof class ``covered_share_<class>`` [-] (covered roof area / all
        roof area of the class in the unit), ``target_share_<class>`` [-] and
        ``meets_target_<class>``. A run publishes the first four as the summary columns
        ``pv_package_roofs``, ``pv_package_capacity_mw``, ``pv_package_yield_gwh_yr`` and
        ``pv_package_co2_avoided_t_yr``.

    Notes
    -----
    For unit u and roof class k, :math:`share_{u,k} = \sum_{candidates} u_b A_b / \sum_{all} A_b`,
    compared with the whole-county programme's minimum share of the class.

    References
    ----------
    .. [1] National Energy Administration (2021). Notice on county-wide rooftop distributed PV
       pilots (整县屋顶分布式光伏开发试点): public buildings at least 40 %, industrial and commercial
       roofs at least 30 %, rural residential roofs at least 20 % of roof area.
    """
    package = pd.DataFrame({
        "roofs": ranked.groupby(unit_of_ranked).size(),
        "capacity_mw": ranked.groupby(unit_of_ranked)["capacity_kwp"].sum() / 1e3,
        "yield_gwh_yr": ranked.groupby(unit_of_ranked)["yield_kwh_yr"].sum() / 1e6,
        "co2_avoided_t_yr": ranked.groupby(unit_of_ranked)["co2_avoided_t_yr"].sum(),
        "capex_cny_1e4": ranked.groupby(unit_of_ranked)["capex_cny"].sum() / 1e4,
    })
    covered = ranked["usable_area_m2"].groupby([unit_of_ranked, ranked["roof_class"]]).sum()
    total = all_buildings["roof_area_m2"].groupby([unit_of_all, roof_classes(all_buildings, use_field)]).sum()
    share = (covered.reindex(total.index).fillna(0.0) / total).unstack()
    for roof_class in ("public", "commercial_industrial", "residential"):
        target = float(targets.get("commercial" if roof_class == "commercial_industrial" else roof_class, np.nan))
        values = share[roof_class] if roof_class in share else pd.Series(np.nan, index=share.index)
        package[f"covered_share_{roof_class}"] = values
        package[f"target_share_{roof_class}"] = target
        package[f"meets_target_{roof_class}"] = values >= target - 1e-9
    package.index.name = "unit_id"
    return package.fillna({"roofs": 0}).astype({"roofs": int})
