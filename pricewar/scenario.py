"""Scenarios: calibration data + scenario file -> frozen, validated dataclasses.

A scenario is the package's calibration data (``pricewar/data/{regions,chips,sectors,network,
market}.toml``) deep-merged with a scenario file (``pricewar/data/scenarios/NAME.toml`` or any
path). Numbers may be written plain or as ``{value = ..., source = "..."}``; sources are kept in
:attr:`Scenario.sources` by key path. Validation happens once, here: unknown keys, wrong types,
negative or NaN numbers, an asymmetric or incomplete latency matrix, a producer in an unknown
region, ... each raise :class:`~pricewar.errors.ScenarioError` naming the file, the key path and
the bad value. Nothing runs on an invalid scenario.

Flat overrides (``electricity_cn_west=0.03``, ...; see :data:`OVERRIDES`) make scenarios sweepable
with ``mesa.batch_run`` and ``pricewar run --set``.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import math
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import tomli_w

from pricewar.errors import ScenarioError

PRODUCER_REGIONS = ("cn_west", "cn_east", "us", "eu")
CN_REGIONS = ("cn_west", "cn_east")
WESTERN_REGIONS = ("us", "eu")
STRATEGIES = ("nash", "best_response", "undercut", "cost_plus", "q_learning")
ACCESS = ("allowed", "friction", "barred")
CALIBRATION_FILES = ("regions", "chips", "sectors", "network", "market")

# ------------------------------------------------------------------------------------------------
# dataclasses (field metadata "min": lower bound, "max": upper bound; default lower bound is 0)
# ------------------------------------------------------------------------------------------------


def _num(minimum: float | None = 0.0, maximum: float | None = None, strict: bool = False):
    return {"min": minimum, "max": maximum, "strict": strict}


@dataclass(frozen=True)
class Region:
    """Electricity, cooling, facility cost and carbon intensity of one region."""

    hosts_producers: bool
    electricity_usd_per_kwh: float = field(metadata=_num())
    green_supply_usd_per_kwh: float = field(metadata=_num())
    green_supply_cap_mwh_per_step: float = field(metadata=_num())
    pue: float = field(metadata=_num(1.0))
    facility_usd_per_w: float = field(metadata=_num())
    carbon_kg_per_kwh: float = field(metadata=_num())
    ai_power_cap_mw: float = field(metadata=_num())
    ai_power_growth_per_year: float = field(metadata=_num())


@dataclass(frozen=True)
class Chip:
    """An accelerator serving the reference token at the technology reference date."""

    price_usd: float = field(metadata=_num(strict=True))
    power_w: float = field(metadata=_num(strict=True))
    tokens_per_s_per_gpu: float = field(metadata=_num(strict=True))
    energy_j_per_token: float = field(metadata=_num(strict=True))
    release_date: str
    export_controlled: bool
    purchasable: bool
    supply_gpus_per_step: float = field(metadata=_num())
    supply_growth_per_year: float = field(metadata=_num())


@dataclass(frozen=True)
class Sector:
    """A demand segment: share of a region's demand, latency tolerance, tastes."""

    demand_share: float = field(metadata=_num(0.0, 1.0))
    latency_tolerance_ms: float = field(metadata=_num(strict=True))
    latency_utils_per_ms: float = field(metadata=_num())
    quality_weight: float = field(metadata=_num())
    alpha: float = field(metadata=_num(strict=True))
    flexible: bool


@dataclass(frozen=True)
class ProducerGroup:
    """A group of token producers in one region sharing chip, quality level and strategy."""

    region: str
    count: int = field(metadata=_num())
    chip: str
    quality_utils: float = field(metadata=_num(None))
    quality_sd_utils: float = field(metadata=_num())
    cash_weeks: float = field(metadata=_num())
    strategy: Literal["nash", "best_response", "undercut", "cost_plus", "q_learning"]


@dataclass(frozen=True)
class PlatformGroup:
    """Platform operators (clouds, routers) in one region listing producers of some regions."""

    region: str
    count: int = field(metadata=_num())
    markup_rate: float = field(metadata=_num())
    value_add_utils: float = field(metadata=_num(None))
    listings: int = field(metadata=_num(1))
    lists: tuple[str, ...]


@dataclass(frozen=True)
class Demand:
    """Industrial demand: base volume by region, growth, calibration of the outside option."""

    consumers_per_segment: int = field(metadata=_num(1))
    platforms_per_consumer: int = field(metadata=_num(1))
    demand_sd: float = field(metadata=_num())
    growth_per_step: float = field(metadata=_num(-0.5))
    initial_outside_share: float = field(metadata=_num(0.0, 1.0))
    base_mtok_per_step: dict[str, float] = field(metadata=_num())


@dataclass(frozen=True)
class Costs:
    """Cost accounting parameters (DESIGN §4)."""

    gpu_life_years: float = field(metadata=_num(strict=True))
    planned_utilisation: float = field(metadata=_num(0.0, 1.0, strict=True))
    max_utilisation: float = field(metadata=_num(0.0, 1.0, strict=True))
    fixed_opex_share_per_year: float = field(metadata=_num())
    transfer_usd_per_mtok: float = field(metadata=_num())


@dataclass(frozen=True)
class Technology:
    """Efficiency trends of serving a fixed-capability token."""

    reference_date: str
    algorithmic_efficiency_per_year: float = field(metadata=_num(strict=True))
    software_efficiency_per_year: float = field(metadata=_num(strict=True))


@dataclass(frozen=True)
class Policy:
    """Export controls and cross-bloc access frictions."""

    export_control_penalty: float = field(metadata=_num())
    friction_utils: float = field(metadata=_num())
    western_cn_share_cap: float = field(metadata=_num(0.0, 1.0))
    export_control_hardware_share: float = field(metadata=_num(0.0, 1.0))
    export_control_lag_years: float = field(metadata=_num())
    cn_chip_supply_gpus_per_step: float = field(metadata=_num())
    cn_chip_supply_growth_per_year: float = field(metadata=_num())


@dataclass(frozen=True)
class Pricing:
    """Strategy parameters."""

    best_response_damping: float = field(metadata=_num(0.0, 1.0, strict=True))
    undercut_fraction: float = field(metadata=_num(0.0, 1.0))
    cost_plus_markup: float = field(metadata=_num())
    scarcity_threshold: float = field(metadata=_num(0.0, 1.0))
    scarcity_max_increase: float = field(metadata=_num())


@dataclass(frozen=True)
class Dynamics:
    """Investment, exit and entry (DESIGN §8 steps 6-7)."""

    investment_enabled: bool
    investment_lag_steps: int = field(metadata=_num())
    invest_pressure_threshold: float = field(metadata=_num())
    invest_min_margin: float = field(metadata=_num(None, 1.0))
    invest_speed: float = field(metadata=_num(0.0, 1.0))
    demand_forecast_smoothing: float = field(metadata=_num(0.0, 1.0, strict=True))
    exit_enabled: bool
    bankruptcy_cash_usd: float = field(metadata=_num(None))
    entry_enabled: bool
    entry_interval_steps: int = field(metadata=_num(1))
    entry_min_margin: float = field(metadata=_num(None, 1.0))
    entry_gpus: float = field(metadata=_num(1))


@dataclass(frozen=True)
class Event:
    """A scheduled shock: a producer group's price cut, or a demand shock.

    ``price_cut``: at ``step`` the ``producers`` largest (by volume) producers of ``group`` cut
    their list price by ``fraction`` (0.97 = -97%) and hold it ``duration_steps`` steps.
    ``demand_shock``: from ``step`` demand is multiplied by ``1 + fraction`` (all consumers, or
    consumers of region ``group``) for ``duration_steps`` steps (0 = permanently).
    """

    kind: Literal["price_cut", "demand_shock"]
    step: int = field(metadata=_num())
    fraction: float = field(metadata=_num(-1.0))
    duration_steps: int = field(metadata=_num())
    group: str = ""
    producers: int = field(default=1, metadata=_num(1))


@dataclass(frozen=True)
class Scenario:
    """A fully resolved, validated scenario. Build with :func:`load_scenario`."""

    name: str
    description: str
    start_date: str
    step_days: float = field(metadata=_num(strict=True))
    steps: int = field(metadata=_num())
    price_form: Literal["log", "linear"]
    regions: dict[str, Region]
    chips: dict[str, Chip]
    sectors: dict[str, Sector]
    latency_ms: dict[str, dict[str, float]] = field(metadata=_num())
    access: dict[str, dict[str, Literal["allowed", "friction", "barred"]]]
    producers: dict[str, ProducerGroup]
    platforms: dict[str, PlatformGroup]
    demand: Demand
    costs: Costs
    technology: Technology
    policy: Policy
    pricing: Pricing
    dynamics: Dynamics
    events: tuple[Event, ...] = ()
    sources: dict[str, str] = field(default_factory=dict, compare=False)
    origin: str = field(default="<object>", compare=False)

    @property
    def step_seconds(self) -> float:
        """Length of one model step (s)."""
        return self.step_days * 86_400.0

    def to_dict(self) -> dict:
        """Plain nested dict (TOML-serialisable); numbers carry their sources back inline."""
        data = dataclasses.asdict(self)
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
        data = _plain(dataclasses.asdict(self))
        data.pop("origin")
        data["sources"] = dict(self.sources)
        data["events"] = list(data["events"]) + [
            dataclasses.asdict(e) if isinstance(e, Event) else dict(e) for e in events]
        return scenario_from_dict(data, origin=f"{self.origin} + events")

    def with_overrides(self, **overrides) -> Scenario:
        """A new validated scenario with flat overrides applied (see :data:`OVERRIDES`)."""
        return apply_overrides(self, overrides)


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


# ------------------------------------------------------------------------------------------------
# generic validated construction
# ------------------------------------------------------------------------------------------------
def _fail(origin: str, path: str, value: object, problem: str) -> typing.NoReturn:
    raise ScenarioError(origin, path or "<root>", value, problem)


def _check_number(value: object, path: str, origin: str, meta: Mapping, integer: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        _fail(origin, path, value, f"expected {'an integer' if integer else 'a number'}")
    if integer and not isinstance(value, int):
        if not float(value).is_integer():
            _fail(origin, path, value, "expected an integer")
        value = int(value)
    if isinstance(value, float) and math.isnan(value):
        _fail(origin, path, value, "NaN is not allowed")
    if isinstance(value, float) and math.isinf(value):
        _fail(origin, path, value, "infinite values are not allowed")
    low, high = meta.get("min", 0.0), meta.get("max")
    strict = meta.get("strict", False)
    if low is not None and (value < low or (strict and value <= low)):
        _fail(origin, path, value, f"must be {'>' if strict else '>='} {low:g}")
    if high is not None and value > high:
        _fail(origin, path, value, f"must be <= {high:g}")
    return value


def _build(tp: Any, value: object, path: str, origin: str, meta: Mapping, sources: dict) -> Any:
    if isinstance(value, dict) and set(value) == {"value", "source"} and not (
            dataclasses.is_dataclass(tp)):
        if not isinstance(value["source"], str):
            _fail(origin, path + ".source", value["source"], "source must be a string")
        sources[path] = value["source"]
        value = value["value"]
    origin_tp = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            _fail(origin, path, value, f"expected a table for {tp.__name__}")
        return _build_dataclass(tp, value, path, origin, sources)
    if tp is float or tp is int:
        return _check_number(value, path, origin, meta, integer=tp is int)
    if tp is bool:
        if not isinstance(value, bool):
            _fail(origin, path, value, "expected true or false")
        return value
    if tp is str:
        if not isinstance(value, str):
            _fail(origin, path, value, "expected a string")
        return value
    if origin_tp is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            _fail(origin, path, value, f"must be one of {list(allowed)}")
        return value
    if origin_tp is tuple:
        (item_tp, _) = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            _fail(origin, path, value, "expected a list")
        return tuple(_build(item_tp, v, f"{path}[{i}]", origin, meta, sources)
                     for i, v in enumerate(value))
    if origin_tp is dict:
        _, item_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            _fail(origin, path, value, "expected a table")
        return {k: _build(item_tp, v, f"{path}.{k}", origin, meta, sources)
                for k, v in value.items()}
    raise TypeError(f"unsupported field type {tp!r}")  # a programming error, not user input


def _build_dataclass(cls, data: dict, path: str, origin: str, sources: dict):
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.name not in ("sources", "origin")}
    unknown = sorted(set(data) - names)
    if unknown:
        key = f"{path}.{unknown[0]}" if path else unknown[0]
        _fail(origin, key, data[unknown[0]], f"unknown key (expected one of {sorted(names)})")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in ("sources", "origin"):
            continue
        key = f"{path}.{f.name}" if path else f.name
        if f.name not in data:
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
                continue
            _fail(origin, key, None, "missing required key")
        kwargs[f.name] = _build(hints[f.name], data[f.name], key, origin, f.metadata, sources)
    return cls(**kwargs)


def _check_matrix_keys(origin: str, name: str, matrix: Mapping, rows, columns,
                       unknown_column: str) -> None:
    """Every row and column present, none unknown, in a region x region table."""
    for a in rows:
        row = matrix.get(a)
        if row is None:
            _fail(origin, f"{name}.{a}", None, f"missing region in {name} matrix")
        for b in columns:
            if b not in row:
                _fail(origin, f"{name}.{a}.{b}", None, f"missing region in {name} matrix")
        for b in row:
            if b not in columns:
                _fail(origin, f"{name}.{a}.{b}", row[b], unknown_column)
    for a in matrix:
        if a not in rows:
            _fail(origin, f"{name}.{a}", matrix[a], "unknown region")


def _check_consistency(s: Scenario) -> None:
    o = s.origin
    try:
        dt.date.fromisoformat(s.start_date)
        dt.date.fromisoformat(s.technology.reference_date)
    except ValueError as error:
        _fail(o, "start_date", s.start_date, f"not an ISO date: {error}")
    for name, chip in s.chips.items():
        try:
            dt.date.fromisoformat(chip.release_date)
        except ValueError:
            _fail(o, f"chips.{name}.release_date", chip.release_date, "not an ISO date")
    regions = list(s.regions)  # scenario order: the first problem reported is deterministic
    for region in PRODUCER_REGIONS:
        if region not in regions:
            _fail(o, f"regions.{region}", None, "missing producer region")
    _check_matrix_keys(o, "latency_ms", s.latency_ms, regions, regions, "unknown region")
    for a in regions:
        for b in regions:
            there, back = s.latency_ms[a][b], s.latency_ms[b][a]
            if not math.isclose(there, back, rel_tol=1e-9):
                _fail(o, f"latency_ms.{a}.{b}", there,
                      f"latency matrix not symmetric: latency_ms.{b}.{a} = {back}")
    _check_matrix_keys(o, "access", s.access, regions, PRODUCER_REGIONS,
                       f"unknown producer region (expected one of {list(PRODUCER_REGIONS)})")
    for name, group in s.producers.items():
        if group.region not in regions or not s.regions[group.region].hosts_producers:
            _fail(o, f"producers.{name}.region", group.region,
                  f"unknown producer region (expected one of {list(PRODUCER_REGIONS)})")
        if group.chip not in s.chips:
            _fail(o, f"producers.{name}.chip", group.chip,
                  f"unknown chip (expected one of {sorted(s.chips)})")
    if sum(g.count for g in s.producers.values()) < 1:
        _fail(o, "producers", {k: g.count for k, g in s.producers.items()},
              "need at least one producer")
    for name, group in s.platforms.items():
        if group.region not in regions:
            _fail(o, f"platforms.{name}.region", group.region, "unknown region")
        for i, listed in enumerate(group.lists):
            if listed not in PRODUCER_REGIONS:
                _fail(o, f"platforms.{name}.lists[{i}]", listed, "unknown producer region")
    if sum(g.count for g in s.platforms.values()) < 1:
        _fail(o, "platforms", {k: g.count for k, g in s.platforms.items()},
              "need at least one platform")
    for region in s.demand.base_mtok_per_step:
        if region not in regions:
            _fail(o, f"demand.base_mtok_per_step.{region}", s.demand.base_mtok_per_step[region],
                  "unknown region")
    total_share = sum(sec.demand_share for sec in s.sectors.values())
    if not math.isclose(total_share, 1.0, rel_tol=1e-6):
        _fail(o, "sectors.*.demand_share", total_share, "sector demand shares must sum to 1")
    if s.price_form == "log":
        for name, sec in s.sectors.items():
            if sec.alpha <= 1.0:
                _fail(o, f"sectors.{name}.alpha", sec.alpha,
                      "must be > 1 with price_form 'log' (otherwise no best response exists)")
    for i, event in enumerate(s.events):
        if event.kind == "price_cut" and event.group not in s.producers:
            _fail(o, f"events[{i}].group", event.group,
                  f"unknown producer group (expected one of {sorted(s.producers)})")
        if event.kind == "price_cut" and not 0 < event.fraction < 1:
            _fail(o, f"events[{i}].fraction", event.fraction, "a price cut must be in (0, 1)")
        if event.kind == "demand_shock" and event.group and event.group not in regions:
            _fail(o, f"events[{i}].group", event.group, "unknown region")
    if s.costs.planned_utilisation > s.costs.max_utilisation:
        _fail(o, "costs.planned_utilisation", s.costs.planned_utilisation,
              f"must not exceed costs.max_utilisation = {s.costs.max_utilisation}")


def scenario_from_dict(data: dict, origin: str = "<dict>") -> Scenario:
    """Validate a fully merged scenario dict and build the :class:`Scenario`."""
    data = dict(data)
    extra_sources = data.pop("sources", {}) or {}
    if not isinstance(extra_sources, dict):
        _fail(origin, "sources", extra_sources, "expected a table of key path -> source")
    sources: dict[str, str] = {str(k): str(v) for k, v in extra_sources.items()}
    scenario = _build_dataclass(Scenario, data, "", origin, sources)
    scenario = dataclasses.replace(scenario, sources=sources, origin=origin)
    _check_consistency(scenario)
    return scenario


# ------------------------------------------------------------------------------------------------
# loading
# ------------------------------------------------------------------------------------------------
def _data_dir() -> Path:
    return Path(str(resources.files("pricewar") / "data"))


def scenario_names() -> list[str]:
    """Names of the scenarios shipped in ``pricewar/data/scenarios``."""
    return sorted(p.stem for p in (_data_dir() / "scenarios").glob("*.toml"))


def _read_toml(path: Path) -> dict:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(str(path), "<file>", None, f"invalid TOML: {error}") from None
    except OSError as error:
        raise ScenarioError(str(path), "<file>", None, f"cannot read: {error}") from None


def _merge(base: dict, top: dict) -> dict:
    """Deep-merge ``top`` over ``base`` (tables merge; a {value, source} leaf replaces)."""
    out = copy.deepcopy(base)
    for key, value in top.items():
        leaf = isinstance(value, dict) and set(value) == {"value", "source"}
        if isinstance(value, dict) and not leaf and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def calibration_defaults() -> dict:
    """The package calibration data merged into one dict (before any scenario file)."""
    data_dir = _data_dir()
    merged: dict = {}
    network_sources: dict = {}
    for name in CALIBRATION_FILES:
        content = _read_toml(data_dir / f"{name}.toml")
        if name in ("regions", "chips", "sectors"):
            merged[name] = content
        else:
            network_sources.update(content.pop("sources", {}))
            merged = _merge(merged, content)
    merged["sources"] = network_sources
    return merged


def load_scenario(scenario: str | Path | Scenario | None = "baseline") -> Scenario:
    """Load a scenario by name (shipped), by path to a TOML file, or pass a Scenario through.

    A scenario file is merged over the calibration defaults unless it is a fully resolved
    scenario (it then contains every section itself, as written by ``pricewar run``).
    """
    if isinstance(scenario, Scenario):
        return scenario
    if scenario is None:
        scenario = "baseline"
    path = Path(scenario)
    if path.suffix != ".toml":
        if str(scenario) not in scenario_names():
            raise ScenarioError(str(scenario), "<name>", str(scenario),
                                f"unknown scenario (shipped: {scenario_names()}; or give a "
                                f".toml path)")
        path = _data_dir() / "scenarios" / f"{scenario}.toml"
    elif not path.exists():
        raise ScenarioError(str(path), "<file>", str(path), "file not found")
    content = _read_toml(path)
    sections = {f.name for f in dataclasses.fields(Scenario)} - {"sources", "origin"}
    # a fully resolved scenario (as written by `pricewar run`) is taken as it is
    merged = content if sections <= set(content) else _merge(calibration_defaults(), content)
    return scenario_from_dict(merged, origin=str(path))


# ------------------------------------------------------------------------------------------------
# flat overrides
# ------------------------------------------------------------------------------------------------
def _set_all(data: dict, section: str, key: str, value) -> None:
    for group in data[section].values():
        group[key] = value


def _override_latency(data: dict, value) -> None:
    data["latency_ms"]["cn_west"]["cn_east"] = value
    data["latency_ms"]["cn_east"]["cn_west"] = value


def _scale_counts(section: str):
    def apply(data: dict, total) -> None:
        groups = data[section]
        weights = {k: g["count"] for k, g in groups.items()}
        base = sum(weights.values())
        # largest-remainder apportionment keeps the total exact
        raw = {k: total * w / base for k, w in weights.items()}
        counts = {k: int(math.floor(v)) for k, v in raw.items()}
        for k in sorted(raw, key=lambda k: raw[k] - counts[k], reverse=True)[
                : int(total) - sum(counts.values())]:
            counts[k] += 1
        for k, g in groups.items():
            g["count"] = counts[k]
    return apply


def _region_setter(region: str, key: str):
    def apply(data: dict, value) -> None:
        data["regions"][region][key] = value
    return apply


def _scale_consumers(data: dict, total) -> None:
    segments = len(data["regions"]) * len(data["sectors"])
    data["demand"]["consumers_per_segment"] = max(1, round(total / segments))


#: Flat override keys -> (description, function applying the value to the scenario dict, type)
OVERRIDES: dict[str, tuple[str, Any, type]] = {
    **{f"electricity_{r}": (f"grid electricity price in {r} (USD/kWh)",
                            _region_setter(r, "electricity_usd_per_kwh"), float)
       for r in PRODUCER_REGIONS},
    "green_supply_cap_cn_west": (
        "cn_west direct green supply volume cap (MWh/step)",
        _region_setter("cn_west", "green_supply_cap_mwh_per_step"),
        float),
    "hub_latency_ms": ("cn_west-cn_east round trip (ms)", _override_latency, float),
    "export_control_penalty": (
        "CN chips' extra J/token and lower tokens/s per USD (0 = parity)",
        lambda d, v: d["policy"].__setitem__("export_control_penalty", v), float),
    "export_control_lag_years": (
        "years CN producers under export controls trail the chip frontier",
        lambda d, v: d["policy"].__setitem__("export_control_lag_years", v), float),
    "friction_utils": ("cross-bloc access friction (utils)",
                       lambda d, v: d["policy"].__setitem__("friction_utils", v), float),
    "demand_growth": ("exogenous demand growth per step",
                      lambda d, v: d["demand"].__setitem__("growth_per_step", v), float),
    "producer_strategy": (f"strategy of every producer, one of {list(STRATEGIES)}",
                          lambda d, v: _set_all(d, "producers", "strategy", v), str),
    "n_producers": ("total number of producers (groups scaled proportionally)",
                    _scale_counts("producers"), int),
    "n_platforms": ("total number of platforms (groups scaled proportionally)",
                    _scale_counts("platforms"), int),
    "n_consumers": ("total number of consumers (regions x sectors x per segment)",
                    _scale_consumers, int),
    "steps": ("number of steps of a run", lambda d, v: d.__setitem__("steps", v), int),
}


def _plain(data):
    """Strip {value, source} wrappers so overrides can assign plain values."""
    if isinstance(data, dict):
        if set(data) == {"value", "source"}:
            return data["value"]
        return {k: _plain(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_plain(v) for v in data]
    return data


def parse_override_value(key: str, text: str):
    """Parse a ``--set key=value`` string into the override's type (raises ScenarioError)."""
    if key not in OVERRIDES:
        raise ScenarioError("--set", key, text, f"unknown override (known: {sorted(OVERRIDES)})")
    kind = OVERRIDES[key][2]
    try:
        if kind is str:
            return text
        number = float(text)
        if kind is int:
            if not number.is_integer():
                raise ValueError(text)
            return int(number)
        return number
    except ValueError:
        raise ScenarioError("--set", key, text, f"expected {kind.__name__}") from None


def _flatten(data, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: data}


def apply_overrides(scenario: Scenario, overrides: Mapping[str, Any]) -> Scenario:
    """Apply flat overrides and validate the result (unknown keys are errors)."""
    if not overrides:
        return scenario
    data = _plain(dataclasses.asdict(scenario))
    data.pop("origin")
    data.pop("sources")
    sources = dict(scenario.sources)
    for key, value in overrides.items():
        if key not in OVERRIDES:
            raise ScenarioError("overrides", key, value,
                                f"unknown override (known: {sorted(OVERRIDES)})")
        description, apply, kind = OVERRIDES[key]
        if kind in (int, float) and (isinstance(value, bool)
                                     or not isinstance(value, int | float)):
            raise ScenarioError("overrides", key, value, f"expected a number ({description})")
        if kind is str and not isinstance(value, str):
            raise ScenarioError("overrides", key, value, f"expected a string ({description})")
        if kind is int and isinstance(value, float):
            if not value.is_integer():
                raise ScenarioError("overrides", key, value, "expected an integer")
            value = int(value)
        if kind is int and value < 1:
            raise ScenarioError("overrides", key, value, "must be >= 1")
        before = _flatten(data)
        apply(data, value)
        for path, new in _flatten(data).items():
            if before.get(path) != new:
                sources[path] = f"override {key}={value!r}"
    data["sources"] = sources
    origin = f"{scenario.origin} + overrides"
    return scenario_from_dict(data, origin=origin)
