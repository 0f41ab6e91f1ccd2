"""Market dynamics (pricewar.supply.dynamics) on hand-computed numbers."""

import warnings

import numpy as np
import pytest

from pricewar.supply.dynamics import (
    green_energy_split,
    investment_orders,
    limit_by_group,
    update_growth_forecast,
)


def _orders(**changes):
    args = dict(demand=np.array([90.0, 50.0, 90.0, 90.0, 90.0]),
                capacity=np.array([100.0, 100.0, 100.0, 0.0, 100.0]),
                pipeline=np.array([0.0, 0.0, 0.0, 0.0, 0.0]),
                growth_forecast=np.array([0.1, 0.1, 0.1, 0.1, -0.2]),
                lag_steps=2, pressure_threshold=0.8, target_load=0.7, speed=0.5,
                price=np.full(5, 10.0), new_unit_cost=np.array([5.0, 5.0, 9.5, 5.0, 5.0]),
                min_margin=0.1, capacity_per_gpu=np.full(5, 2.0))
    args.update(changes)
    return investment_orders(**args)


def test_investment_orders_close_part_of_the_gap_to_the_forecast_capacity():
    orders = _orders()
    forecast = 90 * 1.1**2  # demand grown over the two-step lead time
    assert orders[0] == pytest.approx(0.5 * (forecast / 0.7 - 100) / 2)
    assert orders[1] == 0.0  # demand at 50% of capacity: no pressure
    assert orders[2] == 0.0  # margin (10 - 9.5) / 10 = 5% below the 10% minimum
    assert orders[3] == pytest.approx(0.5 * (forecast / 0.7) / 2)  # no capacity: pressure inf
    assert orders[4] == pytest.approx(0.5 * (90 / 0.7 - 100) / 2)  # falling demand not forecast


def test_investment_orders_count_the_pipeline_and_stop_when_it_covers_the_gap():
    orders = _orders(pipeline=np.array([20.0, 0.0, 0.0, 0.0, 200.0]))
    assert orders[0] == pytest.approx(0.5 * (90 * 1.1**2 / 0.7 - 100 - 20) / 2)
    assert orders[4] == 0.0


def test_limit_by_group_scales_orders_pro_rata_within_each_groups_headroom():
    orders = np.array([10.0, 30.0, 5.0, 8.0])
    group = np.array([0, 0, 1, 2])
    limited = limit_by_group(orders, group, headroom=np.array([20.0, 100.0, -3.0]),
                             usage_per_unit=np.array([1.0, 1.0, 2.0, 1.0]))
    # group 0 wants 40 of 20: halved; group 1 wants 10 of 100: unchanged; group 2 has none left
    np.testing.assert_allclose(limited, [5.0, 15.0, 5.0, 0.0])


def test_green_energy_split_shares_each_regions_cap_pro_rata_to_flexible_load():
    green = green_energy_split(np.array([100.0, 300.0, 50.0, 0.0]), np.array([0, 0, 1, 2]),
                               cap_mwh_by_region=np.array([200.0, 100.0, 80.0]))
    # region 0: 400 MWh of flexible load on a 200 MWh cap -> half each; region 1 fully covered
    np.testing.assert_allclose(green, [50.0, 150.0, 50.0, 0.0])


def test_update_growth_forecast_smooths_observed_growth_clipped_to_its_range():
    forecast = update_growth_forecast(np.array([0.1, 0.0, 0.1, 0.0]),
                                      demand=np.array([110.0, 50.0, 300.0, 10.0]),
                                      previous=np.array([100.0, 0.0, 100.0, 100.0]),
                                      smoothing=0.2)
    # observed: +10%; undefined (no previous demand) -> 0; +200% clipped to +100%; -90% to -50%
    np.testing.assert_allclose(forecast, [0.8 * 0.1 + 0.2 * 0.1, 0.0, 0.8 * 0.1 + 0.2 * 1.0,
                                          0.2 * -0.5])


def test_a_growth_ratio_that_overflows_is_clipped_without_a_warning():
    """A tiny previous demand (a steep scenario's first steps) makes demand / previous overflow:
    the observation is clipped to +100% like any other, and no RuntimeWarning reaches the user."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        forecast = update_growth_forecast(np.zeros(2), demand=np.array([1e300, 1.0]),
                                          previous=np.array([1e-300, 1.0]), smoothing=0.5)
    np.testing.assert_array_equal(forecast, [0.5, 0.0])
