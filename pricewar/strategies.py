"""Producer pricing strategies: one vectorized function each, registered by name (DESIGN §7).

A strategy is ``fn(view, members) -> base prices`` for the producers ``members`` (an int array),
where ``view`` is a :class:`PricingView` of the market this step. Adding one is a function, a
registry line (``@register("name")``) and a test. Scarcity (peak) pricing is applied on top of
every strategy by the model (:func:`scarcity_multiplier`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from pricewar.errors import ConvergenceError
from pricewar.kernel import (
    MarketDemand,
    RouteMarket,
    bertrand_nash,
    best_response,
    market_demand,
    own_price_derivative,
)

Strategy = Callable[["PricingView", np.ndarray], np.ndarray]
STRATEGY_REGISTRY: dict[str, Strategy] = {}


def register(name: str) -> Callable[[Strategy], Strategy]:
    """Decorator adding a strategy to :data:`STRATEGY_REGISTRY` under ``name``."""
    def wrap(fn: Strategy) -> Strategy:
        STRATEGY_REGISTRY[name] = fn
        return fn
    return wrap


@dataclass(eq=False)
class PricingView:
    """What producers see when they set prices (arrays over all producers, USD/Mtok).

    Attributes
    ----------
    market : RouteMarket at this step's demand, utilities and platform markups
    price : last step's list prices before any scarcity surcharge (the strategies' state)
    marginal_cost, full_cost : this step's costs
    cash : producers' cash (USD)
    params : the scenario's Pricing parameters
    demand : MarketDemand at ``price`` (computed once, shared by strategies)
    producer_ids : Mesa ``unique_id`` of each producer (stable across exit and entry)
    state : dict persisted by the model across steps, for strategies with memory (each
        strategy keeps its own entry, e.g. ``state["q_learning"]``)
    step : the model step being priced
    rng : the model's numpy Generator (use it for any randomness: runs stay reproducible)

    Strategies compete in list prices; the scarcity surcharge is a separate, capacity-driven
    overlay (:func:`scarcity_update`), so it never feeds back into the strategies' markups.
    """

    market: RouteMarket
    price: np.ndarray
    marginal_cost: np.ndarray
    full_cost: np.ndarray
    cash: np.ndarray
    params: object
    demand: MarketDemand | None = None
    producer_ids: np.ndarray | None = None
    state: dict = field(default_factory=dict)
    step: int = 0
    rng: np.random.Generator | None = None

    def current_demand(self) -> MarketDemand:
        if self.demand is None:
            self.demand = market_demand(self.market, self.price)
        return self.demand


def best_response_target(view: PricingView) -> np.ndarray:
    """Each producer's best response to rivals' current prices (USD/Mtok).

    With ``phi = log P`` the first-order condition is the inverse-elasticity rule
    ``p = c / (1 - 1/e)`` with own-price elasticity ``e = -dQ/dp x p / Q``, which depends on the
    own price only weakly (through shares and route price extras), so evaluating ``e`` at the
    current price gives nearly the exact best response; iterating the additive map
    ``c + Q/|dQ/dp|`` instead contracts only by ``1/alpha`` per step. Where demand is inelastic
    (``e <= 1``, no interior optimum at current shares) the price doubles (a bounded step up).
    With the linear form the kernel's map is used.
    """
    demand = view.current_demand()
    if view.market.price_form != "log":
        return best_response(view.market, view.price, view.marginal_cost, demand=demand)
    slope = -own_price_derivative(view.market, demand)
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse_elasticity = demand.producer_demand / (view.price * slope)
        target = np.where(inverse_elasticity < 1.0,
                          view.marginal_cost / (1.0 - inverse_elasticity), 2.0 * view.price)
    return np.where((slope > 0) & np.isfinite(target), target, view.price)


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


def cheapest_rival_price(market: RouteMarket, producer_price: np.ndarray) -> np.ndarray:
    """Per producer, the lowest price of any *other* producer reachable by a shared consumer.

    ``inf`` for producers without rivals. Vectorized with the two lowest producer prices per
    consumer: a producer's rival minimum at consumer j is the lowest price at j unless it is that
    producer, then the second lowest.
    """
    topo = market.topology
    n = producer_price.size
    route_price = producer_price[topo.route_producer]
    if topo.n_routes == 0:
        return np.full(n, np.inf)
    # order routes by (consumer, price): the first route of each consumer is its cheapest
    order = np.lexsort((route_price, topo.route_consumer))
    consumer_sorted = topo.route_consumer[order]
    first = np.flatnonzero(np.r_[True, consumer_sorted[1:] != consumer_sorted[:-1]])
    cheapest_producer = np.full(topo.n_consumers, -1)
    cheapest_price = np.full(topo.n_consumers, np.inf)
    cheapest_producer[consumer_sorted[first]] = topo.route_producer[order[first]]
    cheapest_price[consumer_sorted[first]] = route_price[order[first]]
    # second cheapest price from a different producer
    other = topo.route_producer[order] != cheapest_producer[consumer_sorted]
    second_price = np.full(topo.n_consumers, np.inf)
    np.minimum.at(second_price, consumer_sorted[other], route_price[order][other])
    j = topo.route_consumer
    rival_at_route = np.where(topo.route_producer == cheapest_producer[j], second_price[j],
                              cheapest_price[j])
    result = np.full(n, np.inf)
    np.minimum.at(result, topo.route_producer, rival_at_route)
    return result


def scarcity_update(surcharge: np.ndarray, demand: np.ndarray, capacity: np.ndarray,
                    elasticity: np.ndarray, threshold: float, max_increase: float) -> np.ndarray:
    """Peak-pricing surcharge factor (>= 1, dimensionless), adjusted by excess demand.

    Each step the factor moves by ``(demand / (threshold x capacity)) ** (1 / elasticity)``:
    the price change that would bring demand down to the threshold load given the own-price
    elasticity; it is bounded to ``[1, 1 + max_increase]`` and decays back to 1 once capacity
    is no longer tight (a tatonnement, so it never compounds without bound).

    Parameters
    ----------
    surcharge : current factors, shape (n_producers,)
    demand : unconstrained demand at posted prices (Mtok/step)
    capacity : capacity (Mtok/step)
    elasticity : own-price elasticity ``-dQ/dp x p / Q`` (> 0)
    threshold : utilisation at which peak pricing starts (0-1)
    max_increase : largest surcharge (0.5 = +50%)
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        pressure = demand / (threshold * capacity)
        step = np.where(demand > 0, pressure ** (1.0 / np.maximum(elasticity, 1e-3)), 0.0)
    step = np.nan_to_num(step, nan=1.0, posinf=1.0 + max_increase)
    return np.clip(surcharge * step, 1.0, 1.0 + max_increase)
from pricewar import qlearning_strategy  # noqa: E402,F401  (registers "q_learning")
