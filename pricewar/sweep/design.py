"""Experimental designs of a sweep: swept parameters and the design points they span.

``grid`` (the Cartesian product of every parameter's values), ``points`` (explicit points: point
``i`` takes every parameter's ``i``-th value, optionally with its own seed), ``random`` (uniform
samples), ``lhs`` (scipy.stats.qmc Latin hypercube) and ``sobol`` (SALib's Saltelli/Sobol
sequence) over flat overrides; :mod:`pricewar.sweep.spec` reads and validates them from a spec's
``[design]``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pricewar.errors import ScenarioError
from pricewar.model.scenario_strategies import resolve_strategies

DESIGN_KINDS = ("grid", "points", "random", "lhs", "sobol")


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

    def size(self) -> int:
        """The number of design points (without building them)."""
        if self.kind == "grid":
            return math.prod(len(p.values) for p in self.parameters)
        if self.kind == "points":
            return len(self.parameters[0].values)
        if self.kind == "sobol":
            d = len(self.parameters)
            return self.samples * (2 * d + 2 if self.calc_second_order else d + 2)
        return self.samples

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


def first_invalid_point(design: Design, base, fixed: dict):
    """The first design point the validator of a single run (``Scenario.with_overrides`` and
    :func:`~pricewar.model.scenario_strategies.resolve_strategies`) rejects, as ``(key path, shown value, ScenarioError)``, or None.

    Each scenario check bounds one field to an interval or is monotone in the values (sizes,
    compounded growth), and each override sets its own fields: so a parameter's extreme values
    (every value of a categorical one) with the others at the scenario's, then the corners of all
    lowest and all highest values, cover every point without building each of them.
    """
    def invalid(values: dict) -> ScenarioError | None:
        try:
            resolve_strategies(base.with_overrides(**fixed, **values))
        except ScenarioError as error:
            return error
        return None

    corners: tuple[dict, dict] = ({}, {})
    for p in design.parameters:
        key = f"design.parameters.{p.name}"
        if p.values is not None:
            candidates = ([(f"{key}.values[{i}]", v) for i, v in enumerate(p.values)]
                          if p.kind == "str" else
                          [(f"{key}.values[{p.values.index(v)}]", v)
                           for v in (min(p.values), max(p.values))])
        else:
            candidates = [(f"{key}.low", p.low), (f"{key}.high", p.high)]
        for where, value in candidates:
            error = invalid({p.name: value})
            if error is not None:
                return where, value, error
        corners[0][p.name] = candidates[0][1]
        corners[1][p.name] = candidates[-1][1]
    for corner in corners:
        if len(corner) > 1:
            error = invalid(corner)
            if error is not None:
                return "design.parameters", corner, error
    return None
