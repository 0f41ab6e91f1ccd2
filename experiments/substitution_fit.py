"""First stage-1 substitution fit on the observed OpenRouter panel (issue #26, item 3).

Fits the v3 substitution parameters (``bulk_alpha_excess``, ``quality_alpha_excess``,
``bulk_class_share``, ``nest_sigma``, ``tier_sigma`` and the family effects) with
:func:`~pricewar.calibrate.substitution.estimate_substitution` (``tokens_by="family"``) on the
pre-registered ``fit`` weeks of the panel that
:func:`~pricewar.calibrate.observed_panel.observed_substitution_panel` builds, and prints the
estimates with standard errors next to market.toml's declared values and docs/calibration.md
C17's ranges. Beside it: a one-class fit (every buyer in the bulk class), and the declared
values themselves with only the family effects fitted (``declared_fixed``: how much worse the
defaults fit the same weeks, by the quasi-log-likelihood).

Then it REPORTS, and never fits or uses to choose anything (preregistration.toml), the held-out
weeks: per week, the observed and predicted token shares of the top families among the families
the fit has an effect for (a family first seen after the split has none and is left out; the
shares are renormalised over the families kept).

market.toml is read, never written: whether an estimate replaces a default is decided elsewhere.

    python experiments/substitution_fit.py [--starts 3] [--top 6] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import time
import tomllib
from importlib import resources

import numpy as np
import pandas as pd

from pricewar.calibrate.observed_panel import observed_substitution_panel
from pricewar.calibrate.substitution import (
    CLASS_PARAMETERS,
    NEST_PARAMETERS,
    estimate_substitution,
    predicted_shares,
)

#: docs/calibration.md C17 (and C6 for nest_sigma): the declared est. ranges
RANGES = {"bulk_alpha_excess": (0.5, 8.0), "quality_alpha_excess": (0.01, 2.0),
          "bulk_class_share": (0.3, 0.9), "nest_sigma": (0.4, 0.95), "tier_sigma": (0.0, 0.8)}


def _toml(name: str) -> dict:
    return tomllib.loads((resources.files("pricewar") / "data" / name).read_text("utf-8"))


def declared() -> tuple[dict[str, float], float, float]:
    """market.toml's values of the five parameters, sectors.toml's eta (one value in every
    sector) and market.toml's price offset p-bar (USD/Mtok)."""
    market = _toml("market.toml")
    values = {name: market["market"][name]["value"] for name in CLASS_PARAMETERS}
    values["tier_sigma"] = market["market"]["tier_sigma"]["value"]
    values["nest_sigma"] = market["demand"]["nest_sigma"]["value"]
    etas = {table["eta"]["value"] for table in _toml("sectors.toml").values()
            if isinstance(table, dict) and "eta" in table}
    if len(etas) != 1:
        raise SystemExit(f"sectors.toml has several eta values {sorted(etas)}: pick one")
    return values, etas.pop(), market["market"]["price_offset_usd_per_mtok"]["value"]


def parameter_table(estimates: dict, values: dict) -> pd.DataFrame:
    rows = []
    for name in (*CLASS_PARAMETERS, *NEST_PARAMETERS):
        row = {"parameter": name, "declared": values[name], "range": RANGES[name]}
        for label, est in estimates.items():
            row[f"{label}"] = getattr(est.parameters, name)
            row[f"{label}_se"] = est.standard_error.get(name, float("nan"))
        rows.append(row)
    return pd.DataFrame(rows).set_index("parameter")


def held_out_comparison(estimate, eta: float, offset: float, top: int) -> pd.DataFrame:
    """Observed vs predicted shares of the top families in each held-out week."""
    held = observed_substitution_panel(roles=("held_out",))
    panel = held.panel
    known = set(estimate.parameters.family_utils)
    kept = panel[panel["family"].isin(known)].reset_index(drop=True)
    share = predicted_shares(kept, estimate.parameters, eta=eta,
                             price_offset_usd_per_mtok=offset, tokens_by="family")
    kept = kept.assign(predicted=share)
    rows = []
    for week, group in kept.groupby("period", sort=True):
        family = group.groupby("family").agg(tokens=("tokens", "sum"),
                                             predicted=("predicted", "first"))
        family["observed"] = family["tokens"] / family["tokens"].sum()
        week_total = held.volume.loc[pd.Timestamp(week), "total"]
        for name, row in family.sort_values("observed", ascending=False).head(top).iterrows():
            rows.append({"week": week, "family": name, "observed": row["observed"],
                         "predicted": row["predicted"],
                         "kept_share_of_week": family["tokens"].sum() / week_total,
                         "families_kept": len(family),
                         "families_dropped": panel.loc[panel["period"] == week, "family"]
                         .loc[lambda f: ~f.isin(known)].nunique()})
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=3, help="optimiser starts per fit")
    parser.add_argument("--top", type=int, default=6, help="families per held-out week")
    parser.add_argument("--json", help="write the numbers to this path")
    args = parser.parse_args()
    values, eta, offset = declared()
    fit = observed_substitution_panel()  # the pre-registered fit weeks only
    panel = fit.panel
    print(f"fit panel: {len(panel)} rows, {panel['period'].nunique()} weeks, "
          f"{panel['market'].nunique()} markets (runs of consecutive weeks), "
          f"{panel['family'].nunique()} families, "
          f"{panel.groupby(['period', 'family']).ngroups} family-weeks; eta {eta}, "
          f"p-bar {offset} USD/Mtok")
    volume = fit.volume[[c for c in fit.volume.columns if c.endswith("_share")]]
    print("\nshare of each fit week's tokens by fate (only 'mapped' is fitted):")
    print(pd.concat([fit.volume["total"] / 1e12, volume], axis=1)
          .rename(columns={"total": "total_T"}).round(3).to_string())
    estimates, seconds = {}, {}
    for label, classes, fixed in (("two_class", 2, None), ("one_class", 1, None),
                                  ("declared_fixed", 2, values)):
        start = time.process_time()
        estimates[label] = estimate_substitution(panel, eta=eta, price_offset_usd_per_mtok=offset,
                                                 classes=classes, fixed=fixed, tokens_by="family",
                                                 starts=args.starts)
        seconds[label] = time.process_time() - start
    table = parameter_table(estimates, values)
    print("\nestimates (SE; NaN = at a bound of its range, or fixed by classes=1):")
    print(table.to_string(float_format=lambda x: f"{x:.4g}"))
    for label, est in estimates.items():
        print(f"{label}: log-lik {est.log_likelihood:.5g}, converged {est.converged}, "
              f"{est.n_rows} rows, {est.n_market_periods} market-periods, "
              f"{seconds[label]:.1f} CPU-s")
    effects = pd.DataFrame({label: pd.Series(est.parameters.family_utils)
                            for label, est in estimates.items()})
    effects["two_class_se"] = [estimates["two_class"].standard_error.get(
        f"family_utils[{f}]", float("nan")) for f in effects.index]
    print("\nfamily effects xi_f (utils, the first family 0):")
    print(effects.round(3).to_string())
    comparison = {label: held_out_comparison(est, eta, offset, args.top)
                  for label, est in estimates.items()}
    print("\nHELD OUT (reported, never fitted): observed vs predicted shares of the top families "
          "among the families with a fitted effect")
    for label, frame in comparison.items():
        print(f"-- {label}")
        print(frame.round(4).to_string(index=False))
        error = (frame["predicted"] - frame["observed"]).abs()
        print(f"   mean |predicted - observed| over these rows: {error.mean():.4f}")
    if args.json:
        out = {"eta": eta, "price_offset_usd_per_mtok": offset,
               "n_rows": int(len(panel)), "n_weeks": int(panel["period"].nunique()),
               "n_families": int(panel["family"].nunique()),
               "volume": fit.volume.reset_index().astype({"week_start": str})
               .to_dict(orient="records"),
               "estimates": {label: {"parameters": est.parameters.as_dict(),
                                     "standard_error": est.standard_error,
                                     "log_likelihood": est.log_likelihood,
                                     "converged": est.converged, "cpu_s": seconds[label]}
                             for label, est in estimates.items()},
               "held_out": {label: frame.to_dict(orient="records")
                            for label, frame in comparison.items()}}
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(out, handle, indent=1, default=lambda x: None if np.isnan(x) else x)


if __name__ == "__main__":
    main()
