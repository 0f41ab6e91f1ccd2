"""Benchmark: sweep throughput on 1 and 2 local workers and on a 2-worker Dask LocalCluster.

Runs the same grid (electricity_cn_west x seeds on the baseline scenario) into fresh directories
and prints one JSON object: runs/s per backend, the 2-worker speedup over 1 worker and the Dask
overhead relative to 2 local processes. Every figure includes what a user waits for: the local
pool's process start-up and imports; for Dask the cluster is started before the clock (it is an
existing cluster) but its workers import pricewar on their first run ("dask_2"); "dask_2_warm" is
a second sweep on the same, now warm, cluster. Targets (docs/sweeps.md): speedup >= 1.7 on two
cores, Dask within 15% of local processes.

    python experiments/bench_sweep.py [--points 6] [--seeds 4] [--n-consumers 1000] [--steps 104]
                                      [--repeats 1]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from pricewar.sweep import load_results, run_sweep


def bench_spec(points: int, seeds: int, n_consumers: int, steps: int) -> dict:
    return {"name": "bench", "scenario": "baseline", "steps": steps,
            "seeds": list(range(1, seeds + 1)),
            "outputs": {"metrics": ["price_avg", "share_cn_west"], "steps": ["final"]},
            "fixed": {"n_consumers": n_consumers},
            "design": {"kind": "grid", "parameters": {
                "electricity_cn_west": {"low": 0.02, "high": 0.12, "num": points}}}}


def timed(spec: dict, out: Path, **kwargs) -> dict:
    start = time.perf_counter()
    status = run_sweep(spec, out, progress=False, **kwargs)
    seconds = time.perf_counter() - start
    assert status.ran == status.total and status.failed == 0, status
    run_seconds = float(load_results(out)["wall_seconds"].mean())
    return {"runs": status.ran, "seconds": round(seconds, 3),
            "runs_per_s": round(status.ran / seconds, 3),
            "mean_run_seconds": round(run_seconds, 3)}


def best(results: list[dict]) -> dict:
    top = max(results, key=lambda r: r["runs_per_s"])
    return {**top, "all_runs_per_s": [r["runs_per_s"] for r in results]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=6)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--n-consumers", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=104)
    parser.add_argument("--repeats", type=int, default=1,
                        help="repeat each measurement (interleaved) and keep the best")
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args()
    spec = bench_spec(args.points, args.seeds, args.n_consumers, args.steps)
    report: dict = {"design": {"runs": args.points * args.seeds, "n_consumers": args.n_consumers,
                               "steps": args.steps, "cpus": os.cpu_count(),
                               "load_average_before": os.getloadavg()[0]}}
    samples: dict[str, list[dict]] = {"local_1": [], "local_2": [], "dask_2": [],
                                      "dask_2_warm": []}
    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
        root = Path(tmp)
        for repeat in range(args.repeats):
            samples["local_1"].append(timed(spec, root / f"local_1_{repeat}", workers=1))
            samples["local_2"].append(timed(spec, root / f"local_2_{repeat}", workers=2))
            if args.no_dask:
                continue
            # imported here: distributed's nanny sets MALLOC_TRIM_THRESHOLD_ in this process's
            # environment, which local workers started later would inherit
            from distributed import LocalCluster

            with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                              dashboard_address=None, processes=True) as cluster:
                samples["dask_2"].append(timed(spec, root / f"dask_2_{repeat}",
                                               scheduler=cluster.scheduler_address))
                samples["dask_2_warm"].append(timed(spec, root / f"dask_2_warm_{repeat}",
                                                    scheduler=cluster.scheduler_address))
            os.environ.pop("MALLOC_TRIM_THRESHOLD_", None)
    report.update({name: best(values) for name, values in samples.items() if values})
    report["design"]["load_average_after"] = os.getloadavg()[0]
    local_1, local_2 = report["local_1"]["runs_per_s"], report["local_2"]["runs_per_s"]
    report["speedup_local_2_over_1"] = round(local_2 / local_1, 3)
    if "dask_2" in report:
        report["dask_overhead_vs_local_2"] = round(local_2 / report["dask_2"]["runs_per_s"] - 1, 3)
        report["dask_warm_overhead_vs_local_2"] = round(
            local_2 / report["dask_2_warm"]["runs_per_s"] - 1, 3)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
