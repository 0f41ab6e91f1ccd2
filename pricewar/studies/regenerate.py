"""``pricewar figures``: regenerate every figure of ``experiments/`` (and the scripts' shared
command line).

Each experiment (:data:`pricewar.studies.experiments.EXPERIMENTS`) writes ``<out>/<name>.png``, ``.svg``
and ``.csv``; this module runs them in-process, prints one line per experiment and writes their
headline numbers to ``<out>/headlines.json`` (:data:`HEADLINES_FILE`).
``--scenario`` runs every experiment on another scenario than the baseline (a shipped name or a
TOML path); the figure notes and headlines then name it. ``--draws N`` runs the experiments that
support it (:func:`~pricewar.studies.experiments.supports_draws`: the README's headline
``price_war_baseline`` and the policy answers ``energy_gap`` and ``export_controls``) over the
first N posterior draws of the scenario's draws file (:mod:`pricewar.scenario.draws`) x the
seeds, with 90% interval bands and policy effects paired on common draws and seeds; the others
run as without it, each saying so in one line.
The scripts ``experiments/<name>.py`` call :func:`script_main` with their own name. ``--quick``
results go to a scratch folder (:data:`QUICK_OUT`) unless ``--out`` is given, so a quick check
never overwrites the committed figures in ``figures/``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pricewar.atomic_writes import check_output_dir
from pricewar.cli_types import bounded_int
from pricewar.errors import PricewarError
from pricewar.studies.experiments import EXPERIMENTS, run_experiment, supports_draws

if TYPE_CHECKING:
    from pricewar.runs.harness import ExperimentResult

#: where --quick writes without --out: results of a quick check are not the committed figures
QUICK_OUT = Path("runs") / "figures-quick"
FULL_OUT = Path("figures")
#: the headline numbers of the experiments run, by experiment (JSON), in the output directory
HEADLINES_FILE = "headlines.json"
EXAMPLES = """examples:
  pricewar figures                         # every figure, full mode, into figures/ (minutes)
  pricewar figures --quick                 # seconds, into runs/figures-quick/
  pricewar figures --only energy_gap --seeds 1 2 --out /tmp/energy
  pricewar figures --scenario calibrated --out figures/calibrated   # every figure on another scenario
  pricewar figures --only price_war_baseline --draws 20 --out figures/draws  # posterior bands
"""


def _common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="few points, steps and seeds, 500 consumers (seconds; used by tests)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"output directory (default: {FULL_OUT}/, with --quick {QUICK_OUT}/)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="model seeds (default: the experiment's, fewer in --quick)")
    parser.add_argument("--quiet", "--no-progress", dest="quiet", action="store_true",
                        help="no progress bars (--no-progress is the old name)")
    parser.add_argument("--scenario", metavar="NAME_OR_PATH", default="baseline",
                        help="scenario to run the experiments on: a shipped name (baseline, "
                             "calibrated, ...) or a .toml path (default: baseline)")
    parser.add_argument("--draws", type=bounded_int(1, 100_000), default=None, metavar="N",
                        help="run over the first N posterior draws of the scenario's draws file "
                             "x the seeds (bands: 90%% intervals; policy effects paired on common "
                             "draws and seeds); experiments that do not support it say so and "
                             "run without")


def check_scenario(spec: str, draws: int | None = None):
    """Load the scenario ``spec`` (and its first ``draws`` posterior draws) once before any
    run, so a bad name or file fails at once (ScenarioError) rather than after the experiments
    before it have run. Returns the draws (:class:`~pricewar.scenario.draws.Draws`) or None."""
    from pricewar.scenario import load_scenario  # not at import: `pricewar --help` stays light
    from pricewar.scenario.draws import load_draws

    load_scenario(spec)
    return load_draws(spec, draws) if draws is not None else None


def _run(name: str, out: Path, args: argparse.Namespace, draws) -> ExperimentResult:
    """One experiment, over ``draws`` when it supports them (else it says so and runs
    without)."""
    chosen = {}
    if draws is not None:
        if supports_draws(name):
            chosen = {"draws": draws.first(len(draws)), "draws_file": draws.path}
        else:
            print(f"{name}: --draws not supported by {name}; ran without draws")
    return run_experiment(name, out, quick=args.quick, seeds=args.seeds,
                          progress=not args.quiet, scenario=args.scenario, **chosen)


def output_directory(args: argparse.Namespace) -> Path:
    """``--out``, else :data:`QUICK_OUT` in quick mode and :data:`FULL_OUT` otherwise."""
    if args.out is not None:
        return args.out
    return QUICK_OUT if args.quick else FULL_OUT


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``pricewar figures``."""
    _common_arguments(parser)
    parser.add_argument("--only", nargs="+", choices=sorted(EXPERIMENTS), default=None,
                        metavar="NAME", help=f"run only these ({', '.join(EXPERIMENTS)})")


def _report(result: ExperimentResult, seconds: float) -> None:
    files = ", ".join(str(p) for p in result.files)
    print(f"{result.name}: {seconds:.1f} s, wrote {files}")


def main(args: argparse.Namespace) -> int:
    """Run every experiment (or ``--only`` some), print one line each and write their headline
    numbers to ``<out>/headlines.json`` (one JSON object by experiment name)."""
    draws = check_scenario(args.scenario, args.draws)
    check_output_dir(output_directory(args))  # a file, inside a file, read-only: before work
    names = args.only or list(EXPERIMENTS)
    out = output_directory(args)
    headlines = {}
    start_all = time.perf_counter()
    for name in names:
        start = time.perf_counter()
        result = _run(name, out, args, draws)
        _report(result, time.perf_counter() - start)
        headlines[name] = result.headline
    path = out / HEADLINES_FILE
    path.write_text(json.dumps(headlines, indent=1) + "\n", encoding="utf-8")
    print(f"{len(names)} experiments in {time.perf_counter() - start_all:.0f} s; "
          f"headline numbers in {path}")
    return 0


def script_main(name: str, argv: list[str] | None, description: str | None = None) -> int:
    """Command line of ``experiments/<name>.py``: run, report the files, and print the headline
    numbers as JSON on the last line."""
    parser = argparse.ArgumentParser(
        prog=f"experiments/{name}.py",
        description=(description or name).strip().splitlines()[0],
        epilog=f"Writes <out>/{name}.png, <out>/{name}.svg and <out>/{name}.csv.")
    _common_arguments(parser)
    args = parser.parse_args(argv)
    try:
        draws = check_scenario(args.scenario, args.draws)
        check_output_dir(output_directory(args))
    except PricewarError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    start = time.perf_counter()
    result = _run(name, output_directory(args), args, draws)
    _report(result, time.perf_counter() - start)
    print(json.dumps(result.headline))
    return 0
