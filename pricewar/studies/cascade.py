"""The May 2024 price-cut cascade against the record (docs/results.md "The May 2024 cascade
against the record").

The record (``pricewar/data/cascade_may2024.csv``, sources per row) lists who cut, when and how
deep. The model schedules the *leader's* move -- DeepSeek posting DeepSeek-V2's observed list
price (0.175 USD/Mtok blended) from its first full week -- and leaves every other host to its
strategy; the followers' moves are then compared with the record: who follows, after how many
days, how deep. The counterfactual is the same run (same seed) without the scheduled cut.

Metrics: :func:`follow_metrics` (follow lag and depth per producer after a scheduled cut) and
:func:`lerner_by_weights` (served-weighted Lerner index of open- and closed-weight families).
Bounds: :func:`static_follow_depth` (how far a static best response can follow a rival's cut in
this demand system), :func:`static_follow_room` (that bound for each closed-family product of
a running model) and :func:`kept_customer_value` (what lowers a forward-looking price, ``psi/c``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pricewar.kernel.demand import market_demand
from pricewar.kernel.pricing import own_price_derivative
from pricewar.model import PriceWarModel, phases
from pricewar.scenario import Scenario, load_scenario
from pricewar.scenario.resolve import plain, scenario_from_dict
from pricewar.strategies.forward_looking import ForwardLookingParams, customer_value

RECORD_PATH = Path(__file__).resolve().parents[1] / "data" / "cascade_may2024.csv"
#: the leader's first full week at its launch price: DeepSeek-V2 is released on 2024-05-06
#: (step 18 of a run from 2024-01-01) at the model's entry price and posts the record's price
#: from the next step
CUT_DATE = dt.date(2024, 5, 13)
#: weeks the leader holds the price (DeepSeek kept 1/2 CNY until DeepSeek-V3, Dec 2024)
CUT_WEEKS = 26
#: a producer "follows" when its list price falls this far below the counterfactual's
FOLLOW_THRESHOLD = 0.05
#: steps after the cut in which a follow counts
FOLLOW_WINDOW_STEPS = 8


def load_record(path: Path = RECORD_PATH) -> pd.DataFrame:
    """The May 2024 record: one row per move, with the day it came after the leader's launch."""
    record = pd.read_csv(path, parse_dates=["date"])
    record["lag_days"] = (record["date"] - record["date"].min()).dt.days
    return record


def with_group_strategies(scenario: Scenario, strategies: dict[str, str]) -> Scenario:
    """A copy of ``scenario`` with the strategies of some producer groups replaced."""
    data = plain(dataclasses.asdict(scenario))
    data.pop("origin")
    for group, strategy in strategies.items():
        data["producers"][group]["strategy"] = strategy
    return scenario_from_dict(data, origin=f"{scenario.origin} + strategies")


def follow_metrics(cut_path: np.ndarray, counterfactual_path: np.ndarray, cut_step: int,
                   threshold: float = FOLLOW_THRESHOLD, window: int = FOLLOW_WINDOW_STEPS,
                   step_days: float = 7.0) -> pd.DataFrame:
    """Follow lag and depth per producer after a cut scheduled at ``cut_step``.

    Parameters
    ----------
    cut_path, counterfactual_path : arrays (n_steps, n_producers), list prices (USD/Mtok) at
        steps 1..n_steps of the run with the cut and of the same run without it (same seed)
    cut_step : the step at which the cut is posted (row ``cut_step - 1``)

    Returns
    -------
    DataFrame per producer: ``depth`` (1 - the lowest price ratio in the window: > 0 a cut,
    < 0 a raise), ``follows`` (ratio below ``1 - threshold`` in the window), ``lag_steps``
    (first step after the cut at which it is, NaN if never) and ``lag_days``.
    """
    cut_path = np.asarray(cut_path, float)
    counterfactual_path = np.asarray(counterfactual_path, float)
    rows = slice(cut_step - 1, min(cut_step - 1 + window, cut_path.shape[0]))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = cut_path[rows] / counterfactual_path[rows]
    ratio = np.where(np.isfinite(ratio), ratio, 1.0)
    below = ratio < 1.0 - threshold
    follows = below.any(axis=0)
    lag = np.where(follows, np.argmax(below, axis=0).astype(float), np.nan)
    depth = 1.0 - ratio.min(axis=0)
    return pd.DataFrame({"depth": depth, "follows": follows, "lag_steps": lag,
                         "lag_days": lag * step_days})


def lerner_by_weights(model: PriceWarModel) -> dict[str, float]:
    """Served-weighted Lerner index ``(p - c) / p`` of the products of open- and closed-weight
    families this step (NaN where none is served)."""
    kind = np.where(model.families.open_weights[model.product_family], "open", "closed")
    price, cost, served = model.product_price, model.product_marginal_cost, model.product_served
    with np.errstate(divide="ignore", invalid="ignore"):
        lerner = np.where(price > 0, (price - cost) / price, 0.0)
    out = {}
    for k in ("open", "closed"):
        rows = (kind == k) & (served > 0)
        out[k] = float(np.average(lerner[rows], weights=served[rows])) if rows.any() else np.nan
    return out


def static_follow_depth(alpha, eta, share_before=1.0, share_after=0.0):
    """How far a static best response can follow a rival's price cut (docs/ODD.md §6.4, "How far
    a static best response follows a rival's cut").

    A single-product host of a closed family (its own nest) selling to a market with logit price
    sensitivity ``alpha`` (log price) and isoelastic upper level ``eta`` faces the own-price
    elasticity ``eps(s) = alpha - (alpha - eta) s`` at its share ``s`` of the market, and its
    best response is ``p = c eps / (eps - 1)``. A rival's cut moves only ``s``, so the follower's
    price falls by ``1 - [eps_a/(eps_a - 1)] / [eps_b/(eps_b - 1)]`` (``b``: before, ``a``:
    after). The most it can fall is from the whole market to none of it (the defaults):
    ``1 - alpha (eta - 1) / (eta (alpha - 1))``; 0 at ``alpha = eta`` (a rival's price does not
    enter the host's demand, ``dQ_b/dp_a = Q_b A_a (alpha - eta)``) and negative -- a raise --
    for ``alpha < eta``.

    Parameters
    ----------
    alpha, eta : float or array, > 1 (the log-price best response has no interior optimum at an
        elasticity <= 1)
    share_before, share_after : float or array in [0, 1], the follower's share of the market

    Examples
    --------
    >>> round(static_follow_depth(1.5, 1.2), 4)
    0.5
    >>> float(static_follow_depth(1.2, 1.2))
    0.0
    """
    alpha, eta = np.asarray(alpha, float), np.asarray(eta, float)
    before, after = np.asarray(share_before, float), np.asarray(share_after, float)
    if not (np.all(alpha > 1.0) and np.all(eta > 1.0)):
        raise ValueError(f"alpha and eta must be > 1, got alpha={alpha!r}, eta={eta!r}")
    if not (np.all((before >= 0) & (before <= 1)) and np.all((after >= 0) & (after <= 1))):
        raise ValueError(f"shares must lie in [0, 1], got {before!r} and {after!r}")

    def markup(share):
        eps = alpha - (alpha - eta) * share
        return eps / (eps - 1.0)
    depth = 1.0 - markup(after) / markup(before)
    return depth if depth.ndim else float(depth)


def _product_labels(model: PriceWarModel, products: np.ndarray) -> dict[str, list[str]]:
    """The host group and family name of each of ``products`` (indices into the model's
    product arrays)."""
    return {"group": [model.producers[model.product_producer[k]].group for k in products],
            "family": [model.families.names[model.product_family[k]] for k in products]}


def static_follow_room(model: PriceWarModel) -> pd.DataFrame:
    """Per closed-family product of ``model`` at its current posted prices: the own-price
    elasticity ``eps`` (the kernel's derivative, ``-dQ/dp p/Q``), the price sensitivity of its
    buyers ``alpha_buyers`` (volume-weighted over its routes) and ``room``, the most its static
    best response could fall if a rival's cut took all its share in every market its buyers sit
    in, their mix held: ``1 - [a/(a - 1)] / [eps/(eps - 1)]`` with ``a = alpha_buyers`` (NaN where
    either elasticity is <= 1). The single-market case is :func:`static_follow_depth`; open
    families are left out (their hosts also compete within the family's nest)."""
    market, price = model.market, model.product_price
    demand = market_demand(market, price)
    volume = demand.producer_demand
    with np.errstate(divide="ignore", invalid="ignore"):
        eps = -own_price_derivative(market, demand) * price / volume
    topology = market.topology
    route_alpha = market.consumer_alpha[topology.route_consumer]
    weighted = np.bincount(topology.route_producer, route_alpha * demand.route_demand,
                           minlength=price.size)
    with np.errstate(divide="ignore", invalid="ignore"):
        alpha_buyers = weighted / volume
        room = 1.0 - (alpha_buyers / (alpha_buyers - 1.0)) / (eps / (eps - 1.0))
    room = np.where((eps > 1.0) & (alpha_buyers > 1.0), room, np.nan)
    closed = np.flatnonzero(~model.families.open_weights[model.product_family])
    return pd.DataFrame({
        **_product_labels(model, closed),
        "demand": volume[closed], "eps": eps[closed], "alpha_buyers": alpha_buyers[closed],
        "room": room[closed]})


def kept_customer_value(model: PriceWarModel) -> pd.DataFrame:
    """Per closed-family product of ``model`` at its current list prices: ``psi_over_cost``, the
    value of a kept customer ``psi`` (:func:`pricewar.strategies.forward_looking.customer_value`,
    the scenario's ``forward_looking`` parameters) over marginal cost; a forward-looking host
    prices at ``(c - psi) eps/(eps - 1)``, so ``psi/c`` is how far below the static price it
    goes (docs/ODD.md §6.4). 0 without a customer base or complement weights."""
    view = phases.pricing_view(model.scenario, model.market, model.product_base_price,
                               model.producer_arrays, model.product_arrays, model.families,
                               model.strategy_state, model.steps, model.rng)
    params = view.strategy_params.get("forward_looking", ForwardLookingParams())
    psi = customer_value(view, params)
    closed = np.flatnonzero(~model.families.open_weights[model.product_family])
    cost = model.product_marginal_cost[closed]
    return pd.DataFrame({
        **_product_labels(model, closed),
        "list_price": model.product_base_price[closed],
        "psi_over_cost": np.divide(psi[closed], cost, out=np.zeros(closed.size),
                                   where=cost > 0)})


@dataclass
class CascadeRun:
    """One run: host list prices per step, the hosts' groups, Lerner by weights per step."""

    price: np.ndarray  # (steps, n_producers) list prices, USD/Mtok
    served: np.ndarray  # (steps, n_producers) Mtok/step
    groups: list[str]
    lerner: pd.DataFrame  # step, date, open, closed


def run_path(scenario: Scenario, seed: int, steps: int, n_consumers: int,
             model_class: type[PriceWarModel] = PriceWarModel) -> CascadeRun:
    """Run ``steps`` steps and keep the hosts' list prices and Lerner by weights per step (a
    host that exits keeps its last price; the cascade window is before any exit in practice).
    ``model_class``: a :class:`PriceWarModel` subclass for diagnostics (e.g. without capacity
    limits, ``experiments/cascade_capacity_diagnostic.py``)."""
    model = model_class(scenario, seed=seed, n_consumers=n_consumers)
    groups = [p.group for p in model.producers]
    uid = [p.unique_id for p in model.producers]
    price = np.full((steps, len(uid)), np.nan)
    served = np.zeros((steps, len(uid)))
    lerner = []
    for t in range(steps):
        model.step()
        column = {p.unique_id: k for k, p in enumerate(model.producers)}
        for k, u in enumerate(uid):
            if u in column:
                price[t, k] = model.producer_base_price[column[u]]
                served[t, k] = model.producer_served[column[u]]
        lerner.append({"step": model.steps, "date": model.date, **lerner_by_weights(model)})
    return CascadeRun(price, served, groups, pd.DataFrame(lerner))


def cut_step_of(scenario: Scenario, date: dt.date = CUT_DATE) -> int:
    """The model step whose date is ``date`` (weekly steps from the scenario's start)."""
    start = dt.date.fromisoformat(scenario.start_date)
    return int(round((date - start).days / scenario.step_days))


def cascade(scenario: Scenario | str = "baseline", seed: int = 1, steps: int = 30,
            n_consumers: int = 500, leader: str = "deepseek",
            record: pd.DataFrame | None = None,
            model_class: type[PriceWarModel] = PriceWarModel) -> dict:
    """The scheduled leader's cut and its counterfactual (module docstring); ``model_class`` as
    in :func:`run_path`.

    Returns a dict with ``counterfactual`` and ``cut`` (:class:`CascadeRun`), ``cut_step``,
    ``fraction`` (the leader's cut relative to its counterfactual list price: to the record's
    price), ``follow`` (:func:`follow_metrics` per host group, served-weighted over a group's
    hosts) and ``record``.
    """
    scenario = load_scenario(scenario) if not isinstance(scenario, Scenario) else scenario
    record = load_record() if record is None else record
    target = float(record.loc[record["role"] == "leader", "observed_price_usd_per_mtok"].iloc[0])
    cut_step = cut_step_of(scenario)
    base = run_path(scenario, seed, steps, n_consumers, model_class)
    k = base.groups.index(leader)
    before = base.price[cut_step - 2, k]  # the list price the cut applies to
    fraction = float(np.clip(1.0 - target / before, 0.0, 0.999))
    cut_scenario = scenario.with_events({"kind": "price_cut", "step": cut_step, "group": leader,
                                         "producers": 1, "fraction": fraction,
                                         "duration_steps": CUT_WEEKS})
    cut = run_path(cut_scenario, seed, steps, n_consumers, model_class)
    per_host = follow_metrics(cut.price, base.price, cut_step, step_days=scenario.step_days)
    # days counted, as in the record, from the leader's launch (the cut is posted a week later)
    launch = record.loc[record["role"] == "leader", "date"].iloc[0].date()
    per_host["lag_days"] += (CUT_DATE - launch).days
    per_host["group"] = base.groups
    per_host["served"] = base.served[cut_step - 2]
    return {"counterfactual": base, "cut": cut, "cut_step": cut_step, "fraction": fraction,
            "follow": per_host, "record": record}


def group_follow(per_host: pd.DataFrame) -> pd.DataFrame:
    """Per host group: served-weighted depth, the share of hosts that follow and the median lag
    of those that do (days)."""
    def one(frame: pd.DataFrame) -> pd.Series:
        w = frame["served"].to_numpy()
        w = w if w.sum() > 0 else np.ones(len(frame))
        return pd.Series({"depth": float(np.average(frame["depth"], weights=w)),
                          "follow_share": float(frame["follows"].mean()),
                          "lag_days": float(frame["lag_days"].median())})
    return per_host.groupby("group", sort=False)[["depth", "follows", "lag_days",
                                                 "served"]].apply(one)
