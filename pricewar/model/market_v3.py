"""The v3 market in the model (docs/ODD.md §6.2d-§6.4b): classes, tier nests, customer states,
prices that clear capacity. Selected by ``market.version = 3``; the v2 market stays the default
until the estimation issue estimates the v3 parameters.

Per step (the model's phases 3, 4 and 6):

1. each buyer group (segment ``m``: consumers of one region and sector using the same platforms,
   :func:`buyer_groups`) has task volume ``T_mc = D_m(t) w_c B_m(t)`` per latent class
   ``c`` (``w_c`` the class shares, ``B_m`` the bounded quality-volume term), split into the
   committed reference volume ``R_{m,h,c}`` of each host ``h`` it is committed to and shoppers
   ``S_mc = T_mc - sum_h R_{m,h,c}``;
2. hosts price: the first-order conditions of :func:`~pricewar.kernel.gnl_equilibrium.
   states_equilibrium` for hosts of the FOC strategies (``best_response``, ``nash``: this step's
   profit; ``forward_looking``: plus ``psi`` and the owner's complement value), the other
   strategies' prices taken as given; every host's capacity clears through its shadow price;
3. what a step could not price away (a solver that stopped early) is rationed pro rata by host
   and reported as unserved;
4. committed customers review with the hazard of :mod:`~pricewar.kernel.customer_states` at this
   step's prices; shoppers commit to the host they bought from.

Each (consumer, product) pair buys through one route: the consumer's platform path to the
product with the highest non-price utility (platform value-add net of the markup term at the
consumer's ``alpha``, latency, frictions; docs/ODD.md §6.2d). Volumes are chained: a segment's
volume responds to prices and to the bounded quality term, not to the number of products (its
reference inclusive value is re-based at last step's prices when the products change).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pricewar.kernel import Clearing, MarketDemand
from pricewar.kernel.arrays import index32
from pricewar.kernel.customer_states import retention_factor, review_hazard
from pricewar.kernel.gnl import GNLMarket, gnl_demand, gnl_market
from pricewar.kernel.gnl_equilibrium import (
    Review,
    StatesEquilibrium,
    rival_log_gap,
    states_equilibrium,
    with_class_volumes,
)

#: strategies whose hosts price by the v3 first-order conditions (the others' prices are given)
FOC_STRATEGIES = ("best_response", "nash", "forward_looking")
#: strategies that value a customer won (psi) and the owner's complements (omega)
FORWARD_STRATEGIES = ("forward_looking",)
#: the equilibrium's tolerance (largest relative price change or capacity violation) and
#: iteration budget per step; a step that stops early is reported (``equilibrium_residual``)
TOLERANCE = 1e-6
MAX_ITERATIONS = 30
#: a step's solve also stops after this many iterations without a new best residual, keeping
#: the best point (where it stalls, the rest of the budget rarely finds a better one:
#: docs/performance.md, the v3 market)
STALL_ITERATIONS = 15


def _run_firsts(key: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.r_[True, key[1:] != key[:-1]])


@dataclass(frozen=True, eq=False)
class PairTopology:
    """The v3 market's routes for one network: one per (buyer group, product) pair.

    Consumers of one region and sector using the same platforms reach the same products through
    the same routes at the same utilities, and their task volumes move in proportion (a
    region-wide growth and shock path times the consumer's own scale): their demands, states and
    references are proportional at every price. The market solves one segment per such *buyer
    group* (:func:`buyer_groups`) and hands each member its share of its group's volume, which is
    exact (the grouping only saves work).

    Group pairs: ``pair_route`` (P,) the network route the group's first consumer buys through,
    ``pair_group``, ``pair_product`` (model product index), ``pair_host``, ``pair_quality``
    (utils of quality). Members: ``member_route``, ``member_consumer`` (Q,) every consumer's
    pairs and ``member_pair`` (Q,) the group pair each one belongs to. ``priced`` (N_model,)
    products with a pair; ``product_index`` (N_model,) their index in the GNL markets (-1 without
    a pair); ``segment_group`` (M,) groups with a pair; ``shoppers`` and ``committed`` the two
    markets at unit class volumes; ``committed_group``, ``committed_host`` (S,) per committed
    segment; ``committed_segment_of_pair`` (P,); ``committed_gap_route`` the shoppers' stored
    route of each committed stored route.
    """

    pair_route: np.ndarray
    pair_group: np.ndarray
    pair_product: np.ndarray
    pair_host: np.ndarray
    pair_quality: np.ndarray
    member_route: np.ndarray
    member_consumer: np.ndarray
    member_pair: np.ndarray
    priced: np.ndarray
    product_index: np.ndarray
    segment_group: np.ndarray
    shoppers: GNLMarket
    committed: GNLMarket
    committed_group: np.ndarray
    committed_host: np.ndarray
    committed_segment_of_pair: np.ndarray
    committed_gap_route: np.ndarray


def buyer_groups(consumers) -> np.ndarray:
    """Per consumer, its buyer group (0..G-1 in order of first consumer): one per (region,
    sector, platforms used) — the consumers whose routes and utilities coincide
    (:class:`PairTopology`)."""
    index: dict[tuple, int] = {}
    group = np.empty(consumers.region.size, dtype=np.int64)
    for j, (region, sector, platforms) in enumerate(zip(
            consumers.region.tolist(), consumers.sector.tolist(), consumers.platforms,
            strict=True)):
        group[j] = index.setdefault((region, sector, tuple(platforms.tolist())), len(index))
    return group


def class_alpha(scenario, group_eta: np.ndarray) -> np.ndarray:
    """``alpha_mc = eta_m + excess_c`` (bulk, quality classes), shape (M, 2)."""
    m = scenario.market
    return group_eta[:, None] + np.array([m.bulk_alpha_excess, m.quality_alpha_excess])


def class_weights(scenario) -> np.ndarray:
    """Class shares (bulk, quality), shape (2,)."""
    share = scenario.market.bulk_class_share
    return np.array([share, 1.0 - share])


def build_topology(scenario, network, consumers, group: np.ndarray, products, families
                   ) -> PairTopology:
    """The pair routes and both GNL markets of a network (rebuilt with the network);
    ``group`` the consumers' buyer groups (:func:`buyer_groups`)."""
    routes = network.routes
    n_products = len(products)
    key = routes.route_consumer.astype(np.int64) * max(n_products, 1) + routes.route_product
    order = np.lexsort((-network.utility, key))
    member_route = order[_run_firsts(key[order])]  # each consumer's best route per product
    member_consumer = routes.route_consumer[member_route]
    member_product = routes.route_product[member_route]
    # the group's pairs are its first consumer's (groups are numbered in consumer order)
    first_consumer = np.unique(group, return_index=True)[1]
    is_first = first_consumer[group[member_consumer]] == member_consumer
    pair_route = member_route[is_first]
    pair_group = group[member_consumer[is_first]]
    pair_product_model = member_product[is_first]
    pair_key = pair_group * max(n_products, 1) + pair_product_model
    member_pair = np.searchsorted(pair_key, group[member_consumer] * max(n_products, 1)
                                  + member_product)
    priced = np.zeros(n_products, dtype=bool)
    priced[pair_product_model] = True
    product_index = np.full(n_products, -1, dtype=np.int64)
    product_index[priced] = np.arange(int(priced.sum()))
    pair_product = product_index[pair_product_model]
    segment_group, counts = np.unique(pair_group, return_counts=True)
    ptr = np.r_[0, np.cumsum(counts)]
    m = scenario.market
    group_eta = consumers.eta[first_consumer]
    alpha = class_alpha(scenario, group_eta[segment_group])
    weight = np.broadcast_to(class_weights(scenario), alpha.shape)
    live = np.flatnonzero(priced)
    tier = families.tier[products.family[live]]
    family = products.family[live]
    firm = products.producer[live]
    n_tiers = int(tier.max(initial=0)) + 1
    common = dict(product_tier=tier, product_family=family, tier_sigma=np.full(n_tiers,
                  m.tier_sigma), family_sigma=scenario.demand.nest_sigma, class_alpha=alpha,
                  class_weight=weight, product_firm=firm,
                  product_price_offset=m.price_offset_usd_per_mtok)
    utility = network.utility[pair_route]
    shoppers = gnl_market(ptr, pair_product, utility, segment_eta=group_eta[segment_group],
                          **common)
    # committed segments: (group, host) pairs, routes in (group, host) order
    pair_host = products.producer[pair_product_model]
    committed_key = pair_group * (int(firm.max(initial=0)) + 1) + pair_host
    c_order = np.argsort(committed_key, kind="stable")
    c_first = _run_firsts(committed_key[c_order])
    c_counts = np.diff(np.r_[c_first, c_order.size])
    segment_of_sorted = np.repeat(np.arange(c_first.size), c_counts)
    committed_segment_of_pair = np.empty(c_order.size, dtype=np.int64)
    committed_segment_of_pair[c_order] = segment_of_sorted
    committed_group = pair_group[c_order[c_first]]
    committed_alpha = class_alpha(scenario, group_eta[committed_group])
    committed = gnl_market(np.r_[0, np.cumsum(c_counts)], pair_product[c_order],
                           utility[c_order], segment_eta=group_eta[committed_group],
                           **{**common, "class_alpha": committed_alpha,
                              "class_weight": np.broadcast_to(class_weights(scenario),
                                                              committed_alpha.shape)})
    # stored routes: shoppers' stored route r holds pair shoppers.route_order[r]
    shopper_stored = np.empty(shoppers.route_order.size, dtype=np.int64)
    shopper_stored[shoppers.route_order] = np.arange(shoppers.route_order.size)
    committed_gap_route = shopper_stored[c_order[committed.route_order]]
    quality = (consumers.quality_weight[first_consumer[pair_group]]
               * families.quality[products.family[pair_product_model]])
    # the pair and member indices as int32 where they fit (half the memory, the same values)
    n_routes, n_pairs = routes.route_consumer.size, pair_route.size
    n_groups, n_hosts = first_consumer.size, int(products.producer.max(initial=-1)) + 1
    return PairTopology(index32(pair_route, n_routes), index32(pair_group, n_groups),
                        index32(pair_product_model, n_products), index32(pair_host, n_hosts),
                        quality, index32(member_route, n_routes),
                        index32(member_consumer, group.size), index32(member_pair, n_pairs),
                        priced, product_index, segment_group, shoppers, committed,
                        committed_group, pair_host[c_order[c_first]],
                        index32(committed_segment_of_pair, c_first.size),
                        index32(committed_gap_route, n_pairs))


def quality_volume_term(scenario, best_quality: np.ndarray, start_quality: np.ndarray
                        ) -> np.ndarray:
    """``B_m = 1 + b_max (1 - exp(-max(q_m - q_m0, 0) / q_s))``: what the best reachable
    quality adds to a segment's task volume, bounded by ``1 + b_max``."""
    m = scenario.market
    gain = np.maximum(best_quality - start_quality, 0.0)
    return 1.0 + m.quality_volume_max * -np.expm1(-gain / m.quality_volume_scale_utils)


#: volume per reference Mtok kept within [1/VOLUME_RATIO_BOUND, VOLUME_RATIO_BOUND] where a
#: reference is re-based (a volume that underflowed to 0 would give an infinite reference)
VOLUME_RATIO_BOUND = 1e250


def chained_reference(logsum: np.ndarray, alpha: np.ndarray, eta: np.ndarray,
                      ratio: np.ndarray) -> np.ndarray:
    """``IV_ref = IV - (alpha/eta) log v``: the reference at which a group whose volume per
    reference Mtok is ``v`` at inclusive value ``IV`` keeps that volume (``v`` bounded by
    :data:`VOLUME_RATIO_BOUND`)."""
    bounded = np.clip(ratio, 1.0 / VOLUME_RATIO_BOUND, VOLUME_RATIO_BOUND)
    return logsum - alpha / eta * np.log(bounded)


def _no_market(network, consumers, products, producers, price: np.ndarray
               ) -> tuple[MarketDemand, Clearing]:
    """Demand and clearing of a step without any route: nothing is offered, bought or served."""
    n_routes, n_consumers = network.routes.route_consumer.size, consumers.region.size
    zero_routes, zero_consumers = np.zeros(n_routes), np.zeros(n_consumers)
    demand = MarketDemand(
        route_price=np.zeros(n_routes), _route_share=zero_routes, route_demand=zero_routes,
        producer_demand=np.zeros(len(products)), consumer_outside=zero_consumers,
        consumer_logsum=np.full(n_consumers, -np.inf), consumer_surplus=zero_consumers,
        consumer_volume=zero_consumers, consumer_outside_share=zero_consumers,
        consumer_price_index=np.full(n_consumers, np.inf))
    clearing = Clearing(route_served=zero_routes, producer_served=np.zeros(len(products)),
                        consumer_served=zero_consumers, consumer_unserved=zero_consumers,
                        rounds=0, consumer_not_bought=zero_consumers,
                        host_load=np.zeros(len(producers)))
    return demand, clearing


def _route_values_to_pairs(market: GNLMarket, values: np.ndarray) -> np.ndarray:
    """A (K, n) array in a market's stored order, summed over classes, in input order."""
    out = np.empty(values.shape[1])
    out[market.route_order] = values.sum(axis=0)
    return out


class MarketV3:
    """The v3 market's state across steps: customer states, references, last prices."""

    def __init__(self, scenario):
        self.scenario = scenario
        self.topology: PairTopology | None = None
        self._network = None
        self.group: np.ndarray | None = None  # per consumer, its buyer group (buyer_groups)
        self.n_groups = 0
        # customer states per committed segment (group, host uid) and class
        self.state_key = np.zeros(0, dtype=np.int64)
        self.committed_ref = np.zeros((0, 2))
        self.committed_volume = np.zeros((0, 2))
        self.committed_logsum_ref = np.zeros((0, 2))
        # shoppers' reference inclusive value and volume per reference Mtok, per group
        self.shopper_logsum_ref: np.ndarray | None = None
        self.shopper_volume_ratio: np.ndarray | None = None
        self.start_quality: np.ndarray | None = None
        # per host, in the order of shadow_uid: the solver's mu (lambda = max(mu, 0); a host
        # with slack carries it below 0)
        self.shadow_state: np.ndarray | None = None
        # the last solve's iterate per product id (sorted): margin over marginal cost, USD/Mtok
        self.solved_id: np.ndarray | None = None
        self.solved_margin: np.ndarray | None = None
        self.shadow_uid: np.ndarray | None = None
        self.result: StatesEquilibrium | None = None
        self._markets: tuple[GNLMarket, GNLMarket] | None = None  # the result's markets
        self.start_index: np.ndarray | None = None

    def shadow_by_host(self, host_uid: np.ndarray, signed: bool = False) -> np.ndarray:
        """Per host of ``host_uid`` (in that order), the last capacity solve's ``mu`` (``signed``)
        or its shadow price ``lambda = max(mu, 0)``, USD per GPU-second of its fleet; 0 for a
        host that solve did not price (or before the first one)."""
        shadow = np.zeros(host_uid.size)
        if self.shadow_state is None or not self.shadow_uid.size:
            return shadow
        known = np.isin(host_uid, self.shadow_uid)
        shadow[known] = self.shadow_state[np.searchsorted(self.shadow_uid, host_uid[known])]
        return shadow if signed else np.maximum(shadow, 0.0)

    # ----------------------------------------------------------------------------------------
    def refresh(self, network, consumers, products, families, host_uid: np.ndarray,
                last_price: np.ndarray) -> None:
        """Rebuild the topology when the network changed; re-base the references at
        ``last_price`` (model products) so a new product adds no volume by itself."""
        if network is self._network:
            return
        self._network = network
        if network.routes.route_consumer.size == 0:  # nothing to buy: no market this step
            self.topology, self.result = None, None
            self.state_key = np.zeros(0, dtype=np.int64)
            self.committed_ref = self.committed_volume = np.zeros((0, 2))
            return
        old_key = self.state_key
        # the old topology and the last solve's demand arrays are not read again: released
        # before the new topology is built (they are the largest arrays of the market)
        self.topology, self.result, self._markets = None, None, None
        if self.group is None:  # consumers' regions, sectors and platforms never change
            self.group = buyer_groups(consumers)
            self.n_groups = int(self.group.max(initial=-1)) + 1
        topo = build_topology(self.scenario, network, consumers, self.group, products, families)
        self.topology = topo
        n_groups = self.n_groups
        best = np.full(n_groups, -np.inf)
        np.maximum.at(best, topo.pair_group, topo.pair_quality)
        if self.start_quality is None:
            self.start_quality = best.copy()
        self.start_quality = np.where(np.isfinite(self.start_quality), self.start_quality, best)
        # committed states carried over by (group, host uid); exited hosts' customers shop
        key = topo.committed_group.astype(np.int64) * (1 << 32) + host_uid[
            topo.committed_host]
        ref = np.zeros((key.size, 2))
        volume = np.zeros((key.size, 2))
        if old_key.size:
            sorter = np.argsort(old_key)
            where = sorter[np.minimum(np.searchsorted(old_key, key, sorter=sorter),
                                      old_key.size - 1)]
            found = old_key[where] == key
            ref[found] = self.committed_ref[where[found]]
            volume[found] = self.committed_volume[where[found]]
        self.state_key = key
        self.committed_ref, self.committed_volume = ref, volume
        price = self._gnl_price(last_price)
        self.committed_logsum_ref = self._committed_reference(price)
        if self.shopper_logsum_ref is None:
            self.shopper_logsum_ref = np.zeros((n_groups, 2))
            self.shopper_volume_ratio = np.ones((n_groups, 2))
        seg = topo.segment_group
        shoppers = with_class_volumes(topo.shoppers, np.ones((seg.size, 2)), np.zeros((seg.size, 2)))
        logsum = gnl_demand(shoppers, price).logsum
        alpha = topo.shoppers.class_alpha
        eta = topo.shoppers.segment_eta[:, None]
        self.shopper_logsum_ref[seg] = chained_reference(logsum, alpha, eta,
                                                         self.shopper_volume_ratio[seg])

    def _gnl_price(self, model_price: np.ndarray) -> np.ndarray:
        return np.asarray(model_price, dtype=np.float64)[self.topology.priced]

    def _committed_reference(self, price: np.ndarray) -> np.ndarray:
        """``IV_ref`` of each committed segment-class such that its volume at ``price`` is
        ``committed_volume`` (its reference volume where it has none)."""
        topo = self.topology
        n_seg = topo.committed_group.size
        unit = with_class_volumes(topo.committed, np.ones((n_seg, 2)), np.zeros((n_seg, 2)))
        logsum = gnl_demand(unit, price).logsum
        alpha = topo.committed.class_alpha
        eta = topo.committed.segment_eta[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(self.committed_ref > 0, self.committed_volume / self.committed_ref,
                             1.0)
        return chained_reference(logsum, alpha, eta, ratio)

    # ----------------------------------------------------------------------------------------
    def task_volume(self, consumers) -> np.ndarray:
        """``T_mc = D_m w_c B_m`` per buyer group and class (Mtok/step at the reference)."""
        topo = self.topology
        best = np.full(self.n_groups, -np.inf)
        np.maximum.at(best, topo.pair_group, topo.pair_quality)
        factor = quality_volume_term(self.scenario, np.where(np.isfinite(best), best, 0.0),
                                     np.where(np.isfinite(self.start_quality),
                                              self.start_quality, 0.0))
        self.quality_factor = factor
        demand = np.bincount(self.group, consumers.demand, self.n_groups)
        return demand[:, None] * class_weights(self.scenario) * factor[:, None]

    def solve(self, consumers, products, producers, strategy_price: np.ndarray,
              fixed: np.ndarray, complement_value: np.ndarray, retention_value: np.ndarray,
              start_price: np.ndarray, host_uid: np.ndarray,
              capacity_clears: bool = True) -> StatesEquilibrium:
        """This step's prices and demand (model products; see the module docstring); without
        ``capacity_clears`` no capacity limit enters the prices (initialisation, and the
        outcome at given prices after exit or entry). None when no route exists."""
        topo = self.topology
        # the last solve's demand arrays are not read again: released before this one's
        self.result, self._markets = None, None
        if topo is None:
            return None
        task = self.task_volume(consumers)
        seg = topo.segment_group
        committed_total = np.zeros((self.n_groups, 2))
        np.add.at(committed_total, topo.committed_group, self.committed_ref)
        # demand that fell below what is committed: committed customers scale down with it
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(committed_total > task, task / committed_total, 1.0)
        self.committed_ref = self.committed_ref * scale[topo.committed_group]
        self.committed_volume = self.committed_volume * scale[topo.committed_group]
        committed_total = np.minimum(committed_total, task)
        shopper_ref = np.maximum(task - committed_total, 0.0)
        self.shopper_ref = shopper_ref
        shoppers = with_class_volumes(topo.shoppers, shopper_ref[seg], self.shopper_logsum_ref[seg])
        committed = with_class_volumes(topo.committed, self.committed_ref,
                                       self.committed_logsum_ref)
        live = topo.priced
        capacity = producers.capacity_gpu_s.copy() if capacity_clears else None
        m = self.scenario.market
        shadow = None
        if capacity is not None and self.shadow_state is not None:  # carried by host uid
            shadow = self.shadow_by_host(host_uid, signed=True)
        initial = start_price[live]
        if capacity is not None and self.solved_id is not None:  # warm start by product id
            initial = self._warm_start(products, live, initial)
        result = states_equilibrium(
            shoppers, committed, products.marginal_cost[live],
            load=products.load_gpu_s_per_mtok[live], capacity=capacity,
            complement_value=complement_value[live], retention_value=retention_value[live],
            review=Review(m.review_base_per_step, m.review_gap_per_step, m.review_cap_per_step),
            committed_gap_route=topo.committed_gap_route, fixed=fixed[live],
            fixed_price=strategy_price[live], initial_price=initial,
            initial_shadow=shadow, tol=TOLERANCE, max_iter=MAX_ITERATIONS,
            stall=STALL_ITERATIONS)
        if capacity_clears:
            order = np.argsort(host_uid)
            self.shadow_uid = host_uid[order]
            self.shadow_state = result.shadow_state[order]
            ids = products.product_id[live]
            order = np.argsort(ids)
            self.solved_id = ids[order]
            self.solved_margin = (result.solved_price - products.marginal_cost[live])[order]
        self.result = result
        self._markets = (shoppers, committed)
        return result

    def _warm_start(self, products, live: np.ndarray, start: np.ndarray) -> np.ndarray:
        """The solver's start: last step's iterate for the products it priced (before the
        capacity rounds that follow a solve stopped early), its margin carried to this step's
        marginal cost (prices >= 0); ``start`` for the others."""
        ids = products.product_id[live]
        where = np.minimum(np.searchsorted(self.solved_id, ids), self.solved_id.size - 1)
        known = self.solved_id[where] == ids
        carried = np.maximum(products.marginal_cost[live] + self.solved_margin[where], 0.0)
        return np.where(known, carried, start)

    def outcome(self, network, consumers, products, producers, price: np.ndarray
                ) -> tuple[MarketDemand, Clearing]:
        """This step's demand and what is served, on the network's routes (capacity that the
        equilibrium did not clear is rationed pro rata by host)."""
        if self.topology is None:
            return _no_market(network, consumers, products, producers, price)
        topo, result = self.topology, self.result
        shoppers, committed = self._markets
        n_routes = network.routes.route_consumer.size
        pair_demand = self._pair_total(shoppers, committed, result)
        host_load = np.bincount(topo.pair_host, pair_demand * products.load_gpu_s_per_mtok[
            topo.pair_product], minlength=len(producers))
        capacity = producers.capacity_gpu_s
        with np.errstate(divide="ignore", invalid="ignore"):
            served_share = np.where(host_load > capacity, capacity / host_load, 1.0)
        pair_served = pair_demand * served_share[topo.pair_host]
        self.pair_demand, self.pair_served = pair_demand, pair_served
        # each member buys its share of its group's task volume on every pair
        n_consumers = consumers.region.size
        group_demand = np.bincount(self.group, consumers.demand, self.n_groups)
        with np.errstate(divide="ignore", invalid="ignore"):
            member_share = np.where(group_demand[self.group] > 0,
                                    consumers.demand / group_demand[self.group], 0.0)
        share = member_share[topo.member_consumer]
        route_demand = np.zeros(n_routes)
        route_served = np.zeros(n_routes)
        route_demand[topo.member_route] = pair_demand[topo.member_pair] * share
        route_served[topo.member_route] = pair_served[topo.member_pair] * share
        volume = np.bincount(topo.member_consumer, route_demand[topo.member_route],
                             minlength=n_consumers)
        served = np.bincount(topo.member_consumer, route_served[topo.member_route],
                             minlength=n_consumers)
        route_price = price[network.routes.route_product] + network.transfer_usd
        # the group's price index: the volume-weighted geometric mean of its route prices
        log_price = np.log(price[topo.pair_product] + self.scenario.market.price_offset_usd_per_mtok)
        group_volume = np.bincount(topo.pair_group, pair_demand, minlength=self.n_groups)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean_log = np.bincount(topo.pair_group, pair_demand * log_price,
                                   minlength=self.n_groups) / group_volume
        index = np.where(volume > 0, np.exp(mean_log)[self.group], np.inf)
        # the inclusive value on the v2 scale the welfare measures read: the consumer's
        # reference minus alpha log(P / P_0), P_0 its index when it first bought
        if self.start_index is None:
            self.start_index = np.full(n_consumers, np.inf)
        first = ~np.isfinite(self.start_index) & np.isfinite(index)
        self.start_index[first] = index[first]
        with np.errstate(divide="ignore", invalid="ignore"):
            logsum = np.where(volume > 0, consumers.reference_logsum - consumers.alpha * np.log(
                index / self.start_index), -np.inf)
        producer_demand = np.bincount(network.routes.route_product, route_demand,
                                      minlength=len(products))
        producer_served = np.bincount(network.routes.route_product, route_served,
                                      minlength=len(products))
        demand = MarketDemand(
            route_price=route_price, _route_share=None, route_demand=route_demand,
            producer_demand=producer_demand, consumer_outside=np.zeros(n_consumers),
            consumer_logsum=logsum, consumer_surplus=np.zeros(n_consumers),
            consumer_volume=volume, consumer_outside_share=np.zeros(n_consumers),
            consumer_price_index=index)
        clearing = Clearing(
            route_served=route_served, producer_served=producer_served, consumer_served=served,
            consumer_unserved=volume - served, rounds=1,
            consumer_not_bought=np.zeros(n_consumers),
            host_load=np.bincount(topo.pair_host, pair_served * products.load_gpu_s_per_mtok[
                topo.pair_product], minlength=len(producers)))
        return demand, clearing

    def committed_share(self) -> float:
        """Share of this step's demand bought by committed customers (0-1)."""
        if self.topology is None:
            return 0.0
        total = float(self.pair_demand.sum())
        return float(self.pair_committed.sum()) / total if total > 0 else 0.0

    def _pair_total(self, shoppers, committed, result) -> np.ndarray:
        """Demand per pair (Mtok/step): shoppers' and committed customers' (all classes)."""
        topo = self.topology
        from_shoppers = _route_values_to_pairs(shoppers, result.shoppers.route_demand)
        sorted_committed = _route_values_to_pairs(committed, result.committed.route_demand)
        # committed input order = pairs sorted by committed segment (stable)
        c_order = np.argsort(topo.committed_segment_of_pair, kind="stable")
        from_committed = np.empty_like(sorted_committed)
        from_committed[c_order] = sorted_committed
        self.pair_committed = from_committed
        return from_shoppers + from_committed

    # ----------------------------------------------------------------------------------------
    def move_states(self, products) -> None:
        """Phase 6: committed customers review at this step's prices; shoppers who were served
        commit to the host they bought from (docs/ODD.md §6.2d). Keeps, per committed segment
        and class, ``committed_ref`` (reference volume), ``committed_volume`` (volume at this
        step's prices) and the reference inclusive value that gives that volume."""
        if self.topology is None or self.result is None:
            return
        topo, result = self.topology, self.result
        shoppers, committed = self._markets
        m = self.scenario.market
        gap = rival_log_gap(shoppers, result.price)[topo.committed_gap_route]
        hazard, _ = review_hazard(gap, m.review_base_per_step, m.review_gap_per_step,
                                  m.review_cap_per_step)
        n_seg = topo.committed_group.size
        seg = committed.route_segment
        segment_hazard = np.zeros((n_seg, 2))
        for c in range(2):  # the segment's hazard: its routes' hazards at its within-host shares
            segment_hazard[:, c] = np.bincount(seg, result.committed.route_share[c] * hazard,
                                               n_seg)
        segment_hazard = np.minimum(segment_hazard, 1.0)
        # shoppers served by each host, per (consumer, host) committed segment and class
        host_served_share = self._host_served_share(products)
        s_route = shoppers.route_order  # stored shopper route -> pair
        won_volume = np.zeros((n_seg, 2))
        segment_of_route = topo.committed_segment_of_pair[s_route]
        for c in range(2):
            served = result.shoppers.route_demand[c] * host_served_share[topo.pair_host[s_route]]
            won_volume[:, c] = np.bincount(segment_of_route, served, n_seg)
        shopper_volume = result.shoppers.volume  # (M, K) at this step's prices
        seg_index = np.searchsorted(topo.segment_group, topo.committed_group)
        with np.errstate(divide="ignore", invalid="ignore"):
            won_ref = np.where(shopper_volume[seg_index] > 0,
                               self.shopper_ref[topo.committed_group]
                               * won_volume / shopper_volume[seg_index], 0.0)
        kept = 1.0 - segment_hazard
        self.committed_ref = self.committed_ref * kept + won_ref
        self.committed_volume = result.committed.volume * kept + won_volume
        self.last_hazard = segment_hazard
        alpha = committed.class_alpha
        eta = committed.segment_eta[:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(self.committed_ref > 0,
                             self.committed_volume / self.committed_ref, 1.0)
        self.committed_logsum_ref = chained_reference(result.committed.logsum, alpha, eta, ratio)
        alpha_s = shoppers.class_alpha
        eta_s = shoppers.segment_eta[:, None]
        self.shopper_volume_ratio[topo.segment_group] = np.exp(
            eta_s / alpha_s * (result.shoppers.logsum - shoppers.class_logsum_ref))

    def _host_served_share(self, products) -> np.ndarray:
        topo = self.topology
        demand = np.bincount(topo.pair_host, self.pair_demand, minlength=topo.pair_host.max() + 1)
        served = np.bincount(topo.pair_host, self.pair_served, minlength=demand.size)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(demand > 0, served / demand, 1.0)

    def commit_everyone(self, consumers) -> None:
        """Initial states: every customer committed to the host it buys from at this step's
        prices (shares of the uncapacitated demand)."""
        topo, result = self.topology, self.result
        shoppers = self._markets[0]
        n_seg = topo.committed_group.size
        s_route = shoppers.route_order
        segment_of_route = topo.committed_segment_of_pair[s_route]
        won_volume = np.zeros((n_seg, 2))
        for c in range(2):
            won_volume[:, c] = np.bincount(segment_of_route, result.shoppers.route_demand[c],
                                           n_seg)
        seg_index = np.searchsorted(topo.segment_group, topo.committed_group)
        volume = result.shoppers.volume[seg_index]
        with np.errstate(divide="ignore", invalid="ignore"):
            self.committed_ref = np.where(volume > 0, self.shopper_ref[topo.committed_group]
                                          * won_volume / volume, 0.0)
        self.committed_volume = won_volume
        self.committed_logsum_ref = self._committed_reference(result.price)

    def value_of_customers(self, products, forward: np.ndarray, discount: np.ndarray,
                           complement_weight: np.ndarray, last_price: np.ndarray
                           ) -> tuple[np.ndarray, np.ndarray]:
        """Per model product, ``(omega, X)`` for hosts that look forward (0 for the others):
        ``omega`` the owner's complement weight times marginal cost, USD/Mtok (docs/calibration.md
        C16), and ``X = x / (1 - x)``, ``x = delta (1 - h)``, so that a shopper won is worth
        ``psi = X max(m, 0)`` (:func:`~pricewar.kernel.customer_states.shopper_value`): ``h``
        the product's mean review hazard at last step's price gaps, ``delta`` its host's
        discount factor per step."""
        topo = self.topology
        m = self.scenario.market
        n = len(products)
        if not forward.any() or topo is None:
            return np.zeros(n), np.zeros(n)
        live = np.flatnonzero(topo.priced)
        gap = rival_log_gap(topo.shoppers, last_price[live])
        hazard, _ = review_hazard(gap, m.review_base_per_step, m.review_gap_per_step,
                                  m.review_cap_per_step)
        counts = np.bincount(topo.shoppers.route_product, minlength=live.size)
        mean_hazard = np.bincount(topo.shoppers.route_product, hazard, live.size) / np.maximum(
            counts, 1)
        product_hazard = np.full(n, m.review_cap_per_step)
        product_hazard[live] = mean_hazard
        x = retention_factor(product_hazard, discount[products.producer])
        retention = np.where(forward, x / (1.0 - x), 0.0)
        omega = np.where(forward, complement_weight[products.producer] * products.marginal_cost,
                         0.0)
        return omega, retention
