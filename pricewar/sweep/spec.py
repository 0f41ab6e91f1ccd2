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

import dataclasses
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
from pricewar.scenario.typed import bounds, build_dataclass, checked_by, choices, listed, table
from pricewar.sweep.design import DESIGN_KINDS, Design, Parameter, first_invalid_point

#: overrides a sweep may not fix or vary: the sweep's own ``steps`` sets the run length
RESERVED_OVERRIDES = {"steps": "set the run length with the sweep's top-level 'steps'"}


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
    data = _built(read_toml, path)  # the reader's "invalid TOML" / "cannot read", as spec errors
    return _build_spec(data, source or str(path), base_dir=path.parent)


def design_from_dict(table: Mapping, source: str = "<dict>") -> Design:
    """Validate a ``[design]`` table alone (e.g. from a sweep's manifest)."""
    written = _built(build_dataclass, DesignTable, dict(table), "design", source, {})
    return _design(written, source, {})


# ------------------------------------------------------------------------------------------------
# the spec's tables, as the typed builder builds them (types and bounds in the field metadata)
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SweptParameter:
    """A ``[design.parameters]`` entry as written: ``values`` or ``low``/``high`` (``num``: grid
    points over the bounds). Values are typed by the override's declaration
    (:func:`pricewar.scenario.parameters.check_value`)."""

    values: tuple[Any, ...] | None = field(
        default=None, metadata=listed(max_items=MAX_DESIGN_POINTS, what="values"))
    low: Any = None
    high: Any = None
    num: int | None = field(default=None, metadata=bounds(2, MAX_DESIGN_POINTS, interval=True))


@dataclass(frozen=True)
class DesignTable:
    """The ``[design]`` table as written (cross-field rules: :func:`_design`)."""

    kind: str = field(metadata=choices(DESIGN_KINDS))
    parameters: dict[str, SweptParameter] = field(
        metadata=table(keys=sorted(OVERRIDES), unknown="unknown override", nonempty=True,
                       refused=RESERVED_OVERRIDES))
    samples: int | None = field(default=None, metadata=bounds(1))
    seed: int | None = field(default=None, metadata=checked_by(check_seed))
    calc_second_order: bool | None = None
    seeds: tuple[int, ...] | None = field(
        default=None, metadata=checked_by(check_seed) | listed(distinct=True, what="seeds"))


@dataclass(frozen=True)
class OutputsTable:
    """The ``[outputs]`` table as written (``steps``: numbers, "mid" or "final", resolved against
    the run length by :func:`_outputs`)."""

    metrics: tuple[str, ...] = field(
        default=("price_avg",),
        metadata=choices(tuple(MODEL_METRICS), unknown="unknown metric")
        | listed(distinct=True, what="metrics"))
    steps: tuple[Any, ...] = field(default=("final",), metadata=listed())
    timeseries: bool = False


@dataclass(frozen=True)
class SpecTable:
    """A sweep spec file as written; :func:`load_spec` builds it, then applies the cross-field
    rules and the scenario's own validator."""

    name: str | None = None
    description: str = ""
    scenario: str = "baseline"
    steps: int | None = field(default=None, metadata=bounds(1, MAX_STEPS, interval=True))
    seeds: tuple[int, ...] | None = field(
        default=None, metadata=checked_by(check_seed)
        | listed(distinct=True, max_items=MAX_SWEEP_RUNS, what="seeds"))
    replications: int | None = field(default=None,
                                     metadata=bounds(1, MAX_SWEEP_RUNS, interval=True))
    outputs: OutputsTable = field(default_factory=OutputsTable)
    design: DesignTable | None = None  # required: checked in its turn, after [fixed]
    fixed: dict[str, Any] = field(default_factory=dict, metadata=table(
        keys=sorted(OVERRIDES), unknown="unknown override", refused=RESERVED_OVERRIDES))


def _built(build, *args):
    """``build(*args)`` (the typed builder, the TOML reader); its ScenarioError raised as a
    SpecError."""
    try:
        return build(*args)
    except ScenarioError as error:
        raise SpecError(error.source, error.key_path, error.value, error.problem) from None


def _require(condition: bool, src: str, key: str, value, problem: str) -> None:
    """A cross-field rule the field metadata cannot state: a SpecError unless ``condition``."""
    if not condition:
        raise SpecError(src, key, value, problem)


def _build_spec(data: dict, src: str, base_dir: Path) -> SweepSpec:
    table_ = _built(build_dataclass, SpecTable, data, "", src, {})
    name = table_.name if table_.name is not None else (
        Path(src).stem if src.endswith(".toml") else "sweep")
    target: str | Path = table_.scenario
    if table_.scenario.endswith(".toml") and not Path(table_.scenario).is_absolute():
        target = base_dir / table_.scenario
    try:
        base = resolve_strategies(load_scenario(target))
    except ScenarioError as error:
        raise SpecError(src, "scenario", table_.scenario,
                        f"cannot load scenario ({error})") from None
    steps = base.steps if table_.steps is None else table_.steps
    _require(table_.seeds is None or table_.replications is None, src, "replications",
             table_.replications, "give either seeds or replications, not both")
    seeds = table_.seeds or tuple(range(1, (table_.replications or 1) + 1))

    outputs = _outputs(table_.outputs, steps, src)
    fixed = _fixed(table_.fixed, base, steps, src)
    _require(table_.design is not None, src, "design", None, "missing [design] table")
    design = _design(table_.design, src, fixed)
    if design.seeds is not None:
        _require("replications" not in data and table_.seeds in (None, design.seeds), src,
                 "seeds", list(seeds),
                 "a points design with seeds = [...] sets the seeds of its runs")
        seeds = design.seeds
    points = design.size()
    runs = points if design.seeds is not None else points * len(seeds)
    _require(runs <= MAX_SWEEP_RUNS, src, "design", f"<{points:,} points x {len(seeds):,} seeds>",
             f"{runs:,} runs: a sweep has at most {MAX_SWEEP_RUNS:,} (split it "
             f"into several sweeps)")
    _check_design_values(design, base, {**fixed, "steps": steps}, src)
    return SweepSpec(name=name, description=table_.description, scenario=table_.scenario,
                     steps=steps, seeds=tuple(seeds), outputs=outputs, design=design,
                     fixed=tuple(sorted(fixed.items())), source=src, base_scenario=base)


def _outputs(table_: OutputsTable, steps: int, src: str) -> Outputs:
    """Output steps resolved against the run length (``mid``: half of it, ``final``: all)."""
    resolved = []
    for i, step in enumerate(table_.steps):
        step = {"final": steps, "mid": steps // 2}.get(step, step) if isinstance(step, str) \
            else step
        _require(not isinstance(step, bool) and isinstance(step, int) and 0 <= step <= steps,
                 src, f"outputs.steps[{i}]", table_.steps[i],
                 f'expected a step in 0..{steps}, "mid" or "final"')
        resolved.append(step)
    return Outputs(metrics=table_.metrics, steps=tuple(sorted(set(resolved))),
                   timeseries=table_.timeseries)


def _override_value(name: str, value, key: str, src: str):
    """A TOML value of the override ``name``, typed and checked by its declaration
    (:func:`pricewar.scenario.parameters.check_value`, as ``pricewar run --set`` values are)."""
    try:
        return check_value(name, value, src)
    except ScenarioError as error:
        raise SpecError(src, key, value, error.problem) from None


def _fixed(table_: dict, base: Scenario, steps: int, src: str) -> dict:
    fixed = {name: _override_value(name, value, f"fixed.{name}", src)
             for name, value in table_.items()}
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


def _design(table_: DesignTable, src: str, fixed: dict) -> Design:
    """The design's cross-field rules: what each kind takes, seeds one per point, the size."""
    kind = table_.kind
    parameters = []
    for name, entry in table_.parameters.items():
        key = f"design.parameters.{name}"
        _require(name not in fixed, src, key, _shown(entry),
                 "also set in [fixed]: an override is fixed or swept")
        parameters.append(_parameter(name, entry, kind, key, src))
    listed_kind = kind in ("grid", "points")
    if table_.seeds is not None:
        _require(kind == "points" and len(table_.seeds) == len(parameters[0].values), src,
                 "design.seeds", list(table_.seeds),
                 "a points design's seeds: distinct integers, one per point")
    for extra in ("samples", "seed", "calc_second_order"):
        _require(not listed_kind or getattr(table_, extra) is None, src, f"design.{extra}",
                 getattr(table_, extra), f"not used by a {kind} design (it lists its points)")
    if kind == "points":  # (every parameter of a points design has values)
        _require(len({len(p.values) for p in parameters}) == 1, src, "design.parameters",
                 {p.name: len(p.values) for p in parameters},
                 "a points design needs values of the same length for every parameter")
    samples = table_.samples
    _require(listed_kind or samples is not None, src, "design.samples", samples,
             "expected an integer >= 1")
    _require(kind != "sobol" or not samples & (samples - 1), src, "design.samples", samples,
             "a Sobol design needs a power of two (Saltelli base sample N)")
    _require(not table_.calc_second_order or kind == "sobol", src, "design.calc_second_order",
             table_.calc_second_order, "only for sobol designs")
    design = Design(kind=kind, parameters=tuple(parameters), samples=samples,
                    seed=table_.seed or 0, calc_second_order=bool(table_.calc_second_order),
                    seeds=table_.seeds)
    _require(design.size() <= MAX_DESIGN_POINTS, src,
             "design.parameters" if listed_kind else "design.samples",
             f"<{design.size():,} points>" if listed_kind else samples,
             f"{design.size():,} design points: at most {MAX_DESIGN_POINTS:,}")
    return design


def _shown(entry: SweptParameter) -> dict:
    """A parameter entry as written (for error messages)."""
    return {k: list(v) if isinstance(v, tuple) else v
            for k, v in dataclasses.asdict(entry).items() if v is not None}


def _parameter(name: str, entry: SweptParameter, design_kind: str, key: str,
               src: str) -> Parameter:
    """A swept parameter's cross-field rules: values or bounds, as the design kind needs."""
    kind_type = OVERRIDES[name][2]
    kind = kind_type.__name__
    if entry.values is not None:
        _require(entry.low is None and entry.high is None and entry.num is None, src, key,
                 _shown(entry), "give either values or low/high, not both")
        _require(design_kind != "sobol", src, f"{key}.values", list(entry.values),
                 "a Sobol design needs {low, high} bounds for every parameter")
        values = [_override_value(name, v, f"{key}.values[{i}]", src)
                  for i, v in enumerate(entry.values)]
        _require(len(set(values)) == len(values) or design_kind == "points",  # point i: values[i]
                 src, f"{key}.values", values, "values must be distinct")
        return Parameter(name, kind, values=tuple(values))
    _require(kind_type is not str and design_kind != "points", src, key, _shown(entry),
             "a string override and a points design take values = [...], not bounds")
    for bound in ("low", "high"):
        _require(getattr(entry, bound) is not None, src, f"{key}.{bound}", None, "missing bound")
    low = _override_value(name, entry.low, f"{key}.low", src)
    high = _override_value(name, entry.high, f"{key}.high", src)
    problem = check_range(name, low, high)  # the swept range lies within the declared bounds
    low_inside = PARAMETERS[name].within(low)
    _require(problem is None, src, f"{key}.high" if low_inside else f"{key}.low",
             high if low_inside else low, problem)
    _require(low < high, src, f"{key}.high", entry.high,
             f"must be greater than low = {entry.low!r}")
    if design_kind == "grid":
        _require(entry.num is not None, src, f"{key}.num", None,
                 f"a grid over bounds needs num = number of points in [2, "
                 f"{MAX_DESIGN_POINTS:,}]")
        grid = np.linspace(low, high, entry.num)
        values = (sorted({int(round(v)) for v in grid}) if kind_type is int
                  else [float(v) for v in grid])
        return Parameter(name, kind, values=tuple(values))
    _require(entry.num is None, src, f"{key}.num", entry.num, "only for grid designs")
    return Parameter(name, kind, low=low, high=high)
