"""The values of one market on a fixed route topology (validated on construction)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from pricewar.errors import KernelInputError
from pricewar.kernel.arrays import first_bad, float_array
from pricewar.kernel.topology import PRICE_FORMS, RouteTopology

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
        Price sensitivity ``alpha_j`` (> 0; > 1 for the log form, docs/ODD.md §6.2).
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
    Demand: ``v_r = u_r - alpha_j phi(P_r)``; with ``lambda_g = 1 - sigma_g``,
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

    # demand-v2 caches (nested markets): per route and per (consumer, nest) group
    @cached_property
    def _route_inv_lambda(self) -> np.ndarray:
        """``1 / lambda_g = 1 / (1 - sigma_g)`` gathered onto routes."""
        return (1.0 / (1.0 - self.sigma))[self.topology.nests.route_nest]

    @cached_property
    def _route_sigma_over_lambda(self) -> np.ndarray:
        """``sigma_g / lambda_g = 1/lambda_g - 1`` gathered onto routes."""
        return self._route_inv_lambda - 1.0

    @cached_property
    def _route_scaled_utility(self) -> np.ndarray:
        """``u_r / lambda_g``."""
        return self.route_utility * self._route_inv_lambda

    @cached_property
    def _route_scaled_alpha(self) -> np.ndarray:
        """``alpha_j / lambda_g``."""
        return self.route_alpha * self._route_inv_lambda

    @cached_property
    def _group_lambda(self) -> np.ndarray:
        """``lambda_g`` of each (consumer, nest) group."""
        return 1.0 - self.sigma[self.topology.nests.group_nest]

    @cached_property
    def _group_minus_sigma(self) -> np.ndarray:
        """``-sigma_g`` of each (consumer, nest) group."""
        return -self.sigma[self.topology.nests.group_nest]

    @cached_property
    def _outside_finite(self) -> np.ndarray:
        """Consumers with an outside option."""
        return np.isfinite(self.consumer_outside_utility)

    @cached_property
    def _firm_route_alpha_minus_eta(self) -> np.ndarray:
        """``alpha_j - eta_j`` on the routes of multi-product firms (``topology.firms.routes``)."""
        routes = self.topology.firms.routes
        return (self.consumer_alpha - self.eta)[self.topology.route_consumer[routes]]

    @cached_property
    def _route_eta_keep(self) -> np.ndarray:
        """``1 - eta_j / alpha_j`` gathered onto routes."""
        return (1.0 - self.eta / self.consumer_alpha)[self.topology.route_consumer]

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
