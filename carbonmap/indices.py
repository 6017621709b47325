"""Spectral indices from multispectral bands (pure functions on arrays).

All indices here are normalised differences,

.. math:: ND(a, b) = \\frac{a - b}{a + b},

bounded to [-1, 1] for non-negative reflectances. Cells where either band is nodata
(masked) or where :math:`a + b = 0` are masked in the result, never set to 0.

- NDVI (vegetation) = ND(NIR, red), Rouse et al. (1974); Tucker (1979).
- NDWI (open water) = ND(green, NIR), McFeeters (1996).

Digital numbers (e.g. Landsat Level-1 uint8/uint16) give indices that differ from
surface-reflectance indices by the bands' gain and offset; use surface reflectance for
quantitative work (sequestration models) and digital numbers only for pattern maps.

References
----------
.. [1] Rouse, J. W., Haas, R. H., Schell, J. A., & Deering, D. W. (1974). Monitoring
   vegetation systems in the Great Plains with ERTS. NASA SP-351, 309-317.
.. [2] Tucker, C. J. (1979). Red and photographic infrared linear combinations for
   monitoring vegetation. Remote Sensing of Environment, 8(2), 127-150.
.. [3] McFeeters, S. K. (1996). The use of the Normalized Difference Water Index (NDWI)
   in the delineation of open water features. International Journal of Remote Sensing,
   17(7), 1425-1432.
"""

from __future__ import annotations

import numpy as np

__all__ = ["normalized_difference", "ndvi", "ndwi"]


def normalized_difference(a: np.ndarray, b: np.ndarray) -> np.ma.MaskedArray:
    """(a - b) / (a + b) in float32, masked where an input is masked or a + b == 0.

    Parameters
    ----------
    a, b : array_like (same shape)
        Band values (reflectance or digital numbers); masked arrays keep their masks.

    Returns
    -------
    numpy.ma.MaskedArray of float32, in [-1, 1] for non-negative inputs.
    """
    a = np.ma.asarray(a).astype(np.float64)
    b = np.ma.asarray(b).astype(np.float64)
    if a.shape != b.shape:
        raise ValueError(f"band shapes differ: {a.shape} and {b.shape}")
    total = a + b
    mask = np.ma.getmaskarray(a) | np.ma.getmaskarray(b) | (total.filled(0.0) == 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = (a.filled(0.0) - b.filled(0.0)) / np.where(mask, 1.0, total.filled(1.0))
    return np.ma.MaskedArray(value.astype(np.float32), mask=mask)


def ndvi(red: np.ndarray, nir: np.ndarray) -> np.ma.MaskedArray:
    """Normalised difference vegetation index, (NIR - red) / (NIR + red) [-]."""
    return normalized_difference(nir, red)


def ndwi(green: np.ndarray, nir: np.ndarray) -> np.ma.MaskedArray:
    """Normalised difference water index (McFeeters 1996), (green - NIR) / (green + NIR) [-]."""
    return normalized_difference(green, nir)
