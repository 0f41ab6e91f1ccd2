"""Static pricing strategies: damped best response, Nash, undercutting, cost-plus."""

from __future__ import annotations

import logging

import numpy as np

from pricewar.errors import ConvergenceError
from pricewar.kernel import bertrand_nash
from pricewar.strategies.base import PricingView, best_response_target, cheapest_rival_price
from pricewar.strategies.registry import register

log = logging.getLogger(__name__)

#: iterations the kernel's Bertrand-Nash gets before the adaptive damped iteration takes over
KERNEL_NASH_ITERATIONS = 300


@register("best_response")
def best_response_step(view: PricingView, members: np.ndarray) -> np.ndarray:
    """One damped step toward the best response to rivals' current prices (gradual price war)."""
    target = best_response_target(view)
    damping = view.params.best_response_damping
    base = view.price[members]
    return base + damping * (target[members] - base)


def damped_best_response_nash(view: PricingView, members: np.ndarray, tol: float = 1e-9,
                              max_iter: int = 2000) -> tuple[np.ndarray, float]:
    """The Bertrand-Nash prices of ``members``, others held at their current list prices, by
    damped best-response iteration ``p <- p + d (BR(p) - p)`` with adaptive damping: ``d``
    halves (down to 1/1024) whenever the largest relative step grows and recovers by 10% (up to
    1/2) while it shrinks. This breaks the two-cycles a product meets when it is alone in its
    family for some consumers and faces a close substitute for others (its best response then
    falls steeply in its own price).

    Returns the prices and the residual (largest relative step) reached: below ``tol``, or the
    best iterate after ``max_iter`` iterations.
    """
    price = view.price.copy()
    best, best_residual = price[members].copy(), np.inf
    damping, previous = 0.5, np.inf
    for _ in range(max_iter):
        step = PricingView(view.market, price, view.marginal_cost, view.full_cost, view.cash,
                           view.params)
        target = best_response_target(step)[members]
        residual = float(np.max(np.abs(target - price[members]) / price[members], initial=0.0))
        if residual < best_residual:
            best, best_residual = target.copy(), residual
        if residual < tol:
            return target, residual
        damping = (max(damping / 2.0, 1.0 / 1024.0) if residual > previous
                   else min(damping * 1.1, 0.5))
        previous = residual
        price[members] += damping * (target - price[members])
    return best, best_residual


@register("nash")
def nash_prices(view: PricingView, members: np.ndarray, tol: float = 1e-9,
                max_iter: int = 300) -> np.ndarray:
    """The static Bertrand-Nash prices, holding non-members at their current list prices: the
    kernel's equilibrium when everyone plays it, else (or where the kernel's iteration cycles)
    :func:`damped_best_response_nash`. Where that does not reach ``tol`` either (a product's
    profit need not be quasi-concave in its own price when it is alone in its family for some
    consumers and meets a near-perfect substitute for others), the best iterate is used and a
    warning logged with its residual."""
    n = view.price.size
    if members.size == n:
        try:
            return bertrand_nash(view.market, view.marginal_cost, initial_price=view.price,
                                 tol=tol, max_iter=min(max_iter, KERNEL_NASH_ITERATIONS))[members]
        except ConvergenceError:
            pass
    price, residual = damped_best_response_nash(view, members, tol, max_iter)
    if residual >= tol:
        log.warning("step %d: Nash prices of %d products reached a residual of %.2e only "
                    "(tolerance %.0e): using the best iterate", view.step, members.size,
                    residual, tol)
    return price


@register("undercut")
def undercut(view: PricingView, members: np.ndarray) -> np.ndarray:
    """Cut to just below the cheapest comparable rival met in any shared consumer segment.

    Comparable: the same ``view.producer_group`` (a product's capability tier) and another firm
    (``view.producer_firm``: a host does not undercut itself). Never below marginal cost. A unit
    already cheapest among its rivals moves toward its best response instead (it has nobody
    left to undercut).
    """
    rival_min = cheapest_rival_price(view.market, view.price, view.producer_group,
                                     view.producer_firm)
    target = rival_min * (1.0 - view.params.undercut_fraction)
    br = best_response_step(view, np.arange(view.price.size))
    own = view.price
    price = np.where(own > rival_min, target, br)
    price = np.where(np.isfinite(rival_min), price, br)
    return np.maximum(price, view.marginal_cost)[members]


@register("cost_plus")
def cost_plus(view: PricingView, members: np.ndarray) -> np.ndarray:
    """A fixed markup over full unit cost."""
    return view.full_cost[members] * (1.0 + view.params.cost_plus_markup)
