"""Do learning pricing algorithms collude in the token market instead of fighting a price war?

Question: Calvano et al. (2020, AER) find that independent tabular Q-learning algorithms learn to
price above the static Bertrand-Nash level in a repeated logit duopoly (reproduced in
``experiments/calvano_collusion.py``). In the baseline token market (hosts in four regions with
asymmetric electricity costs, falling costs, growing demand, capacity investment, and exit of
hosts whose cash runs out), do products priced by the ``q_learning`` strategy
(:mod:`pricewar.strategies.q_learning`) keep prices and margins above those of products that step
toward their static best response (``best_response``, the model's price war) -- collude --, price
below them -- undercut --, or lose their hosts' cash and leave -- exit?

Runs the baseline scenario with every producer on ``q_learning`` and, with the same seeds, every
producer on ``best_response``; records each step's volume-weighted average list price, Lerner
index ``(p - c) / p`` and markup ``p / c`` over marginal cost (``p`` the posted price, scarcity
surcharge included, as in the model's ``price_avg`` and ``lerner``), total profit, exits and the
hosts and products (the learners) still active, and compares them. Producer exit is on, as in the
baseline (``dynamics.exit_enabled``): exit is one of the answers the question allows.
``--no-exit`` switches it off in both arms, which isolates pricing from selection (exploring
learners then keep running down their cash). Writes

- ``<out>/qlearning_vs_best_response.png`` and ``.svg``: price, Lerner index, markup and active
  host paths,
- ``<out>/qlearning_vs_best_response.csv``: one row per strategy, seed and step,

(``qlearning_vs_best_response_no_exit.*`` with ``--no-exit``) and prints the headline numbers
(means over the last 26 steps; exits and active hosts at the last step) as one JSON object.

    python experiments/qlearning_vs_best_response.py --quick   # 52 steps, 2 seeds, seconds
    python experiments/qlearning_vs_best_response.py           # 156 steps, 8 seeds, ~70 s
    python experiments/qlearning_vs_best_response.py --no-exit # exit off in both arms
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from pricewar.model import PriceWarModel
from pricewar.plotting.style import new_figure, save_figure
from pricewar.plotting.ticks import dollar_axis
from pricewar.runs.runner import run_model
from pricewar.scenario import Scenario, load_scenario
from pricewar.strategies.q_learning import DEFAULT_PARAMS, STATE_KEY
from pricewar.studies.regenerate import FULL_OUT, QUICK_OUT, output_directory

STRATEGIES = ("q_learning", "best_response")
LABELS = {"q_learning": "Q-learning producers", "best_response": "Best-response producers"}
COLORS = {"q_learning": "tab:red", "best_response": "tab:blue"}
HEADLINE_STEPS = 26  # the last half-year
QUICK = {"steps": 52, "seeds": 2, "n_consumers": 100}
FULL = {"steps": 156, "seeds": 8, "n_consumers": 1000}
NAME = "qlearning_vs_best_response"


def experiment_scenario(exit_enabled: bool = True, name: str = "baseline") -> Scenario:
    """The scenario with producer exit on (the baseline's own setting) or off (``--no-exit``)."""
    scenario = load_scenario(name)
    return dataclasses.replace(
        scenario, dynamics=dataclasses.replace(scenario.dynamics, exit_enabled=exit_enabled))


def output_name(exit_enabled: bool) -> str:
    """File stem of the table and figures: exit-off runs never overwrite the default ones."""
    return NAME if exit_enabled else f"{NAME}_no_exit"


def _weighted(values: np.ndarray, weights: np.ndarray) -> float:
    total = weights.sum()
    return float((values * weights).sum() / total) if total > 0 else float(values.mean())


def run(scenario: Scenario, strategy: str, seed: int, steps: int, n_consumers: int) -> pd.DataFrame:
    """One run; one row per step (1..steps) with prices, margins and profits."""
    rows = []

    def record(model: PriceWarModel) -> None:
        if model.steps == 0:
            return
        served = model.product_served  # products: one host's offer of one family
        markup = model.product_price / model.product_marginal_cost
        rows.append({
            "strategy": strategy,
            "seed": seed,
            "step": model.steps,
            "date": model.date.isoformat(),
            "price_avg_usd_per_mtok": model.metrics["price_avg"],
            "lerner": model.metrics["lerner"],
            "markup_avg": _weighted(markup, served),
            "markup_median": float(np.median(markup)),
            "marginal_cost_avg_usd_per_mtok": _weighted(model.product_marginal_cost, served),
            "served_total_mtok": float(served.sum()),
            "profit_total_usd": float(model.producer_profit.sum()),
            "consumer_surplus_usd": model.metrics["consumer_surplus"],
            "producers_negative_cash": int((model.producer_cash < 0).sum()),
            "exits_total": int(model.exits_total),
            "entries_total": int(model.entries_total),
            "active_producers": int(model.n_producers),
            "active_products": int(model.n_products),  # under q_learning: the learners
        })

    model = run_model(scenario, steps=steps, seed=seed, progress=False, on_step=record,
                      overrides={"n_consumers": n_consumers, "producer_strategy": strategy})
    table = pd.DataFrame(rows)
    if strategy == "q_learning":
        grid = model.strategy_state[STATE_KEY]["grid"]
        table.attrs["grid"] = grid
    return table


def _mean_and_range(per_seed: pd.Series, name: str) -> dict:
    """``name_mean`` over seeds and the lowest and highest seed's value."""
    return {f"{name}_mean": float(per_seed.mean()), f"{name}_seed_min": float(per_seed.min()),
            f"{name}_seed_max": float(per_seed.max())}


def headline(table: pd.DataFrame, last: int = HEADLINE_STEPS) -> dict:
    """Per strategy: means over the last ``last`` steps (the price relative to the best-response
    run with the same seed step by step; profit as the ratio of the window's totals), and exits
    and active hosts and products at the last step; each as the mean over seeds and the lowest
    and highest seed."""
    tail = table[table["step"] > table["step"].max() - last]
    end = table[table["step"] == table["step"].max()]
    reference = tail[tail["strategy"] == "best_response"].set_index(["seed", "step"])
    out = {}
    for strategy, group in tail.groupby("strategy", sort=False):
        paired = group.set_index(["seed", "step"])
        price_ratio = paired["price_avg_usd_per_mtok"] / reference["price_avg_usd_per_mtok"]
        by_seed = group.groupby("seed")
        # total profit over the window, not step by step: a best-response step near zero profit
        # would make a step's ratio explode (total profit changes sign in some weeks)
        profit_ratio = (by_seed["profit_total_usd"].sum()
                        / reference["profit_total_usd"].groupby(level="seed").sum())
        at_end = end[end["strategy"] == strategy].set_index("seed")
        out[strategy] = {
            **_mean_and_range(by_seed["lerner"].mean(), "lerner"),
            "markup_avg_mean": float(group["markup_avg"].mean()),
            **_mean_and_range(by_seed["price_avg_usd_per_mtok"].mean(), "price_avg_usd_per_mtok"),
            **_mean_and_range(price_ratio.groupby(level="seed").mean(),
                              "price_relative_to_best_response"),
            **_mean_and_range(by_seed["profit_total_usd"].mean(), "profit_total_usd"),
            **_mean_and_range(profit_ratio, "profit_relative_to_best_response"),
            "producers_negative_cash_mean": float(group["producers_negative_cash"].mean()),
            **_mean_and_range(at_end["exits_total"], "exits_by_end"),
            **_mean_and_range(at_end["active_producers"], "active_producers_at_end"),
            **_mean_and_range(at_end["active_products"], "active_products_at_end"),
        }
    return out


def plot(table: pd.DataFrame, out_dir: Path, name: str, note: str,
         grid: np.ndarray | None) -> list[Path]:
    """Price, Lerner index, markup and active-host paths: mean over seeds, band from the lowest to
    the highest seed."""
    fig, grid_axes = new_figure(4, 1, width=8, height=12, sharex=True)
    axes = grid_axes[:, 0]
    panels = [
        ("price_avg_usd_per_mtok", "Average list price\n(USD/Mtok, log scale)"),
        ("lerner", "Lerner index (p − c) / p\n(volume-weighted, dimensionless)"),
        ("markup_avg", "Markup p / c over marginal cost\n(volume-weighted, dimensionless)"),
        ("active_producers", "Active hosts\n(count; exits lower it)"),
    ]
    for strategy in STRATEGIES:
        runs = table[table["strategy"] == strategy]
        if runs.empty:
            continue
        dates = pd.to_datetime(runs.groupby("step")["date"].first())
        for ax, (column, _) in zip(axes, panels, strict=True):
            by_step = runs.groupby("step")[column]
            ax.fill_between(dates, by_step.min(), by_step.max(), color=COLORS[strategy],
                            alpha=0.15, linewidth=0)
            n_seeds = runs["seed"].nunique()
            ax.plot(dates, by_step.mean(), color=COLORS[strategy],
                    label=f"{LABELS[strategy]} (mean of {n_seeds} seeds; band: min–max)")
    for ax, (_, ylabel) in zip(axes, panels, strict=True):
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    axes[0].set_yscale("log")
    dollar_axis(axes[0])  # $0.5, $1, $2 ..., not 10^0 and 10^1
    if grid is not None:
        grid_line = axes[2].axhline(grid[0], color="grey", linestyle=":", linewidth=1,
                                    label=f"Q-learning markup grid: {grid[0]:.2f} … "
                                          f"{grid[-1]:.1f}")
        axes[2].axhline(grid[-1], color="grey", linestyle=":", linewidth=1)
        axes[2].legend(handles=[grid_line], fontsize=8, frameon=False, loc="upper right")
    # the posted price's markup can exceed the grid's top: the grid sets the base price and the
    # scarcity surcharge comes on top
    axes[2].set_ylim(bottom=0)
    axes[0].legend(fontsize=8, frameon=False)
    axes[3].set_ylim(bottom=0)
    axes[3].set_xlabel("Date (weekly steps)")
    axes[0].set_title("Q-learning vs best-response pricing in the baseline token market")
    return save_figure(fig, out_dir, name, note)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK['steps']} steps, {QUICK['seeds']} seeds, "
                             f"{QUICK['n_consumers']} consumers (seconds; tests)")
    parser.add_argument("--seeds", type=int, default=None, help="number of seeds (1, 2, ...)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"output directory (default: {FULL_OUT}/, with --quick {QUICK_OUT}/)")
    parser.add_argument("--quiet", "--no-progress", dest="quiet", action="store_true",
                        help="no progress bar (--no-progress is the old name)")
    parser.add_argument("--no-exit", dest="exit", action="store_false",
                        help="switch producer exit off in both arms (default: on, the baseline's "
                             f"setting); writes {NAME}_no_exit.*")
    args = parser.parse_args(argv)
    args.out = output_directory(args)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    mode = QUICK if args.quick else FULL
    steps, n_consumers = mode["steps"], mode["n_consumers"]
    seeds = list(range(1, (args.seeds or mode["seeds"]) + 1))
    scenario = experiment_scenario(exit_enabled=args.exit)
    exit_enabled = scenario.dynamics.exit_enabled
    name = output_name(exit_enabled)
    args.out.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    tables, grid = [], None
    runs = [(strategy, seed) for strategy in STRATEGIES for seed in seeds]
    for strategy, seed in tqdm(runs, desc="runs", unit="run", disable=args.quiet):
        tables.append(run(scenario, strategy, seed, steps, n_consumers))
        grid = tables[-1].attrs.get("grid", grid)
    wall_time = time.perf_counter() - start
    table = pd.concat(tables, ignore_index=True)
    table_path = args.out / f"{name}.csv"
    table.to_csv(table_path, index=False)

    p = DEFAULT_PARAMS
    note = (f"Source: pricewar ABM, baseline scenario ({scenario.start_date}, weekly steps, "
            f"regional electricity prices; producer exit {'on' if exit_enabled else 'off'}, "
            f"entry {'on' if scenario.dynamics.entry_enabled else 'off'}), {n_consumers} consumers, {steps} weeks, seeds {seeds[0]}–{seeds[-1]}. "
            f"Q-learning after Calvano et al. (2020, AER): "
            f"{p.n_prices} markups, state = (own last markup, rivals' mean markup), "
            f"α={p.learning_rate}, δ={p.discount}, ε=exp(−{p.exploration_decay}t). "
            "Generated by experiments/qlearning_vs_best_response.py.")
    figure_paths = plot(table, args.out, name, note, grid)

    result = {
        "mode": "quick" if args.quick else "full",
        "steps": steps,
        "seeds": seeds,
        "n_consumers": n_consumers,
        "exit_enabled": exit_enabled,
        "headline_steps": HEADLINE_STEPS,
        "q_learning_params": dataclasses.asdict(p),
        "markup_grid": [round(float(g), 4) for g in grid] if grid is not None else None,
        **headline(table),
        "wall_time_s": round(wall_time, 2),
        "table": str(table_path),
        "figures": [str(path) for path in figure_paths],
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
