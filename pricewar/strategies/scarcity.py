"""Scarcity (peak) pricing, applied on top of every strategy."""

from __future__ import annotations

import numpy as np


def scarcity_update(surcharge: np.ndarray, demand: np.ndarray, capacity: np.ndarray,
                    elasticity: np.ndarray, threshold: float, max_increase: float) -> np.ndarray:
    """Peak-pricing surcharge factor (>= 1, dimensionless), adjusted by excess demand.

    Each step the factor moves by ``(demand / (threshold x capacity)) ** (1 / elasticity)``:
    the price change that would bring demand down to the threshold load given the own-price
    elasticity; it is bounded to ``[1, 1 + max_increase]`` and decays back to 1 once capacity
    is no longer tight (a tatonnement, so it never compounds without bound).

    Parameters
    ----------
    surcharge : current factors, shape (n_producers,)
    demand : unconstrained demand at posted prices (Mtok/step)
    capacity : capacity (Mtok/step)
    elasticity : own-price elasticity ``-dQ/dp x p / Q`` (> 0)
    threshold : utilisation at which peak pricing starts (0-1)
    max_increase : largest surcharge (0.5 = +50%)
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        pressure = demand / (threshold * capacity)
        step = np.where(demand > 0, pressure ** (1.0 / np.maximum(elasticity, 1e-3)), 0.0)
    step = np.nan_to_num(step, nan=1.0, posinf=1.0 + max_increase)
    return np.clip(surcharge * step, 1.0, 1.0 + max_increase)
