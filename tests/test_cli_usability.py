"""The command line explains itself: --version, -v logging, help with defaults and examples,
--quiet in every command that shows progress, quick figures kept out of figures/."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

import pricewar
from pricewar.cli import build_parser, configure_logging, main
from pricewar.studies.regenerate import QUICK_OUT, output_directory


def _help(*argv: str) -> str:
    result = subprocess.run([sys.executable, "-m", "pricewar.cli", *argv, "--help"],
                            capture_output=True, text=True, timeout=60, check=True)
    return result.stdout


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"pricewar {pricewar.__version__}"


@pytest.mark.parametrize("argv, level", [([], logging.WARNING), (["-v"], logging.INFO),
                                         (["-vv"], logging.DEBUG)])
def test_verbose_sets_pricewars_log_level_before_or_after_the_command(argv, level):
    for args in (build_parser().parse_args([*argv, "demo"]),
                 build_parser().parse_args(["demo", *argv])):
        configure_logging(args.verbose)
        assert logging.getLogger("pricewar").level == level
    configure_logging(0)


def test_help_states_defaults_and_examples():
    top = _help()
    assert "examples:" in top and "--version" in top and "compare" in top
    run = _help("run")
    assert "(default: 1)" in run and "runs/<scenario>-seed<seed>" in run
    assert "pricewar run baseline" in run and "seed of the model's random numbers" in run
    for command in ("compare", "figures"):
        text = _help(command)
        assert "examples:" in text and "--quiet" in text and "default" in text


@pytest.mark.parametrize("flag", ["--quiet", "--no-progress"])
def test_figures_accepts_quiet_and_its_old_name(flag):
    args = build_parser().parse_args(["figures", "--quick", flag])
    assert args.quiet


def test_quick_figures_go_to_a_scratch_folder_unless_told_otherwise(tmp_path):
    parser = build_parser()
    assert output_directory(parser.parse_args(["figures", "--quick"])) == QUICK_OUT
    assert output_directory(parser.parse_args(["figures"])).name == "figures"
    assert output_directory(parser.parse_args(["figures", "--quick", "--out", str(tmp_path)])) \
        == tmp_path


@pytest.mark.integration
def test_quick_figures_leave_figures_alone(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["figures", "--quick", "--quiet", "--only", "cost_waterfall"]) == 0
    assert (tmp_path / QUICK_OUT / "cost_waterfall.png").exists()
    assert not (tmp_path / "figures").exists()
    assert str(QUICK_OUT / "cost_waterfall.png") in capsys.readouterr().out
