"""The market graph (networkx) and its compilation to the kernel's flat route arrays.

Nodes are ``("consumer", j)``, ``("platform", k)`` and ``("producer", i)`` with the agents' array
indices; edges consumer -> platform (access) and platform -> producer (listing). A route
``r = (j, k, i)`` exists for every consumer -> platform -> producer path whose producer region the
consumer's region does not bar and whose round-trip latency is within the consumer's tolerance.
Compilation is vectorized (a CSR join of the two edge lists); it runs once per topology change.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from pricewar.kernel import RouteTopology

ACCESS_CODE = {"allowed": 0, "friction": 1, "barred": 2}


@dataclass(frozen=True, eq=False)
class RouteTable:
    """Compiled routes, CSR-ordered by consumer, with their static attributes.

    Attributes
    ----------
    topology : RouteTopology
    route_consumer, route_platform, route_producer : int arrays, shape (n_routes,)
    route_latency_ms : float array, round-trip latency of the route (ms)
    route_friction : bool array, True where the consumer's region meets policy friction
    route_cross_region : bool array, True where consumer and producer regions differ
    """

    topology: RouteTopology
    route_consumer: np.ndarray
    route_platform: np.ndarray
    route_producer: np.ndarray
    route_latency_ms: np.ndarray
    route_friction: np.ndarray
    route_cross_region: np.ndarray


def build_market_graph(consumer_region: np.ndarray, consumer_platforms: list[np.ndarray],
                       platform_listings: list[np.ndarray], producer_region: np.ndarray,
                       platform_region: np.ndarray, region_names: list[str]) -> nx.DiGraph:
    """The market graph: consumers -> platforms they use -> producers the platforms list.

    Parameters
    ----------
    consumer_region, producer_region, platform_region : int arrays of region indices
    consumer_platforms : per consumer, the platform indices it uses
    platform_listings : per platform, the producer indices it lists
    region_names : names of the region indices
    """
    graph = nx.DiGraph()
    graph.add_nodes_from((("producer", int(i)), {"kind": "producer",
                                                 "region": region_names[producer_region[i]]})
                         for i in range(producer_region.size))
    graph.add_nodes_from((("platform", int(k)), {"kind": "platform",
                                                 "region": region_names[platform_region[k]]})
                         for k in range(platform_region.size))
    graph.add_nodes_from((("consumer", int(j)), {"kind": "consumer",
                                                 "region": region_names[consumer_region[j]]})
                         for j in range(consumer_region.size))
    graph.add_edges_from((("consumer", int(j)), ("platform", int(k)))
                         for j, platforms in enumerate(consumer_platforms) for k in platforms)
    graph.add_edges_from((("platform", int(k)), ("producer", int(i)))
                         for k, listed in enumerate(platform_listings) for i in listed)
    return graph


def _edge_arrays(graph: nx.DiGraph, source_kind: str) -> tuple[np.ndarray, np.ndarray]:
    pairs = [(u[1], v[1]) for u, v in graph.edges() if u[0] == source_kind]
    if not pairs:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    arr = np.asarray(pairs, dtype=np.int64)
    order = np.lexsort((arr[:, 1], arr[:, 0]))  # sort by source, then target
    return arr[order, 0], arr[order, 1]


def compile_routes(graph: nx.DiGraph, n_consumers: int, n_producers: int,
                   consumer_region: np.ndarray, consumer_tolerance_ms: np.ndarray,
                   producer_region: np.ndarray, latency_ms: np.ndarray,
                   access_code: np.ndarray) -> RouteTable:
    """Compile the graph into CSR route arrays, dropping barred and too-slow routes.

    Parameters
    ----------
    graph : the market graph of :func:`build_market_graph`
    n_consumers, n_producers : agent counts (array sizes)
    consumer_region, producer_region : int arrays of region indices
    consumer_tolerance_ms : float array, the consumers' latency tolerance (ms)
    latency_ms : (n_regions, n_regions) round-trip latency matrix (ms)
    access_code : (n_regions, n_regions) consumer-region x producer-region codes
        (0 allowed, 1 friction, 2 barred; see ``ACCESS_CODE``)
    """
    cp_consumer, cp_platform = _edge_arrays(graph, "consumer")
    kp_platform, kp_producer = _edge_arrays(graph, "platform")
    n_platforms = int(max(kp_platform.max(initial=-1), cp_platform.max(initial=-1)) + 1)
    listing_ptr = np.zeros(n_platforms + 1, np.int64)
    np.cumsum(np.bincount(kp_platform, minlength=n_platforms), out=listing_ptr[1:])
    # CSR join: each consumer-platform edge expands into that platform's listings
    per_edge = listing_ptr[cp_platform + 1] - listing_ptr[cp_platform]
    total = int(per_edge.sum())
    edge_of_route = np.repeat(np.arange(cp_consumer.size), per_edge)
    first = np.repeat(listing_ptr[cp_platform] - np.cumsum(per_edge) + per_edge, per_edge)
    listing_index = first + np.arange(total)
    route_consumer = cp_consumer[edge_of_route]
    route_platform = cp_platform[edge_of_route]
    route_producer = kp_producer[listing_index]

    c_region = consumer_region[route_consumer]
    p_region = producer_region[route_producer]
    latency = latency_ms[c_region, p_region]
    access = access_code[c_region, p_region]
    keep = (access != ACCESS_CODE["barred"]) & (latency <= consumer_tolerance_ms[route_consumer])
    route_consumer, route_platform, route_producer = (
        route_consumer[keep], route_platform[keep], route_producer[keep])
    consumer_ptr = np.zeros(n_consumers + 1, np.int64)
    np.cumsum(np.bincount(route_consumer, minlength=n_consumers), out=consumer_ptr[1:])
    topology = RouteTopology(consumer_ptr, route_producer, n_producers)
    return RouteTable(
        topology=topology,
        route_consumer=route_consumer,
        route_platform=route_platform,
        route_producer=route_producer,
        route_latency_ms=latency[keep],
        route_friction=access[keep] == ACCESS_CODE["friction"],
        route_cross_region=(c_region != p_region)[keep],
    )
