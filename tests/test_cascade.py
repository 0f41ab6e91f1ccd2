"""The cascade study (pricewar.studies.cascade): follow lag and depth, Lerner by open/closed
family, the May 2024 record."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricewar.kernel.demand import market_demand
from pricewar.kernel.pricing import best_response
from pricewar.kernel.route_market import RouteMarket
from pricewar.kernel.topology import RouteTopology
from pricewar.model import PriceWarModel
from pricewar.scenario import load_scenario
from pricewar.studies.cascade import (
    cut_step_of,
    follow_metrics,
    group_follow,
    kept_customer_value,
    lerner_by_weights,
    load_record,
    static_follow_depth,
    static_follow_room,
    with_group_strategies,
)


def test_follow_metrics_lag_and_depth_by_hand():
    # 3 producers over 6 steps; the cut is posted at step 3 (row 2)
    counterfactual = np.full((6, 3), 10.0)
    cut = counterfactual.copy()
    cut[2:, 0] = 1.0            # the cutter itself: -90% at once
    cut[3, 1], cut[4:, 1] = 9.8, 5.0  # follows one step later with -2% (< threshold), then -50%
    cut[2:, 2] = 10.5           # raises 5%
    m = follow_metrics(cut, counterfactual, cut_step=3, threshold=0.05, window=4, step_days=7)
    assert m["follows"].tolist() == [True, True, False]
    assert m["lag_steps"].iloc[0] == 0 and m["lag_steps"].iloc[1] == 2
    assert m["lag_days"].iloc[1] == 14
    assert np.isnan(m["lag_steps"].iloc[2])
    assert m["depth"].tolist() == pytest.approx([0.9, 0.5, -0.05])


def test_follow_metrics_window_ends_the_count():
    counterfactual = np.full((10, 1), 1.0)
    cut = counterfactual.copy()
    cut[8:, 0] = 0.5  # 6 steps after the cut at step 3: outside a window of 4
    m = follow_metrics(cut, counterfactual, cut_step=3, window=4)
    assert not m["follows"].iloc[0] and m["depth"].iloc[0] == pytest.approx(0.0)


def test_group_follow_is_served_weighted():
    per_host = pd.DataFrame({"group": ["a", "a", "b"], "depth": [0.2, 0.6, -0.1],
                             "follows": [True, False, False], "lag_days": [7.0, np.nan, np.nan],
                             "served": [3.0, 1.0, 5.0]})
    g = group_follow(per_host)
    assert g.loc["a", "depth"] == pytest.approx(0.3)
    assert g.loc["a", "follow_share"] == pytest.approx(0.5)
    assert g.loc["a", "lag_days"] == 7.0


def test_record_has_sources_and_one_leader():
    record = load_record()
    assert (record["role"] == "leader").sum() == 1
    assert record["source"].str.len().min() > 10
    assert record.loc[record["role"] == "leader", "lag_days"].iloc[0] == 0
    # the followers moved within 16 days (CAL: "within days")
    assert record.loc[record["role"] == "follower", "lag_days"].max() <= 16


def test_cut_step_is_the_week_after_deepseek_v2s_release():
    assert cut_step_of(load_scenario("baseline")) == 19


def test_lerner_by_weights_between_zero_and_one():
    model = PriceWarModel("baseline", seed=1, n_consumers=150)
    model.step()
    lerner = lerner_by_weights(model)
    assert 0.0 < lerner["open"] < 1.0 and 0.0 < lerner["closed"] < 1.0
    assert lerner["closed"] > lerner["open"]  # hosts of open weights compete within the nest


def test_with_group_strategies_changes_only_those_groups():
    s = with_group_strategies(load_scenario("baseline"), {"alibaba": "forward_looking"})
    assert s.producers["alibaba"].strategy == "forward_looking"
    assert s.producers["baidu"].strategy == "best_response"


# --- how far a static best response can follow a rival's cut (docs/ODD.md §6.4) ---------------
def test_static_follow_depth_by_hand():
    # 1 - alpha (eta - 1) / (eta (alpha - 1))
    assert static_follow_depth(1.5, 1.2) == pytest.approx(0.5)  # 1 - 0.3/0.6
    assert static_follow_depth(1.3, 1.2) == pytest.approx(5 / 18)  # 1 - 0.26/0.36
    assert static_follow_depth(1.2, 1.2) == pytest.approx(0.0)
    assert static_follow_depth(1.15, 1.2) == pytest.approx(-5 / 18)  # a raise: 1 - 0.23/0.18
    # from half the market to a tenth of it at alpha 2, eta 1.1: eps 1.55 -> 1.91
    assert static_follow_depth(2.0, 1.1, 0.5, 0.1) == pytest.approx(
        1 - (1.91 / 0.91) / (1.55 / 0.55))


@pytest.mark.parametrize("alpha, eta", [(1.0, 1.2), (1.2, 0.9), (1.5, 1.2)])
def test_static_follow_depth_rejects_bad_input(alpha, eta):
    if alpha > 1 and eta > 1:
        with pytest.raises(ValueError, match="shares"):
            static_follow_depth(alpha, eta, share_before=1.5)
    else:
        with pytest.raises(ValueError, match="must be > 1"):
            static_follow_depth(alpha, eta)


def _duopoly(alpha: float, eta: float, quality_gap: float = 0.0) -> RouteMarket:
    """One market, two closed families (a nest each), log price, no outside option."""
    topology = RouteTopology(np.array([0, 2]), np.array([0, 1]), 2, route_nest=np.array([0, 1]))
    return RouteMarket(topology, route_utility=np.array([quality_gap, 0.0]),
                       route_price_extra=np.zeros(2), consumer_alpha=np.array([alpha]),
                       consumer_demand=np.array([1.0]),
                       consumer_outside_utility=np.array([-np.inf]), price_form="log",
                       nest_sigma=np.zeros(2), consumer_eta=np.array([eta]))


def _follower_best_response(market: RouteMarket, rival_price: float) -> tuple[float, float]:
    """Product 0's best response (marginal cost 1) to product 1's price, iterated to its fixed
    point; and product 0's share there."""
    price = np.array([2.0, rival_price])
    for _ in range(5000):
        new = best_response(market, price, np.ones(2))[0]
        done = abs(new - price[0]) < 1e-12 * new
        price[0] = new
        if done:
            break
    share = market_demand(market, price).route_share[0]
    return float(price[0]), float(share)


@pytest.mark.parametrize("alpha, eta", [(1.5, 1.2), (1.2, 1.2), (1.3, 1.2), (1.15, 1.2)])
def test_static_follow_depth_is_the_kernels_best_response_at_the_extremes(alpha, eta):
    market = _duopoly(alpha, eta)
    before, share_before = _follower_best_response(market, 1e6)  # the rival priced out
    after, share_after = _follower_best_response(market, 1e-6)  # the rival nearly free
    assert share_before > 1 - 1e-6 and share_after < 1e-6
    assert 1 - after / before == pytest.approx(static_follow_depth(alpha, eta), abs=1e-6)


@settings(max_examples=40, deadline=None)
@given(alpha=st.floats(1.05, 3.0), eta=st.floats(1.05, 3.0), gap=st.floats(-2.0, 2.0),
       rival_high=st.floats(-2.0, 3.0), cut=st.floats(0.05, 0.99))
def test_a_rivals_cut_moves_the_best_response_within_the_bound(alpha, eta, gap, rival_high, cut):
    market = _duopoly(alpha, eta, gap)
    before, share_before = _follower_best_response(market, 10.0 ** rival_high)
    after, share_after = _follower_best_response(market, 10.0 ** rival_high * (1 - cut))
    depth = 1 - after / before
    assert share_after <= share_before + 1e-12  # the cut takes share
    assert depth == pytest.approx(static_follow_depth(alpha, eta, share_before, share_after),
                                  abs=1e-7)
    bound = static_follow_depth(alpha, eta)
    if alpha >= eta:  # follows, never further than the bound
        assert -1e-9 <= depth <= bound + 1e-9
    else:  # raises, never further than the bound
        assert bound - 1e-9 <= depth <= 1e-9


def test_static_follow_room_of_the_may2024_followers():
    """The measured reason the May 2024 followers cannot follow by static pricing (docs/results.md
    "The May 2024 cascade against the record"): in the week before DeepSeek's cut the closed
    flagships of Baidu and Zhipu hold so little of their buyers' markets that their elasticity
    already equals their buyers' price sensitivity (1.22-1.24), so losing all their share could
    lower their static best response by at most 0.1-0.2%; Alibaba's buyers are mostly coding
    (alpha 1.15 < eta 1.2), where a rival's cut raises its best response (room -17..-18%)."""
    scenario = load_scenario("baseline")
    model = PriceWarModel(scenario, seed=1, n_consumers=500)
    for _ in range(cut_step_of(scenario) - 1):
        model.step()
    room = static_follow_room(model).set_index("family")
    assert room.loc[["ernie_4", "glm_4"], "room"].between(0.0, 0.01).all(), room
    assert room.loc["qwen_max", "room"] < 0.0, room
    assert (room["eps"] > 1).all() and (room["alpha_buyers"] > 1).all()


def test_kept_customer_value_is_zero_without_a_customer_base_and_small_for_small_hosts():
    """psi/c (what lowers a forward-looking price below the static one): 0 on baseline (kappa 0,
    no complement weights); with kappa 0.6 small-share flagships keep a customer worth a few
    percent of marginal cost (docs/results.md: ERNIE 4 0.028-0.040, GLM-4 0.014-0.020)."""
    scenario = load_scenario("baseline")
    forward = with_group_strategies(scenario.with_overrides(customer_base_kappa=0.6),
                                    {"baidu": "forward_looking", "zhipu": "forward_looking"})
    values = {}
    for name, config in (("static", scenario), ("forward", forward)):
        model = PriceWarModel(config, seed=1, n_consumers=500)
        for _ in range(cut_step_of(scenario) - 1):
            model.step()
        values[name] = kept_customer_value(model).set_index("family")["psi_over_cost"]
    assert (values["static"] == 0.0).all()
    assert values["forward"].loc[["ernie_4", "glm_4"]].between(0.005, 0.1).all(), values
