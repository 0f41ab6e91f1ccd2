"""Prices of the v3 market: first-order conditions with customer states, and capacity that clears.

Two generalized-nested-logit markets (:mod:`~pricewar.kernel.gnl`) over the same products:
*shoppers*, segments ``m`` choosing over every route, and the *committed*, one segment per
(buyer segment, host) pair choosing among that host's products only. Their class volumes at the
reference are the shoppers' and the committed customers' reference volumes
(:func:`with_class_volumes`). Product ``a`` of firm ``F`` sells ``Q_a = Q^S_a + Q^C_a``.

Firm ``F`` maximises, over its products' prices, this step's profit, the value ``k_b = psi_b +
omega_b`` of each shopper's Mtok it wins (a customer kept, and the owner's complement value) and
the loss ``psi_b`` on the committed volume its price drives to review (docs/ODD.md §6.4b)::

    max  sum_{b in F} (p_b - c_b - lambda_F l_b) Q_b + k_b Q^S_b - psi_b h_b(p) C_b

with ``l_b`` the capacity load per Mtok and ``lambda_F >= 0`` the shadow price of the firm's
capacity ``K_F`` (``lambda_F (K_F - sum_b l_b Q_b) = 0``). With the zeta terms of
:mod:`~pricewar.kernel.gnl_pricing` for each market (``Lambda``, ``Phi``), margins over the
effective cost ``m = p - c - lambda l``, the first-order condition of product ``a`` is::

    m_a (Lambda^S_a + Lambda^C_a) = Q_a - k_a Lambda^S_a + Phi^S_a(m + k) + Phi^C_a(m) - psi_a R_a
    R_a = sum_{committed routes r of a} x^C_r h'(g_r) / P_r

and the iteration sets ``p = c + lambda l + m`` (the zeta map of Morrow & Skerlos 2011 for two
markets; a step bounded to halving or doubling) and moves ``lambda_F`` by the price change that
would clear its capacity at the firm's own-price elasticity ``eps_F`` (its load's elasticity
to a uniform rise of its prices, evaluated at the solve's start point and held)::

    lambda_F <- max(0, lambda_F + (cbar_F / lbar_F) log(L_F / K_F) / eps_F)

With ``k = psi = 0`` and no committed volume the map is the static Bertrand-Nash zeta map of
:func:`~pricewar.kernel.gnl_pricing.gnl_bertrand_nash`, term for term. Products whose price is
set elsewhere (``fixed``: heuristic strategies, committed price cuts) post their price plus
``lambda_F l``: capacity clears for every host, whatever its conduct.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from pricewar.errors import KernelInputError
from pricewar.kernel.arrays import float_array
from pricewar.kernel.customer_states import review_hazard
from pricewar.kernel.fixed_point import anderson_fixed_point
from pricewar.kernel.gnl import GNLDemand, GNLMarket, gnl_demand
from pricewar.kernel.gnl_pricing import gnl_derivatives

#: bounds on one iteration's price change (a factor)
_STEP_DOWN, _STEP_UP = 0.5, 2.0
#: bounds on a firm's load / capacity in one shadow-price step (no capacity, no demand)
_PRESSURE_MIN, _PRESSURE_MAX = 1e-6, 1e6


def with_class_volumes(market: GNLMarket, class_volume, class_logsum_ref) -> GNLMarket:
    """``market`` with each segment-class's reference volume (Mtok/step, (M, K), >= 0) and
    reference inclusive value (utils, (M, K)): ``X_mc = V_mc exp((eta_m/alpha_mc)(IV_mc -
    IV_ref,mc))``."""
    shape = market.class_alpha.shape
    volume = np.asarray(class_volume, dtype=np.float64)
    ref = np.asarray(class_logsum_ref, dtype=np.float64)
    if volume.shape != shape or ref.shape != shape:
        raise KernelInputError(f"class volumes and references must have shape {shape}, got "
                               f"{volume.shape} and {ref.shape}")
    if not np.isfinite(volume).all() or (volume < 0).any():
        raise KernelInputError("class volumes must be finite and >= 0")
    if not np.isfinite(ref).all():
        raise KernelInputError("class reference inclusive values must be finite")
    return replace(market, segment_demand=np.ones(shape[0]), class_weight=volume,
                   class_logsum_ref=ref)


def rival_log_gap(market: GNLMarket, price: np.ndarray) -> np.ndarray:
    """Per stored route, ``log P_r - log P_rival``: the gap to the cheapest route of the same
    (segment, tier) from another firm (``-inf`` where there is none).

    Stored routes are sorted by (segment, tier, family), so each (segment, tier) is one run:
    the run's cheapest price and its firm, then the cheapest price of the other firms, by
    ``reduceat`` over the runs.
    """
    route_price = np.take(price + market.product_price_offset, market.route_product)
    run = market.route_tier_run
    firm = np.take(market.product_firm, market.route_product)
    starts = market.tier_route_start
    cheapest = np.take(np.minimum.reduceat(route_price, starts), run)
    # the firm of the run's cheapest route (the first one where several tie)
    index = np.where(route_price == cheapest, np.arange(run.size), run.size)
    cheapest_firm = np.take(np.take(firm, np.minimum.reduceat(index, starts)), run)
    own = firm == cheapest_firm
    others = np.where(own, np.inf, route_price)
    second = np.take(np.minimum.reduceat(others, starts), run)
    rival = np.where(own, second, cheapest)
    with np.errstate(divide="ignore"):
        return np.log(route_price) - np.log(rival)


@dataclass(frozen=True)
class Review:
    """The review hazard's parameters (per step): base, gap slope, cap
    (:func:`~pricewar.kernel.customer_states.review_hazard`)."""

    base: float = 0.0
    gap_slope: float = 0.0
    cap: float = 1.0


@dataclass(frozen=True, eq=False)
class StatesEquilibrium:
    """Prices that satisfy every firm's first-order condition with capacity.

    ``price`` (N,) USD/Mtok; ``shadow_price`` (F,) ``lambda_F`` USD per load unit; ``shoppers``
    and ``committed`` the demand at ``price``; ``product_demand`` (N,) Mtok/step; ``firm_load``
    (F,) load units per step; ``binding`` (F,) firms whose capacity binds (``lambda > 0``);
    ``residual`` the largest of the relative price change of one more iteration and the relative
    capacity violation; ``iterations``; ``converged``; ``shadow_state`` (F,) the iteration's
    ``mu`` (``lambda = max(mu, 0)``; below 0, a firm's slack in price units) and
    ``solved_price`` (N,) the iteration's prices before any capacity rounds: the next solve's
    warm start.
    """

    price: np.ndarray
    shadow_price: np.ndarray
    shoppers: GNLDemand
    committed: GNLDemand
    product_demand: np.ndarray
    firm_load: np.ndarray
    binding: np.ndarray
    residual: float
    iterations: int
    converged: bool
    shadow_state: np.ndarray
    solved_price: np.ndarray


def _check_same_products(shoppers: GNLMarket, committed: GNLMarket) -> None:
    if (shoppers.n_products != committed.n_products
            or not np.array_equal(shoppers.product_firm, committed.product_firm)
            or shoppers.price_form != committed.price_form
            or not np.array_equal(shoppers.product_price_offset,
                                  committed.product_price_offset)):
        raise KernelInputError("the shoppers' and the committed market must share products, "
                               "firms, price offsets and price form")


def _own_family_term(market: GNLMarket, demand: GNLDemand) -> np.ndarray:
    """Per product ``sum_{m,c} t_k x_k kappa_F s_{k|f}`` (the own route's share of its family
    nest in ``Lambda - Gamma``; :mod:`~pricewar.kernel.gnl_pricing`)."""
    term = demand.route_slope * demand.route_demand
    term *= market.route_kappa_family
    if market.family_start.size < market.route_product.size:  # else s_{k|f} = 1
        term *= demand.route_family_share
    return market.product_sum(term)


def review_slope(committed: GNLMarket, demand: GNLDemand, gap: np.ndarray,
                 review: Review) -> tuple[np.ndarray, np.ndarray]:
    """Per committed stored route the hazard ``h`` (K, n) at its gap, and per product ``R_a =
    sum_r x^C_r h'(g_r) / P_r`` (module docstring)."""
    hazard, slope = review_hazard(gap, review.base, review.gap_slope, review.cap)
    route_price = np.take(demand.price + committed.product_price_offset, committed.route_product)
    slope /= route_price  # a new array (review_hazard's)
    return hazard, committed.product_sum(demand.route_demand * slope)


def states_equilibrium(shoppers: GNLMarket, committed: GNLMarket, cost, *, load=None,
                       capacity=None, complement_value=None, retention_value=None,
                       review: Review = Review(), committed_gap_route=None, fixed=None,
                       fixed_price=None, initial_price=None, initial_shadow=None,
                       tol: float = 1e-10, max_iter: int = 10_000,
                       stall: int | None = None) -> StatesEquilibrium:
    """Solve the module docstring's first-order conditions with capacity (USD/Mtok).

    Parameters (N products, F firms = ``product_firm`` labels)
    ----------
    shoppers, committed : GNLMarket over the same products (:func:`with_class_volumes`)
    cost : (N,) marginal cost, USD/Mtok, >= 0
    load : (N,) capacity load per Mtok (default 1); capacity : (F,) per step (default inf)
    complement_value : (N,) ``omega`` >= 0, USD per Mtok sold to shoppers (default 0)
    retention_value : (N,) ``X = x / (1 - x)`` >= 0, ``psi = X max(m, 0)`` (default 0:
        :func:`~pricewar.kernel.customer_states.retention_factor`)
    review : the hazard's parameters; committed_gap_route : (n_committed,) the shoppers' stored
        route of each committed stored route (same segment and product), for its price gap
    fixed, fixed_price : (N,) products priced elsewhere and their price before capacity
    initial_price, initial_shadow : starting point (warm start); ``initial_shadow`` is ``mu``
        (``lambda = max(mu, 0)``; a firm with slack may start below 0: ``shadow_state``)
    tol, max_iter : stop when the residual is below ``tol``, or after ``max_iter`` iterations
        (then ``converged`` is False: the caller reports it)
    stall : also stop (unconverged, at the best point) after ``stall`` iterations without a
        new best residual (:func:`~pricewar.kernel.fixed_point.anderson_fixed_point`)
    """
    _check_same_products(shoppers, committed)
    n = shoppers.n_products
    firm = shoppers.product_firm
    n_firms = int(firm.max(initial=-1)) + 1
    cost = float_array("cost", cost, n, nonneg=True)
    load = np.ones(n) if load is None else float_array("load", load, n, nonneg=True)
    if capacity is None:
        capacity = np.full(n_firms, np.inf)
    else:  # one per firm label, firms without a product included
        capacity = float_array("capacity", capacity, nonneg=True, allow_inf=True)
        if capacity.size < n_firms:
            raise KernelInputError(f"capacity has {capacity.size} values, expected one per firm "
                                   f"label (>= {n_firms})")
        n_firms = capacity.size
    omega = np.zeros(n) if complement_value is None else float_array(
        "complement_value", complement_value, n, nonneg=True)
    retention = np.zeros(n) if retention_value is None else float_array(
        "retention_value", retention_value, n, nonneg=True)
    fixed = np.zeros(n, dtype=bool) if fixed is None else np.asarray(fixed, dtype=bool)
    base_fixed = np.zeros(n) if fixed_price is None else float_array("fixed_price", fixed_price,
                                                                    n, nonneg=True)
    reviews = bool(retention.any()) and committed_gap_route is not None and review.gap_slope > 0
    price = (2.0 * cost + shoppers.product_price_offset + (cost == 0) if initial_price is None
             else float_array("initial_price", initial_price, n).copy())
    price = np.where(fixed, np.maximum(base_fixed, 1e-12), price)
    shadow = (np.zeros(n_firms) if initial_shadow is None
              else float_array("initial_shadow", initial_shadow, n_firms).copy())

    elasticity = [None]  # the firms' load elasticities (_load_elasticity), from the start point

    def step(point: np.ndarray):
        """One zeta step and one shadow-price step from ``point = (price, mu)``, ``lambda =
        max(mu, 0)`` (:func:`_move_shadow`)."""
        price, mu = point[:n], point[n:]
        shadow = np.maximum(mu, 0.0)
        demand_s, demand_c = gnl_demand(shoppers, price), gnl_demand(committed, price)
        quantity = demand_s.product_demand + demand_c.product_demand
        effective = cost + shadow[firm] * load
        margin = price - effective
        psi = retention * np.maximum(margin, 0.0)  # the value of a customer won
        shopper_margin = margin + psi + omega
        # one derivative pass per market for the margins' sibling terms, and in the first
        # iteration the loads' (the firms' load elasticities, held for the solve)
        first = elasticity[0] is None
        both_s = gnl_derivatives(shoppers, demand_s, markup=np.stack([shopper_margin, load])
                                 if first else shopper_margin)
        both_c = gnl_derivatives(committed, demand_c, markup=np.stack([margin, load])
                                 if first else margin)
        der_s = replace(both_s, phi=both_s.phi[0], firm_cross=both_s.firm_cross[0]) if first \
            else both_s
        der_c = replace(both_c, phi=both_c.phi[0], firm_cross=both_c.firm_cross[0]) if first \
            else both_c
        # the own route's family-nest term moves from Phi to Lambda (same fixed point): a
        # product alone in its family nest then contracts at 1 - lambda_T eta/alpha a step
        own_s = _own_family_term(shoppers, demand_s)
        own_c = _own_family_term(committed, demand_c)
        lam_s, lam_c = der_s.lam - own_s, der_c.lam - own_c
        numerator = (quantity - omega * lam_s + der_s.phi - shopper_margin * own_s
                     + der_c.phi - margin * own_c)
        slope_review = (review_slope(committed, demand_c, rival_log_gap(shoppers, price)[
            committed_gap_route], review)[1] if reviews else 0.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            # margins >= 0: psi = X m adds X Lambda^S and the reviews' X R to the slope
            positive = numerator / ((1.0 + retention) * lam_s + lam_c + retention * slope_review)
            negative = numerator / (lam_s + lam_c)  # below cost: no customer value
            target = effective + np.where(positive >= 0, positive, negative)
        target = np.where(lam_s + lam_c > 0, target, price)  # nobody buys: price kept
        target = np.where(fixed, base_fixed + shadow[firm] * load, target)
        firm_load = np.bincount(firm, quantity * load, n_firms)
        if first:
            # the firm's load response to a uniform rise of its prices: own and sibling terms,
            # sum_a p_a dL_F/dp_a with dL_F/dp_a = l_a dQ_a/dp_a + sum_{b != a in F} l_b dQ_b/dp_a
            elasticity[0] = _load_elasticity(firm, price * (
                load * (der_s.own + der_c.own) + both_s.firm_cross[1] + both_c.firm_cross[1]),
                firm_load, n_firms)
        # a firm without capacity (its fleet gone this week) cannot clear by any finite price
        # under logit demand: no pressure on its prices, its demand is refused (rationed)
        with np.errstate(divide="ignore", invalid="ignore"):
            pressure = np.where(capacity > 0, firm_load / capacity, 0.0)
        violation = np.where(shadow > 0, np.abs(pressure - 1.0), np.maximum(pressure - 1.0, 0.0))
        # the shadow price moves so that this step's prices clear capacity (Gauss-Seidel: the
        # prices below carry the new shadow price, not one iteration later)
        new_mu = _move_shadow(mu, pressure, quantity, price, target, firm_load,
                              elasticity[0], firm, n_firms)
        route_price = price + shoppers.product_price_offset
        # the first-order conditions' residual at this shadow price (a firm at capacity has
        # its prices pinned by it whatever lambda: its lambda is right where this is 0)
        foc_gap = np.abs(target - price) / route_price
        target = target + (np.maximum(new_mu, 0.0) - shadow)[firm] * load
        target = np.clip(target + shoppers.product_price_offset, _STEP_DOWN * route_price,
                         _STEP_UP * route_price) - shoppers.product_price_offset
        target = np.where(fixed, base_fixed + np.maximum(new_mu, 0.0)[firm] * load,
                          np.maximum(target, 0.0))
        # np.max, not max(): a demand that overflowed (NaN load) must not read as converged
        residual = float(np.max(np.r_[np.abs(target - price) / route_price, foc_gap,
                                      np.minimum(violation, 1e300), 0.0]))
        outcome = (demand_s, demand_c, quantity, firm_load)
        return np.concatenate([target, new_mu]), residual, outcome

    def admissible(candidate: np.ndarray) -> bool:  # prices >= 0; mu has any sign
        return bool((candidate[:n] >= 0).all())

    point, residual, iterations, converged, outcome = anderson_fixed_point(
        step, np.concatenate([price, shadow]), tol, max_iter, admissible, stall)
    demand_s, demand_c, quantity, firm_load = outcome
    price = solved_price = point[:n]
    shadow_state = point[n:]
    shadow = np.maximum(shadow_state, 0.0)
    binding = shadow > 0
    if not converged and np.isfinite(capacity).any():
        # what the iteration left over capacity is priced away: each firm beyond its capacity
        # raises its prices by the factor that clears at its load elasticity, repeatedly (prices
        # only rise, so a rival's spill-over only adds to its demand: the rounds are monotone);
        # the rounds' demand replaces the solve's, freed first
        outcome = demand_s = demand_c = None
        price, demand_s, demand_c, quantity, firm_load, raised = _raise_to_capacity(
            shoppers, committed, price, fixed, load, capacity, elasticity[0], firm, n_firms)
        binding = binding | raised
    return StatesEquilibrium(price, shadow, demand_s, demand_c, quantity, firm_load, binding,
                             residual, iterations, converged, shadow_state, solved_price)


#: rounds and relative tolerance of the capacity-clearing price rises after an unconverged solve
CLEARING_ROUNDS = 20
CLEARING_TOL = 1e-3


def _raise_to_capacity(shoppers, committed, price, fixed, load, capacity, eps, firm, n_firms):
    """Raise the prices of firms over their (positive) capacity until their load is within
    :data:`CLEARING_TOL` of it (at most :data:`CLEARING_ROUNDS` rounds): factor
    ``(L_F/K_F)^(1/eps_F)`` with ``eps_F >= 1`` the firm's load elasticity from the solve
    (:func:`_load_elasticity`)."""
    raised = np.zeros(n_firms, dtype=bool)
    for _ in range(CLEARING_ROUNDS):
        demand_s = demand_c = None  # the last round's demand, freed before this round's
        demand_s, demand_c = gnl_demand(shoppers, price), gnl_demand(committed, price)
        quantity = demand_s.product_demand + demand_c.product_demand
        firm_load = np.bincount(firm, quantity * load, n_firms)
        with np.errstate(divide="ignore", invalid="ignore"):  # (no capacity: refused instead)
            over = (firm_load > capacity * (1.0 + CLEARING_TOL)) & (capacity > 0)
        if not over.any():
            break
        raised |= over
        with np.errstate(divide="ignore", invalid="ignore"):
            factor = np.where(over, np.minimum(firm_load / capacity, _PRESSURE_MAX)
                              ** (1.0 / eps), 1.0)
        route_price = price + shoppers.product_price_offset
        price = route_price * factor[firm] - shoppers.product_price_offset
    return price, demand_s, demand_c, quantity, firm_load, raised


def _load_elasticity(firm, load_slope, firm_load, n_firms):
    """``eps_F``: the elasticity of a firm's load to a uniform rise of its prices
    (``load_slope`` per product: ``p_a dL_F/dp_a``), at least 1 (1 where the firm has no load)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        eps = np.maximum(-np.bincount(firm, load_slope, n_firms) / firm_load, 1.0)
    return np.where(np.isfinite(eps), eps, 1.0)


def _move_shadow(mu, pressure, quantity, price, target, firm_load, eps, firm, n_firms):
    """``mu_F <- max(mu_F, 0) + sum_a Q_a (f_F p_a - t_a) / sum_a Q_a l_a``, the shadow price
    ``lambda_F = max(mu_F, 0)``: the change that moves the firm's first-order-condition targets
    ``t_a`` (at the current ``lambda``) to the prices that clear its capacity, ``f_F p_a`` with
    ``f_F = (L_F / K_F)^(1/eps_F)`` (``eps``, :func:`_load_elasticity` at the solve's start
    point: a step size, not the fixed point) and ``L_F`` the firm's load
    ``firm_load``.

    A binding firm (``mu > 0``) gets the shadow price whose prices clear its capacity this
    iteration; a firm with slack settles at ``mu < 0``, its slack in price units. So the
    complementarity ``lambda (K - L) = 0`` is solved away from the kink of ``max(., 0)``
    wherever a firm is strictly binding or strictly slack (a semismooth reformulation), and the
    prices carry the new shadow price at once: a step on ``lambda`` alone, with prices following
    one contraction later, overshot and cycled among hosts of one family with capacity."""
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.clip(pressure, _PRESSURE_MIN, _PRESSURE_MAX) ** (1.0 / eps)
        step = np.bincount(firm, quantity * (factor[firm] * price - target), n_firms) / firm_load
    step = np.where(np.isfinite(step), step, 0.0)  # a firm that sells nothing keeps it
    return np.maximum(mu, 0.0) + step
