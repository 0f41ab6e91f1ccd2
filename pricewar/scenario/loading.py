"""Loading scenarios: shipped names or TOML paths, merged over the calibration data."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pricewar.errors import ScenarioError
from pricewar.scenario.calibration import calibration_defaults, data_dir, merge, read_toml
from pricewar.scenario.resolve import Scenario, scenario_from_dict


def scenario_names() -> list[str]:
    """Names of the scenarios shipped in ``pricewar/data/scenarios``."""
    return sorted(p.stem for p in (data_dir() / "scenarios").glob("*.toml"))


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
        path = data_dir() / "scenarios" / f"{scenario}.toml"
    elif not path.exists():
        raise ScenarioError(str(path), "<file>", str(path), "file not found")
    content = read_toml(path)
    sections = {f.name for f in dataclasses.fields(Scenario)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    # a fully resolved scenario (as written by `pricewar run`) is taken as it is
    merged = content if sections <= set(content) else merge(calibration_defaults(), content)
    return scenario_from_dict(merged, origin=str(path))
