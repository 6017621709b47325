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
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import ndimage

from carbonmap.errors import InputError
from carbonmap.grid import strips
from carbonmap.landscape.connectivity import cross_distances, patch_distances, pc_gain
from carbonmap.readable import translate, translated
from carbonmap.screening.growth import sequestration_t_co2_ha
from carbonmap.screening.score import weighted_score
from carbonmap.words import Text, words

__all__ = ["Habitat", "AfforestationResult", "afforestation_sites", "sites_in_strips", "SiteStrip",
           "sites_from_rasters", "CANDIDATE", "fractional_cover", "EarlierLandcover", "apply_eligibility",
           "eligibility_in_strips", "EligibilityStrip", "ELIGIBILITY_RULE_SETS"]

#: The eligibility rule sets carbonmap ships (``eligibility`` of ``afforestation_eligibility.csv``).
ELIGIBILITY_RULE_SETS = ("ccer_2023",)

#: MSPA values that are not habitat: background, internal background, missing (GuidosToolbox).
_MSPA_NOT_HABITAT = (0, 100, 129)

#: Value of candidate-site cells in the reason raster (0 = no data; other values: reasons).
CANDIDATE = 1

#: Cells per band of the site rules read from files [cells] (a band's inputs: about 250 MB).
STRIP_CELLS = 2**22


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
    notes: list[Text]
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
                        vacated: np.ndarray | None = None, habitat: Habitat | None = None,
                        block_pixels: int | None = None) -> AfforestationResult:
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
    block_pixels : int [cells], optional
        Cells per band of :func:`sites_in_strips` (default: the whole grid at once).

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
    shape = categories.shape
    for name, raster in (("slope", slope_deg), ("precipitation", precipitation_mm), ("NDVI", ndvi),
                         ("units", units), ("vacated land", vacated)):
        if raster is not None and raster.shape != shape:
            raise InputError(f"the {name} raster {raster.shape} is not on the land-cover grid {shape}.",
                             fix="align every raster to the analysis grid (carbonmap run does this).")
    zones = zones or {}

    def read(rows: slice) -> SiteStrip:
        slope, rain, greenness, unit = (None if a is None else a[rows]
                                        for a in (slope_deg, precipitation_mm, ndvi, units))
        return SiteStrip(categories[rows], slope, rain, greenness, unit,
                         {k: np.asarray(v[rows], dtype=bool) for k, v in zones.items()},
                         None if vacated is None else np.asarray(vacated[rows], dtype=bool))

    n_units = int(units.max()) + 1 if units is not None and units.size else 0
    return sites_in_strips(read, shape, legend, resolution, transform, crs, rules=rules, parameters=parameters,
                           site_preparation=site_preparation, growth=growth, tree_type=tree_type, n_units=n_units,
                           habitat=habitat, block_pixels=block_pixels or categories.size)


@dataclass
class SiteStrip:
    """The inputs of the site rules on a band of the grid's rows, each on the band's cells.

    categories : int16, the carbon-category index into the legend (-1 no data); slope_deg
    [degrees], precipitation_mm [mm/yr], ndvi [-]: NaN where unknown; units : the planning-unit
    number (-1 outside); zones : protection zones by name (bool); vacated : vacated land (bool).
    The optional ones are None when not given.
    """

    categories: np.ndarray
    slope_deg: np.ndarray | None = None
    precipitation_mm: np.ndarray | None = None
    ndvi: np.ndarray | None = None
    units: np.ndarray | None = None
    zones: dict[str, np.ndarray] = field(default_factory=dict)
    vacated: np.ndarray | None = None


def sites_in_strips(read: Callable[[slice], SiteStrip], shape: tuple[int, int], legend: list[str], resolution: float,
                    transform, crs, *, rules: pd.DataFrame, parameters: dict[str, float],
                    site_preparation: pd.DataFrame, growth: pd.DataFrame, tree_type: str, n_units: int = 0,
                    habitat: Habitat | None = None, block_pixels: int = STRIP_CELLS) -> AfforestationResult:
    """:func:`afforestation_sites` band by band: the grid's rows in bands of about `block_pixels`
    cells, each read by ``read(rows)`` twice (the rules, then the sites' sums).

    Parameters
    ----------
    read : callable (rows) -> SiteStrip
        The inputs on a slice of the grid's rows (every call for a slice gives the same).
    shape : (H, W)
        The grid's shape.
    legend : list of str
        The carbon category of each index of ``SiteStrip.categories``.
    n_units : int
        The number of planning units (``SiteStrip.units`` are below it).

    The other parameters and the result are those of :func:`afforestation_sites`, and so is
    every cell of the result; the sites' means are sums added band by band (equal to those of
    the whole grid to the last bits).

    Notes
    -----
    Every rule but the patch size depends on a cell alone (the slope on its 3 x 3 neighbours,
    which ``read`` gives). What stays whole-grid is one byte a cell (the reasons), the candidate
    cells' patches labelled at once (4 bytes a cell) and then the site ids (4 bytes a cell, which
    the scenarios read).
    """
    p = parameters
    if tree_type not in growth.index:
        raise InputError(f"no growth parameters for the tree type {tree_type!r}.", key="screening.tree_type",
                         fix=f"use one of {', '.join(growth.index)}.")
    if 0 in shape:
        raise InputError(f"the land cover has no cells (shape {shape}).", fix="check the raster's size.")
    bands = [slice(int(w.row_off), int(w.row_off + w.height)) for w in strips(*shape, block_pixels)]
    cell_ha = resolution**2 / 1e4
    reasons = np.zeros(shape, dtype=np.uint8)
    rules_of, sparse_cells, given = None, 0, None
    for rows in bands:
        strip = read(rows)
        if rules_of is None:
            rules_of = _TechnicalRules.of(legend, rules, p, zones=tuple(strip.zones), ndvi=strip.ndvi is not None,
                                          slope=strip.slope_deg is not None)
            given = {name for name in ("slope_deg", "precipitation_mm", "ndvi", "units")
                     if getattr(strip, name) is not None}  # the inputs read has
        reasons[rows], cells = rules_of.strip(strip, p)
        sparse_cells += cells
        del strip  # a band's inputs: not kept past its band
    codes = rules_of.codes
    notes = []
    if sparse_cells:
        codes.use(rules_of.sparse)
        if "ndvi" not in given:
            notes.append(words("note.no_ndvi"))
    if "slope_deg" not in given:
        notes.append(words("note.no_dem"))
    eligible = reasons == CANDIDATE
    labels, n = ndimage.label(eligible, structure=np.ones((3, 3), dtype=bool))
    big = _cells_of(labels, n + 1, bands) * cell_ha >= p["afforestation_min_patch_area_ha"]
    big[0] = False
    reasons[eligible & ~big[labels]] = rules_of.patch
    del eligible
    keep_ids = np.flatnonzero(big)
    relabel = np.zeros(n + 1, dtype=np.int32)
    relabel[keep_ids] = np.arange(1, len(keep_ids) + 1)
    for rows in bands:  # the site ids in place of the patch labels, a band at a time
        labels[rows] = relabel[labels[rows]]
    site_labels, n_sites = labels, len(keep_ids)
    table = [(code, reason) for code, _, reason in codes.renumber(reasons)]
    reason_table = pd.DataFrame(table, columns=["code", "reason"])
    reason_table["rule_set"] = "technical"
    reason_table["area_ha"] = _cells_of(reasons, len(table) + 1, bands)[reason_table["code"]] * cell_ha
    sums = _SiteSums(n_sites, len(legend), n_units)
    for rows in bands:
        if site_labels[rows].any():
            sums.add(site_labels[rows], read(rows), p)
    sites = _site_table(site_labels, sums, legend, cell_ha, transform, crs, units="units" in given)
    if "precipitation_mm" not in given:
        notes.append(words("note.no_precipitation", tree_type=translated(tree_type)))
    sites = _criteria(sites, p, site_preparation, growth, tree_type)
    distances = None
    if habitat is not None:
        new_cells = site_labels[~habitat.existing & (site_labels > 0)]  # site cells not yet habitat
        new_ha = (np.bincount(new_cells, minlength=n_sites + 1)[sites["site_id"].to_numpy(dtype=np.int64)]
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
        notes.append(words("note.no_network"))
    sites = sites.join(weighted_score(sites[list(directions)], weights=weights, higher_is_better=directions))
    sites["rank"] = sites["score"].rank(ascending=False, method="first").astype(int)
    sites = sites.sort_values("rank")
    return AfforestationResult(sites, reasons, reason_table, site_labels, habitat, distances, notes, resolution)


def _cells_of(values: np.ndarray, n: int, bands: list[slice]) -> np.ndarray:
    """The cells of each value 0..n-1 of `values` (ints), counted band by band (``np.bincount``
    of the whole grid would cast it to 8 bytes a cell)."""
    cells = np.zeros(n, dtype=np.int64)
    for rows in bands:
        cells += np.bincount(values[rows].ravel(), minlength=n)
    return cells


class _Codes:
    """Reason codes numbered as the rules are listed, from `first`; a code listed ``if_used``
    keeps its place only when :meth:`use` is called for it (the later codes move up)."""

    def __init__(self, reasons: list[str], *, first: int, merge_same: bool):
        self.first, self.merge_same, self.fixed = first, merge_same, len(reasons)
        self.reasons, self.optional, self.used = list(reasons), [False] * len(reasons), set()

    def code(self, reason: str, *, if_used: bool = False) -> int:
        """The code of `reason` (the same text the same code when `merge_same`, but for the
        `reasons` it started with, such as the candidate sites')."""
        if self.merge_same and reason in self.reasons[self.fixed:]:
            i = self.fixed + self.reasons[self.fixed:].index(reason)
            self.optional[i] = self.optional[i] and if_used
            return self.first + i
        self.reasons.append(reason)
        self.optional.append(if_used)
        return self.first + len(self.reasons) - 1

    def use(self, code: int) -> None:
        self.used.add(code)

    def renumber(self, reasons: np.ndarray) -> list[tuple[int, int, str]]:
        """The codes that stay, numbered again in `reasons` (in place); (new code, code, reason) of each."""
        kept = [i for i, optional in enumerate(self.optional) if not optional or self.first + i in self.used]
        lut = np.arange(256, dtype=np.uint8)
        lut[[self.first + i for i in kept]] = np.arange(self.first, self.first + len(kept))
        if len(kept) < len(self.reasons):
            np.take(lut, reasons, out=reasons)
        return [(self.first + k, self.first + i, self.reasons[i]) for k, i in enumerate(kept)]


@dataclass
class _TechnicalRules:
    """The technical rules as codes: the excluded zones, each category's outcome, the sparse
    grassland, slope and patch-size reasons (module docstring)."""

    codes: _Codes
    zones: list[tuple[str, int]]
    categories: list[tuple[str, int]]  # (outcome, code) by category index
    sparse: int
    slope: int | None
    patch: int

    @classmethod
    def of(cls, legend: list[str], rules: pd.DataFrame, p: dict[str, float], *, zones: tuple[str, ...], ndvi: bool,
           slope: bool) -> _TechnicalRules:
        codes = _Codes(["candidate site"], first=CANDIDATE, merge_same=True)
        excluded = [(row.constraint, codes.code(row.reason))
                    for row in rules[rules["constraint_type"] == "zone"].itertuples()
                    if row.outcome == "excluded" and row.constraint in zones]
        outcomes = [(outcome, codes.code(reason) if outcome == "excluded" else 0)
                    for outcome, reason in _category_outcomes(legend, rules)]
        cover = p["afforestation_sparse_grass_max_cover"]
        sparse = codes.code(f"grassland with vegetation cover of {cover:.0%} or more" if ndvi
                            else "grassland: cover unknown without an NDVI raster", if_used=True)
        steep = codes.code(f"slope above {p['afforestation_max_slope_deg']:g} degrees (or unknown)") if slope else None
        patch = codes.code(f"patch smaller than {p['afforestation_min_patch_area_ha']:g} ha")
        return cls(codes, excluded, outcomes, sparse, steep, patch)

    def strip(self, strip: SiteStrip, p: dict[str, float]) -> tuple[np.ndarray, int]:
        """A band's reasons (uint8; ``CANDIDATE`` for cells that pass every rule so far) and its
        cells under the sparse-grassland rule."""
        categories = strip.categories
        reasons = np.zeros(categories.shape, dtype=np.uint8)
        open_ = categories >= 0  # cells not yet given a reason

        def assign(mask, code):
            hit = open_ & mask
            reasons[hit] = code
            open_[hit] = False

        for name, code in self.zones:
            assign(strip.zones[name], code)
        not_vacated = ~strip.vacated if strip.vacated is not None else True
        sparse_rule = np.zeros(categories.shape, dtype=bool)
        for index, (outcome, code) in enumerate(self.categories):
            if outcome == "excluded":
                assign((categories == index) & not_vacated, code)
            elif outcome == "eligible_if_sparse":
                sparse_rule |= (categories == index) & not_vacated
        cells = int(np.count_nonzero(sparse_rule))
        if cells:
            if strip.ndvi is None:
                assign(sparse_rule, self.sparse)
            else:
                cover = fractional_cover(strip.ndvi, ndvi_soil=p["ndvi_soil"], ndvi_vegetation=p["ndvi_vegetation"])
                assign(sparse_rule & ~(cover < p["afforestation_sparse_grass_max_cover"]), self.sparse)
        if self.slope is not None:
            assign(~(strip.slope_deg <= p["afforestation_max_slope_deg"]), self.slope)
        reasons[open_] = CANDIDATE
        return reasons, cells


def sites_from_rasters(landcover, system: str, *, tree_type: str, parameters: dict[str, float],
                       rules: pd.DataFrame, site_preparation: pd.DataFrame, growth: pd.DataFrame, dem=None,
                       precipitation=None, ndvi=None, zones: gpd.GeoDataFrame | None = None,
                       vacated: gpd.GeoDataFrame | None = None, units: gpd.GeoDataFrame | None = None,
                       habitat: Habitat | None = None, eligibility: str | None = None,
                       eligibility_rules: pd.DataFrame | None = None, earlier_landcover=None,
                       earlier_system: str | None = None, earlier_year: int | None = None,
                       roads: gpd.GeoDataFrame | None = None, landuse: gpd.GeoDataFrame | None = None,
                       project_start_year: int | None = None, block_pixels: int = STRIP_CELLS) -> AfforestationResult:
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
    block_pixels : int [cells]
        Cells per band: the rasters are read and the polygons burnt band by band
        (:func:`sites_in_strips`, :func:`eligibility_in_strips`).

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
    from contextlib import ExitStack

    from carbonmap.io import open_raster

    with ExitStack() as stack:
        land = stack.enter_context(open_raster(landcover))
        transform, crs, shape = land.transform, land.crs, land.shape
        resolution = abs(transform.a)
        if crs is None or not crs.is_projected or not np.isclose(abs(transform.e), resolution):
            raise InputError("afforestation screening needs a projected land cover with square cells.",
                             path=land.name, fix="warp it to an equal-area CRS (carbonmap run does this).")
        block_rows = land.dataset.block_shapes[0][0] if land.dataset is not None else 1
        bands = [slice(int(w.row_off), int(w.row_off + w.height))
                 for w in strips(*shape, block_pixels, block_rows=block_rows)]
        legend = _code_legend(land, system, bands)
        rasters = {}
        for name, raster in (("DEM", dem), ("precipitation", precipitation), ("NDVI", ndvi)):
            if raster is not None:
                rasters[name] = src = stack.enter_context(open_raster(raster))
                if src.shape != shape:
                    raise InputError(f"the {name} raster {src.shape} is not on the land cover's grid {shape}.",
                                     path=src.name, fix="align it to the land cover first (carbonmap run does this).")
        if zones is not None and len(zones) and "zone" not in zones.columns:
            raise InputError("the protection zones have no 'zone' column.", field="zone",
                             fix="name the zones (e.g. permanent_basic_farmland) in a 'zone' field.")
        on_grid = partial(_Burner, crs=crs, transform=transform, width=shape[1])
        reader = _RasterSites(land, legend, rasters, resolution,
                              {str(name): on_grid(part) for name, part in zones.groupby("zone")}
                              if zones is not None and len(zones) else {},
                              on_grid(vacated) if vacated is not None and len(vacated) else None,
                              on_grid(units, np.arange(len(units)), fill=-1, dtype="int32") if units is not None
                              else None)
        result = sites_in_strips(reader.technical, shape, legend.legend, resolution, transform, crs, rules=rules,
                                 parameters=parameters, site_preparation=site_preparation, growth=growth,
                                 tree_type=tree_type, n_units=len(units) if units is not None else 0,
                                 habitat=habitat, block_pixels=bands[0].stop * shape[1])
        reader.check_read()
        if eligibility is None:
            return result
        if earlier_landcover is not None:
            if earlier_system is None or earlier_year is None:
                raise InputError("an earlier land cover needs its code system and year.", key="earlier_landcover",
                                 fix="give both (e.g. clcd and 2015).")
            reader.earlier = stack.enter_context(open_raster(earlier_landcover))
            if reader.earlier.shape != shape:
                raise InputError(f"the earlier land cover {reader.earlier.shape} is not on the land cover's grid "
                                 f"{shape}.", path=reader.earlier.name,
                                 fix="align it to the land cover first (carbonmap run does this).")
            reader.earlier_legend = _code_legend(reader.earlier, earlier_system, bands)
        landuse_names = None
        if landuse is not None and len(landuse):
            if "carbon_category" not in landuse.columns:
                raise InputError("the land-use parcels have no 'carbon_category' column.", field="carbon_category",
                                 fix="classify them first (carbonmap.landuse) or leave them out.")
            landuse_names = sorted(landuse["carbon_category"].dropna().astype(str).unique())
            index = landuse["carbon_category"].astype(str).map({n: i for i, n in enumerate(landuse_names)}).fillna(-1)
            # the rules read the parcels only on candidate cells: burn just the parcels that reach a site
            landuse = landuse.to_crs(crs)
            near = _reaching(landuse.geometry.values, result.site_labels, transform)
            reader.landuse = on_grid(landuse[near], index.to_numpy()[near], fill=-1, dtype="int32")
        if eligibility_rules is None:
            from carbonmap.coefficients import afforestation_eligibility

            eligibility_rules = afforestation_eligibility()
        return eligibility_in_strips(
            result, eligibility_rules, reader.eligibility, eligibility=eligibility, legend=legend.legend,
            transform=transform, vacated=reader.vacated is not None,
            earlier=(reader.earlier_legend.legend, int(earlier_year)) if reader.earlier is not None else None,
            landuse_names=landuse_names, roads=roads.to_crs(crs) if roads is not None and len(roads) else None,
            project_start_year=project_start_year, block_pixels=bands[0].stop * shape[1])


def _code_legend(src, system: str, bands: list[slice]):
    """The :class:`~carbonmap.landuse.CodeLegend` of a land cover's carbon categories, its codes
    counted band by band; a land cover with no valid cell is refused."""
    from rasterio.windows import Window

    from carbonmap.io import check_class_codes, nodata_everywhere_error
    from carbonmap.landuse import CodeLegend

    check_class_codes(src.dtype, name=src.name)
    present, counts = [], []
    for rows in bands:
        data = src.read(Window(0, rows.start, src.shape[1], rows.stop - rows.start))
        values, cells = np.unique(data.compressed(), return_counts=True)
        present.append(values)
        counts.append(cells)
    values, where = np.unique(np.concatenate(present), return_inverse=True)
    cells = np.bincount(where, weights=np.concatenate(counts)).astype(np.int64)
    if not cells.sum():
        raise nodata_everywhere_error(src)
    return CodeLegend.of(values, cells, system, column="carbon_category", path=src.name)


class _Burner:
    """Polygons (or lines) with values, burnt into bands of a grid's rows: only those that reach
    the band, in their order (a later one over an earlier one). A cell is burnt as burning the whole
    grid burns it, but where an edge passes exactly through its centre: the band's own transform
    may round that tie the other way."""

    def __init__(self, frame: gpd.GeoDataFrame, values=None, *, crs, transform, width: int, fill=0, dtype="uint8"):
        import shapely

        if crs is not None and frame.crs is not None:
            frame = frame.to_crs(crs)
        self.geometries = frame.geometry.to_numpy()
        self.values = np.ones(len(frame)) if values is None else np.asarray(values)
        self.tree = shapely.STRtree(self.geometries)
        self.transform, self.width, self.fill, self.dtype = transform, width, fill, dtype

    def rows(self, rows: slice) -> np.ndarray:
        import rasterio.features
        import shapely
        from rasterio.windows import Window, bounds
        from rasterio.windows import transform as window_transform

        window = Window(0, rows.start, self.width, rows.stop - rows.start)
        hits = np.sort(self.tree.query(shapely.box(*bounds(window, self.transform))))
        out_shape = (rows.stop - rows.start, self.width)
        if not len(hits):
            return np.full(out_shape, self.fill, dtype=self.dtype)
        return rasterio.features.rasterize(zip(self.geometries[hits], self.values[hits]), out_shape=out_shape,
                                           transform=window_transform(window, self.transform), fill=self.fill,
                                           dtype=self.dtype)


@dataclass(eq=False)
class _RasterSites:
    """The site and eligibility rules' inputs read from files band by band (opened by
    :func:`sites_from_rasters`): the land cover and its legend, the other rasters by name
    ("DEM", "precipitation", "NDVI"), the polygons burnt band by band."""

    land: Any
    legend: Any
    rasters: dict[str, Any]
    resolution: float
    zones: dict[str, _Burner]
    vacated: _Burner | None
    units: _Burner | None
    earlier: Any = None
    earlier_legend: Any = None
    landuse: _Burner | None = None
    valid: dict[str, int] = field(default_factory=dict)  # valid cells of each raster
    counted: set = field(default_factory=set)  # (raster, first row) of the bands whose bad values were counted

    def _window(self, rows: slice):
        from rasterio.windows import Window

        return Window(0, rows.start, self.land.shape[1], rows.stop - rows.start)

    def _cells(self, name: str, rows: slice, dtype=None, *, halo: bool = False) -> np.ndarray | None:
        """A raster's cells on `rows`, NaN where nodata, as `dtype` (default: the narrowest float
        type holding its values exactly: float32 for float32, byte and 16-bit rasters).

        The infinite or absurd values of a band are counted once (the raster's warning says how
        many there are), however often the band is read, and never as rows around (`halo`) a band."""
        src = self.rasters.get(name)
        if src is None:
            return None
        before = src.nonfinite_cells
        data = src.read(self._window(rows))
        if halo or (name, rows.start, rows.stop) in self.counted:
            src.nonfinite_cells = before
        else:
            self.counted.add((name, rows.start, rows.stop))
            self.valid[name] = self.valid.get(name, 0) + int(data.count())
        return np.ma.filled(data.astype(dtype or np.result_type(data.dtype, np.float32)), np.nan)

    def _slope(self, rows: slice) -> np.ndarray | None:
        """The slope [degrees] of `rows`, from the elevation with a row around them."""
        if "DEM" not in self.rasters:
            return None
        from carbonmap.terrain import slope_degrees

        top, bottom = max(0, rows.start - 1), min(self.land.shape[0], rows.stop + 1)
        parts = [self._cells("DEM", slice(top, rows.start), float, halo=True), self._cells("DEM", rows, float),
                 self._cells("DEM", slice(rows.stop, bottom), float, halo=True)]
        elevation = np.concatenate([part for part in parts if part.size])
        return slope_degrees(elevation, self.resolution)[rows.start - top:rows.stop - top]

    def technical(self, rows: slice) -> SiteStrip:
        return SiteStrip(self.legend.index(self.land.read(self._window(rows))), self._slope(rows),
                         self._cells("precipitation", rows), self._cells("NDVI", rows),
                         self.units.rows(rows) if self.units is not None else None,
                         {name: zone.rows(rows).astype(bool) for name, zone in self.zones.items()},
                         self.vacated.rows(rows).astype(bool) if self.vacated is not None else None)

    def eligibility(self, rows: slice) -> EligibilityStrip:
        earlier = None
        if self.earlier is not None:
            earlier = self.earlier_legend.index(self.earlier.read(self._window(rows)))
        return EligibilityStrip(self.legend.index(self.land.read(self._window(rows))),
                                self.vacated.rows(rows).astype(bool) if self.vacated is not None else None,
                                earlier, self.landuse.rows(rows) if self.landuse is not None else None)

    def check_read(self) -> None:
        """Refuse a raster with no valid cell (as :func:`carbonmap.io.read_raster` does)."""
        from carbonmap.io import nodata_everywhere_error

        for name, src in self.rasters.items():
            if not self.valid.get(name):
                raise nodata_everywhere_error(src)


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
                      roads: gpd.GeoDataFrame | None = None, project_start_year: int | None = None,
                      block_pixels: int | None = None) -> AfforestationResult:
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
    def read(rows: slice) -> EligibilityStrip:
        return EligibilityStrip(categories[rows], None if vacated is None else np.asarray(vacated[rows], dtype=bool),
                                None if earlier is None else earlier.categories[rows],
                                None if landuse is None else landuse[0][rows])

    return eligibility_in_strips(result, rules, read, eligibility=eligibility, legend=legend, transform=transform,
                                 vacated=vacated is not None,
                                 earlier=(earlier.legend, earlier.year) if earlier is not None else None,
                                 landuse_names=landuse[1] if landuse is not None else None, roads=roads,
                                 project_start_year=project_start_year, block_pixels=block_pixels or categories.size)


@dataclass
class EligibilityStrip:
    """What the eligibility rules read on a band of the grid's rows: the carbon-category index
    (-1 no data), vacated land (bool), the earlier land cover's category index and the land-use
    parcels' category index (-1 none); the optional ones None when not given."""

    categories: np.ndarray
    vacated: np.ndarray | None = None
    earlier: np.ndarray | None = None
    landuse: np.ndarray | None = None


def eligibility_in_strips(result: AfforestationResult, rules: pd.DataFrame, read: Callable[[slice], EligibilityStrip],
                          *, eligibility: str, legend: list[str], transform=None, vacated: bool = False,
                          earlier: tuple[list[str], int] | None = None, landuse_names: list[str] | None = None,
                          roads: gpd.GeoDataFrame | None = None, project_start_year: int | None = None,
                          block_pixels: int = STRIP_CELLS) -> AfforestationResult:
    """:func:`apply_eligibility` band by band: ``read(rows)`` gives the rules' inputs on a slice of
    the grid's rows; `earlier` is the earlier land cover's (legend, year), `landuse_names` the
    parcels' category of each index, `vacated` whether ``read`` gives vacated land.

    The rules of one cell are applied band by band (each band read once for a run of them); the
    parcel-size rule labels the creditable cells of the whole grid at once. The result equals
    that of :func:`apply_eligibility`.
    """
    table_rows = rules[rules["eligibility"] == eligibility]
    if table_rows.empty:
        raise InputError(f"unknown eligibility rule set {eligibility!r}.", key="screening.eligibility",
                         fix=f"use one of {', '.join(sorted(rules['eligibility'].unique()))}, or add its rules.")
    reasons, cell_ha, sites = result.reasons, result.resolution**2 / 1e4, result.sites
    bands = [slice(int(w.row_off), int(w.row_off + w.height)) for w in strips(*reasons.shape, block_pixels)]
    table = result.reason_table
    for column in ("clause", "reason_zh"):
        if column not in table:
            table[column] = ""
    codes = _Codes([], first=int(table["code"].max()) + 1, merge_same=False)
    steps, status, about = [], [], {}
    for row in table_rows.itertuples():
        mask, note = _eligibility_mask(row, sites, result.site_labels, legend=legend, vacated=vacated, earlier=earlier,
                                       landuse_names=landuse_names, roads=roads, transform=transform,
                                       width=reasons.shape[1], start_year=project_start_year)
        entry = {"rule": row.rule, "clause": row.clause, "check": row.check, "status": note, "excluded_ha": 0.0,
                 "reason_en": row.reason_en, "reason_zh": row.reason_zh, "source": row.source,
                 "verified": getattr(row, "verified", "")}
        status.append(entry)
        if mask is not None:
            reason, reason_zh = row.reason_en, row.reason_zh
            if row.check == "earlier_category":
                reason = f"{reason} (the earlier land cover is of {earlier[1]})"
                reason_zh = f"{reason_zh}（早期土地覆被为 {earlier[1]} 年）"
            code = codes.code(reason, if_used=True)
            about[code] = (eligibility, row.clause, reason_zh)
            steps.append((mask, code, entry, row.value))
    excluded = dict.fromkeys(about, 0)  # cells each rule excluded
    for parcels, run in itertools.groupby(steps, key=lambda step: isinstance(step[0], str)):
        run = list(run)
        if parcels:
            for _, code, entry, min_m2 in run:  # the parcel-size rule: the creditable cells' 8-connected groups
                open_ = reasons == CANDIDATE
                labels, n = ndimage.label(open_, structure=np.ones((3, 3), dtype=bool))
                small = _cells_of(labels, n + 1, bands) * cell_ha * 1e4 < min_m2
                small[0] = False
                excluded[code] += _excluded(reasons, small[labels], open_, code)
                del labels, open_
            continue
        for rows in bands:
            strip, band = read(rows), reasons[rows]
            open_ = band == CANDIDATE
            for mask, code, _, _ in run:
                excluded[code] += _excluded(band, mask(strip, rows), open_, code)
            del strip, open_
    for _, code, entry, _ in steps:
        entry["excluded_ha"] = float(excluded[code]) * cell_ha
        if excluded[code]:
            codes.use(code)
    numbered = codes.renumber(reasons)
    if numbered:
        extra = pd.DataFrame([(code, reason, *about[old]) for code, old, reason in numbered],
                             columns=["code", "reason", "rule_set", "clause", "reason_zh"])
        table = pd.concat([table, extra], ignore_index=True)
    table.loc[table["code"] == CANDIDATE, ["reason", "rule_set", "reason_zh"]] = [
        f"candidate site, creditable under the {translate(eligibility, 'en')}", eligibility,
        f"候选造林地，按 {translate(eligibility, 'zh')}可计入碳汇"]  # the rule set by its name (classes.csv)
    table["area_ha"] = _cells_of(reasons, int(table["code"].max()) + 1, bands)[table["code"]] * cell_ha
    result.reason_table = table[["code", "reason", "rule_set", "clause", "reason_zh", "area_ha"]]
    result.creditable = reasons == CANDIDATE
    result.eligibility = pd.DataFrame(status)
    result.eligibility_name = eligibility
    if len(sites):
        ids = sites["site_id"].to_numpy()
        credit_ha = np.bincount(result.site_labels[result.creditable], minlength=int(ids.max()) + 1)[ids] * cell_ha
        sites["ccer_area_ha"] = credit_ha
        sites["ccer_sink_t_co2_yr"] = sites["sink_t_co2_yr"] * credit_ha / sites["area_ha"]
    else:
        sites["ccer_area_ha"] = pd.Series(dtype=float)
        sites["ccer_sink_t_co2_yr"] = pd.Series(dtype=float)
    unchecked = [s for s in status if s["status"].startswith("not checked")]
    conditions = [s for s in status if s["status"] == "condition to check"]
    rule_set = translated(eligibility)
    if unchecked:
        result.notes.append(words("note.eligibility_unchecked", rules=rule_set, unchecked=_reasons(unchecked)))
    if conditions:
        result.notes.append(words("note.eligibility_conditions", rules=rule_set, conditions=_reasons(conditions)))
    return result


def _reasons(rules: list[dict]) -> Text:
    """What eligibility rules ask, as their table says it in each language, one after another."""
    english = [rule["reason_en"].removeprefix("to check: ") for rule in rules]
    chinese = [rule["reason_zh"] if isinstance(rule["reason_zh"], str) and rule["reason_zh"] else rule["reason_en"]
               for rule in rules]
    return Text("; ".join(english), "；".join(chinese))


def _excluded(reasons: np.ndarray, mask: np.ndarray, open_: np.ndarray, code: int) -> int:
    """Give the open cells under `mask` the reason `code` (in place, and close them in `open_`);
    how many."""
    hit = open_ & mask
    cells = int(np.count_nonzero(hit))
    if cells:
        reasons[hit] = code
        open_[hit] = False
    return cells


def _eligibility_mask(row, sites: gpd.GeoDataFrame, site_labels: np.ndarray, *, legend, vacated: bool, earlier,
                      landuse_names, roads, transform, width: int, start_year: int | None):
    """How a rule of the eligibility table is checked: (``mask(strip, rows)`` of the cells it
    excludes, "parcel" for the parcel-size rule, or None for a rule not checked here; its status)."""
    def matching(names):
        return [i for i, c in enumerate(names) if fnmatch.fnmatchcase(c, row.constraint)]

    if row.check == "category":
        classes = matching(legend)
        return (lambda strip, rows: np.isin(strip.categories, classes)), "applied"
    if row.check == "landuse":
        if landuse_names is None:
            return None, "not checked: no land-use parcels"
        classes = matching(landuse_names)
        return (lambda strip, rows: np.isin(strip.landuse, classes)), "applied"
    if row.check == "vacated":
        return (lambda strip, rows: strip.vacated if vacated else np.zeros(strip.categories.shape, dtype=bool)), \
            "applied"
    if row.check == "corridor":
        if roads is None or transform is None:
            return None, "not checked: no roads"
        buffered = roads.geometry.buffer(float(row.value))
        burner = _Burner(gpd.GeoDataFrame(geometry=buffered[~buffered.is_empty], crs=roads.crs), crs=roads.crs,
                         transform=transform, width=width)
        return (lambda strip, rows: burner.rows(rows).astype(bool)), "applied"
    if row.check == "vegetation_type":
        ids = sites.loc[sites["vegetation_type"].map(lambda v: fnmatch.fnmatchcase(str(v), row.constraint)),
                        "site_id"].to_numpy() if len(sites) else []
        return (lambda strip, rows: np.isin(site_labels[rows], ids)), "applied"
    if row.check == "earlier_category":
        if earlier is None:
            return None, "not checked: no earlier land cover"
        classes = matching(earlier[0])
        return (lambda strip, rows: np.isin(strip.earlier, classes)), "applied"
    if row.check == "min_parcel_m2":
        if not _start_applies(str(row.constraint), start_year):
            return None, "not applicable: the project's start year"
        return "parcel", "applied"
    return None, "condition to check"


class _SiteSums:
    """Per-site sums of the site rasters, added band by band: cells, slope (sum and maximum),
    precipitation, vegetation cover, and cells by land category and by planning unit."""

    def __init__(self, n_sites: int, n_categories: int, n_units: int):
        self.n, self.bases = n_sites, {"category": n_categories + 1, "unit": n_units + 1}
        self.sums: dict[str, np.ndarray] = {}
        self.slope_max = np.full(n_sites + 1, -np.inf)
        self.keys: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"category": [], "unit": []}

    def add(self, labels: np.ndarray, strip: SiteStrip, p: dict[str, float]) -> None:
        """Add a band's sums: `labels` its site ids (0 none), `strip` its inputs."""
        inside = labels > 0
        ids = labels[inside]
        values = {"cells": None}
        if strip.slope_deg is not None:
            values["slope"] = strip.slope_deg[inside]
            np.maximum.at(self.slope_max, ids, values["slope"])
        if strip.precipitation_mm is not None:
            values["precipitation"] = strip.precipitation_mm[inside]
        if strip.ndvi is not None:
            values["cover"] = fractional_cover(strip.ndvi[inside], ndvi_soil=p["ndvi_soil"],
                                               ndvi_vegetation=p["ndvi_vegetation"])
        for name, weights in values.items():
            total = np.bincount(ids, weights=weights, minlength=self.n + 1)
            self.sums[name] = self.sums[name] + total if name in self.sums else total
        for name, cells in (("category", strip.categories), ("unit", strip.units)):
            if cells is not None:
                keys = ids.astype(np.int64) * self.bases[name] + (cells[inside].astype(np.int64) + 1)
                self.keys[name].append(np.unique(keys, return_counts=True))

    def mean(self, name: str) -> np.ndarray:
        """The mean of `name` over each site's cells (sites 1..n), NaN without it."""
        if name not in self.sums or not self.n:
            return np.full(self.n, np.nan)
        return self.sums[name][1:] / self.sums["cells"][1:]

    def majority(self, name: str) -> np.ndarray:
        """The most frequent `name` (category index or unit number, -1 none) of each site; ties:
        the smallest."""
        parts = self.keys[name]
        out = np.full(self.n, -1, dtype=np.int64)
        if not parts:
            return out
        unique, where = np.unique(np.concatenate([keys for keys, _ in parts]), return_inverse=True)
        counts = np.bincount(where, weights=np.concatenate([counts for _, counts in parts]))
        label_of, value_of = np.divmod(unique, self.bases[name])
        order = np.lexsort((-counts, label_of))  # per site, the largest count first (stable: the smallest value)
        first = np.unique(label_of[order], return_index=True)[1]
        out[label_of[order][first] - 1] = value_of[order][first] - 1
        return out


def _site_table(site_labels: np.ndarray, sums: _SiteSums, legend: list[str], cell_ha: float, transform, crs, *,
                units: bool) -> gpd.GeoDataFrame:
    """Polygons and per-site means of the site rasters."""
    import rasterio.features
    from shapely.geometry import shape

    n_sites = sums.n
    ids = np.arange(1, n_sites + 1)
    shapes = rasterio.features.shapes(site_labels, mask=site_labels > 0, connectivity=8, transform=transform)
    parts = [(int(value), shape(geom)) for geom, value in shapes]
    frame = gpd.GeoDataFrame({"site_id": [v for v, _ in parts]}, geometry=[g for _, g in parts], crs=crs)
    frame = frame.dissolve(by="site_id", as_index=False) if frame["site_id"].duplicated().any() else frame
    frame = frame.set_index("site_id", drop=False).reindex(ids)
    frame["area_ha"] = sums.sums["cells"][1:] * cell_ha if n_sites else []
    frame["land_category"] = np.asarray(legend, dtype=object)[sums.majority("category")] if n_sites else []
    frame["unit"] = sums.majority("unit") if units else -1
    frame["slope_mean_deg"] = sums.mean("slope")
    frame["precipitation_mm_yr"] = sums.mean("precipitation")
    frame["slope_max_deg"] = sums.slope_max[1:] if "slope" in sums.sums else np.nan
    frame["vegetation_cover"] = sums.mean("cover")
    return gpd.GeoDataFrame(frame.reset_index(drop=True), geometry="geometry", crs=crs)


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
