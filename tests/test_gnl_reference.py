"""The v3 kernel against reference outputs of the code before its performance changes
(issue #24; ``experiments/gnl_reference.py`` wrote ``tests/data/gnl_reference.npz`` at main
91dc9ee): the same results up to floating-point rounding (in fact bit for bit: a v3 run's
reporters move by far more than 1e-9 when only the order of a sum changes, the solver stopping at
its iteration budget)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricewar.kernel.gnl import SHORT_RUN, _short_runs

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "experiments"))
import gnl_reference  # noqa: E402

REFERENCE = np.load(ROOT / "tests" / "data" / "gnl_reference.npz")


#: an equilibrium is compared at its solver's tolerance, not to the last bits: another CPU's
#: exp and log may differ in the last bit and the iteration then stops a step earlier or later
EQUILIBRIUM_RTOL = 1e-8
#: what a stopping point is, not a result: not compared
STOPPING = ("_eq_residual", "_eq_iterations")


def _compare(new: dict, prefix: str, rtol: float) -> None:
    keys = sorted(k for k in REFERENCE.files if k.startswith(prefix))
    assert keys and sorted(k for k in new if k.startswith(prefix)) == keys
    for key in keys:
        if key.endswith(STOPPING):
            continue
        tol = max(rtol, EQUILIBRIUM_RTOL) if "_eq_" in key else rtol
        atol = tol * float(np.max(np.abs(REFERENCE[key]), initial=0.0)) if "_eq_" in key else 0
        np.testing.assert_allclose(new[key], REFERENCE[key], rtol=tol, atol=atol, err_msg=key)


def test_the_reference_markets_bind_capacity_and_review():
    # the equilibria exercise the shadow prices and the review terms, not only the plain zeta map
    assert any(REFERENCE[f"k{seed}_eq_shadow_price"].max() > 0
               for seed, _, _ in gnl_reference.KERNEL_CASES)
    assert all(REFERENCE[f"k{seed}_eq_iterations"] >= 10
               for seed, _, _ in gnl_reference.KERNEL_CASES)


@pytest.fixture(scope="module")
def kernel_outputs():
    return gnl_reference.kernel_outputs()


@pytest.mark.parametrize("seed", [case[0] for case in gnl_reference.KERNEL_CASES])
def test_kernel_outputs_match_the_reference_to_rounding(kernel_outputs, seed):
    _compare(kernel_outputs, f"k{seed}_", rtol=1e-12)


@pytest.mark.slow
def test_a_v3_model_runs_reporters_match_the_reference():
    """A refactoring guard for the machine that wrote the reference (``make test-slow``): the
    solver stops at its iteration budget, so a last-bit difference (numpy's exp and log differ
    in the last bit between CPU instruction sets) grows past 1e-9 within 20 weeks; run it before
    and after a change on one machine."""
    _compare(gnl_reference.model_reporters(), "model_", rtol=1e-9)


@given(lengths=st.lists(st.integers(1, SHORT_RUN), min_size=1, max_size=30),
       n_classes=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_short_runs_reduce_exactly_as_reduceat(lengths, n_classes, seed):
    # the gathers reproduce numpy's reduceat bit for bit (the model's results depend on it)
    start = np.r_[0, np.cumsum(lengths)[:-1]]
    n = int(np.sum(lengths))
    rng = np.random.default_rng(seed)
    value = rng.random((n_classes, n)) * 10.0 ** rng.integers(-8, 9, (n_classes, n))
    short = _short_runs(start, n, n_classes)
    assert np.array_equal(short.sum(value), np.add.reduceat(value, start, axis=-1))
    assert np.array_equal(short.max(value), np.maximum.reduceat(value, start, axis=-1))


def test_a_run_longer_than_short_run_is_left_to_reduceat():
    assert _short_runs(np.array([0, 2]), 2 + SHORT_RUN + 1, 2) is None
    assert _short_runs(np.array([0, 2]), 2 + SHORT_RUN, 2) is not None
