"""Plumbing shared by the experiments: runs with observations, points x seeds, aggregation, output files.

:func:`run_observed` (one run, observations at chosen steps), :func:`run_points` (a list of override
points x seeds, or x posterior draws x seeds, with a tqdm progress bar), :func:`aggregate` (mean
and min-max band over seeds; over draws x seeds the median and 90% interval),
:func:`paired_interval` (a lever's effect within each draw and seed: median and 90% interval).
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

from pricewar.model import PriceWarModel
from pricewar.runs.runner import run_model
from pricewar.scenario import Scenario

log = logging.getLogger(__name__)


QUICK_CONSUMERS = 500


FULL_CONSUMERS = 2000


CN_CONSUMER_REGIONS = ("cn_west", "cn_east")


@dataclass
class ExperimentResult:
    """What an experiment wrote and found."""

    name: str
    headline: dict
    table: pd.DataFrame
    files: list[Path] = field(default_factory=list)


# ------------------------------------------------------------------------------------------------
# running the model (through the runner's loop)
# ------------------------------------------------------------------------------------------------
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
    wanted = {steps} if at_steps is None else set(at_steps)
    observations = []

    def record(model: PriceWarModel) -> None:
        if model.steps in wanted:
            observations.append({"step": model.steps, "date": pd.Timestamp(model.date),
                                 **observe(model)})

    model = run_model(scenario, steps=steps, seed=seed, overrides=overrides, progress=False,
                      on_step=record)
    return model, observations


def run_points(points: Sequence[Mapping], seeds: Sequence[int], steps: int,
               observe: Observer = metrics_observer, at_steps: Iterable[int] | None = None, *,
               fixed: Mapping | None = None, scenario: str | Scenario = "baseline",
               progress: bool = True, desc: str = "runs",
               draws: Sequence[tuple[int, Mapping]] | None = None) -> pd.DataFrame:
    """Run every override point with every seed; one row per (point, seed, observed step).

    Parameters
    ----------
    points : override dicts (the varied parameters; they become columns of the result)
    seeds : model seeds (replications)
    steps : steps per run
    observe : ``model -> dict`` of observed quantities
    at_steps : steps at which to observe (default: the last)
    fixed : overrides common to every run (not in the result's columns)
    draws : posterior draws ``(draw id, overrides)``: every point then runs at every draw x
        every seed (the same draws and seeds at every point: common random numbers), with a
        ``draw`` column; a point's and ``fixed``'s values win over a draw's
    """
    if not points or not seeds:
        raise ValueError(f"run_points needs points and seeds (got {len(points)} points, "
                         f"{len(seeds)} seeds)")
    at_steps = list(at_steps) if at_steps is not None else None
    chosen: Sequence[tuple[int | None, Mapping]] = draws or [(None, {})]
    rows = []
    bar = tqdm(total=len(points) * len(chosen) * len(seeds), desc=desc, unit="run",
               disable=not progress, leave=False)
    with bar:
        for point in points:
            for draw, values in chosen:
                for seed in seeds:
                    _, observations = run_observed({**dict(values), **dict(fixed or {}),
                                                    **point}, seed, steps, observe, at_steps,
                                                   scenario)
                    tag = {"draw": draw} if draws else {}
                    rows += [{**point, **tag, "seed": seed, **o} for o in observations]
                    bar.update()
    return pd.DataFrame(rows)


def paired_interval(table: pd.DataFrame, by: Sequence[str], column: str,
                    low: Mapping, high: Mapping) -> dict[str, float] | None:
    """The median and 90% interval over draws x seeds of ``column`` at ``high`` minus at
    ``low`` (two settings of the ``by`` columns), taken within each (draw, seed): a policy's
    effect on common draws and seeds. None when a setting is missing."""
    keyed = table.set_index(["draw", "seed", *by])[column]
    try:
        diff = (keyed.xs(tuple(high[b] for b in by), level=list(by))
                - keyed.xs(tuple(low[b] for b in by), level=list(by)))
    except KeyError:
        return None
    values = diff.dropna().to_numpy(float)
    if not len(values):
        return None
    mid, q05, q95 = np.quantile(values, DRAW_QUANTILES)
    return {"median": float(mid), "q05": float(q05), "q95": float(q95), "pairs": len(values)}


#: the suffixes of :func:`aggregate`'s columns: centre, band low, band high
SEED_BAND = ("mean", "lo", "hi")
#: ... over posterior draws x seeds: median and the 90% interval (quantiles 5% and 95%)
DRAW_BAND = ("median", "q05", "q95")
DRAW_QUANTILES = (0.5, 0.05, 0.95)


def band_suffixes(over_draws: bool) -> tuple[str, str, str]:
    """:data:`DRAW_BAND` over draws, else :data:`SEED_BAND`."""
    return DRAW_BAND if over_draws else SEED_BAND


def aggregate(table: pd.DataFrame, by: Sequence[str], columns: Sequence[str],
              over_draws: bool = False) -> pd.DataFrame:
    """Mean and min-max band over seeds: columns ``<c>_mean``, ``<c>_lo``, ``<c>_hi``; with
    ``over_draws`` (rows are posterior draws x seeds) the median and the 90% interval:
    ``<c>_median``, ``<c>_q05``, ``<c>_q95``."""
    grouped = table.groupby(list(by), sort=True)
    parts = {}
    for column in columns:
        if over_draws:
            for suffix, q in zip(DRAW_BAND, DRAW_QUANTILES, strict=True):
                parts[f"{column}_{suffix}"] = grouped[column].quantile(q)
            continue
        parts[f"{column}_mean"] = grouped[column].mean()
        parts[f"{column}_lo"] = grouped[column].min()
        parts[f"{column}_hi"] = grouped[column].max()
    out = pd.DataFrame(parts).reset_index()
    if "date" in table and "date" not in by:
        out.insert(len(by), "date", grouped["date"].first().to_numpy())
    return out


def experiment_mode(quick: bool, seeds: Sequence[int] | None, quick_seeds: Sequence[int],
          full_seeds: Sequence[int]) -> tuple[tuple[int, ...], int]:
    chosen = tuple(seeds) if seeds else tuple(quick_seeds if quick else full_seeds)
    return chosen, QUICK_CONSUMERS if quick else FULL_CONSUMERS


#: the scenario the experiments run by default (their figure notes and headlines then keep the
#: text of the committed figures)
DEFAULT_SCENARIO = "baseline"


def scenario_fields(scenario: str) -> dict:
    """Headline entry naming the scenario: none for the default scenario (its headlines are those
    of the committed figures), else ``{"scenario": scenario}``."""
    return {} if scenario == DEFAULT_SCENARIO else {"scenario": scenario}


def draws_text(draws: Sequence, seeds: Sequence[int]) -> str:
    """``median and 90% interval over N draws x S seeds`` (the legend of a band over draws)."""
    return f"median and 90% interval over {len(draws)} draws x {len(seeds)} seeds"


def figure_note(quick: bool, seeds: Sequence[int], n_consumers: int, script: str, data: str = "",
                bands: str = "lines: mean; bands: min-max",
                scenario: str = DEFAULT_SCENARIO, draws: Sequence | None = None,
                draws_file=None, draws_bands: str = "lines: median; bands: 90% interval"
                ) -> str:
    """The source line under a figure: model, scenario, seeds (and how ``bands`` summarise
    them; over posterior ``draws`` of ``draws_file``: how ``draws_bands`` summarise the runs),
    consumers, the script, then the data sources."""
    seed_text = f"seed {seeds[0]}" if len(seeds) == 1 else (
        f"seeds {seeds[0]}-{seeds[-1]} ({bands})")
    if draws:
        seed_text = (f"{len(draws)} posterior draws ({Path(str(draws_file)).name}) x seeds "
                     f"{', '.join(map(str, seeds))} ({draws_bands})")
    check = " Quick check with fewer points, steps and consumers: not the published figure." \
        if quick else ""
    if scenario == DEFAULT_SCENARIO:
        scenario_text, command = "baseline scenario", f"experiments/{script}.py"
    else:
        scenario_text = f"scenario {scenario}"
        command = f"experiments/{script}.py --scenario {scenario}"
    if draws:
        command += f" --draws {len(draws)}"
    text = (f"Source: pricewar model, {scenario_text}, {seed_text}, {n_consumers} consumers; "
            f"{command}.{check}")
    return f"{text} Data: {data}" if data else text


def json_ready(value):
    """Plain Python for JSON: numpy scalars -> float/int, NaN/inf -> None, keys -> str."""
    if isinstance(value, Mapping):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, np.integer | bool | np.bool_):
        return bool(value) if isinstance(value, bool | np.bool_) else int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, pd.Timestamp):
        return value.date().isoformat()
    return value


def write_table(table: pd.DataFrame, out_dir: Path, name: str) -> Path:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.csv"
    table.to_csv(path, index=False, float_format="%.12g")
    return path


def observed_path(name: str) -> Path:
    """Path of a file in ``pricewar/data/observed`` (observed data behind the figures)."""
    return Path(str(resources.files("pricewar") / "data" / "observed" / name))
