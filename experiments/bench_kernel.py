"""Benchmark: vectorized kernel vs the plain-Python reference, and vs the memory-bandwidth floor.

Prints one JSON object per market size with keys ``routes, kernel_s, reference_s, speedup,
bandwidth_s, kernel_over_bandwidth, clearing_rounds`` for the plain-logit market and ``nested_s,
nested_over_plain, nested_bandwidth_s, nested_over_bandwidth, nested_rounds`` for the demand-v2
market, then the time ratio of the two largest sizes.

``kernel_s`` times one demand evaluation, one capacity clearing and one best-response step
(``market_demand + clear_capacity + best_response``, the work of one model step) on a market built
beforehand, so the market's cached per-route arrays (``route_alpha`` and the like) are warm, as
they are when a model iterates on one market.

``nested_s`` times the same step on a comparable demand-v2 market (same consumers, producers and
routes per consumer, :func:`~pricewar.testing.random_markets.random_nested_market`): 8 nests with
``sigma ~ U(0, 0.9)``, ``eta ~ U(0, min(2, alpha))``, producers on ``n_producers / 3`` hosts with
loads, about half of the producers in multi-product firms, and re-choice clearing. The two steps are
timed alternately, so that both see the same machine load; ``nested_over_plain`` is their ratio.

``bandwidth_s`` is the memory-bandwidth floor: a plain numpy pass over the same arrays, namely one
``.sum()`` over *each* per-route array of the market that a kernel step reads -- ``route_producer``,
``route_consumer``, ``route_utility``, ``route_price_extra`` and the cached ``route_alpha`` (five
arrays of 8 bytes per route). No kernel step can avoid reading these once. Further per-route caches
the kernel derives from them (e.g. utility relative to the outside option, int32 index copies) are
deliberately not counted, so the floor does not grow with the kernel's own implementation choices.
``nested_bandwidth_s`` adds the one array a nested step must read besides: the nest label of each
route.

Each figure is the best of ``--repeats`` runs (``4 x --repeats`` for the cheap floor); ratios are
measured in this one run (machines are noisy).

    python experiments/bench_kernel.py [--sizes 20000 200000 2000000] [--reference-max 200000]
"""

from __future__ import annotations

import argparse
import json
import time

from pricewar.kernel import best_response, clear_capacity, market_demand
from pricewar.testing.random_markets import random_nested_market, random_route_market
from pricewar.testing.reference import ReferenceMarket


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def alternating_best_times(fns, repeats: int) -> list[float]:
    """Best time of each function, the functions run in turn ``repeats`` times."""
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, spent in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            spent.append(time.perf_counter() - start)
    return [min(spent) for spent in times]


def kernel_step(market, price, cost):
    demand = market_demand(market, price)
    clearing = clear_capacity(market, demand)
    best_response(market, price, cost, demand=demand)
    return clearing


def route_arrays(market):
    """The per-route arrays of the market a kernel step reads (see the module docstring)."""
    topology = market.topology
    return (topology.route_producer, topology.route_consumer, market.route_utility,
            market.route_price_extra, market.route_alpha)


def bandwidth_pass(arrays) -> float:
    # one plain reduction over each array: every byte read once, nothing written
    return float(sum(array.sum() for array in arrays))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000, 2_000_000])
    parser.add_argument("--reference-max", type=int, default=200_000,
                        help="largest size at which the slow reference is timed")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--producers", type=int, default=1000)
    parser.add_argument("--routes-per-consumer", type=int, default=10)
    args = parser.parse_args(argv)

    results = []
    for size in args.sizes:
        n_consumers = max(1, size // args.routes_per_consumer)
        market, price, cost = random_route_market(n_consumers, args.producers,
                                                  args.routes_per_consumer, seed=size)
        nested, nested_price, nested_cost = random_nested_market(
            n_consumers, args.producers, args.routes_per_consumer, seed=size, n_nests=8)
        routes = market.topology.n_routes
        kernel_step(market, price, cost)  # warm the markets' caches
        kernel_step(nested, nested_price, nested_cost)
        kernel_s, nested_s = alternating_best_times(
            [lambda m=market, p=price, c=cost: kernel_step(m, p, c),
             lambda m=nested, p=nested_price, c=nested_cost: kernel_step(m, p, c)],
            args.repeats)
        rounds = kernel_step(market, price, cost).rounds
        nested_rounds = kernel_step(nested, nested_price, nested_cost).rounds
        arrays = route_arrays(market)
        bandwidth_s = best_time(lambda a=arrays: bandwidth_pass(a), args.repeats * 4)
        nested_arrays = (*route_arrays(nested), nested.topology.nests.route_nest)
        nested_bandwidth_s = best_time(lambda a=nested_arrays: bandwidth_pass(a),
                                       args.repeats * 4)
        row = {"routes": routes, "kernel_s": round(kernel_s, 5), "reference_s": None,
               "speedup": None, "bandwidth_s": round(bandwidth_s, 6),
               "kernel_over_bandwidth": round(kernel_s / bandwidth_s, 1),
               "clearing_rounds": rounds,
               "nested_s": round(nested_s, 5),
               "nested_over_plain": round(nested_s / kernel_s, 2),
               "nested_bandwidth_s": round(nested_bandwidth_s, 6),
               "nested_over_bandwidth": round(nested_s / nested_bandwidth_s, 1),
               "nested_rounds": nested_rounds}
        if size <= args.reference_max:
            t = market.topology
            reference = ReferenceMarket(t.consumer_ptr, t.route_producer, market.route_utility,
                                        market.route_price_extra, market.consumer_alpha,
                                        market.consumer_demand, market.consumer_outside_utility,
                                        market.producer_capacity, market.price_form)

            def reference_step(ref=reference, p=price, c=cost):
                ref.clear(p)
                ref.best_response(p, c)

            reference_s = best_time(reference_step, 1)
            row["reference_s"] = round(reference_s, 4)
            row["speedup"] = round(reference_s / kernel_s, 1)
        results.append(row)
        print(json.dumps(row), flush=True)
    if len(results) >= 2:
        small, large = results[-2], results[-1]
        print(json.dumps({"scaling": f"{large['routes']} vs {small['routes']} routes",
                          "time_ratio": round(large["kernel_s"] / small["kernel_s"], 2),
                          "size_ratio": round(large["routes"] / small["routes"], 2)}))


if __name__ == "__main__":
    main()
