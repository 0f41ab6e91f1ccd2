"""Construction of a model's state from its scenario (docs/ODD.md §5 "Initialisation").

The host, platform and consumer arrays (random draws from the model's generator, in this order:
host quality, platform listings, consumer task volumes and platforms) and the initial fleet.
"""

from __future__ import annotations

import numpy as np

from pricewar.model.population import ConsumerArrays, PlatformArrays, ProducerArrays
from pricewar.model.regions import RegionTable
from pricewar.supply.fleet import Fleet
from pricewar.supply.graph import ACCESS_CODE

#: smallest initial fleet of a host (GPUs)
MIN_INITIAL_GPUS = 8.0


def create_producers(scenario, regions: RegionTable, rng: np.random.Generator) -> ProducerArrays:
    """One host per count of each producer group; host quality ``xi_i ~ N(0, sd_group)``."""
    columns: dict[str, list] = {name: [] for name in (
        "region", "group", "strategy", "owner", "open_families", "initial_chip", "quality",
        "serving_efficiency", "wacc")}
    owners = list(scenario.owners)
    chips = list(scenario.chips)
    for name, g in scenario.producers.items():
        for _ in range(g.count):
            columns["region"].append(g.region)
            columns["group"].append(name)
            columns["strategy"].append(g.strategy)
            columns["owner"].append(owners.index(g.owner) if g.owner else -1)
            columns["open_families"].append(g.open_families)
            columns["initial_chip"].append(chips.index(g.chip))
            columns["quality"].append(g.quality_sd_utils * rng.standard_normal())
            columns["serving_efficiency"].append(g.serving_efficiency)
            columns["wacc"].append(scenario.policy.wacc + g.wacc_premium)
    return ProducerArrays(
        region=regions.index(columns["region"]),
        group=np.array(columns["group"], dtype=object),
        strategy=np.array(columns["strategy"], dtype=object),
        owner=np.array(columns["owner"], dtype=np.int64),
        open_families=np.array(columns["open_families"], dtype=np.int64),
        initial_chip=np.array(columns["initial_chip"], dtype=np.int64),
        quality=np.array(columns["quality"], dtype=float),
        serving_efficiency=np.array(columns["serving_efficiency"], dtype=float),
        wacc=np.maximum(np.array(columns["wacc"], dtype=float), 0.0))


def create_platforms(scenario, regions: RegionTable, producer_region: np.ndarray,
                     producer_owner: np.ndarray, rng: np.random.Generator) -> PlatformArrays:
    """Platforms of each group list every owner-host of the regions they list (first-party APIs)
    and a random sample of ``listings`` independent hosts there; every host sells somewhere (an
    unlisted one joins a random platform listing its region)."""
    region, groups, rates, value_add, listings, lists = [], [], [], [], [], []
    for name, group in scenario.platforms.items():
        in_regions = np.isin(producer_region, regions.index(group.lists))
        owned = np.flatnonzero(in_regions & (producer_owner >= 0))
        independent = np.flatnonzero(in_regions & (producer_owner < 0))
        for _ in range(group.count):
            region.append(group.region)
            groups.append(name)
            rates.append(group.markup_rate)
            value_add.append(group.value_add_utils)
            lists.append(regions.index(group.lists))
            size = min(group.listings, independent.size)
            listings.append(np.union1d(owned, rng.choice(independent, size, replace=False)))
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
    """``consumers_per_segment`` consumers per region x sector, with a lognormal spread (mean 1)
    of the segment's observed volume, each using up to ``platforms_per_consumer`` platforms its
    region may use. The task volume at step 0 is the observed volume: the upper level is
    referenced at the initial prices (``X_j = D_j`` there)."""
    s = scenario
    per_segment = s.demand.consumers_per_segment
    sigma = s.demand.demand_sd
    region, sector, base = [], [], []
    sector_index = {name: i for i, name in enumerate(s.sectors)}
    for region_name in regions.names:
        volume = s.demand.base_mtok_per_step.get(region_name, 0.0)
        for sector_name, sec in s.sectors.items():
            spread = np.exp(sigma * rng.standard_normal(per_segment) - sigma**2 / 2)
            region += [region_name] * per_segment
            sector += [sector_name] * per_segment
            base.append(volume * sec.demand_share / per_segment * spread)
    region_index = regions.index(region)
    sector_number = np.array([sector_index[x] for x in sector], dtype=np.int64)
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
        region=region_index, sector=sector_number, base_demand=np.concatenate(base),
        alpha=per_consumer("alpha").astype(float), eta=per_consumer("eta").astype(float),
        quality_weight=per_consumer("quality_weight").astype(float),
        tolerance_ms=per_consumer("latency_tolerance_ms").astype(float),
        latency_cost=per_consumer("latency_utils_per_ms").astype(float),
        flexible=per_consumer("flexible").astype(bool), platforms=platforms)


def add_initial_fleet(fleet: Fleet, load_gpu_s: np.ndarray, initial_chip: np.ndarray,
                      gpu_s_per_gpu: float, life_steps: int, rng: np.random.Generator) -> None:
    """Fleets sized so each host serves ``load_gpu_s`` (GPU-seconds per step) at the planned
    utilisation (``gpu_s_per_gpu`` per GPU and step; at least :data:`MIN_INITIAL_GPUS`), as one
    cohort of the group's chip whose age is drawn uniformly over the first half of the chip's
    economic life."""
    gpus = np.maximum(np.ceil(load_gpu_s / gpu_s_per_gpu), MIN_INITIAL_GPUS)
    age = rng.integers(0, max(life_steps // 2, 1), load_gpu_s.size)
    fleet.add(np.arange(load_gpu_s.size), initial_chip, gpus, -age, life_steps - age)
