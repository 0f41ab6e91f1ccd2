"""GPU fleets as cohorts (pricewar.market.fleet): bookkeeping and fleet costs."""

import numpy as np
import pytest
from test_costs import YEAR_S, chips, conditions

from pricewar.market.costs import new_gpu_costs
from pricewar.market.fleet import Fleet, fleet_costs


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


def test_fleet_costs_are_throughput_weighted_over_online_cohorts():
    fleet = Fleet()
    fleet.add([0, 0], [0, 1], [10, 5], online=0, retire=52)
    fleet.add(0, 1, 3, online=12, retire=64)  # pipeline: not costed
    costs, tokens_per_s, fixed = fleet_costs(fleet, chips(), 0, 2, conditions(),
                                             fallback_chip=np.array([0, 1]))
    # producer 0: 10 GPUs of chip 0 (200 tokens/s, 1 J, 2000 USD each at efficiency 2 and
    # 2 USD/W) and 5 of chip 1 (800 tokens/s, 0.5 J, 5000 USD)
    throughput = 10 * 200 + 5 * 800
    capex = 10 * 2000 + 5 * 5000
    tokens_per_year = YEAR_S * throughput * 0.5
    assert tokens_per_s[0] == throughput
    assert costs.energy_j_per_token[0] == pytest.approx((10 * 200 * 1 + 5 * 800 * 0.5)
                                                        / throughput)
    assert costs.tokens_per_s_per_gpu[0] == pytest.approx(throughput / 15)
    assert costs.capex_usd_per_gpu[0] == pytest.approx(capex / 15)
    assert costs.energy_usd_per_mtok[0] == pytest.approx((2 / 3) * 1.2 * 0.1 / 3.6, rel=1e-14)
    assert costs.hardware_usd_per_mtok[0] == pytest.approx(capex / 4 / tokens_per_year * 1e6,
                                                           rel=1e-14)
    assert costs.opex_usd_per_mtok[0] == pytest.approx(0.1 * capex / tokens_per_year * 1e6,
                                                       rel=1e-14)
    assert fixed[0] == pytest.approx(capex * (1 / 4 + 0.1))
    # producer 1 owns nothing online: costed as one GPU of its fallback chip, no fixed cost
    assert tokens_per_s[1] == 0.0 and fixed[1] == 0.0
    assert costs.tokens_per_s_per_gpu[1] == pytest.approx(400 * 2 / 1.25)


def test_an_idle_producer_costs_exactly_one_new_gpu_of_its_fallback_chip():
    costs, _, _ = fleet_costs(Fleet(), chips(), 0, 2, conditions(),
                              fallback_chip=np.array([0, 1]))
    new = new_gpu_costs(chips(), np.array([0, 1]), conditions())
    np.testing.assert_array_equal(costs.marginal_usd_per_mtok, new.marginal_usd_per_mtok)
    np.testing.assert_array_equal(costs.energy_j_per_token, new.energy_j_per_token)


def test_a_fleet_of_one_gpu_costs_what_a_new_gpu_costs():
    fleet = Fleet()
    fleet.add([0, 1], [1, 0], 1, online=0, retire=10)
    costs, _, _ = fleet_costs(fleet, chips(), 0, 2, conditions(), fallback_chip=np.array([0, 0]))
    new = new_gpu_costs(chips(), np.array([1, 0]), conditions())
    np.testing.assert_allclose(costs.marginal_usd_per_mtok, new.marginal_usd_per_mtok,
                               rtol=1e-14)
