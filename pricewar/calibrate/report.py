"""What a calibration reports: predictive checks per target, identification of each parameter
(coverage on simulated observations), and the ``calibrated`` scenario file."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import tomli_w

from pricewar.calibrate.abc import rejection_abc, weighted_quantile
from pricewar.calibrate.priors import Prior
from pricewar.calibrate.spec import CalibrationSpec, TargetSpec
from pricewar.scenario import Scenario
from pricewar.scenario.overrides import OVERRIDES, flatten, plain

LEVEL = 0.9
#: observation-noise draws per predictive run in the predictive p-values
NOISE_DRAWS = 50


def predictive_checks(targets: Sequence[TargetSpec], prior: pd.DataFrame,
                      posterior: pd.DataFrame, seed: int) -> pd.DataFrame:
    """One row per target: the observation and its 90% interval, the prior and posterior
    predictive 5%, 50%, 95% quantiles of the model's summary, and the posterior predictive
    p-value.

    The p-value is two-sided, ``2 min(P, 1 - P)`` with ``P`` the share of posterior predictive
    summaries *plus a draw of the observation error* (the target's ``sd``) below the observed
    value: the observation is ``consistent`` with the calibrated model if it lies inside the
    90% predictive interval (``p >= 0.1``), measurement error included.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for target in targets:
        obs = target.observed
        prior_values = prior[target.name].dropna().to_numpy(float)
        post_values = posterior[target.name].dropna().to_numpy(float)
        low, high = obs.interval(LEVEL)
        prior_q = (np.quantile(prior_values, [0.05, 0.5, 0.95]) if prior_values.size
                   else [np.nan] * 3)
        post_q = (np.quantile(post_values, [0.05, 0.5, 0.95]) if post_values.size
                  else [np.nan] * 3)
        p_value = np.nan
        scaled = obs.transform(post_values)
        scaled = scaled[np.isfinite(scaled)]
        if scaled.size:
            noisy = scaled[:, None] + rng.normal(0.0, obs.sd, (scaled.size, NOISE_DRAWS))
            below = float(np.mean(noisy <= obs.observed))
            p_value = 2 * min(below, 1 - below)
        rows.append({
            "target": target.name, "role": "held out" if target.held_out else "fitted",
            "observed_id": obs.id, "unit": obs.unit, "scale": obs.scale, "period": obs.period,
            "observed": obs.value, "observed_low": low, "observed_high": high,
            "observed_sd": obs.sd, "prior_q05": prior_q[0], "prior_q50": prior_q[1],
            "prior_q95": prior_q[2], "posterior_q05": post_q[0], "posterior_q50": post_q[1],
            "posterior_q95": post_q[2], "p_value": p_value,
            "consistent": bool(np.isfinite(p_value) and p_value >= 1 - LEVEL),
            "runs": int(post_values.size), "summary": target.summary,
            "source": obs.source})
    return pd.DataFrame(rows)


def identification(priors: Sequence[Prior], theta: np.ndarray, stats: np.ndarray,
                   quantile: float, target_weights: np.ndarray, pseudo_observations: int,
                   seed: int) -> pd.DataFrame | None:
    """How well the fitted targets identify each parameter, from the prior runs alone (None with
    fewer than 10 runs).

    ``pseudo_observations`` prior runs in turn play the observed data (their summaries carry the
    simulated observation error already); the ABC is run on the other draws and each parameter's
    90% interval is checked for the run's true value. Per parameter: ``coverage`` (share of
    intervals containing the truth; near 0.9 for a calibrated method) and ``width_vs_prior``
    (mean interval width in the prior's unit coordinates over 0.9: near 1 means the targets do
    not inform the parameter). ``theta`` are values (n, d), ``stats`` summaries on the targets'
    scales (n, k).
    """
    n = len(theta)
    if n < 10:
        return None
    rng = np.random.default_rng(seed)
    chosen = rng.choice(n, size=min(pseudo_observations, n // 5), replace=False)
    free = np.column_stack([p.to_free(theta[:, j]) for j, p in enumerate(priors)])
    inside = np.zeros((len(chosen), len(priors)), bool)
    widths = np.zeros((len(chosen), len(priors)))
    for i, run in enumerate(chosen):
        keep = ~np.all(theta == theta[run], axis=1)  # the run and its replicates (same draw)
        result = rejection_abc(free[keep], stats[keep], stats[run], quantile, target_weights)
        for j, prior in enumerate(priors):
            values = prior.from_free(result.theta[:, j])
            low, high = weighted_quantile(values, result.weights, [0.05, 0.95])
            inside[i, j] = low <= theta[run, j] <= high
            widths[i, j] = (prior.to_unit(high) - prior.to_unit(low)) / LEVEL
    return pd.DataFrame({"parameter": [p.name for p in priors],
                         "coverage": inside.mean(axis=0), "width_vs_prior": widths.mean(axis=0),
                         "pseudo_observations": len(chosen)})


def _plain_dict(scenario: Scenario) -> dict:
    data = plain(dataclasses.asdict(scenario))
    data.pop("origin"), data.pop("sources")
    return data


def override_paths(scenario: Scenario, name: str, value) -> dict[str, object]:
    """The scenario keys (dotted paths) the flat override ``name = value`` sets, with the
    values it gives them -- also the keys it sets to the value they already have."""
    data = _plain_dict(scenario)
    marker = object()
    try:  # a plain setter writes the marker into exactly the keys it sets
        marked = copy.deepcopy(data)
        OVERRIDES[name][1](marked, marker)
        paths = [p for p, v in flatten(marked).items() if v is marker]
    except (TypeError, ValueError, ArithmeticError):  # a computed one (counts): what changes
        paths = []
    after = flatten(_plain_dict(scenario.with_overrides(**{name: value})))
    if not paths:
        before = flatten(data)
        paths = [p for p, v in after.items() if before.get(p) != v]
    return {p: after[p] for p in paths}


def _nest(flat: dict[str, object]) -> dict:
    out: dict = {}
    for path, leaf in flat.items():
        *parents, key = path.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[key] = leaf
    return out


def calibrated_scenario_toml(spec: CalibrationSpec, table: pd.DataFrame, method: str,
                             size: dict, date: dt.date | None = None, run: str = "") -> str:
    """The ``calibrated`` scenario: a file with ``base = <the spec's scenario>`` and only the keys
    the estimated parameters (at their posterior medians) and the spec's ``[fixed]`` overrides
    set, each as ``{value, source}``.

    Every key an estimated parameter sets carries the source ``estimated by pricewar calibrate:
    <spec>, <date>`` with the posterior median and 90% interval and the prior; ``run`` (e.g. the
    output directory and budget) goes into the file's header comment.
    """
    date = date or dt.date.today()
    base = spec.base_scenario
    leaves: dict[str, object] = {}
    for name, value in spec.fixed.items():
        text = f"fixed by the calibration spec {spec.name}: {name} = {value!r}"
        for path, new in override_paths(base, name, value).items():
            leaves[path] = {"value": new, "source": text}
    base = base.with_overrides(**spec.fixed)
    medians = {}
    for row in table.itertuples():
        # three significant figures: finer digits are below the posterior's resolution, and the
        # app's sliders (steps of 1e-4 and coarser) run exactly what the file says
        medians[row.parameter] = float(f"{row.median:.3g}")
        text = (f"estimated by pricewar calibrate: {spec.name} ({spec.source}), "
                f"{date.isoformat()}; {method} posterior median {row.median:.6g}, 90% interval "
                f"[{row.q05:.6g}, {row.q95:.6g}], prior {row.prior} "
                f"[{row.prior_low:g}, {row.prior_high:g}]")
        for path, new in override_paths(base, row.parameter, medians[row.parameter]).items():
            leaves[path] = {"value": new, "source": text}
    content = {"base": spec.scenario if _shipped(spec.scenario) else
               str(Path(base.origin).resolve()),
               "name": "calibrated",
               "description": f"{spec.base_scenario.name} with parameters estimated by pricewar "
                              f"calibrate ({spec.name}, {date.isoformat()})",
               **_nest(leaves)}
    intervals = "\n".join(
        f"#   {row.parameter} = {row.median:.4g}  (90% interval {row.q05:.4g} - {row.q95:.4g}; "
        f"prior {row.prior} {row.prior_low:g} - {row.prior_high:g})" for row in table.itertuples())
    header = (f"# The calibrated scenario: {spec.base_scenario.name} with the posterior medians "
              f"of {', '.join(medians)}\n# estimated by pricewar calibrate: {spec.name} "
              f"({spec.source}), {date.isoformat()}, method {method}.\n"
              + (f"# Run: {run}\n" if run else "")
              + f"# Runs of the calibration used the size overrides {size}; they are "
              "not part of this scenario.\n# Posterior medians (90% intervals):\n"
              + intervals + "\n")
    return header + tomli_w.dumps(content)


def _shipped(scenario: str) -> bool:
    return "/" not in scenario and not scenario.endswith(".toml")
