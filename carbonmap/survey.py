"""What a folder of data holds: each file's metadata and a small sample of its values.

``carbonmap init`` guesses the role of every data set in a folder (:mod:`carbonmap.roles`)
from what this module reads. Reading is bounded, so a survey is fast on big files:

- vectors (GeoPackage layers, Shapefiles, GeoJSON, FlatGeobuf, FileGDB folders): the layer's
  metadata (:func:`pyogrio.read_info`) and its first :data:`SAMPLE_FEATURES` features;
- rasters (GeoTIFF): the metadata and tags of band 1 and at most about :data:`SAMPLE_CELLS`
  of its cells (an overview or a decimated read, or a grid of small windows when a large file
  has no overviews);
- CSV tables: the header and the first :data:`SAMPLE_ROWS` rows (UTF-8, else GB 18030).

Files are found recursively, except inside hidden folders, ``out/`` folders and carbonmap
output folders (those holding ``onemap.gpkg``). A file that cannot be read is described as
:class:`Unreadable`, with the reason, rather than stopping the survey.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "VECTOR_SUFFIXES", "RASTER_SUFFIXES", "TABLE_SUFFIXES", "SAMPLE_FEATURES", "SAMPLE_CELLS", "SAMPLE_ROWS",
    "VectorSample", "RasterSample", "TableSample", "Unreadable", "Sample",
    "data_files", "describe", "describe_vector", "describe_raster", "describe_table",
]

VECTOR_SUFFIXES = (".gpkg", ".shp", ".geojson", ".json", ".fgb", ".gdb")
RASTER_SUFFIXES = (".tif", ".tiff")
TABLE_SUFFIXES = (".csv",)
#: Features read from each vector layer.
SAMPLE_FEATURES = 500
#: Cells read from each raster (about).
SAMPLE_CELLS = 512 * 512
#: Rows read from each CSV table.
SAMPLE_ROWS = 500
#: Folders never searched (besides hidden ones).
SKIPPED_FOLDERS = ("out", "__pycache__", "node_modules")
#: A folder holding this file is a carbonmap output folder.
OUTPUT_MARKER = "onemap.gpkg"
_FORCE_BOUNDS_MAX_BYTES = 200 * 1024 * 1024  # beyond this, total bounds only where they are cheap
_METRES_PER_DEGREE = 111_320.0  # of latitude, about


@dataclass(frozen=True)
class VectorSample:
    """A vector layer: metadata and the attributes of its first features.

    geometry : "polygon", "line", "point" or "none" (the family of most sampled features).
    crs : the declared CRS as text ("EPSG:4547", or its name), None when undeclared.
    crs_kind : "projected", "geographic" or None (undeclared).
    lonlat_bounds : (west, south, east, north) in degrees, None when unknown.
    fields : field name -> numpy dtype name.
    sample : the attributes of the first :data:`SAMPLE_FEATURES` features.
    median_area_m2, median_length_m : of the sampled geometries (areas and lengths measured in
        the layer's CRS when projected, else in the UTM zone of its centre).
    layers_in_file : how many layers the file holds.
    """

    path: Path
    layer: str
    geometry: str
    count: int
    crs: str | None
    lonlat_bounds: tuple[float, float, float, float] | None
    fields: dict[str, str]
    sample: pd.DataFrame = field(repr=False)
    median_area_m2: float | None = None
    median_length_m: float | None = None
    layers_in_file: int = 1
    crs_kind: str | None = None

    kind = "vector"

    @property
    def label(self) -> str:
        return f"{self.path.name}:{self.layer}" if self.layers_in_file > 1 or self.path.suffix == ".gpkg" \
            else self.path.name

    @property
    def crs_declared(self) -> bool:
        return self.crs is not None


@dataclass(frozen=True)
class RasterSample:
    """Band 1 of a raster: metadata, tags and a sample of its valid values.

    crs : the declared CRS as text, None when undeclared.
    crs_kind : "projected", "geographic" or None (undeclared).
    cell_size_m : the cell size in metres (north-south and approximate for a geographic CRS; None
        for an undeclared CRS).
    tags : dataset and band tags, the band description and unit, with lower-case keys.
    values : valid sampled values (nodata and NaN removed), 1-D.
    """

    path: Path
    dtype: str
    shape: tuple[int, int]
    bands: int
    crs: str | None
    cell_size_m: float | None
    lonlat_bounds: tuple[float, float, float, float] | None
    nodata: float | None
    tags: dict[str, str]
    values: np.ndarray = field(repr=False)
    crs_kind: str | None = None

    kind = "raster"

    @property
    def label(self) -> str:
        return self.path.name

    @property
    def geographic(self) -> bool:
        """Whether the declared CRS is in degrees (then `cell_size_m` is approximate)."""
        return self.crs_kind == "geographic"

    @property
    def is_integer_dtype(self) -> bool:
        return np.issubdtype(np.dtype(self.dtype), np.integer)

    @property
    def minimum(self) -> float | None:
        return float(self.values.min()) if self.values.size else None

    @property
    def maximum(self) -> float | None:
        return float(self.values.max()) if self.values.size else None

    def distinct(self, limit: int = 256) -> np.ndarray | None:
        """The distinct sampled values, or None when there are more than `limit`."""
        values = np.unique(self.values)
        return values if values.size <= limit else None

    @property
    def all_integral(self) -> bool:
        return bool(self.values.size) and bool(np.all(np.mod(self.values, 1) == 0))


@dataclass(frozen=True)
class TableSample:
    """A CSV table: its columns (stripped) and first rows."""

    path: Path
    columns: list[str]
    sample: pd.DataFrame = field(repr=False)
    encoding: str = "utf-8"

    kind = "table"

    @property
    def label(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class Unreadable:
    """A file that looked like data but could not be read."""

    path: Path
    reason: str
    layer: str | None = None

    kind = "unreadable"

    @property
    def label(self) -> str:
        return f"{self.path.name}:{self.layer}" if self.layer else self.path.name


Sample = VectorSample | RasterSample | TableSample | Unreadable


# --------------------------------------------------------------------------- finding files


def data_files(folder: str | os.PathLike) -> list[Path]:
    """Vector, raster and CSV files under `folder`, sorted by path.

    Hidden files and folders, ``out/`` folders and carbonmap output folders are skipped; a
    FileGDB folder (``*.gdb``) counts as one vector source. Shapefile side-car files and GDAL
    ``.aux.xml`` files are not listed.
    """
    found = []
    for root, dirs, files in os.walk(folder):
        root_path = Path(root)
        if OUTPUT_MARKER in files and root_path != Path(folder):
            dirs[:] = []
            continue
        keep = []
        for name in sorted(dirs):
            if name.startswith(".") or name.lower() in SKIPPED_FOLDERS:
                continue
            if name.lower().endswith(".gdb"):
                found.append(root_path / name)
                continue
            keep.append(name)
        dirs[:] = keep
        for name in files:
            suffix = Path(name).suffix.lower()
            if name.startswith(".") or suffix not in VECTOR_SUFFIXES + RASTER_SUFFIXES + TABLE_SUFFIXES:
                continue
            found.append(root_path / name)
    return sorted(found)


def describe(path: str | os.PathLike) -> list[Sample]:
    """Describe one data file: a sample per vector layer, or one raster or table sample."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in RASTER_SUFFIXES:
        return [describe_raster(path)]
    if suffix in TABLE_SUFFIXES:
        return [describe_table(path)]
    try:
        import pyogrio

        layers = [str(name) for name in pyogrio.list_layers(path)[:, 0]]
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        if suffix == ".json":  # plain JSON, not GeoJSON: not data for carbonmap
            return []
        return [Unreadable(path, f"not readable as a vector data set ({_short(exc)})")]
    return [describe_vector(path, layer, layers_in_file=len(layers)) for layer in layers]


# --------------------------------------------------------------------------- vectors


def describe_vector(path: Path, layer: str, *, layers_in_file: int = 1) -> VectorSample | Unreadable:
    """Metadata and the first :data:`SAMPLE_FEATURES` features of one vector layer."""
    import pyogrio

    try:
        force = path.is_dir() or path.stat().st_size <= _FORCE_BOUNDS_MAX_BYTES
        info = pyogrio.read_info(path, layer=layer, force_feature_count=True, force_total_bounds=force)
        frame = pyogrio.read_dataframe(path, layer=layer, max_features=SAMPLE_FEATURES)
    except Exception as exc:
        return Unreadable(path, f"not readable ({_short(exc)})", layer=layer)
    geometry = frame.geometry if "geometry" in frame else None
    crs = _crs_text(info.get("crs"))
    bounds = info.get("total_bounds")
    if (bounds is None or not np.all(np.isfinite(bounds))) and geometry is not None and len(frame):
        bounds = tuple(geometry.total_bounds)  # from the sample only
    lonlat = _lonlat_bounds(bounds, info.get("crs"))
    family = _geometry_family(str(info.get("geometry_type") or ""), geometry)
    area, length = _median_sizes(frame, info.get("crs"), lonlat) if geometry is not None else (None, None)
    fields = {str(name): str(dtype) for name, dtype in zip(info["fields"], info["dtypes"])}
    attributes = pd.DataFrame(frame.drop(columns="geometry", errors="ignore"))
    return VectorSample(path, layer, family, int(info["features"]), crs, lonlat, fields, attributes,
                        median_area_m2=area, median_length_m=length, layers_in_file=layers_in_file,
                        crs_kind=_crs_kind(info.get("crs")))


_FAMILY_OF_TYPE = {"polygon": "polygon", "multipolygon": "polygon", "linestring": "line",
                   "multilinestring": "line", "point": "point", "multipoint": "point"}


def _geometry_family(declared: str, geometry) -> str:
    """'polygon', 'line', 'point' or 'none', from the declared type or the sampled geometries."""
    name = declared.lower().replace("3d ", "").replace(" z", "").replace(" m", "").strip()
    if name in _FAMILY_OF_TYPE:
        return _FAMILY_OF_TYPE[name]
    if geometry is None or len(geometry) == 0:
        return "none"
    kinds = geometry.dropna().geom_type.str.lower().map(_FAMILY_OF_TYPE).dropna()
    return kinds.mode().iloc[0] if len(kinds) else "none"


def _median_sizes(frame, crs, lonlat) -> tuple[float | None, float | None]:
    """Median area [m2] and length [m] of the sampled geometries."""
    import geopandas as gpd
    from pyproj import CRS

    geoms = gpd.GeoSeries(frame.geometry.values, crs=crs).dropna()
    geoms = geoms[~geoms.is_empty]
    if geoms.empty:
        return None, None
    if geoms.crs is None:
        if lonlat is None:
            return None, None
        geoms = geoms.set_crs("EPSG:4326")
    if not CRS.from_user_input(geoms.crs).is_projected:
        try:
            geoms = geoms.to_crs(geoms.estimate_utm_crs())
        except Exception:
            return None, None
    return float(geoms.area.median()), float(geoms.length.median())


# --------------------------------------------------------------------------- rasters


def describe_raster(path: Path) -> RasterSample | Unreadable:
    """Metadata, tags and a bounded sample of band 1 of a raster."""
    import rasterio

    try:
        with rasterio.open(path) as dataset:
            values = _sample_band(dataset)
            crs = dataset.crs
            tags = {k.lower(): str(v) for k, v in {**dataset.tags(), **dataset.tags(1)}.items()}
            if dataset.descriptions[0]:
                tags.setdefault("description", dataset.descriptions[0])
            if dataset.units and dataset.units[0]:
                tags.setdefault("unit", dataset.units[0])
            cell = None
            if crs is not None and crs.is_projected and crs.linear_units_factor[1]:
                cell = abs(dataset.res[0]) * crs.linear_units_factor[1]
            elif crs is not None and crs.is_geographic:
                cell = abs(dataset.res[1]) * _METRES_PER_DEGREE
            nodata = dataset.nodata
            return RasterSample(
                path, dataset.dtypes[0], (dataset.height, dataset.width), dataset.count, _crs_text(crs), cell,
                _lonlat_bounds(tuple(dataset.bounds), crs), None if nodata is None else float(nodata), tags, values,
                crs_kind=_crs_kind(crs),
            )
    except Exception as exc:
        return Unreadable(path, f"not readable as a raster ({_short(exc)})")


def _sample_band(dataset, max_cells: int = SAMPLE_CELLS) -> np.ndarray:
    """Valid values of band 1: a decimated read when cheap, else a grid of windows."""
    from rasterio.enums import Resampling
    from rasterio.windows import Window

    height, width = dataset.height, dataset.width
    cells = height * width
    if cells <= 16 * max_cells or dataset.overviews(1):
        step = max(1, math.ceil(math.sqrt(cells / max_cells)))
        data = dataset.read(1, out_shape=(max(1, height // step), max(1, width // step)),
                            resampling=Resampling.nearest, masked=True)
        chunks = [data]
    else:  # a large file without overviews: 8 x 8 windows spread over it
        side = int(math.sqrt(max_cells / 64))
        rows = np.linspace(0, height - side, 8).astype(int)
        cols = np.linspace(0, width - side, 8).astype(int)
        chunks = [dataset.read(1, window=Window(c, r, side, side), masked=True) for r in rows for c in cols]
    values = np.concatenate([np.ma.compressed(chunk).ravel() for chunk in chunks])
    if np.issubdtype(values.dtype, np.floating):
        values = values[np.isfinite(values)]
    return values


# --------------------------------------------------------------------------- tables


def describe_table(path: Path) -> TableSample | Unreadable:
    """The columns and first :data:`SAMPLE_ROWS` rows of a CSV file (UTF-8, else GB 18030)."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            frame = pd.read_csv(path, nrows=SAMPLE_ROWS, encoding=encoding, skipinitialspace=True)
        except UnicodeDecodeError:
            continue
        except Exception as exc:
            return Unreadable(path, f"not readable as CSV ({_short(exc)})")
        frame.columns = [str(c).strip() for c in frame.columns]
        return TableSample(path, list(frame.columns), frame, "utf-8" if encoding == "utf-8-sig" else encoding)
    return Unreadable(path, "not readable as CSV (neither UTF-8 nor GB 18030 text)")


# --------------------------------------------------------------------------- helpers


def _crs_text(crs) -> str | None:
    """'EPSG:4547' when the CRS has a code, else its name; None when there is none."""
    if crs is None or crs == "":
        return None
    from pyproj import CRS

    try:
        parsed = CRS.from_user_input(crs)
    except Exception:
        return str(crs)[:60]
    code = parsed.to_epsg(min_confidence=90)
    return f"EPSG:{code}" if code else parsed.name


def _crs_kind(crs) -> str | None:
    """'projected', 'geographic' or None (no CRS, or one pyproj cannot read)."""
    if crs is None or crs == "":
        return None
    from pyproj import CRS

    try:
        parsed = CRS.from_user_input(crs)
    except Exception:
        return None
    return "projected" if parsed.is_projected else "geographic" if parsed.is_geographic else None


def _lonlat_bounds(bounds, crs) -> tuple[float, float, float, float] | None:
    """`bounds` in lon/lat degrees; for a layer without a CRS, the bounds if they look like lon/lat."""
    if bounds is None or len(bounds) != 4 or not np.all(np.isfinite(bounds)):
        return None
    if crs is None or crs == "":
        west, south, east, north = bounds
        looks_lonlat = -180 <= west <= east <= 180 and -90 <= south <= north <= 90
        return tuple(float(b) for b in bounds) if looks_lonlat else None
    from pyproj import CRS, Transformer

    try:
        transformer = Transformer.from_crs(CRS.from_user_input(crs), "EPSG:4326", always_xy=True)
        return tuple(float(b) for b in transformer.transform_bounds(*bounds))
    except Exception:
        return None


def _short(exc: Exception) -> str:
    """The first line of an exception's message, shortened."""
    text = re.sub(r"\s+", " ", str(exc)).strip() or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."
