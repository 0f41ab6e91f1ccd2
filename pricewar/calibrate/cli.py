"""``pricewar calibrate SPEC.toml --out DIR [--quick] [--workers N | --scheduler ADDRESS]
[--method abc|npe]``.

Imports nothing heavy at module level (``pricewar --help`` reads :func:`add_arguments`);
:func:`main` imports the calibration.
"""

from __future__ import annotations

import argparse
import os

from pricewar import cli_types


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", help="calibration spec (TOML; see docs/calibration.md)")
    parser.add_argument("--out", required=True,
                        help="output directory (running again resumes its sweeps)")
    parser.add_argument("--quick", action="store_true",
                        help="the spec's [quick] budget: fewer, smaller runs")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=cli_types.workers, default=os.cpu_count() or 1,
                       help="local worker processes (default: CPU count; 1 = in-process)")
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="run on an existing Dask cluster, e.g. tcp://10.0.0.5:8786")
    parser.add_argument("--method", choices=("abc", "npe"), default=None,
                        help="abc: rejection ABC with regression adjustment (default); npe: "
                             "neural posterior estimation (pip install 'pricewar[npe]')")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def main(args: argparse.Namespace) -> int:
    from pricewar.calibrate.pipeline import calibrate
    from pricewar.calibrate.spec import load_calibration_spec

    spec = load_calibration_spec(args.spec)
    budget, size = spec.mode(args.quick)
    workers = args.workers
    where = f"Dask scheduler {args.scheduler}" if args.scheduler else f"{workers} local worker(s)"
    method = args.method or spec.method
    print(f"calibrate {spec.name!r} ({method}{', quick' if args.quick else ''}): "
          f"{len(spec.parameters)} parameters, {len(spec.fit_targets)} fitted and "
          f"{len(spec.held_out_targets)} held-out targets; "
          f"{budget.simulations * budget.seeds_per_draw} prior runs of {spec.steps(args.quick)} "
          f"steps ({size}) on {where} -> {args.out}")
    try:
        result = calibrate(spec, args.out, quick=args.quick, workers=workers,
                           scheduler=args.scheduler, method=args.method,
                           progress=not args.quiet)
    except KeyboardInterrupt:
        print(f"interrupted: finished runs are saved in {args.out}; run the same command "
              "again to resume")
        return 130
    print("\nposterior (median, 90% interval; width = interval / prior interval):")
    for row in result.parameters.itertuples():
        print(f"  {row.parameter:28s} {row.median:10.4g}  [{row.q05:.4g}, {row.q95:.4g}]  "
              f"width {row.width_vs_prior:.2f}")
    print("\ntargets (observed vs posterior predictive 90%):")
    for row in result.checks.itertuples():
        status = "ok " if row.consistent else "OFF"
        print(f"  {status} {row.role:8s} {row.target:28s} observed {row.observed:.4g} "
              f"[{row.observed_low:.3g}, {row.observed_high:.3g}]  model "
              f"[{row.posterior_q05:.3g}, {row.posterior_q95:.3g}]  p = {row.p_value:.2f}")
    seconds = sum(result.summary["seconds"].values())
    print(f"\nwrote {args.out}/ (posterior.parquet, posterior_marginals.png, "
          f"posterior_predictive.png, held_out_checks.csv, calibrated.toml, summary.json) "
          f"in {seconds:.0f} s")
    return 0
