"""Sweeps under faults (issue 18, cases 2, 3, 4 and 10): the resolved scenario, not its path,
identifies the runs; unreadable result files and manifests are quarantined and rerun; one sweep
per folder at a time; a sweep removes only its own temporary files; a full disk is one line."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import tomli_w
from conftest import SMALL_OVERRIDES, run_cli

from pricewar.atomic_writes import FolderLock
from pricewar.sweep import SweepError, load_results, run_sweep, sweep_status
from pricewar.sweep.spec import load_spec
from pricewar.testing.signals import default_sigint

FAST = SMALL_OVERRIDES
COLUMNS = ["run_id", "status", "price_avg@4"]


def spec_dict(**top) -> dict:
    return {"name": "robust", "scenario": "baseline", "steps": 4, "seeds": [1, 2],
            "outputs": {"metrics": ["price_avg"], "steps": ["final"]}, "fixed": dict(FAST),
            "design": {"kind": "grid", "parameters": {
                "electricity_cn_west": {"values": [0.03, 0.05, 0.07]}}}, **top}


def result_files(out: Path) -> list[Path]:
    return sorted((out / "results").glob("run-*.parquet"))


# ------------------------------------------------------------------------------------------------
# case 2: the scenario's contents identify the runs
# ------------------------------------------------------------------------------------------------
def write_scenario(path: Path, electricity_us: float) -> None:
    path.write_text(tomli_w.dumps({
        "name": "mine", "description": "", "start_date": "2024-01-01", "step_days": 7.0,
        "steps": 4,
        "regions": {"us": {"electricity_usd_per_kwh": electricity_us}}}))


def test_editing_the_scenario_between_start_and_resume_is_refused(tmp_path):
    scenario = tmp_path / "mine.toml"
    write_scenario(scenario, 0.08)
    spec = tmp_path / "spec.toml"
    spec.write_text(tomli_w.dumps(spec_dict(scenario="mine.toml")))
    out = tmp_path / "out"
    assert run_sweep(spec, out, max_runs=2, progress=False).done == 2
    write_scenario(scenario, 0.30)  # same path, new contents
    with pytest.raises(SweepError, match=r"contents of scenario 'mine.toml'"):
        run_sweep(spec, out, progress=False)
    assert sweep_status(out).done == 2  # nothing of the edited scenario ran
    write_scenario(scenario, 0.08)  # the original contents resume the sweep
    assert run_sweep(spec, out, progress=False).done == 6


def test_run_ids_follow_the_scenario_contents_not_its_path(tmp_path):
    for folder, electricity in (("a", 0.08), ("b", 0.08), ("c", 0.30)):
        (tmp_path / folder).mkdir()
        write_scenario(tmp_path / folder / "mine.toml", electricity)
        (tmp_path / folder / "spec.toml").write_text(tomli_w.dumps(
            spec_dict(scenario="mine.toml")))
    a, b, c = (load_spec(tmp_path / f / "spec.toml") for f in "abc")
    assert list(a.runs()["run_id"]) == list(b.runs()["run_id"]) and a.fingerprint == b.fingerprint
    assert not set(a.runs()["run_id"]) & set(c.runs()["run_id"])
    assert a.fingerprint != c.fingerprint


# ------------------------------------------------------------------------------------------------
# case 3: truncated result files and manifests
# ------------------------------------------------------------------------------------------------
def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_truncated_result_is_skipped_by_status_then_quarantined_and_rerun(tmp_path, capsys):
    out = tmp_path / "out"
    run_sweep(spec_dict(), out, progress=False)
    complete = load_results(out)[COLUMNS]
    broken = result_files(out)[0]
    truncate(broken)
    code, printed, err = run_cli(["sweep", "--status", str(out)], capsys)
    assert code == 0 and "6 runs, 5 done" in printed and "Traceback" not in err
    assert len(load_results(out)) == 5  # skipped, with a warning
    resumed = run_sweep(spec_dict(), out, progress=False)
    assert (resumed.ran, resumed.done) == (1, 6)
    assert (out / "quarantine" / "results" / broken.name).exists()
    pd.testing.assert_frame_equal(load_results(out)[COLUMNS], complete)


@pytest.mark.parametrize("damage", ["truncated", "not UTF-8", "empty"])
def test_an_unreadable_manifest_is_one_line_for_status_and_rebuilt_by_resume(tmp_path, capsys,
                                                                              damage):
    out = tmp_path / "out"
    run_sweep(spec_dict(), out, max_runs=4, progress=False)
    manifest = out / "manifest.json"
    if damage == "truncated":
        truncate(manifest)
    elif damage == "not UTF-8":
        manifest.write_bytes(b"\xff\xfe{")
    else:
        manifest.write_bytes(b"")
    code, _, err = run_cli(["sweep", "--status", str(out)], capsys)
    assert code == 2 and err.count("\n") == 1 and "manifest.json is unreadable" in err
    resumed = run_sweep(spec_dict(), out, progress=False)
    assert (resumed.ran, resumed.done) == (2, 6)  # the 4 results were kept
    assert (out / "quarantine" / "manifest.json").exists()
    assert sweep_status(out).done == 6


# ------------------------------------------------------------------------------------------------
# case 4: one sweep per folder; each removes only its own temporary files
# ------------------------------------------------------------------------------------------------
def test_a_second_sweep_on_the_same_folder_fails_at_once(tmp_path, capsys, monkeypatch,
                                                         model_steps):
    out = tmp_path / "out"
    out.mkdir()
    spec = tmp_path / "spec.toml"
    spec.write_text(tomli_w.dumps(spec_dict()))
    with FolderLock(out, "sweep"):  # a sweep running in another process holds this lock
        code, _, err = run_cli(["sweep", str(spec), "--out", str(out), "--quiet"], capsys)
    assert model_steps == []  # refused before any step ran
    assert code == 2 and err.count("\n") == 1
    assert "in use by another sweep" in err and str(os.getpid()) in err
    assert not (out / "results").exists()  # it ran nothing and wrote nothing
    monkeypatch.undo()  # models may be built again
    assert run_sweep(spec, out, progress=False).done == 6  # free once the first has finished


GATED_SWEEP = """
import pathlib, sys, time
from pricewar.cli import main
from pricewar.sweep import engine

write_row, gate = engine.write_row, pathlib.Path(sys.argv[1])

def gated(row, path):  # after its first result the sweep waits until the test opens the gate
    write_row(row, path)
    while not gate.exists():
        time.sleep(0.05)

engine.write_row = gated
sys.exit(main(sys.argv[2:]))
"""


def test_concurrent_sweep_processes_run_each_run_once(tmp_path, capsys):
    spec = tmp_path / "spec.toml"
    spec.write_text(tomli_w.dumps(spec_dict()))
    out, gate = tmp_path / "out", tmp_path / "gate"
    command = ["sweep", str(spec), "--out", str(out), "--workers", "1", "--quiet"]
    first = subprocess.Popen([sys.executable, "-c", GATED_SWEEP, str(gate), *command],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not result_files(out):
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        # the second sweep runs in this process (the first holds the lock in its own process)
        code, _, err = run_cli(command, capsys)
        assert code == 2 and "in use by another sweep" in err
        assert err.count("\n") == 1
        gate.touch()
        stdout, stderr = first.communicate(timeout=120)
    finally:
        first.kill()
    assert first.returncode == 0, stderr
    assert "6 runs, 6 done (6 ok" in stdout
    assert len(result_files(out)) == 6 and load_results(out)["run_id"].is_unique
    assert not [p for p in (out / "results").iterdir() if p.name.startswith(".")]


STALL_BEFORE_RENAME = """
import os, pathlib, sys, time
import pricewar.atomic_writes
from pricewar.cli import main

replace, marker = os.replace, pathlib.Path(sys.argv[1])

class Stalling:  # the os module of pricewar.atomic_writes, whose replace stalls at the third result
    def __getattr__(self, name):
        return getattr(os, name)

    @staticmethod
    def replace(source, target):
        if pathlib.Path(target).parent.name == "results" and len(
                list(pathlib.Path(target).parent.glob("run-*"))) == 2:
            marker.write_text(str(source))
            time.sleep(120)
        replace(source, target)

pricewar.atomic_writes.os = Stalling()
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("how", ["SIGKILL", "SIGINT"])
def test_a_sweep_interrupted_while_writing_a_result_resumes_exactly(tmp_path, how, capsys):
    spec = tmp_path / "spec.toml"
    spec.write_text(tomli_w.dumps(spec_dict()))
    out, marker = tmp_path / "out", tmp_path / "stalled"
    command = ["sweep", str(spec), "--out", str(out), "--workers", "1", "--quiet"]
    process = subprocess.Popen([sys.executable, "-c", STALL_BEFORE_RENAME, str(marker), *command],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=default_sigint)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        temporary = Path(marker.read_text())
        assert temporary.exists()  # written in full, not yet renamed
        process.send_signal(getattr(signal, how))
        process.communicate(timeout=30)
    finally:
        process.kill()
    assert len(result_files(out)) == 2  # the interrupted one is not a result, not even a part
    assert temporary.exists() == (how == "SIGKILL")  # Ctrl-C removes its own temporary file
    code, printed, err = run_cli(command, capsys)  # the resume, in this process
    assert code == 0, err
    assert "6 runs, 6 done (6 ok" in printed
    assert not temporary.exists() and len(result_files(out)) == 6
    assert not [p for p in (out / "results").iterdir() if p.name.startswith(".")]


def test_a_sweep_removes_only_temporaries_of_writers_that_are_gone(tmp_path):
    out = tmp_path / "out"
    run_sweep(spec_dict(), out, max_runs=1, progress=False)
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True)
    dead = out / "results" / f".run-x.parquet.{int(finished.stdout)}-0a1b2c3d.tmp"
    live = out / "results" / f".run-y.parquet.{os.getppid()}-0a1b2c3d.tmp"
    foreign = out / "results" / ".notes.tmp"
    for path in (dead, live, foreign):
        path.write_text("partial")
    run_sweep(spec_dict(), out, progress=False)
    assert not dead.exists() and live.exists() and foreign.exists()


def test_a_full_disk_during_a_sweep_is_one_line_and_resumes(tmp_path, capsys, monkeypatch):
    from pricewar.sweep import store

    spec = tmp_path / "spec.toml"
    spec.write_text(tomli_w.dumps(spec_dict()))
    out = tmp_path / "out"
    write = store.write_file_atomic
    written = []

    def fill_up(path, content):
        if len(written) >= 4:  # manifest, spec and two results fit
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        written.append(path)
        write(path, content)

    monkeypatch.setattr(store, "write_file_atomic", fill_up)
    code, _, err = run_cli(["sweep", str(spec), "--out", str(out), "--workers", "1", "--quiet"],
                           capsys)
    assert code == 2 and err.count("\n") == 1 and "No space left on device" in err
    assert "run the same command again to resume" in err
    assert sorted(p.name for p in (out / "results").iterdir()) == [p.name for p in
                                                                    result_files(out)]
    monkeypatch.setattr(store, "write_file_atomic", write)
    assert run_sweep(spec, out, progress=False).done == 6


def test_a_sweep_out_that_is_a_file_fails_before_anything_runs(tmp_path, capsys):
    spec = tmp_path / "spec.toml"
    spec.write_text(tomli_w.dumps(spec_dict()))
    (tmp_path / "file").write_text("x")
    for out in ("file", "file/sweep", ""):
        code, _, err = run_cli(["sweep", str(spec), "--out", str(tmp_path / out) if out else "",
                                "--quiet"], capsys)
        assert code == 2 and err.count("\n") == 1 and "--out" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "spec.toml"]


def test_a_copied_sweep_folder_resumes_where_it_was(tmp_path):
    """The lock file travels with a copied folder but locks nothing."""
    run_sweep(spec_dict(), tmp_path / "a", max_runs=3, progress=False)
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    assert run_sweep(spec_dict(), tmp_path / "b", progress=False).ran == 3
