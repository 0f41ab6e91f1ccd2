"""Investment: hosts order GPUs of the best chip their bloc may buy, when the posted price covers
the full cost of new capacity, within regional power and chip supply (docs/ODD.md §6.5). Orders
join the fleet as cohorts that come online after the lead time. At market version 3 a host also
orders when its capacity shadow price is above the cost of adding capacity (the shadow price is
then bounded by that cost over the investment horizon, a few lead times after a large demand
jump, unless power, chip supply or export controls block the orders; docs/ODD.md §6.5).

Capacity is in GPU-seconds of the host's current fleet. A new GPU of chip ``c`` adds
``step seconds x max utilisation x tps(c, f) / tps_fleet(f)`` of them, ``f`` the host's main
family (its best-selling product): a B200 added to an H100 fleet counts for several H100s.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from pricewar.model.phases import host_sites, main_family, served_weighted
from pricewar.model.population import ProducerArrays, ProductArrays
from pricewar.model.products import FamilyTable
from pricewar.model.regions import RegionTable
from pricewar.scenario.parameters import MARKET_V3
from pricewar.supply import dynamics
from pricewar.supply.cohort_costs import SupplyCosts
from pricewar.supply.fleet import Fleet
from pricewar.supply.product_costs import cohort_power_price
from pricewar.supply.rental_market import OwnerCosts, owner_costs
from pricewar.units import SECONDS_PER_HOUR, SECONDS_PER_YEAR, W_PER_MW


def life_steps(scenario) -> int:
    """A GPU's economic life in steps."""
    return round(scenario.capital.chip_life_years * SECONDS_PER_YEAR / scenario.step_seconds)


def decode_rates(supply: SupplyCosts, scenario, chip: np.ndarray, family: np.ndarray,
                 date: dt.date, regions: RegionTable, producers: ProducerArrays,
                 host: np.ndarray) -> np.ndarray:
    """Decode rate (tokens/s per GPU) of ``family`` on ``chip`` at the hosts ``host``."""
    sites = host_sites(regions, producers)
    return supply.tokens_per_s(chip, family, date, sites.bloc[host], scenario.policy,
                               serving_efficiency=producers.serving_efficiency[host])


def fleet_and_new_rates(supply: SupplyCosts, scenario, date: dt.date, regions: RegionTable,
                        families: FamilyTable, producers: ProducerArrays,
                        products: ProductArrays) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per host, its main family and the decode rates (tokens/s per GPU) of that family on its
    fleet and on a new GPU of its best chip (the fleet's: its product's, else a new GPU's)."""
    n = len(producers)
    anchor = families.names.index(scenario.serving.anchor_family)
    family = main_family(producers, products, anchor)
    new_tps = decode_rates(supply, scenario, producers.best_chip, family, date, regions,
                           producers, np.arange(n))
    fleet_tps = new_tps.copy()
    if len(products):
        main = (products.family == family[products.producer])
        fleet_tps[products.producer[main]] = 1e6 / products.load_gpu_s_per_mtok[main]
    return family, fleet_tps, new_tps


def new_gpu_hour_costs(scenario, supply: SupplyCosts, date: dt.date, regions: RegionTable,
                       producers: ProducerArrays) -> OwnerCosts:
    """Per host, the costs of a GPU-hour of its best chip at its site (USD per GPU-hour,
    :func:`~pricewar.supply.rental_market.owner_costs`): ``reference`` the full cost of a new
    GPU-hour (capital recovery at the host's WACC, fixed opex, energy at full draw), ``ceiling``
    the rent above which buying pays back within the rental market's ``payback_years``."""
    s = scenario
    hosts = host_sites(regions, producers)
    chip = producers.best_chip
    chips = supply.serving.chips
    capital = s.capital
    return owner_costs(
        chips.price_usd[chip], hosts.facility_usd_per_w, chips.server_power_w[chip], hosts.pue,
        cohort_power_price(supply, chip, hosts, np.arange(len(producers)), date, s.policy),
        wacc=producers.wacc, chip_life_years=capital.chip_life_years,
        facility_life_years=capital.facility_life_years,
        fixed_opex_share_per_year=capital.fixed_opex_share_per_year,
        payback_years=s.rental_market.payback_years, capex_subsidy=s.policy.capex_subsidy)


def usd_per_new_gpu_hour(shadow_usd_per_gpu_s, max_utilisation: float, fleet_tps, new_tps
                         ) -> np.ndarray:
    """A capacity shadow price (USD per GPU-second of the host's fleet) as the value of one
    installed GPU-hour of the host's best chip: ``lambda x 3600 x max utilisation x tps_new /
    tps_fleet`` (USD per GPU-hour; the GPU-seconds a new GPU adds, as :func:`invest` counts
    them)."""
    return (np.asarray(shadow_usd_per_gpu_s) * SECONDS_PER_HOUR * max_utilisation
            * np.asarray(new_tps) / np.asarray(fleet_tps))


def scarcity_cost_ratio(scenario, supply: SupplyCosts, date: dt.date, regions: RegionTable,
                        producers: ProducerArrays, products: ProductArrays,
                        shadow_usd_per_gpu_s: np.ndarray, fleet_tps: np.ndarray,
                        new_tps: np.ndarray) -> np.ndarray:
    """Per host, the ``cost_ratio`` of :func:`~pricewar.supply.dynamics.scarcity_orders`
    (docs/ODD.md §6.5).

    ``lambda_bar`` is the shadow price at which a new GPU-hour of the host's best chip is worth
    its full cost (:func:`usd_per_new_gpu_hour` = :func:`new_gpu_hour_costs` ``reference``);
    marginal cost and load per Mtok are served-weighted over the host's products
    (:func:`~pricewar.supply.dynamics.scarcity_cost_ratio`).
    """
    value = usd_per_new_gpu_hour(shadow_usd_per_gpu_s, scenario.costs.max_utilisation,
                                 fleet_tps, new_tps)
    cost = new_gpu_hour_costs(scenario, supply, date, regions, producers
                              ).reference_usd_per_gpu_hour
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = np.where(value > cost, shadow_usd_per_gpu_s * cost / value,
                         shadow_usd_per_gpu_s)
    return dynamics.scarcity_cost_ratio(
        marginal_cost=producers.marginal_cost,
        load_per_mtok=served_weighted(products.load_gpu_s_per_mtok, products.served,
                                      products.producer, len(producers)),
        shadow=shadow_usd_per_gpu_s, bound=bound)


def _scarcity_orders(s, supply: SupplyCosts, date: dt.date, regions: RegionTable,
                     producers: ProducerArrays, products: ProductArrays,
                     shadow_usd_per_gpu_s: np.ndarray, fleet_tps: np.ndarray,
                     new_tps: np.ndarray, pipeline: np.ndarray,
                     capacity_per_gpu: np.ndarray) -> np.ndarray:
    """GPUs each host orders on its shadow price (before the limits; in :func:`invest`)."""
    ratio = scarcity_cost_ratio(s, supply, date, regions, producers, products,
                                shadow_usd_per_gpu_s, fleet_tps, new_tps)
    d = s.dynamics
    return dynamics.scarcity_orders(
        load=producers.load_gpu_s, capacity=producers.capacity_gpu_s, pipeline=pipeline,
        growth_forecast=producers.growth_forecast, lag_steps=d.investment_lag_steps,
        target_load=s.capital.planned_utilisation / s.costs.max_utilisation,
        speed=d.invest_speed, cost_ratio=ratio, capacity_per_gpu=capacity_per_gpu)


def invest(scenario, supply: SupplyCosts, step: int, years: float, date: dt.date,
           regions: RegionTable, families: FamilyTable, fleet: Fleet,
           producers: ProducerArrays, products: ProductArrays,
           shadow_usd_per_gpu_s: np.ndarray | None = None) -> float:
    """Order GPUs of each host's best chip; limited by regional power and chip supply.

    ``years`` is the time since the start of the run. Reads the hosts' offered load, capacity,
    pipeline, growth forecast, posted price and full cost of new capacity (served-weighted over
    their products), best chip, region and PUE. At market version 3, ``shadow_usd_per_gpu_s``
    (per host, ``MarketV3.shadow_by_host``) adds the orders of hosts whose shadow price is above
    the full cost of a new GPU-hour (:func:`~pricewar.supply.dynamics.scarcity_orders`). Adds
    the orders to ``fleet``; returns the number of GPUs ordered.
    """
    s = scenario
    d = s.dynamics
    if not d.investment_enabled:
        return 0.0
    n = len(producers)
    chip = producers.best_chip
    family, fleet_tps, new_tps = fleet_and_new_rates(supply, s, date, regions, families,
                                                     producers, products)
    gpu_s = s.step_seconds * s.costs.max_utilisation
    pipeline_mask = fleet.online > step
    pipe_host = fleet.producer[pipeline_mask]
    pipe_tps = decode_rates(supply, s, fleet.chip[pipeline_mask], family[pipe_host], date,
                            regions, producers, pipe_host)
    pipeline = np.bincount(pipe_host, fleet.gpus[pipeline_mask] * pipe_tps / fleet_tps[pipe_host],
                           minlength=n) * gpu_s
    orders = dynamics.investment_orders(
        demand=producers.offered_gpu_s, capacity=producers.capacity_gpu_s, pipeline=pipeline,
        growth_forecast=producers.growth_forecast, lag_steps=d.investment_lag_steps,
        pressure_threshold=d.invest_pressure_threshold,
        target_load=s.capital.planned_utilisation / s.costs.max_utilisation,
        speed=d.invest_speed, price=producers.price, new_unit_cost=producers.full_cost,
        min_margin=d.invest_min_margin, capacity_per_gpu=gpu_s * new_tps / fleet_tps)
    if shadow_usd_per_gpu_s is not None and s.market.version >= MARKET_V3:
        orders = np.maximum(orders, _scarcity_orders(
            s, supply, date, regions, producers, products, shadow_usd_per_gpu_s, fleet_tps,
            new_tps, pipeline, gpu_s * new_tps / fleet_tps))
    # no orders where the host's bloc may buy no chip at the date (best_chip is a placeholder)
    orders = np.where(producers.best_chip_buyable, np.nan_to_num(orders, nan=0.0, posinf=0.0),
                      0.0)
    if not orders.any():
        return 0.0
    chips = supply.serving.chips
    # regional power: online + ordered GPUs' facility power stays within the region's cap
    cap_mw = regions.ai_power_cap_mw * (1.0 + regions.ai_power_growth_per_year) ** years
    all_gpus_power = np.bincount(fleet.producer, fleet.gpus * chips.server_power_w[fleet.chip],
                                 minlength=n) * producers.pue / W_PER_MW
    used_mw = np.bincount(producers.region, all_gpus_power, minlength=cap_mw.size)
    mw_per_gpu = chips.server_power_w[chip] * producers.pue / W_PER_MW
    orders = dynamics.limit_by_group(orders, producers.region, cap_mw - used_mw, mw_per_gpu)
    # chip supply open to the token market, shared by every buyer of the chip
    catalogue_chips = list(s.chips.values())
    supply_now = np.array([c.supply_gpus_per_step * (1.0 + c.supply_growth_per_year) ** years
                           for c in catalogue_chips])
    orders = np.floor(dynamics.limit_by_group(orders, chip, supply_now, np.ones_like(orders)))
    buyers = np.flatnonzero(orders > 0)
    if buyers.size:
        online = step + d.investment_lag_steps
        fleet.add(buyers, chip[buyers], orders[buyers], online, online + life_steps(s))
    return float(orders.sum())
