"""The typed builder (pricewar.scenario.typed): the one validator of scenario tables, sweep specs
and calibration specs. Each check is field metadata and words its problem in one line."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from pricewar.calibrate.spec import CalibrationSpecError, load_calibration_spec
from pricewar.errors import ScenarioError
from pricewar.limits import MAX_STEPS, check_seed
from pricewar.scenario.typed import (
    bounds,
    build_dataclass,
    checked_by,
    choices,
    listed,
    table,
)
from pricewar.sweep.spec import SpecError, load_spec

NAMES = ["b", "a"]


@dataclass(frozen=True)
class Item:
    size: int = field(default=1, metadata=bounds(1, MAX_STEPS, interval=True))


@dataclass(frozen=True)
class Example:
    kind: str = field(default="a", metadata=choices(("a", "b")))
    name: str = field(default="a", metadata=choices(lambda: NAMES, unknown="unknown name"))
    seeds: tuple[int, ...] = field(default=(1,), metadata=checked_by(check_seed)
                                   | listed(distinct=True, max_items=3, what="seeds"))
    items: dict[str, Item] = field(default_factory=dict, metadata=table(
        keys=("x", "y", "steps"), unknown="unknown item", nonempty=False,
        refused={"steps": "set elsewhere"}))
    raw: Any = None
    weight: float = field(default=1.0, metadata=bounds(0.0, strict=True, note="a positive number"))


def problem(data: dict) -> tuple[str, object, str]:
    with pytest.raises(ScenarioError) as info:
        build_dataclass(Example, data, "", "file.toml", {})
    assert "\n" not in str(info.value) and str(info.value).startswith("file.toml: ")
    return info.value.key_path, info.value.value, info.value.problem


@pytest.mark.parametrize("data, expected", [
    ({"kind": "c"}, ("kind", "c", "expected one of ['a', 'b']")),
    ({"name": "c"}, ("name", "c", "unknown name (known: ['b', 'a'])")),
    ({"seeds": []}, ("seeds", [], "expected a non-empty list")),
    ({"seeds": [1, 1]}, ("seeds", [1, 1], "seeds must be distinct")),
    ({"seeds": [1, 2, 3, 4]}, ("seeds", "<4 seeds>", "at most 3 seeds")),
    ({"seeds": [1, -2]}, ("seeds[1]", -2, "must be in [0, 2**63 - 1] (a numpy seed)")),
    ({"items": {"z": {}}}, ("items.z", {}, "unknown item (known: ['x', 'y', 'steps'])")),
    ({"items": {"steps": {}}}, ("items.steps", {}, "set elsewhere")),
    ({"items": {"x": {"size": 0}}}, ("items.x.size", 0, "must be in [1, 5,200]")),
    ({"items": {"x": {"size": 1.5}}}, ("items.x.size", 1.5, "expected an integer")),
    ({"items": {"x": 3}}, ("items.x", 3, "expected a table for Item")),
    ({"weight": 0}, ("weight", 0, "must be > 0 and <= 1e+12 (a positive number)")),
])
def test_field_metadata_words_one_line_errors(data, expected):
    assert problem(data) == expected


def test_names_are_read_when_checked_and_any_is_taken_as_written():
    NAMES.append("c")
    try:
        built = build_dataclass(Example, {"name": "c", "raw": {"value": 1, "source": "s"},
                                          "items": {"y": {"size": 3}}}, "", "f", {})
    finally:
        NAMES.remove("c")
    assert built.name == "c" and built.items == {"y": Item(3)}
    assert built.raw == {"value": 1, "source": "s"}  # not unwrapped: typed by its declaration


def test_sweep_and_calibration_specs_word_unknown_keys_as_scenarios_do():
    """One validator: an unknown key reads the same in a sweep spec and a calibration spec."""
    from tests.test_calibrate import spec as calibration_spec

    with pytest.raises(SpecError) as sweep:
        load_spec({"steps": 2, "colour": "red", "design": {"kind": "grid", "parameters": {
            "demand_growth": {"values": [0.03]}}}})
    with pytest.raises(CalibrationSpecError) as calibration:
        load_calibration_spec(calibration_spec(colour="red"), check_reporters=False)
    for error in (sweep.value, calibration.value):
        assert error.key_path == "colour"
        assert error.problem.startswith("unknown key (expected one of [")
