"""The project file: one TOML file naming a run's inputs, grid, coefficients and outputs.

A minimal project::

    [project]
    name = "Olinda"
    output_dir = "out/olinda"          # relative to this file's folder

    [grid]
    crs = "auto"                        # or a projected CRS in metres, e.g. "EPSG:4547"
    resolution_m = 30

    [units]                             # planning units
    path = "tracts.gpkg"
    id_field = "CD_GEOCODI"
    name_field = "NM_BAIR"

    [[rasters]]                         # rasters summarised per planning unit
    name = "elevation"
    path = "dem.tif"
    kind = "continuous"
    unit = "m"
    stats = ["mean", "min", "max"]

Paths are relative to the project file's folder. Every key is checked: an unknown key, a
missing required key, a wrong type or a file that does not exist raises
:class:`~carbonmap.errors.ConfigError` (or :class:`~carbonmap.errors.InputNotFoundError`)
naming the project file and the key (``rasters[1].path``, and for a ``[[section]]`` entry which one
as a person counts it: ``in the 2nd [[rasters]] entry (name "ndvi", path "ndvi.tif")``), with the fix.

Later stages add their own sections; each section is a dataclass here, listed in
:class:`Project`, so the schema is in one place.
"""

from __future__ import annotations

import codecs
import difflib
import re
import tomllib
import types
import typing
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from pyproj import CRS
from pyproj.exceptions import CRSError as PyprojCRSError

from carbonmap.compute import ComputeSettings, check_settings, settings_fix
from carbonmap.errors import (
    CarbonmapError,
    ConfigError,
    InputError,
    InputNotFoundError,
    compose_message,
)
from carbonmap.grid import RASTER_KINDS, RESAMPLING_METHODS
from carbonmap.io import decode_text
from carbonmap.landscape.network import NetworkSettings
from carbonmap.landuse import CODE_SYSTEMS
from carbonmap.words import LANGUAGES, Text
from carbonmap.zonal import validate_stats

__all__ = [
    "BalanceSection",
    "BlueCarbonSection",
    "BuildingsSection",
    "CompensationSection",
    "EmissionsSection",
    "GridSection",
    "InventorySection",
    "MonitoringSection",
    "OutputsSection",
    "ParcelsSection",
    "PointSourcesSection",
    "Project",
    "ProjectSection",
    "RasterInput",
    "RoadsSection",
    "SinksSection",
    "StocksSection",
    "TargetsSection",
    "UncertaintySection",
    "UnitsSection",
    "VectorInput",
    "load_project",
    "parse_project",
]


@dataclass(frozen=True)
class ProjectSection:
    """[project]: the run's name, where it writes, and the year its data describe.

    name : the run's name, the title of its map and report: one string for both languages, or one
        per language, ``{ zh = "示范城市", en = "Demo city" }``.
    year : the year of the run's data (its inventory and land cover); recorded in ``run.json`` so
        that ``carbonmap compare`` can place runs in time (default: the [timeline] base year).
    """

    name: str | Text
    output_dir: Path = Path("out")
    year: int | None = None


@dataclass(frozen=True)
class GridSection:
    """[grid]: the analysis grid (see :func:`carbonmap.grid.analysis_grid`).

    crs : "auto" (Albers equal-area centred on the planning units) or a projected CRS in
        metres ("EPSG:4547").
    resolution_m : cell size [m].
    """

    resolution_m: float
    crs: str = "auto"


@dataclass(frozen=True)
class UnitsSection:
    """[units]: the planning units every layer is summarised by.

    encoding : text encoding of the attributes when the file declares none (e.g. "gbk"); default:
        the file's own, else UTF-8, else GB18030 with a warning (:func:`carbonmap.io.read_vector`).
    name_field : the field of each unit's readable name; or one field per language,
        ``{ zh = "name_zh", en = "name_en" }`` (a :class:`Text` of field names): the outputs then
        name the units in the language they are written in.
    """

    path: Path
    id_field: str | None
    layer: str | None = None
    name_field: str | Text | None = None
    population_field: str | None = None
    gdp_field: str | None = None
    gdp_unit: str = "cny_1e8"
    assume_crs: str | None = None
    datum: str = "wgs84"
    encoding: str | None = None


@dataclass(frozen=True)
class RasterInput:
    """[[rasters]]: a raster aligned to the grid and summarised per unit.

    kind : "continuous" (stats per unit) or "categorical" (area per class per unit).
    unit : unit of the values, used in column names ("m", "t_c_ha"); "" for unitless.
    stats : for continuous rasters, statistics from :data:`carbonmap.zonal.STATS`.
    code_system : for categorical rasters, the code system of the classes (e.g. "clcd"); every
        code is checked, and per-unit columns are named by class instead of by code.
    resampling : optional override of the default resampling for `kind`.
    title : the layer's title in the map, report and tables (default: from `name`): one string for
        both languages, or one per language, ``{ zh = "2023年土地覆被", en = "Land cover 2023" }``.
    """

    name: str
    path: Path
    kind: str = "continuous"
    unit: str = ""
    band: int = 1
    stats: list[str] = field(default_factory=lambda: ["mean"])
    resampling: str | None = None
    assume_crs: str | None = None
    title: str | Text | None = None
    code_system: str | None = None


@dataclass(frozen=True)
class VectorInput:
    """[[vectors]]: an input layer shown in the one map (and copied into onemap.gpkg).

    column : attribute the layer is coloured by (optional).
    kind : "categorical" (a colour per value) or "continuous" (a colour ramp).
    group : map group: "inputs" or "zones".
    encoding : text encoding of the attributes when the file declares none (e.g. "gbk"); default:
        the file's own, else UTF-8, else GB18030 with a warning (:func:`carbonmap.io.read_vector`).
    title : as [[rasters]] title: one string, or ``{ zh = "...", en = "..." }``.
    """

    name: str
    path: Path
    layer: str | None = None
    title: str | Text | None = None
    column: str | None = None
    kind: str = "categorical"
    group: str = "inputs"
    assume_crs: str | None = None
    encoding: str | None = None


@dataclass(frozen=True)
class ParcelsSection:
    """[parcels]: land-use parcels and their code system (see :mod:`carbonmap.landuse`).

    encoding : text encoding of the attributes when the file declares none (e.g. "gbk"); default:
        the file's own, else UTF-8, else GB18030 with a warning (:func:`carbonmap.io.read_vector`).
    """

    path: Path
    code_field: str
    code_system: str
    layer: str | None = None
    crosswalk: Path | None = None
    assume_crs: str | None = None
    encoding: str | None = None


@dataclass(frozen=True)
class BuildingsSection:
    """[buildings]: footprints with floors (or a height) and a use.

    encoding : text encoding of the attributes when the file declares none (e.g. "gbk"); default:
        the file's own, else UTF-8, else GB18030 with a warning (:func:`carbonmap.io.read_vector`).
    """

    path: Path
    layer: str | None = None
    floors_field: str | None = "floors"
    height_field: str | None = None
    storey_height_m: float = 3.0
    use_field: str = "use"
    assume_crs: str | None = None
    encoding: str | None = None

    @property
    def fields(self) -> list[str]:
        """The fields the layer must have for floor areas: the use, the height when one is named, and
        the floors when no height is (with a height, floors are optional: the height fills them in)."""
        floors = None if self.height_field else self.floors_field
        return [name for name in (self.use_field, self.height_field, floors) if name]


@dataclass(frozen=True)
class RoadsSection:
    """[roads]: road centre lines with a class.

    encoding : text encoding of the attributes when the file declares none (e.g. "gbk"); default:
        the file's own, else UTF-8, else GB18030 with a warning (:func:`carbonmap.io.read_vector`).
    """

    path: Path
    layer: str | None = None
    class_field: str = "road_class"
    assume_crs: str | None = None
    encoding: str | None = None


@dataclass(frozen=True)
class PointSourcesSection:
    """[point_sources]: large emitters with known emissions [t CO2/yr] and their sector.

    encoding : text encoding of the attributes when the file declares none (e.g. "gbk"); default:
        the file's own, else UTF-8, else GB18030 with a warning (:func:`carbonmap.io.read_vector`).
    """

    path: Path
    layer: str | None = None
    emissions_field: str = "co2_t_yr"
    sector_field: str = "sector"
    assume_crs: str | None = None
    encoding: str | None = None


@dataclass(frozen=True)
class InventorySection:
    """[inventory]: the city's emission inventory (CSV: sector, sub_sector, co2_t_yr, year).

    allow_unallocated : accept inventory rows that no proxy feature can take (e.g. a sub-sector
        the buildings do not have); they are then warned about at the end of the run and recorded.
        Without it, such rows are an error listing each of them.
    """

    path: Path
    allow_unallocated: bool = False


@dataclass(frozen=True)
class EmissionsSection:
    """[emissions]: settings of the emissions stage.

    grid_resolution_m : cell size of the gridded emissions raster [m].
    coefficients, road_weights : override tables (see :mod:`carbonmap.coefficients`).
    proxies : sector -> proxy (see :data:`carbonmap.emissions.PROXY_CHOICES`).
    """

    grid_resolution_m: float = 100.0
    coefficients: Path | None = None
    road_weights: Path | None = None
    proxies: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StocksSection:
    """[stocks]: carbon stocks by pool (see :mod:`carbonmap.stocks`).

    pools : pool table (lucode, c_above, c_below, c_soil, c_dead; t C/ha).
    baseline, alternative : names of categorical [[rasters]] entries (land cover).
    price_per_t_c, discount_rate_pct, price_change_pct, baseline_year, alternative_year :
        optional valuation (all five, or none).
    """

    pools: Path
    baseline: str
    alternative: str | None = None
    price_per_t_c: float | None = None
    discount_rate_pct: float | None = None
    price_change_pct: float | None = None
    baseline_year: int | None = None
    alternative_year: int | None = None


@dataclass(frozen=True)
class SinksSection:
    """[sinks]: how the balance's sinks are computed (see :mod:`carbonmap.sinks`).

    method : "coefficient" (per-class coefficients on parcels) or "nep" (NPP - Rh on
        vegetated land, from [[rasters]] named by npp, temperature, precipitation and
        landcover, the last with a code_system).
    wetlands : optional polygons of coastal wetlands with a type field (mangrove,
        salt_marsh, seagrass, tidal_flat), credited with IPCC blue-carbon rates.
    wetlands_encoding : the wetlands' attribute encoding, as [units] encoding.
    """

    method: str = "coefficient"
    npp: str | None = None
    temperature: str | None = None
    precipitation: str | None = None
    landcover: str | None = None
    wetlands: Path | None = None
    wetlands_layer: str | None = None
    wetland_type_field: str = "wetland_type"
    wetlands_encoding: str | None = None


@dataclass(frozen=True)
class LandscapeSection:
    """[landscape]: ecological patches and fragmentation (see :mod:`carbonmap.landscape`).

    landcover : name of a categorical [[rasters]] entry with a code_system.
    compare_with : optional earlier land cover (a [[rasters]] name): metrics at both dates
        and their change, read in plain language.
    ecological_codes : codes counted as ecological land (default: the code system's
        ``ecological`` flag: forest, shrub, grassland, wetlands, water).
    neighbours : patch rule, 8 or 4. edge_depth_m : core-area edge depth (default one cell).
    min_patch_area_ha : smaller ecological patches are not drawn on the map.
    window_metric, window_radius_m : the fragmentation hot-spot raster: "ED" (edge density
        of ecological land, m/ha) or "PLAND" (its share, %) within the radius.
    """

    landcover: str
    compare_with: str | None = None
    ecological_codes: list[int] | None = None
    neighbours: int = 8
    edge_depth_m: float | None = None
    min_patch_area_ha: float = 1.0
    window_metric: str = "ED"
    window_radius_m: float = 500.0


@dataclass(frozen=True)
class RenewablesSection:
    """[renewables]: the renewable potential map (see :mod:`carbonmap.renewables`).

    landcover : a categorical [[rasters]] entry with a code_system (zoning, wind shear).
    ghi, wind_speed, dem, heat_flow : optional continuous [[rasters]] entries: annual GHI
        [kWh m-2 yr-1] (without it, pvlib clear-sky x the clear-sky index), mean wind speed
        [m s-1] at ``wind_reference_height_m``, elevation [m], heat flow [mW m-2].
    protection_zones, protection_zones_layer, protection_field : polygons of protection zones
        whose field holds the zone names the zoning rules use (protection_zones_encoding: their
        attribute encoding, as [units] encoding).
    rooftop : rooftop PV on the [buildings] footprints (roof_field: "flat" / "pitched").
    gshp_ground, climate_zone : rows of gshp_extraction.csv and heating_demand.csv.
    grid, grid_year : the grid emission factor for CO2 avoided (a row of grid_emission_factors.csv).
    transposition : the transposition model of rooftop and ground PV: "perez" (default),
        "haydavies" or "isotropic".
    decomposition : how the all-sky year (the clear-sky year scaled to the clear-sky index, or to
        the ghi raster) is split into beam and diffuse: "erbs_monthly" (default), "clear_sky",
        or an hourly model: "erbs", "erbs_driesse", "boland", "disc", "dirint", "dirindex".
    parameters, zoning_rules, rooftop_usable, wind_shear, power_curve, gshp_extraction,
        heating_demand, geothermal_classes, grid_factors : CSVs overriding rows of
        renewable_parameters.csv, renewable_zoning_rules.csv, rooftop_pv_usable.csv,
        wind_shear_exponents.csv, wind_power_curve.csv, gshp_extraction.csv, heating_demand.csv,
        geothermal_classes.csv and grid_emission_factors.csv.
    """

    landcover: str
    ghi: str | None = None
    wind_speed: str | None = None
    dem: str | None = None
    heat_flow: str | None = None
    protection_zones: Path | None = None
    protection_zones_layer: str | None = None
    protection_field: str = "zone"
    protection_zones_encoding: str | None = None
    rooftop: bool = True
    roof_field: str | None = "roof"
    gshp_ground: str = "normal"
    climate_zone: str = "hot_summer_cold_winter"
    grid: str = "china_national"
    grid_year: int | None = None
    parameters: Path | None = None
    zoning_rules: Path | None = None
    rooftop_usable: Path | None = None
    wind_shear: Path | None = None
    power_curve: Path | None = None
    gshp_extraction: Path | None = None
    heating_demand: Path | None = None
    geothermal_classes: Path | None = None
    grid_factors: Path | None = None
    transposition: str = "perez"
    decomposition: str = "erbs_monthly"


#: The [renewables] keys that name override tables.
RENEWABLE_TABLE_KEYS = ("parameters", "zoning_rules", "rooftop_usable", "wind_shear", "power_curve",
                        "gshp_extraction", "heating_demand", "geothermal_classes", "grid_factors")


@dataclass(frozen=True)
class ScreeningSection:
    """[screening]: where to act first (see :mod:`carbonmap.screening`).

    landcover : a categorical [[rasters]] entry with a code_system (afforestation rules by class).
    dem, precipitation, ndvi : optional continuous [[rasters]] entries: elevation [m] (slope
        rules), annual precipitation [mm] (trees, shrubs or grass), NDVI (sparse grassland).
    tree_type : vegetation type planted where trees grow (a row of afforestation_growth.csv).
    protection_zones, protection_zones_layer, protection_field : polygons whose field holds
        zone names: afforestation rules exclude some, rooftops exclude ``rooftop_exclusion_zones``.
    vacated_land, vacated_land_layer : polygons of vacated land (腾退用地, abandoned mining or
        industrial sites) eligible for planting whatever their class.
    protection_zones_encoding, vacated_land_encoding : attribute encodings of those layers, as
        [units] encoding.
    rooftop_uses : building uses whose roofs are screened (default: all).
    top_n : the n best roofs per unit in the top tables and on the map.
    budget_area_ha, budget_cny : budgets of the budgeted restoration scenarios (default: the
        share ``restoration_default_budget_share`` of all candidate area).
    parameters, rules, site_preparation, growth : CSVs overriding rows of
        screening_parameters.csv, afforestation_rules.csv, afforestation_site_preparation.csv
        and afforestation_growth.csv.
    eligibility : a rule set of afforestation_eligibility.csv applied after the technical rules
        (e.g. "ccer_2023": land creditable under China's 2023 afforestation methodology).
    earlier_landcover, earlier_landcover_year : an earlier categorical [[rasters]] entry (with a
        code_system) and its year, for the rule that the land was not forest in the years before
        (without it that rule is reported as not checked).
    project_start_year : the year the afforestation project starts (the parcel-size rule:
        667 m2 up to 2019, 400 m2 after; default a new project).
    eligibility_rules : a CSV overriding rows of afforestation_eligibility.csv.
    """

    landcover: str
    dem: str | None = None
    precipitation: str | None = None
    ndvi: str | None = None
    tree_type: str = "broadleaf_subtropical"
    protection_zones: Path | None = None
    protection_zones_layer: str | None = None
    protection_field: str = "zone"
    protection_zones_encoding: str | None = None
    vacated_land: Path | None = None
    vacated_land_layer: str | None = None
    vacated_land_encoding: str | None = None
    rooftop_uses: list[str] | None = None
    rooftop_exclusion_zones: list[str] = field(default_factory=lambda: ["heritage"])
    top_n: int = 10
    budget_area_ha: float | None = None
    budget_cny: float | None = None
    parameters: Path | None = None
    rules: Path | None = None
    site_preparation: Path | None = None
    growth: Path | None = None
    eligibility: str | None = None
    earlier_landcover: str | None = None
    earlier_landcover_year: int | None = None
    project_start_year: int | None = None
    eligibility_rules: Path | None = None


@dataclass(frozen=True)
class TimelineSection:
    """[timeline]: the baseline of the scenarios and the road to 2060 (see :mod:`carbonmap.scenarios`).

    landcover : the base-year land cover (a categorical [[rasters]] entry with a code_system).
    base_year, end_year : the trajectories' first and last years.
    previous, previous_year : an earlier land cover and its year, for the Markov projection of
        scenarios with ``markov_year``.
    annual_change_pct : the baseline's annual change of sources by sector (or "all"), as
        [[from_year, percent_per_year], ...].
    sink_growth_pct : the baseline's annual growth of the existing sink [%].
    stages, parameters : CSVs overriding rows of planning_stages.csv and scenario_parameters.csv.
    """

    landcover: str
    base_year: int = 2023
    end_year: int = 2060
    previous: str | None = None
    previous_year: int | None = None
    annual_change_pct: dict[str, list[list[float]]] = field(default_factory=dict)
    sink_growth_pct: float = 0.0
    stages: Path | None = None
    parameters: Path | None = None


@dataclass(frozen=True)
class ScenarioInput:
    """[[scenarios]]: one planning scenario, a set of changes to the baseline.

    name, title : an identifier and a readable title (one string, or ``{ zh = "...", en = "..." }``).
    target_year : the year its measures are fully in place (rolled out linearly from the base year).
    markov_year : project the baseline land cover to this year with the Markov chain ([timeline] previous).
    afforestation, afforestation_to : plant the sites of a screening scenario (all_suitable,
        top_ranked or connectivity_first) as this land-cover code.
    convert, convert_layer, convert_to, convert_from : polygons whose cells (of the codes
        convert_from, when given) become the code convert_to (e.g. planned built-up land, wetland
        restoration); convert_encoding: their attribute encoding, as [units] encoding.
    sector_change_pct : one-off change of sources by sector (or "all") [%], e.g. {buildings = -15}.
    annual_change_pct : annual change of sources by sector, overriding the baseline's sectors.
    sink_growth_pct : annual growth of the existing sink (default: the baseline's).
    rooftop_pv_share : share of the screened rooftop PV packages built (0-1).
    allocation : where the land-use demand of ``markov_year`` goes: "markov" (the simple
        suitability allocation) or "plus" (the land-use simulator of :mod:`carbonmap.scenarios.plus`,
        calibrated on [timeline] previous -> landcover).
    drivers : with allocation = "plus", [[rasters]] entries (continuous) that drive the change; the
        distance to every land-cover class, and slope and elevation of a [network] or [screening]
        dem, are added.
    demand : "markov" (default), "trend" (linear), "table" (demand_table: code, area_ha) or
        "optimise" (linear programming: the most carbon storage under demand_constraints).
    demand_table : CSV of code, area_ha in markov_year (demand = "table").
    demand_constraints : with demand = "optimise", [{codes = [...], min_ha = .., max_ha = ..}, ...].
    demand_max_change_pct : with demand = "optimise", each class within +/- this share of today's area.
    conversion : CSV conversion matrix (from_code, to_<code>, ... with 1 or 0).
    restricted, restricted_layer : polygons never converted (ecological red line, permanent basic
        farmland, water bodies).
    neighbourhood_weights : neighbourhood weight per class code (0-1), e.g. {"8" = 1.0, "2" = 0.5}.
    reference : a categorical [[rasters]] entry, the real land cover of markov_year: the simulation
        is validated against it (Figure of Merit, Kappa, disagreement, FRAGSTATS class metrics).
    """

    name: str
    title: str | Text = ""
    target_year: int = 2030
    markov_year: int | None = None
    afforestation: str | None = None
    afforestation_to: int | None = None
    convert: Path | None = None
    convert_layer: str | None = None
    convert_encoding: str | None = None
    convert_to: int | None = None
    convert_from: list[int] | None = None
    sector_change_pct: dict[str, float] = field(default_factory=dict)
    annual_change_pct: dict[str, list[list[float]]] = field(default_factory=dict)
    sink_growth_pct: float | None = None
    rooftop_pv_share: float = 0.0
    allocation: str = "markov"
    drivers: list[str] = field(default_factory=list)
    demand: str = "markov"
    demand_table: Path | None = None
    demand_constraints: list[dict] = field(default_factory=list)
    demand_max_change_pct: float | None = None
    conversion: Path | None = None
    restricted: Path | None = None
    restricted_layer: str | None = None
    neighbourhood_weights: dict[str, float] = field(default_factory=dict)
    reference: str | None = None


@dataclass(frozen=True, kw_only=True)
class NetworkSection(NetworkSettings):
    """[network]: the ecological security pattern (see :mod:`carbonmap.landscape.network`).

    landcover : a categorical [[rasters]] entry with a code_system. dem : optional continuous
    [[rasters]] entry (elevation, m) for the slope modifier. use_roads : apply the road
    modifier with the [roads] lines. ecological_codes : codes of ecological land (default:
    the code system's flag). resistance : optional CSV overriding rows of the resistance
    table. modifiers : overrides of the resistance modifiers. The other keys (and their
    defaults) are those of :class:`~carbonmap.landscape.network.NetworkSettings`.
    """

    landcover: str
    dem: str | None = None
    use_roads: bool = True
    ecological_codes: list[int] | None = None
    resistance: Path | None = None
    modifiers: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class BalanceSection:
    """[balance]: override tables for balance classes and efficiency bands."""

    classes: Path | None = None
    bands: Path | None = None


@dataclass(frozen=True)
class CompensationSection:
    """[compensation]: carbon compensation zoning and network (see :mod:`carbonmap.compensation`).

    corrections : coefficients the compensation rate is corrected by: "economic" (needs
        [units] gdp_field) and/or "ecological"; none by default.
    classes : override of compensation_classes.csv (paying / balanced / receiving by rate).
    parameters : override of compensation_parameters.csv (bounds of the correction coefficients).
    carbon_price : a price [CNY/t CO2], or a row of carbon_prices.csv as "market:year"
        (e.g. "china_national_ets:2024"); none by default: no money columns.
    restriction : "none", "neighbours" (only units sharing a boundary) or "zone" (only units in
        the same zone of zone_field).
    zone_field : the units' field of main functional zones (主体功能区), for restriction "zone".
    cost : a CSV of payer_id, receiver_id, cost (per t CO2) used instead of centroid distances.
    """

    corrections: list[str] = field(default_factory=list)
    classes: Path | None = None
    parameters: Path | None = None
    carbon_price: float | str | None = None
    restriction: str = "none"
    zone_field: str | None = None
    cost: Path | None = None


@dataclass(frozen=True)
class TargetsSection:
    """[targets]: targets per unit or citywide, checked against the baseline and the scenarios
    (:mod:`carbonmap.targets`).

    table : the targets table (CSV: ``unit_id``, ``*`` for citywide, and target columns such as
        ``peak_year``, ``intensity_reduction_2030_pct``, ``forest_cover_pct``,
        ``ecological_land_pct``, ``renewable_capacity_mw``; optional ``base_year``, ``gdp_growth_pct``).
    landcover : the categorical raster whose class areas give forest cover (default: [timeline]'s
        or [landscape]'s land cover, else the raster with the latest year in its name).
    forest_classes : the land-cover classes that count as forest.
    parameters : an override of ``target_parameters.csv`` (default GDP growth).
    """

    table: Path
    landcover: str | None = None
    forest_classes: list[str] = field(default_factory=lambda: ["forest"])
    parameters: Path | None = None


@dataclass(frozen=True)
class UncertaintySection:
    """[uncertainty]: Monte Carlo (Latin hypercube) through the accounting, with sensitivity
    (:mod:`carbonmap.uncertainty`).

    draws : the number of draws (at least 2; 1000 by default).
    seed : the seed of the sample (the same seed gives the same intervals).
    ranges : an override of ``coefficient_uncertainty.csv`` (rows by table and key).
    """

    draws: int = 1000
    seed: int = 0
    ranges: Path | None = None


@dataclass(frozen=True)
class MonitoringSection:
    """[monitoring]: earlier complete runs to compare this project's outputs with
    (``carbonmap compare``), and an override of the warning thresholds.

    runs : output folders of earlier complete runs (relative to the project file).
    thresholds : an override of ``monitoring_thresholds.csv``.
    """

    runs: list[Path] = field(default_factory=list)
    thresholds: Path | None = None


@dataclass(frozen=True)
class OutputsSection:
    """[outputs]: which products to write, and the HTML map's options.

    html_budget_mb : size budget of onemap.html; over it, the map is drawn with less detail
        (:data:`carbonmap.webmap.DETAIL_LEVELS`).
    basemaps : tile basemaps offered in the HTML map (off by default; they need a network).
    tianditu_key : a Tianditu API key, to offer the Tianditu basemap.
    save_state : save each stage's result as data (OUT/.carbonmap/state), for ``run --only``
        (13 MB for the demo city).
    language : "zh" or "en": the language of everything a reader sees (``carbonmap run --lang``).
    """

    gpkg: bool = True
    html: bool = True
    report: bool = True
    html_budget_mb: float = 15.0
    basemaps: list[str] = field(default_factory=lambda: ["OpenStreetMap"])
    tianditu_key: str | None = None
    save_state: bool = True
    language: str = "en"


@dataclass(frozen=True)
class BlueCarbonSection:
    """[blue_carbon]: coastal blue carbon over time, InVEST's transition model (see :mod:`carbonmap.blue_carbon`).

    snapshots : the land-cover snapshots by year, as {2015 = "landcover_2015", 2023 = "landcover_2023"}
        naming categorical [[rasters]] entries, or the path of InVEST's snapshot table (CSV:
        snapshot_year, raster_path; paths relative to it). The earliest is the baseline.
    biophysical : biophysical table (CSV, InVEST's columns; stocks in t CO2/ha, rates in t CO2/ha/yr).
    transitions : transition table (CSV: lulc-class, then one column per class; accum,
        low-/med-/high-impact-disturb, NCC or empty).
    analysis_year : the last year (after the last snapshot; default: the last snapshot's year,
        required with one snapshot).
    discount_rate_pct : optional valuation: the annual discount rate [%], with either
        price_per_t_co2 [CNY/t CO2 in the baseline year] and price_change_pct [%/yr], or prices
        (CSV: year, price in CNY/t CO2).
    convention : "invest" (InVEST's code, the default) or "user_guide" (its user guide's
        definitions), where the two differ.
    """

    snapshots: Path | dict[str, str]
    biophysical: Path
    transitions: Path
    analysis_year: int | None = None
    discount_rate_pct: float | None = None
    price_per_t_co2: float | None = None
    price_change_pct: float = 0.0
    prices: Path | None = None
    convention: str = "invest"


@dataclass(frozen=True)
class Project:
    """A parsed, validated project file."""

    path: Path
    project: ProjectSection
    grid: GridSection
    units: UnitsSection
    rasters: list[RasterInput] = field(default_factory=list)
    vectors: list[VectorInput] = field(default_factory=list)
    parcels: ParcelsSection | None = None
    buildings: BuildingsSection | None = None
    roads: RoadsSection | None = None
    point_sources: PointSourcesSection | None = None
    inventory: InventorySection | None = None
    emissions: EmissionsSection = field(default_factory=EmissionsSection)
    stocks: StocksSection | None = None
    sinks: SinksSection = field(default_factory=SinksSection)
    blue_carbon: BlueCarbonSection | None = None
    landscape: LandscapeSection | None = None
    network: NetworkSection | None = None
    renewables: RenewablesSection | None = None
    screening: ScreeningSection | None = None
    timeline: TimelineSection | None = None
    scenarios: list[ScenarioInput] = field(default_factory=list)
    balance: BalanceSection = field(default_factory=BalanceSection)
    compensation: CompensationSection | None = None
    targets: TargetsSection | None = None
    monitoring: MonitoringSection | None = None
    uncertainty: UncertaintySection | None = None
    outputs: OutputsSection = field(default_factory=OutputsSection)
    compute: ComputeSettings = field(default_factory=ComputeSettings)

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def output_dir(self) -> Path:
        return self.project.output_dir

    def with_language(self, language: str) -> Project:
        """A copy whose outputs are in `language` (the CLI's --lang)."""
        from dataclasses import replace

        return replace(self, outputs=replace(self.outputs, language=language))

    def with_output_dir(self, output_dir: Path) -> Project:
        """A copy writing to `output_dir` instead (the CLI's --out)."""
        from dataclasses import replace

        return replace(self, project=replace(self.project, output_dir=Path(output_dir)))

    def with_compute(self, **changes: Any) -> Project:
        """A copy whose [compute] settings take `changes` (the CLI's --scheduler, --workers, --memory-limit).

        Raises :class:`ConfigError` naming the option (``--workers``) of a value that is not usable.
        """
        from dataclasses import replace

        settings = replace(self.compute, **changes)
        for key, problem, example in check_settings(settings):
            raise ConfigError(f"option --{key.replace('_', '-')}: {problem}",
                              fix=settings_fix(key, example, option=True))
        return replace(self, compute=settings)

    def with_monitoring(self, runs: list[Path]) -> Project:
        """A copy compared with the earlier complete runs in `runs` ([monitoring] runs; ``carbonmap demo``)."""
        from dataclasses import replace

        section = self.monitoring if self.monitoring is not None else MonitoringSection()
        return replace(self, monitoring=replace(section, runs=[Path(r) for r in runs]))


_SECTIONS: dict[str, tuple[type, bool]] = {  # name -> (dataclass, is a list of tables)
    "project": (ProjectSection, False),
    "grid": (GridSection, False),
    "units": (UnitsSection, False),
    "rasters": (RasterInput, True),
    "vectors": (VectorInput, True),
    "parcels": (ParcelsSection, False),
    "buildings": (BuildingsSection, False),
    "roads": (RoadsSection, False),
    "point_sources": (PointSourcesSection, False),
    "inventory": (InventorySection, False),
    "emissions": (EmissionsSection, False),
    "stocks": (StocksSection, False),
    "sinks": (SinksSection, False),
    "blue_carbon": (BlueCarbonSection, False),
    "landscape": (LandscapeSection, False),
    "network": (NetworkSection, False),
    "renewables": (RenewablesSection, False),
    "screening": (ScreeningSection, False),
    "timeline": (TimelineSection, False),
    "scenarios": (ScenarioInput, True),
    "balance": (BalanceSection, False),
    "compensation": (CompensationSection, False),
    "targets": (TargetsSection, False),
    "monitoring": (MonitoringSection, False),
    "uncertainty": (UncertaintySection, False),
    "outputs": (OutputsSection, False),
    "compute": (ComputeSettings, False),
}


def load_project(path: str | Path, *, problems: list[CarbonmapError] | None = None) -> Project | None:
    """Read and validate a project file.

    Raises the first problem found (:class:`ConfigError`, :class:`InputNotFoundError`). With a
    `problems` list, every problem is appended to it instead and the checks go on (``carbonmap
    validate``); the project is then returned when its [project], [grid] and [units] sections
    could be read (sections or entries that could not be are left out), else None.
    """
    report = _report_to(problems)
    path = Path(path)
    if not path.exists():
        return report(InputNotFoundError("project file not found.", path=path,
                                         fix="check the path; `carbonmap demo` shows a working example."))
    try:
        text = decode_text(path.read_bytes(), path=path)  # UTF-8, with or without a byte-order mark
    except InputError as exc:
        error = ConfigError(exc.problem, path=path, fix="save it as UTF-8 (Notepad, WPS or VS Code: Save As, "
                            "encoding UTF-8); TOML project files are always UTF-8.")
        return report(error)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        error = ConfigError(f"is not valid TOML: {exc}.", path=path,
                            fix="fix the syntax (strings need quotes; tables are [name]).")
        error.__cause__ = exc
        return report(error)
    return parse_project(data, path, problems=problems)


def _report_to(problems: list[CarbonmapError] | None):
    """How the checks report a problem: raise it, or (with a list) append it and go on."""
    if problems is None:
        return _raise
    return problems.append


def _raise(error: CarbonmapError) -> None:
    raise error


#: What :func:`_coerce` returns, when collecting problems, for a value of the wrong type.
_INVALID = object()


def parse_project(data: dict[str, Any], path: Path, *, problems: list[CarbonmapError] | None = None
                  ) -> Project | None:
    """Validate a project file's parsed TOML (`path` is used for messages and relative paths).

    Raises the first problem, or appends every problem to `problems` (see :func:`load_project`).
    """
    report = _naming_entries(_report_to(problems), data)
    path = Path(path).resolve()
    _reject_unknown(data, _SECTIONS, "", path, report)
    built: dict[str, Any] = {}
    unreadable: list[str] = []  # how to mention the sections and entries that cannot be built (when collecting)
    positions: dict[str, list[int]] = {}  # [[section]] -> the file's index of each entry built
    for name, (cls, is_list) in _SECTIONS.items():
        required = any(f.default is MISSING and f.default_factory is MISSING
                       for f in fields(Project) if f.name == name)
        if name not in data:
            if required:
                report(ConfigError(f"the [{name}] section is missing.", path=path, key=name,
                                   fix=f"add a [{name}] section (see carbonmap/config.py)."))
                unreadable += _marks(name)
            continue
        value = data[name]
        if is_list:
            if not isinstance(value, list):
                report(ConfigError(f"must be a list of tables ([[{name}]]).", path=path, key=name,
                                   fix=f"write each entry as [[{name}]]."))
                unreadable += _marks(name)
                continue
            entries = [_build(cls, item, f"{name}[{i}]", path, report) for i, item in enumerate(value)]
            built[name] = [entry for entry in entries if entry is not None]
            positions[name] = [i for i, entry in enumerate(entries) if entry is not None]
            unreadable += [m for item, entry in zip(value, entries) if entry is None for m in _marks(name, item)]
        else:
            built[name] = _build(cls, value, name, path, report)
            if built[name] is None:
                del built[name]
                unreadable += _marks(name)
    if any(name not in built for name in ("project", "grid", "units")):
        return None
    section = built["project"]
    if not section.output_dir.is_absolute():  # the default, "out", is relative too
        from dataclasses import replace

        built["project"] = replace(section, output_dir=(path.parent / section.output_dir).resolve())
    project = Project(path=path, **built)
    if unreadable:  # only when collecting: leave out what merely follows from the sections left out
        report = _unless_consequence(report, unreadable)
    _check_semantics(project, _renumbered(report, positions))
    return project


def _renumbered(report, positions: dict[str, list[int]]):
    """A report for the checks of a :class:`Project`, whose [[section]] lists hold only the entries that
    could be built (when collecting): a key's ``rasters[i]`` becomes the entry's index in the file."""

    def renumbered(error: CarbonmapError) -> None:
        found = re.match(r"(\w+)\[(\d+)\]", error.key or "")
        built = positions.get(found.group(1), []) if found else []
        if found and int(found.group(2)) < len(built) and built[int(found.group(2))] != int(found.group(2)):
            error.key = f"{found.group(1)}[{built[int(found.group(2))]}]{error.key[found.end():]}"
            error.args = (compose_message(error.problem, path=error.path, layer=error.layer, field=error.field,
                                          key=error.key, fix=error.fix, entry=error.entry),)
        report(error)

    return renumbered


def _naming_entries(report, data: dict[str, Any]):
    """A report that says, for a problem in a ``[[section]]`` entry, which entry it is as a person counts
    and finds it (:func:`_entry_words`): its key, ``rasters[2].title``, counts from 0."""

    def named(error: CarbonmapError) -> None:
        entry = _entry_words(error.key, data)
        report(error.in_entry(entry) if entry and not error.entry else error)

    return named


def _entry_words(key: str | None, data: dict[str, Any]) -> str | None:
    """The ``[[section]]`` entry a project-file key is in, by its position counted from 1 and its name
    and path (``rasters[2].title.zh`` -> ``the 3rd [[rasters]] entry (name "dem", path "dem.tif")``);
    None for a key outside the file's [[section]] entries.

    Examples
    --------
    >>> _entry_words("rasters[2].title.zh", {"rasters": [{}, {}, {"name": "dem", "path": "dem.tif"}]})
    'the 3rd [[rasters]] entry (name "dem", path "dem.tif")'
    """
    found = re.match(r"(\w+)\[(\d+)\]", key or "")
    if found is None or found.group(1) not in _SECTIONS or not _SECTIONS[found.group(1)][1]:
        return None
    section, index = found.group(1), int(found.group(2))
    entries = data.get(section)
    item = entries[index] if isinstance(entries, list) and index < len(entries) else None
    about = [f'{name} "{item[name]}"' for name in ("name", "path")
             if isinstance(item, dict) and isinstance(item.get(name), str)]
    return f"the {_ordinal(index + 1)} [[{section}]] entry" + (f" ({', '.join(about)})" if about else "")


def _ordinal(number: int) -> str:
    """1st, 2nd, 3rd, 4th, ..., 11th, 12th, 13th, ..., 21st."""
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


def _marks(section: str, item: Any = None) -> list[str]:
    """How problems that follow from an unusable section or [[section]] entry mention it."""
    if item is None:
        return [f"[{section}]"]
    name = item.get("name") if isinstance(item, dict) else None
    if not isinstance(name, str):
        return [f"[[{section}]]"]
    return [f"[[{section}]] {name!r}", f"entry named {name!r}"]


def _unless_consequence(report, marks: list[str]):
    """A report that drops the problems mentioning a section or entry that could not be read at
    all: they only follow from it (e.g. "[buildings] needs a [parcels] section" when [parcels]
    lacks a required key)."""

    def filtered(error: CarbonmapError) -> None:
        if not any(mark in str(error) for mark in marks):
            report(error)

    return filtered


def _reject_unknown(table: dict, allowed, prefix: str, path: Path, report=_raise) -> None:
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, list(allowed), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            report(ConfigError(
                "unknown key.", path=path, key=f"{prefix}{key}",
                fix=f"{hint}allowed here: {', '.join(allowed)}.",
            ))


def _build(cls: type, table: Any, key: str, path: Path, report=_raise) -> Any:
    """The section `cls` from a TOML table; None (when collecting) if it cannot be built."""
    if not isinstance(table, dict):
        return report(ConfigError(f"must be a table, got {type(table).__name__}.", path=path, key=key,
                                  fix=f"write it as [{key}] with key = value lines."))
    specs = {f.name: f for f in fields(cls)}
    _reject_unknown(table, specs, f"{key}.", path, report)
    misspelt = {close for name in table if name not in specs for close in difflib.get_close_matches(name, specs, n=1)}
    hints = typing.get_type_hints(cls)
    values, usable = {}, True
    for name, spec in specs.items():
        required = spec.default is MISSING and spec.default_factory is MISSING
        if name not in table:
            if required:
                usable = False
                if name not in misspelt:  # a misspelt key is one problem, reported as unknown
                    report(ConfigError("required key is missing.", path=path, key=f"{key}.{name}",
                                       fix=f"add {name} = ... to [{key.split('[')[0]}]."))
            continue
        value = _coerce(table[name], hints[name], f"{key}.{name}", path, report)
        if value is _INVALID:
            usable = usable and not required
            continue
        values[name] = value
    return cls(**values) if usable else None


def _coerce(value: Any, hint: Any, key: str, path: Path, report=_raise) -> Any:
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for option in options:
        if option is type(None):
            continue
        if option is Path and isinstance(value, str):
            return (path.parent / value).resolve()
        if option is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if option is bool and isinstance(value, bool):
            return value
        if option is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if option is str and isinstance(value, str):
            return value
        if option is dict and isinstance(value, dict):  # a free-form table, checked by its section's checks
            return value
        if typing.get_origin(option) is list and isinstance(value, list):
            (item,) = typing.get_args(option)
            items = [_coerce(v, item, f"{key}[{i}]", path, report) for i, v in enumerate(value)]
            return _INVALID if _INVALID in items else items
        if typing.get_origin(option) is dict and isinstance(value, dict):
            _, item = typing.get_args(option)
            items = {k: _coerce(v, item, f"{key}.{k}", path, report) for k, v in value.items()}
            return _INVALID if _INVALID in items.values() else items
        if option is Text and isinstance(value, dict):
            return _bilingual(value, key, path, report)
    if Text in options:
        entry = key.rsplit(".", 1)[-1]
        report(ConfigError(f"expected a string or a table of languages, got {value!r}.", path=path, key=key,
                           fix=f'give one string for both languages, {entry} = "...", or one per language, '
                               f'{entry} = {{ zh = "...", en = "..." }}.'))
        return _INVALID
    expected = " or ".join(getattr(o, "__name__", str(o)) for o in options if o is not type(None))
    report(ConfigError(f"expected {expected}, got {value!r}.", path=path, key=key,
                       fix=f"give a {expected} value."))
    return _INVALID


_LANGUAGE_NAMES = {"zh": "Chinese", "en": "English"}


def _bilingual(table: dict, key: str, path: Path, report=_raise) -> Text | object:
    """A text in both languages from a table ``{ zh = "...", en = "..." }`` (a ``title``, the
    project's ``name``): its keys are the languages, each a string that is not empty; :data:`_INVALID`
    (when collecting) if it is not; the messages name the entry."""
    entry = key.rsplit(".", 1)[-1]
    problems: list[ConfigError] = []
    _reject_unknown(table, LANGUAGES, f"{key}.", path, problems.append)
    misspelt = {close for name in table if name not in LANGUAGES
                for close in difflib.get_close_matches(name, LANGUAGES, n=1)}
    for language in LANGUAGES:
        name = _LANGUAGE_NAMES[language]
        if language not in table:
            if language not in misspelt:  # a misspelt language is one problem, reported as unknown
                problems.append(ConfigError("required key is missing.", path=path, key=f"{key}.{language}",
                                            fix=f'add {language} = "..." (the {entry} in {name}), or give one '
                                            f'string for both languages, {entry} = "...".'))
        elif not isinstance(table[language], str):
            problems.append(ConfigError(f"expected str, got {table[language]!r}.", path=path, key=f"{key}.{language}",
                                        fix=f'give the {entry} in {name} in quotes, {language} = "...".'))
        elif not table[language].strip():
            problems.append(ConfigError("must not be empty.", path=path, key=f"{key}.{language}",
                                        fix=f"give the {entry} in {name}."))
    for problem in problems:
        report(problem)
    if problems or not set(LANGUAGES) <= set(table):
        return _INVALID
    return Text(en=table["en"], zh=table["zh"])


def _check_semantics(project: Project, report=_raise) -> None:
    """Check what single keys cannot show: values, references between sections, files; each problem
    goes to `report` (raised by default)."""
    path = project.path
    grid = project.grid
    if grid.resolution_m <= 0:
        report(ConfigError("must be positive.", path=path, key="grid.resolution_m",
                           fix="give the cell size in metres, e.g. 30."))
    if grid.crs != "auto":
        _check_crs(grid.crs, "grid.crs", path, report, projected=True)
    units = project.units
    if units.datum not in ("wgs84", "gcj02"):
        report(ConfigError(f"unknown datum {units.datum!r}.", path=path, key="units.datum",
                           fix="use \"wgs84\" or \"gcj02\"."))
    if units.assume_crs:
        _check_crs(units.assume_crs, "units.assume_crs", path, report)
    from carbonmap.balance import GDP_UNITS

    if units.gdp_unit not in GDP_UNITS:
        report(ConfigError(f"unknown GDP unit {units.gdp_unit!r}.", path=path, key="units.gdp_unit",
                           fix=f"use one of {', '.join(GDP_UNITS)} (亿元 = cny_1e8, 万元 = cny_1e4)."))
    _check_exists(units.path, "units.path", path, report)
    for check in (_check_emissions, _check_sinks, _check_landscape, _check_network, _check_renewables,
                  _check_screening, _check_outputs, _check_scenarios, _check_encodings,
                  _check_blue_carbon, _check_compensation, _check_targets, _check_uncertainty, _check_compute):
        check(project, path, report)
    names: set[str] = set()
    for i, raster in enumerate(project.rasters):
        _check_layer(raster, f"rasters[{i}]", path, names, report)
        _check_raster(raster, f"rasters[{i}]", path, report)
    for i, vector in enumerate(project.vectors):
        _check_layer(vector, f"vectors[{i}]", path, names, report)
        if vector.group not in ("inputs", "zones"):
            report(ConfigError(f"unknown group {vector.group!r}.", path=path, key=f"vectors[{i}].group",
                               fix="use \"inputs\" or \"zones\"."))


def _check_encodings(project: Project, path: Path, report=_raise) -> None:
    """Every ``encoding`` / ``*_encoding`` key names a codec Python knows."""
    for name in _SECTIONS:
        value = getattr(project, name)
        entries = value if isinstance(value, list) else [value]
        for i, section in enumerate(entries):
            if section is None:
                continue
            for spec in fields(section):
                encoding = getattr(section, spec.name)
                if not (spec.name == "encoding" or spec.name.endswith("_encoding")) or encoding is None:
                    continue
                try:
                    codecs.lookup(encoding)
                    continue
                except LookupError:
                    where = f"{name}[{i}]" if isinstance(value, list) else name
                report(ConfigError(f"unknown encoding {encoding!r}.", path=path, key=f"{where}.{spec.name}",
                                   fix="use a codec name Python knows, e.g. \"gbk\", \"gb18030\", \"utf-8\" "
                                   "or \"latin1\" (or leave it out: UTF-8, else GB18030)."))


def _check_emissions(project: Project, path: Path, report=_raise) -> None:
    """The emissions inputs: files exist, code system, CRSs, proxies, grid."""
    from carbonmap.emissions import PROXY_CHOICES

    for name in ("parcels", "buildings", "roads", "point_sources", "inventory"):
        section = getattr(project, name)
        if section is None:
            continue
        _check_exists(section.path, f"{name}.path", path, report)
        if getattr(section, "assume_crs", None):
            _check_crs(section.assume_crs, f"{name}.assume_crs", path, report)
    if project.parcels is not None:
        if project.parcels.code_system not in CODE_SYSTEMS:
            report(ConfigError(f"unknown code system {project.parcels.code_system!r}.", path=path,
                               key="parcels.code_system", fix=f"use one of {', '.join(CODE_SYSTEMS)}."))
        if project.parcels.crosswalk is not None:
            _check_exists(project.parcels.crosswalk, "parcels.crosswalk", path, report)
    needs_parcels = [n for n in ("buildings", "roads", "point_sources", "inventory") if getattr(project, n)]
    if needs_parcels and project.parcels is None:
        report(ConfigError(f"[{needs_parcels[0]}] needs a [parcels] section (emissions are accounted on parcels).",
                           path=path, key="parcels", fix="add [parcels] with path, code_field and code_system."))
    settings = project.emissions
    if settings.grid_resolution_m <= 0:
        report(ConfigError("must be positive.", path=path, key="emissions.grid_resolution_m",
                           fix="give the cell size of the emissions grid in metres, e.g. 100."))
    for sector, proxy in settings.proxies.items():
        if sector not in PROXY_CHOICES:
            report(ConfigError(f"no proxy choice for sector {sector!r}.", path=path, key=f"emissions.proxies.{sector}",
                               fix=f"sectors with proxies: {', '.join(PROXY_CHOICES)}."))
        elif proxy not in PROXY_CHOICES[sector]:
            report(ConfigError(f"unknown proxy {proxy!r}.", path=path, key=f"emissions.proxies.{sector}",
                               fix=f"use one of {', '.join(PROXY_CHOICES[sector])}."))
    for key, table in (("emissions.coefficients", settings.coefficients),
                       ("emissions.road_weights", settings.road_weights),
                       ("balance.classes", project.balance.classes), ("balance.bands", project.balance.bands)):
        if table is not None:
            _check_exists(table, key, path, report)


def _raster_check(project: Project, path: Path, report=_raise):
    """A function checking that a key names a [[rasters]] entry of a kind (with a code system)."""
    rasters = {r.name: r for r in project.rasters}

    def need(name: str | None, key: str, kind: str, code_system: bool = False) -> None:
        if name is None:
            return report(ConfigError("required key is missing.", path=path, key=key,
                                      fix=f"name a {kind} [[rasters]] entry."))
        if name not in rasters:
            return report(ConfigError(f"no [[rasters]] entry named {name!r}.", path=path, key=key,
                                      fix=f"names: {', '.join(rasters) or 'none'}."))
        if rasters[name].kind not in RASTER_KINDS:  # reported with that raster
            return None
        if rasters[name].kind != kind:
            return report(ConfigError(f"[[rasters]] {name!r} must be {kind}.", path=path, key=key,
                                      fix=f"set kind = \"{kind}\" for it."))
        if code_system and not rasters[name].code_system:
            report(ConfigError(f"[[rasters]] {name!r} needs a code_system.", path=path, key=key,
                               fix="add code_system = \"clcd\" (or its system) to that raster."))

    return need


def _check_sinks(project: Project, path: Path, report=_raise) -> None:
    """[stocks] and [sinks] refer to categorical or continuous [[rasters]] by name."""
    need = _raster_check(project, path, report)
    stocks = project.stocks
    if stocks is not None:
        _check_exists(stocks.pools, "stocks.pools", path, report)
        need(stocks.baseline, "stocks.baseline", "categorical")
        if stocks.alternative is not None:
            need(stocks.alternative, "stocks.alternative", "categorical")
        money = [stocks.price_per_t_c, stocks.discount_rate_pct, stocks.price_change_pct,
                 stocks.baseline_year, stocks.alternative_year]
        if any(v is not None for v in money) and not all(v is not None for v in money):
            report(ConfigError("valuation needs all of price_per_t_c, discount_rate_pct, price_change_pct, "
                               "baseline_year and alternative_year.", path=path, key="stocks",
                               fix="give all five, or none."))
        if money[0] is not None and stocks.alternative is None:
            report(ConfigError("valuation needs an alternative land cover.", path=path, key="stocks.alternative",
                               fix="name the alternative [[rasters]] entry."))
    sinks = project.sinks
    if sinks.method not in ("coefficient", "nep"):
        report(ConfigError(f"unknown method {sinks.method!r}.", path=path, key="sinks.method",
                           fix="use \"coefficient\" or \"nep\"."))
    if sinks.method == "coefficient" and project.parcels is None and sinks.wetlands is None:
        return
    if sinks.method == "nep":
        need(sinks.npp, "sinks.npp", "continuous")
        need(sinks.temperature, "sinks.temperature", "continuous")
        need(sinks.precipitation, "sinks.precipitation", "continuous")
        need(sinks.landcover, "sinks.landcover", "categorical", code_system=True)
    if sinks.wetlands is not None:
        _check_exists(sinks.wetlands, "sinks.wetlands", path, report)


def _check_landscape(project: Project, path: Path, report=_raise) -> None:
    """[landscape]: land-cover rasters by name, neighbour rule, window, depths."""
    landscape = project.landscape
    if landscape is None:
        return
    need = _raster_check(project, path, report)
    need(landscape.landcover, "landscape.landcover", "categorical", code_system=True)
    if landscape.compare_with is not None:
        need(landscape.compare_with, "landscape.compare_with", "categorical", code_system=True)
    if landscape.neighbours not in (4, 8):
        report(ConfigError(f"must be 4 or 8, got {landscape.neighbours}.", path=path, key="landscape.neighbours",
                           fix="use 8 (FRAGSTATS' default) or 4."))
    if landscape.window_metric not in ("ED", "PLAND"):
        report(ConfigError(f"unknown metric {landscape.window_metric!r}.", path=path,
                           key="landscape.window_metric", fix="use \"ED\" or \"PLAND\"."))
    for key in ("window_radius_m", "edge_depth_m"):
        value = getattr(landscape, key)
        if value is not None and value <= 0:
            report(ConfigError("must be positive.", path=path, key=f"landscape.{key}", fix="give metres."))
    if landscape.min_patch_area_ha < 0:
        report(ConfigError("must not be negative.", path=path, key="landscape.min_patch_area_ha",
                           fix="give an area in hectares, e.g. 1."))


def _check_network(project: Project, path: Path, report=_raise) -> None:
    """[network]: rasters by name, positive distances and areas, probabilities in (0, 1)."""
    network = project.network
    if network is None:
        return
    need = _raster_check(project, path, report)
    need(network.landcover, "network.landcover", "categorical", code_system=True)
    if network.dem is not None:
        need(network.dem, "network.dem", "continuous")
    if network.resistance is not None:
        _check_exists(network.resistance, "network.resistance", path, report)
    for key in ("edge_width_m", "dispersal_distance_m", "corridor_width_m", "barrier_radius_m"):
        if getattr(network, key) <= 0:
            report(ConfigError("must be positive.", path=path, key=f"network.{key}", fix="give metres."))
    for key in ("dispersal_probability", "pinch_quantile", "barrier_quantile"):
        if not 0 < getattr(network, key) < 1:
            report(ConfigError("must be between 0 and 1.", path=path, key=f"network.{key}", fix="e.g. 0.5 or 0.9."))
    if network.max_sources < 2 or network.circuit_max_cells < 100:
        key = "max_sources" if network.max_sources < 2 else "circuit_max_cells"
        report(ConfigError("is too small.", path=path, key=f"network.{key}", fix="at least 2 sources, 100 cells."))
    if network.circuit_mode not in ("pairwise", "one-to-all"):
        report(ConfigError(f"unknown mode {network.circuit_mode!r}.", path=path, key="network.circuit_mode",
                           fix="use \"pairwise\" or \"one-to-all\"."))
    if network.resolution_m is not None:
        from carbonmap.landscape.network import cell_factor

        try:
            cell_factor(network.resolution_m, project.grid.resolution_m)
        except InputError as error:
            report(ConfigError(error.problem, path=path, key="network.resolution_m", fix=error.fix))
    from carbonmap.landscape.resistance import DEFAULT_MODIFIERS

    unknown = sorted(set(network.modifiers) - set(DEFAULT_MODIFIERS))
    if unknown:
        report(ConfigError(f"unknown modifier(s) {', '.join(unknown)}.", path=path, key="network.modifiers",
                           fix=f"use {', '.join(DEFAULT_MODIFIERS)}."))


def _check_renewables(project: Project, path: Path, report=_raise) -> None:
    """[renewables]: rasters by name, files, table rows that exist."""
    section = project.renewables
    if section is None:
        return
    need = _raster_check(project, path, report)
    need(section.landcover, "renewables.landcover", "categorical", code_system=True)
    for key in ("ghi", "wind_speed", "dem", "heat_flow"):
        if getattr(section, key) is not None:
            need(getattr(section, key), f"renewables.{key}", "continuous")
    for key in ("protection_zones", *RENEWABLE_TABLE_KEYS):
        if getattr(section, key) is not None:
            _check_exists(getattr(section, key), f"renewables.{key}", path, report)
    if section.rooftop and project.buildings is None:
        report(ConfigError("rooftop PV needs a [buildings] section.", path=path, key="renewables.rooftop",
                           fix="add [buildings], or set rooftop = false."))
    from carbonmap.coefficients import gshp_extraction, heating_demand, read_table

    for key, table in (("gshp_ground", _read_table(gshp_extraction, section.gshp_extraction, report)),
                       ("climate_zone", _read_table(heating_demand, section.heating_demand, report))):
        if table is not None and getattr(section, key) not in table.index:
            report(ConfigError(f"unknown {key} {getattr(section, key)!r}.", path=path, key=f"renewables.{key}",
                               fix=f"use one of {', '.join(table.index)}."))
    factors = _read_table(lambda override: read_table("grid_emission_factors", override), section.grid_factors, report)
    if factors is not None:
        _check_grid_factor(section, factors, path, report)
    from carbonmap.renewables.solar import DECOMPOSITION_MODELS, TRANSPOSITION_MODELS

    for key, choices in (("transposition", TRANSPOSITION_MODELS), ("decomposition", DECOMPOSITION_MODELS)):
        if getattr(section, key) not in choices:
            report(ConfigError(f"unknown {key} model {getattr(section, key)!r}.", path=path, key=f"renewables.{key}",
                               fix=f"use one of {', '.join(choices)}."))


def _check_grid_factor(section: RenewablesSection, factors, path: Path, report) -> None:
    """renewables.grid and grid_year name a row of the grid emission factors (packaged or overridden)."""
    from carbonmap.coefficients import grid_emission_factor

    try:
        grid_emission_factor(section.grid, section.grid_year, override=factors)
    except InputError as exc:
        if exc.field not in ("grid", "year"):  # a bad value in the override: named by the table's reader
            return report(exc)
        key = "renewables.grid" if exc.field == "grid" else "renewables.grid_year"
        report(ConfigError(exc.problem, path=path, key=key, fix=exc.fix))


def _check_screening(project: Project, path: Path, report=_raise) -> None:
    """[screening]: rasters by name, files, a known tree type, positive budgets and top_n."""
    section = project.screening
    if section is None:
        return
    need = _raster_check(project, path, report)
    need(section.landcover, "screening.landcover", "categorical", code_system=True)
    for key in ("dem", "precipitation", "ndvi"):
        if getattr(section, key) is not None:
            need(getattr(section, key), f"screening.{key}", "continuous")
    for key in ("protection_zones", "vacated_land", "parameters", "rules", "site_preparation", "growth"):
        if getattr(section, key) is not None:
            _check_exists(getattr(section, key), f"screening.{key}", path, report)
    from carbonmap.coefficients import afforestation_growth

    growth = _read_table(afforestation_growth, section.growth, report)
    types = [] if growth is None else growth.index
    if growth is not None and section.tree_type not in types:
        report(ConfigError(f"unknown tree type {section.tree_type!r}.", path=path, key="screening.tree_type",
                           fix=f"use one of {', '.join(types)}, or add a row with screening.growth."))
    if section.top_n < 1:
        report(ConfigError("must be at least 1.", path=path, key="screening.top_n", fix="e.g. 10."))
    for key in ("budget_area_ha", "budget_cny"):
        if getattr(section, key) is not None and getattr(section, key) <= 0:
            report(ConfigError("must be positive.", path=path, key=f"screening.{key}",
                               fix="give the budget, or leave it out for the default share of the candidate area."))
    _check_eligibility(section, need, path, report)


def _check_eligibility(section: ScreeningSection, need, path: Path, report) -> None:
    """[screening] eligibility: a known rule set, an earlier land cover with its year."""
    if section.eligibility_rules is not None:
        _check_exists(section.eligibility_rules, "screening.eligibility_rules", path, report)
    if section.eligibility is not None:
        from carbonmap.coefficients import afforestation_eligibility

        table = _read_table(afforestation_eligibility, section.eligibility_rules, report)
        if table is not None and section.eligibility not in set(table["eligibility"]):
            report(ConfigError(f"unknown eligibility rule set {section.eligibility!r}.", path=path,
                               key="screening.eligibility",
                               fix=f"use one of {', '.join(sorted(set(table['eligibility'])))}."))
    if section.earlier_landcover is not None:
        need(section.earlier_landcover, "screening.earlier_landcover", "categorical", code_system=True)
        if section.earlier_landcover_year is None:
            report(ConfigError("give the earlier land cover's year.", path=path, key="screening.earlier_landcover_year",
                               fix="e.g. earlier_landcover_year = 2015."))
    if section.project_start_year is not None and not 1990 <= section.project_start_year <= 2100:
        report(ConfigError(f"{section.project_start_year} is not a plausible start year.", path=path,
                           key="screening.project_start_year", fix="e.g. 2025."))


def _check_scenarios(project: Project, path: Path, report=_raise) -> None:
    """[timeline] and [[scenarios]]: rasters, years, names, and what each change needs."""
    timeline = project.timeline
    if timeline is None:
        if project.scenarios:
            report(ConfigError("[[scenarios]] need a [timeline] section.", path=path, key="timeline",
                               fix="add [timeline] with the base-year land cover."))
        return
    need = _raster_check(project, path, report)
    need(timeline.landcover, "timeline.landcover", "categorical", code_system=True)
    if timeline.end_year <= timeline.base_year:
        report(ConfigError("must be after base_year.", path=path, key="timeline.end_year", fix="e.g. 2060."))
    if timeline.previous is not None:
        need(timeline.previous, "timeline.previous", "categorical", code_system=True)
        if timeline.previous_year is None or timeline.previous_year >= timeline.base_year:
            report(ConfigError("give the earlier land cover's year, before base_year.", path=path,
                               key="timeline.previous_year", fix="e.g. previous_year = 2015."))
    for key in ("stages", "parameters"):
        if getattr(timeline, key) is not None:
            _check_exists(getattr(timeline, key), f"timeline.{key}", path, report)
    names = set()
    for i, scenario in enumerate(project.scenarios):
        key = f"scenarios[{i}]"
        if not scenario.name.isidentifier() or scenario.name in names or scenario.name == "baseline":
            report(ConfigError(f"{scenario.name!r} is not a new identifier (or is 'baseline').", path=path,
                               key=f"{key}.name", fix="use letters, digits and underscores, once per scenario."))
        names.add(scenario.name)
        if scenario.target_year <= timeline.base_year:
            report(ConfigError("must be after the base year.", path=path, key=f"{key}.target_year", fix="e.g. 2030."))
        if scenario.markov_year is not None and timeline.previous is None:
            report(ConfigError("markov_year needs an earlier land cover.", path=path, key=f"{key}.markov_year",
                               fix="set [timeline] previous and previous_year."))
        if scenario.afforestation is not None:
            if scenario.afforestation not in ("all_suitable", "top_ranked", "connectivity_first"):
                report(ConfigError(f"unknown screening scenario {scenario.afforestation!r}.", path=path,
                                   key=f"{key}.afforestation",
                                   fix="use all_suitable, top_ranked or connectivity_first."))
            if project.screening is None or scenario.afforestation_to is None:
                report(ConfigError("afforestation needs [screening] and afforestation_to (the forest code).",
                                   path=path, key=f"{key}.afforestation_to", fix="e.g. afforestation_to = 2 (CLCD)."))
        if scenario.convert is not None:
            _check_exists(scenario.convert, f"{key}.convert", path, report)
            if scenario.convert_to is None:
                report(ConfigError("convert needs convert_to (the new code).", path=path, key=f"{key}.convert_to",
                                   fix="e.g. convert_to = 8 (CLCD impervious)."))
        if not 0 <= scenario.rooftop_pv_share <= 1:
            report(ConfigError("must be between 0 and 1.", path=path, key=f"{key}.rooftop_pv_share", fix="e.g. 0.5."))
        _check_simulation(scenario, key, need, path, report)
        if scenario.rooftop_pv_share > 0 and project.screening is None:
            report(ConfigError("rooftop_pv_share needs [screening] (the rooftop packages).", path=path,
                               key=f"{key}.rooftop_pv_share", fix="add [screening], or set it to 0."))


def _check_simulation(scenario: ScenarioInput, key: str, need, path: Path, report=_raise) -> None:
    """A scenario's land-use simulation: allocation, drivers, demand and their files."""
    from carbonmap.scenarios.demand import METHODS

    if scenario.allocation not in ("markov", "plus"):
        report(ConfigError(f"unknown allocation {scenario.allocation!r}.", path=path, key=f"{key}.allocation",
                           fix="use \"markov\" (simple) or \"plus\" (the land-use simulator)."))
    uses = scenario.allocation == "plus" or scenario.demand != "markov"
    if uses and scenario.markov_year is None:
        report(ConfigError("the land-use simulation needs the year to simulate.", path=path, key=f"{key}.markov_year",
                           fix="set markov_year (e.g. 2035) and [timeline] previous."))
    if scenario.demand != "markov" and scenario.allocation != "plus":
        report(ConfigError(f"demand = {scenario.demand!r} is placed by the land-use simulator.", path=path,
                           key=f"{key}.allocation", fix="set allocation = \"plus\" (or demand = \"markov\")."))
    if scenario.demand not in METHODS:
        report(ConfigError(f"unknown demand {scenario.demand!r}.", path=path, key=f"{key}.demand",
                           fix=f"use one of {', '.join(METHODS)}."))
    if scenario.demand == "table" and scenario.demand_table is None:
        report(ConfigError("demand = \"table\" needs demand_table.", path=path, key=f"{key}.demand_table",
                           fix="a CSV of code, area_ha in markov_year."))
    if scenario.demand == "optimise" and not scenario.demand_constraints and scenario.demand_max_change_pct is None:
        report(ConfigError("an optimised demand without constraints turns all land into the richest class.",
                           path=path, key=f"{key}.demand_constraints",
                           fix="give demand_constraints and/or demand_max_change_pct."))
    for i, constraint in enumerate(scenario.demand_constraints):
        if not isinstance(constraint, dict) or not constraint.get("codes") or \
                not ({"min_ha", "max_ha"} & set(constraint)) or set(constraint) - {"codes", "min_ha", "max_ha"}:
            report(ConfigError("a constraint is {codes = [..], min_ha = .., max_ha = ..}.", path=path,
                               key=f"{key}.demand_constraints[{i}]", fix="e.g. {codes = [1], min_ha = 5000}."))
    for i, name in enumerate(scenario.drivers):
        need(name, f"{key}.drivers[{i}]", "continuous")
    if scenario.reference is not None:
        need(scenario.reference, f"{key}.reference", "categorical", code_system=True)
        if scenario.allocation != "plus":
            report(ConfigError("reference validates the land-use simulator.", path=path, key=f"{key}.reference",
                               fix="set allocation = \"plus\"."))
    for option in ("demand_table", "conversion", "restricted"):
        if getattr(scenario, option) is not None:
            _check_exists(getattr(scenario, option), f"{key}.{option}", path, report)
    for code, weight in scenario.neighbourhood_weights.items():
        if not str(code).isdigit() or not isinstance(weight, (int, float)) or not 0 <= weight <= 1:
            report(ConfigError(f"{code} = {weight!r} is not a class code and a weight between 0 and 1.", path=path,
                               key=f"{key}.neighbourhood_weights", fix="e.g. {\"8\" = 1.0}."))


def _check_outputs(project: Project, path: Path, report=_raise) -> None:
    """[outputs]: a positive size budget, known basemaps, a key for Tianditu."""
    from carbonmap.webmap import BASEMAPS

    outputs = project.outputs
    from carbonmap.words import LANGUAGES

    if outputs.language not in LANGUAGES:
        report(ConfigError(f"unknown language {outputs.language!r}.", path=path, key="outputs.language",
                           fix="use \"zh\" (中文) or \"en\" (English)."))
    if outputs.html_budget_mb <= 0:
        report(ConfigError("must be positive.", path=path, key="outputs.html_budget_mb", fix="e.g. 15 (MB)."))
    for i, name in enumerate(outputs.basemaps):
        if name not in BASEMAPS:
            report(ConfigError(f"unknown basemap {name!r}.", path=path, key=f"outputs.basemaps[{i}]",
                               fix=f"use {', '.join(BASEMAPS)}, or [] for none."))
    if "Tianditu" in outputs.basemaps and not outputs.tianditu_key:
        report(ConfigError("the Tianditu basemap needs a key.", path=path, key="outputs.tianditu_key",
                           fix="set tianditu_key (from console.tianditu.gov.cn), or drop Tianditu from basemaps."))


def _check_layer(spec: RasterInput | VectorInput, key: str, path: Path, names: set[str], report=_raise) -> None:
    """Checks every [[rasters]] and [[vectors]] entry shares: name, kind, CRS, file."""
    if spec.name in names:
        report(ConfigError(f"duplicate layer name {spec.name!r}.", path=path, key=f"{key}.name",
                           fix="give each raster and vector layer a distinct name."))
    names.add(spec.name)
    if not spec.name.isidentifier():
        report(ConfigError(f"{spec.name!r} is not usable as a layer/column name.", path=path,
                           key=f"{key}.name", fix="use letters, digits and underscores."))
    if spec.kind not in RASTER_KINDS:
        report(ConfigError(f"unknown kind {spec.kind!r}.", path=path, key=f"{key}.kind",
                           fix=f"use one of {', '.join(RASTER_KINDS)}."))
    if spec.assume_crs:
        _check_crs(spec.assume_crs, f"{key}.assume_crs", path, report)
    _check_exists(spec.path, f"{key}.path", path, report)


def _check_raster(raster: RasterInput, key: str, path: Path, report=_raise) -> None:
    if raster.kind not in RASTER_KINDS:  # reported by _check_layer
        return
    if raster.resampling and raster.resampling not in RESAMPLING_METHODS[raster.kind]:
        report(ConfigError(
            f"resampling {raster.resampling!r} is not valid for a {raster.kind} raster.",
            path=path, key=f"{key}.resampling",
            fix=f"use one of {', '.join(RESAMPLING_METHODS[raster.kind])}.",
        ))
    if raster.kind == "continuous":
        try:
            validate_stats(raster.stats)
        except InputError as exc:
            report(ConfigError(exc.problem, path=path, key=f"{key}.stats", fix=exc.fix))
    if raster.code_system is not None:
        if raster.kind != "categorical":
            report(ConfigError("code_system applies to categorical rasters only.", path=path,
                               key=f"{key}.code_system", fix="remove it, or set kind = \"categorical\"."))
        if raster.code_system not in CODE_SYSTEMS:
            report(ConfigError(f"unknown code system {raster.code_system!r}.", path=path,
                               key=f"{key}.code_system", fix=f"use one of {', '.join(CODE_SYSTEMS)}."))


def _check_crs(value: str, key: str, path: Path, report=_raise, *, projected: bool = False) -> None:
    try:
        crs = CRS.from_user_input(value)
    except PyprojCRSError as exc:
        error = ConfigError(f"{value!r} is not a CRS pyproj knows.", path=path, key=key,
                            fix="use an EPSG code such as \"EPSG:4547\".")
        error.__cause__ = exc
        return report(error)
    if projected and not crs.is_projected:
        report(ConfigError(f"{value!r} is not a projected CRS.", path=path, key=key,
                           fix="the analysis grid needs a projected CRS in metres, or \"auto\"."))


def _check_exists(file: Path, key: str, path: Path, report=_raise) -> None:
    if not file.exists():
        report(InputNotFoundError(f"file not found: {file}.", path=path, key=key,
                                  fix="correct the path (relative to the project file's folder)."))


def _read_table(loader, override: Path | None, report) -> Any:
    """A coefficient table (packaged rows and an override's); None when the override cannot be read
    (reported; a missing override file is reported by :func:`_check_exists`)."""
    if override is not None and not override.exists():
        return None
    try:
        return loader(override)
    except CarbonmapError as exc:
        return report(exc)


def _check_blue_carbon(project: Project, path: Path, report=_raise) -> None:
    """[blue_carbon]: snapshots by year (rasters by name, or a snapshot table), the tables, the
    years, the valuation and the convention."""
    section = project.blue_carbon
    if section is None:
        return
    from carbonmap import blue_carbon

    years = []
    if isinstance(section.snapshots, dict):
        need = _raster_check(project, path, report)
        if not section.snapshots:
            report(ConfigError("no snapshot.", path=path, key="blue_carbon.snapshots",
                               fix='e.g. snapshots = { 2015 = "landcover_2015", 2023 = "landcover_2023" }.'))
        for year, name in section.snapshots.items():
            key = f"blue_carbon.snapshots.{year}"
            if year.strip().isdigit():
                years.append(int(year))
            else:
                report(ConfigError(f"{year!r} is not a year.", path=path, key=key,
                                   fix='name each snapshot by its year: { 2015 = "landcover_2015" }.'))
            need(name, key, "categorical")
    else:
        _check_exists(section.snapshots, "blue_carbon.snapshots", path, report)
        if section.snapshots.exists():
            years = list(_read_table(blue_carbon.read_snapshots, section.snapshots, report) or ())
    for key in ("biophysical", "transitions", "prices"):
        if getattr(section, key) is not None:
            _check_exists(getattr(section, key), f"blue_carbon.{key}", path, report)
    biophysical = _read_table(blue_carbon.read_biophysical, section.biophysical, report)
    if biophysical is not None:
        _read_table(lambda table: blue_carbon.read_transitions(table, biophysical), section.transitions, report)
    span = None
    if years:
        try:
            years, end = blue_carbon.analysis_years(years, section.analysis_year)
            span = (years[0], end)
        except InputError as exc:
            report(ConfigError(exc.problem, path=path, key="blue_carbon.analysis_year", fix=exc.fix))
    priced = section.price_per_t_co2 is not None or section.prices is not None
    if section.price_per_t_co2 is not None and section.prices is not None:
        report(ConfigError("give a price or a price table, not both.", path=path, key="blue_carbon.prices",
                           fix="remove price_per_t_co2 (and price_change_pct), or prices."))
    elif priced != (section.discount_rate_pct is not None):
        report(ConfigError("valuation needs discount_rate_pct with price_per_t_co2 (and price_change_pct) or prices.",
                           path=path, key="blue_carbon.discount_rate_pct" if priced else "blue_carbon.price_per_t_co2",
                           fix="give the discount rate and a price or a price table, or none of them."))
    elif section.prices is not None and section.prices.exists():
        prices = _read_table(blue_carbon.read_prices, section.prices, report)
        if prices is not None and span is not None:
            try:
                blue_carbon.carbon_prices(blue_carbon.BlueCarbonValuation(0.0, prices=prices), *span)
            except InputError as exc:
                report(ConfigError(exc.problem, path=path, key="blue_carbon.prices", fix=exc.fix))
    if section.convention not in blue_carbon.CONVENTIONS:
        report(ConfigError(f"unknown convention {section.convention!r}.", path=path, key="blue_carbon.convention",
                           fix=f"use one of {', '.join(blue_carbon.CONVENTIONS)}."))


def _check_compensation(project: Project, path: Path, report=_raise) -> None:
    """[compensation]: the corrections and the data they need, the price, the restriction and its
    zone field, the tables."""
    section = project.compensation
    if section is None:
        return
    from carbonmap import coefficients
    from carbonmap.compensation import CORRECTIONS, RESTRICTIONS

    for i, name in enumerate(section.corrections):
        if name not in CORRECTIONS:
            report(ConfigError(f"unknown correction {name!r}.", path=path, key=f"compensation.corrections[{i}]",
                               fix=f"use {' and/or '.join(map(repr, CORRECTIONS))}."))
    if "economic" in section.corrections and not project.units.gdp_field:
        report(ConfigError("the economic correction needs the units' GDP.", path=path, key="compensation.corrections",
                           fix="name it in [units] gdp_field, or remove \"economic\"."))
    if section.restriction not in RESTRICTIONS:
        report(ConfigError(f"unknown restriction {section.restriction!r}.", path=path, key="compensation.restriction",
                           fix=f"use one of {', '.join(map(repr, RESTRICTIONS))}."))
    if (section.restriction == "zone") != (section.zone_field is not None):
        report(ConfigError("zone_field goes with restriction = \"zone\", and only with it.", path=path,
                           key="compensation.zone_field" if section.restriction == "zone" else
                           "compensation.restriction",
                           fix="name the units' field of main functional zones and set restriction = \"zone\"."))
    price = section.carbon_price
    if isinstance(price, float) and not price >= 0:
        report(ConfigError(f"the carbon price must be 0 or more, got {price!r}.", path=path,
                           key="compensation.carbon_price", fix="give a price in CNY/t CO2, e.g. 95.96."))
    elif isinstance(price, str):
        try:
            coefficients.carbon_price(price)
        except InputError as exc:
            report(ConfigError(exc.problem, path=path, key="compensation.carbon_price", fix=exc.fix))
    for key in ("classes", "parameters", "cost"):
        if getattr(section, key) is not None:
            _check_exists(getattr(section, key), f"compensation.{key}", path, report)
    _read_table(coefficients.compensation_classes, section.classes, report)
    _read_table(coefficients.compensation_parameters, section.parameters, report)
def _check_targets(project: Project, path: Path, report=_raise) -> None:
    """[targets] and [monitoring]: the files exist, the land cover is a categorical raster, the
    targets table reads (its columns and values: :func:`carbonmap.themes.targets.read_targets`)."""
    section = project.targets
    if section is not None:
        _check_exists(section.table, "targets.table", path, report)
        if section.parameters is not None:
            _check_exists(section.parameters, "targets.parameters", path, report)
        if section.landcover is not None:
            _raster_check(project, path, report)(section.landcover, "targets.landcover", "categorical")
        if section.table.exists():
            from carbonmap.themes.targets import read_targets

            try:
                read_targets(section.table)
            except CarbonmapError as exc:
                report(exc)
    monitoring = project.monitoring
    if monitoring is not None:
        for i, folder in enumerate(monitoring.runs):
            _check_exists(folder, f"monitoring.runs[{i}]", path, report)
        if monitoring.thresholds is not None:
            _check_exists(monitoring.thresholds, "monitoring.thresholds", path, report)


def _check_uncertainty(project: Project, path: Path, report=_raise) -> None:
    """[uncertainty]: the number of draws, the seed and the ranges' override."""
    section = project.uncertainty
    if section is None:
        return
    if section.draws < 2:
        report(ConfigError(f"draws must be at least 2, not {section.draws}.", path=path, key="uncertainty.draws",
                           fix="give e.g. draws = 1000 (a spread needs two draws or more)."))
    if section.seed < 0:
        report(ConfigError(f"seed must be a whole number >= 0, not {section.seed}.", path=path,
                           key="uncertainty.seed", fix="give e.g. seed = 2023."))
    if section.ranges is not None:
        from carbonmap.coefficients import coefficient_uncertainty

        _check_exists(section.ranges, "uncertainty.ranges", path, report)
        _read_table(coefficient_uncertainty, section.ranges, report)


def _check_compute(project: Project, path: Path, report=_raise) -> None:
    """[compute]: the scheduler, the workers and their memory limit."""
    for key, problem, example in check_settings(project.compute):
        report(ConfigError(problem, path=path, key=f"compute.{key}", fix=settings_fix(key, example)))
