"""Investment: producers order GPUs of their best chip, within regional power and chip supply
(docs/ODD.md §6.5). Orders join the fleet as cohorts that come online after the lead time."""

from __future__ import annotations

import numpy as np

from pricewar.market import dynamics
from pricewar.market.chips import ChipTable
from pricewar.market.costs import CostConditions, capacity_mtok_per_step, new_gpu_costs
from pricewar.market.fleet import Fleet
from pricewar.model.phases import export_lag_years
from pricewar.model.population import ProducerArrays
from pricewar.model.regions import RegionTable
from pricewar.units import SECONDS_PER_YEAR, W_PER_MW


def gpu_life_steps(scenario) -> int:
    """A GPU's service life in steps."""
    return round(scenario.costs.gpu_life_years * SECONDS_PER_YEAR / scenario.step_seconds)


def new_gpu_economics(scenario, chips: ChipTable, chip: np.ndarray,
                      conditions: CostConditions) -> tuple[np.ndarray, np.ndarray]:
    """Per producer, full unit cost at the planned utilisation (USD/Mtok) and capacity
    (Mtok/step) of one new GPU of ``chip[i]``, at today's efficiency and prices."""
    new = new_gpu_costs(chips, chip, conditions)
    capacity = capacity_mtok_per_step(new.tokens_per_s_per_gpu, scenario.step_seconds,
                                      scenario.costs.max_utilisation)
    return new.marginal_usd_per_mtok, capacity


def invest(scenario, step: int, years: float, regions: RegionTable, chips: ChipTable,
           fleet: Fleet, producers: ProducerArrays, conditions: CostConditions) -> float:
    """Order GPUs of each producer's best chip; limited by regional power and chip supply.

    ``years`` is the time since the start of the run (years). Reads the producers' demand,
    capacity, pipeline, growth forecast, list price, best chip, region and PUE. Adds the orders
    to ``fleet``; returns the number of GPUs ordered.
    """
    s = scenario
    d = s.dynamics
    if not d.investment_enabled:
        return 0.0
    chip = producers.best_chip
    unit_cost, per_gpu = new_gpu_economics(s, chips, chip, conditions)
    orders = dynamics.investment_orders(
        demand=producers.demand, capacity=producers.capacity,
        pipeline=producers.pipeline_gpus * per_gpu, growth_forecast=producers.growth_forecast,
        lag_steps=d.investment_lag_steps, pressure_threshold=d.invest_pressure_threshold,
        target_load=s.costs.planned_utilisation / s.costs.max_utilisation,
        speed=d.invest_speed, price=producers.base_price, new_unit_cost=unit_cost,
        min_margin=d.invest_min_margin, capacity_per_gpu=per_gpu)
    if not orders.any():
        return 0.0
    # regional power: online + ordered GPUs' facility power stays within the region's cap
    cap_mw = regions.ai_power_cap_mw * (1.0 + regions.ai_power_growth_per_year) ** years
    all_gpus_power = np.bincount(fleet.producer, fleet.gpus * chips.power_w[fleet.chip],
                                 minlength=len(producers)) * producers.pue / W_PER_MW
    used_mw = np.bincount(producers.region, all_gpus_power, minlength=cap_mw.size)
    mw_per_gpu = chips.power_w[chip] * producers.pue / W_PER_MW
    orders = dynamics.limit_by_group(orders, producers.region, cap_mw - used_mw, mw_per_gpu)
    # chip supply: producers under export controls draw on their own, smaller pool
    controlled = export_lag_years(s.policy, regions.export_controlled[producers.region]) > 0
    pool = np.where(controlled, len(chips.names), chip)
    supply = np.append(
        chips.supply_gpus_per_step * (1.0 + chips.supply_growth_per_year) ** years,
        s.policy.cn_chip_supply_gpus_per_step
        * (1.0 + s.policy.cn_chip_supply_growth_per_year) ** years)
    orders = np.floor(dynamics.limit_by_group(orders, pool, supply, np.ones_like(orders)))
    buyers = np.flatnonzero(orders > 0)
    if buyers.size:
        online = step + d.investment_lag_steps
        fleet.add(buyers, chip[buyers], orders[buyers], online, online + gpu_life_steps(s))
    return float(orders.sum())
