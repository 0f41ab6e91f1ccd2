"""Two setups of the model side by side: headline metrics, their differences, seed bands.

A *side* is a scenario (a shipped name or a TOML path, run here at the given seeds) or the output
folder of ``pricewar run`` (``model.parquet``; a folder of such folders counts as one run per
seed). :func:`difference_table` compares the sides at their last common step; with several seeds
the differences are paired by seed and their band is the min-max over seeds. Sides run over
posterior draws (:func:`draw_side`: frames by ``(draw id, seed)``) are compared pair by pair on
common draws and seeds (:func:`pair_table`) and summarised by the median and the 90% interval
(:func:`draw_difference_table`; their bands over time likewise).
:func:`plot_comparison` draws both sides' headline metrics over time (mean and min-max band)
and the relative differences at that step. ``pricewar compare`` (:mod:`pricewar.runs.compare_cli`)
is the command line.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
import pandas as pd

from pricewar.errors import PricewarError
from pricewar.model.metrics import metric_declaration
from pricewar.plotting.style import new_figure, save_figure
from pricewar.plotting.ticks import format_value_axis
from pricewar.runs.outputs import read_metadata
from pricewar.runs.runner import model_frame, run_model
from pricewar.scenario import load_scenario

log = logging.getLogger(__name__)

#: the metrics of the table (per-region shares are added for the regions in the outputs)
#: (welfare across runs: ``consumer_surplus_common_ref``, measured from one reference price in
#: every run; ``consumer_surplus`` is measured from each run's own initial prices)
HEADLINE_METRICS = ("price_avg", "price_index", "lerner", "hhi", "served_total",
                    "refused_total", "refused_share", "consumer_surplus_common_ref",
                    "consumer_surplus", "energy_mwh", "emissions_t", "active_producers")
#: the metrics drawn over time, one panel each
FIGURE_METRICS = ("price_avg", "share_cn_west", "share_us", "served_total", "lerner", "hhi",
                  "consumer_surplus_common_ref")
#: colours of side A and side B (colour-blind safe pair, distinct from the region colours' use)
SIDE_COLORS = ("#1f77b4", "#d95f02")


#: the interval of a comparison over draws: quantiles 5% and 95% (a 90% interval)
INTERVAL = (0.05, 0.95)


@dataclass(frozen=True)
class Side:
    """One side of a comparison: its label and its model frames by seed (or, over posterior
    draws, by ``(draw id, seed)``, with ``draws`` the draws file)."""

    label: str
    frames: dict
    origin: str  # "run folder <path>" or "scenario <spec>"
    draws: str | None = None

    @property
    def seeds(self) -> list[int]:
        if self.draws is not None:
            return sorted({seed for _, seed in self.frames})
        return sorted(self.frames)

    @property
    def draw_ids(self) -> list[int]:
        return sorted({draw for draw, _ in self.frames}) if self.draws is not None else []


def _run_folders(path: Path) -> list[Path]:
    if (path / "model.parquet").exists():
        return [path]
    return sorted(p.parent for p in path.glob("*/model.parquet"))


def load_side(spec: str, seeds: Sequence[int] = (1,), steps: int | None = None,
              overrides: Mapping | None = None, progress: bool = False) -> Side:
    """A side from a run folder (``model.parquet``, or sub-folders holding one each) or from a
    scenario run at ``seeds`` with ``steps`` and flat ``overrides``.

    Raises PricewarError for a folder without runs, ScenarioError for a bad scenario.
    """
    if not str(spec).strip():
        raise PricewarError(f"compare: side {spec!r} is empty: give a scenario name, a .toml "
                            f"path or a run folder (an empty path would mean the current folder)")
    path = Path(spec)
    if path.is_dir():
        return _load_folder_side(spec, path)
    scenario = load_scenario(spec).with_overrides(**dict(overrides or {}))
    frames = {}
    for seed in seeds:
        log.info("running %s seed %d", scenario.name, seed)
        frames[seed] = model_frame(run_model(scenario, steps=steps, seed=seed, progress=progress))
    label = scenario.name if not overrides else (
        f"{scenario.name} ({', '.join(f'{k}={v}' for k, v in overrides.items())})")
    return Side(label, frames, f"scenario {spec}")


def draw_side(name: str, frames: Mapping[tuple[int, int], pd.DataFrame], draws_path: str,
              overrides: Mapping | None = None, spec: str | None = None) -> Side:
    """A side of the scenario named ``name`` (given as ``spec``) run over posterior draws: model
    frames by ``(draw id, seed)`` (from :func:`pricewar.sweep.draws.run_draws`), the draws file
    they came from, the flat ``overrides`` both had."""
    label = name if not overrides else (
        f"{name} ({', '.join(f'{k}={v}' for k, v in overrides.items())})")
    return Side(label, dict(frames), f"scenario {spec or name}", draws=str(draws_path))


def _load_folder_side(spec: str, path: Path) -> Side:
    """The runs of one configuration in a run folder, one per seed; refuses damaged files, runs
    of different configurations (scenario, overrides or length: they are not seeds) and a seed
    held twice."""
    import pyarrow as pa

    folders = _run_folders(path)
    if not folders:
        raise PricewarError(f"{spec}: no model.parquet in the folder or its sub-folders")
    frames: dict[int, pd.DataFrame] = {}
    names = set()
    configuration: tuple[Path, str] | None = None
    for folder in folders:
        file = folder / "model.parquet"
        try:
            meta = read_metadata(file)
            frame = pd.read_parquet(file)
        except (pa.ArrowException, OSError, ValueError) as error:
            raise PricewarError(f"{file} cannot be read ({type(error).__name__}: "
                                f"{str(error).splitlines()[0]}): remove it or run it "
                                f"again") from None
        resolved = meta.get("scenario_toml", "(no recorded scenario)")
        if configuration is None:
            configuration = (file, resolved)
        elif resolved != configuration[1]:
            raise PricewarError(
                f"{spec}: {configuration[0]} and {file} are runs of different configurations "
                f"({_first_difference(configuration[1], resolved)}): runs of one folder are "
                f"compared as seeds of one configuration; give each configuration its folder")
        names.add(meta.get("scenario", folder.name))
        seed = json.loads(meta.get("seed", "null"))
        if isinstance(seed, int) and seed in frames:
            raise PricewarError(f"{spec}: two runs of seed {seed} (e.g. {file}): a seed counts "
                                f"once; remove the copy")
        if not isinstance(seed, int):  # unknown: number it
            seed = max(frames, default=0) + 1
        frames[seed] = frame
    label = names.pop() if len(names) == 1 else path.name
    return Side(label, frames, f"run folder {path}")


def _first_difference(a: str, b: str) -> str:
    for line_a, line_b in zip(a.splitlines(), b.splitlines(), strict=False):
        if line_a != line_b:
            return f"{line_a.strip()!r} vs {line_b.strip()!r}"
    return "one holds more settings"


def distinct_labels(a: Side, b: Side) -> tuple[str, str]:
    """``A: <label>`` and ``B: <label>``."""
    return f"A: {a.label}", f"B: {b.label}"


def headline_metrics(frame: pd.DataFrame) -> list[str]:
    """:data:`HEADLINE_METRICS` plus the regions' shares present in ``frame``."""
    shares = [c for c in frame.columns if c.startswith("share_")]
    return [m for m in HEADLINE_METRICS if m in frame.columns] + shares


def last_common_step(a: Side, b: Side) -> int:
    return int(min(int(f["step"].max()) for side in (a, b) for f in side.frames.values()))


def _values_at(side: Side, step: int, metric: str) -> pd.Series:
    return pd.Series({seed: float(f.loc[f["step"] == step, metric].iloc[0])
                      for seed, f in side.frames.items()})


def difference_table(a: Side, b: Side, metrics: Sequence[str] | None = None,
                     step: int | None = None) -> pd.DataFrame:
    """One row per metric at ``step`` (default: the last step both sides have).

    Columns: ``unit``, ``A`` and ``B`` (means over seeds), ``B - A`` (mean difference),
    ``B - A min`` and ``B - A max`` (band of the seed-paired differences; empty unless both sides
    ran the same seeds, more than one), ``B/A - 1 (%)`` (empty when A is 0).
    """
    step = last_common_step(a, b) if step is None else step
    frames = {(side_name, seed): frame for side_name, side in (("A", a), ("B", b))
              for seed, frame in side.frames.items()}
    metrics = list(metrics or dict.fromkeys(m for f in frames.values()
                                            for m in headline_metrics(f)))
    for (side_name, seed), frame in frames.items():
        missing = [m for m in metrics if m not in frame.columns]
        if missing:
            raise PricewarError(f"compare: side {side_name} seed {seed} has no column "
                                f"{', '.join(missing[:3])}: both sides must record the same "
                                f"metrics (runs of the same pricewar version)")
    paired = a.seeds == b.seeds and len(a.seeds) > 1
    rows = []
    for metric in metrics:
        va, vb = _values_at(a, step, metric), _values_at(b, step, metric)
        diff = vb - va if paired else pd.Series([vb.mean() - va.mean()])
        rows.append({"metric": metric, "unit": _unit(metric), "A": va.mean(), "B": vb.mean(),
                     "B - A": diff.mean(),
                     "B - A min": diff.min() if paired else np.nan,
                     "B - A max": diff.max() if paired else np.nan,
                     "B/A - 1 (%)": 100.0 * (vb.mean() / va.mean() - 1.0) if va.mean() else np.nan})
    table = pd.DataFrame(rows).set_index("metric")
    table.attrs["step"] = step
    return table


def bands(side: Side, metric: str) -> pd.DataFrame:
    """Per step: ``date``, ``mean``, ``lo``, ``hi`` of ``metric`` over the side's seeds (over
    draws x seeds: ``mean`` is the median and ``lo``-``hi`` the 90% interval)."""
    stacked = pd.concat([f[["step", "date", metric]] for f in side.frames.values()])
    grouped = stacked.groupby("step")
    if side.draws is not None:
        return pd.DataFrame({"date": pd.to_datetime(grouped["date"].first()),
                             "mean": grouped[metric].median(),
                             "lo": grouped[metric].quantile(INTERVAL[0]),
                             "hi": grouped[metric].quantile(INTERVAL[1])})
    return pd.DataFrame({"date": pd.to_datetime(grouped["date"].first()),
                         "mean": grouped[metric].mean(), "lo": grouped[metric].min(),
                         "hi": grouped[metric].max()})


def _checked_pairs(a: Side, b: Side) -> list[tuple[int, int]]:
    """The common ``(draw id, seed)`` pairs of two sides run over draws (the same on both
    sides, or a PricewarError)."""
    if a.draws is None or b.draws is None:
        raise PricewarError("compare: a comparison over draws needs both sides run over draws")
    if set(a.frames) != set(b.frames):
        only = sorted(set(a.frames) ^ set(b.frames))[:3]
        raise PricewarError(f"compare: the sides ran different (draw, seed) pairs (e.g. "
                            f"{only}): differences need common draws and seeds")
    return sorted(a.frames)


def pair_table(a: Side, b: Side, metrics: Sequence[str] | None = None,
               step: int | None = None) -> pd.DataFrame:
    """One row per ``(draw, seed)`` pair and metric at ``step`` (default: the last common
    step): ``A``, ``B`` and ``B - A`` of that pair (the same draw and seed on both sides)."""
    pairs = _checked_pairs(a, b)
    step = last_common_step(a, b) if step is None else step
    first = a.frames[pairs[0]]
    metrics = list(metrics or headline_metrics(first))
    rows = []
    for metric in metrics:
        for draw, seed in pairs:
            va = _value_at(a.frames[(draw, seed)], step, metric, "A", (draw, seed))
            vb = _value_at(b.frames[(draw, seed)], step, metric, "B", (draw, seed))
            rows.append({"metric": metric, "draw": draw, "seed": seed, "A": va, "B": vb,
                         "B - A": vb - va})
    table = pd.DataFrame(rows)
    table.attrs["step"] = step
    return table


def _value_at(frame: pd.DataFrame, step: int, metric: str, side: str, pair) -> float:
    if metric not in frame.columns:
        raise PricewarError(f"compare: side {side} (draw, seed) {pair} has no column {metric}: "
                            f"both sides must record the same metrics")
    return float(frame.loc[frame["step"] == step, metric].iloc[0])


def _median_interval(values: np.ndarray) -> tuple[float, float, float]:
    values = values[np.isfinite(values)]
    if not len(values):
        return (np.nan, np.nan, np.nan)
    low, mid, high = np.quantile(values, [INTERVAL[0], 0.5, INTERVAL[1]])
    return float(mid), float(low), float(high)


#: the columns of :func:`draw_difference_table` after ``unit``, by quantity
DRAW_QUANTITIES = ("A", "B", "B - A", "B/A - 1 (%)")


def draw_difference_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """One row per metric from :func:`pair_table`: for ``A``, ``B``, the paired difference
    ``B - A`` and the paired relative difference ``B/A - 1 (%)`` (of each pair; pairs with A = 0
    left out), the median and the 90% interval over the pairs (columns ``<quantity> median``,
    ``<quantity> q05``, ``<quantity> q95``); ``unit``; ``pairs`` (draws x seeds)."""
    rows = []
    for metric, group in pairs.groupby("metric", sort=False):
        va, vb = group["A"].to_numpy(float), group["B"].to_numpy(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = np.where(va != 0, 100.0 * (vb / va - 1.0), np.nan)
        row = {"metric": metric, "unit": _unit(metric)}
        for name, values in zip(DRAW_QUANTITIES, (va, vb, vb - va, relative), strict=True):
            mid, low, high = _median_interval(values)
            row.update({f"{name} median": mid, f"{name} q05": low, f"{name} q95": high})
        row["pairs"] = len(group)
        rows.append(row)
    table = pd.DataFrame(rows).set_index("metric")
    table.attrs["step"] = pairs.attrs.get("step")
    return table


def _unit(metric: str) -> str:
    try:
        return metric_declaration(metric).unit
    except KeyError:
        return ""


def _title(metric: str) -> str:
    unit = _unit(metric)
    return metric if unit in ("1", "") else f"{metric} ({unit})"


def plot_comparison(a: Side, b: Side, table: pd.DataFrame, out_dir: Path,
                    name: str = "compare") -> list[Path]:
    """Headline metrics of both sides over time and the relative differences at the table's
    step; writes ``out_dir/name.png`` and ``.svg``."""
    columns = next(iter(a.frames.values())).columns
    metrics = [m for m in FIGURE_METRICS if m in columns]
    fig, axes = new_figure(2, 4, width=15, height=7.2)
    labels = distinct_labels(a, b)
    over_draws = a.draws is not None
    flat = list(axes.flat)
    for ax, metric in zip(flat, metrics, strict=False):
        for side, colour, label in zip((a, b), SIDE_COLORS, labels, strict=True):
            band = bands(side, metric)
            ax.plot(band["date"], band["mean"], color=colour, label=label,
                    linestyle="-" if side is a else "--")
            if len(side.frames) > 1:
                ax.fill_between(band["date"], band["lo"], band["hi"], color=colour,
                                alpha=0.18, linewidth=0)
        ax.set_title(_title(metric), fontsize=9.5)
        # minticks 3: with the default 5, a 3-year run gets no interval and matplotlib warns
        ax.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=3, maxticks=7))
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
        ax.set_ylim(bottom=0)
        format_value_axis(ax, _unit(metric))
    flat[0].legend(fontsize=8, frameon=False, loc="best", title_fontsize=7.5,
                   title=(f"median and 90% interval\nover {len(a.draw_ids)} draws x "
                          f"{len(a.seeds)} seeds") if over_draws else None)
    _plot_changes(flat[len(metrics)], table)
    for ax in flat[len(metrics) + 1:]:
        ax.set_axis_off()
    seeds = ", ".join(map(str, a.seeds)) if a.seeds == b.seeds else (
        f"A {', '.join(map(str, a.seeds))}; B {', '.join(map(str, b.seeds))}")
    band = " Lines: mean over seeds; bands: min-max." if max(len(a.seeds), len(b.seeds)) > 1 \
        else ""
    if over_draws:
        files = a.draws if a.draws == b.draws else f"A {a.draws}; B {b.draws}"
        band = (f" Lines: median; bands: 90% interval over {len(a.draw_ids)} posterior draws "
                f"({files}) x {len(a.seeds)} seeds, the same draw and seed on both sides; "
                f"bars: paired difference.")
    note = (f"Source: pricewar model runs. {labels[0]} ({a.origin}); {labels[1]} ({b.origin}); "
            f"seeds {seeds}.{band}")
    fig.suptitle(f"{labels[0]} vs {labels[1]}", fontsize=11)
    return save_figure(fig, out_dir, name, note, top=0.95)


def _plot_changes(ax, table: pd.DataFrame) -> None:
    """Horizontal bars of ``B/A - 1`` in percent, with the seed band as error bars (over draws:
    the median paired relative difference and its 90% interval)."""
    over_draws = "B/A - 1 (%) median" in table.columns
    column = "B/A - 1 (%) median" if over_draws else "B/A - 1 (%)"
    rows = table.dropna(subset=[column])
    y = np.arange(len(rows))[::-1]
    change = rows[column].to_numpy()
    colours = [SIDE_COLORS[1] if c >= 0 else SIDE_COLORS[0] for c in change]
    ax.barh(y, change, color=colours, height=0.6)
    if over_draws:
        lo = rows["B/A - 1 (%) q05"].to_numpy()
        hi = rows["B/A - 1 (%) q95"].to_numpy()
        ax.errorbar(change, y, xerr=[change - lo, hi - change], fmt="none", ecolor="black",
                    elinewidth=0.8, capsize=2)
    elif rows["B - A min"].notna().any():
        base = rows["A"].to_numpy()
        lo = 100.0 * rows["B - A min"].to_numpy() / base
        hi = 100.0 * rows["B - A max"].to_numpy() / base
        ax.errorbar(change, y, xerr=[change - lo, hi - change], fmt="none", ecolor="black",
                    elinewidth=0.8, capsize=2)
    ax.axvline(0, color="black", linewidth=0.6)
    ax.set_yticks(y, rows.index, fontsize=7.5)
    ax.set_xlabel("B relative to A, % (paired)" if over_draws
                  else "B relative to A, %")
    ax.set_title(f"Difference at step {table.attrs.get('step', '')}", fontsize=9.5)
