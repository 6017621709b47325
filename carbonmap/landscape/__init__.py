"""Ecological patches and landscape metrics (FRAGSTATS-compatible).

- :mod:`~carbonmap.landscape.patches`: read a land-cover raster, label patches, polygons;
- :mod:`~carbonmap.landscape.metrics`: patch, class and landscape metrics (FRAGSTATS);
- :mod:`~carbonmap.landscape.tiles`: the same of a land-cover file, window by window;
- :mod:`~carbonmap.landscape.enn`: exact nearest-neighbour distances;
- :mod:`~carbonmap.landscape.ecology`: ecological patches, per-unit metrics, moving window;
- :mod:`~carbonmap.landscape.change`: change between two dates, read in plain language.
"""

from carbonmap.landscape.change import compare
from carbonmap.landscape.ecology import ecological_patches, moving_window, moving_window_raster, unit_metrics
from carbonmap.landscape.metrics import Metrics, fragstats
from carbonmap.landscape.patches import Landscape, patch_polygons, prepare, read_landscape, select_classes
from carbonmap.landscape.tiles import TiledLandscape, read_tiled_landscape

__all__ = ["Landscape", "Metrics", "TiledLandscape", "compare", "ecological_patches", "fragstats", "moving_window",
           "moving_window_raster", "patch_polygons", "prepare", "read_landscape", "read_tiled_landscape",
           "select_classes", "unit_metrics"]
