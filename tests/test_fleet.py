"""GPU fleets as cohorts (pricewar.supply.fleet): bookkeeping (their costs:
tests/test_product_costs.py)."""

import numpy as np

from pricewar.supply.fleet import Fleet


def _fleet() -> Fleet:
    fleet = Fleet()
    fleet.add([0, 1], [0, 1], [10, 4], online=0, retire=52)  # online now
    fleet.add(0, 1, 5, online=-10, retire=42)  # an older cohort of producer 0
    fleet.add(2, 0, 7, online=12, retire=64)  # ordered, online from step 12
    return fleet


def test_add_broadcasts_scalars_and_keeps_integer_and_float_columns():
    fleet = _fleet()
    np.testing.assert_array_equal(fleet.producer, [0, 1, 0, 2])
    np.testing.assert_array_equal(fleet.chip, [0, 1, 1, 0])
    np.testing.assert_array_equal(fleet.gpus, [10.0, 4.0, 5.0, 7.0])
    np.testing.assert_array_equal(fleet.online, [0, 0, -10, 12])
    np.testing.assert_array_equal(fleet.retire, [52, 52, 42, 64])
    assert fleet.producer.dtype == np.int64 and fleet.gpus.dtype == float


def test_cohorts_are_online_from_online_until_before_retire():
    fleet = _fleet()
    np.testing.assert_array_equal(fleet.is_online(0), [True, True, True, False])
    np.testing.assert_array_equal(fleet.is_online(12), [True, True, True, True])
    np.testing.assert_array_equal(fleet.is_online(42), [True, True, False, True])
    np.testing.assert_array_equal(fleet.is_online(52), [False, False, False, True])


def test_gpus_by_producer_online_and_in_the_pipeline():
    fleet = _fleet()
    np.testing.assert_array_equal(fleet.gpus_by_producer(4, step=0), [15.0, 4.0, 0.0, 0.0])
    np.testing.assert_array_equal(fleet.gpus_by_producer(4, step=0, pipeline=True),
                                  [0.0, 0.0, 7.0, 0.0])
    np.testing.assert_array_equal(fleet.gpus_by_producer(4, step=45), [10.0, 4.0, 7.0, 0.0])


def test_drop_retired_forgets_cohorts_past_their_life():
    fleet = _fleet()
    fleet.drop_retired(42)
    np.testing.assert_array_equal(fleet.producer, [0, 1, 2])
    np.testing.assert_array_equal(fleet.gpus, [10.0, 4.0, 7.0])


def test_remap_on_exit_drops_the_leavers_cohorts_and_renumbers_the_rest():
    fleet = _fleet()
    fleet.remap_producers(np.array([False, True, True]))  # producer 0 leaves
    np.testing.assert_array_equal(fleet.producer, [0, 1])  # old 1 -> 0, old 2 -> 1
    np.testing.assert_array_equal(fleet.chip, [1, 0])
    np.testing.assert_array_equal(fleet.gpus, [4.0, 7.0])
