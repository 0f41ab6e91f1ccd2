"""What does a token cost to serve on each chip a region can run? Supply v2 at a glance:
serving throughput, energy per token and the marginal cost split of a few model families on the
chips of each region, at 2024-06 and 2025-06 (and CN-West after the Nov 2025 power subsidy), from
the shipped catalogue (pricewar/data/chips.toml, families.toml, rental.toml, regions.toml).

Writes figures/supply_table.csv, .png and .svg (``--out DIR`` elsewhere) and prints the table.

Columns: decoded tokens/s per GPU, marginal J/token (GPU board), marginal cost per Mtok of output
tokens split into energy and capacity (GPU-hour rental / tokens per hour), the marginal cost of a
3:1 input:output mix (prefill ~5x faster per GPU than decode, DeepSeek Mar 2025), and the full cost
of new capacity (capital recovery, fixed opex and idle power at the planned utilisation).
``buy``: "yes" if the region's bloc can buy the chip at the date; "no" for an installed fleet
valued at its rental rate. Only families live at the date are shown.

Electricity: the region table (CN-West 0.080 USD/kWh all-in before the 30% subsidy for domestic
chips, which lands it at the Financial Times' ~0.056 USD/kWh, Nov 2025).

    python experiments/supply_table.py
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from pricewar.plotting.style import new_figure, region_label, save_figure
from pricewar.plotting.ticks import dollar_axis
from pricewar.scenario.catalogue import load_catalogue
from pricewar.scenario.data_files import data_dir, read_toml
from pricewar.supply.chip_access import available_under
from pricewar.supply.cohort_costs import Site, SupplyCosts
from pricewar.supply.families import live_families
from pricewar.supply.serving import blended_tokens_per_s

FAMILIES = ("deepseek_v2", "deepseek_v3", "qwen2_5", "llama_3_1_405b", "gemini_1_5_flash", "gpt_4o")
CHIPS = {"western": ("H100", "H200", "B200"), "cn": ("H800", "H20", "Ascend910B", "Ascend910C")}
REGIONS = ("us", "eu", "cn_east", "cn_west")
DATES = (dt.date(2024, 6, 1), dt.date(2025, 6, 1))
INPUT_SHARE = 0.75  # the 3:1 input:output mix of blended list prices (Epoch AI, Artificial Analysis)


def sites() -> dict[str, Site]:
    regions = read_toml(data_dir() / "regions.toml")
    out = {}
    for name in REGIONS:
        r = regions[name]
        out[name] = Site(r["bloc"], r["electricity_usd_per_kwh"]["value"], r["pue"]["value"],
                         r["facility_usd_per_w"]["value"],
                         r["carbon_kg_per_kwh"]["value"])
    return out


def rows(supply: SupplyCosts, date: dt.date, region: str, site: Site,
         families: tuple[str, ...] = FAMILIES) -> list[tuple]:
    catalogue = supply.catalogue
    buyable = dict(zip(catalogue.chips, available_under(catalogue, site.bloc, date,
                                                        catalogue.policy), strict=True))
    out = []
    live = dict(zip(catalogue.families, live_families(catalogue, date), strict=True))
    for family in families:
        if not live[family]:
            continue
        for chip in CHIPS[site.bloc]:
            k = supply.costs(chip, family, date, site)
            blend = (k.tokens_per_s / blended_tokens_per_s(
                k.tokens_per_s, INPUT_SHARE, catalogue.serving.prefill_to_decode_ratio))
            out.append((str(date), region, family, chip, "yes" if buyable[chip] else "no",
                        float(k.tokens_per_s), float(k.energy_j_per_token),
                        float(k.energy_usd_per_mtok), float(k.capacity_usd_per_mtok),
                        float(k.marginal_usd_per_mtok), float(k.marginal_usd_per_mtok * blend),
                        float(k.full_usd_per_mtok)))
    return out


def print_table(table: list[tuple]) -> None:
    print(f"{'date':10} {'region':8} {'family':15} {'chip':10} {'buy':3} {'tok/s':>6} "
          f"{'J/tok':>5} {'energy':>7} {'capac.':>6} {'marg.':>6} {'m 3:1':>6} {'full':>6}")
    for r in table:
        print(f"{r[0]:10} {r[1]:8} {r[2]:15} {r[3]:10} {r[4]:3} {r[5]:6.0f} {r[6]:5.2f} "
              f"{r[7]:7.4f} {r[8]:6.3f} {r[9]:6.3f} {r[10]:6.3f} {r[11]:6.3f}")


COLUMNS = ("date", "region", "family", "chip", "buyable", "tokens_per_s", "energy_j_per_token",
           "energy_usd_per_mtok", "capacity_usd_per_mtok", "marginal_usd_per_mtok",
           "marginal_usd_per_mtok_3to1", "full_usd_per_mtok")


def family_name(family: str) -> str:
    """A family's short display name from the catalogue label ("DeepSeek-V3", "GPT-4o")."""
    return load_catalogue().families[family].label.split(" (")[0]


def plot(table: pd.DataFrame, out: Path) -> list[Path]:
    """Marginal cost per Mtok of output (energy + GPU time) of each family on each chip, by region,
    at the last date: one panel per region with its own family/chip labels (the regions' blocs
    run different chips), on one linear cost axis (bar length = cost, so the stacked energy and
    GPU-time parts add up and the panels compare)."""
    last = table[table["date"] == table["date"].max()]
    regions = list(dict.fromkeys(last["region"]))
    names = {f: family_name(f) for f in last["family"].unique()}
    longest = float((last["capacity_usd_per_mtok"] + last["energy_usd_per_mtok"]).max())
    fig, axes = new_figure(1, len(regions), width=4 * len(regions), height=5.4)
    for ax, region in zip(axes[0], regions, strict=True):
        part = last[last["region"] == region]
        labels = [f"{names[f]} on {c}{'' if b == 'yes' else ' (fleet)'}" for f, c, b in zip(
            part["family"], part["chip"], part["buyable"], strict=True)]
        y = np.arange(len(part))[::-1]
        ax.barh(y, part["capacity_usd_per_mtok"], color="#4575b4", label="GPU time (rental)")
        ax.barh(y, part["energy_usd_per_mtok"], left=part["capacity_usd_per_mtok"],
                color="#fdae61", label="energy (x PUE)")
        ax.set_yticks(y, labels, fontsize=7)
        ax.set_xlim(0, 1.05 * longest)
        dollar_axis(ax, "x")
        ax.set_xlabel("marginal cost, USD per M output tokens")
        ax.set_title(region_label(region), fontsize=10)
    handles, legend_labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, legend_labels, fontsize=8, frameon=False, ncol=2, loc="upper center",
               bbox_to_anchor=(0.5, 0.955))
    fig.suptitle(f"Marginal cost of serving by family and chip, {last['date'].iloc[0]}",
                 fontsize=11)
    note = ("Source: pricewar catalogue (chips: Epoch AI chip database, vendor data sheets; rental "
            "index: docs/calibration.md; serving anchor: DeepSeek open-infra-index, 1 Mar 2025); "
            "experiments/supply_table.py. '(fleet)': not buyable by the region's bloc at the date.")
    return save_figure(fig, out, "supply_table", note, top=0.91)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("figures"))
    args = parser.parse_args(argv)
    catalogue = load_catalogue()
    supply = SupplyCosts(catalogue)
    region_sites = sites()
    table = [row for date in DATES for region, site in region_sites.items()
             for row in rows(supply, date, region, site)]
    print("USD per Mtok of output tokens unless noted; 'm 3:1' per Mtok of a 3:1 input:output mix")
    print_table(table)
    frame = pd.DataFrame(table, columns=list(COLUMNS))
    args.out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out / "supply_table.csv", index=False, float_format="%.6g")
    for path in [args.out / "supply_table.csv", *plot(frame, args.out)]:
        print(f"wrote {path}")

    after = dt.date(2025, 12, 1)
    print(f"\nCN-West after the power subsidy for domestic chips ({after}):")
    print_table(rows(supply, after, "cn_west", region_sites["cn_west"],
                     ("deepseek_v3_2", "qwen3", "kimi_k2")))

    date = DATES[1]
    marginal = {(r[1], r[2], r[3]): r[9] for r in table if r[0] == str(date)}
    print(f"\nCN / US marginal cost ratios at {date} (output tokens):")
    pairs = [
        ("same family, H800 fleet vs H100", ("cn_east", "deepseek_v3", "H800"),
         ("us", "deepseek_v3", "H100")),
        ("same family, best buyable chip", ("cn_east", "deepseek_v3", "Ascend910C"),
         ("us", "deepseek_v3", "B200")),
        ("same tier class: DeepSeek-V3 on H800 vs GPT-4o (est.) on H100",
         ("cn_east", "deepseek_v3", "H800"), ("us", "gpt_4o", "H100")),
        ("same tier class: DeepSeek-V3 on Ascend 910C vs GPT-4o (est.) on B200",
         ("cn_east", "deepseek_v3", "Ascend910C"), ("us", "gpt_4o", "B200")),
    ]
    for label, cn, us in pairs:
        print(f"  {label}: {marginal[cn]:.3f} / {marginal[us]:.3f} = "
              f"{marginal[cn] / marginal[us]:.2f}")
    anchor = supply.costs("H800", "deepseek_v3", catalogue.serving.anchor_date,
                          region_sites["cn_east"])
    print(f"\nAnchor check: DeepSeek-V3 on H800 at {catalogue.serving.anchor_date}: "
          f"{float(anchor.tokens_per_s):.0f} tok/s, capacity at 2 USD/GPU-h "
          f"{2.0 / (float(anchor.tokens_per_s) * 3600) * 1e6:.3f} USD/Mtok output "
          f"(rental index: {float(anchor.rental_usd_per_gpu_hour):.2f} USD/GPU-h -> "
          f"{float(anchor.capacity_usd_per_mtok):.3f})")
    print("Chips buyable at", date, {b: [c for c, ok in zip(catalogue.chips, available_under(
        catalogue, b, date, catalogue.policy), strict=True) if ok] for b in ("cn", "western")})


if __name__ == "__main__":
    main()
