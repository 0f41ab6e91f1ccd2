"""The experiments behind ``experiments/*.py`` and ``pricewar figures`` (library side: no printing).

Each experiment answers one question about the token price war (see :data:`EXPERIMENTS`). An
experiment function ``<name>(out_dir, quick=False, seeds=None, progress=True)`` runs the model
(quick mode: 500 consumers, fewer points, steps and seeds; seconds), writes its data table
``out_dir/<name>.csv`` and its figure ``out_dir/<name>.png`` / ``.svg`` (:mod:`pricewar.plots`)
and returns an :class:`ExperimentResult` whose ``headline`` holds the numbers that answer the
question (JSON-ready: plain floats, ``None`` for undefined).

Plumbing shared by the experiments: :func:`run_observed` (one run, observations at chosen steps),
:func:`run_points` (a list of override points x seeds, with a tqdm progress bar) and
:func:`aggregate` (mean and min-max band over seeds).

Units: prices and costs USD per M tokens (Mtok), volumes Mtok per step (one week), energy MWh,
emissions t CO2, latency ms, electricity USD/kWh.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from pricewar import plots
from pricewar.metrics import flow_matrix
from pricewar.model import PriceWarModel
from pricewar.runner import model_frame
from pricewar.scenario import PRODUCER_REGIONS, Scenario, load_scenario

log = logging.getLogger(__name__)

QUICK_CONSUMERS = 500
FULL_CONSUMERS = 2000
CN_CONSUMER_REGIONS = ("cn_west", "cn_east")
COST_COMPONENTS = ("energy_it", "cooling", "hardware", "opex", "margin", "network", "platform")


@dataclass
class ExperimentResult:
    """What an experiment wrote and found."""

    name: str
    headline: dict
    table: pd.DataFrame
    files: list[Path] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------
# running the model
# ------------------------------------------------------------------------------------------------
def build_model(overrides: Mapping | None = None, seed: int = 1,
                scenario: str | Scenario = "baseline") -> PriceWarModel:
    """A :class:`PriceWarModel` of ``scenario`` with flat ``overrides``."""
    return PriceWarModel(scenario, seed=seed, **dict(overrides or {}))


Observer = Callable[[PriceWarModel], dict]


def metrics_observer(model: PriceWarModel) -> dict:
    """Every model metric of the current step (``model.metrics``)."""
    return dict(model.metrics)


def run_observed(overrides: Mapping | None, seed: int, steps: int,
                 observe: Observer = metrics_observer, at_steps: Iterable[int] | None = None,
                 scenario: str | Scenario = "baseline"
                 ) -> tuple[PriceWarModel, list[dict]]:
    """Run ``steps`` steps and call ``observe(model)`` at ``at_steps`` (default: the last step).

    Returns the model and one dict per observation with ``step`` and ``date`` added.
    """
    model = build_model(overrides, seed, scenario)
    wanted = {steps} if at_steps is None else set(at_steps)
    observations = []

    def record():
        if model.steps in wanted:
            observations.append({"step": model.steps, "date": pd.Timestamp(model.date),
                                 **observe(model)})

    record()
    for _ in range(steps):
        model.step()
        record()
    return model, observations


def run_points(points: Sequence[Mapping], seeds: Sequence[int], steps: int,
               observe: Observer = metrics_observer, at_steps: Iterable[int] | None = None, *,
               fixed: Mapping | None = None, scenario: str | Scenario = "baseline",
               progress: bool = True, desc: str = "runs") -> pd.DataFrame:
    """Run every override point with every seed; one row per (point, seed, observed step).

    Parameters
    ----------
    points : override dicts (the varied parameters; they become columns of the result)
    seeds : model seeds (replications)
    steps : steps per run
    observe : ``model -> dict`` of observed quantities
    at_steps : steps at which to observe (default: the last)
    fixed : overrides common to every run (not in the result's columns)
    """
    if not points or not seeds:
        raise ValueError(f"run_points needs points and seeds (got {len(points)} points, "
                         f"{len(seeds)} seeds)")
    at_steps = list(at_steps) if at_steps is not None else None
    rows = []
    bar = tqdm(total=len(points) * len(seeds), desc=desc, unit="run", disable=not progress,
               leave=False)
    with bar:
        for point in points:
            for seed in seeds:
                _, observations = run_observed({**dict(fixed or {}), **point}, seed, steps,
                                               observe, at_steps, scenario)
                rows += [{**point, "seed": seed, **o} for o in observations]
                bar.update()
    return pd.DataFrame(rows)


def aggregate(table: pd.DataFrame, by: Sequence[str], columns: Sequence[str]) -> pd.DataFrame:
    """Mean and min-max band over seeds: columns ``<c>_mean``, ``<c>_lo``, ``<c>_hi``."""
    grouped = table.groupby(list(by), sort=True)
    parts = {}
    for column in columns:
        parts[f"{column}_mean"] = grouped[column].mean()
        parts[f"{column}_lo"] = grouped[column].min()
        parts[f"{column}_hi"] = grouped[column].max()
    out = pd.DataFrame(parts).reset_index()
    if "date" in table and "date" not in by:
        out.insert(len(by), "date", grouped["date"].first().to_numpy())
    return out


def _mode(quick: bool, seeds: Sequence[int] | None, quick_seeds: Sequence[int],
          full_seeds: Sequence[int]) -> tuple[tuple[int, ...], int]:
    chosen = tuple(seeds) if seeds else tuple(quick_seeds if quick else full_seeds)
    return chosen, QUICK_CONSUMERS if quick else FULL_CONSUMERS


def _note(quick: bool, seeds: Sequence[int], n_consumers: int, script: str, data: str = ""
          ) -> str:
    mode = "quick mode" if quick else "full mode"
    seed_text = f"seed {seeds[0]}" if len(seeds) == 1 else (
        f"seeds {seeds[0]}-{seeds[-1]} (lines: mean; bands: min-max)")
    text = (f"Source: pricewar baseline scenario, {seed_text}, {n_consumers} consumers, {mode}; "
            f"experiments/{script}.py.")
    return f"{text} Data: {data}" if data else text


def _json_ready(value):
    """Plain Python for JSON: numpy scalars -> float/int, NaN/inf -> None, keys -> str."""
    if isinstance(value, Mapping):
        return {str(k): _json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_ready(v) for v in value]
    if isinstance(value, np.integer | bool | np.bool_):
        return bool(value) if isinstance(value, bool | np.bool_) else int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    return value


def _write_table(table: pd.DataFrame, out_dir: Path, name: str) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.csv"
    table.to_csv(path, index=False, float_format="%.12g")
    return path


def observed_path(name: str) -> Path:
    """Path of a file in ``pricewar/data/observed`` (observed data behind the figures)."""
    return Path(str(resources.files("pricewar") / "data" / "observed" / name))


# ------------------------------------------------------------------------------------------------
# 1. cost waterfall
# ------------------------------------------------------------------------------------------------
def cost_decomposition(model: PriceWarModel) -> pd.DataFrame:
    """Unit cost and price per Mtok by producer region, split into components (USD/Mtok).

    Volume-weighted over the region's producers and routes at the current step::

        energy_it + cooling + hardware + opex = full unit cost (model.producer_full_cost)
        + margin   (producer price - full unit cost)             = producer price
        + network  (cross-region transfer cost per route)
        + platform (platform markup rate x producer price)         = delivered price

    ``energy_it`` is the IT energy (J/token x electricity), ``cooling`` the PUE overhead on top;
    hardware and opex are spread over the realised utilisation, as in the full unit cost. The
    delivered price is computed independently from the route arrays, so the components summing
    to it is a check of the decomposition.
    """
    r = model.routes
    served = model.clearing.route_served
    producer = r.route_producer
    n = model.n_producers
    weight = np.bincount(producer, served, minlength=n)
    c = model.costs
    raw_utilisation = model.producer_utilisation * model.scenario.costs.max_utilisation
    spread = c.planned_utilisation / np.maximum(raw_utilisation, 0.02)
    per_producer = {
        "energy_it": c.energy_usd_per_mtok / model.producer_pue,
        "cooling": c.energy_usd_per_mtok * (1.0 - 1.0 / model.producer_pue),
        "hardware": c.hardware_usd_per_mtok * spread,
        "opex": c.opex_usd_per_mtok * spread,
        "margin": model.producer_price - model.producer_full_cost,
        "unit_cost": model.producer_full_cost,
        "price": model.producer_price,
        "electricity_usd_per_kwh": model.producer_electricity,
        "pue": model.producer_pue,
        "energy_j_per_token": c.energy_j_per_token,
        "utilisation": model.producer_utilisation,
    }
    markup = model.platform_markup_rate[r.route_platform]
    route_price = model.producer_price[producer]
    per_route = {
        "network": model.route_transfer_usd,
        "platform": markup * route_price,
        "delivered_price": route_price * (1.0 + markup) + model.route_transfer_usd,
    }
    rows = []
    for index, region in enumerate(model.region_names):
        if region not in PRODUCER_REGIONS:
            continue
        members = model.producer_region == index
        on_route = members[producer]
        volume = float(served[on_route].sum())
        row = {"step": model.steps, "date": pd.Timestamp(model.date), "region": region,
               "served_mtok": volume}
        for name, values in per_producer.items():
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
    seeds, n_consumers = _mode(quick, seeds, (1,), (1,))
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
    files = [_write_table(table, out_dir, "cost_waterfall")]
    note = _note(quick, seeds, n_consumers, "cost_waterfall",
                 "costs from CAL §1 (electricity), §2 (PUE), §3 (J/token), §4 (chips, facility "
                 "capex); export-control penalty CAL §3 (+30-50% J/token). Power = energy (IT) "
                 "+ cooling.")
    files += plots.plot_cost_waterfall(table, out_dir, note)
    return ExperimentResult("cost_waterfall", _json_ready(headline), table, files)


# ------------------------------------------------------------------------------------------------
# 2. baseline price war vs observed prices
# ------------------------------------------------------------------------------------------------
def decline_factor_per_year(step: np.ndarray, price: np.ndarray, step_days: float) -> float:
    """Price reduction factor per year from a least-squares fit of log price on time."""
    years = np.asarray(step, float) * step_days / 365.25
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
    seeds, n_consumers = _mode(quick, seeds, (1,), (1, 2, 3, 4, 5))
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
    files = [_write_table(series, out_dir, "price_war_baseline")]
    note = _note(quick, seeds, n_consumers, "price_war_baseline",
                 "API list prices CAL §5 and simonw/llm-prices (pricewar/data/observed/"
                 "api_prices.csv); Epoch AI (2025, CC-BY) cheapest models at GPT-4-0314 level "
                 "(lowest_price_models_data.csv). Model prices are per capability-normalised "
                 "token; list prices are at each model's own capability.")
    files += plots.plot_price_war_baseline(series, observed, gpt4_level, regions, out_dir, note)
    return ExperimentResult("price_war_baseline", _json_ready(headline), series, files)


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
    seeds, n_consumers = _mode(quick, seeds, (1,), (1, 2, 3, 4, 5))
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
    files = [_write_table(table, out_dir, "energy_gap")]
    note = _note(quick, seeds, n_consumers, "energy_gap",
                 "US electricity 0.081 USD/kWh (CAL §1, EIA 2023); CN-West baseline 0.052 "
                 "(CAL §1); CN-West direct green supply 0.014 ≈ ratio 0.17 (CAL §1).")
    files += plots.plot_energy_gap(summary, baseline_ratio, out_dir, note)
    return ExperimentResult("energy_gap", _json_ready(headline), table, files)


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
    seeds, n_consumers = _mode(quick, seeds, (1,), (1, 2, 3))
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
    files = [_write_table(table, out_dir, "export_controls")]
    note = _note(quick, seeds, n_consumers, "export_controls",
                 "penalty = extra J/token and lower tokens/s per USD of CN chips (baseline 0.4, "
                 "CAL §3: +30-50%; any penalty > 0 also delays CN access to new chips by the "
                 "export-control lag, 2 years); electricity 0.014 (direct green) to 0.09 USD/kWh "
                 "(CAL §1). Cells: mean over seeds.")
    files += plots.plot_export_controls(summary, matches, out_dir, note)
    return ExperimentResult("export_controls", _json_ready(headline), table, files)


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
                     progress: bool = True) -> ExperimentResult:
    """Does latency split Chinese work into west-for-batch and east-for-real-time?"""
    seeds, n_consumers = _mode(quick, seeds, (1,), (1, 2, 3))
    base = load_scenario("baseline")
    baseline_latency = float(base.latency_ms["cn_west"]["cn_east"])
    latencies = (10.0, baseline_latency, 80.0) if quick else (
        10.0, 14.0, 18.0, baseline_latency, 30.0, 40.0, 60.0, 80.0)
    steps = 26 if quick else 52
    wide = run_points([{"hub_latency_ms": x} for x in latencies], seeds, steps,
                      _cn_flow_observer, fixed={"n_consumers": n_consumers}, progress=progress,
                      desc="latency_division")
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
        "mode": "quick" if quick else "full", "seeds": list(seeds), "step": steps,
        "baseline_hub_latency_ms": baseline_latency,
        "cn_west_share_of_cn_east_consumers_at_baseline": share_at(east, baseline_latency),
        "cn_west_share_of_cn_east_consumers_at_min_latency": share_at(east, min(latencies)),
        "cn_west_share_of_cn_east_consumers_at_max_latency": share_at(east, max(latencies)),
        "cn_west_share_of_all_cn_consumers_at_baseline": share_at(pooled, baseline_latency),
        "industrial_control_leaves_west_at_ms": float(gone.min()) if len(gone) else None,
    }
    files = [_write_table(table, out_dir, "latency_division")]
    note = _note(quick, seeds, n_consumers, "latency_division",
                 "hub latency CAL §8 (20 ms inter-hub circle, 20-30 ms Ningxia/Gansu-Shanghai); "
                 "sector latency tolerances CAL §8 (industrial control 15 ms, realtime 150 ms, "
                 f"chat 1.5 s, batch hours). Served volume at step {steps}.")
    files += plots.plot_latency_division(summary, composition, baseline_latency, out_dir, note)
    return ExperimentResult("latency_division", _json_ready(headline), table, files)


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
    model = build_model(overrides, seed, scenario)
    panels = [_producer_panel(model)]
    for _ in range(steps):
        model.step()
        panels.append(_producer_panel(model))
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
    seeds, n_consumers = _mode(quick, seeds, (1,), (1, 2, 3))
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
    files = [_write_table(table, out_dir, "price_cut_cascade")]
    note = _note(quick, seeds, n_consumers, "price_cut_cascade",
                 "May 2024 cascade CAL §5 (Doubao Pro -99.3% 15 May, Qwen-Long -97% 21 May, "
                 "ERNIE free); stylised fact CAL §9.2. The largest CN-East producer cuts its list "
                 f"price {CUT_FRACTION:.0%} at step {CUT_STEP} and holds it; counterfactual = same "
                 "seed without the cut; every producer uses the panel's strategy.")
    files += plots.plot_price_cut_cascade(table, strategies, out_dir, note)
    return ExperimentResult("price_cut_cascade", _json_ready(headline), table, files)


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
        "absorbed_gwh_total": float(history["curtailment_absorbed_mwh"].sum()) / 1e3,
        "avoided_kt_total": float(history["emissions_avoided_t"].sum()) / 1e3,
        "emissions_kt_total": float(history["emissions_t"].sum()) / 1e3,
        "batch_share_cn_west": float(batch[west] / batch.sum()) if batch.sum() > 0 else 0.0,
        "share_cn_west": model.metrics["share_cn_west"],
        "green_share_cn_west": (float(model.producer_green_mwh[members].sum()) / energy
                                if energy > 0 else 0.0),
        "price_cn_west": model.metrics["price_cn_west"],
    }


def green_curtailment(out_dir: Path, quick: bool = False, seeds: Sequence[int] | None = None,
                      progress: bool = True) -> ExperimentResult:
    """How much curtailed western green power can flexible (batch) load absorb?"""
    seeds, n_consumers = _mode(quick, seeds, (1,), (1, 2))
    caps = (0.0, 2000.0, 20000.0) if quick else (
        0.0, 500.0, 1000.0, 2000.0, 5000.0, 10000.0, 20000.0, 50000.0, 100000.0, 200000.0)
    steps = 52 if quick else 104
    table = run_points([{"green_supply_cap_cn_west": c} for c in caps], seeds, steps,
                       _green_observer, fixed={"n_consumers": n_consumers}, progress=progress,
                       desc="green_curtailment")
    table.insert(1, "green_cap_gwh_per_week", table["green_supply_cap_cn_west"] / 1e3)
    table["potential_gwh_total"] = table["green_cap_gwh_per_week"] * (steps + 1)
    columns = ["absorbed_mwh_last_step", "absorbed_gwh_total", "potential_gwh_total",
               "avoided_kt_total", "batch_share_cn_west", "share_cn_west", "green_share_cn_west",
               "price_cn_west"]
    summary = aggregate(table, ["green_supply_cap_cn_west", "green_cap_gwh_per_week"], columns)
    last_ratio = summary["absorbed_mwh_last_step_mean"] / summary["green_supply_cap_cn_west"]
    limited = summary[(summary["green_supply_cap_cn_west"] > 0) & (last_ratio < 0.95)]
    zero = summary.iloc[0]
    top = summary.iloc[-1]
    base = load_scenario("baseline").regions["cn_west"].green_supply_cap_mwh_per_step
    at_base = summary[np.isclose(summary["green_supply_cap_cn_west"], base)]
    headline = {
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
    files = [_write_table(table, out_dir, "green_curtailment")]
    note = _note(quick, seeds, n_consumers, "green_curtailment",
                 "direct green supply 0.014 USD/kWh (CAL §1, Qingyang); NW curtailment 5-34% "
                 "(CAL §7); grid carbon 0.50 kg/kWh (est.). Baseline cap 2,000 MWh/week. "
                 "Only flexible (batch) load runs on the green supply.")
    carbon = load_scenario("baseline").regions["cn_west"].carbon_kg_per_kwh
    files += plots.plot_green_curtailment(summary, carbon, out_dir, note)
    return ExperimentResult("green_curtailment", _json_ready(headline), table, files)


# ------------------------------------------------------------------------------------------------
# registry
# ------------------------------------------------------------------------------------------------
#: experiment name -> function (the scripts experiments/<name>.py and `pricewar figures`)
EXPERIMENTS: dict[str, Callable[..., ExperimentResult]] = {
    "cost_waterfall": cost_waterfall,
    "price_war_baseline": price_war_baseline,
    "energy_gap": energy_gap,
    "export_controls": export_controls,
    "latency_division": latency_division,
    "price_cut_cascade": price_cut_cascade,
    "green_curtailment": green_curtailment,
}


def run_experiment(name: str, out_dir: Path | str = "figures", quick: bool = False,
                   seeds: Sequence[int] | None = None, progress: bool = True
                   ) -> ExperimentResult:
    """Run the experiment ``name`` (see :data:`EXPERIMENTS`); write its outputs to ``out_dir``."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r} (known: {sorted(EXPERIMENTS)})")
    return EXPERIMENTS[name](Path(out_dir), quick=quick, seeds=seeds, progress=progress)
