"""Route topology (CSR route arrays, compiled once) and the values of one market on it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import sparse

from pricewar.errors import KernelInputError
from pricewar.kernel.arrays import first_bad, float_array, index32, int_array, scatter_sum
from pricewar.kernel.groups import compile_firms, compile_hosts, compile_nests

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
    aggregates shares per pair (DESIGN §7).
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

        # demand v2 structure (None when absent: the v1 code paths ignore it)
        self.nests = (None if route_nest is None else
                      compile_nests(route_nest, ptr, self.route_consumer, self.route_pair))
        if producer_host is None and n_hosts is not None:
            raise KernelInputError("n_hosts is given without producer_host")
        self.hosts = (None if producer_host is None else
                      compile_hosts(producer_host, self.n_producers, n_hosts))
        self.firms = (None if producer_firm is None else compile_firms(
            producer_firm, self.n_producers, self.n_consumers, prod, self.route_consumer,
            None if self.nests is None else self.nests.route_nest))
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


RATIONING_RULES = ("spill", "rechoice")


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
        Potential demand ``D_j``, Mtok/step, >= 0 (the volume at the reference inclusive value).
    consumer_outside_utility : float array, shape (n_consumers,)
        Outside-option utility ``v0_j``, utils; ``-inf`` for a consumer without outside option.
    producer_capacity : float array, shape (n_producers,), optional
        Capacity ``K_i``, Mtok/step, >= 0; ``inf`` (the default) for uncapacitated producers.
        With a host map on the topology capacity is per host: use ``host_capacity``.
    price_form : {"log", "linear"}
        ``phi(P) = log P`` (token market) or ``phi(P) = P`` (textbook validation).
    nest_sigma : float array, shape (>= n_nests,), optional
        Nesting parameter ``sigma_g`` in [0, 1) per nest label (needs ``topology.route_nest``);
        0 (the default) is plain logit, near 1 makes a nest's routes near-perfect substitutes.
    consumer_eta : float array, shape (n_consumers,), optional
        Elasticity ``eta_j >= 0`` of the consumer's total volume to its price index (default 0:
        fixed volume ``D_j``).
    consumer_logsum_ref : float array, shape (n_consumers,), optional
        Reference inclusive value ``IV_ref_j`` (utils) at which the volume is ``D_j``; default 0
        (for the log form: a price index of 1 USD/Mtok).
    host_capacity : float array, shape (n_hosts,), optional
        Capacity of each host of ``topology.producer_host``, in load units per step (e.g.
        GPU-seconds), >= 0; default ``inf``.
    producer_load : float array, shape (n_producers,), optional
        Host capacity used per Mtok of each producer, load units per Mtok, >= 0 (default 1).
    rationing : {"spill", "rechoice"}
        How demand refused by a full host chooses again (see :func:`clear_capacity`).

    Notes
    -----
    Demand (docs/ODD.md): ``v_r = u_r - alpha_j phi(P_r)``; with ``lambda_g = 1 - sigma_g``,
    ``I_jg = lambda_g log sum_{r in g} exp(v_r / lambda_g)`` and
    ``IV_j = log(exp(v0_j) + sum_g exp(I_jg))``, route ``r`` of nest ``g`` has the share
    ``s_r = exp(v_r/lambda_g - I_jg/lambda_g) exp(I_jg - IV_j)`` (Berry 1994) and the volume
    ``x_r = X_j s_r`` with ``X_j = D_j exp((eta_j / alpha_j) (IV_j - IV_ref_j))``; with the log
    form, ``X_j = D_j (P_j / P_ref_j)^-eta_j`` in the price index ``P_j = exp(-IV_j / alpha_j)``.
    """

    topology: RouteTopology
    route_utility: np.ndarray
    route_price_extra: np.ndarray
    consumer_alpha: np.ndarray
    consumer_demand: np.ndarray
    consumer_outside_utility: np.ndarray
    producer_capacity: np.ndarray | None = None
    price_form: str = "log"
    nest_sigma: np.ndarray | None = None
    consumer_eta: np.ndarray | None = None
    consumer_logsum_ref: np.ndarray | None = None
    host_capacity: np.ndarray | None = None
    producer_load: np.ndarray | None = None
    rationing: str = "spill"

    def __post_init__(self):
        topo = self.topology
        if not isinstance(topo, RouteTopology):
            raise KernelInputError(f"topology must be a RouteTopology, got {type(topo).__name__}")
        nr, nc, npd = topo.n_routes, topo.n_consumers, topo.n_producers
        capacity = self.producer_capacity
        if capacity is None:
            capacity = np.full(npd, np.inf)
        checked = {
            "route_utility": float_array("route_utility", self.route_utility, nr),
            "route_price_extra": float_array("route_price_extra", self.route_price_extra, nr,
                                              nonneg=True),
            "consumer_alpha": float_array("consumer_alpha", self.consumer_alpha, nc),
            "consumer_demand": float_array("consumer_demand", self.consumer_demand, nc,
                                            nonneg=True),
            "consumer_outside_utility": _outside_utility(self.consumer_outside_utility, nc),
            "producer_capacity": float_array("producer_capacity", capacity, npd,
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
        self._check_v2_fields()

    def _check_v2_fields(self) -> None:
        """Validate the demand-v2 fields (all optional; ``None`` keeps the v1 behaviour)."""
        topo = self.topology
        nc = topo.n_consumers
        if self.nest_sigma is not None:
            if topo.nests is None:
                raise KernelInputError("nest_sigma needs a topology with route_nest")
            sigma = float_array("nest_sigma", self.nest_sigma)
            if sigma.size < topo.n_nests:
                raise KernelInputError(f"nest_sigma has length {sigma.size}, but route_nest uses "
                                       f"labels up to {topo.n_nests - 1}")
            bad = (sigma < 0) | (sigma >= 1)
            if bad.any():
                raise KernelInputError(f"nest_sigma must lie in [0, 1), got {first_bad(sigma, bad)}")
            object.__setattr__(self, "nest_sigma", sigma)
        for name in ("consumer_eta", "consumer_logsum_ref"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, float_array(name, getattr(self, name), nc,
                                                           nonneg=name == "consumer_eta"))
        if self.host_capacity is not None:
            if topo.hosts is None:
                raise KernelInputError(
                    "host_capacity needs a topology with producer_host (without one every "
                    "producer is its own host: use producer_capacity)")
            object.__setattr__(self, "host_capacity", float_array(
                "host_capacity", self.host_capacity, topo.n_hosts, nonneg=True, allow_inf=True))
        if topo.hosts is not None and np.isfinite(self.producer_capacity).any():
            raise KernelInputError(
                "producer_capacity must be left unset (inf) when the topology maps producers to "
                "hosts: capacity is then per host, use host_capacity")
        if self.producer_load is not None:
            object.__setattr__(self, "producer_load", float_array(
                "producer_load", self.producer_load, topo.n_producers, nonneg=True))
        if self.rationing not in RATIONING_RULES:
            raise KernelInputError(
                f"rationing must be one of {RATIONING_RULES}, got {self.rationing!r}")

    # Which code path each stage takes: the v1 paths, kept bit for bit, serve markets whose
    # demand-v2 features are all neutral.
    @cached_property
    def is_nested(self) -> bool:
        """Some nest with a route has ``sigma > 0``."""
        if self.topology.nests is None or self.nest_sigma is None:
            return False
        return bool((self.nest_sigma[:self.topology.n_nests] > 0).any())

    @cached_property
    def is_elastic(self) -> bool:
        """Some consumer's volume responds to its price index (``eta > 0``)."""
        return self.consumer_eta is not None and bool((self.consumer_eta > 0).any())

    @cached_property
    def is_plain_demand(self) -> bool:
        """Plain logit with fixed volume and an outside option for every consumer (v1)."""
        return (not self.is_nested and not self.is_elastic
                and bool(np.isfinite(self.consumer_outside_utility).all()))

    @cached_property
    def is_plain_clearing(self) -> bool:
        """Spill-over rationing with each producer its own host of unit load (v1)."""
        return (self.rationing == "spill" and self.topology.hosts is None
                and self.producer_load is None)

    @cached_property
    def is_plain_pricing(self) -> bool:
        """Plain demand and single-product firms (v1)."""
        return self.is_plain_demand and self.topology.firms is None

    @cached_property
    def capacity_of_host(self) -> np.ndarray:
        """Capacity per host (``producer_capacity`` when producers are their own hosts)."""
        if self.topology.hosts is None:
            return self.producer_capacity
        if self.host_capacity is None:
            return np.full(self.topology.n_hosts, np.inf)
        return self.host_capacity

    @cached_property
    def load_per_mtok(self) -> np.ndarray:
        """``producer_load`` (1 where not given)."""
        if self.producer_load is None:
            return np.ones(self.topology.n_producers)
        return self.producer_load

    @cached_property
    def eta(self) -> np.ndarray:
        """``consumer_eta`` (0 where not given)."""
        if self.consumer_eta is None:
            return np.zeros(self.topology.n_consumers)
        return self.consumer_eta

    @cached_property
    def logsum_ref(self) -> np.ndarray:
        """``consumer_logsum_ref`` (0 where not given)."""
        if self.consumer_logsum_ref is None:
            return np.zeros(self.topology.n_consumers)
        return self.consumer_logsum_ref

    @cached_property
    def sigma(self) -> np.ndarray:
        """``nest_sigma`` (0 for every nest label where not given), shape (n_nests,)."""
        if self.nest_sigma is None:
            return np.zeros(self.topology.n_nests)
        return self.nest_sigma[:self.topology.n_nests]

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

    @cached_property
    def _route_inv_lambda(self) -> np.ndarray:
        """``1 / (1 - sigma_g)`` gathered onto routes (nested markets)."""
        return (1.0 / (1.0 - self.sigma))[self.topology.nests.route_nest]

    def with_values(self, **changes) -> RouteMarket:
        """A copy with some value arrays replaced (same topology), validated again."""
        fields = {name: getattr(self, name) for name in (
            "route_utility", "route_price_extra", "consumer_alpha", "consumer_demand",
            "consumer_outside_utility", "producer_capacity", "price_form", "nest_sigma",
            "consumer_eta", "consumer_logsum_ref", "host_capacity", "producer_load",
            "rationing")}
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


def _outside_utility(values, length: int) -> np.ndarray:
    """Outside-option utilities: finite, or ``-inf`` for a consumer without outside option."""
    arr = float_array("consumer_outside_utility", values, length, allow_inf=True)
    bad = arr == np.inf
    if bad.any():
        raise KernelInputError(f"consumer_outside_utility contains +inf: {first_bad(arr, bad)} "
                               f"(-inf means no outside option)")
    return arr
