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


def random_nested_market(n_consumers: int, n_producers: int, routes_per_consumer: int = 5,
                         seed: int = 0, price_form: str = "log", capacity_factor: float = 1.0,
                         n_nests: int = 4, sigma_max: float = 0.9, eta_max: float = 2.0,
                         n_hosts: int | None = None, multi_product_share: float = 0.5,
                         no_outside_share: float = 0.0,
                         rationing: str = "rechoice") -> tuple[RouteMarket, np.ndarray, np.ndarray]:
    """A random demand-v2 market: nests, an upper level, hosts and multi-product firms.

    Each producer (a product) belongs to one of ``n_nests`` nests (families) with
    ``sigma ~ U(0, sigma_max)``; each consumer's routes are sorted by nest. ``eta_j ~ U(0,
    min(eta_max, alpha_j))`` (so rivals stay substitutes), the reference inclusive value is drawn
    near the consumer's inclusive value. Producers sit on ``n_hosts`` hosts (default
    ``n_producers // 3``) with loads ``U(0.5, 2)`` per Mtok and capacities ``capacity_factor``
    times their expected load, drawn around 1. About ``multi_product_share`` of producers belong
    to firms owning one product in each of several nests. A share ``no_outside_share`` of
    consumers has no outside option.

    Returns
    -------
    market : RouteMarket
    producer_price : USD/Mtok, shape (n_producers,)
    marginal_cost : USD/Mtok, shape (n_producers,)
    """
    rng = np.random.default_rng(seed)
    producer_nest = rng.integers(0, n_nests, n_producers)
    # firms: the k-th product of every nest belongs to firm k, for the first ranks; the others
    # are single-product firms
    order = np.lexsort((rng.random(n_producers), producer_nest))
    rank = np.empty(n_producers, dtype=np.int64)
    starts = np.searchsorted(producer_nest[order], np.arange(n_nests))
    rank[order] = np.arange(n_producers) - np.repeat(starts, np.bincount(producer_nest,
                                                                         minlength=n_nests))
    multi_ranks = int(round(multi_product_share * n_producers / max(n_nests, 1)))
    producer_firm = np.where(rank < multi_ranks, rank, multi_ranks + np.arange(n_producers))
    producer_firm = np.unique(producer_firm, return_inverse=True)[1]
    n_hosts = max(1, n_producers // 3) if n_hosts is None else n_hosts
    producer_host = rng.integers(0, n_hosts, n_producers)

    counts = rng.integers(0, 2 * routes_per_consumer + 1, n_consumers)
    ptr = np.concatenate([[0], np.cumsum(counts)])
    n_routes = int(ptr[-1])
    route_consumer = np.repeat(np.arange(n_consumers), counts)
    route_producer = rng.integers(0, n_producers, n_routes)
    order = np.lexsort((route_producer, producer_nest[route_producer], route_consumer))
    route_producer = route_producer[order]
    topology = RouteTopology(ptr, route_producer, n_producers,
                             route_nest=producer_nest[route_producer],
                             producer_host=producer_host, n_hosts=n_hosts,
                             producer_firm=producer_firm)
    alpha = rng.uniform(1.5, 4.0, n_consumers) if price_form == "log" else rng.uniform(
        0.5, 4.0, n_consumers)
    demand = rng.lognormal(0.0, 1.0, n_consumers)
    cost = rng.uniform(0.1, 1.0, n_producers)
    price = cost * rng.uniform(1.1, 2.0, n_producers)
    outside = rng.normal(-1.0, 1.0, n_consumers)
    outside[rng.random(n_consumers) < no_outside_share] = -np.inf
    load = rng.uniform(0.5, 2.0, n_producers)
    expected_load = demand.sum() * 0.5 * load.mean() / n_hosts
    market = RouteMarket(
        topology,
        route_utility=rng.normal(0.0, 1.0, n_routes),
        route_price_extra=rng.uniform(0.0, 0.2, n_routes),
        consumer_alpha=alpha,
        consumer_demand=demand,
        consumer_outside_utility=outside,
        price_form=price_form,
        nest_sigma=rng.uniform(0.0, sigma_max, n_nests),
        consumer_eta=rng.uniform(0.0, 1.0, n_consumers) * np.minimum(eta_max, alpha),
        consumer_logsum_ref=rng.normal(0.0, 1.0, n_consumers),
        host_capacity=capacity_factor * expected_load * rng.uniform(0.3, 2.0, n_hosts),
        producer_load=load,
        rationing=rationing,
    )
    return market, price, cost
