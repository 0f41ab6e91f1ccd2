"""Experiments on costs: the cost waterfall, the energy gap and export controls."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from pricewar.model import PriceWarModel
from pricewar.scenario import PRODUCER_REGIONS, load_scenario
from pricewar.studies import plots
from pricewar.studies.harness import (
    ExperimentResult,
    aggregate,
    experiment_mode,
    figure_note,
    json_ready,
    run_observed,
    run_points,
    write_table,
)

log = logging.getLogger(__name__)


COST_COMPONENTS = ("energy_it", "cooling", "hardware", "opex", "margin", "network", "platform")


# ------------------------------------------------------------------------------------------------
# 1. cost waterfall
# ------------------------------------------------------------------------------------------------
def cost_decomposition(model: PriceWarModel) -> pd.DataFrame:
    """Unit cost and price per Mtok by producer region, split into components (USD/Mtok).

    Volume-weighted over the region's products and routes at the current step::

        energy_it + cooling + hardware + opex = full unit cost of new capacity
                                                (the products' full cost, model.product_full_cost)
        + margin   (posted price - full unit cost)                = posted price
        + network  (cross-region transfer cost per route)
        + platform (platform markup and tariff on the route price)  = delivered price

    ``energy_it`` is the IT energy (J/token x power price), ``cooling`` the PUE overhead on top;
    ``hardware`` the capital recovery of chip and facility, ``opex`` fixed and variable opex and
    the always-on power, all at the planned utilisation of new capacity of the host's best chip.
    The delivered price is computed independently from the route arrays, so the components
    summing to it is a check of the decomposition.
    """
    r = model.routes
    served = model.clearing.route_served
    product = r.route_product
    products = model.product_arrays
    weight = np.bincount(product, served, minlength=len(products))
    pue = model.producer_pue[products.producer]
    full = products.full_energy + products.full_capital + products.full_opex
    per_product = {
        "energy_it": products.full_energy / pue,
        "cooling": products.full_energy * (1.0 - 1.0 / pue),
        "hardware": products.full_capital,
        "opex": products.full_opex,
        "margin": products.price - full,
        "unit_cost": full,
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


def _power(row) -> float:
    return float(row["energy_it"] + row["cooling"])


def cost_waterfall(out_dir: Path, quick: bool = False, seeds: Sequence[int] | None = None,
                   progress: bool = True) -> ExperimentResult:
    """How much of the unit-cost gap between western China and the US/EU is electricity?"""
    seeds, n_consumers = experiment_mode(quick, seeds, (1,), (1,))
    later = 52 if quick else 104
    penalties = (0.4, 0.0)
    frames = []
    for penalty in tqdm(penalties, desc="cost_waterfall", unit="run", disable=not progress,
                        leave=False):
        _, observations = run_observed(
            {"export_control_penalty": penalty, "n_consumers": n_consumers}, seeds[0], later,
            observe=lambda m: {"table": cost_decomposition(m)}, at_steps=(0, later))
        for o in observations:
            frames.append(o["table"].assign(export_control_penalty=penalty))
    table = pd.concat(frames, ignore_index=True)
    table = table[["export_control_penalty", "step", "date", "region", *COST_COMPONENTS,
                   "unit_cost", "price", "delivered_price", "components_sum", "served_mtok",
                   "electricity_usd_per_kwh", "pue", "energy_j_per_token", "utilisation"]]

    headline: dict = {"mode": "quick" if quick else "full", "seed": seeds[0],
                      "later_step": later, "cases": {}}
    for (penalty, _step), part in table.groupby(["export_control_penalty", "step"]):
        rows = part.set_index("region")
        date = pd.Timestamp(rows["date"].iloc[0]).strftime("%Y-%m")
        case = {"date": date, "export_control_penalty": penalty}
        west = rows.loc["cn_west"]
        for rival in ("us", "eu"):
            other = rows.loc[rival]
            gap = float(other["unit_cost"] - west["unit_cost"])
            power_gap = _power(other) - _power(west)
            case[f"unit_cost_gap_{rival}_minus_cn_west"] = gap
            case[f"power_cost_gap_{rival}_minus_cn_west"] = power_gap
            case[f"electricity_share_of_gap_vs_{rival}"] = (power_gap / gap if abs(gap) > 1e-12
                                                            else None)
        case["power_share_of_unit_cost"] = {
            region: _power(rows.loc[region]) / float(rows.loc[region]["unit_cost"])
            for region in rows.index}
        case["unit_cost"] = {region: float(rows.loc[region]["unit_cost"]) for region in rows.index}
        case["max_relative_sum_error"] = float(
            ((part["components_sum"] - part["delivered_price"]).abs()
             / part["delivered_price"]).max())
        label = f"{'controls' if penalty > 0 else 'parity'}_{date}"
        headline["cases"][label] = case
    files = [write_table(table, out_dir, "cost_waterfall")]
    note = figure_note(quick, seeds, n_consumers, "cost_waterfall",
                 "electricity: China Daily 2020, EIA 2023, Eurostat 2024; PUE: China Daily 2020, "
                 "NDRC 2021, industry reports 2025; J/token: DeepSeek open-infra-index 2025; "
                 "chips: SemiAnalysis, DeepSeek 2025; facility capex: Turner & Townsend 2025-26; "
                 "export-control penalty: +30-50% J/token (FT, Nov 2025). Power = energy (IT) "
                 "+ cooling.")
    files += plots.plot_cost_waterfall(table, out_dir, note)
    return ExperimentResult("cost_waterfall", json_ready(headline), table, files)


# ------------------------------------------------------------------------------------------------
# 3. energy gap
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


def energy_gap(out_dir: Path, quick: bool = False, seeds: Sequence[int] | None = None,
               progress: bool = True) -> ExperimentResult:
    """How large must the western electricity price advantage be to win volume?"""
    seeds, n_consumers = experiment_mode(quick, seeds, (1,), (1, 2, 3, 4, 5))
    ratios = (0.2, 0.6, 1.0) if quick else tuple(np.round(np.linspace(0.2, 1.0, 9), 2))
    at_steps = (26, 52) if quick else (52, 104)
    base = load_scenario("baseline")
    us_price = base.regions["us"].electricity_usd_per_kwh
    baseline_ratio = base.regions["cn_west"].electricity_usd_per_kwh / us_price
    points = [{"export_control_penalty": penalty, "electricity_cn_west": round(r * us_price, 6)}
              for penalty in (0.4, 0.0) for r in ratios]
    table = run_points(points, seeds, max(at_steps), at_steps=at_steps,
                       fixed={"n_consumers": n_consumers}, progress=progress, desc="energy_gap")
    table.insert(2, "electricity_ratio", (table["electricity_cn_west"] / us_price).round(4))
    keep = ["export_control_penalty", "electricity_cn_west", "electricity_ratio", "seed", "step",
            "date", "share_cn_west", "share_cn_east", "share_us", "share_eu", "price_avg",
            "price_cn_west", "unit_cost_cn_west", "unit_cost_us", "throughput_cn_west"]
    table = table[keep]
    summary = aggregate(table, ["export_control_penalty", "electricity_ratio", "step"],
                        ["share_cn_west", "price_avg", "unit_cost_cn_west"])
    headline: dict = {"mode": "quick" if quick else "full", "seeds": list(seeds),
                      "baseline_ratio": baseline_ratio, "stop_tolerance_share": 0.01,
                      "cases": {}}
    for (penalty, _step), part in summary.groupby(["export_control_penalty", "step"]):
        part = part.sort_values("electricity_ratio")
        x = part["electricity_ratio"].to_numpy()
        share = part["share_cn_west_mean"].to_numpy()
        price = part["price_avg_mean"].to_numpy()
        date = pd.Timestamp(part["date"].iloc[0]).strftime("%Y-%m")
        headline["cases"][f"penalty_{penalty:g}_{date}"] = {
            "share_cn_west_at_lowest_ratio": share[0],
            "share_cn_west_at_baseline_ratio": float(np.interp(baseline_ratio, x, share)),
            "share_cn_west_at_ratio_1": share[-1],
            "share_gain_lowest_vs_ratio_1": share[0] - share[-1],
            "advantage_stops_mattering_above_ratio": _stops_mattering(x, share, 0.01),
            "price_avg_change_lowest_vs_ratio_1": price[0] / price[-1] - 1.0,
        }
    files = [write_table(table, out_dir, "energy_gap")]
    note = figure_note(quick, seeds, n_consumers, "energy_gap",
                 "US electricity 0.081 USD/kWh (EIA 2023); CN-West baseline 0.080 before the "
                 "domestic-chip subsidy (FT Nov 2025); CN-West direct green supply 0.014 ≈ ratio "
                 "0.17 (2026 press reports, Qingyang).")
    files += plots.plot_energy_gap(summary, baseline_ratio, out_dir, note)
    return ExperimentResult("energy_gap", json_ready(headline), table, files)


# ------------------------------------------------------------------------------------------------
# 4. export controls vs cheap power
# ------------------------------------------------------------------------------------------------
def _cn_cost_observer(model: PriceWarModel) -> dict:
    m = model.metrics
    cn_volume = m["throughput_cn_west"] + m["throughput_cn_east"]
    cn_cost = ((m["unit_cost_cn_west"] * m["throughput_cn_west"]
                + m["unit_cost_cn_east"] * m["throughput_cn_east"]) / cn_volume
               if cn_volume > 0 else float("nan"))
    return {"share_cn_west": m["share_cn_west"], "share_cn_east": m["share_cn_east"],
            "unit_cost_cn": cn_cost, "unit_cost_us": m["unit_cost_us"],
            "cn_us_cost_ratio": cn_cost / m["unit_cost_us"],
            "cn_west_us_cost_ratio": m["unit_cost_cn_west"] / m["unit_cost_us"],
            "price_avg": m["price_avg"]}


def matching_price(prices: np.ndarray, shares: np.ndarray, target: float) -> float | None:
    """Highest electricity price (linear interpolation on the grid) at which the share reaches
    ``target``; ``None`` if it does not even at the lowest price on the grid."""
    order = np.argsort(prices)
    prices, shares = prices[order], shares[order]
    if shares[0] < target:
        return None
    above = np.flatnonzero(shares >= target)
    k = int(above.max())
    if k == len(prices) - 1:
        return float(prices[-1])
    # shares[k] >= target > shares[k + 1]
    t = (shares[k] - target) / (shares[k] - shares[k + 1])
    return float(prices[k] + t * (prices[k + 1] - prices[k]))


def export_controls(out_dir: Path, quick: bool = False, seeds: Sequence[int] | None = None,
                    progress: bool = True) -> ExperimentResult:
    """Can cheap western power compensate for worse (export-controlled) chips?"""
    seeds, n_consumers = experiment_mode(quick, seeds, (1,), (1, 2, 3))
    base = load_scenario("baseline")
    baseline_price = base.regions["cn_west"].electricity_usd_per_kwh
    penalties = (0.0, 0.4, 0.8) if quick else (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)
    prices = (0.014, baseline_price, 0.09) if quick else (
        0.014, 0.025, 0.035, baseline_price, 0.07, 0.09)
    at_steps = (26, 52) if quick else (52, 104)
    points = [{"export_control_penalty": p, "electricity_cn_west": e}
              for p in penalties for e in prices]
    table = run_points(points, seeds, max(at_steps), _cn_cost_observer, at_steps,
                       fixed={"n_consumers": n_consumers}, progress=progress,
                       desc="export_controls")
    summary = aggregate(table, ["step", "export_control_penalty", "electricity_cn_west"],
                        ["share_cn_west", "cn_us_cost_ratio", "cn_west_us_cost_ratio"])
    headline: dict = {"mode": "quick" if quick else "full", "seeds": list(seeds),
                      "electricity_grid_usd_per_kwh": [min(prices), max(prices)], "dates": {}}
    matches: dict[int, dict[float, float | None]] = {}
    for step, at_step in summary.groupby("step"):
        parity = at_step[(at_step["export_control_penalty"] == 0.0)
                         & np.isclose(at_step["electricity_cn_west"], baseline_price)]
        parity_share = float(parity["share_cn_west_mean"].iloc[0])
        matches[step] = {
            float(penalty): matching_price(part["electricity_cn_west"].to_numpy(),
                                           part["share_cn_west_mean"].to_numpy(), parity_share)
            for penalty, part in at_step.groupby("export_control_penalty")}
        at_baseline = at_step[np.isclose(at_step["electricity_cn_west"], baseline_price)]
        penalty_keys = [f"{p:g}" for p in at_baseline["export_control_penalty"]]
        date = pd.Timestamp(at_step["date"].iloc[0]).strftime("%Y-%m")
        headline["dates"][date] = {
            "step": int(step),
            "parity_share_cn_west": parity_share,
            "electricity_matching_parity_share": {
                f"{p:g}": (v if v is not None else "never") for p, v in matches[step].items()},
            "share_cn_west_at_baseline_electricity": dict(zip(
                penalty_keys, at_baseline["share_cn_west_mean"], strict=True)),
            "share_cn_west_at_lowest_electricity": dict(zip(
                penalty_keys, at_step[np.isclose(at_step["electricity_cn_west"], min(prices))][
                    "share_cn_west_mean"], strict=True)),
            "cn_us_cost_ratio_at_baseline_electricity": dict(zip(
                penalty_keys, at_baseline["cn_us_cost_ratio_mean"], strict=True)),
        }
    files = [write_table(table, out_dir, "export_controls")]
    note = figure_note(quick, seeds, n_consumers, "export_controls",
                 "penalty = counterfactual lever on top of chip availability by bloc: CN cohorts' "
                 "tokens/s / (1 + penalty) and J/token x (1 + penalty) (baseline 0; FT Nov 2025: "
                 "domestic chips +30-50% energy per token); electricity 0.014 (direct green, "
                 "2026 press reports) to 0.09 USD/kWh. Cells: mean over seeds.")
    files += plots.plot_export_controls(summary, matches, out_dir, note)
    return ExperimentResult("export_controls", json_ready(headline), table, files)
