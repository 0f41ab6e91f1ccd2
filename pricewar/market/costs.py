"""Token production costs, vectorized over producers (docs/ODD.md §6.1 "Costs"). USD, Mtok.

The cost formula lives here once. :func:`gpu_performance` says what one GPU of a chip does for a
producer (tokens/s, J/token, capex); :func:`unit_costs` turns the energy, throughput and capex of a
set of GPUs into USD per Mtok::

    energy    c_E = J_per_token x PUE x electricity_usd_per_kwh x TOKENS_PER_MTOK / J_PER_KWH
    hardware  c_H = capex / (gpu_life_years x tokens_per_year) x TOKENS_PER_MTOK
    opex      c_O = fixed_opex_share_per_year x capex / tokens_per_year x TOKENS_PER_MTOK
    tokens_per_year = SECONDS_PER_YEAR x tokens_per_s x planned_utilisation
    capex_per_gpu = chip price + facility_usd_per_w x chip power (IT load)

A producer's fleet (:func:`pricewar.market.fleet.fleet_costs`) passes its cohorts' totals; a new GPU
(:func:`new_gpu_costs`) passes its own figures.

Marginal cost (pricing) is ``c_E`` plus the opportunity cost of the GPU-hours a token takes, valued
at the capex-breakeven rental rate at the planned utilisation (``c_H + c_O`` at ``u_plan``):
GPU-hours are a traded, variable input (docs/calibration.md, "Accelerators and serving": H100 rental
1.70-2.85 USD/h vs capex breakeven ~1.65 USD/h). The full unit cost (investment, exit, reporting)
spreads hardware and opex over the *realised* utilisation instead:
``c_E + (c_H + c_O) x u_plan / u_realised``.
The model's token is a *capability-normalised* token: serving efficiency at fixed capability grows
with algorithmic and software progress (``technology`` table), so costs fall over time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from pricewar.market.chips import ChipTable
from pricewar.units import DAYS_PER_YEAR, J_PER_KWH, SECONDS_PER_YEAR, TOKENS_PER_MTOK


def efficiency_multiplier(date: dt.date, reference_date: dt.date, algorithmic_per_year: float,
                          software_per_year: float) -> float:
    """Tokens/s per GPU at fixed capability relative to the reference date (dimensionless).

    ``(algorithmic x software) ** years_since_reference``; below 1 before the reference date.
    """
    years = (date - reference_date).days / DAYS_PER_YEAR
    return float((algorithmic_per_year * software_per_year) ** years)


def capacity_mtok_per_step(tokens_per_s: np.ndarray, step_seconds: float,
                           utilisation: float) -> np.ndarray:
    """Tokens served in one step at ``utilisation`` (Mtok/step) by GPUs serving ``tokens_per_s``."""
    return tokens_per_s * step_seconds * utilisation / TOKENS_PER_MTOK


@dataclass(frozen=True, eq=False)
class CostConditions:
    """What a producer's costs depend on besides its GPUs, at one step.

    Attributes
    ----------
    efficiency : serving-efficiency multiplier at the date (:func:`efficiency_multiplier`)
    export_penalty : per producer, extra energy per token of chips degraded by export controls
        (0 = parity; 0.4 = +40% J/token)
    hardware_penalty : per producer, the throughput loss of those chips (tokens/s / (1 + h))
    facility_usd_per_w : per producer, facility construction cost per W of IT load (USD/W)
    pue : per producer, facility power usage effectiveness (>= 1)
    electricity_usd_per_kwh : per producer, the expected electricity price (USD/kWh)
    gpu_life_years : depreciation life (years)
    planned_utilisation : utilisation at which hardware and opex are spread (0-1)
    fixed_opex_share_per_year : fixed operating cost as a share of capex per year
    """

    efficiency: float
    export_penalty: np.ndarray
    hardware_penalty: np.ndarray
    facility_usd_per_w: np.ndarray
    pue: np.ndarray
    electricity_usd_per_kwh: np.ndarray
    gpu_life_years: float
    planned_utilisation: float
    fixed_opex_share_per_year: float


@dataclass(frozen=True, eq=False)
class ProducerCosts:
    """Per-producer cost components (arrays of shape (n_producers,)).

    Attributes
    ----------
    energy_j_per_token : IT energy per token (J), before PUE
    tokens_per_s_per_gpu : serving throughput (tokens/s per GPU)
    capex_usd_per_gpu : chip + facility capital cost per GPU (USD)
    energy_usd_per_mtok : energy cost (USD/Mtok)
    hardware_usd_per_mtok, opex_usd_per_mtok : cost components at the planned utilisation
        (USD/Mtok)
    planned_utilisation : the utilisation the components are computed at (0-1)
    """

    energy_j_per_token: np.ndarray
    tokens_per_s_per_gpu: np.ndarray
    capex_usd_per_gpu: np.ndarray
    energy_usd_per_mtok: np.ndarray
    hardware_usd_per_mtok: np.ndarray
    opex_usd_per_mtok: np.ndarray

    planned_utilisation: float

    @property
    def marginal_usd_per_mtok(self) -> np.ndarray:
        """Energy plus GPU-hour opportunity cost at the planned utilisation (USD/Mtok)."""
        return self.energy_usd_per_mtok + self.hardware_usd_per_mtok + self.opex_usd_per_mtok

    def full_usd_per_mtok(self, realised_utilisation: np.ndarray) -> np.ndarray:
        """Full unit cost with hardware and opex spread over the realised utilisation (USD/Mtok).

        ``realised_utilisation`` is served tokens over raw GPU-time capacity (0-1), floored at 0.02
        so an idle producer reports a large but finite cost.
        """
        spread = self.planned_utilisation / np.maximum(realised_utilisation, 0.02)
        return self.energy_usd_per_mtok + (self.hardware_usd_per_mtok
                                           + self.opex_usd_per_mtok) * spread


def capex_usd_per_gpu(chips: ChipTable, chip: np.ndarray,
                      facility_usd_per_w: np.ndarray) -> np.ndarray:
    """Capital cost of one GPU of ``chip`` in its facility: chip price + facility cost of its IT
    power (USD)."""
    return chips.price_usd[chip] + facility_usd_per_w * chips.power_w[chip]


def gpu_performance(chips: ChipTable, chip: np.ndarray, *, efficiency: float,
                    export_penalty: np.ndarray, hardware_penalty: np.ndarray,
                    facility_usd_per_w: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What one GPU of ``chip`` does for its owner today (arrays shaped like ``chip``).

    Returns
    -------
    tokens_per_s : ``chip tokens/s x efficiency / (1 + hardware_penalty)`` (tokens/s)
    energy_j_per_token : ``chip J/token x (1 + export_penalty) / efficiency`` (J/token)
    capex_usd : :func:`capex_usd_per_gpu` (USD)
    """
    tokens_per_s = chips.tokens_per_s[chip] * efficiency / (1.0 + hardware_penalty)
    energy_j_per_token = chips.energy_j_per_token[chip] * (1.0 + export_penalty) / efficiency
    return tokens_per_s, energy_j_per_token, capex_usd_per_gpu(chips, chip, facility_usd_per_w)


def unit_costs(*, energy_j_per_token: np.ndarray, tokens_per_s: np.ndarray, capex_usd: np.ndarray,
               pue: np.ndarray, electricity_usd_per_kwh: np.ndarray, gpu_life_years: float,
               planned_utilisation: float, fixed_opex_share_per_year: float
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Energy, hardware and opex cost per Mtok (USD/Mtok) of a set of GPUs.

    ``tokens_per_s`` and ``capex_usd`` are the same GPUs' total throughput and capital cost (one
    GPU's, or a fleet's); ``energy_j_per_token`` is their throughput-weighted energy per token.
    """
    tokens_per_year = SECONDS_PER_YEAR * tokens_per_s * planned_utilisation
    energy = energy_j_per_token * pue * electricity_usd_per_kwh * TOKENS_PER_MTOK / J_PER_KWH
    hardware = capex_usd / (gpu_life_years * tokens_per_year) * TOKENS_PER_MTOK
    opex = fixed_opex_share_per_year * capex_usd / tokens_per_year * TOKENS_PER_MTOK
    return energy, hardware, opex


def new_gpu_costs(chips: ChipTable, chip: np.ndarray, conditions: CostConditions
                  ) -> ProducerCosts:
    """Per producer, the costs of one new GPU of ``chip[i]`` at today's efficiency and prices.

    ``marginal_usd_per_mtok`` is the new capacity's full unit cost at the planned utilisation
    (what investment and entry compare with the price).
    """
    c = conditions
    tokens_per_s, joules, capex = gpu_performance(
        chips, chip, efficiency=c.efficiency, export_penalty=c.export_penalty,
        hardware_penalty=c.hardware_penalty, facility_usd_per_w=c.facility_usd_per_w)
    energy, hardware, opex = unit_costs(
        energy_j_per_token=joules, tokens_per_s=tokens_per_s, capex_usd=capex, pue=c.pue,
        electricity_usd_per_kwh=c.electricity_usd_per_kwh, gpu_life_years=c.gpu_life_years,
        planned_utilisation=c.planned_utilisation,
        fixed_opex_share_per_year=c.fixed_opex_share_per_year)
    return ProducerCosts(joules, tokens_per_s, capex, energy, hardware, opex,
                         c.planned_utilisation)
