"""The agents' numeric state: one table of named arrays per entity, one schema each.

:class:`ProducerArrays` holds every per-host array (shape ``(n_producers,)``) and
:class:`ProductArrays` every per-product array (shape ``(n_products,)``; a product is one host's
offer of one model family, the price-setting unit). Both are resized in one place: exit and entry
(:meth:`ProducerArrays.take`) and family releases and retirements (:meth:`ProductArrays.take`,
rows kept or new). :class:`PlatformArrays` and :class:`ConsumerArrays` hold the platforms' and
consumers' arrays (their number never changes). The Mesa agents are views into these arrays
(:mod:`pricewar.model.agents`), and the model exposes every column as ``model.<kind>_<column>``
(``model.producer_price``, ``model.product_price``, ``model.consumer_demand``, ...;
:class:`ArrayAttributes`). Units: prices and costs USD/Mtok, volumes Mtok/step, capacity and load
GPU-seconds/step, money USD, energy MWh/step, emissions t CO2/step.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np


def _identity():
    """Set at creation (an entrant copies its template, then gets its own values)."""
    return field(metadata={"kind": "identity"})


def _state(initial: float = 0.0):
    """Carried from step to step; a new row starts at ``initial``."""
    return field(default=None, metadata={"kind": "state", "initial": initial})


def _derived(dtype=float):
    """Recomputed every step (costs phase); a new row starts at 0."""
    return field(default=None, metadata={"kind": "derived", "dtype": dtype})


class _Table:
    """Columns of equal length; identity columns given, state and derived ones filled in."""

    def __post_init__(self):
        n = len(self)
        for f in dataclasses.fields(self):
            if getattr(self, f.name) is not None:
                continue
            if f.metadata["kind"] == "state":
                setattr(self, f.name, np.full(n, f.metadata["initial"]))
            elif f.metadata["kind"] == "derived":
                setattr(self, f.name, np.zeros(n, f.metadata["dtype"]))

    def __len__(self) -> int:
        # the first column's length (the field mapping, not dataclasses.fields: len() is called
        # thousands of times a run and fields() builds a tuple of every column each time)
        return getattr(self, next(iter(self.__dataclass_fields__))).size

    def take(self, rows: np.ndarray) -> None:
        """Keep ``rows`` (a bool mask or indices, repeats allowed) of every column, in order."""
        for f in dataclasses.fields(self):
            setattr(self, f.name, getattr(self, f.name)[rows])

    def reset_state(self, rows) -> None:
        """Give ``rows`` the state of a new row (the identity and derived columns stay)."""
        for f in dataclasses.fields(self):
            if f.metadata["kind"] == "state":
                getattr(self, f.name)[rows] = f.metadata["initial"]


@dataclass(eq=False)
class ProducerArrays(_Table):
    """Per-host state, one array of shape (n_producers,) per column (index = agent index).

    Identity: ``region`` (region index), ``group``, ``strategy`` (names), ``owner`` (owner index
    in the scenario's owners, -1 for an independent host), ``open_families`` (how many open
    families of other owners it hosts), ``initial_chip`` (chip index), ``quality`` (host quality
    ``xi_i``, utils), ``serving_efficiency``, ``wacc`` (1/year).
    State: scarcity ``surcharge`` (>= 1, one factor for all the host's products); aggregates of
    its products, served-weighted (unweighted while it serves nothing): posted ``price``, list
    ``base_price``, ``marginal_cost``, ``full_cost``, ``commit_until`` (latest); ``capacity``
    (Mtok/step at its current product mix) and ``capacity_gpu_s``, ``load_gpu_s`` (realised load
    after spill-over) and ``offered_gpu_s`` (the larger of notional demand and realised load),
    GPU-seconds/step; ``gpus``, ``pipeline_gpus``; unconstrained ``demand``, ``served``,
    ``flexible_served`` (Mtok/step); ``utilisation`` (load / capacity); smoothed load
    ``growth_forecast`` (per step); ``elasticity`` (served-weighted own-price elasticity of its
    products at the last clearing); ``revenue``, ``energy_cost``, ``fixed_cost`` (fleet and, for
    an owner, its families and R&D programme), ``profit``, ``cash`` (USD); ``energy_mwh``, direct
    ``green_mwh`` and its ``green_share``, ``emissions_t``.
    Derived each step: ``best_chip`` (chip index), expected ``electricity`` and
    ``grid_electricity`` (USD/kWh), ``pue``, ``carbon`` (kg/kWh), ``facility`` (USD/W),
    ``fixed_usd_per_year`` (fleet), ``family_fixed_usd_per_year`` (owner) and the fleet's
    ``always_on_mw`` (idle and host power of online GPUs, facility level).
    """

    region: np.ndarray = _identity()
    group: np.ndarray = _identity()
    strategy: np.ndarray = _identity()
    owner: np.ndarray = _identity()
    open_families: np.ndarray = _identity()
    initial_chip: np.ndarray = _identity()
    quality: np.ndarray = _identity()
    serving_efficiency: np.ndarray = _identity()
    wacc: np.ndarray = _identity()

    price: np.ndarray = _state()
    base_price: np.ndarray = _state()
    surcharge: np.ndarray = _state(1.0)
    commit_until: np.ndarray = _state(-1.0)
    marginal_cost: np.ndarray = _state()
    full_cost: np.ndarray = _state()
    capacity: np.ndarray = _state()
    capacity_gpu_s: np.ndarray = _state()
    load_gpu_s: np.ndarray = _state()
    offered_gpu_s: np.ndarray = _state()
    gpus: np.ndarray = _state()
    pipeline_gpus: np.ndarray = _state()
    demand: np.ndarray = _state()
    served: np.ndarray = _state()
    flexible_served: np.ndarray = _state()
    utilisation: np.ndarray = _state()
    growth_forecast: np.ndarray = _state()
    elasticity: np.ndarray = _state(1.0)
    revenue: np.ndarray = _state()
    energy_cost: np.ndarray = _state()
    fixed_cost: np.ndarray = _state()
    profit: np.ndarray = _state()
    cash: np.ndarray = _state()
    energy_mwh: np.ndarray = _state()
    green_mwh: np.ndarray = _state()
    green_share: np.ndarray = _state()
    emissions_t: np.ndarray = _state()

    best_chip: np.ndarray = _derived(np.int64)
    best_chip_buyable: np.ndarray = _derived(bool)
    electricity: np.ndarray = _derived()
    grid_electricity: np.ndarray = _derived()
    pue: np.ndarray = _derived()
    carbon: np.ndarray = _derived()
    facility: np.ndarray = _derived()
    fixed_usd_per_year: np.ndarray = _derived()
    family_fixed_usd_per_year: np.ndarray = _derived()
    always_on_mw: np.ndarray = _derived()


@dataclass(eq=False)
class ProductArrays(_Table):
    """Per-product state, shape (n_products,), sorted by host then family.

    Identity: ``producer`` (host index), ``family`` (family index in the scenario's families),
    ``product_id`` (stable across topology changes: learning strategies key on it).
    State: list ``base_price``, posted ``price = base_price x`` the host's surcharge, a scheduled
    cut's ``commit_price`` / ``commit_until`` (step), ``fresh`` (1 until first priced);
    unconstrained ``demand``, ``served`` (Mtok/step), ``revenue`` and ``profit`` (USD/step).
    Derived each step (costs phase): ``marginal_cost`` (merit-order marginal cohort: energy +
    capacity opportunity cost + variable opex), ``full_cost`` (new capacity of the host's best
    chip), ``load_gpu_s_per_mtok``, fleet-mean ``energy_usd_per_mtok`` and
    ``energy_j_per_token``, the marginal cost's ``marginal_energy`` and ``marginal_capacity``
    parts and the full cost's ``full_energy``, ``full_capital`` (capital recovery) and
    ``full_opex`` parts (USD/Mtok).
    """

    producer: np.ndarray = _identity()
    family: np.ndarray = _identity()
    product_id: np.ndarray = _identity()

    price: np.ndarray = _state()
    base_price: np.ndarray = _state()
    commit_price: np.ndarray = _state()
    commit_until: np.ndarray = _state(-1.0)
    fresh: np.ndarray = _state(1.0)
    demand: np.ndarray = _state()
    served: np.ndarray = _state()
    revenue: np.ndarray = _state()
    profit: np.ndarray = _state()

    marginal_cost: np.ndarray = _derived()
    full_cost: np.ndarray = _derived()
    load_gpu_s_per_mtok: np.ndarray = _derived()
    energy_usd_per_mtok: np.ndarray = _derived()
    energy_j_per_token: np.ndarray = _derived()
    marginal_energy: np.ndarray = _derived()
    marginal_capacity: np.ndarray = _derived()
    full_energy: np.ndarray = _derived()
    full_capital: np.ndarray = _derived()
    full_opex: np.ndarray = _derived()

    def reindex(self, producer: np.ndarray, family: np.ndarray, next_id: int) -> int:
        """Resize to the products ``(producer, family)`` (sorted by host, then family): rows of
        products that exist keep their state, new ones start fresh with ids from ``next_id``.
        Returns the next free id."""
        n_families = int(max(family.max(initial=0), self.family.max(initial=0))) + 1
        old_key = self.producer * n_families + self.family
        new_key = producer * n_families + family
        position = np.searchsorted(old_key, new_key)
        found = (position < old_key.size) & (old_key[np.minimum(position, old_key.size - 1)]
                                             == new_key) if old_key.size else np.zeros(
            new_key.size, bool)
        self.take(np.where(found, position, 0) if old_key.size else np.zeros(0, np.int64))
        if not old_key.size:  # (no rows to copy from: build the table afresh)
            fresh = ProductArrays(producer=producer, family=family,
                                  product_id=np.arange(next_id, next_id + producer.size))
            for f in dataclasses.fields(self):
                setattr(self, f.name, getattr(fresh, f.name))
            return next_id + producer.size
        new = np.flatnonzero(~found)
        self.producer, self.family = producer.copy(), family.copy()
        self.product_id = self.product_id.copy()
        self.product_id[new] = np.arange(next_id, next_id + new.size)
        self.reset_state(new)
        for f in dataclasses.fields(self):
            if f.metadata["kind"] == "derived":
                getattr(self, f.name)[new] = 0.0
        return next_id + new.size


@dataclass(eq=False)
class PlatformArrays:
    """Per-platform state, shape (n_platforms,) unless noted.

    ``region`` (index), ``group`` (name); ``markup_rate`` (share of the listed price) and
    ``value_add`` (utils);
    ``listings`` (per platform, the host indices it lists) and ``lists_regions`` (per
    platform, the region indices whose hosts it may list); this step's ``markup`` (USD/Mtok,
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

    Identity: ``region``, ``sector`` (indices); task volume at step 0 ``base_demand``; the
    sector's tastes ``alpha`` (price sensitivity between families), ``eta`` (elasticity of
    volume to the price index), ``quality_weight``, latency ``tolerance_ms`` and
    ``latency_cost`` (utils/ms), ``flexible`` (batch load); ``platforms`` (per consumer, the
    platform indices it uses); ``reference_logsum`` (inclusive value at the initial prices,
    utils: the volume is ``demand`` there). State: task volume ``demand`` (``D_j(t)``),
    ``volume`` at posted prices (``X_j``), ``served``, ``unserved`` (capacity shortfall) and
    ``not_bought`` (refused and then not bought on re-choice), Mtok/step; the inclusive value
    ``logsum`` (utils) and last step's ``previous_logsum``; the price index ``price_index``
    (``P_j = exp(-logsum / alpha)``, USD/Mtok); ``expenditure`` on served tokens (USD/step);
    ``surplus`` (consumer surplus gained since the initial prices, USD/step) and
    ``welfare_change`` (compensating variation of this step's price change, USD/step).
    """

    region: np.ndarray
    sector: np.ndarray
    base_demand: np.ndarray
    alpha: np.ndarray
    eta: np.ndarray
    quality_weight: np.ndarray
    tolerance_ms: np.ndarray
    latency_cost: np.ndarray
    flexible: np.ndarray
    platforms: list[np.ndarray]
    reference_logsum: np.ndarray = None
    demand: np.ndarray = None
    volume: np.ndarray = None
    served: np.ndarray = None
    unserved: np.ndarray = None
    not_bought: np.ndarray = None
    logsum: np.ndarray = None
    previous_logsum: np.ndarray = None
    price_index: np.ndarray = None
    expenditure: np.ndarray = None
    surplus: np.ndarray = None
    welfare_change: np.ndarray = None

    def __post_init__(self):
        if self.demand is None:
            self.demand = self.base_demand.copy()
        for name in ("reference_logsum", "volume", "served", "unserved", "not_bought", "logsum",
                     "previous_logsum", "price_index", "expenditure", "surplus",
                     "welfare_change"):
            if getattr(self, name) is None:
                setattr(self, name, np.zeros(self.region.size))


class _Column:
    """Model attribute ``<kind>_<column>``: reads and writes column ``<column>`` of
    ``model.<kind>_arrays`` (the name is checked against that table's columns when the class is
    made)."""

    def __set_name__(self, owner, name: str):
        kind, _, column = name.partition("_")
        table = _TABLES[kind]
        if column not in table.__dataclass_fields__:
            raise TypeError(f"{owner.__name__}.{name}: {table.__name__} has no column {column!r}")
        self.arrays = f"{kind}_arrays"
        self.column = column

    def __get__(self, model, owner=None) -> np.ndarray:
        if model is None:
            return self
        return getattr(getattr(model, self.arrays), self.column)

    def __set__(self, model, value: np.ndarray) -> None:
        setattr(getattr(model, self.arrays), self.column, value)


_TABLES = {"producer": ProducerArrays, "product": ProductArrays, "platform": PlatformArrays,
           "consumer": ConsumerArrays}


class ArrayAttributes:
    """Mixin giving a model ``producer_<column>``, ``product_<column>``, ``platform_<column>``
    and ``consumer_<column>`` for every column of its ``producer_arrays``, ``product_arrays``,
    ``platform_arrays`` and ``consumer_arrays`` (the names the agents, reporters, studies and the
    app read; each column's unit and meaning are in its table's docstring). Written out so that
    every name can be found by search; tests/test_population.py checks the list is complete."""

    # ProducerArrays
    producer_region = _Column()
    producer_group = _Column()
    producer_strategy = _Column()
    producer_owner = _Column()
    producer_open_families = _Column()
    producer_initial_chip = _Column()
    producer_quality = _Column()
    producer_serving_efficiency = _Column()
    producer_wacc = _Column()
    producer_price = _Column()
    producer_base_price = _Column()
    producer_surcharge = _Column()
    producer_commit_until = _Column()
    producer_marginal_cost = _Column()
    producer_full_cost = _Column()
    producer_capacity = _Column()
    producer_capacity_gpu_s = _Column()
    producer_load_gpu_s = _Column()
    producer_offered_gpu_s = _Column()
    producer_gpus = _Column()
    producer_pipeline_gpus = _Column()
    producer_demand = _Column()
    producer_served = _Column()
    producer_flexible_served = _Column()
    producer_utilisation = _Column()
    producer_growth_forecast = _Column()
    producer_elasticity = _Column()
    producer_revenue = _Column()
    producer_energy_cost = _Column()
    producer_fixed_cost = _Column()
    producer_profit = _Column()
    producer_cash = _Column()
    producer_energy_mwh = _Column()
    producer_green_mwh = _Column()
    producer_green_share = _Column()
    producer_emissions_t = _Column()
    producer_best_chip = _Column()
    producer_best_chip_buyable = _Column()
    producer_electricity = _Column()
    producer_grid_electricity = _Column()
    producer_pue = _Column()
    producer_carbon = _Column()
    producer_facility = _Column()
    producer_fixed_usd_per_year = _Column()
    producer_family_fixed_usd_per_year = _Column()
    producer_always_on_mw = _Column()
    # ProductArrays
    product_producer = _Column()
    product_family = _Column()
    product_product_id = _Column()
    product_price = _Column()
    product_base_price = _Column()
    product_commit_price = _Column()
    product_commit_until = _Column()
    product_fresh = _Column()
    product_demand = _Column()
    product_served = _Column()
    product_revenue = _Column()
    product_profit = _Column()
    product_marginal_cost = _Column()
    product_full_cost = _Column()
    product_load_gpu_s_per_mtok = _Column()
    product_energy_usd_per_mtok = _Column()
    product_energy_j_per_token = _Column()
    product_marginal_energy = _Column()
    product_marginal_capacity = _Column()
    product_full_energy = _Column()
    product_full_capital = _Column()
    product_full_opex = _Column()
    # PlatformArrays
    platform_region = _Column()
    platform_group = _Column()
    platform_markup_rate = _Column()
    platform_value_add = _Column()
    platform_listings = _Column()
    platform_lists_regions = _Column()
    platform_markup = _Column()
    platform_served = _Column()
    platform_revenue = _Column()
    # ConsumerArrays
    consumer_region = _Column()
    consumer_sector = _Column()
    consumer_base_demand = _Column()
    consumer_alpha = _Column()
    consumer_eta = _Column()
    consumer_quality_weight = _Column()
    consumer_tolerance_ms = _Column()
    consumer_latency_cost = _Column()
    consumer_flexible = _Column()
    consumer_platforms = _Column()
    consumer_reference_logsum = _Column()
    consumer_demand = _Column()
    consumer_volume = _Column()
    consumer_served = _Column()
    consumer_unserved = _Column()
    consumer_not_bought = _Column()
    consumer_logsum = _Column()
    consumer_previous_logsum = _Column()
    consumer_price_index = _Column()
    consumer_expenditure = _Column()
    consumer_surplus = _Column()
    consumer_welfare_change = _Column()
