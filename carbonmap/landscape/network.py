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
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
from affine import Affine
from scipy import ndimage

from carbonmap.coefficients import network_settings
from carbonmap.errors import CarbonmapWarning, InputError
from carbonmap.grid import block_majority, block_mean
from carbonmap.landscape.circuits import barrier_scores, one_to_all_currents, pairwise_currents
from carbonmap.landscape.connectivity import connectivity, patch_distances
from carbonmap.landscape.corridors import least_cost_corridors
from carbonmap.landscape.mspa import MSPA_CLASSES, mspa
from carbonmap.landscape.patches import Landscape, patch_polygons, prepare

__all__ = ["NetworkSettings", "NetworkResult", "ecological_network", "network_from_rasters", "parameter_table",
           "MSPA_LEGEND", "network_per_unit", "cell_factor"]

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


#: The defaults of the settings: ``network_settings.csv``, each with its source.
_DEFAULTS = network_settings()


@dataclass(frozen=True)
class NetworkSettings:
    """Parameters of the chain (distances in metres, areas in hectares); the numeric defaults
    are rows of ``network_settings.csv`` (with their sources).

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
    circuit_mode : Circuitscape's "pairwise" (1 A between each pair of linked sources, only
        those two short-circuited) or "one-to-all" (1 A into each source, the others grounded).
    resolution_m : cell size the network is solved at [m], a whole multiple of the land
        cover's (None: the land cover's cells). Regional networks are solved coarser: each
        coarse cell takes the majority class and the mean elevation of its block
        (:func:`carbonmap.grid.block_majority`), so memory and time fall with the square of
        the factor.
    """

    edge_width_m: float = _DEFAULTS["edge_width_m"]
    min_core_area_ha: float = _DEFAULTS["min_core_area_ha"]
    max_sources: int = int(_DEFAULTS["max_sources"])
    min_dpc_pct: float = _DEFAULTS["min_dpc_pct"]
    dispersal_distance_m: float = _DEFAULTS["dispersal_distance_m"]
    dispersal_probability: float = _DEFAULTS["dispersal_probability"]
    corridor_width_m: float = _DEFAULTS["corridor_width_m"]
    barrier_radius_m: float = _DEFAULTS["barrier_radius_m"]
    pinch_quantile: float = _DEFAULTS["pinch_quantile"]
    barrier_quantile: float = _DEFAULTS["barrier_quantile"]
    circuit_max_cells: int = int(_DEFAULTS["circuit_max_cells"])
    circuit_mode: str = "pairwise"
    resolution_m: float | None = None


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


def ecological_network(land: Landscape, ecological: np.ndarray, resistance: np.ndarray, *,
                       settings: NetworkSettings = NetworkSettings(),
                       on_step: Callable[[str, float], None] | None = None) -> NetworkResult:
    r"""The ecological security pattern of a landscape: sources, corridors, pinch points, barriers.

    Parameters
    ----------
    land : Landscape
        A georeferenced landscape (with transform and CRS).
    ecological : array of int
        Class indices of ecological land (:func:`carbonmap.landscape.select_classes`).
    resistance : array (H, W) [resistance units]
        Resistance surface on the same grid
        (:func:`carbonmap.landscape.resistance.resistance_surface`).
    settings : NetworkSettings
        Edge width, source rules, dispersal kernel, corridor width, barrier radius and
        quantiles (distances in m, areas in ha).
    on_step : callable (step name, seconds [s]), optional
        Told as each step of the chain ends (for progress).

    Returns
    -------
    NetworkResult
        The MSPA raster, the sources (ranked by dPC [%]), the corridors, the current density
        [A] and barrier score rasters, pinch points and barriers as polygons, corridor centre
        lines, and the indices PC and IIC [-].

    Raises
    ------
    InputError
        Without georeference, with fewer than two core areas of at least
        ``settings.min_core_area_ha`` or fewer than two sources passing the rules.

    Notes
    -----
    The chain of the module docstring: MSPA core areas (:func:`~carbonmap.landscape.mspa.mspa`)
    of at least ``min_core_area_ha`` are ranked by their importance for connectivity
    (:func:`~carbonmap.landscape.connectivity.connectivity`),

    .. math:: dPC_k = 100 \, \frac{PC - PC_{-k}}{PC}

    and the best become sources; least-cost corridors join sources whose cost zones meet
    (:func:`~carbonmap.landscape.corridors.least_cost_corridors`); circuit theory maps current
    density (:func:`~carbonmap.landscape.circuits.pairwise_currents`), whose peaks inside
    corridors are pinch points, and barrier scores
    (:func:`~carbonmap.landscape.circuits.barrier_scores`), whose peaks are barriers.

    References
    ----------
    .. [1] Yu K. (1996). Security patterns and surface model in landscape ecological planning.
       Landscape and Urban Planning 36: 1-17.
    .. [2] Peng J., Yang Y., Liu Y., et al. (2018). Linking ecosystem services and circuit theory
       to identify ecological security patterns. Science of the Total Environment 644: 781-790.
    .. [3] Soille P., Vogt P. (2009). Morphological segmentation of binary patterns. Pattern
       Recognition Letters 30(4): 456-459.
    .. [4] Saura S., Pascual-Hortal L. (2007). A new habitat availability index to integrate
       connectivity in landscape conservation planning. Landscape and Urban Planning 83: 91-103.
    .. [5] Saura S., Rubio L. (2010). A common currency for the different ways in which patches
       and links can contribute to habitat availability and connectivity in the landscape.
       Ecography 33: 523-537.
    .. [6] Adriaensen F., et al. (2003). The application of 'least-cost' modelling as a
       functional landscape model. Landscape and Urban Planning 64: 233-247.
    .. [7] McRae B. H., Kavanagh D. M. (2011). Linkage Mapper Connectivity Analysis Software.
       The Nature Conservancy, Seattle.
    .. [8] McRae B. H., Dickson B. G., Keitt T. H., Shah V. B. (2008). Using circuit theory to
       model connectivity in ecology, evolution, and conservation. Ecology 89(10): 2712-2724.
    .. [9] McRae B. H., et al. (2012). Where to restore ecological connectivity? Detecting
       barriers and quantifying restoration benefits. PLoS ONE 7(12): e52604.
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
        if on_step is not None:
            on_step(name, timings[name])

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
    barriers = barrier_scores(surfaces.near, surfaces.pairs, r, radius_m=settings.barrier_radius_m)
    barriers[~inside] = np.nan
    pinch = _pinch_points(land, circuit.current, corridors, settings.pinch_quantile, source_raster >= 0)
    barrier_areas = _barrier_areas(land, barriers, settings.barrier_quantile)
    lap("pinch points and barriers")
    indices = {"PC": pc.index, "IIC": iic.index, "landscape_ha": landscape_ha, "candidates": float(len(candidates)),
               "sources": float(len(chosen)),
               "corridors": float(len(corridors))}
    centre_lines = [p["geometry"] for p in surfaces.paths if p["geometry"] is not None]
    lines = gpd.GeoDataFrame(corridors.drop(columns="geometry"), geometry=centre_lines, crs=land.crs)
    return NetworkResult(classes, sources, corridors, circuit.current, barriers, pinch, barrier_areas, lines, indices,
                         timings, core_labels, ranking)


class _Circuit:
    """Current density [A] and each linked pair's effective resistance (NaN if not solved)."""

    def __init__(self, current: np.ndarray, effective: dict[tuple[int, int], float]):
        self.current = current
        self.resistance = effective


def _solve_circuits(resistance, sources, n_sources, pairs, neighbours, mode) -> _Circuit:
    if mode == "pairwise":
        result = pairwise_currents(resistance, sources, n_regions=n_sources, pairs=pairs, neighbours=neighbours)
        effective = {(i, j): float(result.resistance[i, j]) for i, j in pairs}
        cut = [(i + 1, j + 1) for (i, j), value in effective.items() if np.isinf(value)]
        if cut:
            warnings.warn(f"linked sources {', '.join(f'{i}-{j}' for i, j in cut)} are not connected in the circuit "
                          "graph (nodata or 4-neighbour gaps between them): no current for them.",
                          CarbonmapWarning, stacklevel=3)
        return _Circuit(result.current, {k: (v if np.isfinite(v) else np.nan) for k, v in effective.items()})
    result = one_to_all_currents(resistance, sources, n_regions=n_sources, direction=mode, neighbours=neighbours)
    return _Circuit(result.current, {})


def _currents(resistance, sources, n_sources, pairs, neighbours, max_cells, mode):
    """Circuit current density, on coarser blocks when the grid is too large."""
    cells = int(np.isfinite(resistance).sum())
    factor = int(np.ceil(np.sqrt(cells / max_cells))) if cells > max_cells else 1
    if factor == 1:
        return _solve_circuits(resistance, sources, n_sources, pairs, neighbours, mode)
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
    result = _solve_circuits(coarse, coarse_sources, n_sources, pairs, neighbours, mode)
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


def _pinch_points(land: Landscape, current: np.ndarray, corridors: gpd.GeoDataFrame, quantile: float,
                  in_source: np.ndarray):
    """Corridor cells outside the sources whose current is above the quantile (a source is
    one node of each of its pairs: its cells carry the whole ampere, not a pinch)."""
    from rasterio.features import rasterize

    if corridors.empty:
        return _cells_to_polygons(land, np.zeros(current.shape, bool), current, "current")
    inside = rasterize(((g, 1) for g in corridors.geometry), out_shape=current.shape, transform=land.transform,
                       fill=0, dtype="uint8").astype(bool) & np.isfinite(current) & ~in_source
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
                         crs=None, on_step: Callable[[str, float], None] | None = None
                         ) -> tuple[Landscape, np.ndarray, NetworkResult]:
    """The ecological network from rasters (files, datasets or arrays): what the CLI and the run use.

    Parameters
    ----------
    landcover : path, rasterio dataset or 2-D int array
        Land-cover codes of `system` (projected, or warped to equal area as by
        :func:`carbonmap.landscape.read_landscape`).
    system : str
        Its code system (:data:`carbonmap.landuse.CODE_SYSTEMS`).
    dem : path, rasterio dataset or 2-D array [m], optional
        Elevation on the same grid, for the slope modifier.
    roads : GeoDataFrame of lines, optional
        Roads (any CRS), for the road modifier on the cells they touch.
    ecological_codes : iterable of int, optional
        Codes of ecological land (default: the system's ``ecological`` flag).
    settings : NetworkSettings
        As for :func:`ecological_network`.
    resistance_table : Series [-], optional
        Resistance per carbon category (default the packaged
        :func:`carbonmap.coefficients.ecological_resistance`).
    modifiers : dict, optional
        Overrides of :data:`carbonmap.landscape.resistance.DEFAULT_MODIFIERS`.
    crs : CRS-like, optional
        CRS of a land cover that has none.
    on_step : callable (step name, seconds [s]), optional
        Told as each step of the chain ends (:func:`ecological_network`).

    Returns
    -------
    (Landscape, ndarray (H, W), NetworkResult)
        The landscape, its resistance surface and the network (:func:`ecological_network`).

    Raises
    ------
    InputError
        Without ecological land, or for a DEM not on the land cover's grid.
    """
    from rasterio.features import rasterize

    from carbonmap.io import read_raster
    from carbonmap.landscape.patches import read_landscape, select_classes
    from carbonmap.landscape.resistance import resistance_surface
    from carbonmap.landuse import classify_raster
    from carbonmap.terrain import slope_degrees

    land = read_landscape(landcover, crs=crs)
    fine_shape, factor = land.index.shape, cell_factor(settings.resolution_m, land.resolution, name=land.name)
    if factor > 1:
        land = _coarsened(land, factor)
    ecological = (select_classes(land, codes=ecological_codes) if ecological_codes is not None
                  else select_classes(land, system=system))
    if ecological.size == 0:
        raise InputError("no ecological land in the land cover.", path=land.name, key="network.ecological_codes",
                         fix="list the codes of ecological land.")
    inside = land.index < land.n_classes
    codes = np.ma.MaskedArray(land.classes[np.minimum(land.index, land.n_classes - 1)], mask=~inside)
    categories, legend = classify_raster(codes, system, column="carbon_category", path=land.name)
    slope = None
    if dem is not None:
        elevation, source = read_raster(dem)
        if elevation.shape != fine_shape:
            raise InputError(f"the DEM ({elevation.shape}) is not on the land cover's grid ({fine_shape}).",
                             path=source.name, fix="align it to the land cover first (carbonmap run does this).")
        if factor > 1:
            elevation = block_mean(elevation, factor)
        slope = slope_degrees(elevation, land.resolution)
    road_cells = None
    if roads is not None and len(roads):
        lines = roads.to_crs(land.crs)
        road_cells = rasterize(((g, 1) for g in lines.geometry), out_shape=land.index.shape,
                               transform=land.transform, fill=0, all_touched=True, dtype="uint8").astype(bool)
    resistance = resistance_surface(categories, legend, land.resolution, slope_deg=slope, roads=road_cells,
                                    table=resistance_table, modifiers=modifiers)
    return land, resistance, ecological_network(land, ecological, resistance, settings=settings, on_step=on_step)


def cell_factor(resolution_m: float | None, landcover_m: float, *, name: str | None = None) -> int:
    """How many land-cover cells a side of the network's cells spans (1 without `resolution_m`).

    Raises
    ------
    InputError
        Naming ``network.resolution_m`` when it is not a whole multiple of the land cover's cell.
    """
    if resolution_m is None:
        return 1
    factor = resolution_m / landcover_m
    if not (factor >= 1 and abs(factor - round(factor)) < 1e-6):
        raise InputError(f"the network's cells of {resolution_m:g} m are not a whole multiple of the land cover's "
                         f"{landcover_m:g} m cells.", path=name, key="network.resolution_m",
                         fix=f"use {landcover_m:g} m times a whole number, e.g. {3 * landcover_m:g}.")
    return round(factor)


def _coarsened(land: Landscape, factor: int) -> Landscape:
    """`land` on cells `factor` times larger, each with the majority class of its block."""
    inside = land.index < land.n_classes
    codes = np.ma.MaskedArray(land.classes[np.minimum(land.index, land.n_classes - 1)], mask=~inside)
    return prepare(block_majority(codes, factor), land.resolution * factor, neighbours=land.neighbours,
                   transform=land.transform @ Affine.scale(factor), crs=land.crs, name=land.name)


def parameter_table(settings: NetworkSettings, result: NetworkResult, *, modifiers: dict | None = None
                    ) -> pd.DataFrame:
    """Every setting, resistance modifier and index of a network, as a two-column table.

    Parameters
    ----------
    settings : NetworkSettings
        The chain's settings.
    result : NetworkResult
        The network, for its indices (PC, IIC, counts).
    modifiers : dict, optional
        The resistance modifiers used (overrides of
        :data:`carbonmap.landscape.resistance.DEFAULT_MODIFIERS`).

    Returns
    -------
    DataFrame
        ``parameter`` and ``value`` (text; floats to 10 significant digits): the settings, then
        ``modifier_<name>`` and ``index_<name>``.
    """
    from dataclasses import asdict

    from carbonmap.landscape.resistance import DEFAULT_MODIFIERS

    values = {**asdict(settings), **{f"modifier_{k}": v for k, v in {**DEFAULT_MODIFIERS, **(modifiers or {})}.items()},
              **{f"index_{k}": v for k, v in result.indices.items()}}
    return pd.DataFrame({"parameter": list(values), "value": [f"{v:.10g}" if isinstance(v, float) else "" if v is None
                                                             else str(v) for v in values.values()]})


def network_per_unit(units: gpd.GeoDataFrame, sources: gpd.GeoDataFrame, lines: gpd.GeoDataFrame) -> pd.DataFrame:
    r"""Ecological source area and corridor length inside each planning unit.

    Parameters
    ----------
    units : GeoDataFrame of polygons
        Planning units (reprojected to the sources' CRS).
    sources : GeoDataFrame of polygons
        Ecological sources (``NetworkResult.sources``).
    lines : GeoDataFrame of lines
        Corridor centre lines (``NetworkResult.corridor_lines``).

    Returns
    -------
    DataFrame
        ``eco_source_area_ha`` [ha] and ``eco_corridor_length_km`` [km], indexed as `units`.

    Notes
    -----
    Corridors that share a stretch count it once (their centre lines are merged first):
    :math:`L_u = |u \cap \bigcup_c \ell_c|`, and likewise for the sources' area.
    """
    zones = units.to_crs(sources.crs).geometry
    source_union = sources.geometry.union_all() if len(sources) else None
    line_union = lines.geometry.union_all() if len(lines) else None
    return pd.DataFrame({
        "eco_source_area_ha": [zone.intersection(source_union).area / 1e4 if source_union else 0.0 for zone in zones],
        "eco_corridor_length_km": [zone.intersection(line_union).length / 1e3 if line_union else 0.0
                                   for zone in zones],
    }, index=units.index)
