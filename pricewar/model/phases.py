"""The phases of one model step (docs/ODD.md §3), as functions of the state they read and write.

exogenous update -> costs -> prices (producers by strategy, then platforms) -> demand and capacity
clearing (kernel) -> settlement. Investment is :mod:`pricewar.model.investment`, exit and entry
:mod:`pricewar.model.entry_exit`. Each function's docstring says which columns it writes; it reads
only its arguments. Units: prices USD/Mtok, volumes Mtok/step, money USD, energy MWh/step.
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
    own_price_derivative,
)
from pricewar.market import dynamics
from pricewar.market.chips import ChipTable
from pricewar.market.costs import (
    CostConditions,
    ProducerCosts,
    capacity_mtok_per_step,
    efficiency_multiplier,
)
from pricewar.market.fleet import Fleet, fleet_costs
from pricewar.model.network import MarketNetwork
from pricewar.model.population import ConsumerArrays, PlatformArrays, ProducerArrays
from pricewar.model.regions import RegionTable
from pricewar.strategies import STRATEGY_OBSERVERS, STRATEGY_REGISTRY, PricingView, scarcity_update
from pricewar.units import (
    DAYS_PER_YEAR,
    J_PER_MWH,
    KWH_PER_MWH,
    SECONDS_PER_YEAR,
    TOKENS_PER_MTOK,
)

MWH_PER_MTOK_PER_J = TOKENS_PER_MTOK / J_PER_MWH  # MWh per (Mtok x J/token)
#: lowest list price with the log price form (log P must stay defined), USD/Mtok
MIN_LOG_PRICE_USD_PER_MTOK = 1e-6


def decimal_year(date: dt.date) -> float:
    """``date`` as a decimal year (2024-01-01 -> 2024.0)."""
    return date.year + (date.timetuple().tm_yday - 1) / DAYS_PER_YEAR


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
    """Potential demand grows and shocks apply; retired GPU cohorts leave the fleet.

    Writes ``consumers.demand``.
    """
    growth = (1.0 + scenario.demand.growth_per_step) ** step
    consumers.demand = consumers.base_demand * growth * demand_multiplier(
        scenario.events, step, consumers.region, regions)
    fleet.drop_retired(step)


# ------------------------------------------------------------------------------------------------
# 2. costs
# ------------------------------------------------------------------------------------------------
def export_lag_years(policy, controlled: np.ndarray) -> np.ndarray:
    """Years each producer trails the chip frontier: the policy's lag for producers in
    export-controlled regions (``controlled``) while the export-control penalty is on."""
    lag = policy.export_control_lag_years if policy.export_control_penalty > 0 else 0.0
    return np.where(controlled, lag, 0.0)


def update_costs(scenario, date: dt.date, step: int, regions: RegionTable, chips: ChipTable,
                 fleet: Fleet, producers: ProducerArrays
                 ) -> tuple[ProducerCosts, CostConditions]:
    """This step's costs and capacity of every producer (docs/ODD.md §6.1).

    Reads ``producers.region`` and last step's ``green_share``. Writes ``producers.best_chip,
    export_penalty, hardware_penalty, electricity, grid_electricity, pue, carbon, facility,
    fixed_usd_per_year, marginal_cost, gpus, pipeline_gpus, capacity``. Returns the cost
    components and the conditions they were computed under.
    """
    s = scenario
    controlled = regions.export_controlled[producers.region]
    producers.best_chip = dynamics.best_chip(chips, decimal_year(date),
                                             export_lag_years(s.policy, controlled))
    # export controls degrade the frontier chips CN producers run (H20/domestic substitutes)
    producers.export_penalty = np.where(controlled, s.policy.export_control_penalty, 0.0)
    producers.hardware_penalty = (producers.export_penalty
                                  * s.policy.export_control_hardware_share)
    region = producers.region
    grid = regions.electricity_usd_per_kwh[region]
    green = regions.green_supply_usd_per_kwh[region]
    # last step's share of energy from direct green supply lowers the expected power price
    producers.electricity = grid - (grid - green) * producers.green_share
    producers.grid_electricity = grid
    producers.pue = regions.pue[region]
    producers.carbon = regions.carbon_kg_per_kwh[region]
    producers.facility = regions.facility_usd_per_w[region]
    technology = s.technology
    conditions = CostConditions(
        efficiency=efficiency_multiplier(date, dt.date.fromisoformat(technology.reference_date),
                                         technology.algorithmic_efficiency_per_year,
                                         technology.software_efficiency_per_year),
        export_penalty=producers.export_penalty, hardware_penalty=producers.hardware_penalty,
        facility_usd_per_w=producers.facility, pue=producers.pue,
        electricity_usd_per_kwh=producers.electricity, gpu_life_years=s.costs.gpu_life_years,
        planned_utilisation=s.costs.planned_utilisation,
        fixed_opex_share_per_year=s.costs.fixed_opex_share_per_year)
    n = len(producers)
    costs, throughput, producers.fixed_usd_per_year = fleet_costs(
        fleet, chips, step, n, conditions, fallback_chip=producers.best_chip)
    producers.marginal_cost = costs.marginal_usd_per_mtok
    producers.gpus = fleet.gpus_by_producer(n, step)
    producers.pipeline_gpus = fleet.gpus_by_producer(n, step, pipeline=True)
    producers.capacity = capacity_mtok_per_step(throughput, s.step_seconds,
                                                s.costs.max_utilisation)
    return costs, conditions


def route_market(network: MarketNetwork, platforms: PlatformArrays, consumers: ConsumerArrays,
                 producer_capacity: np.ndarray, price_form: str) -> RouteMarket:
    """The kernel's market at the consumers' demand, the capacities and the platform markups."""
    r = network.routes
    extra = network.transfer_usd
    if price_form != "log":
        extra = platforms.markup[r.route_platform] + extra
    return RouteMarket(
        r.topology,
        route_utility=network.utility,
        route_price_extra=extra,
        consumer_alpha=consumers.alpha,
        consumer_demand=consumers.demand,
        consumer_outside_utility=consumers.outside_utility,
        producer_capacity=producer_capacity,
        price_form=price_form,
    )


# ------------------------------------------------------------------------------------------------
# 3. prices
# ------------------------------------------------------------------------------------------------
def apply_price_events(events, step: int, producers: ProducerArrays) -> np.ndarray:
    """Scheduled price cuts: the chosen producers commit to a cut list price for a while.

    Writes ``producers.commit_price, commit_until``; returns the mask of producers whose list
    price is committed this step.
    """
    for event in events:
        if event.kind != "price_cut" or event.step != step:
            continue
        members = np.flatnonzero(producers.group == event.group)
        if members.size == 0:
            continue  # the group has exited
        largest = members[np.argsort(-producers.served[members], kind="stable")]
        chosen = largest[: event.producers]
        producers.commit_price[chosen] = producers.base_price[chosen] * (1.0 - event.fraction)
        producers.commit_until[chosen] = step + event.duration_steps
    return producers.commit_until >= step


def set_list_prices(scenario, producers: ProducerArrays, committed: np.ndarray,
                    market: RouteMarket, producer_ids: np.ndarray, strategy_state: dict,
                    step: int, rng: np.random.Generator) -> None:
    """Producers set list prices by their strategy; committed cutters post their cut price
    (every strategy sees it as given).

    ``market`` is the market producers price against (this step's demand, last step's platform
    markups). Writes ``producers.base_price``.
    """
    base = np.where(committed, producers.commit_price, producers.base_price)
    view = PricingView(market, base, producers.marginal_cost, producers.full_cost,
                       producers.cash, scenario.pricing, producer_ids=producer_ids,
                       state=strategy_state, step=step, rng=rng,
                       strategy_params=scenario.strategy_params)
    base = base.copy()
    for name in np.unique(producers.strategy):
        members = np.flatnonzero((producers.strategy == name) & ~committed)
        if members.size:
            base[members] = STRATEGY_REGISTRY[str(name)](view, members)
    floor = MIN_LOG_PRICE_USD_PER_MTOK if scenario.price_form == "log" else 0.0
    producers.base_price = np.maximum(base, floor)


def set_posted_prices(pricing, producers: ProducerArrays, previous_market: RouteMarket,
                      last_demand: MarketDemand) -> None:
    """Peak pricing on top of every strategy, driven by last step's demand against this step's
    capacity (docs/ODD.md §6.4).

    Reads last step's posted ``producers.price``. Writes ``producers.surcharge, price``.
    """
    slope = -own_price_derivative(previous_market, last_demand)
    with np.errstate(divide="ignore", invalid="ignore"):
        elasticity = np.where(last_demand.producer_demand > 0,
                              slope * producers.price / last_demand.producer_demand, 1.0)
    producers.surcharge = scarcity_update(
        producers.surcharge, last_demand.producer_demand, producers.capacity, elasticity,
        pricing.scarcity_threshold, pricing.scarcity_max_increase)
    producers.price = producers.base_price * producers.surcharge


def set_platform_markups(platforms: PlatformArrays, producer_price: np.ndarray) -> None:
    """Writes ``platforms.markup``: the markup rate times the mean listed price (USD/Mtok)."""
    mean_listed = np.array([producer_price[listed].mean() if listed.size else 0.0
                            for listed in platforms.listings])
    platforms.markup = platforms.markup_rate * mean_listed


# ------------------------------------------------------------------------------------------------
# 4. clearing
# ------------------------------------------------------------------------------------------------
def clear_market(market: RouteMarket, price: np.ndarray) -> tuple[MarketDemand, Clearing]:
    """Logit demand at the posted prices, then capacity clearing (docs/ODD.md §6.2-6.3)."""
    demand = market_demand(market, price)
    return demand, clear_capacity(market, demand)


# ------------------------------------------------------------------------------------------------
# 5. settlement
# ------------------------------------------------------------------------------------------------
def settle(scenario, regions: RegionTable, network: MarketNetwork, costs: ProducerCosts,
           demand: MarketDemand, clearing: Clearing, producers: ProducerArrays,
           platforms: PlatformArrays, consumers: ConsumerArrays) -> None:
    """Volumes, utilisation, full cost, energy (grid and direct green), emissions, revenue,
    profit and cash of this step's cleared market.

    Writes ``producers.served, demand, growth_forecast, utilisation, full_cost, energy_mwh,
    flexible_served, green_mwh, green_share, emissions_t, revenue, profit, cash``;
    ``platforms.served, revenue``; ``consumers.served, unserved, outside, surplus``.
    """
    s = scenario
    r = network.routes
    served = clearing.producer_served
    previous_demand = producers.demand
    producers.served = served
    producers.demand = demand.producer_demand
    producers.growth_forecast = dynamics.update_growth_forecast(
        producers.growth_forecast, producers.demand, previous_demand,
        s.dynamics.demand_forecast_smoothing)
    with np.errstate(divide="ignore", invalid="ignore"):
        producers.utilisation = np.where(producers.capacity > 0,
                                         served / producers.capacity, 0.0)
    raw_utilisation = producers.utilisation * s.costs.max_utilisation
    producers.full_cost = costs.full_usd_per_mtok(raw_utilisation)
    mwh_per_mtok = costs.energy_j_per_token * producers.pue * MWH_PER_MTOK_PER_J
    producers.energy_mwh = served * mwh_per_mtok
    # flexible (batch) load can run on otherwise-curtailed direct green supply
    flexible = network.flexible_routes
    producers.flexible_served = np.bincount(
        r.route_producer[flexible], clearing.route_served[flexible], minlength=len(producers))
    producers.green_mwh = dynamics.green_energy_split(
        producers.flexible_served * mwh_per_mtok, producers.region,
        regions.green_supply_cap_mwh_per_step)
    with np.errstate(divide="ignore", invalid="ignore"):
        producers.green_share = np.where(producers.energy_mwh > 0,
                                         producers.green_mwh / producers.energy_mwh, 0.0)
    grid_mwh = producers.energy_mwh - producers.green_mwh
    green_price = regions.green_supply_usd_per_kwh[producers.region]
    energy_cost = KWH_PER_MWH * (grid_mwh * producers.grid_electricity
                                 + producers.green_mwh * green_price)
    producers.emissions_t = grid_mwh * producers.carbon
    fixed_cost = producers.fixed_usd_per_year * (s.step_seconds / SECONDS_PER_YEAR)
    producers.revenue = producers.price * served
    producers.profit = producers.revenue - energy_cost - fixed_cost
    producers.cash = producers.cash + producers.profit

    n_platforms = platforms.region.size
    platforms.served = np.bincount(r.route_platform, clearing.route_served,
                                   minlength=n_platforms)
    if s.price_form == "log":  # percentage markup on each route's producer price
        markup_revenue = (platforms.markup_rate[r.route_platform]
                          * producers.price[r.route_producer] * clearing.route_served)
        platforms.revenue = np.bincount(r.route_platform, markup_revenue, minlength=n_platforms)
    else:
        platforms.revenue = platforms.markup * platforms.served
    consumers.served = clearing.consumer_served
    consumers.unserved = clearing.consumer_unserved
    consumers.outside = demand.consumer_outside
    consumers.surplus = demand.consumer_surplus


def observe_settlement(strategy_state: dict, producer_strategy: np.ndarray,
                       producer_ids: np.ndarray, profit: np.ndarray) -> None:
    """Call the ``observe`` hook of every strategy in use that registered one (learning
    strategies see their realised profit this way)."""
    for name in np.unique(producer_strategy):
        observe = STRATEGY_OBSERVERS.get(str(name))
        if observe is not None:
            observe(strategy_state, producer_ids, profit)
