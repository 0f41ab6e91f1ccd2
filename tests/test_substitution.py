"""Stage-1 substitution estimator (pricewar/calibrate/substitution.py; docs/calibration.md,
"Stage 1: substitution"): a hand-computed logit, recovery of known parameters from synthetic
panels, the inertia bias of a static fit to stock shares, and identification errors."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pricewar.calibrate.substitution import (
    PANEL_COLUMNS,
    PanelFormatError,
    SubstitutionIdentificationError,
    SubstitutionParameters,
    estimate_substitution,
    synthetic_panel,
)

#: sectors.toml eta and market.toml [market] price_offset_usd_per_mtok (docs/calibration.md C6,
#: C17): the values the v3 market runs with
ETA = 1.2
OFFSET = 0.01
KW = dict(eta=ETA, price_offset_usd_per_mtok=OFFSET)
#: market.toml's values (docs/calibration.md C17) with family effects and endogenous prices
DEFAULT = SubstitutionParameters(bulk_alpha_excess=2.0, quality_alpha_excess=0.2,
                                 bulk_class_share=0.6, nest_sigma=0.875, tier_sigma=0.5,
                                 family_utils={"f1": 0.5, "f2": -0.3, "f3": 1.0},
                                 control_utils=1.0)
FOCUS = ("bulk_alpha_excess", "quality_alpha_excess", "bulk_class_share", "nest_sigma",
         "tier_sigma", "control_utils")


def two_products(prices_by_period, shares_by_period) -> pd.DataFrame:
    """One family sold by two hosts in one market: one row per (period, host)."""
    rows = [(t, "m", f"a@{h}", "a", "t", h, p, 1000.0 * s)
            for t, (prices, shares) in enumerate(zip(prices_by_period, shares_by_period,
                                                     strict=True))
            for h, p, s in zip(("h0", "h1"), prices, shares, strict=True)]
    return pd.DataFrame(rows, columns=list(PANEL_COLUMNS))


def z_scores(estimate, truth: SubstitutionParameters, names=FOCUS) -> dict[str, float]:
    """``|estimate - truth| / SE`` per parameter; a parameter estimated at its bound (SE NaN)
    counts as 0 when the truth is within 0.05 of the estimate, else inf."""
    found, true = estimate.parameters.as_dict(), truth.as_dict()
    out = {}
    for name in names:
        error, se = abs(found[name] - true[name]), estimate.standard_error[name]
        out[name] = error / se if np.isfinite(se) else (0.0 if error <= 0.05 else np.inf)
    return out


# --- hand-computed --------------------------------------------------------------------------


def test_two_product_logit_recovers_the_hand_computed_alpha():
    # equal prices: equal shares; host 0 at twice host 1's price: s0/s1 = 2^-alpha. Shares
    # 0.2/0.8 give 2^-alpha = 1/4, alpha = 2 = eta + 0.8 (plain logit: sigma's 0, one class)
    panel = two_products([(1.0, 1.0), (2.0, 1.0)], [(0.5, 0.5), (0.2, 0.8)])
    est = estimate_substitution(panel, eta=ETA, price_offset_usd_per_mtok=0.0, classes=1,
                                fixed={"nest_sigma": 0.0, "tier_sigma": 0.0})
    assert est.converged
    assert est.parameters.bulk_alpha_excess == pytest.approx(0.8, abs=1e-6)
    # l = 0.5 log 0.5 + 0.5 log 0.5 + 0.2 log 0.2 + 0.8 log 0.8 at an exact fit
    assert est.log_likelihood == pytest.approx(math.log(0.5) + 0.2 * math.log(0.2)
                                               + 0.8 * math.log(0.8), abs=1e-9)
    assert est.n_market_periods == 2 and est.n_rows == 4 and est.first_stage_f is None


def test_two_hosts_of_one_family_identify_alpha_over_one_minus_nest_sigma():
    # within a family nest s0/s1 = (P0/P1)^(-alpha/(1 - sigma)): the same shares with sigma
    # 0.2 fixed give alpha = 2 (1 - 0.2) = 1.6 = eta + 0.4
    panel = two_products([(1.0, 1.0), (2.0, 1.0)], [(0.5, 0.5), (0.2, 0.8)])
    est = estimate_substitution(panel, eta=ETA, price_offset_usd_per_mtok=0.0, classes=1,
                                fixed={"nest_sigma": 0.2, "tier_sigma": 0.0})
    assert est.parameters.bulk_alpha_excess == pytest.approx(0.4, abs=1e-6)


def test_the_price_offset_enters_as_log_of_price_plus_offset():
    # P = p + pbar: prices 1.9 and 0.9 with pbar 0.1 are route prices 2 and 1, alpha = 2
    panel = two_products([(0.9, 0.9), (1.9, 0.9)], [(0.5, 0.5), (0.2, 0.8)])
    est = estimate_substitution(panel, eta=ETA, price_offset_usd_per_mtok=0.1, classes=1,
                                fixed={"nest_sigma": 0.0, "tier_sigma": 0.0})
    assert est.parameters.bulk_alpha_excess == pytest.approx(0.8, abs=1e-6)


# --- recovery -------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_recovers_market_toml_values_within_three_standard_errors(seed):
    panel = synthetic_panel(DEFAULT, seed=seed, **KW)
    est = estimate_substitution(panel, starts=1, **KW)
    assert est.converged
    assert est.first_stage_f > 10  # the rent shifter is a strong instrument
    scores = z_scores(est, DEFAULT, FOCUS + ("family_utils[f1]", "family_utils[f3]"))
    assert max(scores.values()) <= 3.0, scores
    # and the estimate is informative: standard errors well inside the declared ranges
    assert est.standard_error["bulk_alpha_excess"] < 0.5
    assert est.standard_error["nest_sigma"] < 0.05


@settings(max_examples=4, deadline=None, derandomize=True)
@given(quality=st.floats(0.01, 1.0), gap=st.floats(1.5, 6.0), share=st.floats(0.3, 0.9),
       nest=st.floats(0.4, 0.95), tier_fraction=st.floats(0.0, 1.0),
       control=st.floats(0.0, 2.0), seed=st.integers(0, 2**16))
def test_recovery_over_the_declared_box_with_separated_classes(quality, gap, share, nest,
                                                               tier_fraction, control, seed):
    """True values inside docs/calibration.md C17's est. ranges (alpha_bulk - eta up to 8,
    alpha_q - eta from 0.01, w 0.3-0.9, sigma_family 0.4-0.95, sigma_tier 0-0.8 and <=
    sigma_family), with the classes' excesses at least 1.5 apart: where they coincide the class
    share is not identified (docs/calibration.md, "Stage 1: substitution", reports that part of
    the box)."""
    truth = SubstitutionParameters(
        bulk_alpha_excess=min(quality + gap, 8.0), quality_alpha_excess=quality,
        bulk_class_share=share, nest_sigma=nest, tier_sigma=tier_fraction * min(nest, 0.8),
        family_utils={"f1": 0.5, "f2": -0.3, "f3": 1.0}, control_utils=control)
    panel = synthetic_panel(truth, seed=seed, n_periods=12, **KW)
    est = estimate_substitution(panel, starts=2, seed=seed, **KW)
    scores = z_scores(est, truth)
    assert max(scores.values()) <= 3.0, (scores, est.parameters)


def test_ignoring_the_cost_shifters_biases_alpha_down_when_prices_move_with_quality():
    # xi = 2 v: a host's price shock is also a quality shock, so high prices sell well and a
    # fit that takes prices as exogenous finds buyers less price-sensitive
    truth = SubstitutionParameters(bulk_alpha_excess=2.0, quality_alpha_excess=1.0,
                                   bulk_class_share=1.0, nest_sigma=0.6, tier_sigma=0.3,
                                   control_utils=2.0)
    panel = synthetic_panel(truth, seed=3, **KW)
    instrumented = estimate_substitution(panel, classes=1, **KW)
    naive = estimate_substitution(panel.drop(columns="cost_shifter_rent"), classes=1, **KW)
    assert max(z_scores(instrumented, truth, ("bulk_alpha_excess", "control_utils"))
               .values()) <= 3.0
    assert naive.parameters.bulk_alpha_excess < 0.5 * truth.bulk_alpha_excess


def test_a_static_fit_to_stock_shares_under_inertia_biases_alpha_down():
    # committed buyers review their host with hazard 0.05 a week: the stock of tokens follows
    # prices with a lag. Fit statically, the stock understates alpha; the shoppers' flow does not
    truth = SubstitutionParameters(bulk_alpha_excess=2.0, quality_alpha_excess=1.0,
                                   bulk_class_share=1.0, nest_sigma=0.6, tier_sigma=0.3)
    panel = synthetic_panel(truth, review_hazard=0.05, seed=4, **KW)
    panel = panel.drop(columns="cost_shifter_rent")  # prices exogenous here
    stock = estimate_substitution(panel, classes=1, **KW)
    flow = estimate_substitution(panel, classes=1, tokens_column="shopper_tokens", **KW)
    assert max(z_scores(flow, truth, ("bulk_alpha_excess", "nest_sigma", "tier_sigma"))
               .values()) <= 3.0
    alpha_true = ETA + truth.bulk_alpha_excess
    alpha_stock = ETA + stock.parameters.bulk_alpha_excess
    assert alpha_stock < 0.6 * alpha_true
    # more than 3 standard errors below, or at the bound alpha = eta (standard error NaN)
    se = stock.standard_error["bulk_alpha_excess"]
    assert np.isnan(se) or truth.bulk_alpha_excess - stock.parameters.bulk_alpha_excess > 3 * se


def test_without_inertia_stock_and_flow_agree():
    # h = 1: every buyer shops every week, the stock is the flow (two draws of it)
    truth = SubstitutionParameters(bulk_alpha_excess=2.0, quality_alpha_excess=1.0,
                                   bulk_class_share=1.0, nest_sigma=0.6, tier_sigma=0.3)
    panel = synthetic_panel(truth, review_hazard=1.0, seed=5, **KW)
    panel = panel.drop(columns="cost_shifter_rent")
    stock = estimate_substitution(panel, classes=1, **KW)
    assert z_scores(stock, truth, ("bulk_alpha_excess",))["bulk_alpha_excess"] <= 3.0


def test_the_estimate_does_not_depend_on_the_order_or_scale_of_the_rows():
    panel = synthetic_panel(DEFAULT, seed=6, n_periods=8, **KW)
    first = estimate_substitution(panel, starts=1, **KW)
    shuffled = panel.sample(frac=1.0, random_state=0).assign(tokens=lambda f: 7.0 * f["tokens"])
    second = estimate_substitution(shuffled, starts=1, **KW)
    for name, value in first.parameters.as_dict().items():
        assert second.parameters.as_dict()[name] == pytest.approx(value, rel=1e-5, abs=1e-6)


def test_tokens_known_per_model_only_still_recover_alpha_less_precisely():
    # OpenRouter's rankings give tokens per model, prices per host: fitted on family totals,
    # the hosts' prices act through the family's inclusive value only
    truth = SubstitutionParameters(bulk_alpha_excess=2.0, quality_alpha_excess=1.0,
                                   bulk_class_share=1.0, nest_sigma=0.6, tier_sigma=0.3,
                                   family_utils={"f1": 0.5, "f2": -0.3, "f3": 1.0},
                                   control_utils=1.0)
    panel = synthetic_panel(truth, seed=1, **KW)
    by_product = estimate_substitution(panel, classes=1, starts=1, **KW)
    by_family = estimate_substitution(panel, classes=1, tokens_by="family", starts=1, **KW)
    assert max(z_scores(by_family, truth, ("bulk_alpha_excess", "nest_sigma", "tier_sigma",
                                           "control_utils")).values()) <= 3.0
    for name in ("bulk_alpha_excess", "nest_sigma"):
        assert by_family.standard_error[name] > by_product.standard_error[name]


# --- identification and format errors -------------------------------------------------------


def test_no_model_sold_by_two_hosts_leaves_alpha_unidentified():
    panel = synthetic_panel(DEFAULT, seed=1, n_periods=4, **KW)
    one_host = panel[panel["host"] == "h0"]
    with pytest.raises(SubstitutionIdentificationError, match="not identified separately from "
                       "the family effect"):
        estimate_substitution(one_host, **KW)


def test_hosts_of_a_model_at_one_price_leave_alpha_unidentified():
    panel = synthetic_panel(DEFAULT, seed=1, n_periods=4, **KW)
    same = panel.assign(price_usd_per_mtok=panel.groupby(["period", "market", "family"])[
        "price_usd_per_mtok"].transform("mean"))
    with pytest.raises(SubstitutionIdentificationError, match="two hosts at different prices"):
        estimate_substitution(same.drop(columns="cost_shifter_rent"), **KW)


def test_one_tier_leaves_tier_sigma_unidentified_unless_fixed():
    panel = synthetic_panel(DEFAULT, seed=1, n_periods=6, families_per_tier=(3,), **KW)
    with pytest.raises(SubstitutionIdentificationError, match="no market-period has two tiers"):
        estimate_substitution(panel, classes=1, **KW)
    est = estimate_substitution(panel, classes=1, fixed={"tier_sigma": 0.0}, starts=1, **KW)
    assert "tier_sigma" not in est.standard_error


def test_one_family_per_tier_leaves_tier_sigma_unidentified():
    panel = synthetic_panel(DEFAULT, seed=1, n_periods=6, families_per_tier=(1, 1), **KW)
    with pytest.raises(SubstitutionIdentificationError, match="no tier has two families"):
        estimate_substitution(panel, classes=1, **KW)


def test_a_cost_shifter_without_own_variation_is_refused():
    panel = synthetic_panel(DEFAULT, seed=1, n_periods=4, **KW)
    # constant within each market-period: the market-period effects absorb it
    flat = panel.assign(cost_shifter_rent=panel.groupby(["period", "market"])[
        "cost_shifter_rent"].transform("mean"))
    with pytest.raises(SubstitutionIdentificationError, match="cost shifter 'cost_shifter_rent' "
                       "has no variation"):
        estimate_substitution(flat, **KW)


@pytest.mark.parametrize("change, message", [
    (lambda f: f.drop(columns="host"), "lacks the columns"),
    (lambda f: f.assign(price_usd_per_mtok=-f["price_usd_per_mtok"]), "must be finite and >= 0"),
    (lambda f: pd.concat([f, f.iloc[:1]]), "appears twice"),
    (lambda f: f.assign(tier=np.where(f.index == 0, "t9", f["tier"])), "several tier labels"),
    (lambda f: f.assign(tokens=np.where(f["period"] == 0, 0.0, f["tokens"])), "has no tokens"),
])
def test_a_panel_not_in_the_documented_format_is_refused(change, message):
    panel = synthetic_panel(DEFAULT, seed=1, n_periods=3, **KW)
    with pytest.raises(PanelFormatError, match=message):
        estimate_substitution(change(panel), **KW)


@pytest.mark.parametrize("options, message", [
    (dict(eta=1.0), "eta must be > 1"),
    (dict(classes=3), "classes must be 1 or 2"),
    (dict(tokens_by="host"), "tokens_by must be one of"),
    (dict(fixed={"alpha": 1.0}), "unknown parameters"),
    (dict(fixed={"tier_sigma": 0.9, "nest_sigma": 0.5}), "must not exceed nest_sigma"),
    (dict(fixed={"bulk_alpha_excess": 0.1, "quality_alpha_excess": 1.0}), "must be >="),
])
def test_bad_options_are_refused(options, message):
    panel = synthetic_panel(DEFAULT, seed=1, n_periods=3, **KW)
    with pytest.raises(ValueError, match=message):
        estimate_substitution(panel, **{**KW, **options})
