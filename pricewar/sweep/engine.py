"""Running (or resuming) a sweep into a directory."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from pricewar.atomic_writes import FolderLock, OutputError, check_output_dir
from pricewar.sweep.backends import check_scheduler, drive, make_backend
from pricewar.sweep.spec import SweepSpec, load_spec
from pricewar.sweep.store import (
    RESULTS,
    TIMESERIES,
    Rejection,
    SweepError,
    SweepStatus,
    finished_runs,
    prepare_directory,
    read_manifest,
    status_of,
    write_frame,
    write_row,
)

log = logging.getLogger(__name__)


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
        different sweep, :class:`SweepError` is raised. It is checked before anything runs and
        locked while the sweep runs: a second sweep on it fails at once
        (:class:`~pricewar.atomic_writes.OutputError`). Unreadable result files are moved into
        ``out/quarantine/`` and their runs run again.
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
    if scheduler is not None:
        check_scheduler(scheduler)
    out = check_output_dir(out)
    runs = spec.runs()
    try:
        out.mkdir(parents=True, exist_ok=True)
        with FolderLock(out, "sweep"):
            return _run_locked(spec, runs, out, workers, scheduler, retry_failed, max_runs,
                               progress)
    except OSError as error:  # a full disk, a folder made read-only while the sweep runs
        raise OutputError(f"cannot write the sweep in {out}: {error}; finished runs are saved, "
                          f"run the same command again to resume") from None


def _run_locked(spec: SweepSpec, runs: pd.DataFrame, out: Path, workers: int, scheduler,
                retry_failed: bool, max_runs: int | None, progress: bool) -> SweepStatus:
    prepare_directory(spec, runs, out)
    rejected: list[Rejection] = []
    finished = finished_runs(out, read_manifest(out), move_unreadable=True, rejected=rejected)
    for rejection in rejected:
        log.warning("%s", rejection)
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
    warned: list[dict] = []
    if len(todo):
        bar = tqdm(total=len(todo), desc=f"sweep {spec.name}", unit="run", disable=not progress,
                   smoothing=0.1)
        failed = 0

        def store(row: dict, series: pd.DataFrame | None) -> None:
            nonlocal ran, failed
            if series is not None:
                write_frame(series, out / TIMESERIES / f"run-{row['run_id']}.parquet")
            write_row(row, out / RESULTS / f"run-{row['run_id']}.parquet")
            ran += 1
            failed += row["status"] != "ok"
            if row.get("warnings"):
                warned.append(row)
            bar.update(1)
            if failed:
                bar.set_postfix(failed=failed)

        backend = make_backend(workers, scheduler)
        cancel = True
        try:
            drive(backend, tasks, store)
            cancel = False
        finally:
            backend.close(cancel=cancel)
            bar.close()
            if warned:
                log.warning("%d of %d runs warned, e.g. run %s: %s (the 'warnings' column of "
                            "load_results has them all)", len(warned), ran,
                            warned[0]["run_id"], warned[0]["warnings"])
    return status_of(out, read_manifest(out), ran=ran, rejected=rejected)
