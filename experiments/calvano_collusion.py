"""Do Q-learning pricing algorithms learn to collude? A reproduction of Calvano et al. (2020).

Question: in the repeated logit Bertrand duopoly of Calvano, Calzolari, Denicolò and Pastorello
(2020, AER, "Artificial Intelligence, Algorithmic Pricing, and Collusion"), do two independent
tabular Q-learning algorithms, which never communicate, learn prices above the static Bertrand-Nash
level (the paper's baseline: average profit gain Delta ~ 0.85), and do they sustain them with a
punishment of deviations followed by a gradual return to the pre-deviation prices?

Runs many independent sessions (:func:`pricewar.learning.run_sessions`), then forces firm 1 to
deviate once to its static best response and traces both prices (the paper's Figure 4). Writes

- ``<out>/calvano_impulse_response.png`` and ``.svg``: mean price paths after the deviation,
- ``<out>/calvano_collusion.csv``: one row per session,

and prints the headline numbers as one JSON object.

    python experiments/calvano_collusion.py --quick   # beta = 1e-4, 30 sessions, seconds
    python experiments/calvano_collusion.py           # paper's beta = 4e-6, 1000 sessions, minutes
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from pricewar.plotting.style import new_figure, save_figure
from pricewar.studies.calvano import (
    CalvanoConfig,
    ImpulseResponse,
    SessionResult,
    impulse_response,
    run_sessions,
)
from pricewar.studies.regenerate import FULL_OUT, QUICK_OUT, output_directory

PAPER_PROFIT_GAIN = 0.85  # Calvano et al. (2020), baseline (Section IV.A)
QUICK_EXPLORATION_DECAY = 1e-4
FULL_EXPLORATION_DECAY = 4e-6  # the paper's baseline beta
IMPULSE_PERIODS = 15


def session_table(result: SessionResult, response: ImpulseResponse) -> pd.DataFrame:
    """One row per session: convergence, cycle prices and profits, Delta, deviation path."""
    columns: dict[str, np.ndarray] = {
        "session": np.arange(result.n_sessions),
        "converged": result.converged,
        "periods": result.periods,
        "cycle_length": result.cycle_length,
    }
    for i in range(result.game.n_firms):
        columns[f"price_firm{i + 1}"] = result.price[:, i]
        columns[f"profit_firm{i + 1}"] = result.profit[:, i]
    columns["profit_gain"] = result.profit_gain
    for tau in (0, 1, 2):
        for i in range(result.game.n_firms):
            columns[f"ir_price_firm{i + 1}_tau{tau}"] = response.price[:, tau, i]
    return pd.DataFrame(columns)


def plot_impulse_response(result: SessionResult, response: ImpulseResponse, out_dir: Path,
                          note: str) -> list[Path]:
    """Mean (and interquartile band of) prices after firm 1's deviation, converged sessions."""
    game = result.game
    keep = result.converged[response.sessions]
    price = response.price[keep] if keep.any() else response.price
    tau = response.tau
    fig, axes = new_figure(width=7.5, height=4.8)
    ax = axes[0, 0]
    styles = [("tab:red", "o", "Firm 1 (deviates at τ = 1)"), ("tab:blue", "s", "Firm 2")]
    for i in range(game.n_firms):
        color, marker, label = styles[i] if i < len(styles) else (None, ".", f"Firm {i + 1}")
        ax.fill_between(tau, np.percentile(price[:, :, i], 25, axis=0),
                        np.percentile(price[:, :, i], 75, axis=0), color=color, alpha=0.12,
                        linewidth=0)
        ax.plot(tau, price[:, :, i].mean(axis=0), marker=marker, color=color, label=label)
    ax.axhline(game.nash_price.mean(), color="black", linestyle="--", linewidth=1,
               label=f"Bertrand-Nash price {game.nash_price.mean():.3f}")
    ax.axhline(game.monopoly_price.mean(), color="black", linestyle=":", linewidth=1,
               label=f"Joint-monopoly price {game.monopoly_price.mean():.3f}")
    ax.axvline(1, color="grey", linewidth=0.8, alpha=0.5)
    ax.set_xlabel("Periods after the shock, τ (τ = 0 pre-shock, deviation at τ = 1)")
    ax.set_ylabel("Price (money units; marginal cost c = 1)")
    ax.set_title("Price impulse response to a one-period deviation by firm 1\n"
                 f"(mean over {price.shape[0]} converged sessions; band: interquartile range)")
    ax.set_xticks(tau)
    span = game.monopoly_price.mean() - game.nash_price.mean()
    ax.set_ylim(min(game.nash_price.min(), price.min()) - 0.1 * span,
                game.monopoly_price.max() + 0.35 * span)
    ax.legend(loc="upper center", ncol=2, fontsize=8, frameon=False)
    return save_figure(fig, out_dir, "calvano_impulse_response", note)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"beta = {QUICK_EXPLORATION_DECAY:g} and 30 sessions (seconds; tests)")
    parser.add_argument("--sessions", type=int, default=None,
                        help="number of sessions (default: 30 quick, 1000 full)")
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--out", type=Path, default=None,
                        help=f"output directory (default: {FULL_OUT}/, with --quick {QUICK_OUT}/)")
    parser.add_argument("--quiet", "--no-progress", dest="quiet", action="store_true",
                        help="no progress bar (--no-progress is the old name)")
    args = parser.parse_args(argv)
    args.out = output_directory(args)

    beta = QUICK_EXPLORATION_DECAY if args.quick else FULL_EXPLORATION_DECAY
    n_sessions = args.sessions or (30 if args.quick else 1000)
    config = CalvanoConfig(exploration_decay=beta)
    args.out.mkdir(parents=True, exist_ok=True)

    start = time.perf_counter()
    result = run_sessions(config, n_sessions, seed=args.seed, progress=not args.quiet)
    wall_time = time.perf_counter() - start
    response = impulse_response(result, periods=IMPULSE_PERIODS, deviator=0)

    table_path = args.out / "calvano_collusion.csv"
    session_table(result, response).to_csv(table_path, index=False)
    game = result.game
    note = (f"Source: pricewar reproduction of Calvano, Calzolari, Denicolò & Pastorello (2020, AER), "
            f"baseline logit duopoly a=2, a0=0, c=1, μ=0.25; Q-learning α=0.15, δ=0.95, "
            f"β={beta:g}, {game.n_prices}-point grid, one-period memory; {n_sessions} sessions, "
            f"seed {args.seed}. Generated by experiments/calvano_collusion.py.")
    figure_paths = plot_impulse_response(result, response, args.out, note)

    converged = result.converged
    punished = response.price[:, 2, 1] < response.price[:, 0, 1]
    headline = {
        "mode": "quick" if args.quick else "full",
        "sessions": n_sessions,
        "seed": args.seed,
        "exploration_decay": beta,
        "profit_gain_mean": float(result.profit_gain.mean()),
        "profit_gain_std": float(result.profit_gain.std()),
        "profit_gain_mean_converged": (float(result.profit_gain[converged].mean())
                                       if converged.any() else None),
        "share_converged": float(converged.mean()),
        "mean_periods_to_convergence": (float(result.periods[converged].mean())
                                        if converged.any() else None),
        "mean_price": float(result.price.mean()),
        "nash_price": float(game.nash_price.mean()),
        "monopoly_price": float(game.monopoly_price.mean()),
        "share_fixed_point": float((result.cycle_length == 1).mean()),
        "share_rival_punishes": float(punished[converged].mean()) if converged.any() else None,
        "wall_time_s": round(wall_time, 2),
        "paper_profit_gain": PAPER_PROFIT_GAIN,
        "table": str(table_path),
        "figures": [str(p) for p in figure_paths],
    }
    print(json.dumps(headline, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
