"""Model and agent reporters (names are public API; DESIGN §9).

All model metrics of a step are computed once, vectorized, by :func:`compute` after settlement and
stored in ``model.metrics``; the DataCollector's reporters read that dict. Units: prices and costs
USD/Mtok, volumes Mtok/step, consumer surplus USD/step, energy MWh/step, emissions t CO2/step.
"""

from __future__ import annotations

import numpy as np

from pricewar.scenario import PRODUCER_REGIONS

REGION_METRICS = ("price", "share", "throughput", "unit_cost", "energy_mwh", "emissions_t")

MODEL_METRICS = (
    "price_avg", "hhi", "lerner", "consumer_surplus", "demand_total", "served_total",
    "outside_total", "unserved_demand", "energy_mwh", "emissions_t", "active_producers",
    "efficiency",
    *[f"{m}_{r}" for m in REGION_METRICS for r in PRODUCER_REGIONS],
)

#: Agent-type reporters: attribute names on the agents (views into the model arrays).
PRODUCER_REPORTERS = ("price", "marginal_cost", "full_unit_cost", "quantity", "capacity",
                      "utilisation", "profit", "cash", "gpus")
PLATFORM_REPORTERS = ("markup", "quantity", "revenue")


def _weighted(values: np.ndarray, weights: np.ndarray) -> float:
    total = weights.sum()
    return float((values * weights).sum() / total) if total > 0 else float("nan")


def compute(model) -> dict[str, float]:
    """Every model metric for the current state (see module docstring for units).

    Region prices and unit costs are volume-weighted over the region's producers; when a region
    serves nothing they fall back to the unweighted mean, so series stay defined (never NaN).
    """
    served = model.producer_served
    total = float(served.sum())
    price = model.producer_price
    out: dict[str, float] = {
        "price_avg": _weighted(price, served) if total > 0 else float(price.mean()),
        "hhi": float(((served / total) ** 2).sum()) if total > 0 else 0.0,
        "lerner": _weighted((price - model.producer_marginal_cost) / price, served)
        if total > 0 else 0.0,
        "consumer_surplus": float(model.consumer_surplus.sum()),
        "demand_total": float(model.consumer_demand.sum()),
        "served_total": float(model.consumer_served.sum()),
        "outside_total": float(model.consumer_outside.sum()),
        "unserved_demand": float(model.consumer_unserved.sum()),
        "energy_mwh": float(model.producer_energy_mwh.sum()),
        "emissions_t": float(model.producer_emissions_t.sum()),
        "active_producers": int(len(model.producers)),
        "efficiency": float(model.efficiency),
    }
    for region in PRODUCER_REGIONS:
        members = model.producer_region == model.region_names.index(region)
        q = served[members]
        volume = float(q.sum())
        if members.any():
            fallback = volume <= 0
            weights = np.ones_like(q) if fallback else q
            out[f"price_{region}"] = _weighted(price[members], weights)
            out[f"unit_cost_{region}"] = _weighted(model.producer_full_cost[members], weights)
        else:
            out[f"price_{region}"] = 0.0
            out[f"unit_cost_{region}"] = 0.0
        out[f"share_{region}"] = volume / total if total > 0 else 0.0
        out[f"throughput_{region}"] = volume
        out[f"energy_mwh_{region}"] = float(model.producer_energy_mwh[members].sum())
        out[f"emissions_t_{region}"] = float(model.producer_emissions_t[members].sum())
    return out


def model_reporters() -> dict:
    """DataCollector model reporters reading ``model.metrics``."""
    return {name: (lambda m, key=name: m.metrics[key]) for name in MODEL_METRICS}


def agenttype_reporters() -> dict:
    """DataCollector agent-type reporters for producers and platforms (consumers are many: their
    state is in the model arrays and the model reporters)."""
    from pricewar.agents import PlatformOperator, TokenProducer

    return {
        TokenProducer: {name: name for name in PRODUCER_REPORTERS},
        PlatformOperator: {name: name for name in PLATFORM_REPORTERS},
    }
