"""Construction of a model's state from its scenario (docs/ODD.md §5 "Initialisation").

The chip table, the producer, platform and consumer arrays (random draws from the model's
generator, in this order: producer quality, platform listings, consumer demand spread and
platforms), the calibrated outside option and the initial fleet.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from pricewar.kernel import RouteMarket
from pricewar.market.chips import ChipTable
from pricewar.market.fleet import Fleet
from pricewar.market.graph import ACCESS_CODE
from pricewar.model.phases import decimal_year
from pricewar.model.population import ConsumerArrays, PlatformArrays, ProducerArrays
from pricewar.model.regions import RegionTable

#: smallest initial fleet of a producer (GPUs)
MIN_INITIAL_GPUS = 8.0


def chip_table(scenario) -> ChipTable:
    """The scenario's chips as arrays (chip number = position in ``scenario.chips``)."""
    chips = scenario.chips
    names = tuple(chips)

    def column(field, dtype=float):
        return np.array([getattr(chips[n], field) for n in names], dtype=dtype)

    return ChipTable(
        names=names, price_usd=column("price_usd"), power_w=column("power_w"),
        tokens_per_s=column("tokens_per_s_per_gpu"),
        energy_j_per_token=column("energy_j_per_token"),
        release_year=np.array([decimal_year(dt.date.fromisoformat(chips[n].release_date))
                               for n in names]),
        purchasable=column("purchasable", bool),
        supply_gpus_per_step=column("supply_gpus_per_step"),
        supply_growth_per_year=column("supply_growth_per_year"))


def create_producers(scenario, regions: RegionTable, chips: ChipTable,
                     rng: np.random.Generator) -> ProducerArrays:
    """One producer per count of each producer group; quality drawn around the group's level."""
    region, group, chip, strategy, quality = [], [], [], [], []
    for name, g in scenario.producers.items():
        for _ in range(g.count):
            region.append(g.region)
            group.append(name)
            chip.append(g.chip)
            strategy.append(g.strategy)
            quality.append(g.quality_utils + g.quality_sd_utils * rng.standard_normal())
    return ProducerArrays(
        region=regions.index(region), group=np.array(group, dtype=object),
        strategy=np.array(strategy, dtype=object),
        initial_chip=np.array([chips.index(c) for c in chip], np.int64),
        quality=np.array(quality, dtype=float))


def create_platforms(scenario, regions: RegionTable, producer_region: np.ndarray,
                     rng: np.random.Generator) -> PlatformArrays:
    """Platforms of each group list a random sample of the producers in the regions they list;
    every producer sells somewhere (an unlisted one joins a random platform listing its
    region)."""
    region, groups, rates, value_add, listings, lists = [], [], [], [], [], []
    for name, group in scenario.platforms.items():
        eligible = np.flatnonzero(np.isin(producer_region, regions.index(group.lists)))
        for _ in range(group.count):
            region.append(group.region)
            groups.append(name)
            rates.append(group.markup_rate)
            value_add.append(group.value_add_utils)
            lists.append(regions.index(group.lists))
            size = min(group.listings, eligible.size)
            listings.append(np.sort(rng.choice(eligible, size, replace=False)))
    listed = np.zeros(producer_region.size, bool)
    for ids in listings:
        listed[ids] = True
    for i in np.flatnonzero(~listed):
        hosts = [k for k, regions_k in enumerate(lists) if producer_region[i] in regions_k]
        if hosts:
            k = int(rng.choice(hosts))
            listings[k] = np.sort(np.append(listings[k], i))
    return PlatformArrays(region=regions.index(region), group=np.array(groups, dtype=object),
                          markup_rate=np.array(rates, dtype=float),
                          value_add=np.array(value_add, dtype=float), listings=listings,
                          lists_regions=lists)


def create_consumers(scenario, regions: RegionTable, platform_region: np.ndarray,
                     rng: np.random.Generator) -> ConsumerArrays:
    """``consumers_per_segment`` consumers per region x sector, with a lognormal spread of the
    segment's demand, each using up to ``platforms_per_consumer`` platforms its region may use."""
    s = scenario
    per_segment = s.demand.consumers_per_segment
    sigma = s.demand.demand_sd
    region, sector, base = [], [], []
    sector_index = {name: i for i, name in enumerate(s.sectors)}
    for region_name in regions.names:
        volume = s.demand.base_mtok_per_step.get(region_name, 0.0)
        for sector_name, sec in s.sectors.items():
            # lognormal spread with mean 1 keeps the segment's expected volume
            spread = np.exp(sigma * rng.standard_normal(per_segment) - sigma**2 / 2)
            region += [region_name] * per_segment
            sector += [sector_name] * per_segment
            base.append(volume * sec.demand_share / per_segment * spread)
    region_index = regions.index(region)
    sector_number = np.array([sector_index[x] for x in sector], dtype=np.int64)
    # observed volume is the served (inside) volume: potential demand is larger by 1/s_in
    inside = 1.0 - s.demand.initial_outside_share
    sectors = list(s.sectors.values())

    def per_consumer(field):
        return np.array([getattr(x, field) for x in sectors])[sector_number]

    # platforms a consumer can use: those in regions its own region does not bar
    platform_ok = (regions.access_code[region_index][:, platform_region]
                   != ACCESS_CODE["barred"])
    k = s.demand.platforms_per_consumer
    platforms = []
    for j in range(region_index.size):
        allowed = np.flatnonzero(platform_ok[j])
        platforms.append(np.sort(rng.choice(allowed, min(k, allowed.size), replace=False)))
    return ConsumerArrays(
        region=region_index, sector=sector_number,
        base_demand=np.concatenate(base) / max(inside, 1e-9),
        alpha=per_consumer("alpha").astype(float),
        quality_weight=per_consumer("quality_weight").astype(float),
        tolerance_ms=per_consumer("latency_tolerance_ms").astype(float),
        latency_cost=per_consumer("latency_utils_per_ms").astype(float),
        flexible=per_consumer("flexible").astype(bool), platforms=platforms)


def calibrated_outside_utility(market: RouteMarket, price: np.ndarray,
                               outside_share: float) -> np.ndarray:
    """Outside-option utility ``v0_j`` per consumer such that its outside share at ``price`` is
    ``outside_share`` (0 for consumers without routes)."""
    topo = market.topology
    route_price = price[topo.route_producer] + market.route_price_extra
    phi = np.log(route_price) if market.price_form == "log" else route_price
    value = market.route_utility - market.route_alpha * phi
    top = topo.segment_max(value)
    has_route = np.isfinite(top)
    inside = np.where(has_route, top, 0.0)
    total = topo.segment_sum(np.exp(value - inside[topo.route_consumer]))
    inside_logsum = inside + np.log(np.where(has_route, total, 1.0))
    ratio = outside_share / max(1.0 - outside_share, 1e-12)
    return np.where(has_route, inside_logsum + np.log(max(ratio, 1e-300)), 0.0)


def add_initial_fleet(fleet: Fleet, demand: np.ndarray, initial_chip: np.ndarray,
                      per_gpu_mtok: np.ndarray, life_steps: int,
                      rng: np.random.Generator) -> None:
    """Fleets sized so each producer serves ``demand`` at the planned utilisation
    (``per_gpu_mtok`` per GPU and step; at least :data:`MIN_INITIAL_GPUS`), with cohort ages
    spread over the first half of the GPU life."""
    gpus = np.maximum(np.ceil(demand / per_gpu_mtok), MIN_INITIAL_GPUS)
    age = rng.integers(0, max(life_steps // 2, 1), demand.size)
    fleet.add(np.arange(demand.size), initial_chip, gpus, -age, life_steps - age)
