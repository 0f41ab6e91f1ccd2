"""A scenario's strategies, checked against the registry: names and ``[strategy_params]`` tables.

The scenario layer sits below the strategies and does not know which are registered (and the
strategies import no scenario): it keeps
``producers.<group>.strategy`` as a name and ``strategy_params`` as plain tables.
:func:`resolve_strategies` checks them here, where the registry is filled -- every producer
group's strategy is registered, every ``[strategy_params.<name>]`` table builds the dataclass the
strategy registered -- and fills in the defaults of every strategy in use that has parameters, so
the resolved scenario records every parameter of a run. The model resolves its scenario on
construction, and sweep and calibration specs resolve theirs when they are loaded, so an unknown
strategy is a one-line :class:`~pricewar.errors.ScenarioError` naming the file, the key path and
the value before anything runs.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pricewar.errors import ScenarioError
from pricewar.scenario import Scenario
from pricewar.scenario.typed import build_dataclass, fail
from pricewar.strategies.registry import STRATEGY_PARAMS, strategy_names


def resolve_strategies(scenario: Scenario) -> Scenario:
    """``scenario`` with its strategies checked and ``strategy_params`` built (name -> the
    strategy's parameter dataclass, defaults filled in); raises ScenarioError. Idempotent."""
    known = strategy_names()
    for name, group in scenario.producers.items():
        if group.strategy not in known:
            key = f"producers.{name}.strategy"
            _fail(scenario, key, group.strategy, f"must be one of {known}")
    sources = dict(scenario.sources)
    params = _build_params(scenario, sources)
    for name in sorted({group.strategy for group in scenario.producers.values()}):
        if name in STRATEGY_PARAMS and name not in params:
            params[name] = STRATEGY_PARAMS[name]()
            for f in dataclasses.fields(params[name]):
                sources[f"strategy_params.{name}.{f.name}"] = (
                    f"default of the {name} strategy ({STRATEGY_PARAMS[name].__name__})")
    if params == scenario.strategy_params and sources == scenario.sources:
        return scenario
    return dataclasses.replace(scenario, strategy_params=params, sources=sources)


def _fail(scenario: Scenario, key: str, value: object, problem: str):
    """Raise naming the override that set ``key``, if one did (as the scenario's checks do)."""
    source = scenario.sources.get(key, "")
    if source.startswith("override "):
        problem = f"{problem} (set by {source})"
    fail(scenario.origin, key, value, problem)


def _build_params(scenario: Scenario, sources: dict[str, str]) -> dict[str, Any]:
    """The ``strategy_params`` tables as the dataclasses their strategies registered."""
    origin = scenario.origin
    out = {}
    for name, table in scenario.strategy_params.items():
        key = f"strategy_params.{name}"
        if name not in STRATEGY_PARAMS:
            fail(origin, key, table, f"must be one of {sorted(STRATEGY_PARAMS)} (the registered "
                                     f"strategies with parameters)")
        cls = STRATEGY_PARAMS[name]
        if isinstance(table, cls):  # resolved already
            out[name] = table
            continue
        try:
            out[name] = build_dataclass(cls, table, key, origin, sources)
        except ScenarioError:
            raise
        except (TypeError, ValueError) as error:  # the dataclass's own checks
            problem = str(error)
            field_name = problem.split(" ", 1)[0]
            bad = table.get(field_name, table)
            fail(origin, f"{key}.{field_name}" if field_name in table else key, bad, problem)
    return out
