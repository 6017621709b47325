"""Renewable potential: rooftop and ground PV, wind, geothermal, development-control zones.

- :mod:`~carbonmap.renewables.solar`: pvlib solar geometry, clear-sky, transposition, row spacing;
- :mod:`~carbonmap.renewables.rooftop`: rooftop PV per building, with shading by neighbours;
- :mod:`~carbonmap.renewables.potential`: ground PV terrain, wind, shallow and deep geothermal;
- :mod:`~carbonmap.renewables.zoning`: prohibited / restricted / suitable zones from a rule table;
- :mod:`~carbonmap.renewables.potential_map`: all of them on one grid, per planning unit.
"""

from carbonmap.renewables.potential_map import renewable_potential
from carbonmap.renewables.rooftop import rooftop_pv
from carbonmap.renewables.zoning import control_zones

__all__ = ["control_zones", "renewable_potential", "rooftop_pv"]
