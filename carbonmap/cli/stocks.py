"""``carbonmap stocks BASELINE POOLS -o DIR``: carbon stocks, standalone (like InVEST Carbon)."""

from __future__ import annotations

from pathlib import Path

import click

from carbonmap.cli.options import FILE, assume_crs_opt, output_opt


@click.command(short_help="Carbon stocks by pool, their change and value (InVEST-compatible).")
@click.argument("baseline", type=FILE)
@click.argument("pools", type=FILE)
@click.option("--alt", "alternative", type=FILE, default=None,
              help="Alternative (later or scenario) land cover; aligned to the baseline's grid as a run aligns it.")
@click.option("--price", type=float, default=None, help="Price per t C (enables valuation).")
@click.option("--discount-rate", type=float, default=None, help="Annual discount rate [%].")
@click.option("--price-change", type=float, default=None, help="Annual rate of price change [%].")
@click.option("--years", type=(int, int), default=None, metavar="BASE ALT", help="Baseline and alternative years.")
@click.option("--pools-rasters", is_flag=True, help="Also write one raster per pool and date.")
@output_opt("Output folder: c_storage_bas.tif, c_storage_alt.tif, c_change_bas_alt.tif, npv_alt.tif, summary.csv.",
            folder=True)
@assume_crs_opt
def stocks(baseline: Path, pools: Path, alternative: Path | None, price: float | None, discount_rate: float | None,
           price_change: float | None, years: tuple[int, int] | None, pools_rasters: bool, output: Path,
           assume_crs: str | None) -> None:
    """Carbon stored in each pool of BASELINE land cover (t C/ha per cell; totals in t C and
    t CO2), with POOLS a CSV of lucode, c_above, c_below, c_soil, c_dead in t C/ha."""
    from carbonmap.config import StocksSection
    from carbonmap.errors import InputError
    from carbonmap.io import write_csv
    from carbonmap.stocks import carbon_stocks
    from carbonmap.themes.stocks import prepare_stocks

    money = (price, discount_rate, price_change, years)
    if any(v is not None for v in money) and not all(v is not None for v in money):
        raise InputError("valuation needs --price, --discount-rate, --price-change and --years.",
                         fix="give all four, or none.")
    base_year, alt_year = years if years is not None else (None, None)
    inputs = prepare_stocks(StocksSection(pools=pools, baseline=str(baseline), alternative=alternative and str(
        alternative), price_per_t_c=price, discount_rate_pct=discount_rate, price_change_pct=price_change,
        baseline_year=base_year, alternative_year=alt_year))
    summary = carbon_stocks(baseline, inputs.pools, alternative=alternative, valuation=inputs.valuation,
                            out_dir=output, write_pools=pools_rasters, crs=assume_crs)
    write_csv(output / "summary.csv", summary)
    totals = summary.set_index("quantity")
    click.echo(f"baseline stock {totals.loc['total_bas', 't_c']:,.1f} t C "
               f"({totals.loc['total_bas', 't_co2']:,.1f} t CO2) -> {output}")
    if "change" in totals.index:
        click.echo(f"change {totals.loc['change', 't_c']:,.1f} t C")
