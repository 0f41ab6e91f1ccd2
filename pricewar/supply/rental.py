"""The GPU rental index: the market value of a GPU-hour of each chip by date (USD per GPU-hour),
the opportunity cost of the GPU time a token takes (supply v2, docs/ODD.md §6.1b).

Rule (``pricewar/data/rental.toml``)::

    chip with a series, inside its anchors   r_c(t) = exp(interp(t, t_k, log r_k))
    chip with a series, beyond its anchors   r_c(t) = r_c(t_end) x r_ref(t) / r_ref(t_end)
    reference series beyond its anchors      r_ref(t) = r_ref(t_end)            (held flat)
    chip without a series (scaled, est.)     r_c(t) = r_b(t) x price_c / price_b

with ``t_end`` the nearest end anchor, ``ref`` the market reference series (H100) and ``b`` the
chip a scaled chip is tied to. Interpolating in log makes the index fall at a constant rate
between anchors; the anchors themselves fall as newer chips arrive.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import numpy as np

from pricewar.scenario.catalogue import Catalogue
from pricewar.units import DAYS_PER_YEAR

_EPOCH = dt.date(2000, 1, 1)


def years_since_2000(date: dt.date) -> float:
    """A date as years since 2000-01-01 (Julian years), the index's time axis."""
    return (date - _EPOCH).days / DAYS_PER_YEAR


def log_interpolate(t: float, anchor_t: np.ndarray, anchor_value: np.ndarray) -> float:
    """``exp(interp(t, anchor_t, log anchor_value))``, held flat beyond the anchors."""
    return float(np.exp(np.interp(t, anchor_t, np.log(anchor_value))))


class RentalIndex:
    """Rental rates of the catalogue's chips (USD per GPU-hour)."""

    def __init__(self, catalogue: Catalogue):
        self.names = tuple(catalogue.chips)
        self.reference = catalogue.rental_reference_chip
        self._series = {
            name: (np.array([years_since_2000(p.date) for p in s.points]),
                   np.array([p.usd_per_gpu_hour for p in s.points]))
            for name, s in catalogue.rental_series.items()}
        self._scaled = {
            name: (rule.reference,
                   catalogue.chips[name].price_usd / catalogue.chips[rule.reference].price_usd)
            for name, rule in catalogue.rental_scaled.items()}
        self._by_date = lru_cache(maxsize=256)(self._compute)

    def _series_rate(self, chip: str, t: float) -> float:
        anchor_t, rate = self._series[chip]
        if chip == self.reference or anchor_t[0] <= t <= anchor_t[-1]:
            return log_interpolate(t, anchor_t, rate)
        end = anchor_t[0] if t < anchor_t[0] else anchor_t[-1]
        ref_t, ref_rate = self._series[self.reference]
        return (log_interpolate(end, anchor_t, rate) * log_interpolate(t, ref_t, ref_rate)
                / log_interpolate(end, ref_t, ref_rate))

    def _compute(self, date: dt.date) -> np.ndarray:
        t = years_since_2000(date)
        out = np.empty(len(self.names))
        for i, name in enumerate(self.names):
            if name in self._series:
                out[i] = self._series_rate(name, t)
            else:
                base, price_ratio = self._scaled[name]
                out[i] = self._series_rate(base, t) * price_ratio
        out.setflags(write=False)
        return out

    def all_chips(self, date: dt.date) -> np.ndarray:
        """Rental rate of every chip at ``date``, shape (n_chips,), catalogue order."""
        return self._by_date(date)

    def usd_per_gpu_hour(self, chip, date: dt.date) -> np.ndarray:
        """Rental rate of ``chip`` (a name, names or chip numbers) at ``date`` (USD/GPU-hour)."""
        values = np.asarray(chip)
        if values.dtype.kind in "iu":
            index = values
        else:
            lookup = {name: i for i, name in enumerate(self.names)}
            unknown = [str(v) for v in values.ravel() if str(v) not in lookup]
            if unknown:
                raise KeyError(f"unknown chip {unknown[0]!r} (expected one of {list(self.names)})")
            index = np.array([lookup[str(v)] for v in values.ravel()]).reshape(values.shape)
        return self.all_chips(date)[index]

