"""Generalized nested logit (v3 kernel): price derivatives, multi-product FOC, Bertrand-Nash.

Not yet wired into the model (docs/ODD.md §6.2c). Notation of :mod:`~pricewar.kernel.gnl`; per
class ``c`` of segment ``m`` and route ``k`` (product ``a``), ``kappa_F = 1/lambda_F -
1/lambda_T >= 0``, ``kappa_T = 1/lambda_T - 1 >= 0``, ``mu_mc = 1 - eta_m/alpha_mc`` and
``t_k = alpha_mc phi'(P_k)``. Differentiating the three-level shares (McFadden 1978; Verboven
1996 for two levels) and the upper level (``d IV_mc / d v_k = s_k``)::

    d log x_r / d v_k = 1[r=k]/lambda_F - kappa_F s_{k|f} 1[r in f] - kappa_T s_{k|t} 1[r in t]
                        - mu_mc s_k
    dQ_b/dp_a = -sum_{m,c} x_r t_k (same bracket),   k the route of a, r of b, in segment m

**Well-posedness** (``alpha_mc >= eta_m > 1``): with ``s_{k|f}, s_{k|t}, s_k <= 1`` the own
bracket is ``>= 1 - mu_mc s_k >= eta_m/alpha_mc``, so each class's own-price elasticity in the
route price ``P = p + pbar`` is ``>= eta_m > 1``; every cross term is ``>= 0`` (gross
substitutes) and ``> 0`` for a rival family of the same tier when ``sigma_tier > 0`` or
``alpha_mc > eta_m``.

**Multi-product firms** (Verboven 1996; Morrow & Skerlos 2011's zeta map). With margins ``m_b =
p_b - c_b`` and each firm ``F``'s margin-weighted class volume in the route's family run, tier
run and segment, ``T_Ff = sum_{r in F, f} m_r x_r`` (likewise ``T_Ft``, ``T_Fm``), the firm's
first-order condition for product ``a`` reads::

    Q_a + sum_{b in F(a)} m_b dQ_b/dp_a = Q_a - m_a Lambda_a + Phi_a = 0
    Lambda_a = sum_{m,c} t_k x_k / lambda_F
    Phi_a    = sum_{m,c} t_k (kappa_F s_{k|f} T_Ff + kappa_T s_{k|t} T_Ft + mu_mc s_k T_Fm)

(own product included in the ``T``'s) and the zeta map ``m <- (Q + Phi(m)) / Lambda`` is a
fixed point at a Bertrand-Nash equilibrium. ``dQ_a/dp_a = -(Lambda_a - Gamma_a)`` with
``Gamma_a`` the ``Phi_a`` of ``T = x_k``; ``Phi_a - m_a Gamma_a`` is the cannibalisation of the
firm's other products, ``sum_{b in F(a), b != a} m_b dQ_b/dp_a``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pricewar.errors import ConvergenceError, KernelInputError
from pricewar.kernel.arrays import float_array
from pricewar.kernel.fixed_point import anderson_fixed_point
from pricewar.kernel.gnl import GNLDemand, GNLMarket, gnl_demand, gnl_market

_MAX_JACOBIAN_PAIRS = 10_000_000


def _route_terms(market: GNLMarket):
    """``kappa_F`` (n,), ``kappa_T`` (n,) and ``mu`` (K, n) per stored route."""
    return market.route_kappa_family, market.route_kappa_tier, market.route_inelastic


@dataclass(frozen=True, eq=False)
class GNLDerivatives:
    """Per product: ``own`` ``dQ_a/dp_a``, ``lam`` ``Lambda_a`` and ``gam`` ``Gamma_a`` (Mtok/step
    per USD/Mtok); with margins, ``phi`` ``Phi_a`` and ``firm_cross`` ``sum_{b in F(a), b != a}
    m_b dQ_b/dp_a`` (Mtok/step), else None."""

    own: np.ndarray
    lam: np.ndarray
    gam: np.ndarray
    phi: np.ndarray | None
    firm_cross: np.ndarray | None


def gnl_derivatives(market: GNLMarket, demand: GNLDemand, markup=None) -> GNLDerivatives:
    """Analytic own-price derivatives and, with ``markup`` (``p - c``, USD/Mtok, shape (N,), or
    several markups at once, shape (R, N)), the multi-product firm's cannibalisation term
    (module docstring; ``phi`` and ``firm_cross`` then have the markup's shape)."""
    kappa_f, kappa_t, mu = _route_terms(market)
    s_f, s_t, s_k = demand.route_family_share, demand.route_tier_share, demand.route_share
    n_routes = market.route_product.size
    # a route per family run: s_{k|f} = 1
    family_share = (np.broadcast_to(kappa_f, s_f.shape) if market.family_start.size == n_routes
                    else kappa_f * s_f)
    nest_shares = (family_share, kappa_t * s_t, mu * s_k)
    own, lam, gam = _own_terms(market, demand, nest_shares)
    phi = firm_cross = None
    if markup is not None:
        markups = np.asarray(markup, dtype=np.float64)
        rows = np.atleast_2d(markups)
        phi = np.empty(rows.shape)
        # every class at once: index (K, n) of the (class, run, firm) triples; a level where every
        # route is its own (run, firm) pair has T = m_r x_r
        levels = tuple(zip((market.route_firm_family, market.route_firm_tier,
                            market.route_firm_segment), market.firm_pair_count == n_routes,
                           nest_shares, strict=True))
        for row, values in enumerate(rows):
            values = float_array("markup", values, market.n_products)
            weighted = np.take(values, market.route_product) * demand.route_demand  # m_r x_r
            terms = None
            for index, single, share in levels:
                if single:
                    term = weighted * share
                else:
                    term = np.take(np.bincount(index.ravel(), weighted.ravel()), index)
                    term *= share  # T_F s
                terms = term if terms is None else np.add(terms, term, out=terms)
            terms *= demand.route_slope
            phi[row] = market.product_sum(terms)
        firm_cross = phi - rows * gam
        if markups.ndim < 2:
            phi, firm_cross = phi[0], firm_cross[0]
    return GNLDerivatives(own=own, lam=lam, gam=gam, phi=phi, firm_cross=firm_cross)


def _own_terms(market: GNLMarket, demand: GNLDemand, nest_shares: tuple
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``own``, ``lam`` and ``gam`` per product (:class:`GNLDerivatives`) from the routes'
    ``(kappa_F s_{k|f}, kappa_T s_{k|t}, mu s_k)``; its (K, n) temporaries are freed on
    return, before the markups' terms take theirs."""
    slope_volume = demand.route_slope * demand.route_demand  # t_k x_k
    cross = nest_shares[0] + nest_shares[1]
    cross += nest_shares[2]
    lam = market.product_sum(slope_volume / market.route_lambda_family)
    gam = market.product_sum(slope_volume * cross)
    np.subtract(1.0 / market.route_lambda_family, cross, out=cross)
    cross *= slope_volume
    return -market.product_sum(cross), lam, gam


def gnl_demand_jacobian(market: GNLMarket, demand: GNLDemand) -> np.ndarray:
    """Dense ``J[a, b] = dQ_b/dp_a`` (Mtok/step per USD/Mtok), for small markets.

    Summed over the route pairs of every segment (``sum_m n_m^2`` pairs, at most 10 million).
    """
    ptr = market.segment_ptr
    counts = np.diff(ptr)
    n_pairs = int((counts ** 2).sum())
    if n_pairs > _MAX_JACOBIAN_PAIRS:
        raise KernelInputError(f"gnl_demand_jacobian: {n_pairs} route pairs exceed "
                               f"{_MAX_JACOBIAN_PAIRS}; use gnl_derivatives")
    repeat = counts[market.route_segment]
    k = np.repeat(np.arange(market.route_product.size), repeat)
    offset = np.arange(n_pairs) - np.repeat(np.cumsum(repeat) - repeat, repeat)
    r = ptr[market.route_segment[k]] + offset
    kappa_f, kappa_t, mu = _route_terms(market)
    same_family = market.route_family_run[k] == market.route_family_run[r]
    same_tier = market.route_tier_run[k] == market.route_tier_run[r]
    bracket = ((k == r) / market.route_lambda_family[k]
               - kappa_f[k] * demand.route_family_share[:, k] * same_family
               - kappa_t[k] * demand.route_tier_share[:, k] * same_tier
               - mu[:, k] * demand.route_share[:, k])
    values = -(demand.route_demand[:, r] * demand.route_slope[:, k] * bracket).sum(axis=0)
    n = market.n_products
    cell = market.route_product[k] * np.int64(n) + market.route_product[r]
    return np.bincount(cell, values, n * n).reshape(n, n)


@dataclass(frozen=True, eq=False)
class NashResult:
    """``price`` (USD/Mtok, (N,)); ``residual``, the largest relative price change of one zeta
    step at ``price`` (``|zeta(p) - p| / p``); ``iterations``; ``demand`` at ``price``."""

    price: np.ndarray
    residual: float
    iterations: int
    demand: GNLDemand


def _zeta_step(market: GNLMarket, price: np.ndarray, cost: np.ndarray):
    demand = gnl_demand(market, price)
    deriv = gnl_derivatives(market, demand, markup=price - cost)
    with np.errstate(divide="ignore", invalid="ignore"):
        target = cost + (demand.product_demand + deriv.phi) / deriv.lam
    sold = deriv.lam > 0
    if not sold.all():  # shares underflowed: the markup in the limit of a vanishing share,
        # lambda_F / (alpha phi'(P)), for the product's most price-sensitive route and class
        limit = np.full(market.n_products, np.inf)
        np.minimum.at(limit, market.route_product,
                      (market.route_lambda_family / demand.route_slope).min(axis=0))
        target = np.where(sold, target, cost + limit)
    return target, demand


def _iterate(market, cost, price, update, tol, max_iter, damping, what):
    """The zeta fixed point ``x <- x + damping f``, ``f = zeta(x) - x`` (on the ``update``
    products), with Anderson acceleration (:func:`~pricewar.kernel.fixed_point.
    anderson_fixed_point`): where a firm faces an elasticity near 1 (``eta -> 1`` with no
    outside option) the plain map contracts by only ``1 - (eta - 1)/alpha`` a step. An
    extrapolated price must stay positive (and above ``-pbar``). Past ``max_iter``, Newton's
    method polishes the point reached (:func:`_newton_polish`); raises ConvergenceError if that
    fails too."""
    if not 0 < damping <= 1:
        raise KernelInputError(f"damping must lie in (0, 1], got {damping!r}")

    def step(point):
        target, demand = _zeta_step(market, point, cost)
        change = np.where(update, target - point, 0.0)
        return (point + damping * change,
                float(np.max(np.abs(change) / np.abs(point), initial=0.0)), demand)

    def admissible(candidate):
        return bool((candidate > 0).all() and (candidate + market.product_price_offset > 0).all())

    point, residual, iterations, converged, demand = anderson_fixed_point(
        step, price, tol, max_iter, admissible)
    if not converged:
        polished = _newton_polish(step, point, update, tol, admissible)
        if polished is not None:
            point, residual, newton_steps, demand = polished
            return NashResult(price=point, residual=residual,
                              iterations=iterations + newton_steps, demand=demand)
        raise ConvergenceError(f"{what}: no convergence in {max_iter} iterations (last relative "
                               f"price change {residual:.3g}, tol {tol:g})", residual, max_iter)
    return NashResult(price=point, residual=residual, iterations=iterations, demand=demand)


#: Newton steps, and the most products it differentiates by finite differences
NEWTON_STEPS, NEWTON_MAX_PRODUCTS = 30, 200


def _newton_polish(step, point, update, tol, admissible):
    """Newton's method on ``f(x) = zeta(x) - x`` (the ``update`` products), from where the
    accelerated iteration stopped, with a forward-difference Jacobian (one zeta step per
    product): where a firm's elasticity is near 1 the map contracts by ``1 - (eta - 1)/alpha``
    a step (0.99 at eta 1.06, alpha 6), too slowly for its budget, while ``f`` is smooth there.
    Returns ``(x, residual, steps, demand)`` once the residual is within ``tol``, else None."""
    free = np.flatnonzero(update)
    if free.size == 0 or free.size > NEWTON_MAX_PRODUCTS:
        return None
    x = point.copy()
    image, residual, demand = step(x)
    for iteration in range(1, NEWTON_STEPS + 1):
        change = (image - x)[free]
        jacobian = np.empty((free.size, free.size))
        for column, j in enumerate(free):
            shifted = x.copy()
            h = 1e-7 * abs(x[j])
            shifted[j] += h
            jacobian[:, column] = ((step(shifted)[0] - shifted)[free] - change) / h
        try:
            move = np.linalg.solve(jacobian, -change)
        except np.linalg.LinAlgError:
            return None
        scale = 1.0
        while True:  # halve the step until the prices stay admissible
            candidate = x.copy()
            candidate[free] += scale * move
            if np.isfinite(candidate).all() and admissible(candidate):
                break
            scale /= 2
            if scale < 1e-6:
                return None
        x = candidate
        image, residual, demand = step(x)
        if residual <= tol:
            return x, residual, iteration, demand
    return None


def _costs_and_start(market: GNLMarket, cost, initial_price):
    cost = float_array("cost", cost, market.n_products, nonneg=True)
    if initial_price is None:
        if market.price_form == "log":
            initial_price = 2.0 * cost + market.product_price_offset + (cost == 0)
        else:
            initial_price = cost + 1.0 / market.class_alpha.min()
    return cost, float_array("initial_price", initial_price, market.n_products).copy()


def gnl_bertrand_nash(market: GNLMarket, cost, initial_price=None, *, tol: float = 1e-12,
                      max_iter: int = 100_000, damping: float = 1.0) -> NashResult:
    """Bertrand-Nash prices of the multi-product firms by the (damped) zeta fixed point
    ``p <- p + damping (c + (Q + Phi)/Lambda - p)``, Anderson-accelerated; raises
    ConvergenceError past ``max_iter``.

    ``cost`` marginal cost per product, USD/Mtok (> 0 in the log form without offset).
    """
    cost, price = _costs_and_start(market, cost, initial_price)
    return _iterate(market, cost, price, np.ones(market.n_products, dtype=bool), tol, max_iter,
                    damping, "gnl_bertrand_nash")


def gnl_best_response(market: GNLMarket, price, cost, firm: int, *, tol: float = 1e-12,
                      max_iter: int = 100_000, damping: float = 1.0) -> NashResult:
    """Firm ``firm``'s best response: its products' prices solving its first-order conditions
    with every rival's price held at ``price`` (the zeta map on its products only)."""
    own = market.product_firm == firm
    if not own.any():
        raise KernelInputError(f"firm {firm!r} owns no product")
    cost, start = _costs_and_start(market, cost, price)
    return _iterate(market, cost, start, own, tol, max_iter, damping, "gnl_best_response")


def gnl_single_market(quality, *, class_alpha, tier=None, family=None, firm=None,
                      sigma_tier=0.0, sigma_family=0.0, class_weight=None,
                      outside: float = -np.inf, eta: float = 0.0, demand: float = 1.0,
                      price_offset=0.0, price_form: str = "log") -> GNLMarket:
    """The textbook market: one segment buying products of qualities ``quality`` (utils).

    ``tier``, ``family`` and ``firm`` are labels per product (default: one tier, a family and a
    firm per product); ``sigma_tier``/``sigma_family`` a number or one per label; ``class_weight``
    and ``class_alpha`` one value per class (default one class); ``outside`` the outside good's
    utility (``-inf`` none; needed with ``eta = 0``); ``eta`` 0 or > 1.
    """
    q = float_array("quality", quality)
    n = q.size
    if n == 0:
        raise KernelInputError("quality must name at least one product, got an empty array")
    alpha = np.atleast_1d(np.asarray(class_alpha, dtype=np.float64))
    return gnl_market(
        np.array([0, n]), np.arange(n), q,
        product_tier=np.zeros(n, dtype=np.int64) if tier is None else tier,
        product_family=np.arange(n) if family is None else family,
        product_firm=firm, tier_sigma=sigma_tier, family_sigma=sigma_family,
        class_alpha=alpha, class_weight=class_weight, segment_demand=[demand],
        segment_eta=[eta], segment_outside_utility=[outside],
        product_price_offset=price_offset, price_form=price_form)


def gnl_textbook_nash(quality, cost, **market) -> NashResult:
    """Bertrand-Nash of :func:`gnl_single_market` (same keywords): tiers, class weights and a
    firm per product in one market.

    Examples
    --------
    One class, no tiers, a family per product: the logit game of Calvano et al. (2020)
    (``pricewar.kernel.logit_bertrand_nash([2, 2], [1, 1], mu=0.25)``):

    >>> gnl_textbook_nash([8, 8], [1, 1], class_alpha=4.0, outside=0.0,
    ...                   price_form="linear").price.round(4)
    array([1.4729, 1.4729])
    """
    return gnl_bertrand_nash(gnl_single_market(quality, **market), cost)
