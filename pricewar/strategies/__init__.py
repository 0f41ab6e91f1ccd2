"""Producer pricing strategies: one vectorized function each, registered by name (DESIGN §7).

A strategy is ``fn(view, members) -> base prices`` for the producers ``members`` (an int array),
where ``view`` is a :class:`PricingView` of the market this step. Adding one is a function, a
registry line (``@register("name")``) and a test. Scarcity (peak) pricing is applied on top of
every strategy by the model (:func:`scarcity_multiplier`).

Modules: :mod:`~pricewar.strategies.registry` (name -> function), :mod:`~pricewar.strategies.base`
(:class:`PricingView`, the shared best-response target), :mod:`~pricewar.strategies.heuristics`
(``best_response``, ``nash``, ``undercut``, ``cost_plus``), :mod:`~pricewar.strategies.q_learning`
and :mod:`~pricewar.strategies.scarcity` (the peak-pricing overlay).
"""

from pricewar.strategies import heuristics, q_learning  # noqa: F401  (register the strategies)
from pricewar.strategies.base import PricingView, best_response_target, cheapest_rival_price
from pricewar.strategies.registry import STRATEGY_REGISTRY, Strategy, register
from pricewar.strategies.scarcity import scarcity_update

__all__ = ["STRATEGY_REGISTRY", "PricingView", "Strategy", "best_response_target",
           "cheapest_rival_price", "register", "scarcity_update"]
