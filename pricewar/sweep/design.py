"""Experimental designs of a sweep: the swept parameters and the design points they make.

Built and validated from a spec's ``[design]`` table by :mod:`pricewar.sweep.spec`; the kinds
(``grid``, ``points``, ``random``, ``lhs``, ``sobol``) are described there.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Parameter:
    """One swept override: explicit ``values`` (grid, categorical) or ``[low, high]`` bounds."""

    name: str
    kind: str  # "float", "int" or "str": the override's type
    values: tuple | None = None
    low: float | None = None
    high: float | None = None

    def from_unit(self, u: np.ndarray) -> list:
        """Map uniform samples in [0, 1) to parameter values (ints and categories uniformly)."""
        if self.values is not None:
            index = np.minimum((u * len(self.values)).astype(int), len(self.values) - 1)
            return [self.values[i] for i in index]
        if self.kind == "int":
            span = int(self.high) - int(self.low) + 1
            return [int(v) for v in np.minimum(int(self.low) + np.floor(u * span),
                                               int(self.high))]
        return [float(v) for v in self.low + u * (self.high - self.low)]

    def to_dict(self) -> dict:
        if self.values is not None:
            return {"values": list(self.values)}
        return {"low": self.low, "high": self.high}


@dataclass(frozen=True)
class Design:
    """How design points are chosen (see module docstring)."""

    kind: str
    parameters: tuple[Parameter, ...]
    samples: int | None = None
    seed: int = 0
    calc_second_order: bool = False
    seeds: tuple[int, ...] | None = None  # points: point i runs once, with seeds[i]

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    def salib_problem(self) -> dict:
        """The SALib problem dict (sobol designs)."""
        return {"num_vars": len(self.parameters), "names": self.names,
                "bounds": [[p.low, p.high] for p in self.parameters]}

    def points(self) -> pd.DataFrame:
        """The design table: one row per design point (column ``point``, then one per parameter).

        Grid: the Cartesian product in parameter order (the last parameter varies fastest);
        points: the ``i``-th value of every parameter.
        """
        if self.kind == "grid":
            rows = list(itertools.product(*(p.values for p in self.parameters)))
            columns = {p.name: [row[i] for row in rows] for i, p in enumerate(self.parameters)}
        elif self.kind == "points":
            columns = {p.name: list(p.values) for p in self.parameters}
        else:
            unit = self._unit_sample()
            columns = {p.name: p.from_unit(unit[:, i]) for i, p in enumerate(self.parameters)}
        frame = pd.DataFrame(columns)
        frame.insert(0, "point", np.arange(len(frame), dtype=np.int64))
        return frame

    def _unit_sample(self) -> np.ndarray:
        d = len(self.parameters)
        if self.kind == "random":
            return np.random.default_rng(self.seed).random((self.samples, d))
        if self.kind == "lhs":
            from scipy.stats import qmc

            return qmc.LatinHypercube(d=d, rng=np.random.default_rng(self.seed)).random(
                self.samples)
        from SALib.sample import sobol as saltelli

        unit_problem = {"num_vars": d, "names": self.names, "bounds": [[0.0, 1.0]] * d}
        return saltelli.sample(unit_problem, self.samples,
                               calc_second_order=self.calc_second_order, seed=self.seed)

    def to_dict(self) -> dict:
        data: dict[str, Any] = {"kind": self.kind}
        if self.kind not in ("grid", "points"):
            data.update(samples=self.samples, seed=self.seed)
        if self.kind == "sobol":
            data["calc_second_order"] = self.calc_second_order
        data["parameters"] = {p.name: p.to_dict() for p in self.parameters}
        if self.seeds is not None:
            data["seeds"] = list(self.seeds)
        return data
