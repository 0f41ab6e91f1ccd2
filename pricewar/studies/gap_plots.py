"""Figures of the CN/US gap experiments: the cost waterfall, the energy gap, export controls and
the baseline's tier prices against observed list prices (style of :mod:`pricewar.plotting.style`).

Driver contributions are drawn on a log axis of the factor they multiply the CN/US ratio by
(``exp`` of the log contribution), so bars of the five drivers add up to the total.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.colors
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter, MaxNLocator

from pricewar.plotting.style import (
    REGION_COLORS,
    _date_axis,
    new_figure,
    region_color,
    region_label,
    save_figure,
)
from pricewar.plotting.ticks import dollar_axis, ratio_axis
from pricewar.studies.regional_gap import DRIVER_LABELS, DRIVERS

DRIVER_COLORS = {"chip": "#4575b4", "family": "#d73027", "power": "#fdae61",
                 "host": "#91bfdb", "margin": "#1a9850"}
COMPONENT_COLORS = {"energy_it": "#fdae61", "cooling": "#fee090", "capacity": "#4575b4",
                    "opex": "#91bfdb", "margin": "#1a9850", "network": "#999999",
                    "platform": "#d9d9d9"}
COMPONENT_LABELS = {"energy_it": "energy (IT load)", "cooling": "cooling (PUE overhead)",
                    "capacity": "GPU time (rental index)", "opex": "variable opex",
                    "margin": "host margin", "network": "network transfer",
                    "platform": "platform markup"}
FACTOR_TICKS = (1 / 16, 1 / 8, 1 / 4, 1 / 2, 1, 2, 4, 8, 16)


def tier_labels(catalogue, tiers, short: bool = False) -> dict[str, str]:
    """Readable names of capability tiers from the catalogue's labels: "GPT-3.5 Turbo level on
    MMLU", "DeepSeek-R1 level on GPQA Diamond (extension rung)" (the project's rungs above
    Epoch AI's ladder); ``short``: "GPT-3.5 Turbo level"."""
    out = {}
    for tier in tiers:
        label = catalogue.tiers[tier].label
        out[tier] = (label.split(" on ")[0] if short else label.replace(
            " [extension rung, not an Epoch threshold]", " (extension rung)"))
    return out


def _factor_axis(ax, values: np.ndarray, axis: str = "x", cover: bool = False) -> None:
    """Ticks of a log-contribution axis labelled as multiplicative factors (x0.5, x2, ...);
    ``cover``: the axis reaches the next tick beyond the largest value, so every value is read
    between two ticks (x3.25 under a top tick of x2 had to be extrapolated)."""
    span = max(float(np.nanmax(np.abs(values))) if np.size(values) else 0.0, np.log(2.0)) * 1.15
    if cover:
        span = max(span, min((abs(np.log(t)) for t in FACTOR_TICKS
                              if abs(np.log(t)) >= span / 1.15), default=span) * 1.05)
    ticks = [t for t in FACTOR_TICKS if abs(np.log(t)) <= span]
    labels = [f"×{t:g}" if t >= 1 else f"×1/{1 / t:g}" for t in ticks]
    if axis == "x":
        ax.set_xlim(-span, span)
        ax.set_xticks(np.log(ticks), labels)
        ax.axvline(0, color="black", linewidth=0.7)
    else:
        ax.set_ylim(-span, span)
        ax.set_yticks(np.log(ticks), labels)
        ax.axhline(0, color="black", linewidth=0.7)


def _driver_bars(ax, positions: np.ndarray, parts: pd.DataFrame, total: np.ndarray,
                 horizontal: bool, legend: bool,
                 total_band: tuple[np.ndarray, np.ndarray] | None = None) -> None:
    """Side-by-side bars of the drivers' log contributions and a marker for their sum (with
    whiskers from ``total_band[0]`` to ``total_band[1]`` when given)."""
    width = 0.8 / len(DRIVERS)
    for k, driver in enumerate(DRIVERS):
        offset = positions - 0.4 + width * (k + 0.5)
        values = parts[f"log_{driver}"].to_numpy()
        draw = ax.barh if horizontal else ax.bar
        draw(offset, values, width * 0.95, color=DRIVER_COLORS[driver],
             label=DRIVER_LABELS[driver] if legend else None)
    if horizontal:
        ax.scatter(total, positions, marker="D", color="black", zorder=3, s=28,
                   label="total: CN/US price ratio" if legend else None)
    else:
        ax.scatter(positions, total, marker="D", color="black", zorder=3, s=28,
                   label="total: CN/US price ratio" if legend else None)
    if total_band is not None:
        low, high = total_band
        spread = [total - low, high - total]
        if horizontal:
            ax.errorbar(total, positions, xerr=spread, fmt="none", ecolor="black",
                        elinewidth=0.8, capsize=2, zorder=3)
        else:
            ax.errorbar(positions, total, yerr=spread, fmt="none", ecolor="black",
                        elinewidth=0.8, capsize=2, zorder=3)


# ------------------------------------------------------------------------------------------------
# cost waterfall
# ------------------------------------------------------------------------------------------------
def plot_cost_waterfall(table: pd.DataFrame, regions: pd.DataFrame, out_dir: Path, note: str,
                        name: str = "cost_waterfall",
                        labels: dict[str, str] | None = None) -> list[Path]:
    """Left: per tier (named by ``labels[tier]``) at the last step, the CN/US price ratio split
    into drivers (mean of the seeds' log parts). Right: price = marginal cost components +
    margin by region. Both legends sit outside the data."""
    labels = labels or {}
    fig, axes = new_figure(1, 2, width=14, height=5.6)
    ax_gap, ax_cost = axes[0]
    last = table[(table["scope"] == "all_hosts") & (table["step"] == table["step"].max())]
    columns = ["log_ratio", *[f"log_{d}" for d in DRIVERS]]
    means = last.groupby("tier", sort=False)[columns].mean()
    spread = last.groupby("tier", sort=False)["ratio"].agg(["min", "max"])
    y = np.arange(len(means))[::-1]
    _driver_bars(ax_gap, y, means, means["log_ratio"].to_numpy(), horizontal=True, legend=True)
    ax_gap.set_yticks(y, [f"{labels.get(tier, tier)}\nCN/US ×{np.exp(r):.2f} "
                          f"(seeds {spread.loc[tier, 'min']:.2f}–{spread.loc[tier, 'max']:.2f})"
                          for tier, r in means["log_ratio"].items()], fontsize=7.5)
    _factor_axis(ax_gap, means.to_numpy())
    ax_gap.set_xlabel("factor by which each driver multiplies the CN/US price ratio (log scale)")
    date = pd.Timestamp(last["date"].iloc[0]) if len(last) else None
    ax_gap.set_title(f"What drives the CN/US price ratio at equal capability, "
                     f"{date:%Y-%m}" if date is not None else "CN/US price ratio", fontsize=10)
    ax_gap.legend(fontsize=7, frameon=False, loc="upper center", bbox_to_anchor=(0.5, -0.13),
                  ncol=3)

    mean_regions = regions.groupby("region", sort=False).mean(numeric_only=True)
    x = np.arange(len(mean_regions))
    bottom = np.zeros(len(mean_regions))
    for component, color in COMPONENT_COLORS.items():
        values = mean_regions[component].to_numpy()
        base = np.where(values < 0, 0.0, bottom)
        ax_cost.bar(x, values, bottom=base, color=color, width=0.62, edgecolor="white",
                    linewidth=0.5, label=COMPONENT_LABELS[component])
        bottom = bottom + np.maximum(values, 0.0)
    ax_cost.scatter(x, mean_regions["delivered_price"], marker="_", s=500, color="black",
                    zorder=3, label="delivered price")
    ax_cost.plot(x, mean_regions["unit_cost"], linestyle="none", marker="o", markersize=4,
                 color="black", markerfacecolor="white", zorder=3,
                 label="full cost of new capacity")
    for xi, (_, r) in zip(x, mean_regions.iterrows(), strict=True):
        power = r["energy_it"] + r["cooling"]
        ax_cost.annotate(f"power {100 * power / r['marginal_cost']:.0f}%\nof marginal cost",
                         (xi, r["delivered_price"]), textcoords="offset points", xytext=(0, 4),
                         ha="center", fontsize=6.5)
    ax_cost.set_xticks(x, [region_label(r) for r in mean_regions.index])
    for tick, region in zip(ax_cost.get_xticklabels(), mean_regions.index, strict=True):
        tick.set_color(region_color(region))
    ax_cost.set_ylabel("USD per M tokens (served-weighted over the region's products)")
    dollar_axis(ax_cost)
    ax_cost.set_title("Price = marginal cost + margin, by host region", fontsize=10)
    ax_cost.margins(y=0.2)
    ax_cost.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return save_figure(fig, out_dir, name, note)


# ------------------------------------------------------------------------------------------------
# energy gap
# ------------------------------------------------------------------------------------------------
def plot_energy_gap(summary: pd.DataFrame, baseline_ratio: float, us_price: float,
                    out_dir: Path, note: str, name: str = "energy_gap",
                    band: tuple[str, str, str] = ("mean", "lo", "hi"),
                    legend_title: str | None = None) -> list[Path]:
    """CN-West share, the pooled CN/US price ratio and its power factor vs the CN-West/US
    electricity price ratio, per chip regime and date (line ``<column>_<band[0]>``, band
    between ``_<band[1]>`` and ``_<band[2]>``, said by ``legend_title``). The ratios are plain
    numbers (no dollar sign); the power factor is on a linear axis spanning at least
    :data:`POWER_FACTOR_MIN_SPAN` around 1, so a 1% change looks like 1%."""
    fig, axes = new_figure(1, 3, width=15, height=4.8)
    steps = sorted(summary["step"].unique())
    styles = {"historical": "-", "no_controls": "--"}
    panels = (("share_cn_west", "CN-West share of global served volume (0-1)",
               "Does cheap western power win volume?"),
              ("gap_ratio", "CN/US price ratio at equal tier (tiers pooled; log)",
               "CN/US price ratio"),
              ("gap_log_power", "power factor in the CN/US ratio (×; 1 = no effect)",
               "Power's part of the ratio"))
    for (regime, step), part in summary.groupby(["chip_regime", "step"]):
        part = part.sort_values("electricity_ratio")
        shade = 0.45 + 0.55 * steps.index(step) / max(1, len(steps) - 1)
        date = pd.Timestamp(part["date"].iloc[0])
        color = matplotlib.colors.to_rgba(REGION_COLORS["cn_west"], shade)
        for ax, (column, _, _) in zip(axes[0], panels, strict=True):
            values = part[f"{column}_{band[0]}"].to_numpy()
            lo = part[f"{column}_{band[1]}"].to_numpy()
            hi = part[f"{column}_{band[2]}"].to_numpy()
            if column == "gap_log_power":
                values, lo, hi = np.exp(values), np.exp(lo), np.exp(hi)
            ax.plot(part["electricity_ratio"], values, marker="o", markersize=3.5,
                    linestyle=styles.get(regime, ":"), color=color,
                    label=f"{regime.replace('_', ' ')} chips, {date:%Y-%m}")
            ax.fill_between(part["electricity_ratio"], lo, hi, color=color, alpha=0.15,
                            linewidth=0)
    for ax, (column, ylabel, title) in zip(axes[0], panels, strict=True):
        ax.axvline(baseline_ratio, color="grey", linewidth=0.8, linestyle=":")
        ax.set_xlabel(f"CN-West / US grid electricity price (US {us_price:g} USD/kWh;\n"
                      f"dotted: baseline, CN-West {baseline_ratio * us_price:.3f} USD/kWh)")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        if column == "gap_ratio":
            ax.set_yscale("log")
            ratio_axis(ax)
        elif column == "gap_log_power":
            _power_factor_limits(ax, np.exp(summary[[f"gap_log_power_{band[1]}",
                                                     f"gap_log_power_{band[2]}"]].to_numpy()))
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, frameon=False, ncol=len(labels),
               loc="upper center", bbox_to_anchor=(0.5, 1.0),
               **({"title": legend_title, "title_fontsize": 8} if legend_title else {}))
    return save_figure(fig, out_dir, name, note, top=0.89 if legend_title else 0.93)


#: the power-factor axis spans at least this much around 1 (0.95-1.05)
POWER_FACTOR_MIN_SPAN = 0.05


def _power_factor_limits(ax, values: np.ndarray) -> None:
    """A linear factor axis around 1: at least ±:data:`POWER_FACTOR_MIN_SPAN`, ticks labelled
    ×0.98, ×1, ×1.02, ..."""
    reach = max(POWER_FACTOR_MIN_SPAN, float(np.nanmax(np.abs(values - 1.0))) * 1.2)
    ax.set_ylim(1 - reach, 1 + reach)
    ax.axhline(1, color="grey", linewidth=0.6)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=7, steps=(1, 2, 2.5, 5, 10)))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"×{v:.3g}"))


# ------------------------------------------------------------------------------------------------
# export controls
# ------------------------------------------------------------------------------------------------
def plot_export_controls(means: pd.DataFrame, out_dir: Path, note: str,
                         name: str = "export_controls",
                         legend_title: str | None = None) -> list[Path]:
    """The CN/US price ratio split into drivers under the penalty alone, the lag alone, both,
    and the chip regimes (last observed step), with the CN share of volume; whiskers on the
    total from ``gap_log_ratio_q05`` to ``_q95`` when ``means`` has them (runs over draws,
    said by ``legend_title``)."""
    band = "gap_log_ratio_q05" in means.columns
    last = means[means["step"] == means["step"].max()]
    groups = (
        ("penalty", "export-control penalty (lag 0)",
         lambda r: f"{r['export_control_penalty']:g}"),
        ("lag", "availability lag, years (penalty 0)",
         lambda r: f"{r['export_control_lag_years']:g}"),
        ("regime", "chip regime (no penalty, no lag)",
         lambda r: r["chip_regime"].replace("_", " ")),
    )
    base = last[(last["chip_regime"] == "historical") & (last["export_control_penalty"] == 0)
                & (last["export_control_lag_years"] == 0)]
    both = last[last["design"] == "both"]
    fig, axes = new_figure(1, 3, width=15, height=5.2, sharey=True)
    values = last[[f"gap_log_{d}" for d in DRIVERS]].to_numpy()
    for ax, (design, xlabel, label) in zip(axes[0], groups, strict=True):
        rows = pd.concat([base, last[last["design"] == design]]) if design != "penalty" else (
            last[last["design"] == "penalty"])
        if design == "lag":
            rows = pd.concat([rows, both])
        if design == "regime":
            rows = rows.assign(order=rows["chip_regime"].map(
                {"no_controls": 0, "historical": 1, "full_ban": 2})).sort_values("order")
        x = np.arange(len(rows))
        parts = rows.rename(columns={f"gap_log_{d}": f"log_{d}" for d in DRIVERS})
        _driver_bars(ax, x, parts, rows["gap_log_ratio"].to_numpy(), horizontal=False,
                     legend=design == "penalty",
                     total_band=(rows["gap_log_ratio_q05"].to_numpy(),
                                 rows["gap_log_ratio_q95"].to_numpy()) if band else None)
        ticks = [label(r) for _, r in rows.iterrows()]
        if design == "lag" and len(both):
            ticks[-1] = "2 + penalty 0.5"
        # the share in percent: 0.4% is not "0.00" next to a price ratio
        ax.set_xticks(x, [f"{t}\nCN/US ×{r:.2f}\nCN share {s:.1%}" for t, r, s in zip(
            ticks, rows["gap_ratio"], rows["share_cn"], strict=True)], fontsize=7.5)
        ax.set_xlabel(xlabel)
        totals = last[["gap_log_ratio", "gap_log_ratio_q05", "gap_log_ratio_q95"]
                      if band else ["gap_log_ratio"]].to_numpy().ravel()
        _factor_axis(ax, np.append(values, totals), axis="y", cover=True)
    axes[0][0].set_ylabel("factor in the CN/US price ratio at equal tier (log scale)")
    date = pd.Timestamp(last["date"].iloc[0])
    fig.suptitle(f"Export controls: what each lever does to the CN/US price ratio, {date:%Y-%m}",
                 fontsize=11)
    # under the title, off the panels: inside the first panel it sat over its bars
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, frameon=False, ncol=len(labels),
               loc="upper center", bbox_to_anchor=(0.5, 0.955),
               **({"title": legend_title, "title_fontsize": 8} if legend_title else {}))
    return save_figure(fig, out_dir, name, note, top=0.86 if legend_title else 0.9)


# ------------------------------------------------------------------------------------------------
# baseline: tier prices against observed list prices
# ------------------------------------------------------------------------------------------------
def plot_tier_prices(series: pd.DataFrame, observed: pd.DataFrame, comparison: pd.DataFrame,
                     tiers: list[str], out_dir: Path, note: str,
                     name: str = "price_war_baseline",
                     labels: dict[str, str] | None = None,
                     band: tuple[str, str, str] = ("mean", "lo", "hi"),
                     legend_title: str | None = None) -> list[Path]:
    """One panel per tier (titled by ``labels[tier]``, e.g. "GPT-3.5 Turbo level on MMLU"): the
    model's CN and US prices (line ``<column>_<band[0]>``, band between ``_<band[1]>`` and
    ``_<band[2]>``: mean and min-max over seeds, or median and 90% interval over draws x seeds,
    said by ``legend_title``) against the observed list prices of the tier's families, with the
    CN/US ratios under the title. Every panel has its own date ticks; the legend sits above the
    panels."""
    labels = labels or {}
    ncols = 3
    nrows = int(np.ceil(len(tiers) / ncols))
    fig, axes = new_figure(nrows, ncols, width=15, height=4.1 * nrows, sharey=True)
    dates = pd.to_datetime(series["date"])
    listed = observed[observed["blended_3to1"] > 0]
    for k, tier in enumerate(tiers):
        ax = axes[k // ncols][k % ncols]
        for bloc, region in (("cn", "cn_east"), ("us", "us")):
            column = f"price_{tier}_{bloc}"
            color = region_color(region)
            ax.plot(dates, series[f"{column}_{band[0]}"], color=color,
                    label=f"model, hosts in {bloc.upper()}")
            ax.fill_between(dates, series[f"{column}_{band[1]}"], series[f"{column}_{band[2]}"],
                            color=color, alpha=0.15, linewidth=0)
            points = listed[(listed["tier"] == tier) & (listed["region"] == bloc)]
            ax.scatter(pd.to_datetime(points["date"]), points["blended_3to1"], marker="o",
                       s=26, facecolors="none", edgecolors=color, linewidths=1.2,
                       label=f"list price, {bloc.upper()} seller")
        row = comparison[comparison["tier"] == tier]
        title = labels.get(tier, tier)
        if len(row):
            r = row.iloc[0]
            parts = []
            if np.isfinite(r["observed_ratio"]):
                parts.append(f"observed ×{r['observed_ratio']:.2f}")
            if np.isfinite(r["model_ratio_at_observed_dates"]):
                parts.append(f"model ×{r['model_ratio_at_observed_dates']:.2f}")
            if np.isfinite(r["model_ratio_end"]):
                parts.append(f"model at end ×{r['model_ratio_end']:.2f}")
            if parts:
                title = f"{title}\nCN/US price: " + ", ".join(parts)
        ax.set_title(title, fontsize=9)
        ax.set_yscale("log")
        dollar_axis(ax)
        ax.set_xlim(pd.Timestamp("2024-01-01"), max(dates.max(), pd.Timestamp("2026-12-31")))
        _date_axis(ax)
        if k % ncols == 0:
            ax.set_ylabel("USD per M tokens (blended 3:1; log)")
    for k in range(len(tiers), nrows * ncols):
        axes[k // ncols][k % ncols].set_visible(False)
    fig.suptitle("CN vs US prices at equal capability tier: model vs observed list prices",
                 fontsize=11)
    handles, legend_labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, legend_labels, fontsize=8, frameon=False, ncol=len(handles),
               loc="upper center", bbox_to_anchor=(0.5, 1 - 0.35 / fig.get_figheight()),
               **({"title": f"model: {legend_title}", "title_fontsize": 8} if legend_title
                  else {}))
    return save_figure(fig, out_dir, name, note, top=1 - (0.95 if legend_title else 0.75)
                       / fig.get_figheight())
