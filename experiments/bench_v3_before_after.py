"""Benchmark: a v3 model run's CPU time with this code against an earlier version, in one run.

Runs ``baseline`` with the v3 market (``market_version = 3``, forward-looking hosts) in child
processes, alternating the earlier code (``--before``, a source tree holding its ``pricewar``
package, e.g. ``git archive <commit> pricewar | tar -x -C DIR``) and this one, so that both see
the same machine load; each child reports the CPU seconds of building the model and stepping it
(``time.process_time``; ``step_cpu_s`` the steps alone, as ``bench_model.py`` times them) and
the seconds spent inside ``states_equilibrium``, and the solver's and the market's reporters
after the first 4 weeks: median and largest ``equilibrium_residual``, mean
``equilibrium_iterations``, largest ``refused_share``, and ``price_avg`` in the first week of
2024 Q1, 2025 Q2 and 2026 Q4 (where the run reaches them). Prints one JSON row per run and the
ratios before/after of the medians::

    python experiments/bench_v3_before_after.py --before DIR [--consumers 1000] [--steps 52]
        [--seed 1] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = """
import json, sys, time
import pandas as pd
import pricewar
import pricewar.kernel.gnl_equilibrium as eq
import pricewar.model.market_v3 as mv3
from pricewar.model.price_war_model import PriceWarModel
solver = [0.0]
inner = eq.states_equilibrium
def timed(*args, **kwargs):
    start = time.process_time()
    try:
        return inner(*args, **kwargs)
    finally:
        solver[0] += time.process_time() - start
mv3.states_equilibrium = timed
consumers, steps, seed = (int(v) for v in sys.argv[1:4])
start = time.process_time()
model = PriceWarModel("baseline", seed=seed, n_consumers=consumers, steps=steps,
                      market_version=3, producer_strategy="forward_looking")
steps_start = time.process_time()
for _ in range(steps):
    model.step()
end = time.process_time()
frame = model.datacollector.get_model_vars_dataframe()
later = frame.iloc[5:]  # after the first 4 weeks (row 0 is the initial state)
dates = pd.Timestamp(model.start_date) + pd.to_timedelta(
    model.scenario.step_days * pd.RangeIndex(len(frame)), unit="D")
prices = {}
for label, first in (("2024Q1", "2024-01-01"), ("2025Q2", "2025-04-01"),
                     ("2026Q4", "2026-10-01")):
    rows = (dates >= pd.Timestamp(first)).nonzero()[0]
    if rows.size:
        prices["price_avg_" + label] = float(frame["price_avg"].iloc[rows[0]])
print(json.dumps({"run_cpu_s": end - start, "step_cpu_s": end - steps_start,
                  "solver_cpu_s": solver[0],
                  "residual_median": float(later["equilibrium_residual"].median()),
                  "residual_max": float(later["equilibrium_residual"].max()),
                  "iterations_mean": float(later["equilibrium_iterations"].mean()),
                  "refused_share_max": float(later["refused_share"].max()), **prices,
                  "reporter_sum": float(frame.select_dtypes("number").to_numpy().sum()),
                  "package": pricewar.__file__}))
"""


def run_child(source: Path, consumers: int, steps: int, seed: int) -> dict:
    env = {**os.environ, "PYTHONPATH": str(source)}
    # run in the source tree: ``python -c`` puts the working directory first on sys.path
    out = subprocess.run([sys.executable, "-c", CHILD, str(consumers), str(steps), str(seed)],
                         env=env, capture_output=True, text=True, check=True, cwd=source)
    row = json.loads(out.stdout.strip().splitlines()[-1])
    if not Path(row.pop("package")).is_relative_to(source):
        raise RuntimeError(f"the child imported pricewar from outside {source}")
    return row


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True)
    parser.add_argument("--consumers", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=52)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args(argv)
    after = Path(__file__).resolve().parents[1]
    rows = {"before": [], "after": []}
    for _ in range(args.rounds):
        for name, source in (("before", args.before.resolve()), ("after", after)):
            row = run_child(source, args.consumers, args.steps, args.seed)
            rows[name].append(row)
            print(json.dumps({"code": name, **{k: float(f"{v:.4g}") for k, v in row.items()}}),
                  flush=True)
    summary = {}
    for key in ("run_cpu_s", "step_cpu_s", "solver_cpu_s"):
        before = statistics.median(r[key] for r in rows["before"])
        after_s = statistics.median(r[key] for r in rows["after"])
        summary[f"{key}_before"], summary[f"{key}_after"] = round(before, 2), round(after_s, 2)
        summary[f"{key}_ratio"] = round(before / after_s, 3)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
