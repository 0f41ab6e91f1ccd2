"""The market graph and its compilation to route arrays over products (pricewar.supply.graph)."""

import networkx as nx
import numpy as np

from pricewar.supply.graph import ACCESS_CODE, build_market_graph, compile_routes

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
CONSUMER_SECTOR = np.zeros(3, np.int64)
SECTOR_ACCESS = ACCESS[None]  # one sector
# one product per producer (host), in family 0, 1, 0
ONE_PRODUCT = (np.array([0, 1, 2]), np.array([0, 1, 0]))


def _compile(graph, products=ONE_PRODUCT, access=SECTOR_ACCESS, sector=CONSUMER_SECTOR,
             tolerance=TOLERANCE_MS):
    return compile_routes(graph, 3, 3, CONSUMER_REGION, sector, tolerance, PRODUCER_REGION,
                          LATENCY_MS, access, *products)


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
    # consumer 1 (b): everything through platform 0; consumer 2 (c, 250 ms): all, 2 twice;
    # within a consumer sorted by family (products 0 and 2 are family 0, product 1 family 1)
    assert triples == [(0, 0, 0),
                       (1, 0, 0), (1, 0, 2), (1, 0, 1),
                       (2, 0, 0), (2, 0, 2), (2, 1, 2), (2, 0, 1)]
    np.testing.assert_array_equal(routes.topology.consumer_ptr, [0, 1, 4, 8])
    np.testing.assert_array_equal(routes.topology.route_producer, routes.route_product)
    np.testing.assert_array_equal(routes.route_product, routes.route_producer)  # one each
    np.testing.assert_array_equal(routes.route_family, [0, 0, 0, 1, 0, 0, 0, 1])
    np.testing.assert_array_equal(routes.route_latency_ms, [10, 50, 30, 10, 200, 10, 10, 30])
    np.testing.assert_array_equal(routes.route_friction,
                                  [False, False, False, False, True, False, False, False])
    np.testing.assert_array_equal(routes.route_cross_region,
                                  [False, True, True, False, True, False, False, True])


def test_each_host_route_expands_into_the_hosts_products_sorted_by_family():
    # host 0 offers families 0 and 2, host 1 family 1, host 2 families 0 and 1
    products = (np.array([0, 0, 1, 2, 2]), np.array([0, 2, 1, 0, 1]))
    routes = _compile(_graph(), products)
    consumer1 = routes.route_consumer == 1  # reaches hosts 0, 1, 2 through platform 0
    np.testing.assert_array_equal(routes.route_product[consumer1], [0, 3, 2, 4, 1])
    np.testing.assert_array_equal(routes.route_family[consumer1], [0, 0, 1, 1, 2])
    np.testing.assert_array_equal(routes.route_producer[consumer1], [0, 2, 1, 2, 0])
    topo = routes.topology
    assert topo.n_producers == 5 and topo.n_hosts == 3
    np.testing.assert_array_equal(topo.hosts.producer_host, products[0])
    assert topo.nests is not None and topo.firms is not None  # hosts own several products


def test_sector_access_overrides_bar_one_sector_only():
    sectors = np.array([0, 1, 1])
    access = np.stack([ACCESS, ACCESS])
    access[1, 1, 0] = B  # sector 1 consumers in b barred from hosts in a
    routes = _compile(_graph(), access=access, sector=sectors)
    consumer1 = routes.route_producer[routes.route_consumer == 1]
    assert 0 not in consumer1 and set(consumer1) == {1, 2}


def test_compilation_does_not_depend_on_the_order_edges_were_added():
    graph = _graph()
    shuffled = nx.DiGraph()
    shuffled.add_nodes_from(reversed(list(graph.nodes(data=True))))
    shuffled.add_edges_from(reversed(list(graph.edges())))
    a, b = _compile(graph), _compile(shuffled)
    for name in ("route_consumer", "route_platform", "route_producer", "route_product",
                 "route_family", "route_latency_ms"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_a_consumer_without_any_route_has_an_empty_csr_segment():
    tight = np.array([5.0, 100.0, 250.0])  # consumer 0 tolerates less than any latency
    routes = _compile(_graph(), tolerance=tight)
    np.testing.assert_array_equal(routes.topology.consumer_ptr, [0, 0, 3, 7])
    assert 0 not in routes.route_consumer


def test_lexsort_order_is_numpys_lexsort_with_ties_and_past_int64():
    from pricewar.supply.graph import _lexsort_order

    rng = np.random.default_rng(3)
    keys = tuple(rng.integers(0, size, 5000) for size in (4, 90, 7, 300))  # many ties
    np.testing.assert_array_equal(_lexsort_order(keys), np.lexsort(keys))
    huge = (rng.integers(0, 2**40, 500), rng.integers(0, 2**40, 500))  # radix product > 2**62
    np.testing.assert_array_equal(_lexsort_order(huge), np.lexsort(huge))
    empty = (np.zeros(0, np.int64), np.zeros(0, np.int64))
    assert _lexsort_order(empty).size == 0


def test_routes_recompiled_from_kept_paths_equal_a_compilation_from_the_graph():
    """The model keeps the graph's paths between exits and entries and recompiles only the
    routes over the products when families are released or retired."""
    import dataclasses

    from pricewar.model import PriceWarModel

    model = PriceWarModel("baseline", seed=1, n_consumers=120)
    products_before = model.n_products
    for _ in range(12):  # families are released over these weeks
        model.step()
    assert model.n_products != products_before
    model.producer_cash[12] = -1e15  # an exit: the graph and its paths change
    for _ in range(12):
        model.step()
    assert model.exits_total >= 1
    fresh = compile_routes(model.graph, model.consumer_region.size, model.n_producers,
                           model.consumer_region, model.consumer_sector,
                           model.consumer_tolerance_ms, model.producer_region,
                           model.regions.latency_ms, model.regions.sector_access_code,
                           model.product_producer, model.product_family)
    for field in dataclasses.fields(fresh):
        if field.name != "topology":
            np.testing.assert_array_equal(getattr(model.routes, field.name),
                                          getattr(fresh, field.name), err_msg=field.name)
