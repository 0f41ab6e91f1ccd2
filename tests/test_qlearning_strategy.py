"""The ``q_learning`` producer strategy (Calvano et al. 2020 learning rule in the token market)."""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import TINY_OVERRIDES

from pricewar.errors import KernelInputError
from pricewar.model import PriceWarModel
from pricewar.strategies import STRATEGY_REGISTRY
from pricewar.strategies import q_learning as qlearning_strategy
from pricewar.strategies.q_learning import DEFAULT_PARAMS, STATE_KEY, QLearningParams

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
SMALL = {**TINY_OVERRIDES, "producer_strategy": "q_learning"}


def _model(seed: int = 3, **overrides) -> PriceWarModel:
    return PriceWarModel("baseline", seed=seed, **{**SMALL, **overrides})


def _price_path(seed: int, steps: int = 10) -> np.ndarray:
    model = _model(seed)
    path = []
    for _ in range(steps):
        model.step()
        path.append(model.producer_price.copy())
    return np.array(path)


def _learner_ids(model: PriceWarModel) -> np.ndarray:
    """Learners are products (one host's offer of one family), keyed by their stable id."""
    return np.sort(model.product_product_id)


def test_q_learning_is_registered_by_importing_the_strategies_module():
    assert STRATEGY_REGISTRY["q_learning"] is qlearning_strategy.q_learning


def test_same_seed_gives_identical_prices_and_different_seeds_differ():
    first, again, other = _price_path(3), _price_path(3), _price_path(4)
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_prices_stay_positive_finite_and_on_the_markup_grid():
    model = _model()
    for _ in range(12):
        model.step()
        grid = model.strategy_state[STATE_KEY]["grid"]
        markup = model.product_base_price / model.product_marginal_cost
        assert np.isfinite(model.product_price).all() and (model.product_price > 0).all()
        assert markup.min() >= grid[0] * (1 - 1e-9) and markup.max() <= grid[-1] * (1 + 1e-9)
        # every base price is a grid markup over this step's marginal cost
        assert np.abs(np.log(markup)[:, None] - np.log(grid)[None, :]).min(axis=1).max() < 1e-9
    assert grid.size == DEFAULT_PARAMS.n_prices and grid[0] == DEFAULT_PARAMS.markup_min


def test_q_update_is_calvano_eq_4_on_last_steps_state_action_with_deflated_realised_profit():
    model = _model()
    model.step()
    memory = model.strategy_state[STATE_KEY]
    q_before = memory["q"].copy()
    # first call: every state's row is the initial row (payoff against random rivals)
    np.testing.assert_array_equal(q_before, np.broadcast_to(q_before[:, :1], q_before.shape))
    state, action = memory["last_state"].copy(), memory["last_action"].copy()
    profit_ids, profit = memory["realised_profit"]
    np.testing.assert_array_equal(profit_ids, memory["ids"])  # no exit: same order
    reward = profit / (memory["market_marginal_cost"] * memory["market_demand_per_producer"])
    model.step()
    new_state = memory["last_state"]
    rows = np.arange(state.size)
    alpha, delta = DEFAULT_PARAMS.learning_rate, DEFAULT_PARAMS.discount
    old = q_before[rows, state, action]
    expected = old + alpha * (reward + delta * q_before[rows, new_state].max(axis=1) - old)
    np.testing.assert_allclose(memory["q"][rows, state, action], expected, rtol=1e-12)
    assert not np.array_equal(memory["q"], q_before)
    assert "realised_profit" in memory  # the model's hook refilled it after this step


def test_exit_and_entry_keep_one_table_per_learner_keyed_by_product_id():
    model = _model(seed=5)
    for _ in range(3):
        model.step()
    memory = model.strategy_state[STATE_KEY]
    mask = np.zeros(model.n_producers, dtype=bool)
    mask[[3, 12, 30]] = True  # an owner-host and two independent hosts
    gone = set(model.product_product_id[mask[model.product_producer]].tolist())
    assert gone
    survivor = int(model.product_product_id[~mask[model.product_producer]][0])
    q_survivor = memory["q"][np.flatnonzero(memory["ids"] == survivor)[0]].copy()
    model._remove_producers(mask)
    model.step()
    np.testing.assert_array_equal(np.sort(memory["ids"]), _learner_ids(model))
    assert gone.isdisjoint(memory["ids"].tolist())
    # the survivor kept its own table (at most the one cell of last step's action changed)
    changed = memory["q"][np.flatnonzero(memory["ids"] == survivor)[0]] != q_survivor
    assert changed.sum() <= 1
    n_before = model.n_producers
    model._enter_producers()
    assert model.n_producers > n_before
    for _ in range(2):
        model.step()
    np.testing.assert_array_equal(np.sort(memory["ids"]), _learner_ids(model))
    assert memory["q"].shape == (model.n_products, 15 * 15, 15)
    assert np.isfinite(model.product_price).all() and (model.product_price > 0).all()


@pytest.mark.parametrize("bad", [{"n_prices": 1}, {"markup_min": 1.0}, {"discount": 1.0},
                                 {"learning_rate": 0.0}, {"exploration_decay": -1e-3},
                                 {"init_rounds": 0}])
def test_invalid_parameters_raise_naming_the_parameter(bad):
    with pytest.raises(KernelInputError, match=next(iter(bad))):
        QLearningParams(**bad)


def test_parameters_in_the_strategy_state_are_used():
    model = _model()
    model.strategy_state[STATE_KEY] = {"params": QLearningParams(n_prices=7)}
    model.step()
    model.step()
    assert model.strategy_state[STATE_KEY]["q"].shape[1:] == (49, 7)


def _experiment():
    sys.path.insert(0, str(EXPERIMENTS))
    try:
        import qlearning_vs_best_response as experiment
    finally:
        sys.path.remove(str(EXPERIMENTS))
    return experiment


def test_experiment_keeps_the_baselines_exit_by_default_and_no_exit_switches_it_off():
    experiment = _experiment()
    default, no_exit = experiment.parse_args([]), experiment.parse_args(["--no-exit"])
    assert experiment.experiment_scenario(exit_enabled=default.exit).dynamics.exit_enabled
    assert not experiment.experiment_scenario(exit_enabled=no_exit.exit).dynamics.exit_enabled
    assert experiment.output_name(default.exit) == "qlearning_vs_best_response"
    assert experiment.output_name(no_exit.exit) == "qlearning_vs_best_response_no_exit"


def test_quick_experiment_writes_its_files_and_prints_finite_headline_numbers(tmp_path, capsys):
    experiment = _experiment()
    assert experiment.main(["--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    result = json.loads(capsys.readouterr().out)
    for name in ("qlearning_vs_best_response.png", "qlearning_vs_best_response.svg",
                 "qlearning_vs_best_response.csv"):
        assert (tmp_path / name).stat().st_size > 0
    for strategy in ("q_learning", "best_response"):
        numbers = result[strategy]
        assert all(np.isfinite(v) for v in numbers.values())
        assert 0 < numbers["lerner_mean"] < 1
    assert result["best_response"]["price_relative_to_best_response_mean"] == 1.0
    assert result["exit_enabled"] is True
    table = pd.read_csv(tmp_path / "qlearning_vs_best_response.csv")
    assert (table["exits_total"] + table["active_producers"]).nunique() == 1  # no entry: exits
    assert result["q_learning"]["exits_by_end_mean"] == table.groupby(  # are hosts lost
        ["strategy", "seed"])["exits_total"].max()["q_learning"].mean()
