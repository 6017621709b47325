"""Reading and writing: validated inputs and atomic outputs.

Everything carbonmap reads from disk goes through this module, which checks it once and
says precisely what is wrong (file, layer, field, fix) through :mod:`carbonmap.errors`.
Everything it writes goes to a temporary file beside the target and is renamed into
place only when complete (:func:`atomic_path`), so an interrupted run never leaves a
half-written GeoPackage or GeoTIFF and never corrupts an existing one.

Vectors are read with pyogrio, rasters with rasterio. Analyses never call this module;
:mod:`carbonmap.pipeline` and the CLI do.
"""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import hashlib
import os
import secrets
import shutil
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyogrio.errors
import pyproj.exceptions
import rasterio
import rasterio.errors
import rasterio.io
import rasterio.shutil
import shapely
from affine import Affine
from pyproj import CRS
from rasterio.enums import Resampling
from rasterio.windows import Window

from carbonmap.errors import (
    CRSError,
    EmptyInputError,
    EncodingGuessedWarning,
    GeometryError,
    GeometryRepairedWarning,
    InputError,
    InputNotFoundError,
    MissingColumnError,
    NonFiniteValuesWarning,
    OutputError,
    compose_message,
)

__all__ = [
    "GEOMETRY_KINDS",
    "NULL_GEOMETRY",
    "atomic_path",
    "read_vector",
    "repair_geometries",
    "reproject",
    "require_columns",
    "SOURCE_TAG",
    "ABSURD_MAGNITUDE",
    "RasterSource",
    "open_raster",
    "RasterRef",
    "read_raster",
    "check_class_codes",
    "decode_text",
    "read_text",
    "read_csv",
    "write_geopackage",
    "RasterClass",
    "write_raster_description",
    "cog_writer",
    "write_cog",
    "write_csv",
]

#: Geometry families a layer can be required to have, and the OGC types in each.
GEOMETRY_KINDS: dict[str, tuple[str, ...]] = {
    "polygon": ("Polygon", "MultiPolygon"),
    "line": ("LineString", "MultiLineString"),
    "point": ("Point", "MultiPoint"),
}

# --------------------------------------------------------------------------- atomic


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, copy_existing: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `path`; move it onto `path` only on success.

    The temporary file keeps the target's suffix (GDAL picks drivers by extension) and
    lives in the same directory, so the final :func:`os.replace` is atomic on POSIX and
    Windows. If the block raises (including ``KeyboardInterrupt``), the temporary file
    is removed and `path` is left exactly as it was.

    Parameters
    ----------
    path : path-like
        The final output path. Its directory is created if needed.
    copy_existing : bool, default False
        Start from a copy of the existing file (to add layers to a GeoPackage).
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"cannot create the output directory: {exc.strerror}.",
            path=target.parent,
            fix="choose an output directory you can write to.",
        ) from exc
    tmp = target.with_name(f".{target.stem}.tmp-{secrets.token_hex(4)}{target.suffix}")
    try:
        if copy_existing and target.exists():
            shutil.copy2(target, tmp)
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


# --------------------------------------------------------------------------- vectors


def require_columns(
    frame: pd.DataFrame,
    columns: Sequence[str],
    *,
    path: str | os.PathLike | None = None,
    layer: str | None = None,
) -> None:
    """Check that a table has the columns an analysis needs.

    Parameters
    ----------
    frame : DataFrame or GeoDataFrame
        The table read from the user's file.
    columns : sequence of str
        The columns it must have.
    path : path-like, optional
        The file, for the message.
    layer : str, optional
        The layer, for the message.

    Raises
    ------
    MissingColumnError
        Naming every missing column and the columns the layer has.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        available = ", ".join(str(c) for c in frame.columns if c != "geometry") or "none"
        raise MissingColumnError(
            f"missing column(s) {', '.join(map(repr, missing))}; the layer has: {available}.",
            path=path,
            layer=layer,
            field=missing[0],
            fix="rename the field in the data, or point the project file's *_field "
            "setting at the right column.",
        )


def repair_geometries(
    gdf: gpd.GeoDataFrame,
    *,
    kind: str | None = None,
    path: str | os.PathLike | None = None,
    layer: str | None = None,
    null_geometry: str = "drop",
    id_field: str | None = None,
) -> gpd.GeoDataFrame:
    """Make geometries valid, drop null and empty ones, and say how many of each.

    Parameters
    ----------
    gdf : GeoDataFrame
        The features as read.
    kind : {'polygon', 'line', 'point'}, optional
        The geometry family expected; only its parts are kept after repair (a bow-tie polygon
        becomes a MultiPolygon; a collapsed sliver that becomes a line is dropped).
    path : path-like, optional
        The file, for messages.
    layer : str, optional
        The layer, for messages.
    null_geometry : {'drop', 'error'}
        Drop features without geometry (null, empty, or collapsed by the repair), or raise a
        :class:`GeometryError` listing them (by 1-based row in the layer, and by `id_field` when
        given).
    id_field : str, optional
        Attribute that names features in messages.

    Returns
    -------
    GeoDataFrame
        A copy with valid geometries; ``attrs['carbonmap_repairs']`` holds the counts
        ``{"repaired": n, "dropped": m}``, which a :class:`GeometryRepairedWarning` also reports.

    Raises
    ------
    GeometryError
        If `kind` is given and geometries of another family are present, or features have no
        geometry and `null_geometry` is "error".
    EmptyInputError
        If no geometry is left.

    Notes
    -----
    Invalid geometries are repaired with :func:`shapely.make_valid` (the 'structure' method,
    which keeps the area of self-intersecting rings).
    """
    geoms = gdf.geometry.values
    if kind is not None:
        allowed = GEOMETRY_KINDS[kind]
        types = shapely.get_type_id(geoms)
        names = np.array(["Point", "LineString", "LinearRing", "Polygon", "MultiPoint",
                          "MultiLineString", "MultiPolygon", "GeometryCollection"])
        present = {names[t] for t in np.unique(types[types >= 0])}
        wrong = sorted(present - set(allowed) - {"GeometryCollection"})
        if wrong:
            raise GeometryError(
                f"expected {kind} geometries but found {', '.join(wrong)}.",
                path=path,
                layer=layer,
                fix=f"give a layer of {kind}s here (check the layer name).",
            )
    invalid = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
    n_invalid = int(invalid.sum())
    if n_invalid:
        geoms = geoms.copy()
        geoms[invalid] = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
    if kind is not None:  # collections (from repair or from the file): keep the wanted parts
        mixed = ~np.isin(shapely.get_type_id(geoms), [-1, *_FAMILY_TYPE_IDS[kind]])
        if mixed.any():
            geoms = geoms.copy()
            geoms[mixed] = _keep_family(geoms[mixed], kind)
    dropped = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    n_dropped = int(dropped.sum())
    if n_dropped and null_geometry == "error":
        rows = np.flatnonzero(dropped)
        listed = ", ".join(f"row {i + 1}" + (f" ({id_field} {gdf[id_field].iloc[i]!r})" if id_field else "")
                           for i in rows[:20])
        raise GeometryError(
            f"{n_dropped} feature(s) have no geometry (null, empty, or collapsed when repaired): {listed}"
            f"{', ...' if n_dropped > 20 else ''}.", path=path, layer=layer,
            fix="draw or restore their geometry in a GIS, or delete them from the layer; these features "
            "must not silently vanish from the results.")
    out = gdf.copy()
    out.geometry = geoms
    if n_dropped:
        out = out.loc[~dropped].copy()
    out.attrs["carbonmap_repairs"] = {"repaired": n_invalid, "dropped": n_dropped}
    if n_invalid or n_dropped:
        warnings.warn(compose_message(
            f"repaired {n_invalid} invalid geometries with make_valid and dropped {n_dropped} null or empty ones "
            f"(of {len(gdf)}).", path=path or "input", layer=layer,
            fix="nothing, if the counts are expected; otherwise check those features in a GIS (the file itself "
            "is not changed)."), GeometryRepairedWarning, stacklevel=2)
    if out.empty:
        raise EmptyInputError(
            "no usable geometry is left after dropping null and empty ones.",
            path=path,
            layer=layer,
            fix="check the layer in a GIS; it may be the wrong layer or an empty export.",
        )
    return out


_FAMILY_TYPE_IDS = {"polygon": (3, 6), "line": (1, 5), "point": (0, 4)}


def _keep_family(geoms: np.ndarray, kind: str) -> np.ndarray:
    """Keep only the parts of `kind` ('polygon', 'line', 'point') of each geometry."""
    type_ids = _FAMILY_TYPE_IDS[kind]
    out = np.empty(len(geoms), dtype=object)
    for i, geom in enumerate(geoms):
        parts = shapely.get_parts(geom)
        keep = parts[np.isin(shapely.get_type_id(parts), type_ids)]
        if len(keep) == 0:
            out[i] = None
        elif len(keep) == 1:
            out[i] = keep[0]
        else:
            # flatten nested multi-parts, then rebuild one multi-geometry
            flat = shapely.get_parts(keep)
            out[i] = {"polygon": shapely.multipolygons, "line": shapely.multilinestrings,
                      "point": shapely.multipoints}[kind](flat)
    return out


#: What :func:`read_vector` does with features without geometry (null, empty, or collapsed by repair).
NULL_GEOMETRY = ("drop", "error")
#: The encoding tried for a Shapefile's attributes that declare none and are not UTF-8.
GUESSED_ENCODING = "gb18030"


def read_vector(
    path: str | os.PathLike,
    *,
    layer: str | None = None,
    columns: Sequence[str] = (),
    kind: str | None = None,
    assume_crs: Any = None,
    datum: str = "wgs84",
    to_crs: Any = None,
    encoding: str | None = None,
    null_geometry: str = "drop",
    id_field: str | None = None,
    max_features: int | None = None,
    other_columns: bool | Sequence[str] = True,
) -> gpd.GeoDataFrame:
    """Read a vector layer and validate it once.

    Parameters
    ----------
    path : path-like
        Any OGR vector source (GeoPackage, Shapefile, GeoJSON, FlatGeobuf, ...).
    layer : str, optional
        Layer name; required when the source has several layers.
    columns : sequence of str
        Attribute fields that must exist.
    kind : {'polygon', 'line', 'point'}, optional
        Required geometry family (checked, and kept after repair).
    assume_crs : CRS-like, optional
        CRS to use when the file declares none. A file that declares one keeps its own.
    datum : {'wgs84', 'gcj02'}
        'gcj02' declares that the lon/lat coordinates are in GCJ-02, the offset system of
        Chinese web maps; they are converted to WGS84 with
        :func:`carbonmap.gcj02.gcj02_to_wgs84` before anything else.
    to_crs : CRS-like, optional
        Reproject to this CRS after validation (the pipeline passes the analysis CRS).
    encoding : str, optional
        Text encoding of the attributes (any codec Python knows: "gbk", "gb18030", "utf-8",
        "latin1"), for files that do not declare theirs. Default: the file's own (a
        Shapefile's .cpg); for a Shapefile without one, UTF-8, else GB18030 (the Chinese
        Windows encoding) when that decodes every value, said with an
        :class:`~carbonmap.errors.EncodingGuessedWarning`.
    null_geometry : {'drop', 'error'}
        Features without geometry (null, empty, or collapsed when repaired): dropped with a
        :class:`~carbonmap.errors.GeometryRepairedWarning`, or a :class:`GeometryError` listing
        them (for planning units, which must never vanish).
    id_field : str, optional
        Attribute that names features in messages (e.g. the planning units' id).
    max_features : int, optional
        Read (and check) only the first features: a sample, to check a layer without reading it all.
    other_columns : bool or sequence of str
        Which of the layer's fields not named in `columns` or `id_field` to read too: all of them
        (True), none (False), or those of the named ones the layer has (optional fields). Reading
        fewer fields takes half the time on 3 million buildings.

    Returns
    -------
    GeoDataFrame
        Valid, non-empty geometries with a CRS.

    Raises
    ------
    InputNotFoundError, InputError, EmptyInputError, CRSError, MissingColumnError,
    GeometryError
        Each naming the file, layer or field, and the fix.
    """
    src = Path(path)
    if not src.exists():
        raise InputNotFoundError(
            "file not found.", path=src, fix="check the path (relative paths in a project "
            "file are relative to the project file's folder)."
        )
    if encoding is not None:
        _check_encoding(encoding, src)
    if null_geometry not in NULL_GEOMETRY:
        raise InputError(f"unknown null_geometry {null_geometry!r}.", path=src,
                         fix=f"use one of {', '.join(NULL_GEOMETRY)}.")
    _check_shapefile_parts(src)
    try:
        layers = [str(name) for name in pyogrio.list_layers(src)[:, 0]]
    except Exception as exc:  # pyogrio raises DataSourceError and friends
        raise InputError(
            f"cannot be read as a vector dataset ({exc}).",
            path=src,
            fix="give a GeoPackage, Shapefile, GeoJSON or other OGR-readable file; if it is one, it is "
            "damaged or incomplete: re-export or re-download it.",
        ) from exc
    if layer is None and len(layers) > 1:
        raise InputError(
            f"has {len(layers)} layers ({', '.join(layers)}) and no layer was named.",
            path=src,
            fix="name the layer (project file: layer = \"...\"; CLI: --layer).",
        )
    if layer is not None and layer not in layers:
        raise InputNotFoundError(
            f"no layer {layer!r}; the file has: {', '.join(layers)}.",
            path=src,
            fix="correct the layer name.",
        )
    layer_name = layer if layer is not None else layers[0]
    shown_layer = layer  # only name the layer in messages when the user named it
    guess = encoding is None and _undeclared_shapefile_encoding(src)
    wanted = list(dict.fromkeys([*columns, *([id_field] if id_field else [])]))  # each named once
    fields = None if other_columns is True or guess else _fields_if_present(
        src, layer_name, encoding, wanted, optional=[] if other_columns is False else list(other_columns))
    gdf = _read_features(src, layer_name, shown_layer, "latin1" if guess else encoding, max_features, fields)
    if guess:
        gdf = _decode_undeclared(gdf, src)
    if not isinstance(gdf, gpd.GeoDataFrame) or getattr(gdf, "_geometry_column_name", None) not in gdf.columns:
        raise InputError("the layer has no geometries (a table, not a map layer).", path=src, layer=shown_layer,
                         fix="give a GeoPackage layer, a shapefile or a GeoJSON file of the features.")
    if len(gdf) == 0:
        raise EmptyInputError(
            "the layer has no features.", path=src, layer=shown_layer,
            fix="check that the right file and layer were given.",
        )
    require_columns(gdf, wanted, path=src, layer=shown_layer)
    if gdf.crs is None:
        if assume_crs is None:
            raise CRSError(
                "the layer declares no coordinate reference system.",
                path=src,
                layer=shown_layer,
                fix="add a .prj / define the CRS in a GIS, or declare it: project file "
                "assume_crs = \"EPSG:4326\" for this input, CLI --assume-crs, Python assume_crs=.",
            )
        gdf = gdf.set_crs(_assumed_crs(assume_crs, src))
    gdf = repair_geometries(gdf, kind=kind, path=src, layer=shown_layer, null_geometry=null_geometry,
                            id_field=id_field)
    _check_lonlat_range(gdf, src, shown_layer)
    if datum == "gcj02":
        from carbonmap.gcj02 import gcj02_frame_to_wgs84

        gdf = gcj02_frame_to_wgs84(gdf, path=src)
    elif datum != "wgs84":
        raise InputError(
            f"unknown datum {datum!r}.", path=src, fix="use 'wgs84' or 'gcj02'."
        )
    if to_crs is not None:
        gdf = reproject(gdf, to_crs, kind=kind, release=True)
    return gdf


def _assumed_crs(value: Any, path) -> CRS:
    """The CRS a user declares for an input that has none (project file assume_crs, --assume-crs)."""
    try:
        return CRS.from_user_input(value)
    except pyproj.exceptions.CRSError as exc:
        raise CRSError(f"{value!r} is not a CRS pyproj knows.", path=path, key="assume_crs",
                       fix="give an EPSG code such as \"EPSG:4326\" (lon/lat) or \"EPSG:4547\".") from exc


def _check_encoding(encoding: str, path: Path) -> None:
    try:
        codecs.lookup(encoding)
    except (LookupError, TypeError):
        raise InputError(f"unknown encoding {encoding!r}.", path=path, key="encoding",
                         fix="use a codec name Python knows, e.g. 'gbk', 'gb18030', 'utf-8' or 'latin1'.") from None


def _sibling(path: Path, suffix: str) -> Path | None:
    """The file beside `path` with `suffix` (either case), or None."""
    for candidate in (path.with_suffix(suffix.lower()), path.with_suffix(suffix.upper())):
        if candidate.exists():
            return candidate
    return None


def _check_shapefile_parts(path: Path) -> None:
    """A Shapefile needs its .shx (feature index) and .dbf (attributes) beside the .shp, each as
    long as its header says (GDAL reads the features of a cut .shp as empty, without a word)."""
    if path.suffix.lower() != ".shp":
        return
    for suffix, holds in ((".shx", "feature index"), (".dbf", "attribute table")):
        if _sibling(path, suffix) is None:
            raise InputNotFoundError(
                f"the Shapefile's {holds} {path.with_suffix(suffix).name} is missing.", path=path,
                fix="copy every part of the Shapefile together (.shp, .shx, .dbf, .prj, .cpg), "
                "or export the layer as a GeoPackage.",
            )
    for part in (path, _sibling(path, ".shx"), _sibling(path, ".dbf")):
        expected, actual = _declared_size(part), part.stat().st_size
        if expected is not None and actual < expected:
            raise InputError(
                f"the Shapefile is damaged or incomplete: {part.name} has {actual:,} of the {expected:,} bytes its "
                "header declares.", path=path,
                fix="re-export or re-download it (every part of it; an interrupted copy is the usual cause).")


#: First byte of a dBASE file (.dbf): its version (dBASE III-V, FoxPro, Visual FoxPro; with or without memo).
_DBF_VERSIONS = frozenset({0x02, 0x03, 0x04, 0x05, 0x30, 0x31, 0x32, 0x43, 0x63, 0x83, 0x8B, 0x8E, 0xCB, 0xF5, 0xFB})


def _declared_size(part: Path) -> int | None:
    """The size [bytes] a Shapefile part's header declares (.shp, .shx: file length in 16-bit
    words; .dbf: header + records), or None when the header is not one."""
    with open(part, "rb") as handle:
        header = handle.read(100)
    if part.suffix.lower() in (".shp", ".shx"):
        if len(header) < 100 or int.from_bytes(header[0:4], "big") != 9994:  # the Shapefile file code
            return None
        return int.from_bytes(header[24:28], "big") * 2
    if len(header) < 12 or header[0] not in _DBF_VERSIONS:
        return None
    records, header_size, record_size = (int.from_bytes(header[4:8], "little"), int.from_bytes(header[8:10], "little"),
                                         int.from_bytes(header[10:12], "little"))
    return header_size + records * record_size


def _undeclared_shapefile_encoding(path: Path) -> bool:
    """True for a Shapefile that declares no encoding: no .cpg and no code page in its .dbf
    (GDAL would then read its bytes as ISO-8859-1, turning Chinese text into mojibake)."""
    if path.suffix.lower() != ".shp" or _sibling(path, ".cpg") is not None:
        return False
    with open(_sibling(path, ".dbf"), "rb") as dbf:
        header = dbf.read(32)
    return len(header) == 32 and header[29] == 0  # byte 29: the language driver id (code page)


def _fields_if_present(path: Path, layer: str, encoding: str | None, wanted: list[str], *,
                       optional: list[str]) -> list[str] | None:
    """`wanted` and those of the `optional` fields the layer has, when it has every one of
    `wanted`; else None (read them all, so that the missing ones are named with the fields the
    layer has)."""
    try:
        fields = {str(f) for f in pyogrio.read_info(path, layer=layer, encoding=encoding)["fields"]}
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, UnicodeDecodeError):
        return None  # the read says what is wrong
    if not set(wanted) <= fields:
        return None
    return list(dict.fromkeys([*wanted, *(f for f in optional if f in fields)]))


def _read_features(path: Path, layer: str, shown_layer: str | None, encoding: str | None,
                   max_features: int | None = None, columns: list[str] | None = None) -> gpd.GeoDataFrame:
    try:
        return pyogrio.read_dataframe(path, layer=layer, encoding=encoding, max_features=max_features,
                                      columns=columns)
    except UnicodeDecodeError as exc:
        raise InputError(f"its attributes are not {encoding} text ({exc.reason}).", path=path,
                         layer=shown_layer, key="encoding",
                         fix="set encoding to the file's real one (Chinese data: \"gbk\" or \"gb18030\").") from None
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:  # and their subclasses
        raise InputError(
            f"cannot be read: the file is damaged or incomplete ({exc}).", path=path, layer=shown_layer,
            fix="re-export or re-download it (every part, for a Shapefile).",
        ) from exc


def _decode_undeclared(gdf: gpd.GeoDataFrame, path: Path) -> gpd.GeoDataFrame:
    """Attributes and field names read byte for byte (as latin-1), decoded as UTF-8, else as
    :data:`GUESSED_ENCODING` with a warning; an error when neither decodes them."""
    text_columns = [c for c in gdf.columns if c != gdf.geometry.name
                    and (pd.api.types.is_string_dtype(gdf[c].dtype) or pd.api.types.is_object_dtype(gdf[c].dtype))]
    for encoding in ("utf-8", GUESSED_ENCODING):
        try:
            names = [_recode(str(c), encoding) if c != gdf.geometry.name else c for c in gdf.columns]
            values = {c: [_recode(v, encoding) for v in gdf[c]] for c in text_columns}
        except UnicodeDecodeError:
            continue
        out = gdf.copy()
        for column, decoded in values.items():
            out[column] = pd.Series(decoded, index=gdf.index, dtype=gdf[column].dtype)
        out.columns = names
        out = out.set_geometry(gdf.geometry.name)
        if encoding != "utf-8":
            warnings.warn(compose_message(
                f"declares no encoding (no .cpg file) and its attributes are not UTF-8; read as {encoding.upper()} "
                "(GBK), the Chinese Windows encoding.", path=path,
                fix="if the text looks wrong, set the layer's encoding explicitly (project file encoding = "
                "\"...\", Python encoding=); add a .cpg file with the encoding's name to make it permanent."),
                EncodingGuessedWarning, stacklevel=3)
        return out
    raise InputError(
        f"declares no encoding (no .cpg file) and its attributes are neither UTF-8 nor {GUESSED_ENCODING.upper()} "
        "text.", path=path, key="encoding",
        fix="set the layer's encoding (project file encoding = \"latin1\", Python encoding=...), or add a .cpg "
        "file holding the encoding's name.")


def _recode(value: Any, encoding: str) -> Any:
    """A string read as latin-1 (one character per byte) decoded as `encoding`; others unchanged."""
    return value.encode("latin-1").decode(encoding) if isinstance(value, str) else value


def reproject(frame: gpd.GeoDataFrame, crs: Any, *, kind: str | None = None,
              release: bool = False) -> gpd.GeoDataFrame:
    """Reproject `frame`, repairing geometries that reprojection made invalid.

    Parameters
    ----------
    frame : GeoDataFrame with a CRS
        Valid features.
    crs : CRS-like
        The target CRS.
    kind : {'polygon', 'line', 'point'}, optional
        The geometry family to keep in repaired features.
    release : bool
        Take `frame`'s geometries over: its geometry column is removed, and each run of
        :data:`REPROJECT_FEATURES` features lets its old geometries go as soon as it is
        reprojected, so the layer is never held twice (3 million buildings: 1.4 GB). For a
        frame just read, which nothing else uses.

    Returns
    -------
    GeoDataFrame
        `frame` itself when it is already in `crs`, else a reprojected copy.

    Notes
    -----
    Rounding in a coordinate transformation can turn a valid sliver into a self-intersecting
    ring. Such artefacts are repaired with :func:`shapely.make_valid` (keeping the parts of
    `kind`) without a warning: the input was valid, so there is nothing for the user to fix.
    """
    target = CRS.from_user_input(crs)
    if frame.crs == target:
        return _repaired_after_reprojection(frame, kind)
    if not release:
        return _repaired_after_reprojection(frame.to_crs(target), kind)
    name, source, order = frame.geometry.name, frame.crs, list(frame.columns)
    geometries = np.array(frame.geometry.values, dtype=object)  # the only references once the column goes
    rest = pd.DataFrame(frame.drop(columns=name))
    del frame[name]
    for start in range(0, len(geometries), REPROJECT_FEATURES):
        run = slice(start, start + REPROJECT_FEATURES)
        geometries[run] = gpd.GeoSeries(geometries[run], crs=source).to_crs(target).values
    out = gpd.GeoDataFrame(rest, geometry=gpd.GeoSeries(geometries, index=rest.index, crs=target, name=name))[order]
    return _repaired_after_reprojection(out, kind)


#: Features reprojected at once by :func:`reproject` with ``release``.
REPROJECT_FEATURES = 100_000


def _repaired_after_reprojection(out: gpd.GeoDataFrame, kind: str | None) -> gpd.GeoDataFrame:
    """`out` with the geometries a reprojection made invalid repaired (see :func:`reproject`)."""
    geoms = out.geometry.values
    invalid = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
    if invalid.any():
        geoms = geoms.copy()
        geoms[invalid] = shapely.make_valid(geoms[invalid], method="structure", keep_collapsed=False)
        if kind is not None:
            geoms[invalid] = _keep_family(geoms[invalid], kind)
        out = out.copy()
        out.geometry = geoms
    return out


def _check_lonlat_range(gdf: gpd.GeoDataFrame, path: Path, layer: str | None) -> None:
    """Refuse projected coordinates labelled as longitude/latitude.

    GeoJSON without a ``crs`` member is WGS84 by definition, so a GeoJSON export of
    metre coordinates silently claims degrees; so does a wrong .prj.
    """
    if not gdf.crs.is_geographic:
        return
    xmin, ymin, xmax, ymax = gdf.total_bounds
    if xmin < -180.5 or xmax > 360.5 or ymin < -90.5 or ymax > 90.5:
        raise CRSError(
            f"the layer claims {gdf.crs.name} (degrees) but its coordinates span "
            f"x {xmin:.6g}..{xmax:.6g}, y {ymin:.6g}..{ymax:.6g}, which are not degrees.",
            path=path,
            layer=layer,
            fix="the file's CRS is wrong or missing (GeoJSON implies WGS84): export it with its real CRS "
            "(a Shapefile: correct its .prj), or correct the project file's assume_crs for it.",
        )


# --------------------------------------------------------------------------- rasters


#: Tag of an aligned copy (written by :func:`carbonmap.grid.align_raster`) naming the user's raster it
#: was made from, so that messages about the copy name the user's file.
SOURCE_TAG = "CARBONMAP_SOURCE"
#: Cells of floating-point rasters at or beyond this magnitude are fill values, not data (float32's
#: largest value is 3.4e38; no physical quantity carbonmap maps comes near 1e30).
ABSURD_MAGNITUDE = 1e30

#: Cells per block of :meth:`RasterSource.invalid`'s temporaries (64 KB of bool: reused heap memory).
_MASK_BLOCK = 2**16

_REUSED: dict[tuple[int, str], np.ndarray] = {}  # (thread, name) -> array
_REUSED_LOCK = threading.Lock()


def _reused_array(name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """This thread's array `name` of `shape` and `dtype`, the memory of its last call reused
    (contents undefined)."""
    size, dtype, key = int(np.prod(shape)), np.dtype(dtype), (threading.get_ident(), name)
    with _REUSED_LOCK:
        held = _REUSED.get(key)
    if held is None or held.dtype != dtype or held.size < size:
        held = np.empty(size, dtype=dtype)
        with _REUSED_LOCK:
            _REUSED[key] = held
    return held[:size].reshape(shape)


def release_reused_arrays() -> None:
    """Let go of every thread's arrays kept for reused reads (:meth:`RasterSource.read`)."""
    with _REUSED_LOCK:
        _REUSED.clear()


def damaged_raster_error(name: str, exc: Exception) -> InputError:
    """The error for a raster whose cells cannot be read (truncated or corrupted file)."""
    while exc.__cause__ is not None or exc.__context__ is not None:  # GDAL's own message is the first one
        exc = exc.__cause__ or exc.__context__
    return InputError(
        f"cannot be read: the file is damaged or incomplete (GDAL: {str(exc)[:200]}).", path=name,
        fix="re-export or re-download it (an interrupted copy is the usual cause; "
        "gdalinfo -checksum FILE shows where it breaks).",
    )


@dataclass
class RasterSource:
    """One band of a raster, on disk or in memory, read window by window.

    A thin, uniform view used by the zonal engine and the grid module, so that every
    raster analysis takes either a file or an array. Cells equal to `nodata`, NaN cells of
    floating-point rasters, and their infinite or absurd cells (:data:`ABSURD_MAGNITUDE`) are
    masked; the last are counted in `nonfinite_cells`, and :func:`open_raster` reports them
    with a :class:`~carbonmap.errors.NonFiniteValuesWarning` when the raster is closed.

    Attributes
    ----------
    name : str
        What to call the raster in messages: the user's file (for an aligned copy, the file
        it was made from and the copy by its place in the outputs, "dem.tif (aligned to the
        analysis grid as rasters/elevation.tif)"), or 'array'.
    shape : (rows, cols)
    transform : affine.Affine
    crs : pyproj.CRS or None
    nodata : float or None
    dtype : numpy.dtype
    dataset : rasterio dataset, or None for arrays
        Open only inside :func:`open_raster`'s ``with`` block.
    band : int
        1-based band number in `dataset`.
    array : ndarray or None
        The data, for rasters held in memory.
    path : str or None
        The file actually read (None for arrays).
    origin : str or None
        The user's file: `path`, or for an aligned copy the file it was made from.
    nonfinite_cells : int
        Infinite or absurd cells read so far (masked as nodata).
    """

    name: str
    shape: tuple[int, int]
    transform: Affine
    crs: CRS | None
    nodata: float | None
    dtype: np.dtype
    dataset: Any = None
    band: int = 1
    array: np.ndarray | None = None
    path: str | None = None
    origin: str | None = None
    nonfinite_cells: int = 0
    reopenable: bool = False

    def read(self, window: Window | None = None, *, reuse: bool = False) -> np.ma.MaskedArray:
        """Read `window` (default: everything) as a masked array.

        With `reuse`, a file's cells and the mask are read into arrays this thread keeps for its
        next such read, which overwrites them: for tasks that read one strip, reduce it and
        return something else. A strip-sized array allocated afresh is mapped anew by the C
        allocator and costs a page fault for every 4 KB it touches (about a tenth of the zonal
        statistics' time on the 10k² benchmark). A thread holds those of its largest such read (about 5 bytes a cell
        for float32) until :func:`release_reused_arrays`.

        A read that fails (a truncated or corrupted file) raises :class:`InputError` naming the
        user's file.
        """
        if self.array is not None:
            data = self.array if window is None else self.array[window.toslices()]
        else:
            shape = self.shape if window is None else (int(window.height), int(window.width))
            out = _reused_array("cells", shape, self.dtype) if reuse else None
            try:
                data = self.dataset.read(self.band, window=window, out=out)
            except rasterio.errors.RasterioError as exc:
                raise damaged_raster_error(self.name, exc) from exc
        mask = self.invalid(data, out=_reused_array("mask", data.shape, bool) if reuse else None)
        if np.issubdtype(data.dtype, np.floating) and mask.any():
            newly = mask if np.ma.getmask(data) is np.ma.nomask else mask & ~np.ma.getmaskarray(data)
            self.nonfinite_cells += int(np.count_nonzero(_absurd(np.ma.getdata(data)[newly], self.nodata)))
        return np.ma.MaskedArray(data, mask=mask, copy=False)

    def invalid(self, data: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
        """Boolean mask of nodata cells in `data` (into `out` if given): equal to `nodata`, NaN,
        infinite, absurd (at least :data:`ABSURD_MAGNITUDE`), or masked.

        Computed a few rows at a time, so its temporaries are small memory used again."""
        plain = np.ma.getdata(data)
        mask = np.empty(plain.shape, dtype=bool) if out is None else out
        floating = np.issubdtype(plain.dtype, np.floating)
        nodata = self.nodata if self.nodata is not None and not np.isnan(self.nodata) else None
        rows = max(1, _MASK_BLOCK // max(1, int(np.prod(plain.shape[1:]))))
        for start in range(0, len(plain), rows):
            part, into = plain[start:start + rows], mask[start:start + rows]
            if floating:
                np.greater(part, -ABSURD_MAGNITUDE, out=into)
                into &= part < ABSURD_MAGNITUDE
                np.logical_not(into, out=into)  # NaN fails every comparison
            else:
                into[...] = False
            if nodata is not None:
                into |= part == nodata
        if np.ma.getmask(data) is not np.ma.nomask:
            mask |= np.ma.getmaskarray(data)
        return mask

    @property
    def is_geographic(self) -> bool:
        return self.crs is not None and self.crs.is_geographic

    def ref(self) -> RasterRef:
        """This raster as a :class:`RasterRef`, for tasks that read it in other threads or processes
        (a rasterio dataset serves one thread)."""
        if self.reopenable:
            return RasterRef(self.path, self.band, self.crs, self.nodata)
        return RasterRef(self.path, self.band, self.crs, self.nodata, source=self)


def _absurd(data: np.ndarray, nodata: float | None) -> np.ndarray:
    """Cells of a float array that are infinite or at least :data:`ABSURD_MAGNITUDE`, other than `nodata`."""
    absurd = np.abs(np.ma.getdata(data)) >= ABSURD_MAGNITUDE
    if nodata is not None and not np.isnan(nodata):
        absurd &= np.ma.getdata(data) != nodata
    return absurd


def nonfinite_cells(data: np.ma.MaskedArray, nodata: float | None) -> int:
    """How many cells of `data`, as :meth:`RasterSource.read` returns it from a file, hold
    infinite or absurd values (which the read masked), other than `nodata`."""
    if not np.issubdtype(data.dtype, np.floating):
        return 0
    return int(np.count_nonzero(_absurd(data, nodata)))


def _report_nonfinite(src: RasterSource) -> None:
    if src.nonfinite_cells:
        warnings.warn(compose_message(
            f"{src.nonfinite_cells:,} cells hold infinite or absurd values (|v| >= {ABSURD_MAGNITUDE:g}, "
            "typically an undeclared fill value); they are treated as nodata.", path=src.name,
            fix="declare the fill value as the raster's nodata (gdal_edit.py -a_nodata VALUE FILE), "
            "or correct those cells."), NonFiniteValuesWarning, stacklevel=4)


@contextlib.contextmanager
def open_raster(
    raster: Any,
    *,
    band: int = 1,
    transform: Affine | None = None,
    crs: Any = None,
    nodata: float | None = None,
    require_crs: bool = True,
) -> Iterator[RasterSource]:
    """Open a raster file, a rasterio dataset or a 2-D array as a :class:`RasterSource`.

    Parameters
    ----------
    raster : path-like, rasterio dataset, or 2-D array (masked arrays keep their mask)
        The raster.
    band : int
        1-based band number (files and datasets).
    transform : affine.Affine, optional
        Georeferencing of an array (required for arrays).
    crs : CRS-like, optional
        The CRS of an array; for a file, used only when the file has none.
    nodata : float, optional
        The nodata value of an array; for a file, used only when the file declares none.
    require_crs : bool
        Raise :class:`CRSError` when no CRS is known.

    Yields
    ------
    RasterSource
        Reads windows as masked arrays, in the raster's unit.

    Raises
    ------
    InputNotFoundError
        For a missing file or band.
    InputError
        For a file that is not a readable raster, or an array that is not 2-D or has no
        transform.
    CRSError
        When no CRS is known and `require_crs` is true.

    Notes
    -----
    Infinite or absurd cells read inside the block are reported, once, when it ends
    (:class:`~carbonmap.errors.NonFiniteValuesWarning`, naming the user's file and the count).
    """
    if isinstance(raster, np.ndarray):
        if raster.ndim != 2:
            raise InputError(f"expected a 2-D array, got shape {raster.shape}.", path="array",
                             fix="pass one band (array[band_index]).")
        if transform is None:
            raise InputError("an array needs its transform.", path="array",
                             fix="pass transform=Affine(...) (e.g. from rasterio).")
        src_crs = CRS.from_user_input(crs) if crs is not None else None
        if require_crs and src_crs is None:
            raise CRSError("an array needs its CRS.", path="array", fix="pass crs=\"EPSG:...\".")
        src = RasterSource("array", raster.shape, transform, src_crs, nodata, raster.dtype, array=raster)
        yield src
        _report_nonfinite(src)
        return
    if isinstance(raster, rasterio.io.DatasetReaderBase):
        src = _dataset_source(raster, raster.name, band, crs, nodata, require_crs)
        yield src
        _report_nonfinite(src)
        return
    path = Path(raster)
    if not path.exists():
        raise InputNotFoundError("raster file not found.", path=path, fix="check the path.")
    try:
        dataset = rasterio.open(path)
    except rasterio.errors.RasterioError as exc:
        raise InputError(
            f"cannot be read as a raster ({exc}).", path=path,
            fix="give a GeoTIFF or other GDAL-readable raster; if it is one, it is damaged or "
            "incomplete: re-export or re-download it.",
        ) from exc
    with dataset:
        src = _dataset_source(dataset, str(path), band, crs, nodata, require_crs)
        src.reopenable = True  # opened here from its path alone: a task may open it again
        yield src
    _report_nonfinite(src)


@dataclass(frozen=True)
class RasterRef:
    """A raster that a task can open where it runs (:meth:`RasterSource.ref`).

    A plain file is opened again by its path (with the band, and the CRS and nodata the first
    opening assumed), in any thread or process. A raster in memory is read where it lives, by any
    thread of this process. Any other open dataset (a warped view of a file, a dataset a caller
    opened) is read only by the thread that holds it.
    """

    path: str | None
    band: int
    crs: Any
    nodata: float | None
    source: RasterSource | None = None

    @property
    def place(self) -> str:
        """Where its tasks may run (:data:`carbonmap.compute.PLACES`): ``session`` (a file),
        ``process`` (an array, or a file in GDAL's process-local memory) or ``thread``."""
        if self.source is None:
            return "process" if self.path.startswith("/vsimem/") else "session"
        return "process" if self.source.array is not None else "thread"

    @contextlib.contextmanager
    def open(self) -> Iterator[RasterSource]:
        """The raster, opened for the calling thread; its non-finite cells read are counted in
        ``nonfinite_cells`` and left to the caller to report."""
        if self.source is not None:
            yield dataclasses.replace(self.source, nonfinite_cells=0)
            return
        if not self.path.startswith("/vsi") and not Path(self.path).exists():
            raise unseen_where_task_runs(self.path)
        try:
            dataset = rasterio.open(self.path)
        except rasterio.errors.RasterioError as exc:
            raise damaged_raster_error(str(self.path), exc) from exc
        with dataset:
            source = _dataset_source(dataset, str(self.path), self.band, self.crs, self.nodata, require_crs=False)
            source.reopenable = True
            yield source


def unseen_where_task_runs(path: str | os.PathLike) -> InputNotFoundError:
    """The error for a file of the run that a task cannot see where it runs (a dask worker
    without the run's shared file system)."""
    return InputNotFoundError(
        "cannot be seen where a task runs.", path=str(path),
        fix="every dask worker must read the run's files at the same paths (a shared file system, "
        "docs/scale.md), or run with --scheduler in-process.")


def _output_name(path: str | os.PathLike) -> str:
    """An aligned copy's path as it will be in the output set (a run writes into a staging folder
    swapped in at the end: its path does not outlive the run)."""
    parts = Path(path).parts
    if "rasters" in parts:
        return "/".join(parts[len(parts) - 1 - parts[::-1].index("rasters"):])
    return str(path)


def _dataset_source(dataset, path, band, crs, nodata, require_crs) -> RasterSource:
    origin = dataset.tags().get(SOURCE_TAG) or str(path)
    name = str(path) if origin == str(path) else f"{origin} (aligned to the analysis grid as {_output_name(path)})"
    if not 1 <= band <= dataset.count:
        raise InputNotFoundError(
            f"has {dataset.count} band(s); band {band} does not exist.", path=name,
            fix=f"choose a band between 1 and {dataset.count}.",
        )
    src_crs = CRS.from_user_input(dataset.crs) if dataset.crs else None
    if src_crs is None and crs is not None:
        src_crs = _assumed_crs(crs, name)
    if require_crs and src_crs is None:
        raise CRSError(
            "the raster declares no coordinate reference system.", path=name,
            fix="define it (gdal_edit.py -a_srs EPSG:xxxx FILE), or declare it in the project "
            "file (assume_crs = \"EPSG:...\") / with --assume-crs.",
        )
    if dataset.transform == Affine.identity() and not dataset.gcps[0]:
        raise CRSError(
            "the raster has no geotransform (pixel coordinates only).", path=name,
            fix="georeference it (gdal_translate -a_ullr ... or a world file).",
        )
    file_nodata = dataset.nodatavals[band - 1]
    return RasterSource(
        name, (dataset.height, dataset.width), dataset.transform, src_crs,
        file_nodata if file_nodata is not None else nodata,
        np.dtype(dataset.dtypes[band - 1]), dataset=dataset, band=band, path=str(path), origin=origin,
    )


def check_class_codes(dtype: Any, *, name: str = "raster") -> None:
    """Refuse a land-cover (class) raster whose codes are not stored as integers.

    The one check of every categorical raster (class areas, stocks, landscape metrics, code
    systems): a floating-point raster is refused rather than truncated (2.5 is not a class).

    Parameters
    ----------
    dtype : numpy dtype (or anything :class:`numpy.dtype` accepts) of the raster's values
    name : str
        The user's file, for the message.

    Raises
    ------
    InputError
    """
    dtype = np.dtype(dtype)
    if not (np.issubdtype(dtype, np.integer) or np.issubdtype(dtype, np.bool_)):
        raise InputError(
            f"land-cover rasters need integer class codes, but this one stores {dtype} values.", path=name,
            fix="give the land-cover (class) band, not a continuous raster; if its codes are whole numbers "
            "stored as floating point, convert it (gdal_translate -ot Int16 IN.tif OUT.tif).")


def read_raster(raster: Any, **kwargs) -> tuple[np.ma.MaskedArray, RasterSource]:
    """Read a whole band as a masked array, refusing a band that is nodata everywhere.

    Keyword arguments are those of :func:`open_raster`. Returns the array and the
    source's description (its dataset handle is closed).
    """
    with open_raster(raster, **kwargs) as src:
        data = src.read()
    if data.mask.all():
        raise nodata_everywhere_error(src)
    return data, dataclasses.replace(src, dataset=None)


def nodata_everywhere_error(src: RasterSource) -> Exception:
    """The error for a raster band that is nodata in every cell."""
    from carbonmap.errors import NodataError

    return NodataError(f"every cell is nodata (nodata value {src.nodata!r}).", path=src.name,
                       fix="check the nodata value declared in the file, or that this is the right band.")


# --------------------------------------------------------------------------- text and tables


def decode_text(data: bytes, *, path: str | os.PathLike) -> str:
    """`data` (a text file's bytes) decoded as UTF-8, with or without a byte-order mark.

    Raises
    ------
    InputError
        For binary data, UTF-16 text, or bytes UTF-8 cannot decode, naming the line and the fix.
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputError("is UTF-16 text (Excel's 'Unicode text'), not UTF-8.", path=path,
                         fix="save it as UTF-8 (Excel: Save As 'CSV UTF-8'; an editor: encoding UTF-8).")
    if b"\x00" in data[:65536]:
        raise InputError("is not a text file (it holds binary data: a raster, spreadsheet or archive?).",
                         path=path, fix="give the CSV (text) file here; export spreadsheets as 'CSV UTF-8'.")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        try:
            data.decode("gb18030")
            hint = " (it reads as GBK/GB18030, the Chinese Windows encoding)"
        except UnicodeDecodeError:
            hint = ""
        raise InputError(
            f"is not UTF-8 text: line {line} holds bytes UTF-8 cannot decode{hint}.", path=path,
            fix="save it as UTF-8 (Excel: Save As 'CSV UTF-8'; Notepad or WPS: Save As, encoding UTF-8).",
        ) from None


def read_text(path: str | os.PathLike, *, what: str = "file") -> str:
    """The content of a UTF-8 text file (with or without a byte-order mark), checked by
    :func:`decode_text`; `what` names the file in messages ("project file", "pool table")."""
    path = Path(path)
    if not path.is_file():
        raise InputNotFoundError(f"{what} not found.", path=path,
                                 fix="check the path (relative paths in a project file are relative to its folder).")
    return decode_text(path.read_bytes(), path=path)


def read_csv(path: str | os.PathLike, *, what: str = "table", **pandas_kwargs: Any) -> pd.DataFrame:
    """Read a CSV table (UTF-8, with or without a byte-order mark) with :func:`pandas.read_csv`.

    Parameters
    ----------
    path : path-like
        The CSV file.
    what : str
        What the table is, for messages ("pool table", "inventory").
    **pandas_kwargs
        Passed to :func:`pandas.read_csv` (e.g. ``dtype=str, keep_default_na=False``).

    Returns
    -------
    DataFrame
        At least one row.

    Raises
    ------
    InputNotFoundError
        The file does not exist.
    InputError
        Not a text file, not UTF-8, or not a well-formed CSV.
    EmptyInputError
        An empty file, or a header without rows.
    """
    path = Path(path)
    text = read_text(path, what=what)
    fix_empty = f"give the {what} as a CSV with a header row and one row per entry."
    if not text.strip():
        raise EmptyInputError(f"the {what} is an empty file.", path=path, fix=fix_empty)
    try:
        frame = pd.read_csv(StringIO(text), **pandas_kwargs)
    except pd.errors.EmptyDataError as exc:
        raise EmptyInputError(f"the {what} has no columns.", path=path, fix=fix_empty) from exc
    except (pd.errors.ParserError, ValueError) as exc:
        raise InputError(
            f"is not a well-formed CSV {what} ({str(exc).strip()}).", path=path,
            fix="every row needs as many comma-separated values as the header; quote values that "
            "contain commas; export spreadsheets as 'CSV UTF-8'.",
        ) from exc
    if frame.empty:
        raise EmptyInputError(f"the {what} has a header but no rows.", path=path, fix=fix_empty)
    return frame


# --------------------------------------------------------------------------- writing


def write_geopackage(
    path: str | os.PathLike,
    layers: Mapping[str, pd.DataFrame],
    *,
    update: bool = False,
    fields: Mapping[str, Mapping[str, tuple[str, str]]] | None = None,
) -> Path:
    """Write several layers (GeoDataFrames or plain tables) into one GeoPackage, atomically.

    Parameters
    ----------
    path : path-like
        The ``.gpkg`` file.
    layers : mapping of layer name -> DataFrame
        GeoDataFrames become feature layers (with their CRS); plain DataFrames become
        attribute tables (GeoPackage "attributes" content).
    update : bool, default False
        Keep the layers already in an existing file (layers of the same name are
        replaced). Otherwise the file is rebuilt with exactly `layers`.
    fields : mapping of layer name -> {column: (title, description)}, optional
        What the columns mean, written to ``gpkg_data_columns`` (the GeoPackage schema extension):
        GDAL reads the ``name`` (the title, made unique in its table) as the field's alternative
        name, which QGIS shows as its alias, and the description as its comment.

    Returns
    -------
    Path
        `path`.

    Raises
    ------
    OutputError
        For a path not ending in ``.gpkg`` or a feature layer without a CRS.

    Notes
    -----
    The whole file is written to a temporary path and renamed when every layer is in:
    an exception or interruption leaves any existing file untouched. Each layer of `layers` is
    taken once, when it is written.
    """
    target = Path(path)
    if target.suffix.lower() != ".gpkg":
        raise OutputError("a GeoPackage path must end in .gpkg.", path=target,
                          fix="rename the output.")
    with atomic_path(target, copy_existing=update) as tmp:
        for name, frame in layers.items():  # each layer taken once (a mapping may read it from a file)
            if isinstance(frame, gpd.GeoDataFrame):
                if frame.crs is None:
                    raise OutputError(f"layer {name!r} has no CRS.", path=target,
                                      fix="set the CRS before writing (every layer carries one).")
                frame = _with_identified_crs(frame)
            kwargs = {}
            if update and tmp.exists():
                kwargs["layer_options"] = {"OVERWRITE": "YES"}
            if name == "layer_styles":  # QGIS reads styles by the primary key "id" (its own schema)
                kwargs["layer_options"] = {**kwargs.get("layer_options", {}), "FID": "id"}
            if not isinstance(frame, gpd.GeoDataFrame):
                frame = pd.DataFrame(frame)
            if _ARROW_WRITES and _written_alike_through_arrow(frame):
                kwargs["use_arrow"] = True  # the same layer, written faster (a third less time for 944k roofs)
            pyogrio.write_dataframe(frame, tmp, layer=name, driver="GPKG", **kwargs)
        if fields:
            _write_data_columns(tmp, fields)
    return target


#: pyogrio writes through Arrow (``use_arrow``) from version 0.8 on GDAL 3.8 or later.
_ARROW_WRITES = (tuple(int(part) for part in pyogrio.__version__.split(".")[:2] if part.isdigit()) >= (0, 8)
                 and tuple(pyogrio.__gdal_version__) >= (3, 8, 0))


def _written_alike_through_arrow(frame: pd.DataFrame) -> bool:
    """Whether pyogrio writes `frame` through Arrow as it writes it feature by feature: the same
    fields (types and names) and the same values. It does for numbers, booleans, text (with nulls),
    dates and categories; not for unsigned 64-bit integers (written as REAL) nor for object columns
    holding anything but text (numbers or booleans there become REAL or BOOLEAN fields instead of
    TEXT; mixed values fail)."""
    geometry = frame.geometry.name if isinstance(frame, gpd.GeoDataFrame) else None
    for column, values in frame.items():
        if column == geometry:
            continue
        if values.dtype == np.uint64 or isinstance(values.dtype, gpd.array.GeometryDtype):
            return False
        if values.dtype == object and pd.api.types.infer_dtype(values, skipna=True) not in ("string", "empty"):
            return False
    return True


class _IdentifiedCRS(CRS):
    """A CRS whose EPSG code (or its absence) was looked up once. pyogrio asks for it for every
    layer it writes, and PROJ takes about 0.1 s to find that a custom CRS (the analysis grid's
    Albers) has none: 60 layers of the demo spent 3 s on it. Kept for the process
    (:data:`_IDENTIFIED`), for every GeoPackage a run writes (the one map, the monitoring)."""

    def __init__(self, crs: CRS) -> None:
        super().__init__(crs)
        self._epsg = crs.to_epsg()

    def to_epsg(self, min_confidence: int = 70) -> int | None:
        return self._epsg if min_confidence == 70 else super().to_epsg(min_confidence)


#: The CRSs identified in this process, by their WKT (a run has one or two).
_IDENTIFIED: dict[str, _IdentifiedCRS] = {}


def _with_identified_crs(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """`frame` (its geometries shared, not copied) with its CRS as an :class:`_IdentifiedCRS`."""
    key = frame.crs.to_wkt()
    if key not in _IDENTIFIED:
        _IDENTIFIED[key] = _IdentifiedCRS(frame.crs)
    out = frame.copy(deep=False)
    name = frame.geometry.name
    out[name] = gpd.GeoSeries(gpd.array.from_shapely(np.asarray(frame.geometry.array), crs=_IDENTIFIED[key]),
                              index=frame.index, name=name)
    return out


def _write_data_columns(path: Path, fields: Mapping[str, Mapping[str, tuple[str, str]]]) -> None:
    """Fill ``gpkg_data_columns`` (name, title, description per column) and register the schema extension."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(path)) as db, db:
        db.execute("CREATE TABLE IF NOT EXISTS gpkg_data_columns (table_name TEXT NOT NULL, column_name TEXT NOT "
                   "NULL, name TEXT, title TEXT, description TEXT, mime_type TEXT, constraint_name TEXT, "
                   "CONSTRAINT pk_gdc PRIMARY KEY (table_name, column_name), CONSTRAINT gdc_tn UNIQUE "
                   "(table_name, name))")
        db.execute("CREATE TABLE IF NOT EXISTS gpkg_extensions (table_name TEXT, column_name TEXT, extension_name "
                   "TEXT NOT NULL, definition TEXT NOT NULL, scope TEXT NOT NULL, CONSTRAINT ge_tce UNIQUE "
                   "(table_name, column_name, extension_name))")
        for table in ("gpkg_data_columns", "gpkg_data_column_constraints"):
            db.execute("INSERT OR IGNORE INTO gpkg_extensions VALUES (?, NULL, 'gpkg_schema', "
                       "'http://www.geopackage.org/spec/#extension_schema', 'read-write')", (table,))
        db.execute("CREATE TABLE IF NOT EXISTS gpkg_data_column_constraints (constraint_name TEXT NOT NULL, "
                   "constraint_type TEXT NOT NULL, value TEXT, min NUMERIC, min_is_inclusive BOOLEAN, max NUMERIC, "
                   "max_is_inclusive BOOLEAN, description TEXT, CONSTRAINT gdcc_ntv UNIQUE (constraint_name, "
                   "constraint_type, value))")
        for table, columns in fields.items():
            present = {row[1] for row in db.execute(f"PRAGMA table_info({_sql_name(table)})")}
            rows, taken = [], set()
            for column, (title, description) in columns.items():
                if column not in present:
                    continue
                name = title if title not in taken else f"{title} [{column}]"  # (table_name, name) is unique
                taken.add(name)
                rows.append((table, column, name, title, description))
            db.executemany("INSERT OR REPLACE INTO gpkg_data_columns (table_name, column_name, name, title, "
                           "description) VALUES (?, ?, ?, ?, ?)", rows)


def _sql_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class RasterClass:
    """One class of a categorical raster: its value, name (in the run's language), colour (hex),
    and its names in every language (for the attribute table)."""

    value: int
    name: str
    colour: str
    names: Mapping[str, str] = dataclasses.field(default_factory=dict)


def write_raster_description(path: str | os.PathLike, *, title: str, unit: str = "",
                             tags: Mapping[str, str] | None = None,
                             classes: Sequence[RasterClass] = ()) -> Path:
    """Describe a written raster in its GDAL sidecar (``<path>.aux.xml``, GDAL's PAM format).

    GDAL (and so QGIS, rasterio) reads from it the band description (`title`), the unit, the
    metadata `tags` (dataset and band), and for a categorical raster its colour table, category
    names and a raster attribute table (value, name, names in each language, red, green, blue,
    alpha). The raster itself is not touched (its bytes may be shared with an earlier output set).

    Parameters
    ----------
    path : the raster (a GeoTIFF)
    title : what the band shows
    unit : its unit, as a reader writes it
    tags : more metadata (e.g. the title and unit in each language)
    classes : the classes of a categorical raster (values 0 to 65535 get a colour table and category names)

    Returns
    -------
    Path
        The sidecar's path.
    """
    from xml.sax.saxutils import escape

    meta = {**(tags or {}), "title": title, **({"unit": unit} if unit else {})}
    items = "".join(f'<MDI key="{escape(k)}">{escape(str(v))}</MDI>' for k, v in meta.items())
    band = [f"<Description>{escape(title)}</Description>", f"<UnitType>{escape(unit)}</UnitType>" if unit else "",
            f"<Metadata>{items}</Metadata>"]
    values = [c.value for c in classes]
    if classes and min(values) >= 0 and max(values) <= 65535:
        by_value = {c.value: c for c in classes}
        names = "".join(f"<Category>{escape(by_value[v].name) if v in by_value else ''}</Category>"
                        for v in range(max(values) + 1))
        entries = "".join(_colour_entry(by_value[v].colour if v in by_value else None) for v in range(max(values) + 1))
        band += [f"<CategoryNames>{names}</CategoryNames>", "<ColorInterp>Palette</ColorInterp>",
                 f"<ColorTable>{entries}</ColorTable>"]
    if classes:
        band.append(_attribute_table(classes))
    document = (f"<PAMDataset><Metadata>{items}</Metadata><PAMRasterBand band=\"1\">{''.join(band)}"
                "</PAMRasterBand></PAMDataset>\n")
    sidecar = Path(f"{path}.aux.xml")
    with atomic_path(sidecar) as tmp:
        Path(tmp).write_text(document, encoding="utf-8")
    return sidecar


def _rgba(colour: str | None) -> tuple[int, int, int, int]:
    if not colour:
        return (0, 0, 0, 0)
    text = colour.lstrip("#")
    return (int(text[0:2], 16), int(text[2:4], 16), int(text[4:6], 16), 255)


def _colour_entry(colour: str | None) -> str:
    r, g, b, a = _rgba(colour)
    return f'<Entry c1="{r}" c2="{g}" c3="{b}" c4="{a}"/>'


#: GDAL raster attribute table: (field, type: 0 integer / 2 text, usage: 5 min-max, 2 name, 0 generic, 6-9 RGBA).
def _attribute_table(classes: Sequence[RasterClass]) -> str:
    """A thematic GDAL raster attribute table (PAM XML) of `classes`."""
    from xml.sax.saxutils import escape

    languages = sorted({k for c in classes for k in c.names})
    fields = [("value", 0, 5), ("name", 2, 2), *((f"name_{lang}", 2, 0) for lang in languages),
              ("red", 0, 6), ("green", 0, 7), ("blue", 0, 8), ("alpha", 0, 9)]
    head = "".join(f'<FieldDefn index="{i}"><Name>{name}</Name><Type>{kind}</Type><Usage>{usage}</Usage></FieldDefn>'
                   for i, (name, kind, usage) in enumerate(fields))
    rows = []
    for i, item in enumerate(sorted(classes, key=lambda c: c.value)):
        cells = [item.value, escape(item.name), *(escape(item.names.get(lang, "")) for lang in languages),
                 *_rgba(item.colour)]
        rows.append(f'<Row index="{i}">' + "".join(f"<F>{v}</F>" for v in cells) + "</Row>")
    return f'<GDALRasterAttributeTable tableType="thematic">{head}{"".join(rows)}</GDALRasterAttributeTable>'


def write_csv(path: str | os.PathLike, frame: pd.DataFrame, *, index: bool = False, encoding: str = "utf-8",
              float_format: str | None = None) -> Path:
    """Write a table as UTF-8 CSV, atomically and deterministically.

    Parameters
    ----------
    path : path-like
        The CSV file (replaced when every row is written).
    frame : DataFrame
        The table.
    index : bool
        Write the index as the first column (default: no).
    encoding : str
        ``utf-8``, or ``utf-8-sig`` for a byte-order mark (Excel then reads Chinese text right).
    float_format : str, optional
        printf-style format of floating-point numbers (e.g. ``%.10g``); default: Python's shortest repr.

    Returns
    -------
    Path
        `path`.
    """
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=index, lineterminator="\n", encoding=encoding, float_format=float_format)
    return Path(path)


@contextlib.contextmanager
def cog_writer(
    path: str | os.PathLike,
    *,
    width: int,
    height: int,
    dtype: Any,
    transform: Affine,
    crs: Any,
    nodata: float | None = None,
    count: int = 1,
    compress: str = "DEFLATE",
    blocksize: int = 512,
    resampling: str = "nearest",
    tags: Mapping[str, str] | None = None,
) -> Iterator[rasterio.io.DatasetWriter]:
    """Open a raster for block-by-block writing; it becomes a Cloud-Optimized GeoTIFF at `path`.

    Parameters
    ----------
    path : path-like
        The final file.
    width, height : int [cells]
        Raster size.
    dtype : dtype-like
        Cell type.
    transform : affine.Affine
        Georeferencing.
    crs : CRS-like
        The raster's CRS.
    nodata : float, optional
        Nodata value written in the file.
    count : int
        Number of bands.
    compress : str
        GDAL compression of the COG (DEFLATE, with a predictor, by default).
    blocksize : int [cells]
        Tile size.
    resampling : str
        Resampling of the overviews: 'nearest' for categories, 'average' for continuous values.
    tags : mapping of str -> str, optional
        Metadata written into the file (e.g. the unit).

    Yields
    ------
    rasterio DatasetWriter
        A tiled GeoTIFF to write windows into.

    Notes
    -----
    When the block ends, the overviews are built into the staging file (uncompressed, so each
    level is compressed once), which is then converted to a COG with internal tiles and those
    overviews and renamed onto `path`; if the block raises, nothing appears at `path`. This
    gives the COG driver's own levels for about 40 % less CPU than letting it build them: the
    same file where the sides halve evenly, and otherwise an overview one cell larger on an odd
    side (GDAL's overview building rounds sizes up, the COG driver down).
    """
    with atomic_path(path) as tmp:
        staging = tmp.with_name(tmp.stem + ".staging.tif")
        profile = {
            "driver": "GTiff", "count": count, "height": height, "width": width,
            "dtype": np.dtype(dtype).name, "transform": transform,
            "crs": CRS.from_user_input(crs).to_wkt() if crs is not None else None,
            "nodata": nodata, "tiled": True, "blockxsize": blocksize,
            "blockysize": blocksize, "BIGTIFF": "IF_SAFER",
        }
        try:
            with rasterio.open(staging, "w", **profile) as dst:
                yield dst
                if tags:
                    dst.update_tags(**tags)
            with rasterio.Env(GDAL_CACHEMAX=256 * 2**20), rasterio.open(staging, "r+") as dst:
                dst.build_overviews(_overview_factors(width, height, blocksize), Resampling[resampling.lower()])
            # predictor: horizontal differencing (2) for integers, floating-point (3) for floats
            predictor = 3 if np.issubdtype(np.dtype(dtype), np.floating) else 2
            # DEFLATE level 3, not GDAL's 6: half the compression time for files ~6 % larger
            # (measured on 16 M-cell float32 stock rasters, benchmarks/bench_stocks.py)
            level = {"level": 3} if compress.upper() == "DEFLATE" else {}
            with rasterio.Env(GDAL_CACHEMAX=256 * 2**20):  # bounded memory while building overviews
                rasterio.shutil.copy(
                    staging, tmp, driver="COG", compress=compress, blocksize=blocksize,
                    overviews="FORCE_USE_EXISTING", bigtiff="IF_SAFER", predictor=predictor,
                    num_threads="ALL_CPUS", **level,  # compress tiles in parallel
                )
        finally:
            with contextlib.suppress(FileNotFoundError):
                staging.unlink()


def _overview_factors(width: int, height: int, blocksize: int) -> list[int]:
    """The overview levels GDAL's COG driver makes: halving (rounded down) until both sides fit
    in one tile."""
    factors = []
    while width > blocksize or height > blocksize:
        width, height = width // 2, height // 2
        factors.append(2 ** (len(factors) + 1))
    return factors


def write_cog(
    path: str | os.PathLike,
    data: np.ndarray,
    *,
    transform: Affine,
    crs: Any,
    nodata: float | None = None,
    compress: str = "DEFLATE",
    resampling: str = "nearest",
    tags: Mapping[str, str] | None = None,
) -> Path:
    """Write a 2-D (or band-first 3-D) array as a Cloud-Optimized GeoTIFF, atomically.

    Parameters
    ----------
    path : path-like
        The file.
    data : array (H, W) or (bands, H, W)
        Values in any unit; masked cells of a masked array are written as `nodata`.
    transform : affine.Affine
        Georeferencing.
    crs : CRS-like
        The raster's CRS.
    nodata : float, optional
        Nodata value; needed when `data` has masked cells.
    compress, resampling, tags :
        As for :func:`cog_writer`.

    Returns
    -------
    Path
        `path`.

    Raises
    ------
    OutputError
        For masked cells without a nodata value.
    """
    arr = np.asarray(data)
    if isinstance(data, np.ma.MaskedArray):
        if nodata is None and data.mask.any():
            raise OutputError("masked cells need a nodata value to be written.", path=path,
                              fix="pass nodata=... (e.g. -9999 or NaN for floats).")
        arr = data.filled(nodata if nodata is not None else 0)
    if arr.ndim == 2:
        arr = arr[np.newaxis]
    with cog_writer(
        path, width=arr.shape[2], height=arr.shape[1], count=arr.shape[0], dtype=arr.dtype,
        transform=transform, crs=crs, nodata=nodata, compress=compress,
        resampling=resampling, tags=tags,
    ) as dst:
        dst.write(arr)
    return Path(path)


# --------------------------------------------------------------------------- checksums


def input_files(path: str | os.PathLike) -> list[Path]:
    """The files that make up an input: the file itself, plus a Shapefile's sidecars."""
    path = Path(path)
    files = [path]
    if path.suffix.lower() == ".shp":
        files += [p for p in sorted(path.parent.glob(path.stem + ".*")) if p != path]
    return files


def file_digest(path: str | os.PathLike) -> tuple[str, int]:
    """SHA-256 (hex) and size [bytes] of an input, its Shapefile sidecars included."""
    digest = hashlib.sha256()
    size = 0
    for file in input_files(path):
        with open(file, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
                size += len(chunk)
    return digest.hexdigest(), size
