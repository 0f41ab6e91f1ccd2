"""What does a million tokens cost to make in each region, and how much of the western
Chinese cost advantage over the US and EU is electricity?

Decomposes the volume-weighted unit cost and price per M tokens of each producer region into
energy (IT load), cooling (PUE overhead), hardware (GPU + facility capex), fixed opex, producer
margin, network transfer cost and platform markup, with export controls (penalty 0.4, baseline)
and at chip parity (penalty 0), at the start (2024-01) and two years later. The components sum to
the delivered price. Headline: the share of the CN-West vs US (and vs EU) unit-cost gap that is
power (energy + cooling).

Thin wrapper around :func:`pricewar.experiments.cost_waterfall`: writes
figures/cost_waterfall.png, .svg and .csv (``--out DIR`` elsewhere) and prints the headline
numbers as JSON on the last line.

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
