"""Carbon of a planted stand over time, from a Chapman-Richards growth curve.

Above-ground biomass at age t [t d.m./ha] follows Chapman-Richards (Richards 1959):

.. math::

    B(t) = B_{max} \\left(1 - e^{-k t}\\right)^{p}

Roots add R B(t) (root:shoot ratio R), and carbon is the fraction CF of dry matter, so the
stand's biomass carbon and the CO2 it has taken up by age t are

.. math::

    C(t) = B(t) (1 + R) \\, CF \\quad [t\\,C/ha], \\qquad
    CO_2(t) = \\tfrac{44}{12} C(t) \\quad [t\\,CO_2/ha]

Parameters by vegetation type come from ``afforestation_growth.csv`` (IPCC 2006 Vol. 4 Tables
4.3, 4.4, 4.7 for the maximum, the ratio and the fraction; k and p are defaults to fit to
local yield tables). Only living biomass is counted: dead wood, litter and soil carbon gains
are left out, so the values are conservative.

References
----------
.. [1] Richards F. J. (1959). A flexible growth function for empirical use. Journal of
   Experimental Botany 10: 290-300.
.. [2] IPCC (2006). Guidelines for National Greenhouse Gas Inventories, Vol. 4, Chapter 4.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from carbonmap.coefficients import CO2_PER_C
from carbonmap.errors import InputError

__all__ = ["stand_carbon_t_c_ha", "sequestration_t_co2_ha"]


def stand_carbon_t_c_ha(age_yr, parameters: pd.Series) -> np.ndarray:
    """Living-biomass carbon C(t) [t C/ha] of a stand at `age_yr` (module docstring).

    `parameters`: a row of :func:`carbonmap.coefficients.afforestation_growth`.
    """
    age = np.asarray(age_yr, dtype=float)
    if (age < 0).any():
        raise InputError("stand ages must be >= 0 years.", fix="count years since planting.")
    b = parameters["agb_max_t_dm_ha"] * (1 - np.exp(-parameters["k_per_yr"] * age)) ** parameters["p"]
    return b * (1 + parameters["root_shoot"]) * parameters["carbon_fraction"]


def sequestration_t_co2_ha(vegetation, years: float, growth: pd.DataFrame) -> np.ndarray:
    r"""CO2 taken up per hectare in the first `years` after planting, by vegetation type [t CO2/ha].

    Parameters
    ----------
    vegetation : str or array of str (n,)
        Vegetation types (rows of `growth`).
    years : float [yr]
        Horizon since planting.
    growth : DataFrame
        Growth parameters by vegetation type
        (:func:`carbonmap.coefficients.afforestation_growth`).

    Returns
    -------
    ndarray (n,) [t CO2/ha]

    Raises
    ------
    InputError
        For vegetation types without growth parameters.

    Notes
    -----
    .. math::

        CO_2(T) = \tfrac{44}{12} \, B_{max} \left(1 - e^{-k T}\right)^{p} (1 + R) \, CF

    living biomass only (:func:`stand_carbon_t_c_ha`, Chapman-Richards growth).

    References
    ----------
    .. [1] Richards F. J. (1959). A flexible growth function for empirical use. Journal of
       Experimental Botany 10: 290-300.
    .. [2] IPCC (2006). Guidelines for National Greenhouse Gas Inventories, Vol. 4, Chapter 4,
       Tables 4.3, 4.4 and 4.7.
    """
    kinds = np.atleast_1d(np.asarray(vegetation, dtype=object))
    unknown = sorted(set(kinds) - set(growth.index))
    if unknown:
        raise InputError(f"no growth parameters for {', '.join(map(str, unknown))}.", field="vegetation_type",
                         fix=f"use one of {', '.join(growth.index)}, or add rows to afforestation_growth.")
    per_type = {kind: float(CO2_PER_C * stand_carbon_t_c_ha(years, growth.loc[kind])) for kind in set(kinds)}
    return np.array([per_type[k] for k in kinds])
