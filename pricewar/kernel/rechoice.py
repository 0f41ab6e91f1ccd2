"""Capacity clearing by host, with spill-over or re-choice rationing (demand v2).

Hosts share one capacity among their producers: host ``h`` carries the load
``sum_{i on h} load_i Q_i <= K_h`` (load in e.g. GPU-seconds per Mtok). Each round, a host offered
more than its spare capacity accepts that fraction of every route's offer to its producers and
closes. The demand it refuses chooses again among the same consumer's routes to hosts still open:

* ``"spill"`` (v1): in proportion to the routes' shares; it never returns to the outside option.
* ``"rechoice"``: with the probabilities the nested demand system gives for the restricted choice
  set ``R`` (open routes and the outside option). From the posted-price shares, with
  ``o_g = sum_{r in g open} s_{r|g}`` the open part of nest ``g``,
  ``exp(IV_R - IV) = Z_j = s0_j + sum_g s_g o_g^(1 - sigma_g)``, route ``r`` is chosen with
  probability ``s_r o_g^-sigma_g / Z_j`` and the outside option with ``s0_j / Z_j``. The
  restricted price index is higher, so the re-chosen volume shrinks by
  ``exp((eta_j/alpha_j)(IV_R - IV_prev)) = (Z_R / Z_prev)^(eta_j/alpha_j)``; the rest, and what
  chooses the outside option, is *not bought*.

A consumer with no open route left is *unserved* (a capacity shortfall). Per consumer
``served + unserved + not_bought + outside = X_j``, the demand at posted prices.
"""

from __future__ import annotations

import numpy as np

from pricewar.kernel.arrays import compact_index, scatter_sum
from pricewar.kernel.topology import RouteMarket, segment_dot


def clear_by_host(market: RouteMarket, demand, max_rounds: int, rel_tol: float) -> dict:
    """Clear ``demand`` (a MarketDemand of ``market``) against host capacities.

    Returns a dict of the :class:`~pricewar.kernel.clearing.Clearing` fields.
    """
    topo = market.topology
    n_consumers, n_producers, n_hosts = topo.n_consumers, topo.n_producers, topo.n_hosts
    capacity = market.capacity_of_host
    load_per_mtok = market.load_per_mtok
    host = None if topo.hosts is None else topo.hosts.producer_host

    def per_host(producer_values: np.ndarray) -> np.ndarray:
        loads = producer_values * load_per_mtok
        return loads if host is None else np.bincount(host, loads, minlength=n_hosts)

    def to_producers(host_values: np.ndarray) -> np.ndarray:
        return host_values if host is None else host_values[host]

    volume = demand.consumer_volume
    stop_below = rel_tol * max(float(volume.sum()), 1e-300)
    route_demand = demand.route_demand
    offer = demand.producer_demand
    host_offer = per_host(offer)
    over = host_offer > capacity
    not_bought = np.zeros(n_consumers)
    if not over.any():
        return dict(route_served=route_demand.copy(), producer_served=offer.copy(),
                    consumer_served=topo.segment_sum(route_demand),
                    consumer_unserved=np.zeros(n_consumers), rounds=1,
                    consumer_not_bought=not_bought, host_load=host_offer)
    is_open = (capacity > 0) & ~over
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        accept = to_producers(np.where(over, capacity / host_offer, is_open.astype(np.float64)))
    served = accept[topo.route_producer]
    keep = np.flatnonzero(served == 1.0)  # routes to open hosts (see clear_capacity)
    served *= route_demand
    producer_served = accept * offer
    host_load = np.where(over, capacity, host_offer)
    pending = segment_dot(topo, route_demand, 1.0 - accept)
    unserved = np.zeros(n_consumers)

    rechoice = market.rationing == "rechoice"
    nested = rechoice and market.is_nested
    elastic = rechoice and market.is_elastic
    if rechoice:
        outside_share = demand.consumer_outside_share
        exponent = market.eta / market.consumer_alpha
        previous_z = np.ones(n_consumers)  # exp(IV_R - IV) of the full choice set
    if nested:
        groups = topo.nests
        sigma = market.sigma[groups.group_nest]
        act_group32, act_group = groups.group_index32, groups.route_group
        act_nest_share = demand.route_nest_share

    active: np.ndarray | None = None  # None: all routes; later the open routes, compacted
    act_consumer32, act_consumer = topo._consumer_index, topo.route_consumer
    act_producer32, act_producer = topo._producer_index, topo.route_producer
    act_share = demand.route_share
    rounds = 1
    while pending.sum() > stop_below and rounds < max_rounds:
        active = keep if active is None else active[keep]
        act_consumer32, act_consumer = compact_index(act_consumer32, keep)
        act_producer32, act_producer = compact_index(act_producer32, keep)
        act_share = act_share[keep]
        weight = act_share
        if nested:
            act_group32, act_group = compact_index(act_group32, keep)
            act_nest_share = act_nest_share[keep]
            open_part = scatter_sum(act_group32, act_nest_share, groups.n_groups)  # o_g
            with np.errstate(divide="ignore"):
                log_open = np.log(open_part)
            log_open[open_part <= 0] = 0.0  # (such groups have no route with a positive share)
            inverse_pow = np.exp(-sigma * log_open)  # o_g^-sigma
            weight = act_share * inverse_pow[act_group]
        weight_total = scatter_sum(act_consumer32, weight, n_consumers)
        stuck = weight_total <= 0  # no open route left: unserved
        unserved += pending * stuck
        pending = pending * ~stuck
        if rechoice:
            if nested:  # Z = s0 + sum_g s_g o_g^(1-sigma), o^(1-sigma) = o * o^-sigma
                z = outside_share + scatter_sum(groups.group_consumer32,
                                                demand.nest_share * open_part * inverse_pow,
                                                n_consumers)
            else:
                z = outside_share + weight_total
            z = z + stuck  # (stuck consumers have nothing pending)
            rechosen = pending
            if elastic:
                with np.errstate(divide="ignore", invalid="ignore"):
                    rechosen = pending * np.exp(exponent * np.log(z / previous_z))
                rechosen = np.where(stuck, 0.0, rechosen)
                previous_z = np.where(stuck, previous_z, z)
            scale = rechosen / z
            not_bought += pending - scale * weight_total
        else:
            scale = pending / (weight_total + stuck)
        rounds += 1
        if not (scale > 0).any():  # nothing re-offered: clearing ends
            pending = np.zeros(n_consumers)
            break
        offered = weight * scale[act_consumer]
        offer = scatter_sum(act_producer32, offered, n_producers)
        host_offer = per_host(offer)
        spare = np.maximum(capacity - host_load, 0.0)
        over = host_offer > spare
        if not over.any():
            np.add.at(served, active, offered)
            producer_served += offer
            host_load += host_offer
            pending = np.zeros(n_consumers)
            break
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            accept = to_producers(np.where(over, spare / host_offer, 1.0))
        accepted = accept[act_producer]
        keep = np.flatnonzero(accepted == 1.0)
        accepted *= offered
        np.add.at(served, active, accepted)
        producer_served += accept * offer
        host_load = np.where(over, capacity, host_load + host_offer)
        pending = scatter_sum(act_consumer32, np.subtract(offered, accepted, out=offered),
                              n_consumers)
    unserved += pending  # below tolerance, or out of rounds
    return dict(route_served=served, producer_served=producer_served,
                consumer_served=topo.segment_sum(served), consumer_unserved=unserved,
                rounds=rounds, consumer_not_bought=not_bought, host_load=host_load)
