"""``pricewar figures``: regenerate every figure of ``experiments/`` (and the scripts' shared
command line).

Each experiment (:data:`pricewar.studies.catalogue.EXPERIMENTS`) writes ``<out>/<name>.png``, ``.svg``
and ``.csv``; this module runs them in-process and prints each one's headline numbers as JSON.
The scripts ``experiments/<name>.py`` call :func:`script_main` with their own name.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pricewar.studies.catalogue import EXPERIMENTS, run_experiment

if TYPE_CHECKING:
    from pricewar.studies.harness import ExperimentResult


def _common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true",
                        help="few points, steps and seeds, 500 consumers (seconds; used by tests)")
    parser.add_argument("--out", type=Path, default=Path("figures"),
                        help="output directory (default: figures/)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="model seeds (default: the experiment's, fewer in --quick)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``pricewar figures``."""
    _common_arguments(parser)
    parser.add_argument("--only", nargs="+", choices=sorted(EXPERIMENTS), default=None,
                        metavar="NAME", help=f"run only these ({', '.join(EXPERIMENTS)})")


def _report(result: ExperimentResult, seconds: float) -> None:
    files = ", ".join(str(p) for p in result.files)
    print(f"{result.name}: {seconds:.1f} s, wrote {files}")


def main(args: argparse.Namespace) -> int:
    """Run every experiment (or ``--only`` some) and print one JSON object of headlines."""
    names = args.only or list(EXPERIMENTS)
    headlines = {}
    for name in names:
        start = time.perf_counter()
        result = run_experiment(name, args.out, quick=args.quick, seeds=args.seeds,
                                progress=not args.no_progress)
        _report(result, time.perf_counter() - start)
        headlines[name] = result.headline
    print(json.dumps(headlines))
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
    start = time.perf_counter()
    result = run_experiment(name, args.out, quick=args.quick, seeds=args.seeds,
                            progress=not args.no_progress)
    _report(result, time.perf_counter() - start)
    print(json.dumps(result.headline))
    return 0
