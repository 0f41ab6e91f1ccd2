"""Groups of routes compiled once per topology: (consumer, nest) groups, hosts and firms.

Demand v2 nests a consumer's routes by a label (e.g. the model family), puts producers on hosts
that share one capacity, and lets a firm own several producers (products). Each of these is an
integer map checked here and compiled into the index arrays the hot loops scatter and gather with.
Pure array functions: nothing here knows a market's values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pricewar.errors import KernelInputError
from pricewar.kernel.arrays import first_bad, index32, int_array, unique_inverse


def label_array(name: str, values, length: int) -> np.ndarray:
    """A validated array of ``length`` non-negative integer labels."""
    labels = int_array(name, values)
    if labels.size != length:
        raise KernelInputError(f"{name} has length {labels.size}, expected {length}")
    if (labels < 0).any():
        raise KernelInputError(f"{name} must be >= 0, got {first_bad(labels, labels < 0)}")
    return labels


@dataclass(frozen=True, eq=False)
class NestGroups:
    """The (consumer, nest) groups of a topology: contiguous runs of routes.

    Attributes
    ----------
    route_nest : int array (n_routes,), the nest label of each route
    n_groups : int
    group_start : int array (n_groups,), first route of each group (routes are sorted by
        consumer, then nest, so each group is one run)
    group_consumer, group_nest : int arrays (n_groups,)
    route_group : int32 (or int64) array (n_routes,), the group of each route
    consumer_first_group : int array (n_consumers,), first group of each consumer (``n_groups``
        for a consumer without routes)
    """

    route_nest: np.ndarray
    n_groups: int
    group_start: np.ndarray
    group_consumer: np.ndarray
    group_nest: np.ndarray
    route_group: np.ndarray
    consumer_first_group: np.ndarray
    group_index32: np.ndarray  # int32 group of each route when it fits, for scatter_sum
    group_consumer32: np.ndarray  # int32 consumer of each group when it fits


def compile_nests(route_nest, consumer_ptr: np.ndarray, route_consumer: np.ndarray,
                  route_pair: np.ndarray | None) -> NestGroups:
    """Check ``route_nest`` (sorted within each consumer, one nest per pair) and group routes.

    Raises
    ------
    KernelInputError
        If a consumer's routes are not sorted by nest label (its nests would not be contiguous),
        or the routes of one (consumer, producer) pair carry different nest labels.
    """
    n_routes = route_consumer.size
    nest = label_array("route_nest", route_nest, n_routes)
    first_of_consumer = np.zeros(n_routes, dtype=bool)
    first_of_consumer[consumer_ptr[:-1][np.diff(consumer_ptr) > 0]] = True
    step = np.diff(nest, prepend=0)
    unsorted = (step < 0) & ~first_of_consumer
    if unsorted.any():
        r = int(np.flatnonzero(unsorted)[0])
        raise KernelInputError(
            f"route_nest must be sorted within each consumer's routes (so that a consumer's "
            f"routes of one nest are contiguous), got {int(nest[r])} after {int(nest[r - 1])} "
            f"at route {r} (consumer {int(route_consumer[r])})")
    if route_pair is not None and n_routes:
        n_pairs = int(route_pair.max()) + 1
        low = np.full(n_pairs, np.iinfo(np.int64).max)
        high = np.full(n_pairs, -1)
        np.minimum.at(low, route_pair, nest)
        np.maximum.at(high, route_pair, nest)
        mixed = (low != high)[route_pair]
        if mixed.any():
            r = int(np.flatnonzero(mixed)[0])
            raise KernelInputError(
                f"route_nest must be the same on every route of one (consumer, producer) pair "
                f"(a product belongs to one nest), got {first_bad(nest, mixed)} "
                f"for consumer {int(route_consumer[r])}")
    starts_group = first_of_consumer | (step != 0)
    group_start = np.flatnonzero(starts_group)
    route_group = np.cumsum(starts_group) - 1
    n_groups = group_start.size
    group_consumer = route_consumer[group_start]
    n_consumers = consumer_ptr.size - 1
    consumer_first_group = np.searchsorted(group_consumer, np.arange(n_consumers))
    consumer_first_group[np.diff(consumer_ptr) == 0] = n_groups
    return NestGroups(
        route_nest=nest,
        n_groups=n_groups,
        group_start=group_start,
        group_consumer=group_consumer,
        group_nest=nest[group_start],
        route_group=route_group,
        consumer_first_group=consumer_first_group,
        group_index32=index32(route_group, n_groups),
        group_consumer32=index32(group_consumer, n_consumers),
    )


@dataclass(frozen=True, eq=False)
class Hosts:
    """Which host's capacity each producer uses.

    Attributes
    ----------
    producer_host : int array (n_producers,)
    n_hosts : int
    """

    producer_host: np.ndarray
    n_hosts: int


def compile_hosts(producer_host, n_producers: int, n_hosts: int | None) -> Hosts:
    """Check the producer -> host map (labels in ``[0, n_hosts)``)."""
    host = label_array("producer_host", producer_host, n_producers)
    if n_hosts is None:
        n_hosts = int(host.max()) + 1 if host.size else 0
    if not isinstance(n_hosts, int | np.integer) or n_hosts < 0:
        raise KernelInputError(f"n_hosts must be a non-negative int, got {n_hosts!r}")
    if (host >= n_hosts).any():
        raise KernelInputError(
            f"producer_host must lie in [0, {n_hosts}), got {first_bad(host, host >= n_hosts)}")
    return Hosts(host, int(n_hosts))


# A block of the blocked route passes holds about this many routes (whole consumers), so that its
# scratch arrays stay in cache.
ROUTE_BLOCK = 1 << 17


def route_blocks(consumer_ptr: np.ndarray) -> np.ndarray:
    """Route offsets cutting the routes into blocks of whole consumers, about ``ROUTE_BLOCK``
    routes each (a consumer with more routes is a block of its own); starts with 0, ends with
    ``n_routes``."""
    n_routes = int(consumer_ptr[-1])
    cuts = consumer_ptr[np.searchsorted(consumer_ptr, np.arange(0, n_routes, ROUTE_BLOCK))]
    return np.unique(np.concatenate([[0], cuts, [n_routes]]))


@dataclass(frozen=True, eq=False)
class Firms:
    """Products owned by multi-product firms, and their (consumer, firm) groups.

    Only the routes of producers whose firm owns at least two of them carry a cannibalisation
    term, so only those are compiled. Their groups are numbered in (consumer, firm) order within
    each route block of the topology (blocks hold whole consumers, so a block's groups are
    complete within it).

    Attributes
    ----------
    producer_firm : int array (n_producers,)
    routes : int array, the routes of multi-product firms' producers, in route order
    route_producer, route_producer32 : their producers (intp for gathers; int32 when it fits)
    route_offset : int array aligned with ``routes``: position within its route block
    route_group, route_group32 : arrays aligned with ``routes``: the (consumer, firm) group
        within its block (intp for gathers, int32 for scatter_sum)
    blocks : list of ``(lo, hi, n_groups)`` per route block: its routes ``routes[lo:hi]`` and
        the number of groups among them
    multi_producer : bool array (n_producers,), the producers of multi-product firms
    """

    producer_firm: np.ndarray
    routes: np.ndarray
    route_producer: np.ndarray
    route_producer32: np.ndarray
    route_offset: np.ndarray
    route_group: np.ndarray
    route_group32: np.ndarray
    blocks: list
    multi_producer: np.ndarray


def compile_firms(producer_firm, n_producers: int, n_consumers: int, route_producer: np.ndarray,
                  route_consumer: np.ndarray, route_nest: np.ndarray | None,
                  block_bounds: np.ndarray) -> Firms | None:
    """Check the producer -> firm map; ``None`` when every firm owns a single producer.

    Raises
    ------
    KernelInputError
        If two producers of one firm share a nest label for some consumer: the multi-product
        first-order condition here covers substitution across nests only.
    """
    firm = label_array("producer_firm", producer_firm, n_producers)
    products = np.bincount(firm) if firm.size else np.zeros(0, dtype=np.int64)
    multi_producer = products[firm] > 1
    if not multi_producer.any():
        return None
    routes = np.flatnonzero(multi_producer[route_producer])
    route_firm = firm[route_producer[routes]]
    consumer = route_consumer[routes]
    n_firms = int(firm.max()) + 1
    _, group = unique_inverse(consumer * n_firms + route_firm, n_consumers * n_firms)
    if route_nest is not None and routes.size and not _distinct_nests(
            firm, route_producer[routes], route_nest[routes], n_producers):
        # (consumer, firm, nest) -> at most one producer: sort one int64 key per route (a
        # structured unique over stacked rows is an order of magnitude slower)
        nest = route_nest[routes].astype(np.int64)
        n_nests = int(nest.max()) + 1
        cell = group.astype(np.int64) * n_nests + nest
        key = np.sort(cell * n_producers + route_producer[routes])
        key = key[np.r_[True, np.diff(key) != 0]]  # (sort-based unique: faster than hashing)
        key_cell, key_producer = key // n_producers, key % n_producers
        same = np.diff(key_cell) == 0
        if same.any():
            k = int(np.flatnonzero(same)[0])
            a, b = int(key_producer[k]), int(key_producer[k + 1])
            triple = (int(key_cell[k] // n_nests), int(key_cell[k] % n_nests))
            where = int(np.flatnonzero(group == triple[0])[0])
            raise KernelInputError(
                f"producers {a} and {b} of firm {int(firm[a])} share nest {triple[1]} "
                f"for consumer {int(consumer[where])}: products of one firm must lie in "
                f"different nests")
    bounds = np.searchsorted(routes, block_bounds)
    blocks = []
    local = np.zeros(routes.size, dtype=np.int32)
    offset = routes - np.repeat(block_bounds[:-1], np.diff(bounds))
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        if hi > lo:  # (a consumer's firms come in any order: number from the block's smallest)
            first = group[lo:hi].min()
            local[lo:hi] = group[lo:hi] - first
            blocks.append((lo, hi, int(group[lo:hi].max() - first) + 1))
        else:
            blocks.append((lo, hi, 0))
    route_producer_of = route_producer[routes]
    return Firms(firm, routes, route_producer_of, index32(route_producer_of, n_producers),
                 offset, local.astype(np.intp), local, blocks, multi_producer)


def _distinct_nests(firm: np.ndarray, route_producer: np.ndarray, route_nest: np.ndarray,
                    n_producers: int) -> bool:
    """Whether every producer keeps one nest label on all its routes and a firm's producers have
    distinct labels: then no consumer meets two products of one firm in one nest (the products
    of model families are so), and the per-consumer check of :func:`compile_firms` is skipped."""
    producer_nest = np.full(n_producers, -1, dtype=np.int64)
    producer_nest[route_producer] = route_nest
    if not np.array_equal(producer_nest[route_producer], route_nest):
        return False
    labelled = np.flatnonzero(producer_nest >= 0)
    pairs = firm[labelled] * (int(producer_nest.max()) + 1) + producer_nest[labelled]
    return np.unique(pairs).size == labelled.size
