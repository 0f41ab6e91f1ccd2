"""Every input is bounded where it enters (issue 18, cases 6, 7, 8 and 10): flags, ``--set``
overrides, scenario files and sweep specs. A bad value is one line naming the flag or file, the
key, the value and the allowed range, exit code 2, nothing written, at once; a good value gives a
finite run that conserves volume. Property tests try values at and beyond every bound."""

from __future__ import annotations

import math
import tempfile
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomli_w
from conftest import SMALL_OVERRIDES, SMALL_SET, run_cli
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from pricewar import limits
from pricewar.errors import ScenarioError
from pricewar.model.metrics import PLATFORM_REPORTERS, PRODUCER_REPORTERS
from pricewar.scenario import OVERRIDES, load_scenario
from pricewar.scenario.parameters import PARAMETERS
from pricewar.strategies.registry import strategy_names
from pricewar.sweep.spec import SpecError, load_spec

SMALL = SMALL_SET
#: the top-level keys of a scenario file (merged over the calibration data)
TOP = {"name": "t", "description": "", "start_date": "2024-01-01", "step_days": 7.0,
       "steps": 2}


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("pricewar"), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err


# ------------------------------------------------------------------------------------------------
# flags and overrides: one line, exit 2, nothing written, at once
# ------------------------------------------------------------------------------------------------
BAD_RUNS = {  # issue case: argv after "run baseline" -> fragments of the one-line error
    "6: --seed -1": (["--seed", "-1"], ["--seed", "-1", "[0, 9,223,372,036,854,775,807]"]),
    "6: --seed 2**63": (["--seed", str(2**63)], ["--seed", "must be in"]),
    "7: --steps 100000000000": (["--steps", "100000000000"], ["--steps", "[1, 5,200]"]),
    "7: --set n_producers=1e308": (["--set", "n_producers=1e308"],
                                   ["n_producers", "'1e308'", "<= 10,000"]),
    "7: --set n_consumers=1e9": (["--set", "n_consumers=1e9"], ["n_consumers", "<= 100,000"]),
    "8: --set friction_utils=1e308": (["--set", "friction_utils=1e308"],
                                      ["trade.friction_utils", "<= 100",
                                       "override friction_utils"]),
    "9: --set demand_growth=-0.5": (["--set", "demand_growth=-0.5"],
                                    ["demand.growth_per_step", "-0.5", ">= -0.1"]),
    "10: --set electricity_us=1e308": (["--set", "electricity_us=1e308"],
                                       ["regions.us.electricity_usd_per_kwh", "1e+308", "<= 10",
                                        "override electricity_us"]),
    "10: --set steps=-1 --steps 3": (["--set", "steps=-1", "--steps", "3"],
                                     ["steps", "-1", ">= 1"]),
    "--set electricity_us=inf": (["--set", "electricity_us=inf"],
                                     ["electricity_us", "finite"]),
    # hypothesis found it: at eta = 0 the kernel's fixed-volume (v1) path lost 4.7% of demand
    "--set demand_eta=0": (["--set", "demand_eta=0"], ["sectors.chat.eta", "must be > 0"]),
    "7: --steps 5200 (demand x 1.05^5200)": (["--steps", "5200", "--set", "demand_growth=0.05"],
                                             ["demand.growth_per_step", "1e+50"]),
}


@pytest.mark.parametrize("case", list(BAD_RUNS))
def test_bad_run_input_is_one_line_exit_2_nothing_written_at_once(case, tmp_path, capsys,
                                                                  model_steps):
    args, fragments = BAD_RUNS[case]
    out = tmp_path / "out"
    code, _, err = run_cli(["run", "baseline", *args, "--out", str(out), "--quiet"], capsys)
    assert model_steps == []  # refused before any step ran
    assert_one_line_error(code, err, *fragments)
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv, fragments", [
    (["viz", "--port", "70000"], ["--port", "70000", "[1, 65,535]"]),
    (["viz", "--port", "0"], ["--port", "must be in"]),
    (["sweep", "spec.toml", "--out", "x", "--workers", "0"], ["--workers", "0", "[1, 1,024]"]),
    (["sweep", "spec.toml", "--out", "x", "--max-runs", "-1"], ["--max-runs", "-1"]),
], ids=["6: viz --port 70000", "viz --port 0", "10: sweep --workers 0", "sweep --max-runs -1"])
def test_bad_flag_is_one_line_exit_2(argv, fragments, capsys):
    code, _, err = run_cli(argv, capsys)
    assert_one_line_error(code, err, *fragments)


def test_empty_out_is_refused_not_the_current_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # issue case 10: it wrote ./model.parquet and printed /model...
    code, _, err = run_cli(["run", "baseline", "--steps", "1", *SMALL, "--out", "", "--quiet"],
                        capsys)
    assert_one_line_error(code, err, "--out", "''", "expected a folder path")
    assert list(tmp_path.iterdir()) == []


def test_largest_allowed_sizes_pass_validation():
    """The bounds themselves are valid (checked by the validator only: such runs are long)."""
    base = load_scenario("baseline")
    sizes = {p.name: (p.low, p.high) for p in PARAMETERS.values() if p.kind is int}
    for key, (low, high) in sizes.items():
        if key == "steps":
            base.with_overrides(steps=high, demand_growth=0.0)
        else:
            base.with_overrides(**{key: high})
        base.with_overrides(**{key: low})
        with pytest.raises(ScenarioError, match=f"<= {high:,}"):
            base.with_overrides(**{key: high + 1})


# ------------------------------------------------------------------------------------------------
# scenario and spec files
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("content, fragments", [
    ({"steps": 1e308}, ["steps", "1e+308", "<= 5200"]),
    ({"producers": {"us": {"count": 1_000_000_000}}}, ["producers.us.count", "<= 10000"]),
    ({"demand": {"consumers_per_segment": 10**9}}, ["demand.consumers_per_segment"]),
    ({"trade": {"friction_utils": 1e308}}, ["trade.friction_utils", "<= 100"]),
    ({"events": [{"kind": "demand_shock", "step": 1, "fraction": 1e300,
                  "duration_steps": 0}]}, ["events[0].fraction", "<= 100"]),
    ({"demand": {"base_mtok_per_step": {"us": 1e300}}}, ["base_mtok_per_step.us", "<= 1e+12"]),
    ({"demand": {"consumers_per_segment": 4000, "platforms_per_consumer": 10}},
     ["8,000,000 routes", "at most 4,000,000"]),
], ids=["6: steps = 1e308", "7: count = 1e9", "consumers_per_segment = 1e9",
        "8: friction_utils = 1e308", "demand shock x 1e300", "base demand 1e300", "routes"])
def test_bad_scenario_file_is_one_line_exit_2(content, fragments, tmp_path, capsys,
                                             model_steps):
    path = tmp_path / "bad.toml"
    path.write_text(tomli_w.dumps({**TOP, **content}))
    out = tmp_path / "out"
    code, _, err = run_cli(["run", str(path), "--out", str(out), "--quiet"], capsys)
    assert model_steps == []  # refused before any step ran
    assert_one_line_error(code, err, str(path), *fragments)
    assert not out.exists()


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_non_utf8_file_is_one_line_exit_2(command, tmp_path, capsys):
    path = tmp_path / "latin1.toml"
    path.write_bytes('name = "Zürich"\n'.encode("latin-1"))  # issue case 6
    code, _, err = run_cli([command, str(path), "--out", str(tmp_path / "out"), "--quiet"], capsys)
    assert_one_line_error(code, err, str(path), "not UTF-8")
    assert not (tmp_path / "out").exists()


def test_huge_input_file_is_refused_before_parsing(tmp_path, capsys):
    path = tmp_path / "huge.toml"
    with open(path, "wb") as handle:  # sparse: no disk needed
        handle.truncate(limits.MAX_INPUT_BYTES + 1)
    code, _, err = run_cli(["run", str(path), "--out", str(tmp_path / "out"), "--quiet"], capsys)
    assert_one_line_error(code, err, "bytes", f"at most {limits.MAX_INPUT_BYTES:,}")


def spec(design: dict, **top) -> dict:
    return {"name": "t", "steps": 4, "seeds": [1], "fixed": dict(SMALL_OVERRIDES),
            "design": design, **top}


ONE = {"kind": "grid", "parameters": {"electricity_us": {"values": [0.1]}}}
BAD_SPECS = {  # issue case: spec -> (key path, problem)
    "6: seeds = [-1, 1]": (spec(ONE, seeds=[-1, 1]), "seeds[0]", "[0, 2**63 - 1]"),
    "7: 1e9 samples": (spec({"kind": "random", "samples": 10**9, "parameters": {
        "electricity_us": {"low": 0.05, "high": 0.1}}}), "design.samples", "at most 20,000"),
    "7: 100,000-point grid": (spec({"kind": "grid", "parameters": {
        "electricity_us": {"low": 0.05, "high": 0.1, "num": 1000},
        "friction_utils": {"low": 0.0, "high": 3.0, "num": 100}}}), "design.parameters",
        "100,000 design points"),
    "7: grid num = 1e9": (spec({"kind": "grid", "parameters": {
        "electricity_us": {"low": 0.05, "high": 0.1, "num": 10**9}}}),
        "design.parameters.electricity_us.num", "[2, 20,000]"),
    "7: 2 points x 60,000 seeds": (spec({"kind": "grid", "parameters": {
        "electricity_us": {"values": [0.05, 0.1]}}}, seeds=list(range(60_000))), "design",
        "at most 100,000"),
    "10: negative price": (spec({"kind": "grid", "parameters": {
        "electricity_us": {"values": [0.1, -0.2]}}}),
        "design.parameters.electricity_us.values[1]", "regions.us.electricity_usd_per_kwh"),
    "10: negative price bound": (spec({"kind": "lhs", "samples": 4, "parameters": {
        "electricity_us": {"low": -0.2, "high": 0.1}}}), "design.parameters.electricity_us.low",
        "must be >= 0"),
    "10: unknown strategy": (spec({"kind": "grid", "parameters": {
        "producer_strategy": {"values": ["nash", "magic"]}}}),
        "design.parameters.producer_strategy.values[1]", "must be one of"),
    "7: steps = 1e12": (spec(ONE, steps=10**12), "steps", "[1, 5,200]"),
}


@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_invalid_design_fails_the_spec_before_anything_runs(case, tmp_path, capsys,
                                                            model_steps):
    data, key, problem = BAD_SPECS[case]
    path = tmp_path / "spec.toml"
    path.write_text(tomli_w.dumps(data))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert info.value.key_path == key and problem in str(info.value)
    code, _, err = run_cli(["sweep", str(path), "--out", str(tmp_path / "out"), "--quiet"], capsys)
    assert model_steps == []  # refused before any step ran
    assert_one_line_error(code, err, key)
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------------
# properties: one clear error, or a finite run that conserves volume
# ------------------------------------------------------------------------------------------------
def assert_clear_error_or_finite_conserving_run(argv: list[str], capsys) -> int:
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "out"
        code, _, err = run_cli([*argv, "--out", str(out), "--quiet"], capsys)
        if code == 2:
            assert_one_line_error(code, err)
            assert not out.exists()
            return code
        assert code == 0, err
        frame = pd.read_parquet(out / "model.parquet")
        numbers = frame.drop(columns=["date"])
        numeric = numbers.to_numpy(dtype=float)
        assert np.isfinite(numeric).all(), numbers.columns[~np.isfinite(numeric).all(axis=0)]
        np.testing.assert_allclose(
            frame["served_total"] + frame["unserved_demand"] + frame["not_bought_total"],
            frame["demand_total"], rtol=1e-9, atol=1e-9)
        agents = pd.read_parquet(out / "agents.parquet")
        for kind, columns in (("producer", PRODUCER_REPORTERS), ("platform", PLATFORM_REPORTERS)):
            rows = agents.loc[agents["agent_type"] == kind, list(columns)]
            assert np.isfinite(rows.to_numpy(dtype=float)).all(), kind
    return code


FLOAT_EDGES = [0.0, -0.0, -1e-9, -0.1, -0.1000001, 1e-9, 0.05, 0.5, 0.5000001, 1.0, 10.0,
               10.000001, 50.0, 100.0, 100.0001, 1e12, 1e13, 1e308, -1e308]
SIZE_EDGES = [0, -1, 1, 2, 3, 60, limits.MAX_PRODUCERS + 1, limits.MAX_CONSUMERS + 1, 10**308]


def override_values(key: str):
    kind = OVERRIDES[key][2]
    if kind is str:
        return st.sampled_from([*strategy_names(), "", "magic"])
    if kind is int:  # valid sizes stay small (a run each); the largest valid ones are tested above
        return st.one_of(st.sampled_from(SIZE_EDGES), st.integers(-5, 300)).map(str)
    return st.one_of(st.sampled_from(FLOAT_EDGES), st.floats(0.0, 1.0),
                     st.floats(allow_nan=True, allow_infinity=True)).map(repr)


overrides = st.lists(st.sampled_from(sorted(set(OVERRIDES) - {"steps"})), max_size=3,
                     unique=True).flatmap(lambda keys: st.tuples(
                         *[st.tuples(st.just(k), override_values(k)) for k in keys]))

PROPERTY_SETTINGS = settings(max_examples=60, deadline=timedelta(seconds=60),
                             suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                    HealthCheck.too_slow])


@PROPERTY_SETTINGS
@given(pairs=overrides,
       steps=st.one_of(st.sampled_from(["1", "2"]), st.sampled_from(["0", "-1", "5201", "1e3"])),
       seed=st.one_of(st.sampled_from(["0", "7", str(limits.MAX_SEED)]),
                      st.sampled_from(["-1", str(2**63), "x"])))
def test_any_override_is_one_clear_error_or_a_finite_conserving_run(pairs, steps, seed, capsys):
    sets = [arg for key, value in pairs for arg in ("--set", f"{key}={value}")]
    code = assert_clear_error_or_finite_conserving_run(
        ["run", "baseline", "--steps", steps, "--seed", seed, *SMALL, *sets], capsys)
    event(f"exit {code}")


numbers = st.one_of(st.sampled_from(FLOAT_EDGES), st.floats(0.0, 1.0),
                    st.floats(allow_nan=False, allow_infinity=False))
scenario_tables = st.fixed_dictionaries({}, optional={
    "steps": st.one_of(st.integers(0, 3), st.sampled_from([-1, 5201, 10**12, 1e308])),
    "demand": st.fixed_dictionaries({"consumers_per_segment": st.sampled_from(
        [1, 2, 5, 0, -3, 10**9, 2.5])}, optional={
        "growth_per_step": numbers, "demand_sd": numbers, "initial_outside_share": numbers,
        "base_mtok_per_step": st.fixed_dictionaries({"us": numbers})}),
    "producers": st.fixed_dictionaries({"us": st.fixed_dictionaries({}, optional={
        "count": st.sampled_from([0, 1, 3, 10**9, -1, 1.5]), "quality_utils": numbers,
        "cash_weeks": numbers})}),
    "trade": st.fixed_dictionaries({}, optional={"friction_utils": numbers}),
    "policy": st.fixed_dictionaries({}, optional={"export_control_penalty": numbers}),
    "regions": st.fixed_dictionaries({"cn_west": st.fixed_dictionaries({}, optional={
        "electricity_usd_per_kwh": numbers, "pue": numbers, "facility_usd_per_w": numbers})}),
    "events": st.lists(st.fixed_dictionaries({
        "kind": st.just("demand_shock"), "step": st.integers(0, 3), "fraction": numbers,
        "duration_steps": st.integers(0, 2)}), max_size=2),
})


@PROPERTY_SETTINGS
@given(table=scenario_tables)
def test_any_scenario_file_is_one_clear_error_or_a_finite_conserving_run(table, capsys):
    table = {**TOP, "demand": {"consumers_per_segment": 5}, **table}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "scenario.toml"
        path.write_text(tomli_w.dumps(table))
        event(f"exit {assert_clear_error_or_finite_conserving_run(['run', str(path)], capsys)}")


def test_the_property_sees_both_outcomes(capsys):
    """The properties above can fail: a valid input gives a run, an invalid one an error."""
    good = ["run", "baseline", "--steps", "1", *SMALL]
    assert assert_clear_error_or_finite_conserving_run(good, capsys) == 0
    bad = [*good, "--set", "friction_utils=1e308"]
    assert assert_clear_error_or_finite_conserving_run(bad, capsys) == 2
    assert math.isfinite(limits.MAX_DEMAND_FACTOR)
