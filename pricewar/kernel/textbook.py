"""Textbook entry points: the one-market logit game of Calvano et al. (2020) and Berry's (1994)
one-market nested logit."""

from __future__ import annotations

import numpy as np

from pricewar.errors import KernelInputError
from pricewar.kernel.arrays import first_bad, float_array
from pricewar.kernel.groups import label_array
from pricewar.kernel.pricing import bertrand_nash
from pricewar.kernel.route_market import RouteMarket
from pricewar.kernel.topology import RouteTopology


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

    Solved as the Bertrand-Nash equilibrium of one firm owning every product: the multi-product
    first-order conditions, cannibalisation included (:mod:`~pricewar.kernel.firms`), by the zeta
    fixed point. Unlike a numerical maximisation of profit it stays exact where the profit surface
    is nearly flat (a product with a negligible share); every product's markup ``p_i - c_i`` comes
    out equal, ``mu / s0`` with ``s0`` the outside share (the multi-product logit monopolist).

    Examples
    --------
    >>> logit_joint_monopoly([2, 2], [1, 1], mu=0.25).round(4)
    array([1.925, 1.925])
    """
    single = single_market(quality, mu, outside)
    n = single.topology.n_producers
    cost = float_array("cost", cost, n, nonneg=True)
    one_firm = RouteTopology(single.topology.consumer_ptr, single.topology.route_producer, n,
                             producer_firm=np.zeros(n, dtype=np.int64))
    market = RouteMarket(one_firm, single.route_utility, single.route_price_extra,
                         single.consumer_alpha, single.consumer_demand,
                         single.consumer_outside_utility, single.producer_capacity, "linear")
    return bertrand_nash(market, cost, initial_price=cost + mu, tol=1e-13, max_iter=1_000_000)


def nested_logit_bertrand_nash(quality, cost, alpha: float, nest, sigma, outside: float = 0.0,
                               price_form: str = "linear") -> np.ndarray:
    """Bertrand-Nash prices of single-product firms in one nested-logit market (Berry 1994).

    Product ``i`` has mean utility ``delta_i = quality_i - alpha phi(p_i)`` with ``phi(p) = p``
    (``price_form="linear"``) or ``log p``; products are grouped in nests with nesting parameter
    ``sigma_g`` (within-nest elasticity ``alpha / (1 - sigma_g)``), beside an outside good of
    utility ``outside``. Built as a one-consumer route market and solved by the general kernel.

    Parameters
    ----------
    quality : array (n,), utils
    cost : array (n,), marginal costs (> 0 for the log form), in the price unit
    alpha : float, price sensitivity (> 0; > 1 for the log form)
    nest : int array (n,), nest label of each product (any order)
    sigma : float, or array with one value per nest label (length >= max(nest) + 1), in [0, 1)
    outside : float, outside-good utility; ``-inf`` for none
    price_form : {"linear", "log"}

    Returns
    -------
    price : array (n,), in the order of ``quality``

    Examples
    --------
    With ``sigma = 0`` this is the plain logit game (here Calvano et al.'s baseline, whose
    qualities 2 and ``mu = 1/4`` become ``quality = 2 alpha`` with ``alpha = 4``); two hosts of one
    family at ``sigma = 0.9`` price much closer to cost:

    >>> nested_logit_bertrand_nash([8, 8], [1, 1], alpha=4.0, nest=[0, 0], sigma=0.0).round(4)
    array([1.4729, 1.4729])
    >>> nested_logit_bertrand_nash([8, 8], [1, 1], alpha=4.0, nest=[0, 0], sigma=0.9).round(4)
    array([1.0499, 1.0499])
    """
    q = float_array("quality", quality)
    if q.size == 0:
        raise KernelInputError("quality must name at least one product, got an empty array")
    n = q.size
    c = float_array("cost", cost, n, nonneg=True)
    labels = label_array("nest", nest, n)
    if not (isinstance(alpha, int | float | np.floating) and np.isfinite(alpha) and alpha > 0):
        raise KernelInputError(f"alpha must be a finite number > 0, got {alpha!r}")
    n_nests = int(labels.max()) + 1
    sigma_arr = np.asarray(sigma, dtype=np.float64)
    if sigma_arr.ndim == 0:
        sigma_arr = np.full(n_nests, float(sigma_arr))
    if np.isnan(outside) or outside == np.inf:
        raise KernelInputError(f"outside must be finite or -inf, got {outside!r}")
    if price_form == "log" and (c <= 0).any():
        raise KernelInputError(f"cost must be > 0 with price_form='log', got "
                               f"{first_bad(c, c <= 0)}")
    order = np.argsort(labels, kind="stable")  # a consumer's routes are sorted by nest
    topology = RouteTopology(np.array([0, n]), order, n, route_nest=labels[order])
    market = RouteMarket(
        topology,
        route_utility=q[order],
        route_price_extra=np.zeros(n),
        consumer_alpha=np.array([float(alpha)]),
        consumer_demand=np.array([1.0]),
        consumer_outside_utility=np.array([float(outside)]),
        price_form=price_form,
        nest_sigma=sigma_arr,
    )
    # (any positive start does for the log form, whose map converges in a few steps)
    start = c * 2.0 if price_form == "log" else c + 1.0 / alpha
    return bertrand_nash(market, c, initial_price=start, tol=1e-13, max_iter=100_000)
