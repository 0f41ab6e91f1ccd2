"""Model and agent reporters, declared with their units and meaning (names are public API;
docs/ODD.md §4 "Observation"; docs/outputs.md is generated from these declarations).

All model metrics of a step are computed once, vectorized, by :func:`compute` after settlement and
stored in ``model.metrics``; the DataCollector's reporters read that dict. Units: prices and costs
USD/Mtok, volumes Mtok/step, consumer surplus USD/step, energy MWh/step, emissions t CO2/step.
Per-region metrics exist for every region that hosts producers; the bloc shares count regions by
their ``bloc`` in the scenario's regions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

import mesa
import numpy as np
import pandas as pd

from pricewar.scenario import PRODUCER_REGIONS


class Declaration(NamedTuple):
    """What a reporter measures: its unit (``1`` = dimensionless) and meaning."""

    unit: str
    meaning: str


#: per-region model metrics, reported as ``<metric>_<region>`` for every producer region
REGION_REPORTERS: dict[str, Declaration] = {
    "price": Declaration("USD/Mtok", "posted price of the region's producers, weighted by the "
                         "volume each serves (unweighted mean when the region serves nothing)"),
    "share": Declaration("1", "the region's producers' share of all served tokens (0-1)"),
    "throughput": Declaration("Mtok/step", "tokens served by the region's producers"),
    "unit_cost": Declaration("USD/Mtok", "full unit cost (energy + hardware + opex spread over "
                             "realised utilisation), volume-weighted like the price"),
    "energy_mwh": Declaration("MWh/step", "facility energy of the region's producers (IT load "
                              "x PUE)"),
    "emissions_t": Declaration("t CO2/step", "emissions of the grid share of that energy"),
}

#: market-wide model metrics, in the DataCollector's column order
AGGREGATE_REPORTERS: dict[str, Declaration] = {
    "price_avg": Declaration("USD/Mtok", "posted producer price weighted by served volume "
                             "(unweighted mean when nothing is served)"),
    "hhi": Declaration("1", "Herfindahl-Hirschman index of producers' shares of served tokens "
                       "(0-1; 1/n for n equal producers)"),
    "lerner": Declaration("1", "Lerner index (price - marginal cost) / price of each producer, "
                          "weighted by served volume (0 when nothing is served)"),
    "consumer_surplus": Declaration("USD/step", "consumers' expected surplus from their logit "
                                    "choice (log-sum of route utilities in USD), summed"),
    "demand_total": Declaration("Mtok/step", "consumers' potential demand"),
    "served_total": Declaration("Mtok/step", "tokens served to consumers"),
    "outside_total": Declaration("Mtok/step", "demand that took the outside option (no AI "
                                 "tokens)"),
    "unserved_demand": Declaration("Mtok/step", "demand rationed by capacity (chose a route "
                                   "whose producers were full)"),
    "energy_mwh": Declaration("MWh/step", "facility energy of all producers (IT load x PUE)"),
    "emissions_t": Declaration("t CO2/step", "emissions of the grid electricity used"),
    "active_producers": Declaration("producers", "producers in the market after this step's "
                                    "exits and entries"),
    "efficiency": Declaration("1", "serving-efficiency multiplier E(t) at the step's date: "
                              "tokens/s per GPU at fixed capability relative to the technology "
                              "reference date (algorithmic x software progress)"),
    "price_index": Declaration("1", "price_avg divided by its value at step 0"),
    "exits": Declaration("producers", "producers that went bankrupt and left this step"),
    "entries": Declaration("producers", "producers that entered this step"),
    "exits_total": Declaration("producers", "exits since step 0"),
    "entries_total": Declaration("producers", "entries since step 0"),
    "curtailment_absorbed_mwh": Declaration("MWh/step", "otherwise-curtailed direct green "
                                            "supply used by flexible (batch) load"),
    "emissions_avoided_t": Declaration("t CO2/step", "grid emissions avoided by that green "
                                       "energy"),
    "capacity_total": Declaration("Mtok/step", "serving capacity of all producers"),
    "gpus_total": Declaration("GPUs", "GPUs in all producers' fleets"),
    "gpus_ordered": Declaration("GPUs", "GPUs ordered this step (delivered later)"),
    "cn_share_western": Declaration("1", "share of western consumers' served tokens supplied "
                                    "by Chinese producers (0-1)"),
    "cn_share_global_south": Declaration("1", "share of contested (Global South) consumers' "
                                         "served tokens supplied by Chinese producers (0-1)"),
    "western_share_global_south": Declaration("1", "share of contested (Global South) "
                                              "consumers' served tokens supplied by western "
                                              "producers (0-1)"),
}

REGION_METRICS = tuple(REGION_REPORTERS)
AGGREGATE_METRICS = tuple(AGGREGATE_REPORTERS)


def metric_names(producer_regions) -> tuple[str, ...]:
    """Model metric names of a model whose producers are in ``producer_regions``."""
    return (*AGGREGATE_METRICS,
            *[f"{m}_{r}" for m in REGION_METRICS for r in producer_regions])


def metric_declaration(name: str, producer_regions=None) -> Declaration:
    """The declaration of model metric ``name`` (``price_us`` -> the ``price`` declaration).

    Raises KeyError for a name that is not a model metric of ``producer_regions`` (default: the
    shipped calibration's).
    """
    if name in AGGREGATE_REPORTERS:
        return AGGREGATE_REPORTERS[name]
    for region in producer_regions or PRODUCER_REGIONS:
        metric = name.removesuffix(f"_{region}")
        if metric != name and metric in REGION_REPORTERS:
            return REGION_REPORTERS[metric]
    raise KeyError(name)


#: model metrics of the shipped calibration's producer regions
MODEL_METRICS = metric_names(PRODUCER_REGIONS)

#: Agent-type reporters: attribute names on the agents (views into the model arrays).
PRODUCER_REPORTER_DECLARATIONS: dict[str, Declaration] = {
    "price": Declaration("USD/Mtok", "posted price"),
    "marginal_cost": Declaration("USD/Mtok", "energy cost of one more Mtok plus the GPU-hours "
                                 "it takes at the rental-equivalent rate"),
    "full_unit_cost": Declaration("USD/Mtok", "energy + hardware + opex spread over the "
                                  "realised utilisation"),
    "quantity": Declaration("Mtok/step", "tokens served"),
    "capacity": Declaration("Mtok/step", "serving capacity"),
    "utilisation": Declaration("1", "served / capacity (0-1)"),
    "profit": Declaration("USD/step", "revenue minus energy and fixed costs"),
    "cash": Declaration("USD", "cash at the end of the step (bankrupt below the scenario's "
                        "threshold)"),
    "gpus": Declaration("GPUs", "fleet size"),
}
PLATFORM_REPORTER_DECLARATIONS: dict[str, Declaration] = {
    "markup": Declaration("USD/Mtok", "markup added to listed producer prices"),
    "quantity": Declaration("Mtok/step", "tokens routed through the platform"),
    "revenue": Declaration("USD/step", "markup revenue"),
}
PRODUCER_REPORTERS = tuple(PRODUCER_REPORTER_DECLARATIONS)
PLATFORM_REPORTERS = tuple(PLATFORM_REPORTER_DECLARATIONS)


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


#: agent-type reporters' agent types by the name of the ``agent_type`` column
AGENT_TYPE_NAMES = ("producer", "platform")


class PriceWarDataCollector(mesa.DataCollector):
    """Mesa's ``DataCollector`` with the model's reporters, whose ``get_agent_vars_dataframe()``
    stacks the agent-type reporters with ``agent_type``, ``region`` and ``group`` columns.

    ``extra_reporters`` (name -> ``(function(model), Declaration)``) adds model reporters after
    pricewar's own (docs/extending.md, "A new reporter").

    Mesa builds that frame from ``agent_reporters``, which would record every consumer agent at
    every step; here it is assembled from what the agent-type reporters recorded. Each agent's
    region and group are remembered when it is first collected, so a producer that exited keeps
    them in the frame.
    """

    def __init__(self, producer_regions,
                 extra_reporters: Mapping[str, tuple[Callable, Declaration]] | None = None):
        extra = dict(extra_reporters or {})
        names = metric_names(producer_regions)
        taken = sorted(set(extra) & set(names))
        if taken:
            raise ValueError(f"extra_reporters {taken} would replace pricewar's own reporters")
        super().__init__(
            model_reporters={**model_reporters(producer_regions),
                             **{name: function for name, (function, _) in extra.items()}},
            agenttype_reporters=agenttype_reporters())
        #: model reporter name -> its Declaration (pricewar's and the extra ones)
        self.declarations = {**{n: metric_declaration(n, producer_regions) for n in names},
                             **{name: declared for name, (_, declared) in extra.items()}}
        self._identity: dict[int, tuple[str, str]] = {}

    def collect(self, model) -> None:
        super().collect(model)
        for agent_type in self.agenttype_reporters:
            for agent in model.agents_by_type.get(agent_type, ()):
                if agent.unique_id not in self._identity:
                    self._identity[agent.unique_id] = (agent.region, agent.group)

    def get_agent_vars_dataframe(self) -> pd.DataFrame:
        """Producer and platform reporters, index (Step, AgentID), with ``agent_type``,
        ``region`` and ``group`` columns first (reporters a type lacks are NaN)."""
        frames = []
        for agent_type, name in zip(self.agenttype_reporters, AGENT_TYPE_NAMES, strict=True):
            frame = self.get_agenttype_vars_dataframe(agent_type)
            identity = [self._identity[i] for i in frame.index.get_level_values("AgentID")]
            frame.insert(0, "agent_type", name)
            frame.insert(1, "region", [region for region, _ in identity])
            frame.insert(2, "group", [group for _, group in identity])
            frames.append(frame)
        return pd.concat(frames).sort_index(kind="stable")
