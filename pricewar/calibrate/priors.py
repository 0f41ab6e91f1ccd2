"""Priors over flat overrides: uniform or log-uniform boxes, and the maps the estimation uses.

A prior is a box ``[low, high]`` on one float override, uniform in the value or in its logarithm.
Three coordinates of a value ``x`` appear in the calibration:

- the *value* itself (what a run gets as an override);
- the *unit* coordinate ``u`` in [0, 1]: ``(x - low) / (high - low)``, or the same in ``log x``.
  The prior is uniform in ``u``, so prior draws are a Latin hypercube in the unit cube;
- the *free* coordinate ``z = logit(u)`` on the real line. The regression adjustment of the ABC
  works in ``z`` (Beaumont, Zhang & Balding 2002, §"Transformations"), so adjusted draws map back
  inside the prior box whatever the size of the adjustment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logit

PRIOR_KINDS = ("uniform", "log-uniform")

#: unit coordinates are clipped to [EPS, 1 - EPS] before the logit (a draw on the box's edge)
EPS = 1e-9


@dataclass(frozen=True)
class Prior:
    """A uniform or log-uniform prior on the override ``name`` over ``[low, high]``."""

    name: str
    low: float
    high: float
    kind: str = "uniform"

    def _scaled(self, x):
        return np.log(x) if self.kind == "log-uniform" else np.asarray(x, float)

    def _unscaled(self, y):
        return np.exp(y) if self.kind == "log-uniform" else y

    @property
    def _bounds(self) -> tuple[float, float]:
        if self.kind == "log-uniform":
            return math.log(self.low), math.log(self.high)
        return self.low, self.high

    def to_unit(self, x) -> np.ndarray:
        """Values -> unit coordinates in [0, 1] (the prior is uniform there)."""
        lo, hi = self._bounds
        return (self._scaled(np.asarray(x, float)) - lo) / (hi - lo)

    def from_unit(self, u) -> np.ndarray:
        """Unit coordinates -> values, clipped into ``[low, high]`` against rounding."""
        lo, hi = self._bounds
        x = self._unscaled(lo + np.asarray(u, float) * (hi - lo))
        return np.clip(x, self.low, self.high)

    def to_free(self, x) -> np.ndarray:
        """Values -> free coordinates ``logit(u)`` on the real line."""
        return logit(np.clip(self.to_unit(x), EPS, 1 - EPS))

    def from_free(self, z) -> np.ndarray:
        """Free coordinates -> values inside the box (inverse of :meth:`to_free`)."""
        return self.from_unit(expit(np.asarray(z, float)))

    def quantiles(self, q) -> np.ndarray:
        """Prior quantiles (the unit coordinate is the prior's CDF)."""
        return self.from_unit(q)

    def describe(self) -> str:
        return f"{self.kind} [{self.low:g}, {self.high:g}]"


def unit_design(n: int, d: int, seed: int) -> np.ndarray:
    """``n`` points of a Latin hypercube in ``[0, 1)^d`` (scipy.stats.qmc), shape (n, d).

    A Latin hypercube stratifies every margin, so each parameter's prior is covered evenly even
    with few simulations.
    """
    from scipy.stats import qmc

    return qmc.LatinHypercube(d=d, rng=np.random.default_rng(seed)).random(n)


def to_free_matrix(priors, values: np.ndarray) -> np.ndarray:
    """Columns of values (n, d) -> free coordinates (n, d)."""
    values = np.asarray(values, float).reshape(len(values), len(priors))
    return np.column_stack([p.to_free(values[:, j]) for j, p in enumerate(priors)])


def from_free_matrix(priors, free: np.ndarray) -> np.ndarray:
    """Free coordinates (n, d) -> values (n, d)."""
    free = np.asarray(free, float).reshape(len(free), len(priors))
    return np.column_stack([p.from_free(free[:, j]) for j, p in enumerate(priors)])
