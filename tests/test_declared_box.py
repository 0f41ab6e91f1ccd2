"""Finiteness over the declared box (issue 28 item 3): every value the parameter declarations
(``pricewar/scenario/parameters.py``) accept gives a finite run that conserves volume.

Each example draws every declared parameter at once, uniformly over its declared bounds (or, one
draw in ten, one of its bounds), runs a tiny baseline model for 20 steps and asserts
that every model and agent reporter is finite and that, at every step, served + unserved + not
bought = demand at posted prices. A draw the scenario builder refuses with a one-line error
(a cross-field rule, e.g. an ``alpha_scale`` that puts a sector's alpha at or below 1) is not
an accepted value: it is counted as an event, not run.

The model-size parameters are drawn from their lower bound up to a small size (the run is
tiny by design); each is also run alone at its declared maximum for 5 steps (slow). ``steps``
is the run length, 20 (its maximum, 5,200, is checked by the validator in ``test_bounds.py``).

The fast variant (8 draws) runs in the default suite; the slow ones (``-m slow``) draw 300 and
run the maximum sizes.
"""

from __future__ import annotations

import logging
import warnings
from datetime import timedelta

import numpy as np
import pytest
from conftest import TINY
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from pricewar.errors import KernelInputError, ScenarioError
from pricewar.model.health import NonFiniteRunError
from pricewar.model.metrics import PLATFORM_REPORTERS, PRODUCER_REPORTERS
from pricewar.runs.runner import agents_frame, model_frame, run_model
from pricewar.scenario.parameters import DECLARATIONS, Parameter
from pricewar.strategies.registry import strategy_names

STEPS = 20
#: the largest model sizes drawn (a tiny run; the declared maxima are validator-tested)
SIZE_CAPS = {"n_producers": 40, "n_platforms": 8, "n_consumers": TINY}
def uniform(low: float, high: float, strict: bool):
    """A uniform draw from ``[low, high)`` (9 in 10 draws) or one of the bounds (``high`` only if
    ``strict``). Hypothesis's own number draws favour small and special values; a numpy draw
    from a drawn seed is uniform."""
    spread = st.integers(0, 2**32 - 1).map(
        lambda seed: float(np.random.default_rng(seed).uniform(low, high)))
    edges = st.sampled_from([high] if strict else [low, high])
    return st.integers(0, 9).flatmap(lambda k: edges if k == 0 else spread)


def values_of(parameter: Parameter):
    if parameter.kind is str:
        return st.sampled_from(parameter.choices or strategy_names())
    if parameter.name == "steps":
        return st.just(STEPS)
    if parameter.name in SIZE_CAPS:
        return st.integers(int(parameter.bounded_low), SIZE_CAPS[parameter.name])
    if parameter.kind is int:  # e.g. market_version: every value
        return st.integers(int(parameter.bounded_low), int(parameter.bounded_high))
    return uniform(parameter.bounded_low, parameter.bounded_high, parameter.strict)


#: the values drawn for each declared parameter, and one value of every one
DRAWS = {p.name: values_of(p) for p in DECLARATIONS}
BOX = st.fixed_dictionaries(DRAWS)


def v3_with_one_platform(overrides: dict) -> bool:
    """The v3 market with one platform fails to build its step's market (a known bug,
    :func:`test_the_v3_market_runs_with_one_platform`): left out of the box until fixed."""
    return overrides.get("market_version") == 3 and overrides.get("n_platforms") == 1


def assert_finite_and_conserving(overrides: dict, seed: int) -> None:
    if v3_with_one_platform(overrides):
        count("left out: market_version 3 with one platform")
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # the guard reports non-finite
            model = run_model("baseline", steps=overrides["steps"], seed=seed,
                              overrides=overrides, progress=False)
    except NonFiniteRunError:
        raise  # an accepted value gave a non-finite run: the failure this test looks for
    except ScenarioError as error:  # refused with a one-line error: not an accepted value
        assert "\n" not in str(error)
        count(f"refused: {str(error).split(': ')[1].split(' = ')[0]}")
        return
    frame = model_frame(model)
    numbers = frame.drop(columns=["date"])
    finite = np.isfinite(numbers.to_numpy(dtype=float)).all(axis=0)
    assert finite.all(), list(numbers.columns[~finite])
    np.testing.assert_allclose(
        frame["served_total"] + frame["unserved_demand"] + frame["not_bought_total"],
        frame["demand_total"], rtol=1e-9, atol=1e-9)
    agents = agents_frame(model)
    for kind, columns in (("producer", PRODUCER_REPORTERS), ("platform", PLATFORM_REPORTERS)):
        rows = agents.loc[agents["agent_type"] == kind, list(columns)].to_numpy(dtype=float)
        assert np.isfinite(rows).all(), kind
    count("ran")


def count(what: str) -> None:
    """A hypothesis event (shown by --hypothesis-show-statistics), inside a @given test."""
    if currently_in_test_context():
        event(what)


@pytest.fixture(autouse=True)
def quiet_health_warnings():
    """Degenerate markets warn (pricewar.model.health): expected at the box's corners."""
    logger = logging.getLogger("pricewar.model.health")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


BOX_SETTINGS = dict(deadline=timedelta(seconds=120),
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


@settings(max_examples=8, **BOX_SETTINGS)
@given(overrides=BOX, seed=st.integers(0, 2**31))
def test_every_declared_value_gives_a_finite_conserving_run(overrides, seed):
    assert_finite_and_conserving(overrides, seed)


@pytest.mark.slow
@settings(max_examples=300, **BOX_SETTINGS)
@given(overrides=BOX, seed=st.integers(0, 2**31))
def test_every_declared_value_gives_a_finite_conserving_run_many_draws(overrides, seed):
    assert_finite_and_conserving(overrides, seed)


def test_the_box_covers_every_declaration():
    """A parameter added to the declarations is drawn by the box (no silent omission)."""
    assert list(DRAWS) == [p.name for p in DECLARATIONS]


SIZES = [p for p in DECLARATIONS if p.name in SIZE_CAPS]


@pytest.mark.slow
@pytest.mark.parametrize("name", [p.name for p in SIZES])
def test_each_size_at_its_declared_maximum_gives_a_finite_conserving_run(name):
    """The sizes the box draws only up to a tiny model, each at its declared maximum for 5
    steps (measured: 100,000 consumers ~80 s, 10,000 producers ~4 s, 1,000 platforms ~1 s)."""
    high = int(next(p for p in SIZES if p.name == name).bounded_high)
    assert_finite_and_conserving({"n_consumers": TINY, name: high, "steps": 5}, seed=1)


@pytest.mark.xfail(strict=True, raises=KernelInputError, reason=(
    "found by the declared box after the v3 market was merged: market_version = 3 with "
    "n_platforms = 1 raises KernelInputError 'capacity has length 32, expected 20' at step 1 "
    "(model/market_v3.py -> kernel/gnl_equilibrium.py); the box leaves this corner out"))
def test_the_v3_market_runs_with_one_platform():
    run_model("baseline", steps=2, seed=1, progress=False,
              overrides={"n_consumers": 16, "market_version": 3, "n_platforms": 1})
