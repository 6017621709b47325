"""Planning scenarios and the road from peaking to neutrality.

- :mod:`~carbonmap.scenarios.markov`: business-as-usual land-use demand (Markov chain) and a
  simple suitability-weighted allocation (a screening tool, not CLUE-S or FLUS);
- :mod:`~carbonmap.scenarios.plus`: the land-use simulator of the PLUS / FLUS kind (development
  probability learnt by random forests, a cellular automaton with patch seeding), entry point
  :func:`~carbonmap.scenarios.plus.simulate_land_use`;
- :mod:`~carbonmap.scenarios.demand`: land-use demand by trend, table or linear programming;
- :mod:`~carbonmap.scenarios.validation`: Figure of Merit, Kappa, quantity and allocation
  disagreement of a simulated map against the real one;
- :mod:`~carbonmap.scenarios.effects`: what a scenario's land-cover changes do per unit
  (stocks, land sources and sinks, built-up emissions);
- :mod:`~carbonmap.scenarios.timeline`: yearly trajectories of sources and sinks to 2060 and
  their milestones (peak, net zero, the 2060 gap) in the five planning stages.
"""

from carbonmap.scenarios.effects import class_rates, convert, land_effects
from carbonmap.scenarios.markov import allocate, periods_to, project_areas, suitability, transition_matrix
from carbonmap.scenarios.timeline import milestones, roll_out, stage_of, trajectory

__all__ = ["allocate", "class_rates", "convert", "land_effects", "milestones", "periods_to", "project_areas",
           "roll_out", "stage_of", "suitability", "trajectory", "transition_matrix"]
