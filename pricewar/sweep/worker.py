"""The worker side of a sweep: one run -> one result row (executed in worker processes)."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
import time
from collections.abc import Mapping
from typing import Any

import pandas as pd

log = logging.getLogger(__name__)


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
        "failed"), ``error`` ("" or "ExceptionType: message"), ``warnings`` (the model's
        warnings, "; "-separated; not logged here: the sweep reports them once), ``wall_seconds``,
        ``cpu_seconds`` (the run's CPU time in its process), ``host``.
    timeseries : DataFrame or None
        Every model metric at every step (when ``task["timeseries"]``).
    """
    from pricewar.runs.runner import model_frame, run_model

    _unpin_malloc_thresholds()
    start, cpu_start = time.perf_counter(), time.process_time()
    row: dict[str, Any] = {"run_id": task["run_id"], "seed": int(task["seed"]),
                           **task["parameters"]}
    columns = [f"{m}@{s}" for m in task["metrics"] for s in task["output_steps"]]
    series = None
    warnings = ""
    try:
        with _health_log_muted():
            model = run_model(task["scenario"], steps=task["steps"], seed=task["seed"],
                              overrides={**task["fixed"], **task["parameters"]}, progress=False,
                              agent_reporters=False)  # a sweep keeps model reporters only
        warnings = "; ".join(model.warnings)
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
    row["warnings"] = warnings
    row["wall_seconds"] = time.perf_counter() - start
    row["cpu_seconds"] = time.process_time() - cpu_start  # the run's own: a shared machine's
    # other load stretches wall time, not this
    row["host"] = f"{socket.gethostname()}:{os.getpid()}"
    return row, series


@contextlib.contextmanager
def _health_log_muted():
    """The model's warnings go into the result row, not one log line per run of the sweep."""
    logger = logging.getLogger("pricewar.model.health")
    muted = logging.Filter("nothing")  # a filter matching no logger name drops every record
    logger.addFilter(muted)
    try:
        yield
    finally:
        logger.removeFilter(muted)


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
