"""Check of the v3 market (issue #24) on the default scenario: does demand clear, and how do the
held-out observations compare (reported, never tuned).

Runs ``baseline`` with ``market_version = 3`` over seeds, and prints one JSON object per run:

- ``refused_share`` by calendar quarter after the first 4 weeks (max over the quarter's weeks),
  with ``capacity_binding_share`` and the solver's ``equilibrium_residual``/``_iterations``;
- the cheapest GPT-3.5-level posted price in October 2024 (``price_cheapest_gpt35_mmlu``, its
  minimum over the month) against 0.07 USD/Mtok (Stanford AI Index 2025);
- implied API revenue in mid-2025 (``api_revenue_usd`` over June 2025, annualised) against
  about 8.4 bn USD/yr (Menlo Ventures, 2025 mid-year LLM market update);
- ``price_avg``, ``lerner`` and ``committed_share`` at the start of each year.

    python experiments/market_v3_check.py [--seeds 1 2 3] [--consumers 1000] [--steps 156]
        [--strategy forward_looking]
"""

from __future__ import annotations

import argparse
import json
import time

import pandas as pd

from pricewar.model.price_war_model import PriceWarModel

AI_INDEX_CHEAPEST_GPT35_USD_PER_MTOK = 0.07
MENLO_API_REVENUE_USD_PER_YEAR = 8.4e9
WEEKS_PER_YEAR = 52.18


def run(seed: int, consumers: int, steps: int, strategy: str) -> dict:
    start = time.process_time()
    model = PriceWarModel("baseline", seed=seed, market_version=3, n_consumers=consumers,
                          steps=steps, producer_strategy=strategy)
    for _ in range(steps):
        model.step()
    frame = model.datacollector.get_model_vars_dataframe()
    dates = pd.to_datetime([model.start_date + pd.Timedelta(days=model.scenario.step_days * k)
                            for k in range(len(frame))])
    frame.index = dates
    later = frame.iloc[5:]  # after the first 4 weeks (row 0 is the initial state)
    quarters = later.groupby(later.index.to_period("Q"))
    month = frame.index.to_period("M").astype(str)
    october = frame[month == "2024-10"] if (month == "2024-10").any() else None
    june = frame[month == "2025-06"] if (month == "2025-06").any() else None
    years = frame.groupby(frame.index.year).head(1)
    return {
        "seed": seed, "consumers": consumers, "steps": steps, "strategy": strategy,
        "cpu_s": round(time.process_time() - start, 1),
        "refused_share_max_by_quarter": {str(q): round(float(g["refused_share"].max()), 4)
                                         for q, g in quarters},
        "capacity_binding_share_mean_by_quarter": {
            str(q): round(float(g["capacity_binding_share"].mean()), 3) for q, g in quarters},
        "equilibrium_residual_median": float(later["equilibrium_residual"].median()),
        "equilibrium_residual_max": float(later["equilibrium_residual"].max()),
        "equilibrium_iterations_median": float(later["equilibrium_iterations"].median()),
        "cheapest_gpt35_oct2024_usd_per_mtok": (
            None if october is None else float(october["price_cheapest_gpt35_mmlu"].min())),
        "cheapest_gpt35_observed": AI_INDEX_CHEAPEST_GPT35_USD_PER_MTOK,
        "api_revenue_jun2025_usd_per_year": (
            None if june is None else float(june["api_revenue_usd"].mean() * WEEKS_PER_YEAR)),
        "api_revenue_observed_usd_per_year": MENLO_API_REVENUE_USD_PER_YEAR,
        "start_of_year": {str(d.year): {k: round(float(years.loc[d, k]), 4) for k in (
            "price_avg", "lerner", "committed_share", "share_open")} for d in years.index},
        "exits_total": int(frame["exits_total"].iloc[-1]),
        "entries_total": int(frame["entries_total"].iloc[-1]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--consumers", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=156)
    parser.add_argument("--strategy", default="forward_looking")
    args = parser.parse_args()
    for seed in args.seeds:
        print(json.dumps(run(seed, args.consumers, args.steps, args.strategy)), flush=True)


if __name__ == "__main__":
    main()
