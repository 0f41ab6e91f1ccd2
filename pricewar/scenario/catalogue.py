"""The supply catalogue: capability tiers, owners, model families, accelerators by bloc, the GPU
rental index and the serving, capital and policy parameters (``pricewar/data/{families,chips,
rental,supply}.toml``), as frozen, validated dataclasses.

A scenario holds these sections among its own (:class:`~pricewar.scenario.Scenario`, checked by
:func:`check_catalogue`; ``scenario.catalogue`` is the :class:`Catalogue` the market library
reads). :func:`load_catalogue` reads the four files on their own and checks them: unknown keys,
wrong types, bad dates, negative numbers, numbers without a source, references to an unknown
owner, tier, chip, family or region, and a rental index that misses a chip each raise
:class:`~pricewar.errors.ScenarioError` naming the file, the key path and the value. Dates are
``datetime.date``; a date may be written ``"2024-05-06"`` or ``{value = "2024-05-06", source =
"..."}``. Sources are kept in :attr:`Catalogue.sources` by key path.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pricewar.errors import ScenarioError
from pricewar.scenario.data_files import data_dir, read_toml
from pricewar.scenario.parameters import CHIP_REGIMES as CHIP_REGIMES  # re-exported
from pricewar.scenario.parameters import MARKET_V2, MARKET_V3, declared
from pricewar.scenario.typed import bounds, build_dataclass, built_by, check_fields, fail
from pricewar.units import BITS_PER_BYTE

BLOCS = ("cn", "western")
#: the bloc under chip export controls: the lag and penalty levers apply to it
CONTROLLED_BLOC = "cn"
BENCHMARKS = ("mmlu", "gpqa_diamond", "arena_elo")
FILES = ("families", "chips", "rental", "supply")
#: a reasoning family emits at most this many times the output tokens of a non-reasoning one
MAX_OUTPUT_TOKENS_MULTIPLIER = 1000.0
#: the market version from which the cheap-end families (``cheap_end = true``) are live
CHEAP_END_MARKET_VERSION = MARKET_V3
#: the market version of a scenario that does not state one
DEFAULT_MARKET_VERSION = MARKET_V2


def _date(value: object, path: str, origin: str, sources: dict) -> dt.date:
    """A date written ``"YYYY-MM-DD"``, as a TOML date, or as ``{value, source}``."""
    if isinstance(value, dict) and set(value) == {"value", "source"}:
        if not isinstance(value["source"], str):
            fail(origin, path + ".source", value["source"], "source must be a string")
        sources[path] = value["source"]
        value = value["value"]
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value)
        except ValueError:
            pass
    fail(origin, path, value, "expected a date YYYY-MM-DD")


def _optional_date(value: object, path: str, origin: str, sources: dict) -> dt.date | None:
    return None if value is None else _date(value, path, origin, sources)


def date_field(optional: bool = False):
    """Field metadata for a (possibly absent) date."""
    return built_by(_optional_date if optional else _date)


@dataclass(frozen=True)
class Tier:
    """A capability rung: a score of at least ``threshold`` on ``benchmark`` (Epoch AI thresholds;
    ``extension`` rungs are the project's own, above Epoch's ladder)."""

    label: str
    benchmark: Literal["mmlu", "gpqa_diamond", "arena_elo"]
    threshold: float = field(metadata=bounds())
    extension: bool
    gpqa_equivalent: float = field(metadata=bounds(0.0, 100.0))
    source: str


@dataclass(frozen=True)
class Owner:
    """A firm that trains families: its bloc, home region, R&D programme cost per year, and the
    share of its served tokens sold through its API (``api_sold_share``; the rest are its own
    apps' tokens, docs/v3-interfaces.md §1)."""

    label: str
    bloc: Literal["cn", "western"]
    home_region: str
    fixed_cost_usd_per_year: float = field(metadata=bounds())
    api_sold_share: float = field(metadata=bounds(0.0, 1.0))


@dataclass(frozen=True)
class ListPrice:
    """A family's public list price from ``date`` on (USD per million input / output tokens): an
    observation for the v3 market, never a price path."""

    date: dt.date = field(metadata=date_field())
    input_usd_per_mtok: float = field(metadata=bounds())
    output_usd_per_mtok: float = field(metadata=bounds())
    source: str


@dataclass(frozen=True)
class Family:
    """A model family version: ownership, release, capability and serving architecture."""

    label: str
    owner: str
    weights: Literal["open", "closed"]
    licence: str
    release_date: dt.date = field(metadata=date_field())
    line: str
    tier: str
    total_params_b: float = field(metadata=bounds(strict=True))
    active_params_b: float = field(metadata=bounds(strict=True))
    serving_precision_bits: float = field(metadata=bounds(1.0, 32.0))
    architecture: Literal["dense", "moe"]
    fixed_cost_usd_per_year: float = field(metadata=bounds())
    # output tokens per task relative to a non-reasoning family (k_f >= 1; docs/v3-interfaces.md §1)
    output_tokens_multiplier: float = field(metadata=bounds(1.0, MAX_OUTPUT_TOKENS_MULTIPLIER))
    scores: dict[str, float] = field(default_factory=dict, metadata=bounds())
    retire_date: dt.date | None = field(default=None, metadata=date_field(optional=True))
    # serving architecture of the KV cache (supply v3 throughput; families without it have no
    # roofline yet): layers keeping a full-context cache, and values cached per token per layer
    kv_cache_layers: float | None = field(default=None, metadata=bounds(strict=True))
    kv_cache_values_per_token_per_layer: float | None = field(default=None,
                                                              metadata=bounds(strict=True))
    # the catalogue's cheap end (lite and small families): live only in the v3 market
    cheap_end: bool = False
    list_prices: tuple[ListPrice, ...] = ()

    @property
    def active_gb_per_token(self) -> float:
        """Bytes of active weights read per decoded token, in GB (params x bits / 8)."""
        return self.active_params_b * self.serving_precision_bits / BITS_PER_BYTE


@dataclass(frozen=True)
class Availability:
    """A window in which ``bloc`` can buy a chip: ``from_date <= t < until_date`` (open-ended
    without ``until_date``). ``restricted``: legal but gated (a US levy of ``levy_share`` of the
    sale, Chinese guidance against purchases)."""

    bloc: Literal["cn", "western"]
    from_date: dt.date = field(metadata=date_field())
    source: str
    until_date: dt.date | None = field(default=None, metadata=date_field(optional=True))
    status: Literal["open", "restricted"] = "open"
    levy_share: float = field(default=0.0, metadata=bounds(0.0, 1.0))


@dataclass(frozen=True)
class Accelerator:
    """One accelerator: price, power, memory, compute, software efficiency, dates and supply."""

    label: str
    vendor: str
    domestic_bloc: Literal["cn", "western"]
    price_usd: float = field(metadata=bounds(strict=True))
    power_w: float = field(metadata=bounds(strict=True))
    idle_power_w: float = field(metadata=bounds())
    server_power_w: float = field(metadata=bounds(strict=True))
    hbm_gb: float = field(metadata=bounds(strict=True))
    memory_bandwidth_tb_s: float = field(metadata=bounds(strict=True))
    dense_bf16_tflops: float = field(metadata=bounds(strict=True))
    decode_efficiency: float = field(metadata=bounds(0.0, 1.0, strict=True))
    release_date: dt.date = field(metadata=date_field())
    availability: tuple[Availability, ...]
    supply_gpus_per_step: float = field(metadata=bounds())
    supply_growth_per_year: float = field(metadata=bounds(-1.0))


@dataclass(frozen=True)
class RentalPoint:
    """A sourced market rental rate of a chip at a date."""

    date: dt.date = field(metadata=date_field())
    usd_per_gpu_hour: float = field(metadata=bounds(strict=True))


@dataclass(frozen=True)
class RentalSeries:
    """Anchor points of one chip's rental rate, in date order."""

    points: tuple[RentalPoint, ...]


@dataclass(frozen=True)
class ScaledRental:
    """A chip without a series: the ``reference`` chip's rate times their price ratio (est.)."""

    reference: str
    source: str


@dataclass(frozen=True)
class RentalTable:
    """The rental index (``rental.toml``): the market reference chip, the chips with anchor series
    and the chips scaled from another chip's series."""

    reference_chip: str
    series: dict[str, RentalSeries] = field(default_factory=dict)
    scaled: dict[str, ScaledRental] = field(default_factory=dict)


@dataclass(frozen=True)
class ServingParameters:
    """The decode anchor (a measured rate of one family on one chip) and the serving trends."""

    anchor_family: str
    anchor_chip: str
    anchor_date: dt.date = field(metadata=date_field())
    anchor_output_tokens_per_s: float = field(metadata=bounds(strict=True))
    prefill_to_decode_ratio: float = field(metadata=bounds(strict=True))
    software_efficiency_per_year: float = field(metadata=bounds(strict=True))
    max_decode_compute_utilisation: float = field(metadata=bounds(0.0, 1.0, strict=True))


@dataclass(frozen=True)
class CapitalParameters:
    """Economic lives, planned utilisation and operating costs for the full cost."""

    chip_life_years: float = field(metadata=bounds(strict=True))
    facility_life_years: float = field(metadata=bounds(strict=True))
    planned_utilisation: float = field(metadata=bounds(0.0, 1.0, strict=True))
    fixed_opex_share_per_year: float = field(metadata=bounds())
    variable_opex_usd_per_mtok: float = field(metadata=bounds())


@dataclass(frozen=True)
class PolicyLevers:
    """Policy levers of supply v2 (docs/ODD.md §6.1b), validated on construction.

    Attributes
    ----------
    carbon_price_usd_per_t : carbon price on the power bill (USD per t CO2)
    power_subsidy_domestic_chips : share of the power bill paid by the state for cohorts on chips
        made in their own bloc, if that bloc is ``power_subsidy_bloc``, from
        ``power_subsidy_from_date`` (0-1)
    capex_subsidy : share of chip and facility capex paid by the state (0-1)
    wacc : weighted average cost of capital (1/year)
    export_control_penalty : counterfactual: throughput / (1 + penalty) (and J/token x (1 +
        penalty)) for cohorts in the controlled bloc (0 = none)
    export_control_lag_years : counterfactual: every chip availability of the controlled bloc
        starts this many years later (independent of the penalty)
    chip_regime : "historical" (the availability data), "no_controls" (every bloc buys every chip
        from its release) or "full_ban" (the controlled bloc buys only its domestic chips)
    restricted_chips_buyable : whether "restricted" availability windows count
    """

    carbon_price_usd_per_t: float = field(metadata=declared("carbon_price_usd_per_t"))
    power_subsidy_domestic_chips: float = field(
        metadata=declared("power_subsidy_domestic_chips"))
    power_subsidy_bloc: Literal["cn", "western"]
    power_subsidy_from_date: dt.date = field(metadata=date_field())
    capex_subsidy: float = field(metadata=declared("capex_subsidy"))
    wacc: float = field(metadata=declared("wacc"))
    export_control_penalty: float = field(metadata=declared("export_control_penalty"))
    export_control_lag_years: float = field(metadata=declared("export_control_lag_years"))
    chip_regime: Literal["historical", "no_controls", "full_ban"]
    restricted_chips_buyable: bool

    def __post_init__(self):
        # built from a table or changed by replace(): the same field checks either way
        check_fields(self, "PolicyLevers")

    def replace(self, **changes) -> PolicyLevers:
        """A copy with ``changes`` (validated; unknown names raise ScenarioError)."""
        names = {f.name for f in dataclasses.fields(self)}
        for name in changes:
            if name not in names:
                raise ScenarioError("PolicyLevers", name, changes[name],
                                    f"unknown lever (expected one of {sorted(names)})")
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class QualityMapping:
    """Benchmark score -> quality in utils: ``slope x (score - reference)`` (est. slope), plus
    ``closed_premium_utils`` for closed-weight families (est.: the unobserved quality -- brand,
    reliability, tooling -- a benchmark score misses)."""

    benchmark: Literal["mmlu", "gpqa_diamond", "arena_elo"]
    slope_utils_per_point: float = field(metadata=declared("quality_slope"))
    reference_score: float = field(metadata=bounds())
    closed_premium_utils: float = field(metadata=declared("closed_premium"))


@dataclass(frozen=True, eq=False)
class Catalogue:
    """Everything the supply library reads from the catalogue files (dicts keep file order)."""

    tiers: dict[str, Tier]
    owners: dict[str, Owner]
    families: dict[str, Family]
    chips: dict[str, Accelerator]
    rental_reference_chip: str
    rental_series: dict[str, RentalSeries]
    rental_scaled: dict[str, ScaledRental]
    overlap_weeks: float
    quality: QualityMapping
    serving: ServingParameters
    capital: CapitalParameters
    policy: PolicyLevers
    sources: dict[str, str] = field(default_factory=dict)

    def tier_rank(self, tier: str) -> int:
        """Position of ``tier`` on the capability ladder (0 = lowest)."""
        return list(self.tiers).index(tier)

    @classmethod
    def from_parts(cls, *, tiers, owners, families, chips, rental: RentalTable, overlap_weeks,
                   quality, serving, capital, policy, sources=None) -> Catalogue:
        """A catalogue from already validated sections (a scenario's)."""
        return cls(tiers=tiers, owners=owners, families=families, chips=chips,
                   rental_reference_chip=rental.reference_chip, rental_series=rental.series,
                   rental_scaled=rental.scaled, overlap_weeks=overlap_weeks, quality=quality,
                   serving=serving, capital=capital, policy=policy, sources=dict(sources or {}))


def _table(data: dict, key: str, origin: str) -> dict:
    value = data.get(key)
    if not isinstance(value, dict):
        fail(origin, key, value, "expected a table")
    return value


def _build_tables(cls, tables: dict, prefix: str, origin: str, sources: dict) -> dict:
    out = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            fail(origin, f"{prefix}.{name}", table, f"expected a table for {cls.__name__}")
        out[name] = build_dataclass(cls, table, f"{prefix}.{name}", origin, sources)
    return out


def _check_sourced(node: object, path: str, origin: str, covered: bool = False) -> None:
    """Every number is ``{value, source}`` or sits in a table with a ``source`` string."""
    if isinstance(node, dict):
        if set(node) == {"value", "source"}:
            return
        covered = isinstance(node.get("source"), str)
        for key, value in node.items():
            _check_sourced(value, f"{path}.{key}" if path else key, origin, covered)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _check_sourced(value, f"{path}[{i}]", origin, covered)
    elif isinstance(node, int | float) and not isinstance(node, bool) and not covered:
        fail(origin, path, node, "a number needs a source: write {value = ..., source = \"...\"}")


def _refs(origin: str, path: str, value: str, known, what: str) -> None:
    if value not in known:
        fail(origin, path, value, f"unknown {what} (expected one of {sorted(known)})")


def _check_families(catalogue_parts: dict, origin: str, regions: set[str]) -> None:
    tiers, owners, families = (catalogue_parts[k] for k in ("tiers", "owners", "families"))
    for name, owner in owners.items():
        _refs(origin, f"owners.{name}.home_region", owner.home_region, regions, "region")
    for name, family in families.items():
        key = f"families.{name}"
        _refs(origin, f"{key}.owner", family.owner, owners, "owner")
        _refs(origin, f"{key}.tier", family.tier, tiers, "tier")
        for benchmark in family.scores:
            _refs(origin, f"{key}.scores.{benchmark}", benchmark, BENCHMARKS, "benchmark")
        if family.active_params_b > family.total_params_b:
            fail(origin, f"{key}.active_params_b", family.active_params_b,
                 f"exceeds total_params_b = {family.total_params_b:g}")
        if family.architecture == "dense" and family.active_params_b != family.total_params_b:
            fail(origin, f"{key}.active_params_b", family.active_params_b,
                 "a dense family activates all its parameters (= total_params_b)")
        if family.retire_date is not None and family.retire_date <= family.release_date:
            fail(origin, f"{key}.retire_date", family.retire_date, "must be after release_date")
        dates = [p.date for p in family.list_prices]
        if any(b <= a for a, b in zip(dates, dates[1:], strict=False)):
            fail(origin, f"{key}.list_prices", [str(d) for d in dates],
                 "dates must be strictly increasing")
        if dates and dates[0] < family.release_date:
            fail(origin, f"{key}.list_prices[0].date", dates[0],
                 f"before release_date = {family.release_date}")


def _check_chips(chips: dict[str, Accelerator], origin: str) -> None:
    for name, chip in chips.items():
        if chip.idle_power_w >= chip.power_w:
            fail(origin, f"chips.{name}.idle_power_w", chip.idle_power_w,
                 f"must be below power_w = {chip.power_w:g}")
        if chip.server_power_w < chip.power_w:
            fail(origin, f"chips.{name}.server_power_w", chip.server_power_w,
                 f"must be at least power_w = {chip.power_w:g}")
        for i, window in enumerate(chip.availability):
            if window.until_date is not None and window.until_date <= window.from_date:
                fail(origin, f"chips.{name}.availability[{i}].until_date", window.until_date,
                     "must be after from_date")


def _check_rental(reference: str, series: dict, scaled: dict, chips: dict, origin: str) -> None:
    for table, names in (("series", series), ("scaled", scaled)):
        for name in names:
            _refs(origin, f"{table}.{name}", name, chips, "chip")
    _refs(origin, "reference_chip", reference, series, "chip with a series")
    for name, entry in series.items():
        dates = [p.date for p in entry.points]
        if not dates:
            fail(origin, f"series.{name}.points", [], "needs at least one point")
        if any(b <= a for a, b in zip(dates, dates[1:], strict=False)):
            fail(origin, f"series.{name}.points", [str(d) for d in dates],
                 "dates must be strictly increasing")
    for name, entry in scaled.items():
        _refs(origin, f"scaled.{name}.reference", entry.reference, series, "chip with a series")
        if name in series:
            fail(origin, f"scaled.{name}", name, "a chip has either a series or a scaled rule")
    missing = [c for c in chips if c not in series and c not in scaled]
    if missing:
        fail(origin, f"series.{missing[0]}", None, "every chip needs a series or a scaled rule")


def _regions() -> set[str]:
    return set(read_toml(data_dir() / "regions.toml"))


def check_catalogue(parts: dict, origins: dict[str, str], regions: set[str]) -> None:
    """Cross-references and physical limits of the catalogue sections ``parts`` (tiers, owners,
    families, quality, chips, rental, serving): raise ScenarioError naming ``origins[file]``, the
    key path and the value. ``regions``: the known region names."""
    origin = origins["families"]
    _check_families(parts, origin, regions)
    if parts["quality"].benchmark != "gpqa_diamond":
        fail(origin, "quality.benchmark", parts["quality"].benchmark,
             "only gpqa_diamond is mapped (tiers give gpqa_equivalent)")
    chips = parts["chips"]
    _check_chips(chips, origins["chips"])
    rental = parts["rental"]
    _check_rental(rental.reference_chip, rental.series, rental.scaled, chips, origins["rental"])
    serving = parts["serving"]
    _refs(origins["supply"], "serving.anchor_family", serving.anchor_family, parts["families"],
          "family")
    _refs(origins["supply"], "serving.anchor_chip", serving.anchor_chip, chips, "chip")


def scenario_market_version(scenario) -> int:
    """The market version a scenario runs (``scenario.market.version``; 2 when it states none)."""
    return getattr(getattr(scenario, "market", None), "version", DEFAULT_MARKET_VERSION)


def market_families(families: dict[str, Family], market_version: int) -> dict[str, Family]:
    """The families live in a market of ``market_version``: all of them from
    :data:`CHEAP_END_MARKET_VERSION` on, else all but the cheap end (so v2 runs keep their
    family list). File order is kept."""
    if market_version >= CHEAP_END_MARKET_VERSION:
        return dict(families)
    return {name: family for name, family in families.items() if not family.cheap_end}


def cheap_end_tables(directory: Path | str | None = None) -> dict[str, dict]:
    """The cheap-end family tables of ``directory``'s ``families.toml`` (default: the package's
    data) as written, sources included, in file order."""
    folder = Path(directory) if directory is not None else data_dir()
    tables = read_toml(folder / "families.toml").get("families", {})
    return {name: table for name, table in tables.items()
            if isinstance(table, dict) and table.get("cheap_end") is True}


def load_catalogue(directory: Path | str | None = None,
                   market_version: int = DEFAULT_MARKET_VERSION) -> Catalogue:
    """Read and validate ``families``, ``chips``, ``rental`` and ``supply``.toml of ``directory``
    (default: the package's ``data``); the families are those of a market of ``market_version``
    (:func:`market_families`: the cheap end from version 3)."""
    folder = Path(directory) if directory is not None else data_dir()
    raw = {name: read_toml(folder / f"{name}.toml") for name in FILES}
    origins = {name: str(folder / f"{name}.toml") for name in FILES}
    for name in FILES:
        _check_sourced(raw[name], "", origins[name])
    sources: dict[str, str] = {}

    fam, origin = raw["families"], origins["families"]
    unknown = sorted(set(fam) - {"overlap_weeks", "quality", "tiers", "owners", "families"})
    if unknown:
        fail(origin, unknown[0], fam[unknown[0]], "unknown key (expected overlap_weeks, quality, "
                                                  "tiers, owners, families)")
    parts = {
        "tiers": _build_tables(Tier, _table(fam, "tiers", origin), "tiers", origin, sources),
        "owners": _build_tables(Owner, _table(fam, "owners", origin), "owners", origin, sources),
        "families": _build_tables(Family, _table(fam, "families", origin), "families", origin,
                                  sources),
    }
    parts["overlap_weeks"] = build_dataclass(_Overlap, {"overlap_weeks": fam.get("overlap_weeks")},
                                             "", origin, sources).overlap_weeks
    parts["quality"] = build_dataclass(QualityMapping, _table(fam, "quality", origin), "quality",
                                       origin, sources)

    chip_raw, origin = raw["chips"], origins["chips"]
    if set(chip_raw) != {"chips"}:
        extra = sorted(set(chip_raw) - {"chips"}) or ["chips"]
        fail(origin, extra[0], chip_raw.get(extra[0]), "expected only a [chips.<name>] table")
    parts["chips"] = _build_tables(Accelerator, _table(chip_raw, "chips", origin), "chips", origin,
                                   sources)

    rent, origin = raw["rental"], origins["rental"]
    unknown = sorted(set(rent) - {"reference_chip", "series", "scaled"})
    if unknown:
        fail(origin, unknown[0], rent[unknown[0]], "unknown key (expected reference_chip, series, "
                                                   "scaled)")
    parts["rental"] = RentalTable(
        reference_chip=rent.get("reference_chip"),
        series=_build_tables(RentalSeries, rent.get("series", {}), "series", origin, sources),
        scaled=_build_tables(ScaledRental, rent.get("scaled", {}), "scaled", origin, sources))

    sup, origin = raw["supply"], origins["supply"]
    unknown = sorted(set(sup) - {"serving", "capital", "policy"})
    if unknown:
        fail(origin, unknown[0], sup[unknown[0]], "unknown key (expected serving, capital, policy)")
    parts["serving"] = build_dataclass(ServingParameters, _table(sup, "serving", origin),
                                       "serving", origin, sources)
    parts["capital"] = build_dataclass(CapitalParameters, _table(sup, "capital", origin),
                                       "capital", origin, sources)
    parts["policy"] = build_dataclass(PolicyLevers, _table(sup, "policy", origin), "policy",
                                      origin, sources)
    check_catalogue(parts, origins, _regions())
    kept = market_families(parts["families"], market_version)
    dropped = set(parts["families"]) - set(kept)
    parts["families"] = kept
    return Catalogue.from_parts(**parts, sources=without_families(sources, dropped))


def without_families(sources: dict[str, str], names) -> dict[str, str]:
    """``sources`` without the key paths of the families ``names``."""
    prefixes = tuple(f"families.{name}." for name in names)
    return {path: source for path, source in sources.items()
            if not (prefixes and path.startswith(prefixes))}


@dataclass(frozen=True)
class _Overlap:
    overlap_weeks: float = field(metadata=bounds())
