"""Sinks: NEP with Pei et al. (2009) respiration, CASA NPP, blue-carbon disturbance, by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from carbonmap.errors import InputError
from carbonmap.sinks import (
    annual_rh_from_annual_climate,
    casa_npp,
    coefficient_raster,
    disturbance_emissions,
    g_c_m2_to_t_co2_ha,
    heterotrophic_respiration_pei2009,
    nep,
    thornthwaite_pet,
    wetland_conversion_emissions,
)


def test_pei2009_respiration_by_hand():
    # T = 10 degC, P = 100 mm: 0.22 x (e^0.912 + ln 32.45) x 30 x 0.465
    expected = 0.22 * (math.exp(0.912) + math.log(0.3145 * 100 + 1)) * 30 * 0.465
    assert heterotrophic_respiration_pei2009(10.0, 100.0) == pytest.approx(expected)
    assert expected == pytest.approx(18.32, abs=0.01)
    # annual climate: 12 mean months of (T, P/12)
    assert annual_rh_from_annual_climate(10.0, 1200.0) == pytest.approx(12 * expected)
    with pytest.raises(InputError, match="precipitation must be >= 0"):
        heterotrophic_respiration_pei2009(10.0, -1.0)


def test_nep_and_units():
    npp = np.ma.MaskedArray([1000.0, 300.0, 0.0], mask=[False, False, True])
    out = nep(npp, np.array([420.0, 420.0, 420.0]))
    assert out.tolist() == [580.0, -120.0, None]  # a sink, a source, nodata kept
    assert g_c_m2_to_t_co2_ha(100.0) == pytest.approx(44 / 12)  # 100 g C/m2 = 1 t C/ha


def test_thornthwaite_by_hand():
    t = np.full(12, 20.0)
    heat = 12 * (20 / 5) ** 1.514
    a = 6.75e-7 * heat**3 - 7.71e-5 * heat**2 + 1.792e-2 * heat + 0.49239
    np.testing.assert_allclose(thornthwaite_pet(t), 16 * (10 * 20 / heat) ** a)
    assert 70 < thornthwaite_pet(t)[0] < 74  # about 72 mm a month at a constant 20 degC
    winter = np.array([-5.0] * 3 + [20.0] * 9)
    assert (thornthwaite_pet(winter)[:3] == 0).all()


def test_casa_by_hand():
    """12 equal months at peak NDVI (FPAR 0.95), 500 MJ/m2, 20 degC (= Topt, so T_eps1 = 1.0 and
    T_eps2 = 1.1814 / ((1 + e^(0.2 (20 - 10 - 20))) (1 + e^(0.3 (-20 - 10 + 20)))) = 1.1814 /
    ((1 + e^-2)(1 + e^-3)) = 0.991), and rain enough that EET = PET (W_eps = 1)."""
    months = lambda v: np.full(12, v)  # noqa: E731
    t_eps2 = 1.1814 / ((1 + math.exp(-2)) * (1 + math.exp(-3)))
    expected = 12 * 0.5 * 500 * 0.95 * 0.389 * 1.0 * t_eps2 * 1.0
    wet = casa_npp(months(0.634), months(500.0), months(20.0), months(200.0))
    assert wet == pytest.approx(expected, rel=1e-9)
    dry = casa_npp(months(0.634), months(500.0), months(20.0), months(0.0))
    assert dry == pytest.approx(expected / 2, rel=1e-9)  # W_eps = 0.5 without rain
    bare = casa_npp(months(0.0), months(500.0), months(20.0), months(200.0))
    assert bare == pytest.approx(expected * 0.001 / 0.95, rel=1e-9)  # FPAR floor
    with pytest.raises(InputError, match="12 monthly bands"):
        casa_npp(np.ones(11), np.ones(11), np.ones(11), np.ones(11))


def test_disturbance_decays_with_the_half_life():
    emitted = disturbance_emissions(100.0, 0.5, 1.0, years=40)  # 50 t C disturbed, half-life 1 yr
    assert emitted[0] == pytest.approx(50 * 0.5 * 44 / 12)  # half of it in the first year
    assert emitted[1] == pytest.approx(50 * 0.25 * 44 / 12)
    assert emitted.sum() == pytest.approx(50 * 44 / 12, rel=1e-9)
    per_cell = disturbance_emissions(np.array([100.0, 200.0]), 1.0, 7.5, years=3)
    assert per_cell.shape == (3, 2) and per_cell[:, 1] == pytest.approx(2 * per_cell[:, 0])
    with pytest.raises(InputError, match="between 0 and 1"):
        disturbance_emissions(1.0, 1.5, 1.0, years=1)


def test_coefficient_raster_by_hand():
    from carbonmap.coefficients import landuse_coefficients

    classes = np.ma.MaskedArray([[2, 8], [9, 0]], mask=[[False, False], [False, True]])  # CLCD
    out = coefficient_raster(classes, "clcd", landuse_coefficients())
    # forest 0.581 t C/ha/yr; impervious: no removal; CLCD wetland = inland marsh 0.253; nodata masked
    assert out[0, 0] == pytest.approx(0.581 * 44 / 12) and out[0, 1] == 0
    assert out[1, 0] == pytest.approx(0.253 * 44 / 12) and out.mask[1, 1]


def test_wetland_conversion_emissions_by_hand():
    import pandas as pd

    from carbonmap.coefficients import blue_carbon_disturbance
    from carbonmap.stocks import read_pools

    pools = read_pools(pd.DataFrame({"lucode": [1, 8, 9], "c_above": [5, 0, 20], "c_below": [1, 0, 10],
                                     "c_soil": [80, 25, 250], "c_dead": [0, 0, 2]}))
    before = np.ma.MaskedArray([[9, 9, 9, 1]], mask=False)  # three wetland cells (CLCD 9 = inland marsh)
    after = np.ma.MaskedArray([[8, 1, 9, 1]], mask=False)  # one built over, one farmed, one kept
    out = wetland_conversion_emissions(before, after, "clcd", pools, blue_carbon_disturbance(), cell_ha=0.09, years=60)
    assert out.attrs["converted_ha"] == pytest.approx(0.18)
    # built over (high): biomass 32 t C/ha x 1.0, soil 250 x 1.0; farmed (medium): 32 x 1.0, 250 x 0.5
    biomass = (32 + 32) * 0.09 * 44 / 12
    soil = (250 * 1.0 + 250 * 0.5) * 0.09 * 44 / 12
    assert out["biomass_co2_t"].iloc[0] == pytest.approx(biomass * 0.5)  # half-life 1 year
    assert out["soil_co2_t"].iloc[0] == pytest.approx(soil * (1 - 2 ** (-1 / 7.5)))  # half-life 7.5 years
    # over 60 years all but 2^-60 of the biomass and 2^-8 of the disturbed soil carbon is released
    assert out["total_co2_t"].sum() == pytest.approx(biomass * (1 - 2.0**-60) + soil * (1 - 2.0**-8), rel=1e-12)


def test_wetland_conversion_reports_uncovered_categories_and_unknown_codes():
    import pandas as pd

    from carbonmap.coefficients import blue_carbon_disturbance
    from carbonmap.errors import UnknownCodeError
    from carbonmap.stocks import read_pools

    pools = read_pools(pd.DataFrame({"lucode": [24, 90, 95], "c_above": [0, 50, 10], "c_below": [0, 10, 5],
                                     "c_soil": [20, 150, 200], "c_dead": [0, 5, 0]}))
    # NLCD: 90 woody wetland (swamp forest, no disturbance parameters), 95 herbaceous wetland (marsh)
    before = np.ma.MaskedArray([[90, 90, 95]], mask=False)
    after = np.ma.MaskedArray([[24, 24, 24]], mask=False)  # all built over (high impact)
    out = wetland_conversion_emissions(before, after, "nlcd", pools, blue_carbon_disturbance(), cell_ha=0.09, years=80)
    assert out.attrs["converted_ha"] == pytest.approx(0.27)
    assert out.attrs["not_covered_ha"] == pytest.approx({"wetland_swamp_forest": 0.18})
    # only the marsh cell is in the totals: 15 t C/ha biomass and 200 t C/ha soil (fraction 1.0,
    # half-lives 1 and 7.5 years), all but 2^-80 and 2^(-80/7.5) released after 80 years
    expected = (15 * (1 - 2.0**-80) + 200 * (1 - 2.0 ** (-80 / 7.5))) * 0.09 * 44 / 12
    assert out["total_co2_t"].sum() == pytest.approx(expected, rel=1e-12)
    with pytest.raises(UnknownCodeError, match="95"):
        wetland_conversion_emissions(before, after, "nlcd", pools[pools["lucode"] != 95], blue_carbon_disturbance(),
                                     cell_ha=0.09, years=5)
