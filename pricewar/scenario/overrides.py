"""Flat overrides (``electricity_cn_west=0.03``, ...) applied to a scenario's plain dict; the
overrides, their types and bounds are declared in :mod:`pricewar.scenario.parameters`."""

from __future__ import annotations

import math
import re
from typing import Any

from pricewar.errors import ScenarioError
from pricewar.scenario.parameters import DECLARATIONS, Parameter, check_value, parse_text


# ------------------------------------------------------------------------------------------------
# flat overrides
# ------------------------------------------------------------------------------------------------
def _groups(data: dict, section: str) -> dict:
    """The groups of ``section``, a dotted path (``sectors``, ``complements.owners``)."""
    for name in section.split("."):
        data = data[name]
    return data


def _set_all(data: dict, section: str, key: str, value) -> None:
    for group in _groups(data, section).values():
        group[key] = value


def _scale_all(section: str, key: str):
    """A computed override: multiplies ``key`` of every group of ``section`` by the value (the
    groups keep their ratios; the scenario's bounds on ``key`` reject a factor <= 0)."""
    def apply(data: dict, value) -> None:
        for group in _groups(data, section).values():
            group[key] = group[key] * value
    return apply


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


def _scale_consumers(data: dict, total) -> None:
    segments = len(data["regions"]) * len(data["sectors"])
    data["demand"]["consumers_per_segment"] = max(1, round(total / segments))


_SET_ALL = re.compile(r"([\w.]+)\.\*\.(\w+)")


def _applier(parameter: Parameter):
    """The function writing a value of ``parameter`` into a scenario's plain dict."""
    section, _, key = parameter.path.partition(".")
    if parameter.apply == "symmetric":  # a latency pair, both directions
        a, b = key.split(".")
        return lambda data, value: (data[section][a].__setitem__(b, value),
                                    data[section][b].__setitem__(a, value))
    if parameter.apply == "scale":
        return _scale_all(*_SET_ALL.fullmatch(parameter.path).groups())
    if parameter.apply == "count":
        return _scale_counts(section)
    if parameter.apply == "consumers":
        return _scale_consumers
    if parameter.apply == "steps":
        return lambda data, value: data.__setitem__(section, value)
    if (every := _SET_ALL.fullmatch(parameter.path)) is not None:
        return lambda data, value: _set_all(data, *every.groups(), value)
    keys = parameter.path.split(".")

    def apply(data: dict, value) -> None:
        node = data
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return apply


#: Flat override keys -> (description with unit, function applying the value to the scenario
#: dict, type), generated from :data:`pricewar.scenario.parameters.DECLARATIONS`
OVERRIDES: dict[str, tuple[str, Any, type]] = {
    p.name: (f"{p.description} ({p.unit})" if p.unit not in ("-", "1") else p.description,
             _applier(p), p.kind)
    for p in DECLARATIONS}


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

    Strings are parsed strictly (``"0.05"`` -> 0.05, ``"300"`` -> 300; ``"0_05"``, ``"nan"``
    and ``"inf"`` are refused: :func:`~pricewar.scenario.parameters.parse_text`); numbers are
    checked and passed through exactly (:func:`~pricewar.scenario.parameters.check_value`).
    Raises ScenarioError.
    """
    if isinstance(text, str):
        return parse_text(key, text)
    return check_value(key, text, "--set")


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
