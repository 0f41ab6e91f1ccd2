"""Calibration: estimate parameters from observed data and check the fit out of sample
(``pricewar calibrate``; docs/calibration.md, "Estimation").

A spec (:mod:`~pricewar.calibrate.spec`) names parameters (flat overrides with prior boxes),
targets (observed values with uncertainty, :mod:`~pricewar.calibrate.targets`, each compared
with a registered summary statistic of a run, :mod:`~pricewar.calibrate.summaries`) and a
budget. :func:`calibrate` (:mod:`~pricewar.calibrate.pipeline`) runs the prior draws as one sweep
(:mod:`~pricewar.calibrate.simulate`: resumable, local or Dask), estimates the posterior by
rejection ABC with local-linear regression adjustment (:mod:`~pricewar.calibrate.abc`) or,
optionally, neural posterior estimation (:mod:`~pricewar.calibrate.npe`), runs posterior draws
again for the predictive checks, and writes draws, figures (:mod:`~pricewar.calibrate.plots`),
checks and a ``calibrated`` scenario (:mod:`~pricewar.calibrate.report`).
:func:`estimate_substitution` (:mod:`~pricewar.calibrate.substitution`) is stage 1 of the v3
estimation: the demand's substitution parameters from a product-level panel of prices and tokens.
:func:`posterior_overrides` (:mod:`~pricewar.calibrate.posterior`) draws posterior parameters as
override dicts, so runs can carry parameter uncertainty.
"""

from __future__ import annotations

import importlib

#: public name -> module defining it; imported on first use (PEP 562), so that importing
#: ``pricewar.calibrate.cli`` for ``pricewar --help`` imports nothing heavy
_EXPORTS = {
    "AbcResult": "abc", "rejection_abc": "abc",
    "CalibrationResult": "pipeline", "calibrate": "pipeline",
    "CalibrationError": "posterior", "load_posterior": "posterior",
    "posterior_overrides": "posterior",
    "Prior": "priors",
    "SubstitutionEstimate": "substitution", "SubstitutionParameters": "substitution",
    "estimate_substitution": "substitution",
    "CalibrationSpec": "spec", "CalibrationSpecError": "spec", "load_calibration_spec": "spec",
    "SUMMARY_REGISTRY": "summaries", "summary": "summaries",
    "ObservedTarget": "targets", "observed_targets": "targets",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
