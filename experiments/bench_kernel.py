"""Benchmark: vectorized kernel vs the plain-Python reference, and vs the memory-bandwidth floor.

Prints one JSON object per market size with keys ``routes, kernel_s, reference_s, speedup,
bandwidth_s, kernel_over_bandwidth, clearing_rounds``. ``kernel_s`` times one demand evaluation,
one capacity clearing and one best-response step (the work of one model step); ``bandwidth_s``
times one plain numpy pass reading the route arrays once and writing one route array. Each figure
is the best of ``--repeats`` runs; ratios are measured in this one run (machines are noisy).

    python experiments/bench_kernel.py [--sizes 20000 200000 2000000] [--reference-max 200000]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from pricewar.kernel import best_response, clear_capacity, market_demand
from pricewar.reference import ReferenceMarket
from pricewar.synthetic import random_route_market


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


def bandwidth_pass(market, out):
    # read every per-route input once, write one per-route array: the floor for any route pass
    np.add(market.route_utility, market.route_price_extra, out=out)
    return int(market.topology.route_producer.sum())


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
        out = np.empty(routes)
        bandwidth_s = best_time(lambda m=market, o=out: bandwidth_pass(m, o), args.repeats * 4)
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
