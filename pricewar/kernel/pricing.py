"""Own-price derivatives, best responses and the static Bertrand-Nash equilibrium."""

from __future__ import annotations

import numpy as np

from pricewar.errors import ConvergenceError, KernelInputError
from pricewar.kernel.arrays import float_array, scatter_sum
from pricewar.kernel.demand import MarketDemand, market_demand
from pricewar.kernel.firms import (
    best_response_v2,
    foc_terms,
    inverse_elasticity_map_v2,
    slope_sums,
    zeta_map_v2,
)
from pricewar.kernel.route_market import RouteMarket

# --------------------------------------------------------------------------------------------
# pricing
# --------------------------------------------------------------------------------------------
# Route passes that only feed per-producer sums run over blocks of this many routes: the block's
# scratch arrays stay in cache instead of becoming full-length temporaries (at 2M routes this
# halves the cost of the slope). Sums are then added block by block.
_BLOCK_ROUTES = 1 << 18


def _pair_slope_sums(market: RouteMarket, demand: MarketDemand, split: bool):
    """Per producer, ``sum_j alpha_j D_j A_ij (1 - S_ij)``, or ``(Lambda_i, Gamma_i)`` if ``split``.

    ``A_ij = sum_{r in R_ij} s_r phi'(P_r)`` and ``S_ij = sum_{r in R_ij} s_r`` for the pair
    (consumer ``j``, producer ``i``); ``Lambda_i = sum_j alpha_j D_j A_ij`` and
    ``Gamma_i = sum_j alpha_j D_j A_ij S_ij``, so that ``dQ_i/dp_i = -(Lambda_i - Gamma_i)`` (the
    Morrow-Skerlos 2011 split of the logit demand Jacobian's diagonal).

    Computed per route, as the reference computes it per pair: ``((alpha_j D_j) (s_r phi'(P_r)))
    (1 - S_ij)``, with ``1 - S_ij`` taken per pair (nothing cancels when a producer holds nearly all
    of a consumer) and products associated alike, so that the markup's ratio of two sums rounds
    alike even when demand is so small that the products are subnormal. A pair of several routes
    (one producer through several platforms) is carried by its first route, the others add 0.
    """
    topo = market.topology
    share, price = demand.route_share, demand.route_price
    alpha_demand = market._route_alpha_demand
    log_form = market.price_form == "log"
    dup = topo._dup_routes
    if dup is not None:
        dup_term = np.divide(1.0, price[dup]) * share[dup] if log_form else share[dup]
        first_term = np.bincount(topo._dup_pair, dup_term)[topo._dup_first_pair]
        dup_share = np.bincount(topo._dup_pair, share[dup])[topo._dup_pair]  # S_ij on dup routes
    n_routes, n_producers = topo.n_routes, topo.n_producers
    sums = [np.zeros(n_producers), np.zeros(n_producers)]
    block = max(min(n_routes, _BLOCK_ROUTES), 1)
    term_buffer, factor_buffer = np.empty(block), np.empty(block)
    for start in range(0, n_routes, block):
        stop = min(start + block, n_routes)
        term, factor = term_buffer[:stop - start], factor_buffer[:stop - start]
        if log_form:
            np.divide(1.0, price[start:stop], out=term)  # phi'(P) = 1/P
            term *= share[start:stop]
        else:
            term[:] = share[start:stop]  # phi'(P) = 1
        if dup is not None:  # the block's routes of multi-route pairs
            lo, hi = np.searchsorted(dup, (start, stop))
            term[dup[lo:hi] - start] = 0.0
            lo_first, hi_first = np.searchsorted(topo._dup_first, (start, stop))
            term[topo._dup_first[lo_first:hi_first] - start] = first_term[lo_first:hi_first]
        term *= alpha_demand[start:stop]
        producers = topo._producer_index[start:stop]
        if split:
            sums[0] += scatter_sum(producers, term, n_producers)
            factor[:] = share[start:stop]  # S_ij
        else:
            np.subtract(1.0, share[start:stop], out=factor)  # 1 - S_ij
        if dup is not None:
            factor[dup[lo:hi] - start] = dup_share[lo:hi] if split else 1.0 - dup_share[lo:hi]
        term *= factor
        sums[1] += scatter_sum(producers, term, n_producers)
    return tuple(sums) if split else sums[1]


def _slope_terms(market: RouteMarket, demand: MarketDemand) -> tuple[np.ndarray, np.ndarray]:
    """Per producer, ``Lambda_i`` and ``Gamma_i`` (see :func:`_pair_slope_sums`)."""
    return _pair_slope_sums(market, demand, split=True)


def _own_slope(market: RouteMarket, demand: MarketDemand) -> np.ndarray:
    """``-dQ_i/dp_i = sum_j alpha_j D_j A_ij (1 - S_ij)`` per producer (see :func:`_pair_slope_sums`)."""
    return _pair_slope_sums(market, demand, split=False)


def own_price_derivative(market: RouteMarket, demand: MarketDemand) -> np.ndarray:
    """``dQ_i/dp_i`` per producer (Mtok/step per USD/Mtok; <= 0), docs/ODD.md §6.4.

    ``dQ_i/dp_i = -sum_j alpha_j D_j (1 - S_ij) sum_{r in R_ij} s_r phi'(P_r)`` with ``S_ij`` the
    share of consumer ``j`` going to producer ``i``'s routes; ``phi' = 1`` (linear) or ``1/P``.
    With nests and an upper level it is ``-sum_j X_j alpha_j A_ij [(1 - sigma_g S_{i|g,j}) /
    (1 - sigma_g) - (1 - eta_j/alpha_j) S_ij]`` (see :mod:`~pricewar.kernel.firms`).
    """
    if not market.is_plain_demand:
        return -slope_sums(market, demand)["slope"]
    return -_own_slope(market, demand)


def _vanishing_share_markup(market: RouteMarket, demand: MarketDemand) -> np.ndarray:
    """Markup ``Q/|dQ/dp|`` in the limit of vanishing shares: mean of ``1/(alpha phi'(P))``.

    Used where a producer's shares underflow to exactly 0, so the ratio is 0/0 numerically.
    """
    topo = market.topology
    inv_slope = 1.0 / market.route_alpha
    if market.price_form == "log":
        inv_slope *= demand.route_price
    with np.errstate(divide="ignore", invalid="ignore"):
        return topo.producer_sum(inv_slope) / topo._producer_route_count


def _with_vanishing_share_markup(market: RouteMarket, demand: MarketDemand, markup: np.ndarray,
                                 slope: np.ndarray) -> np.ndarray:
    """``markup`` where ``slope > 0``, else the vanishing-share limit (NaN for routeless producers).

    The limit costs two route passes, so it is computed only if some producer with routes needs it
    (where a producer has no route, ``markup`` is already 0/0 = NaN, as the limit would be).
    """
    vanished = ~(slope > 0)
    if (vanished & (market.topology._producer_route_count > 0)).any():
        return np.where(vanished, _vanishing_share_markup(market, demand), markup)
    return markup


def best_response(market: RouteMarket, producer_price, marginal_cost,
                  demand: MarketDemand | None = None) -> np.ndarray:
    """The logit first-order-condition map ``p_i <- c_i + Q_i / |dQ_i/dp_i|`` (USD/Mtok).

    Evaluated at the current prices of everyone (own price included, which matters for the log
    form where ``dQ/dp`` depends on ``p_i``); its fixed point is the Bertrand-Nash equilibrium.
    Where a producer's shares underflow to 0 the vanishing-share limit of the markup is used; a
    producer with no route keeps its current price. A product of a multi-product firm
    (``topology.producer_firm``) adds the cannibalisation of its siblings,
    ``p_a <- c_a + (Q_a + sum_{b != a in F} (p_b - c_b) dQ_b/dp_a) / |dQ_a/dp_a|``, siblings'
    prices held fixed (see :mod:`~pricewar.kernel.firms`).

    Parameters
    ----------
    market : RouteMarket
    producer_price, marginal_cost : float arrays, shape (n_producers,), USD/Mtok
    demand : MarketDemand, optional
        Demand at ``producer_price`` if already computed (saves a pass).
    """
    p = market.check_prices(producer_price)
    cost = float_array("marginal_cost", marginal_cost, market.topology.n_producers, nonneg=True)
    if demand is None:
        demand = market_demand(market, p)
    if not market.is_plain_pricing:
        return best_response_v2(market, demand, p, cost)
    slope = _own_slope(market, demand)
    with np.errstate(divide="ignore", invalid="ignore"):
        markup = _with_vanishing_share_markup(market, demand, demand.producer_demand / slope,
                                              slope)
    return np.where(np.isfinite(markup), cost + markup, p)


def inverse_elasticity_response(market: RouteMarket, producer_price, marginal_cost,
                                demand: MarketDemand | None = None) -> np.ndarray:
    """Log form: each producer's best response by the inverse-elasticity rule (USD/Mtok).

    ``p_a <- c_a / (1 - L_a)`` with ``L_a = (Q_a + cannibalisation_a) / (p_a |dQ_a/dp_a|)``
    evaluated at the current prices (own price included): with ``phi = log P`` the elasticity
    depends on the own price only through shares, so this is nearly the exact best response,
    where the additive map ``c + Q/|dQ/dp|`` contracts only by ``1/alpha`` per evaluation. A
    product of a multi-product firm adds its siblings' cannibalisation (see
    :mod:`~pricewar.kernel.firms`). Where demand is inelastic (``L >= 1``: no interior optimum
    at current shares) the price doubles; a producer without demand keeps its price.
    """
    p = market.check_prices(producer_price)
    cost = float_array("marginal_cost", marginal_cost, market.topology.n_producers, nonneg=True)
    if market.price_form != "log":
        raise KernelInputError("inverse_elasticity_response needs price_form='log' (use "
                               "best_response for the linear form)")
    if demand is None:
        demand = market_demand(market, p)
    if market.is_plain_pricing:
        slope = _own_slope(market, demand)
        numerator = demand.producer_demand
    else:
        terms = foc_terms(market, demand, p, cost, ("slope",))
        slope, numerator = terms["slope"], terms["quantity"] + terms["others"]
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse_elasticity = numerator / (p * slope)
        target = np.where(inverse_elasticity < 1.0, cost / (1.0 - inverse_elasticity), 2.0 * p)
    return np.where((slope > 0) & np.isfinite(target), target, p)


def _zeta_map(market: RouteMarket, p: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Morrow-Skerlos (2011) zeta map ``c + (Q + Gamma (p - c)) / Lambda``.

    Same fixed point as :func:`best_response` (there ``markup (Lambda - Gamma) = Q``), but it never
    divides by ``1 - S``, so it stays stable when a producer holds nearly all of a market.
    """
    demand = market_demand(market, p)
    if not market.is_plain_pricing:
        return zeta_map_v2(market, demand, p, cost)
    lam, gam = _slope_terms(market, demand)
    with np.errstate(divide="ignore", invalid="ignore"):
        markup = _with_vanishing_share_markup(
            market, demand, (demand.producer_demand + gam * (p - cost)) / lam, lam)
    return np.where(np.isfinite(markup), cost + markup, p)


def _inverse_elasticity_map(market: RouteMarket, p: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """For ``phi = log P``: the inverse-elasticity rule ``c / (1 - 1/e)``, ``e = -dQ/dp p / Q``.

    Same fixed point as :func:`best_response`. With log utility ``e`` depends on the own price
    only through shares and route price extras, so this map converges in a few iterations where
    the additive map contracts only by ``1/alpha`` per iteration. Where demand is inelastic at
    current shares (``e <= 1``: no interior optimum yet) the price doubles; where shares vanish,
    the zeta map's vanishing-share limit is used.
    """
    demand = market_demand(market, p)
    if not market.is_plain_pricing:
        return inverse_elasticity_map_v2(market, demand, p, cost)
    lam, gam = _slope_terms(market, demand)
    slope = lam - gam
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse_elasticity = demand.producer_demand / (p * slope)
        target = np.where(inverse_elasticity < 1.0, cost / (1.0 - inverse_elasticity), 2.0 * p)
        fallback = cost + _with_vanishing_share_markup(
            market, demand, (demand.producer_demand + gam * (p - cost)) / lam, lam)
    target = np.where((slope > 0) & np.isfinite(target), target, fallback)
    return np.where(np.isfinite(target), target, p)


_FAST_ITERATIONS = 100


def bertrand_nash(market: RouteMarket, marginal_cost, initial_price=None, damping: float = 1.0,
                  tol: float = 1e-10, max_iter: int = 10_000) -> np.ndarray:
    """Static Bertrand-Nash prices by damped, vectorized fixed-point iteration (USD/Mtok).

    Iterates ``p <- p + damping * (Z(p) - p)`` for all producers at once until the largest
    relative change ``max |Z(p) - p| / max(p, 1e-12)`` is below ``tol``. ``Z`` is the
    Morrow-Skerlos zeta map for the linear form (stable at high shares) and the inverse-elasticity
    rule for the log form (converges in a few iterations; steps bounded to halving or doubling;
    after 100 iterations without convergence it hands over to the zeta map); all have the
    best-response map's fixed point, so the result satisfies every producer's first-order
    condition ``p_i = c_i + Q_i/|dQ_i/dp_i|``.

    Raises
    ------
    ConvergenceError
        With the residual and iteration count, when ``max_iter`` is reached.
    """
    if not 0 < damping <= 1:
        raise KernelInputError(f"damping must be in (0, 1], got {damping!r}")
    if not tol > 0:
        raise KernelInputError(f"tol must be > 0, got {tol!r}")
    cost = float_array("marginal_cost", marginal_cost, market.topology.n_producers, nonneg=True)
    if initial_price is None:
        # start above cost so the log form has P > 0 even for zero-cost producers
        initial_price = cost * 1.5 + 1e-3
    p = market.check_prices(initial_price, "initial_price").copy()
    residual = np.inf
    fast = market.price_form == "log"
    for iteration in range(1, max_iter + 1):
        if fast and iteration > _FAST_ITERATIONS:
            fast = False  # the fast map cycles here (a producer near e = 1): use the zeta map
        if fast:
            target = np.clip(_inverse_elasticity_map(market, p, cost), 0.5 * p, 2.0 * p)
        else:
            target = _zeta_map(market, p, cost)
        if market.price_form == "log":
            target = np.maximum(target, 1e-12)  # stay in the domain of log P while iterating
        step = target - p
        residual = float(np.max(np.abs(step) / np.maximum(np.abs(p), 1e-12), initial=0.0))
        if not np.isfinite(residual):
            raise ConvergenceError(f"Bertrand-Nash iteration diverged at iteration {iteration} "
                                   f"(residual {residual})", residual, iteration)
        if residual < tol:
            return target
        p += damping * step
    raise ConvergenceError(
        f"Bertrand-Nash iteration did not converge in {max_iter} iterations: largest relative "
        f"price change {residual:.3e} > tol {tol:.1e} (try a smaller damping)", residual, max_iter)


def producer_profit(market: RouteMarket, producer_price, marginal_cost) -> np.ndarray:
    """Profit per producer at unconstrained demand, ``(p_i - c_i) Q_i`` (USD/step)."""
    p = market.check_prices(producer_price)
    cost = float_array("marginal_cost", marginal_cost, market.topology.n_producers, nonneg=True)
    return (p - cost) * market_demand(market, p).producer_demand
