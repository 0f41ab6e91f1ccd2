"""Demand v2: nested-logit shares (Berry 1994) under an isoelastic upper level.

Route ``r`` of consumer ``j`` in nest ``g`` (``lambda_g = 1 - sigma_g``)::

    s_{r|g} = exp(v_r / lambda_g) / sum_{r' in g} exp(v_r' / lambda_g)     within-nest share
    I_jg    = lambda_g log sum_{r in g} exp(v_r / lambda_g)                nest inclusive value
    IV_j    = log(exp(v0_j) + sum_g exp(I_jg))                             consumer inclusive value
    s_g     = exp(I_jg - IV_j),   s_r = s_{r|g} s_g,   s_0 = exp(v0_j - IV_j)
    X_j     = D_j exp((eta_j / alpha_j) (IV_j - IV_ref_j)),   x_r = X_j s_r

Without nests (or with ``sigma = 0``) every route is its own group and this is plain logit. Both
log-sum-exp levels shift by one of their own terms (the group's first route; the outside option,
else the consumer's first nest), so each sum is at least 1 and cannot underflow; a sum above
``_MAX_EXP_SUM`` (an exponent may have overflowed) is redone with the segment's maximum, the
textbook shift. Shares are then exactly 0 only by underflow.
"""

from __future__ import annotations

import numpy as np

from pricewar.kernel.arrays import gather_apply, scatter_sum
from pricewar.kernel.route_market import RouteMarket
from pricewar.kernel.topology import RouteTopology

_MAX_EXP_SUM = 1e250


def _segment_logsumexp(value: np.ndarray, member32: np.ndarray, member: np.ndarray,
                       first: np.ndarray, n_segments: int, extra: np.ndarray | None = None,
                       extra_finite: np.ndarray | None = None, recompute=None):
    """``exp(value - shift[member])`` and its sum per segment, shifted by each segment's first
    member, or by ``extra`` (a further term of the sum, the outside option) where finite.

    Parameters
    ----------
    value : shape (n_members,), finite; overwritten by the weights (in place)
    member32, member : segment of each member (int32 for scatter_sum, intp for gathers)
    first : shape (n_segments,), first member of each segment (``n_members`` if it has none)
    extra : shape (n_segments,), optional; ``-inf`` where absent
    extra_finite : ``np.isfinite(extra)``, if known
    recompute : callable returning ``value`` afresh, for the rare redo with the maximum shift
        (default: a copy of ``value`` is kept)

    Returns
    -------
    weight : ``exp(value - shift[member])`` (``value``'s buffer)
    total : ``sum weight (+ exp(extra - shift))`` per segment, >= 1 unless the segment is empty
    extra_weight : ``exp(extra - shift)`` (None without ``extra``)
    shift : shape (n_segments,)
    """
    if recompute is None:
        kept = value.copy()
        recompute = kept.copy
    has_member = first < value.size
    if has_member.all():
        shift = value[first]
    else:
        shift = np.zeros(n_segments)
        shift[has_member] = value[first[has_member]]
    if extra is not None:
        finite = np.isfinite(extra) if extra_finite is None else extra_finite
        shift = np.where(finite, extra, shift)
    weight = gather_apply(np.subtract, value, shift, member, out=value)
    with np.errstate(over="ignore"):
        np.exp(weight, out=weight)
    total = scatter_sum(member32, weight, n_segments)
    extra_weight = None
    if extra is not None:
        extra_weight = np.exp(extra - shift)
        total += extra_weight
    if total.max(initial=0.0) > _MAX_EXP_SUM:  # an exponent may have overflowed: max shift
        original = recompute()
        top = np.full(n_segments, -np.inf)
        starts = first[has_member]
        if starts.size:
            top[has_member] = np.maximum.reduceat(original, starts)
        if extra is not None:
            top = np.maximum(top, extra)
        shift = np.where(np.isfinite(top), top, 0.0)
        weight = gather_apply(np.subtract, original, shift, member, out=weight)
        np.exp(weight, out=weight)
        total = scatter_sum(member32, weight, n_segments)
        if extra is not None:
            extra_weight = np.exp(extra - shift)
            total += extra_weight
    return weight, total, extra_weight, shift


def _route_value(market: RouteMarket, route_price: np.ndarray) -> np.ndarray:
    """``v_r / lambda_g`` (nested) or ``v_r`` (plain), a fresh array."""
    value = np.log(route_price) if market.price_form == "log" else route_price.copy()
    if market.is_nested:
        value *= market._route_scaled_alpha
        return np.subtract(market._route_scaled_utility, value, out=value)
    value *= market.route_alpha
    return np.subtract(market.route_utility, value, out=value)


def choice_shares(market: RouteMarket, route_price: np.ndarray, with_volume: bool = True) -> dict:
    """Nested-logit (or plain-logit) shares and volumes at route prices ``P_r`` (USD/Mtok).

    Returns a dict with per route ``route_share`` (only without ``with_volume`` in a nested
    market: ``route_nest_share * nest_share`` otherwise), ``route_demand`` (Mtok/step) and, for a
    nested market, ``route_nest_share`` (``s_{r|g}``); per (consumer, nest) group ``nest_share``
    (``s_g``, nested markets); per consumer ``outside_share``, ``logsum`` (``IV_j``) and
    ``volume`` (``X_j``). A consumer with neither routes nor an outside option has
    ``IV_j = -inf`` and, by convention, outside share 1 (nothing to buy). Without
    ``with_volume`` only the shares and ``logsum`` are computed.
    """
    topo = market.topology
    n_consumers = topo.n_consumers
    value = _route_value(market, route_price)

    def recompute():
        return _route_value(market, route_price)

    nested = market.is_nested
    if nested:
        groups = topo.nests
        weight, nest_total, _, shift = _segment_logsumexp(
            value, groups.group_index32, groups.route_group, groups.group_start, groups.n_groups,
            recompute=recompute)
        log_total = np.log(nest_total)
        member_value = market._group_lambda * (shift + log_total)  # I_jg

        def recompute():
            return market._group_lambda * (shift + log_total)

        member32, member, first = (groups.group_consumer32, groups.group_consumer,
                                   groups.consumer_first_group)
    else:
        member_value = value
        member32, member, first = topo._consumer_index, topo.route_consumer, topo._first_route
    member_weight, total, outside_weight, shift = _segment_logsumexp(
        member_value, member32, member, first, n_consumers,
        extra=market.consumer_outside_utility, extra_finite=market._outside_finite,
        recompute=recompute)
    nothing = total == 0  # no route and no outside option
    with np.errstate(divide="ignore"):
        logsum = shift + np.log(total)
    inv_total = 1.0 / np.where(nothing, 1.0, total)
    outside_share = np.where(nothing, 1.0, outside_weight * inv_total)
    result = {"outside_share": outside_share, "logsum": logsum}
    member_share = gather_apply(np.multiply, member_weight, inv_total, member, out=member_weight)
    volume = consumer_volume(market, logsum) if with_volume else None
    if nested:  # s_g (per group); s_{r|g}, s_r and x_r per route
        inv_nest_total = 1.0 / nest_total
        route_group = groups.route_group
        result["nest_share"] = member_share
        result["route_nest_share"] = gather_apply(np.multiply, weight, inv_nest_total,
                                                  route_group)
        # (the route shares are left to MarketDemand.route_share, for whoever needs them)
        group_factor = member_share * inv_nest_total
        if with_volume:
            group_factor *= volume[member]
            result["route_demand"] = gather_apply(np.multiply, weight, group_factor,
                                                  route_group, out=weight)
        else:
            result["route_share"] = gather_apply(np.multiply, weight, group_factor, route_group)
    else:  # s_r and x_r per route
        result["route_share"] = member_share
        if with_volume:
            result["route_demand"] = gather_apply(np.multiply, member_share, volume,
                                                  topo.route_consumer)
    result["volume"] = volume
    return result


def consumer_volume(market: RouteMarket, logsum: np.ndarray) -> np.ndarray:
    """``X_j = D_j exp((eta_j/alpha_j)(IV_j - IV_ref_j))``, Mtok/step (``D_j`` where eta is 0;
    0 where there is nothing to buy and eta > 0)."""
    if not market.is_elastic:
        return market.consumer_demand
    exponent = market.eta / market.consumer_alpha
    with np.errstate(invalid="ignore", over="ignore"):
        change = np.where(exponent > 0, exponent * (logsum - market.logsum_ref), 0.0)
        return market.consumer_demand * np.exp(change)


def price_index(market: RouteMarket, logsum: np.ndarray) -> np.ndarray:
    """The price index ``P_j`` with the consumer's inclusive value ``IV_j``, USD/Mtok.

    Log form: ``P_j = exp(-IV_j/alpha_j)``, the CES (quality-adjusted) price index; linear form:
    ``P_j = -IV_j/alpha_j``. Either is the price of a single route of zero non-price utility that
    gives the consumer the same inclusive value.
    """
    with np.errstate(over="ignore"):
        if market.price_form == "log":
            return np.exp(-logsum / market.consumer_alpha)
        return -logsum / market.consumer_alpha


def restricted_choice(market: RouteMarket, route_price: np.ndarray, routes: np.ndarray) -> dict:
    """Nested-logit choice among a subset of routes (and the outside option), from utilities.

    Parameters
    ----------
    market : RouteMarket
    route_price : float array, shape (n_routes,), USD/Mtok (``MarketDemand.route_price``)
    routes : sorted int array, the routes still in the choice set

    Returns a dict with ``consumers`` (sorted, those owning a route in ``routes``),
    ``route_share`` (aligned with ``routes``), ``outside_share`` and ``logsum`` (``IV_R``), both
    aligned with ``consumers``. Used where the posted-price shares underflow, so that the
    restricted shares cannot be had from them.
    """
    topo = market.topology
    route_consumer = topo.route_consumer[routes]
    consumers, counts = np.unique(route_consumer, return_counts=True)
    nests = topo.nests
    sub = RouteTopology(np.concatenate([[0], np.cumsum(counts)]), topo.route_producer[routes],
                        topo.n_producers,
                        route_nest=None if nests is None else nests.route_nest[routes])
    sub_market = RouteMarket(
        sub, route_utility=market.route_utility[routes], route_price_extra=np.zeros(routes.size),
        consumer_alpha=market.consumer_alpha[consumers],
        consumer_demand=market.consumer_demand[consumers],
        consumer_outside_utility=market.consumer_outside_utility[consumers],
        price_form=market.price_form, nest_sigma=None if nests is None else market.sigma)
    shares = choice_shares(sub_market, route_price[routes], with_volume=False)
    return dict(consumers=consumers, route_share=shares["route_share"],
                outside_share=shares["outside_share"], logsum=shares["logsum"])
