"""Throughput roofline (pricewar.supply.throughput): one test per benchmark row (fitted and held-out
within +-30%), the formulas on hand-computed numbers, and monotonicity over the declared ranges."""

from __future__ import annotations

import csv
import dataclasses

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from pricewar.scenario.catalogue import load_catalogue
from pricewar.supply import throughput as thr

TOLERANCE = 0.30  # issue #25: fitted and held-out rows each within +-30%


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


@pytest.fixture(scope="module")
def benchmarks(catalogue):
    return thr.load_benchmarks(catalogue)


@pytest.fixture(scope="module")
def fitted(benchmarks):
    return thr.fit_roofline(benchmarks)


# ------------------------------------------------------------------------------ benchmark rows
def _row_ids():
    with open(thr.BENCHMARKS_PATH, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [f"{i:02d}-{r['role']}-{r['chip']}-{r['family']}-in{r['input_tokens']}-"
            f"out{r['output_tokens']}-c{r['concurrency']}" for i, r in enumerate(rows)]


ROW_IDS = _row_ids()
# Rows the fitted roofline misses by more than 30% (measured, docs/calibration.md "Throughput
# roofline"): strict, so a row that comes within tolerance fails here and must be moved back.
OUTSIDE_TOLERANCE = {
    "06-fit-H200-deepseek_r1-in3995.1-out200.0-c500": "+34%: DeepSeek prefill slower than 2A FLOPs",
    "19-held_out-A100-gpt_oss-in3998.5-out136.1-c500": "-35%: A100 reaches a higher share of peak",
    "20-held_out-A100-gpt_oss-in1998.2-out98.2-c500": "-37%: A100 reaches a higher share of peak",
    "21-held_out-A100-gpt_oss-in127.8-out4.0-c1000": "-42%: A100 reaches a higher share of peak",
    "23-held_out-A100-qwen3-in217.4-out195.1-c1000": "+35%: ShareGPT burst on TP4 A100",
    "28-held_out-H200-glm_4_5-in3999.6-out199.6-c500": "-32%: GLM prefill faster than fitted",
    "29-held_out-H200-glm_4_5-in1998.9-out100.0-c500": "-33%: GLM prefill faster than fitted",
    "30-held_out-H200-glm_4_5-in127.9-out4.0-c1000": "-43%: short requests, overhead overstated",
}


def _row_params():
    return [pytest.param(i, id=row_id, marks=pytest.mark.xfail(
        strict=True, reason=OUTSIDE_TOLERANCE[row_id])) if row_id in OUTSIDE_TOLERANCE
        else pytest.param(i, id=row_id) for i, row_id in enumerate(ROW_IDS)]


@pytest.mark.parametrize("row", _row_params())
def test_benchmark_row_within_30_percent(benchmarks, fitted, row):
    predicted = fitted.predicted_total_tokens_per_s(benchmarks)[row]
    observed = benchmarks.observed_total_tokens_per_s_per_gpu[row]
    assert abs(predicted / observed - 1.0) <= TOLERANCE, (predicted, observed)


def test_table_holds_out_a_chip_and_a_family(benchmarks):
    held = [r for r in benchmarks.rows if r["role"] == "held_out"]
    fit_chips = {r["chip"] for r in benchmarks.rows if r["role"] == "fit"}
    fit_families = {r["family"] for r in benchmarks.rows if r["role"] == "fit"}
    assert {r["chip"] for r in held} - fit_chips == {"A100"}
    assert {r["family"] for r in held} - fit_families == {"glm_4_5"}
    assert {r["role"] for r in benchmarks.rows} == {"fit", "held_out"}


def test_output_and_total_columns_agree_with_the_token_counts(benchmarks):
    # output / total = O / (I + O) for every row (the table's two rates come from one run)
    share = benchmarks.output_tokens / (benchmarks.input_tokens + benchmarks.output_tokens)
    np.testing.assert_allclose(benchmarks.observed_output_tokens_per_s_per_gpu
                               / benchmarks.observed_total_tokens_per_s_per_gpu, share, rtol=0.01)


def test_fit_never_reads_held_out_rows(benchmarks, fitted):
    scaled = dataclasses.replace(benchmarks, observed_total_tokens_per_s_per_gpu=np.where(
        benchmarks.fit, benchmarks.observed_total_tokens_per_s_per_gpu,
        10.0 * benchmarks.observed_total_tokens_per_s_per_gpu))
    refit = thr.fit_roofline(scaled)
    np.testing.assert_allclose(refit.parameters.as_array(), fitted.parameters.as_array(),
                               rtol=1e-9)


def test_fitted_sharegpt_longest_output_is_within_the_sampler_bound(benchmarks, fitted):
    sharegpt_mean = benchmarks.output_tokens[benchmarks.drains]
    assert sharegpt_mean.max() < fitted.sharegpt_longest_output_tokens
    assert fitted.sharegpt_longest_output_tokens < thr.SHAREGPT_MAX_SEQUENCE_TOKENS


def test_fit_reports_finite_standard_errors(fitted):
    assert fitted.log_standard_errors.shape == (5,)
    assert np.all(np.isfinite(fitted.log_standard_errors) & (fitted.log_standard_errors > 0))


def test_efficiencies_are_shares(fitted):
    p = fitted.parameters
    assert 0.0 < p.bandwidth_efficiency <= 1.0 and 0.0 < p.compute_efficiency <= 1.0


# --------------------------------------------------------------------------- hand-computed values
def test_kv_cache_bytes_per_token_from_the_families_architecture(catalogue):
    v3 = catalogue.families["deepseek_v3"]
    oss = catalogue.families["gpt_oss"]
    # MLA: 61 layers x (512 latent + 64 RoPE) x 2 bytes = 70,272; gpt-oss: 18 x 2 x 8 x 64 x 2
    assert thr.kv_cache_bytes_per_token(v3.kv_cache_layers,
                                        v3.kv_cache_values_per_token_per_layer) == 70_272.0
    assert thr.kv_cache_bytes_per_token(oss.kv_cache_layers,
                                        oss.kv_cache_values_per_token_per_layer) == 36_864.0


def test_weight_bytes():
    assert thr.weight_bytes(116.8, 4.25) == pytest.approx(62.05e9, rel=1e-12)


HAND = thr.ServingSetup(*(np.asarray(x, float) for x in (1, 80, 2.0, 100.0, 10.0, 10.0, 8, 1e5)))
HAND_PARAMS = thr.RooflineParameters(0.5, 0.5, 0.001, 0.01)


def test_kv_batch_limit_by_hand():
    # free = 80e9 x 0.9 - 10e9 = 62e9 bytes; one sequence at 1,000 tokens holds 1e8 bytes
    assert thr.kv_batch_limit(HAND, 1000.0) == pytest.approx(620.0, rel=1e-12)
    assert thr.batch_sequences(HAND, 900.0, 200.0, 100.0) == pytest.approx(100.0)
    assert thr.batch_sequences(HAND, 900.0, 200.0, 5000.0) == pytest.approx(620.0)


def test_burst_batch_drains_over_the_longest_output():
    # 1,000 requests of 200 mean output tokens, longest 1,000: mean batch 1000 x 200 / 1000 = 200
    big = dataclasses.replace(HAND, hbm_gb=np.asarray(1000.0))
    assert thr.batch_sequences(big, 100.0, 200.0, 1000.0, 1000.0) == pytest.approx(200.0)


def test_moe_step_touches_the_expected_share_of_experts():
    moe = dataclasses.replace(HAND, total_params_b=np.asarray(100.0))
    # W = 100e9 bytes at 8 bits; a token touches 10%: B = 1 -> 10e9, B = 2 -> (1 - 0.81) W
    assert thr.touched_weight_bytes(moe, 1.0) == pytest.approx(1.0e10, rel=1e-9)
    assert thr.touched_weight_bytes(moe, 2.0) == pytest.approx(1.9e10, rel=1e-9)
    assert thr.touched_weight_bytes(HAND, 3.0) == pytest.approx(1.0e10, rel=1e-9)  # dense: all


def test_decode_step_and_request_time_by_hand():
    # memory: (10e9 + 100 x 1000 x 1e5) / (2e12 x 0.5) = 0.02 s; compute: 100 x 2e10 /
    # (100e12 x 0.5) = 0.04 s -> step 0.04 + 0.001 = 0.041 s
    assert thr.decode_step_s(HAND, HAND_PARAMS, 100.0, 1000.0) == pytest.approx(0.041, rel=1e-9)
    t = thr.request_time(HAND, HAND_PARAMS, 900.0, 200.0, 100.0)
    assert t.prefill_s == pytest.approx(900 * 4e-4, rel=1e-9)  # 2e10 / (100e12 x 0.5) per token
    assert t.decode_s == pytest.approx(200 * 0.041 / 100 + 0.01, rel=1e-9)
    out, total = thr.tokens_per_s_per_gpu(HAND, HAND_PARAMS, 900.0, 200.0, 100.0)
    assert total == pytest.approx(1100 / 0.452, rel=1e-9)
    assert out == pytest.approx(200 / 0.452, rel=1e-9)


def test_token_costs_by_hand():
    # 3.6 USD per GPU-hour = 0.001 USD/s: input 0.001 x 0.36 / 900 = 0.4 USD/Mtok, output
    # 0.001 x 0.092 / 200 = 0.46, blended at r = 4.5: (4.5 x 0.4 + 0.46) / 5.5 = P / (3600 tps)
    c = thr.token_costs(HAND, HAND_PARAMS, 900.0, 200.0, 3.6, 100.0)
    assert c.input_usd_per_mtok == pytest.approx(0.4, rel=1e-9)
    assert c.output_usd_per_mtok == pytest.approx(0.46, rel=1e-9)
    assert c.blended_usd_per_mtok == pytest.approx(2.26 / 5.5, rel=1e-9)
    assert c.blended_usd_per_mtok == pytest.approx(0.001 * 0.452 / 1100 * 1e6, rel=1e-9)


def test_model_that_does_not_fit_in_memory_is_refused(catalogue):
    s = thr.setup(catalogue.chips["H100"], catalogue.families["deepseek_v3"], 8)  # 671 GB
    with pytest.raises(ValueError, match="do not fit"):
        thr.request_time(s, HAND_PARAMS, 1000.0, 200.0)


def test_family_without_kv_architecture_is_refused(catalogue):
    with pytest.raises(ValueError, match="KV-cache architecture"):
        thr.setup(catalogue.chips["H100"], catalogue.families["gpt_4o"], 8)


# ---------------------------------------------------------------------------------- properties
positive = dict(allow_nan=False, allow_infinity=False)
setups = st.builds(
    lambda gpus, hbm, bw, tflops, total, active_share, bits, kv: thr.ServingSetup(
        *(np.asarray(x, float) for x in (gpus, hbm, bw, tflops, total, total * active_share,
                                         bits, kv))),
    st.integers(1, 16), st.floats(16.0, 300.0, **positive), st.floats(0.5, 10.0, **positive),
    st.floats(50.0, 5000.0, **positive), st.floats(1.0, 2000.0, **positive),
    st.floats(0.01, 1.0, **positive), st.sampled_from([4.0, 4.25, 8.0, 16.0]),
    st.floats(1e3, 1e6, **positive))
params = st.builds(thr.RooflineParameters, st.floats(0.01, 1.0, **positive),
                   st.floats(0.01, 1.0, **positive), st.floats(0.0, 0.1, **positive),
                   st.floats(0.0, 0.1, **positive))
requests = st.tuples(st.floats(1.0, 32000.0, **positive), st.floats(1.0, 4000.0, **positive),
                     st.floats(1.0, 2000.0, **positive))


def _fits(s, request, longest=None):
    inputs, outputs, concurrency = request
    return bool(thr.batch_sequences(s, inputs, outputs, concurrency, longest) >= 1.0)


def _leq(a, b):
    return np.all(np.asarray(a) <= np.asarray(b) * (1 + 1e-9))


@given(setups, params, requests, st.floats(1.0, 4.0, **positive))
def test_more_bandwidth_never_lowers_throughput(s, p, request, factor):
    assume(_fits(s, request))
    faster = dataclasses.replace(s, memory_bandwidth_tb_s=s.memory_bandwidth_tb_s * factor)
    for slow, fast in zip(thr.tokens_per_s_per_gpu(s, p, *request),
                          thr.tokens_per_s_per_gpu(faster, p, *request), strict=True):
        assert _leq(slow, fast)


@given(setups, params, requests, st.floats(1.0, 8.0, **positive))
def test_longer_context_never_raises_output_throughput(s, p, request, factor):
    inputs, outputs, concurrency = request
    longer = (inputs * factor, outputs, concurrency)
    assume(_fits(s, longer))
    short_out, _ = thr.tokens_per_s_per_gpu(s, p, *request)
    long_out, _ = thr.tokens_per_s_per_gpu(s, p, *longer)
    assert _leq(long_out, short_out)


@given(setups, params, requests, st.floats(1.0, 4.0, **positive))
def test_more_active_params_never_raise_throughput(s, p, request, factor):
    active = np.minimum(s.active_params_b * factor, s.total_params_b)
    bigger = dataclasses.replace(s, active_params_b=active)
    assume(_fits(s, request))
    for small, big in zip(thr.tokens_per_s_per_gpu(s, p, *request),
                          thr.tokens_per_s_per_gpu(bigger, p, *request), strict=True):
        assert _leq(big, small)


# ------------------------------------------------------------------- wiring (market version 3)
@pytest.fixture(scope="module")
def roofline(catalogue, fitted):
    return thr.RooflineServing(catalogue, fitted)


def test_version_2_supply_keeps_the_v2_serving_model_and_its_costs(catalogue):
    from pricewar.supply.cohort_costs import Site, SupplyCosts
    from pricewar.supply.serving import ServingModel
    default, explicit = SupplyCosts(catalogue), SupplyCosts(catalogue, market_version=2)
    assert type(default.serving) is ServingModel and type(explicit.serving) is ServingModel
    site = Site("western", 0.08, 1.2, 10.0, 0.4)
    chips, families = ["H100", "H200", "B200"], ["gpt_oss", "deepseek_v3", "gpt_4o"]
    a = default.costs(chips, families, thr.BENCHMARK_SOFTWARE_DATE, site, wacc=0.08)
    b = explicit.costs(chips, families, thr.BENCHMARK_SOFTWARE_DATE, site, wacc=0.08)
    for name in ("tokens_per_s", "full_usd_per_mtok", "marginal_usd_per_mtok"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))


def test_version_3_supply_costs_tokens_with_the_roofline(catalogue):
    from pricewar.supply.cohort_costs import SupplyCosts
    supply = SupplyCosts(catalogue, market_version=3)
    assert isinstance(supply.serving, thr.RooflineServing)
    date = thr.BENCHMARK_SOFTWARE_DATE
    np.testing.assert_allclose(supply.tokens_per_s("H100", "gpt_oss", date, "western"),
                               supply.serving.tps("H100", "gpt_oss", date), rtol=1e-15)


def test_roofline_serving_is_the_best_instance_of_the_fitted_roofline(catalogue, fitted, roofline):
    h100, oss = catalogue.chips["H100"], catalogue.families["gpt_oss"]
    per_size = {g: float(thr.tokens_per_s_per_gpu(thr.setup(h100, oss, g), fitted.parameters,
                                                  1500.0, 500.0)[1])
                for g in thr.INSTANCE_GPU_CHOICES}
    best = max(per_size, key=per_size.get)
    assert roofline.instance_gpus[roofline.chips.index("H100"), roofline.families.index(
        "gpt_oss")] == best
    assert roofline.tps("H100", "gpt_oss", thr.BENCHMARK_SOFTWARE_DATE) == pytest.approx(
        per_size[best], rel=1e-12)


def test_roofline_serving_scales_with_the_software_trend_and_the_penalty(catalogue, roofline):
    s = catalogue.serving.software_efficiency_per_year
    later = thr.BENCHMARK_SOFTWARE_DATE.replace(year=thr.BENCHMARK_SOFTWARE_DATE.year + 1)
    base = roofline.tps("H200", "deepseek_v3", thr.BENCHMARK_SOFTWARE_DATE)
    assert roofline.tps("H200", "deepseek_v3", later) == pytest.approx(
        base * s ** (365 / 365.25), rel=1e-12)
    assert roofline.tps("H200", "deepseek_v3", thr.BENCHMARK_SOFTWARE_DATE, 0.25) == \
        pytest.approx(base / 1.25, rel=1e-12)


def test_ascend_serves_at_its_software_stacks_share(catalogue, fitted, roofline):
    chip, fam = catalogue.chips["Ascend910C"], catalogue.families["deepseek_v3"]
    p = fitted.parameters
    eta = chip.decode_efficiency
    scaled = thr.RooflineParameters(p.bandwidth_efficiency * eta, p.compute_efficiency * eta,
                                    p.step_overhead_s, p.request_overhead_s)
    gpus, total = thr.best_instance(chip, fam, scaled, thr.family_kv_cache_bytes_per_token(fam))
    assert roofline.tps("Ascend910C", "deepseek_v3", thr.BENCHMARK_SOFTWARE_DATE) == \
        pytest.approx(total, rel=1e-12)
    assert total < thr.best_instance(chip, fam, p, thr.family_kv_cache_bytes_per_token(fam))[1]


def test_families_without_an_architecture_use_the_median_kv_bytes_per_active_param(catalogue):
    ratios = [thr.family_kv_cache_bytes_per_token(f) / (f.active_params_b * 1e9)
              for f in catalogue.families.values() if f.kv_cache_layers is not None]
    estimate = thr.estimated_kv_bytes_per_active_param(catalogue)
    assert estimate == pytest.approx(float(np.median(ratios)), rel=1e-15)
    closed = catalogue.families["gpt_4o"]
    assert closed.kv_cache_layers is None
    assert thr.kv_bytes_per_token_or_estimate(closed, estimate) == pytest.approx(
        closed.active_params_b * 1e9 * estimate, rel=1e-15)
    opened = catalogue.families["gpt_oss"]
    assert thr.kv_bytes_per_token_or_estimate(opened, estimate) == 36_864.0


def test_every_chip_and_family_is_served_by_an_instance_that_holds_its_weights(catalogue,
                                                                               roofline):
    for i, chip in enumerate(catalogue.chips.values()):
        for j, family in enumerate(catalogue.families.values()):
            gpus = roofline.instance_gpus[i, j]
            weights = thr.weight_bytes(family.total_params_b, family.serving_precision_bits)
            assert weights < gpus * chip.hbm_gb * 1e9 * thr.USABLE_MEMORY_SHARE
            assert np.isfinite(roofline.reference_tokens_per_s[i, j])
            assert roofline.reference_tokens_per_s[i, j] > 0
