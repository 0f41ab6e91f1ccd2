"""Model and agent reporters (names are public API; docs/ODD.md §4 "Observation").

All model metrics of a step are computed once, vectorized, by :func:`compute` after settlement and
stored in ``model.metrics``; the DataCollector's reporters read that dict. Units: prices and costs
USD/Mtok, volumes Mtok/step, consumer surplus USD/step, energy MWh/step, emissions t CO2/step.
Per-region metrics exist for every region that hosts producers; the bloc shares count regions by
their ``bloc`` in the scenario's regions.
"""

from __future__ import annotations

import numpy as np

from pricewar.scenario import PRODUCER_REGIONS

REGION_METRICS = ("price", "share", "throughput", "unit_cost", "energy_mwh", "emissions_t")

AGGREGATE_METRICS = (
    "price_avg", "hhi", "lerner", "consumer_surplus", "demand_total", "served_total",
    "outside_total", "unserved_demand", "energy_mwh", "emissions_t", "active_producers",
    "efficiency", "price_index", "exits", "entries", "exits_total", "entries_total",
    "curtailment_absorbed_mwh", "emissions_avoided_t", "capacity_total", "gpus_total",
    "gpus_ordered", "cn_share_western", "cn_share_global_south", "western_share_global_south",
)


def metric_names(producer_regions) -> tuple[str, ...]:
    """Model metric names of a model whose producers are in ``producer_regions``."""
    return (*AGGREGATE_METRICS,
            *[f"{m}_{r}" for m in REGION_METRICS for r in producer_regions])


#: model metrics of the shipped calibration's producer regions
MODEL_METRICS = metric_names(PRODUCER_REGIONS)

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
        "efficiency": float(model.efficiency),
        "curtailment_absorbed_mwh": float(model.producer_green_mwh.sum()),
        "emissions_avoided_t": float((model.producer_green_mwh * model.producer_carbon).sum()),
        "capacity_total": float(model.producer_capacity.sum()),
        "gpus_total": float(model.producer_gpus.sum()),
        "gpus_ordered": float(model.orders_gpus_this_step),
    }
    out.update(bloc_shares(model))
    out.update(population(model))
    first = model.initial_price_avg  # set by the model after initialisation
    out["price_index"] = out["price_avg"] / first if first else 1.0
    for region in model.regions.producer_regions:
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


def population(model) -> dict[str, int]:
    """Active producers and this step's exits and entries (updated after exit and entry)."""
    return {
        "active_producers": int(len(model.producers)),
        "exits": int(model.exits_this_step),
        "entries": int(model.entries_this_step),
        "exits_total": int(model.exits_total),
        "entries_total": int(model.entries_total),
    }


def flow_matrix(model) -> np.ndarray:
    """Served volume by consumer region x consumer sector x producer region (Mtok/step).

    Indexed by ``model.region_names``, ``model.sector_names`` and ``model.region_names``.
    """
    n_regions, n_sectors = len(model.region_names), len(model.sector_names)
    flows = np.bincount(model.network.flow_key, model.clearing.route_served,
                        minlength=n_regions * n_sectors * n_regions)
    return flows.reshape(n_regions, n_sectors, n_regions)


def bloc_shares(model) -> dict[str, float]:
    """Shares of served volume by supplier bloc in the contested and partitioned markets."""
    flows = flow_matrix(model).sum(axis=1)  # consumer region x producer region
    cn, west = model.regions.in_bloc("cn"), model.regions.in_bloc("western")
    contested = model.regions.in_bloc("contested")

    def share(rows, cols):
        total = flows[rows].sum()
        return float(flows[rows][..., cols].sum() / total) if total > 0 else 0.0

    return {
        "cn_share_western": share(west, cn),
        "cn_share_global_south": share(contested, cn) if contested else 0.0,
        "western_share_global_south": share(contested, west) if contested else 0.0,
    }


def model_reporters(producer_regions) -> dict:
    """DataCollector model reporters reading ``model.metrics``."""
    return {name: (lambda m, key=name: m.metrics[key]) for name in metric_names(producer_regions)}


def agenttype_reporters() -> dict:
    """DataCollector agent-type reporters for producers and platforms (consumers are many: their
    state is in the model arrays and the model reporters)."""
    from pricewar.model.agents import PlatformOperator, TokenProducer

    return {
        TokenProducer: {name: name for name in PRODUCER_REPORTERS},
        PlatformOperator: {name: name for name in PLATFORM_REPORTERS},
    }
