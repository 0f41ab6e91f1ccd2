"""The sections of a scenario as frozen dataclasses (units in the field names)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from pricewar.limits import MAX_CONSUMERS, MAX_PLATFORMS, MAX_PRODUCERS
from pricewar.scenario.parameters import declared
from pricewar.scenario.typed import bounds, fail

ACCESS = ("allowed", "friction", "barred")

# The bounds of the flat parameters (electricity prices, frictions, ...) are declared in
# pricewar.scenario.parameters. Exogenous growth rates: up to +1000% per year.
MAX_GROWTH_PER_YEAR = 10.0
#: a request reads at most this many input tokens per output token (long-context retrieval ~1e3)
MAX_INPUT_TOKENS_PER_OUTPUT_TOKEN = 1.0e4


@dataclass(frozen=True)
class Region:
    """Electricity, cooling, facility cost and carbon intensity of one region.

    ``hosts_producers`` is False for a consumer-only region; ``bloc`` is the bloc the region's
    producers buy chips in (chip availability by bloc; the export-control levers apply to the
    controlled bloc) and the bloc the bloc-share reporters, frictions and tariffs count it in.
    """

    hosts_producers: bool
    bloc: Literal["cn", "western", "contested"]
    electricity_usd_per_kwh: float = field(metadata=declared("electricity_us"))
    # a direct green supply contract: a power price, bounded as the grid's
    green_supply_usd_per_kwh: float = field(metadata=declared("electricity_us"))
    green_supply_cap_mwh_per_step: float = field(
        metadata=declared("green_supply_cap_cn_west"))
    pue: float = field(metadata=bounds(1.0, 5.0))
    facility_usd_per_w: float = field(metadata=bounds())
    carbon_kg_per_kwh: float = field(metadata=bounds())
    ai_power_cap_mw: float = field(metadata=bounds())
    ai_power_growth_per_year: float = field(metadata=bounds(0.0, MAX_GROWTH_PER_YEAR))


@dataclass(frozen=True)
class Sector:
    """A demand segment: share of a region's demand, latency tolerance, tastes.

    ``alpha``: price sensitivity between model families (log price); ``eta``: elasticity of the
    sector's volume to its price index (docs/ODD.md §6.2). ``input_tokens_per_output_token``: the
    typical request's input:output token ratio ``r_j`` on a non-reasoning family (the v3 market's
    blended token, docs/v3-interfaces.md §1).
    """

    demand_share: float = field(metadata=bounds(0.0, 1.0))
    latency_tolerance_ms: float = field(metadata=bounds(strict=True))
    latency_utils_per_ms: float = field(metadata=bounds())
    quality_weight: float = field(metadata=bounds())
    alpha: float = field(metadata=bounds(strict=True))
    # > 0: at eta = 0 the kernel takes the v1 fixed-volume path, whose outside option v2
    # scenarios do not define (served + unserved + not bought fell 4.7% short of demand)
    eta: float = field(metadata=declared("demand_eta"))
    flexible: bool
    input_tokens_per_output_token: float = field(
        metadata=bounds(0.0, MAX_INPUT_TOKENS_PER_OUTPUT_TOKEN, strict=True))


@dataclass(frozen=True)
class ProducerGroup:
    """Hosts in one region sharing initial chip, strategy and parameters.

    ``owner`` (an owner of ``families.toml``) makes the group that owner's serving arm (count 1):
    it serves every released family of its owner. ``open_families`` is how many released
    open-weight families of other owners each host serves (those with the highest quality per
    serving cost). ``cash_weeks``: initial cash in weeks of fixed costs. ``quality_sd_utils``:
    spread of host quality (speed, reliability). ``serving_efficiency``: share of DeepSeek's
    at-scale decode rate the host reaches. ``wacc_premium``: added to ``policy.wacc``.
    """

    region: str
    count: int = field(metadata=bounds(0, MAX_PRODUCERS))
    chip: str
    strategy: str  # a registered name (checked by pricewar.model.scenario_strategies)
    cash_weeks: float = field(metadata=bounds())
    quality_sd_utils: float = field(metadata=bounds())
    serving_efficiency: float = field(metadata=bounds(0.0, 1.0, strict=True))
    wacc_premium: float = field(metadata=bounds(-0.5, 0.5))
    owner: str = ""
    open_families: int = field(default=0, metadata=bounds(0, 1_000))


@dataclass(frozen=True)
class PlatformGroup:
    """Platform operators (clouds, routers) in one region listing hosts of some regions: every
    owner-host of those regions and ``listings`` random independent hosts."""

    region: str
    count: int = field(metadata=bounds(0, MAX_PLATFORMS))
    markup_rate: float = field(metadata=bounds())
    value_add_utils: float = field(metadata=bounds(None))
    listings: int = field(metadata=bounds(1, MAX_PRODUCERS))
    lists: tuple[str, ...]


@dataclass(frozen=True)
class Demand:
    """Industrial demand: base volume by region, task growth, substitution between hosts."""

    consumers_per_segment: int = field(metadata=bounds(1, MAX_CONSUMERS))
    platforms_per_consumer: int = field(metadata=bounds(1, MAX_PLATFORMS))
    demand_sd: float = field(metadata=bounds(0.0, 10.0))
    growth_per_step: float = field(metadata=declared("demand_growth"))
    nest_sigma: float = field(metadata=declared("nest_sigma"))
    base_mtok_per_step: dict[str, float] = field(metadata=bounds())
    # customer base (docs/ODD.md §6.2)
    customer_base_kappa_utils: float = field(default=0.0,
                                             metadata=declared("customer_base_kappa"))


@dataclass(frozen=True)
class Costs:
    """Serving limits and network cost (capital and serving parameters: ``capital``,
    ``serving``)."""

    max_utilisation: float = field(metadata=bounds(0.0, 1.0, strict=True))
    transfer_usd_per_mtok: float = field(metadata=bounds())


@dataclass(frozen=True)
class Trade:
    """Demand-side trade policy: cross-bloc frictions (utils) and an ad valorem tariff."""

    friction_utils: float = field(metadata=declared("friction_utils"))
    family_friction_utils: float = field(metadata=declared("family_friction_utils"))
    tariff_cross_bloc: float = field(metadata=declared("tariff_cross_bloc"))


@dataclass(frozen=True)
class Pricing:
    """Parameters of the built-in heuristic strategies and of scarcity pricing (strategies
    registered with their own parameter dataclass take them from ``strategy_params``)."""

    best_response_damping: float = field(metadata=bounds(0.0, 1.0, strict=True))
    undercut_fraction: float = field(metadata=bounds(0.0, 1.0))
    cost_plus_markup: float = field(metadata=bounds())
    scarcity_threshold: float = field(metadata=bounds(0.0, 1.0))
    scarcity_max_increase: float = field(metadata=bounds())


@dataclass(frozen=True)
class Dynamics:
    """Investment, exit and entry (docs/ODD.md §6.5 and §6.6)."""

    investment_enabled: bool
    investment_lag_steps: int = field(metadata=bounds())
    invest_pressure_threshold: float = field(metadata=bounds())
    invest_min_margin: float = field(metadata=bounds(None, 1.0))
    invest_speed: float = field(metadata=bounds(0.0, 1.0))
    demand_forecast_smoothing: float = field(metadata=bounds(0.0, 1.0, strict=True))
    exit_enabled: bool
    bankruptcy_cash_usd: float = field(metadata=bounds(None))
    entry_enabled: bool
    entry_interval_steps: int = field(metadata=bounds(1))
    entry_min_margin: float = field(metadata=bounds(None, 1.0))
    entry_gpus: float = field(metadata=bounds(1))
    # market v3: exit and entry on economic value (docs/ODD.md §6.6)
    resale_value_share: float = field(metadata=declared("resale_value_share"))
    entry_cost_usd_per_gpu: float = field(metadata=declared("entry_cost_usd_per_gpu"))


@dataclass(frozen=True)
class Market:
    """Which market runs, and the parameters of the v3 market (docs/ODD.md §6.2d, §6.3b, §6.4b).

    ``version`` 2 is the demand-v2 market (segment habit, scarcity surcharge); 3 the v3 market:
    latent price classes, nests tier > family > host, customer states with a review hazard,
    prices that clear capacity. Every v3 parameter is ``est.`` until the estimation issue
    estimates it (docs/calibration.md C17)."""

    version: int = field(metadata=declared("market_version"))
    bulk_class_share: float = field(metadata=declared("bulk_class_share"))
    bulk_alpha_excess: float = field(metadata=declared("bulk_alpha_excess"))
    quality_alpha_excess: float = field(metadata=declared("quality_alpha_excess"))
    tier_sigma: float = field(metadata=declared("tier_sigma"))
    review_base_per_step: float = field(metadata=declared("review_base_per_step"))
    review_gap_per_step: float = field(metadata=declared("review_gap_per_step"))
    review_cap_per_step: float = field(metadata=declared("review_cap_per_step"))
    price_offset_usd_per_mtok: float = field(metadata=declared("price_offset_usd_per_mtok"))
    quality_volume_max: float = field(metadata=declared("quality_volume_max"))
    quality_volume_scale_utils: float = field(metadata=declared("quality_volume_scale_utils"))


@dataclass(frozen=True)
class RentalMarket:
    """The GPU rental market of market v3 (docs/ODD.md §6.1c): the exogenous (training/other)
    fleet and its demand for GPU-hours, per bloc, and the rent ceiling. All ``est.``
    (docs/calibration.md C19); at market version 2 they feed only the rental reporters."""

    other_gpus_per_host_gpu: float = field(metadata=declared("rental_other_fleet"))
    other_demand_share_cn: float = field(metadata=declared("rental_other_demand_cn"))
    other_demand_share_western: float = field(metadata=declared("rental_other_demand_western"))
    other_demand_elasticity: float = field(metadata=declared("rental_demand_elasticity"))
    payback_years: float = field(metadata=declared("rental_payback_years"))

    def other_demand_share(self, bloc: str) -> float:
        """Exogenous demand at the full-cost rent per exogenous GPU-hour in ``bloc`` (a bloc
        without its own value, "contested", has no hosts and no market: 0)."""
        return {"cn": self.other_demand_share_cn,
                "western": self.other_demand_share_western}.get(bloc, 0.0)


@dataclass(frozen=True)
class Complement:
    """An owner's complement weight: a forward-looking host of the owner values each Mtok it
    sells at ``complement_weight`` x its marginal cost beyond the token margin, because the tokens
    sell something else (cloud, ecosystem; docs/calibration.md C16). Unitless, a fraction of
    marginal cost, >= 0."""

    complement_weight: float = field(metadata=declared("complement_weight"))


@dataclass(frozen=True)
class Complements:
    """``complements.toml``: complement weights by owner (owners not listed: 0)."""

    owners: dict[str, Complement] = field(default_factory=dict)

    def weight(self, owner: str) -> float:
        """The complement weight of ``owner`` (0 if not listed)."""
        entry = self.owners.get(owner)
        return 0.0 if entry is None else entry.complement_weight


@dataclass(frozen=True)
class Event:
    """A scheduled shock: a producer group's price cut, or a demand shock.

    ``price_cut``: at ``step`` the ``producers`` largest (by volume) hosts of ``group`` cut the
    list prices of all their products by ``fraction`` (0.97 = -97%) and hold them
    ``duration_steps`` steps. ``demand_shock``: from ``step`` demand is multiplied by
    ``1 + fraction`` (all consumers, or consumers of region ``group``) for ``duration_steps``
    steps (0 = permanently).
    """

    kind: Literal["price_cut", "demand_shock"]
    step: int = field(metadata=bounds())
    fraction: float = field(metadata=bounds(-1.0, 100.0))
    duration_steps: int = field(metadata=bounds())
    group: str = ""
    producers: int = field(default=1, metadata=bounds(1))


def strategy_tables(value: object, path: str, origin: str, sources: dict) -> dict[str, Any]:
    """The ``strategy_params`` table: strategy name -> its parameter table, kept as written. The
    scenario layer does not know the registered strategies: the strategies layer builds each
    table into the dataclass its strategy registered
    (:func:`pricewar.model.scenario_strategies.resolve_strategies`)."""
    if not isinstance(value, dict):
        fail(origin, path, value, "expected a table of strategy name -> parameters")
    for name, table in value.items():
        if not (isinstance(table, dict) or dataclasses.is_dataclass(table)):
            fail(origin, f"{path}.{name}", table, "expected a table of parameters")
    return dict(value)
