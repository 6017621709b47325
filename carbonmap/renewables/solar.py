"""Solar resource on tilted planes, with pvlib doing the solar geometry and irradiance models.

For a site (latitude, longitude, altitude) and a year of hourly time steps:

1. pvlib computes the sun's position (NREL SPA) and the clear-sky irradiance (Ineichen-Perez
   with the Linke turbidity climatology pvlib ships, ``lookup_linke_turbidity``);
2. all-sky GHI is the clear-sky GHI times a clear-sky index: one documented annual value
   (``clear_sky_index`` in ``renewable_parameters.csv``) when no measured GHI is given; when a
   GHI raster gives the annual total, the hourly profile is scaled to it;
3. the Erbs et al. (1982) decomposition (``pvlib.irradiance.erbs``) splits GHI into beam and
   diffuse, and the Hay-Davies model (``pvlib.irradiance.get_total_irradiance``) transposes
   them to the module plane, with ground reflection (albedo).

Because the ratio of plane-of-array to horizontal irradiation barely changes across a city,
:func:`transposition_table` computes it once per site and mounting, for horizon angles
0-60 degrees, and each building's annual plane-of-array irradiation is its own GHI times that
ratio. A horizon angle θ stands for taller neighbours to the south: the beam is lost when the
sun is lower than θ in the southern half of the sky (azimuth 90-270 degrees), and the sky
diffuse loses half the share of an isotropic sky below θ (sin² θ / 2).

Row spacing on flat roofs follows GB 50797-2012 (Code for design of photovoltaic power
station): rows do not shade each other from 9:00 to 15:00 solar time on the winter solstice,

.. math:: D = L\\cos\\beta + L\\sin\\beta\\,\\frac{0.707\\tan\\varphi + 0.4338}{0.707 - 0.4338\\tan\\varphi}

for module length L (slant), tilt β and latitude φ; the ground-cover ratio is L / D.

References
----------
.. [1] Holmgren W. F., Hansen C. W., Mikofski M. A. (2018). pvlib python. JOSS 3(29): 884.
.. [2] Erbs D. G., Klein S. A., Duffie J. A. (1982). Estimation of the diffuse radiation
   fraction for hourly, daily and monthly-average global radiation. Solar Energy 28: 293-302.
.. [3] Hay J. E., Davies J. A. (1980). Calculation of the solar radiation incident on an
   inclined surface. Proc. First Canadian Solar Radiation Data Workshop: 59-72.
.. [4] GB 50797-2012 Code for design of photovoltaic power station, 6.8.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from carbonmap.errors import InputError

__all__ = ["Site", "clear_sky_year", "plane_of_array", "transposition_table", "optimal_tilt", "row_gcr",
           "HORIZONS_DEG"]

#: Horizon angles [degrees] at which transposition ratios are tabulated.
HORIZONS_DEG = np.arange(0, 61, 1.0)


@dataclass(frozen=True)
class Site:
    """Where the sun is computed: latitude and longitude [degrees], altitude [m]."""

    latitude: float
    longitude: float
    altitude_m: float = 0.0

    def __post_init__(self) -> None:
        if not (-90 < self.latitude < 90 and -180 <= self.longitude <= 180):
            raise InputError(f"the site ({self.latitude}, {self.longitude}) is not a longitude/latitude.",
                             fix="give degrees (e.g. the centroid of the buildings in EPSG:4326).")

    @property
    def equator_azimuth(self) -> float:
        """Azimuth facing the equator [degrees from north]: 180 in the north, 0 in the south."""
        return 180.0 if self.latitude >= 0 else 0.0


@lru_cache(maxsize=16)
def clear_sky_year(site: Site, year: int = 2023) -> pd.DataFrame:
    """Hourly sun position and clear-sky irradiance [W m-2] over one year (centred hours).

    Columns: ``zenith``, ``azimuth``, ``elevation`` [degrees], ``ghi``, ``dni``, ``dhi``,
    ``dni_extra`` [W m-2]; index: UTC timestamps at the middle of each hour.
    """
    import pvlib

    times = pd.date_range(f"{year}-01-01 00:30", f"{year}-12-31 23:30", freq="1h", tz="UTC")
    location = pvlib.location.Location(site.latitude, site.longitude, altitude=site.altitude_m)
    position = location.get_solarposition(times)
    sky = location.get_clearsky(times, model="ineichen", solar_position=position)
    return pd.DataFrame({
        "zenith": position["apparent_zenith"], "azimuth": position["azimuth"],
        "elevation": position["apparent_elevation"], "ghi": sky["ghi"], "dni": sky["dni"], "dhi": sky["dhi"],
        "dni_extra": pvlib.irradiance.get_extra_radiation(times),
    }, index=times)


def plane_of_array(site: Site, tilt: float, azimuth: float, *, clear_sky_index: float, albedo: float,
                   horizon_deg: float = 0.0, year: int = 2023) -> tuple[float, float]:
    r"""Annual all-sky irradiation on a plane and on the horizontal [kWh m-2 yr-1].

    Parameters
    ----------
    site : where the sun is computed
    tilt : plane tilt [degrees from horizontal]
    azimuth : direction the plane faces [degrees clockwise from north]
    clear_sky_index : all-sky / clear-sky irradiation [-]
    albedo : ground reflectance [-] (``renewable_parameters.csv`` row ``albedo``)
    horizon_deg : horizon elevation towards the equator [degrees]: beam blocked below it
    year : the year of the hourly clear-sky series

    Notes
    -----
    GHI = clear-sky GHI (Ineichen) x `clear_sky_index`, split into beam and diffuse by Erbs,
    transposed by Hay-Davies (pvlib). Above a horizon h, the sky diffuse is scaled by
    :math:`1 - \sin^2(h) / 2`.

    Returns
    -------
    (poa, ghi): plane of array (tilt, azimuth [degrees from north]) and horizontal.
    """
    import pvlib

    sky = clear_sky_year(site, year)
    ghi = sky["ghi"] * clear_sky_index
    split = pvlib.irradiance.erbs(ghi, sky["zenith"], sky.index)
    poa = pvlib.irradiance.get_total_irradiance(
        tilt, azimuth, sky["zenith"], sky["azimuth"], split["dni"], ghi, split["dhi"],
        dni_extra=sky["dni_extra"], model="haydavies", albedo=albedo)
    beam = poa["poa_direct"].to_numpy()
    if horizon_deg > 0:
        south = (sky["azimuth"] > 90) & (sky["azimuth"] < 270) if site.latitude >= 0 else \
            (sky["azimuth"] < 90) | (sky["azimuth"] > 270)
        beam = np.where((sky["elevation"] < horizon_deg) & south, 0.0, beam)
    diffuse = poa["poa_sky_diffuse"].to_numpy() * (1 - 0.5 * np.sin(np.radians(horizon_deg)) ** 2)
    total = beam + diffuse + poa["poa_ground_diffuse"].to_numpy()
    return float(np.nansum(total)) / 1000.0, float(np.nansum(ghi)) / 1000.0


def transposition_table(site: Site, tilt: float, azimuth: float, *, clear_sky_index: float, albedo: float,
                        year: int = 2023) -> np.ndarray:
    """Ratio of annual plane-of-array to horizontal irradiation for each of :data:`HORIZONS_DEG`."""
    return np.array([_ratio(site, tilt, azimuth, clear_sky_index, albedo, float(h), year) for h in HORIZONS_DEG])


@lru_cache(maxsize=512)
def _ratio(site, tilt, azimuth, clear_sky_index, albedo, horizon, year) -> float:
    poa, ghi = plane_of_array(site, tilt, azimuth, clear_sky_index=clear_sky_index, albedo=albedo,
                              horizon_deg=horizon, year=year)
    return poa / ghi


def optimal_tilt(site: Site, *, clear_sky_index: float, albedo: float, year: int = 2023) -> float:
    """The equator-facing tilt [whole degrees, 0-60] with the most annual irradiation."""
    tilts = np.arange(0, 61, 1.0)
    values = [_ratio(site, float(t), site.equator_azimuth, clear_sky_index, albedo, 0.0, year) for t in tilts]
    return float(tilts[int(np.argmax(values))])


def row_gcr(latitude: float, tilt: float) -> float:
    """Ground-cover ratio of tilted rows without mutual shading 9:00-15:00 solar time on the
    winter solstice (GB 50797-2012, module docstring)."""
    phi = np.radians(abs(latitude))
    beta = np.radians(tilt)
    denominator = 0.707 - 0.4338 * np.tan(phi)
    if denominator <= 0:
        raise InputError(f"the GB 50797 spacing rule does not apply at latitude {latitude}.",
                         fix="use flush mounting or a project-specific spacing.")
    spacing = np.cos(beta) + np.sin(beta) * (0.707 * np.tan(phi) + 0.4338) / denominator
    return float(1.0 / spacing)
