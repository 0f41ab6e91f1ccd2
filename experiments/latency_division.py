"""Does latency split Chinese work into "west for batch, east for real time"?

Varies the CN-West <-> CN-East round-trip latency (10-80 ms) and reports, from the flow matrix
(served volume by consumer region x sector x producer region), the share of each sector of Chinese
consumers' demand served by western producers.

Thin wrapper around :func:`pricewar.experiments.latency_division`: writes
figures/latency_division.png, .svg and .csv (``--out DIR`` elsewhere) and prints the headline
numbers as JSON on the last line.

    python experiments/latency_division.py --quick   # seconds (tests)
    python experiments/latency_division.py           # full mode (the committed figure)
"""

from __future__ import annotations

import sys

from pricewar.studies.regenerate import script_main

NAME = "latency_division"


def main(argv: list[str] | None = None) -> int:
    return script_main(NAME, argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
