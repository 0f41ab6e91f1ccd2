"""Exit and entry of hosts (docs/ODD.md §6.6): topology changes.

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
from pricewar.supply.cohort_costs import capex_usd_per_gpu

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
