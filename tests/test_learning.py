"""Q-learning pricing (Calvano, Calzolari, Denicolò & Pastorello 2020, AER): game, learning, deviations."""

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pricewar.errors import KernelInputError, PricewarError
from pricewar.studies.calvano import (
    CalvanoConfig,
    LogitPricingGame,
    impulse_response,
    initial_q_values,
    run_sessions,
)

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "calvano_collusion.py"
BASELINE = CalvanoConfig()
# the experiment's quick mode: faster exploration decay than the paper's 4e-6
QUICK = CalvanoConfig(exploration_decay=1e-4)
# a tiny game for the loop oracle: 3 prices, fast decay, short convergence window
TINY = CalvanoConfig(n_prices=3, exploration_decay=2e-2, stable_periods=40, max_periods=400)


def _closed_form_profit(price, quality=2.0, cost=1.0, mu=0.25, outside=0.0):
    """Calvano et al. (2020) eq. (1) written out, independent of the kernel."""
    price = np.asarray(price, float)
    e = np.exp((quality - price) / mu)
    return (price - cost) * e / (e.sum() + np.exp(outside / mu))


# --- the stage game on the grid --------------------------------------------------------------
def test_baseline_grid_spans_nash_to_monopoly_extended_by_xi():
    game = BASELINE.game
    span = game.monopoly_price - game.nash_price
    np.testing.assert_allclose(game.price_grid[:, 0], game.nash_price - 0.1 * span)
    np.testing.assert_allclose(game.price_grid[:, -1], game.monopoly_price + 0.1 * span)
    assert game.price_grid.shape == (2, 15)
    np.testing.assert_allclose(np.diff(game.price_grid, axis=1), span[0] * 1.2 / 14)


def test_profit_matrix_matches_closed_form_logit_at_every_grid_profile():
    game = BASELINE.game
    grid = game.price_grid[0]
    expected = np.array([[_closed_form_profit([grid[a1], grid[a2]]) for a2 in range(15)]
                         for a1 in range(15)])  # (a1, a2, firm)
    np.testing.assert_allclose(np.moveaxis(game.profit_matrix, 0, -1), expected, rtol=1e-12)


def test_profit_at_grid_points_closest_to_nash_and_monopoly_match_their_profits():
    game = BASELINE.game
    grid = game.price_grid[0]
    step = grid[1] - grid[0]
    diagonal = np.diagonal(game.profit_matrix, axis1=1, axis2=2)  # both firms at grid[k]
    # Nash: joint profit rises along the diagonal to first order, so the two symmetric grid
    # profiles around p^N bracket pi^N, and the nearest one (6.5e-3 below p^N) is within ~1.5%
    k = int(np.searchsorted(grid, game.nash_price[0])) - 1
    assert grid[k] <= game.nash_price[0] <= grid[k + 1]
    assert (diagonal[:, k] <= game.nash_profit).all()
    assert (game.nash_profit <= diagonal[:, k + 1]).all()
    near = int(np.abs(grid - game.nash_price[0]).argmin())
    np.testing.assert_allclose(diagonal[:, near], game.nash_profit, rtol=0.015)
    # monopoly: a maximum of joint profit, so no grid profile beats it and the nearest grid point
    # (within half a step) loses only at second order
    near = int(np.abs(grid - game.monopoly_price[0]).argmin())
    assert abs(grid[near] - game.monopoly_price[0]) <= step / 2
    assert (game.profit_matrix.sum(axis=0).max() <= 2 * game.monopoly_profit[0] + 1e-12)
    np.testing.assert_allclose(diagonal[:, near], game.monopoly_profit, rtol=1e-3)
    # the paper's baseline: pi^N ~ 0.2229, pi^M ~ 0.3375 per firm
    np.testing.assert_allclose(game.nash_profit, 0.2229, atol=1e-4)
    np.testing.assert_allclose(game.monopoly_profit, 0.3375, atol=1e-4)


def test_profile_index_is_firm1_major():
    game = CalvanoConfig(n_firms=3, n_prices=4).game
    assert game.profile_profit.shape == (3, 64)
    a = (1, 3, 2)
    s = int(np.dot(a, game.place_value))
    assert s == 1 * 16 + 3 * 4 + 2
    np.testing.assert_allclose(game.profile_profit[:, s], game.profit_matrix[:, 1, 3, 2])


# --- initialisation --------------------------------------------------------------------------
def test_initial_q_is_discounted_payoff_against_uniform_rivals():
    game, delta, m = BASELINE.game, BASELINE.discount, BASELINE.n_prices
    q0 = initial_q_values(game, delta)
    matrix = game.profit_matrix
    for a in range(m):
        expected_1 = sum(matrix[0, a, b] for b in range(m)) / ((1 - delta) * m)
        expected_2 = sum(matrix[1, b, a] for b in range(m)) / ((1 - delta) * m)
        assert q0[0, a] == pytest.approx(expected_1, rel=1e-12)
        assert q0[1, a] == pytest.approx(expected_2, rel=1e-12)


def test_initial_q_three_firms_averages_over_rival_pairs():
    config = CalvanoConfig(n_firms=3, n_prices=4)
    q0 = initial_q_values(config.game, config.discount)
    matrix = config.game.profit_matrix
    np.testing.assert_allclose(q0[2, 1], matrix[2, :, :, 1].sum() / ((1 - 0.95) * 16))


def test_sessions_start_from_initial_q():
    result = run_sessions(replace(TINY, max_periods=1), 2, seed=0, progress=False)
    q0 = initial_q_values(TINY.game, TINY.discount)
    # one period updates exactly one cell per firm and session; everything else is q0
    changed = result.q_values != q0[None, :, None, :]
    assert (changed.sum(axis=(2, 3)) <= 1).all()


# --- the vectorized learner against a plain per-session loop ----------------------------------
def _oracle_session(config: CalvanoConfig, rng: np.random.Generator):
    """One session, one period at a time, in plain Python: the textbook algorithm."""
    game = config.game
    n, m = config.n_firms, config.n_prices
    profit = game.profit_matrix
    q0 = initial_q_values(game, config.discount)
    states = [tuple(a) for a in np.ndindex(*(m,) * n)]
    q = {(i, s): list(q0[i]) for i in range(n) for s in states}
    state = states[int(rng.integers(m ** n))]
    stable = 0
    for t in range(config.max_periods):
        epsilon = np.exp(-config.exploration_decay * t)
        greedy = [int(np.argmax(q[i, state])) for i in range(n)]
        u = rng.random(n)
        action = tuple(int(u[i] / epsilon * m) if u[i] < epsilon else greedy[i]
                       for i in range(n))
        for i in range(n):
            target = profit[(i,) + action] + config.discount * max(q[i, action])
            q[i, state][action[i]] = ((1 - config.learning_rate) * q[i, state][action[i]]
                                      + config.learning_rate * target)
        unchanged = all(int(np.argmax(q[i, state])) == greedy[i] for i in range(n))
        stable = stable + 1 if unchanged else 0
        state = action
        if stable >= config.stable_periods:
            return True, t + 1, q, state
    return False, config.max_periods, q, state


@pytest.mark.parametrize("config", [TINY, replace(TINY, max_periods=60, stable_periods=1000),
                                    replace(TINY, n_firms=3, n_prices=2)])
def test_vectorized_learning_equals_per_session_loop(config):
    n_sessions, seed = 4, 11
    result = run_sessions(config, n_sessions, seed=seed, progress=False, chunk_periods=7)
    generators = [np.random.default_rng(s)
                  for s in np.random.SeedSequence(seed).spawn(n_sessions)]
    m, n = config.n_prices, config.n_firms
    states = [tuple(a) for a in np.ndindex(*(m,) * n)]
    for k, rng in enumerate(generators):
        converged, periods, q, state = _oracle_session(config, rng)
        assert result.converged[k] == converged
        assert result.periods[k] == periods
        assert result.final_state[k] == states.index(state)
        oracle_q = np.array([[q[i, s] for s in states] for i in range(n)])
        np.testing.assert_allclose(result.q_values[k], oracle_q, rtol=1e-13)
        np.testing.assert_array_equal(result.strategy[k], oracle_q.argmax(axis=2))


def test_tiny_config_exercises_both_convergence_and_cap():
    result = run_sessions(TINY, 8, seed=11, progress=False)
    assert result.converged.any()
    assert (result.periods[result.converged] < TINY.max_periods).all()
    capped = run_sessions(replace(TINY, stable_periods=10_000), 2, seed=11, progress=False)
    assert not capped.converged.any()
    assert (capped.periods == TINY.max_periods).all()


# --- reproducibility --------------------------------------------------------------------------
def test_same_seed_same_results_and_chunking_does_not_matter():
    config = replace(TINY, n_prices=5, max_periods=3000, stable_periods=200)
    a = run_sessions(config, 6, seed=3, progress=False)
    b = run_sessions(config, 6, seed=3, progress=False, chunk_periods=13)
    for name in ("converged", "periods", "strategy", "q_values", "price", "profit_gain"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    c = run_sessions(config, 6, seed=4, progress=False)
    assert not np.array_equal(a.q_values, c.q_values)


def test_session_k_does_not_depend_on_how_many_sessions_run():
    config = replace(TINY, n_prices=5, max_periods=3000, stable_periods=200)
    few = run_sessions(config, 2, seed=9, progress=False)
    many = run_sessions(config, 5, seed=9, progress=False)
    np.testing.assert_array_equal(few.q_values, many.q_values[:2])
    np.testing.assert_array_equal(few.periods, many.periods[:2])


# --- greedy cycle and deviations --------------------------------------------------------------
def test_cycle_is_a_cycle_of_the_greedy_strategies():
    result = run_sessions(replace(TINY, n_prices=5, max_periods=3000), 6, seed=1, progress=False)
    game = result.game
    for k in range(result.n_sessions):
        s = result.cycle_state[k]
        visited = []
        for _ in range(result.cycle_length[k]):
            visited.append(s)
            s = int(result.strategy[k, :, s] @ game.place_value)
        assert s == result.cycle_state[k]
        assert len(set(visited)) == result.cycle_length[k]
        np.testing.assert_allclose(result.profit[k], game.profile_profit[:, visited].mean(axis=1))


def test_impulse_response_deviation_is_static_best_response_then_strategies():
    result = run_sessions(replace(TINY, n_prices=5, max_periods=3000), 5, seed=2, progress=False)
    game = result.game
    response = impulse_response(result, periods=6)
    assert response.price.shape == (5, 8, 2)
    for k in range(5):
        path = response.action[k]
        s0 = result.cycle_state[k]
        assert int(path[0] @ game.place_value) == s0
        rival = result.strategy[k, 1, s0]
        assert path[1, 1] == rival
        assert path[1, 0] == game.profit_matrix[0, :, rival].argmax()
        for tau in range(2, 8):
            previous = int(path[tau - 1] @ game.place_value)
            np.testing.assert_array_equal(path[tau], result.strategy[k, :, previous])
    np.testing.assert_allclose(response.price, game.price_grid[[0, 1], response.action])


# --- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize("field, value", [
    ("discount", 1.0), ("discount", -0.1), ("discount", float("nan")),
    ("n_prices", 1), ("n_prices", 2.5), ("exploration_decay", 0.0), ("exploration_decay", -1e-6),
    ("learning_rate", 0.0), ("learning_rate", 1.5), ("mu", 0.0), ("n_firms", 1),
    ("grid_extension", -0.1), ("stable_periods", 0), ("max_periods", 10.0), ("cost", -1.0),
    ("quality", (2.0, 2.0, 2.0)),
])
def test_bad_config_names_argument_and_value(field, value):
    with pytest.raises(KernelInputError, match=field) as info:
        CalvanoConfig(**{field: value})
    assert isinstance(info.value, PricewarError)
    assert repr(value) in str(info.value) or str(value) in str(info.value)


@pytest.mark.parametrize("kwargs, name", [
    ({"n_sessions": 0}, "n_sessions"), ({"n_sessions": 2, "seed": -1}, "seed"),
    ({"n_sessions": 2, "chunk_periods": 0}, "chunk_periods"),
])
def test_bad_run_arguments(kwargs, name):
    with pytest.raises(KernelInputError, match=name):
        run_sessions(TINY, progress=False, **kwargs)


def test_bad_impulse_arguments():
    result = run_sessions(TINY, 2, seed=0, progress=False)
    with pytest.raises(KernelInputError, match="deviator"):
        impulse_response(result, deviator=2)
    with pytest.raises(KernelInputError, match="periods"):
        impulse_response(result, periods=0)
    with pytest.raises(KernelInputError, match="sessions"):
        impulse_response(result, sessions=[5])


def test_game_from_config_is_cached():
    config = CalvanoConfig(n_prices=4)
    assert config.game is config.game
    assert isinstance(config.game, LogitPricingGame)


# --- the headline: supra-competitive prices ---------------------------------------------------
def test_quick_mode_learns_supra_competitive_prices():
    # beta = 1e-4 (25x the paper's): over seeds 0-9 with 30 sessions we measured mean Delta
    # 0.702-0.711 (per-session std ~0.025, min 0.635), every session priced above Nash. Static
    # Nash play would give Delta = 0; the bounds leave room for seed noise, not for broken learning.
    result = run_sessions(QUICK, 20, seed=12345, progress=False)
    assert result.converged.all()
    assert 0.6 < result.profit_gain.mean() < 0.8
    assert (result.profit_gain > 0.3).all()
    assert (result.price > QUICK.game.nash_price).all()
    assert (result.price < QUICK.game.monopoly_price).all()


def test_quick_experiment_script_end_to_end(tmp_path):
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--no-progress", "--sessions", "12",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=True)
    headline = json.loads(completed.stdout)
    for key in ("profit_gain_mean", "profit_gain_std", "share_converged",
                "mean_periods_to_convergence", "wall_time_s"):
        assert np.isfinite(headline[key]), key
    assert headline["sessions"] == 12
    assert headline["profit_gain_mean"] > 0.3
    png = tmp_path / "calvano_impulse_response.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "calvano_impulse_response.svg").stat().st_size > 1000
    table = pd.read_csv(tmp_path / "calvano_collusion.csv")
    assert len(table) == 12
    assert np.isfinite(table["profit_gain"]).all()


@pytest.mark.slow
def test_full_mode_reproduces_paper_profit_gain():
    # Calvano et al. (2020), baseline: Delta ~ 0.85 (beta = 4e-6); 100 sessions take ~1 min.
    result = run_sessions(BASELINE, 100, seed=2020, progress=False)
    assert result.converged.mean() > 0.9
    assert 0.75 < result.profit_gain.mean() < 0.95
