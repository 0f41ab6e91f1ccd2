"""Parameter sweeps at scale: run a :class:`~pricewar.design.SweepSpec` on local worker processes
or a Dask cluster, store one Parquet row per run as it finishes, resume after any interruption,
and analyse the results (``pricewar sweep``; docs/sweeps.md).

Output directory layout::

    DIR/manifest.json           spec, fingerprint and run table (run_id, point, seed, parameters),
                                written before the first run
    DIR/spec.toml               the canonical spec (``pricewar sweep DIR/spec.toml --out DIR``)
    DIR/results/run-ID.parquet  one row per finished run (ok or failed), written atomically
    DIR/timeseries/run-ID.parquet  every metric at every step (``outputs.timeseries = true``)

A run is *done* when its results file exists; run ids hash scenario, steps, overrides and seed, so
restarting the same command after Ctrl-C, a killed worker or a crash runs exactly the missing runs.
A run that raises is stored with ``status = "failed"`` and its error and does not stop the sweep
(``retry_failed=True`` runs those again).

Process pools and Dask clients are created only inside :func:`run_sweep` (call it from the CLI,
a notebook, or under ``if __name__ == "__main__":`` in a script: ``import mesa`` makes
multiprocessing use *spawn*, which re-imports the calling script in every worker). Workers run
:func:`execute_run`, a top-level function of this module, so they only need ``pricewar`` installed.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime as dt
import json
import logging
import math
import multiprocessing
import os
import signal
import socket
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tomli_w
from tqdm.auto import tqdm

import pricewar
from pricewar.design import Design, SpecError, SweepSpec, design_from_dict, load_spec
from pricewar.errors import PricewarError

__all__ = ["SpecError", "SweepError", "SweepSpec", "SweepStatus", "execute_run", "load_design",
           "load_results", "load_spec", "load_timeseries", "run_sweep", "sobol_indices",
           "sweep_status"]

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
RESULTS = "results"
TIMESERIES = "timeseries"
FORMAT_VERSION = 1


class SweepError(PricewarError, RuntimeError):
    """A sweep cannot start, continue or be analysed (names the directory and the reason)."""


@dataclass(frozen=True)
class SweepStatus:
    """Progress of a sweep directory (counts of distinct runs)."""

    name: str
    total: int
    done: int
    failed: int
    ran: int = 0  # runs executed by the call that returned this status

    @property
    def remaining(self) -> int:
        return self.total - self.done

    @property
    def ok(self) -> int:
        return self.done - self.failed

    def __str__(self) -> str:
        return (f"sweep {self.name!r}: {self.total} runs, {self.done} done "
                f"({self.ok} ok, {self.failed} failed), {self.remaining} remaining")


# ------------------------------------------------------------------------------------------------
# the worker side: one run -> one row
# ------------------------------------------------------------------------------------------------
def execute_run(task: Mapping[str, Any]) -> tuple[dict, pd.DataFrame | None]:
    """Run one model and summarise it (executed in worker processes; must stay top-level).

    Parameters
    ----------
    task : mapping
        ``run_id, seed, scenario`` (a :class:`~pricewar.scenario.Scenario`, so remote workers
        need no scenario file), ``steps, parameters`` (the swept overrides), ``fixed``,
        ``metrics, output_steps, timeseries``.

    Returns
    -------
    row : dict
        ``run_id, seed``, the parameters, ``metric@step`` for every output, ``status`` ("ok" or
        "failed"), ``error`` ("" or "ExceptionType: message"), ``wall_seconds``, ``host``.
    timeseries : DataFrame or None
        Every model metric at every step (when ``task["timeseries"]``).
    """
    from pricewar.runner import model_frame, run_model

    _unpin_malloc_thresholds()
    start = time.perf_counter()
    row: dict[str, Any] = {"run_id": task["run_id"], "seed": int(task["seed"]),
                           **task["parameters"]}
    columns = [f"{m}@{s}" for m in task["metrics"] for s in task["output_steps"]]
    series = None
    try:
        model = run_model(task["scenario"], steps=task["steps"], seed=task["seed"],
                          overrides={**task["fixed"], **task["parameters"]}, progress=False)
        frame = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
        for metric in task["metrics"]:
            for step in task["output_steps"]:
                row[f"{metric}@{step}"] = float(frame[metric].iloc[step])
        row.update(status="ok", error="")
        if task["timeseries"]:
            series = model_frame(model)
            series.insert(0, "run_id", task["run_id"])
    except Exception as error:  # a failing run is a result, not the end of the sweep
        log.debug("run %s failed", task["run_id"], exc_info=True)
        row.update({column: math.nan for column in columns})
        row.update(status="failed", error=f"{type(error).__name__}: {error}")
    row["wall_seconds"] = time.perf_counter() - start
    row["host"] = f"{socket.gethostname()}:{os.getpid()}"
    return row, series


_MALLOC_TUNED = False


def _unpin_malloc_thresholds() -> None:
    """Undo a pinned glibc trim threshold in this worker process (once).

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``. Pinning any glibc malloc
    threshold switches off glibc's dynamic mmap threshold, so every model array above 128 kB is
    mmapped, page-faulted and unmapped again on each allocation: a model run then costs ~1.5x
    the CPU time (measured with experiments/bench_sweep.py). Large fixed thresholds restore the
    default behaviour (freed arrays are reused from the heap); a worker keeps <= 64 MB of freed
    memory for reuse instead of returning it to the OS at once.
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED or "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        return
    _MALLOC_TUNED = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: the variable has no effect there either
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    libc.mallopt(m_mmap_threshold, 32 * 2**20)
    libc.mallopt(m_trim_threshold, 64 * 2**20)


def _ignore_sigint() -> None:
    # Ctrl-C reaches the whole process group; only the parent handles it (cancels and saves),
    # so a worker never dies half-way through reporting a finished run.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# ------------------------------------------------------------------------------------------------
# backends: submit tasks, wait for any, get the outcome
# ------------------------------------------------------------------------------------------------
class _RunLost(Exception):
    """The backend lost a run's worker for good (stored as a failed run)."""


class _SerialBackend:
    """workers=1: runs in this process (no start-up cost, same results as a pool)."""

    in_flight = 1

    def submit(self, task):
        future: cf.Future = cf.Future()
        future.set_result(execute_run(task))
        return future

    def wait_any(self, futures):
        return list(futures)

    def outcome(self, future):
        return future.result()

    def close(self, cancel: bool) -> None:
        pass


class _LocalBackend:
    """A ProcessPoolExecutor with spawn workers (embedded, no server)."""

    def __init__(self, workers: int):
        self.in_flight = 2 * workers
        self.executor = cf.ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
            initializer=_ignore_sigint)

    def submit(self, task):
        return self.executor.submit(execute_run, task)

    def wait_any(self, futures):
        return cf.wait(futures, return_when=cf.FIRST_COMPLETED).done

    def outcome(self, future):
        try:
            return future.result()
        except cf.process.BrokenProcessPool as error:
            raise SweepError(f"a worker process died ({error}); finished runs are saved, "
                             "run the same command again to resume") from None

    def close(self, cancel: bool) -> None:
        if cancel:
            # Python 3.11 has no public way to stop running workers (3.14: terminate_workers)
            processes = list(getattr(self.executor, "_processes", {}).values())
            self.executor.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                process.terminate()
            for process in processes:
                process.join(timeout=5)
        else:  # every result is stored: let the idle workers exit on their own
            self.executor.shutdown(wait=False)


class _DaskBackend:
    """An existing Dask distributed cluster (``scheduler`` address or ``distributed.Client``)."""

    def __init__(self, scheduler):
        import distributed

        self.distributed = distributed
        self.own_client = not isinstance(scheduler, distributed.Client)
        try:
            self.client = (distributed.Client(scheduler, timeout="20s") if self.own_client
                           else scheduler)
        except (OSError, TimeoutError) as error:
            raise SweepError(f"cannot connect to the Dask scheduler at {scheduler!r}: "
                             f"{error}") from None
        threads = sum(self.client.nthreads().values())
        if threads < 1:
            raise SweepError(f"the Dask cluster at {scheduler!r} has no workers")
        self.in_flight = 2 * threads
        self.token = uuid.uuid4().hex[:8]
        self.futures: set = set()

    def submit(self, task):
        future = self.client.submit(execute_run, task, pure=False,
                                    key=f"pricewar-run-{task['run_id']}-{self.token}")
        self.futures.add(future)
        return future

    def wait_any(self, futures):
        return self.distributed.wait(list(futures), return_when="FIRST_COMPLETED").done

    def outcome(self, future):
        self.futures.discard(future)  # drop the reference so the cluster frees the result
        try:
            return future.result()
        except self.distributed.KilledWorker as error:
            # the run killed its worker repeatedly (crash, out of memory): a failed run
            raise _RunLost(f"KilledWorker: {error}") from None
        except (OSError, cf.CancelledError, TimeoutError) as error:
            raise SweepError(f"lost the Dask cluster ({type(error).__name__}: {error}); "
                             "finished runs are saved, run the same command again") from None

    def close(self, cancel: bool) -> None:
        if cancel and self.futures:
            self.client.cancel(list(self.futures))
        self.futures.clear()
        if self.own_client:
            self.client.close()


def _backend(workers: int, scheduler):
    if scheduler is not None:
        return _DaskBackend(scheduler)
    if workers == 1:
        return _SerialBackend()
    return _LocalBackend(workers)


# ------------------------------------------------------------------------------------------------
# the directory: manifest, atomic result files
# ------------------------------------------------------------------------------------------------
def _write_atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)


def _write_frame(frame: pd.DataFrame, path: Path) -> None:
    _write_atomic(path, lambda tmp: frame.to_parquet(tmp, index=False))


def _write_row(row: dict, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pylist([row])  # plain pyarrow: ~4x faster than pandas for one row
    _write_atomic(path, lambda tmp: pq.write_table(table, tmp))


def _read_manifest(out: Path) -> dict:
    path = Path(out) / MANIFEST
    if not path.exists():
        raise SweepError(f"{out}: no {MANIFEST} (not a sweep directory, or never started)")
    return json.loads(path.read_text())


def _spec_differences(old: dict, new: dict) -> list[str]:
    keys = sorted((set(old) | set(new)) - {"name", "description"})
    return [k for k in keys if old.get(k) != new.get(k)]


def _prepare_directory(spec: SweepSpec, runs: pd.DataFrame, out: Path) -> None:
    """Write the manifest, or check that the directory holds this very sweep."""
    out.mkdir(parents=True, exist_ok=True)
    (out / RESULTS).mkdir(exist_ok=True)
    if spec.outputs.timeseries:
        (out / TIMESERIES).mkdir(exist_ok=True)
    manifest_path = out / MANIFEST
    if manifest_path.exists():
        old = json.loads(manifest_path.read_text())
        if old.get("fingerprint") != spec.fingerprint:
            differ = _spec_differences(old.get("spec", {}), spec.to_dict())
            raise SweepError(
                f"{out} holds a different sweep ({old.get('spec', {}).get('name')!r} from "
                f"{old.get('spec_source')}; differs in {differ or 'its design'}): use a new "
                f"--out directory, or the original spec to resume")
        for stale in out.glob("*/.*.tmp"):
            stale.unlink(missing_ok=True)  # a write interrupted by a crash
        return
    manifest = {
        "format": FORMAT_VERSION,
        "pricewar_version": pricewar.__version__,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "fingerprint": spec.fingerprint,
        "spec_source": spec.source,
        "spec": spec.to_dict(),
        "columns": spec.outputs.columns,
        "runs": runs.to_dict(orient="records"),
    }
    _write_atomic(out / "spec.toml", lambda tmp: tmp.write_text(tomli_w.dumps(spec.to_dict())))
    _write_atomic(manifest_path, lambda tmp: tmp.write_text(json.dumps(manifest, indent=1)))


def _result_files(out: Path) -> list[Path]:
    return sorted((Path(out) / RESULTS).glob("run-*.parquet"))


def _read_results(out: Path, columns: list[str] | None = None) -> pd.DataFrame | None:
    """Every stored result row (None if there is none); one dataset scan, per-file fallback."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    files = _result_files(out)
    if not files:
        return None
    try:  # every file has the same schema: one scan of the dataset is fast
        return ds.dataset([str(f) for f in files], format="parquet").to_table(
            columns=columns).to_pandas()
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # e.g. a column's type differs between files
        return pd.concat([pd.read_parquet(f, columns=columns) for f in files],
                         ignore_index=True)


def _finished(out: Path) -> dict[str, str]:
    """run_id -> status of every stored result."""
    frame = _read_results(out, ["run_id", "status"])
    return {} if frame is None else dict(zip(frame["run_id"], frame["status"], strict=True))


def _status(out: Path, manifest: dict, ran: int = 0) -> SweepStatus:
    planned = {r["run_id"] for r in manifest["runs"]}
    finished = {k: v for k, v in _finished(out).items() if k in planned}
    return SweepStatus(name=manifest["spec"]["name"], total=len(planned), done=len(finished),
                       failed=sum(v != "ok" for v in finished.values()), ran=ran)


def sweep_status(out: str | Path) -> SweepStatus:
    """Done, failed and remaining runs of the sweep in directory ``out``."""
    return _status(Path(out), _read_manifest(Path(out)))


# ------------------------------------------------------------------------------------------------
# running
# ------------------------------------------------------------------------------------------------
def run_sweep(spec: str | Path | Mapping | SweepSpec, out: str | Path, workers: int = 1,
              scheduler=None, retry_failed: bool = False, max_runs: int | None = None,
              progress: bool = True) -> SweepStatus:
    """Run (or resume) a sweep into directory ``out``.

    Parameters
    ----------
    spec : path, dict or SweepSpec
        The sweep spec (validated before anything runs; see :mod:`pricewar.design`).
    out : path
        Output directory. If it already holds this sweep, only missing runs run; if it holds a
        different sweep, :class:`SweepError` is raised.
    workers : int
        Local worker processes (1: run in this process). Ignored with ``scheduler``.
    scheduler : str or distributed.Client, optional
        Run on an existing Dask cluster (``"tcp://host:8786"``) instead of local processes.
    retry_failed : bool
        Run again the runs stored as failed.
    max_runs : int, optional
        Stop after this many runs (the rest stay for the next call).
    progress : bool
        Show a tqdm progress bar (runs/s and ETA).

    Returns
    -------
    SweepStatus
        Counts after this call; ``ran`` is the number of runs executed by it.
    """
    spec = load_spec(spec)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SweepError(f"workers = {workers!r}: expected an integer >= 1")
    if max_runs is not None and (not isinstance(max_runs, int) or max_runs < 0):
        raise SweepError(f"max_runs = {max_runs!r}: expected an integer >= 0")
    out = Path(out)
    runs = spec.runs()
    _prepare_directory(spec, runs, out)

    finished = _finished(out)
    unique = runs.drop_duplicates("run_id")
    todo = unique[[rid not in finished or (retry_failed and finished[rid] != "ok")
                   for rid in unique["run_id"]]]
    if max_runs is not None:
        todo = todo.iloc[:max_runs]
    names = spec.design.names
    base = spec.base_scenario
    tasks = ({"run_id": row["run_id"], "seed": int(row["seed"]), "scenario": base,
              "steps": spec.steps, "parameters": {n: row[n] for n in names},
              "fixed": spec.fixed_overrides, "metrics": list(spec.outputs.metrics),
              "output_steps": list(spec.outputs.steps), "timeseries": spec.outputs.timeseries}
             for row in todo.to_dict(orient="records"))
    log.info("sweep %s: %d runs, %d finished, running %d", spec.name, len(unique),
             len(finished), len(todo))

    ran = 0
    if len(todo):
        bar = tqdm(total=len(todo), desc=f"sweep {spec.name}", unit="run", disable=not progress,
                   smoothing=0.1)
        failed = 0

        def store(row: dict, series: pd.DataFrame | None) -> None:
            nonlocal ran, failed
            if series is not None:
                _write_frame(series, out / TIMESERIES / f"run-{row['run_id']}.parquet")
            _write_row(row, out / RESULTS / f"run-{row['run_id']}.parquet")
            ran += 1
            failed += row["status"] != "ok"
            bar.update(1)
            if failed:
                bar.set_postfix(failed=failed)

        backend = _backend(workers, scheduler)
        cancel = True
        try:
            _drive(backend, tasks, store)
            cancel = False
        finally:
            backend.close(cancel=cancel)
            bar.close()
    return _status(out, _read_manifest(out), ran=ran)


def _killed_row(task: Mapping, error: str) -> dict:
    return {"run_id": task["run_id"], "seed": int(task["seed"]), **task["parameters"],
            **{f"{m}@{s}": math.nan for m in task["metrics"] for s in task["output_steps"]},
            "status": "failed", "error": error, "wall_seconds": math.nan, "host": ""}


def _drive(backend, tasks: Iterable[dict], store) -> None:
    """Keep ``backend.in_flight`` runs submitted; store each outcome as it arrives."""
    tasks = iter(tasks)
    pending: dict = {}

    def fill():
        while len(pending) < backend.in_flight:
            task = next(tasks, None)
            if task is None:
                return
            pending[backend.submit(task)] = task

    fill()
    while pending:
        for future in backend.wait_any(list(pending)):
            task = pending.pop(future)
            try:
                row, series = backend.outcome(future)
            except _RunLost as lost:
                row, series = _killed_row(task, str(lost)), None
            store(row, series)
        fill()


# ------------------------------------------------------------------------------------------------
# reading and analysis
# ------------------------------------------------------------------------------------------------
def load_design(out: str | Path) -> pd.DataFrame:
    """The run table written at start: ``run_id, point, seed`` and the swept parameters."""
    return pd.DataFrame(_read_manifest(Path(out))["runs"])


def load_results(out: str | Path) -> pd.DataFrame:
    """One row per finished run (ok and failed), in design order.

    Columns: ``run_id, seed``, the swept parameters, ``metric@step`` outputs, ``status``,
    ``error``, ``wall_seconds``, ``host``.
    """
    out = Path(out)
    manifest = _read_manifest(out)
    frame = _read_results(out)
    if frame is None:
        return pd.DataFrame(columns=["run_id", "seed", *manifest["spec"]["design"]["parameters"],
                                     *manifest["columns"], "status", "error", "wall_seconds",
                                     "host"])
    order = {rid: i for i, rid in enumerate(dict.fromkeys(r["run_id"] for r in manifest["runs"]))}
    frame = frame[frame["run_id"].isin(order)]
    return frame.sort_values("run_id", key=lambda s: s.map(order)).reset_index(drop=True)


def load_timeseries(out: str | Path) -> pd.DataFrame:
    """Every metric at every step of every finished run (``outputs.timeseries = true``),
    with ``run_id`` and ``step`` columns; join :func:`load_results` on ``run_id`` for parameters."""
    files = sorted((Path(out) / TIMESERIES).glob("run-*.parquet"))
    if not files:
        raise SweepError(f"{out}: no time series (set outputs.timeseries = true in the spec)")
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


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
    manifest = _read_manifest(out)
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


# ------------------------------------------------------------------------------------------------
# CLI: pricewar sweep SPEC.toml --out DIR [--workers N] [--scheduler ADDRESS]
# ------------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", nargs="?", help="sweep spec (TOML)")
    parser.add_argument("--out", help="output directory (resumes if it holds this sweep)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="local worker processes (default: CPU count; 1 = in-process)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run on an existing Dask cluster, e.g. tcp://10.0.0.5:8786")
    parser.add_argument("--retry-failed", action="store_true", help="run failed runs again")
    parser.add_argument("--max-runs", type=int, default=None, metavar="N",
                        help="stop after N runs (resume later with the same command)")
    parser.add_argument("--status", metavar="DIR", help="report done/failed/remaining of DIR")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    if args.status:
        status = sweep_status(args.status)
        print(status)
        failed = load_results(args.status)
        failed = failed[failed["status"] != "ok"]
        for row in failed.head(10).itertuples():
            print(f"  failed {row.run_id} (seed {row.seed}): {row.error}")
        if len(failed) > 10:
            print(f"  ... and {len(failed) - 10} more failed runs")
        return 0
    if not args.spec or not args.out:
        raise SpecError("command line", "spec/--out", args.spec,
                        "give a spec and --out DIR (or --status DIR)")
    spec = load_spec(args.spec)
    workers = max(1, args.workers)
    where = f"Dask scheduler {args.scheduler}" if args.scheduler else f"{workers} local worker(s)"
    print(f"sweep {spec.name!r}: {len(spec.runs())} runs on {where} -> {args.out}")
    try:
        status = run_sweep(spec, args.out, workers=workers, scheduler=args.scheduler,
                           retry_failed=args.retry_failed, max_runs=args.max_runs,
                           progress=not args.quiet)
    except KeyboardInterrupt:
        print(f"interrupted: finished runs are saved in {args.out}; run the same command "
              "again to resume")
        return 130
    print(status)
    return 0
