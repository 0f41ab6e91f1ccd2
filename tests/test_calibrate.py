"""Calibration layer without model runs: priors, summaries, observed targets, spec validation and
the ABC (against a toy with an analytic posterior)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pricewar.calibrate.abc import (
    AbcInputError,
    rejection_abc,
    weighted_mean_sd,
    weighted_quantile,
)
from pricewar.calibrate.priors import Prior, from_free_matrix, to_free_matrix, unit_design
from pricewar.calibrate.spec import CalibrationSpecError, load_calibration_spec
from pricewar.calibrate.summaries import (
    SUMMARY_REGISTRY,
    bind_arguments,
    decline_factor_per_year,
    summary,
)
from pricewar.calibrate.targets import TargetDataError, observed_targets
from pricewar.errors import PricewarError
from pricewar.model.metrics import MODEL_METRICS

ROOT = Path(__file__).resolve().parents[1]
OBSERVED = ROOT / "pricewar" / "data" / "observed"


# ------------------------------------------------------------------------------------------------
# priors
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("prior", [Prior("a", 0.02, 0.08), Prior("b", 0.5, 5.0, "log-uniform")])
def test_prior_maps_round_trip_and_free_values_stay_inside_the_box(prior):
    x = prior.from_unit(np.linspace(0.01, 0.99, 25))
    assert np.allclose(prior.from_free(prior.to_free(x)), x, rtol=1e-9)
    assert np.allclose(prior.to_unit(prior.from_unit([0.0, 0.5, 1.0])), [0.0, 0.5, 1.0])
    extreme = prior.from_free(np.array([-1e6, -40.0, 0.0, 40.0, 1e6]))
    assert np.all((extreme >= prior.low) & (extreme <= prior.high))


def test_log_uniform_prior_is_uniform_in_the_logarithm():
    prior = Prior("f", 0.5, 5.0, "log-uniform")
    assert prior.from_unit(0.5) == pytest.approx(math.sqrt(0.5 * 5.0))


def test_unit_design_is_a_latin_hypercube():
    u = unit_design(40, 3, seed=1)
    assert u.shape == (40, 3)
    for column in u.T:  # one point in each of the 40 strata of every margin
        assert sorted(np.floor(column * 40).astype(int)) == list(range(40))


# ------------------------------------------------------------------------------------------------
# ABC
# ------------------------------------------------------------------------------------------------
def test_abc_recovers_the_analytic_posterior_of_a_normal_mean():
    """x_1..x_10 ~ N(mu, 1), prior mu ~ U(-5, 5): the posterior given the sample mean 1.0 is
    N(1.0, 1/10) (the prior's truncation is 12 s.d. away)."""
    rng = np.random.default_rng(1)
    prior = Prior("mu", -5.0, 5.0)
    mu = prior.from_unit(rng.random(20_000))
    xbar = mu + rng.normal(0.0, 1 / math.sqrt(10), mu.size)
    result = rejection_abc(to_free_matrix([prior], mu[:, None]), xbar[:, None],
                           np.array([1.0]), quantile=0.05)
    draws = prior.from_free(result.theta[:, 0])
    mean, sd = weighted_mean_sd(draws, result.weights)
    assert mean == pytest.approx(1.0, abs=0.03)
    assert sd == pytest.approx(1 / math.sqrt(10), rel=0.1)
    low, high = weighted_quantile(draws, result.weights, [0.05, 0.95])
    assert low == pytest.approx(1.0 - 1.645 / math.sqrt(10), abs=0.06)
    assert high == pytest.approx(1.0 + 1.645 / math.sqrt(10), abs=0.06)
    assert result.adjusted and result.accepted.size == 1000
    assert result.weights.sum() == pytest.approx(1.0) and (result.weights > 0).all()


def test_regression_adjustment_narrows_a_wide_acceptance_window():
    rng = np.random.default_rng(2)
    prior = Prior("mu", -5.0, 5.0)
    mu = prior.from_unit(rng.random(5000))
    xbar = mu + rng.normal(0.0, 0.1, mu.size)
    free = to_free_matrix([prior], mu[:, None])
    adjusted = rejection_abc(free, xbar[:, None], np.array([0.0]), quantile=0.3)
    plain = rejection_abc(free, xbar[:, None], np.array([0.0]), quantile=0.3, adjust=False)
    sd_adjusted = weighted_mean_sd(prior.from_free(adjusted.theta[:, 0]), adjusted.weights)[1]
    sd_plain = weighted_mean_sd(prior.from_free(plain.theta[:, 0]), plain.weights)[1]
    assert sd_adjusted < 0.3 * sd_plain and sd_adjusted == pytest.approx(0.1, rel=0.25)


def test_adjusted_draws_stay_inside_the_prior_when_the_truth_is_on_its_edge():
    rng = np.random.default_rng(3)
    priors = [Prior("a", 0.0, 1.0), Prior("b", 0.1, 10.0, "log-uniform")]
    values = np.column_stack([p.from_unit(rng.random(4000)) for p in priors])
    stats = np.column_stack([values[:, 0] * 5, np.log(values[:, 1])])
    stats += rng.normal(0.0, 0.05, stats.shape)
    result = rejection_abc(to_free_matrix(priors, values), stats, np.array([0.0, np.log(10.0)]),
                           0.05)
    draws = from_free_matrix(priors, result.theta)
    assert np.all((draws[:, 0] >= 0.0) & (draws[:, 0] <= 1.0))
    assert np.all((draws[:, 1] >= 0.1) & (draws[:, 1] <= 10.0))
    assert weighted_quantile(draws[:, 0], result.weights, 0.95) < 0.1


def test_summary_weights_change_which_runs_are_accepted():
    rng = np.random.default_rng(4)
    theta = rng.normal(size=(500, 1))
    stats = np.column_stack([theta[:, 0], rng.normal(size=500)])
    a = rejection_abc(theta, stats, np.zeros(2), 0.1, np.array([1.0, 1.0]))
    b = rejection_abc(theta, stats, np.zeros(2), 0.1, np.array([1.0, 0.01]))
    assert set(a.accepted) != set(b.accepted)
    assert np.abs(theta[b.accepted, 0]).max() < np.abs(theta[a.accepted, 0]).max()


@pytest.mark.parametrize("stats, observed, quantile, problem", [
    (np.ones((10, 1)), np.zeros(1), 0.5, "does not vary"),
    (np.arange(10.0)[:, None], np.zeros(2), 0.5, "summaries"),
    (np.arange(10.0)[:, None], np.zeros(1), 0.0, "quantile"),
    (np.full((10, 1), np.nan), np.zeros(1), 0.5, "finite"),
])
def test_abc_rejects_unusable_input(stats, observed, quantile, problem):
    with pytest.raises(AbcInputError, match=problem) as info:
        rejection_abc(np.zeros((10, 1)), stats, observed, quantile)
    assert isinstance(info.value, PricewarError)


# ------------------------------------------------------------------------------------------------
# summaries
# ------------------------------------------------------------------------------------------------
def frame(steps: int = 105, step_days: float = 7.0) -> pd.DataFrame:
    dates = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.arange(steps) * step_days, unit="D")
    years = np.arange(steps) * step_days / 365.25
    return pd.DataFrame({"step": np.arange(steps), "date": dates,
                         "price": 8.0 * 10.0 ** -years, "a": 2.0, "b": 3.0,
                         "share": np.linspace(0.0, 1.0, steps)})


def test_decline_factor_of_an_exact_exponential_is_its_factor():
    value = decline_factor_per_year(frame(), "price", "2024-01-01", "2025-12-29")
    assert value == pytest.approx(10.0, rel=1e-9)


def test_builtin_summaries_on_a_known_frame():
    f = frame()
    call = {name: SUMMARY_REGISTRY[name] for name in SUMMARY_REGISTRY}
    assert call["value_at"](f, reporter="share", date="2024-01-02") == 0.0
    assert call["tokens_per_day"](f, reporters=["a", "b"], date="2025-01-01") \
        == pytest.approx(5.0 * 1e6 / 7.0)
    assert call["ratio"](f, numerator="b", denominator="a", start="2024-03-01",
                         end="2024-06-01") == pytest.approx(1.5)
    assert call["change"](f, reporter="price", before="2024-01-01",
                          after="2024-12-30") == pytest.approx(10 ** (-364 / 365.25))
    assert call["mean_over"](f, reporter="share", start="2024-01-01",
                             end="2025-12-29") == pytest.approx(0.5)


def test_annualised_flow_and_log_growth_by_hand():
    f = frame()
    f["hosts"] = 32.0 * np.exp(0.3 * np.arange(len(f)) * 7.0 / 365.25)
    call = SUMMARY_REGISTRY
    # 3 USD a 7-day step is 3 x 365.25 / 7 = 156.5357... a year
    assert call["per_year_at"](f, reporter="b", date="2024-06-01") == pytest.approx(156.535714,
                                                                                  rel=1e-6)
    assert call["log_growth_per_year"](f, reporter="hosts", start="2024-10-03",
                                       end="2025-11-06") == pytest.approx(0.3, rel=1e-12)
    f.loc[0, "hosts"] = 0.0  # nothing live at the start: no growth rate
    assert np.isnan(call["log_growth_per_year"](f, reporter="hosts", start="2024-01-01",
                                                end="2025-01-01"))
    assert np.isnan(call["log_growth_per_year"](f, reporter="hosts", start="2025-01-01",
                                                end="2025-01-02"))  # one step: no time


def test_summaries_leave_out_steps_where_a_v2_price_reporter_is_zero():
    """v2's price_cheapest_<tier> and price_tier_<tier>_<bloc> are 0 while no product reaches
    the tier: the fit and the ratios use the priced steps only; nothing priced gives NaN."""
    f = frame()
    f.loc[:20, "price"] = 0.0  # no product at the tier for the first 21 weeks
    assert decline_factor_per_year(f, "price", "2024-01-01", "2025-12-29") \
        == pytest.approx(10.0, rel=1e-9)
    f["price"] = 0.0
    assert math.isnan(decline_factor_per_year(f, "price", "2024-01-01", "2025-12-29"))
    f = frame()
    f.loc[:9, "a"] = 0.0
    call = SUMMARY_REGISTRY
    assert call["ratio"](f, numerator="b", denominator="a", start="2024-01-01",
                         end="2024-06-01") == pytest.approx(1.5)
    f["a"] = 0.0
    assert math.isnan(call["ratio"](f, numerator="b", denominator="a", start="2024-01-01",
                                    end="2024-06-01"))
    assert math.isnan(call["change"](f, reporter="a", before="2024-01-01", after="2024-06-01"))


def test_pair_ratio_is_the_geometric_mean_over_priced_pairs_and_steps():
    f = frame()
    f["c"], f["d"] = 8.0, 2.0
    f.loc[:51, "d"] = 0.0  # the second pair is priced in the second year only
    value = SUMMARY_REGISTRY["pair_ratio"](f, numerators=["b", "c"], denominators=["a", "d"],
                                           start="2024-01-01", end="2025-12-29")
    assert value == pytest.approx(math.exp((105 * math.log(1.5) + 53 * math.log(4.0)) / 158))
    with pytest.raises(ValueError, match="same length"):
        bind_arguments("pair_ratio", {"numerators": ["b", "c"], "denominators": ["a"],
                                      "start": "2024-01-01", "end": "2024-06-01"})


def test_a_registered_summary_is_usable_by_name_and_checked_for_its_arguments():
    @summary("test_last_value", reporters=("reporter",))
    def last_value(frame, reporter):
        return frame[reporter].iloc[-1]

    try:
        assert SUMMARY_REGISTRY["test_last_value"](frame(), reporter="share") == 1.0
        with pytest.raises(ValueError, match="unknown argument 'date'"):
            bind_arguments("test_last_value", {"reporter": "share", "date": "2024-01-01"})
        with pytest.raises(ValueError, match="missing argument 'reporter'"):
            bind_arguments("test_last_value", {})
        with pytest.raises(ValueError, match="not an argument"):
            summary("broken", reporters=("nothing",))(last_value)
    finally:
        SUMMARY_REGISTRY.pop("test_last_value")


# ------------------------------------------------------------------------------------------------
# observed targets
# ------------------------------------------------------------------------------------------------
def test_shipped_targets_load_with_a_source_a_date_and_a_positive_sd():
    targets = observed_targets()
    assert len(targets) >= 15
    for target in targets.values():
        assert target.source and target.date and target.derivation and target.sd > 0
        low, high = target.interval()
        assert low < target.value < high


def test_an_interval_becomes_an_sd_on_the_log_scale():
    target = observed_targets()["epoch_decline_gpt4_gpqa"]
    assert target.sd == pytest.approx(math.log(401.4 / 4.398) / (2 * 1.6448536), rel=1e-6)
    assert target.interval() == pytest.approx((4.398, 401.4), rel=1e-3)


def test_pooled_epoch_decline_is_the_random_effects_mean_of_epochs_fits():
    table = pd.read_csv(OBSERVED / "lowest_price_models_results.csv")
    bounds = table["price_reduction_factor_per_year_90_ci"].str.strip("[]").str.split(",")
    y = np.log(table["price_reduction_factor_per_year"].to_numpy())
    se = (np.log(bounds.str[1].astype(float)) - np.log(bounds.str[0].astype(float))) / (
        2 * 1.6448536)
    w = 1 / se**2
    fixed = (w * y).sum() / w.sum()
    q = (w * (y - fixed) ** 2).sum()
    tau2 = max(0.0, (q - (len(y) - 1)) / (w.sum() - (w**2).sum() / w.sum()))
    wr = 1 / (se**2 + tau2)
    pooled = observed_targets()["epoch_decline_pooled"]
    assert pooled.value == pytest.approx(math.exp((wr * y).sum() / wr.sum()), rel=1e-3)
    assert pooled.sd == pytest.approx(math.sqrt(tau2 + 1 / wr.sum()), rel=1e-2)


def test_cn_us_price_ratio_is_the_geometric_mean_of_the_same_tier_pairs():
    pairs = pd.read_csv(OBSERVED / "cn_us_price_pairs.csv")
    ratios = pairs["us_blended_usd_per_mtok"] / pairs["cn_blended_usd_per_mtok"]
    assert ratios.to_numpy() == pytest.approx(pairs["us_over_cn"].to_numpy(), rel=1e-3)
    blended = 0.75 * pairs["cn_input_usd_per_mtok"] + 0.25 * pairs["cn_output_usd_per_mtok"]
    assert blended.to_numpy() == pytest.approx(pairs["cn_blended_usd_per_mtok"].to_numpy(),
                                               rel=1e-3)
    logs = np.log(ratios.to_numpy())
    target = observed_targets()["cn_us_price_ratio_2025"]
    assert target.value == pytest.approx(math.exp(logs.mean()), rel=1e-3)
    assert target.sd == pytest.approx(logs.std(ddof=1) / math.sqrt(len(logs)), rel=1e-2)
    assert pairs["source"].str.len().min() > 20


def test_china_token_targets_match_the_national_data_administration_series():
    series = pd.read_csv(OBSERVED / "china_daily_tokens.csv").set_index("date")
    targets = observed_targets()
    for target_id, date in (("china_daily_tokens_2025_06", "2025-06-30"),
                            ("china_daily_tokens_2025_12", "2025-12-31"),
                            ("china_daily_tokens_2026_03", "2026-03-31")):
        assert targets[target_id].value == series.loc[date, "tokens_per_day"]


def write_targets(path: Path, **changes) -> Path:
    row = {"target": "t", "value": "2.0", "unit": "x", "scale": "log", "sd": "0.1",
           "ci_low": "", "ci_high": "", "ci_level": "", "date": "2025-01-01", "date_end": "",
           "derivation": "d", "source": "s", **changes}
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        writer.writeheader()
        writer.writerow(row)
    return path


@pytest.mark.parametrize("changes, key", [
    ({"scale": "cubic"}, "t.scale"),
    ({"value": "-1"}, "t.value"),
    ({"sd": ""}, "t.sd"),
    ({"ci_low": "1", "ci_high": "3", "ci_level": "0.9"}, "t.sd"),
    ({"sd": "", "ci_low": "2.5", "ci_high": "3", "ci_level": "0.9"}, "t.ci_low"),
    ({"source": ""}, "t.source"),
])
def test_an_invalid_targets_file_names_the_target_and_column(tmp_path, changes, key):
    with pytest.raises(TargetDataError) as info:
        observed_targets(write_targets(tmp_path / "t.csv", **changes))
    assert info.value.key_path == key


# ------------------------------------------------------------------------------------------------
# spec validation
# ------------------------------------------------------------------------------------------------
def spec(**changes) -> dict:
    data = {
        "name": "test", "scenario": "baseline",
        "parameters": {"demand_growth": {"low": 0.02, "high": 0.08},
                       "friction_utils": {"low": 0.5, "high": 5.0, "prior": "log-uniform"}},
        "targets": {
            "tokens": {"observed": "china_daily_tokens_2025_12", "summary": "tokens_per_day",
                       "args": {"reporters": ["throughput_cn_west", "throughput_cn_east"],
                                "date": "2025-12-31"}},
            "share": {"observed": "cn_oss_share_openrouter_2025", "summary": "mean_over",
                      "args": {"reporter": "cn_share_western", "start": "2025-01-01",
                               "end": "2025-12-31"}},
            "later": {"observed": "china_daily_tokens_2026_03", "summary": "tokens_per_day",
                      "args": {"reporters": ["throughput_cn_east"], "date": "2026-03-31"},
                      "held_out": True},
            "synthetic": {"value": 0.5, "sd": 0.1, "summary": "value_at",
                          "args": {"reporter": "share_us", "date": "2025-06-30"},
                          "held_out": True}},
        "size": {"n_consumers": 250},
        "budget": {"simulations": 100, "acceptance_quantile": 0.2},
        "quick": {"simulations": 50, "size": {"n_consumers": 100}},
    }
    for key, value in changes.items():
        node = data
        *parents, leaf = key.split(".")
        for parent in parents:
            node = node[parent]
        if value is None:
            node.pop(leaf)
        else:
            node[leaf] = value
    return data


def test_a_valid_spec_loads_with_its_modes_and_the_steps_its_dates_need():
    loaded = load_calibration_spec(spec())
    assert loaded.names == ["demand_growth", "friction_utils"]
    assert [t.name for t in loaded.held_out_targets] == ["later", "synthetic"]
    assert loaded.parameters[1].kind == "log-uniform"
    assert loaded.mode(True) == (loaded.quick_budget, {"n_consumers": 100})
    assert loaded.quick_budget.acceptance_quantile == 0.2  # inherited from [budget]
    assert loaded.steps() == 118  # 2026-03-31 is step 117.4 of weekly steps from 2024-01-01
    assert loaded.targets[3].observed.value == 0.5 and loaded.targets[3].observed.sd == 0.1


def test_shipped_v1_spec_is_valid():
    loaded = load_calibration_spec(ROOT / "experiments" / "calibration" / "v1.toml")
    assert len(loaded.held_out_targets) >= 2 and loaded.budget.simulations == 4000


V2_MODEL = "price_open" in MODEL_METRICS  # the v2 model's reporters (branch v2-model)


@pytest.mark.skipif(V2_MODEL, reason="the v1 model's behaviour")
def test_v2_spec_fails_on_the_v1_model_naming_the_first_v2_override():
    with pytest.raises(CalibrationSpecError) as info:
        load_calibration_spec(ROOT / "experiments" / "calibration" / "v2.toml")
    assert info.value.key_path == "parameters.nest_sigma"
    assert "unknown override" in info.value.problem and "\n" not in str(info.value)


@pytest.mark.skipif(not V2_MODEL, reason="needs the v2 model's reporters and overrides")
def test_v2_spec_loads_on_the_v2_model_leaving_out_only_its_optional_targets():
    loaded = load_calibration_spec(ROOT / "experiments" / "calibration" / "v2.toml")
    assert "nest_sigma" in loaded.names and len(loaded.held_out_targets) >= 3
    assert {name for name, _ in loaded.skipped} <= {"cascade_followers", "h100_rent_decline"}


@pytest.mark.skipif(not V2_MODEL, reason="needs the v2 model's reporters and overrides")
def test_calibrated_scenario_file_holds_its_base_and_only_the_estimated_keys(tmp_path):
    """The file ``pricewar calibrate`` writes inherits from the spec's scenario and sets only the
    keys the estimated parameters set (every sector's eta for demand_eta, every sector's alpha
    times the factor for alpha_scale), at the medians."""
    import tomllib

    from pricewar.calibrate.report import calibrated_scenario_toml
    from pricewar.scenario import load_scenario

    spec = load_calibration_spec(ROOT / "experiments" / "calibration" / "v2.toml")
    median = {"demand_growth": 0.011, "nest_sigma": 0.83, "demand_eta": 1.21,
              "quality_slope": 0.07, "friction_utils": 0.0, "family_friction_utils": 1.3,
              "closed_premium": 2.1, "alpha_scale": 1.1}
    table = pd.DataFrame([{"parameter": p.name, "prior": p.kind, "prior_low": p.low,
                           "prior_high": p.high, "q05": p.low, "median": median[p.name],
                           "q95": p.high} for p in spec.parameters])
    text = calibrated_scenario_toml(spec, table, "abc", {"n_consumers": 100},
                                    run="runs/x: 300 prior runs (seeds 1-300)")
    content = tomllib.loads(text)
    base = load_scenario("baseline")
    assert content.pop("base") == "baseline" and content.pop("name") == "calibrated"
    content.pop("description")
    assert set(content) == {"demand", "sectors", "quality", "trade"}
    assert set(content["demand"]) == {"growth_per_step", "nest_sigma"}
    assert set(content["sectors"]) == set(base.sectors)
    assert all(set(v) == {"eta", "alpha"} for v in content["sectors"].values())
    assert set(content["quality"]) == {"slope_utils_per_point", "closed_premium_utils"}
    assert "# Run: runs/x: 300 prior runs (seeds 1-300)" in text
    assert "nest_sigma = 0.83  (90% interval 0.4 - 0.95" in text
    path = tmp_path / "calibrated.toml"
    path.write_text(text)
    scenario = load_scenario(path)
    assert scenario.name == "calibrated" and scenario.steps == base.steps
    assert scenario.demand.nest_sigma == 0.83 and scenario.trade.friction_utils == 0.0
    assert all(s.eta == 1.21 for s in scenario.sectors.values())
    for name, sector in scenario.sectors.items():
        assert sector.alpha == pytest.approx(1.1 * base.sectors[name].alpha)
    assert scenario.quality.closed_premium_utils == 2.1
    assert scenario.sources["trade.family_friction_utils"].startswith(
        "estimated by pricewar calibrate: v2")
    assert scenario.regions == base.regions  # everything else is the base's


@pytest.mark.skipif(V2_MODEL, reason="the v2 model has these reporters")
def test_v1_reporters_of_a_v2_target_fail_naming_every_missing_reporter():
    """The v2 targets checked against the v1 model's reporters (check_reporters on): the error
    names each missing reporter at once, not the first only."""
    data = spec(**{"targets.tokens.args.reporters": ["price_open", "share_open"]})
    with pytest.raises(CalibrationSpecError) as info:
        load_calibration_spec(data)
    assert info.value.value == ["price_open", "share_open"]
    assert "no such reporter" in info.value.problem


def test_an_optional_target_whose_reporter_is_missing_is_left_out_and_recorded(caplog):
    data = spec()
    data["targets"]["rent"] = {"value": 0.6, "sd": 0.1, "summary": "value_at", "held_out": True,
                               "args": {"reporter": "no_such_rental_reporter",
                                        "date": "2025-10-15"}, "optional": True}
    with caplog.at_level("WARNING", logger="pricewar.calibrate.spec"):
        loaded = load_calibration_spec(data)
    assert "rent" not in [t.name for t in loaded.targets]
    assert loaded.skipped == (("rent", ("no_such_rental_reporter",)),)
    assert "no_such_rental_reporter" in caplog.text
    # leaving it out must not take the spec below two held-out targets
    data["targets"]["later"]["optional"] = True
    data["targets"]["later"]["args"]["reporters"] = ["no_such_reporter"]
    with pytest.raises(CalibrationSpecError, match="after leaving out the optional"):
        load_calibration_spec(data)


@pytest.mark.parametrize("changes, key, problem", [
    ({"parameters.no_such_override": {"low": 0, "high": 1}}, "parameters.no_such_override",
     "unknown override"),
    ({"parameters.n_producers": {"low": 2, "high": 9}}, "parameters.n_producers",
     "only float overrides"),
    ({"parameters.demand_growth": {"low": 0.08, "high": 0.02}}, "parameters.demand_growth.high",
     "greater than low"),
    ({"parameters.friction_utils.low": 0.0}, "parameters.friction_utils.low", "low > 0"),
    ({"parameters.demand_growth.prior": "normal"}, "parameters.demand_growth.prior",
     "expected one of"),
    ({"size.demand_growth": 0.05}, "parameters.demand_growth", "fixed or estimated"),
    ({"targets.tokens.summary": "median"}, "targets.tokens.summary", "unknown summary"),
    ({"targets.tokens.args": {"reporters": ["throughput_cn_east"]}}, "targets.tokens.args",
     "missing argument 'date'"),
    ({"targets.tokens.args.date": "soon"}, "targets.tokens.args", "expected a date"),
    ({"targets.tokens.args.date": "2023-06-30"}, "targets.tokens.args", "before the scenario"),
    ({"targets.tokens.observed": "gdp"}, "targets.tokens.observed", "unknown observed target"),
    ({"targets.tokens.args.reporters": ["no_such_reporter"]}, "targets.tokens.args",
     "no such reporter"),
    ({"targets.later.held_out": None}, "targets", "hold out at least 2"),
    ({"targets.share.weight": 0}, "targets.share.weight", "positive number"),
    ({"budget.simulations": 10}, "budget.acceptance_quantile", "regression adjustment"),
    ({"budget.steps": 50}, "budget.steps", "too short"),
    ({"quick.size.n_consumers": -3}, "quick.size.n_consumers", "must be >= 1"),
    ({"method": "mcmc"}, "method", "expected one of"),
    ({"colour": "blue"}, "colour", "unknown key"),
])
def test_an_invalid_spec_names_the_key(changes, key, problem):
    with pytest.raises(CalibrationSpecError) as info:
        load_calibration_spec(spec(**changes))
    assert info.value.key_path == key
    assert problem in info.value.problem


def test_spec_file_errors_carry_the_file_name(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("name = \n")
    with pytest.raises(CalibrationSpecError, match="bad.toml"):
        load_calibration_spec(path)


@pytest.mark.parametrize("changes, key, problem", [
    ({"budget.seeds_per_draw": 0}, "budget.seeds_per_draw", "must be >= 1"),
    ({"budget.simulations": 2.5}, "budget.simulations", "expected an integer"),
    ({"budget.acceptance_quantile": 0}, "budget.acceptance_quantile", "must be > 0 and <= 1"),
    ({"budget.steps": True}, "budget.steps", "expected an integer"),
    ({"quick.seed": -1}, "quick.seed", "must be >= 0"),
    ({"budget.colour": 1}, "budget.colour", "unknown key"),
])
def test_budget_is_checked_by_the_scenario_builder(changes, key, problem):
    """[budget] and [quick] budgets are built by pricewar.scenario.typed, as scenario tables are:
    the key path, the value and the allowed range in one line."""
    with pytest.raises(CalibrationSpecError) as info:
        load_calibration_spec(spec(**changes))
    assert info.value.key_path == key and problem in info.value.problem
    assert "\n" not in str(info.value)
