"""Random route markets for property tests and benchmarks (reproducible by seed)."""

from __future__ import annotations

import numpy as np

from pricewar.kernel import RouteMarket, RouteTopology


def random_route_market(n_consumers: int, n_producers: int, routes_per_consumer: int = 5,
                        seed: int = 0, price_form: str = "log",
                        capacity_factor: float = 1.0) -> tuple[RouteMarket, np.ndarray, np.ndarray]:
    """A random market with ``n_consumers * routes_per_consumer`` routes (on average).

    Each consumer gets between 0 and ``2 * routes_per_consumer`` routes to random producers (a
    producer may appear twice, as if listed on two platforms). Producers' capacities are
    ``capacity_factor`` times their share of total demand at the returned prices, drawn around 1,
    so about half of them are over capacity when ``capacity_factor`` is 1.

    Returns
    -------
    market : RouteMarket
    producer_price : USD/Mtok, shape (n_producers,)
    marginal_cost : USD/Mtok, shape (n_producers,)
    """
    rng = np.random.default_rng(seed)
    counts = rng.integers(0, 2 * routes_per_consumer + 1, n_consumers)
    ptr = np.concatenate([[0], np.cumsum(counts)])
    n_routes = int(ptr[-1])
    topology = RouteTopology(ptr, rng.integers(0, n_producers, n_routes), n_producers)
    alpha = rng.uniform(1.5, 4.0, n_consumers) if price_form == "log" else rng.uniform(
        0.5, 4.0, n_consumers)
    demand = rng.lognormal(0.0, 1.0, n_consumers)
    cost = rng.uniform(0.1, 1.0, n_producers)
    price = cost * rng.uniform(1.1, 2.0, n_producers)
    expected_load = demand.sum() * 0.5 / max(n_producers, 1)
    capacity = capacity_factor * expected_load * rng.uniform(0.3, 2.0, n_producers)
    market = RouteMarket(
        topology,
        route_utility=rng.normal(0.0, 1.0, n_routes),
        route_price_extra=rng.uniform(0.0, 0.2, n_routes),
        consumer_alpha=alpha,
        consumer_demand=demand,
        consumer_outside_utility=rng.normal(-1.0, 1.0, n_consumers),
        producer_capacity=capacity,
        price_form=price_form,
    )
    return market, price, cost
