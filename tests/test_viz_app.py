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
import solara  # noqa: E402

from pricewar.scenario import load_scenario  # noqa: E402
from pricewar.viz import app, drawing  # noqa: E402
from pricewar.viz.session import (  # noqa: E402
    SCENARIO_STRATEGY,
    VIZ_CONSUMERS,
    MarketSession,
    control_values,
    model_params,
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
    assert session.market.scenario.regions["cn_west"].electricity_usd_per_kwh == 0.081
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
