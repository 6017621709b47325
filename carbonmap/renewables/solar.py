"""Solar resource on tilted planes, with pvlib doing the solar geometry and irradiance models.

For a site (latitude, longitude, altitude) and a year of hourly time steps:

1. pvlib computes the sun's position (NREL SPA) and the clear-sky irradiance, GHI, DNI and DHI,
   with the Ineichen-Perez model and the Linke turbidity climatology pvlib ships
   (``lookup_linke_turbidity``). The three components are used as the model gives them.
2. All-sky irradiance is the clear-sky year times a clear-sky index k (a documented annual value,
   or a GHI raster's annual total over the clear-sky year's), split into beam and diffuse by a
   decomposition (:data:`DECOMPOSITION_MODELS`, :func:`all_sky_year`):

   - ``"erbs_monthly"`` (default): each month's diffuse fraction follows the monthly-average
     correlation of Erbs et al. (1982) from the month's clearness index; the clear-sky model's
     hourly DNI and DHI are each scaled so that the month's beam and diffuse take those shares.
     Closure holds hour by hour and the month's GHI is k times the clear-sky GHI. The annual
     diffuse fraction comes out near the measured one (about 0.45-0.5 in Beijing and Suzhou);
   - ``"clear_sky"``: GHI, DNI and DHI each times k. The diffuse fraction stays the clear-sky
     model's (about 0.16 a year in Beijing): right for the clear-sky year itself (k = 1), too
     much beam for an all-sky year;
   - an hourly model (Erbs, Erbs-Driesse, Boland, DISC, DIRINT, DIRINDEX): GHI = k x clear-sky
     GHI is split hour by hour. Every hour then looks partly cloudy, and the annual diffuse
     fraction comes out about 0.75: too much diffuse for an all-sky year.

3. A transposition model (one of :data:`TRANSPOSITION_MODELS`; Perez by default, as PVsyst and
   SAM use) takes beam and sky diffuse to the module plane; ground reflection uses the albedo.
   Hay-Davies and Perez need the extraterrestrial DNI, Perez also the relative airmass
   (Kasten & Young 1989); pvlib provides both.

Because the ratio of plane-of-array to horizontal irradiation barely changes across a city,
:func:`transposition_table` computes it once per site and mounting, for horizon angles
0-60 degrees, and each building's annual plane-of-array irradiation is its own GHI times that
ratio. A horizon angle θ stands for taller neighbours to the south: the beam and the
circumsolar diffuse (Hay-Davies, Perez) are lost when the sun is lower than θ in the southern
half of the sky (azimuth 90-270 degrees), and the rest of the sky diffuse loses half the share
of an isotropic sky below θ (sin² θ / 2).

Row spacing on flat roofs follows GB 50797-2012 (Code for design of photovoltaic power
station): rows do not shade each other from 9:00 to 15:00 solar time on the winter solstice,

.. math:: D = L\\cos\\beta + L\\sin\\beta\\,\\frac{0.707\\tan\\varphi + 0.4338}{0.707 - 0.4338\\tan\\varphi}

for module length L (slant), tilt β and latitude φ; the ground-cover ratio is L / D.

References
----------
.. [1] Holmgren W. F., Hansen C. W., Mikofski M. A. (2018). pvlib python. JOSS 3(29): 884.
.. [2] Ineichen P., Perez R. (2002). A new airmass independent formulation for the Linke
   turbidity coefficient. Solar Energy 73: 151-157.
.. [3] Perez R., Ineichen P., Seals R., Michalsky J., Stewart R. (1990). Modeling daylight
   availability and irradiance components from direct and global irradiance. Solar Energy 44:
   271-289.
.. [4] Hay J. E., Davies J. A. (1980). Calculation of the solar radiation incident on an
   inclined surface. Proc. First Canadian Solar Radiation Data Workshop: 59-72.
.. [5] Erbs D. G., Klein S. A., Duffie J. A. (1982). Estimation of the diffuse radiation
   fraction for hourly, daily and monthly-average global radiation. Solar Energy 28: 293-302.
.. [6] Kasten F., Young A. T. (1989). Revised optical air mass tables and approximation
   formula. Applied Optics 28: 4735-4738.
.. [7] GB 50797-2012 Code for design of photovoltaic power station, 6.8.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from carbonmap.errors import InputError

__all__ = ["Site", "clear_sky_year", "all_sky_year", "plane_of_array", "transposition_table", "optimal_tilt",
           "row_gcr", "clear_sky_index_of", "check_models", "monthly_diffuse_fraction", "HORIZONS_DEG",
           "TRANSPOSITION_MODELS", "DECOMPOSITION_MODELS"]

#: Horizon angles [degrees] at which transposition ratios are tabulated.
HORIZONS_DEG = np.arange(0, 61, 1.0)

#: Transposition models (pvlib ``get_total_irradiance``): isotropic sky (Liu & Jordan 1963),
#: Hay & Davies (1980), Perez et al. (1990, ``allsitescomposite1990`` coefficients).
TRANSPOSITION_MODELS = ("isotropic", "haydavies", "perez")

#: How the all-sky year is split into beam and diffuse (:func:`all_sky_year`): the monthly-average
#: correlation of Erbs et al. (1982) applied to the clear-sky components (default); the clear-sky
#: components each scaled by k; or an hourly model of pvlib: Erbs et al. (1982), Erbs-Driesse
#: (Driesse et al. 2024, a continuous refit of Erbs), Boland et al. (2008), DISC (Maxwell 1987),
#: DIRINT (Perez et al. 1992), DIRINDEX (Perez et al. 2002: the clear-sky DNI times DIRINT's
#: all-sky / clear-sky ratio).
DECOMPOSITION_MODELS = ("erbs_monthly", "clear_sky", "erbs", "erbs_driesse", "boland", "disc", "dirint", "dirindex")

#: Representative day of each month for the monthly mean declination (Klein 1977).
_MONTH_DAYS = np.array([17, 47, 75, 105, 135, 162, 198, 228, 258, 288, 318, 344])


def _check(value: str, choices: tuple[str, ...], what: str) -> None:
    if value not in choices:
        raise InputError(f"unknown {what} model {value!r}.", field=what, fix=f"use one of {', '.join(choices)}.")


def check_models(transposition: str, decomposition: str = "erbs_monthly") -> None:
    """Raise :class:`~carbonmap.errors.InputError` unless `transposition` is one of
    :data:`TRANSPOSITION_MODELS` and `decomposition` one of :data:`DECOMPOSITION_MODELS`.

    >>> check_models("perez", "erbs_monthly")
    """
    _check(transposition, TRANSPOSITION_MODELS, "transposition")
    _check(decomposition, DECOMPOSITION_MODELS, "decomposition")


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
    """Hourly sun position and clear-sky irradiance over one year (centred hours).

    Columns: ``zenith``, ``azimuth``, ``elevation`` [degrees, apparent], ``ghi``, ``dni``,
    ``dhi`` (Ineichen-Perez, pvlib ``Location.get_clearsky``) and ``dni_extra`` [W m-2],
    ``airmass`` (relative, Kasten & Young 1989) [-] and ``pressure`` [Pa] (from the altitude);
    index: UTC timestamps at the middle of each hour.
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
        "airmass": location.get_airmass(solar_position=position)["airmass_relative"],
        "pressure": pvlib.atmosphere.alt2pres(site.altitude_m),
    }, index=times)


def monthly_diffuse_fraction(clearness_index, sunset_hour_angle_deg):
    r"""Monthly-average diffuse fraction from the monthly clearness index (Erbs et al. 1982) [-].

    Parameters
    ----------
    clearness_index : array [-]
        :math:`\bar K_T`, the month's GHI over its extraterrestrial horizontal irradiation;
        clipped to the correlation's range 0.3-0.8.
    sunset_hour_angle_deg : array [degrees]
        :math:`\omega_s` on the month's representative day.

    Returns
    -------
    ndarray [-]
        :math:`\bar H_d / \bar H`.

    Notes
    -----
    .. math::

        \frac{\bar H_d}{\bar H} = \begin{cases}
        1.391 - 3.560 \bar K_T + 4.189 \bar K_T^2 - 2.137 \bar K_T^3 & \omega_s \le 81.4^\circ \\
        1.311 - 3.022 \bar K_T + 3.427 \bar K_T^2 - 1.821 \bar K_T^3 & \omega_s > 81.4^\circ
        \end{cases}

    References
    ----------
    .. [1] Erbs D. G., Klein S. A., Duffie J. A. (1982). Estimation of the diffuse radiation
       fraction for hourly, daily and monthly-average global radiation. Solar Energy 28: 293-302.
    .. [2] Duffie J. A., Beckman W. A. (2013). Solar Engineering of Thermal Processes, 4th ed.,
       eq. 2.12.1. Wiley.

    Examples
    --------
    >>> round(float(monthly_diffuse_fraction(0.5, 70.0)), 4)
    0.3911
    """
    k = np.clip(np.asarray(clearness_index, dtype=float), 0.3, 0.8)
    low = 1.391 - 3.560 * k + 4.189 * k**2 - 2.137 * k**3
    high = 1.311 - 3.022 * k + 3.427 * k**2 - 1.821 * k**3
    return np.where(np.asarray(sunset_hour_angle_deg) <= 81.4, low, high)


@lru_cache(maxsize=64)
def all_sky_year(site: Site, clear_sky_index: float, decomposition: str = "erbs_monthly",
                 year: int = 2023) -> pd.DataFrame:
    r"""Hourly all-sky GHI, DNI and DHI [W m-2]: the clear-sky year times a clear-sky index.

    Parameters
    ----------
    site : Site
        Where the sun is computed.
    clear_sky_index : float [-]
        k, all-sky / clear-sky irradiation over the year.
    decomposition : str
        One of :data:`DECOMPOSITION_MODELS` (default ``"erbs_monthly"``).
    year : int
        The year of the hourly clear-sky series.

    Returns
    -------
    DataFrame
        ``ghi``, ``dni``, ``dhi`` [W m-2], indexed as :func:`clear_sky_year`.

    Raises
    ------
    InputError
        For an unknown decomposition model or a clear-sky index that is not positive.

    Notes
    -----
    With clear-sky :math:`G_{cs}, B_{cs}, D_{cs}` (GHI, DNI, DHI) and zenith z:

    - ``erbs_monthly``: for each month m, :math:`\bar K_T = k \sum G_{cs} / \sum G_0` with
      :math:`G_0` the extraterrestrial horizontal irradiance, the diffuse fraction
      :math:`f_m` of :func:`monthly_diffuse_fraction` (sunset hour angle on the month's
      representative day, Klein 1977), and

      .. math::

          D = D_{cs} \frac{f_m\, k \sum_m G_{cs}}{\sum_m D_{cs}}, \qquad
          B = B_{cs} \frac{(1 - f_m)\, k \sum_m G_{cs}}{\sum_m B_{cs} \cos z}, \qquad
          G = B \cos z + D

    - ``clear_sky``: :math:`(G, B, D) = k\,(G_{cs}, B_{cs}, D_{cs})`;
    - an hourly model M: :math:`G = k\,G_{cs}`, :math:`B = M(G, z, t)` and, for the models that
      give only DNI (DISC, DIRINT, DIRINDEX), :math:`D = \max(0, G - B \cos z)`.

    References
    ----------
    .. [1] Erbs D. G., Klein S. A., Duffie J. A. (1982). Solar Energy 28: 293-302.
    .. [2] Klein S. A. (1977). Calculation of monthly average insolation on tilted surfaces.
       Solar Energy 19: 325-329.
    .. [3] Driesse A., Jensen A., Perez R. (2024). A continuous form of the Perez diffuse sky
       model for forward and reverse transposition. Solar Energy 267: 112093.
    .. [4] Boland J., Ridley B., Brown B. (2008). Models of diffuse solar radiation. Renewable
       Energy 33: 575-584.
    .. [5] Maxwell E. L. (1987). A quasi-physical model for converting hourly global horizontal
       to direct normal insolation. SERI/TR-215-3087.
    .. [6] Perez R., Ineichen P., Maxwell E., Seals R., Zelenka A. (1992). Dynamic global-to-direct
       irradiance conversion models. ASHRAE Transactions 98: 354-369.
    .. [7] Perez R., et al. (2002). A new operational model for satellite-derived irradiances:
       description and validation. Solar Energy 73: 307-317.
    """
    import pvlib

    _check(decomposition, DECOMPOSITION_MODELS, "decomposition")
    if not clear_sky_index > 0:
        raise InputError(f"the clear-sky index must be positive, got {clear_sky_index}.", field="clear_sky_index",
                         fix="give all-sky / clear-sky irradiation, e.g. 0.65.")
    sky = clear_sky_year(site, year)
    k = clear_sky_index
    if decomposition == "clear_sky":
        return pd.DataFrame({"ghi": sky["ghi"] * k, "dni": sky["dni"] * k, "dhi": sky["dhi"] * k})
    cos_z = np.cos(np.radians(sky["zenith"])).clip(lower=0.0)
    if decomposition == "erbs_monthly":
        month = sky.index.month
        ghi_m = sky["ghi"].groupby(month).sum() * k
        kt = ghi_m / (sky["dni_extra"] * cos_z).groupby(month).sum()
        declination = pvlib.solarposition.declination_spencer71(_MONTH_DAYS[kt.index - 1])
        sunset = np.degrees(np.arccos(np.clip(-np.tan(np.radians(site.latitude)) * np.tan(declination), -1, 1)))
        diffuse = monthly_diffuse_fraction(kt.to_numpy(), sunset)
        scale_d = diffuse * ghi_m / sky["dhi"].groupby(month).sum()
        scale_b = (1 - diffuse) * ghi_m / (sky["dni"] * cos_z).groupby(month).sum()
        dni = sky["dni"] * scale_b.reindex(month).to_numpy()
        dhi = sky["dhi"] * scale_d.reindex(month).to_numpy()
        return pd.DataFrame({"ghi": dni * cos_z + dhi, "dni": dni, "dhi": dhi})
    ghi = sky["ghi"] * k
    irr = pvlib.irradiance
    zenith, times, pressure = sky["zenith"], sky.index, float(sky["pressure"].iloc[0])
    if decomposition in ("erbs", "erbs_driesse", "boland"):
        split = getattr(irr, decomposition)(ghi, zenith, times)
        dni, dhi = split["dni"], split["dhi"]
    else:
        if decomposition == "disc":
            dni = irr.disc(ghi, zenith, times, pressure=pressure)["dni"]
        elif decomposition == "dirint":
            dni = irr.dirint(ghi, zenith, times, pressure=pressure)
        else:
            dni = irr.dirindex(ghi, sky["ghi"], sky["dni"], zenith, times, pressure=pressure)
        dni = dni.fillna(0.0)
        dhi = (ghi - dni * cos_z).clip(lower=0.0)
    return pd.DataFrame({"ghi": ghi, "dni": dni.fillna(0.0), "dhi": dhi.fillna(0.0)})


@lru_cache(maxsize=1024)
def _poa_parts(site: Site, tilt: float, azimuth: float, clear_sky_index: float, albedo: float, year: int,
               transposition: str, decomposition: str) -> tuple[np.ndarray, ...]:
    """Hourly plane-of-array parts [W m-2]: (beam + circumsolar, the rest of the sky diffuse,
    ground-reflected), and the annual horizontal irradiation [kWh m-2]."""
    import pvlib

    _check(transposition, TRANSPOSITION_MODELS, "transposition")
    sky, irr = clear_sky_year(site, year), all_sky_year(site, clear_sky_index, decomposition, year)
    poa = pvlib.irradiance.get_total_irradiance(
        tilt, azimuth, sky["zenith"], sky["azimuth"], irr["dni"], irr["ghi"], irr["dhi"],
        dni_extra=sky["dni_extra"], airmass=sky["airmass"], model=transposition, albedo=albedo,
        diffuse_components=True)
    circumsolar = poa["poa_circumsolar"] if "poa_circumsolar" in poa else 0.0
    direct = np.nan_to_num((poa["poa_direct"] + circumsolar).to_numpy())
    rest = np.nan_to_num((poa["poa_sky_diffuse"] - circumsolar).to_numpy())
    ground = np.nan_to_num(poa["poa_ground_diffuse"].to_numpy())
    return direct, rest, ground, float(np.nansum(irr["ghi"])) / 1000.0


def _shaded_sums(site: Site, direct: np.ndarray, rest: np.ndarray, ground: np.ndarray, horizons: np.ndarray,
                 year: int) -> np.ndarray:
    """Annual plane-of-array irradiation [kWh m-2] behind each horizon angle [degrees]."""
    sky = clear_sky_year(site, year)
    azimuth, elevation = sky["azimuth"].to_numpy(), sky["elevation"].to_numpy()
    south = (azimuth > 90) & (azimuth < 270) if site.latitude >= 0 else (azimuth < 90) | (azimuth > 270)
    horizons = np.asarray(horizons, dtype=float)
    # beam and circumsolar lost behind each horizon: sum over the hours with the sun below it
    order = np.argsort(np.where(south, elevation, np.inf))
    lost = np.concatenate([[0.0], np.cumsum(direct[order])])
    n_below = np.searchsorted(np.where(south, elevation, np.inf)[order], horizons, side="left")
    beam = direct.sum() - lost[n_below]
    diffuse = rest.sum() * (1 - 0.5 * np.sin(np.radians(horizons)) ** 2)
    return (beam + diffuse + ground.sum()) / 1000.0


def plane_of_array(site: Site, tilt: float, azimuth: float, *, clear_sky_index: float, albedo: float,
                   horizon_deg: float = 0.0, year: int = 2023, transposition: str = "perez",
                   decomposition: str = "erbs_monthly") -> tuple[float, float]:
    r"""Annual all-sky irradiation on a plane and on the horizontal [kWh m-2 yr-1].

    Parameters
    ----------
    site : Site
        Where the sun is computed.
    tilt : float [degrees from horizontal]
        Plane tilt.
    azimuth : float [degrees clockwise from north]
        Direction the plane faces.
    clear_sky_index : float [-]
        All-sky / clear-sky irradiation (1 with ``decomposition="clear_sky"`` for the clear-sky
        year itself).
    albedo : float [-]
        Ground reflectance (``renewable_parameters.csv`` row ``albedo``).
    horizon_deg : float [degrees]
        Horizon elevation towards the equator: beam blocked below it.
    year : int
        The year of the hourly clear-sky series.
    transposition : str
        One of :data:`TRANSPOSITION_MODELS` (default ``"perez"``).
    decomposition : str
        One of :data:`DECOMPOSITION_MODELS` (default ``"erbs_monthly"``; :func:`all_sky_year`).

    Returns
    -------
    (poa, ghi) : (float, float) [kWh m-2 yr-1]
        Plane of array and horizontal.

    Raises
    ------
    InputError
        For an unknown transposition or decomposition model.

    Notes
    -----
    Hourly GHI, DNI and DHI from :func:`all_sky_year`, transposed by the chosen model (pvlib
    ``get_total_irradiance`` with the extraterrestrial DNI and the relative airmass), summed
    over the year. Above a horizon h, the beam and the circumsolar diffuse are lost when the sun
    is lower than h on the equator side, and the rest of the sky diffuse is scaled by

    .. math:: 1 - 	frac{1}{2} \sin^2 h

    References
    ----------
    .. [1] Holmgren W. F., Hansen C. W., Mikofski M. A. (2018). pvlib python. JOSS 3(29): 884.
    .. [2] Perez R., Ineichen P., Seals R., Michalsky J., Stewart R. (1990). Solar Energy 44: 271-289.
    .. [3] Hay J. E., Davies J. A. (1980). Proc. First Canadian Solar Radiation Data Workshop: 59-72.
    """
    direct, rest, ground, ghi = _poa_parts(site, float(tilt), float(azimuth), float(clear_sky_index),
                                           float(albedo), int(year), transposition, decomposition)
    return float(_shaded_sums(site, direct, rest, ground, np.array([horizon_deg]), year)[0]), ghi


def transposition_table(site: Site, tilt: float, azimuth: float, *, clear_sky_index: float, albedo: float,
                        year: int = 2023, transposition: str = "perez",
                        decomposition: str = "erbs_monthly") -> np.ndarray:
    """Ratio of annual plane-of-array to horizontal irradiation for each of :data:`HORIZONS_DEG`.

    Parameters
    ----------
    site : Site
        Where the sun is computed.
    tilt : float [degrees from horizontal]
        Plane tilt.
    azimuth : float [degrees clockwise from north]
        Direction the plane faces.
    clear_sky_index : float [-]
        All-sky / clear-sky irradiation.
    albedo : float [-]
        Ground reflectance.
    year : int
        The year of the hourly clear-sky series.
    transposition, decomposition : str
        As for :func:`plane_of_array`.

    Returns
    -------
    ndarray (61,) [-]
        :math:`R(h) = POA(h) / GHI` for horizons h = 0, 1, ..., 60 degrees
        (:func:`plane_of_array`); one transposition for all horizons.

    References
    ----------
    .. [1] Holmgren W. F., Hansen C. W., Mikofski M. A. (2018). pvlib python. JOSS 3(29): 884.
    """
    direct, rest, ground, ghi = _poa_parts(site, float(tilt), float(azimuth), float(clear_sky_index),
                                           float(albedo), int(year), transposition, decomposition)
    return _shaded_sums(site, direct, rest, ground, HORIZONS_DEG, year) / ghi


def optimal_tilt(site: Site, *, clear_sky_index: float, albedo: float, year: int = 2023,
                 transposition: str = "perez", decomposition: str = "erbs_monthly") -> float:
    r"""The equator-facing tilt with the most annual irradiation [whole degrees, 0-60].

    Parameters
    ----------
    site : Site
        Where the sun is computed.
    clear_sky_index : float [-]
        All-sky / clear-sky irradiation.
    albedo : float [-]
        Ground reflectance.
    year : int
        The year of the hourly clear-sky series.
    transposition, decomposition : str
        As for :func:`plane_of_array`.

    Returns
    -------
    float [degrees]

    Notes
    -----
    :math:`\beta^* = \arg\max_{\beta \in \{0, 1, \dots, 60\}} POA(\beta, A_{eq}) / GHI`, with
    :math:`A_{eq}` the azimuth facing the equator (:func:`plane_of_array`).

    References
    ----------
    .. [1] Holmgren W. F., Hansen C. W., Mikofski M. A. (2018). pvlib python. JOSS 3(29): 884.
    """
    tilts = np.arange(0, 61, 1.0)
    values = [plane_of_array(site, float(t), site.equator_azimuth, clear_sky_index=clear_sky_index, albedo=albedo,
                             year=year, transposition=transposition, decomposition=decomposition)[0] for t in tilts]
    return float(tilts[int(np.argmax(values))])


def clear_sky_index_of(site: Site, annual_ghi: float, year: int = 2023) -> float:
    """The clear-sky index of an annual GHI [kWh m-2 yr-1]: it over the clear-sky year's GHI [-]."""
    return float(annual_ghi) / (float(clear_sky_year(site, year)["ghi"].sum()) / 1000.0)


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
