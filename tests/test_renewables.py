"""Renewables: solar against pvlib and geometry, wind and geothermal by hand, zoning conservation,
rooftop PV on real Suzhou buildings."""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from carbonmap.coefficients import renewable_zoning_rules
from carbonmap.errors import CarbonmapError, InputError
from carbonmap.renewables.potential import (
    air_density,
    capacity_factor,
    deep_temperature,
    geothermal_class,
    gshp_heat_mwh_per_km2,
    hub_speed,
    weibull_power_density,
    wind_capacity_mw_per_km2,
)
from carbonmap.renewables.rooftop import horizon_angles, lcoe, rooftop_pv
from carbonmap.renewables.solar import (
    DECOMPOSITION_MODELS,
    TRANSPOSITION_MODELS,
    Site,
    all_sky_year,
    optimal_tilt,
    plane_of_array,
    row_gcr,
    transposition_table,
)
from carbonmap.renewables.zoning import ZONE_CLASSES, control_zones

SUZHOU = Site(31.3, 120.6)


BEIJING = Site(39.9, 116.4)


def _pvlib_year(latitude, longitude):
    """pvlib's own chain, step by step: SPA sun position, Ineichen clear sky with its own GHI, DNI
    and DHI, extraterrestrial DNI and Kasten-Young relative airmass."""
    import pvlib

    times = pd.date_range("2023-01-01 00:30", "2023-12-31 23:30", freq="1h", tz="UTC")
    location = pvlib.location.Location(latitude, longitude, altitude=0)
    sun = location.get_solarposition(times)
    sky = location.get_clearsky(times, model="ineichen", solar_position=sun)
    return (times, sun, sky, pvlib.irradiance.get_extra_radiation(times),
            location.get_airmass(solar_position=sun)["airmass_relative"])


@pytest.mark.parametrize("model", TRANSPOSITION_MODELS)
def test_clear_sky_plane_of_array_is_pvlibs_chain(model):
    """Beijing, 35 degrees south: the clear-sky year with the Ineichen components as the model gives
    them, transposed by each model, equals pvlib's chain to 1e-6 (Perez: the done-when of the issue)."""
    import pvlib

    times, sun, sky, extra, airmass = _pvlib_year(39.9, 116.4)
    poa = pvlib.irradiance.get_total_irradiance(35, 180, sun["apparent_zenith"], sun["azimuth"], sky["dni"],
                                                sky["ghi"], sky["dhi"], dni_extra=extra, airmass=airmass,
                                                model=model, albedo=0.2)
    ours_poa, ours_ghi = plane_of_array(BEIJING, 35, 180, clear_sky_index=1.0, albedo=0.2, transposition=model,
                                        decomposition="clear_sky")
    assert ours_ghi == pytest.approx(sky["ghi"].sum() / 1000, rel=1e-9)
    assert ours_poa == pytest.approx(poa["poa_global"].sum() / 1000, rel=1e-6)
    if model == "perez":
        assert ours_poa == pytest.approx(2510.38, abs=0.01)  # kWh m-2 yr-1, pvlib 0.16
        # the Ineichen diffuse fraction is kept (about 0.16), not re-derived from GHI
        assert sky["dhi"].sum() / sky["ghi"].sum() == pytest.approx(0.163, abs=0.005)


def test_scaled_components_keep_closure_and_the_ratio():
    """``clear_sky``: every component is scaled by k: closure holds hour by hour, and with the
    (linear) isotropic model the plane-of-array ratio does not depend on k; Perez's anisotropy
    depends on DNI / DNI_extra, so its ratio changes a little with k."""
    year = all_sky_year(BEIJING, 0.6, "clear_sky")
    times, sun, sky, _, _ = _pvlib_year(39.9, 116.4)
    np.testing.assert_allclose(year["ghi"], 0.6 * sky["ghi"], rtol=1e-12)
    cos_z = np.cos(np.radians(sun["apparent_zenith"])).clip(lower=0)
    np.testing.assert_allclose(year["dni"] * cos_z + year["dhi"], year["ghi"], atol=1e-6)
    sky = {"albedo": 0.2, "decomposition": "clear_sky"}
    full = transposition_table(BEIJING, 35, 180, clear_sky_index=1.0, transposition="isotropic", **sky)
    np.testing.assert_allclose(transposition_table(BEIJING, 35, 180, clear_sky_index=0.6, transposition="isotropic",
                                                   **sky), full, rtol=1e-12)
    perez = [transposition_table(BEIJING, 35, 180, clear_sky_index=k, **sky)[0] for k in (1.0, 0.6)]
    assert perez[0] != perez[1] and perez[1] == pytest.approx(perez[0], rel=0.01)


def test_monthly_erbs_keeps_closure_the_months_ghi_and_the_correlation():
    """``erbs_monthly``: each month's GHI is k times the clear-sky GHI, its diffuse fraction is Erbs'
    monthly correlation of its clearness index, closure holds hour by hour; the annual diffuse
    fraction lands between the clear-sky model's and the hourly models' (Beijing, k = 0.65)."""
    import pvlib

    from carbonmap.renewables.solar import clear_sky_year, monthly_diffuse_fraction

    year, sky = all_sky_year(BEIJING, 0.65), clear_sky_year(BEIJING)
    cos_z = np.cos(np.radians(sky["zenith"])).clip(lower=0)
    np.testing.assert_allclose(year["dni"] * cos_z + year["dhi"], year["ghi"], atol=1e-9)
    month = sky.index.month
    np.testing.assert_allclose(year["ghi"].groupby(month).sum(), 0.65 * sky["ghi"].groupby(month).sum(), rtol=1e-12)
    # June by hand: representative day 162 (Klein 1977), Beijing's sunset hour angle > 81.4 degrees
    june = month == 6
    kt = 0.65 * sky["ghi"][june].sum() / (sky["dni_extra"] * cos_z)[june].sum()
    declination = pvlib.solarposition.declination_spencer71(162)
    sunset = np.degrees(np.arccos(-np.tan(np.radians(39.9)) * np.tan(declination)))
    assert sunset > 81.4
    expected = 1.311 - 3.022 * kt + 3.427 * kt**2 - 1.821 * kt**3
    assert year["dhi"][june].sum() / year["ghi"][june].sum() == pytest.approx(expected, rel=1e-12)
    assert float(monthly_diffuse_fraction(kt, sunset)) == pytest.approx(expected)
    fraction = year["dhi"].sum() / year["ghi"].sum()
    assert 0.4 < fraction < 0.55  # measured in Beijing: about 0.45-0.5
    hourly = all_sky_year(BEIJING, 0.65, "erbs")
    assert sky["dhi"].sum() / sky["ghi"].sum() < fraction < hourly["dhi"].sum() / hourly["ghi"].sum()


@pytest.mark.parametrize("decomposition", DECOMPOSITION_MODELS[2:])
def test_plane_of_array_with_an_hourly_decomposition_is_pvlib_step_by_step(decomposition):
    """GHI = k x clear-sky GHI split by the chosen model and transposed by Hay-Davies equals the same
    chain written directly with pvlib, at Suzhou."""
    import pvlib

    times, sun, sky, extra, airmass = _pvlib_year(31.3, 120.6)
    ghi = sky["ghi"] * 0.65
    zenith = sun["apparent_zenith"]
    if decomposition in ("erbs", "erbs_driesse", "boland"):
        split = getattr(pvlib.irradiance, decomposition)(ghi, zenith, times)
        dni, dhi = split["dni"], split["dhi"]
    else:
        if decomposition == "disc":
            dni = pvlib.irradiance.disc(ghi, zenith, times)["dni"]
        elif decomposition == "dirint":
            dni = pvlib.irradiance.dirint(ghi, zenith, times)
        else:
            dni = pvlib.irradiance.dirindex(ghi, sky["ghi"], sky["dni"], zenith, times)
        dni = dni.fillna(0.0)
        dhi = (ghi - dni * np.cos(np.radians(zenith))).clip(lower=0)
    poa = pvlib.irradiance.get_total_irradiance(25, 180, zenith, sun["azimuth"], dni, ghi, dhi, dni_extra=extra,
                                                model="haydavies", albedo=0.2)
    ours_poa, ours_ghi = plane_of_array(SUZHOU, 25, 180, clear_sky_index=0.65, albedo=0.2,
                                        transposition="haydavies", decomposition=decomposition)
    assert ours_ghi == pytest.approx(ghi.sum() / 1000)
    assert ours_poa == pytest.approx(poa["poa_global"].sum() / 1000, rel=1e-9)
    assert 1200 < ours_ghi < 1600  # Suzhou's long-term GHI is about 1,300 kWh m-2 yr-1
    shaded, _ = plane_of_array(SUZHOU, 25, 180, clear_sky_index=0.65, albedo=0.2, horizon_deg=30,
                               transposition="haydavies", decomposition=decomposition)
    assert shaded < ours_poa


def test_horizon_table_equals_one_horizon_at_a_time():
    """The 61-horizon table is the ratio plane_of_array gives for each horizon alone; it falls with
    the horizon."""
    table = transposition_table(SUZHOU, 20, 180, clear_sky_index=0.65, albedo=0.2)
    for h in (0, 7, 30, 60):
        poa, ghi = plane_of_array(SUZHOU, 20, 180, clear_sky_index=0.65, albedo=0.2, horizon_deg=h)
        assert table[h] == pytest.approx(poa / ghi, rel=1e-12)
    assert (np.diff(table) <= 1e-12).all()


@pytest.mark.parametrize("keyword", ["transposition", "decomposition"])
def test_an_unknown_model_raises(keyword):
    with pytest.raises(CarbonmapError, match=f"unknown {keyword} model"):
        plane_of_array(SUZHOU, 25, 180, clear_sky_index=0.65, albedo=0.2, **{keyword: "klucher"})
    with pytest.raises(CarbonmapError, match=f"unknown {keyword} model"):
        rooftop_pv(_two_buildings(1), floors_field="floors", **{keyword: "liujordan"})


def test_cli_choices_are_the_module_tuples():
    from carbonmap.cli.rooftop import rooftop_pv as command

    choices = {p.name: tuple(p.type.choices) for p in command.params if p.name in ("transposition", "decomposition")}
    assert choices == {"transposition": TRANSPOSITION_MODELS, "decomposition": DECOMPOSITION_MODELS}


def test_optimal_tilt_is_the_maximum_of_the_table():
    best = optimal_tilt(BEIJING, clear_sky_index=0.65, albedo=0.2)
    ratios = [transposition_table(BEIJING, t, 180, clear_sky_index=0.65, albedo=0.2)[0]
              for t in (best - 1, best, best + 1)]
    assert ratios[1] >= max(ratios[0], ratios[2])
    assert 33 <= best <= 42  # Beijing: about 35-40 degrees in PV design practice
    assert 1.15 < ratios[1] < 1.25


def test_row_spacing_matches_the_winter_solstice_geometry():
    """GB 50797's spacing equals the shadow of a row at 9:00 solar time on the winter solstice."""
    from pvlib.solarposition import solar_azimuth_analytical, solar_zenith_analytical

    latitude, tilt = 31.3, 20.0
    phi, hour_angle, declination = np.radians(latitude), np.radians(-45.0), np.radians(-23.45)
    zenith = solar_zenith_analytical(phi, hour_angle, declination)
    azimuth = solar_azimuth_analytical(phi, hour_angle, declination, zenith)  # radians from north
    altitude = np.pi / 2 - zenith
    shadow = np.sin(np.radians(tilt)) * -np.cos(azimuth) / np.tan(altitude)  # north-south part, per unit length
    geometric = 1 / (np.cos(np.radians(tilt)) + shadow)
    assert row_gcr(latitude, tilt) == pytest.approx(float(geometric), rel=0.01)
    assert row_gcr(latitude, tilt) == pytest.approx(0.6226, abs=1e-4)  # by hand from the formula
    with pytest.raises(InputError, match="does not apply"):
        row_gcr(60.0, 30.0)


def test_lcoe_by_hand():
    value = lcoe(np.array([1000.0]), np.array([10.0]), np.array([1200.0]), discount_rate=0.05, degradation=0.01,
                 lifetime=2)
    energy = 1200 / 1.05 + 1200 * 0.99 / 1.05**2
    assert value[0] == pytest.approx((1000 + 10 / 1.05 + 10 / 1.05**2) / energy)


def test_wind_by_hand():
    assert hub_speed(6.0, 0.2, hub_m=120, reference_m=100) == pytest.approx(6.0 * 1.2**0.2)
    assert air_density(8500.0) == pytest.approx(1.225 / np.e)
    k, mean = 2.0, 7.0
    c = mean / 0.886226925  # Γ(1.5)
    assert weibull_power_density(mean, 1.225, k=k) == pytest.approx(0.5 * 1.225 * c**3 * 1.329340388, rel=1e-6)
    # a step curve: rated power between 5 and 20 m/s -> CF = exp(-(5/c)^k) - exp(-(20/c)^k)
    step = pd.DataFrame({"wind_speed_m_s": [0, 4.999, 5.0, 20.0, 20.001, 30], "power_kw": [0, 0, 1000, 1000, 0, 0]})
    expected = np.exp(-(5 / c) ** k) - np.exp(-(20 / c) ** k)
    assert capacity_factor(mean, 1.225, step, k=k, step=0.01) == pytest.approx(expected, abs=2e-3)
    # thinner air acts as a lower speed: (rho/rho0)^(1/3) scales the Weibull scale
    thin = capacity_factor(mean, 1.225 * 0.8, step, k=k, step=0.01)
    c_thin = c * 0.8 ** (1 / 3)
    assert thin == pytest.approx(np.exp(-(5 / c_thin) ** k) - np.exp(-(20 / c_thin) ** k), abs=2e-3)
    assert wind_capacity_mw_per_km2(4.5, 160, spacing_diameters_sq=35) == pytest.approx(4.5 / (35 * 0.0256))


def test_geothermal_by_hand():
    from carbonmap.coefficients import geothermal_classes

    # 50 W/m x 100 m per 36 m2 = 138.9 W/m2; x 1,800 h = 250 kWh/m2 = 250,000 MWh/km2
    assert gshp_heat_mwh_per_km2(50, depth_m=100, spacing_m=6, full_load_hours=1800) == pytest.approx(250_000)
    assert gshp_heat_mwh_per_km2(50, depth_m=100, spacing_m=6, full_load_hours=1800, cop=4) == \
        pytest.approx(250_000 / 0.75)
    temperature = deep_temperature(np.array([60.0, 75.0, 100.0]), conductivity=2.5, surface_c=15, depth_m=3000)
    assert temperature == pytest.approx([15 + 24 * 3, 15 + 30 * 3, 15 + 40 * 3])  # 24, 30, 40 K/km
    classes = geothermal_classes()
    labels = classes["class"].to_numpy()[geothermal_class(temperature, classes)]
    assert labels.tolist() == ["low_high", "medium", "medium"]  # 87, 105, 135 degC (GB/T 11615)
    assert geothermal_class(np.array([20.0, np.nan]), classes).tolist() == [-1, -1]


def test_zones_conserve_area_and_keep_the_strictest_rule():
    legend = ["forest", "cropland", "built_up", "water"]
    categories = np.array([[0, 0, 1, 1, 2],
                           [0, 0, 1, 1, 3],
                           [-1, 0, 1, 1, 1]])
    red_line = np.zeros(categories.shape, bool)
    red_line[:, 0] = True  # forest in the red line: prohibited beats forest's "restricted"
    rules = renewable_zoning_rules()
    for resource in ("ground_pv", "wind"):
        zone, reason, texts, _ = control_zones(categories, legend, 100.0, rules, resource=resource,
                                               protection={"ecological_protection_red_line": red_line},
                                               setback_m=150)
        counts = {name: int((zone == code).sum()) for name, code in ZONE_CLASSES.items()}
        assert sum(counts.values()) == int((categories >= 0).sum()) == 14  # every land cell once
        assert (zone[categories < 0] == 0).all()
        assert zone[0, 0] == ZONE_CLASSES["prohibited"] and "red line" in texts[reason[0, 0]]
        assert zone[0, 1] == ZONE_CLASSES["restricted"]  # forest outside the red line
    # wind: 150 m setback from the built-up cell (100 m cells) prohibits its neighbours
    zone, reason, texts, _ = control_zones(categories, legend, 100.0, rules, resource="wind", setback_m=150)
    assert zone[0, 3] == ZONE_CLASSES["prohibited"] and "setback" in texts[reason[0, 3]]
    assert zone[2, 2] == ZONE_CLASSES["suitable"]  # cropland more than 150 m from built-up land
    ground, _, _, _ = control_zones(categories, legend, 100.0, rules, resource="ground_pv")
    assert ground[2, 2] == ZONE_CLASSES["restricted"]  # cropland: agri-PV only


def test_the_potential_in_strips_equals_the_whole_grid():
    """Strips of 5 rows, with setbacks reaching 8 rows (800 m) and the terrain's 3 x 3 gradient: every
    raster cell for cell and every zone reason's area exactly, the per-unit sums to rounding."""
    from carbonmap.renewables.potential_map import RenewableTables, renewable_potential

    rng = np.random.default_rng(7)
    shape = (43, 31)
    legend = ["forest", "cropland", "built_up", "water", "grassland"]
    categories = rng.choice([-1, 0, 1, 3, 4], size=shape, p=[0.05, 0.3, 0.35, 0.1, 0.2]).astype(np.int16)
    categories[2:9, 2:12] = 2  # a town: the wind setback around it reaches 8 rows
    rows, cols = np.mgrid[0:shape[0], 0:shape[1]]
    zones = (rows // 11) * 3 + cols // 11  # 12 units of 11 x 11 cells
    zones[categories < 0] = -1
    smooth = np.sin(rows / 5.0) * 40 + np.cos(cols / 4.0) * 30
    rasters = {"ghi": 1300 + 60 * rng.random(shape), "wind_speed": 4 + 3 * rng.random(shape),
               "elevation": 50 + smooth + rng.random(shape), "heat_flow": 60 + 20 * rng.random(shape)}
    for values in rasters.values():
        values[rng.random(shape) < 0.03] = np.nan
    red_line = np.zeros(shape, bool)
    red_line[30:36, 5:20] = True
    tables = RenewableTables.packaged()
    rules = tables.zoning_rules  # two wind rules of different classes under one reason: two rows
    rules.loc[(rules["resource"] == "wind") & (rules["constraint"] == "forest"), "reason"] = "rivers and lakes"
    whole, strips = (renewable_potential(categories, legend, 100.0, zones, 12, SUZHOU, tables,
                                         protection={"ecological_protection_red_line": red_line},
                                         block_pixels=block, **rasters)
                     for block in (None, 31 * 5))
    assert set(whole.rasters) == set(strips.rasters) == {
        "zones_ground_pv", "zones_wind", "ground_pv_yield", "wind_power_density", "wind_capacity_factor",
        "deep_geothermal_temperature", "deep_geothermal_class"}
    for name, (array, unit, facts) in whole.rasters.items():
        np.testing.assert_array_equal(strips.rasters[name][0], array, err_msg=name)
        assert strips.rasters[name][1:] == (unit, facts)
    assert (whole.rasters["zones_wind"][0] == ZONE_CLASSES["prohibited"]).sum() > 100  # the setbacks bite
    pd.testing.assert_frame_equal(strips.zone_reasons, whole.zone_reasons)
    shared = whole.zone_reasons[(whole.zone_reasons["resource"] == "wind")
                                & (whole.zone_reasons["reason"] == "rivers and lakes")]
    assert shared["zone_class"].tolist() == ["prohibited", "restricted"] and (shared["area_km2"] > 0).all()
    pd.testing.assert_frame_equal(strips.per_unit, whole.per_unit, rtol=1e-12)
    assert whole.per_unit["wind_suitable_gwh_yr"].sum() > 0 and whole.per_unit["ground_pv_suitable_mw"].sum() > 0


@pytest.mark.parametrize("tip_heights", [4.0, 2.5])
def test_the_setback_reason_says_its_number_of_tip_heights_in_both_languages(tip_heights):
    """The wind setback's reason names the run's number of tip heights in words ("4 tip heights", "4 倍叶尖高度"),
    in the zone-reason table and in the Chinese the report and map read, never the parameter's name."""
    from carbonmap import coefficients
    from carbonmap.readable import rule_translations, translate
    from carbonmap.renewables.potential_map import RenewableTables, renewable_potential

    categories = np.zeros((12, 12), np.int16)
    categories[5:7, 5:7] = 1  # a village in cropland
    tables = RenewableTables.packaged()
    tables.parameters["wind_setback_tip_heights"] = tip_heights
    result = renewable_potential(categories, ["cropland", "built_up"], 30.0, np.zeros((12, 12), int), 1, SUZHOU,
                                 tables, wind_speed=np.full((12, 12), 6.0))
    number = f"{tip_heights:g}"
    wind = result.zone_reasons[result.zone_reasons["resource"] == "wind"]
    assert f"setback from built-up land ({number} tip heights)" in wind["reason"].tolist(), wind
    parameters = coefficients.read_table("renewable_parameters")
    parameters.loc[parameters["parameter"] == "wind_setback_tip_heights", "value"] = number
    extra = rule_translations({"coefficients_renewable_zoning_rules": tables.zoning_rules,
                               "coefficients_renewable_parameters": parameters})
    chinese = [translate(reason, "zh", extra=extra) for reason in wind["reason"]]
    assert f"建设用地退让距离（{number} 倍叶尖高度）" in chinese, chinese
    assert not [text for text in wind["reason"].tolist() + chinese if "wind_setback" in text or "×" in text]


def _two_buildings(south_height):
    """A low building with a tall one 10 m to its south, in Suzhou (UTM 51N)."""
    x0, y0 = 270_000, 3_465_000
    low = shapely.box(x0, y0 + 20, x0 + 20, y0 + 40)
    tall = shapely.box(x0, y0 - 10, x0 + 20, y0 + 10)
    return gpd.GeoDataFrame({"floors": [2, south_height], "use": ["public", "public"]}, geometry=[low, tall],
                            crs="EPSG:32651")


def test_taller_neighbours_to_the_south_shade():
    shaded = rooftop_pv(_two_buildings(20), floors_field="floors", use_field="use")
    open_sky = rooftop_pv(_two_buildings(1), floors_field="floors", use_field="use")
    # 18 floors (54 m) higher, centroids 30 m apart less two equivalent radii of sqrt(400 / pi) m
    assert shaded.loc[0, "horizon_deg"] == pytest.approx(np.degrees(np.arctan2(54, 30 - 2 * np.sqrt(400 / np.pi))))
    assert shaded.loc[0, "yield_kwh_yr"] < 0.9 * open_sky.loc[0, "yield_kwh_yr"]
    assert shaded.loc[1, "horizon_deg"] == 0  # the low building to its north does not shade it
    # capacity: 400 m2 x 40 % (public) x ground-cover ratio at the site's latitude x 0.21 kWp/m2
    from carbonmap.renewables.rooftop import site_of

    latitude = site_of(_two_buildings(20)).latitude
    assert 31 < latitude < 31.5
    gcr = row_gcr(latitude, shaded.loc[1, "tilt_deg"])
    assert shaded.loc[1, "capacity_kwp"] == pytest.approx(400 * 0.4 * gcr * 0.21, rel=1e-9)


def _brute_force_horizons(roofs, x, y, radius, height, *, latitude, reach_m):
    """The horizon angle of each of `roofs` (indices) by its definition, over every other building [degrees]."""
    out = np.zeros(len(roofs))
    for i, k in enumerate(roofs):
        distance = np.hypot(x - x[k], y - y[k])
        equator_side = y < y[k] if latitude >= 0 else y > y[k]
        for n in np.flatnonzero((distance <= reach_m) & (height > height[k]) & equator_side):
            gap = max(distance[n] - radius[k] - radius[n], 1.0)
            out[i] = max(out[i], np.degrees(np.arctan2(height[n] - height[k], gap)))
    return out


@pytest.mark.parametrize("latitude", [31.3, -23.5])
def test_horizon_angles_do_not_depend_on_the_partitions(latitude, monkeypatch):
    """Roofs in rows across many partitions' edges (partitions of the reach itself, 4 by 4 km of rows;
    or of 2 km split in four while they hold more than 300 roofs): the same angles as one partition, bit
    for bit, and as the definition counted building by building for a sample of them."""
    from carbonmap.renewables import rooftop

    rng = np.random.default_rng(7)
    columns, rows = np.meshgrid(np.arange(0, 4_000, 37.0), np.arange(0, 4_000, 61.0))
    x = 500_000 + columns.ravel() + rng.uniform(-5, 5, columns.size)
    y = 3_000_000 + rows.ravel() + rng.uniform(-5, 5, columns.size)
    height = rng.choice([6.0, 12.0, 18.0, 60.0, 120.0], size=x.size)
    radius = rng.uniform(4, 12, size=x.size)
    reach = 250.0
    small = horizon_angles(x, y, radius, height, latitude=latitude, reach_m=reach, tile_m=reach)
    whole = horizon_angles(x, y, radius, height, latitude=latitude, reach_m=reach, tile_m=1e6)
    np.testing.assert_array_equal(small, whole)
    monkeypatch.setattr(rooftop, "SHADING_MAX_ROOFS", 300)
    split = rooftop._shading_partitions(x, y, reach_m=reach, tile_m=2_000.0, max_roofs=300)
    assert max(len(core) for core, _ in split) <= 300 and len(split) > 4 * 4
    assert sorted(np.concatenate([core for core, _ in split]).tolist()) == list(range(x.size))
    np.testing.assert_array_equal(horizon_angles(x, y, radius, height, latitude=latitude, reach_m=reach,
                                                 tile_m=2_000.0), whole)
    assert (small > 0).mean() > 0.3 and (small == 0).any()
    picked = rng.choice(x.size, 200, replace=False)  # the definition, for a sample of the roofs
    expected = _brute_force_horizons(picked, x, y, radius, height, latitude=latitude, reach_m=reach)
    np.testing.assert_allclose(small[picked], expected, rtol=1e-12, atol=1e-12)


def test_horizon_partitions_smaller_than_the_reach_are_refused():
    with pytest.raises(InputError, match="smaller than the reach"):
        horizon_angles(np.zeros(2), np.arange(2.0), np.ones(2), np.ones(2), latitude=30, reach_m=250, tile_m=100)


def test_rooftop_pv_on_suzhou_buildings(shared):
    from carbonmap.grid import ensure_projected

    path = shared / "data" / "suzhou_buildings_pybdshadow" / "suzhou_buildings_bd_demo_2.geojson"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # reprojected from lon/lat to equal area: said elsewhere
        buildings = ensure_projected(gpd.read_file(path))
    result = rooftop_pv(buildings, floors_field="Floor")
    assert len(result) == 3076
    specific = result["specific_yield_kwh_kwp"]
    assert specific.median() == pytest.approx(1100, abs=150)  # Suzhou: about 1,000-1,200 kWh/kWp/yr
    kwp_per_m2 = result["capacity_kwp"].sum() / result["roof_area_m2"].sum()
    assert 0.02 < kwp_per_m2 < 0.1  # 20 % usable share x rows x 0.21 kWp/m2
    open_roofs = result[result["horizon_deg"] == 0]
    shaded = result[result["horizon_deg"] > 20]
    assert len(open_roofs) > 100 and len(shaded) > 100
    assert shaded["specific_yield_kwh_kwp"].mean() < open_roofs["specific_yield_kwh_kwp"].mean() - 50
    assert (result["shading_loss_pct"] >= 0).all() and (result["payback_yr"] > 0).all()


def test_regional_grid_factors_agree_with_the_changes_mee_stated():
    """MEE/NBS regional factors 2022 and 2023 (secondary copies): MEE stated the 2023 changes against
    2022 (光明日报, 2026-01): national -1.1 %; North -6.1, Northeast -8.0, East -2.1, Central -2.3,
    Northwest -5.4; South +4.5, Southwest +9.0 % (rounded; the Northeast's rows give -7.9 %)."""
    from carbonmap.coefficients import grid_emission_factor

    stated = {"china_average": -1.1, "north_china": -6.1, "northeast_china": -8.0, "east_china": -2.1,
              "central_china": -2.3, "northwest_china": -5.4, "south_china": 4.5, "southwest_china": 9.0}
    for grid, change in stated.items():
        ours = 100 * (grid_emission_factor(grid, 2023) / grid_emission_factor(grid, 2022) - 1)
        assert ours == pytest.approx(change, abs=0.11), grid
    assert grid_emission_factor("north_china") == 0.6361  # the latest year by default
    assert grid_emission_factor() == 0.5703  # the default stays the national reporting factor


def test_buildings_join_the_land_columns_in_their_places_by_hand():
    """The run adds the buildings after the land's rasters (so the two never hold memory at
    once): rooftop PV by unit before the shallow geothermal column, heating demand after it, the
    totals last; a building outside every unit counts nowhere; adding them again changes nothing."""
    from types import SimpleNamespace

    from carbonmap.renewables.potential_map import with_buildings

    land = pd.DataFrame({"ground_pv_suitable_gwh_yr": [1.0, 2.0], "wind_suitable_gwh_yr": [0.5, 0.0],
                         "gshp_heat_potential_gwh_yr": [7.0, 8.0], "deep_geothermal_temperature_c": [60.0, 70.0],
                         "renewable_electricity_gwh_yr": [1.5, 2.0], "renewable_co2_avoided_t_yr": [0.0, 0.0]})
    tables = SimpleNamespace(grid_factor=0.5, heating_demand=pd.Series({"cold": 100.0}))  # t/MWh, kWh/m2/yr
    roofs = pd.DataFrame({"capacity_kwp": [100.0, 300.0, 50.0], "yield_kwh_yr": [1e5, 3e5, 5e4],
                          "co2_avoided_t_yr": [50.0, 150.0, 25.0]})
    units = np.array([0, 1, -1])
    out = with_buildings(land, tables, rooftop=roofs, unit_of_building=units,
                         floor_area_m2=np.array([1000.0, 2000.0, 500.0]), climate_zone="cold")
    assert list(out.columns) == ["ground_pv_suitable_gwh_yr", "wind_suitable_gwh_yr", "rooftop_pv_mw",
                                 "rooftop_pv_gwh_yr", "rooftop_pv_co2_avoided_t_yr", "gshp_heat_potential_gwh_yr",
                                 "heating_demand_gwh_yr", "deep_geothermal_temperature_c",
                                 "renewable_electricity_gwh_yr", "renewable_co2_avoided_t_yr"]
    assert out["rooftop_pv_mw"].tolist() == [0.1, 0.3]
    assert out["rooftop_pv_gwh_yr"].tolist() == pytest.approx([0.1, 0.3])
    assert out["heating_demand_gwh_yr"].tolist() == pytest.approx([0.1, 0.2])  # 1000 m2 x 100 kWh/m2
    assert out["renewable_electricity_gwh_yr"].tolist() == pytest.approx([1.6, 2.3])
    assert out["renewable_co2_avoided_t_yr"].tolist() == pytest.approx([800.0, 1150.0])  # GWh x 1000 x 0.5
    again = with_buildings(out, tables, rooftop=roofs, unit_of_building=units,
                           floor_area_m2=np.array([1000.0, 2000.0, 500.0]), climate_zone="cold")
    pd.testing.assert_frame_equal(again, out)
