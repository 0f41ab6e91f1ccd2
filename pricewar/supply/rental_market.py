"""The GPU rental market (supply v3, docs/ODD.md §6.1c): the rent of a GPU-hour of each chip class
in each bloc is the price that clears the GPUs installed there against the GPU-hours demanded.
The rent is the opportunity cost of the GPU time a token takes; the observed rental index
(``pricewar/data/rental.toml``, :mod:`pricewar.supply.rental`) is a check on it, not an input.

One market per (chip class, bloc), vectorised over markets; all quantities per step::

    installed   N   = hosts' online GPU-hours + the exogenous (training/other) fleet's
    demanded        = hosts' serving GPU-hours H (inelastic within the step)
                      + exogenous demand D(r) = D_ref (r / r_ref)^-eps
    free GPU-hours F = N - H
    rent        r*  = clip(r_ref (D_ref / F)^(1 / eps), floor, ceiling)
    idle            = F - D(r*) if D(floor) < F (the rent is then at the floor), else 0
    unmet           = D(ceiling) - F if the rent is at the ceiling, else 0

``floor`` is the owner's avoidable cost of a rented GPU-hour (energy at full draw + fixed opex):
no owner rents below it, so with idle units the rent falls to it. ``r_ref`` is the rent at which
exogenous demand is ``D_ref``: the full cost of a new GPU-hour (capital recovery, fixed opex,
energy), so ``D_ref`` is the exogenous demand when renting covers the cost of building capacity.
``ceiling`` is the rent at which buying a GPU pays back within ``payback_years``: above it a
renter buys instead (the capacity shadow price is bounded by the cost of adding capacity).
The closed form needs no solver: ``D`` is isoelastic and ``H`` inelastic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pricewar.supply.cohort_costs import (
    HOURS_PER_YEAR,
    capex_usd_per_gpu,
    capital_cost_usd_per_gpu_year,
)
from pricewar.units import W_PER_KW

#: serving GPU-hours may exceed installed GPU-hours by this relative rounding slack
_SERVING_SLACK = 1e-9


@dataclass(frozen=True, eq=False)
class OwnerCosts:
    """An owner's costs of a GPU-hour (USD per GPU-hour, arrays over markets or cohorts).

    Attributes
    ----------
    floor_usd_per_gpu_hour : avoidable cost of renting a GPU-hour out: energy at the server's
        full draw plus fixed opex (the rent never falls below it)
    reference_usd_per_gpu_hour : full cost of a new GPU-hour: capital recovery + fixed opex +
        energy at full draw (the rent at which exogenous demand is its reference level)
    ceiling_usd_per_gpu_hour : floor + capex / payback hours (a renter buys above it)
    """

    floor_usd_per_gpu_hour: np.ndarray
    reference_usd_per_gpu_hour: np.ndarray
    ceiling_usd_per_gpu_hour: np.ndarray


def owner_costs(chip_price_usd, facility_usd_per_w, server_power_w, pue, power_usd_per_kwh, *,
                wacc, chip_life_years, facility_life_years, fixed_opex_share_per_year,
                payback_years, capex_subsidy=0.0) -> OwnerCosts:
    """Floor, reference and ceiling rents of a GPU-hour (USD per GPU-hour; inputs broadcast).

    Energy per GPU-hour = server power (W) / 1000 x PUE x power price; fixed opex per hour =
    share x capex / 8766; capital per hour = CRF capital per GPU-year / 8766
    (:func:`~pricewar.supply.cohort_costs.capital_cost_usd_per_gpu_year`); ceiling = floor +
    capex / (payback_years x 8766).
    """
    if np.any(np.asarray(payback_years) <= 0):
        raise ValueError(f"payback_years must be > 0, got {payback_years!r}")
    capex = capex_usd_per_gpu(chip_price_usd, facility_usd_per_w, server_power_w)
    energy = np.asarray(server_power_w) / W_PER_KW * np.asarray(pue) * np.asarray(power_usd_per_kwh)
    opex = np.asarray(fixed_opex_share_per_year) * capex / HOURS_PER_YEAR
    capital = capital_cost_usd_per_gpu_year(
        chip_price_usd, facility_usd_per_w, server_power_w, wacc=wacc,
        chip_life_years=chip_life_years, facility_life_years=facility_life_years,
        capex_subsidy=capex_subsidy) / HOURS_PER_YEAR
    floor = energy + opex
    return OwnerCosts(floor, floor + capital,
                      floor + (1.0 - np.asarray(capex_subsidy)) * capex
                      / (np.asarray(payback_years) * HOURS_PER_YEAR))


def exogenous_gpu_hours(rent_usd_per_gpu_hour, demand_at_reference_gpu_hours,
                        reference_usd_per_gpu_hour, elasticity) -> np.ndarray:
    """Exogenous (training/other) GPU-hours demanded at ``rent``: ``D_ref (r / r_ref)^-eps``."""
    return (np.asarray(demand_at_reference_gpu_hours, dtype=float)
            * (np.asarray(rent_usd_per_gpu_hour) / np.asarray(reference_usd_per_gpu_hour))
            ** -np.asarray(elasticity))


@dataclass(frozen=True, eq=False)
class RentalClearing:
    """The cleared rental markets (arrays over markets; GPU-hours per step).

    Attributes
    ----------
    rent_usd_per_gpu_hour : the clearing rent (floor <= rent <= ceiling)
    idle_gpu_hours : installed GPU-hours nobody uses (> 0 only at the floor)
    exogenous_gpu_hours : exogenous GPU-hours served at the rent
    unmet_gpu_hours : exogenous GPU-hours wanted at the ceiling rent beyond the free ones
    residual_gpu_hours : installed - serving - exogenous - idle + unmet (0 up to rounding)
    """

    rent_usd_per_gpu_hour: np.ndarray
    idle_gpu_hours: np.ndarray
    exogenous_gpu_hours: np.ndarray
    unmet_gpu_hours: np.ndarray
    residual_gpu_hours: np.ndarray

    @property
    def at_floor(self) -> np.ndarray:
        return self.idle_gpu_hours > 0


def clear_rental_market(installed_gpu_hours, serving_gpu_hours, demand_at_reference_gpu_hours,
                        costs: OwnerCosts, elasticity) -> RentalClearing:
    """Clear each market's rent (closed form of the module docstring).

    Parameters
    ----------
    installed_gpu_hours : (n,) GPU-hours installed per step (hosts' online fleet + exogenous
        fleet), >= 0
    serving_gpu_hours : (n,) hosts' serving GPU-hours per step, 0 <= H <= installed
    demand_at_reference_gpu_hours : (n,) exogenous GPU-hours demanded at the reference rent, >= 0
    costs : the markets' floor, reference and ceiling rents (floor <= reference <= ceiling not
        required; floor <= ceiling is)
    elasticity : exogenous demand's elasticity to the rent (> 0; scalar or (n,))

    Returns
    -------
    :class:`RentalClearing`. A market without exogenous demand clears at the floor (its free
    GPU-hours idle); one without free GPU-hours but with exogenous demand at the ceiling.
    """
    installed = np.asarray(installed_gpu_hours, dtype=float)
    serving = np.asarray(serving_gpu_hours, dtype=float)
    demand_ref = np.asarray(demand_at_reference_gpu_hours, dtype=float)
    eps = np.asarray(elasticity, dtype=float)
    floor = np.asarray(costs.floor_usd_per_gpu_hour, dtype=float)
    reference = np.asarray(costs.reference_usd_per_gpu_hour, dtype=float)
    ceiling = np.asarray(costs.ceiling_usd_per_gpu_hour, dtype=float)
    _check(installed, serving, demand_ref, eps, floor, reference, ceiling)
    free = np.maximum(installed - serving, 0.0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        scarcity = np.where(demand_ref > 0, demand_ref / free, 0.0)  # inf when nothing is free
        rent = np.clip(reference * scarcity ** (1.0 / eps), floor, ceiling)
        # a market without exogenous demand wants nothing even at a zero floor
        wanted = np.where(demand_ref > 0, exogenous_gpu_hours(rent, demand_ref, reference, eps),
                          0.0)
    served = np.minimum(wanted, free)
    idle = np.where(rent <= floor, free - served, 0.0)
    unmet = wanted - served
    residual = installed - serving - served - idle
    return RentalClearing(rent, idle, served, unmet, residual)


def _check(installed, serving, demand_ref, eps, floor, reference, ceiling) -> None:
    for name, value in (("installed_gpu_hours", installed), ("serving_gpu_hours", serving),
                        ("demand_at_reference_gpu_hours", demand_ref)):
        if not np.all(np.isfinite(value)) or np.any(value < 0):
            raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    if np.any(serving > installed * (1.0 + _SERVING_SLACK)):
        raise ValueError("serving_gpu_hours exceed installed_gpu_hours: "
                         f"{serving!r} > {installed!r}")
    if not np.all(eps > 0):
        raise ValueError(f"elasticity must be > 0, got {eps!r}")
    if not (np.all(floor >= 0) and np.all(reference > 0) and np.all(ceiling >= floor)):
        raise ValueError("rents must satisfy 0 <= floor <= ceiling and reference > 0, got "
                         f"floor {floor!r}, reference {reference!r}, ceiling {ceiling!r}")


@dataclass(frozen=True, eq=False)
class IndexCheck:
    """The model's rents against the observed rental index (arrays over checked markets).

    Attributes
    ----------
    model_usd_per_gpu_hour, observed_usd_per_gpu_hour : the two rents
    log_ratio : ln(model / observed)
    within : |log_ratio| <= ln(tolerance_factor)
    """

    model_usd_per_gpu_hour: np.ndarray
    observed_usd_per_gpu_hour: np.ndarray
    log_ratio: np.ndarray
    within: np.ndarray


def check_against_index(model_usd_per_gpu_hour, observed_usd_per_gpu_hour,
                        tolerance_factor: float = 1.5) -> IndexCheck:
    """Compare cleared rents with observed index values (a check, never fed back).

    ``tolerance_factor`` (> 1) is the ratio either way counted as agreement; the default 1.5 is
    the spread of the observed China 8 x H100 quotes of early 2024 (120,000-180,000 CNY per
    month, docs/calibration.md C14).
    """
    if not tolerance_factor > 1:
        raise ValueError(f"tolerance_factor must be > 1, got {tolerance_factor!r}")
    model = np.asarray(model_usd_per_gpu_hour, dtype=float)
    observed = np.asarray(observed_usd_per_gpu_hour, dtype=float)
    if np.any(model <= 0) or np.any(observed <= 0):
        raise ValueError("rents must be > 0 to compare in logs")
    log_ratio = np.log(model / observed)
    return IndexCheck(model, observed, log_ratio, np.abs(log_ratio) <= np.log(tolerance_factor))

