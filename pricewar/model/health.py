"""Warnings about what a run's numbers mean: outside the calibrated horizon, or a degenerate
market (no capacity left, most demand refused, prices pinned at the floor, non-finite metrics).

The model calls :func:`check_run` once it is built and :func:`check_step` after each step's
metrics. Each kind of warning is logged once per run (logger ``pricewar.model.health``) and kept
in ``model.warnings``, which the outputs carry: the Parquet files' metadata (``attrs``), the
header of the resolved ``scenario.toml`` and a sweep's ``warnings`` column. Checks only read the
model's state: a run's numbers are the same with or without them.
"""

from __future__ import annotations

import datetime as dt
import logging
import math

import numpy as np

from pricewar.model.phases import MIN_LOG_PRICE_USD_PER_MTOK
from pricewar.scenario.data_files import CALIBRATED_FROM, CALIBRATED_UNTIL

log = logging.getLogger(__name__)

#: more than this share of demand at posted prices refused (``refused_share``: unserved or not
#: bought on re-choice): capacity far below demand
REFUSED_SHARE = 0.5
#: at least this share of producers at the price floor: prices no longer carry information
FLOOR_SHARE = 0.5


class RunWarnings(list):
    """The warnings of one run, in order (a list of str); :meth:`warn` adds one of a kind once."""

    def __init__(self, run_name: str = ""):
        super().__init__()
        self.run_name = run_name
        self.kinds: set[str] = set()

    def warn(self, kind: str, message: str) -> None:
        if kind in self.kinds:
            return
        self.kinds.add(kind)
        self.append(message)
        log.warning("%s: %s", self.run_name, message)


def _warn(model, kind: str, message: str) -> None:
    model.warnings.warn(kind, message)


def check_run(model) -> None:
    """Warn if the planned run starts or ends outside the calibrated period."""
    s = model.scenario
    end = model.start_date + dt.timedelta(days=s.step_days * s.steps)
    if model.start_date < CALIBRATED_FROM or end > CALIBRATED_UNTIL:
        _warn(model, "horizon",
              f"the run covers {model.start_date} to {end} ({s.steps} steps), beyond the "
              f"calibrated period {CALIBRATED_FROM} to {CALIBRATED_UNTIL}: demand growth and "
              f"efficiency trends are extrapolated")


def check_step(model) -> None:
    """Warn (once per kind) about a degenerate market in this step's metrics."""
    m = model.metrics
    where = f"step {model.steps} ({model.date})"
    if model.date > CALIBRATED_UNTIL:
        _warn(model, "horizon", f"{where} is past the calibrated period {CALIBRATED_FROM} to "
                                f"{CALIBRATED_UNTIL}: demand growth and efficiency trends are "
                                f"extrapolated")
    bad = sorted(k for k, v in m.items() if not math.isfinite(v))
    if bad:
        _warn(model, "non-finite", f"{where}: non-finite metrics "
                                   f"({', '.join(f'{k} = {m[k]}' for k in bad[:3])})")
    if m["capacity_total"] <= 0 and m["active_producers"] > 0:
        _warn(model, "no-capacity", f"{where}: no serving capacity left (capacity_total = 0) "
                                    f"while {m['active_producers']} producers count as active")
    if m["refused_share"] > REFUSED_SHARE:
        _warn(model, "refused", f"{where}: {m['refused_share']:.0%} of demand at posted prices "
                                f"refused (refused_share: unserved or not bought on re-choice; "
                                f"capacity far below demand)")
    if model.n_products:  # the token market prices in log form: prices have a floor
        floor = MIN_LOG_PRICE_USD_PER_MTOK * (1 + 1e-9)
        pinned = int(np.count_nonzero(model.product_base_price <= floor))
        if pinned >= FLOOR_SHARE * model.n_products:
            _warn(model, "price-floor", f"{where}: {pinned} of {model.n_products} products "
                                        f"price at the floor of {MIN_LOG_PRICE_USD_PER_MTOK:g} "
                                        f"USD/Mtok")
