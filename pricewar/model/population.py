"""The agents' numeric state: one table of named arrays per agent type, one schema each.

:class:`ProducerArrays` holds every per-producer array (shape ``(n_producers,)``); exit and entry
resize all of them in one place (:meth:`ProducerArrays.take`). :class:`PlatformArrays` and
:class:`ConsumerArrays` hold the platforms' and consumers' arrays (their number never changes).
The Mesa agents are views into these arrays (:mod:`pricewar.model.agents`), and the model exposes
every column as ``model.<type>_<column>`` (``model.producer_price``, ``model.consumer_demand``,
...; :class:`ArrayAttributes`). Units: prices and costs USD/Mtok, volumes Mtok/step, money USD,
energy MWh/step, emissions t CO2/step.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np


def _identity():
    """Set at creation (an entrant copies its group's template, then gets its own values)."""
    return field(metadata={"kind": "identity"})


def _state(initial: float = 0.0):
    """Carried from step to step; a new producer starts at ``initial``."""
    return field(default=None, metadata={"kind": "state", "initial": initial})


def _derived(dtype=float):
    """Recomputed from the region, fleet and date by the costs phase every step."""
    return field(default=None, metadata={"kind": "derived", "dtype": dtype})


@dataclass(eq=False)
class ProducerArrays:
    """Per-producer state, one array of shape (n_producers,) per column (index = agent index).

    Identity: ``region`` (region index), ``group``, ``strategy`` (names), ``initial_chip`` (chip
    index), ``quality`` (utils). State: list price ``base_price``, scarcity ``surcharge`` (>= 1)
    and posted ``price = base_price x surcharge``; ``commit_price`` / ``commit_until`` (step) of a
    scheduled price cut; ``marginal_cost``, ``full_cost``; ``capacity``, ``gpus`` and
    ``pipeline_gpus`` (ordered, not yet online); unconstrained ``demand``, ``served``,
    ``flexible_served`` (batch load), ``utilisation`` (served / capacity), smoothed demand
    ``growth_forecast`` (per step); ``revenue``, ``profit``, ``cash``; ``energy_mwh``, direct
    ``green_mwh`` and its ``green_share``, ``emissions_t``. Derived each step by the costs phase:
    ``best_chip`` (chip index), export-control ``export_penalty`` / ``hardware_penalty``, expected
    ``electricity`` and ``grid_electricity`` (USD/kWh), ``pue``, ``carbon`` (kg/kWh), ``facility``
    (USD/W), ``fixed_usd_per_year`` (depreciation + fixed opex of online GPUs).
    """

    region: np.ndarray = _identity()
    group: np.ndarray = _identity()
    strategy: np.ndarray = _identity()
    initial_chip: np.ndarray = _identity()
    quality: np.ndarray = _identity()

    price: np.ndarray = _state()
    base_price: np.ndarray = _state()
    surcharge: np.ndarray = _state(1.0)
    commit_price: np.ndarray = _state()
    commit_until: np.ndarray = _state(-1.0)
    marginal_cost: np.ndarray = _state()
    full_cost: np.ndarray = _state()
    capacity: np.ndarray = _state()
    gpus: np.ndarray = _state()
    pipeline_gpus: np.ndarray = _state()
    demand: np.ndarray = _state()
    served: np.ndarray = _state()
    flexible_served: np.ndarray = _state()
    utilisation: np.ndarray = _state()
    growth_forecast: np.ndarray = _state()
    revenue: np.ndarray = _state()
    profit: np.ndarray = _state()
    cash: np.ndarray = _state()
    energy_mwh: np.ndarray = _state()
    green_mwh: np.ndarray = _state()
    green_share: np.ndarray = _state()
    emissions_t: np.ndarray = _state()

    best_chip: np.ndarray = _derived(np.int64)
    export_penalty: np.ndarray = _derived()
    hardware_penalty: np.ndarray = _derived()
    electricity: np.ndarray = _derived()
    grid_electricity: np.ndarray = _derived()
    pue: np.ndarray = _derived()
    carbon: np.ndarray = _derived()
    facility: np.ndarray = _derived()
    fixed_usd_per_year: np.ndarray = _derived()

    def __post_init__(self):
        n = self.region.size
        for f in dataclasses.fields(self):
            if f.metadata["kind"] == "state" and getattr(self, f.name) is None:
                setattr(self, f.name, np.full(n, f.metadata["initial"]))
            elif f.metadata["kind"] == "derived" and getattr(self, f.name) is None:
                setattr(self, f.name, np.zeros(n, f.metadata["dtype"]))

    def __len__(self) -> int:
        return self.region.size

    def take(self, rows: np.ndarray) -> None:
        """Keep ``rows`` (a bool mask or indices, repeats allowed) of every column, in order."""
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(self, f.name)[rows])

    def reset_state(self, rows) -> None:
        """Give ``rows`` the state of a new producer (the identity and derived columns stay)."""
        for f in dataclasses.fields(self):
            if f.metadata["kind"] == "state":
                getattr(self, f.name)[rows] = f.metadata["initial"]


@dataclass(eq=False)
class PlatformArrays:
    """Per-platform state, shape (n_platforms,) unless noted.

    ``region`` (index), ``group`` (name); ``markup_rate`` (share of the listed price) and
    ``value_add`` (utils);
    ``listings`` (per platform, the producer indices it lists) and ``lists_regions`` (per
    platform, the region indices whose producers it may list); this step's ``markup`` (USD/Mtok,
    ``markup_rate x`` mean listed price), ``served`` (Mtok/step) and ``revenue`` (USD).
    """

    region: np.ndarray
    group: np.ndarray
    markup_rate: np.ndarray
    value_add: np.ndarray
    listings: list[np.ndarray]
    lists_regions: list[np.ndarray]
    markup: np.ndarray = None
    served: np.ndarray = None
    revenue: np.ndarray = None

    def __post_init__(self):
        for name in ("markup", "served", "revenue"):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(self.region.size))


@dataclass(eq=False)
class ConsumerArrays:
    """Per-consumer state, shape (n_consumers,) unless noted.

    Identity: ``region``, ``sector`` (indices); potential demand at step 0 ``base_demand``; the
    sector's tastes ``alpha`` (price sensitivity), ``quality_weight``, latency ``tolerance_ms``
    and ``latency_cost`` (utils/ms), ``flexible`` (batch load); ``platforms`` (per consumer, the
    platform indices it uses). State: potential ``demand``, ``served``, ``unserved`` (rationed)
    and ``outside`` volumes (Mtok/step), ``surplus`` (USD/step) and the calibrated
    ``outside_utility`` (utils).
    """

    region: np.ndarray
    sector: np.ndarray
    base_demand: np.ndarray
    alpha: np.ndarray
    quality_weight: np.ndarray
    tolerance_ms: np.ndarray
    latency_cost: np.ndarray
    flexible: np.ndarray
    platforms: list[np.ndarray]
    demand: np.ndarray = None
    served: np.ndarray = None
    unserved: np.ndarray = None
    outside: np.ndarray = None
    surplus: np.ndarray = None
    outside_utility: np.ndarray = None

    def __post_init__(self):
        if self.demand is None:
            self.demand = self.base_demand.copy()
        for name in ("served", "unserved", "outside", "surplus", "outside_utility"):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(self.region.size))


class _Column:
    """Model attribute ``<type>_<column>`` reading and writing ``model.<type>_arrays.<column>``."""

    def __init__(self, arrays: str, column: str):
        self.arrays = arrays
        self.column = column

    def __get__(self, model, owner=None):
        if model is None:
            return self
        return getattr(getattr(model, self.arrays), self.column)

    def __set__(self, model, value):
        setattr(getattr(model, self.arrays), self.column, value)


class ArrayAttributes:
    """Mixin giving a model ``producer_<column>``, ``platform_<column>`` and ``consumer_<column>``
    for every column of its ``producer_arrays``, ``platform_arrays`` and ``consumer_arrays`` (the
    names the agents, reporters, studies and the app read)."""


for _kind, _table in (("producer", ProducerArrays), ("platform", PlatformArrays),
                      ("consumer", ConsumerArrays)):
    for _field in dataclasses.fields(_table):
        setattr(ArrayAttributes, f"{_kind}_{_field.name}", _Column(f"{_kind}_arrays", _field.name))
