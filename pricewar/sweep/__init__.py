"""Parameter sweeps at scale: run a :class:`~pricewar.sweep.spec.SweepSpec` on local worker processes
or a Dask cluster, store one Parquet row per run as it finishes, resume after any interruption,
and analyse the results (``pricewar sweep``; docs/sweeps.md).

Output directory layout::

    DIR/manifest.json           spec, fingerprint and run table (run_id, point, seed, parameters),
                                written before the first run
    DIR/spec.toml               the canonical spec (``pricewar sweep DIR/spec.toml --out DIR``)
    DIR/results/run-ID.parquet  one row per finished run (ok or failed), written atomically
    DIR/timeseries/run-ID.parquet  every metric at every step (``outputs.timeseries = true``)

A run is *done* when its results file exists; run ids hash the resolved scenario's values, steps,
overrides and seed, so restarting the same command after Ctrl-C, a killed worker or a crash runs
exactly the missing runs. An unreadable result file or manifest is moved into ``DIR/quarantine/``
and rebuilt or run again; a lock keeps a second sweep out of ``DIR`` while one runs.
A run that raises is stored with ``status = "failed"`` and its error and does not stop the sweep
(``retry_failed=True`` runs those again).

Process pools and Dask clients are created only inside :func:`run_sweep` (call it from the CLI,
a notebook, or under ``if __name__ == "__main__":`` in a script: ``import mesa`` makes
multiprocessing use *spawn*, which re-imports the calling script in every worker). Workers run
:func:`execute_run`, a top-level function of this module, so they only need ``pricewar`` installed.

Modules: :mod:`~pricewar.sweep.spec` (the TOML spec and its validation),
:mod:`~pricewar.sweep.design` (the design and its points), :mod:`~pricewar.sweep.worker`
(one run -> one row), :mod:`~pricewar.sweep.backends` (serial, local processes, Dask),
:mod:`~pricewar.sweep.store` (the directory), :mod:`~pricewar.sweep.engine` (:func:`run_sweep`),
:mod:`~pricewar.sweep.analysis` (Sobol indices, confidence bands) and :mod:`~pricewar.sweep.cli`.
"""

from __future__ import annotations

import importlib

#: public name -> module defining it; imported on first use (PEP 562), so that importing
#: ``pricewar.sweep.cli`` for ``pricewar --help`` does not import pandas, scipy or SALib
_EXPORTS = {
    "confidence_band": "analysis", "sobol_indices": "analysis",
    "run_sweep": "engine",
    "SpecError": "spec", "SweepSpec": "spec", "load_spec": "spec",
    "SweepError": "store", "SweepStatus": "store", "load_design": "store",
    "load_results": "store", "load_timeseries": "store", "sweep_status": "store",
    "execute_run": "worker",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
