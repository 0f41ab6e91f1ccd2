"""The phases of a step (pricewar.model.phases, settlement, products, investment), each on a
small model or hand-built arrays."""

from __future__ import annotations

import numpy as np
import pytest

from pricewar.model import PriceWarModel, investment, phases, settlement
from pricewar.model.products import hosted_products
from pricewar.scenario import load_scenario
from pricewar.supply.fleet import Fleet

SMALL = {"n_consumers": 125}


@pytest.fixture(scope="module")
def model():
    model = PriceWarModel("baseline", seed=5, **SMALL)
    for _ in range(30):  # mid-2024: several families live
        model.step()
    return model


def test_exogenous_update_grows_task_volumes_applies_shocks_and_retires_cohorts(model):
    scenario = load_scenario("baseline").with_events(
        {"kind": "demand_shock", "step": 3, "fraction": 0.5, "duration_steps": 2,
         "group": "us"})
    consumers = model.consumer_arrays
    us = consumers.region == model.region_names.index("us")
    fleet = Fleet()
    fleet.add([0, 1], [0, 0], [5, 5], online=0, retire=[4, 10])
    growth = 1.0 + scenario.demand.growth_per_step
    saved = consumers.demand.copy()
    try:
        phases.exogenous_update(scenario, 4, model.regions, consumers, fleet)
        expected = consumers.base_demand * growth**4 * np.where(us, 1.5, 1.0)
        np.testing.assert_allclose(consumers.demand, expected, rtol=1e-12)
        phases.exogenous_update(scenario, 5, model.regions, consumers, fleet)  # shock over
        np.testing.assert_allclose(consumers.demand, consumers.base_demand * growth**5)
    finally:
        consumers.demand = saved
    np.testing.assert_array_equal(fleet.producer, [1])  # the cohort retiring at 4 is gone


def test_hosting_owners_serve_their_live_families_independents_the_best_open_ones(model):
    families = model.families
    live = np.ones(len(families), bool)
    owners = list(model.scenario.owners)
    owner = np.array([owners.index("deepseek"), owners.index("openai"), -1])
    producer, family = hosted_products(families, live, owner, np.array([0, 0, 2]))
    names = [families.names[f] for f in family]
    deepseek = {families.names[f] for f in np.flatnonzero(families.owner == owner[0])}
    assert {n for n, p in zip(names, producer, strict=True) if p == 0} == deepseek
    openai = {families.names[f] for f in np.flatnonzero(families.owner == owner[1])}
    assert {n for n, p in zip(names, producer, strict=True) if p == 1} == openai  # gpt-oss too
    independent = family[producer == 2]
    best = np.argsort(-np.where(families.open_weights, families.hosting_value, -np.inf))[:2]
    assert set(independent) == set(best)
    assert (np.diff(producer) >= 0).all()  # sorted by host, then family
    for host in np.unique(producer):
        assert (np.diff(family[producer == host]) > 0).all()


def test_a_price_cut_commits_every_product_of_the_groups_largest_host(model):
    products = model.product_arrays
    producers = model.producer_arrays
    saved = (products.commit_price.copy(), products.commit_until.copy(),
             producers.commit_until.copy())
    try:
        events = load_scenario("baseline").with_events(
            {"kind": "price_cut", "step": 99, "group": "us", "fraction": 0.5,
             "duration_steps": 4}).events
        committed = phases.apply_price_events(events, 99, producers, products,
                                              products.base_price)
        members = np.flatnonzero(producers.group == "us")
        largest = members[np.argmax(producers.served[members])]
        np.testing.assert_array_equal(committed, products.producer == largest)
        np.testing.assert_allclose(products.commit_price[committed],
                                   0.5 * products.base_price[committed])
        assert producers.commit_until[largest] == 103
    finally:
        products.commit_price, products.commit_until, producers.commit_until = saved


def test_the_scarcity_surcharge_is_one_factor_per_host_on_all_its_products(model):
    products, producers = model.product_arrays, model.producer_arrays
    saved = (producers.surcharge.copy(), producers.offered_gpu_s.copy(), products.price.copy(),
             producers.price.copy(), producers.base_price.copy())
    try:
        producers.surcharge[:] = 1.0
        producers.offered_gpu_s = producers.capacity_gpu_s * 2.0  # every host crunched
        phases.set_posted_prices(model.scenario.pricing, producers, products)
        factor = products.price / products.base_price
        np.testing.assert_allclose(factor, producers.surcharge[products.producer], rtol=1e-12)
        assert (producers.surcharge[producers.capacity_gpu_s > 0] > 1.0).all()
    finally:
        (producers.surcharge, producers.offered_gpu_s, products.price, producers.price,
         producers.base_price) = saved


def test_settlement_books_revenue_less_energy_and_fixed_costs(model):
    producers, products = model.producer_arrays, model.product_arrays
    revenue = np.bincount(products.producer, products.price * products.served,
                          minlength=model.n_producers)
    np.testing.assert_allclose(producers.revenue, revenue, rtol=1e-12)
    np.testing.assert_allclose(producers.profit, producers.revenue - producers.energy_cost
                               - producers.fixed_cost, rtol=1e-12)
    years = model.scenario.step_seconds / (365.25 * 86400)
    np.testing.assert_allclose(producers.fixed_cost, (producers.fixed_usd_per_year
                                                      + producers.family_fixed_usd_per_year)
                               * years, rtol=1e-12)
    # owners pay their families' fixed costs; independent hosts none
    assert (producers.family_fixed_usd_per_year[producers.owner < 0] == 0).all()
    assert (producers.family_fixed_usd_per_year[producers.owner >= 0] > 0).any()
    # products' profits: margin over energy, less the host's fixed costs shared by load
    serving = producers.served > 0
    energy = np.bincount(products.producer, products.served * products.energy_usd_per_mtok,
                         minlength=model.n_producers)
    host_profit = np.bincount(products.producer, products.profit, minlength=model.n_producers)
    np.testing.assert_allclose(host_profit[serving],
                               (revenue - energy - producers.fixed_cost)[serving], rtol=1e-9)


@pytest.mark.parametrize("eta", [1.0, 0.5, 1.5])
def test_compensating_variation_is_the_area_under_isoelastic_demand(eta):
    # E = X1 P1 at the new index; CV = int_{P1}^{P0} X1 (p / P1)^-eta dp
    p0, p1, x1 = 2.0, 1.0, 10.0
    grid = np.linspace(p1, p0, 200_001)
    area = np.trapezoid(x1 * (grid / p1) ** -eta, grid)
    cv = settlement.compensating_variation(np.array([x1 * p1]), np.array([np.log(p0 / p1)]),
                                           np.array([eta]))
    assert cv[0] == pytest.approx(area, rel=1e-9)
    assert settlement.compensating_variation(np.array([5.0]), np.array([-np.inf]),
                                             np.array([eta]))[0] == 0.0  # no route: 0


def test_welfare_is_finite_and_zero_at_the_start():
    model = PriceWarModel("baseline", seed=5, **SMALL)
    assert model.metrics["consumer_surplus"] == pytest.approx(0.0, abs=1e-6)
    assert model.metrics["welfare_change"] == 0.0
    for _ in range(5):
        model.step()
        assert np.isfinite(model.consumer_surplus).all()
        assert np.isfinite(model.consumer_welfare_change).all()


def test_investment_orders_the_best_chip_and_stays_within_regional_power(model):
    fleet = Fleet()
    fleet.add(model.fleet.producer, model.fleet.chip, model.fleet.gpus, model.fleet.online,
              model.fleet.retire)
    producers = model.producer_arrays
    saved = producers.offered_gpu_s.copy()
    try:
        producers.offered_gpu_s = producers.capacity_gpu_s * 3.0  # a crunch everywhere
        ordered = investment.invest(model.scenario, model.supply, model.steps + 1, 0.5,
                                    model.date, model.regions, model.families, fleet, producers,
                                    model.product_arrays)
    finally:
        producers.offered_gpu_s = saved
    new = slice(model.fleet.producer.size, None)
    assert ordered == fleet.gpus[new].sum() > 0
    np.testing.assert_array_equal(fleet.chip[new], producers.best_chip[fleet.producer[new]])
    chips = model.supply.serving.chips
    power = np.bincount(producers.region[fleet.producer],
                        fleet.gpus * chips.server_power_w[fleet.chip]
                        * producers.pue[fleet.producer], minlength=len(model.region_names)) / 1e6
    cap = model.regions.ai_power_cap_mw * (1 + model.regions.ai_power_growth_per_year) ** 0.5
    before = np.bincount(producers.region[model.fleet.producer],
                         model.fleet.gpus * chips.server_power_w[model.fleet.chip]
                         * producers.pue[model.fleet.producer],
                         minlength=len(model.region_names)) / 1e6
    assert (power <= np.maximum(cap, before) * (1 + 1e-9)).all()


def test_fresh_products_enter_at_their_best_response(model):
    products = model.product_arrays
    view = phases.pricing_view(model.scenario, model.market, products.base_price,
                               model.producer_arrays, products, model.families, {},
                               model.steps, model.rng)
    saved = products.fresh.copy()
    try:
        products.fresh[:] = 0.0
        products.fresh[[0, 3]] = 1.0
        price = phases.entry_prices(view, products, 1.25)
    finally:
        products.fresh = saved
    np.testing.assert_array_equal(np.delete(price, [0, 3]),
                                  np.delete(products.base_price, [0, 3]))
    assert np.isfinite(price).all()
    assert (price[[0, 3]] > products.marginal_cost[[0, 3]]).all()


def test_a_price_cut_in_the_week_the_cutter_releases_a_product_cuts_its_entry_price():
    """issue 27: cn_west's largest host releases a product in step 18; a cut scheduled then took
    the new product's list price before it had one (0) and the kernel refused the price
    (KernelInputError: producer_price must be > 0). Smallest setting that crashed: 20
    consumers, seed 4, 18 steps."""
    scenario = load_scenario("baseline").with_events(
        {"kind": "price_cut", "step": 18, "group": "cn_west", "producers": 1, "fraction": 0.9,
         "duration_steps": 30})
    model = PriceWarModel(scenario, seed=4, n_consumers=20)
    for _ in range(17):
        model.step()
    before = set(model.product_arrays.product_id.tolist())
    model.step()  # the cut's step
    products = model.product_arrays
    committed = products.commit_until == 18 + 30
    released = committed & ~np.isin(products.product_id, list(before))
    assert released.any()  # the cutter's product of this week is cut too
    assert (products.commit_price[committed] > 0).all()
    np.testing.assert_array_equal(products.base_price[committed],
                                  np.maximum(products.commit_price[committed],
                                             phases.MIN_LOG_PRICE_USD_PER_MTOK))
    model.step()
    assert np.isfinite(model.product_price).all() and (model.product_price > 0).all()
