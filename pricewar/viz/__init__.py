"""Browser visualization of the token price war (Mesa + Solara; ``pricewar viz``).

Modules, in data-flow order: :mod:`~pricewar.viz.session` (one browser session's model, built
from the control panel's settings, with what every step looked like recorded; or the reason it
could not be built), :mod:`~pricewar.viz.drawing` (matplotlib pictures: market network, unit-cost
breakdown, dated time series, two runs overlaid), :mod:`~pricewar.viz.run_controls` (the
Reset/Play/Step controller and step counter), :mod:`~pricewar.viz.controls` (control panel, time
slider, downloads), :mod:`~pricewar.viz.panels` (the market panels and the comparison view),
:mod:`~pricewar.viz.app` (the page) and :mod:`~pricewar.viz.server` (the ``pricewar viz``
command, which runs ``solara run`` on the app); :mod:`~pricewar.viz.probe` drives a served app
from a browser (tests, benchmark, screenshots). Importing this package does not import solara.
"""

#: environment variable carrying ``pricewar viz --scenario`` to the app (solara runs it by path)
SCENARIO_ENV = "PRICEWAR_VIZ_SCENARIO"
