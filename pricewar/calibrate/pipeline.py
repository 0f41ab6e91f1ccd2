"""One calibration, end to end: prior sweep -> summaries -> posterior -> predictive runs ->
checks, figures, the calibrated scenario and a summary (``pricewar calibrate``)."""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pricewar.atomic_writes import FolderLock, check_output_dir, write_file_atomic
from pricewar.calibrate import plots, simulate
from pricewar.calibrate.abc import rejection_abc
from pricewar.calibrate.posterior import (
    POSTERIOR,
    CalibrationError,
    parameter_table,
    resample,
)
from pricewar.calibrate.priors import from_free_matrix, to_free_matrix
from pricewar.calibrate.report import (
    calibrated_scenario_toml,
    identification,
    predictive_checks,
)
from pricewar.calibrate.spec import CalibrationSpec, load_calibration_spec
from pricewar.runs.harness import json_ready
from pricewar.sweep.backends import check_scheduler
from pricewar.sweep.store import SweepStatus

log = logging.getLogger(__name__)

#: posterior draws NPE writes (ABC writes its accepted runs)
NPE_DRAWS = 4000
#: prior runs that play the observation in the identification check (full, quick)
PSEUDO_OBSERVATIONS = (50, 20)
#: the files a calibration writes into its folder (checked to be files, or absent, before work)
OUTPUT_FILES = (POSTERIOR, "parameters.csv", "predictive_checks.csv", "held_out_checks.csv",
                "identification.csv", "calibrated.toml", "summary.json",
                *(f"{figure}.{ext}" for figure in ("posterior_marginals", "posterior_predictive")
                  for ext in ("png", "svg")))


@dataclass
class CalibrationResult:
    """What a calibration found and wrote (tables are also files in ``out``)."""

    out: Path
    method: str
    quick: bool
    parameters: pd.DataFrame
    checks: pd.DataFrame
    identification: pd.DataFrame | None
    draws: pd.DataFrame
    prior_status: SweepStatus
    predictive_status: SweepStatus
    summary: dict
    files: list[Path] = field(default_factory=list)


def _scaled(spec: CalibrationSpec, table: pd.DataFrame, targets) -> np.ndarray:
    return np.column_stack([t.observed.transform(table[t.name].to_numpy(float))
                            for t in targets])


def calibrate(spec, out: str | Path, *, quick: bool = False, workers: int = 1, scheduler=None,
              method: str | None = None, progress: bool = True) -> CalibrationResult:
    """Estimate the spec's parameters and check the fit (see docs/calibration.md, Estimation).

    Parameters
    ----------
    spec : path, dict or CalibrationSpec
        Validated before anything runs.
    out : path
        Output directory. Running the same command again resumes the sweeps in it.
    quick : bool
        Use the spec's ``[quick]`` budget and size.
    workers, scheduler
        Local worker processes, or a Dask scheduler address (as ``pricewar sweep``).
    method : "abc" or "npe", optional
        Overrides the spec's ``method``.
    """
    spec = load_calibration_spec(spec)
    method = method or spec.method
    if method not in ("abc", "npe"):
        raise CalibrationError(f"method = {method!r}: expected 'abc' or 'npe'")
    if method == "npe":
        from pricewar.calibrate import npe

        npe.check_available()  # before any run, not after an hour of them
    if scheduler is not None:
        check_scheduler(scheduler)
    out = check_output_dir(out)
    simulate.prior_sweep(spec, quick)  # validated before the folder is made
    taken = [name for name in OUTPUT_FILES if (out / name).exists() and not (out / name).is_file()]
    if taken:
        raise CalibrationError(f"{out / taken[0]} is a folder or special file, not a file: the "
                               f"calibration writes its result there; move it away")
    out.mkdir(parents=True, exist_ok=True)
    with FolderLock(out, "calibration"):  # a second calibration in DIR fails at once
        return _calibrate(spec, out, quick, workers, scheduler, method, progress)


def _calibrate(spec: CalibrationSpec, out: Path, quick: bool, workers: int, scheduler,
               method: str, progress: bool) -> CalibrationResult:
    budget, size = spec.mode(quick)
    seconds: dict[str, float] = {}

    start = time.perf_counter()
    prior_dir = out / "prior"
    prior_status = simulate.run(simulate.prior_sweep(spec, quick), prior_dir, workers, scheduler,
                                progress)
    seconds["prior_runs"] = time.perf_counter() - start
    start = time.perf_counter()
    prior = simulate.summaries(prior_dir, spec.targets, spec.names)
    fit = spec.fit_targets
    usable = prior[(prior["status"] == "ok")
                   & np.isfinite(_scaled(spec, prior, fit)).all(axis=1)].reset_index(drop=True)
    needed = len(spec.parameters) + 2
    if len(usable) * budget.acceptance_quantile < needed:
        raise CalibrationError(
            f"{prior_dir}: only {len(usable)} of {len(prior)} prior runs finished with finite "
            f"summaries of every fitted target ({prior_status.failed} failed): too few to "
            "accept; see the failed runs with pricewar sweep --status")
    rng = np.random.default_rng(budget.seed)
    observed = np.array([t.observed.observed for t in fit])
    sds = np.array([t.observed.sd for t in fit])
    # observation error: each simulated summary gets a draw of the target's measurement error,
    # so the ABC compares like with like (Wilkinson 2013) and a loose target weighs less
    stats = _scaled(spec, usable, fit) + rng.normal(0.0, sds, (len(usable), len(fit)))
    values = usable[spec.names].to_numpy(float)
    weights = np.array([t.weight for t in fit])
    if method == "abc":
        result = rejection_abc(to_free_matrix(spec.parameters, values), stats, observed,
                               budget.acceptance_quantile, weights)
        draws = pd.DataFrame(from_free_matrix(spec.parameters, result.theta), columns=spec.names)
        draws["weight"] = result.weights
        draws["run_id"] = usable["run_id"].to_numpy()[result.accepted]
        draws["distance"] = result.distance
        for j, name in enumerate(spec.names):
            draws[f"{name}_unadjusted"] = values[result.accepted, j]
        ident = identification(spec.parameters, values, stats, budget.acceptance_quantile,
                               weights, PSEUDO_OBSERVATIONS[quick], budget.seed)
    else:
        from pricewar.calibrate import npe

        unit = np.column_stack([p.to_unit(values[:, j])
                                for j, p in enumerate(spec.parameters)])
        unit_draws = npe.npe_draws(unit, stats, observed, NPE_DRAWS, budget.seed,
                                   out / "npe-logs")
        draws = pd.DataFrame({p.name: p.from_unit(unit_draws[:, j])
                              for j, p in enumerate(spec.parameters)})
        draws["weight"] = 1.0 / len(draws)
        ident = None
    write_file_atomic(out / POSTERIOR, lambda tmp: draws.to_parquet(tmp, index=False))
    table = parameter_table(draws, spec.parameters)
    seconds["estimation"] = time.perf_counter() - start

    start = time.perf_counter()
    chosen = resample(draws, budget.posterior_predictive, budget.seed)
    predictive = simulate.predictive_sweep(spec, chosen, quick)
    # one directory per set of draws: another method or target set resumes its own runs
    predictive_dir = out / "predictive" / predictive.fingerprint[:12]
    predictive_status = simulate.run(predictive, predictive_dir, workers, scheduler, progress)
    seconds["predictive_runs"] = time.perf_counter() - start
    predictive = simulate.summaries(predictive_dir, spec.targets, spec.names)
    checks = predictive_checks(spec.targets, prior, predictive, budget.seed)

    files = _write_outputs(spec, out, method, quick, size, table, checks, ident, draws)
    summary = _summary(spec, method, quick, workers, scheduler, prior, usable, draws, table,
                       checks, ident, prior_status, predictive_status, seconds, files)
    path = out / "summary.json"
    write_file_atomic(path, lambda tmp: tmp.write_text(json.dumps(json_ready(summary), indent=1)))
    files.append(path)
    return CalibrationResult(out=out, method=method, quick=quick, parameters=table,
                             checks=checks, identification=ident, draws=draws,
                             prior_status=prior_status, predictive_status=predictive_status,
                             summary=summary, files=files)


def _write_outputs(spec: CalibrationSpec, out: Path, method: str, quick: bool, size: dict,
                   table: pd.DataFrame, checks: pd.DataFrame, ident: pd.DataFrame | None,
                   draws: pd.DataFrame) -> list[Path]:
    files = [out / POSTERIOR]
    for name, frame in (("parameters", table), ("predictive_checks", checks),
                        ("held_out_checks", checks[checks["role"] == "held out"]),
                        ("identification", ident)):
        if frame is not None:
            write_file_atomic(out / f"{name}.csv", lambda tmp, frame=frame: frame.to_csv(
                tmp, index=False, float_format="%.6g"))
            files.append(out / f"{name}.csv")
    today = dt.date.today()
    budget, _ = spec.mode(quick)
    runs = budget.simulations * budget.seeds_per_draw
    run = (f"{out}{' (--quick)' if quick else ''}: {runs} prior runs (seeds 1-{runs}), "
           f"acceptance quantile {budget.acceptance_quantile:g}, {len(draws)} posterior draws, "
           f"{budget.posterior_predictive} posterior-predictive runs (seeds from "
           f"{simulate.PREDICTIVE_SEED}), {spec.steps(quick)} steps")
    scenario = out / "calibrated.toml"
    text = calibrated_scenario_toml(spec, table, method, size, today, run)
    write_file_atomic(scenario, lambda tmp: tmp.write_text(text))
    files.append(scenario)
    note = (f"pricewar calibrate {spec.name} ({method}{', quick' if quick else ''}): "
            f"{budget.simulations * budget.seeds_per_draw} prior runs, "
            f"{budget.posterior_predictive} posterior-predictive runs, size {size}, "
            f"{today.isoformat()}. Targets: docs/calibration.md and "
            "pricewar/data/observed/calibration_targets.csv.")
    files += plots.plot_marginals(draws, spec.parameters, table, out, note)
    files += plots.plot_predictive(checks, out, note)
    return files


def _summary(spec, method, quick, workers, scheduler, prior, usable, draws, table, checks,
             ident, prior_status, predictive_status, seconds, files) -> dict:
    budget, size = spec.mode(quick)
    ok = prior["status"] == "ok"
    run_seconds = float(prior.loc[ok, "wall_seconds"].median()) if ok.any() else None
    cpu = prior.loc[ok, "cpu_seconds"].dropna()
    run_cpu = float(cpu.median()) if len(cpu) else None
    return {
        "spec": spec.name, "spec_source": spec.source, "scenario": spec.scenario,
        "skipped_targets": {name: list(reporters) for name, reporters in spec.skipped},
        "method": method, "quick": quick, "date": dt.date.today().isoformat(),
        "where": scheduler if scheduler else f"{workers} local worker(s)",
        "steps": spec.steps(quick), "size": size, "fixed": spec.fixed,
        "budget": {k: getattr(budget, k) for k in budget.__dataclass_fields__},
        "prior_runs": {"total": prior_status.total, "failed": prior_status.failed,
                       "ok": int(ok.sum()), "usable": len(usable)},
        "accepted": len(draws) if method == "abc" else None,
        "parameters": table.to_dict(orient="records"),
        "checks": checks.drop(columns=["source"]).to_dict(orient="records"),
        "held_out_consistent": int(checks.loc[checks["role"] == "held out",
                                              "consistent"].sum()),
        "held_out_total": int((checks["role"] == "held out").sum()),
        "identification": None if ident is None else ident.to_dict(orient="records"),
        "predictive_runs": {"total": predictive_status.total,
                            "failed": predictive_status.failed},
        "seconds": seconds,
        # seconds of one run inside its worker (wall time)
        "run_seconds_median": run_seconds,
        # CPU time of one run in its process (wall time also counts a shared machine's load)
        "run_cpu_seconds_median": run_cpu,
        "simulations_per_cpu_hour": 3600.0 / run_cpu if run_cpu else None,
        "files": [Path(f).name for f in files],
    }

