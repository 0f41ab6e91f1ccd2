"""How much otherwise-curtailed western green power can flexible (batch) token load absorb,
what emissions does that avoid, and does it pull batch work west?

Sweeps CN-West's direct green supply cap (0.014 USD/kWh, usable only by flexible load) from zero
to far above the batch load and reports absorbed energy, avoided emissions and CN-West's share of
global batch volume.

Thin wrapper around :func:`pricewar.experiments.green_curtailment`: writes
figures/green_curtailment.png, .svg and .csv (``--out DIR`` elsewhere) and prints the headline
numbers as JSON on the last line.

    python experiments/green_curtailment.py --quick   # seconds (tests)
    python experiments/green_curtailment.py           # full mode (the committed figure)
"""

from __future__ import annotations

import sys

from pricewar.studies.regenerate import script_main

NAME = "green_curtailment"


def main(argv: list[str] | None = None) -> int:
    return script_main(NAME, argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
