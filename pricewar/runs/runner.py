"""Running a model for a number of steps and writing its outputs (library side of ``pricewar run``).

:func:`run_model` is the one run loop: ``pricewar run``, the experiments
(:func:`pricewar.runs.harness.run_observed`) and sweep workers
(:func:`pricewar.sweep.worker.execute_run`) all step their models through it.

:func:`run_to_directory` checks the output folder before it simulates and writes the outputs
with :func:`write_run`: into a temporary folder beside ``out`` that then replaces ``out`` in one
step, so an interrupted run (Ctrl-C, a full disk, SIGKILL) leaves ``out`` as it was.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from pricewar.atomic_writes import (
    FolderLock,
    check_output_dir,
    machine_lock_file,
    replacing_dir,
    resolved_output_dir,
)
from pricewar.model import PriceWarModel
from pricewar.model.agents import PlatformOperator, TokenProducer
from pricewar.runs.outputs import column_declarations, run_metadata, write_parquet
from pricewar.scenario import Scenario

SUMMARY_COLUMNS = ("price_avg", "price_cn_west", "price_cn_east", "price_us", "price_eu",
                   "share_cn_west", "share_cn_east", "share_us", "share_eu", "served_total",
                   "refused_total", "refused_share", "lerner", "hhi")

#: the files a run writes into its output folder (an existing folder holding anything else is
#: not replaced)
RUN_OUTPUTS = ("model.parquet", "agents.parquet", "scenario.toml")


def build_model(overrides: Mapping | None = None, seed: int | None = 1,
                scenario: str | Path | Scenario = "baseline") -> PriceWarModel:
    """A :class:`PriceWarModel` of ``scenario`` with flat ``overrides`` (not stepped)."""
    return PriceWarModel(scenario, seed=seed, **dict(overrides or {}))


def run_model(scenario: str | Path | Scenario = "baseline", steps: int | None = None,
              seed: int | None = 1, overrides: dict | None = None,
              progress: bool = True,
              on_step: Callable[[PriceWarModel], None] | None = None,
              agent_reporters: bool = True) -> PriceWarModel:
    """Build a :class:`PriceWarModel` and step it ``steps`` times (default: the scenario's).

    ``steps`` becomes the scenario's run length, so the resolved scenario records it.
    ``on_step(model)`` (optional) is called before the first step (``model.steps == 0``) and
    after every step: it observes the run without a second loop. ``agent_reporters=False``
    stops collecting the producers' and platforms' reporters after step 0 (sweep runs read the
    model reporters only): at small sizes that collection is about a quarter of a step's time.
    """
    overrides = dict(overrides or {})
    if steps is not None:
        overrides["steps"] = int(steps)
    model = build_model(overrides, seed, scenario)
    if not agent_reporters:
        model.datacollector.agenttype_reporters = {}
    if on_step is not None:
        on_step(model)
    for _ in tqdm(range(model.scenario.steps), desc=f"{model.scenario.name} seed {seed}", unit="step",
                  disable=not progress, leave=False):
        model.step()
        if on_step is not None:
            on_step(model)
    return model


def model_frame(model: PriceWarModel) -> pd.DataFrame:
    """Model reporters with step and date columns (one row per step, step 0 = initial state).

    ``frame.attrs["warnings"]``: the run's warnings (``model.warnings``; kept in Parquet).
    """
    frame = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    frame.insert(0, "step", range(len(frame)))
    start = pd.Timestamp(model.start_date)
    frame.insert(1, "date", start + pd.to_timedelta(frame["step"] * model.scenario.step_days,
                                                    unit="D"))
    frame.attrs["warnings"] = list(model.warnings)
    return frame


def agents_frame(model: PriceWarModel) -> pd.DataFrame:
    """Producer and platform reporters stacked, with agent type, region and group columns
    (an exited host keeps its region and group; ``attrs["warnings"]`` as in
    :func:`model_frame`)."""
    collector = model.datacollector
    parts = []
    for agent_type, name in ((TokenProducer, "producer"), (PlatformOperator, "platform")):
        frame = collector.get_agenttype_vars_dataframe(agent_type).reset_index()
        frame = frame.rename(columns={"Step": "step", "AgentID": "agent_id"})
        identity = [collector.identity(i) for i in frame["agent_id"]]
        frame.insert(2, "agent_type", name)
        frame.insert(3, "region", pd.Series([region for region, _ in identity]))
        frame.insert(4, "group", pd.Series([group for _, group in identity]))
        parts.append(frame)
    frame = pd.concat(parts, ignore_index=True)
    frame.attrs["warnings"] = list(model.warnings)
    return frame


def summary_table(frame: pd.DataFrame) -> pd.DataFrame:
    """First and last step of the headline metrics, their unit and their ratio (1 when both are
    0; NaN only when the first is 0 and the last is not: no finite ratio exists)."""
    first, last = frame.iloc[0], frame.iloc[-1]
    units = column_declarations(SUMMARY_COLUMNS)
    rows = []
    for column in SUMMARY_COLUMNS:
        if first[column]:
            ratio = last[column] / first[column]
        else:
            ratio = 1.0 if last[column] == 0 else float("nan")
        rows.append((column, units[column].unit, first[column], last[column], ratio))
    table = pd.DataFrame(rows, columns=["metric", "unit", f"step {int(first['step'])}",
                                        f"step {int(last['step'])}", "last/first"])
    return table.set_index("metric")


def run_to_directory(scenario, out: Path, steps: int | None = None, seed: int | None = 1,
                     overrides: dict | None = None, progress: bool = True) -> pd.DataFrame:
    """Run and write ``out/model.parquet``, ``out/agents.parquet`` and ``out/scenario.toml``
    (the fully resolved scenario, reproducing the run with ``pricewar run out/scenario.toml``).

    ``out`` is checked before the run (:func:`pricewar.atomic_writes.check_output_dir`: writable, not
    a file, empty or an earlier run's folder) and replaced only once every output is written. A
    second run into the same ``out`` while this one runs fails at once
    (:class:`~pricewar.atomic_writes.OutputError`; the lock file is in this machine's temporary
    folder, :func:`~pricewar.atomic_writes.machine_lock_file`).
    Returns the summary table.
    """
    out = check_output_dir(out, replaces=RUN_OUTPUTS)
    if steps is not None and "steps" in (overrides or {}):
        # --steps wins over --set steps=...: record the steps that ran (pricewar.steps too)
        overrides = {**overrides, "steps": int(steps)}
    folder = Path(os.path.realpath(resolved_output_dir(out)))
    with FolderLock(folder, "run", machine_lock_file("run", str(folder))):
        model = run_model(scenario, steps=steps, seed=seed, overrides=overrides,
                          progress=progress)
        frame = model_frame(model)
        from_file = isinstance(scenario, str | Path) and Path(scenario).suffix == ".toml"
        meta = run_metadata(model, seed, overrides, scenario_file=scenario if from_file else None)
        header = (f"# Resolved scenario of a pricewar run with seed {seed}. Reproduce it with:\n"
                  f"#   pricewar run {out / 'scenario.toml'} --seed {seed} --out OTHER_DIR\n")
        header += "".join(f"# warning: {warning}\n" for warning in model.warnings)
        write_run(out, {"model.parquet": frame, "agents.parquet": agents_frame(model)},
                  {"scenario.toml": header + model.scenario.to_toml()}, metadata=meta,
                  producer_regions=model.regions.producer_regions)
    return summary_table(frame)


def write_run(out: Path, frames: Mapping[str, pd.DataFrame], texts: Mapping[str, str], *,
              metadata: Mapping[str, str] | None = None, producer_regions=None) -> None:
    """Write a run's output folder atomically: ``frames`` (file name -> frame, as Parquet with
    the run's key-value ``metadata`` and per-column units, :func:`write_parquet`) and ``texts``
    (file name -> text, UTF-8) go into a temporary folder beside ``out``, which then replaces
    ``out`` (:func:`pricewar.atomic_writes.replacing_dir`). Raises
    :class:`~pricewar.atomic_writes.OutputError` (``out`` unchanged) if anything cannot be written.
    """
    with replacing_dir(out) as folder:
        for name, frame in frames.items():
            write_parquet(frame, folder / name, metadata or {}, producer_regions)
        for name, text in texts.items():
            (folder / name).write_text(text, encoding="utf-8")
