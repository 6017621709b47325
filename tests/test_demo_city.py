"""The demo city generator: deterministic, calibrated as documented, spatially coherent."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from importlib.resources import files
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import shapely
from scipy import ndimage

from carbonmap.landuse import classify
from carbonmap.sample_data import make_demo_city as generator
from carbonmap.sample_data.make_demo_city import CALIBRATION, CitySpec, make_demo_city

COMMITTED = Path(str(files("carbonmap.sample_data") / "demo_city"))
SMALL = replace(CitySpec(), width_km=16.0, height_km=12.0, population=60_000, n_districts=6, seed=7)
LAYERS = ["districts", "parcels", "buildings", "roads", "wetlands", "protection_zones", "point_sources"]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_same_seed_gives_identical_files(tmp_path):
    a = make_demo_city(tmp_path / "a", SMALL)
    b = make_demo_city(tmp_path / "b", SMALL)
    assert a.keys() == b.keys()
    for name in a:
        assert _digest(a[name]) == _digest(b[name]), name
    other = make_demo_city(tmp_path / "c", replace(SMALL, seed=8))
    assert _digest(other["gpkg"]) != _digest(a["gpkg"])


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """The default city generated now, to compare with the committed files."""
    return make_demo_city(tmp_path_factory.mktemp("city"), CitySpec())


def test_committed_files_are_the_generators_output(fresh):
    for name, path in fresh.items():
        committed = COMMITTED / path.name
        assert committed.exists(), f"{committed} is missing: run python sample_data/make_demo_city.py"
        if path.suffix == ".gpkg":
            for layer in LAYERS:
                new = pyogrio.read_dataframe(path, layer=layer)
                old = pyogrio.read_dataframe(committed, layer=layer)
                pd.testing.assert_frame_equal(new.drop(columns="geometry"), old.drop(columns="geometry"))
                assert shapely.equals_exact(new.geometry.values, old.geometry.values, tolerance=1e-6).all(), layer
        elif path.suffix == ".tif":
            with rasterio.open(path) as a, rasterio.open(committed) as b:
                pa, pb = dict(a.profile), dict(b.profile)
                nodata = pa.pop("nodata"), pb.pop("nodata")
                assert pa == pb, name
                assert nodata[0] == nodata[1] or all(np.isnan(nodata)), name
                np.testing.assert_array_equal(a.read(), b.read(), err_msg=name)
        else:
            assert path.read_bytes() == committed.read_bytes(), name


@pytest.fixture(scope="module")
def city():
    gpkg = COMMITTED / "demo_city.gpkg"
    return {layer: gpd.read_file(gpkg, layer=layer) for layer in LAYERS} | {
        "inventory": pd.read_csv(COMMITTED / "inventory.csv")}


def test_inventory_is_calibrated(city):
    spec = CitySpec()
    inventory = city["inventory"]
    total = spec.population * CALIBRATION["co2_t_per_capita"]
    assert inventory["co2_t_yr"].sum() == pytest.approx(total, abs=3)  # rounded to whole t per row
    by_sector = inventory.groupby("sector")["co2_t_yr"].sum() / total
    for sector, share in CALIBRATION["sector_shares"].items():
        assert by_sector[sector] == pytest.approx(share, abs=1e-6)
    assert (inventory["co2_t_yr"] > 0).all() and (inventory["year"] == 2023).all()
    industry = inventory.loc[inventory["sector"] == "industry", "co2_t_yr"].sum()
    points = city["point_sources"]["co2_t_yr"].sum()
    assert points == pytest.approx(industry * CALIBRATION["point_source_share_of_industry"], abs=3)


def test_population_gdp_floor_area_and_built_up_intensity(city):
    spec = CitySpec()
    districts, buildings, parcels = city["districts"], city["buildings"], city["parcels"]
    assert 10 <= len(districts) <= 20
    assert districts["population"].sum() == spec.population
    gdp = spec.population * CALIBRATION["gdp_cny_per_capita"] / 1e8
    assert districts["gdp_cny_1e8"].sum() == pytest.approx(gdp, rel=1e-4)
    floor_area = (buildings["footprint_m2"] * buildings["floors"]).sum()
    assert floor_area / spec.population == pytest.approx(CALIBRATION["floor_area_m2_per_capita"], rel=0.01)
    built = parcels.loc[parcels["carbon_category"].str.startswith("built"), "geometry"].area.sum() / 1e6
    intensity = city["inventory"]["co2_t_yr"].sum() / built
    assert 18e4 <= intensity <= 38e4  # t CO2 per km2 of built-up land (CONTEXT.md)


def test_readme_figures_are_the_datas(city):
    """The figures sample_data/README.md states, to their rounding."""
    readme = (COMMITTED.parent / "README.md").read_text()
    inventory = city["inventory"].set_index("sub_sector")["co2_t_yr"]
    buildings = city["buildings"]
    floor_area = (buildings["footprint_m2"] * buildings["floors"]).sum()
    stated = [
        f"{len(city['parcels']):,} land/sea-use parcels",
        f"{len(buildings):,} footprints",
        f"residential {inventory['residential'] / 1e6:.2f}, commercial {inventory['commercial'] / 1e6:.2f}, "
        f"public {inventory['public'] / 1e6:.2f} Mt",
        f"{floor_area / 1e6:.1f} million m2 = {floor_area / 2e6:.1f} m2 per person",
        f"{city['point_sources']['co2_t_yr'].sum() / 1e6:.2f} Mt (55 % of industry)",
        f"{city['districts']['gdp_cny_1e8'].sum():,.0f} x 10^8 CNY",
    ]
    for text in stated:
        assert text in readme, text


def test_area_shares_are_as_documented(city):
    """The land shares stated in sample_data/README.md, to their rounding."""
    parcels = city["parcels"]
    area = parcels.area.groupby(parcels["carbon_category"].to_numpy()).sum() / 1e6
    land = area.drop("sea").sum()
    share = lambda cats: round(100 * area[[c for c in area.index if c in cats or any(c.startswith(p) for p in cats)]].sum() / land, 1)  # noqa: E731
    assert round(land) == 541 and round(area.sum()) == 604
    assert share(["built"]) == 15.0
    assert share(["cropland", "orchard"]) == 29.3
    assert share(["forest", "shrub"]) == 40.3
    assert share(["grassland", "green_space"]) == 6.6
    assert share(["water"]) == 6.7
    assert share(["wetland"]) == 1.4


def test_layers_are_coherent(city):
    parcels, districts, buildings = city["parcels"], city["districts"], city["buildings"]
    # a few thousand parcels, several thousand buildings, all valid, with 2023 codes
    assert 2_000 <= len(parcels) <= 6_000 and 5_000 <= len(buildings) <= 25_000
    for frame in (parcels, districts, buildings):
        assert frame.is_valid.all() and frame.crs.to_epsg() == 4547
    assert classify(parcels["code"], "ydyh_2023")["carbon_category"].tolist() == parcels["carbon_category"].tolist()
    classify(parcels["code_2015"], "ydyh_2023")
    # parcels and districts tile the same planning area without overlaps
    assert parcels.area.sum() == pytest.approx(parcels.union_all().area, rel=1e-9)
    assert districts.area.sum() == pytest.approx(districts.union_all().area, rel=1e-9)
    assert parcels.area.sum() == pytest.approx(districts.area.sum(), rel=1e-5)
    # every building stands inside its parcel, on built-up land
    owner = parcels.set_index("parcel_id").loc[buildings["parcel_id"]]
    assert gpd.GeoSeries(owner.geometry.values).contains(buildings.geometry.reset_index(drop=True), align=False).all()
    assert owner["carbon_category"].str.startswith("built").all()
    assert (buildings["height_m"] >= buildings["floors"] * 3.0).all()


def test_geography_is_coherent(city):
    parcels, zones = city["parcels"], city["protection_zones"]
    with rasterio.open(COMMITTED / "dem.tif") as src:
        dem = src.read(1)
        rows, cols = rasterio.transform.rowcol(src.transform, parcels.representative_point().x, parcels.representative_point().y)
    elevation = pd.Series(dem[rows, cols]).groupby(parcels["carbon_category"].to_numpy()).median()
    assert elevation["forest"] > 100 > elevation["cropland"]  # forested hills, cropland plain
    assert elevation["sea"] < 0
    sea_x = parcels.loc[parcels["carbon_category"] == "sea"].representative_point().x.median()
    assert sea_x > parcels.loc[parcels["carbon_category"] == "forest"].representative_point().x.median()
    red_line = zones.loc[zones["zone"] == "ecological_protection_red_line", "geometry"].iloc[0]
    built = parcels[parcels["carbon_category"].str.startswith("built")]
    assert built.intersection(red_line).area.sum() < 1.0  # no built-up land in the red line
    wetlands = set(city["wetlands"]["wetland_type"])
    assert {"mangrove", "salt_marsh", "seagrass", "tidal_flat"} == wetlands


def test_land_cover_change_2015_to_2023(city):
    with rasterio.open(COMMITTED / "landcover_2015.tif") as a, rasterio.open(COMMITTED / "landcover_2023.tif") as b:
        before, after = a.read(1), b.read(1)
        assert a.tags()["code_system"] == "clcd" and a.res == (30.0, 30.0)
    area = lambda data, code: (data == code).sum() * 900 / 1e6  # noqa: E731  km2
    assert area(after, 8) / area(before, 8) == pytest.approx(1.13, abs=0.01)  # impervious +13 %
    assert area(after, 2) / area(before, 2) == pytest.approx(0.92, abs=0.01)  # forest -8 %
    assert area(after, 9) / area(before, 9) == pytest.approx(0.83, abs=0.01)  # wetland -17 %


def test_rasters_have_documented_units_grids_and_ranges():
    expect = {  # file: (unit tag, CRS, cell size, lower, upper); ranges from sample_data/README.md
        "npp_2023.tif": ("g C m-2 yr-1", 4326, 0.005, 0, 900),
        "ghi.tif": ("kWh m-2 yr-1", 4547, 1000, 1260, 1410),
        "wind_speed_100m.tif": ("m s-1", 4547, 250, 4.5, 8.2),
        "heat_flow.tif": ("mW m-2", 4547, 1000, 61, 84),
        "temperature.tif": ("degC", 4547, 1000, 15, 22.8),
        "precipitation.tif": ("mm yr-1", 4547, 1000, 1780, 2650),
        "ndvi_2023.tif": ("1", 4547, 30, -1, 1),
        "dem.tif": ("m", 4547, 30, -85, 850),
    }
    for name, (unit, epsg, cell, lower, upper) in expect.items():
        with rasterio.open(COMMITTED / name) as src:
            data = src.read(1, masked=True)
            assert src.tags()["unit"] == unit, name
            assert src.crs.to_epsg() == epsg and src.res[0] == pytest.approx(cell), name
            assert lower <= data.min() and data.max() <= upper, (name, data.min(), data.max())


# --------------------------------------------------------------------------- the tiled city cluster

SMALL_CLUSTER = replace(
    generator.ClusterSpec(), width_km=36.0, height_km=30.0, population=3_000_000, n_towns=2,
    cities=(generator.City("甲", "Jia", 0.6, 0.5, 4.0, 1.0), generator.City("乙", "Yi", 0.3, 0.25, 2.5, 0.9)),
    rural_district_km=12.0)


def test_clip_to_tiles_in_two_steps_gives_the_same_pieces():
    rng = np.random.default_rng(3)
    blob = shapely.union_all(shapely.buffer(shapely.points(rng.uniform(0, 12, (80, 2))), rng.uniform(0.2, 1.1, 80)))
    blob = blob.difference(shapely.box(5, 5, 7, 9))
    step = 0.6
    x, y = np.meshgrid(np.arange(0, 12.5, step), np.arange(0, 12.5, step))
    tiles = shapely.box(x, y, x + step, y + step).ravel()
    one = generator._clip_to_tiles(blob, tiles)
    two = generator._clip_to_tiles(blob, tiles, coarse_km=3.0)
    np.testing.assert_allclose(shapely.area(two), shapely.area(one), atol=1e-12)
    empty = shapely.is_empty(one)
    assert (shapely.is_empty(two) == empty).all() and 0 < empty.sum() < len(tiles)
    assert (shapely.hausdorff_distance(one[~empty], two[~empty]) < 1e-12).all()  # the same up to rounding [km]
    assert shapely.area(two).sum() == pytest.approx(blob.intersection(shapely.box(0, 0, 12.6, 12.6)).area, rel=1e-12)


def test_band_noise_is_the_whole_fields_smoothing_cropped():
    height, width, sigma = 50, 37, 3
    whole = ndimage.gaussian_filter(generator._row_noise(5, 1, np.arange(height), width), sigma, mode="reflect")
    radius = int(4 * sigma + 0.5)
    kernel = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    scale = 2.0 / (kernel**2 / kernel.sum() ** 2).sum()
    for row0, row1 in ((0, 9), (9, 30), (30, 50), (0, 50)):
        band = generator._band_noise(5, 1, row0, row1, height, width, sigma, 2.0)
        np.testing.assert_allclose(band, (whole[row0:row1] * scale).astype("float32"), rtol=1e-5, atol=1e-5)
    # a large field has the amplitude as its standard deviation
    big = generator._band_noise(5, 2, 0, 400, 400, 400, 2, 1.5)
    assert big.std() == pytest.approx(1.5, rel=0.03)


def test_block_mean_ignores_nan():
    values = np.array([[1, 2, np.nan, np.nan], [3, 4, np.nan, 8], [0, 0, 1, 1], [0, 0, 1, 1]], float)
    np.testing.assert_array_equal(generator._block_mean(values, 2), [[2.5, 8.0], [0.0, 1.0]])
    assert np.isnan(generator._block_mean(np.full((2, 2), np.nan), 2)).all()


def test_calibrated_floors_reach_the_target_within_caps():
    # hand example: two urban buildings of 100 m2 and 2 floors, target 800 m2 -> 4 floors each
    np.testing.assert_array_equal(
        generator._calibrated_floors(np.array([100.0, 100.0]), np.array([2, 2]), np.array([45.0, 45.0]),
                                     np.array([True, True]), 800.0), [4, 4])
    # a cap of 3 floors on the first: the second takes the rest (k = 2.5 -> 3 and 5 floors)
    np.testing.assert_array_equal(
        generator._calibrated_floors(np.array([100.0, 100.0]), np.array([2, 2]), np.array([3.0, 45.0]),
                                     np.array([True, True]), 800.0), [3, 5])
    rng = np.random.default_rng(1)
    n = 500
    footprint, floors = rng.uniform(100, 2000, n), rng.integers(1, 30, n)
    cap, urban = rng.choice([6.0, 20.0, 45.0, 70.0], n), rng.random(n) < 0.8
    new = generator._calibrated_floors(footprint, floors, cap, urban, 5e6)
    assert (new[~urban] == floors[~urban]).all() and (new[urban] <= cap[urban]).all() and (new >= 1).all()
    assert (new * footprint).sum() == pytest.approx(5e6, rel=0.01)
    with pytest.raises(RuntimeError, match="too few building footprints"):
        generator._calibrated_floors(footprint, floors, cap, urban, 1e12)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    out = tmp_path_factory.mktemp("cluster")
    paths = generator.make_city_cluster(out, SMALL_CLUSTER, log=lambda *_: None)
    layers = {layer: gpd.read_file(paths["gpkg"], layer=layer) for layer in
              [*LAYERS, "cities"]}
    return paths, layers


@pytest.mark.slow
def test_cluster_is_calibrated_and_coherent(cluster):
    paths, city = cluster
    spec = SMALL_CLUSTER
    parcels, buildings, districts = city["parcels"], city["buildings"], city["districts"]
    for frame in (parcels, buildings, districts):
        assert frame.is_valid.all() and frame.crs.to_epsg() == 4547
    assert parcels["parcel_id"].is_unique and buildings["building_id"].is_unique and districts["district_id"].is_unique
    # parcels tile the districts' planning area without overlaps (less slivers under 100 m2)
    assert parcels.area.sum() == pytest.approx(parcels.union_all().area, rel=1e-9)
    assert parcels.area.sum() == pytest.approx(districts.area.sum(), rel=1e-3)
    assert districts.area.sum() == pytest.approx(districts.union_all().area, rel=1e-9)
    # every building stands inside its parcel, on built-up land
    owner = parcels.set_index("parcel_id").loc[buildings["parcel_id"]]
    inside = gpd.GeoSeries(owner.geometry.values).contains(buildings.geometry.reset_index(drop=True), align=False)
    assert inside.all() and owner["carbon_category"].str.startswith("built").all()
    # calibration as the demo's: population, floor area per person, GDP, inventory and point sources
    assert districts["population"].sum() == spec.population
    assert city["cities"]["population"].sum() == spec.population and len(city["cities"]) == 2
    floor_area = (buildings["footprint_m2"] * buildings["floors"]).sum()
    assert floor_area / spec.population == pytest.approx(CALIBRATION["floor_area_m2_per_capita"], rel=0.01)
    gdp = spec.population * CALIBRATION["gdp_cny_per_capita"] / 1e8
    assert districts["gdp_cny_1e8"].sum() == pytest.approx(gdp, rel=1e-4)
    inventory = pd.read_csv(paths["inventory"])
    total = spec.population * CALIBRATION["co2_t_per_capita"]
    assert inventory["co2_t_yr"].sum() == pytest.approx(total, abs=3)
    industry = inventory.loc[inventory["sector"] == "industry", "co2_t_yr"].sum()
    points = city["point_sources"]
    assert len(points) == 6 and set(points["city_en"]) == {"Jia", "Yi"}
    assert points["co2_t_yr"].sum() == pytest.approx(industry * CALIBRATION["point_source_share_of_industry"], abs=6)
    # each district belongs to one of the cities, its name starting with the city's
    assert all(name.startswith(city_en) for name, city_en in zip(districts["name_en"], districts["city_en"]))


@pytest.mark.slow
def test_cluster_rasters_agree_with_the_parcels(cluster):
    paths, city = cluster
    parcels = city["parcels"]
    with rasterio.open(paths["landcover_2023"]) as src:
        lc = src.read(1)
        assert src.shape == (1000, 1200) and src.res == (30.0, 30.0) and src.crs.to_epsg() == 4547
        assert src.tags()["code_system"] == "clcd"
        point = parcels.representative_point()
        rows, cols = rasterio.transform.rowcol(src.transform, point.x, point.y)
    # big parcels: the cell under their representative point holds their class
    expected = classify(parcels["code"], "ydyh_2023")["carbon_category"].map(
        lambda c: generator.CLCD_OF_CATEGORY.get(c, 8)).to_numpy()
    big = (parcels.area > 1e5).to_numpy()
    assert (lc[np.asarray(rows)[big], np.asarray(cols)[big]] == expected[big]).mean() > 0.99
    # the land cover's land is the parcels' land, to a cell per km of edge
    land_km2 = parcels.loc[parcels["carbon_category"] != "sea"].area.sum() / 1e6
    assert (lc > 0).sum() * 900 / 1e6 == pytest.approx(land_km2, rel=0.01)
    with rasterio.open(paths["dem"]) as src:
        dem = src.read(1)
    assert (dem[lc > 0] > 0).all() and (dem[lc == 0] < 0).all()
    # no seams between the bands of rows: steps across a band edge are like steps inside
    jump = np.abs(np.diff(dem, axis=0))
    assert jump[199].mean() < 3 * jump[100].mean()
    for name, (low, high) in {"temperature": (15, 23), "precipitation": (1700, 3000), "ghi": (1200, 1420),
                              "wind_speed_100m": (4, 8.5), "heat_flow": (55, 90), "npp_2023": (0, 900)}.items():
        with rasterio.open(paths[name]) as src:
            data = src.read(1, masked=True)
            assert low <= data.min() and data.max() <= high, (name, data.min(), data.max())


@pytest.mark.slow
def test_cluster_tiles_are_reproducible_alone():
    """A tile depends only on its position and the seed: made twice, alone, it is the same."""
    rng = np.random.default_rng(SMALL_CLUSTER.seed)
    geo = generator.ClusterGeography(SMALL_CLUSTER, rng)
    shapes = generator._cluster_shapes(geo)
    a, b = generator._cluster_tile(geo, shapes, 3, 2), generator._cluster_tile(geo, shapes, 3, 2)
    pd.testing.assert_frame_equal(a["parcels"].drop(columns="geometry"), b["parcels"].drop(columns="geometry"))
    assert shapely.equals_exact(a["parcels"]["geometry"].to_numpy(), b["parcels"]["geometry"].to_numpy()).all()
    pd.testing.assert_frame_equal(a["buildings"], b["buildings"])
