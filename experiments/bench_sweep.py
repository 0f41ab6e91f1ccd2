"""Benchmark: sweep throughput on 1 and 2 local workers and on a 2-worker Dask LocalCluster.

Runs the same grid (electricity_cn_west x seeds on the baseline scenario) into fresh directories
and prints one JSON object: runs/s per backend, the 2-worker speedup over 1 worker and the Dask
overhead relative to 2 local processes. Every figure includes what a user waits for: the local
pool's process start-up and imports; for Dask the cluster is started before the clock (it is an
existing cluster) but its workers import pricewar on their first run ("dask_2"); "dask_2_warm" is
a second sweep on the same, now warm, cluster. Targets (docs/sweeps.md): speedup >= 1.7 on two
cores, Dask within 15% of local processes.

    python experiments/bench_sweep.py [--points 6] [--seeds 4] [--n-consumers 1000] [--steps 104]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=6)
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--n-consumers", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=104)
    parser.add_argument("--no-dask", action="store_true")
    args = parser.parse_args()
    spec = bench_spec(args.points, args.seeds, args.n_consumers, args.steps)
    report: dict = {"design": {"runs": args.points * args.seeds, "n_consumers": args.n_consumers,
                               "steps": args.steps, "cpus": os.cpu_count()}}
    with tempfile.TemporaryDirectory(prefix="bench_sweep_") as tmp:
        root = Path(tmp)
        report["local_1"] = timed(spec, root / "local_1", workers=1)
        report["local_2"] = timed(spec, root / "local_2", workers=2)
        if not args.no_dask:
            from distributed import LocalCluster

            with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                              dashboard_address=None, processes=True) as cluster:
                report["dask_2"] = timed(spec, root / "dask_2",
                                         scheduler=cluster.scheduler_address)
                report["dask_2_warm"] = timed(spec, root / "dask_2_warm",
                                              scheduler=cluster.scheduler_address)
    local_1, local_2 = report["local_1"]["runs_per_s"], report["local_2"]["runs_per_s"]
    report["speedup_local_2_over_1"] = round(local_2 / local_1, 3)
    if "dask_2" in report:
        report["dask_overhead_vs_local_2"] = round(local_2 / report["dask_2"]["runs_per_s"] - 1, 3)
        report["dask_warm_overhead_vs_local_2"] = round(
            local_2 / report["dask_2_warm"]["runs_per_s"] - 1, 3)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
