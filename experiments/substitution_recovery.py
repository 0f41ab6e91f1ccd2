"""Does the stage-1 substitution estimator recover known parameters, and do its standard errors
cover them?

Draws synthetic panels (:func:`pricewar.calibrate.substitution.synthetic_panel`: 2 markets x 20
weekly periods x 4 families in 2 tiers x 3 hosts, 20,000 buyers per market-period, cost shifters,
price endogeneity) from known parameters, fits each with
:func:`~pricewar.calibrate.substitution.estimate_substitution`, and prints one JSON object: per
parameter the errors, the median standard error, and the coverage of the 95% (+-1.96 SE) and
+-3 SE intervals over the fits that give one (``at_bound`` counts the others). Cases:

- ``default``: market.toml's values (docs/calibration.md C17) with family effects and control
  function, over ``--replications`` seeds;
- ``box``: true values drawn uniformly from the declared est. ranges (C17; sigma_tier <=
  sigma_family), one panel per draw, also split by whether the classes' ``alpha_c - eta`` are at
  least 1.5 apart;
- ``inertia``: one class, committed customers reviewing with hazard 0.05 per week: the stock of
  tokens (``tokens``) against the shoppers' flow (``shopper_tokens``).

    python experiments/substitution_recovery.py [--replications 50] [--seed 0] [--csv PATH]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import pandas as pd

from pricewar.calibrate.substitution import (
    SubstitutionParameters,
    estimate_substitution,
    synthetic_panel,
)

#: sectors.toml eta and market.toml [market] price_offset_usd_per_mtok (docs/calibration.md C6,
#: C17)
ETA = 1.2
PRICE_OFFSET_USD_PER_MTOK = 0.01
DEFAULT = SubstitutionParameters(bulk_alpha_excess=2.0, quality_alpha_excess=0.2,
                                 bulk_class_share=0.6, nest_sigma=0.875, tier_sigma=0.5,
                                 family_utils={"f1": 0.5, "f2": -0.3, "f3": 1.0},
                                 control_utils=1.0)
FOCUS = ("bulk_alpha_excess", "quality_alpha_excess", "bulk_class_share", "nest_sigma",
         "tier_sigma", "control_utils")


def draw_box(rng: np.random.Generator) -> SubstitutionParameters:
    """True values uniform over docs/calibration.md C17's est. ranges."""
    quality = rng.uniform(0.01, 2.0)
    nest = rng.uniform(0.4, 0.95)
    return SubstitutionParameters(
        bulk_alpha_excess=rng.uniform(max(0.5, quality), 8.0), quality_alpha_excess=quality,
        bulk_class_share=rng.uniform(0.3, 0.9), nest_sigma=nest,
        tier_sigma=rng.uniform(0.0, min(0.8, nest)),
        family_utils={f"f{i}": rng.normal(0.0, 1.0) for i in range(1, 4)},
        control_utils=rng.uniform(0.0, 2.0))


def fit_row(truth: SubstitutionParameters, seed: int, **panel_options) -> list[dict]:
    panel = synthetic_panel(truth, eta=ETA, price_offset_usd_per_mtok=PRICE_OFFSET_USD_PER_MTOK,
                            seed=seed, **panel_options)
    est = estimate_substitution(panel, eta=ETA,
                                price_offset_usd_per_mtok=PRICE_OFFSET_USD_PER_MTOK, seed=seed)
    true, found = truth.as_dict(), est.parameters.as_dict()
    return [{"seed": seed, "parameter": name, "true": true[name], "estimate": found[name],
             "se": est.standard_error[name], "converged": est.converged}
            for name in FOCUS]


def coverage(table: pd.DataFrame) -> dict:
    """Per parameter: estimates, errors and coverage over the fits whose standard error exists
    (``at_bound``: fits that put the parameter at a bound of its range, standard error NaN)."""
    z = (table["estimate"] - table["true"]).abs() / table["se"]
    table = table.assign(z=z, error=table["estimate"] - table["true"])
    out = {}
    for name, part in table.groupby("parameter", sort=False):
        inner = part[np.isfinite(part["se"])]
        out[name] = {"mean_true": round(float(part["true"].mean()), 4),
                     "mean_error": round(float(part["error"].mean()), 4),
                     "median_abs_error": round(float(part["error"].abs().median()), 4),
                     "sd_error": round(float(part["error"].std()), 4),
                     "median_se": round(float(inner["se"].median()), 4),
                     "at_bound": int(len(part) - len(inner)),
                     "cover_95": round(float((inner["z"] <= 1.96).mean()), 3),
                     "cover_3se": round(float((inner["z"] <= 3.0).mean()), 3)}
    return out


def separated(table: pd.DataFrame, gap: float = 1.5) -> pd.Series:
    """Per row: whether its draw's classes are at least ``gap`` apart in ``alpha_c - eta``."""
    true = table.pivot(index="seed", columns="parameter", values="true")
    apart = (true["bulk_alpha_excess"] - true["quality_alpha_excess"]) >= gap
    return table["seed"].map(apart)


def inertia(seed: int) -> dict:
    truth = SubstitutionParameters(bulk_alpha_excess=2.0, quality_alpha_excess=1.0,
                                   bulk_class_share=1.0, nest_sigma=0.6, tier_sigma=0.3)
    panel = synthetic_panel(truth, eta=ETA, price_offset_usd_per_mtok=PRICE_OFFSET_USD_PER_MTOK,
                            review_hazard=0.05, seed=seed).drop(columns="cost_shifter_rent")
    out = {}
    for column in ("tokens", "shopper_tokens"):
        est = estimate_substitution(panel, eta=ETA, classes=1, tokens_column=column,
                                    price_offset_usd_per_mtok=PRICE_OFFSET_USD_PER_MTOK)
        out[column] = {"bulk_alpha_excess": round(est.parameters.bulk_alpha_excess, 4),
                       "se": round(est.standard_error["bulk_alpha_excess"], 4)}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--replications", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--csv", help="write every fit's estimates to this CSV file")
    args = parser.parse_args(argv)
    start = time.process_time()
    rng = np.random.default_rng(args.seed)
    seeds = range(args.seed, args.seed + args.replications)
    default = pd.DataFrame([row for s in seeds for row in fit_row(DEFAULT, s)])
    box = pd.DataFrame([row for s in seeds for row in fit_row(draw_box(rng), s)])
    if args.csv:
        pd.concat([default.assign(case="default"), box.assign(case="box")]).to_csv(
            args.csv, index=False)
    apart = separated(box)
    print(json.dumps({"default": coverage(default), "box": coverage(box),
                      "box_classes_1.5_apart": coverage(box[apart]),
                      "box_classes_closer": coverage(box[~apart]),
                      "default_converged": float(default["converged"].mean()),
                      "box_converged": float(box["converged"].mean()),
                      "inertia_h0.05": inertia(args.seed),
                      "replications": args.replications,
                      "cpu_s": round(time.process_time() - start, 1)}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
