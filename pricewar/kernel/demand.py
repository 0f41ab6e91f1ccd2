"""Logit shares and demand on every route, by segment-wise log-sum-exp."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pricewar.kernel.arrays import gather_apply
from pricewar.kernel.nests import choice_shares, price_index
from pricewar.kernel.route_market import RouteMarket
from pricewar.kernel.topology import RouteTopology


# --------------------------------------------------------------------------------------------
# shares and demand
# --------------------------------------------------------------------------------------------
def logit_shares(topology: RouteTopology, route_value: np.ndarray,
                 outside_value: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logit choice probabilities with an outside option, by segment-wise log-sum-exp.

    Parameters
    ----------
    topology : RouteTopology
    route_value : float array, shape (n_routes,)
        Route utilities ``v_r`` (utils); any finite value, ``-inf`` for an infeasible route.
    outside_value : float array, shape (n_consumers,)
        Outside-option utilities ``v0_j`` (finite).

    Returns
    -------
    route_share : shape (n_routes,), in [0, 1]
    outside_share : shape (n_consumers,), in [0, 1]
    logsum : shape (n_consumers,), ``log(exp(v0_j) + sum_r exp(v_r))``

    Never overflows: each consumer's values are shifted by their maximum before ``exp``.
    """
    top = np.maximum(topology.segment_max(route_value), outside_value)
    expv = np.exp(route_value - top[topology.route_consumer])
    exp0 = np.exp(outside_value - top)
    total = topology.segment_sum(expv) + exp0  # >= 1: the maximum term is exp(0)
    inv_total = 1.0 / total
    route_share = expv * inv_total[topology.route_consumer]
    return route_share, exp0 * inv_total, top + np.log(total)


@dataclass(frozen=True, eq=False)
class MarketDemand:
    """Unconstrained (pre-clearing) demand at given producer prices.

    Attributes
    ----------
    route_price : USD/Mtok per route, ``P_r``
    route_share : logit share per route (in nested markets computed on first access, as
        ``route_nest_share * nest_share``)
    route_demand : Mtok/step per route, ``D_j s_r`` (``X_j s_r``)
    producer_demand : Mtok/step per producer, ``Q_i``
    consumer_outside : Mtok/step per consumer taking the outside option
    consumer_logsum : utils per consumer, the inclusive value ``IV_j`` (outside option included)
    consumer_surplus : USD/step per consumer (logsum / alpha; for the log form scaled by the
        consumer's share-weighted mean route price, since one util is worth ``P/alpha`` USD there;
        in demand-v2 markets ``X_j IV_j / alpha_j``, scaled by the price index ``P_j`` for the log
        form)
    consumer_volume : Mtok/step per consumer, ``X_j`` (``D_j`` without an upper level): the
        demand at posted prices, outside option included
    consumer_outside_share : outside-option share ``s0_j`` per consumer
    consumer_price_index : USD/Mtok per consumer, ``P_j = exp(-IV_j/alpha_j)`` (log form) or
        ``-IV_j/alpha_j`` (linear form)
    route_nest_share : within-nest share ``s_{r|g}`` per route (nested markets only, else None)
    nest_share : share ``s_g`` of each (consumer, nest) group of ``topology.nests`` (nested
        markets only, else None)
    """

    route_price: np.ndarray
    _route_share: np.ndarray | None
    route_demand: np.ndarray
    producer_demand: np.ndarray
    consumer_outside: np.ndarray
    consumer_logsum: np.ndarray
    consumer_surplus: np.ndarray
    consumer_volume: np.ndarray | None = None
    consumer_outside_share: np.ndarray | None = None
    consumer_price_index: np.ndarray | None = None
    route_nest_share: np.ndarray | None = None
    nest_share: np.ndarray | None = None
    _route_group: np.ndarray | None = None

    @property
    def route_share(self) -> np.ndarray:
        """Share ``s_r`` of each route, in [0, 1]."""
        if self._route_share is None:
            share = gather_apply(np.multiply, self.route_nest_share, self.nest_share,
                                 self._route_group)
            object.__setattr__(self, "_route_share", share)
        return self._route_share


# market_demand shifts each consumer's utilities by its outside option rather than by their
# maximum, which skips the segmented maximum (np.maximum.reduceat, the slowest pass of
# logit_shares). The denominator 1 + sum_r exp(v_r - v0_j) >= 1 cannot underflow; while it stays
# below 1e250 nothing overflowed and the outside share 1/(1 + sum) is a normal float, so the shares
# are the max-shifted ones up to rounding. Markets beyond the bound are redone with logit_shares.
_MAX_EXP_SUM = 1e250


# ... except for consumers who almost surely buy (outside share below 1e-12): there 1 - S_ij, which
# the markup divides by, lives in the last bits of the dominant share. logit_shares computes that
# share as 1/total with a single rounding (the dominant route's weight is exactly exp(0) = 1), as
# the reference does, so that both agree on whether 1 - S_ij rounds to 0; those consumers are
# recomputed with it.
_NEAR_CERTAIN = 1e-12


def _consumer_routes(topology: RouteTopology, consumers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Route indices of the given (sorted) consumers, and the CSR offsets of those routes."""
    ptr = topology.consumer_ptr
    counts = ptr[consumers + 1] - ptr[consumers]
    sub_ptr = np.concatenate([[0], np.cumsum(counts)])
    routes = np.arange(sub_ptr[-1]) + np.repeat(ptr[consumers] - sub_ptr[:-1], counts)
    return routes, sub_ptr


def market_demand(market: RouteMarket, producer_price) -> MarketDemand:
    """Logit (nested logit, with an upper level) demand on every route at producer prices p.

    Parameters
    ----------
    market : RouteMarket
    producer_price : float array, shape (n_producers,), USD/Mtok

    Returns a :class:`MarketDemand`; quantities in Mtok/step. Markets whose demand-v2 features are
    all neutral (no nest with ``sigma > 0``, ``eta = 0``, a finite outside option) take the v1
    plain-logit path.
    """
    p = market.check_prices(producer_price)
    if not market.is_plain_demand:
        return _general_demand(market, p)
    topo = market.topology
    route_price = p[topo.route_producer]
    route_price += market.route_price_extra
    # One route buffer holds, in turn, alpha_j phi(P_r), v_r - v0_j, exp(v_r - v0_j) and s_r.
    if market.price_form == "log":
        share = np.log(route_price)
        share *= market.route_alpha
    else:
        share = market.route_alpha * route_price
    np.subtract(market._route_relative_utility, share, out=share)
    with np.errstate(over="ignore"):
        np.exp(share, out=share)
    inside = topo.segment_sum(share)  # sum_r exp(v_r - v0_j)
    route_demand = np.empty_like(share)  # first used as scratch, to save allocating temporaries
    if inside.max(initial=0.0) <= _MAX_EXP_SUM:
        outside_share = 1.0 / (1.0 + inside)
        logsum = market.consumer_outside_utility + np.log1p(inside)
        share *= np.take(outside_share, topo.route_consumer, out=route_demand)
        inside *= outside_share  # inside share sum_r s_r = 1 - s0_j, without the cancellation
        certain = np.flatnonzero(outside_share < _NEAR_CERTAIN)
        if certain.size:  # see _NEAR_CERTAIN
            routes, sub_ptr = _consumer_routes(topo, certain)
            sub = RouteTopology(sub_ptr, topo.route_producer[routes], topo.n_producers)
            price = route_price[routes]
            route_value = market.route_utility[routes] - market.route_alpha[routes] * (
                np.log(price) if market.price_form == "log" else price)
            share[routes], outside_share[certain], logsum[certain] = logit_shares(
                sub, route_value, market.consumer_outside_utility[certain])
            inside[certain] = sub.segment_sum(share[routes])
    else:
        route_value = market.route_utility - market.route_alpha * (
            np.log(route_price) if market.price_form == "log" else route_price)
        share, outside_share, logsum = logit_shares(topo, route_value,
                                                    market.consumer_outside_utility)
        inside = topo.segment_sum(share)
    demand = market.consumer_demand
    util_to_usd = 1.0 / market.consumer_alpha
    if market.price_form == "log":
        # one util is worth P/alpha USD: scale by the consumer's share-weighted mean route price
        priced = topo.segment_sum(np.multiply(share, route_price, out=route_demand))
        util_to_usd *= priced / (inside + (inside <= 0))  # (0 where the inside share is 0)
    np.multiply(share, market._route_potential_demand, out=route_demand)
    return MarketDemand(
        route_price=route_price,
        _route_share=share,
        route_demand=route_demand,
        producer_demand=topo.producer_sum(route_demand),
        consumer_outside=demand * outside_share,
        consumer_logsum=logsum,
        consumer_surplus=demand * util_to_usd * logsum,
        consumer_volume=demand,
        consumer_outside_share=outside_share,
        consumer_price_index=price_index(market, logsum),
    )


def _general_demand(market: RouteMarket, p: np.ndarray) -> MarketDemand:
    """Demand v2 (see :mod:`~pricewar.kernel.nests`): nested shares, volume ``X_j``."""
    topo = market.topology
    route_price = p[topo.route_producer]
    route_price += market.route_price_extra
    shares = choice_shares(market, route_price)
    logsum, volume = shares["logsum"], shares["volume"]
    index = price_index(market, logsum)
    # one util is worth 1/alpha USD (linear form), P_j/alpha at the price index (log form)
    util_to_usd = (index if market.price_form == "log" else 1.0) / market.consumer_alpha
    with np.errstate(invalid="ignore"):
        surplus = volume * util_to_usd * logsum
    surplus[~np.isfinite(logsum)] = 0.0  # nothing to buy
    route_demand = shares["route_demand"]
    return MarketDemand(
        route_price=route_price,
        _route_share=shares.get("route_share"),
        route_demand=route_demand,
        producer_demand=topo.producer_sum(route_demand),
        consumer_outside=volume * shares["outside_share"],
        consumer_logsum=logsum,
        consumer_surplus=surplus,
        consumer_volume=volume,
        consumer_outside_share=shares["outside_share"],
        consumer_price_index=index,
        route_nest_share=shares.get("route_nest_share"),
        nest_share=shares.get("nest_share"),
        _route_group=topo.nests.route_group if topo.nests is not None else None,
    )
