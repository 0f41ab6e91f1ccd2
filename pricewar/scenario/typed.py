"""Validated construction of frozen dataclasses from TOML tables.

Field metadata ``{"min", "max", "strict"}`` bounds numbers (default lower bound 0; a number
without a stated upper bound, or lower bound ``None``, is bounded in magnitude by
:data:`pricewar.limits.MAX_MAGNITUDE`) and ``built_by`` hands a field to its own builder; ``X | None`` takes None or an ``X``; a number may be written
plain or as
``{value = ..., source = "..."}`` (the source is recorded by key path). Every
problem raises :class:`~pricewar.errors.ScenarioError` naming the origin, key path and value.

This builder, not pydantic, is the package's validator (scenario sections, strategy parameters,
calibration budgets): it already gives the one-line errors the command line prints (origin, key
path, value, allowed range), records ``{value, source}`` sources by key path, and its bounds are
field metadata that :mod:`pricewar.scenario.parameters` declares once; pydantic would add a
dependency and a second error format to translate, for no check this builder lacks.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pricewar.errors import ScenarioError
from pricewar.limits import MAX_MAGNITUDE


def bounds(minimum: float | None = 0.0, maximum: float | None = None, strict: bool = False):
    """Field metadata bounding a number (default: >= 0)."""
    return {"min": minimum, "max": maximum, "strict": strict}


def built_by(builder: Callable[[object, str, str, dict], Any]):
    """Field metadata: the field is built by ``builder(value, key_path, origin, sources)``."""
    return {"build": builder}


# ------------------------------------------------------------------------------------------------
# generic validated construction
# ------------------------------------------------------------------------------------------------
def fail(origin: str, path: str, value: object, problem: str) -> typing.NoReturn:
    raise ScenarioError(origin, path or "<root>", value, problem)


def _check_number(value: object, path: str, origin: str, meta: Mapping, integer: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        fail(origin, path, value, f"expected {'an integer' if integer else 'a number'}")
    if isinstance(value, float) and math.isnan(value):
        fail(origin, path, value, "NaN is not allowed")
    if isinstance(value, float) and math.isinf(value):
        fail(origin, path, value, "infinite values are not allowed")
    if integer and not isinstance(value, int) and not float(value).is_integer():
        fail(origin, path, value, "expected an integer")
    low, high = meta.get("min", 0.0), meta.get("max")
    if low is None:
        low = -MAX_MAGNITUDE
    if high is None:
        high = MAX_MAGNITUDE
    strict = meta.get("strict", False)
    if value < low or (strict and value <= low) or value > high:
        fail(origin, path, value, f"must be {'>' if strict else '>='} {low:g} and <= {high:g}")
    return int(value) if integer else value


def _build(tp: Any, value: object, path: str, origin: str, meta: Mapping, sources: dict) -> Any:
    if isinstance(value, dict) and set(value) == {"value", "source"} and not (
            dataclasses.is_dataclass(tp)):
        if not isinstance(value["source"], str):
            fail(origin, path + ".source", value["source"], "source must be a string")
        sources[path] = value["source"]
        value = value["value"]
    origin_tp = typing.get_origin(tp)
    if origin_tp is types.UnionType and type(None) in typing.get_args(tp):  # ``X | None``
        if value is None:
            return None
        (tp,) = (t for t in typing.get_args(tp) if t is not type(None))
        return _build(tp, value, path, origin, meta, sources)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            fail(origin, path, value, f"expected a table for {tp.__name__}")
        return build_dataclass(tp, value, path, origin, sources)
    if tp is float or tp is int:
        return _check_number(value, path, origin, meta, integer=tp is int)
    if tp is bool:
        if not isinstance(value, bool):
            fail(origin, path, value, "expected true or false")
        return value
    if tp is str:
        if not isinstance(value, str):
            fail(origin, path, value, "expected a string")
        return value
    if origin_tp is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            fail(origin, path, value, f"must be one of {list(allowed)}")
        return value
    if origin_tp is tuple:
        (item_tp, _) = typing.get_args(tp)
        if not isinstance(value, list | tuple):
            fail(origin, path, value, "expected a list")
        return tuple(_build(item_tp, v, f"{path}[{i}]", origin, meta, sources)
                     for i, v in enumerate(value))
    if origin_tp is dict:
        _, item_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            fail(origin, path, value, "expected a table")
        return {k: _build(item_tp, v, f"{path}.{k}", origin, meta, sources)
                for k, v in value.items()}
    raise TypeError(f"unsupported field type {tp!r}")  # a programming error, not user input


def build_dataclass(cls, data: dict, path: str, origin: str, sources: dict):
    """Build dataclass ``cls`` from table ``data`` at ``path``: unknown keys, missing required
    keys and bad values raise :class:`~pricewar.errors.ScenarioError`."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.name not in ("sources", "origin")}
    unknown = sorted(set(data) - names)
    if unknown:
        key = f"{path}.{unknown[0]}" if path else unknown[0]
        fail(origin, key, data[unknown[0]], f"unknown key (expected one of {sorted(names)})")
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in ("sources", "origin"):
            continue
        key = f"{path}.{f.name}" if path else f.name
        if f.name not in data:
            if f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING:
                continue
            fail(origin, key, None, "missing required key")
        if "build" in f.metadata:
            kwargs[f.name] = f.metadata["build"](data[f.name], key, origin, sources)
        else:
            kwargs[f.name] = _build(hints[f.name], data[f.name], key, origin, f.metadata, sources)
    return cls(**kwargs)


def check_fields(instance, origin: str) -> None:
    """Check the fields of a constructed dataclass as :func:`build_dataclass` checks a table
    (for ``__post_init__``, so ``dataclasses.replace`` meets the same bounds)."""
    hints = typing.get_type_hints(type(instance))
    for f in dataclasses.fields(instance):
        if f.name in ("sources", "origin") or "build" in f.metadata:
            continue
        _build(hints[f.name], getattr(instance, f.name), f.name, origin, f.metadata, {})
