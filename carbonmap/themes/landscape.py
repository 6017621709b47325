"""Landscape: ecological patches, FRAGSTATS metrics, per-unit fragmentation, hot spots, change."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from carbonmap.config import Project
from carbonmap.errors import InputError
from carbonmap.landscape import (
    Landscape,
    TiledLandscape,
    compare,
    ecological_patches,
    fragstats,
    moving_window_raster,
    prepare,
    read_tiled_landscape,
    select_classes,
    unit_metrics,
)
from carbonmap.landscape.change import CHANGE_METRICS
from carbonmap.landscape.ecology import WINDOW_METRICS
from carbonmap.landuse import carbon_categories, code_table
from carbonmap.stage import Layer, Stage, StageContext
from carbonmap.themes.inputs import raster_title
from carbonmap.words import Text, words

__all__ = ["EcologicalLand", "class_names", "LANDSCAPE"]


@dataclass
class EcologicalLand:
    """What counts as ecological land in a run: the [landscape] codes (or, when None, the
    code system's ``ecological`` flag) and the patch neighbour rule (4 or 8)."""

    system: str
    codes: list[int] | None
    neighbours: int

    def classes(self, land: Landscape | TiledLandscape) -> np.ndarray:
        """The indices of `land`'s ecological classes."""
        return select_classes(land, codes=self.codes) if self.codes is not None \
            else select_classes(land, system=self.system)

    def fragmentation(self, landcover: np.ndarray, resolution: float, zones: np.ndarray, n_zones: int
                      ) -> pd.DataFrame:
        """Per-zone PLAND [%], NP and MESH [ha] of ecological land in a land-cover array."""
        land = prepare(landcover, resolution, neighbours=self.neighbours)
        return unit_metrics(land, self.classes(land), zones, n_zones)[["eco_pland_pct", "eco_np", "eco_mesh_ha"]]


def class_names(system: str) -> dict[int, str]:
    """Numeric class code -> English name, for the classes of a raster code system."""
    return {code: name.en for code, name in class_texts(system).items()}


def class_texts(system: str) -> dict[int, Text]:
    """Numeric class code -> name in both languages, for the classes of a raster code system."""
    table = code_table(system)
    return {int(code): Text(en, zh or en) for code, en, zh in zip(table["code"], table["name_en"], table["name_zh"])
            if str(code).isdigit()}


def run_landscape(ctx: StageContext) -> EcologicalLand:
    """Ecological patches, FRAGSTATS metrics, per-unit fragmentation, hot spots, change.

    The land cover stays in its file: its patches are labelled strip by strip and measured band
    by band (:func:`carbonmap.landscape.read_tiled_landscape`), on the run's cores or a dask
    cluster's workers."""
    with ctx.scratch() as scratch:
        return _measure(ctx, scratch)


def _measure(ctx: StageContext, scratch: Path) -> EcologicalLand:
    cfg, units, rasters = ctx.project.landscape, ctx.result("units"), ctx.result("rasters")
    system = rasters.code_systems[cfg.landcover]
    ecology = EcologicalLand(system, cfg.ecological_codes, cfg.neighbours)
    names = class_names(system)
    land = read_tiled_landscape(rasters.paths[cfg.landcover], scratch / "patch_id.tif", neighbours=cfg.neighbours)
    eco = ecology.classes(land)
    if eco.size == 0:
        raise InputError("no ecological land in the land cover.", path=rasters.paths[cfg.landcover],
                         key="landscape.ecological_codes", fix="list the codes of ecological land.")
    metrics = fragstats(land, edge_depth_m=cfg.edge_depth_m)
    classes = metrics.class_.copy()
    classes.insert(1, "class_name", classes["class"].map(names))
    classes.insert(2, "ecological", np.isin(np.arange(land.n_classes), eco))
    ctx.add_table("landscape_class_metrics", classes)
    ctx.add_table("landscape_metrics", metrics.landscape)
    _patch_layer(ctx, land, eco, system, names)
    per_unit = unit_metrics(land, eco, units.zones, len(units.ids))
    per_unit.index = units.ids
    ctx.add_summary(per_unit)
    name, unit = f"ecological_{cfg.window_metric.lower()}_window", WINDOW_METRICS[cfg.window_metric]
    path = moving_window_raster(rasters.paths[cfg.landcover], land.classes[eco], ctx.file(f"rasters/{name}.tif"),
                                metric=cfg.window_metric, radius_m=cfg.window_radius_m,
                                tags={"unit": unit, "radius_m": str(cfg.window_radius_m)})
    ctx.add_layer(Layer(name=name, title=words(f"layer.{name}", radius=cfg.window_radius_m),
                        group="ecology", raster=path, unit=unit.replace("/", "_")))
    ctx.add_headline("eco_mesh_ha")
    if cfg.compare_with:
        before = read_tiled_landscape(rasters.paths[cfg.compare_with], scratch / "patch_id_before.tif",
                                      neighbours=cfg.neighbours)
        _change(ctx, before, land, eco, system)
    return ecology


def _patch_layer(ctx: StageContext, land: TiledLandscape, eco: np.ndarray, system: str, names: dict[int, str]
                 ) -> None:
    cfg = ctx.project.landscape
    patches = ecological_patches(land, eco, min_area_ha=cfg.min_patch_area_ha, edge_depth_m=cfg.edge_depth_m,
                                 names=names)
    table = code_table(system)
    category = dict(zip(table["name_en"], table["carbon_category"]))
    colour = carbon_categories()["colour"]
    ctx.add_layer(Layer(name="ecological_patches", title=words("layer.ecological_patches", area=cfg.min_patch_area_ha),
                        group="ecology", frame=patches, column="class_name", kind="categorical",
                        colours={n: colour[category[n]] for n in patches["class_name"].unique() if n in category},
                        display_tolerance_m=land.resolution))  # cell staircases need no drawing


def _change(ctx: StageContext, before: TiledLandscape, land: TiledLandscape, eco: np.ndarray, system: str) -> None:
    """The change of ecological classes since [landscape] compare_with, read in plain language."""
    cfg, names = ctx.project.landscape, class_texts(system)
    change = compare(fragstats(before, metrics=list(CHANGE_METRICS)).class_,
                     fragstats(land, metrics=list(CHANGE_METRICS)).class_, names=names)
    ctx.add_table("landscape_change", change)
    eco_codes = set(land.classes[eco].tolist())
    for _, row in change[change["class"].isin(eco_codes)].iterrows():
        ctx.note(words("note.landscape_change", before=raster_title(ctx.project, cfg.compare_with),
                       after=raster_title(ctx.project, cfg.landcover),
                       reading=Text(row["reading"], row["reading_zh"])))


def _has_landscape(project: Project) -> bool:
    return project.landscape is not None


LANDSCAPE = Stage("landscape", words("stage.landscape"), run_landscape,
                  sections=("landscape",), reads=("units", "rasters"), writes=EcologicalLand, applies=_has_landscape)
