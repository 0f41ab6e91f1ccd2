"""Static pricing strategies: damped best response, Nash, undercutting, cost-plus."""

from __future__ import annotations

import numpy as np

from pricewar.errors import ConvergenceError
from pricewar.kernel import (
    bertrand_nash,
    best_response,
)
from pricewar.strategies.base import PricingView, best_response_target, cheapest_rival_price
from pricewar.strategies.registry import register


@register("best_response")
def best_response_step(view: PricingView, members: np.ndarray) -> np.ndarray:
    """One damped step toward the best response to rivals' current prices (gradual price war)."""
    target = best_response_target(view)
    damping = view.params.best_response_damping
    base = view.price[members]
    return base + damping * (target[members] - base)


@register("nash")
def nash_prices(view: PricingView, members: np.ndarray, tol: float = 1e-9,
                max_iter: int = 2000) -> np.ndarray:
    """The static Bertrand-Nash prices, holding non-members at their current list prices."""
    n = view.price.size
    if members.size == n:
        return bertrand_nash(view.market, view.marginal_cost, initial_price=view.price,
                             tol=tol, max_iter=max_iter)[members]
    price = view.price.copy()
    residual = np.inf
    for _ in range(max_iter):
        target = best_response(view.market, price, view.marginal_cost)[members]
        residual = float(np.max(np.abs(target - price[members]) / price[members]))
        price[members] += 0.5 * (target - price[members])
        if residual < tol:
            return price[members]
    raise ConvergenceError(f"partial Nash for {members.size} producers did not converge "
                           f"(residual {residual:.2e})", residual, max_iter)


@register("undercut")
def undercut(view: PricingView, members: np.ndarray) -> np.ndarray:
    """Cut to just below the cheapest rival met in any shared consumer segment.

    Never below marginal cost. A producer already cheapest among its rivals moves toward its
    best response instead (it has nobody left to undercut).
    """
    rival_min = cheapest_rival_price(view.market, view.price)
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
