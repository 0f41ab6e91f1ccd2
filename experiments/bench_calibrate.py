"""Benchmark: simulations per CPU-hour at the calibration size, and where a small model step's
time goes.

1. Throughput. The first ``--runs`` prior draws of a calibration spec (full or ``--quick`` size)
   run through the sweep engine exactly as ``pricewar calibrate`` runs them (a ``points`` design,
   one seed per run, every reporter stored), on 1 and on 2 local workers. Each configuration runs
   in a child process, so its CPU time (user + system, the workers included) is measured, not
   only its wall time: on a shared machine wall time depends on the other load, CPU time much
   less. Reported: runs per CPU-hour, runs per wall-hour, and the wall time a full and a quick
   calibration would take on 2 workers at that rate (prior + posterior-predictive runs).
2. Profile. pyinstrument over ``--profile-steps`` steps of a warmed-up model at a small size
   (and at the scenario's own size), as a sweep runs it (no agent reporters) and as ``pricewar
   run`` does: the share of step time inside ``pricewar/kernel`` and outside it, and the biggest
   parts of the step outside the kernel.

    python experiments/bench_calibrate.py [--spec experiments/calibration/v1.toml] [--runs 40]
                                          [--profile-steps 60] [--small 300]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KERNEL = f"pricewar{os.sep}kernel{os.sep}"


# ------------------------------------------------------------------------------------------------
# 1. throughput
# ------------------------------------------------------------------------------------------------
def child(spec_path: str, quick: bool, runs: int, workers: int, out: str) -> None:
    """Run the first ``runs`` prior draws (called in a child process)."""
    from pricewar.calibrate.simulate import prior_sweep
    from pricewar.calibrate.spec import load_calibration_spec
    from pricewar.sweep import run_sweep
    from pricewar.sweep.spec import load_spec

    spec = load_calibration_spec(spec_path)
    data = prior_sweep(spec, quick).to_dict()
    for entry in data["design"]["parameters"].values():
        entry["values"] = entry["values"][:runs]
    data["design"]["seeds"] = data["design"]["seeds"][:runs]
    data.pop("seeds")
    status = run_sweep(load_spec(data), out, workers=workers, progress=False)
    assert status.ran == runs and status.failed == 0, status


def measure(spec: str, quick: bool, runs: int, workers: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench_calibrate_") as tmp:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--child", spec, str(runs), str(workers),
                        str(Path(tmp) / "sweep"), *(["--quick"] if quick else [])], check=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"workers": workers, "runs": runs, "wall_seconds": round(wall, 2),
            "cpu_seconds": round(cpu, 2), "runs_per_cpu_hour": round(runs * 3600 / cpu),
            "runs_per_wall_hour": round(runs * 3600 / wall)}


def throughput(spec_path: str, quick: bool, runs: int) -> dict:
    from pricewar.calibrate.spec import load_calibration_spec

    spec = load_calibration_spec(spec_path)
    budget, size = spec.mode(quick)
    one = measure(spec_path, quick, runs, 1)
    two = measure(spec_path, quick, runs, 2)
    total_runs = budget.simulations * budget.seeds_per_draw + budget.posterior_predictive
    # the wall time of the whole calibration on 2 idle cores: CPU time shared by two workers
    per_run_cpu = two["cpu_seconds"] / runs
    return {"mode": "quick" if quick else "full", "size": size, "steps": spec.steps(quick),
            "local_1": one, "local_2": two,
            "speedup_2_over_1_wall": round(one["wall_seconds"] / two["wall_seconds"], 2),
            "calibration_runs": total_runs,
            "calibration_minutes_on_2_idle_cores": round(total_runs * per_run_cpu / 2 / 60, 1),
            "calibration_minutes_on_2_cores_at_measured_wall_rate": round(
                total_runs * 3600 / two["runs_per_wall_hour"] / 60, 1)}


# ------------------------------------------------------------------------------------------------
# 2. profile of a model step
# ------------------------------------------------------------------------------------------------
def _kernel_seconds(frame) -> float:
    """Time in pricewar/kernel frames (outermost ones only, so nothing counts twice)."""
    if KERNEL in (frame.file_path or ""):
        return frame.time
    return sum(_kernel_seconds(c) for c in frame.children)


def _step_frames(frame) -> list:
    """Every frame of ``PriceWarModel.step`` (pyinstrument splits one function over several
    frames), outermost only."""
    if frame.function == "step" and (frame.file_path or "").endswith("price_war_model.py"):
        return [frame]
    return [f for child_frame in frame.children for f in _step_frames(child_frame)]


def profile(n_consumers: int | None, steps: int, agent_reporters: bool) -> dict:
    from pyinstrument import Profiler

    from pricewar.runs.runner import build_model

    model = build_model({} if n_consumers is None else {"n_consumers": n_consumers}, seed=1)
    if not agent_reporters:  # as run_model(agent_reporters=False), which sweep runs use
        model.datacollector.agenttype_reporters = {}
    for _ in range(5):  # warm up: first steps fill caches
        model.step()
    profiler = Profiler(interval=0.0002)
    profiler.start()
    for _ in range(steps):
        model.step()
    profiler.stop()
    frames = _step_frames(profiler.last_session.root_frame())
    total = sum(f.time for f in frames)
    kernel = sum(_kernel_seconds(f) for f in frames)
    by_part: dict[str, float] = {}
    for frame in frames:
        for part in frame.children:
            by_part[part.function] = by_part.get(part.function, 0.0) + part.time
    parts = sorted(by_part.items(), key=lambda p: -p[1])
    return {"n_consumers": len(model.consumer_demand), "agent_reporters": agent_reporters,
            "ms_per_step": round(1000 * total / steps, 3),
            "kernel_share": round(kernel / total, 3),
            "outside_kernel_share": round(1 - kernel / total, 3),
            "largest_parts_of_step": {name: round(seconds / total, 3)
                                      for name, seconds in parts[:6]}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=str(ROOT / "experiments" / "calibration" / "v1.toml"))
    parser.add_argument("--runs", type=int, default=40, help="runs per throughput measurement")
    parser.add_argument("--profile-steps", type=int, default=60)
    parser.add_argument("--small", type=int, default=300, help="consumers of the small model")
    parser.add_argument("--child", nargs=4, metavar=("SPEC", "RUNS", "WORKERS", "OUT"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        spec, runs, workers, out = args.child
        child(spec, args.quick, int(runs), int(workers), out)
        return
    report: dict = {"cpus": os.cpu_count(), "load_average_before": os.getloadavg()[0],
                    "spec": args.spec}
    report["throughput"] = [throughput(args.spec, quick, args.runs) for quick in (False, True)]
    report["profile"] = [profile(n, args.profile_steps, agent)
                         for n in (args.small, None) for agent in (False, True)]
    report["load_average_after"] = os.getloadavg()[0]
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
