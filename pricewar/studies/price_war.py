"""Experiments on prices: the baseline price war against observed prices, and the price-cut cascade."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from pricewar.model import PriceWarModel
from pricewar.plotting import style as plots
from pricewar.runs.harness import (
    CN_CONSUMER_REGIONS,
    DEFAULT_SCENARIO,
    ExperimentResult,
    aggregate,
    band_suffixes,
    draws_text,
    experiment_mode,
    figure_note,
    json_ready,
    observed_path,
    scenario_fields,
    write_table,
)
from pricewar.runs.runner import run_model
from pricewar.scenario import PRODUCER_REGIONS, load_scenario
from pricewar.studies import gap_plots
from pricewar.units import DAYS_PER_YEAR

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------
# 2. baseline price war vs observed prices
# ------------------------------------------------------------------------------------------------
#: consumers of the baseline in full mode (three seeds of three years stay under two minutes)
BASELINE_CONSUMERS = 1000


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


#: a bloc's price of a tier is reported only while the bloc serves at least this share of the
#: tier's tokens (all hosts): a host that prices its only product of the tier out of the market
#: (calibrated, seed 1: OpenAI's host posts gpt-oss at 1,085 USD/Mtok on 2026-01-12 and serves
#: 8e-8 of the tier) would otherwise set the bloc's "price" at a price nobody pays
MIN_TIER_SHARE = 0.01


def tier_prices(model: PriceWarModel) -> dict[str, float]:
    """Per capability tier and bloc (hosts in the cn bloc, hosts in the us region): the
    served-weighted posted price of the tier's products over all hosts (``price_<tier>_<bloc>``)
    and over owner-hosted products only (``..._owner``: the owner's own API, the analogue of a
    vendor's list price), USD/Mtok; NaN while the bloc (or its owner-hosted products) serves
    less than :data:`MIN_TIER_SHARE` of the tier's tokens."""
    products = model.product_arrays
    tier = model.families.tier[products.family]
    region = model.producer_region[products.producer]
    where = {"cn": np.isin(region, model.regions.in_bloc("cn")),
             "us": region == model.region_names.index("us")}
    owner = model.producer_owner[products.producer] == model.families.owner[products.family]
    out = {}
    for rank, name in enumerate(model.tier_names):
        tier_served = float(products.served[tier == rank].sum())
        for bloc, members in where.items():
            for suffix, mask in (("", members), ("_owner", members & owner)):
                chosen = mask & (tier == rank) & (products.served > 0)
                served = float(products.served[chosen].sum())
                out[f"price_{name}_{bloc}{suffix}"] = (
                    float(np.average(products.price[chosen], weights=products.served[chosen]))
                    if chosen.any() and served >= MIN_TIER_SHARE * tier_served
                    else float("nan"))
    return out


def _baseline_row(model: PriceWarModel) -> dict:
    m = model.metrics if model.steps > 0 else None
    row = {"step": model.steps, "date": pd.Timestamp(model.date), **tier_prices(model)}
    if m is not None:
        for key in ("price_avg", "lerner", "hhi", "hhi_market", "exits_total",
                    *[f"{k}_{r}" for k in ("price", "share", "throughput")
                      for r in PRODUCER_REGIONS]):
            row[key] = m[key]
    return row


def observed_tier_prices() -> pd.DataFrame:
    """Observed API list prices with the capability tier of their model family
    (``pricewar/data/observed/list_prices_by_tier.csv``, sources per row)."""
    table = pd.read_csv(observed_path("list_prices_by_tier.csv"), parse_dates=["date"])
    return table[table["blended_3to1"] > 0]


def _model_at(series: pd.DataFrame, column: str, dates: pd.Series) -> np.ndarray:
    """The model's (seed-mean) value of ``column`` at the step nearest each date; NaN for dates
    more than a week outside the run."""
    steps = pd.to_datetime(series["date"]).to_numpy()
    when = dates.to_numpy()
    index = np.abs(steps[None, :] - when[:, None]).argmin(axis=1)
    week = np.timedelta64(7, "D")
    inside = (when >= steps.min() - week) & (when <= steps.max() + week)
    return np.where(inside, series[column].to_numpy()[index], np.nan)


def tier_comparison(series: pd.DataFrame, observed: pd.DataFrame, tiers: list[str],
                    suffix: str = "", centre: str = "mean") -> pd.DataFrame:
    """Per tier: the observed CN/US list-price ratio (geometric means of the CN and the US
    observations), the model's ratio at the same dates (geometric mean of the model's CN price at
    the CN observations' dates over that of its US price at the US observations' dates; points
    where the model serves nothing of the tier are left out), the model's ratio at the last step
    and over the run (geometric mean of the steps where both exist), and the model/observed
    level of each bloc at the observations' dates. ``centre``: the series' column of the model's
    value (``mean`` over seeds, ``median`` over draws x seeds)."""
    rows = []
    for tier in tiers:
        row = {"tier": tier}
        logs = {}
        for bloc in ("cn", "us"):
            points = observed[(observed["tier"] == tier) & (observed["region"] == bloc)]
            model = _model_at(series, f"price_{tier}_{bloc}{suffix}_{centre}", points["date"])
            both = np.isfinite(model) & (model > 0)
            row[f"observed_{bloc}_points"] = int(len(points))
            row[f"model_{bloc}_points"] = int(both.sum())
            logs[bloc] = (np.log(points["blended_3to1"].to_numpy()), np.log(model[both]),
                          np.log(points["blended_3to1"].to_numpy()[both]))
            row[f"model_over_observed_{bloc}"] = (float(np.exp(np.mean(logs[bloc][1]
                                                                       - logs[bloc][2])))
                                                  if both.any() else float("nan"))
        ok = all(len(logs[b][0]) for b in ("cn", "us"))
        row["observed_ratio"] = (float(np.exp(logs["cn"][0].mean() - logs["us"][0].mean()))
                                 if ok else float("nan"))
        ok = all(len(logs[b][1]) for b in ("cn", "us"))
        row["model_ratio_at_observed_dates"] = (
            float(np.exp(logs["cn"][1].mean() - logs["us"][1].mean())) if ok else float("nan"))
        ratio = (series[f"price_{tier}_cn{suffix}_{centre}"]
                 / series[f"price_{tier}_us{suffix}_{centre}"]).to_numpy()
        finite = np.isfinite(ratio) & (ratio > 0)
        row["model_ratio_end"] = float(ratio[-1]) if finite[-1] else float("nan")
        row["model_ratio_run_mean"] = (float(np.exp(np.log(ratio[finite]).mean()))
                                       if finite.any() else float("nan"))
        row["model_steps_with_both"] = int(finite.sum())
        rows.append(row)
    return pd.DataFrame(rows)


def price_war_baseline(out_dir: Path, quick: bool = False, seeds: Sequence[int] | None = None,
                       progress: bool = True, scenario: str = DEFAULT_SCENARIO,
                       draws: Sequence[tuple[int, dict]] | None = None, draws_file=None
                       ) -> ExperimentResult:
    """Do the model's CN and US prices at equal capability match observed list prices?

    With ``draws`` (``(draw id, overrides)`` of the scenario's posterior draws, from
    ``draws_file``) every draw runs with every seed; the series are the median and the 90%
    interval over those runs (``<column>_median``, ``_q05``, ``_q95``)."""
    seeds, n_consumers = experiment_mode(quick, seeds, (1,), (1, 2, 3))
    n_consumers = min(n_consumers, BASELINE_CONSUMERS)
    steps = 60 if quick else 156
    fit_steps = min(104, steps)
    over_draws = bool(draws)
    plan = [(draw, values, seed) for draw, values in draws for seed in seeds] if over_draws \
        else [(None, {}, seed) for seed in seeds]
    frames = []
    for draw, values, seed in tqdm(plan, desc="price_war_baseline", unit="run",
                                   disable=not progress, leave=False):
        rows: list[dict] = []
        model = run_model(scenario, steps=steps, seed=seed,
                          overrides={**values, "n_consumers": n_consumers}, progress=False,
                          on_step=lambda m, rows=rows: rows.append(_baseline_row(m)))
        frame = pd.DataFrame(rows[1:]).assign(seed=seed)
        frames.append(frame.assign(draw=draw) if over_draws else frame)
    runs = pd.concat(frames, ignore_index=True)
    centre = band_suffixes(over_draws)[0]
    tiers = list(model.tier_names)
    regions = list(PRODUCER_REGIONS)
    price_columns = [c for c in runs.columns if c.startswith("price_") and c.split("_")[1] in
                     {t.split("_")[0] for t in tiers}]
    columns = ["price_avg", *[f"price_{r}" for r in regions], *[f"share_{r}" for r in regions],
               *[f"throughput_{r}" for r in regions], "lerner", "hhi", *price_columns]
    series = aggregate(runs, ["step"], columns, over_draws=over_draws)
    step_days = model.scenario.step_days
    factors = []
    for _, run in runs.groupby(["draw", "seed"] if over_draws else "seed"):
        window = run[run["step"] <= fit_steps]
        factors.append(decline_factor_per_year(window["step"], window["price_avg"], step_days))
    factor = float(np.mean(factors))
    epoch = epoch_results()
    inside = [bool(row.ci_low <= factor <= row.ci_high) for row in epoch.itertuples()]
    observed = observed_tier_prices()
    comparison = tier_comparison(series, observed, tiers, centre=centre)
    first_party = tier_comparison(series, observed, tiers, suffix="_owner", centre=centre)
    shown = [t for t in tiers if (observed["tier"] == t).any()
             or np.isfinite(series[f"price_{t}_cn_{centre}"]).any()]
    first, last = series.iloc[0], series.iloc[-1]

    def ratios(frame):
        return {r.tier: {k: getattr(r, k) for k in (
            "observed_ratio", "model_ratio_at_observed_dates", "model_ratio_end",
            "model_ratio_run_mean", "model_over_observed_cn", "model_over_observed_us",
            "observed_cn_points", "observed_us_points", "model_cn_points", "model_us_points")}
            for r in frame.itertuples() if r.observed_cn_points or r.observed_us_points
            or np.isfinite(r.model_ratio_end)}

    headline = {
        **scenario_fields(scenario),
        "mode": "quick" if quick else "full", "seeds": list(seeds), "steps": steps,
        "n_consumers": n_consumers, "fit_steps": fit_steps,
        "cn_us_by_tier": ratios(comparison),
        "cn_us_by_tier_owner_hosted": ratios(first_party),
        "decline_factor_per_year": factor,
        **({"decline_factor_per_year_median_q05_q95": [float(np.quantile(factors, q))
                                                       for q in (0.5, 0.05, 0.95)]}
           if over_draws else
           {"decline_factor_per_year_seed_range": [min(factors), max(factors)]}),
        "price_avg_start": first[f"price_avg_{centre}"],
        "price_avg_end": last[f"price_avg_{centre}"],
        "epoch_median_factor_per_year": float(epoch["price_reduction_factor_per_year"].median()),
        "epoch_cis_containing_model": int(sum(inside)), "epoch_cis_total": len(inside),
        "lerner_start": first[f"lerner_{centre}"], "lerner_end": last[f"lerner_{centre}"],
        "hhi_start": first[f"hhi_{centre}"], "hhi_end": last[f"hhi_{centre}"],
        "exits_total_end": float(runs[runs["step"] == steps]["exits_total"].mean()),
        "share_end": {r: last[f"share_{r}_{centre}"] for r in regions},
    }
    if over_draws:  # the start, end and share values above are medians over draws x seeds
        headline.update(band=draws_text(draws, seeds), draws=[d for d, _ in draws],
                        draws_file=str(draws_file))
    files = [write_table(series, out_dir, "price_war_baseline"),
             write_table(pd.concat([comparison.assign(scope="all_hosts"),
                                    first_party.assign(scope="owner_hosted")]),
                         out_dir, "price_war_baseline_tiers")]
    note = figure_note(quick, seeds, n_consumers, "price_war_baseline",
                       "API list prices (vendors' pricing pages via Epoch AI 'API prices', "
                       "models.dev and simonw/llm-prices; pricewar/data/observed/"
                       "list_prices_by_tier.csv, list prices only: no promotions or off-peak "
                       "rates). Tier = the family's Epoch AI capability threshold. Model: "
                       "served-weighted posted price of the tier's products by host location, "
                       f"shown while the location serves >= {MIN_TIER_SHARE:.0%} of the tier's "
                       "tokens; ratios are geometric means (model at the observations' dates).",
                       scenario=scenario, draws=draws, draws_file=draws_file)
    labels = gap_plots.tier_labels(model.scenario.catalogue, shown)
    files += gap_plots.plot_tier_prices(series, observed, comparison, shown, out_dir, note,
                                        labels=labels, band=band_suffixes(over_draws),
                                        legend_title=draws_text(draws, seeds) if over_draws
                                        else None)
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


def cascade_panel(strategy: str, seed: int, steps: int, n_consumers: int,
                  scenario: str = DEFAULT_SCENARIO) -> pd.DataFrame:
    """Per producer and step: price in the cut run and the no-cut counterfactual (same seed).

    Columns: step, event_time, uid, region, role (``cutter`` or the rival's region), price,
    price_cf, price_ratio, marginal_cost, served, served_cf, present, present_cf.
    """
    overrides = {"producer_strategy": strategy, "n_consumers": n_consumers}
    base = load_scenario(scenario)
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
                      progress: bool = True, scenario: str = DEFAULT_SCENARIO
                      ) -> ExperimentResult:
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
                panels.append(cascade_panel(strategy, seed, steps, n_consumers, scenario))
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
    headline = {**scenario_fields(scenario), "mode": "quick" if quick else "full",
                "seeds": list(seeds), "cut_step": CUT_STEP, "cut_fraction": CUT_FRACTION, "horizon_weeks": horizon,
                "strategies": headline_cases}
    files = [write_table(table, out_dir, "price_cut_cascade")]
    note = figure_note(quick, seeds, n_consumers, "price_cut_cascade",
                 "May 2024 cascade: Doubao Pro -99.3% 15 May, Qwen-Long -97% 21 May, ERNIE free "
                 "(vendor announcements). The largest CN-East producer cuts its list "
                 f"price {CUT_FRACTION:.0%} at step {CUT_STEP} and holds it; counterfactual = same "
                 "seed without the cut; every producer uses the panel's strategy.",
                 bands="lines: median; bands: interquartile range", scenario=scenario)
    files += plots.plot_price_cut_cascade(table, strategies, out_dir, note, len(seeds))
    return ExperimentResult("price_cut_cascade", json_ready(headline), table, files)
