"""Experiment on export controls: the penalty and the lag as two independent levers, and the
chip-availability regimes, read through the CN/US price decomposition of
:mod:`pricewar.studies.regional_gap`.

Levers (docs/ODD.md §6.1b): ``export_control_penalty`` divides the decode rate of cohorts in the
controlled bloc by ``1 + penalty`` (a counterfactual on top of the availability data, default 0);
``export_control_lag_years`` delays every availability window of the controlled bloc (default 0);
``chip_regime`` is "historical" (the availability data), "no_controls" (every bloc buys every chip
from its release) or "full_ban" (the controlled bloc buys only its domestic chips).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from pricewar.model import PriceWarModel
from pricewar.runs.harness import (
    DEFAULT_SCENARIO,
    ExperimentResult,
    experiment_mode,
    figure_note,
    json_ready,
    paired_interval,
    run_points,
    scenario_fields,
    write_table,
)
from pricewar.studies import gap_plots
from pricewar.studies.costs import GAP_CONSUMERS
from pricewar.studies.regional_gap import (
    DRIVERS,
    pooled_gap,
    product_cost_inputs,
    tier_gap_decomposition,
)

log = logging.getLogger(__name__)


def _controls_observer(model: PriceWarModel) -> dict:
    m = model.metrics
    products = product_cost_inputs(model)
    pooled = pooled_gap(tier_gap_decomposition(model, products))
    cn = products[(products["bloc"] == "cn") & (products["served"] > 0)]
    cn_volume = m["throughput_cn_west"] + m["throughput_cn_east"]
    cn_cost = ((m["unit_cost_cn_west"] * m["throughput_cn_west"]
                + m["unit_cost_cn_east"] * m["throughput_cn_east"]) / cn_volume
               if cn_volume > 0 else float("nan"))
    return {"share_cn": m["share_cn_west"] + m["share_cn_east"],
            "share_cn_west": m["share_cn_west"], "price_avg": m["price_avg"],
            "cn_us_cost_ratio": cn_cost / m["unit_cost_us"],
            "cn_chips": ",".join(sorted(set(cn["chip"]))),
            "gap_ratio": pooled["ratio"], "gap_log_ratio": pooled["log_ratio"],
            **{f"gap_log_{d}": pooled[f"log_{d}"] for d in DRIVERS}}


def lever_points(quick: bool) -> list[dict]:
    """The design: the penalty alone (lag 0), the lag alone (penalty 0), both together, and the
    chip regimes without either lever."""
    penalties = (0.0, 0.5) if quick else (0.0, 0.25, 0.5, 1.0)
    lags = (2.0,) if quick else (1.0, 2.0, 3.0)
    points = [{"design": "penalty", "chip_regime": "historical", "export_control_penalty": p,
               "export_control_lag_years": 0.0} for p in penalties]
    points += [{"design": "lag", "chip_regime": "historical", "export_control_penalty": 0.0,
                "export_control_lag_years": lag} for lag in lags]
    points.append({"design": "both", "chip_regime": "historical", "export_control_penalty": 0.5,
                   "export_control_lag_years": 2.0})
    points += [{"design": "regime", "chip_regime": regime, "export_control_penalty": 0.0,
                "export_control_lag_years": 0.0} for regime in ("no_controls", "full_ban")]
    return points


#: the lever columns of a design point
LEVERS = ["chip_regime", "export_control_penalty", "export_control_lag_years"]


def export_controls(out_dir: Path, quick: bool = False, seeds: Sequence[int] | None = None,
                    progress: bool = True, scenario: str = DEFAULT_SCENARIO,
                    draws: Sequence[tuple[int, dict]] | None = None, draws_file=None
                    ) -> ExperimentResult:
    """How much do the export-control penalty, the lag and the chip regime widen the CN/US gap?

    With ``draws`` every lever setting runs at every draw x seed: the bars are means over those
    runs (the drivers' log contributions add up to the mean total), the total carries its 90%
    interval, and the headline's log effects are also given as paired differences on common
    draws and seeds (``..._paired``: median, q05, q95)."""
    seeds, n_consumers = experiment_mode(quick, seeds, (1,), (1,))
    n_consumers = min(n_consumers, GAP_CONSUMERS // 2)
    at_steps = (26, 52) if quick else (52, 104)
    points = lever_points(quick)
    levers = [{k: v for k, v in p.items() if k != "design"} for p in points]
    table = run_points(levers, seeds, max(at_steps), _controls_observer, at_steps,
                       fixed={"n_consumers": n_consumers}, scenario=scenario,
                       progress=progress, desc="export_controls", draws=draws)
    design = {(p["chip_regime"], p["export_control_penalty"], p["export_control_lag_years"]):
              p["design"] for p in points}
    table.insert(0, "design", [design[k] for k in zip(
        table["chip_regime"], table["export_control_penalty"], table["export_control_lag_years"],
        strict=True)])
    means = table.groupby(["design", "chip_regime", "export_control_penalty",
                           "export_control_lag_years", "step"], as_index=False).agg(
        date=("date", "first"), share_cn=("share_cn", "mean"),
        cn_us_cost_ratio=("cn_us_cost_ratio", "mean"), gap_log_ratio=("gap_log_ratio", "mean"),
        **{f"gap_log_{d}": (f"gap_log_{d}", "mean") for d in DRIVERS})
    means["gap_ratio"] = np.exp(means["gap_log_ratio"])
    if draws:  # the total's 90% interval over draws x seeds
        grouped = table.groupby(["design", *LEVERS, "step"])["gap_log_ratio"]
        means["gap_log_ratio_q05"] = grouped.quantile(0.05).to_numpy()
        means["gap_log_ratio_q95"] = grouped.quantile(0.95).to_numpy()
    headline: dict = {**scenario_fields(scenario), "mode": "quick" if quick else "full",
                      "seeds": list(seeds), "n_consumers": n_consumers, "dates": {}}
    for step, at in means.groupby("step"):
        historical = at[(at["chip_regime"] == "historical")
                        & (at["export_control_penalty"] == 0)
                        & (at["export_control_lag_years"] == 0)].iloc[0]

        def row(regime="historical", penalty=0.0, lag=0.0, at=at):
            hit = at[(at["chip_regime"] == regime) & (at["export_control_penalty"] == penalty)
                     & (at["export_control_lag_years"] == lag)]
            return hit.iloc[0] if len(hit) else None

        def effect(r, base=historical):
            return None if r is None else float(r["gap_log_ratio"] - base["gap_log_ratio"])

        penalty_rows = at[at["design"].isin(["penalty"])].sort_values("export_control_penalty")
        lag_rows = at[(at["chip_regime"] == "historical") & (at["export_control_penalty"] == 0)
                      ].sort_values("export_control_lag_years")
        both = row(penalty=0.5, lag=2.0)
        date = pd.Timestamp(at["date"].iloc[0]).strftime("%Y-%m")
        headline["dates"][date] = {
            "step": int(step),
            "cn_us_price_ratio_historical": float(historical["gap_ratio"]),
            "cn_us_price_ratio_by_penalty": {f"{p:g}": float(r) for p, r in zip(
                penalty_rows["export_control_penalty"], penalty_rows["gap_ratio"], strict=True)},
            "cn_us_price_ratio_by_lag_years": {f"{lag:g}": float(r) for lag, r in zip(
                lag_rows["export_control_lag_years"], lag_rows["gap_ratio"], strict=True)},
            "cn_us_cost_ratio_by_penalty": {f"{p:g}": float(r) for p, r in zip(
                penalty_rows["export_control_penalty"], penalty_rows["cn_us_cost_ratio"],
                strict=True)},
            "chip_factor_by_penalty": {f"{p:g}": float(np.exp(r)) for p, r in zip(
                penalty_rows["export_control_penalty"], penalty_rows["gap_log_chip"],
                strict=True)},
            "cn_share_by_penalty": {f"{p:g}": float(r) for p, r in zip(
                penalty_rows["export_control_penalty"], penalty_rows["share_cn"], strict=True)},
            "cn_share_by_lag_years": {f"{lag:g}": float(r) for lag, r in zip(
                lag_rows["export_control_lag_years"], lag_rows["share_cn"], strict=True)},
            # log effects on the CN/US price ratio: alone and together (interaction = the rest)
            "log_effect_penalty_0.5": effect(row(penalty=0.5)),
            "log_effect_lag_2": effect(row(lag=2.0)),
            "log_effect_both": effect(both),
            "log_interaction": (None if both is None else effect(both) - effect(row(penalty=0.5))
                                - effect(row(lag=2.0))),
            "cn_us_price_ratio_by_regime": {
                regime: float(row(regime)["gap_ratio"]) for regime in
                ("no_controls", "historical", "full_ban")},
            "cn_share_by_regime": {regime: float(row(regime)["share_cn"]) for regime in
                                   ("no_controls", "historical", "full_ban")},
            "chip_factor_by_regime": {regime: float(np.exp(row(regime)["gap_log_chip"]))
                                      for regime in ("no_controls", "historical", "full_ban")},
        }
        if draws:  # each lever's log effect within each draw and seed
            runs = table[table["step"] == step]
            base = {"chip_regime": "historical", "export_control_penalty": 0.0,
                    "export_control_lag_years": 0.0}

            def paired(runs=runs, base=base, **setting):
                return paired_interval(runs, LEVERS, "gap_log_ratio", base,
                                       {**base, **setting})

            headline["dates"][date].update({
                "log_effect_penalty_0.5_paired": paired(export_control_penalty=0.5),
                "log_effect_lag_2_paired": paired(export_control_lag_years=2.0),
                "log_effect_both_paired": paired(export_control_penalty=0.5,
                                                 export_control_lag_years=2.0),
                "log_effect_by_regime_paired": {regime: paired(chip_regime=regime)
                                                for regime in ("no_controls", "full_ban")}})
    if draws:  # the values above are means over draws x seeds
        headline.update(band=f"mean and 90% interval over {len(draws)} draws x {len(seeds)} "
                             f"seeds", draws=[d for d, _ in draws], draws_file=str(draws_file))
    files = [write_table(table, out_dir, "export_controls")]
    note = figure_note(quick, seeds, n_consumers, "export_controls",
                       "chip availability by bloc: US BIS interim final rules (Oct 2022, 17 Oct "
                       "2023), H20 licence changes 2025, see docs/calibration.md C13; penalty: CN cohorts' "
                       "decode rate / (1 + penalty) (counterfactual, baseline 0); lag: CN "
                       "availability windows start later. Bars: the CN/US price ratio's log split "
                       "into drivers (tiers pooled by served volume).",
                       scenario=scenario, draws=draws, draws_file=draws_file,
                       draws_bands="bars and markers: means; whiskers: 90% interval of the "
                                   "total")
    files += gap_plots.plot_export_controls(
        means, out_dir, note,
        legend_title=(f"mean over {len(draws)} draws x {len(seeds)} seeds; whiskers: 90% "
                      f"interval of the total") if draws else None)
    return ExperimentResult("export_controls", json_ready(headline), table, files)
