"""Vectorized logit pricing kernel: shares, demand, capacity clearing, best response, Nash.

Pure numpy/scipy on flat route arrays: no Mesa, no networkx, no I/O, no hidden state.

A *route* ``r = (consumer j, platform k, producer i)``. Routes are stored in CSR order by consumer:
the routes of consumer ``j`` are ``consumer_ptr[j]:consumer_ptr[j+1]``. Every price is in USD per
million tokens (USD/Mtok), every quantity in million tokens per step (Mtok/step), utilities in utils.

Route utility (docs/ODD.md, "Demand and choice")::

    v_r = u_r - alpha_j * phi(P_r),   P_r = p_i + e_r

with ``u_r`` the non-price utility (quality, platform value-add, latency), ``e_r`` the price added
along the route (platform markup, transfer cost) and ``phi(P) = log P`` (token market, default) or
``phi(P) = P`` (textbook linear form of Calvano et al. 2020). Consumer ``j`` buys route ``r`` with
logit probability ``s_r = exp(v_r) / (exp(v0_j) + sum_{r' in R_j} exp(v_r'))``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import optimize, sparse

from pricewar.errors import ConvergenceError, KernelInputError

PRICE_FORMS = ("log", "linear")

__all__ = [
    "PRICE_FORMS",
    "RouteTopology",
    "RouteMarket",
    "MarketDemand",
    "Clearing",
    "logit_shares",
    "market_demand",
    "clear_capacity",
    "own_price_derivative",
    "best_response",
    "bertrand_nash",
    "producer_profit",
    "single_market",
    "logit_bertrand_nash",
    "logit_joint_monopoly",
]


# --------------------------------------------------------------------------------------------
# input checks (scikit-learn style: name the argument and the bad value)
# --------------------------------------------------------------------------------------------
def _first_bad(values: np.ndarray, bad: np.ndarray) -> str:
    idx = int(np.flatnonzero(bad)[0])
    return f"{values.ravel()[idx].item()!r} at index {idx}"


def _float_array(name: str, values, length: int | None = None, *, nonneg: bool = False,
                 allow_inf: bool = False) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise KernelInputError(f"{name} must be 1-D, got shape {arr.shape}")
    if length is not None and arr.shape[0] != length:
        raise KernelInputError(f"{name} has length {arr.shape[0]}, expected {length}")
    bad = np.isnan(arr) if allow_inf else ~np.isfinite(arr)
    if bad.any():
        kind = "NaN" if allow_inf else "non-finite values"
        raise KernelInputError(f"{name} contains {kind}: {_first_bad(arr, bad)}")
    if nonneg and (arr < 0).any():
        raise KernelInputError(f"{name} must be >= 0, got {_first_bad(arr, arr < 0)}")
    return arr


def _int_array(name: str, values) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise KernelInputError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise KernelInputError(f"{name} must hold integers, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


# --------------------------------------------------------------------------------------------
# scatter-sum primitive
# --------------------------------------------------------------------------------------------
_ONE = np.ones(1)
_INT32_MAX = int(np.iinfo(np.int32).max)


def _index32(index: np.ndarray, size: int) -> np.ndarray:
    """An int32 copy of ``index`` (entries in ``[0, size)``) for :func:`_scatter_sum`, when it fits."""
    if index.size < _INT32_MAX and size < _INT32_MAX:
        return index.astype(np.int32)
    return index


def _scatter_sum(index: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """``np.bincount(index, values, minlength=size)``: sum float64 ``values`` by ``index``.

    Every per-producer and per-consumer sum of the kernel goes through here, so it is worth a trick:
    with an int32 ``index`` the sum is done as the product of a one-column CSC matrix holding
    ``values`` at rows ``index`` with the vector ``[1.0]``. scipy's compiled loop then adds the values
    in route order, exactly like ``bincount``, but reads 4-byte indices and skips bincount's extra
    min/max pass over ``index``: about 2.5x faster on producer sums, 1.8x on consumer sums
    (2M routes), and faster than ``np.add.reduceat`` over consumer segments. ``index`` must be
    valid (it always comes from a validated topology): the compiled loop does not check bounds.
    """
    if index.dtype != np.int32 or values.size == 0 or size == 0:
        return np.bincount(index, values, minlength=size).astype(np.float64, copy=False)
    column = sparse.csc_matrix((values, index, np.array([0, values.size], dtype=np.int32)),
                               shape=(size, 1))
    return column @ _ONE


def _segment_dot(topology: RouteTopology, route_values: np.ndarray,
                 producer_values: np.ndarray) -> np.ndarray:
    """``sum_{r in R_j} route_values_r producer_values[producer(r)]`` per consumer ``j``.

    Done as the product of a consumer x producer CSR matrix holding ``route_values`` with
    ``producer_values``: no per-route temporary is materialised.
    """
    if topology._consumer_ptr32 is None or topology.n_routes == 0:
        return topology.segment_sum(route_values * producer_values[topology.route_producer])
    matrix = sparse.csr_matrix((route_values, topology._producer_index, topology._consumer_ptr32),
                               shape=(topology.n_consumers, topology.n_producers))
    return matrix @ producer_values


# --------------------------------------------------------------------------------------------
# topology and market values
# --------------------------------------------------------------------------------------------
class RouteTopology:
    """Which consumer can buy from which producer, as CSR route arrays (compiled once).

    Parameters
    ----------
    consumer_ptr : int array, shape (n_consumers + 1,)
        CSR offsets: the routes of consumer ``j`` are ``consumer_ptr[j]:consumer_ptr[j+1]``.
    route_producer : int array, shape (n_routes,)
        Producer index of each route, in ``[0, n_producers)``.
    n_producers : int
        Number of producers (some may have no route).

    Notes
    -----
    Several routes of one consumer may lead to the same producer (through different platforms);
    the (consumer, producer) *pairs* are indexed here once, because the own-price derivative
    aggregates shares per pair (DESIGN §7).
    """

    def __init__(self, consumer_ptr, route_producer, n_producers: int):
        ptr = _int_array("consumer_ptr", consumer_ptr)
        prod = _int_array("route_producer", route_producer)
        if ptr.size == 0 or ptr[0] != 0:
            raise KernelInputError(f"consumer_ptr must start at 0, got {ptr[:1].tolist()}")
        if (np.diff(ptr) < 0).any():
            raise KernelInputError(
                f"consumer_ptr must be non-decreasing, got {_first_bad(ptr[1:], np.diff(ptr) < 0)}")
        if ptr[-1] != prod.size:
            raise KernelInputError(
                f"consumer_ptr[-1] = {int(ptr[-1])} must equal len(route_producer) = {prod.size}")
        if not isinstance(n_producers, int | np.integer) or n_producers < 0:
            raise KernelInputError(f"n_producers must be a non-negative int, got {n_producers!r}")
        bad = (prod < 0) | (prod >= n_producers)
        if bad.any():
            raise KernelInputError(
                f"route_producer must lie in [0, {n_producers}), got {_first_bad(prod, bad)}")

        self.consumer_ptr = ptr
        self.route_producer = prod
        self.n_producers = int(n_producers)
        self.n_consumers = ptr.size - 1
        self.n_routes = prod.size
        counts = np.diff(ptr)
        self.route_consumer = np.repeat(np.arange(self.n_consumers, dtype=np.int64), counts)
        self._nonempty = counts > 0
        # reduceat over non-empty segments only: consecutive non-empty starts bound each segment.
        self._starts = ptr[:-1][self._nonempty]

        # Compiled once for the hot loops: int32 indices for _scatter_sum, routes per producer.
        self._consumer_index = _index32(self.route_consumer, self.n_consumers)
        self._producer_index = _index32(prod, self.n_producers)
        self._producer_route_count = np.bincount(prod, minlength=self.n_producers)
        small = self._consumer_index.dtype == np.int32 and self._producer_index.dtype == np.int32
        self._consumer_ptr32 = ptr.astype(np.int32) if small else None  # for _segment_dot
        # Routes sharing their (consumer, producer) pair with another route, and a compact pair id
        # for them: the pair share S_ij differs from the route share only there (see _pair_terms).
        self._dup_routes: np.ndarray | None = None
        self._dup_pair: np.ndarray | None = None
        self._dup_first: np.ndarray | None = None
        self._dup_first_pair: np.ndarray | None = None

        key = self.route_consumer * max(self.n_producers, 1) + prod
        if self.n_routes and (np.diff(key) > 0).all():
            # already one route per pair and sorted: pairs are routes
            self.route_pair = None
            self.pair_consumer = self.route_consumer
            self.pair_producer = prod
        else:
            uniq, inverse = np.unique(key, return_inverse=True)
            if uniq.size == self.n_routes:
                self.route_pair = None  # one route per pair, just not sorted by producer
                self.pair_consumer = self.route_consumer
                self.pair_producer = prod
            else:
                self.route_pair = inverse.astype(np.int64)
                self.pair_consumer = uniq // max(self.n_producers, 1)
                self.pair_producer = uniq % max(self.n_producers, 1)
                routes_per_pair = np.bincount(self.route_pair, minlength=uniq.size)
                self._dup_routes = np.flatnonzero(routes_per_pair[self.route_pair] > 1)
                _, first, inverse = np.unique(self.route_pair[self._dup_routes],
                                              return_index=True, return_inverse=True)
                self._dup_pair = inverse.astype(np.int64)
                # first route of each such pair, in route order, and the pair it starts
                self._dup_first_pair = np.argsort(self._dup_routes[first])
                self._dup_first = self._dup_routes[first][self._dup_first_pair]

    @property
    def n_pairs(self) -> int:
        """Number of distinct (consumer, producer) pairs."""
        return self.pair_producer.size

    def segment_sum(self, route_values: np.ndarray) -> np.ndarray:
        """Sum a per-route array over each consumer's routes; shape (n_consumers,)."""
        values = np.asarray(route_values, dtype=np.float64)
        return _scatter_sum(self._consumer_index, values, self.n_consumers)

    def segment_max(self, route_values: np.ndarray) -> np.ndarray:
        """Maximum of a per-route array over each consumer's routes (-inf when none)."""
        out = np.full(self.n_consumers, -np.inf)
        if self._starts.size:
            out[self._nonempty] = np.maximum.reduceat(route_values, self._starts)
        return out

    def pair_sum(self, route_values: np.ndarray) -> np.ndarray:
        """Sum a per-route array over the routes of each (consumer, producer) pair."""
        if self.route_pair is None:
            return route_values
        return np.bincount(self.route_pair, route_values, minlength=self.n_pairs)

    def producer_sum(self, route_values: np.ndarray) -> np.ndarray:
        """Sum a per-route array over each producer's routes; shape (n_producers,)."""
        values = np.asarray(route_values, dtype=np.float64)
        return _scatter_sum(self._producer_index, values, self.n_producers)


@dataclass(frozen=True, eq=False)
class RouteMarket:
    """Values of one market on a fixed :class:`RouteTopology` (validated on construction).

    Parameters
    ----------
    topology : RouteTopology
    route_utility : float array, shape (n_routes,)
        Non-price utility ``u_r`` (quality, platform value-add, latency), utils.
    route_price_extra : float array, shape (n_routes,)
        Price added along the route ``e_r`` (platform markup, transfer cost), USD/Mtok, >= 0.
    consumer_alpha : float array, shape (n_consumers,)
        Price sensitivity ``alpha_j`` (> 0; > 1 for the log form, DESIGN §5).
    consumer_demand : float array, shape (n_consumers,)
        Potential demand ``D_j``, Mtok/step, >= 0.
    consumer_outside_utility : float array, shape (n_consumers,)
        Outside-option utility ``v0_j``, utils.
    producer_capacity : float array, shape (n_producers,)
        Capacity ``K_i``, Mtok/step, >= 0; ``inf`` for uncapacitated producers.
    price_form : {"log", "linear"}
        ``phi(P) = log P`` (token market) or ``phi(P) = P`` (textbook validation).
    """

    topology: RouteTopology
    route_utility: np.ndarray
    route_price_extra: np.ndarray
    consumer_alpha: np.ndarray
    consumer_demand: np.ndarray
    consumer_outside_utility: np.ndarray
    producer_capacity: np.ndarray
    price_form: str = "log"

    def __post_init__(self):
        topo = self.topology
        if not isinstance(topo, RouteTopology):
            raise KernelInputError(f"topology must be a RouteTopology, got {type(topo).__name__}")
        nr, nc, npd = topo.n_routes, topo.n_consumers, topo.n_producers
        checked = {
            "route_utility": _float_array("route_utility", self.route_utility, nr),
            "route_price_extra": _float_array("route_price_extra", self.route_price_extra, nr,
                                              nonneg=True),
            "consumer_alpha": _float_array("consumer_alpha", self.consumer_alpha, nc),
            "consumer_demand": _float_array("consumer_demand", self.consumer_demand, nc,
                                            nonneg=True),
            "consumer_outside_utility": _float_array("consumer_outside_utility",
                                                     self.consumer_outside_utility, nc),
            "producer_capacity": _float_array("producer_capacity", self.producer_capacity, npd,
                                              nonneg=True, allow_inf=True),
        }
        for name, arr in checked.items():
            object.__setattr__(self, name, arr)
        if self.price_form not in PRICE_FORMS:
            raise KernelInputError(f"price_form must be one of {PRICE_FORMS}, got {self.price_form!r}")
        alpha = checked["consumer_alpha"]
        floor = 1.0 if self.price_form == "log" else 0.0
        bad = alpha <= floor
        if bad.any():
            why = (" (with phi = log P, alpha <= 1 makes revenue rise without bound in price, "
                   "so no best response exists)") if self.price_form == "log" else ""
            raise KernelInputError(f"consumer_alpha must be > {floor:g}{why}, got "
                                   f"{_first_bad(alpha, bad)}")

    @cached_property
    def route_alpha(self) -> np.ndarray:
        """``alpha_j`` gathered onto routes (cached: reused by every Nash iteration)."""
        return self.consumer_alpha[self.topology.route_consumer]

    # More consumer values gathered onto routes once per market, for the same reason: each saves
    # a gather (the costliest kind of route pass) in every market_demand or best_response call.
    # (A market made by with_values starts with empty caches.)
    @cached_property
    def _route_relative_utility(self) -> np.ndarray:
        """``u_r - v0_j``: route utility relative to the consumer's outside option."""
        return self.route_utility - self.consumer_outside_utility[self.topology.route_consumer]

    @cached_property
    def _route_potential_demand(self) -> np.ndarray:
        """``D_j`` gathered onto routes."""
        return self.consumer_demand[self.topology.route_consumer]

    @cached_property
    def _route_alpha_demand(self) -> np.ndarray:
        """``alpha_j D_j`` gathered onto routes (the weight of consumer j in dQ/dp)."""
        return (self.consumer_alpha * self.consumer_demand)[self.topology.route_consumer]

    def with_values(self, **changes) -> RouteMarket:
        """A copy with some value arrays replaced (same topology), validated again."""
        fields = {name: getattr(self, name) for name in (
            "route_utility", "route_price_extra", "consumer_alpha", "consumer_demand",
            "consumer_outside_utility", "producer_capacity", "price_form")}
        unknown = set(changes) - set(fields)
        if unknown:
            raise KernelInputError(f"unknown RouteMarket field(s): {sorted(unknown)}")
        fields.update(changes)
        return RouteMarket(self.topology, **fields)

    def check_prices(self, producer_price, name: str = "producer_price") -> np.ndarray:
        """Validate a producer price vector (USD/Mtok) for this market."""
        p = _float_array(name, producer_price, self.topology.n_producers)
        if self.price_form == "log" and (p <= 0).any():
            raise KernelInputError(f"{name} must be > 0 with price_form='log', got "
                                   f"{_first_bad(p, p <= 0)}")
        return p


# --------------------------------------------------------------------------------------------
# shares and demand
# --------------------------------------------------------------------------------------------
def logit_shares(topology: RouteTopology, route_value: np.ndarray,
                 outside_value: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Logit choice probabilities with an outside option, by segment-wise log-sum-exp.

    Parameters
    ----------
    topology : RouteTopology
    route_value : float array, shape (n_routes,)
        Route utilities ``v_r`` (utils); any finite value, ``-inf`` for an infeasible route.
    outside_value : float array, shape (n_consumers,)
        Outside-option utilities ``v0_j`` (finite).

    Returns
    -------
    route_share : shape (n_routes,), in [0, 1]
    outside_share : shape (n_consumers,), in [0, 1]
    logsum : shape (n_consumers,), ``log(exp(v0_j) + sum_r exp(v_r))``

    Never overflows: each consumer's values are shifted by their maximum before ``exp``.
    """
    top = np.maximum(topology.segment_max(route_value), outside_value)
    expv = np.exp(route_value - top[topology.route_consumer])
    exp0 = np.exp(outside_value - top)
    total = topology.segment_sum(expv) + exp0  # >= 1: the maximum term is exp(0)
    inv_total = 1.0 / total
    route_share = expv * inv_total[topology.route_consumer]
    return route_share, exp0 * inv_total, top + np.log(total)


@dataclass(frozen=True, eq=False)
class MarketDemand:
    """Unconstrained (pre-clearing) demand at given producer prices.

    Attributes
    ----------
    route_price : USD/Mtok per route, ``P_r``
    route_share : logit share per route
    route_demand : Mtok/step per route, ``D_j s_r``
    producer_demand : Mtok/step per producer, ``Q_i``
    consumer_outside : Mtok/step per consumer taking the outside option
    consumer_logsum : utils per consumer
    consumer_surplus : USD/step per consumer (logsum / alpha; for the log form scaled by the
        consumer's share-weighted mean route price, since one util is worth ``P/alpha`` USD there)
    """

    route_price: np.ndarray
    route_share: np.ndarray
    route_demand: np.ndarray
    producer_demand: np.ndarray
    consumer_outside: np.ndarray
    consumer_logsum: np.ndarray
    consumer_surplus: np.ndarray


# market_demand shifts each consumer's utilities by its outside option rather than by their
# maximum, which skips the segmented maximum (np.maximum.reduceat, the slowest pass of
# logit_shares). The denominator 1 + sum_r exp(v_r - v0_j) >= 1 cannot underflow; while it stays
# below 1e250 nothing overflowed and the outside share 1/(1 + sum) is a normal float, so the shares
# are the max-shifted ones up to rounding. Markets beyond the bound are redone with logit_shares.
_MAX_EXP_SUM = 1e250
# ... except for consumers who almost surely buy (outside share below 1e-12): there 1 - S_ij, which
# the markup divides by, lives in the last bits of the dominant share. logit_shares computes that
# share as 1/total with a single rounding (the dominant route's weight is exactly exp(0) = 1), as
# the reference does, so that both agree on whether 1 - S_ij rounds to 0; those consumers are
# recomputed with it.
_NEAR_CERTAIN = 1e-12


def _consumer_routes(topology: RouteTopology, consumers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Route indices of the given (sorted) consumers, and the CSR offsets of those routes."""
    ptr = topology.consumer_ptr
    counts = ptr[consumers + 1] - ptr[consumers]
    sub_ptr = np.concatenate([[0], np.cumsum(counts)])
    routes = np.arange(sub_ptr[-1]) + np.repeat(ptr[consumers] - sub_ptr[:-1], counts)
    return routes, sub_ptr


def market_demand(market: RouteMarket, producer_price) -> MarketDemand:
    """Logit demand on every route at the given producer prices (USD/Mtok).

    Returns a :class:`MarketDemand`; quantities in Mtok/step.
    """
    p = market.check_prices(producer_price)
    topo = market.topology
    route_price = p[topo.route_producer]
    route_price += market.route_price_extra
    # One route buffer holds, in turn, alpha_j phi(P_r), v_r - v0_j, exp(v_r - v0_j) and s_r.
    if market.price_form == "log":
        share = np.log(route_price)
        share *= market.route_alpha
    else:
        share = market.route_alpha * route_price
    np.subtract(market._route_relative_utility, share, out=share)
    with np.errstate(over="ignore"):
        np.exp(share, out=share)
    inside = topo.segment_sum(share)  # sum_r exp(v_r - v0_j)
    route_demand = np.empty_like(share)  # first used as scratch, to save allocating temporaries
    if inside.max(initial=0.0) <= _MAX_EXP_SUM:
        outside_share = 1.0 / (1.0 + inside)
        logsum = market.consumer_outside_utility + np.log1p(inside)
        share *= np.take(outside_share, topo.route_consumer, out=route_demand)
        inside *= outside_share  # inside share sum_r s_r = 1 - s0_j, without the cancellation
        certain = np.flatnonzero(outside_share < _NEAR_CERTAIN)
        if certain.size:  # see _NEAR_CERTAIN
            routes, sub_ptr = _consumer_routes(topo, certain)
            sub = RouteTopology(sub_ptr, topo.route_producer[routes], topo.n_producers)
            price = route_price[routes]
            route_value = market.route_utility[routes] - market.route_alpha[routes] * (
                np.log(price) if market.price_form == "log" else price)
            share[routes], outside_share[certain], logsum[certain] = logit_shares(
                sub, route_value, market.consumer_outside_utility[certain])
            inside[certain] = sub.segment_sum(share[routes])
    else:
        route_value = market.route_utility - market.route_alpha * (
            np.log(route_price) if market.price_form == "log" else route_price)
        share, outside_share, logsum = logit_shares(topo, route_value,
                                                    market.consumer_outside_utility)
        inside = topo.segment_sum(share)
    demand = market.consumer_demand
    util_to_usd = 1.0 / market.consumer_alpha
    if market.price_form == "log":
        # one util is worth P/alpha USD: scale by the consumer's share-weighted mean route price
        priced = topo.segment_sum(np.multiply(share, route_price, out=route_demand))
        util_to_usd *= priced / (inside + (inside <= 0))  # (0 where the inside share is 0)
    np.multiply(share, market._route_potential_demand, out=route_demand)
    return MarketDemand(
        route_price=route_price,
        route_share=share,
        route_demand=route_demand,
        producer_demand=topo.producer_sum(route_demand),
        consumer_outside=demand * outside_share,
        consumer_logsum=logsum,
        consumer_surplus=demand * util_to_usd * logsum,
    )


# --------------------------------------------------------------------------------------------
# capacity clearing
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Clearing:
    """Result of capacity clearing (quantities in Mtok/step).

    Invariant per consumer: ``consumer_served + consumer_unserved + outside = demand``.
    """

    route_served: np.ndarray
    producer_served: np.ndarray
    consumer_served: np.ndarray
    consumer_unserved: np.ndarray
    rounds: int


def clear_capacity(market: RouteMarket, demand: MarketDemand, max_rounds: int = 100,
                   rel_tol: float = 1e-12) -> Clearing:
    """Ration demand to capacity, re-offering rejected demand to the consumers' other routes.

    Each round, a producer offered more than its spare capacity serves that spare capacity pro
    rata over its routes and closes. The demand it rejects is re-offered to the same consumer's
    routes to producers still open, in proportion to their logit shares (consumers who were turned
    away keep shopping among the inside goods; their outside-option share is unchanged). Demand of a
    consumer with no open route left, or still pending after ``max_rounds``, is *unserved*.
    Because every rejecting producer closes, at most ``n_producers + 1`` rounds are needed.

    Parameters
    ----------
    market : RouteMarket
    demand : MarketDemand
        Unconstrained demand from :func:`market_demand` on the same market.
    max_rounds : int
        Round limit (>= 1).
    rel_tol : float
        Pending demand below ``rel_tol`` x total demand ends the iteration (counted unserved).
    """
    if max_rounds < 1:
        raise KernelInputError(f"max_rounds must be >= 1, got {max_rounds!r}")
    topo = market.topology
    n_consumers, n_producers = topo.n_consumers, topo.n_producers
    capacity = market.producer_capacity
    stop_below = rel_tol * max(float(market.consumer_demand.sum()), 1e-300)

    # Round 1: every route is offered its unconstrained demand, already summed per producer.
    route_demand = demand.route_demand
    offer = demand.producer_demand
    over = offer > capacity
    if not over.any():  # everything fits: the common, fast path
        return Clearing(route_served=route_demand.copy(), producer_served=offer.copy(),
                        consumer_served=topo.segment_sum(route_demand),
                        consumer_unserved=np.zeros(n_consumers), rounds=1)
    is_open = (capacity > 0) & ~over
    # Accepted fraction per producer. It is exactly 1 only for open producers (for x > y >= 0,
    # fl(y/x) < 1), so a route's gathered fraction also tells whether its producer is open. A
    # closed producer that was not over (no capacity, nothing offered) gets 0 to keep that true:
    # its routes carry no demand, so 0 and 1 accept the same.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        accept = np.where(over, capacity / offer, is_open.astype(np.float64))
    served = accept[topo.route_producer]
    keep = np.flatnonzero(served == 1.0)  # routes to open producers
    served *= route_demand
    load = np.where(over, capacity, offer)
    # rejected demand per consumer, sum_r D_j s_r (1 - accept_i), without a route temporary
    pending = _segment_dot(topo, route_demand, 1.0 - accept)
    unserved = np.zeros(n_consumers)

    # Later rounds re-offer pending demand only to routes of producers still open (the others
    # would be offered exactly 0), so these *active* routes are compacted into short arrays -- their
    # indices `active`, consumers, producers and shares -- and a round costs in proportion to the
    # routes still in play. Subsets keep route order: every sum adds the same terms in the same order.
    active: np.ndarray | None = None  # None: all routes
    act_consumer32, act_consumer = topo._consumer_index, topo.route_consumer
    act_producer32, act_producer = topo._producer_index, topo.route_producer
    act_share = demand.route_share
    rounds = 1
    while pending.sum() > stop_below and rounds < max_rounds:
        active = keep if active is None else active[keep]
        act_consumer32, act_consumer = _compact_index(act_consumer32, keep)
        act_producer32, act_producer = _compact_index(act_producer32, keep)
        act_share = act_share[keep]
        # pending demand is re-offered in proportion to the shares of the consumer's open routes;
        # a consumer with none left is unserved. (Branch-free: np.where is slow on mixed masks.)
        weight_total = _scatter_sum(act_consumer32, act_share, n_consumers)
        stuck = weight_total <= 0
        unserved += pending * stuck
        scale = (pending * ~stuck) / (weight_total + stuck)  # 0 where stuck
        rounds += 1
        if not (scale > 0).any():  # nothing re-offered: this round trivially fits, clearing ends
            break
        offered = act_share * scale[act_consumer]
        offer = _scatter_sum(act_producer32, offered, n_producers)
        # (clamped at 0: load + offer can round one ulp above capacity)
        spare = np.maximum(capacity - load, 0.0)
        over = offer > spare
        if not over.any():
            np.add.at(served, active, offered)  # (numpy >= 2: 2x faster than served[active] +=)
            load += offer
            break
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            accept = np.where(over, spare / offer, 1.0)
        accepted = accept[act_producer]
        keep = np.flatnonzero(accepted == 1.0)  # routes to producers still open
        accepted *= offered
        np.add.at(served, active, accepted)
        load = np.where(over, capacity, load + offer)
        pending = _scatter_sum(act_consumer32, np.subtract(offered, accepted, out=offered),
                               n_consumers)
    else:  # pending demand below tolerance, or out of rounds
        unserved += pending
    return Clearing(
        route_served=served,
        producer_served=load,
        consumer_served=topo.segment_sum(served),
        consumer_unserved=unserved,
        rounds=rounds,
    )


def _compact_index(index32: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``index32[keep]`` for :func:`_scatter_sum`, and as intp for gathers.

    Widening the short int32 copy is cheaper than a second gather from the int64 array, and numpy
    gathers with intp indices about twice as fast as with int32 ones.
    """
    small = index32[keep]
    return small, small.astype(np.intp)


# --------------------------------------------------------------------------------------------
# pricing
# --------------------------------------------------------------------------------------------
# Route passes that only feed per-producer sums run over blocks of this many routes: the block's
# scratch arrays stay in cache instead of becoming full-length temporaries (at 2M routes this
# halves the cost of the slope). Sums are then added block by block.
_BLOCK_ROUTES = 1 << 18


def _pair_slope_sums(market: RouteMarket, demand: MarketDemand, split: bool):
    """Per producer, ``sum_j alpha_j D_j A_ij (1 - S_ij)``, or ``(Lambda_i, Gamma_i)`` if ``split``.

    ``A_ij = sum_{r in R_ij} s_r phi'(P_r)`` and ``S_ij = sum_{r in R_ij} s_r`` for the pair
    (consumer ``j``, producer ``i``); ``Lambda_i = sum_j alpha_j D_j A_ij`` and
    ``Gamma_i = sum_j alpha_j D_j A_ij S_ij``, so that ``dQ_i/dp_i = -(Lambda_i - Gamma_i)`` (the
    Morrow-Skerlos 2011 split of the logit demand Jacobian's diagonal).

    Computed per route, as the reference computes it per pair: ``((alpha_j D_j) (s_r phi'(P_r)))
    (1 - S_ij)``, with ``1 - S_ij`` taken per pair (nothing cancels when a producer holds nearly all
    of a consumer) and products associated alike, so that the markup's ratio of two sums rounds
    alike even when demand is so small that the products are subnormal. A pair of several routes
    (one producer through several platforms) is carried by its first route, the others add 0.
    """
    topo = market.topology
    share, price = demand.route_share, demand.route_price
    alpha_demand = market._route_alpha_demand
    log_form = market.price_form == "log"
    dup = topo._dup_routes
    if dup is not None:
        dup_term = np.divide(1.0, price[dup]) * share[dup] if log_form else share[dup]
        first_term = np.bincount(topo._dup_pair, dup_term)[topo._dup_first_pair]
        dup_share = np.bincount(topo._dup_pair, share[dup])[topo._dup_pair]  # S_ij on dup routes
    n_routes, n_producers = topo.n_routes, topo.n_producers
    sums = [np.zeros(n_producers), np.zeros(n_producers)]
    block = max(min(n_routes, _BLOCK_ROUTES), 1)
    term_buffer, factor_buffer = np.empty(block), np.empty(block)
    for start in range(0, n_routes, block):
        stop = min(start + block, n_routes)
        term, factor = term_buffer[:stop - start], factor_buffer[:stop - start]
        if log_form:
            np.divide(1.0, price[start:stop], out=term)  # phi'(P) = 1/P
            term *= share[start:stop]
        else:
            term[:] = share[start:stop]  # phi'(P) = 1
        if dup is not None:  # the block's routes of multi-route pairs
            lo, hi = np.searchsorted(dup, (start, stop))
            term[dup[lo:hi] - start] = 0.0
            lo_first, hi_first = np.searchsorted(topo._dup_first, (start, stop))
            term[topo._dup_first[lo_first:hi_first] - start] = first_term[lo_first:hi_first]
        term *= alpha_demand[start:stop]
        producers = topo._producer_index[start:stop]
        if split:
            sums[0] += _scatter_sum(producers, term, n_producers)
            factor[:] = share[start:stop]  # S_ij
        else:
            np.subtract(1.0, share[start:stop], out=factor)  # 1 - S_ij
        if dup is not None:
            factor[dup[lo:hi] - start] = dup_share[lo:hi] if split else 1.0 - dup_share[lo:hi]
        term *= factor
        sums[1] += _scatter_sum(producers, term, n_producers)
    return tuple(sums) if split else sums[1]


def _slope_terms(market: RouteMarket, demand: MarketDemand) -> tuple[np.ndarray, np.ndarray]:
    """Per producer, ``Lambda_i`` and ``Gamma_i`` (see :func:`_pair_slope_sums`)."""
    return _pair_slope_sums(market, demand, split=True)


def _own_slope(market: RouteMarket, demand: MarketDemand) -> np.ndarray:
    """``-dQ_i/dp_i = sum_j alpha_j D_j A_ij (1 - S_ij)`` per producer (see :func:`_pair_slope_sums`)."""
    return _pair_slope_sums(market, demand, split=False)


def own_price_derivative(market: RouteMarket, demand: MarketDemand) -> np.ndarray:
    """``dQ_i/dp_i`` per producer (Mtok/step per USD/Mtok; <= 0), DESIGN §7.

    ``dQ_i/dp_i = -sum_j alpha_j D_j (1 - S_ij) sum_{r in R_ij} s_r phi'(P_r)`` with ``S_ij`` the
    share of consumer ``j`` going to producer ``i``'s routes; ``phi' = 1`` (linear) or ``1/P``.
    """
    return -_own_slope(market, demand)


def _vanishing_share_markup(market: RouteMarket, demand: MarketDemand) -> np.ndarray:
    """Markup ``Q/|dQ/dp|`` in the limit of vanishing shares: mean of ``1/(alpha phi'(P))``.

    Used where a producer's shares underflow to exactly 0, so the ratio is 0/0 numerically.
    """
    topo = market.topology
    inv_slope = 1.0 / market.route_alpha
    if market.price_form == "log":
        inv_slope *= demand.route_price
    with np.errstate(divide="ignore", invalid="ignore"):
        return topo.producer_sum(inv_slope) / topo._producer_route_count


def _with_vanishing_share_markup(market: RouteMarket, demand: MarketDemand, markup: np.ndarray,
                                 slope: np.ndarray) -> np.ndarray:
    """``markup`` where ``slope > 0``, else the vanishing-share limit (NaN for routeless producers).

    The limit costs two route passes, so it is computed only if some producer with routes needs it
    (where a producer has no route, ``markup`` is already 0/0 = NaN, as the limit would be).
    """
    vanished = ~(slope > 0)
    if (vanished & (market.topology._producer_route_count > 0)).any():
        return np.where(vanished, _vanishing_share_markup(market, demand), markup)
    return markup


def best_response(market: RouteMarket, producer_price, marginal_cost,
                  demand: MarketDemand | None = None) -> np.ndarray:
    """The logit first-order-condition map ``p_i <- c_i + Q_i / |dQ_i/dp_i|`` (USD/Mtok).

    Evaluated at the current prices of everyone (own price included, which matters for the log
    form where ``dQ/dp`` depends on ``p_i``); its fixed point is the Bertrand-Nash equilibrium.
    Where a producer's shares underflow to 0 the vanishing-share limit of the markup is used; a
    producer with no route keeps its current price.

    Parameters
    ----------
    market : RouteMarket
    producer_price, marginal_cost : float arrays, shape (n_producers,), USD/Mtok
    demand : MarketDemand, optional
        Demand at ``producer_price`` if already computed (saves a pass).
    """
    p = market.check_prices(producer_price)
    cost = _float_array("marginal_cost", marginal_cost, market.topology.n_producers, nonneg=True)
    if demand is None:
        demand = market_demand(market, p)
    slope = _own_slope(market, demand)
    with np.errstate(divide="ignore", invalid="ignore"):
        markup = _with_vanishing_share_markup(market, demand, demand.producer_demand / slope,
                                              slope)
    return np.where(np.isfinite(markup), cost + markup, p)


def _zeta_map(market: RouteMarket, p: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Morrow-Skerlos (2011) zeta map ``c + (Q + Gamma (p - c)) / Lambda``.

    Same fixed point as :func:`best_response` (there ``markup (Lambda - Gamma) = Q``), but it never
    divides by ``1 - S``, so it stays stable when a producer holds nearly all of a market.
    """
    demand = market_demand(market, p)
    lam, gam = _slope_terms(market, demand)
    with np.errstate(divide="ignore", invalid="ignore"):
        markup = _with_vanishing_share_markup(
            market, demand, (demand.producer_demand + gam * (p - cost)) / lam, lam)
    return np.where(np.isfinite(markup), cost + markup, p)


def _inverse_elasticity_map(market: RouteMarket, p: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """For ``phi = log P``: the inverse-elasticity rule ``c / (1 - 1/e)``, ``e = -dQ/dp p / Q``.

    Same fixed point as :func:`best_response`. With log utility ``e`` depends on the own price
    only through shares and route price extras, so this map converges in a few iterations where
    the additive map contracts only by ``1/alpha`` per iteration. Where demand is inelastic at
    current shares (``e <= 1``: no interior optimum yet) the price doubles; where shares vanish,
    the zeta map's vanishing-share limit is used.
    """
    demand = market_demand(market, p)
    lam, gam = _slope_terms(market, demand)
    slope = lam - gam
    with np.errstate(divide="ignore", invalid="ignore"):
        inverse_elasticity = demand.producer_demand / (p * slope)
        target = np.where(inverse_elasticity < 1.0, cost / (1.0 - inverse_elasticity), 2.0 * p)
        fallback = cost + _with_vanishing_share_markup(
            market, demand, (demand.producer_demand + gam * (p - cost)) / lam, lam)
    target = np.where((slope > 0) & np.isfinite(target), target, fallback)
    return np.where(np.isfinite(target), target, p)


_FAST_ITERATIONS = 100


def bertrand_nash(market: RouteMarket, marginal_cost, initial_price=None, damping: float = 1.0,
                  tol: float = 1e-10, max_iter: int = 10_000) -> np.ndarray:
    """Static Bertrand-Nash prices by damped, vectorized fixed-point iteration (USD/Mtok).

    Iterates ``p <- p + damping * (Z(p) - p)`` for all producers at once until the largest
    relative change ``max |Z(p) - p| / max(p, 1e-12)`` is below ``tol``. ``Z`` is the
    Morrow-Skerlos zeta map for the linear form (stable at high shares) and the inverse-elasticity
    rule for the log form (converges in a few iterations; steps bounded to halving or doubling;
    after 100 iterations without convergence it hands over to the zeta map); all have the
    best-response map's fixed point, so the result satisfies every producer's first-order
    condition ``p_i = c_i + Q_i/|dQ_i/dp_i|``.

    Raises
    ------
    ConvergenceError
        With the residual and iteration count, when ``max_iter`` is reached.
    """
    if not 0 < damping <= 1:
        raise KernelInputError(f"damping must be in (0, 1], got {damping!r}")
    if not tol > 0:
        raise KernelInputError(f"tol must be > 0, got {tol!r}")
    cost = _float_array("marginal_cost", marginal_cost, market.topology.n_producers, nonneg=True)
    if initial_price is None:
        # start above cost so the log form has P > 0 even for zero-cost producers
        initial_price = cost * 1.5 + 1e-3
    p = market.check_prices(initial_price, "initial_price").copy()
    residual = np.inf
    fast = market.price_form == "log"
    for iteration in range(1, max_iter + 1):
        if fast and iteration > _FAST_ITERATIONS:
            fast = False  # the fast map cycles here (a producer near e = 1): use the zeta map
        if fast:
            target = np.clip(_inverse_elasticity_map(market, p, cost), 0.5 * p, 2.0 * p)
        else:
            target = _zeta_map(market, p, cost)
        if market.price_form == "log":
            target = np.maximum(target, 1e-12)  # stay in the domain of log P while iterating
        step = target - p
        residual = float(np.max(np.abs(step) / np.maximum(np.abs(p), 1e-12), initial=0.0))
        if not np.isfinite(residual):
            raise ConvergenceError(f"Bertrand-Nash iteration diverged at iteration {iteration} "
                                   f"(residual {residual})", residual, iteration)
        if residual < tol:
            return target
        p += damping * step
    raise ConvergenceError(
        f"Bertrand-Nash iteration did not converge in {max_iter} iterations: largest relative "
        f"price change {residual:.3e} > tol {tol:.1e} (try a smaller damping)", residual, max_iter)


def producer_profit(market: RouteMarket, producer_price, marginal_cost) -> np.ndarray:
    """Profit per producer at unconstrained demand, ``(p_i - c_i) Q_i`` (USD/step)."""
    p = market.check_prices(producer_price)
    cost = _float_array("marginal_cost", marginal_cost, market.topology.n_producers, nonneg=True)
    return (p - cost) * market_demand(market, p).producer_demand


# --------------------------------------------------------------------------------------------
# textbook entry points (one consumer, linear utility) -- Calvano et al. (2020) demand
# --------------------------------------------------------------------------------------------
def single_market(quality, mu: float, outside: float = 0.0, demand: float = 1.0) -> RouteMarket:
    """One consumer buying from ``n`` firms with ``q_i = exp((a_i-p_i)/mu) / (sum + exp(a0/mu))``.

    Built as a one-consumer route market (linear price form, ``alpha = 1/mu``, no capacity).
    """
    a = _float_array("quality", quality)
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
    cost = _float_array("cost", cost, market.topology.n_producers, nonneg=True)
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
    cost = _float_array("cost", cost, market.topology.n_producers, nonneg=True)
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
