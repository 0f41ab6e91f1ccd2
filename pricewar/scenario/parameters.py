"""Every flat parameter, declared once: name, scenario path, type, unit, bounds, description,
app slider and source.

A flat parameter is a scenario value settable by name: ``pricewar run --set NAME=VALUE``,
:meth:`Scenario.with_overrides`, a sweep's ``[design.parameters]`` and ``[fixed]``, a calibration
spec's ``[parameters]`` and the browser app's sliders. Each :class:`Parameter` below is the one
place its bounds, unit and meaning are written; generated from it are

- the override table :data:`pricewar.scenario.OVERRIDES` and the parsing of ``--set`` values
  (:func:`parse_text`, :func:`check_value`),
- the bounds of the scenario fields the parameter sets (:func:`field_bounds`: the field metadata
  the typed builder checks, so a scenario file and an override meet the same range),
- the app's slider tables (:func:`sliders`),
- the table of ``docs/parameters.md`` (``python -m pricewar.scenario.parameters`` rewrites it
  between its markers; a test checks it) and ``pricewar parameters``,
- the range checks of sweep and calibration specs (a swept or prior range lies within the
  declared bounds).

``path`` is the scenario key path the value lands on; ``*`` stands for every group of a section.
``apply`` says how: ``set`` (the value replaces the field), ``symmetric`` (both directions of a
latency pair), ``scale`` (a factor on every group's field), ``count`` (a total shared among
the groups), ``consumers`` (a total over regions x sectors) or ``steps``. A ``set`` parameter's
bounds are the bounds of its field (checked where the scenario is built, naming the field's key
path); the others are checked on the value given (naming the parameter).
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pricewar.errors import ScenarioError
from pricewar.limits import (
    MAX_CONSUMERS,
    MAX_MAGNITUDE,
    MAX_PLATFORMS,
    MAX_PRODUCERS,
    MAX_STEPS,
)
from pricewar.scenario.data_files import PRODUCER_REGIONS
from pricewar.scenario.doc_markers import rewrite_between_markers

#: chip availability regimes of ``policy.chip_regime``
CHIP_REGIMES = ("historical", "no_controls", "full_ban")

#: the market models of ``market.version``: demand v2, and the v3 market (docs/ODD.md §6.2d)
MARKET_V2, MARKET_V3 = 2, 3

Apply = Literal["set", "symmetric", "scale", "count", "consumers", "steps"]


@dataclass(frozen=True)
class Slider:
    """A slider of the browser app: ``group`` ("market" or "policy"), label, range and step (the
    range may be narrower than the bounds, so the step stays usable; it widens to include a
    scenario's own value)."""

    group: Literal["market", "policy"]
    label: str
    low: float
    high: float
    step: float


@dataclass(frozen=True)
class Parameter:
    """One flat parameter (units in ``unit``; bounds ``low``/``high``, ``None``: unbounded, i.e.
    within :data:`~pricewar.limits.MAX_MAGNITUDE`; ``strict``: the lower bound is excluded)."""

    name: str
    path: str
    kind: type
    unit: str
    description: str
    source: str
    low: float | None = 0.0
    high: float | None = None
    strict: bool = False
    apply: Apply = "set"
    choices: tuple[str, ...] = ()
    slider: Slider | None = None

    def field_bounds(self) -> dict:
        """Field metadata for :mod:`pricewar.scenario.typed` (the bounds of the field set)."""
        return {"min": self.low, "max": self.high, "strict": self.strict}

    @property
    def bounded_low(self) -> float:
        return -MAX_MAGNITUDE if self.low is None else self.low

    @property
    def bounded_high(self) -> float:
        return MAX_MAGNITUDE if self.high is None else self.high

    def within(self, value: float) -> bool:
        """Whether ``value`` lies within the bounds."""
        low = self.bounded_low
        return (value > low if self.strict else value >= low) and value <= self.bounded_high

    @property
    def range_text(self) -> str:
        """The allowed values in words, as the typed builder words them."""
        if self.kind is str:
            return f"one of {list(self.choices)}" if self.choices else "a registered name"
        low, high = self.bounded_low, self.bounded_high
        if self.kind is int:
            return f">= {low:,.0f} and <= {high:,.0f}"
        return f"{'>' if self.strict else '>='} {low:g} and <= {high:g}"


def _electricity(region: str, slider: bool) -> Parameter:
    return Parameter(
        f"electricity_{region}", f"regions.{region}.electricity_usd_per_kwh", float, "USD/kWh",
        f"grid electricity price in {region}", "docs/calibration.md C1",
        0.0, 10.0,  # 20x the dearest industrial tariff
        slider=Slider("market", f"Electricity {region} (USD/kWh)", 0.0, 0.30, 0.001)
        if slider else None)


_SLIDER_REGIONS = ("cn_west", "us")

#: the declarations, in the order of ``docs/parameters.md`` and of the app's sliders
DECLARATIONS: tuple[Parameter, ...] = (
    *(_electricity(r, r in _SLIDER_REGIONS) for r in PRODUCER_REGIONS),
    Parameter("green_supply_cap_cn_west", "regions.cn_west.green_supply_cap_mwh_per_step", float,
              "MWh/step", "cn_west direct green supply volume cap", "docs/calibration.md C7"),
    Parameter("hub_latency_ms", "latency_ms.cn_west.cn_east", float, "ms",
              "cn_west-cn_east round trip (both directions)", "docs/calibration.md C8",
              0.0, 60_000.0, apply="symmetric",
              slider=Slider("market", "Hub latency cn_west-cn_east (ms)", 0.0, 200.0, 1.0)),
    Parameter("carbon_price_usd_per_t", "policy.carbon_price_usd_per_t", float, "USD/t CO2",
              "carbon price on the power bill",
              "docs/calibration.md C15 (counterfactual lever, default 0; EU ETS 2025: 81)",
              0.0, 10_000.0,  # over 100x the EU ETS of 2025
              slider=Slider("policy", "Carbon price (USD/t CO2)", 0.0, 500.0, 5.0)),
    Parameter("power_subsidy_domestic_chips", "policy.power_subsidy_domestic_chips", float,
              "share", "share of the power bill subsidised for hosts on chips of their own bloc",
              "docs/calibration.md C15 (est. 0-0.5)", 0.0, 1.0,
              slider=Slider("policy", "Power subsidy on domestic chips (share of bill)",
                            0.0, 1.0, 0.01)),
    Parameter("capex_subsidy", "policy.capex_subsidy", float, "share",
              "share of chip and facility capex subsidised",
              "docs/calibration.md C15 (counterfactual lever, default 0; range 0-0.3)", 0.0, 1.0,
              slider=Slider("policy", "Capex subsidy (share of chip + facility capex)",
                            0.0, 1.0, 0.01)),
    Parameter("wacc", "policy.wacc", float, "1/year",
              "weighted average cost of capital (host groups add their premium)",
              "docs/calibration.md C15 (est. 0.06-0.12)", 0.0, 1.0,
              slider=Slider("policy", "WACC (1/year)", 0.0, 0.30, 0.005)),
    Parameter("export_control_penalty", "policy.export_control_penalty", float, "1",
              "counterfactual: CN cohorts' throughput / (1 + penalty), J/token x (1 + penalty)",
              "docs/calibration.md C15 (counterfactual lever, default 0; range 0-0.5)",
              0.0, 10.0,  # +1000%
              slider=Slider("policy", "Export-control penalty (CN throughput / (1 + p))",
                            0.0, 2.0, 0.01)),
    Parameter("export_control_lag_years", "policy.export_control_lag_years", float, "years",
              "counterfactual: years every CN chip availability window starts later",
              "docs/calibration.md C15 (counterfactual lever, default 0; range 0-2)", 0.0, 50.0,
              slider=Slider("policy", "Export-control lag (years)", 0.0, 10.0, 0.5)),
    Parameter("chip_regime", "policy.chip_regime", str, "-",
              "chip availability: the data (historical), every bloc buys every chip "
              "(no_controls) or CN buys only its domestic chips (full_ban)",
              "docs/calibration.md C13", None, None, choices=CHIP_REGIMES),
    Parameter("friction_utils", "trade.friction_utils", float, "utils",
              "cross-bloc access friction on hosts in the other bloc",
              "docs/calibration.md C6 (est.)",
              0.0, 100.0),  # cross-bloc demand is then e^-100 of its value
    Parameter("family_friction_utils", "trade.family_friction_utils", float, "utils",
              "friction on families owned in the other bloc",
              "docs/calibration.md C6 (est. 0-2)", 0.0, 100.0),
    Parameter("tariff_cross_bloc", "trade.tariff_cross_bloc", float, "share",
              "ad valorem tariff on tokens from hosts in the other bloc",
              "docs/calibration.md C6 (counterfactual lever, default 0)", 0.0, 10.0),
    Parameter("nest_sigma", "demand.nest_sigma", float, "1",
              "substitution between hosts of one family (nested-logit sigma)",
              "docs/calibration.md C6 (est. 0.4-0.95)", 0.0, 0.99),
    Parameter("complement_weight", "complements.owners.*.complement_weight", float, "1",
              "complement weight of every owner listed in complements.toml (forward-looking "
              "hosts value a Mtok sold at this fraction of its marginal cost beyond the token "
              "margin: cloud and ecosystem revenue)",
              "docs/calibration.md C16 (est. 0-0.5 by owner; every default 0)",
              # 5: ten times the top of the est. range -- a Mtok sold earning five times its
              # cost again elsewhere, beyond any cloud segment's reported margin
              0.0, 5.0),
    Parameter("customer_base_kappa", "demand.customer_base_kappa_utils", float, "utils",
              "utility bonus of the hosts a consumer bought from last step at a full share "
              "(0: no customer base)",
              "docs/calibration.md C16 (est. 0.24-1.2)",
              # at 5 utils a rival must be exp(5/alpha) ~ 60x cheaper to win a fully held
              # consumer, beyond any switching cost reported for API customers
              0.0, 5.0,
              slider=Slider("policy", "Customer-base bonus kappa (utils)", 0.0, 5.0, 0.05)),
    Parameter("demand_eta", "sectors.*.eta", float, "1",
              "elasticity of every sector's volume to its price index",
              "docs/calibration.md C6 (est. 1.05-1.5)",
              # > 0: at eta = 0 the kernel takes the v1 fixed-volume path, whose outside option
              # v2 scenarios do not define; up to 10 (volume x 10^-10 for a tenfold price)
              0.0, 10.0, strict=True),
    Parameter("quality_slope", "quality.slope_utils_per_point", float, "utils/point",
              "utils per GPQA Diamond point of a family's quality",
              "docs/calibration.md C12 (est. 0.03-0.3; bound: 10x its top)",
              # 10x the top of the estimate (GPT-4o mini vs Claude 3.5 Sonnet, 23x apart in
              # list price, imply <= 0.24 at alpha = 1). Was unbounded (1e12): from ~15 (12
              # finite; baseline, 100 consumers) the kernel's utilities overflow, demand_total
              # inf and NaN surplus
              0.0, 3.0),
    Parameter("closed_premium", "quality.closed_premium_utils", float, "utils",
              "quality of closed-weight families beyond their benchmark score",
              "docs/calibration.md C12 (est. 0-5)", 0.0, 10.0),
    Parameter("alpha_scale", "sectors.*.alpha", float, "1",
              "factor on every sector's price sensitivity alpha (1: the scenario's; the scaled "
              "alpha must stay > 1)",
              "docs/calibration.md C4 (alpha derived, ~1.2; bound: a Lerner index of ~1%)",
              # alpha ~120: a small producer's Lerner index 1 / (alpha (1 - S)) under 1%,
              # against 0.845 from DeepSeek's 545% margin (C4). Was unbounded (1e12): at 500
              # and 1,000 the re-choice clearing broke conservation (served 1e10-1e15 x demand;
              # fixed in the clearing since: floored shares go to the exact re-choice path)
              0.0, 100.0, strict=True, apply="scale"),
    Parameter("demand_growth", "demand.growth_per_step", float, "1/step",
              "exogenous task growth per step", "docs/calibration.md C6 (derived est. 0-0.05)",
              # -10% to +50% per step: beyond, demand vanishes or explodes within a few dozen
              # steps
              -0.1, 0.5,
              slider=Slider("market", "Demand growth (per step)", -0.05, 0.15, 0.0001)),
    Parameter("market_version", "market.version", int, "-",
              "market model: 2 (demand v2: segment habit, scarcity surcharge) or 3 (classes, "
              "tier nests, customer states, prices that clear capacity)", "docs/ODD.md §6.2d",
              MARKET_V2, MARKET_V3),
    Parameter("bulk_class_share", "market.bulk_class_share", float, "share",
              "v3: share of each segment's buyers in the price-sensitive bulk class",
              "docs/calibration.md C17 (est. 0.3-0.9)", 0.0, 1.0),
    Parameter("bulk_alpha_excess", "market.bulk_alpha_excess", float, "1",
              "v3: the bulk class's price sensitivity above the sector's eta (alpha = eta + "
              "exp(theta))", "docs/calibration.md C17 (est. 0.5-8)", 0.0, 50.0, strict=True),
    Parameter("quality_alpha_excess", "market.quality_alpha_excess", float, "1",
              "v3: the quality-seeking class's price sensitivity above the sector's eta",
              "docs/calibration.md C17 (est. 0.01-2)", 0.0, 50.0, strict=True),
    Parameter("tier_sigma", "market.tier_sigma", float, "1",
              "v3: substitution between families of one capability tier (nested-logit sigma; "
              "<= nest_sigma, the hosts of one family)", "docs/calibration.md C17 (est. 0-0.8)",
              0.0, 0.99),
    Parameter("review_base_per_step", "market.review_base_per_step", float, "1/step",
              "v3: base rate at which a committed customer reviews its host",
              "docs/calibration.md C17 (11% of enterprises a year: 0.0022/week; est. "
              "0.001-0.01)", 0.0, 1.0),
    Parameter("review_gap_per_step", "market.review_gap_per_step", float, "1/step",
              "v3: extra review rate per unit log price gap to the cheapest same-tier rival",
              "docs/calibration.md C17 (est. 0-2)", 0.0, 100.0),
    Parameter("review_cap_per_step", "market.review_cap_per_step", float, "1/step",
              "v3: highest review rate per step", "docs/calibration.md C17 (est. 0.1-1)",
              0.0, 1.0),
    Parameter("price_offset_usd_per_mtok", "market.price_offset_usd_per_mtok", float,
              "USD/Mtok", "v3: pbar in alpha log(p + pbar): keeps utility finite at a free tier",
              "docs/calibration.md C17 (est. 0.001-0.1)", 0.0, 100.0, strict=True),
    Parameter("quality_volume_max", "market.quality_volume_max", float, "1",
              "v3: most a sector's task volume can grow with the best reachable quality "
              "(bounded quality-volume term; 1 = at most doubles)",
              "docs/calibration.md C17 (est. 0-4)", 0.0, 100.0),
    Parameter("quality_volume_scale_utils", "market.quality_volume_scale_utils", float, "utils",
              "v3: quality gain (utils) over which the quality-volume term saturates by 63%",
              "docs/calibration.md C17 (est. 0.5-10)", 0.0, 1000.0, strict=True),
    Parameter("rental_other_fleet", "rental_market.other_gpus_per_host_gpu", float, "GPUs/GPU",
              "v3 rental market: exogenous (training/other) GPUs per GPU of the hosts' fleets, "
              "per chip class and bloc", "docs/calibration.md C19 (est. 0.5-2)", 0.0, 100.0),
    Parameter("rental_other_demand_cn", "rental_market.other_demand_share_cn", float, "1",
              "v3 rental market: exogenous GPU-hours demanded at the full-cost rent per "
              "exogenous GPU-hour installed, cn bloc", "docs/calibration.md C19 (est. 0.2-0.9)",
              0.0, 100.0),
    Parameter("rental_other_demand_western", "rental_market.other_demand_share_western", float,
              "1", "v3 rental market: exogenous GPU-hours demanded at the full-cost rent per "
              "exogenous GPU-hour installed, western bloc",
              "docs/calibration.md C19 (est. 0.7-1.3)", 0.0, 100.0),
    Parameter("rental_demand_elasticity", "rental_market.other_demand_elasticity", float, "1",
              "v3 rental market: elasticity of exogenous GPU-hour demand to the rent",
              "docs/calibration.md C19 (est. 0.5-3)", 0.0, 20.0, strict=True),
    Parameter("rental_payback_years", "rental_market.payback_years", float, "years",
              "v3 rental market: the rent ceiling is the floor plus capex over this payback "
              "(a renter buys above it)", "docs/calibration.md C19 (est. 0.5-2)",
              0.0, 50.0, strict=True),
    Parameter("resale_value_share", "dynamics.resale_value_share", float, "share",
              "v3 exit: resale price of used chips as a share of their straight-line book value",
              "docs/calibration.md C19 (est. 0.3-0.8)", 0.0, 1.0),
    Parameter("entry_cost_usd_per_gpu", "dynamics.entry_cost_usd_per_gpu", float, "USD/GPU",
              "v3 entry: one-off cost of starting a host (team, software, sales) per GPU of its "
              "first cluster", "docs/calibration.md C19 (est. 1,000-20,000)", 0.0, 1e7),
    Parameter("producer_strategy", "producers.*.strategy", str, "-",
              "strategy of every producer: a registered strategy name (the built-in ones or one "
              "registered with pricewar.strategies.register)", "docs/ODD.md §6.4", None, None),
    Parameter("n_producers", "producers.*.count", int, "producers",
              "total number of producers (owner-hosts keep one each; independent host groups "
              "scaled proportionally)", "model size", 1, MAX_PRODUCERS, apply="count"),
    Parameter("n_platforms", "platforms.*.count", int, "platforms",
              "total number of platforms (groups scaled proportionally)", "model size",
              1, MAX_PLATFORMS, apply="count"),
    Parameter("n_consumers", "demand.consumers_per_segment", int, "consumers",
              "total number of consumers (regions x sectors x per segment)", "model size",
              1, MAX_CONSUMERS, apply="consumers"),
    Parameter("steps", "steps", int, "steps", "number of steps of a run", "run length",
              1, MAX_STEPS, apply="steps"),
)

#: name -> declaration
PARAMETERS: dict[str, Parameter] = {p.name: p for p in DECLARATIONS}


def declared(name: str) -> dict:
    """The field metadata of the scenario field that parameter ``name`` sets."""
    return PARAMETERS[name].field_bounds()


def sliders(group: str) -> dict[str, tuple[str, float, float, float]]:
    """The app's sliders of ``group``: name -> (label, min, max, step), in declaration order."""
    return {p.name: (p.slider.label, p.slider.low, p.slider.high, p.slider.step)
            for p in DECLARATIONS if p.slider is not None and p.slider.group == group}


# ------------------------------------------------------------------------------------------------
# values
# ------------------------------------------------------------------------------------------------
#: a decimal number as a person types it: digits, an optional point and exponent; no digit
#: separators (float() reads "0_05" as 5.0), no nan/inf, no surrounding spaces
_NUMBER = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_INTEGER = re.compile(r"[+-]?[0-9]+")


def parse_text(name: str, text: str, source: str = "--set"):
    """A value typed for parameter ``name`` (``--set name=text``) -> its typed value.

    Numbers must be plain decimals (``0.05``, ``300``, ``1e-3``): ``0_05``, ``nan``, ``inf`` and
    text with spaces are refused. Raises ScenarioError naming ``source``, the parameter, the text
    and what is expected.
    """
    parameter = _known(name, text, source)
    if parameter.kind is str:
        return text
    if not _NUMBER.fullmatch(text):
        example = "300" if parameter.kind is int else "0.05"
        raise ScenarioError(source, name, text,
                            f"expected {parameter.kind.__name__}: a finite decimal number such "
                            f"as {example} (no digit separators, nan or inf)")
    number = int(text) if parameter.kind is int and _INTEGER.fullmatch(text) else float(text)
    return check_value(name, number, source, shown=text)


def check_value(name: str, value, source: str = "overrides", shown=None):
    """Type-check ``value`` (a number or a string, as TOML and Python give it) for parameter
    ``name`` and return it typed (an integral float for an int parameter -> int, an int for a
    float parameter -> float). Non-``set`` parameters are checked against their bounds here
    (``set`` ones by the scenario field they set). Raises ScenarioError naming ``source``, the
    parameter, the value (``shown`` if given) and the allowed range."""
    parameter = _known(name, value, source)
    shown = value if shown is None else shown
    if parameter.kind is str:
        if not isinstance(value, str):
            raise ScenarioError(source, name, shown, f"expected a string ({parameter.description})")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        expected = "an integer" if parameter.kind is int else "a number"
        raise ScenarioError(source, name, shown, f"expected {expected} ({parameter.description})")
    if isinstance(value, float) and not math.isfinite(value):
        raise ScenarioError(source, name, shown, f"expected a finite {parameter.kind.__name__}")
    if parameter.kind is int:
        if isinstance(value, float):
            if not value.is_integer():
                raise ScenarioError(source, name, shown, "expected int (an integer)")
            value = int(value)
    else:
        try:
            value = float(value)
        except OverflowError:
            raise ScenarioError(source, name, shown, "expected a finite float") from None
    if parameter.apply != "set" and not parameter.within(value):
        raise ScenarioError(source, name, shown, f"must be {parameter.range_text}")
    return value


def check_range(name: str, low: float, high: float) -> str | None:
    """The problem with a swept or prior range ``[low, high]`` of parameter ``name`` (None if it
    lies within the declared bounds)."""
    parameter = PARAMETERS[name]
    for value in (low, high):
        if not parameter.within(value):
            return f"outside the bounds of {name}: must be {parameter.range_text}"
    return None


def _known(name: str, value, source: str) -> Parameter:
    if name not in PARAMETERS:
        raise ScenarioError(source, name, value, f"unknown override (known: {sorted(PARAMETERS)})")
    return PARAMETERS[name]


# ------------------------------------------------------------------------------------------------
# docs/parameters.md and `pricewar parameters`
# ------------------------------------------------------------------------------------------------
BEGIN = "<!-- parameters:begin -->"
END = "<!-- parameters:end -->"


def _range_cell(p: Parameter) -> str:
    if p.kind is str:
        return ", ".join(p.choices) if p.choices else "registered name"
    return f"{'(' if p.strict else '['}{p.bounded_low:,g}, {p.bounded_high:,g}]"


def _slider_cell(p: Parameter) -> str:
    if p.slider is None:
        return ""
    return f"{p.slider.group}: {p.slider.low:g} to {p.slider.high:g}, step {p.slider.step:g}"


def table_rows() -> list[tuple[str, ...]]:
    """(name, path, type, unit, range, description, app slider, source) per parameter."""
    return [(p.name, p.path, p.kind.__name__, p.unit, _range_cell(p), p.description,
             _slider_cell(p), p.source) for p in DECLARATIONS]


def markdown_table() -> str:
    lines = ["| override | scenario path | type | unit | range | description | app slider "
             "| source |", "|---|---|---|---|---|---|---|---|"]
    for name, path, kind, unit, bounds, description, slider, source in table_rows():
        lines.append(f"| `{name}` | `{path}` | {kind} | {unit} | {bounds} | {description} | "
                     f"{slider} | {source} |")
    return "\n".join(lines)


def text_table() -> str:
    """The parameters as plain text (``pricewar parameters``)."""
    rows = [(n, k, u, b, d) for n, _, k, u, b, d, _, _ in table_rows()]
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{n:<{width}}  {k:<5}  {b:<24} {u:<11} {d}" for n, k, u, b, d in rows)


def update_document(path: Path) -> bool:
    """Rewrite the table between the markers of ``path``; True if the file changed."""
    return rewrite_between_markers(path, BEGIN, END, markdown_table())


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/parameters.md")
    print("updated" if update_document(target) else "up to date", target)
