"""One expected margin (docs/v3-interfaces.md §4, docs/ODD.md §6.6): a host's margin per blended
Mtok on a product, and the values built on it — the value of a shopper won (ψ, pricing), the
discounted value of a fleet (exit) and the value of new capacity (entry).

::

    marginal cost     c   = energy + rent x GPU-seconds per Mtok / 3600 + variable opex
    expected margin   m   = p - c                          (USD per blended Mtok, held stationary)
    shopper value     psi = sum_{k>=1} delta^k S_k (1 + g)^k max(m, 0),  S_k = (1 - h)^k
                          = x / (1 - x) max(m, 0),  x = delta (1 - h) (1 + g)      (x < 1)
    fleet value       V   = sum_{k=1}^{K} delta^k (sum_i m_i q_i - F_avoidable)
                          = delta (1 - delta^K) / (1 - delta) (M - F)              (K delta if 1)
    exit              V < max(what the fleet fetches rented out, its resale value)
    entry             m_new >= capacity cost + entry cost   (per Mtok at planned utilisation)

``c`` charges the GPU time a token takes at the rent that clears the rental market of its chip
class and bloc (:mod:`pricewar.supply.rental_market`): the opportunity cost of that GPU-hour.
Every value holds ``m`` (and the rent) at its current value: a stated stationary belief.
"""

from __future__ import annotations

import numpy as np

from pricewar.kernel.customer_states import shopper_value
from pricewar.units import DAYS_PER_YEAR, SECONDS_PER_HOUR


def marginal_cost_usd_per_mtok(energy_usd_per_mtok, gpu_s_per_mtok, rent_usd_per_gpu_hour,
                               variable_opex_usd_per_mtok=0.0) -> np.ndarray:
    """``c = energy + rent x GPU-s per Mtok / 3600 + variable opex`` (USD per blended Mtok)."""
    return (np.asarray(energy_usd_per_mtok, dtype=float)
            + np.asarray(rent_usd_per_gpu_hour) * np.asarray(gpu_s_per_mtok) / SECONDS_PER_HOUR
            + np.asarray(variable_opex_usd_per_mtok))


def expected_margin_usd_per_mtok(price_usd_per_mtok, marginal_cost_usd_per_mtok_) -> np.ndarray:
    """The one expected margin ``m = p - c`` (USD per blended Mtok); ``c`` from
    :func:`marginal_cost_usd_per_mtok`, rental opportunity cost included. May be negative."""
    return np.asarray(price_usd_per_mtok, dtype=float) - np.asarray(marginal_cost_usd_per_mtok_)


def discount_factor_per_step(wacc_per_year, step_days: float) -> np.ndarray:
    """``delta = (1 + WACC)^(-step_days / 365.25)``: a step's discount factor (docs/ODD.md §6.4)."""
    if not step_days > 0:
        raise ValueError(f"step_days must be > 0, got {step_days!r}")
    wacc = np.asarray(wacc_per_year, dtype=float)
    if np.any(wacc <= -1):
        raise ValueError(f"wacc_per_year must be > -1, got {wacc_per_year!r}")
    return (1.0 + wacc) ** (-step_days / DAYS_PER_YEAR)


def shopper_value_psi(margin_usd_per_mtok, hazard, discount, growth) -> np.ndarray:
    """ψ: the value of a shopper won per Mtok of its current volume (USD per blended Mtok);
    where the series converges, :func:`pricewar.kernel.customer_states.shopper_value`.

    ``sum_{k>=1} delta^k (1 - h)^k (1 + g)^k max(m, 0) = x / (1 - x) max(m, 0)`` with
    ``x = delta (1 - h) (1 + g)``. The series converges iff ``x < 1`` (discounting and churn
    outrun growth); otherwise a won customer is worth an unbounded amount and ψ is ``inf``
    where ``m > 0`` (0 where ``m <= 0``: the exit option). Never negative.

    Parameters
    ----------
    margin_usd_per_mtok : m, the expected margin
    hazard : h, the per-step probability a committed customer reviews (leaves), in [0, 1]
    discount : delta, the per-step discount factor, in [0, 1]
    growth : g, the per-step growth of a customer's volume, > -1
    """
    h = np.asarray(hazard, dtype=float)
    delta = np.asarray(discount, dtype=float)
    g = np.asarray(growth, dtype=float)
    if np.any((h < 0) | (h > 1)):
        raise ValueError(f"hazard must lie in [0, 1], got {hazard!r}")
    if np.any((delta < 0) | (delta > 1)):
        raise ValueError(f"discount must lie in [0, 1], got {discount!r}")
    if np.any(g <= -1):
        raise ValueError(f"growth must be > -1, got {growth!r}")
    m, h, delta, g = np.broadcast_arrays(np.asarray(margin_usd_per_mtok, dtype=float), h,
                                         delta, g)
    converges = delta * (1.0 - h) * (1.0 + g) < 1.0
    out = np.where(m > 0, np.inf, 0.0)
    # the closed form lives once, in the kernel the v3 market prices with
    out[converges] = shopper_value(m[converges], h[converges], delta[converges], g[converges])
    return out


def annuity_factor(discount, steps) -> np.ndarray:
    """``sum_{k=1}^{K} delta^k = delta (1 - delta^K) / (1 - delta)`` (``K`` at ``delta = 1``;
    0 for ``K <= 0``)."""
    delta = np.asarray(discount, dtype=float)
    k = np.maximum(np.asarray(steps, dtype=float), 0.0)
    if np.any((delta < 0) | (delta > 1)):
        raise ValueError(f"discount must lie in [0, 1], got {discount!r}")
    with np.errstate(divide="ignore", invalid="ignore"):
        geometric = delta * (1.0 - delta ** k) / (1.0 - delta)
    return np.where(delta < 1.0, geometric, k)


def fleet_value_usd(margin_usd_per_step, avoidable_fixed_usd_per_step, discount,
                    remaining_steps) -> np.ndarray:
    """``V = sum_{k=1}^{K} delta^k (M - F)``: the discounted expected margin of a fleet over its
    remaining life, net of the fixed costs exit would avoid (USD).

    ``M = sum_i m_i q_i`` (USD per step: expected margins times the volumes served, held
    stationary), ``F`` the avoidable fixed costs per step, ``K`` the remaining steps of life.
    """
    return annuity_factor(discount, remaining_steps) * (
        np.asarray(margin_usd_per_step, dtype=float)
        - np.asarray(avoidable_fixed_usd_per_step, dtype=float))


def rental_value_usd(rent_usd_per_gpu_hour, floor_usd_per_gpu_hour, rentable_gpu_hours_per_step,
                     discount, remaining_steps) -> np.ndarray:
    """What a fleet fetches rented out: ``sum_{k=1}^{K} delta^k (r - floor) x GPU-hours rented
    per step`` (USD; the owner keeps the rent net of its avoidable cost of a rented hour)."""
    net = np.maximum(np.asarray(rent_usd_per_gpu_hour, dtype=float)
                     - np.asarray(floor_usd_per_gpu_hour), 0.0)
    return annuity_factor(discount, remaining_steps) * net * np.asarray(
        rentable_gpu_hours_per_step, dtype=float)


def resale_value_usd(chip_price_usd, gpus, remaining_life_share, resale_share) -> np.ndarray:
    """What a fleet fetches resold: ``resale share x chip price x remaining life share x GPUs``
    (USD; straight-line book value of the chips, facility not resold)."""
    return (np.asarray(resale_share, dtype=float) * np.asarray(chip_price_usd)
            * np.clip(np.asarray(remaining_life_share, dtype=float), 0.0, 1.0)
            * np.asarray(gpus))


def exits_on_value(fleet_value_usd_, rental_value_usd_, resale_value_usd_) -> np.ndarray:
    """Exit iff the fleet's value in service is below what it fetches rented out or resold."""
    return np.asarray(fleet_value_usd_) < np.maximum(np.asarray(rental_value_usd_),
                                                     np.asarray(resale_value_usd_))


def enters_on_value(margin_new_usd_per_mtok, capacity_cost_usd_per_mtok,
                    entry_cost_usd_per_mtok) -> np.ndarray:
    """Entry iff the expected margin on new capacity covers its capacity cost plus the entry
    cost, all per Mtok at the planned utilisation.

    ``m_new = p - c_new`` with ``c_new`` the marginal cost of the new capacity without a rent
    (capacity not yet bought has no rental opportunity cost: its GPU time costs its capital,
    which ``capacity_cost`` — capital recovery, fixed opex, always-on energy — charges), so
    the condition reads ``p >= full cost + entry cost``.
    """
    return (np.asarray(margin_new_usd_per_mtok)
            >= np.asarray(capacity_cost_usd_per_mtok) + np.asarray(entry_cost_usd_per_mtok))


def entry_cost_usd_per_mtok(entry_cost_usd_per_gpu, crf_per_year,
                            mtok_per_gpu_year) -> np.ndarray:
    """An entry cost per GPU spread like capital: ``entry cost x CRF / Mtok per GPU-year`` at
    the planned utilisation (USD/Mtok)."""
    return (np.asarray(entry_cost_usd_per_gpu, dtype=float) * np.asarray(crf_per_year)
            / np.asarray(mtok_per_gpu_year))
