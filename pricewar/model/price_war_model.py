"""``PriceWarModel``: the Mesa model of the token price war.

The model owns the agents (real Mesa agents whose numeric state is a view into the arrays of
:mod:`pricewar.model.population`), the model families and the products hosts offer, the market
network and its compiled route arrays, the GPU fleet (cohorts) and the ``DataCollector``. One step
(one week by default; docs/ODD.md §3 "Process overview and scheduling")::

    exogenous update (task growth, family releases and retirements) -> costs
    -> prices (hosts price their products by strategy, scarcity on top)
    -> demand and capacity clearing (kernel) -> settlement -> investment -> metrics
    -> exit and entry -> data collection

Each phase is a function that says what it reads and writes (:mod:`pricewar.model.phases`,
:mod:`~pricewar.model.settlement`, :mod:`~pricewar.model.investment`,
:mod:`~pricewar.model.entry_exit`); the methods below hand them the model's state.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import mesa
import numpy as np

from pricewar.kernel import RouteMarket, market_demand
from pricewar.limits import check_seed
from pricewar.model import (
    entry_exit,
    health,
    initialise,
    investment,
    metrics,
    phases,
    rental,
    settlement,
)
from pricewar.model.agents import IndustrialConsumer, PlatformOperator, TokenProducer
from pricewar.model.customer_base import CustomerBase, complement_weights, pricing_dynamics
from pricewar.model.market_v3 import FOC_STRATEGIES, FORWARD_STRATEGIES, MarketV3
from pricewar.model.network import MarketNetwork, build_network, graph_paths, market_graph
from pricewar.model.population import ArrayAttributes, ProductArrays
from pricewar.model.products import FamilyTable, hosted_products
from pricewar.model.regions import RegionTable
from pricewar.model.scenario_strategies import resolve_strategies
from pricewar.scenario import Scenario, load_scenario
from pricewar.scenario.parameters import MARKET_V3
from pricewar.strategies import STRATEGY_REGISTRY
from pricewar.strategies.heuristics import nash_prices
from pricewar.supply.cohort_costs import SupplyCosts
from pricewar.supply.families import family_fixed_cost_usd_per_year
from pricewar.supply.fleet import Fleet
from pricewar.supply.token_units import owner_api_sold_share
from pricewar.units import DAYS_PER_WEEK, DAYS_PER_YEAR

#: weeks per year, for runways in weeks of yearly costs
WEEKS_PER_YEAR = DAYS_PER_YEAR / DAYS_PER_WEEK
#: most rounds of (reference inclusive value, Nash prices) at initialisation
INIT_ROUNDS = 5


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
    producers, platforms, consumers : the Mesa agents (hosts, platforms, consumers)
    producer_arrays, product_arrays, platform_arrays, consumer_arrays : their state; every
        column is also ``model.<kind>_<column>`` (``model.producer_price``,
        ``model.product_price``, ``model.consumer_demand``, ...)
    regions, families : the scenario's regions and model families as arrays
    live_families : bool array, the families released and not retired at the current date
    supply : the cost library (:class:`~pricewar.supply.cohort_costs.SupplyCosts`)
    fleet : the GPU cohorts
    network : the market graph and route arrays (``model.graph``, ``model.routes``)
    graph_paths : the graph's consumer -> platform -> host paths within access and latency
        (recompiled with the graph on exit and entry; routes are recompiled from them)
    pricing_market, market : the kernel's market products were priced against and cleared in
    demand_outcome, clearing : this step's nested-logit demand and capacity clearing
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
        self.scenario: Scenario = resolve_strategies(
            load_scenario(scenario).with_overrides(**overrides))
        self.overrides = dict(overrides)
        s = self.scenario
        self.warnings = health.RunWarnings(s.name)
        health.check_size(self)  # before the (possibly long) build
        self.start_date = dt.date.fromisoformat(s.start_date)
        self.region_names: list[str] = list(s.regions)
        self.sector_names: list[str] = list(s.sectors)
        self.tier_names: list[str] = list(s.tiers)
        self.chip_names: tuple[str, ...] = tuple(s.chips)
        self.regions = RegionTable.from_scenario(s)
        self.families = FamilyTable.from_scenario(s)
        self.supply = SupplyCosts(s.catalogue, market_version=s.market.version)
        #: per owner (scenario order), the share of its served tokens sold through its API
        self.api_sold_share = owner_api_sold_share(s.catalogue)
        self.fleet = Fleet()
        self.strategy_state: dict = {}
        self.customer_base = CustomerBase(s.demand.customer_base_kappa_utils)
        #: the v3 market (docs/ODD.md §6.2d), None when the scenario runs the v2 market
        self.market_v3: MarketV3 | None = MarketV3(s) if s.market.version == MARKET_V3 else None
        self.exits_this_step = self.entries_this_step = 0
        self.exits_total = self.entries_total = 0
        self.orders_gpus_this_step = 0.0

        self.producer_arrays = initialise.create_producers(s, self.regions, self.rng)
        self.producers = [
            TokenProducer(self, i, self.region_names[region], group, self.chip_names[chip],
                          strategy)
            for i, (region, group, chip, strategy) in enumerate(zip(
                self.producer_region, self.producer_group, self.producer_initial_chip,
                self.producer_strategy, strict=True))]
        self.platform_arrays = initialise.create_platforms(
            s, self.regions, self.producer_region, self.producer_owner, self.rng)
        self.platforms = [PlatformOperator(self, k, self.region_names[region], group)
                          for k, (region, group) in enumerate(zip(
                              self.platform_region, self.platform_group, strict=True))]
        self.consumer_arrays = initialise.create_consumers(s, self.regions, self.platform_region,
                                                           self.rng)
        self.consumers = [IndustrialConsumer(self, j, self.region_names[region],
                                             self.sector_names[sector])
                          for j, (region, sector) in enumerate(zip(
                              self.consumer_region, self.consumer_sector, strict=True))]
        self._compile_graph()
        self.live_families = self.families.live(self.date)
        empty = np.zeros(0, np.int64)
        self.product_arrays = ProductArrays(producer=empty, family=empty, product_id=empty)
        self._next_product_id = 0
        self.network: MarketNetwork = self._refresh_products()

        # the market of the current step, set by the phases
        self.pricing_market: RouteMarket | None = None
        self.market: RouteMarket | None = None
        self.demand_outcome = None
        self.clearing = None
        self.metrics: dict[str, float] = {}
        self._initialise_market()
        self.datacollector = metrics.PriceWarDataCollector(self.regions.producer_regions,
                                                           tiers=self.tier_names,
                                                           chips=self.chip_names)
        self.datacollector.collect(self)
        health.check_finite(self)
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
        health.check_finite(self)
        self.running = self.steps < self.scenario.steps

    @property
    def date(self) -> dt.date:
        """Calendar date of the current step."""
        return self.start_date + dt.timedelta(days=self.scenario.step_days * self.steps)

    @property
    def n_producers(self) -> int:
        return len(self.producer_arrays)

    @property
    def n_products(self) -> int:
        return len(self.product_arrays)

    @property
    def routes(self):
        """The compiled routes (:class:`~pricewar.supply.graph.RouteTable`)."""
        return self.network.routes

    @property
    def route_transfer_usd(self) -> np.ndarray:
        """Cross-region transfer cost of each route (USD/Mtok)."""
        return self.network.transfer_usd

    # ------------------------------------------------------------------------------------------
    # phases
    # ------------------------------------------------------------------------------------------
    def _exogenous_update(self) -> None:
        phases.exogenous_update(self.scenario, self.steps, self.regions, self.consumer_arrays,
                                self.fleet)
        live = self.families.live(self.date)
        if not np.array_equal(live, self.live_families):  # releases or retirements
            self.live_families = live
            self.network = self._refresh_products()

    def _family_fixed_costs(self) -> np.ndarray:
        """Each family's fixed cost this year (USD/year; 0 when not live): its own plus a share
        of its owner's programme (docs/ODD.md §6.1b)."""
        s = self.scenario
        families = list(s.families.values())
        return family_fixed_cost_usd_per_year(
            [f.fixed_cost_usd_per_year for f in families], self.live_families,
            self.families.owner, [o.fixed_cost_usd_per_year for o in s.owners.values()])

    def _update_costs(self) -> None:
        phases.update_costs(self.scenario, self.supply, self.date, self.steps, self.regions,
                            self.families, self.fleet, self.producer_arrays, self.product_arrays,
                            self._family_fixed_costs())

    def _route_market(self, capacitated: bool = True) -> RouteMarket:
        return phases.route_market(self.scenario, self.network, self.consumer_arrays,
                                   self.producer_arrays, self.product_arrays, len(self.families),
                                   capacitated, self._customer_base_utility())

    def _host_uid(self) -> np.ndarray:
        """Each host's Mesa ``unique_id`` (stable across exits and entries)."""
        return np.array([p.unique_id for p in self.producers], dtype=np.int64)

    def _customer_base_utility(self) -> np.ndarray | None:
        """The customer base's utility per route (None without one; docs/ODD.md §6.2)."""
        if not self.customer_base.active:
            return None
        routes = self.network.routes
        return self.customer_base.route_bonus(routes.route_consumer,
                                              self._host_uid()[routes.route_producer])

    def _observe_customer_base(self) -> None:
        """This step's served shares become next step's customer base."""
        if self.customer_base.active:
            routes = self.network.routes
            self.customer_base.observe(routes.route_consumer,
                                       self._host_uid()[routes.route_producer],
                                       self.clearing.route_served, self.consumer_region.size)

    def _complement_weight(self) -> np.ndarray:
        """Per host, its owner's complement weight (docs/calibration.md C16)."""
        return complement_weights(list(self.scenario.owners), self.producer_owner,
                                  self.scenario.complements)

    def _pricing_dynamics(self) -> None:
        """What forward-looking strategies need: kappa, task growth, each product's discount
        factor (its host's WACC) and complement weight (docs/ODD.md §6.4)."""
        s = self.scenario
        if not (self.customer_base.active or "forward_looking" in set(self.producer_strategy)):
            return
        self.strategy_state["dynamics"] = pricing_dynamics(
            self.customer_base.kappa, s.demand.growth_per_step,
            self.producer_wacc[self.product_producer], s.step_days,
            self._complement_weight()[self.product_producer])

    def _set_prices(self) -> None:
        """Hosts price their products by strategy (scheduled cuts override, new products enter
        at a best response), scarcity on top; platforms' markups are reported."""
        if self.market_v3 is not None:
            self._set_prices_v3()
            return
        self.pricing_market = self._route_market()
        self._pricing_dynamics()
        view = phases.pricing_view(self.scenario, self.pricing_market,
                                   self.product_base_price, self.producer_arrays,
                                   self.product_arrays, self.families, self.strategy_state,
                                   self.steps, self.rng)
        phases.set_list_prices(view, self.producer_arrays, self.product_arrays,
                               self.scenario.events, self.steps,
                               float(np.mean(self.consumer_alpha)))
        phases.set_posted_prices(self.scenario.pricing, self.producer_arrays,
                                 self.product_arrays)
        self._report_platform_markups()
        self.market = self.pricing_market

    def _report_platform_markups(self) -> None:
        """Each platform's markup in USD: its rate times the mean price of its listed hosts."""
        price = self.producer_price
        mean_listed = np.array([price[listed].mean() if listed.size else 0.0
                                for listed in self.platform_listings])
        self.platform_markup = self.platform_markup_rate * mean_listed

    def _clear_market(self) -> None:
        if self.market_v3 is not None:
            self.demand_outcome, self.clearing = self.market_v3.outcome(
                self.network, self.consumer_arrays, self.product_arrays, self.producer_arrays,
                self.product_price)
            return
        self.demand_outcome, self.clearing = phases.clear_market(self.market, self.product_price)

    # ------------------------------------------------------------------------------------------
    # the v3 market (docs/ODD.md §6.2d-§6.4b)
    # ------------------------------------------------------------------------------------------
    def _v3_start_prices(self) -> np.ndarray:
        """Last step's list prices; a fresh product starts at the markup of a small product
        alone in its nest, ``alpha/(alpha - 1)`` at the consumers' mean alpha."""
        products = self.product_arrays
        alpha = float(np.mean(self.consumer_alpha))
        guess = np.maximum(products.marginal_cost * alpha / (alpha - 1.0),
                           phases.MIN_LOG_PRICE_USD_PER_MTOK)
        return np.where((products.fresh > 0) | ~(products.base_price > 0), guess,
                        products.base_price)

    def _set_prices_v3(self) -> None:
        """Phase 3 of the v3 market: heuristic strategies and scheduled cuts give their prices;
        hosts of the FOC strategies and capacity set the rest (one equilibrium per step)."""
        products, producers = self.product_arrays, self.producer_arrays
        start = self._v3_start_prices()
        products.base_price = start
        self.market_v3.refresh(self.network, self.consumer_arrays, products, self.families,
                               self._host_uid(), start)
        self.pricing_market = self._route_market()
        self._pricing_dynamics()
        view = phases.pricing_view(self.scenario, self.pricing_market, start, producers,
                                   products, self.families, self.strategy_state, self.steps,
                                   self.rng)
        committed = phases.apply_price_events(self.scenario.events, self.steps, producers,
                                              products, start)
        strategy = producers.strategy[products.producer]
        foc = np.isin(strategy, FOC_STRATEGIES) & ~committed
        given = np.where(committed, products.commit_price, start)
        for name in np.unique(strategy[~foc & ~committed]):
            members = np.flatnonzero((strategy == name) & ~foc & ~committed)
            given[members] = STRATEGY_REGISTRY[str(name)](view, members)
        forward = np.isin(strategy, FORWARD_STRATEGIES) & ~committed
        years = self.scenario.step_days / DAYS_PER_YEAR
        discount = (1.0 + producers.wacc) ** -years
        omega, retention = self.market_v3.value_of_customers(
            products, forward, discount, self._complement_weight(), start)
        result = self.market_v3.solve(self.consumer_arrays, products, producers, given, ~foc,
                                      omega, retention, start, self._host_uid())
        price = given.copy()
        if result is not None:
            price[self.market_v3.topology.priced] = result.price
        products.base_price = np.maximum(price, 0.0)
        products.price = products.base_price.copy()
        products.fresh[:] = 0.0
        producers.surcharge = np.ones(len(producers))
        self._report_platform_markups()
        self.market = self.pricing_market

    def _settle(self) -> None:
        settlement.settle(self.scenario, self.regions, self.network, self.market,
                          self.demand_outcome, self.clearing, self.producer_arrays,
                          self.product_arrays, self.platform_arrays, self.consumer_arrays)
        self._observe_customer_base()
        if self.market_v3 is not None:
            self.market_v3.move_states(self.product_arrays)
        settlement.observe_settlement(self.strategy_state,
                                      self.producer_strategy[self.product_producer],
                                      self.product_product_id, self.product_profit)

    def _invest(self) -> None:
        years = phases.years_between(self.start_date, self.date)
        shadow = None
        if self.market_v3 is not None:  # the capacity shadow prices (docs/ODD.md §6.5)
            shadow = self.market_v3.shadow_by_host(self._host_uid())
        self.orders_gpus_this_step = investment.invest(
            self.scenario, self.supply, self.steps, years, self.date, self.regions,
            self.families, self.fleet, self.producer_arrays, self.product_arrays, shadow)

    # ------------------------------------------------------------------------------------------
    # topology changes: products (family releases), exit and entry
    # ------------------------------------------------------------------------------------------
    def _compile_graph(self) -> None:
        """The market graph of the agents and its paths (on exit and entry; a family release
        keeps both and recompiles only the routes over the products)."""
        self.graph = market_graph(self.regions, self.producer_arrays, self.platform_arrays,
                                  self.consumer_arrays)
        self.graph_paths = graph_paths(self.regions, self.producer_arrays, self.consumer_arrays,
                                       self.graph)

    def _refresh_products(self) -> MarketNetwork:
        """The products hosts offer now (hosting rule of :mod:`pricewar.model.products`), the
        product table resized to them, and the routes compiled."""
        producer, family = hosted_products(self.families, self.live_families, self.producer_owner,
                                           self.producer_open_families)
        self._next_product_id = self.product_arrays.reindex(producer, family,
                                                            self._next_product_id)
        return build_network(self.scenario, self.regions, self.families,
                             len(self.sector_names), self.producer_arrays, self.product_arrays,
                             self.platform_arrays, self.consumer_arrays, self.graph,
                             self.graph_paths)

    def _exit_and_entry(self) -> None:
        d = self.scenario.dynamics
        self.exits_this_step = 0
        self.entries_this_step = 0
        if d.exit_enabled:
            if self.scenario.market.version >= MARKET_V3:  # on economic value (docs/ODD.md §6.6)
                leaving = entry_exit.exits_on_value_v3(
                    self.scenario, self.steps, self.supply, self._rental_markets(), self.fleet,
                    self.producer_arrays, self.product_arrays)
            else:
                leaving = self.producer_cash < d.bankruptcy_cash_usd
            if leaving.any() and not leaving.all():
                self._remove_producers(leaving)
        if d.entry_enabled and self.steps % d.entry_interval_steps == 0:
            self._enter_producers()
        # every step: the metrics were taken before the counters were reset, so without this a
        # step after one with exits (entries) reported them again
        self.metrics.update(metrics.population(self))

    def _rental_markets(self) -> rental.RentalOutcome:
        """This step's cleared GPU rental markets (docs/ODD.md §6.1c)."""
        return rental.clear_markets(self.scenario, self.supply, self.date, self.steps,
                                    self.regions, self.fleet, self.producer_arrays)

    def _remove_producers(self, mask: np.ndarray) -> None:
        """Exiting hosts leave: Mesa agents removed, arrays compacted, routes recompiled."""
        entry_exit.remove_producers(self, mask)
        self.exits_this_step = int(mask.sum())
        self.exits_total += self.exits_this_step
        self._recompile()

    def _enter_producers(self) -> None:
        """At most one entrant per independent host group where new capacity would earn the
        entry margin (:func:`pricewar.model.entry_exit.entrants`; on economic value at market
        v3, :func:`~pricewar.model.entry_exit.entrants_v3`)."""
        if self.scenario.market.version >= MARKET_V3:
            entering = entry_exit.entrants_v3(self.scenario, self.supply, self.producer_arrays,
                                              self.product_arrays)
        else:
            # no entrant where the bloc may buy no chip (its best chip is a placeholder)
            new_unit_cost = np.where(self.producer_best_chip_buyable, self.producer_full_cost,
                                     np.inf)
            entering = entry_exit.entrants(self.scenario, self.producer_group,
                                           self.producer_served, self.producer_base_price,
                                           new_unit_cost)
        if not entering:
            return
        entry_exit.add_producers(self, entering, investment.life_steps(self.scenario))
        self.entries_this_step = len(entering)
        self.entries_total += len(entering)
        self._recompile()

    def _recompile(self) -> None:
        """New topology: graph, products, routes, costs and a market outcome consistent with the
        new arrays (the settled volumes of this step stay as they were)."""
        self._compile_graph()
        self.network = self._refresh_products()
        self._update_costs()
        if self.market_v3 is not None:
            self._recompile_v3()
            return
        fresh = self.product_fresh > 0
        if fresh.any():  # new hosts' products enter at a best response
            view = phases.pricing_view(self.scenario, self._route_market(),
                                       self.product_base_price, self.producer_arrays,
                                       self.product_arrays, self.families, self.strategy_state,
                                       self.steps, self.rng)
            self.product_base_price = phases.entry_prices(view, self.product_arrays,
                                                          float(np.mean(self.consumer_alpha)))
            self.product_fresh[:] = 0.0
        self.product_price = self.product_base_price * self.producer_surcharge[
            self.product_producer]
        self.market = self._route_market()
        self.demand_outcome, self.clearing = phases.clear_market(self.market, self.product_price)

    def _recompile_v3(self) -> None:
        """After exit or entry: the v3 market on the new network at the current prices (fresh
        products at their start price), demand and what capacity serves; customers of exited
        hosts shop from the next step on."""
        products = self.product_arrays
        start = self._v3_start_prices()
        products.base_price = start
        products.price = start.copy()
        products.fresh[:] = 0.0
        self.market_v3.refresh(self.network, self.consumer_arrays, products, self.families,
                               self._host_uid(), start)
        none = np.zeros(len(products))
        self.market_v3.solve(self.consumer_arrays, products, self.producer_arrays, start,
                             np.ones(len(products), dtype=bool), none, none, start,
                             self._host_uid(), capacity_clears=False)
        self.market = self._route_market()
        self._clear_market()

    # ------------------------------------------------------------------------------------------
    # initial state
    # ------------------------------------------------------------------------------------------
    def _initialise_market(self) -> None:
        """Start at a static equilibrium (docs/ODD.md §5 "Initialisation").

        1. costs at the start date on one GPU of each group's initial chip; 2. the reference
        inclusive value of each consumer at the markup of a small product alone in its nest, the
        static Bertrand-Nash prices, the reference at them and Nash again, to their fixed point
        (without capacity limits); 3. fleets sized so each host serves its Nash load at the planned utilisation
        (an owner-host without a live family: the median owner-host's), cohort ages spread over
        the first half of the chip life; 4. clearing and settlement; 5.
        cash = cash_weeks x the host's yearly fixed costs (fleet, and an owner's R&D programme
        and live families) / 52.18.
        """
        s = self.scenario
        producers, products, consumers = (self.producer_arrays, self.product_arrays,
                                          self.consumer_arrays)
        life = investment.life_steps(s)
        # costs of one GPU of each group's initial chip (the fleet is sized below)
        self.fleet.add(np.arange(len(producers)), producers.initial_chip, 1.0, 0, life)
        self._update_costs()
        alpha = float(np.mean(consumers.alpha))
        price = np.maximum(products.marginal_cost * alpha / (alpha - 1.0),
                           phases.MIN_LOG_PRICE_USD_PER_MTOK)
        everyone = np.arange(len(products))
        # the reference inclusive value and the Nash prices at it, to their joint fixed point
        for round_ in range(INIT_ROUNDS):
            consumers.reference_logsum = self._reference_logsum(price)
            view = phases.pricing_view(s, self._route_market(capacitated=False), price,
                                       producers, products, self.families, {}, 0, self.rng)
            previous, price = price, nash_prices(view, everyone, tol=1e-6 if round_ == 0
                                                 else 1e-10)
            if round_ and np.max(np.abs(price / previous - 1.0), initial=0.0) < 1e-9:
                break
        consumers.reference_logsum = self._reference_logsum(price)
        if self.market_v3 is not None:  # the v3 market's own static equilibrium, all shopping
            price, product_demand = self._initial_prices_v3(price)
        else:
            product_demand = market_demand(self._route_market(capacitated=False),
                                           price).producer_demand
        products.base_price = price
        products.price = price.copy()
        products.fresh[:] = 0.0
        self.fleet = Fleet()
        # the load the Nash demand puts on a fleet of the group's initial chip
        load = np.bincount(products.producer, product_demand * products.load_gpu_s_per_mtok,
                           minlength=len(producers))
        # an owner-host without a live family at the start served earlier models that are not
        # in the data: it starts with the median fleet of the owner-hosts that have one
        owner_host = producers.owner >= 0
        serving = owner_host & (load > 0)
        if serving.any():
            load[owner_host & (load <= 0)] = np.median(load[serving])
        initialise.add_initial_fleet(self.fleet, load, producers.initial_chip,
                                     s.step_seconds * s.capital.planned_utilisation, life,
                                     self.rng)
        self._update_costs()
        self.market = self._route_market()
        self._clear_market()
        consumers.logsum = self.demand_outcome.consumer_logsum.copy()
        self._settle()
        programme = np.array([o.fixed_cost_usd_per_year for o in s.owners.values()])
        owner_programme = np.where(producers.owner >= 0,
                                   programme[np.maximum(producers.owner, 0)], 0.0)
        live_own = np.maximum(producers.family_fixed_usd_per_year - owner_programme, 0.0)
        yearly = producers.fixed_usd_per_year + owner_programme + live_own
        weeks = np.array([s.producers[g].cash_weeks for g in producers.group])
        producers.cash = weeks * yearly / WEEKS_PER_YEAR
        self.metrics = metrics.compute(self)

    def _initial_prices_v3(self, start: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The v3 market's static equilibrium without capacity limits, every customer shopping
        (from the v2 Nash prices ``start``): list prices and demand per product. The first
        settlement commits every served customer to its host."""
        products, producers = self.product_arrays, self.producer_arrays
        self.market_v3.refresh(self.network, self.consumer_arrays, products, self.families,
                               self._host_uid(), start)
        none = np.zeros(len(products))
        result = self.market_v3.solve(self.consumer_arrays, products, producers, start,
                                      np.zeros(len(products), dtype=bool), none, none, start,
                                      self._host_uid(), capacity_clears=False)
        price = start.copy()
        demand = np.zeros(len(products))
        if result is not None:
            priced = self.market_v3.topology.priced
            price[priced] = result.price
            demand[priced] = result.product_demand
        return np.maximum(price, 0.0), demand

    def _reference_logsum(self, price: np.ndarray) -> np.ndarray:
        """Each consumer's inclusive value at ``price`` (utils): its volume equals its task
        volume there. A consumer without any route gets its sector's median (it buys nothing
        whatever the reference)."""
        market = self._route_market(capacitated=False).with_values(consumer_eta=None)
        logsum = market_demand(market, price).consumer_logsum
        finite = np.isfinite(logsum)
        out = logsum.copy()
        for sector in np.unique(self.consumer_sector):
            rows = self.consumer_sector == sector
            good = rows & finite
            out[rows & ~finite] = np.median(logsum[good]) if good.any() else 0.0
        return out
