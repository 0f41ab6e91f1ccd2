"""The bounds of every input: how large a run, a sweep or a seed may be, and why.

Every limit here is checked where the input enters (command-line flags, scenario files, flat
overrides, sweep specs), before anything runs or is written, with one
:class:`~pricewar.errors.LocatedInputError` naming the file or flag, the key, the value and the
allowed range. The limits are generous for science and small enough that a typo (``1e9``
producers, ``1e308`` steps) fails at once instead of running for hours or overflowing.

This module imports nothing but the error classes, so the command line can use it for ``--help``.
"""

from __future__ import annotations

import math
import operator

from pricewar.errors import LocatedInputError

#: 100 years of weekly steps: the model's exogenous trends (efficiency, demand growth) compound
#: per step, far beyond any calibrated horizon.
MAX_STEPS = 5_200

#: seeds are stored as int64 (sweep result files) and numpy wants them non-negative
MAX_SEED = 2**63 - 1

#: agents: the market has one route per consumer x platform x listed producer, so run time and
#: memory grow with their product (the baseline: 50 producers, 10 platforms, 2,000 consumers,
#: ~50,000 routes, ~0.05 s per step)
MAX_PRODUCERS = 10_000
MAX_PLATFORMS = 1_000
MAX_CONSUMERS = 100_000
#: routes (consumers x platforms per consumer x listings): ~4 s per step and ~1 GB at the limit
MAX_ROUTES = 4_000_000

#: the largest magnitude of any number in a scenario without a stated range of its own: far
#: above every calibrated figure (the largest, a latency tolerance of 3.6e6 ms) and far enough
#: below the float range that products and sums of such numbers stay finite
MAX_MAGNITUDE = 1e12

#: demand growth compounded over a run: ``(1 + growth_per_step) ** steps`` must stay within
#: ``[1 / MAX_DEMAND_FACTOR, MAX_DEMAND_FACTOR]`` (beyond it volumes leave the float range)
MAX_DEMAND_FACTOR = 1e50

#: scenario and spec files (TOML): the resolved baseline scenario is ~20 kB
MAX_INPUT_BYTES = 16 * 2**20
#: deepest nesting of tables and arrays in a scenario, spec or data TOML file (the shipped files
#: nest at most 4 levels)
MAX_TOML_DEPTH = 64
#: longest chain of ``base = ...`` files behind one scenario file
MAX_BASE_CHAIN = 32

#: sweep designs: points (before seeds) and runs (points x seeds)
MAX_DESIGN_POINTS = 20_000
MAX_SWEEP_RUNS = 100_000

#: local worker processes of a sweep
MAX_WORKERS = 1_024

#: TCP ports
MIN_PORT, MAX_PORT = 1, 65_535


def check_int(source: str, key: str, value: object, low: int, high: int) -> int:
    """``value`` as an int in ``[low, high]`` (a bool, a fraction or anything else is refused).

    Raises :class:`~pricewar.errors.LocatedInputError` naming ``source``, ``key``, the value and
    the range.
    """
    number = value
    if isinstance(number, float) and math.isfinite(number) and number.is_integer():
        number = int(number)
    try:
        if isinstance(number, bool):
            raise TypeError(number)
        number = operator.index(number)  # int, numpy integers
    except TypeError:
        raise LocatedInputError(source, key, value,
                                f"expected an integer in [{low:,}, {high:,}]") from None
    if not low <= number <= high:
        raise LocatedInputError(source, key, value, f"must be in [{low:,}, {high:,}]")
    return number


def check_seed(source: str, key: str, seed: object) -> int:
    """A seed: an integer in ``[0, 2**63 - 1]``."""
    try:
        return check_int(source, key, seed, 0, MAX_SEED)
    except LocatedInputError as error:
        problem = error.problem.replace(f"{MAX_SEED:,}", "2**63 - 1")
        raise LocatedInputError(source, key, seed, f"{problem} (a numpy seed)") from None
