"""Matplotlib pictures of a model: market network, unit-cost breakdown, reporter time series.

No solara here: functions take a :class:`~pricewar.model.PriceWarModel` (or what was recorded of
one step: flows, cost breakdown) and a matplotlib ``Axes``, so the same pictures serve the
browser app, notebooks and figure scripts, for the current step or a recorded earlier one. Figures are laid out
with fixed margins (:func:`new_figure`), not ``bbox_inches="tight"``: tight bounding boxes draw
every figure twice, and the app redraws eight figures per step.

A ``draw_*`` function replaces whatever an earlier ``draw_*`` drew on the same axes (lines,
bars, collections, texts, legend; a twin axes is reused, not added): the app keeps one figure
per panel and draws every step into it, since making a figure, its axes and their ticks took
about a fifth of a step's time, and the picture is the same as on a new figure.

The network aggregates consumers into region x sector *segments* (the baseline has 2000
consumers; a segment is the unit the demand calibration is written in) and keeps every platform
and producer. Flows are this step's served volumes (Mtok/step) summed over the routes
consumer -> platform -> producer.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.dates as mdates
import networkx as nx
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from pricewar.plotting.style import region_color
from pricewar.plotting.ticks import dollar_axis, format_value_axis
from pricewar.scenario import PRODUCER_REGIONS

COST_COLORS = {"energy": "#f2b701", "hardware": "#3969ac", "opex": "#9a9a9a"}
LERNER_COLOR = "#8c564b"
#: the time axis spans at least this many steps (half a year of weekly steps)
MIN_SPAN_STEPS = 26
HHI_COLOR = "#17becf"
#: open- and closed-weight families' prices, and the open-weight share (its own colour: a price
#: and a share must not read as one quantity)
OPEN_COLOR, CLOSED_COLOR, OPEN_SHARE_COLOR = "#2ca02c", "#9467bd", "#444444"
#: the cheapest price at or above a tier, drawn as a reference line
CHEAPEST_COLOR = "#7f7f7f"
#: network columns: layer index, node kind, marker, title
LAYERS = ((0, "segment", "s", "consumer segments\n(region x sector)"),
          (1, "platform", "D", "platforms"),
          (2, "producer", "o", "producers"))


def new_figure(width_in: float, height_in: float, *, left=0.12, right=0.97, bottom=0.14,
               top=0.9):
    """A pyplot-free figure with one axes and fixed margins (fractions of the figure)."""
    figure = Figure(figsize=(width_in, height_in), dpi=100)
    axes = figure.subplots()
    figure.subplots_adjust(left=left, right=right, bottom=bottom, top=top)
    return figure, axes


def _fresh(ax) -> None:
    """Remove what an earlier ``draw_*`` drew on ``ax``, keeping the axes, ticks and labels; the
    data limits start afresh, as on a new axes."""
    for container in list(ax.containers):
        container.remove()
    for artist in [*ax.lines, *ax.collections, *ax.patches, *ax.texts]:
        artist.remove()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    ax.ignore_existing_data_limits = True


def twin_of(ax):
    """The twin axes of ``ax`` (sharing its x axis) drawn into before, or a new one, emptied by
    :func:`_fresh`."""
    twins = [other for other in ax.figure.axes
             if other is not ax and other.get_shared_x_axes().joined(ax, other)]
    twin = twins[0] if twins else ax.twinx()
    _fresh(twin)
    return twin


def new_grid(rows: int, columns: int, width_in: float, height_in: float):
    """A pyplot-free figure with a grid of axes (returned as a flat list) and fixed margins."""
    figure = Figure(figsize=(width_in, height_in), dpi=100)
    axes = list(figure.subplots(rows, columns).flat)
    figure.subplots_adjust(left=0.08, right=0.98, bottom=0.08, top=0.93, hspace=0.45,
                           wspace=0.25)
    return figure, axes


# ------------------------------------------------------------------------------------------------
# market network
# ------------------------------------------------------------------------------------------------
def consumer_segment(model) -> np.ndarray:
    """Segment index ``region * n_sectors + sector`` of every consumer, shape (n_consumers,)."""
    return model.consumer_region * len(model.sector_names) + model.consumer_sector


def segment_graph(model) -> nx.DiGraph:
    """The market graph with consumers merged into region x sector segments.

    Nodes ``("segment", s)``, ``("platform", k)``, ``("producer", i)`` carry ``layer`` (0, 1, 2)
    and ``region``; within a layer they are added in region order, so a multipartite layout
    groups the colours. Edges are the model graph's edges mapped onto segments.
    """
    n_sectors = len(model.sector_names)
    segment = consumer_segment(model)
    graph = nx.DiGraph()
    for layer, kind, _, _ in LAYERS:
        if kind == "segment":
            ids = np.unique(segment)
            regions = ids // n_sectors
        else:
            regions = getattr(model, f"{kind}_region")
            ids = np.arange(regions.size)
        for index in np.argsort(regions, kind="stable"):
            graph.add_node((kind, int(ids[index])), layer=layer,
                           region=model.region_names[regions[index]])
    for (u_kind, u), (_, v) in model.graph.edges:
        if u_kind == "consumer":
            graph.add_edge(("segment", int(segment[u])), ("platform", v))
        else:
            graph.add_edge(("platform", u), ("producer", v))
    return graph


@dataclass(frozen=True)
class NetworkFlows:
    """This step's served volume on the segment graph (Mtok/step).

    Attributes
    ----------
    segment_platform : shape (n_segments_total, n_platforms), n_segments_total = regions x sectors
    platform_producer : shape (n_platforms, n_producers)
    node : served volume through each node of :func:`segment_graph`, by node key
    """

    segment_platform: np.ndarray
    platform_producer: np.ndarray
    node: dict


def network_flows(model) -> NetworkFlows:
    """Aggregate the routes' served volume onto segments, platforms and producers."""
    routes, served = model.routes, model.clearing.route_served
    n_segments = len(model.region_names) * len(model.sector_names)
    n_platforms, n_producers = model.platform_region.size, model.producer_region.size
    segment = consumer_segment(model)[routes.route_consumer]
    segment_platform = np.bincount(segment * n_platforms + routes.route_platform, served,
                                   minlength=n_segments * n_platforms)
    platform_producer = np.bincount(routes.route_platform * n_producers + routes.route_producer,
                                    served, minlength=n_platforms * n_producers)
    segment_platform = segment_platform.reshape(n_segments, n_platforms)
    platform_producer = platform_producer.reshape(n_platforms, n_producers)
    node = {("segment", s): q for s, q in enumerate(segment_platform.sum(axis=1))}
    node |= {("platform", k): q for k, q in enumerate(platform_producer.sum(axis=1))}
    node |= {("producer", i): q for i, q in enumerate(platform_producer.sum(axis=0))}
    return NetworkFlows(segment_platform, platform_producer, node)


def network_layout(graph: nx.DiGraph) -> dict:
    """Fixed positions: one column per layer (segments, platforms, producers), each column
    stretched to the full height (multipartite layout spaces nodes evenly, so a short column
    would otherwise bunch in the middle)."""
    columns = {layer: [n for n in graph if n[0] == kind] for layer, kind, _, _ in LAYERS}
    # lists keep the region order of segment_graph (an attribute name would group into sets)
    pos = nx.multipartite_layout(graph, subset_key=columns)
    for layer, nodes in columns.items():
        y = np.array([pos[n][1] for n in nodes])
        span = y.max() - y.min() if y.size > 1 else 1.0
        for node, value in zip(nodes, y, strict=True):
            centred = (value - y.min()) / span * 2.0 - 1.0 if span > 0 else 0.0
            pos[node] = np.array([float(layer), -centred])
    return pos


def draw_network_flows(ax, graph: nx.DiGraph, pos: dict, flows: NetworkFlows,
                       region_names: list[str], step: int, date) -> None:
    """Draw the segment graph: colour = region, marker = node type, area ~ throughput
    (relative within each column), edge width ~ flow (relative within each edge column)."""
    _fresh(ax)

    def edge_flow(u, v) -> float:
        if u[0] == "segment":
            return flows.segment_platform[u[1], v[1]]
        return flows.platform_producer[u[1], v[1]]

    nx.draw_networkx_edges(graph, pos, ax=ax, edge_color="#cccccc", width=0.3, alpha=0.5,
                           arrows=False)
    for first in ("segment", "platform"):
        edges = [(u, v) for u, v in graph.edges if u[0] == first]
        flow = np.array([edge_flow(u, v) for u, v in edges])
        busy = flow > 0
        if not busy.any():
            continue
        # colour a flow by its consumer region (left column) or its producer region (right)
        colour_end = 0 if first == "segment" else 1
        nx.draw_networkx_edges(
            graph, pos, ax=ax, arrows=False, alpha=0.55,
            edgelist=[e for e, b in zip(edges, busy, strict=True) if b],
            width=0.3 + 5.0 * flow[busy] / flow.max(),
            edge_color=[region_color(graph.nodes[e[colour_end]]["region"])
                        for e, b in zip(edges, busy, strict=True) if b])
    for _, kind, marker, title in LAYERS:
        nodes = [n for n in graph if n[0] == kind]
        served = np.array([flows.node.get(n, 0.0) for n in nodes])
        top = served.max() if served.size and served.max() > 0 else 1.0
        # the largest node of a column fills about its share of the column's height
        largest = float(np.clip(2500.0 / max(len(nodes), 1), 40.0, 300.0))
        nx.draw_networkx_nodes(graph, pos, nodelist=nodes, ax=ax, node_shape=marker,
                               node_size=8 + largest * served / top, linewidths=0.5,
                               edgecolors="black",
                               node_color=[region_color(graph.nodes[n]["region"])
                                           for n in nodes])
        x = np.mean([pos[n][0] for n in nodes])
        ax.text(x, 1.0, title, transform=ax.get_xaxis_transform(), ha="center", va="bottom",
                fontsize=8)
    regions = sorted({graph.nodes[n]["region"] for n in graph}, key=region_names.index)
    handles = [Patch(color=region_color(r), label=r) for r in regions]
    handles += [Line2D([], [], marker=m, linestyle="", color="grey", label=k)
                for _, k, m, _ in LAYERS]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0),
              ncol=len(handles), fontsize=7.5, frameon=False, handletextpad=0.3,
              columnspacing=0.8)
    ax.set_title(f"Market network, step {step} ({date}): edge width ~ flow, "
                 f"node area ~ throughput", fontsize=9, pad=24)
    ax.set_axis_off()


# ------------------------------------------------------------------------------------------------
# unit-cost breakdown
# ------------------------------------------------------------------------------------------------
def cost_breakdown(model) -> dict[str, dict[str, float]]:
    """Full unit cost of new capacity by producer region split into energy, hardware (capital
    recovery) and opex (USD/Mtok), served-weighted over products and hosts as the region's
    ``unit_cost_<region>`` metric is (unweighted when the region is idle), so the parts add up
    to it."""
    products = model.product_arrays
    n = model.producer_region.size
    served = products.served
    host_served = np.bincount(products.producer, served, minlength=n)
    count = np.bincount(products.producer, minlength=n)

    def per_host(values):
        weighted = np.bincount(products.producer, values * served, minlength=n)
        plain = np.bincount(products.producer, values, minlength=n)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(host_served > 0, weighted / host_served,
                            np.where(count > 0, plain / count, 0.0))

    parts = {"energy": per_host(products.full_energy),
             "hardware": per_host(products.full_capital), "opex": per_host(products.full_opex)}
    out = {}
    for region in PRODUCER_REGIONS:
        members = model.producer_region == model.region_names.index(region)
        if not members.any():
            continue
        weights = model.producer_served[members]
        if weights.sum() <= 0:
            weights = np.ones(members.sum())
        out[region] = {name: float(np.average(values[members], weights=weights))
                       for name, values in parts.items()}
    return out


def draw_cost_bars(ax, breakdown: dict[str, dict[str, float]], step: int) -> None:
    """Stacked bars of a :func:`cost_breakdown` (prices are in the price plot: they are several
    times the cost in the log-logit baseline and would flatten the bars)."""
    _fresh(ax)
    regions = list(breakdown)
    x = np.arange(len(regions))
    bottom = np.zeros(len(regions))
    for part, colour in COST_COLORS.items():
        height = np.array([breakdown[r][part] for r in regions])
        ax.bar(x, height, bottom=bottom, color=colour, label=part, width=0.6)
        bottom += height
    ax.set_xticks(x, regions)
    ax.set_ylabel("USD per M tokens")
    dollar_axis(ax)
    ax.set_title(f"Unit cost by producer region, step {step}", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", ncol=3)
    ax.set_ylim(0, max(float(bottom.max()), 1e-9) * 1.3)


# ------------------------------------------------------------------------------------------------
# reporter time series
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TimeAxis:
    """Dates of the recorded steps and the span of the x axis (``dates``: one per row of the
    reporter frame; ``at``: the date looked at, or None for the latest)."""

    dates: pd.DatetimeIndex
    start: pd.Timestamp
    end: pd.Timestamp
    at: pd.Timestamp | None = None

    @classmethod
    def of(cls, model, step: int | None = None) -> TimeAxis:
        """The axis of ``model`` so far: from the start to the current date, at least
        :data:`MIN_SPAN_STEPS` (or the whole run when shorter), so early steps are not squeezed
        against a three-year axis."""
        s = model.scenario
        days = pd.to_timedelta(np.arange(model.steps + 1) * s.step_days, unit="D")
        start = pd.Timestamp(model.start_date)
        span = max(model.steps, min(MIN_SPAN_STEPS, s.steps))
        at = None if step is None or step >= model.steps else start + days[step]
        return cls(start + days, start, start + pd.Timedelta(days=span * s.step_days), at)


def _time_axis(ax, axis: TimeAxis) -> None:
    margin = pd.Timedelta(days=4)
    ax.set_xlim(axis.start - margin, axis.end + margin)
    locator = mdates.AutoDateLocator(maxticks=7)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    if axis.at is not None:
        ax.axvline(axis.at, color="black", linewidth=0.8, linestyle=":")


def draw_time_series(ax, axis: TimeAxis, frame: pd.DataFrame,
                     series: dict[str, tuple[str, str]], title: str, ylabel: str,
                     unit: str = "") -> None:
    """Plot model-reporter columns against the date, y from 0 (every series is a quantity).

    ``frame`` is the DataCollector's model-vars frame (one row per step); ``series`` maps a
    legend label to ``(column, colour)``. A run at step 0 shows its one point as a marker.
    """
    _fresh(ax)
    marker = "o" if len(frame) < 3 else None
    top = 0.0
    for label, (column, colour) in series.items():
        ax.plot(axis.dates, frame[column].to_numpy(), label=label, color=colour, marker=marker,
                markersize=4)
        top = max(top, float(np.nanmax(frame[column].to_numpy())))
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel)
    # an all-zero series (no unserved demand) gets a visible 0..1 axis, not -0.05..0.05
    ax.set_ylim(0, top * 1.15 if top > 0 else 1.0)
    format_value_axis(ax, unit)
    _time_axis(ax, axis)
    ax.legend(fontsize=7.5, loc="best", ncol=2 if len(series) > 2 else 1)


def draw_market_power(ax, axis: TimeAxis, frame: pd.DataFrame) -> None:
    """Lerner index on the left axis (0-1) and HHI on its own right axis (it is ~0.02 with 50
    producers and would read as zero on the Lerner axis)."""
    _fresh(ax)
    marker = "o" if len(frame) < 3 else None
    lerner = ax.plot(axis.dates, frame["lerner"].to_numpy(), color=LERNER_COLOR, marker=marker,
                     markersize=4, label="Lerner index (P - MC)/P")
    ax.set_ylim(0, 1)
    ax.set_ylabel("Lerner index (0-1)", color=LERNER_COLOR)
    twin = twin_of(ax)
    hhi = twin.plot(axis.dates, frame["hhi"].to_numpy(), color=HHI_COLOR, linestyle="--",
                    marker=marker, markersize=4, label="HHI (right axis)")
    twin.set_ylim(0, max(0.05, 1.3 * float(frame["hhi"].max())))
    twin.set_ylabel("HHI (0-1)", color=HHI_COLOR)
    ax.set_title("Market power: Lerner index and HHI", fontsize=10)
    _time_axis(ax, axis)
    ax.legend(lerner + hhi, [line.get_label() for line in lerner + hhi], fontsize=7.5,
              loc="lower right")


def draw_open_closed(ax, axis: TimeAxis, frame: pd.DataFrame) -> None:
    """Served-weighted price of open- and closed-weight families' products on the left (USD per
    M tokens, from 0) and the open-weight share of served tokens on its own right axis (0-1)."""
    _fresh(ax)
    marker = "o" if len(frame) < 3 else None
    lines, top = [], 0.0
    for column, colour, label in (("price_open", OPEN_COLOR, "price, open weights"),
                                  ("price_closed", CLOSED_COLOR, "price, closed weights")):
        values = frame[column].to_numpy(dtype=float)
        lines += ax.plot(axis.dates, values, color=colour, marker=marker, markersize=4,
                         label=label)
        top = max(top, float(np.nanmax(values)))
    ax.set_ylim(0, top * 1.15 if top > 0 else 1.0)
    ax.set_ylabel("USD per M tokens")
    dollar_axis(ax)
    twin = twin_of(ax)
    lines += twin.plot(axis.dates, frame["share_open"].to_numpy(dtype=float),
                       color=OPEN_SHARE_COLOR, linestyle="--", marker=marker, markersize=4,
                       label="open-weight share (right axis)")
    twin.set_ylim(0, 1)
    twin.set_ylabel("open-weight share (0-1)", color=OPEN_SHARE_COLOR)
    ax.set_title("Open vs closed weights: price and share", fontsize=10)
    _time_axis(ax, axis)
    ax.legend(lines, [line.get_label() for line in lines], fontsize=7.5, loc="lower left")


def tier_with_most_products(model) -> str:
    """The capability tier with the most products offered now, among the tiers with products
    hosted both in the cn bloc and in the us region (any tier when none has both)."""
    products = model.product_arrays
    tier = model.families.tier[products.family]
    region = model.producer_region[products.producer]
    n = len(model.tier_names)
    counts = np.bincount(tier, minlength=n)
    cn = np.bincount(tier[np.isin(region, model.regions.in_bloc("cn"))], minlength=n)
    us_index = model.region_names.index("us") if "us" in model.region_names else -1
    us = np.bincount(tier[region == us_index], minlength=n)
    both = (cn > 0) & (us > 0)
    return model.tier_names[int(np.argmax(np.where(both, counts, -1) if both.any() else counts))]


def draw_tier_prices(ax, axis: TimeAxis, frame: pd.DataFrame, tier: str, step: int) -> None:
    """Served-weighted price of the tier's families hosted in the cn bloc and in the us region,
    and the cheapest price at or above the tier (USD per M tokens); steps where no such product
    is offered (reported as 0) are gaps."""
    _fresh(ax)
    marker = "o" if len(frame) < 3 else None
    top = 0.0
    for column, colour, style, label in (
            (f"price_tier_{tier}_cn", region_color("cn_west"), "-", "hosted in the cn bloc"),
            (f"price_tier_{tier}_us", region_color("us"), "-", "hosted in the us"),
            (f"price_cheapest_{tier}", CHEAPEST_COLOR, ":", "cheapest at or above the tier")):
        values = frame[column].to_numpy(dtype=float)
        values = np.where(values > 0, values, np.nan)
        ax.plot(axis.dates, values, color=colour, linestyle=style, marker=marker, markersize=4,
                label=label)
        if np.isfinite(values).any():
            top = max(top, float(np.nanmax(values)))
    ax.set_ylim(0, top * 1.15 if top > 0 else 1.0)
    ax.set_ylabel("USD per M tokens")
    dollar_axis(ax)
    ax.set_title(f"CN vs US price at tier {tier}, step {step}", fontsize=10)
    _time_axis(ax, axis)
    ax.legend(fontsize=7.5, loc="best")


# ------------------------------------------------------------------------------------------------
# two runs overlaid
# ------------------------------------------------------------------------------------------------
#: the comparison panels: (column or "shares", title, y label, unit)
COMPARISON_PANELS = (
    ("price_avg", "Average price", "USD per M tokens", "USD/Mtok"),
    ("shares", "Throughput share by producer region", "share of served tokens", "1"),
    ("lerner", "Lerner index (P - MC)/P", "Lerner index (0-1)", "1"),
    ("consumer_surplus", "Consumer surplus", "USD per step", "USD/step"),
)


def draw_comparison(axes, axis: TimeAxis, frame_a: pd.DataFrame, frame_b: pd.DataFrame,
                    regions: list[str]) -> None:
    """Run A (solid) and run B (dashed) on the panels of :data:`COMPARISON_PANELS`; ``axes`` is
    a flat sequence of four axes, ``axis`` the time axis of A (B has the same steps)."""
    marker = "o" if len(frame_a) < 3 else None
    runs = [Line2D([], [], color="#444444", linestyle=style, label=run)
            for style, run in (("-", "A"), ("--", "B"))]
    for ax, (column, title, ylabel, unit) in zip(axes, COMPARISON_PANELS, strict=True):
        _fresh(ax)
        lines = {r: (f"share_{r}", region_color(r)) for r in regions} if column == "shares" \
            else {column: (column, "#444444")}
        top = 0.0
        for key, colour in lines.values():
            for frame, style in ((frame_a, "-"), (frame_b, "--")):
                values = frame[key].to_numpy()[: len(axis.dates)]
                ax.plot(axis.dates[: len(values)], values, color=colour, linestyle=style,
                        marker=marker, markersize=4)
                top = max(top, float(np.nanmax(values)))
        ax.set_title(title, fontsize=10)
        ax.set_ylabel(ylabel)
        ax.set_ylim(0, top * 1.15 if top > 0 else 1.0)
        format_value_axis(ax, unit)
        _time_axis(ax, axis)
        regions_shown = [Patch(color=region_color(r), label=r) for r in lines] \
            if column == "shares" else []
        ax.legend(handles=runs + regions_shown, fontsize=7, loc="best",
                  ncol=3 if regions_shown else 1)
