"""Fault injection, reliability v3 (issue 28): nothing accepted that corrupts an analysis.

Each test states the expected message, exit status and what is on disk afterwards: sweep
results accept exactly one verified row per exactly-named file (stray copies, duplicated rows,
a file copied over another, flipped bits and truncated time series are rejected, quarantined by
the next run of the sweep and run again); a run producing NaN/inf fails loudly; ``compare``
refuses mixed or damaged inputs; concurrent runs into one ``--out`` are refused; input files
must be regular files; TOML is depth- and chain-bounded; every ``--out`` is checked first.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tomli_w
from conftest import run_cli

from pricewar.cli import main
from pricewar.sweep import load_results, load_timeseries, run_sweep, sweep_status

SMALL = ["--set", "n_consumers=50", "--steps", "3", "--quiet"]


def one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("pricewar: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)


# ------------------------------------------------------------------------------------------------
# non-finite values fail a run loudly
# ------------------------------------------------------------------------------------------------
@pytest.fixture
def demand_inf_at_step_2(monkeypatch):
    """A model fault: demand_total becomes inf at step 2 (as quality_slope = 100 made it at
    step 0 before its bound was narrowed; the guard must catch any such fault)."""
    from pricewar.model import metrics

    compute = metrics.compute

    def faulty(model):
        values = compute(model)
        if model.steps == 2:
            values["demand_total"] = math.inf
        return values

    monkeypatch.setattr(metrics, "compute", faulty)


def test_a_run_with_non_finite_values_fails_with_one_line_and_writes_nothing(
        tmp_path, capsys, demand_inf_at_step_2):
    out = tmp_path / "run"
    code, _, err = run_cli(["run", "baseline", *SMALL, "--out", str(out)], capsys)
    one_line_error(code, err, "step 2 (2024-01-15)",
                   "non-finite", "demand_total = inf")
    assert not out.exists()


@pytest.mark.parametrize("factor", [500, 10_000])
def test_a_steep_scenario_runs_to_the_end_and_conserves_volume(tmp_path, capsys, factor):
    """A scenario file may set every sector's alpha (bounded only by 1e12; the alpha_scale
    override is bounded at 100). At 500x the baseline's the kernel's re-choice clearing served
    3.8e10 times the demand at step 16 (the guard then failed the run, exit 2); the clearing now
    conserves: the run ends, exits 0, and every step's volumes add up to demand_total."""
    from pricewar.scenario import load_scenario

    scenario = load_scenario("baseline")
    path = tmp_path / "steep.toml"
    path.write_text('base = "baseline"\n' + "".join(
        f"[sectors.{name}]\nalpha = {sector.alpha * factor}\n"
        for name, sector in scenario.sectors.items()))
    out = tmp_path / "run"
    code, _, err = run_cli(["run", str(path), "--set", "n_consumers=100", "--quiet",
                            "--out", str(out)], capsys)
    assert code == 0 and "Traceback" not in err, err
    frame = pd.read_parquet(out / "model.parquet")
    assert len(frame) == scenario.steps + 1
    numbers = frame.drop(columns=["date"]).to_numpy(dtype=float)
    assert np.isfinite(numbers).all()
    parts = frame["served_total"] + frame["unserved_demand"] + frame["not_bought_total"]
    np.testing.assert_allclose(parts, frame["demand_total"], rtol=1e-9)
    assert frame["not_bought_total"].min() >= 0 and frame["not_bought_total"].max() > 0


@pytest.fixture
def served_doubled_at_step_2(monkeypatch):
    from pricewar.model import metrics

    compute = metrics.compute

    def faulty(model):
        values = compute(model)
        if model.steps == 2:
            values["served_total"] *= 2.0
        return values

    monkeypatch.setattr(metrics, "compute", faulty)


def test_the_guard_fails_a_run_whose_volumes_do_not_add_up(tmp_path, capsys,
                                                           served_doubled_at_step_2):
    out = tmp_path / "run"
    code, _, err = run_cli(["run", "baseline", *SMALL, "--out", str(out)], capsys)
    one_line_error(code, err, "step 2 (2024-01-15) does not conserve volume")
    assert not out.exists()


def test_quality_slope_beyond_its_declared_bound_is_refused_before_running(tmp_path, capsys,
                                                                           model_steps):
    """quality_slope = 100 made demand_total inf from step 0 (and 15 NaN surplus at step 14):
    its declaration is bounded at 3, 10x the top of its estimated range 0.03-0.3."""
    out = tmp_path / "run"
    code, _, err = run_cli(["run", "baseline", *SMALL, "--set", "quality_slope=100",
                            "--out", str(out)], capsys)
    one_line_error(code, err, "quality.slope_utils_per_point", "<= 3",
                   "override quality_slope=100")
    assert model_steps == [] and not out.exists()


def sweep_spec(*, seeds=(1, 2), values=(0.03, 0.05, 0.07), timeseries=False, fixed=None) -> dict:
    return {"name": "rel", "scenario": "baseline", "steps": 3, "seeds": list(seeds),
            "outputs": {"metrics": ["price_avg"], "steps": ["final"], "timeseries": timeseries},
            "fixed": {"n_consumers": 50, **(fixed or {})},
            "design": {"kind": "grid",
                       "parameters": {"electricity_cn_west": {"values": list(values)}}}}


def test_a_sweep_records_a_non_finite_run_as_failed_with_the_message(tmp_path,
                                                                      demand_inf_at_step_2):
    status = run_sweep(sweep_spec(seeds=(1,), values=(0.05,)), tmp_path, progress=False)
    assert (status.done, status.failed) == (1, 1)
    row = load_results(tmp_path).iloc[0]
    assert row["status"] == "failed"
    assert row["error"].startswith("NonFiniteRunError: baseline: step 2")
    assert "demand_total = inf" in row["error"]


# ------------------------------------------------------------------------------------------------
# sweep results: exactly one verified row per exactly-named file
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def finished_sweep(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sweep") / "done"
    status = run_sweep(sweep_spec(timeseries=True), out, progress=False)
    assert (status.total, status.done, status.failed) == (6, 6, 0)
    return out


@pytest.fixture
def sweep(finished_sweep, tmp_path) -> Path:
    out = tmp_path / "sweep"
    shutil.copytree(finished_sweep, out)
    return out


def result_files(out: Path) -> list[Path]:
    return sorted((out / "results").glob("run-*.parquet"))


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["wall_seconds", "cpu_seconds", "host"])


def flip_a_value_bit(path: Path) -> None:
    """Flip the first bit of ``path`` (a result file) that leaves it readable as one row of
    its run with a changed value: the damage only the content digest catches."""
    from pricewar.sweep.store import _read_verified

    original = path.read_bytes()
    run_id = path.stem[len("run-"):]
    for position in range(len(original)):
        flipped = bytearray(original)
        flipped[position] ^= 1
        path.write_bytes(bytes(flipped))
        if _read_verified(path, run_id)[1] == "its content does not match its digest (damaged)":
            return
    raise AssertionError("no bit flip of the file changes a value and nothing else")


def damage(out: Path, how: str) -> tuple[Path, str, str | None]:
    """Damage the sweep ``out`` as a user or a disk could; returns the damaged file, the reason
    result loading gives for rejecting it and the run that must run again (None: none)."""
    files = result_files(out)
    run_ids = [f.stem[len("run-"):] for f in files]
    if how == "a stray copy":
        damaged = files[0].with_name(files[0].stem + " (copy).parquet")
        shutil.copy(files[0], damaged)
        return damaged, "its name is not that of a run of this sweep", None
    if how == "a duplicated row":
        table = pq.read_table(files[1])
        pq.write_table(pa.concat_tables([table, table]), files[1])
        return files[1], "holds 2 rows, a result holds one", run_ids[1]
    if how == "a file copied over another":
        shutil.copy(files[0], files[2])
        return (files[2], f"holds the result of run {run_ids[0]!r}, not of run {run_ids[2]}",
                run_ids[2])
    if how == "a bit flip":
        flip_a_value_bit(files[4])
        return files[4], "its content does not match its digest (damaged)", run_ids[4]
    damaged = out / "timeseries" / files[3].name  # a truncated time series
    damaged.write_bytes(damaged.read_bytes()[:-300])
    return damaged, "ArrowInvalid: ", run_ids[3]


DAMAGE = ["a stray copy", "a duplicated row", "a file copied over another", "a bit flip",
          "a truncated time series"]


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_sweep_is_counted_truly_repaired_by_status_and_rerun_by_resume(
        sweep, how, capsys, caplog):
    complete = comparable(load_results(sweep))
    series = load_timeseries(sweep)
    damaged, reason, rerun = damage(sweep, how)
    content = damaged.read_bytes()
    left = 0 if rerun is None else 1
    quarantined = sweep / "quarantine" / damaged.relative_to(sweep)
    # load_results counts only verified rows, says which file it skipped and moves nothing
    loaded = load_results(sweep)
    assert len(loaded) == 6 - left and loaded["run_id"].is_unique
    assert f"{damaged} is rejected ({reason}" in caplog.text
    assert "left in place (the next run of the sweep moves it aside)" in caplog.text
    assert damaged.read_bytes() == content and not (sweep / "quarantine").exists()
    # --status counts truly and moves the rejected file into quarantine/, naming it
    code, out, err = run_cli(["sweep", "--status", str(sweep)], capsys)
    assert code == 0 and "Traceback" not in err
    lines = out.splitlines()
    assert lines[0] == (f"sweep 'rel': 6 runs, {6 - left} done ({6 - left} ok, 0 failed), "
                        f"{left} remaining; 1 rejected file(s) moved to {sweep / 'quarantine'}")
    assert lines[1].startswith(f"  {damaged} is rejected ({reason}")
    assert lines[1].endswith(f"): moved to {quarantined}; " + (
        f"run {rerun} runs again on resume" if rerun else "no run of the sweep is affected"))
    assert len(lines) == 2
    assert not damaged.exists() and quarantined.read_bytes() == content
    # repaired: a second --status finds nothing to move
    code, out, _ = run_cli(["sweep", "--status", str(sweep)], capsys)
    assert (code, out) == (0, f"sweep 'rel': 6 runs, {6 - left} done ({6 - left} ok, 0 failed), "
                              f"{left} remaining\n")
    # resume runs exactly the rejected run again: the sweep is whole, the quarantine kept
    status = run_sweep(sweep_spec(timeseries=True), sweep, progress=False)
    assert (status.done, status.ran, status.rejected) == (6, left, ())
    assert damaged.exists() == (rerun is not None)  # a stray copy is not put back
    assert quarantined.read_bytes() == content
    pd.testing.assert_frame_equal(comparable(load_results(sweep)), complete)
    pd.testing.assert_frame_equal(load_timeseries(sweep), series)


@pytest.mark.parametrize("how", ["a duplicated row", "a bit flip"])
def test_resume_without_status_quarantines_and_reruns_a_damaged_result(sweep, how, caplog):
    complete = comparable(load_results(sweep))
    damaged, reason, rerun = damage(sweep, how)
    content = damaged.read_bytes()
    quarantined = sweep / "quarantine" / damaged.relative_to(sweep)
    status = run_sweep(sweep_spec(timeseries=True), sweep, progress=False)
    assert (status.done, status.ran) == (6, 1)
    assert str(status).endswith(f"0 remaining; 1 rejected file(s) moved to "
                                f"{sweep / 'quarantine'}")
    assert f"{damaged} is rejected ({reason}): moved to {quarantined}; run {rerun} runs again " \
           f"on resume" in caplog.text
    assert quarantined.read_bytes() == content and damaged.read_bytes() != content
    pd.testing.assert_frame_equal(comparable(load_results(sweep)), complete)


def test_status_while_a_sweep_runs_reports_a_damaged_result_and_moves_nothing(sweep, capsys,
                                                                              caplog):
    from pricewar.atomic_writes import FolderLock

    damaged, reason, rerun = damage(sweep, "a duplicated row")
    with FolderLock(sweep, "sweep"):  # as a sweep running in the folder holds it
        code, out, err = run_cli(["sweep", "--status", str(sweep)], capsys)
    assert code == 0
    assert out.splitlines() == [
        "sweep 'rel': 6 runs, 5 done (5 ok, 0 failed), 1 remaining; 1 rejected file(s) left "
        "in place",
        f"  {damaged} is rejected ({reason}): left in place (the next run of the sweep moves it "
        f"aside); run {rerun} runs again on resume"]
    assert f"rejected files of {sweep} are left in place: {sweep} is in use by another sweep" \
        in caplog.text
    assert damaged.exists() and not (sweep / "quarantine").exists()


def test_status_on_a_read_only_sweep_reports_a_damaged_result_and_moves_nothing(
        finished_sweep, tmp_path, capsys, caplog):
    root = os.geteuid() == 0
    mount = tmp_path / "ro"
    mount.mkdir()
    if root:  # root writes through permissions: a tmpfs remounted read-only
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
                       check=True)
    sweep = mount / "sweep"
    try:
        shutil.copytree(finished_sweep, sweep)
        damaged, reason, rerun = damage(sweep, "a duplicated row")
        before = {p: p.read_bytes() for p in sweep.rglob("*") if p.is_file()}
        if root:
            subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        else:
            for folder in (sweep, sweep / "results", sweep / "timeseries"):
                folder.chmod(0o555)
        code, out, err = run_cli(["sweep", "--status", str(sweep)], capsys)
        assert code == 0 and "Traceback" not in err
        assert out.splitlines() == [
            "sweep 'rel': 6 runs, 5 done (5 ok, 0 failed), 1 remaining; 1 rejected file(s) "
            "left in place",
            f"  {damaged} is rejected ({reason}): left in place (the next run of the sweep "
            f"moves it aside); run {rerun} runs again on resume"]
        assert f"rejected files of {sweep} are left in place: " in caplog.text
        assert {p: p.read_bytes() for p in sweep.rglob("*") if p.is_file()} == before
    finally:
        if root:
            subprocess.run(["umount", str(mount)], check=True)
        else:
            for folder in (sweep, sweep / "results", sweep / "timeseries"):
                folder.chmod(0o755)


def test_flipped_bits_in_a_result_never_change_a_loaded_value(tmp_path):
    out = tmp_path / "one"
    run_sweep(sweep_spec(seeds=(1,), values=(0.05,)), out, progress=False)
    [path] = result_files(out)
    original = path.read_bytes()
    expected = comparable(load_results(out))
    accepted = rejected = 0
    for position in range(0, len(original), 3):
        flipped = bytearray(original)
        flipped[position] ^= 1 << (position % 8)
        path.write_bytes(bytes(flipped))
        loaded = load_results(out)
        if len(loaded):
            pd.testing.assert_frame_equal(comparable(loaded), expected)
            accepted += 1
        else:
            rejected += 1
    assert rejected > 0.5 * (accepted + rejected)  # most positions are data: detected
    path.write_bytes(original)
    assert sweep_status(out).done == 1


# ------------------------------------------------------------------------------------------------
# compare refuses empty, mixed and damaged inputs, and checks --out before running
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> Path:
    """``runs/a`` (seed 1) and ``runs/b`` (seed 2) of one configuration."""
    root = tmp_path_factory.mktemp("runs")
    for name, seed in (("a", 1), ("b", 2)):
        assert main(["run", "baseline", *SMALL, "--seed", str(seed),
                     "--out", str(root / name)]) == 0
    return root


@pytest.fixture
def no_compare_runs(monkeypatch):
    from pricewar.runs import comparison

    def simulate(*args, **kwargs):
        raise AssertionError("compare ran a scenario before refusing")

    monkeypatch.setattr(comparison, "run_model", simulate)


def test_compare_refuses_an_empty_side(two_runs, tmp_path, capsys, no_compare_runs,
                                       monkeypatch):
    monkeypatch.chdir(two_runs)  # '' would be this folder of runs
    code, _, err = run_cli(["compare", "a", "", "--out", str(tmp_path / "c")], capsys)
    one_line_error(code, err, "side ''", "is empty")
    assert not (tmp_path / "c").exists()


def test_compare_refuses_runs_of_different_configurations_as_seeds(two_runs, tmp_path, capsys):
    mixed = tmp_path / "mixed"
    shutil.copytree(two_runs / "a", mixed / "a")
    assert main(["run", "baseline", "--set", "n_consumers=60", "--steps", "3", "--quiet",
                 "--seed", "2", "--out", str(mixed / "other")]) == 0
    capsys.readouterr()
    code, _, err = run_cli(["compare", str(two_runs / "a"), str(mixed), "--out",
                            str(tmp_path / "c")], capsys)
    one_line_error(code, err, "runs of different configurations", "n_consumers")
    assert not (tmp_path / "c").exists()


def test_compare_refuses_a_seed_held_twice(two_runs, tmp_path, capsys):
    twice = tmp_path / "twice"
    shutil.copytree(two_runs / "a", twice / "a")
    shutil.copytree(two_runs / "a", twice / "a copy")
    code, _, err = run_cli(["compare", str(two_runs), str(twice), "--out", str(tmp_path / "c")],
                           capsys)
    one_line_error(code, err, "two runs of seed 1")


@pytest.mark.parametrize("damage_kind", ["truncated", "garbled", "a column missing"])
def test_compare_refuses_a_damaged_run_with_one_line(two_runs, tmp_path, capsys, damage_kind):
    broken = tmp_path / "broken"
    shutil.copytree(two_runs / "b", broken)
    model = broken / "model.parquet"
    if damage_kind == "truncated":
        model.write_bytes(model.read_bytes()[:-200])
        needles = ("model.parquet cannot be read",)
    elif damage_kind == "garbled":
        model.write_bytes(b"PAR1" + os.urandom(2000))
        needles = ("model.parquet cannot be read",)
    else:
        table = pq.read_table(model)
        pq.write_table(table.drop_columns(["lerner"]), model)
        needles = ("side B seed 2 has no column lerner",)
    code, _, err = run_cli(["compare", str(two_runs / "a"), str(broken), "--out",
                            str(tmp_path / "c")], capsys)
    one_line_error(code, err, *needles)
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("where", ["a file", "inside a file", "read-only"])
def test_compare_checks_out_before_running(tmp_path, capsys, no_compare_runs, where):
    (tmp_path / "file.txt").write_text("not a folder")
    with contextlib.ExitStack() as stack:
        out = {"a file": tmp_path / "file.txt", "inside a file": tmp_path / "file.txt" / "c",
               "read-only": None}[where]
        if out is None:
            out = stack.enter_context(read_only_run(tmp_path / "ro")) / "compare"
        code, _, err = run_cli(["compare", "baseline", "parity", "--out", str(out)], capsys)
        one_line_error(code, err, "--out")
    assert (tmp_path / "file.txt").read_text() == "not a folder"


# ------------------------------------------------------------------------------------------------
# run --out: a lock, the checks before work, what is recorded
# ------------------------------------------------------------------------------------------------
@pytest.fixture
def no_simulation(monkeypatch):
    from pricewar.runs import runner

    def simulate(*args, **kwargs):
        raise AssertionError("the run simulated before refusing")

    monkeypatch.setattr(runner, "run_model", simulate)


def test_a_second_run_into_a_locked_out_fails_at_once(tmp_path, capsys, no_simulation):
    from pricewar.atomic_writes import FolderLock, machine_lock_file

    out = tmp_path / "run"
    # as a concurrent `pricewar run --out run` holds it
    with FolderLock(out, "run", machine_lock_file("run", str(out.resolve()))):
        code, _, err = run_cli(["run", "baseline", *SMALL, "--out", str(out)], capsys)
    one_line_error(code, err, f"{out} is in use by another run")
    assert not out.exists()


def test_concurrent_runs_into_one_out_one_fails(tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "pricewar.cli", "run", "baseline", "--set",
               "n_consumers=300", "--steps", "12", "--quiet", "--out", str(out)]
    first = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    second = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = [p.communicate(timeout=300) + (p.returncode,) for p in (first, second)]
    codes = sorted(code for _, _, code in results)
    refused = [err for _, err, code in results if code == 2]
    assert codes == [0, 2], results
    assert refused[0].count("\n") == 1 and "is in use by another run" in refused[0]
    assert sorted(p.name for p in out.iterdir()) == ["agents.parquet", "model.parquet",
                                                      "scenario.toml"]


@contextlib.contextmanager
def read_only_run(folder: Path):
    """A run folder ``folder/run`` whose parent is read-only (a read-only tmpfs for root)."""
    root = os.geteuid() == 0
    folder.mkdir()
    if root:
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
                       check=True)
    try:
        (folder / "run").mkdir()
        (folder / "run" / "model.parquet").write_bytes(b"old")
        if root:
            subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        else:
            folder.chmod(0o555)
        yield folder / "run"
    finally:
        if root:
            subprocess.run(["umount", str(folder)], check=True)
        else:
            folder.chmod(0o755)


@pytest.mark.parametrize("where", ["a symlink loop", "a symlink to a read-only run",
                                   "a link to the current folder"])
def test_a_bad_out_link_is_refused_before_simulating(tmp_path, capsys, monkeypatch, where,
                                                     no_simulation):
    here = tmp_path / "d"  # the shell's folder: an earlier run's outputs
    here.mkdir()
    (here / "model.parquet").write_bytes(b"an earlier run")
    monkeypatch.chdir(here)
    with contextlib.ExitStack() as stack:
        if where == "a symlink loop":
            (tmp_path / "loop").symlink_to(tmp_path / "loop")
            out, needle = tmp_path / "loop", "symlink that cannot be followed"
        elif where == "a symlink to a read-only run":
            (tmp_path / "link").symlink_to(stack.enter_context(read_only_run(tmp_path / "ro")))
            out, needle = tmp_path / "link", "cannot write in"
        else:  # cd d && pricewar run ... --out ../link_to_d
            (tmp_path / "link_to_d").symlink_to(here)
            out, needle = Path("..") / "link_to_d", "current folder"
        code, _, err = run_cli(["run", "baseline", *SMALL, "--out", str(out)], capsys)
        one_line_error(code, err, "--out", needle)
    assert sorted(p.name for p in here.iterdir()) == ["model.parquet"]
    assert (here / "model.parquet").read_bytes() == b"an earlier run"


def test_steps_flag_and_set_steps_record_the_steps_that_ran(tmp_path):
    out = tmp_path / "run"
    assert main(["run", "baseline", "--set", "n_consumers=50", "--set", "steps=4",
                 "--steps", "3", "--quiet", "--out", str(out)]) == 0
    from pricewar.runs.outputs import read_metadata

    meta = read_metadata(out / "model.parquet")
    assert len(pd.read_parquet(out / "model.parquet")) == 4  # steps 0..3
    assert meta["steps"] == "3" and json.loads(meta["overrides"])["steps"] == 3


# ------------------------------------------------------------------------------------------------
# replacing --out: no atomic exchange, Ctrl-C just after the swap
# ------------------------------------------------------------------------------------------------
CRASH_BETWEEN_RENAMES = """
import os, sys
from pricewar import atomic_writes
from pricewar.cli import main
atomic_writes._exchange = lambda a, b: False  # a file system without RENAME_EXCHANGE
rename = os.rename
def crashing(source, target, *args, **kwargs):
    if ".tmp-" in str(source):  # the new folder's rename into place: die just before it
        os._exit(9)
    return rename(source, target, *args, **kwargs)
os.rename = crashing
sys.exit(main(sys.argv[1:]))
"""


def test_without_atomic_exchange_a_crash_never_leaves_out_absent(tmp_path):
    out = tmp_path / "run"
    assert main(["run", "baseline", *SMALL, "--seed", "1", "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    crashed = subprocess.run([sys.executable, "-c", CRASH_BETWEEN_RENAMES, "run", "baseline",
                              *SMALL, "--seed", "2", "--out", str(out)], capture_output=True)
    assert crashed.returncode == 9
    assert out.is_dir()  # never absent
    # the next writer puts the old run back before anything else: nothing is lost
    from pricewar.atomic_writes import remove_stale_temporaries

    remove_stale_temporaries(out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_ctrl_c_just_after_the_swap_exits_0_with_the_new_run_in_place(tmp_path, capsys,
                                                                      monkeypatch):
    import signal

    from pricewar import atomic_writes

    out = tmp_path / "run"
    assert main(["run", "baseline", *SMALL, "--seed", "1", "--out", str(out)]) == 0
    put_in_place = atomic_writes._put_in_place

    def then_ctrl_c(new, target):
        put_in_place(new, target)
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C right after the new run is in place

    monkeypatch.setattr(atomic_writes, "_put_in_place", then_ctrl_c)
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code, _, err = run_cli(["run", "baseline", *SMALL, "--seed", "2", "--out", str(out)],
                               capsys)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert code == 0, err
    assert "new outputs are complete and kept" in err
    assert "with seed 2." in (out / "scenario.toml").read_text().splitlines()[0]


# ------------------------------------------------------------------------------------------------
# input files: regular files only; TOML bounded in depth and base chain
# ------------------------------------------------------------------------------------------------
def cli_subprocess(args: list[str], cwd: Path, timeout: float = 120):
    """``pricewar ARGS`` in a child (a hang fails the test by its timeout instead of hanging)."""
    return subprocess.run([sys.executable, "-m", "pricewar.cli", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("kind", ["a FIFO scenario", "a FIFO spec", "/dev/zero behind a link"])
def test_an_input_that_is_not_a_regular_file_is_refused_without_blocking(tmp_path, kind):
    if kind == "/dev/zero behind a link":
        (tmp_path / "s.toml").symlink_to("/dev/zero")
        args, needle = ["run", "s.toml", *SMALL, "--out", "o"], "is a device"
    else:
        os.mkfifo(tmp_path / "s.toml")
        args = (["run", "s.toml", *SMALL, "--out", "o"] if kind == "a FIFO scenario"
                else ["sweep", "s.toml", "--out", "o", "--workers", "1"])
        needle = "is a FIFO"
    done = cli_subprocess(args, tmp_path, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and needle in done.stderr
    assert "input files must be regular files" in done.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("nesting", ["arrays", "inline tables"])
def test_toml_nested_thousands_deep_is_one_line(tmp_path, capsys, nesting):
    depth = 6_000
    value = ("[" * depth + "]" * depth) if nesting == "arrays" else (
        "{a = " * depth + "1" + "}" * depth)
    (tmp_path / "deep.toml").write_text(f"x = {value}\n")
    code, _, err = run_cli(["run", str(tmp_path / "deep.toml"), *SMALL, "--out",
                            str(tmp_path / "o")], capsys)
    one_line_error(code, err, "nested more than 64 levels deep")


def test_a_long_base_chain_is_one_line_with_its_limit(tmp_path, capsys):
    files = 1_200
    for i in range(files):
        base = f"c{i + 1}.toml" if i < files - 1 else "baseline"
        (tmp_path / f"c{i}.toml").write_text(f'base = "{base}"\n')
    code, _, err = run_cli(["run", str(tmp_path / "c0.toml"), *SMALL, "--out",
                            str(tmp_path / "o")], capsys)
    one_line_error(code, err, "a chain of more than 32 base files")


# ------------------------------------------------------------------------------------------------
# Dask: a bad address, a cluster that loses its workers, a scheduler that dies
# ------------------------------------------------------------------------------------------------
def test_a_scheduler_that_is_not_an_address_is_refused_before_any_work(tmp_path, capsys):
    (tmp_path / "spec.toml").write_text(tomli_w.dumps(sweep_spec()))
    code, _, err = run_cli(["sweep", str(tmp_path / "spec.toml"), "--out",
                            str(tmp_path / "out"), "--scheduler", "not a url"], capsys)
    one_line_error(code, err, "--scheduler 'not a url': not a Dask scheduler address")
    assert not (tmp_path / "out").exists()


@pytest.fixture
def dask_cluster(monkeypatch):
    distributed = pytest.importorskip("distributed")
    from pricewar.sweep import backends

    monkeypatch.setattr(backends, "NO_WORKERS_SECONDS", 3.0, raising=False)
    monkeypatch.setattr(backends, "DASK_POLL_SECONDS", 0.5, raising=False)
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1",
                                       dashboard_address=None, processes=True)
    try:
        yield cluster
    finally:
        cluster.close()


def sweep_in_thread(spec: dict, out: Path, scheduler, timeout: float) -> BaseException | None:
    """Run the sweep in a daemon thread (a hang fails the test instead of hanging it); returns
    what it raised."""
    raised: list[BaseException] = []

    def sweep() -> None:
        try:
            run_sweep(spec, out, scheduler=scheduler, progress=False)
        except Exception as error:  # handed to the test, which states what it expects
            raised.append(error)

    thread = threading.Thread(target=sweep, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"the sweep still waits after {timeout} s"
    return raised[0] if raised else None


@pytest.mark.integration
def test_a_dask_sweep_whose_workers_all_die_says_so_in_bounded_time(tmp_path, dask_cluster):
    from pricewar.sweep import SweepError

    spec = sweep_spec(seeds=range(1, 41), values=(0.05,))
    threading.Timer(3.0, lambda: dask_cluster.scale(0)).start()
    error = sweep_in_thread(spec, tmp_path / "out", dask_cluster.scheduler_address, timeout=90)
    assert isinstance(error, SweepError)
    assert "has had no workers for 3 s" in str(error) and "\n" not in str(error)
    status = sweep_status(tmp_path / "out")  # what finished is kept for the resume
    assert status.total == 40 and status.failed == 0 and status.done < 40


@pytest.mark.integration
def test_a_killed_dask_scheduler_is_one_line(tmp_path, dask_cluster):
    from pricewar.sweep import SweepError

    spec = sweep_spec(seeds=range(1, 41), values=(0.05,))
    threading.Timer(3.0, dask_cluster.close).start()
    error = sweep_in_thread(spec, tmp_path / "out", dask_cluster.scheduler_address, timeout=120)
    assert isinstance(error, SweepError), repr(error)
    assert "lost the Dask scheduler" in str(error) and "\n" not in str(error)
    assert sweep_status(tmp_path / "out").done < 40


# ------------------------------------------------------------------------------------------------
# calibrate, figures, viz: checked before any work, one line
# ------------------------------------------------------------------------------------------------
V2_SPEC = Path(__file__).resolve().parents[1] / "experiments" / "calibration" / "v2.toml"


@pytest.fixture
def no_calibration_runs(monkeypatch):
    from pricewar.calibrate import simulate

    def run(*args, **kwargs):
        raise AssertionError("the calibration ran before refusing")

    monkeypatch.setattr(simulate, "run", run)


def test_a_calibration_target_dated_2099_is_one_line_and_leaves_no_folder(
        tmp_path, capsys, no_calibration_runs):
    text = V2_SPEC.read_text()
    assert 'date = "2025-06-30"' in text
    (tmp_path / "v2.toml").write_text(text.replace('date = "2025-06-30"', 'date = "2099-06-30"'))
    out = tmp_path / "cal"
    code, _, err = run_cli(["calibrate", str(tmp_path / "v2.toml"), "--quick", "--out", str(out),
                            "--workers", "1", "--quiet"], capsys)
    one_line_error(code, err, "targets.china_tokens_mid2025.args = '2099-06-30'",
                   "2024-01-01 to 2028-12-31")
    assert not out.exists()


def test_calibrated_toml_replaced_by_a_folder_is_one_line_before_work(tmp_path, capsys,
                                                                      no_calibration_runs):
    out = tmp_path / "cal"
    (out / "calibrated.toml").mkdir(parents=True)
    code, _, err = run_cli(["calibrate", str(V2_SPEC), "--quick", "--out", str(out),
                            "--workers", "1", "--quiet"], capsys)
    one_line_error(code, err, "calibrated.toml is a folder", "move it away")
    assert sorted(p.name for p in out.iterdir()) == ["calibrated.toml"]


@pytest.mark.parametrize("where", ["onto a file", "into a file", "read-only"])
def test_figures_quick_out_that_cannot_be_written_is_one_line(tmp_path, capsys, monkeypatch,
                                                              where):
    from pricewar.studies import regenerate

    def run_experiment(*args, **kwargs):
        raise AssertionError("the figures ran before refusing")

    monkeypatch.setattr(regenerate, "run_experiment", run_experiment)
    (tmp_path / "file.txt").write_text("not a folder")
    with contextlib.ExitStack() as stack:
        out = {"onto a file": tmp_path / "file.txt", "into a file": tmp_path / "file.txt" / "f",
               "read-only": None}[where]
        if out is None:
            out = stack.enter_context(read_only_run(tmp_path / "ro")) / "figures"
        code, _, err = run_cli(["figures", "--quick", "--only", "cost_waterfall", "--out",
                                str(out)], capsys)
        one_line_error(code, err, "--out")
    assert (tmp_path / "file.txt").read_text() == "not a folder"


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.integration
def test_two_viz_started_together_on_one_port_one_refuses_in_one_line(tmp_path):
    pytest.importorskip("solara")
    port = free_port()
    command = [sys.executable, "-m", "pricewar.cli", "viz", "--port", str(port)]
    servers = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=tmp_path) for _ in range(2)]
    try:
        deadline = time.monotonic() + 240
        while all(s.poll() is None for s in servers) and time.monotonic() < deadline:
            time.sleep(0.2)
        [refused] = [s for s in servers if s.poll() is not None]
        out, err = refused.communicate(timeout=10)
        assert refused.returncode == 2, err
        assert err.count("\n") == 1 and f"port {port} on 127.0.0.1 is in use" in err
        assert "http://" not in out  # no URL printed for a server that is not there
    finally:
        for server in servers:
            if server.poll() is None:
                server.terminate()
                server.wait(timeout=30)
            for stream in (server.stdout, server.stderr):
                stream.close()


def test_a_huge_run_warns_about_its_cost_before_building(caplog, monkeypatch):
    from pricewar.model import initialise
    from pricewar.runs.runner import build_model

    class Built(Exception):
        """The build started: far enough for this test."""

    def create_producers(*args, **kwargs):
        raise Built

    monkeypatch.setattr(initialise, "create_producers", create_producers)
    with pytest.raises(Built):
        build_model({"n_producers": 10_000, "n_consumers": 100_000, "n_platforms": 1_000})
    [warning] = [r.getMessage() for r in caplog.records if "a large run" in r.getMessage()]
    assert "10,000 producers, 100,000 consumers, 1,000 platforms" in warning
    assert "may take minutes" in warning
    caplog.clear()
    with pytest.raises(Built):
        build_model({"n_consumers": 50})  # a small run: no warning
    assert "a large run" not in caplog.text


# ------------------------------------------------------------------------------------------------
# an interrupted or killed command leaves no "leaked semaphore" warning
# ------------------------------------------------------------------------------------------------
LEAKED = "leaked semaphore"


def children_of(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    return [int(child) for child in found.stdout.split()]


def wait_until_gone(pids: list[int], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while any(Path(f"/proc/{pid}").exists() for pid in pids):
        assert time.monotonic() < deadline, f"processes {pids} still run"
        time.sleep(0.05)


@pytest.mark.parametrize("how", ["SIGINT", "SIGTERM", "SIGKILL"])
def test_a_run_stopped_while_stepping_leaves_no_leaked_semaphore(tmp_path, how):
    """Before the fix tqdm's lock was a named semaphore: SIGTERM and SIGKILL made the resource
    tracker print "1 leaked semaphore objects" (SIGINT could not be made to)."""
    import signal

    from pricewar.testing.signals import default_sigint

    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "pricewar.cli", "run", "baseline", "--set", "n_consumers=300",
             "--steps", "300", "--out", str(tmp_path / "run")],
            stdout=subprocess.DEVNULL, stderr=sink, preexec_fn=default_sigint)
    try:
        deadline = time.monotonic() + 120
        while "baseline seed 1:" not in stderr.read_text():  # the progress bar: stepping
            assert process.poll() is None, stderr.read_text()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        helpers = children_of(process.pid)  # a resource tracker, if one was started
        process.send_signal(getattr(signal, how))
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    wait_until_gone(helpers)  # a tracker reports leaks when its parent is gone
    err = stderr.read_text()
    assert code == {"SIGINT": 130, "SIGTERM": -15, "SIGKILL": -9}[how], err
    assert LEAKED not in err and "Traceback" not in err, err
    assert not (tmp_path / "run").exists()  # stopped before its outputs were written
    if how == "SIGINT":
        assert err.rstrip().endswith("pricewar: interrupted")


@pytest.mark.parametrize("how", ["ctrl-c", "SIGINT to the sweep alone"])
def test_an_interrupted_local_sweep_leaves_no_leaked_semaphore(tmp_path, how):
    """Before the fix each worker terminated on Ctrl-C left its tqdm lock (a named semaphore):
    "There appear to be 2 leaked semaphore objects" after the exit message."""
    import signal

    from pricewar.testing.signals import default_sigint

    spec = sweep_spec(seeds=(1, 2, 3), values=tuple(0.02 + 0.01 * i for i in range(10)))
    spec["steps"] = 4
    (tmp_path / "spec.toml").write_text(tomli_w.dumps(spec))
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "pricewar.cli", "sweep", str(tmp_path / "spec.toml"), "--out",
         str(out), "--workers", "2", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True, preexec_fn=default_sigint)
    try:
        deadline = time.monotonic() + 120
        while not (out / "results").is_dir() or len(result_files(out)) < 2:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        helpers = children_of(process.pid)  # workers and the resource tracker
        if how == "ctrl-c":  # what the terminal does: SIGINT to the whole process group
            os.killpg(process.pid, signal.SIGINT)
        else:
            process.send_signal(signal.SIGINT)
        stdout, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    wait_until_gone(helpers)
    assert process.returncode == 130, err
    assert "run the same command again to resume" in stdout
    assert err == "", err  # no leaked semaphores, no traceback
    status = sweep_status(out)
    assert 2 <= status.done < 30 and status.failed == 0


@pytest.mark.parametrize("delay_s", [0.2, 0.5])
def test_ctrl_c_after_the_last_result_of_a_sweep_is_quiet(tmp_path, delay_s):
    """Ctrl-C 0.15-0.5 s after the last result was written printed a KeyboardInterrupt
    traceback from concurrent.futures' exit hook (waiting for the idle workers) after exit
    status 0; the idle workers are now stopped before the command returns, Ctrl-C ignored."""
    import signal

    from pricewar.testing.signals import default_sigint

    spec = sweep_spec(seeds=(1, 2), values=(0.02, 0.07, 0.12))
    spec["steps"] = 2
    (tmp_path / "spec.toml").write_text(tomli_w.dumps(spec))
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "pricewar.cli", "sweep", str(tmp_path / "spec.toml"), "--out",
         str(out), "--workers", "2", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True, preexec_fn=default_sigint)
    try:
        deadline = time.monotonic() + 120
        while not (out / "results").is_dir() or len(result_files(out)) < 6:
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.005)
        time.sleep(delay_s)
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGINT)  # the terminal's Ctrl-C
        stdout, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert err == "", err  # no traceback, no leaked semaphores
    if process.returncode == 0:  # the usual case: the sweep was closing its workers
        assert "6 runs, 6 done (6 ok, 0 failed), 0 remaining" in stdout
    else:  # a loaded machine: still storing the last outcome
        assert process.returncode == 130 and "run the same command again" in stdout
    assert sweep_status(out).done == 6


def test_a_run_makes_no_named_semaphore_so_no_interruption_can_leak_one(tmp_path):
    """Whatever moment a run is interrupted or killed at, there is no semaphore to leak: the
    resource tracker, started by the first named semaphore, never starts."""
    script = ("import sys\n"
              "from multiprocessing import resource_tracker\n"
              "from pricewar.cli import main\n"
              "code = main(sys.argv[1:])\n"
              "print(code, resource_tracker._resource_tracker._pid)\n")
    done = subprocess.run([sys.executable, "-c", script, "run", "baseline", *SMALL, "--out",
                           str(tmp_path / "run")], capture_output=True, text=True, timeout=120)
    assert done.stdout.splitlines()[-1] == "0 None", (done.stdout, done.stderr)
