"""Demand-v2 kernel validation: nested logit (Berry 1994), the multi-product first-order condition
(Verboven 1996), the isoelastic upper level, hosts and re-choice rationing, bad input.

Berry, S. (1994), "Estimating discrete-choice models of product differentiation", RAND Journal
of Economics 25(2): nested-logit shares ``s_j = s_{j|g} s_g`` with ``s_{j|g} = exp(delta_j /
(1 - sigma)) / D_g`` and ``s_g = D_g^(1 - sigma) / sum_h D_h^(1 - sigma)`` (eq. 26-27).
Verboven, F. (1996), "International price discrimination in the European car market", RAND
Journal of Economics 27(2): the multi-product nested-logit first-order conditions.
"""

import math

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
    market_demand,
    nested_logit_bertrand_nash,
    own_price_derivative,
)
from pricewar.kernel.firms import foc_terms
from pricewar.testing.random_markets import random_nested_market, random_route_market
from pricewar.testing.reference import reference_market


# --- an independent nested logit: Berry (1994) closed form, one consumer, no kernel code --------
def _berry_shares(price, quality, alpha, nest, sigma, outside, log_form):
    """Shares, within-nest shares and outside share of Berry's (1994) nested logit."""
    delta = quality - alpha * (np.log(price) if log_form else price)
    lam = 1.0 - sigma[nest]
    top = np.max(delta / lam)
    inner = np.exp(delta / lam - top)  # exp(delta/lam) up to the common factor exp(top)
    d_g = np.bincount(nest, inner, minlength=sigma.size)  # D_g / exp(top)
    within = inner / d_g[nest]
    used = d_g > 0
    # s_g = D_g^(1-sigma) / (exp(outside) + sum_h D_h^(1-sigma)), in logs for range
    log_incl = np.full(sigma.size, -np.inf)
    log_incl[used] = (1.0 - sigma[used]) * (np.log(d_g[used]) + top)
    anchor = max(np.max(log_incl), outside)
    denominator = np.exp(outside - anchor) + np.exp(log_incl - anchor).sum()
    nest_share = np.exp(log_incl - anchor) / denominator
    return within * nest_share[nest], within, np.exp(outside - anchor) / denominator, anchor + \
        np.log(denominator)


def _independent_nash(quality, cost, alpha, nest, sigma, outside, log_form, firm=None, eta=0.0):
    """Nash prices by scipy root-finding on the closed-form multi-product FOCs (Verboven 1996):
    ``Q_i + sum_{k in F(i)} (p_k - c_k) dQ_k/dp_i = 0`` with volume ``X = exp((eta/alpha) IV)``."""
    quality, cost = np.asarray(quality, float), np.asarray(cost, float)
    nest, sigma = np.asarray(nest), np.asarray(sigma, float)
    n = quality.size
    firm = np.arange(n) if firm is None else np.asarray(firm)

    def foc(p):
        s, within, _, _ = _berry_shares(p, quality, alpha, nest, sigma, outside, log_form)
        dphi = 1.0 / p if log_form else np.ones(n)
        lam = 1.0 - sigma[nest]
        same = nest[:, None] == nest[None, :]
        # ds_k/dp_i (row i, column k): own, same nest, other nest -- Berry's derivatives
        jac = alpha * dphi[:, None] * s[:, None] * (
            np.where(same, sigma[nest][:, None] / lam[:, None] * within[None, :], 0.0)
            + s[None, :])
        jac[np.diag_indices(n)] = -alpha * dphi * s * (
            1.0 / lam - sigma[nest] / lam * within - s)
        # the upper level: dX/dp_i = -eta dphi_i s_i X, so dQ_k/dp_i gains -eta dphi_i s_i s_k
        jac -= eta * dphi[:, None] * s[:, None] * s[None, :]
        owner = firm[:, None] == firm[None, :]
        # divided by s_i: a product priced out of the market must not satisfy it trivially
        return 1.0 + (owner * jac * (p - cost)[None, :]).sum(axis=1) / s

    start = cost * 1.5 if log_form else cost + 1.0 / alpha
    solution = optimize.root(foc, start, tol=1e-13, method="hybr")
    assert np.abs(foc(solution.x)).max() < 1e-13  # (hybr may report slow progress at the end)
    return solution.x


def _one_consumer_market(quality, alpha, nest, sigma, outside, price_form, firm=None, eta=0.0):
    """A kernel route market of one consumer (products sorted by nest) and its route order."""
    quality, nest = np.asarray(quality, float), np.asarray(nest)
    n = quality.size
    order = np.argsort(nest, kind="stable")
    topology = RouteTopology(np.array([0, n]), order, n, route_nest=nest[order],
                             producer_firm=None if firm is None else np.asarray(firm))
    return RouteMarket(topology, quality[order], np.zeros(n), np.array([alpha]), np.array([1.0]),
                       np.array([outside]), price_form=price_form,
                       nest_sigma=np.asarray(sigma, float), consumer_eta=np.array([eta]))


NESTED_MARKETS = [
    # quality, cost, alpha, nest, sigma (per nest), outside
    ([2.0, 2.0, 1.5], [1.0, 1.0, 1.0], 2.0, [0, 0, 1], [0.6, 0.0], 0.0),  # asymmetric nests
    ([2.0, 2.3, 1.5, 1.9, 2.2], [1.0, 1.2, 0.7, 1.1, 1.3], 3.0, [0, 0, 1, 1, 2],
     [0.8, 0.3, 0.5], -1.0),  # per-nest sigma
    ([1.0, 3.0, 2.5, 2.0], [0.5, 1.5, 1.2, 1.0], 1.5, [1, 0, 0, 1], [0.4, 0.9], 1.0),  # unsorted
    ([2.0, 2.0, 2.0], [1.0, 1.0, 1.0], 2.5, [0, 0, 0], [0.95], -math.inf),  # no outside option
]


# (not the log form without an outside option: there a lone nest faces elasticity 0, no optimum)
@pytest.mark.parametrize("quality, cost, alpha, nest, sigma, outside, price_form", [
    (*market, form) for market in NESTED_MARKETS for form in ("linear", "log")
    if form == "linear" or market[-1] > -math.inf])
def test_nested_nash_matches_independent_scipy_solution_of_berry_focs(
        quality, cost, alpha, nest, sigma, outside, price_form):
    kernel = nested_logit_bertrand_nash(quality, cost, alpha, nest, sigma, outside, price_form)
    expected = _independent_nash(quality, cost, alpha, nest, sigma, outside,
                                 price_form == "log")
    np.testing.assert_allclose(kernel, expected, rtol=1e-9)


@pytest.mark.parametrize("price_form", ["linear", "log"])
@pytest.mark.parametrize("eta", [0.0, 1.2])
def test_multi_product_nash_matches_independent_scipy_solution(price_form, eta):
    # firm 0 owns products 0 (nest 0) and 2 (nest 1), firm 1 owns 1 (nest 0) and 4 (nest 2)
    quality = [2.0, 2.2, 1.8, 1.5, 2.1]
    cost = [1.0, 1.1, 0.9, 0.8, 1.2]
    nest, sigma, firm, alpha = [0, 0, 1, 1, 2], [0.7, 0.4, 0.2], [0, 1, 0, 2, 1], 2.5
    market = _one_consumer_market(quality, alpha, nest, sigma, 0.5, price_form, firm, eta)
    kernel = bertrand_nash(market, np.array(cost), tol=1e-13)
    expected = _independent_nash(quality, cost, alpha, nest, sigma, 0.5, price_form == "log",
                                 firm, eta)
    np.testing.assert_allclose(kernel, expected, rtol=1e-9)
    single = _independent_nash(quality, cost, alpha, nest, sigma, 0.5, price_form == "log",
                               None, eta)
    assert (expected[[0, 1, 2, 4]] > single[[0, 1, 2, 4]]).all()  # owners internalise


def test_sigma_zero_equals_plain_logit_with_mu_one_over_alpha():
    quality, cost, alpha, outside = np.array([2.0, 2.4, 1.7]), np.array([1.0, 1.3, 0.8]), 4.0, 0.5
    nested = nested_logit_bertrand_nash(quality * alpha, cost, alpha, [0, 1, 0], 0.0,
                                        outside * alpha)
    plain = logit_bertrand_nash(quality, cost, mu=1.0 / alpha, outside=outside)
    np.testing.assert_allclose(nested, plain, rtol=1e-12)


@pytest.mark.parametrize("price_form", ["linear", "log"])
def test_lerner_vanishes_as_sigma_tends_to_one_for_identical_hosts(price_form):
    # three identical hosts of one open family (nest 0) beside a closed family (nest 1)
    quality, cost, nest = [2.0, 2.0, 2.0, 2.5], [1.0, 1.0, 1.0, 1.2], [0, 0, 0, 1]

    def lerner(sigma):
        p = nested_logit_bertrand_nash(quality, cost, 4.0, nest, [sigma, 0.0], 0.0, price_form)
        return (p[:3] - 1.0) / p[:3]

    at_zero, at_099 = lerner(0.0), lerner(0.99)
    np.testing.assert_allclose(at_099, at_099[0])  # symmetric
    assert (at_099 < 0.02 * at_zero).all()
    assert lerner(0.9)[0] < lerner(0.5)[0] < at_zero[0]


def test_nest_elasticity_formula_for_single_route_products():
    # eps = alpha/(1-sigma) - (alpha sigma/(1-sigma)) s_{|g} - (alpha - eta) s, log form
    market = random_nested_market(50, 12, 4, seed=4)[0]
    topology = RouteTopology(np.array([0, 3]), np.array([0, 1, 2]), 3, route_nest=[0, 0, 1])
    market = RouteMarket(topology, np.array([0.5, 0.2, 0.0]), np.zeros(3), np.array([3.0]),
                         np.array([10.0]), np.array([-0.5]), nest_sigma=[0.7, 0.0],
                         consumer_eta=np.array([1.2]), consumer_logsum_ref=np.array([0.3]))
    price = np.array([1.1, 1.3, 0.9])
    demand = market_demand(market, price)
    elasticity = -own_price_derivative(market, demand) * price / demand.producer_demand
    s, within = demand.route_share, demand.route_nest_share
    expected = 3.0 / 0.3 - (3.0 * 0.7 / 0.3) * within[:2] - (3.0 - 1.2) * s[:2]
    np.testing.assert_allclose(elasticity[:2], expected, rtol=1e-12)


def test_upper_level_arc_elasticity_equals_eta_without_outside_option():
    market, price, _ = random_nested_market(400, 30, 5, seed=12, no_outside_share=1.0)
    market = market.with_values(route_price_extra=np.zeros(market.topology.n_routes))
    before = market_demand(market, price)
    after = market_demand(market, price * 1.1)
    served = before.consumer_volume > 0
    np.testing.assert_allclose(after.consumer_volume[served] / before.consumer_volume[served],
                               1.1 ** -market.consumer_eta[served], rtol=1e-10)
    # and the CES price index rises by exactly 10%
    np.testing.assert_allclose(after.consumer_price_index[served],
                               1.1 * before.consumer_price_index[served], rtol=1e-10)


def test_volume_is_potential_demand_at_the_reference_inclusive_value():
    market, price, _ = random_nested_market(200, 20, 5, seed=2)
    logsum = market_demand(market, price).consumer_logsum
    at_reference = market.with_values(consumer_logsum_ref=logsum)
    np.testing.assert_allclose(market_demand(at_reference, price).consumer_volume,
                               market.consumer_demand, rtol=1e-12)


# --- the multi-product logit monopolist ---------------------------------------------------------
@pytest.mark.parametrize("quality, cost, mu", [
    ([2.0, 2.0, 2.0], [1.0, 1.3, 1.6], 0.02),  # nearly flat profit in the costly products
    ([2.0, 2.5, 1.5, 2.2], [1.0, 1.3, 0.7, 1.6], 0.1),
    ([2.0, 2.0], [1.0, 1.0], 0.25),
])
def test_joint_monopoly_charges_equal_markups_mu_over_outside_share(quality, cost, mu):
    price = logit_joint_monopoly(quality, cost, mu)
    markup = price - np.asarray(cost)
    np.testing.assert_allclose(markup, markup[0], rtol=1e-12)

    # independent: the multi-product logit monopolist's markup m solves m = mu / s0(m)
    def gap(m):
        s0 = 1.0 / (1.0 + np.exp((np.asarray(quality) - np.asarray(cost) - m) / mu).sum())
        return m - mu / s0

    expected = optimize.brentq(gap, mu, 10.0, xtol=1e-15)
    np.testing.assert_allclose(markup, expected, rtol=1e-10)


# --- derivatives ----------------------------------------------------------------------------------
@pytest.mark.parametrize("price_form", ["log", "linear"])
def test_nested_derivatives_match_finite_differences(price_form):
    market, price, cost = random_nested_market(60, 12, 5, seed=3, price_form=price_form,
                                               no_outside_share=0.3)
    demand = market_demand(market, price)
    h = 1e-6
    jacobian = np.zeros((12, 12))  # dQ_b/dp_a in column a
    for a in range(12):
        up, down = price.copy(), price.copy()
        up[a] += h
        down[a] -= h
        jacobian[:, a] = (market_demand(market, up).producer_demand
                          - market_demand(market, down).producer_demand) / (2 * h)
    np.testing.assert_allclose(own_price_derivative(market, demand), np.diag(jacobian),
                               rtol=1e-6)
    firm = market.topology.firms.producer_firm
    markup = price - cost
    siblings = (firm[:, None] == firm[None, :]) & ~np.eye(12, dtype=bool)
    expected = (siblings * markup[:, None] * jacobian).sum(axis=0)
    assert np.abs(expected).max() > 0.1  # the market has cannibalisation to check
    np.testing.assert_allclose(foc_terms(market, demand, price, cost)["others"], expected,
                               rtol=1e-6, atol=1e-9)


def test_nested_nash_is_a_best_response_in_route_market():
    market, _, cost = random_nested_market(300, 25, 4, seed=1, eta_max=1.0)
    price = bertrand_nash(market, cost)
    np.testing.assert_allclose(best_response(market, price, cost), price, rtol=1e-8)


def test_nested_nash_raises_convergence_error_with_residual():
    market, _, cost = random_nested_market(50, 5, 3, seed=1)
    with pytest.raises(ConvergenceError) as info:
        bertrand_nash(market, cost, max_iter=2)
    assert info.value.residual > 0 and info.value.iterations == 2


# --- neutral values keep v1 -----------------------------------------------------------------------
def test_neutral_demand_v2_fields_give_v1_results_bit_for_bit():
    market, price, cost = random_route_market(300, 20, 5, seed=9, capacity_factor=0.6)
    t = market.topology
    nests = np.zeros(t.n_routes, dtype=int)
    neutral = RouteMarket(
        RouteTopology(t.consumer_ptr, t.route_producer, t.n_producers, route_nest=nests),
        market.route_utility, market.route_price_extra, market.consumer_alpha,
        market.consumer_demand, market.consumer_outside_utility, market.producer_capacity,
        nest_sigma=[0.0], consumer_eta=np.zeros(t.n_consumers))
    for a, b in ((market, neutral),):
        da, db = market_demand(a, price), market_demand(b, price)
        assert np.array_equal(da.route_demand, db.route_demand)
        ca, cb = clear_capacity(a, da), clear_capacity(b, db)
        assert np.array_equal(ca.route_served, cb.route_served)
        assert np.array_equal(best_response(a, price, cost), best_response(b, price, cost))


def test_general_path_agrees_with_v1_path_at_neutral_values():
    # an identity host map and a tiny eta force the general code paths
    market, price, cost = random_route_market(300, 20, 5, seed=9, capacity_factor=0.6)
    t = market.topology
    general = RouteMarket(
        RouteTopology(t.consumer_ptr, t.route_producer, t.n_producers,
                      producer_host=np.arange(t.n_producers)),
        market.route_utility, market.route_price_extra, market.consumer_alpha,
        market.consumer_demand, market.consumer_outside_utility,
        host_capacity=market.producer_capacity, consumer_eta=np.full(t.n_consumers, 1e-300))
    assert not general.is_plain_demand and not general.is_plain_clearing
    d1, d2 = market_demand(market, price), market_demand(general, price)
    np.testing.assert_allclose(d2.route_share, d1.route_share, rtol=1e-12, atol=1e-300)
    c1, c2 = clear_capacity(market, d1), clear_capacity(general, d2)
    assert c1.rounds == c2.rounds > 1
    np.testing.assert_allclose(c2.route_served, c1.route_served, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(best_response(general, price, cost),
                               best_response(market, price, cost), rtol=1e-10)


# --- hosts and re-choice --------------------------------------------------------------------------
def _two_hosts_of_one_family(price, sigma=0.9, eta=0.0, capacity=(5.0, np.inf, np.inf)):
    """One consumer: hosts 0 and 1 serve family 0, host 2 serves family 1; an outside option."""
    topology = RouteTopology(np.array([0, 3]), np.array([0, 1, 2]), 3, route_nest=[0, 0, 1],
                             producer_host=[0, 1, 2])
    market = RouteMarket(topology, np.array([1.0, 1.0, 0.8]), np.zeros(3), np.array([3.0]),
                         np.array([100.0]), np.array([0.0]), nest_sigma=[sigma, 0.0],
                         consumer_eta=np.array([eta]), host_capacity=np.array(capacity),
                         rationing="rechoice")
    return market, np.asarray(price, float)


@pytest.mark.parametrize("eta", [0.0, 1.5])
def test_rechoice_follows_restricted_nested_logit(eta):
    market, price = _two_hosts_of_one_family([1.0, 1.2, 1.1], eta=eta)
    demand = market_demand(market, price)
    clearing = clear_capacity(market, demand)
    # by hand: host 0 is full; the refused demand chooses among host 1, host 2 and not buying
    v = np.array([1.0, 1.0, 0.8]) - 3.0 * np.log(price)
    iv_full = math.log(1.0 + math.exp(0.1 * math.log(math.exp(v[0] / 0.1) + math.exp(v[1] / 0.1)))
                       + math.exp(v[2]))
    iv_open = math.log(1.0 + math.exp(v[1]) + math.exp(v[2]))  # host 1 alone in its nest
    refused = demand.route_demand[0] - 5.0
    rechosen = refused * math.exp(eta / 3.0 * (iv_open - iv_full))
    expected = demand.route_demand[1:] + rechosen * np.exp(v[1:] - iv_open)
    np.testing.assert_allclose(clearing.route_served, [5.0, *expected], rtol=1e-12)
    not_bought = refused - rechosen + rechosen * math.exp(-iv_open)
    np.testing.assert_allclose(clearing.consumer_not_bought, [not_bought], rtol=1e-12)
    total = (clearing.consumer_served + clearing.consumer_unserved
             + clearing.consumer_not_bought + demand.consumer_outside)
    np.testing.assert_allclose(total, demand.consumer_volume, rtol=1e-13)


def test_rechoice_reaches_a_host_whose_posted_share_underflowed():
    # sigma = 0.999: host 1 is 1.5x dearer, so its within-family share exp(-1216) underflows to 0;
    # once host 0 is full, the family's refused demand still finds host 1 (recomputed from
    # utilities): about 44% of it, beside family 1 and not buying
    market, price = _two_hosts_of_one_family([1.0, 1.5, 3.0], sigma=0.999)
    demand = market_demand(market, price)
    assert demand.route_nest_share[1] == 0.0
    clearing = clear_capacity(market, demand)
    expected = reference_market(market).clear(price)
    np.testing.assert_allclose(clearing.route_served, expected["route_served"], rtol=1e-10)
    refused = demand.route_demand[0] - 5.0
    assert clearing.route_served[1] > 0.4 * refused


def test_rechoice_invariant_on_random_capacitated_markets():
    for seed in range(6):
        market, price, _ = random_nested_market(2000, 60, 6, seed=seed, capacity_factor=0.5,
                                                no_outside_share=0.3,
                                                price_form=("log", "linear")[seed % 2])
        demand = market_demand(market, price)
        clearing = clear_capacity(market, demand)
        assert clearing.rounds > 2 and clearing.consumer_not_bought.sum() > 0
        total = (clearing.consumer_served + clearing.consumer_unserved
                 + clearing.consumer_not_bought + demand.consumer_outside)
        np.testing.assert_allclose(total, demand.consumer_volume, rtol=1e-9, atol=1e-300)
        capacity = market.capacity_of_host
        assert (clearing.host_load <= capacity * (1 + 1e-12)).all()


def test_host_load_counts_every_product_of_the_host():
    market, price, _ = random_nested_market(500, 30, 5, seed=5, capacity_factor=0.7,
                                            rationing="spill")
    demand = market_demand(market, price)
    clearing = clear_capacity(market, demand)
    host = market.topology.hosts.producer_host
    load = np.bincount(host, clearing.producer_served * market.producer_load,
                       minlength=market.topology.n_hosts)
    np.testing.assert_allclose(clearing.host_load, load, rtol=1e-12)
    assert clearing.consumer_not_bought.sum() == 0.0


# --- bad input ------------------------------------------------------------------------------------
def _topology(**kw):
    return RouteTopology(np.array([0, 3, 5]), np.array([0, 1, 2, 0, 2]), 3, **kw)


@pytest.mark.parametrize("kw, fragment", [
    ({"route_nest": [1, 0, 1, 0, 0]}, "route_nest must be sorted within each consumer"),
    ({"route_nest": [0, 0, -1, 0, 0]}, "route_nest must be >= 0"),
    ({"route_nest": [0, 0, 1]}, "route_nest has length 3"),
    ({"producer_host": [0, 1]}, "producer_host has length 2"),
    ({"producer_host": [0, 1, 3], "n_hosts": 2}, "producer_host must lie in"),
    ({"n_hosts": 2}, "n_hosts is given without producer_host"),
    ({"route_nest": [0, 0, 1, 0, 1], "producer_firm": [0, 0, 1]},
     "products of one firm must lie in different nests"),
])
def test_bad_topology_input_names_argument_and_value(kw, fragment):
    with pytest.raises(KernelInputError, match=fragment):
        _topology(**kw)


def test_routes_of_one_pair_must_share_a_nest():
    with pytest.raises(KernelInputError, match="same on every route of one"):
        RouteTopology(np.array([0, 2]), np.array([0, 0]), 1, route_nest=[0, 1])


@pytest.mark.parametrize("topology_kw, changes, fragment", [
    ({"route_nest": [0, 0, 1, 0, 1]}, {"nest_sigma": [0.5, 1.0]}, r"nest_sigma must lie in \[0, 1\)"),
    ({"route_nest": [0, 0, 1, 0, 1]}, {"nest_sigma": [0.5]}, "nest_sigma has length 1"),
    ({}, {"nest_sigma": [0.5]}, "nest_sigma needs a topology with route_nest"),
    ({}, {"consumer_eta": [0.5, -1.0]}, "consumer_eta must be >= 0"),
    ({}, {"host_capacity": [1.0, 1.0, 1.0]}, "host_capacity needs a topology with producer_host"),
    ({"producer_host": [0, 0, 1]}, {"producer_capacity": [1.0, 1.0, 1.0]},
     "producer_capacity must be left unset"),
    ({"producer_host": [0, 0, 1]}, {"host_capacity": [1.0]}, "host_capacity has length 1"),
    ({}, {"producer_load": [1.0, -1.0, 1.0]}, "producer_load must be >= 0"),
    ({}, {"rationing": "queue"}, "rationing must be one of"),
    ({}, {"consumer_outside_utility": [0.0, np.inf]}, r"contains \+inf"),
])
def test_bad_market_v2_input_names_argument_and_value(topology_kw, changes, fragment):
    values = dict(route_utility=np.zeros(5), route_price_extra=np.zeros(5),
                  consumer_alpha=np.array([2.0, 2.0]), consumer_demand=np.ones(2),
                  consumer_outside_utility=np.zeros(2))
    values.update(changes)
    with pytest.raises(KernelInputError, match=fragment):
        RouteMarket(_topology(**topology_kw), **values)


def test_nested_textbook_bad_input():
    with pytest.raises(KernelInputError, match="alpha must be a finite number > 0"):
        nested_logit_bertrand_nash([2, 2], [1, 1], -1.0, [0, 0], 0.5)
    with pytest.raises(KernelInputError, match=r"nest_sigma must lie in \[0, 1\)"):
        nested_logit_bertrand_nash([2, 2], [1, 1], 2.0, [0, 1], [0.5, 1.2])
    with pytest.raises(KernelInputError, match="nest has length 1"):
        nested_logit_bertrand_nash([2, 2], [1, 1], 2.0, [0], 0.5)
    with pytest.raises(KernelInputError, match="cost must be > 0 with price_form='log'"):
        nested_logit_bertrand_nash([2, 2], [1, 0], 2.0, [0, 0], 0.5, price_form="log")


@pytest.mark.parametrize("price_form", ["log", "linear"])
@pytest.mark.parametrize("rationing", ["spill", "rechoice"])
def test_kernel_equals_reference_on_multi_round_clearing(price_form, rationing):
    # many consumers refused twice or more: the volume follows each successive restriction
    market, price, cost = random_nested_market(150, 30, 5, seed=7, price_form=price_form,
                                               capacity_factor=1.3, no_outside_share=0.3,
                                               rationing=rationing)
    reference = reference_market(market)
    demand = market_demand(market, price)
    clearing = clear_capacity(market, demand)
    expected = reference.clear(price)
    assert clearing.rounds == expected["rounds"] > 2
    scale = float(demand.consumer_volume.sum())
    for name in ("route_served", "consumer_unserved", "consumer_not_bought"):
        np.testing.assert_allclose(getattr(clearing, name), expected[name], rtol=1e-10,
                                   atol=1e-12 * scale)
    np.testing.assert_allclose(best_response(market, price, cost),
                               reference.best_response(price, cost), rtol=1e-10)
