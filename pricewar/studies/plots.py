"""Figures of the experiments (matplotlib): one region colour scheme, labelled axes with units,
and a source note under every figure.

Figures are :class:`matplotlib.figure.Figure` objects made without pyplot, so writing them needs
no GUI backend (and this module chooses none: it runs headless under any ``MPLBACKEND``).

Each ``plot_<experiment>`` function takes the tables computed by :mod:`pricewar.experiments`, draws
one figure and writes it as PNG and SVG; it returns the paths written.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.colors
import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from pricewar.studies.ticks import dollar_axis, plain_axis

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
#: cost components of the waterfall, bottom to top
COMPONENT_COLORS = {
    "energy_it": "#fdae61",
    "cooling": "#fee090",
    "hardware": "#4575b4",
    "opex": "#91bfdb",
    "margin": "#1a9850",
    "network": "#999999",
    "platform": "#d9d9d9",
}
COMPONENT_LABELS = {
    "energy_it": "energy (IT load)",
    "cooling": "cooling (PUE overhead)",
    "hardware": "hardware (GPU + facility capex)",
    "opex": "fixed opex",
    "margin": "producer margin",
    "network": "network (transfer)",
    "platform": "platform markup",
}
#: colours of series that are not regions (colour-blind safe, distinct from one another)
SERIES_COLORS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02")
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
# 1. cost waterfall
# ------------------------------------------------------------------------------------------------
def plot_cost_waterfall(table: pd.DataFrame, out_dir: Path, note: str,
                        name: str = "cost_waterfall") -> list[Path]:
    """Stacked unit-cost components and delivered price by region; one panel per date (rows) and
    export-control setting (columns). Panels side by side share their y-scale (they compare
    controls with parity at one date); rows differ, because prices fall many times over."""
    penalties = sorted(table["export_control_penalty"].unique(), reverse=True)
    dates = sorted(table["date"].unique())
    fig, axes = new_figure(len(dates), len(penalties), width=11, height=8.2, sharey="row")
    components = list(COMPONENT_COLORS)
    for row, date in enumerate(dates):
        for col, penalty in enumerate(penalties):
            ax = axes[row][col]
            part = table[(table["export_control_penalty"] == penalty) & (table["date"] == date)]
            x = np.arange(len(part))
            bottom = np.zeros(len(part))
            for component in components:
                values = part[component].to_numpy()
                # a negative margin (price below full cost) is drawn below zero
                base = np.where(values < 0, 0.0, bottom)
                ax.bar(x, values, bottom=base, color=COMPONENT_COLORS[component], width=0.62,
                       edgecolor="white", linewidth=0.5,
                       label=COMPONENT_LABELS[component] if row == col == 0 else None)
                bottom = bottom + np.maximum(values, 0.0)
            ax.scatter(x, part["delivered_price"], marker="_", s=500, color="black", zorder=3,
                       label="delivered price" if row == col == 0 else None)
            ax.plot(x, part["unit_cost"], linestyle="none", marker="o", markersize=4,
                    color="black", markerfacecolor="white", zorder=3,
                    label="full unit cost" if row == col == 0 else None)
            for xi, (_, r) in zip(x, part.iterrows(), strict=True):
                power = r["energy_it"] + r["cooling"]
                ax.annotate(f"power {100 * power / r['unit_cost']:.0f}%\nof cost",
                            (xi, r["delivered_price"]), textcoords="offset points",
                            xytext=(0, 4), ha="center", fontsize=6.5)
            ax.set_xticks(x)
            ax.set_xticklabels([region_label(r) for r in part["region"]])
            for tick, region in zip(ax.get_xticklabels(), part["region"], strict=True):
                tick.set_color(region_color(region))
            controls = ("export controls (penalty "
                        f"{penalty:g})" if penalty > 0 else "chip parity (penalty 0)")
            ax.set_title(f"{pd.Timestamp(date):%Y-%m}, {controls}", fontsize=9.5)
            if col == 0:
                ax.set_ylabel("USD per M tokens")
            dollar_axis(ax)
            ax.margins(y=0.18)
            ax.axhline(0, color="black", linewidth=0.6)
    fig.suptitle("Unit cost and price per M tokens by producer region (each row has its own "
                 "price scale)", y=0.99, fontsize=11)
    fig.legend(loc="upper center", ncol=5, fontsize=7.5, frameon=False,
               bbox_to_anchor=(0.5, 0.97))
    return save_figure(fig, out_dir, name, note, top=0.925)


# ------------------------------------------------------------------------------------------------
# 2. baseline price war
# ------------------------------------------------------------------------------------------------
def plot_price_war_baseline(series: pd.DataFrame, observed: pd.DataFrame, epoch: pd.DataFrame,
                            regions: list[str], out_dir: Path, note: str,
                            name: str = "price_war_baseline") -> list[Path]:
    """Price by region against observed list prices; throughput by region; Lerner and HHI."""
    fig, axes = new_figure(1, 3, width=15, height=5.2)
    ax_price, ax_volume, ax_power = axes[0]
    dates = pd.to_datetime(series["date"])
    for region in regions:
        _band(ax_price, dates, series, f"price_{region}", region_color(region),
              f"model, {region_label(region)}")
    _band(ax_price, dates, series, "price_avg", "black", "model, volume-weighted average",
          linestyle="--", linewidth=1.2)
    listed = observed[observed["blended_3to1"] > 0]
    for region, part in listed.groupby("region"):
        ax_price.scatter(pd.to_datetime(part["date"]), part["blended_3to1"], marker="o", s=22,
                         facecolors="none", edgecolors=region_color(region), linewidths=1.1,
                         label=f"API list price, {region_label(region)} vendors")
    ax_price.scatter(pd.to_datetime(epoch["Release Date"]), epoch["USD per 1M Tokens"],
                     marker="^", s=20, color="dimgrey", alpha=0.75,
                     label="Epoch AI: cheapest model ≥ GPT-4-0314 level\n"
                           "(MMLU, GPQA, HumanEval, Arena)")
    ax_price.set_yscale("log")
    dollar_axis(ax_price)
    ax_price.set_ylabel("price, USD per M tokens (blended 3:1 input:output; log)")
    ax_price.set_title("Price at fixed capability: model vs observed")
    ax_price.legend(fontsize=6.3, loc="upper right", frameon=True, framealpha=0.85)
    _date_axis(ax_price)

    for region in regions:
        _band(ax_volume, dates, series, f"throughput_{region}", region_color(region),
              region_label(region))
    ax_volume.set_yscale("log")
    ax_volume.set_ylabel("served volume, M tokens per week (log)")
    ax_volume.set_title("Throughput by producer region")
    ax_volume.legend(fontsize=8, frameon=False)
    _date_axis(ax_volume)

    _band(ax_power, dates, series, "lerner", "black", "Lerner index (P − MC)/P")
    ax_power.set_ylabel("Lerner index (volume-weighted)")
    ax_power.set_ylim(0, 1)
    twin = ax_power.twinx()
    _band(twin, dates, series, "hhi", "tab:purple", "HHI", linestyle="--")
    twin.set_ylabel("HHI of producer volume shares (0-1)", color="tab:purple")
    twin.set_ylim(0, max(0.1, 1.3 * float(series["hhi_hi"].max())))
    lines = ax_power.get_legend_handles_labels()
    more = twin.get_legend_handles_labels()
    ax_power.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, frameon=False,
                    loc="lower right")
    ax_power.set_title("Market power")
    _date_axis(ax_power)
    return save_figure(fig, out_dir, name, note)


# ------------------------------------------------------------------------------------------------
# 3. energy gap
# ------------------------------------------------------------------------------------------------
def plot_energy_gap(summary: pd.DataFrame, baseline_ratio: float, out_dir: Path, note: str,
                    name: str = "energy_gap") -> list[Path]:
    """cn_west share and average price vs the cn_west/us electricity price ratio."""
    fig, axes = new_figure(1, 2, width=12, height=5)
    ax_share, ax_price = axes[0]
    steps = sorted(summary["step"].unique())
    cases = [(penalty, step) for penalty in sorted(summary["export_control_penalty"].unique(),
                                                   reverse=True) for step in steps]
    for (penalty, step), color in zip(cases, SERIES_COLORS, strict=False):
        rows = summary[(summary["export_control_penalty"] == penalty)
                       & (summary["step"] == step)].sort_values("electricity_ratio")
        date = pd.Timestamp(rows["date"].iloc[0])
        controls = f"export controls (penalty {penalty:g})" if penalty > 0 else "chip parity"
        label = f"{controls}, {date:%b %Y}"
        for ax, column in ((ax_share, "share_cn_west"), (ax_price, "price_avg")):
            ax.plot(rows["electricity_ratio"], rows[f"{column}_mean"], color=color, label=label,
                    marker="o" if penalty > 0 else "s", markersize=3.5,
                    linestyle="-" if penalty > 0 else "--")
            ax.fill_between(rows["electricity_ratio"], rows[f"{column}_lo"],
                            rows[f"{column}_hi"], color=color, alpha=0.15, linewidth=0)
    # the price panel's top is taken by the 2024 lines; its middle is empty
    for ax, label_y in ((ax_share, 0.98), (ax_price, 0.6)):
        ax.axvline(baseline_ratio, color="grey", linewidth=0.8, linestyle=":")
        ax.annotate("baseline\n(0.052 / 0.081)", (baseline_ratio, label_y),
                    xycoords=("data", "axes fraction"), fontsize=7, ha="center", va="top",
                    backgroundcolor="white")
        ax.set_xlabel("CN-West / US grid electricity price (US fixed at 0.081 USD/kWh)")
    # one legend above both panels: inside, it would cover lines or the baseline label
    handles, labels = ax_share.get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(labels), fontsize=8,
               frameon=False, bbox_to_anchor=(0.5, 1.0))
    ax_share.set_ylabel("CN-West share of global served volume (0-1)")
    ax_share.set_title("Does cheap western power win volume?")
    ax_price.set_ylabel("volume-weighted average price, USD per M tokens (log)")
    ax_price.set_yscale("log")
    dollar_axis(ax_price)
    ax_price.set_title("Average price")
    return save_figure(fig, out_dir, name, note, top=0.93)


# ------------------------------------------------------------------------------------------------
# 4. export controls
# ------------------------------------------------------------------------------------------------
def plot_export_controls(summary: pd.DataFrame, matches: dict, out_dir: Path, note: str,
                         name: str = "export_controls") -> list[Path]:
    """Heatmaps over export-control penalty x cn_west electricity price, one row per date
    (``matches``: step -> penalty -> electricity price matching the parity share, or None)."""
    penalties = sorted(summary["export_control_penalty"].unique())
    prices = sorted(summary["electricity_cn_west"].unique())
    steps = sorted(summary["step"].unique())
    fig, axes = new_figure(len(steps), 2, width=12.5, height=4.6 * len(steps))
    panels = (
        ("share_cn_west_mean", "CN-West share of global served volume", "Reds", "{:.3f}"),
        ("cn_us_cost_ratio_mean", "CN full unit cost / US full unit cost", "RdBu_r", "{:.2f}"),
    )
    for row, step in enumerate(steps):
        at_step = summary[summary["step"] == step]
        date = pd.Timestamp(at_step["date"].iloc[0])
        for ax, (column, title, cmap, fmt) in zip(axes[row], panels, strict=True):
            grid = at_step.pivot_table(index="export_control_penalty",
                                       columns="electricity_cn_west", values=column
                                       ).reindex(index=penalties, columns=prices)
            values = grid.to_numpy()
            if column.startswith("cn_us"):
                # log colour scale centred on cost parity
                span = max(abs(np.log(np.nanmax(values))), abs(np.log(np.nanmin(values))), 0.05)
                image = ax.imshow(values, cmap=cmap, origin="lower", aspect="auto",
                                  norm=matplotlib.colors.LogNorm(np.exp(-span), np.exp(span)))
            else:
                image = ax.imshow(values, cmap=cmap, origin="lower", aspect="auto")
            for (i, j), v in np.ndenumerate(values):
                ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=7)
            ax.set_xticks(range(len(prices)))
            ax.set_xticklabels([f"{p:g}" for p in prices])
            ax.set_yticks(range(len(penalties)))
            ax.set_yticklabels([f"{p:g}" for p in penalties])
            ax.set_xlabel("CN-West grid electricity price, USD/kWh")
            ax.set_ylabel("export-control penalty on CN chips (0 = parity)")
            ax.set_title(f"{title}, {date:%Y-%m}", fontsize=10)
            fig.colorbar(image, ax=ax, shrink=0.85)
        # where cheap power restores the parity share
        xs, ys = [], []
        for i, penalty in enumerate(penalties):
            price = matches.get(step, {}).get(penalty)
            if price is not None:
                xs.append(np.interp(price, prices, range(len(prices))))
                ys.append(i)
        if xs:
            # in the cell's upper-right corner, off its number; explained under the x axis, where
            # a legend would not hide cells
            axes[row][0].plot(np.add(xs, 0.36), np.add(ys, 0.3), color="black", marker="*",
                              markersize=8, linestyle="none")
            axes[row][0].set_xlabel("CN-West grid electricity price, USD/kWh\n"
                                    "\u2605 price that matches the parity share (absent: never)",
                                    fontsize=9)
    return save_figure(fig, out_dir, name, note)


# ------------------------------------------------------------------------------------------------
# 5. latency division of labour
# ------------------------------------------------------------------------------------------------
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
        ax_bar.barh(y, values, left=left, color=region_color(region),
                    label=f"served from {region_label(region)}")
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
def plot_price_cut_cascade(summary: pd.DataFrame, strategies: list[str], out_dir: Path,
                           note: str, name: str = "price_cut_cascade") -> list[Path]:
    """Followers' price relative to the no-cut counterfactual over event time, per strategy."""
    fig, axes = new_figure(1, len(strategies), width=3.6 * len(strategies), height=4.8,
                           sharey=True)
    roles = [("cutter", "black", "cutter (largest CN-East)")] + [
        (r, region_color(r), f"{region_label(r)} rivals") for r in ("cn_east", "cn_west", "us",
                                                                      "eu")]
    for ax, strategy in zip(axes[0], strategies, strict=True):
        part = summary[summary["strategy"] == strategy]
        for role, color, label in roles:
            rows = part[part["role"] == role].sort_values("event_time")
            if rows.empty:
                continue
            extra = float(rows["exits_extra"].iloc[-1])
            if role != "cutter" and extra != 0:
                label = f"{label} ({extra:+.3g} exits vs no cut)"
            ax.plot(rows["event_time"], rows["price_ratio_median"], color=color, label=label,
                    linestyle="--" if role == "cutter" else "-")
            if role != "cutter":
                ax.fill_between(rows["event_time"], rows["price_ratio_q25"],
                                rows["price_ratio_q75"], color=color, alpha=0.15, linewidth=0)
        ax.legend(fontsize=6.5, frameon=False, loc="lower left")
        ax.axvline(0, color="grey", linewidth=0.8)
        ax.axhline(1, color="grey", linewidth=0.6, linestyle=":")
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.set_title(f"strategy: {strategy}", fontsize=10)
        ax.set_xlabel("weeks since the cut (2024-05-20)")
    axes[0][0].set_ylabel("posted price / same-seed no-cut run (median, IQR; log)")
    return save_figure(fig, out_dir, name, note)


# ------------------------------------------------------------------------------------------------
# 7. green curtailment
# ------------------------------------------------------------------------------------------------
def plot_green_curtailment(summary: pd.DataFrame, carbon_kg_per_kwh: float, out_dir: Path,
                           note: str, name: str = "green_curtailment") -> list[Path]:
    """Absorbed curtailed energy, avoided emissions and cn_west batch share vs the green cap."""
    fig, axes = new_figure(1, 2, width=12.5, height=5)
    ax_energy, ax_share = axes[0]
    x = summary["green_cap_gwh_per_week"]
    _band(ax_energy, x, summary, "absorbed_gwh_total", REGION_COLORS["cn_west"],
          "curtailed energy absorbed", marker="o", markersize=3.5)
    _band(ax_energy, x, summary, "potential_gwh_total", "grey",
          "green supply offered (cap × weeks)", linestyle=":")
    ax_energy.set_xscale("symlog", linthresh=0.5)
    ax_energy.set_yscale("log")
    plain_axis(ax_energy, "x")
    plain_axis(ax_energy, "y")
    ax_energy.set_xlabel("CN-West direct green supply cap, GWh per week (symlog)")
    # avoided emissions are the absorbed energy times the CN-West grid carbon intensity
    ax_energy.set_ylabel(f"energy over the run, GWh (log); × {carbon_kg_per_kwh:g} = kt CO₂ "
                         "avoided")
    ax_energy.legend(fontsize=7.5, frameon=False, loc="upper left")
    ax_energy.set_title("Curtailed western power absorbed by flexible load")

    _band(ax_share, x, summary, "batch_share_cn_west", REGION_COLORS["cn_west"],
          "CN-West share of global batch volume", marker="o", markersize=3.5)
    _band(ax_share, x, summary, "share_cn_west", "#404040", "CN-West share of all volume",
          linestyle="--")
    _band(ax_share, x, summary, "green_share_cn_west", "#1a9850",
          "green share of CN-West energy", linestyle=":")
    ax_share.set_xscale("symlog", linthresh=0.5)
    plain_axis(ax_share, "x")
    ax_share.set_xlabel("CN-West direct green supply cap, GWh per week (symlog)")
    ax_share.set_ylabel("share at the last step (0-1)")
    ax_share.set_ylim(0, 1)
    ax_share.legend(fontsize=7.5, frameon=False)
    ax_share.set_title("Does green supply pull batch work west?")
    return save_figure(fig, out_dir, name, note)
