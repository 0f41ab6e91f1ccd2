"""Experiments on prices: the baseline price war against observed prices, and the price-cut cascade."""

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
    CN_CONSUMER_REGIONS,
    ExperimentResult,
    aggregate,
    experiment_mode,
    figure_note,
    json_ready,
    observed_path,
    run_observed,
    write_table,
)
from pricewar.studies.runner import model_frame, run_model
from pricewar.units import DAYS_PER_YEAR

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------
# 2. baseline price war vs observed prices
# ------------------------------------------------------------------------------------------------
def decline_factor_per_year(step: np.ndarray, price: np.ndarray, step_days: float) -> float:
    """Price reduction factor per year from a least-squares fit of log price on time."""
    years = np.asarray(step, float) * step_days / DAYS_PER_YEAR
    slope = np.polyfit(years, np.log(np.asarray(price, float)), 1)[0]
    return float(np.exp(-slope))


def epoch_results() -> pd.DataFrame:
    """Epoch AI's fitted price reduction factors per year with 90% CIs (one row per threshold)."""
    table = pd.read_csv(observed_path("lowest_price_models_results.csv"))
    bounds = table["price_reduction_factor_per_year_90_ci"].str.strip("[]").str.split(",")
    table["ci_low"] = bounds.str[0].astype(float)
    table["ci_high"] = bounds.str[1].astype(float)
    return table


def price_war_baseline(out_dir: Path, quick: bool = False, seeds: Sequence[int] | None = None,
                       progress: bool = True) -> ExperimentResult:
    """Do the model's prices fall like observed prices at fixed capability (2024-2026)?"""
    seeds, n_consumers = experiment_mode(quick, seeds, (1,), (1, 2, 3, 4, 5))
    steps = 60 if quick else 156
    fit_steps = min(104, steps)
    frames = []
    for seed in tqdm(seeds, desc="price_war_baseline", unit="run", disable=not progress,
                     leave=False):
        model, _ = run_observed({"n_consumers": n_consumers}, seed, steps, at_steps=())
        frames.append(model_frame(model).assign(seed=seed))
    runs = pd.concat(frames, ignore_index=True)
    regions = list(PRODUCER_REGIONS)
    columns = ["price_avg", *[f"price_{r}" for r in regions],
               *[f"throughput_{r}" for r in regions], *[f"share_{r}" for r in regions],
               "lerner", "hhi"]
    series = aggregate(runs, ["step"], columns)
    step_days = model.scenario.step_days
    factors = []
    for _, run in runs.groupby("seed"):
        window = run[run["step"] <= fit_steps]
        factors.append(decline_factor_per_year(window["step"], window["price_avg"], step_days))
    factor = float(np.mean(factors))
    epoch = epoch_results()
    comparison = [
        {"bench": row.bench, "threshold": row.threshold_model,
         "factor_per_year": row.price_reduction_factor_per_year, "ci90_low": row.ci_low,
         "ci90_high": row.ci_high, "model_inside_ci": bool(row.ci_low <= factor <= row.ci_high)}
        for row in epoch.itertuples()]
    observed = pd.read_csv(observed_path("api_prices.csv"))
    points = pd.read_csv(observed_path("lowest_price_models_data.csv"))
    gpt4_level = points[points["threshold_model"] == "GPT-4-0314"]
    first = series.iloc[0]
    at_fit = series[series["step"] == fit_steps].iloc[0]
    last = series.iloc[-1]
    headline = {
        "mode": "quick" if quick else "full", "seeds": list(seeds), "steps": steps,
        "fit_steps": fit_steps,
        "decline_factor_per_year": factor,
        "decline_factor_per_year_seed_range": [min(factors), max(factors)],
        "price_avg_start": first["price_avg_mean"],
        "price_avg_at_fit_end": at_fit["price_avg_mean"],
        "price_avg_end": last["price_avg_mean"],
        "epoch_median_factor_per_year": float(epoch["price_reduction_factor_per_year"].median()),
        "epoch_cis_containing_model": int(sum(c["model_inside_ci"] for c in comparison)),
        "epoch_cis_total": len(comparison),
        "epoch_gpt4_level": [c for c in comparison if c["threshold"] == "GPT-4-0314"],
        "lerner_start": first["lerner_mean"], "lerner_end": last["lerner_mean"],
        "hhi_start": first["hhi_mean"], "hhi_end": last["hhi_mean"],
        "throughput_growth_end_over_start": {
            r: last[f"throughput_{r}_mean"] / first[f"throughput_{r}_mean"] for r in regions},
        "share_end": {r: last[f"share_{r}_mean"] for r in regions},
    }
    files = [write_table(series, out_dir, "price_war_baseline")]
    note = figure_note(quick, seeds, n_consumers, "price_war_baseline",
                 "vendors' API list prices and simonw/llm-prices (pricewar/data/observed/"
                 "api_prices.csv); Epoch AI (2025, CC-BY) cheapest models at GPT-4-0314 level "
                 "(lowest_price_models_data.csv). Model prices are per capability-normalised "
                 "token; list prices are at each model's own capability.")
    files += plots.plot_price_war_baseline(series, observed, gpt4_level, regions, out_dir, note)
    return ExperimentResult("price_war_baseline", json_ready(headline), series, files)


# ------------------------------------------------------------------------------------------------
# 6. price-cut cascade (May 2024)
# ------------------------------------------------------------------------------------------------
CUT_STEP = 20  # 2024-05-20: the week of Doubao's (15 May) and Qwen's (21 May) cuts


CUT_FRACTION = 0.97


def _producer_panel(model: PriceWarModel) -> pd.DataFrame:
    return pd.DataFrame({
        "step": model.steps,
        "uid": [p.unique_id for p in model.producers],
        "region": [model.region_names[i] for i in model.producer_region],
        "price": model.producer_price,
        "marginal_cost": model.producer_marginal_cost,
        "served": model.producer_served,
        "committed": model.producer_commit_until >= model.steps,
    })


def _run_panel(scenario, overrides, seed, steps) -> pd.DataFrame:
    panels = []
    run_model(scenario, steps=steps, seed=seed, overrides=overrides, progress=False,
              on_step=lambda model: panels.append(_producer_panel(model)))
    return pd.concat(panels, ignore_index=True)


def cascade_panel(strategy: str, seed: int, steps: int, n_consumers: int) -> pd.DataFrame:
    """Per producer and step: price in the cut run and the no-cut counterfactual (same seed).

    Columns: step, event_time, uid, region, role (``cutter`` or the rival's region), price,
    price_cf, price_ratio, marginal_cost, served, served_cf, present, present_cf.
    """
    overrides = {"producer_strategy": strategy, "n_consumers": n_consumers}
    base = load_scenario("baseline")
    cut = base.with_events({"kind": "price_cut", "step": CUT_STEP, "group": "cn_east",
                            "producers": 1, "fraction": CUT_FRACTION,
                            "duration_steps": steps})
    event = _run_panel(cut, overrides, seed, steps)
    counterfactual = _run_panel(base, overrides, seed, steps)
    cutters = set(event.loc[event["committed"], "uid"])
    panel = event.merge(counterfactual[["step", "uid", "price", "served"]], on=["step", "uid"],
                        how="outer", suffixes=("", "_cf"), indicator=True)
    regions = pd.concat([event, counterfactual]).groupby("uid")["region"].first()
    panel["region"] = panel["uid"].map(regions)
    panel["present"] = panel["_merge"].isin(["both", "left_only"])
    panel["present_cf"] = panel["_merge"].isin(["both", "right_only"])
    panel = panel.drop(columns=["_merge", "committed"])
    panel["role"] = np.where(panel["uid"].isin(cutters), "cutter", panel["region"])
    panel["price_ratio"] = panel["price"] / panel["price_cf"]
    panel["event_time"] = panel["step"] - CUT_STEP
    return panel.assign(strategy=strategy, seed=seed)


def _exits_by_role(panel: pd.DataFrame) -> pd.DataFrame:
    """Extra exits in the cut run vs the counterfactual, by role and step (mean over seeds)."""
    ids = panel[["seed", "uid", "role"]].drop_duplicates()
    steps = np.sort(panel["step"].unique())
    rows = []
    for (seed, role), members in ids.groupby(["seed", "role"]):
        sub = panel[(panel["seed"] == seed) & panel["uid"].isin(members["uid"])]
        alive = sub.groupby("step")[["present", "present_cf"]].sum().reindex(steps, fill_value=0)
        extra = (alive["present_cf"] - alive["present"]).to_numpy()  # (n - alive) - (n - alive_cf)
        rows.append(pd.DataFrame({"seed": seed, "role": role, "step": steps,
                                  "exits_extra": extra}))
    frame = pd.concat(rows)
    return frame.groupby(["role", "step"])["exits_extra"].mean().reset_index()


def _exit_counts(panel: pd.DataFrame, column: str) -> dict:
    """Producers gone by the last step, by role (mean over seeds); ``column``: present flag."""
    last = panel["step"].max()
    ever = panel.groupby(["seed", "role"])["uid"].nunique()
    survivors = panel[(panel["step"] == last) & panel[column]]
    alive = survivors.groupby(["seed", "role"])["uid"].nunique()
    gone = ever.sub(alive, fill_value=0)
    return {role: float(v) for role, v in gone.groupby(level="role").mean().items()}


def price_cut_cascade(out_dir: Path, quick: bool = False, seeds: Sequence[int] | None = None,
                      progress: bool = True) -> ExperimentResult:
    """Who follows a 97% price cut by the largest eastern Chinese producer, when, and who exits?"""
    seeds, n_consumers = experiment_mode(quick, seeds, (1,), (1, 2, 3))
    strategies = ["undercut", "best_response", "cost_plus", "nash"]
    horizon = 16 if quick else 60
    steps = CUT_STEP + horizon
    panels = []
    bar = tqdm(total=len(strategies) * len(seeds), desc="price_cut_cascade", unit="pair",
               disable=not progress, leave=False)
    with bar:
        for strategy in strategies:
            for seed in seeds:
                panels.append(cascade_panel(strategy, seed, steps, n_consumers))
                bar.update()
    rows, headline_cases = [], {}
    for strategy in strategies:
        panel = pd.concat([p for p in panels if p["strategy"].iloc[0] == strategy])
        exits = _exits_by_role(panel)
        both = panel[panel["present"] & panel["present_cf"]].copy()
        both["markup_ratio"] = both["price"] / both["marginal_cost"]
        grouped = both.groupby(["role", "step"])
        stats = pd.DataFrame({
            "price_ratio_median": grouped["price_ratio"].median(),
            "price_ratio_q25": grouped["price_ratio"].quantile(0.25),
            "price_ratio_q75": grouped["price_ratio"].quantile(0.75),
            "price_over_mc_median": grouped["markup_ratio"].median(),
            "price_over_mc_cf_median": grouped.apply(
                lambda g: float(np.median(g["price_cf"] / g["marginal_cost"])),
                include_groups=False),
            "served_ratio_median": grouped.apply(
                lambda g: float(np.median(g["served"] / np.maximum(g["served_cf"], 1e-300))),
                include_groups=False),
            "producers": grouped["uid"].nunique(),
        }).reset_index()
        stats = stats.merge(exits, on=["role", "step"], how="left").fillna({"exits_extra": 0.0})
        stats.insert(0, "strategy", strategy)
        stats.insert(3, "event_time", stats["step"] - CUT_STEP)
        rows.append(stats)

        def at(role, t, column="price_ratio_median", stats=stats):
            hit = stats[(stats["role"] == role) & (stats["event_time"] == t)]
            return float(hit[column].iloc[0]) if len(hit) else None

        # followers: rivals whose price is >= 10% below the counterfactual within 4 weeks
        rivals = both[(both["role"] != "cutter") & both["role"].isin(CN_CONSUMER_REGIONS)]
        early = rivals[(rivals["event_time"] >= 0) & (rivals["event_time"] <= 4)]
        followed = early.groupby(["seed", "uid"])["price_ratio"].min() < 0.9
        after = rivals[rivals["event_time"] >= 0]
        lag = after[after["price_ratio"] < 0.9].groupby(["seed", "uid"])["event_time"].min()
        cn_share = {}
        for label, column in (("cut", "served"), ("counterfactual", "served_cf")):
            window = panel[(panel["event_time"] == 4) & panel["role"].isin(
                ["cutter", *CN_CONSUMER_REGIONS])]
            cn_share[label] = float(window.loc[window["role"] == "cutter", column].sum()
                                    / window[column].sum())
        late = min(26, horizon)
        headline_cases[strategy] = {
            "cutter_price_ratio": at("cutter", 1),
            "cn_east_rivals_price_ratio_week4": at("cn_east", 4),
            f"cn_east_rivals_price_ratio_week{late}": at("cn_east", late),
            "cn_west_rivals_price_ratio_week4": at("cn_west", 4),
            f"cn_west_rivals_price_ratio_week{late}": at("cn_west", late),
            "us_rivals_price_ratio_week4": at("us", 4),
            "cn_rivals_following_within_4_weeks": float(followed.mean()) if len(followed) else 0.0,
            "median_follow_lag_weeks": float(lag.median()) if len(lag) else None,
            "cn_east_rivals_price_over_mc_week4": at("cn_east", 4, "price_over_mc_median"),
            "cn_east_rivals_price_over_mc_week4_counterfactual": at(
                "cn_east", 4, "price_over_mc_cf_median"),
            "exits_by_end_cut_run": _exit_counts(panel, "present"),
            "exits_by_end_counterfactual": _exit_counts(panel, "present_cf"),
            "cutter_share_of_cn_volume_week4": cn_share,
        }
    table = pd.concat(rows, ignore_index=True)
    headline = {"mode": "quick" if quick else "full", "seeds": list(seeds),
                "cut_step": CUT_STEP, "cut_fraction": CUT_FRACTION, "horizon_weeks": horizon,
                "strategies": headline_cases}
    files = [write_table(table, out_dir, "price_cut_cascade")]
    note = figure_note(quick, seeds, n_consumers, "price_cut_cascade",
                 "May 2024 cascade: Doubao Pro -99.3% 15 May, Qwen-Long -97% 21 May, ERNIE free "
                 "(vendor announcements). The largest CN-East producer cuts its list "
                 f"price {CUT_FRACTION:.0%} at step {CUT_STEP} and holds it; counterfactual = same "
                 "seed without the cut; every producer uses the panel's strategy.",
                 bands="lines: median; bands: interquartile range")
    files += plots.plot_price_cut_cascade(table, strategies, out_dir, note)
    return ExperimentResult("price_cut_cascade", json_ready(headline), table, files)
