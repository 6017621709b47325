"""Terrain from an elevation raster: slope and aspect, shared by every analysis that needs them
(ground PV, afforestation slope rules, land-use suitability, ecological resistance).

Both use Horn's (1981) 3 x 3 finite differences on a north-up grid of square cells; edge
cells take their nearest neighbours, nodata (NaN or masked) propagates to its neighbours.
"""

from __future__ import annotations

import numpy as np

__all__ = ["horn_gradient", "slope_degrees", "aspect_degrees"]


def horn_gradient(elevation: np.ndarray, resolution: float) -> tuple[np.ndarray, np.ndarray]:
    """The elevation gradient by Horn's method: (dz/dx eastward, dz/dy southward) [m/m].

    Parameters
    ----------
    elevation : (H, W) array [m], masked or NaN where unknown
    resolution : cell size [m]

    Notes
    -----
    With the 3 x 3 window ``a b c / d e f / g h i`` (rows from north to south):

    .. math::

        \\frac{dz}{dx} = \\frac{(c + 2f + i) - (a + 2d + g)}{8 r}, \\qquad
        \\frac{dz}{dy} = \\frac{(g + 2h + i) - (a + 2b + c)}{8 r}

    References
    ----------
    Horn B.K.P. (1981). Hill shading and the reflectance map. Proceedings of the IEEE 69(1), 14-47.
    """
    z = np.ma.filled(np.ma.asarray(elevation, dtype=float), np.nan)
    padded = np.pad(z, 1, mode="edge")
    a, b, c = padded[:-2, :-2], padded[:-2, 1:-1], padded[:-2, 2:]
    d, f = padded[1:-1, :-2], padded[1:-1, 2:]
    g, h, i = padded[2:, :-2], padded[2:, 1:-1], padded[2:, 2:]
    dz_dx = ((c + 2 * f + i) - (a + 2 * d + g)) / (8 * resolution)
    dz_dy = ((g + 2 * h + i) - (a + 2 * b + c)) / (8 * resolution)
    return dz_dx, dz_dy


def slope_degrees(elevation: np.ndarray, resolution: float) -> np.ndarray:
    """Slope [degrees] of an elevation raster [m] with `resolution` [m] cells.

    Notes
    -----
    :math:`\\theta = \\arctan \\sqrt{(dz/dx)^2 + (dz/dy)^2}`, with the gradient of :func:`horn_gradient`.

    Examples
    --------
    >>> round(float(slope_degrees(np.array([[0.0, 30.0, 60.0]] * 3), 30.0)[1, 1]), 6)
    45.0
    """
    dz_dx, dz_dy = horn_gradient(elevation, resolution)
    return np.degrees(np.arctan(np.hypot(dz_dx, dz_dy)))


def aspect_degrees(elevation: np.ndarray, resolution: float) -> np.ndarray:
    """Aspect [degrees clockwise from north]: the direction the slope faces.

    Notes
    -----
    :math:`A = \\operatorname{atan2}(-dz/dx, dz/dy)` mod 360 with the gradient of
    :func:`horn_gradient`: rows grow southward, so ground rising to the south (dz/dy > 0)
    faces north (0), rising to the east faces west (270).

    Examples
    --------
    >>> float(aspect_degrees(np.array([[0.0, 30.0, 60.0]] * 3), 30.0)[1, 1])  # rising eastward
    270.0
    """
    dz_dx, dz_dy = horn_gradient(elevation, resolution)
    return (np.degrees(np.arctan2(-dz_dx, dz_dy)) + 360) % 360
