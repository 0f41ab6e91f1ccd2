"""Simulations of a calibration, run through the sweep engine, and their summary statistics.

Both sets of runs are ordinary sweeps (resumable, local workers or Dask, every run kept):

- ``DIR/prior``: the prior draws, a ``points`` design whose points are a Latin hypercube in the
  priors' unit coordinates mapped to values;
- ``DIR/predictive/<fingerprint>``: the posterior-predictive draws, a ``points`` design of
  resampled posterior draws (one directory per set of draws).

Each keeps every model reporter at every step (``outputs.timeseries``), so a target added later
is computed from the stored runs without running them again. The summaries of every run are
cached in ``<sweep>/summaries.parquet`` (one column per target, keyed by the target's summary
and arguments), so re-running the analysis reads only the runs whose summaries are new.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pricewar.calibrate.posterior import CalibrationError
from pricewar.calibrate.priors import unit_design
from pricewar.calibrate.spec import CalibrationSpec, TargetSpec
from pricewar.sweep.engine import run_sweep
from pricewar.sweep.spec import SweepSpec, load_spec
from pricewar.sweep.store import TIMESERIES, SweepStatus, load_results

log = logging.getLogger(__name__)

SUMMARIES = "summaries.parquet"
#: prior runs have seeds 1, 2, ...; posterior-predictive runs have seeds from here on
PREDICTIVE_SEED = 1_000_001


def _sweep_dict(spec: CalibrationSpec, name: str, steps: int, first_seed: int, size: dict,
                columns: dict[str, list]) -> dict:
    """A points design whose every run has its own seed: the model's randomness (its consumer
    population, demand draws) then varies across runs as it varies between the world and any
    one run, so the posterior accounts for it."""
    n = len(next(iter(columns.values())))
    return {"name": f"{spec.name}-{name}", "description": f"pricewar calibrate: {name} runs",
            "scenario": spec.scenario, "steps": steps, "outputs": {"timeseries": True},
            "fixed": {**spec.fixed, **size},
            "design": {"kind": "points", "seeds": list(range(first_seed, first_seed + n)),
                       "parameters": {k: {"values": v} for k, v in columns.items()}}}


def prior_sweep(spec: CalibrationSpec, quick: bool = False) -> SweepSpec:
    """The sweep of prior draws: a Latin hypercube of ``simulations`` points in the unit cube,
    mapped through each prior, each run ``seeds_per_draw`` times (seeds 1, 2, ...: one per run)."""
    budget, size = spec.mode(quick)
    unit = unit_design(budget.simulations, len(spec.parameters), budget.seed)
    unit = np.repeat(unit, budget.seeds_per_draw, axis=0)
    columns = {p.name: [float(v) for v in p.from_unit(unit[:, j])]
               for j, p in enumerate(spec.parameters)}
    data = _sweep_dict(spec, "prior", spec.steps(quick), 1, size, columns)
    return load_spec(data, source=f"{spec.source} (prior draws)")


def predictive_sweep(spec: CalibrationSpec, draws: pd.DataFrame, quick: bool = False
                     ) -> SweepSpec:
    """The sweep of posterior-predictive runs: one run per row of ``draws`` (parameter columns),
    each with its own seed, none used by the prior runs."""
    columns = {n: [float(v) for v in draws[n]] for n in spec.names}
    data = _sweep_dict(spec, "predictive", spec.steps(quick), PREDICTIVE_SEED,
                       spec.mode(quick)[1], columns)
    return load_spec(data, source=f"{spec.source} (posterior-predictive draws)")


def run(sweep: SweepSpec, out: Path, workers: int = 1, scheduler=None,
        progress: bool = True) -> SweepStatus:
    """Run (or resume) a calibration sweep into ``out`` with the sweep engine."""
    return run_sweep(sweep, out, workers=workers, scheduler=scheduler, progress=progress)


def target_key(target: TargetSpec) -> str:
    """A short hash of a target's summary and arguments: the cache column of its values."""
    text = json.dumps({"summary": target.summary, "args": target.args}, sort_keys=True,
                      default=str)
    return f"{target.summary}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"


def _read_timeseries(out: Path, run_ids: Sequence[str], columns: Sequence[str]) -> pd.DataFrame:
    """``run_id, date`` and ``columns`` of the stored time series of ``run_ids`` (one scan)."""
    import pyarrow.dataset as ds

    files = [str(out / TIMESERIES / f"run-{rid}.parquet") for rid in run_ids]
    dataset = ds.dataset(files, format="parquet")
    absent = [c for c in columns if c not in dataset.schema.names]
    if absent:  # e.g. runs stored by a model without the reporter, resumed by a newer spec
        raise CalibrationError(f"{out}: the stored runs have no reporter {absent} (they have "
                               f"{sorted(set(dataset.schema.names) - {'run_id', 'step'})}); "
                               "run the calibration into a new --out")
    return dataset.to_table(columns=["run_id", "step", "date", *columns]).to_pandas()


def summaries(out: Path, targets: Sequence[TargetSpec], names: Sequence[str]) -> pd.DataFrame:
    """Every finished run of the sweep in ``out`` with its summaries, one column per target.

    Columns: ``run_id, seed``, the parameters ``names``, ``status, wall_seconds, cpu_seconds``
    (NaN in stores written before runs recorded it), then the
    targets' names (NaN for failed runs, or a summary that is not finite, e.g. the log of a zero
    volume). Summaries already in ``out/summaries.parquet`` are read from there.
    """
    out = Path(out)
    results = load_results(out)
    table = results.reindex(columns=["run_id", "seed", *names, "status", "wall_seconds",
                                     "cpu_seconds"]).copy()
    cache_path = out / SUMMARIES
    cache = pd.read_parquet(cache_path) if cache_path.exists() else pd.DataFrame(
        {"run_id": pd.Series(dtype=str)})
    cache = cache.set_index("run_id")
    ok = table.loc[table["status"] == "ok", "run_id"].tolist()
    keys = {target_key(t): t for t in targets}
    changed = False
    for key, target in keys.items():
        known = set(cache.index[cache[key].notna()]) if key in cache else set()
        todo = [rid for rid in ok if rid not in known]
        if not todo:
            continue
        frames = _read_timeseries(out, todo, sorted(set(target.reporters())))
        values = {rid: _evaluate(target, frame)
                  for rid, frame in frames.groupby("run_id", sort=False)}
        cache = cache.reindex(cache.index.union(pd.Index(list(values), name="run_id")))
        if key not in cache:
            cache[key] = np.nan
        cache.loc[list(values), key] = pd.Series(values, dtype=float)
        changed = True
    if changed:
        cache.index.name = "run_id"
        cache.reset_index().to_parquet(cache_path, index=False)
    for key, target in keys.items():
        column = cache[key] if key in cache else pd.Series(dtype=float)
        table[target.name] = table["run_id"].map(column).astype(float)
    return table


def _evaluate(target: TargetSpec, frame: pd.DataFrame) -> float:
    frame = frame.sort_values("step").reset_index(drop=True)
    try:
        value = target.evaluate(frame)
    except (ArithmeticError, ValueError) as error:  # e.g. a fit over a window with a zero
        log.debug("summary %s failed on run %s: %s", target.name, frame["run_id"].iloc[0],
                  error)
        return float("nan")
    return value if np.isfinite(value) else float("nan")
