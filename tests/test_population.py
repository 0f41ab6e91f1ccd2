"""The agents' state tables (pricewar.model.population) and the region table."""

import dataclasses

import numpy as np
import pytest

from pricewar.model.population import ArrayAttributes, ProducerArrays, ProductArrays
from pricewar.model.regions import RegionTable
from pricewar.scenario import load_scenario


def _producers(n: int = 3) -> ProducerArrays:
    return ProducerArrays(region=np.arange(n), group=np.array(["g"] * n, dtype=object),
                          strategy=np.array(["nash"] * n, dtype=object),
                          owner=np.full(n, -1), open_families=np.full(n, 4),
                          initial_chip=np.zeros(n, np.int64), quality=np.linspace(0, 1, n),
                          serving_efficiency=np.full(n, 0.5), wacc=np.full(n, 0.08))


def _products() -> ProductArrays:
    # host 0 offers families 1 and 3, host 1 family 1
    return ProductArrays(producer=np.array([0, 0, 1]), family=np.array([1, 3, 1]),
                         product_id=np.array([10, 11, 12]))


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
    for name in ("producer_price", "product_price", "product_family", "platform_markup",
                 "consumer_demand", "consumer_platforms"):
        assert hasattr(Holder, name)


def test_products_start_fresh_and_unpriced():
    p = _products()
    assert len(p) == 3
    np.testing.assert_array_equal(p.fresh, [1.0, 1.0, 1.0])
    np.testing.assert_array_equal(p.commit_until, [-1.0, -1.0, -1.0])
    np.testing.assert_array_equal(p.base_price, np.zeros(3))


def test_reindex_keeps_the_state_of_products_that_stay_and_adds_fresh_ones():
    p = _products()
    p.base_price[:] = [1.0, 2.0, 3.0]
    p.fresh[:] = 0.0
    p.marginal_cost[:] = 0.5
    # family 3 of host 0 retires; host 0 adds family 2; host 1 adds family 3
    next_id = p.reindex(np.array([0, 0, 1, 1]), np.array([1, 2, 1, 3]), next_id=13)
    assert next_id == 15
    np.testing.assert_array_equal(p.producer, [0, 0, 1, 1])
    np.testing.assert_array_equal(p.family, [1, 2, 1, 3])
    np.testing.assert_array_equal(p.product_id, [10, 13, 12, 14])
    np.testing.assert_array_equal(p.base_price, [1.0, 0.0, 3.0, 0.0])
    np.testing.assert_array_equal(p.fresh, [0.0, 1.0, 0.0, 1.0])
    np.testing.assert_array_equal(p.marginal_cost, [0.5, 0.0, 0.5, 0.0])  # derived: recomputed
    for f in dataclasses.fields(p):
        assert len(getattr(p, f.name)) == 4, f.name


def test_reindex_of_an_empty_table_builds_it():
    empty = np.zeros(0, np.int64)
    p = ProductArrays(producer=empty, family=empty, product_id=empty)
    assert p.reindex(np.array([0, 1]), np.array([2, 2]), next_id=0) == 2
    np.testing.assert_array_equal(p.product_id, [0, 1])
    np.testing.assert_array_equal(p.fresh, [1.0, 1.0])


def test_region_table_takes_semantics_and_columns_from_the_scenario():
    scenario = load_scenario("baseline")
    regions = RegionTable.from_scenario(scenario)
    assert regions.names == tuple(scenario.regions)
    assert regions.producer_regions == ("cn_west", "cn_east", "us", "eu")
    assert [regions.names[i] for i in regions.in_bloc("cn")] == ["cn_west", "cn_east"]
    assert [regions.names[i] for i in regions.in_bloc("contested")] == ["global_south"]
    assert regions.bloc.tolist() == ["cn", "cn", "western", "western", "contested"]
    # no sector overrides in the baseline: every sector sees the region access table
    assert regions.sector_access_code.shape == (len(scenario.sectors), 5, 5)
    assert (regions.sector_access_code == regions.access_code[None]).all()
    us = regions.names.index("us")
    assert regions.electricity_usd_per_kwh[us] == scenario.regions["us"].electricity_usd_per_kwh
    assert regions.latency_ms[us, us] == scenario.latency_ms["us"]["us"]
    np.testing.assert_array_equal(regions.index(["eu", "us"]), [3, 2])
    gs = regions.names.index("global_south")
    assert (regions.access_code[:, gs] == 2).all()  # nobody buys from a consumer-only region
    with pytest.raises(KeyError):
        regions.index(["mars"])


def test_every_column_is_an_explicit_model_attribute():
    """``model.<kind>_<column>`` is written out in ArrayAttributes for every column (so a search
    finds it), and no attribute names a column its table lacks."""
    from pricewar.model.population import _TABLES, ArrayAttributes

    declared = {name for name in vars(ArrayAttributes) if not name.startswith("_")}
    columns = {f"{kind}_{name}" for kind, table in _TABLES.items()
               for name in table.__dataclass_fields__}
    assert declared == columns, (sorted(columns - declared), sorted(declared - columns))


def test_a_model_attribute_for_an_unknown_column_fails_when_the_class_is_made():
    from pricewar.model.population import _Column

    # Python 3.11 wraps an error in __set_name__ in a RuntimeError (3.12 does not)
    with pytest.raises((TypeError, RuntimeError)) as raised:
        type("Broken", (), {"producer_no_such_column": _Column()})
    error = raised.value.__cause__ or raised.value
    assert "ProducerArrays has no column 'no_such_column'" in str(error)
