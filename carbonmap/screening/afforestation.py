"""Candidate land for afforestation (宜林地), every criterion as a column, and a score.

Cells pass these rules in order; the first rule a cell fails is its reason (a raster and a
table of reasons, so that every excluded hectare is explained):

1. **Zones** (``afforestation_rules.csv``, ``constraint_type = zone``): protection zones where
   planting is excluded, e.g. permanent basic farmland, nature reserves, heritage zones.
2. **Land class** (``constraint_type = category``, shell patterns such as ``built_*``):
   ``eligible`` (barren and unused land), ``eligible_if_sparse`` (grassland whose fractional
   vegetation cover is below a threshold), or ``excluded`` (cropland, built-up land, water,
   wetlands, land already under woody cover). Vacated land (腾退用地: abandoned mining or
   industrial sites) given as polygons is eligible whatever its class.
3. **Sparse cover** for ``eligible_if_sparse`` land: fractional vegetation cover from NDVI by
   the dimidiate-pixel model, FVC = (NDVI - NDVI_soil) / (NDVI_veg - NDVI_soil), clipped to
   [0, 1] (Gutman & Ignatov 1998), must be below ``afforestation_sparse_grass_max_cover``.
   Without an NDVI raster such land is left out (its cover is unknown).
4. **Slope** [degrees, Horn 1981] at most ``afforestation_max_slope_deg``.
5. **Patch size**: 8-connected groups of the remaining cells of at least
   ``afforestation_min_patch_area_ha`` become candidate *sites*.

For each site: the site-preparation technique and unit cost by its mean slope
(``afforestation_site_preparation.csv``); the vegetation its mean annual precipitation
supports (trees at or above ``afforestation_tree_min_precipitation_mm``, shrubs above
``afforestation_shrub_min_precipitation_mm``, else grass: 以水定绿); the CO2 its stand takes
up over the horizon (:mod:`carbonmap.screening.growth`); and its *connectivity gain*, the
increase in PC of the ecological network when the site's new habitat joins it
(:func:`carbonmap.landscape.connectivity.pc_gain`; cells already counted as ecological land
add no habitat). The score (:mod:`carbonmap.screening.score`) weighs sequestration (higher),
connectivity gain (higher) and cost per t CO2 (lower).

Eligibility for carbon credits (:func:`apply_eligibility`) is a second, optional rule set applied
after the technical rules to the candidate cells (``afforestation_eligibility.csv``; e.g.
``ccer_2023``, China's 2023 afforestation methodology CCER-14-001-V01): a candidate cell that
fails one of its rules gets that rule's reason in the same reason raster and table, and what
remains is *creditable*. Each site then has both its technically suitable area and its
creditable area. Rules that rasters cannot show (tenure, planned afforestation land) are
reported as conditions to check, never passed silently.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import ndimage

from carbonmap.errors import InputError
from carbonmap.landscape.connectivity import cross_distances, patch_distances, pc_gain
from carbonmap.screening.growth import sequestration_t_co2_ha
from carbonmap.screening.score import weighted_score

__all__ = ["Habitat", "AfforestationResult", "afforestation_sites", "sites_from_rasters", "CANDIDATE",
           "fractional_cover", "EarlierLandcover", "apply_eligibility", "ELIGIBILITY_RULE_SETS"]

#: The eligibility rule sets carbonmap ships (``eligibility`` of ``afforestation_eligibility.csv``).
ELIGIBILITY_RULE_SETS = ("ccer_2023",)

#: MSPA values that are not habitat: background, internal background, missing (GuidosToolbox).
_MSPA_NOT_HABITAT = (0, 100, 129)

#: Value of candidate-site cells in the reason raster (0 = no data; other values: reasons).
CANDIDATE = 1


@dataclass
class Habitat:
    """The ecological network's habitat, for connectivity gains (areas in ha, distances in m).

    labels : (H, W) core-area labels (0 = none); ids : the cores' labels; areas_ha : their areas;
    distances : (n, n) edge-to-edge distances between them; landscape_ha : A_L of PC;
    probability : (p0, d0) of the dispersal kernel; existing : (H, W) bool, land already
    counted as habitat (planting it adds none).
    """

    labels: np.ndarray
    ids: np.ndarray
    areas_ha: np.ndarray
    distances: np.ndarray
    landscape_ha: float
    probability: tuple[float, float]
    existing: np.ndarray

    @classmethod
    def from_network(cls, result, settings, resolution: float) -> Habitat:
        """From a :class:`~carbonmap.landscape.network.NetworkResult` and its settings; the
        existing habitat is the MSPA foreground (every class but background and missing)."""
        ids = result.cores["core_id"].to_numpy()
        existing = ~np.isin(result.mspa, _MSPA_NOT_HABITAT)
        return cls(result.core_labels, ids, result.cores["area_ha"].to_numpy(),
                   patch_distances(result.core_labels, ids, resolution), float(result.indices["landscape_ha"]),
                   (settings.dispersal_probability, settings.dispersal_distance_m), existing)


@dataclass
class AfforestationResult:
    """Sites (polygons, ranked), the reason raster and its legend, and what scenarios need."""

    sites: gpd.GeoDataFrame
    reasons: np.ndarray  # uint8: 0 no data, 1 candidate site, >1 the first rule failed
    reason_table: pd.DataFrame  # code, reason, area_ha
    site_labels: np.ndarray  # (H, W) site ids (0 = none)
    habitat: Habitat | None
    core_site_distances: np.ndarray | None  # (n cores, n sites) [m]; column i: site id i + 1
    notes: list[str]
    resolution: float  # cell size [m]
    creditable: np.ndarray | None = None  # (H, W) bool: candidate cells that pass the eligibility rules
    eligibility: pd.DataFrame | None = None  # the eligibility rules: status and area each excluded
    eligibility_name: str | None = None  # the rule set applied (e.g. "ccer_2023")


@dataclass
class EarlierLandcover:
    """An earlier land cover on the same grid: carbon-category index per cell (-1 no data), its
    legend and its year."""

    categories: np.ndarray
    legend: list[str]
    year: int


def fractional_cover(ndvi, *, ndvi_soil: float, ndvi_vegetation: float) -> np.ndarray:
    r"""Fractional vegetation cover from NDVI by the dimidiate-pixel model [-].

    Parameters
    ----------
    ndvi : array [-]
        NDVI of each cell.
    ndvi_soil : float [-]
        NDVI of bare soil (``ndvi_soil`` of ``screening_parameters.csv``).
    ndvi_vegetation : float [-]
        NDVI of full vegetation cover (``ndvi_vegetation``).

    Returns
    -------
    ndarray [-]
        In [0, 1].

    Notes
    -----
    .. math:: FVC = \mathrm{clip}\left(\frac{NDVI - NDVI_{soil}}{NDVI_{veg} - NDVI_{soil}}, 0, 1\right)

    References
    ----------
    .. [1] Gutman G., Ignatov A. (1998). The derivation of the green vegetation fraction from
       NOAA/AVHRR data for use in numerical weather prediction models. International Journal of
       Remote Sensing 19: 1533-1543.

    Examples
    --------
    >>> fractional_cover(np.array([0.0, 0.45, 0.9]), ndvi_soil=0.05, ndvi_vegetation=0.85).round(2).tolist()
    [0.0, 0.5, 1.0]
    """
    return np.clip((np.asarray(ndvi, dtype=float) - ndvi_soil) / (ndvi_vegetation - ndvi_soil), 0.0, 1.0)


def _category_outcomes(legend: list[str], rules: pd.DataFrame) -> list[tuple[str, str]]:
    """(outcome, reason) of each carbon category: the first matching category rule."""
    rows = rules[rules["constraint_type"] == "category"]
    out = []
    for category in legend:
        match = next(((r.outcome, r.reason) for r in rows.itertuples() if fnmatch.fnmatchcase(category, r.constraint)),
                     ("excluded", f"{category}: no afforestation rule for this land class"))
        out.append(match)
    return out


def afforestation_sites(categories: np.ndarray, legend: list[str], resolution: float, transform, crs, *,
                        rules: pd.DataFrame, parameters: dict[str, float], site_preparation: pd.DataFrame,
                        growth: pd.DataFrame, tree_type: str, units: np.ndarray | None = None,
                        slope_deg: np.ndarray | None = None, precipitation_mm: np.ndarray | None = None,
                        ndvi: np.ndarray | None = None, zones: dict[str, np.ndarray] | None = None,
                        vacated: np.ndarray | None = None, habitat: Habitat | None = None) -> AfforestationResult:
    r"""Candidate afforestation sites with every criterion, the score and the rank (module docstring).

    Parameters
    ----------
    categories : array (H, W) of int
        Carbon-category index of each cell into `legend` (-1 no data;
        :func:`carbonmap.landuse.classify_raster`).
    legend : list of str
        Carbon category of each index.
    resolution : float [m]
        Cell size (square cells).
    transform : affine.Affine
        The grid's transform.
    crs : CRS-like
        The grid's CRS (projected).
    rules : DataFrame
        ``afforestation_rules`` (:func:`carbonmap.coefficients.afforestation_rules`).
    parameters : dict
        ``screening_parameters`` (thresholds and weights; units in the table).
    site_preparation : DataFrame
        ``afforestation_site_preparation``: technique and cost [CNY/ha] by slope band [degrees].
    growth : DataFrame
        ``afforestation_growth``: growth parameters by vegetation type.
    tree_type : str
        Vegetation type planted where trees are possible (a row of `growth`).
    units : array (H, W) of int, optional
        Planning-unit index per cell (-1 outside); sites get the unit holding most of them.
    slope_deg : array (H, W) [degrees], optional
    precipitation_mm : array (H, W) [mm/yr], optional
    ndvi : array (H, W) [-], optional
    zones : dict of str -> array (H, W) of bool, optional
        Protection zones by name.
    vacated : array (H, W) of bool, optional
        Vacated land, eligible whatever its class.
    habitat : Habitat, optional
        The ecological network's habitat, for connectivity gains.

    Returns
    -------
    AfforestationResult
        ``sites``: one polygon per site, ranked, with ``area_ha`` [ha], ``slope_mean_deg``,
        ``precipitation_mm_yr``, ``vegetation_cover``, ``technique``, ``cost_cny`` [CNY],
        ``vegetation_type``, ``sequestration_t_co2`` [t CO2 over the horizon],
        ``sink_t_co2_yr`` [t CO2/yr], ``cost_cny_per_t_co2``, with a habitat
        ``connectivity_gain_pct`` [%], the ``score_*`` columns, ``score`` [-] and ``rank``;
        ``reasons`` (a raster of the first rule each cell fails) and its table. A run sums the
        sites' area and sink per planning unit into the summary columns ``afforestation_area_ha``
        and ``afforestation_sink_t_co2_yr``.

    Raises
    ------
    InputError
        For a tree type without growth parameters, or rasters not on the land-cover grid.

    Notes
    -----
    Cells pass the rules of the module docstring in order (zones, land class, sparse cover,
    slope, patch size). For a site of area a [ha], the stand's uptake over the horizon T
    (:func:`carbonmap.screening.growth.sequestration_t_co2_ha`) gives

    .. math::

        S = a \, CO_2(T), \qquad \bar s = S / T, \qquad c = \frac{a \, c_{ha}}{S}

    and the score weighs S (higher), the connectivity gain
    (:func:`carbonmap.landscape.connectivity.pc_gain`, higher) and c (lower) with
    :func:`carbonmap.screening.score.weighted_score`.

    References
    ----------
    .. [1] State Council General Office (2021). Guiding opinions on scientific greening
       (国办发〔2021〕19号).
    .. [2] Gutman G., Ignatov A. (1998). The derivation of the green vegetation fraction from
       NOAA/AVHRR data for use in numerical weather prediction models. International Journal of
       Remote Sensing 19: 1533-1543.
    .. [3] Cao S., et al. (2011). Excessive reliance on afforestation in China's arid and semi-arid
       regions. Earth-Science Reviews 104: 240-245.
    .. [4] GB/T 15776-2016. Technical regulations for afforestation (site preparation).
    .. [5] GB/T 26424-2010. Technical regulations for inventory for forest management planning
       and design (slope classes).
    .. [6] Saura S., Rubio L. (2010). A common currency for the different ways in which patches
       and links can contribute to habitat availability and connectivity in the landscape.
       Ecography 33: 523-537.
    """
    p = parameters
    if tree_type not in growth.index:
        raise InputError(f"no growth parameters for the tree type {tree_type!r}.", key="screening.tree_type",
                         fix=f"use one of {', '.join(growth.index)}.")
    shape = categories.shape
    for name, raster in (("slope", slope_deg), ("precipitation", precipitation_mm), ("NDVI", ndvi),
                         ("units", units), ("vacated land", vacated)):
        if raster is not None and raster.shape != shape:
            raise InputError(f"the {name} raster {raster.shape} is not on the land-cover grid {shape}.",
                             fix="align every raster to the analysis grid (carbonmap run does this).")
    cell_ha = resolution**2 / 1e4
    reasons = np.zeros(shape, dtype=np.uint8)
    open_ = categories >= 0  # cells not yet given a reason
    table: list[tuple[int, str]] = [(CANDIDATE, "candidate site")]
    notes = []

    def assign(mask, reason):
        nonlocal open_
        hit = open_ & mask
        code = next((c for c, r in table if r == reason), None)
        if code is None:
            code = len(table) + 1
            table.append((code, reason))
        reasons[hit] = code
        open_ = open_ & ~hit

    for row in rules[rules["constraint_type"] == "zone"].itertuples():
        if row.outcome == "excluded" and zones and row.constraint in zones:
            assign(zones[row.constraint], row.reason)
    outcomes = _category_outcomes(legend, rules)
    vacated_mask = np.zeros(shape, dtype=bool) if vacated is None else vacated.astype(bool)
    sparse_rule = np.zeros(shape, dtype=bool)
    for index, (outcome, reason) in enumerate(outcomes):
        cells = categories == index
        if outcome == "excluded":
            assign(cells & ~vacated_mask, reason)
        elif outcome == "eligible_if_sparse":
            sparse_rule |= cells & ~vacated_mask
    if sparse_rule.any():
        if ndvi is None:
            assign(sparse_rule, "grassland: cover unknown without an NDVI raster")
            notes.append("no NDVI raster: grassland is left out of the afforestation candidates")
        else:
            cover = fractional_cover(ndvi, ndvi_soil=p["ndvi_soil"], ndvi_vegetation=p["ndvi_vegetation"])
            assign(sparse_rule & ~(cover < p["afforestation_sparse_grass_max_cover"]),
                   f"grassland with vegetation cover of {p['afforestation_sparse_grass_max_cover']:.0%} or more")
    if slope_deg is not None:
        assign(~(slope_deg <= p["afforestation_max_slope_deg"]),
               f"slope above {p['afforestation_max_slope_deg']:g} degrees (or unknown)")
    else:
        notes.append("no DEM: the slope rule is not applied and every site takes the flattest technique")
    eligible = open_.copy()
    labels, n = ndimage.label(eligible, structure=np.ones((3, 3), dtype=bool))
    counts = np.bincount(labels.ravel(), minlength=n + 1)
    big = counts * cell_ha >= p["afforestation_min_patch_area_ha"]
    big[0] = False
    assign(eligible & ~big[labels], f"patch smaller than {p['afforestation_min_patch_area_ha']:g} ha")
    reasons[open_] = CANDIDATE
    keep_ids = np.flatnonzero(big)
    relabel = np.zeros(n + 1, dtype=np.int32)
    relabel[keep_ids] = np.arange(1, len(keep_ids) + 1)
    site_labels = relabel[labels]
    del labels, eligible, open_  # whole-grid arrays no longer needed (a city cluster: 0.4 GB)
    reason_table = pd.DataFrame(table, columns=["code", "reason"])
    reason_table["rule_set"] = "technical"
    reason_table["area_ha"] = np.bincount(reasons.ravel(), minlength=len(table) + 1)[reason_table["code"]] * cell_ha
    sites = _site_table(site_labels, len(keep_ids), categories, legend, cell_ha, transform, crs, units=units,
                        slope_deg=slope_deg, precipitation_mm=precipitation_mm, ndvi=ndvi, p=p)
    if precipitation_mm is None:
        notes.append(f"no precipitation raster: every site is planted with {tree_type} (dryness rule not applied)")
    sites = _criteria(sites, p, site_preparation, growth, tree_type)
    distances = None
    if habitat is not None:
        new_cells = site_labels[~habitat.existing & (site_labels > 0)]  # site cells not yet habitat
        new_ha = (np.bincount(new_cells, minlength=len(keep_ids) + 1)[sites["site_id"].to_numpy(dtype=np.int64)]
                  * cell_ha)
        distances = cross_distances(habitat.labels, habitat.ids, site_labels, sites["site_id"].to_numpy(), resolution)
        sites["new_habitat_ha"] = new_ha
        sites["distance_to_habitat_m"] = distances.min(axis=0)
        sites["connectivity_gain_pct"] = pc_gain(habitat.areas_ha, habitat.distances, habitat.landscape_ha, new_ha,
                                                 distances, probability=habitat.probability)
    weights = {"sequestration_t_co2": p["afforestation_weight_sequestration"],
               "cost_cny_per_t_co2": p["afforestation_weight_cost"]}
    directions = {"sequestration_t_co2": True, "cost_cny_per_t_co2": False}
    if "connectivity_gain_pct" in sites:
        weights["connectivity_gain_pct"] = p["afforestation_weight_connectivity"]
        directions["connectivity_gain_pct"] = True
    else:
        notes.append("no ecological network: the afforestation score leaves out connectivity gain")
    sites = sites.join(weighted_score(sites[list(directions)], weights=weights, higher_is_better=directions))
    sites["rank"] = sites["score"].rank(ascending=False, method="first").astype(int)
    sites = sites.sort_values("rank")
    return AfforestationResult(sites, reasons, reason_table, site_labels, habitat, distances, notes, resolution)


def sites_from_rasters(landcover, system: str, *, tree_type: str, parameters: dict[str, float],
                       rules: pd.DataFrame, site_preparation: pd.DataFrame, growth: pd.DataFrame, dem=None,
                       precipitation=None, ndvi=None, zones: gpd.GeoDataFrame | None = None,
                       vacated: gpd.GeoDataFrame | None = None, units: gpd.GeoDataFrame | None = None,
                       habitat: Habitat | None = None, eligibility: str | None = None,
                       eligibility_rules: pd.DataFrame | None = None, earlier_landcover=None,
                       earlier_system: str | None = None, earlier_year: int | None = None,
                       roads: gpd.GeoDataFrame | None = None, landuse: gpd.GeoDataFrame | None = None,
                       project_start_year: int | None = None) -> AfforestationResult:
    """:func:`afforestation_sites` from rasters (files, datasets or arrays): what the run and the
    CLI call.

    Parameters
    ----------
    landcover : path, rasterio dataset or 2-D int array
        Land-cover codes of `system` (projected, square cells).
    system : str
        Its code system.
    tree_type, parameters, rules, site_preparation, growth :
        As for :func:`afforestation_sites`.
    dem : raster [m], optional
        Elevation on the land cover's grid (for the slope).
    precipitation : raster [mm/yr], optional
        Annual precipitation on the land cover's grid.
    ndvi : raster [-], optional
        NDVI on the land cover's grid.
    zones : GeoDataFrame, optional
        Protection zones with a ``zone`` column (the names the rules use).
    vacated : GeoDataFrame, optional
        Polygons of vacated land, eligible whatever their class.
    units : GeoDataFrame, optional
        Planning units (their row order gives the sites' ``unit``).
    habitat : Habitat, optional
        The ecological network's habitat on the same grid.
    eligibility : str, optional
        A rule set of `eligibility_rules` applied after the technical rules
        (:func:`apply_eligibility`), e.g. ``"ccer_2023"``.
    eligibility_rules : DataFrame, optional
        ``afforestation_eligibility`` (:func:`carbonmap.coefficients.afforestation_eligibility`);
        default the packaged table.
    earlier_landcover : path, rasterio dataset or 2-D int array, optional
        An earlier land cover on the land cover's grid, codes of `earlier_system`, of the year
        `earlier_year` (the "not forest for 3 years" rule).
    roads : GeoDataFrame of lines, optional
        Road centre lines (the roadside-greening rule).
    landuse : GeoDataFrame, optional
        Land-use parcels with a ``carbon_category`` column (the urban, village and industrial
        land rule).
    project_start_year : int, optional
        The year the project starts (the parcel-size rule: 667 m2 up to 2019, 400 m2 after).

    Returns
    -------
    AfforestationResult
        As :func:`afforestation_sites` (and :func:`apply_eligibility` with `eligibility`).

    Raises
    ------
    InputError
        For a land cover that is not projected with square cells, rasters not on its grid,
        zones without a ``zone`` column, an unknown eligibility rule set, or an earlier land
        cover without its code system and year.
    """
    from rasterio.features import rasterize

    from carbonmap.io import read_raster
    from carbonmap.terrain import slope_degrees
    from carbonmap.landuse import classify_raster

    codes, source = read_raster(landcover)
    transform, crs = source.transform, source.crs
    resolution = abs(transform.a)
    if crs is None or not crs.is_projected or not np.isclose(abs(transform.e), resolution):
        raise InputError("afforestation screening needs a projected land cover with square cells.",
                         path=source.name, fix="warp it to an equal-area CRS (carbonmap run does this).")
    categories, legend = classify_raster(codes, system, column="carbon_category", path=source.name)

    def on_grid(raster, name, dtype=None):
        """The raster's cells, NaN where nodata, as `dtype` (default: the narrowest float type
        holding its values exactly: float32 for float32, byte and 16-bit rasters)."""
        if raster is None:
            return None
        data, src = read_raster(raster)
        if data.shape != codes.shape:
            raise InputError(f"the {name} raster {data.shape} is not on the land cover's grid {codes.shape}.",
                             path=src.name, fix="align it to the land cover first (carbonmap run does this).")
        return np.ma.filled(data.astype(dtype or np.result_type(data.dtype, np.float32)), np.nan)

    def burn(frame, values, fill=0, dtype="uint8"):
        shapes = zip(frame.to_crs(crs).geometry, values)
        return rasterize(shapes, out_shape=codes.shape, transform=transform, fill=fill, dtype=dtype)

    slope = slope_degrees(on_grid(dem, "DEM", float), resolution) if dem is not None else None  # elevation not kept
    zone_masks = {}
    if zones is not None and len(zones):
        if "zone" not in zones.columns:
            raise InputError("the protection zones have no 'zone' column.", field="zone",
                             fix="name the zones (e.g. permanent_basic_farmland) in a 'zone' field.")
        zone_masks = {str(name): burn(part, np.ones(len(part))).astype(bool) for name, part in zones.groupby("zone")}
    vacated_mask = burn(vacated, np.ones(len(vacated))).astype(bool) if vacated is not None and len(vacated) else None
    result = afforestation_sites(
        categories, legend, resolution, transform, crs, rules=rules, parameters=parameters,
        site_preparation=site_preparation, growth=growth, tree_type=tree_type,
        units=burn(units, np.arange(len(units)), fill=-1, dtype="int32") if units is not None else None,
        slope_deg=slope,
        precipitation_mm=on_grid(precipitation, "precipitation"), ndvi=on_grid(ndvi, "NDVI"), zones=zone_masks,
        vacated=vacated_mask, habitat=habitat)
    if eligibility is None:
        return result
    earlier = None
    if earlier_landcover is not None:
        if earlier_system is None or earlier_year is None:
            raise InputError("an earlier land cover needs its code system and year.", key="earlier_landcover",
                             fix="give both (e.g. clcd and 2015).")
        earlier_codes, earlier_source = read_raster(earlier_landcover)
        if earlier_codes.shape != codes.shape:
            raise InputError(f"the earlier land cover {earlier_codes.shape} is not on the land cover's grid "
                             f"{codes.shape}.", path=earlier_source.name,
                             fix="align it to the land cover first (carbonmap run does this).")
        earlier = EarlierLandcover(*classify_raster(earlier_codes, earlier_system, column="carbon_category",
                                                    path=earlier_source.name), year=int(earlier_year))
    landuse_grid = None
    if landuse is not None and len(landuse):
        if "carbon_category" not in landuse.columns:
            raise InputError("the land-use parcels have no 'carbon_category' column.", field="carbon_category",
                             fix="classify them first (carbonmap.landuse) or leave them out.")
        names = sorted(landuse["carbon_category"].dropna().astype(str).unique())
        index = landuse["carbon_category"].astype(str).map({n: i for i, n in enumerate(names)}).fillna(-1)
        # the rules read the parcels only on candidate cells: burn just the parcels that reach a site
        landuse = landuse.to_crs(crs)
        near = _reaching(landuse.geometry.values, result.site_labels, transform)
        landuse_grid = (burn(landuse[near], index.to_numpy()[near], fill=-1, dtype="int32"), names)
    road_lines = roads.to_crs(crs) if roads is not None and len(roads) else None
    if eligibility_rules is None:
        from carbonmap.coefficients import afforestation_eligibility

        eligibility_rules = afforestation_eligibility()
    return apply_eligibility(result, eligibility_rules, eligibility=eligibility, categories=categories,
                             legend=legend, transform=transform, vacated=vacated_mask, earlier=earlier,
                             landuse=landuse_grid, roads=road_lines, project_start_year=project_start_year)


def _reaching(geometries: np.ndarray, labels: np.ndarray, transform) -> np.ndarray:
    """Which of `geometries` (in the grid's CRS) meet the bounding box of the cells of some label
    of `labels` (0 = none): a superset of those that burn a labelled cell, in their order (bool)."""
    import shapely

    boxes = [s for s in ndimage.find_objects(labels) if s is not None]
    out = np.zeros(len(geometries), dtype=bool)
    if not boxes or not len(geometries):
        return out
    rows = np.array([(b[0].start, b[0].stop, b[1].start, b[1].stop) for b in boxes], dtype=float)
    xs = transform.c + transform.a * rows[:, 2:4]
    ys = transform.f + transform.e * rows[:, 0:2]
    extents = shapely.box(xs.min(axis=1), ys.min(axis=1), xs.max(axis=1), ys.max(axis=1))
    out[np.unique(shapely.STRtree(extents).query(geometries)[0])] = True
    return out


def _start_applies(constraint: str, start_year: int | None) -> bool:
    """Whether a parcel-size rule's start-year condition (``start>=2020``, ``start<=2019`` or
    empty) holds; without a start year the project counts as new (starting now, after 2019)."""
    constraint = constraint.replace(" ", "")
    if not constraint:
        return True
    for op in (">=", "<="):
        if constraint.startswith("start" + op):
            year = int(constraint[len("start" + op):])
            if start_year is None:
                return op == ">="
            return start_year >= year if op == ">=" else start_year <= year
    raise InputError(f"unknown start-year condition {constraint!r}.", field="constraint",
                     fix="use start>=YEAR, start<=YEAR or leave it empty.")


def apply_eligibility(result: AfforestationResult, rules: pd.DataFrame, *, eligibility: str, categories: np.ndarray,
                      legend: list[str], transform=None, vacated: np.ndarray | None = None,
                      earlier: EarlierLandcover | None = None, landuse: tuple[np.ndarray, list[str]] | None = None,
                      roads: gpd.GeoDataFrame | None = None,
                      project_start_year: int | None = None) -> AfforestationResult:
    r"""The candidate cells that are creditable under a rule set, and the reason for the rest.

    Parameters
    ----------
    result : AfforestationResult
        The technical screening (:func:`afforestation_sites`); changed in place and returned.
    rules : DataFrame
        ``afforestation_eligibility`` (:func:`carbonmap.coefficients.afforestation_eligibility`).
    eligibility : str
        The rule set (``eligibility`` column), e.g. ``"ccer_2023"``.
    categories : array (H, W) of int
        Carbon-category index of each cell into `legend` (the current land cover).
    legend : list of str
        Carbon category of each index.
    transform : affine.Affine, optional
        The grid's transform (for `roads`).
    vacated : array (H, W) of bool, optional
        Vacated land (腾退用地).
    earlier : EarlierLandcover, optional
        An earlier land cover on the grid, with its year.
    landuse : (array (H, W) of int, list of str), optional
        The land-use parcels' carbon category per cell (-1 none) and its legend.
    roads : GeoDataFrame of lines, optional
        Road centre lines in the grid's CRS.
    project_start_year : int, optional
        The project's start year; default a new project (after 2019).

    Returns
    -------
    AfforestationResult
        `result` with ``creditable`` (H, W) bool; candidate cells failing a rule get a new
        reason code (``rule_set`` = the rule set, ``clause``, ``reason_zh`` in the reason
        table); ``eligibility``: every rule with its ``status`` (``applied``, ``not checked:
        ...`` or ``condition to check``) and the area it excluded [ha]; the sites gain
        ``ccer_area_ha`` [ha] and ``ccer_sink_t_co2_yr`` [t CO2/yr] (the creditable share of the
        site's sink). A run sums them per planning unit into the summary columns
        ``afforestation_ccer_area_ha`` and ``afforestation_ccer_sink_t_co2_yr``.

    Raises
    ------
    InputError
        For a rule set the table does not have.

    Notes
    -----
    Rules apply in table order to the candidate cells still creditable; the first rule a cell
    fails is its reason. ``category``: the cell's land-cover class matches the pattern;
    ``landuse``: its land-use parcel's class matches; ``vacated``: it lies in vacated land;
    ``corridor``: its centre lies within ``value`` m of a road centre line;
    ``vegetation_type``: its site's planted vegetation matches; ``earlier_category``: its class
    in the earlier land cover matches; ``min_parcel_m2``: its 8-connected group of creditable
    cells is smaller than ``value`` m\ :sup:`2` (when the start-year condition holds);
    ``condition``: not checked from rasters, reported. A site's creditable sink is
    :math:`ar s \, a_{credit} / a`.

    References
    ----------
    .. [1] Ministry of Ecology and Environment (2023). 温室气体自愿减排项目方法学 造林碳汇
       (CCER-14-001-V01), clause 2 (applicability).
    """
    rows = rules[rules["eligibility"] == eligibility]
    if rows.empty:
        raise InputError(f"unknown eligibility rule set {eligibility!r}.", key="screening.eligibility",
                         fix=f"use one of {', '.join(sorted(rules['eligibility'].unique()))}, or add its rules.")
    reasons, cell_ha = result.reasons, result.resolution**2 / 1e4
    open_ = reasons == CANDIDATE
    table = result.reason_table
    for column in ("clause", "reason_zh"):
        if column not in table:
            table[column] = ""
    added, status = [], []
    sites = result.sites
    for row in rows.itertuples():
        mask, note = None, "applied"
        if row.check == "category":
            mask = np.isin(categories, [i for i, c in enumerate(legend) if fnmatch.fnmatchcase(c, row.constraint)])
        elif row.check == "landuse":
            if landuse is None:
                note = "not checked: no land-use parcels"
            else:
                grid, names = landuse
                mask = np.isin(grid, [i for i, c in enumerate(names) if fnmatch.fnmatchcase(c, row.constraint)])
        elif row.check == "vacated":
            mask = vacated if vacated is not None else np.zeros(reasons.shape, dtype=bool)
        elif row.check == "corridor":
            if roads is None or transform is None:
                note = "not checked: no roads"
            else:
                import rasterio.features

                strips = roads.geometry.buffer(float(row.value))
                mask = rasterio.features.rasterize(((g, 1) for g in strips if not g.is_empty), out_shape=reasons.shape,
                                                   transform=transform, fill=0, dtype="uint8").astype(bool)
        elif row.check == "vegetation_type":
            ids = sites.loc[sites["vegetation_type"].map(lambda v: fnmatch.fnmatchcase(str(v), row.constraint)),
                            "site_id"].to_numpy() if len(sites) else []
            mask = np.isin(result.site_labels, ids)
        elif row.check == "earlier_category":
            if earlier is None:
                note = "not checked: no earlier land cover"
            else:
                mask = np.isin(earlier.categories,
                               [i for i, c in enumerate(earlier.legend) if fnmatch.fnmatchcase(c, row.constraint)])
        elif row.check == "min_parcel_m2":
            if not _start_applies(str(row.constraint), project_start_year):
                note = "not applicable: the project's start year"
            else:
                labels, n = ndimage.label(open_, structure=np.ones((3, 3), dtype=bool))
                small = np.bincount(labels.ravel(), minlength=n + 1) * cell_ha * 1e4 < row.value
                small[0] = False
                mask = small[labels]
        else:  # condition
            note = "condition to check"
        area = 0.0
        if mask is not None:
            hit = open_ & mask
            area = float(hit.sum()) * cell_ha
            reason = row.reason_en
            if row.check == "earlier_category":
                reason = f"{reason} (the earlier land cover is of {earlier.year})"
            code = int(max(table["code"].max(), max((a[0] for a in added), default=0))) + 1
            if hit.any():
                reasons[hit] = code
                added.append((code, reason, eligibility, row.clause, row.reason_zh))
                open_ &= ~hit
        status.append({"rule": row.rule, "clause": row.clause, "check": row.check, "status": note,
                       "excluded_ha": area, "reason_en": row.reason_en, "reason_zh": row.reason_zh,
                       "source": row.source, "verified": getattr(row, "verified", "")})
    if added:
        extra = pd.DataFrame(added, columns=["code", "reason", "rule_set", "clause", "reason_zh"])
        table = pd.concat([table, extra], ignore_index=True)
    table.loc[table["code"] == CANDIDATE, ["reason", "rule_set"]] = [f"candidate site, creditable ({eligibility})",
                                                                     eligibility]
    table["area_ha"] = np.bincount(reasons.ravel(), minlength=int(table["code"].max()) + 1)[table["code"]] * cell_ha
    result.reason_table = table[["code", "reason", "rule_set", "clause", "reason_zh", "area_ha"]]
    result.creditable = open_
    result.eligibility = pd.DataFrame(status)
    result.eligibility_name = eligibility
    if len(sites):
        ids = sites["site_id"].to_numpy()
        credit_ha = ndimage.sum(open_, result.site_labels, index=ids) * cell_ha
        sites["ccer_area_ha"] = credit_ha
        sites["ccer_sink_t_co2_yr"] = sites["sink_t_co2_yr"] * credit_ha / sites["area_ha"]
    else:
        sites["ccer_area_ha"] = pd.Series(dtype=float)
        sites["ccer_sink_t_co2_yr"] = pd.Series(dtype=float)
    unchecked = [s["rule"] for s in status if s["status"].startswith("not checked")]
    conditions = [s["rule"] for s in status if s["status"] == "condition to check"]
    if unchecked:
        result.notes.append(f"{eligibility}: rules not checked for want of data: {', '.join(unchecked)} "
                            "(the creditable area is an upper bound)")
    if conditions:
        result.notes.append(f"{eligibility}: conditions to check outside carbonmap: {', '.join(conditions)}")
    return result


def _site_table(site_labels, n_sites, categories, legend, cell_ha, transform, crs, *, units, slope_deg,
                precipitation_mm, ndvi, p) -> gpd.GeoDataFrame:
    """Polygons and per-site means of the site rasters."""
    import rasterio.features
    from shapely.geometry import shape

    ids = np.arange(1, n_sites + 1)
    shapes = rasterio.features.shapes(site_labels, mask=site_labels > 0, connectivity=8, transform=transform)
    parts = [(int(value), shape(geom)) for geom, value in shapes]
    frame = gpd.GeoDataFrame({"site_id": [v for v, _ in parts]}, geometry=[g for _, g in parts], crs=crs)
    frame = frame.dissolve(by="site_id", as_index=False) if frame["site_id"].duplicated().any() else frame
    frame = frame.set_index("site_id", drop=False).reindex(ids)
    frame["area_ha"] = np.bincount(site_labels.ravel(), minlength=n_sites + 1)[1:] * cell_ha
    frame["land_category"] = np.asarray(legend, dtype=object)[_majority(site_labels, categories, n_sites)] \
        if n_sites else []
    frame["unit"] = _majority(site_labels, units, n_sites) if units is not None else -1
    inside = site_labels > 0  # the per-site statistics read only the sites' cells (the same values)
    labels = site_labels[inside]
    for column, raster in (("slope_mean_deg", slope_deg), ("precipitation_mm_yr", precipitation_mm)):
        frame[column] = ndimage.mean(raster[inside], labels, ids) if raster is not None and n_sites else np.nan
    frame["slope_max_deg"] = ndimage.maximum(slope_deg[inside], labels, ids) if slope_deg is not None and n_sites \
        else np.nan
    frame["vegetation_cover"] = (ndimage.mean(fractional_cover(ndvi[inside], ndvi_soil=p["ndvi_soil"],
                                                               ndvi_vegetation=p["ndvi_vegetation"]),
                                              labels, ids) if ndvi is not None and n_sites else np.nan)
    return gpd.GeoDataFrame(frame.reset_index(drop=True), geometry="geometry", crs=crs)


def _majority(labels: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """The most frequent value of `values` (ints >= -1) under each label 1..n."""
    inside = labels > 0
    keys = labels[inside].astype(np.int64) * (int(values.max()) + 2) + (values[inside].astype(np.int64) + 1)
    unique, counts = np.unique(keys, return_counts=True)
    label_of, value_of = np.divmod(unique, int(values.max()) + 2)
    order = np.lexsort((-counts, label_of))  # per label, the largest count first
    first = np.unique(label_of[order], return_index=True)[1]
    out = np.full(n, -1, dtype=np.int64)
    out[label_of[order][first] - 1] = value_of[order][first] - 1
    return out


def _criteria(sites: gpd.GeoDataFrame, p, site_preparation: pd.DataFrame, growth: pd.DataFrame,
              tree_type: str) -> gpd.GeoDataFrame:
    """Technique and cost by slope, vegetation by precipitation, sequestration over the horizon."""
    slope = sites["slope_mean_deg"].fillna(0.0).to_numpy()
    band = np.searchsorted(site_preparation["min_slope_deg"].to_numpy(), slope, side="right") - 1
    band = np.clip(band, 0, len(site_preparation) - 1)
    sites["technique"] = site_preparation["technique"].to_numpy()[band]
    sites["cost_cny_per_ha"] = site_preparation["cost_cny_per_ha"].to_numpy()[band]
    sites["cost_cny"] = sites["cost_cny_per_ha"] * sites["area_ha"]
    rain = sites["precipitation_mm_yr"].to_numpy()
    vegetation = np.where(np.isnan(rain) | (rain >= p["afforestation_tree_min_precipitation_mm"]), tree_type,
                          np.where(rain >= p["afforestation_shrub_min_precipitation_mm"], "shrub", "grass"))
    sites["vegetation_type"] = vegetation
    horizon = p["afforestation_horizon_yr"]
    sites["horizon_yr"] = horizon
    per_ha = sequestration_t_co2_ha(vegetation, horizon, growth) if len(sites) else np.zeros(0)
    sites["sequestration_t_co2_ha"] = per_ha
    sites["sequestration_t_co2"] = per_ha * sites["area_ha"]
    sites["sink_t_co2_yr"] = sites["sequestration_t_co2"] / horizon
    with np.errstate(divide="ignore", invalid="ignore"):
        sites["cost_cny_per_t_co2"] = np.where(sites["sequestration_t_co2"] > 0,
                                               sites["cost_cny"] / sites["sequestration_t_co2"], np.inf)
    return sites
