"""Flat overrides (``electricity_cn_west=0.03``, ...) applied to a scenario's plain dict."""

from __future__ import annotations

import math
from typing import Any

from pricewar.errors import ScenarioError
from pricewar.limits import MAX_CONSUMERS, MAX_PLATFORMS, MAX_PRODUCERS, MAX_STEPS
from pricewar.scenario.data_files import PRODUCER_REGIONS
from pricewar.strategies.registry import strategy_names


# ------------------------------------------------------------------------------------------------
# flat overrides
# ------------------------------------------------------------------------------------------------
def _set_all(data: dict, section: str, key: str, value) -> None:
    for group in data[section].values():
        group[key] = value


def _scale_all(section: str, key: str):
    """A computed override: multiplies ``key`` of every group of ``section`` by the value (the
    groups keep their ratios; the scenario's bounds on ``key`` reject a factor <= 0)."""
    def apply(data: dict, value) -> None:
        for group in data[section].values():
            group[key] = group[key] * value
    return apply


def _override_latency(data: dict, value) -> None:
    data["latency_ms"]["cn_west"]["cn_east"] = value
    data["latency_ms"]["cn_east"]["cn_west"] = value


def _scale_counts(section: str):
    def apply(data: dict, total) -> None:
        groups = data[section]
        # owner groups (a firm's one serving arm) keep their count; the others share the rest
        fixed = sum(g["count"] for g in groups.values() if g.get("owner"))
        scalable = {k: g["count"] for k, g in groups.items() if not g.get("owner")}
        base = sum(scalable.values())
        rest = max(int(total) - fixed, 0)
        # largest-remainder apportionment keeps the total exact
        raw = {k: rest * w / base for k, w in scalable.items()} if base else {}
        counts = {k: int(math.floor(v)) for k, v in raw.items()}
        for k in sorted(raw, key=lambda k: raw[k] - counts[k], reverse=True)[
                : rest - sum(counts.values())]:
            counts[k] += 1
        for k, count in counts.items():
            groups[k]["count"] = count
    return apply


def _region_setter(region: str, key: str):
    def apply(data: dict, value) -> None:
        data["regions"][region][key] = value
    return apply


def _scale_consumers(data: dict, total) -> None:
    segments = len(data["regions"]) * len(data["sectors"])
    data["demand"]["consumers_per_segment"] = max(1, round(total / segments))


def _setter(section: str, key: str):
    def apply(data: dict, value) -> None:
        data[section][key] = value
    return apply


#: policy levers of the supply side (``policy`` section) settable by a flat override
_LEVERS = {
    "carbon_price_usd_per_t": ("carbon price on the power bill (USD per t CO2)", float),
    "power_subsidy_domestic_chips": (
        "share of the power bill subsidised for hosts on chips of their own bloc (0-1)", float),
    "capex_subsidy": ("share of chip and facility capex subsidised (0-1)", float),
    "wacc": ("weighted average cost of capital (1/year; host groups add their premium)", float),
    "export_control_penalty": (
        "counterfactual: CN cohorts' throughput / (1 + penalty), J/token x (1 + penalty)", float),
    "export_control_lag_years": (
        "counterfactual: years every CN chip availability window starts later", float),
    "chip_regime": ("chip availability: historical, no_controls or full_ban", str),
}

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
    **{name: (description, _setter("policy", name), kind)
       for name, (description, kind) in _LEVERS.items()},
    "friction_utils": ("cross-bloc access friction on hosts in the other bloc (utils)",
                       _setter("trade", "friction_utils"), float),
    "family_friction_utils": ("friction on families owned in the other bloc (utils)",
                              _setter("trade", "family_friction_utils"), float),
    "tariff_cross_bloc": ("ad valorem tariff on tokens from hosts in the other bloc (share)",
                          _setter("trade", "tariff_cross_bloc"), float),
    "nest_sigma": ("substitution between hosts of one family (nested-logit sigma, 0-0.99)",
                   _setter("demand", "nest_sigma"), float),
    "customer_base_kappa": ("utility bonus of the hosts a consumer bought from last step at "
                            "a full share (utils, 0-5; 0: no customer base)",
                            _setter("demand", "customer_base_kappa_utils"), float),
    "demand_eta": ("elasticity of every sector's volume to its price index",
                   lambda d, v: _set_all(d, "sectors", "eta", v), float),
    "quality_slope": ("utils per GPQA Diamond point of a family's quality",
                      _setter("quality", "slope_utils_per_point"), float),
    "closed_premium": ("quality of closed-weight families beyond their benchmark score (utils)",
                       _setter("quality", "closed_premium_utils"), float),
    "alpha_scale": ("factor on every sector's price sensitivity alpha (1: the scenario's)",
                    _scale_all("sectors", "alpha"), float),
    "demand_growth": ("exogenous task growth per step",
                      lambda d, v: d["demand"].__setitem__("growth_per_step", v), float),
    "producer_strategy": ("strategy of every producer: a registered name "
                          f"({', '.join(strategy_names())}, or one registered with "
                          "pricewar.strategies.register)",
                          lambda d, v: _set_all(d, "producers", "strategy", v), str),
    "n_producers": ("total number of producers (owner-hosts keep one each; independent host "
                    "groups scaled proportionally)", _scale_counts("producers"), int),
    "n_platforms": ("total number of platforms (groups scaled proportionally)",
                    _scale_counts("platforms"), int),
    "n_consumers": ("total number of consumers (regions x sectors x per segment)",
                    _scale_consumers, int),
    "steps": ("number of steps of a run", lambda d, v: d.__setitem__("steps", v), int),
}


#: integer overrides: allowed range (the float overrides are bounded by the scenario fields they
#: set, whose ranges the scenario validation states)
OVERRIDE_RANGES: dict[str, tuple[int, int]] = {
    "n_producers": (1, MAX_PRODUCERS),
    "n_platforms": (1, MAX_PLATFORMS),
    "n_consumers": (1, MAX_CONSUMERS),
    "steps": (1, MAX_STEPS),
}


def check_override_range(source: str, key: str, value, shown=None) -> None:
    """Raise ScenarioError if the integer override ``key`` is outside :data:`OVERRIDE_RANGES`
    (naming ``shown``, e.g. the text typed, instead of ``value`` when given)."""
    if key in OVERRIDE_RANGES:
        low, high = OVERRIDE_RANGES[key]
        if not low <= value <= high:
            raise ScenarioError(source, key, value if shown is None else shown,
                                f"must be >= {low:,} and <= {high:,}")


def plain(data):
    """Strip {value, source} wrappers so overrides can assign plain values."""
    if isinstance(data, dict):
        if set(data) == {"value", "source"}:
            return data["value"]
        return {k: plain(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [plain(v) for v in data]
    return data


def parse_override_value(key: str, text: str | int | float):
    """Type a ``--set key=value`` string, or a TOML number, as the override ``key`` expects.

    Strings are parsed (``"0.05"`` -> 0.05, ``"300"`` -> 300); numbers are checked and passed
    through exactly. Integer overrides are checked against :data:`OVERRIDE_RANGES`, non-finite
    numbers are refused. Raises ScenarioError.
    """
    if key not in OVERRIDES:
        raise ScenarioError("--set", key, text, f"unknown override (known: {sorted(OVERRIDES)})")
    kind = OVERRIDES[key][2]
    if kind is str:
        if not isinstance(text, str):
            raise ScenarioError("--set", key, text, "expected str")
        return text
    try:
        if isinstance(text, bool):
            raise ValueError(text)
        number = text if isinstance(text, int | float) else float(text)
        if kind is int and not isinstance(number, int):
            if not (math.isfinite(number) and number.is_integer()):
                raise ValueError(text)
            number = int(number)
        if kind is float:
            number = float(number)  # an int beyond the float range raises OverflowError
    except (ValueError, OverflowError):
        raise ScenarioError("--set", key, text, f"expected {kind.__name__}") from None
    if kind is float and not math.isfinite(number):
        raise ScenarioError("--set", key, text, "expected a finite float")
    check_override_range("--set", key, number, shown=text)
    return number


def parse_override_pairs(pairs) -> dict:
    """``["key=value", ...]`` (``--set`` arguments) -> typed overrides (ScenarioError on a bad
    key or value)."""
    overrides = {}
    for pair in pairs:
        if "=" not in pair:
            raise ScenarioError("--set", pair, pair, "expected key=value")
        key, value = pair.split("=", 1)
        overrides[key.strip()] = parse_override_value(key.strip(), value.strip())
    return overrides


def flatten(data, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for k, v in data.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: data}
