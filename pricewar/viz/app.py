"""The browser app of the token price war (``pricewar viz``, or ``solara run`` this file).

The page is a Mesa model (:class:`~pricewar.viz.session.MarketSession`) driven by pricewar's own
Solara pieces -- the Reset/Play/Step controller and step counter of
:mod:`~pricewar.viz.run_controls` (Mesa's ``ModelController`` steps once more after Pause), the
inputs and the views -- where Mesa's ``SolaraViz`` wrapper shares one model between tabs, keeps
its parameter inputs in the widgets (so a Reset can run what the controls no longer show),
cannot rewind and cannot compare:

- every browser page builds its own :class:`~pricewar.viz.session.MarketSession` inside the page
  component (``use_memo``), not at import time;
- the control panel (:mod:`~pricewar.viz.controls`) writes one settings dict and Reset builds
  exactly that dict: the controls show what runs;
- the *Market* tab shows the panels of :data:`~pricewar.viz.panels.COMPONENTS` at the step chosen
  with the time slider (recorded data, any step so far);
- the *Compare* tab runs a second model B with the same seed and consumers alongside and draws
  both (:func:`~pricewar.viz.panels.CompareView`);
- the sidebar downloads the run so far (CSV and Parquet).
"""

from __future__ import annotations

import os

import solara

from pricewar.viz import SCENARIO_ENV
from pricewar.viz.controls import CSS, ControlPanel, Downloads, TimeSlider
from pricewar.viz.panels import COMPONENTS, NO_MODEL, CompareView, snapshot
from pricewar.viz.run_controls import ModelController, ShowSteps, update_counter
from pricewar.viz.session import MarketSession, session_settings

TITLE = "AI token price war"
#: milliseconds between steps while playing
PLAY_INTERVAL_MS = 300


def initial_scenario() -> str:
    """The scenario a new page starts with (``pricewar viz --scenario``; default baseline)."""
    return os.environ.get(SCENARIO_ENV, "baseline")


@solara.component
def MarketView(session: MarketSession):
    """Time slider, a line of headline numbers and the market panels at the step looked at."""
    update_counter.get()  # Step, Play and Reset bump the counter: draw the new step
    viewed = solara.use_reactive(None)
    if session.market is None:
        for component in COMPONENTS:
            component(session)
        return
    latest = session.market.steps
    step = latest if viewed.value is None else min(viewed.value, latest)
    TimeSlider(latest, viewed, str(session.record(step).date))
    solara.Text(snapshot(session, step), classes=["pricewar-snapshot"],
                style={"font-size": "0.85em"})
    with solara.ColumnsResponsive(12, large=6):
        for component in COMPONENTS:
            # the model's step is a prop: a Step redraws the panels in this render pass
            # (a panel reading the counter itself would add a render pass of the page)
            component(session, None if step == latest else step, latest)


@solara.component
def Page():
    """One page, one session: its own model, controls, Reset, time slider and comparison."""
    first = solara.use_memo(lambda: session_settings(initial_scenario()), [])
    settings = solara.use_reactive(first)
    session = solara.use_reactive(solara.use_memo(lambda: MarketSession(**first), []))
    model = session.value

    solara.Title(TITLE)
    solara.Style(CSS)
    with solara.AppBar():
        solara.AppBarTitle(TITLE)
    with solara.Sidebar(), solara.Column():
        with solara.Card("Run"):
            ModelController(session, settings, PLAY_INTERVAL_MS)
            ShowSteps(model)
        with solara.Card("Scenario and levers"):
            ControlPanel(settings, running=model.parameters)
        with solara.Card("Download the run so far"):
            if model.market is None:
                solara.Warning(NO_MODEL)
            else:
                Downloads(model)
    with solara.lab.Tabs(lazy=True):
        with solara.lab.Tab("Market"):
            # a new session starts at its latest step: key the view (and its slider) by session
            MarketView(model).key(f"market-{id(model)}")
        with solara.lab.Tab("Compare"):
            CompareView(model, settings)
