"""Where runs execute: in this process, local spawn workers, or a Dask cluster.

A backend submits tasks, waits for any to finish and returns each outcome; ``drive`` keeps
``backend.in_flight`` runs submitted and stores each outcome as it arrives.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import logging
import math
import multiprocessing
import os
import re
import signal
import threading
import time
import uuid
from collections.abc import Iterable, Mapping

from pricewar.processes import die_with_parent, progress_bars_lock_threads_only
from pricewar.sweep.store import SweepError
from pricewar.sweep.worker import execute_run

log = logging.getLogger(__name__)

#: how often a Dask sweep waiting for runs checks that the cluster still has workers (s)
DASK_POLL_SECONDS = 5.0
#: a Dask sweep fails (finished runs saved) after this long without a single worker (s)
NO_WORKERS_SECONDS = 60.0

#: a Dask scheduler address: ``[protocol://]host[:port]``
SCHEDULER_ADDRESS = re.compile(r"^(?:[a-z][a-z0-9+]*://)?(?:\[[0-9a-fA-F:.]+\]|[\w.-]+)"
                               r"(?::\d{1,5})?/?$")


def check_scheduler(scheduler) -> None:
    """Refuse a scheduler that is not a Dask address nor a ``distributed.Client`` (before any
    work: the output folder is not created)."""
    if isinstance(scheduler, str) and not SCHEDULER_ADDRESS.match(scheduler.strip()):
        raise SweepError(f"--scheduler {scheduler!r}: not a Dask scheduler address (expected "
                         f"e.g. tcp://10.0.0.5:8786 or 10.0.0.5:8786)")


def _init_worker(parent_pid: int) -> None:
    # Ctrl-C reaches the whole process group; only the parent handles it (cancels and saves),
    # so a worker never dies half-way through reporting a finished run.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # a SIGKILLed parent cannot stop its workers: they end themselves (~230 MB each otherwise)
    die_with_parent(parent_pid)
    # a worker terminated on Ctrl-C leaves no semaphore for the resource tracker to report
    progress_bars_lock_threads_only()


@contextlib.contextmanager
def _ctrl_c_ignored():
    """Ignore SIGINT in this process for the block, then restore its handler (main thread only).

    Two uses. Starting worker processes (a started process inherits it): a Ctrl-C on the
    terminal reaches the whole process group, and a worker still importing pricewar would
    otherwise die with a KeyboardInterrupt traceback (and leak its semaphores) before
    :func:`_init_worker` runs. Stopping idle workers once every result is stored: the sweep is
    complete, and a Ctrl-C then would otherwise interrupt the wait for them at interpreter exit
    (a KeyboardInterrupt traceback from concurrent.futures after exit status 0)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# ------------------------------------------------------------------------------------------------
# backends: submit tasks, wait for any, get the outcome
# ------------------------------------------------------------------------------------------------
class RunLost(Exception):
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
            initializer=_init_worker, initargs=(os.getpid(),))

    def submit(self, task):
        with _ctrl_c_ignored():  # submitting may start a worker
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
        else:  # every result is stored: the idle workers exit at once
            with _ctrl_c_ignored():
                self.executor.shutdown(wait=True)


class _DaskBackend:
    """An existing Dask distributed cluster (``scheduler`` address or ``distributed.Client``)."""

    def __init__(self, scheduler):
        import distributed

        self.distributed = distributed
        self.own_client = not isinstance(scheduler, distributed.Client)
        try:
            self.client = (distributed.Client(scheduler, timeout="20s") if self.own_client
                           else scheduler)
        except (OSError, TimeoutError, ValueError) as error:
            raise SweepError(f"cannot connect to the Dask scheduler at {scheduler!r}: "
                             f"{error}") from None
        self.address = scheduler if self.own_client else self.client.scheduler.address
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
        """The futures done once any is; checks every :data:`DASK_POLL_SECONDS` that the
        cluster still has workers, and gives up after :data:`NO_WORKERS_SECONDS` without."""
        without_workers_since = None
        while True:
            try:
                return self.distributed.wait(list(futures), timeout=DASK_POLL_SECONDS,
                                             return_when="FIRST_COMPLETED").done
            except TimeoutError:
                pass  # nothing finished yet: is anyone working?
            except (OSError, cf.CancelledError) as error:  # FuturesCancelledError included
                raise self._lost(error) from None
            try:
                workers = len(self.client.scheduler_info(n_workers=-1).get("workers", {}))
            except (OSError, TimeoutError, cf.CancelledError) as error:
                raise self._lost(error) from None
            if workers:
                without_workers_since = None
                continue
            now = time.monotonic()
            without_workers_since = without_workers_since or now
            if now - without_workers_since >= NO_WORKERS_SECONDS:
                raise SweepError(
                    f"the Dask cluster at {self.address} has had no workers for "
                    f"{NO_WORKERS_SECONDS:g} s: start workers (dask worker {self.address}); "
                    f"finished runs are saved, run the same command again to resume")

    def _lost(self, error: BaseException) -> SweepError:
        if isinstance(error, cf.CancelledError):  # the client gave up on a dead scheduler
            detail = "its runs were cancelled: the scheduler stopped or cannot be reached"
        else:
            detail = f"{type(error).__name__}: {str(error).strip().partition(chr(10))[0]}"
        return SweepError(f"lost the Dask scheduler at {self.address} ({detail}); finished "
                          f"runs are saved, run the same command again to resume")

    def outcome(self, future):
        self.futures.discard(future)  # drop the reference so the cluster frees the result
        try:
            return future.result()
        except self.distributed.KilledWorker as error:
            # the run killed its worker repeatedly (crash, out of memory): a failed run
            raise RunLost(f"KilledWorker: {error}") from None
        except (OSError, cf.CancelledError, TimeoutError) as error:
            raise self._lost(error) from None

    def close(self, cancel: bool) -> None:
        if cancel and self.futures:
            self.client.cancel(list(self.futures))
        self.futures.clear()
        if self.own_client:
            self.client.close()


def make_backend(workers: int, scheduler):
    if scheduler is not None:
        return _DaskBackend(scheduler)
    if workers == 1:
        return _SerialBackend()
    return _LocalBackend(workers)


def _killed_row(task: Mapping, error: str) -> dict:
    return {"run_id": task["run_id"], "seed": int(task["seed"]), **task["parameters"],
            **{f"{m}@{s}": math.nan for m in task["metrics"] for s in task["output_steps"]},
            "status": "failed", "error": error, "warnings": "", "wall_seconds": math.nan,
            "cpu_seconds": math.nan, "host": ""}


def drive(backend, tasks: Iterable[dict], store) -> None:
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
            except RunLost as lost:
                row, series = _killed_row(task, str(lost)), None
            store(row, series)
        fill()
