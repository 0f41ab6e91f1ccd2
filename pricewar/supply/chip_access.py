"""Which chips a bloc can buy at a date, and the cheapest of them for a family (supply v2,
docs/ODD.md §6.1b).

Export controls are data: each chip lists the windows in which each bloc can buy it
(``pricewar/data/chips.toml``). Regimes::

    historical    the windows as they happened ("restricted" windows only with
                  restricted_buyable: legal, but under a US levy and Chinese guidance)
    no_controls   every bloc buys every chip from its release date
    full_ban      the controlled bloc buys only chips made in its own bloc; others historical

``lag_years`` delays every window of the controlled bloc by that many years (the start moves, the
end stays: a chip barred on a date stays barred), independently of the throughput penalty.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from pricewar.scenario.catalogue import CHIP_REGIMES, CONTROLLED_BLOC, Catalogue, PolicyLevers
from pricewar.supply.cohort_costs import Site, SupplyCosts
from pricewar.units import DAYS_PER_YEAR


def _shift(date: dt.date, years: float) -> dt.date:
    return date + dt.timedelta(days=years * DAYS_PER_YEAR)


def chip_available(catalogue: Catalogue, bloc: str, date: dt.date, regime: str = "historical",
                   lag_years: float = 0.0, restricted_buyable: bool = False) -> np.ndarray:
    """Bool array (n_chips,), catalogue order: can ``bloc`` buy each chip at ``date``?"""
    if regime not in CHIP_REGIMES:
        raise ValueError(f"regime = {regime!r}: must be one of {list(CHIP_REGIMES)}")
    if not lag_years >= 0.0:
        raise ValueError(f"lag_years = {lag_years!r}: must be >= 0")
    lag = lag_years if bloc == CONTROLLED_BLOC else 0.0
    out = np.zeros(len(catalogue.chips), dtype=bool)
    for i, chip in enumerate(catalogue.chips.values()):
        if regime == "no_controls":
            out[i] = date >= _shift(chip.release_date, lag)
            continue
        if regime == "full_ban" and bloc == CONTROLLED_BLOC and chip.domestic_bloc != bloc:
            continue
        out[i] = any(
            w.bloc == bloc and (w.status == "open" or restricted_buyable)
            and _shift(w.from_date, lag) <= date and (w.until_date is None or date < w.until_date)
            for w in chip.availability)
    return out


def available_under(catalogue: Catalogue, bloc: str, date: dt.date,
                    levers: PolicyLevers) -> np.ndarray:
    """:func:`chip_available` with the regime, lag and restricted flag of ``levers``."""
    return chip_available(catalogue, bloc, date, levers.chip_regime,
                          levers.export_control_lag_years, levers.restricted_chips_buyable)


def best_chip(supply: SupplyCosts, family: str, site: Site, date: dt.date,
              levers: PolicyLevers | None = None) -> tuple[str | None, np.ndarray]:
    """The chip with the lowest full cost per Mtok of ``family`` among those ``site.bloc`` can
    buy at ``date`` (the investment choice).

    Returns the chip name (None if no chip is available) and the full cost of every chip
    (USD/Mtok, inf where unavailable), shape (n_chips,).
    """
    levers = levers or supply.catalogue.policy
    names = supply.serving.chips.names
    available = available_under(supply.catalogue, str(site.bloc), date, levers)
    full = supply.costs(np.arange(len(names)), family, date, site, levers).full_usd_per_mtok
    cost = np.where(available, full, np.inf)
    return (names[int(np.argmin(cost))] if available.any() else None), cost
