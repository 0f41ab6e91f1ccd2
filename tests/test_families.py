"""Model families over time (pricewar.supply.families): quality from benchmark scores,
succession within a line and fixed costs per family."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from pricewar.scenario import load_scenario
from pricewar.scenario.catalogue import load_catalogue
from pricewar.supply.families import (
    catalogue_fixed_costs,
    catalogue_quality_utils,
    family_fixed_cost_usd_per_year,
    family_quality_utils,
    gpqa_scores,
    live_families,
    retire_dates,
)


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


def test_quality_is_a_linear_map_of_the_score():
    # 0.1 x (59.1 - 50) = 0.91 utils; 0.1 x (43 - 50) = -0.7
    assert family_quality_utils([59.1, 43.0], 0.1, 50.0) == pytest.approx([0.91, -0.7])
    with pytest.raises(ValueError, match="slope"):
        family_quality_utils([50.0], -0.1, 50.0)


def test_families_without_a_score_take_their_tiers_gpqa_equivalent(catalogue):
    scores, imputed = gpqa_scores(catalogue)
    names = list(catalogue.families)
    assert scores[names.index("deepseek_v3")] == 59.1 and not imputed[names.index("deepseek_v3")]
    assert scores[names.index("doubao_pro")] == 30.0 and imputed[names.index("doubao_pro")]
    assert scores[names.index("gpt_oss")] == 71.5 and imputed[names.index("gpt_oss")]
    utils = catalogue_quality_utils(catalogue)
    assert utils[names.index("gpt_oss")] == pytest.approx(0.1 * (71.5 - 50.0))
    assert catalogue_quality_utils(catalogue, 0.2)[names.index("gpt_oss")] == pytest.approx(4.3)


def test_the_closed_premium_adds_to_closed_weight_families_only():
    scenario = load_scenario("baseline")
    names = list(scenario.catalogue.families)
    plain = catalogue_quality_utils(scenario.catalogue)
    premium = catalogue_quality_utils(scenario.with_overrides(closed_premium=2.5).catalogue)
    closed = np.array([f.weights == "closed" for f in scenario.catalogue.families.values()])
    assert closed.any() and (~closed).any()
    np.testing.assert_allclose(premium - plain, 2.5 * closed)
    # GPT-4o (closed, GPQA 53.6 per the catalogue): 0.1 x (score - 50) + 2.5
    gpt_4o = names.index("gpt_4o")
    score = gpqa_scores(scenario.catalogue)[0][gpt_4o]
    assert premium[gpt_4o] == pytest.approx(0.1 * (score - 50.0) + 2.5)


def test_a_higher_tier_never_has_lower_imputed_quality(catalogue):
    equivalents = [t.gpqa_equivalent for t in catalogue.tiers.values()]
    assert equivalents == sorted(equivalents)


def test_retirement_follows_the_line_or_the_explicit_date(catalogue):
    retire = retire_dates(catalogue)
    # DeepSeek-V2 retires 12 weeks after V2.5 (2024-09-05)
    assert retire["deepseek_v2"] == dt.date(2024, 9, 5) + dt.timedelta(weeks=12)
    assert retire["deepseek_r1"] == dt.date(2025, 9, 5)
    assert retire["deepseek_v3_2"] is None
    assert retire_dates(catalogue, overlap_weeks=0)["gpt_4o"] == dt.date(2025, 4, 14)


def test_live_families_are_released_and_not_retired(catalogue):
    names = list(catalogue.families)
    live = dict(zip(names, live_families(catalogue, dt.date(2024, 6, 1)), strict=True))
    assert live["deepseek_v2"] and live["gpt_4o"] and not live["deepseek_v3"]
    live = dict(zip(names, live_families(catalogue, dt.date(2025, 12, 1)), strict=True))
    assert not live["deepseek_v2"] and live["deepseek_v3_2"] and not live["deepseek_r1"]


def test_owner_programme_is_shared_among_its_live_families():
    # owner 0 (30 USD/yr) has families 0, 1 live and 2 retired; owner 1 (8) has family 3 live
    own = np.array([1.0, 2.0, 3.0, 4.0])
    live = np.array([True, True, False, True])
    out = family_fixed_cost_usd_per_year(own, live, np.array([0, 0, 0, 1]), np.array([30.0, 8.0]))
    assert out == pytest.approx([1.0 + 15.0, 2.0 + 15.0, 0.0, 4.0 + 8.0])
    assert out.sum() == pytest.approx(30.0 + 8.0 + 1.0 + 2.0 + 4.0)


def test_catalogue_fixed_costs_charge_each_owner_with_live_families_once(catalogue):
    date = dt.date(2025, 6, 1)
    costs = catalogue_fixed_costs(catalogue, date)
    live = live_families(catalogue, date)
    families = list(catalogue.families.values())
    owners_live = {f.owner for f, on in zip(families, live, strict=True) if on}
    expected = (sum(catalogue.owners[o].fixed_cost_usd_per_year for o in owners_live)
                + sum(f.fixed_cost_usd_per_year for f, on in zip(families, live, strict=True)
                      if on))
    assert costs.sum() == pytest.approx(expected)
    assert np.all(costs[~live] == 0.0)
