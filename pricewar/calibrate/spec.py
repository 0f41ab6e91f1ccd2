"""Calibration specs: TOML -> a frozen, validated :class:`CalibrationSpec` (nothing runs before).

A spec names the parameters to estimate (flat overrides, :data:`pricewar.scenario.OVERRIDES`,
each with a uniform or log-uniform prior box), the targets (an observed value, the summary
statistic of a run compared with it, a weight, and whether it is held out of the fit), the runs'
fixed and size overrides, and the budget (full and ``--quick``)::

    name = "v1_demand"
    scenario = "baseline"
    method = "abc"                         # abc (default) | npe (pip install 'pricewar[npe]')
    preregistered = false   # true: the targets follow data/observed/preregistration.toml

    [parameters]
    demand_growth = { low = 0.02, high = 0.08 }                          # uniform
    friction_utils = { low = 0.5, high = 5.0, prior = "log-uniform" }

    [targets.china_tokens_2025]
    observed = "china_daily_tokens_2025_12"     # id in the observed-targets file
    summary = "tokens_per_day"                  # a registered summary statistic
    args = { reporters = ["throughput_cn_west", "throughput_cn_east"], date = "2025-12-31" }
    weight = 1.0                                # default 1
    held_out = false                            # true: reported, not fitted
    optional = false            # true: left out (logged) if the model lacks its reporters

    [size]          # overrides setting the simulation size (not written to the scenario)
    n_consumers = 1000
    [fixed]         # overrides applied to every run and written to the calibrated scenario

    [budget]
    simulations = 4000          # prior draws (one sweep)
    seeds_per_draw = 1
    acceptance_quantile = 0.1   # share of runs accepted by the ABC
    posterior_predictive = 200  # posterior draws run again for the predictive checks
    seed = 0                    # seed of the prior design, the noise and the resampling
    # steps = 118               # default: the fewest steps that cover every target's dates

    [quick]                     # --quick: any [budget] key, and a [quick.size] table
    simulations = 600
    [quick.size]
    n_consumers = 300

A target may give its observation inline (``value``, ``sd``, ``scale``, ``unit``, ``date``,
``source``) instead of ``observed``; ``observed_file`` (relative to the spec) replaces the shipped
targets file. Validation checks every key, override, prior, summary and its arguments, and that
the model has every reporter a summary reads (a clear error names a missing one, e.g. a v2
reporter in a spec run on an older model), and raises :class:`CalibrationSpecError` naming the
file, the key path and the value.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from pricewar.calibrate.preregistration import (
    PreregistrationError,
    check_targets,
    load_preregistration,
)
from pricewar.calibrate.priors import PRIOR_KINDS, Prior
from pricewar.calibrate.summaries import (
    SUMMARY_REGISTRY,
    bind_arguments,
    dates_of,
    required_reporters,
    summary_names,
)
from pricewar.calibrate.targets import (
    ObservedTarget,
    TargetDataError,
    observed_targets,
    target_from_row,
)
from pricewar.errors import LocatedInputError, ScenarioError
from pricewar.limits import MAX_SEED, MAX_STEPS, MAX_SWEEP_RUNS
from pricewar.model.scenario_strategies import resolve_strategies
from pricewar.scenario import Scenario, load_scenario, parse_override_value
from pricewar.scenario.data_files import CALIBRATED_UNTIL, read_toml
from pricewar.scenario.parameters import PARAMETERS, check_range
from pricewar.scenario.typed import bounds, build_dataclass, build_value, choices, table

log = logging.getLogger(__name__)

INLINE_KEYS = ("value", "sd", "scale", "unit", "date", "source")
METHODS = ("abc", "npe")
#: overrides a calibration may not fix or size: the budget's ``steps`` sets the run length
RESERVED = {"steps": "set the run length with budget.steps"}
MIN_HELD_OUT = 2


class CalibrationSpecError(LocatedInputError):
    """An invalid calibration spec (names the file, the key path and the value)."""


@dataclass(frozen=True)
class Budget:
    """How many runs, how long, and how much of them the ABC accepts (bounds in the field
    metadata, checked by the scenario's typed builder: :mod:`pricewar.scenario.typed`)."""

    simulations: int = field(default=4000, metadata=bounds(2, MAX_SWEEP_RUNS))
    seeds_per_draw: int = field(default=1, metadata=bounds(1, MAX_SWEEP_RUNS))
    steps: int | None = field(default=None, metadata=bounds(1, MAX_STEPS))
    acceptance_quantile: float = field(default=0.1, metadata=bounds(0.0, 1.0, strict=True))
    posterior_predictive: int = field(default=200, metadata=bounds(2, MAX_SWEEP_RUNS))
    seed: int = field(default=0, metadata=bounds(0, MAX_SEED))


@dataclass(frozen=True)
class TargetSpec:
    """A target of the spec: an observation, the summary compared with it, weight, role."""

    name: str
    observed: ObservedTarget
    summary: str
    args: dict = field(hash=False)
    weight: float = 1.0
    held_out: bool = False
    optional: bool = False  # left out (with a warning) when the model lacks its reporters

    def reporters(self) -> list[str]:
        return required_reporters(self.summary, self.args)

    def evaluate(self, frame: pd.DataFrame) -> float:
        """The summary of one run's model frame (in the observation's unit)."""
        return SUMMARY_REGISTRY[self.summary](frame, **self.args)


@dataclass(frozen=True)
class CalibrationSpec:
    """A validated calibration. Build with :func:`load_calibration_spec`."""

    name: str
    scenario: str
    parameters: tuple[Prior, ...]
    targets: tuple[TargetSpec, ...]
    budget: Budget
    quick_budget: Budget
    fixed: dict = field(default_factory=dict, hash=False)
    size: dict = field(default_factory=dict, hash=False)
    quick_size: dict = field(default_factory=dict, hash=False)
    method: str = "abc"
    description: str = ""
    source: str = field(default="<dict>", compare=False)
    base_scenario: Scenario | None = field(default=None, compare=False, repr=False)
    #: optional targets left out because the model lacks their reporters: (name, reporters)
    skipped: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.parameters]

    @property
    def fit_targets(self) -> list[TargetSpec]:
        return [t for t in self.targets if not t.held_out]

    @property
    def held_out_targets(self) -> list[TargetSpec]:
        return [t for t in self.targets if t.held_out]

    def mode(self, quick: bool) -> tuple[Budget, dict]:
        """The budget and size overrides of a full or ``--quick`` calibration."""
        return (self.quick_budget, self.quick_size) if quick else (self.budget, self.size)

    def steps(self, quick: bool = False) -> int:
        """Run length: the budget's, or the fewest steps whose dates cover every target."""
        budget, _ = self.mode(quick)
        return budget.steps if budget.steps is not None else steps_needed(self)


def steps_needed(spec: CalibrationSpec) -> int:
    """The fewest steps whose last date is on or after every date the targets read."""
    base = spec.base_scenario
    start = pd.Timestamp(base.start_date)
    latest = max(d for t in spec.targets for d in dates_of(t.summary, t.args))
    return max(1, math.ceil((latest - start) / pd.Timedelta(days=base.step_days)))


def available_reporters(scenario: Scenario) -> set[str]:
    """Names of the model reporters of a model built from ``scenario`` (the columns of a run's
    model frame). Built, not listed, so a model with new reporters needs no change here."""
    from pricewar.model import PriceWarModel

    return set(PriceWarModel(scenario, seed=1).datacollector.model_reporters)


# ------------------------------------------------------------------------------------------------
# loading and validation
# ------------------------------------------------------------------------------------------------
def load_calibration_spec(spec: str | Path | Mapping | CalibrationSpec,
                          source: str | None = None,
                          check_reporters: bool = True) -> CalibrationSpec:
    """Read and validate a calibration spec (a TOML path, a dict of the same shape, or a spec).

    ``check_reporters=False`` skips building a model to check the reporters (tests).

    Raises
    ------
    CalibrationSpecError
        On any invalid entry, naming the file, the key path and the value.
    """
    if isinstance(spec, CalibrationSpec):
        return spec
    if isinstance(spec, Mapping):
        return _build(dict(spec), source or "<dict>", Path.cwd(), check_reporters)
    path = Path(spec)
    data = _built(read_toml, path)  # "invalid TOML", "cannot read": as spec errors
    return _build(data, source or str(path), path.parent, check_reporters)


# the spec's tables, as the typed builder builds them (types and bounds in the field metadata)
@dataclass(frozen=True)
class PriorTable:
    """A ``[parameters]`` entry as written (cross-field rules: :func:`_parameters`)."""

    low: float = field(metadata=bounds(None))
    high: float = field(metadata=bounds(None))
    prior: str = field(default="uniform", metadata=choices(PRIOR_KINDS))


@dataclass(frozen=True)
class TargetTable:
    """A ``[targets.<name>]`` table as written: ``observed`` or an inline observation."""

    summary: str = field(metadata=choices(summary_names, unknown="unknown summary"))
    observed: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    weight: float = field(default=1.0, metadata=bounds(0.0, strict=True, note="a positive number"))
    held_out: bool = False
    optional: bool = False
    value: Any = None
    sd: Any = None
    scale: Any = None
    unit: Any = None
    date: Any = None
    source: Any = None


@dataclass(frozen=True)
class CalibrationTable:
    """A calibration spec file as written; :func:`load_calibration_spec` builds it, then applies
    the cross-field rules, the scenario's validator and the model's reporters. ``[budget]`` and
    ``[quick]`` are built as :class:`Budget` over their defaults (:func:`_budget`)."""

    name: str | None = None
    description: str = ""
    method: str = field(default="abc", metadata=choices(METHODS))
    scenario: str = "baseline"
    fixed: dict[str, Any] = field(default_factory=dict, metadata=table(refused=RESERVED))
    size: dict[str, Any] = field(default_factory=dict, metadata=table(refused=RESERVED))
    parameters: dict[str, PriorTable] | None = field(  # required: checked in its turn
        default=None,
        metadata=table(keys=sorted(PARAMETERS), unknown="unknown override", nonempty=True))
    budget: dict[str, Any] = field(default_factory=dict)
    quick: dict[str, Any] = field(default_factory=dict)
    observed_file: str | None = None
    preregistered: bool = False
    targets: dict[str, TargetTable] | None = field(default=None, metadata=table(nonempty=True))


def _require(condition: bool, src: str, key: str, value, problem: str) -> None:
    """A cross-field rule the field metadata cannot state: an error unless ``condition``."""
    if not condition:
        raise CalibrationSpecError(src, key, value, problem)


def _built(build, *args):
    """``build(*args)`` (the typed builder, the TOML reader); its ScenarioError raised as a
    CalibrationSpecError."""
    try:
        return build(*args)
    except ScenarioError as error:
        raise CalibrationSpecError(error.source, error.key_path, error.value,
                                   error.problem) from None


def _build(data: dict, src: str, base_dir: Path, check_reporters: bool) -> CalibrationSpec:
    table_ = _built(build_dataclass, CalibrationTable, data, "", src, {})
    name = table_.name if table_.name is not None else (
        Path(src).stem if src.endswith(".toml") else "calibration")
    scenario = table_.scenario
    if scenario.endswith(".toml") and not Path(scenario).is_absolute():
        scenario = str((base_dir / scenario).resolve())
    try:
        base = resolve_strategies(load_scenario(scenario))
    except ScenarioError as error:
        raise CalibrationSpecError(src, "scenario", scenario,
                                   f"cannot load scenario ({error})") from None

    fixed = _overrides(table_.fixed, "fixed", base, src)
    size = _overrides(table_.size, "size", base, src)
    _disjoint(fixed, size, "size", src)
    parameters = _parameters(table_.parameters, base, {**fixed, **size}, src)
    budget = _budget(table_.budget, "budget", Budget(), src)
    quick_table = dict(table_.quick)
    quick_size_table = _built(build_value, dict[str, Any], quick_table.pop("size", {}),
                              "quick.size", src, table(refused=RESERVED))
    quick_size = {**size, **_overrides(quick_size_table, "quick.size", base, src)}
    _disjoint(fixed, quick_size, "quick.size", src)
    quick_budget = _budget(quick_table, "quick", budget, src)

    observed_file = table_.observed_file
    try:
        observed = observed_targets(base_dir / observed_file if observed_file else None)
    except TargetDataError as error:
        raise CalibrationSpecError(src, "observed_file", observed_file, str(error)) from None
    targets = _targets(table_.targets, observed, src)
    if table_.preregistered:
        _check_preregistered(targets, observed_file, src)
    spec = CalibrationSpec(name=name, description=table_.description, scenario=scenario,
                           parameters=parameters, targets=targets, budget=budget,
                           quick_budget=quick_budget, fixed=fixed, size=size,
                           quick_size=quick_size, method=table_.method, source=src,
                           base_scenario=base)
    spec = _check_targets_against_model(spec, check_reporters, src)
    _check_target_dates(spec, src)
    for prefix, chosen in (("budget", budget), ("quick", quick_budget)):
        accepted = math.ceil(chosen.acceptance_quantile * chosen.simulations
                             * chosen.seeds_per_draw)
        _require(accepted >= len(parameters) + 2, src, f"{prefix}.acceptance_quantile",
                 chosen.acceptance_quantile,
                 f"accepts {accepted} of {chosen.simulations} simulations: the regression "
                 f"adjustment needs at least {len(parameters) + 2} (parameters + 2)")
    return spec


def _check_preregistered(targets, observed_file: str | None, src: str) -> None:
    """``preregistered = true``: the targets follow the shipped pre-registration (fitted targets
    only ``fit`` observations, held-out ones only ``held_out`` or ``event_check``), read from the
    shipped targets file."""
    _require(observed_file is None, src, "observed_file", observed_file,
             "a preregistered spec reads the shipped targets file (its rows are registered)")
    try:
        check_targets(targets, load_preregistration(), src)
    except PreregistrationError as error:
        raise CalibrationSpecError(error.source, error.key_path, error.value,
                                   error.problem) from None


def _check_target_dates(spec: CalibrationSpec, src: str) -> None:
    """Every date a target reads lies within the scenario's run and the calibrated period
    (the runs are as long as the latest target date: a date decades ahead would make them
    too long for the demand bounds)."""
    start = pd.Timestamp(spec.base_scenario.start_date)
    until = pd.Timestamp(CALIBRATED_UNTIL)
    for target in spec.targets:
        for date in dates_of(target.summary, target.args):
            _require(start <= date <= until, src, f"targets.{target.name}.args",
                     date.date().isoformat(), f"outside the period the model runs and is "
                     f"calibrated for ({start.date()} to {until.date()})")


def _overrides(table_: dict, key: str, base: Scenario, src: str) -> dict:
    """Override values typed by their declarations, and valid for the scenario together."""
    values = {}
    for name, value in table_.items():
        try:
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise ScenarioError("", "", value, "expected a number or a string")
            values[name] = parse_override_value(name, value)
        except ScenarioError as error:
            raise CalibrationSpecError(src, f"{key}.{name}", value, error.problem) from None
    try:
        resolve_strategies(base.with_overrides(**values))
    except ScenarioError as error:
        raise CalibrationSpecError(src, f"{key}.{error.key_path}", error.value,
                                   f"invalid for the scenario: {error.problem}") from None
    return values


def _disjoint(fixed: dict, size: dict, key: str, src: str) -> None:
    both = sorted(set(fixed) & set(size))
    if both:
        raise CalibrationSpecError(src, f"{key}.{both[0]}", size[both[0]], "also set in [fixed]")


def _parameters(table_: dict[str, PriorTable] | None, base: Scenario, overridden: dict,
                src: str) -> tuple[Prior, ...]:
    """The priors' cross-field rules (checked after [fixed] and [size]): a float override, not
    also fixed, ``low < high``, within the declared bounds and valid for the scenario."""
    _require(table_ is not None, src, "parameters", None, "missing required key")
    priors = []
    for name, entry in table_.items():
        key = f"parameters.{name}"
        shown = dataclasses.asdict(entry)
        kind = PARAMETERS[name].kind
        _require(kind is float, src, key, shown,
                 f"only float overrides can be estimated ({name} is {kind.__name__})")
        _require(name not in overridden, src, key, shown,
                 "also set in [fixed] or [size]: an override is fixed or estimated")
        low, high = float(entry.low), float(entry.high)
        _require(low < high, src, f"{key}.high", high, f"must be greater than low = {low!r}")
        _require(entry.prior != "log-uniform" or low > 0, src, f"{key}.low", low,
                 "a log-uniform prior needs low > 0")
        for bound, value in (("low", low), ("high", high)):
            # the prior lies within the declared bounds, and within the scenario's
            _require(PARAMETERS[name].within(value), src, f"{key}.{bound}", value,
                     check_range(name, low, high))
            try:
                base.with_overrides(**{name: value})
            except ScenarioError as error:
                raise CalibrationSpecError(src, f"{key}.{bound}", value,
                                           f"invalid for the scenario: {error.problem}") from None
        priors.append(Prior(name, low, high, entry.prior))
    return tuple(priors)


def _budget(table_: dict, key: str, default: Budget, src: str) -> Budget:
    """``table_`` over ``default``, built and bounded by the typed builder."""
    budget = _built(build_dataclass, Budget, {**dataclasses.asdict(default), **table_}, key,
                    src, {})
    return replace(budget, acceptance_quantile=float(budget.acceptance_quantile))  # 1 -> 1.0


def _targets(table_: dict[str, TargetTable] | None, observed: dict[str, ObservedTarget],
             src: str) -> tuple[TargetSpec, ...]:
    _require(table_ is not None, src, "targets", None, "missing required key")
    targets = []
    for name, entry in table_.items():
        key = f"targets.{name}"
        try:
            args = bind_arguments(entry.summary, entry.args)
        except ValueError as error:
            raise CalibrationSpecError(src, f"{key}.args", entry.args, str(error)) from None
        targets.append(TargetSpec(name=name, observed=_observation(entry, observed, key, src),
                                  summary=entry.summary, args=args, weight=float(entry.weight),
                                  held_out=entry.held_out, optional=entry.optional))
    _check_roles(targets, src)
    return tuple(targets)


def _check_roles(targets, src: str, why: str = "") -> None:
    """At least one fitted and :data:`MIN_HELD_OUT` held-out targets."""
    fit = [t for t in targets if not t.held_out]
    names = sorted(t.name for t in targets)
    _require(bool(fit), src, "targets", names, f"every target is held out{why}: nothing to fit")
    _require(len(targets) - len(fit) >= MIN_HELD_OUT, src, "targets", names,
             f"hold out at least {MIN_HELD_OUT} targets (held_out = true){why}: out-of-sample "
             f"checks are part of every calibration")


def _observation(entry: TargetTable, observed: dict[str, ObservedTarget], key: str,
                 src: str) -> ObservedTarget:
    """``observed = <id>`` (from the targets file) or an inline observation, not both."""
    inline = [k for k in INLINE_KEYS if getattr(entry, k) is not None]
    if entry.observed is not None:
        if inline:
            raise CalibrationSpecError(src, f"{key}.{inline[0]}", getattr(entry, inline[0]),
                                       "give either observed = <id> or an inline observation, "
                                       "not both")
        _require(entry.observed in observed, src, f"{key}.observed", entry.observed,
                 f"unknown observed target (known: {sorted(observed)})")
        return observed[entry.observed]
    _require(entry.value is not None, src, key,
             {k: v for k, v in dataclasses.asdict(entry).items() if v is not None},
             "expected observed = <id> or an inline value and sd")
    row = {"target": key, "value": str(entry.value),
           "sd": "" if entry.sd is None else str(entry.sd),
           "scale": "linear" if entry.scale is None else entry.scale,
           "unit": "" if entry.unit is None else entry.unit,
           "date": "inline" if entry.date is None else str(entry.date),
           "source": f"inline in {src}" if entry.source is None else entry.source}
    try:
        return target_from_row(row, src)
    except TargetDataError as error:
        raise CalibrationSpecError(src, error.key_path, error.value, error.problem) from None


def _check_targets_against_model(spec: CalibrationSpec, check_reporters: bool,
                                  src: str) -> CalibrationSpec:
    """Dates within the run, and every reporter a summary reads in the model; optional targets
    whose reporters the model lacks are left out (logged, and kept in ``spec.skipped``)."""
    base = spec.base_scenario
    start = pd.Timestamp(base.start_date)
    for target in spec.targets:
        for date in dates_of(target.summary, target.args):
            _require(date >= start, src, f"targets.{target.name}.args",
                     date.date().isoformat(), f"before the scenario's start date "
                     f"{base.start_date}")
    for prefix, budget in (("budget", spec.budget), ("quick", spec.quick_budget)):
        _require(budget.steps is None or budget.steps >= steps_needed(spec), src,
                 f"{prefix}.steps", budget.steps,
                 f"too short: the targets read dates up to step {steps_needed(spec)}")
    if not check_reporters:
        return spec
    overrides = {**spec.fixed, **spec.size}
    reporters = available_reporters(base.with_overrides(**overrides))
    missing = {t.name: [r for r in t.reporters() if r not in reporters] for t in spec.targets}
    skipped = tuple((t.name, tuple(missing[t.name])) for t in spec.targets
                    if t.optional and missing[t.name])
    missing = {name: names for name, names in missing.items()
               if names and name not in dict(skipped)}
    if missing:
        every = sorted({r for names in missing.values() for r in names})
        _require(False, src, f"targets.{next(iter(missing))}.args",
                 every[0] if len(every) == 1 else every,
                 f"the model has no such reporter (needed by targets {list(missing)}); this "
                 f"model's reporters: {sorted(reporters)}")
    if not skipped:
        return spec
    for name, names in skipped:
        log.warning("%s: optional target %s left out: the model has no reporter %s", src, name,
                    ", ".join(names))
    kept = tuple(t for t in spec.targets if t.name not in dict(skipped))
    _check_roles(kept, src, f" (after leaving out the optional {[n for n, _ in skipped]})")
    return replace(spec, targets=kept, skipped=skipped)
