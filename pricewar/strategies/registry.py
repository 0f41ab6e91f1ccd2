"""The strategy registry: name -> pricing function."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pricewar.strategies.base import PricingView

Strategy = Callable[["PricingView", np.ndarray], np.ndarray]


STRATEGY_REGISTRY: dict[str, Strategy] = {}


def register(name: str) -> Callable[[Strategy], Strategy]:
    """Decorator adding a strategy to :data:`STRATEGY_REGISTRY` under ``name``."""
    def wrap(fn: Strategy) -> Strategy:
        STRATEGY_REGISTRY[name] = fn
        return fn
    return wrap
