"""Analysis of finished sweeps: Sobol indices and confidence bands."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from pricewar.sweep.spec import Design, design_from_dict
from pricewar.sweep.store import MANIFEST, SweepError, load_results, read_manifest

log = logging.getLogger(__name__)


def _output_column(name: str, columns: list[str], final: int) -> str:
    column = name if "@" in name else f"{name}@{final}"
    if column not in columns:
        raise SweepError(f"output {name!r}: not recorded by this sweep (recorded: {columns})")
    return column


def sobol_indices(out: str | Path, outputs: Iterable[str] | None = None, *,
                  num_resamples: int = 1000, conf_level: float = 0.95,
                  seed: int = 0) -> pd.DataFrame:
    """First-order and total Sobol indices of a finished ``sobol`` sweep (SALib.analyze.sobol).

    Replications are averaged per design point before the analysis (indices of the expected
    output). Confidence intervals are SALib's bootstrap intervals.

    Parameters
    ----------
    out : path
        Sweep directory.
    outputs : list of str, optional
        ``"metric@step"`` columns, or metric names meaning their final step (default: every
        recorded output).

    Returns
    -------
    DataFrame
        Tidy: one row per (output, parameter, index) with columns ``output, parameter, index``
        ("S1" first-order or "ST" total), ``estimate, conf`` (half-width of the interval),
        ``ci_low, ci_high``.
    """
    from SALib.analyze import sobol as sobol_analysis

    out = Path(out)
    manifest = read_manifest(out)
    spec = manifest["spec"]
    if spec["design"]["kind"] != "sobol":
        raise SweepError(f"{out}: Sobol indices need a 'sobol' design "
                         f"(this sweep's is {spec['design']['kind']!r})")
    design: Design = design_from_dict(spec["design"], str(out / MANIFEST))
    columns = manifest["columns"]
    chosen = [_output_column(o, columns, spec["steps"]) for o in (outputs or columns)]
    runs = pd.DataFrame(manifest["runs"])[["run_id", "point"]]
    results = load_results(out)
    merged = runs.merge(results[["run_id", "status", *chosen]], on="run_id", how="left")
    missing = merged[merged["status"] != "ok"]
    if len(missing):
        raise SweepError(f"{out}: {missing['run_id'].nunique()} of {runs['run_id'].nunique()} "
                         "runs are not finished or failed; finish the sweep (--retry-failed) "
                         "before computing Sobol indices")
    means = merged.groupby("point")[chosen].mean().sort_index()
    problem = design.salib_problem()
    rows = []
    for column in chosen:
        y = means[column].to_numpy(dtype=float)
        analysis = sobol_analysis.analyze(problem, y, calc_second_order=design.calc_second_order,
                                          num_resamples=num_resamples, conf_level=conf_level,
                                          seed=seed)
        for i, parameter in enumerate(design.names):
            for index in ("S1", "ST"):
                estimate, conf = float(analysis[index][i]), float(analysis[f"{index}_conf"][i])
                rows.append({"output": column, "parameter": parameter, "index": index,
                             "estimate": estimate, "conf": conf, "ci_low": estimate - conf,
                             "ci_high": estimate + conf})
    return pd.DataFrame(rows)


def confidence_band(frame: pd.DataFrame, by: str | list[str], column: str,
                    level: float = 0.95) -> pd.DataFrame:
    """Mean of ``column`` over replications per ``by`` group with a t confidence interval.

    Returns columns ``by..., mean, sd, n, ci_low, ci_high`` (the interval is NaN for n = 1).
    """
    from scipy import stats

    grouped = frame.groupby(by)[column]
    table = grouped.agg(mean="mean", sd="std", n="count").reset_index()
    half = stats.t.ppf(0.5 + level / 2, np.maximum(table["n"] - 1, 1)) * table["sd"] \
        / np.sqrt(table["n"])
    table["ci_low"] = table["mean"] - half
    table["ci_high"] = table["mean"] + half
    return table
