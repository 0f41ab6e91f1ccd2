"""Accelerators as arrays indexed by chip number (the order of the scenario's ``chips`` table)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class ChipTable:
    """Chip properties, one array of shape (n_chips,) per property.

    Attributes
    ----------
    names : chip names, in the scenario's order (the chip number is the position)
    price_usd : purchase price per GPU (USD)
    power_w : IT power per GPU (W)
    tokens_per_s : serving throughput at the technology reference date (tokens/s per GPU)
    energy_j_per_token : IT energy per token at the reference date (J/token)
    release_year : release date as a decimal year
    purchasable : bool, whether producers can order the chip
    supply_gpus_per_step, supply_growth_per_year : chip supply open to the token market
        (GPUs/step) and its growth (1/year)
    """

    names: tuple[str, ...]
    price_usd: np.ndarray
    power_w: np.ndarray
    tokens_per_s: np.ndarray
    energy_j_per_token: np.ndarray
    release_year: np.ndarray
    purchasable: np.ndarray
    supply_gpus_per_step: np.ndarray
    supply_growth_per_year: np.ndarray

    def index(self, name: str) -> int:
        """Chip number of ``name``."""
        return self.names.index(name)
