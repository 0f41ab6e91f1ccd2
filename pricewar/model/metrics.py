"""Model and agent reporters (names are public API; docs/ODD.md §4 "Observation").

All model metrics of a step are computed once, vectorized, by :func:`compute` after settlement
and stored in ``model.metrics``; the DataCollector's reporters read that dict. :data:`UNITS`
states every reporter's unit and meaning. Per-region metrics exist for every region that hosts
producers, per-tier metrics for every capability tier of the scenario's families.
"""

from __future__ import annotations

import numpy as np

from pricewar.model.market_metrics import (
    bloc_shares,
    flow_matrix,
    hhi_by_market,
    served_weighted_price,
    tier_prices,
)
from pricewar.scenario import PRODUCER_REGIONS, calibration_defaults

__all__ = ["AGGREGATE_METRICS", "MODEL_METRICS", "UNITS", "compute", "flow_matrix",
           "metric_names", "model_reporters", "agenttype_reporters", "population"]

#: model reporter -> (unit, meaning); ``{region}`` and ``{tier}`` stand for every producer
#: region and capability tier
UNITS: dict[str, tuple[str, str]] = {
    "price_avg": ("USD/Mtok", "served-weighted posted price of all products"),
    "price_index": ("USD/Mtok", "CES price index P_j = exp(-IV_j/alpha_j), geometric mean over "
                                "consumers weighted by task volume (quality-adjusted: the "
                                "price of a product of zero non-price utility)"),
    "price_open": ("USD/Mtok", "served-weighted posted price of open-weight families' products"),
    "price_closed": ("USD/Mtok", "the same for closed-weight families"),
    "share_open": ("share", "open-weight families' share of served tokens"),
    "lerner": ("share", "served-weighted (p - c)/p over products, c the marginal cost"),
    "lerner_open": ("share", "the same over open-weight families' products"),
    "lerner_closed": ("share", "the same over closed-weight families' products"),
    "hhi": ("share", "Herfindahl index of hosts' shares of all served tokens (across partitioned "
                     "markets: prefer hhi_market)"),
    "hhi_market": ("share", "Herfindahl index of hosts within each consumer market (region x "
                            "sector), weighted by the market's served volume"),
    "consumer_surplus": ("USD/step", "consumer surplus gained since the initial prices (exact "
                                     "for the isoelastic upper level)"),
    "welfare_change": ("USD/step", "compensating variation of this step's price-index change"),
    "task_volume": ("Mtok/step", "exogenous task volume D_j(t), summed"),
    "demand_total": ("Mtok/step", "volume at posted prices X_j = D_j (P_j/P_ref,j)^-eta, summed"),
    "served_total": ("Mtok/step", "tokens served"),
    "unserved_demand": ("Mtok/step", "refused by full hosts with no open route left"),
    "not_bought_total": ("Mtok/step", "refused by full hosts and not bought on re-choice"),
    "energy_mwh": ("MWh/step", "facility energy (served tokens and always-on draw)"),
    "emissions_t": ("t CO2/step", "emissions of grid energy"),
    "curtailment_absorbed_mwh": ("MWh/step", "direct green supply used by flexible load"),
    "emissions_avoided_t": ("t CO2/step", "grid emissions the green supply replaced"),
    "active_producers": ("count", "hosts in the market"),
    "active_products": ("count", "products offered (host x family)"),
    "families_live": ("count", "families released and not retired"),
    "exits": ("count", "hosts exiting this step"),
    "entries": ("count", "hosts entering this step"),
    "exits_total": ("count", "hosts exited since the start"),
    "entries_total": ("count", "hosts entered since the start"),
    "capacity_total": ("Mtok/step", "hosts' capacity at their product mix"),
    "gpus_total": ("GPUs", "online GPUs at the end of the step (after exits and entries)"),
    "gpus_ordered": ("GPUs", "GPUs ordered this step"),
    "cn_share_western": ("share", "share of western consumers' tokens served by hosts in the "
                                  "cn bloc"),
    "cn_share_global_south": ("share", "the same for contested (Global South) consumers"),
    "western_share_global_south": ("share", "western hosts' share of contested consumers"),
    "cn_family_share_western": ("share", "share of western consumers' tokens from families whose "
                                         "owner is Chinese, whoever hosts them"),
    "price_{region}": ("USD/Mtok", "served-weighted posted price of the region's hosts"),
    "share_{region}": ("share", "the region's hosts' share of served tokens"),
    "throughput_{region}": ("Mtok/step", "tokens served by the region's hosts"),
    "unit_cost_{region}": ("USD/Mtok", "served-weighted full cost of new capacity"),
    "energy_mwh_{region}": ("MWh/step", "facility energy of the region's hosts"),
    "emissions_t_{region}": ("t CO2/step", "emissions of the region's hosts"),
    "price_cheapest_{tier}": ("USD/Mtok", "cheapest posted price of a product at or above the "
                                          "tier (Epoch AI's metric); 0 while none exists"),
    "price_tier_{tier}_cn": ("USD/Mtok", "served-weighted posted price of products of the tier's "
                                         "families hosted in the cn bloc; 0 while none"),
    "price_tier_{tier}_us": ("USD/Mtok", "the same for hosts in the us region"),
}

AGGREGATE_METRICS = tuple(k for k in UNITS if "{" not in k)
REGION_METRICS = ("price", "share", "throughput", "unit_cost", "energy_mwh", "emissions_t")


def metric_names(producer_regions, tiers) -> tuple[str, ...]:
    """Model metric names of a model with these producer regions and capability tiers."""
    return (*AGGREGATE_METRICS,
            *[f"{m}_{r}" for m in REGION_METRICS for r in producer_regions],
            *[f"price_cheapest_{t}" for t in tiers],
            *[f"price_tier_{t}_{b}" for t in tiers for b in ("cn", "us")])


#: model metrics of the shipped calibration's producer regions and tiers
MODEL_METRICS = metric_names(PRODUCER_REGIONS, tuple(calibration_defaults()["tiers"]))

#: Agent-type reporters: attribute names on the agents (views into the model arrays).
PRODUCER_REPORTERS = ("price", "marginal_cost", "full_unit_cost", "quantity", "capacity",
                      "utilisation", "profit", "cash", "gpus")
PLATFORM_REPORTERS = ("markup", "quantity", "revenue")


def _weighted(values: np.ndarray, weights: np.ndarray, fallback: float = 0.0) -> float:
    total = weights.sum()
    return float((values * weights).sum() / total) if total > 0 else fallback


def compute(model) -> dict[str, float]:
    """Every model metric for the current state (units in :data:`UNITS`). Never NaN: a price
    over nothing served falls back to the unweighted mean of what is offered, or 0."""
    products = model.product_arrays
    families = model.families
    served = products.served
    total = float(served.sum())
    price = products.price
    with np.errstate(divide="ignore", invalid="ignore"):
        lerner = np.where(price > 0, (price - products.marginal_cost) / price, 0.0)
    open_weights = families.open_weights[products.family]
    consumers = model.consumer_arrays
    finite = np.isfinite(consumers.logsum) & (consumers.demand > 0)
    log_index = np.log(np.where(finite, consumers.price_index, 1.0))
    host_served = model.producer_served
    out: dict[str, float] = {
        "price_avg": served_weighted_price(price, served),
        "price_index": float(np.exp(_weighted(log_index, consumers.demand * finite))),
        "price_open": served_weighted_price(price[open_weights], served[open_weights]),
        "price_closed": served_weighted_price(price[~open_weights], served[~open_weights]),
        "share_open": float(served[open_weights].sum() / total) if total > 0 else 0.0,
        "lerner": _weighted(lerner, served),
        "lerner_open": _weighted(lerner[open_weights], served[open_weights]),
        "lerner_closed": _weighted(lerner[~open_weights], served[~open_weights]),
        "hhi": float(((host_served / total) ** 2).sum()) if total > 0 else 0.0,
        "hhi_market": hhi_by_market(model),
        "consumer_surplus": float(consumers.surplus.sum()),
        "welfare_change": float(consumers.welfare_change.sum()),
        "task_volume": float(consumers.demand.sum()),
        "demand_total": float(consumers.volume.sum()),
        "served_total": float(consumers.served.sum()),
        "unserved_demand": float(consumers.unserved.sum()),
        "not_bought_total": float(consumers.not_bought.sum()),
        "energy_mwh": float(model.producer_energy_mwh.sum()),
        "emissions_t": float(model.producer_emissions_t.sum()),
        "curtailment_absorbed_mwh": float(model.producer_green_mwh.sum()),
        "emissions_avoided_t": float((model.producer_green_mwh * model.producer_carbon).sum()),
        "capacity_total": float(model.producer_capacity.sum()),
        "gpus_ordered": float(model.orders_gpus_this_step),
        "families_live": int(model.live_families.sum()),
    }
    out.update(bloc_shares(model))
    out.update(population(model))
    out.update(tier_prices(model))
    producer_price = model.producer_price
    for region in model.regions.producer_regions:
        members = model.producer_region == model.region_names.index(region)
        q = host_served[members]
        volume = float(q.sum())
        weights = q if volume > 0 else np.ones_like(q)
        out[f"price_{region}"] = _weighted(producer_price[members], weights)
        out[f"unit_cost_{region}"] = _weighted(model.producer_full_cost[members], weights)
        out[f"share_{region}"] = volume / total if total > 0 else 0.0
        out[f"throughput_{region}"] = volume
        out[f"energy_mwh_{region}"] = float(model.producer_energy_mwh[members].sum())
        out[f"emissions_t_{region}"] = float(model.producer_emissions_t[members].sum())
    return out


def population(model) -> dict[str, int]:
    """Active hosts, products and online GPUs and this step's exits and entries: stocks at the
    end of the step, updated after exit and entry (an exiting host's GPUs leave with it)."""
    return {
        "gpus_total": float(model.producer_gpus.sum()),
        "active_producers": int(len(model.producers)),
        "active_products": int(len(model.product_arrays)),
        "exits": int(model.exits_this_step),
        "entries": int(model.entries_this_step),
        "exits_total": int(model.exits_total),
        "entries_total": int(model.entries_total),
    }


def model_reporters(producer_regions, tiers) -> dict:
    """DataCollector model reporters reading ``model.metrics``."""
    return {name: (lambda m, key=name: m.metrics[key])
            for name in metric_names(producer_regions, tiers)}


def agenttype_reporters() -> dict:
    """DataCollector agent-type reporters for producers and platforms (consumers are many: their
    state is in the model arrays and the model reporters)."""
    from pricewar.model.agents import PlatformOperator, TokenProducer

    return {
        TokenProducer: {name: name for name in PRODUCER_REPORTERS},
        PlatformOperator: {name: name for name in PLATFORM_REPORTERS},
    }
