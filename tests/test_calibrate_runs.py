"""Calibration with model runs: the sweep's points design, parameter recovery on synthetic data
(small here, larger with ``-m slow``), resume, outputs, posterior draws and the CLI."""

from __future__ import annotations

import copy
import json
import shutil
import sys

import numpy as np
import pandas as pd
import pytest
import tomli_w

from pricewar.calibrate import calibrate, load_calibration_spec, posterior_overrides, simulate
from pricewar.calibrate.abc import weighted_quantile
from pricewar.calibrate.posterior import CalibrationError
from pricewar.cli import main as cli_main
from pricewar.runs.runner import model_frame, run_model
from pricewar.scenario import load_scenario
from pricewar.sweep.spec import SpecError, load_spec

# the scenario's own values: nest_sigma 0.875 is baseline's (docs/ODD.md), growth 0.05 a week
TRUTH = {"demand_growth": 0.05, "nest_sigma": 0.875}
TRUTH_SEED = 999_999


# ------------------------------------------------------------------------------------------------
# the hooks calibrations use: points designs, sweep runs without agent reporters
# ------------------------------------------------------------------------------------------------
def points_spec(parameters: dict) -> dict:
    return {"name": "points", "steps": 3, "seeds": [1, 2], "fixed": {"n_consumers": 100},
            "design": {"kind": "points", "parameters": parameters}}


def test_points_design_zips_values_and_allows_repeats():
    spec = load_spec(points_spec({"demand_growth": {"values": [0.03, 0.05, 0.03]},
                                  "friction_utils": {"values": [1.0, 2.0, 1.0]}}))
    points = spec.design.points()
    assert points[["demand_growth", "friction_utils"]].values.tolist() == [
        [0.03, 1.0], [0.05, 2.0], [0.03, 1.0]]
    runs = spec.runs()
    assert len(runs) == 6 and runs["run_id"].nunique() == 4  # repeated points share run ids
    assert load_spec(spec.to_dict()) == spec


def test_points_design_with_seeds_runs_each_point_once_with_its_seed():
    data = points_spec({"demand_growth": {"values": [0.03, 0.05, 0.03]}})
    data.pop("seeds")
    data["design"]["seeds"] = [7, 8, 9]
    spec = load_spec(data)
    runs = spec.runs()
    assert runs["seed"].tolist() == [7, 8, 9] and runs["run_id"].nunique() == 3
    assert load_spec(spec.to_dict()) == spec
    data["replications"] = 2
    with pytest.raises(SpecError, match="sets the seeds"):
        load_spec(data)


def test_points_design_seeds_and_size_are_bounded_as_every_sweep():
    data = points_spec({"demand_growth": {"values": [0.03, 0.05]}})
    data.pop("seeds")
    data["design"]["seeds"] = [1, -2]
    with pytest.raises(SpecError) as info:
        load_spec(data)
    assert info.value.key_path == "design.seeds[1]" and "numpy seed" in info.value.problem
    data["design"]["seeds"] = [1, 2]
    data["design"]["parameters"]["demand_growth"]["values"] = [0.03, -5.0]
    with pytest.raises(SpecError, match="invalid for the scenario"):  # each point validated
        load_spec(data)


@pytest.mark.parametrize("parameters, key, problem", [
    ({"demand_growth": {"values": [0.03, 0.05]}, "friction_utils": {"values": [1.0]}},
     "design.parameters", "same length"),
    ({"demand_growth": {"low": 0.03, "high": 0.05}}, "design.parameters.demand_growth",
     "values = [...]"),
])
def test_points_design_rejects_unequal_lengths_and_bounds(parameters, key, problem):
    with pytest.raises(SpecError) as info:
        load_spec(points_spec(parameters))
    assert info.value.key_path == key and problem in info.value.problem


def test_runs_without_agent_reporters_have_the_same_model_frame():
    overrides = {"n_consumers": 100, "demand_growth": 0.06}
    full = run_model(steps=12, seed=3, overrides=overrides, progress=False)
    light = run_model(steps=12, seed=3, overrides=overrides, progress=False,
                      agent_reporters=False)
    pd.testing.assert_frame_equal(model_frame(full), model_frame(light))
    assert not light.datacollector.agenttype_reporters
    assert full.datacollector.agenttype_reporters


# ------------------------------------------------------------------------------------------------
# parameter recovery: simulate at known parameters, calibrate on the simulated targets
# ------------------------------------------------------------------------------------------------
def recovery_spec(simulations: int, n_consumers: int, *, quantile: float = 0.2,
                  predictive: int = 10) -> dict:
    """Two parameters, three fitted targets up to the end of 2024, two held out.

    The fitted summaries are chosen to identify the parameters on the v2 model: the volume
    demanded at posted prices (not China's served throughput, which capacity caps and which left
    growth's interval at 0.62 of the prior) for demand growth, the mean Lerner index of
    open-weight families' products (σ sets how hard the hosts of the same weights compete) for
    the nest's σ. Cross-bloc friction is not in the recovery: at this size no summary pins it
    (docs/calibration.md, "What the data cannot identify").

    Each ``sd`` is the seed-to-seed s.d. of the summary (on its scale) over 12 runs at
    ``TRUTH`` at 100 consumers (seeds 999999 and 900001-900011, measured Nov 2026): the synthetic
    observation's error is the model's own noise. The prior runs carry that noise already, so
    the observation-error draw the calibration adds on top makes the comparison conservative
    (wider intervals), not tighter.
    """
    def target(summary, args, sd, scale="log", held_out=False):
        return {"value": 1.0, "sd": sd, "scale": scale, "summary": summary, "args": args,
                "held_out": held_out}

    year = {"start": "2024-01-01", "end": "2024-12-30"}
    return {
        "name": "recovery", "scenario": "baseline",
        "parameters": {"demand_growth": {"low": 0.02, "high": 0.08},
                       "nest_sigma": {"low": 0.4, "high": 0.95}},  # v2.toml's prior
        "targets": {
            "demand_2024h2": target("mean_over", {"reporter": "demand_total",
                                                  "start": "2024-07-01", "end": "2024-12-30"},
                                    0.147),
            "decline_2024": target("decline_factor_per_year",
                                   {"reporter": "price_avg", **year}, 0.065),
            "lerner_open_2024": target("mean_over", {"reporter": "lerner_open", **year}, 0.008,
                                       "linear"),
            "tokens_2025": target("tokens_per_day", {"reporters": ["throughput_cn_east"],
                                                     "date": "2025-01-06"}, 0.18,
                                  held_out=True),
            "us_over_cn": target("ratio", {"numerator": "price_us",
                                           "denominator": "price_cn_east",
                                           "start": "2024-10-01", "end": "2024-12-30"},
                                 0.086, held_out=True),
        },
        "size": {"n_consumers": n_consumers},
        "budget": {"simulations": simulations, "acceptance_quantile": quantile,
                   "posterior_predictive": predictive, "seed": 0},
    }


def with_truth_as_observed(data: dict, truth: dict = TRUTH) -> dict:
    """The spec with every target's value set to its summary of a run at the true parameters
    (a seed the prior runs do not use)."""
    spec = load_calibration_spec(data, check_reporters=False)
    model = run_model(spec.scenario, steps=spec.steps(), seed=TRUTH_SEED,
                      overrides={**spec.size, **truth}, progress=False)
    frame = model_frame(model)
    data = copy.deepcopy(data)
    for target in spec.targets:
        data["targets"][target.name]["value"] = target.evaluate(frame)
    return data


@pytest.fixture(scope="module")
def recovered(tmp_path_factory):
    out = tmp_path_factory.mktemp("recovery")
    data = with_truth_as_observed(recovery_spec(simulations=250, n_consumers=100))
    first = calibrate(data, out, workers=1, progress=False)
    again = calibrate(data, out, workers=1, progress=False)
    return data, out, first, again


def test_recovery_truth_is_inside_the_posterior_90_percent_intervals(recovered):
    _, _, result, _ = recovered
    table = result.parameters.set_index("parameter")
    for name, truth in TRUTH.items():
        assert table.loc[name, "q05"] <= truth <= table.loc[name, "q95"], table
    # informative, not the prior handed back: each parameter is pinned to a fraction of its box
    for name in TRUTH:
        assert table.loc[name, "width_vs_prior"] < 0.5, table
    draws = result.draws
    low, high = weighted_quantile(draws["demand_growth"], draws["weight"], [0.05, 0.95])
    assert (low, high) == pytest.approx((table.loc["demand_growth", "q05"],
                                         table.loc["demand_growth", "q95"]))


def test_recovery_moves_away_from_the_truth_when_the_data_come_from_elsewhere(recovered,
                                                                              tmp_path):
    """The negative control of the recovery test: the same prior runs (resumed, not rerun), the
    observations simulated at demand growth 0.07 instead of 0.05: the posterior must cover 0.07
    and leave 0.05 outside, or the recovery test above could not fail."""
    _, out, _, _ = recovered
    shutil.copytree(out / "prior", tmp_path / "prior")
    elsewhere = {**TRUTH, "demand_growth": 0.07}
    data = with_truth_as_observed(recovery_spec(simulations=250, n_consumers=100), elsewhere)
    result = calibrate(data, tmp_path, workers=1, progress=False)
    assert result.prior_status.ran == 0
    row = result.parameters.set_index("parameter").loc["demand_growth"]
    assert row["q05"] <= 0.07 <= row["q95"], row
    assert not row["q05"] <= TRUTH["demand_growth"] <= row["q95"], row


def test_summaries_of_stored_runs_name_a_reporter_the_runs_lack(recovered):
    _, out, _, _ = recovered
    data = recovery_spec(simulations=250, n_consumers=100)
    data["targets"]["tokens_2025"]["args"]["reporters"] = ["no_such_reporter"]
    spec = load_calibration_spec(data, check_reporters=False)
    with pytest.raises(CalibrationError, match=r"no reporter \['no_such_reporter'\]"):
        simulate.summaries(out / "prior", spec.targets, spec.names)


def test_recovery_fitted_targets_are_reproduced_by_the_posterior(recovered):
    _, _, result, _ = recovered
    checks = result.checks.set_index("target")
    assert list(checks["role"]) == ["fitted"] * 3 + ["held out"] * 2
    assert checks.loc[["demand_2024h2", "decline_2024", "lerner_open_2024"],
                      "consistent"].all()
    assert (checks["runs"] == 10).all()


def test_running_again_resumes_without_new_runs_and_same_posterior(recovered):
    _, _, first, again = recovered
    assert first.prior_status.ran == 250 and first.predictive_status.ran == 10
    assert again.prior_status.ran == 0 and again.predictive_status.ran == 0
    pd.testing.assert_frame_equal(first.draws, again.draws)


def test_outputs_are_written_and_the_calibrated_scenario_loads(recovered):
    data, out, result, _ = recovered
    for name in ("posterior.parquet", "posterior_marginals.png", "posterior_predictive.png",
                 "held_out_checks.csv", "predictive_checks.csv", "parameters.csv",
                 "identification.csv", "calibrated.toml", "summary.json"):
        assert (out / name).exists(), name
    assert (out / "prior" / "manifest.json").exists()
    assert len(list((out / "predictive").glob("*/manifest.json"))) == 1
    held_out = pd.read_csv(out / "held_out_checks.csv")
    assert list(held_out["target"]) == ["tokens_2025", "us_over_cn"]
    scenario = load_scenario(out / "calibrated.toml")
    median = result.parameters.set_index("parameter").loc["demand_growth", "median"]
    assert scenario.name == "calibrated"
    assert scenario.demand.growth_per_step == float(f"{median:.3g}")  # 3 significant figures
    assert scenario.sources["demand.growth_per_step"].startswith(
        "estimated by pricewar calibrate: recovery")
    assert "90% interval" in scenario.sources["demand.nest_sigma"]
    assert scenario.steps == load_scenario("baseline").steps
    summary = json.loads((out / "summary.json").read_text())
    assert summary["prior_runs"]["usable"] == 250 and summary["held_out_total"] == 2
    assert summary["run_cpu_seconds_median"] > 0 and summary["simulations_per_cpu_hour"] > 0
    assert {r["parameter"] for r in summary["identification"]} == set(TRUTH)


def test_posterior_overrides_are_draws_inside_the_prior(recovered):
    _, out, result, _ = recovered
    draws = posterior_overrides(out, 200, seed=1)
    assert len(draws) == 200 and set(draws[0]) == set(TRUTH)
    growth = np.array([d["demand_growth"] for d in draws])
    assert ((growth >= 0.02) & (growth <= 0.08)).all()
    table = result.parameters.set_index("parameter")
    assert np.median(growth) == pytest.approx(table.loc["demand_growth", "median"], rel=0.05)
    assert posterior_overrides(out, 5, seed=1) == posterior_overrides(out, 5, seed=1)


@pytest.mark.slow
def test_recovery_at_calibration_size_with_four_parameters(tmp_path):
    """Four parameters (two weakly identified), 1,500 runs of 300 consumers: the truth inside
    every 90% interval, and coverage near nominal over 50 simulated observations."""
    data = recovery_spec(simulations=1500, n_consumers=300, quantile=0.1, predictive=40)
    data["parameters"]["export_control_penalty"] = {"low": 0.0, "high": 0.8}
    data["parameters"]["export_control_lag_years"] = {"low": 0.0, "high": 4.0}
    truth = {**TRUTH, "export_control_penalty": 0.4, "export_control_lag_years": 2.0}
    spec = load_calibration_spec(data, check_reporters=False)
    frame = model_frame(run_model(spec.scenario, steps=spec.steps(), seed=TRUTH_SEED,
                                  overrides={**spec.size, **truth}, progress=False))
    for target in spec.targets:
        data["targets"][target.name]["value"] = target.evaluate(frame)
    result = calibrate(data, tmp_path, workers=2, progress=False)
    table = result.parameters.set_index("parameter")
    for name, value in truth.items():
        assert table.loc[name, "q05"] <= value <= table.loc[name, "q95"], table
    coverage = result.identification.set_index("parameter")["coverage"]
    assert (coverage >= 0.7).all(), coverage


# ------------------------------------------------------------------------------------------------
# the command line
# ------------------------------------------------------------------------------------------------
def tiny_spec_file(tmp_path) -> str:
    """The recovery spec with 30 runs of 9 steps (every date moved into early 2024)."""
    data = recovery_spec(simulations=30, n_consumers=100, quantile=0.5, predictive=4)
    early = {"date": "2024-03-04", "start": "2024-01-01", "end": "2024-03-04"}
    for target in data["targets"].values():
        target["args"].update({k: v for k, v in early.items() if k in target["args"]})
    path = tmp_path / "tiny.toml"
    path.write_text(tomli_w.dumps(data))
    return str(path)


def test_cli_calibrates_and_prints_the_posterior_and_checks(tmp_path, capsys):
    spec = tiny_spec_file(tmp_path)
    code = cli_main(["calibrate", spec, "--out", str(tmp_path / "out"), "--workers", "1",
                     "--quiet"])
    assert code == 0
    text = capsys.readouterr().out
    assert "30 prior runs of 9 steps" in text
    assert "demand_growth" in text and "held out" in text
    assert (tmp_path / "out" / "calibrated.toml").exists()


def test_cli_reports_an_invalid_spec_in_one_line(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(tomli_w.dumps({"parameters": {"demand_growth": {"low": 1, "high": 0}}}))
    assert cli_main(["calibrate", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "parameters.demand_growth.high" in err


def test_cli_method_npe_without_sbi_fails_before_any_run(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "sbi", None)  # importing sbi now raises ImportError
    monkeypatch.setitem(sys.modules, "sbi.inference", None)
    spec = tiny_spec_file(tmp_path)
    assert cli_main(["calibrate", spec, "--out", str(tmp_path / "out"), "--workers", "1",
                     "--method", "npe", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install torch==2.13.0" in err
    assert not (tmp_path / "out" / "prior").exists()
