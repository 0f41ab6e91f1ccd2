"""Benchmark: whole-model speed, the share of step time spent outside the kernel, peak memory.

Prints one JSON object per configuration:

- ``baseline``: the shipped scenario (32 hosts offering ~50-100 products, 10 platforms, 2,000
  consumers, 55,000-130,000 routes), 156 weekly steps, all dynamics on. Target: <= 10 s for the run.
- ``large``: 1,000 hosts, 100 platforms, 100,000 consumers (issue 13's large config; each
  consumer reaches every product of its platforms' hosts, about 25 routes where v1 had one per
  producer). Targets: <= 1 s per step, peak memory <= 4 GB. Run in a subprocess so its peak RSS
  is its own.

``outside_kernel_fraction`` is the share of step time not spent inside ``pricewar.kernel``
(timed by wrapping the kernel's entry points the model calls; compiling a new route topology on a
family release, exit or entry counts as outside). Target <= 30%. ``run_cpu_s`` is the run's CPU
time (the wall time ``run_s`` includes what other processes take from this one). ``--consumers``
runs the baseline at another size (calibration runs use 100-1,000 consumers, where the fixed
per-step cost outside the kernel weighs most); ``--set KEY=VALUE`` (repeatable) overrides a
scenario parameter in both configurations, e.g. the v3 market (issue #24's bound: within 1.5x of
v2)::

    python experiments/bench_model.py [--large-steps 10] [--skip-large] [--consumers 300]
        [--set market_version=3 --set producer_strategy=forward_looking]
"""

from __future__ import annotations

import argparse
import functools
import json
import resource
import subprocess
import sys
import time

KERNEL_ENTRY_POINTS = ("market_demand", "clear_capacity", "own_price_derivative",
                       "best_response", "bertrand_nash", "inverse_elasticity_response")
#: the v3 market's kernel entry points (not re-exported by pricewar.kernel)
V3_ENTRY_POINTS = {"pricewar.kernel.gnl_equilibrium": ("states_equilibrium", "rival_log_gap"),
                   "pricewar.kernel.gnl": ("gnl_demand", "gnl_market")}


def _instrument() -> dict:
    """Wrap the kernel entry points wherever the model imported them; returns the timer."""
    import pricewar.kernel as kernel
    import pricewar.model  # noqa: F401  (loads every module that imports the kernel)

    timer = {"kernel_s": 0.0, "depth": 0}

    def timed(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            if timer["depth"]:  # nested kernel call: already counted
                return fn(*args, **kwargs)
            timer["depth"] += 1
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                timer["kernel_s"] += time.perf_counter() - start
                timer["depth"] -= 1
        return wrapper

    # wrap the entry points in every pricewar module outside the kernel that imported them
    import importlib

    entries = {entry: getattr(kernel, entry) for entry in KERNEL_ENTRY_POINTS}
    for source, names in V3_ENTRY_POINTS.items():
        for entry in names:
            entries[entry] = getattr(importlib.import_module(source), entry)
    for name, module in list(sys.modules.items()):
        if not name.startswith("pricewar.") or name.startswith("pricewar.kernel"):
            continue
        for entry, function in entries.items():
            if getattr(module, entry, None) is function:
                setattr(module, entry, timed(function))
    original_post_init = kernel.RouteMarket.__post_init__
    kernel.RouteMarket.__post_init__ = timed(original_post_init)
    return timer


def run_config(name: str, steps: int, overrides: dict) -> dict:
    timer = _instrument()
    from pricewar.model import PriceWarModel

    start = time.perf_counter()
    model = PriceWarModel("baseline", seed=1, **overrides)
    init_s = time.perf_counter() - start
    timer["kernel_s"] = 0.0
    step_times = []
    cpu_start = time.process_time()
    for _ in range(steps):
        t0 = time.perf_counter()
        model.step()
        step_times.append(time.perf_counter() - t0)
    cpu_s = time.process_time() - cpu_start
    run_s = sum(step_times)
    return {
        "config": name,
        "producers": len(model.producers),
        "platforms": len(model.platforms),
        "consumers": len(model.consumers),
        "routes": int(model.routes.topology.n_routes),
        "steps": steps,
        "products": int(model.n_products),
        "init_s": round(init_s, 3),
        "run_s": round(run_s, 3),
        "run_cpu_s": round(cpu_s, 3),
        "step_mean_s": round(run_s / steps, 4),
        "step_max_s": round(max(step_times), 4),
        "outside_kernel_fraction": round(1.0 - timer["kernel_s"] / run_s, 3),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 3),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large-steps", type=int, default=10)
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--consumers", type=int, help="baseline consumers (default: scenario's)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="scenario override (repeatable)")
    parser.add_argument("--only", choices=["baseline", "large"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    from pricewar.scenario import parse_override_pairs

    overrides = parse_override_pairs(args.overrides)
    if args.only == "large":
        print(json.dumps(run_config("large", args.large_steps, {
            "n_producers": 1000, "n_platforms": 100, "n_consumers": 100_000, **overrides})))
        return
    sized = {} if args.consumers is None else {"n_consumers": args.consumers}
    print(json.dumps(run_config("baseline", 156, {**sized, **overrides})), flush=True)
    if not args.skip_large:
        # own process: its peak memory is not the baseline's
        sets = [flag for item in args.overrides for flag in ("--set", item)]
        out = subprocess.run([sys.executable, __file__, "--only", "large", "--large-steps",
                              str(args.large_steps), *sets], capture_output=True, text=True,
                             check=True)
        print(out.stdout.strip())


if __name__ == "__main__":
    main()
