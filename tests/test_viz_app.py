"""The browser app without a browser: session model, pictures, the page's widget tree, the CLI.

The page is rendered with ``solara.render`` inside an ``AppLayout`` (SolaraViz puts its controls
in the sidebar, which only an app layout shows) and driven through its widgets.
"""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("solara")
with warnings.catch_warnings():
    # Mesa 3.3.1's ComponentsView calls use_state after an early return: solara's hook check
    # warns when mesa.visualization is imported
    warnings.filterwarnings("ignore", ".*ComponentsView.*", UserWarning)
    from mesa.visualization.solara_viz import _check_model_params

import ipyvuetify as v  # noqa: E402
import ipywidgets as widgets  # noqa: E402
import matplotlib.dates as mdates  # noqa: E402
import solara  # noqa: E402

from pricewar.scenario import load_scenario, scenario_names  # noqa: E402
from pricewar.viz import app, drawing, panels  # noqa: E402
from pricewar.viz.controls import download_name, pending_changes, run_file  # noqa: E402
from pricewar.viz.session import (  # noqa: E402
    ALL_SLIDERS,
    SCENARIO_STRATEGY,
    SELECTS,
    VIZ_CONSUMERS,
    MarketSession,
    control_values,
    model_params,
    session_settings,
    switch_scenario,
)


def _defaults(params: dict) -> dict:
    """What SolaraViz's ModelCreator passes on Reset when no control was touched."""
    return {k: (p["value"] if isinstance(p, dict) else p) for k, p in params.items()}


@solara.component
def _App():
    with solara.AppLayout():
        app.Page()


@solara.component
def _Panels(session):
    for component in app.COMPONENTS:
        component(session)


@pytest.fixture
def page():
    _, rc = solara.render(_App(), handle_error=False)
    yield rc
    rc.close()


def _click(rc, label: str) -> None:
    rc.find(v.Btn, children=[label]).widget.click()


def _parameters(rc) -> str:
    return rc.find(v.Html, class_="pricewar-parameters").widget.children[0]


# ------------------------------------------------------------------------------------------------
# session model
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("scenario", ["baseline", "parity"])
def test_controls_start_at_the_scenario_values_and_pass_mesa_checks(scenario):
    params = model_params(scenario)
    values = control_values(load_scenario(scenario))
    for key, value in values.items():
        if key in SELECTS:
            assert params[key]["value"] == value and value in params[key]["values"]
            continue
        assert params[key]["value"] == pytest.approx(value)
        assert params[key]["min"] <= value <= params[key]["max"]
    _check_model_params(MarketSession.__init__, params)  # what SolaraViz runs on the params


def test_reset_with_untouched_controls_rebuilds_the_scenario():
    session = MarketSession(**_defaults(model_params("parity")))
    expected = load_scenario("parity").with_overrides(n_consumers=VIZ_CONSUMERS)
    assert session.error is None
    assert session.market.scenario == expected


def test_controls_are_applied_as_overrides():
    session = MarketSession(**{**_defaults(model_params("baseline")),
                               "electricity_cn_west": 0.2, "producer_strategy": "nash"})
    s = session.market.scenario
    assert s.regions["cn_west"].electricity_usd_per_kwh == 0.2
    assert {g.strategy for g in s.producers.values()} == {"nash"}
    assert "cn_west 0.200" in session.describe()


def test_switching_scenario_ignores_the_old_scenarios_controls():
    params = {**_defaults(model_params("baseline")), "scenario": "parity"}
    session = MarketSession(**params)
    assert session.market.scenario.regions["cn_west"].electricity_usd_per_kwh == \
        load_scenario("parity").regions["cn_west"].electricity_usd_per_kwh
    assert session.market.scenario.policy.export_control_penalty == 0.0


def test_invalid_controls_give_a_message_not_an_exception():
    session = MarketSession(demand_growth=-0.9, producer_strategy=SCENARIO_STRATEGY)
    assert session.market is None
    assert not session.running
    assert "demand.growth_per_step" in session.error and "-0.9" in session.error
    session.step()  # a no-op, not an AttributeError
    _, rc = solara.render(_Panels(session), handle_error=False)
    assert "demand.growth_per_step" in rc.find(v.Alert, type="error").widget.children[0]
    rc.close()


# ------------------------------------------------------------------------------------------------
# pictures
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stepped():
    session = MarketSession()
    for _ in range(3):
        session.step()
    return session.market


def test_network_flows_conserve_the_served_volume(stepped):
    flows = drawing.network_flows(stepped)
    np.testing.assert_allclose(flows.platform_producer.sum(axis=0), stepped.producer_served)
    np.testing.assert_allclose(flows.segment_platform.sum(axis=0), stepped.platform_served)
    np.testing.assert_allclose(flows.segment_platform.sum(), stepped.consumer_served.sum())


def test_segment_graph_has_every_platform_and_producer(stepped):
    graph = drawing.segment_graph(stepped)
    kinds = [n[0] for n in graph]
    assert kinds.count("platform") == len(stepped.platforms)
    assert kinds.count("producer") == len(stepped.producers)
    assert kinds.count("segment") == len(stepped.region_names) * len(stepped.sector_names)
    pos = drawing.network_layout(graph)
    assert {round(p[0]) for p in pos.values()} == {0, 1, 2}


def test_cost_breakdown_adds_up_to_the_unit_cost_metric(stepped):
    for region, parts in drawing.cost_breakdown(stepped).items():
        assert sum(parts.values()) == pytest.approx(stepped.metrics[f"unit_cost_{region}"])


# ------------------------------------------------------------------------------------------------
# the page
# ------------------------------------------------------------------------------------------------
def test_page_steps_and_redraws_every_figure(page):
    assert page.find(children=["Step: 0"]).widget is not None
    before = [bytes(w.value) for w in page.find(widgets.Image).widgets]
    assert len(before) == len(app.COMPONENTS)
    _click(page, "Step")
    _click(page, "Step")
    page.find(children=["Step: 2"]).assert_single()
    after = [bytes(w.value) for w in page.find(widgets.Image).widgets]
    assert all(a != b for a, b in zip(before, after, strict=True))


def test_page_reset_applies_a_moved_slider(page):
    slider = page.find(v.Slider, label="Electricity cn_west (USD/kWh)").widget
    slider.v_model = 0.25
    _click(page, "Step")
    _click(page, "Reset")
    page.find(children=["Step: 0"]).assert_single()
    assert "cn_west 0.250" in _parameters(page)


def test_two_pages_have_their_own_models():
    _, first = solara.render(_App(), handle_error=False)
    _, second = solara.render(_App(), handle_error=False)
    _click(first, "Step")
    first.find(children=["Step: 1"]).assert_single()
    second.find(children=["Step: 0"]).assert_single()
    first.close()
    second.close()


# ------------------------------------------------------------------------------------------------
# command line
# ------------------------------------------------------------------------------------------------
def test_viz_help():
    result = subprocess.run([sys.executable, "-m", "pricewar.cli", "viz", "--help"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--scenario" in result.stdout and "--port" in result.stdout


def test_viz_rejects_an_unknown_scenario_before_starting_a_server():
    result = subprocess.run([sys.executable, "-m", "pricewar.cli", "viz", "--scenario", "nope",
                             "--port", "1"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "unknown scenario" in result.stderr


def test_viz_rejects_an_unknown_strategy_in_one_line_and_serves_nothing(tmp_path):
    """A scenario file naming an unknown strategy ends the command with the model's error
    (naming the group), and nothing is left serving on the port."""
    import tomli_w

    from pricewar.viz import probe, server

    path = tmp_path / "bad_strategy.toml"
    path.write_bytes(tomli_w.dumps({
        "name": "bad", "description": "", "start_date": "2024-01-01", "step_days": 7.0,
        "steps": 4, "producers": {"eu": {"strategy": "test_not_registered"}}}).encode())
    port = probe.free_port()
    result = subprocess.run([sys.executable, "-m", "pricewar.cli", "viz", "--scenario",
                             str(path), "--port", str(port)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("pricewar: error:") and "producers.eu.strategy" in last, last
    assert "pricewar viz: scenario" not in result.stdout  # never announced as serving
    assert server.port_is_free(port)


# ------------------------------------------------------------------------------------------------
# settings, recorded steps, comparison, downloads
# ------------------------------------------------------------------------------------------------
def test_switching_scenario_moves_the_levers_and_keeps_strategy_seed_and_consumers():
    settings = {**session_settings("baseline"), "producer_strategy": "cost_plus", "seed": 9,
                "n_consumers": 300, "electricity_us": 0.2}
    switched = switch_scenario(settings, "parity")
    assert switched["scenario"] == switched["controls_scenario"] == "parity"
    parity = load_scenario("parity").regions
    assert switched["electricity_cn_west"] == parity["cn_west"].electricity_usd_per_kwh
    assert switched["electricity_us"] == parity["us"].electricity_usd_per_kwh
    assert (switched["producer_strategy"], switched["seed"], switched["n_consumers"]) == \
        ("cost_plus", 9, 300)
    session = MarketSession(**switched)
    assert {g.strategy for g in session.market.scenario.producers.values()} == {"cost_plus"}
    assert session.parameters == {**switched, "comparison": None}
    assert pending_changes(switched, session.parameters) == []
    assert pending_changes({**switched, "seed": 2}, session.parameters) == ["seed"]


def test_session_settings_are_the_control_values_and_pass_mesa_checks():
    settings = session_settings("parity")
    params = model_params("parity")
    for key in control_values(load_scenario("parity")):
        assert settings[key] == params[key]["value"]
    _check_model_params(MarketSession.__init__, settings)


def test_every_step_is_recorded_as_the_model_was():
    session = MarketSession(n_consumers=150)
    reference = MarketSession(n_consumers=150)
    for _ in range(3):
        session.step()
    assert [r.step for r in session.history] == [0, 1, 2, 3]
    reference.step()
    record = session.record(1)
    np.testing.assert_array_equal(record.flows.platform_producer,
                                  drawing.network_flows(reference.market).platform_producer)
    assert record.costs == drawing.cost_breakdown(reference.market)
    assert record.date == reference.market.date
    assert session.record().step == 3


def test_comparison_runs_b_in_lock_step_with_the_same_seed_and_consumers():
    session = MarketSession(seed=3, n_consumers=150)
    session.step()
    b = session.compare_with(session_settings("parity"))
    assert b.market.steps == 1 and b.seed == 3 and len(b.market.consumers) == 150
    session.step()
    assert b.market.steps == 2
    alone = MarketSession("parity", seed=3, n_consumers=150)
    alone.step()
    alone.step()
    assert b.market.metrics == alone.market.metrics
    table = panels.comparison_table(session, b, 2)
    assert table.loc["price_avg", "B"] == alone.market.metrics["price_avg"]
    # Reset (a new session from the parameters) rebuilds the comparison
    rebuilt = MarketSession(**session.parameters)
    assert rebuilt.comparison is not None and rebuilt.comparison.scenario_name == "parity"


def test_downloads_are_the_run_so_far_with_metadata(tmp_path):
    import pandas as pd

    from pricewar.runs.outputs import read_metadata
    from pricewar.runs.runner import model_frame

    session = MarketSession(n_consumers=150)
    session.step()
    path = tmp_path / "model.parquet"
    path.write_bytes(run_file(session, "model.parquet"))
    pd.testing.assert_frame_equal(pd.read_parquet(path), model_frame(session.market))
    assert read_metadata(path)["steps"] == "1"
    assert run_file(session, "model.csv").decode().startswith("step,date,price_avg")
    assert download_name(session, "model.csv") == "baseline-seed1-step1-model.csv"


def test_step_zero_is_drawn_on_dated_non_negative_axes():
    session = MarketSession(n_consumers=150)
    figure, axes = drawing.new_figure(5.5, 3.4)
    frame = session.market.datacollector.get_model_vars_dataframe()
    drawing.draw_time_series(axes, drawing.TimeAxis.of(session.market), frame,
                             {"unserved": ("unserved_demand", "grey")}, "t", "Mtok", "Mtok/step")
    assert axes.get_ylim() == (0.0, 1.0)  # all zero: a 0..1 axis, not -0.05..0.05
    (line,) = axes.get_lines()
    assert line.get_marker() == "o" and len(line.get_xdata()) == 1
    low, high = axes.get_xlim()
    assert low < mdates.date2num(session.market.start_date) < high


def test_snapshot_reads_the_recorded_reporters():
    session = MarketSession(n_consumers=150)
    session.step()
    session.step()
    row = session.market.datacollector.get_model_vars_dataframe().iloc[1]
    text = panels.snapshot(session, 1)
    assert text.startswith("Step 1 (2024-01-08)") and f"Lerner {row['lerner']:.3f}" in text


def test_the_app_reports_refused_demand_and_the_cross_run_welfare():
    """issue 27: the app read only ``unserved_demand`` (no not-bought part) and compared
    ``consumer_surplus``, measured from each run's own initial prices."""
    session = MarketSession(n_consumers=150)
    session.step()
    row = session.market.datacollector.get_model_vars_dataframe().iloc[1]
    assert f"refused {row['refused_total']:,.0f} Mtok/step" in panels.snapshot(session, 1)
    assert row["refused_total"] == row["unserved_demand"] + row["not_bought_total"]
    assert {"refused_total", "refused_share", "consumer_surplus_common_ref"} <= set(
        panels.COMPARED_METRICS)
    assert not {"unserved_demand", "consumer_surplus"} & set(panels.COMPARED_METRICS)
    assert "TimeSeries_refused" in [panel.__name__ for panel in panels.COMPONENTS]


def test_page_reset_twice_keeps_the_scenario_and_strategy_shown(page):
    page.find(v.Select, label="Scenario").widget.v_model = "parity"
    page.find(v.Select, label="Producer strategy").widget.v_model = "cost_plus"
    for _ in range(2):
        _click(page, "Reset")
        text = _parameters(page)
        assert text.startswith("parity") and "strategy cost_plus" in text
        assert page.find(v.Select, label="Scenario").widget.v_model == "parity"
        assert page.find(v.Select, label="Producer strategy").widget.v_model == "cost_plus"


def test_a_negative_seed_gives_a_message_not_an_exception():
    session = MarketSession(**{**session_settings("baseline"), "seed": -3})
    assert session.market is None and "seed" in session.error and "-3" in session.error


# ------------------------------------------------------------------------------------------------
# v2 policy levers and panels
# ------------------------------------------------------------------------------------------------
#: a value for every lever, none of them the baseline's
MOVED_LEVERS = {"carbon_price_usd_per_t": 120.0, "power_subsidy_domestic_chips": 0.5,
                "capex_subsidy": 0.2, "wacc": 0.12, "export_control_penalty": 0.4,
                "export_control_lag_years": 1.5, "customer_base_kappa": 0.75,
                "chip_regime": "full_ban"}


def test_policy_levers_start_at_the_scenario_values_and_reach_the_model():
    settings = session_settings("baseline")
    assert {k: settings[k] for k in MOVED_LEVERS} == {
        k: v for k, v in control_values(load_scenario("baseline")).items() if k in MOVED_LEVERS}
    assert all(settings[k] != v for k, v in MOVED_LEVERS.items())
    session = MarketSession(**{**settings, **MOVED_LEVERS})
    assert session.error is None
    s = session.market.scenario
    assert control_values(s) == {**control_values(load_scenario("baseline")), **MOVED_LEVERS}
    assert s.policy.carbon_price_usd_per_t == 120.0 and s.policy.chip_regime == "full_ban"
    assert s.demand.customer_base_kappa_utils == 0.75
    text = session.describe()
    assert "carbon price 120 USD/t" in text and "chip regime full_ban" in text
    assert "WACC 0.120/year" in text and "lag 1.5 years" in text


@pytest.mark.parametrize("scenario", scenario_names())
def test_every_shipped_scenario_value_lies_on_its_sliders_step(scenario):
    """The browser's slider rounds its value to the step: a value off the grid would run
    rounded after Reset while the first run used the scenario's own."""
    values = control_values(load_scenario(scenario))
    for key, (_, _, _, step) in ALL_SLIDERS.items():
        assert values[key] / step == pytest.approx(round(values[key] / step), abs=1e-6), key


def test_switching_scenario_moves_the_policy_levers():
    settings = switch_scenario({**session_settings("baseline"), "chip_regime": "full_ban"},
                               "parity")
    assert settings["chip_regime"] == "no_controls"  # parity's own regime
    assert settings["power_subsidy_domestic_chips"] == 0.0


def test_page_reset_applies_moved_policy_levers(page):
    page.find(v.Slider, label="Carbon price (USD/t CO2)").widget.v_model = 200.0
    page.find(v.Select, label="Chip regime").widget.v_model = "no_controls"
    assert "carbon price 0 USD/t" in _parameters(page)  # not before Reset
    _click(page, "Reset")
    page.find(children=["Step: 0"]).assert_single()
    text = _parameters(page)
    assert "carbon price 200 USD/t" in text and "chip regime no_controls" in text
    assert page.find(v.Select, label="Chip regime").widget.v_model == "no_controls"


def test_tier_panel_defaults_to_the_tier_with_most_products_and_can_be_changed(page):
    select = page.find(v.Select, label="Capability tier").widget
    session = MarketSession()
    market = session.market
    tier = market.families.tier[market.product_arrays.family]
    counts = np.bincount(tier, minlength=len(market.tier_names))
    assert counts[market.tier_names.index(select.v_model)] == counts.max()
    before = bytes(page.find(widgets.Image).widgets[5].value)
    other = next(t for t in market.tier_names if t != select.v_model)
    select.v_model = other
    assert page.find(v.Select, label="Capability tier").widget.v_model == other
    assert bytes(page.find(widgets.Image).widgets[5].value) != before


def test_open_closed_panel_has_dollar_ticks_and_a_share_axis():
    session = MarketSession(n_consumers=150)
    session.step()
    figure, axes = drawing.new_figure(5.5, 3.4)
    frame = session.market.datacollector.get_model_vars_dataframe()
    drawing.draw_open_closed(axes, drawing.TimeAxis.of(session.market), frame)
    figure.canvas.draw()
    labels = [t.get_text() for t in axes.get_yticklabels() if t.get_text()]
    assert labels and all(label.startswith("$") for label in labels)
    share_axis = next(a for a in figure.axes if a is not axes)
    assert share_axis.get_ylim() == (0.0, 1.0)
    assert axes.get_ylim()[0] == 0.0
    low, high = axes.get_xlim()
    assert low < mdates.date2num(session.market.start_date) < high


def test_tier_panel_leaves_gaps_where_no_product_is_offered():
    session = MarketSession(n_consumers=150)
    frame = session.market.datacollector.get_model_vars_dataframe().copy()
    tier = session.market.tier_names[0]
    frame[f"price_tier_{tier}_cn"] = 0.0  # "0 while none"
    figure, axes = drawing.new_figure(5.5, 3.4)
    drawing.draw_tier_prices(axes, drawing.TimeAxis.of(session.market), frame, tier, 0)
    cn = axes.get_lines()[0]
    assert np.isnan(cn.get_ydata()).all()
    assert f"tier {tier}" in axes.get_title()



def test_every_panel_keeps_its_text_inside_the_figure_and_tells_share_from_price(monkeypatch):
    """The figures the page shows: no label clipped at the figure's edge (the open/closed panel
    cut its axis label to "D per M tokens"), and the open-weight share not in a price's colour."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figures = []
    monkeypatch.setattr(solara, "FigureMatplotlib",
                        lambda figure, **kwargs: figures.append(figure))
    session = MarketSession()  # the page's model: prices with two-digit dollar ticks
    for _ in range(3):
        session.step()
    solara.render(_Panels(session), handle_error=False)[1].close()
    assert len(figures) == len(app.COMPONENTS)
    for figure in figures:
        FigureCanvasAgg(figure).draw()  # lays the text out as the saved picture has it
        drawn = figure.get_tightbbox(figure.canvas.get_renderer())  # inches, what is drawn
        width_in, height_in = figure.get_size_inches()
        tolerance_in = 1 / figure.dpi
        assert drawn.x0 >= -tolerance_in and drawn.y0 >= -tolerance_in \
            and drawn.x1 <= width_in + tolerance_in and drawn.y1 <= height_in + tolerance_in, \
            (figure.axes[0].get_title(), drawn, (width_in, height_in))
    open_closed = next(f for f in figures
                       if f.axes[0].get_title().startswith("Open vs closed weights"))
    price, share = open_closed.axes
    assert {line.get_color() for line in share.get_lines()}.isdisjoint(
        line.get_color() for line in price.get_lines())


# ------------------------------------------------------------------------------------------------
# speed: one figure per panel, drawn again at every step
# ------------------------------------------------------------------------------------------------
def _drawings(session: MarketSession, step: int | None = None):
    """Every panel's drawing of ``session`` at ``step``: (name, draw(axes))."""
    market, record = session.market, session.record(step)
    frame = market.datacollector.get_model_vars_dataframe()
    axis = drawing.TimeAxis.of(market, step)
    graph, pos = record.network
    tier = market.tier_names[0]
    return [
        ("network", lambda ax: drawing.draw_network_flows(
            ax, graph, pos, record.flows, market.region_names, record.step, record.date)),
        ("costs", lambda ax: drawing.draw_cost_bars(ax, record.costs, record.step)),
        ("series", lambda ax: drawing.draw_time_series(
            ax, axis, frame, {"unserved": ("unserved_demand", "grey"),
                              "refused": ("refused_total", "black")}, "t", "Mtok", "Mtok/step")),
        ("power", lambda ax: drawing.draw_market_power(ax, axis, frame)),
        ("open-closed", lambda ax: drawing.draw_open_closed(ax, axis, frame)),
        ("tier", lambda ax: drawing.draw_tier_prices(ax, axis, frame, tier, record.step)),
    ]


def _png(figure) -> bytes:
    from io import BytesIO

    out = BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def test_drawing_again_into_a_figure_gives_the_picture_of_a_new_figure():
    """The app keeps one figure per panel and draws each step into it: the picture must be
    the one a new figure shows (nothing of the earlier step left: lines, bars, the look-back
    line, a second twin axes, a second legend)."""
    early, late = MarketSession(n_consumers=150), MarketSession(n_consumers=150)
    for _ in range(3):
        late.step()
    early.step()
    reused = {name: drawing.new_figure(5.5, 3.4) for name, _ in _drawings(early)}
    for name, draw in _drawings(late, step=1):  # with the look-back line
        draw(reused[name][1])
    for name, draw in _drawings(early):
        draw(reused[name][1])
    for name, draw_late in _drawings(late):
        figure, axes = reused[name]
        draw_late(axes)
        new_figure, new_axes = drawing.new_figure(5.5, 3.4)
        draw_late(new_axes)
        assert len(figure.axes) == len(new_figure.axes), name
        assert _png(figure) == _png(new_figure), name


def test_a_step_draws_into_the_panels_figures_instead_of_making_new_ones(page, monkeypatch):
    """Making a figure, its axes and their ticks took about a fifth of a step (issue 27: a Step
    took 1-4 s): after the first render, Step makes no figure and still redraws every panel."""
    made = []
    for name in ("new_figure", "new_grid"):
        original = getattr(drawing, name)
        monkeypatch.setattr(drawing, name,
                            lambda *a, _original=original, **k: made.append(a) or _original(*a, **k))
    before = [bytes(w.value) for w in page.find(widgets.Image).widgets]
    _click(page, "Step")
    page.find(children=["Step: 1"]).assert_single()
    after = [bytes(w.value) for w in page.find(widgets.Image).widgets]
    assert made == []
    assert all(a != b for a, b in zip(before, after, strict=True))
