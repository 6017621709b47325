"""Patches and FRAGSTATS metrics of a land-cover file, window by window.

A city cluster's land cover (62 million cells at 30 m for the Greater Bay Area, 242 million for
Beijing-Tianjin-Hebei) need not be held whole to be measured. :func:`read_tiled_landscape`
reads a land-cover file in horizontal strips of whole blocks, each a task of
:func:`carbonmap.compute.ordered_map` (threads in-process, or the workers of a dask cluster):

1. each strip's classes and cells are counted;
2. each strip's patches are labelled on their own (:func:`~carbonmap.landscape.patches.strip_groups`)
   and joined across the strips' edges (:func:`~carbonmap.landscape.patches.join_strips`):
   the patch ids are those of labelling the whole raster, exactly;
3. the strips are labelled again and written with those ids into a patch-id raster (a COG, the
   "ID image" FRAGSTATS writes).

:func:`carbonmap.landscape.fragstats` then measures the :class:`TiledLandscape` as it measures a
landscape in memory, with the same sweeps run band by band (each strip with the rows around it
that a sweep needs: one row for perimeters, adjacencies, corners and runs, the edge depth for
core areas) and their sums added in order: the patch, class and landscape tables equal those of
the whole raster (exactly for counts; to the last bits for sums of floating-point distances).
What stays whole is per patch or per class (a few numbers each), and for ENN and CIRCLE the
raster's horizontal runs of cells.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import numpy as np
from rasterio.windows import Window

from carbonmap.compute import narrowest, ordered_map
from carbonmap.errors import AlignmentError, InputError, NodataError
from carbonmap.io import RasterRef, check_class_codes, cog_writer, open_raster
from carbonmap.landscape.enn import covered_runs, row_runs
from carbonmap.landscape.metrics import (
    centroid_sums,
    class_adjacency,
    core_pieces,
    corner_counts,
    distance_sums,
    join_cores,
)
from carbonmap.landscape.patches import (
    STRUCTURES,
    Counted,
    _present_values,
    cell_size_m,
    class_index,
    join_strips,
    patch_cells,
    perimeter_sides,
    strip_edges,
    strip_groups,
)

__all__ = ["TiledLandscape", "read_tiled_landscape"]


@dataclass(kw_only=True, eq=False)
class TiledLandscape(Counted):
    """A land-cover file prepared for metrics window by window (made by :func:`read_tiled_landscape`).

    It has the attributes of a :class:`~carbonmap.landscape.patches.Landscape` that the metrics
    use (``classes``, ``resolution``, ``neighbours``, ``transform``, ``crs``, ``name``,
    ``index_cells``, ``class_cells``, ``patch_class``, ``patch_cells``, ``perimeter_sides``),
    but no raster in memory: the land cover and the patch ids stay in their files.

    Attributes
    ----------
    patch_ids : Path
        The patch-id raster (int32, 0 outside every patch): patches numbered class by class, in
        row-major order of their first cell, as :attr:`Landscape.labels`.
    """

    land: RasterRef
    patch_ids: Path
    name: str
    classes: np.ndarray
    index_cells: np.ndarray
    patch_class: np.ndarray
    resolution: float
    neighbours: int
    transform: Any
    crs: Any
    shape: tuple[int, int]
    windows: list[Window]  # the strips of the sweeps
    trace_windows: list[Window]  # the windows the patches are traced in

    @property
    def sweeps(self) -> TiledLandscape:
        """What :func:`carbonmap.landscape.fragstats` sweeps: this landscape, band by band (the
        methods of :class:`carbonmap.landscape.metrics.GridSweeps`)."""
        return self

    def index_window(self, rows: slice, cols: slice) -> np.ndarray:
        """The class index of a window of the raster, read from its file."""
        window = Window.from_slices(rows, cols, height=self.shape[0], width=self.shape[1])
        with self.land.open() as src:
            return _read_index(src, window, self.classes)

    def traced(self, trace) -> list:
        """``trace(labels, first row)`` of each window of the patch-id raster, in order (tasks):
        windows of 4 strips, so that few patches are traced in pieces."""
        ids = RasterRef(str(self.patch_ids), 1, None, 0)
        task = partial(_strip_traced, ids=ids, trace=trace)
        return list(ordered_map(task, self.trace_windows, where=ids.place))

    def _bands(self, function, halo: int, *, index: bool = True, **kwargs) -> Iterator:
        """``function(index, labels, own, row0, ...)`` of every band (a strip with `halo` rows
        around it), yielded in order as the tasks end (a few bands' results at a time); with
        ``index=False`` the land cover is not read (`index` is None)."""
        ids = RasterRef(str(self.patch_ids), 1, None, 0)
        task = partial(_band_task, function=function, land=self.land if index else None, ids=ids,
                       classes=self.classes, halo=halo, height=self.shape[0], kwargs=kwargs)
        return ordered_map(task, self.windows, where=narrowest([self.land.place, ids.place]))

    @cached_property
    def _counts(self) -> dict[str, np.ndarray]:
        """Per patch id: cells, perimeter sides, corner pairs, sums of rows and columns; and the
        table of class adjacencies. One pass over the bands, added up in order."""
        total: dict[str, np.ndarray] = {}
        for counts in self._bands(_band_counts, 1, n=self.n_patches + 1, n_classes=self.n_classes):
            for key, value in counts.items():
                if key in total:
                    total[key] += value
                else:
                    total[key] = value
        return total

    @property
    def patch_cells(self) -> np.ndarray:
        """Cells of each patch id (P + 1,); entry 0: cells outside every patch."""
        return self._counts["cells"]

    @property
    def perimeter_sides(self) -> np.ndarray:
        """Perimeter of each patch id [cell sides] (P + 1,); entry 0 unused."""
        return self._counts["perimeter"]

    def adjacency(self) -> np.ndarray:
        """:func:`carbonmap.landscape.metrics.class_adjacency` of the whole raster."""
        return self._counts["adjacency"]

    def corners(self) -> np.ndarray:
        """:func:`carbonmap.landscape.metrics.corner_counts` of the whole raster."""
        return self._counts["corners"]

    def distances(self, cells: np.ndarray) -> np.ndarray:
        """Mean distance [cells] from each cell centre to its patch's centroid, by patch id."""
        cells = np.maximum(cells, 1)
        row_c, col_c = self._counts["rows"] / cells, self._counts["cols"] / cells
        total = np.zeros(len(cells))
        for sums in self._bands(_band_distances, 0, index=False, row_c=row_c, col_c=col_c):
            total += sums
        return total / cells

    def runs(self) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, np.ndarray], tuple[int, int]]:
        """The raster's runs (:func:`~carbonmap.landscape.enn.row_runs`), their
        :func:`~carbonmap.landscape.enn.covered_runs` flags and its shape, gathered band by band."""
        bands = list(self._bands(_band_runs, 1, index=False))
        runs = tuple(np.concatenate([band[0][i] for band in bands]) for i in range(4))
        covered = tuple(np.concatenate([band[1][i] for band in bands]) for i in range(2))
        return runs, covered, self.shape

    def core(self, depth_cells: float) -> tuple[np.ndarray, ...]:
        """:func:`carbonmap.landscape.metrics.join_cores` of the bands' core areas (each band
        with the edge depth's rows around it)."""
        pieces = list(self._bands(_band_cores, max(1, int(np.floor(depth_cells))), n_classes=self.n_classes,
                             neighbours=self.neighbours, depth_cells=depth_cells))
        return join_cores(pieces, self.n_classes, self.neighbours, self.n_patches)


def read_tiled_landscape(raster: str | os.PathLike, patch_ids: str | os.PathLike, *, neighbours: int = 8,
                         block_pixels: int = 2**22, crs: Any = None) -> TiledLandscape:
    """A land-cover file, its patches labelled window by window into a patch-id raster.

    Parameters
    ----------
    raster : path-like
        Land-cover codes (integers) in a projected CRS with square, north-up cells (the run's
        aligned land covers are); nodata cells are outside the landscape.
    patch_ids : path-like
        The patch-id raster to write (a COG of int32, 0 outside every patch), atomically.
    neighbours : {8, 4}
        Patch neighbour rule (8: FRAGSTATS' default).
    block_pixels : int [cells]
        Cells per strip (rounded to whole blocks of the file).
    crs : CRS-like, optional
        The CRS of a raster that declares none.

    Returns
    -------
    TiledLandscape
        For :func:`carbonmap.landscape.fragstats` and
        :func:`carbonmap.landscape.select_classes`.

    Raises
    ------
    InputError
        A raster of non-integer codes, in a geographic CRS, a bad neighbour rule, or `patch_ids`
        naming the land cover itself.
    AlignmentError
        A rotated raster, or cells that are not square.
    NodataError
        Every cell is nodata.

    Notes
    -----
    Strip s's patches are labelled on their own; two of consecutive strips are one patch where
    cells of the upper strip's last row and the lower strip's first row are neighbours of one
    class. Numbering the joined patches class by class, in row-major order of their first cell
    (:func:`~carbonmap.landscape.patches.join_strips`), gives the ids of labelling the whole
    raster at once. Memory: a strip's cells and the ids of every strip's groups (4 bytes each).
    """
    if neighbours not in STRUCTURES:
        raise InputError(f"the neighbour rule must be 4 or 8, got {neighbours}.", path=str(raster),
                         fix="use 8 (FRAGSTATS' default) or 4.")
    if Path(patch_ids).resolve() == Path(raster).resolve():
        raise InputError("is both the land cover and the patch-id raster to write.", path=str(raster),
                         fix="give the patch ids another file.")
    with open_raster(raster, crs=crs) as src:
        resolution = _cell_size_m(src)
        check_class_codes(src.dtype, name=src.name)
        from carbonmap.grid import strips

        block_rows = src.dataset.block_shapes[0][0] if src.dataset is not None else 1
        windows = strips(*src.shape, block_pixels, block_rows=block_rows)
        trace_windows = strips(*src.shape, 4 * block_pixels, block_rows=block_rows)
        land = src.ref()
        name, transform, crs, shape = src.name, src.transform, src.crs, src.shape
    where = land.place
    classes, index_cells = _classes(ordered_map(partial(_strip_values, land=land), windows, where=where), name)
    strips_ = list(ordered_map(partial(_strip_labels, land=land, classes=classes, neighbours=neighbours), windows,
                               where=where))
    offsets, ids, patch_class = join_strips(strips_, len(classes), neighbours)
    del strips_
    items = [(window, np.concatenate([[0], ids[offsets[s]:offsets[s + 1]]]).astype(np.int32))
             for s, window in enumerate(windows)]
    del ids
    task = partial(_strip_patch_ids, land=land, classes=classes, neighbours=neighbours)
    with cog_writer(patch_ids, width=shape[1], height=shape[0], dtype="int32", transform=transform, crs=crs,
                    nodata=0, tags={"unit": "patch id", "neighbours": str(neighbours), "source": name}) as dst:
        for (window, _), block in zip(items, ordered_map(task, items, where=where)):
            dst.write(block, 1, window=window)
    return TiledLandscape(land=land, patch_ids=Path(patch_ids), name=name, classes=classes, index_cells=index_cells,
                          patch_class=patch_class, resolution=resolution, neighbours=neighbours, transform=transform,
                          crs=crs, shape=shape, windows=windows, trace_windows=trace_windows)


def _cell_size_m(src) -> float:
    """The cell size [m] of a projected, north-up raster of square cells."""
    if src.transform.b != 0 or src.transform.d != 0:
        raise AlignmentError("rotated rasters are not supported.", path=src.name,
                             fix="warp the raster to a north-up grid first (gdalwarp).")
    if src.crs is None or src.crs.is_geographic:
        raise InputError("is not in a projected CRS: cells must be measured in metres.", path=src.name,
                         fix="align it to the analysis grid first (carbonmap.grid.align_raster), or use "
                         "read_landscape, which warps a geographic raster in memory.")
    return cell_size_m(src)


def _classes(counted, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The classes present in the strips and the cells of each, then the nodata cells."""
    values, cells, outside = [], [], 0
    for strip_values, strip_cells, strip_outside in counted:
        values.append(strip_values)
        cells.append(strip_cells)
        outside += strip_outside
    values, cells = np.concatenate(values), np.concatenate(cells)
    if values.size == 0:
        raise NodataError("every cell is nodata: there is no landscape to measure.", path=name,
                          fix="check the raster's nodata value and extent.")
    classes, where = np.unique(values, return_inverse=True)
    return classes, np.append(np.bincount(where, weights=cells).astype(np.int64), outside)


def _read_index(src, window: Window, classes: np.ndarray) -> np.ndarray:
    data = src.read(window)
    return class_index(np.ma.getdata(data), np.ma.getmaskarray(data), classes)


def _strip_values(window: Window, *, land: RasterRef) -> tuple[np.ndarray, np.ndarray, int]:
    """The values present in a strip, the cells of each, and its nodata cells."""
    with land.open() as src:
        data = src.read(window)
    outside = np.ma.getmaskarray(data)
    values, cells = _present_values(np.ma.getdata(data)[~outside])
    return values, cells, int(outside.sum())


def _strip_labels(window: Window, *, land: RasterRef, classes: np.ndarray, neighbours: int):
    """A strip's patches, labelled on their own, as joining them needs them."""
    with land.open() as src:
        index = _read_index(src, window, classes)
    return strip_edges(*strip_groups(index, len(classes), neighbours))


def _strip_patch_ids(item: tuple[Window, np.ndarray], *, land: RasterRef, classes: np.ndarray,
                     neighbours: int) -> np.ndarray:
    """A strip's patch ids: its patches labelled again (the same labels), renumbered."""
    window, ids = item
    with land.open() as src:
        index = _read_index(src, window, classes)
    return ids[strip_groups(index, len(classes), neighbours)[0]]


def _strip_traced(window: Window, *, ids: RasterRef, trace) -> Any:
    with ids.open() as src:
        labels = src.read(window).filled(0)
    return trace(labels, int(window.row_off))


def _band_task(window: Window, *, function, land: RasterRef | None, ids: RasterRef, classes: np.ndarray, halo: int,
               height: int, kwargs: dict) -> Any:
    """`function` of a strip read with `halo` rows around it (where the raster has them); the
    class index is None without `land`."""
    top = max(0, int(window.row_off) - halo)
    bottom = min(height, int(window.row_off + window.height) + halo)
    band = Window(window.col_off, top, window.width, bottom - top)
    index = None
    if land is not None:
        with land.open() as src:
            index = _read_index(src, band, classes)
    with ids.open() as src:
        labels = src.read(band).filled(0)
    start = int(window.row_off) - top
    return function(index, labels, (start, start + int(window.height)), top, **kwargs)


def _band_counts(index, labels, own, row0, *, n: int, n_classes: int) -> dict[str, np.ndarray]:
    top, bottom = own
    rows, cols = centroid_sums(labels, n, own, row0)
    return {"cells": patch_cells(labels[top:bottom], n - 1),
            "perimeter": perimeter_sides(index, labels, n - 1, own),
            "corners": corner_counts(labels, n, own),
            "adjacency": class_adjacency(index, n_classes, own),
            "rows": rows, "cols": cols}


def _band_distances(index, labels, own, row0, *, row_c: np.ndarray, col_c: np.ndarray) -> np.ndarray:
    return distance_sums(labels, row_c, col_c, own, row0)


def _band_runs(index, labels, own, row0):
    top, bottom = own
    row, first, last, label = row_runs(labels[top:bottom])
    covered = covered_runs(labels, row + top, first, last)
    # 4 bytes a number: the raster's runs are gathered whole (for ENN and CIRCLE)
    return (*(np.asarray(a, dtype=np.int32) for a in (row + row0 + top, first, last)), label.astype(np.int32)), \
        covered


def _band_cores(index, labels, own, row0, *, n_classes: int, neighbours: int, depth_cells: float):
    return core_pieces(index, labels, n_classes, neighbours, depth_cells, own)

