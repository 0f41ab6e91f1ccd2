"""Property tests: kernel == plain-Python reference on random markets; invariants always hold."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pricewar.kernel import (
    RouteMarket,
    RouteTopology,
    best_response,
    clear_capacity,
    market_demand,
)
from pricewar.testing.reference import ReferenceMarket


@st.composite
def markets(draw, price_form=None):
    n_consumers = draw(st.integers(1, 12))
    n_producers = draw(st.integers(1, 6))
    counts = draw(st.lists(st.integers(0, 5), min_size=n_consumers, max_size=n_consumers))
    n_routes = sum(counts)
    floats = st.floats
    route_producer = draw(st.lists(st.integers(0, n_producers - 1), min_size=n_routes,
                                   max_size=n_routes))
    form = price_form or draw(st.sampled_from(["log", "linear"]))
    alpha_low = 1.01 if form == "log" else 0.05
    topology = RouteTopology(np.concatenate([[0], np.cumsum(counts)]).astype(int),
                             np.array(route_producer, dtype=int), n_producers)
    market = RouteMarket(
        topology,
        route_utility=np.array(draw(st.lists(floats(-30, 30), min_size=n_routes,
                                             max_size=n_routes))),
        route_price_extra=np.array(draw(st.lists(floats(0, 2), min_size=n_routes,
                                                 max_size=n_routes))),
        consumer_alpha=np.array(draw(st.lists(floats(alpha_low, 8), min_size=n_consumers,
                                              max_size=n_consumers))),
        consumer_demand=np.array(draw(st.lists(floats(0, 1e4), min_size=n_consumers,
                                               max_size=n_consumers))),
        consumer_outside_utility=np.array(draw(st.lists(floats(-30, 30), min_size=n_consumers,
                                                        max_size=n_consumers))),
        producer_capacity=np.array(draw(st.lists(
            st.one_of(floats(0, 1e4), st.just(np.inf)), min_size=n_producers,
            max_size=n_producers))),
        price_form=form,
    )
    price = np.array(draw(st.lists(floats(0.01, 50), min_size=n_producers,
                                   max_size=n_producers)))
    cost = np.array(draw(st.lists(floats(0, 5), min_size=n_producers, max_size=n_producers)))
    return market, price, cost


def _reference(market: RouteMarket) -> ReferenceMarket:
    t = market.topology
    return ReferenceMarket(t.consumer_ptr, t.route_producer, market.route_utility,
                           market.route_price_extra, market.consumer_alpha,
                           market.consumer_demand, market.consumer_outside_utility,
                           market.producer_capacity, market.price_form)


def _close(a, b, scale):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-9, atol=1e-9 * scale)


@settings(max_examples=150, deadline=None)
@given(markets())
def test_kernel_equals_reference_on_random_markets(case):
    market, price, cost = case
    scale = max(1.0, float(market.consumer_demand.sum()))
    reference = _reference(market)
    demand = market_demand(market, price)
    _close(demand.producer_demand, reference.demand(price), scale)
    clearing = clear_capacity(market, demand)
    expected = reference.clear(price)
    _close(clearing.route_served, expected["route_served"], scale)
    _close(clearing.producer_served, expected["producer_served"], scale)
    _close(clearing.consumer_unserved, expected["consumer_unserved"], scale)
    _close(demand.consumer_outside, expected["consumer_outside"], scale)
    # The markup divides by 1 - S_ij: where one producer holds nearly all of a consumer, an
    # error of one ulp in S is amplified by 1/(1 - S). Compare to 1e-9 times that condition number.
    topo = market.topology
    pair_share = topo.pair_sum(demand.route_share)
    condition = np.ones(topo.n_producers)
    np.maximum.at(condition, topo.pair_producer, 1.0 / np.maximum(1.0 - pair_share, 1e-300))
    expected_br = np.array(reference.best_response(price, cost))
    error = np.abs(best_response(market, price, cost) - expected_br)
    assert (error <= 1e-9 * condition * np.maximum(np.abs(expected_br), 1.0)).all()


@settings(max_examples=150, deadline=None)
@given(markets())
def test_served_plus_unserved_plus_outside_equals_demand_and_load_within_capacity(case):
    market, price, _ = case
    demand = market_demand(market, price)
    clearing = clear_capacity(market, demand)
    total = clearing.consumer_served + clearing.consumer_unserved + demand.consumer_outside
    np.testing.assert_allclose(total, market.consumer_demand, rtol=1e-9, atol=1e-9)
    capacity = market.producer_capacity
    assert (clearing.producer_served <= capacity + 1e-9 * np.maximum(capacity, 1.0)).all()
    for arr in (clearing.route_served, clearing.consumer_unserved, demand.route_share,
                demand.consumer_surplus, demand.consumer_logsum):
        assert np.isfinite(arr).all()
    assert ((demand.route_share >= 0) & (demand.route_share <= 1)).all()


@settings(max_examples=100, deadline=None)
@given(markets(), st.data())
def test_producer_demand_falls_when_own_price_rises(case, data):
    market, price, _ = case
    i = data.draw(st.integers(0, market.topology.n_producers - 1))
    factor = data.draw(st.floats(1.01, 3.0))
    before = market_demand(market, price)
    raised = price.copy()
    raised[i] *= factor
    after = market_demand(market, raised)
    assert after.producer_demand[i] <= before.producer_demand[i] * (1 + 1e-12) + 1e-300
    others = np.arange(market.topology.n_producers) != i
    # logit goods are substitutes: rivals never lose demand when i raises its price
    assert (after.producer_demand[others] >= before.producer_demand[others] * (1 - 1e-12)).all()
