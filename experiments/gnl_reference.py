"""Reference outputs of the v3 kernel and a v3 model run, for ``tests/test_gnl_reference.py``.

Written once by the code before the kernel's performance changes (issue #24, main at 91dc9ee),
so that the test checks every later version against it: the kernel's demand, derivatives and
the states equilibrium on random markets (:func:`reference_markets`) to rtol 1e-12, and the
model's reporters (:func:`model_reporters`) to rtol 1e-9. Regenerate only for an intended change
of results (and say so in the commit):

    python experiments/gnl_reference.py tests/data/gnl_reference.npz
"""

from __future__ import annotations

import argparse

import numpy as np

from pricewar.kernel.gnl import gnl_demand, gnl_market
from pricewar.kernel.gnl_equilibrium import Review, rival_log_gap, states_equilibrium
from pricewar.kernel.gnl_pricing import gnl_derivatives
from pricewar.testing.random_gnl import random_gnl_inputs

#: (seed, classes, price form) of the reference kernel markets: 30 segments, 12 products
KERNEL_CASES = [(seed, classes, form) for seed, (classes, form) in enumerate(
    [(1, "log"), (2, "log"), (3, "log"), (2, "linear"), (1, "linear"), (3, "log")])]
#: the reference model run
MODEL_RUN = dict(scenario="baseline", seed=1, n_consumers=200, steps=20, market_version=3,
                 producer_strategy="forward_looking")
DEMAND_FIELDS = ("route_share", "route_family_share", "route_tier_share", "route_demand",
                 "route_slope", "logsum", "outside_share", "volume", "product_demand")
DERIVATIVE_FIELDS = ("own", "lam", "gam", "phi", "firm_cross")


def reference_markets(seed: int, n_classes: int, form: str):
    """Shoppers and committed markets over the same products (the committed with other
    utilities and volumes), costs, loads, capacities, and the keywords of the solve."""
    inputs, price, cost = random_gnl_inputs(30, 12, routes_per_segment=5, n_classes=n_classes,
                                            seed=seed, price_form=form)
    shoppers = gnl_market(**inputs)
    rng = np.random.default_rng(1000 + seed)
    committed = gnl_market(**{**inputs, "route_utility": rng.normal(
        1.0, 1.0, inputs["route_product"].size), "segment_demand": rng.uniform(0.1, 1.0, 30)})
    n_firms = int(shoppers.product_firm.max()) + 1
    load = rng.uniform(0.5, 2.0, 12)
    free = states_equilibrium(shoppers, committed, cost, load=load)
    # capacity binds for some firms: a fraction of their unconstrained load
    capacity = np.bincount(shoppers.product_firm, free.product_demand * load, n_firms) * \
        rng.uniform(0.5, 1.5, n_firms)
    solve = dict(load=load, capacity=capacity, complement_value=rng.uniform(0.0, 0.3, 12),
                 retention_value=rng.uniform(0.0, 3.0, 12),
                 review=Review(0.02, rng.uniform(0.5, 2.0), 0.8),
                 committed_gap_route=np.arange(committed.route_product.size),
                 fixed=rng.random(12) < 0.2, fixed_price=price, max_iter=30)
    return shoppers, committed, price, cost, solve


def kernel_outputs() -> dict[str, np.ndarray]:
    out = {}
    for seed, n_classes, form in KERNEL_CASES:
        shoppers, committed, price, cost, solve = reference_markets(seed, n_classes, form)
        key = f"k{seed}"
        for name, market in (("s", shoppers), ("c", committed)):
            demand = gnl_demand(market, price)
            for field in DEMAND_FIELDS:
                out[f"{key}_{name}_demand_{field}"] = getattr(demand, field)
            deriv = gnl_derivatives(market, demand, markup=np.stack([price - cost, solve["load"]]))
            for field in DERIVATIVE_FIELDS:
                out[f"{key}_{name}_deriv_{field}"] = getattr(deriv, field)
            single = gnl_derivatives(market, demand, markup=price - cost)
            out[f"{key}_{name}_deriv1_phi"] = single.phi
        out[f"{key}_gap"] = rival_log_gap(shoppers, price)
        result = states_equilibrium(shoppers, committed, cost, **solve)
        for field in ("price", "shadow_price", "product_demand", "firm_load", "residual",
                      "iterations"):
            out[f"{key}_eq_{field}"] = np.asarray(getattr(result, field), dtype=float)
    return out


def model_reporters() -> dict[str, np.ndarray]:
    from pricewar.model.price_war_model import PriceWarModel  # the model layer: scripts only

    run = dict(MODEL_RUN)
    scenario, steps = run.pop("scenario"), run.pop("steps")
    model = PriceWarModel(scenario, steps=steps, **run)
    for _ in range(steps):
        model.step()
    frame = model.datacollector.get_model_vars_dataframe().select_dtypes("number")
    return {f"model_{column}": frame[column].to_numpy(dtype=float) for column in frame.columns}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    args = parser.parse_args(argv)
    np.savez_compressed(args.path, **kernel_outputs(), **model_reporters())


if __name__ == "__main__":
    main()
