"""Experiments on geography: latency and the division of work, and green curtailment."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pricewar.model import PriceWarModel
from pricewar.model.metrics import flow_matrix
from pricewar.plotting import style as plots
from pricewar.runs.harness import (
    CN_CONSUMER_REGIONS,
    DEFAULT_SCENARIO,
    ExperimentResult,
    aggregate,
    experiment_mode,
    figure_note,
    json_ready,
    run_points,
    scenario_fields,
    write_table,
)
from pricewar.scenario import PRODUCER_REGIONS, load_scenario
from pricewar.units import MWH_PER_GWH, T_PER_KT

log = logging.getLogger(__name__)

#: consumers in full mode (fewer than the harness's default: keeps each script under two minutes
#: on a small machine with the v2 model's per-step cost)
FULL_MODE_CONSUMERS = 500


# ------------------------------------------------------------------------------------------------
# 5. latency division of labour
# ------------------------------------------------------------------------------------------------
def _cn_flow_observer(model: PriceWarModel) -> dict:
    flows = flow_matrix(model)
    return {f"flow|{consumer}|{sector}|{producer}": float(
                flows[model.region_names.index(consumer), s, p])
            for consumer in CN_CONSUMER_REGIONS
            for s, sector in enumerate(model.sector_names)
            for p, producer in enumerate(model.region_names) if producer in PRODUCER_REGIONS}


def latency_division(out_dir: Path, quick: bool = False, seeds: Sequence[int] | None = None,
                     progress: bool = True, scenario: str = DEFAULT_SCENARIO) -> ExperimentResult:
    """Does latency split Chinese work into west-for-batch and east-for-real-time?"""
    seeds, n_consumers = experiment_mode(quick, seeds, (1,), (1, 2))
    n_consumers = min(n_consumers, FULL_MODE_CONSUMERS)
    base = load_scenario(scenario)
    baseline_latency = float(base.latency_ms["cn_west"]["cn_east"])
    latencies = (10.0, baseline_latency, 80.0) if quick else (
        10.0, 14.0, baseline_latency, 40.0, 80.0)
    steps = 26 if quick else 52
    wide = run_points([{"hub_latency_ms": x} for x in latencies], seeds, steps,
                      _cn_flow_observer, fixed={"n_consumers": n_consumers}, scenario=scenario,
                      progress=progress, desc="latency_division")
    flow_columns = [c for c in wide.columns if c.startswith("flow|")]
    table = wide.melt(id_vars=["hub_latency_ms", "seed", "step", "date"], value_vars=flow_columns,
                      var_name="flow", value_name="volume_mtok")
    parts = table["flow"].str.split("|", expand=True)
    table["consumer_region"], table["sector"], table["producer_region"] = (
        parts[1], parts[2], parts[3])
    table = table.drop(columns="flow")
    keys = ["hub_latency_ms", "seed", "consumer_region", "sector"]
    totals = table.groupby(keys)["volume_mtok"].transform("sum")
    table["share"] = np.where(totals > 0, table["volume_mtok"] / np.maximum(totals, 1e-300), 0.0)
    # all CN consumers together
    pooled = table.groupby(["hub_latency_ms", "seed", "sector", "producer_region"],
                           as_index=False)["volume_mtok"].sum()
    pooled["share"] = pooled["volume_mtok"] / pooled.groupby(
        ["hub_latency_ms", "seed", "sector"])["volume_mtok"].transform("sum")
    east = table[(table["consumer_region"] == "cn_east")
                 & (table["producer_region"] == "cn_west")]
    summary = aggregate(east, ["hub_latency_ms", "sector"], ["share"])
    composition = (table[table["hub_latency_ms"] == baseline_latency]
                   .groupby(["consumer_region", "sector", "producer_region"])["share"].mean()
                   .unstack().reindex(columns=list(PRODUCER_REGIONS)).fillna(0.0))
    order = [(c, s) for c in ("cn_east", "cn_west") for s in base.sectors]
    composition = composition.reindex([k for k in order if k in composition.index])

    def share_at(frame, latency):
        part = frame[(frame["hub_latency_ms"] == latency)
                     & (frame["producer_region"] == "cn_west")]
        return part.groupby("sector")["share"].mean().to_dict()

    control = summary[summary["sector"] == "industrial_control"].sort_values("hub_latency_ms")
    gone = control[control["share_mean"] < 0.005]["hub_latency_ms"]
    headline = {
        **scenario_fields(scenario),
        "mode": "quick" if quick else "full", "seeds": list(seeds), "step": steps,
        "baseline_hub_latency_ms": baseline_latency,
        "cn_west_share_of_cn_east_consumers_at_baseline": share_at(east, baseline_latency),
        "cn_west_share_of_cn_east_consumers_at_min_latency": share_at(east, min(latencies)),
        "cn_west_share_of_cn_east_consumers_at_max_latency": share_at(east, max(latencies)),
        "cn_west_share_of_all_cn_consumers_at_baseline": share_at(pooled, baseline_latency),
        "industrial_control_leaves_west_at_ms": float(gone.min()) if len(gone) else None,
    }
    files = [write_table(table, out_dir, "latency_division")]
    note = figure_note(quick, seeds, n_consumers, "latency_division",
                 "hub latency: 20 ms inter-hub circle (CAICT Q1 2024), 20-30 ms Ningxia/Gansu-"
                 "Shanghai (est.); sector latency tolerances: industrial control 15 ms, realtime "
                 f"150 ms, chat 1.5 s, batch hours (est.). Served volume at step {steps}.",
                 scenario=scenario)
    files += plots.plot_latency_division(summary, composition, baseline_latency, out_dir, note)
    return ExperimentResult("latency_division", json_ready(headline), table, files)


# ------------------------------------------------------------------------------------------------
# 7. green curtailment
# ------------------------------------------------------------------------------------------------
def _green_observer(model: PriceWarModel) -> dict:
    flows = flow_matrix(model).sum(axis=0)  # sector x producer region
    batch = flows[model.sector_names.index("batch")]
    west = model.region_names.index("cn_west")
    members = model.producer_region == west
    energy = float(model.producer_energy_mwh[members].sum())
    history = model.datacollector.get_model_vars_dataframe()
    return {
        "absorbed_mwh_last_step": model.metrics["curtailment_absorbed_mwh"],
        "absorbed_gwh_total": float(history["curtailment_absorbed_mwh"].sum()) / MWH_PER_GWH,
        "avoided_kt_total": float(history["emissions_avoided_t"].sum()) / T_PER_KT,
        "emissions_kt_total": float(history["emissions_t"].sum()) / T_PER_KT,
        "batch_share_cn_west": float(batch[west] / batch.sum()) if batch.sum() > 0 else 0.0,
        "share_cn_west": model.metrics["share_cn_west"],
        "green_share_cn_west": (float(model.producer_green_mwh[members].sum()) / energy
                                if energy > 0 else 0.0),
        "price_cn_west": model.metrics["price_cn_west"],
    }


def green_curtailment(out_dir: Path, quick: bool = False, seeds: Sequence[int] | None = None,
                      progress: bool = True, scenario: str = DEFAULT_SCENARIO
                      ) -> ExperimentResult:
    """How much curtailed western green power can flexible (batch) load absorb?"""
    seeds, n_consumers = experiment_mode(quick, seeds, (1,), (1,))
    n_consumers = min(n_consumers, FULL_MODE_CONSUMERS)
    caps = (0.0, 2000.0, 20000.0) if quick else (
        0.0, 1000.0, 2000.0, 5000.0, 20000.0, 200000.0)
    steps = 52 if quick else 104
    table = run_points([{"green_supply_cap_cn_west": c} for c in caps], seeds, steps,
                       _green_observer, fixed={"n_consumers": n_consumers}, scenario=scenario,
                       progress=progress, desc="green_curtailment")
    table.insert(1, "green_cap_gwh_per_week", table["green_supply_cap_cn_west"] / MWH_PER_GWH)
    table["potential_gwh_total"] = table["green_cap_gwh_per_week"] * (steps + 1)
    columns = ["absorbed_mwh_last_step", "absorbed_gwh_total", "potential_gwh_total",
               "avoided_kt_total", "batch_share_cn_west", "share_cn_west", "green_share_cn_west",
               "price_cn_west"]
    summary = aggregate(table, ["green_supply_cap_cn_west", "green_cap_gwh_per_week"], columns)
    last_ratio = summary["absorbed_mwh_last_step_mean"] / summary["green_supply_cap_cn_west"]
    limited = summary[(summary["green_supply_cap_cn_west"] > 0) & (last_ratio < 0.95)]
    zero = summary.iloc[0]
    top = summary.iloc[-1]
    west = load_scenario(scenario).regions["cn_west"]
    base = west.green_supply_cap_mwh_per_step
    at_base = summary[np.isclose(summary["green_supply_cap_cn_west"], base)]
    headline = {
        **scenario_fields(scenario),
        "mode": "quick" if quick else "full", "seeds": list(seeds), "steps": steps,
        "load_limited_from_cap_mwh_per_week": (float(limited["green_supply_cap_cn_west"].min())
                                               if len(limited) else None),
        "absorbed_gwh_total_at_baseline_cap": (float(at_base["absorbed_gwh_total_mean"].iloc[0])
                                               if len(at_base) else None),
        "avoided_kt_total_at_baseline_cap": (float(at_base["avoided_kt_total_mean"].iloc[0])
                                             if len(at_base) else None),
        "absorbed_gwh_total_at_max_cap": top["absorbed_gwh_total_mean"],
        "avoided_kt_total_at_max_cap": top["avoided_kt_total_mean"],
        "batch_share_cn_west_no_green": zero["batch_share_cn_west_mean"],
        "batch_share_cn_west_max_cap": top["batch_share_cn_west_mean"],
        "share_cn_west_no_green": zero["share_cn_west_mean"],
        "share_cn_west_max_cap": top["share_cn_west_mean"],
        "green_share_cn_west_energy_max_cap": top["green_share_cn_west_mean"],
    }
    files = [write_table(table, out_dir, "green_curtailment")]
    carbon = west.carbon_kg_per_kwh
    cap_text = ("Baseline" if scenario == DEFAULT_SCENARIO else f"Scenario {scenario}"
                ) + f" cap {base:,.0f} MWh/week."
    note = figure_note(quick, seeds, n_consumers, "green_curtailment",
                 "direct green supply 0.014 USD/kWh (2026 press reports, Qingyang); NW curtailment "
                 f"5-34% (NEA Monitoring Centre 2025); grid carbon {carbon:.3f} kg/kWh (Northwest "
                 f"China grid factor 2022, MEE/NBS Dec 2024). {cap_text} "
                 "Only flexible (batch) load runs on the green supply.", scenario=scenario)
    files += plots.plot_green_curtailment(summary, carbon, out_dir, note)
    return ExperimentResult("green_curtailment", json_ready(headline), table, files)
