"""Re-choice clearing conserves volume at any finite alpha, sigma and eta (issue 28).

Per consumer, ``served + unserved + not_bought + outside = X_j`` (the demand at posted prices),
with ``not_bought >= 0``: the clearing never serves more than the demand at posted prices. The
markets are drawn over the declared ranges of the scenario parameters that reach the kernel:
alpha from 1.01 up to 1e6 x the baseline's (its sectors' alpha ~1.2-1.5), sigma in [0, 0.99]
(``nest_sigma``'s declaration; the kernel accepts [0, 1)) and eta in (0, 10] (``demand_eta``).
At alpha 750 (every baseline sector x500) the clearing served 3.8e10 x the demand at step 16 of
a model run (commit 809a899).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pricewar.kernel import RouteMarket, RouteTopology, clear_capacity, market_demand

#: the declared ranges (pricewar/scenario/parameters.py: nest_sigma, demand_eta); alpha up to
#: 1e6 x the baseline's ~1.5
SIGMA_MAX = 0.99
ETA_MAX = 10.0
ALPHA_MAX = 1.5e6


def assert_conserves(market: RouteMarket, price: np.ndarray) -> None:
    demand = market_demand(market, price)
    clearing = clear_capacity(market, demand)
    volume = demand.consumer_volume
    parts = {"served": clearing.consumer_served, "unserved": clearing.consumer_unserved,
             "not_bought": clearing.consumer_not_bought, "outside": demand.consumer_outside}
    for name, value in parts.items():
        assert np.isfinite(value).all() and (value >= 0).all(), (name, value)
    assert np.isfinite(clearing.route_served).all() and (clearing.route_served >= 0).all()
    total = sum(parts.values())
    np.testing.assert_allclose(total, volume, rtol=1e-9, atol=0)
    capacity = market.capacity_of_host
    assert (clearing.host_load <= capacity * (1 + 1e-12)).all()


@st.composite
def steep_markets(draw):
    """A nested re-choice market (log price form, as the model's) whose shares span the floats.

    Consumers have 1-16 routes to 2-16 producers on 1-16 hosts, in 1-3 nests (families) with
    sigma in [0, 0.99] (half the nests from 0.8 up; one draw in ten all 0, plain logit), alpha
    = (1.01 to 8) x 10^(0 to 6) capped at 1.5e6, eta in (0, 10]. The route values ``v_r = u_r
    - alpha log(price_r)`` are drawn on the log-share scale, as an alpha up to 1e6 x the
    baseline's spreads price differences: each nest's best route 0 to 800 utils below the
    consumer's best (nest shares down to e^-800, far below the smallest float), each other
    route 0 to 800 (1 - sigma) below its nest's best (within-nest shares as small), all on a
    consumer level up to 5 alpha from 0 (large inclusive values). The outside option lies 0 to
    2,000 utils below the best route or up to 20 above it, or is absent (4 in 10). Hosts have
    no capacity (3 in 10) or 0-1.5 x the mean host load, not tied to their own load, so that
    refused demand meets hosts whose posted shares underflowed.
    """
    n_consumers = draw(st.integers(1, 8))
    n_producers = draw(st.integers(2, 16))
    n_nests = draw(st.integers(1, 3))
    n_hosts = draw(st.integers(1, n_producers))
    alpha_scale = 10.0 ** (6 * draw(st.floats(0, 1)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    producer_nest = rng.integers(0, n_nests, n_producers)
    producer_host = rng.permutation(np.arange(n_producers) % n_hosts)
    counts = rng.integers(1, 17, n_consumers)
    n_routes = int(counts.sum())
    route_consumer = np.repeat(np.arange(n_consumers), counts)
    route_producer = rng.integers(0, n_producers, n_routes)
    order = np.lexsort((route_producer, producer_nest[route_producer], route_consumer))
    route_producer = route_producer[order]
    route_nest = producer_nest[route_producer]
    topology = RouteTopology(np.concatenate([[0], np.cumsum(counts)]), route_producer,
                             n_producers, route_nest=route_nest, producer_host=producer_host,
                             n_hosts=n_hosts)
    alpha = np.minimum(rng.uniform(1.01, 8, n_consumers) * alpha_scale, ALPHA_MAX)
    sigma = rng.uniform(0, SIGMA_MAX, n_nests)
    high = rng.random(n_nests) < 0.5
    sigma[high] = rng.uniform(0.8, SIGMA_MAX, high.sum())
    if draw(st.integers(0, 9)) == 0:  # plain logit (every sigma 0) one draw in ten
        sigma[:] = 0.0
    eta = ETA_MAX - rng.uniform(0, ETA_MAX, n_consumers)  # (0, 10]
    price = np.exp(rng.uniform(-3, 3, n_producers))
    # values on the log-share scale: nest level, then within the nest (scaled by 1 - sigma)
    level = rng.uniform(-5, 5, n_consumers) * alpha
    nest_level = rng.uniform(-800, 0, (n_consumers, n_nests))
    nest_level[np.arange(n_consumers), rng.integers(0, n_nests, n_consumers)] = 0.0
    within = rng.uniform(-800, 0, n_routes) * (1 - sigma[route_nest])
    value = level[route_consumer] + nest_level[route_consumer, route_nest] + within
    utility = value + alpha[route_consumer] * np.log(price[route_producer])
    best = np.maximum.reduceat(value, np.concatenate([[0], np.cumsum(counts)[:-1]]))
    outside = best + rng.uniform(-2000, 20, n_consumers)
    outside[rng.random(n_consumers) < 0.4] = -np.inf
    fields = dict(route_utility=utility, route_price_extra=np.zeros(n_routes),
                  consumer_alpha=alpha, consumer_demand=rng.uniform(1, 1e5, n_consumers),
                  consumer_outside_utility=outside, nest_sigma=sigma, consumer_eta=eta,
                  producer_load=rng.uniform(0.5, 2, n_producers), rationing="rechoice")
    # the reference inclusive value near the posted-price one (a volume that neither over- nor
    # underflows), then the capacities
    probe = RouteMarket(topology, **fields, host_capacity=np.full(n_hosts, np.inf))
    logsum = market_demand(probe, price).consumer_logsum
    fields["consumer_logsum_ref"] = logsum + rng.uniform(-2, 2, n_consumers) * alpha / eta
    probe = RouteMarket(topology, **fields, host_capacity=np.full(n_hosts, np.inf))
    load = np.bincount(producer_host, market_demand(probe, price).producer_demand
                       * fields["producer_load"], minlength=n_hosts)
    capacity = load.sum() / n_hosts * rng.uniform(0, 1.5, n_hosts)
    capacity[rng.random(n_hosts) < 0.3] = 0.0
    return RouteMarket(topology, **fields, host_capacity=capacity), price


@settings(max_examples=300, deadline=None)
@given(steep_markets())
def test_rechoice_conserves_volume_at_any_declared_alpha_sigma_eta(case):
    market, price = case
    assert_conserves(market, price)


def test_rechoice_conserves_where_an_open_nest_share_underflowed():
    """The pattern of the x500 run, by hand. One consumer, no outside option: nest 0 holds its
    best route (host 0, no capacity); nest 1 (sigma 0.875) has the share 1e-130, its best route
    on host 1 (no capacity) and two more with within-nest shares 1e-190 and 1e-250 on open
    hosts. Refused, the volume re-chooses nest 1's two open routes, whose posted shares 1e-320
    and 0 were floored at 1e-300 and then weighted by o^-sigma ~ 1e166 against a restricted
    index z ~ 1e-154: the clearing served 1e22 Mtok of a demand of 100."""
    lam = 0.125
    v1 = -130 * np.log(10)
    value = np.array([0.0, v1, v1 - lam * 190 * np.log(10), v1 - lam * 250 * np.log(10)])
    topology = RouteTopology(np.array([0, 4]), np.arange(4), 4, route_nest=[0, 1, 1, 1],
                             producer_host=np.arange(4))
    market = RouteMarket(topology, route_utility=value, route_price_extra=np.zeros(4),
                         consumer_alpha=np.array([750.0]), consumer_demand=np.array([100.0]),
                         consumer_outside_utility=np.array([-np.inf]), nest_sigma=[0.0, 1 - lam],
                         consumer_eta=np.array([1.2]), consumer_logsum_ref=np.array([0.0]),
                         host_capacity=np.array([0.0, 0.0, 1e9, 1e9]), rationing="rechoice")
    price = np.ones(4)
    demand = market_demand(market, price)
    np.testing.assert_allclose(demand.route_share[:3], [1.0, 1e-130, 1e-320], rtol=1e-6)
    assert_conserves(market, price)
    # by hand: the refused 100 re-choose nest 1's open routes, IV_R - IV = v1 + lam log(1e-190
    # + 1e-250) (route 2 almost alone); the volume shrinks by exp((eta/alpha)(IV_R - IV))
    clearing = clear_capacity(market, demand)
    log_z = v1 + lam * np.log(1e-190 + 1e-250)
    np.testing.assert_allclose(clearing.consumer_served, 100 * np.exp(1.2 / 750 * log_z),
                               rtol=1e-12)
