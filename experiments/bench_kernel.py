"""Benchmark: vectorized kernel vs the plain-Python reference, and vs the memory-bandwidth floor.

Prints one JSON object per market size with keys ``routes, kernel_s, reference_s, speedup,
bandwidth_s, kernel_over_bandwidth, clearing_rounds``, then the time ratio of the two largest sizes.

``kernel_s`` times one demand evaluation, one capacity clearing and one best-response step
(``market_demand + clear_capacity + best_response``, the work of one model step) on a market built
beforehand, so the market's cached per-route arrays (``route_alpha`` and the like) are warm, as
they are when a model iterates on one market.

``bandwidth_s`` is the memory-bandwidth floor: a plain numpy pass over the same arrays, namely one
``.sum()`` over *each* per-route array of the market that a kernel step reads -- ``route_producer``,
``route_consumer``, ``route_utility``, ``route_price_extra`` and the cached ``route_alpha`` (five
arrays of 8 bytes per route). No kernel step can avoid reading these once. Further per-route caches
the kernel derives from them (e.g. utility relative to the outside option, int32 index copies) are
deliberately not counted, so the floor does not grow with the kernel's own implementation choices.

Each figure is the best of ``--repeats`` runs (``4 x --repeats`` for the cheap floor); ratios are
measured in this one run (machines are noisy).

    python experiments/bench_kernel.py [--sizes 20000 200000 2000000] [--reference-max 200000]
"""

from __future__ import annotations

import argparse
import json
import time

from pricewar.kernel import best_response, clear_capacity, market_demand
from pricewar.testing.random_markets import random_route_market
from pricewar.testing.reference import ReferenceMarket


def best_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


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
        routes = market.topology.n_routes
        kernel_s = best_time(lambda m=market, p=price, c=cost: kernel_step(m, p, c), args.repeats)
        rounds = kernel_step(market, price, cost).rounds
        arrays = route_arrays(market)
        bandwidth_s = best_time(lambda a=arrays: bandwidth_pass(a), args.repeats * 4)
        row = {"routes": routes, "kernel_s": round(kernel_s, 5), "reference_s": None,
               "speedup": None, "bandwidth_s": round(bandwidth_s, 6),
               "kernel_over_bandwidth": round(kernel_s / bandwidth_s, 1),
               "clearing_rounds": rounds}
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
