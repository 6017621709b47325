"""Rooftop PV potential per building, vectorised for a million buildings.

For each building (footprint polygon in a projected CRS, with height or floors, use and roof
form):

- roof area A = footprint area [m2]; usable share u by use (``rooftop_pv_usable.csv``: NEA
  2021 county-wide pilot rules);
- flat roofs carry rows at the site's optimal tilt β* spaced by GB 50797 (ground-cover ratio
  g from latitude and tilt): module area = u A g; pitched roofs carry modules flush at the roof
  pitch facing the equator on the usable share: module area = u A / cos(pitch);
- capacity [kWp] = module area x module power density (``module_kwp_per_m2``);
- horizon angle θ of taller neighbours to the south (east through west): the largest
  atan((h_n - h) / d) over neighbours within reach, with d the distance between footprints
  (centroid distance less the equivalent radii, at least 1 m);
- annual plane-of-array irradiation = GHI x transposition ratio(β, θ) (:mod:`.solar`), with GHI
  sampled from a raster at the centroid, or pvlib clear-sky x the clear-sky index; the ratio
  comes from the hourly clear-sky year scaled to the clear-sky index (the table's, or the
  raster's median over the clear-sky GHI), split into beam and diffuse by the chosen
  decomposition (monthly Erbs by default) and transposed by the chosen model (Perez by default);
- yield [kWh/yr] = kWp x POA [kWh m-2] / 1 kW m-2 x performance ratio; CO2 avoided [t/yr] =
  yield x grid factor (``grid_emission_factors.csv``);
- economics: capital cost, simple payback = capex / (yield x price - O&M), and levelised cost
  LCOE = (capex + Σ O&M (1+r)^-t) / Σ yield (1-d)^(t-1) (1+r)^-t over the lifetime.

Every parameter comes from ``renewable_parameters.csv`` (with its source) unless overridden.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd
import geopandas as gpd
from scipy.spatial import cKDTree

from carbonmap.coefficients import grid_emission_factor, renewable_parameters, rooftop_pv_usable
from carbonmap.compute import ordered_map
from carbonmap.errors import InputError, MissingColumnError
from carbonmap.renewables.solar import (
    HORIZONS_DEG,
    Site,
    check_models,
    clear_sky_index_of,
    optimal_tilt,
    plane_of_array,
    row_gcr,
    transposition_table,
)

__all__ = ["rooftop_pv", "building_heights", "horizon_angles", "sample_raster", "site_of", "lcoe"]

#: How far neighbours are searched for shading [m] (a 100 m tower 250 m away subtends 22 degrees).
SHADING_REACH_M = 250.0
#: Side of the square partitions the shading is computed by [m] (each with its halo of `SHADING_REACH_M`).
SHADING_TILE_M = 5_000.0
#: Roofs above which a partition is split in four (the pairs within reach grow with the density).
SHADING_MAX_ROOFS = 20_000


def site_of(frame: gpd.GeoDataFrame, altitude_m: float = 0.0) -> Site:
    """The site of a set of features: the lon/lat of the centre of their bounds."""
    xmin, ymin, xmax, ymax = frame.total_bounds
    centre = gpd.GeoSeries.from_xy([(xmin + xmax) / 2], [(ymin + ymax) / 2], crs=frame.crs).to_crs("EPSG:4326")
    return Site(float(centre.y.iloc[0]), float(centre.x.iloc[0]), altitude_m)


def building_heights(frame: gpd.GeoDataFrame, *, height_field: str | None = None, floors_field: str | None = None,
                     storey_height_m: float = 3.0) -> np.ndarray:
    """Height of each building [m]: its height field, else floors x storey height.

    Parameters
    ----------
    frame : GeoDataFrame
        Building footprints.
    height_field : str, optional
        Field of the height [m].
    floors_field : str, optional
        Field of the floor count [floors], used where the height is missing or not positive.
    storey_height_m : float [m]
        Height of one storey.

    Returns
    -------
    ndarray (n,) [m]

    Raises
    ------
    InputError
        For buildings with neither a usable height nor a floor count.
    """
    height = np.full(len(frame), np.nan)
    if height_field:
        height = pd.to_numeric(frame[height_field], errors="coerce").to_numpy(dtype=float)
    if floors_field:
        floors = pd.to_numeric(frame[floors_field], errors="coerce").to_numpy(dtype=float) * storey_height_m
        height = np.where(np.isfinite(height) & (height > 0), height, floors)
    bad = ~(np.isfinite(height) & (height > 0))
    if bad.any():
        raise InputError(f"{int(bad.sum())} building(s) have no usable height or floor count.",
                         field=height_field or floors_field, fix="fill them, or drop those buildings.")
    return height


def horizon_angles(x: np.ndarray, y: np.ndarray, radius: np.ndarray, height: np.ndarray, *, latitude: float,
                   reach_m: float = SHADING_REACH_M, tile_m: float = SHADING_TILE_M) -> np.ndarray:
    r"""Horizon angle of each roof: the steepest taller neighbour on the equator side [degrees].

    Parameters
    ----------
    x, y : array (n,) [m]
        Roof centroids in a projected CRS.
    radius : array (n,) [m]
        Equivalent radius of each footprint, :math:`\sqrt{A / \pi}`.
    height : array (n,) [m]
        Building heights.
    latitude : float [degrees]
        Latitude of the site (the equator side is south in the north).
    reach_m : float [m]
        Neighbours farther than this (between centroids) are not searched.
    tile_m : float [m]
        Side of the square partitions the roofs are taken in, at least `reach_m`.

    Returns
    -------
    ndarray (n,) [degrees]
        0 where no taller neighbour lies on the equator side.

    Raises
    ------
    InputError
        For a partition side smaller than the reach.

    Notes
    -----
    Over the neighbours n within `reach_m` whose centroid lies towards the equator (south of the
    roof's in the north: a bearing strictly between 90 and 270 degrees; north of it in the south)
    and that are taller:

    .. math::

        \theta = \max_n \arctan\frac{h_n - h}{\max(1, d_n - r - r_n)}

    with :math:`d_n` the centroid distance and r the equivalent radii.

    The roofs are taken by square partitions of side `tile_m` (a square of more than
    :data:`SHADING_MAX_ROOFS` roofs split in four, down to the reach), each a task
    (:func:`~carbonmap.compute.ordered_map`) with the roofs within `reach_m` of its roofs (its
    halo), carrying those roofs: it runs on the run's threads or a dask cluster's workers. Every
    roof's neighbours within reach are in its partition or the halo, so the angles do not depend
    on the partitions; the pairs of roofs within reach of a partition and its halo are held while
    it runs (about 40 bytes a pair, a partition per task slot).
    """
    if tile_m < reach_m:
        raise InputError(f"the shading partitions' side ({tile_m:g} m) is smaller than the reach ({reach_m:g} m).",
                         fix="give a side of at least the reach.")
    roofs = [np.asarray(a, dtype=float) for a in (x, y, radius, height)]
    out = np.zeros(len(roofs[0]))
    partitions = _shading_partitions(roofs[0], roofs[1], reach_m=reach_m, tile_m=tile_m, max_roofs=SHADING_MAX_ROOFS)
    blocks = ((len(core), np.stack([values[np.concatenate([core, halo])] for values in roofs]))
              for core, halo in partitions)
    task = partial(_partition_horizons, equator_south=latitude >= 0, reach_m=reach_m)
    for (core, _), angles in zip(partitions, ordered_map(task, blocks)):
        out[core] = angles
    return out


def _shading_partitions(x: np.ndarray, y: np.ndarray, *, reach_m: float, tile_m: float,
                        max_roofs: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The roofs by squares of side `tile_m` [m] (one of more than `max_roofs` roofs split in four
    while its quarters are at least `reach_m` wide): for each square holding a centroid, its roofs
    (ascending) and the other roofs within `reach_m` of their bounding box and a metre more (its
    halo, a superset of their neighbours within reach)."""
    if len(x) == 0:
        return []
    left, bottom = x.min(), y.min()
    column = np.floor((x - left) / tile_m).astype(np.int64)
    row = np.floor((y - bottom) / tile_m).astype(np.int64)
    order = np.lexsort((row, column))
    keys, starts = np.unique(np.column_stack((column[order], row[order])), axis=0, return_index=True)
    squares = [(left + c * tile_m, bottom + r * tile_m, tile_m, order[a:b])
               for (c, r), a, b in zip(keys, starts, np.append(starts[1:], len(order)))]
    by_x = np.argsort(x, kind="stable")
    xs = x[by_x]
    partitions = []
    while squares:
        x0, y0, side, members = squares.pop()
        half = side / 2
        if len(members) > max_roofs and half >= reach_m:
            east, north = x[members] >= x0 + half, y[members] >= y0 + half
            quarters = [(x0 + e * half, y0 + n * half, half, members[(east == e) & (north == n)])
                        for e in (0, 1) for n in (0, 1)]
            squares.extend(quarter for quarter in quarters if len(quarter[3]))
            continue
        margin = reach_m + 1.0  # a metre more than the reach: rounding never leaves a neighbour out
        near = by_x[np.searchsorted(xs, x[members].min() - margin):np.searchsorted(xs, x[members].max() + margin,
                                                                                   "right")]
        near = near[(y[near] >= y[members].min() - margin) & (y[near] <= y[members].max() + margin)]
        partitions.append((np.sort(members), np.setdiff1d(near, members)))
    return partitions


def _partition_horizons(partition: tuple[int, np.ndarray], *, equator_south: bool, reach_m: float) -> np.ndarray:
    """The horizon angles [degrees] of one partition's roofs (:func:`horizon_angles`), from the
    pairs of its roofs and halo within `reach_m`.

    `partition`: the number of its own roofs and the (4, n) x, y, radius and height of its roofs
    followed by its halo's: a task of :func:`~carbonmap.compute.ordered_map` that carries its
    roofs, so it runs on the run's threads or a cluster's workers alike."""
    own, (x, y, radius, height) = partition
    pairs = cKDTree(np.column_stack((x, y))).query_pairs(reach_m, output_type="ndarray")
    first, second = pairs[:, 0], pairs[:, 1]
    rise = height[second] - height[first]
    low = np.where(rise > 0, first, second)  # the roof a taller neighbour may shade
    high = first + second - low
    rise = np.abs(rise)
    toward_equator = y[high] < y[low] if equator_south else y[high] > y[low]
    keep = (rise > 0) & (low < own) & toward_equator
    low, high, rise = low[keep], high[keep], rise[keep]
    gap = np.maximum(np.hypot(x[high] - x[low], y[high] - y[low]) - radius[low] - radius[high], 1.0)
    steepest = np.zeros(own)
    np.maximum.at(steepest, low, rise / gap)
    return np.degrees(np.arctan(steepest))


def sample_raster(raster, x: np.ndarray, y: np.ndarray, crs) -> np.ndarray:
    """Values of a raster at points; NaN where nodata or outside.

    Parameters
    ----------
    raster : path-like, rasterio dataset or 2-D array
        See :func:`carbonmap.io.open_raster`.
    x, y : array (n,)
        Point coordinates in `crs`.
    crs : CRS-like
        The points' CRS (reprojected to the raster's when they differ).

    Returns
    -------
    ndarray (n,) of float
        In the raster's unit.
    """
    import rasterio
    from pyproj import Transformer

    from carbonmap.io import read_raster

    data, src = read_raster(raster)
    if src.crs is None or src.crs != crs:
        x, y = Transformer.from_crs(crs, src.crs, always_xy=True).transform(x, y)
    rows, cols = rasterio.transform.rowcol(src.transform, x, y)
    rows, cols = np.asarray(rows), np.asarray(cols)
    inside = (rows >= 0) & (rows < data.shape[0]) & (cols >= 0) & (cols < data.shape[1])
    out = np.full(len(rows), np.nan)
    values = data[rows[inside], cols[inside]]
    out[inside] = np.ma.filled(values.astype(float), np.nan)
    return out


def lcoe(capex: np.ndarray, opex_per_yr: np.ndarray, first_year_kwh: np.ndarray, *, discount_rate: float,
         degradation: float, lifetime: int) -> np.ndarray:
    r"""Levelised cost of electricity [currency/kWh].

    Parameters
    ----------
    capex : array [currency]
        Capital cost.
    opex_per_yr : array [currency/yr]
        Operation and maintenance cost.
    first_year_kwh : array [kWh/yr]
        Yield in the first year.
    discount_rate : float [-]
        Annual discount rate r (e.g. 0.05).
    degradation : float [-]
        Annual loss of yield d (e.g. 0.005).
    lifetime : int [yr]
        Years of operation N.

    Returns
    -------
    ndarray [currency/kWh]

    Notes
    -----
    .. math::

        LCOE = \frac{I + \sum_{t=1}^{N} O \, (1+r)^{-t}}{\sum_{t=1}^{N} E_1 (1-d)^{t-1} (1+r)^{-t}}

    Examples
    --------
    >>> round(float(lcoe(1000.0, 0.0, 100.0, discount_rate=0.0, degradation=0.0, lifetime=10)), 6)
    1.0
    """
    t = np.arange(1, lifetime + 1)
    discount = (1 + discount_rate) ** -t
    energy = first_year_kwh * np.sum((1 - degradation) ** (t - 1) * discount)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (capex + opex_per_yr * discount.sum()) / energy


def rooftop_pv(buildings: gpd.GeoDataFrame, *, height_field: str | None = None, floors_field: str | None = None,
               use_field: str | None = None, roof_field: str | None = None, ghi=None, storey_height_m: float = 3.0,
               grid_factor: float | None = None, parameters: dict | None = None,
               usable: pd.Series | None = None, transposition: str = "perez",
               decomposition: str = "erbs_monthly") -> gpd.GeoDataFrame:
    r"""Rooftop PV potential of each building: capacity, yield, CO2 avoided and economics.

    Parameters
    ----------
    buildings : GeoDataFrame of polygons
        Footprints in a projected CRS.
    height_field : str, optional
        Field of the height [m].
    floors_field : str, optional
        Field of the floor count (x `storey_height_m`).
    use_field : str, optional
        Building use (residential, commercial, public, industrial; others get "other").
    roof_field : str, optional
        "flat" or "pitched" (default flat).
    ghi : path-like or raster, optional
        Annual GHI [kWh m-2 yr-1]; default pvlib clear-sky x the clear-sky index.
    storey_height_m : float [m]
        Height of one storey.
    grid_factor : float [t CO2/MWh], optional
        Grid emission factor; default China's national factor, latest year.
    parameters : dict, optional
        Overrides of ``renewable_parameters.csv`` (units in the table).
    usable : Series [-], optional
        Usable roof share by use (an ``other`` row for other uses); default
        ``rooftop_pv_usable.csv``.
    transposition : str
        Transposition model, one of :data:`~.solar.TRANSPOSITION_MODELS` (default Perez).
    decomposition : str
        How the all-sky year is split into beam and diffuse, one of
        :data:`~.solar.DECOMPOSITION_MODELS` (default ``"erbs_monthly"``,
        :func:`~.solar.all_sky_year`); its clear-sky index is the table's, or with `ghi` the
        raster's median under the buildings over the clear-sky year's GHI.

    Returns
    -------
    GeoDataFrame
        Same index and geometry, with ``roof_area_m2`` [m2], ``usable_share`` [-],
        ``mounting``, ``tilt_deg`` [degrees], ``module_area_m2`` [m2], ``capacity_kwp`` [kWp],
        ``height_m`` [m], ``horizon_deg`` [degrees], ``ghi_kwh_m2_yr`` and ``poa_kwh_m2_yr``
        [kWh m-2 yr-1], ``shading_loss_pct`` [%], ``yield_kwh_yr`` [kWh/yr],
        ``specific_yield_kwh_kwp`` [kWh/kWp/yr], ``co2_avoided_t_yr`` [t CO2/yr], ``capex_cny``
        [CNY], ``payback_yr`` [yr] and ``lcoe_cny_kwh`` [CNY/kWh].

    Raises
    ------
    InputError
        For footprints not in a projected CRS, no buildings, a GHI raster without values
        under them, or an unknown transposition or decomposition model.
    MissingColumnError
        For a field the buildings do not have.

    Notes
    -----
    With roof area A, usable share u, ground-cover ratio g (:func:`~.solar.row_gcr`) or roof
    pitch p, module power density k, horizon angle :math:`\theta` (:func:`horizon_angles`) and
    transposition ratio :math:`R(\beta, \theta)` (:func:`~.solar.transposition_table`):

    .. math::

        P = k \, u A \begin{cases} g & \text{flat} \\ 1 / \cos p & \text{pitched} \end{cases},
        \qquad E = P \, GHI \, R(\beta, \theta) \, PR, \qquad CO_2 = E \, f_{grid} / 1000

    payback = capex / (E x price - O&M) and LCOE by :func:`lcoe`.

    References
    ----------
    .. [1] National Energy Administration (2021). Notice on county-wide rooftop distributed PV
       pilots (整县屋顶分布式光伏开发试点).
    .. [2] GB 50797-2012. Code for design of photovoltaic power station, 6.8 (row spacing).
    .. [3] Holmgren W. F., Hansen C. W., Mikofski M. A. (2018). pvlib python. JOSS 3(29): 884.
    """
    if buildings.crs is None or not buildings.crs.is_projected:
        raise InputError("building footprints need a projected CRS (areas in m2).",
                         fix="reproject them (carbonmap.grid.ensure_projected) or set the CRS.")
    if len(buildings) == 0:
        raise InputError("there are no buildings.", fix="check the layer and its filter.")
    for field in (height_field, floors_field, use_field, roof_field):
        if field and field not in buildings.columns:
            raise MissingColumnError(f"no field {field!r} in the buildings.", field=field,
                                     fix=f"fields: {', '.join(map(str, buildings.columns))}.")
    check_models(transposition, decomposition)
    p = {**renewable_parameters(), **(parameters or {})}
    shares = rooftop_pv_usable() if usable is None else usable
    site = site_of(buildings)
    csi = p["clear_sky_index"]
    area = buildings.geometry.area.to_numpy()
    centroid = buildings.geometry.centroid
    x, y = centroid.x.to_numpy(), centroid.y.to_numpy()
    height = building_heights(buildings, height_field=height_field, floors_field=floors_field,
                              storey_height_m=storey_height_m)
    use = buildings[use_field].astype(str).str.lower().to_numpy() if use_field else np.full(len(area), "other")
    share = pd.Series(use).map(shares).fillna(shares["other"]).to_numpy()
    pitched = (buildings[roof_field].astype(str).str.lower().to_numpy() == "pitched") if roof_field else \
        np.zeros(len(area), dtype=bool)
    ghi_values = None
    if ghi is not None:
        ghi_values = sample_raster(ghi, x, y, buildings.crs)
        if np.isnan(ghi_values).all():
            raise InputError("the GHI raster has no value under any building.", path=str(ghi),
                             fix="check its extent and CRS.")
        ghi_values = np.where(np.isfinite(ghi_values), ghi_values, np.nanmedian(ghi_values))
        csi = clear_sky_index_of(site, float(np.median(ghi_values)))
    sky = {"clear_sky_index": csi, "albedo": p["albedo"], "transposition": transposition,
           "decomposition": decomposition}
    best_tilt = optimal_tilt(site, **sky)
    pitch = p["pitched_roof_tilt_deg"]
    gcr = row_gcr(site.latitude, best_tilt)
    module_area = np.where(pitched, share * area / np.cos(np.radians(pitch)), share * area * gcr)
    capacity = module_area * p["module_kwp_per_m2"]
    horizon = horizon_angles(x, y, np.sqrt(area / np.pi), height, latitude=site.latitude)
    ratios = {tilt: transposition_table(site, tilt, site.equator_azimuth, **sky) for tilt in (best_tilt, pitch)}
    tilt = np.where(pitched, pitch, best_tilt)
    ratio = np.where(pitched, np.interp(horizon, HORIZONS_DEG, ratios[pitch]),
                     np.interp(horizon, HORIZONS_DEG, ratios[best_tilt]))
    unshaded = np.where(pitched, ratios[pitch][0], ratios[best_tilt][0])
    if ghi_values is None:
        ghi_values = np.full(len(area), plane_of_array(site, 0, 180, **sky)[1])
    poa = ghi_values * ratio
    yield_kwh = capacity * poa * p["performance_ratio"]
    factor = grid_emission_factor() if grid_factor is None else grid_factor
    capex = capacity * p["rooftop_capex_cny_per_kwp"]
    opex = capacity * p["opex_cny_per_kwp_yr"]
    with np.errstate(divide="ignore", invalid="ignore"):
        net = yield_kwh * p["electricity_price_cny_per_kwh"] - opex
        payback = np.where(net > 0, capex / net, np.inf)
        specific = yield_kwh / capacity
    out = buildings.copy()
    out["roof_area_m2"] = area
    out["usable_share"] = share
    out["mounting"] = np.where(pitched, "flush", "tilted_rows")
    out["tilt_deg"] = tilt
    out["module_area_m2"] = module_area
    out["capacity_kwp"] = capacity
    out["height_m"] = height
    out["horizon_deg"] = horizon
    out["ghi_kwh_m2_yr"] = ghi_values
    out["poa_kwh_m2_yr"] = poa
    out["shading_loss_pct"] = 100 * (1 - ratio / unshaded)
    out["yield_kwh_yr"] = yield_kwh
    out["specific_yield_kwh_kwp"] = specific
    out["co2_avoided_t_yr"] = yield_kwh / 1000 * factor
    out["capex_cny"] = capex
    out["payback_yr"] = payback
    out["lcoe_cny_kwh"] = lcoe(capex, opex, yield_kwh, discount_rate=p["discount_rate_pct"] / 100,
                               degradation=p["degradation_pct_yr"] / 100, lifetime=int(p["lifetime_yr"]))
    return out
