"""The sections of a scenario as frozen dataclasses (units in the field names)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pricewar.scenario.typed import bounds

PRODUCER_REGIONS = ("cn_west", "cn_east", "us", "eu")


CN_REGIONS = ("cn_west", "cn_east")


WESTERN_REGIONS = ("us", "eu")


STRATEGIES = ("nash", "best_response", "undercut", "cost_plus", "q_learning")


ACCESS = ("allowed", "friction", "barred")


CALIBRATION_FILES = ("regions", "chips", "sectors", "network", "market")


@dataclass(frozen=True)
class Region:
    """Electricity, cooling, facility cost and carbon intensity of one region."""

    hosts_producers: bool
    electricity_usd_per_kwh: float = field(metadata=bounds())
    green_supply_usd_per_kwh: float = field(metadata=bounds())
    green_supply_cap_mwh_per_step: float = field(metadata=bounds())
    pue: float = field(metadata=bounds(1.0))
    facility_usd_per_w: float = field(metadata=bounds())
    carbon_kg_per_kwh: float = field(metadata=bounds())
    ai_power_cap_mw: float = field(metadata=bounds())
    ai_power_growth_per_year: float = field(metadata=bounds())


@dataclass(frozen=True)
class Chip:
    """An accelerator serving the reference token at the technology reference date."""

    price_usd: float = field(metadata=bounds(strict=True))
    power_w: float = field(metadata=bounds(strict=True))
    tokens_per_s_per_gpu: float = field(metadata=bounds(strict=True))
    energy_j_per_token: float = field(metadata=bounds(strict=True))
    release_date: str
    export_controlled: bool
    purchasable: bool
    supply_gpus_per_step: float = field(metadata=bounds())
    supply_growth_per_year: float = field(metadata=bounds())


@dataclass(frozen=True)
class Sector:
    """A demand segment: share of a region's demand, latency tolerance, tastes."""

    demand_share: float = field(metadata=bounds(0.0, 1.0))
    latency_tolerance_ms: float = field(metadata=bounds(strict=True))
    latency_utils_per_ms: float = field(metadata=bounds())
    quality_weight: float = field(metadata=bounds())
    alpha: float = field(metadata=bounds(strict=True))
    flexible: bool


@dataclass(frozen=True)
class ProducerGroup:
    """A group of token producers in one region sharing chip, quality level and strategy."""

    region: str
    count: int = field(metadata=bounds())
    chip: str
    quality_utils: float = field(metadata=bounds(None))
    quality_sd_utils: float = field(metadata=bounds())
    cash_weeks: float = field(metadata=bounds())
    strategy: Literal["nash", "best_response", "undercut", "cost_plus", "q_learning"]


@dataclass(frozen=True)
class PlatformGroup:
    """Platform operators (clouds, routers) in one region listing producers of some regions."""

    region: str
    count: int = field(metadata=bounds())
    markup_rate: float = field(metadata=bounds())
    value_add_utils: float = field(metadata=bounds(None))
    listings: int = field(metadata=bounds(1))
    lists: tuple[str, ...]


@dataclass(frozen=True)
class Demand:
    """Industrial demand: base volume by region, growth, calibration of the outside option."""

    consumers_per_segment: int = field(metadata=bounds(1))
    platforms_per_consumer: int = field(metadata=bounds(1))
    demand_sd: float = field(metadata=bounds())
    growth_per_step: float = field(metadata=bounds(-0.5))
    initial_outside_share: float = field(metadata=bounds(0.0, 1.0))
    base_mtok_per_step: dict[str, float] = field(metadata=bounds())


@dataclass(frozen=True)
class Costs:
    """Cost accounting parameters (DESIGN §4)."""

    gpu_life_years: float = field(metadata=bounds(strict=True))
    planned_utilisation: float = field(metadata=bounds(0.0, 1.0, strict=True))
    max_utilisation: float = field(metadata=bounds(0.0, 1.0, strict=True))
    fixed_opex_share_per_year: float = field(metadata=bounds())
    transfer_usd_per_mtok: float = field(metadata=bounds())


@dataclass(frozen=True)
class Technology:
    """Efficiency trends of serving a fixed-capability token."""

    reference_date: str
    algorithmic_efficiency_per_year: float = field(metadata=bounds(strict=True))
    software_efficiency_per_year: float = field(metadata=bounds(strict=True))


@dataclass(frozen=True)
class Policy:
    """Export controls and cross-bloc access frictions."""

    export_control_penalty: float = field(metadata=bounds())
    friction_utils: float = field(metadata=bounds())
    western_cn_share_cap: float = field(metadata=bounds(0.0, 1.0))
    export_control_hardware_share: float = field(metadata=bounds(0.0, 1.0))
    export_control_lag_years: float = field(metadata=bounds())
    cn_chip_supply_gpus_per_step: float = field(metadata=bounds())
    cn_chip_supply_growth_per_year: float = field(metadata=bounds())


@dataclass(frozen=True)
class Pricing:
    """Strategy parameters."""

    best_response_damping: float = field(metadata=bounds(0.0, 1.0, strict=True))
    undercut_fraction: float = field(metadata=bounds(0.0, 1.0))
    cost_plus_markup: float = field(metadata=bounds())
    scarcity_threshold: float = field(metadata=bounds(0.0, 1.0))
    scarcity_max_increase: float = field(metadata=bounds())


@dataclass(frozen=True)
class Dynamics:
    """Investment, exit and entry (DESIGN §8 steps 6-7)."""

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


@dataclass(frozen=True)
class Event:
    """A scheduled shock: a producer group's price cut, or a demand shock.

    ``price_cut``: at ``step`` the ``producers`` largest (by volume) producers of ``group`` cut
    their list price by ``fraction`` (0.97 = -97%) and hold it ``duration_steps`` steps.
    ``demand_shock``: from ``step`` demand is multiplied by ``1 + fraction`` (all consumers, or
    consumers of region ``group``) for ``duration_steps`` steps (0 = permanently).
    """

    kind: Literal["price_cut", "demand_shock"]
    step: int = field(metadata=bounds())
    fraction: float = field(metadata=bounds(-1.0))
    duration_steps: int = field(metadata=bounds())
    group: str = ""
    producers: int = field(default=1, metadata=bounds(1))
