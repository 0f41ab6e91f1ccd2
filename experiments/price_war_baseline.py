"""Do the baseline's prices fall like observed API prices at fixed capability (2024-2026)?

Runs the baseline scenario (several seeds) and plots the price by producer region on log axes
against vendors' observed list prices (pricewar/data/observed/api_prices.csv) and Epoch AI's
cheapest-model-at-GPT-4-level series; throughput by region (log) and the Lerner index and HHI
over time. Headline: the model's price decline factor per year (log-linear fit, first 104 steps)
against Epoch AI's fitted decline factors and their 90% confidence intervals.

Thin wrapper around :func:`pricewar.experiments.price_war_baseline`: writes
figures/price_war_baseline.png, .svg and .csv (``--out DIR`` elsewhere) and prints the headline
numbers as JSON on the last line.

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
