"""Demand-v2 price derivatives and first-order conditions: nests, the upper level, firms.

For the pair (consumer ``j``, producer ``a``) with ``A_aj = sum_{r in R_aj} s_r phi'(P_r)``,
pair share ``S_aj``, within-nest share ``S_{a|g,j} = S_aj / s_g`` and ``lambda_g = 1 - sigma_g``
(from ``d log x_r / d v_k = 1[r=k]/lambda_g - (sigma_g/lambda_g) s_{k|g} 1[same nest]
- (1 - eta_j/alpha_j) s_k`` and ``d v_k / d p_a = -alpha_j phi'(P_k)`` for ``k`` in ``R_aj``)::

    dQ_aj/dp_a = -X_j alpha_j A_aj [(1 - sigma_g S_{a|g,j}) / lambda_g - (1 - eta_j/alpha_j) S_aj]
    dQ_bj/dp_a =  Q_bj A_aj (alpha_j - eta_j)          (b in another nest than a)

With ``sigma = eta = 0`` the first is v1's ``-D_j alpha_j A_aj (1 - S_aj)``. Summed over consumers,
``-dQ_a/dp_a = Lambda_a - Gamma_a`` with ``Lambda_a = sum_j alpha_j X_j A_aj (1 - sigma_g
S_{a|g,j})/lambda_g`` and ``Gamma_a = sum_j (alpha_j - eta_j) X_j A_aj S_aj``.

A firm owning several products (in different nests for every consumer) sets each price by the
multi-product first-order condition (Verboven 1996 for nested logit)::

    Q_a + m_a dQ_a/dp_a + sum_{b in F(a), b != a} m_b dQ_b/dp_a = 0,   m = p - c

With ``T_Fj = sum_{b in F} m_b Q_bj`` the firm's margin-weighted volume at consumer ``j``, the
cross terms add ``Phi_a - m_a Gamma_a`` where ``Phi_a = sum_j (alpha_j - eta_j) A_aj T_Fj``
includes the own product. So the condition reads ``Q_a - m_a Lambda_a + Phi_a = 0`` and
``Phi_a = m_a Gamma_a`` for a single-product firm: the Morrow-Skerlos zeta map
``m <- (Q + Phi(m)) / Lambda`` carries over, cannibalisation included.
"""

from __future__ import annotations

import numpy as np

from pricewar.kernel.arrays import scatter_sum
from pricewar.kernel.route_market import RouteMarket


def slope_sums(market: RouteMarket, demand, names=("slope",), markup=None) -> dict:
    """Per-producer sums of the first-order conditions' terms, by blocks of whole consumers.

    ``names`` picks among ``"slope"`` (``-dQ_a/dp_a = Lambda_a - Gamma_a``, summed as one term so
    nothing cancels), ``"lam"`` (``Lambda_a``), ``"gam"`` (``Gamma_a``) and ``"curve"``
    (``C_a = sum_j alpha_j^2 X_j sum_{r in R_aj} s_r phi'(P_r)^2 sigma_g S_{a|g,j}
    (1 - S_{a|g,j}) / lambda_g^2``, the nest's part of ``-d^2 Q_a/dp_a^2``, see
    :func:`zeta_map_v2`; 0 without nests); units Mtok/step per USD/Mtok (``curve``: per
    (USD/Mtok)^2). Route terms are ``t_r = alpha_j x_r phi'(P_r) = alpha_j X_j s_r phi'(P_r)``
    times a factor of the pair shares ``S_aj`` and ``S_{a|g,j}`` (a pair of several routes has
    them summed over its routes).

    With ``markup`` (``p - c`` per producer, USD/Mtok) and multi-product firms, also ``"phi"``
    (``Phi_a``, own product included) and ``"others"`` (``Phi_a - m_a Gamma_a``, the siblings'
    cannibalisation) for their products, 0 for the others. A block holds whole consumers, so the
    firm's margin-weighted volume ``T_Fj`` is complete within it.
    """
    topo = market.topology
    n_producers = topo.n_producers
    price, volume = demand.route_price, demand.route_demand
    log_form, nested, elastic = market.price_form == "log", market.is_nested, market.is_elastic
    # (nested: route shares from within-nest and nest shares, block by block)
    share = None if nested else demand.route_share
    route_group = topo.nests.route_group if nested else None
    firms = topo.firms if markup is not None else None
    wanted = set(names)
    if firms is not None:  # "phi" and "others" only as asked (both if neither is named)
        wanted |= ({"phi", "others"} & wanted) or {"phi", "others"}
    sums = {name: np.zeros(n_producers) for name in sorted(wanted)}
    curving = "curve" in wanted and nested
    route_alpha = market.route_alpha
    keep = market._route_eta_keep if elastic else None
    within = demand.route_nest_share if nested else None
    inv_lambda = market._route_inv_lambda if nested else None
    sigma_over_lambda = market._route_sigma_over_lambda if nested else None
    cross_weight = market._firm_route_alpha_minus_eta if firms is not None else None
    dup = topo._dup_routes
    if dup is not None:  # pair sums on the routes of multi-route pairs
        dup_route_share = (within[dup] * demand.nest_share[route_group[dup]] if nested
                           else share[dup])
        dup_share = np.bincount(topo._dup_pair, dup_route_share)[topo._dup_pair]
        dup_within = (np.bincount(topo._dup_pair, within[dup])[topo._dup_pair] if nested
                      else None)
    bounds = topo.block_bounds
    size_max = int(np.diff(bounds).max(initial=1))
    t_buf, f_buf, g_buf, s_buf, w_buf, r_buf = (np.empty(size_max) for _ in range(6))
    for block, (start, stop) in enumerate(zip(bounds[:-1].tolist(), bounds[1:].tolist(),
                                              strict=True)):
        size = stop - start
        t, f, g = t_buf[:size], f_buf[:size], g_buf[:size]
        producers = topo._producer_index[start:stop]
        if nested:
            route_share = np.multiply(within[start:stop],
                                      demand.nest_share[route_group[start:stop]], out=r_buf[:size])
        else:
            route_share = share[start:stop]
        pair_share = route_share
        pair_within = within[start:stop] if nested else None
        if dup is not None:
            lo, hi = np.searchsorted(dup, (start, stop))
            if hi > lo:
                pair_share = s_buf[:size]
                pair_share[:] = route_share
                pair_share[dup[lo:hi] - start] = dup_share[lo:hi]
                if nested:
                    pair_within = w_buf[:size]
                    pair_within[:] = within[start:stop]
                    pair_within[dup[lo:hi] - start] = dup_within[lo:hi]
        np.multiply(volume[start:stop], route_alpha[start:stop], out=t)  # t = alpha x phi'
        if log_form:
            t /= price[start:stop]
        if elastic:
            np.multiply(pair_share, keep[start:stop], out=g)  # (1 - eta/alpha) S
        else:
            g[:] = pair_share
        if nested:  # own = (1 - sigma S_{|g}) / lambda = 1/lambda - (sigma/lambda) S_{|g}
            lam_r = inv_lambda[start:stop]
            np.multiply(sigma_over_lambda[start:stop], pair_within, out=f)
            np.subtract(lam_r, f, out=f)
            if "lam" in sums:
                sums["lam"] += scatter_sum(producers, t * f, n_producers)
            if curving:  # t alpha phi' (sigma/lambda^2) S_{|g} (1 - S_{|g})
                curve = sigma_over_lambda[start:stop] * lam_r
                curve *= pair_within
                curve *= 1.0 - pair_within
                curve *= route_alpha[start:stop]
                if log_form:
                    curve /= price[start:stop]
                curve *= t
                sums["curve"] += scatter_sum(producers, curve, n_producers)
            if "slope" in sums:
                f -= g
        else:
            if "lam" in sums:
                sums["lam"] += scatter_sum(producers, t, n_producers)
            if "slope" in sums:
                np.subtract(1.0, g, out=f)
        g *= t  # the Gamma term of each route
        if "gam" in sums:
            sums["gam"] += scatter_sum(producers, g, n_producers)
        if "slope" in sums:
            f *= t
            sums["slope"] += scatter_sum(producers, f, n_producers)
        if firms is not None:
            lo, hi, n_groups = firms.blocks[block]
            if hi > lo:
                _firm_block(firms, lo, hi, n_groups, start, stop, demand, route_share, g,
                            markup, cross_weight, log_form, sums)
    return sums


def _firm_block(firms, lo, hi, n_groups, start, stop, demand, route_share, gamma_term, markup,
                cross_weight, log_form, sums) -> None:
    """Add one block's ``Phi_a`` and ``Phi_a - m_a Gamma_a`` of multi-product firms' products.

    ``Phi_a = sum_j (alpha_j - eta_j) A_aj T_Fj`` with ``T_Fj = sum_{b in F} m_b Q_bj``;
    ``route_share`` and ``gamma_term`` hold the block's routes' shares and terms of ``Gamma``.
    """
    n_producers = markup.size
    offset, group = firms.route_offset[lo:hi], firms.route_group[lo:hi]
    margin = markup[firms.route_producer[lo:hi]]
    margin_volume = demand.route_demand[start:stop][offset] * margin
    firm_volume = scatter_sum(firms.route_group32[lo:hi], margin_volume, n_groups)  # T_Fj
    cross = route_share[offset]  # (alpha - eta) s phi' T_Fj
    if log_form:
        cross /= demand.route_price[start:stop][offset]
    cross *= cross_weight[lo:hi]
    cross *= firm_volume[group]
    producers = firms.route_producer32[lo:hi]
    if "phi" in sums:
        sums["phi"] += scatter_sum(producers, cross, n_producers)
    if "others" in sums:
        cross -= margin * gamma_term[offset]
        sums["others"] += scatter_sum(producers, cross, n_producers)


def slope_terms(market: RouteMarket, demand) -> tuple[np.ndarray, np.ndarray]:
    """``(Lambda_a, Gamma_a)`` per producer (see the module docstring and :func:`slope_sums`)."""
    sums = slope_sums(market, demand, ("lam", "gam"))
    return sums["lam"], sums["gam"]


def vanishing_share_markup(market: RouteMarket, demand) -> np.ndarray:
    """Markup ``Q/|dQ/dp|`` in the limit of vanishing shares, per producer: the mean over its
    routes of ``lambda_g / (alpha_j phi'(P_r) (1 - sigma_g s_{r|g}))``."""
    topo = market.topology
    inv_slope = 1.0 / market.route_alpha
    if market.price_form == "log":
        inv_slope = inv_slope * demand.route_price
    if market.is_nested:
        inv_lambda = market._route_inv_lambda
        inv_slope = inv_slope / (inv_lambda - (inv_lambda - 1.0) * demand.route_nest_share)
    with np.errstate(divide="ignore", invalid="ignore"):
        return topo.producer_sum(inv_slope) / topo._producer_route_count


def foc_terms(market: RouteMarket, demand, price: np.ndarray, cost: np.ndarray,
              names=("slope", "lam", "gam")) -> dict:
    """The pieces of every producer's first-order condition at ``price``.

    Returns a dict with the :func:`slope_sums` in ``names``, ``quantity`` (Q), ``others`` (the
    cannibalisation term ``Phi_a - m_a Gamma_a``, 0 for single-product firms),
    ``zeta_numerator`` (``Q + Phi``; with ``"gam"``) and, with ``"curve"``, ``extra``:
    ``max(m, 0) C_a``.
    """
    markup = price - cost
    firms = market.topology.firms
    asked = tuple(names) + (("phi",) if "gam" in names else ()) + (
        ("others",) if "slope" in names else ())
    terms = slope_sums(market, demand, asked, markup)
    quantity = demand.producer_demand
    terms["quantity"] = quantity
    if "others" not in terms:
        terms["others"] = np.zeros(quantity.size)
    if "gam" in terms:
        own = terms["gam"] * markup
        terms["zeta_numerator"] = quantity + (own if firms is None else np.where(
            firms.multi_producer, terms["phi"], own))
    if "curve" in names:
        terms["extra"] = np.maximum(markup, 0.0) * terms["curve"]
    return terms


def _with_limit(market, demand, markup, denominator):
    """``markup`` where ``denominator > 0``, else the vanishing-share limit."""
    vanished = ~(denominator > 0)
    if (vanished & (market.topology._producer_route_count > 0)).any():
        return np.where(vanished, vanishing_share_markup(market, demand), markup)
    return markup


def best_response_v2(market: RouteMarket, demand, price: np.ndarray,
                     cost: np.ndarray) -> np.ndarray:
    """``p_a <- c_a + (Q_a + cannibalisation_a) / |dQ_a/dp_a|``, rivals' and siblings' prices
    held fixed (USD/Mtok); a producer with no route keeps its price."""
    terms = foc_terms(market, demand, price, cost, ("slope",))
    with np.errstate(divide="ignore", invalid="ignore"):
        markup = (terms["quantity"] + terms["others"]) / terms["slope"]
    markup = _with_limit(market, demand, markup, terms["slope"])
    return np.where(np.isfinite(markup), cost + markup, price)


def zeta_map_v2(market: RouteMarket, demand, price: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """The zeta map ``c + (Q + Phi(p - c) + E m) / (Lambda + E)`` (never divides by ``1 - S``).

    Any map ``p + g(p) / G`` with ``g = Q + m dQ/dp + cannibalisation`` the first-order condition
    has the same fixed point and converges locally at the rate ``1 + g'/G``. The Morrow-Skerlos
    choice ``G = Lambda`` is exactly ``-g'`` at the plain-logit equilibrium (rate 0); with nests
    ``-g'`` gains the term ``E = m C`` from the within-nest share's curvature (see
    :func:`slope_terms`), without which the map oscillates for ``sigma`` near 1 and balanced
    hosts (rate ``-sigma w (1 - w) / (1 - sigma w)^2``).
    """
    terms = foc_terms(market, demand, price, cost, ("lam", "gam", "curve"))
    extra = terms["extra"]
    denominator = terms["lam"] + extra
    with np.errstate(divide="ignore", invalid="ignore"):
        markup = (terms["zeta_numerator"] + extra * (price - cost)) / denominator
    markup = _with_limit(market, demand, markup, denominator)
    return np.where(np.isfinite(markup), cost + markup, price)


def inverse_elasticity_map_v2(market: RouteMarket, demand, price: np.ndarray,
                              cost: np.ndarray) -> np.ndarray:
    """Log form: the inverse-elasticity rule ``c / (1 - L)``, ``L = (Q + cannibalisation) /
    (p |dQ/dp|)``, written as the step ``p + g / (|dQ/dp| (1 - L) + E)`` with the nest
    curvature ``E`` of :func:`zeta_map_v2` (``E = 0`` gives ``c / (1 - L)``); the price doubles
    where demand is inelastic (``|dQ/dp| (1 - L) <= 0``); the zeta map where the slope vanishes.
    """
    terms = foc_terms(market, demand, price, cost, ("slope", "lam", "gam", "curve"))
    slope, extra = terms["slope"], terms["extra"]
    numerator = terms["quantity"] + terms["others"]
    with np.errstate(divide="ignore", invalid="ignore"):
        elastic = slope - numerator / price
        step = (numerator - (price - cost) * slope) / (elastic + extra)
        target = np.where(elastic > 0, price + step, 2.0 * price)
        denominator = terms["lam"] + extra
        fallback = cost + _with_limit(
            market, demand, (terms["zeta_numerator"] + extra * (price - cost)) / denominator,
            denominator)
    target = np.where((slope > 0) & np.isfinite(target), target, fallback)
    return np.where(np.isfinite(target), target, price)
