"""The cascade study (pricewar.studies.cascade): follow lag and depth, Lerner by open/closed
family, the May 2024 record."""

import numpy as np
import pandas as pd
import pytest

from pricewar.model import PriceWarModel
from pricewar.scenario import load_scenario
from pricewar.studies.cascade import (
    cut_step_of,
    follow_metrics,
    group_follow,
    lerner_by_weights,
    load_record,
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
