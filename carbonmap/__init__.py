"""carbonmap: map a city's carbon sources and sinks for territorial spatial planning.

The analyses are plain functions on arrays and GeoDataFrames (``carbonmap.zonal``,
``carbonmap.grid``, ...); ``carbonmap.pipeline`` runs them from a project file into one
planning map, and the ``carbonmap`` command line wraps both.
"""

__version__ = "0.1.0"
