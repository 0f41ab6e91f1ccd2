"""Parameter sweeps at scale: run a :class:`~pricewar.sweep.spec.SweepSpec` on local worker processes
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

Modules: :mod:`~pricewar.sweep.spec` (the TOML spec and its design), :mod:`~pricewar.sweep.worker`
(one run -> one row), :mod:`~pricewar.sweep.backends` (serial, local processes, Dask),
:mod:`~pricewar.sweep.store` (the directory), :mod:`~pricewar.sweep.engine` (:func:`run_sweep`),
:mod:`~pricewar.sweep.analysis` (Sobol indices, confidence bands) and :mod:`~pricewar.sweep.cli`.
"""

from pricewar.sweep.analysis import confidence_band, sobol_indices
from pricewar.sweep.engine import run_sweep
from pricewar.sweep.spec import SpecError, SweepSpec, load_spec
from pricewar.sweep.store import (
    SweepError,
    SweepStatus,
    load_design,
    load_results,
    load_timeseries,
    sweep_status,
)
from pricewar.sweep.worker import execute_run

__all__ = ["SpecError", "SweepError", "SweepSpec", "SweepStatus", "confidence_band",
           "execute_run", "load_design", "load_results", "load_spec", "load_timeseries",
           "run_sweep", "sobol_indices", "sweep_status"]
