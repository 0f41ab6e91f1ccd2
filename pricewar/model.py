"""``PriceWarModel``: the Mesa model of the token price war.

The model owns the agents (real Mesa agents whose numeric state is a view into the arrays below),
the market graph and its compiled route arrays, and the ``DataCollector``. One step (one week by
default; DESIGN §8, docs/ODD.md "Process overview")::

    exogenous update -> costs -> prices (producers by strategy, then platforms)
    -> demand and capacity clearing (kernel) -> settlement -> data collection
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import mesa
import numpy as np

from pricewar import metrics
from pricewar.agents import IndustrialConsumer, PlatformOperator, TokenProducer
from pricewar.costs import SECONDS_PER_YEAR, efficiency_multiplier, producer_costs
from pricewar.errors import ScenarioError
from pricewar.kernel import (
    RouteMarket,
    bertrand_nash,
    clear_capacity,
    market_demand,
    own_price_derivative,
)
from pricewar.market import ACCESS_CODE, build_market_graph, compile_routes
from pricewar.scenario import CN_REGIONS, Scenario, load_scenario
from pricewar.strategies import STRATEGY_REGISTRY, PricingView, scarcity_update

log = logging.getLogger(__name__)

MWH_PER_MTOK_PER_J = 1e6 / 3.6e9  # MWh per (Mtok x J/token)


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
        if isinstance(scenario, str) and scenario.startswith("{"):
            raise ScenarioError("scenario", "<name>", scenario, "expected a name or path")
        self.scenario: Scenario = load_scenario(scenario).with_overrides(**overrides)
        self.overrides = dict(overrides)
        s = self.scenario
        self.start_date = dt.date.fromisoformat(s.start_date)
        self.region_names: list[str] = list(s.regions)
        self.sector_names: list[str] = list(s.sectors)
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
        self.datacollector.collect(self)
        self.running = self.steps < self.scenario.steps

    @property
    def date(self) -> dt.date:
        """Calendar date of the current step."""
        return self.start_date + dt.timedelta(days=self.scenario.step_days * self.steps)

    # ------------------------------------------------------------------------------------------
    # construction
    # ------------------------------------------------------------------------------------------
    def _region_index(self, names) -> np.ndarray:
        lookup = {name: i for i, name in enumerate(self.region_names)}
        return np.array([lookup[n] for n in names], dtype=np.int64)

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
        self.producer_chip = np.array(chips)
        self.producer_strategy = np.array(strategies)
        self.producer_quality = np.array(quality, dtype=float)
        self.producer_surcharge = np.ones(n)
        for name in ("gpus", "price", "base_price", "marginal_cost", "full_cost", "capacity",
                     "served", "demand", "utilisation", "revenue", "profit", "cash",
                     "energy_mwh", "emissions_t"):
            setattr(self, f"producer_{name}", np.zeros(n))
        self.producers = [
            TokenProducer(self, i, regions[i], groups[i], chips[i], strategies[i])
            for i in range(n)
        ]

    def _create_platforms(self) -> None:
        s = self.scenario
        regions, groups, rates, value_add, listings = [], [], [], [], []
        for name, group in s.platforms.items():
            eligible = np.flatnonzero(np.isin(self.producer_region,
                                              self._region_index(group.lists)))
            for _ in range(group.count):
                regions.append(group.region)
                groups.append(name)
                rates.append(group.markup_rate)
                value_add.append(group.value_add_utils)
                size = min(group.listings, eligible.size)
                listings.append(np.sort(self.rng.choice(eligible, size, replace=False)))
        n = len(regions)
        self.platform_region = self._region_index(regions)
        self.platform_markup_rate = np.array(rates, dtype=float)
        self.platform_value_add = np.array(value_add, dtype=float)
        self.platform_listings = listings
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
                share = volume * sector.demand_share / per_segment
                regions += [region] * per_segment
                sectors += [sector_name] * per_segment
                base.append(share * spread)
        n = len(regions)
        self.consumer_region = self._region_index(regions)
        sector_index = {name: i for i, name in enumerate(self.sector_names)}
        self.consumer_sector = np.array([sector_index[x] for x in sectors], dtype=np.int64)
        # observed volume is the served (inside) volume: potential demand is larger by 1/s_in
        inside = 1.0 - s.demand.initial_outside_share
        self.consumer_base_demand = np.concatenate(base) / max(inside, 1e-9)
        sector_values = list(s.sectors.values())
        per_sector = {field: np.array([getattr(x, field) for x in sector_values], dtype=float)
                      for field in ("alpha", "quality_weight", "latency_tolerance_ms",
                                    "latency_utils_per_ms")}
        self.consumer_alpha = per_sector["alpha"][self.consumer_sector]
        self.consumer_quality_weight = per_sector["quality_weight"][self.consumer_sector]
        self.consumer_tolerance_ms = per_sector["latency_tolerance_ms"][self.consumer_sector]
        self.consumer_latency_cost = per_sector["latency_utils_per_ms"][self.consumer_sector]
        self.consumer_flexible = np.array([x.flexible for x in sector_values])[
            self.consumer_sector]
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
            self.graph, self.consumer_region.size, self.producer_region.size,
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
        log.debug("compiled %d routes for %d consumers", r.topology.n_routes,
                  self.consumer_region.size)

    # ------------------------------------------------------------------------------------------
    # step phases
    # ------------------------------------------------------------------------------------------
    def _exogenous_update(self) -> None:
        growth = (1.0 + self.scenario.demand.growth_per_step) ** self.steps
        self.consumer_demand = self.consumer_base_demand * growth

    def _update_costs(self) -> None:
        s = self.scenario
        chip_field = {name: np.array([getattr(s.chips[c], name) for c in self.producer_chip])
                      for name in ("energy_j_per_token", "tokens_per_s_per_gpu", "price_usd",
                                   "power_w")}
        controlled = np.array([s.chips[c].export_controlled for c in self.producer_chip])
        is_cn = np.isin(self.producer_region, self._region_index(CN_REGIONS))
        self.producer_export_penalty = np.where(is_cn & controlled,
                                                s.policy.export_control_penalty, 0.0)
        region_field = {name: np.array([getattr(s.regions[r], name) for r in self.region_names])
                        [self.producer_region] for name in ("pue", "electricity_usd_per_kwh",
                                                            "facility_usd_per_w",
                                                            "carbon_kg_per_kwh")}
        ref = dt.date.fromisoformat(s.technology.reference_date)
        self.efficiency = efficiency_multiplier(self.date, ref,
                                                s.technology.algorithmic_efficiency_per_year,
                                                s.technology.software_efficiency_per_year)
        self.costs = producer_costs(
            chip_energy_j_per_token=chip_field["energy_j_per_token"],
            chip_tokens_per_s=chip_field["tokens_per_s_per_gpu"],
            chip_price_usd=chip_field["price_usd"], chip_power_w=chip_field["power_w"],
            pue=region_field["pue"], electricity_usd_per_kwh=region_field[
                "electricity_usd_per_kwh"],
            facility_usd_per_w=region_field["facility_usd_per_w"],
            export_penalty=self.producer_export_penalty, efficiency=self.efficiency,
            gpu_life_years=s.costs.gpu_life_years, utilisation=s.costs.planned_utilisation,
            fixed_opex_share_per_year=s.costs.fixed_opex_share_per_year)
        self.producer_pue = region_field["pue"]
        self.producer_carbon = region_field["carbon_kg_per_kwh"]
        self.producer_electricity = region_field["electricity_usd_per_kwh"]
        self.producer_marginal_cost = self.costs.marginal_usd_per_mtok
        self.producer_capacity = (self.producer_gpus * self.costs.tokens_per_s_per_gpu
                                  * s.step_seconds * s.costs.max_utilisation / 1e6)

    def _route_market(self) -> RouteMarket:
        r = self.routes
        return RouteMarket(
            r.topology,
            route_utility=self.route_static_utility,
            route_price_extra=self.platform_markup[r.route_platform] + self.route_transfer_usd,
            consumer_alpha=self.consumer_alpha,
            consumer_demand=self.consumer_demand,
            consumer_outside_utility=self.consumer_outside_utility,
            producer_capacity=self.producer_capacity,
            price_form=self.scenario.price_form,
        )

    def _set_prices(self) -> None:
        """Producers price by strategy, scarcity on top; then platforms set markups."""
        s = self.scenario
        previous_market = self.market
        # the market producers price against: this step's demand, last step's platform markups
        self.pricing_market = self._route_market()
        view = PricingView(self.pricing_market, self.producer_base_price, self.producer_marginal_cost,
                           self.producer_full_cost, self.producer_cash, s.pricing)
        base = self.producer_base_price.copy()
        for name in np.unique(self.producer_strategy):
            members = np.flatnonzero(self.producer_strategy == name)
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
        self.market = self._route_market()

    def _set_platform_markups(self) -> None:
        mean_listed = np.array([self.producer_price[listed].mean() if listed.size else 0.0
                                for listed in self.platform_listings])
        self.platform_markup = self.platform_markup_rate * mean_listed

    def _clear_market(self) -> None:
        self.demand_outcome = market_demand(self.market, self.producer_price)
        self.clearing = clear_capacity(self.market, self.demand_outcome)

    def _settle(self) -> None:
        """Revenue, costs, profit, cash, energy and emissions of this step."""
        s = self.scenario
        clearing, outcome = self.clearing, self.demand_outcome
        served = clearing.producer_served
        c = self.costs
        self.producer_served = served
        self.producer_demand = outcome.producer_demand
        with np.errstate(divide="ignore", invalid="ignore"):
            self.producer_utilisation = np.where(self.producer_capacity > 0,
                                                 served / self.producer_capacity, 0.0)
        raw_utilisation = self.producer_utilisation * s.costs.max_utilisation
        self.producer_full_cost = c.full_usd_per_mtok(raw_utilisation)
        self.producer_energy_mwh = (served * c.energy_j_per_token * self.producer_pue
                                    * MWH_PER_MTOK_PER_J)
        self.producer_emissions_t = self.producer_energy_mwh * self.producer_carbon
        step_years = s.step_seconds / SECONDS_PER_YEAR
        fleet_capex = self.producer_gpus * c.capex_usd_per_gpu
        fixed_cost = fleet_capex * step_years * (1.0 / s.costs.gpu_life_years
                                                 + s.costs.fixed_opex_share_per_year)
        self.producer_revenue = self.producer_price * served
        self.producer_profit = (self.producer_revenue - served * c.energy_usd_per_mtok
                                - fixed_cost)
        self.producer_cash = self.producer_cash + self.producer_profit
        r = self.routes
        self.platform_served = np.bincount(r.route_platform, clearing.route_served,
                                           minlength=self.platform_region.size)
        self.platform_revenue = self.platform_markup * self.platform_served
        self.consumer_served = clearing.consumer_served
        self.consumer_unserved = clearing.consumer_unserved
        self.consumer_outside = outcome.consumer_outside
        self.consumer_surplus = outcome.consumer_surplus
        self.metrics = metrics.compute(self)

    # ------------------------------------------------------------------------------------------
    # initial state
    # ------------------------------------------------------------------------------------------
    def _calibrate_outside_option(self, price: np.ndarray) -> None:
        """Set v0 so that each consumer's outside share at ``price`` is the calibrated one."""
        s_out = self.scenario.demand.initial_outside_share
        market = self._route_market()
        topo = market.topology
        phi = np.log(price[topo.route_producer] + market.route_price_extra) \
            if market.price_form == "log" else price[topo.route_producer] + \
            market.route_price_extra
        value = market.route_utility - market.route_alpha * phi
        top = topo.segment_max(value)
        has_route = np.isfinite(top)
        inside = np.where(has_route, top, 0.0)
        total = topo.segment_sum(np.exp(value - inside[topo.route_consumer]))
        with np.errstate(divide="ignore"):
            inside_logsum = inside + np.log(np.where(has_route, total, 1.0))
        ratio = s_out / max(1.0 - s_out, 1e-12)
        self.consumer_outside_utility = np.where(
            has_route, inside_logsum + np.log(max(ratio, 1e-300)), 0.0)

    def _initialise_market(self) -> None:
        """Start at a calibrated static equilibrium (docs/ODD.md, "Initialisation").

        1. costs at the start date; 2. outside option calibrated at cost-plus prices, Nash prices,
        calibrated again at the Nash prices and Nash again; 3. fleets sized so each producer serves
        its Nash demand at the planned utilisation; 4. cash = cash_weeks x initial revenue.
        """
        s = self.scenario
        self.producer_capacity = np.full(self.producer_region.size, np.inf)
        self.platform_markup = np.zeros(self.platform_region.size)
        self._update_costs()
        self.producer_capacity = np.full(self.producer_region.size, np.inf)
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
        per_gpu = (self.costs.tokens_per_s_per_gpu * s.step_seconds
                   * s.costs.planned_utilisation / 1e6)
        self.producer_gpus = np.maximum(np.ceil(demand / per_gpu), 8.0)
        self._update_costs()
        self.market = self._route_market()
        self._clear_market()
        self._settle()
        weeks = s.step_days / 7.0
        group_weeks = np.array([s.producers[p.group].cash_weeks for p in self.producers])
        self.producer_cash = self.producer_revenue * group_weeks / weeks
        self.metrics = metrics.compute(self)
