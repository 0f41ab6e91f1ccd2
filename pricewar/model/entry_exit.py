"""Exit and entry of hosts (docs/ODD.md §6.6): topology changes, and who exits and enters.

Who: at market version 2 a host exits on book cash and a group gets an entrant when new
capacity earns ``entry_min_margin`` (:func:`entrants`); at version 3 both are on economic value
(:func:`exits_on_value_v3`, :func:`entrants_v3`; the pure rules in
:mod:`pricewar.supply.expected_margin`).

A bankrupt host's Mesa agent is removed, every host and product array compacted
(:meth:`~pricewar.model.population.ProducerArrays.take`), its fleet, products and listings
dropped and the rest renumbered. An exiting owner-host takes its owner's closed families with it;
its open families stay hostable by others. An entrant (independent host groups only) gets a new
agent, fresh state and GPUs, and listings. The caller rebuilds the products and recompiles the
routes afterwards.
"""

from __future__ import annotations

import logging

import numpy as np

from pricewar.model.agents import TokenProducer
from pricewar.model.phases import served_weighted
from pricewar.model.rental import RentalOutcome
from pricewar.supply.cohort_costs import (
    HOURS_PER_YEAR,
    capex_usd_per_gpu,
    capital_cost_usd_per_gpu_year,
    capital_recovery_factor,
    fixed_power_w,
)
from pricewar.supply.expected_margin import (
    discount_factor_per_step,
    enters_on_value,
    entry_cost_usd_per_mtok,
    exits_on_value,
    expected_margin_usd_per_mtok,
    fleet_value_usd,
    marginal_cost_usd_per_mtok,
    rental_value_usd,
    resale_value_usd,
)
from pricewar.units import SECONDS_PER_HOUR, W_PER_KW

log = logging.getLogger(__name__)

#: an entrant starts with cash for this share of its first GPUs' capex
ENTRANT_CASH_SHARE_OF_CAPEX = 0.25
#: platforms (at most) that list an entrant
ENTRANT_LISTINGS = 2


def remove_producers(model, mask: np.ndarray) -> None:
    """Remove the hosts in ``mask`` (bool, shape (n_producers,)).

    Writes ``model.producers`` (and the agents' ``index``), ``model.producer_arrays``,
    ``model.product_arrays`` (products of survivors, renumbered), ``model.fleet`` and
    ``model.platform_arrays.listings``.
    """
    survivors = ~mask
    for agent in [model.producers[i] for i in np.flatnonzero(mask)]:
        log.info("step %d: %r exits (cash %.3g USD)", model.steps, agent, agent.cash)
        agent.remove()
    new_index = np.cumsum(survivors) - 1
    model.producers = [p for i, p in enumerate(model.producers) if survivors[i]]
    for agent in model.producers:
        agent.index = int(new_index[agent.index])
    model.producer_arrays.take(survivors)
    products = model.product_arrays
    products.take(survivors[products.producer])
    products.producer = new_index[products.producer]
    model.fleet.remap_producers(survivors)
    platforms = model.platform_arrays
    platforms.listings = [new_index[listed[survivors[listed]]] for listed in platforms.listings]


def entrants(scenario, producer_group: np.ndarray, producer_served: np.ndarray,
             producer_base_price: np.ndarray, new_unit_cost: np.ndarray) -> list[tuple]:
    """Independent host groups where a new host with the best chip would earn a margin of at
    least ``dynamics.entry_min_margin`` at the group's volume-weighted list price.

    Returns ``(group name, group, template host index)`` per entering group (one entrant per
    group), in scenario order.
    """
    out = []
    for group_name, group in scenario.producers.items():
        members = np.flatnonzero(producer_group == group_name)
        if members.size == 0 or group.owner:
            continue
        served = producer_served[members]
        price = np.average(producer_base_price[members],
                           weights=served if served.sum() > 0 else None)
        if not price > 0:
            continue
        margin = (price - new_unit_cost[members].min()) / price
        if margin >= scenario.dynamics.entry_min_margin:
            out.append((group_name, group, members[0]))
    return out


def exits_on_value_v3(scenario, step: int, supply, rental: RentalOutcome, fleet, producers,
                      products) -> np.ndarray:
    """Hosts whose fleet is worth less in service than rented out or resold (docs/ODD.md §6.6).

    Per host, with its WACC's discount factor, the remaining life of its online cohorts and
    ``r``, ``f`` the cleared rent and floor of each cohort's market:

    - ``M = sum_j m_j q_j``: expected margins (posted price minus the marginal cost at the
      host's GPU-weighted cleared rent) times this step's served volumes. ``m`` charges the
      served GPU-hours at the rent;
    - ``R``: what the fleet fetches rented out, ``(r - f)`` on every GPU-hour its markets
      take: the served ones and, of the unserved ones, the share not idle in the market;
    - ``F`` (avoidable fixed costs): fixed opex and always-on power of the GPU-hours neither
      served nor rented (idle), which resale saves and neither ``m`` nor ``R`` nets;
    - value in service ``V = sum_k delta^k (M - F) + R`` (in service the host keeps the rent of
      its served hours, through ``m``, and can rent its unserved ones); it exits when
      ``V < max(R, resale)``, i.e. when ``sum_k delta^k (M - F) < max(0, resale - R)``:
      serving earns less than renting the GPUs out, or the fleet is worth more resold.

    The resale value is the cohorts' straight-line book value times
    ``dynamics.resale_value_share``, capped by what a buyer would earn renting them out in
    their market (so in a rental glut used GPUs fetch little). A host without products never
    exits here. Returns a bool mask, shape (n_producers,).
    """
    capital, chips = scenario.capital, supply.serving.chips
    n = len(producers)
    delta = discount_factor_per_step(producers.wacc, scenario.step_days)
    rows = rental.cohort_mask
    host, chip, gpus = fleet.producer[rows], fleet.chip[rows], fleet.gpus[rows]
    market = rental.cohort_market
    host_gpus = np.bincount(host, gpus, minlength=n)
    cost = marginal_cost_usd_per_mtok(products.marginal_energy, products.load_gpu_s_per_mtok,
                                      rental.host_rent_usd_per_gpu_hour[products.producer],
                                      capital.variable_opex_usd_per_mtok)
    margin = np.bincount(products.producer,
                         expected_margin_usd_per_mtok(products.price, cost) * products.served,
                         minlength=n)
    remaining = (fleet.retire[rows] - step).astype(float)
    life = np.maximum(fleet.retire[rows] - fleet.online[rows], 1).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        steps_left = np.where(host_gpus > 0,
                              np.bincount(host, gpus * remaining, minlength=n) / host_gpus, 0.0)
        utilisation = np.where(host_gpus > 0, np.minimum(
            producers.load_gpu_s / (host_gpus * scenario.step_seconds), 1.0), 0.0)
    installed = rental.installed_gpus.ravel()[market]
    with np.errstate(divide="ignore", invalid="ignore"):
        idle_share = np.where(installed > 0, rental.idle_gpus.ravel()[market] / installed, 0.0)
    step_hours = scenario.step_seconds / SECONDS_PER_HOUR
    idle_hours = gpus * step_hours * (1.0 - utilisation[host]) * idle_share
    fixed_usd_per_gpu_hour = (
        capital.fixed_opex_share_per_year * capex_usd_per_gpu(
            chips.price_usd[chip], producers.facility[host], chips.server_power_w[chip])
        / HOURS_PER_YEAR
        + fixed_power_w(chips.power_w[chip], chips.idle_power_w[chip], chips.server_power_w[chip])
        / W_PER_KW * producers.pue[host] * producers.electricity[host])
    avoidable = np.bincount(host, fixed_usd_per_gpu_hour * idle_hours, minlength=n)
    rent = rental.rent_usd_per_gpu_hour.ravel()[market]
    floor = rental.floor_usd_per_gpu_hour.ravel()[market]
    rental_value = np.bincount(host, rental_value_usd(
        rent, floor, gpus * step_hours - idle_hours, delta[host], remaining), minlength=n)
    # a buyer pays no more than the GPUs fetch rented out in their market
    buyers_value = rental_value_usd(rent, floor, gpus * step_hours * (1.0 - idle_share),
                                    delta[host], remaining)
    resale = np.bincount(host, np.minimum(resale_value_usd(
        chips.price_usd[chip], gpus, remaining / life, scenario.dynamics.resale_value_share),
        buyers_value), minlength=n)
    in_service = fleet_value_usd(margin, avoidable, delta, steps_left) + rental_value
    # a host with no product (an owner-host before its first release) has no expected margin
    # to judge: its value lies in releases a stationary belief cannot see
    selling = np.bincount(products.producer, minlength=n) > 0
    return exits_on_value(in_service, rental_value, resale) & selling


def entrants_v3(scenario, supply, producers, products) -> list[tuple]:
    """Independent host groups where new capacity's expected margin at the group's
    volume-weighted list price covers its capacity cost plus the entry cost, all per Mtok at the
    planned utilisation on the cheapest member's best buyable chip (docs/ODD.md §6.6).

    Returns ``(group name, group, template host index)`` per entering group, as :func:`entrants`.
    """
    capital, levers, chips = scenario.capital, scenario.policy, supply.serving.chips
    n = len(producers)
    owner = products.producer
    host_chip = producers.best_chip[owner]
    # the entry cost spread like capital: x entry cost x CRF / capital per GPU-year
    capital_per_gpu_year = capital_cost_usd_per_gpu_year(
        chips.price_usd[host_chip], producers.facility[owner], chips.server_power_w[host_chip],
        wacc=producers.wacc[owner], chip_life_years=capital.chip_life_years,
        facility_life_years=capital.facility_life_years, capex_subsidy=levers.capex_subsidy)
    with np.errstate(divide="ignore", invalid="ignore"):
        mtok_per_gpu_year = capital_per_gpu_year / products.full_capital
    entry = entry_cost_usd_per_mtok(
        scenario.dynamics.entry_cost_usd_per_gpu,
        capital_recovery_factor(producers.wacc[owner], capital.chip_life_years),
        mtok_per_gpu_year)
    full_energy = served_weighted(products.full_energy, products.served, owner, n)
    entry_host = served_weighted(entry, products.served, owner, n)
    full = np.where(producers.best_chip_buyable, producers.full_cost, np.inf)
    out = []
    for group_name, group in scenario.producers.items():
        members = np.flatnonzero(producers.group == group_name)
        if members.size == 0 or group.owner:
            continue
        served = producers.served[members]
        price = np.average(producers.base_price[members],
                           weights=served if served.sum() > 0 else None)
        cheapest = members[np.argmin(full[members])]
        if not (price > 0 and np.isfinite(full[cheapest])):
            continue
        new_marginal = full_energy[cheapest] + capital.variable_opex_usd_per_mtok
        if enters_on_value(price - new_marginal, full[cheapest] - new_marginal,
                           entry_host[cheapest]):
            out.append((group_name, group, members[0]))
    return out


def add_producers(model, entering: list[tuple], life_steps: int) -> None:
    """Add one host per ``(group name, group, template)`` of ``entering``.

    Each starts as a copy of its template's arrays with fresh state, its group's quality draw
    and strategy, ``entry_gpus`` GPUs of the template's best chip online now, cash for a quarter
    of their capex, and listings on up to two platforms that list its region. Writes
    ``model.producers``, ``model.producer_arrays``, ``model.fleet`` and
    ``model.platform_arrays.listings`` (the products follow from the hosting rule).
    """
    d = model.scenario.dynamics
    producers = model.producer_arrays
    platforms = model.platform_arrays
    chips = model.supply.serving.chips
    n_old = len(producers)
    producers.take(np.concatenate([np.arange(n_old), np.array([e[2] for e in entering])]))
    producers.reset_state(slice(n_old, None))
    for offset, (group_name, group, template) in enumerate(entering):
        i = n_old + offset
        producers.quality[i] = group.quality_sd_utils * model.rng.standard_normal()
        producers.strategy[i] = group.strategy
        chip = int(producers.best_chip[template])
        capex = capex_usd_per_gpu(chips.price_usd[chip], producers.facility[template],
                                  chips.server_power_w[chip])
        producers.cash[i] = ENTRANT_CASH_SHARE_OF_CAPEX * d.entry_gpus * capex
        model.fleet.add(i, chip, d.entry_gpus, model.steps, model.steps + life_steps)
        producers.gpus[i] = d.entry_gpus  # online now (costs are recomputed next step)
        model.producers.append(TokenProducer(model, i, group.region, group_name,
                                             chips.names[chip], group.strategy))
        region = producers.region[i]
        hosts = [k for k, regions in enumerate(platforms.lists_regions) if region in regions]
        for k in model.rng.choice(hosts, min(ENTRANT_LISTINGS, len(hosts)), replace=False):
            platforms.listings[k] = np.append(platforms.listings[k], i)
        log.info("step %d: entrant in %s", model.steps, group_name)
