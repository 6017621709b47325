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
           "fractional_cover"]

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


def fractional_cover(ndvi, ndvi_soil: float, ndvi_vegetation: float) -> np.ndarray:
    """Fractional vegetation cover by the dimidiate-pixel model, clipped to [0, 1]."""
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
    """Candidate afforestation sites with every criterion, the score and the rank (module docstring).

    Parameters
    ----------
    categories, legend : carbon categories of the cells (:func:`carbonmap.landuse.classify_raster`; -1 no data)
    resolution, transform, crs : the grid (square cells of `resolution` m)
    rules, parameters, site_preparation, growth : ``afforestation_rules``, ``screening_parameters``,
        ``afforestation_site_preparation``, ``afforestation_growth``
    tree_type : vegetation type planted where trees are possible (a row of `growth`)
    units : (H, W) planning-unit index per cell (-1 outside); sites get the unit holding most of them
    slope_deg, precipitation_mm [mm/yr], ndvi : optional rasters on the grid
    zones : protection-zone name -> (H, W) bool
    vacated : (H, W) bool, vacated land eligible whatever its class
    habitat : the ecological network's habitat (:class:`Habitat`) for connectivity gains
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
            cover = fractional_cover(ndvi, p["ndvi_soil"], p["ndvi_vegetation"])
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
    reason_table = pd.DataFrame(table, columns=["code", "reason"])
    reason_table["area_ha"] = np.bincount(reasons.ravel(), minlength=len(table) + 1)[reason_table["code"]] * cell_ha
    sites = _site_table(site_labels, len(keep_ids), categories, legend, cell_ha, transform, crs, units=units,
                        slope_deg=slope_deg, precipitation_mm=precipitation_mm, ndvi=ndvi, p=p)
    if precipitation_mm is None:
        notes.append(f"no precipitation raster: every site is planted with {tree_type} (dryness rule not applied)")
    sites = _criteria(sites, p, site_preparation, growth, tree_type)
    distances = None
    if habitat is not None:
        new_ha = ndimage.sum(~habitat.existing & (site_labels > 0), site_labels,
                             index=sites["site_id"].to_numpy()) * cell_ha if len(sites) else np.zeros(0)
        distances = cross_distances(habitat.labels, habitat.ids, site_labels, sites["site_id"].to_numpy(), resolution)
        sites["new_habitat_ha"] = new_ha
        sites["distance_to_habitat_m"] = distances.min(axis=0)
        sites["connectivity_gain_pct"] = pc_gain(habitat.areas_ha, habitat.distances, habitat.landscape_ha,
                                                 habitat.probability, new_ha, distances)
    weights = {"sequestration_t_co2": p["afforestation_weight_sequestration"],
               "cost_cny_per_t_co2": p["afforestation_weight_cost"]}
    directions = {"sequestration_t_co2": True, "cost_cny_per_t_co2": False}
    if "connectivity_gain_pct" in sites:
        weights["connectivity_gain_pct"] = p["afforestation_weight_connectivity"]
        directions["connectivity_gain_pct"] = True
    else:
        notes.append("no ecological network: the afforestation score leaves out connectivity gain")
    sites = sites.join(weighted_score(sites[list(directions)], weights, directions))
    sites["rank"] = sites["score"].rank(ascending=False, method="first").astype(int)
    sites = sites.sort_values("rank")
    return AfforestationResult(sites, reasons, reason_table, site_labels, habitat, distances, notes, resolution)


def sites_from_rasters(landcover, system: str, *, tree_type: str, parameters: dict[str, float],
                       rules: pd.DataFrame, site_preparation: pd.DataFrame, growth: pd.DataFrame, dem=None,
                       precipitation=None, ndvi=None, zones: gpd.GeoDataFrame | None = None,
                       vacated: gpd.GeoDataFrame | None = None, units: gpd.GeoDataFrame | None = None,
                       habitat: Habitat | None = None) -> AfforestationResult:
    """:func:`afforestation_sites` from files: what the pipeline and the CLI run.

    Parameters
    ----------
    landcover : land-cover raster (projected, square cells) with codes of `system`
    dem [m], precipitation [mm/yr], ndvi : optional rasters on the land cover's grid
    zones : protection zones with a ``zone`` column (names the rules use)
    vacated : polygons of vacated land, eligible whatever their class
    units : planning units (their row order gives the sites' ``unit``)
    habitat : the ecological network's habitat on the same grid
    Other parameters: those of :func:`afforestation_sites`.
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
    categories, legend = classify_raster(codes, system, "carbon_category", path=source.name)

    def on_grid(raster, name):
        if raster is None:
            return None
        data, src = read_raster(raster)
        if data.shape != codes.shape:
            raise InputError(f"the {name} raster {data.shape} is not on the land cover's grid {codes.shape}.",
                             path=src.name, fix="align it to the land cover first (carbonmap run does this).")
        return np.ma.filled(data.astype(float), np.nan)

    def burn(frame, values, fill=0, dtype="uint8"):
        shapes = zip(frame.to_crs(crs).geometry, values)
        return rasterize(shapes, out_shape=codes.shape, transform=transform, fill=fill, dtype=dtype)

    elevation = on_grid(dem, "DEM")
    zone_masks = {}
    if zones is not None and len(zones):
        if "zone" not in zones.columns:
            raise InputError("the protection zones have no 'zone' column.", field="zone",
                             fix="name the zones (e.g. permanent_basic_farmland) in a 'zone' field.")
        zone_masks = {str(name): burn(part, np.ones(len(part))).astype(bool) for name, part in zones.groupby("zone")}
    return afforestation_sites(
        categories, legend, resolution, transform, crs, rules=rules, parameters=parameters,
        site_preparation=site_preparation, growth=growth, tree_type=tree_type,
        units=burn(units, np.arange(len(units)), fill=-1, dtype="int32") if units is not None else None,
        slope_deg=slope_degrees(elevation, resolution) if elevation is not None else None,
        precipitation_mm=on_grid(precipitation, "precipitation"), ndvi=on_grid(ndvi, "NDVI"), zones=zone_masks,
        vacated=burn(vacated, np.ones(len(vacated))).astype(bool) if vacated is not None and len(vacated) else None,
        habitat=habitat)


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
    for column, raster in (("slope_mean_deg", slope_deg), ("precipitation_mm_yr", precipitation_mm)):
        frame[column] = ndimage.mean(raster, site_labels, ids) if raster is not None and n_sites else np.nan
    frame["slope_max_deg"] = ndimage.maximum(slope_deg, site_labels, ids) if slope_deg is not None and n_sites \
        else np.nan
    frame["vegetation_cover"] = (ndimage.mean(fractional_cover(ndvi, p["ndvi_soil"], p["ndvi_vegetation"]),
                                              site_labels, ids) if ndvi is not None and n_sites else np.nan)
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
