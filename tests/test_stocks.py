"""Carbon stocks: the InVEST Carbon model's published test cases, and carbonmap's extras.

Reference values: ../shared/reference/invest_carbon/README.md (natcap-invest 3.20.2)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import rasterio
from affine import Affine

from carbonmap.errors import InputError, MissingColumnError, UnknownCodeError
from carbonmap.stocks import Valuation, carbon_stocks, read_pools, valuation_constant

POOLS = pd.DataFrame({"C_above": [15, 5, 2], "C_below": [10, 3, 1], "C_soil": [60, 20, 5],
                      "C_dead": [1, 0, 0], "lucode": [1, 2, 3], "LULC_Name": ["lulc code 1", "lulc code 2", "lulc code 3"]})
TRANSFORM = Affine(1, 0, 461261, 0, -1, 4923265)  # 1 m pixels: 1 m2 each
CRS = "EPSG:26910"


def _raster(path, value, nodata=-1):
    with rasterio.open(path, "w", driver="GTiff", width=10, height=10, count=1, dtype="int32", crs=CRS,
                       transform=TRANSFORM, nodata=nodata) as dst:
        dst.write(np.full((10, 10), value, dtype="int32"), 1)
    return path


def _read(path):
    with rasterio.open(path) as src:
        return src.read(1)


@pytest.mark.parametrize("nodata", [-1, None])  # "the same holds when the rasters define no nodata value"
def test_invest_case_1_full_run_with_valuation(tmp_path, nodata):
    bas, alt = _raster(tmp_path / "bas.tif", 1, nodata), _raster(tmp_path / "alt.tif", 2, nodata)
    valuation = Valuation(price_per_t_c=43.0, discount_rate_pct=-7.1, price_change_pct=2.8,
                          baseline_year=2016, alternative_year=2030)
    summary = carbon_stocks(bas, POOLS, alternative=alt, valuation=valuation, out_dir=tmp_path / "out")
    np.testing.assert_allclose(_read(tmp_path / "out" / "c_storage_bas.tif"), 86, atol=1e-3)
    np.testing.assert_allclose(_read(tmp_path / "out" / "c_storage_alt.tif"), 28, atol=1e-3)
    np.testing.assert_allclose(_read(tmp_path / "out" / "c_change_bas_alt.tif"), -58, atol=1e-3)
    np.testing.assert_allclose(_read(tmp_path / "out" / "npv_alt.tif"), -3422.079, atol=1e-3)
    assert valuation_constant(valuation) == pytest.approx(59.00136, abs=1e-5)
    totals = summary.set_index("quantity")
    assert totals.loc["total_bas", "t_c"] == pytest.approx(0.86, abs=1e-6)
    assert totals.loc["total_alt", "t_c"] == pytest.approx(0.28, abs=1e-6)
    assert totals.loc["change", "t_c"] == pytest.approx(-0.58, abs=1e-6)
    assert totals.loc["npv", "value"] == pytest.approx(-34.2208, abs=1e-4)
    assert totals.loc["total_bas", "t_co2"] == pytest.approx(0.86 * 44 / 12)
    assert totals.loc["c_soil_bas", "t_c"] == pytest.approx(0.60)
    assert totals.loc["total_bas", "area_ha"] == pytest.approx(0.01)


def test_invest_case_2_zero_rates(tmp_path):
    bas, alt = _raster(tmp_path / "bas.tif", 1), _raster(tmp_path / "alt.tif", 2)
    valuation = Valuation(43.0, 0.0, 0.0, 2016, 2030)
    summary = carbon_stocks(bas, POOLS, alternative=alt, valuation=valuation, out_dir=tmp_path / "out")
    np.testing.assert_allclose(_read(tmp_path / "out" / "npv_alt.tif"), -2494, atol=1e-3)  # -58 x 43
    assert summary.set_index("quantity").loc["npv", "value"] == pytest.approx(-24.94, abs=1e-6)


def test_invest_case_3_valuation_constant():
    assert round(valuation_constant(Valuation(50, 50, 5, 2010, 2012)), 5) == 40.87302
    with pytest.raises(InputError, match="alternative year must come after"):
        valuation_constant(Valuation(50, 5, 5, 2012, 2012))


def test_invest_case_5_every_missing_code_at_once():
    lulc = np.array([[1, 200, 201], [201, 2, 1]], dtype="int32")
    with pytest.raises(UnknownCodeError, match=r"2 land-cover code\(s\) are not in the pool table: 200 \(1 cells\), 201 \(2 cells\)"):
        carbon_stocks(lulc, POOLS, transform=TRANSFORM, crs=CRS, nodata=-1)


def test_scale_check_1000_by_1000_cells_of_30_m():
    """1,000,000 cells of 900 m2 (90,000 ha) at 86 t C/ha = 7,740,000 t C."""
    lulc = np.ones((1000, 1000), dtype="int32")
    summary = carbon_stocks(lulc, POOLS, transform=Affine(30, 0, 0, 0, -30, 0), crs=CRS, nodata=-1,
                            block_pixels=100_000)
    totals = summary.set_index("quantity")
    assert totals.loc["total_bas", "t_c"] == pytest.approx(7_740_000, rel=1e-9)
    assert totals.loc["total_bas", "area_ha"] == pytest.approx(90_000)
    assert list(totals.columns) == ["t_c", "t_co2", "area_ha"]  # no price, no empty value column


def test_alternative_on_another_grid_is_aligned_and_nodata_stays_nodata(tmp_path):
    bas = np.array([[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, -1, -1], [3, 3, -1, -1]], dtype="int32")
    alt_path = tmp_path / "alt.tif"  # 2 x 2 cells of 2 m over the same area: aligned by mode
    with rasterio.open(alt_path, "w", driver="GTiff", width=2, height=2, count=1, dtype="int32", crs=CRS,
                       transform=Affine(2, 0, 461261, 0, -2, 4923265), nodata=-1) as dst:
        dst.write(np.array([[2, 2], [2, 1]], dtype="int32"), 1)
    out = tmp_path / "out"
    summary = carbon_stocks(bas, POOLS, alternative=alt_path, out_dir=out, transform=TRANSFORM, crs=CRS, nodata=-1)
    change = _read(out / "c_change_bas_alt.tif")
    # code 1 (86) -> 2 (28): -58; 2 -> 2: 0; 3 (8) -> 2: +20; nodata stays nodata (not 0)
    assert change[0, 0] == -58 and change[0, 2] == 0 and change[2, 0] == 20
    with rasterio.open(out / "c_change_bas_alt.tif") as src:
        assert change[2, 2] == src.nodata
    totals = summary.set_index("quantity")
    assert totals.loc["total_bas", "area_ha"] == pytest.approx(12e-4)  # 12 valid cells of 1 m2
    assert totals.loc["change", "t_c"] == pytest.approx((4 * -58 + 4 * 20) * 1e-4)


def test_strips_do_not_change_totals():
    rng = np.random.default_rng(0)
    lulc = rng.integers(1, 4, size=(57, 43)).astype("int32")
    one = carbon_stocks(lulc, POOLS, transform=TRANSFORM, crs=CRS, nodata=-1)
    many = carbon_stocks(lulc, POOLS, transform=TRANSFORM, crs=CRS, nodata=-1, block_pixels=43 * 3)
    pd.testing.assert_frame_equal(one, many, rtol=1e-12)


@pytest.mark.parametrize("dtype, n_codes, crs", [("uint8", 12, CRS), ("int16", 12, "EPSG:4326"),
                                                  ("int32", 12, CRS), ("uint16", 2100, CRS)])
def test_totals_and_layers_equal_a_cell_by_cell_computation(tmp_path, dtype, n_codes, crs):
    """Byte, 16-bit and 32-bit codes, more class pairs than a strip has cells (2,100 codes), and true
    cell areas that change from row to row (degrees): totals and every layer as computed cell by cell."""
    from carbonmap.grid import cell_area_m2

    rng = np.random.default_rng(n_codes)
    codes = np.sort(rng.choice(np.arange(1, 3000 if n_codes > 255 else 120), n_codes, replace=False))
    pools = pd.DataFrame({"lucode": codes, **{p: rng.uniform(0, 90, n_codes).round(2)
                                              for p in ("c_above", "c_below", "c_soil", "c_dead")}})
    shape = (37, 29)
    bas, alt = (rng.choice(codes, shape).astype(dtype) for _ in range(2))
    nodata = 0
    bas[rng.random(shape) < 0.1] = nodata
    alt[rng.random(shape) < 0.1] = nodata
    transform = Affine(0.001, 0, 113.0, 0, -0.001, 23.0) if crs == "EPSG:4326" else TRANSFORM
    summary = carbon_stocks(bas, pools, alternative=alt, transform=transform, crs=crs, nodata=nodata,
                            out_dir=tmp_path, block_pixels=29 * 5,
                            valuation=Valuation(43.0, -7.1, 2.8, 2016, 2030)).set_index("quantity")
    density = pools.set_index("lucode").sum(axis=1)  # [t C/ha], float64
    ha = np.broadcast_to(cell_area_m2(transform, crs, shape[0])[:, None] / 1e4, shape)
    exact = {name: np.where(raster != nodata, density.reindex(raster.ravel()).to_numpy().reshape(shape), np.nan)
             for name, raster in (("bas", bas), ("alt", alt))}
    per_cell = {name: values.astype("float32") for name, values in exact.items()}  # the layers' values
    for name in ("bas", "alt"):
        ok = np.isfinite(exact[name])
        assert summary.loc[f"total_{name}", "t_c"] == pytest.approx((exact[name][ok] * ha[ok]).sum(), rel=1e-12)
        np.testing.assert_array_equal(_read(tmp_path / f"c_storage_{name}.tif"),
                                      np.where(ok, per_cell[name], np.float32(-1e30)))
    change = per_cell["alt"] - per_cell["bas"]
    ok = np.isfinite(change)
    assert summary.loc["change", "t_c"] == pytest.approx((change[ok].astype(float) * ha[ok]).sum(), rel=1e-12)
    np.testing.assert_array_equal(_read(tmp_path / "c_change_bas_alt.tif"), np.where(ok, change, np.float32(-1e30)))
    constant = valuation_constant(Valuation(43.0, -7.1, 2.8, 2016, 2030))
    np.testing.assert_array_equal(_read(tmp_path / "npv_alt.tif"),
                                  np.where(ok, change * np.float32(constant), np.float32(-1e30)))


def test_bad_pool_tables():
    with pytest.raises(MissingColumnError, match="needs the columns c_dead"):
        read_pools(POOLS.drop(columns="C_dead"))
    with pytest.raises(InputError, match="pool values missing or not numbers for lucode 2"):
        read_pools(POOLS.assign(C_soil=[60, None, 5]))
    with pytest.raises(InputError, match="valuation needs an alternative"):
        carbon_stocks(np.ones((2, 2), "int32"), POOLS, valuation=Valuation(1, 0, 0, 2000, 2010),
                      transform=TRANSFORM, crs=CRS)


def test_cli_stocks_like_invest(tmp_path):
    """`carbonmap stocks` on InVEST's case 1 writes its rasters and summary.csv."""
    from click.testing import CliRunner

    from carbonmap.cli import main

    bas, alt = _raster(tmp_path / "bas.tif", 1), _raster(tmp_path / "alt.tif", 2)
    POOLS.to_csv(tmp_path / "pools.csv", index=False)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["stocks", str(bas), str(tmp_path / "pools.csv"), "--alt", str(alt),
                                       "--price", "43", "--discount-rate", "-7.1", "--price-change", "2.8",
                                       "--years", "2016", "2030", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["c_change_bas_alt.tif", "c_storage_alt.tif",
                                                     "c_storage_bas.tif", "npv_alt.tif", "summary.csv"]
    summary = pd.read_csv(out / "summary.csv").set_index("quantity")
    assert summary.loc["npv", "value"] == pytest.approx(-34.2208, abs=1e-4)
    assert summary.loc["total_bas", "t_co2"] == pytest.approx(0.86 * 44 / 12)
    assert "baseline stock 0.9 t C" in result.output
    partial = CliRunner().invoke(main, ["stocks", str(bas), str(tmp_path / "pools.csv"), "--price", "43", "-o", str(out)])
    assert partial.exit_code == 1 and "valuation needs --price, --discount-rate" in partial.output
