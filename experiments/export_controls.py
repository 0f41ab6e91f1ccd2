"""Can cheap western power compensate for worse chips under export controls?

A grid over the export-control penalty (extra J/token and fewer tokens/s per USD for CN chips)
and the CN-West electricity price: CN-West's volume share and CN producers' unit cost relative to
the US. Headline: for each penalty, the electricity price at which CN-West matches its share at
chip parity and baseline power (0.052 USD/kWh), or "never" within 0.014-0.09 USD/kWh.

Thin wrapper around :func:`pricewar.experiments.export_controls`: writes
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
