"""The shared helpers of conftest.py do what the tests rely on."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import BASELINE_RUN, SMALL_SET, baseline_frames, run_cli

from pricewar.sweep.spec import load_spec


def test_model_steps_records_a_run_that_starts(tmp_path, capsys, model_steps):
    """The guard of the "fails before running" tests sees a run that does start."""
    with pytest.raises(AssertionError, match="a PriceWarModel stepped"):
        run_cli(["run", "baseline", "--steps", "1", *SMALL_SET, "--out", str(tmp_path / "out"),
                 "--quiet"], capsys)
    assert len(model_steps) == 1


def test_model_steps_is_empty_when_only_a_spec_is_read(tmp_path, model_steps):
    path = tmp_path / "spec.toml"
    path.write_text('steps = 2\nseeds = [1]\n[design]\nkind = "grid"\n'
                    '[design.parameters.electricity_us]\nvalues = [0.1]\n')
    load_spec(path)
    assert model_steps == []


def test_run_cli_returns_code_out_and_err_and_counts_argparse_exits(capsys):
    code, out, err = run_cli(["--version"], capsys)
    assert code == 0 and "pricewar" in out and err == ""
    code, out, err = run_cli(["run", "baseline", "--no-such-flag"], capsys)
    assert code == 2 and out == "" and "--no-such-flag" in err


def test_the_session_baseline_run_is_the_documented_run(baseline_run):
    assert f"with seed {BASELINE_RUN['seed']}." in \
        (baseline_run / "scenario.toml").read_text().splitlines()[0]
    model, agents = baseline_frames(BASELINE_RUN["seed"], BASELINE_RUN["steps"],
                                    BASELINE_RUN["overrides"]["n_consumers"])
    pd.testing.assert_frame_equal(pd.read_parquet(baseline_run / "model.parquet"), model)
    pd.testing.assert_frame_equal(pd.read_parquet(baseline_run / "agents.parquet"), agents)
    assert len(model) == BASELINE_RUN["steps"] + 1


@pytest.mark.parametrize("seed", [1])
def test_baseline_frames_are_computed_once(seed):
    first = baseline_frames(seed, 1, 100)
    assert baseline_frames(seed, 1, 100) is first
