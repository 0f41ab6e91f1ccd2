"""The strategy registry: name -> pricing function, plus each strategy's parameters and hook.

A strategy is registered with :func:`register`::

    @register("my_strategy")                       # price only
    def my_strategy(view, members): ...

    @register("learner", params=LearnerParams, observe=observe_profit)
    def learner(view, members): ...

- ``params`` is a frozen dataclass of the strategy's parameters (defaults = the strategy's
  defaults). A scenario sets them in a ``[strategy_params.<name>]`` table, validated against the
  dataclass; the model hands them to the strategy as ``view.strategy_params[name]``.
- ``observe(state, producer_ids, profit)`` is called by the model's settlement phase for every
  strategy in use, with the strategies' memory (``model.strategy_state``), the producers' Mesa
  ``unique_id`` and their realised profit of the step (USD): how a learning strategy sees its
  reward.

This module imports nothing of pricewar (a leaf). The scenario layer does not import it:
:func:`pricewar.model.scenario_strategies.resolve_strategies` checks a scenario's strategy names and
parameter tables against it, so a registered strategy is usable from a scenario file and
``--set producer_strategy=<name>`` without editing a validator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

#: ``fn(view, members)``: ``view`` a :class:`pricewar.strategies.base.PricingView` (not imported:
#: the registry is a leaf)
Strategy = Callable[[Any, np.ndarray], np.ndarray]
Observer = Callable[[dict, np.ndarray, np.ndarray], None]

#: name -> pricing function ``fn(view, members) -> base prices of members (USD/Mtok)``
STRATEGY_REGISTRY: dict[str, Strategy] = {}
#: name -> the strategy's parameter dataclass (strategies with parameters only)
STRATEGY_PARAMS: dict[str, type] = {}
#: name -> the strategy's hook observing realised profit (learning strategies only)
STRATEGY_OBSERVERS: dict[str, Observer] = {}


def register(name: str, *, params: type | None = None,
             observe: Observer | None = None) -> Callable[[Strategy], Strategy]:
    """Decorator adding a strategy to :data:`STRATEGY_REGISTRY` under ``name``.

    Parameters
    ----------
    name : the name scenarios use (``producers.<group>.strategy``)
    params : optional frozen dataclass of the strategy's parameters; every field needs a default
    observe : optional hook ``observe(state, producer_ids, profit)`` called after settlement
    """
    def wrap(fn: Strategy) -> Strategy:
        STRATEGY_REGISTRY[name] = fn
        STRATEGY_PARAMS.pop(name, None)
        STRATEGY_OBSERVERS.pop(name, None)
        if params is not None:
            STRATEGY_PARAMS[name] = params
        if observe is not None:
            STRATEGY_OBSERVERS[name] = observe
        return fn
    return wrap


def strategy_names() -> list[str]:
    """Registered strategy names, sorted."""
    return sorted(STRATEGY_REGISTRY)
