"""Does the baseline market run at capacity? Share of served volume at full hosts by region,
demand refused for lack of capacity, and the fleets' power against the regions' token-inference
power caps, per week (docs/results.md "Does the baseline market run at capacity?").

A host is *full* when its realised load is at least 99% of its capacity. ``unserved`` is the
demand refused by full hosts with no open route left (the model reporter ``unserved_demand``)
over all demand at posted prices (``demand_total``). Power is the facility power of every online
and ordered GPU (server power x PUE; what investment counts against the cap) against
``ai_power_cap_mw`` grown at ``ai_power_growth_per_year``
(pricewar/data/regions.toml), summed over regions.

Writes figures/capacity_utilisation.png, .svg and .csv (``--out DIR`` elsewhere) and prints the
headline numbers as JSON on the last line.

    python experiments/capacity_utilisation.py --seeds 1 --consumers 100 --steps 20   # seconds
    python experiments/capacity_utilisation.py          # the committed figure (~1 minute)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from pricewar.model import PriceWarModel
from pricewar.plotting.style import new_figure, region_color, region_label, save_figure
from pricewar.units import W_PER_MW

FULL = 0.99
REGIONS = ("cn_west", "cn_east", "us", "eu")


def week_row(model: PriceWarModel) -> dict:
    """One week's capacity state (module docstring)."""
    served = model.producer_served
    full = model.producer_utilisation >= FULL
    region = np.array([p.region for p in model.producers])
    row = {"step": model.steps, "date": model.date}
    for r in REGIONS:
        at_full, with_room = served[(region == r) & full].sum(), served[(region == r) & ~full].sum()
        total = at_full + with_room  # (not served[region == r].sum(): summed in another order)
        row[f"full_share_{r}"] = at_full / total if total > 0 else np.nan
    metrics = model.metrics
    row["unserved_share"] = metrics["unserved_demand"] / metrics["demand_total"]
    row["demand_total"], row["served_total"] = metrics["demand_total"], metrics["served_total"]
    fleet, chips = model.fleet, model.supply.serving.chips
    live = model.steps < fleet.retire  # online and ordered cohorts
    watts = np.bincount(fleet.producer[live],
                        fleet.gpus[live] * chips.server_power_w[fleet.chip[live]],
                        minlength=model.n_producers)
    row["power_used_mw"] = float((watts * model.producer_pue).sum() / W_PER_MW)
    years = model.steps * model.scenario.step_days / 365.25
    regions = model.regions
    row["power_cap_mw"] = float((regions.ai_power_cap_mw
                                 * (1.0 + regions.ai_power_growth_per_year) ** years).sum())
    return row


def run(seeds, consumers: int, steps: int | None, scenario: str = "baseline") -> pd.DataFrame:
    rows = []
    for seed in seeds:
        model = PriceWarModel(scenario, seed=seed, n_consumers=consumers)
        for _ in range(steps or model.scenario.steps):
            model.step()
            rows.append({"seed": seed, **week_row(model)})
    return pd.DataFrame(rows)


#: weeks of the centred rolling mean drawn over the weekly full-host shares (the weekly values
#: alternate from week to week as hosts fill up and invest; they stay in the figure, faint)
ROLLING_WEEKS = 4


def figure(table: pd.DataFrame, out: Path, note: str) -> None:
    by_date = table.groupby("date")
    mean, lo, hi = by_date.mean(numeric_only=True), by_date.min(numeric_only=True), \
        by_date.max(numeric_only=True)
    x = pd.to_datetime(mean.index)
    fig, axes = new_figure(1, 3, width=15, height=4.6)
    ax, bx, cx = axes[0]
    for r in REGIONS:
        weekly = 100 * mean[f"full_share_{r}"]
        ax.plot(x, weekly, color=region_color(r), linewidth=0.6, alpha=0.3)
        ax.plot(x, weekly.rolling(ROLLING_WEEKS, center=True, min_periods=1).mean(),
                color=region_color(r), linewidth=1.6, label=region_label(r))
    ax.set_ylim(0, 105)
    ax.set_ylabel("% of the region's served tokens")
    ax.set_title(f"Served at hosts running full (load >= 99%),\n{ROLLING_WEEKS}-week rolling mean "
                 "(faint: weekly)", fontsize=10)
    ax.legend(fontsize=8, frameon=False, ncol=len(REGIONS), loc="upper center",
              bbox_to_anchor=(0.5, -0.2))
    bx.plot(x, 100 * mean["unserved_share"], color="black")
    bx.fill_between(x, 100 * lo["unserved_share"], 100 * hi["unserved_share"], color="black",
                    alpha=0.15, linewidth=0)
    bx.set_ylim(0, 100)
    bx.set_ylabel("% of demand at posted prices")
    bx.set_title("Demand refused for lack of capacity", fontsize=10)
    cx.plot(x, mean["power_used_mw"] / 1000, color="tab:red", label="fleets' facility power (online + ordered)")
    cx.plot(x, mean["power_cap_mw"] / 1000, color="grey", linestyle="--",
            label="sum of regional caps (est.)")
    cx.set_ylim(0, None)
    cx.set_ylabel("GW")
    cx.set_title("Token-inference power: used vs cap", fontsize=10)
    cx.legend(fontsize=8, frameon=False, ncol=2, loc="upper center", bbox_to_anchor=(0.5, -0.2))
    for a in (ax, bx, cx):
        a.tick_params(axis="x", labelrotation=30)
    save_figure(fig, out, "capacity_utilisation", note)


def headline(table: pd.DataFrame) -> dict:
    t = table.assign(date=pd.to_datetime(table["date"]))

    def between(start, end, column):
        rows = t[(t["date"] >= start) & (t["date"] <= end)]
        return [round(float(rows[column].min()), 3), round(float(rows[column].max()), 3)]

    first = t.groupby("seed").first()
    last = t.groupby("seed").last()
    return {
        "full_share_cn_east_2024h1": between("2024-01-01", "2024-06-30", "full_share_cn_east"),
        "full_share_cn_east_2025_2026": between("2025-02-01", "2026-12-31",
                                                "full_share_cn_east"),
        "unserved_share_2024": between("2024-01-01", "2024-12-31", "unserved_share"),
        "unserved_share_from_2025_09": between("2025-09-01", "2026-12-31", "unserved_share"),
        "demand_growth_run": [round(float(v), 1) for v in
                              last["demand_total"] / first["demand_total"]],
        "served_growth_run": [round(float(v), 1) for v in
                              last["served_total"] / first["served_total"]],
        "power_used_over_cap_end": [round(float(v), 4) for v in
                                    last["power_used_mw"] / last["power_cap_mw"]],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--consumers", type=int, default=500)
    parser.add_argument("--steps", type=int, default=None, help="default: the scenario's")
    parser.add_argument("--scenario", default="baseline", help="scenario name or .toml path")
    parser.add_argument("--out", type=Path, default=Path("figures"))
    args = parser.parse_args(argv)
    table = run(args.seeds, args.consumers, args.steps, args.scenario)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "capacity_utilisation.csv", index=False)
    note = (f"pricewar {args.scenario}, seeds {', '.join(map(str, args.seeds))}, {args.consumers} "
            "consumers; lines: mean over seeds, band: min-max; left: "
            f"{ROLLING_WEEKS}-week centred rolling mean of the weekly seed mean (faint lines: "
            "weekly values). Regional power caps are estimates (pricewar/data/regions.toml). "
            "experiments/capacity_utilisation.py")
    figure(table, args.out, note)
    print(json.dumps(headline(table)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
