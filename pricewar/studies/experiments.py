"""The catalogue of experiments behind ``experiments/*.py`` and ``pricewar figures``.

The catalogue names each experiment's module; the module (with pandas, matplotlib and the model)
is imported only when the experiment runs, so ``pricewar --help`` can list the names.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pricewar.runs.harness import ExperimentResult

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------
# registry
# ------------------------------------------------------------------------------------------------
#: experiment name -> module defining the function of that name (the scripts
#: experiments/<name>.py and `pricewar figures`)
EXPERIMENTS: dict[str, str] = {
    "cost_waterfall": "pricewar.studies.costs",
    "price_war_baseline": "pricewar.studies.price_war",
    "energy_gap": "pricewar.studies.costs",
    "export_controls": "pricewar.studies.export_controls",
    "latency_division": "pricewar.studies.geography",
    "price_cut_cascade": "pricewar.studies.price_war",
    "green_curtailment": "pricewar.studies.geography",
}


def experiment_function(name: str) -> Callable[..., ExperimentResult]:
    """The function of the experiment ``name`` (see :data:`EXPERIMENTS`)."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r} (known: {sorted(EXPERIMENTS)})")
    return getattr(importlib.import_module(EXPERIMENTS[name]), name)


def supports_draws(name: str) -> bool:
    """Whether the experiment ``name`` runs over posterior draws (takes ``draws``)."""
    return "draws" in inspect.signature(experiment_function(name)).parameters


def run_experiment(name: str, out_dir: Path | str = "figures", quick: bool = False,
                   seeds: Sequence[int] | None = None, progress: bool = True,
                   scenario: str = "baseline", draws: Sequence | None = None,
                   draws_file=None) -> ExperimentResult:
    """Run the experiment ``name`` (see :data:`EXPERIMENTS`) on ``scenario`` (a shipped name or
    a TOML path); write its outputs to ``out_dir``. ``draws`` (``(draw id, overrides)`` from
    ``draws_file``) runs it over posterior draws x seeds; ValueError for an experiment that
    does not (:func:`supports_draws`)."""
    extra = {}
    if draws:
        if not supports_draws(name):
            raise ValueError(f"--draws not supported by {name}")
        extra = {"draws": draws, "draws_file": draws_file}
    return experiment_function(name)(Path(out_dir), quick=quick, seeds=seeds, progress=progress,
                                     scenario=scenario, **extra)
