"""`pricewar run`: outputs, reproducibility from the resolved scenario, one-line errors."""

import pandas as pd
import pytest

from pricewar.cli import main


def test_run_writes_outputs_and_replays_from_resolved_scenario(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["run", "baseline", "--steps", "6", "--seed", "4", "--set", "electricity_cn_west=0.03",
            "--set", "n_consumers=125", "--out", str(out), "--quiet"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "price_avg" in printed and "model.parquet" in printed
    for name in ("model.parquet", "agents.parquet", "scenario.toml"):
        assert (out / name).exists()
    model = pd.read_parquet(out / "model.parquet")
    assert len(model) == 7 and {"price_avg", "share_cn_west", "date"} <= set(model.columns)
    agents = pd.read_parquet(out / "agents.parquet")
    assert {"producer", "platform"} == set(agents["agent_type"])
    replay = tmp_path / "replay"
    assert main(["run", str(out / "scenario.toml"), "--seed", "4", "--out", str(replay),
                 "--quiet"]) == 0
    pd.testing.assert_frame_equal(model, pd.read_parquet(replay / "model.parquet"))


@pytest.mark.parametrize("pair, fragment", [
    ("warp_speed=9", "unknown override"),
    ("electricity_us=cheap", "expected float"),
    ("electricity_us=-1", "must be >= 0"),
    ("n_consumers=2.5", "expected int"),
    ("novalue", "expected key=value"),
])
def test_bad_set_is_a_one_line_error(tmp_path, capsys, pair, fragment):
    code = main(["run", "baseline", "--set", pair, "--out", str(tmp_path), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2
    assert fragment in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_demo_prints_calvano_prices(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "1.4729" in out and "1.9250" in out
