"""Figures of a calibration: posterior marginals, and posterior predictive vs observed targets."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib.ticker as mticker
import numpy as np
import pandas as pd

from pricewar.calibrate.priors import Prior
from pricewar.plotting.style import new_figure, save_figure
from pricewar.plotting.ticks import si_number, usd
from pricewar.scenario.parameters import PARAMETERS

POSTERIOR_COLOR = "#2166ac"
PRIOR_COLOR = "#bdbdbd"
OBSERVED_COLOR = "black"
HELD_OUT_COLOR = "#d95f02"


def _log_axis(ax, unit: str = "", span_ratio: float = 10.0) -> None:
    """A log x axis labelled at 1, 2, 5 x 10^n in plain numbers (no overlapping minor labels):
    dollars for a ``USD...`` unit, ``30T`` rather than ``3e+13`` for large counts. On an axis
    spanning less than a factor of 10 (``span_ratio``: its highest value over its lowest)
    1, 2, 5 would leave one or two labels: it gets 1, 2, 3, 5, and below a factor of 3 evenly
    spaced round ticks."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(
        mticker.MaxNLocator(nbins=6, steps=[1, 2, 2.5, 5, 10]) if span_ratio < 3
        else mticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0) if span_ratio >= 10
                                else (1.0, 2.0, 3.0, 5.0), numticks=12))
    ax.xaxis.set_major_formatter(mticker.FuncFormatter(usd if unit.startswith("USD")
                                                       else si_number))
    ax.xaxis.set_minor_formatter(mticker.NullFormatter())


def axis_unit(name: str) -> str:
    """The declared unit of a calibrated parameter for an axis label ("" for a pure number or
    a name without a declaration)."""
    declared = PARAMETERS.get(name)
    unit = declared.unit if declared is not None else ""
    return "" if unit in ("", "-", "1") else unit


def plot_marginals(draws: pd.DataFrame, priors: Sequence[Prior], table: pd.DataFrame,
                   out_dir: Path, note: str) -> list[Path]:
    """One panel per parameter: the prior box, the accepted runs' own values (unadjusted) and the
    adjusted posterior (weighted histograms), its median and 90% interval."""
    ncols = min(3, len(priors))
    nrows = math.ceil(len(priors) / ncols)
    fig, axes = new_figure(nrows, ncols, width=3.4 * ncols, height=2.9 * nrows + 0.6)
    weights = draws["weight"].to_numpy(float)
    for ax, prior in zip(axes.flat, priors, strict=False):
        log = prior.kind == "log-uniform"
        edges = (np.geomspace(prior.low, prior.high, 31) if log
                 else np.linspace(prior.low, prior.high, 31))
        # bins are equal in the prior's own coordinate: the prior puts 1/30 in each
        ax.hlines(1.0 / (len(edges) - 1), prior.low, prior.high, color=PRIOR_COLOR, linewidth=3,
                  label=f"prior ({prior.describe()})")
        unadjusted = f"{prior.name}_unadjusted"
        if unadjusted in draws:
            ax.hist(draws[unadjusted], bins=edges, weights=weights, histtype="step",
                    color=POSTERIOR_COLOR, alpha=0.45, linestyle="--", label="accepted runs")
        ax.hist(draws[prior.name], bins=edges, weights=weights, color=POSTERIOR_COLOR,
                alpha=0.6, label="posterior")
        row = table[table["parameter"] == prior.name].iloc[0]
        ax.axvline(row["median"], color="black", linewidth=1)
        ax.axvspan(row["q05"], row["q95"], color=POSTERIOR_COLOR, alpha=0.08)
        ax.set_xlim(prior.low, prior.high)
        unit = axis_unit(prior.name)
        if log:
            _log_axis(ax, unit, span_ratio=prior.high / prior.low)
        ax.set_xlabel(f"{prior.name} ({unit})" if unit else prior.name)
        ax.set_ylabel("share of draws per bin")
        ax.set_title(f"median {row['median']:.3g} [{row['q05']:.3g}, {row['q95']:.3g}]",
                     fontsize=9)
    for ax in list(axes.flat)[len(priors):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7, loc="upper right")
    return save_figure(fig, out_dir, "posterior_marginals", note)


def plot_predictive(checks: pd.DataFrame, out_dir: Path, note: str) -> list[Path]:
    """One row per target: the observation and its 90% interval, the prior predictive and the
    posterior predictive 90% intervals of the model's summary (held-out targets marked)."""
    n = len(checks)
    fig, axes = new_figure(n, 1, width=7.5, height=0.95 * n + 1.0)
    for ax, row in zip(axes[:, 0], checks.itertuples(), strict=True):
        role_color = HELD_OUT_COLOR if row.role == "held out" else POSTERIOR_COLOR
        ax.plot([row.prior_q05, row.prior_q95], [2, 2], color=PRIOR_COLOR, linewidth=6,
                solid_capstyle="butt", label="prior predictive 90%")
        ax.plot([row.posterior_q05, row.posterior_q95], [1, 1], color=role_color, linewidth=6,
                solid_capstyle="butt", label="posterior predictive 90%")
        ax.plot([row.posterior_q50], [1], "o", color="white", markeredgecolor=role_color)
        ax.plot([row.observed_low, row.observed_high], [0, 0], color=OBSERVED_COLOR,
                linewidth=1.5)
        ax.plot([row.observed], [0], "D", color=OBSERVED_COLOR, label="observed, 90% interval")
        values = [row.prior_q05, row.prior_q95, row.posterior_q05, row.posterior_q95,
                  row.observed_low, row.observed_high]
        finite = [v for v in values if np.isfinite(v)]
        if row.scale == "log" and finite and min(finite) > 0:
            _log_axis(ax, row.unit, max(finite) / min(finite))
        elif row.unit.startswith("USD"):
            ax.xaxis.set_major_formatter(mticker.FuncFormatter(usd))
        ax.set_ylim(-0.7, 2.7)
        ax.set_yticks([])
        status = "consistent" if row.consistent else "NOT consistent"
        ax.set_title(f"{row.target} ({row.role}; {row.unit}): {status}, p = {row.p_value:.2f}",
                     fontsize=8, loc="left", color=role_color)
        ax.tick_params(axis="x", labelsize=7)
    # above the panels: inside the first one it covered that target's prior interval
    handles, labels = axes[0, 0].get_legend_handles_labels()
    legend_in = 0.3
    fig.legend(handles, labels, fontsize=7, loc="upper center", ncol=3, frameon=False)
    height_in = fig.get_size_inches()[1]
    return save_figure(fig, out_dir, "posterior_predictive", note,
                       top=1 - legend_in / height_in)
