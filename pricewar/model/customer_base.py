"""The customer base: consumers lean toward the hosts they bought from last step (docs/ODD.md §6.2,
"Customer base").

Route utility gains ``kappa (w_ji - sum_k w_jk^2)`` for every route of host ``i`` to consumer
``j``, with ``w_ji`` the share of ``j``'s served volume bought from host ``i`` last step. The
base attaches to the *host* (the API provider a customer integrated: keys, billing, SDK,
compliance review), not to the product: switching to a host's newer family is cheap (66% of
enterprises that changed models upgraded within their provider; Menlo Ventures, 2025 mid-year
LLM market update), switching provider is not. The consumer-level constant ``sum_k w_jk^2`` keeps
the consumer's inclusive value, and so its volume, unchanged to first order when shares repeat:
the base moves customers between hosts, it does not create tasks.

Shares are keyed by (consumer, host ``unique_id``), so they survive exits, entries and family
releases (a new host starts with no base). ``kappa = 0`` adds nothing: the static model.
"""

from __future__ import annotations

import numpy as np

from pricewar.scenario.schema import Complements
from pricewar.units import DAYS_PER_YEAR


class CustomerBase:
    """Last step's host shares of every consumer and the utility bonus they give.

    Parameters
    ----------
    kappa : utility of a fully held consumer (``w = 1``), utils, >= 0
    """

    def __init__(self, kappa: float):
        self.kappa = float(kappa)
        self._key = np.zeros(0, np.int64)  # consumer * stride + host uid, sorted
        self._share = np.zeros(0)
        self._square_sum = np.zeros(0)  # per consumer: sum_k w_jk^2
        self._stride = 1

    @property
    def active(self) -> bool:
        return self.kappa > 0.0

    def observe(self, route_consumer: np.ndarray, route_host_uid: np.ndarray,
                route_served: np.ndarray, n_consumers: int) -> None:
        """Record this step's served volume per (consumer, host) as next step's base ``w``."""
        if not self.active:
            return
        self._stride = int(route_host_uid.max(initial=0)) + 1
        key = route_consumer.astype(np.int64) * self._stride + route_host_uid
        key, pair = np.unique(key, return_inverse=True)
        served = np.bincount(pair, route_served, minlength=key.size)
        consumer = key // self._stride
        total = np.bincount(consumer, served, minlength=n_consumers)
        with np.errstate(divide="ignore", invalid="ignore"):
            share = np.where(total[consumer] > 0, served / total[consumer], 0.0)
        self._key, self._share = key, share
        self._square_sum = np.bincount(consumer, share ** 2, minlength=n_consumers)

    def route_share(self, route_consumer: np.ndarray, route_host_uid: np.ndarray) -> np.ndarray:
        """``w_ji`` of each route's (consumer, host) pair; 0 for pairs without last-step sales."""
        if self._key.size == 0:
            return np.zeros(route_consumer.size)
        known = route_host_uid < self._stride  # hosts that entered since have no base
        key = route_consumer.astype(np.int64) * self._stride + np.minimum(
            route_host_uid, self._stride - 1)
        at = np.clip(np.searchsorted(self._key, key), 0, self._key.size - 1)
        found = known & (self._key[at] == key)
        return np.where(found, self._share[at], 0.0)

    def route_bonus(self, route_consumer: np.ndarray,
                    route_host_uid: np.ndarray) -> np.ndarray | None:
        """``kappa (w_ji - sum_k w_jk^2)`` per route (utils), or None when ``kappa = 0``."""
        if not self.active:
            return None
        w = self.route_share(route_consumer, route_host_uid)
        squares = (self._square_sum[route_consumer] if self._square_sum.size
                   else np.zeros(route_consumer.size))
        return self.kappa * (w - squares)


def step_discount(wacc: np.ndarray, step_days: float) -> np.ndarray:
    """Discount factor per step ``(1 + wacc)^(-step_days / 365.25)`` (WACC per year)."""
    return (1.0 + np.asarray(wacc, float)) ** (-step_days / DAYS_PER_YEAR)


def pricing_dynamics(kappa: float, growth_per_step: float, product_wacc: np.ndarray,
                     step_days: float, complement_weight: np.ndarray | float = 0.0) -> dict:
    """What forward-looking strategies read from ``view.state["dynamics"]``: ``kappa`` (utils),
    ``growth`` (next step's task volume over this step's), ``discount`` per product (its host's
    WACC) and ``complement_weight`` per product."""
    return {"kappa": float(kappa), "growth": 1.0 + float(growth_per_step),
            "discount": step_discount(product_wacc, step_days),
            "complement_weight": np.asarray(complement_weight, float)}


def complement_weights(owner_names: list[str], producer_owner: np.ndarray,
                       complements: Complements) -> np.ndarray:
    """Per host, its owner's complement weight (the scenario's ``complements`` section, read
    from ``pricewar/data/complements.toml``; 0 for independent hosts and owners not listed;
    docs/calibration.md C16)."""
    by_owner = np.array([complements.weight(name) for name in owner_names] + [0.0])
    return by_owner[np.where(producer_owner >= 0, producer_owner, len(owner_names))]
