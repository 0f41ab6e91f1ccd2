"""The market graph and its compilation to route arrays (pricewar.market.graph)."""

import networkx as nx
import numpy as np

from pricewar.market.graph import ACCESS_CODE, build_market_graph, compile_routes

# regions a, b, c; one producer per region (0 in a, 1 in b, 2 in c), one consumer per region
REGIONS = ["a", "b", "c"]
PRODUCER_REGION = np.array([0, 1, 2])
CONSUMER_REGION = np.array([0, 1, 2])
PLATFORM_REGION = np.array([0, 2])
LISTINGS = [np.array([0, 1, 2]), np.array([2])]  # platform 0 lists everyone, 1 only producer 2
CONSUMER_PLATFORMS = [np.array([0, 1]), np.array([0]), np.array([0, 1])]
TOLERANCE_MS = np.array([100.0, 100.0, 250.0])
LATENCY_MS = np.array([[10.0, 50.0, 200.0],
                       [50.0, 10.0, 30.0],
                       [200.0, 30.0, 10.0]])
A, F, B = ACCESS_CODE["allowed"], ACCESS_CODE["friction"], ACCESS_CODE["barred"]
ACCESS = np.array([[A, B, A],  # consumers in a are barred from producers in b
                   [A, A, A],
                   [F, A, A]])  # consumers in c meet friction with producers in a


def _compile(graph):
    return compile_routes(graph, 3, 3, CONSUMER_REGION, TOLERANCE_MS, PRODUCER_REGION,
                          LATENCY_MS, ACCESS)


def _graph():
    return build_market_graph(CONSUMER_REGION, CONSUMER_PLATFORMS, LISTINGS, PRODUCER_REGION,
                              PLATFORM_REGION, REGIONS)


def test_graph_has_agent_nodes_with_regions_and_access_and_listing_edges():
    graph = _graph()
    assert graph.number_of_nodes() == 3 + 2 + 3
    assert graph.nodes[("platform", 1)] == {"kind": "platform", "region": "c"}
    assert graph.nodes[("consumer", 2)]["region"] == "c"
    assert set(graph.successors(("consumer", 0))) == {("platform", 0), ("platform", 1)}
    assert set(graph.successors(("platform", 1))) == {("producer", 2)}
    assert graph.number_of_edges() == 5 + 4


def test_barred_and_too_slow_routes_are_dropped_and_routes_are_csr_ordered():
    routes = _compile(_graph())
    triples = list(zip(routes.route_consumer.tolist(), routes.route_platform.tolist(),
                       routes.route_producer.tolist(), strict=True))
    # consumer 0 (a): producer 1 barred, producer 2 too slow (200 ms > 100 ms) via both platforms
    # consumer 1 (b): everything through platform 0; consumer 2 (c, 250 ms): all, 2 twice
    assert triples == [(0, 0, 0),
                       (1, 0, 0), (1, 0, 1), (1, 0, 2),
                       (2, 0, 0), (2, 0, 1), (2, 0, 2), (2, 1, 2)]
    np.testing.assert_array_equal(routes.topology.consumer_ptr, [0, 1, 4, 8])
    np.testing.assert_array_equal(routes.topology.route_producer, routes.route_producer)
    np.testing.assert_array_equal(routes.route_latency_ms, [10, 50, 10, 30, 200, 30, 10, 10])
    np.testing.assert_array_equal(routes.route_friction,
                                  [False, False, False, False, True, False, False, False])
    np.testing.assert_array_equal(routes.route_cross_region,
                                  [False, True, False, True, True, True, False, False])


def test_compilation_does_not_depend_on_the_order_edges_were_added():
    graph = _graph()
    shuffled = nx.DiGraph()
    shuffled.add_nodes_from(reversed(list(graph.nodes(data=True))))
    shuffled.add_edges_from(reversed(list(graph.edges())))
    a, b = _compile(graph), _compile(shuffled)
    for name in ("route_consumer", "route_platform", "route_producer", "route_latency_ms"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_a_consumer_without_any_route_has_an_empty_csr_segment():
    tight = np.array([5.0, 100.0, 250.0])  # consumer 0 tolerates less than any latency
    routes = compile_routes(_graph(), 3, 3, CONSUMER_REGION, tight, PRODUCER_REGION, LATENCY_MS,
                            ACCESS)
    np.testing.assert_array_equal(routes.topology.consumer_ptr, [0, 0, 3, 7])
    assert 0 not in routes.route_consumer
