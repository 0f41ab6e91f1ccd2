"""The agents' state tables (pricewar.model.population) and the region table."""

import dataclasses

import numpy as np
import pytest

from pricewar.model.population import ArrayAttributes, ProducerArrays
from pricewar.model.regions import RegionTable
from pricewar.scenario import load_scenario


def _producers(n: int = 3) -> ProducerArrays:
    return ProducerArrays(region=np.arange(n), group=np.array(["g"] * n, dtype=object),
                          strategy=np.array(["nash"] * n, dtype=object),
                          initial_chip=np.zeros(n, np.int64), quality=np.linspace(0, 1, n))


def test_new_producers_start_from_each_state_columns_initial_value():
    p = _producers()
    assert len(p) == 3
    np.testing.assert_array_equal(p.surcharge, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(p.commit_until, [-1.0, -1.0, -1.0])
    np.testing.assert_array_equal(p.cash, np.zeros(3))
    assert p.best_chip.dtype == np.int64


def test_take_resizes_every_column_together():
    p = _producers()
    p.cash[:] = [10.0, 20.0, 30.0]
    p.best_chip[:] = [4, 5, 6]
    p.take(np.array([True, False, True]))  # exit of producer 1
    for f in dataclasses.fields(p):
        assert len(getattr(p, f.name)) == 2, f.name
    np.testing.assert_array_equal(p.cash, [10.0, 30.0])
    p.take(np.array([0, 1, 1]))  # entry: a copy of producer 1 as template
    np.testing.assert_array_equal(p.region, [0, 2, 2])
    np.testing.assert_array_equal(p.best_chip, [4, 6, 6])


def test_reset_state_gives_rows_a_new_producers_state_and_keeps_identity_and_derived():
    p = _producers()
    p.cash[:] = 5.0
    p.surcharge[:] = 1.5
    p.commit_until[:] = 9.0
    p.pue[:] = 1.2
    p.reset_state(slice(1, None))
    np.testing.assert_array_equal(p.cash, [5.0, 0.0, 0.0])
    np.testing.assert_array_equal(p.surcharge, [1.5, 1.0, 1.0])
    np.testing.assert_array_equal(p.commit_until, [9.0, -1.0, -1.0])
    np.testing.assert_array_equal(p.pue, [1.2, 1.2, 1.2])
    np.testing.assert_array_equal(p.quality, [0.0, 0.5, 1.0])


def test_model_attributes_read_and_write_the_tables():
    class Holder(ArrayAttributes):
        pass

    holder = Holder()
    holder.producer_arrays = _producers()
    assert holder.producer_cash is holder.producer_arrays.cash
    holder.producer_cash = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(holder.producer_arrays.cash, [1.0, 2.0, 3.0])
    holder.producer_cash[0] = 7.0
    assert holder.producer_arrays.cash[0] == 7.0
    for name in ("producer_price", "platform_markup", "consumer_demand", "consumer_platforms"):
        assert hasattr(Holder, name)


def test_region_table_takes_semantics_and_columns_from_the_scenario():
    scenario = load_scenario("baseline")
    regions = RegionTable.from_scenario(scenario)
    assert regions.names == tuple(scenario.regions)
    assert regions.producer_regions == ("cn_west", "cn_east", "us", "eu")
    assert [regions.names[i] for i in regions.in_bloc("cn")] == ["cn_west", "cn_east"]
    assert [regions.names[i] for i in regions.in_bloc("contested")] == ["global_south"]
    assert regions.export_controlled.tolist() == [True, True, False, False, False]
    us = regions.names.index("us")
    assert regions.electricity_usd_per_kwh[us] == scenario.regions["us"].electricity_usd_per_kwh
    assert regions.latency_ms[us, us] == scenario.latency_ms["us"]["us"]
    np.testing.assert_array_equal(regions.index(["eu", "us"]), [3, 2])
    gs = regions.names.index("global_south")
    assert (regions.access_code[:, gs] == 2).all()  # nobody buys from a consumer-only region
    with pytest.raises(KeyError):
        regions.index(["mars"])
