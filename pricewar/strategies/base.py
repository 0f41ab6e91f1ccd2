"""What producers see when they set prices, and the best-response target all strategies share."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pricewar.kernel import (
    MarketDemand,
    RouteMarket,
    best_response,
    inverse_elasticity_response,
    market_demand,
)


@dataclass(eq=False)
class PricingView:
    """What producers see when they set prices (arrays over all price-setting units, USD/Mtok).

    In the token market the price-setting unit -- the kernel's *producer* -- is a product: one
    host's offer of one model family; a host (the firm) prices all its products.

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
    producer_ids : a stable id of each unit (products: an id kept across topology changes)
    producer_group : comparability class of each unit (products: the capability tier rank);
        ``undercut`` meets rivals of the same class only. None: all comparable
    producer_firm : firm of each unit (products: the host); a firm never undercuts itself.
        None: every unit its own firm
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
    producer_group: np.ndarray | None = None
    producer_firm: np.ndarray | None = None
    state: dict = field(default_factory=dict)
    step: int = 0
    rng: np.random.Generator | None = None

    def current_demand(self) -> MarketDemand:
        if self.demand is None:
            self.demand = market_demand(self.market, self.price)
        return self.demand


def best_response_target(view: PricingView) -> np.ndarray:
    """Each unit's best response to rivals' current prices (USD/Mtok).

    With ``phi = log P`` the first-order condition is the inverse-elasticity rule
    ``p = c / (1 - L)`` (:func:`~pricewar.kernel.inverse_elasticity_response`: a multi-product
    firm counts the cannibalisation of its other products), which depends on the own price only
    weakly, so evaluating it at the current price gives nearly the exact best response; iterating
    the additive map ``c + Q/|dQ/dp|`` instead contracts only by ``1/alpha`` per step. Where
    demand is inelastic (no interior optimum at current shares) the price doubles (a bounded step
    up). With the linear form the kernel's map is used.
    """
    demand = view.current_demand()
    if view.market.price_form != "log":
        return best_response(view.market, view.price, view.marginal_cost, demand=demand)
    return inverse_elasticity_response(view.market, view.price, view.marginal_cost, demand=demand)


def cheapest_rival_price(market: RouteMarket, producer_price: np.ndarray,
                         producer_group: np.ndarray | None = None,
                         producer_firm: np.ndarray | None = None) -> np.ndarray:
    """Per unit, the lowest price of a comparable unit of *another* firm met at a shared consumer.

    Comparable: the same ``producer_group`` (e.g. the capability tier of a product; None: all);
    another firm: a different ``producer_firm`` (None: every unit its own firm). ``inf`` for
    units without such rivals. Vectorized with the two lowest prices of different firms per
    (consumer, group): a unit's rival minimum there is the lowest price unless its own firm
    holds it, then the second lowest.
    """
    topo = market.topology
    n = producer_price.size
    if topo.n_routes == 0:
        return np.full(n, np.inf)
    group_of = np.zeros(n, np.int64) if producer_group is None else np.asarray(producer_group)
    firm_of = np.arange(n) if producer_firm is None else np.asarray(producer_firm)
    route_unit = topo.route_producer
    route_price = producer_price[route_unit]
    route_firm = firm_of[route_unit]
    # segment = (consumer, group); order routes by (segment, price): the first is the cheapest
    n_groups = int(group_of.max(initial=0)) + 1
    segment = topo.route_consumer * n_groups + group_of[route_unit]
    _, segment = np.unique(segment, return_inverse=True)
    n_segments = int(segment.max(initial=-1)) + 1
    order = np.lexsort((route_price, segment))
    segment_sorted = segment[order]
    first = np.flatnonzero(np.r_[True, segment_sorted[1:] != segment_sorted[:-1]])
    cheapest_firm = np.full(n_segments, -1)
    cheapest_price = np.full(n_segments, np.inf)
    cheapest_firm[segment_sorted[first]] = route_firm[order[first]]
    cheapest_price[segment_sorted[first]] = route_price[order[first]]
    # second cheapest price from a different firm
    other = route_firm[order] != cheapest_firm[segment_sorted]
    second_price = np.full(n_segments, np.inf)
    np.minimum.at(second_price, segment_sorted[other], route_price[order][other])
    rival_at_route = np.where(route_firm == cheapest_firm[segment], second_price[segment],
                              cheapest_price[segment])
    result = np.full(n, np.inf)
    np.minimum.at(result, route_unit, rival_at_route)
    return result
