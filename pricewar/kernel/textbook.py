"""Textbook entry points: the one-market logit game of Calvano et al. (2020)."""

from __future__ import annotations

import numpy as np
from scipy import optimize

from pricewar.errors import ConvergenceError, KernelInputError
from pricewar.kernel.arrays import float_array
from pricewar.kernel.pricing import bertrand_nash, producer_profit
from pricewar.kernel.topology import RouteMarket, RouteTopology


# --------------------------------------------------------------------------------------------
# textbook entry points (one consumer, linear utility) -- Calvano et al. (2020) demand
# --------------------------------------------------------------------------------------------
def single_market(quality, mu: float, outside: float = 0.0, demand: float = 1.0) -> RouteMarket:
    """One consumer buying from ``n`` firms with ``q_i = exp((a_i-p_i)/mu) / (sum + exp(a0/mu))``.

    Built as a one-consumer route market (linear price form, ``alpha = 1/mu``, no capacity).
    """
    a = float_array("quality", quality)
    if a.size == 0:
        raise KernelInputError("quality must name at least one firm, got an empty array")
    if not (isinstance(mu, int | float | np.floating) and np.isfinite(mu) and mu > 0):
        raise KernelInputError(f"mu must be a finite number > 0, got {mu!r}")
    if not np.isfinite(outside):
        raise KernelInputError(f"outside must be finite, got {outside!r}")
    n = a.size
    topology = RouteTopology(np.array([0, n]), np.arange(n), n)
    return RouteMarket(
        topology,
        route_utility=a / mu,
        route_price_extra=np.zeros(n),
        consumer_alpha=np.array([1.0 / mu]),
        consumer_demand=np.array([float(demand)]),
        consumer_outside_utility=np.array([outside / mu]),
        producer_capacity=np.full(n, np.inf),
        price_form="linear",
    )


def logit_bertrand_nash(quality, cost, mu: float, outside: float = 0.0) -> np.ndarray:
    """Bertrand-Nash prices of the one-market logit game (Calvano et al. 2020, eq. 1).

    Parameters
    ----------
    quality : array (n,), product qualities ``a_i``
    cost : array (n,), marginal costs ``c_i`` (same money unit as prices)
    mu : float, horizontal differentiation (> 0)
    outside : float, outside-good quality ``a_0``

    Examples
    --------
    >>> logit_bertrand_nash([2, 2], [1, 1], mu=0.25).round(4)
    array([1.4729, 1.4729])
    """
    market = single_market(quality, mu, outside)
    cost = float_array("cost", cost, market.topology.n_producers, nonneg=True)
    return bertrand_nash(market, cost, initial_price=cost + mu, tol=1e-12)


def logit_joint_monopoly(quality, cost, mu: float, outside: float = 0.0) -> np.ndarray:
    """Prices maximising the firms' joint profit in the one-market logit game.

    Maximises ``sum_i (p_i - c_i) q_i(p)`` with scipy (BFGS) on the kernel's profit function,
    started from the Bertrand-Nash prices.

    Examples
    --------
    >>> logit_joint_monopoly([2, 2], [1, 1], mu=0.25).round(4)
    array([1.925, 1.925])
    """
    market = single_market(quality, mu, outside)
    cost = float_array("cost", cost, market.topology.n_producers, nonneg=True)
    start = logit_bertrand_nash(quality, cost, mu, outside)

    def negative_joint_profit(price: np.ndarray) -> float:
        return -float(producer_profit(market, price, cost).sum())

    result = optimize.minimize(negative_joint_profit, start, method="BFGS",
                               options={"gtol": 1e-11, "maxiter": 10_000})
    grad_norm = float(np.max(np.abs(result.jac))) if result.jac is not None else np.inf
    if grad_norm > 1e-6:
        raise ConvergenceError(f"joint-monopoly optimisation failed: {result.message} "
                               f"(gradient {grad_norm:.2e})", grad_norm, int(result.nit))
    return result.x
