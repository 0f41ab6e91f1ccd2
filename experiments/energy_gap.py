"""How much do cheaper western Chinese power prices win volume and close the CN/US price gap?

Sweeps the CN-West grid electricity price from 0.2x to 1x the US price under the historical chip
availability and without export controls, and reports CN-West's share of served volume, the CN/US
price ratio at equal tier (tiers pooled) and the power factor of its log decomposition, at
2024-12 and 2025-12 (seed 1). Energy is a few per cent of a token's marginal cost under the
rental opportunity cost, so power prices move little.

Thin wrapper around :func:`pricewar.studies.costs.energy_gap`: writes figures/energy_gap.png,
.svg and .csv (``--out DIR`` elsewhere) and prints the headline numbers as JSON on the last line.

    python experiments/energy_gap.py --quick   # seconds (tests)
    python experiments/energy_gap.py           # full mode (the committed figure)
"""

from __future__ import annotations

import sys

from pricewar.studies.regenerate import script_main

NAME = "energy_gap"


def main(argv: list[str] | None = None) -> int:
    return script_main(NAME, argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
