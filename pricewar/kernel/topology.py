"""Route topology: CSR route arrays, compiled once, with their nests, hosts and firms."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from pricewar.errors import KernelInputError
from pricewar.kernel.arrays import first_bad, index32, int_array, scatter_sum, unique_inverse
from pricewar.kernel.groups import compile_firms, compile_hosts, compile_nests, route_blocks

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
        Number of producers (some may have no route). A *producer* is the price-setting unit: in
        the token market of demand v2 it is a product, one host's offer of one model family.
    route_nest : int array, shape (n_routes,), optional
        Nest label of each route (e.g. the model family) for nested-logit demand. Each consumer's
        routes must be sorted by label, so that its routes of one nest are contiguous, and all
        routes of one (consumer, producer) pair must carry the same label. ``None``: no nests.
    producer_host : int array, shape (n_producers,), optional
        Host whose capacity each producer uses, in ``[0, n_hosts)``. ``None``: every producer is
        its own host.
    n_hosts : int, optional
        Number of hosts (default ``max(producer_host) + 1``); only with ``producer_host``.
    producer_firm : int array, shape (n_producers,), optional
        Firm owning each producer. Products of one firm must lie in different nests for every
        consumer. ``None``: every producer is its own firm.

    Notes
    -----
    Several routes of one consumer may lead to the same producer (through different platforms);
    the (consumer, producer) *pairs* are indexed here once, because the own-price derivative
    aggregates shares per pair (docs/ODD.md §6.4).
    """

    def __init__(self, consumer_ptr, route_producer, n_producers: int, *, route_nest=None,
                 producer_host=None, n_hosts: int | None = None, producer_firm=None):
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
        self._first_route = np.where(self._nonempty, ptr[:-1], self.n_routes)  # (n_routes: none)
        # Blocks of whole consumers, about ROUTE_BLOCK routes each, for the blocked route passes.
        self.block_bounds = route_blocks(ptr)

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
            uniq, inverse = unique_inverse(key, self.n_consumers * max(self.n_producers, 1))
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

        # demand v2 structure (None when absent: the v1 code paths ignore it)
        self.nests = (None if route_nest is None else
                      compile_nests(route_nest, ptr, self.route_consumer, self.route_pair))
        if producer_host is None and n_hosts is not None:
            raise KernelInputError("n_hosts is given without producer_host")
        self.hosts = (None if producer_host is None else
                      compile_hosts(producer_host, self.n_producers, n_hosts))
        self.firms = (None if producer_firm is None else compile_firms(
            producer_firm, self.n_producers, self.n_consumers, prod, self.route_consumer,
            None if self.nests is None else self.nests.route_nest, self.block_bounds))
        self.n_nests = 0 if self.nests is None else int(self.nests.route_nest.max(initial=-1)) + 1
        self.n_hosts = self.n_producers if self.hosts is None else self.hosts.n_hosts

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
