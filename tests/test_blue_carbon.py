"""Coastal blue carbon: InVEST's published Coastal Blue Carbon test cases, hand-worked cases,
the two conventions, and bad inputs.

InVEST cases: natcap/invest (3.20), ``tests/test_coastal_blue_carbon.py``; the test each case
reproduces is named in its docstring, with InVEST's tolerance. The fixture below is that file's
``TestCBC2._create_model_args``: a mangrove and a parking lot, three snapshots of two 2 m
pixels in EPSG:32731, a price table and a 4 % discount rate.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine

from carbonmap.blue_carbon import (BIOPHYSICAL_COLUMNS, BlueCarbonValuation, analysis_years, biophysical_template,
                                   carbon_prices, coastal_blue_carbon, discounted_price_sum, emissions,
                                   net_sequestration, read_biophysical, read_prices, read_snapshots,
                                   read_transitions, track_disturbance, transition_matrices, transition_model,
                                   transition_template)
from carbonmap.errors import InputError, InputNotFoundError, MissingColumnError, NodataError, UnknownCodeError

CRS = "EPSG:32731"
TRANSFORM = Affine(2, 0, 2, 0, -2, -2)  # InVEST: origin (2, -2), pixel size (2, -2)
BIOPHYSICAL = pd.DataFrame([dict(zip(BIOPHYSICAL_COLUMNS, row)) for row in (
    [1, "mangrove", 64, 313, 3, 15, 0.5, 0.5, 1, 2, 7.5, 0.3, 0.5, 0.66, 5.35, 1],
    [2, "parking lot", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])])
TRANSITIONS = pd.DataFrame({"lulc-class": ["mangrove", "parking lot"], "mangrove": ["NCC", "accum"],
                            "parking lot": ["high-impact-disturb", "NCC"]})
LULC = {2000: [[1, 2]], 2010: [[2, 1]], 2020: [[1, 2]]}
# InVEST's price table: 1.04 every year (its loop never updates the prior price), 2000-2030
PRICE_TABLE = {year: 1.0 * 1.04 for year in range(2000, 2031)}


def write_tables(folder, years=(2000, 2010, 2020)):
    """The InVEST fixture as files: the rasters, the snapshot table, the biophysical, transition
    and price tables."""
    for year in years:
        with rasterio.open(folder / f"lulc_{year}.tif", "w", driver="GTiff", width=2, height=1, count=1,
                           dtype="uint8", crs=CRS, transform=TRANSFORM, nodata=255) as dst:
            dst.write(np.array(LULC[year], dtype="uint8"), 1)
    (folder / "snapshots.csv").write_text("snapshot_year,raster_path\n"
                                          + "".join(f"{y},lulc_{y}.tif\n" for y in years))
    BIOPHYSICAL.to_csv(folder / "biophysical.csv", index=False)
    TRANSITIONS.to_csv(folder / "transitions.csv", index=False)
    pd.DataFrame({"year": list(PRICE_TABLE), "price": list(PRICE_TABLE.values())}).to_csv(
        folder / "prices.csv", index=False)
    return folder


def band(path):
    with rasterio.open(path) as src:
        return src.read(1)


def snapshots(*years):
    return {y: np.ma.masked_array(LULC[y]) for y in years}


# --------------------------------------------------------------------------- InVEST's test cases


def test_invest_test_model(tmp_path):
    """TestCBC2.test_model: three snapshots, analysis year 2030, price table, discount 4 %."""
    write_tables(tmp_path)
    result = coastal_blue_carbon(read_snapshots(tmp_path / "snapshots.csv"), tmp_path / "biophysical.csv",
                                 tmp_path / "transitions.csv", analysis_year=2030,
                                 valuation=BlueCarbonValuation(4, prices=read_prices(tmp_path / "prices.csv")),
                                 out_dir=tmp_path / "out")
    out = tmp_path / "out"
    seq = {(a, b): band(out / f"total-net-carbon-sequestration-between-{a}-and-{b}.tif")
           for a, b in ((2000, 2010), (2010, 2020), (2020, 2030))}
    np.testing.assert_allclose(seq[2000, 2010], [[83.5, 0]])
    np.testing.assert_allclose(seq[2010, 2020], [[-176.9792, 73.5]], rtol=1e-6)
    np.testing.assert_allclose(seq[2020, 2030], [[73.5, -28.698004]], rtol=1e-6)
    np.testing.assert_allclose(band(out / "total-net-carbon-sequestration.tif"), sum(seq.values()), rtol=1e-5)
    np.testing.assert_allclose(band(out / "net-present-value-at-2030.tif"), [[-373.67245, 837.93445]], rtol=1e-5)
    # each period's emissions are the sum of its years' emissions (InVEST: the annual rasters)
    annual = result.annual.set_index("year")
    cell_ha = 4 / 1e4
    for (a, b) in seq:
        emitted = band(out / f"carbon-emissions-between-{a}-and-{b}.tif").sum() * cell_ha
        assert emitted == pytest.approx(annual.loc[a:b - 1, "emissions_t_co2"].sum(), rel=1e-6)
    periods = result.periods.set_index(["start_year", "end_year"])
    assert periods.loc[(2000, 2030), "net_sequestration_t_co2"] == pytest.approx((-19.9792 + 44.802) * cell_ha,
                                                                                 rel=1e-5)
    assert periods.loc[(2000, 2030), "npv"] == pytest.approx((-373.67245 + 837.93445) * cell_ha, rel=1e-5)
    assert periods.loc[(2000, 2030), "area_ha"] == pytest.approx(2 * cell_ha)


def test_invest_test_model_no_analysis_year_no_price_table(tmp_path):
    """TestCBC2.test_model_no_analysis_year_no_price_table: price 10 growing 5 %/yr, discount 4 %."""
    write_tables(tmp_path)
    coastal_blue_carbon(read_snapshots(tmp_path / "snapshots.csv"), BIOPHYSICAL, TRANSITIONS,
                        valuation=BlueCarbonValuation(4, price_per_t_co2=10.0, price_change_pct=5),
                        out_dir=tmp_path / "out")
    out = tmp_path / "out"
    np.testing.assert_allclose(band(out / "total-net-carbon-sequestration-between-2000-and-2010.tif"), [[83.5, 0]])
    np.testing.assert_allclose(band(out / "total-net-carbon-sequestration-between-2010-and-2020.tif"),
                               [[-176.9792, 73.5]], rtol=1e-6)
    np.testing.assert_allclose(band(out / "total-net-carbon-sequestration.tif"), [[83.5 - 176.9792, 73.5]],
                               rtol=1e-6)
    np.testing.assert_allclose(band(out / "net-present-value-at-2020.tif"), [[-20506.314, 16123.521]], rtol=1e-6)
    assert not (out / "net-present-value-at-2030.tif").exists()


def test_invest_test_model_one_transition_no_analysis_year(tmp_path):
    """TestCBC2.test_model_one_transition_no_analysis_year: 2000 and 2010, price 1 growing 4 %,
    discount 4 %: the value of the ten years' accumulation is 10 x 83.5."""
    out = transition_model(snapshots(2000, 2010), BIOPHYSICAL, TRANSITIONS,
                           valuation=BlueCarbonValuation(4, price_per_t_co2=1.0, price_change_pct=4))
    np.testing.assert_allclose(out["total-net-carbon-sequestration-between-2000-and-2010"], [[83.5, 0]])
    np.testing.assert_allclose(out["net-present-value-at-2010"], [[835.0, 0.0]], rtol=1e-6)


def test_invest_test_model_no_transitions():
    """TestCBC2.test_model_no_transitions: one snapshot, analysis year 2010."""
    out = transition_model(snapshots(2000), BIOPHYSICAL, TRANSITIONS, analysis_year=2010,
                           valuation=BlueCarbonValuation(4, price_per_t_co2=1.0, price_change_pct=4))
    np.testing.assert_allclose(out["total-net-carbon-sequestration-between-2000-and-2010"], [[83.5, 0]])
    np.testing.assert_allclose(out["net-present-value-at-2010"], [[835.0, 0.0]], rtol=1e-6)


def test_invest_test_emissions():
    """TestCBC2.test_emissions: 5.5 disturbed in year 10, half-life 7.5, year 15 (by hand)."""
    result = emissions(np.array([5.5, np.nan]), np.array([10, -1]), np.array([7.5, 7.5]), 15)
    np.testing.assert_allclose(result[0], 0.3058625, rtol=1e-6)
    assert np.isnan(result[1])


def test_invest_test_track_first_and_later_disturbance():
    """TestCBC2.test_track_first_disturbance and test_track_later_disturbance."""
    magnitude, stock = np.array([0.5, np.nan, 0.0]), np.array([10.0, np.nan, 10.0])
    volume, when = track_disturbance(magnitude, stock, 2010)
    np.testing.assert_array_equal(volume, [5.0, np.nan, 0.0])
    np.testing.assert_array_equal(when, [2010, -1, -1])
    volume, when = track_disturbance(magnitude, stock, 2010, np.array([700.0, np.nan, 300.0]),
                                     np.array([2000, -1, 1990]))
    np.testing.assert_array_equal(volume, [5.0, np.nan, 300.0])
    np.testing.assert_array_equal(when, [2010, -1, 1990])


def test_invest_test_calculate_npv():
    """TestCBC2.test_calculate_npv: prices 50, 80, 95 from 2010, discount 10 %."""
    prices = {2010: 50, 2011: 80, 2012: 95}
    seq = {year: np.array([[year * .5, year * .25], [year - 1, 50]]) for year in (2010, 2011, 2012)}
    npv_2011 = (seq[2010] + seq[2011]) * discounted_price_sum(prices, 10, 2010, 2011)
    npv_2012 = (seq[2010] + seq[2011] + seq[2012]) * discounted_price_sum(prices, 10, 2010, 2012)
    np.testing.assert_allclose(npv_2011, [[100525, 50262.5], [200950, 5000]])
    np.testing.assert_allclose(npv_2012, [[370206.818182, 185103.409091], [740045.454545, 18409.090909]])


def test_invest_test_calculate_accumulation_over_time():
    """TestCBC2.test_calculate_accumulation_over_time: (biomass + soil + litter rates) x 3 years,
    nodata stays nodata."""
    rows = [[code, f"c{code}", 0, 0, 0, 0, 0, 0, 0, b, 0, 0, 0, 0, s, lit]
            for code, b, s, lit in ((1, 1, 11, .5), (2, 2, 12, .9), (3, 3, 13, 4))]
    bio = pd.DataFrame([dict(zip(BIOPHYSICAL_COLUMNS, r)) for r in rows])
    lulc = np.ma.masked_array([[1, 2], [3, 0]], mask=[[0, 0], [0, 1]])
    out = transition_model({2000: lulc}, bio, pd.DataFrame({"lulc-class": []}), analysis_year=2003)
    accumulated = out["carbon-accumulation-between-2000-and-2003"]
    np.testing.assert_allclose(accumulated.data[~accumulated.mask], [37.5, 44.7, 60])
    assert accumulated.mask[1, 1]


def test_invest_test_calculate_net_sequestration():
    """TestCBC2.test_calculate_net_sequestration: emissions take precedence over accumulation."""
    result = net_sequestration(np.array([[40, np.nan], [70, np.nan]]), np.array([[np.nan, 8], [7, np.nan]]))
    np.testing.assert_array_equal(result, [[40, -8], [-7, np.nan]])


def test_invest_test_read_transition_matrix():
    """TestCBC2.test_read_transition_matrix: accumulation from the class entered, disturbance
    from the class left."""
    bio = read_biophysical(pd.DataFrame([dict(zip(BIOPHYSICAL_COLUMNS, [code, name, 0, 0, 0, 0, 0, 0, bh, ba, 0, 0,
                                                                         0, sh, sa, 0]))
                                         for code, name, sa, ba, sh, bh in ((1, "a", 2, 3, .4, .5),
                                                                            (2, "b", 6, 7, .8, .9),
                                                                            (3, "c", 10, 11, .12, .13))]))
    table = pd.DataFrame({"lulc-class": ["a", "b", "c"], "a": ["NCC", "", "accum"], "b": ["accum", "NCC", ""],
                          "c": ["high-impact-disturb", "accum", "NCC"]})
    matrices = transition_matrices(bio, read_transitions(table, bio))
    biomass = np.zeros((3, 3))
    biomass[2, 0], biomass[0, 1], biomass[1, 2] = 3, 7, 11
    np.testing.assert_allclose(matrices["biomass-accumulation"], biomass)
    np.testing.assert_allclose(matrices["soil-accumulation"], biomass.clip(0, 1) * [2, 6, 10])
    disturbed = np.zeros((3, 3))
    disturbed[0, 2] = .5
    np.testing.assert_allclose(matrices["biomass-disturbance"], disturbed)
    np.testing.assert_allclose(matrices["soil-disturbance"], disturbed / .5 * .4)


def test_invest_test_read_invalid_transition_matrix(tmp_path):
    """TestCBC2.test_read_invalid_transition_matrix: a row or a header naming an unknown class."""
    bio = read_biophysical(BIOPHYSICAL)
    path = tmp_path / "transitions.csv"
    path.write_text("lulc-class,mangrove,parking lot\nmissing code,NCC,accum\n")
    with pytest.raises(UnknownCodeError, match=r"transitions\.csv, field 'lulc-class': rows name classes .* "
                                               r"line 2 \('missing code'\)"):
        read_transitions(path, bio)
    path.write_text("lulc-class,missing code,parking lot\nmangrove,NCC,accum\n")
    with pytest.raises(UnknownCodeError, match="field 'missing code': the header names class.es. 'missing code'"):
        read_transitions(path, bio)


def test_invest_test_duplicate_lulc_classes():
    """TestCBC2.test_duplicate_lulc_classes."""
    twice = pd.concat([BIOPHYSICAL, BIOPHYSICAL.iloc[[1]].assign(lucode=3)])
    with pytest.raises(InputError, match="class names used more than once .*: parking lot"):
        read_biophysical(twice)


def test_invest_test_validation_and_required_analysis_year(tmp_path):
    """TestCBC2.test_validation and test_validate_required_analysis_year: the analysis year must
    come after the last snapshot, and is required with one snapshot; 'disturb' is not a
    transition the model knows."""
    with pytest.raises(InputError, match=r"analysis year \(2000\) must come after the last snapshot \(2020\)"):
        analysis_years([2000, 2010, 2020], 2000)
    with pytest.raises(InputError, match="with one snapshot, the analysis year is required"):
        analysis_years([2000])
    with pytest.raises(InputError, match=r"analysis year \(2000\) must come after the last snapshot \(2000\)"):
        analysis_years([2000], 2000)
    table = TRANSITIONS.assign(mangrove=["NCC", "disturb"])
    with pytest.raises(InputError, match="'parking lot' to 'mangrove': 'disturb'.*replace the preprocessor's"):
        read_transitions(table, read_biophysical(BIOPHYSICAL))
    (tmp_path / "bad.tif").write_text("not a raster")
    with pytest.raises(InputError, match=r"bad\.tif: cannot be read as a raster"):
        coastal_blue_carbon({2000: tmp_path / "bad.tif"}, BIOPHYSICAL, TRANSITIONS, analysis_year=2010)


def test_invest_preprocessor_test_transition_table():
    """TestPreprocessor.test_transition_table: the template, and a code the lookup lacks."""
    a = np.array([[0, 1], [0, 1], [0, 1]], dtype="int16")
    b = np.array([[0, 1], [1, 0], [-1, -1]], dtype="int16")
    lookup = pd.DataFrame({"lucode": [0, 1], "lulc-class": ["mangrove", "parking lot"],
                           "is_coastal_blue_carbon_habitat": ["True", "False"]})
    kwargs = {"transform": Affine(100, 0, 443723.127, 0, -100, 4956546.906), "crs": "EPSG:3157", "nodata": -1}
    with pytest.raises(UnknownCodeError, match="missing a row for land-cover code.*1"):
        transition_template([a, b], lookup.iloc[[0]], **kwargs)
    lines = transition_template([a, b], lookup, **kwargs).to_csv().splitlines()
    assert lines == ["lulc-class,mangrove,parking lot", "mangrove,accum,disturb", "parking lot,accum,NCC"]


def test_invest_preprocessor_test_constructed_data(tmp_path):
    """TestPreprocessor.test_constructed_data: snapshots with different extents (EPSG:4326, 10-degree
    cells) are compared on one grid."""
    rasters = {}
    for year, origin, array in ((2000, (30, -50), [[-1, -1, 1, 2], [-1, -1, 2, 2], [-1, -1, 2, 1]]),
                                (2010, (50, -50), [[2, 2], [2, 2], [2, 2]])):
        rasters[year] = tmp_path / f"{year}.tif"
        with rasterio.open(rasters[year], "w", driver="GTiff", width=len(array[0]), height=3, count=1, dtype="int32",
                           crs="EPSG:4326", transform=Affine(10, 0, origin[0], 0, -10, origin[1]), nodata=-1) as dst:
            dst.write(np.array(array, dtype="int32"), 1)
    lookup = tmp_path / "lookup.csv"
    lookup.write_text("lulc-class,lucode,is_coastal_blue_carbon_habitat\nmangrove,1,TRUE\nparkinglot,2,FALSE\n")
    lines = transition_template(rasters, lookup).to_csv().splitlines()
    assert lines == ["lulc-class,mangrove,parkinglot", "mangrove,,disturb", "parkinglot,,NCC"]
    template = biophysical_template(lookup)
    assert list(template.columns) == list(BIOPHYSICAL_COLUMNS)
    assert template["lulc-class"].tolist() == ["mangrove", "parkinglot"] and (template["soil-initial"] == "").all()


# --------------------------------------------------------------------------- hand-worked cases


def _one_class(**values) -> pd.DataFrame:
    row = dict.fromkeys(BIOPHYSICAL_COLUMNS, 0)
    row.update(lucode=1, **{"lulc-class": "marsh"})
    row.update({k.replace("_", "-"): v for k, v in values.items()})
    return pd.DataFrame([row])


def test_hand_one_pixel_accumulates_linearly():
    """100 t CO2/ha of soil accumulating 2 t CO2/ha/yr for 5 years: 110 at the end, 10 sequestered."""
    bio = _one_class(soil_initial=100, soil_yearly_accumulation=2)
    out = transition_model({2020: np.ma.masked_array([[1]])}, bio, pd.DataFrame({"lulc-class": []}),
                           analysis_year=2025)
    assert out["carbon-stock-at-2020"][0, 0] == 100
    assert out["carbon-stock-at-2025"][0, 0] == pytest.approx(110)
    assert out["total-net-carbon-sequestration"][0, 0] == pytest.approx(10)
    assert out["total-carbon-emissions"][0, 0] == 0


def test_hand_a_transition_disturbs_the_stock_at_the_start_of_its_year():
    """Marsh (biomass 10, soil 200, growing 1 and 3 a year) becomes a pond in 2012 with a medium
    impact (half of the biomass, 40 % of the soil). Stocks on 1 January 2012: 12 and 206, so 6
    and 82.4 are disturbed; half-lives 1 and 5 years; the pond neither accumulates nor emits."""
    rows = [[1, "marsh", 10, 200, 0, 1, .2, .5, 1, 1, 5, .1, .4, .9, 3, 0],
            [2, "pond", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]]
    bio = pd.DataFrame([dict(zip(BIOPHYSICAL_COLUMNS, r)) for r in rows])
    table = pd.DataFrame({"lulc-class": ["marsh", "pond"], "marsh": ["accum", ""], "pond": ["med-impact-disturb",
                                                                                           "NCC"]})
    out = transition_model({2010: np.ma.masked_array([[1]]), 2012: np.ma.masked_array([[2]])}, bio, table,
                           analysis_year=2015)
    assert out["carbon-stock-at-2012"][0, 0] == pytest.approx(12 + 206)
    emitted = 6 * (1 - 0.5 ** 3) + 82.4 * (1 - 0.5 ** (3 / 5))  # 2012, 2013, 2014
    assert out["carbon-emissions-between-2012-and-2015"][0, 0] == pytest.approx(emitted)
    assert out["total-net-carbon-sequestration-between-2012-and-2015"][0, 0] == pytest.approx(-emitted)
    assert out["carbon-stock-at-2015"][0, 0] == pytest.approx(218 - emitted)


def test_hand_decay_by_half_life():
    """After one half-life, half of the disturbed carbon is gone; in the long run, all of it."""
    year = np.arange(2000, 2100)
    yearly = emissions(np.full(year.shape, 80.0), np.full(year.shape, 2000), np.full(year.shape, 10.0), year)
    assert yearly[:10].sum() == pytest.approx(40)
    assert yearly.sum() == pytest.approx(80 * (1 - 0.5 ** 10))
    assert yearly[0] == pytest.approx(80 * (1 - 0.5 ** 0.1))
    assert emissions(np.array([80.0]), np.array([2000]), np.array([0.0]), 2003)[0] == 0  # half-life 0: no emission


def test_hand_valuation():
    """Price 10 rising 10 %/yr, discount 10 %: each year's price discounts to 10, so a net
    sequestration of 2 a year for 3 years is worth 3 x 10 x 6 = 180 (InVEST) and 3 x 10 x 2 = 60
    valued year by year (user guide)."""
    bio = _one_class(soil_yearly_accumulation=2)
    valuation = BlueCarbonValuation(10, price_per_t_co2=10, price_change_pct=10)
    assert carbon_prices(valuation, 2000, 2003) == pytest.approx({2000: 10, 2001: 11, 2002: 12.1})
    empty = pd.DataFrame({"lulc-class": []})
    one = {2000: np.ma.masked_array([[1]])}
    invest = transition_model(one, bio, empty, analysis_year=2003, valuation=valuation)
    guide = transition_model(one, bio, empty, analysis_year=2003, valuation=valuation, convention="user_guide")
    assert invest["net-present-value-at-2003"][0, 0] == pytest.approx(180)
    assert guide["net-present-value-at-2003"][0, 0] == pytest.approx(60)
    zero = transition_model(one, bio, empty, analysis_year=2003, valuation=BlueCarbonValuation(0, price_per_t_co2=7))
    assert zero["net-present-value-at-2003"][0, 0] == pytest.approx(3 * 7 * 6)  # 6 sequestered x (3 years x 7)


def test_prices_missing_from_the_table_are_listed():
    with pytest.raises(InputError, match="no price for 2003, 2006-2008"):
        carbon_prices(BlueCarbonValuation(3, prices={y: 1.0 for y in (2000, 2001, 2002, 2004, 2005, 2009)}),
                      2000, 2009)
    with pytest.raises(InputError, match="either a price .* or a price table"):
        carbon_prices(BlueCarbonValuation(3), 2000, 2009)


# --------------------------------------------------------------------------- where InVEST's code and guide differ


def _cleared_mangrove(convention):
    """A mangrove cleared for a parking lot in 2010 that is still a parking lot in 2020, and a
    parking lot that became mangrove in 2010 (InVEST's classes; the parking lot's half-life is 0)."""
    lulc = {2000: np.ma.masked_array([[1, 2]]), 2010: np.ma.masked_array([[2, 1]]),
            2020: np.ma.masked_array([[2, 1]])}
    table = TRANSITIONS.assign(mangrove=["accum", "accum"])
    return transition_model(lulc, BIOPHYSICAL, table, analysis_year=2030, convention=convention)


def test_invest_stops_emissions_at_the_next_snapshot_when_the_new_class_has_no_half_life():
    invest, guide = _cleared_mangrove("invest"), _cleared_mangrove("user_guide")
    disturbed_biomass, disturbed_soil = 84, 0.66 * 366.5
    # 2010-2020: both conventions emit with the mangrove's half-lives (15 and 7.5 years)
    for out in (invest, guide):
        assert out["carbon-emissions-between-2010-and-2020"][0, 0] == pytest.approx(
            disturbed_biomass * (1 - 0.5 ** (10 / 15)) + disturbed_soil * (1 - 0.5 ** (10 / 7.5)))
    # 2020-2030: InVEST takes the half-life of the class before 2020 (parking lot: 0): nothing;
    # the user guide goes on with the mangrove's, the cell being still the cleared parking lot
    assert invest["carbon-emissions-between-2020-and-2030"][0, 0] == 0
    later = disturbed_biomass * (0.5 ** (10 / 15) - 0.5 ** (20 / 15)) + disturbed_soil * (0.5 ** (10 / 7.5)
                                                                                          - 0.5 ** (20 / 7.5))
    assert guide["carbon-emissions-between-2020-and-2030"][0, 0] == pytest.approx(later)


def test_invest_counts_litter_only_before_the_first_transition():
    invest, guide = _cleared_mangrove("invest"), _cleared_mangrove("user_guide")
    # the restored mangrove (pixel 1) accumulates 2 + 5.35 a year, and 1 of litter
    assert invest["total-net-carbon-sequestration-between-2010-and-2020"][0, 1] == pytest.approx(73.5)
    assert guide["total-net-carbon-sequestration-between-2010-and-2020"][0, 1] == pytest.approx(83.5)
    assert invest["carbon-accumulation-between-2010-and-2020"][0, 1] == pytest.approx(83.5)
    # InVEST's stock adds the litter's yearly rate (1), the guide the litter stock (0 + 10 years x 1)
    assert invest["carbon-stock-at-2020"][0, 1] == pytest.approx(20 + 53.5 + 1)
    assert guide["carbon-stock-at-2020"][0, 1] == pytest.approx(20 + 53.5 + 10)
    assert guide["carbon-stock-at-2000"][0, 0] == 64 + 313 + 3 and invest["carbon-stock-at-2000"][0, 0] == 64 + 313 + 1


def test_user_guide_convention_net_is_accumulation_minus_emissions():
    guide = _cleared_mangrove("user_guide")
    for a, b in ((2000, 2010), (2010, 2020), (2020, 2030)):
        np.testing.assert_allclose(guide[f"total-net-carbon-sequestration-between-{a}-and-{b}"],
                                   guide[f"carbon-accumulation-between-{a}-and-{b}"]
                                   - guide[f"carbon-emissions-between-{a}-and-{b}"])
        np.testing.assert_allclose(guide[f"carbon-stock-at-{b}"] - guide[f"carbon-stock-at-{a}"],
                                   guide[f"total-net-carbon-sequestration-between-{a}-and-{b}"])


def test_restoration_ends_emissions_in_the_user_guide_convention_only_if_the_class_changes():
    """Mangrove cleared in 2010, restored in 2020: the user guide stops the emissions and lets the
    mangrove accumulate; InVEST too here, the parking lot's half-life being 0."""
    lulc = {2000: np.ma.masked_array([[1]]), 2010: np.ma.masked_array([[2]]), 2020: np.ma.masked_array([[1]])}
    for convention in ("invest", "user_guide"):
        out = transition_model(lulc, BIOPHYSICAL, TRANSITIONS, analysis_year=2030, convention=convention)
        assert out["carbon-emissions-between-2020-and-2030"][0, 0] == 0
        assert out["carbon-accumulation-between-2020-and-2030"][0, 0] == pytest.approx(83.5)


# --------------------------------------------------------------------------- rasters, grids, bad inputs


def test_snapshots_on_another_grid_are_aligned_as_a_run_aligns(tmp_path):
    """A later snapshot at half the resolution and shifted by a cell gives the results of the same
    snapshot already on the baseline's grid (nearest neighbour)."""
    base = np.ones((4, 6), dtype="uint8")
    later = base.copy()
    later[:, 2:] = 2
    transform = Affine(2, 0, 100, 0, -2, 200)
    (tmp_path / "a").mkdir()
    paths = {}
    for name, array, t in (("2000", base, transform), ("2010", later, transform),
                           ("2010_fine", np.repeat(np.repeat(np.pad(later, ((0, 0), (1, 0)), mode="edge"), 2, 0), 2, 1),
                            Affine(1, 0, 98, 0, -1, 200))):
        paths[name] = tmp_path / f"{name}.tif"
        with rasterio.open(paths[name], "w", driver="GTiff", width=array.shape[1], height=array.shape[0], count=1,
                           dtype="uint8", crs=CRS, transform=t, nodata=255) as dst:
            dst.write(array, 1)
    same = coastal_blue_carbon({2000: paths["2000"], 2010: paths["2010"]}, BIOPHYSICAL, TRANSITIONS,
                               analysis_year=2020, out_dir=tmp_path / "same")
    aligned = coastal_blue_carbon({2000: paths["2000"], 2010: paths["2010_fine"]}, BIOPHYSICAL, TRANSITIONS,
                                  analysis_year=2020, out_dir=tmp_path / "aligned")
    pd.testing.assert_frame_equal(same.periods, aligned.periods)
    for name in same.rasters:
        np.testing.assert_array_equal(band(same.rasters[name]), band(aligned.rasters[name]))
    with rasterio.open(aligned.rasters["total-net-carbon-sequestration"]) as src:
        assert src.transform == transform and src.shape == (4, 6)


@pytest.mark.parametrize("convention", ["invest", "user_guide"])
def test_strips_do_not_change_results(tmp_path, monkeypatch, convention):
    """Neither strips of rows nor the years followed at once for emitting cells change a number."""
    rng = np.random.default_rng(7)
    lulc = {y: rng.integers(1, 3, (50, 40)).astype("int32") for y in (2000, 2010, 2020)}
    kwargs = {"transform": Affine(30, 0, 0, 0, -30, 0), "crs": CRS, "nodata": -1, "analysis_year": 2035,
              "convention": convention,
              "valuation": BlueCarbonValuation(3, price_per_t_co2=50, price_change_pct=1)}
    one = coastal_blue_carbon(lulc, BIOPHYSICAL, TRANSITIONS, out_dir=tmp_path / "one", **kwargs)
    monkeypatch.setattr("carbonmap.blue_carbon._YEAR_CELLS", 50)
    many = coastal_blue_carbon(lulc, BIOPHYSICAL, TRANSITIONS, out_dir=tmp_path / "many", block_pixels=97, **kwargs)
    pd.testing.assert_frame_equal(one.periods, many.periods, rtol=1e-12)
    pd.testing.assert_frame_equal(one.annual, many.annual, rtol=1e-12)
    pd.testing.assert_frame_equal(one.transitions, many.transitions)
    for name in one.rasters:
        np.testing.assert_array_equal(band(one.rasters[name]), band(many.rasters[name]))
    # the tables add up: periods from the annual rows, stocks from the flows
    annual = one.annual.set_index("year")
    whole = one.periods.iloc[-1]
    assert whole["net_sequestration_t_co2"] == pytest.approx(annual["net_sequestration_t_co2"].sum())
    assert one.transitions.groupby("to_year")["cells"].sum().tolist() == [2000, 2000]
    assert one.transitions["area_ha"].sum() == pytest.approx(2 * 2000 * 0.09)


def test_nodata_in_any_snapshot_is_nodata_everywhere():
    lulc = {2000: np.ma.masked_array([[1, 1]], mask=[[0, 1]]), 2010: np.ma.masked_array([[2, 2]], mask=[[1, 0]])}
    out = transition_model(lulc, BIOPHYSICAL, TRANSITIONS, analysis_year=2015)
    assert out["total-net-carbon-sequestration"].mask.all()
    with pytest.raises(NodataError, match="no cell has land cover in every snapshot"):
        coastal_blue_carbon({y: a.filled(0).astype("int32") for y, a in lulc.items()}, BIOPHYSICAL, TRANSITIONS,
                            analysis_year=2015, transform=TRANSFORM, crs=CRS, nodata=0)


def test_every_unknown_code_is_listed_at_once(tmp_path):
    lulc = {2000: np.array([[1, 7, 7]], dtype="int32"), 2010: np.array([[9, 1, 2]], dtype="int32")}
    bio = tmp_path / "bio.csv"
    BIOPHYSICAL.to_csv(bio, index=False)
    with pytest.raises(UnknownCodeError, match=r"bio\.csv, field 'lucode': 2 land-cover code\(s\) of the snapshots "
                                               r"are not in the biophysical table: 7 \(2 cells\), 9 \(1 cells\)"):
        coastal_blue_carbon(lulc, bio, TRANSITIONS, analysis_year=2015, transform=TRANSFORM, crs=CRS, nodata=-1,
                            block_pixels=1)


def test_missing_columns_are_named(tmp_path):
    path = tmp_path / "bio.csv"
    BIOPHYSICAL.drop(columns=["soil-half-life", "litter-initial"]).to_csv(path, index=False)
    with pytest.raises(MissingColumnError, match=r"bio\.csv, field 'litter-initial': the biophysical table needs "
                                                 r"the column\(s\) litter-initial, soil-half-life"):
        read_biophysical(path)
    (tmp_path / "t.csv").write_text("class,mangrove\nmangrove,accum\n")
    with pytest.raises(MissingColumnError, match="field 'lulc-class': the transition table needs"):
        read_transitions(tmp_path / "t.csv", read_biophysical(BIOPHYSICAL))
    (tmp_path / "s.csv").write_text("year,raster_path\n2000,a.tif\n")
    with pytest.raises(MissingColumnError, match="field 'snapshot_year'"):
        read_snapshots(tmp_path / "s.csv")
    (tmp_path / "s.csv").write_text("snapshot_year,raster_path\n2000,a.tif\n")
    with pytest.raises(InputNotFoundError, match=r"field 'raster_path': the raster of 2000 \(line 2\) does not exist"):
        read_snapshots(tmp_path / "s.csv")


def test_bad_values_name_the_row_and_field():
    bad = BIOPHYSICAL.assign(**{"soil-high-impact-disturb": [1.5, 0], "biomass-half-life": [15, -1]})
    with pytest.raises(InputError, match=r"biomass-half-life must be numbers >= 0: lucode 2 \(-1\)"):
        read_biophysical(bad)
    with pytest.raises(InputError, match=r"soil-high-impact-disturb must be numbers between 0 and 1: lucode 1"):
        read_biophysical(bad.assign(**{"biomass-half-life": [15, 0]}))
    with pytest.raises(InputError, match=r"lucode must be whole numbers: line 3 \('x'\)"):
        read_biophysical(BIOPHYSICAL.assign(lucode=["1", "x"]))
    with pytest.raises(InputError, match="classes listed twice in the header: mangrove"):
        read_transitions(pd.DataFrame([["mangrove", "accum", "NCC"]], columns=["lulc-class", "Mangrove", "mangrove"]),
                         read_biophysical(BIOPHYSICAL))


def test_rows_are_named_by_their_line_in_the_file(tmp_path):
    path = tmp_path / "bio.csv"
    text = BIOPHYSICAL.to_csv(index=False).splitlines()
    path.write_text("\n".join([text[0], text[1], ",,,,,,,,,,,,,,,", text[2].replace("parking lot,0", "parking lot,-5")])
                    + "\n")
    with pytest.raises(InputError, match=r"bio\.csv, field 'biomass-initial': values of biomass-initial must be "
                                         r"numbers >= 0: lucode 2 \(-5\)"):
        read_biophysical(path)
    path.write_text("\n".join([text[0], ",,,,,,,,,,,,,,,", text[1], text[2].replace("2,parking", "2.5,parking")]) + "\n")
    with pytest.raises(InputError, match=r"lucode must be whole numbers: line 4 \('2.5'\)"):
        read_biophysical(path)
    with pytest.raises(InputError, match="unknown convention 'guide'"):
        transition_model(snapshots(2000), BIOPHYSICAL, TRANSITIONS, analysis_year=2005, convention="guide")
    with pytest.raises(InputError, match="land-cover rasters need integer class codes"):
        transition_model({2000: np.ma.masked_array([[1.0]])}, BIOPHYSICAL, TRANSITIONS, analysis_year=2005)


def test_tables_are_matched_ignoring_case_as_invest_does(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("LULC-Class,Mangrove,PARKING LOT\nmangrove,ncc,High-Impact-Disturb\nParking Lot,ACCUM,\n")
    table = read_transitions(path, read_biophysical(BIOPHYSICAL.rename(columns=str.upper)))
    assert table.loc["mangrove"].tolist() == ["NCC", "high-impact-disturb"]
    assert table.loc["parking lot"].tolist() == ["accum", ""]


# --------------------------------------------------------------------------- through the command and the stage

#: InVEST's model test cases (TestCBC2): snapshot years, analysis year, valuation, expected rasters
#: and InVEST's tolerance.
CASES = {
    "test_model": ((2000, 2010, 2020), 2030, {"prices": True, "discount": 4}, {
        "total-net-carbon-sequestration-between-2000-and-2010": ([[83.5, 0]], 1e-7),
        "total-net-carbon-sequestration-between-2010-and-2020": ([[-176.9792, 73.5]], 1e-6),
        "total-net-carbon-sequestration-between-2020-and-2030": ([[73.5, -28.698004]], 1e-6),
        "total-net-carbon-sequestration": ([[83.5 - 176.9792 + 73.5, 73.5 - 28.698004]], 1e-5),
        "net-present-value-at-2030": ([[-373.67245, 837.93445]], 1e-5)}),
    "test_model_no_analysis_year_no_price_table": ((2000, 2010, 2020), None,
                                                   {"price": 10.0, "change": 5, "discount": 4}, {
        "total-net-carbon-sequestration-between-2000-and-2010": ([[83.5, 0]], 1e-7),
        "total-net-carbon-sequestration-between-2010-and-2020": ([[-176.9792, 73.5]], 1e-6),
        "total-net-carbon-sequestration": ([[83.5 - 176.9792, 73.5]], 1e-6),
        "net-present-value-at-2020": ([[-20506.314, 16123.521]], 1e-6)}),
    "test_model_one_transition_no_analysis_year": ((2000, 2010), None, {"price": 1.0, "change": 4, "discount": 4}, {
        "total-net-carbon-sequestration-between-2000-and-2010": ([[83.5, 0]], 1e-7),
        "net-present-value-at-2010": ([[835.0, 0]], 1e-6)}),
    "test_model_no_transitions": ((2000,), 2010, {"price": 1.0, "change": 4, "discount": 4}, {
        "total-net-carbon-sequestration-between-2000-and-2010": ([[83.5, 0]], 1e-7),
        "net-present-value-at-2010": ([[835.0, 0]], 1e-6)}),
}


def _units(folder):
    """Two planning units, one per pixel of the InVEST fixture."""
    import geopandas as gpd
    from shapely.geometry import box

    gpd.GeoDataFrame({"unit_id": ["west", "east"]}, geometry=[box(2, -4, 4, -2), box(4, -4, 6, -2)],
                     crs=CRS).to_file(folder / "units.gpkg", layer="units")
    return folder / "units.gpkg"


def _check_case(expected, folder):
    for name, (values, rtol) in expected.items():
        np.testing.assert_allclose(band(folder / f"{name}.tif"), values, rtol=rtol, err_msg=name)


@pytest.mark.parametrize("case", list(CASES))
def test_invest_cases_through_the_command(tmp_path, case):
    from click.testing import CliRunner

    from carbonmap.cli import main

    years, analysis_year, money, expected = CASES[case]
    write_tables(tmp_path, years)
    args = ["blue-carbon", tmp_path / "snapshots.csv", tmp_path / "biophysical.csv", tmp_path / "transitions.csv",
            "-o", tmp_path / "out", "--units", _units(tmp_path), "--units-id-field", "unit_id",
            "--discount-rate", money["discount"]]
    args += ["--analysis-year", analysis_year] if analysis_year else []
    args += ["--prices", tmp_path / "prices.csv"] if money.get("prices") else ["--price", money["price"],
                                                                              "--price-change", money["change"]]
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    _check_case(expected, tmp_path / "out")
    units = pd.read_csv(tmp_path / "out" / "blue_carbon_units.csv").set_index("unit_id")
    net = expected.get("total-net-carbon-sequestration",
                       expected["total-net-carbon-sequestration-between-2000-and-2010"])[0][0]
    np.testing.assert_allclose(units.loc[["west", "east"], "blue_carbon_net_sequestration_t_co2"],
                               np.array(net) * 4e-4, rtol=1e-5)
    periods = pd.read_csv(tmp_path / "out" / "blue_carbon_periods.csv")
    assert periods.iloc[-1]["start_year"] == 2000 and "net sequestration" in result.output


def _project(folder, years, analysis_year, money, snapshots_as="rasters"):
    write_tables(folder, years)
    _units(folder)
    rasters = "".join(f'[[rasters]]\nname = "lulc_{y}"\npath = "lulc_{y}.tif"\nkind = "categorical"\n' for y in years)
    snapshots = ("{ " + ", ".join(f'{y} = "lulc_{y}"' for y in years) + " }") if snapshots_as == "rasters" \
        else '"snapshots.csv"'
    valuation = 'prices = "prices.csv"' if money.get("prices") else \
        f"price_per_t_co2 = {money['price']}\nprice_change_pct = {money['change']}"
    (folder / "project.toml").write_text(f"""
[project]
name = "InVEST Coastal Blue Carbon fixture"
output_dir = "out"
[grid]
crs = "{CRS}"
resolution_m = 2
[units]
path = "units.gpkg"
id_field = "unit_id"
{rasters}
[blue_carbon]
snapshots = {snapshots}
biophysical = "biophysical.csv"
transitions = "transitions.csv"
{f"analysis_year = {analysis_year}" if analysis_year else ""}
discount_rate_pct = {money['discount']}
{valuation}
[outputs]
html = false
report = false
save_state = false
""", encoding="utf-8")
    return folder / "project.toml"


@pytest.mark.parametrize("case", list(CASES))
def test_invest_cases_through_the_stage(tmp_path, case):
    from carbonmap.config import load_project
    from carbonmap.pipeline import run

    years, analysis_year, money, expected = CASES[case]
    record = run(load_project(_project(tmp_path, years, analysis_year, money)), quiet=True)
    _check_case(expected, tmp_path / "out" / "rasters" / "blue_carbon")
    summary = pd.read_csv(tmp_path / "out" / "unit_summary.csv").set_index("unit_id")
    last = max(int(name.rsplit("-", 1)[-1]) for name in expected if name.startswith("net-present"))
    np.testing.assert_allclose(summary.loc[["west", "east"], "blue_carbon_npv_cny"],
                               np.array(expected[f"net-present-value-at-{last}"][0][0]) * 4e-4, rtol=1e-5)
    assert {"blue_carbon_net_sequestration", "blue_carbon_stock"} <= {layer.name for layer in record.layers}
    assert record.tables["blue_carbon_periods"].iloc[-1]["end_year"] == last


def test_the_stage_reads_a_snapshot_table_too(tmp_path):
    from carbonmap.config import load_project
    from carbonmap.pipeline import run

    years, analysis_year, money, expected = CASES["test_model"]
    record = run(load_project(_project(tmp_path, years, analysis_year, money, snapshots_as="table")), quiet=True)
    _check_case(expected, tmp_path / "out" / "rasters" / "blue_carbon")
    roles = [entry["role"] for entry in record.published.inputs]
    assert "blue-carbon snapshot table" in roles and "blue-carbon land cover 2020" in roles


def test_the_command_writes_the_preprocessor_templates(tmp_path):
    from click.testing import CliRunner

    from carbonmap.cli import main

    write_tables(tmp_path)
    (tmp_path / "lookup.csv").write_text("lucode,lulc-class,is_coastal_blue_carbon_habitat\n1,mangrove,TRUE\n"
                                         "2,parking lot,FALSE\n")
    result = CliRunner().invoke(main, ["blue-carbon", str(tmp_path / "snapshots.csv"), str(tmp_path / "lookup.csv"),
                                       "--template", "-o", str(tmp_path / "t")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "t" / "carbon_pool_transition_template.csv").read_text().splitlines() == [
        "lulc-class,mangrove,parking lot", "mangrove,,disturb", "parking lot,accum,"]
    assert read_biophysical(pd.read_csv(tmp_path / "t" / "carbon_biophysical_table_template.csv").fillna(0).assign(
        **{"lulc-class": ["mangrove", "parking lot"]}))["lucode"].tolist() == [1, 2]
    result = CliRunner().invoke(main, ["blue-carbon", str(tmp_path / "snapshots.csv"), str(tmp_path / "lookup.csv"),
                                       "-o", str(tmp_path / "t")])
    assert result.exit_code == 1 and "the model needs the transition table" in result.output


def test_the_command_says_what_is_wrong_in_one_line(tmp_path):
    from click.testing import CliRunner

    from carbonmap.cli import main

    write_tables(tmp_path)
    (tmp_path / "transitions.csv").write_text("lulc-class,mangrove,mud\nmangrove,accum,NCC\n")
    result = CliRunner().invoke(main, ["blue-carbon", str(tmp_path / "snapshots.csv"),
                                       str(tmp_path / "biophysical.csv"), str(tmp_path / "transitions.csv"),
                                       "-o", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "transitions.csv, field 'mud': the header names class(es) 'mud', which" in result.output
    assert "Fix: use the classes of the biophysical table: mangrove, parking lot." in result.output



# --------------------------------------------------------------------------- the project file


def test_project_file_mistakes_are_named_by_key(tmp_path):
    from carbonmap.config import load_project

    path = _project(tmp_path, (2000, 2010, 2020), 2030, {"prices": True, "discount": 4})
    text = path.read_text()
    for old, new in (('2010 = "lulc_2010"', 'later = "lulc_2010"'), ('2020 = "lulc_2020"', '2020 = "nope"'),
                     ("discount_rate_pct = 4", ""), ('transitions = "transitions.csv"', 'transitions = "t.csv"'),
                     ("[outputs]", 'convention = "guide"\n[outputs]')):
        assert old in text
        text = text.replace(old, new)
    path.write_text(text)
    (tmp_path / "t.csv").write_text("lulc-class,mangrove\nmud,accum\n")
    problems = []
    load_project(path, problems=problems)
    messages = {p.key: str(p) for p in problems}
    assert "'later' is not a year" in messages["blue_carbon.snapshots.later"]
    assert "no [[rasters]] entry named 'nope'" in messages["blue_carbon.snapshots.2020"]
    assert "valuation needs discount_rate_pct" in messages["blue_carbon.discount_rate_pct"]
    assert "unknown convention 'guide'" in messages["blue_carbon.convention"]
    assert any("t.csv, field 'lulc-class': rows name classes" in m for m in map(str, problems))
    assert len(problems) == 5


def test_project_file_years_and_prices(tmp_path):
    from carbonmap.config import load_project
    from carbonmap.errors import ConfigError

    path = _project(tmp_path, (2000, 2010, 2020), 2030, {"prices": True, "discount": 4})
    path.write_text(path.read_text().replace("analysis_year = 2030", "analysis_year = 2040"))
    with pytest.raises(ConfigError, match=r"key 'blue_carbon.prices': the price table has no price for 2031-2039"):
        load_project(path)
    path.write_text(path.read_text().replace("analysis_year = 2040", "analysis_year = 2020"))
    with pytest.raises(ConfigError, match=r"key 'blue_carbon.analysis_year': the analysis year \(2020\) must come"):
        load_project(path)


def test_validate_names_codes_the_biophysical_table_lacks(tmp_path):
    from carbonmap.validate import validate_project

    path = _project(tmp_path, (2000, 2010, 2020), 2030, {"prices": True, "discount": 4})
    BIOPHYSICAL.iloc[[0]].to_csv(tmp_path / "biophysical.csv", index=False)
    (tmp_path / "transitions.csv").write_text("lulc-class,mangrove\nmangrove,accum\n")
    problems = [str(p) for p in validate_project(path).problems]
    assert len(problems) == 3, problems
    assert all("1 land-cover code(s) are not in the biophysical table: 2 (1 cells)" in p for p in problems)
    assert any("key 'blue_carbon.snapshots.2010'" in p for p in problems)


def test_a_transition_seen_but_left_empty_is_warned_about(tmp_path):
    from carbonmap.config import load_project
    from carbonmap.pipeline import run

    path = _project(tmp_path, (2000, 2010), 2015, {"price": 1.0, "change": 0, "discount": 0})
    (tmp_path / "transitions.csv").write_text("lulc-class,mangrove,parking lot\nmangrove,accum,\nparking lot,accum,NCC\n")
    record = run(load_project(path), quiet=True, stream=open(os.devnull, "w"))
    (warning,) = record.published.warnings
    assert warning.startswith("blue carbon: 1 cell(s) (0.00 ha) changed from mangrove to parking lot between 2000 "
                              "and 2010, a "
                              "transition the transition table leaves empty: counted as no carbon change")
    transitions = record.tables["blue_carbon_transitions"].set_index(["from_class", "to_class"])
    assert transitions.loc[("mangrove", "parking lot"), "transition"] == ""
    assert transitions.loc[("parking lot", "mangrove"), "cells"] == 1


def test_the_demo_city_figures_are_those_its_readme_states(demo_run):
    """The demo's [blue_carbon] section (sample_data/README.md, docs/methods/blue_carbon.md):
    the figures stated, and tables and columns that add up."""
    import pyogrio

    from carbonmap.config import load_project
    from carbonmap.sample_data import __file__ as sample_data

    readme = (Path(sample_data).parent / "README.md").read_text(encoding="utf-8")
    gpkg = demo_run / "onemap.gpkg"
    periods = pyogrio.read_dataframe(gpkg, layer="blue_carbon_periods").set_index(["start_year", "end_year"])
    transitions = pyogrio.read_dataframe(gpkg, layer="blue_carbon_transitions")
    wetland = transitions[transitions["from_class"] == "wetland"].set_index("to_class")
    first, second, whole = periods.loc[(2015, 2023)], periods.loc[(2023, 2030)], periods.loc[(2015, 2030)]
    stated = [f"{wetland['area_ha'].sum():,.1f} ha of coastal wetland hold {first['stock_start_t_co2']:,.0f} t CO2",
              f"accumulates {first['accumulation_t_co2']:,.0f} t CO2 to 2023",
              f"{wetland.loc['impervious', 'area_ha']:,.1f} ha reclaimed for the port in 2023 "
              f"({wetland.loc['impervious', 'cells']:,} cells)",
              f"{second['emissions_t_co2']:,.0f} t CO2 to 2030 while the remaining "
              f"{wetland.loc['wetland', 'area_ha']:,.0f} ha accumulate {second['accumulation_t_co2']:,.0f}",
              f"{whole['net_sequestration_t_co2']:,.0f} t CO2 and the stock {whole['stock_end_t_co2']:,.0f} t CO2",
              f"{whole['npv'] / 1e6:,.1f} million CNY"]
    for text in stated:
        assert text.replace("\n", " ") in " ".join(readme.split()), text
    annual = pyogrio.read_dataframe(gpkg, layer="blue_carbon_annual")
    assert annual["net_sequestration_t_co2"].sum() == pytest.approx(whole["net_sequestration_t_co2"])
    assert annual["stock_t_co2"].iloc[-1] == pytest.approx(whole["stock_end_t_co2"])
    assert first["emissions_t_co2"] == 0 and whole["net_sequestration_t_co2"] == pytest.approx(
        whole["accumulation_t_co2"] - whole["emissions_t_co2"])
    summary = pd.read_csv(demo_run / "unit_summary.csv")
    assert summary["blue_carbon_net_sequestration_t_co2"].sum() == pytest.approx(whole["net_sequestration_t_co2"],
                                                                                 rel=1e-6)
    assert summary["blue_carbon_npv_cny"].sum() == pytest.approx(whole["npv"], rel=1e-6)
    assert load_project(Path(sample_data).parent / "demo_city" / "project.toml").blue_carbon.analysis_year == 2030
