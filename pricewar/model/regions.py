"""The scenario's regions as arrays indexed by region number, computed once per model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pricewar.supply.graph import ACCESS_CODE

#: region attributes kept as float columns (units in the names)
REGION_COLUMNS = ("electricity_usd_per_kwh", "green_supply_usd_per_kwh",
                  "green_supply_cap_mwh_per_step", "pue", "facility_usd_per_w",
                  "carbon_kg_per_kwh", "ai_power_cap_mw", "ai_power_growth_per_year")


@dataclass(frozen=True, eq=False)
class RegionTable:
    """Region attributes, one array of shape (n_regions,) per attribute (scenario order).

    Attributes
    ----------
    names : region names (the region number is the position)
    hosts_producers : bool array (see :class:`pricewar.scenario.Region`)
    bloc : bloc of each region (``"cn"``, ``"western"``, ``"contested"``), string array (numpy
        compares fixed-width strings in C; an object array compares them one Python call each)
    electricity_usd_per_kwh, ..., ai_power_growth_per_year : float arrays of
        :data:`REGION_COLUMNS` (grid and direct green electricity price, green volume cap per
        step, PUE, facility cost per W, carbon intensity, power for AI and its growth per year)
    latency_ms : (n_regions, n_regions) round-trip latency (ms)
    access_code : (n_regions, n_regions) consumer-region x producer-region access codes
        (:data:`pricewar.supply.graph.ACCESS_CODE`; barred where the access table has no entry)
    sector_access_code : (n_sectors, n_regions, n_regions) the same per consumer sector, with the
        scenario's ``sector_access`` overrides
    """

    names: tuple[str, ...]
    hosts_producers: np.ndarray
    bloc: np.ndarray
    electricity_usd_per_kwh: np.ndarray
    green_supply_usd_per_kwh: np.ndarray
    green_supply_cap_mwh_per_step: np.ndarray
    pue: np.ndarray
    facility_usd_per_w: np.ndarray
    carbon_kg_per_kwh: np.ndarray
    ai_power_cap_mw: np.ndarray
    ai_power_growth_per_year: np.ndarray
    latency_ms: np.ndarray
    access_code: np.ndarray
    sector_access_code: np.ndarray

    @classmethod
    def from_scenario(cls, scenario) -> RegionTable:
        names = tuple(scenario.regions)
        regions = [scenario.regions[name] for name in names]
        access = np.full((len(names), len(names)), ACCESS_CODE["barred"], dtype=np.int64)
        for a, consumer_region in enumerate(names):
            for b, producer_region in enumerate(names):
                if producer_region in scenario.access[consumer_region]:
                    access[a, b] = ACCESS_CODE[scenario.access[consumer_region][producer_region]]
        latency = scenario.latency_ms
        by_sector = np.repeat(access[None], len(scenario.sectors), axis=0)
        for s, sector in enumerate(scenario.sectors):
            for consumer_region, row in scenario.sector_access.get(sector, {}).items():
                for producer_region, tier in row.items():
                    by_sector[s, names.index(consumer_region),
                              names.index(producer_region)] = ACCESS_CODE[tier]
        return cls(
            names=names,
            hosts_producers=np.array([r.hosts_producers for r in regions], dtype=bool),
            bloc=np.array([r.bloc for r in regions], dtype=str),
            **{c: np.array([getattr(r, c) for r in regions], dtype=float)
               for c in REGION_COLUMNS},
            latency_ms=np.array([[latency[a][b] for b in names] for a in names]),
            access_code=access, sector_access_code=by_sector)

    def index(self, names) -> np.ndarray:
        """Region numbers of ``names`` (int array)."""
        lookup = {name: i for i, name in enumerate(self.names)}
        return np.array([lookup[n] for n in names], dtype=np.int64)

    @property
    def producer_regions(self) -> tuple[str, ...]:
        """Names of the regions that host producers."""
        return tuple(n for n, hosts in zip(self.names, self.hosts_producers, strict=True) if hosts)

    def in_bloc(self, bloc: str) -> list[int]:
        """Region numbers of supplier bloc ``bloc``, in scenario order."""
        return [i for i, b in enumerate(self.bloc) if b == bloc]
