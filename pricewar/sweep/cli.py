"""``pricewar sweep SPEC.toml --out DIR [--workers N] [--scheduler ADDRESS]``.

Imports nothing heavy at module level (``pricewar --help`` reads :func:`add_arguments`);
:func:`main` imports the sweep engine.
"""

from __future__ import annotations

import argparse
import logging
import os

from pricewar import cli_types

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------
# CLI: pricewar sweep SPEC.toml --out DIR [--workers N] [--scheduler ADDRESS]
# ------------------------------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", nargs="?", help="sweep spec (TOML)")
    parser.add_argument("--out", help="output directory (resumes if it holds this sweep)")
    parser.add_argument("--workers", type=cli_types.workers, default=os.cpu_count() or 1,
                        help="local worker processes (default: CPU count; 1 = in-process)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run on an existing Dask cluster, e.g. tcp://10.0.0.5:8786")
    parser.add_argument("--retry-failed", action="store_true", help="run failed runs again")
    parser.add_argument("--max-runs", type=cli_types.max_runs, default=None, metavar="N",
                        help="stop after N runs (resume later with the same command)")
    parser.add_argument("--status", metavar="DIR",
                        help="report done/failed/remaining of DIR (rejected result files are "
                             "moved into DIR/quarantine/ and run again on resume)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def main(args: argparse.Namespace) -> int:
    from pricewar.sweep.engine import run_sweep
    from pricewar.sweep.spec import SpecError, load_spec
    from pricewar.sweep.store import sweep_status

    if args.status:  # moves rejected result files into DIR/quarantine/, as a resume would
        status = sweep_status(args.status, repair=True)
        print(status)
        for rejection in status.rejected:
            print(f"  {rejection}")
        for run_id, seed, error in status.failures[:10]:
            print(f"  failed {run_id} (seed {seed}): {error}")
        if len(status.failures) > 10:
            print(f"  ... and {len(status.failures) - 10} more failed runs")
        return 0
    if not args.spec or not args.out:
        raise SpecError("command line", "spec/--out", args.spec,
                        "give a spec and --out DIR (or --status DIR)")
    spec = load_spec(args.spec)
    workers = args.workers
    where = f"Dask scheduler {args.scheduler}" if args.scheduler else f"{workers} local worker(s)"
    print(f"sweep {spec.name!r}: {len(spec.runs())} runs on {where} -> {args.out}")
    try:
        status = run_sweep(spec, args.out, workers=workers, scheduler=args.scheduler,
                           retry_failed=args.retry_failed, max_runs=args.max_runs,
                           progress=not args.quiet)
    except KeyboardInterrupt:
        print(f"interrupted: finished runs are saved in {args.out}; run the same command "
              "again to resume")
        return 130
    print(status)
    return 0
