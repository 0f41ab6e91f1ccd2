"""Matplotlib pictures of a model: market network, unit-cost breakdown, reporter time series.

No solara here: functions take a :class:`~pricewar.model.PriceWarModel` and a matplotlib ``Axes``
so the same pictures serve the browser app, notebooks and figure scripts. Figures are laid out
with fixed margins (:func:`new_figure`), not ``bbox_inches="tight"``: tight bounding boxes draw
every figure twice, and the app redraws six figures per step.

The network aggregates consumers into region x sector *segments* (the baseline has 2000
consumers; a segment is the unit the demand calibration is written in) and keeps every platform
and producer. Flows are this step's served volumes (Mtok/step) summed over the routes
consumer -> platform -> producer.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from pricewar.scenario import PRODUCER_REGIONS
from pricewar.studies.plots import region_color

COST_COLORS = {"energy": "#f2b701", "hardware": "#3969ac", "opex": "#9a9a9a"}
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


def draw_market_network(ax, model, graph: nx.DiGraph, pos: dict) -> None:
    """Draw the segment graph: colour = region, marker = node type, area ~ throughput
    (relative within each column), edge width ~ flow (relative within each edge column)."""
    flows = network_flows(model)

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
    regions = sorted({graph.nodes[n]["region"] for n in graph}, key=model.region_names.index)
    handles = [Patch(color=region_color(r), label=r) for r in regions]
    handles += [Line2D([], [], marker=m, linestyle="", color="grey", label=k)
                for _, k, m, _ in LAYERS]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0),
              ncol=len(handles), fontsize=7.5, frameon=False, handletextpad=0.3,
              columnspacing=0.8)
    ax.set_title(f"Market network, step {model.steps} ({model.date}): edge width ~ flow, "
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


def draw_cost_breakdown(ax, model) -> None:
    """Stacked bars of :func:`cost_breakdown` (prices are in the price plot: they are several
    times the cost in the log-logit baseline and would flatten the bars)."""
    breakdown = cost_breakdown(model)
    regions = list(breakdown)
    x = np.arange(len(regions))
    bottom = np.zeros(len(regions))
    for part, colour in COST_COLORS.items():
        height = np.array([breakdown[r][part] for r in regions])
        ax.bar(x, height, bottom=bottom, color=colour, label=part, width=0.6)
        bottom += height
    ax.set_xticks(x, regions)
    ax.set_ylabel("USD/Mtok")
    ax.set_title(f"Unit cost by region, step {model.steps}", fontsize=10)
    ax.legend(fontsize=8, loc="upper left", ncol=3)
    ax.set_ylim(0, bottom.max() * 1.3)


# ------------------------------------------------------------------------------------------------
# reporter time series
# ------------------------------------------------------------------------------------------------
def draw_time_series(ax, frame, series: dict[str, tuple[str, str]], title: str,
                     ylabel: str) -> None:
    """Plot model-reporter columns against the step.

    ``frame`` is the DataCollector's model-vars frame (one row per step); ``series`` maps a
    legend label to ``(column, colour)``.
    """
    for label, (column, colour) in series.items():
        ax.plot(frame.index, frame[column], label=label, color=colour)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8, loc="best")
