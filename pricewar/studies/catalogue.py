"""The catalogue of experiments behind ``experiments/*.py`` and ``pricewar figures``."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

from pricewar.studies.costs import cost_waterfall, energy_gap, export_controls
from pricewar.studies.geography import green_curtailment, latency_division
from pricewar.studies.harness import ExperimentResult
from pricewar.studies.price_war import price_cut_cascade, price_war_baseline

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------
# registry
# ------------------------------------------------------------------------------------------------
#: experiment name -> function (the scripts experiments/<name>.py and `pricewar figures`)
EXPERIMENTS: dict[str, Callable[..., ExperimentResult]] = {
    "cost_waterfall": cost_waterfall,
    "price_war_baseline": price_war_baseline,
    "energy_gap": energy_gap,
    "export_controls": export_controls,
    "latency_division": latency_division,
    "price_cut_cascade": price_cut_cascade,
    "green_curtailment": green_curtailment,
}


def run_experiment(name: str, out_dir: Path | str = "figures", quick: bool = False,
                   seeds: Sequence[int] | None = None, progress: bool = True
                   ) -> ExperimentResult:
    """Run the experiment ``name`` (see :data:`EXPERIMENTS`); write its outputs to ``out_dir``."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r} (known: {sorted(EXPERIMENTS)})")
    return EXPERIMENTS[name](Path(out_dir), quick=quick, seeds=seeds, progress=progress)
