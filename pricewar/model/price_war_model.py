"""``PriceWarModel``: the Mesa model of the token price war.

The model owns the agents (real Mesa agents whose numeric state is a view into the arrays below),
the market graph and its compiled route arrays, the GPU fleet (cohorts) and the
``DataCollector``. One step (one week by default; DESIGN §8, docs/ODD.md "Process overview")::

    exogenous update -> costs -> prices (producers by strategy, then platforms)
    -> demand and capacity clearing (kernel) -> settlement -> investment -> exit and entry
    -> data collection
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import mesa
import numpy as np

from pricewar.errors import ScenarioError
from pricewar.kernel import (
    RouteMarket,
    bertrand_nash,
    clear_capacity,
    market_demand,
    own_price_derivative,
)
from pricewar.market import dynamics
from pricewar.market.chips import ChipTable
from pricewar.market.costs import (
    CostConditions,
    capacity_mtok_per_step,
    efficiency_multiplier,
    new_gpu_costs,
)
from pricewar.market.fleet import Fleet, fleet_costs
from pricewar.market.graph import ACCESS_CODE, build_market_graph, compile_routes
from pricewar.model import metrics
from pricewar.model.agents import IndustrialConsumer, PlatformOperator, TokenProducer
from pricewar.scenario import Scenario, load_scenario
from pricewar.strategies import STRATEGY_REGISTRY, PricingView, scarcity_update
from pricewar.units import SECONDS_PER_YEAR

log = logging.getLogger(__name__)

MWH_PER_MTOK_PER_J = 1e6 / 3.6e9  # MWh per (Mtok x J/token)

#: per-producer float arrays, resized together on exit and entry
PRODUCER_FLOATS = ("quality", "price", "base_price", "marginal_cost", "full_cost", "capacity",
                   "served", "demand", "utilisation", "revenue", "profit", "cash", "energy_mwh",
                   "green_mwh", "emissions_t", "surcharge", "gpus", "pipeline_gpus",
                   "growth_forecast", "green_share", "commit_price", "commit_until",
                   "flexible_served")


def _decimal_year(date: dt.date) -> float:
    return date.year + (date.timetuple().tm_yday - 1) / 365.25


class PriceWarModel(mesa.Model):
    """Agent-based model of the AI token price war.

    Parameters
    ----------
    scenario : str, Path or Scenario
        A shipped scenario name (``"baseline"``, ``"parity"``), a path to a scenario TOML file,
        or a :class:`~pricewar.scenario.Scenario`.
    seed : int, optional
        Seed of the model's random number generators (same seed -> identical runs).
    **overrides
        Flat scenario overrides (see :data:`pricewar.scenario.OVERRIDES`), e.g.
        ``electricity_cn_west=0.03, producer_strategy="nash", n_consumers=500``. Unknown keys
        raise :class:`~pricewar.errors.ScenarioError`.

    Examples
    --------
    >>> model = PriceWarModel("baseline", seed=1, n_consumers=250)
    >>> for _ in range(4):
    ...     model.step()
    >>> frame = model.datacollector.get_model_vars_dataframe()
    >>> len(frame)
    5
    """

    def __init__(self, scenario: str | Path | Scenario = "baseline", seed: int | None = 1,
                 **overrides):
        super().__init__(seed=seed)
        self.scenario: Scenario = load_scenario(scenario).with_overrides(**overrides)
        self.overrides = dict(overrides)
        s = self.scenario
        self.start_date = dt.date.fromisoformat(s.start_date)
        self.region_names: list[str] = list(s.regions)
        self.sector_names: list[str] = list(s.sectors)
        self.chips = self._chip_table()
        self.fleet = Fleet()
        self.strategy_state: dict = {}  # memory of strategies that learn (PricingView.state)
        self.exits_this_step = 0
        self.entries_this_step = 0
        self.exits_total = 0
        self.entries_total = 0
        self._create_producers()
        self._create_platforms()
        self._create_consumers()
        self._build_network()
        self._initialise_market()
        self.datacollector = mesa.DataCollector(
            model_reporters=metrics.model_reporters(),
            agenttype_reporters=metrics.agenttype_reporters(),
        )
        self.datacollector.collect(self)

    # ------------------------------------------------------------------------------------------
    # the story of one step
    # ------------------------------------------------------------------------------------------
    def step(self) -> None:
        """Advance the market by one step (DESIGN §8)."""
        self._exogenous_update()
        self._update_costs()
        self._set_prices()
        self._clear_market()
        self._settle()
        self._invest()
        self.metrics = metrics.compute(self)  # this step's market, before exits change the arrays
        self._exit_and_entry()
        self.datacollector.collect(self)
        self.running = self.steps < self.scenario.steps

    @property
    def date(self) -> dt.date:
        """Calendar date of the current step."""
        return self.start_date + dt.timedelta(days=self.scenario.step_days * self.steps)

    @property
    def n_producers(self) -> int:
        return self.producer_region.size

    # ------------------------------------------------------------------------------------------
    # construction
    # ------------------------------------------------------------------------------------------
    def _region_index(self, names) -> np.ndarray:
        lookup = {name: i for i, name in enumerate(self.region_names)}
        return np.array([lookup[n] for n in names], dtype=np.int64)

    def _chip_table(self) -> ChipTable:
        chips = self.scenario.chips
        names = tuple(chips)

        def column(field, dtype=float):
            return np.array([getattr(chips[n], field) for n in names], dtype=dtype)

        return ChipTable(
            names=names, price_usd=column("price_usd"), power_w=column("power_w"),
            tokens_per_s=column("tokens_per_s_per_gpu"),
            energy_j_per_token=column("energy_j_per_token"),
            release_year=np.array([_decimal_year(dt.date.fromisoformat(chips[n].release_date))
                                   for n in names]),
            purchasable=column("purchasable", bool),
            supply_gpus_per_step=column("supply_gpus_per_step"),
            supply_growth_per_year=column("supply_growth_per_year"))

    def _new_producer_arrays(self, n: int) -> dict[str, np.ndarray]:
        arrays = {name: np.zeros(n) for name in PRODUCER_FLOATS}
        arrays["surcharge"][:] = 1.0
        arrays["commit_until"][:] = -1.0
        return arrays

    def _create_producers(self) -> None:
        s = self.scenario
        regions, groups, chips, strategies, quality = [], [], [], [], []
        for name, group in s.producers.items():
            if group.strategy not in STRATEGY_REGISTRY:
                raise ScenarioError(s.origin, f"producers.{name}.strategy", group.strategy,
                                    f"strategy not available (registered: "
                                    f"{sorted(STRATEGY_REGISTRY)})")
            for _ in range(group.count):
                regions.append(group.region)
                groups.append(name)
                chips.append(group.chip)
                strategies.append(group.strategy)
                quality.append(group.quality_utils
                               + group.quality_sd_utils * self.rng.standard_normal())
        n = len(regions)
        self.producer_region = self._region_index(regions)
        self.producer_group = np.array(groups, dtype=object)
        self.producer_initial_chip = np.array([self.chips.index(c) for c in chips], np.int64)
        self.producer_strategy = np.array(strategies, dtype=object)
        for name, array in self._new_producer_arrays(n).items():
            setattr(self, f"producer_{name}", array)
        self.producer_quality = np.array(quality, dtype=float)
        self.producers = [
            TokenProducer(self, i, regions[i], groups[i], chips[i], strategies[i])
            for i in range(n)
        ]

    def _create_platforms(self) -> None:
        s = self.scenario
        regions, groups, rates, value_add, listings, lists = [], [], [], [], [], []
        for name, group in s.platforms.items():
            eligible = np.flatnonzero(np.isin(self.producer_region,
                                              self._region_index(group.lists)))
            for _ in range(group.count):
                regions.append(group.region)
                groups.append(name)
                rates.append(group.markup_rate)
                value_add.append(group.value_add_utils)
                lists.append(self._region_index(group.lists))
                size = min(group.listings, eligible.size)
                listings.append(np.sort(self.rng.choice(eligible, size, replace=False)))
        # every producer sells somewhere: an unlisted one joins a random platform listing its region
        listed = np.zeros(self.n_producers, bool)
        for ids in listings:
            listed[ids] = True
        for i in np.flatnonzero(~listed):
            hosts = [k for k, regions_k in enumerate(lists) if self.producer_region[i] in regions_k]
            if hosts:
                k = int(self.rng.choice(hosts))
                listings[k] = np.sort(np.append(listings[k], i))
        n = len(regions)
        self.platform_region = self._region_index(regions)
        self.platform_markup_rate = np.array(rates, dtype=float)
        self.platform_value_add = np.array(value_add, dtype=float)
        self.platform_listings = listings
        self.platform_lists_regions = lists
        for name in ("markup", "served", "revenue"):
            setattr(self, f"platform_{name}", np.zeros(n))
        self.platforms = [PlatformOperator(self, k, regions[k], groups[k]) for k in range(n)]

    def _create_consumers(self) -> None:
        s = self.scenario
        per_segment = s.demand.consumers_per_segment
        sigma = s.demand.demand_sd
        regions, sectors, base = [], [], []
        for region in self.region_names:
            volume = s.demand.base_mtok_per_step.get(region, 0.0)
            for sector_name, sector in s.sectors.items():
                # lognormal spread with mean 1 keeps the segment's expected volume
                spread = np.exp(sigma * self.rng.standard_normal(per_segment) - sigma**2 / 2)
                regions += [region] * per_segment
                sectors += [sector_name] * per_segment
                base.append(volume * sector.demand_share / per_segment * spread)
        n = len(regions)
        self.consumer_region = self._region_index(regions)
        sector_index = {name: i for i, name in enumerate(self.sector_names)}
        self.consumer_sector = np.array([sector_index[x] for x in sectors], dtype=np.int64)
        # observed volume is the served (inside) volume: potential demand is larger by 1/s_in
        inside = 1.0 - s.demand.initial_outside_share
        self.consumer_base_demand = np.concatenate(base) / max(inside, 1e-9)
        sector_values = list(s.sectors.values())

        def per_consumer(field):
            return np.array([getattr(x, field) for x in sector_values])[self.consumer_sector]

        self.consumer_alpha = per_consumer("alpha").astype(float)
        self.consumer_quality_weight = per_consumer("quality_weight").astype(float)
        self.consumer_tolerance_ms = per_consumer("latency_tolerance_ms").astype(float)
        self.consumer_latency_cost = per_consumer("latency_utils_per_ms").astype(float)
        self.consumer_flexible = per_consumer("flexible").astype(bool)
        self.consumer_demand = self.consumer_base_demand.copy()
        for name in ("served", "unserved", "outside", "surplus", "outside_utility"):
            setattr(self, f"consumer_{name}", np.zeros(n))
        # platforms a consumer can use: those in regions its own region does not bar
        access = self._access_matrix()
        platform_ok = access[self.consumer_region][:, self.platform_region] != ACCESS_CODE[
            "barred"]
        k = s.demand.platforms_per_consumer
        self.consumer_platforms = []
        for j in range(n):
            allowed = np.flatnonzero(platform_ok[j])
            chosen = self.rng.choice(allowed, min(k, allowed.size), replace=False)
            self.consumer_platforms.append(np.sort(chosen))
        self.consumers = [IndustrialConsumer(self, j, regions[j], sectors[j]) for j in range(n)]

    def _access_matrix(self) -> np.ndarray:
        s = self.scenario
        n = len(self.region_names)
        code = np.full((n, n), ACCESS_CODE["barred"], dtype=np.int64)
        for a, consumer_region in enumerate(self.region_names):
            for b, producer_region in enumerate(self.region_names):
                if producer_region in s.access[consumer_region]:
                    code[a, b] = ACCESS_CODE[s.access[consumer_region][producer_region]]
        return code

    def _latency_matrix(self) -> np.ndarray:
        lat = self.scenario.latency_ms
        return np.array([[lat[a][b] for b in self.region_names] for a in self.region_names])

    def _build_network(self) -> None:
        """Build the market graph and compile it to route arrays (on every topology change)."""
        self.graph = build_market_graph(self.consumer_region, self.consumer_platforms,
                                        self.platform_listings, self.producer_region,
                                        self.platform_region, self.region_names)
        self.routes = compile_routes(
            self.graph, self.consumer_region.size, self.n_producers,
            self.consumer_region, self.consumer_tolerance_ms, self.producer_region,
            self._latency_matrix(), self._access_matrix())
        r = self.routes
        s = self.scenario
        j = r.route_consumer
        # non-price utility that does not change within a topology (DESIGN §5)
        self.route_static_utility = (
            self.consumer_quality_weight[j] * self.producer_quality[r.route_producer]
            + self.platform_value_add[r.route_platform]
            - self.consumer_latency_cost[j] * r.route_latency_ms
            - s.policy.friction_utils * r.route_friction)
        self.route_transfer_usd = s.costs.transfer_usd_per_mtok * r.route_cross_region
        # with phi = log P a platform's percentage markup multiplies the route price, so it
        # enters utility as -alpha log(1 + m_k) and leaves producers' own-price elasticities
        # unchanged (an additive markup proportional to price would lower them and could remove
        # the best response); with the linear form the markup is additive (USD/Mtok)
        self.route_utility = self.route_static_utility
        if s.price_form == "log":
            self.route_utility = self.route_static_utility - self.consumer_alpha[j] * np.log1p(
                self.platform_markup_rate[r.route_platform])
        self.flexible_routes = np.flatnonzero(self.consumer_flexible[j])
        # served flows are reported by consumer region x sector x producer region
        n_regions, n_sectors = len(self.region_names), len(self.sector_names)
        self.route_flow_key = ((self.consumer_region[j] * n_sectors + self.consumer_sector[j])
                               * n_regions + self.producer_region[r.route_producer])
        log.debug("compiled %d routes for %d consumers", r.topology.n_routes,
                  self.consumer_region.size)

    # ------------------------------------------------------------------------------------------
    # step phases
    # ------------------------------------------------------------------------------------------
    def _demand_multiplier(self) -> np.ndarray:
        multiplier = np.ones(self.consumer_region.size)
        for event in self.scenario.events:
            active = event.step <= self.steps and (
                event.duration_steps == 0 or self.steps < event.step + event.duration_steps)
            if event.kind == "demand_shock" and active:
                target = (self.consumer_region == self.region_names.index(event.group)
                          if event.group else slice(None))
                multiplier[target] *= 1.0 + event.fraction
        return multiplier

    def _exogenous_update(self) -> None:
        growth = (1.0 + self.scenario.demand.growth_per_step) ** self.steps
        self.consumer_demand = self.consumer_base_demand * growth * self._demand_multiplier()
        self.fleet.drop_retired(self.steps)

    def _export_lag_years(self) -> np.ndarray:
        policy = self.scenario.policy
        is_cn = np.isin(self.producer_region, self._region_index(self.scenario.bloc_regions('cn')))
        lag = policy.export_control_lag_years if policy.export_control_penalty > 0 else 0.0
        return np.where(is_cn, lag, 0.0)

    def _region_column(self, field: str) -> np.ndarray:
        """A region attribute as an array over ``region_names`` (the scenario is frozen)."""
        cache = self.__dict__.setdefault("_region_columns", {})
        if field not in cache:
            regions = self.scenario.regions
            cache[field] = np.array([getattr(regions[r], field) for r in self.region_names],
                                    dtype=float)
        return cache[field]

    def _update_costs(self) -> None:
        s = self.scenario
        year = _decimal_year(self.date)
        self.producer_best_chip = dynamics.best_chip(self.chips, year, self._export_lag_years())
        is_cn = np.isin(self.producer_region, self._region_index(self.scenario.bloc_regions('cn')))
        # export controls degrade the frontier chips CN producers run (H20/domestic substitutes)
        self.producer_export_penalty = np.where(is_cn, s.policy.export_control_penalty, 0.0)
        self.producer_hardware_penalty = (self.producer_export_penalty
                                          * s.policy.export_control_hardware_share)
        region = self.producer_region
        grid = self._region_column("electricity_usd_per_kwh")[region]
        green = self._region_column("green_supply_usd_per_kwh")[region]
        # last step's share of energy from direct green supply lowers the expected power price
        self.producer_electricity = grid - (grid - green) * self.producer_green_share
        self.producer_grid_electricity = grid
        self.producer_pue = self._region_column("pue")[region]
        self.producer_carbon = self._region_column("carbon_kg_per_kwh")[region]
        facility = self._region_column("facility_usd_per_w")[region]
        ref = dt.date.fromisoformat(s.technology.reference_date)
        self.efficiency = efficiency_multiplier(self.date, ref,
                                                s.technology.algorithmic_efficiency_per_year,
                                                s.technology.software_efficiency_per_year)
        self.cost_conditions = CostConditions(
            efficiency=self.efficiency, export_penalty=self.producer_export_penalty,
            hardware_penalty=self.producer_hardware_penalty, facility_usd_per_w=facility,
            pue=self.producer_pue, electricity_usd_per_kwh=self.producer_electricity,
            gpu_life_years=s.costs.gpu_life_years, planned_utilisation=s.costs.planned_utilisation,
            fixed_opex_share_per_year=s.costs.fixed_opex_share_per_year)
        self.costs, throughput, self.producer_fixed_usd_per_year = fleet_costs(
            self.fleet, self.chips, self.steps, self.n_producers, self.cost_conditions,
            fallback_chip=self.producer_best_chip)
        self.producer_facility = facility
        self.producer_marginal_cost = self.costs.marginal_usd_per_mtok
        self.producer_gpus = self.fleet.gpus_by_producer(self.n_producers, self.steps)
        self.producer_pipeline_gpus = self.fleet.gpus_by_producer(self.n_producers, self.steps,
                                                                  pipeline=True)
        self.producer_capacity = throughput * s.step_seconds * s.costs.max_utilisation / 1e6

    def _route_market(self) -> RouteMarket:
        """The kernel's market at this step's demand, capacities and platform markups."""
        r = self.routes
        extra = self.route_transfer_usd
        if self.scenario.price_form != "log":
            extra = self.platform_markup[r.route_platform] + extra
        return RouteMarket(
            r.topology,
            route_utility=self.route_utility,
            route_price_extra=extra,
            consumer_alpha=self.consumer_alpha,
            consumer_demand=self.consumer_demand,
            consumer_outside_utility=self.consumer_outside_utility,
            producer_capacity=self.producer_capacity,
            price_form=self.scenario.price_form,
        )

    def _apply_price_events(self) -> np.ndarray:
        """Scheduled price cuts: chosen producers commit to a cut list price for a while.

        Returns the mask of producers whose list price is committed this step."""
        for event in self.scenario.events:
            if event.kind != "price_cut" or event.step != self.steps:
                continue
            members = np.flatnonzero(self.producer_group == event.group)
            if members.size == 0:
                continue  # the group has exited
            largest = members[np.argsort(-self.producer_served[members], kind="stable")]
            chosen = largest[: event.producers]
            self.producer_commit_price[chosen] = self.producer_base_price[chosen] * (
                1.0 - event.fraction)
            self.producer_commit_until[chosen] = self.steps + event.duration_steps
        return self.producer_commit_until >= self.steps

    def _set_prices(self) -> None:
        """Producers price by strategy (scheduled cuts override), scarcity on top; then platforms
        set markups."""
        s = self.scenario
        previous_market = self.market
        # committed cutters post their cut price; every strategy sees it as given
        committed = self._apply_price_events()
        base = np.where(committed, self.producer_commit_price, self.producer_base_price)
        # the market producers price against: this step's demand, last step's platform markups
        self.pricing_market = self._route_market()
        view = PricingView(self.pricing_market, base,
                           self.producer_marginal_cost, self.producer_full_cost,
                           self.producer_cash, s.pricing,
                           producer_ids=np.array([p.unique_id for p in self.producers]),
                           state=self.strategy_state, step=self.steps, rng=self.rng,
                           strategy_params=s.strategy_params)
        base = base.copy()
        for name in np.unique(self.producer_strategy):
            members = np.flatnonzero((self.producer_strategy == name) & ~committed)
            if members.size:
                base[members] = STRATEGY_REGISTRY[str(name)](view, members)
        floor = 1e-6 if s.price_form == "log" else 0.0
        self.producer_base_price = np.maximum(base, floor)
        # peak pricing on top of every strategy, driven by last step's demand vs this capacity
        last = self.demand_outcome
        slope = -own_price_derivative(previous_market, last)
        with np.errstate(divide="ignore", invalid="ignore"):
            elasticity = np.where(last.producer_demand > 0,
                                  slope * self.producer_price / last.producer_demand, 1.0)
        self.producer_surcharge = scarcity_update(
            self.producer_surcharge, last.producer_demand, self.producer_capacity, elasticity,
            s.pricing.scarcity_threshold, s.pricing.scarcity_max_increase)
        self.producer_price = self.producer_base_price * self.producer_surcharge
        self._set_platform_markups()
        if s.price_form != "log":  # additive markups changed the route prices
            self.market = self._route_market()
        else:  # multiplicative markups live in the route utilities: same market
            self.market = self.pricing_market

    def _set_platform_markups(self) -> None:
        mean_listed = np.array([self.producer_price[listed].mean() if listed.size else 0.0
                                for listed in self.platform_listings])
        self.platform_markup = self.platform_markup_rate * mean_listed

    def _clear_market(self) -> None:
        self.demand_outcome = market_demand(self.market, self.producer_price)
        self.clearing = clear_capacity(self.market, self.demand_outcome)

    def _settle(self) -> None:
        """Revenue, costs, profit, cash, energy (grid and direct green), emissions."""
        s = self.scenario
        clearing, outcome = self.clearing, self.demand_outcome
        served = clearing.producer_served
        c = self.costs
        r = self.routes
        previous_demand = self.producer_demand
        self.producer_served = served
        self.producer_demand = outcome.producer_demand
        self.producer_growth_forecast = dynamics.update_growth_forecast(
            self.producer_growth_forecast, self.producer_demand, previous_demand,
            s.dynamics.demand_forecast_smoothing)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.producer_utilisation = np.where(self.producer_capacity > 0,
                                                 served / self.producer_capacity, 0.0)
        raw_utilisation = self.producer_utilisation * s.costs.max_utilisation
        self.producer_full_cost = c.full_usd_per_mtok(raw_utilisation)
        mwh_per_mtok = c.energy_j_per_token * self.producer_pue * MWH_PER_MTOK_PER_J
        self.producer_energy_mwh = served * mwh_per_mtok
        # flexible (batch) load can run on otherwise-curtailed direct green supply
        flexible = self.flexible_routes
        self.producer_flexible_served = np.bincount(
            r.route_producer[flexible], clearing.route_served[flexible],
            minlength=self.n_producers)
        self.producer_green_mwh = dynamics.green_energy_split(
            self.producer_flexible_served * mwh_per_mtok, self.producer_region,
            self._region_column("green_supply_cap_mwh_per_step"))
        with np.errstate(divide="ignore", invalid="ignore"):
            self.producer_green_share = np.where(
                self.producer_energy_mwh > 0,
                self.producer_green_mwh / self.producer_energy_mwh, 0.0)
        grid_mwh = self.producer_energy_mwh - self.producer_green_mwh
        green_price = self._region_column("green_supply_usd_per_kwh")[self.producer_region]
        energy_cost = 1000.0 * (grid_mwh * self.producer_grid_electricity
                                + self.producer_green_mwh * green_price)
        self.producer_emissions_t = grid_mwh * self.producer_carbon
        step_years = s.step_seconds / SECONDS_PER_YEAR
        fixed_cost = self.producer_fixed_usd_per_year * step_years
        self.producer_revenue = self.producer_price * served
        self.producer_profit = self.producer_revenue - energy_cost - fixed_cost
        self.producer_cash = self.producer_cash + self.producer_profit
        self.platform_served = np.bincount(r.route_platform, clearing.route_served,
                                           minlength=self.platform_region.size)
        if s.price_form == "log":  # percentage markup on each route's producer price
            markup_revenue = (self.platform_markup_rate[r.route_platform]
                              * self.producer_price[r.route_producer] * clearing.route_served)
            self.platform_revenue = np.bincount(r.route_platform, markup_revenue,
                                                minlength=self.platform_region.size)
        else:
            self.platform_revenue = self.platform_markup * self.platform_served
        self.consumer_served = clearing.consumer_served
        self.consumer_unserved = clearing.consumer_unserved
        self.consumer_outside = outcome.consumer_outside
        self.consumer_surplus = outcome.consumer_surplus
        if "q_learning" in self.strategy_state:  # the learners' reward (qlearning_strategy)
            self.strategy_state["q_learning"]["realised_profit"] = (
                np.array([p.unique_id for p in self.producers]), self.producer_profit.copy())

    def _new_gpu_economics(self, chip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Full unit cost at planned utilisation (USD/Mtok) and capacity (Mtok/step) of one new
        GPU of ``chip`` per producer, at today's efficiency and prices."""
        new = new_gpu_costs(self.chips, chip, self.cost_conditions)
        capacity = capacity_mtok_per_step(new.tokens_per_s_per_gpu, self.scenario.step_seconds,
                                          self.scenario.costs.max_utilisation)
        unit_cost = new.marginal_usd_per_mtok
        return unit_cost, capacity

    def _invest(self) -> None:
        """Order GPUs of the best available chip; limited by regional power and chip supply."""
        s = self.scenario
        d = s.dynamics
        self.orders_gpus_this_step = 0.0
        if not d.investment_enabled:
            return
        chip = self.producer_best_chip
        unit_cost, per_gpu = self._new_gpu_economics(chip)
        pipeline_capacity = self.producer_pipeline_gpus * per_gpu
        orders = dynamics.investment_orders(
            demand=self.producer_demand, capacity=self.producer_capacity,
            pipeline=pipeline_capacity, growth_forecast=self.producer_growth_forecast,
            lag_steps=d.investment_lag_steps, pressure_threshold=d.invest_pressure_threshold,
            target_load=s.costs.planned_utilisation / s.costs.max_utilisation,
            speed=d.invest_speed, price=self.producer_base_price, new_unit_cost=unit_cost,
            min_margin=d.invest_min_margin, capacity_per_gpu=per_gpu)
        if not orders.any():
            return
        # regional power: online + ordered GPUs' facility power stays within the region's cap
        years = (self.date - self.start_date).days / 365.25
        cap_mw = self._region_column("ai_power_cap_mw") * (
            1.0 + self._region_column("ai_power_growth_per_year")) ** years
        all_gpus_power = np.bincount(self.fleet.producer, self.fleet.gpus
                                     * self.chips.power_w[self.fleet.chip],
                                     minlength=self.n_producers) * self.producer_pue / 1e6
        used_mw = np.bincount(self.producer_region, all_gpus_power, minlength=cap_mw.size)
        mw_per_gpu = self.chips.power_w[chip] * self.producer_pue / 1e6
        orders = dynamics.limit_by_group(orders, self.producer_region, cap_mw - used_mw,
                                         mw_per_gpu)
        # chip supply: CN producers under controls draw on their own, smaller pool
        controlled = self._export_lag_years() > 0
        pool = np.where(controlled, len(self.chips.names), chip)
        supply = np.append(
            self.chips.supply_gpus_per_step * (1.0 + self.chips.supply_growth_per_year) ** years,
            s.policy.cn_chip_supply_gpus_per_step
            * (1.0 + s.policy.cn_chip_supply_growth_per_year) ** years)
        orders = np.floor(dynamics.limit_by_group(orders, pool, supply, np.ones_like(orders)))
        buyers = np.flatnonzero(orders > 0)
        if buyers.size:
            online = self.steps + d.investment_lag_steps
            life = round(s.costs.gpu_life_years * SECONDS_PER_YEAR / s.step_seconds)
            self.fleet.add(buyers, chip[buyers], orders[buyers], online, online + life)
        self.orders_gpus_this_step = float(orders.sum())

    # ------------------------------------------------------------------------------------------
    # exit and entry (topology changes: agents removed/added, routes recompiled)
    # ------------------------------------------------------------------------------------------
    def _exit_and_entry(self) -> None:
        d = self.scenario.dynamics
        self.exits_this_step = 0
        self.entries_this_step = 0
        if d.exit_enabled:
            bankrupt = self.producer_cash < d.bankruptcy_cash_usd
            if bankrupt.any() and not bankrupt.all():
                self._remove_producers(bankrupt)
        if d.entry_enabled and self.steps % d.entry_interval_steps == 0:
            self._enter_producers()
        if self.exits_this_step or self.entries_this_step:
            self.metrics.update(metrics.population(self))

    def _resize_producers(self, keep: np.ndarray) -> None:
        for name in PRODUCER_FLOATS:
            setattr(self, f"producer_{name}", getattr(self, f"producer_{name}")[keep])
        for name in ("region", "group", "initial_chip", "strategy", "best_chip",
                     "export_penalty", "hardware_penalty", "electricity", "grid_electricity", "pue", "carbon",
                     "facility", "fixed_usd_per_year"):
            setattr(self, f"producer_{name}", getattr(self, f"producer_{name}")[keep])

    def _remove_producers(self, mask: np.ndarray) -> None:
        """Bankrupt producers leave: Mesa agents removed, arrays compacted, routes recompiled."""
        survivors = ~mask
        for agent in [self.producers[i] for i in np.flatnonzero(mask)]:
            log.info("step %d: %r exits (cash %.3g USD)", self.steps, agent, agent.cash)
            agent.remove()
        new_index = np.cumsum(survivors) - 1
        self.producers = [p for i, p in enumerate(self.producers) if survivors[i]]
        for agent in self.producers:
            agent.index = int(new_index[agent.index])
        self._resize_producers(survivors)
        self.fleet.remap_producers(survivors)
        self.platform_listings = [new_index[listed[survivors[listed]]]
                                  for listed in self.platform_listings]
        self.exits_this_step = int(mask.sum())
        self.exits_total += self.exits_this_step
        self._recompile()

    def _enter_producers(self) -> None:
        """Entry where a new producer with the best chip would earn a margin above the threshold.

        At most one entrant per producer region per entry check, listed on the platforms that
        list its region, starting with ``entry_gpus`` GPUs online and cash for a quarter of their
        capex.
        """
        s = self.scenario
        d = s.dynamics
        unit_cost, _ = self._new_gpu_economics(self.producer_best_chip)
        entrants = []
        for group_name, group in s.producers.items():
            members = np.flatnonzero(self.producer_group == group_name)
            if members.size == 0:
                continue
            served = self.producer_served[members]
            price = np.average(self.producer_base_price[members],
                               weights=served if served.sum() > 0 else None)
            margin = (price - unit_cost[members].min()) / price
            if margin >= d.entry_min_margin:
                entrants.append((group_name, group, members[0]))
        if not entrants:
            return
        n_old = self.n_producers
        n_new = len(entrants)
        old = np.arange(n_old)
        keep = np.concatenate([old, np.array([e[2] for e in entrants])])
        self._resize_producers(keep)  # entrants start as copies of a group member...
        fresh = self._new_producer_arrays(n_new)
        for name, values in fresh.items():  # ...then get fresh state
            getattr(self, f"producer_{name}")[n_old:] = values
        for offset, (group_name, group, template) in enumerate(entrants):
            i = n_old + offset
            self.producer_quality[i] = group.quality_utils + group.quality_sd_utils * \
                self.rng.standard_normal()
            self.producer_base_price[i] = self.producer_base_price[template]
            self.producer_price[i] = self.producer_base_price[i]
            self.producer_strategy[i] = group.strategy
            chip = int(self.producer_best_chip[template])
            capex = self.chips.price_usd[chip] + self.producer_facility[template] * \
                self.chips.power_w[chip]
            self.producer_cash[i] = 0.25 * d.entry_gpus * capex
            life = round(s.costs.gpu_life_years * SECONDS_PER_YEAR / s.step_seconds)
            self.fleet.add(i, chip, d.entry_gpus, self.steps, self.steps + life)
            self.producers.append(TokenProducer(self, i, group.region, group_name,
                                                self.chips.names[chip], group.strategy))
            region = self.producer_region[i]
            hosts = [k for k, regions in enumerate(self.platform_lists_regions)
                     if region in regions]
            for k in self.rng.choice(hosts, min(2, len(hosts)), replace=False):
                self.platform_listings[k] = np.append(self.platform_listings[k], i)
            log.info("step %d: entrant in %s", self.steps, group_name)
        self.entries_this_step = n_new
        self.entries_total += n_new
        self._recompile()

    def _recompile(self) -> None:
        """New topology: routes, costs and a market outcome consistent with the new arrays (the
        settled volumes of this step stay as they were)."""
        self._build_network()
        self._update_costs()
        self.market = self._route_market()
        self.demand_outcome = market_demand(self.market, self.producer_price)
        self.clearing = clear_capacity(self.market, self.demand_outcome)

    # ------------------------------------------------------------------------------------------
    # initial state
    # ------------------------------------------------------------------------------------------
    def _calibrate_outside_option(self, price: np.ndarray) -> None:
        """Set v0 so that each consumer's outside share at ``price`` is the calibrated one."""
        s_out = self.scenario.demand.initial_outside_share
        market = self._route_market()
        topo = market.topology
        route_price = price[topo.route_producer] + market.route_price_extra
        phi = np.log(route_price) if market.price_form == "log" else route_price
        value = market.route_utility - market.route_alpha * phi
        top = topo.segment_max(value)
        has_route = np.isfinite(top)
        inside = np.where(has_route, top, 0.0)
        total = topo.segment_sum(np.exp(value - inside[topo.route_consumer]))
        inside_logsum = inside + np.log(np.where(has_route, total, 1.0))
        ratio = s_out / max(1.0 - s_out, 1e-12)
        self.consumer_outside_utility = np.where(
            has_route, inside_logsum + np.log(max(ratio, 1e-300)), 0.0)

    def _initialise_market(self) -> None:
        """Start at a calibrated static equilibrium (docs/ODD.md, "Initialisation").

        1. costs at the start date (one notional GPU per producer); 2. outside option calibrated
        at cost-plus prices, Nash prices, calibrated again at the Nash prices and Nash again;
        3. fleets sized so each producer serves its Nash demand at the planned utilisation, with
        cohort ages spread over the first half of the GPU life; 4. cash = cash_weeks x initial
        revenue.
        """
        s = self.scenario
        self.platform_markup = np.zeros(self.platform_region.size)
        self._update_costs()  # empty fleet: costs of one notional GPU of the group's chip
        self.producer_capacity = np.full(self.n_producers, np.inf)
        mc = self.producer_marginal_cost
        price = mc * 2.0
        for _ in range(2):
            self.producer_price = price
            self._set_platform_markups()
            self._calibrate_outside_option(price)
            price = bertrand_nash(self._route_market(), mc, initial_price=price, tol=1e-10)
        self.producer_price = price
        self.producer_base_price = price.copy()
        self._set_platform_markups()
        demand = market_demand(self._route_market(), price).producer_demand
        tps = self.costs.tokens_per_s_per_gpu
        per_gpu = tps * s.step_seconds * s.costs.planned_utilisation / 1e6
        gpus = np.maximum(np.ceil(demand / per_gpu), 8.0)
        life = round(s.costs.gpu_life_years * SECONDS_PER_YEAR / s.step_seconds)
        age = self.rng.integers(0, max(life // 2, 1), self.n_producers)
        self.fleet.add(np.arange(self.n_producers), self.producer_initial_chip, gpus, -age,
                       life - age)
        self._update_costs()
        self.market = self._route_market()
        self._clear_market()
        self.producer_demand = self.demand_outcome.producer_demand
        self._settle()
        weeks = s.step_days / 7.0
        group_weeks = np.array([s.producers[g].cash_weeks for g in self.producer_group])
        self.producer_cash = self.producer_revenue * group_weeks / weeks
        self.orders_gpus_this_step = 0.0
        self.metrics = metrics.compute(self)
        self.initial_price_avg = self.metrics["price_avg"]  # base of the price index
        self.metrics["price_index"] = 1.0
