"""Diagnostic: is capacity why the large Chinese rivals do not follow DeepSeek's May 2024 cut?
The cascade study (``pricewar.studies.cascade``, static default strategies) run twice per seed:
as the model is, and with every host's capacity limit switched off (the route market the
strategies price on and the market clears on is uncapacitated: no rationing, no scarcity
surcharge). Not a scenario: a counterfactual model class, for docs/results.md "The May 2024
cascade against the record".

Writes figures/may2024_cascade_capacity.csv (``--out DIR`` elsewhere) and prints the headline
numbers as JSON on the last line.

    python experiments/cascade_capacity_diagnostic.py --seeds 1 --consumers 100   # seconds
    python experiments/cascade_capacity_diagnostic.py          # the committed table (~2 min)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from pricewar.model import PriceWarModel
from pricewar.scenario import load_scenario
from pricewar.studies.cascade import cascade

FOLLOWERS = ("alibaba", "baidu", "zhipu", "cn_east", "cn_west")
WEEKS_AFTER = 4


class UncapacitatedModel(PriceWarModel):
    """The model with every host's capacity limit off (diagnostic only)."""

    def _route_market(self, capacitated: bool = True):
        return super()._route_market(capacitated=False)


def leader_share(run, cn_columns: list[int], leader: int, cut_step: int) -> float:
    """The leader's mean share of the cn bloc's served tokens over the weeks after the cut."""
    rows = slice(cut_step - 1, cut_step - 1 + WEEKS_AFTER)
    served = run.served[rows]
    return float(np.mean(served[:, leader] / served[:, cn_columns].sum(axis=1)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--consumers", type=int, default=500)
    parser.add_argument("--out", type=Path, default=Path("figures"))
    args = parser.parse_args(argv)
    scenario = load_scenario("baseline")
    cn_groups = {name for name, group in scenario.producers.items()
                 if group.region in ("cn_west", "cn_east")}
    rows = []
    for label, model_class in (("capacity limits", PriceWarModel),
                               ("no capacity limits", UncapacitatedModel)):
        for seed in args.seeds:
            result = cascade(scenario, seed=seed, n_consumers=args.consumers,
                             model_class=model_class)
            groups = result["cut"].groups
            cn = [k for k, g in enumerate(groups) if g in cn_groups]
            leader = groups.index("deepseek")
            share = {run: leader_share(result[key], cn, leader, result["cut_step"])
                     for run, key in (("no cut", "counterfactual"), ("cut", "cut"))}
            follow = result["follow"]
            for row in follow[follow["group"].isin(FOLLOWERS)].itertuples():
                rows.append({"configuration": label, "seed": seed, "group": row.group,
                             "host_served": row.served, "depth": row.depth,
                             "follows": row.follows, "lag_days": row.lag_days,
                             "leader_cut": result["fraction"],
                             "leader_cn_share_no_cut": share["no cut"],
                             "leader_cn_share_cut": share["cut"]})
    table = pd.DataFrame(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "may2024_cascade_capacity.csv", index=False)
    served = table[table["host_served"] > 0]
    # per seed, a group's depth weighted by its hosts' served tokens before the cut; then the
    # range over seeds
    weighted = served.groupby(["configuration", "group", "seed"]).apply(
        lambda f: np.average(f["depth"], weights=f["host_served"]), include_groups=False)
    headline = {f"{c} | {g} depth": [round(float(v.min()), 3), round(float(v.max()), 3)]
                for (c, g), v in weighted.groupby(level=["configuration", "group"])}
    for c, frame in table.groupby("configuration"):
        headline[f"{c} | leader CN share no cut -> cut"] = [
            round(float(frame["leader_cn_share_no_cut"].min()), 3),
            round(float(frame["leader_cn_share_no_cut"].max()), 3),
            round(float(frame["leader_cn_share_cut"].min()), 3),
            round(float(frame["leader_cn_share_cut"].max()), 3)]
    print(json.dumps(headline))
    return 0


if __name__ == "__main__":
    sys.exit(main())
