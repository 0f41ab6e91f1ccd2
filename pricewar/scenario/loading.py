"""Loading scenarios: shipped names or TOML paths, merged over the calibration data."""

from __future__ import annotations

import copy
import dataclasses
import tomllib
from importlib import resources
from pathlib import Path

from pricewar.errors import ScenarioError
from pricewar.scenario.resolve import Scenario, scenario_from_dict
from pricewar.scenario.schema import CALIBRATION_FILES


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
