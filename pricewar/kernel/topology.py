"""Route topology (CSR route arrays, compiled once) and the values of one market on it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import sparse

from pricewar.errors import KernelInputError
from pricewar.kernel.arrays import first_bad, float_array, index32, int_array, scatter_sum

PRICE_FORMS = ("log", "linear")


def segment_dot(topology: RouteTopology, route_values: np.ndarray,
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
    aggregates shares per pair (docs/ODD.md §6.4).
    """

    def __init__(self, consumer_ptr, route_producer, n_producers: int):
        ptr = int_array("consumer_ptr", consumer_ptr)
        prod = int_array("route_producer", route_producer)
        if ptr.size == 0 or ptr[0] != 0:
            raise KernelInputError(f"consumer_ptr must start at 0, got {ptr[:1].tolist()}")
        if (np.diff(ptr) < 0).any():
            raise KernelInputError(
                f"consumer_ptr must be non-decreasing, got {first_bad(ptr[1:], np.diff(ptr) < 0)}")
        if ptr[-1] != prod.size:
            raise KernelInputError(
                f"consumer_ptr[-1] = {int(ptr[-1])} must equal len(route_producer) = {prod.size}")
        if not isinstance(n_producers, int | np.integer) or n_producers < 0:
            raise KernelInputError(f"n_producers must be a non-negative int, got {n_producers!r}")
        bad = (prod < 0) | (prod >= n_producers)
        if bad.any():
            raise KernelInputError(
                f"route_producer must lie in [0, {n_producers}), got {first_bad(prod, bad)}")

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

        # Compiled once for the hot loops: int32 indices for scatter_sum, routes per producer.
        self._consumer_index = index32(self.route_consumer, self.n_consumers)
        self._producer_index = index32(prod, self.n_producers)
        self._producer_route_count = np.bincount(prod, minlength=self.n_producers)
        small = self._consumer_index.dtype == np.int32 and self._producer_index.dtype == np.int32
        self._consumer_ptr32 = ptr.astype(np.int32) if small else None  # for segment_dot
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
        return scatter_sum(self._consumer_index, values, self.n_consumers)

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
        return scatter_sum(self._producer_index, values, self.n_producers)


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
        Price sensitivity ``alpha_j`` (> 0; > 1 for the log form, docs/ODD.md §6.2).
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
            "route_utility": float_array("route_utility", self.route_utility, nr),
            "route_price_extra": float_array("route_price_extra", self.route_price_extra, nr,
                                              nonneg=True),
            "consumer_alpha": float_array("consumer_alpha", self.consumer_alpha, nc),
            "consumer_demand": float_array("consumer_demand", self.consumer_demand, nc,
                                            nonneg=True),
            "consumer_outside_utility": float_array("consumer_outside_utility",
                                                     self.consumer_outside_utility, nc),
            "producer_capacity": float_array("producer_capacity", self.producer_capacity, npd,
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
                                   f"{first_bad(alpha, bad)}")

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
        p = float_array(name, producer_price, self.topology.n_producers)
        if self.price_form == "log" and (p <= 0).any():
            raise KernelInputError(f"{name} must be > 0 with price_form='log', got "
                                   f"{first_bad(p, p <= 0)}")
        return p
