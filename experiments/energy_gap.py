"""How large must western China's electricity price advantage be to win volume, and where does
it stop mattering?

Sweeps the CN-West / US grid electricity price ratio from 1/5 to 1 (US fixed at its baseline
0.081 USD/kWh), with export controls (penalty 0.4) and at chip parity (penalty 0), over seeds, and
reports CN-West's share of served volume and the average price after one and two years.

Thin wrapper around :func:`pricewar.experiments.energy_gap`: writes figures/energy_gap.png, .svg
and .csv (``--out DIR`` elsewhere) and prints the headline numbers as JSON on the last line.

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
