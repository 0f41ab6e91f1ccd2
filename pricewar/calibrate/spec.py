"""Calibration specs: TOML -> a frozen, validated :class:`CalibrationSpec` (nothing runs before).

A spec names the parameters to estimate (flat overrides, :data:`pricewar.scenario.OVERRIDES`,
each with a uniform or log-uniform prior box), the targets (an observed value, the summary
statistic of a run compared with it, a weight, and whether it is held out of the fit), the runs'
fixed and size overrides, and the budget (full and ``--quick``)::

    name = "v1_demand"
    scenario = "baseline"
    method = "abc"                         # abc (default) | npe (pip install 'pricewar[npe]')

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

import pandas as pd

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
from pricewar.scenario.typed import bounds, build_dataclass

log = logging.getLogger(__name__)

SPEC_KEYS = ("name", "description", "scenario", "method", "observed_file", "parameters",
             "targets", "fixed", "size", "budget", "quick")
PARAMETER_KEYS = ("low", "high", "prior")
TARGET_KEYS = ("observed", "summary", "args", "weight", "held_out", "optional", "value", "sd",
               "scale", "unit", "date", "source")
INLINE_KEYS = ("value", "sd", "scale", "unit", "date", "source")
METHODS = ("abc", "npe")
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
    try:
        data = read_toml(path)
    except ScenarioError as error:
        raise CalibrationSpecError(error.source, error.key_path, error.value,
                                   error.problem) from None
    return _build(data, source or str(path), path.parent, check_reporters)


def _fail(src: str, key: str, value, problem: str):
    raise CalibrationSpecError(src, key, value, problem)


def _check_keys(table, allowed, prefix: str, src: str) -> None:
    if not isinstance(table, dict):
        _fail(src, prefix or "<root>", table, "expected a table")
    for key in table:
        if key not in allowed:
            _fail(src, f"{prefix}.{key}" if prefix else key, table[key],
                  f"unknown key (allowed: {list(allowed)})")


def _positive_number(value, key: str, src: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(value) or value <= 0:
        _fail(src, key, value, "expected a positive number")
    return float(value)


def _build(data: dict, src: str, base_dir: Path, check_reporters: bool) -> CalibrationSpec:
    _check_keys(data, SPEC_KEYS, "", src)
    name = data.get("name", Path(src).stem if src.endswith(".toml") else "calibration")
    description = data.get("description", "")
    for key, value in (("name", name), ("description", description)):
        if not isinstance(value, str):
            _fail(src, key, value, "expected a string")
    method = data.get("method", "abc")
    if method not in METHODS:
        _fail(src, "method", method, f"expected one of {list(METHODS)}")

    scenario = data.get("scenario", "baseline")
    if not isinstance(scenario, str):
        _fail(src, "scenario", scenario, "expected a scenario name or a path to a TOML file")
    if scenario.endswith(".toml") and not Path(scenario).is_absolute():
        scenario = str((base_dir / scenario).resolve())
    try:
        base = resolve_strategies(load_scenario(scenario))
    except ScenarioError as error:
        _fail(src, "scenario", scenario, f"cannot load scenario ({error})")

    fixed = _overrides(data.get("fixed", {}), "fixed", base, src)
    size = _overrides(data.get("size", {}), "size", base, src)
    _disjoint(fixed, size, "size", src)
    parameters = _parameters(data.get("parameters"), base, {**fixed, **size}, src)
    budget = _budget(data.get("budget", {}), "budget", Budget(), src)
    if not isinstance(data.get("quick", {}), dict):
        _fail(src, "quick", data.get("quick"), "expected a table")
    quick_table = dict(data.get("quick", {}))
    quick_size = {**size, **_overrides(quick_table.pop("size", {}), "quick.size", base, src)}
    _disjoint(fixed, quick_size, "quick.size", src)
    quick_budget = _budget(quick_table, "quick", budget, src)

    observed_file = data.get("observed_file")
    if observed_file is not None and not isinstance(observed_file, str):
        _fail(src, "observed_file", observed_file, "expected a path to a CSV file")
    try:
        observed = observed_targets(base_dir / observed_file if observed_file else None)
    except TargetDataError as error:
        _fail(src, "observed_file", observed_file, str(error))
    targets = _targets(data.get("targets"), observed, src)
    spec = CalibrationSpec(name=name, description=description, scenario=scenario,
                           parameters=parameters, targets=targets, budget=budget,
                           quick_budget=quick_budget, fixed=fixed, size=size,
                           quick_size=quick_size, method=method, source=src, base_scenario=base)
    spec = _check_targets_against_model(spec, check_reporters, src)
    _check_target_dates(spec, src)
    for prefix, chosen in (("budget", budget), ("quick", quick_budget)):
        accepted = math.ceil(chosen.acceptance_quantile * chosen.simulations
                             * chosen.seeds_per_draw)
        if accepted < len(parameters) + 2:
            _fail(src, f"{prefix}.acceptance_quantile", chosen.acceptance_quantile,
                  f"accepts {accepted} of {chosen.simulations} simulations: the regression "
                  f"adjustment needs at least {len(parameters) + 2} (parameters + 2)")
    return spec


def _check_target_dates(spec: CalibrationSpec, src: str) -> None:
    """Every date a target reads lies within the scenario's run and the calibrated period
    (the runs are as long as the latest target date: a date decades ahead would make them
    too long for the demand bounds)."""
    start = pd.Timestamp(spec.base_scenario.start_date)
    until = pd.Timestamp(CALIBRATED_UNTIL)
    for target in spec.targets:
        for date in dates_of(target.summary, target.args):
            if not start <= date <= until:
                _fail(src, f"targets.{target.name}.args", date.date().isoformat(),
                      f"outside the period the model runs and is calibrated for "
                      f"({start.date()} to {until.date()})")


def _overrides(table, key: str, base: Scenario, src: str) -> dict:
    if not isinstance(table, dict):
        _fail(src, key, table, "expected a table of override name -> value")
    values = {}
    for name, value in table.items():
        if name == "steps":
            _fail(src, f"{key}.{name}", value, "set the run length with budget.steps")
        try:
            if isinstance(value, bool) or not isinstance(value, str | int | float):
                raise ScenarioError("", "", value, "expected a number or a string")
            values[name] = parse_override_value(name, value)
        except ScenarioError as error:
            _fail(src, f"{key}.{name}", value, error.problem)
    try:
        resolve_strategies(base.with_overrides(**values))
    except ScenarioError as error:
        _fail(src, f"{key}.{error.key_path}", error.value,
              f"invalid for the scenario: {error.problem}")
    return values


def _disjoint(fixed: dict, size: dict, key: str, src: str) -> None:
    both = sorted(set(fixed) & set(size))
    if both:
        _fail(src, f"{key}.{both[0]}", size[both[0]], "also set in [fixed]")


def _parameters(table, base: Scenario, overridden: dict, src: str) -> tuple[Prior, ...]:
    if not isinstance(table, dict) or not table:
        _fail(src, "parameters", table, "expected a table of override name -> {low, high}")
    priors = []
    for name, entry in table.items():
        key = f"parameters.{name}"
        if name not in PARAMETERS:
            _fail(src, key, entry, f"unknown override (known: {sorted(PARAMETERS)})")
        if PARAMETERS[name].kind is not float:
            _fail(src, key, entry, f"only float overrides can be estimated ({name} is "
                                   f"{PARAMETERS[name].kind.__name__})")
        if name in overridden:
            _fail(src, key, entry, "also set in [fixed] or [size]: an override is fixed or "
                                   "estimated")
        _check_keys(entry, PARAMETER_KEYS, key, src)
        kind = entry.get("prior", "uniform")
        if kind not in PRIOR_KINDS:
            _fail(src, f"{key}.prior", kind, f"expected one of {list(PRIOR_KINDS)}")
        bounds = []
        for bound in ("low", "high"):
            value = entry.get(bound)
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not math.isfinite(value):
                _fail(src, f"{key}.{bound}", value, "expected a finite number")
            bounds.append(float(value))
        low, high = bounds
        if not low < high:
            _fail(src, f"{key}.high", high, f"must be greater than low = {low!r}")
        if kind == "log-uniform" and low <= 0:
            _fail(src, f"{key}.low", low, "a log-uniform prior needs low > 0")
        for bound, value in (("low", low), ("high", high)):
            if not PARAMETERS[name].within(value):  # the prior lies within the declared bounds
                _fail(src, f"{key}.{bound}", value, check_range(name, low, high))
        for bound, value in (("low", low), ("high", high)):
            try:
                base.with_overrides(**{name: value})
            except ScenarioError as error:
                _fail(src, f"{key}.{bound}", value, f"invalid for the scenario: {error.problem}")
        priors.append(Prior(name, low, high, kind))
    return tuple(priors)


def _budget(table, key: str, default: Budget, src: str) -> Budget:
    """``table`` over ``default``, built and bounded by the typed builder."""
    if not isinstance(table, dict):
        _fail(src, key, table, "expected a table")
    try:
        budget = build_dataclass(Budget, {**dataclasses.asdict(default), **table}, key, src, {})
    except ScenarioError as error:
        _fail(src, error.key_path, error.value, error.problem)
    return replace(budget, acceptance_quantile=float(budget.acceptance_quantile))  # 1 -> 1.0


def _targets(table, observed: dict[str, ObservedTarget], src: str) -> tuple[TargetSpec, ...]:
    if not isinstance(table, dict) or not table:
        _fail(src, "targets", table, "expected a table of target name -> {observed, summary}")
    targets = []
    for name, entry in table.items():
        key = f"targets.{name}"
        _check_keys(entry, TARGET_KEYS, key, src)
        summary = entry.get("summary")
        if summary not in SUMMARY_REGISTRY:
            _fail(src, f"{key}.summary", summary, f"unknown summary (known: {summary_names()})")
        args = entry.get("args", {})
        if not isinstance(args, dict):
            _fail(src, f"{key}.args", args, "expected a table of the summary's arguments")
        try:
            args = bind_arguments(summary, args)
        except ValueError as error:
            _fail(src, f"{key}.args", entry.get("args"), str(error))
        weight = _positive_number(entry.get("weight", 1.0), f"{key}.weight", src)
        flags = {}
        for flag in ("held_out", "optional"):
            flags[flag] = entry.get(flag, False)
            if not isinstance(flags[flag], bool):
                _fail(src, f"{key}.{flag}", flags[flag], "expected true or false")
        targets.append(TargetSpec(name=name, observed=_observation(entry, observed, key, src),
                                  summary=summary, args=args, weight=weight, **flags))
    _check_roles(targets, src)
    return tuple(targets)


def _check_roles(targets, src: str, why: str = "") -> None:
    """At least one fitted and :data:`MIN_HELD_OUT` held-out targets."""
    fit = [t for t in targets if not t.held_out]
    names = sorted(t.name for t in targets)
    if not fit:
        _fail(src, "targets", names, f"every target is held out{why}: nothing to fit")
    if len(targets) - len(fit) < MIN_HELD_OUT:
        _fail(src, "targets", names, f"hold out at least {MIN_HELD_OUT} targets (held_out = "
              f"true){why}: out-of-sample checks are part of every calibration")


def _observation(entry: dict, observed: dict[str, ObservedTarget], key: str,
                 src: str) -> ObservedTarget:
    inline = [k for k in INLINE_KEYS if k in entry]
    if "observed" in entry:
        if inline:
            _fail(src, f"{key}.{inline[0]}", entry[inline[0]],
                  "give either observed = <id> or an inline observation, not both")
        if entry["observed"] not in observed:
            _fail(src, f"{key}.observed", entry["observed"],
                  f"unknown observed target (known: {sorted(observed)})")
        return observed[entry["observed"]]
    if "value" not in entry:
        _fail(src, key, entry, "expected observed = <id> or an inline value and sd")
    row = {"target": key, "value": str(entry.get("value")), "sd": str(entry.get("sd", "")),
           "scale": entry.get("scale", "linear"), "unit": entry.get("unit", ""),
           "date": str(entry.get("date", "inline")),
           "source": entry.get("source", f"inline in {src}")}
    try:
        return target_from_row(row, src)
    except TargetDataError as error:
        _fail(src, error.key_path, error.value, error.problem)


def _check_targets_against_model(spec: CalibrationSpec, check_reporters: bool,
                                  src: str) -> CalibrationSpec:
    """Dates within the run, and every reporter a summary reads in the model; optional targets
    whose reporters the model lacks are left out (logged, and kept in ``spec.skipped``)."""
    base = spec.base_scenario
    start = pd.Timestamp(base.start_date)
    for target in spec.targets:
        for date in dates_of(target.summary, target.args):
            if date < start:
                _fail(src, f"targets.{target.name}.args", date.date().isoformat(),
                      f"before the scenario's start date {base.start_date}")
    for prefix, budget in (("budget", spec.budget), ("quick", spec.quick_budget)):
        if budget.steps is not None and budget.steps < steps_needed(spec):
            _fail(src, f"{prefix}.steps", budget.steps,
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
        _fail(src, f"targets.{next(iter(missing))}.args", every[0] if len(every) == 1 else every,
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
