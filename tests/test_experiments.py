"""Experiments (pricewar.experiments, experiments/*.py) and `pricewar figures`, in quick mode."""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import load_script

from pricewar import cli
from pricewar.runs.runner import build_model
from pricewar.studies.costs import (
    COST_COMPONENTS,
    _stops_mattering,
    cost_decomposition,
)
from pricewar.studies.experiments import EXPERIMENTS
from pricewar.studies.price_war import decline_factor_per_year, epoch_results
from pricewar.studies.regional_gap import DRIVERS, product_cost_inputs, tier_gap_decomposition

REPO = Path(__file__).resolve().parents[1]
QUICK = ["--quick", "--no-progress"]


def run_script(name: str, out: Path, capsys) -> dict:
    module = load_script(name)
    assert module.__doc__ and "?" in module.__doc__.split("\n\n")[0], "docstring states a question"
    assert module.main([*QUICK, "--out", str(out)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    headline = json.loads(lines[-1])
    for suffix in ("png", "svg", "csv"):
        path = out / f"{name}.{suffix}"
        assert path.exists() and path.stat().st_size > 0, path
    return headline


def is_share(x) -> bool:
    return x is not None and math.isfinite(x) and 0.0 <= x <= 1.0


def numbers(value) -> list[float | None]:
    """Every number in a JSON value, and every null: json_ready writes NaN and inf as null."""
    if isinstance(value, dict):
        return [x for v in value.values() for x in numbers(v)]
    if isinstance(value, list):
        return [x for v in value for x in numbers(v)]
    if value is None:
        return [None]
    if isinstance(value, bool) or not isinstance(value, int | float):
        return []
    return [float(value)]


# ------------------------------------------------------------------------------------------------
# the scripts, quick mode
# ------------------------------------------------------------------------------------------------
def test_cost_waterfall_components_sum_to_the_delivered_price(tmp_path, capsys):
    headline = run_script("cost_waterfall", tmp_path, capsys)
    regions = pd.read_csv(tmp_path / "cost_waterfall_regions.csv")
    total = regions[list(COST_COMPONENTS)].sum(axis=1)
    np.testing.assert_allclose(total, regions["delivered_price"], rtol=1e-9)
    cost = regions[["energy_it", "cooling", "capacity", "opex"]].sum(axis=1)
    np.testing.assert_allclose(cost, regions["marginal_cost"], rtol=1e-9)
    assert (regions[["energy_it", "cooling", "capacity", "opex", "network", "platform"]] >= 0
            ).all().all()
    assert headline["max_relative_sum_error"] < 1e-9
    # the drivers' log parts add up to the log CN/US price ratio, tier by tier
    table = pd.read_csv(tmp_path / "cost_waterfall.csv")
    parts = table[[f"log_{d}" for d in DRIVERS]].sum(axis=1)
    np.testing.assert_allclose(parts, table["log_ratio"], atol=1e-9)
    np.testing.assert_allclose(np.exp(table["log_ratio"]), table["ratio"], rtol=1e-9)
    assert set(table["scope"]) == {"all_hosts", "owner_hosted"}
    assert table["step"].nunique() == 2
    assert headline["max_abs_sum_error"] < 1e-9
    for tier in headline["all_hosts"].values():
        assert tier["ratio"] > 0
        assert set(tier["factor"]) == set(DRIVERS)


def test_price_war_baseline_fits_a_finite_decline(tmp_path, capsys):
    headline = run_script("price_war_baseline", tmp_path, capsys)
    assert 1.0 < headline["decline_factor_per_year"] < 1000.0
    assert headline["epoch_cis_total"] == 21
    factor, epoch = headline["decline_factor_per_year"], epoch_results()
    inside = (epoch["ci_low"] <= factor) & (factor <= epoch["ci_high"])
    assert headline["epoch_cis_containing_model"] == int(inside.sum())
    assert all(is_share(v) for v in headline["share_end"].values())
    assert math.isclose(sum(headline["share_end"].values()), 1.0, rel_tol=1e-6)
    assert 0 < headline["lerner_end"] < 1 and 0 < headline["hhi_end"] <= 1
    series = pd.read_csv(tmp_path / "price_war_baseline.csv")
    assert (series["price_avg_mean"] > 0).all()
    # CN and US prices per tier against the observed list prices of that tier
    tiers = headline["cn_us_by_tier"]
    assert tiers["o1_gpqa"]["observed_ratio"] == pytest.approx(0.112, rel=0.01)
    assert tiers["gpt35_mmlu"]["model_ratio_at_observed_dates"] > 0
    comparison = pd.read_csv(tmp_path / "price_war_baseline_tiers.csv")
    assert set(comparison["scope"]) == {"all_hosts", "owner_hosted"}


def test_energy_gap_shares_are_shares(tmp_path, capsys):
    headline = run_script("energy_gap", tmp_path, capsys)
    table = pd.read_csv(tmp_path / "energy_gap.csv")
    assert table["share_cn_west"].between(0, 1).all()
    assert (table["price_avg"] > 0).all()
    assert set(table["chip_regime"]) == {"historical", "no_controls"}
    assert len(headline["cases"]) == 4
    for case in headline["cases"].values():
        assert case["cn_us_ratio_at_lowest_ratio"] > 0
        assert is_share(case["energy_share_of_cn_west_marginal_cost_at_baseline"])
        assert is_share(case["share_cn_west_at_lowest_ratio"])
        assert is_share(case["share_cn_west_at_ratio_1"])
        # cheaper western power lowers the power factor of the CN/US price ratio (the cost
        # channel); the volume share is not asserted: with power 2-6% of marginal cost, one seed's
        # entry and investment path moves it by more than power does (measured: -0.050 and +0.027)
        assert case["power_factor_at_lowest_ratio"] < case["power_factor_at_ratio_1"]
        assert 0.2 <= case["advantage_stops_mattering_above_ratio"] <= 1.0


def test_export_controls_levers_and_regimes(tmp_path, capsys):
    headline = run_script("export_controls", tmp_path, capsys)
    table = pd.read_csv(tmp_path / "export_controls.csv")
    assert table["share_cn"].between(0, 1).all()
    assert (table["cn_us_cost_ratio"] > 0).all()
    assert set(table["design"]) == {"penalty", "lag", "both", "regime"}
    assert len(headline["dates"]) == 2
    for case in headline["dates"].values():
        costs = case["cn_us_cost_ratio_by_penalty"]
        assert costs["0"] < costs["0.5"]  # slower CN chips cost more per token
        chip = case["chip_factor_by_penalty"]
        assert chip["0"] < chip["0.5"]  # and the chip term of the price ratio grows
        assert set(case["cn_us_price_ratio_by_regime"]) == {"no_controls", "historical",
                                                             "full_ban"}
        # the two levers are run alone and together: the interaction is what is left over
        assert case["log_interaction"] == pytest.approx(
            case["log_effect_both"] - case["log_effect_penalty_0.5"] - case["log_effect_lag_2"])


def test_latency_division_flow_shares(tmp_path, capsys):
    headline = run_script("latency_division", tmp_path, capsys)
    table = pd.read_csv(tmp_path / "latency_division.csv")
    sums = table.groupby(["hub_latency_ms", "seed", "consumer_region", "sector"])["share"].sum()
    np.testing.assert_allclose(sums, 1.0, rtol=1e-9)
    for key in ("cn_west_share_of_cn_east_consumers_at_baseline",
                "cn_west_share_of_cn_east_consumers_at_max_latency"):
        assert all(is_share(s) for s in headline[key].values())
    # industrial control (15 ms tolerance) cannot reach the west over a 25 ms hub link
    assert headline["cn_west_share_of_cn_east_consumers_at_baseline"]["industrial_control"] == 0
    assert headline["cn_west_share_of_cn_east_consumers_at_min_latency"][
        "industrial_control"] > 0


@pytest.fixture(scope="module")
def price_cut_cascade_run(tmp_path_factory) -> tuple[dict, Path]:
    """The quick price-cut cascade, run once for the tests below (headline, output folder)."""
    out = tmp_path_factory.mktemp("price_cut_cascade")
    module = load_script("price_cut_cascade")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert module.main([*QUICK, "--out", str(out)]) == 0
    for suffix in ("png", "svg", "csv"):
        path = out / f"price_cut_cascade.{suffix}"
        assert path.exists() and path.stat().st_size > 0, path
    return json.loads(stdout.getvalue().strip().splitlines()[-1]), out


def test_price_cut_cascade_event_study(price_cut_cascade_run):
    headline, out = price_cut_cascade_run
    strategies = headline["strategies"]
    assert set(strategies) == {"undercut", "best_response", "cost_plus", "nash"}
    for case in strategies.values():
        assert 0 < case["cutter_price_ratio"] < 0.2  # the cut holds (scarcity may lift it)
        assert is_share(case["cn_rivals_following_within_4_weeks"])
    # best responders do not cut (composition effect)
    assert strategies["best_response"]["cn_east_rivals_price_ratio_week4"] > 0.95
    table = pd.read_csv(out / "price_cut_cascade.csv")
    before = table[table["event_time"] < 0]
    np.testing.assert_allclose(before["price_ratio_median"], 1.0, rtol=1e-9)


@pytest.mark.xfail(strict=True, reason=(
    "measured (quick, seed 1): 0.467 of CN rivals (7 of 15 hosts) >= 10% below the "
    "counterfactual within 4 weeks (one, uid 5, has no price: NaN), cn_west rivals' price ratio 0.913 at week 4. Under undercut "
    "every CN tier-1 product is already at its marginal cost in the counterfactual, from step 1 "
    "(price / marginal cost 1.000): the tier's cheapest rival price met in a shared segment "
    "(0.92 USD/Mtok at step 1, set by EU and US hosts; 0.37 at step 20) is below the marginal "
    "cost of every CN tier-1 product but the price leader's (1.16-6.36 at step 1), so the cut (to 0.025) cannot pull "
    "their list prices lower (product list-price ratio 0.9996-1.0). The 6 independent "
    "hosts counted as followers are those whose scarcity surcharge falls 8-10% as load moves to the cutter "
    "(list price x0.97-0.99 from the mix); only the owner-host price leader of tier 1 (the one "
    "CN product above cost) cuts its list price (x0.31)"))
def test_price_cut_cascade_undercutters_follow(price_cut_cascade_run):
    # undercutters follow to near cost. The cutter is an independent cn_east cloud: its rivals
    # are the hosts of the same open families, all of cn_west's hosts (cn_east also holds
    # owner-hosts of other tiers, which an undercutter of the same tier never meets)
    strategies = price_cut_cascade_run[0]["strategies"]
    assert strategies["undercut"]["cn_rivals_following_within_4_weeks"] > 0.5
    assert strategies["undercut"]["cn_west_rivals_price_ratio_week4"] < 0.9


def test_green_curtailment_absorbs_at_most_the_cap(tmp_path, capsys):
    headline = run_script("green_curtailment", tmp_path, capsys)
    table = pd.read_csv(tmp_path / "green_curtailment.csv")
    assert (table["absorbed_gwh_total"] <= table["potential_gwh_total"] * (1 + 1e-9)).all()
    assert (table.loc[table["green_supply_cap_cn_west"] == 0, "absorbed_gwh_total"] == 0).all()
    for key in ("batch_share_cn_west_no_green", "batch_share_cn_west_max_cap",
                "green_share_cn_west_energy_max_cap"):
        assert is_share(headline[key])
    assert headline["avoided_kt_total_at_max_cap"] >= headline["avoided_kt_total_at_baseline_cap"]


def test_figure_notes_name_sources_not_internal_documents():
    # users do not have the design and calibration sheets: footers name the data sources
    paths = [*(REPO / "pricewar" / "studies").rglob("*.py"), *(REPO / "experiments").glob("*.py")]
    assert len(paths) > 10
    for path in paths:
        assert not re.search(r"\b(CAL|DESIGN)\b\s*§", path.read_text()), path


@pytest.mark.parametrize("name", sorted(EXPERIMENTS))
def test_every_experiment_has_a_script(name):
    assert (REPO / "experiments" / f"{name}.py").exists()


# ------------------------------------------------------------------------------------------------
# library pieces
# ------------------------------------------------------------------------------------------------
def test_cost_decomposition_matches_the_model_unit_cost():
    model = build_model({"n_consumers": 250}, seed=3)
    for _ in range(5):
        model.step()
    table = cost_decomposition(model).set_index("region")
    for region in ("cn_west", "cn_east", "us", "eu"):
        assert table.loc[region, "unit_cost"] == pytest.approx(
            model.metrics[f"unit_cost_{region}"], rel=1e-9)
        assert table.loc[region, "price"] == pytest.approx(model.metrics[f"price_{region}"],
                                                           rel=1e-9)


def test_marginal_cost_rebuilt_from_the_cohort_inputs_matches_the_model():
    model = build_model({"n_consumers": 250}, seed=3)
    for _ in range(30):
        model.step()
    products = product_cost_inputs(model)
    np.testing.assert_allclose(products["marginal_cost_rebuilt"], products["marginal_cost"],
                               rtol=1e-6)


def test_gap_decomposition_sums_to_the_log_price_ratio():
    model = build_model({"n_consumers": 250}, seed=2)
    for _ in range(60):
        model.step()
    gap = tier_gap_decomposition(model)
    assert len(gap) > 0
    parts = gap[[f"log_{d}" for d in DRIVERS]].sum(axis=1)
    np.testing.assert_allclose(parts, gap["log_ratio"], atol=1e-9)
    products = product_cost_inputs(model)
    served = products[products["served"] > 0]
    for row in gap.itertuples():
        cn = served[(served["tier"] == row.tier) & (served["bloc"] == "cn")]
        us = served[(served["tier"] == row.tier) & (served["region"] == "us")]
        expected = (np.average(np.log(cn["price"]), weights=cn["served"])
                    - np.average(np.log(us["price"]), weights=us["served"]))
        assert row.log_ratio == pytest.approx(expected, abs=1e-12)


def test_stops_mattering_finds_the_flat_tail():
    ratios = np.array([0.2, 0.4, 0.6, 0.8, 1.0])
    assert _stops_mattering(ratios, np.array([0.30, 0.25, 0.205, 0.201, 0.2]), 0.01) == 0.6
    assert _stops_mattering(ratios, np.full(5, 0.2), 0.01) == 0.2


def test_decline_factor_of_an_exact_exponential():
    step = np.arange(105)
    price = 10.0 * 5.0 ** (-step * 7 / 365.25)
    assert decline_factor_per_year(step, price, 7.0) == pytest.approx(5.0)


@pytest.mark.integration
def test_headlines_are_finite_json(tmp_path, capsys):
    out = tmp_path / "figs"
    assert cli.main(["figures", "--quick", "--no-progress", "--out", str(out),
                     "--only", "energy_gap", "latency_division"]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    # issue 27: a short summary on the terminal, not 10 kB of JSON on one line
    assert len(printed) == 3 and all(len(line) < 400 for line in printed)
    assert printed[-1].endswith(f"headline numbers in {out / 'headlines.json'}")
    headlines = json.loads((out / "headlines.json").read_text())
    assert set(headlines) == {"energy_gap", "latency_division"}
    values = numbers(headlines)
    assert len(values) > 20
    assert all(x is not None and math.isfinite(x) for x in values)


def svg_texts(path: Path) -> str:
    """The texts of an SVG written by matplotlib (each text is kept in a comment by its glyphs)."""
    return " ".join(re.findall(r"<!-- (.*?) -->", path.read_text()))


@pytest.mark.integration
def test_pricewar_figures_runs_another_scenario_and_names_it(tmp_path, capsys):
    runs = {}
    for scenario in ("baseline", "calibrated"):
        out = tmp_path / scenario
        assert cli.main(["figures", *QUICK, "--only", "latency_division", "--scenario", scenario,
                         "--out", str(out)]) == 0
        headline = json.loads((out / "headlines.json").read_text())["latency_division"]
        runs[scenario] = (headline, pd.read_csv(out / "latency_division.csv"),
                          svg_texts(out / "latency_division.svg"))
    baseline, calibrated = runs["baseline"], runs["calibrated"]
    # the baseline keeps the committed figures' texts; another scenario is named in both
    assert "scenario" not in baseline[0]
    assert "Source: pricewar model, baseline scenario," in baseline[2]
    assert calibrated[0]["scenario"] == "calibrated"
    assert "Source: pricewar model, scenario calibrated," in calibrated[2]
    # the calibrated demand parameters move the flows: the runs really used the other scenario
    assert list(calibrated[1].columns) == list(baseline[1].columns)
    assert len(calibrated[1]) == len(baseline[1])
    assert not np.allclose(calibrated[1]["volume_mtok"], baseline[1]["volume_mtok"])
    assert (calibrated[0]["cn_west_share_of_cn_east_consumers_at_baseline"]
            != baseline[0]["cn_west_share_of_cn_east_consumers_at_baseline"])


@pytest.mark.parametrize("scenario", ["no_such_scenario", "missing/scenario.toml"])
def test_an_unknown_scenario_is_refused_in_one_line_before_any_run(tmp_path, capsys, scenario):
    out = tmp_path / "figures"
    assert cli.main(["figures", *QUICK, "--scenario", scenario, "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert len(captured.err.strip().splitlines()) == 1
    assert captured.err.startswith("pricewar: error: ") and scenario in captured.err
    assert not out.exists()
    module = load_script("latency_division")
    with pytest.raises(SystemExit) as exit_info:
        module.main([*QUICK, "--scenario", scenario, "--out", str(out)])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert len(captured.err.strip().splitlines()) == 1
    assert captured.err.startswith("experiments/latency_division.py: error: ")
    assert not out.exists()


@pytest.mark.integration
def test_pricewar_figures_quick_writes_every_figure(tmp_path, capsys):
    out = tmp_path / "figures"
    assert cli.main(["figures", "--quick", "--no-progress", "--out", str(out)]) == 0
    headlines = json.loads((out / "headlines.json").read_text())
    assert set(headlines) == set(EXPERIMENTS)
    for name in EXPERIMENTS:
        for suffix in ("png", "svg", "csv"):
            assert (out / f"{name}.{suffix}").exists()


def test_capacity_utilisation_shares_and_power(tmp_path, capsys):
    """experiments/capacity_utilisation.py at a small size: shares are shares, served never
    exceeds demand, and investment keeps the fleets' power (online + ordered) within the caps."""
    script = load_script("capacity_utilisation")
    assert script.main(["--seeds", "1", "--consumers", "100", "--steps", "30",
                        "--out", str(tmp_path)]) == 0
    headline = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(headline) >= {"unserved_share_2024", "power_used_over_cap_end"}
    table = pd.read_csv(tmp_path / "capacity_utilisation.csv")
    assert len(table) == 30 and (tmp_path / "capacity_utilisation.png").exists()
    shares = table.filter(like="full_share_").to_numpy()
    assert np.all((shares[np.isfinite(shares)] >= 0) & (shares[np.isfinite(shares)] <= 1))
    assert table["unserved_share"].between(0, 1).all()
    assert (table["served_total"] <= table["demand_total"] * (1 + 1e-9)).all()
    assert (table["power_used_mw"] <= table["power_cap_mw"] * (1 + 1e-9)).all()
    assert table["power_used_mw"].gt(0).all()


def test_the_capacity_diagnostic_lifts_the_limits_and_lets_the_cutter_take_volume(tmp_path,
                                                                                 capsys):
    """experiments/cascade_capacity_diagnostic.py at a small size: without capacity limits no
    host is rationed and the leader's share of Chinese volume after its cut rises far above the
    capacity-limited run's."""
    script = load_script("cascade_capacity_diagnostic")
    model = script.UncapacitatedModel("baseline", seed=1, n_consumers=100)
    for _ in range(3):
        model.step()
    assert model.metrics["unserved_demand"] == 0.0
    assert script.main(["--seeds", "1", "--consumers", "100", "--out", str(tmp_path)]) == 0
    headline = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    capped = headline["capacity limits | leader CN share no cut -> cut"]
    uncapped = headline["no capacity limits | leader CN share no cut -> cut"]
    assert uncapped[2] > capped[2] + 0.1  # the cutter takes volume only without the limits
    assert (tmp_path / "may2024_cascade_capacity.csv").exists()
