"""``pricewar compare A B``: the headline metrics of two scenarios or run folders, and their
differences, as a table (printed and written as CSV) and a figure.

A and B are each a scenario (a shipped name or a TOML path, run at every ``--seeds``) or an output
folder of ``pricewar run`` (or a folder of such folders, one per seed). With several seeds the
figure shows seed bands (min-max) and the differences are paired by seed. This module imports
nothing heavy at module level (``pricewar --help`` stays fast);
:mod:`pricewar.runs.comparison` does the work.
"""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLES = """examples:
  pricewar compare baseline parity                    # seed 1, 156 steps each
  pricewar compare baseline parity --seeds 1 2 3 --steps 52
  pricewar compare baseline baseline --set-b electricity_cn_west=0.03
  pricewar compare runs/baseline-seed1 runs/parity-seed1   # outputs of pricewar run
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


def main(args: argparse.Namespace) -> int:
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
