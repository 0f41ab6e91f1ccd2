"""Settlement of a cleared market (docs/ODD.md §3, step 5): volumes, energy, costs, profit and
cash of hosts and products, platforms' revenue, consumers' volumes and welfare.

Consumer welfare (docs/ODD.md §6.2 "Welfare") is exact for the isoelastic upper level: with
expenditure ``E_j`` on served tokens and ``log(P_0 / P_1) = (IV_1 - IV_0) / alpha_j``, the
compensating variation of a move of the price index from ``P_0`` to ``P_1`` is

    CV_j = E_j ((P_0 / P_1)^(1 - eta) - 1) / (1 - eta)        (eta != 1)
    CV_j = E_j log(P_0 / P_1)                                   (eta = 1)

(the area under ``X_j(P) = X_j (P / P_1)^-eta`` between the two prices). It depends on price
ratios only, never on the level of the utilities, and is finite; consumers without any route
(``IV = -inf``) contribute 0.
"""

from __future__ import annotations

import numpy as np

from pricewar.kernel import Clearing, MarketDemand, RouteMarket, own_price_derivative
from pricewar.kernel.arrays import scatter_sum
from pricewar.model.network import MarketNetwork
from pricewar.model.phases import served_weighted
from pricewar.model.population import (
    ConsumerArrays,
    PlatformArrays,
    ProducerArrays,
    ProductArrays,
)
from pricewar.model.regions import RegionTable
from pricewar.scenario.parameters import MARKET_V2
from pricewar.strategies import STRATEGY_OBSERVERS
from pricewar.supply import dynamics
from pricewar.units import (
    J_PER_MWH,
    KWH_PER_MWH,
    SECONDS_PER_HOUR,
    SECONDS_PER_YEAR,
    TOKENS_PER_MTOK,
)

MWH_PER_MTOK_PER_J = TOKENS_PER_MTOK / J_PER_MWH  # MWh per (Mtok x J/token)


def compensating_variation(expenditure: np.ndarray, log_ratio: np.ndarray,
                           eta: np.ndarray) -> np.ndarray:
    """``E ((P_0/P_1)^(1-eta) - 1) / (1 - eta)`` with ``log_ratio = log(P_0/P_1)`` (``E log_ratio``
    at ``eta = 1``), USD; 0 where the ratio is not finite."""
    finite = np.isfinite(log_ratio)
    x = np.where(finite, log_ratio, 0.0)
    k = 1.0 - eta
    small = np.abs(k) < 1e-9
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        general = np.expm1(k * x) / np.where(small, 1.0, k)
    return np.where(finite, expenditure * np.where(small, x, general), 0.0)


def settle_consumers(consumers: ConsumerArrays, demand: MarketDemand, clearing: Clearing,
                     network: MarketNetwork) -> None:
    """Writes ``consumers.volume, served, unserved, not_bought, previous_logsum, logsum,
    price_index, expenditure, surplus, welfare_change``."""
    routes = network.routes
    consumers.volume = demand.consumer_volume
    consumers.served = clearing.consumer_served
    consumers.unserved = clearing.consumer_unserved
    consumers.not_bought = clearing.consumer_not_bought
    consumers.previous_logsum = consumers.logsum
    consumers.logsum = demand.consumer_logsum
    consumers.price_index = demand.consumer_price_index
    # what consumers pay per Mtok on a route: price and transfer, times markup and tariff
    paid = demand.route_price * network.price_factor
    consumers.expenditure = np.bincount(routes.route_consumer, paid * clearing.route_served,
                                        minlength=consumers.region.size)
    alpha = consumers.alpha
    with np.errstate(invalid="ignore"):
        since_start = (consumers.logsum - consumers.reference_logsum) / alpha
        this_step = (consumers.logsum - consumers.previous_logsum) / alpha
    consumers.surplus = compensating_variation(consumers.expenditure, since_start, consumers.eta)
    consumers.welfare_change = compensating_variation(consumers.expenditure, this_step,
                                                      consumers.eta)


def host_elasticity(market: RouteMarket, demand: MarketDemand, price: np.ndarray,
                    products: ProductArrays, n_producers: int) -> np.ndarray:
    """Per host, the demand-weighted own-price elasticity ``-dQ/dp p / Q`` of its products
    (1 where it has no demand): what the scarcity surcharge divides its step by."""
    slope = -own_price_derivative(market, demand)
    quantity = demand.producer_demand
    with np.errstate(divide="ignore", invalid="ignore"):
        elasticity = np.where(quantity > 0, slope * price / quantity, 1.0)
    total = np.bincount(products.producer, quantity, minlength=n_producers)
    weighted = np.bincount(products.producer, quantity * elasticity, minlength=n_producers)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, weighted / total, 1.0)


def settle(scenario, regions: RegionTable, network: MarketNetwork, market: RouteMarket,
           demand: MarketDemand, clearing: Clearing, producers: ProducerArrays,
           products: ProductArrays, platforms: PlatformArrays,
           consumers: ConsumerArrays) -> None:
    """Volumes, loads, energy (grid and direct green), emissions, revenue, costs, profit and cash
    of this step's cleared market.

    Writes ``products.demand, served, revenue, profit``; ``producers.demand, served, load_gpu_s,
    offered_gpu_s, growth_forecast, utilisation, elasticity, energy_mwh, flexible_served,
    green_mwh, green_share, emissions_t, revenue, energy_cost, fixed_cost, profit, cash, price,
    base_price, marginal_cost, full_cost``; ``platforms.served, revenue``; the consumers'
    columns of :func:`settle_consumers`.
    """
    s = scenario
    r = network.routes
    n = len(producers)
    host = products.producer
    products.demand = demand.producer_demand
    products.served = clearing.producer_served
    products.revenue = products.price * products.served
    producers.demand = np.bincount(host, products.demand, minlength=n)
    producers.served = np.bincount(host, products.served, minlength=n)
    notional = np.bincount(host, products.demand * products.load_gpu_s_per_mtok, minlength=n)
    previous = producers.offered_gpu_s
    producers.load_gpu_s = clearing.host_load
    producers.offered_gpu_s = np.maximum(notional, producers.load_gpu_s)
    producers.growth_forecast = dynamics.update_growth_forecast(
        producers.growth_forecast, producers.offered_gpu_s, previous,
        s.dynamics.demand_forecast_smoothing)
    with np.errstate(divide="ignore", invalid="ignore"):
        producers.utilisation = np.where(producers.capacity_gpu_s > 0,
                                         producers.load_gpu_s / producers.capacity_gpu_s, 0.0)
    # the elasticity sizes the scarcity step of hosts near or above the threshold load
    pressed = ((producers.offered_gpu_s >= s.pricing.scarcity_threshold * producers.capacity_gpu_s)
               | (producers.surcharge > 1.0))
    if pressed.any() and s.market.version == MARKET_V2:  # v3 has no scarcity surcharge
        producers.elasticity = host_elasticity(market, demand, products.price, products, n)

    # energy: the served tokens' dynamic energy, and the fleet's always-on draw
    dynamic_mwh = products.served * products.energy_j_per_token * MWH_PER_MTOK_PER_J
    hours = s.step_seconds / SECONDS_PER_HOUR
    dynamic = np.bincount(host, dynamic_mwh, minlength=n) * producers.pue
    producers.energy_mwh = dynamic + producers.always_on_mw * hours
    # flexible (batch) load can run on otherwise-curtailed direct green supply
    flexible = network.flexible_routes
    producers.flexible_served = np.bincount(
        r.route_producer[flexible], clearing.route_served[flexible], minlength=n)
    flexible_share = np.divide(producers.flexible_served, producers.served,
                               out=np.zeros(n), where=producers.served > 0)
    producers.green_mwh = dynamics.green_energy_split(
        dynamic * flexible_share, producers.region, regions.green_supply_cap_mwh_per_step)
    producers.green_share = np.divide(producers.green_mwh, producers.energy_mwh,
                                      out=np.zeros(n), where=producers.energy_mwh > 0)
    producers.emissions_t = (producers.energy_mwh - producers.green_mwh) * producers.carbon
    green_price = regions.green_supply_usd_per_kwh[producers.region]
    green_saving = producers.green_mwh * KWH_PER_MWH * np.maximum(
        producers.grid_electricity - green_price, 0.0)
    product_energy_cost = products.served * products.energy_usd_per_mtok
    producers.energy_cost = np.bincount(host, product_energy_cost, minlength=n) - green_saving
    years = s.step_seconds / SECONDS_PER_YEAR
    producers.fixed_cost = (producers.fixed_usd_per_year
                            + producers.family_fixed_usd_per_year) * years
    producers.revenue = np.bincount(host, products.revenue, minlength=n)
    producers.profit = producers.revenue - producers.energy_cost - producers.fixed_cost
    producers.cash = producers.cash + producers.profit
    # a product's profit: its margin over energy, less the host's fixed costs by its share of load
    load = products.served * products.load_gpu_s_per_mtok
    host_load = np.bincount(host, load, minlength=n)
    load_share = np.divide(load, host_load[host], out=np.zeros(load.size),
                           where=host_load[host] > 0)
    products.profit = (products.revenue - product_energy_cost
                       - producers.fixed_cost[host] * load_share)
    weight = products.served
    producers.price = served_weighted(products.price, weight, host, n)
    producers.base_price = served_weighted(products.base_price, weight, host, n)
    producers.marginal_cost = served_weighted(products.marginal_cost, weight, host, n)
    producers.full_cost = served_weighted(products.full_cost, weight, host, n)

    n_platforms = platforms.region.size
    platforms.served = scatter_sum(r.platform_index32, clearing.route_served, n_platforms)
    markup_revenue = (platforms.markup_rate[r.route_platform]
                      * products.price[r.route_product] * clearing.route_served)
    platforms.revenue = scatter_sum(r.platform_index32, markup_revenue, n_platforms)
    settle_consumers(consumers, demand, clearing, network)


def observe_settlement(strategy_state: dict, product_strategy: np.ndarray,
                       product_ids: np.ndarray, profit: np.ndarray) -> None:
    """Call the ``observe`` hook of every strategy in use that registered one (learning
    strategies see their realised profit, per product, this way)."""
    for name in np.unique(product_strategy):
        observe = STRATEGY_OBSERVERS.get(str(name))
        if observe is not None:
            observe(strategy_state, product_ids, profit)
