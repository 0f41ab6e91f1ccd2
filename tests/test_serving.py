"""Serving throughput and energy per token (pricewar.supply.serving) on hand-computed numbers,
anchored on DeepSeek's production figures (open-infra-index, 1 Mar 2025)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from pricewar.scenario.catalogue import load_catalogue
from pricewar.supply.cohort_costs import capacity_usd_per_mtok
from pricewar.supply.serving import (
    ServingModel,
    bandwidth_bound_tokens_per_s,
    blended_tokens_per_s,
    compute_bound_tokens_per_s,
    decode_tokens_per_s,
    marginal_energy_j_per_token,
    software_multiplier,
    weight_reuse,
)

ANCHOR = dt.date(2025, 2, 28)


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


@pytest.fixture(scope="module")
def serving(catalogue):
    return ServingModel(catalogue)


def test_weight_reuse_is_tokens_per_read_of_the_active_weights():
    # 1850 tok/s x 37 GB / (3.36 TB/s x 1000 GB/TB) = 68,450 / 3,360 = 20.372
    assert weight_reuse(1850.0, 3.36, 1.0, 37.0) == pytest.approx(68_450 / 3_360, rel=1e-15)


def test_bandwidth_bound_scales_with_bandwidth_and_inverse_active_bytes():
    # R x BW x 1000 x eta / G: 20 x 4.8 x 1000 x 0.5 / 40 = 1200
    assert bandwidth_bound_tokens_per_s(4.8, 0.5, 40.0, 20.0) == pytest.approx(1200.0)


def test_compute_bound_uses_twice_the_bf16_peak_at_eight_bits_and_caps_the_speedup():
    # 0.5 x 148 TFLOPS x 2 (FP8) x 1e12 / (2 x 37e9) = 2000 tokens/s
    assert compute_bound_tokens_per_s(148.0, 8.0, 37.0, 0.5) == pytest.approx(2000.0)
    # BF16: 0.5 x 148e12 / (2 x 72.7e9) = 508.94
    assert compute_bound_tokens_per_s(148.0, 16.0, 72.7, 0.5) == pytest.approx(74e12 / 145.4e9)
    # 4.25 bits is no faster than 8 on tensor cores (speed-up capped at 2)
    assert compute_bound_tokens_per_s(148.0, 4.25, 5.1, 0.5) == pytest.approx(
        compute_bound_tokens_per_s(148.0, 8.0, 5.1, 0.5))


def test_decode_rate_is_the_lower_roofline_divided_by_one_plus_the_penalty():
    # min(1000 x 1.5, 1200) / 1.25 = 960; min(1000 x 1.1, 1200) / 1 = 1100
    assert decode_tokens_per_s(1000.0, 1200.0, 1.5, 0.25) == pytest.approx(960.0)
    assert decode_tokens_per_s(1000.0, 1200.0, 1.1) == pytest.approx(1100.0)


def test_software_multiplier_compounds_from_the_anchor_date():
    assert software_multiplier(ANCHOR, ANCHOR, 1.5) == 1.0
    later = ANCHOR + dt.timedelta(days=730)
    assert software_multiplier(later, ANCHOR, 1.5) == pytest.approx(1.5 ** (730 / 365.25))
    assert software_multiplier(dt.date(2024, 2, 28), ANCHOR, 1.5) == pytest.approx(
        1.5 ** (-366 / 365.25))


def test_the_anchor_reproduces_deepseeks_1850_tokens_per_s_per_h800(serving):
    assert serving.reuse == pytest.approx(1850.0 * 37.0 / 3360.0, rel=1e-12)
    assert serving.tps("H800", "deepseek_v3", ANCHOR) == pytest.approx(1850.0, rel=1e-12)
    # same silicon, bandwidth 3.35 vs 3.36 TB/s: the H100 figure is not penalised again
    assert serving.tps("H100", "deepseek_v3", ANCHOR) == pytest.approx(1850.0 * 3.35 / 3.36)
    # R1 shares V3's architecture
    assert serving.tps("H800", "deepseek_r1", ANCHOR) == pytest.approx(1850.0)


def test_bandwidth_and_active_bytes_scale_the_anchor(serving):
    # H200, DeepSeek-V3: 1850 x 4.8 / 3.36 = 2642.86 (compute cap 13,372 does not bind)
    assert serving.tps("H200", "deepseek_v3", ANCHOR) == pytest.approx(1850.0 * 4.8 / 3.36)
    # Llama 3.1 405B FP8 on H800: 405 GB vs 37 GB per token -> 1850 x 37 / 405 = 169.0
    assert serving.tps("H800", "llama_3_1_405b", ANCHOR) == pytest.approx(1850.0 * 37 / 405)
    # Qwen2.5-72B in BF16 on H800: 145.4 GB -> 1850 x 37 / 145.4 = 470.8
    assert serving.tps("H800", "qwen2_5", ANCHOR) == pytest.approx(1850.0 * 37 / 145.4)


def test_the_h20_is_capped_by_its_cut_compute(serving):
    # bandwidth alone: 1850 x 4.0 / 3.36 = 2202; compute: 0.5 x 296e12 / 74e9 = 2000
    assert serving.tps("H20", "deepseek_v3", ANCHOR) == pytest.approx(2000.0)
    # the cap does not grow with serving software
    assert serving.tps("H20", "deepseek_v3", dt.date(2026, 6, 1)) == pytest.approx(2000.0)


def test_ascend_910c_serves_at_sixty_percent_of_an_h100(serving):
    # DeepSeek researchers (Tom's Hardware, Feb 2025): ~60% of H100 inference throughput
    ratio = serving.tps("Ascend910C", "deepseek_v3", ANCHOR) / serving.tps(
        "H100", "deepseek_v3", ANCHOR)
    assert ratio == pytest.approx(0.6, rel=0.01)


def test_marginal_energy_is_the_power_above_idle_per_token(serving):
    # (700 - 90) W / 1850 tokens/s = 0.3297 J/token on the anchor
    assert marginal_energy_j_per_token(700.0, 90.0, 1850.0) == pytest.approx(610 / 1850)
    assert serving.energy_j_per_token("H800", "deepseek_v3", ANCHOR) == pytest.approx(610 / 1850)


def test_no_chip_and_family_in_the_data_exceeds_the_chips_power(catalogue, serving):
    chips = np.array(list(catalogue.chips))[:, None]
    families = np.array(list(catalogue.families))[None, :]
    tdp = serving.chips.power_w[serving.chips.index(chips)]
    for year in range(2024, 2027):
        for month in (1, 7):
            for penalty in (0.0, 0.5):
                date = dt.date(year, month, 1)
                tps = serving.tps(chips, families, date, penalty)
                joules = serving.energy_j_per_token(chips, families, date, penalty)
                assert tps.shape == (len(catalogue.chips), len(catalogue.families))
                assert np.all(tps > 0)
                assert np.all(joules * tps <= tdp * (1 + 1e-12))


def test_the_penalty_cuts_throughput_and_raises_energy_by_the_same_factor(serving):
    base = serving.tps("H20", "qwen3", ANCHOR)
    assert serving.tps("H20", "qwen3", ANCHOR, penalty=0.4) == pytest.approx(base / 1.4)
    assert serving.energy_j_per_token("H20", "qwen3", ANCHOR, penalty=0.4) == pytest.approx(
        serving.energy_j_per_token("H20", "qwen3", ANCHOR) * 1.4)


def test_blended_rate_adds_gpu_seconds_of_prefill_and_decode():
    # 1 / (0.75 / (4 x 100) + 0.25 / 100) = 1 / (0.001875 + 0.0025) = 228.57 tokens/s
    assert blended_tokens_per_s(100.0, 0.75, 4.0) == pytest.approx(1 / 0.004375)
    assert blended_tokens_per_s(100.0, 0.0, 4.0) == pytest.approx(100.0)


# ------------------------------------------------------------------------------------------------
# DeepSeek's derived serving cost (open-infra-index, 1 Mar 2025; 24 h to 28 Feb 2025)
# ------------------------------------------------------------------------------------------------
INPUT_TOKENS, OUTPUT_TOKENS = 608e9, 168e9
COST_USD_PER_DAY = 87_072.0  # 226.75 nodes x 8 H800 x 24 h x 2 USD/GPU-h


def test_deepseek_cost_per_output_token_of_decode_time_at_2_usd_per_gpu_hour(serving):
    # 2 / (1850 x 3600) x 1e6 = 0.3003 USD per M output tokens, inside the 0.11-0.52 range
    decode = serving.tps("H800", "deepseek_v3", ANCHOR)
    cost = capacity_usd_per_mtok(2.0, decode)
    assert cost == pytest.approx(2.0 / (1850 * 3600) * 1e6, rel=1e-12)
    assert 0.11 < cost < 0.52


def test_deepseek_serving_cost_over_all_tokens_reproduces_the_infra_index(catalogue, serving):
    decode = serving.tps("H800", "deepseek_v3", ANCHOR)
    mix = blended_tokens_per_s(decode, INPUT_TOKENS / (INPUT_TOKENS + OUTPUT_TOKENS),
                               catalogue.serving.prefill_to_decode_ratio)
    per_mtok = capacity_usd_per_mtok(2.0, mix)
    # 87,072 / 776,000 M tokens = 0.1122 USD per M tokens (all tokens), within 1%
    assert per_mtok == pytest.approx(COST_USD_PER_DAY / 776_000, rel=0.01)
    # all cost on the output tokens: 87,072 / 168,000 = 0.518, within 1%
    assert per_mtok * 776 / 168 == pytest.approx(0.518, rel=0.01)
    # and the GPU-hours the day's tokens take match the 226.75 x 8 GPUs actually run, within 0.5%
    gpu_hours = (INPUT_TOKENS + OUTPUT_TOKENS) / mix / 3600
    assert gpu_hours == pytest.approx(226.75 * 8 * 24, rel=0.005)
