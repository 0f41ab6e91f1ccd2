"""Do the model's CN and US prices at equal capability match observed list prices?

Runs the baseline 2024-01..2026-12 (seeds 1-3) and reports, per capability tier, the
served-weighted price of the tier's products hosted in the cn bloc and in the us region against
the observed API list prices of the tier's families (pricewar/data/observed/
list_prices_by_tier.csv, sources per row): the observed CN/US ratio, the model's ratio at the
observations' dates and at the end of the run, and the model/observed level of each bloc; the
same for owner-hosted products (first-party APIs). Also the yearly price decline against Epoch
AI's fitted factors at fixed capability.

Thin wrapper around :func:`pricewar.studies.price_war.price_war_baseline`: writes
figures/price_war_baseline.png, .svg, .csv and price_war_baseline_tiers.csv (``--out DIR``
elsewhere) and prints the headline numbers as JSON on the last line.

    python experiments/price_war_baseline.py --quick   # seconds (tests)
    python experiments/price_war_baseline.py           # full mode (the committed figure)
"""

from __future__ import annotations

import sys

from pricewar.studies.regenerate import script_main

NAME = "price_war_baseline"


def main(argv: list[str] | None = None) -> int:
    return script_main(NAME, argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
