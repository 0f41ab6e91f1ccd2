"""Warnings about what a run's numbers mean: outside the calibrated horizon, or a degenerate
market (no capacity left, most demand refused, prices pinned at the floor); and the guard that
fails a run whose recorded numbers are not finite.

The model calls :func:`check_run` once it is built, :func:`check_step` after each step's
metrics and :func:`check_finite` after each collection of its reporters (a NaN or infinite
reporter value, or served + unserved + not bought away from the demand at posted prices, raises
:class:`NonFiniteRunError`: such a run has no meaning, and a sweep records it as failed, not
ok). Each kind of warning is logged once per run (logger
``pricewar.model.health``) and kept in ``model.warnings``, which the outputs carry: the Parquet files' metadata (``attrs``), the
header of the resolved ``scenario.toml`` and a sweep's ``warnings`` column. Checks only read the
model's state: a run's numbers are the same with or without them.
"""

from __future__ import annotations

import datetime as dt
import logging
import math

import numpy as np

from pricewar.errors import PricewarError
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


#: a run warns about its cost from this many routes (a lower estimate, made before building)
COSTLY_ROUTES = 1_000_000
#: ... or from this many producer-consumer pairs (pricing work grows with both)
COSTLY_PAIRS = 10_000_000


def check_size(model) -> None:
    """Warn, before the market is built, if the run is large enough to be slow: at least
    :data:`COSTLY_ROUTES` routes (consumers x platforms per consumer x listings, a lower
    estimate) or :data:`COSTLY_PAIRS` producer-consumer pairs."""
    s = model.scenario
    producers = sum(g.count for g in s.producers.values())
    platforms = sum(g.count for g in s.platforms.values())
    consumers = len(s.regions) * len(s.sectors) * s.demand.consumers_per_segment
    listings = max((g.listings for g in s.platforms.values() if g.count), default=0)
    routes = consumers * min(s.demand.platforms_per_consumer, platforms) * min(listings,
                                                                               producers)
    if routes >= COSTLY_ROUTES or producers * consumers >= COSTLY_PAIRS:
        _warn(model, "size",
              f"a large run: {producers:,} producers, {consumers:,} consumers, {platforms:,} "
              f"platforms, at least {routes:,} routes: building it and each step may take "
              f"minutes (the baseline, 32 producers and 2,000 consumers, takes ~0.1 s a step)")


def check_run(model) -> None:
    """Warn if the planned run starts or ends outside the calibrated period."""
    s = model.scenario
    end = model.start_date + dt.timedelta(days=s.step_days * s.steps)
    if model.start_date < CALIBRATED_FROM or end > CALIBRATED_UNTIL:
        _warn(model, "horizon",
              f"the run covers {model.start_date} to {end} ({s.steps} steps), beyond the "
              f"calibrated period {CALIBRATED_FROM} to {CALIBRATED_UNTIL}: demand growth and "
              f"efficiency trends are extrapolated")


class NonFiniteRunError(PricewarError, FloatingPointError):
    """A run recorded a NaN or infinite reporter value (names the step and the columns), or
    volumes that do not add up to the demand at posted prices."""


#: the parts of the demand at posted prices (``demand_total``): served, unserved, not bought
VOLUME_PARTS = ("served_total", "unserved_demand", "not_bought_total")
#: largest relative gap between ``demand_total`` and the sum of its parts (a conserving run is
#: at ~1e-15)
CONSERVATION_RTOL = 1e-6


def check_finite(model) -> None:
    """Raise :class:`NonFiniteRunError` if the reporters just collected hold a NaN or an
    infinity (names the step, its date, the columns and the first values), or if served +
    unserved + not bought differs from ``demand_total`` by more than
    :data:`CONSERVATION_RTOL` of it (finite numbers that lost volume mean as little)."""
    recorded = model.datacollector.model_vars
    where = f"{model.scenario.name}: step {model.steps} ({model.date})"
    outside = ("the parameters put the market outside the range where the model is defined "
               "(check the --set/scenario values)")
    bad = [name for name, values in recorded.items()
           if isinstance(values[-1], (int, float, np.number)) and not math.isfinite(values[-1])]
    if bad:
        shown = ", ".join(f"{name} = {recorded[name][-1]}" for name in bad[:4])
        more = f" and {len(bad) - 4} more" if len(bad) > 4 else ""
        raise NonFiniteRunError(f"{where} produced non-finite values in {len(bad)} column(s): "
                                f"{shown}{more}; {outside}")
    if "demand_total" not in recorded or not all(part in recorded for part in VOLUME_PARTS):
        return
    demand = recorded["demand_total"][-1]
    parts = sum(recorded[part][-1] for part in VOLUME_PARTS)
    if abs(parts - demand) > CONSERVATION_RTOL * abs(demand) + 1e-9:
        raise NonFiniteRunError(
            f"{where} does not conserve volume: served + unserved + not bought = {parts:.6g} "
            f"Mtok/step but demand_total = {demand:.6g} (relative gap "
            f"{abs(parts - demand) / max(abs(demand), 1e-300):.2g}); {outside}")


def check_step(model) -> None:
    """Warn (once per kind) about a degenerate market in this step's metrics."""
    m = model.metrics
    where = f"step {model.steps} ({model.date})"
    if model.date > CALIBRATED_UNTIL:
        _warn(model, "horizon", f"{where} is past the calibrated period {CALIBRATED_FROM} to "
                                f"{CALIBRATED_UNTIL}: demand growth and efficiency trends are "
                                f"extrapolated")
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
