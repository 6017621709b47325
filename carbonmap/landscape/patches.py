"""Patches of a categorical raster: labelling, adjacency counts, patch polygons.

A *landscape* here is a land-cover raster on square cells in a projected CRS, with nodata
cells outside it (they count as landscape boundary, as FRAGSTATS treats cells beyond the
border). A *patch* is a connected group of cells of one class, connected by the
4-neighbour rule (edges) or the 8-neighbour rule (edges and corners; FRAGSTATS' default).

:func:`prepare` labels every class once (scipy.ndimage.label) and keeps what every metric
needs: the class index of each cell, the patch label of each cell and each patch's class.
:func:`patch_polygons` turns chosen classes' patches into polygons for the map.
"""

from __future__ import annotations

import math
import warnings
from functools import cached_property
from typing import Any

import geopandas as gpd
import numpy as np
import rasterio.features
from affine import Affine
from scipy import ndimage
from shapely.geometry import box

from carbonmap.errors import AlignmentError, CRSError, InputError, NodataError, ReprojectedWarning
from carbonmap.io import check_class_codes

__all__ = ["Landscape", "prepare", "label_by_class", "read_landscape", "select_classes", "patch_polygons", "STRUCTURES"]

#: Connectivity structures for :func:`scipy.ndimage.label`, by neighbour rule.
STRUCTURES = {4: ndimage.generate_binary_structure(2, 1), 8: np.ones((3, 3), dtype=bool)}


class Landscape:
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
    """

    def __init__(self, classes: np.ndarray, index: np.ndarray, resolution: float, neighbours: int,
                 transform: Affine | None = None, crs: Any = None, name: str = "land cover") -> None:
        self.classes = classes
        self.index = index
        self.resolution = resolution
        self.neighbours = neighbours
        self.transform = transform
        self.crs = crs
        self.name = name

    @cached_property
    def _labelled(self) -> tuple[np.ndarray, np.ndarray]:
        k = self.n_classes
        labels, counts = label_by_class(self.index, k, STRUCTURES[self.neighbours])
        patch_class = np.concatenate([[k], np.repeat(np.arange(k), counts)]).astype(np.int32)
        return labels, patch_class

    @property
    def labels(self) -> np.ndarray:
        return self._labelled[0]

    @property
    def patch_class(self) -> np.ndarray:
        return self._labelled[1]

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
        """Cells of each class (K,)."""
        return np.bincount(self.index.ravel(), minlength=self.n_classes + 1)[:-1].astype(float)


def label_by_class(index: np.ndarray, n_classes: int, structure: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Connected groups of cells of each class, numbered class by class.

    Parameters
    ----------
    index : ndarray (H, W) of int
        Class index 0..K-1 of each cell; K (or more) for cells that belong to no class.
    n_classes : int
        K.
    structure : ndarray (3, 3) of bool
        The neighbour rule (:data:`STRUCTURES`).

    Returns
    -------
    labels : ndarray (H, W) of int32
        Group id 1..P of each cell, 0 outside every class; class c's ids follow those of the
        classes before it, in row-major order of each group's first cell.
    counts : ndarray (K,) of int
        Groups per class.

    Notes
    -----
    Each class is labelled (:func:`scipy.ndimage.label`) inside its own bounding box, found for
    all classes in one pass (:func:`scipy.ndimage.find_objects`). The work is the sum of the
    boxes' areas: the grid's size times the number of classes for land cover spread over the
    whole grid, but about the grid's size for many small classes (MSPA core areas, groups of
    cells), where labelling each class on the whole grid would be quadratic.
    """
    labels = np.zeros(index.shape, dtype=np.int32)
    counts = np.zeros(n_classes, dtype=np.int64)
    ids = np.where(index < n_classes, index.astype(np.int32) + 1, 0)
    offset = 0
    for c, bounds in enumerate(ndimage.find_objects(ids, max_label=n_classes)):
        if bounds is None:
            continue
        found, counts[c] = ndimage.label(index[bounds] == c, structure=structure, output=np.int32)
        inside = found > 0
        labels[bounds][inside] = found[inside] + offset
        offset += counts[c]
    return labels, counts


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
    classes = np.unique(values[~outside] if outside.any() else values)
    dtype = np.uint8 if len(classes) < 255 else np.uint16
    low, high = int(classes[0]), int(classes[-1])
    if values.dtype in (np.uint8, np.uint16):  # a lookup table over all values: the fast path
        lut = np.full(np.iinfo(values.dtype).max + 1, len(classes), dtype=dtype)
        lut[classes] = np.arange(len(classes), dtype=dtype)
        index = lut[values]
    elif high - low < 2**16:
        lut = np.full(high - low + 1, len(classes), dtype=dtype)
        lut[classes - low] = np.arange(len(classes), dtype=dtype)
        index = lut[np.clip(values, low, high).astype(np.int64) - low]
    else:
        index = np.searchsorted(classes, values).astype(dtype)
    if outside.any():
        index[outside] = len(classes)
    return Landscape(classes, index, float(resolution), neighbours, transform, crs, name)


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
    from carbonmap.grid import _metre_factor, align_raster, analysis_grid, cell_area_m2
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
    if not np.isclose(abs(transform.a), abs(transform.e), rtol=1e-6):
        raise AlignmentError(f"cells are not square ({abs(transform.a)} x {abs(transform.e)}).", path=src.name,
                             fix="resample to square cells (gdalwarp -tr SIZE SIZE).")
    factor = _metre_factor(src.crs)
    if not factor > 0:
        raise CRSError("the CRS has no linear unit.", path=src.name, fix="use a projected CRS in metres.")
    return prepare(data, abs(transform.a) * factor, neighbours=neighbours, transform=transform, crs=src.crs,
                   name=src.name)


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


def patch_polygons(landscape: Landscape, patches: np.ndarray | None = None) -> gpd.GeoDataFrame:
    """Polygons of patches (all, or those whose id is in `patches`), with ``patch_id``.

    Cells are traced with rasterio's polygonisation using the landscape's neighbour rule,
    so each patch gives exactly one (multi)polygon; 8-connected patches touching only at a
    corner become MultiPolygons.
    """
    if landscape.transform is None:
        raise InputError("patch polygons need a georeferenced landscape.", fix="pass transform= and crs= to prepare().")
    labels = landscape.labels
    if patches is not None:
        keep = np.zeros(landscape.n_patches + 1, dtype=bool)
        keep[np.asarray(patches, dtype=np.int64)] = True
        labels = np.where(keep[labels], labels, 0)
    shapes = rasterio.features.shapes(labels, mask=labels > 0, connectivity=landscape.neighbours,
                                      transform=landscape.transform)
    from shapely.geometry import shape

    ids, geoms = [], []
    for geom, value in shapes:
        ids.append(int(value))
        geoms.append(shape(geom))
    frame = gpd.GeoDataFrame({"patch_id": np.asarray(ids, dtype=np.int64)}, geometry=geoms, crs=landscape.crs)
    return frame.dissolve(by="patch_id", as_index=False) if frame["patch_id"].duplicated().any() else frame
