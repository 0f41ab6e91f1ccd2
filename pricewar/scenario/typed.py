"""Validated construction of frozen dataclasses from TOML tables.

Field metadata ``{"min", "max", "strict"}`` bounds numbers (default lower bound 0; a number
without a stated upper bound, or lower bound ``None``, is bounded in magnitude by
:data:`pricewar.limits.MAX_MAGNITUDE`) and ``built_by`` hands a field to its own builder;
``X | None`` takes None or an ``X``; a number may be written plain or as
``{value = ..., source = "..."}`` (the source is recorded by key path). :func:`choices` limits a
string to a set of names, :func:`listed` bounds a list (``tuple[X, ...]``: non-empty, distinct,
at most N items), :func:`table` the keys of a table of values or of tables (``dict[str, X]``),
:func:`checked_by` hands each value to a shared checker (seeds:
:func:`pricewar.limits.check_seed`); ``Any`` takes a value as written (typed later by its own
declaration, e.g. an override's). Metadata of a list or a table applies to its items. Every
problem raises :class:`~pricewar.errors.ScenarioError` naming the origin, key path and value.

This builder, not pydantic, is the package's one validator (scenario sections, strategy
parameters, sweep specs, calibration specs): it already gives the one-line errors the command
line prints (origin, key path, value, allowed range), records ``{value, source}`` sources by key
path, and its bounds are field metadata that :mod:`pricewar.scenario.parameters` declares once;
pydantic would add a dependency and a second error format to translate, for no check this
builder lacks. What a field cannot state (a rule between fields, e.g. a grid's ``num`` or a
prior's ``low < high``) stays in one small function of the spec that has it.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pricewar.errors import LocatedInputError, ScenarioError
from pricewar.limits import MAX_MAGNITUDE, check_int


def bounds(minimum: float | None = 0.0, maximum: float | None = None, strict: bool = False,
           interval: bool = False, note: str = ""):
    """Field metadata bounding a number (default: >= 0). ``interval``: an integer worded as
    ``[low, high]`` (``[1, 5,200]``, as :func:`pricewar.limits.check_int` words it); ``note``: what
    the number is, appended to the problem (``(a positive number)``)."""
    return {"min": minimum, "max": maximum, "strict": strict, "interval": interval, "note": note}


def choices(names, unknown: str = ""):
    """Field metadata: a string is one of ``names`` (a collection, or a function returning one,
    read when checked). Problem: ``expected one of [...]``, or ``<unknown> (known: [...])``."""
    return {"choices": names, "unknown": unknown}


def listed(nonempty: bool = True, distinct: bool = False, max_items: int | None = None,
           what: str = "values"):
    """Field metadata of a list: non-empty, distinct items, at most ``max_items`` ``what``."""
    return {"nonempty": nonempty, "distinct": distinct, "max_items": max_items, "what": what}


def table(keys=None, unknown: str = "unknown key", nonempty: bool = False,
          refused: Mapping[str, str] | None = None):
    """Field metadata of a table (``dict[str, X]``): its keys are among ``keys`` (as
    :func:`choices`) and not among ``refused`` (key -> the problem, e.g. where else it is set),
    and it has at least one when ``nonempty``."""
    return {"keys": keys, "keys_unknown": unknown, "table_nonempty": nonempty,
            "refused": dict(refused or {})}


def checked_by(checker: Callable[[str, str, object], Any]):
    """Field metadata: each value is checked and returned by ``checker(origin, key_path, value)``
    (a shared checker, e.g. :func:`pricewar.limits.check_seed`, raising a located error)."""
    return {"check": checker}


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
    if integer and meta.get("interval"):
        return _checked(lambda o, p, v: check_int(o, p, v, int(low), int(high)), origin, path,
                        value)
    strict = meta.get("strict", False)
    if value < low or (strict and value <= low) or value > high:
        note = f" ({meta['note']})" if meta.get("note") else ""
        fail(origin, path, value,
             f"must be {'>' if strict else '>='} {low:g} and <= {high:g}{note}")
    return int(value) if integer else value


def _checked(checker: Callable, origin: str, path: str, value: object):
    """``checker(origin, path, value)``, its located error raised as a ScenarioError."""
    try:
        return checker(origin, path, value)
    except LocatedInputError as error:
        fail(origin, error.key_path, error.value, error.problem)


def _names(meta: Mapping, key: str) -> list:
    names = meta[key]
    return list(names() if callable(names) else names)


def _check_choice(value: str, path: str, origin: str, names: list, unknown: str) -> None:
    if value not in names:
        fail(origin, path, value,
             f"{unknown} (known: {names})" if unknown else f"expected one of {names}")


def _check_list(value: list, path: str, origin: str, meta: Mapping) -> None:
    what, most = meta.get("what", "values"), meta.get("max_items")
    if meta.get("nonempty") and not value:
        fail(origin, path, value, "expected a non-empty list")
    if most is not None and len(value) > most:
        fail(origin, path, f"<{len(value):,} {what}>", f"at most {most:,} {what}")


def _check_distinct(items: tuple, path: str, origin: str, meta: Mapping) -> None:
    if meta.get("distinct") and len(set(items)) != len(items):
        fail(origin, path, list(items), f"{meta.get('what', 'values')} must be distinct")


def _build(tp: Any, value: object, path: str, origin: str, meta: Mapping, sources: dict) -> Any:
    if tp is Any:  # typed later by its own declaration
        return value
    if "check" in meta and tp in (int, float, str, bool):
        return _checked(meta["check"], origin, path, value)
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
        if "choices" in meta:
            _check_choice(value, path, origin, _names(meta, "choices"), meta.get("unknown", ""))
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
        _check_list(value, path, origin, meta)
        items = tuple(_build(item_tp, v, f"{path}[{i}]", origin, meta, sources)
                      for i, v in enumerate(value))
        _check_distinct(items, path, origin, meta)
        return items
    if origin_tp is dict:
        _, item_tp = typing.get_args(tp)
        if not isinstance(value, dict):
            fail(origin, path, value, "expected a table")
        if meta.get("table_nonempty") and not value:
            fail(origin, path, value, "expected a non-empty table")
        refused = meta.get("refused", {})
        names = None if meta.get("keys") is None else _names(meta, "keys")
        for k, v in value.items():
            if k in refused:
                fail(origin, f"{path}.{k}", v, refused[k])
            if names is not None and k not in names:
                fail(origin, f"{path}.{k}", v, f"{meta['keys_unknown']} (known: {names})")
        return {k: _build(item_tp, v, f"{path}.{k}", origin, meta, sources)
                for k, v in value.items()}
    raise TypeError(f"unsupported field type {tp!r}")  # a programming error, not user input


def build_value(tp: Any, value: object, path: str, origin: str, meta: Mapping | None = None):
    """Build one value of type ``tp`` (e.g. ``dict[str, Any]``) as a field of that type with
    metadata ``meta`` is built."""
    return _build(tp, value, path, origin, meta or {}, {})


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
