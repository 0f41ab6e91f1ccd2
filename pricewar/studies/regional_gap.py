"""What drives the price gap between Chinese and US hosts at equal capability: a log decomposition.

For a capability tier ``t`` at one step, the CN/US price ratio is the ratio of served-weighted
geometric mean prices of the tier's products hosted in the cn bloc (set ``A``) and in the us region
(set ``B``)::

    log R_t = sum_a w_a log P_a - sum_b w_b log P_b = sum_{a, b} w_a w_b (log P_a - log P_b)

with ``w`` the products' served shares within their set. Each pair's log price gap splits into the
margin, ``log(P_a / c_a) - log(P_b / c_b)``, and the marginal-cost gap ``log c_a - log c_b``.
The cost gap is split exactly among four factors by the Shapley value (the mean of each factor's
contribution over the 24 orders of switching the factors from ``b``'s to ``a``'s):

- ``chip``: the chip of the product's merit-order marginal cohort (memory bandwidth, decode
  efficiency, power draw, rental index at the date) and the export-control penalty on it
  (chip access);
- ``family``: the model family's active weights per token (serving efficiency of the family);
- ``power``: the power price the cohort pays (after the domestic-chip subsidy, carbon price
  included) times the region's PUE;
- ``host``: the host's serving efficiency (its serving stack's share of the anchor's decode rate).

The marginal cost is the model's (docs/ODD.md §6.1): ``c = (P - P_idle) / tps x PUE x p / 3.6 +
rental / (tps x 3600) x 1e6 + variable opex``, ``tps`` the decode rate of the family on the chip
times the host's efficiency. The contributions of the five drivers sum to ``log R_t`` (a test checks
it); ``exp`` of a contribution is the factor by which that driver alone multiplies the ratio.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd

from pricewar.supply.cohort_costs import Site
from pricewar.units import MJ_PER_KWH, SECONDS_PER_HOUR, TOKENS_PER_MTOK

#: the cost factors of the Shapley split, and the drivers of the price ratio (cost factors + margin)
COST_FACTORS = ("chip", "family", "power", "host")
DRIVERS = (*COST_FACTORS, "margin")
DRIVER_LABELS = {"chip": "chip access", "family": "family serving efficiency",
                 "power": "power price x PUE", "host": "host serving stack", "margin": "margin"}


# ------------------------------------------------------------------------------------------------
# the products' cost inputs, read from the model's public arrays
# ------------------------------------------------------------------------------------------------
def product_cost_inputs(model) -> pd.DataFrame:
    """Per product: host region and bloc, family, tier, price, served volume, and the inputs of
    its marginal cost -- the chip of its merit-order marginal cohort, the power price x PUE that
    cohort pays (read back from the model's ``marginal_energy``), the host's serving efficiency
    and the export-control penalty.

    The marginal cohort is the online cohort of the host (or the host's best chip when it has
    none) whose marginal cost equals the model's ``product_arrays.marginal_cost``;
    ``marginal_cost_rebuilt`` is that cost recomputed from the inputs (equal to the model's up to
    rounding: a test checks it).
    """
    products = model.product_arrays
    supply = model.supply
    levers = model.scenario.policy
    regions = model.regions
    host_region = model.producer_region[products.producer]
    bloc = regions.bloc[host_region]
    online = model.fleet.is_online(model.steps)
    fleet_host, fleet_chip = model.fleet.producer[online], model.fleet.chip[online]
    # candidate (product, chip) pairs: every online chip of the host, plus its best chip
    rows, chips = [], []
    for index, host in enumerate(products.producer):
        candidates = np.unique(np.append(fleet_chip[fleet_host == host],
                                         model.producer_best_chip[host]))
        rows.append(np.full(candidates.size, index))
        chips.append(candidates)
    row = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    chip = np.concatenate(chips) if chips else np.zeros(0, np.int64)
    host = products.producer[row]
    site = Site(bloc=bloc[row], electricity_usd_per_kwh=model.producer_electricity[host],
                pue=model.producer_pue[host], facility_usd_per_w=model.producer_facility[host],
                carbon_kg_per_kwh=model.producer_carbon[host])
    costs = supply.costs(chip, products.family[row], model.date, site, levers,
                         serving_efficiency=model.producer_serving_efficiency[host])
    gap = np.abs(np.log(costs.marginal_usd_per_mtok / products.marginal_cost[row]))
    best = pd.Series(gap).groupby(row).idxmin().to_numpy()
    penalty = supply.penalty(bloc, levers)
    # the power price x PUE the marginal cohort paid, read back from the model's energy cost
    # (the expected power price moves with the green share after the costs phase)
    chips_table = supply.serving.chips
    tps = (supply.serving.tps(chip[best], products.family, model.date, penalty)
           * model.producer_serving_efficiency[products.producer])
    joules = (chips_table.power_w[chip[best]] - chips_table.idle_power_w[chip[best]]) / tps
    power = products.marginal_energy * MJ_PER_KWH / joules
    frame = pd.DataFrame({
        "product": np.arange(len(products)),
        "host": products.producer,
        "region": [model.region_names[r] for r in host_region],
        "bloc": bloc,
        "family": [model.families.names[f] for f in products.family],
        "family_index": products.family,
        "owner_hosted": model.producer_owner[products.producer] == model.families.owner[
            products.family],
        "tier": [model.tier_names[t] for t in model.families.tier[products.family]],
        "price": products.price,
        "served": products.served,
        "marginal_cost": products.marginal_cost,
        "chip_index": chip[best],
        "chip": [supply.serving.chips.names[c] for c in chip[best]],
        "power_usd_per_kwh_x_pue": power,
        "serving_efficiency": model.producer_serving_efficiency[products.producer],
        "penalty": penalty,
    })
    frame["marginal_cost_rebuilt"] = marginal_cost(model, frame["chip_index"], frame["family_index"],
                                                   frame["power_usd_per_kwh_x_pue"],
                                                   frame["serving_efficiency"], frame["penalty"])
    return frame


def marginal_cost(model, chip, family, power_x_pue, serving_efficiency, penalty) -> np.ndarray:
    """Marginal cost (USD/Mtok) of ``family`` on ``chip`` at the model's date: energy at
    ``power_x_pue`` (USD/kWh at the facility) + capacity opportunity cost (rental index) +
    variable opex (docs/ODD.md §6.1); arrays broadcast."""
    supply = model.supply
    chips = supply.serving.chips
    c = np.asarray(chip, dtype=np.int64)
    tps = (supply.serving.tps(c, np.asarray(family, dtype=np.int64), model.date,
                              np.asarray(penalty, float))
           * np.asarray(serving_efficiency, float))
    energy = (chips.power_w[c] - chips.idle_power_w[c]) / tps * np.asarray(power_x_pue) / MJ_PER_KWH
    capacity = supply.rental.usd_per_gpu_hour(c, model.date) / (tps * SECONDS_PER_HOUR) * TOKENS_PER_MTOK
    return energy + capacity + supply.catalogue.capital.variable_opex_usd_per_mtok


# ------------------------------------------------------------------------------------------------
# Shapley split of the log cost gap
# ------------------------------------------------------------------------------------------------
def _inputs(frame: pd.DataFrame) -> dict[str, tuple[np.ndarray, ...]]:
    return {"chip": (frame["chip_index"].to_numpy(), frame["penalty"].to_numpy()),
            "family": (frame["family_index"].to_numpy(),),
            "power": (frame["power_usd_per_kwh_x_pue"].to_numpy(),),
            "host": (frame["serving_efficiency"].to_numpy(),)}


def shapley_log_cost_gap(model, a: pd.DataFrame, b: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per pair (rows of ``a`` and ``b`` aligned), the Shapley contribution of each cost factor
    to ``log c_a - log c_b``; the contributions sum to it exactly."""
    inputs_a, inputs_b = _inputs(a), _inputs(b)
    n = len(COST_FACTORS)
    log_cost = {}
    for mask in itertools.product((False, True), repeat=n):
        chosen = {k: (inputs_a if on else inputs_b)[k] for k, on in zip(COST_FACTORS, mask,
                                                                         strict=True)}
        (chip, penalty), (family,), (power,), (host,) = (chosen[k] for k in COST_FACTORS)
        log_cost[mask] = np.log(marginal_cost(model, chip, family, power, host, penalty))
    out = {}
    for k, factor in enumerate(COST_FACTORS):
        total = np.zeros(len(a))
        for mask, value in log_cost.items():
            if mask[k]:
                continue
            size = sum(mask)
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            with_k = tuple(True if j == k else on for j, on in enumerate(mask))
            total = total + weight * (log_cost[with_k] - value)
        out[factor] = total
    return out


def tier_gap_decomposition(model, products: pd.DataFrame | None = None,
                           owner_hosted_only: bool = False) -> pd.DataFrame:
    """Per tier with served products in both the cn bloc and the us region: the CN/US ratio of
    served-weighted geometric mean prices and its log split into :data:`DRIVERS` (module
    docstring). Columns: step, date, tier, ratio, log_ratio, ``log_<driver>`` (summing to
    log_ratio), ``share_<driver>`` (log_<driver> / log_ratio), the served-weighted arithmetic
    mean prices ``price_cn``, ``price_us`` and their ratio ``ratio_arithmetic``, and the
    served-weighted marginal costs ``cost_cn``, ``cost_us``."""
    frame = product_cost_inputs(model) if products is None else products
    frame = frame[frame["served"] > 0]
    if owner_hosted_only:
        frame = frame[frame["owner_hosted"]]
    rows = []
    for tier in model.tier_names:
        at = frame[frame["tier"] == tier]
        a, b = at[at["bloc"] == "cn"], at[at["region"] == "us"]
        if a.empty or b.empty:
            continue
        ia, ib = np.meshgrid(np.arange(len(a)), np.arange(len(b)), indexing="ij")
        pa, pb = a.iloc[ia.ravel()], b.iloc[ib.ravel()]
        weight = ((a["served"].to_numpy() / a["served"].sum())[ia.ravel()]
                  * (b["served"].to_numpy() / b["served"].sum())[ib.ravel()])
        parts = shapley_log_cost_gap(model, pa, pb)
        parts["margin"] = (np.log(pa["price"].to_numpy() / pa["marginal_cost"].to_numpy())
                           - np.log(pb["price"].to_numpy() / pb["marginal_cost"].to_numpy()))
        log_ratio = float((weight * (np.log(pa["price"].to_numpy())
                                     - np.log(pb["price"].to_numpy()))).sum())
        row = {"step": model.steps, "date": pd.Timestamp(model.date), "tier": tier,
               "ratio": math.exp(log_ratio), "log_ratio": log_ratio}
        for driver in DRIVERS:
            row[f"log_{driver}"] = float((weight * parts[driver]).sum())
        for driver in DRIVERS:
            row[f"share_{driver}"] = (row[f"log_{driver}"] / log_ratio if abs(log_ratio) > 1e-12
                                      else float("nan"))
        row["price_cn"] = float(np.average(a["price"], weights=a["served"]))
        row["price_us"] = float(np.average(b["price"], weights=b["served"]))
        row["ratio_arithmetic"] = row["price_cn"] / row["price_us"]
        row["cost_cn"] = float(np.average(a["marginal_cost"], weights=a["served"]))
        row["cost_us"] = float(np.average(b["marginal_cost"], weights=b["served"]))
        row["served_cn"] = float(a["served"].sum())
        row["served_us"] = float(b["served"].sum())
        row["chips_cn"] = ",".join(sorted(set(a["chip"])))
        row["chips_us"] = ",".join(sorted(set(b["chip"])))
        rows.append(row)
    return pd.DataFrame(rows)


def pooled_gap(gap: pd.DataFrame) -> dict[str, float]:
    """The tiers' decompositions pooled: means of ``log_ratio`` and ``log_<driver>`` weighted by
    each tier's served volume in the two blocs (the parts still sum to the pooled log ratio);
    NaN when no tier has products in both."""
    if gap.empty:
        return {"ratio": float("nan"), "log_ratio": float("nan"),
                **{f"log_{d}": float("nan") for d in DRIVERS}}
    weight = (gap["served_cn"] + gap["served_us"]).to_numpy()
    out = {"log_ratio": float(np.average(gap["log_ratio"], weights=weight))}
    out["ratio"] = math.exp(out["log_ratio"])
    for driver in DRIVERS:
        out[f"log_{driver}"] = float(np.average(gap[f"log_{driver}"], weights=weight))
    return out
