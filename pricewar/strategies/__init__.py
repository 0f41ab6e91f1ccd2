"""Producer pricing strategies: one vectorized function each, registered by name.

A strategy is ``fn(view, members) -> base prices`` for the producers ``members`` (an int array),
where ``view`` is a :class:`PricingView` of the market this step (docs/ODD.md §6.4 "Pricing").
Adding one is a function, ``@register("name")`` and a test; a strategy with parameters registers
their dataclass (``params=``), one that learns from its realised profit a hook (``observe=``); see
:mod:`~pricewar.strategies.registry`. Scarcity (peak) pricing is applied on top of every strategy
by the model (:func:`scarcity_update`).

Modules: :mod:`~pricewar.strategies.registry` (name -> function, parameters, hook),
:mod:`~pricewar.strategies.base` (:class:`PricingView`, the shared best-response target),
:mod:`~pricewar.strategies.heuristics` (``best_response``, ``nash``, ``undercut``, ``cost_plus``),
:mod:`~pricewar.strategies.q_learning` and :mod:`~pricewar.strategies.scarcity` (the peak-pricing
overlay). The registry is a leaf; the scenario layer imports no strategy:
:func:`pricewar.model.scenario_strategies.resolve_strategies` checks a scenario's strategy
names and parameter tables against the registry.
"""

from pricewar.strategies import (  # noqa: F401  (register the strategies)
    forward_looking,
    heuristics,
    q_learning,
)
from pricewar.strategies.base import PricingView, best_response_target, cheapest_rival_price
from pricewar.strategies.registry import (
    STRATEGY_OBSERVERS,
    STRATEGY_PARAMS,
    STRATEGY_REGISTRY,
    Observer,
    Strategy,
    register,
    strategy_names,
)
from pricewar.strategies.scarcity import scarcity_update

__all__ = ["STRATEGY_OBSERVERS", "STRATEGY_PARAMS", "STRATEGY_REGISTRY", "Observer", "PricingView",
           "Strategy", "best_response_target", "cheapest_rival_price", "register",
           "scarcity_update", "strategy_names"]
