"""Is a host's capacity shadow price bounded by the cost of adding capacity? (issue #25; a
measurement, nothing tuned; docs/ODD.md §6.5).

Runs ``baseline`` on the v3 market with forward-looking hosts (``market_version = 3``,
``producer_strategy = forward_looking``; or a scenario file with ``--scenario``) and, per host
and week, at the investment phase (after the market
cleared, before exit and entry), compares:

- ``lambda``: the host's capacity shadow price (``MarketV3.shadow_by_host``, USD per GPU-second of
  the host's fleet that its load uses; capacity is ``GPUs x step seconds x max utilisation``
  and a product uses ``1e6 / tps`` of it per Mtok, ``tps`` the fleet-mean decode rate) as the
  value of one installed GPU-hour of the host's best buyable chip::

      value = lambda x 3600 x max_utilisation x tps_new / tps_fleet      (USD per GPU-hour)

  with ``tps_new``, ``tps_fleet`` the decode rates of the host's main family on its best chip
  and on its fleet (the conversion the investment rule uses, pricewar/model/investment.py);
- (i) the full cost of a new GPU-hour of that chip at the host's site: capital recovery at the
  host's WACC + fixed opex + energy at full draw
  (:func:`pricewar.supply.rental_market.owner_costs`, ``reference``);
- (ii) the rent ceiling: floor + capex / payback hours (``ceiling``; a renter buys above it).

Reports, over binding host-weeks (``lambda > 0``): the share with ``value`` above each, the
longest spell above (consecutive weeks, per host) against ``investment_lag_steps``, and what
those host-weeks had: orders in the pipeline, orders wanted by the rule, orders cut by the
regional power cap, by chip supply, or none possible (``best_chip_buyable`` false: export
controls).

    nice -n 5 python experiments/shadow_price_bound.py [--scenario NAME_OR_PATH] [--seeds 1 2 3]
        [--consumers 300] [--steps 156] [--price-rule-only]

``--price-rule-only`` runs without the v3 rule that orders on the shadow price (the model as
before issue #25's bound: orders only where the posted price covers the full cost of new
capacity by the margin and load presses on capacity).
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict

import numpy as np

from pricewar.model import investment
from pricewar.model.phases import years_between
from pricewar.model.price_war_model import PriceWarModel
from pricewar.supply import dynamics

#: the default run: baseline on the v3 market, every host forward-looking
DEFAULT_OVERRIDES = {"market_version": 3, "producer_strategy": "forward_looking"}


class _LimitRecorder:
    """Records the orders before and after each ``limit_by_group`` call of one invest phase
    (the first call is the regional power cap, the second chip supply), and the inputs of the
    price-based rule (:func:`~pricewar.supply.dynamics.investment_orders`)."""

    def __init__(self):
        self.calls: list[tuple[np.ndarray, np.ndarray]] = []
        self.kwargs: dict | None = None
        self._limit = dynamics.limit_by_group
        self._orders = dynamics.investment_orders

    def limit_by_group(self, orders, *args, **kwargs):
        out = self._limit(orders, *args, **kwargs)
        self.calls.append((np.array(orders, dtype=float), np.array(out, dtype=float)))
        return out

    def investment_orders(self, **kwargs):
        self.kwargs = kwargs
        return self._orders(**kwargs)

    def failed_tests(self, n: int) -> dict[str, np.ndarray]:
        """Per host, which test of the investment rule failed (pressure, margin, capacity gap)."""
        k = self.kwargs
        if k is None:
            return {key: np.zeros(n, dtype=bool) for key in ("low_pressure", "low_margin", "no_gap")}
        with np.errstate(divide="ignore", invalid="ignore"):
            pressure = np.where(k["capacity"] > 0, k["demand"] / k["capacity"], np.inf)
            margin = (k["price"] - k["new_unit_cost"]) / k["price"]
        forecast = k["demand"] * (1.0 + np.maximum(k["growth_forecast"], 0.0)) ** k["lag_steps"]
        gap = forecast / k["target_load"] - k["capacity"] - k["pipeline"]
        return {"low_pressure": ~(pressure >= k["pressure_threshold"]),
                "low_margin": ~(margin >= k["min_margin"]), "no_gap": ~(gap > 0)}

    def install(self):
        dynamics.limit_by_group = self.limit_by_group
        dynamics.investment_orders = self.investment_orders

    def uninstall(self):
        dynamics.limit_by_group = self._limit
        dynamics.investment_orders = self._orders


def host_week_rows(model: PriceWarModel) -> dict[str, np.ndarray]:
    """Per host, this step's shadow price as the value of a new best-chip GPU-hour and the costs
    it is compared with (read at the investment phase)."""
    s, producers, products = model.scenario, model.producer_arrays, model.product_arrays
    uid = model._host_uid()
    market = model.market_v3
    lam = market.shadow_by_host(uid)
    _, fleet_tps, new_tps = investment.fleet_and_new_rates(
        model.supply, s, model.date, model.regions, model.families, producers, products)
    costs = investment.new_gpu_hour_costs(s, model.supply, model.date, model.regions, producers)
    value = investment.usd_per_new_gpu_hour(lam, s.costs.max_utilisation, fleet_tps, new_tps)
    return {"uid": uid, "lambda_usd_per_gpu_s": lam, "value_usd_per_gpu_hour": value,
            "full_cost_usd_per_gpu_hour": np.asarray(costs.reference_usd_per_gpu_hour),
            "ceiling_usd_per_gpu_hour": np.asarray(costs.ceiling_usd_per_gpu_hour),
            "pipeline_gpus": producers.pipeline_gpus.copy(),
            "buyable": producers.best_chip_buyable.copy(),
            "region": np.array(model.region_names)[producers.region],
            "group": np.asarray(producers.group).astype(str)}


def run(scenario: str, seed: int, consumers: int, steps: int, price_rule_only: bool = False
        ) -> tuple[list[dict[str, np.ndarray]], int]:
    """One run's host-week rows (one dict of arrays per step) and its investment lag (steps)."""
    overrides = DEFAULT_OVERRIDES if scenario == "baseline" else {}
    model = PriceWarModel(scenario, seed=seed, n_consumers=consumers, steps=steps, **overrides)
    if price_rule_only:
        model._invest = _without_shadow(model)
    recorder = _LimitRecorder()
    weeks: list[dict[str, np.ndarray]] = []
    invest = model._invest

    def recorded_invest():
        rows = host_week_rows(model)
        recorder.calls, recorder.kwargs = [], None
        recorder.install()
        try:
            invest()
        finally:
            recorder.uninstall()
        n = rows["uid"].size
        # the orders before the limits: the power cap's input (none when nobody ordered)
        wanted = recorder.calls[0][0] if recorder.calls else np.zeros(n)
        power_cut = chip_cut = np.zeros(n, dtype=bool)
        if len(recorder.calls) >= 1:
            before, after = recorder.calls[0]
            power_cut = after < before * (1.0 - 1e-9)
        if len(recorder.calls) >= 2:
            before, after = recorder.calls[1]
            chip_cut = after < before * (1.0 - 1e-9)
        rows.update(wanted=wanted > 0, power_cut=power_cut, chip_cut=chip_cut,
                    **recorder.failed_tests(n))
        weeks.append(rows)

    model._invest = recorded_invest
    for _ in range(steps):
        model.step()
    return weeks, model.scenario.dynamics.investment_lag_steps


def _without_shadow(model: PriceWarModel):
    """The model's investment phase without the shadow prices (the price-based rule only)."""
    def invest():
        years = years_between(model.start_date, model.date)
        model.orders_gpus_this_step = investment.invest(
            model.scenario, model.supply, model.steps, years, model.date, model.regions,
            model.families, model.fleet, model.producer_arrays, model.product_arrays, None)
    return invest


def longest_spells(weeks: list[dict[str, np.ndarray]], above_key: str,
                   unblocked: bool = False) -> dict[int, int]:
    """Per host uid, the longest run of consecutive weeks with ``value > above_key`` (with
    ``unblocked``: and no order cut by power or chip supply, and the best chip buyable)."""
    current: dict[int, int] = defaultdict(int)
    longest: dict[int, int] = defaultdict(int)
    for rows in weeks:
        above = rows["value_usd_per_gpu_hour"] > rows[above_key]
        if unblocked:
            above &= ~_blocked(rows)
        seen = set()
        for uid, a in zip(rows["uid"].tolist(), above.tolist(), strict=True):
            seen.add(uid)
            current[uid] = current[uid] + 1 if a else 0
            longest[uid] = max(longest[uid], current[uid])
        for uid in set(current) - seen:  # exited hosts
            current[uid] = 0
    return dict(longest)


def _blocked(rows: dict[str, np.ndarray]) -> np.ndarray:
    """Host-weeks whose orders the power cap or chip supply cut, or that may buy no chip."""
    return rows["power_cut"] | rows["chip_cut"] | ~rows["buyable"]


def summary(weeks: list[dict[str, np.ndarray]], lag: int) -> dict:
    rows = {k: np.concatenate([w[k] for w in weeks]) for k in weeks[0]}
    binding = rows["lambda_usd_per_gpu_s"] > 0
    out = {"host_weeks": int(binding.size), "binding": int(binding.sum())}
    for name, key in (("full_cost", "full_cost_usd_per_gpu_hour"),
                      ("ceiling", "ceiling_usd_per_gpu_hour")):
        above = binding & (rows["value_usd_per_gpu_hour"] > rows[key])
        spells = longest_spells(weeks, key)
        long_hosts = [u for u, w in spells.items() if w > lag]
        free_spells = longest_spells(weeks, key, unblocked=True)
        free_long = [u for u, w in free_spells.items() if w > lag]
        group_of = dict(zip(rows["uid"].tolist(), rows["group"].tolist(), strict=True))
        out[name] = {
            "above": int(above.sum()),
            "share_of_binding": float(above.sum() / max(binding.sum(), 1)),
            "longest_spell_weeks": max(spells.values(), default=0),
            "hosts_with_spell_over_lag": len(long_hosts),
            "spells_over_lag": sorted(((group_of[u], spells[u]) for u in long_hosts),
                                      key=lambda x: -x[1]),
            "longest_unblocked_spell_weeks": max(free_spells.values(), default=0),
            "unblocked_spells_over_lag": sorted(((group_of[u], free_spells[u]) for u in free_long),
                                                key=lambda x: -x[1]),
            "blocked": int((above & _blocked(rows)).sum()),
            "with_pipeline": int((above & (rows["pipeline_gpus"] > 0)).sum()),
            "orders_wanted": int((above & rows["wanted"]).sum()),
            "low_pressure": int((above & rows["low_pressure"]).sum()),
            "low_margin": int((above & rows["low_margin"]).sum()),
            "no_gap": int((above & rows["no_gap"]).sum()),
            "power_cut": int((above & rows["power_cut"]).sum()),
            "chip_supply_cut": int((above & rows["chip_cut"]).sum()),
            "not_buyable": int((above & ~rows["buyable"]).sum()),
            "regions": {str(r): int((above & (rows["region"] == r)).sum())
                        for r in np.unique(rows["region"][above])},
            "median_ratio": float(np.median(rows["value_usd_per_gpu_hour"][above] / rows[key][above]))
            if above.any() else None,
        }
    b = binding
    out["median_value_binding_usd_per_gpu_hour"] = (
        float(np.median(rows["value_usd_per_gpu_hour"][b])) if b.any() else None)
    out["median_full_cost_usd_per_gpu_hour"] = float(np.median(rows["full_cost_usd_per_gpu_hour"]))
    out["median_ceiling_usd_per_gpu_hour"] = float(np.median(rows["ceiling_usd_per_gpu_hour"]))
    return out


def print_table(results: dict[int, dict], lag: int) -> None:
    print(f"investment_lag_steps = {lag}")
    head = (f"{'seed':>4} {'bound':>9} {'hw':>6} {'bind':>5} {'above':>5} {'share':>6} "
            f"{'spell':>5} {'h>lag':>5} {'pipe':>5} {'wants':>5} {'power':>5} {'chips':>5} "
            f"{'noexp':>5} {'lowP':>5} {'lowM':>5} {'nogap':>5} {'med.ratio':>9}  regions")
    print(head)
    for seed, out in results.items():
        for name in ("full_cost", "ceiling"):
            r = out[name]
            ratio = "-" if r["median_ratio"] is None else f"{r['median_ratio']:.2f}"
            print(f"{seed:>4} {name:>9} {out['host_weeks']:>6} {out['binding']:>5} "
                  f"{r['above']:>5} {r['share_of_binding']:>6.3f} {r['longest_spell_weeks']:>5} "
                  f"{r['hosts_with_spell_over_lag']:>5} {r['with_pipeline']:>5} "
                  f"{r['orders_wanted']:>5} {r['power_cut']:>5} {r['chip_supply_cut']:>5} "
                  f"{r['not_buyable']:>5} {r['low_pressure']:>5} {r['low_margin']:>5} "
                  f"{r['no_gap']:>5} {ratio:>9}  {r['regions']}")
            print(f"     spells over the lag (host group, weeks): {r['spells_over_lag']}")
            print(f"     blocked host-weeks above: {r['blocked']}; longest spell without a blocked "
                  f"week: {r['longest_unblocked_spell_weeks']}, over the lag: "
                  f"{r['unblocked_spells_over_lag']}")
        print(f"     medians (USD/GPU-h): value on binding host-weeks "
              f"{out['median_value_binding_usd_per_gpu_hour']}, full cost "
              f"{out['median_full_cost_usd_per_gpu_hour']:.3f}, ceiling "
              f"{out['median_ceiling_usd_per_gpu_hour']:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", default="baseline",
                        help="baseline (run at market v3, forward-looking) or a v3 scenario")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--consumers", type=int, default=300)
    parser.add_argument("--steps", type=int, default=156)
    parser.add_argument("--price-rule-only", action="store_true")
    args = parser.parse_args()
    results = {}
    lag = None
    for seed in args.seeds:
        start = time.process_time()
        weeks, lag = run(args.scenario, seed, args.consumers, args.steps, args.price_rule_only)
        results[seed] = summary(weeks, lag)
        print(f"# seed {seed}: {time.process_time() - start:.0f} s CPU", flush=True)
    print_table(results, lag)


if __name__ == "__main__":
    main()
