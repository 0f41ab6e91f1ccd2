"""Benchmark: one demand + derivative evaluation of the generalized nested logit (v3 kernel).

Prints one JSON row per size with ``gnl_k1_s`` and ``gnl_k2_s`` (``gnl_demand`` +
``gnl_derivatives`` with margins, i.e. shares, demand, own-price derivatives and the
multi-product cannibalisation term, for 1 and 2 latent classes;
:func:`~pricewar.testing.random_gnl.random_gnl_inputs`: 4 tiers, ``n_products // 3`` families,
a third of the products in three-product firms), ``v2_s`` (the demand-v2 kernel's nested demand
and first-order-condition terms, ``market_demand`` + ``foc_terms`` with ``slope, lam, gam``, on
:func:`~pricewar.testing.random_markets.random_nested_market` with the same numbers of consumers,
producers and routes per consumer) and the ratios ``k1_over_v2``, ``k2_over_v2``. The three are
timed in turn (best of ``--repeats``), so that they see the same machine load. Building either
market (sorting, run and firm indices) is done once beforehand and not timed.

    python experiments/bench_kernel_gnl.py [--sizes 20000 200000 2000000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json

from bench_kernel import alternating_best_times  # (run as a script: its folder is on sys.path)

from pricewar.kernel import market_demand
from pricewar.kernel.firms import foc_terms
from pricewar.kernel.gnl import gnl_demand, gnl_market
from pricewar.kernel.gnl_pricing import gnl_derivatives
from pricewar.testing.random_gnl import random_gnl_inputs
from pricewar.testing.random_markets import random_nested_market


def gnl_step(market, price, cost):
    demand = gnl_demand(market, price)
    return gnl_derivatives(market, demand, markup=price - cost)


def v2_step(market, price, cost):
    demand = market_demand(market, price)
    return foc_terms(market, demand, price, cost)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 200_000, 2_000_000])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--producers", type=int, default=1000)
    parser.add_argument("--routes-per-consumer", type=int, default=10)
    args = parser.parse_args(argv)
    for size in args.sizes:
        n_segments = max(1, size // args.routes_per_consumer)
        markets = []
        for n_classes in (1, 2):
            inputs, price, cost = random_gnl_inputs(n_segments, args.producers,
                                                    args.routes_per_consumer, n_classes,
                                                    seed=size)
            markets.append((gnl_market(**inputs), price, cost))
        nested, nested_price, nested_cost = random_nested_market(
            n_segments, args.producers, args.routes_per_consumer, seed=size, n_nests=8)
        steps = [lambda m=m, p=p, c=c: gnl_step(m, p, c) for m, p, c in markets]
        steps.append(lambda m=nested, p=nested_price, c=nested_cost: v2_step(m, p, c))
        for step in steps:  # warm caches
            step()
        k1_s, k2_s, v2_s = alternating_best_times(steps, args.repeats)
        print(json.dumps({
            "routes": int(markets[0][0].route_product.size),
            "v2_routes": int(nested.topology.n_routes), "gnl_k1_s": round(k1_s, 4),
            "gnl_k2_s": round(k2_s, 4), "v2_s": round(v2_s, 4),
            "k1_over_v2": round(k1_s / v2_s, 2), "k2_over_v2": round(k2_s / v2_s, 2)}),
            flush=True)


if __name__ == "__main__":
    main()
