"""Resource potentials on the analysis grid: ground-mounted PV, wind, geothermal.

All functions take arrays on one grid (cell size r metres) and return per-cell rasters; the
pipeline sums them per planning unit. Parameters come from ``renewable_parameters.csv``.

Ground-mounted PV
    A cell is usable when its slope is at most ``ground_max_slope_deg`` and it is not a north
    facing slope (aspect within 90 degrees of north) steeper than
    ``ground_max_north_slope_deg``. Capacity [MW] = usable area [km2] x
    ``ground_capacity_mw_per_km2``; yield [MWh/yr] = MW x GHI x R(β*) x PR, with R(β*) the
    transposition ratio at the site's optimal tilt (:mod:`.solar`).

Wind
    Hub-height speed v_h = v_ref (h_hub / h_ref)^α with α by land cover
    (``wind_shear_exponents.csv``); air density ρ = ρ0 exp(-z / H) from elevation z;
    Weibull scale c = v_h / Γ(1 + 1/k); power density [W m-2] = ½ ρ c³ Γ(1 + 3/k); capacity
    factor CF = ∫ P(v (ρ/ρ0)^(1/3)) f(v) dv / P_rated with the turbine's power curve
    (``wind_power_curve.csv``; the density correction of IEC 61400-12-1), tabulated over c.
    Capacity [MW] = usable area / (s D²) x rated MW (spacing s rotor diameters squared);
    yield = MW x CF x 8,760 h.

Shallow geothermal (ground-source heat pumps)
    Borehole fields at spacing a and depth L extract q_L [W per m] (``gshp_extraction.csv``,
    VDI 4640) during t full-load hours: heat [MWh/yr] per km2 = q_L L / a² x 10⁶ x t / 10⁶.
    With a heat pump of seasonal COP, the delivered heat is that / (1 - 1/COP).

Deep geothermal
    Gradient G [K/km] = heat flow q [mW m-2] / conductivity λ [W m-1 K-1]; temperature at
    depth z: T = T_surface + G z; classes of GB/T 11615-2010 (``geothermal_classes.csv``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import special

from carbonmap.errors import InputError

__all__ = ["ground_pv_usable", "hub_speed", "air_density", "weibull_power_density",
           "capacity_factor", "wind_capacity_mw_per_km2", "gshp_heat_mwh_per_km2", "deep_temperature",
           "geothermal_class"]


def ground_pv_usable(slope_deg: np.ndarray, aspect_deg: np.ndarray, *, max_slope: float,
                     max_north_slope: float) -> np.ndarray:
    r"""Cells where the terrain allows ground-mounted PV.

    Parameters
    ----------
    slope_deg : array (H, W) [degrees]
        Slope (:func:`carbonmap.terrain.slope_degrees`).
    aspect_deg : array (H, W) [degrees clockwise from north]
        Aspect (:func:`carbonmap.terrain.aspect_degrees`).
    max_slope : float [degrees]
        Steepest usable slope (``ground_max_slope_deg``).
    max_north_slope : float [degrees]
        Steepest usable slope facing north, aspect within 90 degrees of north
        (``ground_max_north_slope_deg``).

    Returns
    -------
    ndarray (H, W) of bool

    Notes
    -----
    usable :math:`= (s \le s_{max}) \wedge \neg(\text{north} \wedge s > s_{north})`, with north
    :math:`= A > 270 \vee A < 90`. The limits are carbonmap defaults (see
    ``renewable_parameters.csv``).

    Examples
    --------
    >>> ground_pv_usable(np.array([5.0, 10.0, 30.0]), np.array([0.0, 180.0, 180.0]), max_slope=25,
    ...                  max_north_slope=8).tolist()
    [True, True, False]
    """
    facing_north = (aspect_deg > 270) | (aspect_deg < 90)
    return (slope_deg <= max_slope) & ~(facing_north & (slope_deg > max_north_slope))


def hub_speed(speed_ref: np.ndarray, alpha: np.ndarray, *, hub_m: float, reference_m: float) -> np.ndarray:
    r"""Wind speed at hub height by the power law.

    Parameters
    ----------
    speed_ref : array [m/s]
        Wind speed at the reference height (e.g. a 100 m wind-atlas layer).
    alpha : array [-]
        Wind shear exponent, by land cover (``wind_shear_exponents.csv``).
    hub_m : float [m]
        Hub height.
    reference_m : float [m]
        Height of `speed_ref`.

    Returns
    -------
    ndarray [m/s]

    Notes
    -----
    .. math:: v_h = v_{ref} \left(\frac{h_{hub}}{h_{ref}}\right)^{\alpha}

    References
    ----------
    .. [1] Manwell J. F., McGowan J. G., Rogers A. L. (2009). Wind Energy Explained: Theory,
       Design and Application, 2nd ed. Wiley.

    Examples
    --------
    >>> float(hub_speed(7.0, 0.143, hub_m=140, reference_m=100).round(3))
    7.345
    """
    return np.asarray(speed_ref, float) * (hub_m / reference_m) ** np.asarray(alpha, float)


def air_density(elevation_m, *, sea_level: float = 1.225, scale_height_m: float = 8500.0) -> np.ndarray:
    r"""Air density at an elevation [kg m-3].

    Parameters
    ----------
    elevation_m : array [m]
        Elevation above sea level.
    sea_level : float [kg m-3]
        Density at sea level (1.225 in the standard atmosphere).
    scale_height_m : float [m]
        Barometric scale height (about 8,500 m).

    Returns
    -------
    ndarray [kg m-3]

    Notes
    -----
    .. math:: \rho = \rho_0 \, e^{-z / H}

    References
    ----------
    .. [1] ISO 2533:1975. Standard Atmosphere.
    """
    return sea_level * np.exp(-np.asarray(elevation_m, float) / scale_height_m)


def weibull_power_density(mean_speed, density, *, k: float) -> np.ndarray:
    r"""Mean wind power density under a Weibull distribution of wind speeds [W m-2].

    Parameters
    ----------
    mean_speed : array [m/s]
        Mean wind speed.
    density : array [kg m-3]
        Air density (:func:`air_density`).
    k : float [-]
        Weibull shape (2: Rayleigh).

    Returns
    -------
    ndarray [W m-2]

    Notes
    -----
    .. math::

        P/A = \tfrac{1}{2} \rho \, c^3 \, \Gamma(1 + 3/k), \qquad c = \bar v / \Gamma(1 + 1/k)

    References
    ----------
    .. [1] Manwell J. F., McGowan J. G., Rogers A. L. (2009). Wind Energy Explained: Theory,
       Design and Application, 2nd ed. Wiley.
    """
    c = np.asarray(mean_speed, float) / special.gamma(1 + 1 / k)
    return 0.5 * np.asarray(density, float) * c**3 * special.gamma(1 + 3 / k)


def capacity_factor(mean_speed, density, curve: pd.DataFrame, *, k: float, sea_level_density: float = 1.225,
                    step: float = 0.05) -> np.ndarray:
    r"""Capacity factor of a turbine under a Weibull distribution of wind speeds [-].

    Parameters
    ----------
    mean_speed : array [m/s]
        Mean wind speed at hub height.
    density : array [kg m-3]
        Air density (:func:`air_density`).
    curve : DataFrame
        The turbine's power curve: ``wind_speed_m_s`` [m/s], ``power_kw`` [kW]
        (:func:`carbonmap.coefficients.wind_power_curve`).
    k : float [-]
        Weibull shape.
    sea_level_density : float [kg m-3]
        The density the power curve is given for.
    step : float [m/s]
        Integration step of wind speed.

    Returns
    -------
    ndarray [-]
        Mean power over rated power.

    Raises
    ------
    InputError
        For a power curve that never produces power.

    Notes
    -----
    A speed v at density :math:`\rho` produces the curve's power at :math:`v (\rho/\rho_0)^{1/3}`
    (the density correction of IEC 61400-12-1), so

    .. math::

        CF = \frac{1}{P_{rated}} \int_0^\infty P\!\left(v (\rho/\rho_0)^{1/3}\right) f_{k,c}(v) \, dv

    depends on the scale :math:`c (\rho/\rho_0)^{1/3}` alone, with the Weibull density
    :math:`f_{k,c}` and :math:`c = \bar v / \Gamma(1 + 1/k)`; it is integrated (trapezoid, `step`)
    on a table of that scale and interpolated.

    References
    ----------
    .. [1] Manwell J. F., McGowan J. G., Rogers A. L. (2009). Wind Energy Explained: Theory,
       Design and Application, 2nd ed. Wiley.
    .. [2] IEC 61400-12-1. Wind energy generation systems - Part 12-1: Power performance
       measurements of electricity producing wind turbines (air-density correction).
    """
    speeds = curve["wind_speed_m_s"].to_numpy(float)
    power = curve["power_kw"].to_numpy(float)
    rated = power.max()
    if rated <= 0:
        raise InputError("the power curve never produces power.", field="power_kw", fix="check the curve.")
    v = np.arange(0, speeds.max() + 10, step)
    output = np.interp(v, speeds, power, right=0.0) / rated
    scales = np.arange(0.1, 30.0, 0.01)
    x = v[None, :] / scales[:, None]
    pdf = (k / scales[:, None]) * x ** (k - 1) * np.exp(-(x**k))
    table = np.trapezoid(pdf * output[None, :], v, axis=1)
    c = np.asarray(mean_speed, float) / special.gamma(1 + 1 / k)
    c_equivalent = c * (np.asarray(density, float) / sea_level_density) ** (1 / 3)
    return np.interp(c_equivalent, scales, table)


def wind_capacity_mw_per_km2(rated_mw: float, rotor_m: float, *, spacing_diameters_sq: float) -> float:
    r"""Installable wind capacity per km2 of land [MW/km2].

    Parameters
    ----------
    rated_mw : float [MW]
        Rated power of one turbine.
    rotor_m : float [m]
        Rotor diameter D.
    spacing_diameters_sq : float [-]
        Land per turbine in squared rotor diameters s (e.g. 5 x 7 = 35).

    Returns
    -------
    float [MW/km2]

    Notes
    -----
    .. math:: C = \frac{P_{rated}}{s \, D^2 / 10^6}

    References
    ----------
    .. [1] Manwell J. F., McGowan J. G., Rogers A. L. (2009). Wind Energy Explained: Theory,
       Design and Application, 2nd ed. Wiley.

    Examples
    --------
    >>> round(wind_capacity_mw_per_km2(4.5, 160, spacing_diameters_sq=35), 3)
    5.022
    """
    return rated_mw / (spacing_diameters_sq * rotor_m**2 / 1e6)


def gshp_heat_mwh_per_km2(w_per_m: float, *, depth_m: float, spacing_m: float, full_load_hours: float,
                          cop: float | None = None) -> float:
    r"""Heat from borehole fields per km2 of land [MWh/yr per km2].

    Parameters
    ----------
    w_per_m : float [W/m]
        Specific heat extraction per metre of borehole, by ground type
        (:func:`carbonmap.coefficients.gshp_extraction`, VDI 4640).
    depth_m : float [m]
        Borehole depth L.
    spacing_m : float [m]
        Distance between boreholes a (one borehole per :math:`a^2`).
    full_load_hours : float [h/yr]
        Full-load hours of heat extraction t.
    cop : float [-], optional
        Seasonal coefficient of performance of the heat pumps; with it, the heat delivered
        (ground heat plus compressor work).

    Returns
    -------
    float [MWh/yr per km2]

    Notes
    -----
    .. math::

        Q_{ground} = \frac{q_L \, L}{a^2} \, 10^6 \, \frac{t}{10^6}, \qquad
        Q_{delivered} = \frac{Q_{ground}}{1 - 1/COP}

    References
    ----------
    .. [1] VDI 4640 Part 2 (2001). Thermal use of the underground: ground source heat pump
       systems, Table 2 (specific heat extraction).
    """
    ground = w_per_m * depth_m / spacing_m**2 * 1e6 * full_load_hours / 1e6  # W/m2 x m2/km2 x h -> MWh
    return ground / (1 - 1 / cop) if cop else ground


def deep_temperature(heat_flow_mw_m2, *, conductivity: float, surface_c: float, depth_m: float) -> np.ndarray:
    r"""Rock temperature at depth from surface heat flow [degC].

    Parameters
    ----------
    heat_flow_mw_m2 : array [mW m-2]
        Surface heat flow q.
    conductivity : float [W m-1 K-1]
        Rock thermal conductivity :math:`\lambda`.
    surface_c : float [degC]
        Mean annual ground-surface temperature.
    depth_m : float [m]
        Depth z.

    Returns
    -------
    ndarray [degC]

    Notes
    -----
    .. math:: T = T_s + \frac{q}{\lambda} z

    with a constant gradient (no radiogenic heat); the temperature is classed by
    :func:`geothermal_class` (GB/T 11615-2010).

    References
    ----------
    .. [1] Pollack H. N., Hurter S. J., Johnson J. R. (1993). Heat flow from the Earth's interior:
       analysis of the global data set. Reviews of Geophysics 31(3): 267-280.
    .. [2] GB/T 11615-2010. Geological exploration standard of geothermal resources
       (temperature classes).

    Examples
    --------
    >>> float(deep_temperature(60.0, conductivity=2.5, surface_c=15.0, depth_m=3000.0))
    87.0
    """
    gradient_k_per_m = np.asarray(heat_flow_mw_m2, float) / 1000 / conductivity
    return surface_c + gradient_k_per_m * depth_m


def geothermal_class(temperature_c, classes: pd.DataFrame) -> np.ndarray:
    """Index into `classes` (:func:`carbonmap.coefficients.geothermal_classes`) of each
    temperature; -1 below the lowest class or where NaN."""
    bounds = classes["min_temperature_c"].to_numpy(float)
    t = np.asarray(temperature_c, float)
    index = np.searchsorted(bounds, t, side="right") - 1
    return np.where(np.isfinite(t), index, -1)
