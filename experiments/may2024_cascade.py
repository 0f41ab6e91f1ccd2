"""The May 2024 price-cut cascade: the model's followers against the record (docs/results.md
"The May 2024 cascade against the record").

DeepSeek posts DeepSeek-V2's observed price (0.175 USD/Mtok) from 2024-05-13; every other host
prices by its strategy. Three configurations: the static default (best_response, no customer
base), the customer base (kappa = 0.6 utils, the central est.) with static pricing, and the
customer base with forward-looking owner-hosts. Each against the same run without the cut (same
seed). Writes ``figures/may2024_cascade.csv``, ``figures/may2024_cascade_lerner.csv`` and
``figures/may2024_cascade.png``; and why the followers do not follow (docs/ODD.md §6.4):
``figures/may2024_cascade_static_room.csv`` (the static configuration in the week before the cut:
each closed family's elasticity, its buyers' price sensitivity and the most its static price could
fall, :func:`~pricewar.studies.cascade.static_follow_room`) and
``figures/may2024_cascade_kept_value.csv`` (the forward-looking configuration, with and without
the cut, from the week before it to the week after: ``psi/c`` per closed family,
:func:`~pricewar.studies.cascade.kept_customer_value`).

    .venv/bin/python experiments/may2024_cascade.py [--seeds 1 2 3] [--consumers 500]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pricewar.model import PriceWarModel  # noqa: E402
from pricewar.scenario import load_scenario  # noqa: E402
from pricewar.studies.cascade import (  # noqa: E402
    CUT_WEEKS,
    cascade,
    cut_step_of,
    group_follow,
    kept_customer_value,
    static_follow_room,
    with_group_strategies,
)

OWNERS = ("deepseek", "alibaba", "bytedance", "baidu", "moonshot", "zhipu", "openai",
          "anthropic", "google", "mistral")
FOLLOWERS = ("zhipu", "bytedance", "alibaba", "baidu", "cn_east", "cn_west")
KAPPA = 0.6


def configurations():
    base = load_scenario("baseline")
    habit = base.with_overrides(customer_base_kappa=KAPPA)
    forward = with_group_strategies(habit, {g: "forward_looking" for g in OWNERS})
    return {"static": base, f"base kappa={KAPPA}": habit,
            f"base kappa={KAPPA} + forward_looking owners": forward}


def static_room(scenario, seeds: list[int], n_consumers: int) -> pd.DataFrame:
    """:func:`static_follow_room` in the week before the cut, per seed."""
    frames = []
    for seed in seeds:
        model = PriceWarModel(scenario, seed=seed, n_consumers=n_consumers)
        for _ in range(cut_step_of(scenario) - 1):
            model.step()
        frame = static_follow_room(model)
        frame["seed"], frame["date"] = seed, model.date
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def kept_value(scenario, seeds: list[int], n_consumers: int, fraction: float) -> pd.DataFrame:
    """:func:`kept_customer_value` from the week before the cut to the week after, with the
    leader's cut (``fraction`` of its list price, as in :func:`cascade`) and without, per seed."""
    cut_step = cut_step_of(scenario)
    cut = scenario.with_events({"kind": "price_cut", "step": cut_step, "group": "deepseek",
                                "producers": 1, "fraction": fraction,
                                "duration_steps": CUT_WEEKS})
    frames = []
    for run, config in (("no cut", scenario), ("cut", cut)):
        for seed in seeds:
            model = PriceWarModel(config, seed=seed, n_consumers=n_consumers)
            while model.steps < cut_step + 1:
                model.step()
                if model.steps >= cut_step - 1:
                    frame = kept_customer_value(model)
                    frame["run"], frame["seed"] = run, seed
                    frame["step"], frame["date"] = model.steps, model.date
                    frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--consumers", type=int, default=500)
    parser.add_argument("--out", type=Path, default=Path("figures"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows, lerner, record = [], [], None
    for name, scenario in configurations().items():
        for seed in args.seeds:
            result = cascade(scenario, seed=seed, n_consumers=args.consumers)
            record = result["record"]
            groups = group_follow(result["follow"]).reset_index()
            groups["configuration"], groups["seed"] = name, seed
            groups["leader_cut"] = result["fraction"]
            rows.append(groups)
            for kind, run in (("cut", result["cut"]), ("no cut", result["counterfactual"])):
                frame = run.lerner.copy()
                frame["configuration"], frame["seed"], frame["run"] = name, seed, kind
                lerner.append(frame)
    table = pd.concat(rows, ignore_index=True)
    table.to_csv(args.out / "may2024_cascade.csv", index=False)
    lerner_frame = pd.concat(lerner, ignore_index=True)
    lerner_frame.to_csv(args.out / "may2024_cascade_lerner.csv", index=False)
    summary = (table[table["group"].isin(FOLLOWERS)]
               .groupby(["configuration", "group"], sort=False)
               .agg(depth=("depth", "mean"), depth_min=("depth", "min"),
                    depth_max=("depth", "max"), follow_share=("follow_share", "mean"),
                    lag_days=("lag_days", "median")))
    print(summary.round(3).to_string())
    print(record[["date", "firm", "group", "role", "cut_fraction_low", "cut_fraction_high",
                  "lag_days"]].to_string(index=False))
    figure(summary, record, lerner_frame, args.out / "may2024_cascade.png")
    flagships = ["qwen_max", "ernie_4", "glm_4"]
    room = static_room(configurations()["static"], args.seeds, args.consumers)
    room.to_csv(args.out / "may2024_cascade_static_room.csv", index=False)
    print(room[room["family"].isin(flagships)].round(4).to_string(index=False))
    forward = f"base kappa={KAPPA} + forward_looking owners"
    cut = float(table.loc[table["configuration"] == forward, "leader_cut"].iloc[0])
    value = kept_value(configurations()[forward], args.seeds, args.consumers, cut)
    value.to_csv(args.out / "may2024_cascade_kept_value.csv", index=False)
    print(value[value["family"].isin(flagships)]
          .pivot_table(index=["family", "run"], columns="step", values="psi_over_cost",
                       aggfunc=["min", "max"]).round(3).to_string())


#: vertical offsets of a firm's rows from its tick: the record, then each configuration
ROW_OFFSETS = (-0.3, -0.1, 0.1, 0.3)


def figure(summary: pd.DataFrame, record: pd.DataFrame, lerner: pd.DataFrame,
           path: Path) -> None:
    """Left: who followed, when and how deep -- the record against each configuration.
    Right: Lerner index of open and closed families around the cut."""
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(13, 5.2), width_ratios=[1.4, 1])
    names = list(dict.fromkeys(summary.index.get_level_values(0)))
    firms = ["zhipu", "bytedance", "alibaba", "baidu"]
    y = np.arange(len(firms))
    # each firm's rows (the record, then one per configuration) centred on its tick: drawn all
    # on one side, a configuration's row reached halfway to the next firm and read as its
    # (Alibaba's forward-looking -35% under "ByteDance")
    rows = ROW_OFFSETS[: 1 + len(names)]
    observed = record.set_index("group")
    for k, firm in enumerate(firms):
        row = observed.loc[firm]
        depth = float(np.nanmean([row["cut_fraction_low"], row["cut_fraction_high"]]))
        ax.scatter(row["lag_days"], k + rows[0], s=60 + 400 * depth, color="black", zorder=3,
                   label="record (May 2024)" if k == 0 else None)
        ax.annotate(f"-{depth:.0%}", (row["lag_days"], k + rows[0]), xytext=(12, -3),
                    textcoords="offset points", fontsize=8)
        if k:
            ax.axhline(k - 0.5, color="lightgrey", linewidth=0.8)
    colours = ["tab:blue", "tab:orange", "tab:green"]
    for c, name in enumerate(names):
        for k, firm in enumerate(firms):
            if (name, firm) not in summary.index:
                continue
            s = summary.loc[(name, firm)]
            offset = -rows[c + 1]
            if s["follow_share"] > 0:
                x = s["lag_days"] if np.isfinite(s["lag_days"]) else 0.0
                ax.scatter(x, k - offset, s=60 + 400 * max(s["depth"], 0.0), color=colours[c],
                           marker="o", label=name if k == 0 else None)
                ax.annotate(f"-{s['depth']:.0%}", (x, k - offset), xytext=(8, -3),
                            textcoords="offset points", fontsize=8, color=colours[c])
            else:
                ax.scatter(60, k - offset, marker="x", color=colours[c],
                           label=name if k == 0 else None)
                ax.annotate(f"no cut (price {0.0 - s['depth']:+.0%})", (60, k - offset),
                            xytext=(8, -3), textcoords="offset points", fontsize=8,
                            color=colours[c])
    ax.set_yticks(y, ["Zhipu", "ByteDance (launch)", "Alibaba", "Baidu"])
    ax.invert_yaxis()
    ax.set_xlim(-3, 80)
    ax.set_xlabel("days after DeepSeek-V2's launch price (6 May 2024); x = no cut within 8 weeks")
    ax.set_title("Who followed DeepSeek's cut, when, how deep (marker size = depth)")
    legend = ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    for handle in legend.legend_handles:  # one size: the record's marker is sized by its depth
        handle.set_sizes([30])
    mean = lerner.groupby(["configuration", "run", "date"])[["open", "closed"]].mean()
    for c, name in enumerate(names):
        for kind, style in (("cut", "-"), ("no cut", ":")):
            frame = mean.loc[(name, kind)]
            bx.plot(frame.index, frame["closed"], style, color=colours[c],
                    label=f"closed, {name}, {kind}" if kind == "cut" else None)
            bx.plot(frame.index, frame["open"], style, color=colours[c], alpha=0.5)
    bx.set_ylabel("Lerner index (p - c) / p, served-weighted")
    bx.set_title("Markups: closed (dark) and open (light) families;\nsolid = with the cut, "
                 "dotted = without")
    bx.tick_params(axis="x", rotation=45)
    bx.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=130)


if __name__ == "__main__":
    main()
