"""Generate the carbonmap demo city: a synthetic, spatially coherent coastal city.

Usage (from the repository root)::

    python sample_data/make_demo_city.py                      # the committed demo (sample_data/demo_city/)
    python sample_data/make_demo_city.py --preset megacity --out /tmp/megacity   # benchmark scale
    python sample_data/make_demo_city.py --preset cluster --out /tmp/cluster     # a city cluster, tile by tile

Everything is drawn from one seeded random generator (numpy PCG64), so the same
:class:`CitySpec` gives identical files. The city is invented; it is placed in the open
South China Sea (about 21.5 N, 115 E, CGCS2000 / 3-degree Gauss-Kruger CM 114E, EPSG:4547)
so it cannot be mistaken for a real place while its sun and climate are those of the
Pearl River Delta coast. Magnitudes are calibrated to published aggregates (see
``sample_data/README.md`` and :data:`CALIBRATION`).

Layout: forested hills with reservoirs in the west, a river running east to the sea, a
cropland plain with villages and aquaculture ponds, a dense core at the river mouth, a
satellite town, a port with an industrial zone south of the river mouth and an inland
industrial park, and a coast with tidal flats, salt marsh (north), mangroves (south) and
seagrass offshore.

Outputs (``out/``):

- ``demo_city.gpkg`` with layers ``districts`` (planning units, population and GDP, also of 2015),
  ``parcels`` (2023 land/sea-use codes, and the code each parcel had in 2015),
  ``buildings`` (footprints with floors, height, use, roof form), ``roads`` (lines with a
  class), ``wetlands`` (wetland type polygons incl. seagrass), ``protection_zones``
  (ecological protection red line, permanent basic farmland), ``point_sources`` (large
  emitters with their emissions);
- rasters (Cloud-Optimized GeoTIFF): ``landcover_2015.tif`` and ``landcover_2023.tif``
  (CLCD codes, 30 m), ``dem.tif`` (m), ``ndvi_2023.tif``, ``npp_2023.tif`` (g C/m2/yr,
  MOD17-like, 500 m in EPSG:4326: on purpose not on the analysis grid), ``ghi.tif``
  (kWh/m2/yr, 1 km), ``wind_speed_100m.tif`` (m/s at 100 m, 250 m), ``heat_flow.tif``
  (mW/m2, 1 km), ``temperature.tif`` (annual mean, degC, 1 km), ``precipitation.tif``
  (annual, mm, 1 km);
- ``inventory.csv``: the city's energy CO2 inventory by sector and sub-sector (t CO2/yr), and
  ``inventory_2015.csv``, the same for the base year (the earlier run of the demo's monitoring).
"""

from __future__ import annotations

import argparse
import math
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from affine import Affine
from pyproj import Transformer
from rasterio.enums import Resampling
from scipy import ndimage

from carbonmap.errors import GeometryRepairedWarning
from carbonmap.io import repair_geometries, write_cog, write_csv, write_geopackage
from carbonmap.landuse import classify

CRS = "EPSG:4547"
HERE = Path(__file__).resolve().parent

#: Published aggregates the demo is calibrated to (see sample_data/README.md).
CALIBRATION = {
    # China's energy CO2 per person, ~2021: about 8 t (Global Carbon Project 2022: China
    # 11.47 Gt fossil CO2 in 2021, population 1.4126 billion).
    "co2_t_per_capita": 8.0,
    # Beijing 2021 energy emissions by end use (CONTEXT.md): buildings, transport, industry, agriculture
    "sector_shares": {"buildings": 0.50, "transport": 0.28, "industry": 0.21, "agriculture": 0.01},
    # Beijing 2020: 1.74 billion m2 of floor area for 21.89 million people (CONTEXT.md)
    "floor_area_m2_per_capita": 1.74e9 / 21.89e6,
    # Beijing 2021 GDP 4.03 trillion CNY for 21.89 million people (Beijing Statistical Yearbook 2022)
    "gdp_cny_per_capita": 4.03e12 / 21.89e6,
    # Share of industrial emissions from the city's three large point sources (demo assumption)
    "point_source_share_of_industry": 0.55,
    # Share of GDP from agriculture, spread by area (China 2021: 7.3 %; coastal cities less)
    "primary_gdp_share": 0.03,
    # Rural population density outside the mapped settlements [persons/km2] (demo assumption)
    "rural_persons_per_km2": 150.0,
    # Relative building-energy CO2 per m2 (residential = 1): demo assumption, not a published figure
    "building_intensity_weights": {"residential": 1.0, "commercial": 2.0, "public": 1.5},
    # The earlier inputs (base_year, 2015) for the demo's monitoring comparison:
    # real GDP 2023 / 2015 = 1.550, the product of China's real GDP growth 2016-2023 (National Bureau
    # of Statistics: 6.8, 6.9, 6.7, 6.0, 2.2, 8.4, 3.0, 5.2 %)
    "real_gdp_index_since_base_year": 1.068 * 1.069 * 1.067 * 1.060 * 1.022 * 1.084 * 1.030 * 1.052,
    # population growth 2015-2023 [%/yr] (demo assumption: a coastal city gaining people)
    "population_growth_pct_yr": 1.5,
    # 2015 inventory = 2023 inventory x these factors (demo assumption, roughly China's energy CO2 of
    # 2015 against 2023: about 2 %/yr overall, faster in transport and buildings than in industry)
    "base_year_sector_factors": {"buildings": 0.82, "transport": 0.78, "industry": 0.92, "agriculture": 1.0},
}


@dataclass(frozen=True)
class CitySpec:
    """What to generate. The defaults are the committed demo city."""

    seed: int = 2030
    width_km: float = 30.0
    height_km: float = 24.0
    resolution_m: float = 30.0
    population: int = 2_000_000
    n_districts: int = 14
    block_m: float = 210.0
    rural_parcel_km2: float = 0.32
    offshore_km: float = 3.0
    origin_lonlat: tuple[float, float] = (114.85, 21.40)
    year: int = 2023
    base_year: int = 2015
    n_satellites: int | None = None  # default: one per ~350 km2
    core_sigma_km: float = 3.0  # spread of the main core's urban intensity
    core_shore_distance_km: float = 3.2  # from the river mouth, inland
    villages_per_km2: float = 0.2  # candidate village sites per km2 of the whole area
    satellite_sigma_km: tuple[float, float] = (1.0, 1.6)
    satellite_spacing_km: float = 7.0  # minimum distance between urban centres
    street_clip_km: float | None = None  # cut the streets into squares of this size before their 600 m parcels

    @classmethod
    def megacity(cls) -> CitySpec:
        """16,120 km2 at 30 m, 21.9 million people, ~340,000 parcels, ~940,000 buildings (benchmarks)."""
        return cls(width_km=130.0, height_km=124.0, population=21_900_000, n_districts=16,
                   block_m=150.0, rural_parcel_km2=0.045, n_satellites=20, core_sigma_km=15.0,
                   satellite_sigma_km=(3.0, 6.0), satellite_spacing_km=24.0, core_shore_distance_km=16.0,
                   villages_per_km2=1.1, street_clip_km=6.0)


PRESETS = {"demo": CitySpec(), "megacity": CitySpec.megacity()}


# --------------------------------------------------------------------------- geography


@dataclass
class Geography:
    """Shapes of the city in km from the lower-left corner."""

    spec: CitySpec
    rng: np.random.Generator
    hills: np.ndarray = field(default=None)  # (n, 4): x, y, height m, radius km
    cores: np.ndarray = field(default=None)  # (n, 3): x, y, sigma km (first = main core)

    def __post_init__(self):
        s, rng = self.spec, self.rng
        w, h = s.width_km, s.height_km
        self.shore_phase = rng.uniform(0, 2 * np.pi, 2)
        self.river_phase = rng.uniform(0, 2 * np.pi, 2)
        n_hills = max(3, int(round(w * h / 120)))
        hx = rng.uniform(0.04 * w, 0.42 * w, n_hills)
        hy = rng.uniform(0.05 * h, 0.95 * h, n_hills)
        self.hills = np.column_stack([hx, hy, rng.uniform(160, 420, n_hills), rng.uniform(2.0, 4.0, n_hills)])
        river_mouth_y = self.river_y(self.shore_x(np.array([0.5 * h]))[0])
        sigma = s.core_sigma_km
        core_x = self.shore_x(np.array([river_mouth_y]))[0] - s.core_shore_distance_km
        cores = [(core_x, float(self.river_y(np.array([core_x]))[0]) + 0.4, sigma)]
        low, high = s.satellite_sigma_km
        n_sat = s.n_satellites if s.n_satellites is not None else max(1, int(w * h / 350))
        tries = 0
        while len(cores) < 1 + n_sat and tries < 10_000:
            tries += 1
            x, y = rng.uniform(0.35 * w, 0.9 * w), rng.uniform(0.08 * h, 0.92 * h)
            if x > self.shore_x(np.array([y]))[0] - 2.5 or self.dem_km(np.array([x]), np.array([y]))[0] > 40:
                continue
            if min(math.hypot(x - cx, y - cy) for cx, cy, _ in cores) < s.satellite_spacing_km:
                continue
            cores.append((x, y, rng.uniform(low, high)))
        self.cores = np.array(cores)
        mouth_x = self.shore_x(np.array([river_mouth_y]))[0]
        # port and industry south of the river mouth; an inland industrial park
        self.port = (mouth_x - 3.6, river_mouth_y - 6.8, mouth_x - 0.05, river_mouth_y - 3.4)
        park_x = 0.42 * w
        self.park = (park_x, 0.12 * h, park_x + 3.0, 0.12 * h + 2.2)

    # shapes as functions of coordinates [km]
    def shore_x(self, y):
        w, h = self.spec.width_km, self.spec.height_km
        a, b = self.shore_phase
        return 0.74 * w + 1.1 * np.sin(2 * np.pi * y / h * 1.3 + a) + 0.5 * np.sin(2 * np.pi * y / h * 3.7 + b)

    def intertidal_width(self, y):
        return 0.35 + 0.2 * np.sin(y / 2.3)

    def river_y(self, x):
        h = self.spec.height_km
        a, b = self.river_phase
        return 0.48 * h + 1.6 * np.sin(x / 3.3 + a) + 0.6 * np.sin(x / 1.1 + b)

    def river_width(self, x):
        return 0.05 + 0.15 * np.clip(x / self.spec.width_km, 0, 1)

    def dem_km(self, x, y):
        """Elevation [m] from hills, a seaward slope and the river valley (no noise)."""
        z = np.zeros(np.broadcast(x, y).shape)
        for hx, hy, hz, hr in self.hills:
            z += hz * np.exp(-((x - hx) ** 2 + (y - hy) ** 2) / (2 * hr**2))
        shore = self.shore_x(y)
        z += 35.0 * np.clip((shore - x) / shore, 0, 1)
        z -= 30.0 * np.exp(-((y - self.river_y(x)) / 0.9) ** 2) * np.clip(z / 150.0, 0, 1)
        return np.where(x < shore, np.maximum(z, 1.0), -8.0 * (x - shore))

    def urban_intensity(self, x, y):
        u = np.zeros(np.broadcast(x, y).shape)
        for i, (cx, cy, sigma) in enumerate(self.cores):
            weight = 1.0 if i == 0 else 0.8
            u = np.maximum(u, weight * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2)))
        return u

    def core_distance(self, x, y):
        """Distance to the nearest core in units of its sigma."""
        d = np.full(np.broadcast(x, y).shape, np.inf)
        for cx, cy, sigma in self.cores:
            d = np.minimum(d, np.hypot(x - cx, y - cy) / sigma)
        return d

    def in_box(self, box, x, y):
        x0, y0, x1, y1 = box
        return (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)

    # polygons [km]
    def land_polygon(self, seaward=0.0):
        h = self.spec.height_km
        ys = np.linspace(0, h, 400)
        xs = np.minimum(self.shore_x(ys) + seaward, self.spec.width_km)
        return shapely.Polygon([(0, 0), *zip(xs, ys), (0, h)])

    def intertidal_polygon(self):
        h = self.spec.height_km
        ys = np.linspace(0, h, 400)
        inner = self.shore_x(ys)
        outer = np.minimum(inner + self.intertidal_width(ys), self.spec.width_km)
        return shapely.Polygon([*zip(inner, ys), *zip(outer[::-1], ys[::-1])])

    def river_polygon(self):
        xs = np.linspace(0, self.spec.width_km, 600)
        yc, half = self.river_y(xs), self.river_width(xs) / 2
        return shapely.Polygon([*zip(xs, yc - half), *zip(xs[::-1], (yc + half)[::-1])])

    def reservoirs(self):
        """Lakes in the valleys between the two highest hills' flanks."""
        order = np.argsort(-self.hills[:, 2])[:2]
        lakes = []
        for hx, hy, _, hr in self.hills[order]:
            cx, cy = hx + 1.3 * hr, hy - 0.4 * hr
            lakes.append(shapely.affinity.scale(shapely.Point(cx, cy).buffer(0.55, 32), 1.6, 0.8))
        return lakes


# --------------------------------------------------------------------------- parcels


URBAN_MIX = {  # zone -> (codes, probabilities), 2023 land/sea-use classification
    "core": (["0902", "090101", "070102", "070101", "080601", "080403", "0803", "1401", "1403",
              "120802", "1303"],
             [0.16, 0.12, 0.30, 0.08, 0.04, 0.07, 0.05, 0.09, 0.03, 0.03, 0.03]),
    "inner": (["070102", "070101", "0702", "090101", "0902", "080403", "080601", "1401", "1301",
               "120803"],
              [0.42, 0.12, 0.05, 0.09, 0.04, 0.09, 0.03, 0.10, 0.03, 0.03]),
    "outer": (["070102", "070103", "090101", "100101", "110101", "080403", "1401", "1402", "16",
               "1209"],
              [0.38, 0.06, 0.07, 0.14, 0.07, 0.07, 0.08, 0.04, 0.06, 0.03]),
    "industrial": (["100102", "100103", "110101", "1002", "1305", "1402"],
                   [0.58, 0.08, 0.18, 0.03, 0.05, 0.08]),
    "port": (["1204", "110101", "100102", "1402"], [0.45, 0.25, 0.22, 0.08]),
}


def _urban_blocks(rng, x0, x1, y0, y1, d, u, port, industrial) -> pd.DataFrame:
    """Urban blocks [m] with their land-use codes by zone (port, industrial, core, inner, outer by
    distance d to the core), whether they are recent growth, and half the residential and
    commercial blocks split in two along x."""
    zone = np.where(port, "port", np.where(industrial, "industrial",
                    np.where(d < 0.55, "core", np.where(d < 1.15, "inner", "outer"))))
    codes = np.empty(len(x0), dtype=object)
    for name, mix in URBAN_MIX.items():
        sel = zone == name
        codes[sel] = _pick(rng, mix, int(sel.sum()))
    # recent growth: outer blocks with u just above the threshold were farmland in 2015
    new = (zone == "outer") & (u < 0.43)
    split = np.isin(codes, ["070101", "070102", "070103", "090101", "0902"]) & (rng.random(len(x0)) < 0.5)
    xm = (x0 + x1) / 2
    return pd.DataFrame({
        "x0": np.concatenate([x0, np.where(split, xm, 0)[split]]),
        "x1": np.concatenate([np.where(split, xm, x1), x1[split]]),
        "y0": np.concatenate([y0, y0[split]]), "y1": np.concatenate([y1, y1[split]]),
        "code": np.concatenate([codes, codes[split]]),
        "zone": np.concatenate([zone, zone[split]]),
        "new": np.concatenate([new, new[split]]),
        "core_distance": np.concatenate([d, d[split]]),
    })


def _pick(rng, zone_mix, n):
    codes, p = zone_mix
    return np.array(codes)[rng.choice(len(codes), size=n, p=np.array(p) / np.sum(p))]


def _grid_lines(rng, length_km, step_km):
    n = int(length_km / step_km) + 2
    steps = step_km * rng.uniform(0.85, 1.15, n)
    return np.concatenate([[0.0], np.cumsum(steps)])


def _grid_blocks(xs, ys):
    """The blocks between street lines xs, ys [km]: their grid indices and edges, each street's
    half width off (arterials, every fourth line, 36 m wide; others 16 m)."""
    street_x = np.where(np.arange(len(xs)) % 4 == 0, 0.036, 0.016)
    street_y = np.where(np.arange(len(ys)) % 4 == 0, 0.036, 0.016)
    gx, gy = np.meshgrid(np.arange(len(xs) - 1), np.arange(len(ys) - 1))
    gx, gy = gx.ravel(), gy.ravel()
    return (gx, gy, xs[gx] + street_x[gx] / 2, xs[gx + 1] - street_x[gx + 1] / 2,
            ys[gy] + street_y[gy] / 2, ys[gy + 1] - street_y[gy + 1] / 2)


def make_urban(geo: Geography, rng, land, water):
    """Urban blocks (parcels), the area they and their streets cover, and street lines [km]."""
    s = geo.spec
    step = s.block_m / 1000
    xs, ys = _grid_lines(rng, s.width_km, step), _grid_lines(rng, s.height_km, step)
    gx, gy, x0, x1, y0, y1 = _grid_blocks(xs, ys)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    u = geo.urban_intensity(cx, cy)
    industrial = geo.in_box(geo.park, cx, cy)
    port = geo.in_box(geo.port, cx, cy)
    dem = geo.dem_km(cx, cy)
    urban = ((u > 0.33) | industrial | port) & (dem < 70)
    boxes = shapely.box(x0, y0, x1, y1)
    inside = shapely.contains(land, boxes) & ~shapely.intersects(water, boxes)
    keep = urban & inside
    x0, x1, y0, y1, cx, cy, u = x0[keep], x1[keep], y0[keep], y1[keep], cx[keep], cy[keep], u[keep]
    industrial, port, gx, gy = industrial[keep], port[keep], gx[keep], gy[keep]
    d = geo.core_distance(cx, cy)
    blocks = _urban_blocks(rng, x0, x1, y0, y1, d, u, port, industrial)
    # the street network: every kept grid cell, streets included, minus the blocks
    cells = shapely.box(xs[gx], ys[gy], xs[gx + 1], ys[gy + 1])
    lines = []
    for k, xl in enumerate(xs):
        lines.append((shapely.LineString([(xl, 0), (xl, s.height_km)]), "arterial" if k % 4 == 0 else "local"))
    for k, yl in enumerate(ys):
        lines.append((shapely.LineString([(0, yl), (s.width_km, yl)]), "arterial" if k % 4 == 0 else "local"))
    return blocks, shapely.coverage_union_all(cells), lines


RURAL_BY_ELEVATION = [  # (upper elevation m, codes, probabilities)
    (12, ["0101", "0102", "1704", "060201", "0403", "2306"], [0.46, 0.22, 0.20, 0.04, 0.06, 0.02]),
    (45, ["0101", "0102", "0103", "1704", "0201", "0403", "060202"], [0.38, 0.18, 0.14, 0.10, 0.10, 0.06, 0.04]),
    (120, ["0201", "0301", "0103", "0403", "0205", "0304"], [0.30, 0.34, 0.16, 0.08, 0.06, 0.06]),
    (300, ["0301", "0202", "0303", "0403", "0302", "2307"], [0.66, 0.12, 0.10, 0.05, 0.05, 0.02]),
    (1e9, ["0301", "0303", "0403"], [0.72, 0.20, 0.08]),
]


def make_rural(geo: Geography, rng, rural_area):
    """Voronoi parcels over the rural land, coded by elevation band [km]."""
    s = geo.spec
    xmin, ymin, xmax, ymax = rural_area.bounds
    n = int(rural_area.area / s.rural_parcel_km2 * 1.15)
    pts = shapely.points(rng.uniform(xmin, xmax, n), rng.uniform(ymin, ymax, n))
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=rural_area.envelope))
    shapely.prepare(rural_area)
    inside = shapely.contains_properly(rural_area, cells)  # most cells: kept whole, no overlay
    cells = cells.copy()
    cells[~inside] = shapely.intersection(cells[~inside], rural_area)
    cells = np.array([g for part in cells for g in shapely.get_parts(part) if g.geom_type == "Polygon" and g.area > 1e-4])
    rep = shapely.point_on_surface(cells)
    x, y = shapely.get_x(rep), shapely.get_y(rep)
    z = geo.dem_km(x, y)
    codes = np.empty(len(cells), dtype=object)
    lower = -np.inf
    for upper, band_codes, p in RURAL_BY_ELEVATION:
        sel = (z >= lower) & (z < upper)
        codes[sel] = _pick(rng, (band_codes, p), int(sel.sum()))
        lower = upper
    near_shore = geo.shore_x(y) - x < 1.2
    ponds = near_shore & (z < 12) & (rng.random(len(cells)) < 0.35)
    codes[ponds] = "1704"
    return cells, codes


def make_villages(geo: Geography, rng, candidates):
    """Village rectangles (rural homesteads) on the plain [km]."""
    s = geo.spec
    n = max(4, int(s.width_km * s.height_km * s.villages_per_km2))
    x = rng.uniform(0, s.width_km, n * 4)
    y = rng.uniform(0, s.height_km, n * 4)
    z = geo.dem_km(x, y)
    ok = (z > 2) & (z < 60) & (geo.urban_intensity(x, y) < 0.18)
    x, y = x[ok][:n], y[ok][:n]
    half_w = rng.uniform(0.08, 0.17, len(x))
    half_h = rng.uniform(0.06, 0.13, len(x))
    boxes = shapely.box(x - half_w, y - half_h, x + half_w, y + half_h)
    shapely.prepare(candidates)
    boxes = boxes[shapely.contains(candidates, boxes)]
    pairs = shapely.STRtree(boxes).query(boxes, predicate="intersects")
    earlier = pairs[:, pairs[0] > pairs[1]]  # (i, j) with j < i
    neighbours = pd.Series(earlier[1]).groupby(earlier[0]).agg(list).to_dict()
    keep = np.zeros(len(boxes), bool)
    for i in range(len(boxes)):  # no overlapping villages: keep a box unless an earlier kept one meets it
        keep[i] = not keep[neighbours.get(i, [])].any()
    return boxes[keep]


# --------------------------------------------------------------------------- buildings


BUILDING_USE = {  # carbon category -> building use
    "built_residential": "residential", "built_commercial": "commercial", "built_public": "public",
    "built_industrial": "industrial",
}


def make_buildings(rng, parcels: pd.DataFrame, rects: np.ndarray, villages: bool) -> pd.DataFrame:
    """Footprints laid out inside rectangular parcels [km], vectorised over parcels.

    rects: (n, 4) x0, y0, x1, y1 of each parcel. Residential slabs face south in rows whose
    pitch grows with height (sun access); commercial towers; public blocks; industrial sheds;
    village houses.
    """
    n = len(rects)
    use = parcels["use"].to_numpy()
    d = parcels["core_distance"].to_numpy()
    w = rects[:, 2] - rects[:, 0]
    h = rects[:, 3] - rects[:, 1]
    floors = np.ones(n)
    length = np.zeros(n)
    depth = np.zeros(n)
    gap = np.zeros(n)
    setback = np.full(n, 0.012)
    res = use == "residential"
    com = use == "commercial"
    pub = use == "public"
    ind = use == "industrial"
    if villages:
        floors[:] = rng.integers(2, 5, n)
        length[:] = rng.uniform(0.010, 0.014, n)
        depth[:] = rng.uniform(0.008, 0.012, n)
        gap[:] = rng.uniform(0.012, 0.020, n)
        setback[:] = 0.006
    else:
        floors[res] = np.where(d[res] < 0.55, rng.integers(18, 34, res.sum()),
                               np.where(d[res] < 1.15, rng.integers(11, 19, res.sum()), rng.integers(6, 12, res.sum())))
        length[res], depth[res], gap[res] = rng.uniform(0.040, 0.062, res.sum()), rng.uniform(0.012, 0.016, res.sum()), 0.015
        floors[com] = np.where(d[com] < 0.55, rng.integers(20, 48, com.sum()), rng.integers(4, 13, com.sum()))
        side = rng.uniform(0.030, 0.045, com.sum())
        length[com], depth[com], gap[com] = side, side, 0.030
        floors[pub] = rng.integers(3, 7, pub.sum())
        length[pub], depth[pub], gap[pub] = rng.uniform(0.040, 0.065, pub.sum()), rng.uniform(0.025, 0.035, pub.sum()), 0.035
        floors[ind] = rng.integers(1, 3, ind.sum())
        length[ind], depth[ind], gap[ind] = rng.uniform(0.060, 0.110, ind.sum()), rng.uniform(0.035, 0.070, ind.sum()), 0.025
    storey_m = np.where(ind, 8.0, np.where(com, 4.0, 3.0))
    height_km = floors * storey_m / 1000
    pitch = np.where(res, depth + 0.7 * height_km, depth + gap)  # sun spacing for housing (0.7 H)
    cols = np.floor((w - 2 * setback + gap) / (length + gap)).astype(int)
    rows = np.floor((h - 2 * setback + pitch - depth) / np.maximum(pitch, 1e-9)).astype(int)
    cols = np.where(length > 0, np.maximum(cols, 0), 0)
    rows = np.where(length > 0, np.maximum(rows, 0), 0)
    if not villages:  # public and commercial blocks hold a few buildings, not a dense grid
        cap = np.where(com, rng.integers(1, 5, n), np.where(pub, rng.integers(1, 4, n), rows * cols))
        rows = np.where(com | pub, np.minimum(rows, 1 + (cap > 2)), rows)
        cols = np.where(com | pub, np.minimum(cols, np.ceil(cap / np.maximum(rows, 1)).astype(int)), cols)
    count = rows * cols
    owner = np.repeat(np.arange(n), count)
    k = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    r, c = k // np.maximum(cols[owner], 1), k % np.maximum(cols[owner], 1)
    # centre the grid of buildings in the parcel
    used_w = cols * (length + gap) - gap
    used_h = (rows - 1) * pitch + depth
    bx0 = rects[owner, 0] + (w[owner] - used_w[owner]) / 2 + c * (length[owner] + gap[owner])
    by0 = rects[owner, 1] + (h[owner] - used_h[owner]) / 2 + r * pitch[owner]
    jitter = rng.uniform(-0.2, 0.2, owner.size) * gap[owner]
    bx0 = bx0 + jitter
    per_building_floors = floors[owner] + np.where(villages, 0, rng.integers(-1, 2, owner.size))
    per_building_floors = np.maximum(per_building_floors, 1)
    roof = np.where(villages, np.where(rng.random(owner.size) < 0.6, "pitched", "flat"),
                    np.where((per_building_floors <= 3) & (use[owner] == "residential") & (rng.random(owner.size) < 0.5),
                             "pitched", "flat"))
    return pd.DataFrame({
        "parcel_index": owner, "x0": bx0, "y0": by0, "x1": bx0 + length[owner], "y1": by0 + depth[owner],
        "floors": per_building_floors.astype(int),
        "storey_m": storey_m[owner], "use": use[owner] if not villages else "residential", "roof": roof,
    })


# --------------------------------------------------------------------------- rasters


CLCD_OF_CATEGORY = {  # carbon category -> CLCD code
    "cropland": 1, "orchard": 2, "forest": 2, "shrub": 3, "grassland": 4, "green_space": 4,
    "water": 5, "snow_ice": 6, "barren": 7, "wetland_mangrove": 9, "wetland_salt_marsh": 9,
    "wetland_tidal_flat": 9, "wetland_marsh": 9, "wetland_swamp_forest": 9, "wetland_inland_flat": 9,
    "wetland_peatland": 9, "wetland_seagrass": 0, "sea": 0,
}
NDVI_OF_CLCD = {1: 0.58, 2: 0.80, 3: 0.66, 4: 0.52, 5: -0.15, 6: 0.0, 7: 0.10, 8: 0.14, 9: 0.45}
# Annual NPP [g C/m2/yr] by land cover, within MOD17 ranges for southern China (forests
# 600-1,200, croplands 450-650, grasslands 350-550, urban 100-250; Zhao et al. 2005). Forest,
# shrub and grassland are set so that NEP = NPP - Rh (Pei et al. 2009 at the demo's climate,
# Rh ~ 420 g C/m2/yr) gives forests about Beijing's sink per hectare, ~10 t CO2/ha/yr
# (7.4 Mt on ~7,300 km2 of forest, CONTEXT.md).
NPP_OF_CLCD = {1: 560.0, 2: 700.0, 3: 560.0, 4: 480.0, 5: 0.0, 6: 0.0, 7: 80.0, 8: 160.0, 9: 620.0}


def _to_grid(values_by_code: dict, classes: np.ndarray, fill=np.nan) -> np.ndarray:
    lut = np.full(256, fill, dtype="float32")
    for code, value in values_by_code.items():
        lut[code] = value
    return lut[classes]


def _smooth_noise(rng, shape, sigma_cells, amplitude):
    noise = ndimage.gaussian_filter(rng.standard_normal(shape), sigma_cells, mode="reflect")
    return (noise / (noise.std() or 1.0) * amplitude).astype("float32")


# --------------------------------------------------------------------------- main


def make_demo_city(out_dir: str | Path, spec: CitySpec = CitySpec()) -> dict[str, Path]:
    """Generate the city into `out_dir`; return the paths written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    geo = Geography(spec, rng)
    to_metres = _projection(spec)

    land = geo.land_polygon()
    intertidal = geo.intertidal_polygon()
    domain = geo.land_polygon(seaward=spec.offshore_km).intersection(shapely.box(0, 0, spec.width_km, spec.height_km))
    river = geo.river_polygon().intersection(land)
    lakes = shapely.union_all(geo.reservoirs()).intersection(land)
    water = shapely.union_all([river, lakes])

    blocks, urban_cells, street_lines = make_urban(geo, rng, land, water)
    urban_envelope = urban_cells.buffer(0.02, join_style="mitre").intersection(land).difference(water)
    rural_land = land.difference(urban_envelope).difference(water)
    villages = make_villages(geo, rng, rural_land)
    rural_land = rural_land.difference(shapely.union_all(villages))
    rural_cells, rural_codes = make_rural(geo, rng, rural_land)

    # coastal wetlands and sea
    h = spec.height_km
    south = shapely.box(0, 0, spec.width_km, 0.30 * h)
    north = shapely.box(0, 0.66 * h, spec.width_km, h)
    port_box = shapely.box(*geo.port)
    mangrove = intertidal.intersection(south).difference(port_box)
    salt_marsh = intertidal.intersection(north).difference(port_box)
    tidal_flat = intertidal.difference(south).difference(north).difference(port_box)
    reclaimed = intertidal.intersection(port_box)  # tidal flat in 2015, port land by 2023
    sea = domain.difference(land).difference(intertidal)
    shore_buffer = land.union(intertidal).buffer(1.2)
    seagrass = sea.intersection(south).intersection(shore_buffer).difference(land.union(intertidal).buffer(0.35))
    port_waters = sea.intersection(port_box.buffer(1.0)).difference(seagrass)
    aquaculture = sea.intersection(north).intersection(shore_buffer).difference(port_waters)
    other_sea = sea.difference(seagrass).difference(port_waters).difference(aquaculture)

    # assemble parcels
    parts = []

    def add(geoms, codes, codes_2015=None, **extra):
        geoms = np.atleast_1d(np.asarray(geoms, dtype=object))
        frame = pd.DataFrame({"geometry": list(geoms), "code": np.broadcast_to(codes, len(geoms)).astype(object)})
        frame["code_2015"] = frame["code"] if codes_2015 is None else np.broadcast_to(codes_2015, len(geoms))
        for key, value in extra.items():
            frame[key] = np.broadcast_to(value, len(geoms))
        parts.append(frame)

    block_geoms = shapely.box(blocks.x0, blocks.y0, blocks.x1, blocks.y1)
    farmland_2015 = np.where(rng.random(len(blocks)) < 0.7, "0101", "0201")
    add(block_geoms, blocks["code"].to_numpy(), np.where(blocks["new"], farmland_2015, blocks["code"]),
        core_distance=blocks["core_distance"].to_numpy())
    # streets: the envelope minus the blocks, cut into parcels by a 600 m tile grid
    streets = urban_envelope.difference(shapely.union_all(block_geoms))
    tiles = shapely.box(*np.meshgrid(np.arange(0, spec.width_km, 0.6), np.arange(0, spec.height_km, 0.6)),
                        *[a + 0.6 for a in np.meshgrid(np.arange(0, spec.width_km, 0.6), np.arange(0, spec.height_km, 0.6))])
    street_parts = shapely.get_parts(_clip_to_tiles(streets, tiles.ravel(), spec.street_clip_km))
    add(street_parts[shapely.area(street_parts) > 2e-5], "1207")
    add(villages, "0703", core_distance=9.0)
    rural_2015 = rural_codes.copy()
    rep = shapely.point_on_surface(rural_cells)
    distance = geo.core_distance(shapely.get_x(rep), shapely.get_y(rep))
    cleared = (distance < 2.6) & np.isin(rural_codes, ["0103", "2307", "0403", "0101"]) \
        & (rng.random(len(rural_codes)) < 0.55)
    rural_2015[cleared] = "0301"  # forest cleared for fields, quarries and grass since 2015
    planted = (rural_codes == "0301") & (distance > 3.5) & (rng.random(len(rural_codes)) < 0.025)
    rural_2015[planted] = "0403"  # grassland afforested since 2015
    add(rural_cells, rural_codes, rural_2015)
    for geom, code in ((river, "1701"), (lakes, "1703")):
        add(shapely.get_parts(geom), code)
    add(shapely.get_parts(mangrove), "0507")
    add(shapely.get_parts(salt_marsh), "0505")
    add(shapely.get_parts(tidal_flat), "0505")
    add(shapely.get_parts(reclaimed), "1204", "0505")
    add(shapely.get_parts(seagrass), "2203")
    add(shapely.get_parts(port_waters), "2001")
    add(shapely.get_parts(aquaculture), "1802")
    add(shapely.get_parts(other_sea), "24")
    parcels = pd.concat(parts, ignore_index=True)
    parcels["geometry"] = shapely.make_valid(parcels["geometry"].to_numpy())
    parcels = parcels.explode("geometry", ignore_index=True)
    parcels = parcels[shapely.get_type_id(parcels["geometry"].to_numpy()) == 3]
    parcels["core_distance"] = parcels["core_distance"].fillna(9.0)
    parcels = parcels[shapely.area(parcels["geometry"].to_numpy()) > 1e-5].reset_index(drop=True)
    info = classify(parcels["code"], "ydyh_2023")
    parcels["carbon_category"] = info["carbon_category"].to_numpy()
    parcels["name_en"] = info["name_en"].to_numpy()
    parcels["use"] = parcels["carbon_category"].map(BUILDING_USE)

    # buildings: on urban blocks (rectangles) and in villages
    rect = shapely.bounds(parcels["geometry"].to_numpy())
    is_block = np.zeros(len(parcels), bool)
    is_block[: len(blocks)] = True
    urban_built = is_block & parcels["use"].notna().to_numpy()
    village = (parcels["code"] == "0703").to_numpy()
    b_urban = make_buildings(rng, parcels[urban_built].reset_index(drop=True), rect[urban_built], villages=False)
    b_urban["parcel_index"] = np.flatnonzero(urban_built)[b_urban["parcel_index"]]
    b_village = make_buildings(rng, parcels[village].assign(use="residential").reset_index(drop=True), rect[village], villages=True)
    b_village["parcel_index"] = np.flatnonzero(village)[b_village["parcel_index"]]
    b_village["use"] = "residential"
    buildings = pd.concat([b_urban, b_village], ignore_index=True)
    _calibrate_floors(buildings, spec, village_count=len(b_village))

    # to metres, EPSG:4547
    def geo_frame(frame, geoms):
        metres = to_metres(np.asarray(geoms, dtype=object))
        kind = "line" if shapely.get_type_id(metres[0]) in (1, 5) else None
        gdf = gpd.GeoDataFrame(frame, geometry=metres, crs=CRS)
        if kind is None and shapely.get_type_id(metres[0]) in (3, 6):
            kind = "polygon"
        # shifting to 1e6 m coordinates can round slivers into self-intersections
        if shapely.is_valid(metres).all():
            return gdf
        with warnings.catch_warnings():  # expected here; the repair is the point
            warnings.simplefilter("ignore", GeometryRepairedWarning)
            return repair_geometries(gdf, kind=kind)

    parcel_gdf = geo_frame(parcels.drop(columns=["geometry", "use", "core_distance"]), parcels["geometry"].to_numpy())
    parcel_gdf.insert(0, "parcel_id", [f"P{i:06d}" for i in range(len(parcel_gdf))])
    parcel_gdf["area_m2"] = parcel_gdf.area.round(1)
    building_geoms = shapely.box(buildings.x0, buildings.y0, buildings.x1, buildings.y1)
    building_gdf = geo_frame(pd.DataFrame({
        "building_id": [f"B{i:07d}" for i in range(len(buildings))],
        "parcel_id": parcel_gdf["parcel_id"].to_numpy()[buildings["parcel_index"].to_numpy()],
        "use": buildings["use"].to_numpy(), "floors": buildings["floors"].to_numpy(),
        "height_m": (buildings["floors"] * buildings["storey_m"]).to_numpy(),
        "roof": buildings["roof"].to_numpy(),
    }), building_geoms)
    building_gdf["footprint_m2"] = building_gdf.area.round(1)

    districts = _districts(geo, rng, domain, spec)
    district_gdf = geo_frame(pd.DataFrame({"district_id": [f"D{i + 1:02d}" for i in range(len(districts))]}), districts)
    district_gdf = _district_names_population_gdp(district_gdf, building_gdf, spec)

    roads = _roads(geo, street_lines, urban_envelope, land, spec)
    road_gdf = geo_frame(pd.DataFrame({"road_class": [c for _, c in roads]}), [g for g, _ in roads])
    road_gdf["length_m"] = road_gdf.length.round(1)

    wetland_gdf = geo_frame(pd.DataFrame({"wetland_type": ["mangrove", "salt_marsh", "tidal_flat", "seagrass"]}),
                            [mangrove, salt_marsh, tidal_flat, seagrass])
    zones_gdf = _protection_zones(geo, parcel_gdf, wetland_gdf, to_metres)
    point_sources, inventory = _inventory(geo, rng, spec, building_gdf, to_metres)

    paths = {}
    # A fixed timestamp in gpkg_contents makes the GeoPackage reproducible byte for byte.
    # (pyogrio bundles its own GDAL, so the option is set there, not through rasterio.)
    previous = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": "2024-01-01T00:00:00Z"})
    try:
        paths["gpkg"] = write_geopackage(out / "demo_city.gpkg", {
            "districts": district_gdf, "parcels": parcel_gdf, "buildings": building_gdf,
            "roads": road_gdf, "wetlands": wetland_gdf, "protection_zones": zones_gdf,
            "point_sources": point_sources,
        })
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": previous})
    paths["inventory"] = write_csv(out / "inventory.csv", inventory)
    paths["inventory_earlier"] = write_csv(out / f"inventory_{spec.base_year}.csv", _earlier_inventory(inventory, spec))
    paths.update(_rasters(geo, rng, spec, parcel_gdf, out))
    return paths


def _clip_to_tiles(geom, tiles: np.ndarray, coarse_km: float | None = None) -> np.ndarray:
    """`geom` intersected with each of `tiles` (axis-aligned boxes) [km].

    Parameters
    ----------
    geom : shapely geometry
        One (large) polygon, e.g. the street network.
    tiles : array of boxes
        The pieces to cut it into.
    coarse_km : float, optional
        None: one overlay of `geom` per tile. Otherwise `geom` is first cut by the boxes that
        enclose the tiles whose lower-left corners fall in the same square of `coarse_km`, then
        each tile is cut from its box's piece: the same areas, each overlay on a small piece (the
        one overlay per tile costs the size of `geom` each time: O(tiles x size) instead of
        O((squares + tiles / squares) x size)). Ring start points may differ from the one-step cut.
    """
    if coarse_km is None:
        return shapely.intersection(geom, tiles)
    bounds = shapely.bounds(tiles)
    origin = bounds[:, :2].min(axis=0)
    key = np.floor((bounds[:, :2] - origin) / coarse_km + 1e-9).astype(int)
    _, group = np.unique(key, axis=0, return_inverse=True)
    group = group.ravel()
    out = np.empty(len(tiles), dtype=object)
    shapely.prepare(geom)
    for g in range(group.max() + 1):
        sel = np.flatnonzero(group == g)
        square = shapely.box(bounds[sel, 0].min(), bounds[sel, 1].min(), bounds[sel, 2].max(), bounds[sel, 3].max())
        piece = shapely.intersection(geom, square) if shapely.intersects(geom, square) else shapely.Polygon()
        out[sel] = shapely.intersection(piece, tiles[sel])
    return out


def _earlier_inventory(inventory: pd.DataFrame, spec: CitySpec) -> pd.DataFrame:
    """The inventory of ``spec.base_year``: each row x its sector's factor (:data:`CALIBRATION`)."""
    factors = CALIBRATION["base_year_sector_factors"]
    earlier = inventory.copy()
    earlier["co2_t_yr"] = (inventory["co2_t_yr"] * inventory["sector"].map(factors)).round(0)
    earlier["year"] = spec.base_year
    earlier["note"] = (f"synthetic; the {spec.year} inventory x a factor per sector (demo assumption: "
                       f"about China's energy CO2 of {spec.base_year} against {spec.year})")
    return earlier


def _projection(spec: CitySpec):
    """km offsets -> EPSG:4547 metres, the origin snapped to whole km."""
    x0, y0 = Transformer.from_crs("EPSG:4326", CRS, always_xy=True).transform(*spec.origin_lonlat)
    x0, y0 = round(x0, -3), round(y0, -3)
    spec_origin = (x0, y0)

    def to_metres(geoms):
        return shapely.transform(geoms, lambda c: c * 1000.0 + np.array(spec_origin))

    to_metres.origin = spec_origin
    return to_metres


FLOOR_CAPS = {"residential": 45, "commercial": 70, "public": 20, "industrial": 6}


def _calibrate_floors(buildings: pd.DataFrame, spec: CitySpec, village_count: int) -> None:
    """Scale urban floor counts so the total floor area matches the per-capita calibration,
    within realistic caps per use (village houses keep their 2-4 floors)."""
    footprint = ((buildings.x1 - buildings.x0) * (buildings.y1 - buildings.y0) * 1e6).to_numpy()
    urban = np.arange(len(buildings)) < len(buildings) - village_count
    cap = buildings["use"].map(FLOOR_CAPS).to_numpy().astype(float)
    buildings["floors"] = _calibrated_floors(footprint, buildings["floors"].to_numpy(), cap, urban,
                                             spec.population * CALIBRATION["floor_area_m2_per_capita"])


def _calibrated_floors(footprint_m2, floors, cap, urban, target_m2):
    """Urban floor counts scaled by one factor, so that the total floor area reaches a target.

    Parameters
    ----------
    footprint_m2 : array [m2]
        Each building's footprint.
    floors : array of int [-]
        Its floors before scaling.
    cap : array [-]
        The most floors it may have (by its use, :data:`FLOOR_CAPS`).
    urban : array of bool
        False: the building keeps its floors (village houses).
    target_m2 : float [m2]
        The total floor area wanted.

    Returns
    -------
    array of int [-]
        The floors.

    Raises
    ------
    RuntimeError
        When even k = 1000 leaves the floor area short of the target.

    Notes
    -----
    floors_i(k) = clip(round(k floors_i), 1, cap_i) on urban buildings; k is the upper end of a
    bisection on [0.05, 1000] (80 halvings) for sum_i floors_i(k) footprint_i = target_m2.
    """
    base = floors.astype(float)

    def floors_at(k):
        return np.where(urban, np.clip(np.round(base * k), 1, cap), base)

    if float((floors_at(1e3) * footprint_m2).sum()) < target_m2:
        raise RuntimeError("the city has too few building footprints for its population's floor area")
    lo, hi = 0.05, 1e3
    for _ in range(80):
        k = (lo + hi) / 2
        lo, hi = (k, hi) if float((floors_at(k) * footprint_m2).sum()) < target_m2 else (lo, k)
    return floors_at(hi).astype(int)


DISTRICT_NAMES = [
    ("城中区", "Chengzhong"), ("江口区", "Jiangkou"), ("滨海区", "Binhai"), ("港湾区", "Gangwan"),
    ("东湖区", "Donghu"), ("西山区", "Xishan"), ("南塘区", "Nantang"), ("北岭区", "Beiling"),
    ("新城区", "Xincheng"), ("青林区", "Qinglin"), ("田园区", "Tianyuan"), ("沙洲区", "Shazhou"),
    ("云岭区", "Yunling"), ("红树区", "Hongshu"), ("水库区", "Shuiku"), ("高新区", "Gaoxin"),
    ("临港区", "Lingang"), ("河西区", "Hexi"), ("凤凰区", "Fenghuang"), ("翠屏区", "Cuiping"),
]


def _districts(geo: Geography, rng, domain, spec: CitySpec):
    """Voronoi districts, seeds denser around the cores."""
    n = spec.n_districts
    seeds = []
    core_seeds = max(3, n // 3)
    cx, cy, sigma = geo.cores[0]
    angles = np.linspace(0, 2 * np.pi, core_seeds, endpoint=False) + rng.uniform(0, 0.5)
    radii = sigma * rng.uniform(0.7, 1.3, core_seeds)  # not cocircular: degenerate for Voronoi
    seeds += [(cx + r * np.cos(a), cy + r * np.sin(a)) for a, r in zip(angles, radii)]
    xmin, ymin, xmax, ymax = domain.bounds
    while len(seeds) < n:
        x, y = rng.uniform(xmin, xmax), rng.uniform(ymin, ymax)
        if domain.contains(shapely.Point(x, y)) and min(math.hypot(x - a, y - b) for a, b in seeds) > 0.45 * math.sqrt(domain.area / n):
            seeds.append((x, y))
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=domain.envelope))
    cells = shapely.intersection(cells, domain)
    cells = np.array([max(shapely.get_parts(c), key=lambda g: g.area) if c.geom_type != "Polygon" else c for c in cells])
    if abs(shapely.area(cells).sum() - domain.area) > 1e-6 * domain.area:
        raise RuntimeError("districts do not tile the planning domain")
    return cells


def _district_names_population_gdp(districts: gpd.GeoDataFrame, buildings: gpd.GeoDataFrame, spec: CitySpec):
    """Population by residential floor area, GDP by non-residential floor area."""
    centroids = buildings.centroid
    joined = gpd.sjoin(gpd.GeoDataFrame(buildings.drop(columns="geometry"), geometry=centroids, crs=CRS),
                       districts[["district_id", "geometry"]], predicate="within", how="left")
    floor_area = joined["footprint_m2"] * joined["floors"]
    residential = floor_area.where(joined["use"] == "residential", 0).groupby(joined["district_id"]).sum()
    other = floor_area.where(joined["use"] != "residential", 0).groupby(joined["district_id"]).sum()
    res = residential.reindex(districts["district_id"]).fillna(0).to_numpy()
    oth = other.reindex(districts["district_id"]).fillna(0).to_numpy()
    # rural people live in villages and farmsteads too small to map: a base density by area
    rural = CALIBRATION["rural_persons_per_km2"] * districts.area.to_numpy() / 1e6
    urban = max(spec.population - rural.sum(), 0) * res / res.sum()
    population = _largest_remainder(spec.population, rural + urban)
    gdp_total = spec.population * CALIBRATION["gdp_cny_per_capita"] / 1e8  # 亿元
    area = districts.area.to_numpy()
    primary = CALIBRATION["primary_gdp_share"]
    gdp = gdp_total * (primary * area / area.sum()
                       + (1 - primary) * (0.35 * res / res.sum() + 0.65 * oth / max(oth.sum(), 1)))
    order = np.argsort(-population)  # names: the most populous district is the centre
    names = np.empty(len(districts), dtype=object)
    names_en = np.empty(len(districts), dtype=object)
    for rank, i in enumerate(order):
        names[i], names_en[i] = DISTRICT_NAMES[rank % len(DISTRICT_NAMES)]
    out = districts.copy()
    out.insert(1, "name_zh", names)
    out.insert(2, "name_en", names_en)
    out["population"] = population
    out["gdp_cny_1e8"] = np.round(gdp, 2)
    years = spec.year - spec.base_year
    earlier = round(spec.population / (1 + CALIBRATION["population_growth_pct_yr"] / 100) ** years)
    out[f"population_{spec.base_year}"] = _largest_remainder(earlier, population.astype(float))
    out[f"gdp_cny_1e8_{spec.base_year}"] = np.round(gdp / CALIBRATION["real_gdp_index_since_base_year"], 2)
    out["area_km2"] = (out.area / 1e6).round(3)
    return out


def _largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    raw = total * weights / weights.sum()
    floor = np.floor(raw).astype(int)
    floor[np.argsort(-(raw - floor))[: total - floor.sum()]] += 1
    return floor


def _roads(geo: Geography, street_lines, urban_envelope, land, spec: CitySpec):
    roads = []
    city = urban_envelope.intersection(land)
    for line, road_class in street_lines:
        clipped = line.intersection(city)
        for part in shapely.get_parts(clipped):
            if part.length > 0.05:
                roads.append((part, road_class))
    # an expressway from the hills to the port, and a coastal expressway
    w, h = spec.width_km, spec.height_km
    cx, cy, _ = geo.cores[0]
    xs = np.linspace(0.02 * w, cx, 60)
    highway = shapely.LineString(np.column_stack([xs, geo.river_y(xs) + 1.2 + 0.3 * np.sin(xs / 2)]))
    ys = np.linspace(0.02 * h, 0.98 * h, 80)
    coastal = shapely.LineString(np.column_stack([geo.shore_x(ys) - 1.6, ys]))
    for line in (highway, coastal):
        for part in shapely.get_parts(line.intersection(land)):
            roads.append((part, "expressway"))
    return roads


def _protection_zones(geo: Geography, parcels: gpd.GeoDataFrame, wetlands: gpd.GeoDataFrame, to_metres):
    """Ecological protection red line (high forest, mangrove, seagrass) and permanent basic farmland."""
    forest = parcels[parcels["code"].isin(["0301", "0302", "0303"])]
    x, y = (forest.representative_point().x - to_metres.origin[0]) / 1000, (forest.representative_point().y - to_metres.origin[1]) / 1000
    high = forest[geo.dem_km(x.to_numpy(), y.to_numpy()) > 160]
    red_line = shapely.union_all(np.concatenate([
        high.geometry.values,
        wetlands.loc[wetlands["wetland_type"].isin(["mangrove", "seagrass"]), "geometry"].values,
    ]))
    crops = parcels[parcels["code"].isin(["0101", "0102"])]
    farmland = shapely.union_all(crops.geometry.values[crops["area_m2"].to_numpy() >= np.quantile(crops["area_m2"], 0.2)]) \
        if len(crops) else shapely.Polygon()
    zones = gpd.GeoDataFrame({
        "zone": ["ecological_protection_red_line", "permanent_basic_farmland"],
        "name_zh": ["生态保护红线", "永久基本农田"],
    }, geometry=[red_line, farmland], crs=CRS)
    return zones[~zones.is_empty].reset_index(drop=True)


def _sector_inventory(population: float, year: int, floor: pd.Series):
    """The inventory by sector [t CO2/yr] at the calibrated per-capita CO2, buildings' share split by
    use in proportion to floor area [m2] x intensity weight; with the total and the sector shares."""
    total = population * CALIBRATION["co2_t_per_capita"]
    shares = CALIBRATION["sector_shares"]
    weights = CALIBRATION["building_intensity_weights"]
    weighted = {use: floor.get(use, 0.0) * weights[use] for use in weights}
    building_total = total * shares["buildings"]
    rows = [("buildings", use, building_total * value / sum(weighted.values())) for use, value in weighted.items()]
    rows += [("transport", "road", total * shares["transport"]),
             ("industry", "", total * shares["industry"]),
             ("agriculture", "", total * shares["agriculture"])]
    inventory = pd.DataFrame(rows, columns=["sector", "sub_sector", "co2_t_yr"])
    inventory["co2_t_yr"] = inventory["co2_t_yr"].round(0)
    inventory["year"] = year
    inventory["note"] = "synthetic; calibrated to China's per-capita energy CO2 and Beijing's 2021 end-use shares"
    return total, shares, inventory


def _inventory(geo: Geography, rng, spec: CitySpec, buildings: gpd.GeoDataFrame, to_metres):
    floor = (buildings["footprint_m2"] * buildings["floors"]).groupby(buildings["use"]).sum()
    total, shares, inventory = _sector_inventory(spec.population, spec.year, floor)
    industry = total * shares["industry"] * CALIBRATION["point_source_share_of_industry"]
    px0, py0, px1, py1 = geo.port
    kx0, ky0, kx1, ky1 = geo.park
    sites = [("gas-fired power plant", (px0 + px1) / 2, py0 + 0.4, 0.50),
             ("steel rolling mill", px0 + 0.6, (py0 + py1) / 2, 0.30),
             ("cement plant", (kx0 + kx1) / 2, (ky0 + ky1) / 2, 0.20)]
    points = gpd.GeoDataFrame({
        "name": [s[0] for s in sites],
        "sector": "industry",
        "co2_t_yr": [round(industry * s[3]) for s in sites],
        "year": spec.year,
    }, geometry=to_metres(shapely.points([(s[1], s[2]) for s in sites])), crs=CRS)
    return points, inventory


def _rasters(geo: Geography, rng, spec: CitySpec, parcels: gpd.GeoDataFrame, out: Path) -> dict[str, Path]:
    from carbonmap.grid import AnalysisGrid, rasterize

    res = spec.resolution_m
    x0, y0 = parcels.total_bounds[:2]
    origin = (math.floor(x0 / 1000) * 1000, math.floor(y0 / 1000) * 1000)
    width = int(round(spec.width_km * 1000 / res))
    height = int(round(spec.height_km * 1000 / res))
    transform = Affine(res, 0, origin[0], 0, -res, origin[1] + height * res)
    grid = AnalysisGrid(parcels.crs, transform, width, height)
    category_code = {c: CLCD_OF_CATEGORY.get(c, 8) for c in parcels["carbon_category"].unique()}
    lc = {}
    for year, column in ((spec.year, "code"), (spec.base_year, "code_2015")):
        cats = classify(parcels[column], "ydyh_2023")["carbon_category"]
        values = cats.map(lambda c: CLCD_OF_CATEGORY.get(c, 8)).to_numpy().astype("uint8")
        lc[year] = rasterize(parcels.assign(v=values), grid, values="v", fill=0, dtype="uint8")
    del category_code
    # cell-centre coordinates in km for the continuous fields
    cols = (np.arange(width) + 0.5) * res / 1000 + (origin[0] - _projection(spec).origin[0]) / 1000
    rows = (height - np.arange(height) - 0.5) * res / 1000 + (origin[1] - _projection(spec).origin[1]) / 1000
    xk, yk = np.meshgrid(cols, rows)
    dem = (geo.dem_km(xk, yk) + _smooth_noise(rng, xk.shape, 6, 6.0)).astype("float32")
    land = lc[spec.year] > 0
    dem = np.round(np.where(land, np.maximum(dem, 0.5), np.minimum(dem, -0.5)), 1).astype("float32")
    paths = {}
    common = {"transform": transform, "crs": CRS}
    paths["landcover_2023"] = write_cog(out / "landcover_2023.tif", lc[spec.year], nodata=0, **common,
                                        tags={"code_system": "clcd", "year": str(spec.year)})
    paths["landcover_2015"] = write_cog(out / "landcover_2015.tif", lc[spec.base_year], nodata=0, **common,
                                        tags={"code_system": "clcd", "year": str(spec.base_year)})
    paths["dem"] = write_cog(out / "dem.tif", dem, nodata=-9999.0, resampling="average", **common,
                             tags={"unit": "m"})
    ndvi = _to_grid(NDVI_OF_CLCD, lc[spec.year]) + _smooth_noise(rng, xk.shape, 2, 0.05)
    ndvi = np.round(np.where(land, np.clip(ndvi, -1, 1), np.nan), 3).astype("float32")
    paths["ndvi_2023"] = write_cog(out / "ndvi_2023.tif", ndvi, nodata=float("nan"), resampling="average",
                                   tags={"unit": "1", "year": str(spec.year)}, **common)
    # coarse rasters, each on its own grid (as real products are)
    npp = _to_grid(NPP_OF_CLCD, lc[spec.year]) * (1 + _smooth_noise(rng, xk.shape, 8, 0.08))
    npp = np.where(land, npp, np.nan)
    paths["npp_2023"] = _write_resampled(out / "npp_2023.tif", npp, grid, "EPSG:4326", 0.005,
                                         {"unit": "g C m-2 yr-1", "year": str(spec.year)})
    shore_distance = geo.shore_x(yk) - xk
    temperature = 22.8 - 0.0065 * np.maximum(dem, 0) - 0.04 * np.clip(shore_distance, 0, None)
    precipitation = 1780 + 0.9 * np.maximum(dem, 0) + 6.0 * np.clip(shore_distance, 0, None)
    ghi = 1390 - 0.12 * np.maximum(dem, 0) + 4.0 * np.clip(-shore_distance, 0, 5) - 1.5 * np.clip(shore_distance, 0, 30)
    wind = 5.2 + 2.0 / (1 + np.exp(shore_distance / 1.5)) + 0.0035 * np.maximum(dem, 0) - 0.8 * geo.urban_intensity(xk, yk)
    heat = 66 + 14 * np.exp(-((xk - 0.35 * spec.width_km) ** 2) / (2 * 1.5**2)) + _smooth_noise(rng, xk.shape, 20, 2.0)
    for name, values, cell_m, tags in (
        ("temperature", temperature, 1000, {"unit": "degC", "quantity": "annual mean air temperature"}),
        ("precipitation", precipitation, 1000, {"unit": "mm yr-1", "quantity": "annual precipitation"}),
        ("ghi", ghi, 1000, {"unit": "kWh m-2 yr-1", "quantity": "annual global horizontal irradiation"}),
        ("wind_speed_100m", wind, 250, {"unit": "m s-1", "quantity": "mean wind speed", "height_m": "100"}),
        ("heat_flow", heat, 1000, {"unit": "mW m-2", "quantity": "terrestrial heat flow"}),
    ):
        paths[name] = _write_resampled(out / f"{name}.tif", values, grid, CRS, cell_m, tags)
    return paths


def _write_resampled(path: Path, values: np.ndarray, grid, crs: str, cell: float, tags) -> Path:
    """Write `values` (on `grid`) averaged onto a grid of `cell` in `crs`, as real products of
    other resolutions and projections come (cells snapped to multiples of `cell`)."""
    from rasterio.warp import reproject, transform_bounds

    west, south, east, north = transform_bounds(grid.crs, crs, *grid.bounds)
    west, south = math.floor(west / cell) * cell, math.floor(south / cell) * cell
    width = math.ceil(round((east - west) / cell, 9))
    height = math.ceil(round((north - south) / cell, 9))
    transform = Affine(cell, 0, west, 0, -cell, south + height * cell)
    out = np.full((height, width), np.nan, dtype="float32")
    reproject(values.astype("float32"), out, src_transform=grid.transform, src_crs=grid.crs, src_nodata=np.nan,
              dst_transform=transform, dst_crs=crs, dst_nodata=np.nan, resampling=Resampling.average)
    return write_cog(path, out, transform=transform, crs=crs, nodata=float("nan"),
                     resampling="average", tags=tags)


# --------------------------------------------------------------------------- city cluster (tiled)


@dataclass(frozen=True)
class City:
    """One city of a cluster: its core at a fraction of the area's width and height."""

    name_zh: str
    name_en: str
    x: float  # fraction of the width
    y: float  # fraction of the height
    sigma_km: float  # spread of its urban intensity
    weight: float = 0.9  # its peak urban intensity (the main city 1.0)


@dataclass(frozen=True)
class ClusterSpec:
    """A city cluster generated tile by tile in bounded memory (see :func:`make_city_cluster`).

    The defaults: 240 x 234 km (56,160 km2, 8,000 x 7,800 cells at 30 m, about the Greater Bay
    Area), eight cities of different sizes along a coast, small towns between them.
    """

    seed: int = 2035
    width_km: float = 240.0
    height_km: float = 234.0
    resolution_m: float = 30.0
    tile_km: float = 6.0  # vector tiles and raster strips; a multiple of 4 x block_m and of 5 cells
    population: int = 86_000_000
    block_m: float = 150.0
    rural_parcel_km2: float = 0.05
    offshore_km: float = 4.0
    origin_lonlat: tuple[float, float] = (113.0, 18.6)  # open sea south of the Pearl River Delta
    year: int = 2023
    base_year: int = 2015
    cities: tuple[City, ...] = (
        City("蓝湾", "Lanwan", 0.70, 0.55, 12.0, 1.0),
        City("青港", "Qinggang", 0.78, 0.24, 10.0, 0.95),
        City("云江", "Yunjiang", 0.44, 0.70, 9.0, 0.95),
        City("石岭", "Shiling", 0.50, 0.30, 7.0, 0.9),
        City("桂屿", "Guiyu", 0.80, 0.86, 6.0, 0.9),
        City("棠河", "Tanghe", 0.26, 0.46, 6.0, 0.9),
        City("枫桥", "Fengqiao", 0.22, 0.14, 4.5, 0.85),
        City("白沙", "Baisha", 0.18, 0.82, 4.0, 0.85),
    )
    n_towns: int = 30
    town_sigma_km: tuple[float, float] = (1.2, 2.8)
    town_spacing_km: float = 12.0
    villages_per_km2: float = 1.25
    river_y: tuple[float, ...] = (0.20, 0.50, 0.78)  # fractions of the height where rivers run east
    districts_per_sigma2: float = 1 / 8  # urban districts of a city per km2 of its sigma squared
    rural_district_km: float = 30.0  # spacing of the rural districts' seeds

    @property
    def tiles(self) -> tuple[int, int]:
        """(columns, rows) of vector tiles."""
        return round(self.width_km / self.tile_km), round(self.height_km / self.tile_km)

    @property
    def cells_per_tile(self) -> int:
        return round(self.tile_km * 1000 / self.resolution_m)


CLUSTER_PRESETS = {"cluster": ClusterSpec()}


class ClusterGeography:
    """Shapes of a city cluster in km from the lower-left corner, evaluated locally.

    Like :class:`Geography` (hills, rivers, a coast to the east), with many cities: ``cores``
    holds (x, y, sigma, weight, city) of the cities and of the towns (each town belongs to its
    nearest city). Hills and cores further than 6 sigma from the queried points are left out
    (their contribution is below exp(-18) of their height).
    """

    def __init__(self, spec: ClusterSpec, rng: np.random.Generator):
        self.spec = spec
        w, h = spec.width_km, spec.height_km
        self.shore_phase = rng.uniform(0, 2 * np.pi, 3)
        self.river_phase = rng.uniform(0, 2 * np.pi, (len(spec.river_y), 2))
        cores = [(c.x * w, c.y * h, c.sigma_km, c.weight, i) for i, c in enumerate(spec.cities)]
        n_city = len(cores)
        low, high = spec.town_sigma_km
        tries = 0
        while len(cores) < n_city + spec.n_towns and tries < 20_000:
            tries += 1
            x, y = rng.uniform(0.03 * w, 0.95 * w), rng.uniform(0.03 * h, 0.97 * h)
            if x > self.shore_x(np.array([y]))[0] - 3.0:
                continue
            arr = np.array(cores)
            gap = np.hypot(arr[:, 0] - x, arr[:, 1] - y) - np.where(np.arange(len(arr)) < n_city, 1.6 * arr[:, 2], 0)
            if gap.min() < spec.town_spacing_km:
                continue
            city = int(np.argmin(np.hypot(arr[:n_city, 0] - x, arr[:n_city, 1] - y)))
            cores.append((x, y, rng.uniform(low, high), 0.8, city))
        self.cores = np.array(cores)
        # hills away from the cores, and reservoirs beside the highest
        n_hills = max(3, round(w * h / 200))
        hx = rng.uniform(0.01 * w, 0.9 * w, 6 * n_hills)
        hy = rng.uniform(0.01 * h, 0.99 * h, 6 * n_hills)
        hz = rng.uniform(160, 420, 6 * n_hills)
        hr = rng.uniform(2.0, 4.0, 6 * n_hills)
        clear = np.ones(hx.size, bool)
        for cx, cy, sigma, _, _ in self.cores:
            clear &= np.hypot(hx - cx, hy - cy) > 1.6 * sigma + 2.5 * hr
        clear &= hx < self.shore_x(hy) - 6.0
        self.hills = np.column_stack([hx, hy, hz, hr])[clear][:n_hills]
        # each city's industrial park, and a port for the cities near the coast
        parks, ports = [], []
        for i, c in enumerate(spec.cities):
            cx, cy, sigma = c.x * w, c.y * h, c.sigma_km
            angle = rng.uniform(0, 2 * np.pi)
            px, py = cx + 1.1 * sigma * np.cos(angle), cy + 1.1 * sigma * np.sin(angle)
            size = max(1.0, sigma / 5)
            parks.append((px - 1.5 * size, py - 1.1 * size, px + 1.5 * size, py + 1.1 * size))
            y_port = cy - 0.8 * sigma
            shore = self.shore_x(np.array([y_port]))[0]
            if shore - cx < 4 * sigma + 5:
                ports.append((shore - 3.6, y_port - 1.7, shore - 0.05, y_port + 1.7, i))
        self.parks = np.array(parks)
        self.ports = np.array(ports).reshape(-1, 5)

    # shapes as functions of coordinates [km]
    def shore_x(self, y):
        w, h = self.spec.width_km, self.spec.height_km
        a, b, c = self.shore_phase
        return (0.88 * w + 4.0 * np.sin(2 * np.pi * y / h * 1.3 + a) + 1.5 * np.sin(2 * np.pi * y / h * 3.7 + b)
                + 0.6 * np.sin(y / 2.3 + c))

    def intertidal_width(self, y):
        return 0.45 + 0.25 * np.sin(y / 2.3)

    def river_y(self, k, x):
        a, b = self.river_phase[k]
        return self.spec.river_y[k] * self.spec.height_km + 3.0 * np.sin(x / 9.0 + a) + 1.0 * np.sin(x / 2.5 + b)

    def river_width(self, x):
        return 0.05 + 0.30 * np.clip(x / self.spec.width_km, 0, 1)

    def _near(self, table, x, y, reach):
        """Rows of `table` (x, y in its first two columns) within `reach` (per row) of the points' box."""
        if np.size(x) == 0:
            return table[:0]
        x0, x1, y0, y1 = np.min(x), np.max(x), np.min(y), np.max(y)
        dx = np.maximum(np.maximum(x0 - table[:, 0], table[:, 0] - x1), 0)
        dy = np.maximum(np.maximum(y0 - table[:, 1], table[:, 1] - y1), 0)
        return table[np.hypot(dx, dy) <= reach]

    def dem_km(self, x, y):
        """Elevation [m] from hills, a seaward slope and the river valleys (no noise)."""
        x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        z = np.zeros(x.shape)
        for hx, hy, hz, hr in self._near(self.hills, x, y, 6 * self.hills[:, 3]):
            z += hz * np.exp(-((x - hx) ** 2 + (y - hy) ** 2) / (2 * hr**2))
        shore = self.shore_x(y)
        z += 35.0 * np.clip((shore - x) / shore, 0, 1)
        valley = np.zeros(x.shape)
        for k in range(len(self.spec.river_y)):
            valley = np.maximum(valley, np.exp(-((y - self.river_y(k, x)) / 0.9) ** 2))
        z -= 30.0 * valley * np.clip(z / 150.0, 0, 1)
        return np.where(x < shore, np.maximum(z, 1.0), -8.0 * (x - shore))

    def urban_intensity(self, x, y):
        x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        u = np.zeros(x.shape)
        for cx, cy, sigma, weight, _ in self._near(self.cores, x, y, 6 * self.cores[:, 2]):
            u = np.maximum(u, weight * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2)))
        return u

    def core_distance(self, x, y):
        """Distance to the nearest core in units of its sigma, and that core's city."""
        x, y = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        d = np.full(x.shape, np.inf)
        city = np.zeros(x.shape, int)
        for cx, cy, sigma, _, c in self.cores:
            dk = np.hypot(x - cx, y - cy) / sigma
            city = np.where(dk < d, int(c), city)
            d = np.minimum(d, dk)
        return d, city

    def in_boxes(self, boxes, x, y):
        inside = np.zeros(np.shape(x), bool)
        for x0, y0, x1, y1 in boxes[:, :4]:
            inside |= (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
        return inside

    def grid_lines(self, index, axis):
        """Street lines [km] of one tile column (axis 0) or row (axis 1): its edges and jittered
        lines between, a multiple of 4 of them so both edges are arterials."""
        s = self.spec
        n = 4 * max(1, round(s.tile_km * 1000 / s.block_m / 4))
        steps = np.random.default_rng([s.seed, 11, axis, index]).uniform(0.85, 1.15, n)
        lines = np.concatenate([[0.0], np.cumsum(steps)]) * s.tile_km / steps.sum() + index * s.tile_km
        lines[-1] = (index + 1) * s.tile_km
        return lines

    # polygons [km]
    def land_polygon(self, seaward=0.0):
        h = self.spec.height_km
        ys = np.linspace(0, h, 3000)
        xs = np.minimum(self.shore_x(ys) + seaward, self.spec.width_km)
        return shapely.Polygon([(0, 0), *zip(xs, ys), (0, h)])

    def intertidal_polygon(self):
        h = self.spec.height_km
        ys = np.linspace(0, h, 3000)
        inner = np.minimum(self.shore_x(ys), self.spec.width_km)
        outer = np.minimum(inner + self.intertidal_width(ys), self.spec.width_km)
        return shapely.make_valid(shapely.Polygon([*zip(inner, ys), *zip(outer[::-1], ys[::-1])]))

    def river_polygons(self):
        xs = np.linspace(0, self.spec.width_km, 4000)
        half = self.river_width(xs) / 2
        return [shapely.Polygon([*zip(xs, self.river_y(k, xs) - half), *zip(xs[::-1], (self.river_y(k, xs) + half)[::-1])])
                for k in range(len(self.spec.river_y))]

    def reservoirs(self, n=8):
        order = np.argsort(-self.hills[:, 2])[:n]
        return [shapely.affinity.scale(shapely.Point(hx + 1.3 * hr, hy - 0.4 * hr).buffer(0.55, 32), 1.6, 0.8)
                for hx, hy, _, hr in self.hills[order]]


@dataclass
class ClusterShapes:
    """The cluster's large polygons [km], computed once; tiles clip them."""

    land: object
    domain: object
    water: object
    rivers: object
    lakes: object
    intertidal: object
    sea_parts: dict  # code -> polygon: seagrass, port waters, aquaculture, other sea
    wetlands: dict  # wetland type -> polygon
    reclaimed: object
    port_union: object


def _cluster_shapes(geo: ClusterGeography) -> ClusterShapes:
    s = geo.spec
    w, h = s.width_km, s.height_km
    land = geo.land_polygon()
    intertidal = geo.intertidal_polygon()
    domain = geo.land_polygon(seaward=s.offshore_km).intersection(shapely.box(0, 0, w, h))
    rivers = shapely.union_all(geo.river_polygons()).intersection(land)
    lakes = shapely.union_all(geo.reservoirs()).intersection(land).difference(rivers)
    water = shapely.union_all([rivers, lakes])
    port_union = shapely.union_all(shapely.box(*geo.ports[:, :4].T)) if len(geo.ports) else shapely.Polygon()
    south = shapely.box(0, 0, w, 0.30 * h)
    north = shapely.box(0, 0.66 * h, w, h)
    wetlands = {
        "mangrove": intertidal.intersection(south).difference(port_union),
        "salt_marsh": intertidal.intersection(north).difference(port_union),
        "tidal_flat": intertidal.difference(south).difference(north).difference(port_union),
    }
    reclaimed = intertidal.intersection(port_union)
    sea = domain.difference(land).difference(intertidal)
    coast = land.union(intertidal)
    shore_buffer = coast.buffer(1.2)
    seagrass = sea.intersection(south).intersection(shore_buffer).difference(coast.buffer(0.35))
    port_waters = sea.intersection(port_union.buffer(1.0)).difference(seagrass)
    aquaculture = sea.intersection(north).intersection(shore_buffer).difference(port_waters)
    other_sea = sea.difference(seagrass).difference(port_waters).difference(aquaculture)
    wetlands["seagrass"] = seagrass
    sea_parts = {"2203": seagrass, "2001": port_waters, "1802": aquaculture, "24": other_sea}
    for g in [land, domain, water, rivers, lakes, intertidal, reclaimed, *sea_parts.values(), *wetlands.values()]:
        shapely.prepare(g)
    return ClusterShapes(land, domain, water, rivers, lakes, intertidal, sea_parts, wetlands, reclaimed, port_union)


def _tile_blocks(geo: ClusterGeography, rng, tx, ty, land_t, water_t):
    """Urban blocks of one tile (as :func:`make_urban`, on the tile's street grid) [km]."""
    xs, ys = geo.grid_lines(tx, 0), geo.grid_lines(ty, 1)
    gx, gy, x0, x1, y0, y1 = _grid_blocks(xs, ys)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    u = geo.urban_intensity(cx, cy)
    industrial = geo.in_boxes(geo.parks, cx, cy)
    port = geo.in_boxes(geo.ports, cx, cy)
    urban = ((u > 0.33) | industrial | port) & (geo.dem_km(cx, cy) < 70)
    keep = urban.copy()
    if urban.any():
        boxes = shapely.box(x0[urban], y0[urban], x1[urban], y1[urban])
        keep[urban] = shapely.contains(land_t, boxes) & ~shapely.intersects(water_t, boxes)
    x0, x1, y0, y1, cx, cy, u = x0[keep], x1[keep], y0[keep], y1[keep], cx[keep], cy[keep], u[keep]
    industrial, port, gx, gy = industrial[keep], port[keep], gx[keep], gy[keep]
    d, _ = geo.core_distance(cx, cy)
    blocks = _urban_blocks(rng, x0, x1, y0, y1, d, u, port, industrial).drop(columns="zone")
    cells = shapely.box(xs[gx], ys[gy], xs[gx + 1], ys[gy + 1])
    lines = [(shapely.LineString([(xl, ys[0]), (xl, ys[-1])]), "arterial" if k % 4 == 0 else "local")
             for k, xl in enumerate(xs[:-1])]
    lines += [(shapely.LineString([(xs[0], yl), (xs[-1], yl)]), "arterial" if k % 4 == 0 else "local")
              for k, yl in enumerate(ys[:-1])]
    return blocks, cells, lines


def _tile_villages(geo: ClusterGeography, rng, box, candidates):
    """Non-overlapping village rectangles inside `candidates` (as :func:`make_villages`) [km]."""
    s = geo.spec
    x0, y0, x1, y1 = box
    n = max(1, round((x1 - x0) * (y1 - y0) * s.villages_per_km2))
    x, y = rng.uniform(x0, x1, n * 4), rng.uniform(y0, y1, n * 4)
    ok = (geo.dem_km(x, y) > 2) & (geo.dem_km(x, y) < 60) & (geo.urban_intensity(x, y) < 0.18)
    x, y = x[ok][:n], y[ok][:n]
    half_w, half_h = rng.uniform(0.08, 0.17, len(x)), rng.uniform(0.06, 0.13, len(x))
    boxes = shapely.box(x - half_w, y - half_h, x + half_w, y + half_h)
    if candidates.is_empty or not len(boxes):
        return boxes[:0]
    shapely.prepare(candidates)
    boxes = boxes[shapely.contains(candidates, boxes)]
    keep = np.zeros(len(boxes), bool)
    tree = shapely.STRtree(boxes)
    for i in range(len(boxes)):  # keep a box unless an earlier kept one meets it
        near = tree.query(boxes[i], predicate="intersects")
        keep[i] = not keep[near[near < i]].any()
    return boxes[keep]


def _tile_rural(geo: ClusterGeography, rng, rural):
    """Voronoi parcels over a tile's rural land, coded by elevation band (as :func:`make_rural`) [km]."""
    s = geo.spec
    n = int(rural.area / s.rural_parcel_km2 * 1.15)
    if n < 3:
        cells = shapely.get_parts(rural)
    else:
        xmin, ymin, xmax, ymax = rural.bounds
        pts = shapely.points(rng.uniform(xmin, xmax, n), rng.uniform(ymin, ymax, n))
        cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=rural.envelope))
        shapely.prepare(rural)
        inside = shapely.contains_properly(rural, cells)
        cells = cells.copy()
        cells[~inside] = shapely.intersection(cells[~inside], rural)
        cells = shapely.get_parts(cells)
    cells = cells[(shapely.get_type_id(cells) == 3) & (shapely.area(cells) > 1e-4)]
    rep = shapely.point_on_surface(cells)
    x, y = shapely.get_x(rep), shapely.get_y(rep)
    z = geo.dem_km(x, y)
    codes = np.empty(len(cells), dtype=object)
    lower = -np.inf
    for upper, band_codes, p in RURAL_BY_ELEVATION:
        sel = (z >= lower) & (z < upper)
        codes[sel] = _pick(rng, (band_codes, p), int(sel.sum()))
        lower = upper
    ponds = (geo.shore_x(y) - x < 1.2) & (z < 12) & (rng.random(len(cells)) < 0.35)
    codes[ponds] = "1704"
    codes_2015 = codes.copy()
    distance, _ = geo.core_distance(x, y)
    cleared = (distance < 2.6) & np.isin(codes, ["0103", "2307", "0403", "0101"]) & (rng.random(len(codes)) < 0.55)
    codes_2015[cleared] = "0301"  # forest cleared for fields, quarries and grass since 2015
    planted = (codes == "0301") & (distance > 3.5) & (rng.random(len(codes)) < 0.025)
    codes_2015[planted] = "0403"  # grassland afforested since 2015
    return cells, codes, codes_2015, z


def _cluster_tile(geo: ClusterGeography, shapes: ClusterShapes, tx: int, ty: int):
    """Parcels, buildings, streets and protection pieces of one tile [km], or None off the domain.

    Returns a dict: ``parcels`` (DataFrame with geometry, code, code_2015, use, dem), ``buildings``
    (DataFrame of rectangles, ``parcel_index`` into the tile's parcels, ``village``), ``roads``
    ([(line, class)]), ``red_line`` and ``farmland`` (polygons).
    """
    s = geo.spec
    t = s.tile_km
    bounds = (tx * t, ty * t, (tx + 1) * t, (ty + 1) * t)
    tile = shapely.box(*bounds)
    if not shapely.intersects(shapes.domain, tile):
        return None
    rng = np.random.default_rng([s.seed, 7, ty, tx])
    land_t = shapes.land.intersection(tile)
    water_t = shapes.water.intersection(tile)
    parts = []

    def add(geoms, codes, codes_2015=None, **extra):
        geoms = np.atleast_1d(np.asarray(geoms, dtype=object))
        if not len(geoms):
            return
        frame = pd.DataFrame({"geometry": list(geoms), "code": np.broadcast_to(codes, len(geoms)).astype(object)})
        frame["code_2015"] = frame["code"] if codes_2015 is None else np.broadcast_to(codes_2015, len(geoms))
        for key, value in extra.items():
            frame[key] = np.broadcast_to(value, len(geoms))
        parts.append(frame)

    roads, n_blocks = [], 0
    rural = land_t.difference(water_t) if not land_t.is_empty else land_t
    if not land_t.is_empty:
        shapely.prepare(land_t)
        shapely.prepare(water_t)
        blocks, cells, lines = _tile_blocks(geo, rng, tx, ty, land_t, water_t)
        n_blocks = len(blocks)
        block_geoms = shapely.box(blocks.x0, blocks.y0, blocks.x1, blocks.y1)
        farmland_2015 = np.where(rng.random(n_blocks) < 0.7, "0101", "0201")
        add(block_geoms, blocks["code"].to_numpy(), np.where(blocks["new"], farmland_2015, blocks["code"]),
            core_distance=blocks["core_distance"].to_numpy())
        if n_blocks:
            envelope = shapely.coverage_union_all(cells).buffer(0.02, join_style="mitre") \
                .intersection(land_t).difference(water_t)
            rural = rural.difference(envelope)
            # streets: the envelope minus the blocks, cut by a 600 m grid of the tile only
            streets = envelope.difference(shapely.union_all(block_geoms))
            step = t / 10
            gx, gy = np.meshgrid(bounds[0] + step * np.arange(10), bounds[1] + step * np.arange(10))
            sub = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + step, gy.ravel() + step)
            street_parts = shapely.get_parts(shapely.intersection(streets, sub))
            add(street_parts[shapely.area(street_parts) > 2e-5], "1207")
            shapely.prepare(envelope)
            for line, road_class in lines:
                for part in shapely.get_parts(line.intersection(envelope)):
                    if part.geom_type == "LineString" and part.length > 0.05:
                        roads.append((part, road_class))
        villages = _tile_villages(geo, rng, bounds, rural)
        if len(villages):
            rural = rural.difference(shapely.union_all(villages))
        add(villages, "0703", core_distance=9.0)
        if not rural.is_empty:
            cells_r, codes, codes_2015, _ = _tile_rural(geo, rng, rural)
            add(cells_r, codes, codes_2015)
        add(shapely.get_parts(shapes.rivers.intersection(tile)), "1701")
        add(shapely.get_parts(shapes.lakes.intersection(tile)), "1703")
    for name, code in (("mangrove", "0507"), ("salt_marsh", "0505"), ("tidal_flat", "0505")):
        add(shapely.get_parts(shapes.wetlands[name].intersection(tile)), code)
    add(shapely.get_parts(shapes.reclaimed.intersection(tile)), "1204", "0505")
    for code, geom in shapes.sea_parts.items():
        add(shapely.get_parts(geom.intersection(tile)), code)
    if not parts:
        return None
    parcels = pd.concat(parts, ignore_index=True)
    geoms, owner = shapely.get_parts(shapely.make_valid(parcels["geometry"].to_numpy()), return_index=True)
    parcels = parcels.drop(columns="geometry").iloc[owner].reset_index(drop=True)
    parcels.insert(0, "geometry", geoms)  # blocks (rectangles) stay the first n_blocks rows
    keep = (shapely.get_type_id(geoms) == 3) & (shapely.area(geoms) > 1e-5)
    parcels = parcels[keep].reset_index(drop=True)
    if "core_distance" not in parcels:
        parcels["core_distance"] = np.nan
    parcels["core_distance"] = parcels["core_distance"].fillna(9.0)
    info = classify(parcels["code"], "ydyh_2023")
    parcels["carbon_category"] = info["carbon_category"].to_numpy()
    parcels["name_en"] = info["name_en"].to_numpy()
    parcels["use"] = parcels["carbon_category"].map(BUILDING_USE)

    # buildings on the urban blocks (rectangles, the first rows) and in villages
    rect = shapely.bounds(parcels["geometry"].to_numpy())
    is_block = np.arange(len(parcels)) < n_blocks
    urban_built = is_block & parcels["use"].notna().to_numpy()
    village = (parcels["code"] == "0703").to_numpy()
    found = []
    for sel, is_village in ((urban_built, False), (village, True)):
        if sel.any():
            frame = parcels[sel].reset_index(drop=True)
            b = make_buildings(rng, frame.assign(use="residential") if is_village else frame, rect[sel], villages=is_village)
            b["parcel_index"] = np.flatnonzero(sel)[b["parcel_index"]]
            b["use"] = "residential" if is_village else b["use"]
            b["village"] = is_village
            found.append(b)
    buildings = pd.concat(found, ignore_index=True) if found else None

    # protection: forest above 160 m (red line), the larger cropland parcels (basic farmland)
    geoms = parcels["geometry"].to_numpy()
    rep = shapely.point_on_surface(geoms)
    high_forest = parcels["code"].isin(["0301", "0302", "0303"]).to_numpy() \
        & (geo.dem_km(shapely.get_x(rep), shapely.get_y(rep)) > 160)
    crops = parcels["code"].isin(["0101", "0102"]).to_numpy() & (shapely.area(geoms) >= 0.015)
    return {
        "parcels": parcels.drop(columns=["use"]), "buildings": buildings, "roads": roads,
        "red_line": shapely.union_all(geoms[high_forest]) if high_forest.any() else None,
        "farmland": shapely.union_all(geoms[crops]) if crops.any() else None,
    }


def _metres_frame(frame: pd.DataFrame, geoms_km, to_metres, *, single: bool = False) -> gpd.GeoDataFrame:
    """A GeoDataFrame in EPSG:4547 metres from geometries in km, repaired where the shift broke them
    (`single`: a polygon the repair split keeps its largest part, the others are rounding slivers)."""
    metres = to_metres(np.asarray(geoms_km, dtype=object))
    gdf = gpd.GeoDataFrame(frame.reset_index(drop=True), geometry=metres, crs=CRS)
    if shapely.is_valid(metres).all():
        return gdf
    kind = "line" if shapely.get_type_id(metres[0]) in (1, 5) else "polygon"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GeometryRepairedWarning)
        gdf = repair_geometries(gdf, kind=kind)
    multi = np.flatnonzero(gdf.geom_type.to_numpy() == "MultiPolygon") if single else []
    if len(multi):
        geoms = gdf.geometry.to_numpy().copy()
        geoms[multi] = [max(shapely.get_parts(g), key=lambda p: p.area) for g in geoms[multi]]
        gdf = gdf.set_geometry(geoms, crs=CRS)
    return gdf


def _append(path: Path, layer: str, gdf: gpd.GeoDataFrame) -> None:
    """Append features to a GeoPackage layer (created on the first call)."""
    if len(gdf):
        pyogrio.write_dataframe(gdf, path, layer=layer, driver="GPKG", append=path.exists() and layer in
                                {name for name, _ in pyogrio.list_layers(path)})


def _row_noise(seed: int, layer: int, rows: np.ndarray, width: int) -> np.ndarray:
    """White noise [-] of the given global rows, each row drawn from its own counter-based stream
    (Philox keyed by the seed and the layer), so any band of rows is reproducible on its own."""
    out = np.empty((len(rows), width))
    for i, r in enumerate(rows):
        out[i] = np.random.Generator(np.random.Philox(key=seed * 1000 + layer, counter=[0, int(r), 0, 0])).standard_normal(width)
    return out


def _band_noise(seed, layer, row0, row1, height, width, sigma, amplitude):
    """Rows [row0, row1) of a Gaussian-smoothed noise field of `height` x `width` cells, scaled to
    `amplitude` (standard deviation, same unit).

    Notes
    -----
    The same as smoothing the whole field (``scipy.ndimage.gaussian_filter``, mode ``reflect``)
    and cropping: the band is padded with ``int(4 sigma + 0.5)`` rows on each side, taken from the
    reflected global rows. White noise of unit variance smoothed by the separable kernel k has a
    standard deviation of sum(k_i^2) away from the edges; that is the scale used.
    """
    radius = int(4 * sigma + 0.5)
    rows = np.arange(row0 - radius, row1 + radius)
    rows = np.where(rows < 0, -rows - 1, np.where(rows >= height, 2 * height - rows - 1, rows))
    noise = ndimage.gaussian_filter(_row_noise(seed, layer, rows, width), sigma, mode="reflect")[radius:radius + row1 - row0]
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    return (noise / (kernel**2).sum() * amplitude).astype("float32")


def _block_mean(values: np.ndarray, factor: int) -> np.ndarray:
    """Mean of each `factor` x `factor` block, ignoring NaN (NaN where the block has no value)."""
    h, w = values.shape
    blocks = values.reshape(h // factor, factor, w // factor, factor)
    valid = np.isfinite(blocks)
    total = np.where(valid, blocks, 0).sum(axis=(1, 3))
    count = valid.sum(axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / count, np.nan).astype("float32")


def _cluster_districts(geo: ClusterGeography, rng, domain):
    """Districts [km]: Voronoi cells of seeds around each city's core (more for larger cities) and
    of a jittered lattice of rural seeds, clipped to the planning domain; each belongs to the city
    nearest its seed. Returns (polygons, city index per district)."""
    s = geo.spec
    w, h = s.width_km, s.height_km
    seeds, owner = [], []
    for i, c in enumerate(s.cities):
        cx, cy, sigma = c.x * w, c.y * h, c.sigma_km
        n = max(3, round(sigma**2 * s.districts_per_sigma2))
        angles = np.linspace(0, 2 * np.pi, n - 1, endpoint=False) + rng.uniform(0, 0.5)
        radii = sigma * rng.uniform(0.6, 1.4, n - 1)
        seeds += [(cx, cy)] + [(cx + r * np.cos(a), cy + r * np.sin(a)) for a, r in zip(angles, radii)]
        owner += [i] * n
    step = s.rural_district_km
    city_xy = np.array([(c.x * w, c.y * h) for c in s.cities])
    shapely.prepare(domain)
    for gy in np.arange(step / 2, h, step):
        for gx in np.arange(step / 2, w, step):
            x, y = gx + rng.uniform(-0.3, 0.3) * step, gy + rng.uniform(-0.3, 0.3) * step
            near = np.hypot(np.array(seeds)[:, 0] - x, np.array(seeds)[:, 1] - y).min()
            if near > 0.5 * step and domain.contains(shapely.Point(x, y)):
                seeds.append((x, y))
                owner.append(int(np.argmin(np.hypot(city_xy[:, 0] - x, city_xy[:, 1] - y))))
    points = shapely.points(seeds)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(points), extend_to=domain.envelope))
    # voronoi_polygons does not keep the seeds' order: match each cell to its seed
    cell_of_seed = shapely.STRtree(cells).query(points, predicate="within")
    order = np.empty(len(points), int)
    order[cell_of_seed[0]] = cell_of_seed[1]
    cells = shapely.intersection(cells[order], domain)
    keep = ~shapely.is_empty(cells)
    if abs(shapely.area(cells).sum() - domain.area) > 1e-6 * domain.area:
        raise RuntimeError("districts do not tile the planning domain")
    return cells[keep], np.array(owner)[keep]


def make_city_cluster(out_dir: str | Path, spec: ClusterSpec = ClusterSpec(), *, log=print) -> dict[str, Path]:
    """Generate a city cluster into `out_dir` tile by tile, in bounded memory; return the paths written.

    The area is cut into square tiles of ``spec.tile_km`` (whose edges are street lines). Each
    tile's parcels, streets, roads and protection pieces are made on their own (its random stream
    is seeded by the tile's position) and appended to the GeoPackage; each row of tiles is
    rasterised into a band of the 30 m land covers, and the band's continuous fields (elevation,
    NDVI, NPP, climate) are written window by window into tiled GeoTIFFs (COGs at the end). The
    coarse rasters are averaged from a 150 m band-by-band aggregate. Buildings are kept as
    rectangles in arrays until the one floor calibration of the whole cluster, then appended in
    chunks. Same outputs and layers as :func:`make_demo_city`, plus a ``cities`` layer.
    """
    from contextlib import ExitStack

    from pyproj import CRS as ProjCRS
    from rasterio.features import rasterize as burn
    from rasterio.windows import Window

    from carbonmap.grid import AnalysisGrid
    from carbonmap.io import cog_writer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    gpkg = out / "demo_city.gpkg"
    gpkg.unlink(missing_ok=True)
    rng = np.random.default_rng(spec.seed)
    geo = ClusterGeography(spec, rng)
    to_metres = _projection(spec)
    shapes = _cluster_shapes(geo)
    districts_km, district_city = _cluster_districts(geo, rng, shapes.domain)
    district_tree = shapely.STRtree(districts_km)

    res = spec.resolution_m
    n_cols, n_rows = spec.tiles
    per_tile = spec.cells_per_tile
    width, height = n_cols * per_tile, n_rows * per_tile
    ox, oy = to_metres.origin
    transform = Affine(res, 0, ox, 0, -res, oy + height * res)
    crs = ProjCRS.from_user_input(CRS)
    coarse = 5  # the 150 m aggregate of the coarse rasters
    aggregate = {name: np.full((height // coarse, width // coarse), np.nan, "float32")
                 for name in ("npp", "temperature", "precipitation", "ghi", "wind_speed_100m", "heat_flow")}
    clcd = {code: CLCD_OF_CATEGORY.get(code, 8) for code in CLCD_OF_CATEGORY}
    store = {k: [] for k in ("x0", "y0", "x1", "y1", "floors", "storey_m", "use", "roof", "parcel", "village", "district")}
    red_line, farmland, n_parcels, n_roads = [], [], 0, 0
    previous = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": "2024-01-01T00:00:00Z"})
    paths = {"gpkg": gpkg}
    try:
        with ExitStack() as stack:
            common = {"width": width, "height": height, "transform": transform, "crs": CRS}
            lc_dst = {
                year: stack.enter_context(cog_writer(out / f"landcover_{year}.tif", dtype="uint8", nodata=0,
                                                     tags={"code_system": "clcd", "year": str(year)}, **common))
                for year in (spec.year, spec.base_year)}
            dem_dst = stack.enter_context(cog_writer(out / "dem.tif", dtype="float32", nodata=-9999.0,
                                                     resampling="average", tags={"unit": "m"}, **common))
            ndvi_dst = stack.enter_context(cog_writer(out / "ndvi_2023.tif", dtype="float32", nodata=float("nan"),
                                                      resampling="average", tags={"unit": "1", "year": str(spec.year)},
                                                      **common))
            for ty in range(n_rows):
                row_top = height - (ty + 1) * per_tile  # raster rows of this band of tiles
                lc_band = {year: np.zeros((per_tile, width), "uint8") for year in lc_dst}
                frames = []
                for tx in range(n_cols):
                    tile = _cluster_tile(geo, shapes, tx, ty)
                    if tile is None:
                        continue
                    parcels = tile["parcels"]
                    gdf = _metres_frame(parcels[["code", "code_2015", "carbon_category", "name_en"]],
                                        parcels["geometry"].to_numpy(), to_metres, single=True)
                    position = np.full(len(parcels), -1)  # repairing may drop collapsed slivers
                    position[gdf.index.to_numpy()] = np.arange(len(gdf))
                    gdf = gdf.reset_index(drop=True)
                    gdf.insert(0, "parcel_id", [f"P{n_parcels + i:07d}" for i in range(len(gdf))])
                    gdf["area_m2"] = gdf.area.round(1)
                    frames.append(gdf)
                    window_transform = transform @ Affine.translation(tx * per_tile, row_top)
                    for year, column in ((spec.year, "code"), (spec.base_year, "code_2015")):
                        cats = classify(gdf[column], "ydyh_2023")["carbon_category"]
                        values = cats.map(lambda c: clcd.get(c, 8)).to_numpy().astype("uint8")
                        lc_band[year][:, tx * per_tile:(tx + 1) * per_tile] = burn(
                            zip(gdf.geometry.values, values), out_shape=(per_tile, per_tile),
                            transform=window_transform, fill=0, dtype="uint8")
                    b = tile["buildings"]
                    if b is not None:
                        cx, cy = (b.x0 + b.x1).to_numpy() / 2, (b.y0 + b.y1).to_numpy() / 2
                        hit = district_tree.query(shapely.points(cx, cy), predicate="within")
                        district = np.full(len(b), -1)
                        district[hit[0]] = hit[1]
                        miss = district < 0
                        if miss.any():
                            district[miss] = district_tree.query_nearest(shapely.points(cx[miss], cy[miss]), all_matches=False)[1]
                        for key, values in (("x0", b.x0), ("y0", b.y0), ("x1", b.x1), ("y1", b.y1),
                                            ("floors", b.floors), ("storey_m", b.storey_m), ("roof", b.roof == "pitched"),
                                            ("village", b.village)):
                            store[key].append(np.asarray(values))
                        store["use"].append(pd.Categorical(b.use, categories=list(FLOOR_CAPS)).codes.astype("int8"))
                        owner = position[b.parcel_index.to_numpy()]
                        if (owner < 0).any():
                            raise RuntimeError(f"tile {tx}, {ty}: a parcel with buildings collapsed when repaired")
                        store["parcel"].append((n_parcels + owner).astype("int32"))
                        store["district"].append(district.astype("int16"))
                    n_parcels += len(gdf)
                    if tile["roads"]:
                        road_gdf = _metres_frame(pd.DataFrame({"road_class": [c for _, c in tile["roads"]]}),
                                                 [g for g, _ in tile["roads"]], to_metres)
                        road_gdf["length_m"] = road_gdf.length.round(1)
                        _append(gpkg, "roads", road_gdf)
                        n_roads += len(road_gdf)
                    red_line += [tile["red_line"]] if tile["red_line"] is not None else []
                    farmland += [tile["farmland"]] if tile["farmland"] is not None else []
                if frames:
                    _append(gpkg, "parcels", pd.concat(frames, ignore_index=True))
                window = Window(0, row_top, width, per_tile)
                for year, dst in lc_dst.items():
                    dst.write(lc_band[year], 1, window=window)
                fields = _band_fields(geo, spec, lc_band[spec.year], row_top, height, width)
                dem_dst.write(fields.pop("dem"), 1, window=window)
                ndvi_dst.write(fields.pop("ndvi"), 1, window=window)
                band = slice(row_top // coarse, (row_top + per_tile) // coarse)
                for name, values in fields.items():
                    aggregate[name][band] = _block_mean(values, coarse)
                log(f"tiles row {ty + 1}/{n_rows}: {n_parcels:,} parcels, {sum(map(len, store['x0'])):,} buildings")
        paths.update({f"landcover_{spec.year}": out / f"landcover_{spec.year}.tif",
                      f"landcover_{spec.base_year}": out / f"landcover_{spec.base_year}.tif",
                      "dem": out / "dem.tif", "ndvi_2023": out / "ndvi_2023.tif"})

        # buildings: one floor calibration for the cluster, then written in chunks
        b = {key: np.concatenate(values) for key, values in store.items()}
        del store
        footprint = (b["x1"] - b["x0"]) * (b["y1"] - b["y0"]) * 1e6
        uses = np.array(list(FLOOR_CAPS))
        cap = np.array([FLOOR_CAPS[u] for u in uses], float)[b["use"]]
        b["floors"] = _calibrated_floors(footprint, b["floors"], cap, ~b["village"],
                                         spec.population * CALIBRATION["floor_area_m2_per_capita"])
        chunk = 250_000
        for start in range(0, len(footprint), chunk):
            sl = slice(start, start + chunk)
            idx = np.arange(len(footprint))[sl]
            frame = pd.DataFrame({
                "building_id": [f"B{i:08d}" for i in idx],
                "parcel_id": [f"P{i:07d}" for i in b["parcel"][sl]],
                "use": uses[b["use"][sl]], "floors": b["floors"][sl],
                "height_m": b["floors"][sl] * b["storey_m"][sl],
                "roof": np.where(b["roof"][sl], "pitched", "flat"),
            })
            gdf = _metres_frame(frame, shapely.box(b["x0"][sl], b["y0"][sl], b["x1"][sl], b["y1"][sl]), to_metres)
            gdf["footprint_m2"] = gdf.area.round(1)
            _append(gpkg, "buildings", gdf)

        # districts and cities: population by residential floor area, GDP (as the demo)
        floor_area = footprint * b["floors"]
        n_d = len(districts_km)
        residential = np.bincount(b["district"], np.where(uses[b["use"]] == "residential", floor_area, 0), n_d)
        other = np.bincount(b["district"], np.where(uses[b["use"]] != "residential", floor_area, 0), n_d)
        district_gdf = _metres_frame(pd.DataFrame({"district_id": [f"D{i + 1:02d}" for i in range(n_d)]}),
                                     districts_km, to_metres)
        district_gdf = _cluster_district_table(district_gdf, district_city, residential, other, spec)
        cities = _cluster_cities(district_gdf, spec)
        expressways = _cluster_expressways(geo, shapes)
        road_gdf = _metres_frame(pd.DataFrame({"road_class": "expressway"}, index=range(len(expressways))),
                                 expressways, to_metres)
        road_gdf["length_m"] = road_gdf.length.round(1)
        _append(gpkg, "roads", road_gdf)
        wetland_gdf = _metres_frame(pd.DataFrame({"wetland_type": list(shapes.wetlands)}), list(shapes.wetlands.values()),
                                    to_metres)
        zones = [("ecological_protection_red_line", "生态保护红线", g) for g in red_line]
        zones += [("ecological_protection_red_line", "生态保护红线", shapes.wetlands[k]) for k in ("mangrove", "seagrass")]
        zones += [("permanent_basic_farmland", "永久基本农田", g) for g in farmland]
        zones_gdf = _metres_frame(pd.DataFrame({"zone": [z[0] for z in zones], "name_zh": [z[1] for z in zones]}),
                                  [z[2] for z in zones], to_metres)
        floor_by_use = pd.Series(floor_area).groupby(uses[b["use"]]).sum()
        point_sources, inventory = _cluster_inventory(geo, spec, floor_by_use, district_gdf, to_metres)
        for layer, gdf in (("districts", district_gdf), ("cities", cities), ("wetlands", wetland_gdf),
                           ("protection_zones", zones_gdf), ("point_sources", point_sources)):
            _append(gpkg, layer, gdf)
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": previous})
    paths["inventory"] = write_csv(out / "inventory.csv", inventory)
    paths["inventory_earlier"] = write_csv(out / f"inventory_{spec.base_year}.csv", _earlier_inventory(inventory, spec))
    grid150 = AnalysisGrid(crs, Affine(res * coarse, 0, ox, 0, -res * coarse, oy + height * res),
                           width // coarse, height // coarse)
    paths["npp_2023"] = _write_resampled(out / "npp_2023.tif", aggregate.pop("npp"), grid150, "EPSG:4326", 0.005,
                                         {"unit": "g C m-2 yr-1", "year": str(spec.year)})
    for name, cell_m, tags in (
        ("temperature", 1000, {"unit": "degC", "quantity": "annual mean air temperature"}),
        ("precipitation", 1000, {"unit": "mm yr-1", "quantity": "annual precipitation"}),
        ("ghi", 1000, {"unit": "kWh m-2 yr-1", "quantity": "annual global horizontal irradiation"}),
        ("wind_speed_100m", 250, {"unit": "m s-1", "quantity": "mean wind speed", "height_m": "100"}),
        ("heat_flow", 1000, {"unit": "mW m-2", "quantity": "terrestrial heat flow"}),
    ):
        paths[name] = _write_resampled(out / f"{name}.tif", aggregate.pop(name), grid150, CRS, cell_m, tags)
    return paths


def _band_fields(geo: ClusterGeography, spec: ClusterSpec, lc: np.ndarray, row0: int, height: int, width: int):
    """The continuous fields of raster rows [row0, row0 + band) (as :func:`_rasters`, tile by tile).

    Returns float32 arrays: ``dem`` [m], ``ndvi`` [-] (written at 30 m), and ``npp`` [g C m-2 yr-1],
    ``temperature`` [degC], ``precipitation`` [mm yr-1], ``ghi`` [kWh m-2 yr-1],
    ``wind_speed_100m`` [m s-1], ``heat_flow`` [mW m-2] (averaged to the coarse grids).
    """
    res_km = spec.resolution_m / 1000
    band = lc.shape[0]
    noise = {name: _band_noise(spec.seed, layer, row0, row0 + band, height, width, sigma, amplitude)
             for name, layer, sigma, amplitude in (("dem", 1, 6, 6.0), ("ndvi", 2, 2, 0.05), ("npp", 3, 8, 0.08),
                                                   ("heat", 4, 20, 2.0))}
    out = {name: np.empty((band, width), "float32") for name in
           ("dem", "ndvi", "npp", "temperature", "precipitation", "ghi", "wind_speed_100m", "heat_flow")}
    step = spec.cells_per_tile
    yk = ((height - row0 - np.arange(band) - 0.5) * res_km)[:, None]
    for c0 in range(0, width, step):
        cols = slice(c0, c0 + step)
        xk = ((c0 + np.arange(step) + 0.5) * res_km)[None, :]
        xk, yk2 = np.broadcast_arrays(xk, yk)
        land = lc[:, cols] > 0
        dem = (geo.dem_km(xk, yk2) + noise["dem"][:, cols]).astype("float32")
        dem = np.round(np.where(land, np.maximum(dem, 0.5), np.minimum(dem, -0.5)), 1).astype("float32")
        out["dem"][:, cols] = dem
        ndvi = _to_grid(NDVI_OF_CLCD, lc[:, cols]) + noise["ndvi"][:, cols]
        out["ndvi"][:, cols] = np.round(np.where(land, np.clip(ndvi, -1, 1), np.nan), 3)
        npp = _to_grid(NPP_OF_CLCD, lc[:, cols]) * (1 + noise["npp"][:, cols])
        out["npp"][:, cols] = np.where(land, npp, np.nan)
        shore_distance = geo.shore_x(yk2) - xk
        up = np.maximum(dem, 0)
        out["temperature"][:, cols] = 22.8 - 0.0065 * up - 0.04 * np.clip(shore_distance, 0, None)
        out["precipitation"][:, cols] = 1780 + 0.9 * up + 6.0 * np.clip(shore_distance, 0, None)
        out["ghi"][:, cols] = 1390 - 0.12 * up + 4.0 * np.clip(-shore_distance, 0, 5) - 1.5 * np.clip(shore_distance, 0, 30)
        out["wind_speed_100m"][:, cols] = 5.2 + 2.0 / (1 + np.exp(np.clip(shore_distance / 1.5, -50, 50))) \
            + 0.0035 * up - 0.8 * geo.urban_intensity(xk, yk2)
        out["heat_flow"][:, cols] = 66 + 14 * np.exp(-((xk - 0.35 * spec.width_km) ** 2) / (2 * 1.5**2)) \
            + noise["heat"][:, cols]
    return out


def _cluster_district_table(districts: gpd.GeoDataFrame, city: np.ndarray, residential, other, spec: ClusterSpec):
    """Names, city, population and GDP of the districts (as :func:`_district_names_population_gdp`)."""
    rural = CALIBRATION["rural_persons_per_km2"] * districts.area.to_numpy() / 1e6
    urban = max(spec.population - rural.sum(), 0) * residential / residential.sum()
    population = _largest_remainder(spec.population, rural + urban)
    gdp_total = spec.population * CALIBRATION["gdp_cny_per_capita"] / 1e8  # 亿元
    area = districts.area.to_numpy()
    primary = CALIBRATION["primary_gdp_share"]
    gdp = gdp_total * (primary * area / area.sum()
                       + (1 - primary) * (0.35 * residential / residential.sum() + 0.65 * other / max(other.sum(), 1)))
    names, names_en = np.empty(len(districts), dtype=object), np.empty(len(districts), dtype=object)
    for c, info in enumerate(spec.cities):  # in each city, the most populous district is its centre
        mine = np.flatnonzero(city == c)
        for rank, i in enumerate(mine[np.argsort(-population[mine])]):
            zh, en = DISTRICT_NAMES[rank % len(DISTRICT_NAMES)]
            suffix = "" if rank < len(DISTRICT_NAMES) else f" {rank // len(DISTRICT_NAMES) + 1}"
            names[i], names_en[i] = f"{info.name_zh}{zh}{suffix}", f"{info.name_en} {en}{suffix}"
    out = districts.copy()
    out.insert(1, "name_zh", names)
    out.insert(2, "name_en", names_en)
    out.insert(3, "city_zh", [spec.cities[c].name_zh for c in city])
    out.insert(4, "city_en", [spec.cities[c].name_en for c in city])
    out["population"] = population
    out["gdp_cny_1e8"] = np.round(gdp, 2)
    years = spec.year - spec.base_year
    earlier = round(spec.population / (1 + CALIBRATION["population_growth_pct_yr"] / 100) ** years)
    out[f"population_{spec.base_year}"] = _largest_remainder(earlier, population.astype(float))
    out[f"gdp_cny_1e8_{spec.base_year}"] = np.round(gdp / CALIBRATION["real_gdp_index_since_base_year"], 2)
    out["area_km2"] = (out.area / 1e6).round(3)
    return out


def _cluster_cities(districts: gpd.GeoDataFrame, spec: ClusterSpec) -> gpd.GeoDataFrame:
    """One polygon per city: the union of its districts, with their population, GDP and area."""
    cities = districts.dissolve(by="city_en", aggfunc={"city_zh": "first", "population": "sum", "gdp_cny_1e8": "sum",
                                                       "area_km2": "sum"}).reset_index()
    order = {c.name_en: i for i, c in enumerate(spec.cities)}
    cities = cities.iloc[np.argsort(cities["city_en"].map(order).to_numpy())].reset_index(drop=True)
    cities.insert(0, "city_id", [f"C{i + 1}" for i in range(len(cities))])
    return cities[["city_id", "city_zh", "city_en", "population", "gdp_cny_1e8", "area_km2", "geometry"]]


def _cluster_expressways(geo: ClusterGeography, shapes: ClusterShapes):
    """Expressways [km]: each city to its nearest larger city, and one along the coast."""
    s = geo.spec
    xy = np.array([(c.x * s.width_km, c.y * s.height_km) for c in s.cities])
    lines = []
    for i in range(1, len(xy)):
        j = int(np.argmin(np.hypot(*(xy[:i] - xy[i]).T)))
        t = np.linspace(0, 1, 80)
        bend = 0.04 * np.hypot(*(xy[j] - xy[i])) * np.sin(np.pi * t)
        normal = np.array([-(xy[j] - xy[i])[1], (xy[j] - xy[i])[0]]) / np.hypot(*(xy[j] - xy[i]))
        pts = xy[i] + np.outer(t, xy[j] - xy[i]) + np.outer(bend, normal)
        lines.append(shapely.LineString(pts))
    ys = np.linspace(0.02 * s.height_km, 0.98 * s.height_km, 200)
    lines.append(shapely.LineString(np.column_stack([geo.shore_x(ys) - 3.0, ys])))
    return [part for line in lines for part in shapely.get_parts(line.intersection(shapes.land))
            if part.geom_type == "LineString"]


def _cluster_inventory(geo: ClusterGeography, spec: ClusterSpec, floor_by_use: pd.Series, districts, to_metres):
    """Point sources (three per city, at its port or park) and the cluster's inventory (as :func:`_inventory`)."""
    total, shares, inventory = _sector_inventory(spec.population, spec.year, floor_by_use)
    industry = total * shares["industry"] * CALIBRATION["point_source_share_of_industry"]
    by_city = districts.groupby("city_en")["population"].sum()
    sites = []
    for i, c in enumerate(spec.cities):
        share = by_city.get(c.name_en, 0) / by_city.sum()
        kx0, ky0, kx1, ky1 = geo.parks[i]
        port = geo.ports[geo.ports[:, 4] == i]
        px0, py0, px1, py1 = port[0, :4] if len(port) else (kx0, ky0, kx1, ky1)
        sites += [(c.name_en, "gas-fired power plant", (px0 + px1) / 2, py0 + 0.4, 0.50 * share),
                  (c.name_en, "steel rolling mill", px0 + 0.6, (py0 + py1) / 2, 0.30 * share),
                  (c.name_en, "cement plant", (kx0 + kx1) / 2, (ky0 + ky1) / 2, 0.20 * share)]
    points = gpd.GeoDataFrame({
        "name": [f"{s[0]} {s[1]}" for s in sites],
        "city_en": [s[0] for s in sites],
        "sector": "industry",
        "co2_t_yr": [round(industry * s[4]) for s in sites],
        "year": spec.year,
    }, geometry=to_metres(shapely.points([(s[2], s[3]) for s in sites])), crs=CRS)
    return points, inventory


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS | CLUSTER_PRESETS), default="demo")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--out", type=Path, default=HERE / "demo_city")
    args = parser.parse_args(argv)
    spec = (PRESETS | CLUSTER_PRESETS)[args.preset]
    if args.seed is not None:
        spec = replace(spec, seed=args.seed)
    make = make_city_cluster if isinstance(spec, ClusterSpec) else make_demo_city
    paths = make(args.out, spec)
    for name, path in paths.items():
        print(f"{name:>16}: {path}")


if __name__ == "__main__":
    main()
