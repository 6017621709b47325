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
from carbonmap.errors import InputError
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
from carbonmap.renewables.rooftop import lcoe, rooftop_pv
from carbonmap.renewables.solar import Site, plane_of_array, row_gcr
from carbonmap.renewables.zoning import ZONE_CLASSES, control_zones

SUZHOU = Site(31.3, 120.6)


def test_plane_of_array_is_pvlib_step_by_step():
    """The annual irradiation equals the same chain written directly with pvlib."""
    import pvlib

    times = pd.date_range("2023-01-01 00:30", "2023-12-31 23:30", freq="1h", tz="UTC")
    location = pvlib.location.Location(31.3, 120.6, altitude=0)
    sun = location.get_solarposition(times)
    ghi = location.get_clearsky(times, solar_position=sun)["ghi"] * 0.65
    split = pvlib.irradiance.erbs(ghi, sun["apparent_zenith"], times)
    poa = pvlib.irradiance.get_total_irradiance(25, 180, sun["apparent_zenith"], sun["azimuth"], split["dni"], ghi,
                                                split["dhi"], dni_extra=pvlib.irradiance.get_extra_radiation(times),
                                                model="haydavies", albedo=0.2)
    ours_poa, ours_ghi = plane_of_array(SUZHOU, 25, 180, clear_sky_index=0.65, albedo=0.2)
    assert ours_ghi == pytest.approx(ghi.sum() / 1000)
    assert ours_poa == pytest.approx(poa["poa_global"].sum() / 1000, rel=1e-9)
    assert 1200 < ours_ghi < 1600  # Suzhou's long-term GHI is about 1,300 kWh m-2 yr-1
    shaded, _ = plane_of_array(SUZHOU, 25, 180, clear_sky_index=0.65, albedo=0.2, horizon_deg=30)
    assert shaded < ours_poa


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
    assert wind_capacity_mw_per_km2(4.5, 160, 35) == pytest.approx(4.5 / (35 * 0.0256))


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
        zone, reason, texts = control_zones(resource, categories, legend, 100.0, rules,
                                            protection={"ecological_protection_red_line": red_line}, setback_m=150)
        counts = {name: int((zone == code).sum()) for name, code in ZONE_CLASSES.items()}
        assert sum(counts.values()) == int((categories >= 0).sum()) == 14  # every land cell once
        assert (zone[categories < 0] == 0).all()
        assert zone[0, 0] == ZONE_CLASSES["prohibited"] and "red line" in texts[reason[0, 0]]
        assert zone[0, 1] == ZONE_CLASSES["restricted"]  # forest outside the red line
    # wind: 150 m setback from the built-up cell (100 m cells) prohibits its neighbours
    zone, reason, texts = control_zones("wind", categories, legend, 100.0, rules, setback_m=150)
    assert zone[0, 3] == ZONE_CLASSES["prohibited"] and "setback" in texts[reason[0, 3]]
    assert zone[2, 2] == ZONE_CLASSES["suitable"]  # cropland more than 150 m from built-up land
    ground, _, _ = control_zones("ground_pv", categories, legend, 100.0, rules)
    assert ground[2, 2] == ZONE_CLASSES["restricted"]  # cropland: agri-PV only


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
