"""The market network of a model: graph, compiled routes over products and what does not change
within a topology (route utilities without prices, transfer costs). Rebuilt on every topology
change: exit, entry, and family releases and retirements (the products change). The graph and
its consumer -> platform -> host paths change only on exit and entry; a release or retirement
recompiles the routes from the same paths."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import networkx as nx
import numpy as np

from pricewar.model.population import (
    ConsumerArrays,
    PlatformArrays,
    ProducerArrays,
    ProductArrays,
)
from pricewar.model.products import FamilyTable
from pricewar.model.regions import RegionTable
from pricewar.supply.graph import (
    HostPaths,
    RouteTable,
    build_market_graph,
    host_paths,
    routes_over_products,
)

log = logging.getLogger(__name__)

#: blocs whose consumers count provenance and tariffs (the contested region buys from both)
PARTISAN_BLOCS = ("cn", "western")


@dataclass(frozen=True, eq=False)
class MarketNetwork:
    """The market graph and its route arrays, shape (n_routes,) unless noted.

    Attributes
    ----------
    graph : consumers -> platforms -> producers (hosts) (:func:`build_market_graph`)
    routes : the compiled routes (CSR by consumer, then family)
    utility : non-price utility of each route, markups and tariffs included as ``-alpha log(1 +
        rate)`` (utils); what the kernel's demand sees
    transfer_usd : cross-region transfer cost added to the route price (USD/Mtok)
    tariff_rate : ad valorem tariff on the route (share; 0 within a bloc)
    price_factor : what a consumer pays per USD of route price, ``(1 + markup)(1 + tariff)``
    flexible_routes : indices of routes to consumers with flexible (batch) load
    flow_key : consumer region x sector x producer region key of each route (for flow reports)
    """

    graph: nx.DiGraph
    routes: RouteTable
    utility: np.ndarray
    transfer_usd: np.ndarray
    tariff_rate: np.ndarray
    price_factor: np.ndarray
    flexible_routes: np.ndarray
    flow_key: np.ndarray


def market_graph(regions: RegionTable, producers: ProducerArrays, platforms: PlatformArrays,
                 consumers: ConsumerArrays) -> nx.DiGraph:
    """The market graph of the agents (changes only on exit and entry)."""
    return build_market_graph(consumers.region, consumers.platforms, platforms.listings,
                              producers.region, platforms.region, list(regions.names))


def graph_paths(regions: RegionTable, producers: ProducerArrays, consumers: ConsumerArrays,
                graph: nx.DiGraph) -> HostPaths:
    """The graph's consumer -> platform -> host paths within access and latency (changes only
    with the graph)."""
    return host_paths(graph, consumers.region, consumers.sector, consumers.tolerance_ms,
                      producers.region, regions.latency_ms, regions.sector_access_code)


def build_network(scenario, regions: RegionTable, families: FamilyTable, n_sectors: int,
                  producers: ProducerArrays, products: ProductArrays, platforms: PlatformArrays,
                  consumers: ConsumerArrays, graph: nx.DiGraph, paths: HostPaths
                  ) -> MarketNetwork:
    """Compile the graph's paths (:func:`graph_paths`) to route arrays over the products and
    their static utilities.

    Route utility (docs/ODD.md §6.2)::

        u_r = beta_s q_f + xi_i + b_k - gamma_s L_r - friction 1[access friction]
              - family_friction 1[family owned in the other bloc]
              - alpha_s log(1 + m_k) - alpha_s log(1 + tariff 1[host in the other bloc])

    The platform's percentage markup and the tariff multiply the route price, so with log price
    they enter utility and leave products' own-price elasticities unchanged.
    """
    s = scenario
    r = routes_over_products(paths, consumers.region.size, len(producers), consumers.region,
                             producers.region, products.producer, products.family)
    j = r.route_consumer
    consumer_region = consumers.region[j]
    # bloc tests per (region, region) and (region, family), then gathered by route: string
    # comparisons over every route cost more than the rest of the utility
    partisan = np.isin(regions.bloc, PARTISAN_BLOCS)[:, None]
    foreign_family = (partisan & (families.owner_bloc[None, :] != regions.bloc[:, None]))[
        consumer_region, r.route_family]
    foreign_host = (partisan & (regions.bloc[None, :] != regions.bloc[:, None]))[
        consumer_region, producers.region[r.route_producer]]
    # markup and tariff terms from per-platform and per-(platform, foreign) tables: log1p and
    # products over every route cost more than the gathers, and give the same values
    tariff_of = s.trade.tariff_cross_bloc * np.array([False, True])  # (not foreign, foreign)
    foreign = foreign_host.view(np.uint8)
    tariff = tariff_of[foreign]
    alpha = consumers.alpha[j]
    markup_rate = np.asarray(platforms.markup_rate, dtype=np.float64)
    utility = (consumers.quality_weight[j] * families.quality[r.route_family]
               + producers.quality[r.route_producer]
               + platforms.value_add[r.route_platform]
               - consumers.latency_cost[j] * r.route_latency_ms
               - s.trade.friction_utils * r.route_friction
               - s.trade.family_friction_utils * foreign_family
               - alpha * np.log1p(markup_rate)[r.route_platform]
               - alpha * np.log1p(tariff_of)[foreign])
    price_factor = ((1.0 + markup_rate)[:, None] * (1.0 + tariff_of)[None, :])[
        r.route_platform, foreign]
    n_regions = len(regions.names)
    flow_key = ((consumer_region * n_sectors + consumers.sector[j]) * n_regions
                + producers.region[r.route_producer])
    log.debug("compiled %d routes for %d consumers and %d products", r.topology.n_routes,
              consumers.region.size, len(products))
    return MarketNetwork(
        graph=graph, routes=r, utility=utility,
        transfer_usd=s.costs.transfer_usd_per_mtok * r.route_cross_region,
        tariff_rate=tariff, price_factor=price_factor,
        flexible_routes=np.flatnonzero(consumers.flexible[j]),
        flow_key=flow_key)
