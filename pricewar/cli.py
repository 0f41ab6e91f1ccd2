"""Command-line interface: ``pricewar <command>`` (the CLI is the only place that prints).

Commands: ``run`` (one scenario run to Parquet), ``demo`` (the Calvano duopoly), ``parameters``
(the flat parameters ``--set`` takes), and, provided by
their modules, ``sweep`` (:mod:`pricewar.sweep.cli`), ``viz`` (:mod:`pricewar.viz.server`),
``figures`` (:mod:`pricewar.studies.regenerate`) and ``calibrate``
(:mod:`pricewar.calibrate.cli`). A module providing a command defines ``add_arguments(parser)``
and ``main(args) -> int``; it imports nothing heavy at module level (its ``main`` imports what
the command needs), so ``pricewar --help`` starts without importing matplotlib, mesa, pandas,
solara or dask.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
import sys
import textwrap
from pathlib import Path

from pricewar import __version__, cli_types
from pricewar.errors import PricewarError
from pricewar.processes import progress_bars_lock_threads_only

#: commands implemented in other modules: name -> (module, help, optional extra they need)
MODULE_COMMANDS = {
    "sweep": ("pricewar.sweep.cli", "run a parameter sweep from a TOML spec (local or Dask)",
              "sweep"),
    "viz": ("pricewar.viz.server", "start the browser visualization (SolaraViz)", "viz"),
    "figures": ("pricewar.studies.regenerate", "regenerate every figure of experiments/", None),
    "compare": ("pricewar.runs.compare_cli",
                "compare two scenarios or run folders: headline differences, table and figure",
                None),
    "calibrate": ("pricewar.calibrate.cli",
                  "estimate parameters from observed targets (ABC over a prior sweep)",
                  "sweep"),  # the extra only for --scheduler (Dask); the default needs none
}

EXAMPLES = """examples:
  pricewar run baseline                      # writes runs/baseline-seed1/
  pricewar run baseline --steps 52 --set electricity_cn_west=0.03 --out runs/cheap_west
  pricewar compare baseline parity --seeds 1 2 3
  pricewar viz --scenario parity
  pricewar figures --quick                   # seconds; writes runs/figures-quick/
  pricewar -v run parity                     # log what happens (-vv: debug)
"""
RUN_EXAMPLES = """examples:
  pricewar run baseline                          # 156 weekly steps, seed 1 -> runs/baseline-seed1/
  pricewar run parity --seed 3 --steps 52 --quiet
  pricewar run baseline --set electricity_cn_west=0.03 --set hub_latency_ms=40 --out runs/cheap
  pricewar run runs/cheap/scenario.toml          # replay a run from its resolved scenario

overrides: `pricewar parameters` lists every --set KEY with its type, range and unit;
docs/parameters.md has the full table (scenario path, app slider, source).
"""


def _demo(args: argparse.Namespace) -> int:
    from pricewar.kernel import logit_bertrand_nash, logit_joint_monopoly

    nash = logit_bertrand_nash([2.0, 2.0], [1.0, 1.0], mu=0.25)
    monopoly = logit_joint_monopoly([2.0, 2.0], [1.0, 1.0], mu=0.25)
    print("Calvano et al. (2020) baseline logit duopoly: a=(2,2), c=(1,1), mu=0.25, a0=0")
    print(f"  Bertrand-Nash price  {nash[0]:.4f}  (paper: 1.4729)")
    print(f"  joint-monopoly price {monopoly[0]:.4f}  (paper: 1.9250)")
    return 0


def _run(args: argparse.Namespace) -> int:
    from pricewar.runs.runner import run_to_directory
    from pricewar.scenario import parse_override_pairs

    overrides = parse_override_pairs(args.set)
    # an explicit --out (even an empty one, which the runner refuses) is taken as given
    out = default_run_directory(args.scenario, args.seed) if args.out is None else args.out
    summary = run_to_directory(args.scenario, out=out, steps=args.steps,
                               seed=args.seed, overrides=overrides, progress=not args.quiet)
    print(summary.to_string(na_rep="-", float_format=lambda x: f"{x:.6g}"))
    print(f"\nwrote {out}/model.parquet, {out}/agents.parquet, {out}/scenario.toml")
    return 0


def _parameters(args: argparse.Namespace) -> int:
    from pricewar.scenario.parameters import text_table

    print(text_table())
    print("\nposterior draws: a file x.draws.csv beside scenario x.toml, columns 'draw' (an id) "
          "and any of these names (not steps, n_consumers), one row per draw; --draws N runs "
          "over them (docs/outputs.md, 'Posterior draws')")
    return 0


def set_help() -> str:
    """The ``--set`` help: every flat parameter's name, from the declarations."""
    from pricewar.scenario.parameters import PARAMETERS

    return (f"flat override, repeatable (e.g. --set electricity_cn_west=0.03); KEY is one of: "
            f"{', '.join(PARAMETERS)} (ranges and units: pricewar parameters)")


def shipped_scenarios_text() -> str:
    """The shipped scenarios (pricewar/data/scenarios) with their descriptions, for help."""
    from pricewar.scenario import scenario_descriptions

    lines = ["\nshipped scenarios:"]
    for name, description in scenario_descriptions().items():
        lines += textwrap.wrap(description, 96, initial_indent=f"  {name:<12}",
                               subsequent_indent=" " * 14)
    return "\n".join(lines) + "\n"


def default_run_directory(scenario: str, seed: int) -> Path:
    """``runs/<scenario>-seed<k>`` (a scenario path contributes its file name without .toml)."""
    return Path("runs") / f"{Path(scenario).stem}-seed{seed}"


def missing_dependency_message(command: str, error: ImportError) -> str | None:
    """The one-line message for an ``ImportError`` raised while ``command`` runs: the missing
    package and the extra that installs it (``None`` when the import that failed is pricewar's
    own, a bug rather than a missing package)."""
    package = (error.name or "").partition(".")[0]
    if not package or package == "pricewar":
        return None
    extra = MODULE_COMMANDS[command][2] if command in MODULE_COMMANDS else None
    install = f"pip install 'pricewar[{extra}]'" if extra else "pip install pricewar"
    return f"'pricewar {command}' needs {package}, which is not installed: {install}"


def _module_main(module_name: str):
    """``func(args)`` importing ``module_name`` (and, in its ``main``, what it needs) only when
    its command runs."""
    return lambda args: importlib.import_module(module_name).main(args)


def _compare(args: argparse.Namespace) -> int:
    """``pricewar compare``: its module is in the run layer; ``--draws`` runs go through the
    sweep (a layer above it), whose runner is handed in here."""
    from pricewar.runs import compare_cli

    if args.draws is None:
        return compare_cli.main(args)
    from pricewar.sweep.draws import run_draws

    return compare_cli.main(args, run_draws=run_draws)


#: commands whose function is not their module's ``main`` alone
COMMAND_FUNCTIONS = {"compare": _compare}


def _verbosity_option(parser: argparse.ArgumentParser, default) -> None:
    parser.add_argument("-v", "--verbose", action="count", default=default,
                        help="log progress messages to stderr (-vv: debug messages)")


def build_parser() -> argparse.ArgumentParser:
    parser = cli_types.OneLineParser(
        prog="pricewar", description="Agent-based model of the AI token price war.",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"pricewar {__version__}")
    _verbosity_option(parser, 0)
    # -v after the command too (`pricewar run baseline -v`); SUPPRESS keeps the value given first
    common = argparse.ArgumentParser(add_help=False)
    _verbosity_option(common, argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run one scenario and write Parquet outputs",
                         description="Run one scenario; write model.parquet, agents.parquet and "
                                     "the resolved scenario.toml; print a summary.",
                         epilog=RUN_EXAMPLES, help_tail=shipped_scenarios_text,
                         parents=[common],
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("scenario", help="a shipped scenario's name (listed below) or the path of "
                                      "a TOML file")
    run.add_argument("--steps", type=cli_types.steps, default=None,
                     help="steps (default: the scenario's)")
    run.add_argument("--seed", type=cli_types.seed, default=1,
                     help="seed of the model's random numbers; the same seed gives the same run "
                          "(default: 1)")
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help=set_help())
    run.add_argument("--out", default=None,
                     help="output directory (default: runs/<scenario>-seed<seed>)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=_run)

    demo = sub.add_parser("demo", help="solve the Calvano et al. (2020) logit duopoly",
                          parents=[common])
    demo.set_defaults(func=_demo)

    parameters = sub.add_parser(
        "parameters", help="list the flat parameters --set and sweeps take (range, unit)",
        description="Every flat parameter: name, type, allowed range, unit and meaning (the "
                    "table of docs/parameters.md).", parents=[common])
    parameters.set_defaults(func=_parameters)

    for name, (module_name, help_text, _extra) in MODULE_COMMANDS.items():
        module = importlib.import_module(module_name)
        command = sub.add_parser(name, help=help_text, parents=[common],
                                 description=(module.__doc__ or help_text).split("\n\n")[0].replace("``", ""),
                                 epilog=getattr(module, "EXAMPLES", None),
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(command)
        command.set_defaults(func=COMMAND_FUNCTIONS.get(name) or _module_main(module_name))
    return parser


def configure_logging(verbose: int) -> None:
    """Warnings only by default; ``-v`` adds pricewar's progress messages, ``-vv`` debug."""
    level = (logging.WARNING, logging.INFO)[verbose] if verbose < 2 else logging.DEBUG
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pricewar").setLevel(level)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.verbose)
    progress_bars_lock_threads_only()  # a killed command leaves no "leaked semaphore" warning
    try:
        return int(args.func(args) or 0)
    except PricewarError as error:
        print(f"pricewar: error: {error}", file=sys.stderr)
        return 2
    except ImportError as error:
        message = missing_dependency_message(args.command, error)
        if message is None:
            raise
        print(f"pricewar: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pricewar: interrupted", file=sys.stderr)
        return 130


def entry() -> None:
    """The ``pricewar`` command: :func:`main`, then exit with its status. Once main has returned
    everything is stored, so a Ctrl-C arriving while the interpreter shuts down (closing worker
    pools, flushing files) is ignored rather than killing the process with SIGINT over the
    status main chose (an exit status that did not match what is on disk)."""
    code = main()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)


if __name__ == "__main__":
    entry()
