"""``PriceWarModel``: the Mesa model of the token price war.

The model owns the agents (real Mesa agents whose numeric state is a view into the producer,
platform and consumer arrays of :mod:`pricewar.model.population`), the market network and its
compiled route arrays, the GPU fleet (cohorts) and the ``DataCollector``. One step (one week by
default; docs/ODD.md §3 "Process overview and scheduling")::

    exogenous update -> costs -> prices (producers by strategy, then platforms)
    -> demand and capacity clearing (kernel) -> settlement -> investment -> metrics
    -> exit and entry -> data collection

Each phase is a function that says what it reads and writes (:mod:`pricewar.model.phases`,
:mod:`~pricewar.model.investment`, :mod:`~pricewar.model.entry_exit`); the methods below hand
them the model's state.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import mesa
import numpy as np

from pricewar.kernel import RouteMarket, bertrand_nash, market_demand
from pricewar.limits import check_seed
from pricewar.market.costs import CostConditions, ProducerCosts, capacity_mtok_per_step
from pricewar.market.fleet import Fleet
from pricewar.model import entry_exit, health, initialise, investment, metrics, phases
from pricewar.model.agents import IndustrialConsumer, PlatformOperator, TokenProducer
from pricewar.model.network import MarketNetwork, build_network
from pricewar.model.population import ArrayAttributes
from pricewar.model.regions import RegionTable
from pricewar.scenario import Scenario, load_scenario
from pricewar.units import DAYS_PER_WEEK, DAYS_PER_YEAR


class PriceWarModel(ArrayAttributes, mesa.Model):
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

    Attributes
    ----------
    producers, platforms, consumers : the Mesa agents, in array-index order
    producer_arrays, platform_arrays, consumer_arrays : their state; every column is also
        ``model.<type>_<column>`` (``model.producer_price``, ``model.consumer_demand``, ...)
    regions, chips : the scenario's regions and chips as arrays
    fleet : the GPU cohorts
    network : the market graph and route arrays (``model.graph``, ``model.routes``)
    costs, cost_conditions : this step's cost components and what they were computed under
    pricing_market, market : the kernel's market producers priced against, and the one cleared
    demand_outcome, clearing : this step's logit demand and capacity clearing
    strategy_state : memory of strategies that learn (``PricingView.state``)
    metrics : this step's model metrics (the DataCollector's model reporters read them)
    warnings : what makes this run's numbers doubtful (outside the calibrated period, a
        degenerate market), each kind once (:mod:`pricewar.model.health`; also logged)

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
        if seed is not None:
            check_seed("PriceWarModel", "seed", seed)  # numpy wants it in [0, 2**63 - 1]
        super().__init__(seed=seed)
        self.scenario: Scenario = load_scenario(scenario).with_overrides(**overrides)
        self.overrides = dict(overrides)
        s = self.scenario
        self.warnings = health.RunWarnings(s.name)
        self.start_date = dt.date.fromisoformat(s.start_date)
        self.region_names: list[str] = list(s.regions)
        self.sector_names: list[str] = list(s.sectors)
        self.regions = RegionTable.from_scenario(s)
        self.chips = initialise.chip_table(s)
        self.fleet = Fleet()
        self.strategy_state: dict = {}
        self.exits_this_step = self.entries_this_step = 0
        self.exits_total = self.entries_total = 0

        self.producer_arrays = initialise.create_producers(s, self.regions, self.chips, self.rng)
        self.producers = [
            TokenProducer(self, i, self.region_names[region], group, self.chips.names[chip],
                          strategy)
            for i, (region, group, chip, strategy) in enumerate(zip(
                self.producer_region, self.producer_group, self.producer_initial_chip,
                self.producer_strategy, strict=True))]
        self.platform_arrays = initialise.create_platforms(s, self.regions, self.producer_region,
                                                           self.rng)
        self.platforms = [PlatformOperator(self, k, self.region_names[region], group)
                          for k, (region, group) in enumerate(zip(
                              self.platform_region, self.platform_group, strict=True))]
        self.consumer_arrays = initialise.create_consumers(s, self.regions, self.platform_region,
                                                           self.rng)
        self.consumers = [IndustrialConsumer(self, j, self.region_names[region],
                                             self.sector_names[sector])
                          for j, (region, sector) in enumerate(zip(
                              self.consumer_region, self.consumer_sector, strict=True))]
        self.network: MarketNetwork = self._build_network()

        # the market of the current step, set by the phases
        self.costs: ProducerCosts | None = None
        self.cost_conditions: CostConditions | None = None
        self.pricing_market: RouteMarket | None = None
        self.market: RouteMarket | None = None
        self.demand_outcome = None
        self.clearing = None
        self.orders_gpus_this_step = 0.0
        self.metrics: dict[str, float] = {}
        self.initial_price_avg: float | None = None  # base of the price index
        self._initialise_market()
        self.datacollector = metrics.PriceWarDataCollector(self.regions.producer_regions)
        self.datacollector.collect(self)
        health.check_run(self)

    # ------------------------------------------------------------------------------------------
    # the story of one step
    # ------------------------------------------------------------------------------------------
    def step(self) -> None:
        """Advance the market by one step (docs/ODD.md §3)."""
        self._exogenous_update()
        self._update_costs()
        self._set_prices()
        self._clear_market()
        self._settle()
        self._invest()
        self.metrics = metrics.compute(self)  # this step's market, before exits change the arrays
        self._exit_and_entry()
        health.check_step(self)
        self.datacollector.collect(self)
        self.running = self.steps < self.scenario.steps

    @property
    def date(self) -> dt.date:
        """Calendar date of the current step."""
        return self.start_date + dt.timedelta(days=self.scenario.step_days * self.steps)

    @property
    def n_producers(self) -> int:
        return len(self.producer_arrays)

    @property
    def graph(self):
        """The market graph (consumers -> platforms -> producers)."""
        return self.network.graph

    @property
    def routes(self):
        """The compiled routes (:class:`~pricewar.market.graph.RouteTable`)."""
        return self.network.routes

    @property
    def route_transfer_usd(self) -> np.ndarray:
        """Cross-region transfer cost of each route (USD/Mtok)."""
        return self.network.transfer_usd

    @property
    def efficiency(self) -> float:
        """Serving-efficiency multiplier at the current date (dimensionless)."""
        return self.cost_conditions.efficiency

    def _producer_ids(self) -> np.ndarray:
        return np.array([p.unique_id for p in self.producers])

    # ------------------------------------------------------------------------------------------
    # phases
    # ------------------------------------------------------------------------------------------
    def _exogenous_update(self) -> None:
        phases.exogenous_update(self.scenario, self.steps, self.regions, self.consumer_arrays,
                                self.fleet)

    def _update_costs(self) -> None:
        self.costs, self.cost_conditions = phases.update_costs(
            self.scenario, self.date, self.steps, self.regions, self.chips, self.fleet,
            self.producer_arrays)

    def _route_market(self) -> RouteMarket:
        return phases.route_market(self.network, self.platform_arrays, self.consumer_arrays,
                                   self.producer_capacity, self.scenario.price_form)

    def _set_prices(self) -> None:
        """Producers price by strategy (scheduled cuts override), scarcity on top; then platforms
        set markups."""
        producers = self.producer_arrays
        previous_market = self.market
        committed = phases.apply_price_events(self.scenario.events, self.steps, producers)
        # the market producers price against: this step's demand, last step's platform markups
        self.pricing_market = self._route_market()
        phases.set_list_prices(self.scenario, producers, committed, self.pricing_market,
                               self._producer_ids(), self.strategy_state, self.steps, self.rng)
        phases.set_posted_prices(self.scenario.pricing, producers, previous_market,
                                 self.demand_outcome)
        phases.set_platform_markups(self.platform_arrays, producers.price)
        if self.scenario.price_form != "log":  # additive markups changed the route prices
            self.market = self._route_market()
        else:  # multiplicative markups live in the route utilities: same market
            self.market = self.pricing_market

    def _clear_market(self) -> None:
        self.demand_outcome, self.clearing = phases.clear_market(self.market, self.producer_price)

    def _settle(self) -> None:
        phases.settle(self.scenario, self.regions, self.network, self.costs, self.demand_outcome,
                      self.clearing, self.producer_arrays, self.platform_arrays,
                      self.consumer_arrays)
        phases.observe_settlement(self.strategy_state, self.producer_strategy,
                                  self._producer_ids(), self.producer_profit)

    def _invest(self) -> None:
        years = (self.date - self.start_date).days / DAYS_PER_YEAR
        self.orders_gpus_this_step = investment.invest(
            self.scenario, self.steps, years, self.regions, self.chips, self.fleet,
            self.producer_arrays, self.cost_conditions)

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

    def _remove_producers(self, mask: np.ndarray) -> None:
        """Bankrupt producers leave: Mesa agents removed, arrays compacted, routes recompiled."""
        entry_exit.remove_producers(self, mask)
        self.exits_this_step = int(mask.sum())
        self.exits_total += self.exits_this_step
        self._recompile()

    def _enter_producers(self) -> None:
        """At most one entrant per producer group where new capacity would earn the entry
        margin (:func:`pricewar.model.entry_exit.entrants`)."""
        unit_cost, _ = investment.new_gpu_economics(self.scenario, self.chips,
                                                    self.producer_best_chip, self.cost_conditions)
        entering = entry_exit.entrants(self.scenario, self.producer_group, self.producer_served,
                                       self.producer_base_price, unit_cost)
        if not entering:
            return
        entry_exit.add_producers(self, entering, investment.gpu_life_steps(self.scenario))
        self.entries_this_step = len(entering)
        self.entries_total += len(entering)
        self._recompile()

    def _build_network(self) -> MarketNetwork:
        return build_network(self.scenario, self.regions, len(self.sector_names),
                             self.producer_arrays, self.platform_arrays, self.consumer_arrays)

    def _recompile(self) -> None:
        """New topology: routes, costs and a market outcome consistent with the new arrays (the
        settled volumes of this step stay as they were)."""
        self.network = self._build_network()
        self._update_costs()
        self.market = self._route_market()
        self.demand_outcome, self.clearing = phases.clear_market(self.market, self.producer_price)

    # ------------------------------------------------------------------------------------------
    # initial state
    # ------------------------------------------------------------------------------------------
    def _initialise_market(self) -> None:
        """Start at a calibrated static equilibrium (docs/ODD.md §5 "Initialisation").

        1. costs at the start date (one notional GPU per producer); 2. outside option calibrated
        at cost-plus prices, Nash prices, calibrated again at the Nash prices and Nash again;
        3. fleets sized so each producer serves its Nash demand at the planned utilisation, with
        cohort ages spread over the first half of the GPU life; 4. cash = cash_weeks x initial
        revenue.
        """
        s = self.scenario
        producers = self.producer_arrays
        self.platform_markup = np.zeros(self.platform_region.size)
        self._update_costs()  # empty fleet: costs of one notional GPU of the best chip
        producers.capacity = np.full(self.n_producers, np.inf)
        mc = producers.marginal_cost
        price = mc * 2.0
        for _ in range(2):
            producers.price = price
            phases.set_platform_markups(self.platform_arrays, producers.price)
            self.consumer_outside_utility = initialise.calibrated_outside_utility(
                self._route_market(), price, s.demand.initial_outside_share)
            price = bertrand_nash(self._route_market(), mc, initial_price=price, tol=1e-10)
        producers.price = price
        producers.base_price = price.copy()
        phases.set_platform_markups(self.platform_arrays, producers.price)
        demand = market_demand(self._route_market(), price).producer_demand
        per_gpu = capacity_mtok_per_step(self.costs.tokens_per_s_per_gpu, s.step_seconds,
                                         s.costs.planned_utilisation)
        initialise.add_initial_fleet(self.fleet, demand, producers.initial_chip, per_gpu,
                                     investment.gpu_life_steps(s), self.rng)
        self._update_costs()
        self.market = self._route_market()
        self._clear_market()
        producers.demand = self.demand_outcome.producer_demand
        self._settle()
        group_weeks = np.array([s.producers[g].cash_weeks for g in producers.group])
        producers.cash = producers.revenue * group_weeks / (s.step_days / DAYS_PER_WEEK)
        self.metrics = metrics.compute(self)
        self.initial_price_avg = self.metrics["price_avg"]
        self.metrics["price_index"] = 1.0
