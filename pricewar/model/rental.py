"""The GPU rental markets of the model's fleets (docs/ODD.md §6.1c): one market per chip class
and bloc, cleared by :func:`pricewar.supply.rental_market.clear_rental_market` each step.

Reads the online cohorts, the hosts' sites (set by the costs phase) and their realised load;
writes nothing: the outcome is returned (the model keeps it as ``model.rental`` for the
reporters and, at market version 3, for exit and entry).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from pricewar.model.population import ProducerArrays
from pricewar.model.regions import RegionTable
from pricewar.scenario.catalogue import BLOCS
from pricewar.supply.cohort_costs import SupplyCosts, power_usd_per_kwh
from pricewar.supply.fleet import Fleet
from pricewar.supply.rental_market import check_against_index, clear_rental_market, owner_costs
from pricewar.units import SECONDS_PER_HOUR


@dataclass(frozen=True, eq=False)
class RentalOutcome:
    """This step's rental markets, arrays of shape (n_chips, n_blocs) (``blocs`` order), and
    what each online cohort and host sees of them.

    Attributes
    ----------
    blocs : the blocs with markets (:data:`~pricewar.scenario.catalogue.BLOCS`)
    rent_usd_per_gpu_hour, floor_usd_per_gpu_hour : the clearing rent and the floor
    installed_gpus, idle_gpus : GPUs installed (hosts' + exogenous) and idle (step averages)
    host_rent_usd_per_gpu_hour, host_floor_usd_per_gpu_hour : per host, GPU-weighted over its
        online cohorts' markets (its best chip's market when it has none)
    host_idle_share : per host, GPU-weighted idle share of its cohorts' markets
    cohort_mask : per fleet row, whether it is an online cohort of a host in a bloc with markets
    cohort_market : per such cohort (``fleet`` order), its market's flat index
        ``chip x n_blocs + bloc``
    """

    blocs: tuple[str, ...]
    rent_usd_per_gpu_hour: np.ndarray
    floor_usd_per_gpu_hour: np.ndarray
    installed_gpus: np.ndarray
    idle_gpus: np.ndarray
    host_rent_usd_per_gpu_hour: np.ndarray
    host_floor_usd_per_gpu_hour: np.ndarray
    host_idle_share: np.ndarray
    cohort_mask: np.ndarray
    cohort_market: np.ndarray

    def idle_gpus_by_bloc(self) -> dict[str, float]:
        return {b: float(self.idle_gpus[:, k].sum()) for k, b in enumerate(self.blocs)}

    def idle_share_by_bloc(self) -> dict[str, float]:
        installed = self.installed_gpus.sum(axis=0)
        return {b: float(self.idle_gpus[:, k].sum() / installed[k]) if installed[k] > 0 else 0.0
                for k, b in enumerate(self.blocs)}


def _weighted(values: np.ndarray, weight: np.ndarray, group: np.ndarray, n: int,
              fallback: np.ndarray) -> np.ndarray:
    total = np.bincount(group, weight, minlength=n)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.bincount(group, values * weight, minlength=n) / total
    return np.where(total > 0, mean, fallback)


def clear_markets(scenario, supply: SupplyCosts, date: dt.date, step: int, regions: RegionTable,
                  fleet: Fleet, producers: ProducerArrays) -> RentalOutcome:
    """Clear the rental market of every (chip, bloc) at ``date``.

    A market's site (PUE, power price, facility cost, WACC) is the GPU-weighted mean of its
    cohorts' hosts; a market without cohorts takes the mean host of its bloc (of all hosts if
    the bloc has none) and, with no exogenous fleet either, sits at its floor. Each host's load
    is spread over its online cohorts in proportion to their GPUs.
    """
    rm = scenario.rental_market
    capital, levers = scenario.capital, scenario.policy
    chips = supply.serving.chips
    n_chips, n_blocs = len(chips.names), len(BLOCS)
    n_hosts = len(producers)
    host_bloc = np.array([BLOCS.index(b) if b in BLOCS else -1
                          for b in regions.bloc[producers.region]], dtype=np.int64)
    online = fleet.is_online(step) & (host_bloc[fleet.producer] >= 0)
    host, chip, gpus = fleet.producer[online], fleet.chip[online], fleet.gpus[online]
    market = chip * n_blocs + host_bloc[host]
    n_markets = n_chips * n_blocs
    market_gpus = np.bincount(market, gpus, minlength=n_markets)

    # each market's site: GPU-weighted over its cohorts, else its bloc's mean host
    bloc_of_market = np.tile(np.arange(n_blocs), n_chips)
    chip_of_market = np.repeat(np.arange(n_chips), n_blocs)

    def site(column: np.ndarray) -> np.ndarray:
        has = host_bloc >= 0
        overall = column[has].mean() if has.any() else column.mean()
        bloc_mean = np.array([column[host_bloc == k].mean() if (host_bloc == k).any()
                              else overall for k in range(n_blocs)])
        return _weighted(column[host], gpus, market, n_markets, bloc_mean[bloc_of_market])

    bloc_name = np.array(BLOCS)[bloc_of_market]
    carbon = site(producers.carbon)
    price = power_usd_per_kwh(site(producers.electricity), levers.carbon_price_usd_per_t, carbon,
                              supply.power_subsidy(chip_of_market, bloc_name, date, levers))
    costs = owner_costs(chips.price_usd[chip_of_market], site(producers.facility),
                        chips.server_power_w[chip_of_market], site(producers.pue), price,
                        wacc=site(producers.wacc), chip_life_years=capital.chip_life_years,
                        facility_life_years=capital.facility_life_years,
                        fixed_opex_share_per_year=capital.fixed_opex_share_per_year,
                        payback_years=rm.payback_years, capex_subsidy=levers.capex_subsidy)

    step_hours = scenario.step_seconds / SECONDS_PER_HOUR
    host_gpus = np.bincount(host, gpus, minlength=n_hosts)
    with np.errstate(divide="ignore", invalid="ignore"):
        cohort_share = np.where(host_gpus[host] > 0, gpus / host_gpus[host], 0.0)
    # a host's realised load never exceeds its fleet's GPU-seconds
    load_gpu_s = np.minimum(producers.load_gpu_s[host], host_gpus[host] * scenario.step_seconds)
    serving = np.bincount(market, load_gpu_s * cohort_share,
                          minlength=n_markets) / SECONDS_PER_HOUR
    other = rm.other_gpus_per_host_gpu * market_gpus * step_hours
    share = np.array([rm.other_demand_share(b) for b in BLOCS])[bloc_of_market]
    cleared = clear_rental_market(market_gpus * step_hours + other, serving, share * other, costs,
                                  rm.other_demand_elasticity)

    rent = cleared.rent_usd_per_gpu_hour
    floor = np.broadcast_to(costs.floor_usd_per_gpu_hour, rent.shape)
    installed_gpus = market_gpus * (1.0 + rm.other_gpus_per_host_gpu)
    idle_gpus = cleared.idle_gpu_hours / step_hours
    with np.errstate(divide="ignore", invalid="ignore"):
        idle_share = np.where(installed_gpus > 0, idle_gpus / installed_gpus, 0.0)
    best = producers.best_chip * n_blocs + np.maximum(host_bloc, 0)
    return RentalOutcome(
        blocs=BLOCS,
        rent_usd_per_gpu_hour=rent.reshape(n_chips, n_blocs),
        floor_usd_per_gpu_hour=floor.reshape(n_chips, n_blocs),
        installed_gpus=installed_gpus.reshape(n_chips, n_blocs),
        idle_gpus=idle_gpus.reshape(n_chips, n_blocs),
        host_rent_usd_per_gpu_hour=_weighted(rent[market], gpus, host, n_hosts, rent[best]),
        host_floor_usd_per_gpu_hour=_weighted(floor[market], gpus, host, n_hosts, floor[best]),
        host_idle_share=_weighted(idle_share[market], gpus, host, n_hosts, idle_share[best]),
        cohort_mask=online, cohort_market=market)


#: the bloc whose market each observed rental series quotes (docs/calibration.md C14): the
#: H100 and B200 series are western market indices, the H800 and A800 ones Chinese quotes
SERIES_BLOC = {"H100": "western", "B200": "western", "H800": "cn", "A800": "cn"}


def index_check(outcome: RentalOutcome, supply: SupplyCosts, chip_names, date: dt.date,
                tolerance_factor: float = 1.5) -> list[tuple[str, str, float, float, bool]]:
    """The cleared rents against the observed rental index at ``date`` (a check, never fed
    back): one row ``(chip, bloc, model rent, observed rent, within tolerance)`` per chip with
    an observed series (:data:`SERIES_BLOC` names its bloc) whose market holds GPUs."""
    series = supply.catalogue.rental_series
    rows = []
    for c, chip in enumerate(chip_names):
        bloc = SERIES_BLOC.get(chip)
        if chip not in series or bloc not in outcome.blocs:
            continue
        k = outcome.blocs.index(bloc)
        if outcome.installed_gpus[c, k] <= 0:
            continue
        model = float(outcome.rent_usd_per_gpu_hour[c, k])
        observed = float(supply.rental.usd_per_gpu_hour(chip, date))
        check = check_against_index(model, observed, tolerance_factor)
        rows.append((chip, bloc, model, observed, bool(check.within)))
    return rows
