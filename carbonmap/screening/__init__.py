"""Site screening: where to act first.

- :mod:`~carbonmap.screening.score`: the transparent weighted score both rankings use;
- :mod:`~carbonmap.screening.rooftops`: rank rooftops for PV, per-unit project packages;
- :mod:`~carbonmap.screening.growth`: Chapman-Richards growth and the sequestration it implies;
- :mod:`~carbonmap.screening.afforestation`: candidate land for planting, criteria, score;
- :mod:`~carbonmap.screening.restoration`: restoration scenarios built from the ranked sites.
"""

from carbonmap.screening.afforestation import AfforestationResult, afforestation_sites
from carbonmap.screening.growth import sequestration_t_co2_ha, stand_carbon_t_c_ha
from carbonmap.screening.restoration import restoration_scenarios
from carbonmap.screening.rooftops import rank_rooftops, rooftop_packages, top_per_unit
from carbonmap.screening.score import weighted_score

__all__ = ["AfforestationResult", "afforestation_sites", "rank_rooftops", "restoration_scenarios",
           "rooftop_packages", "sequestration_t_co2_ha", "stand_carbon_t_c_ha", "top_per_unit", "weighted_score"]
