"""The ecological security pattern (生态安全格局), as Chinese territorial planning builds it.

The chain, each step in its own module:

1. MSPA (:mod:`~carbonmap.landscape.mspa`) finds core habitat in the map of ecological land;
2. the core areas large enough become candidates, ranked by their importance for
   connectivity, dPC (:mod:`~carbonmap.landscape.connectivity`); the best become
   *ecological sources* (生态源地);
3. a resistance surface (:mod:`~carbonmap.landscape.resistance`) prices movement through
   each cell;
4. least-cost *corridors* (生态廊道) join sources whose cost zones meet
   (:mod:`~carbonmap.landscape.corridors`);
5. circuit theory (:mod:`~carbonmap.landscape.circuits`) maps current density, whose peaks
   inside corridors are *pinch points* (夹点), and barrier scores, whose peaks are the
   *barriers* (障碍点) where restoration would help most.

:func:`ecological_network` runs it on a prepared landscape; the pipeline's ``network`` stage
and the CLI call it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import ndimage

from carbonmap.errors import InputError
from carbonmap.landscape.circuits import barrier_scores, pairwise_currents
from carbonmap.landscape.connectivity import connectivity, patch_distances
from carbonmap.landscape.corridors import least_cost_corridors
from carbonmap.landscape.mspa import MSPA_CLASSES, mspa
from carbonmap.landscape.patches import Landscape, patch_polygons, prepare

__all__ = ["NetworkSettings", "NetworkResult", "ecological_network", "network_from_rasters", "parameter_table",
           "MSPA_LEGEND", "network_per_unit"]

#: Map legend of the MSPA raster: value -> (name, colour). Transitions and internal features
#: take their class's colour.
MSPA_LEGEND = {
    17: ("core", "#1a9850"), 9: ("islet", "#8c510a"), 5: ("perforation", "#4575b4"), 3: ("edge", "#252525"),
    65: ("loop", "#fee08b"), 33: ("bridge", "#d73027"), 1: ("branch", "#fdae61"), 129: ("missing", "#bdbdbd"),
    35: ("bridge through edge", "#d73027"), 37: ("bridge through perforation", "#d73027"),
    67: ("loop through edge", "#fee08b"), 69: ("loop through perforation", "#fee08b"),
    100: ("internal background", "#e0e0e0"), 117: ("internal core", "#1a9850"), 109: ("internal islet", "#8c510a"),
    101: ("internal branch", "#fdae61"), 103: ("internal edge", "#252525"),
}

_CORE = (MSPA_CLASSES["core"], MSPA_CLASSES["core"] + 100)


@dataclass(frozen=True)
class NetworkSettings:
    """Parameters of the chain (distances in metres, areas in hectares).

    edge_width_m : MSPA edge width (rounded to whole cells, at least one).
    min_core_area_ha : smallest core area that can be a source.
    max_sources : keep at most this many sources, by dPC.
    min_dpc_pct : and only those with dPC at least this.
    dispersal_distance_m, dispersal_probability : the dispersal kernel of PC: probability
        p0 of a direct move over d0 (IIC links patches closer than d0).
    corridor_width_m : width of the corridor polygons.
    barrier_radius_m : radius of the restoration disc for barrier scores.
    pinch_quantile : corridor cells with current above this quantile are pinch points.
    barrier_quantile : cells with a positive barrier score above this quantile are barriers.
    circuit_max_cells : above this many landscape cells, circuits run on blocks of f x f
        cells (mean resistance, f the smallest factor that fits), and the current of a block
        is drawn on all its cells, as Circuitscape users aggregate large rasters.
    circuit_mode : Circuitscape's "pairwise" (1 A between each pair of linked sources) or
        "one-to-all" (1 A into each source, the others grounded).
    """

    edge_width_m: float = 60.0
    min_core_area_ha: float = 10.0
    max_sources: int = 20
    min_dpc_pct: float = 0.0
    dispersal_distance_m: float = 2000.0
    dispersal_probability: float = 0.5
    corridor_width_m: float = 200.0
    barrier_radius_m: float = 90.0
    pinch_quantile: float = 0.9
    barrier_quantile: float = 0.9
    circuit_max_cells: int = 1_000_000
    circuit_mode: str = "pairwise"


@dataclass
class NetworkResult:
    """What the chain produces (rasters on the landscape's grid, vectors in its CRS)."""

    mspa: np.ndarray
    sources: gpd.GeoDataFrame
    corridors: gpd.GeoDataFrame
    current: np.ndarray
    barriers: np.ndarray
    pinch_points: gpd.GeoDataFrame
    barrier_areas: gpd.GeoDataFrame
    corridor_lines: gpd.GeoDataFrame
    indices: dict[str, float]
    timings: dict[str, float] = field(default_factory=dict)
    core_labels: np.ndarray | None = None  # MSPA core areas, labelled (0 = none)
    cores: pd.DataFrame | None = None  # the candidate cores: core_id, area_ha, dpc_pct, ... (by dPC)


def ecological_network(land: Landscape, ecological: np.ndarray, resistance: np.ndarray,
                       settings: NetworkSettings = NetworkSettings()) -> NetworkResult:
    """Run the chain (module docstring) on a georeferenced landscape.

    Parameters
    ----------
    land : Landscape with transform and CRS
    ecological : class indices of ecological land (:func:`select_classes`)
    resistance : resistance surface on the same grid (:func:`resistance_surface`)
    settings : NetworkSettings
    """
    if land.transform is None:
        raise InputError("the ecological network needs a georeferenced landscape.",
                         fix="read it with read_landscape, or pass transform= and crs= to prepare().")
    timings = {}
    clock = time.perf_counter()

    def lap(name):
        nonlocal clock
        now = time.perf_counter()
        timings[name] = now - clock
        clock = now

    r = land.resolution
    cell_ha = land.cell_m2 / 1e4
    inside = land.index < land.n_classes
    foreground = np.ma.MaskedArray(np.isin(land.index, ecological), mask=~inside)
    classes = mspa(foreground, connectivity=land.neighbours, edge_width=max(1, round(settings.edge_width_m / r)))
    lap("mspa")
    core_labels, n_core = ndimage.label(np.isin(classes, _CORE), ndimage.generate_binary_structure(
        2, 2 if land.neighbours == 8 else 1))
    core_ha = np.bincount(core_labels.ravel(), minlength=n_core + 1)[1:] * cell_ha
    candidates = np.flatnonzero(core_ha >= settings.min_core_area_ha) + 1
    if len(candidates) < 2:
        raise InputError(f"only {len(candidates)} core area(s) of at least {settings.min_core_area_ha:g} ha: "
                         "no network to build.", key="network.min_core_area_ha",
                         fix="lower min_core_area_ha or the edge width, or check the ecological classes.")
    distances = patch_distances(core_labels, candidates, r)
    landscape_ha = float(inside.sum()) * cell_ha
    pc = connectivity(core_ha[candidates - 1], distances, landscape_ha,
                      probability=(settings.dispersal_probability, settings.dispersal_distance_m))
    iic = connectivity(core_ha[candidates - 1], distances, landscape_ha, threshold_m=settings.dispersal_distance_m)
    lap("connectivity")
    ranking = pd.DataFrame({"core_id": candidates, "area_ha": core_ha[candidates - 1], "dpc_pct": pc.patches["dI"],
                            "dpc_intra_pct": pc.patches["dI_intra"], "dpc_flux_pct": pc.patches["dI_flux"],
                            "dpc_connector_pct": pc.patches["dI_connector"], "diic_pct": iic.patches["dI"]})
    ranking = ranking.sort_values(["dpc_pct", "area_ha"], ascending=False, ignore_index=True)
    chosen = ranking[ranking["dpc_pct"] >= settings.min_dpc_pct].head(settings.max_sources).reset_index(drop=True)
    if len(chosen) < 2:
        raise InputError("fewer than two sources pass the rules.", key="network.min_dpc_pct",
                         fix="lower min_dpc_pct or raise max_sources.")
    chosen.insert(0, "source_id", np.arange(1, len(chosen) + 1))
    lookup = -np.ones(n_core + 1, dtype=np.int32)
    lookup[chosen["core_id"].to_numpy()] = np.arange(len(chosen))
    source_raster = lookup[core_labels]
    source_raster[core_labels == 0] = -1
    sources = _source_polygons(land, core_labels, chosen)
    surfaces = least_cost_corridors(resistance, source_raster, len(chosen), r, land.transform)
    lap("corridors")
    circuit = _currents(resistance, source_raster, len(chosen), surfaces.pairs, land.neighbours,
                        settings.circuit_max_cells, settings.circuit_mode)
    lap("circuits")
    corridors = _corridor_polygons(surfaces.paths, circuit.resistance, settings.corridor_width_m, land.crs)
    barriers = barrier_scores(surfaces.cwd, surfaces.pairs, r, settings.barrier_radius_m)
    barriers[~inside] = np.nan
    pinch = _pinch_points(land, circuit.current, corridors, settings.pinch_quantile)
    barrier_areas = _barrier_areas(land, barriers, settings.barrier_quantile)
    lap("pinch points and barriers")
    indices = {"PC": pc.index, "IIC": iic.index, "landscape_ha": landscape_ha, "candidates": float(len(candidates)),
               "sources": float(len(chosen)),
               "corridors": float(len(corridors))}
    centre_lines = [p["geometry"] for p in surfaces.paths if p["geometry"] is not None]
    lines = gpd.GeoDataFrame(corridors.drop(columns="geometry"), geometry=centre_lines, crs=land.crs)
    return NetworkResult(classes, sources, corridors, circuit.current, barriers, pinch, barrier_areas, lines, indices,
                         timings, core_labels, ranking)


def _currents(resistance, sources, n_sources, pairs, neighbours, max_cells, mode):
    """Pairwise current density, on coarser blocks when the grid is too large."""
    cells = int(np.isfinite(resistance).sum())
    factor = int(np.ceil(np.sqrt(cells / max_cells))) if cells > max_cells else 1
    if factor == 1:
        return pairwise_currents(resistance, sources, n_sources, pairs=pairs, mode=mode, connectivity=neighbours)
    height, width = resistance.shape
    ph, pw = -height % factor, -width % factor
    blocks = np.pad(resistance, ((0, ph), (0, pw)), constant_values=np.inf)
    blocks = blocks.reshape(blocks.shape[0] // factor, factor, blocks.shape[1] // factor, factor)
    finite = np.isfinite(blocks)
    with np.errstate(invalid="ignore", divide="ignore"):
        coarse = np.where(finite, blocks, 0).sum(axis=(1, 3)) / finite.sum(axis=(1, 3))
    coarse[~np.isfinite(coarse)] = np.inf
    marks = np.pad(sources, ((0, ph), (0, pw)), constant_values=-1)
    coarse_sources = marks.reshape(blocks.shape).max(axis=(1, 3))  # a block with source cells joins that source
    result = pairwise_currents(coarse, coarse_sources, n_sources, pairs=pairs, mode=mode, connectivity=neighbours)
    fine = np.repeat(np.repeat(result.current, factor, axis=0), factor, axis=1)[:height, :width]
    fine[~np.isfinite(resistance)] = np.nan
    result.current = fine
    return result


def _source_polygons(land: Landscape, core_labels: np.ndarray, chosen: pd.DataFrame) -> gpd.GeoDataFrame:
    part = prepare(np.ma.MaskedArray(core_labels, mask=core_labels == 0), land.resolution, neighbours=land.neighbours,
                   transform=land.transform, crs=land.crs)
    # one patch per core id (cores are connected by construction): map patch -> core id
    patch_core = np.zeros(part.n_patches + 1, dtype=np.int64)
    patch_core[part.labels[part.labels > 0]] = core_labels[part.labels > 0]
    wanted = np.flatnonzero(np.isin(patch_core, chosen["core_id"]))
    polygons = patch_polygons(part, wanted)
    polygons["core_id"] = patch_core[polygons["patch_id"].to_numpy()]
    out = polygons.drop(columns="patch_id").merge(chosen, on="core_id")
    return gpd.GeoDataFrame(out.sort_values("source_id", ignore_index=True), crs=land.crs)


def _corridor_polygons(paths: list[dict], effective: dict, width_m: float, crs) -> gpd.GeoDataFrame:
    rows = []
    for path in paths:
        if path["geometry"] is None:
            continue  # touching sources: nothing to draw
        rows.append({"from_source": path["from_source"] + 1, "to_source": path["to_source"] + 1,
                     "cwd": path["cwd"], "length_m": path["length_m"], "mean_resistance": path["mean_resistance"],
                     "effective_resistance": effective.get((path["from_source"], path["to_source"]), np.nan),
                     "geometry": path["geometry"].buffer(width_m / 2, cap_style="flat")})
    columns = ["from_source", "to_source", "cwd", "length_m", "mean_resistance", "effective_resistance", "geometry"]
    return gpd.GeoDataFrame(rows, columns=columns, geometry="geometry", crs=crs)


def _cells_to_polygons(land: Landscape, mask: np.ndarray, values: np.ndarray, column: str) -> gpd.GeoDataFrame:
    """Connected groups of `mask` cells as polygons with the max of `values` in each."""
    groups, n = ndimage.label(mask, ndimage.generate_binary_structure(2, 2))
    if n == 0:
        return gpd.GeoDataFrame({column: [], "area_ha": []}, geometry=[], crs=land.crs)
    part = prepare(np.ma.MaskedArray(groups, mask=groups == 0), land.resolution, neighbours=8,
                   transform=land.transform, crs=land.crs)
    polygons = patch_polygons(part)
    peak = ndimage.maximum(values, groups, index=np.arange(1, n + 1))
    group_of_patch = np.zeros(part.n_patches + 1, dtype=np.int64)
    group_of_patch[part.labels[part.labels > 0]] = groups[part.labels > 0]
    polygons[column] = np.asarray(peak)[group_of_patch[polygons["patch_id"].to_numpy()] - 1]
    polygons["area_ha"] = polygons.geometry.area / 1e4
    return polygons.drop(columns="patch_id")


def _pinch_points(land: Landscape, current: np.ndarray, corridors: gpd.GeoDataFrame, quantile: float):
    from rasterio.features import rasterize

    if corridors.empty:
        return _cells_to_polygons(land, np.zeros(current.shape, bool), current, "current")
    inside = rasterize(((g, 1) for g in corridors.geometry), out_shape=current.shape, transform=land.transform,
                       fill=0, dtype="uint8").astype(bool) & np.isfinite(current)
    if not inside.any():
        return _cells_to_polygons(land, np.zeros(current.shape, bool), current, "current")
    threshold = np.quantile(current[inside], quantile)
    return _cells_to_polygons(land, inside & (current >= threshold), current, "current")


def _barrier_areas(land: Landscape, scores: np.ndarray, quantile: float):
    positive = np.isfinite(scores) & (scores > 0)
    if not positive.any():
        return _cells_to_polygons(land, positive, scores, "improvement_score")
    threshold = np.quantile(scores[positive], quantile)
    return _cells_to_polygons(land, positive & (scores >= threshold), np.nan_to_num(scores), "improvement_score")


def network_from_rasters(landcover, system: str, *, dem=None, roads: gpd.GeoDataFrame | None = None,
                         ecological_codes=None, settings: NetworkSettings = NetworkSettings(),
                         resistance_table: pd.Series | None = None, modifiers: dict | None = None,
                         crs=None) -> tuple[Landscape, np.ndarray, NetworkResult]:
    """The chain from files (or rasters carbonmap reads): what the CLI and the pipeline run.

    Parameters
    ----------
    landcover : land-cover raster (projected, or warped to equal area like read_landscape)
    system : its code system (:mod:`carbonmap.landuse`)
    dem : optional elevation raster [m] on the same grid (slope modifier)
    roads : optional road lines (any CRS): the road modifier, on cells they touch
    ecological_codes : codes of ecological land (default: the system's ``ecological`` flag)
    resistance_table, modifiers : see :func:`resistance_surface`

    Returns
    -------
    (landscape, resistance surface, NetworkResult)
    """
    from rasterio.features import rasterize

    from carbonmap.io import read_raster
    from carbonmap.landscape.patches import read_landscape, select_classes
    from carbonmap.landscape.resistance import resistance_surface
    from carbonmap.terrain import slope_degrees
    from carbonmap.landuse import classify_raster

    land = read_landscape(landcover, crs=crs)
    ecological = (select_classes(land, codes=ecological_codes) if ecological_codes is not None
                  else select_classes(land, system=system))
    if ecological.size == 0:
        raise InputError("no ecological land in the land cover.", path=land.name, key="network.ecological_codes",
                         fix="list the codes of ecological land.")
    inside = land.index < land.n_classes
    codes = np.ma.MaskedArray(land.classes[np.minimum(land.index, land.n_classes - 1)], mask=~inside)
    categories, legend = classify_raster(codes, system, "carbon_category", path=land.name)
    slope = None
    if dem is not None:
        elevation, source = read_raster(dem)
        if elevation.shape != land.index.shape:
            raise InputError(f"the DEM ({elevation.shape}) is not on the land cover's grid ({land.index.shape}).",
                             path=source.name, fix="align it to the land cover first (carbonmap run does this).")
        slope = slope_degrees(elevation, land.resolution)
    road_cells = None
    if roads is not None and len(roads):
        lines = roads.to_crs(land.crs)
        road_cells = rasterize(((g, 1) for g in lines.geometry), out_shape=land.index.shape,
                               transform=land.transform, fill=0, all_touched=True, dtype="uint8").astype(bool)
    resistance = resistance_surface(categories, legend, land.resolution, slope_deg=slope, roads=road_cells,
                                    table=resistance_table, modifiers=modifiers)
    return land, resistance, ecological_network(land, ecological, resistance, settings)


def parameter_table(settings: NetworkSettings, result: NetworkResult, modifiers: dict | None = None) -> pd.DataFrame:
    """Every setting, resistance modifier and index of a run, as ``parameter``, ``value`` (text)."""
    from dataclasses import asdict

    from carbonmap.landscape.resistance import DEFAULT_MODIFIERS

    values = {**asdict(settings), **{f"modifier_{k}": v for k, v in {**DEFAULT_MODIFIERS, **(modifiers or {})}.items()},
              **{f"index_{k}": v for k, v in result.indices.items()}}
    return pd.DataFrame({"parameter": list(values), "value": [f"{v:.10g}" if isinstance(v, float) else str(v)
                                                             for v in values.values()]})


def network_per_unit(units: gpd.GeoDataFrame, sources: gpd.GeoDataFrame, lines: gpd.GeoDataFrame) -> pd.DataFrame:
    """Source area [ha] and corridor length [km] inside each planning unit.

    Corridors that share a stretch count it once (their centre lines are merged first).
    Returns ``eco_source_area_ha`` and ``eco_corridor_length_km``, indexed as `units`.
    """
    zones = units.to_crs(sources.crs).geometry
    source_union = sources.geometry.union_all() if len(sources) else None
    line_union = lines.geometry.union_all() if len(lines) else None
    return pd.DataFrame({
        "eco_source_area_ha": [zone.intersection(source_union).area / 1e4 if source_union else 0.0 for zone in zones],
        "eco_corridor_length_km": [zone.intersection(line_union).length / 1e3 if line_union else 0.0
                                   for zone in zones],
    }, index=units.index)
