"""Carbon compensation between units: zoning (paying / balanced / receiving) and the network of pairs."""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import pandas as pd

from carbonmap.coefficients import carbon_price, compensation_classes, compensation_parameters
from carbonmap.compensation import compensation_network, compensation_zoning
from carbonmap.config import CompensationSection, Project, UnitsSection
from carbonmap.errors import InputError, MissingColumnError
from carbonmap.io import read_csv, read_vector
from carbonmap.readable import translated
from carbonmap.stage import Layer, Stage, StageContext
from carbonmap.words import Text, listed, words

__all__ = ["CompensationInputs", "CompensationResult", "prepare_compensation", "compensation_tables",
           "COMPENSATION"]


@dataclass
class CompensationInputs:
    """What a [compensation] section names, read: tables, price, restriction, zones and costs."""

    classes: pd.DataFrame
    parameters: dict[str, float]
    corrections: tuple[str, ...]
    price_cny_per_t_co2: float | None
    price_source: str | None
    restriction: str
    zones: pd.Series | None
    cost: pd.DataFrame | None


@dataclass
class CompensationResult:
    """The per-unit zoning, the pairs of the network and their flow lines."""

    zoning: pd.DataFrame
    pairs: pd.DataFrame
    lines: gpd.GeoDataFrame


def prepare_compensation(section: CompensationSection, units: UnitsSection | None = None) -> CompensationInputs:
    """Read what a [compensation] section names: the class and parameter tables (with overrides),
    the price (a number, or a row of carbon_prices.csv), the zones of `units` (zone_field), the
    cost table."""
    price, source = section.carbon_price, None
    if isinstance(price, str):
        price, source = carbon_price(price), f"carbon_prices.csv: {price}"
    elif price is not None:
        price, source = float(price), "the project file"
    zones = None
    if section.zone_field is not None:
        if units is None:
            raise InputError("zone_field needs the planning units.", key="compensation.zone_field",
                             fix="give the units file.")
        zones = _read_zones(units, section.zone_field)
    return CompensationInputs(compensation_classes(section.classes), compensation_parameters(section.parameters),
                              tuple(section.corrections), price, source, section.restriction, zones,
                              _read_cost(section.cost) if section.cost is not None else None)


def _read_zones(units: UnitsSection, field: str) -> pd.Series:
    columns = [c for c in (units.id_field, field) if c]
    frame = read_vector(units.path, layer=units.layer, columns=columns, kind="polygon", assume_crs=units.assume_crs,
                        encoding=units.encoding, id_field=units.id_field)
    ids = frame[units.id_field].astype(str) if units.id_field else pd.Series(range(len(frame))).astype(str)
    return pd.Series(frame[field].to_numpy(), index=ids.to_numpy(), name="zone")


def _read_cost(path) -> pd.DataFrame:
    table = read_csv(path, what="compensation cost table", dtype={"payer_id": str, "receiver_id": str})
    missing = [c for c in ("payer_id", "receiver_id", "cost") if c not in table]
    if missing:
        raise MissingColumnError(f"the cost table needs the columns {', '.join(missing)}.", path=path,
                                 field=missing[0], fix="give payer_id, receiver_id, cost (per t CO2).")
    return table.pivot_table(index="payer_id", columns="receiver_id", values="cost", aggfunc="first")


def compensation_tables(inputs: CompensationInputs, units: gpd.GeoDataFrame, source: pd.Series, sink: pd.Series,
                        gdp: pd.Series | None = None) -> CompensationResult:
    """Zoning and network of `units` (projected, indexed by unit id) from their sources and sinks
    [t CO2/yr] and output: what the stage and ``carbonmap compensation`` both write."""
    zoning = compensation_zoning(source, sink, gdp=gdp, area_km2=units.geometry.area / 1e6,
                                 corrections=inputs.corrections, classes=inputs.classes,
                                 parameters=inputs.parameters, price_cny_per_t_co2=inputs.price_cny_per_t_co2)
    pairs, lines = compensation_network(zoning, units, restriction=inputs.restriction, zones=inputs.zones,
                                        cost=inputs.cost, price_cny_per_t_co2=inputs.price_cny_per_t_co2)
    return CompensationResult(zoning, pairs, lines)


def compensation_note(inputs: CompensationInputs, result: CompensationResult) -> Text:
    """One line on the run's record: classes, total amount, pairs, money."""
    counts = result.zoning["compensation_class"].value_counts()
    classes = [words("note.compensation_class", count=counts[c], name=translated(c))
               for c in inputs.classes["class"] if c in counts]
    money = Text.same("") if inputs.price_cny_per_t_co2 is None else words(
        "note.compensation_money", cny=f"{result.zoning['compensation_paid_cny_yr'].sum():,.0f}",
        price=f"{inputs.price_cny_per_t_co2:g}", source=inputs.price_source)
    return words("note.compensation", classes=listed(classes),
                 amount=f"{result.zoning['compensation_paid_co2_t_yr'].sum():,.0f}", pairs=len(result.pairs),
                 restriction=words(f"restriction.{inputs.restriction}"), money=money)


def run_compensation(ctx: StageContext) -> None:
    """Compensation zoning of the units from the balance's sources and sinks, and the network."""
    units = ctx.result("units")
    ctx.result("balance")  # the balance ran: its per-unit sources and sinks are in the summary
    summary = ctx.published.summary
    inputs = prepare_compensation(ctx.project.compensation, ctx.project.units)
    gdp = units.frame.get(f"gdp_{ctx.project.units.gdp_unit}")
    result = compensation_tables(inputs, units.frame, summary["source_co2_t_yr"], summary["sink_co2_t_yr"], gdp)
    ctx.add_summary(result.zoning)
    ctx.add_layer(Layer(name="compensation_flows", title=words("layer.compensation_flows"), group="units",
                        frame=result.lines, column="amount_co2_t_yr", unit="t_co2_yr"))
    ctx.add_table("compensation_pairs", result.pairs)
    ctx.note(compensation_note(inputs, result))


def _has_compensation(project: Project) -> bool:
    return project.compensation is not None


COMPENSATION = Stage("compensation", words("stage.compensation"), run_compensation,
                     sections=("compensation", "units"), reads=("units", "balance"), applies=_has_compensation)
