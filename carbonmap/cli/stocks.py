"""``carbonmap stocks BASELINE POOLS -o DIR``: carbon stocks, standalone (like InVEST Carbon)."""

from __future__ import annotations

from pathlib import Path

import click

from carbonmap.cli.options import assume_crs_opt


@click.command(short_help="Carbon stocks by pool, their change and value (InVEST-compatible).")
@click.argument("baseline", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("pools", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--alt", "alternative", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Alternative (later or scenario) land cover; aligned to the baseline's grid if needed.")
@click.option("--price", type=float, default=None, help="Price per t C (enables valuation).")
@click.option("--discount-rate", type=float, default=None, help="Annual discount rate [%].")
@click.option("--price-change", type=float, default=None, help="Annual rate of price change [%].")
@click.option("--years", type=(int, int), default=None, metavar="BASE ALT", help="Baseline and alternative years.")
@click.option("--pools-rasters", is_flag=True, help="Also write one raster per pool and date.")
@click.option("-o", "--out-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output folder: c_storage_bas.tif, c_storage_alt.tif, c_change_bas_alt.tif, npv_alt.tif, "
                   "summary.csv.")
@assume_crs_opt
def stocks(baseline: Path, pools: Path, alternative: Path | None, price: float | None, discount_rate: float | None,
           price_change: float | None, years: tuple[int, int] | None, pools_rasters: bool, out_dir: Path,
           assume_crs: str | None) -> None:
    """Carbon stored in each pool of BASELINE land cover (t C/ha per cell; totals in t C and
    t CO2), with POOLS a CSV of lucode, c_above, c_below, c_soil, c_dead in t C/ha."""
    from carbonmap.errors import InputError
    from carbonmap.io import write_csv
    from carbonmap.stocks import Valuation, carbon_stocks

    money = (price, discount_rate, price_change, years)
    valuation = None
    if any(v is not None for v in money):
        if not all(v is not None for v in money):
            raise InputError("valuation needs --price, --discount-rate, --price-change and --years.",
                             fix="give all four, or none.")
        valuation = Valuation(price, discount_rate, price_change, years[0], years[1])
    summary = carbon_stocks(baseline, pools, alternative=alternative, valuation=valuation, out_dir=out_dir,
                            write_pools=pools_rasters, crs=assume_crs)
    write_csv(out_dir / "summary.csv", summary)
    totals = summary.set_index("quantity")
    click.echo(f"baseline stock {totals.loc['total_bas', 't_c']:,.1f} t C "
               f"({totals.loc['total_bas', 't_co2']:,.1f} t CO2) -> {out_dir}")
    if "change" in totals.index:
        click.echo(f"change {totals.loc['change', 't_c']:,.1f} t C")
