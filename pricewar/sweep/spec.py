"""Sweep specs and experimental designs: TOML spec -> frozen, validated dataclasses -> run table.

A sweep spec names a scenario, the number of steps, the seeds (replications), the outputs (model
metrics and the steps at which to record them), fixed overrides and a design over the model's flat
overrides (:data:`pricewar.scenario.OVERRIDES`)::

    name = "energy_gap"
    scenario = "baseline"          # shipped name or path (relative to the spec file)
    steps = 104
    seeds = [1, 2, 3]              # or: replications = 3  (seeds 1, 2, 3)

    [outputs]
    metrics = ["price_avg", "share_cn_west"]
    steps = ["mid", "final"]       # step numbers, or "mid" / "final"
    timeseries = false             # also keep every metric at every step

    [fixed]
    n_consumers = 1000

    [design]
    kind = "grid"                  # grid | points | random | lhs | sobol
    [design.parameters]
    electricity_cn_west = { values = [0.03, 0.05, 0.07] }
    export_control_penalty = { low = 0.0, high = 0.6, num = 4 }   # grid: evenly spaced

``points`` lists the design points: point ``i`` takes the ``i``-th of every parameter's
``values`` (repeats allowed), and with ``seeds = [...]`` (distinct, one per point) runs once with
the ``i``-th seed instead of every top-level seed (``pricewar calibrate``'s draws). ``random``, ``lhs`` (scipy.stats.qmc Latin hypercube) and ``sobol``
(SALib Saltelli/Sobol sequence) take ``samples`` (sobol: the base sample N, a power of two; the
design has N (D + 2) points, or N (2D + 2) with ``calc_second_order = true``), ``seed`` and per
parameter ``{low, high}`` bounds (``random`` and ``lhs`` also accept ``{values = [...]}`` for
categorical parameters). Integer overrides (``n_producers``, ...) are sampled uniformly over the
integers ``low..high``.

Validation happens once, in :func:`load_spec`, before anything runs: unknown keys, unknown
overrides or metrics, bad bounds or design kind, seeds outside ``[0, 2**63 - 1]``, designs larger
than :data:`pricewar.limits.MAX_DESIGN_POINTS` points or :data:`~pricewar.limits.MAX_SWEEP_RUNS`
runs, and design values that make the scenario invalid (a negative price, an unknown strategy:
the validator of a single run, :meth:`Scenario.with_overrides`) raise :class:`SpecError` naming
the file, the key and the value.

Run ids and the sweep's fingerprint hash the *resolved* scenario (its values, not its path), so a
scenario file edited between a sweep's start and its resume is a different sweep.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pricewar.errors import LocatedInputError, ScenarioError
from pricewar.limits import MAX_DESIGN_POINTS, MAX_STEPS, MAX_SWEEP_RUNS, check_seed
from pricewar.model.metrics import MODEL_METRICS
from pricewar.model.scenario_strategies import resolve_strategies
from pricewar.scenario import OVERRIDES, Scenario, load_scenario
from pricewar.scenario.data_files import read_toml
from pricewar.scenario.overrides import plain
from pricewar.scenario.parameters import PARAMETERS, check_range, check_value
from pricewar.sweep.design import DESIGN_KINDS, Design, Parameter, first_invalid_point

SPEC_KEYS = ("name", "description", "scenario", "steps", "seeds", "replications", "outputs",
             "fixed", "design")
OUTPUT_KEYS = ("metrics", "steps", "timeseries")
DESIGN_KEYS = ("kind", "samples", "seed", "calc_second_order", "parameters", "seeds")
PARAMETER_KEYS = ("values", "low", "high", "num")
#: overrides a sweep may not vary: the sweep's own ``steps`` sets the run length
RESERVED_OVERRIDES = ("steps",)


class SpecError(LocatedInputError):
    """An invalid sweep spec (names the file, the key path and the value)."""


# ------------------------------------------------------------------------------------------------
# dataclasses
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Outputs:
    """Model metrics recorded per run, at which steps, and whether to keep full time series."""

    metrics: tuple[str, ...]
    steps: tuple[int, ...]
    timeseries: bool = False

    @property
    def columns(self) -> list[str]:
        """Result column names, ``metric@step`` (e.g. ``price_avg@156``)."""
        return [f"{m}@{s}" for m in self.metrics for s in self.steps]


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep. Build with :func:`load_spec`."""

    name: str
    scenario: str
    steps: int
    seeds: tuple[int, ...]
    outputs: Outputs
    design: Design
    fixed: tuple[tuple[str, Any], ...] = ()
    description: str = ""
    source: str = field(default="<dict>", compare=False)
    #: the scenario resolved at load time (a path is resolved relative to the spec file)
    base_scenario: Scenario | None = field(default=None, compare=False, repr=False)

    @property
    def fixed_overrides(self) -> dict[str, Any]:
        return dict(self.fixed)

    @property
    def scenario_digest(self) -> str:
        """SHA-256 of the resolved scenario's values (what the runs use, wherever it was read)."""
        cached = self.__dict__.get("_scenario_digest")
        if cached is None:
            base = self.base_scenario or resolve_strategies(load_scenario(self.scenario))
            cached = scenario_digest(base)
            object.__setattr__(self, "_scenario_digest", cached)
        return cached

    def to_dict(self) -> dict:
        """Canonical TOML-shaped dict; :func:`load_spec` of it gives back an equal spec."""
        return {"name": self.name, "description": self.description, "scenario": self.scenario,
                "steps": self.steps, "seeds": list(self.seeds),
                "outputs": {"metrics": list(self.outputs.metrics),
                            "steps": list(self.outputs.steps),
                            "timeseries": self.outputs.timeseries},
                "fixed": dict(self.fixed), "design": self.design.to_dict()}

    @property
    def fingerprint(self) -> str:
        """Hash of everything that determines the runs and their outputs (not name/description)."""
        data = self.to_dict()
        data.pop("name")
        data.pop("description")
        data["scenario"] = self.scenario_digest
        return _digest(data)

    def run_id(self, parameters: Mapping[str, Any], seed: int) -> str:
        """Deterministic id of one run: a hash of the resolved scenario, steps, all overrides and
        the seed."""
        return _digest({"scenario": self.scenario_digest, "steps": self.steps,
                        "overrides": {**self.fixed_overrides, **parameters},
                        "seed": int(seed)})[:16]

    def runs(self) -> pd.DataFrame:
        """The run table: every design point x seed, with columns ``run_id, point, seed`` and
        the parameters. Points that coincide (a categorical random design) share a run id."""
        points = self.design.points()
        names = self.design.names
        records = []
        for row in points.itertuples(index=False):
            params = {n: _python(getattr(row, n)) for n in names}
            for seed in [self.design.seeds[row.point]] if self.design.seeds else self.seeds:
                records.append({"run_id": self.run_id(params, seed), "point": int(row.point),
                                "seed": int(seed), **params})
        return pd.DataFrame(records, columns=["run_id", "point", "seed", *names])


def _python(value):
    return value.item() if isinstance(value, np.generic) else value


def _is_seed_list(seeds) -> bool:
    return isinstance(seeds, list) and bool(seeds) and len(set(seeds)) == len(seeds) and all(
        isinstance(s, int) and not isinstance(s, bool) for s in seeds)


def _digest(data) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def scenario_digest(scenario: Scenario) -> str:
    """SHA-256 of a resolved scenario's values (its TOML without sources, name or description:
    what determines its runs)."""
    data = scenario.to_dict()
    for key in ("sources", "name", "description"):
        data.pop(key, None)
    return _digest(plain(data))


# ------------------------------------------------------------------------------------------------
# loading and validation
# ------------------------------------------------------------------------------------------------
def load_spec(spec: str | Path | Mapping | SweepSpec, source: str | None = None) -> SweepSpec:
    """Read and validate a sweep spec (a TOML path, a dict of the same shape, or a spec).

    Raises
    ------
    SpecError
        On any invalid entry, naming the file, the key path and the value.
    """
    if isinstance(spec, SweepSpec):
        return spec
    if isinstance(spec, Mapping):
        return _build_spec(dict(spec), source or "<dict>", base_dir=Path.cwd())
    path = Path(spec)
    try:
        data = read_toml(path)
    except ScenarioError as error:  # the reader's "invalid TOML" / "cannot read", as a spec error
        raise SpecError(error.source, error.key_path, error.value, error.problem) from None
    return _build_spec(data, source or str(path), base_dir=path.parent)


def design_from_dict(table: Mapping, source: str = "<dict>") -> Design:
    """Validate a ``[design]`` table alone (e.g. from a sweep's manifest)."""
    return _build_design(dict(table), source, {})


def _build_spec(data: dict, src: str, base_dir: Path) -> SweepSpec:
    def fail(key, value, problem):
        raise SpecError(src, key, value, problem) from None

    _check_keys(data, SPEC_KEYS, "", src)
    name = data.get("name", Path(src).stem if src.endswith(".toml") else "sweep")
    description = data.get("description", "")
    for key, value in (("name", name), ("description", description)):
        if not isinstance(value, str):
            fail(key, value, "expected a string")

    scenario = data.get("scenario", "baseline")
    if not isinstance(scenario, str):
        fail("scenario", scenario, "expected a scenario name or a path to a TOML file")
    target: str | Path = scenario
    if scenario.endswith(".toml") and not Path(scenario).is_absolute():
        target = base_dir / scenario
    try:
        base = resolve_strategies(load_scenario(target))
    except ScenarioError as error:
        fail("scenario", scenario, f"cannot load scenario ({error})")

    steps = data.get("steps", base.steps)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
        fail("steps", steps, f"expected an integer in [1, {MAX_STEPS:,}]")

    if "seeds" in data and "replications" in data:
        fail("replications", data["replications"], "give either seeds or replications, not both")
    if "seeds" in data:
        seeds = data["seeds"]
        if (not isinstance(seeds, list) or not seeds
                or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)):
            fail("seeds", seeds, "expected a non-empty list of integers")
        if len(seeds) > MAX_SWEEP_RUNS:
            fail("seeds", f"<{len(seeds):,} seeds>", f"at most {MAX_SWEEP_RUNS:,} seeds")
        for i, seed in enumerate(seeds):
            try:
                check_seed(src, f"seeds[{i}]", seed)
            except LocatedInputError as error:
                fail(error.key_path, seed, error.problem)
        if len(set(seeds)) != len(seeds):
            fail("seeds", seeds, "seeds must be distinct")
    else:
        replications = data.get("replications", 1)
        if isinstance(replications, bool) or not isinstance(replications, int) \
                or not 1 <= replications <= MAX_SWEEP_RUNS:
            fail("replications", replications, f"expected an integer in [1, {MAX_SWEEP_RUNS:,}]")
        seeds = list(range(1, replications + 1))

    outputs = _build_outputs(data.get("outputs", {}), steps, src)
    fixed = _build_fixed(data.get("fixed", {}), base, steps, src)
    design = _build_design(data.get("design"), src, fixed)
    if design.seeds is not None:
        if "replications" in data or ("seeds" in data and tuple(seeds) != design.seeds):
            fail("seeds", seeds, "a points design with seeds = [...] sets the seeds of its runs")
        seeds = list(design.seeds)
    points = design.size()
    runs = points if design.seeds is not None else points * len(seeds)
    if runs > MAX_SWEEP_RUNS:
        fail("design", f"<{points:,} points x {len(seeds):,} seeds>",
             f"{runs:,} runs: a sweep has at most {MAX_SWEEP_RUNS:,} (split it "
             f"into several sweeps)")
    _check_design_values(design, base, {**fixed, "steps": steps}, src)
    return SweepSpec(name=name, description=description, scenario=scenario, steps=steps,
                     seeds=tuple(seeds), outputs=outputs, design=design,
                     fixed=tuple(sorted(fixed.items())), source=src, base_scenario=base)


def _check_keys(table, allowed, prefix: str, src: str) -> None:
    if not isinstance(table, dict):
        raise SpecError(src, prefix or "<root>", table, "expected a table")
    for key in table:
        if key not in allowed:
            path = f"{prefix}.{key}" if prefix else key
            raise SpecError(src, path, table[key], f"unknown key (allowed: {list(allowed)})")


def _build_outputs(table, steps: int, src: str) -> Outputs:
    _check_keys(table, OUTPUT_KEYS, "outputs", src)
    metrics = table.get("metrics", ["price_avg"])
    if not isinstance(metrics, list) or not metrics:
        raise SpecError(src, "outputs.metrics", metrics, "expected a non-empty list of names")
    for i, metric in enumerate(metrics):
        if metric not in MODEL_METRICS:
            raise SpecError(src, f"outputs.metrics[{i}]", metric,
                            f"unknown metric (known: {list(MODEL_METRICS)})")
    if len(set(metrics)) != len(metrics):
        raise SpecError(src, "outputs.metrics", metrics, "metrics must be distinct")
    raw_steps = table.get("steps", ["final"])
    if not isinstance(raw_steps, list) or not raw_steps:
        raise SpecError(src, "outputs.steps", raw_steps,
                        'expected a non-empty list of step numbers, "mid" or "final"')
    resolved = []
    for i, step in enumerate(raw_steps):
        if step == "final":
            step = steps
        elif step == "mid":
            step = steps // 2
        if isinstance(step, bool) or not isinstance(step, int) or not 0 <= step <= steps:
            raise SpecError(src, f"outputs.steps[{i}]", raw_steps[i],
                            f'expected a step in 0..{steps}, "mid" or "final"')
        resolved.append(step)
    timeseries = table.get("timeseries", False)
    if not isinstance(timeseries, bool):
        raise SpecError(src, "outputs.timeseries", timeseries, "expected true or false")
    return Outputs(metrics=tuple(metrics), steps=tuple(sorted(set(resolved))),
                   timeseries=timeseries)


def _check_override_name(name: str, value, key: str, src: str) -> tuple[str, Any, type]:
    if name in RESERVED_OVERRIDES:
        raise SpecError(src, key, value, "set the run length with the sweep's top-level 'steps'")
    if name not in OVERRIDES:
        raise SpecError(src, key, value, f"unknown override (known: {sorted(OVERRIDES)})")
    return OVERRIDES[name]


def _check_value(name: str, value, key: str, src: str):
    """A TOML value of the override ``name``, typed and checked by its declaration
    (:func:`pricewar.scenario.parameters.check_value`, as ``pricewar run --set`` values are)."""
    try:
        return check_value(name, value, src)
    except ScenarioError as error:
        raise SpecError(src, key, value, error.problem) from None


def _check_range(name: str, low, high, key: str, src: str) -> None:
    """A swept range lies within the declared bounds of ``name``."""
    problem = check_range(name, low, high)
    if problem is not None:
        bad, shown = (f"{key}.low", low) if not PARAMETERS[name].within(low) else (
            f"{key}.high", high)
        raise SpecError(src, bad, shown, problem)


def _build_fixed(table, base: Scenario, steps: int, src: str) -> dict:
    _check_keys(table, tuple(table) if isinstance(table, dict) else (), "fixed", src)
    fixed = {}
    for name, value in table.items():
        _check_override_name(name, value, f"fixed.{name}", src)
        fixed[name] = _check_value(name, value, f"fixed.{name}", src)
    try:  # fixed overrides apply to every run: a bad one is a spec error, not N failed runs
        resolve_strategies(base.with_overrides(**fixed, steps=steps))
    except ScenarioError as error:
        raise SpecError(src, f"fixed.{error.key_path}", error.value,
                        f"invalid for the scenario: {error.problem}") from None
    return fixed


def _check_design_values(design: Design, base: Scenario, fixed: dict, src: str) -> None:
    """Every design point passes the validator of a single run (:func:`first_invalid_point`)."""
    found = first_invalid_point(design, base, fixed)
    if found is not None:
        key, shown, error = found
        raise SpecError(src, key, shown, f"invalid for the scenario ({error.key_path} = "
                                         f"{error.value!r}: {error.problem})")


def _build_design(table, src: str, fixed: dict) -> Design:
    if table is None:
        raise SpecError(src, "design", None, "missing [design] table")
    _check_keys(table, DESIGN_KEYS, "design", src)
    kind = table.get("kind")
    if kind not in DESIGN_KINDS:
        raise SpecError(src, "design.kind", kind, f"expected one of {list(DESIGN_KINDS)}")
    raw = table.get("parameters")
    if not isinstance(raw, dict) or not raw:
        raise SpecError(src, "design.parameters", raw,
                        "expected a table of override name -> {values} or {low, high}")
    parameters = []
    for name, entry in raw.items():
        key = f"design.parameters.{name}"
        _, _, kind_type = _check_override_name(name, entry, key, src)
        if name in fixed:
            raise SpecError(src, key, entry, "also set in [fixed]: an override is fixed or swept")
        parameters.append(_build_parameter(name, entry, kind_type, kind, key, src))

    seeds = table.get("seeds")
    if seeds is not None and (kind != "points" or not _is_seed_list(seeds)
                              or len(seeds) != len(parameters[0].values)):
        raise SpecError(src, "design.seeds", seeds,
                        "a points design's seeds: distinct integers, one per point")
    for i, run_seed in enumerate(seeds or ()):
        try:
            check_seed(src, f"design.seeds[{i}]", run_seed)
        except LocatedInputError as error:
            raise SpecError(src, error.key_path, run_seed, error.problem) from None
    samples, seed, second = None, 0, False
    if kind in ("grid", "points"):
        for extra in ("samples", "seed", "calc_second_order"):
            if extra in table:
                raise SpecError(src, f"design.{extra}", table[extra],
                                f"not used by a {kind} design (it lists its points)")
        if kind == "points" and len({len(p.values) for p in parameters}) > 1:
            raise SpecError(src, "design.parameters", {p.name: len(p.values) for p in parameters},
                            "a points design needs values of the same length for every parameter")
    else:
        samples = table.get("samples")
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise SpecError(src, "design.samples", samples, "expected an integer >= 1")
        if kind == "sobol" and samples & (samples - 1):
            raise SpecError(src, "design.samples", samples,
                            "a Sobol design needs a power of two (Saltelli base sample N)")
        seed = table.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise SpecError(src, "design.seed", seed, "expected an integer >= 0")
        second = table.get("calc_second_order", False)
        if not isinstance(second, bool):
            raise SpecError(src, "design.calc_second_order", second, "expected true or false")
        if second and kind != "sobol":
            raise SpecError(src, "design.calc_second_order", second, "only for sobol designs")
    design = Design(kind=kind, parameters=tuple(parameters), samples=samples, seed=seed,
                    calc_second_order=second, seeds=None if seeds is None else tuple(seeds))
    if design.size() > MAX_DESIGN_POINTS:
        listed = kind in ("grid", "points")
        raise SpecError(src, "design.parameters" if listed else "design.samples",
                        f"<{design.size():,} points>" if listed else samples,
                        f"{design.size():,} design points: at most {MAX_DESIGN_POINTS:,}")
    return design


def _build_parameter(name: str, entry, kind_type: type, design_kind: str, key: str,
                     src: str) -> Parameter:
    if not isinstance(entry, dict):
        raise SpecError(src, key, entry, "expected {values = [...]} or {low = ..., high = ...}")
    _check_keys(entry, PARAMETER_KEYS, key, src)
    kind = kind_type.__name__
    if "values" in entry:
        if set(entry) != {"values"}:
            raise SpecError(src, key, entry, "give either values or low/high, not both")
        if design_kind == "sobol":
            raise SpecError(src, f"{key}.values", entry["values"],
                            "a Sobol design needs {low, high} bounds for every parameter")
        values = entry["values"]
        if not isinstance(values, list) or not values:
            raise SpecError(src, f"{key}.values", values, "expected a non-empty list")
        if len(values) > MAX_DESIGN_POINTS:
            raise SpecError(src, f"{key}.values", f"<{len(values):,} values>",
                            f"at most {MAX_DESIGN_POINTS:,} values")
        values = [_check_value(name, v, f"{key}.values[{i}]", src)
                  for i, v in enumerate(values)]
        if len(set(values)) != len(values) and design_kind != "points":  # point i: values[i]
            raise SpecError(src, f"{key}.values", values, "values must be distinct")
        return Parameter(name, kind, values=tuple(values))

    if kind_type is str or design_kind == "points":
        raise SpecError(src, key, entry, "a string override and a points design take "
                        "values = [...], not bounds")
    for bound in ("low", "high"):
        if bound not in entry:
            raise SpecError(src, f"{key}.{bound}", None, "missing bound")
    low = _check_value(name, entry["low"], f"{key}.low", src)
    high = _check_value(name, entry["high"], f"{key}.high", src)
    _check_range(name, low, high, key, src)
    if not low < high:
        raise SpecError(src, f"{key}.high", entry["high"],
                        f"must be greater than low = {entry['low']!r}")
    if design_kind == "grid":
        num = entry.get("num")
        if isinstance(num, bool) or not isinstance(num, int) or not 2 <= num <= MAX_DESIGN_POINTS:
            raise SpecError(src, f"{key}.num", num,
                            f"a grid over bounds needs num = number of points in [2, "
                            f"{MAX_DESIGN_POINTS:,}]")
        grid = np.linspace(low, high, num)
        values = (sorted({int(round(v)) for v in grid}) if kind_type is int
                  else [float(v) for v in grid])
        return Parameter(name, kind, values=tuple(values))
    if "num" in entry:
        raise SpecError(src, f"{key}.num", entry["num"], "only for grid designs")
    return Parameter(name, kind, low=low, high=high)
