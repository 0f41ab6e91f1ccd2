"""Loading scenarios: shipped names or TOML paths, merged over the calibration data.

A scenario file may inherit from another with ``base = "baseline"`` (a shipped name) or
``base = "other.toml"`` (a path, relative to the file): it then holds only the keys it changes,
merged over its base's file, which may itself have a base. Without its own ``name`` it is named
after its file; without a ``description`` it says which scenario it is based on.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pricewar.errors import ScenarioError
from pricewar.limits import MAX_BASE_CHAIN
from pricewar.scenario.data_files import calibration_defaults, data_dir, merge, read_toml
from pricewar.scenario.resolve import Scenario, scenario_from_dict


def scenario_names() -> list[str]:
    """Names of the scenarios shipped in ``pricewar/data/scenarios``."""
    return sorted(p.stem for p in (data_dir() / "scenarios").glob("*.toml"))


def scenario_descriptions() -> dict[str, str]:
    """Each shipped scenario's name -> its file's ``description``."""
    return {name: str(read_toml(data_dir() / "scenarios" / f"{name}.toml").get("description", ""))
            for name in scenario_names()}


def _scenario_path(scenario: str, relative_to: Path | None = None) -> Path:
    """The file of a shipped scenario name or a ``.toml`` path.

    Raises ScenarioError naming the referring file's ``base`` key (``relative_to`` given) or the
    argument itself (``<name>``, ``<file>``) when there is no such scenario.
    """
    origin, key = (str(relative_to), "base") if relative_to is not None else (scenario, None)
    path = Path(scenario)
    if path.suffix != ".toml":
        if scenario not in scenario_names():
            raise ScenarioError(origin, key or "<name>", scenario,
                                f"unknown scenario (shipped: {scenario_names()}; or give a "
                                f".toml path)")
        return data_dir() / "scenarios" / f"{scenario}.toml"
    if relative_to is not None and not path.is_absolute():
        path = relative_to.parent / path
    if not path.exists():
        raise ScenarioError(origin if key else str(path), key or "<file>", str(path),
                            "file not found")
    return path


def scenario_file_content(path: Path, _chain: tuple[Path, ...] = ()) -> dict:
    """The content of a scenario file with its ``base`` chain merged in (base first)."""
    content = read_toml(path)
    if "base" not in content:
        return content
    base = content.pop("base")
    if not isinstance(base, str) or not base:
        raise ScenarioError(str(path), "base", base,
                            "expected a scenario name (baseline, parity) or a .toml path")
    base_path = _scenario_path(base, relative_to=path)
    chain = (*_chain, path.resolve())
    if len(chain) >= MAX_BASE_CHAIN:
        raise ScenarioError(str(path), "base", base,
                            f"a chain of more than {MAX_BASE_CHAIN} base files (from "
                            f"{chain[0].name}): merge some of them")
    if base_path.resolve() in chain:
        cycle = " -> ".join(p.name for p in (*chain, base_path.resolve()))
        raise ScenarioError(str(path), "base", base, f"circular base ({cycle})")
    parent = scenario_file_content(base_path, chain)
    content.setdefault("name", path.stem)
    content.setdefault("description", f"{parent.get('description', '')} "
                                      f"(changed by {path.name}, based on {base})".strip())
    return merge(parent, content)


def load_scenario(scenario: str | Path | Scenario | None = "baseline") -> Scenario:
    """Load a scenario by name (shipped), by path to a TOML file, or pass a Scenario through.

    A scenario file is merged over its ``base`` scenario, if it names one, and then over the
    calibration defaults, unless it is a fully resolved scenario (it then contains every section
    itself, as written by ``pricewar run``).
    """
    if isinstance(scenario, Scenario):
        return scenario
    if scenario is None:
        scenario = "baseline"
    path = _scenario_path(str(scenario))
    content = scenario_file_content(path)
    sections = {f.name for f in dataclasses.fields(Scenario)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    # a fully resolved scenario (as written by `pricewar run`) is taken as it is
    merged = content if sections <= set(content) else merge(calibration_defaults(), content)
    return scenario_from_dict(merged, origin=str(path))
