"""Market dynamics beyond one clearing: investment orders and their limits, green energy, demand
forecasts.

Pure, vectorized functions over producer arrays; the model (:mod:`pricewar.model`) calls them in
its step phases. Volumes in Mtok/step, prices USD/Mtok, power MW, energy MWh.
"""

from __future__ import annotations

import numpy as np


def investment_orders(*, demand: np.ndarray, capacity: np.ndarray, pipeline: np.ndarray,
                      growth_forecast: np.ndarray, lag_steps: int, pressure_threshold: float,
                      target_load: float, speed: float, price: np.ndarray,
                      new_unit_cost: np.ndarray, min_margin: float,
                      capacity_per_gpu: np.ndarray) -> np.ndarray:
    """GPUs each producer orders this step (before power and chip-supply limits).

    A producer orders when its demand presses on capacity (``demand / capacity`` at or above
    ``pressure_threshold``) and the expected margin of new capacity,
    ``(price - new_unit_cost) / price``, is at least ``min_margin``. It orders ``speed`` times the
    gap between the capacity that would serve the demand forecast at the end of the lead time at
    ``target_load``, and its capacity plus pipeline.

    Parameters
    ----------
    demand : unconstrained demand at posted prices (Mtok/step)
    capacity, pipeline : online capacity and capacity already ordered (Mtok/step)
    growth_forecast : expected demand growth per step (smoothed observation)
    lag_steps : order-to-online lead time (steps)
    pressure_threshold : demand/capacity ratio that triggers investment
    target_load : planned demand/capacity ratio of new capacity
    speed : share of the gap ordered per step (0-1)
    price, new_unit_cost : list price and full unit cost of new capacity (USD/Mtok)
    min_margin : minimum expected margin
    capacity_per_gpu : Mtok/step one new GPU adds
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        pressure = np.where(capacity > 0, demand / capacity, np.inf)
        margin = (price - new_unit_cost) / price
    gap = _capacity_gap(demand, capacity, pipeline, growth_forecast, lag_steps, target_load)
    wants = (pressure >= pressure_threshold) & (margin >= min_margin) & (gap > 0)
    return np.where(wants, speed * gap / capacity_per_gpu, 0.0)


def _capacity_gap(demand, capacity, pipeline, growth_forecast, lag_steps: int,
                  target_load: float) -> np.ndarray:
    """Capacity that would serve ``demand`` grown to the end of the lead time at
    ``target_load``, less the capacity online and ordered (may be negative)."""
    forecast = demand * (1.0 + np.maximum(growth_forecast, 0.0)) ** lag_steps
    return forecast / target_load - capacity - pipeline


def scarcity_orders(*, load: np.ndarray, capacity: np.ndarray, pipeline: np.ndarray,
                    growth_forecast: np.ndarray, lag_steps: int, target_load: float,
                    speed: float, cost_ratio: np.ndarray,
                    capacity_per_gpu: np.ndarray) -> np.ndarray:
    """GPUs each host orders because its capacity shadow price exceeds the cost of adding
    capacity (market v3, docs/ODD.md §6.5), before power and chip-supply limits.

    A binding host prices its capacity's scarcity rent into its price and sells exactly its
    capacity, so its demand at the posted price shows no shortage (the gap of
    :func:`investment_orders` stays at the planned headroom). ``cost_ratio`` is its effective
    marginal cost (marginal cost plus shadow price times load per Mtok, ``c + lambda l``) over
    the one at the bound (``c + lambda_bar l``, the shadow price at the cost of adding
    capacity). At a constant markup over effective cost the price at the bound is
    ``p / cost_ratio``; with unit elasticity, the least elastic constant-elasticity demand of a
    host pricing where its demand is elastic, the host would sell ``load x cost_ratio`` there
    (under those assumptions at least that much: the orders do not exceed what the demand at
    the bound needs). It orders ``speed`` times the
    gap between the capacity serving that demand, grown to the end of the lead time, at
    ``target_load`` and its capacity plus pipeline; while its shadow price stays above the bound
    it orders again as its pipeline comes online. A host whose ``cost_ratio`` is not above 1
    orders nothing by this rule.

    Parameters
    ----------
    load, capacity, pipeline : this step's load, online capacity and capacity ordered
        (capacity units per step, e.g. GPU-seconds of the host's fleet)
    growth_forecast, lag_steps, target_load, speed : as in :func:`investment_orders`
    cost_ratio : ``(c + lambda l) / (c + lambda_bar l)`` (dimensionless, >= 1 above the bound)
    capacity_per_gpu : capacity units per step one new GPU adds
    """
    at_bound = np.where(cost_ratio > 1.0, load * cost_ratio, 0.0)
    gap = _capacity_gap(at_bound, capacity, pipeline, growth_forecast, lag_steps, target_load)
    return np.where(gap > 0, speed * gap / capacity_per_gpu, 0.0)


def scarcity_cost_ratio(*, marginal_cost: np.ndarray, load_per_mtok: np.ndarray,
                        shadow: np.ndarray, bound: np.ndarray) -> np.ndarray:
    """``cost_ratio`` of :func:`scarcity_orders`: ``(c + lambda l) / (c + min(lambda,
    lambda_bar) l)`` from a host's marginal cost (USD/Mtok), its load per Mtok (capacity units),
    its shadow price and the shadow price at the cost of adding capacity (USD per capacity
    unit); 1 where both are 0."""
    effective = marginal_cost + shadow * load_per_mtok
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = effective / (marginal_cost + np.minimum(shadow, bound) * load_per_mtok)
    return np.where(np.isfinite(ratio), ratio, 1.0)


def limit_by_group(orders: np.ndarray, group: np.ndarray, headroom: np.ndarray,
                   usage_per_unit: np.ndarray) -> np.ndarray:
    """Scale orders pro rata within each group so total usage stays within the group's headroom.

    ``group`` indexes ``headroom`` (e.g. region power in MW, or chip supply in GPUs);
    ``usage_per_unit`` is what one ordered unit uses of it.
    """
    usage = orders * usage_per_unit
    wanted = np.bincount(group, usage, minlength=headroom.size)
    # a group that wants nothing keeps its (zero) orders, even beyond its headroom (0/0)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where((wanted > headroom) & (wanted > 0),
                         np.maximum(headroom, 0.0) / wanted, 1.0)
    return orders * scale[group]


def green_energy_split(flexible_mwh: np.ndarray, producer_region: np.ndarray,
                       cap_mwh_by_region: np.ndarray) -> np.ndarray:
    """Direct green supply used per producer (MWh): flexible (batch) load up to each region's cap,
    shared pro rata to the producers' flexible load."""
    regional = np.bincount(producer_region, flexible_mwh, minlength=cap_mwh_by_region.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        covered = np.where(regional > 0, np.minimum(cap_mwh_by_region, regional) / regional, 0.0)
    return flexible_mwh * covered[producer_region]


def update_growth_forecast(forecast: np.ndarray, demand: np.ndarray, previous: np.ndarray,
                           smoothing: float) -> np.ndarray:
    """Exponential smoothing of observed per-step demand growth (dimensionless; each step's
    observation clipped to [-0.5, 1], so a ratio that overflows from a tiny previous demand
    counts as 1)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        observed = np.where(previous > 0, demand / previous - 1.0, 0.0)
    observed = np.clip(np.nan_to_num(observed), -0.5, 1.0)
    return (1.0 - smoothing) * forecast + smoothing * observed
