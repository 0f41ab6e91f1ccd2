"""How much do the export-control penalty, the availability lag and the chip regime move the
CN/US price gap?

Two independent levers, each run alone and together: ``export_control_penalty`` (CN cohorts'
decode rate / (1 + penalty): 0, 0.25, 0.5, 1) and ``export_control_lag_years`` (CN availability
windows start later: 1, 2, 3 years), then penalty 0.5 with lag 2; and the chip regimes
``no_controls`` and ``full_ban`` beside ``historical``. Reports the CN/US price ratio at equal
tier with its log decomposition (chip access, family, power, host, margin), the CN/US full-cost
ratio and the CN share of volume at 2024-12 and 2025-12 (seed 1).

Thin wrapper around :func:`pricewar.studies.export_controls.export_controls`: writes
figures/export_controls.png, .svg and .csv (``--out DIR`` elsewhere) and prints the headline
numbers as JSON on the last line.

    python experiments/export_controls.py --quick   # seconds (tests)
    python experiments/export_controls.py           # full mode (the committed figure)
"""

from __future__ import annotations

import sys

from pricewar.studies.regenerate import script_main

NAME = "export_controls"


def main(argv: list[str] | None = None) -> int:
    return script_main(NAME, argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
