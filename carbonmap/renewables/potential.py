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
    """Cells where the terrain allows ground-mounted PV (module docstring)."""
    facing_north = (aspect_deg > 270) | (aspect_deg < 90)
    return (slope_deg <= max_slope) & ~(facing_north & (slope_deg > max_north_slope))


def hub_speed(speed_ref: np.ndarray, alpha: np.ndarray, *, hub_m: float, reference_m: float) -> np.ndarray:
    """Wind speed at hub height by the power law v_h = v_ref (h_hub / h_ref)^α."""
    return np.asarray(speed_ref, float) * (hub_m / reference_m) ** np.asarray(alpha, float)


def air_density(elevation_m, *, sea_level: float = 1.225, scale_height_m: float = 8500.0) -> np.ndarray:
    """Air density [kg m-3] at an elevation: ρ0 exp(-z / H)."""
    return sea_level * np.exp(-np.asarray(elevation_m, float) / scale_height_m)


def weibull_power_density(mean_speed, density, *, k: float) -> np.ndarray:
    """Mean wind power density [W m-2] = ½ ρ c³ Γ(1 + 3/k), c = v̄ / Γ(1 + 1/k)."""
    c = np.asarray(mean_speed, float) / special.gamma(1 + 1 / k)
    return 0.5 * np.asarray(density, float) * c**3 * special.gamma(1 + 3 / k)


def capacity_factor(mean_speed, density, curve: pd.DataFrame, *, k: float, sea_level_density: float = 1.225,
                    step: float = 0.05) -> np.ndarray:
    """Capacity factor of a turbine (power curve `curve`: wind_speed_m_s, power_kw) under a
    Weibull distribution of shape k and mean `mean_speed`, with the density correction.

    A speed v at density ρ produces the curve's power at v (ρ/ρ0)^(1/3), so the result depends
    on the scale c (ρ/ρ0)^(1/3) alone: it is integrated (trapezoid, `step` m/s) on a table of
    that scale and interpolated.
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


def wind_capacity_mw_per_km2(rated_mw: float, rotor_m: float, spacing_diameters_sq: float) -> float:
    """Installable wind capacity per km2: rated MW over the land each turbine needs (s D²)."""
    return rated_mw / (spacing_diameters_sq * rotor_m**2 / 1e6)


def gshp_heat_mwh_per_km2(w_per_m: float, *, depth_m: float, spacing_m: float, full_load_hours: float,
                          cop: float | None = None) -> float:
    """Heat [MWh/yr per km2 of land] from borehole fields (module docstring); with `cop`, the
    heat delivered by the heat pumps (ground heat plus compressor work)."""
    ground = w_per_m * depth_m / spacing_m**2 * 1e6 * full_load_hours / 1e6  # W/m2 x m2/km2 x h -> MWh
    return ground / (1 - 1 / cop) if cop else ground


def deep_temperature(heat_flow_mw_m2, *, conductivity: float, surface_c: float, depth_m: float) -> np.ndarray:
    """Rock temperature [degC] at depth from surface heat flow: T_s + (q / λ) z."""
    gradient_k_per_m = np.asarray(heat_flow_mw_m2, float) / 1000 / conductivity
    return surface_c + gradient_k_per_m * depth_m


def geothermal_class(temperature_c, classes: pd.DataFrame) -> np.ndarray:
    """Index into `classes` (:func:`carbonmap.coefficients.geothermal_classes`) of each
    temperature; -1 below the lowest class or where NaN."""
    bounds = classes["min_temperature_c"].to_numpy(float)
    t = np.asarray(temperature_c, float)
    index = np.searchsorted(bounds, t, side="right") - 1
    return np.where(np.isfinite(t), index, -1)
