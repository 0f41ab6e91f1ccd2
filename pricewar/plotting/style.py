"""Figures of the experiments (matplotlib): one region colour scheme, labelled axes with units,
and a source note under every figure.

Figures are :class:`matplotlib.figure.Figure` objects made without pyplot, so writing them needs
no GUI backend (and this module chooses none: it runs headless under any ``MPLBACKEND``).

Each ``plot_<experiment>`` function takes the tables computed by the experiment, draws one figure
and writes it as PNG and SVG; it returns the paths written. The figures of the CN/US gap
experiments (cost waterfall, energy gap, export controls, baseline) are in
:mod:`pricewar.studies.gap_plots`.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.colors
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from pricewar.plotting.ticks import plain_axis

#: one colour per region, used by every figure and the browser app (pricewar.viz)
REGION_COLORS = {
    "cn_west": "#b2182b",
    "cn_east": "#ef8a62",
    "us": "#2166ac",
    "eu": "#1b7837",
    "global_south": "#762a83",
}
REGION_LABELS = {
    "cn_west": "CN-West",
    "cn_east": "CN-East",
    "us": "US",
    "eu": "EU",
    "global_south": "Global South",
}
SECTOR_STYLES = {
    "batch": ("#1b9e77", "o"),
    "chat": ("#7570b3", "s"),
    "coding": ("#e7298a", "^"),
    "realtime": ("#d95f02", "D"),
    "industrial_control": ("#66a61e", "v"),
}


def region_color(region: str) -> str:
    """The colour of a region (a stable fallback for regions added later)."""
    if region in REGION_COLORS:
        return REGION_COLORS[region]
    palette = list(matplotlib.colors.TABLEAU_COLORS.values())
    return palette[sum(map(ord, region)) % len(palette)]


def region_label(region: str) -> str:
    return REGION_LABELS.get(region, region)


def new_figure(nrows: int = 1, ncols: int = 1, width: float = 7.5, height: float = 4.8,
               **kwargs):
    """A figure and its axes (``squeeze=False``: axes is always 2-D); ``kwargs`` go to
    :meth:`~matplotlib.figure.Figure.subplots` (``sharex``, ``sharey``, ...)."""
    fig = Figure(figsize=(width, height))
    return fig, fig.subplots(nrows, ncols, squeeze=False, **kwargs)


def save_figure(fig, out_dir: Path, name: str, note: str, top: float = 1.0) -> list[Path]:
    """Put ``note`` under the figure and write ``out_dir/name.png`` and ``.svg`` (``top``: the
    fraction of the figure height left to the axes, below a figure-level title or legend)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fig.text(0.01, 0.005, note, fontsize=7, color="dimgrey", ha="left", va="bottom", wrap=True)
    fig.tight_layout(rect=(0, 0.06, 1, top))
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.svg"]
    fig.savefig(paths[0], dpi=150)
    fig.savefig(paths[1], metadata={"Date": None})
    return paths


def _date_axis(ax) -> None:
    ax.xaxis.set_major_locator(mdates.YearLocator())
    ax.xaxis.set_minor_locator(mdates.MonthLocator(bymonth=(4, 7, 10)))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    ax.set_xlabel("date")


def _band(ax, x, table: pd.DataFrame, column: str, color: str, label: str, **kwargs) -> None:
    """Mean line and min-max band over seeds (columns ``<column>_mean/_lo/_hi``)."""
    ax.plot(x, table[f"{column}_mean"], color=color, label=label, **kwargs)
    if f"{column}_lo" in table:
        ax.fill_between(x, table[f"{column}_lo"], table[f"{column}_hi"], color=color,
                        alpha=0.15, linewidth=0)


# ------------------------------------------------------------------------------------------------
# 5. latency division of labour
# ------------------------------------------------------------------------------------------------
#: the narrowest share of a row a bar of the latency composition shows at the figure's size
VISIBLE_SHARE = 0.005


def plot_latency_division(summary: pd.DataFrame, composition: pd.DataFrame,
                          baseline_latency: float, out_dir: Path, note: str,
                          name: str = "latency_division") -> list[Path]:
    """cn_west share of CN consumers' volume by sector vs hub latency; composition at baseline."""
    fig, axes = new_figure(1, 2, width=13.5, height=5)
    ax_line, ax_bar = axes[0]
    for sector, part in summary.groupby("sector"):
        color, marker = SECTOR_STYLES.get(sector, ("black", "."))
        part = part.sort_values("hub_latency_ms")
        ax_line.plot(part["hub_latency_ms"], part["share_mean"], marker=marker, color=color,
                     label=sector.replace("_", " "))
        ax_line.fill_between(part["hub_latency_ms"], part["share_lo"], part["share_hi"],
                             color=color, alpha=0.15, linewidth=0)
    ax_line.axvline(baseline_latency, color="grey", linestyle=":", linewidth=0.8)
    ax_line.annotate("baseline", (baseline_latency, 0.98), xycoords=("data", "axes fraction"),
                     fontsize=7, ha="left", va="top")
    ax_line.set_xlabel("CN-West ↔ CN-East round-trip latency, ms")
    ax_line.set_ylabel("CN-East consumers' volume served from CN-West (0-1)")
    ax_line.set_ylim(-0.02, 1.02)
    ax_line.set_title("Which eastern Chinese work runs in the west?")
    ax_line.legend(fontsize=8, frameon=False)

    labels = [f"{region_label(c)}: {s.replace('_', ' ')}" for c, s in composition.index]
    y = np.arange(len(labels))[::-1]
    left = np.zeros(len(labels))
    for region in composition.columns:
        values = composition[region].to_numpy()
        # a region whose bars are too thin to see says so: its colour is in the legend only
        top = float(values.max())
        seen = "" if top >= VISIBLE_SHARE else " (none)" if top == 0 else f" (at most {top:.1%})"
        ax_bar.barh(y, values, left=left, color=region_color(region),
                    label=f"served from {region_label(region)}{seen}")
        left += values
    ax_bar.set_yticks(y)
    ax_bar.set_yticklabels(labels, fontsize=8)
    ax_bar.set_xlim(0, 1)
    ax_bar.set_xlabel("share of the consumers' served volume by producer region (0-1)")
    ax_bar.set_title(f"Who serves Chinese consumers (hub latency {baseline_latency:g} ms)")
    ax_bar.legend(fontsize=7.5, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    return save_figure(fig, out_dir, name, note)


# ------------------------------------------------------------------------------------------------
# 6. price-cut cascade
# ------------------------------------------------------------------------------------------------
def exits_text(extra_mean: float, n_seeds: int) -> str:
    """Extra exits in the cut runs over the no-cut runs, summed over the ``n_seeds`` seeds (the
    mean times the seeds: a whole number of producers), in words: "1 more exit", "2 fewer
    exits", "no change"."""
    total = int(round(extra_mean * n_seeds))
    if total == 0:
        return "no change"
    noun = "exit" if abs(total) == 1 else "exits"
    return f"{abs(total)} {'more' if total > 0 else 'fewer'} {noun}"


def plot_price_cut_cascade(summary: pd.DataFrame, strategies: list[str], out_dir: Path,
                           note: str, n_seeds: int,
                           name: str = "price_cut_cascade") -> list[Path]:
    """Followers' price relative to the no-cut counterfactual over event time, per strategy;
    under each panel, the rivals' extra exits by the last week, summed over the ``n_seeds``
    seeds. One legend above the panels."""
    fig, axes = new_figure(1, len(strategies), width=3.6 * len(strategies), height=4.8,
                           sharey=True)
    roles = [("cutter", "black", "cutter (largest CN-East)")] + [
        (r, region_color(r), f"{region_label(r)} rivals") for r in ("cn_east", "cn_west", "us",
                                                                      "eu")]
    for ax, strategy in zip(axes[0], strategies, strict=True):
        part = summary[summary["strategy"] == strategy]
        exits = []
        for role, color, label in roles:
            rows = part[part["role"] == role].sort_values("event_time")
            if rows.empty:
                continue
            extra = float(rows["exits_extra"].iloc[-1])
            if role != "cutter" and extra != 0:
                exits.append(f"{label}: {exits_text(extra, n_seeds)}")
            ax.plot(rows["event_time"], rows["price_ratio_median"], color=color, label=label,
                    linestyle="--" if role == "cutter" else "-")
            if role != "cutter":
                ax.fill_between(rows["event_time"], rows["price_ratio_q25"],
                                rows["price_ratio_q75"], color=color, alpha=0.15, linewidth=0)
        ax.axvline(0, color="grey", linewidth=0.8)
        ax.axhline(1, color="grey", linewidth=0.6, linestyle=":")
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_title(f"strategy: {strategy.replace('_', ' ')}", fontsize=10)
        ax.set_xlabel("weeks since the cut (2024-05-20)")
        seeds = "1 seed" if n_seeds == 1 else f"{n_seeds} seeds summed"
        ax.text(0.5, -0.2, f"rivals' exits by the end, cut vs no cut ({seeds}):\n"
                + ("\n".join(exits) if exits else "no change"),
                transform=ax.transAxes, ha="center", va="top", fontsize=7.5)
    axes[0][0].set_ylabel("posted price / same-seed no-cut run\n(median, IQR; log)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, frameon=False, ncol=len(labels),
               loc="upper center", bbox_to_anchor=(0.5, 1.0))
    return save_figure(fig, out_dir, name, note, top=0.94)


# ------------------------------------------------------------------------------------------------
# 7. green curtailment
# ------------------------------------------------------------------------------------------------
def plot_green_curtailment(summary: pd.DataFrame, carbon_kg_per_kwh: float, out_dir: Path,
                           note: str, name: str = "green_curtailment") -> list[Path]:
    """Absorbed curtailed energy, avoided emissions and cn_west batch share vs the green cap.

    The energy panel is on a log axis: zero energies (no green supply at cap 0) are left out
    rather than drawn as a drop to the axis; the green share of CN-West energy is far below the
    other shares, so its legend entry states its largest value."""
    fig, axes = new_figure(1, 2, width=12.5, height=5)
    ax_energy, ax_share = axes[0]
    x = summary["green_cap_gwh_per_week"]
    energy_columns = [c for c in summary
                      if c.startswith(("absorbed_gwh_total_", "potential_gwh_total_"))]
    positive = summary.assign(**{c: summary[c].where(summary[c] > 0) for c in energy_columns})
    _band(ax_energy, x, positive, "absorbed_gwh_total", REGION_COLORS["cn_west"],
          f"curtailed energy absorbed (GWh × {carbon_kg_per_kwh:g} = kt CO₂ avoided)",
          marker="o", markersize=3.5)
    _band(ax_energy, x, positive, "potential_gwh_total", "grey",
          "green supply offered (cap × weeks)", linestyle=":")
    ax_energy.set_xscale("symlog", linthresh=0.5)
    ax_energy.set_yscale("log")
    plain_axis(ax_energy, "x")
    plain_axis(ax_energy, "y")
    ax_energy.set_xlabel("CN-West direct green supply cap, GWh per week (symlog)")
    ax_energy.set_ylabel("energy over the run, GWh (log scale; 0 not drawn)")
    ax_energy.legend(fontsize=7.5, frameon=False, loc="upper left")
    ax_energy.set_title("Curtailed western power absorbed by flexible load")

    _band(ax_share, x, summary, "batch_share_cn_west", REGION_COLORS["cn_west"],
          "CN-West share of global batch volume", marker="o", markersize=3.5)
    _band(ax_share, x, summary, "share_cn_west", "#404040", "CN-West share of all volume",
          linestyle="--")
    green_top = float(summary["green_share_cn_west_mean"].max())
    _band(ax_share, x, summary, "green_share_cn_west", "#1a9850",
          f"green share of CN-West energy (at most {green_top:.2%})", linestyle=":")
    ax_share.set_xscale("symlog", linthresh=0.5)
    plain_axis(ax_share, "x")
    ax_share.set_xlabel("CN-West direct green supply cap, GWh per week (symlog)")
    ax_share.set_ylabel("share at the last step (0-1)")
    ax_share.set_ylim(0, 1)
    ax_share.legend(fontsize=7.5, frameon=False)
    ax_share.set_title("Does green supply pull batch work west?")
    return save_figure(fig, out_dir, name, note)
