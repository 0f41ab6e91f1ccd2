"""GPU fleets as vintages (cohorts): who owns how many GPUs of which chip, online and retiring when.

Cohorts are rows of flat arrays; per-producer capacity and costs are capacity-weighted
aggregates over a producer's online cohorts (``np.bincount``), so there is no per-producer loop.
Money in USD, throughput in tokens/s, energy in J/token.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pricewar.market.chips import ChipTable
from pricewar.market.costs import CostConditions, ProducerCosts, gpu_performance, unit_costs


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


def fleet_costs(fleet: Fleet, chips: ChipTable, step: int, n_producers: int,
                conditions: CostConditions, fallback_chip: np.ndarray
                ) -> tuple[ProducerCosts, np.ndarray, np.ndarray]:
    """Per-producer costs aggregated over online cohorts (docs/ODD.md §6.1 "Costs").

    Each cohort's GPUs perform as :func:`~pricewar.market.costs.gpu_performance` says for its
    owner; producer figures are throughput-weighted means, and hardware and opex costs are the
    cohorts' capex over the producer's token capacity at the planned utilisation
    (:func:`~pricewar.market.costs.unit_costs` of the fleet's totals). A producer without online
    GPUs is costed as if it ran one GPU of ``fallback_chip[i]`` (its best purchasable chip), so
    prices stay defined.

    Returns
    -------
    costs : ProducerCosts (USD/Mtok components, J/token, tokens/s per GPU, capex per GPU)
    tokens_per_s : total serving throughput per producer (tokens/s)
    fixed_usd_per_year : depreciation + fixed opex of online GPUs per producer (USD/year)
    """
    c = conditions
    online = fleet.is_online(step)
    owner = fleet.producer[online]
    gpus = fleet.gpus[online]
    tps, joules, capex = gpu_performance(
        chips, fleet.chip[online], efficiency=c.efficiency, export_penalty=c.export_penalty[owner],
        hardware_penalty=c.hardware_penalty[owner],
        facility_usd_per_w=c.facility_usd_per_w[owner])

    def per_producer(values):
        return np.bincount(owner, values, minlength=n_producers)

    total_gpus = per_producer(gpus)
    throughput = per_producer(gpus * tps)
    idle = throughput <= 0
    # fallback: one notional GPU of the producer's best purchasable chip
    f_tps, f_j, f_capex = gpu_performance(
        chips, fallback_chip, efficiency=c.efficiency, export_penalty=c.export_penalty,
        hardware_penalty=c.hardware_penalty, facility_usd_per_w=c.facility_usd_per_w)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_j = np.where(idle, f_j, per_producer(gpus * tps * joules) / throughput)
        mean_tps = np.where(idle, f_tps, throughput / np.maximum(total_gpus, 1e-300))
        mean_capex = np.where(idle, f_capex, per_producer(gpus * capex)
                              / np.maximum(total_gpus, 1e-300))
    fleet_capex = np.where(idle, f_capex, per_producer(gpus * capex))
    energy, hardware, opex = unit_costs(
        energy_j_per_token=mean_j, tokens_per_s=np.where(idle, f_tps, throughput),
        capex_usd=fleet_capex, pue=c.pue, electricity_usd_per_kwh=c.electricity_usd_per_kwh,
        gpu_life_years=c.gpu_life_years, planned_utilisation=c.planned_utilisation,
        fixed_opex_share_per_year=c.fixed_opex_share_per_year)
    costs = ProducerCosts(mean_j, mean_tps, mean_capex, energy, hardware, opex,
                          c.planned_utilisation)
    fixed = np.where(idle, 0.0, fleet_capex) * (1.0 / c.gpu_life_years
                                                + c.fixed_opex_share_per_year)
    return costs, np.where(idle, 0.0, throughput), fixed
