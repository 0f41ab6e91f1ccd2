"""The market graph (networkx) and its compilation to the kernel's flat route arrays.

Nodes are ``("consumer", j)``, ``("platform", k)`` and ``("producer", i)`` with the agents' array
indices; edges consumer -> platform (access) and platform -> producer (listing). A producer is a
host; it offers one *product* per model family it serves. A route ``r = (j, k, a)`` exists for
every consumer -> platform -> host path whose host region the consumer's region does not bar for
the consumer's sector and whose round-trip latency is within the consumer's tolerance, and every
product ``a`` of that host. Routes are sorted by consumer, then family (the kernel's nests must be
contiguous), then product and platform. Compilation is vectorized (CSR joins of the edge lists and
the products per host); it runs once per topology change.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import networkx as nx
import numpy as np

from pricewar.kernel import RouteTopology
from pricewar.kernel.arrays import index32

ACCESS_CODE = {"allowed": 0, "friction": 1, "barred": 2}


@dataclass(frozen=True, eq=False)
class RouteTable:
    """Compiled routes, CSR-ordered by consumer then family, with their static attributes.

    Attributes
    ----------
    topology : RouteTopology, with the products as its producers, the families as nests, the
        hosts as hosts (capacity) and firms (multi-product first-order conditions)
    route_consumer, route_platform : int arrays, shape (n_routes,)
    route_producer : int array, the host (producer agent) of each route
    route_product : int array, the product of each route (the kernel's producer)
    route_family : int array, the model family of each route (the kernel's nest)
    route_latency_ms : float array, round-trip latency of the route (ms)
    route_access : int array, the access code of the route (:data:`ACCESS_CODE`)
    route_friction : bool array, True where the consumer's region meets policy friction
    route_cross_region : bool array, True where consumer and host regions differ
    """

    topology: RouteTopology
    route_consumer: np.ndarray
    route_platform: np.ndarray
    route_producer: np.ndarray
    route_product: np.ndarray
    route_family: np.ndarray
    route_latency_ms: np.ndarray
    route_access: np.ndarray
    route_friction: np.ndarray
    route_cross_region: np.ndarray

    @cached_property
    def platform_index32(self) -> np.ndarray:
        """``route_platform`` as int32 (when it fits), for :func:`scatter_sum` by platform."""
        n_platforms = int(self.route_platform.max(initial=-1)) + 1
        return index32(self.route_platform, n_platforms)


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


def _products_per_host(product_producer: np.ndarray, n_producers: int) -> np.ndarray:
    """CSR offsets of the products of each host (products sorted by host)."""
    ptr = np.zeros(n_producers + 1, np.int64)
    np.cumsum(np.bincount(product_producer, minlength=n_producers), out=ptr[1:])
    return ptr


@dataclass(frozen=True, eq=False)
class HostPaths:
    """The consumer -> platform -> host paths of a graph that survive the access and latency
    filters, sorted by consumer, platform, host; arrays of shape (n_paths,).

    They change only with the graph (exit and entry), not with the products hosts offer (family
    releases and retirements), so a model compiles them once per graph.

    Attributes
    ----------
    consumer, platform, host : int, the agents of each path
    latency_ms : float, round-trip latency of the path (ms)
    access : int, the access code of the path (:data:`ACCESS_CODE`, never ``barred``)
    """

    consumer: np.ndarray
    platform: np.ndarray
    host: np.ndarray
    latency_ms: np.ndarray
    access: np.ndarray


def host_paths(graph: nx.DiGraph, consumer_region: np.ndarray, consumer_sector: np.ndarray,
               consumer_tolerance_ms: np.ndarray, producer_region: np.ndarray,
               latency_ms: np.ndarray, access_code: np.ndarray) -> HostPaths:
    """The graph's consumer -> platform -> host paths, barred and too-slow ones dropped
    (parameters as :func:`compile_routes`)."""
    cp_consumer, cp_platform = _edge_arrays(graph, "consumer")
    kp_platform, kp_producer = _edge_arrays(graph, "platform")
    n_platforms = int(max(kp_platform.max(initial=-1), cp_platform.max(initial=-1)) + 1)
    listing_ptr = np.zeros(n_platforms + 1, np.int64)
    np.cumsum(np.bincount(kp_platform, minlength=n_platforms), out=listing_ptr[1:])
    # CSR join: each consumer-platform edge expands into that platform's listings
    edge, host = _expand(np.arange(cp_consumer.size), cp_platform, listing_ptr, kp_producer)
    consumer, platform = cp_consumer[edge], cp_platform[edge]

    c_region = consumer_region[consumer]
    p_region = producer_region[host]
    latency = latency_ms[c_region, p_region]
    access = access_code[consumer_sector[consumer], c_region, p_region]
    keep = (access != ACCESS_CODE["barred"]) & (latency <= consumer_tolerance_ms[consumer])
    return HostPaths(consumer=consumer[keep], platform=platform[keep], host=host[keep],
                     latency_ms=latency[keep], access=access[keep])


def compile_routes(graph: nx.DiGraph, n_consumers: int, n_producers: int,
                   consumer_region: np.ndarray, consumer_sector: np.ndarray,
                   consumer_tolerance_ms: np.ndarray, producer_region: np.ndarray,
                   latency_ms: np.ndarray, access_code: np.ndarray,
                   product_producer: np.ndarray, product_family: np.ndarray) -> RouteTable:
    """Compile the graph into CSR route arrays over products, dropping barred and too-slow routes.

    Parameters
    ----------
    graph : the market graph of :func:`build_market_graph`
    n_consumers, n_producers : agent counts (array sizes)
    consumer_region, producer_region : int arrays of region indices
    consumer_sector : int array, the consumers' sectors
    consumer_tolerance_ms : float array, the consumers' latency tolerance (ms)
    latency_ms : (n_regions, n_regions) round-trip latency matrix (ms)
    access_code : (n_sectors, n_regions, n_regions) sector x consumer-region x producer-region
        codes (0 allowed, 1 friction, 2 barred; see ``ACCESS_CODE``)
    product_producer, product_family : int arrays, shape (n_products,): host and family of each
        product, sorted by host
    """
    paths = host_paths(graph, consumer_region, consumer_sector, consumer_tolerance_ms,
                       producer_region, latency_ms, access_code)
    return routes_over_products(paths, n_consumers, n_producers, consumer_region,
                                producer_region, product_producer, product_family)


def routes_over_products(paths: HostPaths, n_consumers: int, n_producers: int,
                         consumer_region: np.ndarray, producer_region: np.ndarray,
                         product_producer: np.ndarray, product_family: np.ndarray) -> RouteTable:
    """The routes of :func:`compile_routes` from the graph's :func:`host_paths`: each path
    expands into its host's products."""
    consumer, platform, host = paths.consumer, paths.platform, paths.host
    product_ptr = _products_per_host(product_producer, n_producers)
    path = np.arange(consumer.size)
    path, product = _expand(path, host, product_ptr, np.arange(product_producer.size))
    family = product_family[product]
    order = _lexsort_order((platform[path], product, family, consumer[path]))
    path, product, family = path[order], product[order], family[order]
    route_consumer = consumer[path]
    consumer_ptr = np.zeros(n_consumers + 1, np.int64)
    np.cumsum(np.bincount(route_consumer, minlength=n_consumers), out=consumer_ptr[1:])
    n_products = product_producer.size
    topology = RouteTopology(consumer_ptr, product, n_products, route_nest=family,
                             producer_host=product_producer, n_hosts=n_producers,
                             producer_firm=product_producer)
    route_access = paths.access[path]
    route_producer = host[path]
    return RouteTable(
        topology=topology,
        route_consumer=route_consumer,
        route_platform=platform[path],
        route_producer=route_producer,
        route_product=product,
        route_family=family,
        route_latency_ms=paths.latency_ms[path],
        route_access=route_access,
        route_friction=route_access == ACCESS_CODE["friction"],
        route_cross_region=consumer_region[route_consumer] != producer_region[route_producer],
    )


def _lexsort_order(keys: tuple[np.ndarray, ...]) -> np.ndarray:
    """``np.lexsort(keys)`` for non-negative int keys (last key primary): one stable argsort of
    their mixed-radix combination when it fits in int64 (several times faster than lexsort over
    four keys), lexsort itself otherwise."""
    if not keys[0].size:
        return np.lexsort(keys)
    radix = [int(k.max()) + 1 for k in keys]
    if np.prod([float(r) for r in radix]) >= 2.0 ** 62:
        return np.lexsort(keys)
    combined = np.zeros(keys[0].size, np.int64)
    for key, size in zip(reversed(keys), reversed(radix), strict=True):
        combined *= size
        combined += key
    return np.argsort(combined, kind="stable")


def _expand(source: np.ndarray, key: np.ndarray, ptr: np.ndarray, target: np.ndarray
            ) -> tuple[np.ndarray, np.ndarray]:
    """CSR join: every ``(source[e], key[e])`` pair expands into ``target[ptr[key]:ptr[key+1]]``.

    Returns the expanded ``source`` and the matching ``target`` values (same length).
    """
    per_edge = ptr[key + 1] - ptr[key]
    total = int(per_edge.sum())
    edge = np.repeat(np.arange(source.size), per_edge)
    first = np.repeat(ptr[key] - np.cumsum(per_edge) + per_edge, per_edge)
    return source[edge], target[first + np.arange(total)]
