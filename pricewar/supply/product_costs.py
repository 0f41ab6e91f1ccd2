"""Serving figures and costs of products from their hosts' GPU fleets (docs/ODD.md §6.1).

A host runs a fleet of cohorts (chip, GPUs, online and retirement step) and offers one product per
model family it serves. For cohort ``c`` of host ``i`` and product ``a`` (family ``f``) of that
host, :class:`~pricewar.supply.cohort_costs.SupplyCosts` gives the decode rate ``tps_ca`` (the
serving model at the date, times the host's serving efficiency), the marginal energy per token and
the cohort's cost per Mtok. Per product::

    decode rate      tps_a  = sum_c g_c tps_ca / G_i                   (tokens/s per GPU)
    load             l_a    = 1e6 / tps_a                              (GPU-seconds per Mtok)
    energy (settle)  e_a    = sum_c g_c (P_c - P_idle,c) PUE_i p_c / (3.6 sum_c g_c tps_ca)
    marginal cost    c_a    = cost of the cohort serving the last unit of the host's load,
                              cohorts in merit order (cheapest per Mtok first)
    full cost        F_a    = full cost of new capacity of the host's best chip for f

with ``g_c`` the cohort's GPUs, ``G_i`` the host's GPUs and ``p_c`` the power price the cohort pays
(subsidy and carbon price included). Capacity is per host, in GPU-seconds per step of its current
fleet: ``K_i = G_i x step seconds x max utilisation``; a product uses ``l_a`` of it per Mtok. A
host without online GPUs is costed as one GPU of its best chip (prices stay defined) with zero
capacity.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

import numpy as np

from pricewar.kernel.arrays import unique_inverse
from pricewar.scenario.catalogue import PolicyLevers
from pricewar.supply.chip_access import available_under
from pricewar.supply.cohort_costs import (
    CohortCosts,
    Site,
    SupplyCosts,
    capex_usd_per_gpu,
    capital_cost_usd_per_gpu_year,
    fixed_energy_usd_per_gpu_year,
    fixed_power_w,
    merit_order_marginal_index,
    power_usd_per_kwh,
)
from pricewar.supply.fleet import Fleet
from pricewar.units import MJ_PER_KWH, SECONDS_PER_YEAR, TOKENS_PER_MTOK


@dataclass(frozen=True, eq=False)
class Hosts:
    """Where and how each host serves, arrays of shape (n_hosts,).

    Attributes
    ----------
    bloc : the bloc of the host's region ("cn", "western"), object array
    electricity_usd_per_kwh : expected power price before subsidy and carbon (USD/kWh)
    pue, facility_usd_per_w, carbon_kg_per_kwh : of the host's region
    serving_efficiency : share of the anchor's at-scale decode rate (0-1]
    wacc : the host's cost of capital (1/year)
    """

    bloc: np.ndarray
    electricity_usd_per_kwh: np.ndarray
    pue: np.ndarray
    facility_usd_per_w: np.ndarray
    carbon_kg_per_kwh: np.ndarray
    serving_efficiency: np.ndarray
    wacc: np.ndarray

    def site(self, host: np.ndarray) -> Site:
        """The :class:`Site` of the hosts ``host`` (an index array)."""
        return Site(bloc=self.bloc[host], electricity_usd_per_kwh=self.electricity_usd_per_kwh[host],
                    pue=self.pue[host], facility_usd_per_w=self.facility_usd_per_w[host],
                    carbon_kg_per_kwh=self.carbon_kg_per_kwh[host])


@dataclass(frozen=True, eq=False)
class ProductCosts:
    """Per-product serving figures and costs, arrays of shape (n_products,).

    Attributes
    ----------
    tokens_per_s_per_gpu : fleet-mean decode rate of the product's family (tokens/s per GPU)
    load_gpu_s_per_mtok : host capacity one Mtok uses (GPU-seconds)
    energy_j_per_token : fleet-mean marginal GPU energy per token (J, before PUE)
    energy_usd_per_mtok : fleet-mean energy cost of a token served (USD/Mtok; settlement)
    marginal_usd_per_mtok : energy + capacity opportunity cost + variable opex of the merit-order
        marginal cohort (USD/Mtok; pricing)
    marginal_energy_usd_per_mtok, marginal_capacity_usd_per_mtok : the first two parts of it
    full_usd_per_mtok : full cost of new capacity of the host's best chip at the planned
        utilisation and the host's WACC (USD/Mtok; investment, exit, cost-plus)
    full_energy_usd_per_mtok, full_capital_usd_per_mtok, full_opex_usd_per_mtok : its parts:
        energy of the tokens; capital recovery of chip and facility; fixed and variable opex and
        always-on power (they add up to ``full_usd_per_mtok``)
    """

    tokens_per_s_per_gpu: np.ndarray
    load_gpu_s_per_mtok: np.ndarray
    energy_j_per_token: np.ndarray
    energy_usd_per_mtok: np.ndarray
    marginal_usd_per_mtok: np.ndarray
    marginal_energy_usd_per_mtok: np.ndarray
    marginal_capacity_usd_per_mtok: np.ndarray
    full_usd_per_mtok: np.ndarray
    full_energy_usd_per_mtok: np.ndarray
    full_capital_usd_per_mtok: np.ndarray
    full_opex_usd_per_mtok: np.ndarray


@dataclass(frozen=True, eq=False)
class HostCosts:
    """Per-host capacity and fixed costs, arrays of shape (n_hosts,).

    Attributes
    ----------
    capacity_gpu_s : GPU-seconds per step the online fleet can serve (at the max utilisation)
    fixed_usd_per_year : capital recovery, fixed opex and always-on power of the online fleet
    gpus, pipeline_gpus : GPUs online, and ordered but not yet online
    """

    capacity_gpu_s: np.ndarray
    fixed_usd_per_year: np.ndarray
    gpus: np.ndarray
    pipeline_gpus: np.ndarray


def _product_ptr(product_producer: np.ndarray, n_hosts: int) -> np.ndarray:
    ptr = np.zeros(n_hosts + 1, np.int64)
    np.cumsum(np.bincount(product_producer, minlength=n_hosts), out=ptr[1:])
    return ptr


def _pairs(cohort_host: np.ndarray, product_ptr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (cohort, product of the cohort's host) pair: the cohort and product indices."""
    counts = product_ptr[cohort_host + 1] - product_ptr[cohort_host]
    cohort = np.repeat(np.arange(cohort_host.size), counts)
    first = np.repeat(product_ptr[cohort_host] - np.cumsum(counts) + counts, counts)
    return cohort, first + np.arange(int(counts.sum()))


def _pair_costs(supply: SupplyCosts, date: dt.date, hosts: Hosts, levers: PolicyLevers,
                cohort_host: np.ndarray, cohort_chip: np.ndarray, product_ptr: np.ndarray,
                product_family: np.ndarray, cohort: np.ndarray, product: np.ndarray
                ) -> tuple[CohortCosts, np.ndarray]:
    """``supply.costs`` of every (cohort, product of its host) pair of :func:`_pairs`, and the
    pairs' merit order ``np.lexsort((marginal cost, product))``.

    A pair's costs depend on its host, chip and family only, and a fleet holds thousands of
    cohorts (one per order) of a few (host, chip) kinds: the costs are computed once per (kind,
    product of the kind's host) and gathered to the pairs (the same numbers, elementwise). The
    merit order sorts the kinds' pairs, ranks them (equal product and cost, equal rank) and
    sorts the pairs by rank, stably: lexsort's order, with one small-int radix sort over the
    pairs instead of a two-key sort.
    """
    n_chips = len(supply.serving.chips.names)
    kinds, cohort_kind = unique_inverse(cohort_host * n_chips + cohort_chip,
                                        product_ptr.size * n_chips)
    kind_host, kind_chip = kinds // n_chips, kinds % n_chips
    kind, kind_product = _pairs(kind_host, product_ptr)
    host = kind_host[kind]
    costs = supply.costs(kind_chip[kind], product_family[kind_product], date, hosts.site(host),
                         levers, wacc=hosts.wacc[host],
                         serving_efficiency=hosts.serving_efficiency[host])
    # row of pair (c, a) among the kinds' pairs: its kind's first row + a's place in its host
    counts = product_ptr[kind_host + 1] - product_ptr[kind_host]
    kind_first = np.cumsum(counts) - counts
    row = kind_first[cohort_kind[cohort]] + product - product_ptr[cohort_host[cohort]]
    gathered = {}
    for f in dataclasses.fields(costs):
        value = getattr(costs, f.name)
        gathered[f.name] = value if np.ndim(value) == 0 else value[row]
    return CohortCosts(**gathered), _merit_order(costs.marginal_usd_per_mtok, kind_product, row)


def _merit_order(cost: np.ndarray, product: np.ndarray, row: np.ndarray) -> np.ndarray:
    """``np.lexsort((cost[row], product[row]))`` from a sort of the short ``cost`` and
    ``product`` (NaN costs tie with each other, as in lexsort)."""
    order = np.lexsort((cost, product))
    sorted_cost, sorted_product = cost[order], product[order]
    same_cost = ((sorted_cost[1:] == sorted_cost[:-1])
                 | (np.isnan(sorted_cost[1:]) & np.isnan(sorted_cost[:-1])))
    starts = np.r_[True, (sorted_product[1:] != sorted_product[:-1]) | ~same_cost]
    rank = np.empty(order.size, np.int64)
    rank[order] = np.cumsum(starts) - 1
    small = np.int16 if order.size <= np.iinfo(np.int16).max else np.int64  # radix sort
    return np.argsort(rank[row].astype(small), kind="stable")


def cohort_power_price(supply: SupplyCosts, chip: np.ndarray, hosts: Hosts, host: np.ndarray,
                       date: dt.date, levers: PolicyLevers) -> np.ndarray:
    """USD/kWh each cohort pays: its host's power price after the domestic-chip subsidy, plus the
    carbon price."""
    return power_usd_per_kwh(hosts.electricity_usd_per_kwh[host], levers.carbon_price_usd_per_t,
                             hosts.carbon_kg_per_kwh[host],
                             supply.power_subsidy(chip, hosts.bloc[host], date, levers))


def fleet_fixed_costs(supply: SupplyCosts, fleet: Fleet, step: int, date: dt.date, hosts: Hosts,
                      levers: PolicyLevers) -> np.ndarray:
    """Capital recovery (CRF at the host's WACC, net of the capex subsidy), fixed opex and
    always-on power of each host's online fleet (USD/year), shape (n_hosts,)."""
    n_hosts = hosts.pue.size
    online = fleet.is_online(step)
    cohort_host, gpus = fleet.producer[online], fleet.gpus[online]
    # per GPU the cost depends on the host and chip only: once per (host, chip) kind of cohort
    n_chips = len(supply.serving.chips.names)
    kinds, cohort_kind = unique_inverse(cohort_host * n_chips + fleet.chip[online],
                                        n_hosts * n_chips)
    host, chip = kinds // n_chips, kinds % n_chips
    chips = supply.serving.chips
    capital = supply.catalogue.capital
    price, server_w = chips.price_usd[chip], chips.server_power_w[chip]
    facility = hosts.facility_usd_per_w[host]
    per_gpu = (capital_cost_usd_per_gpu_year(
                   price, facility, server_w, wacc=hosts.wacc[host],
                   chip_life_years=capital.chip_life_years,
                   facility_life_years=capital.facility_life_years,
                   capex_subsidy=levers.capex_subsidy)
               + capital.fixed_opex_share_per_year * capex_usd_per_gpu(price, facility, server_w)
               + fixed_energy_usd_per_gpu_year(
                   fixed_power_w(chips.power_w[chip], chips.idle_power_w[chip], server_w),
                   hosts.pue[host], cohort_power_price(supply, chip, hosts, host, date, levers)))
    return np.bincount(cohort_host, gpus * per_gpu[cohort_kind], minlength=n_hosts)


def product_costs(supply: SupplyCosts, fleet: Fleet, step: int, date: dt.date, hosts: Hosts,
                  best_chip: np.ndarray, product_producer: np.ndarray,
                  product_family: np.ndarray, host_load_gpu_s: np.ndarray,
                  levers: PolicyLevers, step_seconds: float, max_utilisation: float
                  ) -> tuple[ProductCosts, HostCosts]:
    """Per-product figures and per-host capacity and fixed costs at ``step`` (module docstring).

    Parameters
    ----------
    supply : the scenario's SupplyCosts
    fleet : the GPU cohorts (``fleet.producer`` = host index)
    hosts : where and how each host serves
    best_chip : (n_hosts,) the chip each host would buy now (fallback and full cost)
    product_producer, product_family : (n_products,) host and family of each product, sorted by
        host
    host_load_gpu_s : (n_hosts,) last step's realised load of each host (GPU-seconds), which
        picks the merit-order marginal cohort
    """
    n_hosts = hosts.pue.size
    online = fleet.is_online(step)
    gpus_by_host = np.bincount(fleet.producer[online], fleet.gpus[online], minlength=n_hosts)
    idle = np.flatnonzero(gpus_by_host <= 0)
    # the cohorts costs are computed over: the online ones, plus one notional GPU of the best chip
    # for each host without any (capacity 0)
    cohort_host = np.concatenate([fleet.producer[online], idle])
    cohort_chip = np.concatenate([fleet.chip[online], best_chip[idle]])
    cohort_gpus = np.concatenate([fleet.gpus[online], np.ones(idle.size)])
    cohort_capacity = np.concatenate([fleet.gpus[online] * step_seconds * max_utilisation,
                                      np.zeros(idle.size)])
    product_ptr = _product_ptr(product_producer, n_hosts)
    cohort, product = _pairs(cohort_host, product_ptr)
    host = cohort_host[cohort]
    chip = cohort_chip[cohort]
    pair, merit_order = _pair_costs(supply, date, hosts, levers, cohort_host, cohort_chip,
                                    product_ptr, product_family, cohort, product)
    chips = supply.serving.chips
    n_products = product_producer.size
    g = cohort_gpus[cohort]
    dynamic_w = g * (chips.power_w[chip] - chips.idle_power_w[chip])
    throughput = np.bincount(product, g * pair.tokens_per_s, minlength=n_products)
    host_gpus = np.bincount(cohort_host, cohort_gpus, minlength=n_hosts)[product_producer]
    energy_usd = np.bincount(product, dynamic_w * hosts.pue[host] * pair.power_usd_per_kwh,
                             minlength=n_products)
    with np.errstate(divide="ignore", invalid="ignore"):
        tps = throughput / host_gpus
        joules = np.bincount(product, dynamic_w, minlength=n_products) / throughput
        energy = energy_usd / (MJ_PER_KWH * throughput)
    marginal = merit_order_marginal_index(product, pair.marginal_usd_per_mtok,
                                          cohort_capacity[cohort],
                                          host_load_gpu_s[product_producer], order=merit_order)
    new_chip = best_chip[product_producer]
    new = supply.costs(new_chip, product_family, date, hosts.site(product_producer), levers,
                       wacc=hosts.wacc[product_producer],
                       serving_efficiency=hosts.serving_efficiency[product_producer])
    capital = supply.catalogue.capital
    mtok_per_gpu_year = (new.tokens_per_s * SECONDS_PER_YEAR * capital.planned_utilisation
                         / TOKENS_PER_MTOK)
    full_capital = capital_cost_usd_per_gpu_year(
        chips.price_usd[new_chip], hosts.facility_usd_per_w[product_producer],
        chips.server_power_w[new_chip], wacc=hosts.wacc[product_producer],
        chip_life_years=capital.chip_life_years,
        facility_life_years=capital.facility_life_years,
        capex_subsidy=levers.capex_subsidy) / mtok_per_gpu_year
    costs = ProductCosts(
        tokens_per_s_per_gpu=tps, load_gpu_s_per_mtok=TOKENS_PER_MTOK / tps,
        energy_j_per_token=joules, energy_usd_per_mtok=energy,
        marginal_usd_per_mtok=pair.marginal_usd_per_mtok[marginal],
        marginal_energy_usd_per_mtok=pair.energy_usd_per_mtok[marginal],
        marginal_capacity_usd_per_mtok=pair.capacity_usd_per_mtok[marginal],
        full_usd_per_mtok=new.full_usd_per_mtok,
        full_energy_usd_per_mtok=new.energy_usd_per_mtok,
        full_capital_usd_per_mtok=full_capital,
        full_opex_usd_per_mtok=new.full_usd_per_mtok - new.energy_usd_per_mtok - full_capital)
    host_costs = HostCosts(
        capacity_gpu_s=gpus_by_host * step_seconds * max_utilisation,
        fixed_usd_per_year=fleet_fixed_costs(supply, fleet, step, date, hosts, levers),
        gpus=gpus_by_host, pipeline_gpus=fleet.gpus_by_producer(n_hosts, step, pipeline=True))
    return costs, host_costs


def best_chips(supply: SupplyCosts, hosts: Hosts, family: np.ndarray, date: dt.date,
               levers: PolicyLevers) -> tuple[np.ndarray, np.ndarray]:
    """Per host, the chip with the lowest full cost per Mtok of ``family[i]`` among those its
    bloc may buy at ``date`` (the investment choice), and that full cost (USD/Mtok).

    A bloc that can buy no chip at the date keeps the cheapest chip of all (cost inf: no order
    passes the margin test).
    """
    n_hosts, n_chips = hosts.pue.size, len(supply.serving.chips.names)
    available = np.zeros((n_hosts, n_chips), dtype=bool)
    for bloc in np.unique(hosts.bloc):
        rows = hosts.bloc == bloc
        available[rows] = available_under(supply.catalogue, str(bloc), date, levers)
    index = np.arange(n_hosts)[:, None]
    full = supply.costs(np.broadcast_to(np.arange(n_chips), (n_hosts, n_chips)), family[:, None],
                        date, hosts.site(index), levers, wacc=hosts.wacc[index],
                        serving_efficiency=hosts.serving_efficiency[index]).full_usd_per_mtok
    cost = np.where(available, full, np.inf)
    chip = np.where(available.any(axis=1), np.argmin(cost, axis=1), np.argmin(full, axis=1))
    return chip.astype(np.int64), cost[np.arange(n_hosts), chip]
