"""Command-line interface: ``pricewar <command>`` (the CLI is the only place that prints).

Commands: ``run`` (one scenario run to Parquet), ``demo`` (the Calvano duopoly), and, provided by
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
import sys
from pathlib import Path

from pricewar.errors import PricewarError

#: commands implemented in other modules: name -> (module, help, optional extra they need)
MODULE_COMMANDS = {
    "sweep": ("pricewar.sweep.cli", "run a parameter sweep from a TOML spec (local or Dask)",
              "sweep"),
    "viz": ("pricewar.viz.server", "start the browser visualization (SolaraViz)", "viz"),
    "figures": ("pricewar.studies.regenerate", "regenerate every figure of experiments/", None),
    "calibrate": ("pricewar.calibrate.cli",
                  "estimate parameters from observed targets (ABC over a prior sweep)",
                  "sweep"),  # the extra only for --scheduler (Dask); the default needs none
}


def _demo(args: argparse.Namespace) -> int:
    from pricewar.kernel import logit_bertrand_nash, logit_joint_monopoly

    nash = logit_bertrand_nash([2.0, 2.0], [1.0, 1.0], mu=0.25)
    monopoly = logit_joint_monopoly([2.0, 2.0], [1.0, 1.0], mu=0.25)
    print("Calvano et al. (2020) baseline logit duopoly: a=(2,2), c=(1,1), mu=0.25, a0=0")
    print(f"  Bertrand-Nash price  {nash[0]:.4f}  (paper: 1.4729)")
    print(f"  joint-monopoly price {monopoly[0]:.4f}  (paper: 1.9250)")
    return 0


def parse_sets(pairs: list[str]) -> dict:
    """``["key=value", ...]`` -> typed overrides (raises ScenarioError on a bad key or value)."""
    from pricewar.errors import ScenarioError
    from pricewar.scenario import parse_override_value

    overrides = {}
    for pair in pairs:
        if "=" not in pair:
            raise ScenarioError("--set", pair, pair, "expected key=value")
        key, value = pair.split("=", 1)
        overrides[key.strip()] = parse_override_value(key.strip(), value.strip())
    return overrides


def _run(args: argparse.Namespace) -> int:
    from pricewar.studies.runner import run_to_directory

    overrides = parse_sets(args.set)
    summary = run_to_directory(args.scenario, out=Path(args.out), steps=args.steps,
                               seed=args.seed, overrides=overrides, progress=not args.quiet)
    print(summary.to_string())
    print(f"\nwrote {args.out}/model.parquet, {args.out}/agents.parquet, "
          f"{args.out}/scenario.toml")
    return 0


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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pricewar", description="AI token price war ABM")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run one scenario and write Parquet outputs")
    run.add_argument("scenario", help="scenario name (baseline, parity) or path to a TOML file")
    run.add_argument("--steps", type=int, default=None, help="steps (default: the scenario's)")
    run.add_argument("--seed", type=int, default=1)
    run.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                     help="flat override, repeatable (e.g. --set electricity_cn_west=0.03)")
    run.add_argument("--out", required=True, help="output directory")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(func=_run)

    demo = sub.add_parser("demo", help="solve the Calvano et al. (2020) logit duopoly")
    demo.set_defaults(func=_demo)

    for name, (module_name, help_text, _extra) in MODULE_COMMANDS.items():
        command = sub.add_parser(name, help=help_text)
        importlib.import_module(module_name).add_arguments(command)
        command.set_defaults(func=_module_main(module_name))
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main())
