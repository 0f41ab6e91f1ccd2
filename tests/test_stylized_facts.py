"""The stylized facts of docs/calibration.md C9 on the default scenario, each with a stated
tolerance.

``PRICEWAR_FACTS_SCENARIO=calibrated pytest tests/test_stylized_facts.py`` runs the same
assertions on another scenario (default ``baseline``); the xfail reasons state baseline's numbers,
so on another scenario add ``--runxfail`` to see every fact's plain pass or fail. Each test
records its measured numbers as user properties (``--junitxml`` keeps them).

Where the model does not reproduce a fact honestly, the test is a strict xfail that states the
measured number: it fails loudly (XPASS) the day the model starts to reproduce it. The numbers of
the previous (v1) model are in docs/ODD.md §7 beside the current ones.
"""

import datetime as dt
import json
import os

import numpy as np
import pandas as pd
import pytest

from pricewar.model import PriceWarModel
from pricewar.model.metrics import flow_matrix
from pricewar.runs.runner import model_frame, run_model
from pricewar.scenario import load_scenario
from pricewar.studies.price_war import epoch_results
from pricewar.supply.cohort_costs import Site, SupplyCosts

REGIONS = ("cn_west", "cn_east", "us", "eu")
#: CN open models peaked at ~30% of OpenRouter tokens (OpenRouter, State of AI, Dec 2025)
WESTERN_CN_SHARE_CAP = 0.30
WEEKS_PER_YEAR = 52.18
#: the scenario every fact runs on
SCENARIO = os.environ.get("PRICEWAR_FACTS_SCENARIO", "baseline")



@pytest.fixture
def record(record_property):
    """``record_property`` with the value as JSON text: xdist cannot send numpy scalars from its
    workers (execnet DumpError on numpy.float64)."""
    def _record(name: str, value) -> None:
        record_property(name, json.dumps(value, default=float))
    return _record

@pytest.fixture(scope="module")
def baseline():
    """The facts' scenario (baseline unless PRICEWAR_FACTS_SCENARIO says otherwise), 156 weekly
    steps from 2024-01, seed 1 (full consumer population)."""
    model = run_model(SCENARIO, seed=1, progress=False)
    return model, model_frame(model)


def _costs_by_region(chip: str, date=dt.date(2024, 6, 1), family="deepseek_v3"):
    """Full cost and energy share of marginal cost of new capacity of ``chip`` serving
    ``family`` at each producer region's site (USD/Mtok)."""
    scenario = load_scenario(SCENARIO)
    supply = SupplyCosts(scenario.catalogue)
    out = {}
    for region in REGIONS:
        r = scenario.regions[region]
        site = Site(r.bloc, r.electricity_usd_per_kwh, r.pue, r.facility_usd_per_w,
                    r.carbon_kg_per_kwh)
        c = supply.costs(chip, family, date, site, scenario.policy)
        out[region] = (float(c.full_usd_per_mtok),
                       float(c.energy_usd_per_mtok / c.marginal_usd_per_mtok))
    return out


# 1. unit cost order at chip parity; energy a second-order share, larger on the chips export
#    controls leave China
def test_fact1_unit_cost_order_at_chip_parity(record):
    cost = {r: full for r, (full, _) in _costs_by_region("H100").items()}
    record("full_cost_usd_per_mtok", cost)
    assert cost["cn_west"] < cost["cn_east"] < cost["us"] < cost["eu"], cost


def test_fact1_energy_share_small_on_h100_and_larger_on_the_chips_china_may_buy(record):
    h100 = _costs_by_region("H100")
    ascend = _costs_by_region("Ascend910C")
    record("energy_share", {r: (h100[r][1], ascend[r][1]) for r in ("cn_west", "cn_east")})
    for region in ("cn_west", "cn_east"):
        assert 0.01 < h100[region][1] < 0.10  # "~5% of cost on H100-class chips" (C9.1)
        assert ascend[region][1] > h100[region][1]  # domestic chips: more energy per token


# 2. price at fixed capability falls 10-40x per year (Epoch AI's metric: the cheapest price at
#    or above a capability threshold)
def _decline_per_year(frame: pd.DataFrame, column: str, steps: int = 104) -> float:
    window = frame.iloc[: steps + 1]
    window = window[window[column] > 0]  # (0 while no product reaches the tier)
    slope = np.polyfit(window["step"].to_numpy(), np.log(window[column].to_numpy()), 1)[0]
    return float(np.exp(-slope * WEEKS_PER_YEAR))


def test_fact2_cheapest_price_at_gpt4_level_falls_within_epochs_confidence_intervals(
        baseline, record):
    """Validation against Epoch AI's fitted decline factors (90% CIs) at GPT-4-level thresholds:
    the model's cheapest price at GPT-4 level (MMLU >= 86) falls 36x per year over 2024-25."""
    _, frame = baseline
    factor = _decline_per_year(frame, "price_cheapest_gpt4_mmlu")
    gpt4 = epoch_results()
    gpt4 = gpt4[gpt4["threshold_model"].str.startswith("GPT-4")]
    inside = ((factor >= gpt4["ci_low"]) & (factor <= gpt4["ci_high"])).mean()
    record("decline_per_year", factor)
    record("share_of_epoch_cis_inside", inside)
    assert factor > 3.0, factor
    assert inside >= 0.5, (factor, inside)  # within most GPT-4-level CIs


def test_fact2_cheapest_price_at_gpt4_level_falls_10_to_40x_per_year(baseline, record):
    """v2: 36x per year over 2024-25 (v1 measured price_avg instead: 6.0x per year, xfail)."""
    _, frame = baseline
    factor = _decline_per_year(frame, "price_cheapest_gpt4_mmlu")
    record("decline_per_year", factor)
    assert 10.0 <= factor <= 40.0


@pytest.mark.xfail(strict=True, reason="measured 2.9x/yr: the served-weighted price of all "
                   "products (price_avg) falls less than the cheapest price at fixed capability, "
                   "because volume moves to newer, higher-tier families and scarcity surcharges "
                   "bind from mid-2024 (v1: 6.0x/yr)")
def test_fact2_average_price_falls_10_to_40x_per_year(baseline, record):
    _, frame = baseline
    factor = _decline_per_year(frame, "price_avg")
    record("decline_per_year", factor)
    assert 10.0 <= factor <= 40.0


# 3. volume grows ~1,000x over two years
def test_fact3_served_volume_grows_300_to_3000x_in_104_steps(baseline, record):
    _, frame = baseline
    growth = frame["served_total"].iloc[104] / frame["served_total"].iloc[0]
    record("growth", growth)
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


@pytest.mark.xfail(strict=True, reason="measured +0.93 points (cn_west's share of CN batch "
                   "tokens 19.9% -> 20.8% when its power falls from 0.10 to 0.03 USD/kWh): energy "
                   "is 2-4% of the marginal cost of Hopper-class serving, and independent hosts "
                   "in both hubs serve the same families (v1: held)")
def test_fact4_batch_shifts_west_when_west_is_cheaper(record):
    shares = []
    for price in (0.1, 0.03):
        model = run_model(SCENARIO, steps=20, seed=2, progress=False,
                          overrides={"electricity_cn_west": price, "n_consumers": 500})
        flows = flow_matrix(model)
        names = model.region_names
        batch = flows[[names.index("cn_west"), names.index("cn_east")],
                      model.sector_names.index("batch")].sum(axis=0)
        shares.append(batch[names.index("cn_west")] / batch.sum())
    record("cn_west_batch_share", shares)
    assert shares[1] > shares[0] + 0.01, shares


# 5. partition by policy and latency; the Global South is contested
def test_fact5_western_cn_share_below_cap_and_global_south_contested(baseline, record):
    """v2: hosts in the cn bloc reach at most 29% of western consumers' tokens; both blocs keep
    at least 13% of the Global South over the first two years (v1: 0.279; 0.41 and 0.28)."""
    _, frame = baseline
    first_two_years = frame.iloc[:105]
    record("cn_share_western_max", frame["cn_share_western"].max())
    record("global_south_min_cn_western", (
        first_two_years["cn_share_global_south"].min(),
        first_two_years["western_share_global_south"].min()))
    assert (frame["cn_share_western"] < WESTERN_CN_SHARE_CAP).all()
    assert (first_two_years["cn_share_global_south"] > 0.1).all()
    assert (first_two_years["western_share_global_south"] > 0.1).all()


@pytest.mark.xfail(strict=True, reason="measured 48% in 2025 (peak 77%): families of Chinese "
                   "owners served by western hosts carry most western tokens once DeepSeek-V3/R1 "
                   "and Qwen3 are released, against 13% (peak ~30%) on OpenRouter in 2025 "
                   "(OpenRouter State of AI, Dec 2025)")
def test_fact5_chinese_families_hold_a_minority_of_western_tokens_in_2025(baseline,
                                                                           record):
    _, frame = baseline
    year = frame[(frame["date"] >= "2025-01-01") & (frame["date"] < "2026-01-01")]
    record("cn_family_share_western_2025", (year["cn_family_share_western"].mean(),
                                                     frame["cn_family_share_western"].max()))
    assert year["cn_family_share_western"].mean() < WESTERN_CN_SHARE_CAP


# 6. a deep price cut triggers followers' cuts
def _follower_price_ratio(strategy: str) -> np.ndarray:
    base = load_scenario(SCENARIO)
    cut = base.with_events({"kind": "price_cut", "step": 20, "group": "cn_east", "producers": 1,
                            "fraction": 0.97, "duration_steps": 52})
    paths, models = [], []
    for scenario in (base, cut):
        model = PriceWarModel(scenario, seed=1, producer_strategy=strategy, n_consumers=500)
        prices = []
        for _ in range(24):
            model.step()
            # by host uid: hosts may exit (or enter) within the 24 steps
            prices.append(dict(zip((p.unique_id for p in model.producers),
                                   model.producer_base_price, strict=True)))
        paths.append(prices)
        models.append(model)
    model = models[1]
    cutters = np.flatnonzero(model.producer_commit_until >= 0)
    # the cutter's rivals: the independent CN hosts, which serve the same open families, that
    # are in both runs at every step
    independent = np.isin(model.producer_region, [0, 1]) & (model.producer_owner < 0)
    uids = [model.producers[i].unique_id
            for i in np.setdiff1d(np.flatnonzero(independent), cutters)]
    followers = [u for u in uids if all(u in step for run in paths for step in run)]
    return np.array([np.median([paths[1][k][u] / paths[0][k][u] for u in followers])
                     for k in range(24)])


@pytest.mark.xfail(strict=True, reason="measured ratio 0.98-0.99 (served-weighted list price; "
                   "product list prices x0.9996-1.0): under undercut every CN tier-1 product is "
                   "at its marginal cost in the counterfactual from step 1 (price / marginal cost "
                   "1.000), as the tier's cheapest rival price met in a shared segment (0.92 "
                   "USD/Mtok at step 1, set by EU and US hosts; 0.37 at step 20) is below the "
                   "marginal cost of every CN tier-1 product but the price leader's (1.16-6.36 "
                   "at step 1); the cut (to "
                   "0.025) is seen by all of them but cannot pull them below cost, and the small "
                   "drop is the mix shifting to cheaper families (v1: followers went to marginal "
                   "cost at once, ratio < 0.5)")
def test_fact6_followers_cut_within_a_few_steps_under_undercut(record):
    ratio = _follower_price_ratio("undercut")
    record("follower_ratio_steps_20_23", ratio[19:23].tolist())
    assert np.allclose(ratio[:19], 1.0)  # identical before the event (same seed)
    assert ratio[19:23].min() < 0.5, ratio[19:23]  # step 20..23: followers cut


def test_fact6_followers_cut_within_a_few_steps_under_best_response(record):
    """v2: followers cut 2-4% within three weeks (v1: they raised prices ~5%, a strict xfail)."""
    ratio = _follower_price_ratio("best_response")
    record("follower_ratio_steps_20_23", ratio[19:23].tolist())
    assert np.allclose(ratio[:19], 1.0)
    assert ratio[19:23].min() < 0.99, ratio[19:23]


# 7. capacity crunch: prices rise, then fall back as capacity is built
def _crunch_ratio() -> np.ndarray:
    base = load_scenario(SCENARIO)
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
    return prices[1] / prices[0]


def test_fact7_capacity_crunch_raises_prices(record):
    ratio = _crunch_ratio()
    record("crunch_ratio_max_steps_7_9", ratio[6:9].max())
    assert ratio[:5] == pytest.approx(1.0)
    assert ratio[6:9].max() > 1.3  # the crunch: scarcity pricing


@pytest.mark.xfail(strict=True, reason="measured ratio 0.85-1.18 over steps 30-40: with the "
                   "+200% shock the market stays capacity-bound (regional power caps bind) and "
                   "the two runs' scarcity surcharges and family mixes drift apart instead of "
                   "converging (v1: back to 1.00 once ordered GPUs arrived)")
def test_fact7_prices_fall_back_once_capacity_is_built(record):
    ratio = _crunch_ratio()
    record("ratio_range_steps_31_40", (ratio[30:40].min(), ratio[30:40].max()))
    assert np.abs(ratio[30:40] - 1.0).max() < 0.05


# 6b. the May 2024 record: a deep cut by a low-cost entrant is followed by the largest rivals
#     within a few steps (docs/calibration.md C9.2; pricewar/data/cascade_may2024.csv)
@pytest.mark.xfail(strict=True, reason="measured (seed 1, 500 consumers, default strategy mix): "
                   "DeepSeek's list price cut 89% from 13 May 2024 (to the record's 0.175 "
                   "USD/Mtok on its launch-week price); Alibaba, Baidu and Zhipu RAISE 2.9%, 2.1% "
                   "and 1.9% (record: -67..-97%, free, -80% within 5-15 days). Not reachable by "
                   "static pricing in this demand system: a closed family's best response falls "
                   "at most 1 - alpha(eta-1)/(eta(alpha-1)) when a rival takes all its share "
                   "(docs/ODD.md 6.4), and in the week before the cut Baidu's and Zhipu's room is "
                   "0.1-0.2% (elasticity = their buyers' alpha, 1.22-1.24), Alibaba's -17% (coding "
                   "buyers, alpha 1.15 < eta 1.2; tests/test_cascade.py). With a customer base "
                   "(kappa 0.6) and forward-looking owners Alibaba cuts 34-37% (seeds 1-3) but the "
                   "cut lowers Baidu's and Zhipu's value of a kept customer (psi/c 0.03 -> 0.01) "
                   "and they still raise 2-4%. Every CN host also runs full in the week of the cut "
                   "(docs/results.md 'The May 2024 cascade against the record')")
def test_fact6_largest_rivals_follow_a_low_cost_entrants_deep_cut_within_a_few_steps(
        record):
    from pricewar.studies.cascade import cascade
    result = cascade(SCENARIO, seed=1, steps=24, n_consumers=500)
    follow = result["follow"]
    cn_owner_hosts = ["alibaba", "baidu", "bytedance", "zhipu", "moonshot"]
    live = follow[follow["group"].isin(cn_owner_hosts) & (follow["served"] > 0)]
    largest = live.nlargest(3, "served")
    record("largest_depth_lag", largest[["group", "depth", "lag_days"]].to_dict("records"))
    assert len(largest) == 3
    assert (largest["depth"] >= 0.5).all(), largest  # each cuts by half or more ...
    assert (largest["lag_days"] <= 21).all(), largest  # ... within three weeks of the launch
