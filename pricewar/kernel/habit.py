"""Derivatives of next step's demand with respect to this step's sales under a customer base.

The customer base (docs/ODD.md §6.2, "Customer base") adds to the utility of every route of host
``i`` for consumer ``j`` the bonus ``kappa (w_ji - sum_k w_jk^2)``, with ``w_ji`` the share of
``j``'s volume bought from ``i`` last step. The consumer-level constant ``sum_k w_jk^2`` keeps the
consumer's inclusive value (so its volume) unchanged to first order when shares repeat: the base
moves customers between hosts, it does not create tasks.

Selling one more Mtok of product ``a`` (host ``i``) to consumer ``j`` this step raises ``w_ji`` by
``(1 - S_ji) / X_j`` and lowers every rival's ``w_jk`` by ``S_jk / X_j`` (``S`` the host shares now,
``X_j`` the consumer's volume). In the nested logit with an isoelastic upper level (no outside
option) the utility change ``h`` moves the volume of route ``r`` by

    d log x_r = h_r / lambda_g - (sigma_g / lambda_g) H_g - (1 - eta_j / alpha_j) H_j

(``H_g``, ``H_j`` the within-nest and consumer share-weighted means of ``h``), which for a route
of the gaining host gives

    d log x_r / d x_ja = (kappa / X_j) [ (1 - S_ji) / lambda_g
                                        - (sigma_g / lambda_g) (S_{ig|g} - W_g)
                                        - (1 + eta_j / alpha_j) (S_ji - W_j) ]

with ``S_{ig|g}`` the host's share within the nest, ``W_g = sum_k S_jk S_{kg|g}`` and
``W_j = sum_k S_jk^2``. Pure numpy: arrays in, arrays out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pricewar.errors import KernelInputError
from pricewar.kernel.demand import MarketDemand
from pricewar.kernel.route_market import RouteMarket


@dataclass(frozen=True)
class HabitDerivatives:
    """Per producer (product) ``a`` of host ``i``, per Mtok sold now, undiscounted, at this
    step's prices and volumes (the one-step look-ahead):

    value : ``dpi_i(t+1) / dx_a(t)``, USD/Mtok: the host's next-step profit from the customers
        an extra Mtok keeps (margins ``p - c`` of all the host's products)
    retention : ``dQ_i(t+1) / dx_a(t)``, Mtok per Mtok: the host's next-step volume it keeps
    """

    value: np.ndarray
    retention: np.ndarray


def host_route_log_response(market: RouteMarket, demand: MarketDemand,
                            kappa: float) -> np.ndarray:
    """``d log x_r / d x_{j,i(r)}`` per route (1/Mtok): the relative change of route ``r``'s
    next-step volume per Mtok its host sells to the route's consumer now (module docstring)."""
    topo = market.topology
    if np.isfinite(market.consumer_outside_utility).any():
        raise KernelInputError("habit derivatives need a market without an outside option "
                               "(consumer_outside_utility = -inf)")
    n_routes = topo.n_routes
    if n_routes == 0 or kappa == 0.0:
        return np.zeros(n_routes)
    j = topo.route_consumer
    host = (topo.route_producer if topo.hosts is None
            else topo.hosts.producer_host[topo.route_producer])
    n_hosts = int(host.max()) + 1
    share = demand.route_share
    # host share of each (consumer, host) pair and the consumer's sum of squares
    _, pair = np.unique(j * n_hosts + host, return_inverse=True)
    pair_share = np.bincount(pair, share)
    route_host_share = pair_share[pair]
    first = np.r_[True, pair[1:] != pair[:-1]] if np.all(np.diff(pair) >= 0) else None
    if first is None:  # one representative route per pair
        _, first_idx = np.unique(pair, return_index=True)
        first = np.zeros(n_routes, bool)
        first[first_idx] = True
    squares = np.bincount(j[first], route_host_share[first] ** 2, minlength=topo.n_consumers)
    volume = demand.consumer_volume
    if volume is None:
        volume = market.consumer_demand
    ratio = market.eta / market.consumer_alpha if market.is_elastic else np.zeros(volume.size)
    bracket = (1.0 - route_host_share) - (1.0 + ratio[j]) * (route_host_share - squares[j])
    if market.is_nested:
        nest_share = demand.route_nest_share
        group = topo.nests.route_group.astype(np.int64)
        _, host_group = np.unique(group * n_hosts + host, return_inverse=True)
        host_nest_share = np.bincount(host_group, nest_share)[host_group]
        nest_weighted = np.bincount(group, route_host_share * nest_share,
                                    minlength=topo.nests.n_groups)[group]
        inv_lambda = market._route_inv_lambda
        bracket = ((1.0 - route_host_share) * inv_lambda
                   - (inv_lambda - 1.0) * (host_nest_share - nest_weighted)
                   - (1.0 + ratio[j]) * (route_host_share - squares[j]))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(volume[j] > 0, kappa * bracket / volume[j], 0.0)


def habit_derivatives(market: RouteMarket, demand: MarketDemand, producer_price: np.ndarray,
                      marginal_cost: np.ndarray, kappa: float) -> HabitDerivatives:
    """Next step's profit and volume of each product's host per Mtok the product sells now
    (:class:`HabitDerivatives`), with this step's volumes and margins standing in for next
    step's (the caller scales by task growth and discounting)."""
    topo = market.topology
    n = topo.n_producers
    if kappa == 0.0 or topo.n_routes == 0:
        return HabitDerivatives(np.zeros(n), np.zeros(n))
    j = topo.route_consumer
    host = (topo.route_producer if topo.hosts is None
            else topo.hosts.producer_host[topo.route_producer])
    n_hosts = int(host.max()) + 1
    _, pair = np.unique(j * n_hosts + host, return_inverse=True)
    x = demand.route_demand
    dlog = host_route_log_response(market, demand, kappa)
    margin = (np.asarray(producer_price) - np.asarray(marginal_cost))[topo.route_producer]
    pair_value = np.bincount(pair, margin * x * dlog)
    pair_volume = np.bincount(pair, x * dlog)
    quantity = demand.producer_demand
    with np.errstate(divide="ignore", invalid="ignore"):
        value = topo.producer_sum(x * pair_value[pair]) / quantity
        retention = topo.producer_sum(x * pair_volume[pair]) / quantity
    return HabitDerivatives(np.where(quantity > 0, value, 0.0),
                            np.where(quantity > 0, retention, 0.0))
