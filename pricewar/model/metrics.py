"""Model and agent reporters, declared with their units and meaning (names are public API;
docs/ODD.md §4 "Observation"; docs/outputs.md is generated from these declarations).

All model metrics of a step are computed once, vectorized, by :func:`compute` after settlement
and stored in ``model.metrics``; the DataCollector's reporters read that dict. Per-region metrics
exist for every region that hosts producers, per-tier metrics for every capability tier of the
scenario's families.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NamedTuple

import mesa
import numpy as np
import pandas as pd

from pricewar.model.market_metrics import (
    bloc_shares,
    flow_matrix,
    hhi_by_market,
    served_weighted_price,
    tier_prices,
)
from pricewar.model.rental import clear_markets
from pricewar.model.settlement import compensating_variation
from pricewar.scenario import PRODUCER_REGIONS, calibration_defaults
from pricewar.scenario.catalogue import BLOCS
from pricewar.supply.product_costs import Hosts, best_chips

__all__ = ["AGGREGATE_METRICS", "AGGREGATE_REPORTERS", "BLOC_REPORTERS", "CHIP_BLOC_REPORTERS",
           "COMMON_REFERENCE_PRICE_USD_PER_MTOK", "MODEL_METRICS", "REGION_COST_REPORTERS",
           "REGION_REPORTERS", "TIER_REPORTERS", "reference_unit_costs", "rental_metrics",
           "supply_metrics", "Declaration", "PriceWarDataCollector", "agenttype_reporters",
           "compute", "flow_matrix", "metric_declaration", "metric_names", "model_reporters",
           "common_reference_surplus", "population", "refused"]


class Declaration(NamedTuple):
    """What a reporter measures: its unit (``1`` = dimensionless) and meaning."""

    unit: str
    meaning: str


D = Declaration

#: per-region model metrics, reported as ``<metric>_<region>`` for every producer region
REGION_REPORTERS: dict[str, Declaration] = {
    "price": D("USD/Mtok", "posted price of the region's hosts, weighted by the volume each "
               "serves (unweighted mean when the region serves nothing)"),
    "share": D("1", "the region's hosts' share of all served tokens (0-1)"),
    "throughput": D("Mtok/step", "tokens served by the region's hosts"),
    "unit_cost": D("USD/Mtok", "full cost of new capacity (CRF capital, fixed opex, energy), "
                   "volume-weighted like the price"),
    "energy_mwh": D("MWh/step", "facility energy of the region's hosts (IT load x PUE)"),
    "emissions_t": D("t CO2/step", "emissions of the grid share of that energy"),
}

#: per-region unit costs of supply v3, reported as ``<metric>_<region>`` after the tier metrics
#: (the columns of v2 keep their order)
REGION_COST_REPORTERS: dict[str, Declaration] = {
    "unit_cost_mix": D("USD/Mtok", "the served-mix unit cost: the same as unit_cost (full cost "
                       "of new capacity of the families the region's hosts serve, "
                       "volume-weighted); not like for like across regions"),
    "unit_cost_ref": D("USD/Mtok", "like-for-like unit cost: full cost of new capacity of the "
                       "reference family (the serving anchor family, deepseek_v3 in the shipped "
                       "data) on the region's best buyable chip, at the region's grid power "
                       "price, PUE and facility cost, the scenario WACC and full serving "
                       "efficiency (the same token in every region)"),
}

#: per-bloc model metrics, reported as ``<metric>_<bloc>`` for the blocs with rental markets
BLOC_REPORTERS: dict[str, Declaration] = {
    "gpus_idle": D("GPUs", "GPUs of the bloc's rental markets (hosts' fleets and the exogenous "
                   "training/other fleet) idle this step at the cleared rents (docs/ODD.md "
                   "§6.1c)"),
    "gpus_idle_share": D("1", "gpus_idle over the GPUs installed in the bloc's rental markets "
                         "(0-1)"),
}

#: per chip and bloc, reported with ``<chip>`` and ``<bloc>`` replaced
CHIP_BLOC_REPORTERS: dict[str, Declaration] = {
    "rental_price_<chip>_<bloc>": D("USD/GPU-h", "the rent that clears the chip's rental market "
                                    "in the bloc (docs/ODD.md §6.1c); its floor (energy + "
                                    "opex) where the bloc's hosts hold none of the chip"),
}

#: per-tier model metrics, reported with ``<tier>`` replaced by every capability tier
TIER_REPORTERS: dict[str, Declaration] = {
    "price_cheapest_<tier>": D("USD/Mtok", "cheapest posted price of a product at or above the "
                               "tier (Epoch AI's metric); 0 while none exists"),
    "price_tier_<tier>_cn": D("USD/Mtok", "served-weighted posted price of products of the "
                              "tier's families hosted in the cn bloc; 0 while none"),
    "price_tier_<tier>_us": D("USD/Mtok", "the same for hosts in the us region"),
}

#: market-wide model metrics, in the DataCollector's column order
AGGREGATE_REPORTERS: dict[str, Declaration] = {
    "price_avg": D("USD/Mtok", "served-weighted posted price of all products"),
    "price_index": D("USD/Mtok", "quality-adjusted CES price index P_j = exp(-IV_j/alpha_j) "
                     "(the price of a product of zero non-price utility), geometric mean over "
                     "consumers weighted by task volume"),
    "price_open": D("USD/Mtok", "served-weighted posted price of open-weight families' "
                    "products"),
    "price_closed": D("USD/Mtok", "the same for closed-weight families"),
    "share_open": D("1", "open-weight families' share of served tokens (0-1)"),
    "lerner": D("1", "served-weighted (p - c)/p over products, c the marginal cost"),
    "lerner_open": D("1", "the same over open-weight families' products"),
    "lerner_closed": D("1", "the same over closed-weight families' products"),
    "hhi": D("1", "Herfindahl index of hosts' shares of all served tokens (across partitioned "
             "markets: prefer hhi_market)"),
    "hhi_market": D("1", "Herfindahl index of hosts within each consumer market (region x "
                    "sector), weighted by the market's served volume"),
    "consumer_surplus": D("USD/step", "compensating variation of the move of the price index "
                          "since the initial prices (exact for the isoelastic upper level); "
                          "per run: its reference is the run's own initial prices"),
    "consumer_surplus_common_ref": D("USD/step", "compensating variation of the move of each "
                                     "consumer's price index from the common reference of 1000 "
                                     "USD/Mtok (COMMON_REFERENCE_PRICE_USD_PER_MTOK) to this "
                                     "step's; the same reference in every run: compare it "
                                     "across runs"),
    "welfare_change": D("USD/step", "compensating variation of this step's move of the price "
                        "index"),
    "task_volume": D("Mtok/step", "exogenous task volume D_j(t), summed"),
    "demand_total": D("Mtok/step", "volume at posted prices X_j = D_j (P_j/P_ref,j)^-eta, "
                      "summed"),
    "served_total": D("Mtok/step", "tokens served"),
    "unserved_demand": D("Mtok/step", "refused by full hosts with no open route left"),
    "not_bought_total": D("Mtok/step", "refused by full hosts and not bought on re-choice"),
    "refused_total": D("Mtok/step", "demand at posted prices that is not served: "
                       "unserved_demand + not_bought_total"),
    "refused_share": D("1", "refused_total / demand_total: the share of demand at posted prices "
                       "not served (0-1; 0 when demand_total is 0)"),
    "capacity_binding_share": D("1", "share of hosts with capacity whose served load is at "
                                "least 99.9% of it (0-1): in the v3 market the hosts whose "
                                "capacity's shadow price is positive"),
    "equilibrium_iterations": D("iterations", "iterations of the v3 market's equilibrium "
                                "solver this step (0 in the v2 market, whose strategies are "
                                "not solved to an equilibrium within a step)"),
    "equilibrium_residual": D("1", "the v3 solver's largest relative price change of one more "
                              "iteration or relative capacity violation at this step's prices "
                              "(0 when equilibrium_iterations is 0)"),
    "committed_share": D("1", "share of demand at posted prices bought by committed customers "
                         "(v3 market; 0 in the v2 market, which has no customer states)"),
    "api_revenue_usd": D("USD/step", "revenue of tokens sold through APIs: price x served x "
                         "the selling host's owner's api_sold_share (independent hosts: 1)"),
    "energy_mwh": D("MWh/step", "facility energy (served tokens and always-on draw)"),
    "emissions_t": D("t CO2/step", "emissions of grid energy"),
    "curtailment_absorbed_mwh": D("MWh/step", "otherwise-curtailed direct green supply used by "
                                  "flexible (batch) load"),
    "emissions_avoided_t": D("t CO2/step", "grid emissions the green supply replaced"),
    "active_producers": D("hosts", "hosts in the market after this step's exits and entries"),
    "active_products": D("products", "products offered (host x family)"),
    "families_live": D("families", "families released and not retired"),
    "exits": D("hosts", "hosts that went bankrupt and left this step"),
    "entries": D("hosts", "hosts that entered this step"),
    "exits_total": D("hosts", "exits since step 0"),
    "entries_total": D("hosts", "entries since step 0"),
    "capacity_total": D("Mtok/step", "hosts' capacity at their product mix"),
    "gpus_total": D("GPUs", "online GPUs at the end of the step (after exits and entries)"),
    "gpus_ordered": D("GPUs", "GPUs ordered this step (delivered later)"),
    "cn_share_western": D("1", "share of western consumers' tokens served by hosts in the cn "
                          "bloc (0-1)"),
    "cn_share_global_south": D("1", "the same for contested (Global South) consumers"),
    "western_share_global_south": D("1", "western hosts' share of contested consumers' tokens"),
    "cn_family_share_western": D("1", "share of western consumers' tokens from families whose "
                                 "owner is Chinese, whoever hosts them"),
}

#: the price index every run's ``consumer_surplus_common_ref`` is measured from (USD/Mtok): a
#: fixed level above every consumer's initial price index in the shipped scenarios (0.38-242
#: USD/Mtok, measured with 300 consumers, seed 1), so the measure does not move with a run's own
#: initial prices
COMMON_REFERENCE_PRICE_USD_PER_MTOK = 1000.0

REGION_METRICS = tuple(REGION_REPORTERS)
AGGREGATE_METRICS = tuple(AGGREGATE_REPORTERS)
#: capability tiers of the shipped calibration
SHIPPED_TIERS = tuple(calibration_defaults()["tiers"])
#: chips of the shipped calibration
SHIPPED_CHIPS = tuple(calibration_defaults()["chips"])


def _chip_bloc_names(chips) -> list[str]:
    return [name.replace("<chip>", c).replace("<bloc>", b) for name in CHIP_BLOC_REPORTERS
            for c in chips for b in BLOCS]


def metric_names(producer_regions, tiers=None, chips=None) -> tuple[str, ...]:
    """Model metric names of a model with these producer regions, capability tiers and chips
    (default: the shipped calibration's tiers and chips)."""
    tiers = SHIPPED_TIERS if tiers is None else tiers
    chips = SHIPPED_CHIPS if chips is None else chips
    return (*AGGREGATE_METRICS,
            *[f"{m}_{r}" for m in REGION_METRICS for r in producer_regions],
            *[name.replace("<tier>", t) for name in TIER_REPORTERS for t in tiers],
            *[f"{m}_{r}" for m in REGION_COST_REPORTERS for r in producer_regions],
            *[f"{m}_{b}" for m in BLOC_REPORTERS for b in BLOCS],
            *_chip_bloc_names(chips))


def metric_declaration(name: str, producer_regions=None, tiers=None) -> Declaration:
    """The declaration of model metric ``name`` (``price_us`` -> the ``price`` declaration,
    ``price_cheapest_gpt4_mmlu`` -> ``price_cheapest_<tier>``).

    Raises KeyError for a name that is not a model metric of ``producer_regions`` and ``tiers``
    (default: the shipped calibration's).
    """
    if name in AGGREGATE_REPORTERS:
        return AGGREGATE_REPORTERS[name]
    for region in producer_regions or PRODUCER_REGIONS:
        metric = name.removesuffix(f"_{region}")
        if metric != name and metric in REGION_REPORTERS:
            return REGION_REPORTERS[metric]
        if metric != name and metric in REGION_COST_REPORTERS:
            return REGION_COST_REPORTERS[metric]
    for tier in SHIPPED_TIERS if tiers is None else tiers:
        for template, declared in TIER_REPORTERS.items():
            if name == template.replace("<tier>", tier):
                return declared
    for bloc in BLOCS:
        metric = name.removesuffix(f"_{bloc}")
        if metric != name and metric in BLOC_REPORTERS:
            return BLOC_REPORTERS[metric]
        if name.startswith("rental_price_") and name.endswith(f"_{bloc}"):
            return CHIP_BLOC_REPORTERS["rental_price_<chip>_<bloc>"]
    raise KeyError(name)


#: model metrics of the shipped calibration's producer regions and tiers
MODEL_METRICS = metric_names(PRODUCER_REGIONS)

#: Agent-type reporters: attribute names on the agents (views into the model arrays).
PRODUCER_REPORTER_DECLARATIONS: dict[str, Declaration] = {
    "price": D("USD/Mtok", "posted price, served-weighted over the host's products"),
    "marginal_cost": D("USD/Mtok", "energy plus the rental opportunity cost of the GPU time a "
                       "token takes (merit order), served-weighted over the host's products"),
    "full_unit_cost": D("USD/Mtok", "full cost of new capacity: energy, CRF capital recovery, "
                        "fixed opex"),
    "quantity": D("Mtok/step", "tokens served"),
    "capacity": D("Mtok/step", "serving capacity at the host's product mix"),
    "utilisation": D("1", "realised load / capacity (0-1)"),
    "profit": D("USD/step", "revenue minus energy and fixed costs (fleet, families)"),
    "cash": D("USD", "cash at the end of the step (bankrupt below the scenario's threshold)"),
    "gpus": D("GPUs", "online GPUs"),
}
PLATFORM_REPORTER_DECLARATIONS: dict[str, Declaration] = {
    "markup": D("USD/Mtok", "markup added to listed hosts' prices"),
    "quantity": D("Mtok/step", "tokens routed through the platform"),
    "revenue": D("USD/step", "markup revenue"),
}
PRODUCER_REPORTERS = tuple(PRODUCER_REPORTER_DECLARATIONS)
PLATFORM_REPORTERS = tuple(PLATFORM_REPORTER_DECLARATIONS)


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
        "consumer_surplus_common_ref": common_reference_surplus(consumers),
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
    out.update(refused(out["unserved_demand"], out["not_bought_total"], out["demand_total"]))
    out.update(equilibrium(model))
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
        out[f"unit_cost_mix_{region}"] = out[f"unit_cost_{region}"]
    out.update(supply_metrics(model))
    return out


def supply_metrics(model) -> dict[str, float]:
    """The like-for-like unit costs (``unit_cost_ref_<region>``), the cleared rents and the idle
    GPUs (supply v3; they read the scenario, the cost library and the fleet)."""
    out = dict(zip((f"unit_cost_ref_{r}" for r in model.regions.producer_regions),
                   reference_unit_costs(model).tolist(), strict=True))
    out.update(rental_metrics(model))
    return out


def reference_unit_costs(model, chip: int | None = None) -> np.ndarray:
    """Per producer region (``model.regions.producer_regions`` order), the full cost of new
    capacity of the reference family (the serving anchor family) on the region's best buyable
    chip at the date (USD/Mtok), at the region's grid power price, PUE, facility cost and carbon
    intensity, the scenario WACC and full serving efficiency: the same token in every region.
    ``chip`` (a chip number) fixes the chip for every region (chip parity). A bloc that may buy
    no chip gets the cheapest chip's cost, as the hosts' full cost does."""
    s, regions = model.scenario, model.regions
    index = np.array([model.region_names.index(r) for r in regions.producer_regions])
    n = index.size
    hosts = Hosts(bloc=regions.bloc[index], electricity_usd_per_kwh=regions.electricity_usd_per_kwh[index],
                  pue=regions.pue[index], facility_usd_per_w=regions.facility_usd_per_w[index],
                  carbon_kg_per_kwh=regions.carbon_kg_per_kwh[index],
                  serving_efficiency=np.ones(n), wacc=np.full(n, s.policy.wacc))
    family = np.full(n, model.families.names.index(s.serving.anchor_family))
    chips = (best_chips(model.supply, hosts, family, model.date, s.policy)[0] if chip is None
             else np.full(n, chip))
    return model.supply.costs(chips, family, model.date, hosts.site(np.arange(n)), s.policy,
                              wacc=hosts.wacc, serving_efficiency=1.0).full_usd_per_mtok


def rental_metrics(model) -> dict[str, float]:
    """The cleared rent of every chip and bloc and each bloc's idle GPUs (docs/ODD.md §6.1c)."""
    outcome = clear_markets(model.scenario, model.supply, model.date, model.steps, model.regions,
                            model.fleet, model.producer_arrays)
    out: dict[str, float] = {}
    shares = outcome.idle_share_by_bloc()
    for bloc, idle in outcome.idle_gpus_by_bloc().items():
        out[f"gpus_idle_{bloc}"] = idle
        out[f"gpus_idle_share_{bloc}"] = shares[bloc]
    for c, chip in enumerate(model.chip_names):
        for k, bloc in enumerate(outcome.blocs):
            out[f"rental_price_{chip}_{bloc}"] = float(outcome.rent_usd_per_gpu_hour[c, k])
    return out


def common_reference_surplus(consumers) -> float:
    """Consumers' compensating variation (USD/step) of the move of their price index from
    :data:`COMMON_REFERENCE_PRICE_USD_PER_MTOK` to this step's, on this step's expenditure, with
    the formula of ``consumer_surplus`` (:func:`~pricewar.model.settlement.compensating_variation`);
    consumers without a route contribute 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        log_ratio = np.log(COMMON_REFERENCE_PRICE_USD_PER_MTOK / consumers.price_index)
    return float(compensating_variation(consumers.expenditure, log_ratio, consumers.eta).sum())


def equilibrium(model) -> dict[str, float]:
    """``capacity_binding_share``, ``equilibrium_iterations``, ``equilibrium_residual``,
    ``committed_share`` and ``api_revenue_usd`` (see their declarations)."""
    capacity = model.producer_capacity_gpu_s
    has = capacity > 0
    binding = float(np.mean(model.producer_load_gpu_s[has] >= 0.999 * capacity[has])) \
        if has.any() else 0.0
    products = model.product_arrays
    host_owner = model.producer_owner[products.producer]
    # an owner's host sells the owner's API share of its tokens (the rest go to its own apps);
    # an independent host sells every token through its API
    share = np.where(host_owner >= 0, model.api_sold_share[np.maximum(host_owner, 0)], 1.0)
    out = {"capacity_binding_share": binding, "equilibrium_iterations": 0.0,
           "equilibrium_residual": 0.0, "committed_share": 0.0,
           "api_revenue_usd": float((products.price * products.served * share).sum())}
    market = model.market_v3
    if market is not None and market.result is not None:
        out["equilibrium_iterations"] = float(market.result.iterations)
        out["equilibrium_residual"] = float(market.result.residual)
        out["committed_share"] = market.committed_share()
    return out


def refused(unserved: float, not_bought: float, demand: float) -> dict[str, float]:
    """``refused_total`` (Mtok/step): demand at posted prices not served, the capacity shortfall
    (``unserved``) plus what was refused and not bought on re-choice (``not_bought``);
    ``refused_share``: that over ``demand`` (Mtok/step at posted prices), 0 when it is 0."""
    total = unserved + not_bought
    return {"refused_total": total, "refused_share": total / demand if demand > 0 else 0.0}


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


def model_reporters(producer_regions, tiers=None, chips=None) -> dict:
    """DataCollector model reporters reading ``model.metrics``."""
    return {name: (lambda m, key=name: m.metrics[key])
            for name in metric_names(producer_regions, tiers, chips)}


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
    pricewar's own (docs/extending.md, "A new reporter"); ``tiers`` and ``chips`` are the
    model's capability tiers and chips (default: the shipped calibration's).

    Mesa builds that frame from ``agent_reporters``, which would record every consumer agent at
    every step; here it is assembled from what the agent-type reporters recorded. Each agent's
    region and group are remembered when it is first collected, so a producer that exited keeps
    them in the frame.
    """

    def __init__(self, producer_regions,
                 extra_reporters: Mapping[str, tuple[Callable, Declaration]] | None = None,
                 tiers=None, chips=None):
        extra = dict(extra_reporters or {})
        names = metric_names(producer_regions, tiers, chips)
        taken = sorted(set(extra) & set(names))
        if taken:
            raise ValueError(f"extra_reporters {taken} would replace pricewar's own reporters")
        by_type = agenttype_reporters()
        super().__init__(
            model_reporters={**model_reporters(producer_regions, tiers, chips),
                             **{name: function for name, (function, _) in extra.items()}},
            agenttype_reporters=by_type)
        self._array_reporters = self._array_backed(by_type)
        #: model reporter name -> its Declaration (pricewar's and the extra ones)
        self.declarations = {**{n: metric_declaration(n, producer_regions, tiers)
                                for n in names},
                             **{name: declared for name, (_, declared) in extra.items()}}
        self._identity: dict[int, tuple[str, str]] = {}

    def _array_backed(self, by_type: dict) -> dict:
        """Per agent type, the reporters reading an :class:`~pricewar.model.agents.ArrayField`:
        name -> (the reporter Mesa made of the attribute name, the field)."""
        from pricewar.model.agents import ArrayField

        return {agent_type: {name: (self.agenttype_reporters[agent_type][name], field)
                             for name, attribute in reporters.items()
                             if isinstance(field := getattr(agent_type, attribute, None),
                                           ArrayField)}
                for agent_type, reporters in by_type.items()}

    def _record_agenttype(self, model, agent_type):
        """Mesa's records ``(step, unique_id, *values)`` of the agents of ``agent_type``. A
        reporter reading an array-backed attribute takes the model array once (``tolist`` gives
        the numbers ``.item()`` gives) instead of one descriptor call per agent: those calls
        were a tenth of a 300-consumer step. Other reporters are called per agent, as in Mesa."""
        if agent_type not in model.agent_types:
            return super()._record_agenttype(model, agent_type)
        agents = list(model.agents_by_type[agent_type])
        array_backed = self._array_reporters.get(agent_type, {})
        columns = []
        for name, reporter in self.agenttype_reporters[agent_type].items():
            made, field = array_backed.get(name, (None, None))
            if made is reporter:  # still the reporter Mesa made of the attribute name
                values = getattr(model, field.array).tolist()
                columns.append([values[agent.index] for agent in agents])
            else:
                columns.append([reporter(agent) for agent in agents])
        rows = zip(*columns, strict=True) if columns else [()] * len(agents)
        return [(model.steps, agent.unique_id, *row)
                for agent, row in zip(agents, rows, strict=True)]

    def collect(self, model) -> None:
        super().collect(model)
        for agent_type in self.agenttype_reporters:
            for agent in model.agents_by_type.get(agent_type, ()):
                if agent.unique_id not in self._identity:
                    self._identity[agent.unique_id] = (agent.region, agent.group)

    def identity(self, agent_id: int) -> tuple[str, str]:
        """``(region, group)`` of the agent ``agent_id`` as it was when first collected (kept
        after the agent exits)."""
        return self._identity[agent_id]

    def get_agent_vars_dataframe(self) -> pd.DataFrame:
        """Producer and platform reporters, index (Step, AgentID), with ``agent_type``,
        ``region`` and ``group`` columns first (reporters a type lacks are NaN)."""
        frames = []
        for agent_type, name in zip(self.agenttype_reporters, AGENT_TYPE_NAMES, strict=True):
            frame = self.get_agenttype_vars_dataframe(agent_type)
            identity = [self.identity(i) for i in frame.index.get_level_values("AgentID")]
            frame.insert(0, "agent_type", name)
            frame.insert(1, "region", [region for region, _ in identity])
            frame.insert(2, "group", [group for _, group in identity])
            frames.append(frame)
        return pd.concat(frames).sort_index(kind="stable")
