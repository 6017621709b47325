"""The report's uncertainty section: citywide intervals, the tornado of the coefficients that
matter, the spread of the milestone years, and the ranges with their sources
(:mod:`carbonmap.uncertainty`). Drawn as the report's other figures (SVG, text kept as text)."""

from __future__ import annotations

import html
from collections.abc import Mapping

import numpy as np
import pandas as pd

from carbonmap.readable import column_label, format_number, translate
from carbonmap.uncertainty import parameter_label
from carbonmap.words import unit_label, words

__all__ = ["uncertainty_section"]

#: How many coefficients the tornado shows at most.
TORNADO_BARS = 10


def _w(key: str, language: str, **fields) -> str:
    return words(key, **fields).in_(language)


def _tornado_chart(sensitivity: pd.DataFrame, language: str) -> str | None:
    """Horizontal bars of the citywide net at each coefficient's 5 and 95 % (largest swing on top)."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    from carbonmap.report import _figure_html

    net = sensitivity[sensitivity["output"] == "net_co2_t_yr"]
    net = net[net["swing"] > 0.005 * net["swing"].max()]  # bars too short to see are left out
    net = net.sort_values("swing", ascending=False).head(TORNADO_BARS)
    if net.empty:
        return None
    net = net.iloc[::-1]
    y = np.arange(len(net))
    fig, ax = plt.subplots(figsize=(7.2, 0.38 * len(net) + 1.3))
    ax.barh(y, net["tornado_low"] / 1e3, color="#4575b4", label=_w("report.tornado_low", language))
    ax.barh(y, net["tornado_high"] / 1e3, color="#d73027", label=_w("report.tornado_high", language))
    ax.axvline(0, color="#333333", linewidth=0.8)
    ax.set_yticks(y, [parameter_label(r, language) for r in net.to_dict("records")], fontsize=7)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: format_number(v)))
    ax.set_xlabel(_w("report.tornado_axis", language), fontsize=8)
    title = _w("report.tornado", language)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, frameon=False, loc="lower right")
    return _figure_html(fig, title, wide=True)


def _table(frame: pd.DataFrame, numeric: list[bool], caption: str) -> str:
    """An escaped table of the report's style (words kept whole, as in every table of the report)."""
    from carbonmap.report import _html_table

    return _html_table(frame.astype(str), list(frame.columns), numeric, caption)


def _city(city: pd.DataFrame, language: str) -> str:
    rows = []
    for row in city.to_dict("records"):
        if row["quantity"] == "stock_t_c":
            label = f"{_w('unc.stock', language)} ({unit_label('t_c', language)})"
        else:
            label = f"{column_label(row['quantity'], language, unit=False)} ({unit_label('t_co2_yr', language)})"
        rows.append({_w("unc.quantity", language): label,
                     _w("unc.central", language): format_number(row["central"]),
                     _w("unc.p5", language): format_number(row["p5"]),
                     _w("unc.p50", language): format_number(row["p50"]),
                     _w("unc.p95", language): format_number(row["p95"]),
                     _w("unc.approach1", language): f"{format_number(row['approach1_low'])} – "
                                                    f"{format_number(row['approach1_high'])}"})
    return _table(pd.DataFrame(rows), [False, True, True, True, True, True], _w("report.uncertainty_city", language))


def _years(row: Mapping, name: str, never: str) -> str:
    return " / ".join(never if pd.isna(row.get(f"{name}_p{q}")) else format_number(row[f"{name}_p{q}"], year=True)
                      for q in (5, 50, 95))


def _milestones(milestones: pd.DataFrame, language: str, end_year: int | None) -> str:
    never = _w("unc.never", language, year=end_year or 2060)
    rows = [{_w("unc.scenario", language): translate(row["scenario"], language), _w("unc.peak", language): _years(row, "peak_year", never),
             _w("unc.net_zero", language): _years(row, "net_zero_year", never),
             _w("unc.p_net_zero", language): f"{format_number(100 * row['p_net_zero'])} %"}
            for row in milestones.to_dict("records")]
    return _table(pd.DataFrame(rows), [False, True, True, True], _w("report.uncertainty_milestones", language))


def _distribution(name: str, language: str) -> str:
    return {"normal": _w("unc.normal", language), "lognormal": _w("unc.lognormal", language),
            "triangular": _w("unc.triangular", language), "uniform": _w("unc.uniform", language)}.get(name, name)


def _share(value: float) -> str:
    return "< 0.01 %" if value < 1e-4 else f"{format_number(100 * value)} %"


def _verified(value: str, language: str) -> str:
    key = {"default": "unc.verified_default", "secondary": "unc.verified_secondary",
           "primary": "unc.verified_primary"}.get(str(value))
    return _w(key, language) if key else str(value)


def _ranges(sensitivity: pd.DataFrame, language: str) -> str:
    rows = []
    for row in sensitivity.to_dict("records"):
        share = _share(row["sobol_first_order"]) if row["output"] == "net_co2_t_yr" else _w("unc.stock_only", language)
        spread = f"-{format_number(row['lower_pct'])} / +{format_number(row['upper_pct'])}"
        rows.append({_w("unc.coefficient", language): parameter_label(row, language),
                     _w("unc.distribution", language): _distribution(row["distribution"], language),
                     _w("unc.range", language): spread, _w("unc.sobol", language): share,
                     _w("unc.verified", language): _verified(row.get("verified", ""), language),
                     _w("unc.source", language): row["source"]})
    return _table(pd.DataFrame(rows), [False, False, True, True, False, False],
                  _w("report.uncertainty_ranges", language))


def uncertainty_section(tables: Mapping[str, pd.DataFrame], language: str, *, end_year: int | None = None
                        ) -> str | None:
    """The section's HTML (every text escaped), or None when the run drew no uncertainty."""
    city, sensitivity = tables.get("uncertainty_citywide"), tables.get("uncertainty_sensitivity")
    if city is None or sensitivity is None or city.empty:
        return None
    first = city.iloc[0]
    about = _w("report.uncertainty_about", language, draws=format_number(first["draws"]), seed=int(first["seed"]),
               parameters=int(sensitivity["parameter"].nunique()))
    parts = [f"<p>{html.escape(about)}</p>", _city(city, language), _tornado_chart(sensitivity, language) or ""]
    milestones = tables.get("uncertainty_milestones")
    if milestones is not None and len(milestones):
        parts.append(_milestones(milestones, language, end_year))
    parts.append(_ranges(sensitivity, language))
    return "".join(parts)
