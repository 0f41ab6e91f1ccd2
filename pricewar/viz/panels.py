"""The app's views: the market panels (network, unit costs, reporter time series: prices and shares
by region, open vs closed weights, CN vs US price at one capability tier, market power, demand
refused at posted prices), a snapshot line of the step looked at, and the comparison of two runs.

A panel is a component ``panel(session, step=None, latest=None)`` showing one figure (``step``:
the recorded step to show, None for the current one; ``latest``: the model's step, a new value
redraws the panel); the market view renders each of :data:`COMPONENTS` with the model's step, so
every figure follows Step, Reset and the time slider. A panel makes its figure
once and draws every step into it (:mod:`~pricewar.viz.drawing` replaces the earlier drawing).
Earlier steps are drawn from what the session recorded (reporters, network flows, cost
breakdowns), not from copies of the model.
"""

from __future__ import annotations

import html

import pandas as pd
import solara

from pricewar.plotting.ticks import si_number, usd
from pricewar.runs.comparison import Side, difference_table
from pricewar.runs.runner import model_frame
from pricewar.scenario import PRODUCER_REGIONS
from pricewar.viz import drawing
from pricewar.viz.controls import ControlPanel
from pricewar.viz.run_controls import update_counter
from pricewar.viz.session import MarketSession, session_settings

NO_MODEL = "No model: see the message above the market network."
#: metrics of the comparison table, in this order
#: (refused = unserved + not bought on re-choice; welfare on the common reference, the measure
#: that compares across runs: docs/outputs.md "Welfare: per run and across runs")
COMPARED_METRICS = ("price_avg", "lerner", "hhi", "served_total", "refused_total",
                    "refused_share", "consumer_surplus_common_ref", "emissions_t",
                    *(f"share_{r}" for r in PRODUCER_REGIONS))


@solara.component
def MarketNetwork(session: MarketSession, step: int | None = None,
                  latest: int | None = None):
    """The parameters in effect, then the market network (or why there is no model)."""
    figure, axes = solara.use_memo(lambda: drawing.new_figure(
        6.2, 3.5, left=0.01, right=0.99, bottom=0.08, top=0.84), [])
    with solara.Column(classes=["pricewar-network"], gap="4px") as column:
        solara.Text(session.describe(), classes=["pricewar-parameters"],
                    style={"font-size": "0.8em"})
        if session.error is not None:
            solara.Error(session.error, classes=["pricewar-error"])
        if session.market is not None:
            record = session.record(step)
            graph, pos = record.network
            drawing.draw_network_flows(axes, graph, pos, record.flows,
                                       session.market.region_names, record.step, record.date)
            # JPEG: the translucent flow lines make a 200 kB PNG; this is 40 kB and reaches
            # the browser faster on every step
            solara.FigureMatplotlib(figure, dependencies=[session, session.market.steps, step],
                                    format="jpeg", pil_kwargs={"quality": 90})
    return column


@solara.component
def CostBreakdown(session: MarketSession, step: int | None = None,
                  latest: int | None = None):
    """Unit cost by producer region (energy, hardware, opex) at the step looked at."""
    figure, axes = solara.use_memo(lambda: drawing.new_figure(5.5, 3.4, left=0.15,
                                                              bottom=0.12), [])
    with solara.Column(classes=["pricewar-costs"]) as column:
        if session.market is None:
            solara.Warning(NO_MODEL)
        else:
            record = session.record(step)
            drawing.draw_cost_bars(axes, record.costs, record.step)
            solara.FigureMatplotlib(figure, dependencies=[session, session.market.steps, step],
                                    format="png")
    return column


@solara.component
def FramePanel(session: MarketSession, step: int | None, latest: int | None, name: str, draw,
               margins: dict):
    """The figure of a :func:`frame_panel` (``draw``, ``margins``: as there)."""
    figure, axes = solara.use_memo(
        lambda: drawing.new_figure(5.5, 3.4, bottom=0.12, **margins), [])
    with solara.Column(classes=[f"pricewar-{name}"]) as column:
        if session.market is None:
            solara.Warning(NO_MODEL)
        else:
            frame = session.market.datacollector.get_model_vars_dataframe()
            draw(axes, drawing.TimeAxis.of(session.market, step), frame)
            solara.FigureMatplotlib(figure, dependencies=[session, session.market.steps, step],
                                    format="png")
    return column


def frame_panel(name: str, draw, doc: str, panel_name: str, **margins):
    """A panel called ``panel_name`` drawing ``draw(axes, time_axis, frame)`` from the model
    reporters' frame in a column with class ``pricewar-<name>`` (``margins``: the figure's
    left/right margins)."""

    def panel(session: MarketSession, step: int | None = None,
                  latest: int | None = None):
        return FramePanel(session, step, latest, name, draw, margins)

    panel.__doc__ = doc
    panel.__name__ = panel.__qualname__ = panel_name
    return panel


def time_series(name: str, series: dict[str, tuple[str, str]], title: str, ylabel: str,
                unit: str):
    """A panel plotting model reporters (``series``: label -> (column, colour)) in a column with
    class ``pricewar-<name>``; quantities in ``unit``."""
    return frame_panel(name, lambda axes, time, frame: drawing.draw_time_series(
        axes, time, frame, series, title, ylabel, unit), f"{title} ({unit})",
        f"TimeSeries_{name}", left=0.15)


MarketPower = frame_panel("concentration", drawing.draw_market_power,
                          "Lerner index and HHI, each on its own axis.", "MarketPower",
                          left=0.13, right=0.86)
OpenClosed = frame_panel("open-closed", drawing.draw_open_closed,
                         "Price of open- and closed-weight families' products and the "
                         "open-weight share.", "OpenClosed", left=0.13, right=0.86)


@solara.component
def TierPrices(session: MarketSession, step: int | None = None,
                  latest: int | None = None):
    """CN vs US price at one capability tier, chosen in the panel (at first the tier with the
    most products offered by both when the run started)."""
    market = session.market
    default = solara.use_memo(
        lambda: None if market is None else drawing.tier_with_most_products(market),
        [id(session)])
    chosen = solara.use_reactive(None)
    figure, axes = solara.use_memo(lambda: drawing.new_figure(5.5, 3.4, left=0.15,
                                                              bottom=0.12), [])
    with solara.Column(classes=["pricewar-tier"]) as column:
        if market is None:
            solara.Warning(NO_MODEL)
        else:
            tier = chosen.value or default
            solara.Select("Capability tier", values=list(market.tier_names), value=tier,
                          on_value=chosen.set, dense=True, classes=["pricewar-tier-select"])
            frame = market.datacollector.get_model_vars_dataframe()
            drawing.draw_tier_prices(axes, drawing.TimeAxis.of(market, step), frame, tier,
                                     market.steps if step is None else step)
            solara.FigureMatplotlib(figure, dependencies=[session, market.steps, step, tier],
                                    format="png")
    return column


def _by_region(metric: str) -> dict[str, tuple[str, str]]:
    return {r: (f"{metric}_{r}", drawing.region_color(r)) for r in PRODUCER_REGIONS}


#: the market panels, in page order
COMPONENTS = [
    MarketNetwork,
    CostBreakdown,
    time_series("price", _by_region("price"), "Average price by producer region",
                "USD per M tokens", "USD/Mtok"),
    time_series("share", _by_region("share"), "Throughput share by producer region",
                "share of served tokens", "1"),
    OpenClosed,
    TierPrices,
    MarketPower,
    time_series("refused", {"refused (unserved + not bought)": ("refused_total", "#7f7f7f"),
                            "of which unserved (no open route)": ("unserved_demand", "#c7c7c7")},
                "Demand refused at posted prices", "M tokens per step", "Mtok/step"),
]


def snapshot(session: MarketSession, step: int) -> str:
    """One line of headline metrics at ``step``, read from the recorded reporters."""
    market = session.market
    row = market.datacollector.get_model_vars_dataframe().iloc[step]
    shares = ", ".join(f"{r} {100 * row[f'share_{r}']:.1f}%" for r in PRODUCER_REGIONS)
    return (f"Step {step} ({session.record(step).date}): average price "
            f"{usd(row['price_avg'])} per M tokens · shares {shares} · Lerner "
            f"{row['lerner']:.3f} · HHI {row['hhi']:.4f} · served {row['served_total']:,.0f} "
            f"Mtok/step · refused {row['refused_total']:,.0f} Mtok/step "
            f"({100 * row['refused_share']:.1f}% of demand at posted prices)")


# ------------------------------------------------------------------------------------------------
# comparison
# ------------------------------------------------------------------------------------------------
def comparison_table(a: MarketSession, b: MarketSession, step: int) -> pd.DataFrame:
    """Headline metrics of runs A and B at ``step`` and their difference."""
    sides = [Side(label, {s.seed: model_frame(s.market)}, "app") for label, s in
             (("A", a), ("B", b))]
    columns = sides[0].frames[a.seed].columns
    return difference_table(*sides, [m for m in COMPARED_METRICS if m in columns], step=step)


def _html_table(table: pd.DataFrame) -> str:
    """The comparison table as HTML (not Markdown: solara's Markdown loads KaTeX, Mermaid and
    RequireJS from a CDN, which an offline server answers with 404s and the page with errors)."""
    rows = ["<tr><th>metric</th><th>unit</th><th>A</th><th>B</th><th>B - A</th>"
            "<th>B/A - 1</th></tr>"]
    for metric, row in table.iterrows():
        change = "-" if pd.isna(row["B/A - 1 (%)"]) else f"{row['B/A - 1 (%)']:+.1f}%"
        difference = ("+" if row["B - A"] > 0 else "") + si_number(row["B - A"])
        cells = (metric, row["unit"], si_number(row["A"]), si_number(row["B"]), difference,
                 change)
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells)
                    + "</tr>")
    return "<table>" + "".join(rows) + "</table>"


def default_comparison(settings: dict) -> dict:
    """Run B when nothing was chosen yet: another shipped scenario with A's strategy."""
    other = "parity" if settings["scenario"] != "parity" else "baseline"
    return session_settings(other, producer_strategy=settings["producer_strategy"])


@solara.component
def CompareView(session: MarketSession, settings: solara.Reactive[dict]):
    """Choose run B (a scenario and levers; same seed and consumers as A), then see A and B
    overlaid and their headline differences at A's step. Reset rebuilds both."""
    update_counter.get()  # B steps with A: draw both after every Step
    chosen = solara.use_reactive(settings.value.get("comparison")
                                 or default_comparison(settings.value))
    b = session.comparison
    figure, axes = solara.use_memo(lambda: drawing.new_grid(2, 2, 11, 6.2), [])

    def apply() -> None:
        session.compare_with(chosen.value)
        settings.set({**settings.value, "comparison": dict(session.parameters["comparison"])})

    with solara.Columns([1, 3]):
        with solara.Column():
            solara.Text("Run B (seed and consumers as in A)", style={"font-weight": "bold"})
            with solara.Column(classes=["pricewar-compare-controls"]):
                ControlPanel(chosen, running=None if b is None else b.parameters,
                             population=False)
            solara.Button("Compare", color="primary", on_click=apply,
                          disabled=session.market is None)
        with solara.Column(classes=["pricewar-compare"]):
            solara.Text(f"A: {session.describe()}", classes=["pricewar-compare-a"],
                        style={"font-size": "0.8em"})
            if b is None:
                solara.Info("Choose run B and press Compare.")
                return
            solara.Text(f"B: {b.describe()}", classes=["pricewar-compare-b"],
                        style={"font-size": "0.8em"})
            if b.error is not None or b.market is None or session.market is None:
                solara.Error(b.error or NO_MODEL, classes=["pricewar-compare-error"])
                return
            step = min(session.market.steps, b.market.steps)
            drawing.draw_comparison(axes, drawing.TimeAxis.of(session.market),
                                    model_frame(session.market), model_frame(b.market),
                                    list(session.market.regions.producer_regions))
            solara.FigureMatplotlib(figure, dependencies=[session, b, session.market.steps,
                                                          b.market.steps], format="png")
            solara.Text(f"At step {step}", style={"font-weight": "bold"})
            table = _html_table(comparison_table(session, b, step))
            solara.HTML(tag="div", unsafe_innerHTML=table, classes=["pricewar-compare-table"])
