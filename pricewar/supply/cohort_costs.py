"""Token costs (USD per Mtok of decoded tokens), vectorised over cohorts (docs/ODD.md §6.1).

Marginal cost (pricing) = energy + capacity opportunity cost + variable opex::

    power price       p     = electricity x (1 - subsidy) + carbon_price x carbon_kg_per_kwh / 1000
    energy            c_E   = J_per_token x PUE x p / 3.6                        (USD/Mtok)
    capacity          c_K   = rental_usd_per_gpu_hour / (tps x 3600) x 1e6      (USD/Mtok)

Full cost (investment, exit) = energy + (capital recovery + fixed opex + fixed energy) per token at
the planned utilisation ``u`` + variable opex::

    CRF(r, n)         = r / (1 - (1 + r)^-n)                     (r = 0: 1 / n)
    capital per year  = (1 - capex_subsidy) x (CRF(r, n_chip) x chip price
                                               + CRF(r, n_facility) x facility_usd_per_w x W_server)
    fixed opex        = fixed_opex_share x (chip price + facility_usd_per_w x W_server)
    fixed energy      = (P_idle + W_server - P) / 1000 x PUE x p x 8766 h    (always-on draw)
    full              = c_E + (capital + opex + fixed energy) / (tps x u x 3.156e7 s / 1e6)

``subsidy`` is the power subsidy for cohorts on chips made in their own bloc (Financial Times, Nov
2025); the export-control penalty divides the throughput of cohorts in the controlled bloc.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from pricewar.scenario.catalogue import CONTROLLED_BLOC, Catalogue, PolicyLevers
from pricewar.scenario.parameters import MARKET_V2, MARKET_V3
from pricewar.supply.rental import RentalIndex
from pricewar.supply.serving import ServingModel
from pricewar.supply.throughput import RooflineServing
from pricewar.units import (
    KG_PER_T,
    MJ_PER_KWH,
    SECONDS_PER_HOUR,
    SECONDS_PER_YEAR,
    TOKENS_PER_MTOK,
    W_PER_KW,
)

HOURS_PER_YEAR = SECONDS_PER_YEAR / SECONDS_PER_HOUR


def power_usd_per_kwh(electricity_usd_per_kwh, carbon_price_usd_per_t=0.0, carbon_kg_per_kwh=0.0,
                      power_subsidy=0.0) -> np.ndarray:
    """Power price a cohort pays: ``electricity x (1 - subsidy) + carbon price x intensity / 1000``
    (USD/kWh). The subsidy cuts the bill, not the carbon price."""
    return (np.asarray(electricity_usd_per_kwh) * (1.0 - np.asarray(power_subsidy))
            + np.asarray(carbon_price_usd_per_t) * np.asarray(carbon_kg_per_kwh) / KG_PER_T)


def energy_usd_per_mtok(energy_j_per_token, pue, usd_per_kwh) -> np.ndarray:
    """``J/token x PUE x USD/kWh / 3.6`` (USD/Mtok: J/token x Mtok = MJ, 3.6 MJ = 1 kWh)."""
    return np.asarray(energy_j_per_token) * np.asarray(pue) * np.asarray(usd_per_kwh) / MJ_PER_KWH


def capacity_usd_per_mtok(rental_usd_per_gpu_hour, tokens_per_s) -> np.ndarray:
    """Opportunity cost of GPU time: ``rental / (tps x 3600) x 1e6`` (USD/Mtok)."""
    return (np.asarray(rental_usd_per_gpu_hour) / (np.asarray(tokens_per_s) * SECONDS_PER_HOUR)
            * TOKENS_PER_MTOK)


#: below this rate ``1 - (1 + r)^-n`` loses its digits to rounding (it is 0 once ``1 + r == 1``,
#: and the annuity would be infinite): the expansion ``1/n + r (n + 1) / (2n)`` is used, whose
#: relative error ``O(r^2 n^2)`` is below 1e-9 there for lives up to 30 years
_CRF_SERIES_BELOW = 1e-6


def capital_recovery_factor(wacc, life_years) -> np.ndarray:
    """``CRF = r / (1 - (1 + r)^-n)``: the annuity per USD of capex over ``n`` years at rate
    ``r`` (``1 / n`` at ``r <= 0``; its first-order expansion for ``0 < r < 1e-6``)."""
    r = np.asarray(wacc, dtype=float)
    n = np.asarray(life_years, dtype=float)
    exact = r >= _CRF_SERIES_BELOW
    safe_r = np.where(exact, r, 1.0)
    small = np.clip(r, 0.0, None)
    return np.where(exact, safe_r / (1.0 - (1.0 + safe_r) ** -n),
                    1.0 / n + small * (n + 1.0) / (2.0 * n))


def capex_usd_per_gpu(chip_price_usd, facility_usd_per_w, server_power_w) -> np.ndarray:
    """Chip price plus the facility built for its all-in IT power (USD per GPU)."""
    return np.asarray(chip_price_usd) + np.asarray(facility_usd_per_w) * np.asarray(server_power_w)


def capital_cost_usd_per_gpu_year(chip_price_usd, facility_usd_per_w, server_power_w, *, wacc,
                                  chip_life_years, facility_life_years,
                                  capex_subsidy=0.0) -> np.ndarray:
    """Capital recovery per GPU-year: chip over its economic life, facility over its own, net of
    the capex subsidy (USD per GPU per year)."""
    chip = capital_recovery_factor(wacc, chip_life_years) * np.asarray(chip_price_usd)
    facility = (capital_recovery_factor(wacc, facility_life_years)
                * np.asarray(facility_usd_per_w) * np.asarray(server_power_w))
    return (1.0 - np.asarray(capex_subsidy)) * (chip + facility)


def fixed_power_w(power_w, idle_power_w, server_power_w) -> np.ndarray:
    """Always-on draw of an online GPU: its idle power plus the host's share (W)."""
    return np.asarray(idle_power_w) + np.asarray(server_power_w) - np.asarray(power_w)


def fixed_energy_usd_per_gpu_year(fixed_w, pue, usd_per_kwh) -> np.ndarray:
    """Energy bill of the always-on draw over a year (USD per GPU per year)."""
    return np.asarray(fixed_w) / W_PER_KW * np.asarray(pue) * np.asarray(usd_per_kwh) * HOURS_PER_YEAR


def full_cost_usd_per_mtok(energy_usd_per_mtok_, fixed_usd_per_gpu_year, tokens_per_s,
                           planned_utilisation, variable_opex_usd_per_mtok=0.0) -> np.ndarray:
    """Energy + variable opex + fixed costs per GPU-year spread over the tokens a GPU serves in a
    year at the planned utilisation (USD/Mtok)."""
    mtok_per_gpu_year = (np.asarray(tokens_per_s) * SECONDS_PER_YEAR * planned_utilisation
                         / TOKENS_PER_MTOK)
    return (np.asarray(energy_usd_per_mtok_) + variable_opex_usd_per_mtok
            + np.asarray(fixed_usd_per_gpu_year) / mtok_per_gpu_year)


def merit_order_marginal_index(fleet, cost_usd_per_mtok, capacity_mtok, load_mtok,
                               order=None) -> np.ndarray:
    """The cohort serving each fleet's last unit of load, cohorts dispatched cheapest first.

    Parameters as :func:`merit_order_marginal_cost`; ``order`` is the merit order,
    ``np.lexsort((cost_usd_per_mtok, fleet))``, when the caller has a faster way to it.
    Returns, per fleet, the index (into the cohort arrays) of that cohort: the cheapest at zero
    load, the dearest when load exceeds capacity; -1 for a fleet without cohorts.
    """
    fleet = np.asarray(fleet, dtype=np.int64)
    load = np.asarray(load_mtok, dtype=float)
    if order is None:
        order = np.lexsort((np.asarray(cost_usd_per_mtok), fleet))
    sorted_fleet = fleet[order]
    cumulative = np.cumsum(np.asarray(capacity_mtok, dtype=float)[order])
    fleets = np.arange(load.size)
    first = np.searchsorted(sorted_fleet, fleets, side="left")
    last = np.searchsorted(sorted_fleet, fleets, side="right") - 1
    empty = last < first
    before = np.where(first > 0, cumulative[np.maximum(first - 1, 0)], 0.0)
    position = np.searchsorted(cumulative, before + np.maximum(load, 0.0), side="left")
    position = np.clip(position, first, np.maximum(last, first))
    if not order.size:
        return np.full(load.size, -1, dtype=np.int64)
    return np.where(empty, -1, order[np.minimum(position, order.size - 1)])


def merit_order_marginal_cost(fleet, cost_usd_per_mtok, capacity_mtok, load_mtok) -> np.ndarray:
    """Marginal cost of each fleet at its load, cohorts dispatched cheapest first.

    Parameters
    ----------
    fleet : (n_cohorts,) int, the fleet (producer) of each cohort, 0..n_fleets-1
    cost_usd_per_mtok, capacity_mtok : (n_cohorts,) each cohort's marginal cost and capacity
    load_mtok : (n_fleets,) the load each fleet serves (e.g. last step's sales)

    Returns
    -------
    (n_fleets,) the cost of the cohort that serves the fleet's last unit of load: the cheapest
    cohort at zero load, the dearest when load exceeds capacity; NaN for a fleet without cohorts.
    """
    index = merit_order_marginal_index(fleet, cost_usd_per_mtok, capacity_mtok, load_mtok)
    cost = np.asarray(cost_usd_per_mtok, dtype=float)
    return np.where(index >= 0, cost[np.maximum(index, 0)] if cost.size else np.nan, np.nan)


@dataclass(frozen=True, eq=False)
class Site:
    """Where cohorts run: their bloc and the power, cooling and facility costs of their region
    (scalars or arrays broadcast with the cohorts)."""

    bloc: str | np.ndarray
    electricity_usd_per_kwh: float | np.ndarray
    pue: float | np.ndarray
    facility_usd_per_w: float | np.ndarray
    carbon_kg_per_kwh: float | np.ndarray


@dataclass(frozen=True, eq=False)
class CohortCosts:
    """Per-cohort serving figures and costs (arrays broadcast over the cohorts).

    Attributes
    ----------
    tokens_per_s : decoded tokens/s per GPU
    energy_j_per_token : marginal GPU energy per token (J, before PUE)
    power_usd_per_kwh : power price paid after subsidy, carbon included (USD/kWh)
    rental_usd_per_gpu_hour : the chip's rental index at the date
    energy_usd_per_mtok, capacity_usd_per_mtok, variable_opex_usd_per_mtok : marginal components
    full_usd_per_mtok : full cost of new capacity at the planned utilisation
    """

    tokens_per_s: np.ndarray
    energy_j_per_token: np.ndarray
    power_usd_per_kwh: np.ndarray
    rental_usd_per_gpu_hour: np.ndarray
    energy_usd_per_mtok: np.ndarray
    capacity_usd_per_mtok: np.ndarray
    variable_opex_usd_per_mtok: float
    full_usd_per_mtok: np.ndarray

    @property
    def marginal_usd_per_mtok(self) -> np.ndarray:
        """Energy + capacity opportunity cost + variable opex (USD/Mtok): the pricing cost."""
        return self.energy_usd_per_mtok + self.capacity_usd_per_mtok + self.variable_opex_usd_per_mtok


class SupplyCosts:
    """Costs of (chip, family) cohorts at sites and dates under a set of policy levers."""

    def __init__(self, catalogue: Catalogue, serving: ServingModel | RooflineServing | None = None,
                 rental: RentalIndex | None = None, market_version: int = MARKET_V2):
        """``market_version`` >= 3 (``scenario.market.version``) costs tokens with the fitted
        throughput roofline (:class:`~pricewar.supply.throughput.RooflineServing`: tokens are
        blended input + output tokens of the reference request); 2 keeps the v2 serving model
        scaled from DeepSeek's production anchor, unchanged."""
        self.catalogue = catalogue
        if serving is None:
            serving = RooflineServing(catalogue) if market_version >= MARKET_V3 else ServingModel(catalogue)
        self.serving = serving
        self.rental = rental or RentalIndex(catalogue)

    def penalty(self, bloc, levers: PolicyLevers) -> np.ndarray:
        """The export-control penalty of cohorts in ``bloc`` (0 outside the controlled bloc)."""
        return np.where(np.asarray(bloc) == CONTROLLED_BLOC, levers.export_control_penalty, 0.0)

    def power_subsidy(self, chip, bloc, date: dt.date, levers: PolicyLevers) -> np.ndarray:
        """Share of the power bill subsidised: cohorts on chips of their own bloc, in the
        subsidising bloc, from the subsidy's start date."""
        domestic = self.serving.chips.domestic_bloc[self.serving.chips.index(chip)]
        eligible = ((domestic == np.asarray(bloc)) & (np.asarray(bloc) == levers.power_subsidy_bloc)
                    & (date >= levers.power_subsidy_from_date))
        return np.where(eligible, levers.power_subsidy_domestic_chips, 0.0)

    def tokens_per_s(self, chip, family, date: dt.date, bloc, levers: PolicyLevers | None = None,
                     serving_efficiency=1.0) -> np.ndarray:
        """Decoded tokens/s per GPU of ``family`` on ``chip`` at ``date`` in ``bloc`` (the
        ``tokens_per_s`` of :meth:`costs`, without the costs)."""
        levers = levers or self.catalogue.policy
        return (self.serving.tps(chip, family, date, self.penalty(bloc, levers))
                * np.asarray(serving_efficiency))

    def costs(self, chip, family, date: dt.date, site: Site, levers: PolicyLevers | None = None,
              wacc=None, serving_efficiency=1.0) -> CohortCosts:
        """Serving figures and costs of ``family`` on ``chip`` at ``site`` and ``date``.

        ``chip`` and ``family`` are names, arrays of names or indices, broadcast with the site's
        arrays; ``wacc`` (scalar or per cohort) overrides ``levers.wacc``;
        ``serving_efficiency`` (scalar or per cohort, in (0, 1]) scales the throughput: the share
        of the anchor's at-scale decode rate the host's serving stack reaches.
        """
        levers = levers or self.catalogue.policy
        capital = self.catalogue.capital
        chips = self.serving.chips
        c = chips.index(chip)
        tps = self.tokens_per_s(c, family, date, site.bloc, levers, serving_efficiency)
        joules = (chips.power_w[c] - chips.idle_power_w[c]) / tps
        price = power_usd_per_kwh(site.electricity_usd_per_kwh, levers.carbon_price_usd_per_t,
                                  site.carbon_kg_per_kwh,
                                  self.power_subsidy(c, site.bloc, date, levers))
        energy = energy_usd_per_mtok(joules, site.pue, price)
        rental = self.rental.usd_per_gpu_hour(c, date)
        fixed = (capital_cost_usd_per_gpu_year(
                     chips.price_usd[c], site.facility_usd_per_w, chips.server_power_w[c],
                     wacc=levers.wacc if wacc is None else wacc,
                     chip_life_years=capital.chip_life_years,
                     facility_life_years=capital.facility_life_years,
                     capex_subsidy=levers.capex_subsidy)
                 + capital.fixed_opex_share_per_year * capex_usd_per_gpu(
                     chips.price_usd[c], site.facility_usd_per_w, chips.server_power_w[c])
                 + fixed_energy_usd_per_gpu_year(
                     fixed_power_w(chips.power_w[c], chips.idle_power_w[c],
                                   chips.server_power_w[c]), site.pue, price))
        full = full_cost_usd_per_mtok(energy, fixed, tps, capital.planned_utilisation,
                                      capital.variable_opex_usd_per_mtok)
        return CohortCosts(tps, joules, price, rental, energy,
                           capacity_usd_per_mtok(rental, tps), capital.variable_opex_usd_per_mtok,
                           full)
