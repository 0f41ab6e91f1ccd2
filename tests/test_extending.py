"""docs/extending.md runs as written (every file, command and Python block of each section, in an
empty folder), and the extension points it shows behave: scenario inheritance, a registered
strategy, extra reporters, the EMA Workbench adapter."""

from __future__ import annotations

import contextlib
import importlib.util
import re
import shlex
from pathlib import Path

import pytest

from pricewar.cli import main
from pricewar.errors import ScenarioError
from pricewar.scenario import load_scenario
from pricewar.strategies.registry import STRATEGY_OBSERVERS, STRATEGY_PARAMS, STRATEGY_REGISTRY

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "extending.md"
BLOCK = re.compile(r"(?:<!-- (file|requires): (\S+) -->\n)?```(\w+)\n(.*?)```", re.S)


def sections() -> dict[str, str]:
    parts = re.split(r"^## ", GUIDE.read_text(), flags=re.M)[1:]
    return {part.splitlines()[0]: part for part in parts}


@contextlib.contextmanager
def registries_restored():
    """Strategies the guide registers do not leak into other tests."""
    saved = [dict(r) for r in (STRATEGY_REGISTRY, STRATEGY_PARAMS, STRATEGY_OBSERVERS)]
    try:
        yield
    finally:
        for registry, before in zip((STRATEGY_REGISTRY, STRATEGY_PARAMS, STRATEGY_OBSERVERS),
                                    saved, strict=True):
            registry.clear()
            registry.update(before)


def run_section(text: str, folder: Path) -> dict:
    """Write its files, run its ``pricewar`` commands and execute its Python, in order."""
    namespace: dict = {"__name__": "guide"}
    for marker, value, language, body in BLOCK.findall(text):
        if marker == "requires" and importlib.util.find_spec(value) is None:
            pytest.skip(f"{value} is not installed (pip install 'pricewar[ema]')")
        if marker == "file":
            (folder / value).write_text(body)
        elif language == "bash":
            for line in body.splitlines():
                if line.startswith("pricewar "):
                    assert main(shlex.split(line, comments=True)[1:]) == 0, line
        elif language == "python":
            code = compile(body, f"{GUIDE.name}: {text.splitlines()[0]}", "exec",
                           dont_inherit=True)  # as a reader runs it: no __future__ of ours
            exec(code, namespace)
    return namespace


def test_the_guide_has_the_four_sections():
    assert list(sections()) == ["A scenario that inherits from another",
                                "A new pricing strategy", "A new reporter",
                                "pricewar from the EMA Workbench"]


@pytest.mark.parametrize("title", list(sections()))
def test_guide_section_runs_as_written(title, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with registries_restored():
        run_section(sections()[title], tmp_path)


# ------------------------------------------------------------------------------------------------
# the extension points themselves
# ------------------------------------------------------------------------------------------------
def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_an_inheriting_scenario_equals_its_base_with_the_changes(tmp_path):
    child = _write(tmp_path / "child.toml", 'base = "parity"\nname = "parity"\n'
                   'description = "All regions on US electricity (0.081 USD/kWh), every bloc buys '
                   'every chip (no export controls), CN hosts start on H100"\n')
    assert load_scenario(child) == load_scenario("parity")
    changed = _write(tmp_path / "changed.toml", 'base = "parity"\nsteps = 12\n'
                     "[demand]\ngrowth_per_step = 0.01\n")
    scenario = load_scenario(changed)
    assert scenario.name == "changed" and "based on parity" in scenario.description
    assert scenario.steps == 12 and scenario.demand.growth_per_step == 0.01
    assert scenario.regions == load_scenario("parity").regions


@pytest.mark.parametrize("base, problem", [
    ('"nope"', "unknown scenario"), ('"missing.toml"', "file not found"), ("3", "expected a "
                                                                           "scenario name"),
])
def test_a_bad_base_names_the_file_and_the_key(tmp_path, base, problem):
    path = _write(tmp_path / "bad.toml", f"base = {base}\n")
    with pytest.raises(ScenarioError) as raised:
        load_scenario(path)
    assert raised.value.source == str(path) and raised.value.key_path == "base"
    assert problem in str(raised.value)


def test_circular_bases_are_an_error(tmp_path):
    _write(tmp_path / "a.toml", 'base = "b.toml"\n')
    _write(tmp_path / "b.toml", 'base = "a.toml"\n')
    with pytest.raises(ScenarioError, match="circular base"):
        load_scenario(tmp_path / "a.toml")


def test_an_invalid_change_in_an_inheriting_file_is_reported_with_its_key(tmp_path):
    path = _write(tmp_path / "bad_value.toml",
                  'base = "baseline"\n[regions.us]\nelectricity_usd_per_kwh = -1.0\n')
    with pytest.raises(ScenarioError, match="regions.us.electricity_usd_per_kwh"):
        load_scenario(path)


def test_extra_reporters_follow_pricewars_own_and_cannot_replace_them():
    from pricewar.model.metrics import Declaration, PriceWarDataCollector, metric_names

    regions = ("cn_west", "cn_east", "us", "eu")
    collector = PriceWarDataCollector(regions, {"twice": (lambda m: 2.0, Declaration("1", "2"))})
    assert list(collector.model_reporters) == [*metric_names(regions), "twice"]
    assert collector.declarations["twice"].meaning == "2"
    assert collector.declarations["price_us"].unit == "USD/Mtok"
    with pytest.raises(ValueError, match="price_avg"):
        PriceWarDataCollector(regions, {"price_avg": (lambda m: 0.0, Declaration("1", ""))})


def test_ema_adapter_rejects_unknown_overrides_and_outcomes():
    pytest.importorskip("ema_workbench")
    from pricewar.runs.ema import ema_model

    with pytest.raises(ScenarioError, match="unknown override"):
        ema_model({"warp_speed": (0, 1)})
    with pytest.raises(ScenarioError, match="low < high"):
        ema_model({"electricity_us": (0.1, 0.05)})
    with pytest.raises(ValueError, match="unknown outcomes"):
        ema_model({"electricity_us": (0.05, 0.1)}, outcomes=("profit_of_mars",))


def test_run_outcomes_equals_a_run_with_the_same_overrides():
    from pricewar.runs.ema import run_outcomes
    from pricewar.runs.runner import run_model

    outcomes = run_outcomes("parity", steps=3, seed=2, outcomes=("price_avg",),
                            n_consumers=150, hub_latency_ms=40.0)
    model = run_model("parity", steps=3, seed=2, progress=False,
                      overrides={"n_consumers": 150, "hub_latency_ms": 40.0})
    assert outcomes == {"price_avg": model.metrics["price_avg"]}
