"""Carbon sources: emissions on land-use parcels, downscaled inventories, gridded emissions.

Two complementary methods, as in Chinese land-based carbon accounting (三生用地碳核算):

1. **Coefficient accounting** for non-built land (:func:`coefficient_fluxes`): a per-hectare
   emission or removal coefficient per carbon category (cropland emits; forest, grassland,
   water and wetlands remove), times the parcel's area:

   .. math:: E_i = c_{k(i)} \\, A_i \\quad [\\mathrm{t\\,CO_2\\,yr^{-1}}]

   with :math:`c_k` in t CO2/ha/yr (converted from t C with 44/12) and :math:`A_i` in ha.
   Built-up land has no meaningful per-hectare coefficient; its emissions come from (2).

2. **Inventory downscaling** (:func:`downscale_inventory`): a city inventory by sector is
   allocated to features with one spatial proxy per sector -- floor area for buildings, road
   length times a class weight for transport, industrial floor area or land for industry,
   cropland for agriculture. Large point sources with known emissions are placed first and
   subtracted from their sector. For sector total :math:`T_s`, point sources :math:`P_s` and
   proxy weights :math:`w_j`,

   .. math:: E_j = (T_s - \\textstyle\\sum P_s) \\, w_j / \\textstyle\\sum_k w_k ,

   so totals are conserved exactly per sector and the allocation is invariant to splitting a
   feature in two (weights are additive: area, length, floor area). A sector whose proxy has
   no features is reported as unallocated, never dropped.

Allocated emissions are then summed over any zones -- parcels, planning units
(:func:`aggregate_to_zones`, by the share of each feature's length or area inside a zone) --
or spread onto a raster grid (:func:`grid_emissions`), conserving the total in both cases.

References
----------
.. [1] Zhao R., Huang X., Peng B. (2012). Research on carbon emission intensity and carbon
   footprint of different industrial spaces in China. Acta Geographica Sinica 67(10).
.. [2] Gurney K. R., et al. (2012). Quantification of fossil fuel CO2 emissions on the
   building/street scale for a large U.S. city. Environmental Science & Technology 46(21),
   12194-12202 (proxy-based downscaling of a city inventory to buildings and roads).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio.features
import shapely

from carbonmap.compute import ordered_map, release_free_memory
from carbonmap.errors import InputError, MissingColumnError
from carbonmap.grid import AnalysisGrid, geojson_shapes
from carbonmap.io import read_csv
from carbonmap.words import Text, words

__all__ = [
    "BUILT_PREFIX",
    "INVENTORY_COLUMNS",
    "coefficient_fluxes",
    "WHOLE_SECTOR",
    "REPORT_COLUMNS",
    "allocate",
    "read_inventory_file",
    "read_inventory",
    "check_allocation",
    "floor_area_m2",
    "building_proxy",
    "road_proxy",
    "land_proxy",
    "downscale_inventory",
    "aggregate_to_zones",
    "grid_emissions",
    "builtup_intensity",
    "PROXY_CHOICES",
    "EmissionsAccount",
    "account_emissions",
    "gridded_sources",
]

#: Carbon categories starting with this prefix are built-up land (no per-hectare coefficient).
BUILT_PREFIX = "built"
#: Columns of a city inventory table.
INVENTORY_COLUMNS = ("sector", "sub_sector", "co2_t_yr", "year")


# --------------------------------------------------------------------------- coefficients


def coefficient_fluxes(
    categories: pd.Series,
    area_ha: np.ndarray,
    coefficients: pd.DataFrame,
    *,
    codes: pd.Series | None = None,
    system: str | None = None,
) -> pd.DataFrame:
    r"""Per-parcel emission and removal from per-hectare coefficients [t CO2/yr].

    Parameters
    ----------
    categories : Series of str (n,)
        Carbon category of each parcel (from :func:`carbonmap.landuse.classify`).
    area_ha : array (n,) [ha]
        Area of each parcel.
    coefficients : DataFrame
        From :func:`carbonmap.coefficients.landuse_coefficients` (``coef_id``, ``flux``,
        ``co2_t_ha_yr`` [t CO2/ha/yr]).
    codes : Series (n,), optional
        Land-use codes of the parcels, to apply class-specific rows (``system`` + ``code``) ahead
        of category rows; needs `system`.
    system : str, optional
        The code system of `codes`.

    Returns
    -------
    DataFrame
        Indexed like `categories`: ``coef_id`` (``"inventory"`` for built-up land, whose
        emissions are downscaled from the inventory), ``coef_emission_co2_t_yr`` and
        ``coef_removal_co2_t_yr`` [t CO2/yr], both >= 0.

    Raises
    ------
    InputError
        Listing every non-built category that has no coefficient.

    Notes
    -----
    Parcel i of category k(i) and area :math:`A_i` [ha], with the coefficient :math:`c_k`
    [t CO2/ha/yr] (converted from t C with 44/12 by the loader):

    .. math:: E_i = c_{k(i)} \, A_i

    counted as an emission or a removal by the coefficient's ``flux``. Built-up categories
    (:data:`BUILT_PREFIX`) get 0: their emissions come from the inventory.

    References
    ----------
    .. [1] Zhao R., Huang X., Peng B. (2012). Research on carbon emission intensity and carbon
       footprint of different industrial spaces in China. Acta Geographica Sinica 67(10).
    .. [2] Fang J., Guo Z., Piao S., Chen A. (2007). 1981-2000年中国陆地植被碳汇的估算 (Terrestrial
       vegetation carbon sinks in China, 1981-2000). Science in China Series D 37(6): 804-812.
    .. [3] Lai L. (2010). 中国土地利用的碳排放效应研究 (Carbon emission effect of land use in China).
       PhD thesis, Nanjing University.

    Examples
    --------
    >>> from carbonmap.coefficients import landuse_coefficients
    >>> fluxes = coefficient_fluxes(pd.Series(["forest", "cropland", "built_residential"]),
    ...                             np.array([10.0, 5.0, 2.0]), landuse_coefficients())
    >>> fluxes["coef_id"].tolist()
    ['CN-FOREST-FANG2007', 'CN-CROPLAND-HE2006', 'inventory']
    >>> fluxes[["coef_emission_co2_t_yr", "coef_removal_co2_t_yr"]].round(2).to_numpy().tolist()
    [[0.0, 21.3], [7.74, 0.0], [0.0, 0.0]]
    """
    categories = pd.Series(categories).reset_index(drop=True)
    area = np.asarray(area_ha, dtype=float)
    by_category = coefficients[coefficients["code"].fillna("") == ""].drop_duplicates("carbon_category", keep="last")
    by_category = by_category.set_index("carbon_category")
    chosen = categories.map(by_category["coef_id"])
    if codes is not None and system is not None:
        specific = coefficients[(coefficients["system"] == system) & (coefficients["code"] != "")]
        specific = specific.drop_duplicates("code", keep="last").set_index("code")["coef_id"]
        code_ids = pd.Series(codes).reset_index(drop=True).astype(str).map(specific).astype(object)
        chosen = code_ids.where(code_ids.notna(), chosen)
    built = categories.str.startswith(BUILT_PREFIX)
    missing = sorted(set(categories[chosen.isna() & ~built]))
    if missing:
        raise InputError(
            f"no coefficient for the carbon categories {', '.join(missing)}.", field="carbon_category",
            fix="add rows for them to a coefficient override table ([emissions] coefficients = ...).",
        )
    rows = coefficients.drop_duplicates("coef_id", keep="last").set_index("coef_id")
    flux = chosen.map(rows["flux"])
    rate = chosen.map(rows["co2_t_ha_yr"]).fillna(0.0).to_numpy()
    amount = rate * area
    return pd.DataFrame({
        "coef_id": chosen.where(~built, "inventory").to_numpy(),
        "coef_emission_co2_t_yr": np.where(flux == "emission", amount, 0.0),
        "coef_removal_co2_t_yr": np.where(flux == "removal", amount, 0.0),
    }, index=pd.Series(categories).index)


# --------------------------------------------------------------------------- allocation


#: The largest amount :func:`allocate` splits: far above any emission inventory [t CO2/yr], and
#: far enough below the largest float that exact sums of the shares cannot overflow.
MAX_AMOUNT = 1e300


def allocate(total: float, weights: np.ndarray) -> np.ndarray:
    """Split `total` in proportion to non-negative `weights`, conserving it exactly.

    Parameters
    ----------
    total : float
        Any finite amount up to :data:`MAX_AMOUNT` in magnitude, of either sign (a negative total,
        a net removal, is split alike).
    weights : array of float
        Finite, non-negative, with a positive sum.

    Returns
    -------
    ndarray
        The shares ``total * w / sum(w)``, except the share of the largest weight, which takes
        the exact remainder, so that ``math.fsum(result) == total``. A feature of weight 0 gets
        exactly 0; the others have the sign of `total` (or are 0).

    Raises
    ------
    InputError
        If weights are negative, not finite, or all zero, or `total` is not finite or larger than
        :data:`MAX_AMOUNT` (exact sums of amounts near the largest float overflow).
    """
    w = np.asarray(weights, dtype=float)
    if not np.isfinite(w).all() or (w < 0).any():
        raise InputError("proxy weights must be finite and non-negative.", fix="check the proxy layer's values.")
    if not (math.isfinite(total) and abs(total) <= MAX_AMOUNT):
        raise InputError(f"the amount to allocate must be finite and at most {MAX_AMOUNT:g} in magnitude, got "
                         f"{total}.", fix="check the inventory's values.")
    s = math.fsum(w)
    if s <= 0:
        raise InputError("all proxy weights are zero.", fix="give the proxy some features with weight.")
    shares = total * (w / s)
    shares[w == 0] = 0.0  # exactly zero, also for a negative total (not -0.0)
    # The share of the largest weight takes the correctly rounded exact remainder (math.fsum
    # rounds exact sums correctly). It is the share of largest magnitude, so the exact sum of all
    # shares is within half a unit in the last place of `total`, and fsum(shares) rounds to it.
    # An exact tie under round-half-even is broken by moving another positive-weight share one
    # representable step.
    j = int(np.argmax(w))
    others = np.delete(shares, j)
    shares[j] = math.fsum([total, *(-others)])
    if math.fsum(shares) != total:
        for k in np.argsort(-np.abs(shares), kind="stable"):
            if k == j or w[k] == 0 or shares[k] == 0:
                continue
            for direction in (np.inf, -np.inf):
                trial = shares.copy()
                trial[k] = np.nextafter(shares[k], direction)
                if math.fsum(trial) == total and np.sign(trial[k]) == np.sign(shares[k]):
                    return trial
    return shares


#: Sub-sector names that mean the whole sector (case-insensitive), for every sector alike.
WHOLE_SECTOR = ("", "all")


def read_inventory_file(path: str | os.PathLike) -> pd.DataFrame:
    """Read and validate an inventory CSV (sector, sub_sector, co2_t_yr, year), UTF-8.

    Sub-sectors are read as text (``01`` stays ``01``); an empty ``co2_t_yr`` is missing, not
    zero. See :func:`read_inventory` for the checks and :func:`carbonmap.io.read_csv` for files
    that are not usable CSVs (binary, not UTF-8, empty, header only).
    """
    frame = read_csv(path, what="inventory", dtype={"sub_sector": str}, keep_default_na=False,
                     na_values={"co2_t_yr": [""]})
    return read_inventory(frame, path=path)


def read_inventory(frame: pd.DataFrame, *, path=None) -> pd.DataFrame:
    """Validate an inventory table: sector, optional sub_sector, co2_t_yr >= 0, year.

    A sub-sector that is empty or ``all`` (:data:`WHOLE_SECTOR`) means the whole sector, for
    every sector; it is returned as ``""``. Raises :class:`InputError` naming every row with
    a missing or negative value (`path`, the inventory file, is named in messages).
    """
    missing = [c for c in ("sector", "co2_t_yr") if c not in frame.columns]
    if missing:
        raise MissingColumnError(f"the inventory needs the columns {', '.join(missing)}.", path=path,
                                 field=missing[0], fix="columns: sector, sub_sector, co2_t_yr, year.")
    out = frame.copy()
    if "sub_sector" not in out:
        out["sub_sector"] = ""
    out["sub_sector"] = out["sub_sector"].fillna("").astype(str).str.strip()
    out.loc[out["sub_sector"].str.lower().isin(WHOLE_SECTOR), "sub_sector"] = ""
    out["sector"] = out["sector"].astype(str).str.strip()
    value = pd.to_numeric(out["co2_t_yr"], errors="coerce")
    bad = out.index[value.isna() | (value < 0) | np.isinf(value)]
    if len(bad):
        rows = ", ".join(f"line {i + 2} ({out.at[i, 'sector']}: {frame.at[i, 'co2_t_yr']})" for i in bad[:10])
        raise InputError(f"{len(bad)} inventory value(s) are missing or negative: {rows}.", path=path,
                         field="co2_t_yr", fix="give every sector a non-negative co2_t_yr in t CO2/yr.")
    out["co2_t_yr"] = value.astype(float)
    duplicated = out.duplicated(["sector", "sub_sector"], keep=False)
    if duplicated.any():
        raise InputError("sectors listed twice: " + ", ".join(sorted(set(out.loc[duplicated, "sector"]))) + ".",
                         path=path, field="sector", fix="one row per sector and sub-sector (an empty sub_sector "
                         "and 'all' both mean the whole sector).")
    return out


def floor_area_m2(
    buildings: gpd.GeoDataFrame,
    *,
    floors_field: str | None = "floors",
    height_field: str | None = None,
    storey_height_m: float = 3.0,
    use_field: str = "use",
) -> tuple[pd.Series, dict]:
    r"""Gross floor area of each building, footprint area x floors [m2].

    Parameters
    ----------
    buildings : GeoDataFrame of polygons
        Footprints in a projected CRS (areas in m2), with a `use_field` column when the median
        floors should be taken per use.
    floors_field : str, optional
        Field of the floor count [floors].
    height_field : str, optional
        Field of the height [m], used where floors are missing.
    storey_height_m : float [m]
        Height of one storey, to turn heights into floors (rounded, at least 1).
    use_field : str
        Field of the building use.

    Returns
    -------
    (Series [m2], dict)
        The floor area, indexed like `buildings`, and the report
        ``{"missing_floors": n, "assumed_floors": {use: floors, ..., "all": floors}}``:
        buildings with neither floors nor height get the median floors of the others of the
        same use (or of all buildings), a documented default, never a silent zero.

    Raises
    ------
    InputError
        When the layer is not in a projected CRS.
    MissingColumnError
        When no building has floors or a height.

    Notes
    -----
    :math:`F_b = A_b \, n_b`, with :math:`A_b` the footprint area and
    :math:`n_b = \max(1, \mathrm{round}(h_b / h_s))` where only the height :math:`h_b` is known.
    """
    if buildings.crs is None or not buildings.crs.is_projected:
        raise InputError("buildings must be in a projected CRS to measure floor area.",
                         fix="reproject them (carbonmap.grid.ensure_projected).")
    floors = pd.Series(np.nan, index=buildings.index)
    if floors_field and floors_field in buildings:
        floors = pd.to_numeric(buildings[floors_field], errors="coerce")
    if height_field and height_field in buildings:
        from_height = np.maximum(np.round(pd.to_numeric(buildings[height_field], errors="coerce") / storey_height_m), 1)
        floors = floors.fillna(from_height)
    if floors.isna().all():
        raise MissingColumnError("no building has floors or a height.", field=floors_field or height_field,
                                 fix="give floors (or height) for at least some buildings.")
    floors = floors.where(floors > 0)
    missing = floors.isna()
    report = {"missing_floors": int(missing.sum()), "assumed_floors": {}}
    if missing.any():
        if use_field in buildings:
            medians = floors.groupby(buildings[use_field]).median()
            fill = buildings[use_field].map(medians)
            report["assumed_floors"] = {str(k): float(v) for k, v in medians.items() if not np.isnan(v)}
        else:
            fill = pd.Series(floors.median(), index=floors.index)
        fill = fill.fillna(floors.median())
        report["assumed_floors"]["all"] = float(floors.median())
        floors = floors.fillna(fill)
    return buildings.area * floors, report


# --------------------------------------------------------------------------- proxies


def _proxy(geometry, weight, sub_sector=None, feature_id=None, crs=None) -> gpd.GeoDataFrame:
    frame = gpd.GeoDataFrame({"weight": np.asarray(weight, dtype=float)}, geometry=np.asarray(geometry, dtype=object),
                             crs=crs)  # the shapes as they are: no Python list of a million of them
    frame["sub_sector"] = "" if sub_sector is None else np.asarray(sub_sector, dtype=object)
    frame["feature_id"] = np.arange(len(frame)) if feature_id is None else np.asarray(feature_id)
    return frame


def building_proxy(buildings: gpd.GeoDataFrame, floor_area: pd.Series, *, use_field: str = "use",
                   uses: tuple[str, ...] | None = None, id_field: str | None = None) -> gpd.GeoDataFrame:
    """Proxy features: buildings weighted by their floor area, labelled by use (the sub-sector).

    Parameters
    ----------
    buildings : GeoDataFrame of polygons
        Building footprints.
    floor_area : Series [m2]
        Floor area of each building (:func:`floor_area_m2`), indexed like `buildings`.
    use_field : str
        Field of the building use; its values label the features' sub-sectors.
    uses : tuple of str, optional
        Keep only buildings of these uses (default: every building).
    id_field : str, optional
        Field identifying the buildings in ``feature_id`` (default: their row numbers).

    Returns
    -------
    GeoDataFrame
        ``weight`` [m2 of floor area], ``sub_sector``, ``feature_id`` and the footprints, for
        :func:`downscale_inventory`.
    """
    keep = np.ones(len(buildings), bool) if uses is None else buildings[use_field].isin(uses).to_numpy()
    sub = buildings[use_field].to_numpy()[keep] if use_field in buildings else None
    ids = buildings[id_field].to_numpy()[keep] if id_field else np.flatnonzero(keep)
    return _proxy(buildings.geometry.values[keep], floor_area.to_numpy()[keep], sub, ids, buildings.crs)


def road_proxy(roads: gpd.GeoDataFrame, weights: pd.Series, *, class_field: str = "road_class",
               id_field: str | None = None) -> gpd.GeoDataFrame:
    r"""Proxy features: road centre lines weighted by length x class weight.

    Parameters
    ----------
    roads : GeoDataFrame of lines
        Road centre lines in a projected CRS (lengths in m).
    weights : Series [-]
        Relative traffic per metre of each road class
        (:func:`carbonmap.coefficients.road_class_weights`), indexed by class.
    class_field : str
        Field of the road class.
    id_field : str, optional
        Field identifying the roads in ``feature_id`` (default: their row numbers).

    Returns
    -------
    GeoDataFrame
        ``weight`` [m], ``sub_sector`` (empty), ``feature_id`` and the lines.

    Raises
    ------
    InputError
        Listing the road classes that have no weight.

    Notes
    -----
    :math:`w_j = L_j \, c_{k(j)}`, road length :math:`L_j` times the weight of its class.
    """
    classes = roads[class_field].astype(str)
    unknown = sorted(set(classes) - set(weights.index))
    if unknown:
        raise InputError(f"road classes without a weight: {', '.join(unknown)}.", field=class_field,
                         fix="add them to a road_class_weights override table.")
    weight = roads.length.to_numpy() * classes.map(weights).to_numpy()
    ids = roads[id_field].to_numpy() if id_field else None
    return _proxy(roads.geometry.values, weight, None, ids, roads.crs)


def land_proxy(parcels: gpd.GeoDataFrame, mask: np.ndarray, *, multiplier: np.ndarray | None = None,
               sub_sector: np.ndarray | None = None, id_field: str | None = None) -> gpd.GeoDataFrame:
    """Proxy features: the parcels selected by `mask`, weighted by their area.

    Parameters
    ----------
    parcels : GeoDataFrame of polygons
        Parcels in a projected CRS (areas in m2).
    mask : array of bool (n,)
        Which parcels are features of the proxy.
    multiplier : array (n,) [-], optional
        Factor on each parcel's area, e.g. a floor-area ratio.
    sub_sector : array of str (n,), optional
        A sub-sector label per parcel (e.g. the building use of its carbon category).
    id_field : str, optional
        Field identifying the parcels in ``feature_id`` (default: their row numbers).

    Returns
    -------
    GeoDataFrame
        ``weight`` [m2], ``sub_sector``, ``feature_id`` and the parcels' polygons.
    """
    mask = np.asarray(mask, bool)
    area = parcels.area.to_numpy()[mask]
    if multiplier is not None:
        area = area * np.asarray(multiplier, dtype=float)[mask]
    ids = parcels[id_field].to_numpy()[mask] if id_field else np.flatnonzero(mask)
    labels = None if sub_sector is None else np.asarray(sub_sector, dtype=object)[mask]
    return _proxy(parcels.geometry.values[mask], area, labels, ids, parcels.crs)


# --------------------------------------------------------------------------- downscaling


def downscale_inventory(
    inventory: pd.DataFrame,
    proxies: Mapping[str, gpd.GeoDataFrame],
    *,
    point_sources: gpd.GeoDataFrame | None = None,
    point_emissions_field: str = "co2_t_yr",
    point_sector_field: str = "sector",
) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    r"""Allocate each inventory row to the features of its sector's proxy, conserving totals.

    Parameters
    ----------
    inventory : DataFrame
        ``sector``, ``sub_sector``, ``co2_t_yr`` [t CO2/yr]; validated by :func:`read_inventory`.
    proxies : mapping of sector -> GeoDataFrame
        From :func:`building_proxy`, :func:`road_proxy` or :func:`land_proxy` (``weight``,
        ``sub_sector``, ``feature_id``). A row with a sub-sector uses only the proxy features
        labelled with it (e.g. buildings of that use) when the proxy carries sub-sector labels,
        else all of them; a row for the whole sector (sub-sector empty or ``all``) uses all of
        them, for every sector alike.
    point_sources : GeoDataFrame of points, optional
        Emitters with known emissions; each is placed at its location and subtracted from the
        inventory row of its sector (the row with an empty sub-sector, or the sector's only row).
    point_emissions_field : str
        Field of the point sources' emissions [t CO2/yr].
    point_sector_field : str
        Field of the point sources' inventory sector.

    Returns
    -------
    (allocations, report)
        `allocations`: one row per feature that received emissions: ``sector``,
        ``sub_sector``, ``co2_t_yr`` [t CO2/yr], ``source`` ('proxy' or 'point'), ``feature_id``
        and the feature's geometry. `report`: one row per inventory row with
        ``inventory_co2_t_yr``, ``point_co2_t_yr``, ``allocated_co2_t_yr``,
        ``unallocated_co2_t_yr`` [t CO2/yr], ``n_features``, ``note`` (why something was not
        allocated) and ``proxy_sub_sectors`` (the sub-sectors the sector's proxy has,
        comma-separated). :func:`check_allocation` turns it into an error or warnings.

    Raises
    ------
    InputError
        If point sources exceed their sector's inventory total, or name a sector the
        inventory does not have.

    Notes
    -----
    For an inventory row of total :math:`T_s`, point sources :math:`P_{s,p}` and proxy weights
    :math:`w_j`, feature j receives

    .. math:: E_j = \Big(T_s - \sum_p P_{s,p}\Big) \, \frac{w_j}{\sum_k w_k}

    exactly (:func:`allocate` gives the rounding remainder to the largest share), so totals are
    conserved per row, and splitting a feature in two splits its share (weights are additive).
    A row whose proxy has no features is reported as unallocated, never dropped.

    References
    ----------
    .. [1] Gurney K. R., et al. (2012). Quantification of fossil fuel CO2 emissions on the
       building/street scale for a large U.S. city. Environmental Science & Technology 46(21),
       12194-12202 (proxy-based downscaling of a city inventory to buildings and roads).
    """
    inventory = read_inventory(inventory)
    crs = next((p.crs for p in proxies.values() if p is not None), None)
    pieces, report = [], []
    points_by_row = _assign_points(inventory, point_sources, point_emissions_field, point_sector_field)
    for i, row in inventory.iterrows():
        total = float(row["co2_t_yr"])
        placed = points_by_row.get(i)
        point_total = math.fsum(placed[point_emissions_field]) if placed is not None else 0.0
        if point_total > total * (1 + 1e-12):
            raise InputError(
                f"point sources of sector {row['sector']!r} emit {point_total:,.0f} t CO2/yr, more than "
                f"the inventory's {total:,.0f}.", field=point_emissions_field,
                fix="check the point sources' emissions and sector, or the inventory.",
            )
        if placed is not None and len(placed):
            pieces.append(gpd.GeoDataFrame({
                "sector": row["sector"], "sub_sector": row["sub_sector"],
                "co2_t_yr": placed[point_emissions_field].to_numpy(dtype=float), "source": "point",
                "feature_id": placed.index.to_numpy(),
            }, geometry=placed.geometry.values, crs=placed.crs))
        remainder = max(total - point_total, 0.0)
        proxy = proxies.get(row["sector"])
        note = ""
        features = None
        if remainder > 0:
            if proxy is None:
                note = "no proxy for this sector"
            else:
                features = _proxy_features(proxy, row["sub_sector"])
                if len(features) == 0 or features["weight"].sum() <= 0:
                    of_sub_sector = f" of sub-sector {row['sub_sector']}" if row["sub_sector"] else ""
                    note = f"the proxy has no features{of_sub_sector}"
                    features = None
        allocated = 0.0
        if features is not None:
            shares = allocate(remainder, features["weight"].to_numpy())
            keep = shares > 0
            allocated = remainder
            pieces.append(gpd.GeoDataFrame({
                "sector": row["sector"], "sub_sector": row["sub_sector"], "co2_t_yr": shares[keep],
                "source": "proxy", "feature_id": features["feature_id"].to_numpy()[keep],
            }, geometry=features.geometry.values[keep], crs=features.crs))
        report.append({
            "sector": row["sector"], "sub_sector": row["sub_sector"], "inventory_co2_t_yr": total,
            "point_co2_t_yr": point_total, "allocated_co2_t_yr": allocated,
            "unallocated_co2_t_yr": remainder - allocated,
            "n_features": 0 if features is None else int((features["weight"] > 0).sum()), "note": note,
            "proxy_sub_sectors": "" if proxy is None else ", ".join(_sub_sectors(proxy)),
        })
    columns = ["sector", "sub_sector", "co2_t_yr", "source", "feature_id"]
    allocations = (gpd.GeoDataFrame(pd.concat(pieces, ignore_index=True), crs=crs) if pieces
                   else gpd.GeoDataFrame(columns=columns, geometry=[], crs=crs))
    return allocations, pd.DataFrame(report, columns=REPORT_COLUMNS)


#: Columns of the allocation report of :func:`downscale_inventory`.
REPORT_COLUMNS = ("sector", "sub_sector", "inventory_co2_t_yr", "point_co2_t_yr", "allocated_co2_t_yr",
                  "unallocated_co2_t_yr", "n_features", "note", "proxy_sub_sectors")


def _proxy_features(proxy: gpd.GeoDataFrame, sub_sector: str) -> gpd.GeoDataFrame:
    """The features of `proxy` an inventory row of `sub_sector` is allocated to: all of them for
    the whole sector (sub-sector ``""``, see :func:`read_inventory`) or when the proxy carries no
    sub-sector labels (roads, land); else those labelled `sub_sector` (buildings by use)."""
    labelled = (proxy["sub_sector"] != "").any()
    if not sub_sector or not labelled:
        return proxy
    return proxy[proxy["sub_sector"] == sub_sector]


def _sub_sectors(proxy: gpd.GeoDataFrame) -> list[str]:
    """The sub-sector labels of a proxy's features with weight, sorted."""
    labels = pd.unique(proxy.loc[proxy["weight"] > 0, "sub_sector"])
    return sorted({str(v) for v in labels if isinstance(v, str) and v})


def check_allocation(report: pd.DataFrame, *, allow_unallocated: bool = False,
                     path: str | os.PathLike | None = None) -> list[str]:
    """Refuse (or, when allowed, describe) the inventory rows that were not allocated.

    Parameters
    ----------
    report : DataFrame
        The allocation report of :func:`downscale_inventory` (or ``EmissionsAccount.report``,
        which also names each sector's ``proxy``); amounts in t CO2/yr.
    allow_unallocated : bool
        The project's ``[inventory] allow_unallocated``: accept unallocated emissions (they are
        then reported, never dropped silently).
    path : path-like, optional
        The inventory file, for the message.

    Returns
    -------
    list of str
        One line per unallocated row (empty when everything was allocated): the row, its
        t CO2/yr, the proxy without features and the sub-sectors the proxy has.

    Raises
    ------
    InputError
        When rows are unallocated and `allow_unallocated` is false, listing every one of them.
    """
    if len(report) == 0 or "unallocated_co2_t_yr" not in report:
        return []
    lines = []
    for _, row in report[report["unallocated_co2_t_yr"] > 0].iterrows():
        name = row["sector"] + (f"/{row['sub_sector']}" if row["sub_sector"] else "")
        proxy = str(row.get("proxy", "") or "")
        has = str(row.get("proxy_sub_sectors", "") or "")
        if row["note"] == "no proxy for this sector":
            reason = f"there is no proxy for the sector {row['sector']!r}"
            if row["sector"] not in PROXY_CHOICES:
                reason += f" (sectors with proxies: {', '.join(PROXY_CHOICES)})"
        else:
            which = f"the {proxy} proxy" if proxy else "the proxy"
            reason = f"{which} has no features" + (f" of sub-sector {row['sub_sector']!r}" if row["sub_sector"] else "")
            reason += f" (its sub-sectors: {has})" if has else ""
        lines.append(f"{name}: {row['unallocated_co2_t_yr']:,.0f} t CO2/yr not allocated: {reason}")
    if lines and not allow_unallocated:
        unallocated = float(report["unallocated_co2_t_yr"].sum())
        inventory = float(report["inventory_co2_t_yr"].sum())
        raise InputError(
            f"{len(lines)} inventory row(s), {unallocated:,.0f} t CO2/yr of {inventory:,.0f}, "
            f"cannot be allocated: {'; '.join(lines)}.", path=path, field="sub_sector",
            fix="fix the sub_sector names, add proxy features, or accept it: [inventory] allow_unallocated = true "
            "in the project file, --allow-unallocated on the command line.")
    return lines


def _assign_points(inventory, points, value_field, sector_field) -> dict[int, gpd.GeoDataFrame]:
    if points is None or len(points) == 0:
        return {}
    for column in (value_field, sector_field):
        if column not in points:
            raise MissingColumnError(f"point sources need a {column!r} column.", field=column,
                                     fix=f"add {column} (t CO2/yr and the inventory sector).")
    values = pd.to_numeric(points[value_field], errors="coerce")
    if values.isna().any() or (values < 0).any():
        raise InputError("point-source emissions must be non-negative numbers.", field=value_field,
                         fix="fill in every point source's co2_t_yr.")
    out = {}
    for sector, group in points.assign(**{value_field: values}).groupby(sector_field):
        rows = inventory.index[inventory["sector"] == sector]
        if len(rows) == 0:
            raise InputError(f"point sources name the sector {sector!r}, which the inventory does not have.",
                             field=sector_field, fix="use one of the inventory's sectors.")
        plain = [i for i in rows if inventory.at[i, "sub_sector"] == ""]
        out[plain[0] if plain else rows[0]] = group
    return out


# --------------------------------------------------------------------------- aggregation


def aggregate_to_zones(allocations: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, *,
                       by: str = "sector", value: str = "co2_t_yr") -> tuple[pd.DataFrame, pd.Series]:
    r"""Sum allocated emissions per zone and per sector, conserving the total.

    Parameters
    ----------
    allocations : GeoDataFrame
        Features with a `value` and a `by` column (e.g. the allocations of
        :func:`downscale_inventory`); points, lines or polygons, reprojected to the zones' CRS.
    zones : GeoDataFrame of polygons
        Planning units, parcels or any zones, in a projected CRS.
    by : str
        Column whose values become the table's columns (default the sector).
    value : str
        Column of the amounts [t CO2/yr, or any additive quantity].

    Returns
    -------
    (table, outside)
        `table`: zones x values of `by`, in the unit of `value`, indexed like `zones`;
        `outside`: per value of `by`, the amount of features (or parts) outside every zone.

    Notes
    -----
    A point goes to the first zone containing it; a line or polygon f is split in proportion to
    its length or area inside each zone z:

    .. math:: E_{z} = \sum_f E_f \, \frac{|f \cap z|}{|f|}

    (shares of a feature wholly inside the zones are renormalised to sum to exactly 1; a feature
    whose shares sum to more than 1, such as a line along the edge between two zones or a
    feature in zones that overlap, is shared in proportion, so it counts once).
    """
    if allocations.crs is not None and zones.crs is not None and allocations.crs != zones.crs:
        allocations = allocations.to_crs(zones.crs)
    labels = sorted(allocations[by].unique()) if len(allocations) else []
    table = np.zeros((len(zones), len(labels)))
    if len(allocations):
        zone_idx, feature_idx, fraction = _overlap_fractions(allocations.geometry.values, zones.geometry.values)
        label_idx = np.searchsorted(labels, allocations[by].to_numpy())
        amount = allocations[value].to_numpy()[feature_idx] * fraction
        np.add.at(table, (zone_idx, label_idx[feature_idx]), amount)
    frame = pd.DataFrame(table, index=zones.index, columns=labels)
    totals = allocations.groupby(by)[value].sum() if len(allocations) else pd.Series(dtype=float)
    outside = (totals - frame.sum()).clip(lower=0).reindex(labels).fillna(0.0)
    return frame, outside


def _overlap_fractions(features: np.ndarray, zones: np.ndarray):
    """(zone index, feature index, share of the feature in the zone) for overlapping pairs.

    The features are taken in runs of :data:`OVERLAY_FEATURES`, each a task of
    :func:`carbonmap.compute.ordered_map` (the run's threads, as GEOS releases the GIL, or a dask
    cluster's workers) that carries its features and the zones whose boxes they meet; the pairs
    come out in the order of one pass over all the features, so the results do not depend on how
    the runs were computed.
    """
    tree = shapely.STRtree(zones)
    runs = (_overlay_run(features[start:start + OVERLAY_FEATURES], zones, tree, start)
            for start in range(0, len(features), OVERLAY_FEATURES))
    pieces = []
    for piece in ordered_map(_run_fractions, runs):
        pieces.append(piece)
        release_free_memory()  # the runs' zone copies, freed in the threads' heaps
    if not pieces:
        return np.zeros(0, np.intp), np.zeros(0, np.intp), np.zeros(0)
    z_idx, f_idx, fraction = (np.concatenate(parts) for parts in zip(*pieces))
    return z_idx, f_idx, fraction


#: Features whose overlaps one task computes: bounds the memory of the zones it prepares.
OVERLAY_FEATURES = 100_000


@dataclass(frozen=True, eq=False)
class _OverlayRun:
    """A task of :func:`_overlap_fractions`: features ``start:start + len(features)`` of all of them,
    the zones their boxes meet (`zones`, numbered `met` among all the zones) and the pairs of boxes
    that meet (`pair_feature`, `pair_zone`: positions in `features` and `zones`), in the order of a
    tree query."""

    start: int
    features: np.ndarray
    zones: np.ndarray
    met: np.ndarray
    pair_feature: np.ndarray
    pair_zone: np.ndarray

    def __getstate__(self) -> dict:
        """Its state for a cluster's worker, the geometries as WKB (every coordinate kept): one
        vectorised call, seven times faster than pickling each geometry on its own."""
        return {**self.__dict__, "features": shapely.to_wkb(self.features), "zones": shapely.to_wkb(self.zones)}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, features=shapely.from_wkb(state["features"]),
                             zones=shapely.from_wkb(state["zones"]))


def _overlay_run(features: np.ndarray, zones: np.ndarray, tree: shapely.STRtree, start: int) -> _OverlayRun:
    """The run of `features` starting at `start`, with the zones of `tree` whose boxes they meet."""
    pair_feature, pair_zone = tree.query(features)
    met, pair_zone = np.unique(pair_zone, return_inverse=True)
    return _OverlayRun(start, features, zones[met], met, pair_feature, pair_zone)


def _run_fractions(run: _OverlayRun):
    """:func:`_overlap_fractions` of one run of features (their indices counted from 0 of all the
    features).

    The prepared predicates index their first argument, the zone, and keep that index as long
    as the geometry lives (5 GB on 1.28 million parcels); a zone can also be met by two runs at
    once. So each run prepares copies of its zones (WKB keeps every coordinate), freed with it,
    and the caller's geometries are never prepared.
    """
    features = run.features
    own = shapely.from_wkb(shapely.to_wkb(run.zones))
    shapely.prepare(own)
    meets = shapely.intersects(own[run.pair_zone], features[run.pair_feature])
    f_idx, z_local = run.pair_feature[meets], run.pair_zone[meets]
    z_idx = run.met[z_local]
    zones = run.zones
    types = shapely.get_type_id(features)
    is_point = np.isin(types, (0, 4))
    is_line = np.isin(types, (1, 2, 5))
    fraction = np.zeros(len(f_idx))
    pts = is_point[f_idx]
    if pts.any():  # a point on a shared edge counts once: its first zone
        first = np.zeros(len(f_idx), bool)
        _, first_pos = np.unique(f_idx[pts], return_index=True)
        first[np.flatnonzero(pts)[first_pos]] = True
        fraction[first] = 1.0
    rest = ~pts
    if rest.any():  # a feature inside one zone is wholly in it: only features across edges are cut
        shared = rest & (np.bincount(f_idx, minlength=len(features))[f_idx] > 1)
        # a polygon that only touches a zone has no area in it (a line along its edge has length)
        touching = shared & np.isin(types, (3, 6))[f_idx]
        touching[touching] = shapely.touches(own[z_local[touching]], features[f_idx[touching]])
        rest &= ~touching
        once = rest & (np.bincount(f_idx[rest], minlength=len(features))[f_idx] == 1)
        inside = np.zeros(len(f_idx), bool)
        inside[once] = shapely.covers(own[z_local[once]], features[f_idx[once]])  # covers(z, f) = f covered by z
        fraction[inside] = 1.0
        cut = rest & ~inside
        parts = shapely.intersection(features[f_idx[cut]], zones[z_local[cut]])
        measure = np.where(is_line[f_idx[cut]], shapely.length(parts), shapely.area(parts))
        whole = np.where(is_line, shapely.length(features), shapely.area(features))[f_idx[cut]]
        fraction[cut] = np.divide(measure, whole, out=np.zeros_like(measure), where=whole > 0)
    keep = fraction > 0
    z_idx, f_idx, fraction = z_idx[keep], f_idx[keep], fraction[keep]
    # Overlay areas carry float error (~1e-12): a feature wholly inside the zones gets
    # fractions summing to exactly 1, so totals are conserved exactly. A feature in more than
    # its whole (a line along the edge between two zones, or zones that overlap) is shared
    # between them in proportion: it counts once.
    total = np.bincount(f_idx, weights=fraction, minlength=len(features))
    whole = (np.abs(total - 1.0) < 1e-9) | (total > 1.0)
    fraction = np.where(whole[f_idx], fraction / np.where(whole, total, 1.0)[f_idx], fraction)
    return z_idx, f_idx + run.start, fraction


def grid_emissions(allocations: gpd.GeoDataFrame, grid: AnalysisGrid, *,
                   value_field: str = "co2_t_yr") -> np.ndarray:
    """Spread allocated emissions onto the cells of a grid [t CO2/yr per cell], conserving the total.

    Parameters
    ----------
    allocations : GeoDataFrame
        Points, lines or polygons with a `value_field`; reprojected to the grid's CRS.
    grid : AnalysisGrid
        The raster grid (:func:`carbonmap.grid.analysis_grid`).
    value_field : str
        Column of the emissions [t CO2/yr].

    Returns
    -------
    ndarray (grid.height, grid.width) of float64 [t CO2/yr per cell]

    Notes
    -----
    Points go to their cell. Lines are sampled every quarter cell and each sample carries an
    equal share. Polygons are spread evenly over the grid cells whose centres they contain;
    polygons smaller than a cell (no centre inside) go to the cell of a point on their surface.
    Points and line samples outside the grid are left out (compare ``result.sum()`` with the
    total); a polygon partly outside puts all its emissions on its cells inside.
    """
    out = np.zeros(grid.shape, dtype=np.float64)
    if len(allocations) == 0:
        return out
    frame = allocations.to_crs(grid.crs) if allocations.crs != grid.crs else allocations
    geoms = frame.geometry.values
    values = frame[value_field].to_numpy(dtype=float)
    types = shapely.get_type_id(geoms)
    points = np.isin(types, (0, 4))
    lines = np.isin(types, (1, 2, 5))
    polygons = np.isin(types, (3, 6))
    xs, ys, vs = [], [], []
    if points.any():
        p = shapely.get_coordinates(shapely.centroid(geoms[points]))
        xs.append(p[:, 0]), ys.append(p[:, 1]), vs.append(values[points])
    if lines.any():
        step = grid.resolution / 4
        length = shapely.length(geoms[lines])
        n = np.maximum(np.ceil(length / step).astype(int), 1)
        owner = np.repeat(np.flatnonzero(lines), n)
        k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
        distance = (k + 0.5) / np.repeat(n, n)
        pts = shapely.line_interpolate_point(geoms[owner], distance, normalized=True)
        c = shapely.get_coordinates(pts)
        xs.append(c[:, 0]), ys.append(c[:, 1]), vs.append(values[owner] / np.repeat(n, n))
    if polygons.any():
        index = np.flatnonzero(polygons)
        burnt = _may_hold_a_cell_centre(geoms[index], grid)
        small = index[~burnt]  # no cell centre inside: rasterize would give them no cell
        c = shapely.get_coordinates(shapely.point_on_surface(geoms[small]))
        xs.append(c[:, 0]), ys.append(c[:, 1]), vs.append(values[small])
        index = index[burnt]
        # one entry per distinct polygon (a parcel may receive several sectors' emissions)
        _, first, inverse = np.unique(shapely.to_wkb(geoms[index]), return_index=True, return_inverse=True)
        shapes = geoms[index][first]
        amounts = np.bincount(inverse, weights=values[index])
        labels = np.zeros(grid.shape, dtype="int32")
        for start in range(0, len(shapes), RASTERIZE_BATCH):  # later shapes burn over earlier ones, as in one call
            batch = slice(start, start + RASTERIZE_BATCH)
            numbers = np.arange(start + 1, start + 1 + len(shapes[batch]))
            rasterio.features.rasterize(zip(geojson_shapes(shapes[batch]), numbers), out=labels,
                                        transform=grid.transform)
        counts = np.bincount(labels.ravel(), minlength=len(shapes) + 1)[1:]
        covered = counts > 0
        per_cell = np.zeros(len(shapes) + 1)
        per_cell[1:][covered] = amounts[covered] / counts[covered]
        out += per_cell[labels]
        if (~covered).any():  # hidden under an overlapping polygon, or no centre after all
            c = shapely.get_coordinates(shapely.point_on_surface(shapes[~covered]))
            xs.append(c[:, 0]), ys.append(c[:, 1]), vs.append(amounts[~covered])
    if xs:
        x, y, v = np.concatenate(xs), np.concatenate(ys), np.concatenate(vs)
        cols, rows = ~grid.transform @ (x, y)
        cols, rows = np.floor(cols).astype(int), np.floor(rows).astype(int)
        inside = (rows >= 0) & (rows < grid.height) & (cols >= 0) & (cols < grid.width)
        np.add.at(out, (rows[inside], cols[inside]), v[inside])
    return out


#: Polygons handed to GDAL's rasterizer at once: bounds the memory of their GeoJSON copies.
RASTERIZE_BATCH = 100_000


def _may_hold_a_cell_centre(polygons: np.ndarray, grid: AnalysisGrid) -> np.ndarray:
    """Whether each polygon's bounding box holds the centre of a cell of the (north-up) grid:
    only such polygons can be burnt by a rasterizer that burns cells by their centres."""
    transform, slack = grid.transform, 1e-6  # [cells]: a box's edge on a centre counts, whatever the rounding
    if not (transform.b == transform.d == 0 and transform.a > 0 > transform.e):
        return np.ones(len(polygons), bool)  # not north-up: every polygon goes to the rasterizer
    minx, miny, maxx, maxy = shapely.bounds(polygons).T
    first_col, last_col = (minx - transform.c) / transform.a, (maxx - transform.c) / transform.a
    first_row, last_row = (maxy - transform.f) / transform.e, (miny - transform.f) / transform.e
    return ((np.ceil(first_col - 0.5 - slack) <= np.floor(last_col - 0.5 + slack))
            & (np.ceil(first_row - 0.5 - slack) <= np.floor(last_row - 0.5 + slack)))


def builtup_intensity(emissions_co2_t_yr: pd.Series, builtup_area_km2: pd.Series) -> pd.Series:
    """Emissions per km2 of built-up land [t CO2/km2/yr]; NaN where a unit has none.

    Parameters
    ----------
    emissions_co2_t_yr : Series [t CO2/yr]
        Sources per unit.
    builtup_area_km2 : Series [km2]
        Built-up land per unit (``EmissionsAccount.unit_builtup_km2``).

    Returns
    -------
    Series named ``builtup_intensity_co2_t_km2_yr`` (the run's summary column), indexed like
    `emissions_co2_t_yr`.

    Notes
    -----
    :math:`I_u = E_u / B_u`, the built-up carbon intensity planners compare between cities
    (t CO2 per km2 of built-up land).
    """
    area = builtup_area_km2.reindex(emissions_co2_t_yr.index)
    return (emissions_co2_t_yr / area.where(area > 0)).rename("builtup_intensity_co2_t_km2_yr")


# --------------------------------------------------------------------------- one account


#: Proxy choices per inventory sector; the first available is the default.
PROXY_CHOICES = {
    "buildings": ("floor_area", "parcel_area"),
    "transport": ("roads", "transport_land"),
    "industry": ("floor_area", "industrial_land"),
    "agriculture": ("cropland",),
}
#: Building use (the buildings sector's sub-sector) of each built-up carbon category.
USE_OF_CATEGORY = {"built_residential": "residential", "built_commercial": "commercial",
                   "built_public": "public", "built_industrial": "industrial"}


@dataclass
class EmissionsAccount:
    """Everything :func:`account_emissions` computes.

    parcels : the input parcels with ``carbon_category``, ``area_ha``, ``coef_id``,
        ``coef_emission_co2_t_yr``, ``coef_removal_co2_t_yr``, ``inventory_co2_t_yr``,
        ``source_co2_t_yr`` (what counts as the parcel's source) and ``source_co2_t_ha_yr``.
    allocations, report : from :func:`downscale_inventory` (empty without an inventory); the
        report also has ``proxy``, the proxy used for each row's sector (see
        :func:`check_allocation`).
    unit_sources : units x sectors [t CO2/yr] (``land_use`` for counted coefficient emissions).
    unit_sinks : removals per unit [t CO2/yr] (per-class coefficients).
    unit_builtup_km2 : built-up land per unit [km2].
    proxies : sector -> proxy used.
    notes : what was assumed or left out, for the run's metadata.
    """

    parcels: gpd.GeoDataFrame
    allocations: gpd.GeoDataFrame
    report: pd.DataFrame
    unit_sources: pd.DataFrame | None = None
    unit_sinks: pd.Series | None = None
    unit_builtup_km2: pd.Series | None = None
    proxies: dict[str, str] = field(default_factory=dict)
    notes: list[Text] = field(default_factory=list)


def account_emissions(
    parcels: gpd.GeoDataFrame,
    categories: pd.Series,
    coefficients: pd.DataFrame,
    *,
    codes: pd.Series | None = None,
    system: str | None = None,
    inventory: pd.DataFrame | None = None,
    buildings: gpd.GeoDataFrame | None = None,
    floor_area: pd.Series | None = None,
    roads: gpd.GeoDataFrame | None = None,
    road_weights: pd.Series | None = None,
    point_sources: gpd.GeoDataFrame | None = None,
    units: gpd.GeoDataFrame | None = None,
    proxies: Mapping[str, str] | None = None,
    use_field: str = "use",
    road_class_field: str = "road_class",
) -> EmissionsAccount:
    r"""Parcels' coefficient fluxes, the downscaled inventory, and per-unit sums, in one pass.

    Parameters
    ----------
    parcels : GeoDataFrame of polygons
        Land-use parcels in the analysis CRS (projected, metres).
    categories : Series of str
        Carbon category of each parcel (:func:`carbonmap.landuse.classify`).
    coefficients : DataFrame
        Per-hectare coefficients (:func:`carbonmap.coefficients.landuse_coefficients`).
    codes, system : optional
        Land-use codes of the parcels and their system, for class-specific coefficients
        (:func:`coefficient_fluxes`).
    inventory : DataFrame, optional
        The city inventory (:func:`read_inventory`) [t CO2/yr]; without it only coefficient
        fluxes are accounted.
    buildings : GeoDataFrame, optional
        Building footprints, for the ``floor_area`` proxy; with `floor_area` [m2]
        (:func:`floor_area_m2`).
    floor_area : Series [m2], optional
    roads : GeoDataFrame, optional
        Road centre lines, for the ``roads`` proxy; with `road_weights` [-]
        (:func:`carbonmap.coefficients.road_class_weights`).
    road_weights : Series [-], optional
    point_sources : GeoDataFrame of points, optional
        Large emitters with ``co2_t_yr`` [t CO2/yr] and ``sector``.
    units : GeoDataFrame, optional
        Planning units; with them the per-unit tables are filled.
    proxies : mapping of sector -> proxy name, optional
        Choices among :data:`PROXY_CHOICES` (default: the first available of each sector).
    use_field : str
        Field of the building use.
    road_class_field : str
        Field of the road class.

    Returns
    -------
    EmissionsAccount
        ``parcels`` with ``area_ha``, the coefficient fluxes, ``inventory_co2_t_yr``,
        ``source_co2_t_yr`` [t CO2/yr] and ``source_co2_t_ha_yr`` [t CO2/ha/yr]; the
        allocations and their report; with `units`, ``unit_sources`` (units x sectors
        [t CO2/yr]), ``unit_sinks`` [t CO2/yr] and ``unit_builtup_km2``, the built-up land of
        each unit [km2] (the run's summary column ``builtup_area_km2``); the proxies chosen and
        notes.

    Notes
    -----
    All layers must share one projected CRS (the pipeline's analysis CRS). A parcel's source is

    .. math:: E_i = E^{inv}_i + [\text{no agriculture sector}] \, E^{coef}_i

    the inventory allocated to it (:func:`downscale_inventory`, summed by
    :func:`aggregate_to_zones`) plus its coefficient emission (:func:`coefficient_fluxes`), which
    counts only when the inventory has no ``agriculture`` sector (otherwise the two would
    overlap; it is always reported). Per unit, sources, coefficient removals and built-up
    area are summed by :func:`aggregate_to_zones`.

    References
    ----------
    .. [1] Zhao R., Huang X., Peng B. (2012). Research on carbon emission intensity and carbon
       footprint of different industrial spaces in China. Acta Geographica Sinica 67(10).
    .. [2] Gurney K. R., et al. (2012). Quantification of fossil fuel CO2 emissions on the
       building/street scale for a large U.S. city. Environmental Science & Technology 46(21),
       12194-12202 (proxy-based downscaling of a city inventory to buildings and roads).
    """
    parcels = parcels.copy()
    categories = pd.Series(categories).reset_index(drop=True)
    parcels["carbon_category"] = categories.to_numpy()
    parcels["area_ha"] = parcels.area.to_numpy() / 1e4
    fluxes = coefficient_fluxes(categories, parcels["area_ha"].to_numpy(), coefficients, codes=codes, system=system)
    for column in fluxes:
        parcels[column] = fluxes[column].to_numpy()
    notes: list[Text] = []
    chosen: dict[str, str] = {}
    allocations = gpd.GeoDataFrame(columns=["sector", "sub_sector", "co2_t_yr", "source", "feature_id"],
                                   geometry=[], crs=parcels.crs)
    report = pd.DataFrame()
    sectors: set[str] = set()
    if inventory is not None:
        inventory = read_inventory(inventory)
        sectors = set(inventory["sector"])
        built = _proxies(parcels, categories, buildings, floor_area, roads, road_weights, sectors,
                         dict(proxies or {}), use_field, road_class_field, chosen)
        allocations, report = downscale_inventory(inventory, built, point_sources=point_sources)
        proxy = report["sector"].map(lambda sector: chosen.get(sector, ""))  # text, also when no sector has one
        report.insert(report.columns.get_loc("note"), "proxy", proxy)
        notes.extend(words("note.inventory_unallocated", line=line)
                     for line in check_allocation(report, allow_unallocated=True))
    counted_coef = parcels["coef_emission_co2_t_yr"].to_numpy()
    if "agriculture" in sectors and counted_coef.sum() > 0:
        notes.append(words("note.cropland_not_counted"))
        counted_coef = np.zeros(len(parcels))
    by_parcel, _ = aggregate_to_zones(allocations, parcels) if len(allocations) else (None, None)
    parcels["inventory_co2_t_yr"] = by_parcel.sum(axis=1).to_numpy() if by_parcel is not None else 0.0
    parcels["source_co2_t_yr"] = parcels["inventory_co2_t_yr"] + counted_coef
    parcels["source_co2_t_ha_yr"] = parcels["source_co2_t_yr"] / parcels["area_ha"].where(parcels["area_ha"] > 0)
    account = EmissionsAccount(parcels=parcels, allocations=allocations, report=report, proxies=chosen, notes=notes)
    if units is not None:
        _per_unit(account, units, counted_coef)
    return account


def _proxies(parcels, categories, buildings, floor_area, roads, road_weights, sectors, wanted,
             use_field, road_class_field, chosen) -> dict[str, gpd.GeoDataFrame]:
    available = {
        "floor_area": buildings is not None and floor_area is not None,
        "parcel_area": True, "roads": roads is not None and road_weights is not None,
        "transport_land": True, "industrial_land": True, "cropland": True,
    }
    out = {}
    for sector in sorted(sectors & set(PROXY_CHOICES)):
        choice = wanted.get(sector) or next(c for c in PROXY_CHOICES[sector] if available[c])
        if choice not in PROXY_CHOICES[sector]:
            raise InputError(f"unknown proxy {choice!r} for sector {sector}.", key=f"emissions.proxies.{sector}",
                             fix=f"use one of {', '.join(PROXY_CHOICES[sector])}.")
        if not available[choice]:
            raise InputError(f"the {choice} proxy for {sector} needs a layer the project does not have.",
                             key=f"emissions.proxies.{sector}",
                             fix="add the [buildings] or [roads] section, or choose another proxy.")
        chosen[sector] = choice
        use = categories.map(USE_OF_CATEGORY).to_numpy()
        if choice == "floor_area":
            uses = ("industrial",) if sector == "industry" else ("residential", "commercial", "public")
            out[sector] = building_proxy(buildings, floor_area, use_field=use_field, uses=uses)
        elif choice == "parcel_area":
            mask = np.isin(use, ["residential", "commercial", "public"])
            out[sector] = land_proxy(parcels, mask, sub_sector=use)
        elif choice == "roads":
            out[sector] = road_proxy(roads, road_weights, class_field=road_class_field)
        elif choice == "transport_land":
            out[sector] = land_proxy(parcels, (categories == "built_transport").to_numpy())
        elif choice == "industrial_land":
            out[sector] = land_proxy(parcels, (categories == "built_industrial").to_numpy())
        else:  # cropland
            out[sector] = land_proxy(parcels, categories.isin(["cropland", "orchard"]).to_numpy())
    return out


def _per_unit(account: EmissionsAccount, units: gpd.GeoDataFrame, counted_coef: np.ndarray) -> None:
    parcels = account.parcels
    sources, outside = aggregate_to_zones(account.allocations, units) if len(account.allocations) \
        else (pd.DataFrame(index=units.index), pd.Series(dtype=float))
    land = gpd.GeoDataFrame({
        "sector": "land_use", "co2_t_yr": counted_coef,
    }, geometry=parcels.geometry.values, crs=parcels.crs)
    land = land[land["co2_t_yr"] > 0]
    if len(land):
        by_unit, land_outside = aggregate_to_zones(land, units)
        sources = sources.join(by_unit)
        outside = pd.concat([outside, land_outside])
    sink_frame = gpd.GeoDataFrame({"sector": "sink", "co2_t_yr": parcels["coef_removal_co2_t_yr"].to_numpy()},
                                  geometry=parcels.geometry.values, crs=parcels.crs)
    sinks, sink_outside = aggregate_to_zones(sink_frame[sink_frame["co2_t_yr"] > 0], units)
    built = gpd.GeoDataFrame({"kind": "built", "area_km2": parcels.area.to_numpy() / 1e6},
                             geometry=parcels.geometry.values, crs=parcels.crs)
    built = built[parcels["carbon_category"].str.startswith(BUILT_PREFIX).to_numpy()]
    builtup, _ = aggregate_to_zones(built, units, by="kind", value="area_km2")
    account.unit_sources = sources.fillna(0.0)
    account.unit_sinks = sinks.sum(axis=1) if len(sinks.columns) else pd.Series(0.0, index=units.index)
    account.unit_builtup_km2 = builtup.sum(axis=1) if len(builtup.columns) else pd.Series(0.0, index=units.index)
    lost = float(outside.sum()) + float(sink_outside.sum())
    if lost > 1e-6 * max(float(sources.to_numpy().sum()), 1.0):
        account.notes.append(words("note.outside_units", amount=f"{lost:,.0f}"))


def gridded_sources(account: EmissionsAccount) -> gpd.GeoDataFrame:
    """Everything counted as a source, as features for :func:`grid_emissions`: the downscaled
    inventory plus the coefficient emissions counted on parcels [t CO2/yr]."""
    parcels = account.parcels
    land = (parcels["source_co2_t_yr"] - parcels["inventory_co2_t_yr"]).to_numpy()
    frames = [account.allocations[["co2_t_yr", "geometry"]]]
    if (land > 0).any():
        frames.append(gpd.GeoDataFrame({"co2_t_yr": land[land > 0]}, geometry=parcels.geometry.values[land > 0],
                                       crs=parcels.crs))
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=parcels.crs)
