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

from pricewar.kernel.arrays import compact_index, gather_apply, scatter_sum
from pricewar.kernel.nests import restricted_choice
from pricewar.kernel.route_market import RouteMarket
from pricewar.kernel.topology import segment_dot


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
    if rechoice:
        exponent = market.eta / market.consumer_alpha if market.is_elastic else None
        previous_log_z = np.zeros(n_consumers)  # IV_R - IV of the full choice set
    active: np.ndarray | None = None  # None: all routes; later the open routes, compacted
    act = _ActiveRoutes(market, demand)
    rounds = 1
    while pending.sum() > stop_below and rounds < max_rounds:
        active = keep if active is None else active[keep]
        act.compact(keep)
        if rechoice:
            weight, z, stuck, exact = _restricted_weights(market, demand, act, active, pending)
            unserved += pending * stuck
            pending = pending * ~stuck
            z_safe = np.where(z > 0, z, 1.0)  # (z = 0 only for stuck or recomputed consumers)
            outside_prob = demand.consumer_outside_share / z_safe
            if exact is not None:
                outside_prob[exact["consumers"]] = exact["outside_share"]
            rechosen = pending
            if exponent is not None:  # the volume follows the restricted price index
                rechosen = pending.copy()
                movers = np.flatnonzero(pending > 0)
                log_z = np.log(z_safe)
                if exact is not None:
                    log_z[exact["consumers"]] = (exact["logsum"]
                                                 - demand.consumer_logsum[exact["consumers"]])
                # The choice set only shrinks, so its index IV_R never rises: log_z - previous
                # <= 0 and rechosen <= pending (a difference of two large inclusive values, or
                # z rounded up, may say otherwise by a few ulps)
                log_z = np.minimum(log_z[movers], previous_log_z[movers])
                rechosen[movers] *= np.exp(exponent[movers] * (log_z - previous_log_z[movers]))
                previous_log_z[movers] = log_z
            not_bought += pending - rechosen * (1.0 - outside_prob)
            with np.errstate(over="ignore"):  # (inf only for consumers recomputed: overwritten)
                scale = rechosen / z_safe
        else:
            weight = act.share
            weight_total = scatter_sum(act.consumer32, weight, n_consumers)
            stuck = weight_total <= 0  # no open route with a positive share: unserved
            unserved += pending * stuck
            scale = (pending * ~stuck) / (weight_total + stuck)
            exact = None
        rounds += 1
        if not (scale > 0).any():  # nothing re-offered: clearing ends
            pending = np.zeros(n_consumers)
            break
        offered = weight * scale[act.consumer]
        if exact is not None:  # consumers whose restricted shares are recomputed from utilities
            offered[exact["positions"]] = exact["route_share"] * rechosen[exact["route_consumer"]]
        offer = scatter_sum(act.producer32, offered, n_producers)
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
        accepted = accept[act.producer]
        keep = np.flatnonzero(accepted == 1.0)
        accepted *= offered
        np.add.at(served, active, accepted)
        producer_served += accept * offer
        host_load = np.where(over, capacity, host_load + host_offer)
        pending = scatter_sum(act.consumer32, np.subtract(offered, accepted, out=offered),
                              n_consumers)
    unserved += pending  # below tolerance, or out of rounds
    return dict(route_served=served, producer_served=producer_served,
                consumer_served=topo.segment_sum(served), consumer_unserved=unserved,
                rounds=rounds, consumer_not_bought=not_bought, host_load=host_load)


class _ActiveRoutes:
    """The routes still in play (to open hosts), compacted round by round: indices and shares.

    Subsets keep route order, so every sum adds the same terms in the same order.
    """

    def __init__(self, market: RouteMarket, demand):
        topo = market.topology
        self.consumer32, self.consumer = topo._consumer_index, topo.route_consumer
        self.producer32, self.producer = topo._producer_index, topo.route_producer
        self.rechoice = market.rationing == "rechoice"
        self.nested = self.rechoice and market.is_nested
        if self.nested:  # (route shares made on the first compaction, from the nest shares)
            self.share = None
            self.group32, self.group = topo.nests.group_index32, topo.nests.route_group
            self.nest_share = demand.route_nest_share
            self.group_share = demand.nest_share
        else:
            self.share = demand.route_share
        self.compacted = False

    def compact(self, keep: np.ndarray) -> None:
        self.consumer32, self.consumer = compact_index(self.consumer32, keep)
        self.producer32, self.producer = compact_index(self.producer32, keep)
        if self.nested:
            self.group32, self.group = compact_index(self.group32, keep)
            self.nest_share = self.nest_share[keep]
            if self.share is None:
                self.share = self.nest_share * self.group_share[self.group]
            else:
                self.share = self.share[keep]
                self.floored = self.floored[keep]
        else:
            self.share = self.share[keep]
        if self.rechoice and not self.compacted:
            # Re-choice counts an open route even where its share underflowed: a floor keeps
            # every open route's share positive (and its consumer recomputed, see _TINY). A
            # floored share has no digits: in a nested market its consumer is recomputed too
            # (``floored``, see _restricted_weights).
            if self.nested:
                self.floored = self.share < _FLOOR
            np.maximum(self.share, _FLOOR, out=self.share)
            if self.nested:
                np.maximum(self.nest_share, _FLOOR, out=self.nest_share)
        self.compacted = True


# Below this, a restricted share computed from posted-price shares has lost its digits (or
# underflowed): such consumers are recomputed from utilities. Open routes' shares are floored at
# _FLOOR, so that a consumer or nest with an open route has a positive open share.
_TINY = 1e-200
_FLOOR = 1e-300


def _restricted_weights(market: RouteMarket, demand, act: _ActiveRoutes, active: np.ndarray,
                        pending: np.ndarray):
    """Re-choice weights on the open routes, from the posted-price shares.

    Returns ``(weight, z, stuck, exact)``: route ``r`` is re-chosen with probability
    ``weight_r / z_j`` and the outside option with ``s0_j / z_j``, ``z_j = exp(IV_R - IV)``;
    ``stuck`` marks consumers without an open route. ``exact`` (or None) holds the consumers
    whose open routes all have shares below ``_TINY`` within their nest or consumer, or (nested
    markets) who have an open route whose posted share was floored: there the restricted shares
    are recomputed from utilities (:func:`restricted_choice`), with ``positions`` in the active
    arrays and ``route_consumer`` for them. Elsewhere the weights of a consumer's open routes sum
    to ``z_j - s0_j`` up to rounding, so the re-chosen volume is offered exactly once.
    """
    topo = market.topology
    n_consumers = topo.n_consumers
    if act.nested:
        groups = topo.nests
        open_part = scatter_sum(act.group32, act.nest_share, groups.n_groups)  # o_g (0: closed)
        # o_g^-sigma; a closed nest gets a finite value it never uses
        inverse_pow = np.log(np.maximum(open_part, _FLOOR))
        inverse_pow *= market._group_minus_sigma
        np.exp(inverse_pow, out=inverse_pow)
        weight = gather_apply(np.multiply, act.share, inverse_pow, act.group)
        # z = s0 + sum_g s_g o_g^(1 - sigma), with o^(1 - sigma) = o * o^-sigma
        inverse_pow *= open_part
        inverse_pow *= demand.nest_share
        inside = scatter_sum(groups.group_consumer32, inverse_pow, n_consumers)
        stuck = scatter_sum(groups.group_consumer32, open_part, n_consumers) == 0
        weak = np.zeros(n_consumers, dtype=bool)
        weak[groups.group_consumer[(open_part > 0) & (open_part < _TINY)]] = True
        # A floored route share (s_r = s_{r|g} s_g below _FLOOR, or underflowed) is multiplied
        # by o_g^-sigma here but stands for less in z, which sums s_g o_g^(1 - sigma): where
        # o_g^-sigma is large its weight can outweigh z many times over (a 500x alpha served
        # 3.8e10 x the demand). Such consumers are recomputed from utilities.
        weak[act.consumer[act.floored]] = True
    else:
        weight = act.share
        inside = scatter_sum(act.consumer32, weight, n_consumers)
        stuck = inside == 0
        weak = False
    z = demand.consumer_outside_share + inside
    redo = ~stuck & (pending > 0) & ((z < _TINY) | weak)
    exact = None
    if redo.any():
        positions = np.flatnonzero(redo[act.consumer])
        exact = restricted_choice(market, demand.route_price, active[positions])
        exact["positions"] = positions
        exact["route_consumer"] = act.consumer[positions]
    return weight, z, stuck, exact
