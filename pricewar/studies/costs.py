"""Experiments on costs: the CN/US cost waterfall and the energy gap.

Both explain the price gap between Chinese and US hosts at equal capability with the log
decomposition of :mod:`pricewar.studies.regional_gap` (chip access, family serving efficiency,
power price x PUE, host serving stack, margin); the export-control levers are in
:mod:`pricewar.studies.export_controls`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from pricewar.model import PriceWarModel
from pricewar.runs.harness import (
    DEFAULT_SCENARIO,
    ExperimentResult,
    aggregate,
    band_suffixes,
    draws_text,
    experiment_mode,
    figure_note,
    json_ready,
    paired_interval,
    run_observed,
    run_points,
    scenario_fields,
    write_table,
)
from pricewar.scenario import PRODUCER_REGIONS, load_scenario
from pricewar.studies import gap_plots
from pricewar.studies.regional_gap import (
    DRIVERS,
    pooled_gap,
    product_cost_inputs,
    tier_gap_decomposition,
)

log = logging.getLogger(__name__)

#: price components of the waterfall: the marginal cost (energy at the IT load, cooling,
#: capacity opportunity cost, variable opex), the host's margin over it, then the route's
#: network transfer cost and platform markup
COST_COMPONENTS = ("energy_it", "cooling", "capacity", "opex", "margin", "network", "platform")

#: consumers of the cost experiments in full mode (fewer than the harness's default: keeps each
#: script under two minutes on a small machine)
GAP_CONSUMERS = 1000


# ------------------------------------------------------------------------------------------------
# 1. cost waterfall
# ------------------------------------------------------------------------------------------------
def cost_decomposition(model: PriceWarModel) -> pd.DataFrame:
    """Price per Mtok by producer region, split into components (USD/Mtok).

    Volume-weighted over the region's products and routes at the current step::

        energy_it + cooling + capacity + opex = marginal cost (the pricing cost: merit-order
                                                marginal cohort, model.product_marginal_cost)
        + margin   (posted price - marginal cost)                  = posted price
        + network  (cross-region transfer cost per route)
        + platform (platform markup and tariff on the route price)   = delivered price

    ``energy_it`` is the IT energy (J/token x power price), ``cooling`` the PUE overhead on top,
    ``capacity`` the opportunity cost of GPU time (the chip's rental index), ``opex`` the variable
    opex. ``unit_cost`` is the full cost of new capacity (investment and exit). The delivered
    price is computed independently from the route arrays, so the components summing to it is a
    check of the decomposition.
    """
    r = model.routes
    served = model.clearing.route_served
    product = r.route_product
    products = model.product_arrays
    weight = np.bincount(product, served, minlength=len(products))
    pue = model.producer_pue[products.producer]
    energy = products.marginal_energy
    per_product = {
        "energy_it": energy / pue,
        "cooling": energy * (1.0 - 1.0 / pue),
        "capacity": products.marginal_capacity,
        "opex": np.full(len(products), model.supply.catalogue.capital.variable_opex_usd_per_mtok),
        "margin": products.price - products.marginal_cost,
        "marginal_cost": products.marginal_cost,
        "unit_cost": products.full_cost,
        "price": products.price,
        "electricity_usd_per_kwh": model.producer_electricity[products.producer],
        "pue": pue,
        "energy_j_per_token": products.energy_j_per_token,
        "utilisation": model.producer_utilisation[products.producer],
    }
    factor = model.network.price_factor
    route_price = products.price[product]
    per_route = {
        "network": model.route_transfer_usd,
        "platform": (factor - 1.0) * route_price,
        "delivered_price": route_price * factor + model.route_transfer_usd,
    }
    host_region = model.producer_region[products.producer]
    rows = []
    for index, region in enumerate(model.region_names):
        if region not in PRODUCER_REGIONS:
            continue
        members = host_region == index
        on_route = members[product]
        volume = float(served[on_route].sum())
        row = {"step": model.steps, "date": pd.Timestamp(model.date), "region": region,
               "served_mtok": volume}
        for name, values in per_product.items():
            row[name] = (float((weight[members] * values[members]).sum() / volume)
                         if volume > 0 else float("nan"))
        for name, values in per_route.items():
            row[name] = (float((served[on_route] * values[on_route]).sum() / volume)
                         if volume > 0 else float("nan"))
        row["components_sum"] = sum(row[c] for c in COST_COMPONENTS)
        rows.append(row)
    return pd.DataFrame(rows)


def gap_observer(model: PriceWarModel) -> dict:
    """The tier decompositions over all hosts and over owner-hosted products (first-party APIs,
    the analogue of vendors' list prices)."""
    products = product_cost_inputs(model)
    return {"all_hosts": tier_gap_decomposition(model, products),
            "owner_hosted": tier_gap_decomposition(model, products, owner_hosted_only=True)}


def _factor_summary(part: pd.DataFrame) -> dict:
    """Mean ratio and the multiplicative factor of each driver (exp of its mean log part), with
    the seeds' min-max of the ratio."""
    out = {"ratio": float(np.exp(part["log_ratio"].mean())),
           "ratio_seed_range": [float(part["ratio"].min()), float(part["ratio"].max())],
           "ratio_arithmetic": float(part["ratio_arithmetic"].mean())}
    total = float(part["log_ratio"].mean())
    out["factor"] = {d: float(np.exp(part[f"log_{d}"].mean())) for d in DRIVERS}
    out["share_of_log_ratio"] = {d: (float(part[f"log_{d}"].mean()) / total
                                     if abs(total) > 1e-12 else None) for d in DRIVERS}
    out["chips_cn"] = sorted(set(",".join(part["chips_cn"]).split(",")))
    out["chips_us"] = sorted(set(",".join(part["chips_us"]).split(",")))
    return out


def cost_waterfall(out_dir: Path, quick: bool = False, seeds: Sequence[int] | None = None,
                   progress: bool = True, scenario: str = DEFAULT_SCENARIO) -> ExperimentResult:
    """What makes Chinese hosts' prices differ from US hosts' at equal capability?"""
    seeds, n_consumers = experiment_mode(quick, seeds, (1,), (1, 2, 3))
    n_consumers = min(n_consumers, GAP_CONSUMERS)
    steps = 52 if quick else 156
    at_steps = (26, 52) if quick else (52, 104, 156)
    frames, regions = [], []
    for seed in tqdm(seeds, desc="cost_waterfall", unit="run", disable=not progress, leave=False):
        _, observations = run_observed(
            {"n_consumers": n_consumers}, seed, steps, at_steps=at_steps,
            observe=lambda m: {**gap_observer(m), "regions": cost_decomposition(m)},
            scenario=scenario)
        for o in observations:
            for scope in ("all_hosts", "owner_hosted"):
                frames.append(o[scope].assign(seed=seed, scope=scope))
            regions.append(o["regions"].assign(seed=seed))
    table = pd.concat(frames, ignore_index=True)
    first = ["scope", "seed", "step", "date", "tier"]
    table = table[first + [c for c in table.columns if c not in first]]
    region_table = pd.concat(regions, ignore_index=True)
    last = table[table["step"] == steps]
    headline: dict = {**scenario_fields(scenario), "mode": "quick" if quick else "full",
                      "seeds": list(seeds), "n_consumers": n_consumers, "step": steps,
                      "date": pd.Timestamp(last["date"].iloc[0]).strftime("%Y-%m") if len(last)
                      else None}
    for scope, part in last.groupby("scope"):
        headline[scope] = {tier: _factor_summary(rows) for tier, rows in part.groupby("tier")}
        pooled = pd.DataFrame([pooled_gap(rows) for _, rows in part.groupby("seed")])
        headline[f"{scope}_pooled"] = {
            "ratio": float(np.exp(pooled["log_ratio"].mean())),
            "factor": {d: float(np.exp(pooled[f"log_{d}"].mean())) for d in DRIVERS}}
    headline["max_abs_sum_error"] = float(
        (table[[f"log_{d}" for d in DRIVERS]].sum(axis=1) - table["log_ratio"]).abs().max())
    end_regions = region_table[region_table["step"] == steps]
    headline["regions"] = {
        region: {c: float(rows[c].mean()) for c in (*COST_COMPONENTS, "marginal_cost",
                                                    "unit_cost", "price", "delivered_price")}
        for region, rows in end_regions.groupby("region")}
    headline["max_relative_sum_error"] = float(
        ((region_table["components_sum"] - region_table["delivered_price"]).abs()
         / region_table["delivered_price"]).max())
    files = [write_table(table, out_dir, "cost_waterfall"),
             write_table(region_table, out_dir, "cost_waterfall_regions")]
    note = figure_note(quick, seeds, n_consumers, "cost_waterfall",
                       "chips and rental index: vendor data sheets, SemiAnalysis, DeepSeek "
                       "open-infra-index (1 Mar 2025); families: model cards, Epoch AI; power: "
                       "EIA 2023, Eurostat 2024, FT Nov 2025 (subsidy); see docs/calibration.md. "
                       "Ratio = served-weighted geometric mean price of the tier's products hosted "
                       "in the cn bloc / in the us region; its log is split exactly into the five "
                       "drivers (Shapley over the cost factors; margin = log price/marginal cost).",
                       scenario=scenario)
    labels = gap_plots.tier_labels(load_scenario(scenario).catalogue, table["tier"].unique(),
                                   short=True)
    files += gap_plots.plot_cost_waterfall(table, end_regions, out_dir, note, labels=labels)
    return ExperimentResult("cost_waterfall", json_ready(headline), table, files)


# ------------------------------------------------------------------------------------------------
# 2. energy gap
# ------------------------------------------------------------------------------------------------
def _stops_mattering(ratios: np.ndarray, shares: np.ndarray, tolerance: float) -> float:
    """Smallest ratio from which on the share stays within ``tolerance`` of the share at the
    largest ratio (no power advantage)."""
    order = np.argsort(ratios)
    ratios, shares = ratios[order], shares[order]
    close = np.abs(shares - shares[-1]) < tolerance
    k = len(ratios) - 1
    while k > 0 and close[k - 1]:
        k -= 1
    return float(ratios[k])


def _energy_observer(model: PriceWarModel) -> dict:
    m = model.metrics
    products = product_cost_inputs(model)
    pooled = pooled_gap(tier_gap_decomposition(model, products))
    west = products[(products["region"] == "cn_west") & (products["served"] > 0)]
    arrays = model.product_arrays
    served = arrays.served
    members = np.isin(np.arange(len(arrays)), west["product"].to_numpy())
    energy_share = (float((arrays.marginal_energy[members] * served[members]).sum()
                          / (arrays.marginal_cost[members] * served[members]).sum())
                    if served[members].sum() > 0 else float("nan"))
    return {"share_cn_west": m["share_cn_west"], "share_cn_east": m["share_cn_east"],
            "share_us": m["share_us"], "share_eu": m["share_eu"], "price_avg": m["price_avg"],
            "price_cn_west": m["price_cn_west"], "unit_cost_cn_west": m["unit_cost_cn_west"],
            "unit_cost_us": m["unit_cost_us"], "throughput_cn_west": m["throughput_cn_west"],
            "energy_share_of_marginal_cost_cn_west": energy_share,
            "gap_ratio": pooled["ratio"],
            **{f"gap_log_{d}": pooled[f"log_{d}"] for d in DRIVERS}}


def energy_gap(out_dir: Path, quick: bool = False, seeds: Sequence[int] | None = None,
               progress: bool = True, scenario: str = DEFAULT_SCENARIO,
               draws: Sequence[tuple[int, dict]] | None = None, draws_file=None
               ) -> ExperimentResult:
    """How much do cheaper western Chinese power prices win volume and close the CN/US gap?

    With ``draws`` every electricity price runs at every draw x seed: the summary is the median
    and 90% interval (``_median``, ``_q05``, ``_q95``) and the headline's effects of the cheapest
    power (against ratio 1) are also given as paired differences on common draws and seeds
    (``..._paired``: median, q05, q95)."""
    seeds, n_consumers = experiment_mode(quick, seeds, (1,), (1,))
    n_consumers = min(n_consumers, GAP_CONSUMERS // 2)
    ratios = (0.2, 0.6, 1.0) if quick else (0.2, 0.4, 0.6, 0.8, 1.0)
    regimes = ("historical", "no_controls")
    at_steps = (26, 52) if quick else (52, 104)
    base = load_scenario(scenario)
    us_price = base.regions["us"].electricity_usd_per_kwh
    baseline_ratio = base.regions["cn_west"].electricity_usd_per_kwh / us_price
    points = [{"chip_regime": regime, "electricity_cn_west": round(r * us_price, 6)}
              for regime in regimes for r in ratios]
    over_draws = bool(draws)
    centre = band_suffixes(over_draws)[0]
    table = run_points(points, seeds, max(at_steps), _energy_observer, at_steps,
                       fixed={"n_consumers": n_consumers}, scenario=scenario, progress=progress,
                       desc="energy_gap", draws=draws)
    table.insert(2, "electricity_ratio", (table["electricity_cn_west"] / us_price).round(4))
    summary = aggregate(table, ["chip_regime", "electricity_ratio", "step"],
                        ["share_cn_west", "price_avg", "gap_ratio", "gap_log_power",
                         "energy_share_of_marginal_cost_cn_west"], over_draws=over_draws)
    headline: dict = {**scenario_fields(scenario), "mode": "quick" if quick else "full",
                      "seeds": list(seeds), "n_consumers": n_consumers,
                      "us_electricity_usd_per_kwh": us_price,
                      "baseline_ratio": baseline_ratio, "stop_tolerance_share": 0.01,
                      "cases": {}}
    for (regime, _step), part in summary.groupby(["chip_regime", "step"]):
        part = part.sort_values("electricity_ratio")
        x = part["electricity_ratio"].to_numpy()
        share = part[f"share_cn_west_{centre}"].to_numpy()
        price = part[f"price_avg_{centre}"].to_numpy()
        gap = part[f"gap_ratio_{centre}"].to_numpy()
        date = pd.Timestamp(part["date"].iloc[0]).strftime("%Y-%m")
        headline["cases"][f"{regime}_{date}"] = {
            "share_cn_west_at_lowest_ratio": share[0],
            "share_cn_west_at_baseline_ratio": float(np.interp(baseline_ratio, x, share)),
            "share_cn_west_at_ratio_1": share[-1],
            "share_gain_lowest_vs_ratio_1": share[0] - share[-1],
            "advantage_stops_mattering_above_ratio": _stops_mattering(x, share, 0.01),
            "price_avg_change_lowest_vs_ratio_1": price[0] / price[-1] - 1.0,
            "cn_us_ratio_at_lowest_ratio": gap[0],
            "cn_us_ratio_at_ratio_1": gap[-1],
            "power_factor_at_lowest_ratio": float(np.exp(
                part[f"gap_log_power_{centre}"].iloc[0])),
            "power_factor_at_ratio_1": float(np.exp(part[f"gap_log_power_{centre}"].iloc[-1])),
            "energy_share_of_cn_west_marginal_cost_at_baseline": float(np.interp(
                baseline_ratio, x, part[f"energy_share_of_marginal_cost_cn_west_{centre}"])),
        }
        if over_draws:  # the cheapest power against ratio 1 within each draw and seed
            runs = table[(table["chip_regime"] == regime) & (table["step"] == _step)]
            runs = runs.assign(log_gap_ratio=np.log(runs["gap_ratio"]))
            settings = ({"electricity_ratio": x[-1]}, {"electricity_ratio": x[0]})
            headline["cases"][f"{regime}_{date}"].update(
                share_gain_lowest_vs_ratio_1_paired=paired_interval(
                    runs, ["electricity_ratio"], "share_cn_west", *settings),
                log_cn_us_ratio_change_lowest_vs_ratio_1_paired=paired_interval(
                    runs, ["electricity_ratio"], "log_gap_ratio", *settings))
    if over_draws:  # the values above are medians over draws x seeds
        headline.update(band=draws_text(draws, seeds), draws=[d for d, _ in draws],
                        draws_file=str(draws_file))
    files = [write_table(table, out_dir, "energy_gap")]
    # the scenario's CN-West power price (the marker in the figure)
    cn_west = "baseline" if scenario == DEFAULT_SCENARIO else f"in {scenario}"
    note = figure_note(quick, seeds, n_consumers, "energy_gap",
                       f"US electricity {us_price:g} USD/kWh (EIA 2023); CN-West {cn_west} "
                       f"{baseline_ratio * us_price:.3f} before the domestic-chip subsidy (FT Nov "
                       "2025); direct green supply 0.014 ≈ ratio 0.17 (2026 press reports, "
                       "Qingyang). CN/US ratio: tiers pooled by served volume; power factor = "
                       "exp of the power term of its log decomposition.", scenario=scenario,
                       draws=draws, draws_file=draws_file)
    files += gap_plots.plot_energy_gap(summary, baseline_ratio, us_price, out_dir, note,
                                       band=band_suffixes(over_draws),
                                       legend_title=draws_text(draws, seeds) if over_draws
                                       else None)
    return ExperimentResult("energy_gap", json_ready(headline), table, files)
