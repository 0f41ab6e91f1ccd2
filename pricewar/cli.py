"""Command-line interface: ``pricewar <command>`` (the CLI is the only place that prints)."""

from __future__ import annotations

import argparse
import sys

from pricewar.errors import PricewarError


def _demo(args: argparse.Namespace) -> int:
    from pricewar.kernel import logit_bertrand_nash, logit_joint_monopoly

    nash = logit_bertrand_nash([2.0, 2.0], [1.0, 1.0], mu=0.25)
    monopoly = logit_joint_monopoly([2.0, 2.0], [1.0, 1.0], mu=0.25)
    print("Calvano et al. (2020) baseline logit duopoly: a=(2,2), c=(1,1), mu=0.25, a0=0")
    print(f"  Bertrand-Nash price  {nash[0]:.4f}  (paper: 1.4729)")
    print(f"  joint-monopoly price {monopoly[0]:.4f}  (paper: 1.9250)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pricewar", description="AI token price war ABM")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="solve the Calvano et al. (2020) logit duopoly")
    demo.set_defaults(func=_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except PricewarError as error:
        print(f"pricewar: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
