"""Market-structure metrics over routes and products: flows, bloc shares, concentration per
consumer market, and prices by capability tier (used by :mod:`pricewar.model.metrics`)."""

from __future__ import annotations

import numpy as np


def served_weighted_price(price: np.ndarray, served: np.ndarray) -> float:
    """Served-weighted mean price; the unweighted mean when nothing is served; 0 when empty."""
    total = served.sum()
    if total > 0:
        return float((price * served).sum() / total)
    return float(price.mean()) if price.size else 0.0


def flow_matrix(model) -> np.ndarray:
    """Served volume by consumer region x consumer sector x producer region (Mtok/step).

    Indexed by ``model.region_names``, ``model.sector_names`` and ``model.region_names``.
    """
    n_regions, n_sectors = len(model.region_names), len(model.sector_names)
    flows = np.bincount(model.network.flow_key, model.clearing.route_served,
                        minlength=n_regions * n_sectors * n_regions)
    return flows.reshape(n_regions, n_sectors, n_regions)


def bloc_shares(model) -> dict[str, float]:
    """Shares of served volume by bloc of the host (and of the family's owner) in the contested
    and partitioned markets."""
    flows = flow_matrix(model).sum(axis=1)  # consumer region x producer region
    regions = model.regions
    cn, west = regions.in_bloc("cn"), regions.in_bloc("western")
    contested = regions.in_bloc("contested")

    def share(rows, cols):
        total = flows[rows].sum()
        return float(flows[rows][..., cols].sum() / total) if total > 0 else 0.0

    routes = model.network.routes
    served = model.clearing.route_served
    # per consumer and per family, then gathered by route (not a set test on every route)
    western_consumer = np.isin(model.consumer_region, west)[routes.route_consumer]
    cn_family = (model.families.owner_bloc == "cn")[routes.route_family]
    western_volume = float(served[western_consumer].sum())
    return {
        "cn_share_western": share(west, cn),
        "cn_share_global_south": share(contested, cn) if contested else 0.0,
        "western_share_global_south": share(contested, west) if contested else 0.0,
        "cn_family_share_western": (float(served[western_consumer & cn_family].sum())
                                    / western_volume if western_volume > 0 else 0.0),
    }


def hhi_by_market(model) -> float:
    """Herfindahl index of hosts within each consumer market (region x sector), averaged with
    the markets' served volumes as weights."""
    routes = model.network.routes
    served = model.clearing.route_served
    n_sectors = len(model.sector_names)
    # the route's consumer market (region x sector): the flow key without the host's region
    market = model.network.flow_key // len(model.region_names)
    n_hosts = len(model.producers)
    n_markets = len(model.region_names) * n_sectors
    volume = np.bincount(market * n_hosts + routes.route_producer, served,
                         minlength=n_markets * n_hosts).reshape(n_markets, n_hosts)
    market_volume = volume.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = volume / market_volume[:, None]
    hhi = (np.nan_to_num(share) ** 2).sum(axis=1)
    total = market_volume.sum()
    return float((hhi * market_volume).sum() / total) if total > 0 else 0.0


def tier_prices(model) -> dict[str, float]:
    """``price_cheapest_<tier>``: the cheapest posted price of a product of a family at or above
    the tier (0 while none exists); ``price_tier_<tier>_cn`` / ``_us``: served-weighted posted
    price of products of the tier's families hosted in the cn bloc / the us region (0 while
    none is offered)."""
    products = model.product_arrays
    tier = model.families.tier[products.family]
    region = model.producer_region[products.producer]
    cn = np.isin(region, model.regions.in_bloc("cn"))
    us = region == (model.region_names.index("us") if "us" in model.region_names else -1)
    out = {}
    for rank, name in enumerate(model.tier_names):
        above = tier >= rank
        out[f"price_cheapest_{name}"] = float(products.price[above].min()) if above.any() else 0.0
        at = tier == rank
        for label, where in (("cn", cn), ("us", us)):
            members = at & where
            out[f"price_tier_{name}_{label}"] = served_weighted_price(
                products.price[members], products.served[members])
    return out
