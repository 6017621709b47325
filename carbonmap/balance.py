"""The per-unit carbon balance: sources, sinks, net, and the indicators planners grade by.

For each planning unit (all in t CO2/yr unless stated):

- sources by sector and in total, :math:`S`; sinks :math:`K`; net :math:`N = S - K`;
- the sink-to-source ratio :math:`K / S` (the carbon compensation rate of Chinese
  land-use studies) and a class from :func:`carbonmap.coefficients.balance_classes` --
  carbon deficit, balanced, carbon surplus -- by that ratio;
- emissions per person [t CO2/person/yr] and per unit of output [t CO2 per 10^4 CNY], when
  population and GDP are known;
- an energy-carbon index: the unit's emissions per output divided by the city's (all units
  together), graded into the bands of :func:`carbonmap.coefficients.efficiency_bands`, like
  an enterprise "carbon efficiency code" (碳效码) applied to districts.

References
----------
.. [1] Huzhou Municipal Development and Reform Commission (2021). Industrial enterprise
   carbon efficiency code (工业企业碳效码): grading by emissions per output against the
   industry average.
.. [2] Zhao R., Zhang Z., Ding M., et al. (2015). Regional carbon compensation zoning based on
   carbon budget: sink-to-source ratios of land use. Journal of Natural Resources 30(10).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from carbonmap.coefficients import balance_classes, efficiency_bands

__all__ = ["unit_balance", "GDP_UNITS", "gdp_cny_1e4"]

#: 10^4 CNY per unit of the GDP units carbonmap knows ([units] gdp_unit).
GDP_UNITS = {"cny_1e8": 1e4, "cny_1e4": 1.0, "cny": 1e-4}


def gdp_cny_1e4(gdp: pd.Series, unit: str) -> pd.Series:
    """GDP in 10^4 CNY (万元), the unit of the intensity per output, from GDP in `unit` (a key of
    :data:`GDP_UNITS`: 亿元 ``cny_1e8``, 万元 ``cny_1e4`` or yuan ``cny``)."""
    return gdp * GDP_UNITS[unit]


def unit_balance(
    sources: pd.DataFrame,
    sinks: pd.Series,
    *,
    population: pd.Series | None = None,
    gdp_cny_1e4: pd.Series | None = None,
    classes: pd.DataFrame | None = None,
    bands: pd.DataFrame | None = None,
) -> pd.DataFrame:
    r"""The carbon balance of each planning unit: sources, sinks, net, balance class and intensities.

    Parameters
    ----------
    sources : DataFrame (units x sectors) [t CO2/yr]
        Sources of each unit by sector, >= 0.
    sinks : Series [t CO2/yr]
        Removals per unit, >= 0, indexed like `sources`; a unit missing from it has none.
    population : Series [persons], optional
        Residents per unit, indexed like `sources`.
    gdp_cny_1e4 : Series [10^4 CNY/yr], optional
        Output value per unit (:func:`gdp_cny_1e4` converts other units).
    classes : DataFrame, optional
        Balance classes by minimum sink-to-source ratio [-]; default the packaged
        :func:`carbonmap.coefficients.balance_classes`.
    bands : DataFrame, optional
        Efficiency bands by maximum relative intensity [-]; default the packaged
        :func:`carbonmap.coefficients.efficiency_bands`.

    Returns
    -------
    DataFrame
        Indexed like `sources`: ``source_<sector>_co2_t_yr`` for each sector,
        ``source_co2_t_yr``, ``sink_co2_t_yr`` and ``net_co2_t_yr`` [t CO2/yr];
        ``sink_source_ratio`` [-] (NaN without sources) and ``balance_class``; with `population`,
        ``co2_t_per_capita_yr`` [t CO2/person/yr]; with `gdp_cny_1e4`, ``co2_t_per_cny_1e4``
        [t CO2 per 10^4 CNY], ``efficiency_index`` [-], ``efficiency_band`` (integer, NA where
        unknown) and ``efficiency_label``.

    Notes
    -----
    For unit u with sources :math:`E_{u,s}` by sector s and sink :math:`K_u`:

    .. math::

        E_u = \sum_s E_{u,s}, \qquad N_u = E_u - K_u, \qquad \rho_u = K_u / E_u

    The balance class is the last row of `classes` whose ``min_sink_source_ratio`` is at most
    :math:`\rho_u`; a unit without sources is a surplus when it has a sink and balanced when it
    has none. With population :math:`P_u` and output :math:`G_u` the intensities are
    :math:`E_u / P_u` and :math:`I_u = E_u / G_u`, and the energy-carbon index is the unit's
    intensity relative to the city's,

    .. math::

        \eta_u = I_u \Big/ \frac{\sum_v E_v}{\sum_v G_v}

    graded into the first band of `bands` whose ``max_relative_intensity`` is at least
    :math:`\eta_u`. Units without population or output (missing or 0) get NaN.

    References
    ----------
    .. [1] Huzhou Municipal Development and Reform Commission (2021). Industrial enterprise
       carbon efficiency code (工业企业碳效码): grading by emissions per output against the
       industry average.
    .. [2] Zhao R., Zhang Z., Ding M., et al. (2015). Regional carbon compensation zoning based on
       carbon budget: sink-to-source ratios of land use. Journal of Natural Resources 30(10).

    Examples
    --------
    >>> sources = pd.DataFrame({"buildings": [80.0, 30.0], "transport": [20.0, 10.0]}, index=["north", "south"])
    >>> table = unit_balance(sources, pd.Series({"north": 10.0, "south": 60.0}))
    >>> table[["source_co2_t_yr", "net_co2_t_yr", "sink_source_ratio", "balance_class"]]
           source_co2_t_yr  net_co2_t_yr  sink_source_ratio   balance_class
    north            100.0          90.0                0.1  carbon_deficit
    south             40.0         -20.0                1.5  carbon_surplus
    """
    classes = balance_classes() if classes is None else classes
    bands = efficiency_bands() if bands is None else bands
    out = sources.add_prefix("source_").add_suffix("_co2_t_yr")
    source = sources.sum(axis=1)
    sink = sinks.reindex(sources.index).fillna(0.0)
    out["source_co2_t_yr"] = source
    out["sink_co2_t_yr"] = sink
    out["net_co2_t_yr"] = source - sink
    ratio = sink / source.where(source > 0)
    out["sink_source_ratio"] = ratio
    thresholds = classes["min_sink_source_ratio"].to_numpy()
    # no sources: only sinks is a surplus; nothing at all is balanced (net zero)
    graded = ratio.fillna(pd.Series(np.where(sink > 0, np.inf, 1.0), index=sources.index))
    position = np.searchsorted(thresholds, graded.to_numpy(), side="right") - 1
    out["balance_class"] = classes["class"].to_numpy()[np.clip(position, 0, len(classes) - 1)]
    if population is not None:
        people = population.reindex(sources.index)
        out["co2_t_per_capita_yr"] = source / people.where(people > 0)
    if gdp_cny_1e4 is not None:
        gdp = gdp_cny_1e4.reindex(sources.index)
        intensity = source / gdp.where(gdp > 0)
        city = source.sum() / gdp.where(gdp > 0).sum()
        index = intensity / city
        out["co2_t_per_cny_1e4"] = intensity
        out["efficiency_index"] = index
        limits = bands["max_relative_intensity"].to_numpy()
        band_pos = np.searchsorted(limits, index.to_numpy(), side="left")
        valid = index.notna().to_numpy()
        band_pos = np.clip(band_pos, 0, len(bands) - 1)
        out["efficiency_band"] = pd.array(np.where(valid, bands["band"].to_numpy()[band_pos], 0), dtype="Int64")
        out.loc[~valid, "efficiency_band"] = pd.NA
        out["efficiency_label"] = np.where(valid, bands["label_en"].to_numpy()[band_pos], None)
    return out
