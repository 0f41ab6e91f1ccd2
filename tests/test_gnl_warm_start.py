"""Warm starts and early stops of the v3 equilibrium solver (issue #24's solver speed)."""

from __future__ import annotations

import numpy as np
from test_gnl_equilibrium import example_market

from pricewar.kernel.fixed_point import anderson_fixed_point
from pricewar.kernel.gnl_equilibrium import states_equilibrium


def _solve(case, **extra):
    keywords = dict(load=case["load"], complement_value=case["omega"],
                    retention_value=case["retention"], review=case["review"],
                    committed_gap_route=case["gap_route"])
    return states_equilibrium(case["shoppers"], case["committed"], case["cost"],
                              **keywords, **extra)


def test_a_solve_restarted_from_its_solution_and_shadow_state_stops_at_once():
    case = example_market(0)
    free = _solve(case)
    capacity = free.firm_load * np.array([0.5, 3.0, np.inf])
    result = _solve(case, capacity=capacity)
    assert result.converged and result.iterations > 1
    # the slack firms carry their slack below 0: lambda = max(mu, 0)
    assert result.shadow_state[0] > 0 and (result.shadow_state[1:] < 0).any()
    np.testing.assert_array_equal(result.shadow_price, np.maximum(result.shadow_state, 0.0))
    np.testing.assert_array_equal(result.solved_price, result.price)
    again = _solve(case, capacity=capacity, initial_price=result.solved_price,
                   initial_shadow=result.shadow_state)
    assert again.converged and again.iterations == 1
    np.testing.assert_array_equal(again.price, result.price)


def test_the_iteration_stops_when_it_stalls_and_keeps_its_best_point():
    # x <- -x + 1 two-cycles from 0 (0, 1, 0, ...) without acceleration: no new best after the
    # second iterate; with `stall` it stops there, unconverged, at the best point
    def step(x):
        image = 1.0 - x
        return image, float(abs(image - x)[0]) + float(x[0]), None

    point, residual, iterations, converged, _ = anderson_fixed_point(
        step, np.array([0.0]), 1e-12, 100, lambda c: False, stall=3)
    assert not converged and iterations == 4
    assert point[0] == 0.0 and residual == 1.0
    _, _, iterations, converged, _ = anderson_fixed_point(
        step, np.array([0.0]), 1e-12, 100, lambda c: False)
    assert not converged and iterations == 100
