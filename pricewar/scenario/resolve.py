"""The resolved :class:`Scenario`: built from a merged dict, checked for consistency."""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import tomli_w

from pricewar.errors import ScenarioError
from pricewar.limits import (
    MAX_CONSUMERS,
    MAX_DEMAND_FACTOR,
    MAX_PLATFORMS,
    MAX_PRODUCERS,
    MAX_ROUTES,
    MAX_STEPS,
)
from pricewar.scenario.catalogue import (
    CHEAP_END_MARKET_VERSION,
    Accelerator,
    CapitalParameters,
    Catalogue,
    Family,
    Owner,
    PolicyLevers,
    QualityMapping,
    RentalTable,
    ServingParameters,
    Tier,
    cheap_end_tables,
    check_catalogue,
    market_families,
    scenario_market_version,
    without_families,
)
from pricewar.scenario.overrides import OVERRIDES, flatten, plain
from pricewar.scenario.parameters import MARKET_V3, check_value, declared
from pricewar.scenario.schema import (
    Complements,
    Costs,
    Demand,
    Dynamics,
    Event,
    Market,
    PlatformGroup,
    Pricing,
    ProducerGroup,
    Region,
    RentalMarket,
    Sector,
    Trade,
    strategy_tables,
)
from pricewar.scenario.typed import bounds, build_dataclass, built_by, fail
from pricewar.units import DAYS_PER_YEAR, SECONDS_PER_DAY


@dataclass(frozen=True)
class Scenario:
    """A fully resolved, validated scenario. Build with :func:`load_scenario`.

    The market sections (regions, sectors, network, producers, platforms, demand, ...) and the
    supply catalogue (tiers, owners, families, chips, rental index, serving, capital and policy
    levers; :attr:`catalogue`) in one object, so a scenario file or a flat override can change any
    of them and ``to_toml`` records them all. ``strategy_params`` maps a strategy name to its
    parameter table; :func:`pricewar.model.scenario_strategies.resolve_strategies` (which the model calls)
    checks the strategy names against the registry, builds each table into the strategy's
    parameter dataclass and fills in the defaults of every such strategy in use, so the model's
    resolved scenario records all parameters of a run.
    ``sector_access`` overrides the access tier of ``access`` for one sector
    (sector -> consumer region -> producer region -> tier).
    """

    name: str
    description: str
    start_date: str
    step_days: float = field(metadata=bounds(0.0, 366.0, strict=True))
    steps: int = field(metadata=bounds(0, MAX_STEPS))
    regions: dict[str, Region]
    sectors: dict[str, Sector]
    latency_ms: dict[str, dict[str, float]] = field(metadata=declared("hub_latency_ms"))
    access: dict[str, dict[str, Literal["allowed", "friction", "barred"]]]
    tiers: dict[str, Tier]
    owners: dict[str, Owner]
    families: dict[str, Family]
    overlap_weeks: float = field(metadata=bounds())
    quality: QualityMapping
    chips: dict[str, Accelerator]
    rental: RentalTable
    serving: ServingParameters
    capital: CapitalParameters
    policy: PolicyLevers
    producers: dict[str, ProducerGroup]
    platforms: dict[str, PlatformGroup]
    demand: Demand
    costs: Costs
    trade: Trade
    pricing: Pricing
    dynamics: Dynamics
    market: Market
    rental_market: RentalMarket
    complements: Complements = field(default_factory=Complements)
    events: tuple[Event, ...] = ()
    sector_access: dict[str, dict[str, dict[str, Literal["allowed", "friction", "barred"]]]] = (
        field(default_factory=dict))
    strategy_params: dict[str, Any] = field(default_factory=dict,
                                            metadata=built_by(strategy_tables))
    sources: dict[str, str] = field(default_factory=dict, compare=False)
    origin: str = field(default="<object>", compare=False)

    @cached_property
    def catalogue(self) -> Catalogue:
        """The supply sections as the :class:`~pricewar.scenario.catalogue.Catalogue` the market
        library reads (policy levers included)."""
        return Catalogue.from_parts(
            tiers=self.tiers, owners=self.owners, families=self.families, chips=self.chips,
            rental=self.rental, overlap_weeks=self.overlap_weeks, quality=self.quality,
            serving=self.serving, capital=self.capital, policy=self.policy,
            sources={k: v for k, v in self.sources.items()
                     if k.split(".")[0] in _CATALOGUE_SECTIONS})

    @property
    def step_seconds(self) -> float:
        """Length of one model step (s)."""
        return self.step_days * SECONDS_PER_DAY

    @property
    def producer_regions(self) -> tuple[str, ...]:
        """Regions that host producers, in scenario order (the others hold consumers only)."""
        return tuple(name for name, region in self.regions.items() if region.hosts_producers)

    def bloc_regions(self, bloc: str) -> tuple[str, ...]:
        """Regions of supplier bloc ``bloc`` (``"cn"``, ``"western"``, ``"contested"``), in
        scenario order."""
        return tuple(name for name, region in self.regions.items() if region.bloc == bloc)

    def to_dict(self) -> dict:
        """Plain nested dict (TOML-serialisable); numbers carry their sources back inline."""
        data = _without_none(dataclasses.asdict(self))
        data.pop("origin")
        sources = data.pop("sources")
        for path, source in sources.items():
            _attach_source(data, path.split("."), source)
        data["sources"] = {k: v for k, v in sources.items() if not _is_leaf_path(data, k)}
        return data

    def to_toml(self) -> str:
        """The fully resolved scenario as TOML, loadable by :func:`load_scenario`."""
        return tomli_w.dumps(self.to_dict())

    def with_events(self, *events: Event | Mapping) -> Scenario:
        """A new validated scenario with these events added (``Event`` objects or dicts with
        ``kind, step, fraction, duration_steps[, group, producers]``)."""
        data = plain(dataclasses.asdict(self))
        data.pop("origin")
        data["sources"] = dict(self.sources)
        data["events"] = list(data["events"]) + [
            dataclasses.asdict(e) if isinstance(e, Event) else dict(e) for e in events]
        return scenario_from_dict(data, origin=f"{self.origin} + events")

    def with_overrides(self, **overrides) -> Scenario:
        """A new validated scenario with flat overrides applied (see :data:`OVERRIDES`)."""
        return apply_overrides(self, overrides)


_CATALOGUE_SECTIONS = ("tiers", "owners", "families", "overlap_weeks", "quality", "chips",
                       "series", "scaled", "rental", "serving", "capital", "policy")


def _without_none(node):
    """``node`` without ``None`` leaves (TOML has no null: an absent optional key is None)."""
    if isinstance(node, dict):
        return {k: _without_none(v) for k, v in node.items() if v is not None}
    if isinstance(node, list | tuple):
        return [_without_none(v) for v in node]
    return node


def _attach_source(data: dict, keys: list[str], source: str) -> None:
    node = data
    for key in keys[:-1]:
        if not isinstance(node, dict) or key not in node:
            return
        node = node[key]
    leaf = keys[-1]
    if isinstance(node, dict) and leaf in node and isinstance(node[leaf], int | float) \
            and not isinstance(node[leaf], bool):
        node[leaf] = {"value": node[leaf], "source": source}


def _is_leaf_path(data: dict, path: str) -> bool:
    node: Any = data
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return isinstance(node, dict) and set(node) == {"value", "source"}


def _check_matrix_keys(origin: str, name: str, matrix: Mapping, rows, columns,
                       unknown_column: str) -> None:
    """Every row and column present, none unknown, in a region x region table."""
    for a in rows:
        row = matrix.get(a)
        if row is None:
            fail(origin, f"{name}.{a}", None, f"missing region in {name} matrix")
        for b in columns:
            if b not in row:
                fail(origin, f"{name}.{a}.{b}", None, f"missing region in {name} matrix")
        for b in row:
            if b not in columns:
                fail(origin, f"{name}.{a}.{b}", row[b], unknown_column)
    for a in matrix:
        if a not in rows:
            fail(origin, f"{name}.{a}", matrix[a], "unknown region")


def _check_consistency(s: Scenario) -> None:
    o = s.origin
    try:
        dt.date.fromisoformat(s.start_date)
    except ValueError as error:
        fail(o, "start_date", s.start_date, f"not an ISO date: {error}")
    regions = list(s.regions)  # scenario order: the first problem reported is deterministic
    producer_regions = list(s.producer_regions)
    if not producer_regions:
        fail(o, "regions", regions, "no region hosts producers (hosts_producers = true)")
    _check_matrix_keys(o, "latency_ms", s.latency_ms, regions, regions, "unknown region")
    for a in regions:
        for b in regions:
            there, back = s.latency_ms[a][b], s.latency_ms[b][a]
            if not math.isclose(there, back, rel_tol=1e-9):
                fail(o, f"latency_ms.{a}.{b}", there,
                      f"latency matrix not symmetric: latency_ms.{b}.{a} = {back}")
    _check_matrix_keys(o, "access", s.access, regions, producer_regions,
                       f"unknown producer region (expected one of {producer_regions})")
    for sector, table in s.sector_access.items():
        if sector not in s.sectors:
            fail(o, f"sector_access.{sector}", table,
                 f"unknown sector (expected one of {list(s.sectors)})")
        for consumer, row in table.items():
            if consumer not in regions:
                fail(o, f"sector_access.{sector}.{consumer}", row, "unknown region")
            for producer in row:
                if producer not in producer_regions:
                    fail(o, f"sector_access.{sector}.{consumer}.{producer}", row[producer],
                         f"unknown producer region (expected one of {producer_regions})")
    check_catalogue({"tiers": s.tiers, "owners": s.owners, "families": s.families,
                     "quality": s.quality, "chips": s.chips, "rental": s.rental,
                     "serving": s.serving}, {name: o for name in
                                             ("families", "chips", "rental", "supply")},
                    set(regions))
    _check_producers(s, producer_regions)
    for name, group in s.platforms.items():
        if group.region not in regions:
            fail(o, f"platforms.{name}.region", group.region, "unknown region")
        for i, listed in enumerate(group.lists):
            if listed not in producer_regions:
                fail(o, f"platforms.{name}.lists[{i}]", listed, "unknown producer region")
    if sum(g.count for g in s.platforms.values()) < 1:
        fail(o, "platforms", {k: g.count for k, g in s.platforms.items()},
              "need at least one platform")
    for region in s.demand.base_mtok_per_step:
        if region not in regions:
            fail(o, f"demand.base_mtok_per_step.{region}", s.demand.base_mtok_per_step[region],
                  "unknown region")
    total_share = sum(sec.demand_share for sec in s.sectors.values())
    if not math.isclose(total_share, 1.0, rel_tol=1e-6):
        fail(o, "sectors.*.demand_share", total_share, "sector demand shares must sum to 1")
    for name, sec in s.sectors.items():
        if sec.alpha <= 1.0:
            fail(o, f"sectors.{name}.alpha", sec.alpha,
                 "must be > 1 (with log price a product alone in its nest has elasticity about "
                 "alpha: no best response exists at alpha <= 1)")
    for i, event in enumerate(s.events):
        if event.kind == "price_cut" and event.group not in s.producers:
            fail(o, f"events[{i}].group", event.group,
                  f"unknown producer group (expected one of {sorted(s.producers)})")
        if event.kind == "price_cut" and not 0 < event.fraction < 1:
            fail(o, f"events[{i}].fraction", event.fraction, "a price cut must be in (0, 1)")
        if event.kind == "demand_shock" and event.group and event.group not in regions:
            fail(o, f"events[{i}].group", event.group, "unknown region")
    for owner in s.complements.owners:
        if owner not in s.owners:
            fail(o, f"complements.owners.{owner}", s.complements.owners[owner],
                 f"unknown owner (expected one of {list(s.owners)})")
    if s.market.version == MARKET_V3:
        _check_market_v3(s, o)
    if s.capital.planned_utilisation > s.costs.max_utilisation:
        fail(o, "capital.planned_utilisation", s.capital.planned_utilisation,
              f"must not exceed costs.max_utilisation = {s.costs.max_utilisation}")
    _check_size(s)


def _check_market_v3(s: Scenario, o: str) -> None:
    """The v3 market's conditions across fields (docs/ODD.md §6.2d): nests consistent with
    random utility, a review cap above the base rate, and well-posed demand (eta > 1)."""
    m = s.market
    if m.tier_sigma > s.demand.nest_sigma:
        fail(o, "market.tier_sigma", m.tier_sigma,
             f"must not exceed demand.nest_sigma = {s.demand.nest_sigma} (the v3 nests need 0 <= "
             "tier_sigma <= nest_sigma < 1: families of one tier no closer than hosts of one "
             "family)")
    if m.review_base_per_step > m.review_cap_per_step:
        fail(o, "market.review_base_per_step", m.review_base_per_step,
             f"must not exceed market.review_cap_per_step = {m.review_cap_per_step}")
    for name, sec in s.sectors.items():
        if sec.eta <= 1.0:
            fail(o, f"sectors.{name}.eta", sec.eta,
                 "must be > 1 in the v3 market (well-posed demand: alpha_c >= eta > 1)")
    # a customer kept is worth sum_k (delta (1 - h))^k of its margin: finite only if a host
    # discounts or its customers review, delta (1 - h_0) < 1 with delta = (1 + wacc)^-years
    years = s.step_days / DAYS_PER_YEAR
    for name, group in s.producers.items():
        wacc = s.policy.wacc + group.wacc_premium
        # in logs: -years log(1 + wacc) + log(1 - h_0) >= 0
        if math.log1p(-m.review_base_per_step) >= years * math.log1p(wacc):
            fail(o, "market.review_base_per_step", m.review_base_per_step,
                 f"with producers.{name}'s WACC {wacc:g} (policy.wacc + wacc_premium) a "
                 "customer that never reviews and is not discounted is worth without bound: "
                 "the v3 market needs review_base_per_step > 0 or every host's WACC > 0")


def _check_size(s: Scenario) -> None:
    """Totals within :mod:`pricewar.limits`: agents, routes, and demand growth compounded over
    the run (a run too large to finish, or whose volumes would leave the float range, fails
    here rather than after hours or with infinities)."""
    o = s.origin
    producers = sum(g.count for g in s.producers.values())
    if producers > MAX_PRODUCERS:
        fail(o, "producers.*.count", producers, f"at most {MAX_PRODUCERS:,} producers in total")
    platforms = sum(g.count for g in s.platforms.values())
    if platforms > MAX_PLATFORMS:
        fail(o, "platforms.*.count", platforms, f"at most {MAX_PLATFORMS:,} platforms in total")
    consumers = len(s.regions) * len(s.sectors) * s.demand.consumers_per_segment
    if consumers > MAX_CONSUMERS:
        fail(o, "demand.consumers_per_segment", s.demand.consumers_per_segment,
             f"{consumers:,} consumers (regions x sectors x per segment): at most "
             f"{MAX_CONSUMERS:,}")
    listings = max((g.listings for g in s.platforms.values() if g.count), default=0)
    # (a lower estimate in v2: each listed host offers one route per family it serves, ~2-8)
    routes = (consumers * min(s.demand.platforms_per_consumer, platforms)
              * min(listings, producers))
    if routes > MAX_ROUTES:
        fail(o, "demand.consumers_per_segment", s.demand.consumers_per_segment,
             f"up to {routes:,} routes (consumers x platforms_per_consumer x listings): at most "
             f"{MAX_ROUTES:,}; use fewer consumers, platforms per consumer or listings")
    growth = s.demand.growth_per_step
    if s.steps * abs(math.log1p(growth)) > math.log(MAX_DEMAND_FACTOR):
        fail(o, "demand.growth_per_step", growth,
             f"compounded over steps = {s.steps} demand would change by a factor "
             f"{(1 + growth):g}^{s.steps}, beyond {MAX_DEMAND_FACTOR:g}: shorten the run or "
             f"lower the growth")


def _check_producers(s: Scenario, producer_regions: list[str]) -> None:
    """Producer groups: known region, chip and owner; one serving arm per owner; every
    independent group hosts at least one open family."""
    o = s.origin
    owners_seen: dict[str, str] = {}
    for name, group in s.producers.items():
        key = f"producers.{name}"
        if group.region not in producer_regions:
            fail(o, f"{key}.region", group.region,
                 f"unknown producer region (expected one of {producer_regions})")
        if group.chip not in s.chips:
            fail(o, f"{key}.chip", group.chip, f"unknown chip (expected one of {list(s.chips)})")
        if group.owner:
            if group.owner not in s.owners:
                fail(o, f"{key}.owner", group.owner,
                     f"unknown owner (expected one of {list(s.owners)})")
            if group.owner in owners_seen:
                fail(o, f"{key}.owner", group.owner,
                     f"owner already served by producers.{owners_seen[group.owner]}")
            owners_seen[group.owner] = name
            if group.count > 1:
                fail(o, f"{key}.count", group.count, "an owner has one serving arm (count <= 1)")
        elif group.open_families < 1 and group.count > 0:
            fail(o, f"{key}.open_families", group.open_families,
                 "an independent host (owner = \"\") must host at least one open family")
    if sum(g.count for g in s.producers.values()) < 1:
        fail(o, "producers", {k: g.count for k, g in s.producers.items()},
              "need at least one producer")


def scenario_from_dict(data: dict, origin: str = "<dict>") -> Scenario:
    """Validate a fully merged scenario dict and build the :class:`Scenario`."""
    data = dict(data)
    extra_sources = data.pop("sources", {}) or {}
    if not isinstance(extra_sources, dict):
        fail(origin, "sources", extra_sources, "expected a table of key path -> source")
    sources: dict[str, str] = {str(k): str(v) for k, v in extra_sources.items()}
    scenario = build_dataclass(Scenario, data, "", origin, sources)
    # the cheap-end families are live only in the v3 market: a v2 scenario drops them here, so
    # its family list (and every array over families) is the one it had before they existed
    families = market_families(scenario.families, scenario_market_version(scenario))
    dropped = set(scenario.families) - set(families)
    scenario = dataclasses.replace(scenario, families=families,
                                   sources=without_families(sources, dropped), origin=origin)
    _check_consistency(scenario)
    return scenario


#: how a value set by a flat override records its source: ``override KEY=repr(value)``
OVERRIDE_SOURCE = "override {key}={value!r}"


def recorded_overrides(scenario: Scenario) -> dict[str, Any]:
    """The flat overrides a scenario records in its sources (a run's resolved scenario.toml
    keeps them), in the order first recorded; an override whose every value a later one
    replaced is not recorded."""
    out: dict[str, Any] = {}
    for source in scenario.sources.values():
        if not source.startswith("override "):
            continue
        key, _, value = source.removeprefix("override ").partition("=")
        if key not in out:
            out[key] = ast.literal_eval(value)
    return out


def apply_overrides(scenario: Scenario, overrides: Mapping[str, Any]) -> Scenario:
    """Apply flat overrides and validate the result (unknown keys are errors)."""
    if not overrides:
        return scenario
    data = plain(dataclasses.asdict(scenario))
    data.pop("origin")
    data.pop("sources")
    sources = dict(scenario.sources)
    for key, value in overrides.items():
        checked = check_value(key, value, "overrides")  # unknown key, type, bounds
        _, apply, kind = OVERRIDES[key]
        if kind is int:  # a float parameter keeps the number as given (an int stays an int)
            value = checked
        before = flatten(data)
        apply(data, value)
        for path, new in flatten(data).items():
            if before.get(path) != new:
                sources[path] = OVERRIDE_SOURCE.format(key=key, value=value)
    if scenario_market_version(scenario) < CHEAP_END_MARKET_VERSION <= data["market"]["version"]:
        # raised to the v3 market: the cheap-end families the v2 scenario dropped come back,
        # as load_scenario gives them to a scenario file of version 3
        missing = {name: table for name, table in cheap_end_tables().items()
                   if name not in data["families"]}
        data["families"] = {**data["families"], **missing}
    data["sources"] = sources
    origin = f"{scenario.origin} + overrides"
    try:
        return scenario_from_dict(data, origin=origin)
    except ScenarioError as error:  # name the override that set the bad value
        source = sources.get(error.key_path, "")
        if not source.startswith("override "):
            raise
        raise ScenarioError(error.source, error.key_path, error.value,
                            f"{error.problem} (set by {source})") from None
