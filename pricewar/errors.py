"""The package's exception hierarchy: one base class, one subclass per kind of failure."""

from __future__ import annotations


class PricewarError(Exception):
    """Base class of every error raised on purpose by pricewar."""


class KernelInputError(PricewarError, ValueError):
    """Bad arrays or parameters handed to the pricing kernel (names the argument and value)."""


class ConvergenceError(PricewarError, RuntimeError):
    """An iterative solver stopped before reaching its tolerance.

    Attributes
    ----------
    residual : float
        The largest relative price change in the last iteration.
    iterations : int
        Iterations performed.
    """

    def __init__(self, message: str, residual: float, iterations: int):
        super().__init__(message)
        self.residual = residual
        self.iterations = iterations


class LocatedInputError(PricewarError, ValueError):
    """Bad input found at a key path of a file or object: says where, what, and why.

    Attributes
    ----------
    source : the file (or "overrides", "--set", ...)
    key_path : dotted path of the bad key, e.g. ``regions.us.electricity_usd_per_kwh``
    value : the offending value
    problem : what is wrong with it
    """

    def __init__(self, source: str, key_path: str, value: object, problem: str):
        self.source = source
        self.key_path = key_path
        self.value = value
        self.problem = problem
        super().__init__(f"{source}: {key_path} = {value!r}: {problem}")


class ScenarioError(LocatedInputError):
    """An invalid scenario file, object or override (names file, key path and value)."""
