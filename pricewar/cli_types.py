"""Command-line flag types: each flag's value is parsed and bounded when argparse reads it.

A bad value ends the command at once, before anything runs or is written, with one line
naming the flag, the value and the allowed range (exit code 2)::

    pricewar run: error: argument --seed: -1: must be in [0, 9,223,372,036,854,775,807]

The bounds are those of :mod:`pricewar.limits`. Imports nothing heavy (``pricewar --help``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from pricewar import limits


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (like every other pricewar error): the
    usage text is one ``--help`` away. ``help_tail()`` (optional) adds text after the help,
    computed only when the help is shown (so building the parser imports nothing for it)."""

    def __init__(self, *args, help_tail: Callable[[], str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.help_tail = help_tail

    def format_help(self) -> str:
        text = super().format_help()
        return text + self.help_tail() if self.help_tail is not None else text

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def bounded_int(low: int, high: int, what: str = ""):
    """An argparse ``type``: an integer literal in ``[low, high]``."""
    allowed = f"[{low:,}, {high:,}]{what}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected an integer in {allowed}") \
                from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value}: must be in {allowed}")
        return value

    parse.__name__ = f"integer in {allowed}"
    return parse


steps = bounded_int(1, limits.MAX_STEPS)
seed = bounded_int(0, limits.MAX_SEED, " (a numpy seed)")
port = bounded_int(limits.MIN_PORT, limits.MAX_PORT)
workers = bounded_int(1, limits.MAX_WORKERS)
max_runs = bounded_int(0, limits.MAX_SWEEP_RUNS)
