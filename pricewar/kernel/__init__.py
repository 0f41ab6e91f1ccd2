"""Vectorized logit pricing kernel: shares, demand, capacity clearing, best response, Nash.

Pure numpy/scipy on flat route arrays: no Mesa, no networkx, no I/O, no hidden state.

A *route* ``r = (consumer j, platform k, producer i)``. Routes are stored in CSR order by consumer:
the routes of consumer ``j`` are ``consumer_ptr[j]:consumer_ptr[j+1]``. Every price is in USD per
million tokens (USD/Mtok), every quantity in million tokens per step (Mtok/step), utilities in utils.
A *producer* is the price-setting unit; in the token market of demand v2 it is a product (one host's
offer of one model family).

Route utility (docs/ODD.md, "Demand and choice")::

    v_r = u_r - alpha_j * phi(P_r),   P_r = p_i + e_r

with ``u_r`` the non-price utility (quality, platform value-add, latency), ``e_r`` the price added
along the route (platform markup, transfer cost) and ``phi(P) = log P`` (token market, default) or
``phi(P) = P`` (textbook linear form of Calvano et al. 2020). Consumer ``j`` buys route ``r`` with
logit probability ``s_r = exp(v_r) / (exp(v0_j) + sum_{r' in R_j} exp(v_r'))``.

Demand v2 generalises this, each feature optional and neutral by default (the v1 code paths then
run unchanged): nested logit over a nest label per route (Berry 1994), an isoelastic upper level
for each consumer's volume, an optional outside option, capacity shared by the producers of a host,
rationing with re-choice, and multi-product firms (see :class:`RouteMarket`).

Modules, in the order data flows through them: :mod:`~pricewar.kernel.arrays` (input checks,
scatter sums), :mod:`~pricewar.kernel.groups` (nests, hosts, firms),
:mod:`~pricewar.kernel.topology` (routes), :mod:`~pricewar.kernel.route_market` (market values),
:mod:`~pricewar.kernel.nests` and :mod:`~pricewar.kernel.demand` (shares and demand),
:mod:`~pricewar.kernel.rechoice` and :mod:`~pricewar.kernel.clearing` (capacity rationing),
:mod:`~pricewar.kernel.firms` and :mod:`~pricewar.kernel.pricing` (best response, Bertrand-Nash)
and :mod:`~pricewar.kernel.textbook` (the one-market logit and nested-logit games used for
validation).
"""

from pricewar.kernel.clearing import Clearing, clear_capacity
from pricewar.kernel.demand import MarketDemand, logit_shares, market_demand
from pricewar.kernel.pricing import (
    bertrand_nash,
    best_response,
    inverse_elasticity_response,
    own_price_derivative,
    producer_profit,
)
from pricewar.kernel.route_market import RATIONING_RULES, RouteMarket
from pricewar.kernel.textbook import (
    logit_bertrand_nash,
    logit_joint_monopoly,
    nested_logit_bertrand_nash,
    single_market,
)
from pricewar.kernel.topology import PRICE_FORMS, RouteTopology

__all__ = [
    "PRICE_FORMS",
    "RATIONING_RULES",
    "RouteTopology",
    "RouteMarket",
    "MarketDemand",
    "Clearing",
    "logit_shares",
    "market_demand",
    "clear_capacity",
    "own_price_derivative",
    "best_response",
    "inverse_elasticity_response",
    "bertrand_nash",
    "producer_profit",
    "single_market",
    "logit_bertrand_nash",
    "logit_joint_monopoly",
    "nested_logit_bertrand_nash",
]
