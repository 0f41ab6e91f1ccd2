"""The SolaraViz page of the token price war (``pricewar viz`` or ``solara run`` this file).

Every browser page gets its own :class:`~pricewar.viz.session.MarketSession`: ``Page`` builds it
inside the component (``use_memo``), where Mesa's examples build one model at import time and so
share it between every open tab.
"""

from __future__ import annotations

import os

import solara
from mesa.visualization import SolaraViz

from pricewar.scenario import PRODUCER_REGIONS
from pricewar.viz import SCENARIO_ENV, drawing
from pricewar.viz.session import MarketSession, model_params

NO_MODEL = "No model: see the message above the market network."


def MarketNetwork(session: MarketSession):
    """The parameters in effect, then the market network (or why there is no model)."""
    with solara.Column(classes=["pricewar-network"], gap="4px") as column:
        solara.Text(session.describe(), classes=["pricewar-parameters"],
                    style={"font-size": "0.8em"})
        if session.market is None:
            solara.Error(session.error, classes=["pricewar-error"])
        else:
            graph, pos = session.network()
            figure, axes = drawing.new_figure(6.2, 3.5, left=0.01, right=0.99, bottom=0.08,
                                              top=0.84)
            drawing.draw_market_network(axes, session.market, graph, pos)
            # JPEG: the translucent flow lines make a 200 kB PNG; this is 40 kB and reaches
            # the browser faster on every step
            solara.FigureMatplotlib(figure, format="jpeg", pil_kwargs={"quality": 90})
    return column


def CostBreakdown(session: MarketSession):
    """Unit cost by producer region (energy, hardware, opex) at the current step."""
    with solara.Column(classes=["pricewar-costs"]) as column:
        if session.market is None:
            solara.Warning(NO_MODEL)
        else:
            figure, axes = drawing.new_figure(5.5, 3.4)
            drawing.draw_cost_breakdown(axes, session.market)
            solara.FigureMatplotlib(figure, format="png")
    return column


def time_series(name: str, series: dict[str, tuple[str, str]], title: str, ylabel: str):
    """A component plotting model reporters (``series``: label -> (column, colour)) in a column
    with class ``pricewar-<name>``."""

    def TimeSeries(session: MarketSession):
        with solara.Column(classes=[f"pricewar-{name}"]) as column:
            if session.market is None:
                solara.Warning(NO_MODEL)
            else:
                figure, axes = drawing.new_figure(5.5, 3.4)
                frame = session.market.datacollector.get_model_vars_dataframe()
                drawing.draw_time_series(axes, frame, series, title, ylabel)
                solara.FigureMatplotlib(figure, format="png")
        return column

    TimeSeries.__name__ = f"TimeSeries_{name}"
    return TimeSeries


def _by_region(metric: str) -> dict[str, tuple[str, str]]:
    return {r: (f"{metric}_{r}", drawing.region_color(r)) for r in PRODUCER_REGIONS}


#: Mesa wraps each function in a component that re-renders on every step
COMPONENTS = [
    MarketNetwork,
    CostBreakdown,
    time_series("price", _by_region("price"), "Average price by producer region", "USD/Mtok"),
    time_series("share", _by_region("share"), "Throughput share by producer region",
                "share of served tokens"),
    time_series("concentration", {"Lerner index": ("lerner", "#8c564b"),
                                  "HHI": ("hhi", "#17becf")},
                "Market power: Lerner index and HHI", "index (0-1)"),
    time_series("unserved", {"unserved demand": ("unserved_demand", "#7f7f7f")},
                "Unserved demand (capacity shortfall)", "Mtok/step"),
]


def initial_scenario() -> str:
    """The scenario a new page starts with (``pricewar viz --scenario``; default baseline)."""
    return os.environ.get(SCENARIO_ENV, "baseline")


@solara.component
def Page():
    """One page, one session: its own model, controls and Reset."""
    first = solara.use_memo(
        lambda: MarketSession(initial_scenario(), controls_scenario=initial_scenario()), [])
    session = solara.use_reactive(first)
    scenario = session.value.scenario_name
    params = solara.use_memo(lambda: model_params(scenario), [scenario])
    # a new key re-creates the controls (and their defaults) when Reset switched the scenario
    return SolaraViz(session, components=COMPONENTS, model_params=params,
                     name="AI token price war").key(f"viz-{scenario}")
