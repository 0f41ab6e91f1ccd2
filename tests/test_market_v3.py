"""The v3 market in the model (docs/ODD.md §6.2d): runs, conservation, customer-state invariants,
scenario checks, and the v2 market untouched."""

from __future__ import annotations

import numpy as np
import pytest

from pricewar.errors import ScenarioError
from pricewar.kernel.customer_states import move_states
from pricewar.model.market_v3 import MarketV3
from pricewar.model.price_war_model import PriceWarModel
from pricewar.scenario import load_scenario

STEPS = 12


@pytest.fixture(scope="module", params=["best_response", "forward_looking"])
def v3_run(request):
    """A small v3 run, with the state of every step kept for the invariants."""
    model = PriceWarModel("baseline", seed=3, market_version=3, n_consumers=100, steps=STEPS,
                          producer_strategy=request.param)
    states = []
    for _ in range(STEPS):
        task = None
        model.step()
        market = model.market_v3
        task = market.task_volume(model.consumer_arrays)
        states.append({
            "committed_ref": market.committed_ref.copy(),
            "committed_group": market.topology.committed_group.copy(),
            "task": task,
            "metrics": dict(model.metrics),
        })
    return model, states


def test_every_reporter_is_finite_and_demand_is_conserved(v3_run):
    model, _ = v3_run
    frame = model.datacollector.get_model_vars_dataframe()
    assert np.isfinite(frame.to_numpy(dtype=float)).all()
    # served + refused = demand at posted prices, every step
    np.testing.assert_allclose(frame["served_total"] + frame["refused_total"],
                               frame["demand_total"], rtol=1e-9)
    assert (frame["equilibrium_iterations"].iloc[1:] >= 1).all()
    assert ((frame["committed_share"] >= 0) & (frame["committed_share"] <= 1)).all()


def test_committed_reference_volume_never_exceeds_the_task_volume(v3_run):
    # committed + shoppers = T per buyer group and class: the shoppers are what the committed
    # leave, so the committed alone never exceed T (up to rounding)
    model, states = v3_run
    n = model.market_v3.n_groups
    for state in states:
        committed = np.zeros((n, 2))
        np.add.at(committed, state["committed_group"], state["committed_ref"])
        # the states after a step are for the next step's task volume, which grows; compare
        # with this step's task volume grown by one step
        bound = state["task"] * (1 + model.scenario.demand.growth_per_step) + 1e-9
        assert (committed <= bound * (1 + 1e-9)).all()
        assert (state["committed_ref"] >= 0).all()


def test_committed_gain_is_at_most_the_shoppers_won():
    committed = np.array([5.0, 1.0, 0.0])
    hazard = np.array([0.1, 0.5, 0.0])
    shoppers = np.array([4.0, 4.0, 4.0])
    won = np.array([0.25, 0.5, 0.25])
    after = move_states(committed, hazard, shoppers, won)
    np.testing.assert_allclose(after, [5 * 0.9 + 1.0, 0.5 + 2.0, 1.0])
    assert (after - committed * (1 - hazard) <= shoppers * won + 1e-12).all()


def test_the_v2_market_has_no_v3_state_and_the_v3_one_needs_a_well_posed_scenario():
    assert PriceWarModel("baseline", seed=1, n_consumers=50, steps=1).market_v3 is None
    with pytest.raises(ScenarioError, match="tier_sigma"):
        PriceWarModel("baseline", seed=1, n_consumers=50, steps=1, market_version=3,
                      tier_sigma=0.95)
    with pytest.raises(ScenarioError, match="eta"):
        PriceWarModel("baseline", seed=1, n_consumers=50, steps=1, market_version=3,
                      demand_eta=1.0)


def test_a_v3_run_is_reproducible_by_seed():
    def run():
        model = PriceWarModel("baseline", seed=5, market_version=3, n_consumers=60, steps=4)
        for _ in range(4):
            model.step()
        return model.datacollector.get_model_vars_dataframe()

    first, second = run(), run()
    assert first.equals(second)


def test_the_cheap_end_of_the_catalogue_is_live_in_the_v3_market_only():
    v2 = load_scenario("baseline")
    v3 = v2.with_overrides(market_version=3)
    cheap = {name for name, family in v3.families.items() if family.cheap_end}
    assert cheap and not cheap & set(v2.families)


def test_the_rival_gap_is_the_gap_to_the_cheapest_other_firm_of_the_same_tier():
    from pricewar.kernel.gnl import gnl_market
    from pricewar.kernel.gnl_equilibrium import rival_log_gap
    from pricewar.testing.random_gnl import random_gnl_inputs

    for seed in range(20):
        inputs, price, _ = random_gnl_inputs(5, 12, routes_per_segment=8, seed=seed)
        market = gnl_market(**inputs)
        price = np.round(price, 1)  # ties between firms
        route_price = (price + market.product_price_offset)[market.route_product]
        firm = market.product_firm[market.route_product]
        expected = np.full(route_price.size, -np.inf)
        for r in range(route_price.size):  # by brute force over the route's (segment, tier)
            rivals = (market.route_tier_run == market.route_tier_run[r]) & (firm != firm[r])
            if rivals.any():
                expected[r] = np.log(route_price[r]) - np.log(route_price[rivals].min())
        np.testing.assert_array_equal(rival_log_gap(market, price), expected)


def test_prices_clear_capacity_every_week_without_an_exit(v3_run):
    # docs/ODD.md §6.2d: a host's price rises until its demand fits its capacity; what is refused comes
    # only from capacity lost inside a step (an exit). The v2 market refuses 76% at step 14.
    model, _ = v3_run
    frame = model.datacollector.get_model_vars_dataframe().iloc[5:]
    calm = frame[(frame["exits"] == 0) & (frame["entries"] == 0)]
    assert len(calm) >= 5
    assert calm["refused_share"].max() <= 0.01


def _market_at(model, group=None):
    """A fresh v3 market on the model's network at its current prices (``group``: the
    consumers' buyer groups, default :func:`buyer_groups`)."""
    market = MarketV3(model.scenario)
    if group is not None:
        market.group, market.n_groups = group, int(group.max()) + 1
    products = model.product_arrays
    market.refresh(model.network, model.consumer_arrays, products, model.families,
                   model._host_uid(), products.base_price)
    return market


def _demand_at(model, market, price, capacity_clears):
    products = model.product_arrays
    none = np.zeros(len(products))
    market.solve(model.consumer_arrays, products, model.producer_arrays, price,
                 np.ones(len(products), dtype=bool), none, none, price, model._host_uid(),
                 capacity_clears=capacity_clears)
    return market.outcome(model.network, model.consumer_arrays, products,
                          model.producer_arrays, price)


def test_buyer_groups_give_every_consumer_what_it_would_buy_alone():
    # consumers of one region and sector on the same platforms are solved as one segment;
    # each consumer then gets its share: the same demand, volume and price index, to rounding,
    # as a market with one segment per consumer, at given prices and after states move
    model = PriceWarModel("baseline", seed=5, market_version=3, n_consumers=300, steps=4)
    for _ in range(3):
        model.step()
    grouped = _market_at(model)
    alone = _market_at(model, np.arange(model.consumer_arrays.region.size))
    assert grouped.n_groups < alone.n_groups  # the grouping saves work at this size
    products = model.product_arrays
    price = products.base_price.copy()
    rng = np.random.default_rng(0)
    for capacity_clears in (False, True):
        for market in (grouped, alone):
            demand, clearing = _demand_at(model, market, price, capacity_clears)
            market.commit_everyone(model.consumer_arrays)
            market.move_states(products)
        price = price * rng.uniform(0.8, 1.2, price.size)  # states at one price, demand at another
    (d1, c1), (d2, c2) = (_demand_at(model, m, price, True) for m in (grouped, alone))
    assert d1.route_demand.sum() > 0
    np.testing.assert_allclose(d1.route_demand, d2.route_demand, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(c1.route_served, c2.route_served, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(d1.consumer_volume, d2.consumer_volume, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(d1.consumer_price_index, d2.consumer_price_index, rtol=1e-9)
    np.testing.assert_allclose(grouped.committed_share(), alone.committed_share(), rtol=1e-9)


def test_shadow_by_host_maps_the_solve_by_host_uid():
    """The last solve's mu, stored by sorted host uid, is read back per host in any order:
    signed (the next solve's start) or as lambda = max(mu, 0) (investment); 0 for a host the
    solve did not price and before any solve."""
    market = object.__new__(MarketV3)
    market.shadow_state, market.shadow_uid = None, None
    np.testing.assert_array_equal(market.shadow_by_host(np.array([3, 1])), [0.0, 0.0])
    market.shadow_uid, market.shadow_state = np.array([1, 4, 7]), np.array([0.5, -0.2, 2.0])
    hosts = np.array([7, 2, 4, 1])
    np.testing.assert_array_equal(market.shadow_by_host(hosts, signed=True), [2.0, 0.0, -0.2, 0.5])
    np.testing.assert_array_equal(market.shadow_by_host(hosts), [2.0, 0.0, 0.0, 0.5])
