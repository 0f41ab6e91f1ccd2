"""The habit derivatives of the kernel (pricewar.kernel.habit) and the forward_looking strategy
(docs/ODD.md §6.4): hand-computed values on a two-product market, the kernel's own demand as a
finite-difference check, and the reduction to the static best response when psi = 0."""

import numpy as np
import pytest

from pricewar.kernel import RouteMarket, RouteTopology, market_demand
from pricewar.kernel.habit import habit_derivatives, host_route_log_response
from pricewar.model import PriceWarModel
from pricewar.scenario import load_scenario
from pricewar.strategies import STRATEGY_REGISTRY, PricingView, best_response_target
from pricewar.strategies.forward_looking import ForwardLookingParams, customer_value


class _Pricing:
    best_response_damping = 0.5


def _two_products(eta=None, sigma=None):
    """One consumer, two products of two hosts, log price, no outside option."""
    nest = None if sigma is None else np.array([0, 0])
    topo = RouteTopology(np.array([0, 2]), np.array([0, 1]), 2, route_nest=nest,
                         producer_host=np.array([0, 1]), producer_firm=np.array([0, 1]))
    return RouteMarket(topo, route_utility=np.array([0.5, 0.0]), route_price_extra=np.zeros(2),
                       consumer_alpha=np.array([2.0]), consumer_demand=np.array([100.0]),
                       consumer_outside_utility=np.array([-np.inf]),
                       nest_sigma=None if sigma is None else np.array([sigma]),
                       consumer_eta=None if eta is None else np.array([eta]))


def test_habit_log_response_matches_hand_computed_two_product_logit():
    """Plain logit, fixed volume X = 100: d log x_1 / d x_1 = (kappa / X) [(1 - S_1) - (S_1 -
    S_1^2 - S_2^2)] with S_1 = 1 / (1 + exp(-0.5) (2/1)^-2 ... ) computed by hand below."""
    market = _two_products()
    price = np.array([2.0, 1.0])
    demand = market_demand(market, price)
    v = np.array([0.5 - 2.0 * np.log(2.0), 0.0 - 2.0 * np.log(1.0)])
    s1 = np.exp(v[0]) / np.exp(v).sum()
    s2 = 1.0 - s1
    kappa = 0.8
    expected_1 = kappa / 100.0 * ((1.0 - s1) - (s1 - s1 ** 2 - s2 ** 2))
    expected_2 = kappa / 100.0 * ((1.0 - s2) - (s2 - s1 ** 2 - s2 ** 2))
    got = host_route_log_response(market, demand, kappa)
    assert got == pytest.approx([expected_1, expected_2], rel=1e-12)
    # the host's next-step profit and volume per Mtok sold now: m x d log x (one route each)
    d = habit_derivatives(market, demand, price, np.array([0.5, 0.5]), kappa)
    x = 100.0 * np.array([s1, s2])
    assert d.value == pytest.approx([1.5 * x[0] * expected_1, 0.5 * x[1] * expected_2])
    assert d.retention == pytest.approx(x * np.array([expected_1, expected_2]))


@pytest.mark.parametrize("eta, sigma", [(None, None), (1.0, None), (1.0, 0.8), (0.6, 0.5)])
def test_habit_log_response_matches_the_kernels_demand_by_finite_differences(eta, sigma):
    """Selling eps more Mtok of host i shifts the next-step utilities by kappa (dw - dC) with
    dw_i = (1 - S_i) eps / X, dw_k = -S_k eps / X, dC = 2 sum_k S_k dw_k; the kernel's demand
    at the shifted utilities must move as the analytic derivative says."""
    rng = np.random.default_rng(4)
    n_prod = 4  # hosts 0, 1, 2; host 0 has two products (two nests)
    producer_host = np.array([0, 0, 1, 2])
    route_producer = np.array([0, 2, 1, 3])  # routes sorted by nest: (0, 2) nest 0, (1, 3) nest 1
    host = producer_host[route_producer]
    nest = np.array([0, 0, 1, 1])
    topo = RouteTopology(np.array([0, 4]), route_producer, n_prod,
                         route_nest=None if sigma is None else nest,
                         producer_host=producer_host, producer_firm=producer_host)
    market = RouteMarket(topo, route_utility=rng.normal(size=4), route_price_extra=np.zeros(4),
                         consumer_alpha=np.array([1.5]), consumer_demand=np.array([50.0]),
                         consumer_outside_utility=np.array([-np.inf]),
                         nest_sigma=None if sigma is None else np.array([sigma, sigma]),
                         consumer_eta=None if eta is None else np.array([eta]))
    price = rng.uniform(0.5, 2.0, 4)
    demand = market_demand(market, price)
    kappa, eps = 0.7, 1e-4
    volume = demand.consumer_volume if demand.consumer_volume is not None else np.array([50.0])
    host_share = np.bincount(host, demand.route_share, minlength=3)
    analytic = host_route_log_response(market, demand, kappa)
    for i in range(3):
        dw = -host_share * eps / volume[0]
        dw[i] += eps / volume[0]
        d_const = 2.0 * np.sum(host_share * dw)
        shifted = market.with_values(route_utility=market.route_utility
                                     + kappa * (dw[host] - d_const))
        numeric = (np.log(market_demand(shifted, price).route_demand)
                   - np.log(demand.route_demand)) / eps
        routes = host == i
        assert analytic[routes] == pytest.approx(numeric[routes], rel=1e-3, abs=1e-9)


def _view(market, price, cost, dynamics=None):
    state = {} if dynamics is None else {"dynamics": dynamics}
    return PricingView(market, price, cost, cost, np.zeros(price.size), _Pricing(),
                       state=state, strategy_params={"forward_looking": ForwardLookingParams()})


def test_forward_looking_with_psi_zero_is_the_best_response_strategy():
    market = _two_products(eta=1.0, sigma=0.5)
    price, cost = np.array([2.0, 1.0]), np.array([0.5, 0.4])
    members = np.arange(2)
    for dynamics in (None, {"kappa": 0.0, "growth": 1.02, "discount": 0.999,
                            "complement_weight": 0.0}):
        fl = STRATEGY_REGISTRY["forward_looking"](_view(market, price, cost, dynamics), members)
        br = STRATEGY_REGISTRY["best_response"](_view(market, price, cost), members)
        np.testing.assert_array_equal(fl, br)


def test_forward_looking_price_is_static_rule_at_cost_minus_psi():
    """p = (c - psi) eps / (eps - 1): the target equals the static inverse-elasticity rule at
    the lowered cost, and psi is the geometric sum of the discounted kept value."""
    market = _two_products(eta=1.0)
    price, cost = np.array([2.0, 1.0]), np.array([0.5, 0.4])
    dynamics = {"kappa": 0.1, "growth": 1.02, "discount": 0.999, "complement_weight": 0.0}
    params = ForwardLookingParams(horizon_steps=3)
    view = _view(market, price, cost, dynamics)
    psi = customer_value(view, params)
    d = habit_derivatives(market, view.current_demand(), price, cost, 0.1)
    keep = 0.999 * 1.02 * d.retention
    expected = 0.999 * 1.02 * d.value * (1 + keep + keep ** 2)
    assert psi == pytest.approx(expected, rel=1e-12)
    assert (psi > 0).all() and (psi < cost).all()
    static = best_response_target(_view(market, price, cost - psi))
    target = price + 0.5 * (static - price)
    got = STRATEGY_REGISTRY["forward_looking"](
        PricingView(market, price, cost, cost, np.zeros(2), _Pricing(), state={"dynamics": dynamics},
                    strategy_params={"forward_looking": params}), np.arange(2))
    assert got == pytest.approx(target, rel=1e-12)
    assert (got < STRATEGY_REGISTRY["best_response"](_view(market, price, cost), np.arange(2))).all()


def test_forward_looking_never_prices_below_the_free_tier_floor():
    market = _two_products(eta=1.0)
    price, cost = np.array([2.0, 1.0]), np.array([0.5, 0.4])
    dynamics = {"kappa": 0.0, "growth": 1.0, "discount": 1.0, "complement_weight": 2.0}
    params = ForwardLookingParams()
    view = _view(market, price, cost, dynamics)
    from pricewar.strategies.forward_looking import forward_looking_target
    assert forward_looking_target(view, params) == pytest.approx(0.1 * cost)


def test_kappa_zero_forward_looking_run_is_bit_identical_to_best_response():
    """kappa = 0 and no complement weight: psi = 0, so a model run with every host
    forward-looking reproduces the static best-response run exactly (same seed)."""
    frames = []
    for strategy in ("best_response", "forward_looking"):
        model = PriceWarModel("baseline", seed=2, n_consumers=200, producer_strategy=strategy)
        for _ in range(6):
            model.step()
        frames.append(model.datacollector.get_model_vars_dataframe().select_dtypes("number"))
    np.testing.assert_array_equal(frames[0].to_numpy(), frames[1].to_numpy())


def test_forward_looking_params_are_validated():
    with pytest.raises(ValueError, match="horizon_steps"):
        ForwardLookingParams(horizon_steps=0)
    with pytest.raises(ValueError, match="max_retention"):
        ForwardLookingParams(max_retention=1.0)


def test_customer_base_kappa_is_bounded_in_the_scenario():
    from pricewar.errors import ScenarioError
    with pytest.raises(ScenarioError, match="customer_base_kappa_utils"):
        load_scenario("baseline").with_overrides(customer_base_kappa=6.0)
