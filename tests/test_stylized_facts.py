"""The stylized facts of CALIBRATION.md §9 on the default scenario, each with a stated tolerance.

Where the model does not reproduce a fact honestly, the test is a strict xfail that states the
measured number: it fails loudly (XPASS) the day the model starts to reproduce it.
"""

import numpy as np
import pandas as pd
import pytest

from pricewar.model import PriceWarModel
from pricewar.model.metrics import flow_matrix
from pricewar.scenario import load_scenario
from pricewar.studies.runner import model_frame, run_model

REGIONS = ("cn_west", "cn_east", "us", "eu")
#: CN open models peaked at ~30% of OpenRouter tokens (OpenRouter, State of AI, Dec 2025)
WESTERN_CN_SHARE_CAP = 0.30


@pytest.fixture(scope="module")
def baseline():
    """Baseline, 156 weekly steps from 2024-01, seed 1 (full consumer population)."""
    model = run_model("baseline", seed=1, progress=False)
    return model, model_frame(model)


def _unit_cost_by_region(model):
    cost = model.costs.marginal_usd_per_mtok  # full unit cost at the planned utilisation
    return {r: float(cost[model.producer_region == model.region_names.index(r)].mean())
            for r in REGIONS}


# 1. unit cost order at chip parity; energy a second-order share that grows with the penalty
def test_fact1_unit_cost_order_at_chip_parity():
    model = PriceWarModel("baseline", seed=1, export_control_penalty=0.0, n_consumers=250)
    cost = _unit_cost_by_region(model)
    assert cost["cn_west"] < cost["cn_east"] < cost["us"] < cost["eu"], cost


def test_fact1_energy_share_small_on_h100_and_grows_with_export_penalty():
    shares = []
    for penalty in (0.0, 0.3, 0.5):
        model = PriceWarModel("baseline", seed=1, export_control_penalty=penalty, n_consumers=250)
        c = model.costs
        cn = np.isin(model.producer_region, [0, 1])
        shares.append(float((c.energy_usd_per_mtok[cn] / c.marginal_usd_per_mtok[cn]).mean()))
    assert 0.01 < shares[0] < 0.10  # "~5% of cost on H100-class chips" (CAL §9.1)
    assert shares[0] < shares[1] < shares[2]


# 2. price at fixed capability falls 10-40x per year
def _decline_per_year(frame: pd.DataFrame, steps: int = 104) -> float:
    weeks = frame["step"].to_numpy()[: steps + 1]
    slope = np.polyfit(weeks, np.log(frame["price_avg"].to_numpy()[: steps + 1]), 1)[0]
    return float(np.exp(-slope * 52.18))


def test_fact2_price_decline_within_epoch_confidence_intervals(baseline):
    """Validation against Epoch AI's fitted decline factors (90% CIs) at GPT-4-level thresholds."""
    _, frame = baseline
    factor = _decline_per_year(frame)
    results = pd.read_csv(__import__("pricewar").__path__[0] + "/data/observed/"
                          "lowest_price_models_results.csv")
    gpt4 = results[results["threshold_model"].str.startswith("GPT-4")]
    bounds = gpt4["price_reduction_factor_per_year_90_ci"].str.strip("[]").str.split(",",
                                                                                     expand=True)
    low, high = bounds[0].astype(float), bounds[1].astype(float)
    inside = ((factor >= low) & (factor <= high)).mean()
    assert factor > 3.0, factor
    assert inside >= 0.5, (factor, inside)  # within most GPT-4-level CIs


@pytest.mark.xfail(strict=True, reason="measured ~5-6x/yr: sourced efficiency trends (Ho et al. "
                   "2024 algorithmic 2.8x, ML.ENERGY software 1.67x, B200 generation) lower "
                   "costs ~8x/yr and Lerner rises as the outside option empties; see README")
def test_fact2_price_decline_10_to_40x_per_year(baseline):
    _, frame = baseline
    assert 10.0 <= _decline_per_year(frame) <= 40.0


# 3. volume grows ~1,000x over two years
def test_fact3_served_volume_grows_300_to_3000x_in_104_steps(baseline):
    _, frame = baseline
    growth = frame["served_total"].iloc[104] / frame["served_total"].iloc[0]
    assert 300 <= growth <= 3000, growth


# 4. latency tiers
def test_fact4_real_time_demand_served_only_within_its_tolerance(baseline):
    model, _ = baseline
    flows = flow_matrix(model)
    names = model.region_names
    sector = model.sector_names.index("industrial_control")
    tolerance = model.scenario.sectors["industrial_control"].latency_tolerance_ms
    hub = model.scenario.latency_ms["cn_west"]["cn_east"]
    assert tolerance < hub
    for consumer_region in ("cn_west", "cn_east"):
        row = flows[names.index(consumer_region), sector]
        assert row.sum() > 0
        for producer_region in REGIONS:
            if model.scenario.latency_ms[consumer_region][producer_region] > tolerance:
                assert row[names.index(producer_region)] == 0.0


def test_fact4_batch_shifts_west_when_west_is_cheaper():
    shares = []
    for price in (0.1, 0.03):
        model = run_model("baseline", steps=20, seed=2, progress=False,
                          overrides={"electricity_cn_west": price, "n_consumers": 500})
        flows = flow_matrix(model)
        names = model.region_names
        batch = flows[[names.index("cn_west"), names.index("cn_east")],
                      model.sector_names.index("batch")].sum(axis=0)
        shares.append(batch[names.index("cn_west")] / batch.sum())
    assert shares[1] > shares[0] + 0.01, shares


# 5. partition by policy and latency; the Global South is contested
def test_fact5_western_cn_share_below_cap_and_global_south_contested(baseline):
    model, frame = baseline
    cap = WESTERN_CN_SHARE_CAP
    assert (frame["cn_share_western"] < cap).all()
    first_two_years = frame.iloc[:105]
    assert (first_two_years["cn_share_global_south"] > 0.1).all()
    assert (first_two_years["western_share_global_south"] > 0.1).all()


# 6. a deep price cut triggers followers' cuts
def _follower_price_ratio(strategy: str) -> np.ndarray:
    base = load_scenario("baseline")
    cut = base.with_events({"kind": "price_cut", "step": 20, "group": "cn_east", "producers": 1,
                            "fraction": 0.97, "duration_steps": 52})
    paths, model = [], None
    for scenario in (base, cut):
        model = PriceWarModel(scenario, seed=1, producer_strategy=strategy, n_consumers=500)
        prices = []
        for _ in range(24):
            model.step()
            prices.append(model.producer_base_price.copy())
        paths.append(np.array(prices))
    cutters = np.flatnonzero(model.producer_commit_until >= 0)
    followers = np.setdiff1d(np.flatnonzero(np.isin(model.producer_region, [0, 1])), cutters)
    return np.median(paths[1][:, followers] / paths[0][:, followers], axis=1)


def test_fact6_followers_cut_within_a_few_steps_under_undercut():
    ratio = _follower_price_ratio("undercut")
    assert np.allclose(ratio[:19], 1.0)  # identical before the event (same seed)
    assert ratio[19:23].min() < 0.5, ratio[19:23]  # step 20..23: followers cut


@pytest.mark.xfail(strict=True, reason="under best_response, followers RAISE prices ~5% after a "
                   "97% cut: the cutter skims the most price-sensitive consumers (alpha differs "
                   "by sector), leaving followers a less elastic residual demand")
def test_fact6_followers_cut_within_a_few_steps_under_best_response():
    ratio = _follower_price_ratio("best_response")
    assert ratio[19:23].min() < 0.99


# 7. capacity crunch: prices rise, then fall back as capacity is built
def test_fact7_capacity_crunch_raises_prices_which_fall_back():
    base = load_scenario("baseline")
    shock = base.with_events({"kind": "demand_shock", "step": 6, "fraction": 2.0,
                              "duration_steps": 0})
    prices = []
    for scenario in (base, shock):
        model = PriceWarModel(scenario, seed=1, n_consumers=500)
        path = []
        for _ in range(40):
            model.step()
            path.append(model.metrics["price_avg"])
        prices.append(np.array(path))
    ratio = prices[1] / prices[0]
    assert ratio[:5] == pytest.approx(1.0)
    assert ratio[6:9].max() > 1.3  # the crunch: scarcity pricing
    late = ratio[30:40]
    assert np.abs(late - 1.0).max() < 0.05  # capacity built: prices back to the counterfactual
