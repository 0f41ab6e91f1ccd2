"""Posterior draws: the table written by ``pricewar calibrate``, its summaries, and draws of it as
override dicts (so runs can carry parameter uncertainty).

``DIR/posterior.parquet`` has one row per draw: a column per estimated parameter (its value, the
override a run gets), ``weight`` (summing to 1), and for ABC draws the accepted prior run they
come from (``run_id``), its ``distance`` and its unadjusted parameters (``<name>_unadjusted``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pricewar.calibrate.abc import weighted_mean_sd, weighted_quantile
from pricewar.calibrate.priors import Prior
from pricewar.errors import PricewarError

POSTERIOR = "posterior.parquet"
META_COLUMNS = ("weight", "run_id", "distance")


class CalibrationError(PricewarError, RuntimeError):
    """A calibration cannot go on or be read (names the directory or the reason)."""


def load_posterior(source: str | Path | pd.DataFrame) -> pd.DataFrame:
    """The posterior draws of a calibration directory (or a draws table, passed through)."""
    if isinstance(source, pd.DataFrame):
        return source
    path = Path(source)
    path = path / POSTERIOR if path.is_dir() else path
    if not path.exists():
        raise CalibrationError(f"{source}: no {POSTERIOR} (not a calibration directory, or the "
                               "calibration did not finish)")
    return pd.read_parquet(path)


def parameter_columns(draws: pd.DataFrame) -> list[str]:
    """The estimated parameters' columns of a draws table."""
    return [c for c in draws.columns
            if c not in META_COLUMNS and not c.endswith("_unadjusted")]


def resample(draws: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` rows drawn with replacement with probability ``weight`` (an unweighted sample)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise CalibrationError(f"n = {n!r}: expected an integer >= 1")
    weights = draws["weight"].to_numpy(float)
    rows = np.random.default_rng(seed).choice(len(draws), size=n, p=weights / weights.sum())
    return draws.iloc[rows].reset_index(drop=True)


def posterior_overrides(source: str | Path | pd.DataFrame, n: int, seed: int = 0
                        ) -> list[dict[str, float]]:
    """``n`` posterior draws as flat override dicts, e.g. for runs that carry parameter
    uncertainty::

        for i, overrides in enumerate(posterior_overrides("calib/", 20)):
            run_model("baseline", seed=i, overrides=overrides)

    Parameters
    ----------
    source : a calibration directory, its ``posterior.parquet``, or a draws table
    n : number of draws (resampled by weight, with replacement)
    seed : seed of the resampling
    """
    draws = resample(load_posterior(source), n, seed)
    names = parameter_columns(draws)
    return [{name: float(row[name]) for name in names} for _, row in draws.iterrows()]


def parameter_table(draws: pd.DataFrame, priors: Sequence[Prior]) -> pd.DataFrame:
    """Per parameter: prior, posterior mean, s.d., median and 90% interval (``q05``, ``q95``),
    and the interval's width relative to the prior's 90% interval (in the prior's unit
    coordinates: 1 = the data say nothing about the parameter, 0.1 = they pin it to a tenth of
    its prior range)."""
    weights = draws["weight"].to_numpy(float)
    rows = []
    for prior in priors:
        values = draws[prior.name].to_numpy(float)
        mean, sd = weighted_mean_sd(values, weights)
        low, median, high = weighted_quantile(values, weights, [0.05, 0.5, 0.95])
        width = float(prior.to_unit(high) - prior.to_unit(low)) / 0.9
        rows.append({"parameter": prior.name, "prior": prior.kind, "prior_low": prior.low,
                     "prior_high": prior.high, "mean": mean, "sd": sd, "q05": float(low),
                     "median": float(median), "q95": float(high), "width_vs_prior": width})
    return pd.DataFrame(rows)
