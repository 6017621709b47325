"""Ecological network: MSPA, sources by dPC, corridors, circuit currents, pinch points, barriers."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from carbonmap.coefficients import ecological_resistance, network_settings
from carbonmap.config import NetworkSection, Project, RoadsSection
from carbonmap.grid import block_expand
from carbonmap.io import read_vector, write_cog
from carbonmap.landscape.network import (
    MSPA_LEGEND,
    NetworkResult,
    NetworkSettings,
    network_from_rasters,
    network_per_unit,
    parameter_table,
)
from carbonmap.stage import Layer, Stage, StageContext
from carbonmap.words import listed, step_words, words

__all__ = ["NetworkInputs", "Network", "prepare_network", "build_network", "network_tables",
           "write_network_rasters", "NETWORK"]


@dataclass
class NetworkInputs:
    """The settings, resistance table, road lines and ecological codes of a [network] section."""

    settings: NetworkSettings
    resistance: pd.Series
    roads: gpd.GeoDataFrame | None
    ecological_codes: list[int] | None
    modifiers: dict[str, float]


def prepare_network(section: NetworkSection, roads: RoadsSection | None = None) -> NetworkInputs:
    """Read what a [network] section names: the resistance table and, with ``use_roads``, the roads."""
    lines = None
    if section.use_roads and roads is not None:
        lines = read_vector(roads.path, layer=roads.layer, kind="line", assume_crs=roads.assume_crs,
                            encoding=roads.encoding)
    network_settings()  # the defaults' table, with its sources, goes on the run's record
    settings = NetworkSettings(**{f.name: getattr(section, f.name) for f in dataclasses.fields(NetworkSettings)})
    return NetworkInputs(settings, ecological_resistance(section.resistance), lines, section.ecological_codes,
                         dict(section.modifiers))


def build_network(inputs: NetworkInputs, landcover, system: str, *, dem=None, crs=None, on_step=None):
    """:func:`carbonmap.landscape.network.network_from_rasters` on prepared inputs (`on_step`
    is told as each step ends). Returns (landscape, resistance surface, NetworkResult)."""
    return network_from_rasters(landcover, system, dem=dem, roads=inputs.roads,
                                ecological_codes=inputs.ecological_codes, settings=inputs.settings,
                                resistance_table=inputs.resistance, modifiers=inputs.modifiers, crs=crs,
                                on_step=on_step)


def write_network_rasters(folder: Path, resistance: np.ndarray, result: NetworkResult, *, transform, crs
                          ) -> dict[str, Path]:
    """The network's rasters as COGs in `folder`: mspa, resistance, current_density, barrier_score."""
    paths = {"mspa": write_cog(folder / "mspa.tif", result.mspa, nodata=0, transform=transform, crs=crs,
                               tags={"classes": "MSPA (GuidosToolbox values)"})}
    for name, data in (("resistance", resistance), ("current_density", result.current),
                       ("barrier_score", result.barriers)):
        data = np.where(np.isfinite(data), data, np.nan).astype("float32")
        paths[name] = write_cog(folder / f"{name}.tif", data, nodata=float("nan"), resampling="average",
                                transform=transform, crs=crs)
    return paths


def network_tables(inputs: NetworkInputs, result: NetworkResult) -> dict[str, pd.DataFrame]:
    """What the stage and ``carbonmap ecological-network`` both write (layers and tables)."""
    return {"ecological_sources": result.sources, "ecological_corridors": result.corridors,
            "ecological_corridor_lines": result.corridor_lines, "pinch_points": result.pinch_points,
            "barriers": result.barrier_areas,
            "network_parameters": parameter_table(inputs.settings, result, modifiers=inputs.modifiers)}


@dataclass
class Network:
    """What later stages read of the network: its result without the current and barrier
    arrays (they are in their COGs), its settings, and how much coarser than the analysis
    grid it was solved."""

    result: NetworkResult
    settings: NetworkSettings
    cell_factor: int = 1  # analysis cells per network cell, along a side (network.resolution_m)

    def on_grid(self, shape: tuple[int, int]) -> NetworkResult:
        """The result with its MSPA classes and core labels on the analysis grid of `shape`:
        each network cell repeated over the analysis cells of its block."""
        if self.cell_factor == 1:
            return self.result
        return dataclasses.replace(self.result, mspa=block_expand(self.result.mspa, self.cell_factor, shape),
                                   core_labels=block_expand(self.result.core_labels, self.cell_factor, shape))


#: Map layers of the network's vector outputs: name -> (column, unit).
_VECTOR_LAYERS = {
    "ecological_sources": ("dpc_pct", "pct"),
    "ecological_corridors": ("mean_resistance", "relative"),
    "ecological_corridor_lines": ("cwd", "cost_weighted_m"),
    "pinch_points": ("current", "a"),
    "barriers": ("improvement_score", "per_m"),
}


def run_network(ctx: StageContext) -> Network:
    """Ecological security pattern: MSPA, sources by dPC, corridors, pinch points, barriers."""
    cfg, units, rasters = ctx.project.network, ctx.result("units"), ctx.result("rasters")
    inputs = prepare_network(cfg, ctx.project.roads)
    land, resistance, result = build_network(inputs, rasters.paths[cfg.landcover],
                                             rasters.code_systems[cfg.landcover], dem=rasters.optional(cfg.dem),
                                             on_step=ctx.step)
    paths = write_network_rasters(ctx.out / "rasters", resistance, result, transform=land.transform, crs=land.crs)
    ctx.add_layer(Layer(name="mspa", title=words("layer.mspa"), group="ecology",
                        raster=paths["mspa"], kind="categorical",
                        labels={str(v): name for v, (name, _) in MSPA_LEGEND.items()},
                        colours={str(v): colour for v, (_, colour) in MSPA_LEGEND.items()}))
    ctx.add_layer(Layer(name="current_density", title=words("layer.current_density"),
                        group="ecology", raster=paths["current_density"], unit="a"))
    ctx.add_layer(Layer(name="barrier_score", title=words("layer.barrier_score"), group="ecology",
                        raster=paths["barrier_score"], unit="per_m"))
    tables = network_tables(inputs, result)
    for name, (column, unit) in _VECTOR_LAYERS.items():
        tolerance = units.grid.resolution if name == "ecological_sources" else 0.0
        ctx.add_layer(Layer(name=name, title=words(f"layer.{name}"), group="ecology", frame=tables.pop(name),
                            column=column, unit=unit, display_tolerance_m=tolerance))
    for name, table in tables.items():
        ctx.add_table(name, table)
    ctx.add_summary(network_per_unit(units.frame, result.sources, result.corridor_lines))
    timings = [words("note.seconds", what=step_words(step), seconds=f"{seconds:.1f}")
               for step, seconds in result.timings.items()]
    ctx.note(words("note.network", sources=len(result.sources), candidates=int(result.indices["candidates"]),
                   min_ha=f"{inputs.settings.min_core_area_ha:g}", corridors=len(result.corridors),
                   pc=f"{result.indices['PC']:.4f}",
                   timings=listed(timings)))
    if land.resolution != units.grid.resolution:
        ctx.note(words("note.network_resolution", cell=f"{land.resolution:g}", cells=f"{land.index.size:,}"))
    return Network(dataclasses.replace(result, current=None, barriers=None), inputs.settings,
                   round(land.resolution / units.grid.resolution))


def _has_network(project: Project) -> bool:
    return project.network is not None


NETWORK = Stage("network", words("stage.network"), run_network, sections=("network", "roads"),
                reads=("units", "rasters"), writes=Network, applies=_has_network)
