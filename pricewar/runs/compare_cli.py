"""``pricewar compare A B``: the headline metrics of two scenarios or run folders, and their
differences, as a table (printed and written as CSV) and a figure.

A and B are each a scenario (a shipped name or a TOML path, run at every ``--seeds``) or an output
folder of ``pricewar run`` (or a folder of such folders, one per seed). With several seeds the
figure shows seed bands (min-max) and the differences are paired by seed.

``--draws N`` runs each scenario side over the first N posterior draws of its draws file
(:mod:`pricewar.scenario.draws`) x every seed, the same ``(draw, seed)`` pairs on both sides
(common random numbers), as a resumable sweep per side (``OUT/sweep-A``, ``OUT/sweep-B``;
``--workers`` local processes); the table gives per metric the median and 90% interval of A, B,
the paired difference B - A and the paired relative difference, ``compare_pairs.csv`` every
pair's values, and the figure bands of median and 90% interval. The sweeps live one layer above
this module, so the command line hands their runner in (``run_draws``).

This module imports nothing heavy at module level (``pricewar --help`` stays fast);
:mod:`pricewar.runs.comparison` does the work.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from pricewar import cli_types

EXAMPLES = """examples:
  pricewar compare baseline parity                    # seed 1, 156 steps each
  pricewar compare baseline parity --seeds 1 2 3 --steps 52
  pricewar compare baseline baseline --set-b electricity_cn_west=0.03
  pricewar compare runs/baseline-seed1 runs/parity-seed1   # outputs of pricewar run
  pricewar compare baseline baseline --set-b carbon_price_usd_per_t=50 --draws 20 --seeds 1 2 \
      --workers 2                                     # a policy's effect over posterior draws
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``pricewar compare``."""
    parser.add_argument("a", metavar="A", help="scenario name, .toml path or run folder")
    parser.add_argument("b", metavar="B", help="scenario name, .toml path or run folder")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1],
                        help="seeds to run each scenario with (several: seed bands; default: 1)")
    parser.add_argument("--steps", type=int, default=None,
                        help="steps per scenario run (default: the scenario's)")
    for flag, side in (("--set", "both sides"), ("--set-a", "A"), ("--set-b", "B")):
        parser.add_argument(flag, action="append", default=[], metavar="KEY=VALUE",
                            help=f"flat override for {side}, repeatable (scenarios only)")
    parser.add_argument("--out", default=None,
                        help="output folder (default: runs/compare-<A>-vs-<B>)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--draws", type=cli_types.bounded_int(1, 100_000), default=None,
                        metavar="N",
                        help="run each scenario over the first N posterior draws of its draws "
                             "file x every seed, the same draws and seeds on both sides; report "
                             "medians and 90%% intervals (scenarios only)")
    parser.add_argument("--workers", type=cli_types.workers, default=1,
                        help="local worker processes for --draws runs (default: 1)")


def main(args: argparse.Namespace, run_draws: Callable | None = None) -> int:
    """``pricewar compare``; ``run_draws`` (:func:`pricewar.sweep.draws.run_draws`, handed in
    by :mod:`pricewar.cli`) runs the sides of ``--draws``."""
    if getattr(args, "draws", None) is not None:
        return _main_over_draws(args, run_draws)
    if getattr(args, "workers", 1) != 1:
        from pricewar.errors import PricewarError

        raise PricewarError("compare: --workers runs the runs of --draws; without --draws "
                            "each side runs in this process")
    from pricewar.atomic_writes import check_output_dir
    from pricewar.runs import comparison
    from pricewar.scenario import parse_override_pairs

    out = args.out or Path("runs") / f"compare-{Path(args.a).stem}-vs-{Path(args.b).stem}"
    out = check_output_dir(out)  # before running either side
    both = parse_override_pairs(args.set)
    sides = []
    for spec, extra in ((args.a, args.set_a), (args.b, args.set_b)):
        overrides = {**both, **parse_override_pairs(extra)}
        sides.append(comparison.load_side(spec, args.seeds, args.steps, overrides,
                                          progress=not args.quiet))
    a, b = sides
    table = comparison.difference_table(a, b)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "compare.csv", float_format="%.12g")
    files = comparison.plot_comparison(a, b, table, out)
    label_a, label_b = comparison.distinct_labels(a, b)
    print(f"{label_a}  vs  {label_b}, step {table.attrs['step']}, seeds A {a.seeds} B {b.seeds}")
    print(table.to_string(na_rep="-", float_format=lambda x: f"{x:.6g}"))
    print(f"\nwrote {out / 'compare.csv'}, {', '.join(str(f) for f in files)}")
    return 0


def _main_over_draws(args: argparse.Namespace, run_draws: Callable | None) -> int:
    """``--draws N``: both sides over the same N draws x seeds; checks everything (sides are
    scenarios, draws files exist, are valid and pair up) before the first run."""
    from pricewar.atomic_writes import check_output_dir
    from pricewar.errors import PricewarError
    from pricewar.runs import comparison
    from pricewar.scenario import load_scenario, parse_override_pairs
    from pricewar.scenario.draws import load_draws

    if run_draws is None:
        raise PricewarError("compare --draws: no runner of draws given (run it as "
                            "`pricewar compare`)")
    out = args.out or Path("runs") / f"compare-{Path(args.a).stem}-vs-{Path(args.b).stem}"
    out = check_output_dir(out)
    both = parse_override_pairs(args.set)
    plans = []
    for side, spec, extra in (("A", args.a, args.set_a), ("B", args.b, args.set_b)):
        if not str(spec).strip() or Path(spec).is_dir():
            raise PricewarError(f"compare --draws: side {side} ({spec!r}) is not a scenario: "
                                f"--draws runs scenarios (a shipped name or a .toml path), not "
                                f"run folders")
        overrides = {**both, **parse_override_pairs(extra)}
        plans.append((spec, overrides, load_draws(spec, args.draws)))
    ids = [tuple(draws.ids) for _, _, draws in plans]
    if ids[0] != ids[1]:
        raise PricewarError(f"compare --draws: the sides' first {args.draws} draws have "
                            f"different ids ({plans[0][2].path}: {list(ids[0][:5])}; "
                            f"{plans[1][2].path}: {list(ids[1][:5])}): paired differences "
                            f"need common draws")
    if plans[0][2].overrides != plans[1][2].overrides:
        print(f"note: A and B draw from different posteriors ({plans[0][2].path}, "
              f"{plans[1][2].path}): pairs share draw ids and seeds, not parameter values")
    sides = []
    for side, (spec, overrides, draws) in zip("AB", plans, strict=True):
        print(f"{side}: {spec}, {len(draws)} draws of {draws.path} x seeds "
              f"{' '.join(map(str, args.seeds))} -> {out / f'sweep-{side}'}")
        frames = run_draws(spec, draws.first(len(draws)), args.seeds, out / f"sweep-{side}",
                           steps=args.steps, fixed=overrides, workers=args.workers,
                           progress=not args.quiet, name=f"compare-{side}")
        sides.append(comparison.draw_side(load_scenario(spec).name, frames, str(draws.path),
                                          overrides, spec=spec))
    a, b = sides
    pairs = comparison.pair_table(a, b)
    table = comparison.draw_difference_table(pairs)
    pairs.to_csv(out / "compare_pairs.csv", index=False, float_format="%.12g")
    table.to_csv(out / "compare.csv", float_format="%.12g")
    files = comparison.plot_comparison(a, b, table, out)
    label_a, label_b = comparison.distinct_labels(a, b)
    print(f"{label_a}  vs  {label_b}, step {table.attrs['step']}, median and 90% interval over "
          f"{len(a.draw_ids)} draws x {len(a.seeds)} seeds (paired: the same draw and seed on "
          f"both sides)")
    print(table.to_string(na_rep="-", float_format=lambda x: f"{x:.4g}"))
    print(f"\nwrote {out / 'compare.csv'}, {out / 'compare_pairs.csv'}, "
          f"{', '.join(str(f) for f in files)}")
    return 0
