"""Spectral indices on the real Landsat 7 image of Olinda."""

from __future__ import annotations

import numpy as np
import rasterio

from carbonmap.indices import ndvi, ndwi, normalized_difference


def test_normalized_difference_by_hand():
    out = normalized_difference(np.array([3, 0, 5]), np.array([1, 0, 5]))
    assert out.tolist() == [0.5, None, 0.0]  # 0 + 0 is masked, never 0
    masked = np.ma.MaskedArray([4, 4], mask=[True, False])
    assert ndvi(np.array([2, 2]), masked).mask.tolist() == [True, False]
    assert ndwi(np.array([3]), np.array([1]))[0] == 0.5


def test_olinda_ndvi(olinda):
    """Bands 3 (red) and 4 (NIR): NDVI -0.75..0.59 with 58 % of cells below 0 (ocean and
    town), as stated in the data's SOURCES.md."""
    with rasterio.open(olinda / "L7_ETMs.tif") as src:
        red, nir = src.read(3), src.read(4)
    index = ndvi(red, nir)
    direct = (nir.astype(float) - red) / (nir.astype(float) + red)
    np.testing.assert_allclose(index.compressed(), direct[~index.mask], rtol=1e-6)
    assert -1 <= index.min() and index.max() <= 1
    assert round(float(index.min()), 2) == -0.75 and round(float(index.max()), 2) == 0.59
    assert abs(float((index < 0).mean()) - 0.58) < 0.01
