"""What producers see when they set prices, and the best-response target all strategies share."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pricewar.kernel import (
    MarketDemand,
    RouteMarket,
    best_response,
    market_demand,
    own_price_derivative,
)


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
    strategy_params : the scenario's ``strategy_params``: strategy name -> its parameter
        dataclass (strategies registered with ``params``)
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
    strategy_params: dict = field(default_factory=dict)
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
