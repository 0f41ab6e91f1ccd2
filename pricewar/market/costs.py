"""Token production costs (DESIGN §4), vectorized over producers. Money in USD, volumes in Mtok.

    energy    c_E = J_per_token x PUE x electricity_usd_per_kwh / 3.6            (USD/Mtok)
    hardware  c_H = capex_per_gpu / (life_s x tokens_per_s x utilisation) x 1e6  (USD/Mtok)
    opex      c_O = fixed_opex_share_per_year x capex_per_gpu / (year_s x tokens_per_s x u) x 1e6
    capex_per_gpu = chip price + facility_usd_per_w x chip power (IT load)

Marginal cost (pricing) is ``c_E`` plus the opportunity cost of the GPU-hours a token takes, valued
at the capex-breakeven rental rate at the planned utilisation (``c_H + c_O`` at ``u_plan``): GPU-hours
are a traded, variable input (CAL §4: H100 rental 1.70-2.85 USD/h vs capex breakeven ~1.65 USD/h).
The full unit cost (investment, exit, reporting) spreads hardware and opex over the *realised*
utilisation instead: ``c_E + (c_H + c_O) x u_plan / u_realised``.
The model's token is a *capability-normalised* token: serving efficiency at fixed capability grows
with algorithmic and software progress (``technology`` table), so costs fall over time.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

SECONDS_PER_YEAR = 365.25 * 86_400.0
J_PER_KWH = 3.6e6
TOKENS_PER_MTOK = 1e6


def efficiency_multiplier(date: dt.date, reference_date: dt.date, algorithmic_per_year: float,
                          software_per_year: float) -> float:
    """Tokens/s per GPU at fixed capability relative to the reference date (dimensionless).

    ``(algorithmic x software) ** years_since_reference``; below 1 before the reference date.
    """
    years = (date - reference_date).days / 365.25
    return float((algorithmic_per_year * software_per_year) ** years)


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


def producer_costs(*, chip_energy_j_per_token: np.ndarray, chip_tokens_per_s: np.ndarray,
                   chip_price_usd: np.ndarray, chip_power_w: np.ndarray, pue: np.ndarray,
                   electricity_usd_per_kwh: np.ndarray, facility_usd_per_w: np.ndarray,
                   export_penalty: np.ndarray, efficiency: float, gpu_life_years: float,
                   utilisation: float, fixed_opex_share_per_year: float
                   ) -> ProducerCosts:
    """Cost components per producer.

    Parameters
    ----------
    chip_energy_j_per_token, chip_tokens_per_s, chip_price_usd, chip_power_w :
        the producers' chips at the technology reference date (J/token, tokens/s, USD, W)
    pue : facility power usage effectiveness (>= 1)
    electricity_usd_per_kwh : the producers' effective electricity price (USD/kWh)
    facility_usd_per_w : facility construction cost per W of IT load (USD/W)
    export_penalty : per producer, extra energy per token and lower tokens/s per USD for chips
        degraded by export controls (0 = parity; 0.4 = +40% J/token, throughput / 1.4)
    efficiency : serving-efficiency multiplier at the current date (:func:`efficiency_multiplier`)
    gpu_life_years : depreciation life (years)
    utilisation : utilisation at which hardware cost is spread (0-1)
    fixed_opex_share_per_year : fixed operating cost as a share of capex per year
    """
    energy = chip_energy_j_per_token * (1.0 + export_penalty) / efficiency
    throughput = chip_tokens_per_s * efficiency / (1.0 + export_penalty)
    capex = chip_price_usd + facility_usd_per_w * chip_power_w
    energy_cost = energy * pue * electricity_usd_per_kwh * TOKENS_PER_MTOK / J_PER_KWH
    tokens_per_year = SECONDS_PER_YEAR * throughput * utilisation
    hardware_cost = capex / (gpu_life_years * tokens_per_year) * TOKENS_PER_MTOK
    opex_cost = fixed_opex_share_per_year * capex / tokens_per_year * TOKENS_PER_MTOK
    return ProducerCosts(energy, throughput, capex, energy_cost, hardware_cost, opex_cost,
                         float(utilisation))
