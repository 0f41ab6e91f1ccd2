"""Forward-looking pricing: the best response with the value of a customer kept (docs/ODD.md §6.4,
"Forward-looking pricing").

With a customer base (utility bonus ``kappa w``, :mod:`pricewar.kernel.habit`), a Mtok sold
today also raises next step's demand. A host that values that (Klemperer 1995's "investing"
motive; Dube, Hitsch & Rossi 2009 measure it) prices each product at

    p = (c - psi) eps / (eps - 1),    psi = sum_{k=1..H} (delta rho)^(k-1) delta g V

the static inverse-elasticity rule with marginal cost lowered by ``psi``, the discounted value of
an extra customer: ``V`` the next-step profit and ``rho`` the next-step volume one Mtok keeps (the
kernel's derivatives, :func:`~pricewar.kernel.habit.habit_derivatives`), ``g = 1 +`` task growth
per step, ``delta = (1 + wacc)^(-step years)`` the host's discount factor per step and ``H`` the
planning horizon in steps (a kept customer is worth its margin next step and, as long as it stays,
the steps after: the geometric sum). A host whose tokens sell complements (cloud, ecosystem)
values volume further at ``complement_weight x c``. With ``kappa = 0`` and no complement weight,
``psi = 0`` and the strategy is ``best_response`` exactly.

The strategy moves a ``best_response_damping`` step toward that target each step, like
``best_response``. Where ``c - psi <= 0`` (a customer is worth more than serving it costs) the
target is the floor ``min_price_to_cost x c``: a free tier rationed by capacity, not a negative
price.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pricewar.kernel.habit import habit_derivatives
from pricewar.strategies.base import PricingView, best_response_target
from pricewar.strategies.registry import register


@dataclass(frozen=True)
class ForwardLookingParams:
    """Parameters of ``forward_looking`` (scenario table ``[strategy_params.forward_looking]``).

    horizon_steps : steps over which a kept customer is valued (1 = the one-step look-ahead);
        est. 13-104, default 52: enterprise buyers review vendors about yearly (Menlo Ventures,
        2025 mid-year LLM market update: ~11% switched primary vendor in a year)
    max_retention : cap on the per-step retention ``delta g rho`` in the geometric sum (keeps
        the value finite where the base alone would hold every customer)
    min_price_to_cost : floor of the list price as a fraction of marginal cost (a free tier is
        rationed, not unlimited), est. 0.01-0.5
    """

    horizon_steps: int = 52
    max_retention: float = 0.95
    min_price_to_cost: float = 0.1

    def __post_init__(self):
        h = self.horizon_steps
        if not isinstance(h, int | np.integer) or isinstance(h, bool) or not 1 <= h <= 520:
            raise ValueError(f"horizon_steps must be an int in [1, 520], got {h!r}")
        if not 0.0 <= self.max_retention <= 0.99:
            raise ValueError(f"max_retention must be in [0, 0.99], got {self.max_retention!r}")
        if not 0.0 <= self.min_price_to_cost <= 1.0:
            raise ValueError(f"min_price_to_cost must be in [0, 1], got "
                             f"{self.min_price_to_cost!r}")


def customer_value(view: PricingView, params: ForwardLookingParams) -> np.ndarray:
    """``psi`` per unit (USD/Mtok): the discounted value of a Mtok sold now through the customers
    it keeps, plus the complement value (module docstring). Reads ``view.state["dynamics"]``
    (``kappa``, ``growth``, ``discount`` per unit, ``complement_weight`` per unit) set by the
    model; without it ``psi = 0``."""
    dynamics = view.state.get("dynamics")
    n = view.price.size
    if not dynamics:
        return np.zeros(n)
    kappa = float(dynamics.get("kappa", 0.0))
    complement = np.broadcast_to(np.asarray(dynamics.get("complement_weight", 0.0), float), n)
    psi = complement * view.marginal_cost
    if kappa == 0.0:
        return psi
    discount = np.broadcast_to(np.asarray(dynamics.get("discount", 1.0), float), n)
    growth = float(dynamics.get("growth", 1.0))
    derivatives = habit_derivatives(view.market, view.current_demand(), view.price,
                                    view.marginal_cost, kappa)
    keep = np.clip(discount * growth * derivatives.retention, 0.0, params.max_retention)
    horizon = params.horizon_steps
    with np.errstate(divide="ignore", invalid="ignore"):
        series = np.where(keep > 0, (1.0 - keep ** horizon) / (1.0 - keep), 1.0)
    return psi + discount * growth * derivatives.value * series


def forward_looking_target(view: PricingView, params: ForwardLookingParams) -> np.ndarray:
    """Each unit's forward-looking best response (USD/Mtok): the static best response at the
    marginal cost lowered by :func:`customer_value`, floored at ``min_price_to_cost x c``."""
    psi = customer_value(view, params)
    if not np.any(psi):
        return best_response_target(view)
    effective = view.marginal_cost - psi
    floor = params.min_price_to_cost * view.marginal_cost
    shifted = PricingView(view.market, view.price, np.maximum(effective, 0.0), view.full_cost,
                          view.cash, view.params, demand=view.current_demand())
    target = best_response_target(shifted)
    # with c - psi <= 0 the rule gives a price <= 0: the free-tier floor
    return np.where(effective > 0, np.maximum(target, floor), floor)


@register("forward_looking", params=ForwardLookingParams)
def forward_looking(view: PricingView, members: np.ndarray) -> np.ndarray:
    """One damped step toward the forward-looking best response (docs/ODD.md §6.4)."""
    params = view.strategy_params.get("forward_looking", ForwardLookingParams())
    target = forward_looking_target(view, params)
    damping = view.params.best_response_damping
    base = view.price[members]
    return base + damping * (target[members] - base)
