"""Demand-v2 price derivatives and first-order conditions: nests, the upper level, firms.

For the pair (consumer ``j``, producer ``a``) with ``A_aj = sum_{r in R_aj} s_r phi'(P_r)``,
pair share ``S_aj``, within-nest share ``S_{a|g,j} = S_aj / s_g`` and ``lambda_g = 1 - sigma_g``
(derived in docs/ODD.md from ``d log x_r / d v_k = 1[r=k]/lambda_g - (sigma_g/lambda_g) s_{k|g}
1[same nest] - (1 - eta_j/alpha_j) s_k``)::

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


def _pair_values(topology, route_values: np.ndarray) -> np.ndarray:
    """Per route, the sum of ``route_values`` over the route's (consumer, producer) pair."""
    if topology.route_pair is None:
        return route_values
    dup = topology._dup_routes
    out = route_values.copy()
    out[dup] = np.bincount(topology._dup_pair, route_values[dup])[topology._dup_pair]
    return out


def _share_slope(market: RouteMarket, demand) -> np.ndarray:
    """``s_r phi'(P_r)`` per route (``phi' = 1/P`` for the log form, 1 for the linear form)."""
    if market.price_form == "log":
        return demand.route_share / demand.route_price
    return demand.route_share


def slope_terms(market: RouteMarket, demand, curvature: bool = False):
    """``(Lambda_a, Gamma_a)`` per producer (see the module docstring); ``-dQ_a/dp_a`` is their
    difference. Units: Mtok/step per USD/Mtok.

    With ``curvature``, also ``C_a = sum_j alpha_j^2 X_j sum_{r in R_aj} s_r phi'(P_r)^2
    sigma_g S_{a|g,j} (1 - S_{a|g,j}) / lambda_g^2`` (USD/Mtok less: per USD/Mtok squared), the
    nest's part of ``-d^2 Q_a / dp_a^2``: see :func:`zeta_map_v2`.
    """
    topo = market.topology
    share_slope = _share_slope(market, demand)
    if market.is_elastic:
        weight = share_slope * (market.consumer_alpha * demand.consumer_volume)[topo.route_consumer]
    else:
        weight = share_slope * market._route_alpha_demand
    pair_share = _pair_values(topo, demand.route_share)
    curve = None
    if market.is_nested:
        # (1 - sigma S_{|g}) / lambda = 1/lambda - (1/lambda - 1) S_{|g}
        inv_lambda = market._route_inv_lambda
        within = _pair_values(topo, demand.route_nest_share)
        own = inv_lambda - (inv_lambda - 1.0) * within
        lam = topo.producer_sum(weight * own)
        if curvature:  # sigma / lambda^2 = (1/lambda - 1) / lambda
            phi_prime = 1.0 / demand.route_price if market.price_form == "log" else 1.0
            curve = topo.producer_sum(weight * market.route_alpha * phi_prime
                                      * (inv_lambda - 1.0) * inv_lambda * within * (1.0 - within))
    else:
        lam = topo.producer_sum(weight)
    if market.is_elastic:
        keep = 1.0 - (market.eta / market.consumer_alpha)[topo.route_consumer]
        gam = topo.producer_sum(weight * keep * pair_share)
    else:
        gam = topo.producer_sum(weight * pair_share)
    if curvature:
        return lam, gam, np.zeros(topo.n_producers) if curve is None else curve
    return lam, gam


def firm_terms(market: RouteMarket, demand, markup: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``Phi_a`` (own product included) for products of multi-product firms.

    Returns ``(phi, multi)``: ``phi`` per producer (0 for single-product firms' producers) and the
    mask of producers whose firm owns several. ``markup`` is ``p - c`` per producer, USD/Mtok.
    """
    topo = market.topology
    firms = topo.firms
    multi = np.zeros(topo.n_producers, dtype=bool)
    if firms is None:
        return np.zeros(topo.n_producers), multi
    routes = firms.routes
    producer = topo.route_producer[routes]
    multi[producer] = True
    margin_volume = markup[producer] * demand.route_demand[routes]
    firm_volume = scatter_sum(firms.route_firm_group, margin_volume, firms.n_firm_groups)  # T_Fj
    consumer = topo.route_consumer[routes]
    cross = (market.consumer_alpha - market.eta)[consumer] * _share_slope(market, demand)[routes]
    cross *= firm_volume[firms.route_firm_group]
    return np.bincount(producer, cross, minlength=topo.n_producers), multi


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
              curvature: bool = False) -> dict:
    """The pieces of every producer's first-order condition at ``price``.

    Returns a dict: ``quantity`` (Q), ``lam`` (Lambda), ``gam`` (Gamma), ``slope``
    (``-dQ_a/dp_a``), ``others`` (the cannibalisation term ``Phi_a - m_a Gamma_a``, 0 for
    single-product firms), ``zeta_numerator`` (``Q + Phi``) and, with ``curvature``, ``extra``:
    ``max(m, 0) C_a`` (see :func:`slope_terms`), 0 without nests.
    """
    terms = slope_terms(market, demand, curvature)
    lam, gam = terms[0], terms[1]
    markup = price - cost
    phi, multi = firm_terms(market, demand, markup)
    own = gam * markup
    others = np.where(multi, phi - own, 0.0)
    quantity = demand.producer_demand
    result = dict(quantity=quantity, lam=lam, gam=gam, slope=lam - gam, others=others,
                  zeta_numerator=quantity + np.where(multi, phi, own))
    if curvature:
        result["extra"] = np.maximum(markup, 0.0) * terms[2]
    return result


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
    terms = foc_terms(market, demand, price, cost)
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
    terms = foc_terms(market, demand, price, cost, curvature=True)
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
    terms = foc_terms(market, demand, price, cost, curvature=True)
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
