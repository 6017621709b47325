"""Patches of a categorical raster: labelling, adjacency counts, patch polygons.

A *landscape* here is a land-cover raster on square cells in a projected CRS, with nodata
cells outside it (they count as landscape boundary, as FRAGSTATS treats cells beyond the
border). A *patch* is a connected group of cells of one class, connected by the
4-neighbour rule (edges) or the 8-neighbour rule (edges and corners; FRAGSTATS' default).

:func:`prepare` keeps what every metric needs: the class index of each cell and the cells of
each class; on first use, the :class:`Landscape` labels the patches of all classes in one pass
(:func:`label_by_class`) and counts each patch's cells and perimeter (:func:`patch_cells`,
:func:`perimeter_sides`), once for every metric that asks. :func:`patch_polygons` turns chosen
classes' patches into polygons for the map.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterator, Sequence
from functools import cached_property, partial
from typing import Any, NamedTuple

import cc3d
import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio.features
import shapely
from affine import Affine
from scipy import ndimage
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components
from shapely.geometry import box

from carbonmap.errors import AlignmentError, CRSError, InputError, NodataError, ReprojectedWarning
from carbonmap.io import check_class_codes

__all__ = ["Landscape", "prepare", "label_by_class", "group_by_class", "patch_cells", "perimeter_sides",
           "unlike_sides", "row_blocks", "band_border", "strip_groups", "class_index", "StripGroups", "strip_edges",
           "join_strips", "Counted", "cell_size_m", "trace_patches", "read_landscape", "select_classes",
           "patch_polygons", "STRUCTURES", "BLOCK_CELLS"]

#: Connectivity structures for :func:`scipy.ndimage.label`, by neighbour rule.
STRUCTURES = {4: ndimage.generate_binary_structure(2, 1), 8: np.ones((3, 3), dtype=bool)}

#: Cells per block when sweeping the raster (bounds temporary memory, stays in cache).
BLOCK_CELLS = 1 << 19


class Counted:
    """What a landscape's counts give, in memory or in its file: its classes and patches, the
    cell area, the cells of each class."""

    classes: np.ndarray
    patch_class: np.ndarray
    resolution: float
    index_cells: np.ndarray

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def n_patches(self) -> int:
        return len(self.patch_class) - 1

    @property
    def cell_m2(self) -> float:
        """Area of one cell [m2]."""
        return self.resolution**2

    @cached_property
    def class_cells(self) -> np.ndarray:
        """Cells of each class (K,) (float)."""
        return self.index_cells[:-1].astype(float)


class Landscape(Counted):
    """A categorical raster prepared for metrics (made by :func:`prepare`).

    Attributes
    ----------
    classes : ndarray (K,)
        The class values (codes) present, sorted.
    index : ndarray (H, W) of uint8 or uint16
        Class index 0..K-1 of each cell; K for nodata (outside the landscape).
    resolution : float
        Cell size [m].
    neighbours : {4, 8}
        The rule that connects cells into patches.
    transform, crs : optional
        Georeference, for patch polygons and rasters written from metrics.
    name : str
        The user's raster, for messages (e.g. about codes its code system does not know).
    labels : ndarray (H, W) of int32
        Patch id 1..P of each cell, 0 for nodata; patches are numbered class by class, in
        row-major order of their first cell. Labelled on first use.
    patch_class : ndarray (P + 1,)
        Class index of each patch (entry 0, the nodata "patch", is K).
    patch_cells : ndarray (P + 1,) of int64
        Cells of each patch (entry 0: nodata cells). Counted on first use.
    perimeter_sides : ndarray (P + 1,) of int64
        Perimeter of each patch [cell sides] (entry 0 unused). Counted on first use.
    """

    def __init__(self, classes: np.ndarray, index: np.ndarray, resolution: float, neighbours: int,
                 transform: Affine | None = None, crs: Any = None, name: str = "land cover",
                 index_cells: np.ndarray | None = None) -> None:
        self.classes = classes
        self.index = index
        self.resolution = resolution
        self.neighbours = neighbours
        self.transform = transform
        self.crs = crs
        self.name = name
        if index_cells is not None:  # already counted (by prepare)
            self.index_cells = np.asarray(index_cells, dtype=np.int64)

    @cached_property
    def _grouped(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(patches numbered in row-major order, the renumbering to patch ids, patches per class)."""
        return group_by_class(self.index, self.n_classes, self.neighbours)

    @cached_property
    def labels(self) -> np.ndarray:
        groups, renumber, _ = self._grouped
        labels = _apply_renumbering(groups, renumber)
        self._grouped = (labels, None, self._grouped[2])  # keep one raster of patch ids, not two
        return labels

    @cached_property
    def patch_class(self) -> np.ndarray:
        k = self.n_classes
        return np.concatenate([[k], np.repeat(np.arange(k), self._grouped[2])]).astype(np.int32)

    def _per_patch(self, values: Any) -> np.ndarray:
        """A per-patch quantity `values(ids, n_patches)` computed on whichever raster of patch
        ids is at hand, as an array by patch id."""
        groups, renumber, _ = self._grouped
        found = values(groups, self.n_patches)
        if renumber is None:
            return found
        out = np.empty_like(found)
        out[renumber] = found
        return out

    @cached_property
    def index_cells(self) -> np.ndarray:
        """Cells of each class index (K + 1,), the last entry nodata cells (int64)."""
        return _count_values(self.index, self.n_classes + 1)

    @cached_property
    def patch_cells(self) -> np.ndarray:
        """Cells of each patch id (P + 1,); entry 0: nodata cells."""
        return self._per_patch(patch_cells)

    @cached_property
    def perimeter_sides(self) -> np.ndarray:
        """Perimeter of each patch id [cell sides] (P + 1,); entry 0 unused."""
        return self._per_patch(lambda ids, n: perimeter_sides(self.index, ids, n))

    @property
    def sweeps(self):
        """What :func:`carbonmap.landscape.fragstats` sweeps: the whole raster in memory
        (:class:`carbonmap.landscape.metrics.GridSweeps`)."""
        from carbonmap.landscape.metrics import GridSweeps

        return GridSweeps(self)

    def index_window(self, rows: slice, cols: slice) -> np.ndarray:
        """The class index of a window of the raster."""
        return self.index[rows, cols]

    def traced(self, trace) -> list:
        """``trace(labels, first row)`` of the raster of patch ids: one piece, the whole raster."""
        return [trace(self.labels, 0)]


def _count_values(values: np.ndarray, n: int, offset: int = 0) -> np.ndarray:
    """How many times each of 0..n-1 occurs in `values` - `offset` (int64 (n,)), counted in
    blocks so the cast to the platform integer that :func:`numpy.bincount` makes stays small.
    Values outside 0..n-1 after the shift are not allowed."""
    flat = values.reshape(-1)
    counts = np.zeros(n, dtype=np.int64)
    step = 1 << 20
    for start in range(0, flat.size, step):
        block = flat[start:start + step].astype(np.intp)
        if offset:
            block -= offset
        counts += np.bincount(block, minlength=n)
    return counts


def _count_bytes(values: np.ndarray) -> np.ndarray:
    """How many times each byte value 0..255 occurs in a uint8 array (int64 (256,)).

    Notes
    -----
    Counted two bytes at a time: the array read as uint16 is counted into 65,536 bins b
    (:func:`_count_values`), and a byte value v occurs as the first byte of the pairs
    ``b % 256 == v`` and as the second of ``b // 256 == v`` whatever the byte order: half the
    values to cast and count."""
    flat = np.ascontiguousarray(values).reshape(-1)
    even = flat.size // 2 * 2
    pairs = _count_values(flat[:even].view(np.uint16), 1 << 16).reshape(256, 256)
    counts = pairs.sum(axis=0) + pairs.sum(axis=1)
    counts[flat[even:]] += 1  # the last byte of an odd count
    return counts


def patch_cells(labels: np.ndarray, n_patches: int) -> np.ndarray:
    """Cells of each patch id 0..P in a label raster (int64 (P + 1,); entry 0: unlabelled cells)."""
    return _count_values(labels, n_patches + 1)


def row_blocks(height: int, width: int) -> Iterator[tuple[int, int]]:
    """Blocks of whole rows of about :data:`BLOCK_CELLS` cells: (first row, row after the last)."""
    rows = max(1, BLOCK_CELLS // max(width, 1))
    for r0 in range(0, height, rows):
        yield r0, min(height, r0 + rows)


def unlike_sides(index: np.ndarray, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray]:
    """Sides between cells of different values whose first cell is in rows r0..r1-1.

    Parameters
    ----------
    index : ndarray (H, W), C-contiguous
        Cell values (class indices).
    r0, r1 : int
        First row and the row after the last.

    Returns
    -------
    across : ndarray of intp
        Flat positions p (row-major) of the sides between cells p and p + 1 of one row.
    down : ndarray of intp
        Flat positions p of the sides between cells p and p + W of two rows.

    Notes
    -----
    Positions, not boolean masks: gathering a few cells by position is several times faster
    than selecting them with a mask over the block.
    """
    height, width = index.shape
    flat = index.reshape(-1)
    row = flat[r0 * width:r1 * width]
    unlike = row[:-1] != row[1:]
    unlike[width - 1::width] = False  # the last cell of a row and the first of the next
    across = np.flatnonzero(unlike) + r0 * width
    rows = flat[r0 * width:min(height, r1 + 1) * width]
    down = np.flatnonzero(rows[:-width] != rows[width:]) + r0 * width
    return across, down


def perimeter_sides(index: np.ndarray, labels: np.ndarray, n_patches: int,
                    own: tuple[int, int] | None = None) -> np.ndarray:
    """Perimeter of each patch [cell sides]: its cells' sides facing another class, nodata or
    the raster's edge (int64 (P + 1,); entry 0 unused).

    Parameters
    ----------
    index : ndarray (H, W)
        Class index of each cell (K for nodata).
    labels : ndarray (H, W) of int
        Patch id of each cell.
    n_patches : int
        P.
    own : (int, int), optional
        Count only the sides of the cells of rows own[0]..own[1]-1: a band of a larger raster
        whose other rows are its neighbours (a halo of at least one row wherever the larger
        raster goes on; a band without a row above its own rows is at the raster's top edge,
        one without a row below at its bottom edge). Default: every row (the whole raster).

    Notes
    -----
    Two cells sharing a side are in one patch exactly when they are of one class (a shared side
    connects them under both neighbour rules), so the sides between patches are the sides
    between different class indices. They are found on the class index (one byte a cell), and
    only their cells' patch ids are counted: one sweep of the raster for all patches. The
    bands of a raster sum to its perimeters (each side is counted for the cells of the band
    that own it).
    """
    n = n_patches + 1
    index, labels = np.ascontiguousarray(index), np.ascontiguousarray(labels)
    height, width = index.shape
    top, bottom = own if own is not None else (0, height)
    flat = labels.reshape(-1)
    perimeter = np.bincount(band_border(labels, top, bottom), minlength=n).astype(np.int64)
    for r0, r1 in row_blocks(bottom - top, width):
        across, down = unlike_sides(index, top + r0, top + r1)
        ends = [flat[across], flat[across + 1], flat[down], flat[down[down < (bottom - 1) * width] + width]]
        perimeter += np.bincount(np.concatenate(ends), minlength=n)
    if top > 0:  # the sides between the row above the band and its first row
        up = unlike_sides(index, top - 1, top)[1]
        perimeter += np.bincount(flat[up + width], minlength=n)
    return perimeter


def band_border(values: np.ndarray, top: int, bottom: int) -> np.ndarray:
    """The cells of rows top..bottom-1 on the raster's edge, once per side facing outside:
    the first and last columns, and the first (last) row where nothing is above (below) it."""
    parts = [values[top:bottom, 0], values[top:bottom, -1]]
    if top == 0:
        parts.append(values[0])
    if bottom == values.shape[0]:
        parts.append(values[-1])
    return np.concatenate(parts)


def label_by_class(index: np.ndarray, n_classes: int, neighbours: int) -> tuple[np.ndarray, np.ndarray]:
    """Connected groups of cells of each class, numbered class by class.

    Parameters
    ----------
    index : ndarray (H, W) of int
        Class index 0..K-1 of each cell; K (or more) for cells that belong to no class.
    n_classes : int
        K.
    neighbours : {8, 4}
        The neighbour rule: cells of one class touching by a side or a corner (8), or by a
        side only (4), are in one group.

    Returns
    -------
    labels : ndarray (H, W) of int32
        Group id 1..P of each cell, 0 outside every class; class c's ids follow those of the
        classes before it, in row-major order of each group's first cell.
    counts : ndarray (K,) of int64
        Groups per class.

    Notes
    -----
    :func:`group_by_class`, then its renumbering applied to the raster.
    """
    groups, renumber, counts = group_by_class(index, n_classes, neighbours)
    return _apply_renumbering(groups, renumber), counts


def group_by_class(index: np.ndarray, n_classes: int, neighbours: int) -> tuple[np.ndarray, np.ndarray | None,
                                                                                 np.ndarray]:
    """Connected groups of cells of each class in one pass, and their numbering class by class.

    Parameters
    ----------
    index, n_classes, neighbours
        As for :func:`label_by_class`.

    Returns
    -------
    groups : ndarray (H, W) of unsigned int
        As :func:`strip_groups` numbers them.
    renumber : ndarray (P + 1,) of int32, or None
        The id of each group when numbered as :func:`label_by_class` does (entry 0 is 0);
        None when that is already the numbering of `groups`.
    counts : ndarray (K,) of int64
        Groups per class.

    Notes
    -----
    All classes are labelled in one pass over the raster (:func:`cc3d.connected_components`
    on the multi-valued raster: neighbours join only when their values are equal), which
    numbers the groups in row-major order of their first cell, whatever their class. Numbered
    class by class, keeping that order within each class (a stable sort of the groups by
    class), they get the ids of labelling each class on its own (:func:`scipy.ndimage.label`
    of ``index == c``), in work proportional to the raster's size however many classes there
    are. Counts by group computed on `groups` are put in that order by
    ``out[renumber] = counts``, without renumbering the raster.
    """
    groups, group_class = strip_groups(index, n_classes, neighbours)
    n = len(group_class) - 1
    counts = np.bincount(group_class[1:], minlength=n_classes + 1)[1:].astype(np.int64)
    if n < 2 or (group_class[2:] >= group_class[1:-1]).all():  # already class by class
        return groups, None, counts
    renumber = np.zeros(n + 1, dtype=np.int32)
    renumber[1 + np.argsort(group_class[1:], kind="stable")] = np.arange(1, n + 1, dtype=np.int32)
    return groups, renumber, counts


def strip_groups(index: np.ndarray, n_classes: int, neighbours: int) -> tuple[np.ndarray, np.ndarray]:
    """Connected groups of cells of each class, in one pass, numbered in row-major order of
    their first cell whatever their class.

    Parameters
    ----------
    index, n_classes, neighbours
        As for :func:`label_by_class`.

    Returns
    -------
    groups : ndarray (H, W) of unsigned int
        Group id 1..G of each cell, 0 outside every class.
    group_class : ndarray (G + 1,) of unsigned int
        Class index + 1 of each group (entry 0 is 0).
    """
    if neighbours not in STRUCTURES:
        raise ValueError(f"the neighbour rule must be 4 or 8, got {neighbours}")
    ids_type = np.min_scalar_type(n_classes)
    # class index + 1, 0 outside every class; C order, so groups are numbered in row-major order
    if index.dtype in (np.uint8, np.uint16):  # a lookup table over all values: one pass
        lut = np.zeros(np.iinfo(index.dtype).max + 1, dtype=ids_type)
        lut[:n_classes] = np.arange(1, n_classes + 1)
        ids = np.ascontiguousarray(lut[index])
    else:
        ids = np.ascontiguousarray(np.where(index < n_classes, index + ids_type.type(1), ids_type.type(0)),
                                   dtype=ids_type)
    groups, n = cc3d.connected_components(ids, connectivity=neighbours, return_N=True)
    group_class = np.zeros(n + 1, dtype=ids_type)  # class index + 1 of each group, 0 for id 0
    group_class[groups.reshape(-1)] = ids.reshape(-1)  # every cell of a group has its class
    return groups, group_class


class StripGroups(NamedTuple):
    """The groups of one horizontal strip of a raster (:func:`strip_groups`), as joining them to
    the next strips needs them."""

    group_class: np.ndarray  #: (G + 1,) class index + 1 of each group (entry 0 is 0)
    top: np.ndarray  #: (W,) group ids of the strip's first row
    bottom: np.ndarray  #: (W,) group ids of its last row


def strip_edges(groups: np.ndarray, group_class: np.ndarray) -> StripGroups:
    """A strip's groups (:func:`strip_groups`) as :func:`join_strips` needs them."""
    return StripGroups(group_class, groups[0].copy(), groups[-1].copy())


def join_strips(strips: Sequence[StripGroups], n_classes: int, neighbours: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Groups of consecutive horizontal strips of a raster joined into the raster's groups.

    Parameters
    ----------
    strips : sequence of StripGroups
        The strips from top to bottom (each labelled on its own by :func:`strip_groups`).
    n_classes : int
        K.
    neighbours : {8, 4}
        The neighbour rule the strips were labelled with.

    Returns
    -------
    offsets : ndarray (S + 1,) of int64
        Group g of strip s is node ``offsets[s] + g - 1``.
    ids : ndarray (N,) of int32
        The raster's group id 1..P of each node, numbered as :func:`label_by_class` numbers the
        whole raster: class by class, in row-major order of each group's first cell.
    group_class : ndarray (P + 1,) of int32
        Class index of each id (entry 0 is K).

    Notes
    -----
    Two groups of consecutive strips are one where a cell of the upper strip's last row and a
    cell of the lower strip's first row are neighbours (side; or corner, under the 8-neighbour
    rule) of one class: the connected components of that graph
    (:func:`scipy.sparse.csgraph.connected_components`) are the raster's groups. Each strip
    numbers its groups in row-major order of their first cell and strips come in row order, so
    a group's first cell is that of its smallest node: ordering the components by it, then
    stably by class, gives the whole raster's numbering exactly.
    """
    sizes = [len(strip.group_class) - 1 for strip in strips]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    n_nodes = int(offsets[-1])
    node_class = np.concatenate([strip.group_class[1:] for strip in strips]).astype(np.int64) - 1
    first, second = [], []
    for s, (upper, lower) in enumerate(itertools.pairwise(strips)):
        width = len(upper.bottom)
        for shift in ((0,) if neighbours == 4 else (-1, 0, 1)):  # the lower cell's column - the upper's
            a = upper.bottom[max(0, -shift):width - max(0, shift)]
            b = lower.top[max(0, shift):width - max(0, -shift)]
            joined = (a > 0) & (b > 0) & (upper.group_class[a] == lower.group_class[b])
            first.append(offsets[s] + a[joined] - 1)
            second.append(offsets[s + 1] + b[joined] - 1)
    if first and sum(len(f) for f in first):
        first, second = np.concatenate(first), np.concatenate(second)
        graph = coo_array((np.ones(len(first), dtype=np.int32), (first, second)), shape=(n_nodes, n_nodes))
        _, component = connected_components(graph, directed=False)
    else:
        component = np.arange(n_nodes)
    _, first_node = np.unique(component, return_index=True)  # each component's smallest node
    order = np.lexsort((first_node, node_class[first_node]))  # class by class, then row-major
    renumber = np.empty(len(order), dtype=np.int32)
    renumber[order] = np.arange(1, len(order) + 1, dtype=np.int32)
    group_class = np.concatenate([[n_classes], node_class[first_node][order]]).astype(np.int32)
    return offsets, renumber[component], group_class


def _apply_renumbering(groups: np.ndarray, renumber: np.ndarray | None) -> np.ndarray:
    """Patch ids (int32) from group ids and :func:`group_by_class`'s renumbering."""
    if renumber is not None:
        return renumber[groups]
    return groups.view(np.int32) if groups.dtype == np.uint32 else groups.astype(np.int32)


def prepare(data: Any, resolution: float, *, neighbours: int = 8, nodata: Any = None,
            transform: Affine | None = None, crs: Any = None, name: str = "land cover") -> Landscape:
    """A landscape from a categorical raster: its classes, each cell's class index and its patches.

    Parameters
    ----------
    data : array (H, W) of int, or masked array
        Class codes; masked cells (and cells equal to `nodata`) are outside the landscape.
    resolution : float [m]
        Cell size (square cells, projected CRS).
    neighbours : {8, 4}
        Patch neighbour rule (8: FRAGSTATS' default).
    nodata : int, optional
        Value marking cells outside the landscape.
    transform : affine.Affine, optional
        Georeference, for patch polygons and rasters written from metrics.
    crs : CRS-like, optional
        The raster's CRS.
    name : str
        How errors name the input.

    Returns
    -------
    Landscape
        Patches are labelled on first use.

    Raises
    ------
    InputError
        Not a 2-D raster of integer codes (:func:`carbonmap.io.check_class_codes`), bad resolution
        or neighbour rule.
    NodataError
        Every cell is nodata.

    References
    ----------
    .. [1] McGarigal K., Cushman S. A., Ene E. (2023). FRAGSTATS v4: Spatial Pattern Analysis
       Program for Categorical Maps. University of Massachusetts, Amherst. https://www.fragstats.org

    Examples
    --------
    >>> land = prepare(np.ma.MaskedArray([[3, 3, 7], [7, 7, 0]], mask=[[0, 0, 0], [0, 0, 1]]), 30.0)
    >>> land.classes.tolist(), land.index.tolist(), land.n_patches
    ([3, 7], [[0, 0, 1], [1, 1, 2]], 2)
    """
    if neighbours not in STRUCTURES:
        raise InputError(f"the neighbour rule must be 4 or 8, got {neighbours}.", path=name,
                         fix="use 8 (FRAGSTATS' default) or 4.")
    if not (isinstance(resolution, (int, float)) and math.isfinite(resolution) and resolution > 0):
        raise InputError(f"the cell size must be a positive number of metres, got {resolution!r}.", path=name,
                         fix="give the resolution of a raster in a projected CRS.")
    values = np.ma.getdata(data)
    if values.ndim != 2:
        raise InputError(f"landscape metrics need a 2-D raster of integer class codes, got shape {values.shape}.",
                         path=name, fix="pass a categorical (land-cover) band.")
    check_class_codes(values.dtype, name=name)
    if values.dtype == np.bool_:
        values = values.astype(np.uint8)
    outside = np.ma.getmaskarray(data)
    if nodata is not None:
        outside = outside | (values == nodata)
    if outside.all():
        raise NodataError("every cell is nodata: there is no landscape to measure.", path=name,
                          fix="check the raster's nodata value and extent.")
    has_nodata = bool(outside.any())
    classes, cells = _present_values(values[~outside] if has_nodata else values)
    index = class_index(values, outside if has_nodata else None, classes)
    index_cells = np.append(cells, values.size - cells.sum())
    return Landscape(classes, index, float(resolution), neighbours, transform, crs, name, index_cells=index_cells)


def class_index(values: np.ndarray, outside: np.ndarray | None, classes: np.ndarray) -> np.ndarray:
    """The class index 0..K-1 of each cell of `values` among the sorted `classes` (K of them);
    K where `outside` is True (uint8, or a wider type for 255 classes or more)."""
    k = len(classes)
    dtype = np.uint8 if k < 255 else np.uint16 if k < 65535 else np.uint32
    low, high = int(classes[0]), int(classes[-1])
    if values.dtype in (np.uint8, np.uint16):  # a lookup table over all values: the fast path
        lut = np.full(np.iinfo(values.dtype).max + 1, k, dtype=dtype)
        lut[classes] = np.arange(k, dtype=dtype)
        index = lut[values]
    elif high - low < 2**16:
        lut = np.full(high - low + 1, k, dtype=dtype)
        lut[classes - low] = np.arange(k, dtype=dtype)
        index = lut[np.clip(values, low, high).astype(np.int64) - low]
    else:
        index = np.searchsorted(classes, values).astype(dtype)
    if outside is not None:
        index[outside] = k
    return index


def _present_values(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct values of an integer array, sorted, and how many cells have each (int64).

    Values spanning fewer than 2^16 codes are counted (:func:`numpy.bincount`, in blocks),
    others sorted (:func:`numpy.unique`)."""
    flat = values.reshape(-1)
    if values.dtype == np.uint8:
        counts = _count_bytes(flat)
        present = np.flatnonzero(counts)
        return present.astype(values.dtype), counts[present]
    if values.dtype == np.uint16:
        low, high = 0, int(np.iinfo(values.dtype).max)
    else:
        low, high = int(flat.min()), int(flat.max())
    if high - low < 2**16 and np.iinfo(np.intp).min <= low and high <= np.iinfo(np.intp).max:
        counts = _count_values(flat, high - low + 1, offset=low)
        present = np.flatnonzero(counts)
        return (present + low).astype(values.dtype), counts[present]
    classes, cells = np.unique(flat, return_counts=True)
    return classes, cells.astype(np.int64)


def read_landscape(raster: Any, *, neighbours: int = 8, band: int = 1, crs: Any = None,
                   nodata: Any = None) -> Landscape:
    """A landscape from a land-cover raster file, dataset or array.

    Parameters
    ----------
    raster : path-like, rasterio dataset or 2-D array
        Land-cover codes (see :func:`carbonmap.io.open_raster`).
    neighbours : {8, 4}
        Patch neighbour rule.
    band : int
        1-based band.
    crs : CRS-like, optional
        CRS of a raster that has none.
    nodata : int, optional
        Nodata value of a raster that declares none.

    Returns
    -------
    Landscape
        Georeferenced, in metres.

    Raises
    ------
    AlignmentError
        For a rotated raster or cells that are not square.
    CRSError
        For a CRS without a linear unit.

    Notes
    -----
    A raster in a projected CRS is used as it is (square, north-up cells; cell size in metres).
    A raster in a geographic CRS is first warped, nearest neighbour, to an Albers equal-area
    grid centred on it (:func:`carbonmap.grid.equal_area_crs`) whose cell has the area of the
    source's cell at its central row, so areas, edges and distances are in metres (a
    :class:`ReprojectedWarning` says so). FRAGSTATS refuses such rasters; its results on
    degrees would be wrong.
    """
    from carbonmap.grid import align_raster, analysis_grid, cell_area_m2
    from carbonmap.io import read_raster

    data, src = read_raster(raster, band=band, crs=crs, nodata=nodata)
    transform = src.transform
    if transform.b != 0 or transform.d != 0:
        raise AlignmentError("rotated rasters are not supported.", path=src.name,
                             fix="warp the raster to a north-up grid first (gdalwarp).")
    if src.crs.is_geographic:
        cell_m = float(np.sqrt(cell_area_m2(transform, src.crs, np.array([src.shape[0] // 2]))[0]))
        west, north = transform.c, transform.f
        east, south = west + transform.a * src.shape[1], north + transform.e * src.shape[0]
        footprint = gpd.GeoSeries([box(west, south, east, north).segmentize(abs(transform.a) * 10)], crs=src.crs)
        grid = analysis_grid(footprint, cell_m)
        warnings.warn(f"{src.name} is in a geographic CRS ({src.crs.name}); warped to {grid.crs.name} with "
                      f"{cell_m:.1f} m cells to measure areas and distances.", ReprojectedWarning, stacklevel=2)
        data = align_raster(raster, grid, kind="categorical", resampling="nearest", band=band, crs=crs,
                            nodata=nodata)
        return prepare(data, grid.resolution, neighbours=neighbours, transform=grid.transform, crs=grid.crs,
                       name=src.name)
    return prepare(data, cell_size_m(src), neighbours=neighbours, transform=transform, crs=src.crs, name=src.name)


def cell_size_m(src) -> float:
    """The cell size [m] of a raster (a :class:`carbonmap.io.RasterSource`) in a projected CRS,
    refusing cells that are not square or a CRS without a linear unit."""
    from carbonmap.grid import _metre_factor

    transform = src.transform
    if not np.isclose(abs(transform.a), abs(transform.e), rtol=1e-6):
        raise AlignmentError(f"cells are not square ({abs(transform.a)} x {abs(transform.e)}).", path=src.name,
                             fix="resample to square cells (gdalwarp -tr SIZE SIZE).")
    factor = _metre_factor(src.crs)
    if not factor > 0:
        raise CRSError("the CRS has no linear unit.", path=src.name, fix="use a projected CRS in metres.")
    return float(abs(transform.a) * factor)


def select_classes(land: Landscape, *, codes: Any = None, system: str | None = None,
                   categories: Any = None) -> np.ndarray:
    """Class indices of the classes to treat as ecological patches.

    Parameters
    ----------
    land : Landscape
        The prepared landscape.
    codes : iterable of int, optional
        Class codes, as in the raster (codes not present are ignored).
    system : str, optional
        The raster's code system (:mod:`carbonmap.landuse`); with no `categories`, classes
        flagged ``ecological`` there (forest, shrub, grassland, wetlands, water, ...).
    categories : iterable of str, optional
        Carbon categories to keep (e.g. ``["forest", "wetland_marsh"]``), with `system`.

    Returns
    -------
    ndarray of int
        Indices into ``land.classes``.

    Raises
    ------
    InputError
        When neither `codes` nor `system` is given.
    UnknownCodeError
        For codes `system` does not know.

    Examples
    --------
    >>> land = prepare(np.array([[10, 50], [80, 10]]), 10.0)
    >>> select_classes(land, system="esa_worldcover").tolist()  # tree cover and water
    [0, 2]
    """
    if codes is not None:
        wanted = np.isin(land.classes, np.asarray(list(codes)))
    elif system is not None:
        from carbonmap.landuse import classify

        column = "carbon_category" if categories is not None else "ecological"
        classes = classify(land.classes, system, counts=land.class_cells.astype(np.int64), path=land.name,
                           field="cell values")
        keep = set(categories) if categories is not None else {True}
        wanted = classes[column].isin(keep).to_numpy()
    else:
        raise InputError("say which classes are ecological: give codes, or the code system.",
                         fix="pass codes=[...] or system='clcd' (its 'ecological' flag).")
    return np.flatnonzero(wanted)


def patch_polygons(landscape, patches: np.ndarray | None = None) -> gpd.GeoDataFrame:
    """Polygons of patches (all, or those whose id is in `patches`), with ``patch_id``.

    Parameters
    ----------
    landscape : Landscape or TiledLandscape
        Georeferenced; a :class:`~carbonmap.landscape.tiles.TiledLandscape` is traced strip by
        strip from its patch-id raster (tasks of :func:`carbonmap.compute.ordered_map`).
    patches : array of int, optional
        The patch ids to trace.

    Returns
    -------
    GeoDataFrame
        ``patch_id`` and the geometry, one row per patch, by patch id.

    Notes
    -----
    Cells are traced with rasterio's polygonisation using the landscape's neighbour rule, in
    cell units (whole numbers, the same in every window); the pieces of one patch traced in
    different windows are dissolved into one (multi)polygon, and the polygons are then put on
    the map by the landscape's transform. A patch whose parts touch only at a corner across
    two windows is a MultiPolygon where the whole raster's tracing gives one ring touching itself.
    """
    if landscape.transform is None:
        raise InputError("patch polygons need a georeferenced landscape.", fix="pass transform= and crs= to prepare().")
    keep = None
    if patches is not None:
        keep = np.zeros(landscape.n_patches + 1, dtype=bool)
        keep[np.asarray(patches, dtype=np.int64)] = True
    pieces = [frame for frame in landscape.traced(partial(trace_patches, keep=keep, neighbours=landscape.neighbours))
              if len(frame)]
    if not pieces:
        return gpd.GeoDataFrame({"patch_id": np.zeros(0, dtype=np.int64)}, geometry=[], crs=landscape.crs)
    frame = gpd.GeoDataFrame(pd.concat(pieces, ignore_index=True))
    split = frame["patch_id"].duplicated(keep=False)
    if split.any():  # dissolve only the patches traced in pieces
        frame = pd.concat([frame[~split], frame[split].dissolve(by="patch_id", as_index=False)])
    frame = frame.sort_values("patch_id", ignore_index=True)
    t = landscape.transform  # from cells to the map: x = a col + b row + c, y = d col + e row + f
    geometry = shapely.transform(frame.geometry.values, lambda cells: cells @ np.array([[t.a, t.d], [t.b, t.e]])
                                 + np.array([t.c, t.f]))
    return gpd.GeoDataFrame({"patch_id": frame["patch_id"].to_numpy()}, geometry=geometry, crs=landscape.crs)


def trace_patches(labels: np.ndarray, row_offset: int, *, keep: np.ndarray | None, neighbours: int
                  ) -> pd.DataFrame:
    """The polygons of the patches of rows of a raster of patch ids (those `keep` marks, or all),
    the first of them row `row_offset` of the raster, in cell units (x the column, y the row): a
    frame of ``patch_id`` and ``geometry``, one row per polygon traced."""
    from shapely.geometry import shape

    if keep is not None:
        labels = np.where(keep[labels], labels, 0)
    ids, geoms = [], []
    for geom, value in rasterio.features.shapes(labels, mask=labels > 0, connectivity=neighbours,
                                                transform=Affine.translation(0, row_offset)):
        ids.append(int(value))
        geoms.append(shape(geom))
    return pd.DataFrame({"patch_id": np.asarray(ids, dtype=np.int64), "geometry": geoms})
