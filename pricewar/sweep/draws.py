"""A scenario over posterior draws x seeds, as a sweep (``pricewar compare --draws``).

:func:`run_draws` turns draws (:func:`pricewar.scenario.draws.load_draws`) and seeds into a
``points`` sweep spec (point i = draw i, every point run with every seed) with full time series,
runs it with :func:`~pricewar.sweep.engine.run_sweep` into a folder (resumable: the same call
after an interruption runs only the missing runs; ``workers`` local processes) and returns each
run's model frame by ``(draw id, seed)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from pricewar.scenario import load_scenario
from pricewar.sweep.engine import run_sweep
from pricewar.sweep.store import SweepError, load_design, load_results, load_timeseries


def draws_spec(scenario: str, draws: Sequence[tuple[int, Mapping]], seeds: Sequence[int],
               steps: int | None = None, fixed: Mapping | None = None,
               name: str = "draws") -> dict:
    """The sweep spec (a dict) running ``scenario`` at each draw x each seed; ``fixed``
    overrides (``--set``) win over a draw's value of the same parameter."""
    fixed = dict(fixed or {})
    if not draws:
        raise SweepError("no draws to run")
    columns = [c for c in draws[0][1] if c not in fixed]
    target = str(Path(scenario).resolve()) if str(scenario).endswith(".toml") else scenario
    steps = load_scenario(target).steps if steps is None else int(steps)
    if not columns:
        raise SweepError(f"--set fixes every drawn parameter ({', '.join(draws[0][1])}): "
                         f"nothing varies over the draws; run without --draws")
    return {"name": name, "scenario": target, "steps": steps, "seeds": list(seeds),
            "outputs": {"metrics": ["price_avg"], "steps": ["final"], "timeseries": True},
            "fixed": fixed,
            "design": {"kind": "points", "parameters": {
                c: {"values": [values[c] for _, values in draws]} for c in columns}}}


def run_draws(scenario: str, draws: Sequence[tuple[int, Mapping]], seeds: Sequence[int],
              out: str | Path, steps: int | None = None, fixed: Mapping | None = None,
              workers: int = 1, progress: bool = True, name: str = "draws"
              ) -> dict[tuple[int, int], pd.DataFrame]:
    """Run ``scenario`` at every draw (``(id, overrides)``) x every seed into sweep folder
    ``out``; the model frame (every metric at every step, with ``step`` and ``date``) of each
    run by ``(draw id, seed)``. Raises SweepError if a run failed (its error named)."""
    spec = draws_spec(scenario, draws, seeds, steps, fixed, name)
    run_sweep(spec, out, workers=workers, progress=progress)
    results = load_results(out)
    failed = results[results["status"] != "ok"]
    if len(failed):
        first = failed.iloc[0]
        raise SweepError(f"{out}: {len(failed)} of {len(results)} runs failed, e.g. seed "
                         f"{first['seed']}: {first['error']} (run the same command again to "
                         f"retry after a fix; finished runs are kept)")
    design = load_design(out)
    series = load_timeseries(out)
    by_run = {run_id: frame.drop(columns="run_id").reset_index(drop=True)
              for run_id, frame in series.groupby("run_id", sort=False)}
    ids = [draw for draw, _ in draws]
    frames = {}
    for row in design.itertuples(index=False):
        frames[(ids[int(row.point)], int(row.seed))] = by_run[row.run_id]
    return frames
