"""The phases of one step (docs/ODD.md §3), each a function that says what it reads and writes.

Exogenous update, costs, prices and clearing. Settlement is in :mod:`pricewar.model.settlement`,
investment in :mod:`pricewar.model.investment`, exit and entry in
:mod:`pricewar.model.entry_exit`.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from pricewar.kernel import (
    Clearing,
    MarketDemand,
    RouteMarket,
    clear_capacity,
    market_demand,
)
from pricewar.model.network import MarketNetwork
from pricewar.model.population import ConsumerArrays, ProducerArrays, ProductArrays
from pricewar.model.products import FamilyTable
from pricewar.model.regions import RegionTable
from pricewar.strategies import STRATEGY_REGISTRY, PricingView, scarcity_update
from pricewar.strategies.base import best_response_target
from pricewar.supply.cohort_costs import SupplyCosts, fixed_power_w
from pricewar.supply.fleet import Fleet
from pricewar.supply.product_costs import Hosts, best_chips, product_costs
from pricewar.units import DAYS_PER_YEAR, W_PER_MW

#: lowest list price (log P must stay defined), USD/Mtok
MIN_LOG_PRICE_USD_PER_MTOK = 1e-6


def years_between(start: dt.date, date: dt.date) -> float:
    """Years from ``start`` to ``date`` (Julian years)."""
    return (date - start).days / DAYS_PER_YEAR


def served_weighted(values: np.ndarray, weight: np.ndarray, group: np.ndarray,
                    n_groups: int) -> np.ndarray:
    """Per group, the ``weight``-weighted mean of ``values`` (the unweighted mean where the group
    has no weight, 0 where it has no member)."""
    total = np.bincount(group, weight, minlength=n_groups)
    weighted = np.bincount(group, values * weight, minlength=n_groups)
    count = np.bincount(group, minlength=n_groups)
    plain = np.bincount(group, values, minlength=n_groups)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, weighted / total, np.where(count > 0, plain / count, 0.0))


# ------------------------------------------------------------------------------------------------
# 1. exogenous update
# ------------------------------------------------------------------------------------------------
def demand_multiplier(events, step: int, consumer_region: np.ndarray,
                      regions: RegionTable) -> np.ndarray:
    """Product of the demand shocks active at ``step``, per consumer (dimensionless)."""
    multiplier = np.ones(consumer_region.size)
    for event in events:
        active = event.step <= step and (
            event.duration_steps == 0 or step < event.step + event.duration_steps)
        if event.kind == "demand_shock" and active:
            target = (consumer_region == regions.names.index(event.group)
                      if event.group else slice(None))
            multiplier[target] *= 1.0 + event.fraction
    return multiplier


def exogenous_update(scenario, step: int, regions: RegionTable, consumers: ConsumerArrays,
                     fleet: Fleet) -> None:
    """Task volumes grow and shocks apply; retired GPU cohorts leave the fleet.

    Writes ``consumers.demand`` (``D_j(t) = D_j(0) (1 + g)^t`` times the active shocks).
    """
    growth = (1.0 + scenario.demand.growth_per_step) ** step
    consumers.demand = consumers.base_demand * growth * demand_multiplier(
        scenario.events, step, consumers.region, regions)
    fleet.drop_retired(step)


# ------------------------------------------------------------------------------------------------
# 2. costs
# ------------------------------------------------------------------------------------------------
def host_sites(regions: RegionTable, producers: ProducerArrays) -> Hosts:
    """Where and how each host serves. Reads the hosts' region, last step's green share,
    serving efficiency and WACC; writes ``producers.electricity, grid_electricity, pue, carbon,
    facility``."""
    region = producers.region
    grid = regions.electricity_usd_per_kwh[region]
    green = regions.green_supply_usd_per_kwh[region]
    # last step's share of energy from direct green supply lowers the expected power price
    producers.electricity = grid - (grid - green) * producers.green_share
    producers.grid_electricity = grid
    producers.pue = regions.pue[region]
    producers.carbon = regions.carbon_kg_per_kwh[region]
    producers.facility = regions.facility_usd_per_w[region]
    return Hosts(bloc=regions.bloc[region], electricity_usd_per_kwh=producers.electricity,
                 pue=producers.pue, facility_usd_per_w=producers.facility,
                 carbon_kg_per_kwh=producers.carbon,
                 serving_efficiency=producers.serving_efficiency, wacc=producers.wacc)


def main_family(producers: ProducerArrays, products: ProductArrays, fallback: int) -> np.ndarray:
    """Per host, the family of its best-selling product last step (its first product when it
    sold nothing; ``fallback`` when it has none): the family its chip choice is made for."""
    n = len(producers)
    family = np.full(n, fallback, dtype=np.int64)
    if len(products):
        order = np.lexsort((-products.served, products.producer))
        first = np.flatnonzero(np.r_[True, np.diff(products.producer[order]) != 0])
        family[products.producer[order[first]]] = products.family[order[first]]
    return family


def update_costs(scenario, supply: SupplyCosts, date: dt.date, step: int,
                 regions: RegionTable, families: FamilyTable, fleet: Fleet,
                 producers: ProducerArrays, products: ProductArrays,
                 family_fixed_usd_per_year: np.ndarray) -> None:
    """This step's costs and capacity of every product and host (docs/ODD.md §6.1).

    ``family_fixed_usd_per_year`` is each family's fixed cost this year (0 when not live),
    paid by its owner's host. Reads the hosts' sites and last step's load. Writes
    ``producers.best_chip, best_chip_buyable, capacity_gpu_s, capacity, fixed_usd_per_year,
    family_fixed_usd_per_year, always_on_mw, gpus, pipeline_gpus, marginal_cost, full_cost`` and
    ``products.marginal_cost, full_cost, load_gpu_s_per_mtok, energy_usd_per_mtok,
    energy_j_per_token, marginal_energy, marginal_capacity, full_energy, full_capital,
    full_opex``.
    """
    levers = scenario.policy
    hosts = host_sites(regions, producers)
    anchor = families.names.index(scenario.serving.anchor_family)
    producers.best_chip, best_cost = best_chips(supply, hosts,
                                                main_family(producers, products, anchor), date,
                                                levers)
    # a bloc that may buy no chip at the date keeps a placeholder chip at an infinite cost
    producers.best_chip_buyable = np.isfinite(best_cost)
    costs, host_costs = product_costs(
        supply, fleet, step, date, hosts, producers.best_chip, products.producer,
        products.family, producers.load_gpu_s, levers, scenario.step_seconds,
        scenario.costs.max_utilisation)
    products.marginal_cost = costs.marginal_usd_per_mtok
    products.full_cost = costs.full_usd_per_mtok
    products.load_gpu_s_per_mtok = costs.load_gpu_s_per_mtok
    products.energy_usd_per_mtok = costs.energy_usd_per_mtok
    products.energy_j_per_token = costs.energy_j_per_token
    products.marginal_energy = costs.marginal_energy_usd_per_mtok
    products.marginal_capacity = costs.marginal_capacity_usd_per_mtok
    products.full_energy = costs.full_energy_usd_per_mtok
    products.full_capital = costs.full_capital_usd_per_mtok
    products.full_opex = costs.full_opex_usd_per_mtok
    n = len(producers)
    producers.capacity_gpu_s = host_costs.capacity_gpu_s
    producers.fixed_usd_per_year = host_costs.fixed_usd_per_year
    producers.gpus = host_costs.gpus
    producers.pipeline_gpus = host_costs.pipeline_gpus
    owned = np.bincount(families.owner, family_fixed_usd_per_year,
                        minlength=int(families.owner.max(initial=0)) + 1)
    producers.family_fixed_usd_per_year = np.where(
        producers.owner >= 0, owned[np.maximum(producers.owner, 0)], 0.0)
    online = fleet.is_online(step)
    host, chip = fleet.producer[online], fleet.chip[online]
    chips = supply.serving.chips
    producers.always_on_mw = np.bincount(
        host, fleet.gpus[online] * fixed_power_w(chips.power_w[chip], chips.idle_power_w[chip],
                                                 chips.server_power_w[chip]),
        minlength=n) * producers.pue / W_PER_MW
    # host aggregates at last step's sales mix
    weight = products.served
    producers.marginal_cost = served_weighted(products.marginal_cost, weight, products.producer, n)
    producers.full_cost = served_weighted(products.full_cost, weight, products.producer, n)
    load = served_weighted(products.load_gpu_s_per_mtok, weight, products.producer, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        producers.capacity = np.where(load > 0, producers.capacity_gpu_s / load, 0.0)


# ------------------------------------------------------------------------------------------------
# 3. prices
# ------------------------------------------------------------------------------------------------
def route_market(scenario, network: MarketNetwork, consumers: ConsumerArrays,
                 producers: ProducerArrays, products: ProductArrays, n_families: int,
                 capacitated: bool = True,
                 customer_base_utility: np.ndarray | None = None) -> RouteMarket:
    """The kernel's market: products as producers, families as nests, hosts' capacity in
    GPU-seconds, isoelastic volume around the reference inclusive value, no outside option,
    rationing with re-choice (docs/ODD.md §6.2-6.3); ``customer_base_utility`` (utils per
    route, :mod:`pricewar.model.customer_base`) is added to the routes' utility."""
    return RouteMarket(
        network.routes.topology,
        route_utility=(network.utility if customer_base_utility is None
                       else network.utility + customer_base_utility),
        route_price_extra=network.transfer_usd,
        consumer_alpha=consumers.alpha,
        consumer_demand=consumers.demand,
        consumer_outside_utility=np.full(consumers.region.size, -np.inf),
        price_form="log",
        nest_sigma=np.full(n_families, scenario.demand.nest_sigma),
        consumer_eta=consumers.eta,
        consumer_logsum_ref=consumers.reference_logsum,
        host_capacity=producers.capacity_gpu_s if capacitated else None,
        producer_load=products.load_gpu_s_per_mtok,
        rationing="rechoice",
    )


def apply_price_events(events, step: int, producers: ProducerArrays, products: ProductArrays,
                       list_price: np.ndarray) -> np.ndarray:
    """Scheduled price cuts: the chosen hosts commit every product to a cut of its
    ``list_price`` (USD/Mtok per product: the list price before this step's strategies, a
    product released this step at its entry price) for a while. Writes
    ``products.commit_price, commit_until`` and ``producers.commit_until``; returns the mask of
    products whose list price is committed this step."""
    for event in events:
        if event.kind != "price_cut" or event.step != step:
            continue
        members = np.flatnonzero(producers.group == event.group)
        if members.size == 0:
            continue  # the group has exited
        largest = members[np.argsort(-producers.served[members], kind="stable")]
        chosen = np.isin(products.producer, largest[: event.producers])
        products.commit_price[chosen] = list_price[chosen] * (1.0 - event.fraction)
        products.commit_until[chosen] = step + event.duration_steps
    producers.commit_until = np.full(len(producers), -1.0)
    np.maximum.at(producers.commit_until, products.producer, products.commit_until)
    return products.commit_until >= step


def pricing_view(scenario, market: RouteMarket, base: np.ndarray, producers: ProducerArrays,
                 products: ProductArrays, families: FamilyTable, strategy_state: dict,
                 step: int, rng: np.random.Generator) -> PricingView:
    """What hosts see when they price their products (one unit per product)."""
    return PricingView(market, base, products.marginal_cost, products.full_cost,
                       producers.cash[products.producer], scenario.pricing,
                       producer_ids=products.product_id,
                       producer_group=families.tier[products.family],
                       producer_firm=products.producer, state=strategy_state, step=step, rng=rng,
                       strategy_params=scenario.strategy_params)


def entry_prices(view: PricingView, products: ProductArrays, alpha: float) -> np.ndarray:
    """List prices of fresh products (released families, new hosts): their best response to the
    current prices from a start at the host's median markup on its other products (else the
    markup ``alpha / (alpha - 1)`` of a small product alone in its nest)."""
    fresh = products.fresh > 0
    base = view.price.copy()
    if not fresh.any():
        return base
    cost = products.marginal_cost
    markup = np.full(len(products), alpha / (alpha - 1.0))
    for i in np.unique(products.producer[fresh]):
        priced = (products.producer == i) & ~fresh & (cost > 0)
        if priced.any():
            markup[products.producer == i] = np.median(base[priced] / cost[priced])
    base[fresh] = np.maximum(cost[fresh] * markup[fresh], MIN_LOG_PRICE_USD_PER_MTOK)
    start = PricingView(view.market, base, cost, view.full_cost, view.cash, view.params)
    base[fresh] = best_response_target(start)[fresh]
    return base


def set_list_prices(view: PricingView, producers: ProducerArrays, products: ProductArrays,
                    events, step: int, alpha: float) -> None:
    """Fresh products get entry prices; this step's scheduled cuts apply (to the entry price of
    a product released this step: it has no list price yet); hosts then set list prices by
    their strategy, product by product; committed cutters post their cut price (every strategy
    sees it as given). Writes ``products.base_price, fresh`` and what
    :func:`apply_price_events` writes."""
    view.price = entry_prices(view, products, alpha)
    committed = apply_price_events(events, step, producers, products, view.price)
    view.price = np.where(committed, products.commit_price, view.price)
    view.demand = None
    base = view.price.copy()
    strategy = producers.strategy[products.producer]
    for name in np.unique(strategy):
        members = np.flatnonzero((strategy == name) & ~committed)
        if members.size:
            base[members] = STRATEGY_REGISTRY[str(name)](view, members)
    products.base_price = np.maximum(base, MIN_LOG_PRICE_USD_PER_MTOK)
    products.fresh[:] = 0.0


def set_posted_prices(pricing, producers: ProducerArrays, products: ProductArrays) -> None:
    """Peak pricing on top of every strategy, one factor per host, driven by last step's load
    offered to the host (notional demand, or the realised load after spill-over if larger)
    against this step's capacity (docs/ODD.md §6.4). Writes ``producers.surcharge, price,
    base_price`` and ``products.price``."""
    producers.surcharge = scarcity_update(
        producers.surcharge, producers.offered_gpu_s, producers.capacity_gpu_s,
        producers.elasticity, pricing.scarcity_threshold, pricing.scarcity_max_increase)
    products.price = products.base_price * producers.surcharge[products.producer]
    n = len(producers)
    producers.price = served_weighted(products.price, products.served, products.producer, n)
    producers.base_price = served_weighted(products.base_price, products.served,
                                           products.producer, n)


# ------------------------------------------------------------------------------------------------
# 4. clearing
# ------------------------------------------------------------------------------------------------
def clear_market(market: RouteMarket, price: np.ndarray) -> tuple[MarketDemand, Clearing]:
    """Nested-logit demand at the posted prices, then capacity clearing by host with re-choice
    (docs/ODD.md §6.2-6.3)."""
    demand = market_demand(market, price)
    return demand, clear_capacity(market, demand)
