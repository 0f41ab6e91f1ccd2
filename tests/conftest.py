"""Shared test helpers: the command line run in-process, named population sizes, and one small
finished baseline run for the tests that only read a run's outputs.

Import the helpers with ``from conftest import ...`` (pytest puts ``tests/`` on ``sys.path``).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import pytest

#: Named population sizes (industrial consumers). Each test keeps the size it was written and
#: checked with; pick the smallest that shows the behaviour a new test looks at.
TINY = 100  # unit behaviour of one model: agents, strategies, reporters
SMALL = 125  # CLI runs, sweeps, faults and bounds: a run is about a second
MEDIUM = 250  # model dynamics over tens of steps (market shares, exits, network)

#: Override mappings (never mutate them: copy with ``{**SMALL_OVERRIDES, ...}``) and their
#: ``--set`` form, for ``PriceWarModel(**...)``,
#: ``run_model(overrides=...)``, sweep specs' ``fixed`` and the command line.
TINY_OVERRIDES = {"n_consumers": TINY}
SMALL_OVERRIDES = {"n_consumers": SMALL}
MEDIUM_OVERRIDES = {"n_consumers": MEDIUM}


def set_flags(overrides: dict) -> list[str]:
    """``--set key=value`` flags of an override mapping."""
    return [flag for key, value in overrides.items() for flag in ("--set", f"{key}={value}")]


SMALL_SET = set_flags(SMALL_OVERRIDES)

#: The session's baseline run (see the ``baseline_run`` fixture): seed, steps and size.
BASELINE_RUN = {"seed": 1, "steps": 2, "overrides": SMALL_OVERRIDES}


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``pricewar *argv`` run in-process (argparse's
    ``SystemExit`` counted as the exit code)."""
    from pricewar.cli import main

    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@functools.cache
def baseline_frames(seed: int, steps: int, n_consumers: int):
    """(model frame, agents frame) of an in-memory baseline run, computed once per process; treat
    them as read-only."""
    from pricewar.runs.runner import agents_frame, model_frame, run_model

    model = run_model("baseline", steps=steps, seed=seed,
                      overrides={"n_consumers": n_consumers}, progress=False)
    return model_frame(model), agents_frame(model)


@pytest.fixture(scope="session")
def baseline_run(tmp_path_factory) -> Path:
    """The folder of ``pricewar run baseline`` with :data:`BASELINE_RUN`'s seed, steps and size,
    made once per test process. Read it or copy it; never write into it."""
    from pricewar.cli import main

    out = tmp_path_factory.mktemp("baseline") / "run"
    argv = ["run", "baseline", "--seed", str(BASELINE_RUN["seed"]), "--steps",
            str(BASELINE_RUN["steps"]), *set_flags(BASELINE_RUN["overrides"]), "--out", str(out),
            "--quiet"]
    assert main(argv) == 0
    return out


@pytest.fixture
def model_steps(monkeypatch) -> list:
    """A list that records every step of a :class:`PriceWarModel` in this process during the test
    (the step is refused with an ``AssertionError``): a test of "fails before running" asserts it
    stays empty. (Some values are refused while the model is built, before its first step: an
    override that makes the route utilities overflow, for one.)"""
    from pricewar.model.price_war_model import PriceWarModel

    steps: list = []

    def refuse(self, *args, **kwargs):
        steps.append(self)
        raise AssertionError("a PriceWarModel stepped")

    monkeypatch.setattr(PriceWarModel, "step", refuse)
    return steps


def pytest_collection_modifyitems(config, items):
    """Deselect tests marked ``slow`` unless ``-m`` names them (``make test-slow`` runs
    ``-m slow``). An ``addopts = "-m 'not slow'"`` would be replaced by any other ``-m``, so
    ``pytest -m 'not integration'`` would run the slow tests too."""
    if "slow" in (config.option.markexpr or ""):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]


def load_script(name: str):
    """Import experiments/<name>.py as a module (the scripts are not a package)."""
    spec = importlib.util.spec_from_file_location(
        f"experiment_{name}", Path(__file__).resolve().parents[1] / "experiments" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
