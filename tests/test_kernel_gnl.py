"""Generalized nested logit (v3 kernel): hand-built Nash cases against an independent FOC
solution, reductions to the demand-v2 kernel, derivatives, bad input.

McFadden, D. (1978), "Modelling the choice of residential location"; Cardell, N. S. (1997),
"Variance components structures for the extreme-value and logistic distributions", Econometric
Theory 13(2); Verboven, F. (1996), RAND J. Econ. 27(2) (two-level nested logit, multi-product
FOC); Berry, S. (1994), RAND J. Econ. 25(2); Train, K. (2009), Discrete Choice Methods with
Simulation, ch. 4 (nested logit) and ch. 6 (latent classes).
"""

import numpy as np
import pytest
from scipy import optimize

from pricewar.errors import KernelInputError
from pricewar.kernel import (
    RouteMarket,
    RouteTopology,
    bertrand_nash,
    logit_bertrand_nash,
    market_demand,
    nested_logit_bertrand_nash,
)
from pricewar.kernel.gnl import class_alpha_from_theta, gnl_demand, gnl_market
from pricewar.kernel.gnl_pricing import (
    gnl_bertrand_nash,
    gnl_best_response,
    gnl_demand_jacobian,
    gnl_derivatives,
    gnl_single_market,
    gnl_textbook_nash,
)
from pricewar.testing.random_gnl import random_gnl_inputs
from pricewar.testing.reference_gnl import ReferenceGNL


def _full_inputs(inputs: dict) -> dict:
    """``gnl_market`` keywords with every optional array spelled out, for the reference."""
    market = gnl_market(**inputs)
    n_seg, n_cls, n_prod = market.n_segments, market.n_classes, market.n_products
    full = dict(inputs)
    full.update(class_alpha=market.class_alpha, class_weight=market.class_weight,
                product_firm=market.product_firm, segment_demand=market.segment_demand,
                segment_eta=market.segment_eta,
                segment_outside_utility=market.segment_outside_utility,
                class_logsum_ref=market.class_logsum_ref.reshape(n_seg, n_cls),
                product_price_offset=market.product_price_offset)
    for name, labels in (("tier_sigma", market.product_tier),
                         ("family_sigma", market.product_family)):
        sigma = np.asarray(inputs[name], dtype=float)
        full[name] = np.full(labels.max() + 1, float(sigma)) if sigma.ndim == 0 else sigma
    assert market.product_firm.size == n_prod
    return full


# --- the independent solution: scipy root of a finite-difference FOC of plain-Python profit ---
def _fd_foc_nash(inputs: dict, cost, start) -> np.ndarray:
    """Prices where every firm's profit (plain Python, :class:`ReferenceGNL`) has a zero
    derivative in each of its prices, the derivative by a five-point central difference."""
    ref = ReferenceGNL(**_full_inputs(inputs))
    cost = np.asarray(cost, float)

    def foc(price):
        grad = np.empty(price.size)
        for a in range(price.size):
            h = 1e-4 * price[a]
            values = []
            for step in (-2, -1, 1, 2):
                shifted = price.copy()
                shifted[a] += step * h
                values.append(ref.profit(shifted, cost, ref.firm[a]))
            grad[a] = (values[0] - 8 * values[1] + 8 * values[2] - values[3]) / (12 * h)
        # divided by demand: a product priced out of the market does not meet it trivially
        return grad / np.asarray(ref.product_demand(price))

    solution = optimize.root(foc, start, method="hybr", tol=1e-13)
    # (at the finite differences' noise floor hybr may report slow progress: judge the FOC)
    assert np.max(np.abs(foc(solution.x))) < 1e-10, solution.message
    return solution.x


def _case(products, *, tier, family, firm, sigma_tier, sigma_family, alpha, weight, eta=0.0,
          outside=-np.inf, offset=0.0, form="log", segments=None):
    """One-segment (or several-segment) market keywords from per-product lists."""
    quality = np.asarray(products, float)
    n = quality.size
    if segments is None:
        ptr, route_product, utility = np.array([0, n]), np.arange(n), quality
        seg = 1
    else:  # segments: list of product lists; utility = quality + segment shift
        route_product = np.concatenate([np.asarray(s) for s, _ in segments])
        utility = np.concatenate([quality[np.asarray(s)] + shift for s, shift in segments])
        ptr = np.concatenate([[0], np.cumsum([len(s) for s, _ in segments])])
        seg = len(segments)
    return dict(segment_ptr=ptr, route_product=route_product, route_utility=utility,
                product_tier=tier, product_family=family, product_firm=firm,
                tier_sigma=sigma_tier, family_sigma=sigma_family,
                class_alpha=np.broadcast_to(np.asarray(alpha, float), (seg, len(weight))).copy()
                if np.ndim(alpha) == 1 else alpha,
                class_weight=np.broadcast_to(np.asarray(weight, float), (seg, len(weight))).copy()
                if np.ndim(weight) == 1 else weight,
                segment_eta=np.full(seg, eta), segment_outside_utility=np.full(seg, outside),
                product_price_offset=offset, price_form=form)


HAND_CASES = {
    # two classes, 3 tiers-deep nests, asymmetric sigmas, a two-product firm, log form with pbar
    "classes_three_levels_log": (_case(
        [3.0, 2.5, 2.0, 2.8, 1.5], tier=[0, 0, 0, 1, 1], family=[0, 0, 1, 2, 3],
        firm=[0, 1, 0, 2, 1], sigma_tier=[0.3, 0.1], sigma_family=[0.8, 0.4, 0.5, 0.2],
        alpha=[1.6, 4.0], weight=[0.4, 0.6], eta=1.5, offset=0.2),
        [1.0, 1.2, 0.8, 1.1, 0.9]),
    # the same nests, linear form, fixed volume with an outside good
    "classes_three_levels_linear": (_case(
        [3.0, 2.5, 2.0, 2.8, 1.5], tier=[0, 0, 0, 1, 1], family=[0, 0, 1, 2, 3],
        firm=[0, 1, 0, 2, 1], sigma_tier=[0.3, 0.1], sigma_family=[0.8, 0.4, 0.5, 0.2],
        alpha=[1.5, 3.0], weight=[0.5, 0.5], outside=0.5, form="linear"),
        [1.0, 1.2, 0.8, 1.1, 0.9]),
    # one class; a firm owning two hosts of one family (cannibalisation inside a family)
    "firm_inside_family": (_case(
        [2.0, 2.0, 1.8, 2.2], tier=[0, 0, 0, 1], family=[0, 0, 1, 2], firm=[0, 0, 1, 2],
        sigma_tier=[0.5, 0.0], sigma_family=[0.9, 0.6, 0.3], alpha=[2.5], weight=[1.0],
        eta=1.2, offset=0.05), [0.5, 0.6, 0.4, 0.7]),
    # three classes, linear form, elastic volume, an outside good, asymmetric tier sigmas
    "three_classes_linear_elastic": (_case(
        [4.0, 3.5, 3.0, 3.8, 2.5, 3.2], tier=[0, 0, 1, 1, 2, 2], family=[0, 1, 2, 3, 4, 4],
        firm=[0, 1, 0, 1, 2, 3], sigma_tier=[0.2, 0.6, 0.0], sigma_family=[0.2, 0.5, 0.7, 0.6,
                                                                          0.9],
        alpha=[2.0, 3.0, 6.0], weight=[0.2, 0.5, 0.3], eta=1.8, outside=1.0, form="linear"),
        [1.0, 0.9, 0.7, 0.8, 0.5, 0.6]),
    # two segments with their own class weights and sensitivities, log form without offset
    "two_segments_log": (_case(
        [2.0, 1.5, 1.8, 2.2], tier=[0, 0, 1, 1], family=[0, 1, 2, 2], firm=[0, 1, 0, 1],
        sigma_tier=[0.4, 0.25], sigma_family=[0.6, 0.45, 0.85],
        alpha=np.array([[1.3, 2.5], [1.25, 5.0]]), weight=np.array([[0.7, 0.3], [0.2, 0.8]]),
        eta=1.2, segments=[([0, 1, 2, 3], 0.0), ([3, 0, 2], 0.7)]), [0.3, 0.25, 0.35, 0.4]),
    # sigma_tier = sigma_family (a family level that does not bind), two classes, fixed volume
    "equal_sigmas_log_fixed": (_case(
        [1.0, 1.2, 0.8, 1.4], tier=[0, 0, 1, 1], family=[0, 1, 2, 3], firm=[0, 0, 1, 2],
        sigma_tier=[0.7, 0.3], sigma_family=[0.7, 0.7, 0.3, 0.3], alpha=[1.8, 3.5],
        weight=[0.5, 0.5], outside=0.0, offset=1.0), [0.2, 0.3, 0.25, 0.2]),
    # one firm across tiers with a free-tier offset, large sensitivity gap between classes
    "firm_across_tiers_log": (_case(
        [2.5, 2.0, 2.4, 1.0], tier=[0, 1, 1, 0], family=[0, 1, 2, 3], firm=[0, 0, 1, 1],
        sigma_tier=[0.25, 0.5], sigma_family=[0.5, 0.95, 0.5, 0.3], alpha=[1.05, 8.0],
        weight=[0.3, 0.7], eta=1.04, offset=[0.0, 0.5, 0.1, 1.0]), [1.0, 0.4, 0.5, 0.1]),
}


@pytest.mark.parametrize("name", sorted(HAND_CASES))
def test_nash_matches_independent_fd_foc_solution(name):
    inputs, cost = HAND_CASES[name]
    result = gnl_bertrand_nash(gnl_market(**inputs), cost)
    assert result.residual <= 1e-12 and result.iterations > 1
    independent = _fd_foc_nash(inputs, cost, start=np.asarray(cost) * 1.7 + 0.1)
    np.testing.assert_allclose(result.price, independent, rtol=1e-8, atol=0)


@pytest.mark.parametrize("form", ["log", "linear"])
def test_derivatives_match_reference_and_finite_differences(form):
    inputs, price, cost = random_gnl_inputs(25, 10, 5, n_classes=3, seed=7, price_form=form)
    market, ref = gnl_market(**inputs), ReferenceGNL(**inputs)
    demand = gnl_demand(market, price)
    np.testing.assert_allclose(demand.product_demand, ref.product_demand(price), rtol=1e-12)
    jac = gnl_demand_jacobian(market, demand)
    np.testing.assert_allclose(jac, np.array(ref.jacobian(price)), rtol=1e-11, atol=1e-14)
    h = 1e-5
    numeric = np.array([(np.array(ref.product_demand(price + h * e))
                         - np.array(ref.product_demand(price - h * e))) / (2 * h)
                        for e in np.eye(price.size)])
    np.testing.assert_allclose(jac, numeric, rtol=1e-6, atol=1e-9)
    deriv = gnl_derivatives(market, demand, markup=price - cost)
    np.testing.assert_allclose(deriv.own, np.diag(jac), rtol=1e-12)
    same_firm = market.product_firm[:, None] == market.product_firm[None, :]
    np.fill_diagonal(same_firm, False)
    cannibal = (same_firm * jac * (price - cost)[None, :]).sum(axis=1)
    assert (cannibal > 0).any()  # the case has multi-product firms
    np.testing.assert_allclose(deriv.firm_cross, cannibal, rtol=1e-11, atol=1e-14)


def test_route_order_maps_stored_routes_to_the_callers():
    inputs, price, _ = random_gnl_inputs(6, 9, 4, seed=2)
    market = gnl_market(**inputs)
    assert not np.array_equal(market.route_order, np.arange(market.route_order.size))
    shares = np.empty_like(gnl_demand(market, price).route_share)
    shares[:, market.route_order] = gnl_demand(market, price).route_share
    np.testing.assert_allclose(shares, ReferenceGNL(**inputs).route_shares(price), rtol=1e-12)


# --- reductions to the demand-v2 kernel ------------------------------------------------------
@pytest.mark.parametrize("quality,cost,mu,outside", [
    ([2, 2], [1, 1], 0.25, 0.0), ([2.0, 1.5, 1.0], [1.0, 0.8, 0.5], 0.4, 0.3),
    ([1.0, 3.0], [0.5, 2.0], 1.0, -1.0)])
def test_reduces_to_the_logit_game(quality, cost, mu, outside):
    q = np.asarray(quality, float)
    gnl = gnl_textbook_nash(q / mu, cost, class_alpha=1.0 / mu, outside=outside / mu,
                            price_form="linear")
    np.testing.assert_allclose(gnl.price, logit_bertrand_nash(quality, cost, mu, outside),
                               rtol=1e-10)


@pytest.mark.parametrize("form", ["linear", "log"])
def test_reduces_to_the_nested_logit_game(form):
    quality, cost = [3.0, 2.6, 2.4, 2.0, 2.9], [1.0, 0.9, 1.1, 0.7, 1.2]
    nest, sigma = [0, 0, 1, 1, 2], [0.8, 0.35, 0.0]
    expected = nested_logit_bertrand_nash(quality, cost, 3.0, nest, sigma, outside=0.5,
                                          price_form=form)
    # sigma_tier = 0: families are the nests
    flat = gnl_textbook_nash(quality, cost, class_alpha=3.0, family=nest, sigma_family=sigma,
                             outside=0.5, price_form=form)
    np.testing.assert_allclose(flat.price, expected, rtol=1e-10)
    # sigma_tier = sigma_family with a family per product: tiers are the nests
    tiers = gnl_textbook_nash(quality, cost, class_alpha=3.0, tier=nest, sigma_tier=sigma,
                              sigma_family=np.array(sigma)[nest], outside=0.5, price_form=form)
    np.testing.assert_allclose(tiers.price, expected, rtol=1e-10)
    # two classes of the same sensitivity are one class
    twins = gnl_textbook_nash(quality, cost, class_alpha=[3.0, 3.0], class_weight=[0.3, 0.7],
                              family=nest, sigma_family=sigma, outside=0.5, price_form=form)
    np.testing.assert_allclose(twins.price, expected, rtol=1e-10)


def test_reduces_to_the_route_market_with_firms_and_volume():
    """One class, sigma_tier = 0: demand and multi-product Nash of the general v2 kernel."""
    inputs, price, cost = random_gnl_inputs(40, 12, 6, n_classes=1, seed=11, n_tiers=1)
    inputs.update(tier_sigma=0.0, product_price_offset=0.0, product_family=np.arange(12) % 4,
                  product_tier=np.zeros(12, dtype=int), family_sigma=[0.7, 0.2, 0.5, 0.0],
                  product_firm=np.arange(12) // 4)  # firms own one product of each family
    market = gnl_market(**inputs)
    ptr, prod = inputs["segment_ptr"], inputs["route_product"]
    order = market.route_order  # v2 needs each consumer's routes sorted by nest
    topology = RouteTopology(ptr, prod[order], 12, route_nest=inputs["product_family"][
        prod[order]], producer_firm=inputs["product_firm"])
    v2 = RouteMarket(topology, inputs["route_utility"][order], np.zeros(order.size),
                     market.class_alpha[:, 0], inputs["segment_demand"],
                     inputs["segment_outside_utility"], price_form="log",
                     nest_sigma=np.array([0.7, 0.2, 0.5, 0.0]),
                     consumer_eta=inputs["segment_eta"],
                     consumer_logsum_ref=market.class_logsum_ref[:, 0])
    np.testing.assert_allclose(gnl_demand(market, price).product_demand,
                               market_demand(v2, price).producer_demand, rtol=1e-12)
    np.testing.assert_allclose(gnl_bertrand_nash(market, cost).price,
                               bertrand_nash(v2, cost, tol=1e-13, max_iter=100_000),
                               rtol=1e-9)


# --- best response, helpers, bad input ------------------------------------------------------
def test_best_response_solves_the_firms_first_order_conditions():
    inputs, cost = HAND_CASES["classes_three_levels_log"]
    market = gnl_market(**inputs)
    rivals = np.array([1.7, 2.0, 1.5, 1.9, 1.4])
    result = gnl_best_response(market, rivals, cost, firm=0)
    own = market.product_firm == 0
    np.testing.assert_array_equal(result.price[~own], rivals[~own])
    ref = ReferenceGNL(**_full_inputs(inputs))
    for a in np.flatnonzero(own):  # the firm's profit is flat in each of its prices
        h = 1e-5
        up, down = result.price.copy(), result.price.copy()
        up[a] += h
        down[a] -= h
        slope = (ref.profit(up, cost, 0) - ref.profit(down, cost, 0)) / (2 * h)
        assert abs(slope) < 1e-8


def test_alpha_from_theta_is_at_least_eta():
    alpha = class_alpha_from_theta([1.2, 2.0], [-30.0, 0.0, 1.0])
    assert alpha.shape == (2, 3)
    np.testing.assert_allclose(alpha[:, 1], [2.2, 3.0])
    assert (alpha >= np.array([[1.2], [2.0]])).all()


def test_docstring_example_matches_the_calvano_game():
    np.testing.assert_allclose(
        gnl_textbook_nash([8, 8], [1, 1], class_alpha=4.0, outside=0.0,
                          price_form="linear").price,
        logit_bertrand_nash([2, 2], [1, 1], mu=0.25), rtol=1e-12)


@pytest.mark.parametrize("change,message", [
    (dict(class_alpha=[1.1], segment_eta=1.5), "below segment_eta"),
    (dict(segment_eta=0.9), "must be 0 or > 1"),
    (dict(tier_sigma=0.6, family_sigma=0.5), "exceeds family_sigma"),
    (dict(family_sigma=1.0), "in \\[0, 1\\)"),
    (dict(product_tier=[0, 1, 1], product_family=[0, 0, 1]), "spans several tiers"),
    (dict(route_product=[0, 0, 2]), "every product needs a route"),
    (dict(segment_eta=0.0, outside=-np.inf), "finite segment_outside_utility"),
    (dict(class_weight=[0.5, 0.6], class_alpha=[2.0, 3.0]), "summing to 1"),
    (dict(price_form="linear", product_price_offset=0.1), "with price_form='linear'"),
])
def test_bad_input_is_refused_with_a_message(change, message):
    kwargs = dict(segment_ptr=[0, 3], route_product=[0, 1, 2], route_utility=[1.0, 1.0, 1.0],
                  product_tier=[0, 0, 1], product_family=[0, 1, 2], tier_sigma=0.2,
                  family_sigma=0.5, class_alpha=[2.0], segment_eta=[1.5],
                  segment_outside_utility=[0.0])
    outside = change.pop("outside", None)
    if outside is not None:
        kwargs["segment_outside_utility"] = [outside]
    for key in ("segment_eta",):
        if key in change:
            change[key] = [change[key]]
    kwargs.update(change)
    with pytest.raises(KernelInputError, match=message):
        gnl_market(**kwargs)


def test_a_product_twice_in_one_segment_is_refused():
    with pytest.raises(KernelInputError, match="twice in one segment"):
        gnl_market([0, 3], [0, 1, 1], [1.0, 1.0, 1.0], product_tier=[0, 0],
                   product_family=[0, 1], tier_sigma=0.0, family_sigma=0.0, class_alpha=[2.0],
                   segment_outside_utility=[0.0])


def test_single_market_defaults_are_a_family_and_firm_per_product():
    market = gnl_single_market([1.0, 2.0, 3.0], class_alpha=2.0, outside=0.0)
    np.testing.assert_array_equal(market.product_family, [0, 1, 2])
    np.testing.assert_array_equal(market.product_firm, [0, 1, 2])


def test_a_firm_selling_across_segments_can_have_several_foc_solutions():
    """A known limit, found by the uniqueness property: a firm owning both products of one
    segment and the only product of another (product-line price discrimination) has two local
    profit maxima that both solve its first-order conditions; the zeta map returns the one its
    start leads to (here 18.86/0.99 from 2c + pbar, 12.14/2.15 from 10c + pbar + 1 USD/Mtok;
    profits 1.7246 and 1.7176, while a grid search finds 1.8067 at 13.35/12.46)."""
    inputs = dict(segment_ptr=[0, 2, 3], route_product=[0, 1, 0], route_utility=np.zeros(3),
                  product_tier=[0, 0], product_family=[0, 0], tier_sigma=0.0, family_sigma=0.0,
                  class_alpha=[[3.0625], [2.0625]], product_firm=[0, 0],
                  segment_eta=[1.0625, 1.0625], product_price_offset=[1.0, 0.0])
    market, cost = gnl_market(**inputs), np.array([0.25, 0.0546875])
    low_start = gnl_bertrand_nash(market, cost).price
    high_start = gnl_bertrand_nash(market, cost, cost * 10 + market.product_price_offset + 1).price
    assert np.abs(low_start / high_start - 1).max() > 0.5
    for price in (low_start, high_start):
        demand = gnl_demand(market, price)
        deriv = gnl_derivatives(market, demand, markup=price - cost)
        foc = demand.product_demand + deriv.own * (price - cost) + deriv.firm_cross
        np.testing.assert_allclose(foc, 0.0, atol=1e-10)


def test_latent_price_classes_can_have_several_nash_equilibria():
    """A known limit, found by the uniqueness property in CI (7 Dec 2026): five single-product
    firms, three segments, three latent price classes. The default start and 10 c + pbar + 1 end in
    two different Nash prices (products 2 and 4: 2.249/1.680 and 1.542/1.452 USD/Mtok), each
    solving every firm's first-order condition; with all buyers in any one of the classes the
    same starts agree. A mixture of price classes gives a firm two targets (price high to the
    less sensitive class or low to the bulk), so its profit need not be quasi-concave (Train
    2009 ch. 6 on latent classes; uniqueness results such as Caplin & Nalebuff 1991 need one
    log-concave taste distribution)."""
    weight = np.array([[0.44538663, 0.07339145, 0.48122191], [0.23227879, 0.58702733, 0.18069388],
                       [0.19063346, 0.28103005, 0.52833649]])
    inputs = dict(
        segment_ptr=[0, 2, 5, 6], route_product=[2, 4, 0, 1, 3, 1],
        route_utility=[1.17776787, -0.0954310551, 0.0, -0.678969769, -1 / 3, 1.42180985],
        product_tier=[0, 0, 0, 0, 0], product_family=[0, 0, 3, 3, 3],
        tier_sigma=[7.30632836e-07, 0.469611452, 0.0],
        family_sigma=[0.67554473, 0.89075571, 0.87986132, 0.89300004, 0.28920075],
        class_alpha=[[2.31638217, 6.33676228, 6.152966], [4.51246761, 4.97866983, 4.96368954],
                     [5.54724314, 6.83902343, 2.56695943]],
        class_weight=weight / weight.sum(axis=1, keepdims=True), product_firm=[0, 1, 2, 3, 4],
        segment_demand=[0.49715753, 1.5, 6.60879351], segment_eta=[1.6791597, 2.97445784,
                                                                    2.09634162],
        segment_outside_utility=[-1.58216051, 0.0, 0.301240420],
        class_logsum_ref=[[-1 / 3, -0.725524425, -1.71217858], [1e-05, -0.122183642, -1.82106335],
                          [-0.298865257, 2.0, -1.19694613e-08]],
        product_price_offset=[1.19209290e-07, 1.0, 0.2, 0.0, 0.0], price_form="log")
    cost = np.array([3.23649638, 3.00779609, 1.20671252, 1.52639713, 1.42164835])

    def nash_from_two_starts(market):
        starts = (None, cost * 10.0 + market.product_price_offset + 1.0)
        return [gnl_bertrand_nash(market, cost, start, max_iter=20_000) for start in starts]

    market = gnl_market(**inputs)
    results = nash_from_two_starts(market)
    assert all(r.residual <= 1e-12 for r in results)
    assert abs(results[0].price[2] / results[1].price[2] - 1) > 0.3
    for price in (r.price for r in results):
        demand = gnl_demand(market, price)
        deriv = gnl_derivatives(market, demand, markup=price - cost)
        foc = demand.product_demand + deriv.own * (price - cost) + deriv.firm_cross
        np.testing.assert_allclose(foc, 0.0, atol=1e-9)
    for c in range(3):
        one = gnl_market(**{**inputs, "class_weight": np.eye(3)[[c, c, c]]})
        low, high = (r.price for r in nash_from_two_starts(one))
        np.testing.assert_allclose(low, high, rtol=1e-8)
