"""The market network of a model: graph, compiled routes and what does not change within a
topology (route utilities without prices, transfer costs). Rebuilt on every topology change."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import networkx as nx
import numpy as np

from pricewar.market.graph import RouteTable, build_market_graph, compile_routes
from pricewar.model.population import ConsumerArrays, PlatformArrays, ProducerArrays
from pricewar.model.regions import RegionTable

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class MarketNetwork:
    """The market graph and its route arrays, shape (n_routes,) unless noted.

    Attributes
    ----------
    graph : consumers -> platforms -> producers (:func:`pricewar.market.graph.build_market_graph`)
    routes : the compiled routes (CSR by consumer)
    static_utility : non-price utility of each route (utils)
    utility : ``static_utility`` less the platform's percentage markup term with the log price
        form (utils); what the kernel's demand sees
    transfer_usd : cross-region transfer cost added to the route price (USD/Mtok)
    flexible_routes : indices of routes to consumers with flexible (batch) load
    flow_key : consumer region x sector x producer region key of each route (for flow reports)
    """

    graph: nx.DiGraph
    routes: RouteTable
    static_utility: np.ndarray
    utility: np.ndarray
    transfer_usd: np.ndarray
    flexible_routes: np.ndarray
    flow_key: np.ndarray


def build_network(scenario, regions: RegionTable, n_sectors: int, producers: ProducerArrays,
                  platforms: PlatformArrays, consumers: ConsumerArrays) -> MarketNetwork:
    """Build the market graph and compile it to route arrays.

    Reads the agents' regions, the consumers' platforms and tastes, the platforms' listings,
    markup rates and value-add, the producers' quality, and the scenario's friction, transfer cost
    and price form.
    """
    s = scenario
    graph = build_market_graph(consumers.region, consumers.platforms, platforms.listings,
                               producers.region, platforms.region, list(regions.names))
    r = compile_routes(graph, consumers.region.size, len(producers), consumers.region,
                       consumers.tolerance_ms, producers.region, regions.latency_ms,
                       regions.access_code)
    j = r.route_consumer
    # non-price utility that does not change within a topology (docs/ODD.md §6.2)
    static_utility = (
        consumers.quality_weight[j] * producers.quality[r.route_producer]
        + platforms.value_add[r.route_platform]
        - consumers.latency_cost[j] * r.route_latency_ms
        - s.policy.friction_utils * r.route_friction)
    # with phi = log P a platform's percentage markup multiplies the route price, so it
    # enters utility as -alpha log(1 + m_k) and leaves producers' own-price elasticities
    # unchanged (an additive markup proportional to price would lower them and could remove
    # the best response); with the linear form the markup is additive (USD/Mtok)
    utility = static_utility
    if s.price_form == "log":
        utility = static_utility - consumers.alpha[j] * np.log1p(
            platforms.markup_rate[r.route_platform])
    n_regions = len(regions.names)
    flow_key = ((consumers.region[j] * n_sectors + consumers.sector[j]) * n_regions
                + producers.region[r.route_producer])
    log.debug("compiled %d routes for %d consumers", r.topology.n_routes, consumers.region.size)
    return MarketNetwork(
        graph=graph, routes=r, static_utility=static_utility, utility=utility,
        transfer_usd=s.costs.transfer_usd_per_mtok * r.route_cross_region,
        flexible_routes=np.flatnonzero(consumers.flexible[j]), flow_key=flow_key)
