"""The renewable potential map of a city: every resource, zoned, summed per planning unit.

:func:`renewable_potential` takes rasters already on one grid (land-cover categories, and
optionally GHI, wind speed, elevation, heat flow), protection-zone masks, the buildings and
the planning units rasterised on the grid, and returns:

- rasters: development-control zones for ground PV and wind, ground-PV and wind yield
  [MWh per cell per year], wind power density [W m-2] and capacity factor, deep-geothermal
  temperature [degC] and class;
- the per-building rooftop PV table (:func:`carbonmap.renewables.rooftop.rooftop_pv`);
- per-unit columns: zone areas [km2] by resource, capacities [MW], yields [GWh/yr] and CO2
  avoided [t/yr] of rooftop PV, ground PV and wind (suitable zones; restricted zones
  separately), shallow-geothermal heat against heating demand [GWh/yr], and the mean
  deep-geothermal temperature.

:func:`potential_in_strips` does the same strip by strip from any reader of rows (the
pipeline's ``renewables`` stage reads the aligned COGs and writes each raster into its COG as
the strips pass), in bounded memory: every cell's values equal those of the whole grid at once
(each strip is read with the rows its setbacks and terrain gradient reach), and the per-unit
sums are added strip by strip. The formulas are in the modules :mod:`.solar`, :mod:`.rooftop`,
:mod:`.potential` and :mod:`.zoning`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from carbonmap import coefficients
from carbonmap.renewables.potential import (
    air_density,
    capacity_factor,
    deep_temperature,
    geothermal_class,
    ground_pv_usable,
    gshp_heat_mwh_per_km2,
    hub_speed,
    weibull_power_density,
    wind_capacity_mw_per_km2,
)
from carbonmap.renewables.solar import (
    Site,
    check_models,
    clear_sky_index_of,
    optimal_tilt,
    plane_of_array,
    transposition_table,
)
from carbonmap.grid import strips
from carbonmap.renewables.zoning import ZONE_CLASSES, control_zones, largest_buffer_m
from carbonmap.terrain import aspect_degrees, slope_degrees

__all__ = ["RenewableTables", "RenewableResult", "StripInputs", "renewable_potential", "potential_in_strips",
           "finite_median", "with_buildings", "ZONE_LEGEND"]

#: Zone raster legend: value -> (name, colour).
ZONE_LEGEND = {1: ("suitable", "#1a9850"), 2: ("restricted", "#fdae61"), 3: ("prohibited", "#d73027")}


@dataclass
class RenewableTables:
    """The coefficient tables of the renewable potential (sources in the tables; see
    :mod:`carbonmap.coefficients`): scalar parameters, zoning rules, usable roof shares by
    building use, wind shear exponents by carbon category, the turbine power curve, borehole
    heat extraction [W/m] by ground, heating demand [kWh/m2/yr] by climate zone, geothermal
    classes, and the grid emission factor [t CO2/MWh]."""

    parameters: dict[str, float]
    zoning_rules: pd.DataFrame
    rooftop_usable: pd.Series
    wind_shear: pd.Series
    power_curve: pd.DataFrame
    gshp_extraction: pd.Series
    heating_demand: pd.Series
    geothermal_classes: pd.DataFrame
    grid_factor: float

    @classmethod
    def packaged(cls) -> RenewableTables:
        """The tables as carbonmap ships them (China's national grid factor, latest year)."""
        return cls(coefficients.renewable_parameters(), coefficients.renewable_zoning_rules(),
                   coefficients.rooftop_pv_usable(), coefficients.wind_shear_exponents(),
                   coefficients.wind_power_curve(), coefficients.gshp_extraction(), coefficients.heating_demand(),
                   coefficients.geothermal_classes(), coefficients.grid_emission_factor())


@dataclass
class RenewableResult:
    """Rasters (name -> (array, unit key, the values its title names, e.g. the tilt [degrees])),
    buildings, per-unit columns and reason tables."""

    rasters: dict[str, tuple[np.ndarray, str, dict[str, float]]] = field(default_factory=dict)
    buildings: gpd.GeoDataFrame | None = None
    per_unit: pd.DataFrame | None = None
    zone_reasons: pd.DataFrame | None = None


def _per_unit(values: np.ndarray, zones: np.ndarray, n: int) -> np.ndarray:
    inside = (zones >= 0) & np.isfinite(values)
    return np.bincount(zones[inside], weights=values[inside], minlength=n)[:n]


@dataclass
class StripInputs:
    """The inputs of :func:`potential_in_strips` for a strip of the grid's rows (the strip and
    the rows around it that the neighbourhoods need).

    categories : array (rows, W) of int, carbon-category index into `legend` (-1 nodata).
    legend : the carbon category of each index (the strip's own).
    zones : array (rows, W) of int, the planning-unit number of each cell (-1 outside).
    rasters : name -> array (rows, W) of float (NaN nodata): any of ``ghi`` [kWh m-2 yr-1],
        ``wind_speed`` [m/s], ``elevation`` [m], ``heat_flow`` [mW m-2].
    protection : zone name -> array (rows, W) of bool.
    """

    categories: np.ndarray
    legend: list[str]
    zones: np.ndarray
    rasters: dict[str, np.ndarray]
    protection: dict[str, np.ndarray]


def renewable_potential(categories: np.ndarray, legend: list[str], resolution: float, zones: np.ndarray,
                        n_units: int, site: Site, tables: RenewableTables, *,
                        ghi: np.ndarray | None = None, wind_speed: np.ndarray | None = None,
                        elevation: np.ndarray | None = None, heat_flow: np.ndarray | None = None,
                        protection: dict[str, np.ndarray] | None = None,
                        rooftop: gpd.GeoDataFrame | None = None, unit_of_building: np.ndarray | None = None,
                        floor_area_m2: np.ndarray | None = None, gshp_ground: str = "normal",
                        climate_zone: str = "hot_summer_cold_winter", transposition: str = "perez",
                        decomposition: str = "erbs_monthly",
                        on_raster: Callable[[str, slice, tuple[np.ndarray, str, dict[str, float]]], None] | None = None,
                        block_pixels: int | None = None) -> RenewableResult:
    r"""Every renewable resource of a city on one grid, zoned and summed per planning unit.

    Parameters
    ----------
    categories : array (H, W) of int
        Carbon-category index per cell into `legend` (-1 nodata;
        :func:`carbonmap.landuse.classify_raster`).
    legend : list of str
        Carbon category of each index.
    resolution : float [m]
        Cell size.
    zones : array (H, W) of int
        Planning-unit number per cell (-1 outside every unit).
    n_units : int
        Number of units.
    site : Site
        Where the sun is computed (:func:`carbonmap.renewables.rooftop.site_of`).
    tables : RenewableTables
        The coefficient tables (parameters, zoning rules, shear, power curve, ...).
    ghi : array (H, W) [kWh m-2 yr-1], optional
        Annual global horizontal irradiation; default pvlib clear-sky x the clear-sky index.
    wind_speed : array (H, W) [m/s], optional
        Mean wind speed at ``wind_reference_height_m``; without it, no wind columns.
    elevation : array (H, W) [m], optional
        For the terrain rule of ground PV and the air density.
    heat_flow : array (H, W) [mW m-2], optional
        Surface heat flow; without it, no deep-geothermal column.
    protection : dict of str -> array (H, W) of bool, optional
        Protection zones by name (ecological protection red line, ...).
    rooftop : GeoDataFrame, optional
        Per-building rooftop PV (:func:`~carbonmap.renewables.rooftop.rooftop_pv`).
    unit_of_building : array (n,) of int, optional
        Planning-unit number of each building (-1 outside).
    floor_area_m2 : array (n,) [m2], optional
        Floor area of each building, for the heating demand.
    gshp_ground : str
        Row of ``tables.gshp_extraction`` (ground type).
    climate_zone : str
        Row of ``tables.heating_demand``.
    transposition : str
        Transposition model of ground PV, one of
        :data:`~carbonmap.renewables.solar.TRANSPOSITION_MODELS` (default Perez).
    decomposition : str
        How the all-sky year of ground PV is split into beam and diffuse, one of
        :data:`~carbonmap.renewables.solar.DECOMPOSITION_MODELS` (default ``"erbs_monthly"``);
        its clear-sky index is the table's, or with `ghi` the raster's median over the
        clear-sky year's GHI.
    on_raster : callable (name, rows, (array, unit, facts)), optional
        Handed each raster strip by strip (`rows`: the strip's slice of the grid's rows), to
        write it, instead of keeping the whole raster in ``rasters``.
    block_pixels : int, optional
        Cells per strip (default: the whole grid in one strip); see :func:`potential_in_strips`.

    Returns
    -------
    RenewableResult
        ``rasters`` (name -> (array, unit, title)): zones, ground-PV yield, wind power density and
        capacity factor, deep-geothermal temperature and class; ``buildings``; ``zone_reasons``;
        and ``per_unit``, one row per unit, the run's summary columns:
        ``<resource>_<zone>_km2`` [km2] for ground PV and wind in each zone
        (``ground_pv_suitable_km2``, ..., ``wind_prohibited_km2``);
        ``<resource>_<zone>_mw`` [MW] and ``<resource>_<zone>_gwh_yr`` [GWh/yr] in suitable and
        restricted zones; ``<resource>_suitable_co2_avoided_t_yr`` [t CO2/yr];
        ``rooftop_pv_mw``, ``rooftop_pv_gwh_yr``, ``rooftop_pv_co2_avoided_t_yr``;
        ``gshp_heat_potential_gwh_yr`` and ``heating_demand_gwh_yr`` [GWh/yr];
        ``deep_geothermal_temperature_c`` [degC, the unit's mean]; and last
        ``renewable_electricity_gwh_yr`` (rooftop PV, and ground PV and wind in suitable zones)
        and ``renewable_co2_avoided_t_yr`` (that electricity x the grid emission factor).

    Notes
    -----
    With cell area :math:`a` [km2] and the parameters of ``renewable_parameters.csv``:

    .. math::

        E_{ground} = a \, C_{ground} \, GHI \, R(\beta^*) \, PR, \qquad
        E_{wind} = a \, C_{wind} \, CF \times 8760, \qquad
        A_{CO_2} = E \, f_{grid}

    per cell, summed over the cells of each zone class in each unit; ground PV counts only cells
    the terrain allows (:func:`~carbonmap.renewables.potential.ground_pv_usable`); shallow
    geothermal counts open land outside prohibited zones
    (:func:`~carbonmap.renewables.potential.gshp_heat_mwh_per_km2`); the formulas are in
    :mod:`.solar`, :mod:`.rooftop`, :mod:`.potential` and :mod:`.zoning`.

    References
    ----------
    .. [1] Ong S., et al. (2013). Land-use requirements for solar power plants in the United States.
       NREL/TP-6A20-56290.
    .. [2] Manwell J. F., McGowan J. G., Rogers A. L. (2009). Wind Energy Explained: Theory,
       Design and Application, 2nd ed. Wiley.
    .. [3] VDI 4640 Part 2 (2001). Thermal use of the underground: ground source heat pump
       systems, Table 2 (specific heat extraction).
    .. [4] GB/T 11615-2010. Geological exploration standard of geothermal resources
       (temperature classes).
    .. [5] National Energy Administration (2021). Notice on county-wide rooftop distributed PV
       pilots (整县屋顶分布式光伏开发试点).
    """
    rasters = {name: np.asarray(array, dtype=float) for name, array in
               (("ghi", ghi), ("wind_speed", wind_speed), ("elevation", elevation), ("heat_flow", heat_flow))
               if array is not None}
    protection = protection or {}

    def read(rows: slice) -> StripInputs:
        return StripInputs(categories[rows], legend, zones[rows], {k: v[rows] for k, v in rasters.items()},
                           {k: np.asarray(v[rows], dtype=bool) for k, v in protection.items()})

    return potential_in_strips(read, categories.shape, resolution, n_units, site, tables, rasters=tuple(rasters),
                               protection=tuple(protection),
                               ghi_median=finite_median(ghi) if ghi is not None else None,
                               rooftop=rooftop, unit_of_building=unit_of_building, floor_area_m2=floor_area_m2,
                               gshp_ground=gshp_ground, climate_zone=climate_zone, transposition=transposition,
                               decomposition=decomposition, on_raster=on_raster,
                               block_pixels=block_pixels or categories.size)


def finite_median(values: np.ndarray) -> float | None:
    """The median of the finite values, in float64 (the mean of the two middle values for an
    even count, as ``numpy.nanmedian`` of float64 values), or None when there are none."""
    finite = np.asarray(values)[np.isfinite(values)]
    if finite.size == 0:
        return None
    k = finite.size // 2
    if finite.size % 2:
        return float(np.partition(finite, k)[k])
    low, high = np.partition(finite, [k - 1, k])[[k - 1, k]]
    return (float(low) + float(high)) / 2


def potential_in_strips(read: Callable[[slice], StripInputs], shape: tuple[int, int], resolution: float,
                        n_units: int, site: Site, tables: RenewableTables, *, rasters: tuple[str, ...] = (),
                        protection: tuple[str, ...] = (), ghi_median: float | None = None,
                        rooftop: gpd.GeoDataFrame | None = None, unit_of_building: np.ndarray | None = None,
                        floor_area_m2: np.ndarray | None = None, gshp_ground: str = "normal",
                        climate_zone: str = "hot_summer_cold_winter", transposition: str = "perez",
                        decomposition: str = "erbs_monthly",
                        on_raster: Callable[[str, slice, tuple[np.ndarray, str, dict[str, float]]], None] | None = None,
                        block_pixels: int = 2**22) -> RenewableResult:
    """:func:`renewable_potential` strip by strip: the grid's rows in strips of about `block_pixels`
    cells, each read with the rows around it that its neighbourhoods need.

    Parameters
    ----------
    read : callable (rows) -> StripInputs
        The inputs of a slice of the grid's rows.
    shape : (H, W)
        The grid's shape.
    rasters, protection : tuple of str
        The names of the rasters and protection zones `read` gives.
    ghi_median : float [kWh m-2 yr-1], optional
        The median of the GHI raster's finite cells (:func:`finite_median`), for the clear-sky
        index of ground PV; needed with a ``ghi`` raster.

    The other parameters and the result are those of :func:`renewable_potential`; every cell's
    values equal those of the whole grid at once, and the per-unit sums are added strip by strip.

    Notes
    -----
    The rows around a strip (its halo) are the most a cell's values depend on: the largest
    buffer of the zoning rules (a setback, in cells, rounded up) and one row for the slope and
    aspect of the terrain (Horn's 3 x 3 gradient). The per-unit sums count only the strip's
    own cells.
    """
    check_models(transposition, decomposition)
    p, rules = tables.parameters, tables.zoning_rules
    tip = p["turbine_hub_m"] + p["turbine_rotor_m"] / 2
    setbacks = {"ground_pv": None, "wind": p["wind_setback_tip_heights"] * tip}
    reach = max(largest_buffer_m(rules, resource, protection=protection, setback_m=setback)
                for resource, setback in setbacks.items())
    halo = max(math.ceil(reach / resolution), 1 if "elevation" in rasters else 0)
    sun = _sun(site, p, transposition, decomposition, ghi_median if "ghi" in rasters else None)
    out = RenewableResult()
    put = on_raster or _Assembled(out.rasters, shape).put
    columns: dict[str, np.ndarray] = {}
    reason_cells: dict[tuple[str, int], list] = {}  # (resource, rule) -> [reason, cells, zone class]
    height, width = shape
    for window in strips(height, width, block_pixels):
        r0, r1 = int(window.row_off), int(window.row_off + window.height)
        e0, e1 = max(0, r0 - halo), min(height, r1 + halo)
        own = slice(r0 - e0, r1 - e0)
        part, cells, layers = _strip_potential(read(slice(e0, e1)), own, resolution, n_units, tables, setbacks,
                                               sun, gshp_ground)
        for name, values in part.items():
            columns[name] = columns[name] + values if name in columns else values
        for key, (text, count, zone_class) in cells.items():
            entry = reason_cells.setdefault(key, [text, 0, ""])
            entry[1] += count
            entry[2] = entry[2] or zone_class
        for name, layer in layers.items():
            put(name, slice(r0, r1), layer)
    if "heat_flow" in rasters:
        with np.errstate(invalid="ignore"):
            columns["deep_geothermal_temperature_c"] = columns["deep_geothermal_temperature_c"] / columns.pop(
                "deep_geothermal_cells")
    out.zone_reasons = _reason_table(reason_cells, resolution**2 / 1e6, p)
    out.buildings = rooftop
    out.per_unit = with_buildings(pd.DataFrame(columns), tables, rooftop=rooftop, unit_of_building=unit_of_building,
                                  floor_area_m2=floor_area_m2, climate_zone=climate_zone)
    return out


@dataclass(frozen=True)
class _Sun:
    """What ground PV needs of the sun, the same for every cell: the optimal tilt [degrees], the
    plane-of-array to horizontal ratio and the clear-sky GHI used without a GHI raster
    [kWh m-2 yr-1]."""

    tilt: float
    ratio: float
    default_ghi: float


def _sun(site: Site, p: dict[str, float], transposition: str, decomposition: str, ghi_median: float | None) -> _Sun:
    sky = {"clear_sky_index": p["clear_sky_index"], "albedo": p["albedo"], "transposition": transposition,
           "decomposition": decomposition}
    if ghi_median is not None:
        sky["clear_sky_index"] = clear_sky_index_of(site, ghi_median)
    tilt = optimal_tilt(site, **sky)
    ratio = transposition_table(site, tilt, site.equator_azimuth, **sky)[0]
    return _Sun(tilt, ratio, plane_of_array(site, 0, 180, **sky)[1])


class _Assembled:
    """Strips of rasters put together into whole arrays, in ``rasters``."""

    def __init__(self, rasters: dict, shape: tuple[int, int]):
        self.rasters, self.shape = rasters, shape

    def put(self, name: str, rows: slice, layer: tuple[np.ndarray, str, dict[str, float]]) -> None:
        data, unit, facts = layer
        if name not in self.rasters:
            self.rasters[name] = (np.empty(self.shape, dtype=data.dtype), unit, facts)
        self.rasters[name][0][rows] = data


def _strip_potential(inputs: StripInputs, own: slice, resolution: float, n_units: int, tables: RenewableTables,
                     setbacks: dict[str, float | None], sun: _Sun, gshp_ground: str
                     ) -> tuple[dict[str, np.ndarray], dict[tuple[str, int], list], dict[str, tuple]]:
    """One strip's per-unit sums, cells of each zone reason (by resource and rule: [reason, cells,
    zone class]) and rasters (its own rows), from its inputs with the rows around it."""
    p, rules, grid_factor = tables.parameters, tables.zoning_rules, tables.grid_factor
    categories, legend = inputs.categories, inputs.legend
    ghi, wind_speed = inputs.rasters.get("ghi"), inputs.rasters.get("wind_speed")
    elevation, heat_flow = inputs.rasters.get("elevation"), inputs.rasters.get("heat_flow")
    zones = inputs.zones.copy()
    zones[:own.start], zones[own.stop:] = -1, -1  # the rows around the strip count in their own strips
    cell_km2 = resolution**2 / 1e6
    valid = categories >= 0
    columns: dict[str, np.ndarray] = {}
    reason_cells: dict[tuple[str, int], list] = {}
    layers: dict[str, tuple[np.ndarray, str, dict[str, float]]] = {}
    # --------------------------------------------------------------- zones
    zone_of = {}
    for resource, setback in setbacks.items():
        zone, reason, texts, positions = control_zones(categories, legend, resolution, rules, resource=resource,
                                                       protection=inputs.protection, setback_m=setback, rows=own)
        zone_of[resource] = zone
        layers[f"zones_{resource}"] = (zone[own], "zone", {})
        for name, code in ZONE_CLASSES.items():
            columns[f"{resource}_{name}_km2"] = _per_unit((zone == code).astype(float), zones, n_units) * cell_km2
        counts = np.bincount(reason[own].ravel() + 1, minlength=len(texts) + 1)[1:]
        for i, (text, position) in enumerate(zip(texts, positions)):  # listed even where later rules took its cells
            entry = reason_cells.setdefault((resource, position), [text, 0, ""])
            entry[1] += int(counts[i])
            entry[2] = entry[2] or (_class_of(zone[own], reason[own], i) if counts[i] else "")
    # --------------------------------------------------------------- ground PV
    ghi_cells = ghi if ghi is not None else np.full(categories.shape, sun.default_ghi)
    terrain = np.ones(categories.shape, dtype=bool)
    if elevation is not None:
        terrain = ground_pv_usable(slope_degrees(elevation, resolution), aspect_degrees(elevation, resolution),
                                   max_slope=p["ground_max_slope_deg"], max_north_slope=p["ground_max_north_slope_deg"])
    mw_cell = cell_km2 * p["ground_capacity_mw_per_km2"]
    ground_mwh = np.where(valid & terrain, mw_cell * ghi_cells * sun.ratio * p["performance_ratio"], np.nan)
    zone = zone_of["ground_pv"]
    for name in ("suitable", "restricted"):
        where = (zone == ZONE_CLASSES[name]) & terrain
        columns[f"ground_pv_{name}_mw"] = _per_unit(where * mw_cell, zones, n_units)
        columns[f"ground_pv_{name}_gwh_yr"] = _per_unit(np.where(where, ground_mwh, 0.0), zones, n_units) / 1e3
    columns["ground_pv_suitable_co2_avoided_t_yr"] = columns["ground_pv_suitable_gwh_yr"] * 1e3 * grid_factor
    allowed = np.isin(zone, [ZONE_CLASSES["suitable"], ZONE_CLASSES["restricted"]])
    layers["ground_pv_yield"] = (np.where(allowed, ground_mwh, np.nan)[own] / cell_km2, "mwh_km2_yr",
                                 {"tilt": sun.tilt})
    del ground_mwh, terrain, allowed, ghi_cells
    # --------------------------------------------------------------- wind
    if wind_speed is not None:
        alpha = tables.wind_shear.reindex(legend).to_numpy(float)
        shear = np.where(valid, np.append(alpha, np.nan)[categories], np.nan)
        speed = hub_speed(wind_speed, shear, hub_m=p["turbine_hub_m"], reference_m=p["wind_reference_height_m"])
        density = air_density(elevation if elevation is not None else 0.0, sea_level=p["air_density_sea_level"],
                              scale_height_m=p["air_density_scale_height_m"]) * np.ones(categories.shape)
        k = p["weibull_shape"]
        cf = capacity_factor(np.nan_to_num(speed), density, tables.power_curve, k=k,
                             sea_level_density=p["air_density_sea_level"])
        cf = np.where(np.isfinite(speed), cf, np.nan)
        layers["wind_power_density"] = (weibull_power_density(speed, density, k=k)[own], "w_m2",
                                        {"hub": p["turbine_hub_m"]})
        del shear, speed, density
        mw_cell = cell_km2 * wind_capacity_mw_per_km2(
            p["turbine_rated_mw"], p["turbine_rotor_m"], spacing_diameters_sq=p["turbine_spacing_rotor_diameters"])
        wind_mwh = mw_cell * cf * 8760
        zone = zone_of["wind"]
        for name in ("suitable", "restricted"):
            where = zone == ZONE_CLASSES[name]
            columns[f"wind_{name}_mw"] = _per_unit(where * mw_cell, zones, n_units)
            columns[f"wind_{name}_gwh_yr"] = _per_unit(np.where(where, wind_mwh, 0.0), zones, n_units) / 1e3
        columns["wind_suitable_co2_avoided_t_yr"] = columns["wind_suitable_gwh_yr"] * 1e3 * grid_factor
        layers["wind_capacity_factor"] = (cf[own], "fraction", {})
        del cf, wind_mwh
    # --------------------------------------------------------------- shallow geothermal
    open_land = valid & ~np.isin(categories, [i for i, c in enumerate(legend) if c in ("water", "sea")])
    open_land &= zone_of["ground_pv"] != ZONE_CLASSES["prohibited"]
    heat_km2 = gshp_heat_mwh_per_km2(tables.gshp_extraction[gshp_ground], depth_m=p["gshp_borehole_depth_m"],
                                     spacing_m=p["gshp_borehole_spacing_m"],
                                     full_load_hours=p["gshp_full_load_hours"], cop=p["gshp_cop"])
    columns["gshp_heat_potential_gwh_yr"] = _per_unit(open_land * cell_km2 * heat_km2, zones, n_units) / 1e3
    # --------------------------------------------------------------- deep geothermal
    if heat_flow is not None:
        temperature = deep_temperature(heat_flow, conductivity=p["rock_thermal_conductivity"],
                                       surface_c=p["surface_temperature_c"], depth_m=p["deep_geothermal_depth_m"])
        index = geothermal_class(temperature, tables.geothermal_classes)
        layers["deep_geothermal_temperature"] = (temperature[own], "degc",
                                                 {"depth": p["deep_geothermal_depth_m"] / 1000})
        layers["deep_geothermal_class"] = (index[own], "class", {})
        columns["deep_geothermal_cells"] = _per_unit(np.isfinite(temperature).astype(float), zones, n_units)
        columns["deep_geothermal_temperature_c"] = _per_unit(temperature, zones, n_units)  # a sum until the end
    return columns, reason_cells, layers


def _reason_table(reason_cells: dict[tuple[str, int], list], cell_km2: float,
                  parameters: dict[str, float]) -> pd.DataFrame:
    """The zone-reason table: one row per resource and rule that applies, in the rules' order, each
    reason with the parameters it names (:func:`carbonmap.coefficients.with_parameters`: the setback's
    number of tip heights)."""
    resources = {"ground_pv": 0, "wind": 1}
    rows = [{"resource": resource, "reason": coefficients.with_parameters(text, parameters), "zone_class": zone_class,
             "area_km2": count * cell_km2}
            for (resource, _), (text, count, zone_class) in sorted(
                reason_cells.items(), key=lambda item: (resources[item[0][0]], item[0][1]))]
    return pd.DataFrame(rows, columns=["resource", "reason", "zone_class", "area_km2"])


#: The per-unit columns of the buildings, in their place among those of :func:`renewable_potential`.
_BUILDING_COLUMNS = {"rooftop_pv_mw": ("capacity_kwp", 1e-3), "rooftop_pv_gwh_yr": ("yield_kwh_yr", 1e-6),
                     "rooftop_pv_co2_avoided_t_yr": ("co2_avoided_t_yr", 1.0)}
_TOTALS = ("renewable_electricity_gwh_yr", "renewable_co2_avoided_t_yr")


def with_buildings(per_unit: pd.DataFrame, tables: RenewableTables, *, rooftop: gpd.GeoDataFrame | None = None,
                   unit_of_building: np.ndarray | None = None, floor_area_m2: np.ndarray | None = None,
                   climate_zone: str = "hot_summer_cold_winter") -> pd.DataFrame:
    r"""The per-unit columns of :func:`renewable_potential` with the buildings' rooftop PV and
    heating demand in their places, and the electricity totals (re)computed last.

    Parameters
    ----------
    per_unit : DataFrame
        One row per unit: the land's columns (of :func:`renewable_potential`, with or without
        buildings; their rooftop, heating and total columns are replaced).
    tables : RenewableTables
        For the grid emission factor and the heating demand per m2.
    rooftop, unit_of_building, floor_area_m2, climate_zone :
        As for :func:`renewable_potential`; without them, no rooftop or heating column.

    Returns
    -------
    DataFrame
        ``rooftop_pv_mw`` [MW], ``rooftop_pv_gwh_yr`` [GWh/yr] and
        ``rooftop_pv_co2_avoided_t_yr`` [t CO2/yr] before ``gshp_heat_potential_gwh_yr``;
        ``heating_demand_gwh_yr`` [GWh/yr] after it; and last ``renewable_electricity_gwh_yr``
        (rooftop PV, ground PV and wind in suitable zones) and ``renewable_co2_avoided_t_yr``.

    Notes
    -----
    A run computes the land's rasters first and reads the buildings after, so that the two
    never hold memory at once; both ways give these columns in this order.

    .. math:: E = E_{rooftop} + E_{ground, suitable} + E_{wind, suitable}, \qquad A_{CO_2} = E \, f_{grid}
    """
    n = len(per_unit)
    land = per_unit.drop(columns=[*_BUILDING_COLUMNS, "heating_demand_gwh_yr", *_TOTALS], errors="ignore")
    at = land.columns.get_loc("gshp_heat_potential_gwh_yr")
    columns = {c: land[c].to_numpy() for c in land.columns[:at]}
    if rooftop is not None:
        inside = unit_of_building >= 0
        for column, (source, scale) in _BUILDING_COLUMNS.items():
            columns[column] = np.bincount(unit_of_building[inside], weights=rooftop[source].to_numpy()[inside],
                                          minlength=n)[:n] * scale
    columns["gshp_heat_potential_gwh_yr"] = land["gshp_heat_potential_gwh_yr"].to_numpy()
    if floor_area_m2 is not None and unit_of_building is not None:
        inside = unit_of_building >= 0
        demand = np.bincount(unit_of_building[inside], weights=floor_area_m2[inside], minlength=n)[:n]
        columns["heating_demand_gwh_yr"] = demand * tables.heating_demand[climate_zone] / 1e6
    columns.update({c: land[c].to_numpy() for c in land.columns[at + 1:]})
    electricity = [c for c in ("rooftop_pv_gwh_yr", "ground_pv_suitable_gwh_yr", "wind_suitable_gwh_yr")
                   if c in columns]
    columns["renewable_electricity_gwh_yr"] = pd.DataFrame({c: columns[c] for c in electricity}).sum(axis=1).to_numpy()
    columns["renewable_co2_avoided_t_yr"] = columns["renewable_electricity_gwh_yr"] * 1e3 * tables.grid_factor
    return pd.DataFrame(columns, index=per_unit.index)


def _class_of(zone: np.ndarray, reason: np.ndarray, i: int) -> str:
    codes = np.unique(zone[reason == i])
    names = {v: k for k, v in ZONE_CLASSES.items()}
    return names[int(codes[0])] if codes.size else ""
