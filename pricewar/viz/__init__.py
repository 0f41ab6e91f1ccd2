"""Browser visualization of the token price war (Mesa ``SolaraViz``; ``pricewar viz``).

Modules, in data-flow order: :mod:`~pricewar.viz.session` (one browser session's model, built
from the control panel, or the reason it could not be built), :mod:`~pricewar.viz.drawing`
(matplotlib pictures of a model: market network, unit-cost breakdown), :mod:`~pricewar.viz.app`
(the SolaraViz page) and :mod:`~pricewar.viz.server` (the ``pricewar viz`` command, which runs
``solara run`` on the app). Importing this package does not import solara.
"""

#: environment variable carrying ``pricewar viz --scenario`` to the app (solara runs it by path)
SCENARIO_ENV = "PRICEWAR_VIZ_SCENARIO"
