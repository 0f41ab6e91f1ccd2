"""What makes Chinese hosts' token prices differ from US hosts' at equal capability: chip
access, the model families' serving efficiency, power prices, or margins?

For each capability tier served by hosts in both the cn bloc and the us region, splits the log
of the CN/US ratio of served-weighted geometric mean prices exactly into five drivers: the chip
of each product's marginal cohort (chip access), the family's active weights per token (family
serving efficiency), power price x PUE, the host's serving stack, and the margin over marginal
cost (Shapley split of the marginal-cost gap; pricewar.studies.regional_gap). Baseline scenario,
seeds 1-3, at 2024-12, 2025-12 and 2026-12, for all hosts and for owner-hosted products only.
Also: price = energy + cooling + GPU time + opex + margin (+ network, platform) by host region.

Thin wrapper around :func:`pricewar.studies.costs.cost_waterfall`: writes
figures/cost_waterfall.png, .svg, .csv and cost_waterfall_regions.csv (``--out DIR`` elsewhere)
and prints the headline numbers as JSON on the last line.

    python experiments/cost_waterfall.py --quick   # seconds (tests)
    python experiments/cost_waterfall.py           # full mode (the committed figure)
"""

from __future__ import annotations

import sys

from pricewar.studies.regenerate import script_main

NAME = "cost_waterfall"


def main(argv: list[str] | None = None) -> int:
    return script_main(NAME, argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
