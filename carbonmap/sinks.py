"""Carbon sinks from rasters: vegetation NEP, light-use-efficiency NPP, blue-carbon disturbance.

Pure functions on arrays (numpy broadcasting; masked arrays keep their masks). Units are in
the names: g C m-2 for fluxes of the carbon-cycle literature, t CO2 ha-1 for the planning map
(:func:`g_c_m2_to_t_co2_ha`: x 0.01 x 44/12).

Net ecosystem productivity (the vegetation sink)
------------------------------------------------
.. math:: NEP = NPP - R_h

with soil heterotrophic respiration :math:`R_h` from the regression of Pei et al. (2009),
widely used for Chinese ecosystems, for month :math:`m` with mean air temperature :math:`T_m`
[degC] and precipitation :math:`P_m` [mm]:

.. math:: R_{h,m} = 0.22 \\left[e^{0.0912 T_m} + \\ln(0.3145 P_m + 1)\\right] \\times 30 \\times 46.5\\%
          \\quad [\\mathrm{g\\,C\\,m^{-2}\\,month^{-1}}]

(:func:`heterotrophic_respiration_pei2009`). With annual climate only,
:func:`annual_rh_from_annual_climate` applies it to a mean month (T, P/12) twelve times, which
underestimates :math:`R_h` where temperature varies much over the year (the exponential is
convex); give monthly rasters where you have them.

CASA (light-use efficiency) NPP
-------------------------------
Potter et al. (1993), as commonly parameterised for China (Zhu et al. 2006):

.. math::

    NPP = \\sum_m APAR_m \\, \\varepsilon_{max} \\, T_{\\varepsilon 1} \\, T_{\\varepsilon 2,m}
          \\, W_{\\varepsilon,m}

with :math:`APAR_m = 0.5 \\, SOL_m \\, FPAR_m`, FPAR linear in NDVI between
:math:`NDVI_{min}` (FPAR 0.001) and :math:`NDVI_{max}` (FPAR 0.95);
:math:`T_{\\varepsilon 1} = 0.8 + 0.02 T_{opt} - 0.0005 T_{opt}^2` (0 below -10 degC);
:math:`T_{\\varepsilon 2} = 1.1814 / [(1 + e^{0.2 (T_{opt} - 10 - T)}) (1 + e^{0.3 (-T_{opt} - 10 + T)})]`,
:math:`T_{opt}` the temperature of the month of highest NDVI; and water stress
:math:`W_\\varepsilon = 0.5 + 0.5 \\, EET / PET` with Thornthwaite's PET and
:math:`EET = \\min(P, PET)` (a documented simplification of CASA's soil-water bucket).

Blue carbon disturbance
-----------------------
When a wetland is converted, a fraction of each pool's stock is disturbed and emitted with a
half-life, as in InVEST Coastal Blue Carbon: the emission in year :math:`t` after the event is

.. math:: E_t = S \\, f \\left(2^{-t/h} - 2^{-(t+1)/h}\\right)

for stock :math:`S`, disturbed fraction :math:`f` and half-life :math:`h` [yr]
(:func:`disturbance_emissions`); summed over all years it is :math:`S f`.

References
----------
.. [1] Pei Z., Ouyang H., Zhou C., Xu X. (2009). Carbon balance in an alpine steppe in the
   Qinghai-Tibet Plateau. Journal of Integrative Plant Biology 51(5): 521-526.
.. [2] Potter C. S., et al. (1993). Terrestrial ecosystem production: a process model based on
   global satellite and surface data. Global Biogeochemical Cycles 7(4): 811-841.
.. [3] Zhu W., Pan Y., He H., Yu D., Hu H. (2006). Simulation of maximum light use efficiency for
   some typical vegetation types in China. Chinese Science Bulletin 51(4): 457-463.
.. [4] Thornthwaite C. W. (1948). An approach toward a rational classification of climate.
   Geographical Review 38(1): 55-94.
.. [5] Sharp R., et al. (2024). InVEST User's Guide: Coastal Blue Carbon. Natural Capital Project.
"""

from __future__ import annotations

import numpy as np

from carbonmap.coefficients import CO2_PER_C
from carbonmap.errors import InputError, UnknownCodeError

__all__ = [
    "g_c_m2_to_t_co2_ha",
    "heterotrophic_respiration_pei2009",
    "annual_rh_from_annual_climate",
    "nep",
    "thornthwaite_pet",
    "casa_npp",
    "disturbance_emissions",
    "coefficient_raster",
    "IMPACT_OF_CONVERSION",
    "wetland_conversion_emissions",
    "NEP_SINK_CATEGORIES",
    "vegetation_nep_sink",
]


def g_c_m2_to_t_co2_ha(flux):
    """Convert g C m-2 to t CO2 ha-1 (x 10^4 m2/ha x 10^-6 t/g x 44/12)."""
    return flux * 1e-2 * CO2_PER_C


def heterotrophic_respiration_pei2009(temperature_c, precipitation_mm):
    """Monthly soil heterotrophic respiration [g C m-2 month-1] (Pei et al. 2009).

    Parameters
    ----------
    temperature_c : array_like [degC], the month's mean air temperature
    precipitation_mm : array_like [mm], the month's precipitation (>= 0)

    Examples
    --------
    >>> round(float(heterotrophic_respiration_pei2009(0.0, 0.0)), 4)  # 0.22 x (1 + 0) x 30 x 0.465
    3.069
    """
    p = np.asarray(precipitation_mm, dtype=float)
    if np.nanmin(p) < 0:
        raise InputError("precipitation must be >= 0 mm.", fix="check the precipitation raster's units.")
    t = np.asarray(temperature_c, dtype=float)
    return 0.22 * (np.exp(0.0912 * t) + np.log(0.3145 * p + 1.0)) * 30.0 * 0.465


def annual_rh_from_annual_climate(mean_temperature_c, annual_precipitation_mm):
    """Annual Rh [g C m-2 yr-1] from annual climate: 12 x Rh of the mean month (T, P/12)."""
    return 12.0 * heterotrophic_respiration_pei2009(mean_temperature_c, np.asarray(annual_precipitation_mm) / 12.0)


def nep(npp_g_c_m2, rh_g_c_m2):
    """Net ecosystem productivity = NPP - Rh [same units]; positive is a sink. Masks are kept."""
    return np.asanyarray(npp_g_c_m2) - np.asanyarray(rh_g_c_m2)


def thornthwaite_pet(monthly_temperature_c: np.ndarray, *, day_length_factor=None) -> np.ndarray:
    """Thornthwaite potential evapotranspiration [mm month-1].

    Parameters
    ----------
    monthly_temperature_c : array (12, ...) [degC]
    day_length_factor : array (12, ...) or None
        Correction for day length and days in month (1 = 12-hour days, 30-day months).

    Notes
    -----
    :math:`PET_m = 16 (10 T_m / I)^a` for :math:`T_m > 0`, else 0, with heat index
    :math:`I = \\sum_m (T_m/5)^{1.514}` over months above 0 degC and
    :math:`a = 6.75\\times10^{-7} I^3 - 7.71\\times10^{-5} I^2 + 1.792\\times10^{-2} I + 0.49239`.
    """
    t = np.asarray(monthly_temperature_c, dtype=float)
    if t.shape[0] != 12:
        raise InputError(f"expected 12 monthly temperatures, got {t.shape[0]}.", fix="give one band per month.")
    warm = np.clip(t, 0, None)
    heat = np.sum((warm / 5.0) ** 1.514, axis=0)
    a = 6.75e-7 * heat**3 - 7.71e-5 * heat**2 + 1.792e-2 * heat + 0.49239
    with np.errstate(divide="ignore", invalid="ignore"):
        pet = np.where(t > 0, 16.0 * (10.0 * warm / np.where(heat > 0, heat, 1.0)) ** a, 0.0)
    if day_length_factor is not None:
        pet = pet * np.asarray(day_length_factor, dtype=float)
    return pet


def casa_npp(ndvi, solar_mj_m2, temperature_c, precipitation_mm, *, epsilon_max=0.389,
             ndvi_min=0.023, ndvi_max=0.634, fpar_min=0.001, fpar_max=0.95) -> np.ndarray:
    r"""Annual NPP by the CASA light-use-efficiency model [g C m-2 yr-1].

    Parameters
    ----------
    ndvi : array (12, ...) [-]
        Monthly NDVI.
    solar_mj_m2 : array (12, ...) [MJ m-2 month-1]
        Monthly total solar radiation.
    temperature_c : array (12, ...) [degC]
        Monthly mean air temperature.
    precipitation_mm : array (12, ...) [mm month-1]
        Monthly precipitation.
    epsilon_max : float or array (...) [g C MJ-1]
        Maximum light-use efficiency: 0.389 globally (Potter et al. 1993); per vegetation
        type for China in Zhu et al. (2006), e.g. evergreen broadleaf forest 0.985,
        deciduous broadleaf 0.692, cropland 0.542, grassland 0.542, shrub 0.429.
    ndvi_min, ndvi_max : float [-]
        NDVI at which FPAR is `fpar_min` and `fpar_max`.
    fpar_min, fpar_max : float [-]
        The bounds of FPAR.

    Returns
    -------
    ndarray (...) [g C m-2 yr-1]

    Raises
    ------
    InputError
        When the four inputs are not 12 monthly bands of one shape.

    Notes
    -----
    .. math::

        NPP = \sum_m 0.5 \, SOL_m \, FPAR_m \; \varepsilon_{max} \, T_{\varepsilon 1} \,
              T_{\varepsilon 2,m} \, W_{\varepsilon,m}

    FPAR is linear in NDVI between (`ndvi_min`, `fpar_min`) and (`ndvi_max`, `fpar_max`), clipped
    to those bounds; :math:`T_{\varepsilon 1} = 0.8 + 0.02 T_{opt} - 0.0005 T_{opt}^2` (0 below
    -10 degC); :math:`T_{\varepsilon 2} = 1.1814 / [(1 + e^{0.2 (T_{opt} - 10 - T)})
    (1 + e^{0.3 (-T_{opt} - 10 + T)})]`, with :math:`T_{opt}` the temperature of the month of
    highest NDVI; :math:`W_\varepsilon = 0.5 + 0.5 \, EET / PET` with Thornthwaite's PET
    (:func:`thornthwaite_pet`) and :math:`EET = \min(P, PET)`, a documented simplification of
    CASA's soil-water bucket.

    References
    ----------
    .. [1] Potter C. S., et al. (1993). Terrestrial ecosystem production: a process model based on
       global satellite and surface data. Global Biogeochemical Cycles 7(4): 811-841.
    .. [2] Zhu W., Pan Y., He H., Yu D., Hu H. (2006). Simulation of maximum light use efficiency for
       some typical vegetation types in China. Chinese Science Bulletin 51(4): 457-463.
    .. [3] Thornthwaite C. W. (1948). An approach toward a rational classification of climate.
       Geographical Review 38(1): 55-94.
    """
    ndvi, sol, t, p = (np.asarray(a, dtype=float) for a in (ndvi, solar_mj_m2, temperature_c, precipitation_mm))
    if not ndvi.shape == sol.shape == t.shape == p.shape or ndvi.shape[0] != 12:
        raise InputError("CASA needs 12 monthly bands of NDVI, solar radiation, temperature and precipitation "
                         "on the same grid.", fix="align the rasters and give one band per month.")
    fpar = (ndvi - ndvi_min) / (ndvi_max - ndvi_min) * (fpar_max - fpar_min) + fpar_min
    fpar = np.clip(fpar, fpar_min, fpar_max)
    apar = 0.5 * sol * fpar
    month_of_peak = np.argmax(ndvi, axis=0)
    t_opt = np.take_along_axis(t, month_of_peak[np.newaxis], axis=0)[0]
    t_eps1 = np.where(t_opt <= -10, 0.0, 0.8 + 0.02 * t_opt - 0.0005 * t_opt**2)
    t_eps2 = 1.1814 / ((1 + np.exp(0.2 * (t_opt - 10 - t))) * (1 + np.exp(0.3 * (-t_opt - 10 + t))))
    pet = thornthwaite_pet(t)
    eet = np.minimum(p, pet)
    with np.errstate(divide="ignore", invalid="ignore"):
        w_eps = np.where(pet > 0, 0.5 + 0.5 * eet / np.where(pet > 0, pet, 1.0), 0.5)
    return np.sum(apar * epsilon_max * t_eps1 * t_eps2 * w_eps, axis=0)


def disturbance_emissions(stock_t_c, disturbed_fraction, half_life_yr, *, years: int) -> np.ndarray:
    r"""Annual CO2 emitted after a disturbance of a carbon pool [t CO2/yr], for years 0 .. years-1.

    Parameters
    ----------
    stock_t_c : float or array (...) [t C]
        The pool's stock at disturbance.
    disturbed_fraction : float [-]
        Share of the stock disturbed, in [0, 1].
    half_life_yr : float [yr]
        Half-life of the disturbed carbon, > 0.
    years : int [yr]
        How many years to report.

    Returns
    -------
    ndarray (years, ...) [t CO2/yr]
        Its sum over all years tends to stock x fraction x 44/12.

    Raises
    ------
    InputError
        For a fraction outside [0, 1] or a half-life that is not positive.

    Notes
    -----
    The emission in year t after the event, for stock S, disturbed fraction f and half-life h:

    .. math:: E_t = \tfrac{44}{12} \, S \, f \left(2^{-t/h} - 2^{-(t+1)/h}\right)

    References
    ----------
    .. [1] Sharp R., et al. (2024). InVEST User's Guide: Coastal Blue Carbon. Natural Capital Project.
    .. [2] Pendleton L., et al. (2012). Estimating global 'blue carbon' emissions from conversion and
       degradation of vegetated coastal ecosystems. PLoS ONE 7(9): e43542.

    Examples
    --------
    >>> disturbance_emissions(12.0, 0.5, 1.0, years=3).round(3).tolist()  # 6 t C disturbed, halving yearly
    [11.0, 5.5, 2.75]
    """
    if not 0 <= disturbed_fraction <= 1:
        raise InputError("the disturbed fraction must be between 0 and 1.", fix="e.g. 0.5 for a medium impact.")
    if half_life_yr <= 0:
        raise InputError("half-lives must be positive.", fix="give a half-life in years.")
    t = np.arange(years, dtype=float).reshape((years,) + (1,) * np.ndim(stock_t_c))
    released = 2.0 ** (-t / half_life_yr) - 2.0 ** (-(t + 1) / half_life_yr)
    return np.asarray(stock_t_c, dtype=float) * disturbed_fraction * released * CO2_PER_C


def coefficient_raster(classes: np.ma.MaskedArray, system: str, coefficients, *, flux: str = "removal"
                       ) -> np.ma.MaskedArray:
    """Per-class coefficients as a raster [t CO2/ha/yr]: the coefficient method cell by cell.

    Parameters
    ----------
    classes : masked array (H, W) of int
        Land-cover codes of `system` (masked = nodata).
    system : str
        Their code system (:data:`carbonmap.landuse.CODE_SYSTEMS`).
    coefficients : DataFrame
        :func:`carbonmap.coefficients.landuse_coefficients` (category rows are used).
    flux : {'removal', 'emission'}
        Which coefficients to map.

    Returns
    -------
    masked array (H, W) [t CO2/ha/yr]
        The category's coefficient where its flux is `flux`; 0 for the other flux and for
        built-up land; nodata stays masked.
    """
    from carbonmap.landuse import classify_raster

    index, legend = classify_raster(classes, system, column="carbon_category")
    rows = coefficients[(coefficients["code"].fillna("") == "")].drop_duplicates("carbon_category", keep="last")
    rates = rows.set_index("carbon_category")
    lut = np.array([float(rates.at[c, "co2_t_ha_yr"]) if c in rates.index and rates.at[c, "flux"] == flux
                    else 0.0 for c in legend] + [0.0])
    return np.ma.MaskedArray(lut[index], mask=index < 0)


#: Impact level of a wetland's conversion, by what it becomes (anything else: "low").
IMPACT_OF_CONVERSION = {"built": "high", "cropland": "medium", "orchard": "medium", "water": "medium",
                        "barren": "high"}


def wetland_conversion_emissions(before: np.ma.MaskedArray, after: np.ma.MaskedArray, system: str, pools,
                                 disturbance, *, cell_ha: float, years: int = 30):
    r"""CO2 released year by year from wetland cells converted between two land covers.

    Parameters
    ----------
    before, after : masked array (H, W) of int
        Land-cover codes on one grid, before and after.
    system : str
        Code system of both (to find wetlands and what they became).
    pools : DataFrame
        Pool table (:func:`carbonmap.stocks.read_pools`) [t C/ha]: biomass = c_above + c_below
        + c_dead, soil = c_soil of the code *before* conversion.
    disturbance : DataFrame
        :func:`carbonmap.coefficients.blue_carbon_disturbance`: half-life [yr] and disturbed
        fraction [-] by wetland category, pool and impact.
    cell_ha : float [ha]
        Cell area.
    years : int [yr]
        How many years after the conversion to report.

    Returns
    -------
    DataFrame
        ``year_after`` (0 = the year of conversion), ``biomass_co2_t``, ``soil_co2_t``,
        ``total_co2_t`` [t CO2 in that year]; plus attributes (``result.attrs``) ``converted_ha``
        (all converted wetland) and ``not_covered_ha``: {category: ha} converted from wetland
        categories the disturbance table has no parameters for (e.g. peatland, whose drainage
        emissions are annual rates, not a half-life decay); they are not in the totals.

    Raises
    ------
    UnknownCodeError
        If a converted cell's code is not in the pool table.

    Notes
    -----
    A converted cell's impact is "high" when it becomes built-up or barren, "medium" for
    cropland, orchards and ponds or other water, "low" otherwise
    (:data:`IMPACT_OF_CONVERSION`). Each pool p of the converted cells releases, in year t,

    .. math:: E_{p,t} = \tfrac{44}{12} \, a \sum_{cells} C_p \, f_{p,i} \left(2^{-t/h_p} - 2^{-(t+1)/h_p}\right)

    with cell area a, density :math:`C_p` [t C/ha], the disturbed fraction :math:`f_{p,i}` of
    the cell's impact i and the pool's half-life :math:`h_p` (:func:`disturbance_emissions`).

    References
    ----------
    .. [1] Pendleton L., et al. (2012). Estimating global 'blue carbon' emissions from conversion and
       degradation of vegetated coastal ecosystems. PLoS ONE 7(9): e43542.
    .. [2] Sharp R., et al. (2024). InVEST User's Guide: Coastal Blue Carbon. Natural Capital Project.
    """
    import pandas as pd

    from carbonmap.landuse import classify_raster

    idx0, legend0 = classify_raster(before, system, column="carbon_category")
    idx1, legend1 = classify_raster(after, system, column="carbon_category")
    # wetland or not by category, looked up per cell (a byte a cell, not the category's name)
    wet0 = np.array([c.startswith("wetland") for c in legend0] + [False])[idx0]
    wet1 = np.array([c.startswith("wetland") for c in legend1] + [False])[idx1]
    converted = wet0 & ~wet1 & (idx1 != len(legend1))  # the last index is nodata
    del wet0, wet1
    cat0 = np.array(legend0 + ["nodata"], dtype=object)[idx0[converted]]  # of the converted cells only
    cat1 = np.array(legend1 + ["nodata"], dtype=object)[idx1[converted]]
    result = pd.DataFrame({"year_after": np.arange(years), "biomass_co2_t": 0.0, "soil_co2_t": 0.0})
    params = disturbance.set_index(["wetland_category", "pool"])
    lucodes = pools["lucode"].to_numpy()
    codes = np.ma.getdata(before)[converted]
    position = np.minimum(np.searchsorted(lucodes, codes), len(lucodes) - 1)
    missing = np.unique(codes[lucodes[position] != codes])
    if missing.size:
        raise UnknownCodeError(f"land-cover code(s) {', '.join(map(str, missing))} of converted wetland are not "
                               "in the pool table.", field="lucode", fix="add a row for each to the pool table.")
    density = {"biomass": pools[["c_above", "c_below", "c_dead"]].sum(axis=1).to_numpy()[position],
               "soil": pools["c_soil"].to_numpy()[position]}  # t C/ha of each converted cell
    targets = cat1
    impact_of = {t: IMPACT_OF_CONVERSION.get("built" if t.startswith("built") else t, "low") for t in set(targets)}
    impacts = np.array([impact_of[t] for t in targets]) if targets.size else np.empty(0, dtype=object)
    not_covered = {}
    for category in np.unique(cat0):
        sel = cat0 == category
        if category not in params.index.get_level_values("wetland_category"):
            not_covered[str(category)] = float(sel.sum() * cell_ha)
            continue
        for impact in np.unique(impacts[sel]):
            cells = sel & (impacts == impact)
            stock = {pool: float(values[cells].sum()) for pool, values in density.items()}
            for pool in ("biomass", "soil"):
                row = params.loc[(category, pool)]
                released = disturbance_emissions(stock[pool] * cell_ha, row[impact], row["half_life_yr"], years=years)
                result[f"{pool}_co2_t"] += released
    result["total_co2_t"] = result["biomass_co2_t"] + result["soil_co2_t"]
    result.attrs["converted_ha"] = float(converted.sum() * cell_ha)
    result.attrs["not_covered_ha"] = not_covered
    return result


#: Carbon categories whose NEP counts as a sink: perennial vegetation. Cropland is left out
#: (harvest returns its carbon within the year), wetlands take blue-carbon rates instead.
NEP_SINK_CATEGORIES = ("forest", "shrub", "grassland", "orchard", "green_space")


def vegetation_nep_sink(npp_g_c_m2: np.ma.MaskedArray, mean_temperature_c: np.ma.MaskedArray,
                        annual_precipitation_mm: np.ma.MaskedArray, landcover: np.ma.MaskedArray, system: str
                        ) -> np.ma.MaskedArray:
    r"""The vegetation sink per cell [t CO2/ha/yr]: NEP on perennial vegetation, masked elsewhere.

    Parameters
    ----------
    npp_g_c_m2 : masked array (H, W) [g C m-2 yr-1]
        Annual net primary production.
    mean_temperature_c : masked array (H, W) [degC]
        Annual mean air temperature.
    annual_precipitation_mm : masked array (H, W) [mm/yr]
        Annual precipitation.
    landcover : masked array (H, W) of int
        Land-cover codes of `system`; only :data:`NEP_SINK_CATEGORIES` count.
    system : str
        The land cover's code system.

    Returns
    -------
    masked array (H, W) [t CO2/ha/yr]
        Positive where vegetation is a sink; masked where any input is nodata or the land is not
        perennial vegetation. Summed per planning unit, it is the run's summary column
        ``sink_vegetation_co2_t_yr`` (with ``[sinks] method = "coefficient"`` that column holds the
        per-class coefficient removals of :func:`carbonmap.emissions.coefficient_fluxes` instead).

    Notes
    -----
    .. math::

        NEP = NPP - R_h, \qquad
        R_h = 12 \times 0.22 \left[e^{0.0912 T} + \ln(0.3145 P / 12 + 1)\right] \times 30 \times 0.465

    the regression of Pei et al. (2009) for a mean month (:func:`annual_rh_from_annual_climate`,
    which underestimates :math:`R_h` where temperature varies much over the year), converted with
    :func:`g_c_m2_to_t_co2_ha` (x 0.01 x 44/12).

    References
    ----------
    .. [1] Pei Z., Ouyang H., Zhou C., Xu X. (2009). Carbon balance in an alpine steppe in the
       Qinghai-Tibet Plateau. Journal of Integrative Plant Biology 51(5): 521-526.
    """
    from carbonmap.landuse import classify_raster

    index, legend = classify_raster(landcover, system, column="carbon_category")
    vegetated = np.isin(index, [i for i, category in enumerate(legend) if category in NEP_SINK_CATEGORIES])
    density = g_c_m2_to_t_co2_ha(nep(npp_g_c_m2, annual_rh_from_annual_climate(mean_temperature_c,
                                                                                annual_precipitation_mm)))
    return np.ma.MaskedArray(np.ma.getdata(density), mask=np.ma.getmaskarray(density) | ~vegetated)
