"""`pricewar run`: outputs, reproducibility from the resolved scenario, one-line errors; start-up
without heavy imports; missing optional packages reported with their extra."""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

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


# ------------------------------------------------------------------------------------------------
# start-up: subcommands import their heavy modules only when they run
# ------------------------------------------------------------------------------------------------
HEAVY = ("matplotlib", "mesa", "pandas", "solara", "dask", "distributed")
LOADED_AFTER_HELP = """
import sys
from pricewar.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(" ".join(sorted({name.partition(".")[0] for name in sys.modules})))
"""


@pytest.mark.parametrize("argv", [["--help"], ["sweep", "--help"], ["viz", "--help"],
                                  ["figures", "--help"], ["run", "--help"]],
                         ids=lambda argv: " ".join(argv))
def test_help_imports_no_heavy_module(argv):
    result = subprocess.run([sys.executable, "-c", LOADED_AFTER_HELP, *argv],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    *help_text, loaded = result.stdout.strip().splitlines()
    assert "usage: pricewar" in "\n".join(help_text)
    assert "pricewar" in loaded.split()
    assert not set(HEAVY) & set(loaded.split())


def test_missing_solara_is_a_one_line_error_naming_the_extra(monkeypatch, capsys):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "solara" else find_spec(name, *args))

    def no_server(*args, **kwargs):
        raise AssertionError("the server started without solara")

    monkeypatch.setattr(subprocess, "Popen", no_server)
    assert main(["viz", "--port", "1"]) == 2
    err = capsys.readouterr().err
    assert err == ("pricewar: error: 'pricewar viz' needs solara, which is not installed: "
                   "pip install 'pricewar[viz]'\n")


def test_missing_optional_package_inside_a_command_names_its_extra(tmp_path, monkeypatch,
                                                                     capsys):
    import tomli_w

    spec = tmp_path / "sobol.toml"
    spec.write_text(tomli_w.dumps({"steps": 2, "design": {
        "kind": "sobol", "samples": 2, "parameters": {
            "electricity_us": {"low": 0.05, "high": 0.1}}}}))
    monkeypatch.setitem(sys.modules, "SALib", None)  # import SALib now raises ImportError
    monkeypatch.setitem(sys.modules, "SALib.sample", None)  # ... even after an earlier import
    assert main(["sweep", str(spec), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "needs SALib" in err and "pip install 'pricewar[sweep]'" in err


def test_an_import_error_inside_pricewar_is_not_blamed_on_an_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "pricewar.sweep.engine", None)
    with pytest.raises(ImportError):
        main(["sweep", "--status", "nowhere"])


def test_run_help_and_the_extending_guide_list_every_shipped_scenario(capsys):
    """issue 27: `pricewar run --help` offered only baseline and parity; price_war was
    undocumented."""
    from pricewar.scenario import scenario_descriptions

    with pytest.raises(SystemExit):
        main(["run", "--help"])
    help_text = capsys.readouterr().out
    guide = (Path(__file__).resolve().parents[1] / "docs" / "extending.md").read_text()
    shipped = scenario_descriptions()
    assert {"baseline", "calibrated", "parity", "price_war"} <= set(shipped)
    for name, description in shipped.items():
        assert re.search(rf"^  {name} +{re.escape(description.split()[0])}", help_text, re.M), name
        assert f"| `{name}` |" in guide, name
