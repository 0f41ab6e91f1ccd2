"""The one expected margin and the values built on it (pricewar/supply/expected_margin.py,
docs/v3-interfaces.md §4, docs/ODD.md §6.6): hand-computed values, the geometric closed forms
against their sums, and the exit and entry rules both ways."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricewar.supply.expected_margin import (
    annuity_factor,
    discount_factor_per_step,
    enters_on_value,
    entry_cost_usd_per_mtok,
    exits_on_value,
    expected_margin_usd_per_mtok,
    fleet_value_usd,
    marginal_cost_usd_per_mtok,
    rental_value_usd,
    resale_value_usd,
    shopper_value_psi,
)


def test_marginal_cost_charges_gpu_time_at_the_rent():
    # 0.1 USD/Mtok energy, 1,800 GPU-s per Mtok at 2 USD/GPU-h = 1.0 USD/Mtok, opex 0.01
    assert marginal_cost_usd_per_mtok(0.1, 1800.0, 2.0, 0.01) == pytest.approx(1.11)
    assert expected_margin_usd_per_mtok(1.5, 1.11) == pytest.approx(0.39)
    assert expected_margin_usd_per_mtok(1.0, 1.11) == pytest.approx(-0.11)  # may be negative


def test_discount_factor_per_week():
    assert discount_factor_per_step(0.08, 7.0) == pytest.approx(1.08 ** (-7.0 / 365.25))
    assert discount_factor_per_step(0.0, 7.0) == 1.0
    with pytest.raises(ValueError, match="step_days"):
        discount_factor_per_step(0.08, 0.0)


def test_psi_by_hand():
    # delta 0.9, h 0.5, g 0: x = 0.45, psi = 0.45 / 0.55 x 2
    assert shopper_value_psi(2.0, 0.5, 0.9, 0.0) == pytest.approx(0.45 / 0.55 * 2.0)
    # growth: x = 0.9 x 0.5 x 1.2 = 0.54
    assert shopper_value_psi(2.0, 0.5, 0.9, 0.2) == pytest.approx(0.54 / 0.46 * 2.0)


def test_psi_is_zero_for_a_negative_margin_and_infinite_when_growth_outruns_discounting():
    assert shopper_value_psi(-1.0, 0.1, 0.9, 0.0) == 0.0
    # x = 1 x 1 x 1.01 > 1: the series diverges
    assert shopper_value_psi(1.0, 0.0, 1.0, 0.01) == np.inf
    assert shopper_value_psi(-1.0, 0.0, 1.0, 0.01) == 0.0
    assert shopper_value_psi(0.0, 0.0, 1.0, 0.0) == 0.0


@settings(max_examples=200, deadline=timedelta(seconds=5))
@given(m=st.floats(-5.0, 5.0), h=st.floats(0.0, 1.0), delta=st.floats(0.5, 0.999),
       g=st.floats(-0.05, 0.05))
def test_psi_closed_form_equals_its_sum_and_is_never_negative(m, h, delta, g):
    x = delta * (1.0 - h) * (1.0 + g)
    psi = shopper_value_psi(m, h, delta, g)
    assert psi >= 0.0
    if x < 0.99:  # the partial sum to 5,000 terms is within x^5000 of the limit
        k = np.arange(1, 5001)
        total = np.sum(delta ** k * (1.0 - h) ** k * (1.0 + g) ** k) * max(m, 0.0)
        assert psi == pytest.approx(total, rel=1e-9, abs=1e-12)


def test_annuity_and_fleet_value_by_hand():
    # delta 0.5, K 3: 0.5 + 0.25 + 0.125 = 0.875
    assert annuity_factor(0.5, 3) == pytest.approx(0.875)
    assert annuity_factor(1.0, 3) == 3.0
    assert annuity_factor(0.5, 0) == 0.0
    assert fleet_value_usd(100.0, 20.0, 0.5, 3) == pytest.approx(0.875 * 80.0)


def test_rental_and_resale_values_by_hand():
    # rent 2, floor 0.5, 100 GPU-hours a step, delta 0.5, K 3: 0.875 x 1.5 x 100
    assert rental_value_usd(2.0, 0.5, 100.0, 0.5, 3) == pytest.approx(131.25)
    assert rental_value_usd(0.4, 0.5, 100.0, 0.5, 3) == 0.0  # a rent at or below the floor
    # 10 GPUs of 30,000 USD at 40% of life left, resold at half book value
    assert resale_value_usd(30_000.0, 10.0, 0.4, 0.5) == pytest.approx(60_000.0)


def test_a_host_worth_more_in_service_than_resold_never_exits():
    value = fleet_value_usd(100.0, 20.0, 0.5, 3)  # 70
    assert not exits_on_value(value, 69.0, 10.0)
    assert not exits_on_value(value, 10.0, 69.0)


def test_a_host_worth_less_in_service_than_rented_out_or_resold_exits():
    value = fleet_value_usd(100.0, 20.0, 0.5, 3)  # 70
    assert exits_on_value(value, 71.0, 10.0)
    assert exits_on_value(value, 10.0, 71.0)
    assert exits_on_value(fleet_value_usd(10.0, 20.0, 0.5, 3), 0.0, 0.0)  # negative value


def test_entry_iff_margin_covers_capacity_plus_entry_cost():
    # entry cost 5,000 USD/GPU at CRF 0.25/year over 10,000 Mtok per GPU-year: 0.125 USD/Mtok
    entry = entry_cost_usd_per_mtok(5000.0, 0.25, 10_000.0)
    assert entry == pytest.approx(0.125)
    np.testing.assert_array_equal(
        enters_on_value([0.5, 0.625, 0.62], 0.5, entry), [False, True, False])


@settings(max_examples=200, deadline=timedelta(seconds=5))
@given(margin=st.floats(-1e6, 1e6), fixed=st.floats(0.0, 1e6), delta=st.floats(0.0, 1.0),
       steps=st.integers(0, 400))
def test_fleet_value_closed_form_equals_its_sum(margin, fixed, delta, steps):
    k = np.arange(1, steps + 1)
    total = float(np.sum(delta ** k)) * (margin - fixed)
    assert fleet_value_usd(margin, fixed, delta, steps) == pytest.approx(
        total, rel=1e-9, abs=1e-6)


@settings(max_examples=200, deadline=timedelta(seconds=5))
@given(margin=st.floats(0.0, 1e6), more=st.floats(0.0, 1e6), fixed=st.floats(0.0, 1e6),
       delta=st.floats(0.5, 0.9999), steps=st.integers(1, 400), other=st.floats(0.0, 1e9))
def test_a_higher_margin_never_turns_a_stayer_into_a_leaver(margin, more, fixed, delta, steps,
                                                            other):
    low = exits_on_value(fleet_value_usd(margin, fixed, delta, steps), other, other / 2)
    high = exits_on_value(fleet_value_usd(margin + more, fixed, delta, steps), other, other / 2)
    assert high <= low
