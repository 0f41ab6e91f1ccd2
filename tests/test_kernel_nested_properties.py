"""Property tests of the demand-v2 kernel: kernel == plain-Python reference on random nested
markets (nests, sigma, eta, hosts, firms, re-choice); invariants always hold."""

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
from pricewar.kernel.firms import foc_terms
from pricewar.testing.reference import reference_market


@st.composite
def nested_markets(draw, price_form=None):
    floats = st.floats
    n_consumers = draw(st.integers(1, 10))
    n_producers = draw(st.integers(1, 6))
    n_nests = draw(st.integers(1, 3))
    producer_nest = np.array(draw(st.lists(st.integers(0, n_nests - 1), min_size=n_producers,
                                           max_size=n_producers)))
    # firms: products of one firm in different nests (a clash gets a firm of its own)
    firm = np.array(draw(st.lists(st.integers(0, 2), min_size=n_producers,
                                  max_size=n_producers)))
    seen = set()
    for i in range(n_producers):
        if (firm[i], producer_nest[i]) in seen:
            firm[i] = 3 + i
        seen.add((firm[i], producer_nest[i]))
    n_hosts = draw(st.integers(1, n_producers))
    host = np.array(draw(st.lists(st.integers(0, n_hosts - 1), min_size=n_producers,
                                  max_size=n_producers)))
    counts = draw(st.lists(st.integers(0, 5), min_size=n_consumers, max_size=n_consumers))
    n_routes = sum(counts)
    route_producer = np.array(draw(st.lists(st.integers(0, n_producers - 1), min_size=n_routes,
                                            max_size=n_routes)), dtype=int)
    route_consumer = np.repeat(np.arange(n_consumers), counts)
    order = np.lexsort((route_producer, producer_nest[route_producer], route_consumer))
    route_producer = route_producer[order]
    topology = RouteTopology(np.concatenate([[0], np.cumsum(counts)]).astype(int),
                             route_producer, n_producers,
                             route_nest=producer_nest[route_producer], producer_host=host,
                             n_hosts=n_hosts, producer_firm=firm)
    form = price_form or draw(st.sampled_from(["log", "linear"]))
    alpha = np.array(draw(st.lists(floats(1.01 if form == "log" else 0.05, 8),
                                   min_size=n_consumers, max_size=n_consumers)))
    eta_fraction = np.array(draw(st.lists(floats(0, 1), min_size=n_consumers,
                                          max_size=n_consumers)))

    def values(strategy, size):
        return np.array(draw(st.lists(strategy, min_size=size, max_size=size)), dtype=float)

    market = RouteMarket(
        topology,
        route_utility=values(floats(-30, 30), n_routes),
        route_price_extra=values(floats(0, 2), n_routes),
        consumer_alpha=alpha,
        # (0 or at least 1e-6 Mtok: at subnormal volumes the slope has too few bits to compare)
        consumer_demand=values(st.one_of(st.just(0.0), floats(1e-6, 1e4)), n_consumers),
        consumer_outside_utility=values(st.one_of(floats(-30, 30), st.just(-np.inf)),
                                        n_consumers),
        price_form=form,
        nest_sigma=values(st.one_of(st.just(0.0), floats(0, 0.99)), n_nests),
        consumer_eta=eta_fraction * np.minimum(alpha, 3.0),  # eta <= alpha: rivals substitute
        consumer_logsum_ref=values(floats(-5, 5), n_consumers),
        host_capacity=values(st.one_of(floats(0, 1e4), st.just(np.inf)), n_hosts),
        producer_load=values(floats(0.1, 3), n_producers),
        rationing=draw(st.sampled_from(["spill", "rechoice"])),
    )
    price = values(floats(0.01, 50), n_producers)
    cost = values(floats(0, 5), n_producers)
    return market, price, cost


def _close(a, b, scale):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-9, atol=1e-9 * scale)


@settings(max_examples=200, deadline=None)
@given(nested_markets())
def test_kernel_equals_reference_on_random_nested_markets(case):
    market, price, cost = case
    reference = reference_market(market)
    demand = market_demand(market, price)
    scale = max(1.0, float(demand.consumer_volume.sum()))
    _close(demand.producer_demand, reference.demand(price), scale)
    clearing = clear_capacity(market, demand)
    expected = reference.clear(price)
    for name in ("route_served", "producer_served", "consumer_unserved", "consumer_not_bought"):
        _close(getattr(clearing, name), expected[name], scale)
    _close(clearing.host_load, expected["host_load"],
           scale * max(1.0, float(market.producer_load.max())))
    _close(demand.consumer_outside, expected["consumer_outside"], scale)
    assert clearing.rounds == expected["rounds"]
    # The markup is a ratio of sums that may nearly cancel: compare to 1e-9 times the condition
    # number of the slope and of the numerator (with cannibalisation).
    terms = foc_terms(market, demand, price, cost)
    tiny = 1e-300
    condition = 1.0 + (terms["lam"] + terms["gam"]) / np.maximum(np.abs(terms["slope"]), tiny)
    condition += ((terms["quantity"] + np.abs(terms["zeta_numerator"] - terms["quantity"])
                   + np.abs(terms["gam"] * (price - cost)))
                  / np.maximum(np.abs(terms["quantity"] + terms["others"]), tiny))
    # (Where the condition number passes 1e9 -- a dominant product's 1 - S below rounding -- both
    # results are rounding noise and the comparison carries no information.)
    expected_br = np.array(reference.best_response(price, cost))
    kernel_br = best_response(market, price, cost)
    error = np.abs(kernel_br - expected_br)
    with np.errstate(over="ignore"):
        bound = 1e-9 * condition * np.maximum(np.maximum(np.abs(expected_br),
                                                         np.abs(kernel_br)), 1.0)
    assert (error <= bound).all()


@settings(max_examples=200, deadline=None)
@given(nested_markets())
def test_shares_lie_in_unit_interval_and_sum_to_one_with_the_outside_share(case):
    market, price, _ = case
    demand = market_demand(market, price)
    topo = market.topology
    for share in (demand.route_share, demand.consumer_outside_share):
        assert np.isfinite(share).all() and ((share >= 0) & (share <= 1)).all()
    total = topo.segment_sum(demand.route_share) + demand.consumer_outside_share
    np.testing.assert_allclose(total, 1.0, rtol=0, atol=1e-12)
    if demand.nest_share is not None:  # within-nest shares sum to 1 in every (consumer, nest)
        groups = topo.nests
        within = np.bincount(groups.route_group, demand.route_nest_share,
                             minlength=groups.n_groups)
        np.testing.assert_allclose(within, 1.0, rtol=0, atol=1e-12)
    for name in ("route_demand", "producer_demand", "consumer_outside", "consumer_volume",
                 "consumer_surplus"):
        assert np.isfinite(getattr(demand, name)).all(), name
    no_choice = ~np.isfinite(demand.consumer_logsum)  # neither routes nor an outside option
    assert (np.diff(topo.consumer_ptr)[no_choice] == 0).all()
    assert not np.isnan(demand.consumer_logsum).any()


@settings(max_examples=200, deadline=None)
@given(nested_markets())
def test_served_unserved_not_bought_and_outside_add_up_to_demand_within_host_capacity(case):
    market, price, _ = case
    demand = market_demand(market, price)
    clearing = clear_capacity(market, demand)
    total = (clearing.consumer_served + clearing.consumer_unserved
             + clearing.consumer_not_bought + demand.consumer_outside)
    np.testing.assert_allclose(total, demand.consumer_volume, rtol=1e-9, atol=1e-9)
    capacity = market.capacity_of_host
    assert (clearing.host_load <= capacity + 1e-9 * np.maximum(capacity, 1.0)).all()
    for name in ("route_served", "consumer_unserved", "consumer_not_bought", "host_load"):
        value = getattr(clearing, name)
        assert np.isfinite(value).all() and (value >= -1e-9 * max(1.0, total.max())).all()


@settings(max_examples=150, deadline=None)
@given(nested_markets(), st.data())
def test_own_demand_falls_and_rivals_demand_rises_when_a_price_rises(case, data):
    market, price, _ = case
    i = data.draw(st.integers(0, market.topology.n_producers - 1))
    factor = data.draw(st.floats(1.01, 3.0))
    before = market_demand(market, price)
    raised = price.copy()
    raised[i] *= factor
    after = market_demand(market, raised)
    assert after.producer_demand[i] <= before.producer_demand[i] * (1 + 1e-12) + 1e-300
    others = np.arange(market.topology.n_producers) != i
    # nested-logit goods are substitutes, within (more) and across nests, when eta <= alpha
    assert (after.producer_demand[others] >= before.producer_demand[others] * (1 - 1e-12)).all()
