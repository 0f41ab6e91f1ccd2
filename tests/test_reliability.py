"""Fault injection, reliability v3 (issue 28): nothing accepted that corrupts an analysis.

Each test states the expected message, exit status and what is on disk afterwards: sweep
results accept exactly one verified row per exactly-named file (stray copies, duplicated rows,
a file copied over another, flipped bits and truncated time series are rejected, quarantined by
the next run of the sweep and run again); a run producing NaN/inf fails loudly; ``compare``
refuses mixed or damaged inputs; concurrent runs into one ``--out`` are refused; input files
must be regular files; TOML is depth- and chain-bounded; every ``--out`` is checked first.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pricewar.cli import main
from pricewar.sweep import load_results, load_timeseries, run_sweep, sweep_status

SMALL = ["--set", "n_consumers=50", "--steps", "3", "--quiet"]


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("pricewar: error: "), err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)


# ------------------------------------------------------------------------------------------------
# non-finite values fail a run loudly
# ------------------------------------------------------------------------------------------------
def test_a_run_with_non_finite_values_fails_with_one_line_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(["run", "baseline", *SMALL, "--set", "quality_slope=100",
                            "--out", str(out)], capsys)
    one_line_error(code, err, "step 0", "non-finite", "price_index = inf")
    assert not out.exists()


def sweep_spec(*, seeds=(1, 2), values=(0.03, 0.05, 0.07), timeseries=False, fixed=None) -> dict:
    return {"name": "rel", "scenario": "baseline", "steps": 3, "seeds": list(seeds),
            "outputs": {"metrics": ["price_avg"], "steps": ["final"], "timeseries": timeseries},
            "fixed": {"n_consumers": 50, **(fixed or {})},
            "design": {"kind": "grid",
                       "parameters": {"electricity_cn_west": {"values": list(values)}}}}


def test_a_sweep_records_a_non_finite_run_as_failed_with_the_message(tmp_path):
    status = run_sweep(sweep_spec(seeds=(1,), values=(0.05,), fixed={"quality_slope": 100}),
                       tmp_path, progress=False)
    assert (status.done, status.failed) == (1, 1)
    row = load_results(tmp_path).iloc[0]
    assert row["status"] == "failed"
    assert row["error"].startswith("NonFiniteRunError: baseline: step 0")
    assert "price_index = inf" in row["error"]


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


def damage(out: Path, how: str) -> Path:
    """Damage the sweep ``out`` as a user or a disk could; returns the damaged file."""
    files = result_files(out)
    if how == "a stray copy":
        damaged = files[0].with_name(files[0].stem + " (copy).parquet")
        shutil.copy(files[0], damaged)
    elif how == "a duplicated row":
        damaged = files[1]
        table = pq.read_table(damaged)
        pq.write_table(pa.concat_tables([table, table]), damaged)
    elif how == "a file copied over another":
        damaged = files[2]
        shutil.copy(files[0], damaged)
    else:  # a truncated time series
        damaged = out / "timeseries" / files[3].name
        damaged.write_bytes(damaged.read_bytes()[:-300])
    return damaged


@pytest.mark.parametrize("how", ["a stray copy", "a duplicated row", "a file copied over another",
                                 "a truncated time series"])
def test_a_damaged_sweep_is_counted_truly_and_repaired_by_resume(sweep, how, capsys, caplog):
    complete = comparable(load_results(sweep))
    series = load_timeseries(sweep)
    damaged = damage(sweep, how)
    runs_left = 0 if how == "a stray copy" else 1
    # --status and load_results count only verified rows, and say which file they skipped
    code, out, _ = run_cli(["sweep", "--status", str(sweep)], capsys)
    assert code == 0
    assert f"6 runs, {6 - runs_left} done ({6 - runs_left} ok, 0 failed)" in out
    loaded = load_results(sweep)
    assert len(loaded) == 6 - runs_left and loaded["run_id"].is_unique
    assert f"{damaged.name} is rejected" in caplog.text
    # resume moves the rejected file into quarantine/ and runs its run again
    status = run_sweep(sweep_spec(timeseries=True), sweep, progress=False)
    assert (status.done, status.ran) == (6, runs_left)
    assert (sweep / "quarantine" / damaged.relative_to(sweep)).exists()
    assert damaged.exists() == (how != "a stray copy")  # a stray copy is not put back
    pd.testing.assert_frame_equal(comparable(load_results(sweep)), complete)
    pd.testing.assert_frame_equal(load_timeseries(sweep), series)


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
