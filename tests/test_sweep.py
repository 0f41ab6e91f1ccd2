"""Sweep engine (pricewar.design, pricewar.sweep): designs, spec validation, resume, failures,
status, Dask == local, Sobol indices."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pricewar.cli import main as cli_main
from pricewar.errors import PricewarError
from pricewar.sweep import (
    SweepError,
    load_design,
    load_results,
    load_timeseries,
    run_sweep,
    sobol_indices,
    sweep_status,
)
from pricewar.sweep.spec import SpecError, load_spec
from pricewar.testing.signals import default_sigint

FAST = {"n_consumers": 250}
RESULT_COLUMNS = ["run_id", "seed", "status", "error"]


def spec_dict(design: dict, *, steps: int = 8, seeds=(1, 2), metrics=("price_avg",),
              output_steps=("mid", "final"), timeseries: bool = False, **top) -> dict:
    return {"name": "test", "scenario": "baseline", "steps": steps, "seeds": list(seeds),
            "outputs": {"metrics": list(metrics), "steps": list(output_steps),
                        "timeseries": timeseries},
            "fixed": dict(FAST), "design": design, **top}


GRID = {"kind": "grid", "parameters": {
    "electricity_cn_west": {"values": [0.03, 0.05, 0.07]},
    "producer_strategy": {"values": ["best_response", "cost_plus"]}}}


def assert_each_run_once(out: Path) -> pd.DataFrame:
    design = load_design(out)
    results = load_results(out)
    assert sorted(results["run_id"]) == sorted(design["run_id"].unique())
    files = list((out / "results").glob("run-*.parquet"))
    assert len(files) == len(results)
    assert not list((out / "results").glob(".*"))  # no temp files left behind
    return results


# ------------------------------------------------------------------------------------------------
# designs
# ------------------------------------------------------------------------------------------------
def test_grid_design_is_the_cartesian_product_times_seeds():
    spec = load_spec(spec_dict(GRID, seeds=(1, 2, 3)))
    runs = spec.runs()
    assert len(runs) == 3 * 2 * 3
    assert runs["run_id"].is_unique
    points = spec.design.points()
    assert set(zip(points["electricity_cn_west"], points["producer_strategy"], strict=True)) == {
        (e, s) for e in (0.03, 0.05, 0.07) for s in ("best_response", "cost_plus")}
    assert spec.outputs.steps == (4, 8)
    assert spec.outputs.columns == ["price_avg@4", "price_avg@8"]


def test_grid_over_bounds_is_evenly_spaced_and_integer_grids_are_distinct():
    spec = load_spec(spec_dict({"kind": "grid", "parameters": {
        "export_control_penalty": {"low": 0.0, "high": 0.6, "num": 4},
        "n_producers": {"low": 10, "high": 12, "num": 5}}}))
    values = dict((p.name, p.values) for p in spec.design.parameters)
    np.testing.assert_allclose(values["export_control_penalty"], [0.0, 0.2, 0.4, 0.6])
    assert values["n_producers"] == (10, 11, 12)
    assert len(spec.design.points()) == 4 * 3


def test_lhs_design_has_one_sample_per_stratum_within_bounds():
    n = 20
    spec = load_spec(spec_dict({"kind": "lhs", "samples": n, "seed": 3, "parameters": {
        "electricity_cn_west": {"low": 0.02, "high": 0.12},
        "friction_utils": {"low": 0.0, "high": 4.0}}}, seeds=(1,)))
    points = spec.design.points()
    assert len(points) == n
    for name, (low, high) in {"electricity_cn_west": (0.02, 0.12),
                              "friction_utils": (0.0, 4.0)}.items():
        u = (points[name].to_numpy() - low) / (high - low)
        assert ((u >= 0) & (u < 1)).all()
        assert sorted(np.floor(u * n).astype(int)) == list(range(n))  # Latin property
    again = load_spec(spec_dict(spec.to_dict()["design"], seeds=(1,))).design.points()
    pd.testing.assert_frame_equal(points, again)  # same seed -> same design


def test_random_design_respects_bounds_integers_and_categories():
    spec = load_spec(spec_dict({"kind": "random", "samples": 50, "seed": 1, "parameters": {
        "hub_latency_ms": {"low": 10.0, "high": 60.0},
        "n_producers": {"low": 8, "high": 12},
        "producer_strategy": {"values": ["nash", "cost_plus"]}}}, seeds=(1,)))
    points = spec.design.points()
    assert len(points) == 50
    assert points["hub_latency_ms"].between(10.0, 60.0).all()
    assert set(points["n_producers"]) <= set(range(8, 13))
    assert points["n_producers"].map(type).eq(int).all()
    assert set(points["producer_strategy"]) == {"nash", "cost_plus"}


@pytest.mark.parametrize("second_order", [False, True])
def test_sobol_design_has_saltelli_size_within_bounds(second_order):
    n, d = 16, 3
    spec = load_spec(spec_dict({"kind": "sobol", "samples": n, "seed": 0,
                                "calc_second_order": second_order, "parameters": {
        "electricity_cn_west": {"low": 0.02, "high": 0.12},
        "export_control_penalty": {"low": 0.0, "high": 0.8},
        "friction_utils": {"low": 0.0, "high": 4.0}}}, seeds=(1, 2)))
    points = spec.design.points()
    assert len(points) == n * (2 * d + 2 if second_order else d + 2)
    assert len(spec.runs()) == 2 * len(points)
    assert points["electricity_cn_west"].between(0.02, 0.12).all()
    assert points["export_control_penalty"].between(0.0, 0.8).all()


def test_run_ids_are_deterministic_and_fingerprint_ignores_the_name():
    a = load_spec(spec_dict(GRID))
    b = load_spec(spec_dict(GRID, name="renamed", description="same runs"))
    assert list(a.runs()["run_id"]) == list(b.runs()["run_id"])
    assert a.fingerprint == b.fingerprint
    c = load_spec(spec_dict(GRID, seeds=(1, 3)))
    assert c.fingerprint != a.fingerprint
    assert set(c.runs()["run_id"]) & set(a.runs()["run_id"])  # seed 1 runs are the same runs
    assert load_spec(a.to_dict()) == a  # the canonical dict loads back to the same spec


# ------------------------------------------------------------------------------------------------
# validation
# ------------------------------------------------------------------------------------------------
BAD_SPECS = {
    "unknown top-level key": (dict(spec_dict(GRID), colour="red"), "colour", "unknown key"),
    "unknown override": (spec_dict({"kind": "grid", "parameters": {
        "electricity_mars": {"values": [0.1, 0.2]}}}), "design.parameters.electricity_mars",
        "unknown override"),
    "unknown metric": (spec_dict(GRID, metrics=("price_avg", "happiness")),
                       "outputs.metrics[1]", "unknown metric"),
    "low above high": (spec_dict({"kind": "lhs", "samples": 4, "parameters": {
        "electricity_us": {"low": 0.2, "high": 0.1}}}),
        "design.parameters.electricity_us.high", "greater than low"),
    "bad design kind": (spec_dict({"kind": "factorial", "parameters": {
        "electricity_us": {"values": [0.1]}}}), "design.kind", "expected one of"),
    "sobol not a power of two": (spec_dict({"kind": "sobol", "samples": 10, "parameters": {
        "electricity_us": {"low": 0.05, "high": 0.1}}}), "design.samples", "power of two"),
    "sobol needs bounds": (spec_dict({"kind": "sobol", "samples": 8, "parameters": {
        "electricity_us": {"values": [0.05, 0.1]}}}), "design.parameters.electricity_us.values",
        "bounds"),
    "output step beyond the run": (spec_dict(GRID, output_steps=(9,)), "outputs.steps[0]",
                                   "expected a step in 0..8"),
    "wrong value type": (spec_dict({"kind": "grid", "parameters": {
        "n_producers": {"values": [10, "many"]}}}), "design.parameters.n_producers.values[1]",
        "expected an integer"),
    "invalid fixed override": (dict(spec_dict(GRID), fixed={"demand_growth": -0.9}),
                               "fixed.demand.growth_per_step", "must be >="),
    "steps is the sweep's": (spec_dict({"kind": "grid", "parameters": {
        "steps": {"values": [5, 6]}}}), "design.parameters.steps", "top-level 'steps'"),
    "grid over bounds needs num": (spec_dict({"kind": "grid", "parameters": {
        "electricity_us": {"low": 0.05, "high": 0.1}}}), "design.parameters.electricity_us.num",
        "num"),
}


@pytest.mark.parametrize("case", list(BAD_SPECS))
def test_invalid_spec_names_file_key_and_value(case, tmp_path):
    import tomli_w

    data, key, problem = BAD_SPECS[case]
    path = tmp_path / "bad.toml"
    path.write_text(tomli_w.dumps(data))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    message = str(info.value)
    assert isinstance(info.value, PricewarError)
    assert str(path) in message and key in message and problem in message
    assert info.value.key_path == key
    with pytest.raises(SpecError):  # ... and nothing runs
        run_sweep(path, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


def test_invalid_toml_is_a_spec_error(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("name = \n")
    with pytest.raises(SpecError, match="invalid TOML"):
        load_spec(path)


# ------------------------------------------------------------------------------------------------
# running, failures, resume, status
# ------------------------------------------------------------------------------------------------
def fail_runs_with_growth(monkeypatch, growth: float) -> None:
    """Runs with ``demand_growth == growth`` raise ConvergenceError (in this process: workers=1).

    A valid spec's runs fail only at run time (invalid values fail the spec's validation)."""
    from pricewar.errors import ConvergenceError
    from pricewar.runs import runner

    run_model = runner.run_model

    def failing(scenario, steps=None, seed=1, overrides=None, **kwargs):
        if (overrides or {}).get("demand_growth") == growth:
            raise ConvergenceError("Bertrand-Nash prices did not converge", 1e-3, 500)
        return run_model(scenario, steps, seed, overrides, **kwargs)

    monkeypatch.setattr(runner, "run_model", failing)


def test_a_failing_run_is_recorded_and_the_sweep_continues(tmp_path, monkeypatch):
    fail_runs_with_growth(monkeypatch, 0.04)
    design = {"kind": "grid", "parameters": {"demand_growth": {"values": [0.05, 0.04, 0.02]}}}
    status = run_sweep(spec_dict(design, seeds=(1,), timeseries=True), tmp_path, progress=False)
    assert (status.total, status.done, status.failed, status.remaining) == (3, 3, 1, 0)
    results = assert_each_run_once(tmp_path)
    failed = results[results["status"] == "failed"]
    assert list(failed["demand_growth"]) == [0.04]
    assert failed["error"].iloc[0].startswith("ConvergenceError:")
    assert "did not converge" in failed["error"].iloc[0]
    assert failed[["price_avg@4", "price_avg@8"]].isna().all().all()
    ok = results[results["status"] == "ok"]
    assert ok[["price_avg@4", "price_avg@8"]].notna().all().all()
    assert (ok["error"] == "").all() and (ok["wall_seconds"] > 0).all()
    assert (ok["cpu_seconds"] > 0).all() and (ok["cpu_seconds"] < 10 * ok["wall_seconds"]).all()
    series = load_timeseries(tmp_path)
    assert set(series["run_id"]) == set(ok["run_id"]) and len(series) == 2 * 9
    # the failing override fails the same way when retried; the ok runs do not run again
    again = run_sweep(spec_dict(design, seeds=(1,), timeseries=True), tmp_path,
                      retry_failed=True, progress=False)
    assert (again.ran, again.failed) == (1, 1)
    assert_each_run_once(tmp_path)


def test_resume_after_a_partial_run_repeats_and_loses_nothing(tmp_path):
    spec = spec_dict(GRID)  # 12 runs
    first = run_sweep(spec, tmp_path, max_runs=5, progress=False)
    assert (first.ran, first.done, first.remaining) == (5, 5, 7)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "results").iterdir()}
    second = run_sweep(spec, tmp_path, workers=2, progress=False)
    assert (second.ran, second.done, second.remaining, second.failed) == (7, 12, 0, 0)
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "results").iterdir()}
    assert all(after[name] == mtime for name, mtime in before.items())  # not rewritten
    results = assert_each_run_once(tmp_path)
    # resumed results equal an uninterrupted sweep (seeded runs, processes or not)
    fresh = run_sweep(spec, tmp_path / "fresh", progress=False)
    assert fresh.ran == 12
    columns = ["run_id", "price_avg@4", "price_avg@8"]
    pd.testing.assert_frame_equal(results[columns], load_results(tmp_path / "fresh")[columns])
    assert run_sweep(spec, tmp_path, progress=False).ran == 0


def test_a_different_spec_into_the_same_directory_is_refused(tmp_path):
    run_sweep(spec_dict(GRID, seeds=(1,)), tmp_path, max_runs=1, progress=False)
    with pytest.raises(SweepError, match=r"different sweep.*seeds"):
        run_sweep(spec_dict(GRID, seeds=(1, 2)), tmp_path, progress=False)
    # a cosmetic change (name, comments) is the same sweep
    run_sweep(spec_dict(GRID, seeds=(1,), name="other"), tmp_path, max_runs=1, progress=False)
    assert sweep_status(tmp_path).done == 2


def test_cli_status_reports_done_failed_and_remaining(tmp_path, capsys, monkeypatch):
    import tomli_w

    fail_runs_with_growth(monkeypatch, 0.04)
    design = {"kind": "grid", "parameters": {"demand_growth": {"values": [0.05, 0.04, 0.02]}}}
    spec = tmp_path / "spec.toml"
    spec.write_text(tomli_w.dumps(spec_dict(design)))  # 6 runs
    out = tmp_path / "out"
    assert cli_main(["sweep", str(spec), "--out", str(out), "--workers", "1", "--max-runs", "4",
                     "--quiet"]) == 0
    capsys.readouterr()
    assert cli_main(["sweep", "--status", str(out)]) == 0
    text = capsys.readouterr().out
    assert "6 runs, 4 done (2 ok, 2 failed), 2 remaining" in text
    assert "ConvergenceError" in text
    assert cli_main(["sweep", "--status", str(tmp_path / "nowhere")]) == 2
    assert "no manifest.json" in capsys.readouterr().err
    assert cli_main(["sweep", str(tmp_path / "missing.toml"), "--out", str(out)]) == 2
    assert "cannot read" in capsys.readouterr().err


def _wait_for_results(out: Path, count: int, process: subprocess.Popen, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(list((out / "results").glob("run-*.parquet"))) >= count:
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    raise AssertionError(f"no {count} results after {timeout} s")


def _worker_pids(parent: int) -> list[int]:
    """The sweep's pool workers (children running multiprocessing's spawn_main)."""
    children = subprocess.run(["pgrep", "-P", str(parent)], capture_output=True, text=True)
    pids = []
    for pid in map(int, children.stdout.split()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline:
            pids.append(pid)
    return pids


@pytest.mark.parametrize("how", ["ctrl-c", "kill", "kill-worker"])
def test_interrupted_cli_sweep_resumes_exactly(tmp_path, how):
    import tomli_w

    design = {"kind": "grid", "parameters": {
        "electricity_cn_west": {"low": 0.02, "high": 0.12, "num": 10}}}
    spec = tmp_path / "spec.toml"
    # 30 runs of 4 steps: interrupted after 3 results, 27 runs (about 20 s on 2 workers) remain
    spec.write_text(tomli_w.dumps(spec_dict(design, steps=4, seeds=(1, 2, 3))))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "pricewar.cli", "sweep", str(spec), "--out", str(out),
               "--workers", "2", "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True, preexec_fn=default_sigint)
    try:
        _wait_for_results(out, 3, process)
        if how == "ctrl-c":  # what the terminal does: SIGINT to the whole process group
            os.killpg(process.pid, signal.SIGINT)
            stdout, _ = process.communicate(timeout=30)
            assert process.returncode == 130
            assert "run the same command again to resume" in stdout
        elif how == "kill":  # a crash: the parent and its workers die at once
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=30)
        else:  # one worker dies (out-of-memory killer, segfault)
            os.kill(_worker_pids(process.pid)[0], signal.SIGKILL)
            _, stderr = process.communicate(timeout=30)
            assert process.returncode == 2
            assert "a worker process died" in stderr and "resume" in stderr
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    partial = sweep_status(out)
    assert 3 <= partial.done < 30
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, resumed.stderr
    assert "30 runs, 30 done (30 ok, 0 failed), 0 remaining" in resumed.stdout
    results = assert_each_run_once(out)
    assert (results["status"] == "ok").all()


# ------------------------------------------------------------------------------------------------
# Dask and analysis
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dask_scheduler():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                                       dashboard_address=None, processes=True)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


@pytest.fixture
def strategy_of_this_process_only():
    """A strategy registered here only: worker processes (spawn, Dask) do not know it, so the
    spec validates and its runs fail in the workers (the failures both backends must record)."""
    from pricewar.strategies.registry import STRATEGY_REGISTRY, register

    register("this_process_only")(lambda view, members: view.marginal_cost[members] * 2.0)
    yield "this_process_only"
    STRATEGY_REGISTRY.pop("this_process_only")


@pytest.mark.integration
def test_dask_gives_the_same_results_as_local_processes(tmp_path, dask_scheduler,
                                                         strategy_of_this_process_only):
    design = {"kind": "lhs", "samples": 6, "seed": 2, "parameters": {
        "electricity_cn_west": {"low": 0.02, "high": 0.12},
        "demand_growth": {"low": -0.1, "high": 0.1},
        "producer_strategy": {"values": ["best_response", strategy_of_this_process_only]}}}
    spec = spec_dict(design, metrics=("price_avg", "share_cn_west", "consumer_surplus"))
    local = run_sweep(spec, tmp_path / "local", workers=2, progress=False)
    dask = run_sweep(spec, tmp_path / "dask", scheduler=dask_scheduler, progress=False)
    assert local == dask and local.ran == 12
    a, b = (load_results(tmp_path / d).drop(columns=["wall_seconds", "cpu_seconds", "host"])
            for d in ("local", "dask"))
    pd.testing.assert_frame_equal(a, b)
    assert (a["status"] == "failed").any() and (a["status"] == "ok").any()
    hosts = load_results(tmp_path / "dask")["host"].unique()
    assert len(hosts) == 2  # both Dask workers did some runs


def test_sobol_indices_are_a_tidy_frame_with_confidence_intervals(tmp_path):
    design = {"kind": "sobol", "samples": 8, "seed": 0, "parameters": {
        "electricity_cn_west": {"low": 0.02, "high": 0.12},
        "export_control_penalty": {"low": 0.0, "high": 0.8}}}
    spec = spec_dict(design, steps=6, seeds=(1,), metrics=("price_avg", "share_cn_west"),
                     output_steps=("final",))
    with pytest.raises(SweepError, match="not finished"):
        run_sweep(spec, tmp_path, max_runs=3, progress=False)
        sobol_indices(tmp_path)
    run_sweep(spec, tmp_path, progress=False)
    table = sobol_indices(tmp_path, outputs=["price_avg", "share_cn_west@6"], num_resamples=50)
    assert list(table.columns) == ["output", "parameter", "index", "estimate", "conf", "ci_low",
                                   "ci_high"]
    assert len(table) == 2 * 2 * 2
    assert set(table["output"]) == {"price_avg@6", "share_cn_west@6"}
    assert set(table["index"]) == {"S1", "ST"}
    assert np.isfinite(table["estimate"]).all() and (table["conf"] >= 0).all()
    with pytest.raises(SweepError, match="not recorded"):
        sobol_indices(tmp_path, outputs=["hhi"])


def test_sobol_indices_need_a_sobol_design(tmp_path):
    run_sweep(spec_dict(GRID, seeds=(1,)), tmp_path, max_runs=0, progress=False)
    with pytest.raises(SweepError, match="'sobol' design"):
        sobol_indices(tmp_path)


@pytest.mark.parametrize("path", sorted((Path(__file__).parent.parent / "experiments" / "sweeps")
                                        .glob("*.toml")), ids=lambda p: p.stem)
def test_example_specs_are_valid(path):
    spec = load_spec(path)
    assert len(spec.runs()) >= 1 and spec.runs()["run_id"].is_unique
