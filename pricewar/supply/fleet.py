"""GPU fleets as vintages (cohorts): who owns how many GPUs of which chip, online and retiring when.

Cohorts are rows of flat arrays (chip numbers index the scenario's chips); per-producer figures
are aggregates over a producer's online cohorts (``np.bincount``), so there is no per-producer
loop; :mod:`pricewar.supply.product_costs` turns them into costs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Fleet:
    """GPU cohorts. ``online``/``retire`` are step numbers (online <= t < retire)."""

    producer: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    chip: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    gpus: np.ndarray = field(default_factory=lambda: np.zeros(0))
    online: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    retire: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def add(self, producer, chip, gpus, online, retire) -> None:
        """Append cohorts (arrays or scalars broadcast to the same length)."""
        producer = np.atleast_1d(np.asarray(producer, np.int64))
        n = producer.size
        self.producer = np.concatenate([self.producer, producer])
        self.chip = np.concatenate([self.chip, np.broadcast_to(chip, n).astype(np.int64)])
        self.gpus = np.concatenate([self.gpus, np.broadcast_to(gpus, n).astype(float)])
        self.online = np.concatenate([self.online, np.broadcast_to(online, n).astype(np.int64)])
        self.retire = np.concatenate([self.retire, np.broadcast_to(retire, n).astype(np.int64)])

    def is_online(self, step: int) -> np.ndarray:
        return (self.online <= step) & (step < self.retire) & (self.gpus > 0)

    def drop_retired(self, step: int) -> None:
        """Forget cohorts that have retired (keeps the arrays short in long runs)."""
        self.keep(self.retire > step)

    def keep(self, mask: np.ndarray) -> None:
        self.producer, self.chip, self.gpus, self.online, self.retire = (
            a[mask] for a in (self.producer, self.chip, self.gpus, self.online, self.retire))

    def remap_producers(self, survivors: np.ndarray) -> None:
        """Drop cohorts of removed producers and renumber the rest (``survivors``: bool mask)."""
        new_index = np.cumsum(survivors) - 1
        self.keep(survivors[self.producer])
        self.producer = new_index[self.producer]

    def gpus_by_producer(self, n_producers: int, step: int, pipeline: bool = False
                         ) -> np.ndarray:
        """Online GPUs per producer, or GPUs ordered but not yet online when ``pipeline``."""
        mask = (self.online > step) if pipeline else self.is_online(step)
        return np.bincount(self.producer[mask], self.gpus[mask], minlength=n_producers)
