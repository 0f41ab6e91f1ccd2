"""Pricing strategies: the registry (a strategy registered here runs in the model), the heuristic
strategies and scarcity pricing on hand-computed markets."""

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tomli_w
from conftest import TINY_OVERRIDES

from pricewar.cli import main
from pricewar.errors import ScenarioError
from pricewar.kernel import RouteMarket, RouteTopology, bertrand_nash, best_response
from pricewar.model import PriceWarModel
from pricewar.model.scenario_strategies import resolve_strategies
from pricewar.scenario import load_scenario, parse_override_value
from pricewar.strategies import (
    STRATEGY_OBSERVERS,
    STRATEGY_PARAMS,
    STRATEGY_REGISTRY,
    PricingView,
    cheapest_rival_price,
    register,
    scarcity_update,
)
from pricewar.strategies.heuristics import best_response_step, cost_plus, nash_prices, undercut

SMALL = TINY_OVERRIDES


# --------------------------------------------------------------------------------------------
# strategies registered in this file
# --------------------------------------------------------------------------------------------
@register("test_fixed_markup")
def fixed_markup(view: PricingView, members: np.ndarray) -> np.ndarray:
    """1.7 times marginal cost."""
    return 1.7 * view.marginal_cost[members]


@dataclasses.dataclass(frozen=True)
class MarkupParams:
    markup: float = 1.5
    memory_steps: int = 3

    def __post_init__(self):
        if self.markup <= 1:
            raise ValueError(f"markup must be > 1, got {self.markup!r}")


def observe_profit(state: dict, producer_ids: np.ndarray, profit: np.ndarray) -> None:
    state.setdefault("test_observed", []).append((producer_ids.copy(), profit.copy()))


@register("test_observed", params=MarkupParams, observe=observe_profit)
def observed_markup(view: PricingView, members: np.ndarray) -> np.ndarray:
    return view.strategy_params["test_observed"].markup * view.marginal_cost[members]


def _write(tmp_path, data, name="scenario.toml") -> Path:
    path = tmp_path / name
    path.write_bytes(tomli_w.dumps(data).encode())
    return path


def _partial(**extra) -> dict:
    return {"name": "registry", "description": "", "start_date": "2024-01-01", "step_days": 7.0,
            "steps": 4, **extra}


def test_a_strategy_registered_in_a_test_file_runs_in_the_model():
    model = PriceWarModel("baseline", seed=1, producer_strategy="test_fixed_markup", **SMALL)
    assert set(model.producer_strategy) == {"test_fixed_markup"}
    for _ in range(2):
        model.step()  # every product of every host
        np.testing.assert_array_equal(model.product_base_price, 1.7 * model.product_marginal_cost)


def test_a_registered_strategy_is_usable_from_a_scenario_file_and_set(tmp_path):
    path = _write(tmp_path, _partial(producers={"eu": {"strategy": "test_fixed_markup"}}))
    scenario = load_scenario(path)
    assert scenario.producers["eu"].strategy == "test_fixed_markup"
    assert scenario.producers["us"].strategy == "best_response"
    value = parse_override_value("producer_strategy", "test_fixed_markup")
    changed = load_scenario("baseline").with_overrides(producer_strategy=value)
    assert {g.strategy for g in changed.producers.values()} == {"test_fixed_markup"}


def test_an_unregistered_strategy_is_rejected_naming_the_group(tmp_path):
    path = _write(tmp_path, _partial(producers={"eu": {"strategy": "test_not_registered"}}))
    with pytest.raises(ScenarioError, match="must be one of") as info:
        resolve_strategies(load_scenario(path))  # the model's check (PriceWarModel calls it)
    assert info.value.key_path == "producers.eu.strategy"
    assert "test_fixed_markup" in str(info.value)  # the registry is asked at validation time


def test_strategy_parameters_come_from_the_scenario_and_the_hook_sees_realised_profit(tmp_path):
    path = _write(tmp_path, _partial(producers={g: {"strategy": "test_observed"}
                                                for g in ("cn_west", "cn_east", "us", "eu")},
                                     strategy_params={"test_observed": {"markup": 2.5}}))
    model = PriceWarModel(path, seed=2, **SMALL)
    assert model.scenario.strategy_params["test_observed"] == MarkupParams(markup=2.5)
    calls = model.strategy_state["test_observed"]
    assert len(calls) == 1  # the initial settlement
    for step in range(1, 3):
        model.step()
        independent = model.producer_owner[model.product_producer] < 0
        np.testing.assert_array_equal(model.product_base_price[independent],
                                      2.5 * model.product_marginal_cost[independent])
        assert len(calls) == 1 + step
        ids, profit = calls[-1]  # per product, keyed by the product's stable id
        np.testing.assert_array_equal(ids, model.product_product_id)
        np.testing.assert_array_equal(profit, model.product_profit)


def test_defaults_of_strategies_in_use_are_written_into_the_resolved_scenario(tmp_path):
    scenario = resolve_strategies(
        load_scenario("baseline").with_overrides(producer_strategy="test_observed"))
    assert scenario.strategy_params == {"test_observed": MarkupParams()}
    assert scenario.sources["strategy_params.test_observed.markup"].startswith("default")
    path = tmp_path / "resolved.toml"
    path.write_text(scenario.to_toml())
    assert resolve_strategies(load_scenario(path)) == scenario
    assert load_scenario("baseline").strategy_params == {}  # no strategy with parameters in use


def test_q_learning_parameters_replay_from_the_scenario(tmp_path):
    path = _write(tmp_path, _partial(strategy_params={"q_learning": {"n_prices": 7}}))
    model = PriceWarModel(path, seed=3, producer_strategy="q_learning", **SMALL)
    model.step()
    model.step()
    assert model.strategy_state["q_learning"]["q"].shape[1:] == (49, 7)
    resolved = tmp_path / "resolved.toml"
    resolved.write_text(model.scenario.to_toml())
    again = resolve_strategies(load_scenario(resolved))
    assert again.strategy_params["q_learning"].n_prices == 7
    assert again.strategy_params["q_learning"].discount == 0.95  # the default, recorded


@pytest.mark.parametrize("params, key_path, fragment", [
    ({"q_learning": {"n_prices": 1}}, "strategy_params.q_learning.n_prices", "int >= 2"),
    ({"q_learning": {"discount": -0.5}}, "strategy_params.q_learning.discount", "must be >= 0"),
    ({"q_learning": {"colour": 1}}, "strategy_params.q_learning.colour", "unknown key"),
    ({"test_observed": {"markup": 0.5}}, "strategy_params.test_observed.markup", "must be > 1"),
    ({"nash": {"tolerance": 1e-9}}, "strategy_params.nash", "must be one of"),
])
def test_invalid_strategy_parameters_name_the_key(tmp_path, params, key_path, fragment):
    path = _write(tmp_path, _partial(strategy_params=params))
    with pytest.raises(ScenarioError) as info:
        resolve_strategies(load_scenario(path))  # the model's check (PriceWarModel calls it)
    assert info.value.key_path == key_path
    assert fragment in str(info.value)


def test_register_records_parameters_and_hook_and_a_plain_reregistration_drops_them():
    @register("test_temporary", params=MarkupParams, observe=observe_profit)
    def temporary(view, members):
        return view.price[members]

    assert STRATEGY_REGISTRY["test_temporary"] is temporary
    assert STRATEGY_PARAMS["test_temporary"] is MarkupParams
    assert STRATEGY_OBSERVERS["test_temporary"] is observe_profit
    register("test_temporary")(temporary)
    assert "test_temporary" not in STRATEGY_PARAMS and "test_temporary" not in STRATEGY_OBSERVERS


def test_strategies_never_import_the_scenario_or_model_layers():
    package = Path(__file__).resolve().parents[1] / "pricewar" / "strategies"
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not name.startswith(("pricewar.scenario", "pricewar.model")), (path, name)



def test_the_scenario_layer_imports_no_strategy_and_the_registry_is_a_leaf():
    root = Path(__file__).resolve().parents[1] / "pricewar"
    for path in [*(root / "scenario").glob("*.py"), root / "strategies" / "registry.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                assert not name.startswith("pricewar.strategies"), (path, name)
                if path.name == "registry.py":
                    assert not name.startswith("pricewar"), (path, name)
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, pricewar.scenario as s; s.load_scenario('baseline'); "
                               "print(sorted(m for m in sys.modules if 'strategies' in m))"],
        capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"


def test_an_unregistered_strategy_fails_the_model_and_a_set_before_running(tmp_path, capsys):
    with pytest.raises(ScenarioError, match="must be one of") as info:
        PriceWarModel("baseline", seed=1, producer_strategy="test_not_registered", **SMALL)
    assert info.value.key_path.endswith(".strategy") and "test_fixed_markup" in str(info.value)
    assert "override producer_strategy" in str(info.value)
    out = tmp_path / "out"
    code = main(["run", "baseline", "--set", "producer_strategy=magic", "--out", str(out),
                 "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "magic" in err and not out.exists()


# --------------------------------------------------------------------------------------------
# a hand-built market: consumer 0 meets producers 0 and 1, consumer 1 meets 1 and 2, consumer 2
# meets producer 3 alone (through two platforms)
# --------------------------------------------------------------------------------------------
def _market(alpha: float = 3.0) -> RouteMarket:
    topology = RouteTopology(np.array([0, 2, 4, 6]), np.array([0, 1, 1, 2, 3, 3]), 4)
    return RouteMarket(topology, route_utility=np.zeros(6), route_price_extra=np.zeros(6),
                       consumer_alpha=np.full(3, alpha), consumer_demand=np.full(3, 100.0),
                       consumer_outside_utility=np.zeros(3), producer_capacity=np.full(4, np.inf))


def _view(market, price, marginal_cost, full_cost=None, **params):
    pricing = SimpleNamespace(**{"best_response_damping": 0.5, "undercut_fraction": 0.1,
                                 "cost_plus_markup": 0.5, **params})
    price = np.asarray(price, dtype=float)
    full_cost = marginal_cost if full_cost is None else full_cost
    return PricingView(market, price, np.asarray(marginal_cost, float),
                       np.asarray(full_cost, float), np.zeros(price.size), pricing)


def test_cheapest_rival_price_is_the_lowest_other_price_met_at_a_shared_consumer():
    rival = cheapest_rival_price(_market(), np.array([1.0, 2.0, 3.0, 5.0]))
    np.testing.assert_array_equal(rival, [2.0, 1.0, 2.0, np.inf])  # producer 3 has no rival


def test_cheapest_rival_price_meets_comparable_units_of_other_firms_only():
    price = np.array([1.0, 2.0, 3.0, 5.0])
    # units 0 and 1 belong to one firm: 0's rival at consumer 0 is nobody, 1's is 2 (consumer 1)
    firm = np.array([0, 0, 1, 2])
    np.testing.assert_array_equal(cheapest_rival_price(_market(), price, producer_firm=firm),
                                  [np.inf, 3.0, 2.0, np.inf])
    # units of different tiers are not rivals: 1 (tier 1) meets nobody of its tier
    group = np.array([0, 1, 0, 0])
    np.testing.assert_array_equal(cheapest_rival_price(_market(), price, producer_group=group),
                                  [np.inf, np.inf, np.inf, np.inf])
    group = np.array([0, 0, 1, 1])
    np.testing.assert_array_equal(cheapest_rival_price(_market(), price, producer_group=group),
                                  [2.0, 1.0, np.inf, np.inf])


def test_cheapest_rival_price_without_routes_is_inf():
    empty = RouteTopology(np.zeros(2, np.int64), np.zeros(0, np.int64), 2)
    market = RouteMarket(empty, route_utility=np.zeros(0), route_price_extra=np.zeros(0),
                         consumer_alpha=np.full(1, 2.0), consumer_demand=np.ones(1),
                         consumer_outside_utility=np.zeros(1), producer_capacity=np.ones(2))
    np.testing.assert_array_equal(cheapest_rival_price(market, np.ones(2)), [np.inf, np.inf])


def test_undercut_cuts_below_the_cheapest_rival_never_below_cost_and_the_cheapest_best_responds():
    view = _view(_market(), [1.0, 2.0, 3.0, 5.0], [0.5, 0.5, 2.8, 1.0])
    price = undercut(view, np.arange(4))
    br = best_response_step(view, np.arange(4))
    assert price[1] == pytest.approx(0.9)  # 10% below producer 0's 1.0
    assert price[2] == 2.8  # 10% below 2.0 would be below its marginal cost
    assert price[0] == max(br[0], 0.5)  # already the cheapest at consumer 0: best response
    assert price[3] == max(br[3], 1.0)  # nobody to undercut
    np.testing.assert_array_equal(undercut(view, np.array([2, 1])), price[[2, 1]])


def test_cost_plus_is_a_fixed_markup_over_full_unit_cost():
    view = _view(_market(), [1.0, 1.0, 1.0, 1.0], [0.1] * 4, full_cost=[2.0, 4.0, 1.0, 3.0],
                 cost_plus_markup=0.5)
    np.testing.assert_array_equal(cost_plus(view, np.array([0, 1, 3])), [3.0, 6.0, 4.5])


def _monopoly(alpha: float) -> RouteMarket:
    topology = RouteTopology(np.array([0, 1]), np.array([0]), 1)
    return RouteMarket(topology, route_utility=np.zeros(1), route_price_extra=np.zeros(1),
                       consumer_alpha=np.array([alpha]), consumer_demand=np.array([100.0]),
                       consumer_outside_utility=np.zeros(1), producer_capacity=np.array([np.inf]))


def test_best_response_step_moves_halfway_to_the_inverse_elasticity_price():
    # p = 1, u = v0 = 0: inside share 1/2; with alpha = 3 the elasticity is 3 x 1/2 = 1.5, so
    # the best response is c / (1 - 1/1.5) = 3c = 1.5 and half-way from 1 is 1.25
    view = _view(_monopoly(3.0), [1.0], [0.5])
    assert best_response_step(view, np.array([0]))[0] == pytest.approx(1.25, rel=1e-12)


def test_best_response_step_doubles_the_target_where_demand_is_inelastic():
    # alpha = 2: elasticity 2 x 1/2 = 1, no interior optimum: the target is 2p, half-way is 1.5p
    view = _view(_monopoly(2.0), [1.0], [0.5])
    assert best_response_step(view, np.array([0]))[0] == pytest.approx(1.5, rel=1e-12)


def test_nash_prices_of_all_producers_are_the_kernel_equilibrium_and_partial_nash_holds_others():
    market, cost = _market(), np.array([0.5, 0.6, 0.7, 0.8])
    view = _view(market, [1.0, 1.0, 1.0, 1.0], cost)
    np.testing.assert_allclose(nash_prices(view, np.arange(4)),
                               bertrand_nash(market, cost, initial_price=view.price, tol=1e-9))
    members = np.array([0, 1])
    partial = view.price.copy()
    partial[members] = nash_prices(view, members, tol=1e-12)
    np.testing.assert_allclose(best_response(market, partial, cost)[members], partial[members],
                               rtol=1e-9)
    assert (partial[2:] == 1.0).all()


# --------------------------------------------------------------------------------------------
# scarcity pricing
# --------------------------------------------------------------------------------------------
def test_scarcity_update_moves_by_the_price_change_that_brings_demand_to_the_threshold():
    surcharge = np.array([1.0, 1.2, 1.5, 1.0, 1.3])
    demand = np.array([90.0, 100.0, 0.0, 200.0, 10.0])
    capacity = np.array([100.0, 100.0, 100.0, 100.0, 0.0])
    elasticity = np.array([2.0, 1.0, 2.0, 0.5, 1.0])
    new = scarcity_update(surcharge, demand, capacity, elasticity, threshold=0.9,
                          max_increase=1.0)
    np.testing.assert_allclose(new, [
        1.0,  # demand exactly at 90% of capacity: no change
        1.2 * (100.0 / 90.0),  # (D / (0.9 K)) ** (1 / 1)
        1.0,  # no demand: decays back to 1
        2.0,  # (200 / 90) ** 2 = 4.9: capped at 1 + max_increase
        2.0,  # demand on zero capacity: the cap
    ], rtol=1e-12)


def test_scarcity_update_decays_toward_one_when_capacity_is_slack():
    new = scarcity_update(np.array([1.6, 1.6]), np.array([81.0, 45.0]), np.array([100.0, 100.0]),
                          np.array([1.0, 1.0]), threshold=0.9, max_increase=1.0)
    np.testing.assert_allclose(new, [1.6 * 0.9, 1.0], rtol=1e-12)  # 81/90; 45/90 x 1.6 < 1
