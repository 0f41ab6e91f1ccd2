"""The observed OpenRouter panel in the stage-1 estimator's format
(pricewar.calibrate.observed_panel): a hand-checked two-week mini panel, the slug -> family map
against the catalogue, the pre-registered held-out weeks refused unless asked for, and the
estimator's predicted shares on a hand-computed logit."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from pricewar.calibrate.observed_panel import (
    HeldOutWeekError,
    load_family_map,
    observed_substitution_panel,
)
from pricewar.calibrate.panels import PanelDataError, load_openrouter_weekly
from pricewar.calibrate.substitution import SubstitutionParameters, predicted_shares
from pricewar.scenario.catalogue import load_catalogue

MON1, MON2 = pd.Timestamp("2025-09-22"), pd.Timestamp("2025-09-29")


def mini_inputs():
    weekly = pd.DataFrame({
        "week_start": [MON1] * 5 + [MON2] * 3,
        "model_id": ["x/open-a", "x/closed-b", "x/open-a:free", "y/unknown", "other",
                     "x/open-a", "x/closed-b", "other"],
        "tokens": [600, 300, 50, 30, 20, 400, 500, 100]})
    family_map = pd.DataFrame({"slug": ["x/open-a", "x/closed-b"],
                               "family": ["gpt_oss", "gpt_5"], "tier": ["r1_gpqa", "o1_gpqa"],
                               "price_model_id": ["x/open-a", ""], "source": ["test", "test"]})
    prices = pd.DataFrame({
        "snapshot_date": pd.to_datetime(["2025-09-01"] * 3 + ["2025-09-25", "2025-10-01"]),
        "model_id": ["x/open-a"] * 5,
        "provider": ["hostA", "hostB", "openrouter", "hostA", "hostA"],
        "route": ["", "fp8", "", "", ""],
        "input_usd_per_mtok": [0.1, 0.2, 0.1, 0.2, 9.0],
        "output_usd_per_mtok": [0.5, 0.6, 0.5, 0.2, 9.0]})
    list_prices = pd.DataFrame({
        "date": pd.to_datetime(["2025-08-07", "2025-09-28", "2025-08-05", "2025-10-02"]),
        "family": ["gpt_5", "gpt_5", "gpt_oss", "gpt_5"],
        "host": ["openai", "openai", "hosts (median)", "openai"],
        "input_usd_per_mtok": [1.25, 1.0, 0.15, 7.0], "output_usd_per_mtok": [10.0, 2.0, 0.6, 7.0]})
    return dict(weekly=weekly, prices=prices, list_prices=list_prices, family_map=family_map)


def test_mini_panel_rows_are_the_hand_checked_ones():
    out = observed_substitution_panel(**mini_inputs())
    got = out.panel[["period", "market", "product_id", "family", "tier", "host",
                     "price_usd_per_mtok", "tokens", "price_source"]]
    market = "openrouter:2025-09-22"  # two consecutive weeks: one market
    expected = pd.DataFrame([
        # week 1: the 1 Sep snapshot, gateway (openrouter) left out; 600 tokens over 2 hosts
        ("2025-09-22", market, "gpt_5|openai|list", "gpt_5", "o1_gpqa", "openai",
         0.75 * 1.25 + 0.25 * 10.0, 300.0, "list_prices"),
        ("2025-09-22", market, "gpt_oss|x/open-a|hostA", "gpt_oss", "r1_gpqa", "hostA",
         0.75 * 0.1 + 0.25 * 0.5, 300.0, "provider_prices"),
        ("2025-09-22", market, "gpt_oss|x/open-a|hostB/fp8", "gpt_oss", "r1_gpqa", "hostB/fp8",
         0.75 * 0.2 + 0.25 * 0.6, 300.0, "provider_prices"),
        # week 2: the 25 Sep snapshot (hostA only) and gpt_5's list price of 28 Sep
        ("2025-09-29", market, "gpt_5|openai|list", "gpt_5", "o1_gpqa", "openai",
         0.75 * 1.0 + 0.25 * 2.0, 500.0, "list_prices"),
        ("2025-09-29", market, "gpt_oss|x/open-a|hostA", "gpt_oss", "r1_gpqa", "hostA",
         0.75 * 0.2 + 0.25 * 0.2, 400.0, "provider_prices"),
    ], columns=got.columns)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), expected)


def test_mini_panel_says_where_each_weeks_tokens_went():
    volume = observed_substitution_panel(**mini_inputs()).volume
    assert volume.loc[MON1, ["total", "mapped", "mapped_no_price", "free_endpoint",
                             "not_in_catalogue", "other"]].tolist() == [1000, 900, 0, 50, 30, 20]
    assert volume.loc[MON2, ["total", "mapped", "other"]].tolist() == [1000, 900, 100]
    assert volume.loc[MON1, "free_endpoint_share"] == pytest.approx(0.05)


def test_family_without_any_price_is_dropped_and_counted():
    inputs = mini_inputs()
    inputs["list_prices"] = inputs["list_prices"][inputs["list_prices"]["family"] != "gpt_5"]
    out = observed_substitution_panel(**inputs)
    assert "gpt_5" not in set(out.panel["family"])
    assert out.volume.loc[MON1, "mapped_no_price"] == 300
    assert out.volume.loc[MON2, "mapped"] == 400


def test_weeks_apart_are_separate_markets():
    inputs = mini_inputs()
    inputs["weekly"] = inputs["weekly"].assign(
        week_start=inputs["weekly"]["week_start"].replace({MON2: pd.Timestamp("2025-10-06")}))
    markets = observed_substitution_panel(**inputs).panel.groupby("period")["market"].first()
    assert markets.to_dict() == {"2025-09-22": "openrouter:2025-09-22",
                                 "2025-10-06": "openrouter:2025-10-06"}


# --- the pre-registered split -----------------------------------------------------------------


def test_held_out_week_is_refused_unless_its_role_is_asked_for():
    inputs = mini_inputs()
    held = pd.Timestamp("2026-03-30")  # the split date: the first held-out week
    inputs["weekly"] = pd.concat([inputs["weekly"], inputs["weekly"].iloc[:2].assign(
        week_start=held)], ignore_index=True)
    with pytest.raises(HeldOutWeekError, match="held_out"):
        observed_substitution_panel(**inputs, weeks=[held])
    default = observed_substitution_panel(**inputs)
    assert set(default.panel["period"]) == {"2025-09-22", "2025-09-29"}
    assert set(default.roles) == {"fit"}
    asked = observed_substitution_panel(**inputs, roles=("held_out",), weeks=[held])
    assert set(asked.panel["period"]) == {"2026-03-30"}


def test_shipped_panel_default_has_only_fit_weeks():
    out = observed_substitution_panel()
    assert pd.to_datetime(out.panel["period"]).max() < pd.Timestamp("2026-03-30")
    held = observed_substitution_panel(roles=("held_out",))
    assert pd.to_datetime(held.panel["period"]).min() >= pd.Timestamp("2026-03-30")
    weeks = load_openrouter_weekly()["week_start"].nunique()
    assert len(out.roles) + len(held.roles) == weeks


# --- the slug -> family map -------------------------------------------------------------------


def test_shipped_map_has_unique_slugs_and_only_catalogue_families_and_tiers():
    family_map = load_family_map()
    families = load_catalogue(market_version=3).families
    assert not family_map["slug"].duplicated().any()
    for row in family_map.itertuples():
        assert row.family in families
        assert row.tier == families[row.family].tier
        assert row.source.strip()
    weekly_slugs = set(load_openrouter_weekly()["model_id"])
    assert set(family_map["slug"]) <= weekly_slugs  # every mapped slug is in the panel


@pytest.mark.parametrize("row, problem", [
    ("x/a,gpt_5,r1_gpqa,,why", "catalogue's tier"),
    ("x/a,gpt_9,o1_gpqa,,why", "not a catalogue family"),
    ("x/a:free,gpt_5,o1_gpqa,,why", "not a priced model"),
])
def test_map_refuses_a_wrong_row(tmp_path, row, problem):
    path = tmp_path / "map.csv"
    path.write_text("slug,family,tier,price_model_id,source\n" + row + "\n", encoding="utf-8")
    with pytest.raises(PanelDataError, match=problem):
        load_family_map(path)


def test_map_refuses_a_duplicate_slug(tmp_path):
    path = tmp_path / "map.csv"
    path.write_text("slug,family,tier,price_model_id,source\nx/a,gpt_5,o1_gpqa,,why\n"
                    "x/a,gpt_5,o1_gpqa,,why\n", encoding="utf-8")
    with pytest.raises(PanelDataError, match="duplicate slug"):
        load_family_map(path)


# --- predicted shares ---------------------------------------------------------------------------


def test_predicted_shares_hand_computed_logit():
    # one class, no nesting: s_j = exp(xi_f - alpha log(p + pbar)) / sum; alpha = 1.5 + 0.5 = 2
    panel = pd.DataFrame({"period": ["w"] * 3, "market": ["m"] * 3,
                          "product_id": ["a1", "a2", "b1"], "family": ["a", "a", "b"],
                          "tier": ["t", "t", "t"], "host": ["h1", "h2", "h1"],
                          "price_usd_per_mtok": [1.0, 2.0, 1.0], "tokens": [1.0, 1.0, 1.0]})
    params = SubstitutionParameters(bulk_alpha_excess=0.5, quality_alpha_excess=0.5,
                                    bulk_class_share=1.0, nest_sigma=0.0, tier_sigma=0.0,
                                    family_utils={"a": 0.0, "b": math.log(2.0)})
    weight = np.array([1.0, 0.25, 2.0])  # exp(-2 log 1), exp(-2 log 2), 2 exp(0)
    share = predicted_shares(panel, params, eta=1.5, price_offset_usd_per_mtok=0.0)
    np.testing.assert_allclose(share.to_numpy(), weight / weight.sum(), rtol=1e-9)
    by_family = predicted_shares(panel, params, eta=1.5, price_offset_usd_per_mtok=0.0,
                                 tokens_by="family")
    np.testing.assert_allclose(by_family.to_numpy(), [1.25 / 3.25, 1.25 / 3.25, 2.0 / 3.25],
                               rtol=1e-9)
    with pytest.raises(ValueError, match="without an effect"):
        predicted_shares(panel, SubstitutionParameters(1.0, 1.0, 1.0, 0.0, 0.0, {"a": 0.0}),
                         eta=1.5, price_offset_usd_per_mtok=0.0)
