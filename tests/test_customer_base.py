"""The customer base (pricewar.model.customer_base, docs/ODD.md §6.2 "Customer base")."""

import numpy as np
import pytest

from pricewar.errors import ScenarioError
from pricewar.model import PriceWarModel
from pricewar.model.customer_base import CustomerBase, complement_weights, step_discount
from pricewar.scenario import load_scenario


def test_bonus_is_kappa_times_last_steps_host_share_minus_the_consumers_sum_of_squares():
    base = CustomerBase(0.6)
    # consumer 0 bought 30 from host uid 5 (two routes) and 10 from uid 2; consumer 1 nothing
    base.observe(np.array([0, 0, 0, 1]), np.array([5, 5, 2, 2]), np.array([10.0, 20.0, 10.0, 0.0]),
                 n_consumers=2)
    bonus = base.route_bonus(np.array([0, 0, 0, 1, 0]), np.array([5, 2, 7, 2, 9]))
    squares = 0.75 ** 2 + 0.25 ** 2
    assert bonus == pytest.approx(0.6 * np.array([0.75 - squares, 0.25 - squares, -squares, 0.0,
                                                  -squares]))
    # share-weighted mean bonus is 0 when shares repeat: the consumer's volume is unchanged
    assert 0.75 * bonus[0] + 0.25 * bonus[1] == pytest.approx(0.0)


def test_kappa_zero_adds_nothing():
    base = CustomerBase(0.0)
    base.observe(np.array([0]), np.array([1]), np.array([5.0]), n_consumers=1)
    assert base.route_bonus(np.array([0]), np.array([1])) is None


def test_base_survives_an_exit_keyed_by_host_unique_id():
    model = PriceWarModel("baseline", seed=1, n_consumers=150, customer_base_kappa=0.6)
    model.step()
    routes = model.network.routes
    uid = model._host_uid()
    before = model.customer_base.route_share(routes.route_consumer, uid[routes.route_producer])
    assert before.max() > 0 and before.max() <= 1.0
    # a host leaves: the remaining hosts keep their consumers' shares
    leaving = np.zeros(model.n_producers, bool)
    leaving[-1] = True
    keep_uid = uid[~leaving]
    model._remove_producers(leaving)
    routes = model.network.routes
    after = model.customer_base.route_share(routes.route_consumer,
                                            model._host_uid()[routes.route_producer])
    np.testing.assert_array_equal(model._host_uid(), keep_uid)
    assert after.max() > 0


def test_customer_base_raises_the_incumbents_share_of_a_run():
    """With kappa > 0 last step's largest host of a consumer gains utility: the consumers'
    mean host concentration (sum of squared host shares) after a few steps is higher than
    without a base (same seed)."""
    hhi = []
    for kappa in (0.0, 1.0):
        model = PriceWarModel("baseline", seed=1, n_consumers=150, customer_base_kappa=kappa)
        for _ in range(4):
            model.step()
        routes = model.network.routes
        n_hosts = model.n_producers
        pair = routes.route_consumer * n_hosts + routes.route_producer
        served = np.bincount(pair, model.clearing.route_served,
                             minlength=model.consumer_region.size * n_hosts)
        served = served.reshape(-1, n_hosts)
        total = served.sum(axis=1)
        buying = total > 0
        share = served[buying] / total[buying, None]
        hhi.append(float(np.mean(np.sum(share ** 2, axis=1))))
    assert hhi[1] > hhi[0]


def test_discount_per_step_from_yearly_wacc():
    assert step_discount(np.array([0.08]), 7.0)[0] == pytest.approx(1.08 ** (-7 / 365.25))


def test_complement_weights_default_to_zero_for_independent_hosts():
    w = complement_weights(["alibaba", "openai"], np.array([0, 1, -1]),
                           load_scenario("baseline").complements)
    assert w.shape == (3,) and w[2] == 0.0 and (w >= 0).all()


def test_complement_weights_come_from_the_scenario_and_a_scenario_file_sets_them(tmp_path):
    """complements.toml enters through the scenario (read once, source-tracked, overridable),
    not by path from the model."""
    base = load_scenario("baseline")
    assert set(base.complements.owners) <= set(base.owners)
    assert "complements.owners.alibaba.complement_weight" in base.sources
    path = tmp_path / "s.toml"
    path.write_text('base = "baseline"\n[complements.owners.alibaba]\ncomplement_weight = 0.3\n')
    scenario = load_scenario(path)
    w = complement_weights(list(scenario.owners), np.array([list(scenario.owners).index(
        "alibaba"), -1]), scenario.complements)
    assert list(w) == [0.3, 0.0]
    model = PriceWarModel(path, seed=1, n_consumers=150)
    alibaba = model.producer_owner == list(scenario.owners).index("alibaba")
    assert alibaba.any() and (model._complement_weight()[alibaba] == 0.3).all()
    path.write_text('base = "baseline"\n[complements.owners.acme]\ncomplement_weight = 0.3\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.key_path == "complements.owners.acme" and "unknown owner" in str(info.value)
    path.write_text('base = "baseline"\n[complements.owners.alibaba]\n'
                    'complement_weight = -0.1\n')
    with pytest.raises(ScenarioError, match="must be >= 0"):
        load_scenario(path)
