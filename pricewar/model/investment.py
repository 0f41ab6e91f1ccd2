"""Investment: hosts order GPUs of the best chip their bloc may buy, when the posted price covers
the full cost of new capacity, within regional power and chip supply (docs/ODD.md §6.5). Orders
join the fleet as cohorts that come online after the lead time.

Capacity is in GPU-seconds of the host's current fleet. A new GPU of chip ``c`` adds
``step seconds x max utilisation x tps(c, f) / tps_fleet(f)`` of them, ``f`` the host's main
family (its best-selling product): a B200 added to an H100 fleet counts for several H100s.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from pricewar.model.phases import host_sites, main_family
from pricewar.model.population import ProducerArrays, ProductArrays
from pricewar.model.products import FamilyTable
from pricewar.model.regions import RegionTable
from pricewar.supply import dynamics
from pricewar.supply.cohort_costs import SupplyCosts
from pricewar.supply.fleet import Fleet
from pricewar.units import SECONDS_PER_YEAR, W_PER_MW


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


def invest(scenario, supply: SupplyCosts, step: int, years: float, date: dt.date,
           regions: RegionTable, families: FamilyTable, fleet: Fleet,
           producers: ProducerArrays, products: ProductArrays) -> float:
    """Order GPUs of each host's best chip; limited by regional power and chip supply.

    ``years`` is the time since the start of the run. Reads the hosts' offered load, capacity,
    pipeline, growth forecast, posted price and full cost of new capacity (served-weighted over
    their products), best chip, region and PUE. Adds the orders to ``fleet``; returns the number
    of GPUs ordered.
    """
    s = scenario
    d = s.dynamics
    if not d.investment_enabled:
        return 0.0
    n = len(producers)
    hosts = np.arange(n)
    chip = producers.best_chip
    anchor = families.names.index(s.serving.anchor_family)
    family = main_family(producers, products, anchor)
    new_tps = decode_rates(supply, s, chip, family, date, regions, producers, hosts)
    # the fleet's decode rate of the main family: its product's, else a new GPU's
    fleet_tps = new_tps.copy()
    if len(products):
        main = (products.family == family[products.producer])
        fleet_tps[products.producer[main]] = 1e6 / products.load_gpu_s_per_mtok[main]
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
