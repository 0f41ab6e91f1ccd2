"""GPU fleets as vintages (cohorts): who owns how many GPUs of which chip, online when, retiring when.

Cohorts are rows of flat arrays; per-producer capacity and costs are capacity-weighted
aggregates over a producer's online cohorts (``np.bincount``), so there is no per-producer loop.
Money in USD, throughput in tokens/s, energy in J/token.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pricewar.market.costs import J_PER_KWH, SECONDS_PER_YEAR, TOKENS_PER_MTOK, ProducerCosts


@dataclass(frozen=True)
class ChipTable:
    """Chip properties as arrays indexed by chip number (order of the scenario's chips)."""

    names: tuple[str, ...]
    price_usd: np.ndarray
    power_w: np.ndarray
    tokens_per_s: np.ndarray
    energy_j_per_token: np.ndarray
    release_year: np.ndarray  # decimal year
    export_controlled: np.ndarray
    purchasable: np.ndarray
    supply_gpus_per_step: np.ndarray
    supply_growth_per_year: np.ndarray

    def index(self, name: str) -> int:
        return self.names.index(name)


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


def fleet_costs(fleet: Fleet, chips: ChipTable, step: int, n_producers: int, *,
                export_penalty: np.ndarray, hardware_penalty: np.ndarray, efficiency: float,
                pue: np.ndarray,
                electricity_usd_per_kwh: np.ndarray, facility_usd_per_w: np.ndarray,
                gpu_life_years: float, planned_utilisation: float,
                fixed_opex_share_per_year: float, fallback_chip: np.ndarray
                ) -> tuple[ProducerCosts, np.ndarray, np.ndarray]:
    """Per-producer costs aggregated over online cohorts (docs/ODD.md "Costs").

    Per cohort ``c`` of producer ``i``: throughput ``tps_c = chip_tps x efficiency / (1 + h_i)``
    and energy ``J_c = chip_J x (1 + pen_i) / efficiency`` (``pen`` the export-control energy
    penalty, ``h`` its hardware part: fewer tokens/s per GPU at the same capex); producer figures are throughput-
    weighted means, hardware and opex costs are the cohorts' capex flows over the producer's
    token capacity at the planned utilisation. A producer without online GPUs is costed as if
    it ran one GPU of ``fallback_chip[i]`` (its best purchasable chip), so prices stay defined.

    Returns
    -------
    costs : ProducerCosts (USD/Mtok components, J/token, tokens/s per GPU, capex per GPU)
    tokens_per_s : total serving throughput per producer (tokens/s)
    fixed_usd_per_year : depreciation + fixed opex of online GPUs per producer (USD/year)
    """
    online = fleet.is_online(step)
    owner = fleet.producer[online]
    chip = fleet.chip[online]
    gpus = fleet.gpus[online]
    tps = chips.tokens_per_s[chip] * efficiency / (1.0 + hardware_penalty[owner])
    joules = chips.energy_j_per_token[chip] * (1.0 + export_penalty[owner]) / efficiency
    capex = chips.price_usd[chip] + facility_usd_per_w[owner] * chips.power_w[chip]

    def per_producer(values):
        return np.bincount(owner, values, minlength=n_producers)

    total_gpus = per_producer(gpus)
    throughput = per_producer(gpus * tps)
    idle = throughput <= 0
    # fallback: one notional GPU of the producer's best purchasable chip
    f_tps = chips.tokens_per_s[fallback_chip] * efficiency / (1.0 + hardware_penalty)
    f_j = chips.energy_j_per_token[fallback_chip] * (1.0 + export_penalty) / efficiency
    f_capex = chips.price_usd[fallback_chip] + facility_usd_per_w * chips.power_w[fallback_chip]
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_j = np.where(idle, f_j, per_producer(gpus * tps * joules) / throughput)
        mean_tps = np.where(idle, f_tps, throughput / np.maximum(total_gpus, 1e-300))
        mean_capex = np.where(idle, f_capex, per_producer(gpus * capex)
                              / np.maximum(total_gpus, 1e-300))
    fleet_capex = np.where(idle, f_capex, per_producer(gpus * capex))
    tokens = np.where(idle, f_tps, throughput)
    tokens_per_year = SECONDS_PER_YEAR * tokens * planned_utilisation
    energy_cost = mean_j * pue * electricity_usd_per_kwh * TOKENS_PER_MTOK / J_PER_KWH
    hardware_cost = fleet_capex / (gpu_life_years * tokens_per_year) * TOKENS_PER_MTOK
    opex_cost = fixed_opex_share_per_year * fleet_capex / tokens_per_year * TOKENS_PER_MTOK
    costs = ProducerCosts(mean_j, mean_tps, mean_capex, energy_cost, hardware_cost, opex_cost,
                          planned_utilisation)
    fixed = np.where(idle, 0.0, fleet_capex) * (1.0 / gpu_life_years + fixed_opex_share_per_year)
    return costs, np.where(idle, 0.0, throughput), fixed
