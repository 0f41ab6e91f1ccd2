"""Kernel unit and validation tests (published numbers, first-order conditions, bad input)."""

import numpy as np
import pytest
from scipy import optimize

from pricewar.errors import ConvergenceError, KernelInputError
from pricewar.kernel import (
    RouteMarket,
    RouteTopology,
    bertrand_nash,
    best_response,
    clear_capacity,
    logit_bertrand_nash,
    logit_joint_monopoly,
    logit_shares,
    market_demand,
    own_price_derivative,
    producer_profit,
    single_market,
)
from pricewar.testing.random_markets import random_route_market


# --- Calvano, Calzolari, Denicolò & Pastorello (2020, AER), baseline of Section II ------------
def test_calvano_baseline_nash_price():
    price = logit_bertrand_nash([2.0, 2.0], [1.0, 1.0], mu=0.25, outside=0.0)
    np.testing.assert_allclose(price, [1.4729, 1.4729], atol=1e-4)


def test_calvano_baseline_joint_monopoly_price():
    price = logit_joint_monopoly([2.0, 2.0], [1.0, 1.0], mu=0.25, outside=0.0)
    np.testing.assert_allclose(price, [1.9250, 1.9250], atol=1e-4)


def _independent_nash(quality, cost, mu, outside):
    """Nash by scipy root-finding on the closed-form logit FOCs (no kernel code)."""
    a, c = np.asarray(quality, float), np.asarray(cost, float)

    def foc(p):
        e = np.exp((a - p) / mu)
        q = e / (e.sum() + np.exp(outside / mu))
        return p - c - mu / (1.0 - q)

    sol = optimize.root(foc, c + mu, tol=1e-13)
    assert sol.success
    return sol.x


@pytest.mark.parametrize(
    "quality, cost, mu, outside",
    [
        ([2, 2, 2], [1, 1, 1], 0.25, 0.0),  # n = 3 symmetric
        ([2, 2, 2, 2, 2], [1, 1, 1, 1, 1], 0.25, 0.0),  # n = 5
        ([2, 2], [1.0, 1.3], 0.25, 0.0),  # asymmetric costs
        ([2.5, 2.0], [1, 1], 0.25, 0.0),  # asymmetric qualities
        ([2, 2], [1, 1], 0.25, 1.5),  # a strong outside option
        ([3, 1, 2, 2.2], [1.2, 0.3, 0.8, 1.0], 0.5, -1.0),
    ],
)
def test_nash_matches_independent_scipy_solution(quality, cost, mu, outside):
    np.testing.assert_allclose(logit_bertrand_nash(quality, cost, mu, outside),
                               _independent_nash(quality, cost, mu, outside), rtol=1e-8)


def test_more_firms_lower_nash_price():
    prices = [logit_bertrand_nash([2] * n, [1] * n, 0.25)[0] for n in (1, 2, 3, 5, 10)]
    assert np.all(np.diff(prices) < 0)


def test_near_homogeneous_low_cost_firm_prices_just_under_rival_cost():
    # mu -> 0: Bertrand with asymmetric costs; the efficient firm limit-prices at the rival's cost
    mu = 0.003
    p = logit_bertrand_nash([2, 2], [1.0, 1.2], mu=mu, outside=-10.0)
    assert 1.2 - 5 * mu < p[0] < 1.2
    assert 1.2 < p[1] < 1.2 + 2 * mu


def test_joint_monopoly_asymmetric_matches_scipy_on_closed_form():
    a, c, mu = np.array([2.0, 2.4]), np.array([1.0, 1.1]), 0.3

    def negative_profit(p):
        e = np.exp((a - p) / mu)
        return -float(((p - c) * e / (e.sum() + 1.0)).sum())

    independent = optimize.minimize(negative_profit, c + 0.5, method="Nelder-Mead",
                                    options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 20000}).x
    np.testing.assert_allclose(logit_joint_monopoly(a, c, mu), independent, atol=1e-5)


def test_joint_monopoly_above_nash():
    assert (logit_joint_monopoly([2, 2, 2], [1, 1, 1], 0.25)
            > logit_bertrand_nash([2, 2, 2], [1, 1, 1], 0.25) + 0.1).all()


# --- general kernel ------------------------------------------------------------------------------
def test_nash_satisfies_first_order_conditions_in_route_market():
    market, _, cost = random_route_market(300, 25, 4, seed=11)
    price = bertrand_nash(market, cost)
    np.testing.assert_allclose(best_response(market, price, cost), price, rtol=1e-8)
    # and it is a best response: no unilateral deviation on a grid raises profit
    profit = producer_profit(market, price, cost)
    for factor in (0.97, 1.03):
        for i in range(0, 25, 6):
            deviation = price.copy()
            deviation[i] *= factor
            assert producer_profit(market, deviation, cost)[i] <= profit[i] + 1e-12


def test_log_form_markup_is_scale_free():
    # with phi = log P, the Lerner index 1/(alpha (1 - S)) depends on shares, not on the cost
    # level (docs/ODD.md §6.2): scaling every cost by 1/10 and the outside option to match (as if its
    # price fell 10x too) leaves shares, hence Lerner indices, unchanged.
    market, _, cost = random_route_market(100, 8, 3, seed=5)
    market = market.with_values(route_price_extra=np.zeros(market.topology.n_routes))
    p1 = bertrand_nash(market, cost)
    cheaper = market.with_values(consumer_outside_utility=market.consumer_outside_utility
                                 + market.consumer_alpha * np.log(10.0))
    p10 = bertrand_nash(cheaper, cost / 10)
    np.testing.assert_allclose(p10, p1 / 10, rtol=1e-8)
    np.testing.assert_allclose((p1 - cost) / p1, (p10 - cost / 10) / p10, rtol=1e-8)


def test_own_price_derivative_matches_finite_difference():
    for form in ("log", "linear"):
        market, price, _ = random_route_market(80, 10, 4, seed=2, price_form=form)
        slope = own_price_derivative(market, market_demand(market, price))
        h = 1e-6
        for i in range(10):
            up, down = price.copy(), price.copy()
            up[i] += h
            down[i] -= h
            fd = (market_demand(market, up).producer_demand[i]
                  - market_demand(market, down).producer_demand[i]) / (2 * h)
            assert slope[i] == pytest.approx(fd, rel=1e-5, abs=1e-9)


def test_shares_never_overflow_or_nan_for_extreme_utilities():
    topology = RouteTopology(np.array([0, 3, 5, 5]), np.array([0, 1, 2, 0, 1]), 3)
    value = np.array([1e6, -1e6, 0.0, -1e6, -1e6])
    share, outside, logsum = logit_shares(topology, value, np.array([0.0, 1e6, -1e6]))
    for arr in (share, outside, logsum):
        assert np.isfinite(arr).all()
    np.testing.assert_allclose(share[:3], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(outside, [0.0, 1.0, 1.0])  # consumer 2 has no route
    np.testing.assert_allclose(logsum, [1e6, 1e6, -1e6])


def test_clearing_invariants_hold_when_capacity_binds():
    market, price, _ = random_route_market(500, 30, 5, seed=8, capacity_factor=0.5)
    demand = market_demand(market, price)
    clearing = clear_capacity(market, demand)
    assert clearing.rounds > 1
    total = clearing.consumer_served + clearing.consumer_unserved + demand.consumer_outside
    np.testing.assert_allclose(total, market.consumer_demand, rtol=1e-12, atol=1e-12)
    assert (clearing.producer_served <= market.producer_capacity * (1 + 1e-9)).all()
    assert clearing.consumer_unserved.sum() > 0


def test_clearing_spills_rejected_demand_to_open_rival():
    # one consumer, two producers; producer 0 is full, its rejected demand goes to producer 1
    topology = RouteTopology(np.array([0, 2]), np.array([0, 1]), 2)
    market = RouteMarket(topology, np.array([1.0, 0.0]), np.zeros(2), np.array([2.0]),
                         np.array([100.0]), np.array([-50.0]), np.array([10.0, 1000.0]))
    demand = market_demand(market, np.array([1.0, 1.0]))
    clearing = clear_capacity(market, demand)
    np.testing.assert_allclose(clearing.producer_served, [10.0, 90.0])
    np.testing.assert_allclose(clearing.consumer_unserved, [0.0], atol=1e-9)


def test_clearing_leaves_unserved_when_all_full():
    topology = RouteTopology(np.array([0, 2]), np.array([0, 1]), 2)
    market = RouteMarket(topology, np.zeros(2), np.zeros(2), np.array([2.0]), np.array([100.0]),
                         np.array([-50.0]), np.array([10.0, 20.0]))
    clearing = clear_capacity(market, market_demand(market, np.array([1.0, 1.0])))
    np.testing.assert_allclose(clearing.producer_served, [10.0, 20.0])
    np.testing.assert_allclose(clearing.consumer_unserved, [70.0])


def test_nash_raises_convergence_error_with_residual():
    market, _, cost = random_route_market(50, 5, 3, seed=1)
    with pytest.raises(ConvergenceError) as info:
        bertrand_nash(market, cost, max_iter=2)
    assert info.value.residual > 0 and info.value.iterations == 2
    assert "did not converge" in str(info.value)


# --- bad input --------------------------------------------------------------------------------
def _tiny(**changes):
    topology = RouteTopology(np.array([0, 2]), np.array([0, 1]), 2)
    values = dict(route_utility=np.zeros(2), route_price_extra=np.zeros(2),
                  consumer_alpha=np.array([2.0]), consumer_demand=np.array([1.0]),
                  consumer_outside_utility=np.array([0.0]), producer_capacity=np.ones(2))
    values.update(changes)
    return RouteMarket(topology, **values)


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"route_utility": np.zeros(3)}, "route_utility has length 3"),
        ({"consumer_demand": np.array([-1.0])}, "consumer_demand must be >= 0, got -1.0"),
        ({"producer_capacity": np.array([1.0, -2.0])}, "producer_capacity must be >= 0, got -2.0"),
        ({"route_utility": np.array([0.0, np.nan])}, "route_utility contains"),
        ({"consumer_alpha": np.array([0.5])}, "consumer_alpha must be > 1"),
        ({"consumer_outside_utility": np.array([np.inf])}, "consumer_outside_utility contains"),
        ({"price_form": "cubic"}, "price_form must be one of"),
    ],
)
def test_bad_market_input_names_argument_and_value(changes, fragment):
    with pytest.raises(KernelInputError, match=fragment.replace("(", r"\(")):
        _tiny(**changes)


def test_bad_input_errors_are_value_errors():
    with pytest.raises(ValueError, match="mu must be a finite number > 0, got -0.1"):
        single_market([2, 2], mu=-0.1)
    with pytest.raises(ValueError, match="mu must be a finite number > 0"):
        logit_bertrand_nash([2, 2], [1, 1], mu=0.0)
    with pytest.raises(ValueError, match="cost has length 1"):
        logit_bertrand_nash([2, 2], [1], mu=0.25)
    with pytest.raises(ValueError, match="producer_price contains"):
        market_demand(_tiny(), np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="producer_price must be > 0"):
        market_demand(_tiny(), np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="route_producer must lie in"):
        RouteTopology(np.array([0, 2]), np.array([0, 5]), 2)
    with pytest.raises(ValueError, match="consumer_ptr"):
        RouteTopology(np.array([0, 3]), np.array([0, 1]), 2)


def test_unique_inverse_is_numpys_unique_on_both_paths():
    from pricewar.kernel.arrays import unique_inverse

    rng = np.random.default_rng(5)
    for size in (50, 10_000_000):  # a table of flags; a stable sort when the range is wide
        key = rng.integers(0, size, 3000)
        uniq, inverse = unique_inverse(key, size)
        expected_uniq, expected_inverse = np.unique(key, return_inverse=True)
        np.testing.assert_array_equal(uniq, expected_uniq)
        np.testing.assert_array_equal(inverse, expected_inverse)
        np.testing.assert_array_equal(uniq[inverse], key)


@pytest.mark.parametrize("direct", [True, False])
def test_scatter_sum_is_bincount_on_every_path(monkeypatch, direct):
    """Same additions in the same order as ``np.bincount`` (bit-identical), whether the sum calls
    scipy's compiled CSC loop directly, goes through ``csc_matrix`` (a scipy without the private
    loop) or falls back to ``bincount`` (short or int64 input); strided inputs included."""
    from pricewar.kernel import arrays

    if not direct:
        monkeypatch.setattr(arrays, "_csc_matvec", None)
    rng = np.random.default_rng(11)
    for n, size in ((100_000, 5_000), (40_000, 3), (1_000, 50)):
        index = rng.integers(0, size, 2 * n).astype(np.int32)
        values = rng.normal(size=2 * n) * 10.0 ** rng.integers(-8, 8, 2 * n)
        for i, v in ((index[:n], values[:n]), (index[::2], values[::2])):
            expected = np.bincount(i, v, minlength=size)
            for idx in (i, i.astype(np.int64)):
                got = arrays.scatter_sum(idx, v, size)
                assert got.dtype == np.float64 and np.array_equal(got, expected)
