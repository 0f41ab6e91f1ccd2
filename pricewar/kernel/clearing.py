"""Capacity clearing: rationing demand to capacity with spill-over to open producers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pricewar.errors import KernelInputError
from pricewar.kernel.arrays import compact_index, scatter_sum
from pricewar.kernel.demand import MarketDemand
from pricewar.kernel.rechoice import clear_by_host
from pricewar.kernel.route_market import RouteMarket
from pricewar.kernel.topology import segment_dot


# --------------------------------------------------------------------------------------------
# capacity clearing
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Clearing:
    """Result of capacity clearing (quantities in Mtok/step).

    Invariant per consumer: ``consumer_served + consumer_unserved + consumer_not_bought +
    outside = demand`` (``MarketDemand.consumer_outside`` and ``consumer_volume``).

    Attributes
    ----------
    route_served, producer_served, consumer_served : Mtok/step per route, producer, consumer
    consumer_unserved : Mtok/step refused by full hosts with no open route left to the consumer
    rounds : clearing rounds used
    consumer_not_bought : Mtok/step refused and then not bought on re-choice (0 with "spill")
    host_load : capacity used per host, load units per step (Mtok/step when producers are their
        own hosts with unit load)
    """

    route_served: np.ndarray
    producer_served: np.ndarray
    consumer_served: np.ndarray
    consumer_unserved: np.ndarray
    rounds: int
    consumer_not_bought: np.ndarray | None = None
    host_load: np.ndarray | None = None


def clear_capacity(market: RouteMarket, demand: MarketDemand, max_rounds: int = 100,
                   rel_tol: float = 1e-12) -> Clearing:
    """Ration demand to capacity, re-offering rejected demand to the consumers' other routes.

    Each round, a producer offered more than its spare capacity serves that spare capacity pro
    rata over its routes and closes. The demand it rejects is re-offered to the same consumer's
    routes to producers still open, in proportion to their logit shares (consumers who were turned
    away keep shopping among the inside goods; their outside-option share is unchanged). Demand of a
    consumer with no open route left, or still pending after ``max_rounds``, is *unserved*.
    Because every rejecting producer closes, at most ``n_producers + 1`` rounds are needed.

    That is the ``"spill"`` rule (``market.rationing``, the default) with every producer its own
    host. With a host map (``topology.producer_host``, ``market.host_capacity``) or
    ``market.producer_load``, capacity binds per host: a host over its spare capacity accepts a
    fraction of every route to its producers and closes them all. With ``rationing="rechoice"``
    refused demand chooses again among the consumer's open routes *and* the outside option, with
    the nested-logit probabilities of that restricted choice set, and shrinks with the higher
    restricted price index when ``eta > 0``; what it does not re-buy is ``consumer_not_bought``
    (see :mod:`~pricewar.kernel.rechoice`).

    Parameters
    ----------
    market : RouteMarket
    demand : MarketDemand
        Unconstrained demand from :func:`market_demand` on the same market.
    max_rounds : int
        Round limit (>= 1).
    rel_tol : float
        Pending demand below ``rel_tol`` x total demand ends the iteration (counted unserved).
    """
    if max_rounds < 1:
        raise KernelInputError(f"max_rounds must be >= 1, got {max_rounds!r}")
    if not market.is_plain_clearing:
        return Clearing(**clear_by_host(market, demand, max_rounds, rel_tol))
    topo = market.topology
    n_consumers, n_producers = topo.n_consumers, topo.n_producers
    capacity = market.producer_capacity
    volume = market.consumer_demand if demand.consumer_volume is None else demand.consumer_volume
    stop_below = rel_tol * max(float(volume.sum()), 1e-300)

    # Round 1: every route is offered its unconstrained demand, already summed per producer.
    route_demand = demand.route_demand
    offer = demand.producer_demand
    over = offer > capacity
    if not over.any():  # everything fits: the common, fast path
        served_load = offer.copy()
        return Clearing(route_served=route_demand.copy(), producer_served=served_load,
                        consumer_served=topo.segment_sum(route_demand),
                        consumer_unserved=np.zeros(n_consumers), rounds=1,
                        consumer_not_bought=np.zeros(n_consumers), host_load=served_load)
    is_open = (capacity > 0) & ~over
    # Accepted fraction per producer. It is exactly 1 only for open producers (for x > y >= 0,
    # fl(y/x) < 1), so a route's gathered fraction also tells whether its producer is open. A
    # closed producer that was not over (no capacity, nothing offered) gets 0 to keep that true:
    # its routes carry no demand, so 0 and 1 accept the same.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        accept = np.where(over, capacity / offer, is_open.astype(np.float64))
    served = accept[topo.route_producer]
    keep = np.flatnonzero(served == 1.0)  # routes to open producers
    served *= route_demand
    load = np.where(over, capacity, offer)
    # rejected demand per consumer, sum_r D_j s_r (1 - accept_i), without a route temporary
    pending = segment_dot(topo, route_demand, 1.0 - accept)
    unserved = np.zeros(n_consumers)

    # Later rounds re-offer pending demand only to routes of producers still open (the others
    # would be offered exactly 0), so these *active* routes are compacted into short arrays -- their
    # indices `active`, consumers, producers and shares -- and a round costs in proportion to the
    # routes still in play. Subsets keep route order: every sum adds the same terms in the same order.
    active: np.ndarray | None = None  # None: all routes
    act_consumer32, act_consumer = topo._consumer_index, topo.route_consumer
    act_producer32, act_producer = topo._producer_index, topo.route_producer
    act_share = demand.route_share
    rounds = 1
    while pending.sum() > stop_below and rounds < max_rounds:
        active = keep if active is None else active[keep]
        act_consumer32, act_consumer = compact_index(act_consumer32, keep)
        act_producer32, act_producer = compact_index(act_producer32, keep)
        act_share = act_share[keep]
        # pending demand is re-offered in proportion to the shares of the consumer's open routes;
        # a consumer with none left is unserved. (Branch-free: np.where is slow on mixed masks.)
        weight_total = scatter_sum(act_consumer32, act_share, n_consumers)
        stuck = weight_total <= 0
        unserved += pending * stuck
        scale = (pending * ~stuck) / (weight_total + stuck)  # 0 where stuck
        rounds += 1
        if not (scale > 0).any():  # nothing re-offered: this round trivially fits, clearing ends
            break
        offered = act_share * scale[act_consumer]
        offer = scatter_sum(act_producer32, offered, n_producers)
        # (clamped at 0: load + offer can round one ulp above capacity)
        spare = np.maximum(capacity - load, 0.0)
        over = offer > spare
        if not over.any():
            np.add.at(served, active, offered)  # (numpy >= 2: 2x faster than served[active] +=)
            load += offer
            break
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            accept = np.where(over, spare / offer, 1.0)
        accepted = accept[act_producer]
        keep = np.flatnonzero(accepted == 1.0)  # routes to producers still open
        accepted *= offered
        np.add.at(served, active, accepted)
        load = np.where(over, capacity, load + offer)
        pending = scatter_sum(act_consumer32, np.subtract(offered, accepted, out=offered),
                               n_consumers)
    else:  # pending demand below tolerance, or out of rounds
        unserved += pending
    return Clearing(
        route_served=served,
        producer_served=load,
        consumer_served=topo.segment_sum(served),
        consumer_unserved=unserved,
        rounds=rounds,
        consumer_not_bought=np.zeros(n_consumers),
        host_load=load,
    )
